/* test_smtp_policy.c: what smtp, submission and smtps allow */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <posta/posta.h>

#include "smtp_policy.h"

#define ALLOWED(st) assert_null(st)
#define REPLY(st, c, e) do {						\
		const struct smtp_status *st_ = (st);			\
		assert_non_null(st_);					\
		assert_int_equal(st_->code, (c));			\
		assert_string_equal(st_->enhanced, (e));		\
	} while (0)

/* A fresh plaintext session on a STARTTLS service after EHLO. */
static struct smtp_facts
plain_ehlo(void)
{
	struct smtp_facts f;

	memset(&f, 0, sizeof(f));
	f.greeted = f.esmtp = true;
	f.starttls_offered = true;
	return f;
}

static struct smtp_facts
tls_ehlo(void)
{
	struct smtp_facts f = plain_ehlo();

	f.tls = true;
	f.starttls_offered = false;
	f.plaintext_ok = true;
	return f;
}

static void
test_caps(void **state)
{
	struct smtp_facts f = plain_ehlo();
	struct smtp_caps c;

	(void)state;
	smtp_policy_caps(&smtp_policy_smtp, &f, &c);
	assert_true(c.starttls);
	assert_false(c.auth);		/* no password without TLS */
	f.plaintext_ok = true;		/* allow_plaintext_auth */
	smtp_policy_caps(&smtp_policy_submission, &f, &c);
	assert_true(c.auth);
	f = tls_ehlo();
	smtp_policy_caps(&smtp_policy_submission, &f, &c);
	assert_false(c.starttls);
	assert_true(c.auth);
	f.authed = true;
	smtp_policy_caps(&smtp_policy_submission, &f, &c);
	assert_false(c.auth);		/* RFC 4954: not after success */
	/* a service without STARTTLS never offers it */
	f = plain_ehlo();
	f.starttls_offered = false;
	smtp_policy_caps(&smtp_policy_smtp, &f, &c);
	assert_false(c.starttls);
}

static void
test_starttls(void **state)
{
	struct smtp_facts f = plain_ehlo();

	(void)state;
	ALLOWED(smtp_policy_starttls(&smtp_policy_smtp, &f));
	f.in_tx = true;
	REPLY(smtp_policy_starttls(&smtp_policy_smtp, &f), 503, "5.5.1");
	f = plain_ehlo();
	f.authed = true;
	REPLY(smtp_policy_starttls(&smtp_policy_smtp, &f), 503, "5.5.1");
	f = tls_ehlo();
	REPLY(smtp_policy_starttls(&smtp_policy_smtp, &f), 503, "5.5.1");
	f = plain_ehlo();
	f.starttls_offered = false;
	REPLY(smtp_policy_starttls(&smtp_policy_smtp, &f), 454, "4.7.0");
}

static void
test_auth(void **state)
{
	struct smtp_facts f = plain_ehlo();

	(void)state;
	/* port 25: 538 (encryption required); submission: 530 */
	REPLY(smtp_policy_auth(&smtp_policy_smtp, &f), 538, "5.7.11");
	REPLY(smtp_policy_auth(&smtp_policy_submission, &f), 530, "5.7.0");
	REPLY(smtp_policy_auth(&smtp_policy_smtps, &f), 530, "5.7.0");
	f = tls_ehlo();
	ALLOWED(smtp_policy_auth(&smtp_policy_smtp, &f));
	ALLOWED(smtp_policy_auth(&smtp_policy_submission, &f));
	f.authed = true;
	REPLY(smtp_policy_auth(&smtp_policy_submission, &f), 503, "5.5.1");
	f = tls_ehlo();
	f.in_tx = true;
	REPLY(smtp_policy_auth(&smtp_policy_submission, &f), 503, "5.5.1");
	f = tls_ehlo();
	f.esmtp = false;	/* HELO: no AUTH */
	REPLY(smtp_policy_auth(&smtp_policy_submission, &f), 503, "5.5.1");
	/* allow_plaintext_auth waives TLS */
	f = plain_ehlo();
	f.plaintext_ok = true;
	ALLOWED(smtp_policy_auth(&smtp_policy_submission, &f));
}

static void
test_mail(void **state)
{
	struct smtp_facts f = plain_ehlo();

	(void)state;
	ALLOWED(smtp_policy_mail(&smtp_policy_smtp, &f));
	/* submission: TLS first, then AUTH */
	REPLY(smtp_policy_mail(&smtp_policy_submission, &f), 530, "5.7.0");
	assert_non_null(strstr(smtp_policy_mail(&smtp_policy_submission,
	    &f)->text, "STARTTLS"));
	f = tls_ehlo();
	REPLY(smtp_policy_mail(&smtp_policy_submission, &f), 530, "5.7.0");
	assert_non_null(strstr(smtp_policy_mail(&smtp_policy_submission,
	    &f)->text, "Authentication"));
	f.authed = true;
	ALLOWED(smtp_policy_mail(&smtp_policy_submission, &f));
	ALLOWED(smtp_policy_mail(&smtp_policy_smtps, &f));
	f.in_tx = true;
	REPLY(smtp_policy_mail(&smtp_policy_submission, &f), 503, "5.5.1");
	f = plain_ehlo();
	f.greeted = false;
	REPLY(smtp_policy_mail(&smtp_policy_smtp, &f), 503, "5.5.1");
	/* HELO is enough for MAIL */
	f = plain_ehlo();
	f.esmtp = false;
	ALLOWED(smtp_policy_mail(&smtp_policy_smtp, &f));
	/* allow_plaintext_auth: submission without TLS, AUTH still needed */
	f = plain_ehlo();
	f.plaintext_ok = true;
	REPLY(smtp_policy_mail(&smtp_policy_submission, &f), 530, "5.7.0");
	f.authed = true;
	ALLOWED(smtp_policy_mail(&smtp_policy_submission, &f));
}

static void
test_sender(void **state)
{
	static const char *const mine[] = { "bob@example.com",
		"alice@example.com" };

	(void)state;
	ALLOWED(smtp_policy_sender(false, true, mine, 2, "alice@example.com"));
	REPLY(smtp_policy_sender(false, true, mine, 1, "alice@example.com"),
	    553, "5.7.1");
	REPLY(smtp_policy_sender(false, false, mine, 2, "alice@example.com"),
	    553, "5.7.1");
	REPLY(smtp_policy_sender(true, false, NULL, 0, "alice@example.com"),
	    553, "5.7.1");
	REPLY(smtp_policy_sender(false, true, mine, 2, NULL), 553, "5.7.1");
	/* exact account names: case matters in local parts */
	REPLY(smtp_policy_sender(false, true, mine, 2, "Alice@example.com"),
	    553, "5.7.1");
}

static enum smtp_route
rcpt(const struct smtp_policy *p, bool authed, int kind, size_t acc,
    size_t ext, bool queue, const struct smtp_status **st)
{
	struct smtp_facts f = tls_ehlo();
	struct smtp_rcpt_facts r;

	f.authed = authed;
	f.in_tx = true;
	memset(&r, 0, sizeof(r));
	r.kind = kind;
	r.n_accounts = acc;
	r.n_external = ext;
	r.have_queue = queue;
	return smtp_policy_rcpt(p, &f, &r, st);
}

static void
test_rcpt(void **state)
{
	const struct smtp_status *st;

	(void)state;
	/* local: anyone, on every service */
	assert_int_equal(rcpt(&smtp_policy_smtp, false, POSTA_RESOLVE_LOCAL,
	    1, 0, false, &st), SMTP_ROUTE_ACCEPT);
	assert_null(st);
	assert_int_equal(rcpt(&smtp_policy_submission, true,
	    POSTA_RESOLVE_LOCAL, 3, 0, false, &st), SMTP_ROUTE_ACCEPT);
	/* unknown */
	assert_int_equal(rcpt(&smtp_policy_smtp, false, POSTA_RESOLVE_UNKNOWN,
	    0, 0, false, &st), SMTP_ROUTE_REFUSE);
	REPLY(st, 550, "5.1.1");
	assert_int_equal(rcpt(&smtp_policy_smtp, false, POSTA_RESOLVE_LOCAL,
	    0, 0, false, &st), SMTP_ROUTE_REFUSE);
	REPLY(st, 550, "5.1.1");
	/* lookup failure */
	assert_int_equal(rcpt(&smtp_policy_smtp, false,
	    POSTA_RESOLVE_TEMPFAIL, 0, 0, false, &st), SMTP_ROUTE_REFUSE);
	REPLY(st, 451, "4.3.0");
	/* relay: denied without AUTH, 4xx without a queue, else queued */
	assert_int_equal(rcpt(&smtp_policy_smtp, false,
	    POSTA_RESOLVE_EXTERNAL, 0, 0, true, &st), SMTP_ROUTE_REFUSE);
	REPLY(st, 554, "5.7.1");
	assert_int_equal(rcpt(&smtp_policy_smtp, true,
	    POSTA_RESOLVE_EXTERNAL, 0, 0, false, &st), SMTP_ROUTE_REFUSE);
	REPLY(st, 451, "4.4.0");
	assert_int_equal(rcpt(&smtp_policy_submission, true,
	    POSTA_RESOLVE_EXTERNAL, 0, 0, false, &st), SMTP_ROUTE_REFUSE);
	REPLY(st, 451, "4.4.0");
	assert_int_equal(rcpt(&smtp_policy_submission, true,
	    POSTA_RESOLVE_EXTERNAL, 0, 0, true, &st), SMTP_ROUTE_ACCEPT);
	assert_int_equal(rcpt(&smtp_policy_smtp, true,
	    POSTA_RESOLVE_EXTERNAL, 0, 0, true, &st), SMTP_ROUTE_ACCEPT);
	/* an alias forwarding elsewhere: anyone, but only with a queue */
	assert_int_equal(rcpt(&smtp_policy_smtp, false, POSTA_RESOLVE_LOCAL,
	    1, 1, false, &st), SMTP_ROUTE_REFUSE);
	REPLY(st, 451, "4.4.0");
	assert_int_equal(rcpt(&smtp_policy_smtp, false, POSTA_RESOLVE_LOCAL,
	    1, 1, true, &st), SMTP_ROUTE_ACCEPT);
	assert_int_equal(rcpt(&smtp_policy_smtp, false, POSTA_RESOLVE_LOCAL,
	    0, 2, true, &st), SMTP_ROUTE_ACCEPT);
	/* garbage kinds are a temporary failure, never an accept */
	assert_int_equal(rcpt(&smtp_policy_smtp, true, 99, 1, 0, true, &st),
	    SMTP_ROUTE_REFUSE);
	REPLY(st, 451, "4.3.0");
	assert_int_equal(rcpt(&smtp_policy_smtp, true,
	    POSTA_RESOLVE_NOT_MINE, 1, 0, true, &st), SMTP_ROUTE_REFUSE);
	REPLY(st, 451, "4.3.0");
}

static void
test_policies(void **state)
{
	(void)state;
	assert_string_equal(smtp_policy_smtp.name, "smtp");
	assert_string_equal(smtp_policy_submission.name, "submission");
	assert_string_equal(smtp_policy_smtps.name, "smtps");
	assert_false(smtp_policy_smtp.tls_required);
	assert_false(smtp_policy_smtp.auth_required);
	assert_false(smtp_policy_smtp.add_missing_headers);
	assert_true(smtp_policy_submission.tls_required);
	assert_true(smtp_policy_submission.auth_required);
	assert_true(smtp_policy_submission.add_missing_headers);
	assert_true(smtp_policy_smtps.tls_required);
	assert_true(smtp_policy_smtps.auth_required);
	assert_true(smtp_policy_smtps.add_missing_headers);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_caps),
		cmocka_unit_test(test_starttls),
		cmocka_unit_test(test_auth),
		cmocka_unit_test(test_mail),
		cmocka_unit_test(test_sender),
		cmocka_unit_test(test_rcpt),
		cmocka_unit_test(test_policies),
	};

	return cmocka_run_group_tests_name("smtp_policy", tests, NULL, NULL);
}
