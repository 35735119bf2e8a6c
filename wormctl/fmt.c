/* wormctl/fmt: values written for people (see fmt.h). */
#include "wormctl/fmt.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

void wfs_ctl_fmt_size(uint64_t bytes, char buf[WFS_CTL_SIZE_LEN])
{
	static const char suffix[] = "KMGTPE";
	unsigned __int128 div = 1;

	if (bytes < 1024) {
		snprintf(buf, WFS_CTL_SIZE_LEN, "%u", (unsigned)bytes);
		return;
	}
	/* Rounding up may carry into the next unit (1048575 bytes is 1024K
	 * rounded up, so 1.0M): try each unit until the value fits. */
	for (unsigned i = 0; i < sizeof(suffix) - 1; i++) {
		div *= 1024;
		uint64_t tenths = (uint64_t)((bytes * (unsigned __int128)10 +
					      div - 1) / div);
		uint64_t whole = (uint64_t)((bytes + div - 1) / div);

		if (tenths < 100) {
			snprintf(buf, WFS_CTL_SIZE_LEN, "%u.%u%c",
				 (unsigned)(tenths / 10),
				 (unsigned)(tenths % 10), suffix[i]);
			return;
		}
		if (whole < 1024 || i == sizeof(suffix) - 2) {
			snprintf(buf, WFS_CTL_SIZE_LEN, "%u%c",
				 (unsigned)whole, suffix[i]);
			return;
		}
	}
}

unsigned wfs_ctl_fmt_pct(uint64_t used, uint64_t total)
{
	if (total == 0)
		return 0;
	return (unsigned)((used * (unsigned __int128)100 + total - 1) / total);
}

static char type_char(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG: return '-';
	case S_IFDIR: return 'd';
	case S_IFLNK: return 'l';
	case S_IFIFO: return 'p';
	case S_IFSOCK: return 's';
	case S_IFCHR: return 'c';
	case S_IFBLK: return 'b';
	default: return '?';
	}
}

/* The execute position of one rwx triple: x, or the special bit's letter
 * (lower case when executable too, as ls shows it). */
static char exec_char(uint32_t mode, uint32_t xbit, uint32_t special,
		      char letter)
{
	if (mode & special)
		return (mode & xbit) ? letter : (char)(letter - 'a' + 'A');
	return (mode & xbit) ? 'x' : '-';
}

void wfs_ctl_fmt_mode(uint32_t mode, char buf[WFS_CTL_MODE_LEN])
{
	buf[0] = type_char(mode);
	buf[1] = (mode & S_IRUSR) ? 'r' : '-';
	buf[2] = (mode & S_IWUSR) ? 'w' : '-';
	buf[3] = exec_char(mode, S_IXUSR, S_ISUID, 's');
	buf[4] = (mode & S_IRGRP) ? 'r' : '-';
	buf[5] = (mode & S_IWGRP) ? 'w' : '-';
	buf[6] = exec_char(mode, S_IXGRP, S_ISGID, 's');
	buf[7] = (mode & S_IROTH) ? 'r' : '-';
	buf[8] = (mode & S_IWOTH) ? 'w' : '-';
	buf[9] = exec_char(mode, S_IXOTH, S_ISVTX, 't');
	buf[10] = '\0';
}

const char *wfs_ctl_fmt_type(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG: return "file";
	case S_IFDIR: return "dir";
	case S_IFLNK: return "symlink";
	case S_IFIFO: return "fifo";
	case S_IFSOCK: return "socket";
	case S_IFCHR: return "chardev";
	case S_IFBLK: return "blockdev";
	default: return "unknown";
	}
}

static bool printable(const uint8_t *id, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (id[i] <= ' ' || id[i] >= 0x7f)
			return false;
	return true;
}

void wfs_ctl_fmt_id(const uint8_t *id, size_t len, size_t max, char *buf,
		    size_t size)
{
	static const char digits[] = "0123456789abcdef";
	bool text = printable(id, len);
	size_t o = 0, room = size - 1;

	if (max && max < room)
		room = max;
	if (len == 0 && room) {
		buf[o++] = '-';
	} else if (text) {
		o = len < room ? len : room;
		memcpy(buf, id, o);
	} else {
		for (size_t i = 0; i < len && o + 2 <= room; i++) {
			buf[o++] = digits[id[i] >> 4];
			buf[o++] = digits[id[i] & 15];
		}
	}
	buf[o] = '\0';
}

void wfs_ctl_fmt_time(int64_t ns, char *buf, size_t size)
{
	/* Floor division, so times before 1970 land in the right second. */
	time_t secs = (time_t)(ns / 1000000000 - (ns % 1000000000 < 0));
	struct tm tm;

	if (!localtime_r(&secs, &tm) ||
	    strftime(buf, size, "%Y-%m-%d %H:%M", &tm) == 0)
		snprintf(buf, size, "%lld", (long long)secs);
}

void wfs_ctl_fmt_disk_state(const char *state, bool draining, uint64_t left,
			    uint64_t missing, bool more,
			    char buf[WFS_CTL_DISK_STATE_LEN])
{
	bool offline = state && strcmp(state, "offline") == 0;
	char miss[64] = "";

	if (!draining) {
		snprintf(buf, WFS_CTL_DISK_STATE_LEN, "%s",
			 state && strcmp(state, "draining") != 0 ? state
								 : "online");
		return;
	}
	if (missing)
		snprintf(miss, sizeof(miss), ", %llu%s missing (repair "
			 "rebuilds them)", (unsigned long long)missing,
			 more ? "+" : "");
	snprintf(buf, WFS_CTL_DISK_STATE_LEN, "%sdraining, %llu%s left%s%s",
		 offline ? "offline (" : "", (unsigned long long)left,
		 more ? "+" : "", miss, offline ? ")" : "");
}
