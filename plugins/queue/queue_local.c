/* queue_local.c: bounces to local users: resolve, then the store */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "queue_priv.h"

/*
 * A recipient routed at delivery (route 'r' in the spool: bounces) is
 * looked up through the auth chain.  A local user gets the message through
 * the store's delivery API, with a Return-Path line in front; an address
 * on another server goes back to the scheduler to leave over SMTP; an
 * unknown address of ours fails for good.  The message is read from the
 * spool on the thread pool, POSTA_STORE_WRITE_MAX at most per write.
 */

#define QLOCAL_CHUNK	(64u * 1024)

struct qlocal {
	struct qjob *job;
	struct queue *q;
	char **accounts;
	size_t n_accounts;
	struct posta_delivery *d;
	int fd;
	uint64_t off;
	uint8_t *buf;
	uv_fs_t fs;
	char *hdr;
};

static void
qlocal_done(struct qlocal *l)
{
	size_t i;

	if (l->d != NULL)
		posta_delivery_abort(&l->d);
	if (l->fd >= 0)
		close(l->fd);
	for (i = 0; i < l->n_accounts; i++)
		free(l->accounts[i]);
	free(l->accounts);
	free(l->buf);
	free(l->hdr);
	qjob_finish(l->job);
	queue_unref(l->q);
	free(l);
}

static void
qlocal_temp(struct qlocal *l, const char *status, const char *why)
{
	qjob_result(l->job, 0, 'T', status, NULL, why);
	qlocal_done(l);
}

static void
qlocal_finish_cb(void *ctx, const struct posta_delivery_result *res,
    size_t n)
{
	struct qlocal *l = ctx;
	size_t i, ok = 0;
	int err = 0;
	char diag[400];

	l->d = NULL;	/* freed by the store after this callback */
	for (i = 0; i < n; i++) {
		if (res[i].err == 0)
			ok++;
		else if (err == 0)
			err = res[i].err;
	}
	if (ok > 0) {
		/* a copy that is on disk must not be made twice: some
		   copies of an alias is delivered, not retried */
		snprintf(diag, sizeof(diag), "delivered to %zu local "
		    "mailbox%s", ok, ok == 1 ? "" : "es");
		qjob_result(l->job, 0, 'D', "2.0.0", NULL, diag);
	} else if (err == POSTA_EQUOTA) {
		qjob_result(l->job, 0, 'T', "4.2.2", NULL, "mailbox full");
	} else {
		snprintf(diag, sizeof(diag), "local delivery failed: %s",
		    posta_strerror(err));
		qjob_result(l->job, 0, 'T', "4.3.0", NULL, diag);
	}
	qlocal_done(l);
}

static void qlocal_read_cb(uv_fs_t *req);

static void
qlocal_write_cb(void *ctx, int err)
{
	struct qlocal *l = ctx;
	uv_buf_t b;
	int r;

	if (err < 0) {
		qlocal_temp(l, "4.3.0", "local delivery failed while writing");
		return;
	}
	if (l->q->stopping) {
		qlocal_done(l);
		return;
	}
	b = uv_buf_init((char *)l->buf, QLOCAL_CHUNK);
	l->fs.data = l;
	r = uv_fs_read(l->q->loop, &l->fs, l->fd, &b, 1, (int64_t)l->off,
	    qlocal_read_cb);
	if (r < 0)
		qlocal_temp(l, "4.3.0", "cannot read the spool file");
}

static void
qlocal_read_cb(uv_fs_t *req)
{
	struct qlocal *l = req->data;
	ssize_t n = req->result;
	int r;

	uv_fs_req_cleanup(req);
	if (n < 0 || l->q->stopping) {
		if (n < 0)
			qlocal_temp(l, "4.3.0", "cannot read the spool file");
		else
			qlocal_done(l);
		return;
	}
	if (n == 0) {
		r = posta_delivery_finish(l->d, qlocal_finish_cb, l);
		if (r < 0)
			qlocal_temp(l, "4.3.0", "local delivery failed");
		return;
	}
	l->off += (uint64_t)n;
	r = posta_delivery_write(l->d, l->buf, (size_t)n, qlocal_write_cb, l);
	if (r < 0)
		qlocal_temp(l, "4.3.0", "local delivery failed");
}

static void
qlocal_begin_cb(void *ctx, int err, struct posta_delivery *d)
{
	struct qlocal *l = ctx;
	int r;

	if (err < 0 || d == NULL) {
		qlocal_temp(l, "4.3.0", "the mail store refused the delivery");
		return;
	}
	l->d = d;
	if (l->q->stopping) {
		qlocal_done(l);
		return;
	}
	r = posta_delivery_write(d, l->hdr, strlen(l->hdr), qlocal_write_cb,
	    l);
	if (r < 0)
		qlocal_temp(l, "4.3.0", "local delivery failed");
}

static void
qlocal_open_cb(uv_fs_t *req)
{
	struct qlocal *l = req->data;
	ssize_t fd = req->result;
	struct posta_delivery_rcpt *rcpts;
	struct posta_append_params params;
	size_t i;
	int r;

	uv_fs_req_cleanup(req);
	if (fd == UV_ENOENT) {
		/* removed by hand: no retry brings it back */
		qjob_result(l->job, 0, 'F', "5.3.0", NULL,
		    "the message was removed from the queue");
		qlocal_done(l);
		return;
	}
	if (fd < 0) {
		qlocal_temp(l, "4.3.0", "cannot open the spool file");
		return;
	}
	l->fd = (int)fd;
	if (l->q->stopping) {
		qlocal_done(l);
		return;
	}
	rcpts = calloc(l->n_accounts, sizeof(*rcpts));
	if (rcpts == NULL) {
		qlocal_temp(l, "4.3.0", "out of memory");
		return;
	}
	for (i = 0; i < l->n_accounts; i++)
		rcpts[i].account = l->accounts[i];
	memset(&params, 0, sizeof(params));
	r = posta_delivery_begin(l->q->host, rcpts, l->n_accounts, &params,
	    qlocal_begin_cb, l);
	free(rcpts);
	if (r < 0)
		qlocal_temp(l, "4.3.0", r == POSTA_ENOPROVIDER ?
		    "no mail store is loaded" : "the mail store refused "
		    "the delivery");
}

static void
qlocal_resolved(void *ctx, const struct posta_resolution *res)
{
	struct qlocal *l = ctx;
	struct queue *q = l->q;
	const struct qspool_env *env = &l->job->msg->env;
	char path[4096];
	size_t i;
	int r;

	if (q->stopping) {
		qlocal_done(l);
		return;
	}
	switch (res->kind) {
	case POSTA_RESOLVE_EXTERNAL:
		qjob_result(l->job, 0, 'R', NULL, NULL, NULL);
		qlocal_done(l);
		return;
	case POSTA_RESOLVE_UNKNOWN:
		qjob_result(l->job, 0, 'F', "5.1.1", NULL,
		    "no such local user");
		qlocal_done(l);
		return;
	case POSTA_RESOLVE_LOCAL:
		break;
	default:
		qlocal_temp(l, "4.3.0", "address lookup failed temporarily");
		return;
	}
	if (res->n_accounts == 0) {
		/* an alias of ours pointing only elsewhere: a bounce is
		   not forwarded on (it could loop); it is dropped */
		qjob_result(l->job, 0, 'F', "5.4.0", NULL, "the address "
		    "has no local mailbox");
		qlocal_done(l);
		return;
	}
	l->accounts = calloc(res->n_accounts, sizeof(char *));
	if (l->accounts == NULL) {
		qlocal_temp(l, "4.3.0", "out of memory");
		return;
	}
	for (i = 0; i < res->n_accounts; i++) {
		l->accounts[i] = strdup(res->accounts[i]);
		if (l->accounts[i] == NULL) {
			qlocal_temp(l, "4.3.0", "out of memory");
			return;
		}
		l->n_accounts = i + 1;
	}
	l->buf = malloc(QLOCAL_CHUNK);
	l->hdr = malloc(strlen(env->sender) + 24);
	if (l->buf == NULL || l->hdr == NULL) {
		qlocal_temp(l, "4.3.0", "out of memory");
		return;
	}
	sprintf(l->hdr, "Return-Path: <%s>\r\n", env->sender);
	if (qspool_path(path, sizeof(path), q->dir, "q", env->id, ".msg") < 0) {
		qlocal_temp(l, "4.3.0", "spool path too long");
		return;
	}
	l->fs.data = l;
	r = uv_fs_open(q->loop, &l->fs, path, O_RDONLY | O_CLOEXEC, 0,
	    qlocal_open_cb);
	if (r < 0)
		qlocal_temp(l, "4.3.0", "cannot open the spool file");
}

int
qlocal_start(struct qjob *job)
{
	struct queue *q = job->msg->q;
	struct qlocal *l = calloc(1, sizeof(*l));
	int r;

	if (l == NULL)
		return -ENOMEM;
	l->job = job;
	l->q = q;
	l->fd = -1;
	r = posta_resolve(q->host, job->msg->env.rcpts[job->rcpts[0]].address,
	    qlocal_resolved, l);
	if (r < 0) {
		free(l);
		return r;
	}
	queue_ref(q);
	return 0;
}
