/* pop3_cmd_auth.c: CAPA, STLS, USER/PASS, AUTH, login, opening the maildrop */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <posta/posta.h>

#include "util.h"
#include "pop3.h"

/* The reply for a password refused before TLS (DESIGN.md "Errors"). */
#define NEED_TLS "[AUTH] Plaintext authentication disallowed on " \
	"non-secure (SSL/TLS) connections; use STLS first."

static void
free_secret(char **p)
{
	if (*p != NULL) {
		util_wipe(*p, strlen(*p));
		free(*p);
		*p = NULL;
	}
}

void
pop3_auth_reset(struct pop3_session *s)
{
	free_secret(&s->user);
	free_secret(&s->sasl_user);
	s->mech = POP3_SASL_NONE;
}

static bool
offer_stls(const struct pop3_session *s)
{
	return s->state == POP3_STATE_AUTHORIZATION &&
	    posta_conn_tls_mode(s->conn) == POSTA_TLS_STARTTLS &&
	    !posta_conn_is_tls(s->conn);
}

/* ---- CAPA (RFC 2449 5) ---- */

void
pop3_cmd_capa(struct pop3_session *s)
{
	char buf[512];
	size_t len = 0;
	bool before = s->state == POP3_STATE_AUTHORIZATION;

#define ADD(str) do {							\
		size_t n_ = strlen(str);				\
		memcpy(buf + len, str, n_);				\
		len += n_;						\
	} while (0)
	ADD("TOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n");
	/* only what may be used now: no password offered in the clear */
	if (before && posta_conn_plaintext_auth_allowed(s->conn))
		ADD("USER\r\nSASL PLAIN LOGIN\r\n");
	if (offer_stls(s))
		ADD("STLS\r\n");
	ADD("IMPLEMENTATION Posta\r\n.\r\n");
#undef ADD
	pop3_ok(s, "Capability list follows");
	pop3_write(s, buf, len);
}

/* ---- STLS (RFC 2595 4) ---- */

void
pop3_cmd_stls(struct pop3_session *s)
{
	int r;

	if (posta_conn_is_tls(s->conn)) {
		pop3_bad(s, "TLS is already active.");
		return;
	}
	if (!offer_stls(s)) {
		pop3_bad(s, "STLS is not available on this service.");
		return;
	}
	pop3_ok(s, "Begin TLS negotiation now.");
	/* the core sends the reply in plaintext and drops pipelined input */
	r = posta_conn_starttls(s->conn);
	if (r < 0 && s->conn != NULL) {
		/* the client now speaks TLS: there is no going back */
		posta_conn_log(s->conn, POSTA_LOG_ERROR, "pop3.stls_failed",
		    "error=\"%s\"", posta_strerror(r));
		pop3_close(s, "tls_error");
	}
}

/* ---- login ---- */

static void maildrop_open(struct pop3_session *s);

/* Client-visible text from a hook: one line, no control characters. */
static const char *
clean_text(char *buf, size_t size, const char *text, const char *dflt)
{
	size_t i;

	snprintf(buf, size, "%s", text != NULL && text[0] != '\0' ? text :
	    dflt);
	for (i = 0; buf[i] != '\0'; i++)
		if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
			buf[i] = ' ';
	return buf;
}

static void
login_cb(void *ctx, enum posta_login_result result, const char *text)
{
	struct pop3_session *s = ctx;
	char clean[256];

	/* the core never calls back after close: s->conn is live */
	pop3_session_ref(s);
	switch (result) {
	case POSTA_LOGIN_OK:
		maildrop_open(s);
		pop3_session_unref(s);
		return;
	case POSTA_LOGIN_FAIL:
		/* the core already waited auth_failure_delay */
		pop3_err(s, "[AUTH] Authentication failed.");
		break;
	case POSTA_LOGIN_LIMIT:
		/* RFC 2449 8.1.1; the connection stays open (issue 6) */
		pop3_err(s, "[IN-USE] %s", clean_text(clean, sizeof(clean),
		    text, "Too many sessions for this user."));
		break;
	case POSTA_LOGIN_THROTTLED:
		/*
		 * [SYS/TEMP], not [AUTH] (RFC 3206): the password may well
		 * be right, and a client told [AUTH] drops it and asks the
		 * user again; this says try later with the same one.
		 */
		pop3_err(s, "[SYS/TEMP] %s", clean_text(clean, sizeof(clean),
		    text, "Too many failed logins, try again later."));
		break;
	case POSTA_LOGIN_TEMPFAIL:
	default:
		pop3_err(s, "[SYS/TEMP] %s", clean_text(clean, sizeof(clean),
		    text, "Temporary authentication failure, try again "
		    "later."));
		break;
	}
	pop3_op_done(s);
	pop3_session_unref(s);
}

/* Starts the login; user and pass are wiped by the caller afterwards. */
static void
login_start(struct pop3_session *s, const char *user, const char *pass)
{
	int r;

	r = posta_conn_login(s->conn, user, pass, login_cb, s);
	if (r < 0) {
		if (s->conn != NULL)
			posta_conn_log(s->conn, POSTA_LOG_WARN,
			    "pop3.login_failed", "error=\"%s\"",
			    posta_strerror(r));
		pop3_err(s, "[SYS/TEMP] Temporary authentication failure, "
		    "try again later.");
		return;
	}
	s->op = POP3_OP_LOGIN;
	posta_conn_pause(s->conn);
}

/* ---- USER / PASS (RFC 1939 7) ---- */

void
pop3_cmd_user(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	if (!posta_conn_plaintext_auth_allowed(s->conn)) {
		pop3_bad(s, NEED_TLS);
		return;
	}
	free_secret(&s->user);
	s->user = strndup((const char *)cmd->arg[0].ptr, cmd->arg[0].len);
	if (s->user == NULL) {
		pop3_err(s, "[SYS/TEMP] Out of memory.");
		return;
	}
	pop3_ok(s, "Send your password.");
}

void
pop3_cmd_pass(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	char *pass;

	if (!posta_conn_plaintext_auth_allowed(s->conn)) {
		pop3_bad(s, NEED_TLS);
		return;
	}
	if (s->user == NULL) {
		pop3_bad(s, "No user name given: send USER first.");
		return;
	}
	pass = strndup((const char *)cmd->arg[0].ptr, cmd->arg[0].len);
	if (pass == NULL) {
		pop3_err(s, "[SYS/TEMP] Out of memory.");
		return;
	}
	login_start(s, s->user, pass);
	free_secret(&pass);
	/* RFC 1939: a failed PASS needs a new USER */
	free_secret(&s->user);
}

/* ---- AUTH (RFC 5034) ---- */

/* Base64 of "Username:" and "Password:" (draft-murchison-sasl-login). */
#define LOGIN_USER_CHALLENGE	"+ VXNlcm5hbWU6\r\n"
#define LOGIN_PASS_CHALLENGE	"+ UGFzc3dvcmQ6\r\n"

/* Decodes and acts on one response (initial or continued) of an AUTH. */
static void
sasl_response(struct pop3_session *s, const uint8_t *data, size_t len)
{
	uint8_t *buf;
	long n;

	buf = malloc(pop3_sasl_decoded_max(len));
	if (buf == NULL) {
		pop3_auth_reset(s);
		s->state = POP3_STATE_AUTHORIZATION;
		pop3_err(s, "[SYS/TEMP] Out of memory.");
		return;
	}
	n = pop3_sasl_decode(data, len, buf);
	s->state = POP3_STATE_AUTHORIZATION;
	if (n == -ECANCELED) {
		pop3_auth_reset(s);
		pop3_err(s, "Authentication cancelled.");
	} else if (n < 0) {
		pop3_auth_reset(s);
		pop3_bad(s, "Invalid base64 data in AUTH response.");
	} else if (s->mech == POP3_SASL_PLAIN) {
		const char *user, *pass;

		s->mech = POP3_SASL_NONE;
		if (pop3_sasl_plain(buf, (size_t)n, &user, &pass) < 0)
			pop3_err(s, "[AUTH] Invalid AUTH PLAIN message.");
		else
			login_start(s, user, pass);
	} else if (s->sasl_user == NULL) {
		/* LOGIN, first step: the user name */
		if (!pop3_sasl_is_text(buf, (size_t)n)) {
			pop3_auth_reset(s);
			pop3_err(s, "[AUTH] Invalid user name.");
		} else if ((s->sasl_user = strdup((char *)buf)) == NULL) {
			pop3_auth_reset(s);
			pop3_err(s, "[SYS/TEMP] Out of memory.");
		} else {
			s->state = POP3_STATE_SASL;
			pop3_write(s, LOGIN_PASS_CHALLENGE,
			    strlen(LOGIN_PASS_CHALLENGE));
		}
	} else {
		/* LOGIN, second step: the password */
		if (!pop3_sasl_is_text(buf, (size_t)n))
			pop3_err(s, "[AUTH] Authentication failed.");
		else
			login_start(s, s->sasl_user, (char *)buf);
		pop3_auth_reset(s);
	}
	util_wipe(buf, pop3_sasl_decoded_max(len));
	free(buf);
}

void
pop3_sasl_line(struct pop3_session *s, const uint8_t *line, size_t len,
    unsigned flags)
{
	if (flags & POSTA_LINE_TOO_LONG) {
		pop3_auth_reset(s);
		s->state = POP3_STATE_AUTHORIZATION;
		pop3_bad(s, "AUTH response too long.");
		return;
	}
	sasl_response(s, line, len);
}

void
pop3_cmd_auth(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	enum pop3_sasl_mech mech;

	if (cmd->nargs == 0) {
		static const char list[] = "PLAIN\r\nLOGIN\r\n.\r\n";

		/* RFC 1734 style discovery, still sent by some clients */
		pop3_ok(s, "Supported mechanisms follow");
		pop3_write(s, list, sizeof(list) - 1);
		return;
	}
	mech = pop3_sasl_mech(cmd->arg[0].ptr, cmd->arg[0].len);
	if (mech == POP3_SASL_NONE) {
		pop3_bad(s, "Unsupported authentication mechanism.");
		return;
	}
	if (!posta_conn_plaintext_auth_allowed(s->conn)) {
		pop3_bad(s, NEED_TLS);
		return;
	}
	pop3_auth_reset(s);
	s->mech = mech;
	if (cmd->nargs == 2) {
		/* RFC 5034 4: initial response; "=" is an empty one */
		sasl_response(s, cmd->arg[1].ptr, cmd->arg[1].len);
		return;
	}
	s->state = POP3_STATE_SASL;
	if (mech == POP3_SASL_PLAIN)
		pop3_write(s, "+ \r\n", 4);
	else
		pop3_write(s, LOGIN_USER_CHALLENGE,
		    strlen(LOGIN_USER_CHALLENGE));
}

/* ---- the maildrop ---- */

static void
open_failed(struct pop3_session *s, int err, const char *what)
{
	if (err == -EBUSY) {
		/* RFC 2449 8.1.1; RFC 1939 4 lets us close after it */
		pop3_err(s, "[IN-USE] Mailbox is locked by another POP3 "
		    "session.");
		posta_conn_log(s->conn, POSTA_LOG_INFO, "pop3.locked", "%s",
		    "");
		pop3_close(s, "locked");
		return;
	}
	posta_conn_log(s->conn, POSTA_LOG_ERROR, "pop3.open_failed",
	    "what=%s error=\"%s\"", what, posta_strerror(err));
	/*
	 * The core has logged the user in and cannot take it back, so a
	 * second login on this connection is not offered: close it.
	 */
	pop3_err(s, "[SYS/TEMP] Cannot open the mailbox, try again later.");
	pop3_close(s, "error");
}

static void
box_open_cb(void *ctx, int err, struct posta_mailbox *box)
{
	struct pop3_session *s = ctx;
	const struct posta_mailbox_status *st;
	const struct posta_msg *msgs;
	size_t n, i;

	if (s->conn == NULL) {
		posta_mailbox_close(&box);
		pop3_session_unref(s);
		return;
	}
	if (err < 0 || box == NULL) {
		open_failed(s, err < 0 ? err : POSTA_ETEMP, "inbox");
		pop3_session_unref(s);
		return;
	}
	s->box = box;
	n = posta_mailbox_messages(box, &msgs);
	st = posta_mailbox_view_status(box);
	if (n > UINT32_MAX)
		n = UINT32_MAX;
	s->msgs = msgs;
	s->n_msgs = (uint32_t)n;
	s->uidvalidity = st != NULL ? st->uidvalidity : 0;
	s->deleted = calloc((n + 7) / 8 + 1, 1);
	if (s->deleted == NULL) {
		open_failed(s, -ENOMEM, "inbox");
		pop3_session_unref(s);
		return;
	}
	for (i = 0; i < n; i++)
		s->total_size += msgs[i].size;
	s->uidl = s->mod->uidl;
	s->state = POP3_STATE_TRANSACTION;
	posta_conn_set_timeout(s->conn, s->mod->set->idle_timeout_ms);
	posta_conn_log(s->conn, POSTA_LOG_INFO, "pop3.login",
	    "messages=%u octets=%llu", (unsigned)s->n_msgs,
	    (unsigned long long)s->total_size);
	pop3_ok(s, "Logged in.");
	pop3_op_done(s);
	pop3_session_unref(s);
}

static void
user_open_cb(void *ctx, int err, struct posta_mail_user *user)
{
	struct pop3_session *s = ctx;
	int r;

	if (s->conn == NULL) {
		posta_mail_user_close(&user);
		pop3_session_unref(s);
		return;
	}
	if (err < 0 || user == NULL) {
		open_failed(s, err < 0 ? err : POSTA_ETEMP, "user");
		pop3_session_unref(s);
		return;
	}
	s->muser = user;
	/* the reference moves on to the mailbox request */
	r = posta_mailbox_open(user, "INBOX", s->mod->set->lock_maildrop ?
	    POSTA_OPEN_POP3_LOCK : 0, box_open_cb, s);
	if (r < 0) {
		open_failed(s, r, "inbox");
		pop3_session_unref(s);
	}
}

static void
maildrop_open(struct pop3_session *s)
{
	const char *account = posta_conn_user(s->conn);
	int r;

	s->op = POP3_OP_OPEN;
	if (account == NULL) {
		/* the core could not keep the name: out of memory */
		open_failed(s, -ENOMEM, "user");
		return;
	}
	pop3_session_ref(s);
	r = posta_mail_user_open(s->mod->host, account, user_open_cb, s);
	if (r < 0) {
		open_failed(s, r, "user");
		pop3_session_unref(s);
	}
}
