/* test_smtp_deliver.c: the delivery sink against a fake store and queue */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <posta/posta.h>

#include "smtp_deliver.h"

/*
 * The fake host answers only what the sink uses: logging, the store and
 * the queue.  Every store and queue callback is deferred into a list the
 * test runs with run_all(), which is how "later, never from inside the
 * call" is kept; the sanitizers and cmocka's leak check see every path
 * free its memory.
 */

struct fake;

struct pending {
	void (*run)(struct pending *p);
	struct fake *f;
	void *cb, *ctx;
	int err;
	void *handle;
	struct pending *next;
};

struct posta_delivery {
	const struct posta_store_ops *ops;
	struct fake *f;
	bool aborted, finished;
	bool write_pending;
};

struct posta_mail_user {
	const struct posta_store_ops *ops;
	struct fake *f;
	char account[64];
};

struct posta_mailbox {
	const struct posta_store_ops *ops;
	struct fake *f;
	struct posta_mailbox_status st;
};

struct posta_queue_msg {
	struct fake *f;
	bool aborted;
};

#define MAX_RCPT 8

struct fake {
	struct posta_object obj;	/* the host: api first */
	struct pending *head, *tail;
	/* store behaviour */
	int begin_err;
	int write_err;
	int rcpt_err[MAX_RCPT];		/* per recipient at finish */
	uint32_t rcpt_uid[MAX_RCPT];	/* 0 means "not indexed" */
	bool short_results;		/* finish reports n = 0 */
	int expunge_err;
	/* what happened */
	size_t n_rcpts;
	char accounts[MAX_RCPT][64];
	uint8_t written[65536];
	size_t written_len;
	size_t n_writes;
	int n_begin, n_finish, n_abort;
	char expunged[MAX_RCPT][64];
	uint32_t expunged_uid[MAX_RCPT];
	size_t n_expunged;
	int users_open, boxes_open;
	/* queue */
	bool with_queue;
	int q_finish_err;
	int q_begins, q_aborts, q_finishes;
	size_t q_rcpts;
	uint8_t q_written[65536];
	size_t q_written_len;
	struct posta_delivery *dl;
	struct posta_queue_msg *qm;
	char log[4096];
};

static void
defer(struct fake *f, void (*run)(struct pending *), void *cb, void *ctx,
    int err, void *handle)
{
	struct pending *p = calloc(1, sizeof(*p));

	assert_non_null(p);
	p->run = run;
	p->f = f;
	p->cb = cb;
	p->ctx = ctx;
	p->err = err;
	p->handle = handle;
	if (f->tail != NULL)
		f->tail->next = p;
	else
		f->head = p;
	f->tail = p;
}

static void
run_all(struct fake *f)
{
	struct pending *p;

	while ((p = f->head) != NULL) {
		f->head = p->next;
		if (f->head == NULL)
			f->tail = NULL;
		p->run(p);
		free(p);
	}
}

/* ---- host ---- */

static void
fake_logv(const void *obj, enum posta_log_level level, const char *event,
    const char *fmt, va_list ap)
{
	struct fake *f = (struct fake *)obj;
	size_t n = strlen(f->log);

	if (n + 200 >= sizeof(f->log))
		return;
	n += (size_t)snprintf(f->log + n, sizeof(f->log) - n, "%s ", event);
	vsnprintf(f->log + n, sizeof(f->log) - n, fmt, ap);
	strncat(f->log, "\n", sizeof(f->log) - strlen(f->log) - 1);
}

static bool
fake_log_enabled(const void *obj, enum posta_log_level level)
{
	return true;
}

static const struct posta_store_ops fake_store;
static const struct posta_queue_ops fake_queue;

static const struct posta_store_ops *
fake_host_store(struct posta_host *h, void **state_r)
{
	if (state_r != NULL)
		*state_r = h;
	return &fake_store;
}

static const struct posta_queue_ops *
fake_host_queue(struct posta_host *h, void **state_r)
{
	struct fake *f = (struct fake *)h;

	if (state_r != NULL)
		*state_r = h;
	return f->with_queue ? &fake_queue : NULL;
}

static const struct posta_host_api fake_api = {
	.size = sizeof(struct posta_host_api),
	.logv = fake_logv,
	.log_enabled = fake_log_enabled,
	.store = fake_host_store,
	.queue = fake_host_queue,
};

static struct fake *
fake_new(void)
{
	struct fake *f = calloc(1, sizeof(*f));
	size_t i;

	assert_non_null(f);
	f->obj.api = &fake_api;
	for (i = 0; i < MAX_RCPT; i++)
		f->rcpt_uid[i] = 100 + (uint32_t)i;
	return f;
}

static struct posta_host *
host(struct fake *f)
{
	return (struct posta_host *)f;
}

/* ---- store: delivery ---- */

static void
run_begin(struct pending *p)
{
	((posta_delivery_begin_cb *)p->cb)(p->ctx, p->err, p->err == 0 ?
	    p->handle : NULL);
}

static int
fake_delivery_begin(void *state, const struct posta_delivery_rcpt *rcpts,
    size_t n, const struct posta_append_params *params,
    posta_delivery_begin_cb *cb, void *ctx)
{
	struct fake *f = state;
	struct posta_delivery *d = NULL;
	size_t i;

	f->n_begin++;
	assert_true(n <= MAX_RCPT);
	f->n_rcpts = n;
	for (i = 0; i < n; i++) {
		snprintf(f->accounts[i], sizeof(f->accounts[i]), "%s",
		    rcpts[i].account);
		assert_null(rcpts[i].mailbox);
	}
	if (f->begin_err == 0) {
		d = calloc(1, sizeof(*d));
		assert_non_null(d);
		d->ops = &fake_store;
		d->f = f;
		f->dl = d;
	}
	defer(f, run_begin, (void *)cb, ctx, f->begin_err, d);
	return 0;
}

static void
run_write(struct pending *p)
{
	struct posta_delivery *d = p->handle;

	d->write_pending = false;
	if (d->aborted) {
		/* aborted while pending: the store frees it and says so */
		p->f->dl = NULL;
		free(d);
		((posta_store_done_cb *)p->cb)(p->ctx, -ECANCELED);
		return;
	}
	/* d may be aborted, and freed, inside the callback */
	((posta_store_done_cb *)p->cb)(p->ctx, p->err);
}

static int
fake_delivery_write(struct posta_delivery *d, const void *data, size_t len,
    posta_store_done_cb *cb, void *ctx)
{
	struct fake *f = d->f;

	assert_false(d->aborted);
	assert_false(d->finished);
	if (d->write_pending)
		return -EBUSY;
	assert_true(len > 0 && len <= POSTA_STORE_WRITE_MAX);
	assert_true(f->written_len + len <= sizeof(f->written));
	memcpy(f->written + f->written_len, data, len);
	f->written_len += len;
	f->n_writes++;
	d->write_pending = true;
	defer(f, run_write, (void *)cb, ctx, f->write_err, d);
	return 0;
}

static void
run_finish(struct pending *p)
{
	struct fake *f = p->f;
	struct posta_delivery_result res[MAX_RCPT];
	size_t i;

	memset(res, 0, sizeof(res));
	for (i = 0; i < f->n_rcpts; i++) {
		res[i].account = f->accounts[i];
		res[i].err = f->rcpt_err[i];
		res[i].uidvalidity = 7;
		res[i].uid = f->rcpt_err[i] == 0 ? f->rcpt_uid[i] : 0;
	}
	((posta_delivery_cb *)p->cb)(p->ctx, res, f->short_results ? 0 :
	    f->n_rcpts);
	free(p->handle);
	f->dl = NULL;
}

static int
fake_delivery_finish(struct posta_delivery *d, posta_delivery_cb *cb,
    void *ctx)
{
	assert_false(d->write_pending);
	d->finished = true;
	d->f->n_finish++;
	defer(d->f, run_finish, (void *)cb, ctx, 0, d);
	return 0;
}

static void
fake_delivery_abort(struct posta_delivery *d)
{
	assert_false(d->finished);
	d->f->n_abort++;
	d->aborted = true;
	if (!d->write_pending) {
		d->f->dl = NULL;
		free(d);
	}
}

/* ---- store: what rollback uses ---- */

static void
run_user(struct pending *p)
{
	((posta_mail_user_cb *)p->cb)(p->ctx, p->err, p->handle);
}

static int
fake_user_open(void *state, const char *account, posta_mail_user_cb *cb,
    void *ctx)
{
	struct fake *f = state;
	struct posta_mail_user *u = calloc(1, sizeof(*u));

	assert_non_null(u);
	u->ops = &fake_store;
	u->f = f;
	snprintf(u->account, sizeof(u->account), "%s", account);
	f->users_open++;
	defer(f, run_user, (void *)cb, ctx, 0, u);
	return 0;
}

static void
fake_user_close(struct posta_mail_user *u)
{
	u->f->users_open--;
	free(u);
}

static void
run_box(struct pending *p)
{
	((posta_mailbox_open_cb *)p->cb)(p->ctx, 0, p->handle);
}

static int
fake_mailbox_open(struct posta_mail_user *user, const char *name,
    uint32_t flags, posta_mailbox_open_cb *cb, void *ctx)
{
	struct posta_mailbox *b = calloc(1, sizeof(*b));

	assert_string_equal(name, "INBOX");
	assert_non_null(b);
	b->ops = &fake_store;
	b->f = user->f;
	b->st.uidvalidity = 7;
	/* remember whose box it is in the name of the status (test only) */
	b->st.messages = (uint32_t)(strlen(user->account));
	user->f->boxes_open++;
	snprintf(user->f->expunged[user->f->n_expunged],
	    sizeof(user->f->expunged[0]), "%s", user->account);
	defer(user->f, run_box, (void *)cb, ctx, 0, b);
	return 0;
}

static void
fake_mailbox_close(struct posta_mailbox *b)
{
	b->f->boxes_open--;
	free(b);
}

static const struct posta_mailbox_status *
fake_view_status(const struct posta_mailbox *b)
{
	return &b->st;
}

static void
run_expunge(struct pending *p)
{
	((posta_store_expunge_cb *)p->cb)(p->ctx, p->err, p->err == 0 ? 1 : 0);
}

static int
fake_expunge(struct posta_mailbox *b, const uint32_t *uids, size_t n,
    uint32_t flags, posta_store_expunge_cb *cb, void *ctx)
{
	struct fake *f = b->f;

	assert_int_equal(n, 1);
	assert_int_equal(flags, 0);
	f->expunged_uid[f->n_expunged++] = uids[0];
	defer(f, run_expunge, (void *)cb, ctx, f->expunge_err, NULL);
	return 0;
}

static const struct posta_store_info fake_info = { '.', 0, 64, true };

static const struct posta_store_info *
fake_store_info(void *state)
{
	return &fake_info;
}

static const struct posta_store_ops fake_store = {
	.size = sizeof(struct posta_store_ops),
	.name = "fake",
	.info = fake_store_info,
	.user_open = fake_user_open,
	.user_close = fake_user_close,
	.mailbox_open = fake_mailbox_open,
	.mailbox_close = fake_mailbox_close,
	.view_status = fake_view_status,
	.expunge = fake_expunge,
	.delivery_begin = fake_delivery_begin,
	.delivery_write = fake_delivery_write,
	.delivery_finish = fake_delivery_finish,
	.delivery_abort = fake_delivery_abort,
};

/* ---- queue ---- */

static void
run_q_begin(struct pending *p)
{
	((posta_queue_begin_cb *)p->cb)(p->ctx, p->err, p->handle);
}

static int
fake_submit_begin(void *state, const struct posta_queue_envelope *env,
    posta_queue_begin_cb *cb, void *ctx)
{
	struct fake *f = state;
	struct posta_queue_msg *m = calloc(1, sizeof(*m));

	assert_non_null(m);
	m->f = f;
	f->q_begins++;
	f->q_rcpts = env->n_rcpts;
	f->qm = m;
	assert_string_equal(env->sender, "s@remote.test");
	assert_string_equal(env->rcpts[0].address, "x@elsewhere.test");
	assert_int_equal(env->rcpts[0].notify, POSTA_QUEUE_NOTIFY_FAILURE);
	assert_string_equal(env->rcpts[0].orcpt, "rfc822;x@elsewhere.test");
	assert_int_equal(env->ret, POSTA_QUEUE_RET_HDRS);
	assert_string_equal(env->envid, "env-1");
	defer(f, run_q_begin, (void *)cb, ctx, 0, m);
	return 0;
}

static void
run_q_write(struct pending *p)
{
	struct posta_queue_msg *m = p->handle;

	/* the contract: no callback after submit_abort */
	if (m->aborted) {
		free(m);
		return;
	}
	((posta_queue_write_cb *)p->cb)(p->ctx, 0);
}

static int
fake_submit_write(struct posta_queue_msg *m, const void *data, size_t len,
    posta_queue_write_cb *cb, void *ctx)
{
	struct fake *f = m->f;

	assert_false(m->aborted);
	memcpy(f->q_written + f->q_written_len, data, len);
	f->q_written_len += len;
	defer(f, run_q_write, (void *)cb, ctx, 0, m);
	return 0;
}

static void
run_q_finish(struct pending *p)
{
	((posta_queue_done_cb *)p->cb)(p->ctx, p->err, "Q1");
	free(p->handle);
}

static int
fake_submit_finish(struct posta_queue_msg *m, posta_queue_done_cb *cb,
    void *ctx)
{
	m->f->q_finishes++;
	m->f->qm = NULL;
	defer(m->f, run_q_finish, (void *)cb, ctx, m->f->q_finish_err, m);
	return 0;
}

static void
fake_submit_abort(struct posta_queue_msg *m)
{
	struct pending *p;

	m->f->q_aborts++;
	m->f->qm = NULL;
	/* a pending write frees it when it comes up */
	for (p = m->f->head; p != NULL; p = p->next)
		if (p->handle == m && p->run == run_q_write) {
			m->aborted = true;
			return;
		}
	free(m);
}

static const struct posta_queue_ops fake_queue = {
	.name = "fakeq",
	.submit_begin = fake_submit_begin,
	.submit_write = fake_submit_write,
	.submit_finish = fake_submit_finish,
	.submit_abort = fake_submit_abort,
};

/* ---- the owner's side ---- */

struct owner {
	int begun, begin_err;
	int wrote, write_err;
	int done;
	unsigned code;
	char enhanced[8];
	char text[200];
};

static void
owner_begun(void *ctx, int err)
{
	struct owner *o = ctx;

	o->begun++;
	o->begin_err = err;
}

static void
owner_wrote(void *ctx, int err)
{
	struct owner *o = ctx;

	o->wrote++;
	o->write_err = err;
}

static void
owner_done(void *ctx, const struct smtp_status *st)
{
	struct owner *o = ctx;

	o->done++;
	o->code = st->code;
	snprintf(o->enhanced, sizeof(o->enhanced), "%s", st->enhanced);
	snprintf(o->text, sizeof(o->text), "%s", st->text);
}

static const char *const two[] = { "alice@example.com", "bob@example.com" };
static const struct posta_queue_rcpt ext1[] = {
	{ "x@elsewhere.test", POSTA_QUEUE_NOTIFY_FAILURE,
	  "rfc822;x@elsewhere.test" },
};

static void
env_init(struct smtp_envelope *e, size_t n_local, size_t n_ext)
{
	memset(e, 0, sizeof(*e));
	e->id = "abc-1";
	e->sender = "s@remote.test";
	e->envid = "env-1";
	e->ret = POSTA_QUEUE_RET_HDRS;
	e->client = "[192.0.2.1]";
	e->n_accounts = n_local;
	e->accounts = two;
	e->n_external = n_ext;
	e->external = ext1;
	e->local_prefix = "Return-Path: <s@remote.test>\r\nReceived: x\r\n";
	e->queue_prefix = "Received: x\r\n";
}

/* begin, one write of body, finish; returns the sink's done count */
static struct smtp_sink *
open_sink(struct fake *f, struct owner *o, size_t n_local, size_t n_ext)
{
	struct smtp_envelope e;
	struct smtp_sink *k = NULL;

	env_init(&e, n_local, n_ext);
	assert_int_equal(smtp_sink_new(host(f), &e, owner_begun, o, &k), 0);
	assert_non_null(k);
	assert_int_equal(o->begun, 0);	/* never from inside the call */
	run_all(f);
	assert_int_equal(o->begun, 1);
	assert_int_equal(o->begin_err, 0);
	return k;
}

static void
write_body(struct fake *f, struct owner *o, struct smtp_sink *k,
    const char *body)
{
	int before = o->wrote;

	assert_int_equal(smtp_sink_write(k, body, strlen(body), owner_wrote,
	    o), 0);
	assert_int_equal(smtp_sink_write(k, body, strlen(body), owner_wrote,
	    o), -EBUSY);
	run_all(f);
	assert_int_equal(o->wrote, before + 1);
}

static void
test_all_ok(void **state)
{
	struct fake *f = fake_new();
	struct owner o = { 0 };
	struct smtp_sink *k = open_sink(f, &o, 2, 0);
	const char *want = "Return-Path: <s@remote.test>\r\nReceived: x\r\n"
	    "Subject: a\r\n\r\nbody\r\n";

	(void)state;
	assert_int_equal(f->n_rcpts, 2);
	write_body(f, &o, k, "Subject: a\r\n\r\n");
	assert_int_equal(o.write_err, 0);
	write_body(f, &o, k, "body\r\n");
	assert_int_equal(smtp_sink_finish(k, owner_done, &o), 0);
	assert_int_equal(o.done, 0);
	run_all(f);
	assert_int_equal(o.done, 1);
	assert_int_equal(o.code, 250);
	assert_string_equal(o.enhanced, "2.0.0");
	assert_int_equal(f->written_len, strlen(want));
	assert_memory_equal(f->written, want, strlen(want));
	assert_int_equal(f->n_writes, 2);	/* prefix rides the first */
	assert_int_equal(f->n_expunged, 0);
	assert_non_null(strstr(f->log, "smtp.delivered id=abc-1"));
	free(f);
}

static void
test_partial_temp_rolls_back(void **state)
{
	struct fake *f = fake_new();
	struct owner o = { 0 };
	struct smtp_sink *k = open_sink(f, &o, 2, 0);

	(void)state;
	f->rcpt_err[1] = POSTA_ETEMP;
	write_body(f, &o, k, "x\r\n");
	assert_int_equal(smtp_sink_finish(k, owner_done, &o), 0);
	run_all(f);
	assert_int_equal(o.done, 1);
	assert_int_equal(o.code, 451);
	assert_string_equal(o.enhanced, "4.3.0");
	assert_non_null(strstr(o.text, "no copy was kept"));
	/* alice's copy was taken out again, by its UID */
	assert_int_equal(f->n_expunged, 1);
	assert_string_equal(f->expunged[0], "alice@example.com");
	assert_int_equal(f->expunged_uid[0], 100);
	assert_int_equal(f->users_open, 0);
	assert_int_equal(f->boxes_open, 0);
	assert_non_null(strstr(f->log, "smtp.rollback id=abc-1"));
	free(f);
}

static void
test_partial_permanent(void **state)
{
	struct fake *f = fake_new();
	struct owner o = { 0 };
	struct smtp_sink *k = open_sink(f, &o, 2, 0);

	(void)state;
	f->rcpt_err[0] = -EMSGSIZE;
	write_body(f, &o, k, "x\r\n");
	assert_int_equal(smtp_sink_finish(k, owner_done, &o), 0);
	run_all(f);
	assert_int_equal(o.code, 552);
	assert_string_equal(o.enhanced, "5.3.4");
	assert_int_equal(f->n_expunged, 1);
	assert_string_equal(f->expunged[0], "bob@example.com");
	assert_int_equal(f->expunged_uid[0], 101);
	free(f);
}

/* A full mailbox at the end of DATA: temporary, and all or nothing. */
static void
test_partial_quota(void **state)
{
	struct fake *f = fake_new();
	struct owner o = { 0 };
	struct smtp_sink *k = open_sink(f, &o, 2, 0);

	(void)state;
	f->rcpt_err[0] = POSTA_EQUOTA;
	write_body(f, &o, k, "x\r\n");
	assert_int_equal(smtp_sink_finish(k, owner_done, &o), 0);
	run_all(f);
	assert_int_equal(o.code, 452);
	assert_string_equal(o.enhanced, "4.2.2");
	assert_int_equal(f->n_expunged, 1);
	assert_string_equal(f->expunged[0], "bob@example.com");
	free(f);
}

static void
test_all_fail(void **state)
{
	struct fake *f = fake_new();
	struct owner o = { 0 };
	struct smtp_sink *k = open_sink(f, &o, 2, 0);

	(void)state;
	f->rcpt_err[0] = f->rcpt_err[1] = POSTA_ETEMP;
	write_body(f, &o, k, "x\r\n");
	assert_int_equal(smtp_sink_finish(k, owner_done, &o), 0);
	run_all(f);
	assert_int_equal(o.code, 451);
	assert_int_equal(f->n_expunged, 0);
	free(f);

	/* the store could not report at all: assume the worst */
	f = fake_new();
	memset(&o, 0, sizeof(o));
	k = open_sink(f, &o, 1, 0);
	f->short_results = true;
	write_body(f, &o, k, "x\r\n");
	assert_int_equal(smtp_sink_finish(k, owner_done, &o), 0);
	run_all(f);
	assert_int_equal(o.code, 451);
	free(f);
}

static void
test_unindexed_copy(void **state)
{
	struct fake *f = fake_new();
	struct owner o = { 0 };
	struct smtp_sink *k = open_sink(f, &o, 2, 0);

	(void)state;
	f->rcpt_uid[0] = 0;	/* durable, but no UID to remove it by */
	f->rcpt_err[1] = POSTA_ETEMP;
	write_body(f, &o, k, "x\r\n");
	assert_int_equal(smtp_sink_finish(k, owner_done, &o), 0);
	run_all(f);
	assert_int_equal(o.code, 451);
	assert_int_equal(f->n_expunged, 0);
	assert_non_null(strstr(f->log, "smtp.rollback_failed id=abc-1 "
	    "account=alice@example.com uid=0 reason=unindexed"));
	free(f);

	/* the expunge itself fails: logged, the answer stays 451 */
	f = fake_new();
	memset(&o, 0, sizeof(o));
	k = open_sink(f, &o, 2, 0);
	f->rcpt_err[1] = POSTA_ETEMP;
	f->expunge_err = POSTA_ETEMP;
	write_body(f, &o, k, "x\r\n");
	assert_int_equal(smtp_sink_finish(k, owner_done, &o), 0);
	run_all(f);
	assert_int_equal(o.code, 451);
	assert_non_null(strstr(f->log, "reason=expunge"));
	free(f);
}

static void
test_empty_message(void **state)
{
	struct fake *f = fake_new();
	struct owner o = { 0 };
	struct smtp_sink *k = open_sink(f, &o, 1, 0);
	const char *want = "Return-Path: <s@remote.test>\r\nReceived: x\r\n";

	(void)state;
	assert_int_equal(smtp_sink_finish(k, owner_done, &o), 0);
	run_all(f);
	assert_int_equal(o.code, 250);
	assert_int_equal(f->written_len, strlen(want));
	assert_memory_equal(f->written, want, strlen(want));
	free(f);
}

static void
test_begin_and_write_errors(void **state)
{
	struct fake *f = fake_new();
	struct owner o = { 0 };
	struct smtp_envelope e;
	struct smtp_sink *k = NULL;

	(void)state;
	env_init(&e, 1, 0);
	f->begin_err = POSTA_ETEMP;
	assert_int_equal(smtp_sink_new(host(f), &e, owner_begun, &o, &k), 0);
	run_all(f);
	assert_int_equal(o.begun, 1);
	assert_int_equal(o.begin_err, POSTA_ETEMP);	/* and k is gone */
	assert_int_equal(smtp_sink_error_status(POSTA_ETEMP)->code, 451);
	assert_int_equal(smtp_sink_error_status(POSTA_EQUOTA)->code, 552);
	free(f);

	f = fake_new();
	memset(&o, 0, sizeof(o));
	k = open_sink(f, &o, 1, 0);
	f->write_err = POSTA_EQUOTA;
	assert_int_equal(smtp_sink_write(k, "x", 1, owner_wrote, &o), 0);
	run_all(f);
	assert_int_equal(o.write_err, POSTA_EQUOTA);	/* and k is gone */
	assert_int_equal(f->n_abort, 1);
	free(f);

	/* no recipients, no queue for external ones */
	f = fake_new();
	env_init(&e, 0, 0);
	assert_int_equal(smtp_sink_new(host(f), &e, owner_begun, &o, &k),
	    -EINVAL);
	env_init(&e, 1, 1);
	assert_int_equal(smtp_sink_new(host(f), &e, owner_begun, &o, &k),
	    POSTA_ENOPROVIDER);
	assert_int_equal(f->n_begin, 0);
	free(f);
}

static void
test_cancel(void **state)
{
	struct fake *f = fake_new();
	struct owner o = { 0 };
	struct smtp_envelope e;
	struct smtp_sink *k = NULL;

	(void)state;
	/* while opening */
	env_init(&e, 2, 0);
	assert_int_equal(smtp_sink_new(host(f), &e, owner_begun, &o, &k), 0);
	smtp_sink_cancel(&k);
	assert_null(k);
	run_all(f);
	assert_int_equal(o.begun, 0);
	assert_int_equal(f->n_abort, 1);
	free(f);

	/* with a write in flight: the store still calls back, to the sink */
	f = fake_new();
	memset(&o, 0, sizeof(o));
	k = open_sink(f, &o, 2, 0);
	assert_int_equal(smtp_sink_write(k, "x", 1, owner_wrote, &o), 0);
	smtp_sink_cancel(&k);
	run_all(f);
	assert_int_equal(o.wrote, 0);
	assert_int_equal(f->n_finish, 0);
	free(f);

	/* after finish: completes silently, rollback included */
	f = fake_new();
	memset(&o, 0, sizeof(o));
	k = open_sink(f, &o, 2, 0);
	f->rcpt_err[0] = POSTA_ETEMP;
	write_body(f, &o, k, "x\r\n");
	assert_int_equal(smtp_sink_finish(k, owner_done, &o), 0);
	smtp_sink_cancel(&k);
	run_all(f);
	assert_int_equal(o.done, 0);
	assert_int_equal(f->n_expunged, 1);
	assert_string_equal(f->expunged[0], "bob@example.com");
	free(f);

	smtp_sink_cancel(&k);	/* NULL is fine */
}

static void
test_queue(void **state)
{
	struct fake *f = fake_new();
	struct owner o = { 0 };
	struct smtp_sink *k;

	(void)state;
	f->with_queue = true;
	k = open_sink(f, &o, 1, 1);
	assert_int_equal(f->q_begins, 1);
	assert_int_equal(f->q_rcpts, 1);
	write_body(f, &o, k, "body\r\n");
	assert_int_equal(smtp_sink_finish(k, owner_done, &o), 0);
	run_all(f);
	assert_int_equal(o.code, 250);
	assert_int_equal(f->q_finishes, 1);
	/* the queue's copy has Received: but no Return-Path: */
	assert_int_equal(f->q_written_len, strlen("Received: x\r\nbody\r\n"));
	assert_memory_equal(f->q_written, "Received: x\r\nbody\r\n",
	    f->q_written_len);
	assert_non_null(strstr(f->log, "smtp.queued id=abc-1 queue_id=Q1"));
	free(f);

	/* the queue fails after the local copy is in: take it back */
	f = fake_new();
	memset(&o, 0, sizeof(o));
	f->with_queue = true;
	f->q_finish_err = POSTA_ETEMP;
	k = open_sink(f, &o, 1, 1);
	write_body(f, &o, k, "body\r\n");
	assert_int_equal(smtp_sink_finish(k, owner_done, &o), 0);
	run_all(f);
	assert_int_equal(o.code, 451);
	assert_int_equal(f->n_expunged, 1);
	free(f);

	/* a local failure aborts the queue's submission */
	f = fake_new();
	memset(&o, 0, sizeof(o));
	f->with_queue = true;
	f->rcpt_err[0] = POSTA_ETEMP;
	k = open_sink(f, &o, 1, 1);
	write_body(f, &o, k, "body\r\n");
	assert_int_equal(smtp_sink_finish(k, owner_done, &o), 0);
	run_all(f);
	assert_int_equal(o.code, 451);
	assert_int_equal(f->q_aborts, 1);
	assert_int_equal(f->q_finishes, 0);
	free(f);

	/* queue only, cancelled with a write in flight */
	f = fake_new();
	memset(&o, 0, sizeof(o));
	f->with_queue = true;
	k = open_sink(f, &o, 0, 1);
	assert_int_equal(smtp_sink_write(k, "x", 1, owner_wrote, &o), 0);
	smtp_sink_cancel(&k);
	run_all(f);
	assert_int_equal(o.wrote, 0);
	assert_int_equal(f->q_aborts, 1);
	free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all_ok),
		cmocka_unit_test(test_partial_temp_rolls_back),
		cmocka_unit_test(test_partial_permanent),
		cmocka_unit_test(test_partial_quota),
		cmocka_unit_test(test_all_fail),
		cmocka_unit_test(test_unindexed_copy),
		cmocka_unit_test(test_empty_message),
		cmocka_unit_test(test_begin_and_write_errors),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_queue),
	};

	return cmocka_run_group_tests_name("smtp_deliver", tests, NULL, NULL);
}
