/* auth_bench.c: auth-lmdb logins per second and resolve() lookups per second */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "arena.h"
#include "auth_lmdb_db.h"

/*
 * usage: auth_bench [SECONDS [THREADS]]   (defaults 3 and 2, both bounded)
 *
 * Builds a throw-away directory in $TMPDIR: one domain with USERS users
 * (a cheap well-formed hash each, since only lookups touch them), one
 * yescrypt user for logins, aliases, an alias domain.  Then, per phase,
 * THREADS threads call the blocking functions postad runs on its thread
 * pool, until SECONDS have passed or a fixed count is reached:
 *   verify   right password of the yescrypt user (the default scheme)
 *   resolve  a mix of users, aliases, alias-domain addresses, unknown
 *            local parts and foreign domains
 */

#define USERS		10000
#define ALIASES		1000
#define VERIFY_MAX	100000UL
#define RESOLVE_MAX	50000000UL
#define CHEAP_HASH \
	"$5$abcdefgh$0123456789012345678901234567890123456789012"

struct phase {
	struct auth_lmdb_db *db;
	bool verify;
	double deadline;
	unsigned long max;
	atomic_ulong done;
	atomic_int failed;
};

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
die(const char *what, int ret, const char *error)
{
	fprintf(stderr, "auth_bench: %s: %s (%s)\n", what, error,
	    posta_strerror(ret));
	exit(1);
}

static void *
worker(void *arg)
{
	struct phase *ph = arg;
	struct arena *a = arena_new(4096, 1 << 20);
	char addr[64], account[AUTH_LMDB_ADDRESS_MAX + 1];
	struct posta_resolution res;
	const char *error = "";
	unsigned long n;
	unsigned notes, x = (unsigned)(uintptr_t)&n;
	bool ok;
	int ret;

	if (a == NULL)
		return NULL;
	for (;;) {
		n = atomic_fetch_add(&ph->done, 1);
		if (n >= ph->max || ((ph->verify || (n & 15) == 0) &&
		    now() > ph->deadline)) {
			atomic_fetch_sub(&ph->done, 1);
			break;
		}
		if (ph->verify) {
			ret = auth_lmdb_verify(ph->db, "login@bench.test",
			    "bench password", account, &ok, &error);
			if (ret != 0 || !ok)
				atomic_store(&ph->failed, 1);
			continue;
		}
		x = x * 1103515245 + 12345;
		switch ((x >> 8) % 5) {
		case 0:
		case 1:
			snprintf(addr, sizeof(addr), "user%u@bench.test",
			    (x >> 12) % USERS);
			break;
		case 2:
			snprintf(addr, sizeof(addr), "list%u@bench.test",
			    (x >> 12) % ALIASES);
			break;
		case 3:
			snprintf(addr, sizeof(addr), "User%u@Alias.Test",
			    (x >> 12) % USERS);
			break;
		default:
			snprintf(addr, sizeof(addr), "nobody%u@%s",
			    (x >> 12) % USERS, (x & 1) ? "bench.test" :
			    "elsewhere.test");
			break;
		}
		ret = auth_lmdb_resolve(ph->db, addr, 8, a, &res, &notes,
		    &error);
		if (ret != 0)
			atomic_store(&ph->failed, 1);
		arena_reset(a);
	}
	arena_free(&a);
	return NULL;
}

/* CPU time of the whole process: on a shared machine the wall clock
   also counts other people's work */
static double
cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double
run_phase(struct auth_lmdb_db *db, bool verify, unsigned threads,
    double seconds, unsigned long max, unsigned long *count_r,
    double *cpu_r)
{
	struct phase ph;
	pthread_t tid[16];
	double t0, c0, elapsed;
	unsigned i;

	memset(&ph, 0, sizeof(ph));
	ph.db = db;
	ph.verify = verify;
	ph.max = max;
	t0 = now();
	c0 = cpu_now();
	ph.deadline = t0 + seconds;
	for (i = 0; i < threads; i++)
		if (pthread_create(&tid[i], NULL, worker, &ph) != 0)
			die("pthread_create", -errno, strerror(errno));
	for (i = 0; i < threads; i++)
		pthread_join(tid[i], NULL);
	elapsed = now() - t0;
	*cpu_r = cpu_now() - c0;
	if (atomic_load(&ph.failed))
		die(verify ? "verify" : "resolve", POSTA_ETEMP,
		    "a lookup failed");
	*count_r = atomic_load(&ph.done);
	return elapsed;
}

static void
setup(struct auth_lmdb_db *db)
{
	struct auth_lmdb_txn *txn;
	char hash[AUTH_LMDB_HASH_MAX + 1], user[64], list[64], t2[64];
	const char *targets[3] = { user, t2, "friend@elsewhere.test" };
	const char *error = "";
	unsigned i;
	int ret;

	ret = auth_lmdb_hash_new("bench password", hash, sizeof(hash));
	if (ret < 0)
		die("hash", ret, "yescrypt");
	ret = auth_lmdb_txn_begin(db, NULL, true, &txn, &error);
	if (ret < 0)
		die("begin", ret, error);
	if ((ret = auth_lmdb_domain_add(txn, "bench.test", &error)) < 0 ||
	    (ret = auth_lmdb_alias_domain_add(txn, "alias.test",
	    "bench.test", &error)) < 0 ||
	    (ret = auth_lmdb_user_add(txn, "login@bench.test", hash,
	    &error)) < 0)
		die("setup", ret, error);
	for (i = 0; i < USERS; i++) {
		snprintf(user, sizeof(user), "user%u@bench.test", i);
		ret = auth_lmdb_user_add(txn, user, CHEAP_HASH, &error);
		if (ret < 0)
			die("user add", ret, error);
	}
	for (i = 0; i < ALIASES; i++) {
		snprintf(list, sizeof(list), "list%u@bench.test", i);
		snprintf(user, sizeof(user), "user%u@bench.test", i);
		/* every other list nests the previous one */
		if (i > 0 && i % 2 == 0)
			snprintf(t2, sizeof(t2), "list%u@bench.test", i - 1);
		else
			snprintf(t2, sizeof(t2), "user%u@alias.test", i + 1);
		ret = auth_lmdb_alias_add(txn, list, targets, 3, &error);
		if (ret < 0)
			die("alias add", ret, error);
	}
	ret = auth_lmdb_txn_commit(&txn, &error);
	if (ret < 0)
		die("commit", ret, error);
}

static void
rm_env(const char *dir, const char *path)
{
	char p[600];

	snprintf(p, sizeof(p), "%s/data.mdb", path);
	unlink(p);
	snprintf(p, sizeof(p), "%s/lock.mdb", path);
	unlink(p);
	rmdir(path);
	rmdir(dir);
}

int
main(int argc, char **argv)
{
	const char *tmp = getenv("TMPDIR");
	char dir[256], path[300];
	struct auth_lmdb_db *db;
	const char *error = "";
	double seconds = argc > 1 ? atof(argv[1]) : 3;
	unsigned threads = argc > 2 ? (unsigned)atoi(argv[2]) : 2, t;
	unsigned long n;
	double el, cpu;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int ret;

	if (seconds <= 0 || seconds > 60 || threads < 1 || threads > 16) {
		fprintf(stderr, "usage: auth_bench [SECONDS (0-60] "
		    "[THREADS (1-16)]]\n");
		return 2;
	}
	snprintf(dir, sizeof(dir), "%s/posta-bench-XXXXXX",
	    tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL)
		die("mkdtemp", -errno, strerror(errno));
	snprintf(path, sizeof(path), "%s/auth", dir);
	ret = auth_lmdb_db_open(path, 0, AUTH_LMDB_OPEN_CREATE, &db, &error);
	if (ret < 0)
		die(path, ret, error);
	setup(db);
	printf("auth_bench: %ld CPUs online; %d users, %d aliases; "
	    "%.1f s per phase\n", cpus, USERS + 1, ALIASES, seconds);
	for (t = 1; t <= threads; t = t == threads ? threads + 1 :
	    (t * 2 > threads ? threads : t * 2)) {
		el = run_phase(db, true, t, seconds, VERIFY_MAX, &n, &cpu);
		printf("verify  yescrypt (default cost), %u thread%s: "
		    "%lu logins in %.2f s = %.1f logins/s; %.2f CPU ms "
		    "each\n", t, t == 1 ? " " : "s", n, el, n / el,
		    n > 0 ? cpu * 1e3 / n : 0);
	}
	for (t = 1; t <= threads; t = t == threads ? threads + 1 :
	    (t * 2 > threads ? threads : t * 2)) {
		el = run_phase(db, false, t, seconds, RESOLVE_MAX, &n, &cpu);
		printf("resolve mixed addresses, %u thread%s: %lu lookups in "
		    "%.2f s = %.0f lookups/s; %.2f CPU us each\n", t,
		    t == 1 ? " " : "s", n, el, n / el,
		    n > 0 ? cpu * 1e6 / n : 0);
	}
	auth_lmdb_db_close(&db);
	rm_env(dir, path);
	return 0;
}
