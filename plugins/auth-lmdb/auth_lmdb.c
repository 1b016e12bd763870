/* auth_lmdb.c: the auth-lmdb plugin; verify/resolve on the thread pool */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <posta/posta.h>

#include "arena.h"
#include "auth_lmdb_db.h"
#include "util.h"

/*
 * Both provider calls copy their arguments into a job, hash or look up on
 * the thread pool (uv_queue_work) and answer from the completion, which
 * runs on the loop thread: the callback therefore never runs inside the
 * call, and runs exactly once.  The state lives until deinit has run and
 * the last job has completed, so a job finishing during shutdown never
 * touches freed memory.
 */

struct auth_lmdb_settings {
	const char *db_path;		/* "" (or NULL): <state_dir>/auth */
	uint64_t map_size;
	int64_t max_alias_depth;
};

static const struct posta_setting auth_lmdb_settings_table[] = {
	{ "db_path", POSTA_SET_STRING,
	    offsetof(struct auth_lmdb_settings, db_path), 0, 0, "", NULL },
	{ "map_size", POSTA_SET_SIZE,
	    offsetof(struct auth_lmdb_settings, map_size),
	    1 << 20, 1LL << 40, "256M", NULL },
	{ "max_alias_depth", POSTA_SET_INT,
	    offsetof(struct auth_lmdb_settings, max_alias_depth),
	    1, AUTH_LMDB_DEPTH_MAX, "8", NULL },
	POSTA_SETTINGS_END
};

/* bound on one resolution's memory (AUTH_LMDB_EXPAND_MAX addresses) */
#define RESOLVE_ARENA_LIMIT (1024 * 1024)

struct auth_lmdb {
	struct posta_host *host;
	struct auth_lmdb_db *db;
	char *db_path;
	uint64_t map_size;
	unsigned max_depth;
	unsigned pending;	/* jobs queued or running */
	bool closing;		/* deinit ran: free at pending == 0 */
};

struct verify_job {
	uv_work_t req;
	struct auth_lmdb *st;
	posta_auth_verify_cb *cb;
	void *cb_ctx;
	char *login;
	char *password;
	size_t password_size;
	int err;
	const char *error;
	bool ok;
	char account[AUTH_LMDB_ADDRESS_MAX + 1];
};

struct resolve_job {
	uv_work_t req;
	struct auth_lmdb *st;
	posta_auth_resolve_cb *cb;
	void *cb_ctx;
	char *address;
	struct arena *arena;
	unsigned max_depth;	/* copied: reload may change the setting */
	struct posta_resolution res;
	unsigned notes;
	int err;
	const char *error;
};

static void
state_free(struct auth_lmdb *st)
{
	auth_lmdb_db_close(&st->db);
	free(st->db_path);
	free(st);
}

static void
job_done(struct auth_lmdb *st)
{
	st->pending--;
	if (st->closing && st->pending == 0)
		state_free(st);
}

/* ---- verify ---- */

static void
verify_job_free(struct verify_job *job)
{
	if (job->password != NULL) {
		util_wipe(job->password, job->password_size);
		free(job->password);
	}
	free(job->login);
	free(job);
}

static void
verify_work(uv_work_t *req)
{
	struct verify_job *job = req->data;

	job->err = auth_lmdb_verify(job->st->db, job->login, job->password,
	    job->account, &job->ok, &job->error);
	/* done with it: do not keep the secret around until the loop gets to
	   the completion */
	util_wipe(job->password, job->password_size);
}

static void
verify_after(uv_work_t *req, int status)
{
	struct verify_job *job = req->data;
	struct auth_lmdb *st = job->st;
	enum posta_auth_result result;

	if (status != 0) {
		result = POSTA_AUTH_TEMPFAIL;
	} else if (job->err < 0) {
		if (!st->closing)
			posta_log(st->host, POSTA_LOG_ERROR,
			    "auth_lmdb.db_error", "op=verify path=%s "
			    "error=\"%s: %s\"", st->db_path,
			    posta_strerror(job->err), job->error);
		result = POSTA_AUTH_TEMPFAIL;
	} else {
		result = job->ok ? POSTA_AUTH_OK : POSTA_AUTH_FAIL;
	}
	job->cb(job->cb_ctx, result, result == POSTA_AUTH_OK ?
	    job->account : NULL);
	verify_job_free(job);
	job_done(st);
}

/* Copies at most max + 1 bytes, so that an over-long input stays
   over-long (and fails) without costing an unbounded copy. */
static char *
bounded_dup(const char *s, size_t max, size_t *size_r)
{
	size_t len = strnlen(s, max + 1);
	char *p = malloc(len + 1);

	if (p == NULL)
		return NULL;
	memcpy(p, s, len);
	p[len] = '\0';
	if (size_r != NULL)
		*size_r = len + 1;
	return p;
}

static int
auth_lmdb_verify_cb(void *state, const char *login, const char *password,
    posta_auth_verify_cb *cb, void *cb_ctx)
{
	struct auth_lmdb *st = state;
	struct verify_job *job;
	int ret;

	if (st->closing)
		return -ECANCELED;
	job = calloc(1, sizeof(*job));
	if (job == NULL)
		return -ENOMEM;
	job->st = st;
	job->cb = cb;
	job->cb_ctx = cb_ctx;
	job->req.data = job;
	job->login = bounded_dup(login, AUTH_LMDB_ADDRESS_MAX, NULL);
	job->password = bounded_dup(password, AUTH_LMDB_PASSWORD_MAX,
	    &job->password_size);
	if (job->login == NULL || job->password == NULL) {
		verify_job_free(job);
		return -ENOMEM;
	}
	ret = uv_queue_work(posta_host_loop(st->host), &job->req,
	    verify_work, verify_after);
	if (ret < 0) {
		verify_job_free(job);
		return ret;
	}
	st->pending++;
	return 0;
}

/* ---- resolve ---- */

static void
resolve_work(uv_work_t *req)
{
	struct resolve_job *job = req->data;

	job->err = auth_lmdb_resolve(job->st->db, job->address,
	    job->max_depth, job->arena, &job->res, &job->notes,
	    &job->error);
}

static void
resolve_after(uv_work_t *req, int status)
{
	struct resolve_job *job = req->data;
	struct auth_lmdb *st = job->st;
	static const struct posta_resolution tempfail = {
		.kind = POSTA_RESOLVE_TEMPFAIL,
	};
	const struct posta_resolution *res = &job->res;
	char q[AUTH_LMDB_ADDRESS_MAX + 16];

	if (status != 0) {
		res = &tempfail;
	} else if (job->err == -ELOOP || job->err == -E2BIG) {
		/* an alias tree past the bounds is the admin's to fix; the
		   sender retries meanwhile */
		if (!st->closing)
			posta_log(st->host, POSTA_LOG_WARN,
			    "auth_lmdb.alias_limit", "address=%s error=\"%s\"",
			    posta_log_quote(q, sizeof(q), job->address),
			    job->error);
		res = &tempfail;
	} else if (job->err < 0) {
		if (!st->closing)
			posta_log(st->host, POSTA_LOG_ERROR,
			    "auth_lmdb.db_error", "op=resolve address=%s "
			    "path=%s error=\"%s: %s\"",
			    posta_log_quote(q, sizeof(q), job->address),
			    st->db_path, posta_strerror(job->err),
			    job->error);
		res = &tempfail;
	} else if ((job->notes & AUTH_LMDB_NOTE_LOOP) != 0 && !st->closing) {
		posta_log(st->host, POSTA_LOG_WARN, "auth_lmdb.alias_loop",
		    "address=%s accounts=%zu external=%zu",
		    posta_log_quote(q, sizeof(q), job->address),
		    job->res.n_accounts, job->res.n_external);
	}
	job->cb(job->cb_ctx, res);
	arena_free(&job->arena);
	free(job->address);
	free(job);
	job_done(st);
}

static int
auth_lmdb_resolve_cb(void *state, const char *address,
    posta_auth_resolve_cb *cb, void *cb_ctx)
{
	struct auth_lmdb *st = state;
	struct resolve_job *job;
	int ret;

	if (st->closing)
		return -ECANCELED;
	job = calloc(1, sizeof(*job));
	if (job == NULL)
		return -ENOMEM;
	job->st = st;
	job->cb = cb;
	job->cb_ctx = cb_ctx;
	job->req.data = job;
	job->max_depth = st->max_depth;
	job->address = bounded_dup(address, AUTH_LMDB_ADDRESS_MAX, NULL);
	job->arena = arena_new(4096, RESOLVE_ARENA_LIMIT);
	if (job->address == NULL || job->arena == NULL) {
		ret = -ENOMEM;
		goto fail;
	}
	ret = uv_queue_work(posta_host_loop(st->host), &job->req,
	    resolve_work, resolve_after);
	if (ret < 0)
		goto fail;
	st->pending++;
	return 0;
fail:
	arena_free(&job->arena);
	free(job->address);
	free(job);
	return ret;
}

static const struct posta_auth_provider auth_lmdb_provider = {
	.name = "auth-lmdb",
	.verify = auth_lmdb_verify_cb,
	.resolve = auth_lmdb_resolve_cb,
};

/* ---- lifecycle ---- */

/*
 * init's error text names the path, so it needs a buffer that outlives
 * init: one per thread (init runs on the loop thread at startup), kept
 * until the next failing init on that thread.
 */
static _Thread_local char init_error[512];

static int
auth_lmdb_init(struct posta_host *host, const void *settings, void **state_r,
    const char **error_r)
{
	const struct auth_lmdb_settings *set = settings;
	struct auth_lmdb *st;
	const char *detail = "";
	int ret;

	st = calloc(1, sizeof(*st));
	if (st == NULL) {
		*error_r = "out of memory";
		return -ENOMEM;
	}
	st->host = host;
	st->map_size = set->map_size;
	st->max_depth = (unsigned)set->max_alias_depth;
	if (set->db_path != NULL && set->db_path[0] != '\0')
		st->db_path = strdup(set->db_path);
	else if (asprintf(&st->db_path, "%s/auth",
	    posta_host_state_dir(host)) < 0)
		st->db_path = NULL;
	if (st->db_path == NULL) {
		free(st);
		*error_r = "out of memory";
		return -ENOMEM;
	}
	ret = auth_lmdb_db_open(st->db_path, st->map_size,
	    AUTH_LMDB_OPEN_RDONLY, &st->db, &detail);
	if (ret < 0) {
		posta_log(host, POSTA_LOG_ERROR, "auth_lmdb.open_failed",
		    "path=%s error=\"%s\"", st->db_path, detail);
		snprintf(init_error, sizeof(init_error),
		    "auth database %s: %s", st->db_path, detail);
		*error_r = init_error;
		state_free(st);
		return ret;
	}
	ret = posta_host_register_auth(host, &auth_lmdb_provider, st);
	if (ret < 0) {
		*error_r = "cannot register the auth provider";
		state_free(st);
		return ret;
	}
	posta_log(host, POSTA_LOG_INFO, "auth_lmdb.open", "path=%s "
	    "max_alias_depth=%u", st->db_path, st->max_depth);
	*state_r = st;
	return 0;
}

static int
auth_lmdb_reload(void *state, const void *settings, const char **error_r)
{
	struct auth_lmdb *st = state;
	const struct auth_lmdb_settings *set = settings;
	bool default_path = set->db_path == NULL || set->db_path[0] == '\0';

	/* reopening would race running lookups for nothing: the database
	   itself needs no reload, every lookup already sees the latest
	   commit */
	if ((!default_path && strcmp(set->db_path, st->db_path) != 0) ||
	    set->map_size != st->map_size) {
		*error_r = "auth-lmdb: changing db_path or map_size needs a "
		    "restart";
		return POSTA_ECONFIG;
	}
	st->max_depth = (unsigned)set->max_alias_depth;
	return 0;
}

static void
auth_lmdb_deinit(void *state)
{
	struct auth_lmdb *st = state;

	st->closing = true;
	if (st->pending == 0)
		state_free(st);
}

POSTA_MODULE(
	.name = "auth-lmdb",
	.version = PACKAGE_VERSION,
	.kind = POSTA_MODULE_PLUGIN,
	.settings = auth_lmdb_settings_table,
	.settings_size = sizeof(struct auth_lmdb_settings),
	.init = auth_lmdb_init,
	.reload = auth_lmdb_reload,
	.deinit = auth_lmdb_deinit,
);
