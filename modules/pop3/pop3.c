/* pop3.c: the pop3 protocol module: descriptor, settings, session, dispatch */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <posta/posta.h>

#include "pop3.h"

/* ---- references and replies ---- */

static void
session_free(struct pop3_session *s)
{
	pop3_stream_free(s);
	posta_mailbox_close(&s->box);
	posta_mail_user_close(&s->muser);
	pop3_auth_reset(s);
	free(s->deleted);
	free(s);
}

void
pop3_session_ref(struct pop3_session *s)
{
	s->refs++;
}

void
pop3_session_unref(struct pop3_session *s)
{
	if (--s->refs == 0)
		session_free(s);
}

void
pop3_write(struct pop3_session *s, const void *data, size_t len)
{
	int r;

	if (s->conn == NULL)
		return;
	r = posta_conn_write(s->conn, data, len);
	if (r < 0 && r != POSTA_ECLOSED && s->conn != NULL) {
		posta_conn_log(s->conn, POSTA_LOG_WARN, "pop3.write_failed",
		    "error=\"%s\"", posta_strerror(r));
		pop3_close(s, "error");
	}
}

/* Replies are short: a line past this is cut (no client text is echoed). */
static void
reply_v(struct pop3_session *s, const char *prefix, const char *fmt,
    va_list ap)
{
	char buf[512];
	size_t len = strlen(prefix);
	int n;

	memcpy(buf, prefix, len);
	n = vsnprintf(buf + len, sizeof(buf) - len - 2, fmt, ap);
	if (n < 0)
		n = 0;
	len += (size_t)n < sizeof(buf) - len - 2 ? (size_t)n :
	    sizeof(buf) - len - 3;
	buf[len++] = '\r';
	buf[len++] = '\n';
	pop3_write(s, buf, len);
}

void
pop3_ok(struct pop3_session *s, const char *fmt, ...)
{
	va_list ap;

	s->bad = 0;
	va_start(ap, fmt);
	reply_v(s, "+OK ", fmt, ap);
	va_end(ap);
}

void
pop3_err(struct pop3_session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	reply_v(s, "-ERR ", fmt, ap);
	va_end(ap);
}

void
pop3_bad(struct pop3_session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	reply_v(s, "-ERR ", fmt, ap);
	va_end(ap);
	if (s->conn == NULL)
		return;
	if (++s->bad >= (uint64_t)s->mod->set->max_bad_commands) {
		/* a client (or a port scanner) that only produces errors */
		pop3_err(s, "Too many bad commands, closing connection.");
		pop3_close(s, "bad_commands");
	}
}

void
pop3_close(struct pop3_session *s, const char *why)
{
	if (s->conn == NULL)
		return;
	if (s->end == NULL)
		s->end = why;
	/* the close handler may run inside this call */
	posta_conn_close(s->conn);
}

void
pop3_op_done(struct pop3_session *s)
{
	s->op = POP3_OP_NONE;
	if (s->conn != NULL)
		posta_conn_resume(s->conn);
}

bool
pop3_is_deleted(const struct pop3_session *s, uint32_t idx)
{
	return (s->deleted[idx / 8] >> (idx % 8)) & 1u;
}

const char *
pop3_state_name(enum pop3_state state)
{
	switch (state) {
	case POP3_STATE_AUTHORIZATION:
	case POP3_STATE_SASL:
		return "AUTHORIZATION";
	case POP3_STATE_TRANSACTION:
		return "TRANSACTION";
	case POP3_STATE_UPDATE:
	default:
		return "UPDATE";
	}
}

/* ---- dispatch ---- */

/* Which verbs each state takes (RFC 1939 3-7, RFC 2449, 2595, 5034). */
static bool
verb_allowed(enum pop3_state state, enum pop3_verb verb)
{
	switch (verb) {
	case POP3_VERB_CAPA:
	case POP3_VERB_QUIT:
	case POP3_VERB_NOOP:
		return true;
	case POP3_VERB_USER:
	case POP3_VERB_PASS:
	case POP3_VERB_AUTH:
	case POP3_VERB_STLS:
	case POP3_VERB_APOP:
		return state == POP3_STATE_AUTHORIZATION;
	default:
		return state == POP3_STATE_TRANSACTION;
	}
}

static void
dispatch(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	if (!verb_allowed(s->state, cmd->verb)) {
		pop3_bad(s, "%s is not allowed in the %s state.",
		    pop3_verb_name(cmd->verb), pop3_state_name(s->state));
		return;
	}
	switch (cmd->verb) {
	case POP3_VERB_CAPA:
		pop3_cmd_capa(s);
		break;
	case POP3_VERB_QUIT:
		pop3_cmd_quit(s);
		break;
	case POP3_VERB_NOOP:
		/* RFC 1939 says TRANSACTION only; harmless before login */
		pop3_ok(s, "NOOP");
		break;
	case POP3_VERB_USER:
		pop3_cmd_user(s, cmd);
		break;
	case POP3_VERB_PASS:
		pop3_cmd_pass(s, cmd);
		break;
	case POP3_VERB_AUTH:
		pop3_cmd_auth(s, cmd);
		break;
	case POP3_VERB_STLS:
		pop3_cmd_stls(s);
		break;
	case POP3_VERB_APOP:
		pop3_bad(s, "APOP is not supported.");
		break;
	case POP3_VERB_STAT:
		pop3_cmd_stat(s);
		break;
	case POP3_VERB_LIST:
	case POP3_VERB_UIDL:
		pop3_cmd_list(s, cmd);
		break;
	case POP3_VERB_RETR:
	case POP3_VERB_TOP:
		pop3_cmd_retr(s, cmd);
		break;
	case POP3_VERB_DELE:
		pop3_cmd_dele(s, cmd);
		break;
	case POP3_VERB_RSET:
		pop3_cmd_rset(s);
		break;
	default:
		pop3_bad(s, "Unknown command.");
		break;
	}
}

static void
on_line(void *ctx, const uint8_t *line, size_t len, unsigned flags)
{
	struct pop3_session *s = ctx;
	struct pop3_cmd cmd;

	if (s->conn == NULL || s->op != POP3_OP_NONE)
		return;
	pop3_session_ref(s);
	if (s->state == POP3_STATE_SASL) {
		pop3_sasl_line(s, line, len, flags);
	} else if (flags & POSTA_LINE_TOO_LONG) {
		pop3_bad(s, "Line too long.");
	} else {
		pop3_parse_line(line, len, &cmd);
		if (cmd.err != POP3_PERR_NONE)
			pop3_bad(s, "%s", pop3_perr_text(cmd.err));
		else
			dispatch(s, &cmd);
	}
	pop3_session_unref(s);
}

static void
on_drain(void *ctx)
{
	struct pop3_session *s = ctx;

	if (s->conn == NULL)
		return;
	pop3_session_ref(s);
	if (s->op == POP3_OP_STREAM)
		pop3_stream_drain(s);
	else if (s->op == POP3_OP_LIST)
		pop3_list_pump(s);
	pop3_session_unref(s);
}

static void
on_tls(void *ctx, int err)
{
	struct pop3_session *s = ctx;

	if (err != 0 || s->conn == NULL)
		return;
	/* RFC 2595 4: forget everything learnt before the handshake */
	pop3_auth_reset(s);
	s->state = POP3_STATE_AUTHORIZATION;
	s->bad = 0;
}

static void
on_timeout(void *ctx)
{
	struct pop3_session *s = ctx;

	pop3_session_ref(s);
	/*
	 * Mid-response (a client that stopped reading a RETR) a -ERR line
	 * would read as message text: close without it, leaving the
	 * response unterminated.
	 */
	if (s->op == POP3_OP_NONE || s->op == POP3_OP_LOGIN)
		pop3_err(s, "Disconnected for inactivity.");
	pop3_close(s, "timeout");
	pop3_session_unref(s);
}

static const char *
end_reason(const struct pop3_session *s, int reason)
{
	if (s->end != NULL)
		return s->end;
	switch (reason) {
	case -ETIMEDOUT:
		return "timeout";
	case -ECANCELED:
		return "shutdown";
	case POSTA_ETLS:
		return "tls_error";
	default:
		return "disconnected";
	}
}

static void
on_close(void *ctx, int reason)
{
	struct pop3_session *s = ctx;

	if (s->state == POP3_STATE_TRANSACTION ||
	    s->state == POP3_STATE_UPDATE) {
		uint32_t left = s->n_msgs - s->n_expunged;

		posta_conn_log(s->conn, POSTA_LOG_INFO, "pop3.logout",
		    "reason=%s retr=%u top=%u deleted=%u expunged=%u "
		    "left=%u sent=%llu", end_reason(s, reason),
		    (unsigned)s->n_retr, (unsigned)s->n_top,
		    (unsigned)s->n_deleted, (unsigned)s->n_expunged,
		    (unsigned)left, (unsigned long long)s->sent);
	}
	s->conn = NULL;
	/*
	 * Release the maildrop (and its POP3 lock) now: a client that
	 * reconnects at once must not find it locked.  Pending store
	 * callbacks still run, with -ECANCELED, and hold their references.
	 */
	pop3_stream_free(s);
	posta_mailbox_close(&s->box);
	posta_mail_user_close(&s->muser);
	pop3_session_unref(s);
}

static const struct posta_conn_handler pop3_handler = {
	.line = on_line,
	.drain = on_drain,
	.tls = on_tls,
	.timeout = on_timeout,
	.close = on_close,
};

/* ---- protocol ---- */

static int
pop3_accept(void *state, struct posta_conn *conn)
{
	struct pop3 *mod = state;
	struct pop3_session *s = calloc(1, sizeof(*s));
	const char *host;

	if (s == NULL)
		return -ENOMEM;
	s->mod = mod;
	s->conn = conn;
	s->refs = 1;
	posta_conn_set_handler(conn, &pop3_handler, s);
	host = posta_host_hostname(mod->host);
	/* RFC 1939 4; no APOP timestamp: APOP is not offered */
	pop3_ok(s, "%s POP3 ready.", host != NULL && host[0] != '\0' ?
	    host : "Posta");
	return 0;
}

static void
pop3_refuse(void *state, struct posta_conn *conn, enum posta_refusal refusal,
    const char *text)
{
	char clean[256];
	size_t i;

	/* the hook's text goes on the wire: keep it on one line */
	snprintf(clean, sizeof(clean), "%s", text != NULL ? text :
	    "Service unavailable");
	for (i = 0; clean[i] != '\0'; i++)
		if ((unsigned char)clean[i] < 0x20)
			clean[i] = ' ';
	posta_conn_printf(conn, "-ERR [SYS/TEMP] %s\r\n", clean);
}

static const struct posta_protocol pop3_protocol = {
	.name = "pop3",
	.accept = pop3_accept,
	.refuse = pop3_refuse,
};

/* ---- module ---- */

static int
pop3_configure(struct pop3 *mod, const struct pop3_settings *set,
    const char **error_r)
{
	static __thread char error[160];
	const char *why;

	if (pop3_uidl_compile(set->uidl_format, &mod->uidl, &why) < 0) {
		snprintf(error, sizeof(error), "pop3: uidl_format \"%s\": %s",
		    set->uidl_format, why);
		*error_r = error;
		return POSTA_ECONFIG;
	}
	mod->set = set;
	return 0;
}

static int
pop3_init(struct posta_host *host, const void *settings, void **state_r,
    const char **error_r)
{
	struct pop3 *mod = calloc(1, sizeof(*mod));
	int r;

	if (mod == NULL) {
		*error_r = "pop3: out of memory";
		return -ENOMEM;
	}
	mod->host = host;
	r = pop3_configure(mod, settings, error_r);
	if (r < 0) {
		free(mod);
		return r;
	}
	r = posta_host_register_protocol(host, &pop3_protocol, mod);
	if (r < 0) {
		free(mod);
		*error_r = "pop3: cannot register protocol pop3";
		return r;
	}
	*state_r = mod;
	return 0;
}

static int
pop3_reload(void *state, const void *settings, const char **error_r)
{
	struct pop3 *mod = state;
	struct pop3_uidl_fmt old = mod->uidl;
	int r;

	/* sessions copied what they use at login; new ones get this */
	r = pop3_configure(mod, settings, error_r);
	if (r < 0)
		mod->uidl = old;
	return r;
}

static void
pop3_deinit(void *state)
{
	free(state);
}

#define S(f) offsetof(struct pop3_settings, f)
static const struct posta_setting pop3_settings_table[] = {
	/* RFC 1939 3: an autologout timer of at least 10 minutes */
	{ "idle_timeout", POSTA_SET_DURATION, S(idle_timeout_ms),
	  10 * 60 * 1000, INT64_C(24) * 3600 * 1000, "10m", NULL },
	{ "max_bad_commands", POSTA_SET_INT, S(max_bad_commands), 1, 1000,
	  "20", NULL },
	{ "uidl_format", POSTA_SET_STRING, S(uidl_format), 0, 0,
	  "\"%08Xu%08Xv\"", NULL },
	{ "lock_maildrop", POSTA_SET_BOOL, S(lock_maildrop), 0, 0, "yes",
	  NULL },
	POSTA_SETTINGS_END
};
#undef S

POSTA_MODULE(
	.name = "pop3",
	.version = PACKAGE_VERSION,
	.kind = POSTA_MODULE_PROTOCOL,
	.settings = pop3_settings_table,
	.settings_size = sizeof(struct pop3_settings),
	.init = pop3_init,
	.reload = pop3_reload,
	.deinit = pop3_deinit,
);
