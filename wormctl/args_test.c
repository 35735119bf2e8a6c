/* Unit tests for wormctl/args: options anywhere, defaults, usage errors. */
#include "wormctl/args.h"

#include <errno.h>
#include <string.h>

#include "tests/unit.h"

/* Parse the NULL-terminated list @words (getopt wants writable strings
 * and may reorder the array, so both are copied). */
struct parsed {
	char store[16][64];
	char *argv[17];
	struct wfs_ctl_args a;
	char err[128];
	int rc;
};

static void parse(struct parsed *p, const char *env, const char **words)
{
	int argc = 0;

	memset(p, 0, sizeof(*p));
	for (; words[argc]; argc++) {
		strcpy(p->store[argc], words[argc]);
		p->argv[argc] = p->store[argc];
	}
	p->rc = wfs_ctl_args_parse(argc, p->argv, env, &p->a, p->err,
				   sizeof(p->err));
}

static void test_defaults(void)
{
	struct parsed p;

	parse(&p, NULL, (const char *[]){ "wormctl", "status", NULL });
	CU_ASSERT_EQUAL_FATAL(p.rc, 0);
	CU_ASSERT_STRING_EQUAL(p.a.nodes, WFS_CTL_DEFAULT_NODES);
	CU_ASSERT_STRING_EQUAL(p.a.cmd, "status");
	CU_ASSERT_EQUAL(p.a.nargs, 0);
	CU_ASSERT_FALSE(p.a.json);
	CU_ASSERT_FALSE(p.a.help);
	CU_ASSERT_EQUAL(p.a.opts, 0);
	CU_ASSERT_EQUAL(p.a.timeout_s, WFS_CTL_DEFAULT_TIMEOUT);

	parse(&p, "", (const char *[]){ "wormctl", NULL });
	CU_ASSERT_EQUAL(p.rc, 0);
	CU_ASSERT_PTR_NULL(p.a.cmd);
	CU_ASSERT_STRING_EQUAL(p.a.nodes, WFS_CTL_DEFAULT_NODES);
}

static void test_nodes(void)
{
	struct parsed p;

	parse(&p, "10.0.0.1:7700", (const char *[]){ "wormctl", "df", NULL });
	CU_ASSERT_EQUAL(p.rc, 0);
	CU_ASSERT_STRING_EQUAL(p.a.nodes, "10.0.0.1:7700");
	/* --node wins over the environment, in both spellings. */
	parse(&p, "10.0.0.1:7700", (const char *[]){ "wormctl", "--node",
		"h:1,h:2", "df", NULL });
	CU_ASSERT_STRING_EQUAL(p.a.nodes, "h:1,h:2");
	parse(&p, NULL, (const char *[]){ "wormctl", "--node=h:3", "df",
		NULL });
	CU_ASSERT_STRING_EQUAL(p.a.nodes, "h:3");
	parse(&p, NULL, (const char *[]){ "wormctl", "-n", "h:4", "df", NULL });
	CU_ASSERT_STRING_EQUAL(p.a.nodes, "h:4");
	parse(&p, NULL, (const char *[]){ "wormctl", "--node=", "df", NULL });
	CU_ASSERT_EQUAL(p.rc, -EINVAL);
}

static void test_anywhere(void)
{
	struct parsed p;

	/* Options after the command and between its arguments. */
	parse(&p, NULL, (const char *[]){ "wormctl", "ls", "-l", "/a",
		"--json", NULL });
	CU_ASSERT_EQUAL_FATAL(p.rc, 0);
	CU_ASSERT_STRING_EQUAL(p.a.cmd, "ls");
	CU_ASSERT_EQUAL_FATAL(p.a.nargs, 1);
	CU_ASSERT_STRING_EQUAL(p.a.args[0], "/a");
	CU_ASSERT_EQUAL(p.a.opts, WFS_CTL_OPT_LONG);
	CU_ASSERT_TRUE(p.a.json);

	/* Bundled letters; "-" is an argument. */
	parse(&p, NULL, (const char *[]){ "wormctl", "put", "-fv", "-", "/x",
		NULL });
	CU_ASSERT_EQUAL_FATAL(p.rc, 0);
	CU_ASSERT_EQUAL(p.a.opts, WFS_CTL_OPT_FORCE | WFS_CTL_OPT_VERBOSE);
	CU_ASSERT_EQUAL_FATAL(p.a.nargs, 2);
	CU_ASSERT_STRING_EQUAL(p.a.args[0], "-");
	CU_ASSERT_STRING_EQUAL(p.a.args[1], "/x");

	/* "--" ends options: a path may start with '-'. */
	parse(&p, NULL, (const char *[]){ "wormctl", "get", "--", "-odd",
		"out", NULL });
	CU_ASSERT_EQUAL_FATAL(p.rc, 0);
	CU_ASSERT_EQUAL_FATAL(p.a.nargs, 2);
	CU_ASSERT_STRING_EQUAL(p.a.args[0], "-odd");
	CU_ASSERT_EQUAL(p.a.opts, 0);

	parse(&p, NULL, (const char *[]){ "wormctl", "help", "ls", "-h",
		NULL });
	CU_ASSERT_EQUAL(p.rc, 0);
	CU_ASSERT_TRUE(p.a.help);
	CU_ASSERT_EQUAL(p.a.nargs, 1);
}

static void test_timeout(void)
{
	struct parsed p;

	parse(&p, NULL, (const char *[]){ "wormctl", "-t", "3", "status",
		NULL });
	CU_ASSERT_EQUAL(p.rc, 0);
	CU_ASSERT_EQUAL(p.a.timeout_s, 3);
	parse(&p, NULL, (const char *[]){ "wormctl", "--timeout", "0",
		"status", NULL });
	CU_ASSERT_EQUAL(p.rc, -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(p.err, "--timeout"));
	parse(&p, NULL, (const char *[]){ "wormctl", "--timeout=5s",
		"status", NULL });
	CU_ASSERT_EQUAL(p.rc, -EINVAL);
	parse(&p, NULL, (const char *[]){ "wormctl", "--timeout=86401",
		"status", NULL });
	CU_ASSERT_EQUAL(p.rc, -EINVAL);
}

static void test_errors(void)
{
	struct parsed p;

	parse(&p, NULL, (const char *[]){ "wormctl", "ls", "-x", NULL });
	CU_ASSERT_EQUAL(p.rc, -EINVAL);
	CU_ASSERT_STRING_EQUAL(p.err, "unknown option -x");
	parse(&p, NULL, (const char *[]){ "wormctl", "--bogus", "ls", NULL });
	CU_ASSERT_EQUAL(p.rc, -EINVAL);
	CU_ASSERT_STRING_EQUAL(p.err, "unknown option --bogus");
	parse(&p, NULL, (const char *[]){ "wormctl", "status", "--node",
		NULL });
	CU_ASSERT_EQUAL(p.rc, -EINVAL);
	CU_ASSERT_STRING_EQUAL(p.err, "option --node needs a value");
	parse(&p, NULL, (const char *[]){ "wormctl", "status", "-n", NULL });
	CU_ASSERT_EQUAL(p.rc, -EINVAL);
	CU_ASSERT_STRING_EQUAL(p.err, "option -n needs a value");
	/* A later, good parse starts afresh after a failed one. */
	parse(&p, NULL, (const char *[]){ "wormctl", "-l", "ls", NULL });
	CU_ASSERT_EQUAL(p.rc, 0);
	CU_ASSERT_EQUAL(p.a.opts, WFS_CTL_OPT_LONG);
}

static void test_letters(void)
{
	CU_ASSERT_EQUAL(wfs_ctl_args_letter(WFS_CTL_OPT_LONG), 'l');
	CU_ASSERT_EQUAL(wfs_ctl_args_letter(WFS_CTL_OPT_FORCE), 'f');
	CU_ASSERT_EQUAL(wfs_ctl_args_letter(WFS_CTL_OPT_VERBOSE), 'v');
}

static CU_TestInfo args_tests[] = {
	{ "defaults", test_defaults },
	{ "node list", test_nodes },
	{ "options anywhere", test_anywhere },
	{ "timeout", test_timeout },
	{ "usage errors", test_errors },
	{ "option letters", test_letters },
	CU_TEST_INFO_NULL,
};
WFS_TEST_SUITE("wormctl args", args_tests, NULL, NULL)
