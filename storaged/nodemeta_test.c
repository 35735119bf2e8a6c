/* Unit tests for storaged/nodemeta: the gossip meta codec (round trips,
 * truncation to what fits, the documented bytes, malformed and hostile
 * input), the rule for news worth publishing, and how gossip's view
 * overrides the metadata's disk records for placement. */
#include "storaged/nodemeta.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <msgpack/pack.h>

#include "mem/mem.h"
#include "placement/place.h"
#include "storaged/node_internal.h"
#include "tests/unit.h"

#define MIB (1ULL << 20)
#define GIB (1ULL << 30)

static uint64_t rng;

static void seed_rng(void)
{
	rng = wfs_test_seed() | 1;
}

static void random_addr(char *out)
{
	static const char chars[] = "0123456789abcdef.:[]-";
	unsigned len = (unsigned)(wfs_test_rand(&rng) % 40);

	/* Now and then the longest allowed. */
	if (wfs_test_rand(&rng) % 8 == 0)
		len = WFS_NODEMETA_ADDR_MAX;
	for (unsigned i = 0; i < len; i++)
		out[i] = chars[wfs_test_rand(&rng) % (sizeof(chars) - 1)];
	out[len] = '\0';
}

static uint64_t random_size(void)
{
	/* Every msgpack width: fixint, 8, 16, 32 and 64 bits. */
	switch (wfs_test_rand(&rng) % 5) {
	case 0: return wfs_test_rand(&rng) % 128;
	case 1: return 128 + wfs_test_rand(&rng) % 128;
	case 2: return wfs_test_rand(&rng) % 65536;
	case 3: return wfs_test_rand(&rng) % (1ULL << 32);
	default: return wfs_test_rand(&rng);
	}
}

static void random_disk(struct wfs_nodemeta_disk *d)
{
	wfs_test_fill(&rng, d->id, sizeof(d->id));
	d->capacity = random_size();
	d->free = random_size();
	d->state = (uint32_t)(wfs_test_rand(&rng) % 3);
}

static void random_meta(struct wfs_nodemeta *m, unsigned ndisks)
{
	memset(m, 0, sizeof(*m));
	random_addr(m->api);
	random_addr(m->peer);
	m->role = (uint32_t)(wfs_test_rand(&rng) % 4);
	m->ndisks = ndisks;
	for (unsigned i = 0; i < ndisks; i++)
		random_disk(&m->disks[i]);
}

static bool disks_equal(const struct wfs_nodemeta_disk *a,
			const struct wfs_nodemeta_disk *b)
{
	return memcmp(a->id, b->id, sizeof(a->id)) == 0 &&
	       a->capacity == b->capacity && a->free == b->free &&
	       a->state == b->state;
}

/* @got is @want with only its first got->ndisks disks. */
static bool meta_prefix(const struct wfs_nodemeta *want,
			const struct wfs_nodemeta *got)
{
	if (strcmp(want->api, got->api) != 0 ||
	    strcmp(want->peer, got->peer) != 0 || want->role != got->role ||
	    got->ndisks > want->ndisks)
		return false;
	for (unsigned i = 0; i < got->ndisks; i++)
		if (!disks_equal(&want->disks[i], &got->disks[i]))
			return false;
	return true;
}

/* ---- the codec ---- */

static void test_round_trip(void)
{
	unsigned char buf[WFS_NODEMETA_MAX];
	static struct wfs_nodemeta m, got;

	seed_rng();
	for (int round = 0; round < 2000; round++) {
		unsigned want = (unsigned)(wfs_test_rand(&rng) %
					   (WFS_NODEMETA_DISKS_MAX + 1));
		unsigned nd = 0;
		size_t len = 0;

		random_meta(&m, want);
		CU_ASSERT_EQUAL_FATAL(wfs_nodemeta_encode(&m, buf, sizeof(buf),
							  &len, &nd), 0);
		CU_ASSERT(len <= WFS_NODEMETA_MAX);
		CU_ASSERT(nd <= want);
		CU_ASSERT_EQUAL_FATAL(wfs_nodemeta_decode(buf, len, &got), 0);
		CU_ASSERT_EQUAL(got.ndisks, nd);
		CU_ASSERT(meta_prefix(&m, &got));
	}
}

/* Small disks figures and short addresses: a dozen disks always fit. */
static void test_all_fit(void)
{
	unsigned char buf[WFS_NODEMETA_MAX];
	static struct wfs_nodemeta m, got;
	unsigned nd = 0;
	size_t len = 0;

	seed_rng();
	memset(&m, 0, sizeof(m));
	strcpy(m.api, "storage-node-17.example.net:7400");
	strcpy(m.peer, "10.1.2.17:7401");
	m.role = WFS_NODEMETA_ROLE_STANDBY;
	m.ndisks = 12;
	for (unsigned i = 0; i < m.ndisks; i++) {
		wfs_test_fill(&rng, m.disks[i].id, WFS_NODEMETA_DISK_ID_LEN);
		m.disks[i].capacity = 8000 * GIB;
		m.disks[i].free = 5000 * GIB + i;
		m.disks[i].state = i == 3 ? WFS_PLACE_DISK_OFFLINE
					  : WFS_PLACE_DISK_ONLINE;
	}
	CU_ASSERT_EQUAL_FATAL(wfs_nodemeta_encode(&m, buf, sizeof(buf), &len,
						  &nd), 0);
	CU_ASSERT_EQUAL(nd, 12);
	CU_ASSERT_EQUAL_FATAL(wfs_nodemeta_decode(buf, len, &got), 0);
	CU_ASSERT_EQUAL(got.ndisks, 12);
	CU_ASSERT(meta_prefix(&m, &got));
	CU_ASSERT_EQUAL(got.disks[3].state, WFS_PLACE_DISK_OFFLINE);
}

/* More disks than fit: the first ones that fit, exactly as many as fit
 * (one more would not), in any buffer size. */
static void test_truncated_to_fit(void)
{
	/* A disk here: fixarray 1, bin8 2 + 16, two u64 9 + 9, state 1. */
	const size_t disk_bytes = 38;
	unsigned char buf[WFS_NODEMETA_MAX + 64];
	static struct wfs_nodemeta m, got;

	seed_rng();
	random_meta(&m, WFS_NODEMETA_DISKS_MAX);
	strcpy(m.api, "10.0.0.1:7400");
	strcpy(m.peer, "10.0.0.1:7401");
	for (unsigned i = 0; i < m.ndisks; i++) {
		m.disks[i].capacity = 16000 * GIB;	/* 9-byte figures */
		m.disks[i].free = 9000 * GIB;
	}
	for (size_t cap = 0; cap <= sizeof(buf); cap++) {
		size_t room = cap < WFS_NODEMETA_MAX ? cap : WFS_NODEMETA_MAX;
		unsigned nd = 0;
		size_t len = 0;
		int rc = wfs_nodemeta_encode(&m, buf, cap, &len, &nd);

		if (rc == -EMSGSIZE) {
			CU_ASSERT(cap < 40);
			continue;
		}
		CU_ASSERT_EQUAL_FATAL(rc, 0);
		CU_ASSERT(len <= room);
		CU_ASSERT(nd < WFS_NODEMETA_DISKS_MAX);
		/* One disk more (and a wider array header at 16) would not
		 * have fitted. */
		CU_ASSERT(len + disk_bytes + (nd + 1 == 16 ? 2 : 0) > room);
		CU_ASSERT_EQUAL_FATAL(wfs_nodemeta_decode(buf, len, &got), 0);
		CU_ASSERT_EQUAL(got.ndisks, nd);
		CU_ASSERT(meta_prefix(&m, &got));
	}
}

/* The bytes nodemeta.c documents. */
static void test_documented_bytes(void)
{
	static const unsigned char full[] = { 0x85, 0x00, 0x01, 0x01, 0xa0,
					      0x02, 0xa0, 0x03, 0x01, 0x04,
					      0x90 };
	static const unsigned char sparse[] = { 0x83, 0x00, 0x01, 0x03, 0x01,
						0x04, 0x90 };
	unsigned char buf[WFS_NODEMETA_MAX];
	static struct wfs_nodemeta m, got;
	unsigned nd = 1;
	size_t len = 0;

	memset(&m, 0, sizeof(m));
	m.role = WFS_NODEMETA_ROLE_VOTER;
	CU_ASSERT_EQUAL_FATAL(wfs_nodemeta_encode(&m, buf, sizeof(buf), &len,
						  &nd), 0);
	CU_ASSERT_EQUAL(nd, 0);
	CU_ASSERT_EQUAL_FATAL(len, sizeof(full));
	CU_ASSERT(memcmp(buf, full, len) == 0);
	CU_ASSERT_EQUAL(wfs_nodemeta_decode(sparse, sizeof(sparse), &got), 0);
	CU_ASSERT_EQUAL(got.role, WFS_NODEMETA_ROLE_VOTER);
	CU_ASSERT_STRING_EQUAL(got.api, "");
	CU_ASSERT_EQUAL(got.ndisks, 0);
	/* Only the version is required. */
	CU_ASSERT_EQUAL(wfs_nodemeta_decode("\x81\x00\x01", 3, &got), 0);
	CU_ASSERT_EQUAL(got.role, WFS_NODEMETA_ROLE_UNKNOWN);
}

static void test_encode_refuses(void)
{
	unsigned char buf[WFS_NODEMETA_MAX];
	static struct wfs_nodemeta m;
	unsigned nd;
	size_t len;

	memset(&m, 0, sizeof(m));
	m.role = WFS_NODEMETA_ROLE_SPARE + 1;
	CU_ASSERT_EQUAL(wfs_nodemeta_encode(&m, buf, sizeof(buf), &len, &nd),
			-EINVAL);
	m.role = 0;
	m.ndisks = 1;
	m.disks[0].state = WFS_PLACE_DISK_DRAINING + 1;
	CU_ASSERT_EQUAL(wfs_nodemeta_encode(&m, buf, sizeof(buf), &len, &nd),
			-EINVAL);
	m.disks[0].state = 0;
	m.ndisks = WFS_NODEMETA_DISKS_MAX + 1;
	CU_ASSERT_EQUAL(wfs_nodemeta_encode(&m, buf, sizeof(buf), &len, &nd),
			-EINVAL);
	m.ndisks = 0;
	memset(m.api, 'a', sizeof(m.api));	/* no NUL: too long */
	CU_ASSERT_EQUAL(wfs_nodemeta_encode(&m, buf, sizeof(buf), &len, &nd),
			-EINVAL);
	m.api[0] = '\0';
	CU_ASSERT_EQUAL(wfs_nodemeta_encode(&m, buf, 5, &len, &nd),
			-EMSGSIZE);
}

/* ---- hand-built input ---- */

struct mbuf {
	unsigned char data[4096];
	size_t len;
};

static int mput(void *data, const char *buf, size_t len)
{
	struct mbuf *b = data;

	if (len > sizeof(b->data) - b->len)
		return -1;
	memcpy(b->data + b->len, buf, len);
	b->len += len;
	return 0;
}

static void mp_init(struct mbuf *b, msgpack_packer *pk)
{
	b->len = 0;
	msgpack_packer_init(pk, b, mput);
}

static void mp_disk(msgpack_packer *pk, unsigned fields, size_t idlen,
		    uint64_t state)
{
	static const unsigned char id[32];

	msgpack_pack_array(pk, fields);
	msgpack_pack_bin(pk, idlen);
	msgpack_pack_bin_body(pk, id, idlen);
	msgpack_pack_uint64(pk, 100 * GIB);
	msgpack_pack_uint64(pk, 50 * GIB);
	if (fields > 3)
		msgpack_pack_uint32(pk, (uint32_t)state);
	if (fields > 4)
		msgpack_pack_nil(pk);
}

static int decode(const struct mbuf *b)
{
	static struct wfs_nodemeta got;

	return wfs_nodemeta_decode(b->data, b->len, &got);
}

static int raw(const char *bytes, size_t len)
{
	static struct wfs_nodemeta got;

	return wfs_nodemeta_decode(bytes, len, &got);
}

static void test_wrong_forms(void)
{
	struct mbuf b;
	msgpack_packer pk;

	/* Another version, of any layout after it. */
	mp_init(&b, &pk);
	msgpack_pack_map(&pk, 2);
	msgpack_pack_uint32(&pk, 0);
	msgpack_pack_uint32(&pk, 2);
	msgpack_pack_uint32(&pk, 1);
	msgpack_pack_str(&pk, 3);
	msgpack_pack_str_body(&pk, "x:1", 3);
	CU_ASSERT_EQUAL(decode(&b), -EPROTONOSUPPORT);
	/* Not a map; an empty map; version not first. */
	CU_ASSERT_EQUAL(raw("\x92\x00\x01", 3), -EPROTO);
	CU_ASSERT_EQUAL(raw("\x80", 1),
			-EPROTO);
	CU_ASSERT_EQUAL(raw("\x82\x03\x01\x00\x01", 5),
			-EPROTO);
	/* Version as a str; a signed version. */
	CU_ASSERT_EQUAL(raw("\x81\x00\xa1\x31", 4),
			-EPROTO);
	CU_ASSERT_EQUAL(raw("\x81\x00\xd0\x01", 4),
			-EPROTO);
	/* Keys twice, or out of order. */
	CU_ASSERT_EQUAL(raw("\x83\x00\x01\x03\x01\x03\x01", 7),
			-EPROTO);
	CU_ASSERT_EQUAL(raw("\x83\x00\x01\x03\x01\x02\xa0", 7),
			-EPROTO);
	/* Role out of range or of another form; an address as bin. */
	CU_ASSERT_EQUAL(raw("\x82\x00\x01\x03\x04", 5),
			-EPROTO);
	CU_ASSERT_EQUAL(raw("\x82\x00\x01\x03\xc3", 5),
			-EPROTO);
	CU_ASSERT_EQUAL(raw("\x82\x00\x01\x01\xc4\x01\x41", 7),
			-EPROTO);
	/* A NUL inside an address. */
	CU_ASSERT_EQUAL(raw("\x82\x00\x01\x01\xa3" "a\0b", 8),
			-EPROTO);
	/* A trailing byte; a map that claims more than there is. */
	CU_ASSERT_EQUAL(raw("\x81\x00\x01\x00", 4),
			-EPROTO);
	CU_ASSERT_EQUAL(raw("\xdf\xff\xff\xff\xff\x00\x01", 7),
			-EPROTO);
}

/* A meta whose disks list is @ndisks disks shaped by the arguments. */
static int decode_disks(unsigned ndisks, unsigned fields, size_t idlen,
			uint64_t state)
{
	struct mbuf b;
	msgpack_packer pk;

	mp_init(&b, &pk);
	msgpack_pack_map(&pk, 2);
	msgpack_pack_uint32(&pk, 0);
	msgpack_pack_uint32(&pk, 1);
	msgpack_pack_uint32(&pk, 4);
	msgpack_pack_array(&pk, ndisks);
	for (unsigned i = 0; i < ndisks; i++)
		mp_disk(&pk, fields, idlen, state);
	return b.len <= WFS_NODEMETA_MAX ? decode(&b) : -EMSGSIZE;
}

static void test_wrong_disks(void)
{
	CU_ASSERT_EQUAL(decode_disks(2, 4, 16, WFS_PLACE_DISK_OFFLINE), 0);
	CU_ASSERT_EQUAL(decode_disks(2, 4, 16, WFS_PLACE_DISK_DRAINING), 0);
	CU_ASSERT_EQUAL(decode_disks(2, 4, 16, 3), -EPROTO);
	CU_ASSERT_EQUAL(decode_disks(1, 3, 16, 0), -EPROTO);
	CU_ASSERT_EQUAL(decode_disks(1, 5, 16, 0), -EPROTO);
	CU_ASSERT_EQUAL(decode_disks(1, 4, 15, 0), -EPROTO);
	CU_ASSERT_EQUAL(decode_disks(1, 4, 32, 0), -EPROTO);
	/* Over the count any valid meta can hold, even in few bytes. */
	CU_ASSERT_EQUAL(raw("\x82\x00\x01\x04\xdc\x00\x31", 7),
			-EPROTO);
	CU_ASSERT_EQUAL(raw("\x82\x00\x01\x04\xdd\xff\xff"
					    "\xff\xff", 9),
			-EPROTO);
}

static void test_oversize(void)
{
	static unsigned char buf[WFS_NODEMETA_MAX + 1];
	static struct wfs_nodemeta got;

	/* A valid meta padded by an unknown key to one byte over. */
	buf[0] = 0x82;
	buf[1] = 0x00;
	buf[2] = 0x01;
	buf[3] = 0x09;
	buf[4] = 0xc5;
	buf[5] = (WFS_NODEMETA_MAX + 1 - 7) >> 8;
	buf[6] = (WFS_NODEMETA_MAX + 1 - 7) & 0xff;
	CU_ASSERT_EQUAL(wfs_nodemeta_decode(buf, sizeof(buf), &got),
			-EMSGSIZE);
	buf[6]--;
	CU_ASSERT_EQUAL(wfs_nodemeta_decode(buf, sizeof(buf) - 1, &got), 0);
}

/* Keys a later version may add are skipped, whatever they hold. */
static void test_unknown_keys(void)
{
	static const unsigned char ext[4] = { 1, 2, 3, 4 };
	static const unsigned char zeros[300];
	static struct wfs_nodemeta got;
	struct mbuf b;
	msgpack_packer pk;

	mp_init(&b, &pk);
	msgpack_pack_map(&pk, 5);
	msgpack_pack_uint32(&pk, 0);
	msgpack_pack_uint32(&pk, 1);
	msgpack_pack_uint32(&pk, 3);
	msgpack_pack_uint32(&pk, 2);
	msgpack_pack_uint32(&pk, 7);
	msgpack_pack_map(&pk, 2);
	msgpack_pack_str(&pk, 1);
	msgpack_pack_str_body(&pk, "a", 1);
	msgpack_pack_array(&pk, 7);
	msgpack_pack_double(&pk, 1.5);
	msgpack_pack_int64(&pk, -5000000000LL);
	msgpack_pack_true(&pk);
	msgpack_pack_nil(&pk);
	msgpack_pack_ext(&pk, 3, 9);		/* ext8 */
	msgpack_pack_ext_body(&pk, ext, 3);
	msgpack_pack_ext(&pk, sizeof(ext), 1);	/* fixext4 */
	msgpack_pack_ext_body(&pk, ext, sizeof(ext));
	msgpack_pack_float(&pk, 2.5f);
	msgpack_pack_uint8(&pk, 0);
	msgpack_pack_int8(&pk, -1);
	msgpack_pack_uint32(&pk, 8);
	msgpack_pack_bin(&pk, sizeof(zeros));	/* bin16 */
	msgpack_pack_bin_body(&pk, zeros, sizeof(zeros));
	msgpack_pack_uint32(&pk, 1000);
	msgpack_pack_str(&pk, 40);
	msgpack_pack_str_body(&pk, "0123456789012345678901234567890123456789",
			      40);
	CU_ASSERT_EQUAL_FATAL(wfs_nodemeta_decode(b.data, b.len, &got), 0);
	CU_ASSERT_EQUAL(got.role, 2);

	/* Nested deeper than the skipper goes: refused, not recursed. */
	mp_init(&b, &pk);
	msgpack_pack_map(&pk, 2);
	msgpack_pack_uint32(&pk, 0);
	msgpack_pack_uint32(&pk, 1);
	msgpack_pack_uint32(&pk, 5);
	for (int i = 0; i < 600; i++)
		msgpack_pack_array(&pk, 1);
	msgpack_pack_nil(&pk);
	CU_ASSERT_EQUAL(decode(&b), -EPROTO);
	/* The never-used byte c1. */
	CU_ASSERT_EQUAL(wfs_nodemeta_decode("\x82\x00\x01\x05\xc1", 5, &got),
			-EPROTO);
}

/* Every cut of a valid meta is refused; random damage never crashes and
 * whatever still decodes is within the format's bounds. */
static void test_cut_and_damaged(void)
{
	unsigned char buf[WFS_NODEMETA_MAX], bad[WFS_NODEMETA_MAX];
	static struct wfs_nodemeta m, got;
	unsigned nd;
	size_t len;

	seed_rng();
	random_meta(&m, 10);
	CU_ASSERT_EQUAL_FATAL(wfs_nodemeta_encode(&m, buf, sizeof(buf), &len,
						  &nd), 0);
	for (size_t cut = 0; cut < len; cut++)
		CU_ASSERT_EQUAL(wfs_nodemeta_decode(buf, cut, &got), -EPROTO);
	for (int round = 0; round < 20000; round++) {
		int flips = 1 + (int)(wfs_test_rand(&rng) % 4), rc;

		memcpy(bad, buf, len);
		for (int i = 0; i < flips; i++)
			bad[wfs_test_rand(&rng) % len] =
				(unsigned char)wfs_test_rand(&rng);
		rc = wfs_nodemeta_decode(bad, len, &got);
		CU_ASSERT(rc == 0 || rc == -EPROTO || rc == -EPROTONOSUPPORT);
		if (rc == 0) {
			CU_ASSERT(got.ndisks <= WFS_NODEMETA_DISKS_MAX);
			CU_ASSERT(got.role <= WFS_NODEMETA_ROLE_SPARE);
			CU_ASSERT(strlen(got.api) <= WFS_NODEMETA_ADDR_MAX);
		}
	}
}

/* ---- what is worth publishing ---- */

static void base_meta(struct wfs_nodemeta *m)
{
	memset(m, 0, sizeof(*m));
	strcpy(m->api, "10.0.0.1:7400");
	strcpy(m->peer, "10.0.0.1:7401");
	m->role = WFS_NODEMETA_ROLE_VOTER;
	m->ndisks = 3;
	for (unsigned i = 0; i < 3; i++) {
		memset(m->disks[i].id, 0x10 + (int)i, WFS_NODEMETA_DISK_ID_LEN);
		m->disks[i].state = WFS_PLACE_DISK_ONLINE;
	}
	m->disks[0].capacity = 1 * GIB;		/* slack: 1% */
	m->disks[0].free = 512 * MIB;
	m->disks[1].capacity = 100 * GIB;	/* 1% is over 64 MiB */
	m->disks[1].free = 50 * GIB;
	m->disks[2].capacity = 0;		/* a disk it cannot measure */
	m->disks[2].free = 0;
}

static void test_differs(void)
{
	static struct wfs_nodemeta was, now;
	uint64_t pct = GIB / 100;

	base_meta(&was);
	now = was;
	CU_ASSERT_FALSE(wfs_nodemeta_differs(&was, &now));
	/* Free space: under the slack is not news, the slack is. */
	now.disks[0].free = was.disks[0].free - (pct - 1);
	CU_ASSERT_FALSE(wfs_nodemeta_differs(&was, &now));
	now.disks[0].free = was.disks[0].free - pct;
	CU_ASSERT_TRUE(wfs_nodemeta_differs(&was, &now));
	now.disks[0].free = was.disks[0].free + pct;
	CU_ASSERT_TRUE(wfs_nodemeta_differs(&was, &now));
	now = was;
	now.disks[1].free = was.disks[1].free - (64 * MIB - 1);
	CU_ASSERT_FALSE(wfs_nodemeta_differs(&was, &now));
	now.disks[1].free = was.disks[1].free - 64 * MIB;
	CU_ASSERT_TRUE(wfs_nodemeta_differs(&was, &now));
	now = was;
	now.disks[2].free = 1;
	CU_ASSERT_TRUE(wfs_nodemeta_differs(&was, &now));
	/* State, capacity, addresses, role. */
	now = was;
	now.disks[1].state = WFS_PLACE_DISK_OFFLINE;
	CU_ASSERT_TRUE(wfs_nodemeta_differs(&was, &now));
	now = was;
	now.disks[1].capacity += 1;
	CU_ASSERT_TRUE(wfs_nodemeta_differs(&was, &now));
	now = was;
	strcpy(now.api, "10.0.0.1:7402");
	CU_ASSERT_TRUE(wfs_nodemeta_differs(&was, &now));
	now = was;
	now.peer[0] = '\0';
	CU_ASSERT_TRUE(wfs_nodemeta_differs(&was, &now));
	now = was;
	now.role = WFS_NODEMETA_ROLE_STANDBY;
	CU_ASSERT_TRUE(wfs_nodemeta_differs(&was, &now));
	/* Disks gone, added, replaced; the order alone is not news. */
	now = was;
	now.ndisks = 2;
	CU_ASSERT_TRUE(wfs_nodemeta_differs(&was, &now));
	now = was;
	now.ndisks = 4;
	memset(now.disks[3].id, 0x77, WFS_NODEMETA_DISK_ID_LEN);
	CU_ASSERT_TRUE(wfs_nodemeta_differs(&was, &now));
	now = was;
	now.disks[2].id[5] ^= 1;
	CU_ASSERT_TRUE(wfs_nodemeta_differs(&was, &now));
	now = was;
	now.disks[0] = was.disks[2];
	now.disks[2] = was.disks[0];
	CU_ASSERT_FALSE(wfs_nodemeta_differs(&was, &now));
}

static void test_disk_id(void)
{
	unsigned char id[WFS_NODEMETA_DISK_ID_LEN];

	CU_ASSERT_EQUAL(wfs_nodemeta_disk_id(
				"00112233445566778899aabbccddeeff", id), 0);
	CU_ASSERT_EQUAL(id[0], 0x00);
	CU_ASSERT_EQUAL(id[9], 0x99);
	CU_ASSERT_EQUAL(id[15], 0xff);
	CU_ASSERT_EQUAL(wfs_nodemeta_disk_id(
				"00112233445566778899aabbccddeef", id), -EINVAL);
	CU_ASSERT_EQUAL(wfs_nodemeta_disk_id(
				"00112233445566778899aabbccddeeff0", id),
			-EINVAL);
	CU_ASSERT_EQUAL(wfs_nodemeta_disk_id(
				"00112233445566778899aabbccddeegg", id),
			-EINVAL);
	CU_ASSERT_EQUAL(wfs_nodemeta_disk_id("", id), -EINVAL);
	CU_ASSERT_EQUAL(wfs_nodemeta_disk_id("d1", id), -EINVAL);
}

/* ---- gossip over the records ---- */

static void test_overlay_rule(void)
{
	struct wfs_nodemeta_disk g = { .capacity = 10 * GIB, .free = 3 * GIB };
	struct wfs_place_disk d = { "n1", "d1", 20 * GIB, 9 * GIB,
				    WFS_PLACE_DISK_ONLINE };

	/* Offline in gossip: offline at once, whatever the record says. */
	g.state = WFS_PLACE_DISK_OFFLINE;
	wfs_nodemeta_overlay(&g, &d);
	CU_ASSERT_EQUAL(d.state, WFS_PLACE_DISK_OFFLINE);
	CU_ASSERT_EQUAL(d.capacity, 10 * GIB);
	CU_ASSERT_EQUAL(d.free, 3 * GIB);
	CU_ASSERT_STRING_EQUAL(d.node_id, "n1");
	CU_ASSERT_STRING_EQUAL(d.disk_id, "d1");
	/* Back online in gossip before the record says so. */
	g.state = WFS_PLACE_DISK_ONLINE;
	wfs_nodemeta_overlay(&g, &d);
	CU_ASSERT_EQUAL(d.state, WFS_PLACE_DISK_ONLINE);
	/* Draining is the operator's: gossip's online does not undo it,
	 * gossip's offline is stronger. */
	d.state = WFS_PLACE_DISK_DRAINING;
	wfs_nodemeta_overlay(&g, &d);
	CU_ASSERT_EQUAL(d.state, WFS_PLACE_DISK_DRAINING);
	g.state = WFS_PLACE_DISK_OFFLINE;
	wfs_nodemeta_overlay(&g, &d);
	CU_ASSERT_EQUAL(d.state, WFS_PLACE_DISK_OFFLINE);
	d.state = WFS_PLACE_DISK_ONLINE;
	g.state = WFS_PLACE_DISK_DRAINING;
	wfs_nodemeta_overlay(&g, &d);
	CU_ASSERT_EQUAL(d.state, WFS_PLACE_DISK_DRAINING);
}

/* The state placement sees for a disk recorded with a state and a
 * draining flag (wfs_node_place_state, applied after the overlay, which
 * knows nothing of the flag): gossip cannot clear a drain, a draining
 * disk that fails is offline (repair counts it lost), and one that comes
 * back drains again. */
static void test_place_state(void)
{
	struct wfs_nodemeta_disk g = { .capacity = GIB, .free = GIB };
	struct wfs_place_disk d = { "n1", "d1", GIB, GIB,
				    WFS_PLACE_DISK_OFFLINE };

	CU_ASSERT_EQUAL(wfs_node_place_state(WFS_PLACE_DISK_ONLINE, false),
			WFS_PLACE_DISK_ONLINE);
	CU_ASSERT_EQUAL(wfs_node_place_state(WFS_PLACE_DISK_OFFLINE, false),
			WFS_PLACE_DISK_OFFLINE);
	CU_ASSERT_EQUAL(wfs_node_place_state(WFS_PLACE_DISK_ONLINE, true),
			WFS_PLACE_DISK_DRAINING);
	CU_ASSERT_EQUAL(wfs_node_place_state(WFS_PLACE_DISK_OFFLINE, true),
			WFS_PLACE_DISK_OFFLINE);
	/* recorded offline and draining, back online in gossip: draining */
	g.state = WFS_PLACE_DISK_ONLINE;
	wfs_nodemeta_overlay(&g, &d);
	CU_ASSERT_EQUAL(wfs_node_place_state(d.state, true),
			WFS_PLACE_DISK_DRAINING);
	/* recorded online and draining, offline in gossip: offline */
	d.state = WFS_PLACE_DISK_ONLINE;
	g.state = WFS_PLACE_DISK_OFFLINE;
	wfs_nodemeta_overlay(&g, &d);
	CU_ASSERT_EQUAL(wfs_node_place_state(d.state, true),
			WFS_PLACE_DISK_OFFLINE);
}

#define HEX_A0 "a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0"
#define HEX_A1 "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1"
#define HEX_B0 "b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0"
#define HEX_B1 "b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1"
#define HEX_C0 "c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0"

/* The records placement would read: five disks on three nodes, all
 * online with plenty of room. */
static void records(struct wfs_place_disk *d)
{
	static const char *const ids[5] = { HEX_A0, HEX_A1, HEX_B0, HEX_B1,
					    HEX_C0 };
	static const char *const nodes[5] = { "na", "na", "nb", "nb", "nc" };

	for (int i = 0; i < 5; i++)
		d[i] = (struct wfs_place_disk){ nodes[i], ids[i], 100 * GIB,
						80 * GIB,
						WFS_PLACE_DISK_ONLINE };
}

static void meta_of(struct wfs_nodemeta *m, const char *const *hex,
		    const uint32_t *state, const uint64_t *free, unsigned n)
{
	memset(m, 0, sizeof(*m));
	m->ndisks = n;
	for (unsigned i = 0; i < n; i++) {
		CU_ASSERT_EQUAL(wfs_nodemeta_disk_id(hex[i], m->disks[i].id),
				0);
		m->disks[i].capacity = 100 * GIB;
		m->disks[i].free = free[i];
		m->disks[i].state = state[i];
	}
}

static void test_view_overlay(void)
{
	static const char *const a_ids[2] = { HEX_A0, HEX_A1 };
	static const char *const b_ids[1] = { HEX_B1 };
	static const uint32_t a_state[2] = { WFS_PLACE_DISK_ONLINE,
					     WFS_PLACE_DISK_OFFLINE };
	static const uint64_t a_free[2] = { 7 * GIB, 80 * GIB };
	static const uint32_t b_state[1] = { WFS_PLACE_DISK_ONLINE };
	static const uint64_t b_free[1] = { 0 };
	static struct wfs_nodemeta ma, mb;
	struct wfs_place_disk d[5];
	struct wfs_nodeview *v;

	CU_ASSERT_EQUAL_FATAL(wfs_nodeview_new(&v), 0);
	records(d);
	CU_ASSERT_EQUAL(wfs_nodeview_overlay(v, d, 5), 0);
	CU_ASSERT_EQUAL(wfs_nodeview_overlay(NULL, d, 5), 0);

	meta_of(&ma, a_ids, a_state, a_free, 2);
	meta_of(&mb, b_ids, b_state, b_free, 1);
	CU_ASSERT_EQUAL(wfs_nodeview_set(v, "na", &ma), 0);
	CU_ASSERT_EQUAL(wfs_nodeview_set(v, "nb", &mb), 0);
	CU_ASSERT_EQUAL(wfs_nodeview_count(v), 2);
	CU_ASSERT_EQUAL(wfs_nodeview_overlay(v, d, 5), 3);
	CU_ASSERT_EQUAL(d[0].state, WFS_PLACE_DISK_ONLINE);
	CU_ASSERT_EQUAL(d[0].free, 7 * GIB);
	CU_ASSERT_EQUAL(d[1].state, WFS_PLACE_DISK_OFFLINE);
	/* nb's meta does not name b0: its record stands. */
	CU_ASSERT_EQUAL(d[2].free, 80 * GIB);
	CU_ASSERT_EQUAL(d[3].free, 0);
	/* nc has no view. */
	CU_ASSERT_EQUAL(d[4].free, 80 * GIB);

	/* A node that gossip no longer vouches for: records again. */
	CU_ASSERT_EQUAL(wfs_nodeview_set(v, "na", NULL), 0);
	CU_ASSERT_EQUAL(wfs_nodeview_count(v), 1);
	records(d);
	CU_ASSERT_EQUAL(wfs_nodeview_overlay(v, d, 5), 1);
	CU_ASSERT_EQUAL(d[1].state, WFS_PLACE_DISK_ONLINE);
	CU_ASSERT_EQUAL(d[3].free, 0);
	CU_ASSERT_EQUAL(wfs_nodeview_set(v, "nz", NULL), 0);

	/* Newer news replaces older; a record whose id is not a disk id
	 * is left alone. */
	mb.disks[0].state = WFS_PLACE_DISK_OFFLINE;
	CU_ASSERT_EQUAL(wfs_nodeview_set(v, "nb", &mb), 0);
	records(d);
	d[3].disk_id = "b1";
	CU_ASSERT_EQUAL(wfs_nodeview_overlay(v, d, 5), 0);
	d[3].disk_id = HEX_B1;
	CU_ASSERT_EQUAL(wfs_nodeview_overlay(v, d, 5), 1);
	CU_ASSERT_EQUAL(d[3].state, WFS_PLACE_DISK_OFFLINE);

	CU_ASSERT_EQUAL(wfs_nodeview_set(v, "", &ma), -EINVAL);
	wfs_nodeview_free(v);
	wfs_nodeview_free(NULL);
}

/* Many nodes (the table grows), each coming and going. */
static void test_view_many(void)
{
	static struct wfs_nodemeta m;
	struct wfs_place_disk d;
	struct wfs_nodeview *v;
	char id[16];

	CU_ASSERT_EQUAL_FATAL(wfs_nodeview_new(&v), 0);
	memset(&m, 0, sizeof(m));
	m.ndisks = 1;
	CU_ASSERT_EQUAL(wfs_nodemeta_disk_id(HEX_C0, m.disks[0].id), 0);
	for (int i = 0; i < 100; i++) {
		snprintf(id, sizeof(id), "n%d", i);
		m.disks[0].free = (uint64_t)i;
		CU_ASSERT_EQUAL(wfs_nodeview_set(v, id, &m), 0);
	}
	for (int i = 0; i < 100; i += 2) {
		snprintf(id, sizeof(id), "n%d", i);
		CU_ASSERT_EQUAL(wfs_nodeview_set(v, id, NULL), 0);
	}
	CU_ASSERT_EQUAL(wfs_nodeview_count(v), 50);
	for (int i = 0; i < 100; i++) {
		snprintf(id, sizeof(id), "n%d", i);
		d = (struct wfs_place_disk){ id, HEX_C0, 1, 1000, 0 };
		CU_ASSERT_EQUAL(wfs_nodeview_overlay(v, &d, 1), (size_t)(i & 1));
		CU_ASSERT_EQUAL(d.free, i & 1 ? (uint64_t)i : 1000);
	}
	wfs_nodeview_free(v);
}

/* Out of memory growing the table: -ENOMEM, and the nodes already there
 * keep their view. */
static void test_view_nomem(void)
{
	static struct wfs_nodemeta m;
	struct wfs_place_disk d = { "n0", HEX_C0, 1, 1000, 0 };
	struct wfs_nodeview *v;
	char id[16];
	int rc = 0, i;

	wfs_mem_fail_after(0);
	CU_ASSERT_EQUAL(wfs_nodeview_new(&v), -ENOMEM);
	wfs_mem_fail_after(-1);
	CU_ASSERT_PTR_NULL(v);
	CU_ASSERT_EQUAL_FATAL(wfs_nodeview_new(&v), 0);
	memset(&m, 0, sizeof(m));
	m.ndisks = 1;
	CU_ASSERT_EQUAL(wfs_nodemeta_disk_id(HEX_C0, m.disks[0].id), 0);
	m.disks[0].free = 5;
	CU_ASSERT_EQUAL(wfs_nodeview_set(v, "n0", &m), 0);
	wfs_mem_fail_after(0);
	for (i = 1; i < 64 && rc == 0; i++) {
		snprintf(id, sizeof(id), "n%d", i);
		rc = wfs_nodeview_set(v, id, &m);
	}
	wfs_mem_fail_after(-1);
	CU_ASSERT_EQUAL(rc, -ENOMEM);
	CU_ASSERT_EQUAL(wfs_nodeview_count(v), (size_t)(i - 2 + 1));
	CU_ASSERT_EQUAL(wfs_nodeview_overlay(v, &d, 1), 1);
	CU_ASSERT_EQUAL(d.free, 5);
	wfs_nodeview_free(v);
}

/* Placement over the overlaid records: a disk gossip says is offline or
 * full gets no chunk, though its record says it is fine. */
static void test_view_steers_placement(void)
{
	static const char *const a_ids[2] = { HEX_A0, HEX_A1 };
	static const uint32_t a_state[2] = { WFS_PLACE_DISK_OFFLINE,
					     WFS_PLACE_DISK_ONLINE };
	static const uint64_t a_free[2] = { 80 * GIB, 0 };
	static struct wfs_nodemeta ma;
	struct wfs_place_disk d[5];
	struct wfs_nodeview *v;
	size_t pick[3];

	CU_ASSERT_EQUAL_FATAL(wfs_nodeview_new(&v), 0);
	meta_of(&ma, a_ids, a_state, a_free, 2);
	CU_ASSERT_EQUAL(wfs_nodeview_set(v, "na", &ma), 0);
	for (uint64_t seed = 1; seed <= 200; seed++) {
		records(d);
		CU_ASSERT_EQUAL(wfs_nodeview_overlay(v, d, 5), 2);
		CU_ASSERT_EQUAL_FATAL(wfs_place_pick(d, 5, 3, MIB, seed,
						     pick), 0);
		for (int i = 0; i < 3; i++)
			CU_ASSERT(pick[i] >= 2);
	}
	/* Four chunks need a disk of na: there is none to be had. */
	records(d);
	wfs_nodeview_overlay(v, d, 5);
	CU_ASSERT_EQUAL(wfs_place_pick(d, 5, 4, MIB, 1, pick), -ENOSPC);
	wfs_nodeview_free(v);
}

static CU_TestInfo nodemeta_tests[] = {
	{ "round trip", test_round_trip },
	{ "a dozen disks fit", test_all_fit },
	{ "truncated to what fits", test_truncated_to_fit },
	{ "documented bytes", test_documented_bytes },
	{ "encode refuses bad input", test_encode_refuses },
	{ "wrong forms", test_wrong_forms },
	{ "wrong disks", test_wrong_disks },
	{ "oversize", test_oversize },
	{ "unknown keys skipped", test_unknown_keys },
	{ "cut and damaged input", test_cut_and_damaged },
	{ "what is news", test_differs },
	{ "disk ids", test_disk_id },
	{ "overlay rule", test_overlay_rule },
	{ "draining after the overlay", test_place_state },
	{ "view over records", test_view_overlay },
	{ "view of many nodes", test_view_many },
	{ "view out of memory", test_view_nomem },
	{ "view steers placement", test_view_steers_placement },
	CU_TEST_INFO_NULL,
};

WFS_TEST_SUITE("nodemeta", nodemeta_tests, NULL, NULL)
