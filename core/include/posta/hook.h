/* hook.h: session hooks that policy plugins register (limiter and the like) */
#ifndef POSTA_HOOK_H
#define POSTA_HOOK_H

/*
 * Stages, all on the loop thread, in registration order of the plugins:
 *
 *  connect(conn)            after accept (before TLS); REFUSE closes the
 *                           connection with the protocol's refusal reply.
 *  login_attempt(conn,user) before the password is checked; may answer
 *                           PENDING and call done() exactly once later (a
 *                           throttling delay), or REFUSE.
 *  login_result(conn,user,ok) after the auth provider answered: ok is false
 *                           for a wrong password or unknown user.
 *  login_ok(conn,user)      before a successful login takes effect; REFUSE
 *                           (e.g. a session cap) fails the login and the
 *                           connection stays open.
 *  logout(conn)             for each hook whose login_ok accepted, exactly
 *                           once: when the session ends, or at once when a
 *                           later hook refused that login.
 *  close(conn)              for every connection whose connect hooks ran,
 *                           exactly once, however it ends; also for hooks
 *                           whose connect was skipped because an earlier
 *                           hook refused (keep per-connection data with
 *                           posta_conn_set_data() and release only that).
 *
 * login_attempt must not call done() from inside the call: answer PENDING
 * and call it from a later loop callback, or answer at once.
 *
 * Any callback may be NULL.  conn accessors (host.h) give protocol, service,
 * remote address, TLS state; posta_conn_set_data()/get_data() keep a
 * per-connection pointer for this plugin.
 */
enum posta_hook_verdict {
	POSTA_HOOK_CONTINUE = 0,
	POSTA_HOOK_REFUSE,
	POSTA_HOOK_PENDING,
};

struct posta_hook_refusal {
	enum posta_refusal code;
	const char *text;	/* human text; static or valid until close */
};

typedef void posta_hook_done_cb(void *done_ctx, enum posta_hook_verdict v,
    const struct posta_hook_refusal *refusal);

struct posta_hooks {
	enum posta_hook_verdict (*connect)(void *state, struct posta_conn *conn,
	    struct posta_hook_refusal *refusal_r);
	enum posta_hook_verdict (*login_attempt)(void *state,
	    struct posta_conn *conn, const char *user,
	    posta_hook_done_cb *done, void *done_ctx,
	    struct posta_hook_refusal *refusal_r);
	void (*login_result)(void *state, struct posta_conn *conn,
	    const char *user, bool ok);
	enum posta_hook_verdict (*login_ok)(void *state,
	    struct posta_conn *conn, const char *user,
	    struct posta_hook_refusal *refusal_r);
	void (*logout)(void *state, struct posta_conn *conn);
	void (*close)(void *state, struct posta_conn *conn);
};

#endif
