/* Unit tests for storaged/transfer: nodes in one process, each a net on
 * 127.0.0.1 (ephemeral port), a one-disk chunk store in a scratch
 * directory and a transfer service; some nodes are bare nets that record
 * what they get, to play a hostile, silent or dying peer.  Waits have a
 * generous deadline only so a bug fails the test instead of hanging it;
 * nothing asserts on time. */
#include "storaged/transfer.h"

#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <msgpack.h>

#include "log/log.h"
#include "mem/mem.h"
#include "net/link.h"
#include "storaged/chunkstore.h"
#include "tests/unit.h"

#define WAIT_S 20
#define MAX_MSGS 64
#define MAX_LINKS 64
#define MSG_KEEP 256
#define MIB (1u << 20)

struct rec {
	uint64_t link;
	size_t len;
	uint8_t data[MSG_KEEP];	/* the first MSG_KEEP bytes */
};

struct node {
	uint8_t pk[32], sk[64];
	const uint8_t *admits[4];	/* keys this node admits */
	int nadmits;
	char dir[256];
	unsigned ndisks;		/* of its store: 0 or 1, or 2 */
	struct wfs_store *store;
	struct wfs_net *net;
	struct wfs_transfer *xfer;	/* NULL: a bare net that records */
	char addr[WFS_NET_ADDR_MAX];

	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* protected by lock */
	int nmsgs;
	struct rec msgs[MAX_MSGS];
	int nopened;
	uint64_t opened[MAX_LINKS];
	int nclosed;
	uint64_t closed[MAX_LINKS];
	int reasons[MAX_LINKS];
};

static uint64_t rng;
static enum wfs_log_level saved_level;
static atomic_int warns;		/* every warn line */
static atomic_int xfer_warns;		/* warn lines of "transfer" */
static atomic_int busy_refusals;	/* debug: writes refused EAGAIN */

static void sink(enum wfs_log_level level, const char *sub, const char *line,
		 void *arg)
{
	(void)arg;
	if (getenv("WFS_TEST_LOG"))
		fprintf(stderr, "%s %s: %s\n", wfs_log_level_name(level), sub,
			line);
	if (level == WFS_LOG_WARN) {
		atomic_fetch_add(&warns, 1);
		if (strcmp(sub, "transfer") == 0)
			atomic_fetch_add(&xfer_warns, 1);
	}
	if (strcmp(sub, "transfer") == 0 && strstr(line, "refused: ") &&
	    strstr(line, strerror(EAGAIN)))
		atomic_fetch_add(&busy_refusals, 1);
}

static int suite_init(void)
{
	rng = wfs_test_seed() ^ 0x7866;
	if (sodium_init() < 0)
		return -1;
	saved_level = wfs_log_threshold;
	if (saved_level < WFS_LOG_WARN)
		wfs_log_set_level(WFS_LOG_WARN);
	wfs_log_set_sink(sink, NULL);
	return 0;
}

static int suite_cleanup(void)
{
	wfs_log_set_sink(NULL, NULL);
	wfs_log_set_level(saved_level);
	return 0;
}

/* ---- callbacks (net thread) ---- */

static bool admit(void *arg, const uint8_t pk[32])
{
	struct node *n = arg;

	for (int i = 0; i < n->nadmits; i++)
		if (memcmp(n->admits[i], pk, 32) == 0)
			return true;
	return false;
}

static void on_open(void *arg, uint64_t link, const uint8_t *pk,
		    bool incoming)
{
	struct node *n = arg;

	(void)pk;
	if (!incoming)
		return;
	pthread_mutex_lock(&n->lock);
	if (n->nopened < MAX_LINKS)
		n->opened[n->nopened++] = link;
	pthread_cond_broadcast(&n->cond);
	pthread_mutex_unlock(&n->lock);
}

static void on_msg(void *arg, uint64_t link, const uint8_t *pk, uint8_t type,
		   const void *buf, size_t len)
{
	struct node *n = arg;
	struct rec *r;

	if (type == WFS_NET_TYPE_CHUNK && n->xfer) {
		wfs_transfer_on_msg(n->xfer, link, pk, buf, len);
		return;
	}
	pthread_mutex_lock(&n->lock);
	if (n->nmsgs < MAX_MSGS) {
		r = &n->msgs[n->nmsgs++];
		r->link = link;
		r->len = len;
		memcpy(r->data, buf, len < MSG_KEEP ? len : MSG_KEEP);
	}
	pthread_cond_broadcast(&n->cond);
	pthread_mutex_unlock(&n->lock);
}

static void on_close(void *arg, uint64_t link, const uint8_t *pk, int reason)
{
	struct node *n = arg;

	if (n->xfer)
		wfs_transfer_on_close(n->xfer, link, pk, reason);
	pthread_mutex_lock(&n->lock);
	if (n->nclosed < MAX_LINKS) {
		n->closed[n->nclosed] = link;
		n->reasons[n->nclosed++] = reason;
	}
	pthread_cond_broadcast(&n->cond);
	pthread_mutex_unlock(&n->lock);
}

/* ---- fixture ---- */

static void node_keys(struct node *n)
{
	uint8_t seed[crypto_sign_SEEDBYTES];

	memset(n, 0, sizeof(*n));
	wfs_test_fill(&rng, seed, sizeof(seed));
	crypto_sign_seed_keypair(n->pk, n->sk, seed);
	pthread_mutex_init(&n->lock, NULL);
	pthread_cond_init(&n->cond, NULL);
}

static void admits(struct node *n, const struct node *m)
{
	n->admits[n->nadmits++] = m->pk;
}

/* Start @n: a store and a transfer service with @opts if @serve, else a
 * bare net. */
static void node_start(struct node *n, bool serve,
		       const struct wfs_transfer_options *opts)
{
	struct wfs_net_config cfg = {
		.listen = "127.0.0.1:0",
		.pk = n->pk,
		.sk = n->sk,
		.admit = admit,
		.admit_arg = n,
		.on_open = on_open,
		.on_msg = on_msg,
		.on_close = on_close,
		.arg = n,
	};
	char two[2][300];
	const char *paths[2] = { n->dir, NULL };
	unsigned count = n->ndisks == 2 ? 2 : 1;

	CU_ASSERT_EQUAL_FATAL(wfs_net_new(&cfg, &n->net), 0);
	CU_ASSERT_EQUAL_FATAL(wfs_net_listen_addr(n->net, n->addr,
						  sizeof(n->addr)), 0);
	if (serve) {
		CU_ASSERT_EQUAL_FATAL(wfs_test_mkdtemp(n->dir,
						       sizeof(n->dir)), 0);
		for (unsigned i = 0; count == 2 && i < 2; i++) {
			snprintf(two[i], sizeof(two[i]), "%s/d%u", n->dir, i);
			CU_ASSERT_EQUAL_FATAL(mkdir(two[i], 0700), 0);
			paths[i] = two[i];
		}
		CU_ASSERT_EQUAL_FATAL(wfs_store_open("node-t", paths, count,
						     &n->store), 0);
		CU_ASSERT_EQUAL_FATAL(wfs_transfer_new(n->net, n->store, opts,
						       &n->xfer), 0);
	}
	CU_ASSERT_EQUAL_FATAL(wfs_net_start(n->net), 0);
}

static void node_stop(struct node *n)
{
	if (n->net)
		wfs_net_stop(n->net);
	wfs_transfer_free(n->xfer);
	wfs_net_free(n->net);
	wfs_store_close(n->store);
	n->xfer = NULL;
	n->net = NULL;
	n->store = NULL;
	pthread_mutex_destroy(&n->lock);
	pthread_cond_destroy(&n->cond);
}

/* Two serving nodes that admit each other. */
static void pair_start(struct node *a, struct node *b,
		       const struct wfs_transfer_options *bopts)
{
	node_keys(a);
	node_keys(b);
	admits(a, b);
	admits(b, a);
	node_start(a, true, NULL);
	node_start(b, true, bopts);
}

static void deadline(struct timespec *ts)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += WAIT_S;
}

/* Wait until *@field (under n->lock) reaches @want. */
static bool wait_count(struct node *n, const int *field, int want)
{
	struct timespec ts;
	bool ok;

	deadline(&ts);
	pthread_mutex_lock(&n->lock);
	while (*field < want)
		if (pthread_cond_timedwait(&n->cond, &n->lock, &ts) != 0)
			break;
	ok = *field >= want;
	pthread_mutex_unlock(&n->lock);
	return ok;
}

/* Wait for @link to close on @n; its reason, or 1 if it did not. */
static int wait_closed(struct node *n, uint64_t link)
{
	struct timespec ts;
	int reason = 1;

	deadline(&ts);
	pthread_mutex_lock(&n->lock);
	for (;;) {
		for (int i = 0; i < n->nclosed; i++)
			if (n->closed[i] == link)
				reason = n->reasons[i];
		if (reason != 1 ||
		    pthread_cond_timedwait(&n->cond, &n->lock, &ts) != 0)
			break;
	}
	pthread_mutex_unlock(&n->lock);
	return reason;
}

static bool was_closed(struct node *n, uint64_t link)
{
	bool found = false;

	pthread_mutex_lock(&n->lock);
	for (int i = 0; i < n->nclosed; i++)
		found |= n->closed[i] == link;
	pthread_mutex_unlock(&n->lock);
	return found;
}

/* ---- chunks ---- */

/* The data of chunk (sid, idx): a pure function of the key and seed. */
static void fill_data(uint64_t sid, uint32_t idx, void *buf, size_t len)
{
	uint64_t r = (wfs_test_seed() ^ (sid * 1000003 + idx)) | 1;

	wfs_test_fill(&r, buf, len);
}

/* A chunk of stripe @sid (version 1, index 1 of a 4+2 stripe) of @len
 * bytes; *data is new memory (free it). */
static void make_chunk(struct wfs_chunk_header *h, uint8_t **data,
		       uint64_t sid, uint32_t len)
{
	*data = wfs_malloc(len ? len : 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(*data);
	fill_data(sid, 1, *data, len);
	memset(h, 0, sizeof(*h));
	h->kind = WFS_CHUNK_EC;
	h->stripe_id = sid;
	h->stripe_version = 1;
	h->file_id = 100 + sid;
	h->stripe_index = sid;
	h->chunk_index = 1;
	h->chunk_id = wfs_chunk_id(sid, 1);
	h->k = 4;
	h->m = 2;
	h->stripe_offset = sid * 4 * (uint64_t)MIB;
	h->stripe_data_len = 4 * (uint64_t)len;
	CU_ASSERT_EQUAL(wfs_chunk_header_set_data(h, *data, len), 0);
}

static struct wfs_chunk_key key_of(uint64_t sid)
{
	struct wfs_chunk_key k = { sid, 1, 1 };

	return k;
}

/* Whether @st holds stripe @sid's chunk with exactly @len bytes of the
 * standard data. */
static bool store_has(struct wfs_store *st, uint64_t sid, uint32_t len)
{
	struct wfs_chunk_key k = key_of(sid);
	struct wfs_chunk_header h;
	uint8_t *got = wfs_malloc(len + 1), *want = wfs_malloc(len + 1);
	bool ok = false;

	CU_ASSERT_PTR_NOT_NULL_FATAL(got);
	CU_ASSERT_PTR_NOT_NULL_FATAL(want);
	if (wfs_store_read(st, &k, &h, got, len + 1) == 0 &&
	    h.data_len == len && h.stripe_id == sid &&
	    h.file_id == 100 + sid) {
		fill_data(sid, 1, want, len);
		ok = memcmp(got, want, len) == 0;
	}
	wfs_free(got);
	wfs_free(want);
	return ok;
}

/* Write chunk @sid of @len bytes from @from's client to @to. */
static int send_chunk(struct node *from, struct node *to, uint64_t sid,
		      uint32_t len)
{
	struct wfs_chunk_header h;
	uint8_t *data;
	int rc;

	make_chunk(&h, &data, sid, len);
	rc = wfs_transfer_write(from->xfer, to->addr, to->pk, &h, data);
	wfs_free(data);
	return rc;
}

/* Read [off, off + len) of chunk @sid from @to and compare with the
 * standard data of a @total byte chunk.  Returns read's result, or
 * -EILSEQ if something differs. */
static int check_read(struct node *from, struct node *to, uint64_t sid,
		      uint32_t total, uint64_t off, size_t len)
{
	struct wfs_chunk_key k = key_of(sid);
	struct wfs_chunk_header h;
	uint8_t *buf = wfs_malloc(len + 1), *want = wfs_malloc(total + 1);
	size_t got = 12345, expect;
	int rc;

	CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
	CU_ASSERT_PTR_NOT_NULL_FATAL(want);
	fill_data(sid, 1, want, total);
	rc = wfs_transfer_read(from->xfer, to->addr, to->pk, &k, off, len, &h,
			       buf, &got);
	expect = off <= total ? total - off : 0;
	if (expect > len)
		expect = len;
	if (rc == 0 && (got != expect || h.data_len != total ||
			h.stripe_id != sid || h.file_id != 100 + sid ||
			memcmp(buf, want + off, got) != 0))
		rc = -EILSEQ;
	wfs_free(buf);
	wfs_free(want);
	return rc;
}

/* ---- raw messages (a hostile peer) ---- */

struct raw {
	msgpack_sbuffer sb;
	msgpack_packer pk;
};

static void raw_begin(struct raw *r, unsigned n, uint32_t version,
		      uint32_t op, uint64_t id)
{
	msgpack_sbuffer_init(&r->sb);
	msgpack_packer_init(&r->pk, &r->sb, msgpack_sbuffer_write);
	msgpack_pack_array(&r->pk, n);
	msgpack_pack_uint32(&r->pk, version);
	msgpack_pack_uint32(&r->pk, op);
	msgpack_pack_uint64(&r->pk, id);
}

static void raw_bin(struct raw *r, const void *p, size_t len)
{
	msgpack_pack_bin(&r->pk, len);
	msgpack_pack_bin_body(&r->pk, p, len);
}

/* Send the message in @r (minus @chop bytes at its end) on @link of @c. */
static void raw_send(struct node *c, uint64_t link, struct raw *r,
		     size_t chop)
{
	CU_ASSERT_EQUAL(wfs_net_send(c->net, link, WFS_NET_TYPE_CHUNK,
				     r->sb.data, r->sb.size - chop), 0);
	msgpack_sbuffer_destroy(&r->sb);
}

/* A WRITE piece of chunk @h (whose data is @data) at @off, @len bytes. */
static void raw_write(struct node *c, uint64_t link, uint64_t id,
		      const struct wfs_chunk_header *h, const uint8_t *data,
		      uint64_t off, size_t len)
{
	uint8_t hdr[WFS_CHUNK_HEADER_SIZE];
	struct raw r;

	wfs_chunk_header_encode(h, hdr);
	raw_begin(&r, 6, 1, 2, id);
	raw_bin(&r, hdr, sizeof(hdr));
	msgpack_pack_uint64(&r.pk, off);
	raw_bin(&r, data + off, len);
	raw_send(c, link, &r, 0);
}

/* Whether message @i of @c is ERR @err answering @id (<= 0x7f). */
static bool is_err(struct node *c, int i, uint8_t id, int err)
{
	const uint8_t want[6] = { 0x94, 0x01, 0xcc, 0x81, id, (uint8_t)err };
	bool ok;

	pthread_mutex_lock(&c->lock);
	ok = i < c->nmsgs && c->msgs[i].len == sizeof(want) &&
	     memcmp(c->msgs[i].data, want, sizeof(want)) == 0;
	pthread_mutex_unlock(&c->lock);
	return ok;
}

static uint64_t raw_open(struct node *c, struct node *b)
{
	uint64_t link;

	CU_ASSERT_EQUAL_FATAL(wfs_net_open(c->net, b->addr, b->pk, &link), 0);
	return link;
}

/* ---- tests ---- */

static void test_write_read(void)
{
	struct node a, b;
	uint32_t len;
	uint64_t link;

	atomic_store(&warns, 0);
	pair_start(&a, &b, NULL);
	/* One piece, several pieces, no data at all. */
	CU_ASSERT_EQUAL(send_chunk(&a, &b, 1, 5000), 0);
	CU_ASSERT_EQUAL(send_chunk(&a, &b, 2, 3 * MIB / 2 + 123), 0);
	CU_ASSERT_EQUAL(send_chunk(&a, &b, 3, 0), 0);
	CU_ASSERT_TRUE(store_has(b.store, 1, 5000));
	CU_ASSERT_TRUE(store_has(b.store, 2, 3 * MIB / 2 + 123));
	CU_ASSERT_TRUE(store_has(b.store, 3, 0));

	CU_ASSERT_EQUAL(check_read(&a, &b, 1, 5000, 0, 5000), 0);
	CU_ASSERT_EQUAL(check_read(&a, &b, 1, 5000, 1000, 777), 0);
	CU_ASSERT_EQUAL(check_read(&a, &b, 1, 5000, 4990, 100), 0);
	CU_ASSERT_EQUAL(check_read(&a, &b, 1, 5000, 5000, 100), 0);
	CU_ASSERT_EQUAL(check_read(&a, &b, 1, 5000, 0, 0), 0);
	CU_ASSERT_EQUAL(check_read(&a, &b, 2, 3 * MIB / 2 + 123, 0,
				   2 * MIB), 0);
	CU_ASSERT_EQUAL(check_read(&a, &b, 2, 3 * MIB / 2 + 123, 200000,
				   400000), 0);
	CU_ASSERT_EQUAL(check_read(&a, &b, 3, 0, 0, 10), 0);
	CU_ASSERT_EQUAL(wfs_transfer_stat(a.xfer, b.addr, b.pk,
					  &(struct wfs_chunk_key){ 2, 1, 1 },
					  &len), 0);
	CU_ASSERT_EQUAL(len, 3 * MIB / 2 + 123);
	/* Both ways at once over the two nodes' links. */
	CU_ASSERT_EQUAL(send_chunk(&b, &a, 4, 70000), 0);
	CU_ASSERT_TRUE(store_has(a.store, 4, 70000));
	CU_ASSERT_EQUAL(check_read(&b, &a, 4, 70000, 0, 70000), 0);
	/* Writing it again replaces it. */
	CU_ASSERT_EQUAL(send_chunk(&a, &b, 1, 6000), 0);
	CU_ASSERT_TRUE(store_has(b.store, 1, 6000));

	/* b drops a's link: a's next call opens a new one. */
	CU_ASSERT_FATAL(wait_count(&b, &b.nopened, 1));
	pthread_mutex_lock(&b.lock);
	link = b.opened[0];
	pthread_mutex_unlock(&b.lock);
	CU_ASSERT_EQUAL(wfs_net_close(b.net, link), 0);
	CU_ASSERT_TRUE(wait_count(&a, &a.nclosed, 1));
	CU_ASSERT_EQUAL(check_read(&a, &b, 1, 6000, 0, 6000), 0);
	CU_ASSERT_TRUE(wait_count(&b, &b.nopened, 2));
	CU_ASSERT_EQUAL(atomic_load(&warns), 0);
	node_stop(&a);
	node_stop(&b);
}

/* The disk of @st's store at @i: its id into @id. */
static void disk_id_of(struct wfs_store *st, unsigned i,
		       char id[WFS_DISK_ID_LEN + 1])
{
	struct wfs_store_disk_info info;

	CU_ASSERT_EQUAL_FATAL(wfs_store_disk_info(st, i, &info), 0);
	memcpy(id, info.id, sizeof(info.id));
}

/* WRITE_TO puts a chunk on the disk named, whichever the store would have
 * picked, refuses a disk the peer does not have, and never replaces a
 * copy the peer holds. */
static void test_write_to(void)
{
	struct wfs_chunk_key k = key_of(41);
	struct wfs_store_chunk where;
	struct wfs_chunk_header h;
	char d0[WFS_DISK_ID_LEN + 1], d1[WFS_DISK_ID_LEN + 1];
	char none[WFS_DISK_ID_LEN + 1];
	struct node a, b;
	uint8_t *data;

	atomic_store(&warns, 0);
	node_keys(&a);
	node_keys(&b);
	admits(&a, &b);
	admits(&b, &a);
	b.ndisks = 2;
	node_start(&a, true, NULL);
	node_start(&b, true, NULL);
	disk_id_of(b.store, 0, d0);
	disk_id_of(b.store, 1, d1);
	memset(none, 'f', WFS_DISK_ID_LEN);
	none[WFS_DISK_ID_LEN] = 0;

	/* Several pieces, onto each disk in turn. */
	make_chunk(&h, &data, 41, 3 * MIB / 2 + 7);
	for (unsigned i = 0; i < 2; i++) {
		CU_ASSERT_EQUAL(wfs_store_delete(b.store, &k),
				i == 0 ? -ENOENT : 0);
		CU_ASSERT_EQUAL(wfs_transfer_write_to(a.xfer, b.addr, b.pk,
						      i ? d1 : d0, &h, data),
				0);
		CU_ASSERT_TRUE(store_has(b.store, 41, 3 * MIB / 2 + 7));
		CU_ASSERT_EQUAL(wfs_store_stat(b.store, &k, &where), 0);
		CU_ASSERT_EQUAL(where.disk, i);
	}
	/* Held on disk 1 already: disk 0 would be a second copy. */
	CU_ASSERT_EQUAL(wfs_transfer_write_to(a.xfer, b.addr, b.pk, d0, &h,
					      data), -EEXIST);
	/* Again where it is: refused, never replaced (the file there is no
	 * copy of the writer's: it may be garbage about to be deleted); the
	 * copy there stays as it was. */
	CU_ASSERT_EQUAL(wfs_transfer_write_to(a.xfer, b.addr, b.pk, d1, &h,
					      data), -EALREADY);
	CU_ASSERT_TRUE(store_has(b.store, 41, 3 * MIB / 2 + 7));
	/* A plain WRITE still replaces it in place. */
	CU_ASSERT_EQUAL(wfs_transfer_write(a.xfer, b.addr, b.pk, &h, data), 0);
	CU_ASSERT_EQUAL(wfs_store_stat(b.store, &k, &where), 0);
	CU_ASSERT_EQUAL(where.disk, 1);
	wfs_free(data);
	/* A disk b does not have; a one-piece chunk; ids that are none. */
	make_chunk(&h, &data, 42, 100);
	CU_ASSERT_EQUAL(wfs_transfer_write_to(a.xfer, b.addr, b.pk, none, &h,
					      data), -ENOENT);
	CU_ASSERT_FALSE(store_has(b.store, 42, 100));
	CU_ASSERT_EQUAL(wfs_transfer_write_to(a.xfer, b.addr, b.pk, "", &h,
					      data), -EINVAL);
	CU_ASSERT_EQUAL(wfs_transfer_write_to(a.xfer, b.addr, b.pk, NULL, &h,
					      data), -EINVAL);
	CU_ASSERT_EQUAL(wfs_transfer_write_to(a.xfer, b.addr, b.pk, d0, &h,
					      data), 0);
	CU_ASSERT_TRUE(store_has(b.store, 42, 100));
	wfs_free(data);
	CU_ASSERT_EQUAL(atomic_load(&warns), 0);
	node_stop(&a);
	node_stop(&b);
}

static void test_missing(void)
{
	struct wfs_chunk_key k = key_of(9);
	struct wfs_chunk_header h;
	struct node a, b;
	uint8_t buf[16];
	uint32_t len;
	size_t got;

	pair_start(&a, &b, NULL);
	CU_ASSERT_EQUAL(wfs_transfer_read(a.xfer, b.addr, b.pk, &k, 0,
					  sizeof(buf), &h, buf, &got),
			-ENOENT);
	CU_ASSERT_EQUAL(wfs_transfer_stat(a.xfer, b.addr, b.pk, &k, &len),
			-ENOENT);
	/* Past the end of a chunk that is there. */
	CU_ASSERT_EQUAL(send_chunk(&a, &b, 9, 100), 0);
	CU_ASSERT_EQUAL(wfs_transfer_read(a.xfer, b.addr, b.pk, &k, 101,
					  sizeof(buf), &h, buf, &got),
			-EINVAL);
	/* Moving what a does not hold. */
	CU_ASSERT_EQUAL(wfs_transfer_move(a.xfer, b.addr, b.pk, &k, 1, NULL,
					  NULL), -ENOENT);
	node_stop(&a);
	node_stop(&b);
}

static void test_corrupt(void)
{
	struct wfs_chunk_key k = key_of(5);
	struct wfs_chunk_header h;
	struct node a, b;
	uint8_t *data;
	uint32_t len;

	pair_start(&a, &b, NULL);
	make_chunk(&h, &data, 5, 400000);
	data[300000] ^= 0x10;
	CU_ASSERT_EQUAL(wfs_transfer_write(a.xfer, b.addr, b.pk, &h, data),
			-EBADMSG);
	CU_ASSERT_EQUAL(wfs_store_stat(b.store, &k, &(struct wfs_store_chunk){
				       0 }), -ENOENT);
	CU_ASSERT_EQUAL(wfs_transfer_stat(a.xfer, b.addr, b.pk, &k, &len),
			-ENOENT);
	/* A header that cannot be is refused before anything is sent. */
	h.k = 0;
	CU_ASSERT_EQUAL(wfs_transfer_write(a.xfer, b.addr, b.pk, &h, data),
			-EINVAL);
	wfs_free(data);
	/* The link is fine: the next write goes through. */
	CU_ASSERT_EQUAL(send_chunk(&a, &b, 5, 400000), 0);
	CU_ASSERT_TRUE(store_has(b.store, 5, 400000));
	node_stop(&a);
	node_stop(&b);
}

#define MOVE_N 20

struct progress {
	size_t calls;
	size_t done[MOVE_N];
	size_t total;
	uint64_t bytes[MOVE_N];
	size_t stop_at;		/* 0: never */
};

static int on_progress(void *arg, size_t done, size_t total, uint64_t bytes)
{
	struct progress *p = arg;

	if (p->calls < MOVE_N) {
		p->done[p->calls] = done;
		p->bytes[p->calls] = bytes;
	}
	p->calls++;
	p->total = total;
	return p->stop_at && done == p->stop_at ? -ECANCELED : 0;
}

static uint32_t move_len(unsigned i)
{
	return 1000 + i * 37000;	/* up to about 700 KB: 1 to 3 pieces */
}

static void test_move(void)
{
	struct wfs_chunk_key keys[MOVE_N];
	struct progress p = { 0 };
	struct node a, b;
	uint64_t sum = 0;

	pair_start(&a, &b, NULL);
	for (unsigned i = 0; i < MOVE_N; i++) {
		struct wfs_chunk_header h;
		uint8_t *data;

		make_chunk(&h, &data, 100 + i, move_len(i));
		CU_ASSERT_EQUAL(wfs_store_write(a.store, &h, data, NULL), 0);
		wfs_free(data);
		keys[i] = key_of(100 + i);
	}
	CU_ASSERT_EQUAL(wfs_transfer_move(a.xfer, b.addr, b.pk, keys, MOVE_N,
					  on_progress, &p), 0);
	CU_ASSERT_EQUAL(p.calls, MOVE_N);
	CU_ASSERT_EQUAL(p.total, MOVE_N);
	for (unsigned i = 0; i < MOVE_N; i++) {
		struct wfs_store_chunk c;

		sum += move_len(i);
		CU_ASSERT_EQUAL(p.done[i], i + 1);
		CU_ASSERT_EQUAL(p.bytes[i], sum);
		CU_ASSERT_EQUAL(wfs_store_stat(a.store, &keys[i], &c),
				-ENOENT);
		CU_ASSERT_TRUE(store_has(b.store, 100 + i, move_len(i)));
	}

	/* Back to a, stopped by the callback after the third. */
	memset(&p, 0, sizeof(p));
	p.stop_at = 3;
	CU_ASSERT_EQUAL(wfs_transfer_move(b.xfer, a.addr, a.pk, keys, MOVE_N,
					  on_progress, &p), -ECANCELED);
	CU_ASSERT_EQUAL(p.calls, 3);
	for (unsigned i = 0; i < 4; i++) {
		CU_ASSERT_EQUAL(store_has(a.store, 100 + i, move_len(i)),
				i < 3);
		CU_ASSERT_EQUAL(store_has(b.store, 100 + i, move_len(i)),
				i >= 3);
	}
	node_stop(&a);
	node_stop(&b);
}

static void test_not_admitted(void)
{
	struct wfs_chunk_key k = key_of(1);
	struct wfs_chunk_header h;
	struct node a, b, c;
	uint8_t buf[64];
	uint32_t len;
	size_t got;
	int rc;

	pair_start(&a, &b, NULL);
	node_keys(&c);
	admits(&c, &b);		/* c trusts b, b does not know c */
	node_start(&c, true, NULL);
	CU_ASSERT_EQUAL(send_chunk(&a, &b, 1, 50), 0);

	rc = wfs_transfer_read(c.xfer, b.addr, b.pk, &k, 0, sizeof(buf), &h,
			       buf, &got);
	CU_ASSERT(rc < 0 && rc != -ETIMEDOUT);
	rc = send_chunk(&c, &b, 2, 50);
	CU_ASSERT(rc < 0 && rc != -ETIMEDOUT);
	rc = wfs_transfer_stat(c.xfer, b.addr, b.pk, &k, &len);
	CU_ASSERT(rc < 0 && rc != -ETIMEDOUT);
	CU_ASSERT_FALSE(store_has(b.store, 2, 50));
	/* a expecting another key at b's address refuses b itself. */
	CU_ASSERT_EQUAL(wfs_transfer_read(a.xfer, b.addr, c.pk, &k, 0,
					  sizeof(buf), &h, buf, &got),
			-EACCES);
	/* A refused handshake is the net's warning, not ours. */
	CU_ASSERT_EQUAL(atomic_load(&xfer_warns), 0);
	atomic_store(&warns, 0);
	node_stop(&c);
	node_stop(&a);
	node_stop(&b);
}

/* Send what @fn builds on a new link from @c to @b, and check that @b
 * closed that link with exactly one warning. */
static void expect_closed(struct node *c, struct node *b,
			  void (*fn)(struct node *c, uint64_t link))
{
	int w0 = atomic_load(&warns), x0 = atomic_load(&xfer_warns);
	uint64_t link = raw_open(c, b);

	fn(c, link);
	CU_ASSERT_EQUAL(wait_closed(c, link), -ECONNRESET);
	CU_ASSERT_EQUAL(atomic_load(&warns) - w0, 1);
	CU_ASSERT_EQUAL(atomic_load(&xfer_warns) - x0, 1);
}

static void bad_bytes(struct node *c, uint64_t link)
{
	/* 0xc1 is no msgpack form at all; three on one link still make
	 * one warning. */
	for (int i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(wfs_net_send(c->net, link, WFS_NET_TYPE_CHUNK,
					     "\xc1garbage", 8), 0);
}

static void bad_empty(struct node *c, uint64_t link)
{
	CU_ASSERT_EQUAL(wfs_net_send(c->net, link, WFS_NET_TYPE_CHUNK, "", 0),
			0);
}

static void bad_truncated(struct node *c, uint64_t link)
{
	struct raw r;

	raw_begin(&r, 8, 1, 1, 7);
	msgpack_pack_uint64(&r.pk, 1);
	msgpack_pack_uint64(&r.pk, 1);
	msgpack_pack_uint32(&r.pk, 1);
	msgpack_pack_uint64(&r.pk, 0);
	msgpack_pack_uint64(&r.pk, 1u << 30);
	raw_send(c, link, &r, 3);
}

static void bad_huge_bin(struct node *c, uint64_t link)
{
	/* A WRITE whose header claims 4 GiB, with 10 bytes behind it. */
	static const uint8_t msg[] = { 0x96, 0x01, 0x02, 0x07, 0xc6, 0xff,
				       0xff, 0xff, 0xff, 1, 2, 3, 4, 5, 6,
				       7, 8, 9, 10 };

	CU_ASSERT_EQUAL(wfs_net_send(c->net, link, WFS_NET_TYPE_CHUNK, msg,
				     sizeof(msg)), 0);
}

static void bad_huge_array(struct node *c, uint64_t link)
{
	static const uint8_t msg[] = { 0xdd, 0xff, 0xff, 0xff, 0xff, 0x01,
				       0x03, 0x07 };

	CU_ASSERT_EQUAL(wfs_net_send(c->net, link, WFS_NET_TYPE_CHUNK, msg,
				     sizeof(msg)), 0);
}

static void bad_extra(struct node *c, uint64_t link)
{
	struct raw r;

	/* STAT with a fourth key element. */
	raw_begin(&r, 7, 1, 3, 7);
	for (int i = 0; i < 4; i++)
		msgpack_pack_uint64(&r.pk, 1);
	raw_send(c, link, &r, 0);
}

static void bad_signed(struct node *c, uint64_t link)
{
	struct raw r;

	raw_begin(&r, 6, 1, 3, 7);
	msgpack_pack_int64(&r.pk, -1);
	msgpack_pack_uint64(&r.pk, 1);
	msgpack_pack_uint64(&r.pk, 1);
	raw_send(c, link, &r, 0);
}

static void bad_order(struct node *c, uint64_t link)
{
	struct wfs_chunk_header h;
	uint8_t *data;

	make_chunk(&h, &data, 77, 600000);
	raw_write(c, link, 3, &h, data, 0, 1000);
	raw_write(c, link, 3, &h, data, 5000, 1000);
	wfs_free(data);
}

static void bad_reply(struct node *c, uint64_t link)
{
	struct raw r;

	/* A reply op nobody defined. */
	raw_begin(&r, 3, 1, 0x90, 7);
	raw_send(c, link, &r, 0);
}

static void test_garbage(void)
{
	struct wfs_chunk_header h;
	struct node a, b, c;
	uint8_t *data;
	uint64_t link;
	struct raw r;

	pair_start(&a, &b, NULL);
	node_keys(&c);
	admits(&c, &b);
	admits(&b, &c);
	node_start(&c, false, NULL);
	CU_ASSERT_EQUAL(send_chunk(&a, &b, 1, 3000), 0);
	atomic_store(&warns, 0);
	atomic_store(&xfer_warns, 0);

	expect_closed(&c, &b, bad_bytes);
	expect_closed(&c, &b, bad_empty);
	expect_closed(&c, &b, bad_truncated);
	expect_closed(&c, &b, bad_huge_bin);
	expect_closed(&c, &b, bad_huge_array);
	expect_closed(&c, &b, bad_extra);
	expect_closed(&c, &b, bad_signed);
	expect_closed(&c, &b, bad_order);
	expect_closed(&c, &b, bad_reply);

	/* What is answered, not closed: a newer version, an unknown
	 * request, a damaged header, the tail of a write b never saw. */
	link = raw_open(&c, &b);
	raw_begin(&r, 3, 2, 1, 11);
	raw_send(&c, link, &r, 0);
	raw_begin(&r, 3, 1, 9, 12);
	raw_send(&c, link, &r, 0);
	make_chunk(&h, &data, 78, 2000);
	raw_write(&c, link, 13, &h, data, 1000, 1000);
	{
		uint8_t hdr[WFS_CHUNK_HEADER_SIZE];

		wfs_chunk_header_encode(&h, hdr);
		hdr[20] ^= 1;	/* the header's own CRC no longer fits */
		raw_begin(&r, 6, 1, 2, 14);
		raw_bin(&r, hdr, sizeof(hdr));
		msgpack_pack_uint64(&r.pk, 0);
		raw_bin(&r, data, 2000);
		raw_send(&c, link, &r, 0);
	}
	raw_begin(&r, 6, 1, 3, 15);
	msgpack_pack_uint64(&r.pk, 1);
	msgpack_pack_uint64(&r.pk, 1);
	msgpack_pack_uint32(&r.pk, 9);
	raw_send(&c, link, &r, 0);
	wfs_free(data);
	CU_ASSERT_FATAL(wait_count(&c, &c.nmsgs, 4));
	CU_ASSERT_TRUE(is_err(&c, 0, 11, EPROTONOSUPPORT));
	CU_ASSERT_TRUE(is_err(&c, 1, 12, EOPNOTSUPP));
	CU_ASSERT_TRUE(is_err(&c, 2, 14, EBADMSG));
	CU_ASSERT_TRUE(is_err(&c, 3, 15, ENOENT));
	CU_ASSERT_FALSE(was_closed(&c, link));
	CU_ASSERT_FALSE(store_has(b.store, 78, 2000));

	/* b still serves a. */
	CU_ASSERT_EQUAL(check_read(&a, &b, 1, 3000, 0, 3000), 0);
	CU_ASSERT_EQUAL(atomic_load(&xfer_warns), 9);
	node_stop(&c);
	node_stop(&a);
	node_stop(&b);
	atomic_store(&warns, 0);
	atomic_store(&xfer_warns, 0);
}

struct bg_call {
	struct node *from, *to;
	int op;			/* 0 read, 1 write */
	uint32_t len;
	int rc;
	pthread_t thread;
};

static void *bg_main(void *arg)
{
	struct bg_call *bg = arg;
	struct wfs_chunk_key k = key_of(1);
	struct wfs_chunk_header h;
	uint8_t buf[64];
	size_t got;

	if (bg->op == 0)
		bg->rc = wfs_transfer_read(bg->from->xfer, bg->to->addr,
					   bg->to->pk, &k, 0, sizeof(buf), &h,
					   buf, &got);
	else
		bg->rc = send_chunk(bg->from, bg->to, 50, bg->len);
	return NULL;
}

static void bg_start(struct bg_call *bg, struct node *from, struct node *to,
		     int op, uint32_t len)
{
	*bg = (struct bg_call){ from, to, op, len, 1, 0 };
	CU_ASSERT_EQUAL_FATAL(pthread_create(&bg->thread, NULL, bg_main, bg),
			      0);
}

/* A peer that takes the request and dies fails the call with the link's
 * end, not a timeout (the calls' timeout is the default 30 s). */
static void test_peer_dies(void)
{
	struct node a, d;
	struct bg_call bg;

	for (int op = 0; op < 2; op++) {
		node_keys(&a);
		node_keys(&d);
		admits(&a, &d);
		admits(&d, &a);
		node_start(&a, true, NULL);
		node_start(&d, false, NULL);
		bg_start(&bg, &a, &d, op, 2 * MIB);
		CU_ASSERT_TRUE(wait_count(&d, &d.nmsgs, 1));
		wfs_net_free(d.net);
		d.net = NULL;
		pthread_join(bg.thread, NULL);
		CU_ASSERT_EQUAL(bg.rc, -ECONNRESET);
		/* Nobody there any more. */
		CU_ASSERT_EQUAL(check_read(&a, &d, 1, 10, 0, 10),
				-ECONNREFUSED);
		node_stop(&d);
		node_stop(&a);
	}
}

/* A peer that says nothing: the call times out. */
static void test_timeout(void)
{
	struct wfs_transfer_options o = { .timeout_ms = 300 };
	struct wfs_chunk_key k = key_of(1);
	struct node a, d;
	uint32_t len;

	node_keys(&a);
	node_keys(&d);
	admits(&a, &d);
	admits(&d, &a);
	node_start(&a, true, &o);
	node_start(&d, false, NULL);
	CU_ASSERT_EQUAL(wfs_transfer_stat(a.xfer, d.addr, d.pk, &k, &len),
			-ETIMEDOUT);
	CU_ASSERT_EQUAL(send_chunk(&a, &d, 1, 700000), -ETIMEDOUT);
	/* The late reply to the stat is dropped quietly. */
	CU_ASSERT_TRUE(wait_count(&d, &d.nmsgs, 2));
	pthread_mutex_lock(&d.lock);
	CU_ASSERT_EQUAL(wfs_net_send(d.net, d.msgs[0].link,
				     WFS_NET_TYPE_CHUNK,
				     "\x94\x01\xcc\x81\x01\x02", 6), 0);
	pthread_mutex_unlock(&d.lock);
	CU_ASSERT_EQUAL(wfs_transfer_stat(a.xfer, d.addr, d.pk, &k, &len),
			-ETIMEDOUT);
	CU_ASSERT_EQUAL(atomic_load(&warns), 0);
	node_stop(&d);
	node_stop(&a);
}

/* A server whose write budget is taken answers EAGAIN, and the client
 * asks again until the budget frees. */
static void test_busy(void)
{
	struct wfs_transfer_options o = { .write_budget = 1, .workers = 1 };
	struct wfs_chunk_header h;
	struct node a, b, c;
	struct bg_call bg;
	uint64_t link;
	uint8_t *data;
	struct timespec ts = { 0, 10 * 1000000 };
	enum wfs_log_level level = wfs_log_threshold;

	pair_start(&a, &b, &o);
	node_keys(&c);
	admits(&c, &b);
	admits(&b, &c);
	node_start(&c, false, NULL);

	/* c starts a write and never finishes it: it holds the budget. */
	make_chunk(&h, &data, 60, 600000);
	link = raw_open(&c, &b);
	raw_write(&c, link, 1, &h, data, 0, 1000);
	raw_write(&c, link, 2, &h, data, 0, 1000);
	CU_ASSERT_TRUE(wait_count(&c, &c.nmsgs, 1));
	CU_ASSERT_TRUE(is_err(&c, 0, 2, EAGAIN));
	wfs_free(data);

	wfs_log_set_level(WFS_LOG_DEBUG);
	atomic_store(&busy_refusals, 0);
	bg_start(&bg, &a, &b, 1, 500000);
	for (int i = 0; i < WAIT_S * 100 && !atomic_load(&busy_refusals); i++)
		nanosleep(&ts, NULL);
	wfs_log_set_level(level);
	CU_ASSERT_TRUE(atomic_load(&busy_refusals) > 0);
	/* c goes: its half write is dropped, a's gets through. */
	CU_ASSERT_EQUAL(wfs_net_close(c.net, link), 0);
	pthread_join(bg.thread, NULL);
	CU_ASSERT_EQUAL(bg.rc, 0);
	CU_ASSERT_TRUE(store_has(b.store, 50, 500000));
	CU_ASSERT_FALSE(store_has(b.store, 60, 600000));
	node_stop(&c);
	node_stop(&a);
	node_stop(&b);
}

#define THREADS 4
#define PER_THREAD 5

struct worker_arg {
	struct node *a, *b;
	unsigned n;
	int failures;
	pthread_t thread;
};

static void *writer_main(void *arg)
{
	struct worker_arg *w = arg;

	for (unsigned i = 0; i < PER_THREAD; i++) {
		uint64_t sid = 1000 + w->n * PER_THREAD + i;
		uint32_t len = 100000 + (uint32_t)sid * 997;

		if (send_chunk(w->a, w->b, sid, len) != 0 ||
		    check_read(w->a, w->b, sid, len, 0, len) != 0)
			w->failures++;
	}
	return NULL;
}

/* Several threads share one link; a small budget makes them take turns. */
static void test_threads(void)
{
	struct wfs_transfer_options o = { .write_budget = 2500000 };
	struct worker_arg w[THREADS];
	struct node a, b;

	pair_start(&a, &b, &o);
	for (unsigned i = 0; i < THREADS; i++) {
		w[i] = (struct worker_arg){ &a, &b, i, 0, 0 };
		CU_ASSERT_EQUAL_FATAL(pthread_create(&w[i].thread, NULL,
						     writer_main, &w[i]), 0);
	}
	for (unsigned i = 0; i < THREADS; i++) {
		pthread_join(w[i].thread, NULL);
		CU_ASSERT_EQUAL(w[i].failures, 0);
	}
	for (unsigned i = 0; i < THREADS * PER_THREAD; i++)
		CU_ASSERT_TRUE(store_has(b.store, 1000 + i,
					 100000 + (1000 + i) * 997));
	node_stop(&a);
	node_stop(&b);
}

static void test_new(void)
{
	struct wfs_transfer_options bad = { .workers = 9 };
	struct wfs_transfer *t = NULL;
	struct node a;
	int rc = -ENOMEM;

	node_keys(&a);
	node_start(&a, true, NULL);
	CU_ASSERT_EQUAL(wfs_transfer_new(a.net, a.store, &bad, &t), -EINVAL);
	CU_ASSERT_EQUAL(wfs_transfer_new(NULL, a.store, NULL, &t), -EINVAL);
	for (long i = 0; rc == -ENOMEM && i < 100; i++) {
		wfs_mem_fail_after(i);
		rc = wfs_transfer_new(a.net, a.store, NULL, &t);
		wfs_mem_fail_after(-1);
		CU_ASSERT(rc == 0 || rc == -ENOMEM);
	}
	CU_ASSERT_EQUAL(rc, 0);
	wfs_transfer_free(t);
	wfs_transfer_free(NULL);
	node_stop(&a);
}

static CU_TestInfo transfer_tests[] = {
	{ "write and read back", test_write_read },
	{ "write onto a given disk", test_write_to },
	{ "missing chunk", test_missing },
	{ "corrupt chunk refused", test_corrupt },
	{ "bulk move with progress", test_move },
	{ "peer not admitted", test_not_admitted },
	{ "garbage closes the link, server carries on", test_garbage },
	{ "peer dies mid-call", test_peer_dies },
	{ "silent peer times out", test_timeout },
	{ "busy server, client retries", test_busy },
	{ "threads share a link", test_threads },
	{ "new: bad options, allocation failures", test_new },
	CU_TEST_INFO_NULL,
};

WFS_TEST_SUITE("transfer", transfer_tests, suite_init, suite_cleanup)
