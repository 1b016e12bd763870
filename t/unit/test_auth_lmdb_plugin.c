/* test_auth_lmdb_plugin.c: the auth-lmdb provider, a fake host, a real loop */
#include "config.h"

#include <crypt.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cmocka.h>

#include <posta/posta.h>

#include "test_auth_lmdb.h"

extern const struct posta_module posta_module;

/* The fake: just what auth-lmdb calls.  Its first member is the table,
   as for every handle the real host gives out. */
struct posta_host {
	const struct posta_host_api *api;
	uv_loop_t loop;
	const char *state_dir;
	const struct posta_auth_provider *prov;
	void *prov_state;
	int register_ret;
	unsigned n_logs;
	char log[4096];		/* every line, '\n'-separated */
};

static void
fake_logv(const void *obj, enum posta_log_level level, const char *event,
    const char *fmt, va_list ap)
{
	struct posta_host *h = (struct posta_host *)obj;
	static const char *const names[] = { "error", "warn", "info",
		"debug" };
	size_t len = strlen(h->log);

	snprintf(h->log + len, sizeof(h->log) - len, "level=%s event=%s ",
	    names[level], event);
	len = strlen(h->log);
	vsnprintf(h->log + len, sizeof(h->log) - len, fmt, ap);
	len = strlen(h->log);
	snprintf(h->log + len, sizeof(h->log) - len, "\n");
	h->n_logs++;
}

static bool
fake_log_enabled(const void *obj, enum posta_log_level level)
{
	return true;
}

static uv_loop_t *
fake_loop(struct posta_host *h)
{
	return &h->loop;
}

static const char *
fake_state_dir(struct posta_host *h)
{
	return h->state_dir;
}

static int
fake_register_auth(struct posta_host *h,
    const struct posta_auth_provider *prov, void *state)
{
	if (h->register_ret < 0)
		return h->register_ret;
	h->prov = prov;
	h->prov_state = state;
	return 0;
}

static const struct posta_host_api fake_api = {
	.size = sizeof(struct posta_host_api),
	.logv = fake_logv,
	.log_enabled = fake_log_enabled,
	.loop = fake_loop,
	.state_dir = fake_state_dir,
	.register_auth = fake_register_auth,
};

struct fixture {
	struct tdb t;
	struct posta_host host;
	void *settings;
	void *state;
};

/* Fills a settings struct through the module's own table, as the core
   does: by name and offset. */
static void *
settings_new(const char *db_path, uint64_t map_size, int64_t depth)
{
	const struct posta_setting *s;
	char *set = calloc(1, posta_module.settings_size);

	assert_non_null(set);
	for (s = posta_module.settings; s->name != NULL; s++) {
		if (strcmp(s->name, "db_path") == 0)
			*(const char **)(void *)(set + s->offset) = db_path;
		else if (strcmp(s->name, "map_size") == 0)
			*(uint64_t *)(void *)(set + s->offset) = map_size;
		else if (strcmp(s->name, "max_alias_depth") == 0)
			*(int64_t *)(void *)(set + s->offset) = depth;
		else
			fail_msg("unexpected setting %s", s->name);
	}
	return set;
}

static void
make_hash(const char *password, char *out, size_t size)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *cd = calloc(1, sizeof(*cd));

	assert_non_null(cd);
	assert_non_null(crypt_gensalt_rn("$5$", 1000, NULL, 0, setting,
	    sizeof(setting)));
	assert_true(strlen(crypt_r(password, setting, cd)) < size);
	strcpy(out, cd->output);
	free(cd);
}

static void
fixture_host(struct fixture *f)
{
	f->host.api = &fake_api;
	f->host.state_dir = f->t.dir;
	assert_int_equal(uv_loop_init(&f->host.loop), 0);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char hash[CRYPT_OUTPUT_SIZE];
	const char *to_alice[] = { "alice@example.com" };
	const char *to_c1[] = { "c1@example.com" };
	const char *to_c2[] = { "c2@example.com" };
	const char *to_c3[] = { "c3@example.com" };
	const char *to_b[] = { "b@example.com" };
	const char *to_a[] = { "a@example.com", "ext@elsewhere.test" };

	if (f == NULL || tdb_init(&f->t, true, 0) < 0)
		return -1;
	make_hash("alice-pw", hash, sizeof(hash));
	OP(&f->t, 0, auth_lmdb_domain_add, "example.com");
	OP(&f->t, 0, auth_lmdb_alias_domain_add, "example.net",
	    "example.com");
	OP(&f->t, 0, auth_lmdb_user_add, "alice@example.com", hash);
	OP(&f->t, 0, auth_lmdb_user_add, "dis@example.com", hash);
	OP(&f->t, 0, auth_lmdb_user_set_disabled, "dis@example.com", true);
	OP(&f->t, 0, auth_lmdb_alias_add, "info@example.com", to_alice, 1);
	/* c0 -> c1 -> c2 -> c3 -> alice: 4 hops */
	OP(&f->t, 0, auth_lmdb_alias_add, "c3@example.com", to_alice, 1);
	OP(&f->t, 0, auth_lmdb_alias_add, "c2@example.com", to_c3, 1);
	OP(&f->t, 0, auth_lmdb_alias_add, "c1@example.com", to_c2, 1);
	OP(&f->t, 0, auth_lmdb_alias_add, "c0@example.com", to_c1, 1);
	/* a -> {alice, b}, b -> {a, ext}: a loop with mail in it */
	OP(&f->t, 0, auth_lmdb_alias_add, "a@example.com", to_alice, 1);
	OP(&f->t, 0, auth_lmdb_alias_add, "b@example.com", to_a, 2);
	OP(&f->t, 0, auth_lmdb_alias_add, "a@example.com", to_b, 1);
	/* the plugin opens its own handle: one per process */
	auth_lmdb_db_close(&f->t.db);
	fixture_host(f);
	f->settings = settings_new("", 256 << 20, 8);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	if (f->state != NULL)
		posta_module.deinit(f->state);
	uv_run(&f->host.loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&f->host.loop), 0);
	free(f->settings);
	tdb_deinit(&f->t);
	free(f);
	return 0;
}

/* A state dir without a database. */
static int
setup_bare(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL || tdb_init(&f->t, false, 0) < 0)
		return -1;
	fixture_host(f);
	f->settings = settings_new("", 256 << 20, 8);
	*state = f;
	return 0;
}

static void
plugin_init(struct fixture *f)
{
	const char *error = "";

	if (posta_module.init(&f->host, f->settings, &f->state, &error) != 0)
		fail_msg("init: %s", error);
	assert_non_null(f->host.prov);
	assert_ptr_equal(f->host.prov_state, f->state);
}

/* ---- callbacks ---- */

struct verify_result {
	unsigned calls;
	enum posta_auth_result result;
	char account[AUTH_LMDB_ADDRESS_MAX + 1];
};

static void
on_verify(void *ctx, enum posta_auth_result result, const char *account)
{
	struct verify_result *r = ctx;

	r->calls++;
	r->result = result;
	snprintf(r->account, sizeof(r->account), "%s",
	    account != NULL ? account : "(null)");
}

static void
check_verify(struct fixture *f, const char *login, const char *password,
    enum posta_auth_result want, const char *want_account)
{
	struct verify_result r = { 0 };

	assert_int_equal(f->host.prov->verify(f->state, login, password,
	    on_verify, &r), 0);
	/* never from inside the call */
	assert_int_equal(r.calls, 0);
	uv_run(&f->host.loop, UV_RUN_DEFAULT);
	assert_int_equal(r.calls, 1);
	if (r.result != want)
		fail_msg("verify %s: %d, expected %d", login, (int)r.result,
		    (int)want);
	assert_string_equal(r.account, want_account);
}

struct resolve_result {
	unsigned calls;
	enum posta_resolve_kind kind;
	char accounts[1024], external[1024];
};

static void
join(char *buf, size_t size, const char *const *v, size_t n)
{
	size_t i;

	buf[0] = '\0';
	for (i = 0; i < n; i++)
		snprintf(buf + strlen(buf), size - strlen(buf), "%s%s",
		    i > 0 ? "," : "", v[i]);
}

static void
on_resolve(void *ctx, const struct posta_resolution *res)
{
	struct resolve_result *r = ctx;

	r->calls++;
	r->kind = res->kind;
	join(r->accounts, sizeof(r->accounts), res->accounts,
	    res->n_accounts);
	join(r->external, sizeof(r->external), res->external,
	    res->n_external);
}

static void
check_resolve(struct fixture *f, const char *address,
    enum posta_resolve_kind want, const char *accounts, const char *external)
{
	struct resolve_result r = { 0 };

	assert_int_equal(f->host.prov->resolve(f->state, address, on_resolve,
	    &r), 0);
	assert_int_equal(r.calls, 0);
	uv_run(&f->host.loop, UV_RUN_DEFAULT);
	assert_int_equal(r.calls, 1);
	if (r.kind != want)
		fail_msg("resolve %s: %d, expected %d", address, (int)r.kind,
		    (int)want);
	assert_string_equal(r.accounts, accounts);
	assert_string_equal(r.external, external);
}

/* ---- tests ---- */

static void
test_descriptor(void **state)
{
	const struct posta_setting *s;
	unsigned n = 0;

	assert_int_equal(posta_module.abi_major, POSTA_ABI_MAJOR);
	assert_int_equal(posta_module.abi_minor, POSTA_ABI_MINOR);
	assert_int_equal(posta_module.size, sizeof(struct posta_module));
	assert_string_equal(posta_module.name, "auth-lmdb");
	assert_int_equal(posta_module.kind, POSTA_MODULE_PLUGIN);
	assert_non_null(posta_module.init);
	assert_non_null(posta_module.deinit);
	for (s = posta_module.settings; s->name != NULL; s++, n++) {
		if (strcmp(s->name, "db_path") == 0) {
			assert_int_equal(s->type, POSTA_SET_STRING);
			assert_string_equal(s->def, "");
		} else if (strcmp(s->name, "map_size") == 0) {
			assert_int_equal(s->type, POSTA_SET_SIZE);
			assert_string_equal(s->def, "256M");
		} else if (strcmp(s->name, "max_alias_depth") == 0) {
			assert_int_equal(s->type, POSTA_SET_INT);
			assert_string_equal(s->def, "8");
			assert_int_equal(s->min, 1);
			assert_int_equal(s->max, AUTH_LMDB_DEPTH_MAX);
		}
	}
	assert_int_equal(n, 3);
}

static void
test_verify(void **state)
{
	struct fixture *f = *state;

	plugin_init(f);
	check_verify(f, "alice@example.com", "alice-pw", POSTA_AUTH_OK,
	    "alice@example.com");
	check_verify(f, "ALICE@example.COM", "alice-pw", POSTA_AUTH_OK,
	    "alice@example.com");
	check_verify(f, "alice@example.com", "wrong", POSTA_AUTH_FAIL,
	    "(null)");
	check_verify(f, "nobody@example.com", "alice-pw", POSTA_AUTH_FAIL,
	    "(null)");
	check_verify(f, "info@example.com", "alice-pw", POSTA_AUTH_FAIL,
	    "(null)");
	check_verify(f, "alice@example.net", "alice-pw", POSTA_AUTH_FAIL,
	    "(null)");
	check_verify(f, "dis@example.com", "alice-pw", POSTA_AUTH_FAIL,
	    "(null)");
	check_verify(f, "", "", POSTA_AUTH_FAIL, "(null)");
	/* failures are the core's to log, not ours */
	assert_null(strstr(f->host.log, "level=error"));
}

static void
test_password_is_copied(void **state)
{
	struct fixture *f = *state;
	struct verify_result r = { 0 };
	char login[64] = "alice@example.com", pw[32] = "alice-pw";

	plugin_init(f);
	assert_int_equal(f->host.prov->verify(f->state, login, pw, on_verify,
	    &r), 0);
	/* the caller may wipe its buffers as soon as verify returns */
	memset(pw, 0, sizeof(pw));
	memset(login, 'x', sizeof(login) - 1);
	uv_run(&f->host.loop, UV_RUN_DEFAULT);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.result, POSTA_AUTH_OK);
	assert_string_equal(r.account, "alice@example.com");
}

static void
test_resolve(void **state)
{
	struct fixture *f = *state;

	plugin_init(f);
	check_resolve(f, "alice@example.com", POSTA_RESOLVE_LOCAL,
	    "alice@example.com", "");
	check_resolve(f, "Info@Example.NET", POSTA_RESOLVE_LOCAL,
	    "alice@example.com", "");
	check_resolve(f, "c0@example.com", POSTA_RESOLVE_LOCAL,
	    "alice@example.com", "");
	check_resolve(f, "dis@example.com", POSTA_RESOLVE_LOCAL,
	    "dis@example.com", "");
	check_resolve(f, "nobody@example.com", POSTA_RESOLVE_UNKNOWN, "", "");
	check_resolve(f, "x@elsewhere.test", POSTA_RESOLVE_EXTERNAL, "", "");
	assert_int_equal(f->host.n_logs, 1);	/* auth_lmdb.open */
	/* a loop delivers what it holds, and the admin hears of it */
	check_resolve(f, "a@example.com", POSTA_RESOLVE_LOCAL,
	    "alice@example.com", "ext@elsewhere.test");
	assert_non_null(strstr(f->host.log, "level=warn "
	    "event=auth_lmdb.alias_loop address=a@example.com"));
}

static void
test_depth_setting(void **state)
{
	struct fixture *f = *state;
	const char *error = "";
	void *set3;

	free(f->settings);
	f->settings = settings_new("", 256 << 20, 3);
	plugin_init(f);
	check_resolve(f, "c1@example.com", POSTA_RESOLVE_LOCAL,
	    "alice@example.com", "");
	/* 4 hops with a bound of 3: try again later, and say why */
	check_resolve(f, "c0@example.com", POSTA_RESOLVE_TEMPFAIL, "", "");
	if (strstr(f->host.log, "level=warn event=auth_lmdb.alias_limit "
	    "address=c0@example.com error=\"alias chain deeper than "
	    "max_alias_depth\"") == NULL)
		fail_msg("log: %s", f->host.log);
	/* reload raises it; changing the file or map needs a restart */
	set3 = settings_new("", 256 << 20, 4);
	assert_int_equal(posta_module.reload(f->state, set3, &error), 0);
	check_resolve(f, "c0@example.com", POSTA_RESOLVE_LOCAL,
	    "alice@example.com", "");
	free(set3);
	set3 = settings_new("", 512 << 20, 4);
	assert_int_equal(posta_module.reload(f->state, set3, &error),
	    POSTA_ECONFIG);
	assert_non_null(strstr(error, "restart"));
	free(set3);
	set3 = settings_new("/elsewhere/auth", 256 << 20, 4);
	assert_int_equal(posta_module.reload(f->state, set3, &error),
	    POSTA_ECONFIG);
	free(set3);
}

/* posta(8) in another process adds a user while the plugin runs */
static void
test_change_seen_at_next_lookup(void **state)
{
	struct fixture *f = *state;
	char hash[CRYPT_OUTPUT_SIZE];
	pid_t pid;
	int status;

	plugin_init(f);
	check_resolve(f, "new@example.com", POSTA_RESOLVE_UNKNOWN, "", "");
	check_verify(f, "new@example.com", "new-pw", POSTA_AUTH_FAIL,
	    "(null)");
	make_hash("new-pw", hash, sizeof(hash));
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct auth_lmdb_db *db;
		struct auth_lmdb_txn *txn;
		const char *error;

		if (auth_lmdb_db_open(f->t.path, 0, 0, &db, &error) < 0 ||
		    auth_lmdb_txn_begin(db, NULL, true, &txn, &error) < 0 ||
		    auth_lmdb_user_add(txn, "new@example.com", hash,
		    &error) < 0 || auth_lmdb_user_del(txn,
		    "alice@example.com", &error) < 0 ||
		    auth_lmdb_txn_commit(&txn, &error) < 0)
			_exit(1);
		auth_lmdb_db_close(&db);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	check_resolve(f, "new@example.com", POSTA_RESOLVE_LOCAL,
	    "new@example.com", "");
	check_verify(f, "new@example.com", "new-pw", POSTA_AUTH_OK,
	    "new@example.com");
	check_resolve(f, "alice@example.com", POSTA_RESOLVE_UNKNOWN, "", "");
	check_verify(f, "alice@example.com", "alice-pw", POSTA_AUTH_FAIL,
	    "(null)");
}

static void
test_deinit_with_jobs_pending(void **state)
{
	struct fixture *f = *state;
	struct verify_result v = { 0 };
	struct resolve_result r = { 0 };

	plugin_init(f);
	assert_int_equal(f->host.prov->verify(f->state, "alice@example.com",
	    "alice-pw", on_verify, &v), 0);
	assert_int_equal(f->host.prov->resolve(f->state, "info@example.com",
	    on_resolve, &r), 0);
	posta_module.deinit(f->state);
	f->state = NULL;
	/* the callbacks still run, once each, and nothing leaks */
	uv_run(&f->host.loop, UV_RUN_DEFAULT);
	assert_int_equal(v.calls, 1);
	assert_int_equal(v.result, POSTA_AUTH_OK);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.kind, POSTA_RESOLVE_LOCAL);
}

static void
test_missing_db(void **state)
{
	struct fixture *f = *state;
	const char *error = "";
	void *st = NULL;

	assert_int_equal(posta_module.init(&f->host, f->settings, &st,
	    &error), -ENOENT);
	assert_null(f->host.prov);
	assert_non_null(strstr(error, f->t.path));
	assert_non_null(strstr(error, "posta domain add"));
	assert_non_null(strstr(f->host.log, "level=error "
	    "event=auth_lmdb.open_failed path="));
}

static void
test_corrupt_db(void **state)
{
	struct fixture *f = *state;
	const char *error = "";
	char dir[600], p[700];
	void *st = NULL;
	FILE *fp;
	int i;

	/* db_path set explicitly this time (settings keep the pointer) */
	snprintf(dir, sizeof(dir), "%s/elsewhere", f->t.dir);
	assert_int_equal(mkdir(dir, 0700), 0);
	free(f->settings);
	f->settings = settings_new(dir, 256 << 20, 8);
	snprintf(p, sizeof(p), "%s/elsewhere/data.mdb", f->t.dir);
	fp = fopen(p, "w");
	assert_non_null(fp);
	for (i = 0; i < 20000; i++)
		fputc(i * 7 % 251, fp);
	fclose(fp);
	assert_int_equal(posta_module.init(&f->host, f->settings, &st,
	    &error), POSTA_ECORRUPT);
	assert_null(f->host.prov);
	assert_non_null(strstr(error, "/elsewhere: "));
	assert_non_null(strstr(error, "not an LMDB database"));
}

static void
test_register_fails(void **state)
{
	struct fixture *f = *state;
	const char *error = "";
	void *st = NULL;

	f->host.register_ret = -ENOMEM;
	assert_int_equal(posta_module.init(&f->host, f->settings, &st,
	    &error), -ENOMEM);
	assert_null(st);
	assert_non_null(strstr(error, "register"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		cmocka_unit_test(test_descriptor),
		T(test_verify),
		T(test_password_is_copied),
		T(test_resolve),
		T(test_depth_setting),
		T(test_change_seen_at_next_lookup),
		T(test_deinit_with_jobs_pending),
		cmocka_unit_test_setup_teardown(test_missing_db, setup_bare,
		    teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_db, setup_bare,
		    teardown),
		T(test_register_fails),
#undef T
	};

	return cmocka_run_group_tests_name("auth_lmdb_plugin", tests, NULL,
	    NULL);
}
