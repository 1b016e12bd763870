/* imap_cmd_auth.c: STARTTLS LOGIN AUTHENTICATE (PLAIN, LOGIN, SASL-IR) */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap.h"
#include "util.h"

enum sasl_mech {
	SASL_PLAIN = 1,
	SASL_LOGIN,
};

/* Longest decoded SASL response we take: RFC 4616 bounds each field. */
#define SASL_MAX 2048

static const char privacy_text[] = "NO [PRIVACYREQUIRED] Plaintext "
    "authentication disallowed on non-secure connections.";

void
imap_cmd_starttls(struct imap_session *s, struct imap_cmd *c)
{
	struct posta_conn *conn = s->conn;
	int r;

	if (c->args != NULL) {
		imap_cmd_bad(s, "STARTTLS takes no arguments.");
		return;
	}
	if (posta_conn_is_tls(conn)) {
		imap_cmd_bad(s, "TLS is already active.");
		return;
	}
	if (posta_conn_tls_mode(conn) != POSTA_TLS_STARTTLS) {
		imap_cmd_bad(s, "STARTTLS is not available.");
		return;
	}
	imap_cmd_done(s, "OK Begin TLS negotiation now.");
	/* CVE-2011-0411: nothing pipelined behind STARTTLS may run; the
	 * core drops its buffer, we drop ours and the parser's */
	s->pend_len = 0;
	imap_parser_reset(s->parser);
	r = posta_conn_starttls(conn);
	if (r < 0) {
		posta_conn_log(conn, POSTA_LOG_WARN, "imap.starttls_failed",
		    "error=\"%s\"", posta_strerror(r));
		imap_bye(s, "TLS unavailable.");
	}
}

/* ---- login ---- */

static void
user_open_cb(void *ctx, int err, struct posta_mail_user *user)
{
	struct imap_session *s = ctx;

	if (imap_cb_enter(s)) {
		posta_mail_user_close(&user);
		return;
	}
	if (err < 0) {
		posta_conn_log(s->conn, POSTA_LOG_WARN, "imap.user_open_failed",
		    "error=\"%s\"", posta_strerror(err));
		imap_puts(s, "* BYE Mail storage is unavailable.\r\n");
		s->state = IMAP_STATE_LOGOUT;
		imap_cmd_done(s, "NO [UNAVAILABLE] Mail storage is "
		    "unavailable, try again later.");
	} else {
		s->user = user;
		s->state = IMAP_STATE_AUTH;
		imap_cmd_done(s, "OK [CAPABILITY %s] Logged in.",
		    imap_capabilities(s));
	}
	imap_cb_leave(s);
}

/* The refusal text goes into a reply line: no CR, LF or brackets games. */
static const char *
clean_text(struct imap_session *s, const char *text, const char *def)
{
	char *t;
	size_t i;

	if (text == NULL || text[0] == '\0')
		return def;
	t = arena_strdup(s->cmd_arena, text);
	if (t == NULL)
		return def;
	for (i = 0; t[i] != '\0'; i++)
		if ((unsigned char)t[i] < 0x20 || t[i] == 0x7f)
			t[i] = ' ';
	return t;
}

static void
login_cb(void *ctx, enum posta_login_result result, const char *text)
{
	struct imap_session *s = ctx;
	int r;

	imap_ref(s);
	switch (result) {
	case POSTA_LOGIN_OK:
		posta_conn_set_timeout(s->conn, s->mod->set->idle_timeout_ms);
		r = posta_mail_user_open(s->mod->host, posta_conn_user(s->conn),
		    user_open_cb, s);
		if (r == 0) {
			imap_ref(s);
			break;
		}
		posta_conn_log(s->conn, POSTA_LOG_WARN, "imap.user_open_failed",
		    "error=\"%s\"", posta_strerror(r));
		imap_puts(s, "* BYE Mail storage is unavailable.\r\n");
		s->state = IMAP_STATE_LOGOUT;
		imap_cmd_done(s, "NO [UNAVAILABLE] Mail storage is "
		    "unavailable, try again later.");
		break;
	case POSTA_LOGIN_FAIL:
		imap_cmd_done(s, "NO [AUTHENTICATIONFAILED] Authentication "
		    "failed.");
		break;
	case POSTA_LOGIN_LIMIT:
		imap_cmd_done(s, "NO [LIMIT] %s", clean_text(s, text,
		    "Too many sessions for this user from this address."));
		break;
	case POSTA_LOGIN_THROTTLED:
		imap_cmd_done(s, "NO [UNAVAILABLE] %s", clean_text(s, text,
		    "Too many failed logins, try again later."));
		break;
	case POSTA_LOGIN_TEMPFAIL:
	default:
		imap_cmd_done(s, "NO [UNAVAILABLE] %s", clean_text(s, text,
		    "Temporary authentication failure, try again later."));
		break;
	}
	imap_unref(s);
}

void
imap_login_start(struct imap_session *s, const char *user,
    const char *password)
{
	int r;

	if (user[0] == '\0') {
		imap_cmd_done(s, "NO [AUTHENTICATIONFAILED] Authentication "
		    "failed.");
		return;
	}
	r = posta_conn_login(s->conn, user, password, login_cb, s);
	if (r < 0) {
		imap_cmd_done(s, "NO [UNAVAILABLE] Authentication is "
		    "unavailable, try again later.");
		return;
	}
	imap_cmd_wait(s);
}

void
imap_cmd_login(struct imap_session *s, struct imap_cmd *c)
{
	const char *user, *pass;

	if (imap_args_count(c->args) != 2 ||
	    !imap_arg_get_astring(c->args, &user, NULL) ||
	    !imap_arg_get_astring(c->args->next, &pass, NULL)) {
		imap_cmd_bad(s, "LOGIN needs a user name and a password.");
		return;
	}
	if (!posta_conn_plaintext_auth_allowed(s->conn)) {
		imap_cmd_done(s, "%s", privacy_text);
		return;
	}
	imap_login_start(s, user, pass);
}

/* ---- AUTHENTICATE ---- */

static void sasl_line(struct imap_session *s, const uint8_t *line,
    size_t len);
static void sasl_line_error(struct imap_session *s, const char *msg);

static void
sasl_end(struct imap_session *s)
{
	if (s->sasl_user != NULL) {
		util_wipe(s->sasl_user, strlen(s->sasl_user));
		free(s->sasl_user);
		s->sasl_user = NULL;
	}
	s->sasl_step = 0;
	s->sasl_mech = 0;
}

/* Asks for the next response: "+ challenge" and a raw line. */
static void
sasl_continue(struct imap_session *s, const char *challenge)
{
	if (imap_parser_expect_line(s->parser) < 0) {
		sasl_end(s);
		imap_cmd_bad(s, "Authentication exchange failed.");
		return;
	}
	s->cmd.line = sasl_line;
	s->cmd.line_error = sasl_line_error;
	imap_printf(s, "+ %s\r\n", challenge);
}

/* Decodes one base64 response into a NUL-terminated buffer. */
static long
sasl_decode(const uint8_t *in, size_t len, uint8_t *out, size_t out_size)
{
	long n;

	if (len == 1 && in[0] == '=')
		return 0;	/* SASL-IR: an empty initial response */
	if (len == 0)
		return 0;
	if (base64_decoded_max(len) + 1 > out_size)
		return -EMSGSIZE;
	n = base64_decode((const char *)in, len, out);
	if (n < 0)
		return n;
	out[n] = '\0';
	return n;
}

static void
sasl_plain(struct imap_session *s, const uint8_t *buf, size_t len)
{
	const char *authz = (const char *)buf, *authc, *pass;
	size_t zlen, clen;

	zlen = strnlen(authz, len);
	if (zlen >= len) {
		imap_cmd_bad(s, "Invalid PLAIN response.");
		return;
	}
	authc = authz + zlen + 1;
	clen = strnlen(authc, len - zlen - 1);
	if (zlen + 1 + clen >= len) {
		imap_cmd_bad(s, "Invalid PLAIN response.");
		return;
	}
	pass = authc + clen + 1;
	if (memchr(pass, '\0', len - zlen - clen - 2) != NULL) {
		imap_cmd_bad(s, "Invalid PLAIN response.");
		return;
	}
	/* acting as someone else is not offered */
	if (zlen > 0 && strcmp(authz, authc) != 0) {
		imap_cmd_done(s, "NO [AUTHORIZATIONFAILED] Authorization "
		    "identity not allowed.");
		return;
	}
	imap_login_start(s, authc, pass);
}

static void
sasl_response(struct imap_session *s, const uint8_t *in, size_t len)
{
	uint8_t buf[SASL_MAX + 1];
	long n;

	if (len == 1 && in[0] == '*') {
		sasl_end(s);
		imap_cmd_bad(s, "Authentication cancelled.");
		return;
	}
	n = sasl_decode(in, len, buf, sizeof(buf));
	if (n < 0) {
		sasl_end(s);
		imap_cmd_bad(s, "Invalid base64 in authentication response.");
		return;
	}
	if (s->sasl_mech == SASL_PLAIN) {
		sasl_end(s);
		sasl_plain(s, buf, (size_t)n);
	} else if (s->sasl_step == 0) {
		/* LOGIN: the user name */
		if (memchr(buf, '\0', (size_t)n) != NULL ||
		    (s->sasl_user = malloc((size_t)n + 1)) == NULL) {
			sasl_end(s);
			imap_cmd_bad(s, "Invalid user name.");
		} else {
			memcpy(s->sasl_user, buf, (size_t)n);
			s->sasl_user[n] = '\0';
			s->sasl_step = 1;
			sasl_continue(s, "UGFzc3dvcmQ6");
		}
	} else {
		char *user = s->sasl_user;

		s->sasl_user = NULL;
		sasl_end(s);
		if (memchr(buf, '\0', (size_t)n) != NULL)
			imap_cmd_bad(s, "Invalid password.");
		else
			imap_login_start(s, user, (const char *)buf);
		util_wipe(user, strlen(user));
		free(user);
	}
	util_wipe(buf, sizeof(buf));
}

static void
sasl_line(struct imap_session *s, const uint8_t *line, size_t len)
{
	s->cmd.line = NULL;
	s->cmd.line_error = NULL;
	sasl_response(s, line, len);
}

/* An over-long response: the exchange ends, and the LOGIN user with it. */
static void
sasl_line_error(struct imap_session *s, const char *msg)
{
	sasl_end(s);
	imap_cmd_bad(s, msg);
}

void
imap_cmd_authenticate(struct imap_session *s, struct imap_cmd *c)
{
	const char *mech, *ir = NULL;
	unsigned int n = imap_args_count(c->args);

	if (n < 1 || n > 2 || !imap_arg_get_atom(c->args, &mech) ||
	    (n == 2 && !imap_arg_get_atom(c->args->next, &ir))) {
		imap_cmd_bad(s, "AUTHENTICATE needs a mechanism.");
		return;
	}
	if (util_strcaseeq(mech, "PLAIN"))
		s->sasl_mech = SASL_PLAIN;
	else if (util_strcaseeq(mech, "LOGIN"))
		s->sasl_mech = SASL_LOGIN;
	else {
		imap_cmd_done(s, "NO [CANNOT] Unsupported authentication "
		    "mechanism.");
		return;
	}
	if (!posta_conn_plaintext_auth_allowed(s->conn)) {
		s->sasl_mech = 0;
		imap_cmd_done(s, "%s", privacy_text);
		return;
	}
	s->sasl_step = 0;
	if (ir != NULL) {
		sasl_response(s, (const uint8_t *)ir, strlen(ir));
		return;
	}
	sasl_continue(s, s->sasl_mech == SASL_PLAIN ? "" : "VXNlcm5hbWU6");
}
