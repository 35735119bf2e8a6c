/* wormctl/disk: the commands that act on one disk of the cluster.
 *
 *   disk drain DISK     empty DISK before it is pulled: the master records
 *                       it draining, nothing new goes to it, and its node
 *                       moves its chunks to other disks; `wormctl status`
 *                       shows the chunks left on it.
 *   disk undrain DISK   cancel: DISK takes new chunks again (the chunks
 *                       moved off it stay where they went).
 *
 * DISK is a disk id as `wormctl status` shows it (a prefix that names one
 * disk is enough), or NODE:PATH, the name of its node and its path there.
 * Both find the disk in Admin.Status, then call Admin.DiskDrain, which
 * any node relays to the master.
 */
#include "wormctl/ctl_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define DISK_ID_MAX 64

static bool id_is(ProtobufCBinaryData id, const char *s, size_t len)
{
	return id.len == len && memcmp(id.data, s, len) == 0;
}

/* The disk NODE:PATH names (node by name, or by the start of its id). */
static int find_by_path(const Wormfs__StatusReply *st, const char *spec,
			const Wormfs__DiskStatus **out)
{
	const char *colon = strchr(spec, ':');
	size_t nlen = (size_t)(colon - spec);

	for (size_t i = 0; i < st->n_nodes; i++) {
		const Wormfs__NodeStatus *n = st->nodes[i];
		bool named = strlen(n->name) == nlen &&
			     strncmp(n->name, spec, nlen) == 0;

		if (!named && (nlen == 0 || n->node_id.len < nlen ||
			       memcmp(n->node_id.data, spec, nlen) != 0))
			continue;
		for (size_t j = 0; j < n->n_disks; j++)
			if (strcmp(n->disks[j]->path, colon + 1) == 0) {
				*out = n->disks[j];
				return 0;
			}
	}
	return -ENOENT;
}

/* The disk whose id is @spec or starts with it: -ENOENT, -ENOTUNIQ. */
static int find_by_id(const Wormfs__StatusReply *st, const char *spec,
		      const Wormfs__DiskStatus **out)
{
	size_t len = strlen(spec);
	unsigned found = 0;

	for (size_t i = 0; i < st->n_nodes; i++) {
		const Wormfs__NodeStatus *n = st->nodes[i];

		for (size_t j = 0; j < n->n_disks; j++) {
			ProtobufCBinaryData id = n->disks[j]->disk_id;

			if (id_is(id, spec, len)) {
				*out = n->disks[j];
				return 0;
			}
			if (id.len > len && memcmp(id.data, spec, len) == 0) {
				*out = n->disks[j];
				found++;
			}
		}
	}
	return found == 1 ? 0 : found ? -ENOTUNIQ : -ENOENT;
}

static int find_disk(struct wfs_ctl *ctl, const char *spec,
		     const Wormfs__DiskStatus **out)
{
	const Wormfs__StatusReply *st;
	int rc;

	if (!spec[0])
		return -ENOENT;
	rc = wfs_ctl_status(ctl, &st);
	if (rc)
		return wfs_ctl_fail(rc, "disk: status from %s",
				    ctl->args->nodes);
	rc = strchr(spec, ':') ? find_by_path(st, spec, out)
			       : find_by_id(st, spec, out);
	if (rc == -ENOTUNIQ)
		fprintf(stderr, "wormctl: disk %s: more than one disk's id "
			"starts so; give more of it\n", spec);
	else if (rc)
		fprintf(stderr, "wormctl: disk %s: no such disk (a disk id "
			"or NODE:PATH, as `wormctl status` shows them)\n",
			spec);
	return rc ? WFS_CTL_FAILED : 0;
}

/* The refusals of DiskDrain, said for people. */
static int drain_fail(int rc, const char *spec, bool undrain)
{
	switch (rc) {
	case -EALREADY:
		return wfs_ctl_fail(rc, "disk %s is %s", spec,
				    undrain ? "not draining"
					    : "already draining");
	case -ENODEV:
		return wfs_ctl_fail(rc, "disk %s is offline: its chunks "
				    "cannot be read, so they cannot be moved; "
				    "bring it back, or let repair rebuild "
				    "them", spec);
	case -EHOSTDOWN:
		return wfs_ctl_fail(rc, "disk %s: its node is down; start it, "
				    "then drain the disk", spec);
	case -ENOENT:
		return wfs_ctl_fail(rc, "disk %s: the master knows no such "
				    "disk", spec);
	default:
		return wfs_ctl_fail(rc, "disk %s %s", undrain ? "undrain"
							     : "drain", spec);
	}
}

static int drain(struct wfs_ctl *ctl, const char *spec, bool undrain)
{
	Wormfs__DiskDrainRequest req = WORMFS__DISK_DRAIN_REQUEST__INIT;
	const Wormfs__DiskDrainReply *rep;
	const Wormfs__DiskStatus *disk = NULL;
	ProtobufCMessage *resp = NULL;
	int rc;

	rc = find_disk(ctl, spec, &disk);
	if (rc)
		return rc;
	if (!disk || disk->disk_id.len == 0 ||
	    disk->disk_id.len > DISK_ID_MAX)
		return wfs_ctl_fail(-EINVAL, "disk %s", spec);
	req.disk_id = disk->disk_id;
	req.undrain = undrain;
	rc = wfs_client_call(ctl->client, "/wormfs.Admin/DiskDrain",
			     &req.base, &wormfs__disk_drain_reply__descriptor,
			     &resp);
	if (rc)
		return drain_fail(rc, spec, undrain);
	rep = (const Wormfs__DiskDrainReply *)resp;
	wfs_ctl_out_str(ctl->out, "result", undrain ? "undrained"
						    : "draining");
	wfs_ctl_out_id(ctl->out, "disk_id", rep->disk_id.data,
		       rep->disk_id.len);
	wfs_ctl_out_id(ctl->out, "node_id", rep->node_id.data,
		       rep->node_id.len);
	wfs_ctl_out_str(ctl->out, "path", rep->path);
	wfs_ctl_out_str(ctl->out, "state", rep->state);
	wfs_ctl_out_field(ctl->out, "draining", rep->draining ? "yes" : "no",
			  json_boolean(rep->draining));
	wfs_ctl_out_u64(ctl->out, undrain ? "chunks" : "chunks_to_move",
			rep->chunks);
	/* Those recorded there but missing: nothing to move, repair
	 * rebuilds them. */
	wfs_ctl_out_u64(ctl->out, "chunks_missing", rep->chunks_missing);
	wfs_ctl_out_field(ctl->out, "chunks_more",
			  rep->chunks_more ? "yes (the counts stop at a "
					     "million)" : NULL,
			  json_boolean(rep->chunks_more));
	wfs_client_msg_free(resp);
	return WFS_CTL_OK;
}

int wfs_ctl_cmd_disk(struct wfs_ctl *ctl)
{
	const char *sub = ctl->args->args[0], *arg = ctl->args->args[1];

	if (strcmp(sub, "drain") == 0)
		return drain(ctl, arg, false);
	if (strcmp(sub, "undrain") == 0)
		return drain(ctl, arg, true);
	fprintf(stderr, "wormctl: disk: unknown subcommand %s (drain or "
		"undrain)\n", sub);
	return WFS_CTL_USAGE;
}
