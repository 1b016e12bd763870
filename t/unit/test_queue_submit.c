/* test_queue_submit.c: the submission API on a real loop */
#include "config.h"

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "queue_priv.h"

extern const struct posta_module posta_module;

/* A fake postad: the loop, a state directory, the queue registration. */
struct fake_host {
	const struct posta_host_api *api;	/* first: see posta.h */
	uv_loop_t loop;
	char dir[256];
	const struct posta_queue_ops *ops;
	void *qstate;
	void *state;
	struct queue_settings set;
	unsigned loaded_lines;
	size_t last_loaded;
	/* "event fields" lines, as many as fit */
	char log[16384];
	size_t log_len;
	/* at queue.loaded: retry times as a clock a year ahead chose them */
	bool step_back;
};

static void
fh_logv(const void *obj, enum posta_log_level level, const char *event,
    const char *fmt, va_list ap)
{
	struct fake_host *fh = (struct fake_host *)obj;
	char line[1024];

	vsnprintf(line, sizeof(line), fmt, ap);
	if (fh->log_len < sizeof(fh->log))
		fh->log_len += (size_t)snprintf(fh->log + fh->log_len,
		    sizeof(fh->log) - fh->log_len, "%s %s\n", event, line);
	if (fh->log_len > sizeof(fh->log))
		fh->log_len = sizeof(fh->log);
	if (strcmp(event, "queue.loaded") == 0) {
		fh->loaded_lines++;
		sscanf(line, "messages=%zu", &fh->last_loaded);
	}
	if (strcmp(event, "queue.loaded") == 0 && fh->step_back) {
		/* the messages are in memory and the scheduler has not run */
		struct queue *q = fh->qstate;
		struct qmsg *m;

		for (m = q->msgs; m != NULL; m = m->next)
			m->bounce_retry = queue_now() + 366 * 86400;
	}
	if (getenv("QUEUE_TEST_LOG") != NULL)
		fprintf(stderr, "# %s %s\n", event, line);
}

static bool
fh_log_enabled(const void *obj, enum posta_log_level level)
{
	return true;
}

static uv_loop_t *
fh_loop(struct posta_host *h)
{
	return &((struct fake_host *)h)->loop;
}

static const char *
fh_state_dir(struct posta_host *h)
{
	return ((struct fake_host *)h)->dir;
}

static const char *
fh_hostname(struct posta_host *h)
{
	return "mail.test";
}

static int
fh_register_queue(struct posta_host *h, const struct posta_queue_ops *ops,
    void *state)
{
	struct fake_host *fh = (struct fake_host *)h;

	fh->ops = ops;
	fh->qstate = state;
	return 0;
}

static int
fh_resolve(struct posta_host *h, const char *address,
    posta_auth_resolve_cb *cb, void *ctx)
{
	return POSTA_ENOPROVIDER;
}

static const struct posta_host_api fh_api = {
	.size = sizeof(struct posta_host_api),
	.logv = fh_logv,
	.log_enabled = fh_log_enabled,
	.loop = fh_loop,
	.state_dir = fh_state_dir,
	.hostname = fh_hostname,
	.register_queue = fh_register_queue,
	.resolve = fh_resolve,
};

static const char *const route_items[] = { "*=127.0.0.1:9" };

static void
fh_start(struct fake_host *fh)
{
	const char *err = NULL;

	fh->ops = NULL;
	assert_int_equal(posta_module.init((struct posta_host *)fh, &fh->set,
	    &fh->state, &err), 0);
	assert_non_null(fh->ops);
}

static void
fh_stop(struct fake_host *fh)
{
	int i;

	posta_module.deinit(fh->state);
	/* as postad does: the loop once more, for what is in flight */
	for (i = 0; i < 1000 && uv_run(&fh->loop, UV_RUN_DEFAULT) != 0; i++)
		;
}

static int
setup(void **state)
{
	struct fake_host *fh = calloc(1, sizeof(*fh));

	assert_non_null(fh);
	fh->api = &fh_api;
	snprintf(fh->dir, sizeof(fh->dir), "%s/posta-qsub-XXXXXX",
	    getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(fh->dir));
	assert_int_equal(uv_loop_init(&fh->loop), 0);
	fh->set.max_age_ms = 5ULL * 24 * 3600 * 1000;
	fh->set.retry_min_ms = 300000;
	fh->set.retry_max_ms = 3600000;
	fh->set.max_connections = 5;
	fh->set.max_connections_per_domain = 2;
	fh->set.max_rcpts_per_transaction = 50;
	fh->set.max_messages = 3;
	fh->set.dns_timeout_ms = 1000;
	/* every message to a port where nothing listens: deferred */
	fh->set.routes.n = 1;
	fh->set.routes.items = route_items;
	fh->set.smarthost = "";
	fh->set.smarthost_user = "";
	fh->set.smarthost_password_file = "";
	fh->set.tls = QUEUE_TLS_OPPORTUNISTIC;
	fh->set.tls_priority = "NORMAL";
	fh->set.connect_timeout_ms = 2000;
	fh->set.command_timeout_ms = 2000;
	fh->set.data_timeout_ms = 2000;
	fh->set.helo_name = "";
	fh->set.smtp_port = 25;
	fh->set.bounce_return_max = 128 * 1024;
	*state = fh;
	return 0;
}

static void
rm_rf(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;

	if (d == NULL) {
		unlink(path);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		char p[1024];

		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", path, de->d_name);
		rm_rf(p);
	}
	closedir(d);
	rmdir(path);
}

static int
teardown(void **state)
{
	struct fake_host *fh = *state;

	assert_int_equal(uv_loop_close(&fh->loop), 0);
	rm_rf(fh->dir);
	free(fh);
	return 0;
}

static size_t
count_files(struct fake_host *fh, const char *sub)
{
	char p[512];
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	snprintf(p, sizeof(p), "%s/queue/%s", fh->dir, sub);
	d = opendir(p);
	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* ---- one submission, step by step ---- */

struct sub {
	bool begun, written, done;
	int err;
	struct posta_queue_msg *msg;
	char id[QSPOOL_ID_LEN + 1];
	unsigned calls;
};

static void
begin_cb(void *ctx, int err, struct posta_queue_msg *msg)
{
	struct sub *s = ctx;

	s->calls++;
	s->begun = true;
	s->err = err;
	s->msg = msg;
}

static void
write_cb(void *ctx, int err)
{
	struct sub *s = ctx;

	s->calls++;
	s->written = true;
	s->err = err;
}

static void
done_cb(void *ctx, int err, const char *id)
{
	struct sub *s = ctx;

	s->calls++;
	s->done = true;
	s->err = err;
	if (id != NULL)
		snprintf(s->id, sizeof(s->id), "%s", id);
}

static void
run_until(struct fake_host *fh, const bool *flag)
{
	int i;

	for (i = 0; i < 100000 && !*flag; i++)
		uv_run(&fh->loop, UV_RUN_ONCE);
	assert_true(*flag);
}

static const struct posta_queue_rcpt rcpts[] = {
	{ "bob@example.net", 0, NULL },
	{ "carol@example.org", POSTA_QUEUE_NOTIFY_FAILURE,
	    "rfc822;carol@example.org" },
};

static const struct posta_queue_envelope env = {
	.sender = "alice@example.com",
	.ret = POSTA_QUEUE_RET_DEFAULT,
	.auth_user = "alice@example.com",
	.client = "[127.0.0.1]",
	.n_rcpts = 2,
	.rcpts = rcpts,
};

static int
begin(struct fake_host *fh, struct sub *s)
{
	memset(s, 0, sizeof(*s));
	return fh->ops->submit_begin(fh->qstate, &env, begin_cb, s);
}

static void
submit_whole(struct fake_host *fh, struct sub *s)
{
	static const char data[] = "Subject: t\r\n\r\nbody\r\n";

	assert_int_equal(begin(fh, s), 0);
	assert_false(s->begun);	/* never from inside the call */
	run_until(fh, &s->begun);
	assert_int_equal(s->err, 0);
	assert_int_equal(fh->ops->submit_write(s->msg, data, sizeof(data) - 1,
	    write_cb, s), 0);
	run_until(fh, &s->written);
	assert_int_equal(s->err, 0);
	assert_int_equal(fh->ops->submit_finish(s->msg, done_cb, s), 0);
	run_until(fh, &s->done);
	assert_int_equal(s->err, 0);
	assert_true(qspool_id_valid(s->id));
}

static void
test_submit_durable_and_restart(void **state)
{
	struct fake_host *fh = *state;
	struct qspool_env e;
	const char *why;
	struct sub s;
	char qdir[300];

	fh_start(fh);
	submit_whole(fh, &s);
	assert_int_equal(s.calls, 3);
	/* durable when the callback ran: the envelope is in q/ */
	snprintf(qdir, sizeof(qdir), "%s/queue", fh->dir);
	assert_int_equal(qspool_env_load(qdir, s.id, &e, &why), 0);
	assert_int_equal(e.n_rcpts, 2);
	assert_string_equal(e.rcpts[1].orcpt, "rfc822;carol@example.org");
	assert_int_equal(e.size, 20);
	qspool_env_clear(&e);
	assert_int_equal(count_files(fh, "tmp"), 0);
	fh_stop(fh);
	/* a new start finds it */
	fh->loaded_lines = 0;
	fh_start(fh);
	for (int i = 0; i < 100000 && fh->loaded_lines == 0; i++)
		uv_run(&fh->loop, UV_RUN_ONCE);
	assert_int_equal(fh->last_loaded, 1);
	fh_stop(fh);
}

static void
test_abort_at_each_step(void **state)
{
	struct fake_host *fh = *state;
	static const char data[] = "x\r\n";
	struct sub s;
	int step, i;

	fh_start(fh);
	for (step = 0; step < 4; step++) {
		assert_int_equal(begin(fh, &s), 0);
		if (step > 0) {
			run_until(fh, &s.begun);
			assert_int_equal(fh->ops->submit_write(s.msg, data, 3,
			    write_cb, &s), 0);
		}
		if (step > 1)
			run_until(fh, &s.written);
		if (step > 2)
			assert_int_equal(fh->ops->submit_finish(s.msg,
			    done_cb, &s), 0);
		/* step 0: open in flight; 1: write; 2: idle; 3: commit */
		s.calls = 0;
		if (step == 0) {
			/* the begin callback has not run: nothing to abort
			   with yet, so let it run, then abort */
			run_until(fh, &s.begun);
			s.calls = 0;
		}
		fh->ops->submit_abort(s.msg);
		for (i = 0; i < 200; i++)
			uv_run(&fh->loop, UV_RUN_NOWAIT);
		for (i = 0; i < 1000 && (count_files(fh, "tmp") > 0 ||
		    count_files(fh, "q") > 0); i++)
			uv_run(&fh->loop, UV_RUN_ONCE);
		assert_int_equal(s.calls, 0);
		assert_int_equal(count_files(fh, "tmp"), 0);
		assert_int_equal(count_files(fh, "q"), 0);
	}
	fh_stop(fh);
}

static void
test_limits_and_bad_input(void **state)
{
	struct fake_host *fh = *state;
	struct posta_queue_envelope bad = env;
	struct posta_queue_rcpt r[1] = { { "x@y\r\nRSET", 0, NULL } };
	struct sub s[4];
	int i;

	fh_start(fh);
	bad.n_rcpts = 0;
	assert_int_equal(fh->ops->submit_begin(fh->qstate, &bad, begin_cb,
	    &s[0]), -EINVAL);
	bad.n_rcpts = 1;
	bad.rcpts = r;
	assert_int_equal(fh->ops->submit_begin(fh->qstate, &bad, begin_cb,
	    &s[0]), -EINVAL);
	/* max_messages = 3: the fourth waits (a 4xx for the client) */
	for (i = 0; i < 3; i++)
		submit_whole(fh, &s[i]);
	assert_int_equal(begin(fh, &s[3]), POSTA_ETEMP);
	assert_int_equal(s[3].calls, 0);
	fh_stop(fh);
}

static void
watchdog_cb(uv_timer_t *t)
{
	*(bool *)t->data = true;
}

static bool
logged(const struct fake_host *fh, const char *text)
{
	return memmem(fh->log, fh->log_len, text, strlen(text)) != NULL;
}

/* Runs the loop until text is logged or timeout_ms pass; true if logged. */
static bool
run_until_logged(struct fake_host *fh, const char *text, uint64_t timeout_ms)
{
	uv_timer_t dog;
	bool expired = false;
	int i;

	uv_timer_init(&fh->loop, &dog);
	dog.data = &expired;
	uv_timer_start(&dog, watchdog_cb, timeout_ms, 0);
	for (i = 0; i < 100000 && !expired && !logged(fh, text); i++)
		uv_run(&fh->loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&dog, NULL);
	uv_run(&fh->loop, UV_RUN_NOWAIT);
	return logged(fh, text);
}

/* Appends a journal line: recipient rcpt failed for good. */
static void
journal_failed(struct fake_host *fh, const char *id, size_t rcpt)
{
	struct qspool_event ev;
	char qdir[300], line[QSPOOL_LINE_MAX];
	size_t len = 0;

	memset(&ev, 0, sizeof(ev));
	ev.kind = 'F';
	ev.rcpt = rcpt;
	ev.when = queue_now();
	ev.status = "5.1.1";
	ev.remote = "mx.example.net";
	ev.diag = "550 no such user";
	assert_int_equal(qspool_journal_line(&ev, line, sizeof(line), &len),
	    0);
	snprintf(qdir, sizeof(qdir), "%s/queue", fh->dir);
	assert_int_equal(qspool_journal_append(qdir, id, line, len), 0);
}

static void
test_bounce_retry_after_clock_step(void **state)
{
	struct fake_host *fh = *state;
	struct sub s;

	fh->set.retry_min_ms = 1000;
	fh->set.retry_max_ms = 1000;
	fh_start(fh);
	submit_whole(fh, &s);
	fh_stop(fh);
	journal_failed(fh, s.id, 0);
	journal_failed(fh, s.id, 1);
	/* the bounce is due, but a clock a year ahead of this one had
	   put its retry a year away: it must be made within retry_max */
	fh->step_back = true;
	fh_start(fh);
	assert_true(run_until_logged(fh, "queue.loaded ", 5000));
	assert_true(run_until_logged(fh, "queue.bounce id=", 10000));
	fh_stop(fh);
}

static void
test_unreadable_left_in_place(void **state)
{
	struct fake_host *fh = *state;
	static const char id[] = "00000000000000000000dddd";
	char p[400];
	struct stat st;

	fh_start(fh);
	assert_true(run_until_logged(fh, "queue.loaded ", 5000));
	fh_stop(fh);
	/* an envelope whose read fails (a directory reads as EISDIR, as a
	   bad disk reads as EIO) is not corrupt: it is named in the log,
	   counted, and stays in q/ */
	snprintf(p, sizeof(p), "%s/queue/q/%s.env", fh->dir, id);
	assert_int_equal(mkdir(p, 0700), 0);
	fh->log_len = 0;
	fh_start(fh);
	assert_true(run_until_logged(fh, "queue.loaded ", 5000));
	assert_true(logged(fh, "queue.unreadable id=00000000000000000000dddd "
	    "file="));
	assert_true(logged(fh, "error=\"Is a directory\"\n"));
	assert_true(logged(fh, "queue.loaded messages=0 added=0 "
	    "unreadable=1\n"));
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(count_files(fh, "corrupt"), 0);
	fh_stop(fh);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_submit_durable_and_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abort_at_each_step,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_limits_and_bad_input,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_bounce_retry_after_clock_step, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_unreadable_left_in_place, setup, teardown),
	};

	return cmocka_run_group_tests_name("queue_submit", tests, NULL,
	    NULL);
}
