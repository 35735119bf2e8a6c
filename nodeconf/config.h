/* config: the configuration of storaged, the WormFS node daemon.
 *
 * One YAML file per node (config/storaged.yaml is the commented example and
 * the reference for every key).  This module reads it with libyaml, checks
 * every key against one table of known keys, applies the defaults of absent
 * keys and fills a struct wfs_config.  Errors name the file, the line and
 * column, the key and the problem, e.g.
 *
 *     storaged.yaml:12:5: policy.m: must be between 1 and 8, got 9
 *
 * and all of them are collected (up to WFS_CONFIG_MAX_ERRORS), so an
 * operator fixes a file in one pass.  The module never prints: the caller
 * prints the messages.
 *
 * It checks the file's form and value ranges only; whether a disk directory
 * exists or an address can be bound is for the modules that use them.
 *
 * Threads: every call is reentrant; the structs belong to the caller.
 */
#ifndef WFS_NODECONF_CONFIG_H
#define WFS_NODECONF_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log/log.h"

/* Errors kept in struct wfs_config_errors; one more line saying that the
 * check stopped follows them when a file has more. */
#define WFS_CONFIG_MAX_ERRORS 20

/* A configuration file larger than this is refused (-EFBIG): real ones are a
 * few KiB, and the bound keeps a wrong path (a disk image) from being read. */
#define WFS_CONFIG_MAX_FILE (1024 * 1024)

/* Longest host name (RFC 1035: 253 characters) plus its NUL. */
#define WFS_CONFIG_HOST_MAX 254

/* A host and a port, as "host:port", "a.b.c.d:port" or "[v6]:port". */
struct wfs_config_addr {
	char host[WFS_CONFIG_HOST_MAX]; /* host name or address literal, IPv6
					 * without its brackets */
	uint16_t port;			/* 1..65535 */
	int family;			/* AF_INET or AF_INET6 for a literal,
					 * AF_UNSPEC for a name to resolve */
};

/* A list of paths; the strings and the array are owned by the config. */
struct wfs_config_paths {
	char **paths;			/* @count absolute paths, no trailing '/' */
	size_t count;
};

/* A list of addresses; the array is owned by the config. */
struct wfs_config_addrs {
	struct wfs_config_addr *addrs;	/* @count addresses */
	size_t count;
};

/* A node's configuration.  Every string is owned by the struct and released
 * by wfs_config_release().  Absent optional strings are NULL. */
struct wfs_config {
	struct {
		char *name;		/* node.name: 1..63 of [a-z0-9-], not
					 * starting or ending with '-' */
		char *data_dir;		/* node.data_dir: absolute path of the
					 * key, metadata database and raft log */
	} node;
	struct {
		struct wfs_config_addr api;	/* listen.api: gRPC client and
						 * admin API (TCP) */
		struct wfs_config_addr peer;	/* listen.peer: node-to-node
						 * transport (TCP) */
		struct wfs_config_addr gossip;	/* listen.gossip: membership
						 * (UDP) */
		struct wfs_config_addr http;	/* listen.http: admin REST, web
						 * UI, /metrics (TCP) */
	} listen;
	struct wfs_config_paths disks;	/* disks: 1..256 distinct absolute
					 * directories holding chunks */
	struct {
		bool voter;		/* metadata.voter: may hold a metadata
					 * replica and vote */
		unsigned voters;	/* metadata.voters: 1, 3 or 5, the number
					 * of voters the cluster aims for */
	} metadata;
	struct {
		struct wfs_config_addrs seeds; /* cluster.seeds: other nodes'
						* API addresses; empty on the
						* node that founds a cluster */
		char *join_token;	/* cluster.join_token: NULL if absent */
	} cluster;
	struct {
		unsigned k;		/* policy.k: data chunks per stripe */
		unsigned m;		/* policy.m: parity chunks per stripe */
		uint64_t chunk_size;	/* policy.chunk_size: bytes, a power of
					 * two in 4 KiB..64 MiB */
		unsigned write_quorum;	/* policy.write_quorum: chunks durable
					 * before a write succeeds, k..k+m */
	} policy;
	struct {
		uint64_t delay_ms;	/* repair.delay: wait before repairing a
					 * stripe that still has margin */
		uint64_t rate;		/* repair.rate: bytes per second */
	} repair;
	struct {
		enum wfs_log_level level; /* log.level */
		char *file;		/* log.file: absolute path; NULL means
					 * stderr */
	} log;
};

/* The messages of a failed load or parse, one line each without a newline:
 * "file:line:column: key: problem".  Owned by the struct; release it with
 * wfs_config_errors_release().  A zeroed struct is empty. */
struct wfs_config_errors {
	char **msgs;
	size_t count;
};

/* Read and check the file at @path; @path also names it in messages.
 * On success fills *out (release it with wfs_config_release()) and returns 0.
 * On failure *out is zeroed and the reasons are appended to @errs (which may
 * be NULL; release it whatever the result):
 *   -EINVAL   the file is not a valid configuration
 *   -ENOENT, -EACCES, -EISDIR, ...  it cannot be read
 *   -EFBIG    it is larger than WFS_CONFIG_MAX_FILE
 *   -ENOMEM   out of memory (@errs may then lack messages)
 * Blocks on file I/O. */
int wfs_config_load(const char *path, struct wfs_config *out,
		    struct wfs_config_errors *errs);

/* As wfs_config_load(), from the @len bytes at @text (need not end in NUL);
 * @name stands for the file in messages.  Returns 0, -EINVAL or -ENOMEM. */
int wfs_config_parse(const char *text, size_t len, const char *name,
		     struct wfs_config *out, struct wfs_config_errors *errs);

/* Free everything @cfg owns and zero it.  A zeroed struct is a no-op. */
void wfs_config_release(struct wfs_config *cfg);

/* Free the messages and zero @errs.  A zeroed struct is a no-op. */
void wfs_config_errors_release(struct wfs_config_errors *errs);

/* Parse a size: plain bytes ("4096") or a number with a binary unit ("1MiB",
 * "64 KiB"; B, KiB, MiB, GiB, TiB, any case).  Decimal units (MB) are
 * refused as ambiguous.  Returns 0 and sets *out, -EINVAL for a malformed
 * string, -ERANGE when it does not fit 64 bits. */
int wfs_config_parse_size(const char *s, uint64_t *out);

/* Parse a duration: one or more number-unit pairs, units ms, s, m, h, d
 * ("30s", "15m", "1h30m"), or a bare "0".  Returns 0 and sets *out_ms,
 * -EINVAL for a malformed string, -ERANGE on overflow. */
int wfs_config_parse_duration(const char *s, uint64_t *out_ms);

/* Parse "host:port", "a.b.c.d:port" or "[ipv6]:port".  A host name is
 * letters, digits, '-' and '.' in labels of at most 63 characters; a host of
 * digits and dots must be a valid IPv4 address.  Returns 0 and fills *out,
 * -EINVAL for a malformed string, -ERANGE for a port outside 1..65535. */
int wfs_config_parse_addr(const char *s, struct wfs_config_addr *out);

/* Write @addr as "host:port" ("[host]:port" for IPv6) into @buf of @len
 * bytes, truncating like snprintf.  Returns the length it needed. */
int wfs_config_addr_format(const struct wfs_config_addr *addr, char *buf,
			   size_t len);

#endif
