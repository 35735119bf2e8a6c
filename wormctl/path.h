/* wormctl/path: splitting the WormFS paths given to wormctl ("/dir/file")
 * into the names that are looked up one by one from the root.
 *
 * A path is read from the root whether or not it starts with '/'; repeated
 * slashes and "." components are skipped, ".." is a name like any other
 * (the cluster resolves it).  Pure functions; any thread.
 */
#ifndef WFS_WORMCTL_PATH_H
#define WFS_WORMCTL_PATH_H

#include <stddef.h>

/* Longest name of one component, in bytes (POSIX NAME_MAX). */
#define WFS_CTL_NAME_MAX 255

/* Step to the next component of the path at *@cursor: on success *name
 * points at it inside the path (not NUL-terminated), *len is its length and
 * *cursor moves past it.  Returns 1 for a component, 0 at the end of the
 * path, or -ENAMETOOLONG for a component over WFS_CTL_NAME_MAX bytes. */
int wfs_ctl_path_next(const char **cursor, const char **name, size_t *len);

/* Split @path into its parent, written into @dir (@dir_size bytes), and its
 * last component, written into @base (@base_size bytes, at least
 * WFS_CTL_NAME_MAX + 1 to take any name): "/a/b/" gives "/a" and "b",
 * "f" gives "/" and "f".  Returns 0, -EINVAL when the path has no last name
 * to create ("/", "", "a/..") , -ENAMETOOLONG for a long component, or
 * -ERANGE when @dir or @base is too small. */
int wfs_ctl_path_split(const char *path, char *dir, size_t dir_size,
		       char *base, size_t base_size);

#endif
