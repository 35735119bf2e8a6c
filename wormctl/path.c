/* wormctl/path: WormFS path components (see path.h). */
#include "wormctl/path.h"

#include <errno.h>
#include <string.h>

int wfs_ctl_path_next(const char **cursor, const char **name, size_t *len)
{
	const char *p = *cursor;

	for (;;) {
		while (*p == '/')
			p++;
		if (*p == '\0') {
			*cursor = p;
			return 0;
		}
		size_t n = strcspn(p, "/");

		if (n == 1 && p[0] == '.') {
			p += n;
			continue;
		}
		if (n > WFS_CTL_NAME_MAX)
			return -ENAMETOOLONG;
		*name = p;
		*len = n;
		*cursor = p + n;
		return 1;
	}
}

/* Append "/" and @n bytes of @s to the string in @buf. */
static int append(char *buf, size_t size, size_t *used, const char *s,
		  size_t n)
{
	if (*used + 1 + n + 1 > size)
		return -ERANGE;
	buf[(*used)++] = '/';
	memcpy(buf + *used, s, n);
	*used += n;
	buf[*used] = '\0';
	return 0;
}

int wfs_ctl_path_split(const char *path, char *dir, size_t dir_size,
		       char *base, size_t base_size)
{
	const char *cur = path, *name, *last = NULL;
	size_t len, last_len = 0, used = 0;
	unsigned count = 0, i = 0;
	int rc;

	while ((rc = wfs_ctl_path_next(&cur, &name, &len)) == 1) {
		last = name;
		last_len = len;
		count++;
	}
	if (rc < 0)
		return rc;
	if (!last || (last_len == 2 && memcmp(last, "..", 2) == 0))
		return -EINVAL;
	if (dir_size < 2 || base_size < last_len + 1)
		return -ERANGE;
	strcpy(dir, "/");
	cur = path;
	while (++i < count) {
		wfs_ctl_path_next(&cur, &name, &len);
		/* The first component replaces the lone "/" rather than
		 * following it. */
		if (used == 0)
			dir[0] = '\0';
		rc = append(dir, dir_size, &used, name, len);
		if (rc)
			return rc;
	}
	memcpy(base, last, last_len);
	base[last_len] = '\0';
	return 0;
}
