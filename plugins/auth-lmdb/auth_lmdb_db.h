/* auth_lmdb_db.h: the auth-lmdb directory in LMDB: lookups, admin */
#ifndef AUTH_LMDB_DB_H
#define AUTH_LMDB_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <posta/posta.h>

/*
 * One LMDB environment (a directory, by default <state_dir>/auth) holds six
 * named databases:
 *
 *   meta           "schema" -> format version of the whole environment
 *   domains        domain -> record (the domains we receive mail for)
 *   alias_domains  alias domain -> target domain
 *   users          full address -> crypt(3) hash, disabled flag
 *   aliases        full address -> targets (users, aliases, external)
 *   catchall       domain -> one target for unknown local parts
 *
 * Keys are normalised addresses and domains (below).  Every value starts
 * with a format-version byte; a version this code does not know reads as
 * POSTA_ECORRUPT, never as garbage.
 *
 * Threads.  The environment is opened with MDB_NOTLS, so lookups may run on
 * any thread (libuv's pool) and several at once.  Each lookup uses its own
 * short read transaction, which is why a change the admin command commits
 * is seen by the very next lookup in postad, with no signal or restart:
 * nothing ever keeps a read transaction open between calls.
 *
 * Errors are negative errno or POSTA_E* values; error_r, where given, gets a
 * static human-readable detail that does not repeat the name involved (the
 * caller prints the address or path next to it).
 */

struct arena;
struct auth_lmdb_db;
struct auth_lmdb_txn;

#define AUTH_LMDB_ADDRESS_MAX	320	/* bytes, without the NUL */
#define AUTH_LMDB_LOCAL_MAX	64	/* RFC 5321 4.5.3.1.1 */
#define AUTH_LMDB_DOMAIN_MAX	253	/* RFC 1035 text form */
#define AUTH_LMDB_HASH_MAX	255	/* longest crypt(3) hash we store */
/* longer ones never match: libxcrypt hashes at most
   CRYPT_MAX_PASSPHRASE_SIZE - 1 bytes */
#define AUTH_LMDB_PASSWORD_MAX	511
#define AUTH_LMDB_TARGETS_MAX	1000	/* targets of one alias */
#define AUTH_LMDB_EXPAND_MAX	1024	/* addresses one resolution visits */
#define AUTH_LMDB_DEPTH_DEFAULT	8
#define AUTH_LMDB_DEPTH_MAX	64
#define AUTH_LMDB_MAP_SIZE_DEFAULT (256ULL << 20)
#define AUTH_LMDB_SCHEMA	1

/* ---- addresses ---- */

/*
 * Normalises an address for use as a key: the whole address is lowercased
 * in ASCII (like Dovecot's default auth_username_format %Lu), bytes >= 0x80
 * are kept as they are (valid UTF-8 only).  Strict syntax: exactly one '@';
 * a local part of 1..64 bytes in dot-atom form (no spaces, controls or the
 * specials ()<>[]:;@\," and no leading, trailing or doubled dot); a domain
 * of LDH labels (1..63 bytes, no leading or trailing '-'), at most 253
 * bytes, no trailing dot.  out must hold AUTH_LMDB_ADDRESS_MAX + 1 bytes
 * (out_size checked).  Returns 0, or POSTA_ENAME with *error_r saying why.
 */
int auth_lmdb_address_normalize(const char *in, char *out, size_t out_size,
    const char **error_r);

/* The same for a bare domain; out holds AUTH_LMDB_DOMAIN_MAX + 1 bytes. */
int auth_lmdb_domain_normalize(const char *in, char *out, size_t out_size,
    const char **error_r);

/* ---- environment ---- */

enum auth_lmdb_open_flags {
	/* postad: never writes; refuses a missing database */
	AUTH_LMDB_OPEN_RDONLY = 1 << 0,
	/* admin: create the directory and the databases when missing */
	AUTH_LMDB_OPEN_CREATE = 1 << 1,
};

/*
 * Opens the environment in directory path.  map_size is the largest the
 * data file may grow to (0 = AUTH_LMDB_MAP_SIZE_DEFAULT); another process
 * growing the map beyond it is handled.  With AUTH_LMDB_OPEN_RDONLY also
 * computes the dummy hash auth_lmdb_verify needs (one hash of the default
 * scheme, tens of milliseconds); otherwise the first verify does.
 * Returns 0, or:
 *   -ENOENT          no database at path (and no AUTH_LMDB_OPEN_CREATE)
 *   POSTA_ECORRUPT   not an LMDB file, another LMDB version, damaged, not
 *                    a posta auth database, or a newer schema
 *   -EACCES, ...     from the system
 * with *error_r saying what to do.  Blocking; call from one thread.
 */
int auth_lmdb_db_open(const char *path, uint64_t map_size, unsigned flags,
    struct auth_lmdb_db **db_r, const char **error_r);

/* Closes the environment; no transaction or lookup may still run. */
void auth_lmdb_db_close(struct auth_lmdb_db **db);

/* The directory given to auth_lmdb_db_open (owned by db). */
const char *auth_lmdb_db_path(const struct auth_lmdb_db *db);

/* ---- lookups: blocking, thread-safe, each in its own read txn ---- */

/*
 * Checks a login.  *ok_r is true only for a real user's full address (not
 * an alias, not an address in an alias domain) that is not disabled and
 * whose stored hash matches password; then account_r (AUTH_LMDB_ADDRESS_MAX
 * + 1 bytes) holds the normalised address.  Every failure costs exactly one
 * hash: an unknown login is hashed against the dummy hash, a disabled user
 * against its own hash, so timing does not tell them apart.  crypt_r uses a
 * per-call struct crypt_data, wiped afterwards.  Returns 0 (whatever *ok_r
 * is), or an error (POSTA_ECORRUPT, POSTA_ETEMP) when the database could
 * not answer.
 */
int auth_lmdb_verify(struct auth_lmdb_db *db, const char *login,
    const char *password, char *account_r, bool *ok_r,
    const char **error_r);

/* notes_r bits from auth_lmdb_resolve */
#define AUTH_LMDB_NOTE_LOOP	(1u << 0)	/* an alias loop was cut */

/*
 * Resolves an envelope address, all in one read transaction (a consistent
 * snapshot):
 *   - domain neither ours nor an alias domain: EXTERNAL (no lists);
 *   - an address in an alias domain reads as the same local part in the
 *     target domain;
 *   - a user: that account (a disabled user still receives mail);
 *   - an alias: its targets, each resolved the same way; external targets
 *     are listed in external[];
 *   - an unknown local part in a domain with a catch-all: the catch-all's
 *     target, resolved the same way;
 *   - otherwise nothing.
 * A target already on the current expansion path is a loop: that branch is
 * dropped and AUTH_LMDB_NOTE_LOOP set in *notes_r.  Accounts and external
 * addresses are listed once each, in first-seen order.  When nothing at all
 * is found the result is UNKNOWN, else LOCAL.  Strings and arrays come from
 * a, so res_r lives as long as a.  Returns 0, or:
 *   -ELOOP          a branch needs more than max_depth alias hops
 *   -E2BIG          more than AUTH_LMDB_EXPAND_MAX addresses, or a full arena
 *   POSTA_ECORRUPT, POSTA_ETEMP   the database could not answer
 */
int auth_lmdb_resolve(struct auth_lmdb_db *db, const char *address,
    unsigned max_depth, struct arena *a, struct posta_resolution *res_r,
    unsigned *notes_r, const char **error_r);

/* ---- password hashes ---- */

/*
 * Hashes password with a fresh salt of the default scheme (yescrypt,
 * "$y$", libxcrypt's default cost) into out (CRYPT_OUTPUT_SIZE is plenty).
 * Returns 0, -EINVAL (empty or over-long password), -ENOMEM, -EIO.
 */
int auth_lmdb_hash_new(const char *password, char *out, size_t out_size);

/*
 * Turns a hash given by an admin or an import into the stored form: either
 * a raw crypt(3) hash or Dovecot's "{SCHEME}hash" with SCHEME one of
 * SHA512-CRYPT ($6$), SHA256-CRYPT ($5$), BLF-CRYPT ($2a$ $2b$ $2y$) or
 * CRYPT (any of those and yescrypt "$y$"), case-insensitive.  The prefix is
 * dropped after checking that it names the hash's scheme, and the hash is
 * checked for well-formedness (scheme, salt and digest lengths and
 * alphabet) without hashing.  Returns 0, or -EINVAL with *error_r.
 */
int auth_lmdb_hash_import(const char *in, char *out, size_t out_size,
    const char **error_r);

/*
 * True when crypt_r(password, hash) equals hash, compared in constant time.
 * A malformed hash or over-long password is false.  Thread-safe; one hash.
 */
bool auth_lmdb_hash_check(const char *password, const char *hash);

/* ---- admin: transactions ---- */

/*
 * Admin operations run inside a transaction: begin, any number of
 * operations, commit.  A write transaction blocks other writers (in this
 * or another process) until it ends, never readers.  nested begins a child
 * of parent (write only): its changes join the parent on commit and vanish
 * on abort, which is how an import skips one bad line.  An operation that
 * fails with a validation error (POSTA_ENAME, POSTA_EEXIST,
 * POSTA_ENOTFOUND, -EINVAL, -EBUSY) changed nothing; after any other error
 * the transaction can only be aborted.
 */
int auth_lmdb_txn_begin(struct auth_lmdb_db *db, struct auth_lmdb_txn *parent,
    bool write, struct auth_lmdb_txn **txn_r, const char **error_r);
int auth_lmdb_txn_commit(struct auth_lmdb_txn **txn, const char **error_r);
void auth_lmdb_txn_abort(struct auth_lmdb_txn **txn);

/* ---- admin: domains and alias domains ---- */

/* POSTA_EEXIST when it is already a domain or an alias domain. */
int auth_lmdb_domain_add(struct auth_lmdb_txn *txn, const char *domain,
    const char **error_r);

/*
 * Without force: -EBUSY while users, aliases, a catch-all or alias domains
 * still belong to it.  With force those go too.
 */
int auth_lmdb_domain_del(struct auth_lmdb_txn *txn, const char *domain,
    bool force, const char **error_r);

/* 0 when it is a domain, POSTA_ENOTFOUND when not, or an error. */
int auth_lmdb_domain_exists(struct auth_lmdb_txn *txn, const char *domain);

/*
 * alias -> target: alias must be new (neither a domain nor an alias
 * domain), target a domain (POSTA_ENOTFOUND; -EINVAL when it is an alias
 * domain itself or equal to alias).
 */
int auth_lmdb_alias_domain_add(struct auth_lmdb_txn *txn, const char *alias,
    const char *target, const char **error_r);
int auth_lmdb_alias_domain_del(struct auth_lmdb_txn *txn, const char *alias,
    const char **error_r);

/* ---- admin: users ---- */

/*
 * hash must already be in stored form (auth_lmdb_hash_new or _import).
 * POSTA_ENOTFOUND when the domain does not exist, -EINVAL when it is an
 * alias domain, POSTA_EEXIST when the address is a user or an alias.
 */
int auth_lmdb_user_add(struct auth_lmdb_txn *txn, const char *address,
    const char *hash, const char **error_r);
int auth_lmdb_user_del(struct auth_lmdb_txn *txn, const char *address,
    const char **error_r);
int auth_lmdb_user_set_hash(struct auth_lmdb_txn *txn, const char *address,
    const char *hash, const char **error_r);
int auth_lmdb_user_set_disabled(struct auth_lmdb_txn *txn,
    const char *address, bool disabled, const char **error_r);
/* hash_r holds AUTH_LMDB_HASH_MAX + 1 bytes (may be NULL). */
int auth_lmdb_user_get(struct auth_lmdb_txn *txn, const char *address,
    char *hash_r, bool *disabled_r, const char **error_r);

/* ---- admin: aliases and catch-alls ---- */

/*
 * Adds targets to the alias address, creating it when new; targets already
 * present are skipped and POSTA_EEXIST means none was new.  The address
 * must be in a domain (not an alias domain) and not be a user.  A target
 * in one of our domains must name an existing user or alias
 * (POSTA_ENOTFOUND), never the alias itself (-EINVAL); other targets are
 * external.  At most AUTH_LMDB_TARGETS_MAX targets (-E2BIG).
 */
int auth_lmdb_alias_add(struct auth_lmdb_txn *txn, const char *address,
    const char *const *targets, size_t n_targets, const char **error_r);

/* Removes one target (target non-NULL; the last one removes the alias) or
   the whole alias. */
int auth_lmdb_alias_del(struct auth_lmdb_txn *txn, const char *address,
    const char *target, const char **error_r);

/* The domain's catch-all target, checked like an alias target. */
int auth_lmdb_catchall_set(struct auth_lmdb_txn *txn, const char *domain,
    const char *target, const char **error_r);
int auth_lmdb_catchall_unset(struct auth_lmdb_txn *txn, const char *domain,
    const char **error_r);

/* ---- admin: listing ---- */

/*
 * Each calls cb once per entry in key order, restricted to one domain when
 * domain is non-NULL (an alias domain lists its target's entries in no
 * case: it has none).  Strings are valid during the call.  A non-zero
 * return from cb stops the walk and is returned.
 */
typedef int auth_lmdb_domain_cb(void *ctx, const char *domain);
typedef int auth_lmdb_alias_domain_cb(void *ctx, const char *alias,
    const char *target);
typedef int auth_lmdb_user_cb(void *ctx, const char *address, bool disabled);
typedef int auth_lmdb_alias_cb(void *ctx, const char *address,
    const char *const *targets, size_t n_targets);
typedef int auth_lmdb_catchall_cb(void *ctx, const char *domain,
    const char *target);

int auth_lmdb_domain_foreach(struct auth_lmdb_txn *txn,
    auth_lmdb_domain_cb *cb, void *ctx);
int auth_lmdb_alias_domain_foreach(struct auth_lmdb_txn *txn,
    auth_lmdb_alias_domain_cb *cb, void *ctx);
int auth_lmdb_user_foreach(struct auth_lmdb_txn *txn, const char *domain,
    auth_lmdb_user_cb *cb, void *ctx);
int auth_lmdb_alias_foreach(struct auth_lmdb_txn *txn, const char *domain,
    auth_lmdb_alias_cb *cb, void *ctx);
int auth_lmdb_catchall_foreach(struct auth_lmdb_txn *txn,
    auth_lmdb_catchall_cb *cb, void *ctx);

#endif
