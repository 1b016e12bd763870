/* test_imap_match.c: LIST patterns and SEARCH text matching (pure helpers) */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "arena.h"
#include "imap_list_match.h"
#include "imap_search_match.h"

static int
setup(void **state)
{
	*state = arena_new(4096, 0);
	return *state == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	struct arena *a = *state;

	arena_free(&a);
	return 0;
}

static void
test_list_match(void **state)
{
	(void)state;
	assert_true(imap_list_match("*", "a.b.c", '.'));
	assert_true(imap_list_match("%", "abc", '.'));
	assert_false(imap_list_match("%", "a.b", '.'));
	assert_true(imap_list_match("a.%", "a.b", '.'));
	assert_false(imap_list_match("a.%", "a.b.c", '.'));
	assert_true(imap_list_match("a.*", "a.b.c", '.'));
	assert_false(imap_list_match("a.*", "a", '.'));
	assert_true(imap_list_match("a*c", "abbbc", '.'));
	assert_true(imap_list_match("a%c", "abbbc", '.'));
	assert_false(imap_list_match("a%c", "ab.bc", '.'));
	assert_true(imap_list_match("a*c", "ab.bc", '.'));
	assert_true(imap_list_match("%.%", "x.y", '.'));
	assert_true(imap_list_match("", "", '.'));
	assert_false(imap_list_match("", "a", '.'));
	assert_false(imap_list_match("INBOX", "inbox", '.'));
	assert_true(imap_list_match("*%*%", "a.b", '.'));
	assert_true(imap_list_match("R&AOk-*", "R&AOk-sum&AOk-", '.'));
}

/* A pattern that makes naive backtracking explode ends in bounded time. */
static void
test_list_match_bounded(void **state)
{
	char pat[200], name[200];
	size_t i;

	(void)state;
	for (i = 0; i < 60; i++) {
		pat[2 * i] = '*';
		pat[2 * i + 1] = 'a';
	}
	pat[120] = 'b';
	pat[121] = '\0';
	memset(name, 'a', 150);
	name[150] = '\0';
	assert_false(imap_list_match(pat, name, '.'));
}

static void
test_fold_inbox(void **state)
{
	char a[] = "inbox", b[] = "Inbox.Sub", c[] = "inboxes", d[] = "in";

	(void)state;
	imap_list_fold_inbox(a, '.');
	imap_list_fold_inbox(b, '.');
	imap_list_fold_inbox(c, '.');
	imap_list_fold_inbox(d, '.');
	assert_string_equal(a, "INBOX");
	assert_string_equal(b, "INBOX.Sub");
	assert_string_equal(c, "inboxes");
	assert_string_equal(d, "in");
}

/* Feeds hay in every split into two chunks and in single bytes. */
static void
substr_all_splits(struct arena *a, const char *needle, const char *hay,
    bool want)
{
	struct imap_substr m;
	size_t len = strlen(hay), cut, i;

	assert_int_equal(imap_substr_init(a, &m, needle, strlen(needle)), 0);
	for (cut = 0; cut <= len; cut++) {
		imap_substr_reset(&m);
		imap_substr_feed(&m, (const uint8_t *)hay, cut);
		imap_substr_feed(&m, (const uint8_t *)hay + cut, len - cut);
		assert_int_equal(m.found, want);
	}
	imap_substr_reset(&m);
	for (i = 0; i < len; i++)
		imap_substr_feed(&m, (const uint8_t *)hay + i, 1);
	assert_int_equal(m.found, want);
}

static void
test_substr(void **state)
{
	struct arena *a = *state;

	substr_all_splits(a, "hello", "say Hello world", true);
	substr_all_splits(a, "HELLO", "say hello", true);
	substr_all_splits(a, "hello", "say hell o", false);
	substr_all_splits(a, "aab", "aaaaaab", true);
	substr_all_splits(a, "aab", "aaaaaa", false);
	substr_all_splits(a, "x", "abcx", true);
	substr_all_splits(a, "", "anything", true);
	substr_all_splits(a, "\xc3\xa9t\xc3\xa9", "un \xc3\xa9t\xc3\xa9 chaud",
	    true);
	assert_true(imap_contains_nocase("Re: Hello", 9, "HELLO", 5));
	assert_false(imap_contains_nocase("Re: Hell", 8, "HELLO", 5));
	assert_true(imap_contains_nocase("x", 1, "", 0));
}

struct fields {
	char out[1024];
	size_t n;
};

static int
collect(void *ctx, const char *name, size_t name_len, const char *value,
    size_t value_len)
{
	struct fields *f = ctx;

	f->n += (size_t)snprintf(f->out + f->n, sizeof(f->out) - f->n,
	    "[%.*s=%.*s]", (int)name_len, name, (int)value_len, value);
	return 0;
}

static void
test_header_fields(void **state)
{
	static const char hdr[] = "Subject: one\r\n two\r\nFrom :  a@b \r\n"
	    "junk line\r\nX-Empty:\r\n\r\nBody: not a field\r\n";
	struct fields f = { .n = 0 };

	(void)state;
	assert_int_equal(imap_header_fields((const uint8_t *)hdr,
	    strlen(hdr), collect, &f), 0);
	assert_string_equal(f.out, "[Subject=one two][From=a@b][X-Empty=]");
}

static const char *
decode(struct arena *a, const char *in)
{
	return imap_decode_words(a, in, strlen(in));
}

static void
test_decode_words(void **state)
{
	struct arena *a = *state;

	assert_string_equal(decode(a, "plain"), "plain");
	assert_string_equal(decode(a, "=?UTF-8?B?w6l0w6k=?="),
	    "\xc3\xa9t\xc3\xa9");
	assert_string_equal(decode(a, "=?iso-8859-1?q?caf=E9_noir?="),
	    "caf\xc3\xa9 noir");
	/* whitespace between encoded words vanishes, elsewhere it stays */
	assert_string_equal(decode(a, "=?utf-8?q?a?= =?utf-8?q?b?= c"),
	    "ab c");
	assert_string_equal(decode(a, "x =?utf-8?q?a?="), "x a");
	/* unknown charsets and broken words stay as they came */
	assert_string_equal(decode(a, "=?koi8-r?q?x?="), "=?koi8-r?q?x?=");
	assert_string_equal(decode(a, "=?utf-8?q?x"), "=?utf-8?q?x");
	assert_string_equal(decode(a, "=?utf-8?q?=4?="), "=4");
	assert_string_equal(decode(a, "=?utf-8?B?!!!?="), "");
}

static void
test_dates(void **state)
{
	int64_t d;

	(void)state;
	assert_int_equal(imap_days_from_civil(1970, 1, 1), 0);
	assert_int_equal(imap_days_from_civil(2000, 3, 1), 11017);
	assert_int_equal(imap_days_from_civil(1969, 12, 31), -1);
	assert_int_equal(imap_rfc5322_date("Mon, 7 Feb 1994 21:52:25 -0800",
	    &d), 0);
	assert_int_equal(d, imap_days_from_civil(1994, 2, 7));
	assert_int_equal(imap_rfc5322_date("07 feb 94 10:00 GMT", &d), 0);
	assert_int_equal(d, imap_days_from_civil(1994, 2, 7));
	assert_int_equal(imap_rfc5322_date("1 Jan 2049", &d), 0);
	assert_int_equal(d, imap_days_from_civil(2049, 1, 1));
	assert_int_equal(imap_rfc5322_date("yesterday", &d), -EINVAL);
	assert_int_equal(imap_rfc5322_date("32 Jan 2000", &d), -EINVAL);
	assert_int_equal(imap_rfc5322_date("3 Foo 2000", &d), -EINVAL);
	assert_int_equal(imap_rfc5322_date("3 Jan", &d), -EINVAL);
}

static void
decode_all_splits(const char *hdr, const char *body, const char *want)
{
	struct imap_mime_info info;
	struct imap_body_decoder d;
	uint8_t out[1024];
	size_t len = strlen(body), cut, n;

	imap_mime_info((const uint8_t *)hdr, strlen(hdr), &info);
	for (cut = 0; cut <= len; cut++) {
		imap_body_decoder_init(&d, &info);
		n = imap_body_decode(&d, (const uint8_t *)body, cut, out);
		n += imap_body_decode(&d, (const uint8_t *)body + cut,
		    len - cut, out + n);
		out[n] = '\0';
		assert_string_equal((char *)out, want);
	}
}

static void
test_body_decoding(void **state)
{
	static const char png[] = "Content-Type: image/png\r\n"
	    "Content-Transfer-Encoding: BASE64\r\n\r\n";
	struct imap_mime_info info;

	(void)state;
	imap_mime_info((const uint8_t *)"Subject: x\r\n\r\n", 15, &info);
	assert_int_equal(info.cte, IMAP_CTE_IDENTITY);
	assert_true(info.is_text);
	imap_mime_info((const uint8_t *)png, strlen(png), &info);
	assert_int_equal(info.cte, IMAP_CTE_BASE64);
	assert_false(info.is_text);
	decode_all_splits("Content-Transfer-Encoding: base64\r\n",
	    "aGVs\r\nbG8g\r\nd29y\r\nbGQ=\r\n", "hello world");
	decode_all_splits("Content-Type: text/plain;\r\n charset=\"ISO-8859-1\""
	    "\r\nContent-Transfer-Encoding: quoted-printable\r\n",
	    "caf=E9 =\r\nnoir =3D x=\r\n", "caf\xc3\xa9 noir = x");
	decode_all_splits("Content-Transfer-Encoding: quoted-printable\r\n",
	    "a=ZZb =\ncd", "a=ZZb cd");
	decode_all_splits("Content-Type: text/plain; charset=utf-8\r\n",
	    "plain \xc3\xa9", "plain \xc3\xa9");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_list_match),
		cmocka_unit_test(test_list_match_bounded),
		cmocka_unit_test(test_fold_inbox),
		cmocka_unit_test(test_substr),
		cmocka_unit_test(test_header_fields),
		cmocka_unit_test(test_decode_words),
		cmocka_unit_test(test_dates),
		cmocka_unit_test(test_body_decoding),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
