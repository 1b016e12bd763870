/* oot_auth.c: a third-party auth plugin built only against the installed headers and posta.pc */
#include <stdlib.h>
#include <string.h>

#include <posta/posta.h>

/*
 * Users come from one setting, "users = alice@example.org:secret, ...";
 * good enough to prove the installed API is complete: settings, the async
 * rule (answers on a later loop turn), and the provider chain.
 */
struct oot_settings {
	struct posta_list users;
};

struct oot_answer {
	uv_idle_t idle;
	posta_auth_verify_cb *vcb;
	posta_auth_resolve_cb *rcb;
	void *ctx;
	enum posta_auth_result result;
	enum posta_resolve_kind kind;
	char account[256];
};

struct oot_state {
	struct posta_host *host;
	const struct oot_settings *set;
};

static void
answer_closed(uv_handle_t *h)
{
	free(h->data);
}

static void
answer_cb(uv_idle_t *idle)
{
	struct oot_answer *a = idle->data;

	uv_idle_stop(idle);
	if (a->vcb != NULL) {
		a->vcb(a->ctx, a->result, a->result == POSTA_AUTH_OK ?
		    a->account : NULL);
	} else {
		const char *accounts[1] = { a->account };
		struct posta_resolution res = { a->kind, 0, accounts, 0, NULL };

		if (a->kind == POSTA_RESOLVE_LOCAL)
			res.n_accounts = 1;
		a->rcb(a->ctx, &res);
	}
	uv_close((uv_handle_t *)idle, answer_closed);
}

static struct oot_answer *
answer_new(struct oot_state *st, void *ctx)
{
	struct oot_answer *a = calloc(1, sizeof(*a));

	if (a == NULL)
		return NULL;
	a->ctx = ctx;
	uv_idle_init(posta_host_loop(st->host), &a->idle);
	a->idle.data = a;
	return a;
}

/* The configured password of login, or NULL when it is not ours. */
static const char *
lookup(const struct oot_state *st, const char *login, size_t *len_r)
{
	size_t i, n = strlen(login);

	for (i = 0; i < st->set->users.n; i++) {
		const char *u = st->set->users.items[i];

		if (strncmp(u, login, n) == 0 && u[n] == ':')
			return u + n + 1;
	}
	return NULL;
}

static int
oot_verify(void *state, const char *login, const char *password,
    posta_auth_verify_cb *cb, void *ctx)
{
	struct oot_state *st = state;
	struct oot_answer *a;
	const char *pw;
	size_t n;

	a = answer_new(st, ctx);
	if (a == NULL)
		return -ENOMEM;
	a->vcb = cb;
	pw = lookup(st, login, &n);
	if (pw == NULL)
		a->result = POSTA_AUTH_NOT_MINE;
	else if (strcmp(pw, password) == 0)
		a->result = POSTA_AUTH_OK;
	else
		a->result = POSTA_AUTH_FAIL;
	strncpy(a->account, login, sizeof(a->account) - 1);
	uv_idle_start(&a->idle, answer_cb);
	return 0;
}

static int
oot_resolve(void *state, const char *address, posta_auth_resolve_cb *cb,
    void *ctx)
{
	struct oot_state *st = state;
	struct oot_answer *a;
	size_t n;

	a = answer_new(st, ctx);
	if (a == NULL)
		return -ENOMEM;
	a->rcb = cb;
	a->kind = lookup(st, address, &n) != NULL ? POSTA_RESOLVE_LOCAL :
	    POSTA_RESOLVE_NOT_MINE;
	strncpy(a->account, address, sizeof(a->account) - 1);
	uv_idle_start(&a->idle, answer_cb);
	return 0;
}

static const struct posta_auth_provider oot_provider = {
	.name = "oot-auth",
	.verify = oot_verify,
	.resolve = oot_resolve,
};

static int
oot_init(struct posta_host *host, const void *settings, void **state_r,
    const char **error_r)
{
	struct oot_state *st = calloc(1, sizeof(*st));
	int r;

	if (st == NULL)
		return -ENOMEM;
	st->host = host;
	st->set = settings;
	r = posta_host_register_auth(host, &oot_provider, st);
	if (r < 0) {
		*error_r = "cannot register the auth provider";
		free(st);
		return r;
	}
	posta_log(host, POSTA_LOG_INFO, "oot.ready", "users=%zu",
	    st->set->users.n);
	*state_r = st;
	return 0;
}

static void
oot_deinit(void *state)
{
	free(state);
}

static const struct posta_setting oot_table[] = {
	{ "users", POSTA_SET_LIST, offsetof(struct oot_settings, users), 0, 0,
	  "", NULL },
	POSTA_SETTINGS_END
};

POSTA_MODULE(
	.name = "oot-auth",
	.version = "1.0",
	.kind = POSTA_MODULE_PLUGIN,
	.settings = oot_table,
	.settings_size = sizeof(struct oot_settings),
	.init = oot_init,
	.deinit = oot_deinit,
);
