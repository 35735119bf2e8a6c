/* Unit tests for nodeconf/config: the example file, defaults, every class of
 * error with its exact message, the value parsers, file errors, and
 * allocation failure on every path. */
#include "nodeconf/config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mem/mem.h"
#include "tests/unit.h"

#define EXAMPLE "config/storaged.yaml"

/* The smallest valid file: the three required keys, on lines 1 to 5, so a
 * test's own lines start at line 6. */
#define BASE                                                                  \
	"node:\n"                                                             \
	"  name: n1\n"                                                        \
	"  data_dir: /var/lib/wormfs\n"                                       \
	"disks:\n"                                                            \
	"  - /srv/d1\n"

static int parse(const char *text, struct wfs_config *cfg,
		 struct wfs_config_errors *errs)
{
	return wfs_config_parse(text, strlen(text), "t.yaml", cfg, errs);
}

/* @text must fail with exactly the messages @want (NULL-terminated). */
static void expect_errors(const char *text, const char *const *want)
{
	struct wfs_config cfg;
	struct wfs_config_errors errs = { NULL, 0 };
	size_t n = 0;
	int rc = parse(text, &cfg, &errs);

	while (want[n])
		n++;
	CU_ASSERT_EQUAL(rc, -EINVAL);
	CU_ASSERT_PTR_NULL(cfg.node.name);
	CU_ASSERT_EQUAL(errs.count, n);
	for (size_t i = 0; i < n && i < errs.count; i++) {
		CU_ASSERT_STRING_EQUAL(errs.msgs[i], want[i]);
		if (strcmp(errs.msgs[i], want[i]) != 0)
			printf("\n  got:  %s\n  want: %s\n", errs.msgs[i],
			       want[i]);
	}
	for (size_t i = n; i < errs.count; i++)
		printf("\n  extra: %s\n", errs.msgs[i]);
	wfs_config_errors_release(&errs);
}

static void expect_error(const char *text, const char *want)
{
	const char *const list[] = { want, NULL };

	expect_errors(text, list);
}

static void test_example(void)
{
	struct wfs_config cfg;
	struct wfs_config_errors errs = { NULL, 0 };
	int rc = wfs_config_load(EXAMPLE, &cfg, &errs);

	CU_ASSERT_EQUAL_FATAL(rc, 0);
	CU_ASSERT_EQUAL(errs.count, 0);
	CU_ASSERT_STRING_EQUAL(cfg.node.name, "node-1");
	CU_ASSERT_STRING_EQUAL(cfg.node.data_dir, "/var/lib/wormfs");
	CU_ASSERT_STRING_EQUAL(cfg.listen.api.host, "127.0.0.1");
	CU_ASSERT_EQUAL(cfg.listen.peer.port, 7701);
	CU_ASSERT_EQUAL(cfg.disks.count, 2);
	CU_ASSERT_STRING_EQUAL(cfg.disks.paths[1], "/srv/wormfs/disk2");
	CU_ASSERT_EQUAL(cfg.cluster.seeds.count, 0);
	CU_ASSERT_PTR_NULL(cfg.cluster.join_token);
	CU_ASSERT_EQUAL(cfg.policy.write_quorum, 5);
	CU_ASSERT_EQUAL(cfg.repair.delay_ms, 15 * 60 * 1000);
	CU_ASSERT_EQUAL(cfg.repair.rate, 200 << 20);
	CU_ASSERT_PTR_NULL(cfg.log.file);
	wfs_config_release(&cfg);
	wfs_config_release(&cfg);	/* released twice: a no-op */
	CU_ASSERT_PTR_NULL(cfg.node.name);
}

/* The keys the example leaves commented out are valid once uncommented:
 * "  # key: value" and "  #  - entry" lose their "# ". */
static void test_example_uncommented(void)
{
	static char text[16384];
	struct wfs_config cfg;
	struct wfs_config_errors errs = { NULL, 0 };
	size_t len = 0, n = 0;
	FILE *f = fopen(EXAMPLE, "r");
	char line[256];

	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	while (fgets(line, sizeof(line), f)) {
		size_t indent = strspn(line, " ");
		const char *rest = line + indent + 2;
		size_t word = strspn(rest, "abcdefghijklmnopqrstuvwxyz_");
		bool key = word && strncmp(rest + word, ": ", 2) == 0;

		if (indent >= 2 && strncmp(line + indent, "# ", 2) == 0 &&
		    (key || strncmp(rest, " - ", 3) == 0)) {
			memmove(line + indent, rest, strlen(rest) + 1);
			n++;
		}
		len += (size_t)snprintf(text + len, sizeof(text) - len, "%s",
					line);
	}
	fclose(f);
	CU_ASSERT_FATAL(len < sizeof(text));
	CU_ASSERT_EQUAL(n, 5);
	CU_ASSERT_EQUAL_FATAL(parse(text, &cfg, &errs), 0);
	CU_ASSERT_EQUAL(cfg.cluster.seeds.count, 2);
	CU_ASSERT_PTR_NOT_NULL(cfg.cluster.join_token);
	CU_ASSERT_EQUAL(cfg.policy.write_quorum, 5);
	CU_ASSERT_STRING_EQUAL(cfg.log.file, "/var/log/wormfs/storaged.log");
	wfs_config_release(&cfg);
}

static void test_defaults(void)
{
	struct wfs_config cfg;
	struct wfs_config_errors errs = { NULL, 0 };

	CU_ASSERT_EQUAL_FATAL(parse(BASE, &cfg, &errs), 0);
	CU_ASSERT_STRING_EQUAL(cfg.node.name, "n1");
	CU_ASSERT_STRING_EQUAL(cfg.listen.api.host, "127.0.0.1");
	CU_ASSERT_EQUAL(cfg.listen.api.port, 7700);
	CU_ASSERT_EQUAL(cfg.listen.api.family, AF_INET);
	CU_ASSERT_EQUAL(cfg.listen.peer.port, 7701);
	CU_ASSERT_EQUAL(cfg.listen.gossip.port, 7702);
	CU_ASSERT_EQUAL(cfg.listen.http.port, 7780);
	CU_ASSERT_EQUAL(cfg.disks.count, 1);
	CU_ASSERT_TRUE(cfg.metadata.voter);
	CU_ASSERT_EQUAL(cfg.metadata.voters, 3);
	CU_ASSERT_EQUAL(cfg.cluster.seeds.count, 0);
	CU_ASSERT_PTR_NULL(cfg.cluster.seeds.addrs);
	CU_ASSERT_PTR_NULL(cfg.cluster.join_token);
	CU_ASSERT_EQUAL(cfg.policy.k, 4);
	CU_ASSERT_EQUAL(cfg.policy.m, 2);
	CU_ASSERT_EQUAL(cfg.policy.chunk_size, 1 << 20);
	CU_ASSERT_EQUAL(cfg.policy.write_quorum, 5);
	CU_ASSERT_EQUAL(cfg.repair.delay_ms, 15 * 60 * 1000);
	CU_ASSERT_EQUAL(cfg.repair.rate, 200 << 20);
	CU_ASSERT_EQUAL(cfg.log.level, WFS_LOG_INFO);
	CU_ASSERT_PTR_NULL(cfg.log.file);
	wfs_config_release(&cfg);
}

static void test_every_key(void)
{
	static const char text[] =
		"# a comment\n"
		"node: {name: store-07, data_dir: /data/wfs/}\n"
		"listen:\n"
		"  api: 0.0.0.0:8700\n"
		"  peer: '[::1]:8701'\n"
		"  gossip: node7.example.net:8702\n"
		"  http: \"[fe80::1]:8780\"\n"
		"disks: [/d/1, /d/2/, /d/3]\n"
		"metadata: {voter: no, voters: 5}\n"
		"cluster:\n"
		"  seeds: [10.0.0.1:7701, 'node2:7701']\n"
		"  join_token: s3cret\n"
		"policy: {k: 8, m: 3, chunk_size: 64 KiB, write_quorum: 11}\n"
		"repair: {delay: 1h30m, rate: 1GiB}\n"
		"log: {level: debug, file: /var/log/wfs.log}\n";
	struct wfs_config cfg;
	struct wfs_config_errors errs = { NULL, 0 };

	CU_ASSERT_EQUAL_FATAL(parse(text, &cfg, &errs), 0);
	CU_ASSERT_STRING_EQUAL(cfg.node.name, "store-07");
	CU_ASSERT_STRING_EQUAL(cfg.node.data_dir, "/data/wfs");
	CU_ASSERT_STRING_EQUAL(cfg.listen.api.host, "0.0.0.0");
	CU_ASSERT_STRING_EQUAL(cfg.listen.peer.host, "::1");
	CU_ASSERT_EQUAL(cfg.listen.peer.family, AF_INET6);
	CU_ASSERT_STRING_EQUAL(cfg.listen.gossip.host, "node7.example.net");
	CU_ASSERT_EQUAL(cfg.listen.gossip.family, AF_UNSPEC);
	CU_ASSERT_EQUAL(cfg.listen.http.port, 8780);
	CU_ASSERT_EQUAL_FATAL(cfg.disks.count, 3);
	CU_ASSERT_STRING_EQUAL(cfg.disks.paths[1], "/d/2");
	CU_ASSERT_FALSE(cfg.metadata.voter);
	CU_ASSERT_EQUAL(cfg.metadata.voters, 5);
	CU_ASSERT_EQUAL_FATAL(cfg.cluster.seeds.count, 2);
	CU_ASSERT_STRING_EQUAL(cfg.cluster.seeds.addrs[1].host, "node2");
	CU_ASSERT_EQUAL(cfg.cluster.seeds.addrs[0].port, 7701);
	CU_ASSERT_STRING_EQUAL(cfg.cluster.join_token, "s3cret");
	CU_ASSERT_EQUAL(cfg.policy.k, 8);
	CU_ASSERT_EQUAL(cfg.policy.m, 3);
	CU_ASSERT_EQUAL(cfg.policy.chunk_size, 64 << 10);
	CU_ASSERT_EQUAL(cfg.policy.write_quorum, 11);
	CU_ASSERT_EQUAL(cfg.repair.delay_ms, 90 * 60 * 1000);
	CU_ASSERT_EQUAL(cfg.repair.rate, 1 << 30);
	CU_ASSERT_EQUAL(cfg.log.level, WFS_LOG_DEBUG);
	CU_ASSERT_STRING_EQUAL(cfg.log.file, "/var/log/wfs.log");
	wfs_config_release(&cfg);
}

/* "key:" with no value, or an empty section, keeps the defaults. */
static void test_null_values(void)
{
	struct wfs_config cfg;
	struct wfs_config_errors errs = { NULL, 0 };

	CU_ASSERT_EQUAL_FATAL(parse(BASE "repair:\n  rate:\n  delay: ~\n"
				    "cluster:\n  seeds:\n  join_token: null\n"
				    "policy:\nlog:\n",
				    &cfg, &errs), 0);
	CU_ASSERT_EQUAL(cfg.repair.rate, 200 << 20);
	CU_ASSERT_EQUAL(cfg.repair.delay_ms, 15 * 60 * 1000);
	CU_ASSERT_EQUAL(cfg.cluster.seeds.count, 0);
	CU_ASSERT_PTR_NULL(cfg.cluster.join_token);
	CU_ASSERT_EQUAL(cfg.policy.k, 4);
	wfs_config_release(&cfg);
	expect_error(BASE "cluster:\n  join_token: ''\n",
		     "t.yaml:7:15: cluster.join_token: must not be empty");
	expect_error("node:\n  name:\n  data_dir: /x\ndisks: [/d]\n",
		     "t.yaml:2:8: node.name: expected a name of a-z, 0-9 and "
		     "'-', got nothing");
}

static void test_unknown_keys(void)
{
	expect_error(BASE "policy:\n  chunksize: 1MiB\n",
		     "t.yaml:7:3: policy.chunksize: unknown key; did you mean "
		     "'policy.chunk_size'?");
	expect_error(BASE "polcy:\n  k: 4\n",
		     "t.yaml:6:1: polcy: unknown key; did you mean 'policy'?");
	expect_error(BASE "repair:\n  rtae: 1MiB\n",
		     "t.yaml:7:3: repair.rtae: unknown key; did you mean "
		     "'repair.rate'?");
	/* Right name, wrong section. */
	expect_error(BASE "k: 4\n",
		     "t.yaml:6:1: k: unknown key; did you mean 'policy.k'?");
	expect_error(BASE "policy:\n  delay: 1m\n",
		     "t.yaml:7:3: policy.delay: unknown key; did you mean "
		     "'repair.delay'?");
	/* Nothing close. */
	expect_error(BASE "colour: blue\n", "t.yaml:6:1: colour: unknown key");
	expect_error(BASE "x: 1\n", "t.yaml:6:1: x: unknown key");
	/* The documentation's dotted names are not keys of the file. */
	expect_error(BASE "policy.k: 4\n",
		     "t.yaml:6:1: policy.k: unknown key; write it nested, as "
		     "'k' under 'policy'");
	expect_error(BASE "? [a, b]\n: 1\n",
		     "t.yaml:6:3: expected a key name, got a list");
	expect_error(BASE "\"bad\\x01key\": 1\n",
		     "t.yaml:6:1: bad?key: unknown key");
}

static void test_wrong_types(void)
{
	expect_error(BASE "policy:\n  k: four\n",
		     "t.yaml:7:6: policy.k: expected an integer, got 'four'");
	expect_error(BASE "policy:\n  k: -4\n",
		     "t.yaml:7:6: policy.k: expected an integer, got '-4'");
	expect_error(BASE "policy:\n  k: [4]\n",
		     "t.yaml:7:6: policy.k: expected an integer, got a list");
	expect_error(BASE "policy: 4\n",
		     "t.yaml:6:1: policy: expected a mapping of keys, got '4'");
	/* Its keys are not reported missing as well. */
	expect_error("node: n1\ndisks: [/d]\n",
		     "t.yaml:1:1: node: expected a mapping of keys, got 'n1'");
	expect_error(BASE "metadata:\n  voter: maybe\n",
		     "t.yaml:7:10: metadata.voter: expected true or false, got "
		     "'maybe'");
	expect_error(BASE "log:\n  level: verbose\n",
		     "t.yaml:7:10: log.level: expected one of error, warn, info "
		     "or debug, got 'verbose'");
	expect_error(BASE "repair:\n  delay: soon\n",
		     "t.yaml:7:10: repair.delay: expected a duration such as "
		     "30s, 15m or 1h, got 'soon'");
	expect_error(BASE "repair:\n  rate: 10MB\n",
		     "t.yaml:7:9: repair.rate: expected a rate such as 50MiB/s "
		     "or 1GiB/s, got '10MB'");
	expect_error(BASE "policy:\n  chunk_size: {a: 1}\n",
		     "t.yaml:7:15: policy.chunk_size: expected a size such as "
		     "65536, 64KiB or 1MiB, got a mapping");
	expect_error("node:\n  name: n1\n  data_dir: /x\ndisks: /srv/d1\n",
		     "t.yaml:4:8: disks: expected a list of absolute paths, got "
		     "'/srv/d1'");
	expect_error(BASE "cluster:\n  join_token: \"a\\0b\"\n",
		     "t.yaml:7:15: cluster.join_token: must not contain a NUL "
		     "character");
	expect_error("- a\n- b\n", "t.yaml:1:1: expected a mapping of sections "
				   "(node, listen, disks, ...), got a list");
}

static void test_ranges(void)
{
	expect_error(BASE "policy:\n  m: 9\n",
		     "t.yaml:7:6: policy.m: must be between 1 and 4, got 9");
	expect_error(BASE "policy:\n  k: 0\n",
		     "t.yaml:7:6: policy.k: must be between 1 and 16, got 0");
	expect_error(BASE "policy:\n  k: 99999999999999999999999\n",
		     "t.yaml:7:6: policy.k: must be between 1 and 16, got "
		     "99999999999999999999999");
	expect_error(BASE "policy:\n  chunk_size: 3MiB\n",
		     "t.yaml:7:15: policy.chunk_size: must be a power of two "
		     "between 4KiB and 64MiB, got 3MiB");
	expect_error(BASE "policy:\n  chunk_size: 2048\n",
		     "t.yaml:7:15: policy.chunk_size: must be a power of two "
		     "between 4KiB and 64MiB, got 2048");
	expect_error(BASE "policy:\n  chunk_size: 128MiB\n",
		     "t.yaml:7:15: policy.chunk_size: must be a power of two "
		     "between 4KiB and 64MiB, got 128MiB");
	expect_error(BASE "metadata:\n  voters: 4\n",
		     "t.yaml:7:11: metadata.voters: must be 1, 3 or 5, got 4");
	expect_error(BASE "metadata:\n  voters: 7\n",
		     "t.yaml:7:11: metadata.voters: must be 1, 3 or 5, got 7");
	expect_error(BASE "repair:\n  delay: 8d\n",
		     "t.yaml:7:10: repair.delay: must be between 0s and 7d, got "
		     "8d");
	expect_error(BASE "repair:\n  rate: 200\n",
		     "t.yaml:7:9: repair.rate: must be between 1MiB/s and "
		     "1TiB/s, got 200");
	expect_error(BASE "policy:\n  k: 4\n  m: 2\n  write_quorum: 7\n",
		     "t.yaml:9:17: policy.write_quorum: must be between 4 and 6 "
		     "(k to k+m), got 7");
	expect_error(BASE "policy:\n  write_quorum: 3\n",
		     "t.yaml:7:17: policy.write_quorum: must be between 4 and 6 "
		     "(k to k+m), got 3");
	/* A bad k says so once, not again through write_quorum. */
	expect_error(BASE "policy:\n  k: 40\n  write_quorum: 5\n",
		     "t.yaml:7:6: policy.k: must be between 1 and 16, got 40");
}

static void test_strings_and_paths(void)
{
	expect_error("node:\n  name: Node_1\n  data_dir: /x\ndisks: [/d]\n",
		     "t.yaml:2:9: node.name: may hold only a-z, 0-9 and '-', got "
		     "'Node_1'");
	expect_error("node:\n  name: -n1\n  data_dir: /x\ndisks: [/d]\n",
		     "t.yaml:2:9: node.name: must not start or end with '-', got "
		     "'-n1'");
	expect_error("node:\n  name: "
		     "a234567890123456789012345678901234567890123456789012345678901234"
		     "\n  data_dir: /x\ndisks: [/d]\n",
		     "t.yaml:2:9: node.name: must be at most 63 characters, got "
		     "64");
	expect_error("node:\n  name: n1\n  data_dir: data\ndisks: [/d]\n",
		     "t.yaml:3:13: node.data_dir: must be an absolute path, got "
		     "'data'");
	expect_error(BASE "log:\n  file: wfs.log\n",
		     "t.yaml:7:9: log.file: must be an absolute path, got "
		     "'wfs.log'");
}

static void test_lists(void)
{
	char text[8192];
	size_t n;

	expect_error("node: {name: a, data_dir: /x}\ndisks: [/d1, /d2, /d1/]\n",
		     "t.yaml:2:19: disks[2]: duplicate of disks[0]");
	expect_error("node: {name: a, data_dir: /x}\ndisks: []\n",
		     "t.yaml:2:8: disks: must list at least 1 entry");
	expect_error("node: {name: a, data_dir: /x}\ndisks:\n",
		     "t.yaml:2:7: disks: must list at least 1 entry");
	expect_errors("node: {name: a, data_dir: /x}\ndisks: [/d, rel, [x]]\n",
		      (const char *const[]){
			      "t.yaml:2:13: disks[1]: must be an absolute path, "
			      "got 'rel'",
			      "t.yaml:2:18: disks[2]: expected an absolute path, "
			      "got a list",
			      NULL });
	expect_error(BASE "cluster:\n  seeds: [a:1, 'A:1']\n",
		     "t.yaml:7:16: cluster.seeds[1]: duplicate of "
		     "cluster.seeds[0]");
	expect_error(BASE "cluster:\n  seeds: [a]\n",
		     "t.yaml:7:11: cluster.seeds[0]: expected host:port, "
		     "a.b.c.d:port or [ipv6]:port, got 'a'");
	n = (size_t)snprintf(text, sizeof(text),
			     "node: {name: a, data_dir: /x}\ndisks:\n");
	for (int i = 0; i < 257; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "- /d%d\n", i);
	expect_error(text, "t.yaml:3:1: disks: must list at most 256 entries, "
			   "got 257");
}

static void test_addresses_in_file(void)
{
	expect_error(BASE "listen:\n  api: localhost\n",
		     "t.yaml:7:8: listen.api: expected host:port, a.b.c.d:port "
		     "or [ipv6]:port, got 'localhost'");
	expect_error(BASE "listen:\n  peer: 10.0.0.1:70000\n",
		     "t.yaml:7:9: listen.peer: port must be between 1 and 65535, "
		     "got '10.0.0.1:70000'");
	expect_error(BASE "listen:\n  http: 127.0.0.1:7700\n",
		     "t.yaml:7:9: listen.http: port 7700 is also used by "
		     "listen.api");
	expect_error(BASE "listen:\n  api: 0.0.0.0:9000\n  peer: 10.1.1.1:9000\n",
		     "t.yaml:8:9: listen.peer: port 9000 is also used by "
		     "listen.api");
	/* Gossip is UDP: sharing a TCP listener's port is fine. */
	struct wfs_config cfg;

	CU_ASSERT_EQUAL(parse(BASE "listen:\n  gossip: 127.0.0.1:7700\n", &cfg,
			      NULL), 0);
	wfs_config_release(&cfg);
}

static void test_missing_and_duplicate(void)
{
	expect_errors("disks: [/d]\n",
		      (const char *const[]){
			      "t.yaml:1:1: node.name: required key is missing",
			      "t.yaml:1:1: node.data_dir: required key is "
			      "missing",
			      NULL });
	expect_error("# comment\n\nnode:\n  name: a\ndisks: [/d]\n",
		     "t.yaml:4:3: node.data_dir: required key is missing");
	expect_error(BASE "policy:\n  k: 4\n  m: 2\n  k: 5\n",
		     "t.yaml:9:3: policy.k: duplicate key (first on line 7)");
	expect_error(BASE "policy: {k: 4}\npolicy: {m: 2}\n",
		     "t.yaml:7:1: policy: duplicate key (first on line 6)");
}

static void test_empty(void)
{
	const char *const three[] = {
		"t.yaml:1:1: node.name: required key is missing",
		"t.yaml:1:1: node.data_dir: required key is missing",
		"t.yaml:1:1: disks: required key is missing",
		NULL,
	};

	expect_errors("", three);
	expect_errors("# nothing but a comment\n", three);
	expect_errors("---\n", three);
}

static void test_syntax(void)
{
	expect_error(BASE "policy:\n  k: 4\n   m: 2\n",
		     "t.yaml:8:5: YAML syntax error: mapping values are not "
		     "allowed in this context");
	expect_error(BASE "policy: [k\n",
		     "t.yaml:7:1: YAML syntax error: did not find expected ',' "
		     "or ']' (while parsing a flow sequence at line 6)");
	expect_error(BASE "policy:\n\tk: 4\n",
		     "t.yaml:7:1: YAML syntax error: found character that "
		     "cannot start any token (while scanning for the next token "
		     "at line 7)");
	expect_error(BASE "a: *nope\n",
		     "t.yaml:6:4: YAML syntax error: found undefined alias");
	expect_error(BASE "---\nb: 1\n",
		     "t.yaml:7:1: only one YAML document is allowed");
	expect_error(BASE "x: \"\xff\"\n",
		     "t.yaml: not UTF-8 text: invalid leading UTF-8 octet at "
		     "byte 68");
}

/* Every error of a file is reported, in order, not just the first. */
static void test_all_errors(void)
{
	expect_errors("node:\n"
		      "  name: Bad\n"
		      "disks: [/d, /d]\n"
		      "policy:\n"
		      "  k: four\n"
		      "  m: 20\n"
		      "  chunksize: 1MiB\n"
		      "repair: {delay: 1y}\n",
		      (const char *const[]){
			      "t.yaml:2:9: node.name: may hold only a-z, 0-9 "
			      "and '-', got 'Bad'",
			      "t.yaml:3:13: disks[1]: duplicate of disks[0]",
			      "t.yaml:5:6: policy.k: expected an integer, got "
			      "'four'",
			      "t.yaml:6:6: policy.m: must be between 1 and 4, "
			      "got 20",
			      "t.yaml:7:3: policy.chunksize: unknown key; did "
			      "you mean 'policy.chunk_size'?",
			      "t.yaml:8:17: repair.delay: expected a duration "
			      "such as 30s, 15m or 1h, got '1y'",
			      "t.yaml:2:3: node.data_dir: required key is "
			      "missing",
			      NULL });
}

static void test_too_many_errors(void)
{
	struct wfs_config cfg;
	struct wfs_config_errors errs = { NULL, 0 };
	char text[4096];
	size_t n = (size_t)snprintf(text, sizeof(text), "%s", BASE);

	for (int i = 0; i < 30; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n,
				      "unknown%d: 1\n", i);
	CU_ASSERT_EQUAL(parse(text, &cfg, &errs), -EINVAL);
	CU_ASSERT_EQUAL_FATAL(errs.count, WFS_CONFIG_MAX_ERRORS + 1);
	CU_ASSERT_STRING_EQUAL(errs.msgs[0],
			       "t.yaml:6:1: unknown0: unknown key");
	CU_ASSERT_STRING_EQUAL(errs.msgs[WFS_CONFIG_MAX_ERRORS],
			       "t.yaml: too many errors, stopped after 20");
	wfs_config_errors_release(&errs);
	/* Without a list the result is the same. */
	CU_ASSERT_EQUAL(parse(text, &cfg, NULL), -EINVAL);
}

static void test_parse_size(void)
{
	static const struct {
		const char *s;
		uint64_t v;
	} good[] = {
		{ "0", 0 },	       { "4096", 4096 },
		{ "4KiB", 4096 },      { "1MiB", 1 << 20 },
		{ "1 MiB", 1 << 20 },  { "3mib", 3 << 20 },
		{ "2GiB", 2ULL << 30 }, { "1TiB", 1ULL << 40 },
		{ "512B", 512 },
	};
	static const char *const bad[] = {
		"", "MiB", "1MB", "1 ", "1  MiB", "1.5MiB", "-1", "1M", "1KiBx",
		" 1", "0x10", "1k",
	};
	uint64_t v;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		CU_ASSERT_EQUAL(wfs_config_parse_size(good[i].s, &v), 0);
		CU_ASSERT_EQUAL(v, good[i].v);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CU_ASSERT_EQUAL(wfs_config_parse_size(bad[i], &v), -EINVAL);
	CU_ASSERT_EQUAL(wfs_config_parse_size("16777215TiB", &v), 0);
	CU_ASSERT_EQUAL(v, 16777215ULL << 40);
	CU_ASSERT_EQUAL(wfs_config_parse_size("16777216TiB", &v), -ERANGE);
	CU_ASSERT_EQUAL(wfs_config_parse_size("18446744073709551615", &v), 0);
	CU_ASSERT_EQUAL(v, UINT64_MAX);
	CU_ASSERT_EQUAL(wfs_config_parse_size("18446744073709551616", &v),
			-ERANGE);
}

static void test_parse_duration(void)
{
	static const struct {
		const char *s;
		uint64_t ms;
	} good[] = {
		{ "0", 0 },		{ "0s", 0 },	      { "500ms", 500 },
		{ "30s", 30000 },	{ "10m", 600000 },    { "1h", 3600000 },
		{ "2d", 172800000 },	{ "1h30m", 5400000 }, { "1m30s", 90000 },
		{ "1s500ms", 1500 },
	};
	static const char *const bad[] = {
		"", "10", "m", "1x", "1.5h", "1 h", "-1s", "1H", "10m ", "1hh",
	};
	uint64_t v;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		CU_ASSERT_EQUAL(wfs_config_parse_duration(good[i].s, &v), 0);
		CU_ASSERT_EQUAL(v, good[i].ms);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CU_ASSERT_EQUAL(wfs_config_parse_duration(bad[i], &v), -EINVAL);
	CU_ASSERT_EQUAL(wfs_config_parse_duration("213503982334d", &v), 0);
	CU_ASSERT_EQUAL(wfs_config_parse_duration("213503982335d", &v),
			-ERANGE);
}

static void test_parse_addr(void)
{
	static const struct {
		const char *s, *host;
		unsigned port;
		int family;
	} good[] = {
		{ "127.0.0.1:7700", "127.0.0.1", 7700, AF_INET },
		{ "0.0.0.0:1", "0.0.0.0", 1, AF_INET },
		{ "[::1]:65535", "::1", 65535, AF_INET6 },
		{ "[2001:db8::7]:80", "2001:db8::7", 80, AF_INET6 },
		{ "localhost:7701", "localhost", 7701, AF_UNSPEC },
		{ "node-2.example.net:9", "node-2.example.net", 9, AF_UNSPEC },
		{ "3com.example:22", "3com.example", 22, AF_UNSPEC },
	};
	static const char *const bad[] = {
		"", "localhost", ":7700", "host:", "host:port", "host:-1",
		"::1:7700", "[::1]7700", "[::1:7700", "[nope]:1", "[1.2.3.4]:1",
		"1.2.3:80", "1.2.3.256:80", "-host:1", "host-:1", "a..b:1",
		"a_b:1", "host :1", "host: 1", "host:1 ", ".host:1", "host.:1",
	};
	static const char *const range[] = {
		"host:0", "host:65536", "[::1]:99999999999999999999",
	};
	struct wfs_config_addr a;
	char buf[64];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		CU_ASSERT_EQUAL_FATAL(wfs_config_parse_addr(good[i].s, &a), 0);
		CU_ASSERT_STRING_EQUAL(a.host, good[i].host);
		CU_ASSERT_EQUAL(a.port, good[i].port);
		CU_ASSERT_EQUAL(a.family, good[i].family);
		CU_ASSERT_EQUAL(wfs_config_addr_format(&a, buf, sizeof(buf)),
				(int)strlen(good[i].s));
		CU_ASSERT_STRING_EQUAL(buf, good[i].s);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CU_ASSERT_EQUAL(wfs_config_parse_addr(bad[i], &a), -EINVAL);
		if (wfs_config_parse_addr(bad[i], &a) != -EINVAL)
			printf("\n  accepted '%s'\n", bad[i]);
	}
	for (size_t i = 0; i < sizeof(range) / sizeof(range[0]); i++)
		CU_ASSERT_EQUAL(wfs_config_parse_addr(range[i], &a), -ERANGE);
}

/* Host names: 63 characters a label, 253 in all. */
static int parse_host_of(size_t len, size_t label)
{
	struct wfs_config_addr a;
	char s[300];

	for (size_t i = 0; i < len; i++)
		s[i] = i % (label + 1) == label ? '.' : 'b';
	strcpy(s + len, ":1");
	return wfs_config_parse_addr(s, &a);
}

static void test_addr_lengths(void)
{
	CU_ASSERT_EQUAL(parse_host_of(63, 63), 0);
	CU_ASSERT_EQUAL(parse_host_of(64, 64), -EINVAL);
	CU_ASSERT_EQUAL(parse_host_of(253, 63), 0);
	CU_ASSERT_EQUAL(parse_host_of(254, 63), -EINVAL);
	CU_ASSERT_EQUAL(parse_host_of(290, 63), -EINVAL);
}

static void test_load_errors(void)
{
	struct wfs_config cfg;
	struct wfs_config_errors errs = { NULL, 0 };
	char dir[256], path[300];
	static char big[WFS_CONFIG_MAX_FILE + 2];
	int fd;

	CU_ASSERT_EQUAL(wfs_config_load("no/such/file.yaml", &cfg, &errs),
			-ENOENT);
	CU_ASSERT_EQUAL_FATAL(errs.count, 1);
	CU_ASSERT_STRING_EQUAL(errs.msgs[0], "no/such/file.yaml: cannot read: "
					     "No such file or directory");
	wfs_config_errors_release(&errs);
	CU_ASSERT_EQUAL(wfs_config_load("no/such/file.yaml", &cfg, NULL),
			-ENOENT);

	CU_ASSERT_EQUAL_FATAL(wfs_test_mkdtemp(dir, sizeof(dir)), 0);
	CU_ASSERT_EQUAL(wfs_config_load(dir, &cfg, &errs), -EISDIR);
	CU_ASSERT_EQUAL(errs.count, 1);
	wfs_config_errors_release(&errs);

	snprintf(path, sizeof(path), "%s/big.yaml", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CU_ASSERT_FATAL(fd >= 0);
	memset(big, '#', sizeof(big));
	CU_ASSERT_EQUAL(write(fd, big, sizeof(big)), (ssize_t)sizeof(big));
	close(fd);
	CU_ASSERT_EQUAL(wfs_config_load(path, &cfg, &errs), -EFBIG);
	CU_ASSERT_EQUAL(errs.count, 1);
	wfs_config_errors_release(&errs);

	/* A bad file names itself by the path given. */
	snprintf(path, sizeof(path), "%s/bad.yaml", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(write(fd, BASE "k: 1\n", strlen(BASE) + 5),
			(ssize_t)strlen(BASE) + 5);
	close(fd);
	CU_ASSERT_EQUAL(wfs_config_load(path, &cfg, &errs), -EINVAL);
	CU_ASSERT_EQUAL_FATAL(errs.count, 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(errs.msgs[0], "/bad.yaml:6:1: k: "));
	wfs_config_errors_release(&errs);
}

/* Fail the n-th allocation for n = 0, 1, ... until the call gets through:
 * every attempt must fail cleanly with -ENOMEM (ASan checks for leaks). */
static void fail_each_allocation(const char *path, const char *text, int want)
{
	long n;

	for (n = 0; n < 10000; n++) {
		struct wfs_config cfg;
		struct wfs_config_errors errs = { NULL, 0 };
		int rc;

		wfs_mem_fail_after(n);
		rc = path ? wfs_config_load(path, &cfg, &errs)
			  : parse(text, &cfg, &errs);
		wfs_mem_fail_after(-1);
		wfs_config_release(&cfg);
		wfs_config_errors_release(&errs);
		if (rc != -ENOMEM) {
			CU_ASSERT_EQUAL(rc, want);
			break;
		}
	}
	CU_ASSERT(n > 0 && n < 10000);
}

static void test_out_of_memory(void)
{
	fail_each_allocation(EXAMPLE, NULL, 0);
	fail_each_allocation("no/such/file", NULL, -ENOENT);
	fail_each_allocation(NULL, BASE "cluster:\n  seeds: [a:1, b:2]\n"
			     "  join_token: t\nlog: {file: /l}\n", 0);
	fail_each_allocation(NULL, "node: {name: X}\ndisks: [/a, /a, b]\n"
			     "policy: {k: four, m: 9, q: 1}\n", -EINVAL);
	fail_each_allocation(NULL, "policy: [\n", -EINVAL);
}

static CU_TestInfo config_tests[] = {
	{ "example file parses", test_example },
	{ "example's commented keys", test_example_uncommented },
	{ "defaults", test_defaults },
	{ "every key set", test_every_key },
	{ "null values keep defaults", test_null_values },
	{ "unknown keys and suggestions", test_unknown_keys },
	{ "wrong types", test_wrong_types },
	{ "out of range", test_ranges },
	{ "names and paths", test_strings_and_paths },
	{ "lists", test_lists },
	{ "addresses in a file", test_addresses_in_file },
	{ "missing and duplicate keys", test_missing_and_duplicate },
	{ "empty file", test_empty },
	{ "YAML syntax errors", test_syntax },
	{ "all errors reported", test_all_errors },
	{ "error limit", test_too_many_errors },
	{ "parse size", test_parse_size },
	{ "parse duration", test_parse_duration },
	{ "parse address", test_parse_addr },
	{ "host name lengths", test_addr_lengths },
	{ "load errors", test_load_errors },
	{ "allocation failures", test_out_of_memory },
	CU_TEST_INFO_NULL,
};
WFS_TEST_SUITE("nodeconf", config_tests, NULL, NULL)
