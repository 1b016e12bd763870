/* test_limiter.c: limiter hooks driven through a fake host and a real loop */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <posta/posta.h>

/* the plugin's descriptor, linked in from plugins/limiter/limiter.c */
extern const struct posta_module posta_module;

#define MAX_CONNS 256
#define MAX_LOGS 64
#define SET_BUF 1024

struct fixture;

/* what the fake host and connections share after the api pointer */
struct fake_obj {
	const struct posta_host_api *api;
	struct fixture *f;
};

struct fake_host {
	const struct posta_host_api *api;
	struct fixture *f;
};

struct fake_conn {
	const struct posta_host_api *api;
	struct fixture *f;
	const char *protocol, *service;
	struct sockaddr_storage remote;
	void *data;
	bool open;		/* connect ran, close not yet */
	bool logged_in;		/* login_ok accepted, logout not yet */
	enum posta_hook_verdict connect_v;
	struct posta_hook_refusal ref;	/* of the last refusal */
	char ref_text[200];
	int done_calls;
	enum posta_hook_verdict done_v;
};

struct fixture {
	uv_loop_t loop;
	struct fake_host host;
	const struct posta_hooks *hooks;
	void *hook_state;
	int register_result;
	void *state;
	bool started;
	_Alignas(max_align_t) unsigned char set[SET_BUF];
	_Alignas(max_align_t) unsigned char set2[SET_BUF];
	const char *list_items[8];
	struct fake_conn *conns[MAX_CONNS];
	size_t n_conns;
	char logs[MAX_LOGS][512];
	size_t n_logs;
};

/* ---- the fake host ---- */

static void
fake_logv(const void *obj, enum posta_log_level level, const char *event,
    const char *fmt, va_list ap)
{
	struct fixture *f = ((const struct fake_obj *)obj)->f;
	char *line = f->logs[f->n_logs % MAX_LOGS];
	int n;

	n = snprintf(line, 512, "level=%d event=%s ", (int)level, event);
	vsnprintf(line + n, 512 - (size_t)n, fmt, ap);
	f->n_logs++;
}

static bool
fake_log_enabled(const void *obj, enum posta_log_level level)
{
	return true;
}

static uv_loop_t *
fake_loop(struct posta_host *h)
{
	return &((struct fake_host *)h)->f->loop;
}

static int
fake_register_hooks(struct posta_host *h, const struct posta_hooks *hooks,
    void *state)
{
	struct fixture *f = ((struct fake_host *)h)->f;

	if (f->register_result < 0)
		return f->register_result;
	assert_null(f->hooks);
	f->hooks = hooks;
	f->hook_state = state;
	return 0;
}

static const char *
fake_conn_protocol(const struct posta_conn *c)
{
	return ((const struct fake_conn *)c)->protocol;
}

static const char *
fake_conn_service(const struct posta_conn *c)
{
	return ((const struct fake_conn *)c)->service;
}

static const struct sockaddr *
fake_conn_remote_addr(const struct posta_conn *c)
{
	return (const struct sockaddr *)&((const struct fake_conn *)c)->remote;
}

static void *
fake_conn_get_data(const struct posta_conn *c, const struct posta_host *h)
{
	const struct fake_conn *fc = (const struct fake_conn *)c;

	assert_ptr_equal(h, &fc->f->host);
	assert_true(fc->open);
	return fc->data;
}

static void
fake_conn_set_data(struct posta_conn *c, const struct posta_host *h,
    void *data)
{
	struct fake_conn *fc = (struct fake_conn *)c;

	assert_ptr_equal(h, &fc->f->host);
	assert_true(fc->open);
	fc->data = data;
}

/* Only what the limiter may call; anything else is NULL and would crash. */
static const struct posta_host_api fake_api = {
	.size = sizeof(struct posta_host_api),
	.logv = fake_logv,
	.log_enabled = fake_log_enabled,
	.loop = fake_loop,
	.register_hooks = fake_register_hooks,
	.conn_protocol = fake_conn_protocol,
	.conn_service = fake_conn_service,
	.conn_remote_addr = fake_conn_remote_addr,
	.conn_get_data = fake_conn_get_data,
	.conn_set_data = fake_conn_set_data,
};

/* ---- settings, filled from the plugin's own table ---- */

static const struct posta_setting *
setting(const char *name)
{
	const struct posta_setting *s;

	for (s = posta_module.settings; s->name != NULL; s++)
		if (strcmp(s->name, name) == 0)
			return s;
	fail_msg("no setting %s", name);
	return NULL;
}

static uint64_t
parse_duration(const char *text)
{
	static const struct {
		const char *unit;
		uint64_t ms;
	} units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 },
		{ "d", 86400000 },
	};
	char *end;
	unsigned long long v = strtoull(text, &end, 10);
	size_t i;

	assert_true(end != text);
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(end, units[i].unit) == 0)
			return v * units[i].ms;
	fail_msg("bad duration %s", text);
	return 0;
}

static void
settings_defaults(unsigned char *buf)
{
	const struct posta_setting *s;

	assert_true(posta_module.settings_size <= SET_BUF);
	memset(buf, 0, SET_BUF);
	for (s = posta_module.settings; s->name != NULL; s++) {
		switch (s->type) {
		case POSTA_SET_INT: {
			int64_t v = strtoll(s->def, NULL, 10);

			memcpy(buf + s->offset, &v, sizeof(v));
			break;
		}
		case POSTA_SET_DURATION: {
			uint64_t v = parse_duration(s->def);

			memcpy(buf + s->offset, &v, sizeof(v));
			break;
		}
		case POSTA_SET_LIST: {
			struct posta_list l = { 0, NULL };

			assert_string_equal(s->def, "");
			memcpy(buf + s->offset, &l, sizeof(l));
			break;
		}
		default:
			fail_msg("unexpected type for %s", s->name);
		}
	}
}

static void
set_int(unsigned char *buf, const char *name, int64_t v)
{
	const struct posta_setting *s = setting(name);

	assert_int_equal(s->type, POSTA_SET_INT);
	assert_true(v >= s->min && v <= s->max);
	memcpy(buf + s->offset, &v, sizeof(v));
}

static void
set_ms(unsigned char *buf, const char *name, uint64_t v)
{
	const struct posta_setting *s = setting(name);

	assert_int_equal(s->type, POSTA_SET_DURATION);
	assert_true((int64_t)v >= s->min && (int64_t)v <= s->max);
	memcpy(buf + s->offset, &v, sizeof(v));
}

static void
set_list(unsigned char *buf, const char **storage, const char *name,
    size_t n, ...)
{
	const struct posta_setting *s = setting(name);
	struct posta_list l;
	va_list ap;
	size_t i;

	assert_int_equal(s->type, POSTA_SET_LIST);
	assert_true(n <= 8);
	va_start(ap, n);
	for (i = 0; i < n; i++)
		storage[i] = va_arg(ap, const char *);
	va_end(ap);
	l.n = n;
	l.items = storage;
	memcpy(buf + s->offset, &l, sizeof(l));
}

/* ---- fixture ---- */

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(uv_loop_init(&f->loop), 0);
	f->host.api = &fake_api;
	f->host.f = f;
	settings_defaults(f->set);
	settings_defaults(f->set2);
	*state = f;
	return 0;
}

static void
start(struct fixture *f)
{
	const char *error = NULL;

	assert_int_equal(posta_module.init((struct posta_host *)&f->host,
	    f->set, &f->state, &error), 0);
	assert_non_null(f->hooks);
	assert_ptr_equal(f->hook_state, f->state);
	f->started = true;
}

static void
conn_close(struct fake_conn *c);

static int
teardown(void **state)
{
	struct fixture *f = *state;
	size_t i;

	for (i = 0; i < f->n_conns; i++) {
		if (f->conns[i]->open)
			conn_close(f->conns[i]);
		free(f->conns[i]);
	}
	if (f->started)
		posta_module.deinit(f->state);
	/* close callbacks of cancelled delays; nothing may stay alive */
	assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	free(f);
	return 0;
}

static size_t
log_count(const struct fixture *f, const char *event)
{
	char want[64];
	size_t i, n = 0, first;

	snprintf(want, sizeof(want), "event=%s ", event);
	first = f->n_logs > MAX_LOGS ? f->n_logs - MAX_LOGS : 0;
	for (i = first; i < f->n_logs; i++)
		if (strstr(f->logs[i % MAX_LOGS], want) != NULL)
			n++;
	return n;
}

static const char *
log_last(const struct fixture *f)
{
	assert_true(f->n_logs > 0);
	return f->logs[(f->n_logs - 1) % MAX_LOGS];
}

static void
assert_log_has(const char *line, const char *part)
{
	if (strstr(line, part) == NULL)
		fail_msg("log line \"%s\" lacks \"%s\"", line, part);
}

/* ---- connections as the core drives them ---- */

/* The core copies the text at once: it is only valid until close. */
static void
conn_keep_refusal(struct fake_conn *c, const struct posta_hook_refusal *ref)
{
	assert_non_null(ref->text);
	c->ref.code = ref->code;
	snprintf(c->ref_text, sizeof(c->ref_text), "%s", ref->text);
	c->ref.text = c->ref_text;
}

static struct fake_conn *
conn_open(struct fixture *f, const char *protocol, const char *service,
    const char *ip)
{
	struct fake_conn *c = calloc(1, sizeof(*c));
	struct posta_hook_refusal ref = { POSTA_REFUSE_OTHER, NULL };

	assert_non_null(c);
	assert_true(f->n_conns < MAX_CONNS);
	f->conns[f->n_conns++] = c;
	c->api = &fake_api;
	c->f = f;
	c->protocol = protocol;
	c->service = service;
	if (strchr(ip, ':') != NULL) {
		struct sockaddr_in6 *sin6 = (void *)&c->remote;

		sin6->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, ip, &sin6->sin6_addr), 1);
	} else {
		struct sockaddr_in *sin = (void *)&c->remote;

		sin->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, ip, &sin->sin_addr), 1);
	}
	c->open = true;
	c->connect_v = f->hooks->connect(f->hook_state,
	    (struct posta_conn *)c, &ref);
	if (c->connect_v == POSTA_HOOK_REFUSE)
		conn_keep_refusal(c, &ref);
	else
		assert_int_equal(c->connect_v, POSTA_HOOK_CONTINUE);
	return c;
}

static void
conn_done(void *ctx, enum posta_hook_verdict v,
    const struct posta_hook_refusal *refusal)
{
	struct fake_conn *c = ctx;

	/* never after close, never twice */
	assert_true(c->open);
	assert_int_equal(c->done_calls, 0);
	c->done_calls++;
	c->done_v = v;
	assert_true(v == POSTA_HOOK_CONTINUE || v == POSTA_HOOK_REFUSE);
	if (v == POSTA_HOOK_REFUSE) {
		assert_non_null(refusal);
		conn_keep_refusal(c, refusal);
	}
}

/* Runs the loop until c's pending attempt is answered (bounded). */
static void
conn_wait_done(struct fake_conn *c)
{
	int i;

	for (i = 0; i < 1000 && c->done_calls == 0; i++)
		uv_run(&c->f->loop, UV_RUN_ONCE);
	assert_int_equal(c->done_calls, 1);
}

/*
 * login_attempt as the core runs it: answers CONTINUE or REFUSE after any
 * PENDING wait.  *pended_r says whether it waited.
 */
static enum posta_hook_verdict
conn_attempt(struct fake_conn *c, const char *user, bool *pended_r)
{
	struct fixture *f = c->f;
	struct posta_hook_refusal ref = { POSTA_REFUSE_OTHER, NULL };
	enum posta_hook_verdict v;

	c->done_calls = 0;
	v = f->hooks->login_attempt(f->hook_state, (struct posta_conn *)c,
	    user, conn_done, c, &ref);
	if (pended_r != NULL)
		*pended_r = (v == POSTA_HOOK_PENDING);
	if (v == POSTA_HOOK_PENDING) {
		assert_int_equal(c->done_calls, 0);
		conn_wait_done(c);
		return c->done_v;
	}
	assert_int_equal(c->done_calls, 0);
	if (v == POSTA_HOOK_REFUSE)
		conn_keep_refusal(c, &ref);
	return v;
}

/* A whole successful login: attempt, result, login_ok. */
static enum posta_hook_verdict
conn_login(struct fake_conn *c, const char *user)
{
	struct fixture *f = c->f;
	struct posta_hook_refusal ref = { POSTA_REFUSE_OTHER, NULL };
	enum posta_hook_verdict v;

	v = conn_attempt(c, user, NULL);
	if (v != POSTA_HOOK_CONTINUE)
		return v;
	f->hooks->login_result(f->hook_state, (struct posta_conn *)c, user,
	    true);
	v = f->hooks->login_ok(f->hook_state, (struct posta_conn *)c, user,
	    &ref);
	if (v == POSTA_HOOK_CONTINUE) {
		c->logged_in = true;
	} else {
		assert_int_equal(v, POSTA_HOOK_REFUSE);
		conn_keep_refusal(c, &ref);
	}
	return v;
}

/* A login with a wrong password; returns the attempt's verdict. */
static enum posta_hook_verdict
conn_fail(struct fake_conn *c, const char *user, bool *pended_r)
{
	struct fixture *f = c->f;
	enum posta_hook_verdict v = conn_attempt(c, user, pended_r);

	if (v == POSTA_HOOK_CONTINUE)
		f->hooks->login_result(f->hook_state, (struct posta_conn *)c,
		    user, false);
	return v;
}

static void
conn_logout(struct fake_conn *c)
{
	if (c->logged_in)
		c->f->hooks->logout(c->f->hook_state, (struct posta_conn *)c);
	c->logged_in = false;
}

/* The core's teardown: logout if logged in, then close. */
static void
conn_close(struct fake_conn *c)
{
	conn_logout(c);
	c->f->hooks->close(c->f->hook_state, (struct posta_conn *)c);
	assert_null(c->data);
	c->open = false;
}

static void
conn_close_without_logout(struct fake_conn *c)
{
	c->f->hooks->close(c->f->hook_state, (struct posta_conn *)c);
	assert_null(c->data);
	c->logged_in = false;
	c->open = false;
}

static void
reload(struct fixture *f)
{
	const char *error = NULL;

	assert_int_equal(posta_module.reload(f->state, f->set2, &error), 0);
}

/* ---- the module and its settings ---- */

static void
test_descriptor_and_table(void **unused)
{
	const struct posta_setting *s, *t;

	assert_int_equal(posta_module.abi_major, POSTA_ABI_MAJOR);
	assert_int_equal(posta_module.abi_minor, POSTA_ABI_MINOR);
	assert_int_equal(posta_module.size, sizeof(struct posta_module));
	assert_string_equal(posta_module.name, "limiter");
	assert_int_equal(posta_module.kind, POSTA_MODULE_PLUGIN);
	assert_non_null(posta_module.init);
	assert_non_null(posta_module.reload);
	assert_non_null(posta_module.deinit);
	for (s = posta_module.settings; s->name != NULL; s++) {
		size_t width = s->type == POSTA_SET_LIST ?
		    sizeof(struct posta_list) : sizeof(int64_t);

		assert_true(s->offset + width <= posta_module.settings_size);
		assert_non_null(s->def);
		for (t = s + 1; t->name != NULL; t++)
			assert_string_not_equal(s->name, t->name);
		if (s->type == POSTA_SET_INT) {
			long long v = strtoll(s->def, NULL, 10);

			assert_true(v >= s->min && v <= s->max);
		} else if (s->type == POSTA_SET_DURATION) {
			uint64_t v = parse_duration(s->def);

			assert_true((int64_t)v >= s->min &&
			    (int64_t)v <= s->max);
		}
	}
	/* the documented defaults */
	assert_string_equal(setting("max_userip_connections imap")->def,
	    "25");
	assert_string_equal(setting("max_userip_connections pop3")->def, "5");
	assert_string_equal(setting("max_userip_connections smtp")->def, "0");
	assert_string_equal(setting("ipv6_prefix")->def, "128");
	assert_string_equal(setting("trusted_networks")->def, "");
}

/* conf.d/40-limiter.conf lists every setting with the table's default. */
static void
test_conf_snippet_matches_table(void **unused)
{
	const char *srcdir = getenv("POSTA_SRCDIR");
	const struct posta_setting *s;
	char path[4096], line[512];
	int seen[64] = { 0 };
	bool inside = false;
	size_t i, n = 0;
	FILE *fp;

	if (srcdir != NULL)
		snprintf(path, sizeof(path), "%s/conf.d/40-limiter.conf",
		    srcdir);
	else
		snprintf(path, sizeof(path), "%s", LIMITER_CONF);
	fp = fopen(path, "r");
	if (fp == NULL)
		fail_msg("cannot open %s", path);
	for (s = posta_module.settings; s->name != NULL; s++)
		n++;
	assert_true(n <= 64);
	while (fgets(line, sizeof(line), fp) != NULL) {
		char *p = line, *eq, *end;
		bool commented = false;

		line[strcspn(line, "\n")] = '\0';
		while (*p == ' ' || *p == '\t')
			p++;
		if (strcmp(p, "plugin limiter {") == 0) {
			inside = true;
			continue;
		}
		if (strcmp(p, "}") == 0) {
			inside = false;
			continue;
		}
		if (!inside || *p == '\0')
			continue;
		if (*p == '#') {
			/* "#key = value" documents a setting with no value */
			commented = true;
			p++;
			if (*p == ' ')
				continue;	/* prose */
		}
		eq = strstr(p, " = ");
		if (eq == NULL)
			fail_msg("unexpected line \"%s\"", line);
		*eq = '\0';
		end = eq + 3;
		for (i = 0, s = posta_module.settings; s->name != NULL;
		    s++, i++)
			if (strcmp(s->name, p) == 0)
				break;
		if (s->name == NULL)
			fail_msg("unknown setting \"%s\"", p);
		seen[i]++;
		if (commented)
			assert_string_equal(s->def, "");
		else
			assert_string_equal(end, s->def);
	}
	fclose(fp);
	for (i = 0; i < n; i++)
		if (seen[i] != 1)
			fail_msg("%s appears %d times",
			    posta_module.settings[i].name, seen[i]);
}

static void
test_init_rejects_bad_trusted_networks(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	void *st = NULL;

	set_list(f->set, f->list_items, "trusted_networks", 2, "127.0.0.0/8",
	    "10.0.0.1/8");
	assert_int_equal(posta_module.init((struct posta_host *)&f->host,
	    f->set, &st, &error), POSTA_ECONFIG);
	assert_non_null(error);
	assert_non_null(strstr(error, "trusted_networks"));
	assert_non_null(strstr(error, "\"10.0.0.1/8\""));
	assert_null(st);
	assert_null(f->hooks);
}

static void
test_init_fails_when_registration_fails(void **state)
{
	struct fixture *f = *state;
	const char *error = NULL;
	void *st = NULL;

	f->register_result = -ENOSPC;
	assert_int_equal(posta_module.init((struct posta_host *)&f->host,
	    f->set, &st, &error), -ENOSPC);
	assert_non_null(error);
	assert_null(st);
}

/* ---- per-user-per-IP caps ---- */

static void
test_imap_cap_25(void **state)
{
	struct fixture *f = *state;
	struct fake_conn *c[25], *extra, *other;
	int i;

	start(f);
	/* imap and imaps alternate: one count */
	for (i = 0; i < 25; i++) {
		c[i] = conn_open(f, "imap", i % 2 ? "imaps" : "imap",
		    "127.0.0.1");
		assert_int_equal(conn_login(c[i], "alice@example.com"),
		    POSTA_HOOK_CONTINUE);
	}
	assert_int_equal(log_count(f, "limit.refused"), 0);

	extra = conn_open(f, "imap", "imaps", "127.0.0.1");
	assert_int_equal(extra->connect_v, POSTA_HOOK_CONTINUE);
	assert_int_equal(conn_login(extra, "alice@example.com"),
	    POSTA_HOOK_REFUSE);
	assert_int_equal(extra->ref.code, POSTA_REFUSE_USERIP_LIMIT);
	assert_string_equal(extra->ref.text, "Too many IMAP sessions for "
	    "this user from this address (limit 25)");
	assert_int_equal(log_count(f, "limit.refused"), 1);
	assert_log_has(log_last(f), "level=2 event=limit.refused ");
	assert_log_has(log_last(f), "reason=userip protocol=imap "
	    "user=alice@example.com count=25 limit=25");
	/* the account in other case is the same account */
	assert_int_equal(conn_login(extra, "Alice@Example.COM"),
	    POSTA_HOOK_REFUSE);

	/* the 25 are untouched; others are not affected */
	for (i = 0; i < 25; i++)
		assert_true(c[i]->logged_in && c[i]->data != NULL);
	other = conn_open(f, "imap", "imap", "127.0.0.1");
	assert_int_equal(conn_login(other, "bob@example.com"),
	    POSTA_HOOK_CONTINUE);
	other = conn_open(f, "imap", "imap", "127.0.0.2");
	assert_int_equal(conn_login(other, "alice@example.com"),
	    POSTA_HOOK_CONTINUE);
	other = conn_open(f, "pop3", "pop3", "127.0.0.1");
	assert_int_equal(conn_login(other, "alice@example.com"),
	    POSTA_HOOK_CONTINUE);

	/* one leaves: the refused connection, still open, may log in */
	conn_close(c[7]);
	assert_int_equal(conn_login(extra, "alice@example.com"),
	    POSTA_HOOK_CONTINUE);
	other = conn_open(f, "imap", "imap", "127.0.0.1");
	assert_int_equal(conn_login(other, "alice@example.com"),
	    POSTA_HOOK_REFUSE);
	assert_int_equal(log_count(f, "limit.refused"), 3);
}

static void
test_pop3_cap_5(void **state)
{
	struct fixture *f = *state;
	struct fake_conn *c;
	int i;

	start(f);
	for (i = 0; i < 5; i++) {
		c = conn_open(f, "pop3", i < 3 ? "pop3" : "pop3s",
		    "192.0.2.1");
		assert_int_equal(conn_login(c, "alice@example.com"),
		    POSTA_HOOK_CONTINUE);
	}
	c = conn_open(f, "pop3", "pop3s", "192.0.2.1");
	assert_int_equal(conn_login(c, "alice@example.com"),
	    POSTA_HOOK_REFUSE);
	assert_int_equal(c->ref.code, POSTA_REFUSE_USERIP_LIMIT);
	assert_string_equal(c->ref.text, "Too many POP3 sessions for this "
	    "user from this address (limit 5)");
	assert_log_has(log_last(f), "reason=userip protocol=pop3 "
	    "user=alice@example.com count=5 limit=5");
	/* imap is its own count */
	c = conn_open(f, "imap", "imap", "192.0.2.1");
	assert_int_equal(conn_login(c, "alice@example.com"),
	    POSTA_HOOK_CONTINUE);
}

/* Logs in until refused; returns how many got in (bounded by max). */
static int
fill(struct fixture *f, const char *protocol, const char *ip,
    const char *user, int max, struct fake_conn **got)
{
	int n;

	for (n = 0; n < max; n++) {
		struct fake_conn *c = conn_open(f, protocol, protocol, ip);

		if (conn_login(c, user) != POSTA_HOOK_CONTINUE) {
			conn_close(c);
			break;
		}
		if (got != NULL)
			got[n] = c;
	}
	return n;
}

static void
test_every_end_releases(void **state)
{
	struct fixture *f = *state;
	struct posta_hook_refusal ref;
	struct fake_conn *c[5], *g[1], *x;

	start(f);
	assert_int_equal(fill(f, "pop3", "127.0.0.1", "alice", 10, c), 5);

	/* QUIT: logout, then close */
	conn_close(c[0]);
	assert_int_equal(fill(f, "pop3", "127.0.0.1", "alice", 10, &c[0]), 1);
	/* a close that never saw logout still gives the slot back */
	conn_close_without_logout(c[1]);
	assert_int_equal(fill(f, "pop3", "127.0.0.1", "alice", 10, &c[1]), 1);
	/* logout alone (a later hook refused the login): at once */
	conn_logout(c[2]);
	assert_int_equal(fill(f, "pop3", "127.0.0.1", "alice", 10, g), 1);
	/* ... and the connection that stayed open logs in again later */
	conn_close(g[0]);
	assert_int_equal(conn_login(c[2], "alice"), POSTA_HOOK_CONTINUE);
	assert_int_equal(fill(f, "pop3", "127.0.0.1", "alice", 10, NULL), 0);

	/* a second login_ok on a session replaces the first slot */
	ref.text = NULL;
	assert_int_equal(f->hooks->login_ok(f->hook_state,
	    (struct posta_conn *)c[3], "alice", &ref), POSTA_HOOK_CONTINUE);
	assert_int_equal(fill(f, "pop3", "127.0.0.1", "alice", 10, NULL), 0);

	/* all gone: cap-many again, exactly */
	conn_close(c[0]);
	conn_close(c[1]);
	conn_close(c[2]);
	conn_close(c[3]);
	conn_close(c[4]);
	assert_int_equal(log_count(f, "limit.count_mismatch"), 0);
	assert_int_equal(fill(f, "pop3", "127.0.0.1", "alice", 10, NULL), 5);

	/* a refused login holds nothing */
	x = conn_open(f, "imap", "imap", "127.0.0.9");
	set_int(f->set2, "max_userip_connections imap", 1);
	reload(f);
	assert_int_equal(conn_login(x, "bob"), POSTA_HOOK_CONTINUE);
	x = conn_open(f, "imap", "imap", "127.0.0.9");
	assert_int_equal(conn_login(x, "bob"), POSTA_HOOK_REFUSE);
	conn_close(x);
	assert_int_equal(log_count(f, "limit.count_mismatch"), 0);
}

static void
test_ipv6_per_address_or_prefix(void **state)
{
	struct fixture *f = *state;
	struct fake_conn *c;

	set_int(f->set, "max_userip_connections imap", 2);
	set_int(f->set2, "max_userip_connections imap", 2);
	start(f);
	/* default: every address on its own */
	assert_int_equal(fill(f, "imap", "2001:db8::1", "alice", 5, NULL), 2);
	assert_int_equal(fill(f, "imap", "2001:db8::2", "alice", 5, NULL), 2);
	assert_string_equal(f->conns[f->n_conns - 1]->ref.text,
	    "Too many IMAP sessions for this user from this address "
	    "(limit 2)");

	/* per /64: a new generation counts the whole prefix as one */
	set_int(f->set2, "ipv6_prefix", 64);
	reload(f);
	assert_int_equal(fill(f, "imap", "2001:db8::3", "alice", 5, NULL), 2);
	c = conn_open(f, "imap", "imap", "2001:db8::4");
	assert_int_equal(conn_login(c, "alice"), POSTA_HOOK_REFUSE);
	assert_string_equal(c->ref.text, "Too many IMAP sessions for this "
	    "user from this network (limit 2)");
	assert_log_has(log_last(f), "network=2001:db8::/64 count=2 limit=2");
	assert_int_equal(fill(f, "imap", "2001:db8:0:1::1", "alice", 5, NULL),
	    2);
	/* IPv4 is never cut */
	assert_int_equal(fill(f, "imap", "192.0.2.1", "alice", 5, NULL), 2);
	assert_int_equal(fill(f, "imap", "192.0.2.2", "alice", 5, NULL), 2);

	/* sessions keyed under the old prefix release exactly */
	{
		size_t i;

		for (i = 0; i < f->n_conns; i++)
			if (f->conns[i]->open)
				conn_close(f->conns[i]);
	}
	assert_int_equal(log_count(f, "limit.count_mismatch"), 0);
	assert_int_equal(fill(f, "imap", "2001:db8::1", "alice", 5, NULL), 2);
}

static void
test_v4_mapped_is_v4(void **state)
{
	struct fixture *f = *state;
	struct fake_conn *c;

	set_int(f->set, "max_userip_connections imap", 1);
	start(f);
	assert_int_equal(fill(f, "imap", "127.0.0.1", "alice", 5, NULL), 1);
	c = conn_open(f, "imap", "imap", "::ffff:127.0.0.1");
	assert_int_equal(conn_login(c, "alice"), POSTA_HOOK_REFUSE);
	assert_log_has(log_last(f), "user=alice count=1 limit=1");
}

static void
test_smtp_uncapped_by_default(void **state)
{
	struct fixture *f = *state;
	struct fake_conn *c[100];
	int i;

	start(f);
	for (i = 0; i < 100; i++) {
		c[i] = conn_open(f, i % 2 ? "submission" : "smtps",
		    i % 2 ? "submission" : "smtps", "127.0.0.1");
		assert_int_equal(conn_login(c[i], "alice"),
		    POSTA_HOOK_CONTINUE);
	}
	/* counted all along, so a cap set by reload is exact at once */
	set_int(f->set2, "max_userip_connections smtp", 2);
	reload(f);
	assert_int_equal(fill(f, "submission", "127.0.0.1", "alice", 5, NULL),
	    0);
	assert_string_equal(f->conns[f->n_conns - 1]->ref.text,
	    "Too many SMTP sessions for this user from this address "
	    "(limit 2)");
	for (i = 0; i < 99; i++)
		conn_close(c[i]);
	assert_int_equal(fill(f, "smtps", "127.0.0.1", "alice", 5, NULL), 1);
	/* a protocol without a setting has no cap */
	assert_int_equal(fill(f, "sieve", "127.0.0.1", "alice", 50, NULL),
	    50);
}

/* ---- connections before login ---- */

static void
test_prelogin_caps(void **state)
{
	struct fixture *f = *state;
	struct fake_conn *a[3], *c;
	int i;

	set_int(f->set, "max_connections_per_ip", 3);
	set_int(f->set, "max_connections", 5);
	start(f);
	for (i = 0; i < 3; i++) {
		a[i] = conn_open(f, "imap", "imap", "192.0.2.1");
		assert_int_equal(a[i]->connect_v, POSTA_HOOK_CONTINUE);
	}
	c = conn_open(f, "imap", "imap", "192.0.2.1");
	assert_int_equal(c->connect_v, POSTA_HOOK_REFUSE);
	assert_int_equal(c->ref.code, POSTA_REFUSE_CONN_LIMIT);
	assert_null(c->data);
	assert_log_has(log_last(f), "event=limit.refused "
	    "reason=connections_per_ip protocol=imap count=3 limit=3");
	/* the core closes it: close with nothing held */
	conn_close(c);

	/* per service: imaps, pop3 are other services */
	c = conn_open(f, "imap", "imaps", "192.0.2.1");
	assert_int_equal(c->connect_v, POSTA_HOOK_CONTINUE);
	/* closing without a login gives the slot back */
	conn_close(a[0]);
	a[0] = conn_open(f, "imap", "imap", "192.0.2.1");
	assert_int_equal(a[0]->connect_v, POSTA_HOOK_CONTINUE);

	/* five open: the global cap refuses anyone */
	c = conn_open(f, "pop3", "pop3", "192.0.2.2");
	assert_int_equal(c->connect_v, POSTA_HOOK_CONTINUE);
	c = conn_open(f, "pop3", "pop3", "192.0.2.3");
	assert_int_equal(c->connect_v, POSTA_HOOK_REFUSE);
	assert_int_equal(c->ref.code, POSTA_REFUSE_CONN_LIMIT);
	assert_log_has(log_last(f), "reason=connections protocol=pop3 "
	    "count=5 limit=5");
	conn_close(c);
	conn_close(a[1]);
	c = conn_open(f, "pop3", "pop3", "192.0.2.3");
	assert_int_equal(c->connect_v, POSTA_HOOK_CONTINUE);
	assert_int_equal(log_count(f, "limit.count_mismatch"), 0);
}

static void
test_prelogin_slot_follows_login(void **state)
{
	struct fixture *f = *state;
	struct fake_conn *a, *b, *c, *d;

	set_int(f->set, "max_connections_per_ip", 2);
	start(f);
	a = conn_open(f, "imap", "imap", "192.0.2.1");
	b = conn_open(f, "imap", "imap", "192.0.2.1");
	c = conn_open(f, "imap", "imap", "192.0.2.1");
	assert_int_equal(c->connect_v, POSTA_HOOK_REFUSE);
	conn_close(c);
	/* a logged-in session no longer counts as a bare connection */
	assert_int_equal(conn_login(a, "alice"), POSTA_HOOK_CONTINUE);
	c = conn_open(f, "imap", "imap", "192.0.2.1");
	assert_int_equal(c->connect_v, POSTA_HOOK_CONTINUE);
	d = conn_open(f, "imap", "imap", "192.0.2.1");
	assert_int_equal(d->connect_v, POSTA_HOOK_REFUSE);
	conn_close(d);
	/* logged out but still open: bare again, over the cap for now */
	conn_logout(a);
	conn_close(b);
	d = conn_open(f, "imap", "imap", "192.0.2.1");
	assert_int_equal(d->connect_v, POSTA_HOOK_REFUSE);
	conn_close(d);
	conn_close(a);
	d = conn_open(f, "imap", "imap", "192.0.2.1");
	assert_int_equal(d->connect_v, POSTA_HOOK_CONTINUE);
	assert_int_equal(log_count(f, "limit.count_mismatch"), 0);
}

/* ---- trusted networks ---- */

static void
test_trusted_networks_exempt(void **state)
{
	struct fixture *f = *state;
	struct fake_conn *c;
	bool pended;
	int i;

	set_list(f->set, f->list_items, "trusted_networks", 2, "127.0.0.0/8",
	    "::1");
	set_int(f->set, "max_connections_per_ip", 1);
	set_int(f->set, "max_connections", 4);
	set_int(f->set, "max_userip_connections imap", 1);
	set_int(f->set, "auth_fail_delay_after", 1);
	set_int(f->set, "auth_fail_block_after", 2);
	start(f);
	for (i = 0; i < 3; i++) {
		c = conn_open(f, "imap", "imap", "127.0.0.5");
		assert_int_equal(c->connect_v, POSTA_HOOK_CONTINUE);
		assert_int_equal(conn_fail(c, "alice", &pended),
		    POSTA_HOOK_CONTINUE);
		assert_false(pended);
		assert_int_equal(conn_fail(c, "alice", &pended),
		    POSTA_HOOK_CONTINUE);
		assert_false(pended);
		assert_int_equal(conn_login(c, "alice"), POSTA_HOOK_CONTINUE);
	}
	c = conn_open(f, "imap", "imap", "::1");
	assert_int_equal(conn_login(c, "alice"), POSTA_HOOK_CONTINUE);
	/* bare connections past both connection caps */
	for (i = 0; i < 2; i++) {
		c = conn_open(f, "imap", "imap", "127.0.0.6");
		assert_int_equal(c->connect_v, POSTA_HOOK_CONTINUE);
	}
	assert_int_equal(log_count(f, "limit.refused"), 0);
	assert_int_equal(log_count(f, "limit.blocked"), 0);
	/* trusted connections are load like any other */
	c = conn_open(f, "imap", "imap", "192.0.2.1");
	assert_int_equal(c->connect_v, POSTA_HOOK_REFUSE);

	/* trust revoked by a reload: the same clients are capped again */
	set_int(f->set2, "max_connections", 0);
	set_int(f->set2, "max_connections_per_ip", 1);
	set_int(f->set2, "max_userip_connections imap", 1);
	reload(f);
	c = conn_open(f, "imap", "imap", "127.0.0.6");
	assert_int_equal(c->connect_v, POSTA_HOOK_REFUSE);
	assert_log_has(log_last(f), "reason=connections_per_ip protocol=imap "
	    "count=2 limit=1");
	c = conn_open(f, "imap", "imap", "127.0.0.5");
	assert_int_equal(c->connect_v, POSTA_HOOK_CONTINUE);
	assert_int_equal(conn_login(c, "alice"), POSTA_HOOK_REFUSE);
	assert_log_has(log_last(f), "count=3 limit=1");
}

/* ---- throttling ---- */

static void
test_throttle_slows_then_blocks(void **state)
{
	struct fixture *f = *state;
	struct fake_conn *c, *good;
	uint64_t before;
	bool pended;
	int i;

	set_int(f->set, "auth_fail_delay_after", 3);
	set_ms(f->set, "auth_fail_max_delay", 20);
	set_int(f->set, "auth_fail_block_after", 6);
	start(f);
	c = conn_open(f, "imap", "imap", "203.0.113.5");
	for (i = 0; i < 3; i++) {
		assert_int_equal(conn_fail(c, "alice", &pended),
		    POSTA_HOOK_CONTINUE);
		assert_false(pended);
	}
	/* from the fourth attempt on each waits before the check */
	for (i = 3; i < 6; i++) {
		uv_update_time(&f->loop);
		before = uv_now(&f->loop);
		assert_int_equal(conn_fail(c, "alice", &pended),
		    POSTA_HOOK_CONTINUE);
		assert_true(pended);
		assert_true(uv_now(&f->loop) >= before + 20);
		assert_log_has(f->logs[(f->n_logs - 1 - (i == 5)) % MAX_LOGS],
		    "event=limit.delay delay_ms=20");
	}
	/* the sixth failure started a block */
	assert_int_equal(log_count(f, "limit.blocked"), 1);
	assert_log_has(log_last(f), "event=limit.blocked failures=6 "
	    "block_ms=600000");
	assert_int_equal(conn_fail(c, "mallory x", &pended), POSTA_HOOK_REFUSE);
	assert_false(pended);
	assert_int_equal(c->ref.code, POSTA_REFUSE_THROTTLED);
	assert_string_equal(c->ref.text,
	    "Too many failed logins from this address, try again later");
	assert_log_has(log_last(f), "reason=throttled protocol=imap "
	    "user=\"mallory x\" count=6 limit=6");
	/* a fresh connection from the same address too */
	c = conn_open(f, "pop3", "pop3", "203.0.113.5");
	assert_int_equal(conn_login(c, "alice"), POSTA_HOOK_REFUSE);
	assert_int_equal(c->ref.code, POSTA_REFUSE_THROTTLED);

	/* another address logs in at full speed, and successes never slow */
	for (i = 0; i < 10; i++) {
		good = conn_open(f, "imap", "imap", "203.0.113.6");
		assert_int_equal(conn_attempt(good, "alice", &pended),
		    POSTA_HOOK_CONTINUE);
		assert_false(pended);
		assert_int_equal(conn_login(good, "alice"),
		    POSTA_HOOK_CONTINUE);
	}
}

static void
test_throttle_ipv6_prefix(void **state)
{
	struct fixture *f = *state;
	struct fake_conn *c;
	bool pended;
	int i;

	set_int(f->set, "auth_fail_delay_after", 0);
	set_int(f->set, "auth_fail_block_after", 3);
	start(f);
	c = conn_open(f, "imap", "imap", "2001:db8:9::1");
	for (i = 0; i < 3; i++) {
		assert_int_equal(conn_fail(c, "alice", &pended),
		    POSTA_HOOK_CONTINUE);
		assert_false(pended);
	}
	assert_log_has(log_last(f), "event=limit.blocked "
	    "network=2001:db8:9::/64 failures=3");
	/* the whole /64 is one client for failures */
	c = conn_open(f, "imap", "imap", "2001:db8:9::ffff");
	assert_int_equal(conn_attempt(c, "alice", NULL), POSTA_HOOK_REFUSE);
	assert_log_has(log_last(f), "network=2001:db8:9::/64 count=3 "
	    "limit=3");
	c = conn_open(f, "imap", "imap", "2001:db8:a::1");
	assert_int_equal(conn_attempt(c, "alice", NULL), POSTA_HOOK_CONTINUE);

	/* trusting the network after the fact lets it in at once */
	set_list(f->set2, f->list_items, "trusted_networks", 1,
	    "2001:db8::/32");
	reload(f);
	c = conn_open(f, "imap", "imap", "2001:db8:9::1");
	assert_int_equal(conn_attempt(c, "alice", NULL), POSTA_HOOK_CONTINUE);
}

static void
test_pending_refused_if_block_arrives(void **state)
{
	struct fixture *f = *state;
	struct posta_hook_refusal ref = { POSTA_REFUSE_OTHER, NULL };
	struct fake_conn *x, *y;

	set_int(f->set, "auth_fail_delay_after", 1);
	set_ms(f->set, "auth_fail_max_delay", 30);
	set_int(f->set, "auth_fail_block_after", 3);
	start(f);
	x = conn_open(f, "imap", "imap", "198.51.100.7");
	y = conn_open(f, "imap", "imap", "198.51.100.7");
	assert_int_equal(conn_fail(x, "alice", NULL), POSTA_HOOK_CONTINUE);
	assert_int_equal(conn_fail(x, "alice", NULL), POSTA_HOOK_CONTINUE);
	/* x waits; meanwhile y's failure starts a block */
	x->done_calls = 0;
	assert_int_equal(f->hooks->login_attempt(f->hook_state,
	    (struct posta_conn *)x, "alice", conn_done, x, &ref),
	    POSTA_HOOK_PENDING);
	f->hooks->login_result(f->hook_state, (struct posta_conn *)y,
	    "alice", false);
	assert_int_equal(log_count(f, "limit.blocked"), 1);
	conn_wait_done(x);
	assert_int_equal(x->done_v, POSTA_HOOK_REFUSE);
	assert_int_equal(x->ref.code, POSTA_REFUSE_THROTTLED);
	assert_log_has(log_last(f), "reason=throttled protocol=imap "
	    "user=alice count=3 limit=3");
}

static void
test_pending_then_close_cancels(void **state)
{
	struct fixture *f = *state;
	struct posta_hook_refusal ref = { POSTA_REFUSE_OTHER, NULL };
	struct fake_conn *x, *y;

	/* a timer left running would fire 1s later and call done */
	set_int(f->set, "auth_fail_delay_after", 1);
	start(f);
	x = conn_open(f, "imap", "imap", "198.51.100.8");
	y = conn_open(f, "imap", "imap", "198.51.100.8");
	assert_int_equal(conn_fail(x, "alice", NULL), POSTA_HOOK_CONTINUE);
	x->done_calls = 0;
	y->done_calls = 0;
	assert_int_equal(f->hooks->login_attempt(f->hook_state,
	    (struct posta_conn *)x, "alice", conn_done, x, &ref),
	    POSTA_HOOK_PENDING);
	assert_int_equal(f->hooks->login_attempt(f->hook_state,
	    (struct posta_conn *)y, "alice", conn_done, y, &ref),
	    POSTA_HOOK_PENDING);
	/* a second attempt while one is pending is the core's bug: refused */
	assert_int_equal(f->hooks->login_attempt(f->hook_state,
	    (struct posta_conn *)y, "alice", conn_done, y, &ref),
	    POSTA_HOOK_REFUSE);
	conn_close(x);
	conn_close(y);
	/* both timers are gone: the loop ends at once, done never ran */
	assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(x->done_calls, 0);
	assert_int_equal(y->done_calls, 0);
	assert_false(uv_loop_alive(&f->loop));
}

/* ---- reload ---- */

static void
test_reload_applies_to_new_logins(void **state)
{
	struct fixture *f = *state;
	struct fake_conn *c[3], *x;
	const char *error = NULL;
	int i;

	start(f);
	assert_int_equal(fill(f, "imap", "127.0.0.1", "alice", 3, c), 3);
	set_int(f->set2, "max_userip_connections imap", 2);
	reload(f);
	/* the three stay; a new one waits until fewer than two are left */
	for (i = 0; i < 3; i++)
		assert_true(c[i]->logged_in && c[i]->data != NULL);
	x = conn_open(f, "imap", "imap", "127.0.0.1");
	assert_int_equal(conn_login(x, "alice"), POSTA_HOOK_REFUSE);
	assert_log_has(log_last(f), "count=3 limit=2");
	conn_close(c[0]);
	assert_int_equal(conn_login(x, "alice"), POSTA_HOOK_REFUSE);
	conn_close(c[1]);
	assert_int_equal(conn_login(x, "alice"), POSTA_HOOK_CONTINUE);

	/* a bad generation is refused whole; the running one stays */
	set_int(f->set, "max_userip_connections imap", 100);
	set_list(f->set, f->list_items, "trusted_networks", 1, "127.0.0.1/8");
	assert_int_equal(posta_module.reload(f->state, f->set, &error),
	    POSTA_ECONFIG);
	assert_non_null(strstr(error, "\"127.0.0.1/8\""));
	x = conn_open(f, "imap", "imap", "127.0.0.1");
	assert_int_equal(conn_login(x, "alice"), POSTA_HOOK_REFUSE);

	/* trusting the address lifts the cap for new logins */
	set_int(f->set, "max_userip_connections imap", 2);
	set_list(f->set, f->list_items, "trusted_networks", 1,
	    "127.0.0.0/8");
	assert_int_equal(posta_module.reload(f->state, f->set, &error), 0);
	assert_int_equal(conn_login(x, "alice"), POSTA_HOOK_CONTINUE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_descriptor_and_table),
		cmocka_unit_test(test_conf_snippet_matches_table),
		cmocka_unit_test_setup_teardown(
		    test_init_rejects_bad_trusted_networks, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_init_fails_when_registration_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_imap_cap_25, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_pop3_cap_5, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_every_end_releases, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_ipv6_per_address_or_prefix,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_v4_mapped_is_v4, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_smtp_uncapped_by_default,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_prelogin_caps, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_prelogin_slot_follows_login, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trusted_networks_exempt,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_throttle_slows_then_blocks,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_throttle_ipv6_prefix,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_pending_refused_if_block_arrives, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_pending_then_close_cancels, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_reload_applies_to_new_logins, setup, teardown),
	};

	return cmocka_run_group_tests_name("limiter", tests, NULL, NULL);
}
