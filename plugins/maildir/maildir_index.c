/* maildir_index.c: the per-user LMDB index of mailboxes, UIDs, flags, caches */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "maildir.h"
#include "util.h"

/*
 * One LMDB environment per user, in <Maildir>/posta-index.  Named
 * databases:
 *   box   mailbox name            -> struct md_box_rec + keyword names
 *   msg   box id, uid (BE)        -> struct md_msg_rec + file name
 *   name  box id (BE), base name  -> uid
 *   meta  box id, uid (BE)        -> cached parse results (maildir_parse.c)
 *   gone  box id, uid (BE)        -> modseq of the expunge (QRESYNC)
 *   sub   mailbox name            -> subscribed
 *   info  "version", "next_box_id", "last_uidvalidity"
 * Big-endian keys make a cursor walk a mailbox in UID order.  Values are
 * not aligned in the map, so records are copied out with memcpy.
 *
 * The Maildir stays the truth for which messages exist and their flags;
 * the index adds what Maildir cannot hold (UIDs, modseqs, keywords past
 * z, caches).  An index that cannot be opened is moved aside and rebuilt
 * from the Maildir (see md_box_open_sync() for what happens to UIDs).
 */

static void
key8(uint8_t *k, uint32_t box, uint32_t uid)
{
	k[0] = (uint8_t)(box >> 24);
	k[1] = (uint8_t)(box >> 16);
	k[2] = (uint8_t)(box >> 8);
	k[3] = (uint8_t)box;
	k[4] = (uint8_t)(uid >> 24);
	k[5] = (uint8_t)(uid >> 16);
	k[6] = (uint8_t)(uid >> 8);
	k[7] = (uint8_t)uid;
}

static uint32_t
be32(const uint8_t *k)
{
	return (uint32_t)k[0] << 24 | (uint32_t)k[1] << 16 |
	    (uint32_t)k[2] << 8 | k[3];
}

static int
info_get(MDB_txn *txn, MDB_dbi dbi, const char *key, uint32_t *v_r)
{
	MDB_val k = { strlen(key), (void *)key }, v;
	int ret = mdb_get(txn, dbi, &k, &v);

	if (ret != 0)
		return ret;
	if (v.mv_size != sizeof(*v_r))
		return MDB_CORRUPTED;
	memcpy(v_r, v.mv_data, sizeof(*v_r));
	return 0;
}

static int
info_put(MDB_txn *txn, MDB_dbi dbi, const char *key, uint32_t value)
{
	MDB_val k = { strlen(key), (void *)key };
	MDB_val v = { sizeof(value), &value };

	return mdb_put(txn, dbi, &k, &v, 0);
}

/* Moves a broken index out of the way (one old copy is kept). */
static void
index_move_aside(struct md_user *u, const char *dir, int why)
{
	char aside[4096];
	DIR *d;

	if (snprintf(aside, sizeof(aside), "%s.broken", dir) >=
	    (int)sizeof(aside))
		return;
	/* drop an older broken copy: two files and the directory */
	d = opendir(aside);
	if (d != NULL) {
		struct dirent *de;

		while ((de = readdir(d)) != NULL)
			if (de->d_name[0] != '.')
				unlinkat(dirfd(d), de->d_name, 0);
		closedir(d);
		rmdir(aside);
	}
	if (rename(dir, aside) != 0 && errno != ENOENT)
		return;
	free(u->log_msg);
	u->log_event = "maildir.index_rebuild";
	u->log_level = POSTA_LOG_WARN;
	if (asprintf(&u->log_msg, "reason=\"%s\" moved_to=%s",
	    mdb_strerror(why), aside) < 0)
		u->log_msg = NULL;
}

static int
index_try_open(struct md_user *u, const char *dir)
{
	const struct md_settings *set = &u->store->set;
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	uint32_t version;
	int ret;

	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return errno;
	ret = mdb_env_create(&env);
	if (ret != 0)
		return ret;
	if ((ret = mdb_env_set_mapsize(env, set->index_map_size)) != 0 ||
	    (ret = mdb_env_set_maxdbs(env, 8)) != 0 ||
	    (ret = mdb_env_open(env, dir, MDB_NOTLS |
	    (set->fsync ? MDB_NOMETASYNC : MDB_NOSYNC), 0600)) != 0)
		goto fail;
	if ((ret = mdb_txn_begin(env, NULL, 0, &txn)) != 0)
		goto fail;
	if ((ret = mdb_dbi_open(txn, "box", MDB_CREATE, &u->dbi_box)) ||
	    (ret = mdb_dbi_open(txn, "msg", MDB_CREATE, &u->dbi_msg)) ||
	    (ret = mdb_dbi_open(txn, "name", MDB_CREATE, &u->dbi_name)) ||
	    (ret = mdb_dbi_open(txn, "meta", MDB_CREATE, &u->dbi_meta)) ||
	    (ret = mdb_dbi_open(txn, "gone", MDB_CREATE, &u->dbi_gone)) ||
	    (ret = mdb_dbi_open(txn, "sub", MDB_CREATE, &u->dbi_sub)) ||
	    (ret = mdb_dbi_open(txn, "info", MDB_CREATE, &u->dbi_info)))
		goto fail;
	ret = info_get(txn, u->dbi_info, "version", &version);
	if (ret == MDB_NOTFOUND) {
		if ((ret = info_put(txn, u->dbi_info, "version",
		    MD_INDEX_VERSION)) != 0 ||
		    (ret = info_put(txn, u->dbi_info, "next_box_id", 1)) != 0)
			goto fail;
	} else if (ret != 0) {
		goto fail;
	} else if (version != MD_INDEX_VERSION) {
		ret = MDB_VERSION_MISMATCH;
		goto fail;
	}
	ret = mdb_txn_commit(txn);
	txn = NULL;
	if (ret != 0)
		goto fail;
	u->env = env;
	return 0;
fail:
	if (txn != NULL)
		mdb_txn_abort(txn);
	mdb_env_close(env);
	return ret;
}

static bool
is_damage(int ret)
{
	return ret == MDB_INVALID || ret == MDB_CORRUPTED ||
	    ret == MDB_VERSION_MISMATCH || ret == MDB_PAGE_NOTFOUND;
}

int
md_index_open(struct md_user *u)
{
	char dir[4096];
	int ret;

	if (u->env != NULL && !u->broken)
		return 0;
	ret = md_mkdir_maildir(u->path, true);
	if (ret != 0)
		return ret;
	if (snprintf(dir, sizeof(dir), "%s/" MD_INDEX_DIR, u->path) >=
	    (int)sizeof(dir))
		return -ENAMETOOLONG;
	if (u->broken) {
		md_index_close(u);
		index_move_aside(u, dir, MDB_CORRUPTED);
		u->broken = false;
	}
	ret = index_try_open(u, dir);
	if (is_damage(ret)) {
		index_move_aside(u, dir, ret);
		ret = index_try_open(u, dir);
	}
	/* a new index knows no tmp/ cleaning of this run either */
	u->n_cleaned = 0;
	return md_error(ret);
}

void
md_index_close(struct md_user *u)
{
	if (u->env == NULL)
		return;
	/* a reopened index would show the UIDs without a sync */
	(void)md_index_durable(u);
	mdb_env_close(u->env);
	u->env = NULL;
	u->meta_unsynced = false;
}

int
md_index_durable(struct md_user *u)
{
	int ret;

	if (!u->meta_unsynced || u->env == NULL)
		return 0;
	ret = mdb_env_sync(u->env, 1);
	if (ret != 0)
		return md_error(ret);
	u->meta_unsynced = false;
	return 0;
}

int
md_txn_begin(struct md_user *u, struct md_txn *t)
{
	int ret;

	t->u = u;
	t->txn = NULL;
	ret = mdb_txn_begin(u->env, NULL, 0, &t->txn);
	if (ret != 0) {
		if (is_damage(ret))
			u->broken = true;
		return md_error(ret);
	}
	return 0;
}

int
md_txn_commit_unexposed(struct md_txn *t)
{
	int ret = mdb_txn_commit(t->txn);

	t->txn = NULL;
	if (is_damage(ret))
		t->u->broken = true;
	if (ret == 0 && t->u->store->set.fsync)
		t->u->meta_unsynced = true;
	return md_error(ret);
}

int
md_txn_commit(struct md_txn *t)
{
	int ret = md_txn_commit_unexposed(t);

	/* the env runs MDB_NOMETASYNC: the meta page needs its own sync */
	if (ret == 0)
		ret = md_index_durable(t->u);
	return ret;
}

void
md_txn_abort(struct md_txn *t)
{
	if (t->txn != NULL)
		mdb_txn_abort(t->txn);
	t->txn = NULL;
}

/* Marks the index for rebuilding when LMDB reports damage. */
static int
chk(struct md_txn *t, int ret)
{
	if (is_damage(ret))
		t->u->broken = true;
	return md_error(ret);
}

/* ---- usage: messages and bytes of the user, kept with the records ---- */

#define USAGE_KEY "usage"

struct usage_rec {
	uint64_t messages;
	uint64_t bytes;
};

/*
 * The counter is updated in the same transaction as every message record
 * (md_msg_put, md_msg_del, md_box_delete_rec), so it is exact after
 * appends, copies, expunges and syncs of foreign changes.  An index made
 * before the counter existed gets it from one pass over its records.
 */
static int
usage_load(struct md_txn *t, struct usage_rec *u_r)
{
	MDB_val k = { sizeof(USAGE_KEY) - 1, (void *)USAGE_KEY }, v;
	MDB_cursor *c;
	MDB_val ck, cv;
	int ret;

	ret = mdb_get(t->txn, t->u->dbi_info, &k, &v);
	if (ret == 0 && v.mv_size == sizeof(*u_r)) {
		memcpy(u_r, v.mv_data, sizeof(*u_r));
		return 0;
	}
	if (ret != 0 && ret != MDB_NOTFOUND)
		return chk(t, ret);
	memset(u_r, 0, sizeof(*u_r));
	ret = mdb_cursor_open(t->txn, t->u->dbi_msg, &c);
	if (ret != 0)
		return chk(t, ret);
	for (ret = mdb_cursor_get(c, &ck, &cv, MDB_FIRST); ret == 0;
	    ret = mdb_cursor_get(c, &ck, &cv, MDB_NEXT)) {
		struct md_msg_rec r;

		if (cv.mv_size < sizeof(r))
			continue;
		memcpy(&r, cv.mv_data, sizeof(r));
		u_r->messages++;
		u_r->bytes += r.size;
	}
	mdb_cursor_close(c);
	return ret == MDB_NOTFOUND ? 0 : chk(t, ret);
}

static int
usage_store(struct md_txn *t, const struct usage_rec *u)
{
	MDB_val k = { sizeof(USAGE_KEY) - 1, (void *)USAGE_KEY };
	MDB_val v = { sizeof(*u), (void *)u };

	return chk(t, mdb_put(t->txn, t->u->dbi_info, &k, &v, 0));
}

/* Adds (or with negative values removes) messages and bytes. */
static int
usage_add(struct md_txn *t, int64_t messages, int64_t bytes)
{
	struct usage_rec u;
	int ret = usage_load(t, &u);

	if (ret != 0)
		return ret;
	/* never below zero: a record the counter missed cannot wrap it */
	if (messages < 0 && (uint64_t)-messages > u.messages)
		u.messages = 0;
	else
		u.messages += (uint64_t)messages;
	if (bytes < 0 && (uint64_t)-bytes > u.bytes)
		u.bytes = 0;
	else
		u.bytes += (uint64_t)bytes;
	return usage_store(t, &u);
}

int
md_usage_get(struct md_txn *t, struct posta_user_usage *use_r)
{
	struct usage_rec u;
	int ret = usage_load(t, &u);

	if (ret != 0)
		return ret;
	use_r->messages = u.messages;
	use_r->bytes = u.bytes;
	return 0;
}

/* ---- box records ---- */

void
md_box_info_clear(struct md_box_info *bi)
{
	uint32_t i;

	for (i = 0; i < bi->rec.n_kw && i < POSTA_STORE_KEYWORDS_MAX; i++)
		free(bi->kw[i]);
	free(bi->name);
	memset(bi, 0, sizeof(*bi));
}

int
md_box_load(struct md_txn *t, const char *name, struct md_box_info *bi)
{
	MDB_val k = { strlen(name), (void *)name }, v;
	const char *p, *end;
	uint32_t i;
	int ret;

	memset(bi, 0, sizeof(*bi));
	ret = mdb_get(t->txn, t->u->dbi_box, &k, &v);
	if (ret != 0)
		return chk(t, ret);
	if (v.mv_size < sizeof(bi->rec))
		return chk(t, MDB_CORRUPTED);
	memcpy(&bi->rec, v.mv_data, sizeof(bi->rec));
	if (bi->rec.n_kw > POSTA_STORE_KEYWORDS_MAX)
		return chk(t, MDB_CORRUPTED);
	p = (const char *)v.mv_data + sizeof(bi->rec);
	end = (const char *)v.mv_data + v.mv_size;
	for (i = 0; i < bi->rec.n_kw; i++) {
		const char *z = memchr(p, '\0', (size_t)(end - p));

		if (z == NULL) {
			bi->rec.n_kw = i;
			md_box_info_clear(bi);
			return chk(t, MDB_CORRUPTED);
		}
		bi->kw[i] = strdup(p);
		if (bi->kw[i] == NULL) {
			bi->rec.n_kw = i;
			md_box_info_clear(bi);
			return -ENOMEM;
		}
		p = z + 1;
	}
	bi->name = strdup(name);
	if (bi->name == NULL) {
		md_box_info_clear(bi);
		return -ENOMEM;
	}
	bi->stored_n_kw = bi->rec.n_kw;
	return 0;
}

/*
 * The keyword table is also written to the folder's dovecot-keywords
 * file (Dovecot's format: "<n> <name>", n = letter 'a' + n), so that the
 * letters in file names keep their meaning for Dovecot and for a rebuilt
 * index.  Best effort: the index stays the truth.
 */
static void
write_keywords(struct md_txn *t, const struct md_box_info *bi)
{
	char dir[MD_PATH_MAX], path[MD_PATH_MAX], tmp[MD_PATH_MAX];
	FILE *f;
	uint32_t i;
	int fd;

	if (md_box_path(t->u, bi->name, NULL, dir, sizeof(dir)) != 0 ||
	    md_pathf(path, sizeof(path), "%s/dovecot-keywords", dir) != 0 ||
	    md_pathf(tmp, sizeof(tmp), "%s/tmp/dovecot-keywords.%u", dir,
	    (unsigned)getpid()) != 0)
		return;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	f = fdopen(fd, "w");
	if (f == NULL) {
		close(fd);
		unlink(tmp);
		return;
	}
	for (i = 0; i < bi->rec.n_kw; i++)
		fprintf(f, "%u %s\n", (unsigned)i, bi->kw[i]);
	if (fflush(f) != 0 || (t->u->store->set.fsync && fsync(fd) != 0)) {
		fclose(f);
		unlink(tmp);
		return;
	}
	if (fclose(f) != 0 || rename(tmp, path) != 0)
		unlink(tmp);
}

int
md_box_store(struct md_txn *t, struct md_box_info *bi)
{
	MDB_val k = { strlen(bi->name), bi->name }, v;
	size_t len = sizeof(bi->rec), off;
	uint32_t i;
	char *buf;
	int ret;

	for (i = 0; i < bi->rec.n_kw; i++)
		len += strlen(bi->kw[i]) + 1;
	buf = malloc(len);
	if (buf == NULL)
		return -ENOMEM;
	memcpy(buf, &bi->rec, sizeof(bi->rec));
	off = sizeof(bi->rec);
	for (i = 0; i < bi->rec.n_kw; i++) {
		size_t l = strlen(bi->kw[i]) + 1;

		memcpy(buf + off, bi->kw[i], l);
		off += l;
	}
	v.mv_size = len;
	v.mv_data = buf;
	ret = mdb_put(t->txn, t->u->dbi_box, &k, &v, 0);
	free(buf);
	if (ret == 0) {
		bi->dirty = false;
		if (bi->rec.n_kw != bi->stored_n_kw)
			write_keywords(t, bi);
		bi->stored_n_kw = bi->rec.n_kw;
	}
	return chk(t, ret);
}

uint32_t
md_new_uidvalidity(struct md_txn *t, uint32_t at_least)
{
	uint32_t last = 0, v = (uint32_t)time(NULL);

	(void)info_get(t->txn, t->u->dbi_info, "last_uidvalidity", &last);
	if (v <= last)
		v = last + 1;
	if (v < at_least)
		v = at_least;
	if (v == 0)
		v = 1;
	(void)info_put(t->txn, t->u->dbi_info, "last_uidvalidity", v);
	return v;
}

int
md_box_ensure(struct md_txn *t, const char *name, bool create,
    struct md_box_info *bi, bool *created_r)
{
	uint32_t id;
	int ret;

	*created_r = false;
	ret = md_box_load(t, name, bi);
	if (ret != POSTA_ENOTFOUND || !create)
		return ret;
	ret = info_get(t->txn, t->u->dbi_info, "next_box_id", &id);
	if (ret != 0)
		return chk(t, ret);
	ret = info_put(t->txn, t->u->dbi_info, "next_box_id", id + 1);
	if (ret != 0)
		return chk(t, ret);
	memset(bi, 0, sizeof(*bi));
	bi->name = strdup(name);
	if (bi->name == NULL)
		return -ENOMEM;
	bi->rec.id = id;
	bi->rec.uidnext = 1;
	bi->rec.highestmodseq = 1;
	bi->dirty = true;
	*created_r = true;
	return 0;
}

int
md_box_delete_rec(struct md_txn *t, const char *name, uint32_t id)
{
	MDB_val k = { strlen(name), (void *)name };
	MDB_dbi dbis[4] = { t->u->dbi_msg, t->u->dbi_name, t->u->dbi_meta,
	    t->u->dbi_gone };
	uint64_t gone_msgs = 0, gone_bytes = 0;
	struct usage_rec ur;
	size_t i;
	int ret;

	/* the counter must exist before the records go, or its first
	   count would miss them and the subtraction below count twice */
	if ((ret = usage_load(t, &ur)) != 0 ||
	    (ret = usage_store(t, &ur)) != 0)
		return ret;
	ret = mdb_del(t->txn, t->u->dbi_box, &k, NULL);
	if (ret != 0 && ret != MDB_NOTFOUND)
		return chk(t, ret);
	/* every key of the box starts with its id: seek, delete, repeat */
	for (i = 0; i < 4; i++) {
		MDB_cursor *c;
		uint8_t kb[8];
		MDB_val ck, cv;

		key8(kb, id, 0);
		ret = mdb_cursor_open(t->txn, dbis[i], &c);
		if (ret != 0)
			return chk(t, ret);
		for (;;) {
			ck.mv_size = 4;
			ck.mv_data = kb;
			ret = mdb_cursor_get(c, &ck, &cv, MDB_SET_RANGE);
			if (ret != 0 || ck.mv_size < 4 ||
			    be32(ck.mv_data) != id)
				break;
			if (i == 0) {
				struct md_msg_rec r;

				/* copied out: the usage write below may
				   move the pages cv points into */
				if (cv.mv_size >= sizeof(r)) {
					memcpy(&r, cv.mv_data, sizeof(r));
					gone_msgs++;
					gone_bytes += r.size;
				}
			}
			ret = mdb_cursor_del(c, 0);
			if (ret != 0)
				break;
		}
		mdb_cursor_close(c);
		if (ret != 0 && ret != MDB_NOTFOUND)
			return chk(t, ret);
	}
	if (gone_msgs == 0)
		return 0;
	return usage_add(t, -(int64_t)gone_msgs, -(int64_t)gone_bytes);
}

int
md_box_rename_rec(struct md_txn *t, const char *from, const char *to)
{
	struct md_box_info bi;
	MDB_val k = { strlen(from), (void *)from };
	int ret;

	ret = md_box_load(t, from, &bi);
	if (ret != 0)
		return ret;
	ret = mdb_del(t->txn, t->u->dbi_box, &k, NULL);
	if (ret == 0) {
		free(bi.name);
		bi.name = strdup(to);
		ret = bi.name == NULL ? -ENOMEM : md_box_store(t, &bi);
	} else {
		ret = chk(t, ret);
	}
	md_box_info_clear(&bi);
	return ret;
}

int
md_kw_index(struct md_box_info *bi, const char *name, bool add, int64_t max)
{
	uint32_t i;

	for (i = 0; i < bi->rec.n_kw; i++)
		if (util_strcaseeq(bi->kw[i], name))
			return (int)i;
	if (!add)
		return -1;
	if ((int64_t)bi->rec.n_kw >= max ||
	    bi->rec.n_kw >= POSTA_STORE_KEYWORDS_MAX)
		return POSTA_EQUOTA;
	bi->kw[i] = strdup(name);
	if (bi->kw[i] == NULL)
		return -ENOMEM;
	bi->rec.n_kw++;
	bi->dirty = true;
	return (int)i;
}

/* ---- message records ---- */

static int
msg_decode(const MDB_val *k, const MDB_val *v, struct md_msg *m)
{
	size_t nl;

	if (k->mv_size != 8 || v->mv_size < sizeof(m->rec) + 1)
		return MDB_CORRUPTED;
	m->uid = be32((const uint8_t *)k->mv_data + 4);
	memcpy(&m->rec, v->mv_data, sizeof(m->rec));
	nl = v->mv_size - sizeof(m->rec);
	if (nl > MD_NAME_MAX + 1 ||
	    ((const char *)v->mv_data)[v->mv_size - 1] != '\0')
		return MDB_CORRUPTED;
	memcpy(m->name, (const char *)v->mv_data + sizeof(m->rec), nl);
	return 0;
}

int
md_msg_get(struct md_txn *t, uint32_t box, uint32_t uid, struct md_msg *m)
{
	uint8_t kb[8];
	MDB_val k = { 8, kb }, v;
	int ret;

	key8(kb, box, uid);
	ret = mdb_get(t->txn, t->u->dbi_msg, &k, &v);
	if (ret == 0)
		ret = msg_decode(&k, &v, m);
	return chk(t, ret);
}

static int
name_key(uint32_t box, const char *name, uint8_t *kb, MDB_val *k)
{
	size_t base = md_name_base_len(name);
	uint8_t full[8];

	if (base == 0 || base > MD_NAME_MAX)
		return MDB_BAD_VALSIZE;
	key8(full, box, 0);
	memcpy(kb, full, 4);
	memcpy(kb + 4, name, base);
	k->mv_size = 4 + base;
	k->mv_data = kb;
	return 0;
}

int
md_msg_put(struct md_txn *t, uint32_t box, const struct md_msg *m)
{
	uint8_t kb[8], nb[4 + MD_NAME_MAX];
	uint8_t vb[sizeof(m->rec) + MD_NAME_MAX + 1];
	size_t nl = strlen(m->name) + 1;
	MDB_val k = { 8, kb }, v = { sizeof(m->rec) + nl, vb }, nk, nv, ov;
	struct md_msg_rec old;
	int ret;

	key8(kb, box, m->uid);
	ret = mdb_get(t->txn, t->u->dbi_msg, &k, &ov);
	if (ret == MDB_NOTFOUND)
		ret = usage_add(t, 1, (int64_t)m->rec.size);
	else if (ret != 0)
		return chk(t, ret);
	else if (ov.mv_size >= sizeof(old)) {
		memcpy(&old, ov.mv_data, sizeof(old));
		if (old.size != m->rec.size)
			ret = usage_add(t, 0, (int64_t)m->rec.size -
			    (int64_t)old.size);
	}
	if (ret != 0)
		return ret;
	memcpy(vb, &m->rec, sizeof(m->rec));
	memcpy(vb + sizeof(m->rec), m->name, nl);
	ret = mdb_put(t->txn, t->u->dbi_msg, &k, &v, 0);
	if (ret != 0)
		return chk(t, ret);
	ret = name_key(box, m->name, nb, &nk);
	if (ret != 0)
		return chk(t, ret);
	nv.mv_size = sizeof(m->uid);
	nv.mv_data = (void *)&m->uid;
	return chk(t, mdb_put(t->txn, t->u->dbi_name, &nk, &nv, 0));
}

int
md_msg_del(struct md_txn *t, uint32_t box, const struct md_msg *m,
    uint64_t modseq)
{
	uint8_t kb[8], nb[4 + MD_NAME_MAX];
	MDB_val k = { 8, kb }, nk, gv = { sizeof(modseq), &modseq }, ov;
	struct md_msg_rec old;
	int ret;

	key8(kb, box, m->uid);
	ret = mdb_get(t->txn, t->u->dbi_msg, &k, &ov);
	if (ret == 0 && ov.mv_size >= sizeof(old)) {
		memcpy(&old, ov.mv_data, sizeof(old));
		ret = usage_add(t, -1, -(int64_t)old.size);
		if (ret != 0)
			return ret;
	} else if (ret != 0 && ret != MDB_NOTFOUND) {
		return chk(t, ret);
	}
	ret = mdb_del(t->txn, t->u->dbi_msg, &k, NULL);
	if (ret != 0 && ret != MDB_NOTFOUND)
		return chk(t, ret);
	ret = mdb_del(t->txn, t->u->dbi_meta, &k, NULL);
	if (ret != 0 && ret != MDB_NOTFOUND)
		return chk(t, ret);
	if (name_key(box, m->name, nb, &nk) == 0) {
		ret = mdb_del(t->txn, t->u->dbi_name, &nk, NULL);
		if (ret != 0 && ret != MDB_NOTFOUND)
			return chk(t, ret);
	}
	return chk(t, mdb_put(t->txn, t->u->dbi_gone, &k, &gv, 0));
}

int
md_name_lookup(struct md_txn *t, uint32_t box, const char *name,
    uint32_t *uid_r)
{
	uint8_t nb[4 + MD_NAME_MAX];
	MDB_val nk, nv;
	int ret = name_key(box, name, nb, &nk);

	if (ret != 0)
		return POSTA_ENOTFOUND;
	ret = mdb_get(t->txn, t->u->dbi_name, &nk, &nv);
	if (ret != 0)
		return chk(t, ret);
	if (nv.mv_size != sizeof(*uid_r))
		return chk(t, MDB_CORRUPTED);
	memcpy(uid_r, nv.mv_data, sizeof(*uid_r));
	return 0;
}

int
md_msg_each(struct md_txn *t, uint32_t box,
    int (*fn)(void *ctx, const struct md_msg *m), void *ctx)
{
	MDB_cursor *c;
	uint8_t kb[8];
	MDB_val k = { 8, kb }, v;
	struct md_msg *m = malloc(sizeof(*m));
	int ret;

	if (m == NULL)
		return -ENOMEM;
	key8(kb, box, 0);
	ret = mdb_cursor_open(t->txn, t->u->dbi_msg, &c);
	if (ret != 0) {
		free(m);
		return chk(t, ret);
	}
	ret = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	while (ret == 0 && k.mv_size == 8 && be32(k.mv_data) == box) {
		ret = msg_decode(&k, &v, m);
		if (ret != 0)
			break;
		ret = fn(ctx, m);
		if (ret != 0)
			break;
		ret = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	free(m);
	if (ret == MDB_NOTFOUND)
		ret = 0;
	return ret > 0 ? chk(t, ret) : ret;
}

int
md_meta_get(struct md_txn *t, uint32_t box, uint32_t uid, MDB_val *val_r)
{
	uint8_t kb[8];
	MDB_val k = { 8, kb };

	key8(kb, box, uid);
	return chk(t, mdb_get(t->txn, t->u->dbi_meta, &k, val_r));
}

int
md_meta_put(struct md_txn *t, uint32_t box, uint32_t uid, const void *blob,
    size_t len)
{
	uint8_t kb[8];
	MDB_val k = { 8, kb }, v = { len, (void *)blob };

	key8(kb, box, uid);
	return chk(t, mdb_put(t->txn, t->u->dbi_meta, &k, &v, 0));
}

int
md_gone_each(struct md_txn *t, uint32_t box, uint64_t modseq,
    int (*fn)(void *ctx, uint32_t uid), void *ctx)
{
	MDB_cursor *c;
	uint8_t kb[8];
	MDB_val k = { 8, kb }, v;
	int ret;

	key8(kb, box, 0);
	ret = mdb_cursor_open(t->txn, t->u->dbi_gone, &c);
	if (ret != 0)
		return chk(t, ret);
	ret = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	while (ret == 0 && k.mv_size == 8 && be32(k.mv_data) == box) {
		uint64_t ms;

		if (v.mv_size != sizeof(ms)) {
			ret = MDB_CORRUPTED;
			break;
		}
		memcpy(&ms, v.mv_data, sizeof(ms));
		if (ms > modseq) {
			ret = fn(ctx, be32((const uint8_t *)k.mv_data + 4));
			if (ret != 0)
				break;
		}
		ret = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	if (ret == MDB_NOTFOUND)
		ret = 0;
	return ret > 0 ? chk(t, ret) : ret;
}

int
md_sub_set(struct md_txn *t, const char *name, bool on)
{
	MDB_val k = { strlen(name), (void *)name }, v = { 1, "1" };
	int ret;

	if (on)
		return chk(t, mdb_put(t->txn, t->u->dbi_sub, &k, &v, 0));
	ret = mdb_del(t->txn, t->u->dbi_sub, &k, NULL);
	return ret == MDB_NOTFOUND ? 0 : chk(t, ret);
}

bool
md_sub_has(struct md_txn *t, const char *name)
{
	MDB_val k = { strlen(name), (void *)name }, v;

	return mdb_get(t->txn, t->u->dbi_sub, &k, &v) == 0;
}

int
md_sub_each(struct md_txn *t, int (*fn)(void *ctx, const char *name),
    void *ctx)
{
	MDB_cursor *c;
	MDB_val k, v;
	int ret = mdb_cursor_open(t->txn, t->u->dbi_sub, &c);

	if (ret != 0)
		return chk(t, ret);
	ret = mdb_cursor_get(c, &k, &v, MDB_FIRST);
	while (ret == 0) {
		char name[MD_MAILBOX_MAX + 1];

		if (k.mv_size > 0 && k.mv_size <= MD_MAILBOX_MAX) {
			memcpy(name, k.mv_data, k.mv_size);
			name[k.mv_size] = '\0';
			ret = fn(ctx, name);
			if (ret != 0)
				break;
		}
		ret = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	if (ret == MDB_NOTFOUND)
		ret = 0;
	return ret > 0 ? chk(t, ret) : ret;
}

int
md_info_get(struct md_txn *t, const char *key, uint32_t *v_r)
{
	return chk(t, info_get(t->txn, t->u->dbi_info, key, v_r));
}

int
md_info_put(struct md_txn *t, const char *key, uint32_t v)
{
	return chk(t, info_put(t->txn, t->u->dbi_info, key, v));
}

/* ---- inserting messages ---- */

int
md_msg_insert(struct md_txn *t, struct md_box_info *bi, struct md_msg *m,
    const void *meta, size_t meta_len)
{
	int ret;

	if (bi->rec.uidnext == UINT32_MAX)
		return POSTA_EQUOTA;	/* RFC 3501: a new UIDVALIDITY */
	m->uid = bi->rec.uidnext++;
	m->rec.modseq = ++bi->rec.highestmodseq;
	bi->dirty = true;
	ret = md_msg_put(t, bi->rec.id, m);
	if (ret == 0 && meta != NULL)
		ret = md_meta_put(t, bi->rec.id, m->uid, meta, meta_len);
	return ret;
}

int
md_msg_upsert(struct md_txn *t, struct md_box_info *bi, struct md_msg *m,
    const void *meta, size_t meta_len)
{
	uint32_t uid;
	int ret = md_name_lookup(t, bi->rec.id, m->name, &uid);

	if (ret == POSTA_ENOTFOUND)
		return md_msg_insert(t, bi, m, meta, meta_len);
	if (ret != 0)
		return ret;
	/* a sync saw the file first: keep its UID, add what we know */
	m->uid = uid;
	m->rec.modseq = ++bi->rec.highestmodseq;
	bi->dirty = true;
	ret = md_msg_put(t, bi->rec.id, m);
	if (ret == 0 && meta != NULL)
		ret = md_meta_put(t, bi->rec.id, m->uid, meta, meta_len);
	return ret;
}
