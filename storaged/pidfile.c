/* storaged/pidfile: the data directory's lock and pid file (see
 * pidfile.h). */
#include "storaged/pidfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static int mkdir_p(const char *path)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);

	if (len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(buf, 0750) != 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0750) != 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* The pid the file at @path names, or 0. */
static pid_t read_pid(const char *path)
{
	char buf[32];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	return (pid_t)strtol(buf, NULL, 10);
}

static int write_pid(const char *path)
{
	char tmp[4200], buf[32];
	int len = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	int fd, rc = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (write(fd, buf, (size_t)len) != len)
		rc = errno ? -errno : -EIO;
	close(fd);
	if (rc == 0 && rename(tmp, path) != 0)
		rc = -errno;
	if (rc)
		unlink(tmp);
	return rc;
}

int wfs_pidfile_acquire(const char *data_dir, struct wfs_pidfile *pf,
			pid_t *holder)
{
	char lock_path[4200];
	int fd, rc;

	*holder = 0;
	memset(pf, 0, sizeof(*pf));
	pf->lock_fd = -1;
	snprintf(lock_path, sizeof(lock_path), "%s/%s", data_dir,
		 WFS_PIDFILE_LOCK);
	if (snprintf(pf->pid_path, sizeof(pf->pid_path), "%s/%s", data_dir,
		     WFS_PIDFILE_PID) >= (int)sizeof(pf->pid_path)) {
		pf->pid_path[0] = 0;
		return -ENAMETOOLONG;
	}
	rc = mkdir_p(data_dir);
	if (rc)
		goto out_clear;
	fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = -errno;
		goto out_clear;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
		if (rc == -EBUSY)
			*holder = read_pid(pf->pid_path);
		goto out_close;
	}
	rc = write_pid(pf->pid_path);
	if (rc)
		goto out_close;
	pf->lock_fd = fd;
	return 0;

out_close:
	close(fd);
out_clear:
	pf->pid_path[0] = 0;
	return rc;
}

void wfs_pidfile_release(struct wfs_pidfile *pf)
{
	if (!pf->pid_path[0])
		return;
	unlink(pf->pid_path);
	close(pf->lock_fd);
	pf->pid_path[0] = 0;
	pf->lock_fd = -1;
}
