/* config: read and check storaged's YAML configuration.
 *
 * libyaml loads the text into a document: a tree of nodes that carry their
 * line and column.  One table, keys[], names every key with its kind, range,
 * default and the field of struct wfs_config it fills; a walk over the
 * document looks each key up there and hands the value to its kind's setter
 * (kinds[]).  Defaults go through the same setters before the walk, written
 * as an operator would write them, so the table is the one place that says
 * what a key accepts.  Checks that involve several keys (required keys,
 * write_quorum within k..k+m, listen addresses that would collide) run after
 * the walk.  Every problem becomes one message; the walk goes on after one,
 * and stops only past WFS_CONFIG_MAX_ERRORS.
 *
 * libyaml's own allocations do not go through mem/mem.h; they are released
 * with the parser and the document on every path.
 */
#include "nodeconf/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "erasure/codec.h"
#include "mem/mem.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define KiB (1ULL << 10)
#define MiB (1ULL << 20)
#define GiB (1ULL << 30)
#define TiB (1ULL << 40)

#define PATH_MAX_LEN 4095	/* PATH_MAX less its NUL */
#define NAME_MAX_LEN 63		/* node.name: one DNS label */
#define SHOWN_MAX 48		/* characters of a value quoted in a message */

/* ---- Values: sizes, durations, addresses ---- */

struct unit {
	const char *name;
	uint64_t mult;
};

static const struct unit size_units[] = {
	{ "", 1 }, { "B", 1 }, { "KiB", KiB }, { "MiB", MiB }, { "GiB", GiB },
	{ "TiB", TiB },
};

/* Longer names first: "ms" must win over "m". */
static const struct unit duration_units[] = {
	{ "ms", 1 }, { "s", 1000 }, { "m", 60 * 1000 }, { "h", 3600 * 1000 },
	{ "d", 86400 * 1000 },
};

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_lower_alnum(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z');
}

static bool is_alnum(char c)
{
	return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

/* Read the decimal digits at *sp and step past them. */
static int parse_digits(const char **sp, uint64_t *out)
{
	const char *s = *sp;
	uint64_t v = 0;

	if (!is_digit(*s))
		return -EINVAL;
	for (; is_digit(*s); s++) {
		unsigned d = (unsigned)(*s - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	*sp = s;
	*out = v;
	return 0;
}

static int parse_uint(const char *s, uint64_t *out)
{
	int rc = parse_digits(&s, out);

	if (rc == 0 && *s)
		return -EINVAL;
	return rc;
}

int wfs_config_parse_size(const char *s, uint64_t *out)
{
	uint64_t v;
	bool space;
	int rc = parse_digits(&s, &v);

	if (rc)
		return rc;
	space = *s == ' ';
	s += space;
	for (size_t i = space; i < ARRAY_SIZE(size_units); i++) {
		if (strcasecmp(s, size_units[i].name) != 0)
			continue;
		if (v > UINT64_MAX / size_units[i].mult)
			return -ERANGE;
		*out = v * size_units[i].mult;
		return 0;
	}
	return -EINVAL;
}

/* A rate is a size per second; the "/s" is optional. */
static int parse_rate(const char *s, uint64_t *out)
{
	char buf[64];
	size_t n = strlen(s);

	if (n >= 2 && strcmp(s + n - 2, "/s") == 0) {
		if (n - 2 >= sizeof(buf))
			return -EINVAL;
		memcpy(buf, s, n - 2);
		buf[n - 2] = '\0';
		s = buf;
	}
	return wfs_config_parse_size(s, out);
}

static const struct unit *duration_unit(const char **sp)
{
	for (size_t i = 0; i < ARRAY_SIZE(duration_units); i++) {
		size_t n = strlen(duration_units[i].name);

		if (strncmp(*sp, duration_units[i].name, n) == 0) {
			*sp += n;
			return &duration_units[i];
		}
	}
	return NULL;
}

int wfs_config_parse_duration(const char *s, uint64_t *out_ms)
{
	uint64_t total = 0;

	if (strcmp(s, "0") == 0) {
		*out_ms = 0;
		return 0;
	}
	if (!*s)
		return -EINVAL;
	while (*s) {
		const struct unit *u;
		uint64_t v;
		int rc = parse_digits(&s, &v);

		if (rc)
			return rc;
		u = duration_unit(&s);
		if (!u)
			return -EINVAL;
		if (v > (UINT64_MAX - total) / u->mult)
			return -ERANGE;
		total += v * u->mult;
	}
	*out_ms = total;
	return 0;
}

/* RFC 1123 host name: labels of letters, digits and '-', 1..63 long, not
 * starting or ending with '-', joined by single dots. */
static bool valid_hostname(const char *h, size_t n)
{
	size_t label = 0;

	if (n == 0 || n > WFS_CONFIG_HOST_MAX - 1)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (h[i] == '.') {
			if (label == 0 || h[i - 1] == '-')
				return false;
			label = 0;
		} else if (!is_alnum(h[i]) && (h[i] != '-' || label == 0)) {
			return false;
		} else if (++label > 63) {
			return false;
		}
	}
	return label > 0 && h[n - 1] != '-';
}

static int parse_port(const char *s, uint16_t *out)
{
	uint64_t v;
	int rc = parse_uint(s, &v);

	if (rc == -EINVAL)
		return rc;
	if (rc || v < 1 || v > 65535)
		return -ERANGE;
	*out = (uint16_t)v;
	return 0;
}

/* Split @s into host (brackets removed) and the text after the ':' that
 * ends it; guess the family from the host's form. */
static int split_addr(const char *s, char *host, const char **port,
		      int *family)
{
	const char *h = s, *end;

	if (*s == '[') {
		h = s + 1;
		end = strchr(h, ']');
		if (!end || end[1] != ':')
			return -EINVAL;
		*family = AF_INET6;
	} else {
		end = strchr(s, ':');
		if (!end || strchr(end + 1, ':'))
			return -EINVAL;
		*family = strspn(s, "0123456789.") == (size_t)(end - s)
				  ? AF_INET : AF_UNSPEC;
	}
	if (end == h || end - h >= WFS_CONFIG_HOST_MAX)
		return -EINVAL;
	memcpy(host, h, (size_t)(end - h));
	host[end - h] = '\0';
	*port = end + (*end == ']' ? 2 : 1);
	return 0;
}

int wfs_config_parse_addr(const char *s, struct wfs_config_addr *out)
{
	struct wfs_config_addr a = { .port = 0 };
	unsigned char bin[sizeof(struct in6_addr)];
	const char *port;
	int rc = split_addr(s, a.host, &port, &a.family);

	if (rc)
		return rc;
	if (a.family == AF_UNSPEC ? !valid_hostname(a.host, strlen(a.host))
				  : inet_pton(a.family, a.host, bin) != 1)
		return -EINVAL;
	rc = parse_port(port, &a.port);
	if (rc)
		return rc;
	*out = a;
	return 0;
}

int wfs_config_addr_format(const struct wfs_config_addr *addr, char *buf,
			   size_t len)
{
	if (addr->family == AF_INET6)
		return snprintf(buf, len, "[%s]:%u", addr->host, addr->port);
	return snprintf(buf, len, "%s:%u", addr->host, addr->port);
}

/* The largest binary unit that divides @v: 4194304 -> "4MiB". */
static void format_size(uint64_t v, char *buf, size_t len)
{
	size_t i = 1;

	while (i + 1 < ARRAY_SIZE(size_units) && v &&
	       v % size_units[i + 1].mult == 0)
		i++;
	snprintf(buf, len, "%llu%s",
		 (unsigned long long)(v / size_units[i].mult),
		 i == 1 ? "" : size_units[i].name);
}

static void format_rate(uint64_t v, char *buf, size_t len)
{
	format_size(v, buf, len);
	strncat(buf, "/s", len - strlen(buf) - 1);
}

static void format_duration(uint64_t ms, char *buf, size_t len)
{
	size_t i = ARRAY_SIZE(duration_units) - 1;

	while (i > 0 && ms % duration_units[i].mult != 0)
		i--;
	if (ms == 0)
		i = 1;
	snprintf(buf, len, "%llu%s",
		 (unsigned long long)(ms / duration_units[i].mult),
		 duration_units[i].name);
}

static void format_uint(uint64_t v, char *buf, size_t len)
{
	snprintf(buf, len, "%llu", (unsigned long long)v);
}

/* ---- Messages ---- */

/* Where a value came from: the key as an operator names it ("disks[2]"; NULL
 * for the whole file) and its position (NULL for a default). */
struct site {
	const char *key;
	const yaml_mark_t *mark;
};

/* Per key of the table: what the walk saw. */
struct key_state {
	bool present;		/* a non-null value was given */
	bool bad;		/* ... and was refused (no follow-on errors) */
	yaml_mark_t mark;	/* the value's position, if present */
	yaml_mark_t parent;	/* the mapping that holds or should hold it */
};

struct ctx {
	const char *name;		/* the file, in messages */
	yaml_document_t *doc;
	struct wfs_config *cfg;		/* being filled */
	struct wfs_config_errors *errs;	/* may be NULL */
	size_t nerrors;			/* problems found, kept or not */
	struct key_state *state;	/* one per keys[] entry */
};

/* Append a copy of @msg to @errs. */
static int push_msg(struct wfs_config_errors *errs, const char *msg)
{
	char **grown, *copy = wfs_strdup(msg);

	if (!copy)
		return -ENOMEM;
	grown = wfs_realloc(errs->msgs, (errs->count + 1) * sizeof(*grown));
	if (!grown) {
		wfs_free(copy);
		return -ENOMEM;
	}
	grown[errs->count++] = copy;
	errs->msgs = grown;
	return 0;
}

static bool too_many(const struct ctx *c)
{
	return c->nerrors > WFS_CONFIG_MAX_ERRORS;
}

/* Record one problem as "file:line:col: key: what"; past the limit it is
 * only counted.  Returns 0 or -ENOMEM. */
static int vreport(struct ctx *c, const struct site *at, const char *fmt,
		   va_list ap)
{
	char msg[1024], pos[48] = "";
	int n;

	if (++c->nerrors > WFS_CONFIG_MAX_ERRORS || !c->errs)
		return 0;
	if (at->mark)
		snprintf(pos, sizeof(pos), "%zu:%zu:", at->mark->line + 1,
			 at->mark->column + 1);
	n = snprintf(msg, sizeof(msg), "%s:%s%s%s%s ", c->name, pos,
		     at->key ? " " : "", at->key ? at->key : "",
		     at->key ? ":" : "");
	if (n < 0 || (size_t)n >= sizeof(msg))
		n = 0;
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	return push_msg(c->errs, msg);
}

static int __attribute__((format(printf, 3, 4)))
report(struct ctx *c, const struct site *at, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vreport(c, at, fmt, ap);
	va_end(ap);
	return rc;
}

/* report() for a value a setter refuses: returns -EINVAL, or -ENOMEM. */
static int __attribute__((format(printf, 3, 4)))
invalid(struct ctx *c, const struct site *at, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vreport(c, at, fmt, ap);
	va_end(ap);
	return rc ? rc : -EINVAL;
}

/* @s cut to SHOWN_MAX characters, control bytes shown as '?', so a message
 * stays one printable line whatever the file holds. */
static const char *shown(const char *s, size_t len, char *buf, size_t size)
{
	size_t n = 0;

	for (size_t i = 0; i < len && n + 4 < size && i < SHOWN_MAX; i++)
		buf[n++] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?'
								      : s[i];
	if (len > SHOWN_MAX && n + 4 < size)
		n += (size_t)snprintf(buf + n, size - n, "...");
	buf[n] = '\0';
	return buf;
}

/* A node as a message shows it: 'text', "a mapping" or "a list". */
static const char *describe(const yaml_node_t *node, char *buf, size_t size)
{
	char tmp[SHOWN_MAX + 8];

	if (node->type == YAML_MAPPING_NODE)
		return "a mapping";
	if (node->type == YAML_SEQUENCE_NODE)
		return "a list";
	snprintf(buf, size, "'%s'",
		 shown((const char *)node->data.scalar.value,
		       node->data.scalar.length, tmp, sizeof(tmp)));
	return buf;
}

/* ---- Kinds of value ---- */

enum kind {
	K_UINT, K_SIZE, K_RATE, K_DURATION, K_BOOL, K_LEVEL, K_NAME, K_STRING,
	K_PATH, K_ADDR, K_PATHS, K_ADDRS,
};

enum key_flag {
	F_REQUIRED = 1 << 0,
	F_POW2 = 1 << 1,	/* numbers: a power of two */
	F_ODD = 1 << 2,		/* numbers: odd */
};

/* One key of the file. */
struct key {
	const char *path;	/* dotted, "policy.k" */
	enum kind kind;
	unsigned flags;		/* enum key_flag */
	uint64_t min, max;	/* numbers: the range; lists: entries */
	const char *def;	/* default as written in a file; NULL: none */
	size_t off;		/* the field in struct wfs_config */
	const char *allowed;	/* numbers: replaces "between min and max" */
};

struct kind_ops;

/* Check @text for key @k (whose kind is described by @ops) and store it in
 * @field.  Returns 0, -EINVAL once it has reported why, or -ENOMEM. */
typedef int (*set_cb)(struct ctx *c, const struct key *k,
		      const struct kind_ops *ops, const struct site *at,
		      const char *text, void *field);

struct kind_ops {
	const char *expect;	/* "expected <expect>, got ..." */
	set_cb set;		/* scalars: check @text, store it in @field */
	int (*parse)(const char *s, uint64_t *out);	/* numbers */
	void (*format)(uint64_t v, char *buf, size_t len); /* numbers */
	void (*release)(void *field);	/* kinds that own memory */
	/* lists: the kind of an entry, its size, and the list's fields */
	enum kind elem;
	size_t elem_size;
	bool (*same)(const void *a, const void *b);
	void (*store)(void *field, void *items, size_t count);
};

static int set_number(struct ctx *c, const struct key *k,
		      const struct kind_ops *ops, const struct site *at,
		      const char *text, void *field)
{
	char lo[32], hi[32], buf[SHOWN_MAX + 8];
	uint64_t v;
	int rc = ops->parse(text, &v);

	if (rc == -EINVAL)
		return invalid(c, at, "expected %s, got '%s'", ops->expect,
			       shown(text, strlen(text), buf, sizeof(buf)));
	if (rc == 0 && v >= k->min && v <= k->max &&
	    (!(k->flags & F_POW2) || (v & (v - 1)) == 0) &&
	    (!(k->flags & F_ODD) || (v & 1))) {
		if (k->kind == K_UINT)
			*(unsigned *)field = (unsigned)v;
		else
			*(uint64_t *)field = v;
		return 0;
	}
	shown(text, strlen(text), buf, sizeof(buf));
	if (k->allowed)
		return invalid(c, at, "must be %s, got %s", k->allowed, buf);
	ops->format(k->min, lo, sizeof(lo));
	ops->format(k->max, hi, sizeof(hi));
	return invalid(c, at, "must be %sbetween %s and %s, got %s",
		       k->flags & F_POW2 ? "a power of two " : "", lo, hi, buf);
}

static int set_bool(struct ctx *c, const struct key *k,
		    const struct kind_ops *ops, const struct site *at,
		    const char *text, void *field)
{
	static const char *const yes[] = { "true", "yes", "on" };
	static const char *const no[] = { "false", "no", "off" };
	char buf[SHOWN_MAX + 8];

	(void)k;
	for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
		if (strcasecmp(text, yes[i]) == 0 ||
		    strcasecmp(text, no[i]) == 0) {
			*(bool *)field = strcasecmp(text, yes[i]) == 0;
			return 0;
		}
	}
	return invalid(c, at, "expected %s, got '%s'", ops->expect,
		       shown(text, strlen(text), buf, sizeof(buf)));
}

static int set_level(struct ctx *c, const struct key *k,
		     const struct kind_ops *ops, const struct site *at,
		     const char *text, void *field)
{
	char buf[SHOWN_MAX + 8];

	(void)k;
	if (wfs_log_parse_level(text, field) == 0)
		return 0;
	return invalid(c, at, "expected %s, got '%s'", ops->expect,
		       shown(text, strlen(text), buf, sizeof(buf)));
}

static int store_string(char **field, const char *text, size_t len)
{
	char *copy = wfs_malloc(len + 1);

	if (!copy)
		return -ENOMEM;
	memcpy(copy, text, len);
	copy[len] = '\0';
	wfs_free(*field);
	*field = copy;
	return 0;
}

static int set_string(struct ctx *c, const struct key *k,
		      const struct kind_ops *ops, const struct site *at,
		      const char *text, void *field)
{
	(void)k;
	(void)ops;
	if (!*text)
		return invalid(c, at, "must not be empty");
	return store_string(field, text, strlen(text));
}

static int set_name(struct ctx *c, const struct key *k,
		    const struct kind_ops *ops, const struct site *at,
		    const char *text, void *field)
{
	char buf[SHOWN_MAX + 8];
	size_t n = strlen(text);

	(void)k;
	(void)ops;
	shown(text, n, buf, sizeof(buf));
	if (n > NAME_MAX_LEN)
		return invalid(c, at, "must be at most %d characters, got %zu",
			       NAME_MAX_LEN, n);
	for (size_t i = 0; i < n; i++)
		if (!is_lower_alnum(text[i]) && text[i] != '-')
			return invalid(c, at,
				       "may hold only a-z, 0-9 and '-', got '%s'",
				       buf);
	if (text[0] == '-' || text[n - 1] == '-')
		return invalid(c, at, "must not start or end with '-', got '%s'",
			       buf);
	return store_string(field, text, n);
}

/* Paths are kept without trailing slashes, so "/srv/d1/" and "/srv/d1" are
 * the same disk. */
static int set_path(struct ctx *c, const struct key *k,
		    const struct kind_ops *ops, const struct site *at,
		    const char *text, void *field)
{
	char buf[SHOWN_MAX + 8];
	size_t n = strlen(text);

	(void)k;
	(void)ops;
	if (text[0] != '/')
		return invalid(c, at, "must be an absolute path, got '%s'",
			       shown(text, n, buf, sizeof(buf)));
	if (n > PATH_MAX_LEN)
		return invalid(c, at, "must be at most %d characters, got %zu",
			       PATH_MAX_LEN, n);
	while (n > 1 && text[n - 1] == '/')
		n--;
	return store_string(field, text, n);
}

static int set_addr(struct ctx *c, const struct key *k,
		    const struct kind_ops *ops, const struct site *at,
		    const char *text, void *field)
{
	char buf[SHOWN_MAX + 8];
	int rc = wfs_config_parse_addr(text, field);

	(void)k;
	shown(text, strlen(text), buf, sizeof(buf));
	if (rc == -ERANGE)
		return invalid(c, at, "port must be between 1 and 65535, got '%s'",
			       buf);
	if (rc)
		return invalid(c, at, "expected %s, got '%s'", ops->expect,
			       buf);
	return 0;
}

static void release_string(void *field)
{
	wfs_free(*(char **)field);
	*(char **)field = NULL;
}

static void release_paths(void *field)
{
	struct wfs_config_paths *l = field;

	for (size_t i = 0; i < l->count; i++)
		wfs_free(l->paths[i]);
	wfs_free(l->paths);
	*l = (struct wfs_config_paths){ NULL, 0 };
}

static void release_addrs(void *field)
{
	struct wfs_config_addrs *l = field;

	wfs_free(l->addrs);
	*l = (struct wfs_config_addrs){ NULL, 0 };
}

static void store_paths(void *field, void *items, size_t count)
{
	*(struct wfs_config_paths *)field =
		(struct wfs_config_paths){ items, count };
}

static void store_addrs(void *field, void *items, size_t count)
{
	*(struct wfs_config_addrs *)field =
		(struct wfs_config_addrs){ items, count };
}

static bool same_path(const void *a, const void *b)
{
	const char *const *x = a, *const *y = b;

	return *x && *y && strcmp(*x, *y) == 0;
}

static bool same_addr(const void *a, const void *b)
{
	const struct wfs_config_addr *x = a, *y = b;

	return x->port && x->port == y->port &&
	       strcasecmp(x->host, y->host) == 0;
}

static const struct kind_ops kinds[] = {
	[K_UINT] = { "an integer", set_number, parse_uint, format_uint },
	[K_SIZE] = { "a size such as 65536, 64KiB or 1MiB", set_number,
		     wfs_config_parse_size, format_size },
	[K_RATE] = { "a rate such as 50MiB/s or 1GiB/s", set_number,
		     parse_rate, format_rate },
	[K_DURATION] = { "a duration such as 30s, 15m or 1h", set_number,
			 wfs_config_parse_duration, format_duration },
	[K_BOOL] = { "true or false", set_bool },
	[K_LEVEL] = { "one of error, warn, info or debug", set_level },
	[K_NAME] = { "a name of a-z, 0-9 and '-'", set_name,
		     .release = release_string },
	[K_STRING] = { "a string", set_string, .release = release_string },
	[K_PATH] = { "an absolute path", set_path, .release = release_string },
	[K_ADDR] = { "host:port, a.b.c.d:port or [ipv6]:port", set_addr },
	[K_PATHS] = { "a list of absolute paths", .release = release_paths,
		      .elem = K_PATH, .elem_size = sizeof(char *),
		      .same = same_path, .store = store_paths },
	[K_ADDRS] = { "a list of host:port addresses",
		      .release = release_addrs, .elem = K_ADDR,
		      .elem_size = sizeof(struct wfs_config_addr),
		      .same = same_addr, .store = store_addrs },
};

/* ---- The keys ---- */

enum key_id {
	KEY_NODE_NAME, KEY_DATA_DIR, KEY_API, KEY_PEER, KEY_GOSSIP, KEY_HTTP,
	KEY_DISKS, KEY_VOTER, KEY_VOTERS, KEY_SEEDS, KEY_JOIN_TOKEN, KEY_K,
	KEY_M, KEY_CHUNK_SIZE, KEY_WRITE_QUORUM, KEY_REPAIR_DELAY,
	KEY_REPAIR_RATE, KEY_LOG_LEVEL, KEY_LOG_FILE, NKEYS
};

#define AT(field) offsetof(struct wfs_config, field)

/* Every key of the file, in the order of config/storaged.yaml.  Keep the two
 * in step: the example documents what this table enforces. */
static const struct key keys[NKEYS] = {
	[KEY_NODE_NAME] = { "node.name", K_NAME, F_REQUIRED,
			    .off = AT(node.name) },
	[KEY_DATA_DIR] = { "node.data_dir", K_PATH, F_REQUIRED,
			   .off = AT(node.data_dir) },
	[KEY_API] = { "listen.api", K_ADDR, .def = "127.0.0.1:7700",
		      .off = AT(listen.api) },
	[KEY_PEER] = { "listen.peer", K_ADDR, .def = "127.0.0.1:7701",
		       .off = AT(listen.peer) },
	[KEY_GOSSIP] = { "listen.gossip", K_ADDR, .def = "127.0.0.1:7702",
			 .off = AT(listen.gossip) },
	[KEY_HTTP] = { "listen.http", K_ADDR, .def = "127.0.0.1:7780",
		       .off = AT(listen.http) },
	[KEY_DISKS] = { "disks", K_PATHS, F_REQUIRED, 1, 256,
			.off = AT(disks) },
	[KEY_VOTER] = { "metadata.voter", K_BOOL, .def = "true",
			.off = AT(metadata.voter) },
	[KEY_VOTERS] = { "metadata.voters", K_UINT, F_ODD, 1, 5, "3",
			 AT(metadata.voters), "1, 3 or 5" },
	[KEY_SEEDS] = { "cluster.seeds", K_ADDRS, 0, 0, 64,
			.off = AT(cluster.seeds) },
	[KEY_JOIN_TOKEN] = { "cluster.join_token", K_STRING,
			     .off = AT(cluster.join_token) },
	[KEY_K] = { "policy.k", K_UINT, 0, 1, WFS_EC_MAX_K, "4", AT(policy.k) },
	[KEY_M] = { "policy.m", K_UINT, 0, 1, WFS_EC_MAX_M, "2", AT(policy.m) },
	[KEY_CHUNK_SIZE] = { "policy.chunk_size", K_SIZE, F_POW2, 4 * KiB,
			     64 * MiB, "1MiB", AT(policy.chunk_size) },
	/* Default k+1 and range k..k+m: set after the walk. */
	[KEY_WRITE_QUORUM] = { "policy.write_quorum", K_UINT, 0, 1, 40,
			       .off = AT(policy.write_quorum) },
	[KEY_REPAIR_DELAY] = { "repair.delay", K_DURATION, 0, 0,
			       7 * 86400 * 1000, "15m", AT(repair.delay_ms) },
	[KEY_REPAIR_RATE] = { "repair.rate", K_RATE, 0, MiB, TiB, "200MiB/s",
			      AT(repair.rate) },
	[KEY_LOG_LEVEL] = { "log.level", K_LEVEL, .def = "info",
			    .off = AT(log.level) },
	[KEY_LOG_FILE] = { "log.file", K_PATH, .off = AT(log.file) },
};

static void *field_of(struct wfs_config *cfg, const struct key *k)
{
	return (char *)cfg + k->off;
}

/* If @path lies in section @prefix ("" for the top), the rest of it. */
static const char *in_section(const char *path, const char *prefix)
{
	size_t n = strlen(prefix);

	if (n == 0)
		return path;
	if (strncmp(path, prefix, n) == 0 && path[n] == '.')
		return path + n + 1;
	return NULL;
}

static int find_key(const char *path)
{
	for (int i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].path, path) == 0)
			return i;
	return -1;
}

static bool is_section(const char *path)
{
	for (int i = 0; i < NKEYS; i++)
		if (in_section(keys[i].path, path))
			return true;
	return false;
}

/* Optimal string alignment distance (Levenshtein plus transpositions), for
 * "did you mean": both strings at most 63 characters. */
static unsigned edit_distance(const char *a, size_t n, const char *b, size_t m)
{
	unsigned char d[64][64];

	if (n > 63 || m > 63)
		return 64;
	for (size_t i = 0; i <= n; i++)
		d[i][0] = (unsigned char)i;
	for (size_t j = 0; j <= m; j++)
		d[0][j] = (unsigned char)j;
	for (size_t i = 1; i <= n; i++) {
		for (size_t j = 1; j <= m; j++) {
			unsigned v = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);

			if (d[i - 1][j] + 1u < v)
				v = d[i - 1][j] + 1u;
			if (d[i][j - 1] + 1u < v)
				v = d[i][j - 1] + 1u;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1u < v)
				v = d[i - 2][j - 2] + 1u;
			d[i][j] = (unsigned char)v;
		}
	}
	return d[n][m];
}

/* The known key an unknown @name in @prefix most likely meant: a sibling
 * within two edits, else the same name in another section ("k" at the top
 * for "policy.k").  Writes it into @out; false when nothing is close. */
static bool suggest(const char *prefix, const char *name, char *out,
		    size_t size)
{
	size_t n = strlen(name), best_len = 0;
	unsigned best = 3;
	const char *best_child = NULL;

	for (int i = 0; i < NKEYS; i++) {
		const char *child = in_section(keys[i].path, prefix);
		size_t len = child ? strcspn(child, ".") : 0;
		unsigned d = child ? edit_distance(name, n, child, len) : 64;

		if (d < best && d < n) {
			best = d;
			best_child = child;
			best_len = len;
		}
	}
	if (best_child) {
		snprintf(out, size, "%s%s%.*s", prefix, *prefix ? "." : "",
			 (int)best_len, best_child);
		return true;
	}
	for (int i = 0; i < NKEYS; i++) {
		const char *dot = strrchr(keys[i].path, '.');

		if (dot && strcmp(dot + 1, name) == 0) {
			snprintf(out, size, "%s", keys[i].path);
			return true;
		}
	}
	return false;
}

/* ---- The walk ---- */

static yaml_node_t *node_at(const struct ctx *c, int index)
{
	return yaml_document_get_node(c->doc, index);
}

/* YAML's null: an empty plain value, "~" or "null". */
static bool is_null(const yaml_node_t *node)
{
	const char *v;

	if (node->type != YAML_SCALAR_NODE ||
	    node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	v = (const char *)node->data.scalar.value;
	return !*v || strcmp(v, "~") == 0 || strcasecmp(v, "null") == 0;
}

static bool has_nul(const yaml_node_t *node)
{
	return strlen((const char *)node->data.scalar.value) !=
	       node->data.scalar.length;
}

/* A scalar value, or entry of a list, of kind @kind. */
static int set_scalar(struct ctx *c, const struct key *k, enum kind kind,
		      const struct site *at, const yaml_node_t *val,
		      void *field)
{
	char buf[SHOWN_MAX + 8];

	if (val->type != YAML_SCALAR_NODE || is_null(val))
		return invalid(c, at, "expected %s, got %s", kinds[kind].expect,
			       val->type == YAML_SCALAR_NODE
				       ? "nothing"
				       : describe(val, buf, sizeof(buf)));
	if (has_nul(val))
		return invalid(c, at, "must not contain a NUL character");
	return kinds[kind].set(c, k, &kinds[kind], at,
			       (const char *)val->data.scalar.value, field);
}

static int set_entry(struct ctx *c, const struct key *k, char *items,
		     size_t i, const yaml_node_t *val)
{
	const struct kind_ops *ops = &kinds[k->kind];
	char name[64];
	struct site at = { name, &val->start_mark };
	int rc;

	snprintf(name, sizeof(name), "%s[%zu]", k->path, i);
	rc = set_scalar(c, k, ops->elem, &at, val, items + i * ops->elem_size);
	for (size_t j = 0; rc == 0 && j < i; j++)
		if (ops->same(items + j * ops->elem_size,
			      items + i * ops->elem_size))
			return invalid(c, &at, "duplicate of %s[%zu]", k->path,
				       j);
	return rc;
}

static int set_list(struct ctx *c, const struct key *k,
		    const yaml_node_t *val, void *field)
{
	const struct kind_ops *ops = &kinds[k->kind];
	struct site at = { k->path, &val->start_mark };
	yaml_node_item_t *item;
	char buf[SHOWN_MAX + 8], *items;
	size_t n = 0;
	int rc = 0, err;

	if (val->type == YAML_SEQUENCE_NODE)
		n = (size_t)(val->data.sequence.items.top -
			     val->data.sequence.items.start);
	else if (!is_null(val))
		return invalid(c, &at, "expected %s, got %s", ops->expect,
			       describe(val, buf, sizeof(buf)));
	if (n < k->min)
		return invalid(c, &at, "must list at least %llu entr%s",
			       (unsigned long long)k->min,
			       k->min == 1 ? "y" : "ies");
	if (n > k->max)
		return invalid(c, &at, "must list at most %llu entries, got %zu",
			       (unsigned long long)k->max, n);
	if (n == 0)
		return 0;
	items = wfs_calloc(n, ops->elem_size);
	if (!items)
		return -ENOMEM;
	ops->release(field);
	ops->store(field, items, n);
	item = val->data.sequence.items.start;
	for (size_t i = 0; i < n && !too_many(c); i++) {
		err = set_entry(c, k, items, i, node_at(c, item[i]));
		if (err == -ENOMEM)
			return err;
		if (rc == 0)
			rc = err;
	}
	return rc;
}

static int set_key(struct ctx *c, int id, const yaml_node_t *val)
{
	const struct key *k = &keys[id];
	struct key_state *st = &c->state[id];
	struct site at = { k->path, &val->start_mark };
	void *field = field_of(c->cfg, k);
	int rc = 0;

	st->present = true;
	st->mark = val->start_mark;
	if (kinds[k->kind].elem_size)
		rc = set_list(c, k, val, field);
	else if (is_null(val) && !(k->flags & F_REQUIRED))
		st->present = false;	/* "key:" alone keeps the default */
	else
		rc = set_scalar(c, k, k->kind, &at, val, field);
	if (!st->present)
		return 0;
	if (rc == -EINVAL) {
		st->bad = true;
		return 0;
	}
	return rc;
}

static int walk_mapping(struct ctx *c, const yaml_node_t *map,
			const char *prefix);

/* The keys of a section that cannot be read: they are not reported
 * missing on top of that. */
static void section_unreadable(struct ctx *c, const char *prefix)
{
	for (int i = 0; i < NKEYS; i++)
		if (in_section(keys[i].path, prefix))
			c->state[i].bad = true;
}

static int walk_section(struct ctx *c, const struct site *at,
			const yaml_node_t *val)
{
	char buf[SHOWN_MAX + 8];

	if (is_null(val))
		return 0;	/* "policy:" alone: all defaults */
	if (val->type != YAML_MAPPING_NODE) {
		section_unreadable(c, at->key);
		return report(c, at, "expected a mapping of keys, got %s",
			      describe(val, buf, sizeof(buf)));
	}
	return walk_mapping(c, val, at->key);
}

/* @name in @prefix is no key: say what was probably meant.  @at->key is the
 * full path. */
static int unknown_key(struct ctx *c, const struct site *at,
		       const char *prefix, const char *name)
{
	const char *dot = strrchr(at->key, '.');
	char hint[128];

	/* "policy.k: 4" at the top: the documentation's dotted name. */
	if (strchr(name, '.') && (find_key(at->key) >= 0 || is_section(at->key)))
		return report(c, at, "unknown key; write it nested, as '%s' "
			      "under '%.*s'", dot + 1, (int)(dot - at->key),
			      at->key);
	if (suggest(prefix, name, hint, sizeof(hint)))
		return report(c, at, "unknown key; did you mean '%s'?", hint);
	return report(c, at, "unknown key");
}

/* The earlier key of @map equal to pair @p's, if any. */
static const yaml_node_t *earlier_key(const struct ctx *c,
				      const yaml_node_t *map,
				      const yaml_node_pair_t *p)
{
	const yaml_node_t *key = node_at(c, p->key);

	for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
		const yaml_node_t *other = node_at(c, q->key);

		if (other->type == YAML_SCALAR_NODE &&
		    other->data.scalar.length == key->data.scalar.length &&
		    memcmp(other->data.scalar.value, key->data.scalar.value,
			   key->data.scalar.length) == 0)
			return other;
	}
	return NULL;
}

static int walk_pair(struct ctx *c, const yaml_node_t *map,
		     const yaml_node_pair_t *p, const char *prefix)
{
	const yaml_node_t *key = node_at(c, p->key), *val = node_at(c, p->value);
	const yaml_node_t *first;
	const char *name;
	char path[160], raw[SHOWN_MAX + 8];
	struct site at = { path, &key->start_mark };
	int id;

	if (key->type != YAML_SCALAR_NODE) {
		at.key = *prefix ? prefix : NULL;
		return report(c, &at, "expected a key name, got %s",
			      describe(key, raw, sizeof(raw)));
	}
	name = (const char *)key->data.scalar.value;
	snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "",
		 shown(name, key->data.scalar.length, raw, sizeof(raw)));
	first = earlier_key(c, map, p);
	if (first)
		return report(c, &at, "duplicate key (first on line %zu)",
			      first->start_mark.line + 1);
	if (has_nul(key) || strcmp(raw, name) != 0)
		return report(c, &at, "unknown key");	/* unprintable */
	id = strchr(name, '.') ? -1 : find_key(path);
	if (id >= 0)
		return set_key(c, id, val);
	if (!strchr(name, '.') && is_section(path))
		return walk_section(c, &at, val);
	return unknown_key(c, &at, prefix, name);
}

static int walk_mapping(struct ctx *c, const yaml_node_t *map,
			const char *prefix)
{
	int rc = 0;

	/* Where a missing key of this section will be reported. */
	for (int i = 0; i < NKEYS; i++) {
		const char *rest = in_section(keys[i].path, prefix);

		if (rest && !strchr(rest, '.'))
			c->state[i].parent = map->start_mark;
	}
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
	     rc == 0 && p < map->data.mapping.pairs.top && !too_many(c); p++)
		rc = walk_pair(c, map, p, prefix);
	return rc;
}

/* ---- Checks across keys ---- */

static int check_required(struct ctx *c)
{
	int rc = 0;

	for (int i = 0; rc == 0 && i < NKEYS; i++) {
		struct site at = { keys[i].path, &c->state[i].parent };

		if ((keys[i].flags & F_REQUIRED) && !c->state[i].present &&
		    !c->state[i].bad)
			rc = report(c, &at, "required key is missing");
	}
	return rc;
}

static int check_quorum(struct ctx *c)
{
	struct key_state *st = &c->state[KEY_WRITE_QUORUM];
	struct site at = { keys[KEY_WRITE_QUORUM].path, &st->mark };
	unsigned k = c->cfg->policy.k, m = c->cfg->policy.m;
	unsigned *q = &c->cfg->policy.write_quorum;

	if (c->state[KEY_K].bad || c->state[KEY_M].bad || st->bad)
		return 0;
	if (!st->present)
		*q = k + 1;
	else if (*q < k || *q > k + m)
		return report(c, &at,
			      "must be between %u and %u (k to k+m), got %u",
			      k, k + m, *q);
	return 0;
}

static bool is_wildcard(const char *host)
{
	return strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0;
}

/* The TCP listeners must not collide (gossip is UDP and may share a port). */
static int check_listeners(struct ctx *c)
{
	static const int tcp[] = { KEY_API, KEY_PEER, KEY_HTTP };
	int rc = 0;

	for (size_t i = 1; rc == 0 && i < ARRAY_SIZE(tcp); i++) {
		for (size_t j = 0; rc == 0 && j < i; j++) {
			const struct wfs_config_addr *a, *b;
			int later = c->state[tcp[i]].present ? tcp[i] : tcp[j];
			struct site at = { keys[later].path,
					   &c->state[later].mark };

			if (c->state[tcp[i]].bad || c->state[tcp[j]].bad)
				continue;
			a = field_of(c->cfg, &keys[tcp[j]]);
			b = field_of(c->cfg, &keys[tcp[i]]);
			if (a->port != b->port ||
			    (strcasecmp(a->host, b->host) != 0 &&
			     !is_wildcard(a->host) && !is_wildcard(b->host)))
				continue;
			rc = report(c, &at, "port %u is also used by %s",
				    a->port, keys[later == tcp[i] ? tcp[j]
								 : tcp[i]].path);
		}
	}
	return rc;
}

/* ---- Entry points ---- */

static int apply_defaults(struct ctx *c)
{
	int rc = 0;

	for (int i = 0; rc == 0 && i < NKEYS; i++) {
		struct site at = { keys[i].path, NULL };

		if (keys[i].def)
			rc = kinds[keys[i].kind].set(c, &keys[i],
						     &kinds[keys[i].kind], &at,
						     keys[i].def,
						     field_of(c->cfg, &keys[i]));
	}
	return rc;
}

static int syntax_error(struct ctx *c, const yaml_parser_t *parser)
{
	struct site at = { NULL, &parser->problem_mark };

	switch (parser->error) {
	case YAML_MEMORY_ERROR:
		return -ENOMEM;
	case YAML_READER_ERROR:
		at.mark = NULL;
		return report(c, &at, "not UTF-8 text: %s at byte %zu",
			      parser->problem, parser->problem_offset);
	default:
		if (!parser->context)
			return report(c, &at, "YAML syntax error: %s",
				      parser->problem);
		return report(c, &at, "YAML syntax error: %s (%s at line %zu)",
			      parser->problem, parser->context,
			      parser->context_mark.line + 1);
	}
}

/* Walk the document's root, then make sure no second document follows. */
static int check_document(struct ctx *c, yaml_parser_t *parser)
{
	const yaml_node_t *root = yaml_document_get_root_node(c->doc);
	yaml_document_t next;
	char buf[SHOWN_MAX + 8];
	int rc = 0;

	if (root && root->type == YAML_MAPPING_NODE) {
		rc = walk_mapping(c, root, "");
	} else if (root && !is_null(root)) {
		struct site at = { NULL, &root->start_mark };

		section_unreadable(c, "");
		rc = report(c, &at, "expected a mapping of sections (node, "
			    "listen, disks, ...), got %s",
			    describe(root, buf, sizeof(buf)));
	}
	if (rc)
		return rc;
	if (!yaml_parser_load(parser, &next))
		return syntax_error(c, parser);
	root = yaml_document_get_root_node(&next);
	if (root) {
		struct site at = { NULL, &root->start_mark };

		rc = report(c, &at, "only one YAML document is allowed");
	}
	yaml_document_delete(&next);
	return rc;
}

static int check_config(struct ctx *c)
{
	int rc = check_required(c);

	if (rc == 0)
		rc = check_quorum(c);
	if (rc == 0)
		rc = check_listeners(c);
	return rc;
}

int wfs_config_parse(const char *text, size_t len, const char *name,
		     struct wfs_config *out, struct wfs_config_errors *errs)
{
	struct key_state state[NKEYS];
	struct wfs_config cfg;
	yaml_document_t doc;
	yaml_parser_t parser;
	struct ctx c = { name, &doc, &cfg, errs, 0, state };
	char msg[256];
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&cfg, 0, sizeof(cfg));
	memset(state, 0, sizeof(state));
	rc = apply_defaults(&c);
	if (rc)
		goto out_release_cfg;
	if (!yaml_parser_initialize(&parser)) {
		rc = -ENOMEM;
		goto out_release_cfg;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		rc = syntax_error(&c, &parser);
		goto out_delete_parser;
	}
	rc = check_document(&c, &parser);
	if (rc == 0 && !too_many(&c))
		rc = check_config(&c);
	yaml_document_delete(&doc);
out_delete_parser:
	yaml_parser_delete(&parser);
	if (rc == 0 && too_many(&c) && errs) {
		snprintf(msg, sizeof(msg), "%s: too many errors, stopped after %d",
			 name, WFS_CONFIG_MAX_ERRORS);
		rc = push_msg(errs, msg);
	}
	if (rc == 0 && c.nerrors == 0) {
		*out = cfg;
		return 0;
	}
	if (rc == 0)
		rc = -EINVAL;
out_release_cfg:
	wfs_config_release(&cfg);
	return rc;
}

/* Read all of @fd, at most WFS_CONFIG_MAX_FILE bytes. */
static int read_all(int fd, char **out, size_t *out_len)
{
	size_t len = 0, cap = 0;
	char *buf = NULL, *grown;
	ssize_t n;
	int rc;

	for (;;) {
		if (len == cap) {
			cap = cap ? cap * 2 : 4096;
			grown = wfs_realloc(buf, cap);
			if (!grown) {
				rc = -ENOMEM;
				goto out_free_buf;
			}
			buf = grown;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			goto out_free_buf;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > WFS_CONFIG_MAX_FILE) {
			rc = -EFBIG;
			goto out_free_buf;
		}
	}
	*out = buf;
	*out_len = len;
	return 0;

out_free_buf:
	wfs_free(buf);
	return rc;
}

int wfs_config_load(const char *path, struct wfs_config *out,
		    struct wfs_config_errors *errs)
{
	char msg[512], *text = NULL;
	size_t len = 0;
	int fd, rc;

	memset(out, 0, sizeof(*out));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		goto out_report;
	}
	rc = read_all(fd, &text, &len);
	close(fd);
	if (rc)
		goto out_report;
	rc = wfs_config_parse(text, len, path, out, errs);
	wfs_free(text);
	return rc;

out_report:
	if (rc == -ENOMEM || !errs)
		return rc;
	if (rc == -EFBIG)
		snprintf(msg, sizeof(msg), "%s: cannot read: larger than %d "
			 "bytes, not a configuration file", path,
			 WFS_CONFIG_MAX_FILE);
	else
		snprintf(msg, sizeof(msg), "%s: cannot read: %s", path,
			 strerror(-rc));
	return push_msg(errs, msg) == 0 ? rc : -ENOMEM;
}

void wfs_config_release(struct wfs_config *cfg)
{
	for (int i = 0; i < NKEYS; i++)
		if (kinds[keys[i].kind].release)
			kinds[keys[i].kind].release(field_of(cfg, &keys[i]));
	memset(cfg, 0, sizeof(*cfg));
}

void wfs_config_errors_release(struct wfs_config_errors *errs)
{
	for (size_t i = 0; i < errs->count; i++)
		wfs_free(errs->msgs[i]);
	wfs_free(errs->msgs);
	errs->msgs = NULL;
	errs->count = 0;
}
