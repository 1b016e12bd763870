/* conn.c: one client connection: buffered reads, write queue, TLS, timeouts, teardown */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "hook.h"
#include "util.h"

/* Output is coalesced and written at the end of a loop turn; past this much
 * it is written at once so one reply never waits on a huge buffer. */
#define OUT_FLUSH_AT	(16 * 1024)
/* gnutls_record_send takes at most one record's worth at a time. */
#define TLS_CHUNK	(16 * 1024)

struct write_req {
	uv_write_t req;
	struct conn *c;
	size_t len;
	uint8_t data[];
};

static void conn_pump(struct conn *c);
static void conn_teardown(struct conn *c, int reason);
static void conn_release(struct conn *c, int reason, bool linger);
static void conn_read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);
static void close_finish(struct conn *c);
static void handle_closed(uv_handle_t *h);
static void api_conn_close(struct posta_conn *pc);
static void timer_cb(uv_timer_t *t);
static int cipher_flush(struct conn *c);

/* ---- scheduling: work that must not run inside a module's call ---- */

static void
ready_cb(uv_idle_t *idle)
{
	struct loop *l = idle->data;

	while (l->ready != NULL) {
		struct conn *c = l->ready;

		l->ready = c->ready_next;
		c->ready_next = NULL;
		c->ready = false;
		if (!c->torn_down)
			conn_pump(c);
	}
	uv_idle_stop(idle);
}

static void
conn_schedule(struct conn *c)
{
	struct loop *l = c->loop;

	if (c->ready || c->torn_down)
		return;
	c->ready = true;
	c->ready_next = l->ready;
	l->ready = c;
	uv_idle_start(&l->ready_idle, ready_cb);
}

static void
ready_remove(struct conn *c)
{
	struct conn **pp;

	if (!c->ready)
		return;
	for (pp = &c->loop->ready; *pp != NULL; pp = &(*pp)->ready_next) {
		if (*pp == c) {
			*pp = c->ready_next;
			break;
		}
	}
	c->ready = false;
}

/* ---- writing ---- */

static void
write_cb(uv_write_t *req, int status)
{
	struct write_req *w = (struct write_req *)req;
	struct conn *c = w->c;

	c->in_flight -= w->len;
	free(w);
	if (c->torn_down)
		return;
	if (status < 0) {
		conn_teardown(c, -ECONNRESET);
		return;
	}
	if (c->in_flight == 0 && c->out_len == 0) {
		if (c->closing) {
			close_finish(c);
			return;
		}
		if (c->write_blocked) {
			c->write_blocked = false;
			conn_schedule(c);
		}
		if (c->h != NULL && c->h->drain != NULL && c->accepted &&
		    c->tls_state != TLS_HANDSHAKE)
			c->h->drain(c->hctx);
	}
}

static int
raw_write(struct conn *c, const uint8_t *data, size_t len)
{
	struct write_req *w;
	uv_buf_t buf;
	int r;

	if (len == 0)
		return 0;
	w = malloc(sizeof(*w) + len);
	if (w == NULL)
		return -ENOMEM;
	memcpy(w->data, data, len);
	w->c = c;
	w->len = len;
	buf = uv_buf_init((char *)w->data, (unsigned)len);
	r = uv_write(&w->req, (uv_stream_t *)&c->tcp, &buf, 1, write_cb);
	if (r < 0) {
		free(w);
		return r;
	}
	c->in_flight += len;
	return 0;
}

static int
cipher_flush(struct conn *c)
{
	int r = raw_write(c, c->cipher_out, c->cipher_out_len);

	c->cipher_out_len = 0;
	/* raw_write copied it; an idle TLS session keeps no buffer */
	free(c->cipher_out);
	c->cipher_out = NULL;
	c->cipher_out_cap = 0;
	return r;
}

static ssize_t
tls_push(gnutls_transport_ptr_t ptr, const void *data, size_t len)
{
	struct conn *c = ptr;

	if (c->cipher_out_len + len > c->cipher_out_cap) {
		size_t cap = c->cipher_out_cap == 0 ? 4096 : c->cipher_out_cap;
		uint8_t *n;

		while (cap < c->cipher_out_len + len)
			cap *= 2;
		n = realloc(c->cipher_out, cap);
		if (n == NULL) {
			gnutls_transport_set_errno(c->tls, ENOMEM);
			return -1;
		}
		c->cipher_out = n;
		c->cipher_out_cap = cap;
	}
	memcpy(c->cipher_out + c->cipher_out_len, data, len);
	c->cipher_out_len += len;
	return (ssize_t)len;
}

static ssize_t
tls_pull(gnutls_transport_ptr_t ptr, void *data, size_t len)
{
	struct conn *c = ptr;

	if (c->cipher_in_len == 0) {
		gnutls_transport_set_errno(c->tls, EAGAIN);
		return -1;
	}
	if (len > c->cipher_in_len)
		len = c->cipher_in_len;
	memcpy(data, c->cipher_in, len);
	c->cipher_in += len;
	c->cipher_in_len -= len;
	return (ssize_t)len;
}

/* Writes everything queued in c->out to the socket (through TLS if on). */
static int
conn_flush(struct conn *c)
{
	size_t off = 0;
	int r = 0;

	/* during a handshake nothing may go out in plaintext: wait for it */
	if (c->out_len == 0 || c->torn_down || c->tls_state == TLS_HANDSHAKE)
		return 0;
	if (c->tls_state == TLS_ON) {
		while (off < c->out_len) {
			size_t n = c->out_len - off;
			ssize_t sent;

			if (n > TLS_CHUNK)
				n = TLS_CHUNK;
			sent = gnutls_record_send(c->tls, c->out + off, n);
			if (sent < 0) {
				r = POSTA_ETLS;
				break;
			}
			off += (size_t)sent;
		}
		if (r == 0)
			r = cipher_flush(c);
	} else {
		r = raw_write(c, c->out, c->out_len);
	}
	c->out_len = 0;
	/* the data was copied on its way out; idle sessions keep no buffer */
	free(c->out);
	c->out = NULL;
	c->out_cap = 0;
	if (r < 0) {
		/* maybe inside a module's call: close at the end of the turn */
		c->close_reason = r == POSTA_ETLS ? POSTA_ETLS : -ECONNRESET;
		api_conn_close((struct posta_conn *)c);
		return r;
	}
	if (c->in_flight > c->svc->set.write_queue_max && !c->write_blocked) {
		/* the peer is not reading its replies: stop reading its input */
		c->write_blocked = true;
		if (c->reading) {
			uv_read_stop((uv_stream_t *)&c->tcp);
			c->reading = false;
		}
	}
	return 0;
}

void
conn_flush_dirty(struct loop *l)
{
	while (l->dirty != NULL) {
		struct conn *c = l->dirty;

		l->dirty = c->dirty_next;
		c->dirty_next = NULL;
		c->dirty = false;
		if (!c->torn_down) {
			conn_flush(c);
			if (!c->torn_down && c->closing && c->in_flight == 0)
				close_finish(c);
		}
	}
}

static void
dirty_remove(struct conn *c)
{
	struct conn **pp;

	if (!c->dirty)
		return;
	for (pp = &c->loop->dirty; *pp != NULL; pp = &(*pp)->dirty_next) {
		if (*pp == c) {
			*pp = c->dirty_next;
			break;
		}
	}
	c->dirty = false;
}

static int
api_conn_write(struct posta_conn *pc, const void *data, size_t len)
{
	struct conn *c = (struct conn *)pc;

	if (c->closing || c->torn_down)
		return POSTA_ECLOSED;
	if (c->out_len + len > c->out_cap) {
		size_t cap = c->out_cap == 0 ? 1024 : c->out_cap;
		uint8_t *n;

		while (cap < c->out_len + len)
			cap *= 2;
		n = realloc(c->out, cap);
		if (n == NULL)
			return -ENOMEM;
		c->out = n;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, data, len);
	c->out_len += len;
	if (c->out_len >= OUT_FLUSH_AT)
		return conn_flush(c);
	if (!c->dirty) {
		c->dirty = true;
		c->dirty_next = c->loop->dirty;
		c->loop->dirty = c;
	}
	return 0;
}

static size_t
api_conn_write_pending(const struct posta_conn *pc)
{
	const struct conn *c = (const struct conn *)pc;

	return c->out_len + c->in_flight;
}

/* ---- reading ---- */

static void
alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = h->data;

	/* one buffer for every connection: read_cb consumes or stashes all */
	*buf = uv_buf_init((char *)c->loop->read_buf,
	    (unsigned)c->loop->read_buf_size);
}

static void
timer_restart(struct conn *c)
{
	uint64_t ms = c->tls_state == TLS_HANDSHAKE ?
	    c->gen->g.tls_handshake_timeout_ms : c->timeout_ms;

	if (c->torn_down || c->closing)
		return;
	if (ms == 0)
		uv_timer_stop(&c->timer);
	else
		uv_timer_start(&c->timer, timer_cb, ms, 0);
}

static void
read_start(struct conn *c)
{
	if (c->reading || c->torn_down || c->closing || c->write_blocked ||
	    c->eof || c->stash_len > 0)
		return;
	if (uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, conn_read_cb) == 0)
		c->reading = true;
}

static void
read_stop(struct conn *c)
{
	if (!c->reading)
		return;
	uv_read_stop((uv_stream_t *)&c->tcp);
	c->reading = false;
}

static int
stash_keep(struct conn *c, const uint8_t *data, size_t len)
{
	uint8_t *n;

	if (len == 0)
		return 0;
	n = realloc(c->stash, c->stash_len + len);
	if (n == NULL)
		return -ENOMEM;
	memmove(n + c->stash_len, data, len);
	c->stash = n;
	c->stash_len += len;
	read_stop(c);
	return 0;
}

static void
stash_drop(struct conn *c, size_t used)
{
	if (used >= c->stash_len) {
		free(c->stash);
		c->stash = NULL;
		c->stash_len = 0;
	} else {
		memmove(c->stash, c->stash + used, c->stash_len - used);
		c->stash_len -= used;
	}
}

static void tls_handshake_step(struct conn *c);

/*
 * Takes raw input into the line buffer, decrypting when TLS is on.  Returns
 * how many raw bytes were used; the rest waits until there is room.
 */
static size_t
conn_take(struct conn *c, const uint8_t *data, size_t len)
{
	if (c->tls_state == TLS_OFF) {
		size_t room, n;
		uint8_t *p = linebuf_space(&c->in, &room);

		n = len < room ? len : room;
		if (n > 0) {
			memcpy(p, data, n);
			linebuf_commit(&c->in, n);
		}
		return n;
	}
	c->cipher_in = data;
	c->cipher_in_len = len;
	if (c->tls_state == TLS_HANDSHAKE) {
		tls_handshake_step(c);
		if (c->torn_down || c->tls_state != TLS_ON)
			return len - c->cipher_in_len;
	}
	for (;;) {
		size_t room;
		uint8_t *p = linebuf_space(&c->in, &room);
		ssize_t r;

		if (room == 0)
			break;
		r = gnutls_record_recv(c->tls, p, room);
		if (r > 0) {
			linebuf_commit(&c->in, (size_t)r);
			continue;
		}
		if (r == 0) {
			c->eof = true;
			break;
		}
		if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
			break;
		if (!gnutls_error_is_fatal((int)r))
			continue;
		log_core(c->loop, POSTA_LOG_INFO, "tls.read_failed",
		    "session=%s remote=%s error=\"%s\"", c->session_id,
		    c->remote_ip, gnutls_strerror((int)r));
		conn_teardown(c, POSTA_ETLS);
		return len;
	}
	if (c->cipher_out_len > 0)
		cipher_flush(c);	/* e.g. TLS 1.3 key update replies */
	{
		size_t used = len - c->cipher_in_len;

		c->cipher_in = NULL;
		c->cipher_in_len = 0;
		return used;
	}
}

/* Delivers buffered events to the module until it pauses or input ends. */
static void
conn_dispatch(struct conn *c)
{
	struct linebuf_event ev;

	while (!c->torn_down && !c->closing && !c->paused && c->accepted &&
	    c->tls_state != TLS_HANDSHAKE) {
		linebuf_next(&c->in, &ev);
		switch (ev.type) {
		case LINEBUF_NEED_MORE:
			return;
		case LINEBUF_LINE:
			c->h->line(c->hctx, ev.data, ev.len,
			    ev.crlf ? POSTA_LINE_CRLF : 0);
			break;
		case LINEBUF_TOO_LONG:
			c->h->line(c->hctx, NULL, 0, POSTA_LINE_TOO_LONG |
			    (ev.crlf ? POSTA_LINE_CRLF : 0));
			break;
		case LINEBUF_DATA:
			if (c->h->data != NULL)
				c->h->data(c->hctx, ev.data, ev.len, ev.last);
			break;
		}
	}
}

static bool
tls_has_pending(struct conn *c)
{
	return c->tls_state == TLS_ON &&
	    gnutls_record_check_pending(c->tls) > 0;
}

static void
conn_pump(struct conn *c)
{
	while (!c->torn_down) {
		size_t used, before;

		conn_dispatch(c);
		if (c->torn_down || c->closing)
			return;
		if (c->stash_len == 0 && !tls_has_pending(c))
			break;
		before = linebuf_buffered(&c->in);
		used = conn_take(c, c->stash, c->stash_len);
		if (c->torn_down)
			return;
		stash_drop(c, used);
		if (used == 0 && linebuf_buffered(&c->in) == before)
			return;	/* no room until the module goes on */
	}
	/* an idle session keeps no input buffer */
	linebuf_release(&c->in);
	if (c->eof && c->tls_state == TLS_HANDSHAKE) {
		conn_teardown(c, -ECONNRESET);
		return;
	}
	if (c->eof) {
		/* the peer is done sending: answer what it sent, then close */
		if (!c->paused && c->stash_len == 0 &&
		    c->tls_state != TLS_HANDSHAKE && !tls_has_pending(c))
			api_conn_close((struct posta_conn *)c);
		return;
	}
	read_start(c);
}

static void
conn_read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct conn *c = s->data;
	size_t used;

	if (c->torn_down)
		return;
	if (n == 0)
		return;
	if (n < 0) {
		read_stop(c);
		if (n == UV_EOF) {
			c->eof = true;
			conn_pump(c);
		} else {
			conn_teardown(c, -ECONNRESET);
		}
		return;
	}
	/* the handshake has one deadline, however slowly bytes trickle in */
	if (c->tls_state != TLS_HANDSHAKE)
		timer_restart(c);
	used = conn_take(c, (const uint8_t *)buf->base, (size_t)n);
	if (c->torn_down)
		return;
	if (used < (size_t)n &&
	    stash_keep(c, (const uint8_t *)buf->base + used,
	    (size_t)n - used) < 0) {
		conn_teardown(c, -ENOMEM);
		return;
	}
	conn_pump(c);
}

/* ---- TLS ---- */

static void
tls_set_info(struct conn *c)
{
	const char *ver = gnutls_protocol_get_name(
	    gnutls_protocol_get_version(c->tls));
	const char *cipher = gnutls_cipher_get_name(gnutls_cipher_get(c->tls));
	size_t n = 64 + (ver ? strlen(ver) : 0) + (cipher ? strlen(cipher) : 0);

	free(c->tls_info);
	c->tls_info = malloc(n);
	if (c->tls_info != NULL)
		snprintf(c->tls_info, n, "%s cipher=%s", ver ? ver : "TLS",
		    cipher ? cipher : "unknown");
}

static void conn_accept_now(struct conn *c);

static void
tls_handshake_step(struct conn *c)
{
	int r = gnutls_handshake(c->tls);

	if (c->cipher_out_len > 0)
		cipher_flush(c);
	if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
		return;
	if (r < 0) {
		log_core(c->loop, POSTA_LOG_INFO, "tls.handshake_failed",
		    "service=%s session=%s remote=%s error=\"%s\"",
		    c->svc->name, c->session_id, c->remote_ip,
		    gnutls_strerror(r));
		conn_teardown(c, POSTA_ETLS);
		return;
	}
	c->tls_state = TLS_ON;
	tls_set_info(c);
	timer_restart(c);
	/* what the module wrote during the handshake, now encrypted */
	if (c->out_len > 0 && conn_flush(c) < 0)
		return;
	if (!c->accepted) {
		conn_accept_now(c);
	} else if (c->h->tls != NULL) {
		c->h->tls(c->hctx, 0);
	}
	if (!c->torn_down)
		conn_schedule(c);
}

static int
conn_tls_begin(struct conn *c)
{
	int r = tls_session_new(&c->gen->tls, &c->tls);

	if (r < 0)
		return r;
	gnutls_transport_set_ptr(c->tls, c);
	gnutls_transport_set_push_function(c->tls, tls_push);
	gnutls_transport_set_pull_function(c->tls, tls_pull);
	c->tls_state = TLS_HANDSHAKE;
	timer_restart(c);
	return 0;
}

static int
api_conn_starttls(struct posta_conn *pc)
{
	struct conn *c = (struct conn *)pc;
	int r;

	if (c->torn_down || c->closing)
		return POSTA_ECLOSED;
	if (c->tls_state != TLS_OFF)
		return -EALREADY;
	if (c->svc->set.tls != POSTA_TLS_STARTTLS ||
	    c->gen->tls.creds == NULL)
		return POSTA_ENOTLS;
	/* the go-ahead reply leaves in plaintext, before any TLS record */
	r = conn_flush(c);
	if (r < 0)
		return r;
	/* CVE-2011-0411: nothing sent before the handshake may be executed */
	linebuf_discard(&c->in);
	stash_drop(c, c->stash_len);
	r = conn_tls_begin(c);
	if (r < 0)
		return r;
	conn_schedule(c);
	return 0;
}

/* ---- module-facing controls ---- */

static void
api_conn_set_handler(struct posta_conn *pc,
    const struct posta_conn_handler *h, void *ctx)
{
	struct conn *c = (struct conn *)pc;

	c->h = h;
	c->hctx = ctx;
}

static int
api_conn_read_bytes(struct posta_conn *pc, size_t n)
{
	struct conn *c = (struct conn *)pc;

	if (n == 0)
		return -EINVAL;
	linebuf_read_bytes(&c->in, n);
	return 0;
}

static void
api_conn_pause(struct posta_conn *pc)
{
	((struct conn *)pc)->paused = true;
}

static void
api_conn_resume(struct posta_conn *pc)
{
	struct conn *c = (struct conn *)pc;

	if (!c->paused)
		return;
	c->paused = false;
	conn_schedule(c);
}

static void
api_conn_set_timeout(struct posta_conn *pc, uint64_t ms)
{
	struct conn *c = (struct conn *)pc;

	c->timeout_ms = ms;
	if (c->tls_state != TLS_HANDSHAKE)
		timer_restart(c);
}

static void
timer_cb(uv_timer_t *t)
{
	struct conn *c = t->data;

	if (c->torn_down)
		return;
	if (c->tls_state == TLS_HANDSHAKE) {
		log_core(c->loop, POSTA_LOG_INFO, "tls.handshake_timeout",
		    "service=%s session=%s remote=%s", c->svc->name,
		    c->session_id, c->remote_ip);
		conn_teardown(c, -ETIMEDOUT);
		return;
	}
	if (c->closing) {
		/* a peer that does not read our last words */
		conn_teardown(c, -ETIMEDOUT);
		return;
	}
	if (c->accepted && c->h != NULL && c->h->timeout != NULL) {
		c->close_reason = -ETIMEDOUT;
		c->h->timeout(c->hctx);
		return;
	}
	conn_teardown(c, -ETIMEDOUT);
}

static void
api_conn_close(struct posta_conn *pc)
{
	struct conn *c = (struct conn *)pc;

	if (c->closing || c->torn_down)
		return;
	c->closing = true;
	read_stop(c);
	/* bound the time a peer that never reads can keep us */
	uv_timer_start(&c->timer, timer_cb, 30000, 0);
	/*
	 * Never tear down inside the module's own call: its close handler
	 * would free the session under its feet.  The flush at the end of
	 * this loop turn finishes the close.
	 */
	if (!c->dirty) {
		c->dirty = true;
		c->dirty_next = c->loop->dirty;
		c->loop->dirty = c;
	}
}

/* Output is flushed: say goodbye at the TLS layer, then close. */
static void
close_finish(struct conn *c)
{
	if (c->tls_state == TLS_ON && !c->bye_sent) {
		c->bye_sent = true;
		gnutls_bye(c->tls, GNUTLS_SHUT_WR);
		if (c->cipher_out_len > 0 && cipher_flush(c) == 0 &&
		    c->in_flight > 0)
			return;	/* write_cb comes back here */
	}
	conn_release(c, c->close_reason, true);
}

/*
 * Lingering close.  Closing a socket with unread input makes the kernel
 * send RST, and an RST can overtake our last words (a BYE, a 421) in the
 * peer's receive queue; a pipelining client then sees a reset instead of
 * the reason.  So after a graceful close we send FIN and discard what the
 * peer still sends until its EOF, for a bounded time and amount.
 */
#define LINGER_MS	2000
#define LINGER_BYTES	(1024 * 1024)

static void
linger_end(struct conn *c)
{
	if (!c->lingering)
		return;
	c->lingering = false;
	uv_read_stop((uv_stream_t *)&c->tcp);
	uv_close((uv_handle_t *)&c->tcp, handle_closed);
	uv_close((uv_handle_t *)&c->timer, handle_closed);
}

static void
linger_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = h->data;

	(void)suggested;
	*buf = uv_buf_init((char *)c->loop->read_buf,
	    (unsigned)c->loop->read_buf_size);
}

static void
linger_read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct conn *c = s->data;

	(void)buf;
	if (n < 0)
		linger_end(c);
	else if ((c->linger_bytes += (size_t)n) > LINGER_BYTES)
		linger_end(c);
}

static void
linger_timer_cb(uv_timer_t *t)
{
	linger_end(t->data);
}

static void
linger_shutdown_cb(uv_shutdown_t *req, int status)
{
	struct conn *c = req->data;

	free(req);
	/* ECANCELED comes from our own uv_close: nothing left to do */
	if (status < 0 && status != UV_ECANCELED)
		linger_end(c);
}

static bool
linger_start(struct conn *c)
{
	uv_shutdown_t *req;

	if (c->eof || c->loop->stopping)
		return false;
	req = malloc(sizeof(*req));
	if (req == NULL)
		return false;
	req->data = c;
	if (uv_shutdown(req, (uv_stream_t *)&c->tcp, linger_shutdown_cb) < 0) {
		free(req);
		return false;
	}
	c->lingering = true;
	c->linger_bytes = 0;
	if (uv_read_start((uv_stream_t *)&c->tcp, linger_alloc_cb,
	    linger_read_cb) < 0) {
		/* the shutdown request is cancelled by the close */
		linger_end(c);
		return true;
	}
	uv_timer_start(&c->timer, linger_timer_cb, LINGER_MS, 0);
	return true;
}

/* ---- teardown ---- */

static void
handle_closed(uv_handle_t *h)
{
	struct conn *c = h->data;
	struct loop *l = c->loop;

	if (--c->open_handles > 0)
		return;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		l->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	l->n_conns--;
	gen_unref(&c->gen);
	free(c);
	if (l->stopping && l->n_conns == 0)
		uv_stop(l->uv);
}

static void
conn_teardown(struct conn *c, int reason)
{
	conn_release(c, reason, false);
}

/* Ends the session; with linger, the socket outlives it briefly. */
static void
conn_release(struct conn *c, int reason, bool linger)
{
	struct conn_req *r;

	if (c->torn_down)
		return;
	c->torn_down = true;
	c->closing = true;
	ready_remove(c);
	dirty_remove(c);
	read_stop(c);
	uv_timer_stop(&c->timer);
	while ((r = c->reqs) != NULL) {
		c->reqs = r->next;
		r->conn = NULL;
		r->next = r->prev = NULL;
		if (r->cancel != NULL)
			r->cancel(r);
	}
	if (c->accepted && c->h != NULL)
		c->h->close(c->hctx, reason);
	hook_run_logout(c);
	if (c->connect_hooks_ran)
		hook_run_close(c);
	log_core(c->loop, POSTA_LOG_DEBUG, "conn.close",
	    "service=%s session=%s remote=%s reason=\"%s\"", c->svc->name,
	    c->session_id, c->remote_ip, posta_strerror(reason));
	if (c->tls != NULL)
		gnutls_deinit(c->tls);
	c->tls = NULL;
	linebuf_deinit(&c->in);
	free(c->stash);
	free(c->out);
	free(c->cipher_out);
	free(c->tls_info);
	free(c->user);
	free(c->data);
	c->stash = c->out = c->cipher_out = NULL;
	c->tls_info = c->user = NULL;
	c->data = NULL;
	if (linger && linger_start(c))
		return;
	uv_close((uv_handle_t *)&c->tcp, handle_closed);
	uv_close((uv_handle_t *)&c->timer, handle_closed);
}

void
conn_req_attach(struct conn *c, struct conn_req *r)
{
	r->conn = c;
	r->prev = NULL;
	r->next = c->reqs;
	if (c->reqs != NULL)
		c->reqs->prev = r;
	c->reqs = r;
}

void
conn_req_detach(struct conn_req *r)
{
	struct conn *c = r->conn;

	if (c == NULL)
		return;
	if (r->prev != NULL)
		r->prev->next = r->next;
	else
		c->reqs = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
	r->conn = NULL;
	r->next = r->prev = NULL;
}

/* ---- accept ---- */

static void
conn_accept_now(struct conn *c)
{
	int r;

	if (c->refused || c->loop->stopping) {
		if (!c->refused) {
			c->refusal.code = POSTA_REFUSE_SHUTDOWN;
			c->refusal.text = "Server shutting down";
		}
		c->proto->proto->refuse(c->proto->state,
		    (struct posta_conn *)c, c->refusal.code,
		    c->refusal.text != NULL ? c->refusal.text :
		    "Connection refused");
		api_conn_close((struct posta_conn *)c);
		return;
	}
	c->accepted = true;
	r = c->proto->proto->accept(c->proto->state, (struct posta_conn *)c);
	if (r < 0 || c->h == NULL) {
		c->accepted = c->h != NULL;
		if (!c->torn_down)
			conn_teardown(c, r < 0 ? r : -EINVAL);
	}
}

void
conn_accept(struct loop *l, struct listener *ln)
{
	const struct service *svc = gen_service(l->gen, ln->service_name);
	struct conn *c;
	int len, r;

	c = calloc(1, sizeof(*c));
	if (c == NULL || svc == NULL || svc->module == NULL) {
		uv_tcp_t tmp;

		free(c);
		/* accept and drop, so the listen queue does not fill */
		if (uv_tcp_init(l->uv, &tmp) == 0) {
			if (uv_accept((uv_stream_t *)&ln->tcp,
			    (uv_stream_t *)&tmp) == 0)
				uv_tcp_close_reset(&tmp, NULL);
			else
				uv_close((uv_handle_t *)&tmp, NULL);
		}
		return;
	}
	c->obj.api = &core_host_api;
	c->loop = l;
	c->gen = gen_ref(l->gen);
	c->svc = svc;
	uv_tcp_init(l->uv, &c->tcp);
	uv_timer_init(l->uv, &c->timer);
	c->tcp.data = c;
	c->timer.data = c;
	c->open_handles = 2;
	c->next = l->conns;
	if (l->conns != NULL)
		l->conns->prev = c;
	l->conns = c;
	l->n_conns++;
	c->proto = NULL;
	{
		struct protocol_reg *p;

		for (p = l->protocols; p != NULL; p = p->next)
			if (strcmp(p->proto->name, svc->set.protocol) == 0)
				c->proto = p;
	}
	{
		/* odd multiplier: a bijection on 32 bits, so ids never repeat
		 * within 2^32 sessions yet do not look like a counter */
		uint32_t x = (uint32_t)(++l->session_counter) ^
		    (uint32_t)l->session_salt;

		snprintf(c->session_id, sizeof(c->session_id), "%08x",
		    (unsigned)(x * 0x9E3779B1u));
	}
	if (uv_accept((uv_stream_t *)&ln->tcp, (uv_stream_t *)&c->tcp) < 0 ||
	    c->proto == NULL ||
	    linebuf_init(&c->in, svc->set.max_line_length) < 0) {
		c->torn_down = true;
		uv_close((uv_handle_t *)&c->tcp, handle_closed);
		uv_close((uv_handle_t *)&c->timer, handle_closed);
		return;
	}
	c->data = calloc(l->n_modules + 1, sizeof(void *));
	len = sizeof(c->remote);
	uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&c->remote, &len);
	len = sizeof(c->local);
	uv_tcp_getsockname(&c->tcp, (struct sockaddr *)&c->local, &len);
	if (c->remote.ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (void *)&c->remote;

		/* a v4 client on a dual-stack socket is counted as v4 */
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
			inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12],
			    c->remote_ip, sizeof(c->remote_ip));
		else
			inet_ntop(AF_INET6, &s6->sin6_addr, c->remote_ip,
			    sizeof(c->remote_ip));
	} else {
		inet_ntop(AF_INET, &((struct sockaddr_in *)&c->remote)->sin_addr,
		    c->remote_ip, sizeof(c->remote_ip));
	}
	uv_tcp_nodelay(&c->tcp, 1);
	c->timeout_ms = svc->set.idle_timeout_ms;
	log_core(l, POSTA_LOG_DEBUG, "conn.open", "service=%s session=%s "
	    "remote=%s", svc->name, c->session_id, c->remote_ip);
	if (c->data == NULL) {
		conn_teardown(c, -ENOMEM);
		return;
	}
	c->connect_hooks_ran = true;
	if (hook_run_connect(c, &c->refusal) != POSTA_HOOK_CONTINUE)
		c->refused = true;
	if (svc->set.tls == POSTA_TLS_IMPLICIT) {
		r = conn_tls_begin(c);
		if (r < 0) {
			conn_teardown(c, r);
			return;
		}
	} else {
		timer_restart(c);
		conn_accept_now(c);
		if (c->torn_down)
			return;
	}
	read_start(c);
}

/*
 * Shutdown.  Without force, only connections still waiting for their
 * greeting are closed; with force (grace period over) every session ends
 * with -ECANCELED so modules and hooks release what they hold.
 */
void
conn_shutdown_all(struct loop *l, bool force)
{
	struct conn *c, *next;

	for (c = l->conns; c != NULL; c = next) {
		next = c->next;
		if (c->lingering) {
			linger_end(c);
			continue;
		}
		if (c->torn_down)
			continue;
		if (force || !c->accepted)
			conn_teardown(c, -ECANCELED);
		else if (!c->closing && c->h != NULL && c->h->shutdown != NULL)
			/* a signal callback, not a module's call: safe; the
			   module closes asynchronously, never under our feet */
			c->h->shutdown(c->hctx);
	}
}

/* ---- facts ---- */

static const char *
api_conn_protocol(const struct posta_conn *pc)
{
	return ((const struct conn *)pc)->svc->set.protocol;
}

static const char *
api_conn_service(const struct posta_conn *pc)
{
	return ((const struct conn *)pc)->svc->name;
}

static const char *
api_conn_session_id(const struct posta_conn *pc)
{
	return ((const struct conn *)pc)->session_id;
}

static const char *
api_conn_remote_ip(const struct posta_conn *pc)
{
	return ((const struct conn *)pc)->remote_ip;
}

static const struct sockaddr *
api_conn_remote_addr(const struct posta_conn *pc)
{
	return (const struct sockaddr *)&((const struct conn *)pc)->remote;
}

static const struct sockaddr *
api_conn_local_addr(const struct posta_conn *pc)
{
	return (const struct sockaddr *)&((const struct conn *)pc)->local;
}

static enum posta_tls_mode
api_conn_tls_mode(const struct posta_conn *pc)
{
	return (enum posta_tls_mode)((const struct conn *)pc)->svc->set.tls;
}

static bool
api_conn_is_tls(const struct posta_conn *pc)
{
	return ((const struct conn *)pc)->tls_state == TLS_ON;
}

static const char *
api_conn_tls_info(const struct posta_conn *pc)
{
	const struct conn *c = (const struct conn *)pc;

	return c->tls_state == TLS_ON ? c->tls_info : NULL;
}

static bool
api_conn_plaintext_auth_allowed(const struct posta_conn *pc)
{
	const struct conn *c = (const struct conn *)pc;

	return c->tls_state == TLS_ON || c->svc->set.allow_plaintext_auth;
}

static const char *
api_conn_user(const struct posta_conn *pc)
{
	return ((const struct conn *)pc)->user;
}

void
conn_set_user(struct conn *c, const char *user)
{
	char *u = strdup(user);

	if (u == NULL)
		return;
	free(c->user);
	c->user = u;
}

static void *
api_conn_get_data(const struct posta_conn *pc, const struct posta_host *h)
{
	const struct conn *c = (const struct conn *)pc;
	const struct module *m = (const struct module *)h;

	return c->data != NULL ? c->data[m->index] : NULL;
}

static void
api_conn_set_data(struct posta_conn *pc, const struct posta_host *h,
    void *data)
{
	struct conn *c = (struct conn *)pc;
	const struct module *m = (const struct module *)h;

	if (c->data != NULL)
		c->data[m->index] = data;
}

static struct posta_host *
api_conn_host(const struct posta_conn *pc)
{
	const struct conn *c = (const struct conn *)pc;

	return (struct posta_host *)c->proto->owner;
}

void
conn_log_fields(const struct conn *c, char *buf, size_t size)
{
	char q[200];

	if (c->user != NULL)
		snprintf(buf, size, "service=%s remote=%s session=%s user=%s",
		    c->svc->name, c->remote_ip, c->session_id,
		    posta_log_quote(q, sizeof(q), c->user));
	else
		snprintf(buf, size, "service=%s remote=%s session=%s",
		    c->svc->name, c->remote_ip, c->session_id);
}

/* ---- the host table ---- */

const struct posta_host_api core_host_api = {
	.size = sizeof(struct posta_host_api),
	.logv = log_host_v,
	.log_enabled = log_host_enabled,
	.loop = host_loop,
	.state_dir = host_state_dir,
	.hostname = host_hostname,
	.register_protocol = host_register_protocol,
	.register_auth = host_register_auth,
	.register_store = host_register_store,
	.register_hooks = host_register_hooks,
	.resolve = host_resolve,
	.store = host_store,
	.conn_set_handler = api_conn_set_handler,
	.conn_write = api_conn_write,
	.conn_write_pending = api_conn_write_pending,
	.conn_read_bytes = api_conn_read_bytes,
	.conn_pause = api_conn_pause,
	.conn_resume = api_conn_resume,
	.conn_set_timeout = api_conn_set_timeout,
	.conn_starttls = api_conn_starttls,
	.conn_close = api_conn_close,
	.conn_protocol = api_conn_protocol,
	.conn_service = api_conn_service,
	.conn_session_id = api_conn_session_id,
	.conn_remote_ip = api_conn_remote_ip,
	.conn_remote_addr = api_conn_remote_addr,
	.conn_local_addr = api_conn_local_addr,
	.conn_tls_mode = api_conn_tls_mode,
	.conn_is_tls = api_conn_is_tls,
	.conn_tls_info = api_conn_tls_info,
	.conn_plaintext_auth_allowed = api_conn_plaintext_auth_allowed,
	.conn_user = api_conn_user,
	.conn_get_data = api_conn_get_data,
	.conn_set_data = api_conn_set_data,
	.conn_host = api_conn_host,
	.conn_login = auth_conn_login,
	.conn_resolve = auth_conn_resolve,
	.register_queue = host_register_queue,
	.queue = host_queue,
};
