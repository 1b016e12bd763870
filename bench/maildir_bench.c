/* maildir_bench.c: durable deliveries per second; cached envelopes from the index */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "maildir_fakehost.h"

/*
 * Usage: bench/maildir_bench [DIR [DELIVERIES]]
 * DIR (default: a new directory under $TMPDIR or /tmp, removed after)
 * must be on the file system to measure: fsync costs are its own.
 *
 *  1. durable deliveries per second (fsync = yes) of a 4 KiB message:
 *     one at a time to one user; 16 in flight to 16 users; 16 in flight
 *     to one user; one message to 10 recipients;
 *  2. reading the cached ENVELOPE and the flags of 10,000 messages:
 *     SELECT (the view: UIDs and flags) then FETCH ENVELOPE in batches
 *     of POSTA_STORE_BATCH_MAX, as an IMAP server would for
 *     "FETCH 1:* (FLAGS ENVELOPE)".  The 10,000 are delivered first with
 *     fsync = no, which does not change what is read.
 */

static struct fakehost fh;
static char msg[4096];

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
die(const char *what, int err)
{
	fprintf(stderr, "maildir_bench: %s: %s\n", what, posta_strerror(err));
	exit(1);
}

/* ---- a delivery as a little state machine, many in flight ---- */

struct dl {
	struct posta_delivery_rcpt rc[10];
	size_t n_rc;
	struct posta_delivery *d;
	int *left;			/* deliveries still to start */
	int *running;
	int *done;
};

static void dl_start(struct dl *x);

static void
dl_finished(void *ctx, const struct posta_delivery_result *res, size_t n)
{
	struct dl *x = ctx;
	size_t i;

	for (i = 0; i < n; i++)
		if (res[i].err != 0)
			die("delivery", res[i].err);
	(*x->done)++;
	(*x->running)--;
	if (*x->left > 0)
		dl_start(x);
}

static void
dl_written(void *ctx, int err)
{
	struct dl *x = ctx;
	int ret;

	if (err != 0)
		die("write", err);
	ret = posta_delivery_finish(x->d, dl_finished, x);
	if (ret != 0)
		die("finish", ret);
}

static void
dl_begun(void *ctx, int err, struct posta_delivery *d)
{
	struct dl *x = ctx;
	int ret;

	if (err != 0)
		die("begin", err);
	x->d = d;
	ret = posta_delivery_write(d, msg, sizeof(msg), dl_written, x);
	if (ret != 0)
		die("write", ret);
}

static void
dl_start(struct dl *x)
{
	int ret;

	(*x->left)--;
	(*x->running)++;
	ret = posta_delivery_begin(fh_host(&fh), x->rc, x->n_rc, NULL,
	    dl_begun, x);
	if (ret != 0)
		die("begin", ret);
}

static void
wait_zero(const int *running)
{
	while (*running > 0)
		if (uv_run(&fh.loop, UV_RUN_ONCE) == 0 && *running > 0)
			die("loop stalled", -EIO);
}

/* n deliveries, `par` in flight: all to `fixed`, or to one account per
   slot, or (rcpts > 1) each to the same rcpts accounts */
static double
deliveries(int n, int par, const char *fixed, size_t rcpts)
{
	static char names[16][10][64];
	struct dl slots[16];
	int left = n, running = 0, done = 0, i;
	size_t k;
	double t0;

	memset(slots, 0, sizeof(slots));
	for (i = 0; i < par; i++) {
		slots[i].n_rc = rcpts;
		for (k = 0; k < rcpts; k++) {
			if (fixed != NULL)
				snprintf(names[i][k], sizeof(names[i][k]),
				    "%s", fixed);
			else if (rcpts > 1)
				snprintf(names[i][k], sizeof(names[i][k]),
				    "multi%zu@bench.example", k);
			else
				snprintf(names[i][k], sizeof(names[i][k]),
				    "user%d@bench.example", i);
			slots[i].rc[k].account = names[i][k];
		}
		slots[i].left = &left;
		slots[i].running = &running;
		slots[i].done = &done;
	}
	t0 = now_s();
	for (i = 0; i < par && left > 0; i++)
		dl_start(&slots[i]);
	wait_zero(&running);
	return (double)done / (now_s() - t0);
}

/* ---- reading cached metadata ---- */

struct wait {
	bool done;
	int err;
	void *p;
	size_t n, bytes;
};

static void
user_cb(void *ctx, int err, struct posta_mail_user *u)
{
	struct wait *w = ctx;

	w->err = err;
	w->p = u;
	w->done = true;
}

static void
box_cb(void *ctx, int err, struct posta_mailbox *b)
{
	struct wait *w = ctx;

	w->err = err;
	w->p = b;
	w->done = true;
}

static void
meta_cb(void *ctx, int err, const struct posta_msg_meta *m, size_t n)
{
	struct wait *w = ctx;
	size_t i;

	w->err = err;
	for (i = 0; err == 0 && i < n; i++) {
		if (m[i].err != 0 || m[i].envelope == NULL)
			die("meta", m[i].err != 0 ? m[i].err : -EINVAL);
		w->bytes += strlen(m[i].envelope);
	}
	w->n += n;
	w->done = true;
}

static void
read_meta(const char *account, int expect)
{
	struct wait w = { 0 };
	struct posta_mail_user *u;
	struct posta_mailbox *b;
	const struct posta_msg *msgs;
	uint32_t *uids, flags_or = 0;
	size_t n, i;
	double t0, t1, t2;
	int pass;

	if (posta_mail_user_open(fh_host(&fh), account, user_cb, &w) != 0)
		die("user", -EIO);
	fh_wait(&fh, &w.done);
	u = w.p;
	for (pass = 0; pass < 2; pass++) {
		memset(&w, 0, sizeof(w));
		t0 = now_s();
		if (posta_mailbox_open(u, "INBOX", POSTA_OPEN_READONLY,
		    box_cb, &w) != 0)
			die("open", -EIO);
		fh_wait(&fh, &w.done);
		if (w.err != 0)
			die("open", w.err);
		b = w.p;
		t1 = now_s();
		n = posta_mailbox_messages(b, &msgs);
		if ((int)n != expect)
			die("message count", -EINVAL);
		uids = malloc(n * sizeof(*uids));
		for (i = 0; i < n; i++) {
			uids[i] = msgs[i].uid;
			flags_or |= msgs[i].flags;	/* FLAGS: in the view */
		}
		memset(&w, 0, sizeof(w));
		for (i = 0; i < n; i += POSTA_STORE_BATCH_MAX) {
			size_t k = n - i < POSTA_STORE_BATCH_MAX ? n - i :
			    POSTA_STORE_BATCH_MAX;

			w.done = false;
			if (posta_mailbox_fetch_meta(b, uids + i, k,
			    POSTA_META_ENVELOPE, meta_cb, &w) != 0)
				die("fetch_meta", -EIO);
			fh_wait(&fh, &w.done);
			if (w.err != 0)
				die("fetch_meta", w.err);
		}
		t2 = now_s();
		printf("  pass %d: SELECT (view of %zu UIDs and flags) %.1f ms;"
		    " ENVELOPE of %zu messages (%zu bytes) %.1f ms: "
		    "%.0f messages/s\n", pass + 1, n, (t1 - t0) * 1e3, w.n,
		    w.bytes, (t2 - t1) * 1e3, (double)w.n / (t2 - t0));
		free(uids);
		posta_mailbox_close(&b);
	}
	(void)flags_or;
	posta_mail_user_close(&u);
}

int
main(int argc, char **argv)
{
	char dir[1024];
	bool made = false;
	int n = argc > 2 ? atoi(argv[2]) : 400, i;
	size_t off = 0;

	if (argc > 1) {
		snprintf(dir, sizeof(dir), "%s", argv[1]);
	} else {
		snprintf(dir, sizeof(dir), "%s/posta-bench-XXXXXX",
		    getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
		if (mkdtemp(dir) == NULL)
			die("mkdtemp", -errno);
		made = true;
	}
	off = (size_t)snprintf(msg, sizeof(msg),
	    "From: Bench <bench@example.org>\r\nTo: user@bench.example\r\n"
	    "Subject: benchmark message\r\nMessage-ID: <b@example.org>\r\n"
	    "Date: Fri, 27 Nov 2026 10:00:00 +0000\r\n\r\n");
	for (i = 0; off < sizeof(msg) - 2; i++)
		msg[off++] = (i % 72 == 71) ? '\n' : 'a' + i % 26;
	msg[sizeof(msg) - 2] = '\r';
	msg[sizeof(msg) - 1] = '\n';

	printf("maildir_bench in %s\n", dir);
	printf("1. durable deliveries (fsync = yes), 4 KiB each, %d per run\n",
	    n);
	if (fh_init(&fh, dir, true) != 0)
		return 1;
	/* first make the Maildirs and indexes, which is not delivery */
	deliveries(16, 16, NULL, 1);
	deliveries(1, 1, "one@bench.example", 1);
	deliveries(1, 1, NULL, 10);
	printf("  1 in flight, 1 user:         %7.1f deliveries/s\n",
	    deliveries(n, 1, "one@bench.example", 1));
	printf("  16 in flight, 16 users:      %7.1f deliveries/s\n",
	    deliveries(n, 16, NULL, 1));
	printf("  16 in flight, 1 user:        %7.1f deliveries/s\n",
	    deliveries(n, 16, "one@bench.example", 1));
	printf("  1 in flight, 10 recipients:  %7.1f messages/s "
	    "(x10 copies)\n", deliveries(n / 10 > 0 ? n / 10 : 1, 1, NULL,
	    10));
	fh_fini(&fh);

	printf("2. cached ENVELOPE and FLAGS of 10,000 messages\n");
	if (fh_init(&fh, dir, false) != 0)
		return 1;
	{
		double t0 = now_s(), t1;

		deliveries(10000, 16, "reader@bench.example", 1);
		t1 = now_s();
		printf("  (setup: 10,000 deliveries with fsync = no in "
		    "%.1f s)\n", t1 - t0);
	}
	fh_fini(&fh);
	if (fh_init(&fh, dir, true) != 0)
		return 1;
	read_meta("reader@bench.example", 10000);
	fh_fini(&fh);
	if (made) {
		char cmd[1100];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", dir);
	}
	return 0;
}
