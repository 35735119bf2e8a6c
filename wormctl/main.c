/* wormctl: the admin CLI of a WormFS cluster.
 *
 *   wormctl [--node HOST:PORT[,...]] [--json] COMMAND [ARGS]
 *
 * This file holds the command table (name, handler, options, usage, help)
 * and the dispatch: parse the line, check it against the command's entry,
 * connect a client, run the handler, finish the output.  The commands live
 * in status.c, ls.c, io.c, node.c and disk.c.  Exit status: 0 ok, 1 the operation failed,
 * 2 a usage error.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client.h"
#include "log/log.h"
#include "wormctl/args.h"
#include "wormctl/ctl_internal.h"
#include "wormctl/out.h"

struct command {
	const char *name;
	wfs_ctl_cmd_cb run;	/* NULL: help, which needs no cluster */
	unsigned opts;		/* enum wfs_ctl_opt bits it takes */
	int min_args, max_args;
	const char *usage;	/* after "wormctl " */
	const char *summary;	/* one line for the command list */
	const char *help;	/* what it does, with an example */
};

static const struct command commands[] = {
	{ "status", wfs_ctl_cmd_status, 0, 0, 0, "status",
	  "cluster, master, raft, and every node with its disks",
	  "Shows the cluster id, the node that answered, the metadata master\n"
	  "with the raft term and applied index, inodes, bytes used and\n"
	  "stripes waiting for repair, then every node with its role, state\n"
	  "and address and each of its disks with path, state, size, free\n"
	  "space and use.\n"
	  "\n"
	  "example:\n"
	  "  wormctl --node 10.0.0.11:7700 status\n"
	  "  wormctl status --json | jq '.nodes[].disks[].free'\n" },
	{ "df", wfs_ctl_cmd_df, 0, 0, 0, "df",
	  "capacity, use and inodes of the cluster and of every disk",
	  "Shows capacity, used, free and available space of the whole\n"
	  "cluster (as df on a mount shows it) and its inode counts, then\n"
	  "every disk of every node with size, used, free and use%.  Sizes\n"
	  "are in powers of 1024 (K, M, G, ...); --json gives bytes.\n"
	  "\n"
	  "example:\n"
	  "  wormctl df\n"
	  "  wormctl df --json | jq .use_percent\n" },
	{ "ls", wfs_ctl_cmd_ls, WFS_CTL_OPT_LONG, 0, 1, "ls [-l] [PATH]",
	  "list a directory, or a file with its stripes and chunks",
	  "Lists the directory PATH (default /), a page at a time, or names\n"
	  "the file PATH.  With -l: mode, links, uid, gid, size, modification\n"
	  "time and name as ls -l; for a regular file also each stripe\n"
	  "(index, id, version, erasure code k+m or replicas, length) and for\n"
	  "each of its chunks the node, address and disk holding it and\n"
	  "whether it is there or missing.  PATH is a WormFS path, from the\n"
	  "cluster's root.\n"
	  "\n"
	  "example:\n"
	  "  wormctl ls -l /projects\n"
	  "  wormctl ls -l /projects/data.bin --json\n" },
	{ "put", wfs_ctl_cmd_put, WFS_CTL_OPT_FORCE | WFS_CTL_OPT_VERBOSE, 2, 2,
	  "put [-f] [-v] LOCALFILE PATH",
	  "write a local file (or stdin) into WormFS, without a mount",
	  "Copies LOCALFILE (\"-\": standard input) to the WormFS path PATH,\n"
	  "with the local file's permissions (0644 from stdin); when PATH is\n"
	  "a directory the file keeps its name in it.  An existing file is\n"
	  "not overwritten unless -f is given; a put that fails removes what\n"
	  "it created.  -v reports bytes and MB/s on stderr.\n"
	  "\n"
	  "example:\n"
	  "  wormctl put -v backup.tar /backups/\n"
	  "  tar c /etc | wormctl put - /backups/etc.tar\n" },
	{ "get", wfs_ctl_cmd_get, WFS_CTL_OPT_FORCE | WFS_CTL_OPT_VERBOSE, 2, 2,
	  "get [-f] [-v] PATH LOCALFILE",
	  "read a WormFS file into a local file (or stdout), without a mount",
	  "Copies the WormFS file PATH to LOCALFILE (\"-\": standard output);\n"
	  "when LOCALFILE is a directory the file keeps its name in it.  An\n"
	  "existing local file is not overwritten unless -f is given; a get\n"
	  "that fails removes the partial copy.  -v reports bytes and MB/s\n"
	  "on stderr.\n"
	  "\n"
	  "example:\n"
	  "  wormctl get -v /backups/backup.tar /tmp/\n"
	  "  wormctl get /backups/etc.tar - | tar t\n" },
	{ "node", wfs_ctl_cmd_node, 0, 2, 2, "node add KEY | node remove ID",
	  "admit a node to the cluster by its key, or remove one",
	  "node add KEY admits the node whose public key is KEY (64 hex\n"
	  "digits: `storaged --show-key -c FILE` prints it, and the node logs\n"
	  "it when its key is refused); the node then joins by itself, at\n"
	  "its next try.  node remove ID forgets node ID (see `wormctl\n"
	  "status --json`): it leaves the metadata group, its disks are no\n"
	  "longer used, and its key is no longer admitted.  The master cannot\n"
	  "remove itself: stop it first, then remove it from another node.\n"
	  "\n"
	  "example:\n"
	  "  wormctl node add $(ssh node-4 storaged --show-key)\n"
	  "  wormctl node remove 3fa2c1...\n" },
	{ "disk", wfs_ctl_cmd_disk, 0, 2, 2,
	  "disk drain DISK | disk undrain DISK",
	  "empty a disk before pulling it, or cancel that",
	  "disk drain DISK empties DISK before it is pulled: no new chunk\n"
	  "goes to it any more, and the node holding it copies each of its\n"
	  "chunks to another disk (never beside another chunk of the same\n"
	  "stripe, on another node when it can), records the move, and only\n"
	  "then lets the old copy be collected: no chunk is ever without a\n"
	  "copy.  `wormctl status` shows the disk draining, with the chunks\n"
	  "left on it; at 0 it can go.  A disk that is offline cannot be\n"
	  "drained (its chunks cannot be read: repair rebuilds them), nor\n"
	  "one whose node is down.  disk undrain DISK cancels: the disk\n"
	  "takes new chunks again.  DISK is a disk id as status shows it (a\n"
	  "prefix naming one disk is enough) or NODE:PATH.\n"
	  "\n"
	  "example:\n"
	  "  wormctl disk drain node-3:/srv/disk2\n"
	  "  wormctl disk drain 5f0c2a91\n"
	  "  wormctl status --json | jq '.nodes[].disks[] | select(.draining)'\n"
	  "  wormctl disk undrain 5f0c2a91\n" },
	{ "join-token", wfs_ctl_cmd_join_token, 0, 0, 1, "join-token [renew]",
	  "print the token that lets a new node admit itself",
	  "Prints the cluster's join token (making it the first time), 64 hex\n"
	  "digits.  A node whose configuration has it as cluster.join_token\n"
	  "admits itself when it joins, with no `wormctl node add`; the token\n"
	  "itself never crosses the network when it does.  With renew, a new\n"
	  "token replaces the old one, which then no longer admits anyone\n"
	  "(nodes already admitted stay).  Anyone with the token can add\n"
	  "nodes: keep it as private as a key.\n"
	  "\n"
	  "example:\n"
	  "  wormctl join-token\n"
	  "  wormctl join-token renew\n" },
	{ "help", NULL, 0, 0, 1, "help [COMMAND]",
	  "show the help of one command",
	  "Shows what COMMAND does, its options and an example; without\n"
	  "COMMAND, the list of commands.\n"
	  "\n"
	  "example:\n"
	  "  wormctl help ls\n" },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const char global_usage[] =
	"usage: wormctl [--node HOST:PORT[,...]] [--json] [--timeout SECONDS]\n"
	"               COMMAND [ARGS]\n";

static const char global_options[] =
	"options:\n"
	"  -n, --node HOST:PORT[,...]  the nodes to ask (default $WORMFS_NODES,\n"
	"                              else " WFS_CTL_DEFAULT_NODES ")\n"
	"  -j, --json                  print one JSON object instead of text\n"
	"  -t, --timeout SECONDS       how long to wait for a cluster that does\n"
	"                              not answer (default 15)\n"
	"  -h, --help                  this help; with a command, its help\n"
	"\n"
	"exit status: 0 done, 1 the operation failed, 2 a usage error\n";

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static void print_overview(FILE *fp)
{
	fputs(global_usage, fp);
	fputs("\nThe admin tool of a WormFS cluster.\n\ncommands:\n", fp);
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(fp, "  %-8s %s\n", commands[i].name,
			commands[i].summary);
	fputs("\n", fp);
	fputs(global_options, fp);
	fputs("\n'wormctl help COMMAND' shows a command's help.\n", fp);
}

static void print_help(const struct command *cmd)
{
	printf("usage: wormctl %s\n\n%s\n%s", cmd->usage, cmd->help,
	       global_options);
}

/* "wormctl: MESSAGE" and a pointer to help; returns WFS_CTL_USAGE. */
static int usage_error(const struct command *cmd, const char *msg)
{
	fprintf(stderr, "wormctl: %s\n", msg);
	if (cmd)
		fprintf(stderr, "usage: wormctl %s\n", cmd->usage);
	fprintf(stderr, "Try 'wormctl help%s%s'.\n", cmd ? " " : "",
		cmd ? cmd->name : "");
	return WFS_CTL_USAGE;
}

static int run_help(const struct wfs_ctl_args *a)
{
	const struct command *cmd;
	char msg[128];

	if (a->nargs == 0) {
		print_overview(stdout);
		return WFS_CTL_OK;
	}
	cmd = find_command(a->args[0]);
	if (!cmd) {
		snprintf(msg, sizeof(msg), "no command '%s'", a->args[0]);
		return usage_error(NULL, msg);
	}
	print_help(cmd);
	return WFS_CTL_OK;
}

/* The line against the command's entry: options it takes, argument
 * count.  Returns 0 or an exit status. */
static int check_line(const struct command *cmd, const struct wfs_ctl_args *a)
{
	unsigned extra = a->opts & ~cmd->opts;
	char msg[128];

	if (extra) {
		snprintf(msg, sizeof(msg), "%s: no option -%c", cmd->name,
			 wfs_ctl_args_letter(extra & -extra));
		return usage_error(cmd, msg);
	}
	if (a->nargs < cmd->min_args || a->nargs > cmd->max_args) {
		snprintf(msg, sizeof(msg), "%s: %s arguments", cmd->name,
			 a->nargs < cmd->min_args ? "missing" : "too many");
		return usage_error(cmd, msg);
	}
	return 0;
}

/* Library log lines, as the rest of wormctl's messages. */
static void log_line(enum wfs_log_level level, const char *subsystem,
		     const char *line, void *arg)
{
	(void)level;
	(void)subsystem;
	(void)arg;
	fprintf(stderr, "wormctl: %s\n", line);
}

/* Connect, run @cmd, finish the output. */
static int run_command(const struct command *cmd, const struct wfs_ctl_args *a)
{
	struct wfs_client_opts copts = {
		.nodes = a->nodes,
		.retry_ms = (int64_t)a->timeout_s * 1000,
		.call_ms = (int64_t)a->timeout_s * 1000,
	};
	struct wfs_ctl ctl = { .args = a };
	int rc, status;

	rc = wfs_client_new(&copts, &ctl.client);
	if (rc == -EINVAL)
		return usage_error(NULL, "--node: want HOST:PORT[,HOST:PORT...]");
	if (rc)
		return wfs_ctl_fail(rc, "connecting to %s", a->nodes);
	ctl.out = wfs_ctl_out_new(a->json ? WFS_CTL_OUT_JSON : WFS_CTL_OUT_TEXT,
				  stdout);
	if (!ctl.out) {
		status = wfs_ctl_fail(-ENOMEM, "%s", cmd->name);
		goto out_free_client;
	}
	wfs_ctl_cred_init(&ctl.cred);
	status = cmd->run(&ctl);
	rc = wfs_ctl_out_finish(ctl.out);
	if (rc && status == WFS_CTL_OK)
		status = wfs_ctl_fail(rc, "%s: writing the output", cmd->name);
	wfs_ctl_out_free(ctl.out);
	wfs_ctl_session_release(&ctl);
out_free_client:
	wfs_client_free(ctl.client);
	return status;
}

int main(int argc, char **argv)
{
	const struct command *cmd;
	struct wfs_ctl_args a;
	char msg[256];
	int rc;

	rc = wfs_ctl_args_parse(argc, argv, getenv("WORMFS_NODES"), &a, msg,
				sizeof(msg));
	if (rc)
		return usage_error(NULL, msg);
	if (!a.cmd) {
		if (a.help) {
			print_overview(stdout);
			return WFS_CTL_OK;
		}
		print_overview(stderr);
		return WFS_CTL_USAGE;
	}
	cmd = find_command(a.cmd);
	if (!cmd) {
		snprintf(msg, sizeof(msg), "no command '%s'", a.cmd);
		return usage_error(NULL, msg);
	}
	if (a.help) {
		print_help(cmd);
		return WFS_CTL_OK;
	}
	rc = check_line(cmd, &a);
	if (rc)
		return rc;
	if (!cmd->run)
		return run_help(&a);
	/* The library's own errors add detail to ours; -v adds its
	 * warnings (retries, chunks that could not be written). */
	wfs_log_set_sink(log_line, NULL);
	wfs_log_set_level(a.opts & WFS_CTL_OPT_VERBOSE ? WFS_LOG_WARN :
			  WFS_LOG_ERROR);
	return run_command(cmd, &a);
}
