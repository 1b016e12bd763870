/* echo.c: test-only protocol module that exercises the core's connection API */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <posta/posta.h>

struct echo_settings {
	const char *greeting;
	const char *register_as;	/* protocol name, so policy tests can
					   stand in for imap or pop3 */
};

struct echo_state {
	struct posta_host *host;
	const struct echo_settings *set;
	struct posta_protocol proto;
};

struct echo_session {
	struct echo_state *st;
	struct posta_conn *conn;
	uint64_t read_total, read_sum;
	uint64_t big_left;
	uv_timer_t slow;
	bool slow_active, closed;
};

static void
slow_closed(uv_handle_t *h)
{
	free(h->data);
}

static void
session_free(struct echo_session *s)
{
	/* the timer handle owns the session memory until it is closed */
	s->slow.data = s;
	uv_close((uv_handle_t *)&s->slow, slow_closed);
}

static void
big_write(struct echo_session *s)
{
	static const char chunk[] =
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n";

	/* keep at most 64k queued: the drain callback asks for more */
	while (s->big_left > 0 && posta_conn_write_pending(s->conn) < 65536) {
		size_t n = sizeof(chunk) - 1;

		if (n > s->big_left)
			n = (size_t)s->big_left;
		posta_conn_write(s->conn, chunk + sizeof(chunk) - 1 - n, n);
		s->big_left -= n;
	}
	if (s->big_left == 0)
		posta_conn_puts(s->conn, "+BIG done\r\n");
}

static void
echo_drain(void *ctx)
{
	struct echo_session *s = ctx;

	if (s->big_left > 0)
		big_write(s);
}

static void
login_done(void *ctx, enum posta_login_result result, const char *text)
{
	struct echo_session *s = ctx;
	static const char *const names[] = { "OK", "FAIL", "TEMPFAIL",
		"LIMIT", "THROTTLED" };

	if (result == POSTA_LOGIN_OK)
		posta_conn_printf(s->conn, "+OK logged in as %s\r\n",
		    posta_conn_user(s->conn));
	else
		posta_conn_printf(s->conn, "-ERR [%s] %s\r\n", names[result],
		    text != NULL ? text : "login failed");
	posta_conn_resume(s->conn);
}

static void
resolve_done(void *ctx, const struct posta_resolution *res)
{
	struct echo_session *s = ctx;
	static const char *const kinds[] = { "LOCAL", "EXTERNAL", "UNKNOWN",
		"NOT_MINE", "TEMPFAIL" };
	size_t i;

	posta_conn_printf(s->conn, "+RESOLVE %s", kinds[res->kind]);
	for (i = 0; i < res->n_accounts; i++)
		posta_conn_printf(s->conn, " %s", res->accounts[i]);
	for (i = 0; i < res->n_external; i++)
		posta_conn_printf(s->conn, " ext:%s", res->external[i]);
	posta_conn_puts(s->conn, "\r\n");
	posta_conn_resume(s->conn);
}

static void
slow_cb(uv_timer_t *t)
{
	struct echo_session *s = t->data;

	s->slow_active = false;
	posta_conn_puts(s->conn, "+SLOW done\r\n");
	posta_conn_resume(s->conn);
}

static void
echo_line(void *ctx, const uint8_t *line, size_t len, unsigned flags)
{
	struct echo_session *s = ctx;
	char buf[256];

	if (flags & POSTA_LINE_TOO_LONG) {
		posta_conn_puts(s->conn, "-ERR line too long\r\n");
		return;
	}
	if (len < sizeof(buf)) {
		memcpy(buf, line, len);
		buf[len] = '\0';
	} else {
		buf[0] = '\0';
	}
	if (strcmp(buf, "QUIT") == 0) {
		posta_conn_puts(s->conn, "+BYE\r\n");
		posta_conn_close(s->conn);
	} else if (strcmp(buf, "STARTTLS") == 0) {
		int r;

		posta_conn_puts(s->conn, "+OK begin TLS\r\n");
		r = posta_conn_starttls(s->conn);
		if (r < 0)
			posta_conn_printf(s->conn, "-ERR %s\r\n",
			    posta_strerror(r));
	} else if (strcmp(buf, "TLS") == 0) {
		const char *info = posta_conn_tls_info(s->conn);

		posta_conn_printf(s->conn, "+TLS %s\r\n", info != NULL ? info :
		    "off");
	} else if (strncmp(buf, "READ ", 5) == 0) {
		unsigned long long n = strtoull(buf + 5, NULL, 10);

		if (n == 0 || posta_conn_read_bytes(s->conn, n) < 0) {
			posta_conn_puts(s->conn, "-ERR bad count\r\n");
			return;
		}
		s->read_total = s->read_sum = 0;
		posta_conn_puts(s->conn, "+READ go\r\n");
	} else if (strncmp(buf, "BIG ", 4) == 0) {
		s->big_left = strtoull(buf + 4, NULL, 10);
		big_write(s);
	} else if (strncmp(buf, "LOGIN ", 6) == 0) {
		char *user = buf + 6, *pass = strchr(user, ' ');
		int r;

		if (pass == NULL) {
			posta_conn_puts(s->conn, "-ERR usage\r\n");
			return;
		}
		*pass++ = '\0';
		if (!posta_conn_plaintext_auth_allowed(s->conn)) {
			posta_conn_puts(s->conn, "-ERR [PRIVACY] TLS first\r\n");
			return;
		}
		r = posta_conn_login(s->conn, user, pass, login_done, s);
		if (r < 0) {
			posta_conn_printf(s->conn, "-ERR [TEMPFAIL] %s\r\n",
			    posta_strerror(r));
			return;
		}
		posta_conn_pause(s->conn);
	} else if (strncmp(buf, "RESOLVE ", 8) == 0) {
		int r = posta_conn_resolve(s->conn, buf + 8, resolve_done, s);

		if (r < 0) {
			posta_conn_printf(s->conn, "-ERR %s\r\n",
			    posta_strerror(r));
			return;
		}
		posta_conn_pause(s->conn);
	} else if (strcmp(buf, "SLOW") == 0) {
		posta_conn_pause(s->conn);
		s->slow_active = true;
		uv_timer_start(&s->slow, slow_cb, 50, 0);
	} else if (strcmp(buf, "WHO") == 0) {
		posta_conn_printf(s->conn, "+WHO %s %s %s %s\r\n",
		    posta_conn_service(s->conn), posta_conn_protocol(s->conn),
		    posta_conn_remote_ip(s->conn),
		    posta_conn_user(s->conn) ? posta_conn_user(s->conn) : "-");
	} else {
		posta_conn_puts(s->conn, "+ECHO ");
		posta_conn_write(s->conn, line, len);
		posta_conn_puts(s->conn, (flags & POSTA_LINE_CRLF) ? "\r\n" :
		    " (LF)\r\n");
	}
}

static void
echo_data(void *ctx, const uint8_t *data, size_t len, bool last)
{
	struct echo_session *s = ctx;
	size_t i;

	for (i = 0; i < len; i++)
		s->read_sum += data[i];
	s->read_total += len;
	if (last)
		posta_conn_printf(s->conn, "+READ %llu bytes sum=%llu\r\n",
		    (unsigned long long)s->read_total,
		    (unsigned long long)s->read_sum);
}

static void
echo_tls(void *ctx, int err)
{
	struct echo_session *s = ctx;

	if (err == 0)
		posta_conn_log(s->conn, POSTA_LOG_DEBUG, "echo.tls", "ok=yes");
}

static void
echo_timeout(void *ctx)
{
	struct echo_session *s = ctx;

	posta_conn_puts(s->conn, "-ERR idle timeout\r\n");
	posta_conn_close(s->conn);
}

static void
echo_close(void *ctx, int reason)
{
	struct echo_session *s = ctx;

	if (s->slow_active)
		uv_timer_stop(&s->slow);
	session_free(s);
}

static const struct posta_conn_handler echo_handler = {
	.line = echo_line,
	.data = echo_data,
	.drain = echo_drain,
	.tls = echo_tls,
	.timeout = echo_timeout,
	.close = echo_close,
};

static int
echo_accept(void *state, struct posta_conn *conn)
{
	struct echo_state *st = state;
	struct echo_session *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return -ENOMEM;
	s->st = st;
	s->conn = conn;
	uv_timer_init(posta_host_loop(st->host), &s->slow);
	s->slow.data = s;
	posta_conn_set_handler(conn, &echo_handler, s);
	posta_conn_printf(conn, "* %s\r\n", st->set->greeting);
	return 0;
}

static void
echo_refuse(void *state, struct posta_conn *conn, enum posta_refusal why,
    const char *text)
{
	posta_conn_printf(conn, "-ERR refused (%d): %s\r\n", (int)why, text);
}


static int
echo_init(struct posta_host *host, const void *settings, void **state_r,
    const char **error_r)
{
	struct echo_state *st = calloc(1, sizeof(*st));
	int r;

	if (st == NULL)
		return -ENOMEM;
	st->host = host;
	st->set = settings;
	/* settings strings die with their generation; the name must not */
	st->proto.name = strdup(st->set->register_as);
	if (st->proto.name == NULL) {
		free(st);
		return -ENOMEM;
	}
	st->proto.accept = echo_accept;
	st->proto.refuse = echo_refuse;
	r = posta_host_register_protocol(host, &st->proto, st);
	if (r < 0) {
		free((char *)st->proto.name);
		free(st);
		*error_r = "cannot register protocol echo";
		return r;
	}
	*state_r = st;
	return 0;
}

static int
echo_reload(void *state, const void *settings, const char **error_r)
{
	((struct echo_state *)state)->set = settings;
	return 0;
}

static void
echo_deinit(void *state)
{
	struct echo_state *st = state;

	free((char *)st->proto.name);
	free(st);
}

static const struct posta_setting echo_settings_table[] = {
	{ "greeting", POSTA_SET_STRING, offsetof(struct echo_settings,
	  greeting), 0, 0, "\"echo ready\"", NULL },
	{ "register_as", POSTA_SET_STRING, offsetof(struct echo_settings,
	  register_as), 0, 0, "echo", NULL },
	POSTA_SETTINGS_END
};

POSTA_MODULE(
	.name = "echo",
	.version = PACKAGE_VERSION,
	.kind = POSTA_MODULE_PROTOCOL,
	.settings = echo_settings_table,
	.settings_size = sizeof(struct echo_settings),
	.init = echo_init,
	.reload = echo_reload,
	.deinit = echo_deinit,
);
