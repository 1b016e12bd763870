/* pop3_cmd_trans.c: STAT, LIST, UIDL, DELE, RSET and QUIT with its expunge */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <posta/posta.h>

#include "pop3.h"

int64_t
pop3_msg_index(struct pop3_session *s, uint32_t num)
{
	if (num == 0 || num > s->n_msgs) {
		pop3_bad(s, "There is no message %u.", (unsigned)num);
		return -1;
	}
	if (pop3_is_deleted(s, num - 1)) {
		pop3_bad(s, "Message %u is deleted.", (unsigned)num);
		return -1;
	}
	return (int64_t)num - 1;
}

void
pop3_cmd_stat(struct pop3_session *s)
{
	/* RFC 1939 5: deleted messages are not counted */
	pop3_ok(s, "%u %llu", (unsigned)(s->n_msgs - s->n_deleted),
	    (unsigned long long)(s->total_size - s->deleted_size));
}

/* "n size" or "n uidl" for message index i, CRLF-terminated. */
static size_t
list_line(const struct pop3_session *s, enum pop3_verb verb, uint32_t i,
    char *buf, size_t size)
{
	int n;

	if (verb == POP3_VERB_LIST) {
		n = snprintf(buf, size, "%u %llu\r\n", (unsigned)i + 1,
		    (unsigned long long)s->msgs[i].size);
	} else {
		char uidl[POP3_UIDL_MAX + 1];

		pop3_uidl_format(&s->uidl, s->msgs[i].uid, s->uidvalidity,
		    uidl);
		n = snprintf(buf, size, "%u %s\r\n", (unsigned)i + 1, uidl);
	}
	return n > 0 && (size_t)n < size ? (size_t)n : 0;
}

/*
 * Writes listing lines while the write queue has room; the drain
 * callback calls again, so a maildrop of any size never sits whole in
 * the queue.
 */
void
pop3_list_pump(struct pop3_session *s)
{
	char buf[8192];
	size_t len = 0;

	while (s->conn != NULL && s->st.next < s->n_msgs) {
		if (len + 128 > sizeof(buf)) {
			pop3_write(s, buf, len);
			len = 0;
			if (s->conn == NULL ||
			    posta_conn_write_pending(s->conn) >=
			    POP3_WRITE_AHEAD)
				return;	/* on_drain calls again */
		}
		if (!pop3_is_deleted(s, s->st.next))
			len += list_line(s, s->st.verb, s->st.next,
			    buf + len, sizeof(buf) - len);
		s->st.next++;
	}
	memcpy(buf + len, ".\r\n", 3);
	pop3_write(s, buf, len + 3);
	pop3_op_done(s);
}

void
pop3_cmd_list(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	char buf[128];
	int64_t i;
	size_t len;

	if (cmd->nargs == 1) {
		i = pop3_msg_index(s, cmd->num[0]);
		if (i < 0)
			return;
		len = list_line(s, cmd->verb, (uint32_t)i, buf, sizeof(buf));
		/* the scan listing without its CRLF, after "+OK " */
		if (len >= 2)
			buf[len - 2] = '\0';
		pop3_ok(s, "%s", buf);
		return;
	}
	if (cmd->verb == POP3_VERB_LIST)
		pop3_ok(s, "%u messages (%llu octets)",
		    (unsigned)(s->n_msgs - s->n_deleted),
		    (unsigned long long)(s->total_size - s->deleted_size));
	else
		pop3_ok(s, "Unique-ID listing follows");
	s->st.verb = cmd->verb;
	s->st.next = 0;
	s->op = POP3_OP_LIST;
	posta_conn_pause(s->conn);
	pop3_list_pump(s);
}

void
pop3_cmd_dele(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	int64_t i = pop3_msg_index(s, cmd->num[0]);

	if (i < 0)
		return;
	/* RFC 1939 5: only marked; QUIT removes it */
	s->deleted[i / 8] |= (uint8_t)(1u << (i % 8));
	s->n_deleted++;
	s->deleted_size += s->msgs[i].size;
	pop3_ok(s, "Message %u deleted.", cmd->num[0]);
}

void
pop3_cmd_rset(struct pop3_session *s)
{
	memset(s->deleted, 0, (s->n_msgs + 7) / 8);
	s->n_deleted = 0;
	s->deleted_size = 0;
	pop3_ok(s, "Maildrop has %u messages (%llu octets).",
	    (unsigned)s->n_msgs, (unsigned long long)s->total_size);
}

/* ---- QUIT and the UPDATE state (RFC 1939 6) ---- */

static void
expunge_cb(void *ctx, int err, size_t n_expunged)
{
	struct pop3_session *s = ctx;

	if (s->conn == NULL) {
		pop3_session_unref(s);
		return;
	}
	if (err < 0) {
		posta_conn_log(s->conn, POSTA_LOG_ERROR, "pop3.expunge_failed",
		    "deleted=%u error=\"%s\"", (unsigned)s->n_deleted,
		    posta_strerror(err));
		/* RFC 1939 6: say so; the messages stay */
		pop3_err(s, "[SYS/TEMP] Deleted messages could not be "
		    "removed, try again later.");
		pop3_close(s, "expunge_failed");
	} else {
		/* the store has unlinked and synced: the removal is durable */
		s->n_expunged = n_expunged > s->n_msgs ? s->n_msgs :
		    (uint32_t)n_expunged;
		pop3_ok(s, "Logging out, messages deleted.");
		pop3_close(s, "quit");
	}
	pop3_session_unref(s);
}

void
pop3_cmd_quit(struct pop3_session *s)
{
	uint32_t *uids, i, n = 0;
	int r;

	if (s->state != POP3_STATE_TRANSACTION || s->n_deleted == 0) {
		/* RFC 1939 4: QUIT in AUTHORIZATION only closes */
		if (s->state == POP3_STATE_TRANSACTION)
			s->state = POP3_STATE_UPDATE;
		pop3_ok(s, "Logging out.");
		pop3_close(s, "quit");
		return;
	}
	s->state = POP3_STATE_UPDATE;
	uids = malloc(sizeof(*uids) * s->n_deleted);
	if (uids == NULL) {
		pop3_err(s, "[SYS/TEMP] Out of memory, nothing deleted.");
		pop3_close(s, "error");
		return;
	}
	/* ascending, as the store wants: the view is sorted by UID */
	for (i = 0; i < s->n_msgs; i++)
		if (pop3_is_deleted(s, i))
			uids[n++] = s->msgs[i].uid;
	pop3_session_ref(s);
	r = posta_mailbox_expunge(s->box, uids, n, 0, expunge_cb, s);
	free(uids);
	if (r < 0) {
		pop3_session_unref(s);
		posta_conn_log(s->conn, POSTA_LOG_ERROR, "pop3.expunge_failed",
		    "deleted=%u error=\"%s\"", (unsigned)n, posta_strerror(r));
		pop3_err(s, "[SYS/TEMP] Deleted messages could not be "
		    "removed, try again later.");
		pop3_close(s, "expunge_failed");
		return;
	}
	s->op = POP3_OP_EXPUNGE;
	posta_conn_pause(s->conn);
}
