/* test_pop3_session.c: the POP3 session against a fake host, conn and store */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pop3.h"

/* pop3.c's descriptor, the module's one exported symbol */
extern const struct posta_module posta_module;

/*
 * The session runs for real (pop3.c and pop3_cmd_*.c linked in); what it
 * talks to is fake and driven by the test: a connection that records
 * writes and queues input like the core (nothing is delivered while
 * paused; the close handler runs later, never inside a call), logins
 * completed by the test, and a store whose every callback is a job the
 * test runs (never from inside the call), with failures injected.  This
 * reaches the paths a real store and client hardly take: store errors in
 * every phase, callbacks after close, a client that stops reading.
 */

/* ---- fake store ---- */

struct job;
typedef void job_fn(struct job *j, int err);

struct job {
	struct job *next;
	job_fn *fn;
	void *cb, *ctx;
	void *handle;		/* user, box or reader it belongs to */
	int err;		/* injected result */
	uint64_t off;
	size_t len;
};

struct fuser {
	const struct posta_store_ops *ops;
};

/* a handle closed during its own callback is freed after the callback */
struct fbox {
	const struct posta_store_ops *ops;
	bool closed, in_cb;
};

struct freader {
	const struct posta_store_ops *ops;
	uint32_t idx;
	bool closed, in_cb;
};

struct fmsg {
	uint32_t uid;
	const char *data;
};

#define MAX_MSGS	1000

static struct {
	struct job *jobs, **tail;
	int users, boxes, readers;	/* open handles */
	int user_open_err, box_open_err, box_open_sync_err;
	int msg_open_err, expunge_err;
	int read_err;
	uint64_t read_err_at;		/* fail reads at this offset */
	struct fmsg msgs[MAX_MSGS];
	struct posta_msg view[MAX_MSGS];
	size_t n;
	struct posta_mailbox_status status;
	uint32_t expunged[MAX_MSGS];
	size_t n_expunged;
	uint32_t open_flags;
} st;

static const struct posta_store_ops fake_ops;

static struct job *
job_add(job_fn *fn, void *handle, void *cb, void *ctx, int err)
{
	struct job *j = calloc(1, sizeof(*j));

	assert_non_null(j);
	j->fn = fn;
	j->handle = handle;
	j->cb = cb;
	j->ctx = ctx;
	j->err = err;
	*st.tail = j;
	st.tail = &j->next;
	return j;
}

/* Runs the oldest queued job; false when there was none. */
static bool
run_one(void)
{
	struct job *j = st.jobs;

	if (j == NULL)
		return false;
	st.jobs = j->next;
	if (st.jobs == NULL)
		st.tail = &st.jobs;
	j->fn(j, j->err);
	free(j);
	return true;
}

/* Runs every queued job (and those they queue); returns how many. */
static int
run_jobs(void)
{
	int n = 0;

	while (run_one())
		n++;
	return n;
}

static void
user_open_job(struct job *j, int err)
{
	struct fuser *u = NULL;

	if (err == 0) {
		u = calloc(1, sizeof(*u));
		assert_non_null(u);
		u->ops = &fake_ops;
		st.users++;
	}
	((posta_mail_user_cb *)j->cb)(j->ctx, err, (void *)u);
}

static int
f_user_open(void *state, const char *account, posta_mail_user_cb *cb,
    void *ctx)
{
	assert_string_equal(account, "u@example.com");
	job_add(user_open_job, NULL, (void *)cb, ctx, st.user_open_err);
	return 0;
}

static void
f_user_close(struct posta_mail_user *user)
{
	st.users--;
	free(user);
}

static void
box_open_job(struct job *j, int err)
{
	struct fbox *b = NULL;

	if (err == 0) {
		b = calloc(1, sizeof(*b));
		assert_non_null(b);
		b->ops = &fake_ops;
		st.boxes++;
	}
	((posta_mailbox_open_cb *)j->cb)(j->ctx, err, (void *)b);
}

static int
f_mailbox_open(struct posta_mail_user *user, const char *name,
    uint32_t flags, posta_mailbox_open_cb *cb, void *ctx)
{
	assert_string_equal(name, "INBOX");
	st.open_flags = flags;
	if (st.box_open_sync_err != 0)
		return st.box_open_sync_err;
	job_add(box_open_job, NULL, (void *)cb, ctx, st.box_open_err);
	return 0;
}

static void
f_mailbox_close(struct posta_mailbox *box)
{
	struct fbox *b = (struct fbox *)box;
	struct job *j;

	st.boxes--;
	/* pending requests on it finish with -ECANCELED; memory lives on */
	for (j = st.jobs; j != NULL; j = j->next)
		if (j->handle == b)
			j->err = -ECANCELED;
	b->closed = true;
	for (j = st.jobs; j != NULL; j = j->next)
		if (j->handle == b)
			return;	/* the job frees it */
	if (!b->in_cb)
		free(b);
}

static const struct posta_mailbox_status *
f_view_status(const struct posta_mailbox *box)
{
	return &st.status;
}

static size_t
f_view_messages(const struct posta_mailbox *box,
    const struct posta_msg **msgs_r)
{
	*msgs_r = st.view;
	return st.n;
}

static void
msg_open_job(struct job *j, int err)
{
	struct freader *r = NULL;
	uint64_t size = 0;

	if (err == 0) {
		r = calloc(1, sizeof(*r));
		assert_non_null(r);
		r->ops = &fake_ops;
		r->idx = (uint32_t)j->off;
		size = strlen(st.msgs[r->idx].data);
		st.readers++;
	}
	((posta_msg_open_cb *)j->cb)(j->ctx, err, (void *)r, size);
}

static int
f_msg_open(struct posta_mailbox *box, uint32_t uid, posta_msg_open_cb *cb,
    void *ctx)
{
	size_t i;

	for (i = 0; i < st.n; i++)
		if (st.msgs[i].uid == uid)
			break;
	assert_true(i < st.n);
	/* the message index rides in off */
	job_add(msg_open_job, NULL, (void *)cb, ctx, st.msg_open_err)->off = i;
	return 0;
}

static void
read_job(struct job *j, int err)
{
	struct freader *r = j->handle;
	const char *data = st.msgs[r->idx].data;
	size_t size = strlen(data), n = 0;
	uint8_t *copy = NULL;

	if (err == 0 && st.read_err != 0 && j->off >= st.read_err_at)
		err = st.read_err;
	if (err == 0 && j->off < size) {
		n = size - j->off < j->len ? size - (size_t)j->off : j->len;
		/* the callback's pointer is valid only during the call */
		copy = malloc(n);
		assert_non_null(copy);
		memcpy(copy, data + j->off, n);
	}
	r->in_cb = true;
	((posta_msg_read_cb *)j->cb)(j->ctx, err, err == 0 ? copy : NULL,
	    err == 0 ? n : 0);
	r->in_cb = false;
	free(copy);
	if (r->closed) {
		struct job *k;

		for (k = st.jobs; k != NULL; k = k->next)
			if (k->handle == r)
				return;
		free(r);
	}
}

static int
f_msg_read(struct posta_msg_reader *rd, uint64_t offset, size_t len,
    posta_msg_read_cb *cb, void *ctx)
{
	struct freader *r = (struct freader *)rd;
	struct job *j;

	assert_false(r->closed);
	assert_true(len > 0 && len <= POSTA_STORE_READ_MAX);
	for (j = st.jobs; j != NULL; j = j->next)
		if (j->handle == r)
			return -EBUSY;	/* one read at a time (store.h) */
	j = job_add(read_job, r, (void *)cb, ctx, 0);
	j->off = offset;
	j->len = len;
	return 0;
}

static void
f_msg_close(struct posta_msg_reader *rd)
{
	struct freader *r = (struct freader *)rd;
	struct job *j;

	st.readers--;
	r->closed = true;
	for (j = st.jobs; j != NULL; j = j->next) {
		if (j->handle == r) {
			j->err = -ECANCELED;
			return;	/* read_job frees it */
		}
	}
	if (!r->in_cb)
		free(r);
}

static void
expunge_job(struct job *j, int err)
{
	struct fbox *b = j->handle;

	b->in_cb = true;
	((posta_store_expunge_cb *)j->cb)(j->ctx, err, err == 0 ?
	    st.n_expunged : 0);
	b->in_cb = false;
	if (b->closed) {
		struct job *k;

		for (k = st.jobs; k != NULL; k = k->next)
			if (k->handle == b)
				return;
		free(b);
	}
}

static int
f_expunge(struct posta_mailbox *box, const uint32_t *uids, size_t n,
    uint32_t flags, posta_store_expunge_cb *cb, void *ctx)
{
	assert_true(n <= MAX_MSGS);
	assert_int_equal(flags, 0);
	memcpy(st.expunged, uids, n * sizeof(*uids));
	st.n_expunged = n;
	job_add(expunge_job, box, (void *)cb, ctx, st.expunge_err);
	return 0;
}

static const struct posta_store_ops fake_ops = {
	.size = sizeof(struct posta_store_ops),
	.name = "fake",
	.user_open = f_user_open,
	.user_close = f_user_close,
	.mailbox_open = f_mailbox_open,
	.mailbox_close = f_mailbox_close,
	.view_status = f_view_status,
	.view_messages = f_view_messages,
	.expunge = f_expunge,
	.msg_open = f_msg_open,
	.msg_read = f_msg_read,
	.msg_close = f_msg_close,
};

/* n messages: the three of store_reset(), then copies of the third */
static void
store_grow(size_t n)
{
	size_t i;

	for (i = st.n; i < n; i++) {
		st.msgs[i] = st.msgs[2];
		st.msgs[i].uid = (uint32_t)(10 * (i + 1));
		st.view[i] = st.view[2];
		st.view[i].uid = st.msgs[i].uid;
	}
	st.n = n;
}

static void
store_reset(void)
{
	static const char *const texts[] = {
		"Subject: one\r\n\r\nbody one\r\n",
		"Subject: two\r\n\r\n.dot\r\nx\r\n",
		"Subject: three\r\n\r\n3\r\n",
	};
	size_t i;

	memset(&st, 0, sizeof(st));
	st.tail = &st.jobs;
	st.n = 3;
	st.status.uidvalidity = 0x1234;
	for (i = 0; i < st.n; i++) {
		st.msgs[i].uid = (uint32_t)(10 * (i + 1));
		st.msgs[i].data = texts[i];
		st.view[i].uid = st.msgs[i].uid;
		st.view[i].size = strlen(texts[i]);
	}
}

/* ---- fake host and connection ---- */

struct fhost {
	const struct posta_host_api *api;
	const struct posta_protocol *proto;
	void *proto_state;
	char log[16384];
	size_t log_len;
};

struct fconn {
	const struct posta_host_api *api;
	struct fhost *host;
	const struct posta_conn_handler *h;
	void *ctx;
	char out[16384];
	size_t out_len;
	bool paused, closing, closed, tls, plaintext_ok;
	enum posta_tls_mode tls_mode;
	int starttls_ret;
	bool starttls_called;
	uint64_t timeout_ms;
	size_t pending;			/* what write_pending() says */
	char *user;
	/* a login waiting for the test */
	posta_login_cb *login_cb;
	void *login_ctx;
	char login_user[64], login_pass[64];
	/* input queued like the core's buffer */
	char *lines[16];
	size_t n_lines;
};

static struct fhost H;

static void
h_logv(const void *obj, enum posta_log_level level, const char *event,
    const char *fmt, va_list ap)
{
	int n;

	n = snprintf(H.log + H.log_len, sizeof(H.log) - H.log_len,
	    "event=%s ", event);
	if (n > 0 && (size_t)n < sizeof(H.log) - H.log_len)
		H.log_len += (size_t)n;
	n = vsnprintf(H.log + H.log_len, sizeof(H.log) - H.log_len, fmt, ap);
	if (n > 0 && (size_t)n < sizeof(H.log) - H.log_len)
		H.log_len += (size_t)n;
	if (H.log_len + 1 < sizeof(H.log))
		H.log[H.log_len++] = '\n';
	H.log[H.log_len] = '\0';
}

static bool
h_log_enabled(const void *obj, enum posta_log_level level)
{
	return true;
}

static const char *
h_hostname(struct posta_host *h)
{
	return "mail.test";
}

static int
h_register_protocol(struct posta_host *h, const struct posta_protocol *p,
    void *state)
{
	H.proto = p;
	H.proto_state = state;
	return 0;
}

static const struct posta_store_ops *
h_store(struct posta_host *h, void **state_r)
{
	*state_r = NULL;
	return &fake_ops;
}

static void
c_set_handler(struct posta_conn *pc, const struct posta_conn_handler *h,
    void *ctx)
{
	struct fconn *c = (struct fconn *)pc;

	c->h = h;
	c->ctx = ctx;
}

static int
c_write(struct posta_conn *pc, const void *data, size_t len)
{
	struct fconn *c = (struct fconn *)pc;

	if (c->closing)
		return POSTA_ECLOSED;
	assert_true(c->out_len + len < sizeof(c->out));
	memcpy(c->out + c->out_len, data, len);
	c->out_len += len;
	c->out[c->out_len] = '\0';
	return 0;
}

static size_t
c_write_pending(const struct posta_conn *pc)
{
	return ((const struct fconn *)pc)->pending;
}

static void
c_pause(struct posta_conn *pc)
{
	((struct fconn *)pc)->paused = true;
}

static void
c_resume(struct posta_conn *pc)
{
	((struct fconn *)pc)->paused = false;
}

static void
c_set_timeout(struct posta_conn *pc, uint64_t ms)
{
	((struct fconn *)pc)->timeout_ms = ms;
}

static int
c_starttls(struct posta_conn *pc)
{
	struct fconn *c = (struct fconn *)pc;

	c->starttls_called = true;
	return c->starttls_ret;
}

static void
c_close(struct posta_conn *pc)
{
	/* the handler runs at the end of the loop turn: conn_finish() */
	((struct fconn *)pc)->closing = true;
}

static enum posta_tls_mode
c_tls_mode(const struct posta_conn *pc)
{
	return ((const struct fconn *)pc)->tls_mode;
}

static bool
c_is_tls(const struct posta_conn *pc)
{
	return ((const struct fconn *)pc)->tls;
}

static bool
c_plaintext_ok(const struct posta_conn *pc)
{
	const struct fconn *c = (const struct fconn *)pc;

	return c->tls || c->plaintext_ok;
}

static const char *
c_user(const struct posta_conn *pc)
{
	return ((const struct fconn *)pc)->user;
}

static int
c_login(struct posta_conn *pc, const char *user, const char *password,
    posta_login_cb *cb, void *ctx)
{
	struct fconn *c = (struct fconn *)pc;

	assert_null(c->login_cb);
	c->login_cb = cb;
	c->login_ctx = ctx;
	snprintf(c->login_user, sizeof(c->login_user), "%s", user);
	snprintf(c->login_pass, sizeof(c->login_pass), "%s", password);
	return 0;
}

static const struct posta_host_api fake_api = {
	.size = sizeof(struct posta_host_api),
	.logv = h_logv,
	.log_enabled = h_log_enabled,
	.hostname = h_hostname,
	.register_protocol = h_register_protocol,
	.store = h_store,
	.conn_set_handler = c_set_handler,
	.conn_write = c_write,
	.conn_write_pending = c_write_pending,
	.conn_pause = c_pause,
	.conn_resume = c_resume,
	.conn_set_timeout = c_set_timeout,
	.conn_starttls = c_starttls,
	.conn_close = c_close,
	.conn_tls_mode = c_tls_mode,
	.conn_is_tls = c_is_tls,
	.conn_plaintext_auth_allowed = c_plaintext_ok,
	.conn_user = c_user,
	.conn_login = c_login,
};

/* ---- driving a session ---- */

static struct pop3_settings set;
static void *mod_state;

static int
setup(void **state)
{
	const char *err = NULL;

	memset(&H, 0, sizeof(H));
	H.api = &fake_api;
	store_reset();
	set.idle_timeout_ms = 600000;
	set.max_bad_commands = 5;
	set.uidl_format = "%08Xu%08Xv";
	set.lock_maildrop = true;
	assert_int_equal(posta_module.init((struct posta_host *)&H, &set,
	    &mod_state, &err), 0);
	assert_non_null(H.proto);
	return 0;
}

static int
teardown(void **state)
{
	posta_module.deinit(mod_state);
	/* every handle the session opened was closed */
	assert_int_equal(st.users, 0);
	assert_int_equal(st.boxes, 0);
	assert_int_equal(st.readers, 0);
	assert_null(st.jobs);
	return 0;
}

static struct fconn *
conn_new(bool tls)
{
	struct fconn *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	c->api = &fake_api;
	c->host = &H;
	c->tls = tls;
	c->tls_mode = tls ? POSTA_TLS_IMPLICIT : POSTA_TLS_STARTTLS;
	assert_int_equal(H.proto->accept(H.proto_state,
	    (struct posta_conn *)c), 0);
	assert_non_null(c->h);
	return c;
}

/* Delivers queued lines while the session takes input (as the core). */
static void
pump(struct fconn *c)
{
	while (c->n_lines > 0 && !c->paused && !c->closing) {
		char *line = c->lines[0];

		memmove(c->lines, c->lines + 1,
		    (c->n_lines - 1) * sizeof(c->lines[0]));
		c->n_lines--;
		c->h->line(c->ctx, (const uint8_t *)line, strlen(line),
		    POSTA_LINE_CRLF);
		free(line);
	}
}

static void
send_line(struct fconn *c, const char *line)
{
	assert_true(c->n_lines < 16);
	c->lines[c->n_lines] = strdup(line);
	assert_non_null(c->lines[c->n_lines]);
	c->n_lines++;
	pump(c);
}

/* Runs store jobs and input until nothing moves. */
static void
settle(struct fconn *c)
{
	do
		pump(c);
	while (run_jobs() > 0);
}

/* The output since the last call, then forgotten. */
static char *
take(struct fconn *c)
{
	static char buf[16384];

	memcpy(buf, c->out, c->out_len + 1);
	c->out_len = 0;
	c->out[0] = '\0';
	return buf;
}

static void
login_finish(struct fconn *c, enum posta_login_result r, const char *text)
{
	posta_login_cb *cb = c->login_cb;

	assert_non_null(cb);
	c->login_cb = NULL;
	if (r == POSTA_LOGIN_OK)
		c->user = strdup("u@example.com");
	cb(c->login_ctx, r, text);
}

/* The close handler, as the core runs it once the queue is flushed. */
static void
conn_finish(struct fconn *c, int reason)
{
	size_t i;

	assert_false(c->closed);
	c->closed = true;
	c->h->close(c->ctx, reason);
	for (i = 0; i < c->n_lines; i++)
		free(c->lines[i]);
	free(c->user);
	free(c);
}

static struct fconn *
logged_in(void)
{
	struct fconn *c = conn_new(true);

	take(c);
	send_line(c, "USER u@example.com");
	send_line(c, "PASS pw");
	assert_true(c->paused);
	login_finish(c, POSTA_LOGIN_OK, NULL);
	settle(c);
	assert_string_equal(take(c), "+OK Send your password.\r\n"
	    "+OK Logged in.\r\n");
	assert_false(c->paused);
	return c;
}

/* ---- tests ---- */

static void
test_greeting_capa(void **state)
{
	struct fconn *c = conn_new(false);
	char *out;

	assert_string_equal(take(c), "+OK mail.test POP3 ready.\r\n");
	send_line(c, "CAPA");
	out = take(c);
	assert_non_null(strstr(out, "\r\nSTLS\r\n"));
	assert_null(strstr(out, "USER"));
	assert_null(strstr(out, "SASL"));
	send_line(c, "USER u@example.com");
	assert_non_null(strstr(take(c), "-ERR [AUTH] "));
	send_line(c, "STLS");
	assert_string_equal(take(c), "+OK Begin TLS negotiation now.\r\n");
	assert_true(c->starttls_called);
	c->tls = true;
	c->h->tls(c->ctx, 0);
	send_line(c, "CAPA");
	out = take(c);
	assert_null(strstr(out, "STLS"));
	assert_non_null(strstr(out, "\r\nUSER\r\nSASL PLAIN LOGIN\r\n"));
	send_line(c, "QUIT");
	assert_string_equal(take(c), "+OK Logging out.\r\n");
	assert_true(c->closing);
	conn_finish(c, 0);
}

static void
test_stls_forgets_user(void **state)
{
	struct fconn *c = conn_new(false);

	c->plaintext_ok = true;	/* USER allowed in the clear */
	take(c);
	send_line(c, "USER u@example.com");
	send_line(c, "STLS");
	c->tls = true;
	c->h->tls(c->ctx, 0);
	take(c);
	send_line(c, "PASS pw");
	assert_string_equal(take(c),
	    "-ERR No user name given: send USER first.\r\n");
	assert_null(c->login_cb);
	conn_finish(c, -ECONNRESET);
}

static void
test_stls_fails(void **state)
{
	struct fconn *c = conn_new(false);

	take(c);
	c->starttls_ret = POSTA_ENOTLS;
	send_line(c, "STLS");
	assert_string_equal(take(c), "+OK Begin TLS negotiation now.\r\n");
	/* the client now speaks TLS: the session must end */
	assert_true(c->closing);
	assert_non_null(strstr(H.log, "event=pop3.stls_failed"));
	conn_finish(c, 0);
}

static void
test_login_results(void **state)
{
	struct fconn *c = conn_new(true);

	take(c);
	send_line(c, "USER u@example.com");
	send_line(c, "PASS wrong");
	send_line(c, "NOOP");	/* pipelined: waits for the login */
	assert_true(c->paused);
	assert_string_equal(c->login_pass, "wrong");
	login_finish(c, POSTA_LOGIN_FAIL, NULL);
	settle(c);
	assert_string_equal(take(c), "+OK Send your password.\r\n"
	    "-ERR [AUTH] Authentication failed.\r\n+OK NOOP\r\n");
	send_line(c, "USER u@example.com");
	send_line(c, "PASS pw");
	login_finish(c, POSTA_LOGIN_LIMIT,
	    "Too many POP3 sessions\r\nfor this user (limit 5)");
	assert_string_equal(take(c), "+OK Send your password.\r\n"
	    "-ERR [IN-USE] Too many POP3 sessions  for this user "
	    "(limit 5)\r\n");
	assert_false(c->paused);
	assert_false(c->closing);
	send_line(c, "USER u@example.com");
	send_line(c, "PASS pw");
	login_finish(c, POSTA_LOGIN_THROTTLED, NULL);
	assert_non_null(strstr(take(c), "-ERR [SYS/TEMP] Too many failed"));
	send_line(c, "USER u@example.com");
	send_line(c, "PASS pw");
	login_finish(c, POSTA_LOGIN_TEMPFAIL, NULL);
	assert_non_null(strstr(take(c), "-ERR [SYS/TEMP] Temporary"));
	assert_false(c->closing);
	conn_finish(c, 0);
}

static void
test_sasl(void **state)
{
	struct fconn *c = conn_new(true);

	take(c);
	/* "\0u@example.com\0p w" */
	send_line(c, "AUTH PLAIN AHVAZXhhbXBsZS5jb20AcCB3");
	assert_string_equal(c->login_user, "u@example.com");
	assert_string_equal(c->login_pass, "p w");
	login_finish(c, POSTA_LOGIN_FAIL, NULL);
	take(c);
	send_line(c, "AUTH LOGIN");
	assert_string_equal(take(c), "+ VXNlcm5hbWU6\r\n");
	send_line(c, "dUBleGFtcGxlLmNvbQ==");
	assert_string_equal(take(c), "+ UGFzc3dvcmQ6\r\n");
	send_line(c, "cHc=");
	assert_string_equal(c->login_pass, "pw");
	login_finish(c, POSTA_LOGIN_OK, NULL);
	settle(c);
	assert_string_equal(take(c), "+OK Logged in.\r\n");
	assert_int_equal(c->timeout_ms, 600000);
	assert_int_equal(st.open_flags, POSTA_OPEN_POP3_LOCK);
	send_line(c, "QUIT");
	assert_true(c->closing);
	conn_finish(c, 0);
}

static void
test_open_failures(void **state)
{
	struct fconn *c;

	st.user_open_err = POSTA_ETEMP;
	c = conn_new(true);
	take(c);
	send_line(c, "USER u@example.com");
	send_line(c, "PASS pw");
	login_finish(c, POSTA_LOGIN_OK, NULL);
	settle(c);
	assert_non_null(strstr(take(c), "-ERR [SYS/TEMP] Cannot open"));
	assert_true(c->closing);
	conn_finish(c, 0);

	st.user_open_err = 0;
	st.box_open_err = -EBUSY;
	c = conn_new(true);
	take(c);
	send_line(c, "USER u@example.com");
	send_line(c, "PASS pw");
	login_finish(c, POSTA_LOGIN_OK, NULL);
	settle(c);
	assert_non_null(strstr(take(c), "-ERR [IN-USE] Mailbox is locked"));
	assert_true(c->closing);
	conn_finish(c, 0);

	/* the lock refused by the call itself */
	st.box_open_err = 0;
	st.box_open_sync_err = -EBUSY;
	c = conn_new(true);
	take(c);
	send_line(c, "USER u@example.com");
	send_line(c, "PASS pw");
	login_finish(c, POSTA_LOGIN_OK, NULL);
	settle(c);
	assert_non_null(strstr(take(c), "-ERR [IN-USE] Mailbox is locked"));
	conn_finish(c, 0);
}

static void
test_close_during_open(void **state)
{
	struct fconn *c = conn_new(true);

	take(c);
	send_line(c, "USER u@example.com");
	send_line(c, "PASS pw");
	login_finish(c, POSTA_LOGIN_OK, NULL);
	/* the client goes away while the store opens the user */
	conn_finish(c, -ECONNRESET);
	/* its callback still comes, with a user the session must close */
	assert_int_equal(run_jobs(), 1);
	assert_int_equal(st.users, 0);
}

static void
test_transaction(void **state)
{
	struct fconn *c = logged_in();

	send_line(c, "STAT");
	assert_string_equal(take(c), "+OK 3 72\r\n");
	send_line(c, "UIDL");
	settle(c);
	assert_string_equal(take(c), "+OK Unique-ID listing follows\r\n"
	    "1 0000000A00001234\r\n2 0000001400001234\r\n"
	    "3 0000001E00001234\r\n.\r\n");
	send_line(c, "DELE 2");
	send_line(c, "LIST");
	settle(c);
	assert_string_equal(take(c), "+OK Message 2 deleted.\r\n"
	    "+OK 2 messages (47 octets)\r\n1 26\r\n3 21\r\n.\r\n");
	send_line(c, "RETR 2");
	assert_string_equal(take(c), "-ERR Message 2 is deleted.\r\n");
	send_line(c, "DELE 3");
	send_line(c, "QUIT");
	assert_true(c->paused);
	settle(c);
	/* ascending UIDs of the DELE'd messages */
	assert_int_equal(st.n_expunged, 2);
	assert_int_equal(st.expunged[0], 20);
	assert_int_equal(st.expunged[1], 30);
	assert_string_equal(take(c), "+OK Message 3 deleted.\r\n"
	    "+OK Logging out, messages deleted.\r\n");
	assert_true(c->closing);
	conn_finish(c, 0);
	assert_non_null(strstr(H.log, "reason=quit retr=0 top=0 deleted=2 "
	    "expunged=2 left=1"));
}

static void
test_expunge_fails(void **state)
{
	struct fconn *c = logged_in();

	st.expunge_err = POSTA_ETEMP;
	send_line(c, "DELE 1");
	send_line(c, "QUIT");
	settle(c);
	assert_string_equal(take(c), "+OK Message 1 deleted.\r\n"
	    "-ERR [SYS/TEMP] Deleted messages could not be removed, try "
	    "again later.\r\n");
	assert_true(c->closing);
	assert_non_null(strstr(H.log, "event=pop3.expunge_failed"));
	conn_finish(c, 0);
}

static void
test_close_during_expunge(void **state)
{
	struct fconn *c = logged_in();

	send_line(c, "DELE 1");
	send_line(c, "QUIT");
	take(c);
	conn_finish(c, -ECONNRESET);
	/* the expunge callback comes after the session has gone */
	assert_int_equal(run_jobs(), 1);
}

static void
test_retr_paced(void **state)
{
	struct fconn *c = logged_in();

	c->pending = POP3_WRITE_AHEAD;	/* the client reads slowly */
	send_line(c, "RETR 2");
	send_line(c, "NOOP");
	settle(c);
	/* the message fits one read: done without waiting for drain */
	assert_string_equal(take(c), "+OK 25 octets\r\nSubject: two\r\n\r\n"
	    "..dot\r\nx\r\n.\r\n+OK NOOP\r\n");
	send_line(c, "TOP 2 0");
	settle(c);
	assert_string_equal(take(c), "+OK Top of message follows.\r\n"
	    "Subject: two\r\n\r\n.\r\n");
	send_line(c, "QUIT");
	conn_finish(c, 0);
}

static void
test_list_paced(void **state)
{
	struct fconn *c;
	char *out;

	store_grow(MAX_MSGS);
	c = logged_in();
	/* a long listing waits for drain while the queue is full */
	c->pending = POP3_WRITE_AHEAD;
	send_line(c, "UIDL");
	send_line(c, "NOOP");
	settle(c);
	assert_true(c->paused);
	out = take(c);
	assert_null(strstr(out, "\r\n.\r\n"));
	assert_true(strlen(out) < 10000);
	/* a drain with the queue still full writes one more batch */
	c->h->drain(c->ctx);
	assert_true(c->paused);
	c->pending = 0;
	c->h->drain(c->ctx);
	settle(c);
	assert_false(c->paused);
	out = take(c);
	assert_non_null(strstr(out, "1000 000027100000"));
	assert_non_null(strstr(out, "\r\n.\r\n+OK NOOP\r\n"));
	send_line(c, "QUIT");
	conn_finish(c, 0);
}

static void
test_retr_read_error(void **state)
{
	struct fconn *c = logged_in();

	st.read_err = -EIO;
	send_line(c, "RETR 1");
	settle(c);
	/* +OK went out; the failure closes without the terminator */
	assert_string_equal(take(c), "+OK 26 octets\r\n");
	assert_true(c->closing);
	assert_non_null(strstr(H.log, "event=pop3.read_failed"));
	conn_finish(c, 0);
}

static void
test_retr_gone(void **state)
{
	struct fconn *c = logged_in();

	st.msg_open_err = POSTA_ENOTFOUND;
	send_line(c, "RETR 1");
	settle(c);
	assert_string_equal(take(c), "-ERR Message 1 no longer exists.\r\n");
	assert_false(c->paused);
	st.msg_open_err = POSTA_ETEMP;
	send_line(c, "TOP 1 1");
	settle(c);
	assert_non_null(strstr(take(c), "-ERR [SYS/TEMP] Cannot read"));
	assert_false(c->closing);
	conn_finish(c, 0);
}

static void
test_close_during_read(void **state)
{
	struct fconn *c = logged_in();

	send_line(c, "RETR 1");
	assert_true(run_one());		/* the open; a read is queued */
	assert_int_equal(st.readers, 1);
	conn_finish(c, -ECONNRESET);
	assert_int_equal(st.readers, 0);
	/* the read's callback still runs, with -ECANCELED */
	assert_int_equal(run_jobs(), 1);
	assert_non_null(strstr(H.log, "reason=disconnected retr=1"));
}

static void
test_timeouts(void **state)
{
	struct fconn *c = conn_new(true);

	take(c);
	c->h->timeout(c->ctx);
	assert_string_equal(take(c), "-ERR Disconnected for inactivity.\r\n");
	assert_true(c->closing);
	conn_finish(c, -ETIMEDOUT);

	/* mid-response no -ERR line: it would read as message text */
	c = logged_in();
	send_line(c, "RETR 1");
	assert_true(run_one());
	take(c);
	c->h->timeout(c->ctx);
	assert_string_equal(take(c), "");
	assert_true(c->closing);
	conn_finish(c, -ETIMEDOUT);
	run_jobs();
	assert_non_null(strstr(H.log, "reason=timeout"));
}

static void
test_bad_commands(void **state)
{
	struct fconn *c = conn_new(true);
	int i;

	take(c);
	for (i = 0; i < 4; i++)
		send_line(c, "XYZZY");
	send_line(c, "NOOP");	/* resets the count */
	for (i = 0; i < 4; i++)
		send_line(c, "RETR 1");
	assert_false(c->closing);
	c->h->line(c->ctx, NULL, 0, POSTA_LINE_TOO_LONG);
	assert_true(c->closing);
	assert_non_null(strstr(take(c), "-ERR Line too long.\r\n-ERR Too "
	    "many bad commands, closing connection.\r\n"));
	conn_finish(c, 0);
}

static void
test_refuse(void **state)
{
	struct fconn *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	c->api = &fake_api;
	H.proto->refuse(H.proto_state, (struct posta_conn *)c,
	    POSTA_REFUSE_CONN_LIMIT, "Too many\r\nconnections");
	assert_string_equal(c->out, "-ERR [SYS/TEMP] Too many  connections"
	    "\r\n");
	free(c);
}

static void
test_unlocked(void **state)
{
	struct fconn *c;

	set.lock_maildrop = false;
	c = logged_in();
	assert_int_equal(st.open_flags, 0);
	send_line(c, "QUIT");
	conn_finish(c, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_greeting_capa, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_stls_forgets_user, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_stls_fails, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_login_results, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_sasl, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_failures, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_close_during_open, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_transaction, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_expunge_fails, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_close_during_expunge,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_retr_paced, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_list_paced, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_retr_read_error, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_retr_gone, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_close_during_read, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_timeouts, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_bad_commands, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_refuse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unlocked, setup,
		    teardown),
	};

	return cmocka_run_group_tests_name("pop3_session", tests, NULL, NULL);
}
