/* wormctl/args: wormctl's command line, parsed into a struct.
 *
 *   wormctl [--node HOST:PORT[,...]] [--json] [--timeout SECONDS] COMMAND
 *           [-l] [-f] [-v] [ARGS]
 *
 * Options may come anywhere on the line (before or after the command), "--"
 * ends them and a lone "-" is an argument (stdin or stdout).  The command
 * options -l, -f and -v are collected as flags; which command takes which is
 * the caller's business (the command table in main.c).  No output: errors
 * come back as a message.  Uses getopt_long, so one thread at a time.
 */
#ifndef WFS_WORMCTL_ARGS_H
#define WFS_WORMCTL_ARGS_H

#include <stdbool.h>
#include <stddef.h>

/* The nodes asked when neither --node nor $WORMFS_NODES says. */
#define WFS_CTL_DEFAULT_NODES "127.0.0.1:7700"

/* How long an unreachable cluster is waited for by default, in seconds. */
#define WFS_CTL_DEFAULT_TIMEOUT 15

/* Longest --timeout accepted, in seconds (a day). */
#define WFS_CTL_MAX_TIMEOUT 86400

/* Command options (the bits of wfs_ctl_args.opts). */
enum wfs_ctl_opt {
	WFS_CTL_OPT_LONG = 1 << 0,	/* -l: long listing */
	WFS_CTL_OPT_FORCE = 1 << 1,	/* -f: overwrite */
	WFS_CTL_OPT_VERBOSE = 1 << 2,	/* -v: report progress on stderr */
};

struct wfs_ctl_args {
	const char *nodes;	/* --node, else the environment's, else
				 * WFS_CTL_DEFAULT_NODES; borrowed */
	bool json;		/* --json */
	bool help;		/* --help */
	unsigned timeout_s;	/* --timeout, else WFS_CTL_DEFAULT_TIMEOUT */
	unsigned opts;		/* enum wfs_ctl_opt bits seen */
	const char *cmd;	/* the command, NULL when none was given */
	int nargs;		/* arguments after the command */
	char **args;		/* them, inside argv */
};

/* Parse @argc/@argv (argv[0] is the program; getopt may reorder argv, the
 * strings stay argv's).  @env_nodes is $WORMFS_NODES (NULL or empty: not
 * set).  On success fills *a and returns 0; on a usage error returns
 * -EINVAL and writes a one-line message without the program name into
 * @err (@err_size bytes), e.g. "unknown option -x". */
int wfs_ctl_args_parse(int argc, char **argv, const char *env_nodes,
		       struct wfs_ctl_args *a, char *err, size_t err_size);

/* The letter of the single command option @opt (an enum wfs_ctl_opt bit),
 * e.g. 'l'. */
char wfs_ctl_args_letter(unsigned opt);

#endif
