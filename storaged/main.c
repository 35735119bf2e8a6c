/* storaged: the WormFS storage node daemon.
 *
 * This file is the program around storaged/node.h: the command line, the
 * configuration (nodeconf/config.h) and its errors, where the log goes,
 * the pid file and the lock that keeps a second daemon off the same data
 * directory, and the signals.  SIGTERM and SIGINT stop the node cleanly
 * (calls in flight finish, raft commits its last batch, the stores close);
 * SIGHUP reopens the log file, for log rotation.  Signals are blocked in
 * every thread and taken synchronously here with sigwait.
 *
 * Exit status: 0 after a clean stop (or --check-config finding no
 * problem), 1 when the node cannot start or --check-config finds problems,
 * 2 for a bad command line or a configuration that does not load.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log/log.h"
#include "nodeconf/config.h"
#include "storaged/identity.h"
#include "storaged/node.h"
#include "storaged/pidfile.h"

#define DEFAULT_CONFIG "/etc/wormfs/storaged.yaml"

static void usage(FILE *out)
{
	fprintf(out,
"usage: storaged [-c FILE] [--check-config | --show-key]\n"
"       storaged --help | --version\n"
"\n"
"storaged is the WormFS storage node.  It keeps erasure-coded chunks on the\n"
"disks its configuration lists, holds the file system's metadata in a raft\n"
"log and SQLite, and serves the API that wormfs mounts and wormctl use.  A\n"
"single storaged is a working cluster of one node; more nodes join it.\n"
"It runs in the foreground and logs to stderr unless log.file says\n"
"otherwise; stop it with SIGTERM (or Ctrl-C): calls in flight finish and\n"
"nothing acknowledged is lost.\n"
"\n"
"options:\n"
"  -c, --config FILE   the node's YAML configuration (default %s)\n"
"      --check-config  check the configuration, print its problems or \"ok\",\n"
"                      and exit (0 if ok, 1 if not)\n"
"      --show-key      print the node's public key (making the key pair in\n"
"                      node.data_dir if there is none yet) and exit; on a\n"
"                      member, `wormctl node add KEY` admits the node\n"
"  -h, --help          this help\n"
"  -V, --version       print the version and exit\n"
"\n"
"examples:\n"
"  storaged -c /etc/wormfs/storaged.yaml\n"
"  wormctl node add $(storaged --show-key -c node-4.yaml)   # admit a node\n"
"\n"
"The first node of a cluster has no cluster.seeds; it founds the cluster.\n"
"Every other node lists a member or two in cluster.seeds: once its key is\n"
"admitted it joins through them, at every start.\n"
"\n"
"The commented example configuration, the reference for every key, is\n"
"config/storaged.yaml in the WormFS source tree.  Only node.name,\n"
"node.data_dir and disks are required.  node.data_dir holds the node's key\n"
"(node.key), its metadata (meta.db, raft/, snapshots/) and storaged.pid.\n",
		DEFAULT_CONFIG);
}

struct args {
	const char *config;
	int check_only;
	int show_key;
};

/* Returns -1 to go on, or the exit status. */
static int parse_args(int argc, char **argv, struct args *a)
{
	enum { OPT_CHECK = 256, OPT_SHOW_KEY };
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, OPT_CHECK },
		{ "show-key", no_argument, NULL, OPT_SHOW_KEY },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	a->config = DEFAULT_CONFIG;
	a->check_only = 0;
	a->show_key = 0;
	while ((c = getopt_long(argc, argv, "c:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			a->config = optarg;
			break;
		case OPT_CHECK:
			a->check_only = 1;
			break;
		case OPT_SHOW_KEY:
			a->show_key = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("storaged (WormFS) %s\n", WFS_STORAGED_VERSION);
			return 0;
		default:
			fprintf(stderr, "storaged: try 'storaged --help'\n");
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "storaged: unexpected argument '%s'; try "
			"'storaged --help'\n", argv[optind]);
		return 2;
	}
	return -1;
}

/* Load the configuration; on failure print why, one problem per line. */
static int load_config(const char *path, struct wfs_config *cfg)
{
	struct wfs_config_errors errs = { 0 };
	int rc = wfs_config_load(path, cfg, &errs);

	for (size_t i = 0; i < errs.count; i++)
		fprintf(stderr, "%s\n", errs.msgs[i]);
	if (rc && errs.count == 0)
		fprintf(stderr, "%s: %s\n", path, strerror(-rc));
	wfs_config_errors_release(&errs);
	return rc;
}

static int setup_log(const struct wfs_config *cfg)
{
	int rc;

	wfs_log_set_level(cfg->log.level);
	if (!cfg->log.file) {
		wfs_log_to_stderr();
		return 0;
	}
	rc = wfs_log_open_file(cfg->log.file);
	if (rc)
		fprintf(stderr, "storaged: log.file %s: %s\n", cfg->log.file,
			strerror(-rc));
	return rc;
}

/* Wait for SIGTERM or SIGINT, reopening the log on SIGHUP. */
static int wait_for_stop(const struct wfs_config *cfg, const sigset_t *set)
{
	int sig;

	for (;;) {
		if (sigwait(set, &sig) != 0)
			continue;
		if (sig != SIGHUP)
			return sig;
		if (cfg->log.file && wfs_log_open_file(cfg->log.file) == 0)
			wfs_log_info("storaged", "log file reopened");
	}
}

static int run(const struct wfs_config *cfg)
{
	struct wfs_pidfile pf;
	struct wfs_node *node;
	sigset_t set;
	pid_t holder;
	int rc, sig;

	/* Before any thread starts, so that every thread inherits it. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	rc = wfs_pidfile_acquire(cfg->node.data_dir, &pf, &holder);
	if (rc == -EBUSY) {
		fprintf(stderr, "storaged: data directory %s is in use by "
			"another storaged%s%ld%s; stop it first\n",
			cfg->node.data_dir, holder ? " (pid " : "",
			(long)holder, holder ? ")" : "");
		return 1;
	}
	if (rc) {
		fprintf(stderr, "storaged: data directory %s: %s\n",
			cfg->node.data_dir, strerror(-rc));
		return 1;
	}
	wfs_log_info("storaged", "storaged %s starting: node %s, pid %ld",
		     WFS_STORAGED_VERSION, cfg->node.name, (long)getpid());
	rc = wfs_node_start(cfg, NULL, &node);
	if (rc) {
		wfs_log_error("storaged", "cannot start: %s", strerror(-rc));
		if (cfg->log.file)
			fprintf(stderr, "storaged: cannot start: %s (the log "
				"%s says more)\n", strerror(-rc),
				cfg->log.file);
		wfs_pidfile_release(&pf);
		return 1;
	}
	sig = wait_for_stop(cfg, &set);
	wfs_log_info("storaged", "stopping on %s", strsignal(sig));
	wfs_node_stop(node);
	wfs_pidfile_release(&pf);
	wfs_log_info("storaged", "stopped cleanly");
	return 0;
}

/* Print the node's public key in hex, making the key pair if needed. */
static int show_key(const struct wfs_config *cfg)
{
	struct wfs_identity id;
	bool created;
	int rc = wfs_identity_load(cfg->node.data_dir, &id, &created);

	if (rc) {
		fprintf(stderr, "storaged: node key in %s: %s\n",
			cfg->node.data_dir, strerror(-rc));
		return 1;
	}
	for (size_t i = 0; i < sizeof(id.pk); i++)
		printf("%02x", id.pk[i]);
	printf("\n");
	wfs_identity_release(&id);
	return 0;
}

int main(int argc, char **argv)
{
	struct wfs_config cfg;
	struct args a;
	int rc;

	rc = parse_args(argc, argv, &a);
	if (rc >= 0)
		return rc;
	if (load_config(a.config, &cfg) != 0)
		return a.check_only ? 1 : 2;
	if (a.check_only) {
		printf("ok\n");
		wfs_config_release(&cfg);
		return 0;
	}
	if (a.show_key) {
		rc = show_key(&cfg);
		wfs_config_release(&cfg);
		return rc;
	}
	if (setup_log(&cfg) != 0) {
		wfs_config_release(&cfg);
		return 2;
	}
	rc = run(&cfg);
	wfs_config_release(&cfg);
	return rc;
}
