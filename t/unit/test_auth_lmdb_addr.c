/* test_auth_lmdb_addr.c: address normalisation, hash parsing */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "auth_lmdb_db.h"

static void
norm_ok(const char *in, const char *want)
{
	char out[AUTH_LMDB_ADDRESS_MAX + 1];
	const char *error = "";
	int ret;

	ret = auth_lmdb_address_normalize(in, out, sizeof(out), &error);
	if (ret != 0)
		fail_msg("'%s': %s", in, error);
	assert_string_equal(out, want);
}

static void
norm_bad(const char *in, const char *why)
{
	char out[AUTH_LMDB_ADDRESS_MAX + 1];
	const char *error = NULL;

	if (auth_lmdb_address_normalize(in, out, sizeof(out), &error) !=
	    POSTA_ENAME)
		fail_msg("'%s' accepted", in);
	assert_non_null(error);
	if (strstr(error, why) == NULL)
		fail_msg("'%s': error '%s' lacks '%s'", in, error, why);
}

static void
test_normalize_lowercase(void **state)
{
	norm_ok("alice@example.com", "alice@example.com");
	norm_ok("Alice@Example.COM", "alice@example.com");
	norm_ok("ALICE.SMITH+tag@MAIL.EXAMPLE.ORG",
	    "alice.smith+tag@mail.example.org");
	norm_ok("a@b", "a@b");
	norm_ok("x!#$%&'*+/=?^_`{|}~-@ex-ample.com",
	    "x!#$%&'*+/=?^_`{|}~-@ex-ample.com");
	/* UTF-8 local parts are kept byte for byte, never case-folded */
	norm_ok("J\xc3\x9cRGEN@example.com", "j\xc3\x9crgen@example.com");
	norm_ok("\xe6\x97\xa5\xe6\x9c\xac@example.com",
	    "\xe6\x97\xa5\xe6\x9c\xac@example.com");
	norm_ok("1@123.example", "1@123.example");
}

static void
test_normalize_syntax(void **state)
{
	norm_bad("", "no '@'");
	norm_bad("alice", "no '@'");
	norm_bad("alice@@example.com", "more than one '@'");
	norm_bad("a@b@example.com", "more than one '@'");
	norm_bad("@example.com", "empty local part");
	norm_bad("alice@", "empty domain");
	norm_bad("al ice@example.com", "space or control");
	norm_bad("alice\t@example.com", "space or control");
	norm_bad("ali\x01" "ce@example.com", "space or control");
	norm_bad("ali\x7f" "ce@example.com", "space or control");
	norm_bad("a,b@example.com", "special");
	norm_bad("\"alice\"@example.com", "special");
	norm_bad("a:b@example.com", "special");
	norm_bad("a<b@example.com", "special");
	norm_bad(".alice@example.com", "starts or ends with a dot");
	norm_bad("alice.@example.com", "starts or ends with a dot");
	norm_bad("al..ice@example.com", "two dots");
	norm_bad("alice@example..com", "empty label");
	norm_bad("alice@.example.com", "empty label");
	norm_bad("alice@example.com.", "empty label");
	norm_bad("alice@-example.com", "starts with '-'");
	norm_bad("alice@example-.com", "ends with '-'");
	norm_bad("alice@exa_mple.com", "other than letters");
	norm_bad("alice@[127.0.0.1]", "other than letters");
	norm_bad("alice@ex ample.com", "other than letters");
	norm_bad("alice@\xc3\xa9xample.com", "other than letters");
	/* broken UTF-8: lone continuation, overlong, surrogate, truncated */
	norm_bad("a\x80@example.com", "UTF-8");
	norm_bad("a\xc0\xafz@example.com", "UTF-8");
	norm_bad("a\xed\xa0\x80@example.com", "UTF-8");
	norm_bad("a\xe6\x97@example.com", "UTF-8");
}

static void
test_normalize_lengths(void **state)
{
	char in[1000], want[600];
	char label[64], dom[300];

	/* local part: 64 bytes ok, 65 not */
	memset(in, 'A', 64);
	strcpy(in + 64, "@example.com");
	memset(want, 'a', 64);
	strcpy(want + 64, "@example.com");
	norm_ok(in, want);
	memset(in, 'a', 65);
	strcpy(in + 65, "@example.com");
	norm_bad(in, "longer than 64");

	/* label: 63 ok, 64 not */
	memset(label, 'b', 63);
	label[63] = '\0';
	snprintf(in, sizeof(in), "a@%s.com", label);
	norm_ok(in, in);
	snprintf(in, sizeof(in), "a@%sb.com", label);
	norm_bad(in, "label longer than 63");

	/* domain: three 63-byte labels and 61 more bytes = 253 ok, 254 not */
	snprintf(dom, sizeof(dom), "%s.%s.%s.", label, label, label);
	memset(dom + 192, 'c', 61);
	dom[253] = '\0';
	snprintf(in, sizeof(in), "a@%s", dom);
	norm_ok(in, in);
	snprintf(in, sizeof(in), "a@%sc", dom);
	norm_bad(in, "domain longer than 253");

	/* 64 + 1 + 253 = 318 bytes: the longest valid address */
	memset(want, 'x', 64);
	want[64] = '\0';
	snprintf(in, sizeof(in), "%s@%s", want, dom);
	assert_int_equal(strlen(in), 318);
	norm_ok(in, in);

	/* over 320 bytes: refused before anything else is looked at */
	memset(in, 'a', 400);
	in[400] = '\0';
	norm_bad(in, "longer than 320");
}

static void
test_normalize_buffer(void **state)
{
	char small[8];
	const char *error;

	assert_int_equal(auth_lmdb_address_normalize("alice@example.com",
	    small, sizeof(small), &error), POSTA_ENAME);
	assert_int_equal(auth_lmdb_domain_normalize("example.com", small,
	    sizeof(small), &error), POSTA_ENAME);
	/* NULL error_r is allowed */
	assert_int_equal(auth_lmdb_address_normalize("bad", small,
	    sizeof(small), NULL), POSTA_ENAME);
}

static void
test_domain_normalize(void **state)
{
	char out[AUTH_LMDB_DOMAIN_MAX + 1];
	const char *error = "";

	assert_int_equal(auth_lmdb_domain_normalize("Mail.Example.COM", out,
	    sizeof(out), &error), 0);
	assert_string_equal(out, "mail.example.com");
	assert_int_equal(auth_lmdb_domain_normalize("", out, sizeof(out),
	    &error), POSTA_ENAME);
	assert_int_equal(auth_lmdb_domain_normalize("a@b", out, sizeof(out),
	    &error), POSTA_ENAME);
	assert_int_equal(auth_lmdb_domain_normalize("example.com.", out,
	    sizeof(out), &error), POSTA_ENAME);
}

/* ---- {SCHEME}hash parsing ---- */

#define H6 "$6$saltsalt$" \
	"qFmFH.bQmmtXzyBY0s9v7Oicd2z4XSIecDzlB5KiA2/jctKu9YterLp8wwnSq." \
	"qc.eoxqOmSuNp2xS0ktL3nh/"
#define H6R "$6$rounds=5000$saltsalt$" \
	"qFmFH.bQmmtXzyBY0s9v7Oicd2z4XSIecDzlB5KiA2/jctKu9YterLp8wwnSq." \
	"qc.eoxqOmSuNp2xS0ktL3nh/"
#define H5 "$5$saltsalt$Gcm6FsVtF/Qa77ZKD.iwsJlCVPY0XSMgLJL0Hnww/c1"
#define H2_TAIL "05$abcdefghijklmnopqrstuu5s2v8.iXieOjg/.AySBTTZIIVFJeBui"
#define H2B "$2b$" H2_TAIL
#define HY "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$" \
	"X3DX6M94c7o.9agCG9G317fhZg9SqC.5i5rd.RhAtQ7"

static void
import_ok(const char *in, const char *want)
{
	char out[AUTH_LMDB_HASH_MAX + 1];
	const char *error = "";

	if (auth_lmdb_hash_import(in, out, sizeof(out), &error) != 0)
		fail_msg("'%s': %s", in, error);
	assert_string_equal(out, want);
}

static void
import_bad(const char *in, const char *why)
{
	char out[AUTH_LMDB_HASH_MAX + 1];
	const char *error = "";

	if (auth_lmdb_hash_import(in, out, sizeof(out), &error) != -EINVAL)
		fail_msg("'%s' accepted", in);
	if (strstr(error, why) == NULL)
		fail_msg("'%s': error '%s' lacks '%s'", in, error, why);
}

static void
test_hash_import_ok(void **state)
{
	import_ok(H6, H6);
	import_ok(H6R, H6R);
	import_ok(H5, H5);
	import_ok(H2B, H2B);
	import_ok(HY, HY);
	import_ok("{SHA512-CRYPT}" H6, H6);
	import_ok("{sha512-crypt}" H6R, H6R);
	import_ok("{SHA256-CRYPT}" H5, H5);
	import_ok("{BLF-CRYPT}" H2B, H2B);
	import_ok("{BLF-CRYPT}$2y$" H2_TAIL, "$2y$" H2_TAIL);
	import_ok("{BLF-CRYPT}$2a$" H2_TAIL, "$2a$" H2_TAIL);
	import_ok("{CRYPT}" HY, HY);
	import_ok("{CRYPT}" H6, H6);
	import_ok("{CRYPT}" H2B, H2B);
}

static void
test_hash_import_bad(void **state)
{
	import_bad("", "not a crypt(3) hash");
	import_bad("secret", "not a crypt(3) hash");
	import_bad("{PLAIN}secret", "unsupported password scheme");
	import_bad("{SSHA}abcd", "unsupported password scheme");
	import_bad("{SHA512-CRYPT.b64}" H6, "unsupported password scheme");
	import_bad("{SHA512-CRYPT" H6, "unterminated");
	import_bad("{SHA512-CRYPT}" H5, "does not match");
	import_bad("{SHA256-CRYPT}" H6, "does not match");
	import_bad("{BLF-CRYPT}" HY, "does not match");
	/* DES, MD5-crypt: crypt(3) knows them, we do not accept them */
	import_bad("abJnggxhB/yWI", "not a crypt(3) hash");
	import_bad("$1$saltsalt$2vnaRpHa6Jxjz5n83ok8Z0", "malformed");
	/* malformed of each scheme */
	import_bad("$6$saltsalt$short", "malformed");
	import_bad("$6$saltsaltsaltsaltX$" "qFmFH.bQmmtXzyBY0s9v7Oicd2z4XSIecD"
	    "zlB5KiA2/jctKu9YterLp8wwnSq.qc.eoxqOmSuNp2xS0ktL3nh/",
	    "malformed");
	import_bad("$6$rounds=10$saltsalt$" "qFmFH.bQmmtXzyBY0s9v7Oicd2z4XSI"
	    "ecDzlB5KiA2/jctKu9YterLp8wwnSq.qc.eoxqOmSuNp2xS0ktL3nh/",
	    "malformed");
	import_bad("$6$rounds=x$saltsalt$" "qFmFH.bQmmtXzyBY0s9v7Oicd2z4XSIe"
	    "cDzlB5KiA2/jctKu9YterLp8wwnSq.qc.eoxqOmSuNp2xS0ktL3nh/",
	    "malformed");
	import_bad("$5$saltsalt$Gcm6FsVtF/Qa77ZKD.iwsJlCVPY0XSMgLJL0Hnww/c1X",
	    "malformed");
	import_bad("$5$salt salt$Gcm6FsVtF/Qa77ZKD.iwsJlCVPY0XSMgLJL0Hnww/c1",
	    "malformed");
	/* bcrypt: one byte short, cost 99, unknown variant */
	import_bad("$2b$05$abcdefghijklmnopqrstuu5s2v8.iXieOjg/"
	    ".AySBTTZIIVFJeBu", "malformed");
	import_bad("$2b$99$abcdefghijklmnopqrstuu5s2v8.iXieOjg/"
	    ".AySBTTZIIVFJeBui", "malformed");
	import_bad("$2x$05$abcdefghijklmnopqrstuu5s2v8.iXieOjg/"
	    ".AySBTTZIIVFJeBui", "malformed");
	import_bad("$y$j9T$$X3DX6M94c7o.9agCG9G317fhZg9SqC.5i5rd.RhAtQ7",
	    "malformed");
	import_bad("$y$j9T$F5Jx5fExrKuPp53xLKQ..1$short", "malformed");
	import_bad("$y$j9T$F5Jx5fExrKuPp53xLKQ..1", "malformed");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_normalize_lowercase),
		cmocka_unit_test(test_normalize_syntax),
		cmocka_unit_test(test_normalize_lengths),
		cmocka_unit_test(test_normalize_buffer),
		cmocka_unit_test(test_domain_normalize),
		cmocka_unit_test(test_hash_import_ok),
		cmocka_unit_test(test_hash_import_bad),
	};

	return cmocka_run_group_tests_name("auth_lmdb_addr", tests, NULL,
	    NULL);
}
