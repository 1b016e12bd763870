/* test_auth_lmdb.h: helpers for the auth-lmdb unit tests */
#ifndef TEST_AUTH_LMDB_H
#define TEST_AUTH_LMDB_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth_lmdb_db.h"

/* A well-formed SHA256-CRYPT hash, for users whose password no test
   checks (admin operations hash nothing). */
#define TEST_HASH "$5$abcdefgh$0123456789012345678901234567890123456789012"

struct tdb {
	char dir[256];		/* temp state dir */
	char path[300];		/* dir/auth */
	struct auth_lmdb_db *db;
};

static inline void
tdb_rm_rf(const char *dir)
{
	char p[1024];
	DIR *d = opendir(dir);
	struct dirent *e;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (snprintf(p, sizeof(p), "%s/%s", dir, e->d_name) >=
		    (int)sizeof(p))
			continue;
		if (unlink(p) < 0)
			tdb_rm_rf(p);
	}
	closedir(d);
	rmdir(dir);
}

/* A fresh state dir; the environment is created and opened unless
   open is false. */
static inline int
tdb_init(struct tdb *t, bool open, uint64_t map_size)
{
	const char *tmp = getenv("TMPDIR");
	const char *error = "";
	int ret;

	memset(t, 0, sizeof(*t));
	snprintf(t->dir, sizeof(t->dir), "%s/posta-auth-XXXXXX",
	    tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	if (mkdtemp(t->dir) == NULL)
		return -1;
	snprintf(t->path, sizeof(t->path), "%s/auth", t->dir);
	if (!open)
		return 0;
	ret = auth_lmdb_db_open(t->path, map_size, AUTH_LMDB_OPEN_CREATE,
	    &t->db, &error);
	if (ret < 0)
		fprintf(stderr, "# open %s: %s\n", t->path, error);
	return ret;
}

static inline void
tdb_deinit(struct tdb *t)
{
	auth_lmdb_db_close(&t->db);
	tdb_rm_rf(t->dir);
}

/*
 * Runs one admin operation in its own write transaction and checks its
 * return; the transaction is committed even after an expected validation
 * error, which proves that such an error changed nothing.
 */
#define OP(t, expect, fn, ...) do {					\
	struct auth_lmdb_txn *txn_;					\
	const char *err_ = "";						\
	int ret_;							\
									\
	assert_int_equal(auth_lmdb_txn_begin((t)->db, NULL, true,	\
	    &txn_, &err_), 0);						\
	ret_ = fn(txn_, __VA_ARGS__, &err_);				\
	if (ret_ != (expect)) {						\
		auth_lmdb_txn_abort(&txn_);				\
		fail_msg("%s:%d: %s -> %d (%s: %s), expected %d",	\
		    __FILE__, __LINE__, #fn, ret_,			\
		    posta_strerror(ret_), err_, (int)(expect));		\
	}								\
	assert_int_equal(auth_lmdb_txn_commit(&txn_, &err_), 0);	\
} while (0)

#endif
