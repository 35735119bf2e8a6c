/* wormctl/fmt: values written for people by wormctl: sizes in df -h style,
 * use percentages, ls -l mode strings, times, hex ids, file types.
 *
 * Pure functions of their arguments (the time uses the local time zone);
 * nothing here talks to a cluster or prints.  Any thread.
 */
#ifndef WFS_WORMCTL_FMT_H
#define WFS_WORMCTL_FMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Room for any wfs_ctl_fmt_size result ("1023K", "9.9E") with its NUL. */
#define WFS_CTL_SIZE_LEN 8

/* Write @bytes into @buf as df -h does: bytes below 1 KiB as a plain
 * number ("0", "512"), else in powers of 1024 with suffix K, M, G, T, P or
 * E, rounded up, with one decimal below 10 ("1.5K", "10M", "16E"). */
void wfs_ctl_fmt_size(uint64_t bytes, char buf[WFS_CTL_SIZE_LEN]);

/* The percentage of @total that @used is, rounded up as df's Use% is; 0
 * when @total is 0, at most 100 only when @used <= @total. */
unsigned wfs_ctl_fmt_pct(uint64_t used, uint64_t total);

/* Room for a mode string: type character, nine permission characters and
 * the NUL. */
#define WFS_CTL_MODE_LEN 11

/* Write @mode (st_mode) as ls -l does: "drwxr-xr-x", "-rwsr-x--T". */
void wfs_ctl_fmt_mode(uint32_t mode, char buf[WFS_CTL_MODE_LEN]);

/* The file type of @mode in one lower-case word: "file", "dir", "symlink",
 * "fifo", "socket", "chardev", "blockdev" or "unknown".  Static string. */
const char *wfs_ctl_fmt_type(uint32_t mode);

/* Write the id @id/@len (a node, disk or cluster id) for people into @buf
 * of @size bytes (> 0; always NUL-terminated, truncated to fit): an id of
 * printable ASCII (nodes may send their ids as hex text) as it is, a binary
 * one in lower-case hex; at most @max characters of it (0: all).  An empty
 * id writes "-". */
void wfs_ctl_fmt_id(const uint8_t *id, size_t len, size_t max, char *buf,
		    size_t size);

/* Write @ns (nanoseconds since the epoch) as local time "YYYY-MM-DD HH:MM"
 * into @buf of @size bytes (at least 17 to hold it; truncated otherwise). */
void wfs_ctl_fmt_time(int64_t ns, char *buf, size_t size);

/* Room for any wfs_ctl_fmt_disk_state result with its NUL. */
#define WFS_CTL_DISK_STATE_LEN 112

/* Write a disk's state for people into @buf: @state ("online" or
 * "offline") alone when the disk is not @draining; while it drains, with
 * the chunks left to move off it (@left; @more: the count stopped there,
 * "1000000+") and those recorded there but missing, which wait for repair
 * (@missing, when any): "draining, 120 left", "offline (draining, 5
 * left)", "draining, 0 left, 3 missing (repair rebuilds them)".  A @state
 * of "draining" (a node from before draining was a flag of its own) reads
 * as online. */
void wfs_ctl_fmt_disk_state(const char *state, bool draining, uint64_t left,
			    uint64_t missing, bool more,
			    char buf[WFS_CTL_DISK_STATE_LEN]);

#endif
