/* fullio: whole-buffer pread/pwrite for the file-system test programs
 * (posix_check, fsx), which retry short transfers and EINTR the same way. */
#ifndef WFS_TESTS_FULLIO_H
#define WFS_TESTS_FULLIO_H

#include <stddef.h>
#include <sys/types.h>

/* Write all @len bytes of @buf at @off.  Returns 0 or a negative errno
 * (-EIO if the kernel writes nothing). */
int wfs_fsio_pwrite_all(int fd, const void *buf, size_t len, off_t off);

/* Read up to @len bytes at @off, short only at end of file.  Returns the
 * bytes read or a negative errno. */
ssize_t wfs_fsio_pread_all(int fd, void *buf, size_t len, off_t off);

#endif
