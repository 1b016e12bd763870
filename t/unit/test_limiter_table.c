/* test_limiter_table.c: limiter tables: counts, masks, networks, decay */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "limiter_table.h"

static const uint8_t seed0[16];

static struct limiter_addr
addr(const char *text)
{
	struct sockaddr_storage ss;
	struct limiter_addr a;

	memset(&ss, 0, sizeof(ss));
	if (strchr(text, ':') != NULL) {
		struct sockaddr_in6 *sin6 = (void *)&ss;

		sin6->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, text, &sin6->sin6_addr),
		    1);
	} else {
		struct sockaddr_in *sin = (void *)&ss;

		sin->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, text, &sin->sin_addr), 1);
	}
	limiter_addr_from_sockaddr((struct sockaddr *)&ss, &a);
	return a;
}

static struct limiter_key
key(char tag, const char *ip, unsigned prefix, const char *s1,
    const char *s2)
{
	struct limiter_addr a = addr(ip);
	struct limiter_key k;

	limiter_addr_mask(&a, prefix);
	assert_int_equal(limiter_key_new(tag, &a, s1, s2, &k), 0);
	return k;
}

/* ---- SipHash ---- */

static void
test_siphash_vectors(void **unused)
{
	/* the reference vectors: key 00..0f, message 00 01 .. (len-1) */
	static const struct {
		size_t len;
		uint64_t out;
	} v[] = {
		{ 0, UINT64_C(0x726fdb47dd0e0e31) },
		{ 1, UINT64_C(0x74f839c593dc67fd) },
		{ 7, UINT64_C(0xab0200f58b01d137) },
		{ 8, UINT64_C(0x93f5f5799a932462) },
		{ 15, UINT64_C(0xa129ca6149be45e5) },
		{ 16, UINT64_C(0x3f2acc7f57c29bdb) },
	};
	uint8_t k[16], msg[16];
	size_t i;

	for (i = 0; i < 16; i++)
		k[i] = msg[i] = (uint8_t)i;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		assert_true(limiter_siphash(k, msg, v[i].len) == v[i].out);
	/* another seed, another hash */
	assert_true(limiter_siphash(seed0, msg, 8) !=
	    limiter_siphash(k, msg, 8));
}

/* ---- addresses ---- */

static void
test_addr_mapped_and_unspec(void **unused)
{
	struct limiter_addr a = addr("::ffff:192.0.2.7"), b = addr("192.0.2.7");
	char buf[64];

	assert_int_equal(a.family, AF_INET);
	assert_memory_equal(&a, &b, sizeof(a));
	assert_string_equal(limiter_addr_format(&a, 128, buf, sizeof(buf)),
	    "192.0.2.7");

	limiter_addr_from_sockaddr(NULL, &a);
	assert_int_equal(a.family, AF_UNSPEC);
	assert_string_equal(limiter_addr_format(&a, 64, buf, sizeof(buf)),
	    "local");
}

static void
test_addr_mask_v6(void **unused)
{
	struct limiter_addr a = addr("2001:db8:1:2:aaaa::1");
	struct limiter_addr b = addr("2001:db8:1:2:bbbb::2");
	struct limiter_addr c = addr("2001:db8:1:3::1");
	struct limiter_addr v4 = addr("198.51.100.99"), v4copy = v4;
	char buf[64];

	/* 128: every address is its own client */
	limiter_addr_mask(&a, 128);
	limiter_addr_mask(&b, 128);
	assert_memory_not_equal(a.bytes, b.bytes, 16);
	assert_string_equal(limiter_addr_format(&a, 128, buf, sizeof(buf)),
	    "2001:db8:1:2:aaaa::1");

	/* 64: one /64 is one client, the next /64 another */
	limiter_addr_mask(&a, 64);
	limiter_addr_mask(&b, 64);
	limiter_addr_mask(&c, 64);
	assert_memory_equal(a.bytes, b.bytes, 16);
	assert_memory_not_equal(a.bytes, c.bytes, 16);
	assert_string_equal(limiter_addr_format(&a, 64, buf, sizeof(buf)),
	    "2001:db8:1:2::/64");

	/* a prefix that is not a whole byte */
	a = addr("2001:db8:1:ff::1");
	limiter_addr_mask(&a, 60);
	assert_string_equal(limiter_addr_format(&a, 60, buf, sizeof(buf)),
	    "2001:db8:1:f0::/60");

	/* IPv4 clients are never cut */
	limiter_addr_mask(&v4, 64);
	assert_memory_equal(&v4, &v4copy, sizeof(v4));
}

/* ---- networks ---- */

static void
test_net_parse_valid(void **unused)
{
	struct limiter_net n;
	char buf[64];

	assert_int_equal(limiter_net_parse("10.0.0.0/8", &n), 0);
	assert_int_equal(n.addr.family, AF_INET);
	assert_int_equal(n.prefix, 8);
	assert_int_equal(limiter_net_parse("192.0.2.10", &n), 0);
	assert_int_equal(n.prefix, 32);
	assert_int_equal(limiter_net_parse("0.0.0.0/0", &n), 0);
	assert_int_equal(n.prefix, 0);
	assert_int_equal(limiter_net_parse(" 172.16.0.0/12\t", &n), 0);
	assert_int_equal(n.prefix, 12);
	assert_int_equal(limiter_net_parse("2001:db8::/32", &n), 0);
	assert_int_equal(n.addr.family, AF_INET6);
	assert_int_equal(n.prefix, 32);
	assert_int_equal(limiter_net_parse("::1", &n), 0);
	assert_int_equal(n.prefix, 128);
	assert_int_equal(limiter_net_parse("::/0", &n), 0);
	assert_int_equal(limiter_net_parse("2001:db8:0:1::/64", &n), 0);
	assert_string_equal(limiter_addr_format(&n.addr, n.prefix, buf,
	    sizeof(buf)), "2001:db8:0:1::/64");
	/* a mapped network means the IPv4 one */
	assert_int_equal(limiter_net_parse("::ffff:10.1.0.0/112", &n), 0);
	assert_int_equal(n.addr.family, AF_INET);
	assert_int_equal(n.prefix, 16);
	assert_string_equal(limiter_addr_format(&n.addr, 128, buf,
	    sizeof(buf)), "10.1.0.0");
}

static void
test_net_parse_invalid(void **unused)
{
	static const char *const bad[] = {
		"", " ", "/8", "10.0.0.0/", "10.0.0.0/33", "10.0.0.0/08",
		"10.0.0.0/-1", "10.0.0.0/+8", "10.0.0.0/8x", "10.0.0.0/8/8",
		"10.0.0.1/8", "10.0.0.0 /8", "10.0.0", "10.0.0.256", "host",
		"::/129", "2001:db8::1/64", "2001:db8::g/64", "[::1]",
		"10.0.0.0/99999999999999999999", "1.2.3.4, 5.6.7.8",
		"2001:0db8:0000:0000:0000:0000:0000:0000:0000/64",
	};
	struct limiter_net n;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int ret = limiter_net_parse(bad[i], &n);

		if (ret != -EINVAL)
			fail_msg("\"%s\" gave %d", bad[i], ret);
	}
}

static void
test_nets_match(void **unused)
{
	static const char *const items[] = {
		"127.0.0.0/8", "192.0.2.10", "2001:db8:1::/48", "::1",
	};
	struct limiter_nets nets;
	struct limiter_addr a;
	const char *bad = NULL;

	assert_int_equal(limiter_nets_parse(items, 4, &nets, &bad), 0);
	assert_null(bad);
	assert_int_equal(nets.n, 4);

	a = addr("127.1.2.3");
	assert_true(limiter_nets_match(&nets, &a));
	a = addr("::ffff:127.0.0.1");	/* mapped: the IPv4 network */
	assert_true(limiter_nets_match(&nets, &a));
	a = addr("192.0.2.10");
	assert_true(limiter_nets_match(&nets, &a));
	a = addr("192.0.2.11");
	assert_false(limiter_nets_match(&nets, &a));
	a = addr("128.0.0.1");
	assert_false(limiter_nets_match(&nets, &a));
	a = addr("2001:db8:1:ffff::5");
	assert_true(limiter_nets_match(&nets, &a));
	a = addr("2001:db8:2::5");
	assert_false(limiter_nets_match(&nets, &a));
	a = addr("::1");
	assert_true(limiter_nets_match(&nets, &a));
	a = addr("::2");
	assert_false(limiter_nets_match(&nets, &a));
	limiter_addr_from_sockaddr(NULL, &a);
	assert_false(limiter_nets_match(&nets, &a));
	limiter_nets_deinit(&nets);
	assert_int_equal(nets.n, 0);
	assert_null(nets.nets);

	/* an empty list trusts nobody */
	assert_int_equal(limiter_nets_parse(NULL, 0, &nets, &bad), 0);
	a = addr("127.0.0.1");
	assert_false(limiter_nets_match(&nets, &a));
	limiter_nets_deinit(&nets);
}

static void
test_nets_parse_names_bad_item(void **unused)
{
	static const char *const items[] = {
		"127.0.0.0/8", "10.0.0.1/8", "::1",
	};
	struct limiter_nets nets = { 7, NULL };
	const char *bad = NULL;

	assert_int_equal(limiter_nets_parse(items, 3, &nets, &bad), -EINVAL);
	assert_string_equal(bad, "10.0.0.1/8");
	/* untouched on error */
	assert_int_equal(nets.n, 7);
}

/* ---- keys and families ---- */

static void
test_protocol_family(void **unused)
{
	assert_string_equal(limiter_protocol_family("imap"), "imap");
	assert_string_equal(limiter_protocol_family("IMAPS"), "imap");
	assert_string_equal(limiter_protocol_family("pop3"), "pop3");
	assert_string_equal(limiter_protocol_family("pop3s"), "pop3");
	assert_string_equal(limiter_protocol_family("smtp"), "smtp");
	assert_string_equal(limiter_protocol_family("submission"), "smtp");
	assert_string_equal(limiter_protocol_family("smtps"), "smtp");
	assert_string_equal(limiter_protocol_family("sieve"), "sieve");
	assert_string_equal(limiter_protocol_family("imap4"), "imap4");
	assert_string_equal(limiter_protocol_family(""), "");
	assert_string_equal(limiter_protocol_family(NULL), "");
}

static void
test_key_layout(void **unused)
{
	struct limiter_key a = key('U', "192.0.2.1", 128, "imap",
	    "Alice@Example.COM");
	struct limiter_key b = key('U', "192.0.2.1", 128, "imap",
	    "alice@example.com");
	struct limiter_key c = key('U', "192.0.2.1", 128, "imapa",
	    "lice@example.com");
	struct limiter_key d = key('P', "192.0.2.1", 128, "imap",
	    "alice@example.com");

	assert_int_equal(a.len, 2 + 16 + 4 + 1 + 17);
	assert_int_equal(a.bytes[0], 'U');
	assert_int_equal(a.bytes[1], AF_INET);
	/* case folds; the separator keeps "imap"+"alice" from "imapa"+"lice" */
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.bytes, b.bytes, a.len);
	assert_int_equal(a.len, c.len);
	assert_memory_not_equal(a.bytes, c.bytes, a.len);
	assert_memory_not_equal(a.bytes, d.bytes, a.len);
	limiter_key_free(&a);
	limiter_key_free(&b);
	limiter_key_free(&c);
	limiter_key_free(&d);
	assert_null(a.bytes);
	assert_int_equal(a.len, 0);
	limiter_key_free(&a);	/* twice is harmless */
}

/* ---- counts ---- */

static void
test_count_cap(void **unused)
{
	struct limiter_table *t;
	struct limiter_key k = key('U', "127.0.0.1", 128, "imap", "alice");
	uint32_t count = 99;
	int i;

	assert_int_equal(limiter_table_new(seed0, &t), 0);
	assert_int_equal(limiter_count_get(t, &k), 0);
	for (i = 0; i < 25; i++) {
		assert_int_equal(limiter_count_take(t, &k, 25, false, &count),
		    1);
		assert_int_equal(count, i);
	}
	assert_int_equal(limiter_count_take(t, &k, 25, false, &count), 0);
	assert_int_equal(count, 25);
	assert_int_equal(limiter_count_get(t, &k), 25);
	assert_int_equal(limiter_table_size(t), 1);

	/* one leaves, one more may come */
	assert_int_equal(limiter_count_release(t, &k), 0);
	assert_int_equal(limiter_count_take(t, &k, 25, false, NULL), 1);
	assert_int_equal(limiter_count_take(t, &k, 25, false, NULL), 0);

	/* force passes the cap (a session that is already in) */
	assert_int_equal(limiter_count_take(t, &k, 25, true, &count), 1);
	assert_int_equal(count, 25);
	assert_int_equal(limiter_count_get(t, &k), 26);

	/* a lower cap after a reload: refused until below it */
	assert_int_equal(limiter_count_take(t, &k, 2, false, NULL), 0);

	for (i = 0; i < 26; i++)
		assert_int_equal(limiter_count_release(t, &k), 0);
	assert_int_equal(limiter_table_size(t), 0);
	assert_int_equal(limiter_count_get(t, &k), 0);
	/* released once too often: reported, nothing goes negative */
	assert_int_equal(limiter_count_release(t, &k), -ENOENT);
	assert_int_equal(limiter_table_size(t), 0);

	/* limit 0: no cap */
	for (i = 0; i < 1000; i++)
		assert_int_equal(limiter_count_take(t, &k, 0, false, NULL), 1);
	assert_int_equal(limiter_count_get(t, &k), 1000);

	limiter_key_free(&k);
	limiter_table_free(&t);
	assert_null(t);
	limiter_table_free(&t);
}

static void
test_count_separation(void **unused)
{
	struct limiter_table *t;
	struct limiter_key imap = key('U', "127.0.0.1", 128,
	    limiter_protocol_family("imap"), "alice");
	struct limiter_key imaps = key('U', "127.0.0.1", 128,
	    limiter_protocol_family("imaps"), "alice");
	struct limiter_key pop3 = key('U', "127.0.0.1", 128,
	    limiter_protocol_family("pop3"), "alice");
	struct limiter_key bob = key('U', "127.0.0.1", 128, "imap", "bob");
	struct limiter_key ip2 = key('U', "127.0.0.2", 128, "imap", "alice");
	struct limiter_key v6a = key('U', "2001:db8::1", 64, "imap", "alice");
	struct limiter_key v6b = key('U', "2001:db8::2", 64, "imap", "alice");
	struct limiter_key v6c = key('U', "2001:db8::2", 128, "imap",
	    "alice");
	int i;

	assert_int_equal(limiter_table_new(seed0, &t), 0);
	for (i = 0; i < 3; i++)
		assert_int_equal(limiter_count_take(t, &imap, 5, false, NULL),
		    1);
	for (i = 0; i < 2; i++)
		assert_int_equal(limiter_count_take(t, &imaps, 5, false,
		    NULL), 1);
	/* imap and imaps are one count */
	assert_int_equal(limiter_count_take(t, &imap, 5, false, NULL), 0);
	assert_int_equal(limiter_count_get(t, &imaps), 5);
	/* others are untouched */
	assert_int_equal(limiter_count_take(t, &pop3, 5, false, NULL), 1);
	assert_int_equal(limiter_count_take(t, &bob, 5, false, NULL), 1);
	assert_int_equal(limiter_count_take(t, &ip2, 5, false, NULL), 1);
	/* one /64, one count; per address a count of its own */
	assert_int_equal(limiter_count_take(t, &v6a, 1, false, NULL), 1);
	assert_int_equal(limiter_count_take(t, &v6b, 1, false, NULL), 0);
	assert_int_equal(limiter_count_take(t, &v6c, 1, false, NULL), 1);
	assert_int_equal(limiter_table_size(t), 6);

	limiter_key_free(&imap);
	limiter_key_free(&imaps);
	limiter_key_free(&pop3);
	limiter_key_free(&bob);
	limiter_key_free(&ip2);
	limiter_key_free(&v6a);
	limiter_key_free(&v6b);
	limiter_key_free(&v6c);
	limiter_table_free(&t);
}

static void
test_count_many(void **unused)
{
	enum { N = 20000 };
	struct limiter_table *t;
	struct limiter_key k;
	struct limiter_addr a;
	char user[32];
	int i;

	assert_int_equal(limiter_table_new(seed0, &t), 0);
	a = addr("2001:db8::1");
	for (i = 0; i < N; i++) {
		snprintf(user, sizeof(user), "u%d", i);
		assert_int_equal(limiter_key_new('U', &a, "imap", user, &k),
		    0);
		assert_int_equal(limiter_count_take(t, &k, 2, false, NULL), 1);
		if (i % 2 == 0)
			assert_int_equal(limiter_count_take(t, &k, 2, false,
			    NULL), 1);
		limiter_key_free(&k);
	}
	assert_int_equal(limiter_table_size(t), N);
	for (i = 0; i < N; i++) {
		snprintf(user, sizeof(user), "u%d", i);
		assert_int_equal(limiter_key_new('U', &a, "imap", user, &k),
		    0);
		assert_int_equal(limiter_count_get(t, &k), i % 2 == 0 ? 2 : 1);
		assert_int_equal(limiter_count_take(t, &k, 2, false, NULL),
		    i % 2 == 0 ? 0 : 1);
		assert_int_equal(limiter_count_release(t, &k), 0);
		assert_int_equal(limiter_count_release(t, &k), 0);
		assert_int_equal(limiter_count_release(t, &k), -ENOENT);
		limiter_key_free(&k);
	}
	assert_int_equal(limiter_table_size(t), 0);
	limiter_table_free(&t);
}

/* ---- failure scores ---- */

static const struct limiter_fail_policy policy_default = {
	.delay_after = 3,
	.max_delay_ms = 15000,
	.block_after = 20,
	.block_ms = 10 * 60 * 1000,
	.half_life_ms = 10 * 60 * 1000,
};

static void
test_fail_decay_math(void **unused)
{
	const uint64_t h = 600000;

	assert_true(limiter_fail_decay(8, 0, h) == 8);
	assert_true(fabs(limiter_fail_decay(8, h, h) - 4) < 1e-9);
	assert_true(fabs(limiter_fail_decay(8, 2 * h, h) - 2) < 1e-9);
	assert_true(fabs(limiter_fail_decay(8, h / 2, h) - 8 / sqrt(2)) <
	    1e-9);
	assert_true(limiter_fail_decay(8, UINT64_MAX, h) == 0);
	assert_true(limiter_fail_decay(8, 1, 0) == 0);
	assert_true(limiter_fail_decay(8, 0, 0) == 8);
}

static void
test_fail_delay_curve(void **unused)
{
	struct limiter_fail_policy p = policy_default;

	assert_int_equal(limiter_fail_delay(0, &p), 0);
	assert_int_equal(limiter_fail_delay(2, &p), 0);
	assert_int_equal(limiter_fail_delay(2.49, &p), 0);
	assert_int_equal(limiter_fail_delay(2.5, &p), 1000);
	assert_int_equal(limiter_fail_delay(3, &p), 1000);
	assert_int_equal(limiter_fail_delay(4, &p), 2000);
	assert_int_equal(limiter_fail_delay(5, &p), 4000);
	assert_int_equal(limiter_fail_delay(6, &p), 8000);
	assert_int_equal(limiter_fail_delay(7, &p), 15000);
	assert_int_equal(limiter_fail_delay(100, &p), 15000);
	assert_int_equal(limiter_fail_delay(1e12, &p), 15000);
	assert_int_equal(limiter_fail_delay(-1, &p), 0);
	assert_int_equal(limiter_fail_delay(NAN, &p), 0);

	p.max_delay_ms = 1500;
	assert_int_equal(limiter_fail_delay(3, &p), 1000);
	assert_int_equal(limiter_fail_delay(4, &p), 1500);
	p.max_delay_ms = 0;
	assert_int_equal(limiter_fail_delay(10, &p), 0);
	p = policy_default;
	p.delay_after = 0;
	assert_int_equal(limiter_fail_delay(10, &p), 0);
	p.delay_after = 1;
	assert_int_equal(limiter_fail_delay(1, &p), 1000);
}

static void
test_fail_delay_then_block(void **unused)
{
	const struct limiter_fail_policy *p = &policy_default;
	struct limiter_table *t;
	struct limiter_key k = key('F', "203.0.113.9", 64, NULL, NULL);
	struct limiter_key other = key('F', "203.0.113.10", 64, NULL, NULL);
	uint64_t now = 1000000, delay = 1;
	double score = -1;
	int i;

	assert_int_equal(limiter_table_new(seed0, &t), 0);
	assert_int_equal(limiter_fail_check(t, &k, p, now, &delay, &score),
	    LIMITER_FAIL_OK);
	assert_int_equal(delay, 0);
	assert_true(score == 0);

	/* two failures: still full speed */
	for (i = 0; i < 2; i++)
		assert_int_equal(limiter_fail_record(t, &k, p, now, NULL), 0);
	assert_int_equal(limiter_fail_check(t, &k, p, now, &delay, NULL),
	    LIMITER_FAIL_OK);
	/* the third slows the next attempt by 1s, the fourth by 2s */
	assert_int_equal(limiter_fail_record(t, &k, p, now, &score), 0);
	assert_true(score == 3);
	assert_int_equal(limiter_fail_check(t, &k, p, now, &delay, NULL),
	    LIMITER_FAIL_DELAY);
	assert_int_equal(delay, 1000);
	assert_int_equal(limiter_fail_record(t, &k, p, now, NULL), 0);
	assert_int_equal(limiter_fail_check(t, &k, p, now, &delay, NULL),
	    LIMITER_FAIL_DELAY);
	assert_int_equal(delay, 2000);
	/* another address is not slowed */
	assert_int_equal(limiter_fail_check(t, &other, p, now, &delay, NULL),
	    LIMITER_FAIL_OK);

	/* a minute later four failures still count as four (3.73 rounds) */
	now += 60000;
	assert_int_equal(limiter_fail_check(t, &k, p, now, &delay, &score),
	    LIMITER_FAIL_DELAY);
	assert_int_equal(delay, 2000);
	assert_true(score > 3.7 && score < 3.8);

	/* up to the 20th failure in quick succession: blocked for 10m */
	for (i = 4; i < 19; i++)
		assert_int_equal(limiter_fail_record(t, &k, p, now, NULL), 0);
	assert_int_equal(limiter_fail_check(t, &k, p, now, &delay, NULL),
	    LIMITER_FAIL_DELAY);
	assert_int_equal(delay, 15000);
	assert_int_equal(limiter_fail_record(t, &k, p, now, &score), 1);
	assert_true(score >= 19.5 && score < 20);
	assert_int_equal(limiter_fail_check(t, &k, p, now, &delay, NULL),
	    LIMITER_FAIL_BLOCKED);
	assert_int_equal(delay, 600000);
	/* failures counted during the block do not extend it */
	assert_int_equal(limiter_fail_record(t, &k, p, now + 1000, NULL), 0);
	assert_int_equal(limiter_fail_check(t, &k, p, now + 599999, &delay,
	    NULL), LIMITER_FAIL_BLOCKED);
	assert_int_equal(delay, 1);
	/* the other address is still untouched */
	assert_int_equal(limiter_fail_check(t, &other, p, now, NULL, NULL),
	    LIMITER_FAIL_OK);

	/* after the block: score ~10.5, still slowed to the maximum */
	now += 600000;
	assert_int_equal(limiter_fail_check(t, &k, p, now, &delay, &score),
	    LIMITER_FAIL_DELAY);
	assert_int_equal(delay, 15000);
	assert_true(score > 10 && score < 11);
	/* ten minutes on (~5.25): 4s */
	now += 600000;
	assert_int_equal(limiter_fail_check(t, &k, p, now, &delay, &score),
	    LIMITER_FAIL_DELAY);
	assert_int_equal(delay, 4000);
	/* half an hour on (~0.66): full speed, remembered */
	now += 1800000;
	assert_int_equal(limiter_fail_check(t, &k, p, now, &delay, &score),
	    LIMITER_FAIL_OK);
	assert_int_equal(limiter_table_size(t), 1);
	/* an hour on (~0.04): forgotten, the entry is gone */
	now += 3600000;
	assert_int_equal(limiter_fail_check(t, &k, p, now, &delay, &score),
	    LIMITER_FAIL_OK);
	assert_true(score == 0);
	assert_int_equal(limiter_table_size(t), 0);

	limiter_key_free(&k);
	limiter_key_free(&other);
	limiter_table_free(&t);
}

static void
test_fail_reblock_after_expiry(void **unused)
{
	struct limiter_fail_policy p = policy_default;
	struct limiter_table *t;
	struct limiter_key k = key('F', "2001:db8:5::1", 64, NULL, NULL);
	uint64_t now = 5;
	int i;

	p.block_after = 4;
	p.block_ms = 1000;
	assert_int_equal(limiter_table_new(seed0, &t), 0);
	for (i = 0; i < 3; i++)
		assert_int_equal(limiter_fail_record(t, &k, &p, now, NULL), 0);
	assert_int_equal(limiter_fail_record(t, &k, &p, now, NULL), 1);
	assert_int_equal(limiter_fail_check(t, &k, &p, now + 999, NULL, NULL),
	    LIMITER_FAIL_BLOCKED);
	assert_int_equal(limiter_fail_check(t, &k, &p, now + 1000, NULL,
	    NULL), LIMITER_FAIL_DELAY);
	/* the score is still at the threshold: the next failure blocks again */
	assert_int_equal(limiter_fail_record(t, &k, &p, now + 1000, NULL), 1);
	assert_int_equal(limiter_fail_check(t, &k, &p, now + 1500, NULL,
	    NULL), LIMITER_FAIL_BLOCKED);

	/* blocking off: no block however many failures */
	p.block_after = 0;
	limiter_key_free(&k);
	k = key('F', "192.0.2.1", 64, NULL, NULL);
	for (i = 0; i < 100; i++)
		assert_int_equal(limiter_fail_record(t, &k, &p, now, NULL), 0);
	assert_int_equal(limiter_fail_check(t, &k, &p, now, NULL, NULL),
	    LIMITER_FAIL_DELAY);
	/* block_time 0 also means no block */
	p.block_after = 1;
	p.block_ms = 0;
	assert_int_equal(limiter_fail_record(t, &k, &p, now, NULL), 0);
	assert_int_equal(limiter_fail_check(t, &k, &p, now, NULL, NULL),
	    LIMITER_FAIL_DELAY);

	limiter_key_free(&k);
	limiter_table_free(&t);
}

static void
test_fail_sweep(void **unused)
{
	struct limiter_fail_policy p = policy_default;
	struct limiter_table *t;
	struct limiter_key k;
	struct limiter_addr a;
	char ip[64];
	int i;

	p.block_after = 2;
	p.block_ms = 24 * 3600 * 1000;	/* outlives the score */
	p.half_life_ms = 1000;
	assert_int_equal(limiter_table_new(seed0, &t), 0);
	for (i = 0; i < 5000; i++) {
		snprintf(ip, sizeof(ip), "2001:db8:%x::1", i);
		a = addr(ip);
		limiter_addr_mask(&a, 64);
		assert_int_equal(limiter_key_new('F', &a, NULL, NULL, &k), 0);
		assert_int_equal(limiter_fail_record(t, &k, &p, 0, NULL), 0);
		if (i < 10)
			assert_int_equal(limiter_fail_record(t, &k, &p, 0,
			    NULL), 1);
		limiter_key_free(&k);
	}
	assert_int_equal(limiter_table_size(t), 5000);
	/* nothing decayed yet */
	assert_int_equal(limiter_fail_sweep(t, &p, 0), 0);
	/* one half-life: 0.5 and 1.0 stay */
	assert_int_equal(limiter_fail_sweep(t, &p, 1000), 0);
	/* 5 half-lives: 1/32 < 0.05; the ten blocked ones stay */
	assert_int_equal(limiter_fail_sweep(t, &p, 5000), 4990);
	assert_int_equal(limiter_table_size(t), 10);
	/* their block over, they go too */
	assert_int_equal(limiter_fail_sweep(t, &p, p.block_ms), 10);
	assert_int_equal(limiter_table_size(t), 0);
	limiter_table_free(&t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_siphash_vectors),
		cmocka_unit_test(test_addr_mapped_and_unspec),
		cmocka_unit_test(test_addr_mask_v6),
		cmocka_unit_test(test_net_parse_valid),
		cmocka_unit_test(test_net_parse_invalid),
		cmocka_unit_test(test_nets_match),
		cmocka_unit_test(test_nets_parse_names_bad_item),
		cmocka_unit_test(test_protocol_family),
		cmocka_unit_test(test_key_layout),
		cmocka_unit_test(test_count_cap),
		cmocka_unit_test(test_count_separation),
		cmocka_unit_test(test_count_many),
		cmocka_unit_test(test_fail_decay_math),
		cmocka_unit_test(test_fail_delay_curve),
		cmocka_unit_test(test_fail_delay_then_block),
		cmocka_unit_test(test_fail_reblock_after_expiry),
		cmocka_unit_test(test_fail_sweep),
	};

	return cmocka_run_group_tests_name("limiter_table", tests, NULL,
	    NULL);
}
