/* test_maildir_name.c: Maildir file names, flag letters and folder names */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <posta/posta.h>

#include "maildir_name.h"

static void
test_flags_parse(void **state)
{
	uint32_t flags, kw;

	md_name_flags("123.M4P5.host,S=10:2,FRS", &flags, &kw);
	assert_int_equal(flags, POSTA_FLAG_FLAGGED | POSTA_FLAG_ANSWERED |
	    POSTA_FLAG_SEEN);
	assert_int_equal(kw, 0);
	md_name_flags("123.host:2,DTacz", &flags, &kw);
	assert_int_equal(flags, POSTA_FLAG_DRAFT | POSTA_FLAG_DELETED);
	assert_int_equal(kw, 1u | 4u | 1u << 25);
	/* no info, an info of another version, flags after a second comma */
	md_name_flags("123.host", &flags, &kw);
	assert_int_equal(flags | kw, 0);
	md_name_flags("123.host:1,S", &flags, &kw);
	assert_int_equal(flags | kw, 0);
	md_name_flags("123.host:2,S,XT", &flags, &kw);
	assert_int_equal(flags, POSTA_FLAG_SEEN);
	assert_int_equal(md_name_base_len("123.host:2,S"), 8);
	assert_int_equal(md_name_base_len("123.host"), 8);
}

static void
test_flags_build(void **state)
{
	char out[MD_NAME_MAX + 1];

	assert_int_equal(md_name_set_flags("1.a,S=3", POSTA_FLAG_SEEN |
	    POSTA_FLAG_DRAFT | POSTA_FLAG_DELETED, 1u << 1 | 1u, out,
	    sizeof(out)), strlen("1.a,S=3:2,DSTab"));
	assert_string_equal(out, "1.a,S=3:2,DSTab");
	/* other programs' letters and trailing fields survive */
	md_name_set_flags("1.a:2,PS,xyz", POSTA_FLAG_FLAGGED, 0, out,
	    sizeof(out));
	assert_string_equal(out, "1.a:2,FP,xyz");
	md_name_set_flags("1.a:2,S", 0, 0, out, sizeof(out));
	assert_string_equal(out, "1.a:2,");
	/* every flag and keyword letter round-trips */
	{
		uint32_t f, k, all = POSTA_FLAGS_STORED, kw = 0x3ffffff;

		md_name_set_flags("9.h", all, kw, out, sizeof(out));
		md_name_flags(out, &f, &k);
		assert_int_equal(f, all);
		assert_int_equal(k, kw);
	}
	assert_int_equal(md_name_set_flags("1.a", POSTA_FLAG_SEEN, 0, out, 6),
	    -ENAMETOOLONG);
	assert_string_equal(out, "");
}

static void
test_unique(void **state)
{
	char out[MD_NAME_MAX + 1];
	uint64_t v, sec;
	uint32_t usec;

	assert_true(md_name_unique(out, sizeof(out), 1700000000, 42, 99, 7,
	    "mx/1:x", 1234) > 0);
	assert_string_equal(out,
	    "1700000000.M42P99Q7.mx\\0571\\072x,S=1234,W=1234");
	assert_true(md_name_size(out, 'S', &v));
	assert_int_equal(v, 1234);
	assert_true(md_name_size(out, 'W', &v));
	assert_int_equal(v, 1234);
	assert_false(md_name_size("1.a,S=x", 'S', &v));
	assert_false(md_name_size("1.a:2,S=5", 'S', &v));
	assert_true(md_name_size("1.a,W=5:2,S", 'W', &v));
	assert_int_equal(v, 5);
	md_name_arrival(out, &sec, &usec);
	assert_int_equal(sec, 1700000000);
	assert_int_equal(usec, 42);
	md_name_arrival("1035478339.27041_118.foo.org", &sec, &usec);
	assert_int_equal(sec, 1035478339);
	assert_int_equal(usec, 0);
	md_name_arrival("garbage", &sec, &usec);
	assert_int_equal(sec, 0);
	assert_true(md_name_unique(out, sizeof(out), 1, 0, 1, 1, "h",
	    UINT64_MAX) > 0);
	assert_string_equal(out, "1.M0P1Q1.h");
	assert_int_equal(md_name_unique(out, 8, 1, 0, 1, 1, "h", 5),
	    -ENAMETOOLONG);
}

static void
test_mailbox_names(void **state)
{
	char out[512];
	static const char *const bad[] = {
		"", ".", "a.", ".a", "a..b", "a/b", "a*", "a%b", "a\tb",
		"a\x7f", "a\xc2\x85", "\xff", "\xc0\xaf", "\xed\xa0\x80",
		"a\nb",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		assert_int_equal(md_mailbox_canon(bad[i], out, sizeof(out)),
		    POSTA_ENAME);
	memset(out, 'x', 300);
	out[MD_MAILBOX_MAX + 1] = '\0';
	assert_int_equal(md_mailbox_canon(out, out + 300, 200), POSTA_ENAME);
	assert_int_equal(md_mailbox_canon("inbox", out, sizeof(out)), 5);
	assert_string_equal(out, "INBOX");
	assert_true(md_mailbox_is_inbox(out));
	md_mailbox_canon("Inbox.Sub", out, sizeof(out));
	assert_string_equal(out, "INBOX.Sub");
	md_mailbox_canon("InboxX", out, sizeof(out));
	assert_string_equal(out, "InboxX");
	md_mailbox_canon("Entwürfe.日本語", out, sizeof(out));
	assert_string_equal(out, "Entwürfe.日本語");
}

static void
test_mutf7(void **state)
{
	char out[256];
	static const struct {
		const char *utf8, *mutf7;
	} v[] = {
		{ "Entwürfe", "Entw&APw-rfe" },
		{ "~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-" },
		{ "a&b", "a&-b" },
		{ "😀", "&2D3eAA-" },
		{ "plain", "plain" },
	};
	static const char *const bad[] = {
		"&", "&AGE-", "&U,BTF-", "&2D0-", "&3gA-", "a\x01", "&Jjo!-",
		"&AOQ", "\xc3\xa4",
	};
	size_t i;

	for (i = 0; i < sizeof(v) / sizeof(*v); i++) {
		assert_int_equal(md_mutf7_encode(v[i].utf8, out, sizeof(out)),
		    strlen(v[i].mutf7));
		assert_string_equal(out, v[i].mutf7);
		assert_int_equal(md_mutf7_decode(v[i].mutf7, out, sizeof(out)),
		    strlen(v[i].utf8));
		assert_string_equal(out, v[i].utf8);
	}
	for (i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		assert_int_equal(md_mutf7_decode(bad[i], out, sizeof(out)),
		    POSTA_ENAME);
	assert_int_equal(md_mutf7_encode("\xff", out, sizeof(out)),
	    POSTA_ENAME);
	assert_int_equal(md_mutf7_encode("日本語", out, 4), -ENAMETOOLONG);
}

static void
test_dirs(void **state)
{
	char out[300];

	assert_int_equal(md_mailbox_dir("INBOX", out, sizeof(out)), 0);
	assert_string_equal(out, "");
	md_mailbox_dir("Sent", out, sizeof(out));
	assert_string_equal(out, ".Sent");
	md_mailbox_dir("Lists.Entwürfe", out, sizeof(out));
	assert_string_equal(out, ".Lists.Entw&APw-rfe");
	md_mailbox_dir("INBOX.x", out, sizeof(out));
	assert_string_equal(out, ".INBOX.x");
	assert_true(md_mailbox_from_dir(".Lists.Entw&APw-rfe", out,
	    sizeof(out)) > 0);
	assert_string_equal(out, "Lists.Entwürfe");
	md_mailbox_from_dir(".inbox.x", out, sizeof(out));
	assert_string_equal(out, "INBOX.x");
	assert_int_equal(md_mailbox_from_dir("..", out, sizeof(out)),
	    POSTA_ENAME);
	assert_int_equal(md_mailbox_from_dir(".", out, sizeof(out)),
	    POSTA_ENAME);
	assert_int_equal(md_mailbox_from_dir("cur", out, sizeof(out)),
	    POSTA_ENAME);
	assert_int_equal(md_mailbox_from_dir(".a..b", out, sizeof(out)),
	    POSTA_ENAME);
	assert_int_equal(md_mailbox_from_dir(".bad&", out, sizeof(out)),
	    POSTA_ENAME);
}

static void
test_expand(void **state)
{
	char out[256];

	assert_true(md_expand_root("/m/%d/%n", "alice@example.com", out,
	    sizeof(out)) > 0);
	assert_string_equal(out, "/m/example.com/alice");
	md_expand_root("/m/%u/100%%", "a@b", out, sizeof(out));
	assert_string_equal(out, "/m/a@b/100%");
	assert_int_equal(md_expand_root("/m/%x", "a@b", out, sizeof(out)),
	    -EINVAL);
	assert_int_equal(md_expand_root("/m/%", "a@b", out, sizeof(out)),
	    -EINVAL);
	assert_int_equal(md_expand_root("/m/%d/%n", "a@b", out, 5), -EINVAL);
	assert_int_equal(md_expand_root("/m/%d", "ab", out, sizeof(out)),
	    POSTA_ENAME);
	assert_int_equal(md_expand_root("/m/%d", "a@b@c", out, sizeof(out)),
	    POSTA_ENAME);
	assert_int_equal(md_expand_root("/m/%d", "@b", out, sizeof(out)),
	    POSTA_ENAME);
	assert_int_equal(md_expand_root("/m/%d", "a@", out, sizeof(out)),
	    POSTA_ENAME);
	assert_int_equal(md_expand_root("/m/%d", "../x@b", out, sizeof(out)),
	    POSTA_ENAME);
	assert_int_equal(md_expand_root("/m/%d", "a@..", out, sizeof(out)),
	    POSTA_ENAME);
	assert_int_equal(md_expand_root("/m/%d", "a/b@c", out, sizeof(out)),
	    POSTA_ENAME);
	assert_int_equal(md_expand_root("/m/%d", "a@c\n", out, sizeof(out)),
	    POSTA_ENAME);
}

static void
test_tmp(void **state)
{
	char out[MD_NAME_MAX + 1];

	assert_true(md_tmp_name(out, sizeof(out), 1000, 42, 3, "h") > 0);
	assert_string_equal(out, "posta.1000.42.3.h");
	assert_false(md_tmp_is_stale(out, 1000, 42));
	assert_true(md_tmp_is_stale(out, 1001, 42));
	assert_true(md_tmp_is_stale(out, 1000, 43));
	assert_false(md_tmp_is_stale("1000.M1P42Q3.h", 5, 5));
	assert_false(md_tmp_is_stale("posta.x", 5, 5));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flags_parse),
		cmocka_unit_test(test_flags_build),
		cmocka_unit_test(test_unique),
		cmocka_unit_test(test_mailbox_names),
		cmocka_unit_test(test_mutf7),
		cmocka_unit_test(test_dirs),
		cmocka_unit_test(test_expand),
		cmocka_unit_test(test_tmp),
	};

	return cmocka_run_group_tests_name("maildir_name", tests, NULL, NULL);
}
