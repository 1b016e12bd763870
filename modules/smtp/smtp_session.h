/* smtp_session.h: one SMTP session, shared by the engine's files */
#ifndef POSTA_SMTP_SESSION_H
#define POSTA_SMTP_SESSION_H

#include <posta/posta.h>

#include "arena.h"
#include "smtp_addr.h"
#include "smtp_data.h"
#include "smtp_deliver.h"
#include "smtp_engine.h"
#include "smtp_parse.h"
#include "smtp_policy.h"
#include "smtp_trace.h"

/*
 * Threading and order.  Everything runs on the loop thread.  A command
 * that needs a callback (AUTH's login, MAIL's and RCPT's lookups, the
 * sink) sets busy, which pauses the connection: pipelined commands
 * (RFC 2920) stay buffered in the core and run in order once the reply
 * is out.  The core never calls a login or lookup callback after the
 * close handler; the sink is cancelled there, so no callback reaches a
 * freed session.
 *
 * Memory.  cmd is the per-command arena (8 x max_command_length + 1 KiB,
 * enough for any parse); it is reset when the next command arrives, so
 * the strings of the command being answered stay valid through its
 * callback.  A transaction has its own arena for the envelope (bounded:
 * recipients and their expansions) and two message buffers of about
 * SMTP_CHUNK bytes each while data flows.
 */

/* Message bytes gathered before a write to the sink. */
#define SMTP_CHUNK	(64u * 1024)
/* Envelope memory of one transaction (recipients, alias expansions). */
#define SMTP_TXN_ARENA_MAX	(2u * 1024 * 1024)

struct smtp_engine {
	struct posta_host *host;
	const struct smtp_policy *policy;
	const struct smtp_settings *set;
	struct posta_protocol proto;
};

enum smtp_mode {
	SMTP_MODE_CMD = 0,
	SMTP_MODE_AUTH,		/* a SASL exchange waits for a response */
	SMTP_MODE_DATA,		/* lines after 354 up to CRLF.CRLF */
	SMTP_MODE_BDAT,		/* the exact bytes of a BDAT chunk */
};

enum smtp_auth_step {
	SMTP_AUTH_PLAIN = 0,
	SMTP_AUTH_LOGIN_USER,
	SMTP_AUTH_LOGIN_PASS,
};

struct smtp_buf {
	uint8_t *p;
	size_t len, cap, off;	/* off: bytes already written (out) */
};

struct smtp_txn {
	struct arena *a;
	char id[48];			/* session id - transaction number */
	const char *sender;		/* mailbox, domain lower-cased; "" */
	const char *envid;
	enum smtp_ret ret;
	enum smtp_body body;
	bool smtputf8;
	uint64_t max_size;
	uint64_t declared_size;		/* MAIL's SIZE=, 0 when none */

	size_t n_rcpts;			/* RCPTs accepted */
	const char *first_rcpt;
	const char **accounts;		/* local, no duplicates */
	size_t n_accounts, cap_accounts;
	struct posta_queue_rcpt *external;
	size_t n_external, cap_external;
	bool rcpt_postmaster_retry;	/* RCPT: looking up postmaster */

	/* the message */
	bool bdat;			/* BDAT chunks began */
	struct smtp_data dr;
	struct smtp_bdat bd;
	struct smtp_sink *sink;
	bool sink_ready;
	int sink_err;			/* sink failed: drop the rest */
	struct smtp_hdrscan hs;
	bool scanning;			/* looking for the header's end */
	struct smtp_buf fill, out;	/* gathering, being written */
	bool writing;
	bool ended;			/* the whole message is in */
	uint64_t octets;		/* message octets received */
};

struct smtp_session {
	struct smtp_engine *eng;
	const struct smtp_policy *policy;
	struct smtp_settings set;	/* strings live as long as conn */
	struct posta_conn *conn;
	struct arena *cmd_arena;
	struct smtp_cmd cmd;		/* the command being answered */
	struct smtp_parse_opts po;
	enum smtp_mode mode;
	bool greeted, esmtp;
	char helo[SMTP_ADDR_DOMAIN_MAX + 3];
	unsigned bad, junk, n_tx;
	bool busy;			/* waiting for a callback */
	bool flow_paused;		/* waiting for the sink to drain */
	bool paused;			/* what we told the core */
	bool closing;

	enum smtp_auth_step auth_step;
	char *auth_user;		/* LOGIN: the user name, wiped */

	/* a BDAT chunk with nowhere to go: read it, then answer */
	bool dropping;
	const struct smtp_status *drop_reply;

	struct smtp_txn *tx;
	struct smtp_txn *tx_pending_mail;	/* MAIL waiting for a lookup */
	struct smtp_quota_check *qc;	/* RCPT waiting for quotas */
};

/* ---- smtp_cmd_mail.c ---- */

/* The session ends: a quota check still running answers no one. */
void smtp_quota_check_cancel(struct smtp_session *s);

/* ---- smtp_session.c ---- */

/*
 * Writes "code enhanced text" CRLF; a 5xx counts towards
 * max_bad_commands.  enhanced may be NULL (greeting, 334, 354).
 */
void smtp_reply(struct smtp_session *s, unsigned code, const char *enhanced,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void smtp_reply_status(struct smtp_session *s, const struct smtp_status *st);
/* 421 with text (CR, LF and controls removed), then close. */
void smtp_close_421(struct smtp_session *s, const char *enhanced,
    const char *text);

void smtp_busy(struct smtp_session *s, bool busy);
void smtp_flow_pause(struct smtp_session *s, bool paused);
void smtp_facts(const struct smtp_session *s, struct smtp_facts *f);
bool smtp_authed(const struct smtp_session *s);
/* The largest message accepted now (setting, store limit). */
uint64_t smtp_max_size(const struct smtp_session *s);
/* Back to commands with the command timeout. */
void smtp_mode_cmd(struct smtp_session *s);

/* ---- smtp_cmd_auth.c ---- */
void smtp_cmd_auth(struct smtp_session *s);
void smtp_auth_line(struct smtp_session *s, const uint8_t *line, size_t len,
    unsigned flags);
void smtp_auth_clear(struct smtp_session *s);

/* ---- smtp_cmd_mail.c ---- */
void smtp_cmd_mail(struct smtp_session *s);
void smtp_cmd_rcpt(struct smtp_session *s);
void smtp_txn_free(struct smtp_session *s);

/* ---- smtp_cmd_data.c ---- */
void smtp_cmd_data(struct smtp_session *s);
void smtp_cmd_bdat(struct smtp_session *s);
void smtp_data_line(struct smtp_session *s, const uint8_t *line, size_t len,
    unsigned flags);
void smtp_bdat_bytes(struct smtp_session *s, const uint8_t *data, size_t len,
    bool last);

#endif
