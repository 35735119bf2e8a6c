/* wormctl/out: text tables or streamed JSON from one sequence of calls
 * (see out.h).  JSON values are encoded by jansson; only the punctuation
 * between them (braces, brackets, commas, indentation) is written here, so
 * that a list is never held whole in memory.
 */
#include "wormctl/out.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "mem/mem.h"
#include "wormctl/fmt.h"

/* Rows a text table holds before writing them out. */
#define TABLE_BATCH 512

/* Width of the labels of top-level text lines. */
#define LABEL_WIDTH 18

/* Characters of an id shown in a text table. */
#define TABLE_ID_CHARS 8

enum frame_kind { FRAME_OBJECT, FRAME_LIST, FRAME_ITEM };

struct frame {
	enum frame_kind kind;
	unsigned members;	/* JSON: members or elements written */
	size_t prefix_len;	/* text, lists: prefix length to restore */
};

struct table {
	const struct wfs_ctl_col *cols;
	unsigned ncols;
	char **cells;		/* the row being filled: ncols, NULL blank */
	char **rows;		/* nrows * ncols held cells */
	unsigned nrows;
	size_t *width;		/* per column, never shrinking */
	bool heading;		/* some column has a title */
	bool heading_done;
	bool started;		/* some row was written */
};

struct wfs_ctl_out {
	enum wfs_ctl_out_format format;
	FILE *fp;
	int err;		/* first error; once set nothing is written */
	struct frame stack[WFS_CTL_OUT_DEPTH + 1];
	unsigned depth;		/* stack[0] is the top-level object */
	struct table *table;	/* text: the open table */
	char prefix[128];	/* text: "disks." inside nested lists */
	size_t prefix_len;
	bool printed;		/* text: a line was written */
	bool after_table;	/* text: the last thing written is a table */
};

static void fail(struct wfs_ctl_out *o, int err)
{
	if (!o->err)
		o->err = err;
}

static void put(struct wfs_ctl_out *o, const char *s)
{
	if (!o->err && fputs(s, o->fp) == EOF)
		fail(o, -EIO);
}

static void indent(struct wfs_ctl_out *o, unsigned depth)
{
	if (!o->err && fprintf(o->fp, "\n%*s", (int)(2 * depth), "") < 0)
		fail(o, -EIO);
}

/* ---- JSON ---- */

static void json_put(struct wfs_ctl_out *o, json_t *v)
{
	if (!v)
		fail(o, -ENOMEM);
	else if (!o->err && json_dumpf(v, o->fp, JSON_ENCODE_ANY) < 0)
		fail(o, -EIO);
	json_decref(v);
}

/* Start a member (in an object) or an element (in a list) of the top
 * frame: the comma, the new line, and the key when there is one. */
static void json_member(struct wfs_ctl_out *o, const char *key)
{
	struct frame *f = &o->stack[o->depth];

	if (f->members++)
		put(o, ",");
	indent(o, o->depth + 1);
	if (f->kind != FRAME_LIST) {
		json_put(o, json_string(key));
		put(o, ": ");
	}
}

/* A JSON string of @s: as is when it is UTF-8, else with every byte that
 * starts no valid sequence replaced by U+FFFD.  jansson judges each
 * sequence, so no UTF-8 rules are written here. */
static json_t *json_text(const char *s)
{
	size_t len = strlen(s), o = 0;
	json_t *v = json_stringn(s, len);
	char *buf;

	if (v)
		return v;
	buf = wfs_malloc(3 * len + 1);
	if (!buf)
		return NULL;
	for (size_t i = 0; i < len;) {
		size_t n = 1;
		json_t *seq = NULL;

		while (n <= 4 && i + n <= len &&
		       !(seq = json_stringn(s + i, n)))
			n++;
		if (seq) {
			json_decref(seq);
			memcpy(buf + o, s + i, n);
			o += n;
			i += n;
		} else {
			memcpy(buf + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		}
	}
	v = json_stringn(buf, o);
	wfs_free(buf);
	return v;
}

json_t *wfs_ctl_out_json_u64(uint64_t v)
{
	char digits[24];

	if (v <= INT64_MAX)
		return json_integer((json_int_t)v);
	snprintf(digits, sizeof(digits), "%" PRIu64, v);
	return json_string(digits);
}

/* ---- text tables ---- */

static void table_free(struct table *t)
{
	if (!t)
		return;
	for (unsigned i = 0; t->cells && i < t->ncols; i++)
		wfs_free(t->cells[i]);
	for (size_t i = 0; t->rows && i < (size_t)t->nrows * t->ncols; i++)
		wfs_free(t->rows[i]);
	wfs_free(t->cells);
	wfs_free(t->rows);
	wfs_free(t->width);
	wfs_free(t);
}

static struct table *table_new(const struct wfs_ctl_col *cols,
			       unsigned ncols)
{
	struct table *t = wfs_calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->cols = cols;
	t->ncols = ncols;
	t->cells = wfs_calloc(ncols ? ncols : 1, sizeof(*t->cells));
	t->rows = wfs_calloc((size_t)TABLE_BATCH * (ncols ? ncols : 1),
			     sizeof(*t->rows));
	t->width = wfs_calloc(ncols ? ncols : 1, sizeof(*t->width));
	if (!t->cells || !t->rows || !t->width) {
		table_free(t);
		return NULL;
	}
	for (unsigned i = 0; i < ncols; i++) {
		if (cols[i].heading) {
			t->heading = true;
			t->width[i] = strlen(cols[i].heading);
		}
	}
	return t;
}

/* Write one line of cells, padded to the widths, with no trailing blanks:
 * spaces are owed and only paid before something visible. */
static void table_line(struct wfs_ctl_out *o, struct table *t,
		       char *const *cells)
{
	size_t owed = 0;

	for (unsigned i = 0; i < t->ncols; i++) {
		const char *s = cells[i] ? cells[i] : "";
		size_t len = strlen(s), pad = t->width[i] - len;

		owed += i ? 2 : 0;
		if (t->cols[i].right)
			owed += pad;
		if (len) {
			if (!o->err && fprintf(o->fp, "%*s%s", (int)owed, "",
					       s) < 0)
				fail(o, -EIO);
			owed = 0;
		}
		if (!t->cols[i].right)
			owed += pad;
	}
	put(o, "\n");
}

/* Write the rows held; the first rows written bring the heading, and a
 * blank line when something came before.  A table with no rows writes
 * nothing. */
static void table_flush(struct wfs_ctl_out *o, struct table *t)
{
	char *headings[t->ncols ? t->ncols : 1];

	if (t->nrows == 0)
		return;
	if (!t->started && o->printed)
		put(o, "\n");
	t->started = true;
	o->printed = true;

	for (size_t i = 0; i < (size_t)t->nrows * t->ncols; i++) {
		size_t len = t->rows[i] ? strlen(t->rows[i]) : 0;
		size_t *w = &t->width[i % t->ncols];

		if (len > *w)
			*w = len;
	}
	if (t->heading && !t->heading_done) {
		for (unsigned i = 0; i < t->ncols; i++)
			headings[i] = (char *)t->cols[i].heading;
		table_line(o, t, headings);
		t->heading_done = true;
	}
	for (unsigned r = 0; r < t->nrows; r++)
		table_line(o, t, t->rows + (size_t)r * t->ncols);
	for (size_t i = 0; i < (size_t)t->nrows * t->ncols; i++) {
		wfs_free(t->rows[i]);
		t->rows[i] = NULL;
	}
	t->nrows = 0;
}

/* An item ended: keep its row if it set any cell. */
static void table_row(struct wfs_ctl_out *o, struct table *t)
{
	bool any = false;

	for (unsigned i = 0; i < t->ncols; i++)
		any |= t->cells[i] != NULL;
	if (!any)
		return;
	memcpy(t->rows + (size_t)t->nrows * t->ncols, t->cells,
	       t->ncols * sizeof(*t->cells));
	memset(t->cells, 0, t->ncols * sizeof(*t->cells));
	if (++t->nrows == TABLE_BATCH)
		table_flush(o, t);
}

/* @s with control characters as '?', in new memory. */
static char *cell_text(const char *s)
{
	char *c = wfs_strdup(s);

	for (char *p = c; p && *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return c;
}

static void text_cell(struct wfs_ctl_out *o, const char *key,
		      const char *text)
{
	struct table *t = o->table;
	size_t klen = strlen(key);

	for (unsigned i = 0; i < t->ncols; i++) {
		const char *ck = t->cols[i].key;

		if (strncmp(ck, o->prefix, o->prefix_len) != 0 ||
		    strlen(ck + o->prefix_len) != klen ||
		    memcmp(ck + o->prefix_len, key, klen) != 0)
			continue;
		wfs_free(t->cells[i]);
		t->cells[i] = cell_text(text);
		if (!t->cells[i])
			fail(o, -ENOMEM);
		return;
	}
}

/* A top-level "label  value" line. */
static void text_line(struct wfs_ctl_out *o, const char *key,
		      const char *text)
{
	char label[64];
	size_t i;

	for (i = 0; key[i] && i < sizeof(label) - 1; i++)
		label[i] = key[i] == '_' ? ' ' : key[i];
	label[i] = '\0';
	if (o->after_table)
		put(o, "\n");
	o->after_table = false;
	o->printed = true;
	if (!o->err && fprintf(o->fp, "%-*s  %s\n", LABEL_WIDTH, label,
			       text) < 0)
		fail(o, -EIO);
}

/* ---- the calls ---- */

struct wfs_ctl_out *wfs_ctl_out_new(enum wfs_ctl_out_format format,
				    FILE *fp)
{
	struct wfs_ctl_out *o = wfs_calloc(1, sizeof(*o));

	if (!o)
		return NULL;
	o->format = format;
	o->fp = fp;
	o->stack[0].kind = FRAME_OBJECT;
	if (format == WFS_CTL_OUT_JSON)
		put(o, "{");
	return o;
}

enum wfs_ctl_out_format wfs_ctl_out_format(const struct wfs_ctl_out *o)
{
	return o->format;
}

static bool push(struct wfs_ctl_out *o, enum frame_kind kind)
{
	if (o->depth == WFS_CTL_OUT_DEPTH) {
		fail(o, -EINVAL);
		return false;
	}
	o->stack[++o->depth] = (struct frame){ .kind = kind };
	return true;
}

static bool top_is(const struct wfs_ctl_out *o, enum frame_kind a,
		   enum frame_kind b)
{
	enum frame_kind k = o->stack[o->depth].kind;

	return k == a || k == b;
}

static void text_list(struct wfs_ctl_out *o, const char *key,
		      const struct wfs_ctl_col *cols, unsigned ncols)
{
	struct frame *f = &o->stack[o->depth];
	size_t klen = strlen(key);

	f->prefix_len = o->prefix_len;
	if (!o->table) {
		o->table = table_new(cols, ncols);
		if (!o->table)
			fail(o, -ENOMEM);
		return;
	}
	if (o->prefix_len + klen + 2 > sizeof(o->prefix)) {
		fail(o, -EINVAL);
		return;
	}
	memcpy(o->prefix + o->prefix_len, key, klen);
	o->prefix_len += klen;
	o->prefix[o->prefix_len++] = '.';
	o->prefix[o->prefix_len] = '\0';
}

void wfs_ctl_out_list(struct wfs_ctl_out *o, const char *key,
		      const struct wfs_ctl_col *cols, unsigned ncols)
{
	if (o->err)
		return;
	if (!top_is(o, FRAME_OBJECT, FRAME_ITEM) ||
	    (o->depth == 0 && o->format == WFS_CTL_OUT_TEXT && !cols)) {
		fail(o, -EINVAL);
		return;
	}
	if (o->format == WFS_CTL_OUT_JSON) {
		json_member(o, key);
		put(o, "[");
	}
	if (push(o, FRAME_LIST) && o->format == WFS_CTL_OUT_TEXT)
		text_list(o, key, cols, ncols);
}

void wfs_ctl_out_item(struct wfs_ctl_out *o)
{
	if (o->err)
		return;
	if (!top_is(o, FRAME_LIST, FRAME_LIST)) {
		fail(o, -EINVAL);
		return;
	}
	if (o->format == WFS_CTL_OUT_JSON) {
		json_member(o, NULL);
		put(o, "{");
	}
	push(o, FRAME_ITEM);
}

void wfs_ctl_out_end(struct wfs_ctl_out *o)
{
	struct frame *f = &o->stack[o->depth];

	if (o->err)
		return;
	if (o->depth == 0) {
		fail(o, -EINVAL);
		return;
	}
	o->depth--;
	if (o->format == WFS_CTL_OUT_JSON) {
		if (f->members)
			indent(o, o->depth + 1);
		put(o, f->kind == FRAME_LIST ? "]" : "}");
		return;
	}
	if (f->kind == FRAME_ITEM) {
		table_row(o, o->table);
		return;
	}
	o->prefix_len = f->prefix_len;
	o->prefix[o->prefix_len] = '\0';
	if (o->depth == 0) {
		table_flush(o, o->table);
		o->after_table = o->table->started;
		table_free(o->table);
		o->table = NULL;
	}
}

void wfs_ctl_out_field(struct wfs_ctl_out *o, const char *key,
		       const char *text, json_t *json)
{
	if (o->err)
		goto out_decref;
	if (!top_is(o, FRAME_OBJECT, FRAME_ITEM)) {
		fail(o, -EINVAL);
		goto out_decref;
	}
	if (o->format == WFS_CTL_OUT_JSON) {
		if (json) {
			json_member(o, key);
			json_put(o, json);
		}
		return;
	}
	if (!text)
		goto out_decref;
	if (o->table)
		text_cell(o, key, text);
	else
		text_line(o, key, text);
out_decref:
	json_decref(json);
}

void wfs_ctl_out_str(struct wfs_ctl_out *o, const char *key, const char *s)
{
	json_t *v = NULL;

	if (o->format == WFS_CTL_OUT_JSON) {
		v = s ? json_text(s) : json_null();
		if (!v)
			fail(o, -ENOMEM);
	}
	wfs_ctl_out_field(o, key, s ? s : "", v);
}

void wfs_ctl_out_u64(struct wfs_ctl_out *o, const char *key, uint64_t v)
{
	char text[24];
	json_t *j = NULL;

	snprintf(text, sizeof(text), "%" PRIu64, v);
	if (o->format == WFS_CTL_OUT_JSON && !(j = wfs_ctl_out_json_u64(v)))
		fail(o, -ENOMEM);
	wfs_ctl_out_field(o, key, text, j);
}

void wfs_ctl_out_size(struct wfs_ctl_out *o, const char *key, uint64_t v)
{
	char text[WFS_CTL_SIZE_LEN];
	json_t *j = NULL;

	wfs_ctl_fmt_size(v, text);
	if (o->format == WFS_CTL_OUT_JSON && !(j = wfs_ctl_out_json_u64(v)))
		fail(o, -ENOMEM);
	wfs_ctl_out_field(o, key, text, j);
}

void wfs_ctl_out_pct(struct wfs_ctl_out *o, const char *key, unsigned pct)
{
	char text[16];
	json_t *j = NULL;

	snprintf(text, sizeof(text), "%u%%", pct);
	if (o->format == WFS_CTL_OUT_JSON && !(j = json_integer(pct)))
		fail(o, -ENOMEM);
	wfs_ctl_out_field(o, key, text, j);
}

void wfs_ctl_out_id(struct wfs_ctl_out *o, const char *key,
		    const uint8_t *id, size_t len)
{
	char text[2 * 64 + 1];
	size_t max = o->table ? TABLE_ID_CHARS : 0;

	wfs_ctl_fmt_id(id, len, o->format == WFS_CTL_OUT_JSON ? 0 : max, text,
		       sizeof(text));
	if (o->format == WFS_CTL_OUT_JSON)
		wfs_ctl_out_str(o, key, len ? text : NULL);
	else
		wfs_ctl_out_field(o, key, text, NULL);
}

int wfs_ctl_out_finish(struct wfs_ctl_out *o)
{
	while (o->depth > 0 && !o->err)
		wfs_ctl_out_end(o);
	if (o->format == WFS_CTL_OUT_JSON) {
		if (o->stack[0].members)
			indent(o, 0);
		put(o, "}\n");
	}
	if (fflush(o->fp) == EOF || ferror(o->fp))
		fail(o, -EIO);
	return o->err;
}

void wfs_ctl_out_free(struct wfs_ctl_out *o)
{
	if (!o)
		return;
	table_free(o->table);
	wfs_free(o);
}
