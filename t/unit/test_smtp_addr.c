/* test_smtp_addr.c: mailbox, domain, literal and UTF-8 syntax helpers */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "smtp_addr.h"

/* Exact-size heap copy (no NUL) so ASan catches any read past len. */
static char *
exact(const char *s, size_t len)
{
	char *p = malloc(len > 0 ? len : 1);

	assert_non_null(p);
	memcpy(p, s, len);
	return p;
}

static bool
domain_ok(const char *s, unsigned flags)
{
	size_t n = strlen(s);
	char *p = exact(s, n);
	bool r = smtp_addr_domain_valid(p, n, flags);

	free(p);
	return r;
}

static int
mailbox(const char *s, unsigned flags, size_t *at_r)
{
	size_t n = strlen(s);
	char *p = exact(s, n);
	int r = smtp_addr_mailbox_check(p, n, flags, at_r);

	free(p);
	return r;
}

static int
literal(const char *s, uint8_t addr[16])
{
	size_t n = strlen(s);
	char *p = exact(s, n);
	int r = smtp_addr_literal_parse(p, n, addr);

	free(p);
	return r;
}

static void
test_utf8(void **state)
{
	static const struct {
		const char *s;
		size_t len;
		bool ok;
	} cases[] = {
		{ "", 0, true },
		{ "plain", 5, true },
		{ "j\xc3\xb6rg", 5, true },			/* ö */
		{ "\xe2\x82\xac", 3, true },			/* € */
		{ "\xf0\x9f\x93\xa7", 4, true },		/* U+1F4E7 */
		{ "\xf4\x8f\xbf\xbf", 4, true },		/* U+10FFFF */
		{ "\xc3", 1, false },				/* truncated */
		{ "\xe2\x82", 2, false },
		{ "\xc0\xae", 2, false },		/* overlong '.' */
		{ "\xc1\x80", 2, false },
		{ "\xe0\x80\x80", 3, false },		/* overlong NUL */
		{ "\xed\xa0\x80", 3, false },			/* surrogate */
		{ "\xf4\x90\x80\x80", 4, false },		/* > U+10FFFF */
		{ "\xf8\x88\x80\x80\x80", 5, false },
		{ "\x80", 1, false },				/* lone cont. */
		{ "a\xc3(", 3, false },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *p = exact(cases[i].s, cases[i].len);

		if (smtp_utf8_valid(p, cases[i].len) != cases[i].ok)
			fail_msg("case %zu", i);
		free(p);
	}
	assert_false(smtp_addr_has_8bit("abc", 3));
	assert_true(smtp_addr_has_8bit("a\xc3\xb6", 3));
}

static void
test_domain(void **state)
{
	char long_label[80], long_domain[300];
	size_t i;

	assert_true(domain_ok("example.com", 0));
	assert_true(domain_ok("EXAMPLE.com", 0));
	assert_true(domain_ok("a", 0));
	assert_true(domain_ok("localhost", 0));
	assert_true(domain_ok("a-b.c-d.e", 0));
	assert_true(domain_ok("123.example", 0));
	assert_true(domain_ok("1.2.3.4", 0));
	assert_true(domain_ok("xn--mnchen-3ya.de", 0));
	assert_false(domain_ok("", 0));
	assert_false(domain_ok(".", 0));
	assert_false(domain_ok("example.com.", 0));
	assert_false(domain_ok(".example.com", 0));
	assert_false(domain_ok("a..b", 0));
	assert_false(domain_ok("-a.b", 0));
	assert_false(domain_ok("a-.b", 0));
	assert_false(domain_ok("a.b-", 0));
	assert_false(domain_ok("a b", 0));
	assert_false(domain_ok("a@b", 0));
	assert_false(domain_ok("[1.2.3.4]", 0));
	assert_false(domain_ok("my_host", 0));
	assert_true(domain_ok("my_host", SMTP_ADDR_UNDERSCORE));
	assert_false(domain_ok("m\xc3\xbcnchen.de", 0));
	assert_true(domain_ok("m\xc3\xbcnchen.de", SMTP_ADDR_UTF8));
	assert_false(domain_ok("m\xc3nchen.de", SMTP_ADDR_UTF8));
	assert_false(domain_ok("m\xc0\xaenchen.de", SMTP_ADDR_UTF8));

	memset(long_label, 'a', 63);
	long_label[63] = '\0';
	assert_true(domain_ok(long_label, 0));
	long_label[63] = 'a';
	long_label[64] = '\0';
	assert_false(domain_ok(long_label, 0));

	/* 255 octets is the most a domain may have */
	for (i = 0; i < 255; i++)
		long_domain[i] = (i % 2 == 0) ? 'a' : '.';
	long_domain[255] = '\0';
	assert_true(domain_ok(long_domain, 0));
	long_domain[255] = '.';
	long_domain[256] = 'a';
	long_domain[257] = '\0';
	assert_false(domain_ok(long_domain, 0));
}

static void
test_literal(void **state)
{
	static const uint8_t v4[4] = { 192, 0, 2, 1 };
	static const uint8_t loop6[16] = { [15] = 1 };
	uint8_t a[16];

	assert_int_equal(literal("[192.0.2.1]", a), AF_INET);
	assert_memory_equal(a, v4, 4);
	assert_int_equal(literal("[0.0.0.0]", NULL), AF_INET);
	assert_int_equal(literal("[255.255.255.255]", NULL), AF_INET);
	assert_int_equal(literal("[001.002.003.004]", NULL), AF_INET);
	assert_int_equal(literal("[IPv6:::1]", a), AF_INET6);
	assert_memory_equal(a, loop6, 16);
	assert_int_equal(literal("[ipv6:2001:DB8::1]", NULL), AF_INET6);
	assert_int_equal(literal("[IPv6:::ffff:192.0.2.1]", NULL), AF_INET6);
	assert_int_equal(literal("[IPv6:2001:db8:0:0:0:0:0:1]", NULL),
	    AF_INET6);

	assert_int_equal(literal("[256.1.1.1]", NULL), 0);
	assert_int_equal(literal("[1.2.3]", NULL), 0);
	assert_int_equal(literal("[1.2.3.4.5]", NULL), 0);
	assert_int_equal(literal("[1.2.3.4 ]", NULL), 0);
	assert_int_equal(literal("[1..2.3]", NULL), 0);
	assert_int_equal(literal("[0001.2.3.4]", NULL), 0);
	assert_int_equal(literal("[]", NULL), 0);
	assert_int_equal(literal("[", NULL), 0);
	assert_int_equal(literal("1.2.3.4", NULL), 0);
	assert_int_equal(literal("[IPv6:]", NULL), 0);
	assert_int_equal(literal("[IPv6:1.2.3.4]", NULL), 0);
	assert_int_equal(literal("[IPv6:fe80::1%eth0]", NULL), 0);
	assert_int_equal(literal("[IPv6:1:2:3:4:5:6:7:8:9]", NULL), 0);
	assert_int_equal(literal("[IPv4:1.2.3.4]", NULL), 0);
	assert_int_equal(literal("[x-tag:content]", NULL), 0);
	assert_int_equal(literal("[IPv6::::::::::::::::::::::::::::::::::::"
	    "::::::::::::::::::::::::::::::::::::::::]", NULL), 0);

	assert_true(smtp_addr_is_literal("[x]", 3));
	assert_false(smtp_addr_is_literal("[x", 2));
	assert_false(smtp_addr_is_literal("x]", 2));
}

static void
test_local(void **state)
{
	char out[64];
	bool quoted;
	size_t n;

	assert_true(smtp_addr_local_valid("user", 4, 0));
	assert_true(smtp_addr_local_valid("first.last", 10, 0));
	assert_true(smtp_addr_local_valid("a+tag", 5, 0));
	assert_true(smtp_addr_local_valid("!#$%&'*+-/=?^_`{|}~", 19, 0));
	assert_false(smtp_addr_local_valid(".user", 5, 0));
	assert_false(smtp_addr_local_valid("user.", 5, 0));
	assert_false(smtp_addr_local_valid("a..b", 4, 0));
	assert_false(smtp_addr_local_valid("a b", 3, 0));
	assert_false(smtp_addr_local_valid("a(b)", 4, 0));
	assert_false(smtp_addr_local_valid("", 0, 0));
	assert_true(smtp_addr_local_valid("\"a b\"", 5, 0));
	assert_true(smtp_addr_local_valid("\"\"", 2, 0));
	assert_true(smtp_addr_local_valid("\"a\\\"b\"", 6, 0));
	assert_true(smtp_addr_local_valid("\"a@b\"", 5, 0));
	assert_false(smtp_addr_local_valid("\"ab", 3, 0));
	assert_false(smtp_addr_local_valid("\"a\\\"", 4, 0));
	assert_false(smtp_addr_local_valid("\"a\tb\"", 5, 0));
	assert_false(smtp_addr_local_valid("\"a\\\x01\"", 5, 0));
	assert_false(smtp_addr_local_valid("j\xc3\xb6rg", 5, 0));
	assert_true(smtp_addr_local_valid("j\xc3\xb6rg", 5, SMTP_ADDR_UTF8));
	assert_false(smtp_addr_local_valid("j\xc3rg", 4, SMTP_ADDR_UTF8));
	assert_true(smtp_addr_local_valid("\"j\xc3\xb6 rg\"", 8,
	    SMTP_ADDR_UTF8));

	n = smtp_addr_local_scan("\"a b\"@x", 7, 0, &quoted);
	assert_int_equal(n, 5);
	assert_true(quoted);
	n = smtp_addr_local_scan("abc@x", 5, 0, &quoted);
	assert_int_equal(n, 3);
	assert_false(quoted);

	n = smtp_addr_local_unquote("\"a\\\"b c\"", 8, out);
	assert_int_equal(n, 5);
	assert_memory_equal(out, "a\"b c", 5);
	n = smtp_addr_local_unquote("\"\"", 2, out);
	assert_int_equal(n, 0);
	n = smtp_addr_local_unquote("plain", 5, out);
	assert_int_equal(n, 5);
	assert_memory_equal(out, "plain", 5);
}

static void
test_mailbox(void **state)
{
	size_t at;
	char d[] = "Sub.EXAMPLE.Com";

	assert_int_equal(mailbox("user@example.com", 0, &at), 0);
	assert_int_equal(at, 4);
	assert_int_equal(mailbox("\"a@b\"@example.com", 0, &at), 0);
	assert_int_equal(at, 5);
	assert_int_equal(mailbox("user@[192.0.2.1]", 0, NULL), 0);
	assert_int_equal(mailbox("user@[IPv6:::1]", 0, NULL), 0);
	assert_int_equal(mailbox("user@[300.0.0.1]", 0, NULL), -EINVAL);
	assert_int_equal(mailbox("user", 0, NULL), -EINVAL);
	assert_int_equal(mailbox("user@", 0, NULL), -EINVAL);
	assert_int_equal(mailbox("@example.com", 0, NULL), -EINVAL);
	assert_int_equal(mailbox("a@b@c", 0, NULL), -EINVAL);
	assert_int_equal(mailbox("a@b..c", 0, NULL), -EINVAL);
	assert_int_equal(mailbox("j\xc3\xb6rg@example.com", 0, NULL),
	    -EINVAL);
	assert_int_equal(mailbox("j\xc3\xb6rg@b\xc3\xbc.de", SMTP_ADDR_UTF8,
	    NULL), 0);
	assert_int_equal(mailbox("j\xc3rg@example.com", SMTP_ADDR_UTF8,
	    NULL), -EINVAL);

	assert_int_equal(smtp_addr_split("\"x@y\"@z", 7, &at), 0);
	assert_int_equal(at, 5);
	assert_int_equal(smtp_addr_split("nodomain", 8, &at), -EINVAL);

	smtp_addr_domain_lower(d, strlen(d));
	assert_string_equal(d, "sub.example.com");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_domain),
		cmocka_unit_test(test_literal),
		cmocka_unit_test(test_local),
		cmocka_unit_test(test_mailbox),
	};

	return cmocka_run_group_tests_name("smtp_addr", tests, NULL, NULL);
}
