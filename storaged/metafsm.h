/* storaged/metafsm: the metadata store as the raft log's state machine.
 *
 * The raft log (gossip/raftlog.h) carries encoded metadata ops; this module
 * is what it hands them to: it decodes each committed entry, applies it to
 * the SQLite store (<data_dir>/meta.db) with wfs_meta_apply, groups the
 * applies of one raft batch into one transaction, and makes and restores
 * snapshots.
 *
 * Snapshots: libraft keeps snapshots in memory, and the metadata must
 * outgrow memory (DESIGN.md), so a snapshot is a consistent copy of the
 * store (wfs_meta_backup) in <data_dir>/snapshots/, and what raft keeps is
 * only a small descriptor naming it (index, file name, size, CRC-32C;
 * layout in metafsm.c).  The newest few copies are kept.  Restoring checks
 * the copy against its descriptor, and swaps it in for meta.db unless the
 * store already holds everything the copy does (at start, raft restores its
 * last snapshot, and the store, which survives restarts, is usually ahead:
 * then it is kept and raft's replay skips what it already applied).  A
 * follower fetching a leader's copy over the node transport comes with the
 * cluster issue; today the copy must be local.
 *
 * Log entries: an op encoded by wfs_meta_op_encode (the raft log wrapper
 * pads entries to what libraft needs and strips the padding again).
 *
 * Threads: the raft callbacks run on the raft thread.  Other threads read
 * the store between wfs_metafsm_read_begin and _end, which keep a restore
 * from closing it under them.
 */
#ifndef WFS_STORAGED_METAFSM_H
#define WFS_STORAGED_METAFSM_H

#include <stddef.h>
#include <stdint.h>

#include "gossip/raftlog.h"
#include "metadata/meta.h"

#define WFS_METAFSM_DB "meta.db"
#define WFS_METAFSM_SNAPSHOTS "snapshots"
#define WFS_METAFSM_KEEP 3	/* snapshot copies kept */

/* What one applied entry produced; the raft log's per-entry result, handed
 * to the proposer's done callback. */
struct wfs_metafsm_result {
	struct wfs_meta_result meta;	/* wfs_meta_apply's result; status
					 * -EPROTO when the entry was not a
					 * valid op (then nothing changed) */
	uint64_t replaced_ino;		/* RENAME: the inode new_name led to
					 * before (with EXCHANGE: the one
					 * swapped back), 0 if none */
	uint32_t replaced_nlink;	/* its links after the rename */
};

struct wfs_metafsm;

/* Called on the raft thread when this node's role or the leader changes
 * (the raft log's state callback, passed on). */
typedef void (*wfs_metafsm_state_cb)(void *arg, enum wfs_raftlog_role role,
				     uint64_t leader_id);

/* Open the store at <@data_dir>/meta.db (created if absent) and make
 * <@data_dir>/snapshots/ if needed.  On success *out is the state machine;
 * release it with wfs_metafsm_close().  Returns 0, -ENOMEM, or the error
 * of wfs_meta_open() or mkdir.  Any thread. */
int wfs_metafsm_open(const char *data_dir, struct wfs_metafsm **out);

/* Close the store.  The raft log using it must be stopped.  NULL is a
 * no-op. */
void wfs_metafsm_close(struct wfs_metafsm *f);

/* Fill *@out with the callbacks to give wfs_raftlog_new() together with
 * @f as its fsm_arg.  @state (may be NULL) gets role changes with @arg. */
void wfs_metafsm_raft_fsm(struct wfs_metafsm *f, wfs_metafsm_state_cb state,
			  void *arg, struct wfs_raftlog_fsm *out);

/* Begin reading the store: returns it, valid until wfs_metafsm_read_end(),
 * or NULL if a failed restore left no store (the node has then left the
 * group).  Always pair with _end, also after NULL.  Must not be nested on
 * one thread.  Any thread. */
struct wfs_meta *wfs_metafsm_read_begin(struct wfs_metafsm *f);
void wfs_metafsm_read_end(struct wfs_metafsm *f);


/* Index of the last entry the store applied.  Any thread. */
uint64_t wfs_metafsm_applied(struct wfs_metafsm *f);

#endif
