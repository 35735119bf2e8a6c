/* fuse/ops: the FUSE low-level operations of the wormfs mount.
 *
 * Each operation turns a kernel request into calls of the client library
 * (client/client.h) with the requesting process's credentials, and its
 * result into the reply, errno included.  The FUSE node id of an inode is
 * its WormFS inode number (the root, 1, is FUSE_ROOT_ID), so hard links
 * share one kernel inode; lookup counts are kept in fuse/itable.h.
 *
 * Kernel caching: entries and attributes are cached for a second;
 * file pages are kept across opens only while the file's mtime and size are
 * those the pages were filled under (close-to-open: open always fetches
 * fresh attributes, flush and release commit what is buffered).  A
 * directory's attributes that a change through the mount brought back
 * (see wfs_fuse_note_dir) answer the kernel's getattr of it for as long as
 * the kernel would have cached them.
 */
#ifndef WFS_FUSE_OPS_H
#define WFS_FUSE_OPS_H

#include <fuse_lowlevel.h>

#include "client/client.h"
#include "fuse/itable.h"

/* What every operation works on: the userdata of the session. */
struct wfs_mount {
	struct wfs_client *client;	/* owned by the program */
	struct wfs_itable *itable;	/* owned by the program */
	double entry_timeout;		/* seconds the kernel caches a name */
	double attr_timeout;		/* seconds it caches attributes */
	unsigned max_write;		/* largest write request, bytes */
	unsigned max_readahead;		/* kernel readahead asked for, bytes */
	bool sync_meta;			/* answer unlinks (and, through the
					 * client's opts, creates) once
					 * applied */
	struct fuse_session *se;	/* for notifications; set once the
					 * session exists */
};

/* The operations table; the session's userdata must be a struct
 * wfs_mount that outlives the session. */
const struct fuse_lowlevel_ops *wfs_fuse_ops(void);

/* A wfs_client_dir_cb for the mount's client (@mount: its struct
 * wfs_mount): keeps @dir, the attributes a namespace change through the
 * mount left a directory with, in the inode table for attr_timeout, so the
 * getattr the kernel sends right after the change is answered without a
 * call.  Any thread. */
void wfs_fuse_note_dir(void *mount, const struct wfs_attr *dir);

#endif
