/* queue_policy.h: pure routing decisions: routes, MX order, null MX, backoff */
#ifndef POSTA_QUEUE_POLICY_H
#define POSTA_QUEUE_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define QPOLICY_HOST_MAX 256	/* a DNS name, with its NUL */

/*
 * "host", "host:port", "1.2.3.4:25", "[::1]:25" or "[::1]".  host is a
 * DNS name or an IP address (IPv6 without its brackets).  Returns 0 or
 * -EINVAL with *error_r a static reason.
 */
int qpolicy_parse_hostport(const char *s, uint16_t default_port,
    char host[QPOLICY_HOST_MAX], uint16_t *port_r, const char **error_r);

/*
 * A static route, "domain=host[:port]": mail for domain goes to host
 * (its A/AAAA records, never MX) instead of the domain's MX hosts.
 * ".example.com=..." matches every subdomain of example.com (not the
 * domain itself); "*" matches every domain, a smarthost by another name.
 */
struct qroute {
	char domain[QPOLICY_HOST_MAX];
	char host[QPOLICY_HOST_MAX];
	uint16_t port;
};

int qpolicy_parse_route(const char *item, struct qroute *r,
    const char **error_r);

/* The route for domain (lowercase): exact match first, then the longest
   ".suffix", then "*"; NULL when none applies. */
const struct qroute *qpolicy_route_find(const struct qroute *routes,
    size_t n, const char *domain);

/*
 * The lowercased domain of an address (after its last '@'; a quoted local
 * part may hold '@', a domain never does).  Returns 0 or -EINVAL (no
 * domain, or too long).
 */
int qpolicy_addr_domain(const char *addr, char out[QPOLICY_HOST_MAX]);

/*
 * An address literal domain ("[192.0.2.1]", "[IPv6:2001:db8::1]"): the
 * bare address into out and true; false for anything else.
 */
bool qpolicy_domain_literal(const char *domain, char out[QPOLICY_HOST_MAX]);

/*
 * True when an envelope address can go into an SMTP command as it is:
 * at most 512 bytes (the path limit of RFC 5321 4.5.3.1.3 with room for
 * a quoted local part), no control bytes (a CR LF would end the command
 * and start one of the address's choosing), no '<' or '>'.
 */
bool qpolicy_addr_sendable(const char *addr);

struct qmx {
	char host[QPOLICY_HOST_MAX];	/* "" or "." for a null MX */
	uint16_t pref;
};

enum qmx_verdict {
	QMX_OK = 0,	/* *n hosts to try, in this order */
	QMX_NULL,	/* RFC 7505 null MX: the domain takes no mail */
	QMX_LOOP,	/* we are the best MX ourselves (RFC 5321 5.1) */
	QMX_EMPTY,	/* nothing usable was left */
};

/*
 * Orders the MX records of a domain for delivery (RFC 5321 5.1): by
 * preference, records of equal preference shuffled with seed (so load
 * spreads yet a test can fix the order).  A domain whose only record is
 * "." is a null MX; "." among other records is dropped.  When self (our
 * own host name, caseless) is listed, it and everything not more
 * preferred than it are dropped, and nothing left means a loop.  mx is
 * reordered and *n shortened in place.
 */
enum qmx_verdict qpolicy_mx_order(struct qmx *mx, size_t *n,
    const char *self, uint32_t seed);

/*
 * Delay before the next try after attempts temporary failures (>= 1):
 * min_ms doubled per further failure, never above max_ms.
 */
uint64_t qpolicy_backoff_ms(uint32_t attempts, uint64_t min_ms,
    uint64_t max_ms);

#endif
