/* test_util.c: base64 (RFC 4648 vectors, bad input), hex digits and the locale-free case helpers */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "util.h"

/* RFC 4648 section 10 */
static const char *const vectors[][2] = {
	{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
	{ "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" },
	{ "foobar", "Zm9vYmFy" },
};

static void
test_base64_vectors(void **state)
{
	char enc[32];
	uint8_t dec[32];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		const char *plain = vectors[i][0], *b64 = vectors[i][1];
		size_t n = strlen(plain);

		assert_int_equal(base64_encoded_len(n), strlen(b64));
		assert_int_equal(base64_encode((const uint8_t *)plain, n, enc),
		    strlen(b64));
		assert_string_equal(enc, b64);
		assert_true(base64_decoded_max(strlen(b64)) >= n);
		assert_int_equal(base64_decode(b64, strlen(b64), dec),
		    (long)n);
		assert_memory_equal(dec, plain, n);
	}
}

static void
test_base64_every_byte(void **state)
{
	uint8_t in[256], out[256];
	char enc[400];
	size_t len, n;

	(void)state;
	for (n = 0; n < 256; n++)
		in[n] = (uint8_t)(255 - n);
	/* every length, so each padding case meets every byte value */
	for (len = 0; len <= sizeof(in); len++) {
		n = base64_encode(in, len, enc);
		assert_int_equal(n, base64_encoded_len(len));
		assert_int_equal(base64_decode(enc, n, out), (long)len);
		assert_memory_equal(out, in, len);
	}
}

static void
test_base64_refuses(void **state)
{
	static const char *const bad[] = {
		"Zg=", "Zm9", "Z", "Zg===", "=Zg=", "Z===", "Zg=a",
		"Zm9v\r\n", "Zm 9v", "Zm9v====", "Zg==Zg==", "Zm9-",
		"Zm9_", "Zm9\x80", "Zm\0v",
	};
	uint8_t out[32];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t len = strlen(bad[i]);

		if (i == sizeof(bad) / sizeof(bad[0]) - 1)
			len = 4;	/* the one with a NUL inside */
		assert_int_equal(base64_decode(bad[i], len, out), -EINVAL);
	}
}

static void
test_digit_values(void **state)
{
	int c;

	(void)state;
	for (c = 0; c < 256; c++) {
		int want = -1;

		if (c >= '0' && c <= '9')
			want = c - '0';
		else if (c >= 'a' && c <= 'f')
			want = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			want = c - 'A' + 10;
		assert_int_equal(util_hexval((char)c), want);
	}
	assert_int_equal(base64_value('A'), 0);
	assert_int_equal(base64_value('z'), 51);
	assert_int_equal(base64_value('9'), 61);
	assert_int_equal(base64_value('+'), 62);
	assert_int_equal(base64_value('/'), 63);
	assert_int_equal(base64_value('='), -1);
	assert_int_equal(base64_value(','), -1);	/* IMAP's UTF-7 only */
	assert_int_equal(base64_value((char)0xc3), -1);
}

static void
test_case_helpers(void **state)
{
	char s[] = "MiXeD-Case\xc3\x84@Example.COM";

	(void)state;
	assert_true(util_strcaseeq("INBOX", "inbox"));
	assert_false(util_strcaseeq("INBOX", "inbox2"));
	assert_false(util_strcaseeq("inbox2", "INBOX"));
	assert_true(util_strcaseeq("", ""));
	/* only ASCII folds: a UTF-8 letter is left as it is */
	assert_false(util_strcaseeq("\xc3\x84", "\xc3\xa4"));
	assert_true(util_memcaseeq("AbC\0x", "aBc\0X", 5));
	assert_false(util_memcaseeq("[", "{", 1));	/* 0x5b vs 0x7b */
	util_ascii_lower(s);
	assert_string_equal(s, "mixed-case\xc3\x84@example.com");
}

static void
test_mkdir_parents(void **state)
{
	char top[] = "/tmp/posta-test-util-XXXXXX", path[256], file[256];
	struct stat st;
	mode_t old = umask(022);
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(top));
	snprintf(path, sizeof(path), "%s/a//b/c/state", top);
	assert_int_equal(util_mkdir_parents(path, 0750), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0750);
	snprintf(file, sizeof(file), "%s/a", top);
	assert_int_equal(stat(file, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0755);
	/* again: it exists, fine */
	assert_int_equal(util_mkdir_parents(path, 0750), 0);
	/* a file in the way is an error, not a loop or a crash */
	snprintf(file, sizeof(file), "%s/file", top);
	f = fopen(file, "w");
	assert_non_null(f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/file/sub/dir", top);
	assert_int_equal(util_mkdir_parents(path, 0750), -ENOTDIR);
	assert_int_equal(util_mkdir_parents("", 0750), -ENOENT);
	snprintf(path, sizeof(path), "rm -rf '%s'", top);
	assert_int_equal(system(path), 0);
	umask(old);
}

static void
test_wipe(void **state)
{
	char secret[16] = "hunter2hunter2!";
	size_t i;

	(void)state;
	util_wipe(secret, sizeof(secret));
	for (i = 0; i < sizeof(secret); i++)
		assert_int_equal(secret[i], 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base64_vectors),
		cmocka_unit_test(test_base64_every_byte),
		cmocka_unit_test(test_base64_refuses),
		cmocka_unit_test(test_digit_values),
		cmocka_unit_test(test_case_helpers),
		cmocka_unit_test(test_mkdir_parents),
		cmocka_unit_test(test_wipe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
