/* auth_lmdb_priv.h: internals shared by the auth-lmdb database */
#ifndef AUTH_LMDB_PRIV_H
#define AUTH_LMDB_PRIV_H

#include <pthread.h>

#include <lmdb.h>

#include "auth_lmdb_db.h"

/* The first byte of every value; readers refuse any other. */
#define AUTH_LMDB_REC_VERSION	1

/* user record flags */
#define AUTH_LMDB_USER_DISABLED	0x01

struct auth_lmdb_db {
	MDB_env *env;
	MDB_dbi meta, domains, alias_domains, users, aliases, catchall;
	/*
	 * Held shared by every transaction of this process and exclusively to
	 * adopt a map another process grew (mdb_env_set_mapsize(env, 0)
	 * requires that no transaction of ours is active).
	 */
	pthread_rwlock_t resize_lock;
	bool rdonly;
	char *path;
	/* made once, on first need (postad: at open), under dummy_lock */
	pthread_mutex_t dummy_lock;
	bool has_dummy;
	char dummy_hash[AUTH_LMDB_HASH_MAX + 1];
};

/* Makes db->dummy_hash if not yet done; 0 or an error. */
int auth_lmdb_dummy_hash(struct auth_lmdb_db *db);

struct auth_lmdb_txn {
	struct auth_lmdb_db *db;
	MDB_txn *txn;
	bool write;
	bool holds_lock;	/* top-level txns hold resize_lock shared */
};

/* Maps an LMDB (or errno) return to ours, with a detail in *error_r. */
int auth_lmdb_mdb_error(int rc, const char **error_r);

/*
 * Begins a top-level transaction holding resize_lock shared, adopting a
 * grown map once when LMDB says MDB_MAP_RESIZED.
 */
int auth_lmdb_mdb_begin(struct auth_lmdb_db *db, bool write, MDB_txn **txn_r,
    const char **error_r);
/* Ends one begun by auth_lmdb_mdb_begin (abort for readers). */
void auth_lmdb_mdb_end(struct auth_lmdb_db *db, MDB_txn *txn);

/* Looks key up: 0, POSTA_ENOTFOUND or an error. */
int auth_lmdb_mdb_get(MDB_txn *txn, MDB_dbi dbi, const char *key,
    MDB_val *val_r, const char **error_r);

/*
 * Record codecs.  Decoders validate everything (version, lengths, no NUL
 * inside strings) and return POSTA_ECORRUPT on any doubt; strings are
 * copied NUL-terminated into buffers of the given size.
 */
int auth_lmdb_rec_user(const MDB_val *v, char *hash_r, size_t hash_size,
    bool *disabled_r);
/* alias_domains and catchall values: one string */
int auth_lmdb_rec_string(const MDB_val *v, char *out, size_t out_size);

/* Walks the targets of an alias record. */
struct auth_lmdb_targets {
	const uint8_t *p;
	size_t len, off;
	unsigned left;
};
/* Validates the whole record first; returns 0 or POSTA_ECORRUPT. */
int auth_lmdb_targets_init(struct auth_lmdb_targets *it, const MDB_val *v);
/* Next target (not NUL-terminated); false at the end. */
bool auth_lmdb_targets_next(struct auth_lmdb_targets *it, const char **s_r,
    size_t *len_r);
unsigned auth_lmdb_targets_count(const struct auth_lmdb_targets *it);

/* Encoders write into buf (size bytes); return the length or -E2BIG. */
long auth_lmdb_enc_user(uint8_t *buf, size_t size, const char *hash,
    bool disabled);
long auth_lmdb_enc_string(uint8_t *buf, size_t size, const char *s);
long auth_lmdb_enc_targets(uint8_t *buf, size_t size,
    const char *const *targets, size_t n);

#endif
