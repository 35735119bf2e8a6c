/* wormctl/ls: list a WormFS directory page by page (ReadDir is keyset-
 * paginated, so a directory of any size streams through a page at a time),
 * or one file; with -l the attributes as ls -l shows them and, for a
 * regular file, each stripe with where every chunk lives.
 */
#include "wormctl/ctl_internal.h"

#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>

#include "wormctl/fmt.h"

/* Entries asked for per ReadDir call: one page is all ls holds. */
#define LS_PAGE 256

/* Longest symlink target shown. */
#define LS_TARGET_MAX 4096

static const struct wfs_ctl_col short_cols[] = {
	{ "name", NULL, false },
};

static const struct wfs_ctl_col long_cols[] = {
	{ "mode", NULL, false },
	{ "nlink", NULL, true },
	{ "uid", NULL, true },
	{ "gid", NULL, true },
	{ "size", NULL, true },
	{ "mtime_ns", NULL, false },
	{ "name", NULL, false },
};

static const struct wfs_ctl_col stripe_cols[] = {
	{ "sidx", "STRIPE", true },
	{ "stripe_id", "ID", true },
	{ "version", "VERSION", true },
	{ "kind", "KIND", false },
	{ "length", "LENGTH", true },
	{ "chunks.index", "CHUNK", true },
	{ "chunks.node", "NODE", false },
	{ "chunks.addr", "ADDRESS", false },
	{ "chunks.disk_id", "DISK", false },
	{ "chunks.state", "STATE", false },
};

#define NCOLS(cols) ((unsigned)(sizeof(cols) / sizeof((cols)[0])))

static void out_time(struct wfs_ctl_out *o, const char *key, int64_t ns)
{
	char text[32];

	wfs_ctl_fmt_time(ns, text, sizeof(text));
	wfs_ctl_out_field(o, key, text, json_integer(ns));
}

/* The name, and with -l a symlink's target: "name -> target" in text. */
static void out_name(struct wfs_ctl *ctl, const char *name,
		     const struct wfs_attr *a)
{
	char target[LS_TARGET_MAX + 1], text[2 * LS_TARGET_MAX];
	int rc = -EINVAL;

	if (a && S_ISLNK(a->mode))
		rc = wfs_client_readlink(ctl->client, &ctl->cred, a->ino,
					 target, sizeof(target));
	if (rc < 0) {
		wfs_ctl_out_str(ctl->out, "name", name);
		return;
	}
	snprintf(text, sizeof(text), "%s -> %s", name, target);
	wfs_ctl_out_field(ctl->out, "name", text, NULL);
	wfs_ctl_out_field(ctl->out, "name", NULL, json_string(name));
	wfs_ctl_out_str(ctl->out, "target", target);
}

/* One entry; @a (with -l) its attributes, else NULL. */
static void out_entry(struct wfs_ctl *ctl, const char *name, uint64_t ino,
		      uint32_t mode, const struct wfs_attr *a)
{
	struct wfs_ctl_out *o = ctl->out;
	char ms[WFS_CTL_MODE_LEN];

	wfs_ctl_out_item(o);
	out_name(ctl, name, a);
	wfs_ctl_out_u64(o, "ino", ino);
	wfs_ctl_out_field(o, "type", NULL, json_string(wfs_ctl_fmt_type(mode)));
	if (a) {
		wfs_ctl_fmt_mode(a->mode, ms);
		wfs_ctl_out_field(o, "mode", ms, json_integer(a->mode));
		wfs_ctl_out_u64(o, "nlink", a->nlink);
		wfs_ctl_out_u64(o, "uid", a->uid);
		wfs_ctl_out_u64(o, "gid", a->gid);
		wfs_ctl_out_u64(o, "size", a->size);
		wfs_ctl_out_u64(o, "bytes", a->bytes);
		out_time(o, "mtime_ns", a->mtime_ns);
		out_time(o, "atime_ns", a->atime_ns);
		out_time(o, "ctime_ns", a->ctime_ns);
	}
	wfs_ctl_out_end(o);
}

/* The entries of directory @ino, one ReadDir page in memory at a time. */
static int list_dir(struct wfs_ctl *ctl, uint64_t ino, bool lng)
{
	struct wfs_dirpage *page;
	uint64_t cookie = 0;
	bool eof = false;
	int rc = 0;

	while (!eof) {
		rc = wfs_client_readdir(ctl->client, &ctl->cred, ino, cookie,
					LS_PAGE, lng, &page);
		if (rc)
			break;
		unsigned n = wfs_dirpage_count(page);

		for (unsigned i = 0; i < n; i++) {
			const struct wfs_dirent *e = wfs_dirpage_entry(page, i);

			out_entry(ctl, e->name, e->ino, e->mode,
				  lng ? e->attr : NULL);
			cookie = e->cookie;
		}
		/* An empty page that is not the end would loop forever. */
		eof = wfs_dirpage_eof(page) || n == 0;
		wfs_dirpage_free(page);
	}
	return rc;
}

static void out_chunk(struct wfs_ctl *ctl, const struct wfs_chunk_info *ci)
{
	struct wfs_ctl_out *o = ctl->out;
	const Wormfs__NodeStatus *n = wfs_ctl_find_node(ctl->status,
		ci->node_id, ci->node_id_len);
	const Wormfs__DiskStatus *d = wfs_ctl_find_disk(n, ci->disk_id,
							ci->disk_id_len);
	char hex[16];

	wfs_ctl_out_item(o);
	wfs_ctl_out_u64(o, "index", ci->index);
	wfs_ctl_fmt_id(ci->node_id, ci->node_id_len, 8, hex, sizeof(hex));
	wfs_ctl_out_field(o, "node", n && n->name ? n->name : hex,
			  n && n->name ? json_string(n->name) : json_null());
	wfs_ctl_out_id(o, "node_id", ci->node_id, ci->node_id_len);
	wfs_ctl_out_str(o, "addr", ci->node_addr);
	wfs_ctl_out_id(o, "disk_id", ci->disk_id, ci->disk_id_len);
	wfs_ctl_out_field(o, "disk_path", NULL,
			  d ? json_string(d->path) : json_null());
	wfs_ctl_out_str(o, "state", ci->missing ? "missing" : "ok");
	wfs_ctl_out_end(o);
}

static int out_stripe(const struct wfs_stripe_info *s, void *arg)
{
	struct wfs_ctl *ctl = arg;
	struct wfs_ctl_out *o = ctl->out;
	bool ec = s->kind == WFS_STRIPE_EC;
	char kind[32];

	if (ec)
		snprintf(kind, sizeof(kind), "ec %u+%u", s->k, s->m);
	else
		snprintf(kind, sizeof(kind), "replica x%u", s->m + 1);
	wfs_ctl_out_item(o);
	wfs_ctl_out_u64(o, "sidx", s->sidx);
	wfs_ctl_out_u64(o, "stripe_id", s->stripe_id);
	wfs_ctl_out_u64(o, "version", s->version);
	wfs_ctl_out_field(o, "kind", kind,
			  json_string(ec ? "ec" : "replica"));
	wfs_ctl_out_u64(o, "k", s->k);
	wfs_ctl_out_u64(o, "m", s->m);
	wfs_ctl_out_u64(o, "chunk_size", s->chunk_size);
	wfs_ctl_out_u64(o, "length", s->length);
	wfs_ctl_out_list(o, "chunks", NULL, 0);
	for (unsigned i = 0; i < s->nchunks; i++)
		out_chunk(ctl, &s->chunks[i]);
	wfs_ctl_out_end(o);
	wfs_ctl_out_end(o);
	return 0;
}

static int list_stripes(struct wfs_ctl *ctl, uint64_t ino)
{
	const Wormfs__StatusReply *st;
	int rc;

	/* Only to name nodes and disks: without it ids are shown. */
	(void)wfs_ctl_status(ctl, &st);
	wfs_ctl_out_list(ctl->out, "stripes", stripe_cols, NCOLS(stripe_cols));
	rc = wfs_client_layout(ctl->client, &ctl->cred, ino, 0, out_stripe, ctl,
			       NULL);
	wfs_ctl_out_end(ctl->out);
	return rc;
}

int wfs_ctl_cmd_ls(struct wfs_ctl *ctl)
{
	const char *path = ctl->args->nargs ? ctl->args->args[0] : "/";
	bool lng = ctl->args->opts & WFS_CTL_OPT_LONG;
	struct wfs_attr a;
	int rc;

	rc = wfs_ctl_resolve(ctl, path, &a);
	if (rc)
		return wfs_ctl_fail(rc, "ls %s", path);
	if (lng)
		wfs_ctl_out_list(ctl->out, "entries", long_cols,
				 NCOLS(long_cols));
	else
		wfs_ctl_out_list(ctl->out, "entries", short_cols,
				 NCOLS(short_cols));
	if (S_ISDIR(a.mode)) {
		rc = list_dir(ctl, a.ino, lng);
		wfs_ctl_out_end(ctl->out);
		return rc ? wfs_ctl_fail(rc, "ls %s", path) : WFS_CTL_OK;
	}
	out_entry(ctl, path, a.ino, a.mode, lng ? &a : NULL);
	wfs_ctl_out_end(ctl->out);
	if (lng && S_ISREG(a.mode)) {
		rc = list_stripes(ctl, a.ino);
		if (rc)
			return wfs_ctl_fail(rc, "ls %s: layout", path);
	}
	return WFS_CTL_OK;
}
