/* pop3.h: the POP3 session shared by pop3.c and the pop3_cmd_*.c files */
#ifndef POSTA_POP3_H
#define POSTA_POP3_H

#include <posta/posta.h>

#include "pop3_dot.h"
#include "pop3_parse.h"
#include "pop3_sasl.h"

/* The protocol block (conf.d/19-pop3-protocol.conf documents each). */
struct pop3_settings {
	uint64_t idle_timeout_ms;	/* after login; >= 10m (RFC 1939 3) */
	int64_t max_bad_commands;	/* consecutive -ERR replies */
	const char *uidl_format;
	bool lock_maildrop;		/* one TRANSACTION session a user */
};

/* Module state: one per loaded module. */
struct pop3 {
	struct posta_host *host;
	const struct pop3_settings *set;
	struct pop3_uidl_fmt uidl;	/* compiled from set->uidl_format */
};

/* RFC 1939 states, plus the AUTH exchange inside AUTHORIZATION. */
enum pop3_state {
	POP3_STATE_AUTHORIZATION = 0,
	POP3_STATE_SASL,		/* lines are AUTH client responses */
	POP3_STATE_TRANSACTION,
	POP3_STATE_UPDATE,		/* QUIT's expunge is running */
};

/*
 * What the session waits for.  While anything but POP3_OP_NONE runs the
 * connection is paused, so pipelined commands wait in the core's buffer
 * and are answered in order (RFC 2449 PIPELINING).
 */
enum pop3_op {
	POP3_OP_NONE = 0,
	POP3_OP_LOGIN,			/* posta_conn_login() */
	POP3_OP_OPEN,			/* user and INBOX opening */
	POP3_OP_MSG_OPEN,		/* RETR/TOP: posta_msg_open() */
	POP3_OP_STREAM,			/* RETR/TOP: sending the text */
	POP3_OP_LIST,			/* LIST/UIDL: sending lines */
	POP3_OP_EXPUNGE,		/* QUIT: posta_mailbox_expunge() */
};

/* A multi-line response being written at the pace the client reads. */
struct pop3_stream {
	/* listing: next message index; POP3_VERB_LIST or _UIDL */
	uint32_t next;
	enum pop3_verb verb;
	/* message */
	struct posta_msg_reader *reader;
	uint64_t off, size;
	size_t chunk;			/* bytes per read, <= READ_MAX */
	bool read_pending;		/* a posta_msg_read() is out */
	bool wait_drain;		/* the queue is full: next on drain */
	struct pop3_dot dot;
	uint8_t *buf;			/* encoder output (streaming) */
};

/*
 * One connection.  Memory: freed when the last reference goes; the
 * connection holds one until its close handler runs, each store request
 * one until its callback runs, and each handler entry point one while it
 * runs (a write may tear the connection down under it).  A login needs
 * none: the core never calls it back after close.
 */
struct pop3_session {
	struct pop3 *mod;
	struct posta_conn *conn;	/* NULL once closed */
	unsigned refs;
	enum pop3_state state;
	enum pop3_op op;
	unsigned bad;			/* consecutive -ERR replies */
	const char *end;		/* why we closed, for the log line */

	char *user;			/* USER's argument until PASS */
	enum pop3_sasl_mech mech;	/* in POP3_STATE_SASL */
	char *sasl_user;		/* AUTH LOGIN: the name, until the
					   password comes */

	/* TRANSACTION: the maildrop as it was at login */
	struct posta_mail_user *muser;
	struct posta_mailbox *box;
	const struct posta_msg *msgs;	/* stable: the view is never
					   refreshed */
	uint32_t n_msgs;
	uint32_t uidvalidity;
	uint8_t *deleted;		/* bitmap over message indexes */
	uint32_t n_deleted;
	uint64_t total_size, deleted_size;
	struct pop3_uidl_fmt uidl;	/* the format at login */

	/* for the logout line */
	uint32_t n_retr, n_top, n_expunged;
	uint64_t sent;			/* message octets sent */

	struct pop3_stream st;
};

/* Keep at most this much queued before waiting for the drain callback. */
#define POP3_WRITE_AHEAD	(256u * 1024)

/* pop3.c */
void pop3_session_ref(struct pop3_session *s);
void pop3_session_unref(struct pop3_session *s);
/* Writes raw bytes; closes the connection if the write fails. */
void pop3_write(struct pop3_session *s, const void *data, size_t len);
/* "+OK ..." and resets the error count. */
void pop3_ok(struct pop3_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* "-ERR ..." for a bad command: counts towards max_bad_commands. */
void pop3_bad(struct pop3_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* "-ERR ..." that is not the client's fault (auth, store): not counted. */
void pop3_err(struct pop3_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Flushes, then closes; why is logged as the logout reason. */
void pop3_close(struct pop3_session *s, const char *why);
/* Ends an async operation: no op, input flows again. */
void pop3_op_done(struct pop3_session *s);
bool pop3_is_deleted(const struct pop3_session *s, uint32_t idx);
const char *pop3_state_name(enum pop3_state state);

/* pop3_cmd_auth.c: AUTHORIZATION state and CAPA */
void pop3_cmd_capa(struct pop3_session *s);
void pop3_cmd_user(struct pop3_session *s, const struct pop3_cmd *cmd);
void pop3_cmd_pass(struct pop3_session *s, const struct pop3_cmd *cmd);
void pop3_cmd_auth(struct pop3_session *s, const struct pop3_cmd *cmd);
void pop3_cmd_stls(struct pop3_session *s);
void pop3_sasl_line(struct pop3_session *s, const uint8_t *line, size_t len,
    unsigned flags);
void pop3_auth_reset(struct pop3_session *s);

/* pop3_cmd_trans.c: TRANSACTION state without message bodies */
void pop3_cmd_stat(struct pop3_session *s);
void pop3_cmd_list(struct pop3_session *s, const struct pop3_cmd *cmd);
void pop3_cmd_dele(struct pop3_session *s, const struct pop3_cmd *cmd);
void pop3_cmd_rset(struct pop3_session *s);
void pop3_cmd_quit(struct pop3_session *s);
void pop3_list_pump(struct pop3_session *s);
/* The message index for a number from the client, or -1 (reply sent). */
int64_t pop3_msg_index(struct pop3_session *s, uint32_t num);

/* pop3_cmd_retr.c: RETR and TOP */
void pop3_cmd_retr(struct pop3_session *s, const struct pop3_cmd *cmd);
void pop3_stream_drain(struct pop3_session *s);
void pop3_stream_free(struct pop3_session *s);

#endif
