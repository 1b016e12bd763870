/* queue_policy.c: pure routing decisions: routes, MX order, null MX, backoff */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue_policy.h"
#include "util.h"

static bool
qpolicy_host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
}

int
qpolicy_parse_hostport(const char *s, uint16_t default_port,
    char host[QPOLICY_HOST_MAX], uint16_t *port_r, const char **error_r)
{
	const char *hend, *p;
	size_t hl, i;
	unsigned long port = default_port;
	bool bracketed = s[0] == '[';
	char *end;

	if (bracketed) {
		hend = strchr(s, ']');
		if (hend == NULL) {
			*error_r = "expected ']' after an IPv6 address";
			return -EINVAL;
		}
		s++;
		p = hend + 1;
	} else {
		hend = strchr(s, ':');
		if (hend == NULL)
			hend = s + strlen(s);
		p = hend;
	}
	hl = (size_t)(hend - s);
	if (hl == 0 || hl >= QPOLICY_HOST_MAX) {
		*error_r = "expected a host name or address";
		return -EINVAL;
	}
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (bracketed) {
		struct in6_addr a6;

		if (inet_pton(AF_INET6, host, &a6) != 1) {
			*error_r = "expected an IPv6 address in [ ]";
			return -EINVAL;
		}
	} else {
		for (i = 0; i < hl; i++)
			if (!qpolicy_host_char(host[i])) {
				*error_r = "expected a host name or address";
				return -EINVAL;
			}
	}
	if (*p == ':') {
		if (p[1] < '0' || p[1] > '9') {
			*error_r = "expected a port number after ':'";
			return -EINVAL;
		}
		errno = 0;
		port = strtoul(p + 1, &end, 10);
		if (errno != 0 || *end != '\0' || port == 0 || port > 65535) {
			*error_r = "expected a port from 1 to 65535";
			return -EINVAL;
		}
	} else if (*p != '\0') {
		*error_r = "expected ':port' or the end after the host";
		return -EINVAL;
	}
	*port_r = (uint16_t)port;
	return 0;
}

int
qpolicy_parse_route(const char *item, struct qroute *r, const char **error_r)
{
	const char *eq = strchr(item, '=');
	size_t dl, i;

	memset(r, 0, sizeof(*r));
	if (eq == NULL) {
		*error_r = "expected domain=host[:port]";
		return -EINVAL;
	}
	dl = (size_t)(eq - item);
	while (dl > 0 && item[dl - 1] == ' ')
		dl--;
	if (dl == 0 || dl >= QPOLICY_HOST_MAX) {
		*error_r = "expected a domain before '='";
		return -EINVAL;
	}
	memcpy(r->domain, item, dl);
	r->domain[dl] = '\0';
	util_ascii_lower(r->domain);
	if (strcmp(r->domain, "*") != 0) {
		for (i = 0; i < dl; i++)
			if (!qpolicy_host_char(r->domain[i]) ||
			    (r->domain[i] == '.' && (i + 1 == dl ||
			    r->domain[i + 1] == '.'))) {
				*error_r = "expected a domain, .domain or * "
				    "before '='";
				return -EINVAL;
			}
	}
	eq++;
	while (*eq == ' ')
		eq++;
	return qpolicy_parse_hostport(eq, 25, r->host, &r->port, error_r);
}

const struct qroute *
qpolicy_route_find(const struct qroute *routes, size_t n, const char *domain)
{
	const struct qroute *best = NULL, *star = NULL;
	size_t i, best_len = 0, dl = strlen(domain);

	for (i = 0; i < n; i++) {
		const char *rd = routes[i].domain;
		size_t rl = strlen(rd);

		if (strcmp(rd, "*") == 0) {
			if (star == NULL)
				star = &routes[i];
		} else if (rd[0] != '.') {
			if (strcmp(rd, domain) == 0)
				return &routes[i];
		} else if (dl > rl && strcmp(domain + dl - rl, rd) == 0 &&
		    rl > best_len) {
			best = &routes[i];
			best_len = rl;
		}
	}
	return best != NULL ? best : star;
}

int
qpolicy_addr_domain(const char *addr, char out[QPOLICY_HOST_MAX])
{
	const char *at = strrchr(addr, '@');
	size_t n;

	if (at == NULL || at == addr)
		return -EINVAL;
	n = strlen(at + 1);
	if (n == 0 || n >= QPOLICY_HOST_MAX)
		return -EINVAL;
	memcpy(out, at + 1, n + 1);
	/* U-labels keep their bytes: folding them is IDNA's business */
	util_ascii_lower(out);
	return 0;
}

bool
qpolicy_addr_sendable(const char *addr)
{
	size_t i;

	for (i = 0; addr[i] != '\0'; i++) {
		unsigned char c = (unsigned char)addr[i];

		if (i >= 512 || c < 0x20 || c == 0x7f || c == '<' || c == '>')
			return false;
	}
	return true;
}

bool
qpolicy_domain_literal(const char *domain, char out[QPOLICY_HOST_MAX])
{
	size_t n = strlen(domain);
	const char *s;
	unsigned char buf[16];

	if (n < 3 || domain[0] != '[' || domain[n - 1] != ']')
		return false;
	s = domain + 1;
	n -= 2;
	if (n > 5 && util_memcaseeq(s, "ipv6:", 5)) {
		s += 5;
		n -= 5;
		if (n >= QPOLICY_HOST_MAX)
			return false;
		memcpy(out, s, n);
		out[n] = '\0';
		return inet_pton(AF_INET6, out, buf) == 1;
	}
	if (n >= QPOLICY_HOST_MAX)
		return false;
	memcpy(out, s, n);
	out[n] = '\0';
	return inet_pton(AF_INET, out, buf) == 1;
}

static bool
qpolicy_mx_is_dot(const struct qmx *m)
{
	return m->host[0] == '\0' || strcmp(m->host, ".") == 0;
}

/* xorshift32: a fixed, seedable shuffle for equal preferences */
static uint32_t
qpolicy_rand(uint32_t *s)
{
	uint32_t x = *s != 0 ? *s : 0x9e3779b9u;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*s = x;
	return x;
}

/* the host name without a trailing dot, compared caselessly */
static bool
qpolicy_same_host(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la > 0 && a[la - 1] == '.')
		la--;
	if (lb > 0 && b[lb - 1] == '.')
		lb--;
	return la == lb && util_memcaseeq(a, b, la);
}

enum qmx_verdict
qpolicy_mx_order(struct qmx *mx, size_t *n, const char *self, uint32_t seed)
{
	size_t i, j, k, lo;
	bool have_self = false;
	uint16_t self_pref = 0;

	if (*n == 1 && qpolicy_mx_is_dot(&mx[0]))
		return QMX_NULL;
	for (i = j = 0; i < *n; i++) {
		if (qpolicy_mx_is_dot(&mx[i]))
			continue;
		if (self != NULL && qpolicy_same_host(mx[i].host, self)) {
			if (!have_self || mx[i].pref < self_pref)
				self_pref = mx[i].pref;
			have_self = true;
		}
		if (j != i)
			mx[j] = mx[i];
		j++;
	}
	*n = j;
	if (have_self) {
		for (i = j = 0; i < *n; i++) {
			if (mx[i].pref >= self_pref)
				continue;
			if (j != i)
				mx[j] = mx[i];
			j++;
		}
		*n = j;
		if (j == 0)
			return QMX_LOOP;
	}
	if (*n == 0)
		return QMX_EMPTY;
	/* insertion sort: stable, and MX lists are short */
	for (i = 1; i < *n; i++) {
		struct qmx t = mx[i];

		for (k = i; k > 0 && mx[k - 1].pref > t.pref; k--)
			mx[k] = mx[k - 1];
		mx[k] = t;
	}
	for (lo = 0; lo < *n; lo = i) {
		for (i = lo + 1; i < *n && mx[i].pref == mx[lo].pref; i++)
			;
		/* Fisher-Yates over [lo, i) */
		for (k = i - 1; k > lo; k--) {
			size_t r = lo + qpolicy_rand(&seed) % (k - lo + 1);
			struct qmx t = mx[k];

			mx[k] = mx[r];
			mx[r] = t;
		}
	}
	return QMX_OK;
}

uint64_t
qpolicy_backoff_ms(uint32_t attempts, uint64_t min_ms, uint64_t max_ms)
{
	uint64_t d = min_ms;
	uint32_t i;

	if (max_ms < min_ms)
		max_ms = min_ms;
	for (i = 1; i < attempts && d < max_ms; i++)
		d = d > max_ms / 2 ? max_ms : d * 2;
	return d < max_ms ? d : max_ms;
}
