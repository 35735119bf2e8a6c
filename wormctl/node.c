/* wormctl/node: the commands that change the cluster's membership.
 *
 *   node add KEY    admit the node whose public key is KEY (64 hex digits,
 *                   printed by `storaged --show-key` and in its log): it
 *                   may then join, as it does at every start.
 *   node remove ID  forget the node ID (as `wormctl status --json` shows
 *                   it): it leaves the raft group, its disks are dropped,
 *                   and its key is no longer admitted.
 *
 *   join-token [renew]  print the cluster's join token (made on first
 *                   use; renew replaces it): a node whose config has it
 *                   (cluster.join_token) admits itself when it joins.
 *
 * All go to the metadata master (any node relays them).
 */
#include "wormctl/ctl_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define KEY_BYTES 32

/* Parse @hex (2 * KEY_BYTES hex digits) into @key. */
static int parse_key(const char *hex, uint8_t key[KEY_BYTES])
{
	if (strlen(hex) != 2 * KEY_BYTES)
		return -EINVAL;
	for (int i = 0; i < KEY_BYTES; i++) {
		unsigned v;

		if (sscanf(hex + 2 * i, "%2x", &v) != 1 ||
		    !strchr("0123456789abcdefABCDEF", hex[2 * i]) ||
		    !strchr("0123456789abcdefABCDEF", hex[2 * i + 1]))
			return -EINVAL;
		key[i] = (uint8_t)v;
	}
	return 0;
}

static int node_add(struct wfs_ctl *ctl, const char *hex)
{
	Wormfs__NodeAddRequest req = WORMFS__NODE_ADD_REQUEST__INIT;
	Wormfs__NodeAddReply *rep;
	ProtobufCMessage *resp = NULL;
	uint8_t key[KEY_BYTES];
	char id[65];
	int rc;

	if (parse_key(hex, key) != 0) {
		fprintf(stderr, "wormctl: node add: %s is not a node key (64 "
			"hex digits, see `storaged --show-key`)\n", hex);
		return WFS_CTL_USAGE;
	}
	req.public_key.data = key;
	req.public_key.len = sizeof(key);
	rc = wfs_client_call(ctl->client, "/wormfs.Admin/NodeAdd", &req.base,
			     &wormfs__node_add_reply__descriptor, &resp);
	if (rc)
		return wfs_ctl_fail(rc, "node add");
	rep = (Wormfs__NodeAddReply *)resp;
	snprintf(id, sizeof(id), "%.*s", (int)rep->node_id.len,
		 (const char *)rep->node_id.data);
	wfs_client_msg_free(resp);
	wfs_ctl_out_str(ctl->out, "result", "admitted");
	wfs_ctl_out_str(ctl->out, "node_id", id);
	return WFS_CTL_OK;
}

static int node_remove(struct wfs_ctl *ctl, const char *id)
{
	Wormfs__NodeRemoveRequest req = WORMFS__NODE_REMOVE_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	int rc;

	req.node_id.data = (uint8_t *)id;
	req.node_id.len = strlen(id);
	rc = wfs_client_call(ctl->client, "/wormfs.Admin/NodeRemove",
			     &req.base, &wormfs__node_remove_reply__descriptor,
			     &resp);
	if (rc == -ENOENT)
		return wfs_ctl_fail(rc, "node remove %s: no such node", id);
	if (rc == -EBUSY)
		return wfs_ctl_fail(rc, "node remove %s: it is the master; "
				    "stop it, then remove it", id);
	if (rc)
		return wfs_ctl_fail(rc, "node remove %s", id);
	wfs_ctl_out_str(ctl->out, "result", "removed");
	wfs_ctl_out_str(ctl->out, "node_id", id);
	wfs_client_msg_free(resp);
	return WFS_CTL_OK;
}

int wfs_ctl_cmd_join_token(struct wfs_ctl *ctl)
{
	Wormfs__JoinTokenRequest req = WORMFS__JOIN_TOKEN_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	int rc;

	if (ctl->args->nargs == 1) {
		if (strcmp(ctl->args->args[0], "renew") != 0) {
			fprintf(stderr, "wormctl: join-token: unknown argument "
				"%s (renew or nothing)\n", ctl->args->args[0]);
			return WFS_CTL_USAGE;
		}
		req.renew = true;
	}
	rc = wfs_client_call(ctl->client, "/wormfs.Admin/JoinToken",
			     &req.base, &wormfs__join_token_reply__descriptor,
			     &resp);
	if (rc)
		return wfs_ctl_fail(rc, "join-token");
	wfs_ctl_out_str(ctl->out, "token",
			((Wormfs__JoinTokenReply *)resp)->token);
	wfs_client_msg_free(resp);
	return WFS_CTL_OK;
}

int wfs_ctl_cmd_node(struct wfs_ctl *ctl)
{
	const char *sub = ctl->args->args[0], *arg = ctl->args->args[1];

	if (strcmp(sub, "add") == 0)
		return node_add(ctl, arg);
	if (strcmp(sub, "remove") == 0)
		return node_remove(ctl, arg);
	fprintf(stderr, "wormctl: node: unknown subcommand %s (add or "
		"remove)\n", sub);
	return WFS_CTL_USAGE;
}
