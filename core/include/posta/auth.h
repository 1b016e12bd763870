/* auth.h: the asynchronous auth-provider interface, and logins as modules see them */
#ifndef POSTA_AUTH_H
#define POSTA_AUTH_H

/*
 * An auth provider (auth-lmdb, or a third party's plugin) registers
 * struct posta_auth_provider through posta_host_register_auth().  Providers
 * form a chain in registration order; for each request the first answer
 * other than NOT_MINE wins, and when every provider says NOT_MINE a verify
 * fails and a resolve says EXTERNAL.
 *
 * Both calls follow the async rule: a non-zero (negative) return means the
 * callback will never run; a 0 return means it runs exactly once, later,
 * on the loop thread (never from inside the call).  Blocking work (password
 * hashing, disk) belongs on the thread pool (uv_queue_work on
 * posta_host_loop()), working on copies.  The password buffer is valid only
 * during verify(): copy it, and wipe the copy (explicit_bzero) when done.
 */
enum posta_auth_result {
	POSTA_AUTH_OK = 0,
	POSTA_AUTH_FAIL,	/* wrong password, unknown or disabled user */
	POSTA_AUTH_NOT_MINE,	/* let the next provider answer */
	POSTA_AUTH_TEMPFAIL,	/* backend unavailable; try again later */
};

/* account: the canonical login (e.g. lowercased domain); NULL unless OK. */
typedef void posta_auth_verify_cb(void *ctx, enum posta_auth_result result,
    const char *account);

enum posta_resolve_kind {
	POSTA_RESOLVE_LOCAL = 0,	/* accounts[] (and maybe external[]) */
	POSTA_RESOLVE_EXTERNAL,		/* not one of our domains */
	POSTA_RESOLVE_UNKNOWN,		/* our domain, no such address */
	POSTA_RESOLVE_NOT_MINE,		/* provider: let the next answer */
	POSTA_RESOLVE_TEMPFAIL,
};

/*
 * The result of resolving one envelope address.  An alias may expand to
 * local accounts and external addresses at once.  Valid only during the
 * callback: copy what you keep.
 */
struct posta_resolution {
	enum posta_resolve_kind kind;
	size_t n_accounts;
	const char *const *accounts;	/* canonical logins of local users */
	size_t n_external;
	const char *const *external;	/* addresses on other servers */
};

typedef void posta_auth_resolve_cb(void *ctx,
    const struct posta_resolution *res);

struct posta_auth_provider {
	const char *name;
	int (*verify)(void *state, const char *login, const char *password,
	    posta_auth_verify_cb *cb, void *cb_ctx);
	int (*resolve)(void *state, const char *address,
	    posta_auth_resolve_cb *cb, void *cb_ctx);
};

/*
 * What a protocol module gets back from posta_conn_login() (host.h), which
 * runs the whole login: login_attempt hooks (throttling), the provider
 * chain, login_result and login_ok hooks (session caps).  On OK the
 * connection's user is set.  FAIL comes after the configured
 * auth_failure_delay.  text is a human reason for LIMIT and THROTTLED.
 */
enum posta_login_result {
	POSTA_LOGIN_OK = 0,
	POSTA_LOGIN_FAIL,	/* wrong user or password */
	POSTA_LOGIN_TEMPFAIL,	/* backend failure: IMAP [UNAVAILABLE] ... */
	POSTA_LOGIN_LIMIT,	/* per-user-per-IP cap: IMAP [LIMIT] ... */
	POSTA_LOGIN_THROTTLED,	/* too many failures from this address */
};

typedef void posta_login_cb(void *ctx, enum posta_login_result result,
    const char *text);

#endif
