/* limiter.c: session hooks for session caps, connection caps, throttling */
#include "config.h"

#include <stddef.h>
#include <sys/random.h>

#include <posta/posta.h>

#include "limiter_table.h"

/*
 * What is counted, and when:
 *
 *  - every connection, from connect to close, against max_connections;
 *  - a connection that has not logged in, per (client, service), against
 *    max_connections_per_ip: taken at connect, handed back when a login
 *    succeeds (a session is then counted per user instead, so a NAT with
 *    many users is not mistaken for a flood) and taken again, without a
 *    cap, at logout; close gives back whatever is still held;
 *  - a logged-in session per (account, client, protocol family) against
 *    max_userip_connections: taken at login_ok, given back at logout or,
 *    failing that, at close.
 *
 * "client" is the address, IPv6 cut to ipv6_prefix bits.  Every key a
 * connection took is kept with it and given back byte for byte, so a
 * reload that changes ipv6_prefix cannot make a release miss.  Trusted
 * clients are counted like everyone else (a reload may revoke the trust)
 * but never refused, and their login failures are not recorded.
 */

struct limiter_settings {
	int64_t userip_imap;
	int64_t userip_pop3;
	int64_t userip_smtp;
	int64_t ipv6_prefix;
	int64_t max_connections_per_ip;
	int64_t max_connections;
	int64_t auth_fail_delay_after;
	uint64_t auth_fail_max_delay_ms;
	int64_t auth_fail_block_after;
	uint64_t auth_fail_block_time_ms;
	uint64_t auth_fail_decay_ms;
	int64_t auth_fail_ipv6_prefix;
	struct posta_list trusted_networks;
};

/* a sweep of forgotten failure scores at most this often */
#define LIMITER_SWEEP_INTERVAL_MS (60 * 1000)

struct limiter {
	struct posta_host *host;
	uv_loop_t *loop;
	const struct limiter_settings *set;	/* valid until reload */
	struct limiter_nets trusted;
	struct limiter_fail_policy fail_policy;
	struct limiter_table *userip;	/* (account, client, family) */
	struct limiter_table *prelogin;	/* (client, service) */
	struct limiter_table *fails;	/* client network -> score */
	uint64_t n_conns;		/* connect to close, all of them */
	uint64_t last_sweep_ms;
};

struct limiter_conn;

/*
 * A PENDING login_attempt.  Allocated apart from its connection because
 * libuv frees a handle only in its close callback, which may run after the
 * connection is gone: lc is NULL from then on and done is never called.
 */
struct limiter_delay {
	uv_timer_t timer;
	struct limiter_conn *lc;
	posta_hook_done_cb *done;
	void *done_ctx;
	char *user;	/* for the log line; may be NULL */
};

struct limiter_conn {
	struct limiter *lim;
	struct posta_conn *conn;
	struct limiter_addr addr;	/* as connected, unmasked */
	bool counted;			/* holds one of lim->n_conns */
	struct limiter_key prelogin_key; /* set while holding that slot */
	struct limiter_key userip_key;	/* set while logged in */
	struct limiter_delay *delay;	/* a PENDING login_attempt */
	char text[160];			/* refusal text, until close */
};

/*
 * init's error text must outlive a failed init, which leaves no state to
 * hold it; one per thread keeps it safe should several loops ever load us.
 */
static __thread char limiter_error[256];

static const char *const text_busy =
	"Server temporarily out of resources, try again later";
static const char *const text_conns =
	"Too many connections, try again later";
static const char *const text_conns_ip =
	"Too many connections from this address, try again later";

/* ---- helpers ---- */

static bool
limiter_is_trusted(const struct limiter *lim, const struct limiter_addr *a)
{
	return limiter_nets_match(&lim->trusted, a);
}

static uint32_t
limiter_clamp(int64_t v)
{
	if (v <= 0)
		return 0;
	return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

/* The addr masked with prefix, and true when that hides bits. */
static bool
limiter_masked(const struct limiter_addr *a, int64_t prefix,
    struct limiter_addr *masked_r)
{
	*masked_r = *a;
	limiter_addr_mask(masked_r, (unsigned)prefix);
	return a->family == AF_INET6 && prefix < 128;
}

static const char *
limiter_str(const char *s)
{
	return s != NULL ? s : "";
}

static void
limiter_fail_policy_from(struct limiter_fail_policy *p,
    const struct limiter_settings *set)
{
	p->delay_after = limiter_clamp(set->auth_fail_delay_after);
	p->max_delay_ms = set->auth_fail_max_delay_ms;
	p->block_after = limiter_clamp(set->auth_fail_block_after);
	p->block_ms = set->auth_fail_block_time_ms;
	p->half_life_ms = set->auth_fail_decay_ms;
}

static struct limiter_conn *
limiter_conn_new(struct limiter *lim, struct posta_conn *conn)
{
	struct limiter_conn *lc = calloc(1, sizeof(*lc));

	if (lc == NULL)
		return NULL;
	lc->lim = lim;
	lc->conn = conn;
	limiter_addr_from_sockaddr(posta_conn_remote_addr(conn), &lc->addr);
	posta_conn_set_data(conn, lim->host, lc);
	return lc;
}

/* The connection's state; made on demand if connect never ran for us. */
static struct limiter_conn *
limiter_conn_get(struct limiter *lim, struct posta_conn *conn)
{
	struct limiter_conn *lc = posta_conn_get_data(conn, lim->host);

	return lc != NULL ? lc : limiter_conn_new(lim, conn);
}

/* Gives back the slot key holds in t, if any, and forgets the key. */
static void
limiter_release(struct posta_conn *conn, struct limiter_table *t,
    struct limiter_key *key)
{
	if (key->bytes == NULL)
		return;
	if (limiter_count_release(t, key) < 0)
		posta_conn_log(conn, POSTA_LOG_WARN, "limit.count_mismatch",
		    "detail=\"released a slot that was not held\"");
	limiter_key_free(key);
}

static int
limiter_prelogin_key(struct limiter *lim, struct limiter_conn *lc,
    struct limiter_key *key_r)
{
	struct limiter_addr masked;

	limiter_masked(&lc->addr, lim->set->ipv6_prefix, &masked);
	return limiter_key_new('P', &masked,
	    limiter_str(posta_conn_service(lc->conn)), NULL, key_r);
}

static int
limiter_fail_key(struct limiter *lim, const struct limiter_conn *lc,
    struct limiter_key *key_r, char *net, size_t net_size)
{
	struct limiter_addr masked;
	bool cut;

	cut = limiter_masked(&lc->addr, lim->set->auth_fail_ipv6_prefix,
	    &masked);
	net[0] = '\0';
	if (cut)
		limiter_addr_format(&masked,
		    (unsigned)lim->set->auth_fail_ipv6_prefix, net, net_size);
	return limiter_key_new('F', &masked, NULL, NULL, key_r);
}

/* "network=2001:db8::/64 " when counting by prefix, else "" */
static const char *
limiter_net_field(char *buf, size_t size, const char *net)
{
	if (net[0] == '\0')
		return "";
	snprintf(buf, size, "network=%s ", net);
	return buf;
}

static uint32_t
limiter_userip_cap(const struct limiter_settings *set, const char *family)
{
	if (strcmp(family, "imap") == 0)
		return limiter_clamp(set->userip_imap);
	if (strcmp(family, "pop3") == 0)
		return limiter_clamp(set->userip_pop3);
	if (strcmp(family, "smtp") == 0)
		return limiter_clamp(set->userip_smtp);
	return 0;
}

static void
limiter_upper(char *dst, size_t size, const char *s)
{
	size_t i;

	for (i = 0; i + 1 < size && s[i] != '\0'; i++)
		dst[i] = (s[i] >= 'a' && s[i] <= 'z') ?
		    (char)(s[i] - ('a' - 'A')) : s[i];
	dst[i] = '\0';
}

/* ---- connect ---- */

static enum posta_hook_verdict
limiter_refuse_connect(struct limiter_conn *lc, struct posta_conn *conn,
    const char *reason, uint64_t count, uint64_t limit,
    enum posta_refusal code, const char *text,
    struct posta_hook_refusal *refusal_r)
{
	posta_conn_log(conn, POSTA_LOG_INFO, "limit.refused",
	    "reason=%s protocol=%s count=%llu limit=%llu", reason,
	    limiter_str(posta_conn_protocol(conn)), (unsigned long long)count,
	    (unsigned long long)limit);
	posta_conn_set_data(conn, lc->lim->host, NULL);
	limiter_key_free(&lc->prelogin_key);
	free(lc);
	refusal_r->code = code;
	refusal_r->text = text;
	return POSTA_HOOK_REFUSE;
}

static enum posta_hook_verdict
limiter_on_connect(void *state, struct posta_conn *conn,
    struct posta_hook_refusal *refusal_r)
{
	struct limiter *lim = state;
	const struct limiter_settings *set = lim->set;
	struct limiter_conn *lc = limiter_conn_new(lim, conn);
	uint32_t count;
	bool trusted;
	int ret;

	if (lc == NULL) {
		refusal_r->code = POSTA_REFUSE_OTHER;
		refusal_r->text = text_busy;
		return POSTA_HOOK_REFUSE;
	}
	trusted = limiter_is_trusted(lim, &lc->addr);
	if (!trusted && set->max_connections > 0 &&
	    lim->n_conns >= (uint64_t)set->max_connections)
		return limiter_refuse_connect(lc, conn, "connections",
		    lim->n_conns, (uint64_t)set->max_connections,
		    POSTA_REFUSE_CONN_LIMIT, text_conns, refusal_r);
	if (limiter_prelogin_key(lim, lc, &lc->prelogin_key) < 0)
		return limiter_refuse_connect(lc, conn, "nomem", 0, 0,
		    POSTA_REFUSE_OTHER, text_busy, refusal_r);
	ret = limiter_count_take(lim->prelogin, &lc->prelogin_key,
	    trusted ? 0 : limiter_clamp(set->max_connections_per_ip), false,
	    &count);
	if (ret == 0)
		return limiter_refuse_connect(lc, conn, "connections_per_ip",
		    count, limiter_clamp(set->max_connections_per_ip),
		    POSTA_REFUSE_CONN_LIMIT, text_conns_ip, refusal_r);
	if (ret < 0)
		return limiter_refuse_connect(lc, conn, "nomem", 0, 0,
		    POSTA_REFUSE_OTHER, text_busy, refusal_r);
	lim->n_conns++;
	lc->counted = true;
	return POSTA_HOOK_CONTINUE;
}

/* ---- login_attempt: throttling ---- */

static void
limiter_delay_free(uv_handle_t *handle)
{
	struct limiter_delay *d = handle->data;

	free(d->user);
	free(d);
}

static void
limiter_log_throttled(struct limiter_conn *lc, const char *user,
    double score, const char *net)
{
	char quser[128], netf[80];

	posta_conn_log(lc->conn, POSTA_LOG_INFO, "limit.refused",
	    "reason=throttled protocol=%s user=%s %scount=%.0f limit=%u",
	    limiter_str(posta_conn_protocol(lc->conn)),
	    posta_log_quote(quser, sizeof(quser), limiter_str(user)),
	    limiter_net_field(netf, sizeof(netf), net), score,
	    (unsigned)lc->lim->fail_policy.block_after);
}

static const char text_throttled[] =
	"Too many failed logins from this address, try again later";

static void
limiter_delay_fire(uv_timer_t *timer)
{
	struct limiter_delay *d = timer->data;
	struct limiter_conn *lc = d->lc;
	struct limiter *lim = lc->lim;
	posta_hook_done_cb *done = d->done;
	void *done_ctx = d->done_ctx;
	struct posta_hook_refusal refusal = {
		POSTA_REFUSE_THROTTLED, text_throttled
	};
	enum posta_hook_verdict v = POSTA_HOOK_CONTINUE;
	struct limiter_key key;
	char net[64];
	double score;

	lc->delay = NULL;
	d->lc = NULL;
	uv_close((uv_handle_t *)&d->timer, limiter_delay_free);

	/* other connections from the network may have earned a block since */
	if (!limiter_is_trusted(lim, &lc->addr) &&
	    limiter_fail_key(lim, lc, &key, net, sizeof(net)) == 0) {
		if (limiter_fail_check(lim->fails, &key, &lim->fail_policy,
		    uv_now(lim->loop), NULL, &score) ==
		    LIMITER_FAIL_BLOCKED) {
			limiter_log_throttled(lc, d->user, score, net);
			v = POSTA_HOOK_REFUSE;
		}
		limiter_key_free(&key);
	}
	/* last: done() may end the session, and lc with it */
	done(done_ctx, v, v == POSTA_HOOK_REFUSE ? &refusal : NULL);
}

static enum posta_hook_verdict
limiter_on_login_attempt(void *state, struct posta_conn *conn,
    const char *user, posta_hook_done_cb *done, void *done_ctx,
    struct posta_hook_refusal *refusal_r)
{
	struct limiter *lim = state;
	struct limiter_conn *lc = limiter_conn_get(lim, conn);
	enum limiter_fail_verdict fv;
	struct limiter_delay *d;
	struct limiter_key key;
	uint64_t delay_ms;
	double score;
	char net[64];

	if (lc == NULL || lc->delay != NULL) {
		/* out of memory, or the core broke one-attempt-at-a-time */
		refusal_r->code = POSTA_REFUSE_OTHER;
		refusal_r->text = text_busy;
		return POSTA_HOOK_REFUSE;
	}
	if (limiter_is_trusted(lim, &lc->addr))
		return POSTA_HOOK_CONTINUE;
	if (limiter_fail_key(lim, lc, &key, net, sizeof(net)) < 0) {
		refusal_r->code = POSTA_REFUSE_OTHER;
		refusal_r->text = text_busy;
		return POSTA_HOOK_REFUSE;
	}
	fv = limiter_fail_check(lim->fails, &key, &lim->fail_policy,
	    uv_now(lim->loop), &delay_ms, &score);
	limiter_key_free(&key);

	if (fv == LIMITER_FAIL_BLOCKED) {
		limiter_log_throttled(lc, user, score, net);
		refusal_r->code = POSTA_REFUSE_THROTTLED;
		refusal_r->text = text_throttled;
		return POSTA_HOOK_REFUSE;
	}
	if (fv == LIMITER_FAIL_OK)
		return POSTA_HOOK_CONTINUE;

	d = calloc(1, sizeof(*d));
	if (d == NULL || uv_timer_init(lim->loop, &d->timer) != 0) {
		free(d);
		refusal_r->code = POSTA_REFUSE_OTHER;
		refusal_r->text = text_busy;
		return POSTA_HOOK_REFUSE;
	}
	d->timer.data = d;
	d->lc = lc;
	d->done = done;
	d->done_ctx = done_ctx;
	d->user = user != NULL ? strndup(user, 255) : NULL;
	/* cannot fail on an initialised timer with a callback */
	uv_timer_start(&d->timer, limiter_delay_fire, delay_ms, 0);
	lc->delay = d;
	posta_conn_log(conn, POSTA_LOG_DEBUG, "limit.delay",
	    "delay_ms=%llu failures=%.0f", (unsigned long long)delay_ms,
	    score);
	return POSTA_HOOK_PENDING;
}

/* ---- login_result: failure scores ---- */

static void
limiter_on_login_result(void *state, struct posta_conn *conn,
    const char *user, bool ok)
{
	struct limiter *lim = state;
	struct limiter_conn *lc;
	struct limiter_key key;
	uint64_t now;
	double score;
	char net[64], netf[80];
	int ret;

	/* a success leaves the score alone: see limiter_table.h */
	if (ok)
		return;
	lc = limiter_conn_get(lim, conn);
	if (lc == NULL || limiter_is_trusted(lim, &lc->addr))
		return;
	if (limiter_fail_key(lim, lc, &key, net, sizeof(net)) < 0)
		return;
	now = uv_now(lim->loop);
	ret = limiter_fail_record(lim->fails, &key, &lim->fail_policy, now,
	    &score);
	limiter_key_free(&key);
	if (ret == 1)
		posta_conn_log(conn, POSTA_LOG_INFO, "limit.blocked",
		    "%sfailures=%.0f block_ms=%llu",
		    limiter_net_field(netf, sizeof(netf), net), score,
		    (unsigned long long)lim->fail_policy.block_ms);
	if (now - lim->last_sweep_ms >= LIMITER_SWEEP_INTERVAL_MS) {
		limiter_fail_sweep(lim->fails, &lim->fail_policy, now);
		lim->last_sweep_ms = now;
	}
}

/* ---- login_ok and logout: per-user-per-IP caps ---- */

static enum posta_hook_verdict
limiter_on_login_ok(void *state, struct posta_conn *conn, const char *user,
    struct posta_hook_refusal *refusal_r)
{
	struct limiter *lim = state;
	struct limiter_conn *lc = limiter_conn_get(lim, conn);
	const char *family;
	struct limiter_addr masked;
	struct limiter_key key;
	uint32_t cap, count;
	char quser[128], name[16], net[64], netf[80];
	bool cut;
	int ret;

	if (lc == NULL) {
		refusal_r->code = POSTA_REFUSE_OTHER;
		refusal_r->text = text_busy;
		return POSTA_HOOK_REFUSE;
	}
	/* one login per session; a second one replaces the first */
	limiter_release(conn, lim->userip, &lc->userip_key);

	family = limiter_protocol_family(posta_conn_protocol(conn));
	cap = limiter_is_trusted(lim, &lc->addr) ? 0 :
	    limiter_userip_cap(lim->set, family);
	cut = limiter_masked(&lc->addr, lim->set->ipv6_prefix, &masked);
	if (limiter_key_new('U', &masked, family, limiter_str(user),
	    &key) < 0) {
		refusal_r->code = POSTA_REFUSE_OTHER;
		refusal_r->text = text_busy;
		return POSTA_HOOK_REFUSE;
	}
	ret = limiter_count_take(lim->userip, &key, cap, false, &count);
	if (ret < 0) {
		limiter_key_free(&key);
		refusal_r->code = POSTA_REFUSE_OTHER;
		refusal_r->text = text_busy;
		return POSTA_HOOK_REFUSE;
	}
	if (ret == 0) {
		limiter_key_free(&key);
		net[0] = '\0';
		if (cut)
			limiter_addr_format(&masked,
			    (unsigned)lim->set->ipv6_prefix, net, sizeof(net));
		posta_conn_log(conn, POSTA_LOG_INFO, "limit.refused",
		    "reason=userip protocol=%s user=%s %scount=%u limit=%u",
		    family, posta_log_quote(quser, sizeof(quser),
		    limiter_str(user)),
		    limiter_net_field(netf, sizeof(netf), net), count, cap);
		limiter_upper(name, sizeof(name), family);
		snprintf(lc->text, sizeof(lc->text),
		    "Too many %s sessions for this user from this %s "
		    "(limit %u)", name, cut ? "network" : "address", cap);
		refusal_r->code = POSTA_REFUSE_USERIP_LIMIT;
		refusal_r->text = lc->text;
		return POSTA_HOOK_REFUSE;
	}
	lc->userip_key = key;
	/* a session now, counted per user rather than as a bare connection */
	limiter_release(conn, lim->prelogin, &lc->prelogin_key);
	return POSTA_HOOK_CONTINUE;
}

static void
limiter_on_logout(void *state, struct posta_conn *conn)
{
	struct limiter *lim = state;
	struct limiter_conn *lc = posta_conn_get_data(conn, lim->host);

	if (lc == NULL)
		return;
	limiter_release(conn, lim->userip, &lc->userip_key);
	/*
	 * Logged out but maybe still connected (a later hook refused the
	 * login): count it as a bare connection again, over the cap if need
	 * be, since it is already in.  close() gives it back.
	 */
	if (lc->counted && lc->prelogin_key.bytes == NULL &&
	    limiter_prelogin_key(lim, lc, &lc->prelogin_key) == 0 &&
	    limiter_count_take(lim->prelogin, &lc->prelogin_key, 0, true,
	    NULL) != 1)
		limiter_key_free(&lc->prelogin_key);
}

/* ---- close ---- */

static void
limiter_on_close(void *state, struct posta_conn *conn)
{
	struct limiter *lim = state;
	struct limiter_conn *lc = posta_conn_get_data(conn, lim->host);

	if (lc == NULL)
		return;
	if (lc->delay != NULL) {
		/* the attempt dies with the connection: done() is not called */
		uv_timer_stop(&lc->delay->timer);
		lc->delay->lc = NULL;
		uv_close((uv_handle_t *)&lc->delay->timer, limiter_delay_free);
		lc->delay = NULL;
	}
	limiter_release(conn, lim->userip, &lc->userip_key);
	limiter_release(conn, lim->prelogin, &lc->prelogin_key);
	if (lc->counted)
		lim->n_conns--;
	posta_conn_set_data(conn, lim->host, NULL);
	free(lc);
}

static const struct posta_hooks limiter_hooks = {
	.connect = limiter_on_connect,
	.login_attempt = limiter_on_login_attempt,
	.login_result = limiter_on_login_result,
	.login_ok = limiter_on_login_ok,
	.logout = limiter_on_logout,
	.close = limiter_on_close,
};

/* ---- module ---- */

static int
limiter_parse_trusted(const struct limiter_settings *set,
    struct limiter_nets *nets_r, const char **error_r)
{
	const char *bad = NULL;
	int ret;

	ret = limiter_nets_parse(set->trusted_networks.items,
	    set->trusted_networks.n, nets_r, &bad);
	if (ret == -EINVAL) {
		snprintf(limiter_error, sizeof(limiter_error),
		    "trusted_networks: expected ADDRESS or ADDRESS/PREFIX "
		    "without host bits, got \"%.120s\"", bad);
		*error_r = limiter_error;
		return POSTA_ECONFIG;
	}
	if (ret < 0)
		*error_r = "trusted_networks: out of memory";
	return ret;
}

static void
limiter_free(struct limiter *lim)
{
	limiter_table_free(&lim->userip);
	limiter_table_free(&lim->prelogin);
	limiter_table_free(&lim->fails);
	limiter_nets_deinit(&lim->trusted);
	free(lim);
}

static int
limiter_init(struct posta_host *host, const void *settings, void **state_r,
    const char **error_r)
{
	struct limiter *lim = calloc(1, sizeof(*lim));
	uint8_t seed[16];
	int ret;

	if (lim == NULL) {
		*error_r = "out of memory";
		return -ENOMEM;
	}
	lim->host = host;
	lim->loop = posta_host_loop(host);
	lim->set = settings;
	limiter_fail_policy_from(&lim->fail_policy, lim->set);
	ret = limiter_parse_trusted(lim->set, &lim->trusted, error_r);
	if (ret < 0) {
		free(lim);
		return ret;
	}
	if (getrandom(seed, sizeof(seed), 0) != (ssize_t)sizeof(seed)) {
		ret = errno != 0 ? -errno : -EIO;
		*error_r = "getrandom() failed for the hash seed";
		limiter_free(lim);
		return ret;
	}
	if (limiter_table_new(seed, &lim->userip) < 0 ||
	    limiter_table_new(seed, &lim->prelogin) < 0 ||
	    limiter_table_new(seed, &lim->fails) < 0) {
		*error_r = "out of memory";
		limiter_free(lim);
		return -ENOMEM;
	}
	lim->last_sweep_ms = uv_now(lim->loop);
	ret = posta_host_register_hooks(host, &limiter_hooks, lim);
	if (ret < 0) {
		*error_r = "cannot register session hooks";
		limiter_free(lim);
		return ret;
	}
	*state_r = lim;
	return 0;
}

static int
limiter_reload(void *state, const void *settings, const char **error_r)
{
	struct limiter *lim = state;
	struct limiter_nets nets;
	int ret;

	ret = limiter_parse_trusted(settings, &nets, error_r);
	if (ret < 0)
		return ret;
	limiter_nets_deinit(&lim->trusted);
	lim->trusted = nets;
	lim->set = settings;
	limiter_fail_policy_from(&lim->fail_policy, lim->set);
	return 0;
}

static void
limiter_deinit(void *state)
{
	limiter_free(state);
}

#define LIMITER_SET(name, type, field, min, max, def)			\
	{ name, type, offsetof(struct limiter_settings, field), min,	\
	    max, def, NULL }

static const struct posta_setting limiter_settings_table[] = {
	LIMITER_SET("max_userip_connections imap", POSTA_SET_INT,
	    userip_imap, 0, 100000, "25"),
	LIMITER_SET("max_userip_connections pop3", POSTA_SET_INT,
	    userip_pop3, 0, 100000, "5"),
	LIMITER_SET("max_userip_connections smtp", POSTA_SET_INT,
	    userip_smtp, 0, 100000, "0"),
	LIMITER_SET("ipv6_prefix", POSTA_SET_INT, ipv6_prefix, 32, 128,
	    "128"),
	LIMITER_SET("max_connections_per_ip", POSTA_SET_INT,
	    max_connections_per_ip, 0, 1000000, "50"),
	LIMITER_SET("max_connections", POSTA_SET_INT, max_connections, 0,
	    10000000, "5000"),
	LIMITER_SET("auth_fail_delay_after", POSTA_SET_INT,
	    auth_fail_delay_after, 0, 100000, "3"),
	LIMITER_SET("auth_fail_max_delay", POSTA_SET_DURATION,
	    auth_fail_max_delay_ms, 0, 5 * 60 * 1000, "15s"),
	LIMITER_SET("auth_fail_block_after", POSTA_SET_INT,
	    auth_fail_block_after, 0, 100000, "20"),
	LIMITER_SET("auth_fail_block_time", POSTA_SET_DURATION,
	    auth_fail_block_time_ms, 0, 7LL * 24 * 3600 * 1000, "10m"),
	LIMITER_SET("auth_fail_decay", POSTA_SET_DURATION,
	    auth_fail_decay_ms, 1000, 30LL * 24 * 3600 * 1000, "10m"),
	LIMITER_SET("auth_fail_ipv6_prefix", POSTA_SET_INT,
	    auth_fail_ipv6_prefix, 32, 128, "64"),
	LIMITER_SET("trusted_networks", POSTA_SET_LIST, trusted_networks, 0,
	    0, ""),
	POSTA_SETTINGS_END
};

POSTA_MODULE(
	.name = "limiter",
	.version = PACKAGE_VERSION,
	.kind = POSTA_MODULE_PLUGIN,
	.settings = limiter_settings_table,
	.settings_size = sizeof(struct limiter_settings),
	.init = limiter_init,
	.reload = limiter_reload,
	.deinit = limiter_deinit,
);
