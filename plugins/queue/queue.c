/* queue.c: the queue plugin: settings, submissions, startup scan, requests */
#include "config.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "queue_priv.h"
#include "util.h"

/*
 * Submissions (queue.h): begin makes an id and opens tmp/<id>.msg on the
 * thread pool, each write appends a copy of its chunk there, finish
 * commits on the thread pool (qspool_commit: fsync file, envelope,
 * renames, fsync directory) and only then answers, so the SMTP engine's
 * 250 follows durability.  An abort while an operation is in flight is
 * noted and honoured when it completes; a submission that was committed
 * but aborted before its callback is removed again, since the client
 * never heard it was accepted and will send it again.
 */
struct posta_queue_msg {
	struct queue *q;
	struct posta_queue_msg *prev, *next;	/* q's submissions */
	struct qspool_env env;
	int fd;
	uint64_t size;
	bool busy, aborted, failed;
	uv_fs_t fs;
	uv_work_t work;
	char *wbuf;
	size_t wlen, woff;
	int err;
	posta_queue_begin_cb *begin_cb;
	posta_queue_write_cb *write_cb;
	posta_queue_done_cb *done_cb;
	void *ctx;
};

/* init's error text must outlive a failed init */
static __thread char queue_error[256];

int64_t
queue_now(void)
{
	return (int64_t)time(NULL);
}

void
queue_log(const struct queue *q, enum posta_log_level level,
    const char *event, const char *fmt, ...)
{
	va_list ap;

	if (q->host_gone)
		return;
	va_start(ap, fmt);
	POSTA_API(q->host)->logv(q->host, level, event, fmt, ap);
	va_end(ap);
}

const char *
queue_q(struct queue *q, const char *s, char *buf, size_t size)
{
	return posta_log_quote(buf, size, s != NULL ? s : "");
}

/* ---- lifetime ---- */

static void
queue_free(struct queue *q)
{
	if (q->smarthost_password != NULL) {
		util_wipe(q->smarthost_password,
		    strlen(q->smarthost_password));
		free(q->smarthost_password);
	}
	if (q->tls_creds != NULL)
		gnutls_certificate_free_credentials(q->tls_creds);
	if (q->tls_prio != NULL)
		gnutls_priority_deinit(q->tls_prio);
	free(q->pending_ids);
	free(q->routes);
	free(q->dir);
	free(q->helo);
	free(q->postmaster);
	free(q);
}

void
queue_ref(struct queue *q)
{
	q->refs++;
}

void
queue_unref(struct queue *q)
{
	if (--q->refs == 0)
		queue_free(q);
}

/* ids committed (or being committed) but not yet in memory: a rescan
   of q/ must not load them a second time */
static int
queue_pending_add(struct queue *q, const char *id)
{
	if (q->n_pending_ids == q->cap_pending_ids) {
		size_t cap = q->cap_pending_ids == 0 ? 16 :
		    q->cap_pending_ids * 2;
		void *np = realloc(q->pending_ids, cap *
		    sizeof(*q->pending_ids));

		if (np == NULL)
			return -ENOMEM;
		q->pending_ids = np;
		q->cap_pending_ids = cap;
	}
	memcpy(q->pending_ids[q->n_pending_ids++], id, QSPOOL_ID_LEN + 1);
	return 0;
}

void
queue_pending_del(struct queue *q, const char *id)
{
	size_t i;

	for (i = 0; i < q->n_pending_ids; i++)
		if (strcmp(q->pending_ids[i], id) == 0) {
			q->n_pending_ids--;
			memmove(q->pending_ids[i], q->pending_ids[i + 1],
			    (q->n_pending_ids - i) *
			    sizeof(*q->pending_ids));
			return;
		}
}

static bool
queue_pending_has(struct queue *q, const char *id)
{
	size_t i;

	for (i = 0; i < q->n_pending_ids; i++)
		if (strcmp(q->pending_ids[i], id) == 0)
			return true;
	return false;
}

int
queue_pending_reserve(struct queue *q, const char *id)
{
	return queue_pending_add(q, id);
}

/* ---- submissions ---- */

static void
qsub_unlink(struct posta_queue_msg *msg)
{
	struct queue *q = msg->q;

	if (msg->prev != NULL)
		msg->prev->next = msg->next;
	else
		q->submissions = msg->next;
	if (msg->next != NULL)
		msg->next->prev = msg->prev;
	q->n_submitting--;
}

static void
qsub_free(struct posta_queue_msg *msg)
{
	struct queue *q = msg->q;

	qsub_unlink(msg);
	queue_pending_del(q, msg->env.id);
	qspool_env_clear(&msg->env);
	free(msg->wbuf);
	free(msg);
	queue_unref(q);
}

/* Thread pool: close the file and remove whatever was written. */
static void
qsub_discard_work(uv_work_t *req)
{
	struct posta_queue_msg *msg = req->data;

	if (msg->fd >= 0)
		close(msg->fd);
	msg->fd = -1;
	qspool_discard(msg->q->dir, msg->env.id);
	if (msg->err == 1)	/* committed, then aborted */
		qspool_remove(msg->q->dir, msg->env.id);
}

static void
qsub_discard_after(uv_work_t *req, int status)
{
	qsub_free(req->data);
}

static void
qsub_discard(struct posta_queue_msg *msg)
{
	msg->busy = true;
	msg->work.data = msg;
	if (uv_queue_work(msg->q->loop, &msg->work, qsub_discard_work,
	    qsub_discard_after) < 0) {
		if (msg->fd >= 0)
			close(msg->fd);
		qsub_free(msg);
	}
}

static void
qsub_open_cb(uv_fs_t *req)
{
	struct posta_queue_msg *msg = req->data;
	ssize_t r = req->result;

	uv_fs_req_cleanup(req);
	msg->busy = false;
	if (r >= 0)
		msg->fd = (int)r;
	if (msg->aborted) {
		qsub_discard(msg);
		return;
	}
	if (r < 0) {
		posta_queue_begin_cb *cb = msg->begin_cb;
		void *ctx = msg->ctx;

		queue_log(msg->q, POSTA_LOG_ERROR, "queue.spool_failed",
		    "op=open error=\"%s\"", uv_strerror((int)r));
		qsub_free(msg);
		cb(ctx, POSTA_ETEMP, NULL);
		return;
	}
	msg->begin_cb(msg->ctx, 0, msg);
}

static int
qsub_begin(void *state, const struct posta_queue_envelope *e,
    posta_queue_begin_cb *cb, void *ctx)
{
	struct queue *q = state;
	struct posta_queue_msg *msg;
	struct qspool_env *env;
	char path[4096];
	size_t i;
	int r;

	if (q->stopping)
		return -ECANCELED;
	if (e == NULL || e->sender == NULL || e->n_rcpts == 0 ||
	    e->n_rcpts > QSPOOL_RCPTS_MAX || cb == NULL)
		return -EINVAL;
	if (!qpolicy_addr_sendable(e->sender))
		return -EINVAL;
	for (i = 0; i < e->n_rcpts; i++)
		if (e->rcpts[i].address == NULL ||
		    e->rcpts[i].address[0] == '\0' ||
		    !qpolicy_addr_sendable(e->rcpts[i].address))
			return -EINVAL;
	if (q->n_msgs + q->n_submitting >= (size_t)q->set->max_messages) {
		queue_log(q, POSTA_LOG_WARN, "queue.full",
		    "messages=%zu max=%lld", q->n_msgs,
		    (long long)q->set->max_messages);
		return POSTA_ETEMP;
	}
	msg = calloc(1, sizeof(*msg));
	if (msg == NULL)
		return -ENOMEM;
	msg->q = q;
	msg->fd = -1;
	env = &msg->env;
	env->created = queue_now();
	env->ret = (enum qspool_ret)e->ret;
	env->smtputf8 = e->smtputf8;
	env->eightbit = e->eightbit;
	env->sender = strdup(e->sender);
	r = env->sender == NULL ? -ENOMEM : 0;
	if (r == 0 && e->envid != NULL && (env->envid = strdup(e->envid)) ==
	    NULL)
		r = -ENOMEM;
	if (r == 0 && e->auth_user != NULL &&
	    (env->auth_user = strdup(e->auth_user)) == NULL)
		r = -ENOMEM;
	if (r == 0 && e->client != NULL &&
	    (env->client = strdup(e->client)) == NULL)
		r = -ENOMEM;
	if (r == 0 && (env->rcpts = calloc(e->n_rcpts,
	    sizeof(*env->rcpts))) == NULL)
		r = -ENOMEM;
	for (i = 0; r == 0 && i < e->n_rcpts; i++) {
		struct qspool_rcpt *rc = &env->rcpts[i];

		env->n_rcpts = i + 1;
		rc->notify = e->rcpts[i].notify & 15;
		rc->address = strdup(e->rcpts[i].address);
		if (rc->address == NULL || (e->rcpts[i].orcpt != NULL &&
		    (rc->orcpt = strdup(e->rcpts[i].orcpt)) == NULL))
			r = -ENOMEM;
	}
	if (r == 0)
		r = qspool_new_id(env->id);
	if (r == 0)
		r = qspool_path(path, sizeof(path), q->dir, "tmp", env->id,
		    ".msg");
	if (r == 0)
		r = queue_pending_add(q, env->id);
	if (r < 0) {
		qspool_env_clear(env);
		free(msg);
		return r;
	}
	msg->begin_cb = cb;
	msg->ctx = ctx;
	msg->fs.data = msg;
	r = uv_fs_open(q->loop, &msg->fs, path, O_WRONLY | O_CREAT | O_EXCL |
	    O_CLOEXEC, 0600, qsub_open_cb);
	if (r < 0) {
		queue_pending_del(q, env->id);
		qspool_env_clear(env);
		free(msg);
		return POSTA_ETEMP;
	}
	msg->busy = true;
	msg->next = q->submissions;
	if (msg->next != NULL)
		msg->next->prev = msg;
	q->submissions = msg;
	q->n_submitting++;
	queue_ref(q);
	return 0;
}

static void qsub_write_cb(uv_fs_t *req);

static int
qsub_write_more(struct posta_queue_msg *msg)
{
	uv_buf_t b = uv_buf_init(msg->wbuf + msg->woff,
	    (unsigned)(msg->wlen - msg->woff));

	msg->fs.data = msg;
	return uv_fs_write(msg->q->loop, &msg->fs, msg->fd, &b, 1,
	    (int64_t)msg->size, qsub_write_cb);
}

static void
qsub_write_cb(uv_fs_t *req)
{
	struct posta_queue_msg *msg = req->data;
	ssize_t r = req->result;

	uv_fs_req_cleanup(req);
	if (r > 0) {
		msg->woff += (size_t)r;
		msg->size += (uint64_t)r;
	}
	if (!msg->aborted && r > 0 && msg->woff < msg->wlen &&
	    qsub_write_more(msg) == 0)
		return;
	msg->busy = false;
	free(msg->wbuf);
	msg->wbuf = NULL;
	if (msg->aborted) {
		qsub_discard(msg);
		return;
	}
	if (r <= 0 || msg->woff < msg->wlen) {
		msg->failed = true;
		queue_log(msg->q, POSTA_LOG_ERROR, "queue.spool_failed",
		    "id=%s op=write error=\"%s\"", msg->env.id, r < 0 ?
		    uv_strerror((int)r) : "short write");
		msg->write_cb(msg->ctx, POSTA_ETEMP);
		return;
	}
	msg->write_cb(msg->ctx, 0);
}

static int
qsub_write(struct posta_queue_msg *msg, const void *data, size_t len,
    posta_queue_write_cb *cb, void *ctx)
{
	if (msg->busy)
		return -EBUSY;
	if (msg->failed)
		return POSTA_ETEMP;
	if (len == 0 || len > (64u << 20))
		return len == 0 ? -EINVAL : -EMSGSIZE;
	msg->wbuf = malloc(len);
	if (msg->wbuf == NULL)
		return -ENOMEM;
	memcpy(msg->wbuf, data, len);
	msg->wlen = len;
	msg->woff = 0;
	msg->write_cb = cb;
	msg->ctx = ctx;
	if (qsub_write_more(msg) < 0) {
		free(msg->wbuf);
		msg->wbuf = NULL;
		return POSTA_ETEMP;
	}
	msg->busy = true;
	return 0;
}

static void
qsub_commit_work(uv_work_t *req)
{
	struct posta_queue_msg *msg = req->data;

	msg->err = qspool_commit(msg->q->dir, &msg->env, msg->fd, -1, -1);
	close(msg->fd);
	msg->fd = -1;
}

static void
qsub_commit_after(uv_work_t *req, int status)
{
	struct posta_queue_msg *msg = req->data;
	struct queue *q = msg->q;
	posta_queue_done_cb *cb = msg->done_cb;
	void *ctx = msg->ctx;
	struct qmsg *m;
	char id[QSPOOL_ID_LEN + 1], b1[300], b2[300];
	int err = msg->err < 0 ? msg->err : status;

	msg->busy = false;
	if (msg->aborted) {
		/* nobody heard of it: take it back */
		msg->err = err == 0 ? 1 : err;
		qsub_discard(msg);
		return;
	}
	if (err < 0) {
		queue_log(q, POSTA_LOG_ERROR, "queue.spool_failed",
		    "id=%s op=commit error=\"%s\"", msg->env.id,
		    posta_strerror(err));
		qsub_free(msg);
		cb(ctx, POSTA_ETEMP, NULL);
		return;
	}
	memcpy(id, msg->env.id, sizeof(id));
	queue_log(q, POSTA_LOG_INFO, "queue.queued", "id=%s from=%s "
	    "rcpts=%zu size=%llu client=%s auth=%s", id,
	    queue_q(q, msg->env.sender[0] != '\0' ? msg->env.sender : "<>",
	    b1, sizeof(b1)), msg->env.n_rcpts,
	    (unsigned long long)msg->env.size,
	    msg->env.client != NULL ? msg->env.client : "-",
	    queue_q(q, msg->env.auth_user != NULL ? msg->env.auth_user : "-",
	    b2, sizeof(b2)));
	m = qmsg_add(q, &msg->env);
	if (m != NULL)
		qsched_message_added(q, m);
	else
		queue_log(q, POSTA_LOG_ERROR, "queue.load_failed",
		    "id=%s error=\"out of memory; delivered after a "
		    "restart\"", id);
	qsub_free(msg);
	cb(ctx, 0, id);
}

static int
qsub_finish(struct posta_queue_msg *msg, posta_queue_done_cb *cb, void *ctx)
{
	if (msg->busy)
		return -EBUSY;
	if (msg->failed)
		return POSTA_ETEMP;
	msg->env.size = msg->size;
	msg->done_cb = cb;
	msg->ctx = ctx;
	msg->work.data = msg;
	if (uv_queue_work(msg->q->loop, &msg->work, qsub_commit_work,
	    qsub_commit_after) < 0)
		return POSTA_ETEMP;
	msg->busy = true;
	return 0;
}

static void
qsub_abort(struct posta_queue_msg *msg)
{
	if (msg == NULL)
		return;
	msg->aborted = true;
	if (!msg->busy)
		qsub_discard(msg);
}

static const struct posta_queue_ops queue_ops = {
	.name = "queue",
	.submit_begin = qsub_begin,
	.submit_write = qsub_write,
	.submit_finish = qsub_finish,
	.submit_abort = qsub_abort,
};

/* ---- loading the spool ---- */

/* An envelope that could not be read (not a corrupt one): left in q/. */
struct qload_unreadable {
	char id[QSPOOL_ID_LEN + 1];
	int err;
};

struct qload_work {
	uv_work_t req;
	struct queue *q;
	bool startup;
	struct qspool_env *envs;
	size_t n;
	size_t n_corrupt;
	struct qload_unreadable *bad;
	size_t n_bad;
	int err;
};

static void
qload_work_cb(uv_work_t *req)
{
	struct qload_work *w = req->data;
	char (*ids)[QSPOOL_ID_LEN + 1] = NULL;
	size_t n = 0, i;

	w->err = qspool_scan(w->q->dir, &ids, &n);
	if (w->err < 0)
		return;
	w->envs = calloc(n > 0 ? n : 1, sizeof(*w->envs));
	w->bad = calloc(n > 0 ? n : 1, sizeof(*w->bad));
	if (w->envs == NULL || w->bad == NULL) {
		free(ids);
		w->err = -ENOMEM;
		return;
	}
	for (i = 0; i < n; i++) {
		const char *why = NULL;
		int r = qspool_env_load(w->q->dir, ids[i], &w->envs[w->n],
		    &why);

		if (r == 0) {
			w->n++;
			continue;
		}
		qspool_env_clear(&w->envs[w->n]);
		/* a startup sees every file: one we cannot read goes aside
		   so it does not stop the rest; a rescan may race a removal */
		if (r == POSTA_ECORRUPT && w->startup) {
			qspool_set_aside(w->q->dir, ids[i]);
			w->n_corrupt++;
		} else if (r != POSTA_ECORRUPT && r != -ENOENT) {
			/* EACCES, EIO: the file may be fine once its owner
			   or the disk is, so it stays where it is */
			memcpy(w->bad[w->n_bad].id, ids[i],
			    sizeof(w->bad[w->n_bad].id));
			w->bad[w->n_bad++].err = r;
		}
	}
	free(ids);
}

static void queue_ctl_check(struct queue *q);

static void
qload_after_cb(uv_work_t *req, int status)
{
	struct qload_work *w = req->data;
	struct queue *q = w->q;
	size_t i, added = 0, unreadable = 0;

	if (w->err < 0 || status < 0)
		queue_log(q, POSTA_LOG_ERROR, "queue.scan_failed",
		    "dir=%s error=\"%s\"", q->dir, posta_strerror(w->err < 0 ?
		    w->err : status));
	if (w->n_corrupt > 0)
		queue_log(q, POSTA_LOG_ERROR, "queue.corrupt",
		    "dir=%s/corrupt messages=%zu", q->dir, w->n_corrupt);
	for (i = 0; i < w->n_bad; i++) {
		const struct qload_unreadable *b = &w->bad[i];

		/* a rescan also reads the files of messages in memory */
		if (qmsg_find(q, b->id) != NULL ||
		    queue_pending_has(q, b->id))
			continue;
		queue_log(q, POSTA_LOG_ERROR, "queue.unreadable",
		    "id=%s file=%s/q/%s.env error=\"%s\"", b->id, q->dir,
		    b->id, posta_strerror(b->err));
		unreadable++;
	}
	free(w->bad);
	for (i = 0; i < w->n; i++) {
		struct qmsg *m;

		if (q->stopping || qmsg_find(q, w->envs[i].id) != NULL ||
		    queue_pending_has(q, w->envs[i].id)) {
			qspool_env_clear(&w->envs[i]);
			continue;
		}
		m = qmsg_add(q, &w->envs[i]);
		if (m != NULL)
			added++;
	}
	free(w->envs);
	if (!q->stopping) {
		queue_log(q, POSTA_LOG_INFO, w->startup ?
		    "queue.loaded" : "queue.rescanned", "messages=%zu "
		    "added=%zu unreadable=%zu", q->n_msgs, added, unreadable);
		if (w->startup) {
			q->loaded = true;
			queue_ctl_check(q);
		}
		qsched_kick(q);
	}
	free(w);
	queue_unref(q);
}

static int
queue_load(struct queue *q, bool startup)
{
	struct qload_work *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return -ENOMEM;
	w->req.data = w;
	w->q = q;
	w->startup = startup;
	if (uv_queue_work(q->loop, &w->req, qload_work_cb,
	    qload_after_cb) < 0) {
		free(w);
		return -EIO;
	}
	queue_ref(q);
	return 0;
}

/* ---- requests from posta(8) in ctl/ ---- */

struct qctl_work {
	uv_work_t req;
	struct queue *q;
	struct qspool_req *reqs;
	size_t n;
	int err;
};

static void
qctl_work_cb(uv_work_t *req)
{
	struct qctl_work *w = req->data;

	w->err = qspool_take_requests(w->q->dir, &w->reqs, &w->n);
}

static void
qctl_after_cb(uv_work_t *req, int status)
{
	struct qctl_work *w = req->data;
	struct queue *q = w->q;
	bool rescan = false;
	size_t i;

	q->ctl_busy = false;
	for (i = 0; i < w->n && !q->stopping; i++) {
		const struct qspool_req *r = &w->reqs[i];
		const char *id = r->id[0] != '\0' ? r->id : NULL;

		if (strcmp(r->what, "flush") == 0)
			qsched_flush(q, id);
		else if (strcmp(r->what, "delete") == 0 && id != NULL)
			qsched_delete(q, id);
		else if (strcmp(r->what, "new") == 0)
			rescan = true;
	}
	free(w->reqs);
	free(w);
	if (rescan && !q->stopping && queue_load(q, false) < 0)
		queue_log(q, POSTA_LOG_ERROR, "queue.scan_failed",
		    "dir=%s error=\"cannot start a rescan\"", q->dir);
	if (q->ctl_again && !q->stopping) {
		q->ctl_again = false;
		queue_ctl_check(q);
	}
	queue_unref(q);
}

static void
queue_ctl_check(struct queue *q)
{
	struct qctl_work *w;

	if (q->stopping || !q->loaded)
		return;
	if (q->ctl_busy) {
		q->ctl_again = true;
		return;
	}
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return;
	w->req.data = w;
	w->q = q;
	if (uv_queue_work(q->loop, &w->req, qctl_work_cb,
	    qctl_after_cb) < 0) {
		free(w);
		return;
	}
	q->ctl_busy = true;
	queue_ref(q);
}

static void
queue_ctl_event(uv_fs_event_t *h, const char *name, int events, int status)
{
	queue_ctl_check(h->data);
}

static void
queue_ctl_closed(uv_handle_t *h)
{
	queue_unref(h->data);
}

/* ---- settings ---- */

static int
queue_apply_settings(struct queue *q, const struct queue_settings *set,
    const char **error_r)
{
	struct qroute *routes = NULL, smart;
	char *password = NULL, *helo = NULL, *pm = NULL;
	const char *why = NULL;
	bool has_smart = false;
	size_t i;
	int r;

	memset(&smart, 0, sizeof(smart));
	if (set->routes.n > 0) {
		routes = calloc(set->routes.n, sizeof(*routes));
		if (routes == NULL)
			goto oom;
	}
	for (i = 0; i < set->routes.n; i++) {
		if (qpolicy_parse_route(set->routes.items[i], &routes[i],
		    &why) < 0) {
			snprintf(queue_error, sizeof(queue_error), "routes: "
			    "'%s': %s", set->routes.items[i], why);
			free(routes);
			*error_r = queue_error;
			return POSTA_ECONFIG;
		}
	}
	if (set->smarthost != NULL && set->smarthost[0] != '\0') {
		if (qpolicy_parse_hostport(set->smarthost, 25, smart.host,
		    &smart.port, &why) < 0) {
			snprintf(queue_error, sizeof(queue_error), "smarthost: "
			    "'%s': %s", set->smarthost, why);
			free(routes);
			*error_r = queue_error;
			return POSTA_ECONFIG;
		}
		has_smart = true;
	}
	if (set->smarthost_password_file != NULL &&
	    set->smarthost_password_file[0] != '\0') {
		char buf[1024];
		ssize_t n;
		int fd = open(set->smarthost_password_file,
		    O_RDONLY | O_CLOEXEC);

		if (fd < 0) {
			snprintf(queue_error, sizeof(queue_error),
			    "smarthost_password_file %s: %s",
			    set->smarthost_password_file, strerror(errno));
			free(routes);
			*error_r = queue_error;
			return POSTA_ECONFIG;
		}
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n < 0)
			n = 0;
		while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
			n--;
		buf[n] = '\0';
		password = strdup(buf);
		util_wipe(buf, sizeof(buf));
		if (password == NULL)
			goto oom;
	}
	helo = strdup(set->helo_name != NULL && set->helo_name[0] != '\0' ?
	    set->helo_name : posta_host_hostname(q->host));
	if (helo == NULL)
		goto oom;
	pm = malloc(strlen(helo) + 16);
	if (pm == NULL)
		goto oom;
	sprintf(pm, "MAILER-DAEMON@%s", helo);
	if (q->dns != NULL) {
		r = qdns_set_servers(q->dns, &set->dns_servers);
		if (r < 0) {
			*error_r = "dns_servers: cannot use these servers";
			free(routes);
			free(helo);
			free(pm);
			if (password != NULL) {
				util_wipe(password, strlen(password));
				free(password);
			}
			return POSTA_ECONFIG;
		}
	}
	free(q->routes);
	q->routes = routes;
	q->n_routes = set->routes.n;
	q->smarthost = smart;
	q->has_smarthost = has_smart;
	if (q->smarthost_password != NULL) {
		util_wipe(q->smarthost_password,
		    strlen(q->smarthost_password));
		free(q->smarthost_password);
	}
	q->smarthost_password = password;
	free(q->helo);
	q->helo = helo;
	free(q->postmaster);
	q->postmaster = pm;
	q->set = set;
	return 0;
oom:
	free(routes);
	free(helo);
	free(pm);
	if (password != NULL) {
		util_wipe(password, strlen(password));
		free(password);
	}
	*error_r = "out of memory";
	return -ENOMEM;
}

static int
queue_init(struct posta_host *host, const void *settings, void **state_r,
    const char **error_r)
{
	const struct queue_settings *set = settings;
	struct queue *q = calloc(1, sizeof(*q));
	const char *sd = posta_host_state_dir(host), *err = NULL;
	char path[4096];
	int r;

	if (q == NULL) {
		*error_r = "out of memory";
		return -ENOMEM;
	}
	q->host = host;
	q->loop = posta_host_loop(host);
	q->refs = 1;	/* the module's own, dropped in deinit */
	q->dir = malloc(strlen(sd) + 8);
	if (q->dir == NULL) {
		free(q);
		*error_r = "out of memory";
		return -ENOMEM;
	}
	sprintf(q->dir, "%s/queue", sd);
	r = queue_apply_settings(q, set, error_r);
	if (r < 0) {
		queue_free(q);
		return r;
	}
	/* before any submission: what a crash left in tmp/ goes now */
	r = qspool_open(q->dir, true);
	if (r < 0) {
		snprintf(queue_error, sizeof(queue_error), "spool %s: %s",
		    q->dir, posta_strerror(r));
		*error_r = queue_error;
		queue_free(q);
		return r;
	}
	if (gnutls_certificate_allocate_credentials(&q->tls_creds) < 0 ||
	    (set->tls_verify &&
	    gnutls_certificate_set_x509_system_trust(q->tls_creds) < 0) ||
	    gnutls_priority_init(&q->tls_prio, set->tls_priority, NULL) < 0) {
		snprintf(queue_error, sizeof(queue_error), "TLS setup failed "
		    "(tls_priority '%s', system trust store)",
		    set->tls_priority);
		*error_r = queue_error;
		queue_free(q);
		return POSTA_ECONFIG;
	}
	r = qdns_new(q->loop, set, &q->dns, &err);
	if (r < 0) {
		snprintf(queue_error, sizeof(queue_error), "DNS resolver: %s",
		    err);
		*error_r = queue_error;
		queue_free(q);
		return r;
	}
	qsched_init(q);
	uv_fs_event_init(q->loop, &q->ctl_watch);
	q->ctl_watch.data = q;
	queue_ref(q);
	if (qspool_path(path, sizeof(path), q->dir, "ctl", NULL, NULL) == 0 &&
	    uv_fs_event_start(&q->ctl_watch, queue_ctl_event, path, 0) == 0)
		q->ctl_watching = true;
	else
		posta_log(host, POSTA_LOG_WARN, "queue.ctl_unwatched",
		    "dir=%s reason=\"requests are read at start only\"",
		    path);
	r = posta_host_register_queue(host, &queue_ops, q);
	if (r == 0)
		r = queue_load(q, true);
	if (r < 0) {
		*error_r = "cannot register the queue";
		q->stopping = true;
		qsched_stop(q);
		uv_close((uv_handle_t *)&q->ctl_watch, queue_ctl_closed);
		queue_unref(q);
		return r;
	}
	posta_log(host, POSTA_LOG_INFO, "queue.started", "dir=%s helo=%s "
	    "routes=%zu smarthost=%s", q->dir, q->helo, q->n_routes,
	    q->has_smarthost ? q->smarthost.host : "-");
	*state_r = q;
	return 0;
}

static int
queue_reload(void *state, const void *settings, const char **error_r)
{
	return queue_apply_settings(state, settings, error_r);
}

static void
queue_deinit(void *state)
{
	struct queue *q = state;
	struct posta_queue_msg *msg;

	queue_log(q, POSTA_LOG_INFO, "queue.stopping", "messages=%zu "
	    "delivered=%llu deferred=%llu failed=%llu bounces=%llu",
	    q->n_msgs, (unsigned long long)q->n_delivered,
	    (unsigned long long)q->n_deferred,
	    (unsigned long long)q->n_failed,
	    (unsigned long long)q->n_bounces);
	/* submissions the engine never finished or aborted */
	for (msg = q->submissions; msg != NULL; msg = msg->next)
		msg->aborted = true;
	for (msg = q->submissions; msg != NULL;) {
		struct posta_queue_msg *next = msg->next;

		if (!msg->busy)
			qsub_discard(msg);
		msg = next;
	}
	qsched_stop(q);
	uv_close((uv_handle_t *)&q->ctl_watch, queue_ctl_closed);
	q->host_gone = true;
	queue_unref(q);
}

#define QUEUE_SET(name, type, field, min, max, def)			\
	{ name, type, offsetof(struct queue_settings, field), min, max,	\
	    def, NULL }

static const char *const queue_tls_choices[] = { "no", "opportunistic",
	"required", NULL };
static const char *const queue_family_choices[] = { "any", "ipv4", "ipv6",
	NULL };

#define DAY_MS (24LL * 3600 * 1000)

static const struct posta_setting queue_settings_table[] = {
	/* seconds are for tests; a real queue keeps mail for days */
	QUEUE_SET("max_age", POSTA_SET_DURATION, max_age_ms, 1000,
	    60 * DAY_MS, "5d"),
	QUEUE_SET("retry_min", POSTA_SET_DURATION, retry_min_ms, 1000,
	    DAY_MS, "5m"),
	QUEUE_SET("retry_max", POSTA_SET_DURATION, retry_max_ms, 1000,
	    7 * DAY_MS, "1h"),
	QUEUE_SET("max_connections", POSTA_SET_INT, max_connections, 1,
	    10000, "50"),
	QUEUE_SET("max_connections_per_domain", POSTA_SET_INT,
	    max_connections_per_domain, 1, 1000, "10"),
	QUEUE_SET("max_rcpts_per_transaction", POSTA_SET_INT,
	    max_rcpts_per_transaction, 1, 1000, "50"),
	QUEUE_SET("max_messages", POSTA_SET_INT, max_messages, 1, 100000000,
	    "100000"),
	QUEUE_SET("dns_servers", POSTA_SET_ADDRS, dns_servers, 0, 0, ""),
	QUEUE_SET("dns_timeout", POSTA_SET_DURATION, dns_timeout_ms, 100,
	    60 * 1000, "5s"),
	QUEUE_SET("routes", POSTA_SET_LIST, routes, 0, 0, ""),
	QUEUE_SET("smarthost", POSTA_SET_STRING, smarthost, 0, 0, "\"\""),
	QUEUE_SET("smarthost_user", POSTA_SET_STRING, smarthost_user, 0, 0,
	    "\"\""),
	QUEUE_SET("smarthost_password_file", POSTA_SET_STRING,
	    smarthost_password_file, 0, 0, "\"\""),
	QUEUE_SET("smarthost_auth_plaintext", POSTA_SET_BOOL,
	    smarthost_auth_plaintext, 0, 0, "no"),
	{ "tls", POSTA_SET_ENUM, offsetof(struct queue_settings, tls), 0, 0,
	    "opportunistic", queue_tls_choices },
	QUEUE_SET("tls_verify", POSTA_SET_BOOL, tls_verify, 0, 0, "no"),
	QUEUE_SET("tls_priority", POSTA_SET_STRING, tls_priority, 0, 0,
	    "NORMAL"),
	QUEUE_SET("connect_timeout", POSTA_SET_DURATION, connect_timeout_ms,
	    100, 10 * 60 * 1000, "30s"),
	QUEUE_SET("command_timeout", POSTA_SET_DURATION, command_timeout_ms,
	    100, 60 * 60 * 1000, "5m"),
	QUEUE_SET("data_timeout", POSTA_SET_DURATION, data_timeout_ms,
	    100, 60 * 60 * 1000, "10m"),
	QUEUE_SET("helo_name", POSTA_SET_STRING, helo_name, 0, 0, "\"\""),
	QUEUE_SET("smtp_port", POSTA_SET_INT, smtp_port, 1, 65535, "25"),
	{ "address_family", POSTA_SET_ENUM,
	    offsetof(struct queue_settings, address_family), 0, 0, "any",
	    queue_family_choices },
	QUEUE_SET("bounce_return_max", POSTA_SET_SIZE, bounce_return_max, 0,
	    64LL << 20, "128k"),
	POSTA_SETTINGS_END
};

POSTA_MODULE(
	.name = "queue",
	.version = PACKAGE_VERSION,
	.kind = POSTA_MODULE_PLUGIN,
	.settings = queue_settings_table,
	.settings_size = sizeof(struct queue_settings),
	.init = queue_init,
	.reload = queue_reload,
	.deinit = queue_deinit,
);
