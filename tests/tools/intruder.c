/* wfs_intruder: a node the cluster never admitted, on the real node
 * transport.  It tells whether a target storaged refuses its chunk
 * requests.
 *
 *   wfs_intruder [-k DIR] [-s STRIPE] [-o OPS] [-t MS] [-v] ADDR KEY
 *
 * With a key pair of its own (fresh, or a storaged's node.key), it starts
 * a wfs_net (net/link.h) and the chunk transfer client
 * (storaged/transfer.h), exactly as storaged wires them, and asks the node
 * at ADDR (its listen.peer), which must prove it holds KEY, to WRITE a
 * chunk of stripe STRIPE, then to READ it, then to STAT it.  Each attempt
 * prints one line, "OP: VERDICT: why (the error)", then a summary line:
 *
 *   refused   the target proved KEY in the handshake, then closed the link
 *             before answering anything: what a node does with a key it
 *             did not admit (net/link.c logs "unknown peer key" there);
 *   admitted  the target stored, answered (even with an error such as
 *             "No such file or directory") or kept the link open;
 *   unclear   no handshake completed: nothing listens at ADDR, the node
 *             there does not hold KEY, the network dropped it.  Not a
 *             refusal: a test must not pass because its target is away.
 *
 * Exit status: 0 if every attempt was refused, 1 if any was admitted, 2 if
 * any was unclear or on a usage or setup error.  So, with a key the
 * target admits, the same run exits 1: the tool can fail.
 *
 * The transfer service wants a chunk store even to act as a client; the
 * tool opens an empty one in a scratch directory under $TMPDIR (or /tmp)
 * and removes it at exit.  Its net has no listener: nobody can call it.
 *
 * A test program: it prints.  It is not a way to reach a cluster: it
 * proves only what a target does with the key it is given.
 */
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chunk/format.h"
#include "log/log.h"
#include "mem/mem.h"
#include "net/link.h"
#include "storaged/chunkstore.h"
#include "storaged/identity.h"
#include "storaged/transfer.h"

/* Stripe id of the chunk tried: distinctive in a chunk file name
 * (00badc0de0badc0d-0000000000000001-01), below 2^56 as chunk ids want,
 * and far above the ids a test cluster hands out. */
#define DEFAULT_STRIPE 0x00badc0de0badc0dULL
#define DEFAULT_TIMEOUT_MS 10000
#define CHUNK_LEN (64u << 10)
#define CHUNK_INDEX 1
#define KEY_HEX_LEN (2 * WFS_IDENTITY_PK_LEN)
#define CHUNK_NAME_MAX 48

enum verdict { REFUSED, ADMITTED, UNCLEAR, VERDICTS };
static const char *const verdict_names[VERDICTS] = {
	"refused", "admitted", "unclear",
};

/* What the net saw of the links; the counters only grow. */
struct watch {
	unsigned opened;	/* links whose handshake completed */
	unsigned reset;		/* of those, closed by the peer */
	unsigned msgs;		/* chunk messages the peer sent us */
};

struct args {
	const char *addr;
	const char *key_dir;	/* NULL: a fresh key pair */
	uint8_t target_pk[WFS_IDENTITY_PK_LEN];
	uint64_t stripe;
	unsigned timeout_ms;
	bool ops[3];		/* write, read, stat */
	bool verbose;
};

struct intruder {
	const struct args *a;
	uint8_t pk[WFS_IDENTITY_PK_LEN];
	uint8_t sk[WFS_IDENTITY_SK_LEN];
	char dir[PATH_MAX];	/* the scratch store; "" if none */
	struct wfs_store *store;
	struct wfs_net *net;
	struct wfs_transfer *xfer;
	pthread_mutex_t lock;
	struct watch w;		/* protected by lock */
	char chunk[CHUNK_NAME_MAX];	/* the chunk's file name on a disk */
};

static void usage(FILE *out)
{
	fprintf(out,
"usage: wfs_intruder [options] ADDR KEY\n"
"       wfs_intruder --help\n"
"\n"
"Plays a node the cluster never admitted: connects to the storaged whose\n"
"node transport listens at ADDR (its listen.peer, host:port) and must prove\n"
"it holds KEY (hex, as `storaged --show-key -c CONFIG` prints it), and tries\n"
"to WRITE a chunk there, to READ it and to STAT it.  One line per attempt:\n"
"  refused   the target proved its key, then closed the link unanswered\n"
"  admitted  it stored, answered (even with an error) or kept the link\n"
"  unclear   no handshake: nothing listens there, or another key does\n"
"\n"
"options:\n"
"  -k, --key-dir DIR   use the key pair in DIR/node.key (a storaged's\n"
"                      node.data_dir; it must exist); default: a fresh one\n"
"  -s, --stripe ID     stripe id of the chunk tried (default 0x%016llx);\n"
"                      its file would be named <ID as 16 hex>-%016x-%02x\n"
"  -o, --ops LIST      which attempts, comma-separated, run in this order:\n"
"                      write,read,stat (the default: all three)\n"
"  -t, --timeout MS    longest one attempt may take (default %u)\n"
"  -v, --verbose       log the transport's lines, debug included, to stderr\n"
"  -h, --help          this help\n"
"\n"
"exit status: 0 every attempt refused, 1 any admitted, 2 any unclear or a\n"
"usage or setup error.\n"
"\n"
"example: with the key in /srv/stray/node.key, knock on a member whose\n"
"listen.peer is 10.0.0.1:7701:\n"
"  wfs_intruder -k /srv/stray 10.0.0.1:7701 \\\n"
"      $(storaged --show-key -c /etc/wormfs/storaged.yaml)\n",
		(unsigned long long)DEFAULT_STRIPE, 1, CHUNK_INDEX,
		DEFAULT_TIMEOUT_MS);
}

/* ---- arguments ---- */

static int parse_ops(const char *list, bool ops[3])
{
	static const char *const names[3] = { "write", "read", "stat" };
	char *copy = wfs_strdup(list), *save = NULL, *tok;
	int rc = 0, i;

	if (!copy)
		return -ENOMEM;
	memset(ops, 0, 3 * sizeof(ops[0]));
	for (tok = strtok_r(copy, ",", &save); tok && rc == 0;
	     tok = strtok_r(NULL, ",", &save)) {
		for (i = 0; i < 3 && strcmp(tok, names[i]) != 0; i++)
			;
		if (i == 3)
			rc = -EINVAL;
		else
			ops[i] = true;
	}
	if (rc == 0 && !ops[0] && !ops[1] && !ops[2])
		rc = -EINVAL;
	wfs_free(copy);
	return rc;
}

static int parse_number(const char *s, unsigned long long max,
			unsigned long long *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 0);
	if (errno || end == s || *end || *s == '-' || *out > max)
		return -EINVAL;
	return 0;
}

static int bad_args(void)
{
	fprintf(stderr, "wfs_intruder: bad arguments (try --help)\n");
	return 2;
}

/* Returns -1 to go on, else the exit status. */
static int parse_args(int argc, char **argv, struct args *a)
{
	static const struct option longs[] = {
		{ "key-dir", required_argument, NULL, 'k' },
		{ "stripe", required_argument, NULL, 's' },
		{ "ops", required_argument, NULL, 'o' },
		{ "timeout", required_argument, NULL, 't' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long long v;
	int opt;

	memset(a, 0, sizeof(*a));
	a->stripe = DEFAULT_STRIPE;
	a->timeout_ms = DEFAULT_TIMEOUT_MS;
	a->ops[0] = a->ops[1] = a->ops[2] = true;
	while ((opt = getopt_long(argc, argv, "k:s:o:t:vh", longs, NULL)) != -1) {
		switch (opt) {
		case 'k':
			a->key_dir = optarg;
			break;
		case 's':
			if (parse_number(optarg, UINT64_MAX, &v) != 0)
				return bad_args();
			a->stripe = v;
			break;
		case 'o':
			if (parse_ops(optarg, a->ops) != 0)
				return bad_args();
			break;
		case 't':
			if (parse_number(optarg, 3600000, &v) != 0 || v == 0)
				return bad_args();
			a->timeout_ms = (unsigned)v;
			break;
		case 'v':
			a->verbose = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (argc - optind != 2)
		return bad_args();
	a->addr = argv[optind];
	if (strlen(argv[optind + 1]) != KEY_HEX_LEN ||
	    sodium_hex2bin(a->target_pk, sizeof(a->target_pk),
			   argv[optind + 1], KEY_HEX_LEN, NULL, NULL,
			   NULL) != 0) {
		fprintf(stderr, "wfs_intruder: KEY must be %d hex digits\n",
			KEY_HEX_LEN);
		return 2;
	}
	return -1;
}

/* ---- net callbacks (net thread) ---- */

/* Talk to the target only, whatever it thinks of us. */
static bool admit(void *arg, const uint8_t pk[32])
{
	struct intruder *in = arg;

	return memcmp(pk, in->a->target_pk, WFS_IDENTITY_PK_LEN) == 0;
}

static void on_open(void *arg, uint64_t link, const uint8_t *pk,
		    bool incoming)
{
	struct intruder *in = arg;

	(void)link;
	(void)pk;
	(void)incoming;
	pthread_mutex_lock(&in->lock);
	in->w.opened++;
	pthread_mutex_unlock(&in->lock);
}

static void on_msg(void *arg, uint64_t link, const uint8_t *pk, uint8_t type,
		   const void *buf, size_t len)
{
	struct intruder *in = arg;

	pthread_mutex_lock(&in->lock);
	in->w.msgs++;
	pthread_mutex_unlock(&in->lock);
	if (type == WFS_NET_TYPE_CHUNK)
		wfs_transfer_on_msg(in->xfer, link, pk, buf, len);
}

/* Counted before the transfer hears of it, so that a call the close ends
 * returns with the count already made. */
static void on_close(void *arg, uint64_t link, const uint8_t *pk, int reason)
{
	struct intruder *in = arg;

	pthread_mutex_lock(&in->lock);
	if (pk && reason == -ECONNRESET)
		in->w.reset++;
	pthread_mutex_unlock(&in->lock);
	wfs_transfer_on_close(in->xfer, link, pk, reason);
}

/* ---- set-up ---- */

static void key_hex(const uint8_t *pk, char out[KEY_HEX_LEN + 1])
{
	sodium_bin2hex(out, KEY_HEX_LEN + 1, pk, WFS_IDENTITY_PK_LEN);
}

/* This side's key pair: DIR/node.key (never made here), or a fresh one. */
static int load_key(struct intruder *in, const char **how)
{
	struct wfs_identity id;
	char path[PATH_MAX];
	struct stat st;
	bool created;
	int rc;

	if (!in->a->key_dir) {
		crypto_sign_keypair(in->pk, in->sk);
		*how = "a fresh key pair";
		return 0;
	}
	if (snprintf(path, sizeof(path), "%s/%s", in->a->key_dir,
		     WFS_IDENTITY_FILE) >= (int)sizeof(path)) {
		fprintf(stderr, "wfs_intruder: %s: path too long\n",
			in->a->key_dir);
		return -ENAMETOOLONG;
	}
	/* wfs_identity_load would make a key where there is none. */
	if (stat(path, &st) != 0) {
		rc = -errno;
		fprintf(stderr, "wfs_intruder: %s: %s\n", path, strerror(-rc));
		return rc;
	}
	rc = wfs_identity_load(in->a->key_dir, &id, &created);
	if (rc != 0) {
		fprintf(stderr, "wfs_intruder: %s: %s\n", path, strerror(-rc));
		return rc;
	}
	memcpy(in->pk, id.pk, sizeof(in->pk));
	memcpy(in->sk, id.sk, sizeof(in->sk));
	wfs_identity_release(&id);
	*how = "node.key";
	return 0;
}

static int open_store(struct intruder *in)
{
	const char *tmp = getenv("TMPDIR");
	const char *paths[1] = { in->dir };
	int rc;

	if (!tmp || !*tmp)
		tmp = "/tmp";
	if (snprintf(in->dir, sizeof(in->dir), "%s/wfs-intruder.XXXXXX",
		     tmp) >= (int)sizeof(in->dir))
		return -ENAMETOOLONG;
	if (!mkdtemp(in->dir)) {
		rc = -errno;
		in->dir[0] = '\0';
		return rc;
	}
	return wfs_store_open("intruder", paths, 1, &in->store);
}

static int remove_entry(const char *path, const struct stat *st, int flag,
			struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) != 0 ? -1 : 0;
}

static void teardown(struct intruder *in)
{
	if (in->net)
		wfs_net_stop(in->net);
	wfs_transfer_free(in->xfer);
	wfs_net_free(in->net);
	wfs_store_close(in->store);
	if (in->dir[0] &&
	    nftw(in->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
		fprintf(stderr, "wfs_intruder: cannot remove %s: %s\n",
			in->dir, strerror(errno));
	sodium_memzero(in->sk, sizeof(in->sk));
	pthread_mutex_destroy(&in->lock);
}

/* Keys, the scratch store, the net and the transfer client, running.
 * Returns 0, or an error already printed. */
static int setup(struct intruder *in, const struct args *a)
{
	struct wfs_transfer_options topts = { .workers = 1,
					      .timeout_ms = a->timeout_ms };
	struct wfs_net_config cfg = {
		.pk = in->pk, .sk = in->sk,
		.admit = admit, .admit_arg = in,
		.on_open = on_open, .on_msg = on_msg, .on_close = on_close,
		.arg = in,
	};
	char mine[KEY_HEX_LEN + 1], theirs[KEY_HEX_LEN + 1];
	const char *how = NULL;
	int rc;

	memset(in, 0, sizeof(*in));
	in->a = a;
	pthread_mutex_init(&in->lock, NULL);
	snprintf(in->chunk, sizeof(in->chunk), "%016" PRIx64 "-%016x-%02x",
		 a->stripe, 1, CHUNK_INDEX);
	rc = load_key(in, &how);
	if (rc != 0)
		return rc;
	rc = open_store(in);
	if (rc != 0) {
		fprintf(stderr, "wfs_intruder: scratch chunk store %s: %s\n",
			in->dir[0] ? in->dir : "", strerror(-rc));
		return rc;
	}
	rc = wfs_net_new(&cfg, &in->net);
	if (rc == 0)
		rc = wfs_transfer_new(in->net, in->store, &topts, &in->xfer);
	if (rc == 0)
		rc = wfs_net_start(in->net);
	if (rc != 0) {
		fprintf(stderr, "wfs_intruder: cannot start the node "
			"transport: %s\n", strerror(-rc));
		return rc;
	}
	key_hex(in->pk, mine);
	key_hex(a->target_pk, theirs);
	printf("intruder: key %.16s... (%s); target %s, key %.16s...\n",
	       mine, how, a->addr, theirs);
	return 0;
}

/* ---- attempts ---- */

/* One attempt: returns the call's result; on success @ok says what the
 * target gave. */
typedef int (*attempt_fn)(struct intruder *in, char *ok, size_t len);

static void chunk_key(const struct intruder *in, struct wfs_chunk_key *k)
{
	k->stripe_id = in->a->stripe;
	k->version = 1;
	k->index = CHUNK_INDEX;
}

static int try_write(struct intruder *in, char *ok, size_t len)
{
	struct wfs_chunk_header h = {
		.kind = WFS_CHUNK_EC, .k = 4, .m = 2,
		.stripe_id = in->a->stripe, .stripe_version = 1,
		.chunk_index = CHUNK_INDEX,
		.chunk_id = wfs_chunk_id(in->a->stripe, CHUNK_INDEX),
		.stripe_data_len = 4 * (uint64_t)CHUNK_LEN,
	};
	uint8_t *data = wfs_malloc(CHUNK_LEN);
	int rc;

	if (!data)
		return -ENOMEM;
	randombytes_buf(data, CHUNK_LEN);
	rc = wfs_chunk_header_set_data(&h, data, CHUNK_LEN);
	if (rc == 0)
		rc = wfs_transfer_write(in->xfer, in->a->addr,
					in->a->target_pk, &h, data);
	if (rc == 0)
		snprintf(ok, len, "the target stored chunk %s", in->chunk);
	wfs_free(data);
	return rc;
}

static int try_read(struct intruder *in, char *ok, size_t len)
{
	struct wfs_chunk_header h;
	struct wfs_chunk_key k;
	uint8_t *buf = wfs_malloc(CHUNK_LEN);
	size_t got = 0;
	int rc;

	if (!buf)
		return -ENOMEM;
	chunk_key(in, &k);
	rc = wfs_transfer_read(in->xfer, in->a->addr, in->a->target_pk, &k,
			       0, CHUNK_LEN, &h, buf, &got);
	if (rc == 0)
		snprintf(ok, len, "the target sent %zu bytes of chunk %s",
			 got, in->chunk);
	wfs_free(buf);
	return rc;
}

static int try_stat(struct intruder *in, char *ok, size_t len)
{
	struct wfs_chunk_key k;
	uint32_t data_len = 0;
	int rc;

	chunk_key(in, &k);
	rc = wfs_transfer_stat(in->xfer, in->a->addr, in->a->target_pk, &k,
			       &data_len);
	if (rc == 0)
		snprintf(ok, len, "the target holds chunk %s (%" PRIu32
			 " bytes)", in->chunk, data_len);
	return rc;
}

static struct watch watch_get(struct intruder *in)
{
	struct watch w;

	pthread_mutex_lock(&in->lock);
	w = in->w;
	pthread_mutex_unlock(&in->lock);
	return w;
}

/* What the attempt that returned @rc shows, given what the net saw before
 * (@b) and after (@e) it; @why gets the reason. */
static enum verdict judge(int rc, const struct watch *b,
			  const struct watch *e, const char *ok,
			  char *why, size_t len)
{
	unsigned opened = e->opened - b->opened, reset = e->reset - b->reset;
	const char *err = strerror(-rc);

	if (rc == 0) {
		snprintf(why, len, "%s", ok);
		return ADMITTED;
	}
	if (e->msgs != b->msgs) {
		snprintf(why, len, "the target answered (%s)", err);
		return ADMITTED;
	}
	if (opened == 0) {
		snprintf(why, len, "no handshake with the target (%s)%s", err,
			 rc == -EACCES ? ": the node there does not hold "
			 "KEY" : "");
		return UNCLEAR;
	}
	if (rc == -ECONNRESET && reset == opened) {
		snprintf(why, len, "the target proved its key, then closed "
			 "the link unanswered (%s)", err);
		return REFUSED;
	}
	snprintf(why, len, "the target took the handshake and did not close "
		 "the link (%s)", err);
	return ADMITTED;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		attempt_fn fn;
	} attempts[3] = {
		{ "write", try_write },
		{ "read", try_read },
		{ "stat", try_stat },
	};
	unsigned count[VERDICTS] = { 0 }, tried = 0;
	struct intruder in;
	struct args a;
	int rc;

	if (sodium_init() < 0) {
		fprintf(stderr, "wfs_intruder: libsodium does not start\n");
		return 2;
	}
	rc = parse_args(argc, argv, &a);
	if (rc >= 0)
		return rc;
	signal(SIGPIPE, SIG_IGN);
	if (a.verbose) {
		wfs_log_to_stderr();
		wfs_log_set_level(WFS_LOG_DEBUG);
	}
	if (setup(&in, &a) != 0) {
		teardown(&in);
		return 2;
	}
	for (int i = 0; i < 3; i++) {
		char ok[128] = "", why[256];
		struct watch b, e;
		enum verdict v;

		if (!a.ops[i])
			continue;
		b = watch_get(&in);
		rc = attempts[i].fn(&in, ok, sizeof(ok));
		e = watch_get(&in);
		v = judge(rc, &b, &e, ok, why, sizeof(why));
		count[v]++;
		tried++;
		printf("%s: %s: %s\n", attempts[i].name, verdict_names[v], why);
		fflush(stdout);
	}
	teardown(&in);
	printf("intruder: %u refused, %u admitted, %u unclear, of %u "
	       "attempts on %s\n", count[REFUSED], count[ADMITTED],
	       count[UNCLEAR], tried, a.addr);
	if (count[ADMITTED])
		return 1;
	return count[UNCLEAR] ? 2 : 0;
}
