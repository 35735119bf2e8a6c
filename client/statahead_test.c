/* Unit tests for client/statahead: when a directory is read ahead, what
 * lookups it answers and for whom, what changes made through the client
 * forget, pages racing with changes, expiry, the entry limit, and giving
 * up on lookups that do not follow the listing. */
#include "client/statahead_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "mem/mem.h"
#include "tests/unit.h"

#define DIR_INO 10
#define NFILES 40

static char names[NFILES][16];
static struct wfs_attr attrs[NFILES];
static struct wfs_dirent ents[NFILES];

/* The directory DIR_INO: f0..f39, inodes 100.., cookies 3.. */
static void make_dir(void)
{
	for (unsigned i = 0; i < NFILES; i++) {
		snprintf(names[i], sizeof(names[i]), "f%u", i);
		memset(&attrs[i], 0, sizeof(attrs[i]));
		attrs[i].ino = 100 + i;
		attrs[i].mode = 0100644;
		attrs[i].nlink = 1;
		attrs[i].size = i;
		ents[i].name = names[i];
		ents[i].ino = attrs[i].ino;
		ents[i].mode = attrs[i].mode;
		ents[i].cookie = 3 + i;
		ents[i].attr = &attrs[i];
	}
}

static const struct wfs_cred alice = { .uid = 1000, .gid = 1000 };
static const struct wfs_cred bob = { .uid = 1001, .gid = 1000 };

/* Two lookups that went to the node, then a want: the read-ahead starts.
 * Returns the cookie asked for, or UINT64_MAX if none was. */
static uint64_t walk_start(struct wfs_statahead *sa,
			   const struct wfs_cred *who, uint64_t *ticket)
{
	uint64_t cookie;

	wfs_statahead_looked_up(sa, who, DIR_INO, 0);
	wfs_statahead_looked_up(sa, who, DIR_INO, 0);
	if (!wfs_statahead_want(sa, who, DIR_INO, &cookie, ticket))
		return UINT64_MAX;
	return cookie;
}

static void test_walk(void)
{
	struct wfs_statahead *sa;
	struct wfs_statahead_stats st;
	struct wfs_attr a;
	uint64_t cookie, ticket;

	make_dir();
	CU_ASSERT_FATAL(wfs_statahead_new(60000, 1000, &sa) == 0);
	/* Nothing cached; one lookup is not a walk. */
	CU_ASSERT_FALSE(wfs_statahead_find(sa, &alice, DIR_INO, "f0", &a));
	CU_ASSERT_FALSE(wfs_statahead_want(sa, &alice, DIR_INO, &cookie,
					   &ticket));
	wfs_statahead_looked_up(sa, &alice, DIR_INO, 0);
	CU_ASSERT_FALSE(wfs_statahead_want(sa, &alice, DIR_INO, &cookie,
					   &ticket));
	wfs_statahead_looked_up(sa, &alice, DIR_INO, 0);
	CU_ASSERT_TRUE(wfs_statahead_want(sa, &alice, DIR_INO, &cookie,
					  &ticket));
	CU_ASSERT_EQUAL(cookie, 0);
	/* One fetch at a time. */
	CU_ASSERT_FALSE(wfs_statahead_want(sa, &alice, DIR_INO, &cookie,
					   &ticket));
	wfs_statahead_fill(sa, &alice, DIR_INO, ticket, 0, ents, 20, false);
	for (unsigned i = 2; i < 20; i++) {
		memset(&a, 0, sizeof(a));
		CU_ASSERT_TRUE(wfs_statahead_find(sa, &alice, DIR_INO,
						  names[i], &a));
		CU_ASSERT_EQUAL(a.ino, 100 + i);
		CU_ASSERT_EQUAL(a.size, i);
	}
	/* Past the page: the next one, from where it ended. */
	CU_ASSERT_FALSE(wfs_statahead_find(sa, &alice, DIR_INO, "f20", &a));
	CU_ASSERT_TRUE(wfs_statahead_want(sa, &alice, DIR_INO, &cookie,
					  &ticket));
	CU_ASSERT_EQUAL(cookie, ents[19].cookie);
	wfs_statahead_fill(sa, &alice, DIR_INO, ticket, 0, ents + 20, 20,
			   true);
	CU_ASSERT_TRUE(wfs_statahead_find(sa, &alice, DIR_INO, "f39", &a));
	CU_ASSERT_EQUAL(a.ino, 139);
	/* Not another directory's, not another caller's. */
	CU_ASSERT_FALSE(wfs_statahead_find(sa, &alice, DIR_INO + 1, "f3", &a));
	CU_ASSERT_FALSE(wfs_statahead_find(sa, &bob, DIR_INO, "f3", &a));
	wfs_statahead_stats(sa, &st);
	CU_ASSERT_EQUAL(st.fetches, 2);
	CU_ASSERT_EQUAL(st.entries, 40);
	CU_ASSERT_EQUAL(st.hits, 19);
	/* At the end of the listing, the next walk starts over. */
	CU_ASSERT_TRUE(wfs_statahead_want(sa, &alice, DIR_INO, &cookie,
					  &ticket));
	CU_ASSERT_EQUAL(cookie, 0);
	wfs_statahead_fill(sa, &alice, DIR_INO, ticket, -EIO, NULL, 0, false);
	wfs_statahead_free(sa);
}

static void test_groups_matter(void)
{
	struct wfs_cred g1 = alice, g2 = alice;
	struct wfs_statahead *sa;
	struct wfs_attr a;
	uint64_t ticket;

	make_dir();
	g1.ngroups = 1;
	g1.groups[0] = 50;
	g2.ngroups = 1;
	g2.groups[0] = 51;
	CU_ASSERT_FATAL(wfs_statahead_new(60000, 1000, &sa) == 0);
	CU_ASSERT_EQUAL(walk_start(sa, &g1, &ticket), 0);
	wfs_statahead_fill(sa, &g1, DIR_INO, ticket, 0, ents, NFILES, true);
	CU_ASSERT_TRUE(wfs_statahead_find(sa, &g1, DIR_INO, "f1", &a));
	CU_ASSERT_FALSE(wfs_statahead_find(sa, &g2, DIR_INO, "f1", &a));
	CU_ASSERT_FALSE(wfs_statahead_find(sa, &alice, DIR_INO, "f1", &a));
	wfs_statahead_free(sa);
}

static void test_forget(void)
{
	struct wfs_statahead *sa;
	struct wfs_attr a;
	struct wfs_dirent link;
	uint64_t cookie, ticket;

	make_dir();
	/* f5's inode has a second name, "g5" */
	link = ents[5];
	link.name = "g5";
	link.cookie = 100;
	CU_ASSERT_FATAL(wfs_statahead_new(60000, 1000, &sa) == 0);
	CU_ASSERT_EQUAL(walk_start(sa, &alice, &ticket), 0);
	wfs_statahead_fill(sa, &alice, DIR_INO, ticket, 0, ents, NFILES,
			   false);
	CU_ASSERT_TRUE(wfs_statahead_find(sa, &alice, DIR_INO, "f1", &a));
	CU_ASSERT_TRUE(wfs_statahead_want(sa, &alice, DIR_INO, &cookie,
					  &ticket));
	CU_ASSERT_EQUAL(cookie, ents[NFILES - 1].cookie);
	wfs_statahead_fill(sa, &alice, DIR_INO, ticket, 0, &link, 1, true);
	CU_ASSERT_TRUE(wfs_statahead_find(sa, &alice, DIR_INO, "g5", &a));

	/* Unlinking f5 forgets it and its other name (link count). */
	wfs_statahead_forget_name(sa, DIR_INO, "f5");
	CU_ASSERT_FALSE(wfs_statahead_find(sa, &alice, DIR_INO, "f5", &a));
	CU_ASSERT_FALSE(wfs_statahead_find(sa, &alice, DIR_INO, "g5", &a));
	CU_ASSERT_TRUE(wfs_statahead_find(sa, &alice, DIR_INO, "f6", &a));
	/* A write or chmod of f7's inode. */
	wfs_statahead_forget_ino(sa, 107);
	CU_ASSERT_FALSE(wfs_statahead_find(sa, &alice, DIR_INO, "f7", &a));
	CU_ASSERT_TRUE(wfs_statahead_find(sa, &alice, DIR_INO, "f8", &a));
	/* A name made that was not cached: nothing else goes. */
	wfs_statahead_forget_name(sa, DIR_INO, "new");
	CU_ASSERT_TRUE(wfs_statahead_find(sa, &alice, DIR_INO, "f8", &a));
	wfs_statahead_free(sa);
}

/* A page asked for before a change and arriving after it may hold what
 * the change undid: it files none of the entries the change names, and
 * past what the client remembers of changes, nothing. */
static void test_page_races_change(void)
{
	struct wfs_statahead *sa;
	struct wfs_statahead_stats st;
	struct wfs_attr a;
	uint64_t cookie, ticket;

	make_dir();
	CU_ASSERT_FATAL(wfs_statahead_new(60000, 1000, &sa) == 0);
	CU_ASSERT_EQUAL(walk_start(sa, &alice, &ticket), 0);
	wfs_statahead_forget_name(sa, DIR_INO, "f3");	/* unlinked meanwhile */
	wfs_statahead_forget_ino(sa, 105);		/* f5 chmod'ed */
	wfs_statahead_forget_name(sa, DIR_INO + 1, "f7"); /* elsewhere */
	wfs_statahead_fill(sa, &alice, DIR_INO, ticket, 0, ents, NFILES,
			   false);
	CU_ASSERT_FALSE(wfs_statahead_find(sa, &alice, DIR_INO, "f3", &a));
	CU_ASSERT_FALSE(wfs_statahead_find(sa, &alice, DIR_INO, "f5", &a));
	CU_ASSERT_TRUE(wfs_statahead_find(sa, &alice, DIR_INO, "f4", &a));
	CU_ASSERT_TRUE(wfs_statahead_find(sa, &alice, DIR_INO, "f7", &a));
	wfs_statahead_stats(sa, &st);
	CU_ASSERT_EQUAL(st.dropped_pages, 0);
	CU_ASSERT_EQUAL(st.entries, NFILES - 2);

	/* More changes during a fetch than are remembered: the page is
	 * dropped, and counts as one that answered nothing. */
	CU_ASSERT_TRUE(wfs_statahead_want(sa, &alice, DIR_INO, &cookie,
					  &ticket));
	for (uint64_t i = 0; i < 1000; i++)
		wfs_statahead_forget_ino(sa, 5000 + i);
	wfs_statahead_fill(sa, &alice, DIR_INO, ticket, 0, ents + 10, 5,
			   false);
	wfs_statahead_stats(sa, &st);
	CU_ASSERT_EQUAL(st.dropped_pages, 1);
	CU_ASSERT_TRUE(wfs_statahead_want(sa, &alice, DIR_INO, &cookie,
					  &ticket));
	wfs_statahead_fill(sa, &alice, DIR_INO, ticket, 0, NULL, 0,
			   false);
	/* A second fruitless page: the walk pauses, however busy the
	 * mount is. */
	for (uint64_t i = 0; i < 1000; i++)
		wfs_statahead_forget_ino(sa, 9000 + i);
	CU_ASSERT_FALSE(wfs_statahead_want(sa, &alice, DIR_INO, &cookie,
					   &ticket));
	wfs_statahead_stats(sa, &st);
	CU_ASSERT_EQUAL(st.useless, 2);
	wfs_statahead_free(sa);
}

/* A change to a directory's attributes (a chmod) asks the node again
 * before its listing is read ahead once more. */
static void test_dir_change_restarts(void)
{
	struct wfs_statahead *sa;
	uint64_t cookie, ticket;

	make_dir();
	CU_ASSERT_FATAL(wfs_statahead_new(60000, 1000, &sa) == 0);
	CU_ASSERT_EQUAL(walk_start(sa, &alice, &ticket), 0);
	wfs_statahead_fill(sa, &alice, DIR_INO, ticket, 0, ents, 10, false);
	wfs_statahead_forget_ino(sa, DIR_INO);
	CU_ASSERT_FALSE(wfs_statahead_want(sa, &alice, DIR_INO, &cookie,
					   &ticket));
	wfs_statahead_looked_up(sa, &alice, DIR_INO, 0);
	wfs_statahead_looked_up(sa, &alice, DIR_INO, 0);
	CU_ASSERT_TRUE(wfs_statahead_want(sa, &alice, DIR_INO, &cookie,
					  &ticket));
	wfs_statahead_fill(sa, &alice, DIR_INO, ticket, -EIO, NULL, 0, false);
	wfs_statahead_free(sa);
}

static void test_expiry_and_limit(void)
{
	struct wfs_statahead *sa;
	struct wfs_statahead_stats st;
	struct wfs_attr a;
	uint64_t ticket;

	make_dir();
	CU_ASSERT_FATAL(wfs_statahead_new(20, 1000, &sa) == 0);
	CU_ASSERT_EQUAL(walk_start(sa, &alice, &ticket), 0);
	wfs_statahead_fill(sa, &alice, DIR_INO, ticket, 0, ents, NFILES,
			   true);
	CU_ASSERT_TRUE(wfs_statahead_find(sa, &alice, DIR_INO, "f9", &a));
	usleep(50 * 1000);	/* well past the 20 ms */
	CU_ASSERT_FALSE(wfs_statahead_find(sa, &alice, DIR_INO, "f9", &a));
	wfs_statahead_free(sa);

	/* At most 16 entries: the oldest go. */
	CU_ASSERT_FATAL(wfs_statahead_new(60000, 16, &sa) == 0);
	CU_ASSERT_EQUAL(walk_start(sa, &alice, &ticket), 0);
	wfs_statahead_fill(sa, &alice, DIR_INO, ticket, 0, ents, NFILES,
			   true);
	wfs_statahead_stats(sa, &st);
	CU_ASSERT_EQUAL(st.entries, 16);
	CU_ASSERT_FALSE(wfs_statahead_find(sa, &alice, DIR_INO, "f0", &a));
	CU_ASSERT_FALSE(wfs_statahead_find(sa, &alice, DIR_INO, "f23", &a));
	CU_ASSERT_TRUE(wfs_statahead_find(sa, &alice, DIR_INO, "f24", &a));
	CU_ASSERT_TRUE(wfs_statahead_find(sa, &alice, DIR_INO, "f39", &a));
	wfs_statahead_free(sa);

	CU_ASSERT_EQUAL(wfs_statahead_new(0, 16, &sa), -EINVAL);
	CU_ASSERT_EQUAL(wfs_statahead_new(10, 0, &sa), -EINVAL);
}

/* Lookups that do not follow the listing, or that find nothing: after two
 * fruitless pages the directory is left alone. */
static void test_gives_up(void)
{
	struct wfs_statahead *sa;
	struct wfs_statahead_stats st;
	uint64_t cookie, ticket;

	make_dir();
	CU_ASSERT_FATAL(wfs_statahead_new(60000, 1000, &sa) == 0);
	CU_ASSERT_EQUAL(walk_start(sa, &alice, &ticket), 0);
	wfs_statahead_fill(sa, &alice, DIR_INO, ticket, 0, ents, 10, false);
	/* looked-up names are never in the pages */
	wfs_statahead_looked_up(sa, &alice, DIR_INO, 0);
	CU_ASSERT_TRUE(wfs_statahead_want(sa, &alice, DIR_INO, &cookie,
					  &ticket));
	wfs_statahead_fill(sa, &alice, DIR_INO, ticket, 0, ents + 10, 10,
			   false);
	wfs_statahead_looked_up(sa, &alice, DIR_INO, 0);
	CU_ASSERT_FALSE(wfs_statahead_want(sa, &alice, DIR_INO, &cookie,
					   &ticket));
	/* and stays quiet although lookups go on */
	wfs_statahead_looked_up(sa, &alice, DIR_INO, 0);
	wfs_statahead_looked_up(sa, &alice, DIR_INO, 0);
	wfs_statahead_looked_up(sa, &alice, DIR_INO, 0);
	CU_ASSERT_FALSE(wfs_statahead_want(sa, &alice, DIR_INO, &cookie,
					   &ticket));
	wfs_statahead_stats(sa, &st);
	CU_ASSERT_EQUAL(st.useless, 2);
	CU_ASSERT_EQUAL(st.fetches, 2);

	/* Probing for names that are not there is no walk. */
	for (int i = 0; i < 5; i++)
		wfs_statahead_looked_up(sa, &bob, DIR_INO, -ENOENT);
	CU_ASSERT_FALSE(wfs_statahead_want(sa, &bob, DIR_INO, &cookie,
					   &ticket));
	/* A listing this caller may not read: plain lookups. */
	CU_ASSERT_EQUAL(walk_start(sa, &bob, &ticket), 0);
	wfs_statahead_fill(sa, &bob, DIR_INO, ticket, -EACCES, NULL, 0,
			   false);
	wfs_statahead_looked_up(sa, &bob, DIR_INO, 0);
	CU_ASSERT_FALSE(wfs_statahead_want(sa, &bob, DIR_INO, &cookie,
					   &ticket));
	wfs_statahead_free(sa);
}

/* Many directories and callers at once: trackers are reused, and a page
 * whose tracker was reused meanwhile is still filed correctly. */
static void test_many_dirs(void)
{
	struct wfs_statahead *sa;
	struct wfs_attr a;
	uint64_t cookie, ticket, first;

	make_dir();
	CU_ASSERT_FATAL(wfs_statahead_new(60000, 4096, &sa) == 0);
	CU_ASSERT_EQUAL(walk_start(sa, &alice, &first), 0);
	for (uint64_t d = 1000; d < 1040; d++) {
		wfs_statahead_looked_up(sa, &bob, d, 0);
		wfs_statahead_looked_up(sa, &bob, d, 0);
		if (wfs_statahead_want(sa, &bob, d, &cookie, &ticket))
			wfs_statahead_fill(sa, &bob, d, ticket, 0, ents,
					   NFILES, true);
		CU_ASSERT_TRUE(wfs_statahead_find(sa, &bob, d, "f7", &a));
	}
	/* alice's fetch was under way all along */
	wfs_statahead_fill(sa, &alice, DIR_INO, first, 0, ents, NFILES, true);
	CU_ASSERT_TRUE(wfs_statahead_find(sa, &alice, DIR_INO, "f7", &a));
	wfs_statahead_free(sa);
}

static CU_TestInfo statahead_tests[] = {
	{ "a walk reads ahead", test_walk },
	{ "entries are per caller", test_groups_matter },
	{ "changes forget entries", test_forget },
	{ "a page racing changes", test_page_races_change },
	{ "a directory's change restarts", test_dir_change_restarts },
	{ "expiry and the entry limit", test_expiry_and_limit },
	{ "gives up on no walk", test_gives_up },
	{ "many directories", test_many_dirs },
	CU_TEST_INFO_NULL,
};
WFS_TEST_SUITE("client_statahead", statahead_tests, NULL, NULL)
