/* wormctl/session: what every command uses: error messages, the caller's
 * credentials, WormFS paths resolved from the root, and the cluster status
 * that names nodes and disks.  Not for output formats (out.c) or commands.
 */
#include "wormctl/ctl_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wormctl/path.h"

int wfs_ctl_fail(int rc, const char *fmt, ...)
{
	va_list ap;

	fputs("wormctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, ": %s\n", strerror(-rc));
	return WFS_CTL_FAILED;
}

void wfs_ctl_cred_init(struct wfs_cred *cred)
{
	gid_t groups[WFS_CRED_GROUPS_MAX];
	int n = getgroups(WFS_CRED_GROUPS_MAX, groups);

	memset(cred, 0, sizeof(*cred));
	cred->uid = getuid();
	cred->gid = getgid();
	cred->pid = (uint32_t)getpid();
	/* More groups than fit: permission checks see the first ones. */
	if (n < 0)
		n = 0;
	cred->ngroups = (uint32_t)n;
	for (int i = 0; i < n; i++)
		cred->groups[i] = groups[i];
}

int wfs_ctl_resolve(struct wfs_ctl *ctl, const char *path,
		    struct wfs_attr *attr)
{
	char name[WFS_CTL_NAME_MAX + 1];
	const char *cur = path, *comp;
	size_t len;
	int rc;

	rc = wfs_client_getattr(ctl->client, &ctl->cred, WFS_CTL_ROOT_INO,
				attr);
	while (rc == 0 && (rc = wfs_ctl_path_next(&cur, &comp, &len)) == 1) {
		memcpy(name, comp, len);
		name[len] = '\0';
		rc = wfs_client_lookup(ctl->client, &ctl->cred, attr->ino,
				       name, attr);
	}
	return rc;
}

static int cmp_str(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "");
}

static int cmp_node(const void *x, const void *y)
{
	const Wormfs__NodeStatus *a = *(Wormfs__NodeStatus *const *)x;
	const Wormfs__NodeStatus *b = *(Wormfs__NodeStatus *const *)y;
	int c = cmp_str(a->name, b->name);

	return c ? c : cmp_str(a->addr, b->addr);
}

static int cmp_disk(const void *x, const void *y)
{
	const Wormfs__DiskStatus *a = *(Wormfs__DiskStatus *const *)x;
	const Wormfs__DiskStatus *b = *(Wormfs__DiskStatus *const *)y;

	return cmp_str(a->path, b->path);
}

/* Nodes by name, each one's disks by path: the order a reader looks for
 * (the node answers in its tables' order, by id). */
static void status_sort(Wormfs__StatusReply *st)
{
	qsort(st->nodes, st->n_nodes, sizeof(*st->nodes), cmp_node);
	for (size_t i = 0; i < st->n_nodes; i++)
		qsort(st->nodes[i]->disks, st->nodes[i]->n_disks,
		      sizeof(*st->nodes[i]->disks), cmp_disk);
}

int wfs_ctl_status(struct wfs_ctl *ctl, const Wormfs__StatusReply **st)
{
	Wormfs__StatusRequest req = WORMFS__STATUS_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	int rc;

	if (!ctl->status) {
		rc = wfs_client_call(ctl->client, "/wormfs.Admin/Status",
				     &req.base,
				     &wormfs__status_reply__descriptor, &resp);
		if (rc)
			return rc;
		ctl->status = (Wormfs__StatusReply *)resp;
		status_sort(ctl->status);
	}
	*st = ctl->status;
	return 0;
}

static bool same_id(ProtobufCBinaryData a, const uint8_t *id, size_t len)
{
	return len && a.len == len && memcmp(a.data, id, len) == 0;
}

const Wormfs__NodeStatus *wfs_ctl_find_node(const Wormfs__StatusReply *st,
					    const uint8_t *id, size_t len)
{
	for (size_t i = 0; st && i < st->n_nodes; i++)
		if (same_id(st->nodes[i]->node_id, id, len))
			return st->nodes[i];
	return NULL;
}

const Wormfs__DiskStatus *wfs_ctl_find_disk(const Wormfs__NodeStatus *node,
					    const uint8_t *id, size_t len)
{
	for (size_t i = 0; node && i < node->n_disks; i++)
		if (same_id(node->disks[i]->disk_id, id, len))
			return node->disks[i];
	return NULL;
}

void wfs_ctl_session_release(struct wfs_ctl *ctl)
{
	if (ctl->status)
		wfs_client_msg_free(&ctl->status->base);
	ctl->status = NULL;
}
