/* test_queue_policy.c: routes, MX order, null MX, loops, backoff */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "queue_policy.h"

static size_t
mx_fill(struct qmx *mx, const char *spec)
{
	/* "10:a 20:b 10:c" */
	char buf[512], *tok, *save = NULL;
	size_t n = 0;

	snprintf(buf, sizeof(buf), "%s", spec);
	for (tok = strtok_r(buf, " ", &save); tok != NULL;
	    tok = strtok_r(NULL, " ", &save)) {
		char *colon = strchr(tok, ':');

		mx[n].pref = (uint16_t)atoi(tok);
		snprintf(mx[n].host, sizeof(mx[n].host), "%s", colon + 1);
		n++;
	}
	return n;
}

static void
test_mx_order_by_preference(void **state)
{
	struct qmx mx[8];
	size_t n = mx_fill(mx, "30:c.example 10:a.example 20:b.example");

	assert_int_equal(qpolicy_mx_order(mx, &n, "mail.test", 1), QMX_OK);
	assert_int_equal(n, 3);
	assert_string_equal(mx[0].host, "a.example");
	assert_string_equal(mx[1].host, "b.example");
	assert_string_equal(mx[2].host, "c.example");
}

static void
test_mx_equal_preferences_shuffled(void **state)
{
	struct qmx mx[8];
	size_t n, i;
	uint32_t seed;
	bool seen_x_first = false, seen_y_first = false;

	for (seed = 1; seed < 200; seed++) {
		n = mx_fill(mx, "5:low 10:x 10:y 20:z");
		assert_int_equal(qpolicy_mx_order(mx, &n, NULL, seed), QMX_OK);
		assert_int_equal(n, 4);
		/* the groups keep their order whatever the seed */
		assert_string_equal(mx[0].host, "low");
		assert_string_equal(mx[3].host, "z");
		for (i = 1; i < 3; i++)
			assert_int_equal(mx[i].pref, 10);
		if (strcmp(mx[1].host, "x") == 0)
			seen_x_first = true;
		else
			seen_y_first = true;
	}
	assert_true(seen_x_first && seen_y_first);
	/* one seed, one order */
	n = mx_fill(mx, "10:x 10:y 10:w");
	qpolicy_mx_order(mx, &n, NULL, 42);
	{
		struct qmx again[8];
		size_t m = mx_fill(again, "10:x 10:y 10:w");

		qpolicy_mx_order(again, &m, NULL, 42);
		for (i = 0; i < 3; i++)
			assert_string_equal(mx[i].host, again[i].host);
	}
}

static void
test_mx_null(void **state)
{
	struct qmx mx[8];
	size_t n;

	n = mx_fill(mx, "0:.");
	assert_int_equal(qpolicy_mx_order(mx, &n, NULL, 1), QMX_NULL);
	mx[0].host[0] = '\0';
	n = 1;
	assert_int_equal(qpolicy_mx_order(mx, &n, NULL, 1), QMX_NULL);
	/* "." among real hosts is dropped, the rest used */
	n = mx_fill(mx, "0:. 10:real.example");
	assert_int_equal(qpolicy_mx_order(mx, &n, NULL, 1), QMX_OK);
	assert_int_equal(n, 1);
	assert_string_equal(mx[0].host, "real.example");
}

static void
test_mx_self(void **state)
{
	struct qmx mx[8];
	size_t n;

	/* we are the 20: only the more preferred 10 remains */
	n = mx_fill(mx, "20:MAIL.test. 10:primary.example 30:backup.example");
	assert_int_equal(qpolicy_mx_order(mx, &n, "mail.test", 1), QMX_OK);
	assert_int_equal(n, 1);
	assert_string_equal(mx[0].host, "primary.example");
	/* we are the best: a loop */
	n = mx_fill(mx, "10:mail.test 20:other.example");
	assert_int_equal(qpolicy_mx_order(mx, &n, "mail.test", 1), QMX_LOOP);
}

static void
test_backoff(void **state)
{
	const uint64_t m = 60 * 1000;

	assert_int_equal(qpolicy_backoff_ms(1, 5 * m, 60 * m), 5 * m);
	assert_int_equal(qpolicy_backoff_ms(2, 5 * m, 60 * m), 10 * m);
	assert_int_equal(qpolicy_backoff_ms(3, 5 * m, 60 * m), 20 * m);
	assert_int_equal(qpolicy_backoff_ms(4, 5 * m, 60 * m), 40 * m);
	assert_int_equal(qpolicy_backoff_ms(5, 5 * m, 60 * m), 60 * m);
	assert_int_equal(qpolicy_backoff_ms(1000, 5 * m, 60 * m), 60 * m);
	assert_int_equal(qpolicy_backoff_ms(UINT32_MAX, 5 * m, 60 * m),
	    60 * m);
	assert_int_equal(qpolicy_backoff_ms(0, 5 * m, 60 * m), 5 * m);
	/* max below min: min wins */
	assert_int_equal(qpolicy_backoff_ms(3, 5 * m, m), 5 * m);
	/* no overflow near the top of the range */
	assert_int_equal(qpolicy_backoff_ms(70, UINT64_MAX / 3, UINT64_MAX),
	    UINT64_MAX);
}

static void
test_hostport(void **state)
{
	char host[QPOLICY_HOST_MAX];
	const char *err;
	uint16_t port;

	assert_int_equal(qpolicy_parse_hostport("relay.example:587", 25, host,
	    &port, &err), 0);
	assert_string_equal(host, "relay.example");
	assert_int_equal(port, 587);
	assert_int_equal(qpolicy_parse_hostport("relay.example", 25, host,
	    &port, &err), 0);
	assert_int_equal(port, 25);
	assert_int_equal(qpolicy_parse_hostport("[::1]:2525", 25, host,
	    &port, &err), 0);
	assert_string_equal(host, "::1");
	assert_int_equal(port, 2525);
	assert_int_equal(qpolicy_parse_hostport("127.0.0.2:26", 25, host,
	    &port, &err), 0);
	assert_string_equal(host, "127.0.0.2");
	assert_int_equal(qpolicy_parse_hostport("[not-v6]:25", 25, host,
	    &port, &err), -EINVAL);
	assert_int_equal(qpolicy_parse_hostport("host:0", 25, host, &port,
	    &err), -EINVAL);
	assert_int_equal(qpolicy_parse_hostport("host:65536", 25, host,
	    &port, &err), -EINVAL);
	assert_int_equal(qpolicy_parse_hostport("host:x", 25, host, &port,
	    &err), -EINVAL);
	assert_int_equal(qpolicy_parse_hostport("", 25, host, &port, &err),
	    -EINVAL);
	assert_int_equal(qpolicy_parse_hostport("bad host", 25, host, &port,
	    &err), -EINVAL);
	assert_int_equal(qpolicy_parse_hostport("[::1", 25, host, &port,
	    &err), -EINVAL);
}

static void
test_routes(void **state)
{
	struct qroute r[4];
	const char *err;

	assert_int_equal(qpolicy_parse_route("Example.NET=mx.internal:2525",
	    &r[0], &err), 0);
	assert_string_equal(r[0].domain, "example.net");
	assert_string_equal(r[0].host, "mx.internal");
	assert_int_equal(r[0].port, 2525);
	assert_int_equal(qpolicy_parse_route(".example.org=[::1]", &r[1],
	    &err), 0);
	assert_int_equal(r[1].port, 25);
	assert_int_equal(qpolicy_parse_route(".sub.example.org=10.0.0.1",
	    &r[2], &err), 0);
	assert_int_equal(qpolicy_parse_route("*=relay:26", &r[3], &err), 0);
	assert_ptr_equal(qpolicy_route_find(r, 4, "example.net"), &r[0]);
	assert_ptr_equal(qpolicy_route_find(r, 4, "a.example.org"), &r[1]);
	/* the longest suffix wins */
	assert_ptr_equal(qpolicy_route_find(r, 4, "x.sub.example.org"),
	    &r[2]);
	/* ".example.org" does not match example.org itself */
	assert_ptr_equal(qpolicy_route_find(r, 4, "example.org"), &r[3]);
	assert_ptr_equal(qpolicy_route_find(r, 3, "example.org"), NULL);
	assert_ptr_equal(qpolicy_route_find(r, 3, "xexample.net"), NULL);
	assert_int_equal(qpolicy_parse_route("noequals", &r[0], &err),
	    -EINVAL);
	assert_int_equal(qpolicy_parse_route("=host", &r[0], &err), -EINVAL);
	assert_int_equal(qpolicy_parse_route("a..b=host", &r[0], &err),
	    -EINVAL);
	assert_int_equal(qpolicy_parse_route("a.b=", &r[0], &err), -EINVAL);
}

static void
test_domains(void **state)
{
	char d[QPOLICY_HOST_MAX];

	assert_int_equal(qpolicy_addr_domain("bob@Example.NET", d), 0);
	assert_string_equal(d, "example.net");
	assert_int_equal(qpolicy_addr_domain("\"a@b\"@c.example", d), 0);
	assert_string_equal(d, "c.example");
	assert_int_equal(qpolicy_addr_domain("nodomain", d), -EINVAL);
	assert_int_equal(qpolicy_addr_domain("x@", d), -EINVAL);
	assert_int_equal(qpolicy_addr_domain("@x", d), -EINVAL);
	assert_true(qpolicy_domain_literal("[127.0.0.2]", d));
	assert_string_equal(d, "127.0.0.2");
	assert_true(qpolicy_domain_literal("[IPv6:::1]", d));
	assert_string_equal(d, "::1");
	assert_false(qpolicy_domain_literal("[300.1.1.1]", d));
	assert_false(qpolicy_domain_literal("example.net", d));
	assert_false(qpolicy_domain_literal("[]", d));
}

static void
test_sendable(void **state)
{
	char big[600];

	assert_true(qpolicy_addr_sendable("bob@example.net"));
	assert_true(qpolicy_addr_sendable("\"odd guy\"@example.net"));
	assert_true(qpolicy_addr_sendable("b\xc3\xb6" "b@example.net"));
	assert_true(qpolicy_addr_sendable(""));
	assert_false(qpolicy_addr_sendable("a@b\r\nRCPT TO:<x@y>"));
	assert_false(qpolicy_addr_sendable("a@b>"));
	assert_false(qpolicy_addr_sendable("a\x7f@b"));
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_false(qpolicy_addr_sendable(big));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mx_order_by_preference),
		cmocka_unit_test(test_mx_equal_preferences_shuffled),
		cmocka_unit_test(test_mx_null),
		cmocka_unit_test(test_mx_self),
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_hostport),
		cmocka_unit_test(test_routes),
		cmocka_unit_test(test_domains),
		cmocka_unit_test(test_sendable),
	};

	return cmocka_run_group_tests_name("queue_policy", tests, NULL, NULL);
}
