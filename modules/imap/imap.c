/* imap.c: the imap protocol module: descriptor, sessions, input, dispatch */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap.h"
#include "util.h"

/*
 * Input.  The core hands over lines (and exact byte runs once asked for
 * literal bytes); the parser turns them into events.  A command that waits
 * for a callback pauses the connection, and whatever input remained of the
 * line the core handed over is kept in s->pend and fed first on resume, so
 * commands are answered strictly in order (RFC 3501 5.5 allows no better
 * for most of them, and clients rely on it).
 */

static const struct imap_cmd_def imap_commands[] = {
	{ "CAPABILITY", IMAP_STATE_ANY, 0, imap_cmd_capability },
	{ "NOOP", IMAP_STATE_ANY, IMAP_CMDF_POLL, imap_cmd_noop },
	{ "LOGOUT", IMAP_STATE_ANY, 0, imap_cmd_logout },
	{ "ID", IMAP_STATE_ANY, 0, imap_cmd_id },
	{ "STARTTLS", IMAP_STATE_NOTAUTH, 0, imap_cmd_starttls },
	{ "LOGIN", IMAP_STATE_NOTAUTH, 0, imap_cmd_login },
	{ "AUTHENTICATE", IMAP_STATE_NOTAUTH, 0, imap_cmd_authenticate },
	{ "ENABLE", IMAP_STATE_AUTH, 0, imap_cmd_enable },
	{ "NAMESPACE", IMAP_STATE_AUTHED, 0, imap_cmd_namespace },
	{ "SELECT", IMAP_STATE_AUTHED, 0, imap_cmd_select },
	{ "EXAMINE", IMAP_STATE_AUTHED, 0, imap_cmd_select },
	{ "CREATE", IMAP_STATE_AUTHED, 0, imap_cmd_create },
	{ "DELETE", IMAP_STATE_AUTHED, 0, imap_cmd_delete },
	{ "RENAME", IMAP_STATE_AUTHED, 0, imap_cmd_rename },
	{ "SUBSCRIBE", IMAP_STATE_AUTHED, 0, imap_cmd_subscribe },
	{ "UNSUBSCRIBE", IMAP_STATE_AUTHED, 0, imap_cmd_subscribe },
	{ "LIST", IMAP_STATE_AUTHED, 0, imap_cmd_list },
	{ "LSUB", IMAP_STATE_AUTHED, 0, imap_cmd_list },
	{ "STATUS", IMAP_STATE_AUTHED, 0, imap_cmd_status },
	{ "APPEND", IMAP_STATE_AUTHED, 0, imap_cmd_append },
	{ "GETQUOTAROOT", IMAP_STATE_AUTHED, 0, imap_cmd_getquotaroot },
	{ "GETQUOTA", IMAP_STATE_AUTHED, 0, imap_cmd_getquota },
	{ "SETQUOTA", IMAP_STATE_AUTHED, 0, imap_cmd_setquota },
	{ "IDLE", IMAP_STATE_AUTHED, 0, imap_cmd_idle },
	{ "CHECK", IMAP_STATE_SELECTED, IMAP_CMDF_POLL, imap_cmd_check },
	{ "CLOSE", IMAP_STATE_SELECTED, 0, imap_cmd_close },
	{ "UNSELECT", IMAP_STATE_SELECTED, 0, imap_cmd_unselect },
	{ "EXPUNGE", IMAP_STATE_SELECTED, IMAP_CMDF_UID, imap_cmd_expunge },
	{ "SEARCH", IMAP_STATE_SELECTED, IMAP_CMDF_UID | IMAP_CMDF_NO_EXPUNGE,
	  imap_cmd_search },
	{ "SORT", IMAP_STATE_SELECTED, IMAP_CMDF_UID | IMAP_CMDF_NO_EXPUNGE,
	  imap_cmd_sort },
	{ "THREAD", IMAP_STATE_SELECTED, IMAP_CMDF_UID | IMAP_CMDF_NO_EXPUNGE,
	  imap_cmd_thread },
	{ "FETCH", IMAP_STATE_SELECTED, IMAP_CMDF_UID | IMAP_CMDF_NO_EXPUNGE,
	  imap_cmd_fetch },
	{ "STORE", IMAP_STATE_SELECTED, IMAP_CMDF_UID | IMAP_CMDF_NO_EXPUNGE,
	  imap_cmd_store },
	{ "COPY", IMAP_STATE_SELECTED, IMAP_CMDF_UID, imap_cmd_copy },
	{ "MOVE", IMAP_STATE_SELECTED, IMAP_CMDF_UID, imap_cmd_copy },
};

/* Command arena: big enough for UID lists of large mailboxes. */
#define CMD_ARENA_BLOCK	2048
#define CMD_ARENA_LIMIT	(256u * 1024 * 1024)

static void imap_feed(struct imap_session *s, const uint8_t *in, size_t len);

/* ---- lifetime ---- */

static void
session_free(struct imap_session *s)
{
	imap_parser_free(&s->parser);
	arena_free(&s->cmd_arena);
	arena_free(&s->arena);
	free(s->pend);
	if (s->sasl_user != NULL) {
		util_wipe(s->sasl_user, strlen(s->sasl_user));
		free(s->sasl_user);
	}
	free(s);
}

void
imap_ref(struct imap_session *s)
{
	s->refs++;
}

void
imap_unref(struct imap_session *s)
{
	if (--s->refs == 0)
		session_free(s);
}

bool
imap_cb_enter(struct imap_session *s)
{
	if (!s->closed) {
		/* the request's reference now guards this callback: dropped
		 * by the matching imap_cb_leave() */
		return false;
	}
	imap_unref(s);
	return true;
}

void
imap_cb_leave(struct imap_session *s)
{
	imap_unref(s);
}

/* ---- output ---- */

void
imap_write(struct imap_session *s, const void *data, size_t len)
{
	if (s->conn != NULL && len > 0)
		posta_conn_write(s->conn, data, len);
}

void
imap_puts(struct imap_session *s, const char *str)
{
	imap_write(s, str, strlen(str));
}

void
imap_printf(struct imap_session *s, const char *fmt, ...)
{
	char small[512];
	va_list ap;
	int n;

	if (s->conn == NULL)
		return;
	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(small)) {
		posta_conn_write(s->conn, small, (size_t)n);
		return;
	}
	{
		char *big = malloc((size_t)n + 1);

		if (big == NULL)
			return;
		va_start(ap, fmt);
		vsnprintf(big, (size_t)n + 1, fmt, ap);
		va_end(ap);
		posta_conn_write(s->conn, big, (size_t)n);
		free(big);
	}
}

size_t
imap_write_pending(struct imap_session *s)
{
	return s->conn != NULL ? posta_conn_write_pending(s->conn) : 0;
}

void
imap_bye(struct imap_session *s, const char *text)
{
	if (s->conn == NULL)
		return;
	imap_printf(s, "* BYE %s\r\n", text);
	s->state = IMAP_STATE_LOGOUT;
	/* may run the close handler at once: callers hold a reference */
	posta_conn_close(s->conn);
}

/* ---- capabilities ---- */

const char *
imap_capabilities(struct imap_session *s)
{
	char buf[512];
	size_t n;

	n = (size_t)snprintf(buf, sizeof(buf),
	    "IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE");
	if (s->state == IMAP_STATE_NOTAUTH) {
		if (s->conn != NULL &&
		    posta_conn_tls_mode(s->conn) == POSTA_TLS_STARTTLS &&
		    !posta_conn_is_tls(s->conn))
			n += (size_t)snprintf(buf + n, sizeof(buf) - n,
			    " STARTTLS");
		if (s->conn != NULL &&
		    posta_conn_plaintext_auth_allowed(s->conn))
			n += (size_t)snprintf(buf + n, sizeof(buf) - n,
			    " AUTH=PLAIN AUTH=LOGIN");
		else
			n += (size_t)snprintf(buf + n, sizeof(buf) - n,
			    " LOGINDISABLED");
	} else {
		const struct posta_store_info *info =
		    posta_store_get_info(s->mod->host);

		n += (size_t)snprintf(buf + n, sizeof(buf) - n,
		    " NAMESPACE UIDPLUS MOVE UNSELECT CHILDREN SPECIAL-USE"
		    " CREATE-SPECIAL-USE LIST-EXTENDED LIST-STATUS ESEARCH"
		    " STATUS=SIZE CONDSTORE QRESYNC SORT SORT=DISPLAY ESORT"
		    " THREAD=ORDEREDSUBJECT THREAD=REFERENCES"
		    " QUOTA QUOTA=RES-STORAGE QUOTA=RES-MESSAGE");
		if (info != NULL && info->max_message_size > 0)
			n += (size_t)snprintf(buf + n, sizeof(buf) - n,
			    " APPENDLIMIT=%llu",
			    (unsigned long long)info->max_message_size);
	}
	(void)n;
	{
		char *r = arena_strdup(s->cmd_arena, buf);

		return r != NULL ? r : "IMAP4rev1";
	}
}

/* ---- commands: start and end ---- */

static void
pend_add(struct imap_session *s, const uint8_t *data, size_t len)
{
	if (len == 0)
		return;
	if (s->pend_len + len > s->pend_cap) {
		size_t cap = s->pend_cap == 0 ? 256 : s->pend_cap;
		uint8_t *n;

		while (cap < s->pend_len + len)
			cap *= 2;
		n = realloc(s->pend, cap);
		if (n == NULL) {
			/* out of memory: the session cannot keep its order */
			imap_bye(s, "Out of memory");
			return;
		}
		s->pend = n;
		s->pend_cap = cap;
	}
	memcpy(s->pend + s->pend_len, data, len);
	s->pend_len += len;
}

void
imap_cmd_wait(struct imap_session *s)
{
	s->waiting = true;
	if (!s->paused && s->conn != NULL) {
		s->paused = true;
		posta_conn_pause(s->conn);
	}
}

static void
resume_conn(struct imap_session *s)
{
	if (s->paused && !s->waiting && s->conn != NULL) {
		s->paused = false;
		posta_conn_resume(s->conn);
	}
}

/* Feeds what waited in s->pend, then lets the core deliver again. */
static void
resume_input(struct imap_session *s)
{
	uint8_t *buf = s->pend;
	size_t len = s->pend_len;

	s->pend = NULL;
	s->pend_len = s->pend_cap = 0;
	imap_feed(s, buf, len);
	free(buf);
	resume_conn(s);
}

void
imap_cmd_unwait(struct imap_session *s)
{
	if (!s->waiting)
		return;
	s->waiting = false;
	if (!s->feeding && !s->closed)
		resume_input(s);
}

static void
cmd_finish(struct imap_session *s)
{
	struct imap_cmd *c = &s->cmd;
	const char *reply = c->reply != NULL ? c->reply :
	    "NO [SERVERBUG] Out of memory";

	if (strncmp(reply, "BAD", 3) == 0)
		s->bad++;
	else
		s->bad = 0;
	imap_printf(s, "%s %s\r\n", c->tag != NULL ? c->tag : "*", reply);
	memset(c, 0, sizeof(*c));
	s->in_cmd = false;
	arena_reset(s->cmd_arena);
	if (s->conn == NULL)
		return;
	if (s->state == IMAP_STATE_LOGOUT) {
		posta_conn_close(s->conn);
		return;
	}
	if (s->shutdown_pending) {
		imap_bye(s, "Server shutting down.");
		return;
	}
	if (s->bad >= (unsigned)s->mod->set->max_bad_commands) {
		imap_bye(s, "Too many invalid IMAP commands.");
		return;
	}
	imap_cmd_unwait(s);
}

static void
refresh_done(struct imap_session *s)
{
	cmd_finish(s);
}

void
imap_cmd_done(struct imap_session *s, const char *fmt, ...)
{
	struct imap_cmd *c = &s->cmd;
	va_list ap;
	bool refresh;

	va_start(ap, fmt);
	c->reply = arena_vprintf(s->cmd_arena, fmt, ap);
	va_end(ap);
	c->line = NULL;
	c->line_error = NULL;
	c->drain = NULL;
	c->notify = NULL;
	refresh = s->state == IMAP_STATE_SELECTED && s->box != NULL &&
	    !c->no_refresh && !s->closed &&
	    !(c->def != NULL && (c->def->flags & IMAP_CMDF_NO_EXPUNGE) &&
	    !c->uid);
	if (refresh && (s->notified ||
	    (c->def != NULL && (c->def->flags & IMAP_CMDF_POLL)))) {
		uint32_t flags = c->def != NULL &&
		    (c->def->flags & IMAP_CMDF_POLL) ? POSTA_REFRESH_DISK : 0;

		if (imap_sync(s, flags, refresh_done) == 0) {
			imap_cmd_wait(s);
			return;
		}
	}
	cmd_finish(s);
}

void
imap_cmd_bad(struct imap_session *s, const char *text)
{
	imap_cmd_done(s, "BAD %s", text);
}

const char *
imap_store_error_text(struct imap_session *s, int err, const char *what)
{
	const char *code, *text;

	switch (err) {
	case -ENOENT:		/* deleted by another session meanwhile */
	case POSTA_ENOTFOUND:
		code = "NONEXISTENT";
		text = "Mailbox doesn't exist";
		break;
	case POSTA_EEXIST:
		code = "ALREADYEXISTS";
		text = "Mailbox already exists";
		break;
	case POSTA_ENAME:
		code = "CANNOT";
		text = "Invalid mailbox name";
		break;
	case POSTA_EQUOTA:
		code = "LIMIT";
		text = "Quota or size limit exceeded";
		break;
	case -ENOTEMPTY:
		code = "CANNOT";
		text = "Mailbox has children, delete them first";
		break;
	case -EPERM:
		code = "CANNOT";
		text = "Not allowed for INBOX";
		break;
	case -EROFS:
		code = "CANNOT";
		text = "Mailbox is read-only";
		break;
	case -EBUSY:
		code = "INUSE";
		text = "Mailbox is in use, try again later";
		break;
	case POSTA_ECORRUPT:
		code = "CORRUPTION";
		text = "Mailbox data is damaged";
		break;
	case POSTA_ENOPROVIDER:
		code = "UNAVAILABLE";
		text = "No mail storage available";
		break;
	case -ENOMEM:
		code = "SERVERBUG";
		text = "Out of memory";
		break;
	default:
		code = "UNAVAILABLE";
		text = "Temporary failure, try again later";
		break;
	}
	if (s->conn != NULL && err != POSTA_ENOTFOUND && err != -ENOENT &&
	    err != POSTA_EEXIST &&
	    err != POSTA_ENAME && err != -ENOTEMPTY && err != -EPERM &&
	    err != -EROFS)
		posta_conn_log(s->conn, POSTA_LOG_WARN, "imap.store_error",
		    "command=%s error=\"%s\"", what, posta_strerror(err));
	{
		char *r = arena_printf(s->cmd_arena, "[%s] %s.", code, text);

		return r != NULL ? r : "[SERVERBUG] Out of memory.";
	}
}

void
imap_cmd_store_error(struct imap_session *s, int err, const char *what)
{
	imap_cmd_done(s, "NO %s", imap_store_error_text(s, err, what));
}

static const struct imap_cmd_def *
cmd_lookup(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(imap_commands) / sizeof(imap_commands[0]); i++)
		if (strcmp(imap_commands[i].name, name) == 0)
			return &imap_commands[i];
	return NULL;
}

/* Makes s->cmd the command of this event; false when out of memory. */
static bool
cmd_begin(struct imap_session *s, const struct imap_event *ev,
    const struct imap_cmd_def *def)
{
	struct imap_cmd *c = &s->cmd;

	memset(c, 0, sizeof(*c));
	s->in_cmd = true;
	c->def = def;
	c->uid = ev->uid;
	c->args = ev->args;
	c->name = def != NULL ? def->name : ev->name;
	c->tag = arena_strdup(s->cmd_arena, ev->tag != NULL ? ev->tag : "*");
	return c->tag != NULL;
}

static void
dispatch(struct imap_session *s, const struct imap_event *ev)
{
	const struct imap_cmd_def *def;

	if (s->in_cmd) {
		/* only APPEND gets here: its literal came before the rest */
		s->cmd.args = ev->args;
		imap_cmd_append(s, &s->cmd);
		return;
	}
	def = cmd_lookup(ev->name);
	if (!cmd_begin(s, ev, def)) {
		imap_printf(s, "%s NO [SERVERBUG] Out of memory\r\n", ev->tag);
		s->in_cmd = false;
		arena_reset(s->cmd_arena);
		return;
	}
	if (def == NULL) {
		imap_cmd_bad(s, "Unknown command.");
		return;
	}
	if (ev->uid && !(def->flags & IMAP_CMDF_UID)) {
		imap_cmd_bad(s, "Unknown UID command.");
		return;
	}
	if (!(def->states & s->state)) {
		if (s->state == IMAP_STATE_NOTAUTH)
			imap_cmd_bad(s, "Log in first.");
		else if (def->states == IMAP_STATE_SELECTED)
			imap_cmd_bad(s, "No mailbox selected.");
		else
			imap_cmd_bad(s, "Command not valid in this state.");
		return;
	}
	def->run(s, &s->cmd);
}

static void
literal_needed(struct imap_session *s, const struct imap_event *ev)
{
	if (ev->name != NULL && strcmp(ev->name, "APPEND") == 0 &&
	    ev->args != NULL && !s->in_cmd && !ev->uid) {
		/* the message itself: APPEND runs from here on */
		if (!cmd_begin(s, ev, cmd_lookup("APPEND"))) {
			s->in_cmd = false;
			arena_reset(s->cmd_arena);
			imap_printf(s, "%s NO [SERVERBUG] Out of memory\r\n",
			    ev->tag);
			imap_parser_abort_command(s->parser);
			return;
		}
		imap_append_literal_needed(s, ev);
		return;
	}
	if (ev->name != NULL && strcmp(ev->name, "LOGIN") == 0 &&
	    s->conn != NULL && !posta_conn_plaintext_auth_allowed(s->conn) &&
	    ev->u.literal.sync && !ev->u.literal.too_big) {
		/* never invite a password over an unprotected line */
		imap_printf(s, "%s NO [PRIVACYREQUIRED] Plaintext "
		    "authentication disallowed on non-secure connections.\r\n",
		    ev->tag);
		imap_parser_abort_command(s->parser);
		return;
	}
	if (ev->u.literal.sync && !ev->u.literal.too_big)
		imap_puts(s, "+ OK\r\n");
}

static void
parse_error(struct imap_session *s, const struct imap_event *ev)
{
	if (s->in_cmd) {
		/* APPEND's tail, or a raw line of IDLE/AUTHENTICATE */
		if (s->append != NULL)
			imap_append_abort(s);
		if (s->cmd.line_error != NULL) {
			void (*fn)(struct imap_session *, const char *) =
			    s->cmd.line_error;

			s->cmd.line = NULL;
			s->cmd.line_error = NULL;
			fn(s, ev->u.error.msg);
			return;
		}
		imap_cmd_done(s, "BAD %s", ev->u.error.msg);
		return;
	}
	if (ev->tag != NULL)
		imap_printf(s, "%s BAD %s\r\n", ev->tag, ev->u.error.msg);
	else
		imap_printf(s, "* BAD %s\r\n", ev->u.error.msg);
	if (++s->bad >= (unsigned)s->mod->set->max_bad_commands)
		imap_bye(s, "Too many invalid IMAP commands.");
}

static void
handle_event(struct imap_session *s, const struct imap_event *ev)
{
	switch (ev->type) {
	case IMAP_EVENT_COMMAND:
		dispatch(s, ev);
		break;
	case IMAP_EVENT_LITERAL_NEEDED:
		literal_needed(s, ev);
		break;
	case IMAP_EVENT_LITERAL_DATA:
		imap_append_data(s, ev->u.data.data, ev->u.data.len,
		    ev->u.data.last);
		break;
	case IMAP_EVENT_LINE:
		if (s->in_cmd && s->cmd.line != NULL)
			s->cmd.line(s, ev->u.line.data, ev->u.line.len);
		break;
	case IMAP_EVENT_ERROR:
		parse_error(s, ev);
		break;
	}
}

/* Switches the core to exact-byte reads when the parser wants literal bytes. */
static void
want_bytes(struct imap_session *s)
{
	uint64_t w;

	if (s->closed || s->want > 0)
		return;
	w = imap_parser_bytes_wanted(s->parser);
	if (w == 0)
		return;
	if (posta_conn_read_bytes(s->conn, (size_t)w) == 0)
		s->want = w;
}

static void
imap_feed(struct imap_session *s, const uint8_t *in, size_t len)
{
	size_t used = 0, n;
	struct imap_event ev;
	enum imap_parse_result r;
	bool outer = !s->feeding;

	s->feeding = true;
	for (;;) {
		if (s->closed || s->state == IMAP_STATE_LOGOUT)
			break;
		if (s->waiting) {
			pend_add(s, in + used, len - used);
			break;
		}
		r = imap_parse_feed(s->parser, in + used, len - used, &n, &ev);
		used += n;
		if (r == IMAP_PARSE_NEED_MORE)
			break;
		handle_event(s, &ev);
	}
	if (outer) {
		s->feeding = false;
		if (!s->waiting)
			want_bytes(s);
	}
}

/* ---- connection handler ---- */

static void
h_line(void *ctx, const uint8_t *line, size_t len, unsigned flags)
{
	struct imap_session *s = ctx;

	imap_ref(s);
	if (flags & POSTA_LINE_TOO_LONG) {
		struct imap_event ev;

		if (imap_parse_line_lost(s->parser, &ev) !=
		    IMAP_PARSE_NEED_MORE)
			handle_event(s, &ev);
		if (!s->waiting)
			imap_feed(s, NULL, 0);
	} else {
		imap_feed(s, line, len);
		if (flags & POSTA_LINE_CRLF)
			imap_feed(s, (const uint8_t *)"\r\n", 2);
		else
			imap_feed(s, (const uint8_t *)"\n", 1);
	}
	resume_conn(s);
	imap_unref(s);
}

static void
h_data(void *ctx, const uint8_t *data, size_t len, bool last)
{
	struct imap_session *s = ctx;

	imap_ref(s);
	s->want = len >= s->want || last ? 0 : s->want - len;
	imap_feed(s, data, len);
	resume_conn(s);
	imap_unref(s);
}

static void
h_drain(void *ctx)
{
	struct imap_session *s = ctx;

	imap_ref(s);
	if (s->in_cmd && s->cmd.drain != NULL) {
		void (*fn)(struct imap_session *) = s->cmd.drain;

		/* one call per request: the command asks again if need be */
		s->cmd.drain = NULL;
		fn(s);
	}
	imap_unref(s);
}

static void
h_tls(void *ctx, int err)
{
	(void)ctx;
	(void)err;
}

static void
h_timeout(void *ctx)
{
	struct imap_session *s = ctx;

	imap_ref(s);
	if (s->conn != NULL)
		posta_conn_log(s->conn, POSTA_LOG_INFO, "imap.autologout",
		    "state=%s", s->state == IMAP_STATE_NOTAUTH ? "notauth" :
		    "authenticated");
	imap_bye(s, "Autologout; idle for too long");
	imap_unref(s);
}

static void
h_shutdown(void *ctx)
{
	struct imap_session *s = ctx;

	imap_ref(s);
	/* BYE may come at any time (RFC 3501 7.1.5), but not inside another
	   response: now when idle or in IDLE, else after the command */
	if (!s->in_cmd || (s->cmd.name != NULL &&
	    strcmp(s->cmd.name, "IDLE") == 0))
		imap_bye(s, "Server shutting down.");
	else
		s->shutdown_pending = true;
	imap_unref(s);
}

static void
h_close(void *ctx, int reason)
{
	struct imap_session *s = ctx;

	(void)reason;
	s->closed = true;
	s->conn = NULL;
	if (s->append != NULL)
		imap_append_abort(s);
	/* pending store callbacks run later with -ECANCELED */
	posta_mailbox_close(&s->box);
	posta_mail_user_close(&s->user);
	imap_unref(s);
}

static const struct posta_conn_handler imap_handler = {
	.line = h_line,
	.data = h_data,
	.drain = h_drain,
	.tls = h_tls,
	.timeout = h_timeout,
	.close = h_close,
	.shutdown = h_shutdown,
};

/* ---- protocol ---- */

static int
imap_accept(void *state, struct posta_conn *conn)
{
	struct imap_module *mod = state;
	const struct imap_settings *set = mod->set;
	struct imap_parse_limits lim;
	struct imap_session *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return -ENOMEM;
	s->mod = mod;
	s->conn = conn;
	s->refs = 1;
	s->state = IMAP_STATE_NOTAUTH;
	s->arena = arena_new(512, 64 * 1024);
	s->cmd_arena = arena_new(CMD_ARENA_BLOCK, CMD_ARENA_LIMIT);
	imap_parse_limits_init(&lim);
	lim.max_line_length = (size_t)set->max_line_length;
	lim.max_literal_size = (size_t)set->max_literal_size;
	lim.max_command_size = (size_t)set->max_command_size;
	if (s->arena != NULL && s->cmd_arena != NULL)
		s->parser = imap_parser_new(s->arena, &lim);
	if (s->parser == NULL) {
		session_free(s);
		return -ENOMEM;
	}
	posta_conn_set_handler(conn, &imap_handler, s);
	imap_printf(s, "* OK [CAPABILITY %s] Posta ready.\r\n",
	    imap_capabilities(s));
	arena_reset(s->cmd_arena);
	return 0;
}

static void
imap_refuse(void *state, struct posta_conn *conn, enum posta_refusal why,
    const char *text)
{
	(void)state;
	(void)why;
	posta_conn_printf(conn, "* BYE %s\r\n", text != NULL ? text :
	    "Connection refused");
}

static const struct posta_protocol imap_protocol = {
	.name = "imap",
	.accept = imap_accept,
	.refuse = imap_refuse,
};

static int
imap_init(struct posta_host *host, const void *settings, void **state_r,
    const char **error_r)
{
	struct imap_module *mod = calloc(1, sizeof(*mod));
	int r;

	if (mod == NULL) {
		*error_r = "out of memory";
		return -ENOMEM;
	}
	mod->host = host;
	mod->set = settings;
	r = posta_host_register_protocol(host, &imap_protocol, mod);
	if (r < 0) {
		free(mod);
		*error_r = "cannot register protocol imap";
		return r;
	}
	*state_r = mod;
	return 0;
}

static int
imap_reload(void *state, const void *settings, const char **error_r)
{
	(void)error_r;
	((struct imap_module *)state)->set = settings;
	return 0;
}

static void
imap_deinit(void *state)
{
	free(state);
}

#define S(f) offsetof(struct imap_settings, f)
static const struct posta_setting imap_settings_table[] = {
	/* RFC 3501 5.4: an autologout timer of at least 30 minutes */
	{ "idle_timeout", POSTA_SET_DURATION, S(idle_timeout_ms),
	  INT64_C(30) * 60 * 1000, INT64_C(7) * 24 * 3600 * 1000, "30m",
	  NULL },
	{ "max_bad_commands", POSTA_SET_INT, S(max_bad_commands), 1, 10000,
	  "20", NULL },
	{ "max_line_length", POSTA_SET_SIZE, S(max_line_length), 1024,
	  16 * 1024 * 1024, "64k", NULL },
	{ "max_literal_size", POSTA_SET_SIZE, S(max_literal_size), 1024,
	  16 * 1024 * 1024, "64k", NULL },
	{ "max_command_size", POSTA_SET_SIZE, S(max_command_size), 4096,
	  64 * 1024 * 1024, "256k", NULL },
	{ "max_search_read", POSTA_SET_SIZE, S(max_search_read), 0,
	  INT64_C(1) << 40, "4G", NULL },
	POSTA_SETTINGS_END
};
#undef S

POSTA_MODULE(
	.name = "imap",
	.version = PACKAGE_VERSION,
	.kind = POSTA_MODULE_PROTOCOL,
	.settings = imap_settings_table,
	.settings_size = sizeof(struct imap_settings),
	.init = imap_init,
	.reload = imap_reload,
	.deinit = imap_deinit,
);
