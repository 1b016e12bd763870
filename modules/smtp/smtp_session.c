/* smtp_session.c: settings, connections, replies, the simple commands */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_session.h"

#define SET(f) offsetof(struct smtp_settings, f)

/* One table for smtp, submission and smtps; conf.d/49-smtp-protocol.conf
   repeats it with the reasons. */
const struct posta_setting smtp_settings_table[] = {
	{ "max_message_size", POSTA_SET_SIZE, SET(max_message_size),
	  1024, INT64_C(1) << 40, "50M", NULL },
	{ "max_recipients", POSTA_SET_INT, SET(max_recipients), 1, 100000,
	  "100", NULL },
	{ "max_bad_commands", POSTA_SET_INT, SET(max_bad_commands), 1, 10000,
	  "20", NULL },
	{ "max_junk_commands", POSTA_SET_INT, SET(max_junk_commands), 1,
	  100000, "100", NULL },
	{ "command_timeout", POSTA_SET_DURATION, SET(command_timeout_ms),
	  100, 86400000, "5m", NULL },
	{ "data_timeout", POSTA_SET_DURATION, SET(data_timeout_ms), 100,
	  86400000, "3m", NULL },
	{ "max_command_length", POSTA_SET_SIZE, SET(max_command_length), 512,
	  65536, "4k", NULL },
	{ "max_text_line_length", POSTA_SET_INT, SET(max_text_line_length), 0,
	  1048576, "998", NULL },
	{ "reject_bare_lf", POSTA_SET_BOOL, SET(reject_bare_lf), 0, 0, "no",
	  NULL },
	{ "reject_bare_cr", POSTA_SET_BOOL, SET(reject_bare_cr), 0, 0, "no",
	  NULL },
	{ "sender_login_match", POSTA_SET_BOOL, SET(sender_login_match), 0, 0,
	  "yes", NULL },
	{ "postmaster_address", POSTA_SET_STRING, SET(postmaster_address), 0,
	  0, NULL, NULL },
	POSTA_SETTINGS_END
};

/* ---- replies ---- */

static void
reply_v(struct smtp_session *s, unsigned code, const char *enhanced,
    const char *fmt, va_list ap)
{
	char text[512];

	vsnprintf(text, sizeof(text), fmt, ap);
	if (enhanced != NULL)
		posta_conn_printf(s->conn, "%u %s %s\r\n", code, enhanced,
		    text);
	else
		posta_conn_printf(s->conn, "%u %s\r\n", code, text);
	if (code >= 500)
		s->bad++;
	if (posta_log_enabled(s->conn, POSTA_LOG_DEBUG))
		posta_conn_log(s->conn, POSTA_LOG_DEBUG, "smtp.reply",
		    "code=%u", code);
}

void
smtp_reply(struct smtp_session *s, unsigned code, const char *enhanced,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	reply_v(s, code, enhanced, fmt, ap);
	va_end(ap);
}

void
smtp_reply_status(struct smtp_session *s, const struct smtp_status *st)
{
	smtp_reply(s, st->code, st->enhanced, "%s", st->text);
}

void
smtp_close_421(struct smtp_session *s, const char *enhanced, const char *text)
{
	char clean[256];
	size_t i, n = 0;

	for (i = 0; text != NULL && text[i] != '\0' && n < sizeof(clean) - 1;
	    i++)
		if ((unsigned char)text[i] >= 0x20 && text[i] != 0x7f)
			clean[n++] = text[i];
	clean[n] = '\0';
	posta_conn_printf(s->conn, "421 %s %s %s\r\n", enhanced,
	    posta_host_hostname(s->eng->host), n > 0 ? clean :
	    "Service not available, closing channel");
	s->closing = true;
	posta_conn_close(s->conn);
}

/* ---- state ---- */

static void
update_pause(struct smtp_session *s)
{
	bool want = s->busy || s->flow_paused;

	if (want == s->paused)
		return;
	s->paused = want;
	if (want)
		posta_conn_pause(s->conn);
	else
		posta_conn_resume(s->conn);
}

void
smtp_busy(struct smtp_session *s, bool busy)
{
	s->busy = busy;
	update_pause(s);
}

void
smtp_flow_pause(struct smtp_session *s, bool paused)
{
	s->flow_paused = paused;
	update_pause(s);
}

bool
smtp_authed(const struct smtp_session *s)
{
	return posta_conn_user(s->conn) != NULL;
}

void
smtp_facts(const struct smtp_session *s, struct smtp_facts *f)
{
	memset(f, 0, sizeof(*f));
	f->greeted = s->greeted;
	f->esmtp = s->esmtp;
	f->tls = posta_conn_is_tls(s->conn);
	f->starttls_offered = posta_conn_tls_mode(s->conn) ==
	    POSTA_TLS_STARTTLS && !f->tls;
	f->plaintext_ok = posta_conn_plaintext_auth_allowed(s->conn);
	f->authed = smtp_authed(s);
	f->in_tx = s->tx != NULL;
}

uint64_t
smtp_max_size(const struct smtp_session *s)
{
	const struct posta_store_info *info =
	    posta_store_get_info(s->eng->host);
	uint64_t max = s->set.max_message_size;

	/* leave the store room for the trace and added fields */
	if (info != NULL && info->max_message_size != 0) {
		uint64_t room = info->max_message_size > 16384 ?
		    info->max_message_size - 16384 : 1024;

		if (room < max)
			max = room;
	}
	return max;
}

void
smtp_mode_cmd(struct smtp_session *s)
{
	s->mode = SMTP_MODE_CMD;
	posta_conn_set_timeout(s->conn, s->set.command_timeout_ms);
}

/* ---- simple commands ---- */

static void
junk(struct smtp_session *s)
{
	s->junk++;
}

static void
cmd_helo(struct smtp_session *s, bool esmtp)
{
	struct smtp_facts f;
	struct smtp_caps caps;
	const char *lines[16];
	char size_line[40];
	size_t n = 0, i;

	/* RFC 5321 4.1.4: a second EHLO is an implicit RSET */
	smtp_txn_free(s);
	snprintf(s->helo, sizeof(s->helo), "%s", s->cmd.arg);
	s->greeted = true;
	s->esmtp = esmtp;
	s->po.utf8_tx = false;
	if (!esmtp) {
		/* RFC 5321 4.1.1.1: no extensions after HELO */
		s->po.ext = 0;
		smtp_reply(s, 250, NULL, "%s",
		    posta_host_hostname(s->eng->host));
		return;
	}
	s->po.ext = SMTP_EXT_SIZE | SMTP_EXT_8BITMIME | SMTP_EXT_SMTPUTF8 |
	    SMTP_EXT_DSN | SMTP_EXT_AUTH;
	smtp_facts(s, &f);
	smtp_policy_caps(s->policy, &f, &caps);
	snprintf(size_line, sizeof(size_line), "SIZE %llu",
	    (unsigned long long)smtp_max_size(s));
	lines[n++] = "PIPELINING";
	lines[n++] = size_line;
	lines[n++] = "8BITMIME";
	lines[n++] = "ENHANCEDSTATUSCODES";
	lines[n++] = "SMTPUTF8";
	lines[n++] = "CHUNKING";
	lines[n++] = "DSN";
	if (caps.starttls)
		lines[n++] = "STARTTLS";
	if (caps.auth)
		lines[n++] = "AUTH PLAIN LOGIN";
	lines[n++] = "HELP";
	posta_conn_printf(s->conn, "250-%s\r\n",
	    posta_host_hostname(s->eng->host));
	for (i = 0; i < n; i++)
		posta_conn_printf(s->conn, "250%c%s\r\n",
		    i + 1 < n ? '-' : ' ', lines[i]);
}

static void
cmd_starttls(struct smtp_session *s)
{
	struct smtp_facts f;
	const struct smtp_status *st;
	int ret;

	smtp_facts(s, &f);
	st = smtp_policy_starttls(s->policy, &f);
	if (st != NULL) {
		smtp_reply_status(s, st);
		return;
	}
	smtp_reply(s, 220, "2.0.0", "Ready to start TLS");
	ret = posta_conn_starttls(s->conn);
	if (ret < 0) {
		/* the client now speaks TLS to a server that cannot */
		posta_conn_log(s->conn, POSTA_LOG_WARN, "smtp.starttls_failed",
		    "error=\"%s\"", posta_strerror(ret));
		s->closing = true;
		posta_conn_close(s->conn);
	}
}

static void
dispatch(struct smtp_session *s)
{
	switch (s->cmd.verb) {
	case SMTP_VERB_EHLO:
		cmd_helo(s, true);
		break;
	case SMTP_VERB_HELO:
		cmd_helo(s, false);
		break;
	case SMTP_VERB_MAIL:
		smtp_cmd_mail(s);
		break;
	case SMTP_VERB_RCPT:
		smtp_cmd_rcpt(s);
		break;
	case SMTP_VERB_DATA:
		smtp_cmd_data(s);
		break;
	case SMTP_VERB_BDAT:
		smtp_cmd_bdat(s);
		break;
	case SMTP_VERB_RSET:
		junk(s);
		smtp_txn_free(s);
		smtp_reply(s, 250, "2.0.0", "OK");
		break;
	case SMTP_VERB_NOOP:
		junk(s);
		smtp_reply(s, 250, "2.0.0", "OK");
		break;
	case SMTP_VERB_QUIT:
		smtp_reply(s, 221, "2.0.0", "Bye");
		s->closing = true;
		posta_conn_close(s->conn);
		break;
	case SMTP_VERB_HELP:
		junk(s);
		smtp_reply(s, 214, "2.0.0", "Commands: EHLO HELO MAIL RCPT "
		    "DATA BDAT RSET NOOP QUIT HELP VRFY STARTTLS AUTH; "
		    "see RFC 5321");
		break;
	case SMTP_VERB_VRFY:
		junk(s);
		smtp_reply(s, 252, "2.5.2", "Cannot VRFY user, but will "
		    "accept message and attempt delivery");
		break;
	case SMTP_VERB_EXPN:
		junk(s);
		smtp_reply(s, 502, "5.5.1", "EXPN not available");
		break;
	case SMTP_VERB_AUTH:
		smtp_cmd_auth(s);
		break;
	case SMTP_VERB_STARTTLS:
		cmd_starttls(s);
		break;
	case SMTP_VERB_UNKNOWN:
	default:
		smtp_reply_status(s, smtp_parse_status(SMTP_PERR_UNKNOWN));
		break;
	}
}

/* ---- connection handler ---- */

static void
on_command(struct smtp_session *s, const uint8_t *line, size_t len,
    unsigned flags)
{
	const struct smtp_status *st;
	int ret;

	if (s->bad >= (uint64_t)s->set.max_bad_commands) {
		smtp_close_421(s, "4.7.0", "Too many errors, closing");
		return;
	}
	if (s->junk > (uint64_t)s->set.max_junk_commands) {
		smtp_close_421(s, "4.7.0", "Too many commands without mail, "
		    "closing");
		return;
	}
	if (flags & POSTA_LINE_TOO_LONG) {
		smtp_reply_status(s,
		    smtp_parse_status(SMTP_PERR_LINE_TOO_LONG));
		return;
	}
	arena_reset(s->cmd_arena);
	ret = smtp_parse_line(s->cmd_arena, &s->po, line, len,
	    (flags & POSTA_LINE_CRLF) != 0, &s->cmd);
	if (ret < 0) {
		smtp_reply(s, 451, "4.3.0", "Out of memory, try again");
		return;
	}
	if (posta_log_enabled(s->conn, POSTA_LOG_DEBUG))
		posta_conn_log(s->conn, POSTA_LOG_DEBUG, "smtp.command",
		    "verb=%s len=%zu", smtp_verb_name(s->cmd.verb), len);
	if (s->cmd.err != SMTP_PERR_NONE) {
		st = smtp_parse_status(s->cmd.err);
		if (s->cmd.err_param != NULL)
			smtp_reply(s, st->code, st->enhanced, "%s: %s",
			    st->text, s->cmd.err_param);
		else
			smtp_reply_status(s, st);
		if (s->cmd.verb == SMTP_VERB_BDAT) {
			/* how many bytes follow is anyone's guess */
			s->closing = true;
			posta_conn_close(s->conn);
		}
		return;
	}
	dispatch(s);
}

static void
on_line(void *ctx, const uint8_t *line, size_t len, unsigned flags)
{
	struct smtp_session *s = ctx;

	if (s->closing)
		return;
	switch (s->mode) {
	case SMTP_MODE_DATA:
		smtp_data_line(s, line, len, flags);
		break;
	case SMTP_MODE_AUTH:
		smtp_auth_line(s, line, len, flags);
		break;
	case SMTP_MODE_BDAT:
		/* the core delivers BDAT bytes through data() */
		break;
	case SMTP_MODE_CMD:
	default:
		on_command(s, line, len, flags);
		break;
	}
}

static void
on_data(void *ctx, const uint8_t *data, size_t len, bool last)
{
	struct smtp_session *s = ctx;

	if (s->closing || s->mode != SMTP_MODE_BDAT)
		return;
	smtp_bdat_bytes(s, data, len, last);
}

static void
on_tls(void *ctx, int err)
{
	struct smtp_session *s = ctx;

	if (err != 0)
		return;
	/* RFC 3207 4.2: forget everything learnt before TLS */
	smtp_txn_free(s);
	smtp_auth_clear(s);
	s->greeted = s->esmtp = false;
	s->helo[0] = '\0';
	s->po.ext = 0;
	s->po.utf8_tx = false;
	s->mode = SMTP_MODE_CMD;
}

static void
on_timeout(void *ctx)
{
	struct smtp_session *s = ctx;

	if (s->busy || s->flow_paused) {
		/* our own wait (store, lookup), not the client's: re-arm */
		posta_conn_set_timeout(s->conn, s->mode == SMTP_MODE_CMD ?
		    s->set.command_timeout_ms : s->set.data_timeout_ms);
		return;
	}
	posta_conn_log(s->conn, POSTA_LOG_INFO, "smtp.timeout", "mode=%d",
	    (int)s->mode);
	smtp_close_421(s, "4.4.2", "Timeout exceeded, closing");
}

static void
on_close(void *ctx, int reason)
{
	struct smtp_session *s = ctx;

	s->closing = true;
	smtp_quota_check_cancel(s);
	smtp_txn_free(s);
	smtp_auth_clear(s);
	arena_free(&s->cmd_arena);
	free(s);
}

static const struct posta_conn_handler smtp_handler = {
	.line = on_line,
	.data = on_data,
	.tls = on_tls,
	.timeout = on_timeout,
	.close = on_close,
};

static int
smtp_accept(void *state, struct posta_conn *conn)
{
	struct smtp_engine *eng = state;
	struct smtp_session *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return -ENOMEM;
	s->eng = eng;
	s->policy = eng->policy;
	s->set = *eng->set;
	s->conn = conn;
	s->cmd_arena = arena_new(4096, 8 * s->set.max_command_length + 1024);
	if (s->cmd_arena == NULL) {
		free(s);
		return -ENOMEM;
	}
	smtp_parse_opts_init(&s->po);
	s->po.max_line_len = s->set.max_command_length;
	posta_conn_set_handler(conn, &smtp_handler, s);
	posta_conn_set_timeout(conn, s->set.command_timeout_ms);
	posta_conn_printf(conn, "220 %s ESMTP Posta\r\n",
	    posta_host_hostname(eng->host));
	return 0;
}

static void
smtp_refuse(void *state, struct posta_conn *conn, enum posta_refusal refusal,
    const char *text)
{
	struct smtp_engine *eng = state;
	char clean[256];
	size_t i, n = 0;

	for (i = 0; text != NULL && text[i] != '\0' && n < sizeof(clean) - 1;
	    i++)
		if ((unsigned char)text[i] >= 0x20 && text[i] != 0x7f)
			clean[n++] = text[i];
	clean[n] = '\0';
	posta_conn_printf(conn, "421 %s %s %s\r\n",
	    refusal == POSTA_REFUSE_SHUTDOWN ? "4.3.2" : "4.7.0",
	    posta_host_hostname(eng->host), n > 0 ? clean :
	    "Service not available");
}

int
smtp_engine_init(struct posta_host *host, const struct smtp_policy *policy,
    const void *settings, void **state_r, const char **error_r)
{
	struct smtp_engine *eng = calloc(1, sizeof(*eng));
	int ret;

	if (eng == NULL) {
		*error_r = "out of memory";
		return -ENOMEM;
	}
	eng->host = host;
	eng->policy = policy;
	eng->set = settings;
	eng->proto.name = policy->name;
	eng->proto.accept = smtp_accept;
	eng->proto.refuse = smtp_refuse;
	ret = posta_host_register_protocol(host, &eng->proto, eng);
	if (ret < 0) {
		free(eng);
		*error_r = "cannot register the protocol";
		return ret;
	}
	*state_r = eng;
	return 0;
}

int
smtp_engine_reload(void *state, const void *settings, const char **error_r)
{
	((struct smtp_engine *)state)->set = settings;
	return 0;
}

void
smtp_engine_deinit(void *state)
{
	free(state);
}
