/* queue_client.c: the outbound SMTP client on libuv, STARTTLS by GnuTLS */
#include "config.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "queue_priv.h"
#include "queue_wire.h"
#include "util.h"

/*
 * One connection to one destination.  It walks the destination's targets
 * (MX hosts in order, each address) until one greets it properly, says
 * EHLO (HELO if EHLO is refused), upgrades with STARTTLS when offered (or
 * required), authenticates to a smarthost, and then takes job after job
 * from the destination: MAIL, RCPT..., DATA and the dot-stuffed message,
 * pipelined when the server offers PIPELINING.  Without a job left it says
 * QUIT.  Every result goes to the job (qjob_result) as it arrives.
 *
 * A failure before the session is ready moves to the next target (and
 * marks this one dead for the destination's round, so other connections
 * skip it); once a job was taken, a failure ends the connection and
 * defers the job's unanswered recipients.
 */

#define QCONN_READ_CHUNK	(64u * 1024)
#define QCONN_FILE_CHUNK	(64u * 1024)

enum qconn_state {
	QC_CONNECTING = 0,
	QC_GREETING,
	QC_EHLO,
	QC_HELO,
	QC_STARTTLS,
	QC_HANDSHAKE,
	QC_AUTH,
	QC_AUTH_USER,
	QC_AUTH_PASS,
	QC_READY,
	QC_OPENING,		/* the job's message file is being opened */
	QC_MAIL,
	QC_RCPT,
	QC_DATA,
	QC_BODY,
	QC_DOT,
	QC_RSET,
	QC_QUIT,
	QC_CLOSED,
};

static const char *const qconn_state_names[] = {
	"connect", "greeting", "EHLO", "HELO", "STARTTLS", "TLS handshake",
	"AUTH", "AUTH", "AUTH", "idle", "open", "MAIL FROM", "RCPT TO",
	"DATA", "message body", "end of data", "RSET", "QUIT", "closed",
};

struct qconn {
	struct queue *q;
	struct qdest *dest;
	struct qconn *prev, *next;	/* dest->conns */
	uv_tcp_t tcp;
	uv_timer_t timer;
	uv_connect_t creq;
	uv_fs_t fs;
	unsigned handles;		/* open libuv handles */
	bool tcp_open;
	bool reconnect;			/* tcp closing, then next attempt */
	bool fs_busy;
	bool ready_once;
	bool done;			/* left its destination */
	bool no_tls;			/* this target, without STARTTLS */
	bool retry_plain;		/* reconnect: same target, no TLS */
	enum qconn_state st;
	size_t ti;			/* current target */
	struct qtarget target;
	char ip[INET6_ADDRSTRLEN];
	char remote[QPOLICY_HOST_MAX + INET6_ADDRSTRLEN + 4];
	struct qwire_parser parser;
	struct qwire_caps caps;
	gnutls_session_t tls;
	bool tls_on;
	uint8_t *tls_in;
	size_t tls_in_len, tls_in_off, tls_in_cap;
	char rbuf[QCONN_READ_CHUNK];
	unsigned writes;		/* uv_write requests in flight */
	/* the transaction */
	struct qjob *job;
	bool *accepted;
	size_t n_accepted, rcpt_sent, rcpt_replied;
	bool mail_failed, data_ignored, pipelined;
	int fd;
	uint64_t off;
	struct qwire_dot dot;
	uint8_t *fbuf, *obuf;
	bool body_eof;
	/* why the last attempt failed, for the destination */
	char err_status[12];
	char err_diag[600];
};

struct qconn_write {
	uv_write_t req;
	struct qconn *c;
	char data[];
};

static void qconn_next_target(struct qconn *c);
static void qconn_fail(struct qconn *c, const char *status, bool dead,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void qconn_ready(struct qconn *c);
static void qconn_body_next(struct qconn *c);
static void qconn_close(struct qconn *c, bool ok);

/* ---- lifetime ---- */

static void
qconn_release(struct qconn *c)
{
	struct queue *q = c->q;

	if (c->handles > 0 || c->fs_busy || c->writes > 0 || !c->done)
		return;
	if (c->tls != NULL)
		gnutls_deinit(c->tls);
	if (c->fd >= 0)
		close(c->fd);
	free(c->tls_in);
	free(c->fbuf);
	free(c->obuf);
	free(c->accepted);
	free(c);
	queue_unref(q);
}

static void
qconn_handle_closed(uv_handle_t *h)
{
	struct qconn *c = h->data;

	c->handles--;
	if (h == (uv_handle_t *)&c->tcp) {
		c->tcp_open = false;
		if (c->reconnect && !c->done) {
			c->reconnect = false;
			qconn_next_target(c);
			return;
		}
	}
	qconn_release(c);
}

static void
qconn_timer_cb(uv_timer_t *t)
{
	struct qconn *c = t->data;

	qconn_fail(c, "4.4.2", c->st < QC_READY, "%s timed out waiting "
	    "for the reply to %s", c->remote, qconn_state_names[c->st]);
}

static void
qconn_arm(struct qconn *c, uint64_t ms)
{
	uv_timer_start(&c->timer, qconn_timer_cb, ms, 0);
}

/* ---- writing ---- */

static void
qconn_write_cb(uv_write_t *req, int status)
{
	struct qconn_write *w = (struct qconn_write *)req;
	struct qconn *c = w->c;

	free(w);
	c->writes--;
	if (c->done) {
		qconn_release(c);
		return;
	}
	if (status == UV_ECANCELED || c->reconnect)
		return;	/* the handle is closing: that is handled */
	if (status < 0) {
		qconn_fail(c, "4.4.2", c->st < QC_READY, "%s: write failed: "
		    "%s", c->remote, uv_strerror(status));
		return;
	}
	if (c->st == QC_BODY && c->writes == 0 && !c->fs_busy) {
		qconn_arm(c, c->q->set->command_timeout_ms);
		qconn_body_next(c);
	}
}

/* Hands bytes to the socket (copied); 0 or a negative error. */
static int
qconn_raw_write(struct qconn *c, const void *data, size_t len)
{
	struct qconn_write *w;
	uv_buf_t b;
	int r;

	if (len == 0)
		return 0;
	w = malloc(sizeof(*w) + len);
	if (w == NULL)
		return -ENOMEM;
	memcpy(w->data, data, len);
	w->c = c;
	b = uv_buf_init(w->data, (unsigned)len);
	r = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, qconn_write_cb);
	if (r < 0) {
		free(w);
		return r;
	}
	c->writes++;
	return 0;
}

static ssize_t
qconn_tls_push(gnutls_transport_ptr_t ptr, const void *data, size_t len)
{
	struct qconn *c = ptr;

	if (qconn_raw_write(c, data, len) < 0) {
		gnutls_transport_set_errno(c->tls, EIO);
		return -1;
	}
	return (ssize_t)len;
}

static ssize_t
qconn_tls_pull(gnutls_transport_ptr_t ptr, void *data, size_t len)
{
	struct qconn *c = ptr;
	size_t avail = c->tls_in_len - c->tls_in_off;

	if (avail == 0) {
		gnutls_transport_set_errno(c->tls, EAGAIN);
		return -1;
	}
	if (len > avail)
		len = avail;
	memcpy(data, c->tls_in + c->tls_in_off, len);
	c->tls_in_off += len;
	if (c->tls_in_off == c->tls_in_len)
		c->tls_in_off = c->tls_in_len = 0;
	return (ssize_t)len;
}

static int
qconn_send(struct qconn *c, const void *data, size_t len)
{
	const char *p = data;

	if (!c->tls_on)
		return qconn_raw_write(c, data, len);
	while (len > 0) {
		ssize_t n = gnutls_record_send(c->tls, p, len);

		if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
			continue;
		if (n < 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int qconn_cmd(struct qconn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int
qconn_cmd(struct qconn *c, const char *fmt, ...)
{
	char buf[2048];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf) - 2)
		return -EMSGSIZE;
	buf[n++] = '\r';
	buf[n++] = '\n';
	return qconn_send(c, buf, (size_t)n);
}

/* ---- failure and closing ---- */

static char
qconn_kind(int code)
{
	return code < 300 ? 'D' : code >= 500 ? 'F' : 'T';
}

/* Ends the transaction in progress: unanswered recipients deferred. */
static void
qconn_end_job(struct qconn *c)
{
	struct qjob *job = c->job;

	if (job == NULL)
		return;
	c->job = NULL;
	if (c->fd >= 0 && !c->fs_busy) {
		/* a read-only regular file: close(2) does not block; with
		   a read in flight the read's callback closes it */
		close(c->fd);
		c->fd = -1;
	}
	qjob_finish(job);
}

static void
qconn_close(struct qconn *c, bool ok)
{
	struct qdest *d = c->dest;

	if (c->done)
		return;
	if (c->job != NULL) {
		qjob_result_all(c->job, 'T', c->err_status[0] != '\0' ?
		    c->err_status : "4.4.2", c->target.host,
		    c->err_diag[0] != '\0' ? c->err_diag :
		    "connection ended during the transaction");
		qconn_end_job(c);
	}
	c->st = QC_CLOSED;
	c->done = true;
	uv_timer_stop(&c->timer);
	if (!uv_is_closing((uv_handle_t *)&c->timer))
		uv_close((uv_handle_t *)&c->timer, qconn_handle_closed);
	if (c->tcp_open && !uv_is_closing((uv_handle_t *)&c->tcp)) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		uv_close((uv_handle_t *)&c->tcp, qconn_handle_closed);
	}
	if (d != NULL) {
		if (c->prev != NULL)
			c->prev->next = c->next;
		else
			d->conns = c->next;
		if (c->next != NULL)
			c->next->prev = c->prev;
		c->dest = NULL;
		qdest_conn_gone(d, c->ready_once, ok, c->err_status[0] != '\0' ?
		    c->err_status : "4.4.1", c->err_diag[0] != '\0' ?
		    c->err_diag : "no mail host answered");
	}
	qconn_release(c);
}

static void
qconn_fail(struct qconn *c, const char *status, bool dead, const char *fmt,
    ...)
{
	va_list ap;

	if (c->done)
		return;
	snprintf(c->err_status, sizeof(c->err_status), "%s", status);
	va_start(ap, fmt);
	vsnprintf(c->err_diag, sizeof(c->err_diag), fmt, ap);
	va_end(ap);
	queue_log(c->q, POSTA_LOG_INFO, "queue.conn_failed",
	    "dest=%s remote=%s status=%s why=\"%s\"", c->dest != NULL ?
	    c->dest->key : "-", c->remote, status, c->err_diag);
	if (c->job != NULL || c->ready_once || !dead) {
		qconn_close(c, false);
		return;
	}
	/* before the session: this target is no good, try the next */
	if (c->dest != NULL && c->ti < 64 && !c->retry_plain)
		c->dest->dead |= (uint64_t)1 << c->ti;
	uv_timer_stop(&c->timer);
	if (c->tcp_open && !uv_is_closing((uv_handle_t *)&c->tcp)) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->reconnect = true;
		uv_close((uv_handle_t *)&c->tcp, qconn_handle_closed);
	} else if (!c->reconnect) {
		qconn_next_target(c);
	}
}

/* ---- connecting ---- */

static void qconn_read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

static void
qconn_alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct qconn *c = h->data;

	*buf = uv_buf_init(c->rbuf, sizeof(c->rbuf));
}

static void
qconn_connect_cb(uv_connect_t *req, int status)
{
	struct qconn *c = req->data;

	if (c->done || status == UV_ECANCELED || c->reconnect)
		return;
	if (status < 0) {
		qconn_fail(c, "4.4.1", true, "connect to %s: %s", c->remote,
		    uv_strerror(status));
		return;
	}
	queue_log(c->q, POSTA_LOG_DEBUG, "queue.connected",
	    "dest=%s remote=%s", c->dest->key, c->remote);
	/* pipelined commands go out as separate small writes: without
	   this, Nagle holds each behind the peer's delayed ACK */
	uv_tcp_nodelay(&c->tcp, 1);
	c->st = QC_GREETING;
	qconn_arm(c, c->q->set->command_timeout_ms);
	if (uv_read_start((uv_stream_t *)&c->tcp, qconn_alloc_cb,
	    qconn_read_cb) < 0)
		qconn_fail(c, "4.4.2", true, "%s: cannot read", c->remote);
}

/* Connects to the next live target; with none left, gives up. */
static void
qconn_next_target(struct qconn *c)
{
	struct qdest *d = c->dest;
	int r;

	if (c->done || d == NULL)
		return;
	if (c->tls != NULL) {
		gnutls_deinit(c->tls);
		c->tls = NULL;
	}
	/* after a failed handshake: the same target again, in plaintext */
	c->no_tls = c->retry_plain;
	c->retry_plain = false;
	if (!c->no_tls) {
		while (c->ti < d->n_targets && c->ti < 64 &&
		    (d->dead & ((uint64_t)1 << c->ti)))
			c->ti++;
		if (c->ti >= d->n_targets || c->ti >= 64) {
			qconn_close(c, false);
			return;
		}
	}
	c->target = d->targets[c->ti];
	if (c->target.addr.ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)
		    &c->target.addr)->sin6_addr, c->ip, sizeof(c->ip));
	else
		inet_ntop(AF_INET, &((struct sockaddr_in *)
		    &c->target.addr)->sin_addr, c->ip, sizeof(c->ip));
	snprintf(c->remote, sizeof(c->remote), "%s[%s]", c->target.host,
	    c->ip);
	c->st = QC_CONNECTING;
	c->tls_on = false;
	c->tls_in_len = c->tls_in_off = 0;
	memset(&c->caps, 0, sizeof(c->caps));
	qwire_parser_init(&c->parser);
	r = uv_tcp_init(c->q->loop, &c->tcp);
	if (r < 0) {
		snprintf(c->err_status, sizeof(c->err_status), "4.3.0");
		snprintf(c->err_diag, sizeof(c->err_diag), "socket: %s",
		    uv_strerror(r));
		qconn_close(c, false);
		return;
	}
	c->tcp.data = c;
	c->tcp_open = true;
	c->handles++;
	c->creq.data = c;
	r = uv_tcp_connect(&c->creq, &c->tcp,
	    (const struct sockaddr *)&c->target.addr, qconn_connect_cb);
	if (r < 0) {
		qconn_fail(c, "4.4.1", true, "connect to %s: %s", c->remote,
		    uv_strerror(r));
		return;
	}
	qconn_arm(c, c->q->set->connect_timeout_ms);
}

int
qconn_start(struct qdest *d)
{
	struct queue *q = d->q;
	struct qconn *c;
	size_t i;

	/* a connection that could only fail would report back at once */
	for (i = 0; i < d->n_targets && i < 64; i++)
		if (!(d->dead & ((uint64_t)1 << i)))
			break;
	if (i == d->n_targets || i == 64)
		return -ENOENT;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	c->q = q;
	c->dest = d;
	c->fd = -1;
	uv_timer_init(q->loop, &c->timer);
	c->timer.data = c;
	c->handles = 1;
	c->next = d->conns;
	if (c->next != NULL)
		c->next->prev = c;
	d->conns = c;
	d->n_conns++;
	d->n_unready++;
	q->n_conns++;
	queue_ref(q);
	qconn_next_target(c);
	return 0;
}

void
qconn_abort_all(struct qdest *d)
{
	while (d->conns != NULL) {
		struct qconn *c = d->conns;

		snprintf(c->err_status, sizeof(c->err_status), "4.3.2");
		snprintf(c->err_diag, sizeof(c->err_diag), "server shutdown");
		qconn_close(c, false);
	}
}

/* ---- the session ---- */

static void
qconn_after_hello(struct qconn *c)
{
	const struct queue_settings *set = c->q->set;
	struct queue *q = c->q;

	if (c->dest->is_smarthost && set->smarthost_user != NULL &&
	    set->smarthost_user[0] != '\0') {
		const char *user = set->smarthost_user;
		const char *pass = q->smarthost_password != NULL ?
		    q->smarthost_password : "";

		if (!c->tls_on && !set->smarthost_auth_plaintext) {
			qconn_fail(c, "4.7.0", false, "%s: not sending a "
			    "password without TLS (smarthost_auth_plaintext "
			    "= no)", c->remote);
			return;
		}
		if (c->caps.auth_plain) {
			size_t ul = strlen(user), pl = strlen(pass);
			size_t rl = ul + pl + 2;
			char *raw = malloc(rl), *b64 =
			    malloc(base64_encoded_len(rl) + 1);

			if (raw == NULL || b64 == NULL) {
				free(raw);
				free(b64);
				qconn_fail(c, "4.3.0", false, "out of memory");
				return;
			}
			raw[0] = '\0';
			memcpy(raw + 1, user, ul);
			raw[ul + 1] = '\0';
			memcpy(raw + ul + 2, pass, pl);
			b64[base64_encode((uint8_t *)raw, rl, b64)] = '\0';
			c->st = QC_AUTH;
			qconn_cmd(c, "AUTH PLAIN %s", b64);
			util_wipe(raw, rl);
			util_wipe(b64, strlen(b64));
			free(raw);
			free(b64);
			return;
		}
		if (c->caps.auth_login) {
			c->st = QC_AUTH_USER;
			qconn_cmd(c, "AUTH LOGIN");
			return;
		}
		qconn_fail(c, "4.7.0", false, "%s offers neither AUTH PLAIN "
		    "nor AUTH LOGIN", c->remote);
		return;
	}
	qconn_ready(c);
}

static void
qconn_auth_login_step(struct qconn *c, const struct qwire_reply *r)
{
	const char *s = c->st == QC_AUTH_USER ? c->q->set->smarthost_user :
	    (c->q->smarthost_password != NULL ? c->q->smarthost_password :
	    "");
	size_t l = strlen(s);
	char *b64;

	if (r->code != 334) {
		char sum[600];

		qwire_reply_summary(r, sum, sizeof(sum));
		qconn_fail(c, "4.7.0", false, "%s refused AUTH LOGIN: %s",
		    c->remote, sum);
		return;
	}
	b64 = malloc(base64_encoded_len(l) + 1);
	if (b64 == NULL) {
		qconn_fail(c, "4.3.0", false, "out of memory");
		return;
	}
	b64[base64_encode((const uint8_t *)s, l, b64)] = '\0';
	qconn_cmd(c, "%s", b64);
	util_wipe(b64, strlen(b64));
	free(b64);
	c->st = c->st == QC_AUTH_USER ? QC_AUTH_PASS : QC_AUTH;
}

static void qconn_tls_step(struct qconn *c);

static void
qconn_tls_begin(struct qconn *c)
{
	struct queue *q = c->q;
	unsigned char a[16];
	bool is_ip;
	int r;

	c->tls_in_len = c->tls_in_off = 0;
	r = gnutls_init(&c->tls, GNUTLS_CLIENT | GNUTLS_NONBLOCK);
	if (r < 0) {
		c->tls = NULL;
		qconn_fail(c, "4.7.5", true, "TLS setup: %s",
		    gnutls_strerror(r));
		return;
	}
	is_ip = inet_pton(AF_INET, c->target.host, a) == 1 ||
	    inet_pton(AF_INET6, c->target.host, a) == 1;
	gnutls_priority_set(c->tls, q->tls_prio);
	gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE, q->tls_creds);
	if (!is_ip)
		gnutls_server_name_set(c->tls, GNUTLS_NAME_DNS,
		    c->target.host, strlen(c->target.host));
	if (q->set->tls_verify)
		gnutls_session_set_verify_cert(c->tls, is_ip ? NULL :
		    c->target.host, 0);
	gnutls_transport_set_ptr(c->tls, c);
	gnutls_transport_set_push_function(c->tls, qconn_tls_push);
	gnutls_transport_set_pull_function(c->tls, qconn_tls_pull);
	c->st = QC_HANDSHAKE;
	qconn_arm(c, q->set->command_timeout_ms);
	qconn_tls_step(c);
}

static void
qconn_tls_step(struct qconn *c)
{
	int r = gnutls_handshake(c->tls);

	if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
		return;
	if (r < 0 && !gnutls_error_is_fatal(r))
		return;
	if (r < 0) {
		if (c->q->set->tls == QUEUE_TLS_OPPORTUNISTIC) {
			/* opportunistic: a broken TLS stack must not stop
			   the mail; this target again, without TLS */
			c->retry_plain = true;
			qconn_fail(c, "4.7.5", true, "%s: TLS handshake "
			    "failed: %s", c->remote, gnutls_strerror(r));
			return;
		}
		qconn_fail(c, "4.7.5", true, "%s: TLS handshake failed: %s",
		    c->remote, gnutls_strerror(r));
		return;
	}
	c->tls_on = true;
	{
		const char *ver = gnutls_protocol_get_name(
		    gnutls_protocol_get_version(c->tls));
		const char *cipher = gnutls_cipher_get_name(
		    gnutls_cipher_get(c->tls));

		queue_log(c->q, POSTA_LOG_INFO, "queue.tls",
		    "remote=%s version=%s cipher=%s", c->remote,
		    ver != NULL ? ver : "-", cipher != NULL ? cipher : "-");
	}
	c->st = QC_EHLO;
	qconn_arm(c, c->q->set->command_timeout_ms);
	qconn_cmd(c, "EHLO %s", c->q->helo);
}

/* ---- transactions ---- */

static void qconn_open_cb(uv_fs_t *req);

/* Checks what the server must support for this message. */
static bool
qconn_job_fits(struct qconn *c, struct qjob *job)
{
	const struct qspool_env *env = &job->msg->env;
	char diag[700];
	size_t i;

	/* the spool may hold what posta queue submit was given */
	if (!qpolicy_addr_sendable(env->sender)) {
		qjob_result_all(job, 'F', "5.1.7", NULL, "the sender address "
		    "cannot be sent in SMTP");
		return false;
	}
	for (i = 0; i < job->n; i++)
		if (!qpolicy_addr_sendable(
		    env->rcpts[job->rcpts[i]].address))
			qjob_result(job, i, 'F', "5.1.3", NULL, "the "
			    "recipient address cannot be sent in SMTP");
	for (i = 0; i < job->n; i++)
		if (!job->settled[i])
			break;
	if (i == job->n)
		return false;

	if (c->caps.size_max > 0 && env->size > c->caps.size_max) {
		snprintf(diag, sizeof(diag), "message size %" PRIu64 " "
		    "exceeds the limit of %" PRIu64 " bytes of %s", env->size,
		    c->caps.size_max, c->remote);
		qjob_result_all(job, 'F', "5.3.4", c->target.host, diag);
		return false;
	}
	if (env->smtputf8 && !c->caps.smtputf8) {
		/* RFC 6531 3.4: no downgrade here, so it cannot go */
		snprintf(diag, sizeof(diag), "%s does not support SMTPUTF8, "
		    "which this message needs", c->remote);
		qjob_result_all(job, 'F', "5.6.7", c->target.host, diag);
		return false;
	}
	return true;
}

static void
qconn_ready(struct qconn *c)
{
	struct queue *q = c->q;
	char path[4096];
	struct qjob *job;
	int r;

	if (!c->ready_once) {
		c->ready_once = true;
		qdest_conn_ready(c->dest);
	}
	for (;;) {
		if (c->done || c->dest == NULL)
			return;
		job = qdest_take_job(c->dest);
		if (job == NULL) {
			c->st = QC_QUIT;
			qconn_arm(c, q->set->command_timeout_ms);
			qconn_cmd(c, "QUIT");
			return;
		}
		if (qconn_job_fits(c, job))
			break;
		qjob_finish(job);
	}
	c->job = job;
	free(c->accepted);
	c->accepted = calloc(job->n, sizeof(bool));
	if (c->accepted == NULL) {
		qconn_fail(c, "4.3.0", false, "out of memory");
		return;
	}
	c->n_accepted = c->rcpt_sent = c->rcpt_replied = 0;
	c->mail_failed = c->data_ignored = false;
	c->pipelined = c->caps.pipelining;
	c->st = QC_OPENING;
	if (qspool_path(path, sizeof(path), q->dir, "q", job->msg->env.id,
	    ".msg") < 0) {
		qconn_fail(c, "4.3.0", false, "spool path too long");
		return;
	}
	c->fs.data = c;
	r = uv_fs_open(q->loop, &c->fs, path, O_RDONLY | O_CLOEXEC, 0,
	    qconn_open_cb);
	if (r < 0) {
		qconn_fail(c, "4.3.0", false, "cannot open the spool file");
		return;
	}
	c->fs_busy = true;
}

static int
qconn_send_rcpt(struct qconn *c, size_t i)
{
	const struct qspool_rcpt *r =
	    &c->job->msg->env.rcpts[c->job->rcpts[i]];
	char params[700] = "";
	size_t n = 0;

	/* a recipient that failed before the transaction keeps its place
	   in the reply order with a harmless command */
	if (c->job->settled[i])
		return qconn_cmd(c, "NOOP");
	if (c->caps.dsn && r->notify != 0) {
		unsigned v = r->notify;

		n += (size_t)snprintf(params + n, sizeof(params) - n,
		    " NOTIFY=%s%s%s%s",
		    (v & POSTA_QUEUE_NOTIFY_NEVER) ? "NEVER" : "",
		    (v & POSTA_QUEUE_NOTIFY_SUCCESS) ? "SUCCESS," : "",
		    (v & POSTA_QUEUE_NOTIFY_FAILURE) ? "FAILURE," : "",
		    (v & POSTA_QUEUE_NOTIFY_DELAY) ? "DELAY," : "");
		if (params[n - 1] == ',')
			params[--n] = '\0';
	}
	if (c->caps.dsn && r->orcpt != NULL && strlen(r->orcpt) < 500 &&
	    strchr(r->orcpt, ' ') == NULL && strchr(r->orcpt, ';') != NULL)
		snprintf(params + n, sizeof(params) - n, " ORCPT=%s",
		    r->orcpt);
	return qconn_cmd(c, "RCPT TO:<%s>%s", r->address, params);
}

static void
qconn_send_mail(struct qconn *c)
{
	const struct qspool_env *env = &c->job->msg->env;
	char params[600] = "", xt[3 * 100 + 1];
	size_t n = 0, i;

	if (c->caps.size)
		n += (size_t)snprintf(params + n, sizeof(params) - n,
		    " SIZE=%" PRIu64, env->size);
	if (env->eightbit && c->caps.eightbitmime)
		n += (size_t)snprintf(params + n, sizeof(params) - n,
		    " BODY=8BITMIME");
	if (env->smtputf8 && c->caps.smtputf8)
		n += (size_t)snprintf(params + n, sizeof(params) - n,
		    " SMTPUTF8");
	if (c->caps.dsn && env->ret != QSPOOL_RET_DEFAULT)
		n += (size_t)snprintf(params + n, sizeof(params) - n,
		    " RET=%s", env->ret == QSPOOL_RET_FULL ? "FULL" : "HDRS");
	if (c->caps.dsn && env->envid != NULL && strlen(env->envid) <= 100)
		snprintf(params + n, sizeof(params) - n, " ENVID=%s",
		    qwire_xtext(env->envid, xt));
	c->st = QC_MAIL;
	qconn_arm(c, c->q->set->command_timeout_ms);
	qconn_cmd(c, "MAIL FROM:<%s>%s", env->sender, params);
	if (!c->pipelined)
		return;
	/* RFC 2920: the whole envelope and DATA in one go */
	for (i = 0; i < c->job->n; i++)
		qconn_send_rcpt(c, i);
	c->rcpt_sent = c->job->n;
	qconn_cmd(c, "DATA");
}

static void
qconn_open_cb(uv_fs_t *req)
{
	struct qconn *c = req->data;
	ssize_t r = req->result;

	uv_fs_req_cleanup(req);
	c->fs_busy = false;
	if (c->done || c->job == NULL) {
		if (r >= 0)
			close((int)r);
		qconn_release(c);
		return;
	}
	if (r < 0) {
		queue_log(c->q, POSTA_LOG_ERROR, "queue.spool_failed",
		    "id=%s op=open error=\"%s\"", c->job->msg->env.id,
		    uv_strerror((int)r));
		/* removed by hand: no retry brings it back, so bounce now
		   (the report says the original is not available) */
		if (r == UV_ENOENT)
			qjob_result_all(c->job, 'F', "5.3.0", NULL,
			    "the message was removed from the queue");
		else
			qjob_result_all(c->job, 'T', "4.3.0", NULL,
			    "cannot read the message from the spool");
		qconn_end_job(c);
		qconn_ready(c);
		return;
	}
	c->fd = (int)r;
	c->off = 0;
	qconn_send_mail(c);
}

/* The body: read a chunk, stuff it, write it, wait for the writes. */
static void
qconn_read_file_cb(uv_fs_t *req)
{
	struct qconn *c = req->data;
	ssize_t r = req->result;
	size_t n;

	uv_fs_req_cleanup(req);
	c->fs_busy = false;
	if (c->done || c->job == NULL) {
		if (c->fd >= 0) {
			close(c->fd);
			c->fd = -1;
		}
		qconn_release(c);
		return;
	}
	if (r < 0) {
		/* the server holds part of a message: only closing the
		   connection keeps it from delivering that */
		qconn_fail(c, "4.3.0", false, "cannot read the message "
		    "from the spool: %s", uv_strerror((int)r));
		return;
	}
	if (r == 0) {
		n = qwire_dot_finish(&c->dot, c->obuf);
		c->st = QC_DOT;
		qconn_arm(c, c->q->set->data_timeout_ms);
	} else {
		c->off += (uint64_t)r;
		n = qwire_dot_encode(&c->dot, c->fbuf, (size_t)r, c->obuf);
	}
	if (qconn_send(c, c->obuf, n) < 0)
		qconn_fail(c, "4.4.2", false, "%s: write failed", c->remote);
}

static void
qconn_body_next(struct qconn *c)
{
	uv_buf_t b = uv_buf_init((char *)c->fbuf, QCONN_FILE_CHUNK);
	int r;

	c->fs.data = c;
	r = uv_fs_read(c->q->loop, &c->fs, c->fd, &b, 1, (int64_t)c->off,
	    qconn_read_file_cb);
	if (r < 0) {
		qconn_fail(c, "4.3.0", false, "cannot read the message");
		return;
	}
	c->fs_busy = true;
}

static void
qconn_body_start(struct qconn *c)
{
	if (c->fbuf == NULL)
		c->fbuf = malloc(QCONN_FILE_CHUNK);
	if (c->obuf == NULL)
		c->obuf = malloc(QWIRE_DOT_OUT_MAX(QCONN_FILE_CHUNK) + 8);
	if (c->fbuf == NULL || c->obuf == NULL) {
		qconn_fail(c, "4.3.0", false, "out of memory");
		return;
	}
	qwire_dot_init(&c->dot);
	c->off = 0;
	c->st = QC_BODY;
	qconn_arm(c, c->q->set->command_timeout_ms);
	qconn_body_next(c);
}

static void
qconn_rset(struct qconn *c)
{
	c->st = QC_RSET;
	qconn_arm(c, c->q->set->command_timeout_ms);
	qconn_cmd(c, "RSET");
}

static void
qconn_result(struct qconn *c, size_t i, const struct qwire_reply *r)
{
	char status[12], sum[600];

	qwire_reply_status(r, status, sizeof(status));
	qwire_reply_summary(r, sum, sizeof(sum));
	qjob_result(c->job, i, qconn_kind(r->code), status, c->target.host,
	    sum);
}

static void
qconn_result_accepted(struct qconn *c, const struct qwire_reply *r)
{
	size_t i;

	for (i = 0; i < c->job->n; i++)
		if (c->accepted[i])
			qconn_result(c, i, r);
}

/* After the envelope's replies: DATA, or the end of this transaction. */
static void
qconn_envelope_done(struct qconn *c)
{
	if (c->pipelined) {
		c->st = QC_DATA;	/* DATA went with the envelope */
		return;
	}
	if (c->mail_failed || c->n_accepted == 0) {
		qconn_rset(c);
		return;
	}
	c->st = QC_DATA;
	qconn_cmd(c, "DATA");
}

static void
qconn_reply_txn(struct qconn *c, const struct qwire_reply *r)
{
	size_t i;

	switch (c->st) {
	case QC_MAIL:
		if (r->code >= 300) {
			c->mail_failed = true;
			for (i = 0; i < c->job->n; i++)
				qconn_result(c, i, r);
			if (!c->pipelined) {
				qconn_rset(c);
				return;
			}
		}
		c->st = QC_RCPT;
		if (!c->pipelined) {
			qconn_send_rcpt(c, 0);
			c->rcpt_sent = 1;
		}
		return;
	case QC_RCPT:
		i = c->rcpt_replied++;
		if (!c->mail_failed && !c->job->settled[i]) {
			if (r->code < 300) {
				c->accepted[i] = true;
				c->n_accepted++;
			} else {
				qconn_result(c, i, r);
			}
		}
		if (c->rcpt_replied < c->job->n) {
			if (!c->pipelined)
				qconn_send_rcpt(c, c->rcpt_sent++);
			return;
		}
		qconn_envelope_done(c);
		return;
	case QC_DATA:
		if (r->code == 354) {
			if (c->mail_failed || c->n_accepted == 0) {
				/* RFC 2920 3.1: no recipient, so no message;
				   end the data at once */
				c->data_ignored = true;
				c->st = QC_DOT;
				qconn_send(c, ".\r\n", 3);
				return;
			}
			qconn_body_start(c);
			return;
		}
		if (!c->mail_failed)
			qconn_result_accepted(c, r);
		qconn_rset(c);
		return;
	case QC_DOT:
		if (!c->data_ignored)
			qconn_result_accepted(c, r);
		qconn_end_job(c);
		qconn_ready(c);
		return;
	case QC_RSET:
		qconn_end_job(c);
		if (r->code >= 300) {
			qconn_fail(c, "4.4.2", false, "%s refused RSET",
			    c->remote);
			return;
		}
		qconn_ready(c);
		return;
	default:
		qconn_fail(c, "4.4.2", false, "%s: unexpected reply in %s",
		    c->remote, qconn_state_names[c->st]);
		return;
	}
}

static void
qconn_reply(struct qconn *c, const struct qwire_reply *r)
{
	const struct queue_settings *set = c->q->set;
	char sum[600];

	qwire_reply_summary(r, sum, sizeof(sum));
	queue_log(c->q, POSTA_LOG_DEBUG, "queue.reply", "remote=%s "
	    "state=%s reply=\"%.200s\"", c->remote,
	    qconn_state_names[c->st], sum);
	switch (c->st) {
	case QC_GREETING:
		if (r->code != 220) {
			qconn_fail(c, r->code >= 500 ? "5.0.0" : "4.0.0", true,
			    "%s greeted with: %s", c->remote, sum);
			return;
		}
		c->st = QC_EHLO;
		qconn_arm(c, set->command_timeout_ms);
		qconn_cmd(c, "EHLO %s", c->q->helo);
		return;
	case QC_EHLO:
		if (r->code >= 500 && !c->tls_on) {
			c->st = QC_HELO;
			qconn_cmd(c, "HELO %s", c->q->helo);
			return;
		}
		if (r->code != 250) {
			qconn_fail(c, "4.4.2", true, "%s refused EHLO: %s",
			    c->remote, sum);
			return;
		}
		qwire_parse_ehlo(r, &c->caps);
		if (!c->tls_on && !c->no_tls && c->caps.starttls &&
		    set->tls != QUEUE_TLS_NO) {
			c->st = QC_STARTTLS;
			qconn_cmd(c, "STARTTLS");
			return;
		}
		if (!c->tls_on && set->tls == QUEUE_TLS_REQUIRED) {
			qconn_fail(c, "4.7.4", true, "%s does not offer "
			    "STARTTLS and TLS is required", c->remote);
			return;
		}
		qconn_after_hello(c);
		return;
	case QC_HELO:
		if (r->code != 250) {
			qconn_fail(c, "4.4.2", true, "%s refused HELO: %s",
			    c->remote, sum);
			return;
		}
		memset(&c->caps, 0, sizeof(c->caps));
		if (set->tls == QUEUE_TLS_REQUIRED) {
			qconn_fail(c, "4.7.4", true, "%s does not offer "
			    "STARTTLS and TLS is required", c->remote);
			return;
		}
		qconn_after_hello(c);
		return;
	case QC_STARTTLS:
		if (r->code != 220) {
			if (set->tls == QUEUE_TLS_REQUIRED) {
				qconn_fail(c, "4.7.4", true, "%s refused "
				    "STARTTLS: %s", c->remote, sum);
				return;
			}
			qconn_after_hello(c);
			return;
		}
		qconn_tls_begin(c);
		return;
	case QC_AUTH:
		if (r->code != 235) {
			qconn_fail(c, "4.7.0", false, "%s refused our "
			    "credentials: %s", c->remote, sum);
			return;
		}
		qconn_ready(c);
		return;
	case QC_AUTH_USER:
	case QC_AUTH_PASS:
		qconn_auth_login_step(c, r);
		return;
	case QC_QUIT:
		qconn_close(c, true);
		return;
	case QC_MAIL:
	case QC_RCPT:
	case QC_DATA:
	case QC_DOT:
	case QC_RSET:
		qconn_arm(c, set->command_timeout_ms);
		qconn_reply_txn(c, r);
		return;
	default:
		qconn_fail(c, "4.4.2", c->st < QC_READY, "%s sent a reply "
		    "nobody asked for (%s) in %s", c->remote, sum,
		    qconn_state_names[c->st]);
		return;
	}
}

/* Plaintext from the server: replies, one at a time. */
static void
qconn_feed(struct qconn *c, const uint8_t *p, size_t len)
{
	while (len > 0 && !c->done && c->st != QC_HANDSHAKE) {
		size_t used = 0;
		enum qwire_result res = qwire_feed(&c->parser, p, len, &used);

		p += used;
		len -= used;
		if (res == QWIRE_NEED_MORE)
			return;
		if (res == QWIRE_ERROR) {
			qconn_fail(c, "4.4.2", c->st < QC_READY, "%s sent a "
			    "malformed reply", c->remote);
			return;
		}
		qconn_reply(c, &c->parser.reply);
		if (c->st == QC_HANDSHAKE) {
			/* CVE-2011-0411 in reverse: nothing the server sent
			   before the handshake counts after it */
			return;
		}
	}
}

static bool
qconn_tls_input(struct qconn *c, const char *data, size_t len)
{
	if (c->tls_in_len + len > c->tls_in_cap) {
		size_t cap = c->tls_in_len + len + QCONN_READ_CHUNK;
		uint8_t *nb;

		if (c->tls_in_off > 0) {
			memmove(c->tls_in, c->tls_in + c->tls_in_off,
			    c->tls_in_len - c->tls_in_off);
			c->tls_in_len -= c->tls_in_off;
			c->tls_in_off = 0;
		}
		nb = realloc(c->tls_in, cap);
		if (nb == NULL)
			return false;
		c->tls_in = nb;
		c->tls_in_cap = cap;
	}
	memcpy(c->tls_in + c->tls_in_len, data, len);
	c->tls_in_len += len;
	return true;
}

static void
qconn_read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct qconn *c = s->data;

	if (c->done || n == 0)
		return;
	if (n < 0) {
		if (c->st == QC_QUIT) {
			qconn_close(c, true);
			return;
		}
		qconn_fail(c, "4.4.2", c->st < QC_READY, "%s closed the "
		    "connection in %s", c->remote, qconn_state_names[c->st]);
		return;
	}
	if (c->tls == NULL || (!c->tls_on && c->st != QC_HANDSHAKE)) {
		qconn_feed(c, (const uint8_t *)buf->base, (size_t)n);
		return;
	}
	if (!qconn_tls_input(c, buf->base, (size_t)n)) {
		qconn_fail(c, "4.3.0", false, "out of memory");
		return;
	}
	if (c->st == QC_HANDSHAKE) {
		qconn_tls_step(c);
		if (c->done || !c->tls_on)
			return;
	}
	/* bounded: each turn consumes input or returns */
	for (int turns = 0; !c->done && turns < 10000; turns++) {
		char plain[16384];
		ssize_t r = gnutls_record_recv(c->tls, plain, sizeof(plain));

		if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
			/* a post-handshake message (a TLS 1.3 ticket) ends a
			   call with AGAIN while records may still wait */
			if (c->tls_in_len > c->tls_in_off)
				continue;
			return;
		}
		if (r == 0 || (r < 0 && gnutls_error_is_fatal((int)r))) {
			if (c->st == QC_QUIT) {
				qconn_close(c, true);
				return;
			}
			qconn_fail(c, "4.4.2", c->st < QC_READY, "%s: TLS "
			    "connection ended: %s", c->remote, r == 0 ?
			    "EOF" : gnutls_strerror((int)r));
			return;
		}
		if (r > 0)
			qconn_feed(c, (const uint8_t *)plain, (size_t)r);
	}
}
