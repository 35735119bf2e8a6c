/* Unit tests for wormctl/out: text tables and lines, streamed JSON, both
 * from the same calls; nesting, batches, bad UTF-8, errors. */
#include "wormctl/out.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mem/mem.h"
#include "tests/unit.h"

struct capture {
	FILE *fp;
	char *buf;
	size_t len;
};

static struct wfs_ctl_out *open_out(struct capture *c,
				    enum wfs_ctl_out_format f)
{
	struct wfs_ctl_out *o;

	c->buf = NULL;
	c->fp = open_memstream(&c->buf, &c->len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c->fp);
	o = wfs_ctl_out_new(f, c->fp);
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	return o;
}

/* Finish, free, and return what was written (free it). */
static char *close_out(struct capture *c, struct wfs_ctl_out *o, int *rc)
{
	*rc = wfs_ctl_out_finish(o);
	wfs_ctl_out_free(o);
	fclose(c->fp);
	return c->buf;
}

static const struct wfs_ctl_col node_cols[] = {
	{ "name", "NODE", false },
	{ "state", "STATE", false },
	{ "disks.path", "PATH", false },
	{ "disks.state", "DISK", false },
	{ "disks.capacity", "SIZE", true },
};

/* A status-like output: top-level fields, then nodes with their disks. */
static void write_status(struct wfs_ctl_out *o)
{
	static const uint8_t id[] = { 0xde, 0xad, 0xbe, 0xef, 0x01 };

	wfs_ctl_out_id(o, "cluster_id", id, sizeof(id));
	wfs_ctl_out_u64(o, "inodes", 12);
	wfs_ctl_out_field(o, "master_addr", NULL, json_string("h:1"));
	wfs_ctl_out_field(o, "master", "node-1 (h:1)", json_string("node-1"));
	wfs_ctl_out_list(o, "nodes", node_cols, 5);
	for (int n = 0; n < 2; n++) {
		wfs_ctl_out_item(o);
		wfs_ctl_out_str(o, "name", n ? "node-2" : "node-1");
		wfs_ctl_out_str(o, "state", "alive");
		wfs_ctl_out_u64(o, "not_a_column", 7);
		wfs_ctl_out_list(o, "disks", NULL, 0);
		for (int d = 0; d < (n ? 0 : 2); d++) {
			wfs_ctl_out_item(o);
			wfs_ctl_out_str(o, "path", d ? "/d2" : "/disk1");
			wfs_ctl_out_str(o, "state", "online");
			wfs_ctl_out_size(o, "capacity",
					 d ? 1536 : (uint64_t)10 << 30);
			wfs_ctl_out_end(o);
		}
		wfs_ctl_out_end(o);
		wfs_ctl_out_end(o);
	}
	wfs_ctl_out_end(o);
	wfs_ctl_out_pct(o, "use_percent", 59);
}

static void test_text(void)
{
	struct capture c;
	struct wfs_ctl_out *o = open_out(&c, WFS_CTL_OUT_TEXT);
	int rc;

	write_status(o);
	char *s = close_out(&c, o, &rc);

	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_STRING_EQUAL(s,
		"cluster id          deadbeef01\n"
		"inodes              12\n"
		"master              node-1 (h:1)\n"
		"\n"
		"NODE    STATE  PATH    DISK    SIZE\n"
		"node-1  alive  /disk1  online   10G\n"
		"               /d2     online  1.5K\n"
		"node-2  alive\n"
		"\n"
		"use percent         59%\n");
	free(s);
}

static void test_json(void)
{
	struct capture c;
	struct wfs_ctl_out *o = open_out(&c, WFS_CTL_OUT_JSON);
	json_error_t jerr;
	json_t *root, *nodes, *disks;
	int rc;

	write_status(o);
	char *s = close_out(&c, o, &rc);

	CU_ASSERT_EQUAL(rc, 0);
	root = json_loads(s, 0, &jerr);
	CU_ASSERT_PTR_NOT_NULL_FATAL(root);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(root,
		"cluster_id")), "deadbeef01");
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(root, "inodes")),
			12);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(root,
		"master")), "node-1");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(root,
		"master_addr")), "h:1");
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(root,
		"use_percent")), 59);
	nodes = json_object_get(root, "nodes");
	CU_ASSERT_EQUAL_FATAL(json_array_size(nodes), 2);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(
		json_array_get(nodes, 0), "not_a_column")), 7);
	disks = json_object_get(json_array_get(nodes, 0), "disks");
	CU_ASSERT_EQUAL_FATAL(json_array_size(disks), 2);
	CU_ASSERT_EQUAL(json_integer_value(json_object_get(
		json_array_get(disks, 0), "capacity")), (json_int_t)10 << 30);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(
		json_array_get(disks, 1), "path")), "/d2");
	disks = json_object_get(json_array_get(nodes, 1), "disks");
	CU_ASSERT_TRUE(json_is_array(disks));
	CU_ASSERT_EQUAL(json_array_size(disks), 0);
	json_decref(root);
	free(s);
}

static void test_json_values(void)
{
	struct capture c;
	struct wfs_ctl_out *o = open_out(&c, WFS_CTL_OUT_JSON);
	json_t *root;
	int rc;

	wfs_ctl_out_str(o, "bad", "a\xff" "b\xc3");	/* invalid UTF-8 */
	wfs_ctl_out_str(o, "ok", "h\xc3\xa9 \"q\"\n");
	wfs_ctl_out_str(o, "none", NULL);
	wfs_ctl_out_u64(o, "big", UINT64_MAX);
	wfs_ctl_out_id(o, "empty", NULL, 0);
	wfs_ctl_out_field(o, "text_only", "x", NULL);
	char *s = close_out(&c, o, &rc);

	CU_ASSERT_EQUAL(rc, 0);
	root = json_loads(s, 0, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(root);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(root, "bad")),
			       "a\xef\xbf\xbd" "b\xef\xbf\xbd");
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(root, "ok")),
			       "h\xc3\xa9 \"q\"\n");
	CU_ASSERT_TRUE(json_is_null(json_object_get(root, "none")));
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(root, "big")),
			       "18446744073709551615");
	CU_ASSERT_TRUE(json_is_null(json_object_get(root, "empty")));
	CU_ASSERT_PTR_NULL(json_object_get(root, "text_only"));
	json_decref(root);
	free(s);

	o = open_out(&c, WFS_CTL_OUT_JSON);
	s = close_out(&c, o, &rc);
	CU_ASSERT_STRING_EQUAL(s, "{}\n");
	free(s);
}

static const struct wfs_ctl_col ls_cols[] = {
	{ "size", NULL, true },
	{ "name", NULL, false },
};

/* A headless table of more rows than one batch: the second batch is
 * aligned to widths at least those of the first; no trailing blanks; an
 * unclosed list is closed by finish. */
static void test_batches(void)
{
	struct capture c;
	struct wfs_ctl_out *o = open_out(&c, WFS_CTL_OUT_TEXT);
	char name[32];
	int rc, lines = 0;

	wfs_ctl_out_list(o, "entries", ls_cols, 2);
	for (int i = 0; i < 1000; i++) {
		wfs_ctl_out_item(o);
		wfs_ctl_out_u64(o, "size", i < 512 ? 7 : 123456);
		snprintf(name, sizeof(name), "f%d", i);
		wfs_ctl_out_str(o, "name", i == 3 ? "new\nline" : name);
		wfs_ctl_out_end(o);
	}
	char *s = close_out(&c, o, &rc);

	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(s, "7  f0\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(s, "\n7  new?line\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(s, "\n123456  f999\n"));
	for (char *p = s; (p = strchr(p, '\n')); p++) {
		CU_ASSERT(p == s || p[-1] != ' ');
		lines++;
	}
	CU_ASSERT_EQUAL(lines, 1000);
	free(s);
}

/* A table without rows writes nothing, and the lines around it keep a
 * single blank line between them. */
static void test_empty_table(void)
{
	struct capture c;
	struct wfs_ctl_out *o = open_out(&c, WFS_CTL_OUT_TEXT);
	int rc;

	wfs_ctl_out_u64(o, "a", 1);
	wfs_ctl_out_list(o, "nodes", node_cols, 5);
	wfs_ctl_out_item(o);
	wfs_ctl_out_u64(o, "not_a_column", 7);
	wfs_ctl_out_end(o);
	wfs_ctl_out_end(o);
	wfs_ctl_out_u64(o, "b", 2);
	wfs_ctl_out_list(o, "more", node_cols, 5);
	wfs_ctl_out_end(o);
	char *s = close_out(&c, o, &rc);

	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_STRING_EQUAL(s, "a                   1\n"
				  "b                   2\n");
	free(s);
}

static void test_order_errors(void)
{
	struct capture c;
	struct wfs_ctl_out *o;
	int rc;

	/* An item outside a list. */
	o = open_out(&c, WFS_CTL_OUT_JSON);
	wfs_ctl_out_item(o);
	free(close_out(&c, o, &rc));
	CU_ASSERT_EQUAL(rc, -EINVAL);

	/* More ends than opens. */
	o = open_out(&c, WFS_CTL_OUT_TEXT);
	wfs_ctl_out_end(o);
	free(close_out(&c, o, &rc));
	CU_ASSERT_EQUAL(rc, -EINVAL);

	/* A field straight in a list. */
	o = open_out(&c, WFS_CTL_OUT_TEXT);
	wfs_ctl_out_list(o, "l", ls_cols, 2);
	wfs_ctl_out_u64(o, "size", 1);
	free(close_out(&c, o, &rc));
	CU_ASSERT_EQUAL(rc, -EINVAL);

	/* A text table without columns. */
	o = open_out(&c, WFS_CTL_OUT_TEXT);
	wfs_ctl_out_list(o, "l", NULL, 0);
	free(close_out(&c, o, &rc));
	CU_ASSERT_EQUAL(rc, -EINVAL);

	/* Nesting past the limit. */
	o = open_out(&c, WFS_CTL_OUT_JSON);
	for (int i = 0; i < WFS_CTL_OUT_DEPTH; i++) {
		wfs_ctl_out_list(o, "l", ls_cols, 2);
		wfs_ctl_out_item(o);
	}
	free(close_out(&c, o, &rc));
	CU_ASSERT_EQUAL(rc, -EINVAL);
}

/* Every allocation of a text run failing in turn: the output reports
 * -ENOMEM and frees all it holds (the sanitizer build checks leaks). */
static void test_alloc_failures(void)
{
	int failed = 0;

	for (long n = 0; n < 64; n++) {
		struct capture c;
		struct wfs_ctl_out *o;
		int rc;

		c.fp = open_memstream(&c.buf, &c.len);
		CU_ASSERT_PTR_NOT_NULL_FATAL(c.fp);
		wfs_mem_fail_after(n);
		o = wfs_ctl_out_new(WFS_CTL_OUT_TEXT, c.fp);
		if (!o) {
			wfs_mem_fail_after(-1);
			fclose(c.fp);
			free(c.buf);
			failed++;
			continue;
		}
		write_status(o);
		rc = wfs_ctl_out_finish(o);
		wfs_mem_fail_after(-1);
		wfs_ctl_out_free(o);
		fclose(c.fp);
		free(c.buf);
		CU_ASSERT(rc == 0 || rc == -ENOMEM);
		if (rc == 0)
			break;
		failed++;
	}
	CU_ASSERT(failed > 3);
}

static void test_write_error(void)
{
	FILE *fp = fopen("/dev/full", "w");
	struct wfs_ctl_out *o;

	if (!fp)
		return;
	o = wfs_ctl_out_new(WFS_CTL_OUT_JSON, fp);
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	write_status(o);
	CU_ASSERT_EQUAL(wfs_ctl_out_finish(o), -EIO);
	wfs_ctl_out_free(o);
	fclose(fp);
}

static CU_TestInfo out_tests[] = {
	{ "text lines and nested table", test_text },
	{ "json of the same calls", test_json },
	{ "json values", test_json_values },
	{ "text batches", test_batches },
	{ "empty table", test_empty_table },
	{ "calls out of order", test_order_errors },
	{ "allocation failures", test_alloc_failures },
	{ "write error", test_write_error },
	CU_TEST_INFO_NULL,
};
WFS_TEST_SUITE("wormctl out", out_tests, NULL, NULL)
