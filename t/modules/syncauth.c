/* syncauth.c: a test auth provider that breaks the async rule on purpose, answering inside its own calls */
#include <stdlib.h>
#include <string.h>

#include <posta/posta.h>

/*
 * users = "alice@example.com:secret, ...".  Every answer comes from inside
 * verify() or resolve(), from a scratch buffer that is scribbled over as
 * soon as the callback returns: postad must neither run the caller's
 * callback under its feet nor keep pointers into provider memory.
 */
struct sync_settings {
	struct posta_list users;
};

struct sync_state {
	const struct sync_settings *set;
	char scratch[256];
};

static const char *
lookup(const struct sync_state *st, const char *login)
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
sync_verify(void *state, const char *login, const char *password,
    posta_auth_verify_cb *cb, void *ctx)
{
	struct sync_state *st = state;
	const char *pw = lookup(st, login);

	if (pw == NULL) {
		cb(ctx, POSTA_AUTH_NOT_MINE, NULL);
		return 0;
	}
	if (strcmp(pw, password) != 0) {
		cb(ctx, POSTA_AUTH_FAIL, NULL);
		return 0;
	}
	strncpy(st->scratch, login, sizeof(st->scratch) - 1);
	cb(ctx, POSTA_AUTH_OK, st->scratch);
	memset(st->scratch, 'X', sizeof(st->scratch) - 1);
	return 0;
}

static int
sync_resolve(void *state, const char *address, posta_auth_resolve_cb *cb,
    void *ctx)
{
	struct sync_state *st = state;
	const char *accounts[1] = { st->scratch };
	struct posta_resolution res = { POSTA_RESOLVE_NOT_MINE, 0, accounts,
		0, NULL };

	if (lookup(st, address) != NULL) {
		strncpy(st->scratch, address, sizeof(st->scratch) - 1);
		res.kind = POSTA_RESOLVE_LOCAL;
		res.n_accounts = 1;
	}
	cb(ctx, &res);
	memset(st->scratch, 'X', sizeof(st->scratch) - 1);
	return 0;
}

static const struct posta_auth_provider sync_provider = {
	.name = "syncauth",
	.verify = sync_verify,
	.resolve = sync_resolve,
};

static int
sync_init(struct posta_host *host, const void *settings, void **state_r,
    const char **error_r)
{
	struct sync_state *st = calloc(1, sizeof(*st));
	int r;

	if (st == NULL)
		return -ENOMEM;
	st->set = settings;
	r = posta_host_register_auth(host, &sync_provider, st);
	if (r < 0) {
		*error_r = "cannot register the auth provider";
		free(st);
		return r;
	}
	*state_r = st;
	return 0;
}

static void
sync_deinit(void *state)
{
	free(state);
}

static const struct posta_setting sync_table[] = {
	{ "users", POSTA_SET_LIST, offsetof(struct sync_settings, users), 0, 0,
	  "", NULL },
	POSTA_SETTINGS_END
};

POSTA_MODULE(
	.name = "syncauth",
	.version = "1.0",
	.kind = POSTA_MODULE_PLUGIN,
	.settings = sync_table,
	.settings_size = sizeof(struct sync_settings),
	.init = sync_init,
	.deinit = sync_deinit,
);
