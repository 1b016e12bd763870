/* test_smtp_trace.c: trace fields, Date, Message-ID, header scan */
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

#include "smtp_trace.h"

static void
test_date(void **state)
{
	char buf[SMTP_TRACE_DATE_MAX];

	(void)state;
	/* 2026-11-27 07:35:58 UTC was a Friday */
	assert_int_equal(smtp_trace_date(1795764958, 0, buf, sizeof(buf)),
	    31);
	assert_string_equal(buf, "Fri, 27 Nov 2026 07:35:58 +0000");
	assert_int_equal(smtp_trace_date(1795764958, 3600 + 1800, buf,
	    sizeof(buf)), 31);
	assert_string_equal(buf, "Fri, 27 Nov 2026 09:05:58 +0130");
	assert_int_equal(smtp_trace_date(1795764958, -8 * 3600, buf,
	    sizeof(buf)), 31);
	assert_string_equal(buf, "Thu, 26 Nov 2026 23:35:58 -0800");
	assert_int_equal(smtp_trace_date(0, 0, buf, sizeof(buf)), 30);
	assert_string_equal(buf, "Thu, 1 Jan 1970 00:00:00 +0000");
	assert_int_equal(smtp_trace_date(0, 0, buf, 10), -ENOSPC);
}

static void
test_with(void **state)
{
	(void)state;
	assert_string_equal(smtp_trace_with(false, false, false, false),
	    "SMTP");
	assert_string_equal(smtp_trace_with(true, false, false, false),
	    "ESMTP");
	assert_string_equal(smtp_trace_with(true, true, false, false),
	    "ESMTPS");
	assert_string_equal(smtp_trace_with(true, false, true, false),
	    "ESMTPA");
	assert_string_equal(smtp_trace_with(true, true, true, false),
	    "ESMTPSA");
	assert_string_equal(smtp_trace_with(true, true, true, true),
	    "UTF8SMTPSA");
	assert_string_equal(smtp_trace_with(true, false, false, true),
	    "UTF8SMTP");
}

static void
test_received(void **state)
{
	struct smtp_received r;
	char buf[1024];

	(void)state;
	memset(&r, 0, sizeof(r));
	r.helo = "client.test";
	r.ip = "192.0.2.1";
	r.by = "mail.test";
	r.with = "ESMTPSA";
	r.id = "abcd-1";
	r.tls = "TLS1.3 cipher=AES-256-GCM";
	r.rcpt = "bob@example.com";
	r.date = "Fri, 27 Nov 2026 07:35:58 +0000";
	assert_true(smtp_trace_received(&r, buf, sizeof(buf)) > 0);
	assert_string_equal(buf,
	    "Received: from client.test ([192.0.2.1])\r\n"
	    "\tby mail.test (Posta) with ESMTPSA id abcd-1\r\n"
	    "\t(using TLS1.3 cipher=AES-256-GCM)\r\n"
	    "\tfor <bob@example.com>;\r\n"
	    "\tFri, 27 Nov 2026 07:35:58 +0000\r\n");

	/* several recipients, no TLS, IPv6, no HELO name */
	r.helo = NULL;
	r.ip = "2001:db8::1";
	r.tls = NULL;
	r.rcpt = NULL;
	r.with = "ESMTP";
	assert_true(smtp_trace_received(&r, buf, sizeof(buf)) > 0);
	assert_string_equal(buf,
	    "Received: from [IPv6:2001:db8::1] ([IPv6:2001:db8::1])\r\n"
	    "\tby mail.test (Posta) with ESMTP id abcd-1;\r\n"
	    "\tFri, 27 Nov 2026 07:35:58 +0000\r\n");

	/* comment syntax stripped from the TLS text */
	r.tls = "TLS(1.3)\\x\r\n";
	assert_true(smtp_trace_received(&r, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "\t(using TLS1.3x);\r\n"));

	/* UTF-8 HELO and recipient only in an SMTPUTF8 message */
	r.tls = NULL;
	r.helo = "b\xc3\xbc" "cher.test";
	r.rcpt = "j\xc3\xb6rg@example.com";
	assert_true(smtp_trace_received(&r, buf, sizeof(buf)) > 0);
	assert_null(strstr(buf, "\xc3"));
	assert_non_null(strstr(buf, "from [IPv6:2001:db8::1]"));
	r.utf8 = true;
	assert_true(smtp_trace_received(&r, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "from b\xc3\xbc" "cher.test"));
	assert_non_null(strstr(buf, "for <j\xc3\xb6rg@example.com>"));

	assert_int_equal(smtp_trace_received(&r, buf, 40), -ENOSPC);
}

static void
test_return_path_msgid(void **state)
{
	char buf[256];

	(void)state;
	assert_int_equal(smtp_trace_return_path("a@b.example", buf,
	    sizeof(buf)), 28);
	assert_string_equal(buf, "Return-Path: <a@b.example>\r\n");
	smtp_trace_return_path("", buf, sizeof(buf));
	assert_string_equal(buf, "Return-Path: <>\r\n");
	assert_int_equal(smtp_trace_return_path("a@b", buf, 5), -ENOSPC);

	assert_true(smtp_trace_msgid(1795764958, 0x0123456789abcdefULL,
	    "abcd-1", "mail.test", buf, sizeof(buf)) > 0);
	assert_string_equal(buf,
	    "<20261127073558.0123456789abcdef.abcd-1@mail.test>");
	assert_int_equal(smtp_trace_msgid(0, 1, "x", "h", buf, 8), -ENOSPC);
}

/* ---- header scan ---- */

/* Runs msg through the scan in pieces of step bytes (0: whole) and
   returns the message with the fields inserted where the scan says. */
static char *
scan(const char *msg, size_t step, struct smtp_hdrscan *h)
{
	size_t len = strlen(msg), off = 0;
	char fields[256], *out;
	int n;

	smtp_hdrscan_init(h);
	while (off < len) {
		size_t k = step == 0 || len - off < step ? len - off : step;

		smtp_hdrscan_feed(h, (const uint8_t *)msg + off, k);
		off += k;
	}
	smtp_hdrscan_finish(h);
	assert_true(h->done);
	n = smtp_hdrscan_fields(h, "DATE", "<ID>", fields, sizeof(fields));
	assert_true(n >= 0);
	assert_true(h->end_off <= len);
	out = malloc(len + (size_t)n + 1);
	assert_non_null(out);
	memcpy(out, msg, (size_t)h->end_off);
	memcpy(out + h->end_off, fields, (size_t)n);
	memcpy(out + h->end_off + n, msg + h->end_off,
	    len - (size_t)h->end_off);
	out[len + (size_t)n] = '\0';
	return out;
}

static void
check_scan(const char *msg, const char *want)
{
	static const size_t steps[] = { 0, 1, 2, 3, 7 };
	struct smtp_hdrscan h;
	size_t i;

	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		char *got = scan(msg, steps[i], &h);

		if (strcmp(got, want) != 0)
			fail_msg("step %zu: got \"%s\" want \"%s\"", steps[i],
			    got, want);
		free(got);
	}
}

static void
test_hdrscan(void **state)
{
	(void)state;
	/* the common case: both added before the empty line */
	check_scan("Subject: x\r\nFrom: a@b\r\n\r\nbody\r\n",
	    "Subject: x\r\nFrom: a@b\r\nDate: DATE\r\nMessage-ID: <ID>\r\n"
	    "\r\nbody\r\n");
	/* present fields (any case, blanks before the colon) are kept */
	check_scan("DATE: now\r\nmessage-id : <m>\r\n\r\nbody\r\n",
	    "DATE: now\r\nmessage-id : <m>\r\n\r\nbody\r\n");
	check_scan("Date: now\r\n\r\n",
	    "Date: now\r\nMessage-ID: <ID>\r\n\r\n");
	/* folded fields: a continuation is still header */
	check_scan("Subject: a\r\n b\r\n\tc\r\n\r\nDate: in body\r\n",
	    "Subject: a\r\n b\r\n\tc\r\nDate: DATE\r\nMessage-ID: <ID>\r\n"
	    "\r\nDate: in body\r\n");
	/* bare LF line ends (BDAT data) */
	check_scan("Subject: x\n\nbody\n",
	    "Subject: x\nDate: DATE\r\nMessage-ID: <ID>\r\n\nbody\n");
	/* no header at all: fields and an empty line first */
	check_scan("hello world\r\n",
	    "Date: DATE\r\nMessage-ID: <ID>\r\n\r\nhello world\r\n");
	/* a line that is not a field ends the header: body from there */
	check_scan("Subject: x\r\nnot a header\r\nmore\r\n",
	    "Subject: x\r\nDate: DATE\r\nMessage-ID: <ID>\r\n\r\n"
	    "not a header\r\nmore\r\n");
	/* a continuation without a field before it is not header */
	check_scan(" leading\r\n",
	    "Date: DATE\r\nMessage-ID: <ID>\r\n\r\n leading\r\n");
	/* header only: fields at the end */
	check_scan("Subject: x\r\n",
	    "Subject: x\r\nDate: DATE\r\nMessage-ID: <ID>\r\n");
	/* header only, last line unterminated */
	check_scan("Subject: x",
	    "Subject: x\r\nDate: DATE\r\nMessage-ID: <ID>\r\n");
	/* empty message */
	check_scan("", "Date: DATE\r\nMessage-ID: <ID>\r\n");
	/* a field name that only starts like ours */
	check_scan("Dates: x\r\nMessage-IDs: y\r\n\r\n",
	    "Dates: x\r\nMessage-IDs: y\r\nDate: DATE\r\nMessage-ID: <ID>\r\n"
	    "\r\n");
	/* a line of one CR and more is not the empty line */
	check_scan("A: b\r\n\rx\r\n\r\n",
	    "A: b\r\nDate: DATE\r\nMessage-ID: <ID>\r\n\r\n\rx\r\n\r\n");
	/* 8-bit in a field name ends the header */
	check_scan("Sub\xc3\xa9: x\r\n\r\n",
	    "Date: DATE\r\nMessage-ID: <ID>\r\n\r\nSub\xc3\xa9: x\r\n\r\n");
}

static void
test_hdrscan_state(void **state)
{
	struct smtp_hdrscan h;
	char buf[8];

	(void)state;
	smtp_hdrscan_init(&h);
	assert_false(smtp_hdrscan_feed(&h, (const uint8_t *)"A: b\r\n", 6));
	assert_true(smtp_hdrscan_feed(&h, (const uint8_t *)"\r\nbody", 6));
	assert_int_equal(h.end_off, 6);
	/* more input changes nothing */
	assert_true(smtp_hdrscan_feed(&h, (const uint8_t *)"\r\n\r\n", 4));
	assert_int_equal(h.end_off, 6);
	smtp_hdrscan_finish(&h);
	assert_int_equal(h.end_off, 6);
	assert_int_equal(smtp_hdrscan_fields(&h, "D", "I", buf, sizeof(buf)),
	    -ENOSPC);
	h.has_date = h.has_msgid = true;
	assert_int_equal(smtp_hdrscan_fields(&h, "D", "I", buf, sizeof(buf)),
	    0);
}

/* Any split of any input gives the same verdict as feeding it whole. */
static void
test_hdrscan_splits(void **state)
{
	static const char alphabet[] = "Date:Message-ID x\r\n\t\r\n:aZ\x80";
	uint32_t seed = 12345;
	int round;

	(void)state;
	for (round = 0; round < 3000; round++) {
		uint8_t msg[64];
		size_t len, i, off;
		struct smtp_hdrscan whole, bytes, rnd;

		seed = seed * 1103515245u + 12345u;
		len = (seed >> 16) % sizeof(msg);
		for (i = 0; i < len; i++) {
			seed = seed * 1103515245u + 12345u;
			msg[i] = (uint8_t)alphabet[(seed >> 16) %
			    (sizeof(alphabet) - 1)];
		}
		smtp_hdrscan_init(&whole);
		smtp_hdrscan_feed(&whole, msg, len);
		smtp_hdrscan_finish(&whole);
		smtp_hdrscan_init(&bytes);
		for (i = 0; i < len; i++)
			smtp_hdrscan_feed(&bytes, msg + i, 1);
		smtp_hdrscan_finish(&bytes);
		smtp_hdrscan_init(&rnd);
		for (off = 0; off < len; ) {
			size_t k;

			seed = seed * 1103515245u + 12345u;
			k = 1 + (seed >> 16) % 9;
			if (k > len - off)
				k = len - off;
			smtp_hdrscan_feed(&rnd, msg + off, k);
			off += k;
		}
		smtp_hdrscan_finish(&rnd);
		assert_true(whole.done && whole.end_off <= len);
		assert_int_equal(whole.end_off, bytes.end_off);
		assert_int_equal(whole.end_off, rnd.end_off);
		assert_int_equal(whole.need_blank, bytes.need_blank);
		assert_int_equal(whole.need_blank, rnd.need_blank);
		assert_int_equal(whole.need_crlf, bytes.need_crlf);
		assert_int_equal(whole.need_crlf, rnd.need_crlf);
		assert_int_equal(whole.has_date, bytes.has_date);
		assert_int_equal(whole.has_date, rnd.has_date);
		assert_int_equal(whole.has_msgid, bytes.has_msgid);
		assert_int_equal(whole.has_msgid, rnd.has_msgid);
		/* the insertion point is always at a line start */
		assert_true(whole.end_off == 0 || whole.end_off == len ||
		    msg[whole.end_off - 1] == '\n');
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_date),
		cmocka_unit_test(test_with),
		cmocka_unit_test(test_received),
		cmocka_unit_test(test_return_path_msgid),
		cmocka_unit_test(test_hdrscan),
		cmocka_unit_test(test_hdrscan_state),
		cmocka_unit_test(test_hdrscan_splits),
	};

	return cmocka_run_group_tests_name("smtp_trace", tests, NULL, NULL);
}
