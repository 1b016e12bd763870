/* auth.c: logins (hooks, provider chain, caps) and address resolution for modules */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "hook.h"
#include "util.h"

enum login_wait { WAIT_NONE, WAIT_HOOK, WAIT_PROVIDER, WAIT_TIMER };

struct login_req {
	struct conn_req link;		/* first: link.conn NULL once gone */
	struct loop *loop;
	char *user, *password;
	posta_login_cb *cb;
	void *ctx;
	struct hook_reg *hook;
	struct auth_reg *prov;
	enum login_wait wait;
	bool in_call;			/* inside the provider's verify() */
	uv_timer_t timer;
	enum posta_login_result result;
	char *text;
};

int
host_register_auth(struct posta_host *h, const struct posta_auth_provider *prov,
    void *state)
{
	struct module *m = (struct module *)h;
	struct auth_reg *r, **pp;

	if (prov == NULL || prov->verify == NULL || prov->resolve == NULL)
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return -ENOMEM;
	r->prov = prov;
	r->state = state;
	r->owner = m;
	for (pp = &m->loop->auth; *pp != NULL; pp = &(*pp)->next)
		;
	*pp = r;
	return 0;
}

static void
login_timer_closed(uv_handle_t *h)
{
	struct login_req *r = h->data;

	free(r->text);
	free(r->user);
	free(r);
}

static void
login_free(struct login_req *r)
{
	conn_req_detach(&r->link);
	if (r->password != NULL) {
		util_wipe(r->password, strlen(r->password));
		free(r->password);
		r->password = NULL;
	}
	uv_close((uv_handle_t *)&r->timer, login_timer_closed);
}

static void
login_timer_cb(uv_timer_t *t)
{
	struct login_req *r = t->data;
	struct conn *c = r->link.conn;

	r->wait = WAIT_NONE;
	if (c != NULL) {
		conn_req_detach(&r->link);
		r->cb(r->ctx, r->result, r->text);
	}
	login_free(r);
}

/* Completes the login on a later loop turn, never inside the caller. */
static void
login_finish(struct login_req *r, enum posta_login_result result,
    const char *text, uint64_t delay_ms)
{
	r->result = result;
	free(r->text);
	r->text = text != NULL ? strdup(text) : NULL;
	if (r->password != NULL) {
		util_wipe(r->password, strlen(r->password));
		free(r->password);
		r->password = NULL;
	}
	r->wait = WAIT_TIMER;
	uv_timer_start(&r->timer, login_timer_cb, delay_ms, 0);
}

static enum posta_login_result
refusal_result(enum posta_refusal code)
{
	switch (code) {
	case POSTA_REFUSE_USERIP_LIMIT:
		return POSTA_LOGIN_LIMIT;
	case POSTA_REFUSE_THROTTLED:
	case POSTA_REFUSE_CONN_LIMIT:
		return POSTA_LOGIN_THROTTLED;
	case POSTA_REFUSE_SHUTDOWN:
		return POSTA_LOGIN_TEMPFAIL;
	default:
		return POSTA_LOGIN_FAIL;
	}
}

static void login_attempts(struct login_req *r);
static void login_verify(struct login_req *r);

static void
attempt_done(void *ctx, enum posta_hook_verdict v,
    const struct posta_hook_refusal *refusal)
{
	struct login_req *r = ctx;

	if (r->wait != WAIT_HOOK || r->link.conn == NULL)
		return;	/* late or duplicate answer: hooks must not do this */
	r->wait = WAIT_NONE;
	if (v == POSTA_HOOK_REFUSE) {
		login_finish(r, refusal_result(refusal ? refusal->code :
		    POSTA_REFUSE_OTHER), refusal ? refusal->text : NULL, 0);
		return;
	}
	r->hook = r->hook->next;
	login_attempts(r);
}

static void
login_attempts(struct login_req *r)
{
	struct conn *c = r->link.conn;

	for (; r->hook != NULL; r->hook = r->hook->next) {
		struct posta_hook_refusal ref = { POSTA_REFUSE_OTHER, NULL };
		enum posta_hook_verdict v;

		if (r->hook->hooks->login_attempt == NULL)
			continue;
		/* WAIT_HOOK only after PENDING: a done() from inside the call
		   (against the async rule) is then ignored, not run twice */
		v = r->hook->hooks->login_attempt(r->hook->state,
		    (struct posta_conn *)c, r->user, attempt_done, r, &ref);
		if (v == POSTA_HOOK_PENDING) {
			r->wait = WAIT_HOOK;
			return;
		}
		if (v == POSTA_HOOK_REFUSE) {
			login_finish(r, refusal_result(ref.code), ref.text, 0);
			return;
		}
	}
	r->prov = c->loop->auth;
	login_verify(r);
}

static void
login_result_hooks(struct conn *c, const char *user, bool ok)
{
	struct hook_reg *h;

	for (h = c->loop->hooks; h != NULL; h = h->next)
		if (h->hooks->login_result != NULL)
			h->hooks->login_result(h->state,
			    (struct posta_conn *)c, user, ok);
}

static void
login_accept(struct login_req *r, const char *account)
{
	struct conn *c = r->link.conn;
	struct hook_reg *h;

	login_result_hooks(c, account, true);
	for (h = c->loop->hooks; h != NULL; h = h->next) {
		struct posta_hook_refusal ref = { POSTA_REFUSE_OTHER, NULL };

		if (h->hooks->login_ok == NULL) {
			c->hook_logout |= UINT64_C(1) << h->index;
			continue;
		}
		if (h->hooks->login_ok(h->state, (struct posta_conn *)c,
		    account, &ref) == POSTA_HOOK_REFUSE) {
			/* those that counted this login must forget it */
			hook_run_logout(c);
			posta_conn_log((struct posta_conn *)c, POSTA_LOG_INFO,
			    "auth.refused", "reason=%s",
			    ref.code == POSTA_REFUSE_USERIP_LIMIT ? "limit" :
			    "policy");
			login_finish(r, refusal_result(ref.code), ref.text, 0);
			return;
		}
		c->hook_logout |= UINT64_C(1) << h->index;
	}
	conn_set_user(c, account);
	posta_conn_log((struct posta_conn *)c, POSTA_LOG_INFO, "auth.ok", "%s", "");
	login_finish(r, POSTA_LOGIN_OK, NULL, 0);
}

/* A provider answered inside its own call, against the async rule. */
static void
warn_sync(struct loop *l, struct auth_reg *prov, const char *call)
{
	if (prov->warned_sync)
		return;
	prov->warned_sync = true;
	log_core(l, POSTA_LOG_WARN, "auth.sync_answer", "provider=%s call=%s "
	    "note=\"answered inside its own call; handed on from the loop\"",
	    prov->prov->name, call);
}

static void
verify_cb(void *ctx, enum posta_auth_result result, const char *account)
{
	struct login_req *r = ctx;
	struct conn *c = r->link.conn;
	char q[200];

	if (r->wait != WAIT_PROVIDER)
		return;	/* a provider answering twice: ignore */
	r->wait = WAIT_NONE;
	r->loop->n_owed--;
	/* safe to go on: every outcome reaches the module via a timer */
	if (r->in_call)
		warn_sync(r->loop, r->prov, "verify");
	if (c == NULL) {
		login_free(r);
		return;
	}
	switch (result) {
	case POSTA_AUTH_OK:
		login_accept(r, account != NULL ? account : r->user);
		return;
	case POSTA_AUTH_NOT_MINE:
		r->prov = r->prov->next;
		login_verify(r);
		return;
	case POSTA_AUTH_TEMPFAIL:
		posta_conn_log((struct posta_conn *)c, POSTA_LOG_WARN,
		    "auth.tempfail", "login=%s provider=%s",
		    posta_log_quote(q, sizeof(q), r->user), r->prov->prov->name);
		login_finish(r, POSTA_LOGIN_TEMPFAIL, NULL, 0);
		return;
	case POSTA_AUTH_FAIL:
	default:
		break;
	}
	posta_conn_log((struct posta_conn *)c, POSTA_LOG_INFO, "auth.fail",
	    "login=%s", posta_log_quote(q, sizeof(q), r->user));
	login_result_hooks(c, r->user, false);
	login_finish(r, POSTA_LOGIN_FAIL, NULL,
	    c->gen->g.auth_failure_delay_ms);
}

static void
login_verify(struct login_req *r)
{
	struct conn *c = r->link.conn;
	char q[200];
	int ret;

	if (r->prov == NULL) {
		posta_conn_log((struct posta_conn *)c, POSTA_LOG_INFO,
		    "auth.fail", "login=%s reason=unknown",
		    posta_log_quote(q, sizeof(q), r->user));
		login_result_hooks(c, r->user, false);
		login_finish(r, POSTA_LOGIN_FAIL, NULL,
		    c->gen->g.auth_failure_delay_ms);
		return;
	}
	r->wait = WAIT_PROVIDER;
	r->loop->n_owed++;
	r->in_call = true;
	ret = r->prov->prov->verify(r->prov->state, r->user, r->password,
	    verify_cb, r);
	r->in_call = false;
	if (ret < 0 && r->wait == WAIT_PROVIDER) {
		r->wait = WAIT_NONE;
		r->loop->n_owed--;
		login_finish(r, POSTA_LOGIN_TEMPFAIL, NULL, 0);
	}
}

static void
login_cancel(struct conn_req *link)
{
	struct login_req *r = (struct login_req *)link;

	/* a provider still owes an answer: verify_cb frees then */
	if (r->wait == WAIT_PROVIDER)
		return;
	/* hooks promise not to answer after close; the timer is ours */
	uv_timer_stop(&r->timer);
	login_free(r);
}

int
auth_conn_login(struct posta_conn *pc, const char *user, const char *password,
    posta_login_cb *cb, void *ctx)
{
	struct conn *c = (struct conn *)pc;
	struct login_req *r;

	if (c->torn_down || c->closing)
		return POSTA_ECLOSED;
	if (c->loop->auth == NULL)
		return POSTA_ENOPROVIDER;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return -ENOMEM;
	r->user = strdup(user);
	r->password = strdup(password);
	if (r->user == NULL || r->password == NULL) {
		if (r->password != NULL) {
			util_wipe(r->password, strlen(r->password));
			free(r->password);
		}
		free(r->user);
		free(r);
		return -ENOMEM;
	}
	r->loop = c->loop;
	r->cb = cb;
	r->ctx = ctx;
	r->link.cancel = login_cancel;
	uv_timer_init(c->loop->uv, &r->timer);
	r->timer.data = r;
	conn_req_attach(c, &r->link);
	r->hook = c->loop->hooks;
	login_attempts(r);
	return 0;
}

/* ---- resolution ---- */

struct resolve_req {
	struct conn_req link;
	struct loop *loop;
	bool bound;
	char *address;
	struct auth_reg *prov;
	posta_auth_resolve_cb *cb;
	void *ctx;
	bool waiting;
	bool in_call;			/* inside the provider's resolve() */
	uv_timer_t timer;
	struct posta_resolution res;
	void *res_copy;			/* res's arrays and strings, if copied */
};

static void
resolve_closed(uv_handle_t *h)
{
	struct resolve_req *r = h->data;

	free(r->address);
	free(r->res_copy);
	free(r);
}

static void
resolve_free(struct resolve_req *r)
{
	conn_req_detach(&r->link);
	uv_close((uv_handle_t *)&r->timer, resolve_closed);
}

static bool
resolve_gone(const struct resolve_req *r)
{
	return r->bound && r->link.conn == NULL;
}

static void resolve_next(struct resolve_req *r);

static void
resolve_timer_cb(uv_timer_t *t)
{
	struct resolve_req *r = t->data;

	if (r->res.kind == POSTA_RESOLVE_NOT_MINE && !resolve_gone(r)) {
		resolve_next(r);
		return;
	}
	if (!resolve_gone(r)) {
		conn_req_detach(&r->link);
		r->cb(r->ctx, &r->res);
	}
	resolve_free(r);
}

/*
 * Keeps a resolution beyond the provider's callback: one block holding
 * both pointer arrays and every string.
 */
static int
resolve_keep(struct resolve_req *r, const struct posta_resolution *res)
{
	size_t n = res->n_accounts + res->n_external, size, i;
	const char **ptrs;
	char *p;

	size = n * sizeof(char *);
	for (i = 0; i < res->n_accounts; i++)
		size += strlen(res->accounts[i]) + 1;
	for (i = 0; i < res->n_external; i++)
		size += strlen(res->external[i]) + 1;
	if ((r->res_copy = malloc(size > 0 ? size : 1)) == NULL)
		return -ENOMEM;
	ptrs = r->res_copy;
	p = (char *)(ptrs + n);
	for (i = 0; i < n; i++) {
		const char *src = i < res->n_accounts ? res->accounts[i] :
		    res->external[i - res->n_accounts];
		size_t len = strlen(src) + 1;

		memcpy(p, src, len);
		ptrs[i] = p;
		p += len;
	}
	r->res = *res;
	r->res.accounts = ptrs;
	r->res.external = ptrs + res->n_accounts;
	return 0;
}

static void
resolve_cb(void *ctx, const struct posta_resolution *res)
{
	struct resolve_req *r = ctx;

	if (!r->waiting)
		return;
	r->waiting = false;
	r->loop->n_owed--;
	if (resolve_gone(r)) {
		resolve_free(r);
		return;
	}
	if (res->kind == POSTA_RESOLVE_NOT_MINE) {
		r->prov = r->prov->next;
		if (r->in_call) {
			/* the next provider waits for the loop, not our stack */
			r->res.kind = POSTA_RESOLVE_NOT_MINE;
			uv_timer_start(&r->timer, resolve_timer_cb, 0, 0);
			return;
		}
		resolve_next(r);
		return;
	}
	if (r->in_call) {
		warn_sync(r->loop, r->prov, "resolve");
		/*
		 * An answer from inside resolve(), against the async rule:
		 * the caller is still in posta_auth_resolve() and may not be
		 * ready for its callback.  Deliver it from the loop instead.
		 */
		if (resolve_keep(r, res) < 0) {
			r->res = (struct posta_resolution){
			    .kind = POSTA_RESOLVE_TEMPFAIL };
		}
		uv_timer_start(&r->timer, resolve_timer_cb, 0, 0);
		return;
	}
	conn_req_detach(&r->link);
	r->cb(r->ctx, res);
	resolve_free(r);
}

static void
resolve_next(struct resolve_req *r)
{
	int ret;

	if (r->prov == NULL) {
		r->res.kind = POSTA_RESOLVE_EXTERNAL;
		uv_timer_start(&r->timer, resolve_timer_cb, 0, 0);
		return;
	}
	r->waiting = true;
	r->loop->n_owed++;
	r->in_call = true;
	ret = r->prov->prov->resolve(r->prov->state, r->address, resolve_cb, r);
	r->in_call = false;
	if (ret < 0 && r->waiting) {
		r->waiting = false;
		r->loop->n_owed--;
		r->res.kind = POSTA_RESOLVE_TEMPFAIL;
		uv_timer_start(&r->timer, resolve_timer_cb, 0, 0);
	}
}

static void
resolve_cancel(struct conn_req *link)
{
	struct resolve_req *r = (struct resolve_req *)link;

	if (r->waiting)
		return;
	uv_timer_stop(&r->timer);
	resolve_free(r);
}

static int
resolve_start(struct loop *l, struct conn *c, const char *address,
    posta_auth_resolve_cb *cb, void *ctx)
{
	struct resolve_req *r;

	if (l->auth == NULL)
		return POSTA_ENOPROVIDER;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return -ENOMEM;
	r->address = strdup(address);
	if (r->address == NULL) {
		free(r);
		return -ENOMEM;
	}
	r->loop = l;
	r->cb = cb;
	r->ctx = ctx;
	r->prov = l->auth;
	r->link.cancel = resolve_cancel;
	uv_timer_init(l->uv, &r->timer);
	r->timer.data = r;
	if (c != NULL) {
		r->bound = true;
		conn_req_attach(c, &r->link);
	}
	resolve_next(r);
	return 0;
}

int
host_resolve(struct posta_host *h, const char *address,
    posta_auth_resolve_cb *cb, void *ctx)
{
	return resolve_start(((struct module *)h)->loop, NULL, address, cb,
	    ctx);
}

int
auth_conn_resolve(struct posta_conn *pc, const char *address,
    posta_auth_resolve_cb *cb, void *ctx)
{
	struct conn *c = (struct conn *)pc;

	if (c->torn_down || c->closing)
		return POSTA_ECLOSED;
	return resolve_start(c->loop, c, address, cb, ctx);
}
