/* swim: the SWIM membership protocol core (see swim.h for the protocol and
 * its timings).  No I/O and no clock here: packets in, packets out through
 * ops.send, time as an argument.
 *
 * Wire form, format version 1.  A packet is exactly one msgpack array,
 * nothing before or after it:
 *
 *   [version, type, field..., news]
 *
 *   version  u32, 1.  The array and this first element are the one part no
 *            future version may change.
 *   type     u32: ping 1, ack 2, ping-req 3, push-pull 4, gossip 5.
 *   field... exactly these per type:
 *            ping       seq u32, target bytes(32)
 *            ack        seq u32
 *            ping-req   seq u32, target bytes(32), target_addr addr
 *            push-pull  reply u32 (0: a push, answer with your table;
 *                       1: the answer)
 *            gossip     (none)
 *   news     array of entries: piggybacked news (ping, ack, ping-req,
 *            gossip) or the sender's table (push-pull; the sender first).
 *   entry    array of 5: [id bytes(32), incarnation u64 (1..2^64-2),
 *            state u32 (alive 1, suspect 2, dead 3, left 4), addr,
 *            meta bytes(0..1024, empty unless state is alive)]
 *   addr     bytes(1..63) holding "ip:port" without NUL bytes.
 *
 * seq is the sender's: an ack carries the seq of the ping it answers; a
 * member asked by ping-req pings the target with a seq of its own and relays
 * the target's ack with the asker's seq.  A ping whose target is not the
 * receiver is dropped (the node at that address changed).
 *
 * Elements use msgpack's own formats (multi-byte numbers big-endian):
 * u32/u64 any unsigned form (positive fixint 00-7f, cc, cd, ce, cf) whose
 * value fits; bytes bin8 c4, bin16 c5 or bin32 c6; arrays fixarray 90-9f,
 * array16 dc or array32 dd.  Nothing else (nil, bool, str, map, signed
 * forms, ext) appears, and arrays have exactly the counts above.  Example,
 * a ping with seq 7 and no news (39 bytes):
 *
 *   95 01 01 07 c4 20 <32 bytes of target id> 90
 *
 * Version rule: the version goes up with any change an older decoder would
 * misread or refuse.  Decoding is strict: a packet of another version, or
 * that breaks any rule above, is dropped whole and counted, and nothing of
 * it is applied.  The reader is a small one of exactly these formats rather
 * than msgpack-c's unpacker, which allocates room for an array's elements
 * from its header alone (five hostile bytes would ask for gigabytes);
 * here nothing is allocated and every count is checked against the bytes
 * left.  Encoding uses msgpack-c's packer into the core's packet buffer.
 */
#include "gossip/swim.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <msgpack/pack.h>

#include "log/log.h"
#include "mem/mem.h"
#include "net/mpread.h"

#define FORMAT_VERSION 1
#define SUBSYS "gossip"

enum msg_type {
	MSG_PING = 1,
	MSG_ACK,
	MSG_PING_REQ,
	MSG_PUSHPULL,
	MSG_GOSSIP,
	MSG_TYPES,		/* one past the last */
};

/* The fields between type and news, per type. */
enum field {
	F_END = 0,
	F_SEQ,
	F_TARGET,
	F_ADDR,
	F_REPLY,
};

#define FIELDS_MAX 3
static const unsigned char layouts[MSG_TYPES][FIELDS_MAX + 1] = {
	[MSG_PING] = { F_SEQ, F_TARGET },
	[MSG_ACK] = { F_SEQ },
	[MSG_PING_REQ] = { F_SEQ, F_TARGET, F_ADDR },
	[MSG_PUSHPULL] = { F_REPLY },
	[MSG_GOSSIP] = { F_END },
};

#define ENTRY_FIELDS 5
/* Widest encoding of an entry without its addr and meta bytes: array 1,
 * id 2+32, incarnation 9, state 1, addr header 2, meta header 3. */
#define ENTRY_OVERHEAD 50
/* Widest encoding of everything before the first entry (a ping-req): array
 * 1, version 1, type 1, seq 5, target 34, addr 2+63, news header 5. */
#define HEAD_MAX 112

#define PIGGY_MAX 64		/* entries piggybacked on one packet */
#define PICK_MAX 8		/* indirect_probes and gossip_fanout cap */
#define RELAY_SLOTS 16		/* ping-reqs being relayed at once */

struct member {
	struct wfs_swim_member pub;	/* what callers see */
	uint64_t suspect_until;		/* SUSPECT: when it becomes DEAD */
	uint64_t forget_at;		/* DEAD, LEFT: when it is removed */
	unsigned bcast_left;		/* sends of its record still due */
	uint64_t picked;		/* == s->gen: chosen for this packet */
};

/* The probe of this period. */
struct probe {
	bool active;			/* sent, no ack yet, period not over */
	bool indirect;			/* ping-reqs sent */
	uint32_t seq;
	uint64_t start;
	unsigned char target[WFS_SWIM_ID_LEN];
};

/* A ping-req we are carrying out for another member. */
struct relay {
	bool used;
	uint32_t seq;			/* our ping's seq */
	uint32_t origin_seq;		/* the asker's probe seq */
	uint64_t expires;
	unsigned char origin_id[WFS_SWIM_ID_LEN];
	char origin_addr[WFS_SWIM_ADDR_MAX];
};

struct wfs_swim {
	struct wfs_swim_params p;
	struct wfs_swim_ops ops;
	void *arg;
	struct member self;		/* never in members[] */
	struct member **members;	/* every other node we know of */
	size_t nmembers, cap;
	char (*seeds)[WFS_SWIM_ADDR_MAX];
	size_t nseeds;
	/* Probe order: ids, so a removed member cannot dangle. */
	unsigned char (*order)[WFS_SWIM_ID_LEN];
	size_t norder, order_pos, order_cap;
	struct probe probe;
	struct relay relays[RELAY_SLOTS];
	unsigned relay_next;
	uint64_t next_probe, next_gossip, next_pushpull, next_join;
	size_t pp_cursor;		/* where the next push-pull window starts */
	uint64_t rng;
	uint32_t seq;
	uint64_t gen;			/* packet counter for member.picked */
	bool leaving;
	struct wfs_swim_stats stats;
	unsigned char buf[WFS_SWIM_PACKET_MAX];	/* the packet being built */
};

/* A decoded message.  Byte fields point into the received buffer. */
struct msg {
	uint32_t type;
	uint32_t seq;
	uint32_t reply;
	const unsigned char *target;
	const unsigned char *addr;
	uint32_t addr_len;
	const unsigned char *news;	/* the first entry */
	const unsigned char *end;
	uint32_t nnews;
};

/* A decoded entry. */
struct entry {
	const unsigned char *id;
	uint64_t inc;
	enum wfs_swim_state state;
	const unsigned char *addr;
	uint32_t addr_len;
	const unsigned char *meta;
	uint32_t meta_len;
};

/* ---- small helpers ---- */

static uint64_t rnd(struct wfs_swim *s)
{
	uint64_t x = s->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	s->rng = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static uint64_t rnd_below(struct wfs_swim *s, uint64_t n)
{
	return n ? (rnd(s) >> 11) % n : 0;
}

void wfs_swim_id_name(const unsigned char *id, char out[WFS_SWIM_NAME_LEN])
{
	static const char hex[] = "0123456789abcdef";

	for (int i = 0; i < 6; i++) {
		out[2 * i] = hex[id[i] >> 4];
		out[2 * i + 1] = hex[id[i] & 15];
	}
	out[12] = '\0';
}

const char *wfs_swim_state_name(enum wfs_swim_state state)
{
	switch (state) {
	case WFS_SWIM_ALIVE:
		return "alive";
	case WFS_SWIM_SUSPECT:
		return "suspect";
	case WFS_SWIM_DEAD:
		return "dead";
	case WFS_SWIM_LEFT:
		return "left";
	default:
		return "none";
	}
}

/* Precedence of states at one incarnation (swim.h). */
static unsigned rank(enum wfs_swim_state st)
{
	return st == WFS_SWIM_LEFT ? 3 : st == WFS_SWIM_DEAD ? 2
		: st == WFS_SWIM_SUSPECT ? 1 : 0;
}

/* Whether news (@inc, @st) supersedes what we hold, (@cur_inc, @cur). */
static bool newer(uint64_t inc, enum wfs_swim_state st, uint64_t cur_inc,
		  enum wfs_swim_state cur)
{
	return inc > cur_inc || (inc == cur_inc && rank(st) > rank(cur));
}

static bool is_gone(enum wfs_swim_state st)
{
	return st == WFS_SWIM_DEAD || st == WFS_SWIM_LEFT;
}

static bool is_live(enum wfs_swim_state st)
{
	return st == WFS_SWIM_ALIVE || st == WFS_SWIM_SUSPECT;
}

#define MASK(st) (1u << (st))

static struct member *find(const struct wfs_swim *s, const unsigned char *id)
{
	for (size_t i = 0; i < s->nmembers; i++)
		if (memcmp(s->members[i]->pub.id, id, WFS_SWIM_ID_LEN) == 0)
			return s->members[i];
	return NULL;
}

static bool has_live_member(const struct wfs_swim *s)
{
	for (size_t i = 0; i < s->nmembers; i++)
		if (is_live(s->members[i]->pub.state))
			return true;
	return false;
}

/* Pick up to @k distinct random members whose state is in @mask, other
 * than @exclude (may be NULL), into @out.  Selection sampling (Knuth's
 * algorithm S): one pass, no allocation.  Returns how many. */
static size_t pick(struct wfs_swim *s, unsigned mask,
		   const unsigned char *exclude, struct member **out, size_t k)
{
	size_t total = 0, got = 0;

	for (size_t i = 0; i < s->nmembers; i++) {
		struct member *m = s->members[i];

		if ((mask & MASK(m->pub.state)) &&
		    (!exclude || memcmp(m->pub.id, exclude, WFS_SWIM_ID_LEN)))
			total++;
	}
	for (size_t i = 0; i < s->nmembers && got < k; i++) {
		struct member *m = s->members[i];

		if (!(mask & MASK(m->pub.state)) ||
		    (exclude && !memcmp(m->pub.id, exclude, WFS_SWIM_ID_LEN)))
			continue;
		if (rnd_below(s, total) < k - got)
			out[got++] = m;
		total--;
	}
	return got;
}

/* How many times a piece of news is sent: lambda * ceil(log2(n + 1)) for n
 * live nodes (SWIM section 4.1: enough for all to hear it w.h.p.). */
static unsigned retransmit_limit(const struct wfs_swim *s)
{
	unsigned n = 1, bits = 1;

	for (size_t i = 0; i < s->nmembers; i++)
		n += !is_gone(s->members[i]->pub.state);
	while ((1u << bits) < n + 1)
		bits++;
	return s->p.retransmit_mult * bits;
}

static void bcast(struct wfs_swim *s, struct member *m)
{
	m->bcast_left = retransmit_limit(s);
}

static bool news_pending(const struct wfs_swim *s)
{
	if (s->self.bcast_left)
		return true;
	for (size_t i = 0; i < s->nmembers; i++)
		if (s->members[i]->bcast_left)
			return true;
	return false;
}

/* Tell the owner, and the log, that @m went from @old to its state. */
static void notify(struct wfs_swim *s, struct member *m,
		   enum wfs_swim_state old)
{
	enum wfs_swim_state now = m->pub.state;
	const char *me = s->self.pub.name;

	if (now == WFS_SWIM_DEAD || now == WFS_SWIM_LEFT ||
	    (now == WFS_SWIM_ALIVE && (old == WFS_SWIM_NONE || is_gone(old))))
		wfs_log_info(SUBSYS, "node %s: member %s at %s is %s%s", me,
			     m->pub.name, m->pub.addr,
			     wfs_swim_state_name(now),
			     old == WFS_SWIM_NONE ? " (joined)"
			     : is_gone(old) ? " again" : "");
	else
		wfs_log_debug(SUBSYS, "node %s: member %s at %s: %s -> %s "
			      "(incarnation %llu)", me, m->pub.name,
			      m->pub.addr, wfs_swim_state_name(old),
			      wfs_swim_state_name(now),
			      (unsigned long long)m->pub.incarnation);
	if (s->ops.changed)
		s->ops.changed(s->arg, &m->pub, old, now);
}

/* ---- the member table ---- */

static struct member *add_member(struct wfs_swim *s, const unsigned char *id)
{
	struct member *m;

	if (s->nmembers == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 8;
		struct member **v = wfs_realloc(s->members, cap * sizeof(*v));

		if (!v)
			return NULL;
		s->members = v;
		s->cap = cap;
	}
	m = wfs_calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	memcpy(m->pub.id, id, WFS_SWIM_ID_LEN);
	wfs_swim_id_name(id, m->pub.name);
	s->members[s->nmembers++] = m;
	return m;
}

static void remove_member(struct wfs_swim *s, size_t i)
{
	struct member *m = s->members[i];
	enum wfs_swim_state old = m->pub.state;

	m->pub.state = WFS_SWIM_NONE;
	notify(s, m, old);
	s->members[i] = s->members[--s->nmembers];
	wfs_free(m);
	s->order_pos = s->norder;	/* rebuild the probe order */
}

/* Move @m into @st (from @old, already replaced), arming its timers. */
static void enter_state(struct wfs_swim *s, uint64_t now, struct member *m,
			enum wfs_swim_state old)
{
	if (m->pub.state == WFS_SWIM_SUSPECT && old != WFS_SWIM_SUSPECT)
		m->suspect_until = now + s->p.suspicion_ms;
	if (is_gone(m->pub.state) && !is_gone(old))
		m->forget_at = now + s->p.tombstone_ms;
}

/* ---- encoding ---- */

struct wbuf {
	unsigned char *data;
	size_t len, cap;
	bool overflow;
};

static int put(void *data, const char *buf, size_t len)
{
	struct wbuf *w = data;

	if (len > w->cap - w->len) {
		w->overflow = true;
		return -1;
	}
	if (len)
		memcpy(w->data + w->len, buf, len);
	w->len += len;
	return 0;
}

/* A packet being built into s->buf. */
struct out {
	struct wbuf w;
	msgpack_packer pk;
};

static size_t entry_size(const struct member *m)
{
	size_t meta = m->pub.state == WFS_SWIM_ALIVE ? m->pub.meta_len : 0;

	return ENTRY_OVERHEAD + strlen(m->pub.addr) + meta;
}

static void pack_bytes(msgpack_packer *pk, const void *p, size_t len)
{
	msgpack_pack_bin(pk, len);
	msgpack_pack_bin_body(pk, p, len);
}

static void pack_entry(msgpack_packer *pk, const struct member *m)
{
	bool alive = m->pub.state == WFS_SWIM_ALIVE;

	msgpack_pack_array(pk, ENTRY_FIELDS);
	pack_bytes(pk, m->pub.id, WFS_SWIM_ID_LEN);
	msgpack_pack_uint64(pk, m->pub.incarnation);
	msgpack_pack_uint32(pk, m->pub.state);
	pack_bytes(pk, m->pub.addr, strlen(m->pub.addr));
	pack_bytes(pk, m->pub.meta, alive ? m->pub.meta_len : 0);
}

/* Start a packet: the array, version, type and the type's fields from
 * @msg. */
static void out_begin(struct wfs_swim *s, struct out *o, const struct msg *msg)
{
	const unsigned char *lay = layouts[msg->type];
	unsigned n = 0;

	while (n < FIELDS_MAX && lay[n] != F_END)
		n++;
	o->w = (struct wbuf){ s->buf, 0, sizeof(s->buf), false };
	msgpack_packer_init(&o->pk, &o->w, put);
	msgpack_pack_array(&o->pk, 3 + n);
	msgpack_pack_uint32(&o->pk, FORMAT_VERSION);
	msgpack_pack_uint32(&o->pk, msg->type);
	for (unsigned i = 0; i < n; i++) {
		if (lay[i] == F_SEQ)
			msgpack_pack_uint32(&o->pk, msg->seq);
		else if (lay[i] == F_TARGET)
			pack_bytes(&o->pk, msg->target, WFS_SWIM_ID_LEN);
		else if (lay[i] == F_ADDR)
			pack_bytes(&o->pk, msg->addr, msg->addr_len);
		else
			msgpack_pack_uint32(&o->pk, msg->reply);
	}
}

static void out_send(struct wfs_swim *s, struct out *o,
		     const unsigned char *to_id, const char *addr)
{
	if (o->w.overflow) {
		/* The size estimates are wrong: a bug, not a network event. */
		wfs_log_error(SUBSYS, "node %s: packet to %s overflowed its "
			      "buffer; dropped", s->self.pub.name, addr);
		return;
	}
	s->stats.tx_packets++;
	s->ops.send(s->arg, to_id, addr, o->w.data, o->w.len);
}

/* The unpicked record with the most sends still due, or NULL. */
static struct member *freshest(struct wfs_swim *s)
{
	struct member *best = s->self.picked != s->gen && s->self.bcast_left
		? &s->self : NULL;

	for (size_t i = 0; i < s->nmembers; i++) {
		struct member *m = s->members[i];

		if (m->picked == s->gen || !m->bcast_left)
			continue;
		if (!best || m->bcast_left > best->bcast_left)
			best = m;
	}
	return best;
}

/* Choose the news for a packet to @to_id (NULL: a seed) with @budget bytes
 * left: first the recipient's own accusation if we hold one (so a live node
 * refutes at once), then the freshest news.  Counts the sends. */
static size_t choose_news(struct wfs_swim *s, const unsigned char *to_id,
			  size_t budget, struct member **out)
{
	struct member *m = to_id ? find(s, to_id) : NULL;
	size_t n = 0, used = 0;

	s->gen++;
	if (m && m->pub.state != WFS_SWIM_ALIVE) {
		m->picked = s->gen;
		out[n++] = m;
		used += entry_size(m);
	}
	while (n < PIGGY_MAX && (m = freshest(s))) {
		if (n && used + entry_size(m) > budget)
			break;
		m->picked = s->gen;
		out[n++] = m;
		used += entry_size(m);
	}
	for (size_t i = 0; i < n; i++)
		if (out[i]->bcast_left)
			out[i]->bcast_left--;
	return n;
}

/* Finish a packet with news for @to_id and send it.  @always: send even
 * with no news (a ping or an ack is worth sending bare; gossip is not). */
static void send_with_news(struct wfs_swim *s, struct out *o,
			   const unsigned char *to_id, const char *addr,
			   bool always)
{
	struct member *news[PIGGY_MAX];
	size_t budget = WFS_SWIM_MTU > o->w.len + 5
		? WFS_SWIM_MTU - o->w.len - 5 : 0;
	size_t n = choose_news(s, to_id, budget, news);

	if (!n && !always)
		return;
	msgpack_pack_array(&o->pk, n);
	for (size_t i = 0; i < n; i++)
		pack_entry(&o->pk, news[i]);
	out_send(s, o, to_id, addr);
}

static void send_ping(struct wfs_swim *s, const unsigned char *id,
		      const char *addr, uint32_t seq)
{
	struct msg msg = { .type = MSG_PING, .seq = seq, .target = id };
	struct out o;

	out_begin(s, &o, &msg);
	send_with_news(s, &o, id, addr, true);
}

static void send_ack(struct wfs_swim *s, const unsigned char *id,
		     const char *addr, uint32_t seq)
{
	struct msg msg = { .type = MSG_ACK, .seq = seq };
	struct out o;

	out_begin(s, &o, &msg);
	send_with_news(s, &o, id, addr, true);
}

static void send_ping_req(struct wfs_swim *s, const struct member *helper,
			  const struct member *target, uint32_t seq)
{
	struct msg msg = {
		.type = MSG_PING_REQ, .seq = seq, .target = target->pub.id,
		.addr = (const unsigned char *)target->pub.addr,
		.addr_len = strlen(target->pub.addr),
	};
	struct out o;

	out_begin(s, &o, &msg);
	send_with_news(s, &o, helper->pub.id, helper->pub.addr, true);
}

static void send_gossip(struct wfs_swim *s, const struct member *to)
{
	struct msg msg = { .type = MSG_GOSSIP };
	struct out o;

	out_begin(s, &o, &msg);
	send_with_news(s, &o, to->pub.id, to->pub.addr, false);
}

/* Send our table: ourselves first, then a window of members starting at
 * pp_cursor, as many as fit (all of them in clusters of a few dozen). */
static void send_pushpull(struct wfs_swim *s, const unsigned char *to_id,
			  const char *addr, uint32_t reply)
{
	struct msg msg = { .type = MSG_PUSHPULL, .reply = reply };
	size_t n = 0, used = entry_size(&s->self) + HEAD_MAX;
	size_t start = s->nmembers ? s->pp_cursor % s->nmembers : 0;
	struct out o;

	while (n < s->nmembers) {
		const struct member *m = s->members[(start + n) % s->nmembers];

		if (used + entry_size(m) > WFS_SWIM_PACKET_MAX)
			break;
		used += entry_size(m);
		n++;
	}
	s->pp_cursor = start + n;
	out_begin(s, &o, &msg);
	msgpack_pack_array(&o.pk, n + 1);
	pack_entry(&o.pk, &s->self);
	for (size_t i = 0; i < n; i++)
		pack_entry(&o.pk, s->members[(start + i) % s->nmembers]);
	out_send(s, &o, to_id, addr);
}

/* ---- decoding ---- */

static int rd_addr(struct wfs_mpread *r, const unsigned char **addr,
		   uint32_t *len)
{
	if (wfs_mpread_bin(r, 1, WFS_SWIM_ADDR_MAX - 1, addr, len) < 0 ||
	    memchr(*addr, '\0', *len))
		return -EPROTO;
	return 0;
}

static int rd_entry(struct wfs_mpread *r, struct entry *e)
{
	uint32_t n, len;
	uint64_t st;

	if (wfs_mpread_array(r, &n) < 0 || n != ENTRY_FIELDS ||
	    wfs_mpread_bin(r, WFS_SWIM_ID_LEN, WFS_SWIM_ID_LEN, &e->id, &len) < 0 ||
	    wfs_mpread_uint(r, UINT64_MAX - 1, &e->inc) < 0 || e->inc == 0 ||
	    wfs_mpread_uint(r, WFS_SWIM_LEFT, &st) < 0 || st == WFS_SWIM_NONE ||
	    rd_addr(r, &e->addr, &e->addr_len) < 0 ||
	    wfs_mpread_bin(r, 0, WFS_SWIM_META_MAX, &e->meta, &e->meta_len) < 0)
		return -EPROTO;
	e->state = (enum wfs_swim_state)st;
	if (e->state != WFS_SWIM_ALIVE && e->meta_len)
		return -EPROTO;
	return 0;
}

static int rd_field(struct wfs_mpread *r, unsigned char field, struct msg *m)
{
	uint64_t v;
	uint32_t len;

	switch (field) {
	case F_SEQ:
		if (wfs_mpread_uint(r, UINT32_MAX, &v) < 0)
			return -EPROTO;
		m->seq = (uint32_t)v;
		return 0;
	case F_TARGET:
		return wfs_mpread_bin(r, WFS_SWIM_ID_LEN, WFS_SWIM_ID_LEN, &m->target,
			      &len);
	case F_ADDR:
		return rd_addr(r, &m->addr, &m->addr_len);
	default:
		if (wfs_mpread_uint(r, 1, &v) < 0)
			return -EPROTO;
		m->reply = (uint32_t)v;
		return 0;
	}
}

/* Check the whole packet, entries included, and fill @m.  Returns 0 or
 * -EPROTO. */
static int parse(const void *buf, size_t len, struct msg *m)
{
	struct wfs_mpread r = { buf, (const unsigned char *)buf + len };
	uint64_t version, type;
	uint32_t n, nfields = 0;
	struct entry e;

	memset(m, 0, sizeof(*m));
	if (wfs_mpread_array(&r, &n) < 0 || wfs_mpread_uint(&r, UINT32_MAX, &version) < 0 ||
	    version != FORMAT_VERSION ||
	    wfs_mpread_uint(&r, MSG_TYPES - 1, &type) < 0 || type == 0)
		return -EPROTO;
	m->type = (uint32_t)type;
	while (nfields < FIELDS_MAX && layouts[type][nfields] != F_END)
		nfields++;
	if (n != 3 + nfields)
		return -EPROTO;
	for (uint32_t i = 0; i < nfields; i++)
		if (rd_field(&r, layouts[type][i], m) < 0)
			return -EPROTO;
	if (wfs_mpread_array(&r, &m->nnews) < 0)
		return -EPROTO;
	m->news = r.p;
	for (uint32_t i = 0; i < m->nnews; i++)
		if (rd_entry(&r, &e) < 0)
			return -EPROTO;
	m->end = r.p;
	return r.p == r.end ? 0 : -EPROTO;
}

/* ---- applying news ---- */

/* News about ourselves: anything that beats our own record is refuted by
 * going one incarnation above it (SWIM section 4.2). */
static void apply_self(struct wfs_swim *s, const struct entry *e)
{
	struct wfs_swim_member *me = &s->self.pub;

	if (!newer(e->inc, e->state, me->incarnation, me->state))
		return;
	wfs_log_debug(SUBSYS, "node %s: refuting %s at incarnation %llu",
		      me->name, wfs_swim_state_name(e->state),
		      (unsigned long long)e->inc);
	me->incarnation = e->inc + 1;
	me->meta_version = me->incarnation;
	s->stats.refutations++;
	bcast(s, &s->self);
}

/* Copy @e into @m as state @st; returns whether addr or meta changed. */
static bool set_record(struct member *m, const struct entry *e,
		       enum wfs_swim_state st)
{
	struct wfs_swim_member *p = &m->pub;
	bool changed = false;

	p->incarnation = e->inc;
	p->state = st;
	if (st != WFS_SWIM_ALIVE && p->addr[0])
		return false;	/* only a node's own ALIVE moves it */
	if (strlen(p->addr) != e->addr_len ||
	    memcmp(p->addr, e->addr, e->addr_len)) {
		memcpy(p->addr, e->addr, e->addr_len);
		p->addr[e->addr_len] = '\0';
		changed = true;
	}
	if (st != WFS_SWIM_ALIVE)
		return changed;
	if (p->meta_len != e->meta_len ||
	    memcmp(p->meta, e->meta, e->meta_len)) {
		memcpy(p->meta, e->meta, e->meta_len);
		p->meta_len = e->meta_len;
		changed = true;
	}
	p->meta_version = e->inc;
	return changed;
}

static void apply_entry(struct wfs_swim *s, uint64_t now,
			const struct entry *e, bool pushpull)
{
	enum wfs_swim_state st = e->state, old;
	struct member *m;
	bool changed;

	if (!memcmp(e->id, s->self.pub.id, WFS_SWIM_ID_LEN)) {
		apply_self(s, e);
		return;
	}
	m = find(s, e->id);
	if (!m) {
		if (is_gone(st))
			return;	/* no tombstones for strangers */
		m = add_member(s, e->id);
		if (!m) {
			s->stats.dropped_news++;
			return;
		}
		old = WFS_SWIM_NONE;
	} else {
		/* A table's DEAD may be one side of a partition judging the
		 * other: re-check it here rather than believe it. */
		if (pushpull && st == WFS_SWIM_DEAD && is_live(m->pub.state))
			st = WFS_SWIM_SUSPECT;
		if (!newer(e->inc, st, m->pub.incarnation, m->pub.state))
			return;
		old = m->pub.state;
	}
	changed = set_record(m, e, st);
	enter_state(s, now, m, old);
	bcast(s, m);
	if (old != st || changed)
		notify(s, m, old);
}

static void apply_news(struct wfs_swim *s, uint64_t now, const struct msg *m)
{
	struct wfs_mpread r = { m->news, m->end };
	struct entry e;

	for (uint32_t i = 0; i < m->nnews; i++) {
		if (rd_entry(&r, &e) < 0)
			return;	/* cannot happen: parse() checked it */
		apply_entry(s, now, &e, m->type == MSG_PUSHPULL);
	}
}

/* ---- message handlers ---- */

typedef void (*handler_fn)(struct wfs_swim *s, uint64_t now,
			   const unsigned char *from_id, const char *from_addr,
			   const struct msg *m);

static void on_ping(struct wfs_swim *s, uint64_t now,
		    const unsigned char *from_id, const char *from_addr,
		    const struct msg *m)
{
	(void)now;
	send_ack(s, from_id, from_addr, m->seq);
}

static void on_ack(struct wfs_swim *s, uint64_t now,
		   const unsigned char *from_id, const char *from_addr,
		   const struct msg *m)
{
	(void)from_id;
	(void)from_addr;
	if (s->probe.active && m->seq == s->probe.seq) {
		s->probe.active = false;
		return;
	}
	for (unsigned i = 0; i < RELAY_SLOTS; i++) {
		struct relay *r = &s->relays[i];

		if (!r->used || r->seq != m->seq)
			continue;
		r->used = false;
		if (now <= r->expires)
			send_ack(s, r->origin_id, r->origin_addr,
				 r->origin_seq);
		return;
	}
}

static void on_ping_req(struct wfs_swim *s, uint64_t now,
			const unsigned char *from_id, const char *from_addr,
			const struct msg *m)
{
	struct relay *r = &s->relays[s->relay_next++ % RELAY_SLOTS];
	char addr[WFS_SWIM_ADDR_MAX];

	if (s->leaving)
		return;
	r->used = true;
	r->seq = ++s->seq;
	r->origin_seq = m->seq;
	r->expires = now + s->p.period_ms;
	memcpy(r->origin_id, from_id, WFS_SWIM_ID_LEN);
	snprintf(r->origin_addr, sizeof(r->origin_addr), "%s", from_addr);
	memcpy(addr, m->addr, m->addr_len);
	addr[m->addr_len] = '\0';
	send_ping(s, m->target, addr, r->seq);
}

static void on_pushpull(struct wfs_swim *s, uint64_t now,
			const unsigned char *from_id, const char *from_addr,
			const struct msg *m)
{
	(void)now;
	if (!m->reply)
		send_pushpull(s, from_id, from_addr, 1);
}

static const handler_fn handlers[MSG_TYPES] = {
	[MSG_PING] = on_ping,
	[MSG_ACK] = on_ack,
	[MSG_PING_REQ] = on_ping_req,
	[MSG_PUSHPULL] = on_pushpull,
	[MSG_GOSSIP] = NULL,	/* news only: nothing to answer */
};

int wfs_swim_receive(struct wfs_swim *s, uint64_t now_ms,
		     const unsigned char *from_id, const char *from_addr,
		     const void *buf, size_t len)
{
	struct msg m;

	s->stats.rx_packets++;
	if (!from_addr || strnlen(from_addr, WFS_SWIM_ADDR_MAX) ==
	    WFS_SWIM_ADDR_MAX || parse(buf, len, &m) < 0) {
		s->stats.rx_malformed++;
		return -EPROTO;
	}
	if (!memcmp(from_id, s->self.pub.id, WFS_SWIM_ID_LEN) ||
	    (m.type == MSG_PING &&
	     memcmp(m.target, s->self.pub.id, WFS_SWIM_ID_LEN))) {
		s->stats.rx_misaddressed++;
		return -EXDEV;
	}
	apply_news(s, now_ms, &m);
	if (handlers[m.type])
		handlers[m.type](s, now_ms, from_id, from_addr, &m);
	return 0;
}

/* ---- timers ---- */

/* The next member to probe in randomized round-robin order (SWIM section
 * 4.3): a shuffled pass over the live members, reshuffled after each
 * pass.  NULL when there is nobody to probe. */
static struct member *next_target(struct wfs_swim *s)
{
	for (int pass = 0; pass < 2; pass++) {
		while (s->order_pos < s->norder) {
			struct member *m = find(s, s->order[s->order_pos++]);

			if (m && is_live(m->pub.state))
				return m;
		}
		if (s->nmembers > s->order_cap) {
			void *v = wfs_realloc(s->order,
					      s->nmembers * sizeof(*s->order));

			if (!v)
				return NULL;
			s->order = v;
			s->order_cap = s->nmembers;
		}
		s->norder = 0;
		for (size_t i = 0; i < s->nmembers; i++)
			if (is_live(s->members[i]->pub.state))
				memcpy(s->order[s->norder++],
				       s->members[i]->pub.id, WFS_SWIM_ID_LEN);
		for (size_t i = s->norder; i > 1; i--) {
			size_t j = rnd_below(s, i);
			unsigned char t[WFS_SWIM_ID_LEN];

			memcpy(t, s->order[i - 1], sizeof(t));
			memcpy(s->order[i - 1], s->order[j], sizeof(t));
			memcpy(s->order[j], t, sizeof(t));
		}
		s->order_pos = 0;
	}
	return NULL;
}

/* Our own probe failed: suspect the target and tell it straight away. */
static void suspect(struct wfs_swim *s, uint64_t now, struct member *m)
{
	s->stats.probes_failed++;
	if (m->pub.state != WFS_SWIM_ALIVE)
		return;
	m->pub.state = WFS_SWIM_SUSPECT;
	enter_state(s, now, m, WFS_SWIM_ALIVE);
	bcast(s, m);
	notify(s, m, WFS_SWIM_ALIVE);
	send_gossip(s, m);
}

static void probe_tick(struct wfs_swim *s, uint64_t now)
{
	struct probe *p = &s->probe;
	struct member *m;

	if (p->active && !p->indirect &&
	    now >= p->start + s->p.probe_timeout_ms) {
		struct member *helpers[PICK_MAX];
		size_t n;

		p->indirect = true;
		m = find(s, p->target);
		n = m ? pick(s, MASK(WFS_SWIM_ALIVE), p->target, helpers,
			     s->p.indirect_probes) : 0;
		for (size_t i = 0; i < n; i++)
			send_ping_req(s, helpers[i], m, p->seq);
	}
	if (p->active && now >= p->start + s->p.period_ms) {
		p->active = false;
		m = find(s, p->target);
		if (m)
			suspect(s, now, m);
	}
	if (now < s->next_probe)
		return;
	s->next_probe = now + s->p.period_ms;
	m = next_target(s);
	if (!m)
		return;
	*p = (struct probe){ .active = true, .seq = ++s->seq, .start = now };
	memcpy(p->target, m->pub.id, WFS_SWIM_ID_LEN);
	s->stats.probes++;
	send_ping(s, m->pub.id, m->pub.addr, p->seq);
}

/* Suspicion timeouts and tombstone expiry. */
static void expire(struct wfs_swim *s, uint64_t now)
{
	size_t i = 0;

	while (i < s->nmembers) {
		struct member *m = s->members[i];

		if (m->pub.state == WFS_SWIM_SUSPECT &&
		    now >= m->suspect_until) {
			m->pub.state = WFS_SWIM_DEAD;
			enter_state(s, now, m, WFS_SWIM_SUSPECT);
			bcast(s, m);
			notify(s, m, WFS_SWIM_SUSPECT);
		}
		if (is_gone(m->pub.state) && now >= m->forget_at) {
			remove_member(s, i);
			continue;
		}
		i++;
	}
}

static void gossip_tick(struct wfs_swim *s, uint64_t now)
{
	struct member *to[PICK_MAX];
	size_t n;

	if (now < s->next_gossip)
		return;
	s->next_gossip = now + s->p.gossip_ms;
	if (!news_pending(s))
		return;
	n = pick(s, MASK(WFS_SWIM_ALIVE) | MASK(WFS_SWIM_SUSPECT), NULL, to,
		 s->p.gossip_fanout);
	for (size_t i = 0; i < n; i++)
		send_gossip(s, to[i]);
}

/* Anti-entropy with a random member, the dead included: a dead one that
 * answers was only cut off, and this is how it is found again. */
static void pushpull_tick(struct wfs_swim *s, uint64_t now)
{
	struct member *to;

	if (now < s->next_pushpull)
		return;
	s->next_pushpull = now + s->p.pushpull_ms;
	if (pick(s, MASK(WFS_SWIM_ALIVE) | MASK(WFS_SWIM_SUSPECT) |
		 MASK(WFS_SWIM_DEAD), NULL, &to, 1))
		send_pushpull(s, to->pub.id, to->pub.addr, 0);
}

static void join_tick(struct wfs_swim *s, uint64_t now)
{
	if (!s->nseeds || now < s->next_join || has_live_member(s))
		return;
	s->next_join = now + s->p.join_retry_ms;
	for (size_t i = 0; i < s->nseeds; i++)
		send_pushpull(s, NULL, s->seeds[i], 0);
}

static uint64_t earliest(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static uint64_t next_due(const struct wfs_swim *s, uint64_t now)
{
	uint64_t t = s->next_gossip;

	if (!s->leaving) {
		t = earliest(t, earliest(s->next_probe, s->next_pushpull));
		if (s->nseeds && !has_live_member(s))
			t = earliest(t, s->next_join);
	}
	if (s->probe.active)
		t = earliest(t, s->probe.start + (s->probe.indirect
			     ? s->p.period_ms : s->p.probe_timeout_ms));
	for (size_t i = 0; i < s->nmembers; i++) {
		const struct member *m = s->members[i];

		if (m->pub.state == WFS_SWIM_SUSPECT)
			t = earliest(t, m->suspect_until);
		else if (is_gone(m->pub.state))
			t = earliest(t, m->forget_at);
	}
	return t > now ? t : now + 1;
}

uint64_t wfs_swim_tick(struct wfs_swim *s, uint64_t now_ms)
{
	expire(s, now_ms);
	if (!s->leaving) {
		probe_tick(s, now_ms);
		pushpull_tick(s, now_ms);
		join_tick(s, now_ms);
	}
	gossip_tick(s, now_ms);
	return next_due(s, now_ms);
}

/* ---- life cycle and queries ---- */

static unsigned dflt(unsigned v, unsigned d)
{
	return v ? v : d;
}

static int set_params(struct wfs_swim_params *p,
		      const struct wfs_swim_params *in)
{
	p->period_ms = dflt(in->period_ms, 200);
	p->probe_timeout_ms = dflt(in->probe_timeout_ms, 100);
	p->indirect_probes = dflt(in->indirect_probes, 3);
	p->suspicion_ms = dflt(in->suspicion_ms, 1000);
	p->gossip_ms = dflt(in->gossip_ms, 100);
	p->gossip_fanout = dflt(in->gossip_fanout, 3);
	p->retransmit_mult = dflt(in->retransmit_mult, 4);
	p->pushpull_ms = dflt(in->pushpull_ms, 2000);
	p->join_retry_ms = dflt(in->join_retry_ms, 500);
	p->tombstone_ms = dflt(in->tombstone_ms, 30000);
	if (p->probe_timeout_ms >= p->period_ms ||
	    p->indirect_probes > PICK_MAX || p->gossip_fanout > PICK_MAX)
		return -EINVAL;
	return 0;
}

static int check_addr(const char *addr)
{
	size_t len = addr ? strnlen(addr, WFS_SWIM_ADDR_MAX) : 0;

	return len == 0 || len == WFS_SWIM_ADDR_MAX ? -EINVAL : 0;
}

int wfs_swim_new(const struct wfs_swim_config *cfg, uint64_t now_ms,
		 struct wfs_swim **out)
{
	struct wfs_swim *s;
	struct wfs_swim_member *me;

	if (!cfg->id || !cfg->ops.send || check_addr(cfg->addr) < 0 ||
	    cfg->meta_len > WFS_SWIM_META_MAX ||
	    (cfg->meta_len && !cfg->meta))
		return -EINVAL;
	s = wfs_calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	if (set_params(&s->p, &cfg->params) < 0) {
		wfs_free(s);
		return -EINVAL;
	}
	s->ops = cfg->ops;
	s->arg = cfg->arg;
	me = &s->self.pub;
	memcpy(me->id, cfg->id, WFS_SWIM_ID_LEN);
	wfs_swim_id_name(me->id, me->name);
	snprintf(me->addr, sizeof(me->addr), "%s", cfg->addr);
	me->incarnation = cfg->incarnation ? cfg->incarnation : 1;
	me->state = WFS_SWIM_ALIVE;
	me->self = true;
	me->meta_version = me->incarnation;
	if (cfg->meta_len)
		memcpy(me->meta, cfg->meta, cfg->meta_len);
	me->meta_len = cfg->meta_len;
	memcpy(&s->rng, me->id, sizeof(s->rng));
	s->rng ^= cfg->seed;
	if (!s->rng)
		s->rng = 0x9E3779B97F4A7C15ULL;
	s->seq = (uint32_t)rnd(s);
	/* Spread the first probe and exchange over a period, so nodes started
	 * together do not move in step. */
	s->next_probe = now_ms + rnd_below(s, s->p.period_ms);
	s->next_gossip = now_ms + s->p.gossip_ms;
	s->next_pushpull = now_ms + s->p.pushpull_ms / 2 +
			   rnd_below(s, s->p.pushpull_ms);
	s->next_join = now_ms;
	bcast(s, &s->self);
	*out = s;
	return 0;
}

void wfs_swim_free(struct wfs_swim *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nmembers; i++)
		wfs_free(s->members[i]);
	wfs_free(s->members);
	wfs_free(s->seeds);
	wfs_free(s->order);
	wfs_free(s);
}

int wfs_swim_join(struct wfs_swim *s, const char *const *seeds,
		  size_t nseeds)
{
	char (*v)[WFS_SWIM_ADDR_MAX] = NULL;
	size_t n = 0;

	for (size_t i = 0; i < nseeds; i++)
		if (check_addr(seeds[i]) < 0)
			return -EINVAL;
	if (nseeds) {
		v = wfs_calloc(nseeds, sizeof(*v));
		if (!v)
			return -ENOMEM;
	}
	for (size_t i = 0; i < nseeds; i++)
		if (strcmp(seeds[i], s->self.pub.addr) != 0)
			snprintf(v[n++], sizeof(*v), "%s", seeds[i]);
	wfs_free(s->seeds);
	s->seeds = v;
	s->nseeds = n;
	return 0;
}

int wfs_swim_set_meta(struct wfs_swim *s, const void *meta, size_t len)
{
	struct wfs_swim_member *me = &s->self.pub;

	if (len > WFS_SWIM_META_MAX || (len && !meta))
		return -EINVAL;
	if (len)
		memcpy(me->meta, meta, len);
	me->meta_len = len;
	me->incarnation++;
	me->meta_version = me->incarnation;
	bcast(s, &s->self);
	return 0;
}

void wfs_swim_leave(struct wfs_swim *s)
{
	if (s->leaving)
		return;
	s->leaving = true;
	s->probe.active = false;
	s->self.pub.state = WFS_SWIM_LEFT;
	bcast(s, &s->self);
	wfs_log_info(SUBSYS, "node %s: leaving the cluster", s->self.pub.name);
}

bool wfs_swim_leave_done(const struct wfs_swim *s)
{
	return s->leaving && (!s->self.bcast_left || !has_live_member(s));
}

int wfs_swim_members(const struct wfs_swim *s, struct wfs_swim_member **out,
		     size_t *n)
{
	struct wfs_swim_member *v = wfs_calloc(s->nmembers + 1, sizeof(*v));

	if (!v)
		return -ENOMEM;
	v[0] = s->self.pub;
	for (size_t i = 0; i < s->nmembers; i++)
		v[i + 1] = s->members[i]->pub;
	*out = v;
	*n = s->nmembers + 1;
	return 0;
}

int wfs_swim_member(const struct wfs_swim *s, const unsigned char *id,
		    struct wfs_swim_member *out)
{
	const struct member *m = find(s, id);

	if (!memcmp(id, s->self.pub.id, WFS_SWIM_ID_LEN))
		m = &s->self;
	if (!m)
		return -ENOENT;
	*out = m->pub;
	return 0;
}

void wfs_swim_stats(const struct wfs_swim *s, struct wfs_swim_stats *out)
{
	*out = s->stats;
}
