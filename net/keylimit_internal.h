/* keylimit: which refusals of a peer key get a log line.  Internal to net/.
 *
 * A node refuses every link from a key it did not admit, and an intruder
 * (or a node not yet added) may retry in a loop: one warn line per
 * refusal would flood the log.  So each key gets at most one line per
 * WFS_KEYLIMIT_EVERY_MS, and its next line says how many refusals of it
 * went unlogged in between.  The table remembers the WFS_KEYLIMIT_KEYS
 * keys refused last; a key pushed out of it (the one refused longest ago)
 * is new again when it returns, and its unlogged count is lost.
 *
 * Pure bookkeeping: no clock (the caller passes the time, so tests need no
 * sleeps), no allocation, no locks (one thread at a time: link.c's net
 * thread).  Not for deciding whom to admit, only what to log.
 */
#ifndef WFS_NET_KEYLIMIT_INTERNAL_H
#define WFS_NET_KEYLIMIT_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "net/secchan.h"

/* Keys remembered: more than the distinct keys a cluster's strays would
 * use at once, and a lookup is a scan of a few hundred bytes. */
#define WFS_KEYLIMIT_KEYS 16
/* One line per key per minute: an operator still sees a key that keeps
 * trying, and a loop of retries costs one line a minute. */
#define WFS_KEYLIMIT_EVERY_MS 60000

/* One remembered key.  All fields are keylimit.c's. */
struct wfs_keylimit_slot {
	uint8_t pk[WFS_SECCHAN_PK_LEN];	/* the refused key */
	bool used;			/* the slot holds a key */
	uint64_t logged_ms;		/* when its last line was allowed */
	uint64_t seen_ms;		/* its last refusal (for eviction) */
	unsigned long suppressed;	/* refusals since, not logged */
};

/* The table, embedded by its owner; a zeroed struct is an empty table and
 * needs no release. */
struct wfs_keylimit {
	struct wfs_keylimit_slot slots[WFS_KEYLIMIT_KEYS];
};

/* A link from @pk (WFS_SECCHAN_PK_LEN bytes, borrowed) was refused at
 * @now_ms, on a clock in milliseconds that never goes back (the same one
 * for every call on @kl).  Returns true if this refusal gets a log line,
 * with *suppressed the refusals of @pk since its previous line that did
 * not get one (0 for a key new to the table); false if it is only counted
 * (*suppressed untouched). */
bool wfs_keylimit_pass(struct wfs_keylimit *kl, const uint8_t *pk,
		       uint64_t now_ms, unsigned long *suppressed);

#endif
