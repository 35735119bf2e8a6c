/* wormctl/out: the output of a wormctl command, as text for people or as
 * one JSON object (--json), from one sequence of calls.
 *
 * A command writes fields, lists and list items:
 *
 *     wfs_ctl_out_u64(o, "inodes", n);            top-level field
 *     wfs_ctl_out_list(o, "nodes", cols, ncols);  a list of items
 *       wfs_ctl_out_item(o);
 *         wfs_ctl_out_str(o, "name", "node-1");
 *         wfs_ctl_out_list(o, "disks", NULL, 0);  a list inside an item
 *           wfs_ctl_out_item(o); ... wfs_ctl_out_end(o);
 *         wfs_ctl_out_end(o);
 *       wfs_ctl_out_end(o);
 *     wfs_ctl_out_end(o);
 *
 * JSON: the output is one object; fields are its members, lists are arrays
 * of objects, written as they come (nothing is held back, so a listing of
 * any length streams).  Strings that are not valid UTF-8 (POSIX names need
 * not be) have each bad byte replaced by U+FFFD.
 *
 * Text: top-level fields are "label  value" lines, the label being the key
 * with '_' as a space.  A top-level list is an aligned table with the
 * columns given; a field inside it fills the column whose key is the
 * field's key, prefixed by the keys of the lists nested inside the table
 * ("disks.path").  Fields without a column are not shown.  A row is
 * written when an item that set some cell ends: an item holding a nested
 * list is written as its first nested row, the following nested rows
 * leaving its columns blank.  Rows are held 512 at a time to align them;
 * columns only widen from one batch to the next.  A table without rows
 * shows nothing, not even its heading.  Control characters in cells show
 * as '?'.
 *
 * Errors are sticky: the first failure (out of memory, a failed write)
 * stops the output and is returned by wfs_ctl_out_finish, so the calls
 * below return nothing.  One thread at a time per struct wfs_ctl_out.
 */
#ifndef WFS_WORMCTL_OUT_H
#define WFS_WORMCTL_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

enum wfs_ctl_out_format {
	WFS_CTL_OUT_TEXT = 0,
	WFS_CTL_OUT_JSON = 1,
};

/* A column of a text table. */
struct wfs_ctl_col {
	const char *key;	/* the field filling it; dotted inside nested
				 * lists ("disks.path") */
	const char *heading;	/* its title; a table whose columns all have
				 * NULL titles has no heading line */
	bool right;		/* right-aligned (numbers) */
};

/* Deepest nesting of lists and items. */
#define WFS_CTL_OUT_DEPTH 8

struct wfs_ctl_out;

/* Start an output in @format to @fp (borrowed until wfs_ctl_out_free).
 * Returns the new output, or NULL when out of memory. */
struct wfs_ctl_out *wfs_ctl_out_new(enum wfs_ctl_out_format format,
				    FILE *fp);

/* Close every open list and item, end the output (JSON: the closing brace
 * and a newline) and flush @fp.  Returns 0, or the first error of the
 * output: -ENOMEM, -EIO (a write failed), -EINVAL (calls out of order).
 * Nothing may be written after it. */
int wfs_ctl_out_finish(struct wfs_ctl_out *o);

/* Release the output (without finishing it).  NULL is a no-op. */
void wfs_ctl_out_free(struct wfs_ctl_out *o);

/* The output's format. */
enum wfs_ctl_out_format wfs_ctl_out_format(const struct wfs_ctl_out *o);

/* Open the list @key.  At the top level (outside any list) @cols/@ncols
 * (borrowed until the list ends) are its text table; inside a list's item
 * pass NULL and 0: its fields go to the enclosing table. */
void wfs_ctl_out_list(struct wfs_ctl_out *o, const char *key,
		      const struct wfs_ctl_col *cols, unsigned ncols);

/* Open an item of the innermost list. */
void wfs_ctl_out_item(struct wfs_ctl_out *o);

/* Close the innermost open list or item. */
void wfs_ctl_out_end(struct wfs_ctl_out *o);

/* Write the field @key: @text in text (NULL: not shown there), @json in
 * JSON (NULL: not written there; its reference is taken in both formats,
 * even on error).  The general form of the helpers below. */
void wfs_ctl_out_field(struct wfs_ctl_out *o, const char *key,
		       const char *text, json_t *json);

/* A string (NULL: JSON null, blank in text). */
void wfs_ctl_out_str(struct wfs_ctl_out *o, const char *key, const char *s);

/* A number. */
void wfs_ctl_out_u64(struct wfs_ctl_out *o, const char *key, uint64_t v);

/* A size in bytes: human units in text ("1.5G"), bytes in JSON. */
void wfs_ctl_out_size(struct wfs_ctl_out *o, const char *key, uint64_t v);

/* A percentage: "59%" in text, 59 in JSON. */
void wfs_ctl_out_pct(struct wfs_ctl_out *o, const char *key, unsigned pct);

/* An id (wfs_ctl_fmt_id: as text, or binary in hex): in full in JSON and
 * in top-level text lines, its first 8 characters in a table; JSON null
 * when empty. */
void wfs_ctl_out_id(struct wfs_ctl_out *o, const char *key,
		    const uint8_t *id, size_t len);

/* A JSON integer for @v (a string of its digits past INT64_MAX, which
 * JSON readers cannot hold exactly).  NULL when out of memory. */
json_t *wfs_ctl_out_json_u64(uint64_t v);

#endif
