/* smtp_cmd_data.c: DATA and BDAT: bytes into the sink, the final reply */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "smtp_session.h"

/*
 * Both DATA (dot-stuffed lines, smtp_data.h) and BDAT (exact chunks)
 * end up in message_bytes(), which gathers the message in tx->fill.
 * Once SMTP_CHUNK bytes are there, fill and out swap and out goes to the
 * sink while fill takes more; if fill is full again before the sink is
 * done, input pauses (flow control), so a session holds at most two
 * chunks plus one line or core read.  The trace fields (Return-Path,
 * Received) are the sink's prefixes; Date and Message-ID (submission
 * only) go where the header section ends, which is why nothing is
 * written to the sink until the header scan has found that end or given
 * up after SMTP_CHUNK bytes (a header that large gets no added fields).
 */

static const struct smtp_status st_need_mail = { 503, "5.5.1",
	"Need MAIL command" };
static const struct smtp_status st_no_rcpt = { 554, "5.5.1",
	"No valid recipients" };
static const struct smtp_status st_data_after_bdat = { 503, "5.5.1",
	"DATA not permitted after BDAT" };
static const struct smtp_status st_binary = { 503, "5.5.1",
	"BODY=BINARYMIME requires BDAT" };
static const struct smtp_status st_need_ehlo = { 503, "5.5.1",
	"Send EHLO first" };
static const struct smtp_status st_nomem = { 451, "4.3.0",
	"Out of memory, try again" };

static void do_finish(struct smtp_session *s);

/* ---- the sink's envelope and prefixes ---- */

static int
make_prefixes(struct smtp_session *s, struct smtp_txn *tx,
    const char **local_r, const char **queue_r)
{
	char date[SMTP_TRACE_DATE_MAX], recv[2048], rp[1024];
	struct smtp_received r;
	time_t now = time(NULL);
	struct tm tm;

	if (localtime_r(&now, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	if (smtp_trace_date((int64_t)now, tm.tm_gmtoff, date,
	    sizeof(date)) < 0)
		return -EINVAL;
	memset(&r, 0, sizeof(r));
	r.helo = s->helo[0] != '\0' ? s->helo : NULL;
	r.ip = posta_conn_remote_ip(s->conn);
	r.by = posta_host_hostname(s->eng->host);
	r.with = smtp_trace_with(s->esmtp, posta_conn_is_tls(s->conn),
	    smtp_authed(s), tx->smtputf8);
	r.id = tx->id;
	r.tls = posta_conn_tls_info(s->conn);
	r.rcpt = tx->n_rcpts == 1 ? tx->first_rcpt : NULL;
	r.date = date;
	r.utf8 = tx->smtputf8;
	if (smtp_trace_received(&r, recv, sizeof(recv)) < 0 ||
	    smtp_trace_return_path(tx->sender, rp, sizeof(rp)) < 0)
		return -ENOSPC;
	*queue_r = arena_strdup(tx->a, recv);
	*local_r = arena_printf(tx->a, "%s%s", rp, recv);
	return *queue_r != NULL && *local_r != NULL ? 0 : -ENOMEM;
}

static enum posta_queue_ret
queue_ret(enum smtp_ret r)
{
	switch (r) {
	case SMTP_RET_FULL:
		return POSTA_QUEUE_RET_FULL;
	case SMTP_RET_HDRS:
		return POSTA_QUEUE_RET_HDRS;
	default:
		return POSTA_QUEUE_RET_DEFAULT;
	}
}

static unsigned
queue_notify(unsigned n)
{
	return ((n & SMTP_NOTIFY_NEVER) ? POSTA_QUEUE_NOTIFY_NEVER : 0) |
	    ((n & SMTP_NOTIFY_SUCCESS) ? POSTA_QUEUE_NOTIFY_SUCCESS : 0) |
	    ((n & SMTP_NOTIFY_FAILURE) ? POSTA_QUEUE_NOTIFY_FAILURE : 0) |
	    ((n & SMTP_NOTIFY_DELAY) ? POSTA_QUEUE_NOTIFY_DELAY : 0);
}

static int
start_sink(struct smtp_session *s, smtp_sink_cb *cb)
{
	struct smtp_txn *tx = s->tx;
	struct smtp_envelope env;
	size_t i;
	int ret;

	memset(&env, 0, sizeof(env));
	ret = make_prefixes(s, tx, &env.local_prefix, &env.queue_prefix);
	if (ret < 0)
		return ret;
	for (i = 0; i < tx->n_external; i++)
		tx->external[i].notify = queue_notify(tx->external[i].notify);
	env.id = tx->id;
	env.sender = tx->sender;
	env.envid = tx->envid;
	env.ret = queue_ret(tx->ret);
	env.smtputf8 = tx->smtputf8;
	env.eightbit = tx->body == SMTP_BODY_8BITMIME;
	env.auth_user = posta_conn_user(s->conn);
	env.client = arena_printf(tx->a, "[%s]", posta_conn_remote_ip(s->conn));
	env.n_accounts = tx->n_accounts;
	env.accounts = tx->accounts;
	env.n_external = tx->n_external;
	env.external = tx->external;
	if (env.client == NULL)
		return -ENOMEM;
	tx->octets = 0;
	tx->scanning = s->policy->add_missing_headers;
	smtp_hdrscan_init(&tx->hs);
	return smtp_sink_new(s->eng->host, &env, cb, s, &tx->sink);
}

/* ---- buffering and writing ---- */

static int
buf_append(struct smtp_buf *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : SMTP_CHUNK + 8192;
		uint8_t *np;

		while (cap < b->len + n)
			cap *= 2;
		np = realloc(b->p, cap);
		if (np == NULL)
			return -ENOMEM;
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

/* The sink failed (or cannot be had): drop the rest of the message. */
static void
fail_sink(struct smtp_session *s, int err)
{
	struct smtp_txn *tx = s->tx;

	if (tx->sink_err == 0)
		tx->sink_err = err;
	smtp_sink_cancel(&tx->sink);
	tx->fill.len = 0;
	tx->scanning = false;
	if (s->flow_paused)
		smtp_flow_pause(s, false);
	posta_conn_log(s->conn, POSTA_LOG_WARN, "smtp.store_failed",
	    "id=%s error=\"%s\"", tx->id, posta_strerror(err));
}

static void
insert_fields(struct smtp_session *s)
{
	struct smtp_txn *tx = s->tx;
	char date[SMTP_TRACE_DATE_MAX], msgid[600], fields[800];
	uint64_t rnd = 0;
	time_t now = time(NULL);
	struct tm tm;
	size_t off = (size_t)tx->hs.end_off;
	int n;

	tx->scanning = false;
	if (tx->hs.has_date && tx->hs.has_msgid)
		return;
	if (localtime_r(&now, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
		rnd ^= (uint64_t)now * 0x9E3779B97F4A7C15u ^ (uintptr_t)tx;
	if (smtp_trace_date((int64_t)now, tm.tm_gmtoff, date,
	    sizeof(date)) < 0 ||
	    smtp_trace_msgid((int64_t)now, rnd, tx->id,
	    posta_host_hostname(s->eng->host), msgid, sizeof(msgid)) < 0)
		return;
	n = smtp_hdrscan_fields(&tx->hs, date, msgid, fields, sizeof(fields));
	/* the scan saw every byte in fill and nothing left it yet */
	if (n <= 0 || off > tx->fill.len)
		return;
	if (buf_append(&tx->fill, fields, (size_t)n) < 0) {
		fail_sink(s, -ENOMEM);
		return;
	}
	memmove(tx->fill.p + off + (size_t)n, tx->fill.p + off,
	    tx->fill.len - (size_t)n - off);
	memcpy(tx->fill.p + off, fields, (size_t)n);
}

static void
message_bytes(struct smtp_session *s, const void *p, size_t n)
{
	struct smtp_txn *tx = s->tx;

	tx->octets += n;
	if (tx->sink_err != 0 || n == 0)
		return;
	if (buf_append(&tx->fill, p, n) < 0) {
		fail_sink(s, -ENOMEM);
		return;
	}
	if (tx->scanning && smtp_hdrscan_feed(&tx->hs, p, n))
		insert_fields(s);
}

static void write_piece(struct smtp_session *s);

static void
after_write(struct smtp_session *s)
{
	struct smtp_txn *tx = s->tx;

	if (tx->sink_err != 0) {
		if (tx->ended) {
			smtp_busy(s, false);
			smtp_reply_status(s,
			    smtp_sink_error_status(tx->sink_err));
			smtp_txn_free(s);
		}
		return;
	}
	if (tx->fill.len >= SMTP_CHUNK || (tx->ended && tx->fill.len > 0)) {
		struct smtp_buf t = tx->out;

		tx->out = tx->fill;
		tx->fill = t;
		tx->fill.len = 0;
		tx->out.off = 0;
		if (s->flow_paused)
			smtp_flow_pause(s, false);
		write_piece(s);
		return;
	}
	if (s->flow_paused)
		smtp_flow_pause(s, false);
	if (tx->ended)
		do_finish(s);
}

static void
written(void *ctx, int err)
{
	struct smtp_session *s = ctx;
	struct smtp_txn *tx = s->tx;

	tx->writing = false;
	if (err != 0) {
		tx->sink = NULL;	/* a failed sink is gone */
		fail_sink(s, err);
		after_write(s);
		return;
	}
	if (tx->out.off < tx->out.len) {
		write_piece(s);
		return;
	}
	tx->out.len = tx->out.off = 0;
	after_write(s);
}

static void
write_piece(struct smtp_session *s)
{
	struct smtp_txn *tx = s->tx;
	size_t n = tx->out.len - tx->out.off;
	int ret;

	if (n > SMTP_SINK_WRITE_MAX)
		n = SMTP_SINK_WRITE_MAX;
	ret = smtp_sink_write(tx->sink, tx->out.p + tx->out.off, n, written,
	    s);
	if (ret < 0) {
		fail_sink(s, ret);
		after_write(s);
		return;
	}
	tx->out.off += n;
	tx->writing = true;
}

static void
maybe_flush(struct smtp_session *s)
{
	struct smtp_txn *tx = s->tx;

	if (tx->sink_err != 0)
		return;
	if (tx->scanning) {
		if (tx->fill.len < SMTP_CHUNK)
			return;
		/* no end of header in sight: add nothing */
		tx->scanning = false;
		posta_conn_log(s->conn, POSTA_LOG_DEBUG, "smtp.header_long",
		    "id=%s", tx->id);
	}
	if (tx->fill.len < SMTP_CHUNK)
		return;
	if (tx->writing) {
		smtp_flow_pause(s, true);
		return;
	}
	after_write(s);
}

/* ---- the end of a message ---- */

static void
finished(void *ctx, const struct smtp_status *st)
{
	struct smtp_session *s = ctx;
	struct smtp_txn *tx = s->tx;
	char q[300];

	tx->sink = NULL;	/* freed after this callback */
	smtp_busy(s, false);
	if (st->code == 250) {
		posta_conn_log(s->conn, POSTA_LOG_INFO, "smtp.accepted",
		    "id=%s from=%s rcpts=%zu size=%llu", tx->id,
		    posta_log_quote(q, sizeof(q), tx->sender), tx->n_rcpts,
		    (unsigned long long)tx->octets);
		smtp_reply(s, 250, st->enhanced, "%s as %s", st->text, tx->id);
		s->junk = 0;
	} else {
		posta_conn_log(s->conn, POSTA_LOG_INFO, "smtp.refused",
		    "id=%s code=%u", tx->id, st->code);
		smtp_reply_status(s, st);
	}
	smtp_txn_free(s);
}

static void
do_finish(struct smtp_session *s)
{
	struct smtp_txn *tx = s->tx;
	int ret;

	ret = smtp_sink_finish(tx->sink, finished, s);
	if (ret < 0) {
		fail_sink(s, ret);
		smtp_busy(s, false);
		smtp_reply_status(s, smtp_sink_error_status(ret));
		smtp_txn_free(s);
	}
}

/* fail: the reader's verdict when the message itself is refused */
static void
end_message(struct smtp_session *s, const struct smtp_status *fail)
{
	struct smtp_txn *tx = s->tx;

	smtp_mode_cmd(s);
	if (fail != NULL) {
		posta_conn_log(s->conn, POSTA_LOG_INFO, "smtp.refused",
		    "id=%s code=%u octets=%llu", tx->id, fail->code,
		    (unsigned long long)tx->octets);
		smtp_reply_status(s, fail);
		smtp_txn_free(s);
		return;
	}
	if (tx->sink_err != 0) {
		smtp_reply_status(s, smtp_sink_error_status(tx->sink_err));
		smtp_txn_free(s);
		return;
	}
	if (tx->scanning) {
		smtp_hdrscan_finish(&tx->hs);
		insert_fields(s);
	}
	tx->ended = true;
	smtp_busy(s, true);
	if (!tx->writing)
		after_write(s);
}

/* ---- DATA ---- */

static void
data_ready(void *ctx, int err)
{
	struct smtp_session *s = ctx;
	struct smtp_txn *tx = s->tx;
	struct smtp_data_opts o;

	smtp_busy(s, false);
	if (err != 0) {
		tx->sink = NULL;
		smtp_reply_status(s, smtp_sink_error_status(err));
		smtp_txn_free(s);
		return;
	}
	tx->sink_ready = true;
	smtp_data_opts_init(&o);
	o.max_size = tx->max_size;
	o.max_line_len = (size_t)s->set.max_text_line_length;
	o.reject_bare_lf = s->set.reject_bare_lf;
	o.reject_bare_cr = s->set.reject_bare_cr;
	smtp_data_init(&tx->dr, &o);
	s->mode = SMTP_MODE_DATA;
	posta_conn_set_timeout(s->conn, s->set.data_timeout_ms);
	smtp_reply(s, 354, NULL, "End data with <CR><LF>.<CR><LF>");
}

void
smtp_cmd_data(struct smtp_session *s)
{
	struct smtp_txn *tx = s->tx;
	int ret;

	if (tx == NULL) {
		smtp_reply_status(s, &st_need_mail);
		return;
	}
	if (tx->bdat) {
		smtp_reply_status(s, &st_data_after_bdat);
		return;
	}
	if (tx->n_rcpts == 0) {
		smtp_reply_status(s, &st_no_rcpt);
		return;
	}
	if (tx->body == SMTP_BODY_BINARYMIME) {
		smtp_reply_status(s, &st_binary);
		return;
	}
	ret = start_sink(s, data_ready);
	if (ret < 0) {
		smtp_reply_status(s, ret == -ENOMEM ? &st_nomem :
		    smtp_sink_error_status(ret));
		smtp_txn_free(s);
		return;
	}
	smtp_busy(s, true);
}

void
smtp_data_line(struct smtp_session *s, const uint8_t *line, size_t len,
    unsigned flags)
{
	struct smtp_txn *tx = s->tx;
	bool crlf = (flags & POSTA_LINE_CRLF) != 0;
	struct smtp_data_out out;
	int r;

	if (flags & POSTA_LINE_TOO_LONG) {
		smtp_data_feed_too_long(&tx->dr, crlf);
		return;
	}
	r = smtp_data_feed(&tx->dr, line, len, crlf, &out);
	if (r == SMTP_DATA_END) {
		end_message(s, tx->dr.result == SMTP_DATA_OK ? NULL :
		    smtp_data_status(tx->dr.result));
		return;
	}
	if (r < 0) {
		end_message(s, &st_nomem);
		return;
	}
	message_bytes(s, out.data, out.len);
	if (out.eol)
		message_bytes(s, "\r\n", 2);
	maybe_flush(s);
}

/* ---- BDAT ---- */

/* A chunk with nowhere to go: read it in full, then answer st. */
static void
bdat_drop(struct smtp_session *s, uint64_t size,
    const struct smtp_status *st)
{
	if (size == 0) {
		smtp_reply_status(s, st);
		return;
	}
	s->dropping = true;
	s->drop_reply = st;
	s->mode = SMTP_MODE_BDAT;
	posta_conn_set_timeout(s->conn, s->set.data_timeout_ms);
	posta_conn_read_bytes(s->conn, (size_t)size);
}

static void
chunk_done(struct smtp_session *s)
{
	struct smtp_txn *tx = s->tx;

	if (tx->bd.result != SMTP_DATA_OK) {
		end_message(s, smtp_data_status(tx->bd.result));
		return;
	}
	if (smtp_bdat_done(&tx->bd)) {
		end_message(s, NULL);
		return;
	}
	smtp_mode_cmd(s);
	if (tx->sink_err != 0) {
		/* RFC 3030 4.2: after a failed chunk, no more of this one */
		smtp_reply_status(s, smtp_sink_error_status(tx->sink_err));
		smtp_txn_free(s);
		return;
	}
	maybe_flush(s);
	smtp_reply(s, 250, "2.0.0", "%llu octets received",
	    (unsigned long long)s->cmd.bdat.size);
}

static void
bdat_ready(void *ctx, int err)
{
	struct smtp_session *s = ctx;
	struct smtp_txn *tx = s->tx;
	bool in_chunk = tx->bd.in_chunk;

	smtp_busy(s, false);
	if (err != 0) {
		tx->sink = NULL;
		smtp_txn_free(s);
		if (in_chunk) {
			s->dropping = true;
			s->drop_reply = smtp_sink_error_status(err);
		} else {
			smtp_mode_cmd(s);
			smtp_reply_status(s, smtp_sink_error_status(err));
		}
		return;
	}
	tx->sink_ready = true;
	if (!in_chunk)
		chunk_done(s);	/* a zero-length first chunk */
}

void
smtp_cmd_bdat(struct smtp_session *s)
{
	struct smtp_txn *tx = s->tx;
	uint64_t size = s->cmd.bdat.size;
	const struct smtp_status *st = NULL;
	bool first;
	int ret;

	if (!s->esmtp)
		st = &st_need_ehlo;
	else if (tx == NULL)
		st = &st_need_mail;
	else if (tx->n_rcpts == 0)
		st = &st_no_rcpt;
	if (st != NULL) {
		bdat_drop(s, size, st);
		return;
	}
	if ((uint64_t)(size_t)size != size) {
		smtp_txn_free(s);
		bdat_drop(s, size, smtp_data_status(SMTP_DATA_TOO_BIG));
		return;
	}
	first = !tx->bdat;
	if (first) {
		tx->bdat = true;
		smtp_bdat_init(&tx->bd, tx->max_size);
		ret = start_sink(s, bdat_ready);
		if (ret < 0) {
			st = ret == -ENOMEM ? &st_nomem :
			    smtp_sink_error_status(ret);
			smtp_txn_free(s);
			bdat_drop(s, size, st);
			return;
		}
		smtp_busy(s, true);
	}
	if (smtp_bdat_begin(&tx->bd, size, s->cmd.bdat.last) < 0) {
		/* cannot happen: LAST ends the transaction */
		smtp_txn_free(s);
		bdat_drop(s, size, &st_need_mail);
		return;
	}
	s->mode = SMTP_MODE_BDAT;
	posta_conn_set_timeout(s->conn, s->set.data_timeout_ms);
	if (size > 0)
		posta_conn_read_bytes(s->conn, (size_t)size);
	else if (!first)
		chunk_done(s);
	/* else bdat_ready finishes the empty first chunk */
}

void
smtp_bdat_bytes(struct smtp_session *s, const uint8_t *data, size_t len,
    bool last)
{
	struct smtp_txn *tx = s->tx;
	struct smtp_data_out out;
	int r;

	if (s->dropping) {
		if (last) {
			s->dropping = false;
			smtp_mode_cmd(s);
			smtp_reply_status(s, s->drop_reply);
		}
		return;
	}
	r = smtp_bdat_feed(&tx->bd, data, len, &out);
	if (r < 0) {
		/* the core and the counter disagree: cannot go on */
		smtp_close_421(s, "4.3.0", "Internal error, closing");
		return;
	}
	message_bytes(s, out.data, out.len);
	if (r == 1)
		chunk_done(s);
	else
		maybe_flush(s);
}
