/* wormctl/ctl_internal: what the command files of wormctl share: the
 * session a command runs in (arguments, client, output), error reporting,
 * path resolution and the cluster's node and disk names.  Only for
 * wormctl/.
 */
#ifndef WFS_WORMCTL_CTL_INTERNAL_H
#define WFS_WORMCTL_CTL_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client/client.h"
#include "proto/wormfs.pb-c.h"
#include "wormctl/args.h"
#include "wormctl/out.h"

/* Exit statuses. */
#define WFS_CTL_OK 0
#define WFS_CTL_FAILED 1	/* the operation failed */
#define WFS_CTL_USAGE 2		/* the command line is wrong */

#define WFS_CTL_ROOT_INO 1

/* One command's run: made by main.c, borrowed by the command. */
struct wfs_ctl {
	const struct wfs_ctl_args *args;
	struct wfs_client *client;
	struct wfs_cred cred;		/* this process's user */
	struct wfs_ctl_out *out;	/* stdout, text or JSON */
	Wormfs__StatusReply *status;	/* from wfs_ctl_status, cached */
};

/* A command: runs with ctl->client connected; returns an exit status,
 * having printed its error (wfs_ctl_fail) when it is not WFS_CTL_OK. */
typedef int (*wfs_ctl_cmd_cb)(struct wfs_ctl *ctl);

int wfs_ctl_cmd_status(struct wfs_ctl *ctl);	/* status.c */
int wfs_ctl_cmd_df(struct wfs_ctl *ctl);	/* status.c */
int wfs_ctl_cmd_ls(struct wfs_ctl *ctl);	/* ls.c */
int wfs_ctl_cmd_put(struct wfs_ctl *ctl);	/* io.c */
int wfs_ctl_cmd_get(struct wfs_ctl *ctl);	/* io.c */
int wfs_ctl_cmd_node(struct wfs_ctl *ctl);	/* node.c */
int wfs_ctl_cmd_join_token(struct wfs_ctl *ctl);	/* node.c */
int wfs_ctl_cmd_disk(struct wfs_ctl *ctl);	/* disk.c */

/* Print "wormctl: WHAT: strerror(-rc)" to stderr, WHAT formatted from
 * @fmt, and return WFS_CTL_FAILED. */
int wfs_ctl_fail(int rc, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Fill @cred with the calling process's uid, gid, groups and pid, umask 0
 * (wormctl gives modes exactly). */
void wfs_ctl_cred_init(struct wfs_cred *cred);

/* Look @path up from the root, component by component; *attr gets the
 * attributes of what it names.  Returns 0, -ENAMETOOLONG, or the lookup's
 * error (-ENOENT, -ENOTDIR, ...). */
int wfs_ctl_resolve(struct wfs_ctl *ctl, const char *path,
		    struct wfs_attr *attr);

/* The cluster's Admin.Status, fetched on first use and kept in ctl->status
 * (freed by wfs_ctl_session_release).  Returns 0 and *st (borrowed from
 * ctl), or the call's error. */
int wfs_ctl_status(struct wfs_ctl *ctl, const Wormfs__StatusReply **st);

/* The node of @st whose id is @id/@len, or NULL (also when @st is NULL). */
const Wormfs__NodeStatus *wfs_ctl_find_node(const Wormfs__StatusReply *st,
					    const uint8_t *id, size_t len);

/* The disk of @node whose id is @id/@len, or NULL (also when @node is
 * NULL). */
const Wormfs__DiskStatus *wfs_ctl_find_disk(const Wormfs__NodeStatus *node,
					    const uint8_t *id, size_t len);

/* Release what the session holds (the cached status); the client and the
 * output are main.c's. */
void wfs_ctl_session_release(struct wfs_ctl *ctl);

#endif
