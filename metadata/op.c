/* op: the compact wire form of a metadata op (struct wfs_meta_op).
 *
 * Encoding and decoding only: what an op means, and whether its names and
 * values make sense ('/' or NUL in a name, an empty name, an unknown flag or
 * stripe kind), is apply's business (metadata/meta.h).  The codec checks the
 * structure and the size limits of op.h, and the same limits both ways, so
 * anything the encoder accepts the decoder accepts too: an op that reached
 * the log can always be read back.
 *
 * Wire form, format version 8.  An op is exactly one msgpack array, with
 * nothing before or after it:
 *
 *   [version, type, time_ns, uid, gid, arg..., request]
 *
 *   version  u32, 8 (1 to 7 are still read).  The array and this first
 *            element are the one part no future version may change.
 *   type     u32, enum wfs_meta_op_type: format 1, mknod 2, mkdir 3,
 *            symlink 4, link 5, unlink 6, rmdir 7, rename 8, setattr 9,
 *            setxattr 10, removexattr 11, purge 12, reserve_ids 13,
 *            stripe_commit 14, chunk_set 15, gc_done 16, policy_set 17,
 *            dir_policy 18, node_set 19, node_remove 20, disk_set 21,
 *            setting_set 22 (since 5), disk_drain 23 (since 7),
 *            dir_lease 24 (since 8).  A format older than a type's
 *            "since" naming it is refused (checked for 23 and 24).
 *   time_ns  i64;  uid, gid  u32.
 *   request  bytes(REQUEST_MAX), since version 4 (before: empty): the
 *            client's name for the request the op carries out, so that a
 *            retry applies as the first try did (meta.h, "Retries").
 *   arg...   positional, exactly these per type (field names of op.h;
 *            "session" is the op's own session, not a member of u):
 *
 *   format         root_mode u32, k u32, m u32, chunk_size u32,
 *                  cluster_id bytes(ID_MAX)
 *   mknod          parent u64, name bytes(NAME_MAX), mode u32, rdev u64,
 *                  ino u64 (since 8), session u64 (since 8)
 *   mkdir          parent u64, name bytes(NAME_MAX), mode u32,
 *                  session u64 (since 8)
 *   symlink        parent u64, name bytes(NAME_MAX), mode u32,
 *                  target bytes(SYMLINK_MAX), session u64 (since 8)
 *   link           ino u64, parent u64, name bytes(NAME_MAX),
 *                  session u64 (since 8)
 *   unlink         parent u64, name bytes(NAME_MAX), purge_ino u64
 *                  (since 3), session u64 (since 8)
 *   rmdir          parent u64, name bytes(NAME_MAX), session u64 (since 8)
 *   rename         parent u64, name bytes(NAME_MAX), new_parent u64,
 *                  new_name bytes(NAME_MAX), flags u32,
 *                  session u64 (since 8)
 *   setattr        ino u64, flags u32, mode u32, uid u32, gid u32, size u64,
 *                  atime_ns i64, mtime_ns i64, ctime_ns i64 (all of them,
 *                  whatever flags selects), session u64 (since 8)
 *   setxattr       ino u64, name bytes(XATTR_NAME_MAX),
 *                  value bytes(XATTR_VALUE_MAX), flags u32,
 *                  session u64 (since 8)
 *   removexattr    ino u64, name bytes(XATTR_NAME_MAX),
 *                  session u64 (since 8)
 *   purge          ino u64
 *   reserve_ids    count u32, kind u32 (since 8)
 *   stripe_commit  ino u64, sidx u64, stripe_id u64, expected_version u64,
 *                  kind u32, k u32, m u32, chunk_size u32, length u32,
 *                  file_size u64, chunks, expected_length u64 (since 2)
 *   chunk_set      stripe_id u64, loc, from_node bytes(ID_MAX) (since 6),
 *                  from_disk bytes(ID_MAX) (since 6)
 *   gc_done        gc
 *   policy_set     id u32, name bytes(NAME_MAX), k u32, m u32,
 *                  chunk_size u32
 *   dir_policy     ino u64, policy_id u32
 *   node_set       id bytes(ID_MAX), name bytes(NAME_MAX),
 *                  addr bytes(ADDR_MAX), role u32, state u32
 *   node_remove    id bytes(ID_MAX)
 *   disk_set       id bytes(ID_MAX), node_id bytes(ID_MAX),
 *                  path bytes(PATH_MAX), capacity u64, free u64, state u32,
 *                  keep_state u32 (since 6; meaningless since 7, see
 *                  op.h)
 *   setting_set    key bytes(ID_MAX), value bytes(SETTING_MAX)
 *   disk_drain     id bytes(ID_MAX), draining u32
 *   dir_lease      ino u64, session u64, grant u32
 *
 * Elements, in msgpack's own formats (multi-byte numbers big-endian):
 *
 *   u32, u64  an integer >= 0 that fits the field: positive fixint 00-7f,
 *             uint8 cc X, uint16 cd X*2, uint32 ce X*4, uint64 cf X*8 (X*n:
 *             n bytes).  The encoder writes the shortest; the decoder also
 *             takes the signed forms below when the value is not negative.
 *   i64       any of the above up to INT64_MAX, or negative fixint e0-ff,
 *             int8 d0 X, int16 d1 X*2, int32 d2 X*4, int64 d3 X*8.
 *   bytes(M)  at most WFS_META_<M> bytes, any values: bin8 c4 L, bin16 c5
 *             L*2 or bin32 c6 L*4 (L: the length), then the bytes.  msgpack
 *             str is refused.
 *   loc       array of 4: [index u32, state u32, node bytes(ID_MAX),
 *             disk bytes(ID_MAX)] (struct wfs_meta_chunk_loc)
 *   chunks    array of 0..WFS_META_CHUNKS_MAX loc
 *   gc        array of 0..WFS_META_GC_MAX entries, each [stripe_id u64,
 *             index u32, node bytes(ID_MAX), disk bytes(ID_MAX)], or
 *             [stripe_id u64, index u32] for an entry with any_place set
 *             (op.h); before version 7 only the short form, which always
 *             meant any place
 *   array     fixarray 90-9f, array16 dc N*2, array32 dd N*4 (N: the
 *             count).
 *
 * Nothing else (nil, bool, float, str, map, ext) appears anywhere.  Example,
 * purge of inode 42 at time 1000 by uid 0, gid 0 (9 bytes):
 *
 *   96           array of 6
 *   03           version 3
 *   0c           type 12, purge
 *   cd 03 e8     time_ns 1000
 *   00 00        uid 0, gid 0
 *   2a           ino 42
 *
 * Version rule: the version goes up with any change an older decoder would
 * misread or refuse (an op type, an element added, removed, reordered or
 * retyped, a limit raised).  Encoders write the current version only; a
 * decoder reads every version up to its own, because the log and snapshots
 * keep old ops, and refuses a higher one with -EPROTO: a voter must never
 * apply an op it does not fully understand.
 *
 * Decoding is a small strict reader of exactly the formats above, not
 * msgpack-c's unpacker: msgpack_unpack() allocates room for an array's
 * elements as soon as it reads the header, so five hostile bytes
 * (dd 0f ff ff ff) make it allocate 8 GiB (an abort under ASan), and its
 * allocations bypass wfs_malloc.  The reader allocates only the chunk and
 * gc arrays, after checking the bytes left can hold them, and its byte
 * strings point into the caller's buffer.  Encoding uses msgpack-c's packer,
 * writing into one buffer sized in advance: one allocation per op.
 */
#include "metadata/op.h"

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include <msgpack/pack.h>

#include "mem/mem.h"

/* The version this code writes.  An older version lacks the fields marked
 * "since" a later one; they decode as their documented defaults (see
 * fill_defaults): version 2 added stripe_commit's expected_length, version
 * 3 unlink's purge_ino, version 6 chunk_set's from_node and from_disk (a
 * move) and disk_set's keep_state, version 7 the location of each gc_done
 * entry and the disk_drain type (draining left disk_set's state), version
 * 8 the session of the namespace and attribute ops, mknod's ino,
 * reserve_ids' kind and the dir_lease type (directory leases). */
#define OP_FORMAT_VERSION 8
#define OP_FORMAT_OLDEST 1
/* The format that added the trailing request element to every type. */
#define OP_REQUEST_SINCE 4

/* [version, type, time_ns, uid, gid] before the args. */
#define OP_HEADER_ELEMENTS 5

/* Widest msgpack form of each element, for sizing the encode buffer. */
#define WIDE_ARRAY 5		/* dd + 32-bit count */
#define WIDE_U32 5		/* ce + 32 bits */
#define WIDE_U64 9		/* cf or d3 + 64 bits */
#define WIDE_BIN 5		/* c6 + 32-bit length, before the bytes */

/* Narrowest forms, for refusing counts the input cannot hold. */
#define LOC_MIN_SIZE 7		/* 94 00 00 c4 00 c4 00 */
#define GC_ENTRY_MIN_SIZE 3	/* 92 00 00 */
/* The format that gave gc_done entries their location. */
#define OP_GC_PLACE_SINCE 7
/* The format of directory leases: the session of the ops a lease blocks,
 * mknod's chosen ino, reserve_ids' kind, the dir_lease type. */
#define OP_LEASE_SINCE 8

enum field_kind {
	F_END = 0,	/* ends a field list */
	F_U32,
	F_U64,
	F_I64,
	F_BYTES,	/* struct wfs_meta_bytes, at most @max bytes */
	F_LOC,		/* struct wfs_meta_chunk_loc */
	F_CHUNKS,	/* u.stripe.nchunks + u.stripe.chunks */
	F_GC,		/* u.gc.nentries + u.gc.entries */
};

/* One positional argument: where it sits in struct wfs_meta_op. */
struct field {
	uint8_t kind;		/* enum field_kind */
	uint16_t off;		/* offsetof(struct wfs_meta_op, ...) */
	uint32_t max;		/* F_BYTES: the length limit */
	uint8_t since;		/* the format version that added it; 0: 1 */
};

/* The most args any type has (stripe_commit: 12), plus the F_END. */
#define OP_FIELDS_MAX 13

struct op_desc {
	const char *name;	/* NULL: not an op type */
	struct field fields[OP_FIELDS_MAX];
	uint8_t since;		/* the format version that added the type;
				 * 0: any (types before 7 were not checked) */
};

#define AT(member) offsetof(struct wfs_meta_op, u.member)
#define U32(member) { F_U32, AT(member), 0 }
#define U64(member) { F_U64, AT(member), 0 }
#define I64(member) { F_I64, AT(member), 0 }
#define BYTES(member, limit) { F_BYTES, AT(member), (limit) }
#define LOC(member) { F_LOC, AT(member), 0 }
#define CHUNKS { F_CHUNKS, AT(stripe), 0 }
#define GC { F_GC, AT(gc), 0 }
/* The op's session: a top-level member, not in the union, on the wire
 * last among the args of the types a lease can refuse. */
#define SESSION                                                               \
	{ F_U64, offsetof(struct wfs_meta_op, session), 0, OP_LEASE_SINCE }

/* The args of every op type, in wire order: the table above, as data. */
static const struct op_desc descs[WFS_META_OP_TYPE_COUNT] = {
	[WFS_META_OP_FORMAT] = { "format", {
		U32(format.root_mode), U32(format.k), U32(format.m),
		U32(format.chunk_size),
		BYTES(format.cluster_id, WFS_META_ID_MAX) } },
	[WFS_META_OP_MKNOD] = { "mknod", {
		U64(create.parent), BYTES(create.name, WFS_META_NAME_MAX),
		U32(create.mode), U64(create.rdev),
		{ F_U64, AT(create.ino), 0, OP_LEASE_SINCE }, SESSION } },
	[WFS_META_OP_MKDIR] = { "mkdir", {
		U64(create.parent), BYTES(create.name, WFS_META_NAME_MAX),
		U32(create.mode), SESSION } },
	[WFS_META_OP_SYMLINK] = { "symlink", {
		U64(create.parent), BYTES(create.name, WFS_META_NAME_MAX),
		U32(create.mode),
		BYTES(create.target, WFS_META_SYMLINK_MAX), SESSION } },
	[WFS_META_OP_LINK] = { "link", {
		U64(link.ino), U64(link.parent),
		BYTES(link.name, WFS_META_NAME_MAX), SESSION } },
	[WFS_META_OP_UNLINK] = { "unlink", {
		U64(remove.parent), BYTES(remove.name, WFS_META_NAME_MAX),
		{ F_U64, AT(remove.purge_ino), 0, 3 }, SESSION } },
	[WFS_META_OP_RMDIR] = { "rmdir", {
		U64(remove.parent), BYTES(remove.name, WFS_META_NAME_MAX),
		SESSION } },
	[WFS_META_OP_RENAME] = { "rename", {
		U64(rename.parent), BYTES(rename.name, WFS_META_NAME_MAX),
		U64(rename.new_parent),
		BYTES(rename.new_name, WFS_META_NAME_MAX),
		U32(rename.flags), SESSION } },
	[WFS_META_OP_SETATTR] = { "setattr", {
		U64(setattr.ino), U32(setattr.flags), U32(setattr.mode),
		U32(setattr.uid), U32(setattr.gid), U64(setattr.size),
		I64(setattr.atime_ns), I64(setattr.mtime_ns),
		I64(setattr.ctime_ns), SESSION } },
	[WFS_META_OP_SETXATTR] = { "setxattr", {
		U64(xattr.ino), BYTES(xattr.name, WFS_META_XATTR_NAME_MAX),
		BYTES(xattr.value, WFS_META_XATTR_VALUE_MAX),
		U32(xattr.flags), SESSION } },
	[WFS_META_OP_REMOVEXATTR] = { "removexattr", {
		U64(xattr.ino),
		BYTES(xattr.name, WFS_META_XATTR_NAME_MAX), SESSION } },
	[WFS_META_OP_PURGE] = { "purge", { U64(purge.ino) } },
	[WFS_META_OP_RESERVE_IDS] = { "reserve_ids", {
		U32(reserve.count),
		{ F_U32, AT(reserve.kind), 0, OP_LEASE_SINCE } } },
	[WFS_META_OP_STRIPE_COMMIT] = { "stripe_commit", {
		U64(stripe.ino), U64(stripe.sidx), U64(stripe.stripe_id),
		U64(stripe.expected_version), U32(stripe.kind),
		U32(stripe.k), U32(stripe.m), U32(stripe.chunk_size),
		U32(stripe.length), U64(stripe.file_size), CHUNKS,
		{ F_U64, AT(stripe.expected_length), 0, 2 } } },
	[WFS_META_OP_CHUNK_SET] = { "chunk_set", {
		U64(chunk.stripe_id), LOC(chunk.loc),
		{ F_BYTES, AT(chunk.from_node), WFS_META_ID_MAX, 6 },
		{ F_BYTES, AT(chunk.from_disk), WFS_META_ID_MAX, 6 } } },
	[WFS_META_OP_GC_DONE] = { "gc_done", { GC } },
	[WFS_META_OP_POLICY_SET] = { "policy_set", {
		U32(policy.id), BYTES(policy.name, WFS_META_NAME_MAX),
		U32(policy.k), U32(policy.m), U32(policy.chunk_size) } },
	[WFS_META_OP_DIR_POLICY] = { "dir_policy", {
		U64(dir_policy.ino), U32(dir_policy.policy_id) } },
	[WFS_META_OP_NODE_SET] = { "node_set", {
		BYTES(node.id, WFS_META_ID_MAX),
		BYTES(node.name, WFS_META_NAME_MAX),
		BYTES(node.addr, WFS_META_ADDR_MAX),
		U32(node.role), U32(node.state) } },
	[WFS_META_OP_NODE_REMOVE] = { "node_remove", {
		BYTES(node.id, WFS_META_ID_MAX) } },
	[WFS_META_OP_DISK_SET] = { "disk_set", {
		BYTES(disk.id, WFS_META_ID_MAX),
		BYTES(disk.node_id, WFS_META_ID_MAX),
		BYTES(disk.path, WFS_META_PATH_MAX),
		U64(disk.capacity), U64(disk.free), U32(disk.state),
		{ F_U32, AT(disk.keep_state), 0, 6 } } },
	[WFS_META_OP_SETTING_SET] = { "setting_set", {
		BYTES(setting.key, WFS_META_ID_MAX),
		BYTES(setting.value, WFS_META_SETTING_MAX) } },
	[WFS_META_OP_DISK_DRAIN] = { "disk_drain", {
		BYTES(drain.id, WFS_META_ID_MAX), U32(drain.draining) }, 7 },
	[WFS_META_OP_DIR_LEASE] = { "dir_lease", {
		U64(lease.ino), U64(lease.session), U32(lease.grant) },
		OP_LEASE_SINCE },
};

static const struct op_desc *desc_of(uint32_t type)
{
	if (type >= WFS_META_OP_TYPE_COUNT || !descs[type].name)
		return NULL;
	return &descs[type];
}

static unsigned nfields(const struct op_desc *d)
{
	unsigned n = 0;

	while (n < OP_FIELDS_MAX && d->fields[n].kind != F_END)
		n++;
	return n;
}

/* Whether field @f is on the wire in format @version.  New fields only
 * ever go at the end of a type's list, so an older op is a prefix. */
static bool field_in(const struct field *f, uint32_t version)
{
	return (f->since ? f->since : 1) <= version;
}

/* The args of @d that format @version carries. */
static unsigned nfields_in(const struct op_desc *d, uint32_t version)
{
	unsigned n = 0;

	for (const struct field *f = d->fields; f->kind != F_END; f++)
		n += field_in(f, version);
	return n;
}

/* A disk_set of format 6 as what it meant.  Format 6 kept "draining" in
 * the disk's state, and only three proposers wrote disk_set: an
 * operator's drain (state DRAINING, keep_state 0), an undrain (another
 * state, keep_state 0), and a node reporting its disk or joining
 * (keep_state DRAINING), which echoed DRAINING when it read it in the
 * record.  The first two become the disk_drain they were; the echo
 * becomes a plain report of an online disk (its real state was not in
 * it; the node's next report puts it right).  Any other disk_set is one
 * already (keep_state means nothing now). */
static void disk_set_v6(struct wfs_meta_op *op)
{
	struct wfs_meta_bytes id = op->u.disk.id;
	bool drained = op->u.disk.state == WFS_META_DISK_STATE_DRAINING_V6;

	if (op->u.disk.keep_state == 0) {
		memset(&op->u, 0, sizeof(op->u));
		op->type = WFS_META_OP_DISK_DRAIN;
		op->u.drain.id = id;
		op->u.drain.draining = drained;
	} else if (drained) {
		op->u.disk.state = 0;	/* placement's ONLINE */
	}
}

/* Give the fields an op of format @version lacks their defaults.  @buf
 * is the encoding: an empty byte string points into it, like every
 * decoded one. */
static void fill_defaults(struct wfs_meta_op *op, uint32_t version,
			  const void *buf)
{
	if (version < 6 && op->type == WFS_META_OP_CHUNK_SET) {
		op->u.chunk.from_node = (struct wfs_meta_bytes){ buf, 0 };
		op->u.chunk.from_disk = (struct wfs_meta_bytes){ buf, 0 };
	}
	/* unlink's purge_ino before version 3: 0, never purge; chunk_set's
	 * from_node and from_disk before 6: empty, a plain set; disk_set's
	 * keep_state before 6: 0; before 8, the session of every type that
	 * carries one: 0, no session (a lease refuses such an op, but no
	 * lease existed before 8), mknod's ino: 0, the next number, and
	 * reserve_ids' kind: 0, stripe ids (all as zeroed). */
	if (version < 2 && op->type == WFS_META_OP_STRIPE_COMMIT)
		op->u.stripe.expected_length = WFS_META_LENGTH_ANY;
	if (version == 6 && op->type == WFS_META_OP_DISK_SET)
		disk_set_v6(op);
}

const char *wfs_meta_op_name(uint32_t type)
{
	const struct op_desc *d = desc_of(type);

	return d ? d->name : "unknown";
}

/* The field at @f inside @op. */
static void *field_ptr(struct wfs_meta_op *op, const struct field *f)
{
	return (char *)op + f->off;
}

static const void *field_cptr(const struct wfs_meta_op *op,
			      const struct field *f)
{
	return (const char *)op + f->off;
}

/* ---- encoding ---- */

/* The encode buffer: sized by measure() before packing, so put() never
 * grows it; @overflow would mean measure() undercounted. */
struct wbuf {
	char *data;
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
	if (len) {
		memcpy(w->data + w->len, buf, len);
		w->len += len;
	}
	return 0;
}

/* Check @b against @max; add its widest encoding to *size. */
static int measure_bytes(const struct wfs_meta_bytes *b, size_t max,
			 size_t *size)
{
	if (b->len > max || (b->len && !b->data))
		return -EINVAL;
	*size += WIDE_BIN + b->len;
	return 0;
}

static int measure_loc(const struct wfs_meta_chunk_loc *loc, size_t *size)
{
	int rc;

	*size += WIDE_ARRAY + 2 * WIDE_U32;
	rc = measure_bytes(&loc->node, WFS_META_ID_MAX, size);
	if (rc == 0)
		rc = measure_bytes(&loc->disk, WFS_META_ID_MAX, size);
	return rc;
}

static int measure_chunks(const struct wfs_meta_op *op, size_t *size)
{
	uint32_t n = op->u.stripe.nchunks;
	int rc;

	if (n > WFS_META_CHUNKS_MAX || (n && !op->u.stripe.chunks))
		return -EINVAL;
	*size += WIDE_ARRAY;
	for (uint32_t i = 0; i < n; i++) {
		rc = measure_loc(&op->u.stripe.chunks[i], size);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int measure_gc(const struct wfs_meta_op *op, size_t *size)
{
	uint32_t n = op->u.gc.nentries;
	int rc = 0;

	if (n > WFS_META_GC_MAX || (n && !op->u.gc.entries))
		return -EINVAL;
	*size += WIDE_ARRAY + (size_t)n * (WIDE_ARRAY + WIDE_U64 + WIDE_U32);
	for (uint32_t i = 0; rc == 0 && i < n; i++) {
		const struct wfs_meta_gc_entry *e = &op->u.gc.entries[i];

		if (e->any_place)	/* the short form: no place */
			continue;
		rc = measure_bytes(&e->node, WFS_META_ID_MAX, size);
		if (rc == 0)
			rc = measure_bytes(&e->disk, WFS_META_ID_MAX, size);
	}
	return rc;
}

/* Check every arg of @op against its limit and add up the widest encoding
 * of the whole op in *size.  Returns 0 or -EINVAL. */
static int measure(const struct op_desc *d, const struct wfs_meta_op *op,
		   size_t *size)
{
	int rc = 0;

	*size = WIDE_ARRAY + 2 * WIDE_U32 + WIDE_U64 + 2 * WIDE_U32;
	for (const struct field *f = d->fields; f->kind != F_END; f++) {
		switch (f->kind) {
		case F_U32:
			*size += WIDE_U32;
			break;
		case F_U64:
		case F_I64:
			*size += WIDE_U64;
			break;
		case F_BYTES:
			rc = measure_bytes(field_cptr(op, f), f->max, size);
			break;
		case F_LOC:
			rc = measure_loc(field_cptr(op, f), size);
			break;
		case F_CHUNKS:
			rc = measure_chunks(op, size);
			break;
		case F_GC:
			rc = measure_gc(op, size);
			break;
		}
		if (rc < 0)
			return rc;
	}
	return measure_bytes(&op->request, WFS_META_REQUEST_MAX, size);
}

static void pack_bytes(msgpack_packer *pk, const struct wfs_meta_bytes *b)
{
	msgpack_pack_bin(pk, b->len);
	msgpack_pack_bin_body(pk, b->data, b->len);
}

static void pack_loc(msgpack_packer *pk, const struct wfs_meta_chunk_loc *loc)
{
	msgpack_pack_array(pk, 4);
	msgpack_pack_uint32(pk, loc->index);
	msgpack_pack_uint32(pk, loc->state);
	pack_bytes(pk, &loc->node);
	pack_bytes(pk, &loc->disk);
}

static void pack_chunks(msgpack_packer *pk, const struct wfs_meta_op *op)
{
	msgpack_pack_array(pk, op->u.stripe.nchunks);
	for (uint32_t i = 0; i < op->u.stripe.nchunks; i++)
		pack_loc(pk, &op->u.stripe.chunks[i]);
}

static void pack_gc(msgpack_packer *pk, const struct wfs_meta_op *op)
{
	msgpack_pack_array(pk, op->u.gc.nentries);
	for (uint32_t i = 0; i < op->u.gc.nentries; i++) {
		const struct wfs_meta_gc_entry *e = &op->u.gc.entries[i];

		msgpack_pack_array(pk, e->any_place ? 2 : 4);
		msgpack_pack_uint64(pk, e->stripe_id);
		msgpack_pack_uint32(pk, e->index);
		if (e->any_place)
			continue;
		pack_bytes(pk, &e->node);
		pack_bytes(pk, &e->disk);
	}
}

/* Pack @op, already checked by measure(), into @pk.  The packer's errors
 * are not checked call by call: the only one possible is running out of the
 * buffer, which struct wbuf records. */
static void pack_op(msgpack_packer *pk, const struct op_desc *d,
		    const struct wfs_meta_op *op)
{
	msgpack_pack_array(pk, OP_HEADER_ELEMENTS + nfields(d) + 1);
	msgpack_pack_uint32(pk, OP_FORMAT_VERSION);
	msgpack_pack_uint32(pk, op->type);
	msgpack_pack_int64(pk, op->time_ns);
	msgpack_pack_uint32(pk, op->uid);
	msgpack_pack_uint32(pk, op->gid);
	for (const struct field *f = d->fields; f->kind != F_END; f++) {
		switch (f->kind) {
		case F_U32:
			msgpack_pack_uint32(pk,
					    *(const uint32_t *)field_cptr(op, f));
			break;
		case F_U64:
			msgpack_pack_uint64(pk,
					    *(const uint64_t *)field_cptr(op, f));
			break;
		case F_I64:
			msgpack_pack_int64(pk,
					   *(const int64_t *)field_cptr(op, f));
			break;
		case F_BYTES:
			pack_bytes(pk, field_cptr(op, f));
			break;
		case F_LOC:
			pack_loc(pk, field_cptr(op, f));
			break;
		case F_CHUNKS:
			pack_chunks(pk, op);
			break;
		case F_GC:
			pack_gc(pk, op);
			break;
		}
	}
	pack_bytes(pk, &op->request);
}

int wfs_meta_op_encode(const struct wfs_meta_op *op, void **out, size_t *len)
{
	const struct op_desc *d = desc_of(op->type);
	struct wbuf w = { 0 };
	msgpack_packer pk;
	int rc;

	if (!d)
		return -EINVAL;
	rc = measure(d, op, &w.cap);
	if (rc < 0)
		return rc;
	w.data = wfs_malloc(w.cap);
	if (!w.data)
		return -ENOMEM;
	msgpack_packer_init(&pk, &w, put);
	pack_op(&pk, d, op);
	assert(!w.overflow);
	if (w.overflow) {
		wfs_free(w.data);
		return -EOVERFLOW;
	}
	*out = w.data;
	*len = w.len;
	return 0;
}

/* ---- decoding ---- */

/* A cursor over the caller's bytes.  Every read checks the bytes are there
 * before looking at them. */
struct rd {
	const uint8_t *p, *end;
};

static uint64_t be(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* Take the @n bytes after the format byte as a big-endian number. */
static int take(struct rd *r, unsigned n, uint64_t *v)
{
	if ((size_t)(r->end - r->p) < n)
		return -EPROTO;
	*v = be(r->p, n);
	r->p += n;
	return 0;
}

/* Read any msgpack integer.  *neg says whether it is below zero; then *v
 * holds its int64_t bit pattern, else its value. */
static int get_int(struct rd *r, uint64_t *v, bool *neg)
{
	uint8_t c;
	int rc;

	if (r->p == r->end)
		return -EPROTO;
	c = *r->p++;
	*neg = false;
	if (c <= 0x7f) {
		*v = c;
		return 0;
	}
	if (c >= 0xe0) {
		*v = (uint64_t)(int64_t)(int8_t)c;
		*neg = true;
		return 0;
	}
	if (c >= 0xcc && c <= 0xcf)
		return take(r, 1u << (c - 0xcc), v);
	if (c < 0xd0 || c > 0xd3)
		return -EPROTO;
	rc = take(r, 1u << (c - 0xd0), v);
	if (rc < 0)
		return rc;
	switch (c) {
	case 0xd0:
		*v = (uint64_t)(int64_t)(int8_t)*v;
		break;
	case 0xd1:
		*v = (uint64_t)(int64_t)(int16_t)*v;
		break;
	case 0xd2:
		*v = (uint64_t)(int64_t)(int32_t)*v;
		break;
	}
	*neg = (int64_t)*v < 0;
	return 0;
}

static int get_uint(struct rd *r, uint64_t max, uint64_t *v)
{
	bool neg;
	int rc = get_int(r, v, &neg);

	if (rc < 0)
		return rc;
	return neg || *v > max ? -EPROTO : 0;
}

static int get_u32(struct rd *r, uint32_t *v)
{
	uint64_t x;
	int rc = get_uint(r, UINT32_MAX, &x);

	*v = (uint32_t)x;
	return rc;
}

static int get_i64(struct rd *r, int64_t *v)
{
	uint64_t x;
	bool neg;
	int rc = get_int(r, &x, &neg);

	if (rc < 0)
		return rc;
	if (!neg && x > INT64_MAX)
		return -EPROTO;
	*v = (int64_t)x;
	return 0;
}

/* Read an array header of 0..@max elements, each at least @min_size bytes
 * long: a count the bytes left cannot hold is refused before anyone
 * allocates for it. */
static int get_array(struct rd *r, uint32_t max, size_t min_size,
		     uint32_t *n)
{
	uint64_t v;
	uint8_t c;
	int rc = 0;

	if (r->p == r->end)
		return -EPROTO;
	c = *r->p++;
	if (c >= 0x90 && c <= 0x9f)
		v = c & 0x0f;
	else if (c == 0xdc)
		rc = take(r, 2, &v);
	else if (c == 0xdd)
		rc = take(r, 4, &v);
	else
		return -EPROTO;
	if (rc < 0)
		return rc;
	if (v > max || v > (uint64_t)(r->end - r->p) / min_size)
		return -EPROTO;
	*n = (uint32_t)v;
	return 0;
}

/* Read a bin of at most @max bytes; @b points at them in the caller's
 * buffer. */
static int get_bytes(struct rd *r, size_t max, struct wfs_meta_bytes *b)
{
	uint64_t n;
	uint8_t c;
	int rc;

	if (r->p == r->end)
		return -EPROTO;
	c = *r->p++;
	if (c < 0xc4 || c > 0xc6)
		return -EPROTO;
	rc = take(r, 1u << (c - 0xc4), &n);
	if (rc < 0)
		return rc;
	if (n > max || n > (uint64_t)(r->end - r->p))
		return -EPROTO;
	b->data = r->p;
	b->len = n;
	r->p += n;
	return 0;
}

static int get_loc(struct rd *r, struct wfs_meta_chunk_loc *loc)
{
	uint32_t n;
	int rc;

	rc = get_array(r, 4, 1, &n);
	if (rc == 0 && n != 4)
		rc = -EPROTO;
	if (rc == 0)
		rc = get_u32(r, &loc->index);
	if (rc == 0)
		rc = get_u32(r, &loc->state);
	if (rc == 0)
		rc = get_bytes(r, WFS_META_ID_MAX, &loc->node);
	if (rc == 0)
		rc = get_bytes(r, WFS_META_ID_MAX, &loc->disk);
	return rc;
}

/* The chunks of a stripe_commit, into an array the op owns from the moment
 * it exists, so a failure further on frees it with the op. */
static int get_chunks(struct rd *r, struct wfs_meta_op *op)
{
	struct wfs_meta_chunk_loc *locs;
	uint32_t n;
	int rc;

	rc = get_array(r, WFS_META_CHUNKS_MAX, LOC_MIN_SIZE, &n);
	if (rc < 0 || n == 0)
		return rc;
	locs = wfs_calloc(n, sizeof(*locs));
	if (!locs)
		return -ENOMEM;
	op->u.stripe.chunks = locs;
	op->u.stripe.nchunks = n;
	for (uint32_t i = 0; i < n; i++) {
		rc = get_loc(r, &locs[i]);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* One gc entry of format @version: the short form (any place) or, since
 * 7, with its place. */
static int get_gc_entry(struct rd *r, struct wfs_meta_gc_entry *e,
			uint32_t version)
{
	uint32_t n;
	int rc;

	rc = get_array(r, 4, 1, &n);
	if (rc == 0 && n != 2 &&
	    (n != 4 || version < OP_GC_PLACE_SINCE))
		rc = -EPROTO;
	if (rc == 0)
		rc = get_uint(r, UINT64_MAX, &e->stripe_id);
	if (rc == 0)
		rc = get_u32(r, &e->index);
	if (rc < 0)
		return rc;
	if (n == 2) {
		e->node = (struct wfs_meta_bytes){ r->p, 0 };
		e->disk = (struct wfs_meta_bytes){ r->p, 0 };
		e->any_place = true;
		return 0;
	}
	rc = get_bytes(r, WFS_META_ID_MAX, &e->node);
	if (rc == 0)
		rc = get_bytes(r, WFS_META_ID_MAX, &e->disk);
	return rc;
}

static int get_gc(struct rd *r, struct wfs_meta_op *op, uint32_t version)
{
	struct wfs_meta_gc_entry *entries;
	uint32_t n;
	int rc;

	rc = get_array(r, WFS_META_GC_MAX, GC_ENTRY_MIN_SIZE, &n);
	if (rc < 0 || n == 0)
		return rc;
	entries = wfs_calloc(n, sizeof(*entries));
	if (!entries)
		return -ENOMEM;
	op->u.gc.entries = entries;
	op->u.gc.nentries = n;
	for (uint32_t i = 0; i < n; i++) {
		rc = get_gc_entry(r, &entries[i], version);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int get_field(struct rd *r, const struct field *f,
		     struct wfs_meta_op *op, uint32_t version)
{
	switch (f->kind) {
	case F_U32:
		return get_u32(r, field_ptr(op, f));
	case F_U64:
		return get_uint(r, UINT64_MAX, field_ptr(op, f));
	case F_I64:
		return get_i64(r, field_ptr(op, f));
	case F_BYTES:
		return get_bytes(r, f->max, field_ptr(op, f));
	case F_LOC:
		return get_loc(r, field_ptr(op, f));
	case F_CHUNKS:
		return get_chunks(r, op);
	case F_GC:
		return get_gc(r, op, version);
	}
	return -EPROTO;
}

/* Read [version, type, time_ns, uid, gid] and find the type's args. */
static int get_header(struct rd *r, struct wfs_meta_op *op,
		      const struct op_desc **d, uint32_t *version)
{
	uint32_t n;
	int rc;

	rc = get_array(r, UINT32_MAX, 1, &n);
	if (rc == 0)
		rc = get_u32(r, version);
	if (rc == 0 && (*version < OP_FORMAT_OLDEST ||
			*version > OP_FORMAT_VERSION))
		rc = -EPROTO;
	if (rc == 0)
		rc = get_u32(r, &op->type);
	if (rc < 0)
		return rc;
	*d = desc_of(op->type);
	if (!*d || (*d)->since > *version ||
	    n != OP_HEADER_ELEMENTS + nfields_in(*d, *version) +
			 (*version >= OP_REQUEST_SINCE))
		return -EPROTO;
	rc = get_i64(r, &op->time_ns);
	if (rc == 0)
		rc = get_u32(r, &op->uid);
	if (rc == 0)
		rc = get_u32(r, &op->gid);
	return rc;
}

int wfs_meta_op_decode(const void *buf, size_t len, struct wfs_meta_op *op)
{
	struct rd r = { buf, (const uint8_t *)buf + len };
	const struct op_desc *d;
	uint32_t version;
	int rc;

	memset(op, 0, sizeof(*op));
	if (!buf)
		return -EPROTO;
	rc = get_header(&r, op, &d, &version);
	if (rc < 0)
		goto out_release;
	for (const struct field *f = d->fields; f->kind != F_END; f++) {
		if (!field_in(f, version))
			continue;
		rc = get_field(&r, f, op, version);
		if (rc < 0)
			goto out_release;
	}
	if (version >= OP_REQUEST_SINCE) {
		rc = get_bytes(&r, WFS_META_REQUEST_MAX, &op->request);
		if (rc < 0)
			goto out_release;
	}
	if (r.p != r.end) {
		rc = -EPROTO;
		goto out_release;
	}
	fill_defaults(op, version, buf);
	return 0;

out_release:
	wfs_meta_op_release(op);
	return rc;
}

void wfs_meta_op_release(struct wfs_meta_op *op)
{
	if (op->type == WFS_META_OP_STRIPE_COMMIT)
		wfs_free((void *)op->u.stripe.chunks);
	else if (op->type == WFS_META_OP_GC_DONE)
		wfs_free((void *)op->u.gc.entries);
	memset(op, 0, sizeof(*op));
}
