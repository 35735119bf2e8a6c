/* log: formatting, the sink and its lock.  Lines are formatted into a stack
 * buffer (truncated at 1 KiB, which no useful log line exceeds) so logging
 * never allocates and works when memory is short. */
#include "log/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum wfs_log_level wfs_log_threshold = WFS_LOG_WARN;

static pthread_mutex_t sink_lock = PTHREAD_MUTEX_INITIALIZER;
static wfs_log_sink_cb sink;	/* protected by sink_lock */
static void *sink_arg;		/* protected by sink_lock */
static int sink_fd = -1;	/* protected by sink_lock; -1 means stderr */

static const char *const level_names[] = {
	[WFS_LOG_NONE] = "none", [WFS_LOG_ERROR] = "error",
	[WFS_LOG_WARN] = "warn", [WFS_LOG_INFO] = "info",
	[WFS_LOG_DEBUG] = "debug",
};

const char *wfs_log_level_name(enum wfs_log_level level)
{
	if ((unsigned)level > WFS_LOG_DEBUG)
		return "?";
	return level_names[level];
}

int wfs_log_parse_level(const char *name, enum wfs_log_level *out)
{
	for (int l = WFS_LOG_ERROR; l <= WFS_LOG_DEBUG; l++) {
		if (strcmp(name, level_names[l]) == 0) {
			*out = (enum wfs_log_level)l;
			return 0;
		}
	}
	return -EINVAL;
}

void wfs_log_set_level(enum wfs_log_level level)
{
	wfs_log_threshold = level;
}

/* Write a timestamped line to @fd; a short write of a log line is dropped,
 * since there is nowhere better to report it. */
static void write_line(int fd, enum wfs_log_level level, const char *subsystem,
		       const char *line)
{
	char buf[1200];
	struct timespec ts;
	struct tm tm;
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(buf, sizeof(buf),
		     "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s %s: %s\n",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		     tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
		     wfs_log_level_name(level), subsystem, line);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(buf)) {
		n = sizeof(buf) - 1;
		buf[n - 1] = '\n';
	}
	if (write(fd, buf, (size_t)n) < 0)
		return;
}

void wfs_log_emit(enum wfs_log_level level, const char *subsystem,
		  const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);

	pthread_mutex_lock(&sink_lock);
	if (sink)
		sink(level, subsystem, line, sink_arg);
	else
		write_line(sink_fd >= 0 ? sink_fd : STDERR_FILENO, level,
			   subsystem, line);
	pthread_mutex_unlock(&sink_lock);
	errno = saved;
}

void wfs_log_set_sink(wfs_log_sink_cb cb, void *arg)
{
	pthread_mutex_lock(&sink_lock);
	sink = cb;
	sink_arg = arg;
	pthread_mutex_unlock(&sink_lock);
}

int wfs_log_open_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	int old;

	if (fd < 0)
		return -errno;
	pthread_mutex_lock(&sink_lock);
	old = sink_fd;
	sink_fd = fd;
	sink = NULL;
	pthread_mutex_unlock(&sink_lock);
	if (old >= 0)
		close(old);
	return 0;
}

void wfs_log_to_stderr(void)
{
	int old;

	pthread_mutex_lock(&sink_lock);
	old = sink_fd;
	sink_fd = -1;
	sink = NULL;
	pthread_mutex_unlock(&sink_lock);
	if (old >= 0)
		close(old);
}
