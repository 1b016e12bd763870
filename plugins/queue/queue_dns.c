/* queue_dns.c: MX and address lookups with c-ares driven by the libuv loop */
#include "config.h"

#include <arpa/inet.h>
#include <ares.h>
#include <arpa/nameser.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue_priv.h"

/* At most this many MX hosts are tried, each with this many addresses. */
#define QDNS_HOSTS_MAX	10
#define QDNS_ADDRS_MAX	6

struct qdns_sock {
	uv_poll_t poll;
	struct qdns *dns;
	ares_socket_t fd;
	struct qdns_sock *next;
};

struct qdns {
	uv_loop_t *loop;
	ares_channel ch;
	bool have_ch;
	uv_timer_t timer;
	struct qdns_sock *socks;
	struct qdns_lookup *lookups;
	bool closing;
};

struct qdns_host {
	char name[QPOLICY_HOST_MAX];
	struct in_addr a4[QDNS_ADDRS_MAX];
	size_t n4;
	struct in6_addr a6[QDNS_ADDRS_MAX];
	size_t n6;
	bool temp_error;	/* a lookup failed other than "no such name" */
};

struct qdns_lookup {
	uv_timer_t start;	/* issues the queries outside qdns_lookup() */
	struct qdns_lookup *prev, *next;	/* dns->lookups */
	bool started;
	struct qdns *dns;
	qdns_cb *cb;
	void *ctx;
	uint16_t port;
	int family;
	bool mx;
	char name[QPOLICY_HOST_MAX];
	char self[QPOLICY_HOST_MAX];
	unsigned pending;
	bool cancelled;
	bool implicit;		/* no MX records: the name itself */
	struct qdns_host hosts[QDNS_HOSTS_MAX];
	size_t n_hosts;
};

/* One address query: which host of which lookup, which family. */
struct qdns_query {
	struct qdns_lookup *lk;
	size_t host;
	int af;
};

static void qdns_rearm(struct qdns *dns);

static void
qdns_lookup_closed(uv_handle_t *h)
{
	free(h->data);
}

/* Unlinks lk and frees it once its timer handle is closed. */
static void
qdns_lookup_free(struct qdns_lookup *lk)
{
	struct qdns *dns = lk->dns;

	if (lk->prev != NULL)
		lk->prev->next = lk->next;
	else
		dns->lookups = lk->next;
	if (lk->next != NULL)
		lk->next->prev = lk->prev;
	uv_close((uv_handle_t *)&lk->start, qdns_lookup_closed);
}

/* ---- the loop side: sockets and the timeout ---- */

static void
qdns_poll_cb(uv_poll_t *p, int status, int events)
{
	struct qdns_sock *s = p->data;
	struct qdns *dns = s->dns;
	ares_socket_t rfd = ARES_SOCKET_BAD, wfd = ARES_SOCKET_BAD;

	/* on an error let c-ares read and write, so it sees the failure */
	if (status < 0 || (events & UV_READABLE))
		rfd = s->fd;
	if (status < 0 || (events & UV_WRITABLE))
		wfd = s->fd;
	ares_process_fd(dns->ch, rfd, wfd);
	if (!dns->closing)
		qdns_rearm(dns);
}

static void
qdns_sock_closed(uv_handle_t *h)
{
	free(h->data);
}

static void
qdns_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct qdns *dns = data;
	struct qdns_sock **sp, *s;
	int events = (readable ? UV_READABLE : 0) |
	    (writable ? UV_WRITABLE : 0);

	for (sp = &dns->socks; *sp != NULL; sp = &(*sp)->next)
		if ((*sp)->fd == fd)
			break;
	s = *sp;
	if (events == 0) {
		if (s != NULL) {
			*sp = s->next;
			uv_poll_stop(&s->poll);
			uv_close((uv_handle_t *)&s->poll, qdns_sock_closed);
		}
		return;
	}
	if (s == NULL) {
		s = calloc(1, sizeof(*s));
		if (s == NULL)
			return;	/* c-ares times the query out */
		if (uv_poll_init_socket(dns->loop, &s->poll, fd) < 0) {
			free(s);
			return;
		}
		s->poll.data = s;
		s->dns = dns;
		s->fd = fd;
		s->next = dns->socks;
		dns->socks = s;
	}
	uv_poll_start(&s->poll, events, qdns_poll_cb);
}

static void
qdns_timer_cb(uv_timer_t *t)
{
	struct qdns *dns = t->data;

	ares_process_fd(dns->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	if (!dns->closing)
		qdns_rearm(dns);
}

static void
qdns_rearm(struct qdns *dns)
{
	struct timeval tv, *tvp;
	uint64_t ms;

	tvp = ares_timeout(dns->ch, NULL, &tv);
	if (tvp == NULL) {
		uv_timer_stop(&dns->timer);
		return;
	}
	ms = (uint64_t)tvp->tv_sec * 1000 + (uint64_t)tvp->tv_usec / 1000;
	uv_timer_start(&dns->timer, qdns_timer_cb, ms > 0 ? ms : 1, 0);
}

int
qdns_set_servers(struct qdns *dns, const struct posta_addrs *servers)
{
	struct ares_addr_port_node *nodes;
	size_t i;
	int r;

	if (servers == NULL || servers->n == 0)
		return 0;
	nodes = calloc(servers->n, sizeof(*nodes));
	if (nodes == NULL)
		return -ENOMEM;
	for (i = 0; i < servers->n; i++) {
		const struct sockaddr_storage *ss = &servers->addrs[i];
		struct ares_addr_port_node *n = &nodes[i];

		n->next = i + 1 < servers->n ? &nodes[i + 1] : NULL;
		if (ss->ss_family == AF_INET) {
			const struct sockaddr_in *sin = (const void *)ss;

			n->family = AF_INET;
			memcpy(&n->addr.addr4, &sin->sin_addr, 4);
			n->udp_port = n->tcp_port = ntohs(sin->sin_port);
		} else {
			const struct sockaddr_in6 *sin6 = (const void *)ss;

			n->family = AF_INET6;
			memcpy(&n->addr.addr6, &sin6->sin6_addr, 16);
			n->udp_port = n->tcp_port = ntohs(sin6->sin6_port);
		}
		if (n->udp_port == 0)
			n->udp_port = n->tcp_port = 53;
	}
	r = ares_set_servers_ports(dns->ch, nodes);
	free(nodes);
	return r == ARES_SUCCESS ? 0 : -EINVAL;
}

int
qdns_new(uv_loop_t *loop, const struct queue_settings *set,
    struct qdns **dns_r, const char **error_r)
{
	struct ares_options opts;
	struct qdns *dns;
	int r;

	dns = calloc(1, sizeof(*dns));
	if (dns == NULL) {
		*error_r = "out of memory";
		return -ENOMEM;
	}
	dns->loop = loop;
	memset(&opts, 0, sizeof(opts));
	opts.sock_state_cb = qdns_sock_state;
	opts.sock_state_cb_data = dns;
	opts.timeout = (int)set->dns_timeout_ms;
	opts.tries = 2;
	/* queries are fully qualified: no search list, no /etc/hosts */
	opts.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES;
	opts.lookups = (char *)"b";
	r = ares_init_options(&dns->ch, &opts, ARES_OPT_SOCK_STATE_CB |
	    ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_FLAGS |
	    ARES_OPT_LOOKUPS);
	if (r != ARES_SUCCESS) {
		*error_r = ares_strerror(r);
		free(dns);
		return -EIO;
	}
	dns->have_ch = true;
	if (qdns_set_servers(dns, &set->dns_servers) < 0) {
		*error_r = "cannot set dns_servers";
		ares_destroy(dns->ch);
		free(dns);
		return -EINVAL;
	}
	uv_timer_init(loop, &dns->timer);
	dns->timer.data = dns;
	*dns_r = dns;
	return 0;
}

static void
qdns_timer_closed(uv_handle_t *h)
{
	free(h->data);
}

void
qdns_free(struct qdns **dnsp)
{
	struct qdns *dns = *dnsp;

	if (dns == NULL)
		return;
	*dnsp = NULL;
	dns->closing = true;
	/* every pending query's callback runs now with ARES_EDESTRUCTION,
	   and every socket is reported closed */
	ares_destroy(dns->ch);
	/* lookups whose queries were not yet issued end here */
	while (dns->lookups != NULL) {
		struct qdns_lookup *lk = dns->lookups;
		struct qdns_result res;

		memset(&res, 0, sizeof(res));
		res.err = -ECANCELED;
		uv_timer_stop(&lk->start);
		lk->cb(lk->ctx, &res);
		qdns_lookup_free(lk);
	}
	while (dns->socks != NULL) {
		struct qdns_sock *s = dns->socks;

		dns->socks = s->next;
		uv_poll_stop(&s->poll);
		uv_close((uv_handle_t *)&s->poll, qdns_sock_closed);
	}
	uv_timer_stop(&dns->timer);
	uv_close((uv_handle_t *)&dns->timer, qdns_timer_closed);
}

/* ---- lookups ---- */

static void
qdns_fail(struct qdns_result *res, int err, const char *status,
    const char *fmt, const char *name, const char *detail)
{
	res->err = err;
	snprintf(res->status, sizeof(res->status), "%s", status);
	snprintf(res->why, sizeof(res->why), fmt, name, detail);
}

static void
qdns_add_target(struct qtarget *t, size_t *n, const char *host, int af,
    const void *addr, uint16_t port)
{
	struct qtarget *x = &t[*n];

	memset(x, 0, sizeof(*x));
	snprintf(x->host, sizeof(x->host), "%s", host);
	if (af == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&x->addr;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		memcpy(&sin->sin_addr, addr, 4);
		x->addr_len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&x->addr;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		memcpy(&sin6->sin6_addr, addr, 16);
		x->addr_len = sizeof(*sin6);
	}
	(*n)++;
}

static void
qdns_finish(struct qdns_lookup *lk)
{
	struct qtarget targets[QDNS_HOSTS_MAX * QDNS_ADDRS_MAX * 2];
	struct qdns_result res;
	size_t i, j, n = 0;
	bool temp = false;

	memset(&res, 0, sizeof(res));
	if (lk->cancelled) {
		res.err = -ECANCELED;
		lk->cb(lk->ctx, &res);
		qdns_lookup_free(lk);
		return;
	}
	for (i = 0; i < lk->n_hosts; i++) {
		struct qdns_host *h = &lk->hosts[i];

		temp |= h->temp_error;
		if (lk->family != QUEUE_FAMILY_IPV6)
			for (j = 0; j < h->n4; j++)
				qdns_add_target(targets, &n, h->name, AF_INET,
				    &h->a4[j], lk->port);
		if (lk->family != QUEUE_FAMILY_IPV4)
			for (j = 0; j < h->n6; j++)
				qdns_add_target(targets, &n, h->name,
				    AF_INET6, &h->a6[j], lk->port);
	}
	if (n > 0) {
		res.n = n;
		res.targets = targets;
	} else if (temp) {
		qdns_fail(&res, POSTA_ETEMP, "4.4.3", "cannot find the "
		    "addresses of the mail hosts of %s%s", lk->name, "");
	} else if (lk->implicit || !lk->mx) {
		qdns_fail(&res, -ENOENT, "5.1.2", "%s has no MX, A or AAAA "
		    "records%s", lk->name, "");
	} else {
		qdns_fail(&res, -ENOENT, "5.4.4", "no mail host of %s has "
		    "an address%s", lk->name, "");
	}
	lk->cb(lk->ctx, &res);
	qdns_lookup_free(lk);
}

static void
qdns_query_done(struct qdns_lookup *lk)
{
	if (--lk->pending == 0)
		qdns_finish(lk);
}

static bool
qdns_status_definite(int status)
{
	return status == ARES_ENOTFOUND || status == ARES_ENODATA;
}

static void
qdns_addr_cb(void *arg, int status, int timeouts, unsigned char *abuf,
    int alen)
{
	struct qdns_query *qq = arg;
	struct qdns_lookup *lk = qq->lk;
	struct qdns_host *h = &lk->hosts[qq->host];
	int r = ARES_SUCCESS;

	if (status == ARES_EDESTRUCTION || status == ARES_ECANCELLED)
		lk->cancelled = true;
	else if (status != ARES_SUCCESS && !qdns_status_definite(status))
		h->temp_error = true;
	else if (status == ARES_SUCCESS && qq->af == AF_INET) {
		struct ares_addrttl ttls[QDNS_ADDRS_MAX];
		int n = QDNS_ADDRS_MAX, i;

		r = ares_parse_a_reply(abuf, alen, NULL, ttls, &n);
		if (r == ARES_SUCCESS)
			for (i = 0; i < n && h->n4 < QDNS_ADDRS_MAX; i++)
				h->a4[h->n4++] = ttls[i].ipaddr;
	} else if (status == ARES_SUCCESS) {
		struct ares_addr6ttl ttls[QDNS_ADDRS_MAX];
		int n = QDNS_ADDRS_MAX, i;

		r = ares_parse_aaaa_reply(abuf, alen, NULL, ttls, &n);
		if (r == ARES_SUCCESS)
			for (i = 0; i < n && h->n6 < QDNS_ADDRS_MAX; i++)
				memcpy(&h->a6[h->n6++], &ttls[i].ip6addr, 16);
	}
	/* an answer that does not parse says nothing about the name: only
	   "no such name" and "no such record" may end in a bounce */
	if (r != ARES_SUCCESS && !qdns_status_definite(r))
		h->temp_error = true;
	free(qq);
	qdns_query_done(lk);
}

/* Queries the addresses of every host of lk; pending counts them. */
static void
qdns_query_hosts(struct qdns_lookup *lk)
{
	size_t i, k;
	static const int afs[2] = { AF_INET, AF_INET6 };

	lk->pending++;	/* held until every query is issued */
	for (i = 0; i < lk->n_hosts; i++) {
		for (k = 0; k < 2; k++) {
			struct qdns_query *qq;

			if ((afs[k] == AF_INET &&
			    lk->family == QUEUE_FAMILY_IPV6) ||
			    (afs[k] == AF_INET6 &&
			    lk->family == QUEUE_FAMILY_IPV4))
				continue;
			qq = calloc(1, sizeof(*qq));
			if (qq == NULL) {
				lk->hosts[i].temp_error = true;
				continue;
			}
			qq->lk = lk;
			qq->host = i;
			qq->af = afs[k];
			lk->pending++;
			ares_query(lk->dns->ch, lk->hosts[i].name, ns_c_in,
			    afs[k] == AF_INET ? ns_t_a : ns_t_aaaa,
			    qdns_addr_cb, qq);
		}
	}
	if (!lk->dns->closing)
		qdns_rearm(lk->dns);
	qdns_query_done(lk);
}

static void
qdns_mx_cb(void *arg, int status, int timeouts, unsigned char *abuf,
    int alen)
{
	struct qdns_lookup *lk = arg;
	struct ares_mx_reply *mxs = NULL, *m;
	struct qmx list[32];
	struct qdns_result res;
	enum qmx_verdict v;
	size_t n = 0, i;
	uint32_t seed;

	if (status == ARES_EDESTRUCTION || status == ARES_ECANCELLED) {
		lk->cancelled = true;
		qdns_query_done(lk);
		return;
	}
	memset(&res, 0, sizeof(res));
	if (status == ARES_ENODATA) {
		/* RFC 5321 5.1: no MX at all means the name is its own MX */
		lk->implicit = true;
		snprintf(lk->hosts[0].name, sizeof(lk->hosts[0].name), "%s",
		    lk->name);
		lk->n_hosts = 1;
		qdns_query_hosts(lk);
		qdns_query_done(lk);
		return;
	}
	if (status == ARES_ENOTFOUND) {
		qdns_fail(&res, -ENOENT, "5.1.2", "domain %s does not exist "
		    "(%s)", lk->name, "NXDOMAIN");
		goto fail;
	}
	if (status != ARES_SUCCESS ||
	    ares_parse_mx_reply(abuf, alen, &mxs) != ARES_SUCCESS) {
		qdns_fail(&res, POSTA_ETEMP, "4.4.3", "MX lookup of %s "
		    "failed: %s", lk->name, ares_strerror(status !=
		    ARES_SUCCESS ? status : ARES_EBADRESP));
		goto fail;
	}
	for (m = mxs; m != NULL && n < sizeof(list) / sizeof(list[0]);
	    m = m->next) {
		snprintf(list[n].host, sizeof(list[n].host), "%s",
		    m->host != NULL ? m->host : "");
		list[n].pref = m->priority;
		n++;
	}
	ares_free_data(mxs);
	if (n == 0) {
		lk->implicit = true;
		snprintf(list[0].host, sizeof(list[0].host), "%s", lk->name);
		n = 1;
	}
	seed = (uint32_t)uv_hrtime();
	v = qpolicy_mx_order(list, &n, lk->self, seed);
	if (v == QMX_NULL || v == QMX_EMPTY) {
		/* RFC 7505 3: 556 5.1.10 for a null MX */
		qdns_fail(&res, -ENOENT, "5.1.10", "domain %s does not "
		    "accept mail (%s)", lk->name, "null MX");
		goto fail;
	}
	if (v == QMX_LOOP) {
		qdns_fail(&res, -ENOENT, "5.4.6", "mail for %s loops back "
		    "to myself%s", lk->name, "");
		goto fail;
	}
	for (i = 0; i < n && i < QDNS_HOSTS_MAX; i++) {
		size_t l = strlen(list[i].host);

		if (l > 0 && list[i].host[l - 1] == '.')
			list[i].host[l - 1] = '\0';
		snprintf(lk->hosts[i].name, sizeof(lk->hosts[i].name), "%s",
		    list[i].host);
	}
	lk->n_hosts = i;
	qdns_query_hosts(lk);
	qdns_query_done(lk);
	return;
fail:
	lk->pending--;
	lk->cb(lk->ctx, &res);
	qdns_lookup_free(lk);
}

/* c-ares may answer from inside ares_query(): never inside qdns_lookup */
static void
qdns_start_cb(uv_timer_t *t)
{
	struct qdns_lookup *lk = t->data;
	struct qdns *dns = lk->dns;

	unsigned char a[16];
	int af = 0;

	lk->started = true;
	if (inet_pton(AF_INET, lk->name, a) == 1)
		af = AF_INET;
	else if (inet_pton(AF_INET6, lk->name, a) == 1)
		af = AF_INET6;
	if (af != 0) {
		/* an address needs no DNS */
		struct qdns_result res;
		struct qtarget target;
		size_t n = 0;

		memset(&res, 0, sizeof(res));
		qdns_add_target(&target, &n, lk->name, af, a, lk->port);
		res.n = 1;
		res.targets = &target;
		lk->cb(lk->ctx, &res);
		qdns_lookup_free(lk);
		return;
	}
	if (lk->mx) {
		lk->pending = 1;
		ares_query(dns->ch, lk->name, ns_c_in, ns_t_mx, qdns_mx_cb,
		    lk);
	} else {
		snprintf(lk->hosts[0].name, sizeof(lk->hosts[0].name), "%s",
		    lk->name);
		lk->n_hosts = 1;
		qdns_query_hosts(lk);
		return;
	}
	if (!dns->closing)
		qdns_rearm(dns);
}

int
qdns_lookup(struct qdns *dns, const char *name, bool mx, uint16_t port,
    const char *self, int family, qdns_cb *cb, void *ctx)
{
	struct qdns_lookup *lk;

	if (dns->closing)
		return -ECANCELED;
	if (strlen(name) >= QPOLICY_HOST_MAX)
		return -EINVAL;
	lk = calloc(1, sizeof(*lk));
	if (lk == NULL)
		return -ENOMEM;
	lk->dns = dns;
	lk->cb = cb;
	lk->ctx = ctx;
	lk->port = port;
	lk->family = family;
	lk->mx = mx;
	snprintf(lk->name, sizeof(lk->name), "%s", name);
	snprintf(lk->self, sizeof(lk->self), "%s", self != NULL ? self : "");
	uv_timer_init(dns->loop, &lk->start);
	lk->start.data = lk;
	lk->next = dns->lookups;
	if (lk->next != NULL)
		lk->next->prev = lk;
	dns->lookups = lk;
	uv_timer_start(&lk->start, qdns_start_cb, 0, 0);
	return 0;
}
