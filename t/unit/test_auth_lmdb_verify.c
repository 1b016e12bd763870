/* test_auth_lmdb_verify.c: password checks, missing/damaged db */
#include "config.h"

#include <crypt.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cmocka.h>

#include "auth_lmdb_priv.h"
#include "test_auth_lmdb.h"

/* A fresh hash of password with prefix's scheme at its default cost. */
static void
make_hash(const char *prefix, unsigned long count, const char *password,
    char *out, size_t size)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	const char *h;

	assert_non_null(cd);
	assert_non_null(crypt_gensalt_rn(prefix, count, NULL, 0, setting,
	    sizeof(setting)));
	h = crypt_r(password, setting, cd);
	assert_non_null(h);
	assert_true(h[0] != '*');
	assert_true(strlen(h) < size);
	strcpy(out, h);
	free(cd);
}

static int
setup(void **state)
{
	struct tdb *t = calloc(1, sizeof(*t));
	char hash[CRYPT_OUTPUT_SIZE];
	const char *to_alice[] = { "alice@example.com" };

	if (t == NULL || tdb_init(t, true, 0) < 0)
		return -1;
	OP(t, 0, auth_lmdb_domain_add, "example.com");
	OP(t, 0, auth_lmdb_alias_domain_add, "example.net", "example.com");
	/* SHA256-CRYPT at its minimum cost keeps the failure tests quick */
	make_hash("$5$", 1000, "alice-pw", hash, sizeof(hash));
	OP(t, 0, auth_lmdb_user_add, "alice@example.com", hash);
	OP(t, 0, auth_lmdb_alias_add, "info@example.com", to_alice, 1);
	*state = t;
	return 0;
}

static int
teardown(void **state)
{
	struct tdb *t = *state;

	tdb_deinit(t);
	free(t);
	return 0;
}

static void
check_verify(struct tdb *t, const char *login, const char *password,
    bool want_ok, const char *want_account)
{
	char account[AUTH_LMDB_ADDRESS_MAX + 1];
	const char *error = "";
	bool ok = !want_ok;
	int ret;

	ret = auth_lmdb_verify(t->db, login, password, account, &ok, &error);
	if (ret != 0)
		fail_msg("verify %s: %d %s", login, ret, error);
	if (ok != want_ok)
		fail_msg("verify %s: %s, expected %s", login,
		    ok ? "ok" : "fail", want_ok ? "ok" : "fail");
	if (want_ok)
		assert_string_equal(account, want_account);
	else
		assert_string_equal(account, "");
}

static void
test_schemes(void **state)
{
	static const struct {
		const char *prefix;	/* for crypt_gensalt_rn */
		unsigned long count;
		const char *scheme;	/* Dovecot prefix, or "" */
	} cases[] = {
		{ "$y$", 0, "" },
		{ "$y$", 0, "{CRYPT}" },
		{ "$6$", 0, "" },
		{ "$6$", 0, "{SHA512-CRYPT}" },
		{ "$6$", 10000, "{sha512-crypt}" },
		{ "$5$", 0, "{SHA256-CRYPT}" },
		{ "$2b$", 5, "{BLF-CRYPT}" },
		{ "$2y$", 5, "{BLF-CRYPT}" },
		{ "$2b$", 5, "" },
	};
	struct tdb *t = *state;
	char hash[CRYPT_OUTPUT_SIZE], prefixed[CRYPT_OUTPUT_SIZE + 32];
	char user[64], pw[64];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(user, sizeof(user), "s%zu@example.com", i);
		snprintf(pw, sizeof(pw), "pass word %zu \xc3\xa9", i);
		make_hash(cases[i].prefix, cases[i].count, pw, hash,
		    sizeof(hash));
		snprintf(prefixed, sizeof(prefixed), "%s%s", cases[i].scheme,
		    hash);
		OP(t, 0, auth_lmdb_user_add, user, prefixed);
		check_verify(t, user, pw, true, user);
		check_verify(t, user, "wrong", false, NULL);
		/* one byte off, and a prefix of the password */
		pw[0] ^= 1;
		check_verify(t, user, pw, false, NULL);
		pw[0] ^= 1;
		pw[strlen(pw) - 1] = '\0';
		check_verify(t, user, pw, false, NULL);
	}
}

static void
test_failures(void **state)
{
	struct tdb *t = *state;
	char longpw[AUTH_LMDB_PASSWORD_MAX + 2];

	check_verify(t, "alice@example.com", "alice-pw", true,
	    "alice@example.com");
	/* the domain and the local part are case-insensitive */
	check_verify(t, "Alice@EXAMPLE.com", "alice-pw", true,
	    "alice@example.com");
	/* the password is not */
	check_verify(t, "alice@example.com", "Alice-pw", false, NULL);
	check_verify(t, "alice@example.com", "", false, NULL);
	check_verify(t, "nobody@example.com", "alice-pw", false, NULL);
	check_verify(t, "alice@elsewhere.test", "alice-pw", false, NULL);
	/* an alias and an alias-domain address never log in */
	check_verify(t, "info@example.com", "alice-pw", false, NULL);
	check_verify(t, "alice@example.net", "alice-pw", false, NULL);
	/* not an address at all */
	check_verify(t, "alice", "alice-pw", false, NULL);
	check_verify(t, "", "alice-pw", false, NULL);
	check_verify(t, "alice@example.com\r\n", "alice-pw", false, NULL);
	/* over-long password */
	memset(longpw, 'a', sizeof(longpw) - 1);
	longpw[sizeof(longpw) - 1] = '\0';
	check_verify(t, "alice@example.com", longpw, false, NULL);
	/* disabled: the right password fails, until enabled again */
	OP(t, 0, auth_lmdb_user_set_disabled, "alice@example.com", true);
	check_verify(t, "alice@example.com", "alice-pw", false, NULL);
	OP(t, 0, auth_lmdb_user_set_disabled, "alice@example.com", false);
	check_verify(t, "alice@example.com", "alice-pw", true,
	    "alice@example.com");
}

static void
test_longest_password(void **state)
{
	struct tdb *t = *state;
	char pw[AUTH_LMDB_PASSWORD_MAX + 2];
	char hash[AUTH_LMDB_HASH_MAX + 1];

	memset(pw, 'p', AUTH_LMDB_PASSWORD_MAX);
	pw[AUTH_LMDB_PASSWORD_MAX] = '\0';
	assert_int_equal(auth_lmdb_hash_new(pw, hash, sizeof(hash)), 0);
	OP(t, 0, auth_lmdb_user_add, "long@example.com", hash);
	check_verify(t, "long@example.com", pw, true, "long@example.com");
	pw[AUTH_LMDB_PASSWORD_MAX] = 'p';
	pw[AUTH_LMDB_PASSWORD_MAX + 1] = '\0';
	check_verify(t, "long@example.com", pw, false, NULL);
	assert_int_equal(auth_lmdb_hash_new(pw, hash, sizeof(hash)), -EINVAL);
	assert_int_equal(auth_lmdb_hash_new("", hash, sizeof(hash)), -EINVAL);
}

static void
test_hash_new(void **state)
{
	char h1[AUTH_LMDB_HASH_MAX + 1], h2[AUTH_LMDB_HASH_MAX + 1];
	char tiny[8];
	const char *error;

	assert_int_equal(auth_lmdb_hash_new("secret", h1, sizeof(h1)), 0);
	assert_int_equal(auth_lmdb_hash_new("secret", h2, sizeof(h2)), 0);
	assert_memory_equal(h1, "$y$", 3);
	/* a fresh salt each time */
	assert_string_not_equal(h1, h2);
	assert_true(auth_lmdb_hash_check("secret", h1));
	assert_true(auth_lmdb_hash_check("secret", h2));
	assert_false(auth_lmdb_hash_check("Secret", h1));
	/* what we generate we also accept as stored form */
	assert_int_equal(auth_lmdb_hash_import(h1, h2, sizeof(h2), &error), 0);
	assert_string_equal(h1, h2);
	assert_int_equal(auth_lmdb_hash_new("secret", tiny, sizeof(tiny)),
	    -ENOBUFS);
	/* garbage "hashes" never match */
	assert_false(auth_lmdb_hash_check("", "*0"));
	assert_false(auth_lmdb_hash_check("x", "$6$"));
	assert_false(auth_lmdb_hash_check("", ""));
}

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double
min_verify_ms(struct tdb *t, const char *login, const char *password)
{
	char account[AUTH_LMDB_ADDRESS_MAX + 1];
	const char *error;
	double best = 1e9, t0, d;
	bool ok;
	int i;

	for (i = 0; i < 3; i++) {
		t0 = now_ms();
		assert_int_equal(auth_lmdb_verify(t->db, login, password,
		    account, &ok, &error), 0);
		d = now_ms() - t0;
		if (d < best)
			best = d;
	}
	return best;
}

/*
 * An unknown login costs one default-scheme hash, like a real one: a
 * yescrypt hash takes milliseconds, a lookup alone microseconds, so a
 * ratio far from 1 shows the difference without depending on the speed
 * of the machine.
 */
static void
test_unknown_costs_a_hash(void **state)
{
	struct tdb *t = *state;
	char hash[AUTH_LMDB_HASH_MAX + 1];
	double known, unknown, invalid, alias;

	assert_int_equal(auth_lmdb_hash_new("yes-pw", hash, sizeof(hash)), 0);
	OP(t, 0, auth_lmdb_user_add, "yes@example.com", hash);
	known = min_verify_ms(t, "yes@example.com", "wrong");
	unknown = min_verify_ms(t, "nobody@example.com", "wrong");
	invalid = min_verify_ms(t, "not an address", "wrong");
	alias = min_verify_ms(t, "info@example.com", "wrong");
	print_message("# yescrypt verify: known %.2f ms, unknown %.2f ms, "
	    "invalid %.2f ms, alias %.2f ms\n", known, unknown, invalid,
	    alias);
	assert_true(known > 0.5);
	assert_true(unknown > known * 0.3);
	assert_true(invalid > known * 0.3);
	assert_true(alias > known * 0.3);
}

static void
test_damaged_user(void **state)
{
	struct tdb *t = *state;
	char account[AUTH_LMDB_ADDRESS_MAX + 1];
	const char *error = "";
	uint8_t rec[] = { 7, 0, '$', '5', '$' };
	MDB_txn *txn;
	MDB_val k = { 17, "alice@example.com" }, v = { sizeof(rec), rec };
	bool ok = true;

	assert_int_equal(mdb_txn_begin(t->db->env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_put(txn, t->db->users, &k, &v, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	assert_int_equal(auth_lmdb_verify(t->db, "alice@example.com",
	    "alice-pw", account, &ok, &error), POSTA_ECORRUPT);
	assert_false(ok);
	assert_non_null(strstr(error, "damaged"));
}

/* ---- opening ---- */

static void
expect_open(const char *path, unsigned flags, int want, const char *why)
{
	struct auth_lmdb_db *db = NULL;
	const char *error = "";
	int ret;

	ret = auth_lmdb_db_open(path, 0, flags, &db, &error);
	if (ret != want)
		fail_msg("open %s (flags %u): %d (%s), expected %d", path,
		    flags, ret, error, want);
	if (want == 0) {
		assert_non_null(db);
		auth_lmdb_db_close(&db);
		return;
	}
	assert_null(db);
	if (strstr(error, why) == NULL)
		fail_msg("open %s: error '%s' lacks '%s'", path, error, why);
}

static void
write_file(const char *dir, const char *name, const void *data, size_t len)
{
	char p[600];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static void
test_open_missing(void **state)
{
	struct tdb t;

	assert_int_equal(tdb_init(&t, false, 0), 0);
	expect_open(t.path, AUTH_LMDB_OPEN_RDONLY, -ENOENT,
	    "posta domain add");
	expect_open(t.path, 0, -ENOENT, "posta domain add");
	/* a directory without data.mdb is just as missing */
	assert_int_equal(mkdir(t.path, 0700), 0);
	expect_open(t.path, AUTH_LMDB_OPEN_RDONLY, -ENOENT,
	    "posta domain add");
	/* create, then it opens read-only */
	expect_open(t.path, AUTH_LMDB_OPEN_CREATE, 0, NULL);
	expect_open(t.path, AUTH_LMDB_OPEN_RDONLY, 0, NULL);
	/* a file where the directory should be */
	tdb_rm_rf(t.path);
	write_file(t.dir, "auth", "x", 1);
	expect_open(t.path, AUTH_LMDB_OPEN_RDONLY, -ENOTDIR, "directory");
	tdb_deinit(&t);
}

static void
test_open_garbage(void **state)
{
	struct tdb t;
	static uint8_t junk[65536];
	size_t i;
	uint32_t x = 12345;

	for (i = 0; i < sizeof(junk); i++) {
		x = x * 1103515245 + 12345;
		junk[i] = (uint8_t)(x >> 16);
	}
	assert_int_equal(tdb_init(&t, false, 0), 0);
	assert_int_equal(mkdir(t.path, 0700), 0);
	write_file(t.path, "data.mdb", "", 0);
	expect_open(t.path, AUTH_LMDB_OPEN_RDONLY, POSTA_ECORRUPT, "empty");
	write_file(t.path, "data.mdb", junk, sizeof(junk));
	expect_open(t.path, AUTH_LMDB_OPEN_RDONLY, POSTA_ECORRUPT,
	    "not an LMDB database");
	expect_open(t.path, AUTH_LMDB_OPEN_CREATE, POSTA_ECORRUPT,
	    "not an LMDB database");
	/* a few bytes only */
	write_file(t.path, "data.mdb", junk, 100);
	expect_open(t.path, AUTH_LMDB_OPEN_RDONLY, POSTA_ECORRUPT, "");
	tdb_deinit(&t);
}

static void
test_open_foreign(void **state)
{
	struct tdb t;
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = { 3, "key" }, v = { 5, "value" };

	assert_int_equal(tdb_init(&t, false, 0), 0);
	assert_int_equal(mkdir(t.path, 0700), 0);
	/* somebody else's LMDB environment */
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_open(env, t.path, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
	assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	expect_open(t.path, AUTH_LMDB_OPEN_RDONLY, POSTA_ECORRUPT,
	    "not a posta auth database");
	/* and we do not move in even when asked to create */
	expect_open(t.path, AUTH_LMDB_OPEN_CREATE, POSTA_ECORRUPT,
	    "not a posta auth database");
	tdb_deinit(&t);
}

static void
test_open_newer_schema(void **state)
{
	struct tdb t;
	MDB_txn *txn;
	MDB_val k = { 6, "schema" };
	uint8_t v99[4] = { 0, 0, 0, 99 };
	MDB_val v = { sizeof(v99), v99 };

	assert_int_equal(tdb_init(&t, true, 0), 0);
	assert_int_equal(mdb_txn_begin(t.db->env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_put(txn, t.db->meta, &k, &v, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	auth_lmdb_db_close(&t.db);
	expect_open(t.path, AUTH_LMDB_OPEN_RDONLY, POSTA_ECORRUPT, "schema");
	expect_open(t.path, AUTH_LMDB_OPEN_CREATE, POSTA_ECORRUPT, "schema");
	tdb_deinit(&t);
}

static void
test_open_truncated(void **state)
{
	struct tdb t;
	char p[600];
	char user[64];
	struct auth_lmdb_txn *txn;
	const char *error;
	int i;

	assert_int_equal(tdb_init(&t, true, 0), 0);
	OP(&t, 0, auth_lmdb_domain_add, "example.com");
	assert_int_equal(auth_lmdb_txn_begin(t.db, NULL, true, &txn, &error),
	    0);
	for (i = 0; i < 2000; i++) {
		snprintf(user, sizeof(user), "user%d@example.com", i);
		assert_int_equal(auth_lmdb_user_add(txn, user, TEST_HASH,
		    &error), 0);
	}
	assert_int_equal(auth_lmdb_txn_commit(&txn, &error), 0);
	auth_lmdb_db_close(&t.db);
	/* the meta pages survive, the pages they point at do not */
	snprintf(p, sizeof(p), "%s/data.mdb", t.path);
	assert_int_equal(truncate(p, 3 * 4096), 0);
	expect_open(t.path, AUTH_LMDB_OPEN_RDONLY, POSTA_ECORRUPT,
	    "truncated");
	tdb_deinit(&t);
}

static void
test_readonly(void **state)
{
	struct tdb *t = *state;
	struct auth_lmdb_db *ro = NULL;
	struct auth_lmdb_txn *txn;
	const char *error = "";

	/* one environment per process: close the writer first */
	auth_lmdb_db_close(&t->db);
	assert_int_equal(auth_lmdb_db_open(t->path, 0, AUTH_LMDB_OPEN_RDONLY,
	    &ro, &error), 0);
	assert_int_equal(auth_lmdb_txn_begin(ro, NULL, true, &txn, &error),
	    -EROFS);
	assert_null(txn);
	t->db = ro;
	check_verify(t, "alice@example.com", "alice-pw", true,
	    "alice@example.com");
	assert_string_equal(auth_lmdb_db_path(ro), t->path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_schemes),
		T(test_failures),
		T(test_longest_password),
		cmocka_unit_test(test_hash_new),
		T(test_unknown_costs_a_hash),
		T(test_damaged_user),
		cmocka_unit_test(test_open_missing),
		cmocka_unit_test(test_open_garbage),
		cmocka_unit_test(test_open_foreign),
		cmocka_unit_test(test_open_newer_schema),
		cmocka_unit_test(test_open_truncated),
		T(test_readonly),
#undef T
	};

	return cmocka_run_group_tests_name("auth_lmdb_verify", tests, NULL,
	    NULL);
}
