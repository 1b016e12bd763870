/* test_maildir_deliver.c: durable delivery, APPEND, reading back, races */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <semaphore.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_maildir_host.h"

static const char msg_lf[] =
	"From: Alice <alice@example.com>\n"
	"To: bob@example.com\n"
	"Subject: =?UTF-8?Q?gr=C3=BC=C3=9Fe?=\n"
	"Message-ID: <1@example.com>\n"
	"\n"
	"line one\n"
	"line two\n";

static const char msg_crlf[] =
	"From: Alice <alice@example.com>\r\n"
	"To: bob@example.com\r\n"
	"Subject: =?UTF-8?Q?gr=C3=BC=C3=9Fe?=\r\n"
	"Message-ID: <1@example.com>\r\n"
	"\r\n"
	"line one\r\n"
	"line two\r\n";

static void
test_deliver_n(void **state)
{
	struct test_host *th = th_new();
	const char *rcpt[] = { "bob@example.com", "carol@example.com",
	    "bob@example.com", "bad/name@example.com", "dave@example.org" };
	struct posta_delivery_result res[5];
	struct posta_mail_user *u;
	struct posta_mailbox *box;
	char path[4096], *data;
	size_t i, len;
	int err;

	th_start(th);
	assert_int_equal(th_deliver(th, rcpt, 5, msg_lf, strlen(msg_lf), res),
	    0);
	for (i = 0; i < 5; i++) {
		assert_string_equal(res[i].account, rcpt[i]);
		if (i == 3) {
			assert_int_equal(res[i].err, POSTA_ENAME);
			continue;
		}
		assert_int_equal(res[i].err, 0);
		assert_int_equal(res[i].uid, 1);
		assert_true(res[i].uidvalidity > 0);
	}
	/* one file per distinct good recipient, in new/, CRLF, named with
	   S= and W=; nothing left in tmp/ */
	for (i = 0; i < 5; i++) {
		if (i == 2 || i == 3)
			continue;
		snprintf(path, sizeof(path), "%s/new", th_maildir(th,
		    rcpt[i]));
		assert_int_equal(th_count_files(path), 1);
		snprintf(path, sizeof(path), "%s/tmp", th_maildir(th,
		    rcpt[i]));
		assert_int_equal(th_count_files(path), 0);
	}
	/* a second delivery takes the next UID */
	assert_int_equal(th_deliver(th, rcpt, 1, msg_crlf, strlen(msg_crlf),
	    res), 0);
	assert_int_equal(res[0].err, 0);
	assert_int_equal(res[0].uid, 2);

	u = th_user(th, "bob@example.com");
	box = th_open(th, u, "INBOX", 0, &err);
	assert_int_equal(err, 0);
	{
		const struct posta_msg *msgs;
		size_t n = posta_mailbox_messages(box, &msgs);

		assert_int_equal(n, 2);
		assert_int_equal(msgs[0].uid, 1);
		assert_int_equal(msgs[1].uid, 2);
		assert_int_equal(msgs[0].size, strlen(msg_crlf));
		/* first sight of new/ messages: \Recent, moved to cur/ */
		assert_true(msgs[0].flags & POSTA_FLAG_RECENT);
		assert_int_equal(posta_mailbox_view_status(box)->recent, 2);
	}
	snprintf(path, sizeof(path), "%s/cur", th_maildir(th,
	    "bob@example.com"));
	assert_int_equal(th_count_files(path), 2);
	for (i = 1; i <= 2; i++) {
		assert_int_equal(th_read(th, box, (uint32_t)i, 5, &data, &len),
		    0);
		assert_int_equal(len, strlen(msg_crlf));
		assert_memory_equal(data, msg_crlf, len);
		free(data);
	}
	posta_mailbox_close(&box);
	posta_mail_user_close(&u);
	th_free(&th);
}

static void
test_append_read(void **state)
{
	struct test_host *th = th_new();
	struct posta_mail_user *u;
	struct posta_mailbox *box;
	const struct posta_msg *msgs;
	uint32_t uid;
	char *data;
	size_t len;
	int err;

	th_start(th);
	u = th_user(th, "alice@example.com");
	assert_int_equal(th_append(th, u, "Nope", msg_lf, strlen(msg_lf), 0,
	    NULL, &uid), POSTA_ENOTFOUND);
	assert_int_equal(th_append(th, u, "a/b", msg_lf, strlen(msg_lf), 0,
	    NULL, &uid), POSTA_ENAME);
	assert_int_equal(th_append(th, u, "Sent", msg_lf, strlen(msg_lf),
	    POSTA_FLAG_SEEN, "$Forwarded", &uid), 0);
	assert_int_equal(uid, 1);
	box = th_open(th, u, "Sent", POSTA_OPEN_READONLY, &err);
	assert_int_equal(err, 0);
	assert_int_equal(posta_mailbox_messages(box, &msgs), 1);
	assert_int_equal(msgs[0].flags, POSTA_FLAG_SEEN);
	assert_int_equal(msgs[0].keywords, 1);
	assert_int_equal(msgs[0].internal_date, 1500000000);
	assert_int_equal(msgs[0].size, strlen(msg_crlf));
	{
		const char *const *kw;

		assert_int_equal(posta_mailbox_keywords(box, &kw), 1);
		assert_string_equal(kw[0], "$Forwarded");
	}
	assert_int_equal(th_read(th, box, 1, 4096, &data, &len), 0);
	assert_memory_equal(data, msg_crlf, len);
	free(data);
	/* the read-only view refuses changes */
	assert_int_equal(th_store(th, box, 1, POSTA_FLAGS_ADD,
	    POSTA_FLAG_FLAGGED, NULL), -EROFS);
	posta_mailbox_close(&box);
	posta_mail_user_close(&u);
	th_free(&th);
}

static void
test_size_limit(void **state)
{
	struct test_host *th = th_new();
	const char *rcpt[] = { "bob@example.com" };
	struct posta_delivery_result res[1];
	char *big = malloc(5000);
	char path[4096];

	memset(big, 'x', 5000);
	th->set.max_message_size = 4096;
	th_start(th);
	assert_int_equal(th_deliver(th, rcpt, 1, big, 5000, res),
	    POSTA_EQUOTA);
	snprintf(path, sizeof(path), "%s/tmp", th_maildir(th, rcpt[0]));
	assert_int_equal(th_count_files(path), 0);
	snprintf(path, sizeof(path), "%s/new", th_maildir(th, rcpt[0]));
	assert_int_equal(th_count_files(path), 0);
	free(big);
	th_free(&th);
}

/* appends from one session race expunges from another */
struct exp_wait {
	bool done;
	int err;
	size_t n;
};

static void
exp_cb(void *ctx, int err, size_t n)
{
	struct exp_wait *w = ctx;

	w->err = err;
	w->n = n;
	w->done = true;
}

struct race {
	struct test_host *th;
	struct posta_mailbox *box;
	int notified;
};

static void
race_notify(void *ctx, struct posta_mailbox *box)
{
	((struct race *)ctx)->notified++;
}

static void
test_concurrent_append_expunge(void **state)
{
	struct test_host *th = th_new();
	struct posta_mail_user *u1, *u2;
	struct posta_mailbox *a, *b;
	struct race rc = { th, NULL, 0 };
	const struct posta_msg *msgs;
	uint32_t seen_max = 0;
	int err, round;

	th_start(th);
	u1 = th_user(th, "alice@example.com");
	u2 = th_user(th, "alice@example.com");
	a = th_open(th, u1, "INBOX", 0, &err);
	assert_int_equal(err, 0);
	b = th_open(th, u2, "INBOX", 0, &err);
	assert_int_equal(err, 0);
	posta_mailbox_watch(a, race_notify, &rc);
	for (round = 0; round < 20; round++) {
		struct posta_mailbox_changes ch;
		struct exp_wait ew = { false, 0, 0 };
		uint32_t uid, *exp;
		size_t n, i;

		n = posta_mailbox_messages(a, &msgs);
		/* u1 expunges everything its view holds while u2's append
		   is on its way: the append survives, the UID is new */
		assert_int_equal(posta_mailbox_expunge(a, NULL, 0, 0,
		    exp_cb, &ew), 0);
		assert_int_equal(th_append(th, u2, "INBOX", round % 2 ?
		    msg_lf : msg_crlf, strlen(round % 2 ? msg_lf : msg_crlf),
		    0, NULL, &uid), 0);
		th_wait(th, &ew.done);
		assert_int_equal(ew.err, 0);
		assert_int_equal(ew.n, n);
		assert_true(uid > seen_max);	/* UIDs never reused */
		seen_max = uid;
		assert_int_equal(th_refresh(th, a, 0, &ch, &exp), 0);
		assert_int_equal(ch.n_expunged, n);
		for (i = 1; i < ch.n_expunged; i++)
			assert_true(exp[i - 1] > exp[i]);
		free(exp);
		assert_int_equal(posta_mailbox_messages(a, &msgs), 1);
		assert_int_equal(msgs[0].uid, uid);
		assert_int_equal(ch.messages, 1);
		/* b saw none of it yet: its view is a snapshot */
		assert_int_equal(th_refresh(th, b, 0, &ch, &exp), 0);
		free(exp);
		assert_int_equal(posta_mailbox_messages(b, &msgs), 1);
		assert_int_equal(msgs[0].uid, uid);
	}
	assert_true(rc.notified > 0);
	posta_mailbox_close(&a);
	posta_mailbox_close(&b);
	posta_mail_user_close(&u1);
	posta_mail_user_close(&u2);
	th_free(&th);
}

/* several SMTP sessions deliver to the same users at once */
struct par {
	bool begun, written, done;
	struct posta_delivery *d;
	struct posta_delivery_result res[2];
};

static void
par_begin(void *ctx, int err, struct posta_delivery *d)
{
	struct par *p = ctx;

	assert_int_equal(err, 0);
	p->d = d;
	p->begun = true;
}

static void
par_written(void *ctx, int err)
{
	assert_int_equal(err, 0);
	((struct par *)ctx)->written = true;
}

static void
par_done(void *ctx, const struct posta_delivery_result *res, size_t n)
{
	struct par *p = ctx;

	assert_int_equal(n, 2);
	p->res[0] = res[0];
	p->res[1] = res[1];
	p->done = true;
}

static void
test_parallel_deliveries(void **state)
{
	struct test_host *th = th_new();
	struct posta_delivery_rcpt rc[2] = { { "bob@example.com", NULL },
	    { "carol@example.com", "Lists" } };
	struct par p[8];
	bool seen[2][9] = { { false } };
	size_t i, k;

	th_start(th);
	memset(p, 0, sizeof(p));
	for (i = 0; i < 8; i++)
		assert_int_equal(posta_delivery_begin((struct posta_host *)th,
		    rc, 2, NULL, par_begin, &p[i]), 0);
	for (i = 0; i < 8; i++) {
		th_wait(th, &p[i].begun);
		assert_int_equal(posta_delivery_write(p[i].d, msg_crlf,
		    strlen(msg_crlf), par_written, &p[i]), 0);
	}
	for (i = 0; i < 8; i++) {
		th_wait(th, &p[i].written);
		assert_int_equal(posta_delivery_finish(p[i].d, par_done,
		    &p[i]), 0);
	}
	for (i = 0; i < 8; i++) {
		th_wait(th, &p[i].done);
		for (k = 0; k < 2; k++) {
			assert_int_equal(p[i].res[k].err, 0);
			assert_true(p[i].res[k].uid >= 1 &&
			    p[i].res[k].uid <= 8);
			assert_false(seen[k][p[i].res[k].uid]);
			seen[k][p[i].res[k].uid] = true;
		}
	}
	th_free(&th);
}

/* requests in flight when everything is closed still answer once */
static int cancel_calls;

static void
cancel_status_cb(void *ctx, int err, const struct posta_mailbox_status *st)
{
	assert_int_equal(err, -ECANCELED);
	assert_null(st);
	cancel_calls++;
}

static void
cancel_read_cb(void *ctx, int err, const uint8_t *data, size_t len)
{
	assert_int_equal(err, -ECANCELED);
	cancel_calls++;
}

static void
keep_reader(void *ctx, int err, struct posta_msg_reader *r, uint64_t size)
{
	assert_int_equal(err, 0);
	*(struct posta_msg_reader **)ctx = r;
}

static void
test_close_while_pending(void **state)
{
	struct test_host *th = th_new();
	const char *rcpt[] = { "bob@example.com" };
	struct posta_delivery_result res[1];
	struct posta_mail_user *u;
	struct posta_mailbox *box;
	struct posta_msg_reader *r = NULL;
	int err;

	th_start(th);
	assert_int_equal(th_deliver(th, rcpt, 1, msg_lf, strlen(msg_lf), res),
	    0);
	u = th_user(th, rcpt[0]);
	box = th_open(th, u, "INBOX", 0, &err);
	assert_int_equal(posta_msg_open(box, 1, keep_reader, &r), 0);
	while (r == NULL)
		uv_run(&th->loop, UV_RUN_ONCE);
	cancel_calls = 0;
	assert_int_equal(posta_mailbox_status(u, "INBOX", cancel_status_cb,
	    NULL), 0);
	assert_int_equal(posta_msg_read(r, 0, 10, cancel_read_cb, NULL), 0);
	assert_int_equal(posta_msg_read(r, 0, 10, cancel_read_cb, NULL),
	    -EBUSY);
	posta_msg_close(&r);
	posta_mailbox_close(&box);
	posta_mail_user_close(&u);
	th_stop(th);
	assert_int_equal(cancel_calls, 2);
	th_free(&th);
}

/* ---- group commit: deliveries queued behind a job run as one batch ---- */

struct blocker {
	struct md_job job;
	sem_t go;
	bool done;
};

static void
blk_work(struct md_job *job)
{
	struct blocker *b = (struct blocker *)job;

	while (sem_wait(&b->go) != 0)
		;
}

static void
blk_done(struct md_job *job)
{
	((struct blocker *)job)->done = true;
}

/* Holds u's serial queue until blk_release(): what arrives meanwhile
   waits, and then runs as one batch. */
static void
blk_hold(struct blocker *b, struct md_user *u)
{
	memset(b, 0, sizeof(*b));
	assert_int_equal(sem_init(&b->go, 0, 0), 0);
	b->job.work_fn = blk_work;
	b->job.done_fn = blk_done;
	assert_int_equal(md_job_serial(u, &b->job), 0);
}

static void
blk_release(struct test_host *th, struct blocker *b)
{
	sem_post(&b->go);
	th_wait(th, &b->done);
	sem_destroy(&b->go);
}

static size_t
queued(const struct md_user *u)
{
	const struct md_job *j;
	size_t n = 0;

	for (j = u->q_head; j != NULL; j = j->next)
		n++;
	return n;
}

/* Runs the loop until n jobs wait in u's queue (bounded). */
static void
wait_queued(struct test_host *th, const struct md_user *u, size_t n)
{
	int turns;

	for (turns = 0; queued(u) < n && turns < 100000; turns++)
		uv_run(&th->loop, UV_RUN_ONCE);
	assert_int_equal(queued(u), n);
}

struct one {
	struct posta_delivery *d;
	bool begun, written, done;
	size_t n;
	struct posta_delivery_result res[3];
	char account[3][64];
};

static void
one_begin(void *ctx, int err, struct posta_delivery *d)
{
	struct one *o = ctx;

	assert_int_equal(err, 0);
	o->d = d;
	o->begun = true;
}

static void
one_written(void *ctx, int err)
{
	assert_int_equal(err, 0);
	((struct one *)ctx)->written = true;
}

static void
one_done(void *ctx, const struct posta_delivery_result *res, size_t n)
{
	struct one *o = ctx;
	size_t i;

	assert_true(n <= 3);
	o->n = n;
	for (i = 0; i < n; i++) {
		o->res[i] = res[i];
		snprintf(o->account[i], sizeof(o->account[i]), "%s",
		    res[i].account);
		o->res[i].account = o->account[i];
	}
	o->done = true;
}

/* begin + write, leaving the finish to the caller */
static void
one_start(struct test_host *th, struct one *o,
    const struct posta_delivery_rcpt *rc, size_t n,
    const struct posta_append_params *params)
{
	memset(o, 0, sizeof(*o));
	assert_int_equal(posta_delivery_begin((struct posta_host *)th, rc, n,
	    params, one_begin, o), 0);
	th_wait(th, &o->begun);
	assert_int_equal(posta_delivery_write(o->d, msg_crlf,
	    strlen(msg_crlf), one_written, o), 0);
	th_wait(th, &o->written);
}

static void
test_batch_partial_failure(void **state)
{
	struct test_host *th = th_new();
	const char *bob = "bob@example.com";
	struct posta_delivery_rcpt rc[1] = { { "bob@example.com", NULL } };
	struct posta_append_params seen;
	struct posta_delivery_result res[1];
	struct blocker blk;
	struct md_user *u;
	struct one a, b;
	char path[4096];
	int err;

	th_start(th);
	/* makes the Maildir and INBOX's index record */
	assert_int_equal(th_deliver(th, &bob, 1, msg_lf, strlen(msg_lf), res),
	    0);
	assert_int_equal(res[0].err, 0);
	u = md_user_get(th->state, bob, &err);
	assert_non_null(u);

	/* a goes to new/; b carries \Seen, so it goes to cur/, which is a
	   file now: b's rename fails inside the batch a succeeds in */
	memset(&seen, 0, sizeof(seen));
	seen.flags = POSTA_FLAG_SEEN;
	one_start(th, &a, rc, 1, NULL);
	one_start(th, &b, rc, 1, &seen);
	snprintf(path, sizeof(path), "%s/cur", th_maildir(th, bob));
	assert_int_equal(rmdir(path), 0);
	th_write_file(path, "not a directory\n");
	blk_hold(&blk, u);
	assert_int_equal(posta_delivery_finish(a.d, one_done, &a), 0);
	assert_int_equal(posta_delivery_finish(b.d, one_done, &b), 0);
	wait_queued(th, u, 2);		/* both wait: one batch */
	blk_release(th, &blk);
	th_wait(th, &a.done);
	th_wait(th, &b.done);

	assert_int_equal(a.n, 1);
	assert_int_equal(a.res[0].err, 0);
	assert_int_equal(a.res[0].uid, 2);
	assert_int_equal(b.n, 1);
	assert_int_equal(b.res[0].err, -ENOTDIR);
	assert_int_equal(b.res[0].uid, 0);
	/* the first message and a's; b left nothing behind */
	snprintf(path, sizeof(path), "%s/new", th_maildir(th, bob));
	assert_int_equal(th_count_files(path), 2);
	snprintf(path, sizeof(path), "%s/tmp", th_maildir(th, bob));
	assert_int_equal(th_count_files(path), 0);
	md_user_unref(u);
	th_free(&th);
}

/*
 * Many deliveries to shared recipients at once: every copy lands once
 * with its own UID, every tmp/ name goes (the last link removes it), and
 * the index meta page a batch left unsynced is synced before a reader.
 */
static void
test_batch_concurrent(void **state)
{
	struct test_host *th = th_new();
	const char *acc[3] = { "bob@example.com", "carol@example.com",
	    "dave@example.com" };
	struct posta_delivery_rcpt rc[3] = { { "bob@example.com", NULL },
	    { "carol@example.com", NULL }, { "dave@example.com", NULL } };
	enum { N = 24 };
	struct one o[N];
	bool seen[3][N + 1];
	struct posta_mail_user *pu;
	struct posta_mailbox_status st;
	struct blocker blk;
	struct md_user *u;
	char path[4096];
	size_t i, k;
	int err;

	th_start(th);
	memset(seen, 0, sizeof(seen));
	u = md_user_get(th->state, acc[0], &err);
	assert_non_null(u);
	/* bob's queue is held, so his copies of the later ones batch up */
	for (i = 0; i < N; i++)
		one_start(th, &o[i], rc + (i % 3 == 0 ? 0 : 1),
		    i % 3 == 0 ? 3 : 2, NULL);
	blk_hold(&blk, u);
	for (i = 0; i < N; i++)
		assert_int_equal(posta_delivery_finish(o[i].d, one_done,
		    &o[i]), 0);
	wait_queued(th, u, N / 3);
	blk_release(th, &blk);
	for (i = 0; i < N; i++) {
		th_wait(th, &o[i].done);
		assert_int_equal(o[i].n, i % 3 == 0 ? 3 : 2);
		for (k = 0; k < o[i].n; k++) {
			size_t who = i % 3 == 0 ? k : k + 1;
			uint32_t uid = o[i].res[k].uid;

			assert_string_equal(o[i].res[k].account, acc[who]);
			assert_int_equal(o[i].res[k].err, 0);
			assert_true(uid >= 1 && uid <= N);
			assert_false(seen[who][uid]);
			seen[who][uid] = true;
		}
	}
	for (k = 0; k < 3; k++) {
		size_t want = k == 0 ? N / 3 : N;

		snprintf(path, sizeof(path), "%s/new", th_maildir(th, acc[k]));
		assert_int_equal(th_count_files(path), want);
		snprintf(path, sizeof(path), "%s/tmp", th_maildir(th, acc[k]));
		assert_int_equal(th_count_files(path), 0);
	}
	/* the delivery batches left bob's meta page unsynced; a job that
	   shows UIDs to a client syncs it first */
	assert_true(u->meta_unsynced);
	pu = th_user(th, acc[0]);
	assert_int_equal(th_status(th, pu, "INBOX", &st), 0);
	assert_int_equal(st.messages, N / 3);
	assert_int_equal(st.uidnext, N / 3 + 1);
	assert_false(u->meta_unsynced);
	posta_mail_user_close(&pu);
	md_user_unref(u);
	th_free(&th);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_deliver_n),
		cmocka_unit_test(test_append_read),
		cmocka_unit_test(test_size_limit),
		cmocka_unit_test(test_concurrent_append_expunge),
		cmocka_unit_test(test_parallel_deliveries),
		cmocka_unit_test(test_close_while_pending),
		cmocka_unit_test(test_batch_partial_failure),
		cmocka_unit_test(test_batch_concurrent),
	};

	alarm(120);
	return cmocka_run_group_tests_name("maildir_deliver", tests, NULL,
	    NULL);
}
