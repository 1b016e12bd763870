/* pop3_cmd_retr.c: RETR and TOP, streamed from the store in bounded chunks */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <posta/posta.h>

#include "pop3.h"

/* Encoder output for one store read of n bytes, plus the terminator. */
#define STREAM_BUF_SIZE(n)	(POP3_DOT_OUT_MAX(n) + POP3_DOT_FINISH_MAX)

static void stream_read(struct pop3_session *s);

void
pop3_stream_free(struct pop3_session *s)
{
	/* a read still out gets -ECANCELED and drops its own reference */
	posta_msg_close(&s->st.reader);
	free(s->st.buf);
	s->st.buf = NULL;
	s->st.wait_drain = false;
}

static void
stream_end(struct pop3_session *s)
{
	size_t n = pop3_dot_finish(&s->st.dot, s->st.buf);

	pop3_write(s, s->st.buf, n);
	pop3_stream_free(s);
	pop3_op_done(s);
}

/*
 * A failure after "+OK" cannot be reported: a -ERR line would read as
 * message text.  Closing without the terminating "." tells the client
 * the response is incomplete.
 */
static void
stream_fail(struct pop3_session *s, int err)
{
	if (s->conn != NULL)
		posta_conn_log(s->conn, POSTA_LOG_ERROR, "pop3.read_failed",
		    "offset=%llu error=\"%s\"", (unsigned long long)s->st.off,
		    posta_strerror(err));
	pop3_stream_free(s);
	pop3_close(s, "error");
}

static void
read_cb(void *ctx, int err, const uint8_t *data, size_t len)
{
	struct pop3_session *s = ctx;
	size_t used, n;

	s->st.read_pending = false;
	if (s->conn == NULL || s->st.reader == NULL) {
		pop3_session_unref(s);
		return;
	}
	if (err < 0 || len > s->st.chunk) {
		stream_fail(s, err < 0 ? err : -EMSGSIZE);
		pop3_session_unref(s);
		return;
	}
	n = pop3_dot_feed(&s->st.dot, data, len, s->st.buf, &used);
	s->st.off += len;
	s->sent += n;
	pop3_write(s, s->st.buf, n);
	if (s->conn == NULL) {
		pop3_session_unref(s);
		return;
	}
	/* sending is activity: a slow reader of a big message stays */
	posta_conn_set_timeout(s->conn, s->mod->set->idle_timeout_ms);
	/* a short read is the end of the message (store.h) */
	if (pop3_dot_done(&s->st.dot) || len < s->st.chunk ||
	    s->st.off >= s->st.size)
		stream_end(s);
	else if (posta_conn_write_pending(s->conn) < POP3_WRITE_AHEAD)
		stream_read(s);
	else
		s->st.wait_drain = true;
	pop3_session_unref(s);
}

static void
stream_read(struct pop3_session *s)
{
	int r;

	pop3_session_ref(s);
	s->st.read_pending = true;
	r = posta_msg_read(s->st.reader, s->st.off, s->st.chunk, read_cb, s);
	if (r < 0) {
		s->st.read_pending = false;
		stream_fail(s, r);
		pop3_session_unref(s);
	}
}

void
pop3_stream_drain(struct pop3_session *s)
{
	if (s->st.reader == NULL || s->st.read_pending || !s->st.wait_drain)
		return;
	s->st.wait_drain = false;
	stream_read(s);
}

static void
open_cb(void *ctx, int err, struct posta_msg_reader *reader, uint64_t size)
{
	struct pop3_session *s = ctx;
	uint32_t num = s->st.next + 1;

	if (s->conn == NULL) {
		posta_msg_close(&reader);
		pop3_session_unref(s);
		return;
	}
	if (err < 0 || reader == NULL) {
		posta_msg_close(&reader);
		if (err == POSTA_ENOTFOUND) {
			/* removed meanwhile by an IMAP session */
			pop3_err(s, "Message %u no longer exists.",
			    (unsigned)num);
		} else {
			posta_conn_log(s->conn, POSTA_LOG_ERROR,
			    "pop3.read_failed", "uid=%u error=\"%s\"",
			    (unsigned)s->msgs[s->st.next].uid,
			    posta_strerror(err));
			pop3_err(s, "[SYS/TEMP] Cannot read message %u, try "
			    "again later.", (unsigned)num);
		}
		pop3_op_done(s);
		pop3_session_unref(s);
		return;
	}
	/*
	 * Reads as large as the store allows, but no larger than the
	 * message: a small message needs a small buffer (and no mmap).
	 */
	s->st.chunk = size == 0 ? 1 : size < POSTA_STORE_READ_MAX ?
	    (size_t)size : POSTA_STORE_READ_MAX;
	s->st.buf = malloc(STREAM_BUF_SIZE(s->st.chunk));
	if (s->st.buf == NULL) {
		posta_msg_close(&reader);
		pop3_err(s, "[SYS/TEMP] Out of memory.");
		pop3_op_done(s);
		pop3_session_unref(s);
		return;
	}
	s->st.reader = reader;
	s->st.off = 0;
	s->st.size = size;
	s->st.wait_drain = false;
	s->op = POP3_OP_STREAM;
	if (s->st.verb == POP3_VERB_RETR) {
		/* RFC 1939 7: the size LIST gave, CRLF line ends */
		pop3_ok(s, "%llu octets",
		    (unsigned long long)s->msgs[s->st.next].size);
		s->n_retr++;
	} else {
		pop3_ok(s, "Top of message follows.");
		s->n_top++;
	}
	if (size == 0)
		stream_end(s);
	else
		stream_read(s);
	pop3_session_unref(s);
}

void
pop3_cmd_retr(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	int64_t i = pop3_msg_index(s, cmd->num[0]);
	int r;

	if (i < 0)
		return;
	s->st.verb = cmd->verb;
	s->st.next = (uint32_t)i;
	pop3_dot_init(&s->st.dot, cmd->verb == POP3_VERB_TOP,
	    cmd->verb == POP3_VERB_TOP ? cmd->num[1] : 0);
	pop3_session_ref(s);
	r = posta_msg_open(s->box, s->msgs[i].uid, open_cb, s);
	if (r < 0) {
		pop3_session_unref(s);
		posta_conn_log(s->conn, POSTA_LOG_ERROR, "pop3.read_failed",
		    "uid=%u error=\"%s\"", (unsigned)s->msgs[i].uid,
		    posta_strerror(r));
		pop3_err(s, "[SYS/TEMP] Cannot read message %u, try again "
		    "later.", (unsigned)cmd->num[0]);
		return;
	}
	s->op = POP3_OP_MSG_OPEN;
	posta_conn_pause(s->conn);
}
