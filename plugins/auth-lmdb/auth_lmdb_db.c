/* auth_lmdb_db.c: LMDB environment, damage checks, txns, records */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "auth_lmdb_priv.h"

/*
 * Reader slots: with MDB_NOTLS a slot belongs to a transaction, not to a
 * thread, so this bounds concurrent lookups (libuv's pool has 4 threads by
 * default, at most 1024) plus the admin command.
 */
#define AUTH_LMDB_MAX_READERS	1100
#define AUTH_LMDB_MAX_DBS	8

int
auth_lmdb_mdb_error(int rc, const char **error_r)
{
	const char *dummy;

	if (error_r == NULL)
		error_r = &dummy;
	switch (rc) {
	case 0:
		return 0;
	case MDB_NOTFOUND:
		*error_r = "not found";
		return POSTA_ENOTFOUND;
	case MDB_INVALID:
		*error_r = "not an LMDB database file (damaged?)";
		return POSTA_ECORRUPT;
	case MDB_VERSION_MISMATCH:
		*error_r = "written by an incompatible LMDB version";
		return POSTA_ECORRUPT;
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_INCOMPATIBLE:
	case MDB_BAD_VALSIZE:
		*error_r = "database is damaged";
		return POSTA_ECORRUPT;
	case MDB_MAP_FULL:
		*error_r = "database is full (raise map_size)";
		return -ENOSPC;
	case MDB_READERS_FULL:
		*error_r = "too many concurrent readers";
		return POSTA_ETEMP;
	case MDB_MAP_RESIZED:
		*error_r = "database map was resized by another process";
		return POSTA_ETEMP;
	case MDB_TXN_FULL:
		*error_r = "transaction too large";
		return -E2BIG;
	case MDB_PANIC:
	case MDB_BAD_TXN:
		*error_r = "database transaction failed";
		return POSTA_ETEMP;
	case EACCES:
	case EPERM:
		*error_r = "permission denied (the files must be readable and "
		    "writable by the user running postad)";
		return -rc;
	default:
		break;
	}
	if (rc > 0) {
		*error_r = strerror(rc);
		return -rc;
	}
	*error_r = mdb_strerror(rc);
	return -EIO;
}

int
auth_lmdb_mdb_begin(struct auth_lmdb_db *db, bool write, MDB_txn **txn_r,
    const char **error_r)
{
	unsigned tries;
	int rc;

	for (tries = 0;; tries++) {
		if (pthread_rwlock_rdlock(&db->resize_lock) != 0) {
			*error_r = "cannot take the resize lock";
			return POSTA_ETEMP;
		}
		rc = mdb_txn_begin(db->env, NULL, write ? 0 : MDB_RDONLY,
		    txn_r);
		if (rc == 0)
			return 0;
		pthread_rwlock_unlock(&db->resize_lock);
		if (rc != MDB_MAP_RESIZED || tries > 0)
			return auth_lmdb_mdb_error(rc, error_r);
		/* another process grew the file: adopt its map size */
		if (pthread_rwlock_wrlock(&db->resize_lock) != 0) {
			*error_r = "cannot take the resize lock";
			return POSTA_ETEMP;
		}
		rc = mdb_env_set_mapsize(db->env, 0);
		pthread_rwlock_unlock(&db->resize_lock);
		if (rc != 0)
			return auth_lmdb_mdb_error(rc, error_r);
	}
}

void
auth_lmdb_mdb_end(struct auth_lmdb_db *db, MDB_txn *txn)
{
	mdb_txn_abort(txn);
	pthread_rwlock_unlock(&db->resize_lock);
}

int
auth_lmdb_mdb_get(MDB_txn *txn, MDB_dbi dbi, const char *key, MDB_val *val_r,
    const char **error_r)
{
	MDB_val k = { strlen(key), (void *)key };

	return auth_lmdb_mdb_error(mdb_get(txn, dbi, &k, val_r), error_r);
}

/* ---- records ---- */

static bool
str_ok(const uint8_t *p, size_t len, size_t max)
{
	return len > 0 && len <= max && memchr(p, '\0', len) == NULL;
}

int
auth_lmdb_rec_user(const MDB_val *v, char *hash_r, size_t hash_size,
    bool *disabled_r)
{
	const uint8_t *p = v->mv_data;
	size_t hlen;

	if (v->mv_size < 3 || p[0] != AUTH_LMDB_REC_VERSION ||
	    (p[1] & ~AUTH_LMDB_USER_DISABLED) != 0)
		return POSTA_ECORRUPT;
	hlen = v->mv_size - 2;
	if (!str_ok(p + 2, hlen, AUTH_LMDB_HASH_MAX))
		return POSTA_ECORRUPT;
	if (hash_r != NULL) {
		if (hash_size <= hlen)
			return -ENOBUFS;
		memcpy(hash_r, p + 2, hlen);
		hash_r[hlen] = '\0';
	}
	if (disabled_r != NULL)
		*disabled_r = (p[1] & AUTH_LMDB_USER_DISABLED) != 0;
	return 0;
}

int
auth_lmdb_rec_string(const MDB_val *v, char *out, size_t out_size)
{
	const uint8_t *p = v->mv_data;
	size_t len;

	if (v->mv_size < 2 || p[0] != AUTH_LMDB_REC_VERSION)
		return POSTA_ECORRUPT;
	len = v->mv_size - 1;
	if (!str_ok(p + 1, len, AUTH_LMDB_ADDRESS_MAX))
		return POSTA_ECORRUPT;
	if (out_size <= len)
		return -ENOBUFS;
	memcpy(out, p + 1, len);
	out[len] = '\0';
	return 0;
}

/* alias record: version, u16 count, then per target u16 length + bytes */
int
auth_lmdb_targets_init(struct auth_lmdb_targets *it, const MDB_val *v)
{
	const uint8_t *p = v->mv_data;
	size_t off = 3, len;
	unsigned n, i;

	if (v->mv_size < 3 || p[0] != AUTH_LMDB_REC_VERSION)
		return POSTA_ECORRUPT;
	n = (unsigned)p[1] << 8 | p[2];
	if (n == 0 || n > AUTH_LMDB_TARGETS_MAX)
		return POSTA_ECORRUPT;
	for (i = 0; i < n; i++) {
		if (v->mv_size - off < 2)
			return POSTA_ECORRUPT;
		len = (size_t)p[off] << 8 | p[off + 1];
		off += 2;
		if (v->mv_size - off < len ||
		    !str_ok(p + off, len, AUTH_LMDB_ADDRESS_MAX))
			return POSTA_ECORRUPT;
		off += len;
	}
	if (off != v->mv_size)
		return POSTA_ECORRUPT;
	it->p = p;
	it->len = v->mv_size;
	it->off = 3;
	it->left = n;
	return 0;
}

bool
auth_lmdb_targets_next(struct auth_lmdb_targets *it, const char **s_r,
    size_t *len_r)
{
	size_t len;

	if (it->left == 0)
		return false;
	len = (size_t)it->p[it->off] << 8 | it->p[it->off + 1];
	*s_r = (const char *)it->p + it->off + 2;
	*len_r = len;
	it->off += 2 + len;
	it->left--;
	return true;
}

unsigned
auth_lmdb_targets_count(const struct auth_lmdb_targets *it)
{
	return (unsigned)it->p[1] << 8 | it->p[2];
}

long
auth_lmdb_enc_user(uint8_t *buf, size_t size, const char *hash, bool disabled)
{
	size_t len = strlen(hash);

	if (len == 0 || len > AUTH_LMDB_HASH_MAX || size < len + 2)
		return -E2BIG;
	buf[0] = AUTH_LMDB_REC_VERSION;
	buf[1] = disabled ? AUTH_LMDB_USER_DISABLED : 0;
	memcpy(buf + 2, hash, len);
	return (long)(len + 2);
}

long
auth_lmdb_enc_string(uint8_t *buf, size_t size, const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len > AUTH_LMDB_ADDRESS_MAX || size < len + 1)
		return -E2BIG;
	buf[0] = AUTH_LMDB_REC_VERSION;
	memcpy(buf + 1, s, len);
	return (long)(len + 1);
}

long
auth_lmdb_enc_targets(uint8_t *buf, size_t size, const char *const *targets,
    size_t n)
{
	size_t off = 3, i, len;

	if (n == 0 || n > AUTH_LMDB_TARGETS_MAX || size < 3)
		return -E2BIG;
	buf[0] = AUTH_LMDB_REC_VERSION;
	buf[1] = (uint8_t)(n >> 8);
	buf[2] = (uint8_t)n;
	for (i = 0; i < n; i++) {
		len = strlen(targets[i]);
		if (len == 0 || len > AUTH_LMDB_ADDRESS_MAX ||
		    size - off < len + 2)
			return -E2BIG;
		buf[off] = (uint8_t)(len >> 8);
		buf[off + 1] = (uint8_t)len;
		memcpy(buf + off + 2, targets[i], len);
		off += len + 2;
	}
	return (long)off;
}

/* ---- environment ---- */

static const char meta_schema_key[] = "schema";

static int
open_dbis(struct auth_lmdb_db *db, bool create, const char **error_r)
{
	static const struct {
		const char *name;
		size_t off;
	} dbs[] = {
		{ "meta", offsetof(struct auth_lmdb_db, meta) },
		{ "domains", offsetof(struct auth_lmdb_db, domains) },
		{ "alias_domains", offsetof(struct auth_lmdb_db,
		    alias_domains) },
		{ "users", offsetof(struct auth_lmdb_db, users) },
		{ "aliases", offsetof(struct auth_lmdb_db, aliases) },
		{ "catchall", offsetof(struct auth_lmdb_db, catchall) },
	};
	MDB_txn *txn;
	MDB_val k = { sizeof(meta_schema_key) - 1, (void *)meta_schema_key };
	MDB_val v;
	uint8_t schema[4];
	size_t i;
	int rc, ret;

	ret = auth_lmdb_mdb_begin(db, create, &txn, error_r);
	if (ret < 0)
		return ret;
	for (i = 0; i < sizeof(dbs) / sizeof(dbs[0]); i++) {
		rc = mdb_dbi_open(txn, dbs[i].name, create ? MDB_CREATE : 0,
		    (MDB_dbi *)(void *)((char *)db + dbs[i].off));
		if (rc == MDB_NOTFOUND || rc == MDB_INCOMPATIBLE) {
			*error_r = "not a posta auth database (its named "
			    "databases are missing)";
			ret = POSTA_ECORRUPT;
			goto fail;
		}
		if (rc != 0) {
			ret = auth_lmdb_mdb_error(rc, error_r);
			goto fail;
		}
	}
	rc = mdb_get(txn, db->meta, &k, &v);
	if (rc == MDB_NOTFOUND && create) {
		schema[0] = 0;
		schema[1] = 0;
		schema[2] = 0;
		schema[3] = AUTH_LMDB_SCHEMA;
		v.mv_size = sizeof(schema);
		v.mv_data = schema;
		rc = mdb_put(txn, db->meta, &k, &v, 0);
	} else if (rc == MDB_NOTFOUND) {
		*error_r = "not a posta auth database (no schema version)";
		ret = POSTA_ECORRUPT;
		goto fail;
	} else if (rc == 0) {
		const uint8_t *p = v.mv_data;
		uint32_t s;

		if (v.mv_size != 4) {
			*error_r = "schema version record is damaged";
			ret = POSTA_ECORRUPT;
			goto fail;
		}
		s = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
		    (uint32_t)p[2] << 8 | p[3];
		if (s != AUTH_LMDB_SCHEMA) {
			*error_r = "database schema version is not one this "
			    "program knows (written by a newer posta?)";
			ret = POSTA_ECORRUPT;
			goto fail;
		}
	}
	if (rc != 0) {
		ret = auth_lmdb_mdb_error(rc, error_r);
		goto fail;
	}
	/* committing (even a read txn) keeps the DBI handles open */
	rc = mdb_txn_commit(txn);
	pthread_rwlock_unlock(&db->resize_lock);
	return auth_lmdb_mdb_error(rc, error_r);
fail:
	auth_lmdb_mdb_end(db, txn);
	return ret;
}

/* True when the main DB is empty: a fresh file, or one whose first
   commit never happened (we then may create our databases in it). */
static bool
env_is_empty(struct auth_lmdb_db *db)
{
	MDB_stat st;
	MDB_txn *txn;
	MDB_dbi main_dbi;
	const char *error;
	bool empty = false;

	if (auth_lmdb_mdb_begin(db, false, &txn, &error) < 0)
		return false;
	if (mdb_dbi_open(txn, NULL, 0, &main_dbi) == 0 &&
	    mdb_stat(txn, main_dbi, &st) == 0)
		empty = st.ms_entries == 0;
	auth_lmdb_mdb_end(db, txn);
	return empty;
}

/*
 * LMDB maps the file and trusts it: a page the meta page points at beyond
 * the end of a truncated file would be a SIGBUS at the first lookup, not
 * an error.  Committed pages are always written before the meta page that
 * names them, so a shorter file is damage.
 */
static int
check_size(struct auth_lmdb_db *db, const char **error_r)
{
	MDB_envinfo info;
	MDB_stat st;
	struct stat fst;
	char *data_path;
	int rc;

	if (mdb_env_info(db->env, &info) != 0 ||
	    mdb_env_stat(db->env, &st) != 0) {
		*error_r = "cannot read the environment's size";
		return -EIO;
	}
	if (asprintf(&data_path, "%s/data.mdb", db->path) < 0) {
		*error_r = strerror(ENOMEM);
		return -ENOMEM;
	}
	rc = stat(data_path, &fst);
	free(data_path);
	if (rc < 0) {
		*error_r = strerror(errno);
		return -errno;
	}
	if ((uint64_t)fst.st_size <
	    ((uint64_t)info.me_last_pgno + 1) * st.ms_psize) {
		*error_r = "data file data.mdb is truncated (damaged)";
		return POSTA_ECORRUPT;
	}
	return 0;
}

int
auth_lmdb_db_open(const char *path, uint64_t map_size, unsigned flags,
    struct auth_lmdb_db **db_r, const char **error_r)
{
	struct auth_lmdb_db *db;
	const char *dummy;
	struct stat st;
	char *data_path;
	bool rdonly = (flags & AUTH_LMDB_OPEN_RDONLY) != 0;
	bool create = !rdonly && (flags & AUTH_LMDB_OPEN_CREATE) != 0;
	int rc, ret;

	if (error_r == NULL)
		error_r = &dummy;
	*db_r = NULL;
	if (map_size == 0)
		map_size = AUTH_LMDB_MAP_SIZE_DEFAULT;
	if (map_size > SIZE_MAX) {
		*error_r = "map_size too large for this system";
		return -EINVAL;
	}
	if (stat(path, &st) < 0) {
		if (errno != ENOENT || !create) {
			ret = -errno;
			*error_r = ret == -ENOENT ? "database not found "
			    "(create it with 'posta domain add DOMAIN')" :
			    strerror(errno);
			return ret;
		}
		if (mkdir(path, 0700) < 0) {
			*error_r = strerror(errno);
			return -errno;
		}
	} else if (!S_ISDIR(st.st_mode)) {
		*error_r = "not a directory";
		return -ENOTDIR;
	}
	if (asprintf(&data_path, "%s/data.mdb", path) < 0) {
		*error_r = strerror(ENOMEM);
		return -ENOMEM;
	}
	rc = stat(data_path, &st);
	free(data_path);
	if (rc < 0 && !create) {
		ret = -errno;
		*error_r = ret == -ENOENT ? "database not found (create it "
		    "with 'posta domain add DOMAIN')" : strerror(errno);
		return ret;
	}
	if (rc == 0 && st.st_size == 0 && !create) {
		*error_r = "database file data.mdb is empty (damaged?)";
		return POSTA_ECORRUPT;
	}

	db = calloc(1, sizeof(*db));
	if (db == NULL) {
		*error_r = strerror(ENOMEM);
		return -ENOMEM;
	}
	db->rdonly = rdonly;
	db->path = strdup(path);
	if (db->path == NULL) {
		free(db);
		*error_r = strerror(ENOMEM);
		return -ENOMEM;
	}
	if (pthread_rwlock_init(&db->resize_lock, NULL) != 0) {
		free(db->path);
		free(db);
		*error_r = "cannot create a lock";
		return -ENOMEM;
	}
	if (pthread_mutex_init(&db->dummy_lock, NULL) != 0) {
		pthread_rwlock_destroy(&db->resize_lock);
		free(db->path);
		free(db);
		*error_r = "cannot create a lock";
		return -ENOMEM;
	}
	rc = mdb_env_create(&db->env);
	if (rc != 0) {
		db->env = NULL;
		ret = auth_lmdb_mdb_error(rc, error_r);
		goto fail;
	}
	rc = mdb_env_set_maxdbs(db->env, AUTH_LMDB_MAX_DBS);
	if (rc == 0)
		rc = mdb_env_set_maxreaders(db->env, AUTH_LMDB_MAX_READERS);
	if (rc == 0)
		rc = mdb_env_set_mapsize(db->env, (size_t)map_size);
	if (rc == 0)
		rc = mdb_env_open(db->env, path,
		    MDB_NOTLS | (rdonly ? MDB_RDONLY : 0), 0600);
	if (rc != 0) {
		ret = auth_lmdb_mdb_error(rc, error_r);
		goto fail;
	}
	ret = check_size(db, error_r);
	if (ret < 0)
		goto fail;
	if (!rdonly) {
		int dead;

		/* slots of crashed readers would pin old pages forever */
		(void)mdb_reader_check(db->env, &dead);
	}
	ret = open_dbis(db, create && env_is_empty(db), error_r);
	if (ret < 0)
		goto fail;
	/* postad makes the dummy hash now, so that a broken libxcrypt stops
	   it at startup; the admin command only when it checks a login */
	if (rdonly && (ret = auth_lmdb_dummy_hash(db)) < 0) {
		*error_r = "cannot compute the dummy password hash";
		goto fail;
	}
	*db_r = db;
	return 0;
fail:
	auth_lmdb_db_close(&db);
	return ret;
}

void
auth_lmdb_db_close(struct auth_lmdb_db **dbp)
{
	struct auth_lmdb_db *db = *dbp;

	if (db == NULL)
		return;
	*dbp = NULL;
	if (db->env != NULL)
		mdb_env_close(db->env);
	pthread_rwlock_destroy(&db->resize_lock);
	pthread_mutex_destroy(&db->dummy_lock);
	free(db->path);
	free(db);
}

const char *
auth_lmdb_db_path(const struct auth_lmdb_db *db)
{
	return db->path;
}

/* ---- admin transactions ---- */

int
auth_lmdb_txn_begin(struct auth_lmdb_db *db, struct auth_lmdb_txn *parent,
    bool write, struct auth_lmdb_txn **txn_r, const char **error_r)
{
	struct auth_lmdb_txn *t;
	const char *dummy;
	int ret, rc;

	if (error_r == NULL)
		error_r = &dummy;
	*txn_r = NULL;
	if (write && db->rdonly) {
		*error_r = "database opened read-only";
		return -EROFS;
	}
	if (parent != NULL && (!parent->write || !write)) {
		*error_r = "only write transactions nest";
		return -EINVAL;
	}
	t = calloc(1, sizeof(*t));
	if (t == NULL) {
		*error_r = strerror(ENOMEM);
		return -ENOMEM;
	}
	t->db = db;
	t->write = write;
	if (parent == NULL) {
		ret = auth_lmdb_mdb_begin(db, write, &t->txn, error_r);
		if (ret < 0) {
			free(t);
			return ret;
		}
		t->holds_lock = true;
	} else {
		rc = mdb_txn_begin(db->env, parent->txn, 0, &t->txn);
		if (rc != 0) {
			free(t);
			return auth_lmdb_mdb_error(rc, error_r);
		}
	}
	*txn_r = t;
	return 0;
}

int
auth_lmdb_txn_commit(struct auth_lmdb_txn **tp, const char **error_r)
{
	struct auth_lmdb_txn *t = *tp;
	int rc;

	*tp = NULL;
	rc = mdb_txn_commit(t->txn);
	if (t->holds_lock)
		pthread_rwlock_unlock(&t->db->resize_lock);
	free(t);
	return auth_lmdb_mdb_error(rc, error_r);
}

void
auth_lmdb_txn_abort(struct auth_lmdb_txn **tp)
{
	struct auth_lmdb_txn *t = *tp;

	if (t == NULL)
		return;
	*tp = NULL;
	mdb_txn_abort(t->txn);
	if (t->holds_lock)
		pthread_rwlock_unlock(&t->db->resize_lock);
	free(t);
}
