/* smtp_cmd_auth.c: AUTH PLAIN and LOGIN (RFC 4954, RFC 4616) */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "smtp_session.h"
#include "util.h"

/*
 * Secrets.  The base64 text of a password sits in the core's line buffer
 * (the initial response points into it; see smtp_parse.h) and is decoded
 * here into a heap buffer that is wiped and freed before the handler
 * returns; posta_conn_login copies the password.  The LOGIN mechanism's
 * user name is kept between its two steps (not a secret, wiped anyway).
 * Nothing of a response is ever logged.
 */

/* RFC 4616: authzid, authcid and passwd are at most 255 octets each */
#define SASL_FIELD_MAX	255

static const struct smtp_status st_bad_mech = { 504, "5.5.4",
	"Unrecognized authentication mechanism" };
static const struct smtp_status st_cancel = { 501, "5.0.0",
	"Authentication canceled" };
static const struct smtp_status st_b64 = { 501, "5.5.2",
	"Cannot decode response" };
static const struct smtp_status st_invalid = { 535, "5.7.8",
	"Authentication credentials invalid" };
static const struct smtp_status st_temp = { 454, "4.7.0",
	"Temporary authentication failure" };
static const struct smtp_status st_too_long = { 500, "5.5.6",
	"Authentication exchange line is too long" };

void
smtp_auth_clear(struct smtp_session *s)
{
	if (s->auth_user != NULL) {
		util_wipe(s->auth_user, strlen(s->auth_user));
		free(s->auth_user);
		s->auth_user = NULL;
	}
	if (s->mode == SMTP_MODE_AUTH)
		s->mode = SMTP_MODE_CMD;
}

/* Decodes base64 into a NUL-terminated heap buffer; "=" is empty. */
static int
decode(const uint8_t *in, size_t len, uint8_t **out_r, size_t *len_r)
{
	uint8_t *out;
	long n;

	*out_r = NULL;
	out = malloc(base64_decoded_max(len) + 1);
	if (out == NULL)
		return -ENOMEM;
	if (len == 1 && in[0] == '=') {
		n = 0;
	} else {
		n = base64_decode((const char *)in, len, out);
		if (n < 0) {
			free(out);
			return -EINVAL;
		}
	}
	out[n] = '\0';
	*out_r = out;
	*len_r = (size_t)n;
	return 0;
}

static void
wipe_free(uint8_t *p, size_t len)
{
	if (p == NULL)
		return;
	util_wipe(p, len);
	free(p);
}

static void
login_done(void *ctx, enum posta_login_result result, const char *text)
{
	struct smtp_session *s = ctx;

	smtp_busy(s, false);
	switch (result) {
	case POSTA_LOGIN_OK:
		smtp_reply(s, 235, "2.7.0", "Authentication successful");
		break;
	case POSTA_LOGIN_FAIL:
		smtp_reply_status(s, &st_invalid);
		break;
	case POSTA_LOGIN_TEMPFAIL:
		smtp_reply_status(s, &st_temp);
		break;
	case POSTA_LOGIN_LIMIT:
		/* DESIGN: the per-user-per-IP cap answers 421 */
		smtp_close_421(s, "4.7.0", text != NULL ? text :
		    "Too many sessions for this user");
		break;
	case POSTA_LOGIN_THROTTLED:
	default:
		smtp_close_421(s, "4.7.0", text != NULL ? text :
		    "Too many failed logins, try again later");
		break;
	}
}

static void
do_login(struct smtp_session *s, const char *user, const char *password)
{
	int ret;

	if (user[0] == '\0' || password[0] == '\0' ||
	    strlen(user) > SASL_FIELD_MAX ||
	    strlen(password) > SASL_FIELD_MAX) {
		smtp_reply_status(s, &st_invalid);
		return;
	}
	ret = posta_conn_login(s->conn, user, password, login_done, s);
	if (ret < 0) {
		posta_conn_log(s->conn, POSTA_LOG_WARN, "smtp.auth_error",
		    "error=\"%s\"", posta_strerror(ret));
		smtp_reply_status(s, &st_temp);
		return;
	}
	smtp_busy(s, true);
}

/* RFC 4616: [authzid] NUL authcid NUL passwd */
static void
auth_plain(struct smtp_session *s, const uint8_t *msg, size_t len)
{
	const uint8_t *nul1, *nul2;
	const char *authzid, *authcid, *passwd;

	nul1 = memchr(msg, '\0', len);
	nul2 = nul1 != NULL ? memchr(nul1 + 1, '\0',
	    len - (size_t)(nul1 + 1 - msg)) : NULL;
	if (nul1 == NULL || nul2 == NULL ||
	    memchr(nul2 + 1, '\0', len - (size_t)(nul2 + 1 - msg)) != NULL) {
		smtp_reply_status(s, &st_invalid);
		return;
	}
	authzid = (const char *)msg;
	authcid = (const char *)nul1 + 1;
	passwd = (const char *)nul2 + 1;
	/* acting for someone else is not a thing here */
	if (authzid[0] != '\0' && strcmp(authzid, authcid) != 0) {
		smtp_reply_status(s, &st_invalid);
		return;
	}
	do_login(s, authcid, passwd);
}

void
smtp_cmd_auth(struct smtp_session *s)
{
	const struct smtp_cmd *c = &s->cmd;
	struct smtp_facts f;
	const struct smtp_status *st;
	uint8_t *msg;
	size_t len;
	int ret;

	smtp_facts(s, &f);
	st = smtp_policy_auth(s->policy, &f);
	if (st != NULL) {
		smtp_reply_status(s, st);
		return;
	}
	if (strcmp(c->auth.mech, "PLAIN") == 0) {
		s->auth_step = SMTP_AUTH_PLAIN;
	} else if (strcmp(c->auth.mech, "LOGIN") == 0) {
		s->auth_step = SMTP_AUTH_LOGIN_USER;
	} else {
		smtp_reply_status(s, &st_bad_mech);
		return;
	}
	if (c->auth.initial == NULL) {
		s->mode = SMTP_MODE_AUTH;
		/* LOGIN's prompts are base64 "Username:" and "Password:" */
		smtp_reply(s, 334, NULL, "%s",
		    s->auth_step == SMTP_AUTH_PLAIN ? "" : "VXNlcm5hbWU6");
		return;
	}
	ret = decode(c->auth.initial, c->auth.initial_len, &msg, &len);
	if (ret < 0) {
		smtp_reply_status(s, ret == -EINVAL ? &st_b64 : &st_temp);
		return;
	}
	if (s->auth_step == SMTP_AUTH_PLAIN) {
		auth_plain(s, msg, len);
	} else if (memchr(msg, '\0', len) != NULL || len == 0) {
		smtp_reply_status(s, &st_invalid);
	} else {
		s->auth_user = strdup((const char *)msg);
		if (s->auth_user == NULL) {
			smtp_reply_status(s, &st_temp);
		} else {
			s->auth_step = SMTP_AUTH_LOGIN_PASS;
			s->mode = SMTP_MODE_AUTH;
			smtp_reply(s, 334, NULL, "UGFzc3dvcmQ6");
		}
	}
	wipe_free(msg, len);
}

void
smtp_auth_line(struct smtp_session *s, const uint8_t *line, size_t len,
    unsigned flags)
{
	uint8_t *msg;
	size_t n;
	int ret;

	s->mode = SMTP_MODE_CMD;
	if (flags & POSTA_LINE_TOO_LONG) {
		smtp_auth_clear(s);
		smtp_reply_status(s, &st_too_long);
		return;
	}
	if (len == 1 && line[0] == '*') {
		smtp_auth_clear(s);
		smtp_reply_status(s, &st_cancel);
		return;
	}
	ret = decode(line, len, &msg, &n);
	if (ret < 0) {
		smtp_auth_clear(s);
		smtp_reply_status(s, ret == -EINVAL ? &st_b64 : &st_temp);
		return;
	}
	switch (s->auth_step) {
	case SMTP_AUTH_PLAIN:
		auth_plain(s, msg, n);
		break;
	case SMTP_AUTH_LOGIN_USER:
		if (n == 0 || memchr(msg, '\0', n) != NULL) {
			smtp_reply_status(s, &st_invalid);
			break;
		}
		s->auth_user = strdup((const char *)msg);
		if (s->auth_user == NULL) {
			smtp_reply_status(s, &st_temp);
			break;
		}
		s->auth_step = SMTP_AUTH_LOGIN_PASS;
		s->mode = SMTP_MODE_AUTH;
		smtp_reply(s, 334, NULL, "UGFzc3dvcmQ6");
		break;
	case SMTP_AUTH_LOGIN_PASS:
		if (memchr(msg, '\0', n) != NULL || s->auth_user == NULL)
			smtp_reply_status(s, &st_invalid);
		else
			do_login(s, s->auth_user, (const char *)msg);
		smtp_auth_clear(s);
		break;
	}
	wipe_free(msg, n);
}
