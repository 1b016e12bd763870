/* test_auth_lmdb_concurrent.c: admin writes while lookups run */
#include "config.h"

#include <crypt.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "arena.h"
#include "test_auth_lmdb.h"

#define WRITES		300	/* writer iterations */
#define READERS		2
#define READS_MAX	200000	/* per reader, in case the writer stalls */

struct shared {
	struct auth_lmdb_db *db;
	atomic_uint committed;	/* users w0..w<committed-1> are visible */
	atomic_bool done;
	char hash[CRYPT_OUTPUT_SIZE];
	/* first failure, reported by the main thread (cmocka is not
	   thread-safe) */
	pthread_mutex_t lock;
	char failure[512];
	unsigned reads[READERS];
};

static void
fail_once(struct shared *s, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&s->lock);
	if (s->failure[0] == '\0') {
		va_start(ap, fmt);
		vsnprintf(s->failure, sizeof(s->failure), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&s->lock);
	atomic_store(&s->done, true);
}

/*
 * Each iteration adds user wN, appends it to the alias all@, and moves
 * the alias recent@ from w(N-1) to wN; every step is its own commit, as
 * separate posta commands would be.
 */
static void *
writer(void *arg)
{
	struct shared *s = arg;
	struct auth_lmdb_txn *txn;
	char user[64], prev[64];
	const char *targets[1] = { user };
	const char *error = "";
	unsigned i;
	int ret;

	for (i = 0; i < WRITES && !atomic_load(&s->done); i++) {
		snprintf(user, sizeof(user), "w%u@example.com", i);
		snprintf(prev, sizeof(prev), "w%u@example.com", i - 1);
		ret = auth_lmdb_txn_begin(s->db, NULL, true, &txn, &error);
		if (ret == 0 && (ret = auth_lmdb_user_add(txn, user, TEST_HASH,
		    &error)) == 0 && (ret = auth_lmdb_alias_add(txn,
		    "all@example.com", targets, 1, &error)) == 0)
			ret = auth_lmdb_txn_commit(&txn, &error);
		else
			auth_lmdb_txn_abort(&txn);
		if (ret < 0) {
			fail_once(s, "writer %u: %s", i, error);
			break;
		}
		atomic_store(&s->committed, i + 1);
		ret = auth_lmdb_txn_begin(s->db, NULL, true, &txn, &error);
		if (ret == 0 && (ret = auth_lmdb_alias_add(txn,
		    "recent@example.com", targets, 1, &error)) == 0 &&
		    (i == 0 || (ret = auth_lmdb_alias_del(txn,
		    "recent@example.com", prev, &error)) == 0))
			ret = auth_lmdb_txn_commit(&txn, &error);
		else
			auth_lmdb_txn_abort(&txn);
		if (ret < 0) {
			fail_once(s, "writer recent %u: %s", i, error);
			break;
		}
	}
	atomic_store(&s->done, true);
	return NULL;
}

struct reader_arg {
	struct shared *s;
	unsigned id;
};

static void
read_once(struct shared *s, unsigned n, struct arena *a)
{
	struct posta_resolution res;
	char addr[64], account[AUTH_LMDB_ADDRESS_MAX + 1];
	const char *error = "";
	unsigned before, after, notes;
	bool ok;
	int ret;

	before = atomic_load(&s->committed);
	/* a committed user is always there */
	if (before > 0) {
		snprintf(addr, sizeof(addr), "w%u@example.com",
		    n % before);
		ret = auth_lmdb_resolve(s->db, addr, 8, a, &res, &notes,
		    &error);
		if (ret != 0 || res.kind != POSTA_RESOLVE_LOCAL ||
		    res.n_accounts != 1 ||
		    strcmp(res.accounts[0], addr) != 0) {
			fail_once(s, "resolve %s: %d %s kind %d", addr, ret,
			    error, (int)res.kind);
			return;
		}
	}
	/* all@ is one snapshot: between the counts seen around it */
	ret = auth_lmdb_resolve(s->db, "all@example.com", 8, a, &res, &notes,
	    &error);
	after = atomic_load(&s->committed);
	if (ret != 0 || (before > 0 && (res.kind != POSTA_RESOLVE_LOCAL ||
	    res.n_accounts < before || res.n_accounts > after + 1))) {
		fail_once(s, "resolve all@: %d %s kind %d n %zu (%u..%u)",
		    ret, error, (int)res.kind, res.n_accounts, before, after);
		return;
	}
	/* recent@ always holds one or two users, never an error */
	ret = auth_lmdb_resolve(s->db, "recent@example.com", 8, a, &res,
	    &notes, &error);
	if (ret != 0 || (res.kind == POSTA_RESOLVE_LOCAL &&
	    (res.n_accounts < 1 || res.n_accounts > 2))) {
		fail_once(s, "resolve recent@: %d %s", ret, error);
		return;
	}
	/* logins go on as well */
	if (n % 64 == 0) {
		ret = auth_lmdb_verify(s->db, "fixed@example.com", "fixed-pw",
		    account, &ok, &error);
		if (ret != 0 || !ok)
			fail_once(s, "verify fixed@: %d %s", ret, error);
	}
}

static void *
reader(void *arg)
{
	struct reader_arg *ra = arg;
	struct shared *s = ra->s;
	struct arena *a = arena_new(4096, 1 << 20);
	unsigned n;

	if (a == NULL) {
		fail_once(s, "reader %u: no memory", ra->id);
		return NULL;
	}
	for (n = 0; n < READS_MAX && !atomic_load(&s->done); n++) {
		read_once(s, n * 7919 + ra->id, a);
		arena_reset(a);
	}
	/* once more after the last commit */
	read_once(s, n, a);
	s->reads[ra->id] = n;
	arena_free(&a);
	return NULL;
}

static void
test_writer_and_readers(void **state)
{
	struct tdb t;
	struct shared *s = calloc(1, sizeof(*s));
	struct reader_arg ra[READERS];
	pthread_t w, r[READERS];
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	unsigned i;

	assert_non_null(s);
	assert_non_null(cd);
	assert_int_equal(tdb_init(&t, true, 0), 0);
	OP(&t, 0, auth_lmdb_domain_add, "example.com");
	assert_non_null(crypt_gensalt_rn("$5$", 1000, NULL, 0, setting,
	    sizeof(setting)));
	strcpy(s->hash, crypt_r("fixed-pw", setting, cd));
	free(cd);
	OP(&t, 0, auth_lmdb_user_add, "fixed@example.com", s->hash);
	s->db = t.db;
	pthread_mutex_init(&s->lock, NULL);

	for (i = 0; i < READERS; i++) {
		ra[i].s = s;
		ra[i].id = i;
		assert_int_equal(pthread_create(&r[i], NULL, reader, &ra[i]),
		    0);
	}
	assert_int_equal(pthread_create(&w, NULL, writer, s), 0);
	pthread_join(w, NULL);
	for (i = 0; i < READERS; i++)
		pthread_join(r[i], NULL);
	pthread_mutex_destroy(&s->lock);
	if (s->failure[0] != '\0')
		fail_msg("%s", s->failure);
	assert_int_equal(atomic_load(&s->committed), WRITES);
	print_message("# %u writes, %u + %u lookups rounds\n", WRITES,
	    s->reads[0], s->reads[1]);
	free(s);
	tdb_deinit(&t);
}

/*
 * Another process (the admin command) grows the file beyond the map this
 * process opened with: the next lookup adopts the larger map instead of
 * failing with MDB_MAP_RESIZED.
 */
static void
test_map_grown_by_other_process(void **state)
{
	struct tdb t;
	struct posta_resolution res;
	struct arena *a = arena_new(4096, 1 << 20);
	const char *error = "";
	unsigned notes;
	pid_t pid;
	int status;

	assert_int_equal(tdb_init(&t, true, 1 << 20), 0);
	OP(&t, 0, auth_lmdb_domain_add, "example.com");
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* a separate environment handle, as posta(8) has; the
		   parent's is never touched here (not even closed: that
		   would clear the parent's reader slots) */
		struct auth_lmdb_db *db;
		struct auth_lmdb_txn *txn;
		char user[64];
		int i;

		if (auth_lmdb_db_open(t.path, 64 << 20, AUTH_LMDB_OPEN_CREATE,
		    &db, &error) < 0 || auth_lmdb_txn_begin(db, NULL, true,
		    &txn, &error) < 0)
			_exit(1);
		for (i = 0; i < 20000; i++) {
			snprintf(user, sizeof(user), "grown%d@example.com",
			    i);
			if (auth_lmdb_user_add(txn, user, TEST_HASH,
			    &error) < 0)
				_exit(2);
		}
		if (auth_lmdb_txn_commit(&txn, &error) < 0)
			_exit(3);
		auth_lmdb_db_close(&db);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(auth_lmdb_resolve(t.db, "grown19999@example.com", 8,
	    a, &res, &notes, &error), 0);
	assert_int_equal(res.kind, POSTA_RESOLVE_LOCAL);
	assert_string_equal(res.accounts[0], "grown19999@example.com");
	arena_free(&a);
	tdb_deinit(&t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_writer_and_readers),
		cmocka_unit_test(test_map_grown_by_other_process),
	};

	return cmocka_run_group_tests_name("auth_lmdb_concurrent", tests,
	    NULL, NULL);
}
