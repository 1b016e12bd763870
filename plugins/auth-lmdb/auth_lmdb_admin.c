/* auth_lmdb_admin.c: admin writes and listings of the directory */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "auth_lmdb_priv.h"

/*
 * Every operation validates first and writes last, so a validation error
 * leaves the transaction as it was (an import relies on that to go on with
 * its next line).  Names are normalised here, not by callers, so no path
 * can store a key lookups would never find.
 */

enum domain_kind {
	DOMAIN_NONE = 0,
	DOMAIN_REAL,
	DOMAIN_ALIAS,
};

static int
get(struct auth_lmdb_txn *t, MDB_dbi dbi, const char *key, MDB_val *v,
    const char **error_r)
{
	return auth_lmdb_mdb_get(t->txn, dbi, key, v, error_r);
}

static int
put(struct auth_lmdb_txn *t, MDB_dbi dbi, const char *key, const void *val,
    size_t len, const char **error_r)
{
	MDB_val k = { strlen(key), (void *)key };
	MDB_val v = { len, (void *)val };

	return auth_lmdb_mdb_error(mdb_put(t->txn, dbi, &k, &v, 0), error_r);
}

static int
del(struct auth_lmdb_txn *t, MDB_dbi dbi, const char *key,
    const char **error_r)
{
	MDB_val k = { strlen(key), (void *)key };

	return auth_lmdb_mdb_error(mdb_del(t->txn, dbi, &k, NULL), error_r);
}

static int
check_write(struct auth_lmdb_txn *t, const char **error_r)
{
	if (!t->write) {
		*error_r = "read-only transaction";
		return -EROFS;
	}
	return 0;
}

/* Returns a domain_kind, or an error; target_r (if non-NULL, DOMAIN_MAX +
   1 bytes) gets an alias domain's target. */
static int
domain_kind(struct auth_lmdb_txn *t, const char *domain, char *target_r,
    const char **error_r)
{
	MDB_val v;
	int ret;

	ret = get(t, t->db->domains, domain, &v, error_r);
	if (ret == 0)
		return DOMAIN_REAL;
	if (ret != POSTA_ENOTFOUND)
		return ret;
	ret = get(t, t->db->alias_domains, domain, &v, error_r);
	if (ret == POSTA_ENOTFOUND)
		return DOMAIN_NONE;
	if (ret < 0)
		return ret;
	if (target_r != NULL &&
	    auth_lmdb_rec_string(&v, target_r, AUTH_LMDB_DOMAIN_MAX + 1) < 0) {
		*error_r = "alias domain record is damaged";
		return POSTA_ECORRUPT;
	}
	return DOMAIN_ALIAS;
}

static int
norm_addr(const char *in, char *out, const char **error_r)
{
	return auth_lmdb_address_normalize(in, out, AUTH_LMDB_ADDRESS_MAX + 1,
	    error_r);
}

static int
norm_domain(const char *in, char *out, const char **error_r)
{
	return auth_lmdb_domain_normalize(in, out, AUTH_LMDB_DOMAIN_MAX + 1,
	    error_r);
}

/* The address must lie in a real domain: for users, aliases. */
static int
require_real_domain(struct auth_lmdb_txn *t, const char *address,
    const char **error_r)
{
	int kind = domain_kind(t, strchr(address, '@') + 1, NULL, error_r);

	if (kind < 0)
		return kind;
	if (kind == DOMAIN_NONE) {
		*error_r = "its domain does not exist (add it with "
		    "'posta domain add')";
		return POSTA_ENOTFOUND;
	}
	if (kind == DOMAIN_ALIAS) {
		*error_r = "its domain is an alias domain (use the address "
		    "in the target domain)";
		return -EINVAL;
	}
	return 0;
}

/* 0 when address is a user or alias, POSTA_ENOTFOUND, or an error */
static int
is_user_or_alias(struct auth_lmdb_txn *t, const char *address,
    const char **error_r)
{
	MDB_val v;
	int ret;

	ret = get(t, t->db->users, address, &v, error_r);
	if (ret != POSTA_ENOTFOUND)
		return ret;
	return get(t, t->db->aliases, address, &v, error_r);
}

/*
 * Normalises an alias or catch-all target into out.  A target in one of
 * our domains (or alias domains) must exist, so a typo is caught now and
 * not when mail bounces; self is the alias being edited (or NULL).
 */
static int
check_target(struct auth_lmdb_txn *t, const char *self, const char *in,
    char *out, const char **error_r)
{
	char real[AUTH_LMDB_DOMAIN_MAX + 1];
	char mapped[AUTH_LMDB_ADDRESS_MAX + 1];
	const char *at;
	size_t local_len;
	int kind, ret;

	ret = norm_addr(in, out, error_r);
	if (ret < 0)
		return ret;
	at = strchr(out, '@');
	kind = domain_kind(t, at + 1, real, error_r);
	if (kind < 0)
		return kind;
	if (kind == DOMAIN_NONE)
		return 0;	/* external */
	local_len = (size_t)(at - out);
	if (kind == DOMAIN_ALIAS) {
		if (local_len + 1 + strlen(real) > AUTH_LMDB_ADDRESS_MAX) {
			*error_r = "target is too long in its alias "
			    "domain's target domain";
			return POSTA_ENAME;
		}
		memcpy(mapped, out, local_len + 1);
		strcpy(mapped + local_len + 1, real);
	} else {
		strcpy(mapped, out);
	}
	if (self != NULL && strcmp(mapped, self) == 0) {
		*error_r = "an alias cannot point at itself";
		return -EINVAL;
	}
	ret = is_user_or_alias(t, mapped, error_r);
	if (ret == POSTA_ENOTFOUND)
		*error_r = "target is in a local domain but is neither a "
		    "user nor an alias";
	return ret;
}

/* ---- domains ---- */

int
auth_lmdb_domain_add(struct auth_lmdb_txn *t, const char *domain_in,
    const char **error_r)
{
	static const uint8_t rec[2] = { AUTH_LMDB_REC_VERSION, 0 };
	char domain[AUTH_LMDB_DOMAIN_MAX + 1];
	int ret, kind;

	if ((ret = check_write(t, error_r)) < 0 ||
	    (ret = norm_domain(domain_in, domain, error_r)) < 0)
		return ret;
	kind = domain_kind(t, domain, NULL, error_r);
	if (kind < 0)
		return kind;
	if (kind != DOMAIN_NONE) {
		*error_r = kind == DOMAIN_REAL ? "domain already exists" :
		    "already an alias domain";
		return POSTA_EEXIST;
	}
	return put(t, t->db->domains, domain, rec, sizeof(rec), error_r);
}

int
auth_lmdb_domain_exists(struct auth_lmdb_txn *t, const char *domain_in)
{
	char domain[AUTH_LMDB_DOMAIN_MAX + 1];
	const char *error;
	int kind;

	if (norm_domain(domain_in, domain, &error) < 0)
		return POSTA_ENOTFOUND;
	kind = domain_kind(t, domain, NULL, &error);
	if (kind < 0)
		return kind;
	return kind == DOMAIN_REAL ? 0 : POSTA_ENOTFOUND;
}

/* Keys of dbi that end in "@domain" (or whose value is target, for alias
   domains), collected before any delete so the cursor never walks a tree
   it is changing. */
struct keylist {
	char **v;
	size_t n, cap;
};

static void
keylist_free(struct keylist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static int
keylist_add(struct keylist *l, const MDB_val *k)
{
	if (l->n == l->cap) {
		size_t cap = l->cap == 0 ? 16 : l->cap * 2;
		char **v = realloc(l->v, cap * sizeof(*v));

		if (v == NULL)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n] = strndup(k->mv_data, k->mv_size);
	if (l->v[l->n] == NULL)
		return -ENOMEM;
	l->n++;
	return 0;
}

static bool
key_in_domain(const MDB_val *k, const char *domain)
{
	size_t dlen = strlen(domain);
	const char *s = k->mv_data;

	return k->mv_size > dlen + 1 && s[k->mv_size - dlen - 1] == '@' &&
	    memcmp(s + k->mv_size - dlen, domain, dlen) == 0;
}

static bool
value_is(const MDB_val *v, const char *s)
{
	size_t len = strlen(s);

	return v->mv_size == len + 1 &&
	    ((const uint8_t *)v->mv_data)[0] == AUTH_LMDB_REC_VERSION &&
	    memcmp((const uint8_t *)v->mv_data + 1, s, len) == 0;
}

/* Collects matching keys (limit 0 = all); 0 or an error. */
static int
collect(struct auth_lmdb_txn *t, MDB_dbi dbi, const char *domain,
    bool by_value, size_t limit, struct keylist *l, const char **error_r)
{
	MDB_cursor *c;
	MDB_val k, v;
	int rc, ret = 0;

	rc = mdb_cursor_open(t->txn, dbi, &c);
	if (rc != 0)
		return auth_lmdb_mdb_error(rc, error_r);
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (by_value ? !value_is(&v, domain) : !key_in_domain(&k,
		    domain))
			continue;
		ret = keylist_add(l, &k);
		if (ret < 0) {
			*error_r = strerror(ENOMEM);
			break;
		}
		if (limit != 0 && l->n >= limit)
			break;
	}
	mdb_cursor_close(c);
	if (ret == 0 && rc != 0 && rc != MDB_NOTFOUND)
		ret = auth_lmdb_mdb_error(rc, error_r);
	return ret;
}

int
auth_lmdb_domain_del(struct auth_lmdb_txn *t, const char *domain_in,
    bool force, const char **error_r)
{
	static const char *const busy[] = {
		"domain still has users (--force deletes them too)",
		"domain still has aliases (--force deletes them too)",
		"alias domains still point at it (--force deletes them too)",
	};
	char domain[AUTH_LMDB_DOMAIN_MAX + 1];
	struct keylist lists[3];
	MDB_dbi dbis[3];
	MDB_val v;
	size_t i, j;
	int ret, kind;

	if ((ret = check_write(t, error_r)) < 0 ||
	    (ret = norm_domain(domain_in, domain, error_r)) < 0)
		return ret;
	kind = domain_kind(t, domain, NULL, error_r);
	if (kind < 0)
		return kind;
	if (kind == DOMAIN_NONE) {
		*error_r = "no such domain";
		return POSTA_ENOTFOUND;
	}
	if (kind == DOMAIN_ALIAS) {
		*error_r = "it is an alias domain (use 'posta alias-domain "
		    "del')";
		return -EINVAL;
	}
	dbis[0] = t->db->users;
	dbis[1] = t->db->aliases;
	dbis[2] = t->db->alias_domains;
	memset(lists, 0, sizeof(lists));
	for (i = 0; i < 3; i++) {
		ret = collect(t, dbis[i], domain, i == 2, force ? 0 : 1,
		    &lists[i], error_r);
		if (ret < 0)
			goto out;
		if (!force && lists[i].n > 0) {
			*error_r = busy[i];
			ret = -EBUSY;
			goto out;
		}
	}
	ret = get(t, t->db->catchall, domain, &v, error_r);
	if (ret == 0 && !force) {
		*error_r = "domain still has a catch-all (--force deletes it "
		    "too)";
		ret = -EBUSY;
		goto out;
	}
	if (ret == 0)
		ret = del(t, t->db->catchall, domain, error_r);
	else if (ret == POSTA_ENOTFOUND)
		ret = 0;
	for (i = 0; i < 3 && ret == 0; i++)
		for (j = 0; j < lists[i].n && ret == 0; j++)
			ret = del(t, dbis[i], lists[i].v[j], error_r);
	if (ret == 0)
		ret = del(t, t->db->domains, domain, error_r);
out:
	for (i = 0; i < 3; i++)
		keylist_free(&lists[i]);
	return ret;
}

int
auth_lmdb_alias_domain_add(struct auth_lmdb_txn *t, const char *alias_in,
    const char *target_in, const char **error_r)
{
	char alias[AUTH_LMDB_DOMAIN_MAX + 1];
	char target[AUTH_LMDB_DOMAIN_MAX + 1];
	uint8_t rec[AUTH_LMDB_DOMAIN_MAX + 1];
	long len;
	int ret, kind;

	if ((ret = check_write(t, error_r)) < 0 ||
	    (ret = norm_domain(alias_in, alias, error_r)) < 0 ||
	    (ret = norm_domain(target_in, target, error_r)) < 0)
		return ret;
	if (strcmp(alias, target) == 0) {
		*error_r = "an alias domain cannot point at itself";
		return -EINVAL;
	}
	kind = domain_kind(t, alias, NULL, error_r);
	if (kind < 0)
		return kind;
	if (kind != DOMAIN_NONE) {
		*error_r = kind == DOMAIN_REAL ? "already a domain" :
		    "alias domain already exists";
		return POSTA_EEXIST;
	}
	kind = domain_kind(t, target, NULL, error_r);
	if (kind < 0)
		return kind;
	if (kind == DOMAIN_NONE) {
		*error_r = "target domain does not exist";
		return POSTA_ENOTFOUND;
	}
	if (kind == DOMAIN_ALIAS) {
		*error_r = "target is an alias domain itself (point at its "
		    "target instead)";
		return -EINVAL;
	}
	len = auth_lmdb_enc_string(rec, sizeof(rec), target);
	if (len < 0) {
		*error_r = "target domain too long";
		return POSTA_ENAME;
	}
	return put(t, t->db->alias_domains, alias, rec, (size_t)len,
	    error_r);
}

int
auth_lmdb_alias_domain_del(struct auth_lmdb_txn *t, const char *alias_in,
    const char **error_r)
{
	char alias[AUTH_LMDB_DOMAIN_MAX + 1];
	int ret, kind;

	if ((ret = check_write(t, error_r)) < 0 ||
	    (ret = norm_domain(alias_in, alias, error_r)) < 0)
		return ret;
	kind = domain_kind(t, alias, NULL, error_r);
	if (kind < 0)
		return kind;
	if (kind != DOMAIN_ALIAS) {
		*error_r = kind == DOMAIN_REAL ? "it is a domain, not an "
		    "alias domain (use 'posta domain del')" :
		    "no such alias domain";
		return kind == DOMAIN_REAL ? -EINVAL : POSTA_ENOTFOUND;
	}
	return del(t, t->db->alias_domains, alias, error_r);
}

/* ---- users ---- */

int
auth_lmdb_user_add(struct auth_lmdb_txn *t, const char *address_in,
    const char *hash_in, const char **error_r)
{
	char addr[AUTH_LMDB_ADDRESS_MAX + 1];
	char hash[AUTH_LMDB_HASH_MAX + 1];
	uint8_t rec[AUTH_LMDB_HASH_MAX + 2];
	MDB_val v;
	long len;
	int ret;

	if ((ret = check_write(t, error_r)) < 0 ||
	    (ret = norm_addr(address_in, addr, error_r)) < 0 ||
	    (ret = auth_lmdb_hash_import(hash_in, hash, sizeof(hash),
	    error_r)) < 0 ||
	    (ret = require_real_domain(t, addr, error_r)) < 0)
		return ret;
	ret = get(t, t->db->users, addr, &v, error_r);
	if (ret == 0) {
		*error_r = "user already exists";
		return POSTA_EEXIST;
	}
	if (ret != POSTA_ENOTFOUND)
		return ret;
	ret = get(t, t->db->aliases, addr, &v, error_r);
	if (ret == 0) {
		*error_r = "already an alias";
		return POSTA_EEXIST;
	}
	if (ret != POSTA_ENOTFOUND)
		return ret;
	len = auth_lmdb_enc_user(rec, sizeof(rec), hash, false);
	if (len < 0) {
		*error_r = "hash too long";
		return -EINVAL;
	}
	return put(t, t->db->users, addr, rec, (size_t)len, error_r);
}

/* Reads the user record of a normalised address. */
static int
user_read(struct auth_lmdb_txn *t, const char *addr, char *hash_r,
    bool *disabled_r, const char **error_r)
{
	MDB_val v;
	int ret;

	ret = get(t, t->db->users, addr, &v, error_r);
	if (ret == POSTA_ENOTFOUND) {
		*error_r = "no such user";
		return ret;
	}
	if (ret < 0)
		return ret;
	ret = auth_lmdb_rec_user(&v, hash_r, AUTH_LMDB_HASH_MAX + 1,
	    disabled_r);
	if (ret < 0) {
		*error_r = "user record is damaged";
		return POSTA_ECORRUPT;
	}
	return 0;
}

int
auth_lmdb_user_del(struct auth_lmdb_txn *t, const char *address_in,
    const char **error_r)
{
	char addr[AUTH_LMDB_ADDRESS_MAX + 1];
	MDB_val v;
	int ret;

	if ((ret = check_write(t, error_r)) < 0 ||
	    (ret = norm_addr(address_in, addr, error_r)) < 0)
		return ret;
	ret = get(t, t->db->users, addr, &v, error_r);
	if (ret == POSTA_ENOTFOUND)
		*error_r = "no such user";
	if (ret < 0)
		return ret;
	return del(t, t->db->users, addr, error_r);
}

static int
user_update(struct auth_lmdb_txn *t, const char *address_in,
    const char *hash_in, int disabled, const char **error_r)
{
	char addr[AUTH_LMDB_ADDRESS_MAX + 1];
	char hash[AUTH_LMDB_HASH_MAX + 1];
	uint8_t rec[AUTH_LMDB_HASH_MAX + 2];
	bool was_disabled;
	long len;
	int ret;

	if ((ret = check_write(t, error_r)) < 0 ||
	    (ret = norm_addr(address_in, addr, error_r)) < 0 ||
	    (ret = user_read(t, addr, hash, &was_disabled, error_r)) < 0)
		return ret;
	if (hash_in != NULL) {
		ret = auth_lmdb_hash_import(hash_in, hash, sizeof(hash),
		    error_r);
		if (ret < 0)
			return ret;
	}
	len = auth_lmdb_enc_user(rec, sizeof(rec), hash,
	    disabled < 0 ? was_disabled : disabled != 0);
	if (len < 0) {
		*error_r = "hash too long";
		return -EINVAL;
	}
	return put(t, t->db->users, addr, rec, (size_t)len, error_r);
}

int
auth_lmdb_user_set_hash(struct auth_lmdb_txn *t, const char *address,
    const char *hash, const char **error_r)
{
	return user_update(t, address, hash, -1, error_r);
}

int
auth_lmdb_user_set_disabled(struct auth_lmdb_txn *t, const char *address,
    bool disabled, const char **error_r)
{
	return user_update(t, address, NULL, disabled ? 1 : 0, error_r);
}

int
auth_lmdb_user_get(struct auth_lmdb_txn *t, const char *address_in,
    char *hash_r, bool *disabled_r, const char **error_r)
{
	char addr[AUTH_LMDB_ADDRESS_MAX + 1];
	char hash[AUTH_LMDB_HASH_MAX + 1];
	int ret;

	if ((ret = norm_addr(address_in, addr, error_r)) < 0 ||
	    (ret = user_read(t, addr, hash, disabled_r, error_r)) < 0)
		return ret;
	if (hash_r != NULL)
		strcpy(hash_r, hash);
	return 0;
}

/* ---- aliases ---- */

/* An alias's targets as NUL-terminated copies, in a malloc'd array. */
struct targets {
	char (*v)[AUTH_LMDB_ADDRESS_MAX + 1];
	size_t n;
};

static int
targets_load(const MDB_val *val, struct targets *tl, size_t extra,
    const char **error_r)
{
	struct auth_lmdb_targets it;
	const char *s;
	size_t len;

	tl->n = 0;
	tl->v = NULL;
	if (val != NULL && auth_lmdb_targets_init(&it, val) < 0) {
		*error_r = "alias record is damaged";
		return POSTA_ECORRUPT;
	}
	tl->v = calloc((val != NULL ? auth_lmdb_targets_count(&it) : 0) +
	    extra, sizeof(*tl->v));
	if (tl->v == NULL) {
		*error_r = strerror(ENOMEM);
		return -ENOMEM;
	}
	while (val != NULL && auth_lmdb_targets_next(&it, &s, &len)) {
		memcpy(tl->v[tl->n], s, len);
		tl->v[tl->n][len] = '\0';
		tl->n++;
	}
	return 0;
}

static int
targets_store(struct auth_lmdb_txn *t, const char *addr,
    const struct targets *tl, const char **error_r)
{
	const char **ptrs;
	uint8_t *buf;
	size_t i, size = 3 + tl->n * (2 + AUTH_LMDB_ADDRESS_MAX);
	long len;
	int ret;

	ptrs = calloc(tl->n, sizeof(*ptrs));
	buf = malloc(size);
	if (ptrs == NULL || buf == NULL) {
		free(ptrs);
		free(buf);
		*error_r = strerror(ENOMEM);
		return -ENOMEM;
	}
	for (i = 0; i < tl->n; i++)
		ptrs[i] = tl->v[i];
	len = auth_lmdb_enc_targets(buf, size, ptrs, tl->n);
	if (len < 0) {
		*error_r = "too many targets";
		ret = -E2BIG;
	} else {
		ret = put(t, t->db->aliases, addr, buf, (size_t)len, error_r);
	}
	free(ptrs);
	free(buf);
	return ret;
}

int
auth_lmdb_alias_add(struct auth_lmdb_txn *t, const char *address_in,
    const char *const *targets, size_t n_targets, const char **error_r)
{
	char addr[AUTH_LMDB_ADDRESS_MAX + 1];
	char target[AUTH_LMDB_ADDRESS_MAX + 1];
	struct targets tl = { NULL, 0 };
	MDB_val v;
	size_t i, j, before;
	bool exists;
	int ret;

	if ((ret = check_write(t, error_r)) < 0 ||
	    (ret = norm_addr(address_in, addr, error_r)) < 0 ||
	    (ret = require_real_domain(t, addr, error_r)) < 0)
		return ret;
	if (n_targets == 0) {
		*error_r = "no targets given";
		return -EINVAL;
	}
	if (n_targets > AUTH_LMDB_TARGETS_MAX) {
		*error_r = "too many targets (at most 1000)";
		return -E2BIG;
	}
	ret = get(t, t->db->users, addr, &v, error_r);
	if (ret == 0) {
		*error_r = "already a user";
		return POSTA_EEXIST;
	}
	if (ret != POSTA_ENOTFOUND)
		return ret;
	ret = get(t, t->db->aliases, addr, &v, error_r);
	if (ret < 0 && ret != POSTA_ENOTFOUND)
		return ret;
	exists = ret == 0;
	ret = targets_load(exists ? &v : NULL, &tl, n_targets, error_r);
	if (ret < 0)
		return ret;
	before = tl.n;
	for (i = 0; i < n_targets; i++) {
		ret = check_target(t, addr, targets[i], target, error_r);
		if (ret < 0)
			goto out;
		for (j = 0; j < tl.n; j++)
			if (strcmp(tl.v[j], target) == 0)
				break;
		if (j < tl.n)
			continue;
		if (tl.n >= AUTH_LMDB_TARGETS_MAX) {
			*error_r = "alias would have more than 1000 targets";
			ret = -E2BIG;
			goto out;
		}
		strcpy(tl.v[tl.n++], target);
	}
	if (tl.n == before) {
		*error_r = exists ? "alias already has these targets" :
		    "no targets given";
		ret = exists ? POSTA_EEXIST : -EINVAL;
		goto out;
	}
	ret = targets_store(t, addr, &tl, error_r);
out:
	free(tl.v);
	return ret;
}

int
auth_lmdb_alias_del(struct auth_lmdb_txn *t, const char *address_in,
    const char *target_in, const char **error_r)
{
	char addr[AUTH_LMDB_ADDRESS_MAX + 1];
	char target[AUTH_LMDB_ADDRESS_MAX + 1];
	struct targets tl;
	MDB_val v;
	size_t i;
	int ret;

	if ((ret = check_write(t, error_r)) < 0 ||
	    (ret = norm_addr(address_in, addr, error_r)) < 0)
		return ret;
	if (target_in != NULL && (ret = norm_addr(target_in, target,
	    error_r)) < 0)
		return ret;
	ret = get(t, t->db->aliases, addr, &v, error_r);
	if (ret == POSTA_ENOTFOUND)
		*error_r = "no such alias";
	if (ret < 0)
		return ret;
	if (target_in == NULL)
		return del(t, t->db->aliases, addr, error_r);
	ret = targets_load(&v, &tl, 0, error_r);
	if (ret < 0)
		return ret;
	for (i = 0; i < tl.n; i++)
		if (strcmp(tl.v[i], target) == 0)
			break;
	if (i == tl.n) {
		*error_r = "not a target of this alias";
		ret = POSTA_ENOTFOUND;
	} else {
		memmove(tl.v[i], tl.v[i + 1], (tl.n - i - 1) *
		    sizeof(*tl.v));
		tl.n--;
		ret = tl.n == 0 ? del(t, t->db->aliases, addr, error_r) :
		    targets_store(t, addr, &tl, error_r);
	}
	free(tl.v);
	return ret;
}

int
auth_lmdb_catchall_set(struct auth_lmdb_txn *t, const char *domain_in,
    const char *target_in, const char **error_r)
{
	char domain[AUTH_LMDB_DOMAIN_MAX + 1];
	char self[AUTH_LMDB_DOMAIN_MAX + 2];
	char target[AUTH_LMDB_ADDRESS_MAX + 1];
	uint8_t rec[AUTH_LMDB_ADDRESS_MAX + 1];
	long len;
	int ret, kind;

	if ((ret = check_write(t, error_r)) < 0 ||
	    (ret = norm_domain(domain_in, domain, error_r)) < 0)
		return ret;
	kind = domain_kind(t, domain, NULL, error_r);
	if (kind < 0)
		return kind;
	if (kind != DOMAIN_REAL) {
		*error_r = kind == DOMAIN_NONE ? "no such domain" :
		    "it is an alias domain (set the catch-all of its target)";
		return kind == DOMAIN_NONE ? POSTA_ENOTFOUND : -EINVAL;
	}
	self[0] = '@';
	strcpy(self + 1, domain);
	ret = check_target(t, self, target_in, target, error_r);
	if (ret < 0)
		return ret;
	len = auth_lmdb_enc_string(rec, sizeof(rec), target);
	if (len < 0) {
		*error_r = "target too long";
		return POSTA_ENAME;
	}
	return put(t, t->db->catchall, domain, rec, (size_t)len, error_r);
}

int
auth_lmdb_catchall_unset(struct auth_lmdb_txn *t, const char *domain_in,
    const char **error_r)
{
	char domain[AUTH_LMDB_DOMAIN_MAX + 1];
	MDB_val v;
	int ret;

	if ((ret = check_write(t, error_r)) < 0 ||
	    (ret = norm_domain(domain_in, domain, error_r)) < 0)
		return ret;
	ret = get(t, t->db->catchall, domain, &v, error_r);
	if (ret == POSTA_ENOTFOUND)
		*error_r = "domain has no catch-all";
	if (ret < 0)
		return ret;
	return del(t, t->db->catchall, domain, error_r);
}

/* ---- listing ---- */

enum walk_kind {
	WALK_DOMAINS,
	WALK_ALIAS_DOMAINS,
	WALK_USERS,
	WALK_ALIASES,
	WALK_CATCHALL,
};

struct walk_cbs {
	auth_lmdb_domain_cb *domain;
	auth_lmdb_alias_domain_cb *alias_domain;
	auth_lmdb_user_cb *user;
	auth_lmdb_alias_cb *alias;
	auth_lmdb_catchall_cb *catchall;
	void *ctx;
};

static int
walk_entry(enum walk_kind kind, const MDB_val *k, const MDB_val *v,
    const struct walk_cbs *cbs)
{
	char key[AUTH_LMDB_ADDRESS_MAX + 1];
	char str[AUTH_LMDB_ADDRESS_MAX + 1];
	struct targets tl;
	const char **ptrs;
	const char *error;
	bool disabled;
	size_t i;
	int ret;

	if (k->mv_size == 0 || k->mv_size > AUTH_LMDB_ADDRESS_MAX ||
	    memchr(k->mv_data, '\0', k->mv_size) != NULL)
		return POSTA_ECORRUPT;
	memcpy(key, k->mv_data, k->mv_size);
	key[k->mv_size] = '\0';
	switch (kind) {
	case WALK_DOMAINS:
		return cbs->domain(cbs->ctx, key);
	case WALK_ALIAS_DOMAINS:
		if (auth_lmdb_rec_string(v, str, sizeof(str)) < 0)
			return POSTA_ECORRUPT;
		return cbs->alias_domain(cbs->ctx, key, str);
	case WALK_CATCHALL:
		if (auth_lmdb_rec_string(v, str, sizeof(str)) < 0)
			return POSTA_ECORRUPT;
		return cbs->catchall(cbs->ctx, key, str);
	case WALK_USERS:
		if (auth_lmdb_rec_user(v, NULL, 0, &disabled) < 0)
			return POSTA_ECORRUPT;
		return cbs->user(cbs->ctx, key, disabled);
	case WALK_ALIASES:
		ret = targets_load(v, &tl, 0, &error);
		if (ret < 0)
			return ret;
		ptrs = calloc(tl.n, sizeof(*ptrs));
		if (ptrs == NULL) {
			free(tl.v);
			return -ENOMEM;
		}
		for (i = 0; i < tl.n; i++)
			ptrs[i] = tl.v[i];
		ret = cbs->alias(cbs->ctx, key, ptrs, tl.n);
		free(ptrs);
		free(tl.v);
		return ret;
	}
	return -EINVAL;
}

static int
walk(struct auth_lmdb_txn *t, MDB_dbi dbi, enum walk_kind kind,
    const char *domain_in, const struct walk_cbs *cbs)
{
	char domain[AUTH_LMDB_DOMAIN_MAX + 1];
	const char *error;
	MDB_cursor *c;
	MDB_val k, v;
	int rc, ret = 0;

	if (domain_in != NULL && (ret = norm_domain(domain_in, domain,
	    &error)) < 0)
		return ret;
	rc = mdb_cursor_open(t->txn, dbi, &c);
	if (rc != 0)
		return auth_lmdb_mdb_error(rc, NULL);
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (domain_in != NULL && !key_in_domain(&k, domain))
			continue;
		ret = walk_entry(kind, &k, &v, cbs);
		if (ret != 0)
			break;
	}
	mdb_cursor_close(c);
	if (ret == 0 && rc != MDB_NOTFOUND)
		ret = auth_lmdb_mdb_error(rc, NULL);
	return ret;
}

int
auth_lmdb_domain_foreach(struct auth_lmdb_txn *t, auth_lmdb_domain_cb *cb,
    void *ctx)
{
	struct walk_cbs cbs = { .domain = cb, .ctx = ctx };

	return walk(t, t->db->domains, WALK_DOMAINS, NULL, &cbs);
}

int
auth_lmdb_alias_domain_foreach(struct auth_lmdb_txn *t,
    auth_lmdb_alias_domain_cb *cb, void *ctx)
{
	struct walk_cbs cbs = { .alias_domain = cb, .ctx = ctx };

	return walk(t, t->db->alias_domains, WALK_ALIAS_DOMAINS, NULL, &cbs);
}

int
auth_lmdb_user_foreach(struct auth_lmdb_txn *t, const char *domain,
    auth_lmdb_user_cb *cb, void *ctx)
{
	struct walk_cbs cbs = { .user = cb, .ctx = ctx };

	return walk(t, t->db->users, WALK_USERS, domain, &cbs);
}

int
auth_lmdb_alias_foreach(struct auth_lmdb_txn *t, const char *domain,
    auth_lmdb_alias_cb *cb, void *ctx)
{
	struct walk_cbs cbs = { .alias = cb, .ctx = ctx };

	return walk(t, t->db->aliases, WALK_ALIASES, domain, &cbs);
}

int
auth_lmdb_catchall_foreach(struct auth_lmdb_txn *t,
    auth_lmdb_catchall_cb *cb, void *ctx)
{
	struct walk_cbs cbs = { .catchall = cb, .ctx = ctx };

	return walk(t, t->db->catchall, WALK_CATCHALL, NULL, &cbs);
}
