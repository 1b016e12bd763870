/* test_auth_lmdb_resolve.c: resolution and the admin rules */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "arena.h"
#include "auth_lmdb_priv.h"
#include "test_auth_lmdb.h"

static int
setup(void **state)
{
	struct tdb *t = calloc(1, sizeof(*t));

	if (t == NULL || tdb_init(t, true, 0) < 0)
		return -1;
	OP(t, 0, auth_lmdb_domain_add, "example.com");
	OP(t, 0, auth_lmdb_domain_add, "example.org");
	OP(t, 0, auth_lmdb_alias_domain_add, "example.net", "example.com");
	OP(t, 0, auth_lmdb_user_add, "alice@example.com", TEST_HASH);
	OP(t, 0, auth_lmdb_user_add, "bob@example.com", TEST_HASH);
	OP(t, 0, auth_lmdb_user_add, "carol@example.org", TEST_HASH);
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
join(char *buf, size_t size, const char *const *v, size_t n)
{
	size_t i;

	buf[0] = '\0';
	for (i = 0; i < n; i++) {
		if (i > 0)
			strncat(buf, ",", size - strlen(buf) - 1);
		strncat(buf, v[i], size - strlen(buf) - 1);
	}
}

/*
 * Resolves address and checks the kind, the account and external lists
 * ("a,b" in order, "" for none) and the notes.
 */
static void
check_resolve_depth(struct tdb *t, const char *address, unsigned depth,
    enum posta_resolve_kind kind, const char *accounts, const char *external,
    unsigned notes)
{
	struct posta_resolution res;
	struct arena *a = arena_new(1024, 1 << 20);
	const char *error = "";
	char got[4096];
	unsigned got_notes;
	int ret;

	assert_non_null(a);
	ret = auth_lmdb_resolve(t->db, address, depth, a, &res, &got_notes,
	    &error);
	if (ret != 0)
		fail_msg("resolve %s: %d %s", address, ret, error);
	if (res.kind != kind)
		fail_msg("resolve %s: kind %d, expected %d", address,
		    (int)res.kind, (int)kind);
	join(got, sizeof(got), res.accounts, res.n_accounts);
	if (strcmp(got, accounts) != 0)
		fail_msg("resolve %s: accounts '%s', expected '%s'", address,
		    got, accounts);
	join(got, sizeof(got), res.external, res.n_external);
	if (strcmp(got, external) != 0)
		fail_msg("resolve %s: external '%s', expected '%s'", address,
		    got, external);
	if (got_notes != notes)
		fail_msg("resolve %s: notes %u, expected %u", address,
		    got_notes, notes);
	arena_free(&a);
}

static void
check_resolve(struct tdb *t, const char *address,
    enum posta_resolve_kind kind, const char *accounts, const char *external,
    unsigned notes)
{
	check_resolve_depth(t, address, AUTH_LMDB_DEPTH_DEFAULT, kind,
	    accounts, external, notes);
}

static void
check_resolve_err(struct tdb *t, const char *address, unsigned depth,
    int want)
{
	struct posta_resolution res;
	struct arena *a = arena_new(1024, 1 << 20);
	const char *error = "";
	unsigned notes;
	int ret;

	assert_non_null(a);
	ret = auth_lmdb_resolve(t->db, address, depth, a, &res, &notes,
	    &error);
	if (ret != want)
		fail_msg("resolve %s: %d (%s), expected %d", address, ret,
		    error, want);
	arena_free(&a);
}

#define LOCAL POSTA_RESOLVE_LOCAL
#define UNKNOWN POSTA_RESOLVE_UNKNOWN
#define EXTERNAL POSTA_RESOLVE_EXTERNAL

static void
test_users(void **state)
{
	struct tdb *t = *state;

	check_resolve(t, "alice@example.com", LOCAL, "alice@example.com", "",
	    0);
	check_resolve(t, "ALICE@Example.Com", LOCAL, "alice@example.com", "",
	    0);
	check_resolve(t, "carol@example.org", LOCAL, "carol@example.org", "",
	    0);
	check_resolve(t, "nobody@example.com", UNKNOWN, "", "", 0);
	/* a disabled user cannot log in but still receives mail */
	OP(t, 0, auth_lmdb_user_set_disabled, "bob@example.com", true);
	check_resolve(t, "bob@example.com", LOCAL, "bob@example.com", "", 0);
}

static void
test_external_and_syntax(void **state)
{
	struct tdb *t = *state;

	check_resolve(t, "someone@elsewhere.test", EXTERNAL, "", "", 0);
	check_resolve(t, "Someone@ELSEWHERE.test", EXTERNAL, "", "", 0);
	/* a sub-domain of ours is not ours */
	check_resolve(t, "alice@mail.example.com", EXTERNAL, "", "", 0);
	/* a local part we would never store: not ours to judge elsewhere,
	   unknown here */
	check_resolve(t, "\"john doe\"@elsewhere.test", EXTERNAL, "", "", 0);
	check_resolve(t, "\"alice\"@example.com", UNKNOWN, "", "", 0);
	check_resolve(t, "a..b@example.net", UNKNOWN, "", "", 0);
	check_resolve(t, "no-at-sign", UNKNOWN, "", "", 0);
	check_resolve(t, "x@[127.0.0.1]", UNKNOWN, "", "", 0);
	check_resolve(t, "", UNKNOWN, "", "", 0);
}

static void
test_alias_domain(void **state)
{
	struct tdb *t = *state;
	const char *info[] = { "alice@example.com", "bob@example.com" };

	check_resolve(t, "alice@example.net", LOCAL, "alice@example.com", "",
	    0);
	check_resolve(t, "Bob@EXAMPLE.NET", LOCAL, "bob@example.com", "", 0);
	check_resolve(t, "nobody@example.net", UNKNOWN, "", "", 0);
	OP(t, 0, auth_lmdb_alias_add, "info@example.com", info, 2);
	check_resolve(t, "info@example.net", LOCAL,
	    "alice@example.com,bob@example.com", "", 0);
	/* an alias target written in the alias domain */
	{
		const char *t1[] = { "alice@example.net" };

		OP(t, 0, auth_lmdb_alias_add, "a1@example.org", t1, 1);
		check_resolve(t, "a1@example.org", LOCAL,
		    "alice@example.com", "", 0);
	}
	/* once the alias domain goes, its addresses are foreign */
	OP(t, 0, auth_lmdb_alias_domain_del, "example.net");
	check_resolve(t, "alice@example.net", EXTERNAL, "", "", 0);
	check_resolve(t, "a1@example.org", LOCAL, "", "alice@example.net", 0);
}

static void
test_alias_chains(void **state)
{
	struct tdb *t = *state;
	const char *a[] = { "alice@example.com", "friend@elsewhere.test" };
	const char *b[] = { "list1@example.com", "bob@example.com",
		"Alice@Example.com" };
	const char *c[] = { "list2@example.com", "carol@example.org",
		"friend@elsewhere.test" };

	OP(t, 0, auth_lmdb_alias_add, "list1@example.com", a, 2);
	check_resolve(t, "list1@example.com", LOCAL, "alice@example.com",
	    "friend@elsewhere.test", 0);
	/* alice appears twice (directly and through list1): listed once */
	OP(t, 0, auth_lmdb_alias_add, "list2@example.com", b, 3);
	check_resolve(t, "list2@example.com", LOCAL,
	    "alice@example.com,bob@example.com", "friend@elsewhere.test", 0);
	OP(t, 0, auth_lmdb_alias_add, "list3@example.org", c, 3);
	check_resolve(t, "list3@example.org", LOCAL,
	    "alice@example.com,bob@example.com,carol@example.org",
	    "friend@elsewhere.test", 0);
	/* diamond: list4 -> list1, list2 (which includes list1 again) */
	{
		const char *d[] = { "list1@example.com",
			"list2@example.com" };

		OP(t, 0, auth_lmdb_alias_add, "list4@example.com", d, 2);
		check_resolve(t, "list4@example.com", LOCAL,
		    "alice@example.com,bob@example.com",
		    "friend@elsewhere.test", 0);
	}
	/* only external targets: still ours, nothing local */
	{
		const char *e[] = { "x@elsewhere.test", "y@other.test" };

		OP(t, 0, auth_lmdb_alias_add, "fwd@example.com", e, 2);
		check_resolve(t, "FWD@example.com", LOCAL, "",
		    "x@elsewhere.test,y@other.test", 0);
	}
	/* a deleted target user leaves nothing behind */
	{
		const char *e[] = { "bob@example.com" };

		OP(t, 0, auth_lmdb_alias_add, "bobby@example.com", e, 1);
		OP(t, 0, auth_lmdb_user_del, "bob@example.com");
		check_resolve(t, "bobby@example.com", UNKNOWN, "", "", 0);
		check_resolve(t, "list2@example.com", LOCAL,
		    "alice@example.com", "friend@elsewhere.test", 0);
	}
}

static void
test_loops(void **state)
{
	struct tdb *t = *state;
	const char *to_alice[] = { "alice@example.com" };
	const char *to_a[] = { "a@example.com" };
	const char *to_b[] = { "b@example.com" };
	const char *to_self[] = { "a@example.com" };
	const char *to_self_alias_domain[] = { "a@example.net" };

	OP(t, 0, auth_lmdb_alias_add, "a@example.com", to_alice, 1);
	OP(t, 0, auth_lmdb_alias_add, "b@example.com", to_a, 1);
	/* an alias cannot name itself, not even through an alias domain */
	OP(t, -EINVAL, auth_lmdb_alias_add, "a@example.com", to_self, 1);
	OP(t, -EINVAL, auth_lmdb_alias_add, "a@example.com",
	    to_self_alias_domain, 1);
	/* but a -> b -> a can be built step by step */
	OP(t, 0, auth_lmdb_alias_add, "a@example.com", to_b, 1);
	check_resolve(t, "a@example.com", LOCAL, "alice@example.com", "",
	    AUTH_LMDB_NOTE_LOOP);
	check_resolve(t, "b@example.com", LOCAL, "alice@example.com", "",
	    AUTH_LMDB_NOTE_LOOP);
	/* without alice the loop holds nothing at all */
	OP(t, 0, auth_lmdb_alias_del, "a@example.com", "alice@example.com");
	check_resolve(t, "a@example.com", UNKNOWN, "", "",
	    AUTH_LMDB_NOTE_LOOP);
	check_resolve(t, "b@example.net", UNKNOWN, "", "",
	    AUTH_LMDB_NOTE_LOOP);
}

/* aliases c0 -> c1 -> ... -> c<n-1> -> alice */
static void
make_chain(struct tdb *t, const char *prefix, unsigned n)
{
	char from[64], to[64];
	const char *targets[1] = { to };
	unsigned i;

	for (i = n; i-- > 0;) {
		snprintf(from, sizeof(from), "%s%u@example.com", prefix, i);
		if (i == n - 1)
			snprintf(to, sizeof(to), "alice@example.com");
		else
			snprintf(to, sizeof(to), "%s%u@example.com", prefix,
			    i + 1);
		OP(t, 0, auth_lmdb_alias_add, from, targets, 1);
	}
}

static void
test_depth_bound(void **state)
{
	struct tdb *t = *state;

	/* 8 aliases: alice is 8 alias hops away, the default bound */
	make_chain(t, "c", 8);
	check_resolve(t, "c0@example.com", LOCAL, "alice@example.com", "",
	    0);
	check_resolve_depth(t, "c1@example.com", 7, LOCAL,
	    "alice@example.com", "", 0);
	check_resolve_err(t, "c0@example.com", 7, -ELOOP);
	check_resolve_err(t, "c0@example.com", 1, -ELOOP);
	check_resolve_depth(t, "c7@example.com", 1, LOCAL,
	    "alice@example.com", "", 0);
	/* 9 aliases: one hop too many for the default */
	make_chain(t, "d", 9);
	check_resolve_err(t, "d0@example.com", AUTH_LMDB_DEPTH_DEFAULT,
	    -ELOOP);
	check_resolve_depth(t, "d0@example.com", 9, LOCAL,
	    "alice@example.com", "", 0);
	/* through an alias domain the bound is the same */
	check_resolve_err(t, "d0@example.net", AUTH_LMDB_DEPTH_DEFAULT,
	    -ELOOP);
	/* an out-of-range bound is clamped, not trusted */
	check_resolve_depth(t, "d0@example.com", 100000, LOCAL,
	    "alice@example.com", "", 0);
}

static void
test_catchall(void **state)
{
	struct tdb *t = *state;
	const char *sales[] = { "bob@example.com", "boss@elsewhere.test" };

	check_resolve(t, "random@example.com", UNKNOWN, "", "", 0);
	OP(t, 0, auth_lmdb_catchall_set, "example.com", "alice@example.com");
	check_resolve(t, "random@example.com", LOCAL, "alice@example.com", "",
	    0);
	/* also for the alias domain's addresses, and users still win */
	check_resolve(t, "random@example.net", LOCAL, "alice@example.com", "",
	    0);
	check_resolve(t, "bob@example.com", LOCAL, "bob@example.com", "", 0);
	/* other domains have none */
	check_resolve(t, "random@example.org", UNKNOWN, "", "", 0);
	/* a catch-all to an alias */
	OP(t, 0, auth_lmdb_alias_add, "sales@example.com", sales, 2);
	OP(t, 0, auth_lmdb_catchall_set, "example.org", "sales@example.com");
	check_resolve(t, "random@example.org", LOCAL, "bob@example.com",
	    "boss@elsewhere.test", 0);
	/* a catch-all to an external address */
	OP(t, 0, auth_lmdb_catchall_set, "example.org", "x@elsewhere.test");
	check_resolve(t, "random@example.org", LOCAL, "", "x@elsewhere.test",
	    0);
	/* a catch-all to an unknown local address may not be set */
	OP(t, POSTA_ENOTFOUND, auth_lmdb_catchall_set, "example.org",
	    "nobody@example.com");
	OP(t, -EINVAL, auth_lmdb_catchall_set, "example.net",
	    "alice@example.com");
	OP(t, POSTA_ENOTFOUND, auth_lmdb_catchall_set, "nowhere.test",
	    "alice@example.com");
	OP(t, 0, auth_lmdb_catchall_unset, "example.org");
	OP(t, POSTA_ENOTFOUND, auth_lmdb_catchall_unset, "example.org");
	check_resolve(t, "random@example.org", UNKNOWN, "", "", 0);
}

static void
test_catchall_loop(void **state)
{
	struct tdb *t = *state;
	const char *to_y[] = { "y@example.com" };

	/* example.com's catch-all -> x@example.org -> y@example.com, and
	   y then goes away: y now falls to the catch-all again */
	OP(t, 0, auth_lmdb_user_add, "y@example.com", TEST_HASH);
	OP(t, 0, auth_lmdb_alias_add, "x@example.org", to_y, 1);
	OP(t, 0, auth_lmdb_catchall_set, "example.com", "x@example.org");
	check_resolve(t, "zzz@example.com", LOCAL, "y@example.com", "", 0);
	OP(t, 0, auth_lmdb_user_del, "y@example.com");
	check_resolve(t, "zzz@example.com", UNKNOWN, "", "",
	    AUTH_LMDB_NOTE_LOOP);
	check_resolve(t, "x@example.org", UNKNOWN, "", "",
	    AUTH_LMDB_NOTE_LOOP);
}

static void
test_fanout_bounds(void **state)
{
	struct tdb *t = *state;
	struct posta_resolution res;
	static char names[AUTH_LMDB_TARGETS_MAX][40];
	static const char *targets[AUTH_LMDB_TARGETS_MAX];
	struct auth_lmdb_txn *txn;
	struct arena *a;
	const char *error = "";
	unsigned notes, i;

	/* 1000 external targets: fine */
	for (i = 0; i < AUTH_LMDB_TARGETS_MAX; i++) {
		snprintf(names[i], sizeof(names[i]), "u%u@elsewhere.test", i);
		targets[i] = names[i];
	}
	OP(t, 0, auth_lmdb_alias_add, "big@example.com", targets,
	    AUTH_LMDB_TARGETS_MAX);
	a = arena_new(1024, 1 << 20);
	assert_int_equal(auth_lmdb_resolve(t->db, "big@example.com", 8, a,
	    &res, &notes, &error), 0);
	assert_int_equal(res.n_external, AUTH_LMDB_TARGETS_MAX);
	assert_string_equal(res.external[999], "u999@elsewhere.test");
	arena_free(&a);
	/* the same in a tiny arena: a clean error, not a crash */
	a = arena_new(256, 4096);
	assert_int_equal(auth_lmdb_resolve(t->db, "big@example.com", 8, a,
	    &res, &notes, &error), -E2BIG);
	arena_free(&a);
	/* one more target is refused */
	{
		const char *one[] = { "more@elsewhere.test" };

		OP(t, -E2BIG, auth_lmdb_alias_add, "big@example.com", one, 1);
	}
	/* 1000 aliases of one target each: 2001 addresses to visit */
	assert_int_equal(auth_lmdb_txn_begin(t->db, NULL, true, &txn,
	    &error), 0);
	for (i = 0; i < AUTH_LMDB_TARGETS_MAX; i++) {
		const char *one[] = { "alice@example.com" };

		snprintf(names[i], sizeof(names[i]), "f%u@example.com", i);
		assert_int_equal(auth_lmdb_alias_add(txn, names[i], one, 1,
		    &error), 0);
	}
	assert_int_equal(auth_lmdb_alias_add(txn, "fan@example.com",
	    targets, AUTH_LMDB_TARGETS_MAX, &error), 0);
	assert_int_equal(auth_lmdb_txn_commit(&txn, &error), 0);
	check_resolve_err(t, "fan@example.com", 8, -E2BIG);
}

static void
test_damaged_records(void **state)
{
	struct tdb *t = *state;
	struct posta_resolution res;
	struct arena *a = arena_new(1024, 1 << 20);
	const char *error = "";
	unsigned notes;
	MDB_txn *txn;
	MDB_val k, v;
	uint8_t bad_alias[] = { AUTH_LMDB_REC_VERSION, 0, 2, 0, 3, 'a', '@',
		'b' };	/* says two targets, holds one */
	uint8_t new_version[] = { 99, 'x', '@', 'y' };

	assert_int_equal(mdb_txn_begin(t->db->env, NULL, 0, &txn), 0);
	k.mv_data = "broken@example.com";
	k.mv_size = strlen(k.mv_data);
	v.mv_data = bad_alias;
	v.mv_size = sizeof(bad_alias);
	assert_int_equal(mdb_put(txn, t->db->aliases, &k, &v, 0), 0);
	k.mv_data = "example.com";
	k.mv_size = strlen(k.mv_data);
	v.mv_data = new_version;
	v.mv_size = sizeof(new_version);
	assert_int_equal(mdb_put(txn, t->db->catchall, &k, &v, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);

	assert_int_equal(auth_lmdb_resolve(t->db, "broken@example.com", 8, a,
	    &res, &notes, &error), POSTA_ECORRUPT);
	assert_non_null(strstr(error, "damaged"));
	assert_int_equal(auth_lmdb_resolve(t->db, "unknown@example.com", 8,
	    a, &res, &notes, &error), POSTA_ECORRUPT);
	/* everything else still answers */
	assert_int_equal(auth_lmdb_resolve(t->db, "alice@example.com", 8, a,
	    &res, &notes, &error), 0);
	assert_int_equal(res.kind, POSTA_RESOLVE_LOCAL);
	arena_free(&a);
}

/* ---- admin rules ---- */

static void
test_admin_domains(void **state)
{
	struct tdb *t = *state;

	OP(t, POSTA_EEXIST, auth_lmdb_domain_add, "example.com");
	OP(t, POSTA_EEXIST, auth_lmdb_domain_add, "EXAMPLE.com");
	OP(t, POSTA_EEXIST, auth_lmdb_domain_add, "example.net");
	OP(t, POSTA_ENAME, auth_lmdb_domain_add, "bad_domain");
	OP(t, POSTA_ENAME, auth_lmdb_domain_add, "");
	OP(t, POSTA_ENOTFOUND, auth_lmdb_domain_del, "nowhere.test", false);
	OP(t, -EINVAL, auth_lmdb_domain_del, "example.net", false);
	OP(t, -EBUSY, auth_lmdb_domain_del, "example.com", false);
	OP(t, -EBUSY, auth_lmdb_domain_del, "example.org", false);

	OP(t, POSTA_EEXIST, auth_lmdb_alias_domain_add, "example.net",
	    "example.org");
	OP(t, POSTA_EEXIST, auth_lmdb_alias_domain_add, "example.org",
	    "example.com");
	OP(t, -EINVAL, auth_lmdb_alias_domain_add, "self.test", "self.test");
	OP(t, -EINVAL, auth_lmdb_alias_domain_add, "Self.test", "self.TEST");
	OP(t, POSTA_ENOTFOUND, auth_lmdb_alias_domain_add, "x.test",
	    "nowhere.test");
	OP(t, -EINVAL, auth_lmdb_alias_domain_add, "x.test", "example.net");
	OP(t, POSTA_ENAME, auth_lmdb_alias_domain_add, "x..test",
	    "example.com");
	OP(t, POSTA_ENOTFOUND, auth_lmdb_alias_domain_del, "x.test");
	OP(t, -EINVAL, auth_lmdb_alias_domain_del, "example.com");

	/* an empty domain goes without --force */
	OP(t, 0, auth_lmdb_domain_add, "empty.test");
	OP(t, 0, auth_lmdb_domain_del, "empty.test", false);
	OP(t, POSTA_ENOTFOUND, auth_lmdb_domain_del, "empty.test", false);
}

static int
count_user(void *ctx, const char *address, bool disabled)
{
	(*(unsigned *)ctx)++;
	return 0;
}

static int
count_alias(void *ctx, const char *address, const char *const *targets,
    size_t n)
{
	(*(unsigned *)ctx)++;
	return 0;
}

static int
count_alias_domain(void *ctx, const char *alias, const char *target)
{
	(*(unsigned *)ctx)++;
	return 0;
}

static void
test_admin_domain_force(void **state)
{
	struct tdb *t = *state;
	struct auth_lmdb_txn *txn;
	const char *to_alice[] = { "alice@example.com" };
	const char *to_carol[] = { "carol@example.org" };
	const char *error = "";
	unsigned users = 0, aliases = 0, alias_domains = 0;

	OP(t, 0, auth_lmdb_alias_add, "info@example.com", to_alice, 1);
	OP(t, 0, auth_lmdb_alias_add, "c@example.org", to_carol, 1);
	OP(t, 0, auth_lmdb_catchall_set, "example.com", "alice@example.com");
	OP(t, -EBUSY, auth_lmdb_domain_del, "example.com", false);
	OP(t, 0, auth_lmdb_domain_del, "example.com", true);
	check_resolve(t, "alice@example.com", EXTERNAL, "", "", 0);
	check_resolve(t, "alice@example.net", EXTERNAL, "", "", 0);
	check_resolve(t, "carol@example.org", LOCAL, "carol@example.org", "",
	    0);

	assert_int_equal(auth_lmdb_txn_begin(t->db, NULL, false, &txn,
	    &error), 0);
	assert_int_equal(auth_lmdb_user_foreach(txn, NULL, count_user,
	    &users), 0);
	assert_int_equal(auth_lmdb_alias_foreach(txn, NULL, count_alias,
	    &aliases), 0);
	assert_int_equal(auth_lmdb_alias_domain_foreach(txn,
	    count_alias_domain, &alias_domains), 0);
	auth_lmdb_txn_abort(&txn);
	assert_int_equal(users, 1);
	assert_int_equal(aliases, 1);
	assert_int_equal(alias_domains, 0);
	/* the name is free again, for either kind */
	OP(t, 0, auth_lmdb_alias_domain_add, "example.com", "example.org");
}

static void
test_admin_users(void **state)
{
	struct tdb *t = *state;
	char hash[AUTH_LMDB_HASH_MAX + 1];
	const char *to_alice[] = { "alice@example.com" };
	struct auth_lmdb_txn *txn;
	const char *error = "";
	bool disabled = true;

	OP(t, POSTA_EEXIST, auth_lmdb_user_add, "alice@example.com",
	    TEST_HASH);
	OP(t, POSTA_EEXIST, auth_lmdb_user_add, "ALICE@example.com",
	    TEST_HASH);
	OP(t, POSTA_ENOTFOUND, auth_lmdb_user_add, "x@nowhere.test",
	    TEST_HASH);
	OP(t, -EINVAL, auth_lmdb_user_add, "x@example.net", TEST_HASH);
	OP(t, POSTA_ENAME, auth_lmdb_user_add, "x y@example.com", TEST_HASH);
	OP(t, -EINVAL, auth_lmdb_user_add, "x@example.com", "plaintext");
	OP(t, 0, auth_lmdb_alias_add, "info@example.com", to_alice, 1);
	OP(t, POSTA_EEXIST, auth_lmdb_user_add, "info@example.com",
	    TEST_HASH);
	OP(t, POSTA_ENOTFOUND, auth_lmdb_user_del, "x@example.com");
	OP(t, POSTA_ENOTFOUND, auth_lmdb_user_set_disabled, "x@example.com",
	    true);
	OP(t, POSTA_ENOTFOUND, auth_lmdb_user_set_hash, "x@example.com",
	    TEST_HASH);
	OP(t, -EINVAL, auth_lmdb_user_set_hash, "alice@example.com", "x");

	OP(t, 0, auth_lmdb_user_set_disabled, "Alice@example.com", true);
	OP(t, 0, auth_lmdb_user_set_hash, "alice@example.com",
	    "{SHA256-CRYPT}$5$zzzzzzzz$"
	    "0123456789012345678901234567890123456789012");
	assert_int_equal(auth_lmdb_txn_begin(t->db, NULL, false, &txn,
	    &error), 0);
	assert_int_equal(auth_lmdb_user_get(txn, "alice@example.com", hash,
	    &disabled, &error), 0);
	/* the prefix is gone and the flag survived the new hash */
	assert_string_equal(hash,
	    "$5$zzzzzzzz$0123456789012345678901234567890123456789012");
	assert_true(disabled);
	/* a read transaction refuses writes */
	assert_int_equal(auth_lmdb_domain_add(txn, "ro.test", &error),
	    -EROFS);
	auth_lmdb_txn_abort(&txn);
	OP(t, 0, auth_lmdb_user_set_disabled, "alice@example.com", false);
	OP(t, 0, auth_lmdb_user_del, "alice@example.com");
	check_resolve(t, "alice@example.com", UNKNOWN, "", "", 0);
}

struct alias_seen {
	char line[4096];
};

static int
print_alias(void *ctx, const char *address, const char *const *targets,
    size_t n)
{
	struct alias_seen *s = ctx;
	char buf[2048];

	join(buf, sizeof(buf), targets, n);
	snprintf(s->line + strlen(s->line), sizeof(s->line) - strlen(s->line),
	    "%s=%s;", address, buf);
	return 0;
}

static void
test_admin_aliases(void **state)
{
	struct tdb *t = *state;
	struct alias_seen seen = { "" };
	struct auth_lmdb_txn *txn;
	const char *error = "";
	const char *t1[] = { "alice@example.com", "bob@example.com" };
	const char *t2[] = { "BOB@example.com", "x@elsewhere.test" };
	const char *t3[] = { "alice@example.com" };
	const char *unknown[] = { "nobody@example.com" };
	const char *bad[] = { "not an address" };
	const char *user[] = { "carol@example.org" };

	OP(t, 0, auth_lmdb_alias_add, "team@example.com", t1, 2);
	/* appending: bob is there already, x is new */
	OP(t, 0, auth_lmdb_alias_add, "Team@Example.com", t2, 2);
	OP(t, POSTA_EEXIST, auth_lmdb_alias_add, "team@example.com", t3, 1);
	OP(t, POSTA_ENOTFOUND, auth_lmdb_alias_add, "team@example.com",
	    unknown, 1);
	OP(t, POSTA_ENOTFOUND, auth_lmdb_alias_add, "team@example.com",
	    (const char *[]){ "nobody@example.net" }, 1);
	OP(t, POSTA_ENAME, auth_lmdb_alias_add, "team@example.com", bad, 1);
	OP(t, POSTA_EEXIST, auth_lmdb_alias_add, "alice@example.com", user,
	    1);
	OP(t, -EINVAL, auth_lmdb_alias_add, "team@example.net", t3, 1);
	OP(t, POSTA_ENOTFOUND, auth_lmdb_alias_add, "team@nowhere.test", t3,
	    1);
	OP(t, -EINVAL, auth_lmdb_alias_add, "empty@example.com", t3, 0);
	check_resolve(t, "team@example.com", LOCAL,
	    "alice@example.com,bob@example.com", "x@elsewhere.test", 0);

	OP(t, POSTA_ENOTFOUND, auth_lmdb_alias_del, "team@example.com",
	    "carol@example.org");
	OP(t, POSTA_ENOTFOUND, auth_lmdb_alias_del, "none@example.com",
	    NULL);
	OP(t, 0, auth_lmdb_alias_del, "team@example.com", "Bob@Example.com");
	OP(t, 0, auth_lmdb_alias_add, "other@example.org", t3, 1);

	assert_int_equal(auth_lmdb_txn_begin(t->db, NULL, false, &txn,
	    &error), 0);
	assert_int_equal(auth_lmdb_alias_foreach(txn, NULL, print_alias,
	    &seen), 0);
	assert_string_equal(seen.line, "other@example.org=alice@example.com;"
	    "team@example.com=alice@example.com,x@elsewhere.test;");
	seen.line[0] = '\0';
	assert_int_equal(auth_lmdb_alias_foreach(txn, "EXAMPLE.org",
	    print_alias, &seen), 0);
	assert_string_equal(seen.line, "other@example.org=alice@example.com;");
	auth_lmdb_txn_abort(&txn);

	/* removing the last targets removes the alias */
	OP(t, 0, auth_lmdb_alias_del, "team@example.com", "alice@example.com");
	OP(t, 0, auth_lmdb_alias_del, "team@example.com", "x@elsewhere.test");
	check_resolve(t, "team@example.com", UNKNOWN, "", "", 0);
	OP(t, POSTA_ENOTFOUND, auth_lmdb_alias_del, "team@example.com",
	    NULL);
	OP(t, 0, auth_lmdb_alias_del, "other@example.org", NULL);
	/* the address is free for a user again */
	OP(t, 0, auth_lmdb_user_add, "team@example.com", TEST_HASH);
}

static void
test_nested_txn(void **state)
{
	struct tdb *t = *state;
	struct auth_lmdb_txn *txn, *child;
	const char *error = "";

	assert_int_equal(auth_lmdb_txn_begin(t->db, NULL, true, &txn,
	    &error), 0);
	assert_int_equal(auth_lmdb_txn_begin(t->db, txn, true, &child,
	    &error), 0);
	assert_int_equal(auth_lmdb_domain_add(child, "gone.test", &error), 0);
	auth_lmdb_txn_abort(&child);
	assert_int_equal(auth_lmdb_txn_begin(t->db, txn, true, &child,
	    &error), 0);
	assert_int_equal(auth_lmdb_domain_add(child, "kept.test", &error), 0);
	assert_int_equal(auth_lmdb_txn_commit(&child, &error), 0);
	assert_int_equal(auth_lmdb_txn_commit(&txn, &error), 0);
	assert_int_equal(auth_lmdb_txn_begin(t->db, NULL, false, &txn,
	    &error), 0);
	assert_int_equal(auth_lmdb_domain_exists(txn, "kept.test"), 0);
	assert_int_equal(auth_lmdb_domain_exists(txn, "gone.test"),
	    POSTA_ENOTFOUND);
	/* read transactions do not nest */
	assert_int_equal(auth_lmdb_txn_begin(t->db, txn, true, &child,
	    &error), -EINVAL);
	auth_lmdb_txn_abort(&txn);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_users),
		T(test_external_and_syntax),
		T(test_alias_domain),
		T(test_alias_chains),
		T(test_loops),
		T(test_depth_bound),
		T(test_catchall),
		T(test_catchall_loop),
		T(test_fanout_bounds),
		T(test_damaged_records),
		T(test_admin_domains),
		T(test_admin_domain_force),
		T(test_admin_users),
		T(test_admin_aliases),
		T(test_nested_txn),
#undef T
	};

	return cmocka_run_group_tests_name("auth_lmdb_resolve", tests, NULL,
	    NULL);
}
