/* test_queue_dsn.c: the bounce's RFC 3464 structure */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "queue_dsn.h"

static const char orig[] = "From: alice@example.com\r\n"
    "To: bob@example.net\r\nSubject: hi\r\n\r\nbody line\r\n";

static void
input(struct qdsn_input *in, struct qdsn_rcpt *r)
{
	memset(in, 0, sizeof(*in));
	memset(r, 0, 2 * sizeof(*r));
	r[0].address = "bob@example.net";
	r[0].orcpt = "rfc822;bob@example.net";
	r[0].status = "5.1.1";
	r[0].remote = "mx1.example.net";
	r[0].diag = "550 5.1.1 no such user";
	r[0].when = 1767225700;
	r[1].address = "carol@example.org";
	r[1].status = "4.4.1";
	r[1].diag = "connect to mx.example.org: refused\r\nInjected: x";
	in->reporting_mta = "mail.test";
	in->postmaster = "MAILER-DAEMON@mail.test";
	in->sender = "alice@example.com";
	in->envid = "ENV123";
	in->queue_id = "0006123456789abc0123abcd";
	in->arrival = 1767225600;
	in->now = 1767225800;
	in->n_rcpts = 2;
	in->rcpts = r;
	in->orig = orig;
	in->orig_len = sizeof(orig) - 1;
	in->boundary = "=_b0und4ry";
	in->message_id = "<x.bounce@mail.test>";
}

static const char *
find(const char *hay, const char *needle)
{
	const char *p = strstr(hay, needle);

	if (p == NULL)
		fail_msg("missing: %s", needle);
	return p;
}

static void
test_structure(void **state)
{
	struct qdsn_input in;
	struct qdsn_rcpt r[2];
	char *out;
	size_t len, i;
	bool eight;
	const char *p, *q;

	input(&in, r);
	assert_int_equal(qdsn_build(&in, &out, &len, &eight), 0);
	assert_false(eight);
	assert_int_equal(strlen(out), len);
	find(out, "To: <alice@example.com>\r\n");
	find(out, "Auto-Submitted: auto-replied\r\n");
	find(out, "Content-Type: multipart/report; "
	    "report-type=delivery-status;\r\n\tboundary=\"=_b0und4ry\"");
	/* three parts in order: text, delivery-status, the message */
	p = find(out, "\r\n--=_b0und4ry\r\nContent-Type: text/plain");
	q = find(p, "\r\n--=_b0und4ry\r\nContent-Type: "
	    "message/delivery-status");
	p = find(q, "\r\n--=_b0und4ry\r\nContent-Type: message/rfc822");
	find(p, "\r\n--=_b0und4ry--\r\n");
	/* per-message fields, then a blank line per recipient group */
	find(q, "Reporting-MTA: dns; mail.test\r\n");
	find(q, "Original-Envelope-Id: ENV123\r\n");
	find(q, "Arrival-Date: Thu, 01 Jan 2026 00:00:00 +0000\r\n");
	find(q, "\r\n\r\nOriginal-Recipient: rfc822;bob@example.net\r\n"
	    "Final-Recipient: rfc822; bob@example.net\r\nAction: failed\r\n"
	    "Status: 5.1.1\r\nRemote-MTA: dns; mx1.example.net\r\n"
	    "Diagnostic-Code: smtp; 550 5.1.1 no such user\r\n");
	find(q, "\r\n\r\nFinal-Recipient: rfc822; carol@example.org\r\n"
	    "Action: failed\r\nStatus: 4.4.1\r\n");
	/* our own words are not an SMTP reply, and a CR LF in them cannot
	   start a header field */
	find(q, "Diagnostic-Code: X-Posta; connect to mx.example.org: "
	    "refused??Injected: x\r\n");
	assert_null(strstr(out, "\r\nInjected:"));
	find(p, orig);
	for (i = 0; i < len; i++)
		if (out[i] == '\n')
			assert_int_equal(out[i - 1], '\r');
	free(out);
}

static void
test_headers_only_and_utf8(void **state)
{
	struct qdsn_input in;
	struct qdsn_rcpt r[2];
	char *out;
	size_t len;
	bool eight;

	input(&in, r);
	in.orig_len = qdsn_header_len(orig, sizeof(orig) - 1);
	assert_int_equal(in.orig_len, strlen(orig) - strlen("body line\r\n"));
	in.orig_headers_only = true;
	assert_int_equal(qdsn_build(&in, &out, &len, &eight), 0);
	find(out, "Content-Type: text/rfc822-headers\r\n");
	assert_null(strstr(out, "body line"));
	free(out);
	input(&in, r);
	in.utf8 = true;
	r[0].address = "b\xc3\xb6" "b@example.net";
	assert_int_equal(qdsn_build(&in, &out, &len, &eight), 0);
	assert_true(eight);
	find(out, "report-type=global-delivery-status");
	find(out, "Content-Type: message/global-delivery-status\r\n");
	find(out, "Final-Recipient: utf-8; b\xc3\xb6" "b@example.net\r\n");
	find(out, "Content-Type: message/global\r\n");
	free(out);
}

static void
test_original_missing(void **state)
{
	struct qdsn_input in;
	struct qdsn_rcpt r[2];
	char *out;
	size_t len;
	bool eight;
	const char *p;

	/* the message file is gone: two parts, and the text says why */
	input(&in, r);
	in.orig = NULL;
	in.orig_len = 0;
	in.orig_missing = true;
	assert_int_equal(qdsn_build(&in, &out, &len, &eight), 0);
	assert_false(eight);
	assert_int_equal(strlen(out), len);
	p = find(out, "\r\n--=_b0und4ry\r\nContent-Type: text/plain");
	find(p, "The original message was not available any more");
	assert_null(strstr(out, "It is attached below"));
	p = find(p, "\r\n--=_b0und4ry\r\nContent-Type: "
	    "message/delivery-status");
	find(p, "Final-Recipient: rfc822; bob@example.net\r\n");
	/* the close delimiter follows the delivery status at once */
	p = find(p + 2, "\r\n--=_b0und4ry");
	assert_string_equal(p, "\r\n--=_b0und4ry--\r\n");
	assert_null(strstr(out, "message/rfc822"));
	assert_null(strstr(out, "Undelivered Message"));
	free(out);
	/* with RET=HDRS too: no header part */
	in.orig_headers_only = true;
	assert_int_equal(qdsn_build(&in, &out, &len, &eight), 0);
	assert_null(strstr(out, "text/rfc822-headers"));
	free(out);
}

static void
test_bad_input(void **state)
{
	struct qdsn_input in;
	struct qdsn_rcpt r[2];
	char *out;
	size_t len;
	bool eight;

	input(&in, r);
	in.n_rcpts = 0;
	assert_int_equal(qdsn_build(&in, &out, &len, &eight), -EINVAL);
	input(&in, r);
	in.boundary = "bad boundary";
	assert_int_equal(qdsn_build(&in, &out, &len, &eight), -EINVAL);
	assert_int_equal(qdsn_header_len("no blank line", 13), 13);
	assert_int_equal(qdsn_header_len("\r\nbody", 6), 2);
	assert_int_equal(qdsn_header_len("a: b\n\nbody", 10), 6);
}

static void
test_date(void **state)
{
	char d[40];

	qdsn_date(0, d);
	assert_string_equal(d, "Thu, 01 Jan 1970 00:00:00 +0000");
	qdsn_date(1772323199, d);
	assert_string_equal(d, "Sat, 28 Feb 2026 23:59:59 +0000");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_structure),
		cmocka_unit_test(test_headers_only_and_utf8),
		cmocka_unit_test(test_original_missing),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_date),
	};

	return cmocka_run_group_tests_name("queue_dsn", tests, NULL, NULL);
}
