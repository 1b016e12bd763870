/* test_queue_wire.c: reply parser, EHLO, dot-stuffing, xtext */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "queue_wire.h"

/* Feeds input in pieces of at most step bytes (split at offset split
   first when non-zero); collects "code:line|line" per reply. */
static int
feed_all(const char *in, size_t step, size_t split, char *out, size_t cap)
{
	struct qwire_parser *p = malloc(sizeof(*p));
	size_t len = strlen(in), off = 0, o = 0;
	int replies = 0;

	assert_non_null(p);
	qwire_parser_init(p);
	out[0] = '\0';
	while (off < len) {
		size_t n = len - off, used = 0, i;
		enum qwire_result r;

		if (split != 0 && off < split && n > split - off)
			n = split - off;
		else if (step != 0 && n > step)
			n = step;
		r = qwire_feed(p, (const uint8_t *)in + off, n, &used);
		off += used;
		if (r == QWIRE_ERROR) {
			free(p);
			return -1;
		}
		if (r != QWIRE_REPLY)
			continue;
		replies++;
		o += (size_t)snprintf(out + o, cap - o, "%d:", p->reply.code);
		for (i = 0; i < p->reply.n_lines; i++)
			o += (size_t)snprintf(out + o, cap - o, "%s%s",
			    i > 0 ? "|" : "", p->reply.lines[i]);
		o += (size_t)snprintf(out + o, cap - o, ";");
	}
	free(p);
	return replies;
}

static void
test_replies_any_split(void **state)
{
	const char *in = "220 mx.example ESMTP\r\n"
	    "250-mx.example\r\n250-PIPELINING\r\n250-SIZE 1000\r\n"
	    "250 8BITMIME\r\n"
	    "550 5.1.1 no such user\n"	/* bare LF tolerated */
	    "354\r\n";
	const char *want = "220:mx.example ESMTP;"
	    "250:mx.example|PIPELINING|SIZE 1000|8BITMIME;"
	    "550:5.1.1 no such user;354:;";
	char got[1024];
	size_t i, len = strlen(in);

	assert_int_equal(feed_all(in, 0, 0, got, sizeof(got)), 4);
	assert_string_equal(got, want);
	assert_int_equal(feed_all(in, 1, 0, got, sizeof(got)), 4);
	assert_string_equal(got, want);
	for (i = 1; i < len; i++) {
		assert_int_equal(feed_all(in, 0, i, got, sizeof(got)), 4);
		assert_string_equal(got, want);
	}
}

static void
test_reply_errors(void **state)
{
	char got[256], *big;

	assert_int_equal(feed_all("hello\r\n", 0, 0, got, sizeof(got)), -1);
	assert_int_equal(feed_all("250-a\r\n251 b\r\n", 0, 0, got,
	    sizeof(got)), -1);
	assert_int_equal(feed_all("600 x\r\n", 0, 0, got, sizeof(got)), -1);
	assert_int_equal(feed_all("25\r\n", 0, 0, got, sizeof(got)), -1);
	assert_int_equal(feed_all("250x\r\n", 0, 0, got, sizeof(got)), -1);
	/* an endless line is an error, not an allocation */
	big = malloc(QWIRE_LINE_MAX + 100);
	assert_non_null(big);
	memset(big, 'a', QWIRE_LINE_MAX + 90);
	memcpy(big, "250 ", 4);
	strcpy(big + QWIRE_LINE_MAX + 90, "\r\n");
	assert_int_equal(feed_all(big, 0, 0, got, sizeof(got)), -1);
	free(big);
}

static void
test_too_many_lines(void **state)
{
	char *in = malloc(10 * (QWIRE_LINES_MAX + 2)), got[256];
	size_t i, o = 0;

	assert_non_null(in);
	for (i = 0; i < QWIRE_LINES_MAX + 1; i++)
		o += (size_t)sprintf(in + o, "250-x\r\n");
	sprintf(in + o, "250 y\r\n");
	assert_int_equal(feed_all(in, 0, 0, got, sizeof(got)), -1);
	free(in);
}

static struct qwire_reply *
one_reply(const char *in)
{
	static struct qwire_parser p;
	size_t used;

	qwire_parser_init(&p);
	assert_int_equal(qwire_feed(&p, (const uint8_t *)in, strlen(in),
	    &used), QWIRE_REPLY);
	return &p.reply;
}

static void
test_status_and_summary(void **state)
{
	char buf[64];

	qwire_reply_status(one_reply("550 5.1.1 <x@y>: no\r\n"), buf,
	    sizeof(buf));
	assert_string_equal(buf, "5.1.1");
	qwire_reply_status(one_reply("451 4.7.650 greylisted\r\n"), buf,
	    sizeof(buf));
	assert_string_equal(buf, "4.7.650");
	qwire_reply_status(one_reply("450 mailbox busy\r\n"), buf,
	    sizeof(buf));
	assert_string_equal(buf, "4.0.0");
	/* a status of another class than the code is not believed */
	qwire_reply_status(one_reply("550 4.1.1 odd\r\n"), buf, sizeof(buf));
	assert_string_equal(buf, "5.0.0");
	qwire_reply_status(one_reply("250 2.0.0\r\n"), buf, sizeof(buf));
	assert_string_equal(buf, "2.0.0");
	qwire_reply_summary(one_reply("550-5.1.1 first\r\n550 second\x01\r\n"),
	    buf, sizeof(buf));
	assert_string_equal(buf, "550 5.1.1 first second?");
	qwire_reply_summary(one_reply("250 abcdefghijklmnop\r\n"), buf, 10);
	assert_string_equal(buf, "250 abcde");
}

static void
test_ehlo(void **state)
{
	struct qwire_caps c;

	qwire_parse_ehlo(one_reply("250-mx.example hello\r\n"
	    "250-pipelining\r\n250-SIZE 10240000\r\n250-8BITMIME\r\n"
	    "250-STARTTLS\r\n250-AUTH LOGIN PLAIN\r\n250-SMTPUTF8\r\n"
	    "250 DSN\r\n"), &c);
	assert_true(c.pipelining && c.size && c.eightbitmime && c.starttls);
	assert_true(c.auth_login && c.auth_plain && c.smtputf8 && c.dsn);
	assert_int_equal(c.size_max, 10240000);
	qwire_parse_ehlo(one_reply("250-PIPELINING\r\n250-SIZE\r\n"
	    "250-AUTH=LOGIN\r\n250-STARTTLSX\r\n250 X-PIPELINING\r\n"), &c);
	/* the first line is the greeting, never a keyword */
	assert_false(c.pipelining);
	assert_true(c.size);
	assert_int_equal(c.size_max, 0);
	assert_true(c.auth_login);
	assert_false(c.auth_plain || c.starttls);
	qwire_parse_ehlo(one_reply("250 only.a.name\r\n"), &c);
	assert_false(c.pipelining || c.size || c.starttls);
}

/* Encodes in whole, byte by byte and split at every offset. */
static void
dot_check(const char *in, size_t len, const char *want)
{
	uint8_t out[4096];
	size_t split, n, wl = strlen(want);

	for (split = 0; split <= len; split++) {
		struct qwire_dot d;

		qwire_dot_init(&d);
		n = qwire_dot_encode(&d, (const uint8_t *)in, split, out);
		assert_true(n <= QWIRE_DOT_OUT_MAX(split));
		n += qwire_dot_encode(&d, (const uint8_t *)in + split,
		    len - split, out + n);
		n += qwire_dot_finish(&d, out + n);
		assert_int_equal(n, wl);
		assert_memory_equal(out, want, wl);
	}
	{
		struct qwire_dot d;
		size_t i;

		qwire_dot_init(&d);
		for (i = n = 0; i < len; i++)
			n += qwire_dot_encode(&d, (const uint8_t *)in + i, 1,
			    out + n);
		n += qwire_dot_finish(&d, out + n);
		assert_int_equal(n, wl);
		assert_memory_equal(out, want, wl);
	}
}

static void
test_dot_stuffing(void **state)
{
	dot_check("a\r\n.b\r\n..c\r\n.\r\nend\r\n", 20,
	    "a\r\n..b\r\n...c\r\n..\r\nend\r\n.\r\n");
	dot_check(".first\r\n", 8, "..first\r\n.\r\n");
	/* no final line end: one is added before the dot */
	dot_check("x", 1, "x\r\n.\r\n");
	dot_check("", 0, ".\r\n");
	/* bare LF and bare CR become CRLF: no smuggled end of data */
	dot_check("a\n.\nb", 5, "a\r\n..\r\nb\r\n.\r\n");
	dot_check("a\r.\rb\r", 6, "a\r\n..\r\nb\r\n.\r\n");
	dot_check("a\r\r\n.", 5, "a\r\n\r\n..\r\n.\r\n");
	dot_check("\r\n.\r\n", 5, "\r\n..\r\n.\r\n");
	dot_check("mid.dot\r\n", 9, "mid.dot\r\n.\r\n");
}

static void
test_xtext(void **state)
{
	char out[64];

	assert_string_equal(qwire_xtext("abc", out), "abc");
	assert_string_equal(qwire_xtext("a+b=c d", out), "a+2Bb+3Dc+20d");
	assert_string_equal(qwire_xtext("\x01\xff", out), "+01+FF");
	assert_string_equal(qwire_xtext("", out), "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_replies_any_split),
		cmocka_unit_test(test_reply_errors),
		cmocka_unit_test(test_too_many_lines),
		cmocka_unit_test(test_status_and_summary),
		cmocka_unit_test(test_ehlo),
		cmocka_unit_test(test_dot_stuffing),
		cmocka_unit_test(test_xtext),
	};

	return cmocka_run_group_tests_name("queue_wire", tests, NULL, NULL);
}
