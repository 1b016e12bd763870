/* test_pop3_sasl.c: SASL mechanism names, response decoding, PLAIN splitting */
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

#include "pop3_sasl.h"

static void
test_mech(void **state)
{
	(void)state;
	assert_int_equal(pop3_sasl_mech((const uint8_t *)"PLAIN", 5),
	    POP3_SASL_PLAIN);
	assert_int_equal(pop3_sasl_mech((const uint8_t *)"plain", 5),
	    POP3_SASL_PLAIN);
	assert_int_equal(pop3_sasl_mech((const uint8_t *)"Login", 5),
	    POP3_SASL_LOGIN);
	assert_int_equal(pop3_sasl_mech((const uint8_t *)"PLAINX", 6),
	    POP3_SASL_NONE);
	assert_int_equal(pop3_sasl_mech((const uint8_t *)"PLAI", 4),
	    POP3_SASL_NONE);
	assert_int_equal(pop3_sasl_mech((const uint8_t *)"CRAM-MD5", 8),
	    POP3_SASL_NONE);
	assert_int_equal(pop3_sasl_mech((const uint8_t *)"", 0),
	    POP3_SASL_NONE);
}

/* Decodes from an exact-size heap copy into an exact-size buffer. */
static long
decode(const char *line, uint8_t **out_r)
{
	size_t len = strlen(line);
	uint8_t *in = malloc(len > 0 ? len : 1);
	uint8_t *out = malloc(pop3_sasl_decoded_max(len));
	long n;

	assert_non_null(in);
	assert_non_null(out);
	memcpy(in, line, len);
	n = pop3_sasl_decode(in, len, out);
	free(in);
	*out_r = out;
	return n;
}

static void
test_decode(void **state)
{
	uint8_t *out;
	long n;

	(void)state;
	n = decode("*", &out);
	assert_int_equal(n, -ECANCELED);
	free(out);
	n = decode("=", &out);
	assert_int_equal(n, 0);
	assert_int_equal(out[0], '\0');
	free(out);
	n = decode("", &out);
	assert_int_equal(n, 0);
	free(out);
	n = decode("YWxpY2U=", &out);
	assert_int_equal(n, 5);
	assert_string_equal((char *)out, "alice");
	free(out);
	n = decode("AGFAYgBwdw==", &out);
	assert_int_equal(n, 7);
	assert_memory_equal(out, "\0a@b\0pw", 8);
	free(out);
	/* bad base64: missing padding, bad characters, spaces */
	n = decode("YWxpY2U", &out);
	assert_int_equal(n, -EINVAL);
	free(out);
	n = decode("YW*p", &out);
	assert_int_equal(n, -EINVAL);
	free(out);
	n = decode("YWxp Y2U=", &out);
	assert_int_equal(n, -EINVAL);
	free(out);
	n = decode("**", &out);
	assert_int_equal(n, -EINVAL);
	free(out);
	n = decode("==", &out);
	assert_int_equal(n, -EINVAL);
	free(out);
}

/* Splits a copy of msg (len bytes) with room for the terminator. */
static int
plain(const char *msg, size_t len, char *user, char *pass)
{
	uint8_t *buf = malloc(len + 1);
	const char *u, *p;
	int r;

	assert_non_null(buf);
	memcpy(buf, msg, len);
	r = pop3_sasl_plain(buf, len, &u, &p);
	if (r == 0) {
		assert_true((const uint8_t *)u > buf);
		assert_true((const uint8_t *)p <= buf + len);
		strcpy(user, u);
		strcpy(pass, p);
	}
	free(buf);
	return r;
}

static void
test_plain(void **state)
{
	char u[64], p[64];

	(void)state;
	assert_int_equal(plain("\0a@b\0pw", 7, u, p), 0);
	assert_string_equal(u, "a@b");
	assert_string_equal(p, "pw");
	/* authzid equal to authcid (any case) is the same user */
	assert_int_equal(plain("a@b\0a@b\0pw", 10, u, p), 0);
	assert_string_equal(u, "a@b");
	assert_int_equal(plain("A@B\0a@b\0pw", 10, u, p), 0);
	assert_int_equal(plain("\0a@b\0p w x", 10, u, p), 0);
	assert_string_equal(p, "p w x");
	/* proxy logins are not offered */
	assert_int_equal(plain("admin\0a@b\0pw", 12, u, p), -EINVAL);
	assert_int_equal(plain("a@bc\0a@b\0pw", 11, u, p), -EINVAL);
	/* malformed */
	assert_int_equal(plain("", 0, u, p), -EINVAL);
	assert_int_equal(plain("a@b", 3, u, p), -EINVAL);
	assert_int_equal(plain("\0a@b", 4, u, p), -EINVAL);
	assert_int_equal(plain("\0a@b\0", 5, u, p), -EINVAL);
	assert_int_equal(plain("\0\0pw", 4, u, p), -EINVAL);
	assert_int_equal(plain("\0a@b\0p\0w", 8, u, p), -EINVAL);
}

static void
test_is_text(void **state)
{
	(void)state;
	assert_true(pop3_sasl_is_text((const uint8_t *)"abc", 3));
	assert_false(pop3_sasl_is_text((const uint8_t *)"", 0));
	assert_false(pop3_sasl_is_text((const uint8_t *)"a\0c", 3));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mech),
		cmocka_unit_test(test_decode),
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_is_text),
	};

	return cmocka_run_group_tests_name("pop3_sasl", tests, NULL, NULL);
}
