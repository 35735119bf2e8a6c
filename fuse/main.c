/* wormfs: mount a WormFS cluster with FUSE.
 *
 * This file is the program around fuse/ops.h and client/client.h: the
 * command line, where the log goes, going to the background, the FUSE
 * session (mount options, the multithreaded loop) and the kernel's
 * readahead for the mount, which FUSE caps at 128 KiB unless raised under
 * /sys/class/bdi after mounting.
 *
 * Going to the background: the program forks first and the child does
 * everything (connects, mounts, then detaches from the terminal); the
 * parent waits on a pipe and exits 0 once the mount is up, or 1 with the
 * child's errors already on the terminal.  libfuse's fuse_daemonize forks
 * after the caller's setup, which would lose the client's threads (and
 * gRPC's) in the child, and cannot report a failure that comes later.
 *
 * Exit status: 0 after a clean unmount (or once mounted in the
 * background), 1 when the mount cannot be made or served, 2 for a bad
 * command line.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <fuse_lowlevel.h>

#include "client/client.h"
#include "fuse/itable.h"
#include "fuse/ops.h"
#include "log/log.h"

#define WORMFS_VERSION "0.3.0"

/* What the command line asks for. */
struct options {
	bool foreground, debug;
	const char *nodes;
	char *mountpoint;	/* absolute (realpath), malloc'ed */
	char fuse_opts[4096];	/* -o options for FUSE, comma-separated */
	const char *log_file;
	enum wfs_log_level log_level;
	unsigned threads;
	unsigned readahead_kb;
	bool sync_meta;
	struct wfs_client_opts client;
};

static void usage(void)
{
	printf(
"usage: wormfs [options] NODE[,NODE...] MOUNTPOINT\n"
"       wormfs --help | --version\n"
"\n"
"wormfs mounts a WormFS cluster at MOUNTPOINT, an empty directory.  NODE is\n"
"the API address (host:port, listen.api in storaged.yaml) of any node of the\n"
"cluster; give several so the mount can go on when one is down.  The mount\n"
"stripes file data itself: it encodes full stripes (k data + m parity\n"
"chunks of the directory's policy), writes the chunks to their nodes in\n"
"parallel, keeps small files and tails as m+1 copies, and rebuilds what a\n"
"missing or corrupt chunk held when reading.  Files are consistent between\n"
"mounts from close to open: what one mount has closed (or fsync'ed),\n"
"another sees when it opens the file.  Names are cached a little, as NFS\n"
"does: a name another mount made may show here up to 1.5 s later (after\n"
"this mount found it missing, or keeps finding names missing in its\n"
"directory).  An O_CREAT or O_EXCL open is decided by the cluster, or by\n"
"this mount while it holds the directory's lease (see sync_meta).\n"
"\n"
"It goes to the background once the file system is mounted; unmount with\n"
"'fusermount3 -u MOUNTPOINT' (or 'umount' as root), which also stops it.\n"
"\n"
"options:\n"
"  -f, --foreground    stay in the foreground, logging to stderr\n"
"  -d, --debug         like -f, log at debug level and show every FUSE\n"
"                      request\n"
"  -o OPT[,OPT...]     mount options: FUSE's (ro, allow_other, ...; see\n"
"                      mount.fuse3(8)) and these of wormfs:\n"
"        retry=SECONDS      how long a call waits for the cluster to answer\n"
"                           (an election, a node restarting) before failing\n"
"                           with EIO (default 60)\n"
"        log=FILE           append the log to FILE (default: stderr in the\n"
"                           foreground, syslog in the background)\n"
"        loglevel=LEVEL     error, warn, info (default) or debug\n"
"        threads=N          FUSE requests served at once, at most (default\n"
"                           64)\n"
"        readahead_kb=N     the kernel's readahead for the mount (default\n"
"                           4096; 0 leaves the kernel's 128)\n"
"        cache=N            clean stripes kept per open file (default 8)\n"
"        inflight=N         full stripes written at once per file\n"
"                           (default 4)\n"
"        sync_meta          answer unlink() and file creations only once\n"
"                           the cluster has applied them.  By default an\n"
"                           unlink is answered once queued, and so is a\n"
"                           creation in a directory this mount holds a\n"
"                           lease on (taken while it creates files there\n"
"                           and no other mount changes it; another mount's\n"
"                           change there waits for it to be given back,\n"
"                           seconds at most).  Many then share a commit\n"
"                           (rm -rf runs several times faster).  Later calls\n"
"                           of the mount still come after them, but other\n"
"                           mounts may see the old state for a few\n"
"                           milliseconds more, and they are durable once\n"
"                           the directory is fsync'ed, as on a local file\n"
"                           system; one the cluster refuses after all is\n"
"                           logged and fails that fsync with EIO\n"
"  -h, --help          this help\n"
"  -V, --version       print the version and exit\n"
"\n"
"The mount always uses the kernel's permission checks (default_permissions)\n"
"and, when run by root, allow_other.\n"
"\n"
"example:\n"
"  mkdir -p ./mnt && wormfs 127.0.0.1:7700 ./mnt\n"
"  cp big.iso ./mnt/ && ls -l ./mnt\n"
"  fusermount3 -u ./mnt\n");
}

static void short_usage(void)
{
	fprintf(stderr, "usage: wormfs [options] NODE[,NODE...] MOUNTPOINT\n"
			"try 'wormfs --help' for more\n");
}

static int parse_uint(const char *key, const char *v, unsigned max,
		      unsigned *out)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno || end == v || *end || n > max) {
		fprintf(stderr, "wormfs: -o %s=%s: expected a number from 0 to"
			" %u\n", key, v, max);
		return -1;
	}
	*out = (unsigned)n;
	return 0;
}

/* Take one -o option: wormfs's own, or passed on to FUSE. */
static int take_option(struct options *o, char *opt)
{
	char *eq = strchr(opt, '=');
	const char *v = eq ? eq + 1 : "";
	unsigned n;
	size_t len;

	if (eq)
		*eq = '\0';
	if (!strcmp(opt, "retry")) {
		if (parse_uint(opt, v, 86400, &n))
			return -1;
		o->client.retry_ms = (int64_t)n * 1000;
	} else if (!strcmp(opt, "log")) {
		o->log_file = v;
	} else if (!strcmp(opt, "loglevel")) {
		if (wfs_log_parse_level(v, &o->log_level)) {
			fprintf(stderr, "wormfs: -o loglevel=%s: expected error,"
				" warn, info or debug\n", v);
			return -1;
		}
	} else if (!strcmp(opt, "threads")) {
		if (parse_uint(opt, v, 1024, &o->threads))
			return -1;
		if (!o->threads) {
			fprintf(stderr, "wormfs: -o threads=0: at least 1\n");
			return -1;
		}
	} else if (!strcmp(opt, "readahead_kb")) {
		if (parse_uint(opt, v, 1 << 20, &o->readahead_kb))
			return -1;
	} else if (!strcmp(opt, "cache")) {
		if (parse_uint(opt, v, 4096, &o->client.cache_stripes))
			return -1;
	} else if (!strcmp(opt, "sync_meta") && !eq) {
		o->sync_meta = true;
	} else if (!strcmp(opt, "inflight")) {
		if (parse_uint(opt, v, 64, &o->client.stripes_in_flight))
			return -1;
	} else {
		if (eq)
			*eq = '=';
		len = strlen(o->fuse_opts);
		if (len + strlen(opt) + 2 > sizeof(o->fuse_opts)) {
			fprintf(stderr, "wormfs: -o: too many options\n");
			return -1;
		}
		snprintf(o->fuse_opts + len, sizeof(o->fuse_opts) - len, "%s%s",
			 len ? "," : "", opt);
	}
	return 0;
}

static int take_options(struct options *o, char *list)
{
	char *save = NULL;

	for (char *t = strtok_r(list, ",", &save); t;
	     t = strtok_r(NULL, ",", &save))
		if (take_option(o, t))
			return -1;
	return 0;
}

/* Returns 0 to go on, 1 to exit 0 (help, version), -1 for a usage error. */
static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longs[] = {
		{ "foreground", no_argument, NULL, 'f' },
		{ "debug", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	o->log_level = WFS_LOG_INFO;
	o->threads = 64;
	o->readahead_kb = 4096;
	while ((c = getopt_long(argc, argv, "fdho:V", longs, NULL)) != -1) {
		switch (c) {
		case 'f':
			o->foreground = true;
			break;
		case 'd':
			o->foreground = o->debug = true;
			o->log_level = WFS_LOG_DEBUG;
			break;
		case 'o':
			if (take_options(o, optarg))
				return -1;
			break;
		case 'h':
			usage();
			return 1;
		case 'V':
			printf("wormfs (WormFS) %s, FUSE library %s\n",
			       WORMFS_VERSION, fuse_pkgversion());
			return 1;
		default:
			short_usage();
			return -1;
		}
	}
	if (argc - optind != 2) {
		short_usage();
		return -1;
	}
	o->nodes = argv[optind];
	o->mountpoint = realpath(argv[optind + 1], NULL);
	if (!o->mountpoint) {
		fprintf(stderr, "wormfs: mount point %s: %s\n",
			argv[optind + 1], strerror(errno));
		return -1;
	}
	o->client.nodes = o->nodes;
	return 0;
}

static void syslog_sink(enum wfs_log_level level, const char *subsystem,
			const char *line, void *arg)
{
	static const int prio[] = { LOG_ERR, LOG_ERR, LOG_WARNING, LOG_INFO,
				    LOG_DEBUG };

	(void)arg;
	syslog(prio[level <= WFS_LOG_DEBUG ? level : WFS_LOG_DEBUG], "%s: %s",
	       subsystem, line);
}

/* Fork; the parent waits until the child reports (1 byte on a pipe) and
 * exits with its status.  Returns, in the child, the pipe to report on. */
static int go_background(void)
{
	int fds[2];
	pid_t pid;
	char st = 1;

	if (pipe(fds) != 0) {
		perror("wormfs: pipe");
		exit(1);
	}
	pid = fork();
	if (pid < 0) {
		perror("wormfs: fork");
		exit(1);
	}
	if (pid > 0) {
		close(fds[1]);
		if (read(fds[0], &st, 1) != 1)
			st = 1;	/* the child died before reporting */
		exit(st);
	}
	close(fds[0]);
	setsid();
	return fds[1];
}

/* Tell the waiting parent how the mount went, and leave the terminal. */
static void report(int fd, char status, const struct options *o)
{
	int null;

	if (fd < 0)
		return;
	if (status == 0) {
		if (!o->log_file) {
			openlog("wormfs", LOG_PID, LOG_DAEMON);
			wfs_log_set_sink(syslog_sink, NULL);
		}
		if (chdir("/") != 0)
			wfs_log_warn("fuse", "chdir /: %s", strerror(errno));
		null = open("/dev/null", O_RDWR);
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
			if (null > 2)
				close(null);
		}
	}
	if (write(fd, &status, 1) != 1)
		wfs_log_warn("fuse", "cannot report to the parent: %s",
			     strerror(errno));
	close(fd);
}

/* Undo /proc/self/mountinfo's octal escapes (\040 for a space) in place. */
static void unescape(char *s)
{
	char *w = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] &&
		    s[3]) {
			*w++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 +
				      (s[3] - '0'));
			s += 3;
		} else {
			*w++ = *s;
		}
	}
	*w = '\0';
}

/* Raise the readahead of the mount's backing device (found through
 * mountinfo: a stat of the mount point would wait for this very process to
 * answer it). */
static void raise_readahead(const char *mountpoint, unsigned kb)
{
	FILE *f = fopen("/proc/self/mountinfo", "r");
	unsigned maj = 0, min = 0, a, b;
	char line[8192], where[4096], path[128];
	bool found = false;
	int fd;

	if (!f || kb == 0) {
		if (f)
			fclose(f);
		return;
	}
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%*d %*d %u:%u %*s %4095s", &a, &b, where) ==
		    3) {
			unescape(where);
			if (strcmp(where, mountpoint) == 0 &&
			    strstr(line, " - fuse")) {
				maj = a;
				min = b;
				found = true;
			}
		}
	fclose(f);
	if (!found) {
		wfs_log_warn("fuse", "%s: not in mountinfo; readahead left "
			     "as it is", mountpoint);
		return;
	}
	snprintf(path, sizeof(path), "/sys/class/bdi/%u:%u/read_ahead_kb", maj,
		 min);
	fd = open(path, O_WRONLY);
	if (fd < 0 || dprintf(fd, "%u\n", kb) < 0) {
		wfs_log_info("fuse", "%s: cannot raise readahead to %u KiB: %s",
			     path, kb, strerror(errno));
	} else {
		wfs_log_debug("fuse", "%s: readahead %u KiB", path, kb);
	}
	if (fd >= 0)
		close(fd);
}

/* The FUSE arguments: our fixed mount options, then the user's. */
static int fuse_argv(const struct options *o, struct fuse_args *args)
{
	char fixed[256];

	snprintf(fixed, sizeof(fixed),
		 "default_permissions,fsname=wormfs,subtype=wormfs%s",
		 geteuid() == 0 ? ",allow_other" : "");
	if (fuse_opt_add_arg(args, "wormfs") || fuse_opt_add_arg(args, "-o") ||
	    fuse_opt_add_arg(args, fixed))
		return -1;
	if (o->fuse_opts[0] && (fuse_opt_add_arg(args, "-o") ||
				fuse_opt_add_arg(args, o->fuse_opts)))
		return -1;
	if (o->debug && fuse_opt_add_arg(args, "-d"))
		return -1;
	return 0;
}

static int serve(struct fuse_session *se, unsigned threads)
{
	struct fuse_loop_config *cfg = fuse_loop_cfg_create();
	int rc;

	if (!cfg)
		return -1;
	fuse_loop_cfg_set_max_threads(cfg, threads);
	fuse_loop_cfg_set_idle_threads(cfg, threads);
	fuse_loop_cfg_set_clone_fd(cfg, 1);
	rc = fuse_session_loop_mt(se, cfg);
	fuse_loop_cfg_destroy(cfg);
	return rc;
}

static void release_orphan(uint64_t ino, void *arg)
{
	static const struct wfs_cred root;

	wfs_client_forget(arg, &root, ino);
}

/* Mount and serve until unmounted.  @report_fd: the parent's pipe, or -1
 * in the foreground. */
static int run(struct options *o, int report_fd)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct wfs_mount m = {
		.entry_timeout = 1.0, .attr_timeout = 1.0,
		.max_write = 1u << 20, .max_readahead = 16u << 20,
	};
	struct wfs_cred root = { 0 };
	struct fuse_session *se;
	int rc = 1;

	/* Directories changed through the mount: their new attributes go to
	 * the inode table (m outlives the client, freed below). */
	o->client.dir_attr = wfs_fuse_note_dir;
	o->client.dir_attr_arg = &m;
	/* Names read ahead live half the attribute timeout, so what the
	 * kernel then keeps is at most 1.5 timeouts old, close to what a
	 * lookup of its own would give. */
	o->client.statahead_ms = (unsigned)(m.attr_timeout * 500);
	/* Likewise a list of a directory's names, which answers lookups of
	 * names it lacks (the kernel checks search permission first:
	 * default_permissions). */
	o->client.dirnames_ms = (unsigned)(m.entry_timeout * 500);
	/* Creates answered before they are applied, under directory leases
	 * (client/behind_internal.h), unless the mount wants every change
	 * applied first. */
	m.sync_meta = o->sync_meta;
	o->client.early_creates = !o->sync_meta;
	if (wfs_client_new(&o->client, &m.client) != 0 ||
	    wfs_itable_new(&m.itable) != 0) {
		wfs_log_error("fuse", "cannot start the client");
		goto out_free;
	}
	root.pid = (uint32_t)getpid();
	if (wfs_client_ping(m.client, &root) != 0) {
		wfs_log_error("fuse", "no answer from the cluster at %s",
			      o->nodes);
		goto out_free;
	}
	if (fuse_argv(o, &args) != 0)
		goto out_free;
	se = fuse_session_new(&args, wfs_fuse_ops(), sizeof(struct fuse_lowlevel_ops), &m);
	if (!se)
		goto out_free;
	m.se = se;
	if (fuse_set_signal_handlers(se) != 0)
		goto out_destroy;
	if (fuse_session_mount(se, o->mountpoint) != 0)
		goto out_signals;
	raise_readahead(o->mountpoint, o->readahead_kb);
	wfs_log_info("fuse", "mounted %s at %s", o->nodes, o->mountpoint);
	report(report_fd, 0, o);
	report_fd = -1;
	rc = serve(se, o->threads) == 0 ? 0 : 1;
	fuse_session_unmount(se);
	/* The unlinks and creates answered before they were applied go
	 * first (an error is logged), then unlinked inodes the kernel held
	 * to the end: done with them. */
	wfs_client_settle(m.client);
	wfs_itable_orphans(m.itable, release_orphan, m.client);
	wfs_log_info("fuse", "unmounted %s", o->mountpoint);
out_signals:
	fuse_remove_signal_handlers(se);
out_destroy:
	fuse_session_destroy(se);
out_free:
	report(report_fd, 1, o);
	fuse_opt_free_args(&args);
	wfs_client_free(m.client);
	wfs_itable_free(m.itable);
	return rc;
}

int main(int argc, char **argv)
{
	struct options o;
	int report_fd = -1, rc;

	memset(&o, 0, sizeof(o));
	rc = parse_args(argc, argv, &o);
	if (rc)
		return rc > 0 ? 0 : 2;
	wfs_log_set_level(o.log_level);
	if (o.log_file) {
		rc = wfs_log_open_file(o.log_file);
		if (rc) {
			fprintf(stderr, "wormfs: log file %s: %s\n", o.log_file,
				strerror(-rc));
			return 2;
		}
	} else {
		wfs_log_to_stderr();
	}
	signal(SIGPIPE, SIG_IGN);
	if (!o.foreground)
		report_fd = go_background();
	rc = run(&o, report_fd);
	free(o.mountpoint);
	return rc;
}
