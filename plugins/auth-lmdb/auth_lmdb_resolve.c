/* auth_lmdb_resolve.c: address -> accounts and external addresses */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "arena.h"
#include "auth_lmdb_priv.h"

/*
 * A depth-first walk over one read transaction.  Two sets keep it finite
 * and its answer duplicate-free:
 *  - path: the aliases (and "@domain" catch-alls) being expanded right now;
 *    meeting one again is a loop, and that branch is dropped (as Postfix
 *    does with a self-reference) so a -> {alice, b}, b -> a still delivers
 *    to alice;
 *  - expanded: every alias and catch-all already expanded anywhere; a
 *    second arrival by another branch (a diamond) adds nothing new.
 * Going deeper than max_depth is an error, not a dropped branch: silently
 * losing part of a distribution list is worse than a temporary failure the
 * admin hears about.
 */

struct strset {
	const char **v;
	size_t n, cap;
};

struct walk {
	struct auth_lmdb_db *db;
	MDB_txn *txn;
	struct arena *a;
	unsigned max_depth;
	unsigned visits;
	unsigned notes;
	const char *path[AUTH_LMDB_DEPTH_MAX + 2];
	unsigned path_n;
	struct strset expanded, accounts, external;
	const char **error_r;
};

static bool
strset_has(const struct strset *s, const char *str)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (strcmp(s->v[i], str) == 0)
			return true;
	return false;
}

/* Adds a copy of str unless present; 0 or -E2BIG (arena full). */
static int
strset_add(struct walk *w, struct strset *s, const char *str)
{
	if (strset_has(s, str))
		return 0;
	if (s->n == s->cap) {
		size_t cap = s->cap == 0 ? 4 : s->cap * 2;
		const char **v = arena_alloc(w->a, cap * sizeof(*v));

		if (v == NULL)
			goto full;
		if (s->n > 0)
			memcpy(v, s->v, s->n * sizeof(*v));
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n] = arena_strdup(w->a, str);
	if (s->v[s->n] == NULL)
		goto full;
	s->n++;
	return 0;
full:
	*w->error_r = "resolution too large for its memory bound";
	return -E2BIG;
}

static bool
on_path(const struct walk *w, const char *key)
{
	unsigned i;

	for (i = 0; i < w->path_n; i++)
		if (strcmp(w->path[i], key) == 0)
			return true;
	return false;
}

/* 0 (found), POSTA_ENOTFOUND, or an error */
static int
get(struct walk *w, MDB_dbi dbi, const char *key, MDB_val *v)
{
	return auth_lmdb_mdb_get(w->txn, dbi, key, v, w->error_r);
}

/*
 * Maps domain to the real domain it stands for: itself when it is a
 * domain, the target of an alias domain.  real_r holds
 * AUTH_LMDB_DOMAIN_MAX + 1 bytes.  POSTA_ENOTFOUND when it is not ours.
 */
static int
real_domain(struct walk *w, const char *domain, char *real_r)
{
	MDB_val v;
	int ret;

	ret = get(w, w->db->domains, domain, &v);
	if (ret == 0) {
		strcpy(real_r, domain);
		return 0;
	}
	if (ret != POSTA_ENOTFOUND)
		return ret;
	ret = get(w, w->db->alias_domains, domain, &v);
	if (ret < 0)
		return ret;
	if (auth_lmdb_rec_string(&v, real_r, AUTH_LMDB_DOMAIN_MAX + 1) < 0) {
		*w->error_r = "alias domain record is damaged";
		return POSTA_ECORRUPT;
	}
	/* a dangling alias domain (its target since deleted) is not ours */
	return get(w, w->db->domains, real_r, &v);
}

static int expand(struct walk *w, const char *address, unsigned depth);

/* Expands the targets of alias or catch-all node key at depth. */
static int
expand_node(struct walk *w, const char *key, const MDB_val *v, bool is_alias,
    unsigned depth)
{
	char target[AUTH_LMDB_ADDRESS_MAX + 1];
	struct auth_lmdb_targets it;
	const char *s, *bad;
	size_t len;
	int ret;

	if (on_path(w, key)) {
		w->notes |= AUTH_LMDB_NOTE_LOOP;
		return 0;
	}
	if (strset_has(&w->expanded, key))
		return 0;
	if (depth >= w->max_depth) {
		*w->error_r = "alias chain deeper than max_alias_depth";
		return -ELOOP;
	}
	ret = strset_add(w, &w->expanded, key);
	if (ret < 0)
		return ret;
	w->path[w->path_n++] = key;
	if (is_alias) {
		if (auth_lmdb_targets_init(&it, v) < 0) {
			*w->error_r = "alias record is damaged";
			ret = POSTA_ECORRUPT;
			goto out;
		}
		while (auth_lmdb_targets_next(&it, &s, &len)) {
			memcpy(target, s, len);
			target[len] = '\0';
			if (auth_lmdb_address_normalize(target, target,
			    sizeof(target), &bad) < 0) {
				*w->error_r = "alias target is damaged";
				ret = POSTA_ECORRUPT;
				goto out;
			}
			ret = expand(w, target, depth + 1);
			if (ret < 0)
				goto out;
		}
	} else {
		if (auth_lmdb_rec_string(v, target, sizeof(target)) < 0 ||
		    auth_lmdb_address_normalize(target, target,
		    sizeof(target), &bad) < 0) {
			*w->error_r = "catch-all record is damaged";
			ret = POSTA_ECORRUPT;
			goto out;
		}
		ret = expand(w, target, depth + 1);
	}
out:
	w->path_n--;
	return ret;
}

/* address: normalised */
static int
expand(struct walk *w, const char *address, unsigned depth)
{
	char real[AUTH_LMDB_DOMAIN_MAX + 1];
	char addr[AUTH_LMDB_ADDRESS_MAX + 1];
	char catchall_key[AUTH_LMDB_DOMAIN_MAX + 2];
	const char *at = strchr(address, '@');
	const char *key;
	size_t local_len = (size_t)(at - address);
	MDB_val v;
	int ret;

	if (++w->visits > AUTH_LMDB_EXPAND_MAX) {
		*w->error_r = "alias expansion visits too many addresses";
		return -E2BIG;
	}
	ret = real_domain(w, at + 1, real);
	if (ret == POSTA_ENOTFOUND)
		return strset_add(w, &w->external, address);
	if (ret < 0)
		return ret;
	if (local_len + 1 + strlen(real) > AUTH_LMDB_ADDRESS_MAX)
		return 0;	/* cannot exist in the target domain */
	memcpy(addr, address, local_len + 1);
	strcpy(addr + local_len + 1, real);

	ret = get(w, w->db->users, addr, &v);
	if (ret == 0)
		return strset_add(w, &w->accounts, addr);
	if (ret != POSTA_ENOTFOUND)
		return ret;

	ret = get(w, w->db->aliases, addr, &v);
	if (ret == 0) {
		key = arena_strdup(w->a, addr);
		if (key == NULL) {
			*w->error_r = "resolution too large for its memory "
			    "bound";
			return -E2BIG;
		}
		return expand_node(w, key, &v, true, depth);
	}
	if (ret != POSTA_ENOTFOUND)
		return ret;

	ret = get(w, w->db->catchall, real, &v);
	if (ret == POSTA_ENOTFOUND)
		return 0;
	if (ret < 0)
		return ret;
	/* "@domain" cannot collide with an address key */
	catchall_key[0] = '@';
	strcpy(catchall_key + 1, real);
	key = arena_strdup(w->a, catchall_key);
	if (key == NULL) {
		*w->error_r = "resolution too large for its memory bound";
		return -E2BIG;
	}
	return expand_node(w, key, &v, false, depth);
}

int
auth_lmdb_resolve(struct auth_lmdb_db *db, const char *address,
    unsigned max_depth, struct arena *a, struct posta_resolution *res_r,
    unsigned *notes_r, const char **error_r)
{
	char addr[AUTH_LMDB_ADDRESS_MAX + 1];
	char domain[AUTH_LMDB_DOMAIN_MAX + 1];
	char real[AUTH_LMDB_DOMAIN_MAX + 1];
	const char *dummy, *at;
	struct walk w;
	bool valid;
	int ret;

	if (error_r == NULL)
		error_r = &dummy;
	memset(res_r, 0, sizeof(*res_r));
	*notes_r = 0;
	if (max_depth > AUTH_LMDB_DEPTH_MAX)
		max_depth = AUTH_LMDB_DEPTH_MAX;

	valid = auth_lmdb_address_normalize(address, addr, sizeof(addr),
	    NULL) == 0;
	/* the domain decides ours or external, even for a local part we
	   would never accept: relaying it is not our business */
	at = strrchr(address, '@');
	if (at == NULL || auth_lmdb_domain_normalize(at + 1, domain,
	    sizeof(domain), NULL) < 0) {
		res_r->kind = POSTA_RESOLVE_UNKNOWN;
		return 0;
	}

	memset(&w, 0, sizeof(w));
	w.db = db;
	w.a = a;
	w.max_depth = max_depth;
	w.error_r = error_r;
	ret = auth_lmdb_mdb_begin(db, false, &w.txn, error_r);
	if (ret < 0)
		return ret;
	ret = real_domain(&w, domain, real);
	if (ret == POSTA_ENOTFOUND) {
		res_r->kind = POSTA_RESOLVE_EXTERNAL;
		ret = 0;
		goto out;
	}
	if (ret < 0)
		goto out;
	if (!valid) {
		res_r->kind = POSTA_RESOLVE_UNKNOWN;
		goto out;
	}
	ret = expand(&w, addr, 0);
	if (ret < 0)
		goto out;
	res_r->kind = w.accounts.n + w.external.n > 0 ?
	    POSTA_RESOLVE_LOCAL : POSTA_RESOLVE_UNKNOWN;
	res_r->n_accounts = w.accounts.n;
	res_r->accounts = w.accounts.v;
	res_r->n_external = w.external.n;
	res_r->external = w.external.v;
	*notes_r = w.notes;
out:
	auth_lmdb_mdb_end(db, w.txn);
	return ret;
}
