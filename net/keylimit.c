/* keylimit: at most one log line per refused key per interval (see
 * keylimit_internal.h).
 *
 * Not for: the clock (the caller's), or what the line says (link.c).
 */
#include "net/keylimit_internal.h"

#include <string.h>

/* The slot of @pk, or NULL. */
static struct wfs_keylimit_slot *find(struct wfs_keylimit *kl,
				      const uint8_t *pk)
{
	for (unsigned i = 0; i < WFS_KEYLIMIT_KEYS; i++) {
		struct wfs_keylimit_slot *s = &kl->slots[i];

		if (s->used && memcmp(s->pk, pk, sizeof(s->pk)) == 0)
			return s;
	}
	return NULL;
}

/* A free slot, else the one whose key was refused longest ago. */
static struct wfs_keylimit_slot *victim(struct wfs_keylimit *kl)
{
	struct wfs_keylimit_slot *best = &kl->slots[0];

	for (unsigned i = 0; i < WFS_KEYLIMIT_KEYS; i++) {
		struct wfs_keylimit_slot *s = &kl->slots[i];

		if (!s->used)
			return s;
		if (s->seen_ms < best->seen_ms)
			best = s;
	}
	return best;
}

bool wfs_keylimit_pass(struct wfs_keylimit *kl, const uint8_t *pk,
		       uint64_t now_ms, unsigned long *suppressed)
{
	struct wfs_keylimit_slot *s = find(kl, pk);

	if (!s) {
		s = victim(kl);
		memcpy(s->pk, pk, sizeof(s->pk));
		s->used = true;
		s->seen_ms = now_ms;
		s->logged_ms = now_ms;
		s->suppressed = 0;
		*suppressed = 0;
		return true;
	}
	s->seen_ms = now_ms;
	if (now_ms - s->logged_ms < WFS_KEYLIMIT_EVERY_MS) {
		s->suppressed++;
		return false;
	}
	*suppressed = s->suppressed;
	s->suppressed = 0;
	s->logged_ms = now_ms;
	return true;
}
