/* wormctl/args: the command line (see args.h). */
#include "wormctl/args.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct option long_opts[] = {
	{ "node", required_argument, NULL, 'n' },
	{ "json", no_argument, NULL, 'j' },
	{ "timeout", required_argument, NULL, 't' },
	{ "help", no_argument, NULL, 'h' },
	{ "long", no_argument, NULL, 'l' },
	{ "force", no_argument, NULL, 'f' },
	{ "verbose", no_argument, NULL, 'v' },
	{ NULL, 0, NULL, 0 },
};

/* The option getopt stopped at (after returning @c), as the user wrote
 * it.  An unknown long option leaves optopt 0; a long option missing its
 * value sets optopt to its letter, but was written long. */
static const char *bad_option(char **argv, int c, char *shortbuf)
{
	const char *prev = argv[optind - 1];

	if ((c == '?' && !optopt) ||
	    (c == ':' && strncmp(prev, "--", 2) == 0))
		return prev;
	snprintf(shortbuf, 3, "-%c", optopt);
	return shortbuf;
}

static int parse_timeout(const char *s, unsigned *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 1 || v > WFS_CTL_MAX_TIMEOUT)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

int wfs_ctl_args_parse(int argc, char **argv, const char *env_nodes,
		       struct wfs_ctl_args *a, char *err, size_t err_size)
{
	char shortbuf[3];
	int c;

	memset(a, 0, sizeof(*a));
	a->nodes = env_nodes && *env_nodes ? env_nodes : WFS_CTL_DEFAULT_NODES;
	a->timeout_s = WFS_CTL_DEFAULT_TIMEOUT;
	/* 0, not 1: glibc then starts afresh, as each parse must. */
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":n:jt:hlfv", long_opts,
				NULL)) != -1) {
		switch (c) {
		case 'n':
			if (!*optarg) {
				snprintf(err, err_size, "--node: empty node list");
				return -EINVAL;
			}
			a->nodes = optarg;
			break;
		case 'j': a->json = true; break;
		case 'h': a->help = true; break;
		case 'l': a->opts |= WFS_CTL_OPT_LONG; break;
		case 'f': a->opts |= WFS_CTL_OPT_FORCE; break;
		case 'v': a->opts |= WFS_CTL_OPT_VERBOSE; break;
		case 't':
			if (parse_timeout(optarg, &a->timeout_s) == 0)
				break;
			snprintf(err, err_size,
				 "--timeout: want whole seconds from 1 to %d, got '%s'",
				 WFS_CTL_MAX_TIMEOUT, optarg);
			return -EINVAL;
		case ':':
			snprintf(err, err_size, "option %s needs a value",
				 bad_option(argv, c, shortbuf));
			return -EINVAL;
		default:
			snprintf(err, err_size, "unknown option %s",
				 bad_option(argv, c, shortbuf));
			return -EINVAL;
		}
	}
	if (optind < argc) {
		a->cmd = argv[optind];
		a->args = argv + optind + 1;
		a->nargs = argc - optind - 1;
	}
	return 0;
}

char wfs_ctl_args_letter(unsigned opt)
{
	switch (opt) {
	case WFS_CTL_OPT_LONG: return 'l';
	case WFS_CTL_OPT_FORCE: return 'f';
	case WFS_CTL_OPT_VERBOSE: return 'v';
	default: return '?';
	}
}
