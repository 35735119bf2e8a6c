/* client/conn: the client object: its nodes and their rpc/ clients, the
 * retry policy of metadata calls, codecs, and conversions from the proto.
 *
 * Metadata calls go to one of the nodes given at start (any node forwards
 * to the master).  A call that finds the cluster unable to answer -- no
 * connection, a deadline, or -EAGAIN while a master is being elected --
 * moves on to the next node and retries with exponential backoff (20 ms
 * doubling to 1 s) until the retry deadline, then fails with -EIO, which is
 * what a local file system on a dead disk would say.  Any other error is the
 * answer and is returned unchanged.
 *
 * Chunk calls go straight to the node holding the chunk; nodes named by
 * layouts are interned here (one struct wfs_node and one rpc/ client per
 * node), so a layout of a million stripes points at a handful of nodes.
 *
 * Every reply passes here, so this is where the directories a namespace
 * reply carries (EntryReply, CreateReply, RemoveReply, RenameReply, and
 * those in UnlinkMany and CreateMany replies) go to opts.dir_attr,
 * whichever file made the call.
 */
#include "client/client_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log/log.h"
#include "mem/mem.h"

#define BACKOFF_MIN_MS 20
#define BACKOFF_MAX_MS 1000

/* Lock waits are bounded by this per call; the caller asks again. */
#define LONG_CALL_MS 30000

static void sleep_ms(int64_t ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static bool retryable(int rc, unsigned flags)
{
	switch (rc) {
	case -ENOTCONN:
	case -EHOSTUNREACH:	/* a node could not reach the master */
		return true;
	case -ETIMEDOUT:
		return !(flags & WFS_CALL_TIMEOUT_FINAL);
	case -EAGAIN:
		return !(flags & WFS_CALL_EAGAIN_FINAL);
	default:
		return false;
	}
}

/* One directory of a reply to opts.dir_attr (anything else is ignored). */
static void report_dir(struct wfs_client *c, const Wormfs__Attr *pb)
{
	struct wfs_attr a;

	if (!pb || !S_ISDIR(pb->mode))
		return;
	wfs_attr_from_pb(&a, pb);
	c->opts.dir_attr(c->opts.dir_attr_arg, &a);
}

/* The directories a namespace reply @resp (a @desc message) carries. */
static void report_dirs(struct wfs_client *c,
			const ProtobufCMessageDescriptor *desc,
			const ProtobufCMessage *resp)
{
	if (!c->opts.dir_attr)
		return;
	if (desc == &wormfs__entry_reply__descriptor) {
		report_dir(c, ((const Wormfs__EntryReply *)resp)->parent_attr);
	} else if (desc == &wormfs__create_reply__descriptor) {
		report_dir(c,
			   ((const Wormfs__CreateReply *)resp)->parent_attr);
	} else if (desc == &wormfs__remove_reply__descriptor) {
		report_dir(c,
			   ((const Wormfs__RemoveReply *)resp)->parent_attr);
	} else if (desc == &wormfs__unlink_many_reply__descriptor) {
		const Wormfs__UnlinkManyReply *r = (const void *)resp;

		for (size_t i = 0; i < r->n_outcomes; i++)
			if (r->outcomes[i] && r->outcomes[i]->reply)
				report_dir(c, r->outcomes[i]->reply->parent_attr);
	} else if (desc == &wormfs__create_many_reply__descriptor) {
		const Wormfs__CreateManyReply *r = (const void *)resp;

		for (size_t i = 0; i < r->n_outcomes; i++)
			if (r->outcomes[i] && r->outcomes[i]->reply)
				report_dir(c, r->outcomes[i]->reply->parent_attr);
	} else if (desc == &wormfs__rename_reply__descriptor) {
		const Wormfs__RenameReply *r = (const void *)resp;

		report_dir(c, r->parent_attr);
		report_dir(c, r->new_parent_attr);
	}
}

#define MASTER_ASK_MS 2000

/* Point meta_cur at the metadata master when it is one of the nodes given:
 * a call to another node is relayed to it, one hop more.  Asked after a
 * start and after each failure; best effort. */
static void seek_master(struct wfs_client *c)
{
	Wormfs__StatusRequest req = WORMFS__STATUS_REQUEST__INIT;
	Wormfs__StatusReply *st = NULL;
	unsigned i = atomic_load(&c->meta_cur) % c->nmeta;

	atomic_store(&c->master_sought, true);
	if (wfs_rpc_call_msg(c->meta[i]->rpc, "/wormfs.Admin/Status",
			     &req.base, &wormfs__status_reply__descriptor,
			     MASTER_ASK_MS, (ProtobufCMessage **)&st) != 0)
		return;
	for (unsigned j = 0; j < c->nmeta; j++)
		if (st->leader_addr && strcmp(st->leader_addr,
					      c->meta[j]->addr) == 0) {
			atomic_store(&c->meta_cur, j);
			break;
		}
	wfs_rpc_msg_free(&st->base);
}

int wfs_meta_call(struct wfs_client *c, const char *method,
		  const ProtobufCMessage *req,
		  const ProtobufCMessageDescriptor *desc,
		  ProtobufCMessage **resp, unsigned flags)
{
	int64_t deadline = wfs_client_now_ms() + c->opts.retry_ms;
	int64_t backoff = BACKOFF_MIN_MS;
	int64_t timeout = flags & WFS_CALL_LONG ? LONG_CALL_MS
						: c->opts.call_ms;
	int rc;

	/* One id for the request and all its retries: a mutation that was
	 * applied but whose answer was lost (the master died, a relay broke)
	 * is not applied twice (see metadata/meta.h, "Retries"). */
	char id[sizeof(c->id_hex) + 24];
	struct wfs_rpc_call_opts o = { .request_id = id };

	if (!(flags & (WFS_CALL_BEHIND | WFS_CALL_WAITED)))
		wfs_behind_wait(c->behind);
	snprintf(id, sizeof(id), "%s:%llu", c->id_hex,
		 (unsigned long long)(atomic_fetch_add(&c->req_seq, 1) + 1));
	if (c->nmeta > 1 && !atomic_load(&c->master_sought))
		seek_master(c);
	for (;;) {
		unsigned i = atomic_load(&c->meta_cur) % c->nmeta;

		rc = wfs_rpc_call_msg_opts(c->meta[i]->rpc, method, req, desc,
					   timeout, &o, resp);
		if (rc == 0)
			report_dirs(c, desc, *resp);
		if (rc == 0 || !retryable(rc, flags))
			return rc;
		/* No answer, or no master behind this node (an election,
		 * or the node is cut off from the master): try the next,
		 * and look for the master again once one answers. */
		if (c->nmeta > 1)
			atomic_compare_exchange_strong(&c->meta_cur, &i,
						       (i + 1) % c->nmeta);
		atomic_store(&c->master_sought, false);
		wfs_log_debug("client", "%s via %s: %s; retrying", method,
			      c->meta[i]->addr, strerror(-rc));
		if (wfs_client_now_ms() + backoff > deadline) {
			wfs_log_error("client",
				      "%s: no answer from the cluster for %lld"
				      " ms: %s", method,
				      (long long)c->opts.retry_ms,
				      strerror(-rc));
			return -EIO;
		}
		sleep_ms(backoff);
		backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS
						       : backoff * 2;
	}
}

void wfs_caller_fill(const struct wfs_client *c, Wormfs__Caller *pb,
		     const struct wfs_cred *cred)
{
	pb->session = c->session;
	pb->uid = cred->uid;
	pb->gid = cred->gid;
	pb->pid = cred->pid;
	pb->umask = cred->umask;
	pb->n_groups = cred->ngroups < WFS_CRED_GROUPS_MAX
			       ? cred->ngroups : WFS_CRED_GROUPS_MAX;
	pb->groups = (uint32_t *)cred->groups;
}

static struct wfs_node *node_new(const uint8_t *id, size_t id_len,
				 const char *addr)
{
	struct wfs_node *n = wfs_calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	n->addr = wfs_strdup(addr);
	if (!n->addr || wfs_rpc_client_new(addr, &n->rpc) != 0) {
		wfs_free(n->addr);
		wfs_free(n);
		return NULL;
	}
	n->id_len = (uint8_t)id_len;
	if (id_len)
		memcpy(n->id, id, id_len);
	return n;
}

struct wfs_node *wfs_client_node(struct wfs_client *c, const uint8_t *id,
				 size_t id_len, const char *addr)
{
	struct wfs_node *n;

	if (!addr || !*addr || id_len > WFS_ID_MAX)
		return NULL;
	pthread_mutex_lock(&c->nodes_lock);
	for (n = c->nodes; n; n = n->next)
		if (n->id_len == id_len &&
		    (!id_len || memcmp(n->id, id, id_len) == 0) &&
		    strcmp(n->addr, addr) == 0)
			break;
	if (!n) {
		n = node_new(id, id_len, addr);
		if (n) {
			n->next = c->nodes;
			c->nodes = n;
		}
	}
	pthread_mutex_unlock(&c->nodes_lock);
	return n;
}

struct wfs_ec *wfs_client_codec(struct wfs_client *c, unsigned k, unsigned m)
{
	struct wfs_ec *ec;

	if (k < 1 || k > WFS_EC_MAX_K || m < 1 || m > WFS_EC_MAX_M)
		return NULL;
	pthread_mutex_lock(&c->codec_lock);
	ec = c->codecs[k][m];
	if (!ec && wfs_ec_new(k, m, &ec) == 0)
		c->codecs[k][m] = ec;
	pthread_mutex_unlock(&c->codec_lock);
	return ec;
}

void wfs_attr_from_pb(struct wfs_attr *a, const Wormfs__Attr *pb)
{
	memset(a, 0, sizeof(*a));
	if (!pb)
		return;
	a->ino = pb->ino;
	a->mode = pb->mode;
	a->nlink = pb->nlink;
	a->uid = pb->uid;
	a->gid = pb->gid;
	a->size = pb->size;
	a->bytes = pb->bytes;
	a->rdev = pb->rdev;
	a->atime_ns = pb->atime_ns;
	a->mtime_ns = pb->mtime_ns;
	a->ctime_ns = pb->ctime_ns;
	a->btime_ns = pb->btime_ns;
	a->generation = pb->generation;
	a->policy_id = pb->policy_id;
	a->blksize = pb->blksize;
}

struct wfs_lstripe *wfs_lstripe_from_pb(struct wfs_client *c,
					const Wormfs__Stripe *pb)
{
	unsigned n = wfs_geom_nchunks(pb->kind, pb->k, pb->m);
	struct wfs_lstripe *s;

	for (size_t i = 0; i < pb->n_chunks; i++)
		if (pb->chunks[i]->index >= n)
			n = pb->chunks[i]->index + 1;
	if (n > WFS_STRIPE_MAX_CHUNKS)
		n = WFS_STRIPE_MAX_CHUNKS;
	s = wfs_lstripe_new(n);
	if (!s)
		return NULL;
	s->sidx = pb->sidx;
	s->stripe_id = pb->stripe_id;
	s->version = pb->version;
	s->kind = pb->kind;
	s->k = pb->k;
	s->m = pb->m;
	s->chunk_size = pb->chunk_size;
	s->length = pb->length;
	s->nchunks = n;
	for (unsigned i = 0; i < n; i++) {
		s->chunks[i].index = i;
		s->chunks[i].state = WFS_CHUNK_MISSING;
	}
	for (size_t i = 0; i < pb->n_chunks; i++) {
		const Wormfs__ChunkLocation *l = pb->chunks[i];
		struct wfs_lchunk *ch;

		if (l->index >= n)
			continue;
		ch = &s->chunks[l->index];
		ch->state = l->state == WORMFS__CHUNK_STATE__CHUNK_OK
				    ? WFS_CHUNK_OK : WFS_CHUNK_MISSING;
		ch->node = wfs_client_node(c, l->node_id.data, l->node_id.len,
					   l->node_addr);
		ch->disk_len = l->disk_id.len <= WFS_ID_MAX
				       ? (uint8_t)l->disk_id.len : 0;
		if (ch->disk_len)
			memcpy(ch->disk, l->disk_id.data, ch->disk_len);
	}
	return s;
}

/* A session id (Caller.session): random and non-zero.  Unlike the id
 * above it must not be shared with another client, which would then hold
 * this one's directory leases too: getrandom may wait for the kernel's
 * pool to be ready (at boot only), and without it the wall clock in
 * nanoseconds and the pid stand in. */
static uint64_t new_session(void)
{
	uint64_t v = 0;
	ssize_t n;

	do
		n = getrandom(&v, sizeof(v), 0);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(v)) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		v = ((uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec) ^
		    ((uint64_t)getpid() << 40);
	}
	return v ? v : 1;
}

static void fill_defaults(struct wfs_client_opts *o)
{
	if (o->retry_ms <= 0)
		o->retry_ms = 60000;
	if (o->call_ms <= 0)
		o->call_ms = 15000;
	if (!o->io_threads)
		o->io_threads = 24;
	if (!o->stripe_threads)
		o->stripe_threads = 8;
	if (!o->stripes_in_flight)
		o->stripes_in_flight = 4;
	if (!o->cache_stripes)
		o->cache_stripes = 8;
	if (!o->readahead)
		o->readahead = 2;
	else if (o->readahead == WFS_CLIENT_NO_READAHEAD)
		o->readahead = 0;
}

/* Intern each node of the comma-separated list c->nodes_str. */
static int parse_nodes(struct wfs_client *c)
{
	char *save = NULL, *tok;
	unsigned n = 1;

	for (const char *p = c->nodes_str; *p; p++)
		n += *p == ',';
	c->meta = wfs_calloc(n, sizeof(*c->meta));
	if (!c->meta)
		return -ENOMEM;
	for (tok = strtok_r(c->nodes_str, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		const char *colon = strrchr(tok, ':');

		if (!colon || colon == tok || !colon[1]) {
			wfs_log_error("client", "node address '%s': expected "
				      "host:port", tok);
			return -EINVAL;
		}
		c->meta[c->nmeta] = wfs_client_node(c, NULL, 0, tok);
		if (!c->meta[c->nmeta])
			return -ENOMEM;
		c->nmeta++;
	}
	return c->nmeta ? 0 : -EINVAL;
}

static void free_nodes(struct wfs_client *c)
{
	while (c->nodes) {
		struct wfs_node *n = c->nodes;

		c->nodes = n->next;
		wfs_rpc_client_free(n->rpc);
		wfs_free(n->addr);
		wfs_free(n);
	}
	wfs_free(c->meta);
}

static int start_pools(struct wfs_client *c)
{
	int rc = wfs_pool_new(c->opts.io_threads, &c->io_pool);

	if (rc)
		return rc;
	rc = wfs_pool_new(c->opts.stripe_threads, &c->stripe_pool);
	if (rc) {
		wfs_pool_free(c->io_pool);
		c->io_pool = NULL;
	}
	return rc;
}

static void stop_pools(struct wfs_client *c)
{
	wfs_pool_free(c->stripe_pool);
	wfs_pool_free(c->io_pool);
	c->stripe_pool = c->io_pool = NULL;
}

int wfs_client_new(const struct wfs_client_opts *opts,
		   struct wfs_client **out)
{
	struct wfs_client *c;
	int rc = -ENOMEM;

	*out = NULL;
	if (!opts || !opts->nodes || !*opts->nodes)
		return -EINVAL;
	c = wfs_calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->opts = *opts;
	fill_defaults(&c->opts);
	pthread_mutex_init(&c->nodes_lock, NULL);
	pthread_mutex_init(&c->codec_lock, NULL);
	pthread_mutex_init(&c->copies_lock, NULL);
	pthread_mutex_init(&c->itab_lock, NULL);
	c->itab_size = 256;
	c->itab = wfs_calloc(c->itab_size, sizeof(*c->itab));
	c->nodes_str = wfs_strdup(opts->nodes);
	if (!c->itab || !c->nodes_str)
		goto out_free;
	c->opts.nodes = c->nodes_str;
	rc = parse_nodes(c);
	if (rc)
		goto out_free;
	/* The id only tells this client's locks and opens apart from other
	 * clients'; without entropy the time and pid still do that. */
	if (getrandom(c->id, sizeof(c->id), GRND_NONBLOCK) != sizeof(c->id)) {
		uint64_t v = (uint64_t)wfs_client_now_ms() ^
			     ((uint64_t)getpid() << 32);

		memcpy(c->id, &v, sizeof(v));
	}
	for (size_t k = 0; k < sizeof(c->id); k++)
		snprintf(c->id_hex + 2 * k, 3, "%02x", c->id[k]);
	c->session = new_session();
	/* Enough for a few directories being walked at once. */
	if (c->opts.statahead_ms)
		rc = wfs_statahead_new(c->opts.statahead_ms,
				       16 * WFS_STATAHEAD_PAGE, &c->sa);
	/* Lists of names: a few large directories' worth. */
	if (rc == 0 && c->opts.dirnames_ms)
		rc = wfs_dirnames_new(c->opts.dirnames_ms, 1u << 17, &c->dn);
	if (rc == 0)
		rc = start_pools(c);
	if (rc == 0) {
		rc = wfs_behind_new(c, &c->behind);
		if (rc)
			stop_pools(c);
	}
	if (rc == 0 && c->opts.early_creates) {
		rc = wfs_leases_new(c, &c->leases);
		if (rc) {
			wfs_behind_free(c->behind);
			stop_pools(c);
		}
	}
	if (rc)
		goto out_free;
	wfs_chunkio_init(c, &c->io);
	*out = c;
	return 0;

out_free:
	wfs_statahead_free(c->sa);
	wfs_dirnames_free(c->dn);
	free_nodes(c);
	wfs_free(c->nodes_str);
	wfs_free(c->itab);
	pthread_mutex_destroy(&c->itab_lock);
	pthread_mutex_destroy(&c->copies_lock);
	pthread_mutex_destroy(&c->codec_lock);
	pthread_mutex_destroy(&c->nodes_lock);
	wfs_free(c);
	return rc;
}

void wfs_client_free(struct wfs_client *c)
{
	if (!c)
		return;
	/* Files first: their flushes still wait for queued operations.
	 * Then no lease is asked for any more, the queue is applied (its
	 * creates still report to the leases), and what is held goes
	 * back. */
	wfs_file_close_all(c);
	wfs_leases_stop(c->leases);
	wfs_behind_free(c->behind);
	c->behind = NULL;
	wfs_leases_free(c->leases);
	c->leases = NULL;
	wfs_pool_free(c->stripe_pool);
	wfs_pool_free(c->io_pool);
	for (unsigned k = 0; k <= WFS_EC_MAX_K; k++)
		for (unsigned m = 0; m <= WFS_EC_MAX_M; m++)
			wfs_ec_free(c->codecs[k][m]);
	wfs_statahead_free(c->sa);
	wfs_dirnames_free(c->dn);
	wfs_first_copies_release(c);
	free_nodes(c);
	wfs_free(c->nodes_str);
	wfs_free(c->itab);
	pthread_mutex_destroy(&c->itab_lock);
	pthread_mutex_destroy(&c->copies_lock);
	pthread_mutex_destroy(&c->codec_lock);
	pthread_mutex_destroy(&c->nodes_lock);
	wfs_free(c);
}

const uint8_t *wfs_client_id(const struct wfs_client *c, size_t *len)
{
	*len = sizeof(c->id);
	return c->id;
}

int wfs_client_ping(struct wfs_client *c, const struct wfs_cred *cred)
{
	struct wfs_statfs st;

	return wfs_client_statfs(c, cred, 1, &st);
}

int wfs_client_call(struct wfs_client *c, const char *method,
		    const ProtobufCMessage *req,
		    const ProtobufCMessageDescriptor *resp_desc,
		    ProtobufCMessage **resp)
{
	return wfs_meta_call(c, method, req, resp_desc, resp, 0);
}

void wfs_client_msg_free(ProtobufCMessage *msg)
{
	wfs_rpc_msg_free(msg);
}
