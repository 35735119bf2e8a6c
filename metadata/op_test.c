/* Unit tests for op: the wire form of metadata ops.
 *
 * Round trips of every op type with small, extreme, empty and random values;
 * golden byte sequences that pin the documented wire form; the limits on
 * both sides; and a decoder that must answer 0 or -EPROTO, never crash or
 * leak, on every truncation, byte flip, mutation and random garbage (run
 * under SAN=1 to make "never crash" mean something).
 */
#include "metadata/op.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <msgpack.h>

#include "mem/mem.h"
#include "tests/unit.h"

/* How the builder picks values. */
enum mode {
	M_SMALL,	/* short names, small numbers */
	M_MAX,		/* every limit reached, every number at its maximum */
	M_EMPTY,	/* empty strings and arrays, zeros, INT64_MIN times */
	M_RANDOM,	/* random lengths and numbers of every msgpack width */
	M_COUNT
};

/* Random bytes that byte strings borrow from; holds NUL and '/' on
 * purpose: the codec carries any byte. */
static uint8_t pool[WFS_META_XATTR_VALUE_MAX + 1];
static uint64_t rng;

/* An op and the arrays it borrows. */
struct built {
	struct wfs_meta_op op;
	struct wfs_meta_chunk_loc chunks[WFS_META_CHUNKS_MAX];
	struct wfs_meta_gc_entry gc[WFS_META_GC_MAX];
};

static int suite_init(void)
{
	rng = wfs_test_seed() | 1;
	wfs_test_fill(&rng, pool, sizeof(pool));
	pool[0] = 0;
	pool[1] = '/';
	pool[2] = 0xff;
	return 0;
}

static uint64_t rnd(void)
{
	return wfs_test_rand(&rng);
}

/* A number whose msgpack width is random too. */
static uint64_t rnd_wide(void)
{
	return rnd() >> (rnd() % 64);
}

static uint32_t v32(enum mode m)
{
	switch (m) {
	case M_SMALL:
		return 1 + rnd() % 100;
	case M_MAX:
		return UINT32_MAX;
	case M_EMPTY:
		return 0;
	default:
		return (uint32_t)rnd_wide();
	}
}

static uint64_t v64(enum mode m)
{
	switch (m) {
	case M_SMALL:
		return 1 + rnd() % 1000;
	case M_MAX:
		return UINT64_MAX;
	case M_EMPTY:
		return 0;
	default:
		return rnd_wide();
	}
}

static int64_t vtime(enum mode m)
{
	int64_t t;

	switch (m) {
	case M_SMALL:
		return 1700000000123456789LL;
	case M_MAX:
		return INT64_MAX;
	case M_EMPTY:
		return INT64_MIN;
	default:
		t = (int64_t)(rnd() >> (1 + rnd() % 63));
		return rnd() & 1 ? -t - 1 : t;
	}
}

static struct wfs_meta_bytes vbytes(enum mode m, size_t max)
{
	struct wfs_meta_bytes b = { NULL, 0 };

	switch (m) {
	case M_SMALL:
		b.len = 1 + rnd() % (max < 16 ? max : 16);
		break;
	case M_MAX:
		b.len = max;
		break;
	case M_EMPTY:
		return b;
	default:
		b.len = rnd() % (max + 1);
		break;
	}
	b.data = pool + rnd() % (sizeof(pool) - b.len + 1);
	return b;
}

static uint32_t vcount(enum mode m, uint32_t max)
{
	switch (m) {
	case M_SMALL:
		return 3;
	case M_MAX:
		return max;
	case M_EMPTY:
		return 0;
	default:
		return rnd() % (max + 1);
	}
}

static struct wfs_meta_chunk_loc vloc(enum mode m)
{
	struct wfs_meta_chunk_loc loc;

	loc.index = v32(m);
	loc.state = v32(m);
	loc.node = vbytes(m, WFS_META_ID_MAX);
	loc.disk = vbytes(m, WFS_META_ID_MAX);
	return loc;
}

static void build_create(struct wfs_meta_op *op, enum mode m)
{
	op->u.create.parent = v64(m);
	op->u.create.name = vbytes(m, WFS_META_NAME_MAX);
	op->u.create.mode = v32(m);
	if (op->type == WFS_META_OP_MKNOD) {
		op->u.create.rdev = v64(m);
		op->u.create.ino = v64(m);
	}
	if (op->type == WFS_META_OP_SYMLINK)
		op->u.create.target = vbytes(m, WFS_META_SYMLINK_MAX);
}

static void build_stripe(struct built *b, enum mode m)
{
	struct wfs_meta_op *op = &b->op;

	op->u.stripe.ino = v64(m);
	op->u.stripe.sidx = v64(m);
	op->u.stripe.stripe_id = v64(m);
	op->u.stripe.expected_version = v64(m);
	op->u.stripe.kind = v32(m);
	op->u.stripe.k = v32(m);
	op->u.stripe.m = v32(m);
	op->u.stripe.chunk_size = v32(m);
	op->u.stripe.length = v32(m);
	op->u.stripe.file_size = v64(m);
	op->u.stripe.nchunks = vcount(m, WFS_META_CHUNKS_MAX);
	for (uint32_t i = 0; i < op->u.stripe.nchunks; i++)
		b->chunks[i] = vloc(m);
	op->u.stripe.chunks = op->u.stripe.nchunks ? b->chunks : NULL;
}

static void build_gc(struct built *b, enum mode m)
{
	b->op.u.gc.nentries = vcount(m, WFS_META_GC_MAX);
	for (uint32_t i = 0; i < b->op.u.gc.nentries; i++) {
		b->gc[i].stripe_id = v64(m);
		b->gc[i].index = v32(m);
		/* now and then the short form (formats before 7) */
		b->gc[i].any_place = m == M_RANDOM && rnd() % 4 == 0;
		b->gc[i].node = b->gc[i].any_place
					? (struct wfs_meta_bytes){ NULL, 0 }
					: vbytes(m, WFS_META_ID_MAX);
		b->gc[i].disk = b->gc[i].any_place
					? (struct wfs_meta_bytes){ NULL, 0 }
					: vbytes(m, WFS_META_ID_MAX);
	}
	b->op.u.gc.entries = b->op.u.gc.nentries ? b->gc : NULL;
}

static void build_misc(struct wfs_meta_op *op, enum mode m)
{
	switch (op->type) {
	case WFS_META_OP_FORMAT:
		op->u.format.root_mode = v32(m);
		op->u.format.k = v32(m);
		op->u.format.m = v32(m);
		op->u.format.chunk_size = v32(m);
		op->u.format.cluster_id = vbytes(m, WFS_META_ID_MAX);
		break;
	case WFS_META_OP_LINK:
		op->u.link.ino = v64(m);
		op->u.link.parent = v64(m);
		op->u.link.name = vbytes(m, WFS_META_NAME_MAX);
		break;
	case WFS_META_OP_UNLINK:
		op->u.remove.purge_ino = v64(m);
		/* fall through */
	case WFS_META_OP_RMDIR:
		op->u.remove.parent = v64(m);
		op->u.remove.name = vbytes(m, WFS_META_NAME_MAX);
		break;
	case WFS_META_OP_RENAME:
		op->u.rename.parent = v64(m);
		op->u.rename.new_parent = v64(m);
		op->u.rename.name = vbytes(m, WFS_META_NAME_MAX);
		op->u.rename.new_name = vbytes(m, WFS_META_NAME_MAX);
		op->u.rename.flags = v32(m);
		break;
	case WFS_META_OP_SETATTR:
		op->u.setattr.ino = v64(m);
		op->u.setattr.flags = v32(m);
		op->u.setattr.mode = v32(m);
		op->u.setattr.uid = v32(m);
		op->u.setattr.gid = v32(m);
		op->u.setattr.size = v64(m);
		op->u.setattr.atime_ns = vtime(m);
		op->u.setattr.mtime_ns = vtime(m);
		op->u.setattr.ctime_ns = vtime(m);
		break;
	case WFS_META_OP_SETXATTR:
		op->u.xattr.value = vbytes(m, WFS_META_XATTR_VALUE_MAX);
		op->u.xattr.flags = v32(m);
		/* fall through */
	case WFS_META_OP_REMOVEXATTR:
		op->u.xattr.ino = v64(m);
		op->u.xattr.name = vbytes(m, WFS_META_XATTR_NAME_MAX);
		break;
	case WFS_META_OP_PURGE:
		op->u.purge.ino = v64(m);
		break;
	case WFS_META_OP_RESERVE_IDS:
		op->u.reserve.count = v32(m);
		op->u.reserve.kind = v32(m);
		break;
	case WFS_META_OP_DIR_LEASE:
		op->u.lease.ino = v64(m);
		op->u.lease.session = v64(m);
		op->u.lease.grant = v32(m);
		break;
	case WFS_META_OP_CHUNK_SET:
		op->u.chunk.stripe_id = v64(m);
		op->u.chunk.loc = vloc(m);
		op->u.chunk.from_node = vbytes(m, WFS_META_ID_MAX);
		op->u.chunk.from_disk = vbytes(m, WFS_META_ID_MAX);
		break;
	case WFS_META_OP_POLICY_SET:
		op->u.policy.id = v32(m);
		op->u.policy.name = vbytes(m, WFS_META_NAME_MAX);
		op->u.policy.k = v32(m);
		op->u.policy.m = v32(m);
		op->u.policy.chunk_size = v32(m);
		break;
	case WFS_META_OP_DIR_POLICY:
		op->u.dir_policy.ino = v64(m);
		op->u.dir_policy.policy_id = v32(m);
		break;
	case WFS_META_OP_NODE_SET:
		op->u.node.name = vbytes(m, WFS_META_NAME_MAX);
		op->u.node.addr = vbytes(m, WFS_META_ADDR_MAX);
		op->u.node.role = v32(m);
		op->u.node.state = v32(m);
		/* fall through */
	case WFS_META_OP_NODE_REMOVE:
		op->u.node.id = vbytes(m, WFS_META_ID_MAX);
		break;
	case WFS_META_OP_DISK_SET:
		op->u.disk.id = vbytes(m, WFS_META_ID_MAX);
		op->u.disk.node_id = vbytes(m, WFS_META_ID_MAX);
		op->u.disk.path = vbytes(m, WFS_META_PATH_MAX);
		op->u.disk.capacity = v64(m);
		op->u.disk.free = v64(m);
		op->u.disk.state = v32(m);
		op->u.disk.keep_state = v32(m);
		break;
	case WFS_META_OP_DISK_DRAIN:
		op->u.drain.id = vbytes(m, WFS_META_ID_MAX);
		op->u.drain.draining = v32(m);
		break;
	case WFS_META_OP_SETTING_SET:
		op->u.setting.key = vbytes(m, WFS_META_ID_MAX);
		op->u.setting.value = vbytes(m, WFS_META_SETTING_MAX);
		break;
	}
}

/* Whether ops of @type carry the op's session (since format 8). */
static bool has_session(uint32_t type)
{
	switch (type) {
	case WFS_META_OP_MKNOD:
	case WFS_META_OP_MKDIR:
	case WFS_META_OP_SYMLINK:
	case WFS_META_OP_LINK:
	case WFS_META_OP_UNLINK:
	case WFS_META_OP_RMDIR:
	case WFS_META_OP_RENAME:
	case WFS_META_OP_SETATTR:
	case WFS_META_OP_SETXATTR:
	case WFS_META_OP_REMOVEXATTR:
		return true;
	}
	return false;
}

/* Fill @b with an op of @type whose values follow @m.  Fields the type does
 * not use stay zero, as decode leaves them. */
static void build(struct built *b, uint32_t type, enum mode m)
{
	struct wfs_meta_op *op = &b->op;

	memset(op, 0, sizeof(*op));
	op->type = type;
	op->time_ns = vtime(m);
	op->uid = v32(m);
	op->gid = v32(m);
	switch (type) {
	case WFS_META_OP_MKNOD:
	case WFS_META_OP_MKDIR:
	case WFS_META_OP_SYMLINK:
		build_create(op, m);
		break;
	case WFS_META_OP_STRIPE_COMMIT:
		build_stripe(b, m);
		break;
	case WFS_META_OP_GC_DONE:
		build_gc(b, m);
		break;
	default:
		build_misc(op, m);
		break;
	}
	if (has_session(type))
		op->session = v64(m);
}

/* Every byte string field of @op but the chunk locations; returns how
 * many. */
static int op_strings(struct wfs_meta_op *op, struct wfs_meta_bytes **s)
{
	switch (op->type) {
	case WFS_META_OP_FORMAT:
		s[0] = &op->u.format.cluster_id;
		return 1;
	case WFS_META_OP_MKNOD:
	case WFS_META_OP_MKDIR:
		s[0] = &op->u.create.name;
		return 1;
	case WFS_META_OP_SYMLINK:
		s[0] = &op->u.create.name;
		s[1] = &op->u.create.target;
		return 2;
	case WFS_META_OP_LINK:
		s[0] = &op->u.link.name;
		return 1;
	case WFS_META_OP_UNLINK:
	case WFS_META_OP_RMDIR:
		s[0] = &op->u.remove.name;
		return 1;
	case WFS_META_OP_RENAME:
		s[0] = &op->u.rename.name;
		s[1] = &op->u.rename.new_name;
		return 2;
	case WFS_META_OP_SETXATTR:
		s[1] = &op->u.xattr.value;
		s[0] = &op->u.xattr.name;
		return 2;
	case WFS_META_OP_REMOVEXATTR:
		s[0] = &op->u.xattr.name;
		return 1;
	case WFS_META_OP_CHUNK_SET:
		s[0] = &op->u.chunk.loc.node;
		s[1] = &op->u.chunk.loc.disk;
		s[2] = &op->u.chunk.from_node;
		s[3] = &op->u.chunk.from_disk;
		return 4;
	case WFS_META_OP_POLICY_SET:
		s[0] = &op->u.policy.name;
		return 1;
	case WFS_META_OP_NODE_SET:
		s[1] = &op->u.node.name;
		s[2] = &op->u.node.addr;
		s[0] = &op->u.node.id;
		return 3;
	case WFS_META_OP_NODE_REMOVE:
		s[0] = &op->u.node.id;
		return 1;
	case WFS_META_OP_DISK_SET:
		s[0] = &op->u.disk.id;
		s[1] = &op->u.disk.node_id;
		s[2] = &op->u.disk.path;
		return 3;
	case WFS_META_OP_SETTING_SET:
		s[0] = &op->u.setting.key;
		s[1] = &op->u.setting.value;
		return 2;
	case WFS_META_OP_DISK_DRAIN:
		s[0] = &op->u.drain.id;
		return 1;
	}
	return 0;
}

static bool bytes_same(const struct wfs_meta_bytes *a,
		       const struct wfs_meta_bytes *b)
{
	return a->len == b->len && (!a->len || !memcmp(a->data, b->data,
						       a->len));
}

static bool locs_same(const struct wfs_meta_chunk_loc *a,
		      const struct wfs_meta_chunk_loc *b)
{
	return a->index == b->index && a->state == b->state &&
	       bytes_same(&a->node, &b->node) && bytes_same(&a->disk, &b->disk);
}

static bool arrays_same(const struct wfs_meta_op *a,
			const struct wfs_meta_op *b)
{
	if (a->type == WFS_META_OP_STRIPE_COMMIT) {
		for (uint32_t i = 0; i < a->u.stripe.nchunks; i++)
			if (!locs_same(&a->u.stripe.chunks[i],
				       &b->u.stripe.chunks[i]))
				return false;
	}
	if (a->type == WFS_META_OP_GC_DONE) {
		for (uint32_t i = 0; i < a->u.gc.nentries; i++) {
			const struct wfs_meta_gc_entry *x = &a->u.gc.entries[i];
			const struct wfs_meta_gc_entry *y = &b->u.gc.entries[i];

			if (x->stripe_id != y->stripe_id ||
			    x->index != y->index ||
			    x->any_place != y->any_place ||
			    !bytes_same(&x->node, &y->node) ||
			    !bytes_same(&x->disk, &y->disk))
				return false;
		}
	}
	return true;
}

/* Same op: byte strings and arrays by content, everything else (unused
 * fields included, which must be zero in both) bit for bit. */
static bool ops_equal(const struct wfs_meta_op *x, const struct wfs_meta_op *y)
{
	struct wfs_meta_bytes *sa[4], *sb[4];
	struct wfs_meta_op a, b;
	bool same = true;
	int n;

	memcpy(&a, x, sizeof(a));
	memcpy(&b, y, sizeof(b));
	if (a.type != b.type)
		return false;
	same = bytes_same(&a.request, &b.request);
	a.request.data = b.request.data = NULL;
	n = op_strings(&a, sa);
	op_strings(&b, sb);
	for (int i = 0; i < n; i++) {
		same = same && bytes_same(sa[i], sb[i]);
		sa[i]->data = sb[i]->data = NULL;
	}
	if (a.type == WFS_META_OP_STRIPE_COMMIT) {
		same = same && a.u.stripe.nchunks == b.u.stripe.nchunks &&
		       arrays_same(&a, &b);
		a.u.stripe.chunks = b.u.stripe.chunks = NULL;
	}
	if (a.type == WFS_META_OP_GC_DONE) {
		same = same && a.u.gc.nentries == b.u.gc.nentries &&
		       arrays_same(&a, &b);
		a.u.gc.entries = b.u.gc.entries = NULL;
	}
	return same && memcmp(&a, &b, sizeof(a)) == 0;
}

static bool inside(const struct wfs_meta_bytes *s, const uint8_t *buf,
		   size_t len)
{
	const uint8_t *p = s->data;

	return p && p >= buf && s->len <= len && p - buf <= (ptrdiff_t)(len -
									s->len);
}

/* Every byte string of decoded @op points into @buf. */
static bool strings_inside(struct wfs_meta_op *op, const uint8_t *buf,
			   size_t len)
{
	struct wfs_meta_bytes *s[4];
	int n = op_strings(op, s);

	for (int i = 0; i < n; i++)
		if (!inside(s[i], buf, len))
			return false;
	if (op->type == WFS_META_OP_GC_DONE) {
		for (uint32_t i = 0; i < op->u.gc.nentries; i++)
			if (!inside(&op->u.gc.entries[i].node, buf, len) ||
			    !inside(&op->u.gc.entries[i].disk, buf, len))
				return false;
		return true;
	}
	if (op->type != WFS_META_OP_STRIPE_COMMIT)
		return true;
	for (uint32_t i = 0; i < op->u.stripe.nchunks; i++)
		if (!inside(&op->u.stripe.chunks[i].node, buf, len) ||
		    !inside(&op->u.stripe.chunks[i].disk, buf, len))
			return false;
	return true;
}

static bool is_zeroed(const struct wfs_meta_op *op)
{
	static const struct wfs_meta_op zero;

	return memcmp(op, &zero, sizeof(zero)) == 0;
}

/* Encode @op, decode it back, check it is the same op; returns the
 * encoding (caller frees) or NULL after reporting a failure. */
static uint8_t *round_trip(const struct wfs_meta_op *op, size_t *len)
{
	struct wfs_meta_op back;
	void *buf;
	int rc;

	rc = wfs_meta_op_encode(op, &buf, len);
	CU_ASSERT_EQUAL(rc, 0);
	if (rc < 0)
		return NULL;
	rc = wfs_meta_op_decode(buf, *len, &back);
	CU_ASSERT_EQUAL(rc, 0);
	if (rc == 0) {
		CU_ASSERT(ops_equal(op, &back));
		CU_ASSERT(strings_inside(&back, buf, *len));
	}
	wfs_meta_op_release(&back);
	CU_ASSERT(is_zeroed(&back));
	return buf;
}

static void test_names(void)
{
	CU_ASSERT_STRING_EQUAL(wfs_meta_op_name(WFS_META_OP_MKNOD), "mknod");
	CU_ASSERT_STRING_EQUAL(wfs_meta_op_name(WFS_META_OP_STRIPE_COMMIT),
			       "stripe_commit");
	CU_ASSERT_STRING_EQUAL(wfs_meta_op_name(WFS_META_OP_DISK_SET),
			       "disk_set");
	CU_ASSERT_STRING_EQUAL(wfs_meta_op_name(0), "unknown");
	CU_ASSERT_STRING_EQUAL(wfs_meta_op_name(WFS_META_OP_TYPE_COUNT),
			       "unknown");
	CU_ASSERT_STRING_EQUAL(wfs_meta_op_name(UINT32_MAX), "unknown");
	for (uint32_t t = 1; t < WFS_META_OP_TYPE_COUNT; t++) {
		CU_ASSERT_STRING_NOT_EQUAL(wfs_meta_op_name(t), "unknown");
		for (uint32_t u = 1; u < t; u++)
			CU_ASSERT_STRING_NOT_EQUAL(wfs_meta_op_name(t),
						   wfs_meta_op_name(u));
	}
}

static void test_round_trip_every_type(void)
{
	struct built *b = wfs_malloc(sizeof(*b));
	size_t len;

	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	for (uint32_t t = 1; t < WFS_META_OP_TYPE_COUNT; t++) {
		for (int m = 0; m < M_COUNT; m++) {
			int runs = m == M_RANDOM ? 50 : 1;

			for (int i = 0; i < runs; i++) {
				build(b, t, m);
				wfs_free(round_trip(&b->op, &len));
			}
		}
	}
	wfs_free(b);
}

/* An op built with fields its type does not use encodes as if they were
 * zero, and decodes with them zeroed. */
static void test_unused_fields_ignored(void)
{
	struct wfs_meta_op op, plain, back;
	void *a, *b;
	size_t alen, blen;

	memset(&plain, 0, sizeof(plain));
	plain.type = WFS_META_OP_MKDIR;
	plain.u.create.parent = 1;
	plain.u.create.name = (struct wfs_meta_bytes){ "d", 1 };
	plain.u.create.mode = 0755;
	op = plain;
	op.u.create.rdev = 77;
	op.u.create.target = (struct wfs_meta_bytes){ "junk", 4 };
	op.u.create.ino = 99;		/* MKNOD's only */
	CU_ASSERT_EQUAL_FATAL(wfs_meta_op_encode(&op, &a, &alen), 0);
	CU_ASSERT_EQUAL_FATAL(wfs_meta_op_encode(&plain, &b, &blen), 0);
	CU_ASSERT_EQUAL(alen, blen);
	CU_ASSERT(memcmp(a, b, alen) == 0);
	CU_ASSERT_EQUAL(wfs_meta_op_decode(a, alen, &back), 0);
	CU_ASSERT(ops_equal(&back, &plain));
	CU_ASSERT_EQUAL(back.u.create.rdev, 0);
	CU_ASSERT_EQUAL(back.u.create.target.len, 0);
	CU_ASSERT_EQUAL(back.u.create.ino, 0);
	wfs_meta_op_release(&back);
	wfs_free(a);
	wfs_free(b);

	/* The session of a type that does not carry one. */
	memset(&plain, 0, sizeof(plain));
	plain.type = WFS_META_OP_PURGE;
	plain.u.purge.ino = 5;
	op = plain;
	op.session = 1234;
	CU_ASSERT_EQUAL_FATAL(wfs_meta_op_encode(&op, &a, &alen), 0);
	CU_ASSERT_EQUAL_FATAL(wfs_meta_op_encode(&plain, &b, &blen), 0);
	CU_ASSERT(alen == blen && memcmp(a, b, alen) == 0);
	CU_ASSERT_EQUAL(wfs_meta_op_decode(a, alen, &back), 0);
	CU_ASSERT_EQUAL(back.session, 0);
	CU_ASSERT(ops_equal(&back, &plain));
	wfs_meta_op_release(&back);
	wfs_free(a);
	wfs_free(b);
}

/* The current format version, as the encoder writes it. */
#define CUR_VERSION 0x08

/* Where the version byte of an encoding sits: after a fixarray header, or
 * after an array16 one. */
static size_t version_at(const uint8_t *b)
{
	return b[0] == 0xdc ? 3 : 1;
}

/* A format 3 encoding @v3 (@len bytes) of an op without a request, as
 * format @version (4 or later) writes it: @extra more args, each 0 (one
 * byte: the args formats after 3 added, all zero in the golden ops), then
 * the empty request (c4 00), and the array header grown to match (fixarray
 * up to 15 elements, array16 past).  Into @out; returns its length. */
static size_t reshape(const uint8_t *v3, size_t len, uint8_t version,
		      unsigned extra, uint8_t *out)
{
	size_t at = version_at(v3), n;
	unsigned count = v3[0] == 0xdc ? (unsigned)(v3[1] << 8 | v3[2])
				       : v3[0] & 0x0fu;

	count += extra + 1;
	if (count <= 15) {
		out[0] = (uint8_t)(0x90 | count);
		n = 1;
	} else {
		out[0] = 0xdc;
		out[1] = (uint8_t)(count >> 8);
		out[2] = (uint8_t)count;
		n = 3;
	}
	out[n++] = version;
	memcpy(out + n, v3 + at + 1, len - at - 1);
	n += len - at - 1;
	memset(out + n, 0, extra);
	n += extra;
	out[n++] = 0xc4;
	out[n++] = 0x00;
	return n;
}

/* @op encodes to exactly @want (format 3) as format 8 writes it (reshape,
 * with @extra8 zero args: those format 8 added to the type), which decodes
 * to @op; so do the shapes of formats 4 to 7 (the request added) and @want
 * itself, and with the version byte of each older format from @oldest on,
 * in which the type had the same shape.  Each format 4 to 7 refuses format
 * 8's shape when it differs. */
static void check_golden(const struct wfs_meta_op *op, const uint8_t *want,
			 size_t want_len, uint8_t oldest, unsigned extra8)
{
	struct wfs_meta_op back;
	uint8_t old[64], cur[72], v4[70];
	size_t cur_len = reshape(want, want_len, CUR_VERSION, extra8, cur);
	void *buf;
	size_t len, v4_len;

	CU_ASSERT_EQUAL_FATAL(wfs_meta_op_encode(op, &buf, &len), 0);
	CU_ASSERT_EQUAL(len, cur_len);
	CU_ASSERT(len == cur_len && memcmp(buf, cur, len) == 0);
	wfs_free(buf);
	CU_ASSERT_EQUAL_FATAL(wfs_meta_op_decode(cur, cur_len, &back), 0);
	CU_ASSERT(ops_equal(op, &back));
	wfs_meta_op_release(&back);
	for (uint8_t v = 0x04; v < CUR_VERSION; v++) {
		v4_len = reshape(want, want_len, v, 0, v4);
		CU_ASSERT_EQUAL_FATAL(wfs_meta_op_decode(v4, v4_len, &back),
				      0);
		CU_ASSERT(ops_equal(op, &back));
		wfs_meta_op_release(&back);
		if (extra8 == 0)
			continue;
		cur[version_at(cur)] = v;
		CU_ASSERT_EQUAL(wfs_meta_op_decode(cur, cur_len, &back),
				-EPROTO);
		cur[version_at(cur)] = CUR_VERSION;
	}
	CU_ASSERT_EQUAL_FATAL(wfs_meta_op_decode(want, want_len, &back), 0);
	CU_ASSERT(ops_equal(op, &back));
	wfs_meta_op_release(&back);
	CU_ASSERT_FATAL(want_len <= sizeof(old) && want[1] == 0x03);
	memcpy(old, want, want_len);
	for (uint8_t v = oldest; v < 0x03; v++) {
		old[1] = v;
		CU_ASSERT_EQUAL_FATAL(wfs_meta_op_decode(old, want_len, &back),
				      0);
		CU_ASSERT(ops_equal(op, &back));
		wfs_meta_op_release(&back);
	}
}

/* @op encodes to exactly @want, an encoding of an older format whose shape
 * the type kept, with its version byte made the current one. */
static void check_same_shape(const struct wfs_meta_op *op,
			     const uint8_t *want, size_t want_len)
{
	uint8_t cur[64];
	void *buf;
	size_t len;

	CU_ASSERT_FATAL(want_len <= sizeof(cur));
	memcpy(cur, want, want_len);
	cur[version_at(cur)] = CUR_VERSION;
	CU_ASSERT_EQUAL_FATAL(wfs_meta_op_encode(op, &buf, &len), 0);
	CU_ASSERT(len == want_len && memcmp(buf, cur, len) == 0);
	wfs_free(buf);
}

/* Format 4's request element: carried, bounded, and only since format 4. */
static void test_request(void)
{
	static const uint8_t want[] = {
		0x97, 0x08, 0x0c, 0x00, 0x00, 0x00, 0x2a, 0xc4, 0x04,
		'c', ':', '4', '2' };
	struct wfs_meta_op op, back;
	char big[WFS_META_REQUEST_MAX + 1];
	void *buf;
	size_t len;
	uint8_t v3[sizeof(want)];

	memset(&op, 0, sizeof(op));
	op.type = WFS_META_OP_PURGE;
	op.u.purge.ino = 42;
	op.request = (struct wfs_meta_bytes){ "c:42", 4 };
	CU_ASSERT_EQUAL_FATAL(wfs_meta_op_encode(&op, &buf, &len), 0);
	CU_ASSERT(len == sizeof(want) && memcmp(buf, want, len) == 0);
	wfs_free(buf);
	CU_ASSERT_EQUAL_FATAL(wfs_meta_op_decode(want, sizeof(want), &back),
			      0);
	CU_ASSERT(ops_equal(&op, &back));
	wfs_meta_op_release(&back);
	/* Format 3 has no such element: the same bytes as format 3 are
	 * malformed. */
	memcpy(v3, want, sizeof(want));
	v3[1] = 0x03;
	CU_ASSERT_EQUAL(wfs_meta_op_decode(v3, sizeof(v3), &back), -EPROTO);
	memset(big, 'x', sizeof(big));
	op.request = (struct wfs_meta_bytes){ big, sizeof(big) };
	CU_ASSERT_EQUAL(wfs_meta_op_encode(&op, &buf, &len), -EINVAL);
}

/* stripe_commit gained expected_length in format 2: a format 1 op (without
 * it) still decodes, as "length not checked". */
static void test_stripe_commit_v1(void)
{
	static const uint8_t v1[] = {
		0xdc, 0x00, 0x10, 0x01, 0x0e, 0x00, 0x00, 0x00,
		0x02, 0x00, 0x07, 0x01, 0x02, 0x04, 0x02, 0xcd, 0x10, 0x00,
		0x64, 0x64, 0x90 };
	static const uint8_t v2[] = {
		0xdc, 0x00, 0x11, 0x02, 0x0e, 0x00, 0x00, 0x00,
		0x02, 0x00, 0x07, 0x01, 0x02, 0x04, 0x02, 0xcd, 0x10, 0x00,
		0x64, 0x64, 0x90, 0x64 };
	static const uint8_t v3[] = {
		0xdc, 0x00, 0x11, 0x03, 0x0e, 0x00, 0x00, 0x00,
		0x02, 0x00, 0x07, 0x01, 0x02, 0x04, 0x02, 0xcd, 0x10, 0x00,
		0x64, 0x64, 0x90, 0x64 };
	struct wfs_meta_op op, back;

	memset(&op, 0, sizeof(op));
	op.type = WFS_META_OP_STRIPE_COMMIT;
	op.u.stripe.ino = 2;
	op.u.stripe.stripe_id = 7;
	op.u.stripe.expected_version = 1;
	op.u.stripe.kind = 2;
	op.u.stripe.k = 4;
	op.u.stripe.m = 2;
	op.u.stripe.chunk_size = 4096;
	op.u.stripe.length = 100;
	op.u.stripe.file_size = 100;
	op.u.stripe.expected_length = 100;
	CU_ASSERT_EQUAL_FATAL(wfs_meta_op_decode(v1, sizeof(v1), &back), 0);
	CU_ASSERT_EQUAL(back.u.stripe.expected_length, WFS_META_LENGTH_ANY);
	back.u.stripe.expected_length = 100;
	CU_ASSERT(ops_equal(&op, &back));
	wfs_meta_op_release(&back);
	{
		void *buf;
		size_t len;

		uint8_t v4[sizeof(v3) + 2];
		size_t v4_len = reshape(v3, sizeof(v3), CUR_VERSION, 0, v4);

		CU_ASSERT_EQUAL_FATAL(wfs_meta_op_encode(&op, &buf, &len), 0);
		CU_ASSERT(len == v4_len && memcmp(buf, v4, len) == 0);
		wfs_free(buf);
		CU_ASSERT_EQUAL_FATAL(wfs_meta_op_decode(v2, sizeof(v2),
							 &back), 0);
		CU_ASSERT(ops_equal(&op, &back));
		wfs_meta_op_release(&back);
	}
	/* Format 1 with format 2's extra element, and format 2 without it,
	 * are both malformed. */
	{
		uint8_t bad[sizeof(v2)];

		memcpy(bad, v2, sizeof(v2));
		bad[3] = 0x01;
		CU_ASSERT_EQUAL(wfs_meta_op_decode(bad, sizeof(bad), &back),
				-EPROTO);
		memcpy(bad, v1, sizeof(v1));
		bad[1] = 0x02;
		CU_ASSERT_EQUAL(wfs_meta_op_decode(bad, sizeof(v1), &back),
				-EPROTO);
	}
}

/* unlink gained purge_ino in format 3: an older unlink (without it) still
 * decodes, as "never purge"; each format refuses the other's shape. */
static void test_unlink_v2(void)
{
	static const uint8_t v2[] = {
		0x97, 0x02, 0x06, 0x00, 0x00, 0x00, 0x05, 0xc4, 0x01, 'x' };
	static const uint8_t v3[] = {
		0x98, 0x03, 0x06, 0x00, 0x00, 0x00, 0x05, 0xc4, 0x01, 'x',
		0x09 };
	struct wfs_meta_op back;
	uint8_t bad[sizeof(v3)];

	CU_ASSERT_EQUAL_FATAL(wfs_meta_op_decode(v2, sizeof(v2), &back), 0);
	CU_ASSERT_EQUAL(back.type, WFS_META_OP_UNLINK);
	CU_ASSERT_EQUAL(back.u.remove.parent, 5);
	CU_ASSERT_EQUAL(back.u.remove.purge_ino, 0);
	wfs_meta_op_release(&back);
	memcpy(bad, v2, sizeof(v2));
	bad[1] = 0x01;
	CU_ASSERT_EQUAL_FATAL(wfs_meta_op_decode(bad, sizeof(v2), &back), 0);
	CU_ASSERT_EQUAL(back.u.remove.purge_ino, 0);
	wfs_meta_op_release(&back);
	CU_ASSERT_EQUAL_FATAL(wfs_meta_op_decode(v3, sizeof(v3), &back), 0);
	CU_ASSERT_EQUAL(back.u.remove.purge_ino, 9);
	wfs_meta_op_release(&back);
	/* Format 2 with format 3's extra element, and format 3 without it. */
	memcpy(bad, v3, sizeof(v3));
	bad[1] = 0x02;
	CU_ASSERT_EQUAL(wfs_meta_op_decode(bad, sizeof(v3), &back), -EPROTO);
	memcpy(bad, v2, sizeof(v2));
	bad[1] = 0x03;
	CU_ASSERT_EQUAL(wfs_meta_op_decode(bad, sizeof(v2), &back), -EPROTO);
	/* rmdir did not change: no purge_ino in any format. */
	memcpy(bad, v2, sizeof(v2));
	bad[1] = 0x03;
	bad[2] = WFS_META_OP_RMDIR;
	CU_ASSERT_EQUAL(wfs_meta_op_decode(bad, sizeof(v2), &back), 0);
	wfs_meta_op_release(&back);
}

/* The examples of op.c's top comment, byte for byte: the wire form must not
 * drift without a version change. */
static void test_golden(void)
{
	static const uint8_t purge[] = {
		0x96, 0x03, 0x0c, 0xcd, 0x03, 0xe8, 0x00, 0x00, 0x2a };
	static const uint8_t unlink[] = {
		0x98, 0x03, 0x06, 0xff, 0xcd, 0x03, 0xe8, 0x64, 0x01,
		0xc4, 0x03, 'a', '/', 0x00, 0x07 };
	static const uint8_t gc_done[] = {
		0x96, 0x03, 0x10, 0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0,
		0xce, 0xff, 0xff, 0xff, 0xff, 0x07, 0x91, 0x92, 0x05, 0x03 };
	static const uint8_t setattr[] = {
		0x9e, 0x03, 0x09, 0x05, 0x00, 0x00, 0x02, 0x28, 0x00, 0x00,
		0x00, 0xcd, 0x01, 0x2c, 0x00, 0xfe, 0x00 };
	/* Format 3's gc entry has no place: "any place", which format 7
	 * still writes in the same short form. */
	static const struct wfs_meta_gc_entry entry = { 5, 3, { NULL, 0 },
							{ NULL, 0 }, true };
	struct wfs_meta_op op;

	memset(&op, 0, sizeof(op));
	op.type = WFS_META_OP_PURGE;
	op.time_ns = 1000;
	op.u.purge.ino = 42;
	check_golden(&op, purge, sizeof(purge), 1, 0);

	memset(&op, 0, sizeof(op));
	op.type = WFS_META_OP_UNLINK;
	op.time_ns = -1;
	op.uid = 1000;
	op.gid = 100;
	op.u.remove.parent = WFS_META_ROOT_INO;
	op.u.remove.name = (struct wfs_meta_bytes){ "a/", 3 };
	op.u.remove.purge_ino = 7;
	check_golden(&op, unlink, sizeof(unlink), 3, 1);

	memset(&op, 0, sizeof(op));
	op.type = WFS_META_OP_GC_DONE;
	op.time_ns = INT64_MIN;
	op.uid = UINT32_MAX;
	op.gid = 7;
	op.u.gc.nentries = 1;
	op.u.gc.entries = &entry;
	check_golden(&op, gc_done, sizeof(gc_done), 1, 0);

	memset(&op, 0, sizeof(op));
	op.type = WFS_META_OP_SETATTR;
	op.time_ns = 5;
	op.u.setattr.ino = 2;
	op.u.setattr.flags = WFS_META_SET_SIZE | WFS_META_SET_MTIME;
	op.u.setattr.size = 300;
	op.u.setattr.mtime_ns = -2;
	check_golden(&op, setattr, sizeof(setattr), 1, 1);
}

/* chunk_set of formats 1 to 5 (one shape; the request element since 4)
 * still decodes byte for byte, as the plain set it was: format 6 gave it
 * from_node and from_disk, so the current encoding is no longer this. */
static void test_chunk_set_v3(void)
{
	static const uint8_t chunk_set[] = {
		0x97, 0x03, 0x0f, 0x00, 0x00, 0x00,
		0xcf, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
		0x94, 0x02, 0x01, 0xc4, 0x02, 'n', '1', 0xc4, 0x00 };
	uint8_t v[sizeof(chunk_set) + 2];
	struct wfs_meta_op op, back;

	memset(&op, 0, sizeof(op));
	op.type = WFS_META_OP_CHUNK_SET;
	op.u.chunk.stripe_id = 1ULL << 32;
	op.u.chunk.loc.index = 2;
	op.u.chunk.loc.state = WFS_META_CHUNK_MISSING;
	op.u.chunk.loc.node = (struct wfs_meta_bytes){ "n1", 2 };
	memcpy(v, chunk_set, sizeof(chunk_set));
	for (uint8_t ver = 0x01; ver <= 0x03; ver++) {
		v[1] = ver;
		CU_ASSERT_EQUAL_FATAL(wfs_meta_op_decode(v, sizeof(chunk_set),
							 &back), 0);
		CU_ASSERT(ops_equal(&op, &back));
		CU_ASSERT(strings_inside(&back, v, sizeof(chunk_set)));
		wfs_meta_op_release(&back);
	}
	/* 4 and 5: the same with an empty request at the end */
	v[0] = 0x98;
	v[sizeof(chunk_set)] = 0xc4;
	v[sizeof(chunk_set) + 1] = 0x00;
	for (uint8_t ver = 0x04; ver <= 0x05; ver++) {
		v[1] = ver;
		CU_ASSERT_EQUAL_FATAL(wfs_meta_op_decode(v, sizeof(v), &back),
				      0);
		CU_ASSERT(ops_equal(&op, &back));
		wfs_meta_op_release(&back);
	}
	/* 6 on need from_node and from_disk: this shape is malformed */
	for (uint8_t ver = 0x06; ver <= CUR_VERSION; ver++) {
		v[1] = ver;
		CU_ASSERT_EQUAL(wfs_meta_op_decode(v, sizeof(v), &back),
				-EPROTO);
	}
}

/* chunk_set gained from_node and from_disk (a move) and disk_set
 * keep_state in format 6: the older shapes still decode (a plain set, the
 * state as given), format 7 has the same shape, and each format refuses
 * the other's shape. */
static void test_format_6(void)
{
	static const uint8_t chunk_v5[] = {
		0x98, 0x05, 0x0f, 0x00, 0x00, 0x00,
		0xcf, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
		0x94, 0x02, 0x01, 0xc4, 0x02, 'n', '1', 0xc4, 0x00,
		0xc4, 0x00 };
	static const uint8_t chunk_v7[] = {
		0x9a, 0x07, 0x0f, 0x00, 0x00, 0x00,
		0xcf, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
		0x94, 0x00, 0x00, 0xc4, 0x02, 'n', '2', 0xc4, 0x02, 'd', '2',
		0xc4, 0x02, 'n', '1', 0xc4, 0x02, 'd', '1', 0xc4, 0x00 };
	static const uint8_t disk_v5[] = {
		0x9c, 0x05, 0x15, 0x00, 0x00, 0x00,
		0xc4, 0x01, 'd', 0xc4, 0x01, 'n', 0xc4, 0x01, '/',
		0x64, 0x0a, 0x01, 0xc4, 0x00 };
	static const uint8_t disk_v7[] = {
		0x9d, 0x07, 0x15, 0x00, 0x00, 0x00,
		0xc4, 0x01, 'd', 0xc4, 0x01, 'n', 0xc4, 0x01, '/',
		0x64, 0x0a, 0x00, 0x02, 0xc4, 0x00 };
	struct wfs_meta_op op, back;
	uint8_t bad[sizeof(chunk_v7)];

	/* A plain chunk_set of format 5: no move. */
	CU_ASSERT_EQUAL_FATAL(wfs_meta_op_decode(chunk_v5, sizeof(chunk_v5),
						 &back), 0);
	CU_ASSERT_EQUAL(back.u.chunk.stripe_id, 1ULL << 32);
	CU_ASSERT_EQUAL(back.u.chunk.loc.index, 2);
	CU_ASSERT_EQUAL(back.u.chunk.loc.state, WFS_META_CHUNK_MISSING);
	CU_ASSERT_EQUAL(back.u.chunk.from_node.len, 0);
	CU_ASSERT_EQUAL(back.u.chunk.from_disk.len, 0);
	wfs_meta_op_release(&back);

	/* A move, byte for byte; format 6 has the same shape. */
	memset(&op, 0, sizeof(op));
	op.type = WFS_META_OP_CHUNK_SET;
	op.u.chunk.stripe_id = 1ULL << 32;
	op.u.chunk.loc.node = (struct wfs_meta_bytes){ "n2", 2 };
	op.u.chunk.loc.disk = (struct wfs_meta_bytes){ "d2", 2 };
	op.u.chunk.from_node = (struct wfs_meta_bytes){ "n1", 2 };
	op.u.chunk.from_disk = (struct wfs_meta_bytes){ "d1", 2 };
	check_same_shape(&op, chunk_v7, sizeof(chunk_v7));
	memcpy(bad, chunk_v7, sizeof(chunk_v7));
	for (uint8_t v = 0x06; v <= CUR_VERSION; v++) {
		bad[1] = v;
		CU_ASSERT_EQUAL_FATAL(wfs_meta_op_decode(bad, sizeof(bad),
							 &back), 0);
		CU_ASSERT(ops_equal(&op, &back));
		wfs_meta_op_release(&back);
	}
	/* Format 5 with format 6's elements, format 6 without them. */
	bad[1] = 0x05;
	CU_ASSERT_EQUAL(wfs_meta_op_decode(bad, sizeof(chunk_v7), &back),
			-EPROTO);
	memcpy(bad, chunk_v5, sizeof(chunk_v5));
	bad[1] = 0x06;
	CU_ASSERT_EQUAL(wfs_meta_op_decode(bad, sizeof(chunk_v5), &back),
			-EPROTO);

	/* disk_set: keep_state 0 before format 6, carried since (and
	 * meaningless since 7). */
	CU_ASSERT_EQUAL_FATAL(wfs_meta_op_decode(disk_v5, sizeof(disk_v5),
						 &back), 0);
	CU_ASSERT_EQUAL(back.type, WFS_META_OP_DISK_SET);
	CU_ASSERT_EQUAL(back.u.disk.state, 1);
	CU_ASSERT_EQUAL(back.u.disk.keep_state, 0);
	wfs_meta_op_release(&back);
	memset(&op, 0, sizeof(op));
	op.type = WFS_META_OP_DISK_SET;
	op.u.disk.id = (struct wfs_meta_bytes){ "d", 1 };
	op.u.disk.node_id = (struct wfs_meta_bytes){ "n", 1 };
	op.u.disk.path = (struct wfs_meta_bytes){ "/", 1 };
	op.u.disk.capacity = 100;
	op.u.disk.free = 10;
	op.u.disk.keep_state = 2;
	check_same_shape(&op, disk_v7, sizeof(disk_v7));
	CU_ASSERT_EQUAL_FATAL(wfs_meta_op_decode(disk_v7, sizeof(disk_v7),
						 &back), 0);
	CU_ASSERT(ops_equal(&op, &back));
	wfs_meta_op_release(&back);
	memcpy(bad, disk_v7, sizeof(disk_v7));
	bad[1] = 0x05;
	CU_ASSERT_EQUAL(wfs_meta_op_decode(bad, sizeof(disk_v7), &back),
			-EPROTO);
}

/* Format 6 kept "draining" in disk_set's state: its ops decode as what
 * they meant in format 7 (op.c, disk_set_v6). */
static void test_disk_set_v6(void)
{
	/* [.., "d", "n", "/", 100, 10, state, keep_state, ""] */
	static const uint8_t v6[] = {
		0x9d, 0x06, 0x15, 0x00, 0x00, 0x00,
		0xc4, 0x01, 'd', 0xc4, 0x01, 'n', 0xc4, 0x01, '/',
		0x64, 0x0a, 0x00, 0x00, 0xc4, 0x00 };
	static const struct {
		uint8_t state, keep;
		uint32_t type, draining, new_state;
	} cases[] = {
		/* an operator's drain, and undrain (to online or offline) */
		{ 2, 0, WFS_META_OP_DISK_DRAIN, 1, 0 },
		{ 0, 0, WFS_META_OP_DISK_DRAIN, 0, 0 },
		{ 1, 0, WFS_META_OP_DISK_DRAIN, 0, 0 },
		/* a node's report: plain; its echo of "draining": online */
		{ 0, 2, WFS_META_OP_DISK_SET, 0, 0 },
		{ 1, 2, WFS_META_OP_DISK_SET, 0, 1 },
		{ 2, 2, WFS_META_OP_DISK_SET, 0, 0 },
	};
	uint8_t b[sizeof(v6)];
	struct wfs_meta_op back;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memcpy(b, v6, sizeof(v6));
		b[17] = cases[i].state;
		b[18] = cases[i].keep;
		CU_ASSERT_EQUAL_FATAL(wfs_meta_op_decode(b, sizeof(b), &back),
				      0);
		CU_ASSERT_EQUAL(back.type, cases[i].type);
		if (back.type == WFS_META_OP_DISK_DRAIN) {
			CU_ASSERT(back.u.drain.id.len == 1 &&
				  memcmp(back.u.drain.id.data, "d", 1) == 0);
			CU_ASSERT_EQUAL(back.u.drain.draining,
					cases[i].draining);
		} else {
			CU_ASSERT_EQUAL(back.u.disk.state, cases[i].new_state);
			CU_ASSERT_EQUAL(back.u.disk.free, 10);
		}
		wfs_meta_op_release(&back);
		/* format 5 knew no draining: state 2 stays as it was */
		b[0] = 0x9c;
		b[1] = 0x05;
		b[18] = 0xc4;
		b[19] = 0x00;
		CU_ASSERT_EQUAL_FATAL(wfs_meta_op_decode(b, sizeof(b) - 1,
							 &back), 0);
		CU_ASSERT_EQUAL(back.type, WFS_META_OP_DISK_SET);
		CU_ASSERT_EQUAL(back.u.disk.state, cases[i].state);
		wfs_meta_op_release(&back);
	}
}

/* Format 7: gc_done entries with their place (and the short form of
 * older formats, "any place"), the disk_drain type, byte for byte; each
 * refused in older formats. */
static void test_format_7(void)
{
	static const uint8_t gc_v7[] = {
		0x97, 0x07, 0x10, 0x00, 0x00, 0x00,
		0x92, 0x94, 0x05, 0x03, 0xc4, 0x02, 'n', '1', 0xc4, 0x02,
		'd', '1', 0x92, 0x06, 0x01, 0xc4, 0x00 };
	static const uint8_t drain_v7[] = {
		0x98, 0x07, 0x17, 0x00, 0x00, 0x00,
		0xc4, 0x02, 'd', '1', 0x01, 0xc4, 0x00 };
	struct wfs_meta_gc_entry entries[2] = {
		{ 5, 3, { "n1", 2 }, { "d1", 2 }, false },
		{ 6, 1, { NULL, 0 }, { NULL, 0 }, true },
	};
	char big[WFS_META_ID_MAX + 1];
	uint8_t bad[sizeof(gc_v7)];
	struct wfs_meta_op op, back;
	void *buf;
	size_t len;

	memset(&op, 0, sizeof(op));
	op.type = WFS_META_OP_GC_DONE;
	op.u.gc.nentries = 2;
	op.u.gc.entries = entries;
	check_same_shape(&op, gc_v7, sizeof(gc_v7));
	CU_ASSERT_EQUAL_FATAL(wfs_meta_op_decode(gc_v7, sizeof(gc_v7),
						 &back), 0);
	CU_ASSERT(ops_equal(&op, &back));
	CU_ASSERT(strings_inside(&back, gc_v7, sizeof(gc_v7)));
	wfs_meta_op_release(&back);
	/* the long form is format 7's only */
	memcpy(bad, gc_v7, sizeof(gc_v7));
	bad[1] = 0x06;
	CU_ASSERT_EQUAL(wfs_meta_op_decode(bad, sizeof(bad), &back), -EPROTO);
	/* a place too long */
	memset(big, 'x', sizeof(big));
	entries[0].disk = (struct wfs_meta_bytes){ big, sizeof(big) };
	CU_ASSERT_EQUAL(wfs_meta_op_encode(&op, &buf, &len), -EINVAL);

	memset(&op, 0, sizeof(op));
	op.type = WFS_META_OP_DISK_DRAIN;
	op.u.drain.id = (struct wfs_meta_bytes){ "d1", 2 };
	op.u.drain.draining = 1;
	check_same_shape(&op, drain_v7, sizeof(drain_v7));
	CU_ASSERT_EQUAL_FATAL(wfs_meta_op_decode(drain_v7, sizeof(drain_v7),
						 &back), 0);
	CU_ASSERT(ops_equal(&op, &back));
	wfs_meta_op_release(&back);
	CU_ASSERT_STRING_EQUAL(wfs_meta_op_name(WFS_META_OP_DISK_DRAIN),
			       "disk_drain");
	/* no format before 7 has the type */
	memcpy(bad, drain_v7, sizeof(drain_v7));
	for (uint8_t v = 0x04; v <= 0x06; v++) {
		bad[1] = v;
		CU_ASSERT_EQUAL(wfs_meta_op_decode(bad, sizeof(drain_v7),
						   &back), -EPROTO);
	}
	op.u.drain.id = (struct wfs_meta_bytes){ big, sizeof(big) };
	CU_ASSERT_EQUAL(wfs_meta_op_encode(&op, &buf, &len), -EINVAL);
}

/* @op encodes to exactly @want; @want decodes to @op; with the version
 * byte set to each of @refused_from..@refused_to it is refused. */
static void check_exact(const struct wfs_meta_op *op, const uint8_t *want,
			size_t want_len, uint8_t refused_from,
			uint8_t refused_to)
{
	struct wfs_meta_op back;
	uint8_t bad[64];
	void *buf;
	size_t len;

	CU_ASSERT_EQUAL_FATAL(wfs_meta_op_encode(op, &buf, &len), 0);
	CU_ASSERT(len == want_len && memcmp(buf, want, len) == 0);
	wfs_free(buf);
	CU_ASSERT_EQUAL_FATAL(wfs_meta_op_decode(want, want_len, &back), 0);
	CU_ASSERT(ops_equal(op, &back));
	wfs_meta_op_release(&back);
	CU_ASSERT_FATAL(want_len <= sizeof(bad));
	memcpy(bad, want, want_len);
	for (uint8_t v = refused_from; v <= refused_to; v++) {
		bad[version_at(bad)] = v;
		CU_ASSERT_EQUAL(wfs_meta_op_decode(bad, want_len, &back),
				-EPROTO);
	}
}

/* Format 8: directory leases.  mknod's ino and the session, reserve_ids'
 * kind and the dir_lease type, byte for byte; the format 7 shapes still
 * decode with the defaults (ino 0, session 0, kind 0), and each format
 * refuses the other's shape. */
static void test_format_8(void)
{
	/* mknod 1/"f" mode 0100644, rdev 0 */
	static const uint8_t mknod_v7[] = {
		0x9a, 0x07, 0x02, 0x00, 0x00, 0x00,
		0x01, 0xc4, 0x01, 'f', 0xcd, 0x81, 0xa4, 0x00, 0xc4, 0x00 };
	/* ... with ino 300 and session 2^40 + 1 */
	static const uint8_t mknod_v8[] = {
		0x9c, 0x08, 0x02, 0x00, 0x00, 0x00,
		0x01, 0xc4, 0x01, 'f', 0xcd, 0x81, 0xa4, 0x00,
		0xcd, 0x01, 0x2c,
		0xcf, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x01,
		0xc4, 0x00 };
	static const uint8_t reserve_v7[] = {
		0x97, 0x07, 0x0d, 0x00, 0x00, 0x00, 0x0a, 0xc4, 0x00 };
	static const uint8_t reserve_v8[] = {
		0x98, 0x08, 0x0d, 0x00, 0x00, 0x00, 0x0a, 0x01, 0xc4, 0x00 };
	/* rmdir 1/"d" by session 42 */
	static const uint8_t rmdir_v8[] = {
		0x99, 0x08, 0x07, 0x00, 0x00, 0x00,
		0x01, 0xc4, 0x01, 'd', 0x2a, 0xc4, 0x00 };
	/* dir_lease of 5 to session 0x123456789abcdef0, grant */
	static const uint8_t lease_v8[] = {
		0x99, 0x08, 0x18, 0x00, 0x00, 0x00, 0x05,
		0xcf, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0,
		0x01, 0xc4, 0x00 };
	struct wfs_meta_op op, back;

	/* A format 7 mknod: the next number, no session. */
	CU_ASSERT_EQUAL_FATAL(wfs_meta_op_decode(mknod_v7, sizeof(mknod_v7),
						 &back), 0);
	CU_ASSERT_EQUAL(back.type, WFS_META_OP_MKNOD);
	CU_ASSERT_EQUAL(back.u.create.parent, 1);
	CU_ASSERT_EQUAL(back.u.create.mode, 0100644);
	CU_ASSERT_EQUAL(back.u.create.ino, 0);
	CU_ASSERT_EQUAL(back.session, 0);
	wfs_meta_op_release(&back);
	memset(&op, 0, sizeof(op));
	op.type = WFS_META_OP_MKNOD;
	op.u.create.parent = 1;
	op.u.create.name = (struct wfs_meta_bytes){ "f", 1 };
	op.u.create.mode = 0100644;
	op.u.create.ino = 300;
	op.session = (1ULL << 40) + 1;
	check_exact(&op, mknod_v8, sizeof(mknod_v8), 0x01, 0x07);
	/* format 8 without the new args */
	{
		uint8_t bad[sizeof(mknod_v7)];

		memcpy(bad, mknod_v7, sizeof(bad));
		bad[1] = CUR_VERSION;
		CU_ASSERT_EQUAL(wfs_meta_op_decode(bad, sizeof(bad), &back),
				-EPROTO);
	}

	/* reserve_ids: stripe ids before format 8, either kind since. */
	CU_ASSERT_EQUAL_FATAL(wfs_meta_op_decode(reserve_v7,
						 sizeof(reserve_v7), &back),
			      0);
	CU_ASSERT_EQUAL(back.u.reserve.count, 10);
	CU_ASSERT_EQUAL(back.u.reserve.kind, WFS_META_RESERVE_STRIPES);
	wfs_meta_op_release(&back);
	memset(&op, 0, sizeof(op));
	op.type = WFS_META_OP_RESERVE_IDS;
	op.u.reserve.count = 10;
	op.u.reserve.kind = WFS_META_RESERVE_INODES;
	check_exact(&op, reserve_v8, sizeof(reserve_v8), 0x04, 0x07);

	/* The session rides at the end of the other types' args. */
	memset(&op, 0, sizeof(op));
	op.type = WFS_META_OP_RMDIR;
	op.u.remove.parent = 1;
	op.u.remove.name = (struct wfs_meta_bytes){ "d", 1 };
	op.session = 42;
	check_exact(&op, rmdir_v8, sizeof(rmdir_v8), 0x04, 0x07);

	/* dir_lease: no format before 8 has the type. */
	memset(&op, 0, sizeof(op));
	op.type = WFS_META_OP_DIR_LEASE;
	op.u.lease.ino = 5;
	op.u.lease.session = 0x123456789abcdef0ULL;
	op.u.lease.grant = 1;
	check_exact(&op, lease_v8, sizeof(lease_v8), 0x01, 0x07);
	CU_ASSERT_STRING_EQUAL(wfs_meta_op_name(WFS_META_OP_DIR_LEASE),
			       "dir_lease");
	/* its session is its own, not the op's */
	op.session = 7;
	check_same_shape(&op, lease_v8, sizeof(lease_v8));
}

/* msgpack-c, as an independent reader, sees our encodings as one array of
 * [1, type, ...] using only ints, bins and arrays. */
static bool only_our_types(const msgpack_object *o)
{
	switch (o->type) {
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
	case MSGPACK_OBJECT_BIN:
		return true;
	case MSGPACK_OBJECT_ARRAY:
		for (uint32_t i = 0; i < o->via.array.size; i++)
			if (!only_our_types(&o->via.array.ptr[i]))
				return false;
		return true;
	default:
		return false;
	}
}

static void test_msgpack_c_reads_it(void)
{
	struct built *b = wfs_malloc(sizeof(*b));
	msgpack_object obj;
	msgpack_zone zone;
	size_t len, off;
	void *buf;
	int rc;

	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	for (uint32_t t = 1; t < WFS_META_OP_TYPE_COUNT; t++) {
		build(b, t, t % 2 ? M_SMALL : M_RANDOM);
		CU_ASSERT_EQUAL_FATAL(wfs_meta_op_encode(&b->op, &buf, &len),
				      0);
		CU_ASSERT_FATAL(msgpack_zone_init(&zone, 4096));
		off = 0;
		rc = msgpack_unpack(buf, len, &off, &zone, &obj);
		CU_ASSERT_EQUAL(rc, MSGPACK_UNPACK_SUCCESS);
		CU_ASSERT_EQUAL(off, len);
		CU_ASSERT_EQUAL(obj.type, MSGPACK_OBJECT_ARRAY);
		if (rc == MSGPACK_UNPACK_SUCCESS &&
		    obj.type == MSGPACK_OBJECT_ARRAY) {
			CU_ASSERT(obj.via.array.size >= 6);
			CU_ASSERT(only_our_types(&obj));
			CU_ASSERT_EQUAL(obj.via.array.ptr[0].via.u64,
					CUR_VERSION);
			CU_ASSERT_EQUAL(obj.via.array.ptr[1].via.u64, t);
		}
		msgpack_zone_destroy(&zone);
		wfs_free(buf);
	}
	wfs_free(b);
}

static void expect_einval(const struct wfs_meta_op *op)
{
	void *buf = (void *)1;
	size_t len = 7;

	CU_ASSERT_EQUAL(wfs_meta_op_encode(op, &buf, &len), -EINVAL);
	CU_ASSERT_PTR_EQUAL(buf, (void *)1);
	CU_ASSERT_EQUAL(len, 7);
}

static void expect_ok(const struct wfs_meta_op *op)
{
	size_t len;

	wfs_free(round_trip(op, &len));
}

/* Every byte string of every type: its limit passes, one more fails, and
 * NULL data with a length fails. */
static void test_encode_string_limits(void)
{
	struct built *b = wfs_malloc(sizeof(*b));
	struct wfs_meta_bytes *s[4];

	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	for (uint32_t t = 1; t < WFS_META_OP_TYPE_COUNT; t++) {
		build(b, t, M_MAX);
		int n = op_strings(&b->op, s);

		for (int i = 0; i < n; i++) {
			size_t max = s[i]->len;

			expect_ok(&b->op);
			s[i]->len = max + 1;
			expect_einval(&b->op);
			s[i]->len = 1;
			s[i]->data = NULL;
			expect_einval(&b->op);
			s[i]->len = 0;
			expect_ok(&b->op);
			s[i]->data = pool;
			s[i]->len = max;
		}
	}
	wfs_free(b);
}

static void test_encode_array_limits(void)
{
	struct built *b = wfs_malloc(sizeof(*b));
	struct wfs_meta_op *op = &b->op;

	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	build(b, WFS_META_OP_STRIPE_COMMIT, M_MAX);
	expect_ok(op);
	op->u.stripe.nchunks = WFS_META_CHUNKS_MAX + 1;
	expect_einval(op);
	op->u.stripe.nchunks = 2;
	op->u.stripe.chunks = NULL;
	expect_einval(op);
	op->u.stripe.chunks = b->chunks;
	b->chunks[1].disk.len = WFS_META_ID_MAX + 1;
	expect_einval(op);
	b->chunks[1].disk.len = WFS_META_ID_MAX;
	b->chunks[0].node.data = NULL;
	expect_einval(op);
	op->u.stripe.nchunks = 0;
	op->u.stripe.chunks = NULL;
	expect_ok(op);

	build(b, WFS_META_OP_GC_DONE, M_MAX);
	expect_ok(op);
	op->u.gc.nentries = WFS_META_GC_MAX + 1;
	expect_einval(op);
	op->u.gc.nentries = 1;
	op->u.gc.entries = NULL;
	expect_einval(op);
	op->u.gc.entries = b->gc;
	b->gc[0].any_place = false;
	b->gc[0].node.len = WFS_META_ID_MAX + 1;
	expect_einval(op);
	b->gc[0].node.len = WFS_META_ID_MAX;
	b->gc[0].disk.data = NULL;
	expect_einval(op);
	b->gc[0].any_place = true;	/* no place: the short form */
	b->gc[0].node = (struct wfs_meta_bytes){ NULL, 0 };
	b->gc[0].disk = (struct wfs_meta_bytes){ NULL, 0 };
	expect_ok(op);
	wfs_free(b);
}

static void test_encode_unknown_type(void)
{
	struct wfs_meta_op op;

	memset(&op, 0, sizeof(op));
	expect_einval(&op);
	op.type = WFS_META_OP_TYPE_COUNT;
	expect_einval(&op);
	op.type = UINT32_MAX;
	expect_einval(&op);
}

/* A hand-written wire form, for inputs the encoder never makes. */
struct raw {
	uint8_t b[WFS_META_XATTR_VALUE_MAX + 1024];
	size_t n;
};

static void raw_put(struct raw *r, const void *p, size_t n)
{
	CU_ASSERT_FATAL(r->n + n <= sizeof(r->b));
	memcpy(r->b + r->n, p, n);
	r->n += n;
}

/* @fmt, then @v big-endian in @width bytes (0: @fmt alone). */
static void raw(struct raw *r, uint8_t fmt, uint64_t v, unsigned width)
{
	uint8_t c[9];

	c[0] = fmt;
	for (unsigned i = 0; i < width; i++)
		c[1 + i] = (uint8_t)(v >> (8 * (width - 1 - i)));
	raw_put(r, c, 1 + width);
}

/* [n elements, version 1, @type, time 0, uid 0, gid 0 */
static void raw_header(struct raw *r, unsigned n, uint32_t type)
{
	r->n = 0;
	raw(r, 0xdc, n, 2);
	raw(r, 0x01, 0, 0);
	raw(r, 0xce, type, 4);
	raw(r, 0x00, 0, 0);
	raw(r, 0x00, 0, 0);
	raw(r, 0x00, 0, 0);
}

static void raw_bin(struct raw *r, size_t len)
{
	if (len > UINT16_MAX)
		raw(r, 0xc6, len, 4);
	else
		raw(r, 0xc5, len, 2);
	raw_put(r, pool, len);
}

static int decode_raw(const struct raw *r)
{
	struct wfs_meta_op op;
	int rc = wfs_meta_op_decode(r->b, r->n, &op);

	if (rc == 0) {
		CU_ASSERT(strings_inside(&op, r->b, r->n));
	} else {
		CU_ASSERT(is_zeroed(&op));
	}
	wfs_meta_op_release(&op);
	return rc;
}

/* Byte arrays given inline, each with the answer decode must give. */
struct vector {
	const char *what;
	int rc;
	size_t len;
	const uint8_t *b;
};

#define V(what, rc, ...)                                                      \
	{ what, rc, sizeof((const uint8_t[]){ __VA_ARGS__ }),                 \
	  (const uint8_t[]){ __VA_ARGS__ } }

static const struct vector vectors[] = {
	V("purge", 0, 0x96, 0x01, 0x0c, 0x00, 0x00, 0x00, 0x2a),
	V("array16 header", 0,
	  0xdc, 0x00, 0x06, 0x01, 0x0c, 0x00, 0x00, 0x00, 0x2a),
	V("array32 header", 0,
	  0xdd, 0x00, 0x00, 0x00, 0x06, 0x01, 0x0c, 0x00, 0x00, 0x00, 0x2a),
	V("wide version", 0,
	  0x96, 0xcd, 0x00, 0x01, 0x0c, 0x00, 0x00, 0x00, 0x2a),
	V("uid UINT32_MAX", 0,
	  0x96, 0x01, 0x0c, 0x00, 0xce, 0xff, 0xff, 0xff, 0xff, 0x00, 0x2a),
	V("uid 2^32", -EPROTO,
	  0x96, 0x01, 0x0c, 0x00, 0xcf, 0, 0, 0, 1, 0, 0, 0, 0, 0x00, 0x2a),
	V("uid negative fixint", -EPROTO,
	  0x96, 0x01, 0x0c, 0x00, 0xff, 0x00, 0x2a),
	V("uid positive int8", 0,
	  0x96, 0x01, 0x0c, 0x00, 0xd0, 0x05, 0x00, 0x2a),
	V("uid negative int8", -EPROTO,
	  0x96, 0x01, 0x0c, 0x00, 0xd0, 0x80, 0x00, 0x2a),
	V("uid negative int32", -EPROTO,
	  0x96, 0x01, 0x0c, 0x00, 0xd2, 0xff, 0xff, 0xff, 0xfe, 0x00, 0x2a),
	V("ino positive int64", 0,
	  0x96, 0x01, 0x0c, 0x00, 0x00, 0x00, 0xd3, 0, 0, 0, 0, 0, 0, 0, 0x2a),
	V("ino negative int64", -EPROTO,
	  0x96, 0x01, 0x0c, 0x00, 0x00, 0x00, 0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0),
	V("ino UINT64_MAX", 0, 0x96, 0x01, 0x0c, 0x00, 0x00, 0x00,
	  0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff),
	V("time INT64_MAX", 0, 0x96, 0x01, 0x0c,
	  0xcf, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0x2a),
	V("time 2^63", -EPROTO, 0x96, 0x01, 0x0c,
	  0xcf, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x2a),
	V("time int16", 0, 0x96, 0x01, 0x0c, 0xd1, 0x80, 0x00, 0, 0, 0x2a),
	V("ino nil", -EPROTO, 0x96, 0x01, 0x0c, 0x00, 0x00, 0x00, 0xc0),
	V("ino true", -EPROTO, 0x96, 0x01, 0x0c, 0x00, 0x00, 0x00, 0xc3),
	V("ino float32", -EPROTO,
	  0x96, 0x01, 0x0c, 0x00, 0x00, 0x00, 0xca, 0x42, 0x28, 0, 0),
	V("ino float64", -EPROTO, 0x96, 0x01, 0x0c, 0x00, 0x00, 0x00,
	  0xcb, 0x40, 0x45, 0, 0, 0, 0, 0, 0),
	V("ino str", -EPROTO, 0x96, 0x01, 0x0c, 0x00, 0x00, 0x00, 0xa1, '1'),
	V("ino bin", -EPROTO, 0x96, 0x01, 0x0c, 0x00, 0x00, 0x00, 0xc4, 0x00),
	V("ino array", -EPROTO, 0x96, 0x01, 0x0c, 0x00, 0x00, 0x00, 0x90),
	V("ino map", -EPROTO, 0x96, 0x01, 0x0c, 0x00, 0x00, 0x00, 0x80),
	V("ino fixext1", -EPROTO,
	  0x96, 0x01, 0x0c, 0x00, 0x00, 0x00, 0xd4, 0x01, 0x2a),
	V("ino never used c1", -EPROTO,
	  0x96, 0x01, 0x0c, 0x00, 0x00, 0x00, 0xc1),
	V("ino uint16 cut short", -EPROTO,
	  0x96, 0x01, 0x0c, 0x00, 0x00, 0x00, 0xcd, 0x01),
	V("version 0", -EPROTO, 0x96, 0x00, 0x0c, 0x00, 0x00, 0x00, 0x2a),
	V("version 4", -EPROTO, 0x96, 0x04, 0x0c, 0x00, 0x00, 0x00, 0x2a),
	V("version -1", -EPROTO, 0x96, 0xff, 0x0c, 0x00, 0x00, 0x00, 0x2a),
	V("version 2^32+1", -EPROTO, 0x96, 0xcf, 0, 0, 0, 1, 0, 0, 0, 1,
	  0x0c, 0x00, 0x00, 0x00, 0x2a),
	V("version 2 with another shape", -EPROTO, 0x92, 0x02, 0x80),
	V("type 0", -EPROTO, 0x96, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2a),
	V("type 23 before format 7", -EPROTO,
	  0x96, 0x01, 0x17, 0x00, 0x00, 0x00, 0x2a),
	V("type 24 before format 8", -EPROTO,
	  0x99, 0x07, 0x18, 0x00, 0x00, 0x00, 0x2a, 0x05, 0x01, 0xc4, 0x00),
	V("type 24", 0,
	  0x99, 0x08, 0x18, 0x00, 0x00, 0x00, 0x2a, 0x05, 0x01, 0xc4, 0x00),
	V("type 24 without grant", -EPROTO,
	  0x98, 0x08, 0x18, 0x00, 0x00, 0x00, 0x2a, 0x05, 0xc4, 0x00),
	V("type 25", -EPROTO,
	  0x99, 0x08, 0x19, 0x00, 0x00, 0x00, 0x2a, 0x05, 0x01, 0xc4, 0x00),
	V("version 9", -EPROTO,
	  0x99, 0x09, 0x18, 0x00, 0x00, 0x00, 0x2a, 0x05, 0x01, 0xc4, 0x00),
	V("session negative", -EPROTO, 0x99, 0x08, 0x07, 0x00, 0x00, 0x00,
	  0x01, 0xc4, 0x01, 'd', 0xff, 0xc4, 0x00),
	V("type 268", -EPROTO,
	  0x96, 0x01, 0xcd, 0x01, 0x0c, 0x00, 0x00, 0x00, 0x2a),
	V("type 2^32 + 12", -EPROTO, 0x96, 0x01, 0xcf, 0, 0, 0, 1, 0, 0, 0,
	  0x0c, 0x00, 0x00, 0x00, 0x2a),
	V("one element too few", -EPROTO, 0x95, 0x01, 0x0c, 0x00, 0x00, 0x00),
	V("one element too many", -EPROTO,
	  0x97, 0x01, 0x0c, 0x00, 0x00, 0x00, 0x2a, 0x2a),
	V("count says more than there is", -EPROTO,
	  0x97, 0x01, 0x0c, 0x00, 0x00, 0x00, 0x2a),
	V("trailing byte", -EPROTO,
	  0x96, 0x01, 0x0c, 0x00, 0x00, 0x00, 0x2a, 0x00),
	V("two ops", -EPROTO, 0x96, 0x01, 0x0c, 0x00, 0x00, 0x00, 0x2a,
	  0x96, 0x01, 0x0c, 0x00, 0x00, 0x00, 0x2a),
	V("not an array", -EPROTO, 0x01),
	V("a map", -EPROTO, 0x83, 0x01, 0x0c, 0x00, 0x00, 0x00, 0x2a),
	V("empty array", -EPROTO, 0x90),
	V("huge array32 (8 GiB for msgpack-c)", -EPROTO,
	  0xdd, 0x0f, 0xff, 0xff, 0xff),
	V("huge array32", -EPROTO, 0xdd, 0xff, 0xff, 0xff, 0xff, 0x01, 0x0c),
	V("huge array16", -EPROTO, 0xdc, 0xff, 0xff, 0x01, 0x0c),
	V("unlink", 0, 0x97, 0x01, 0x06, 0x00, 0x00, 0x00, 0x01,
	  0xc4, 0x03, 'a', 'b', 'c'),
	V("name bin16", 0, 0x97, 0x01, 0x06, 0x00, 0x00, 0x00, 0x01,
	  0xc5, 0x00, 0x03, 'a', 'b', 'c'),
	V("name bin32", 0, 0x97, 0x01, 0x06, 0x00, 0x00, 0x00, 0x01,
	  0xc6, 0x00, 0x00, 0x00, 0x03, 'a', 'b', 'c'),
	V("empty name", 0, 0x97, 0x01, 0x06, 0x00, 0x00, 0x00, 0x01, 0xc4, 0),
	V("name as fixstr", -EPROTO, 0x97, 0x01, 0x06, 0x00, 0x00, 0x00, 0x01,
	  0xa3, 'a', 'b', 'c'),
	V("name as str8", -EPROTO, 0x97, 0x01, 0x06, 0x00, 0x00, 0x00, 0x01,
	  0xd9, 0x03, 'a', 'b', 'c'),
	V("name as int", -EPROTO,
	  0x97, 0x01, 0x06, 0x00, 0x00, 0x00, 0x01, 0x01),
	V("name longer than the buffer", -EPROTO, 0x97, 0x01, 0x06,
	  0x00, 0x00, 0x00, 0x01, 0xc4, 0x04, 'a', 'b', 'c'),
	V("name of 4 GiB", -EPROTO, 0x97, 0x01, 0x06, 0x00, 0x00, 0x00, 0x01,
	  0xc6, 0xff, 0xff, 0xff, 0xff, 'a'),
	V("bin16 length cut short", -EPROTO,
	  0x97, 0x01, 0x06, 0x00, 0x00, 0x00, 0x01, 0xc5, 0x00),
	V("chunk_set", 0, 0x97, 0x01, 0x0f, 0x00, 0x00, 0x00, 0x07,
	  0x94, 0x02, 0x00, 0xc4, 0x01, 'n', 0xc4, 0x01, 'd'),
	V("loc of 3", -EPROTO, 0x97, 0x01, 0x0f, 0x00, 0x00, 0x00, 0x07,
	  0x93, 0x02, 0x00, 0xc4, 0x01, 'n'),
	V("loc of 5", -EPROTO, 0x97, 0x01, 0x0f, 0x00, 0x00, 0x00, 0x07,
	  0x95, 0x02, 0x00, 0xc4, 0x01, 'n', 0xc4, 0x01, 'd', 0x00),
	V("loc flattened", -EPROTO, 0x9a, 0x01, 0x0f, 0x00, 0x00, 0x00, 0x07,
	  0x02, 0x00, 0xc4, 0x01, 'n', 0xc4, 0x01, 'd'),
	V("loc index 2^32", -EPROTO, 0x97, 0x01, 0x0f, 0x00, 0x00, 0x00, 0x07,
	  0x94, 0xcf, 0, 0, 0, 1, 0, 0, 0, 0, 0x00, 0xc4, 0x01, 'n',
	  0xc4, 0x01, 'd'),
	V("gc entry of 3", -EPROTO, 0x96, 0x01, 0x10, 0x00, 0x00, 0x00,
	  0x91, 0x93, 0x05, 0x03, 0x00),
	V("gc entry of 4 before format 7", -EPROTO,
	  0x96, 0x01, 0x10, 0x00, 0x00, 0x00,
	  0x91, 0x94, 0x05, 0x03, 0xc4, 0x00, 0xc4, 0x00),
	V("gc entry of 4", 0, 0x97, 0x07, 0x10, 0x00, 0x00, 0x00,
	  0x91, 0x94, 0x05, 0x03, 0xc4, 0x00, 0xc4, 0x00, 0xc4, 0x00),
	V("gc entry of 3 in format 7", -EPROTO,
	  0x97, 0x07, 0x10, 0x00, 0x00, 0x00,
	  0x91, 0x93, 0x05, 0x03, 0xc4, 0x00, 0xc4, 0x00),
	V("gc entry node as int", -EPROTO, 0x97, 0x07, 0x10, 0x00, 0x00, 0x00,
	  0x91, 0x94, 0x05, 0x03, 0x00, 0xc4, 0x00, 0xc4, 0x00),
	V("gc entry index -1", -EPROTO, 0x96, 0x01, 0x10, 0x00, 0x00, 0x00,
	  0x91, 0x92, 0x05, 0xff),
	V("gc entries more than the bytes", -EPROTO,
	  0x96, 0x01, 0x10, 0x00, 0x00, 0x00, 0xdc, 0x03, 0xff, 0x92, 0x05),
	V("gc empty", 0, 0x96, 0x01, 0x10, 0x00, 0x00, 0x00, 0x90),
	V("gc second entry bad", -EPROTO, 0x96, 0x01, 0x10, 0x00, 0x00, 0x00,
	  0x92, 0x92, 0x05, 0x03, 0x92, 0x05, 0xc0),
};

static void test_decode_vectors(void)
{
	struct wfs_meta_op op;

	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		const struct vector *v = &vectors[i];
		int rc = wfs_meta_op_decode(v->b, v->len, &op);

		if (rc != v->rc)
			fprintf(stderr, "\nvector \"%s\": %d, want %d\n",
				v->what, rc, v->rc);
		CU_ASSERT_EQUAL(rc, v->rc);
		if (rc == 0) {
			CU_ASSERT(strings_inside(&op, v->b, v->len));
		} else {
			CU_ASSERT(is_zeroed(&op));
		}
		wfs_meta_op_release(&op);
	}
	CU_ASSERT_EQUAL(wfs_meta_op_decode(NULL, 0, &op), -EPROTO);
	CU_ASSERT_EQUAL(wfs_meta_op_decode("", 0, &op), -EPROTO);
	CU_ASSERT(is_zeroed(&op));
}

/* Where decode needs the data of an op it decoded, the op points at the
 * caller's bytes themselves. */
static void test_decode_points_into_buffer(void)
{
	static const uint8_t b[] = { 0x97, 0x01, 0x06, 0x00, 0x00, 0x00,
		0x01, 0xc4, 0x03, 'a', 'b', 'c' };
	struct wfs_meta_op op;

	CU_ASSERT_EQUAL_FATAL(wfs_meta_op_decode(b, sizeof(b), &op), 0);
	CU_ASSERT_PTR_EQUAL(op.u.remove.name.data, b + 9);
	CU_ASSERT_EQUAL(op.u.remove.name.len, 3);
	wfs_meta_op_release(&op);
}

/* Decode-side limits of every limited byte string, at the limit and one
 * past it.  @args spells the op's args: 'u' a small integer, 'b' a
 * one-byte bin, 'L' the bin under test. */
static const struct {
	uint32_t type;
	const char *args;
	size_t max;
} string_limits[] = {
	{ WFS_META_OP_FORMAT, "uuuuL", WFS_META_ID_MAX },
	{ WFS_META_OP_MKNOD, "uLuu", WFS_META_NAME_MAX },
	{ WFS_META_OP_SYMLINK, "ubuL", WFS_META_SYMLINK_MAX },
	{ WFS_META_OP_LINK, "uuL", WFS_META_NAME_MAX },
	{ WFS_META_OP_RMDIR, "uL", WFS_META_NAME_MAX },
	{ WFS_META_OP_RENAME, "uLubu", WFS_META_NAME_MAX },
	{ WFS_META_OP_RENAME, "ubuLu", WFS_META_NAME_MAX },
	{ WFS_META_OP_SETXATTR, "uLbu", WFS_META_XATTR_NAME_MAX },
	{ WFS_META_OP_SETXATTR, "ubLu", WFS_META_XATTR_VALUE_MAX },
	{ WFS_META_OP_REMOVEXATTR, "uL", WFS_META_XATTR_NAME_MAX },
	{ WFS_META_OP_POLICY_SET, "uLuuu", WFS_META_NAME_MAX },
	{ WFS_META_OP_NODE_SET, "Lbbuu", WFS_META_ID_MAX },
	{ WFS_META_OP_NODE_SET, "bLbuu", WFS_META_NAME_MAX },
	{ WFS_META_OP_NODE_SET, "bbLuu", WFS_META_ADDR_MAX },
	{ WFS_META_OP_NODE_REMOVE, "L", WFS_META_ID_MAX },
	{ WFS_META_OP_DISK_SET, "bLbuuu", WFS_META_ID_MAX },
	{ WFS_META_OP_DISK_SET, "bbLuuu", WFS_META_PATH_MAX },
};

static void test_decode_limits(void)
{
	struct raw *r = wfs_malloc(sizeof(*r));

	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	for (size_t i = 0; i < sizeof(string_limits) /
			       sizeof(string_limits[0]); i++) {
		const char *args = string_limits[i].args;

		for (size_t extra = 0; extra < 2; extra++) {
			raw_header(r, 5 + strlen(args), string_limits[i].type);
			for (const char *a = args; *a; a++) {
				if (*a == 'u')
					raw(r, 0x01, 0, 0);
				else
					raw_bin(r, *a == 'b' ? 1 :
						string_limits[i].max + extra);
			}
			CU_ASSERT_EQUAL(decode_raw(r), extra ? -EPROTO : 0);
		}
	}

	/* chunks of a stripe */
	for (uint32_t extra = 0; extra < 2; extra++) {
		raw_header(r, 16, WFS_META_OP_STRIPE_COMMIT);
		for (int j = 0; j < 10; j++)
			raw(r, 0x01, 0, 0);
		raw(r, 0xdc, WFS_META_CHUNKS_MAX + extra, 2);
		for (uint32_t j = 0; j < WFS_META_CHUNKS_MAX + extra; j++) {
			raw(r, 0x94, 0, 0);
			raw(r, 0x00, 0, 0);
			raw(r, 0x00, 0, 0);
			raw_bin(r, j == 0 ? WFS_META_ID_MAX : 1);
			raw_bin(r, 2);
		}
		CU_ASSERT_EQUAL(decode_raw(r), extra ? -EPROTO : 0);
	}

	/* a node id one over inside a chunk location */
	raw_header(r, 16, WFS_META_OP_STRIPE_COMMIT);
	for (int j = 0; j < 10; j++)
		raw(r, 0x01, 0, 0);
	raw(r, 0x92, 0, 0);
	for (int j = 0; j < 2; j++) {
		raw(r, 0x94, 0, 0);
		raw(r, 0x00, 0, 0);
		raw(r, 0x00, 0, 0);
		raw_bin(r, 1);
		raw_bin(r, WFS_META_ID_MAX + j);
	}
	CU_ASSERT_EQUAL(decode_raw(r), -EPROTO);

	/* gc entries */
	for (uint32_t extra = 0; extra < 2; extra++) {
		raw_header(r, 6, WFS_META_OP_GC_DONE);
		raw(r, 0xdc, WFS_META_GC_MAX + extra, 2);
		for (uint32_t j = 0; j < WFS_META_GC_MAX + extra; j++) {
			raw(r, 0x92, 0, 0);
			raw(r, 0x07, 0, 0);
			raw(r, 0x01, 0, 0);
		}
		CU_ASSERT_EQUAL(decode_raw(r), extra ? -EPROTO : 0);
	}
	wfs_free(r);
}

/* How much longer the current encoding of an op decoded from an older
 * format may be (the encoder writes every number in its shortest form, so
 * an op of the current format never grows): the empty request (2 bytes,
 * since 4), the args added since, each in the form of its default (a
 * format 1 stripe_commit's expected_length, WFS_META_LENGTH_ANY, 9 bytes; the
 * others 0, 1 byte), and an array header grown from fixarray to array16
 * (2).  The most is the format 1 stripe_commit's 11. */
#define REENCODE_GROWTH 11

/* Check one decode of untrusted bytes: 0 or -EPROTO, and if 0 an op that
 * lies within @buf and that encode accepts back. */
static void check_untrusted(const uint8_t *buf, size_t len, bool reencode)
{
	struct wfs_meta_op op;
	size_t out_len;
	void *out;
	int rc = wfs_meta_op_decode(buf, len, &op);

	CU_ASSERT(rc == 0 || rc == -EPROTO);
	if (rc < 0) {
		CU_ASSERT(is_zeroed(&op));
		return;
	}
	CU_ASSERT(strings_inside(&op, buf, len));
	if (reencode) {
		rc = wfs_meta_op_encode(&op, &out, &out_len);
		CU_ASSERT_EQUAL(rc, 0);
		/* An op of an older format comes back in the current one,
		 * at most REENCODE_GROWTH bytes longer. */
		if (rc == 0) {
			CU_ASSERT(out_len <= len + REENCODE_GROWTH);
			wfs_free(out);
		}
	}
	wfs_meta_op_release(&op);
}

/* Every proper prefix of every encoding is refused. */
static void test_decode_truncations(void)
{
	struct built *b = wfs_malloc(sizeof(*b));
	struct wfs_meta_op op;
	uint8_t *buf;
	size_t len;

	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	for (uint32_t t = 1; t < WFS_META_OP_TYPE_COUNT; t++) {
		for (int m = 0; m < M_COUNT; m++) {
			build(b, t, m);
			buf = round_trip(&b->op, &len);
			if (!buf)
				continue;
			for (size_t cut = 0; cut < len; cut++) {
				int rc = wfs_meta_op_decode(buf, cut, &op);

				CU_ASSERT_EQUAL(rc, -EPROTO);
				if (rc == 0)
					wfs_meta_op_release(&op);
				CU_ASSERT(is_zeroed(&op));
			}
			wfs_free(buf);
		}
	}
	wfs_free(b);
}

/* The @j-th byte to flip in an encoding of @len bytes (SIZE_MAX: skip it):
 * every byte of one up to 4 KiB; for longer ones (a 64 KiB xattr value,
 * 1024 gc entries) the first and last 512 bytes and one random byte in 64
 * between, to keep the test within seconds under sanitizers. */
static size_t flip_at(size_t j, size_t len)
{
	if (len <= 4096 || j < 512 || j >= len - 512)
		return j;
	return j % 64 == 0 ? 512 + rnd() % (len - 1024) : SIZE_MAX;
}

/* Every byte of every encoding, flipped bit by bit and replaced by bytes
 * that change its msgpack type. */
static void test_decode_byte_flips(void)
{
	static const uint8_t subst[] = { 0x00, 0x7f, 0x80, 0x90, 0xc0, 0xc1,
		0xc4, 0xc6, 0xcf, 0xd3, 0xdc, 0xdd, 0xe0, 0xff };
	struct built *b = wfs_malloc(sizeof(*b));
	uint8_t *buf;
	size_t len;

	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	for (uint32_t t = 1; t < WFS_META_OP_TYPE_COUNT; t++) {
		for (int m = 0; m < M_COUNT; m++) {
			build(b, t, m);
			buf = round_trip(&b->op, &len);
			if (!buf)
				continue;
			for (size_t j = 0; j < len; j++) {
				size_t i = flip_at(j, len);
				uint8_t keep;

				if (i == SIZE_MAX)
					continue;
				keep = buf[i];

				for (int bit = 0; bit < 8; bit++) {
					buf[i] = keep ^ (1u << bit);
					check_untrusted(buf, len, len < 8192);
				}
				for (size_t s = 0; s < sizeof(subst); s++) {
					buf[i] = subst[s];
					check_untrusted(buf, len, len < 8192);
				}
				buf[i] = keep;
			}
			wfs_free(buf);
		}
	}
	wfs_free(b);
}

/* Random bytes; bytes that start like an op then go random; and valid
 * encodings with a few random edits. */
static void test_decode_garbage(void)
{
	struct built *b = wfs_malloc(sizeof(*b));
	uint8_t g[64];
	uint8_t *buf;
	size_t len, n;

	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	for (int i = 0; i < 20000; i++) {
		n = rnd() % sizeof(g);
		wfs_test_fill(&rng, g, n);
		if (i % 2 && n >= 3) {
			g[0] = 0x90 | (5 + rnd() % 11);
			g[1] = 0x01;
			g[2] = 1 + rnd() % (WFS_META_OP_TYPE_COUNT - 1);
		}
		check_untrusted(g, n, true);
	}
	for (int i = 0; i < 4000; i++) {
		build(b, 1 + rnd() % (WFS_META_OP_TYPE_COUNT - 1),
		      rnd() % 2 ? M_SMALL : M_EMPTY);
		CU_ASSERT_EQUAL_FATAL(wfs_meta_op_encode(&b->op, (void **)&buf,
							 &len), 0);
		for (int e = 1 + rnd() % 4; e > 0 && len; e--) {
			size_t at = rnd() % len;

			switch (rnd() % 3) {
			case 0:		/* delete a byte */
				memmove(buf + at, buf + at + 1, len - at - 1);
				len--;
				break;
			case 1:		/* cut short */
				len = at;
				break;
			default:	/* overwrite a byte */
				buf[at] = (uint8_t)rnd();
				break;
			}
		}
		check_untrusted(buf, len, true);
		wfs_free(buf);
	}
	wfs_free(b);
}

/* Fail each allocation of encode and decode in turn: -ENOMEM, nothing
 * leaked (LeakSanitizer under SAN=1), the op left zeroed. */
static void test_allocation_failures(void)
{
	struct built *b = wfs_malloc(sizeof(*b));
	struct wfs_meta_op op;
	int failures = 0;
	size_t len;
	void *buf;
	int rc;

	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	for (uint32_t t = 1; t < WFS_META_OP_TYPE_COUNT; t++) {
		build(b, t, M_SMALL);
		for (long n = 0;; n++) {
			wfs_mem_fail_after(n);
			rc = wfs_meta_op_encode(&b->op, &buf, &len);
			wfs_mem_fail_after(-1);
			if (rc == 0)
				break;
			CU_ASSERT_EQUAL_FATAL(rc, -ENOMEM);
			failures++;
		}
		for (long n = 0;; n++) {
			wfs_mem_fail_after(n);
			rc = wfs_meta_op_decode(buf, len, &op);
			wfs_mem_fail_after(-1);
			if (rc == 0)
				break;
			CU_ASSERT_EQUAL_FATAL(rc, -ENOMEM);
			CU_ASSERT(is_zeroed(&op));
			failures++;
		}
		CU_ASSERT(ops_equal(&b->op, &op));
		wfs_meta_op_release(&op);
		wfs_free(buf);
	}
	/* one per encode, one per decode of the two types with arrays */
	CU_ASSERT_EQUAL(failures, WFS_META_OP_TYPE_COUNT - 1 + 2);
	wfs_free(b);
}

static CU_TestInfo op_tests[] = {
	{ "op names", test_names },
	{ "round trip of every type", test_round_trip_every_type },
	{ "unused fields ignored", test_unused_fields_ignored },
	{ "golden encodings", test_golden },
	{ "the request element", test_request },
	{ "stripe_commit of format 1", test_stripe_commit_v1 },
	{ "unlink of formats 1 and 2", test_unlink_v2 },
	{ "chunk_set of formats 1 to 5", test_chunk_set_v3 },
	{ "chunk_set and disk_set of format 6", test_format_6 },
	{ "disk_set of format 6 as it meant", test_disk_set_v6 },
	{ "gc_done and disk_drain of format 7", test_format_7 },
	{ "leases, sessions and inode numbers of format 8", test_format_8 },
	{ "msgpack-c reads the encoding", test_msgpack_c_reads_it },
	{ "encode: string limits", test_encode_string_limits },
	{ "encode: array limits", test_encode_array_limits },
	{ "encode: unknown type", test_encode_unknown_type },
	{ "decode: vectors", test_decode_vectors },
	{ "decode: strings point into the buffer",
	  test_decode_points_into_buffer },
	{ "decode: limits", test_decode_limits },
	{ "decode: every truncation", test_decode_truncations },
	{ "decode: byte flips", test_decode_byte_flips },
	{ "decode: garbage", test_decode_garbage },
	{ "allocation failures", test_allocation_failures },
	CU_TEST_INFO_NULL,
};

WFS_TEST_SUITE("metadata/op", op_tests, suite_init, NULL)
