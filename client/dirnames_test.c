/* Unit tests for client/dirnames: when a directory is listed, which
 * lookups its list answers, names made through the client while a listing
 * runs, refreshing from the last cookie, expiry, listings over several
 * pages or failing, the name limit, and many directories. */
#include "client/dirnames_internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mem/mem.h"
#include "tests/unit.h"

#define DIR_INO 10
#define NFILES 40

static char names[NFILES][16];
static struct wfs_dirent ents[NFILES];

/* The directory DIR_INO: f0..f39, cookies 3, 5, 7... (cookies are
 * global: another directory's names take the numbers between). */
static void make_dir(void)
{
	for (unsigned i = 0; i < NFILES; i++) {
		snprintf(names[i], sizeof(names[i]), "f%u", i);
		ents[i].name = names[i];
		ents[i].ino = 100 + i;
		ents[i].mode = 0100644;
		ents[i].cookie = 3 + 2 * i;
		ents[i].attr = NULL;
	}
}

/* Two lookups of @dir missed at the node, then a want: a first listing.
 * Returns the cookie asked for, or UINT64_MAX if none was. */
static uint64_t misses_start(struct wfs_dirnames *dn, uint64_t dir,
			     uint64_t *ticket)
{
	uint64_t cookie;

	wfs_dirnames_looked_up(dn, dir, -ENOENT);
	wfs_dirnames_looked_up(dn, dir, -ENOENT);
	if (!wfs_dirnames_want(dn, dir, &cookie, ticket))
		return UINT64_MAX;
	return cookie;
}

static void test_first_list(void)
{
	struct wfs_dirnames *dn;
	struct wfs_dirnames_stats st;
	uint64_t cookie, ticket;
	char longname[300];

	make_dir();
	CU_ASSERT_FATAL(wfs_dirnames_new(60000, 1000, &dn) == 0);
	/* No list: nothing is known absent, and one miss is not a pattern;
	 * a found name starts the count over. */
	CU_ASSERT_FALSE(wfs_dirnames_absent(dn, DIR_INO, "x", NULL));
	CU_ASSERT_FALSE(wfs_dirnames_want(dn, DIR_INO, &cookie, &ticket));
	wfs_dirnames_looked_up(dn, DIR_INO, -ENOENT);
	CU_ASSERT_FALSE(wfs_dirnames_want(dn, DIR_INO, &cookie, &ticket));
	wfs_dirnames_looked_up(dn, DIR_INO, 0);
	wfs_dirnames_looked_up(dn, DIR_INO, -ENOENT);
	CU_ASSERT_FALSE(wfs_dirnames_want(dn, DIR_INO, &cookie, &ticket));
	wfs_dirnames_looked_up(dn, DIR_INO, -ENOENT);
	CU_ASSERT_TRUE(wfs_dirnames_want(dn, DIR_INO, &cookie, &ticket));
	CU_ASSERT_EQUAL(cookie, 0);
	/* One listing at a time; none answers before it reached the end. */
	CU_ASSERT_FALSE(wfs_dirnames_want(dn, DIR_INO, &cookie, &ticket));
	CU_ASSERT_FALSE(wfs_dirnames_absent(dn, DIR_INO, "x", NULL));
	CU_ASSERT_FALSE(wfs_dirnames_fill(dn, DIR_INO, ticket, 0, ents,
					  NFILES, true, &cookie));
	CU_ASSERT_TRUE(wfs_dirnames_absent(dn, DIR_INO, "x", NULL));
	CU_ASSERT_TRUE(wfs_dirnames_absent(dn, DIR_INO, "f40", NULL));
	for (unsigned i = 0; i < NFILES; i++)
		CU_ASSERT_FALSE(wfs_dirnames_absent(dn, DIR_INO, names[i], NULL));
	/* Never for names the node would refuse or that are not entries. */
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	CU_ASSERT_FALSE(wfs_dirnames_absent(dn, DIR_INO, ".", NULL));
	CU_ASSERT_FALSE(wfs_dirnames_absent(dn, DIR_INO, "..", NULL));
	CU_ASSERT_FALSE(wfs_dirnames_absent(dn, DIR_INO, "", NULL));
	CU_ASSERT_FALSE(wfs_dirnames_absent(dn, DIR_INO, "a/b", NULL));
	CU_ASSERT_FALSE(wfs_dirnames_absent(dn, DIR_INO, longname, NULL));
	/* Only that directory's. */
	CU_ASSERT_FALSE(wfs_dirnames_absent(dn, DIR_INO + 1, "x", NULL));
	/* Current: no listing wanted. */
	CU_ASSERT_FALSE(wfs_dirnames_want(dn, DIR_INO, &cookie, &ticket));
	wfs_dirnames_stats(dn, &st);
	CU_ASSERT_EQUAL(st.listings, 1);
	CU_ASSERT_EQUAL(st.pages, 1);
	CU_ASSERT_EQUAL(st.names, NFILES);
	CU_ASSERT_EQUAL(st.hits, 2);
	wfs_dirnames_free(dn);
}

static void test_own_names(void)
{
	struct wfs_dirnames *dn;
	uint64_t cookie, ticket;

	make_dir();
	CU_ASSERT_FATAL(wfs_dirnames_new(60000, 1000, &dn) == 0);
	/* Before any listing a name made here has nowhere to go; the
	 * listing that follows finds it at the node. */
	wfs_dirnames_add(dn, DIR_INO, "early");
	CU_ASSERT_EQUAL(misses_start(dn, DIR_INO, &ticket), 0);
	/* Made while the listing runs, after the node listed the page. */
	wfs_dirnames_add(dn, DIR_INO, "during");
	CU_ASSERT_FALSE(wfs_dirnames_fill(dn, DIR_INO, ticket, 0, ents, 10,
					  true, &cookie));
	CU_ASSERT_FALSE(wfs_dirnames_absent(dn, DIR_INO, "during", NULL));
	CU_ASSERT_TRUE(wfs_dirnames_absent(dn, DIR_INO, "early", NULL));
	/* Made after: on the list at once. */
	CU_ASSERT_TRUE(wfs_dirnames_absent(dn, DIR_INO, "after", NULL));
	wfs_dirnames_add(dn, DIR_INO, "after");
	CU_ASSERT_FALSE(wfs_dirnames_absent(dn, DIR_INO, "after", NULL));
	/* Twice is once. */
	wfs_dirnames_add(dn, DIR_INO, "after");
	{
		struct wfs_dirnames_stats st;

		wfs_dirnames_stats(dn, &st);
		CU_ASSERT_EQUAL(st.names, 12);
	}
	wfs_dirnames_free(dn);
}

static void test_refresh_and_expiry(void)
{
	struct wfs_dirnames *dn;
	struct wfs_dirnames_stats st;
	uint64_t cookie, ticket;
	bool refresh = true;

	make_dir();
	/* Margins of 400 ms either way: a slow machine only makes the
	 * sleeps longer, and each wait is past its mark. */
	CU_ASSERT_FATAL(wfs_dirnames_new(2000, 1000, &dn) == 0);
	CU_ASSERT_EQUAL(misses_start(dn, DIR_INO, &ticket), 0);
	CU_ASSERT_FALSE(wfs_dirnames_fill(dn, DIR_INO, ticket, 0, ents, 20,
					  true, &cookie));
	CU_ASSERT_TRUE(wfs_dirnames_absent(dn, DIR_INO, "f25", &refresh));
	CU_ASSERT_FALSE(refresh);
	CU_ASSERT_FALSE(wfs_dirnames_want(dn, DIR_INO, &cookie, &ticket));
	/* Past half its life: it still answers, says to refresh it, and is
	 * refreshed from the last cookie listed, with the names added
	 * since. */
	usleep(1100 * 1000);
	CU_ASSERT_TRUE(wfs_dirnames_absent(dn, DIR_INO, "f25", &refresh));
	CU_ASSERT_TRUE(refresh);
	CU_ASSERT_TRUE(wfs_dirnames_want(dn, DIR_INO, &cookie, &ticket));
	CU_ASSERT_EQUAL(cookie, ents[19].cookie);
	CU_ASSERT_FALSE(wfs_dirnames_fill(dn, DIR_INO, ticket, 0, ents + 20,
					  10, true, &cookie));
	CU_ASSERT_FALSE(wfs_dirnames_absent(dn, DIR_INO, "f25", &refresh));
	CU_ASSERT_TRUE(wfs_dirnames_absent(dn, DIR_INO, "f35", &refresh));
	CU_ASSERT_FALSE(refresh);
	/* Only final answers count: not the one that asked for a refresh. */
	wfs_dirnames_stats(dn, &st);
	CU_ASSERT_EQUAL(st.hits, 2);
	/* A refresh that fails leaves the list as current as it was. */
	usleep(1100 * 1000);
	CU_ASSERT_TRUE(wfs_dirnames_want(dn, DIR_INO, &cookie, &ticket));
	CU_ASSERT_FALSE(wfs_dirnames_fill(dn, DIR_INO, ticket, -EIO, NULL, 0,
					  false, &cookie));
	CU_ASSERT_TRUE(wfs_dirnames_absent(dn, DIR_INO, "f35", NULL));
	/* Not refreshed for a whole life: it no longer answers, but says a
	 * refresh would, and the next listing goes on from where the last
	 * ended. */
	usleep(1100 * 1000);
	CU_ASSERT_FALSE(wfs_dirnames_absent(dn, DIR_INO, "f35", NULL));
	CU_ASSERT_FALSE(wfs_dirnames_absent(dn, DIR_INO, "f35", &refresh));
	CU_ASSERT_TRUE(refresh);
	CU_ASSERT_FALSE(wfs_dirnames_absent(dn, DIR_INO, "f5", &refresh));
	CU_ASSERT_FALSE(refresh);
	CU_ASSERT_TRUE(wfs_dirnames_want(dn, DIR_INO, &cookie, &ticket));
	CU_ASSERT_EQUAL(cookie, ents[29].cookie);
	CU_ASSERT_FALSE(wfs_dirnames_fill(dn, DIR_INO, ticket, 0, ents + 30,
					  0, true, &cookie));
	CU_ASSERT_TRUE(wfs_dirnames_absent(dn, DIR_INO, "f35", NULL));
	wfs_dirnames_free(dn);
}

static void test_pages_and_errors(void)
{
	struct wfs_dirnames *dn;
	uint64_t cookie, ticket, next = 0;

	make_dir();
	CU_ASSERT_FATAL(wfs_dirnames_new(60000, 1000, &dn) == 0);
	CU_ASSERT_EQUAL(misses_start(dn, DIR_INO, &ticket), 0);
	/* Not the end: list on from the last cookie. */
	CU_ASSERT_TRUE(wfs_dirnames_fill(dn, DIR_INO, ticket, 0, ents, 10,
					 false, &next));
	CU_ASSERT_EQUAL(next, ents[9].cookie);
	CU_ASSERT_FALSE(wfs_dirnames_absent(dn, DIR_INO, "x", NULL));
	/* The next page fails: the listing is over, nothing answers. */
	CU_ASSERT_FALSE(wfs_dirnames_fill(dn, DIR_INO, ticket, -EIO, NULL, 0,
					  false, &next));
	CU_ASSERT_FALSE(wfs_dirnames_absent(dn, DIR_INO, "x", NULL));
	/* A page of a listing that is over is ignored. */
	CU_ASSERT_FALSE(wfs_dirnames_fill(dn, DIR_INO, ticket, 0, ents + 10,
					  30, true, &next));
	CU_ASSERT_FALSE(wfs_dirnames_absent(dn, DIR_INO, "x", NULL));
	/* The next listing goes on from what came. */
	CU_ASSERT_TRUE(wfs_dirnames_want(dn, DIR_INO, &cookie, &ticket));
	CU_ASSERT_EQUAL(cookie, ents[9].cookie);
	/* A page neither ending nor bringing anything ends it too. */
	CU_ASSERT_FALSE(wfs_dirnames_fill(dn, DIR_INO, ticket, 0, ents, 0,
					  false, &next));
	CU_ASSERT_FALSE(wfs_dirnames_absent(dn, DIR_INO, "x", NULL));
	CU_ASSERT_TRUE(wfs_dirnames_want(dn, DIR_INO, &cookie, &ticket));
	CU_ASSERT_TRUE(wfs_dirnames_fill(dn, DIR_INO, ticket, 0, ents + 10,
					 15, false, &next));
	CU_ASSERT_FALSE(wfs_dirnames_fill(dn, DIR_INO, ticket, 0, ents + 25,
					  15, true, &next));
	CU_ASSERT_TRUE(wfs_dirnames_absent(dn, DIR_INO, "x", NULL));
	for (unsigned i = 0; i < NFILES; i++)
		CU_ASSERT_FALSE(wfs_dirnames_absent(dn, DIR_INO, names[i], NULL));
	wfs_dirnames_free(dn);
}

static void test_name_limit(void)
{
	struct wfs_dirnames *dn;
	struct wfs_dirnames_stats st;
	uint64_t cookie, ticket;

	make_dir();
	CU_ASSERT_FATAL(wfs_dirnames_new(60000, 25, &dn) == 0);
	CU_ASSERT_EQUAL(misses_start(dn, DIR_INO, &ticket), 0);
	CU_ASSERT_FALSE(wfs_dirnames_fill(dn, DIR_INO, ticket, 0, ents, 20,
					  true, &cookie));
	CU_ASSERT_TRUE(wfs_dirnames_absent(dn, DIR_INO, "x", NULL));
	/* Names made here past the limit: the list is given up, not kept
	 * short of a name, and not started again for a while. */
	for (unsigned i = 0; i < 6; i++) {
		char name[16];

		snprintf(name, sizeof(name), "new%u", i);
		wfs_dirnames_add(dn, DIR_INO, name);
	}
	CU_ASSERT_FALSE(wfs_dirnames_absent(dn, DIR_INO, "x", NULL));
	CU_ASSERT_FALSE(wfs_dirnames_absent(dn, DIR_INO, "new5", NULL));
	wfs_dirnames_looked_up(dn, DIR_INO, -ENOENT);
	wfs_dirnames_looked_up(dn, DIR_INO, -ENOENT);
	CU_ASSERT_FALSE(wfs_dirnames_want(dn, DIR_INO, &cookie, &ticket));
	wfs_dirnames_stats(dn, &st);
	CU_ASSERT_EQUAL(st.dropped, 1);
	CU_ASSERT_EQUAL(st.names, 0);
	/* A listing too big for the limit ends the same way. */
	CU_ASSERT_EQUAL(misses_start(dn, DIR_INO + 1, &ticket), 0);
	CU_ASSERT_FALSE(wfs_dirnames_fill(dn, DIR_INO + 1, ticket, 0, ents,
					  NFILES, true, &cookie));
	CU_ASSERT_FALSE(wfs_dirnames_absent(dn, DIR_INO + 1, "x", NULL));
	wfs_dirnames_stats(dn, &st);
	CU_ASSERT_EQUAL(st.dropped, 2);
	CU_ASSERT_EQUAL(st.names, 0);
	wfs_dirnames_free(dn);
}

static void test_pause_outlives_slot(void)
{
	struct wfs_dirnames *dn;
	uint64_t cookie, ticket;

	make_dir();
	CU_ASSERT_FATAL(wfs_dirnames_new(60000, 30, &dn) == 0);
	CU_ASSERT_EQUAL(misses_start(dn, DIR_INO, &ticket), 0);
	CU_ASSERT_FALSE(wfs_dirnames_fill(dn, DIR_INO, ticket, 0, ents,
					  NFILES, true, &cookie));
	/* Its slot goes to other directories... */
	for (uint64_t d = 1000; d < 1040; d++)
		wfs_dirnames_looked_up(dn, d, -ENOENT);
	/* ...but the directory is still not listed again. */
	CU_ASSERT_EQUAL(misses_start(dn, DIR_INO, &ticket), UINT64_MAX);
	/* While a small one is. */
	CU_ASSERT_EQUAL(misses_start(dn, DIR_INO + 1, &ticket), 0);
	CU_ASSERT_FALSE(wfs_dirnames_fill(dn, DIR_INO + 1, ticket, 0, ents,
					  5, true, &cookie));
	CU_ASSERT_TRUE(wfs_dirnames_absent(dn, DIR_INO + 1, "x", NULL));
	wfs_dirnames_free(dn);
}

/* Several threads of one client creating names, looking up and listing
 * at once, against a node kept here: a name a thread made must never be
 * answered absent to it afterwards, nor a name the node had all along. */
#define RACE_THREADS 4
#define RACE_ROUNDS 3000
/* Fewer directories than slots (16 in dirnames.c): with more, each slot
 * was taken for another directory before its own missed twice in most
 * runs, and the lists were hardly used (slots reused: "many
 * directories"). */
#define RACE_DIRS 12
#define RACE_PER_DIR (RACE_THREADS * RACE_ROUNDS / RACE_DIRS + 1)

static struct race_node {
	pthread_mutex_t lock;
	uint64_t next_cookie;
	struct {
		unsigned n;
		char names[RACE_PER_DIR][24];
		uint64_t cookies[RACE_PER_DIR];
	} dirs[RACE_DIRS];
} race_node = { .lock = PTHREAD_MUTEX_INITIALIZER };

static struct wfs_dirnames *race_dn;

static void race_create(unsigned d, const char *name)
{
	pthread_mutex_lock(&race_node.lock);
	snprintf(race_node.dirs[d].names[race_node.dirs[d].n], 24, "%s", name);
	race_node.dirs[d].cookies[race_node.dirs[d].n++] =
		++race_node.next_cookie;
	pthread_mutex_unlock(&race_node.lock);
}

/* One page of up to 16 entries after @cookie, as the node lists it. */
static unsigned race_list(unsigned d, uint64_t cookie,
			  struct wfs_dirent *out, char (*names)[24],
			  bool *eof)
{
	unsigned n = 0;

	pthread_mutex_lock(&race_node.lock);
	*eof = true;
	for (unsigned i = 0; i < race_node.dirs[d].n; i++) {
		if (race_node.dirs[d].cookies[i] <= cookie)
			continue;
		if (n == 16) {
			*eof = false;
			break;
		}
		memcpy(names[n], race_node.dirs[d].names[i], 24);
		out[n].name = names[n];
		out[n].cookie = race_node.dirs[d].cookies[i];
		n++;
	}
	pthread_mutex_unlock(&race_node.lock);
	return n;
}

static void *race_thread(void *arg)
{
	unsigned id = (unsigned)(uintptr_t)arg;
	unsigned bad = 0;

	for (unsigned i = 0; i < RACE_ROUNDS; i++) {
		unsigned d = (i * 7 + id) % RACE_DIRS;
		uint64_t dir = DIR_INO + d, cookie, ticket;
		struct wfs_dirent page[16];
		char names[16][24], name[24];
		bool eof;

		wfs_dirnames_looked_up(race_dn, dir, -ENOENT);
		if (wfs_dirnames_want(race_dn, dir, &cookie, &ticket)) {
			unsigned n;

			do
				n = race_list(d, cookie, page, names, &eof);
			while (wfs_dirnames_fill(race_dn, dir, ticket, 0,
						 page, n, eof, &cookie));
		}
		snprintf(name, sizeof(name), "t%u-%u", id, i);
		race_create(d, name);
		wfs_dirnames_add(race_dn, dir, name);
		if (wfs_dirnames_absent(race_dn, dir, name, NULL))
			bad++;
		if (wfs_dirnames_absent(race_dn, dir, "base", NULL))
			bad++;
		/* Absent or not known: either may be said, and the lists
		 * should answer most such lookups (stats: hits). */
		wfs_dirnames_absent(race_dn, dir, "never", NULL);
	}
	return (void *)(uintptr_t)bad;
}

static void test_threads(void)
{
	pthread_t t[RACE_THREADS];
	struct wfs_dirnames_stats st;
	uintptr_t bad = 0;

	for (unsigned d = 0; d < RACE_DIRS; d++)
		race_create(d, "base");
	CU_ASSERT_FATAL(wfs_dirnames_new(60000, 1u << 16, &race_dn) == 0);
	for (uintptr_t i = 0; i < RACE_THREADS; i++)
		CU_ASSERT_FATAL(pthread_create(&t[i], NULL, race_thread,
					       (void *)i) == 0);
	for (unsigned i = 0; i < RACE_THREADS; i++) {
		void *r;

		pthread_join(t[i], &r);
		bad += (uintptr_t)r;
	}
	CU_ASSERT_EQUAL(bad, 0);
	wfs_dirnames_stats(race_dn, &st);
	CU_ASSERT(st.listings >= RACE_DIRS);
	CU_ASSERT(st.hits > 0);
	wfs_dirnames_free(race_dn);
}

static void test_many_dirs(void)
{
	struct wfs_dirnames *dn;
	uint64_t cookie, ticket, first;

	make_dir();
	CU_ASSERT_FATAL(wfs_dirnames_new(60000, 100000, &dn) == 0);
	CU_ASSERT_EQUAL(misses_start(dn, DIR_INO, &first), 0);
	/* Many other directories come and go while DIR_INO's listing is
	 * under way: its slot is not taken from under it. */
	for (uint64_t d = 1000; d < 1040; d++) {
		CU_ASSERT_EQUAL(misses_start(dn, d, &ticket), 0);
		CU_ASSERT_FALSE(wfs_dirnames_fill(dn, d, ticket, 0, ents,
						  NFILES, true, &cookie));
		CU_ASSERT_TRUE(wfs_dirnames_absent(dn, d, "x", NULL));
		CU_ASSERT_FALSE(wfs_dirnames_absent(dn, d, "f7", NULL));
	}
	/* The oldest of them were dropped; DIR_INO's listing lands. */
	CU_ASSERT_FALSE(wfs_dirnames_absent(dn, 1000, "x", NULL));
	CU_ASSERT_TRUE(wfs_dirnames_absent(dn, 1039, "x", NULL));
	CU_ASSERT_FALSE(wfs_dirnames_fill(dn, DIR_INO, first, 0, ents, NFILES,
					  true, &cookie));
	CU_ASSERT_TRUE(wfs_dirnames_absent(dn, DIR_INO, "x", NULL));
	CU_ASSERT_FALSE(wfs_dirnames_absent(dn, DIR_INO, "f7", NULL));
	wfs_dirnames_free(dn);
}

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A list read by a round started after a moment proves absence from
 * then on, whatever its age; one read before does not, until read anew
 * (wfs_dirnames_want_after), and a round under way from before makes the
 * caller wait for it. */
static void test_read_after(void)
{
	struct wfs_dirnames *dn;
	uint64_t cookie, ticket;
	int64_t before, grant;

	make_dir();
	CU_ASSERT_FATAL(wfs_dirnames_new(60000, 1000, &dn) == 0);
	before = mono_ns();
	/* No list: nothing to read anew, nothing proven. */
	CU_ASSERT_EQUAL(wfs_dirnames_want_after(dn, DIR_INO, before, &cookie,
						&ticket), 0);
	CU_ASSERT_EQUAL(misses_start(dn, DIR_INO, &ticket), 0);
	grant = mono_ns();
	/* The round under way started before @grant: wait for it. */
	CU_ASSERT_EQUAL(wfs_dirnames_want_after(dn, DIR_INO, grant, &cookie,
						&ticket), -EBUSY);
	CU_ASSERT_FALSE(wfs_dirnames_fill(dn, DIR_INO, ticket, 0, ents, 10,
					  true, &cookie));
	CU_ASSERT_TRUE(wfs_dirnames_absent_after(dn, DIR_INO, "x", before));
	CU_ASSERT_FALSE(wfs_dirnames_absent_after(dn, DIR_INO, "x", grant));
	CU_ASSERT_FALSE(wfs_dirnames_absent_after(dn, DIR_INO, "f1", before));
	/* Read anew, from the last cookie, whatever the list's age. */
	CU_ASSERT_EQUAL(wfs_dirnames_want_after(dn, DIR_INO, grant, &cookie,
						&ticket), 1);
	CU_ASSERT_EQUAL(cookie, ents[9].cookie);
	CU_ASSERT_EQUAL(wfs_dirnames_want_after(dn, DIR_INO, grant, &cookie,
						&ticket), 0);
	CU_ASSERT_FALSE(wfs_dirnames_absent_after(dn, DIR_INO, "x", grant));
	CU_ASSERT_FALSE(wfs_dirnames_fill(dn, DIR_INO, ticket, 0, ents + 10,
					  5, true, &cookie));
	CU_ASSERT_TRUE(wfs_dirnames_absent_after(dn, DIR_INO, "x", grant));
	CU_ASSERT_FALSE(wfs_dirnames_absent_after(dn, DIR_INO, "f12", grant));
	CU_ASSERT_FALSE(wfs_dirnames_absent_after(dn, DIR_INO, "..", grant));
	wfs_dirnames_add(dn, DIR_INO, "x");
	CU_ASSERT_FALSE(wfs_dirnames_absent_after(dn, DIR_INO, "x", grant));
	/* Nothing more to read for that moment; another directory has no
	 * list. */
	CU_ASSERT_EQUAL(wfs_dirnames_want_after(dn, DIR_INO, grant, &cookie,
						&ticket), 0);
	CU_ASSERT_FALSE(wfs_dirnames_absent_after(dn, DIR_INO + 1, "x",
						  before));
	wfs_dirnames_free(dn);
}

static void test_bad_args(void)
{
	struct wfs_dirnames *dn = (void *)1;

	CU_ASSERT_EQUAL(wfs_dirnames_new(0, 10, &dn), -EINVAL);
	CU_ASSERT_PTR_NULL(dn);
	CU_ASSERT_EQUAL(wfs_dirnames_new(10, 0, &dn), -EINVAL);
	wfs_dirnames_free(NULL);
}

static CU_TestInfo dirnames_tests[] = {
	{ "a first list after misses", test_first_list },
	{ "names made here", test_own_names },
	{ "refresh and expiry", test_refresh_and_expiry },
	{ "pages and errors", test_pages_and_errors },
	{ "the name limit", test_name_limit },
	{ "a too big directory stays paused", test_pause_outlives_slot },
	{ "many directories", test_many_dirs },
	{ "threads", test_threads },
	{ "a list read after a moment", test_read_after },
	{ "bad arguments", test_bad_args },
	CU_TEST_INFO_NULL,
};
WFS_TEST_SUITE("client_dirnames", dirnames_tests, NULL, NULL)
