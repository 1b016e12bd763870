/* test_imap_utf7.c: modified UTF-7 mailbox names, round trips and rejects */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "arena.h"
#include "imap_utf7.h"

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
round_trip(struct arena *a, const char *utf8, const char *utf7)
{
	char *out;

	assert_int_equal(imap_utf8_to_utf7(a, utf8, strlen(utf8), &out), 0);
	assert_string_equal(out, utf7);
	assert_int_equal(imap_utf7_to_utf8(a, utf7, strlen(utf7), &out), 0);
	assert_string_equal(out, utf8);
	assert_true(imap_utf7_is_valid(utf7, strlen(utf7)));
	assert_true(imap_utf8_is_valid(utf8, strlen(utf8)));
}

static void
test_round_trips(void **state)
{
	struct arena *a = *state;

	round_trip(a, "", "");
	round_trip(a, "INBOX", "INBOX");
	round_trip(a, "Sent Items", "Sent Items");
	round_trip(a, "~!\"#$%()*+,-./:;<=>?@[\\]^_`{|}",
	    "~!\"#$%()*+,-./:;<=>?@[\\]^_`{|}");
	round_trip(a, "&", "&-");
	round_trip(a, "&&", "&-&-");
	round_trip(a, "a&b-", "a&-b-");
	round_trip(a, "Entw\xc3\xbcrfe", "Entw&APw-rfe");
	/* RFC 3501 section 5.1.3's example */
	round_trip(a, "~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/"
	    "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
	    "~peter/mail/&U,BTFw-/&ZeVnLIqe-");
	/* adjacent non-ASCII runs are one section; "&-" separates */
	round_trip(a, "\xc3\x84\xc3\x96", "&AMQA1g-");
	round_trip(a, "\xc3\x84&\xc3\x96", "&AMQ-&-&ANY-");
	round_trip(a, "\xc3\x84-", "&AMQ--");
	/* controls are encoded, not passed */
	round_trip(a, "\x01", "&AAE-");
	round_trip(a, "a\x7f" "b", "a&AH8-b");
	/* beyond the BMP: a surrogate pair */
	round_trip(a, "\xf0\x9f\x98\x80", "&2D3eAA-");
	round_trip(a, "\xf4\x8f\xbf\xbf", "&2,,f,w-");
	round_trip(a, "x\xf0\x9f\x98\x80y", "x&2D3eAA-y");
}

static void
bad7(struct arena *a, const char *s, size_t len)
{
	char *out = NULL;

	if (imap_utf7_to_utf8(a, s, len, &out) != -EINVAL)
		fail_msg("accepted \"%s\"", s);
	assert_null(out);
	assert_false(imap_utf7_is_valid(s, len));
}

#define BAD7(s) bad7(a, s, sizeof(s) - 1)

static void
test_utf7_rejects(void **state)
{
	struct arena *a = *state;

	BAD7("&");
	BAD7("&AMQ");
	BAD7("a&AMQ-b&");
	/* printable ASCII must stand for itself, '&' included */
	BAD7("&AGE-");
	BAD7("&ACY-");
	BAD7("&ACA-");
	BAD7("&AH4-");
	/* NUL */
	BAD7("&AAA-");
	/* two sections in a row */
	BAD7("&AMQ-&ANY-");
	/* superfluous base64 char, non-zero pad bits, too few bits */
	BAD7("&AMQA-");
	BAD7("&AMR-");
	BAD7("&AM-");
	BAD7("&A-");
	/* surrogates: lone high, lone low, high + non-low, low + high */
	BAD7("&2D0-");
	BAD7("&3gA-");
	BAD7("&2D0A5A-");
	BAD7("&3gDYPQ-");
	BAD7("&AOTYPQ-");
	/* not in the modified alphabet */
	BAD7("&AM/-");
	BAD7("&AM=-");
	BAD7("&A Q-");
	/* raw bytes outside printable ASCII */
	BAD7("\xc3\xa4");
	BAD7("a\x01");
	BAD7("\x7f");
	BAD7("a\tb");
	bad7(a, "a\0b", 3);
}

static void
bad8(struct arena *a, const char *s, size_t len)
{
	char *out = NULL;

	if (imap_utf8_to_utf7(a, s, len, &out) != -EINVAL)
		fail_msg("accepted \"%s\"", s);
	assert_null(out);
	assert_false(imap_utf8_is_valid(s, len));
}

#define BAD8(s) bad8(a, s, sizeof(s) - 1)

static void
test_utf8_rejects(void **state)
{
	struct arena *a = *state;

	BAD8("\xc0\x80");		/* overlong NUL */
	BAD8("\xc1\xbf");		/* overlong */
	BAD8("\xe0\x80\x80");
	BAD8("\xe0\x9f\xbf");
	BAD8("\xf0\x80\x80\x80");
	BAD8("\xf0\x8f\xbf\xbf");
	BAD8("\xed\xa0\x80");		/* surrogates */
	BAD8("\xed\xbf\xbf");
	BAD8("\xf4\x90\x80\x80");	/* above U+10FFFF */
	BAD8("\xf5\x80\x80\x80");
	BAD8("\xff");
	BAD8("\xfe");
	BAD8("\x80");			/* stray continuation */
	BAD8("a\xbf");
	BAD8("\xc3");			/* truncated */
	BAD8("\xe2\x82");
	BAD8("\xf0\x9f\x98");
	BAD8("\xc3\x28");		/* continuation missing */
	BAD8("\xe2\x28\xa1");
	bad8(a, "a\0b", 3);
	/* the edges that are valid */
	assert_true(imap_utf8_is_valid("\xc2\x80", 2));
	assert_true(imap_utf8_is_valid("\xdf\xbf", 2));
	assert_true(imap_utf8_is_valid("\xe0\xa0\x80", 3));
	assert_true(imap_utf8_is_valid("\xed\x9f\xbf", 3));
	assert_true(imap_utf8_is_valid("\xee\x80\x80", 3));
	assert_true(imap_utf8_is_valid("\xef\xbf\xbf", 3));
	assert_true(imap_utf8_is_valid("\xf0\x90\x80\x80", 4));
	assert_true(imap_utf8_is_valid("\xf4\x8f\xbf\xbf", 4));
}

static size_t
encode_cp(uint32_t cp, char *b)
{
	if (cp < 0x80) {
		b[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		b[0] = (char)(0xc0 | cp >> 6);
		b[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		b[0] = (char)(0xe0 | cp >> 12);
		b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	b[0] = (char)(0xf0 | cp >> 18);
	b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	b[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	b[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Every BMP code point (and a spread of the others), alone and in text. */
static void
test_all_code_points(void **state)
{
	struct arena *a = arena_new(4096, 0);
	uint32_t cp;

	assert_non_null(a);
	for (cp = 1; cp <= 0x10ffff; cp += cp < 0x10000 ? 1 : 13) {
		char in[16], *u7, *u8;
		size_t n;

		if (cp >= 0xd800 && cp <= 0xdfff)
			continue;
		in[0] = 'x';
		n = 1 + encode_cp(cp, in + 1);
		in[n++] = '&';
		assert_int_equal(imap_utf8_to_utf7(a, in, n, &u7), 0);
		assert_true(imap_utf7_is_valid(u7, strlen(u7)));
		assert_int_equal(imap_utf7_to_utf8(a, u7, strlen(u7), &u8), 0);
		assert_int_equal(strlen(u8), n);
		assert_memory_equal(u8, in, n);
		if ((cp & 0xff) == 0)
			arena_reset(a);
	}
	arena_free(&a);
}

/*
 * Strictness means one spelling per name: whatever the decoder accepts,
 * the encoder must give back byte for byte.  Random strings over an
 * alphabet rich in section syntax probe that.
 */
static void
test_canonical(void **state)
{
	static const char alpha[] = "&-AAD2eaQ,+/w8gZ3x";
	struct arena *a = arena_new(4096, 0);
	uint32_t seed = 12345;
	unsigned int i, accepted = 0, sections = 0;

	assert_non_null(a);
	for (i = 0; i < 300000; i++) {
		char s[16], *u8, *u7;
		size_t len, k;

		seed = seed * 1103515245u + 12345u;
		len = (seed >> 16) % 12;
		for (k = 0; k < len; k++) {
			seed = seed * 1103515245u + 12345u;
			s[k] = alpha[(seed >> 16) % (sizeof(alpha) - 1)];
		}
		if (imap_utf7_to_utf8(a, s, len, &u8) == 0) {
			accepted++;
			if (memchr(s, '&', len) != NULL &&
			    strlen(u8) != len)
				sections++;
			assert_int_equal(imap_utf8_to_utf7(a, u8, strlen(u8),
			    &u7), 0);
			if (strlen(u7) != len || memcmp(u7, s, len) != 0)
				fail_msg("\"%.*s\" decodes but encodes as "
				    "\"%s\"", (int)len, s, u7);
		}
		if ((i & 1023) == 0)
			arena_reset(a);
	}
	/* the property was exercised, encoded sections included */
	assert_true(accepted > 1000);
	assert_true(sections > 10);
	arena_free(&a);
}

static void
test_nomem(void **state)
{
	struct arena *a = arena_new(256, 256);
	char big[300], *out;

	assert_non_null(a);
	memset(big, 'a', sizeof(big));
	assert_int_equal(imap_utf7_to_utf8(a, big, sizeof(big), &out),
	    -ENOMEM);
	assert_int_equal(imap_utf8_to_utf7(a, big, sizeof(big), &out),
	    -ENOMEM);
	arena_free(&a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trips, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_utf7_rejects, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_utf8_rejects, setup,
		    teardown),
		cmocka_unit_test(test_all_code_points),
		cmocka_unit_test(test_canonical),
		cmocka_unit_test(test_nomem),
	};

	return cmocka_run_group_tests_name("imap_utf7", tests, NULL, NULL);
}
