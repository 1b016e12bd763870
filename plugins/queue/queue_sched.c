/* queue_sched.c: messages, journal, jobs, destinations, bounces */
#include "config.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "queue_dsn.h"
#include "queue_priv.h"

/* A destination's hosts are looked up again after this long. */
#define QSCHED_DNS_MAX_AGE_MS	(5 * 60 * 1000)
/* Jobs waiting in all destinations; more stay in their messages. */
#define QSCHED_JOBS_MAX		10000u
/* Journal lines after which the .env file is written anew. */
#define QSCHED_COMPACT_LINES	64u
/* How much of a message header a bounce returns at most. */
#define QSCHED_HEADER_MAX	(64u * 1024)

static void qmsg_settle(struct qmsg *m);
static void qdest_kick(struct qdest *d);

/* ---- messages ---- */

static void
qmsg_free(struct qmsg *m)
{
	qspool_env_clear(&m->env);
	free(m->busy);
	free(m->jbuf);
	free(m);
}

static void
qmsg_unlink(struct qmsg *m)
{
	struct queue *q = m->q;

	if (m->gone)
		return;
	if (m->prev != NULL)
		m->prev->next = m->next;
	else
		q->msgs = m->next;
	if (m->next != NULL)
		m->next->prev = m->prev;
	else
		q->msgs_tail = m->prev;
	m->gone = true;
	q->n_msgs--;
}

/* Frees a message that left the list once nothing refers to it. */
static void
qmsg_release(struct qmsg *m)
{
	if (m->gone && m->jobs == 0 && m->ops == 0 && !m->jwriting)
		qmsg_free(m);
}

struct qmsg *
qmsg_add(struct queue *q, struct qspool_env *env)
{
	struct qmsg *m = calloc(1, sizeof(*m));

	if (m != NULL)
		m->busy = calloc(env->n_rcpts > 0 ? env->n_rcpts : 1,
		    sizeof(bool));
	if (m == NULL || m->busy == NULL) {
		free(m);
		qspool_env_clear(env);
		return NULL;
	}
	m->q = q;
	m->env = *env;
	memset(env, 0, sizeof(*env));
	m->prev = q->msgs_tail;
	if (q->msgs_tail != NULL)
		q->msgs_tail->next = m;
	else
		q->msgs = m;
	q->msgs_tail = m;
	q->n_msgs++;
	return m;
}

struct qmsg *
qmsg_find(struct queue *q, const char *id)
{
	struct qmsg *m;

	for (m = q->msgs; m != NULL; m = m->next)
		if (strcmp(m->env.id, id) == 0)
			return m;
	return NULL;
}

void
qmsg_free_all(struct queue *q)
{
	while (q->msgs != NULL) {
		struct qmsg *m = q->msgs;

		qmsg_unlink(m);
		qmsg_release(m);
	}
}

/* ---- the journal ---- */

struct qjournal_work {
	uv_work_t req;
	struct qmsg *m;
	const char *dir;
	char id[QSPOOL_ID_LEN + 1];
	char *text;
	size_t len;
	bool rewrite;
	struct qspool_env copy;		/* rewrite only */
	int err;
};

static void
qjournal_work_cb(uv_work_t *req)
{
	struct qjournal_work *w = req->data;

	if (w->rewrite)
		w->err = qspool_env_rewrite(w->dir, &w->copy);
	else
		w->err = qspool_journal_append(w->dir, w->id, w->text,
		    w->len);
}

static void qmsg_journal_flush(struct qmsg *m);

/* The delivered lines are logged once durable: a test (and an admin)
   may take queue.delivered to mean the result survives a crash. */
static void
qjournal_log_durable(struct qmsg *m, const char *text, size_t len)
{
	struct queue *q = m->q;
	const char *p = text, *end = text + len;
	char b1[300], b2[300];

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		unsigned long idx;
		char *e;

		if (nl == NULL)
			break;
		if (p[0] == 'D' && p[1] == ' ') {
			idx = strtoul(p + 2, &e, 10);
			if (idx < m->env.n_rcpts) {
				const struct qspool_rcpt *r =
				    &m->env.rcpts[idx];

				queue_log(q, POSTA_LOG_INFO,
				    "queue.delivered", "id=%s rcpt=%s "
				    "remote=%s status=%s reply=%s", m->env.id,
				    queue_q(q, r->address, b1, sizeof(b1)),
				    r->remote != NULL ? r->remote : "-",
				    r->status, queue_q(q, r->diag != NULL ?
				    r->diag : "", b2, sizeof(b2)));
			}
		}
		p = nl + 1;
	}
}

static void
qjournal_after_cb(uv_work_t *req, int status)
{
	struct qjournal_work *w = req->data;
	struct qmsg *m = w->m;
	struct queue *q = m->q;

	m->jwriting = false;
	if (w->err < 0 || status < 0) {
		/* memory is ahead of the disk: a crash now would try these
		   recipients again, which costs duplicates, not mail */
		queue_log(q, POSTA_LOG_ERROR, "queue.journal_failed",
		    "id=%s error=\"%s\"", m->env.id,
		    posta_strerror(w->err < 0 ? w->err : status));
	} else {
		qjournal_log_durable(m, w->text, w->len);
	}
	qspool_env_clear(&w->copy);
	free(w->text);
	free(w);
	if (m->jlen > 0)
		qmsg_journal_flush(m);
	else if (!m->gone)
		qmsg_settle(m);
	qmsg_release(m);
	queue_unref(q);
}

static void
qmsg_journal_flush(struct qmsg *m)
{
	struct queue *q = m->q;
	struct qjournal_work *w;
	int r;

	if (m->jwriting || m->jlen == 0 || m->removing)
		return;
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		goto oom;
	w->req.data = w;
	w->m = m;
	w->dir = q->dir;
	memcpy(w->id, m->env.id, sizeof(w->id));
	w->text = m->jbuf;
	w->len = m->jlen;
	if (m->jlines >= QSCHED_COMPACT_LINES) {
		if (qspool_env_copy(&w->copy, &m->env) < 0) {
			free(w);
			goto oom;
		}
		w->rewrite = true;
	}
	r = uv_queue_work(q->loop, &w->req, qjournal_work_cb,
	    qjournal_after_cb);
	if (r < 0) {
		qspool_env_clear(&w->copy);
		free(w);
		goto oom;
	}
	/* the lines now belong to the work; the rewrite carries them all */
	m->jbuf = NULL;
	m->jlen = m->jcap = 0;
	if (w->rewrite)
		m->jlines = 0;
	m->jwriting = true;
	queue_ref(q);
	return;
oom:
	queue_log(q, POSTA_LOG_ERROR, "queue.journal_failed",
	    "id=%s error=\"out of memory\"", m->env.id);
}

/* Applies ev to the message and queues its journal line. */
static void
qmsg_record(struct qmsg *m, const struct qspool_event *ev)
{
	struct queue *q = m->q;
	int r;

	r = qspool_env_apply(&m->env, ev);
	if (r < 0) {
		queue_log(q, POSTA_LOG_WARN, "queue.state_refused",
		    "id=%s rcpt=%zu event=%c", m->env.id, ev->rcpt, ev->kind);
		return;
	}
	if (m->jcap - m->jlen < QSPOOL_LINE_MAX) {
		size_t cap = m->jcap + 2 * QSPOOL_LINE_MAX;
		char *nb = realloc(m->jbuf, cap);

		if (nb == NULL) {
			queue_log(q, POSTA_LOG_ERROR,
			    "queue.journal_failed", "id=%s error=\"out of "
			    "memory\"", m->env.id);
			return;
		}
		m->jbuf = nb;
		m->jcap = cap;
	}
	if (qspool_journal_line(ev, m->jbuf, m->jcap, &m->jlen) < 0) {
		queue_log(q, POSTA_LOG_ERROR, "queue.journal_failed",
		    "id=%s error=\"line too long\"", m->env.id);
		return;
	}
	m->jlines++;
	qmsg_journal_flush(m);
}

/* ---- removal ---- */

struct qremove_work {
	uv_work_t req;
	struct qmsg *m;
	const char *dir;
	char id[QSPOOL_ID_LEN + 1];
	int err;
};

static void
qremove_work_cb(uv_work_t *req)
{
	struct qremove_work *w = req->data;

	w->err = qspool_remove(w->dir, w->id);
}

static void
qremove_after_cb(uv_work_t *req, int status)
{
	struct qremove_work *w = req->data;
	struct qmsg *m = w->m;
	struct queue *q = m->q;
	size_t c[4];

	m->ops--;
	m->removing = false;
	if (w->err < 0 || status < 0) {
		queue_log(q, POSTA_LOG_ERROR, "queue.remove_failed",
		    "id=%s error=\"%s\"", m->env.id,
		    posta_strerror(w->err < 0 ? w->err : status));
	} else {
		qspool_env_counts(&m->env, c);
		queue_log(q, POSTA_LOG_INFO, "queue.removed", "id=%s "
		    "delivered=%zu bounced=%zu deleted=%s", m->env.id,
		    c[QSPOOL_DONE], c[QSPOOL_BOUNCED],
		    m->deleted ? "yes" : "no");
		qmsg_unlink(m);
	}
	free(w);
	qmsg_release(m);
	queue_unref(q);
}

static void
qmsg_remove(struct qmsg *m)
{
	struct queue *q = m->q;
	struct qremove_work *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return;
	w->req.data = w;
	w->m = m;
	w->dir = q->dir;
	memcpy(w->id, m->env.id, sizeof(w->id));
	if (uv_queue_work(q->loop, &w->req, qremove_work_cb,
	    qremove_after_cb) < 0) {
		free(w);
		return;
	}
	m->removing = true;
	m->ops++;
	queue_ref(q);
}

/* ---- bounces ---- */

struct qbounce_work {
	uv_work_t req;
	struct qmsg *m;
	const char *dir;
	struct qspool_env orig;		/* a copy of the message's envelope */
	size_t n;
	size_t *rcpts;
	char *hostname, *postmaster;
	uint64_t return_max;
	struct qspool_env bounce;	/* out */
	bool orig_missing;		/* out: made without the message */
	int err;
	const char *why;
};

/* Reads up to max bytes of q/<id>.msg into *buf_r. */
static int
qbounce_read_orig(const char *dir, const char *id, size_t max, char **buf_r,
    size_t *len_r)
{
	char path[4096];
	char *buf;
	size_t got = 0;
	ssize_t n;
	int fd;

	if (qspool_path(path, sizeof(path), dir, "q", id, ".msg") < 0)
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	buf = malloc(max + 1);
	if (buf == NULL) {
		close(fd);
		return -ENOMEM;
	}
	while (got < max) {
		n = read(fd, buf + got, max - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			/* EIO: a part of the message is no message to
			   return; the bounce is tried again */
			n = -errno;
			close(fd);
			free(buf);
			return (int)n;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	*buf_r = buf;
	*len_r = got;
	return 0;
}

static void
qbounce_work_cb(uv_work_t *req)
{
	struct qbounce_work *w = req->data;
	struct qdsn_rcpt *dr = calloc(w->n, sizeof(*dr));
	struct qdsn_input in;
	char boundary[64], msgid[128], *orig = NULL, *out = NULL;
	size_t olen = 0, outlen = 0, i;
	bool headers_only, eightbit = false;
	struct qspool_env *b = &w->bounce;
	int fd = -1;

	w->err = -ENOMEM;
	if (dr == NULL)
		return;
	headers_only = w->orig.ret == QSPOOL_RET_HDRS ||
	    w->orig.size > w->return_max;
	w->err = qbounce_read_orig(w->dir, w->orig.id, headers_only ?
	    QSCHED_HEADER_MAX : (size_t)w->orig.size, &orig, &olen);
	if (w->err == -ENOENT) {
		/* removed by hand: it will not come back, and the sender
		   must still hear of the failure (RFC 3464 2.1 makes the
		   returned content optional) */
		w->orig_missing = true;
		w->err = 0;
	} else if (w->err < 0) {
		w->why = "cannot read the message";
		free(dr);
		return;
	}
	if (headers_only && !w->orig_missing)
		olen = qdsn_header_len(orig, olen);
	for (i = 0; i < w->n; i++) {
		const struct qspool_rcpt *r = &w->orig.rcpts[w->rcpts[i]];

		dr[i].address = r->address;
		dr[i].orcpt = r->orcpt;
		dr[i].status = r->status[0] != '\0' ? r->status : "5.0.0";
		dr[i].remote = r->remote;
		dr[i].diag = r->diag;
		dr[i].when = r->when;
	}
	/* b->id was chosen (and reserved) on the loop */
	snprintf(boundary, sizeof(boundary), "=_%s_bounce", b->id);
	snprintf(msgid, sizeof(msgid), "<%s.bounce@%s>", b->id, w->hostname);
	memset(&in, 0, sizeof(in));
	in.reporting_mta = w->hostname;
	in.postmaster = w->postmaster;
	in.sender = w->orig.sender;
	in.envid = w->orig.envid;
	in.queue_id = w->orig.id;
	in.arrival = w->orig.created;
	in.now = queue_now();
	in.utf8 = w->orig.smtputf8;
	in.n_rcpts = w->n;
	in.rcpts = dr;
	in.orig = orig;
	in.orig_len = olen;
	in.orig_headers_only = headers_only;
	in.orig_missing = w->orig_missing;
	in.boundary = boundary;
	in.message_id = msgid;
	w->err = qdsn_build(&in, &out, &outlen, &eightbit);
	if (w->err < 0) {
		w->why = "cannot build the report";
		goto out;
	}
	/* the bounce: from <>, to the sender, routed at delivery */
	b->created = in.now;
	b->sender = strdup("");
	b->rcpts = calloc(1, sizeof(*b->rcpts));
	if (b->sender == NULL || b->rcpts == NULL) {
		w->err = -ENOMEM;
		goto out;
	}
	b->n_rcpts = 1;
	b->rcpts[0].address = strdup(w->orig.sender);
	if (b->rcpts[0].address == NULL) {
		w->err = -ENOMEM;
		goto out;
	}
	b->rcpts[0].resolve = true;
	b->rcpts[0].notify = POSTA_QUEUE_NOTIFY_NEVER;
	b->smtputf8 = w->orig.smtputf8;
	b->eightbit = eightbit;
	b->size = outlen;
	w->err = qspool_msg_create(w->dir, b->id, &fd);
	if (w->err == 0)
		w->err = qspool_write_all(fd, out, outlen);
	if (w->err == 0)
		w->err = qspool_commit(w->dir, b, fd, -1, -1);
	else
		qspool_discard(w->dir, b->id);
	if (w->err < 0)
		w->why = "cannot write the bounce to the spool";
out:
	if (fd >= 0)
		close(fd);
	free(orig);
	free(out);
	free(dr);
}

static void
qbounce_after_cb(uv_work_t *req, int status)
{
	struct qbounce_work *w = req->data;
	struct qmsg *m = w->m;
	struct queue *q = m->q;
	struct qspool_event ev;
	size_t i;

	m->ops--;
	m->bouncing = false;
	queue_pending_del(q, w->bounce.id);
	if (status < 0 && w->err == 0)
		w->err = status;
	if (w->err < 0) {
		queue_log(q, POSTA_LOG_ERROR, "queue.bounce_failed",
		    "id=%s error=\"%s: %s\"", m->env.id, w->why != NULL ?
		    w->why : "bounce", posta_strerror(w->err));
		m->bounce_retry = queue_now() +
		    (int64_t)(q->set->retry_min_ms / 1000);
		qspool_env_clear(&w->bounce);
		/* the scheduler skipped m while it was bouncing: it must
		   see the retry time, or nothing wakes it for it */
		qsched_kick(q);
	} else {
		struct qmsg *bm;
		char bid[QSPOOL_ID_LEN + 1];

		memcpy(bid, w->bounce.id, sizeof(bid));
		if (w->orig_missing)
			queue_log(q, POSTA_LOG_WARN, "queue.message_missing",
			    "id=%s file=%s/q/%s.msg", m->env.id, q->dir,
			    m->env.id);
		queue_log(q, POSTA_LOG_INFO, "queue.bounce", "id=%s "
		    "bounce_id=%s rcpts=%zu original=%s", m->env.id, bid, w->n,
		    w->orig_missing ? "missing" : "attached");
		q->n_bounces++;
		memset(&ev, 0, sizeof(ev));
		ev.kind = 'B';
		ev.when = queue_now();
		for (i = 0; i < w->n && !m->gone; i++) {
			ev.rcpt = w->rcpts[i];
			qmsg_record(m, &ev);
		}
		if (!q->stopping) {
			bm = qmsg_add(q, &w->bounce);
			if (bm != NULL)
				qsched_message_added(q, bm);
			else
				queue_log(q, POSTA_LOG_ERROR,
				    "queue.load_failed", "id=%s error=\"out "
				    "of memory\"", bid);
		}
		qspool_env_clear(&w->bounce);
	}
	qspool_env_clear(&w->orig);
	free(w->rcpts);
	free(w->hostname);
	free(w->postmaster);
	free(w);
	if (!m->gone && !q->stopping)
		qmsg_settle(m);
	qmsg_release(m);
	queue_unref(q);
}

/* True when recipient r wants to hear of its failure (RFC 3461 4.1). */
static bool
qbounce_wanted(const struct qmsg *m, const struct qspool_rcpt *r)
{
	if (m->env.sender == NULL || m->env.sender[0] == '\0')
		return false;	/* never bounce a bounce */
	if (r->notify == 0)
		return true;
	return (r->notify & POSTA_QUEUE_NOTIFY_FAILURE) != 0;
}

static void
qmsg_bounce(struct qmsg *m)
{
	struct queue *q = m->q;
	struct qbounce_work *w;
	struct qspool_event ev;
	size_t i, n = 0;
	char b[300];

	memset(&ev, 0, sizeof(ev));
	ev.kind = 'B';
	ev.when = queue_now();
	w = calloc(1, sizeof(*w));
	if (w == NULL || (w->rcpts = calloc(m->env.n_rcpts,
	    sizeof(size_t))) == NULL) {
		free(w);
		m->bounce_retry = ev.when + 60;
		qsched_kick(q);
		return;
	}
	for (i = 0; i < m->env.n_rcpts; i++) {
		struct qspool_rcpt *r = &m->env.rcpts[i];

		if (r->state != QSPOOL_FAILED)
			continue;
		if (!qbounce_wanted(m, r)) {
			queue_log(q, POSTA_LOG_INFO,
			    "queue.bounce_suppressed", "id=%s rcpt=%s "
			    "reason=%s", m->env.id, queue_q(q, r->address,
			    b, sizeof(b)), m->env.sender[0] == '\0' ?
			    "null-sender" : "notify");
			ev.rcpt = i;
			qmsg_record(m, &ev);
			continue;
		}
		w->rcpts[n++] = i;
	}
	if (n == 0) {
		free(w->rcpts);
		free(w);
		return;
	}
	w->req.data = w;
	w->m = m;
	w->dir = q->dir;
	w->n = n;
	w->return_max = q->set->bounce_return_max;
	w->hostname = strdup(q->helo);
	w->postmaster = strdup(q->postmaster);
	if (w->hostname == NULL || w->postmaster == NULL ||
	    qspool_new_id(w->bounce.id) < 0 ||
	    queue_pending_reserve(q, w->bounce.id) < 0 ||
	    qspool_env_copy(&w->orig, &m->env) < 0 ||
	    uv_queue_work(q->loop, &w->req, qbounce_work_cb,
	    qbounce_after_cb) < 0) {
		queue_pending_del(q, w->bounce.id);
		qspool_env_clear(&w->orig);
		free(w->hostname);
		free(w->postmaster);
		free(w->rcpts);
		free(w);
		m->bounce_retry = ev.when + 60;
		qsched_kick(q);
		return;
	}
	m->bouncing = true;
	m->ops++;
	queue_ref(q);
}

/*
 * What a message needs once nothing is in flight for it: its journal
 * written, its bounce made, or its removal.
 */
static void
qmsg_settle(struct qmsg *m)
{
	struct queue *q = m->q;
	size_t c[4];

	if (m->gone || m->jobs > 0 || m->jwriting || m->removing ||
	    m->bouncing)
		return;
	if (m->jlen > 0) {
		qmsg_journal_flush(m);
		return;
	}
	if (q->stopping)
		return;
	if (m->deleted) {
		qmsg_remove(m);
		return;
	}
	qspool_env_counts(&m->env, c);
	if (c[QSPOOL_FAILED] > 0) {
		if (m->bounce_retry <= queue_now())
			qmsg_bounce(m);
		return;
	}
	if (c[QSPOOL_PENDING] == 0)
		qmsg_remove(m);
}

/* ---- jobs ---- */

static struct qjob *
qjob_new(struct qmsg *m, struct qdest *d, size_t cap)
{
	struct qjob *j = calloc(1, sizeof(*j));

	if (j == NULL)
		return NULL;
	j->rcpts = calloc(cap, sizeof(*j->rcpts));
	j->settled = calloc(cap, sizeof(*j->settled));
	if (j->rcpts == NULL || j->settled == NULL) {
		free(j->rcpts);
		free(j->settled);
		free(j);
		return NULL;
	}
	j->msg = m;
	j->dest = d;
	m->jobs++;
	m->q->n_jobs++;
	return j;
}

void
qjob_result(struct qjob *job, size_t i, char kind, const char *status,
    const char *remote, const char *diag)
{
	struct qmsg *m = job->msg;
	struct queue *q = m->q;
	size_t idx = job->rcpts[i];
	struct qspool_rcpt *r = &m->env.rcpts[idx];
	struct qspool_event ev;
	int64_t now = queue_now();
	char b1[300], b2[600];

	if (job->settled[i] || q->stopping || m->deleted)
		return;
	job->settled[i] = true;
	if (kind == 'R') {
		/* resolved to another server: over SMTP, at once */
		r->resolve = false;
		r->next_try = 0;
		return;
	}
	memset(&ev, 0, sizeof(ev));
	ev.kind = kind;
	ev.rcpt = idx;
	ev.when = now;
	ev.status = status;
	ev.remote = remote;
	ev.diag = diag;
	if (kind == 'T') {
		uint64_t delay = qpolicy_backoff_ms(r->attempts + 1,
		    q->set->retry_min_ms, q->set->retry_max_ms);
		/* the wall clock may have been set back since the message
		   came: a negative age is no age, not a huge one */
		uint64_t age_ms = now > m->env.created ?
		    (uint64_t)(now - m->env.created) * 1000 : 0;

		if (age_ms >= q->set->max_age_ms) {
			ev.kind = 'F';
			queue_log(q, POSTA_LOG_INFO, "queue.expired",
			    "id=%s rcpt=%s age_s=%" PRId64, m->env.id,
			    queue_q(q, r->address, b1, sizeof(b1)),
			    now - m->env.created);
		} else {
			ev.attempts = r->attempts + 1;
			ev.next_try = now + (int64_t)((delay + 999) / 1000);
			q->n_deferred++;
			queue_log(q, POSTA_LOG_INFO, "queue.deferred",
			    "id=%s rcpt=%s remote=%s status=%s attempts=%u "
			    "retry_s=%" PRIu64 " reply=%s", m->env.id,
			    queue_q(q, r->address, b1, sizeof(b1)),
			    remote != NULL ? remote : "-", status,
			    ev.attempts, (delay + 999) / 1000,
			    queue_q(q, diag != NULL ? diag : "", b2,
			    sizeof(b2)));
		}
	}
	if (ev.kind == 'F') {
		q->n_failed++;
		queue_log(q, POSTA_LOG_INFO, "queue.failed", "id=%s "
		    "rcpt=%s remote=%s status=%s reply=%s", m->env.id,
		    queue_q(q, r->address, b1, sizeof(b1)),
		    remote != NULL ? remote : "-", status,
		    queue_q(q, diag != NULL ? diag : "", b2, sizeof(b2)));
	}
	if (kind == 'D')
		q->n_delivered++;
	qmsg_record(m, &ev);
}

void
qjob_result_all(struct qjob *job, char kind, const char *status,
    const char *remote, const char *diag)
{
	size_t i;

	for (i = 0; i < job->n; i++)
		qjob_result(job, i, kind, status, remote, diag);
}

void
qjob_finish(struct qjob *job)
{
	struct qmsg *m = job->msg;
	struct queue *q = m->q;
	size_t i;

	/* a job that ends without an answer is tried again later */
	qjob_result_all(job, 'T', "4.4.2", NULL,
	    "delivery was interrupted");
	for (i = 0; i < job->n; i++)
		m->busy[job->rcpts[i]] = false;
	m->jobs--;
	q->n_jobs--;
	free(job->rcpts);
	free(job->settled);
	free(job);
	if (!m->gone)
		qmsg_settle(m);
	qmsg_release(m);
	qsched_kick(q);
}

/* ---- destinations ---- */

static void
qdest_free(struct qdest *d)
{
	struct queue *q = d->q;

	if (d->prev != NULL)
		d->prev->next = d->next;
	else
		q->dests = d->next;
	if (d->next != NULL)
		d->next->prev = d->prev;
	free(d->targets);
	free(d);
}

static bool
qdest_idle(const struct qdest *d)
{
	return d->n_jobs == 0 && d->n_conns == 0 &&
	    d->rstate != QDEST_RESOLVING;
}

/* Which destination serves an external address; NULL: no route. */
static struct qdest *
qdest_for(struct queue *q, const char *address, const char **status_r,
    const char **why_r)
{
	char domain[QPOLICY_HOST_MAX], lit[QPOLICY_HOST_MAX];
	char key[sizeof(((struct qdest *)0)->key)];
	const struct qroute *route;
	struct qdest *d;
	bool use_mx = false, smarthost = false;
	const char *host;
	uint16_t port = (uint16_t)q->set->smtp_port;

	if (qpolicy_addr_domain(address, domain) < 0) {
		*status_r = "5.1.3";
		*why_r = "the recipient address has no valid domain";
		return NULL;
	}
	route = qpolicy_route_find(q->routes, q->n_routes, domain);
	if (qpolicy_domain_literal(domain, lit)) {
		host = lit;
		snprintf(key, sizeof(key), "lit:[%s]:%u", lit, port);
	} else if (route != NULL) {
		host = route->host;
		port = route->port;
		snprintf(key, sizeof(key), "route:[%s]:%u", host, port);
	} else if (q->has_smarthost) {
		host = q->smarthost.host;
		port = q->smarthost.port;
		smarthost = true;
		snprintf(key, sizeof(key), "smarthost");
	} else {
		host = domain;
		use_mx = true;
		snprintf(key, sizeof(key), "mx:%s", domain);
	}
	for (d = q->dests; d != NULL; d = d->next)
		if (strcmp(d->key, key) == 0)
			return d;
	d = calloc(1, sizeof(*d));
	if (d == NULL) {
		*status_r = "4.3.0";
		*why_r = "out of memory";
		return NULL;
	}
	d->q = q;
	snprintf(d->key, sizeof(d->key), "%s", key);
	snprintf(d->domain, sizeof(d->domain), "%s", use_mx ? domain : host);
	snprintf(d->host, sizeof(d->host), "%s", host);
	d->port = port;
	d->use_mx = use_mx;
	d->is_smarthost = smarthost;
	d->next = q->dests;
	if (d->next != NULL)
		d->next->prev = d;
	q->dests = d;
	return d;
}

static void
qdest_push(struct qdest *d, struct qjob *j)
{
	j->next = NULL;
	if (d->jobs_tail != NULL)
		d->jobs_tail->next = j;
	else
		d->jobs = j;
	d->jobs_tail = j;
	d->n_jobs++;
}

struct qjob *
qdest_take_job(struct qdest *d)
{
	struct qjob *j = d->jobs;

	if (j == NULL)
		return NULL;
	d->jobs = j->next;
	if (d->jobs == NULL)
		d->jobs_tail = NULL;
	d->n_jobs--;
	j->next = NULL;
	return j;
}

/* Every waiting job of d gets this result (a failed lookup or host). */
static void
qdest_fail_jobs(struct qdest *d, char kind, const char *status,
    const char *diag)
{
	struct qjob *j;

	while ((j = qdest_take_job(d)) != NULL) {
		qjob_result_all(j, kind, status, NULL, diag);
		qjob_finish(j);
	}
}

static void
qdest_resolved(void *ctx, const struct qdns_result *res)
{
	struct qdest *d = ctx;
	struct queue *q = d->q;
	size_t n;

	d->rstate = QDEST_UNRESOLVED;
	if (res->err == -ECANCELED || q->stopping)
		return;
	if (res->err != 0) {
		queue_log(q, POSTA_LOG_INFO, "queue.dns_failed",
		    "dest=%s status=%s why=\"%s\"", d->key, res->status,
		    res->why);
		qdest_fail_jobs(d, res->err == -ENOENT ? 'F' : 'T',
		    res->status, res->why);
		qdest_kick(d);
		return;
	}
	n = res->n < 64 ? res->n : 64;
	free(d->targets);
	d->targets = calloc(n, sizeof(*d->targets));
	if (d->targets == NULL) {
		d->n_targets = 0;
		qdest_fail_jobs(d, 'T', "4.3.0", "out of memory");
		qdest_kick(d);
		return;
	}
	memcpy(d->targets, res->targets, n * sizeof(*d->targets));
	d->n_targets = n;
	d->dead = 0;
	d->rstate = QDEST_READY;
	d->resolved_at = uv_now(q->loop);
	queue_log(q, POSTA_LOG_DEBUG, "queue.dns", "dest=%s "
	    "targets=%zu first=%s", d->key, n, d->targets[0].host);
	qdest_kick(d);
}

static void qdest_kick_once(struct qdest *d);

/*
 * Opens connections while jobs wait and the limits allow.  A connection
 * that fails at once reports back through qdest_conn_gone(), which kicks
 * again: that nested kick is only noted, so d is never freed under the
 * outer one.
 */
static void
qdest_kick(struct qdest *d)
{
	int turns;

	if (d->kicking) {
		d->kick_again = true;
		return;
	}
	d->kicking = true;
	for (turns = 0; turns < 100; turns++) {
		d->kick_again = false;
		qdest_kick_once(d);
		if (!d->kick_again)
			break;
	}
	d->kicking = false;
	if (!d->q->stopping && qdest_idle(d))
		qdest_free(d);
}

static void
qdest_kick_once(struct qdest *d)
{
	struct queue *q = d->q;
	int r;

	if (q->stopping)
		return;
	if (qdest_idle(d))
		return;	/* qdest_kick frees it */
	if (d->n_jobs == 0 || d->rstate == QDEST_RESOLVING)
		return;
	if (d->rstate == QDEST_READY && d->n_conns == 0 &&
	    uv_now(q->loop) - d->resolved_at > QSCHED_DNS_MAX_AGE_MS)
		d->rstate = QDEST_UNRESOLVED;
	if (d->rstate == QDEST_UNRESOLVED) {
		d->rstate = QDEST_RESOLVING;
		r = qdns_lookup(q->dns, d->use_mx ? d->domain : d->host,
		    d->use_mx, d->port, q->helo, q->set->address_family,
		    qdest_resolved, d);
		if (r < 0) {
			d->rstate = QDEST_UNRESOLVED;
			qdest_fail_jobs(d, 'T', "4.4.3", "cannot start a DNS "
			    "lookup");
		}
		return;
	}
	r = 0;
	while (d->n_jobs > d->n_unready &&
	    d->n_conns < (size_t)q->set->max_connections_per_domain &&
	    q->n_conns < (size_t)q->set->max_connections) {
		r = qconn_start(d);
		if (r < 0)
			break;
	}
	if (r == -ENOENT && d->n_conns == 0) {
		/* every target failed this round, but the connection that
		   saw the last one fail had been ready (it died later), so
		   qdest_conn_gone() did not end the round: nothing would
		   ever take these jobs.  They wait for the next round. */
		qdest_fail_jobs(d, 'T', d->fail_status[0] != '\0' ?
		    d->fail_status : "4.4.1", d->fail_diag[0] != '\0' ?
		    d->fail_diag : "no mail host answered");
		d->rstate = QDEST_UNRESOLVED;
		d->dead = 0;
	}
}

void
qdest_conn_ready(struct qdest *d)
{
	if (d->n_unready > 0)
		d->n_unready--;
}

void
qdest_conn_gone(struct qdest *d, bool was_ready, bool ok, const char *status,
    const char *diag)
{
	struct queue *q = d->q;
	struct qdest *o, *next;

	d->n_conns--;
	q->n_conns--;
	if (!was_ready && d->n_unready > 0)
		d->n_unready--;
	if (q->stopping)
		return;
	if (!was_ready && !ok) {
		snprintf(d->fail_status, sizeof(d->fail_status), "%s",
		    status);
		snprintf(d->fail_diag, sizeof(d->fail_diag), "%s", diag);
	}
	if (!was_ready && !ok && d->n_conns == 0) {
		/* no host of this destination took a connection: the
		   waiting jobs wait for the next round, and its lookup */
		qdest_fail_jobs(d, 'T', status, diag);
		d->rstate = QDEST_UNRESOLVED;
		d->dead = 0;
	}
	qdest_kick(d);
	/* a freed slot may let another destination connect */
	for (o = q->dests; o != NULL; o = next) {
		next = o->next;
		if (o != d && o->n_jobs > o->n_unready)
			qdest_kick(o);
	}
}

/* ---- the scheduler ---- */

/* Turns the due recipients of m into jobs. */
static void
qsched_dispatch(struct queue *q, struct qmsg *m, int64_t now)
{
	struct qjob *open[16];
	struct qdest *dests[16];
	size_t n_open = 0, n_dests = 0, i, k, max_rcpts;
	char b[300];

	max_rcpts = (size_t)q->set->max_rcpts_per_transaction;
	for (i = 0; i < m->env.n_rcpts; i++) {
		struct qspool_rcpt *r = &m->env.rcpts[i];
		const char *status = NULL, *why = NULL;
		struct qdest *d = NULL;
		struct qjob *j = NULL;

		if (r->state != QSPOOL_PENDING || m->busy[i] ||
		    r->next_try > now)
			continue;
		if (q->n_jobs >= QSCHED_JOBS_MAX)
			break;
		if (r->resolve) {
			j = qjob_new(m, NULL, 1);
			if (j == NULL)
				break;
			j->rcpts[0] = i;
			j->n = 1;
			m->busy[i] = true;
			if (qlocal_start(j) < 0) {
				qjob_result(j, 0, 'T', "4.3.0", NULL,
				    "cannot start local delivery");
				qjob_finish(j);
			}
			continue;
		}
		d = qdest_for(q, r->address, &status, &why);
		if (d == NULL) {
			j = qjob_new(m, NULL, 1);
			if (j == NULL)
				break;
			j->rcpts[0] = i;
			j->n = 1;
			m->busy[i] = true;
			qjob_result(j, 0, status[0] == '5' ? 'F' : 'T',
			    status, NULL, why);
			qjob_finish(j);
			continue;
		}
		for (k = 0; k < n_open; k++)
			if (open[k]->dest == d && open[k]->n < max_rcpts)
				break;
		if (k == n_open) {
			if (n_open == sizeof(open) / sizeof(open[0]))
				break;	/* the rest in the next run */
			open[k] = qjob_new(m, d, max_rcpts);
			if (open[k] == NULL)
				break;
			n_open++;
		}
		j = open[k];
		j->rcpts[j->n++] = i;
		m->busy[i] = true;
		queue_log(q, POSTA_LOG_DEBUG, "queue.dispatch",
		    "id=%s rcpt=%s dest=%s", m->env.id,
		    queue_q(q, r->address, b, sizeof(b)), d->key);
	}
	/* each destination once, and from a list of our own: a kick may
	   finish jobs (and free them) at once */
	for (k = 0; k < n_open; k++) {
		struct qdest *d = open[k]->dest;
		size_t l;

		qdest_push(d, open[k]);
		for (l = 0; l < n_dests; l++)
			if (dests[l] == d)
				break;
		if (l == n_dests)
			dests[n_dests++] = d;
	}
	for (k = 0; k < n_dests; k++)
		qdest_kick(dests[k]);
}

static void qsched_run(struct queue *q);

static void
qsched_timer_cb(uv_timer_t *t)
{
	struct queue *q = t->data;

	q->timer_due = 0;
	qsched_run(q);
}

static void
qsched_kick_cb(uv_timer_t *t)
{
	struct queue *q = t->data;

	q->kick_armed = false;
	qsched_run(q);
}

void
qsched_kick(struct queue *q)
{
	if (q->stopping || q->kick_armed)
		return;
	q->kick_armed = true;
	uv_timer_start(&q->kick, qsched_kick_cb, 0, 0);
}

/*
 * Retry times are wall-clock seconds (they are journaled, and must mean
 * the same after a restart), so a clock set back by a day would hold
 * deferred mail back by a day.  No wait we choose is longer than the
 * largest backoff, so a time further away than that was chosen by a
 * clock ahead of this one: it is pulled back to the largest backoff
 * from now.  Only memory changes; a restart pulls it back again.
 */
static int64_t
qsched_horizon(const struct queue *q, int64_t now)
{
	uint64_t max_ms = q->set->retry_max_ms > q->set->retry_min_ms ?
	    q->set->retry_max_ms : q->set->retry_min_ms;

	return now + (int64_t)((max_ms + 999) / 1000);
}

static void
qmsg_clamp_times(struct qmsg *m, int64_t horizon)
{
	size_t i;

	if (m->bounce_retry > horizon)
		m->bounce_retry = horizon;
	for (i = 0; i < m->env.n_rcpts; i++)
		if (m->env.rcpts[i].next_try > horizon)
			m->env.rcpts[i].next_try = horizon;
}

static void
qsched_run(struct queue *q)
{
	int64_t now = queue_now(), next = INT64_MAX;
	int64_t horizon = qsched_horizon(q, now);
	struct qmsg *m, *mn;
	uint64_t ms;
	size_t i;

	if (q->stopping || !q->loaded)
		return;
	for (m = q->msgs; m != NULL; m = mn) {
		size_t c[4];

		mn = m->next;
		if (m->removing || m->deleted || m->bouncing)
			continue;
		qmsg_clamp_times(m, horizon);
		qspool_env_counts(&m->env, c);
		if (c[QSPOOL_PENDING] == 0 && c[QSPOOL_FAILED] == 0) {
			/* all done, e.g. loaded after a crash that came
			   between the journal and the removal */
			qmsg_settle(m);
			continue;
		}
		if (c[QSPOOL_FAILED] > 0 && m->jobs == 0) {
			if (m->bounce_retry <= now)
				qmsg_settle(m);
			else if (m->bounce_retry < next)
				next = m->bounce_retry;
		}
		for (i = 0; i < m->env.n_rcpts; i++) {
			const struct qspool_rcpt *r = &m->env.rcpts[i];

			if (r->state != QSPOOL_PENDING || m->busy[i])
				continue;
			if (r->next_try <= now) {
				if (q->n_jobs < QSCHED_JOBS_MAX)
					qsched_dispatch(q, m, now);
				else
					next = now + 1;
				break;
			}
			if (r->next_try < next)
				next = r->next_try;
		}
	}
	if (next == INT64_MAX) {
		uv_timer_stop(&q->timer);
		q->timer_due = 0;
		return;
	}
	ms = next > now ? (uint64_t)(next - now) * 1000 : 1000;
	uv_timer_start(&q->timer, qsched_timer_cb, ms, 0);
	q->timer_due = uv_now(q->loop) + ms;
}

void
qsched_message_added(struct queue *q, struct qmsg *m)
{
	qsched_kick(q);
}

void
qsched_flush(struct queue *q, const char *id)
{
	struct qmsg *m;
	size_t i, n = 0;

	for (m = q->msgs; m != NULL; m = m->next) {
		if (id != NULL && strcmp(m->env.id, id) != 0)
			continue;
		for (i = 0; i < m->env.n_rcpts; i++)
			if (m->env.rcpts[i].state == QSPOOL_PENDING)
				m->env.rcpts[i].next_try = 0;
		m->bounce_retry = 0;
		n++;
	}
	queue_log(q, POSTA_LOG_INFO, "queue.flush", "id=%s messages=%zu",
	    id != NULL ? id : "all", n);
	qsched_kick(q);
}

void
qsched_delete(struct queue *q, const char *id)
{
	struct qmsg *m = qmsg_find(q, id);

	if (m == NULL) {
		queue_log(q, POSTA_LOG_INFO, "queue.delete_unknown",
		    "id=%s", id);
		return;
	}
	queue_log(q, POSTA_LOG_INFO, "queue.delete", "id=%s jobs=%u",
	    id, m->jobs);
	m->deleted = true;
	qmsg_settle(m);
}

int
qsched_init(struct queue *q)
{
	uv_timer_init(q->loop, &q->timer);
	q->timer.data = q;
	queue_ref(q);
	uv_timer_init(q->loop, &q->kick);
	q->kick.data = q;
	queue_ref(q);
	return 0;
}

static void
qsched_timer_closed(uv_handle_t *h)
{
	queue_unref(h->data);
}

void
qsched_stop(struct queue *q)
{
	struct qdest *d, *dn;
	struct qmsg *m, *mn;

	q->stopping = true;
	uv_timer_stop(&q->timer);
	uv_timer_stop(&q->kick);
	uv_close((uv_handle_t *)&q->timer, qsched_timer_closed);
	uv_close((uv_handle_t *)&q->kick, qsched_timer_closed);
	for (d = q->dests; d != NULL; d = d->next)
		qconn_abort_all(d);
	qdns_free(&q->dns);
	for (d = q->dests; d != NULL; d = dn) {
		struct qjob *j;

		dn = d->next;
		while ((j = qdest_take_job(d)) != NULL)
			qjob_finish(j);
		qdest_free(d);
	}
	/* journal lines still waiting are written: they may say
	   "delivered", and losing that would send the message again */
	for (m = q->msgs; m != NULL; m = mn) {
		mn = m->next;
		qmsg_journal_flush(m);
		qmsg_unlink(m);
		qmsg_release(m);
	}
}
