/* test_smtp_parse.c: every SMTP command form and syntax error, with replies */
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

#include "arena.h"
#include "smtp_parse.h"
#include "test_smtp_lines.h"

#define ALL_EXT (SMTP_EXT_SIZE | SMTP_EXT_8BITMIME | SMTP_EXT_BINARYMIME | \
	SMTP_EXT_SMTPUTF8 | SMTP_EXT_DSN | SMTP_EXT_AUTH)

struct pcase {
	const char *line;
	size_t len;		/* 0: strlen(line) */
	unsigned ext;
	bool utf8_tx;
	enum smtp_verb verb;
	enum smtp_perr err;
};

static struct arena *arena;
static uint8_t *copy;		/* exact-size copy of the last line parsed */

static int
setup(void **state)
{
	arena = arena_new(4096, 1 << 20);
	return arena == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	free(copy);
	copy = NULL;
	arena_free(&arena);
	return 0;
}

/*
 * Parses from an exact-size heap copy (no NUL after it) so that ASan
 * reports any read past the line.  The copy lives until the next call,
 * because AUTH's initial response points into it.
 */
static int
parse_full(const struct smtp_parse_opts *o, const char *line, size_t len,
    bool crlf, struct smtp_cmd *cmd)
{
	free(copy);
	copy = malloc(len > 0 ? len : 1);
	assert_non_null(copy);
	memcpy(copy, line, len);
	arena_reset(arena);
	return smtp_parse_line(arena, o, copy, len, crlf, cmd);
}

static struct smtp_cmd
parse_ext(const char *line, unsigned ext, bool utf8_tx)
{
	struct smtp_parse_opts o;
	struct smtp_cmd cmd;

	smtp_parse_opts_init(&o);
	o.ext = ext;
	o.utf8_tx = utf8_tx;
	assert_int_equal(parse_full(&o, line, strlen(line), true, &cmd), 0);
	return cmd;
}

static struct smtp_cmd
parse(const char *line)
{
	return parse_ext(line, ALL_EXT, false);
}

static void
run_cases(const struct pcase *cases, size_t n)
{
	size_t i, failed = 0;

	for (i = 0; i < n; i++) {
		const struct pcase *c = &cases[i];
		struct smtp_parse_opts o;
		struct smtp_cmd cmd;
		size_t len = c->len != 0 ? c->len : strlen(c->line);

		smtp_parse_opts_init(&o);
		o.ext = c->ext;
		o.utf8_tx = c->utf8_tx;
		assert_int_equal(parse_full(&o, c->line, len, true, &cmd), 0);
		if (cmd.verb != c->verb || cmd.err != c->err) {
			print_error("case %zu \"%s\": verb %s err %d, "
			    "expected %s err %d\n", i, c->line,
			    smtp_verb_name(cmd.verb), cmd.err,
			    smtp_verb_name(c->verb), c->err);
			failed++;
		}
	}
	if (failed > 0)
		fail_msg("%zu of %zu cases failed", failed, n);
}

#define RUN(cases) run_cases(cases, sizeof(cases) / sizeof(cases[0]))

#define E(x) SMTP_PERR_##x

static void
test_helo(void **state)
{
	static const struct pcase cases[] = {
		{ "EHLO mail.example.com", 0, 0, 0, SMTP_VERB_EHLO, E(NONE) },
		{ "ehlo mail.example.com", 0, 0, 0, SMTP_VERB_EHLO, E(NONE) },
		{ "EhLo   mail.example.com \t ", 0, 0, 0, SMTP_VERB_EHLO,
		    E(NONE) },
		{ "HELO mail.example.com", 0, 0, 0, SMTP_VERB_HELO, E(NONE) },
		{ "HELO localhost", 0, 0, 0, SMTP_VERB_HELO, E(NONE) },
		{ "EHLO [192.0.2.1]", 0, 0, 0, SMTP_VERB_EHLO, E(NONE) },
		{ "EHLO [IPv6:2001:db8::1]", 0, 0, 0, SMTP_VERB_EHLO, E(NONE) },
		{ "EHLO my_pc", 0, 0, 0, SMTP_VERB_EHLO, E(NONE) },
		{ "EHLO", 0, 0, 0, SMTP_VERB_EHLO, E(HELO_SYNTAX) },
		{ "EHLO ", 0, 0, 0, SMTP_VERB_EHLO, E(HELO_SYNTAX) },
		{ "HELO", 0, 0, 0, SMTP_VERB_HELO, E(HELO_SYNTAX) },
		{ "EHLO a.example b.example", 0, 0, 0, SMTP_VERB_EHLO,
		    E(HELO_SYNTAX) },
		{ "EHLO bad..example", 0, 0, 0, SMTP_VERB_EHLO,
		    E(HELO_DOMAIN) },
		{ "EHLO example.com.", 0, 0, 0, SMTP_VERB_EHLO,
		    E(HELO_DOMAIN) },
		{ "EHLO -bad.example", 0, 0, 0, SMTP_VERB_EHLO,
		    E(HELO_DOMAIN) },
		{ "EHLO exa$mple.com", 0, 0, 0, SMTP_VERB_EHLO,
		    E(HELO_DOMAIN) },
		{ "EHLO [300.1.1.1]", 0, 0, 0, SMTP_VERB_EHLO, E(HELO_DOMAIN) },
		{ "EHLO [IPv6:zz::1]", 0, 0, 0, SMTP_VERB_EHLO,
		    E(HELO_DOMAIN) },
		{ "EHLO [192.0.2.1", 0, 0, 0, SMTP_VERB_EHLO, E(HELO_DOMAIN) },
		{ "EHLO m\xc3\xbcnchen.de", 0, SMTP_EXT_SMTPUTF8, 0,
		    SMTP_VERB_EHLO, E(NONE) },
		{ "EHLO m\xc3\xbcnchen.de", 0, 0, 0, SMTP_VERB_EHLO,
		    E(HELO_DOMAIN) },
		{ "HELO m\xc3\xbcnchen.de", 0, SMTP_EXT_SMTPUTF8, 0,
		    SMTP_VERB_HELO, E(HELO_DOMAIN) },
		{ "EHLO m\xc3nchen.de", 0, SMTP_EXT_SMTPUTF8, 0,
		    SMTP_VERB_EHLO, E(HELO_DOMAIN) },
		{ "EHLOmail.example.com", 0, 0, 0, SMTP_VERB_UNKNOWN,
		    E(UNKNOWN) },
	};
	struct smtp_cmd cmd;

	RUN(cases);
	cmd = parse("EHLO  Mail.Example.COM ");
	assert_int_equal(cmd.err, SMTP_PERR_NONE);
	assert_string_equal(cmd.arg, "Mail.Example.COM");
	assert_false(cmd.helo_literal);
	cmd = parse("HELO [IPv6:::1]");
	assert_int_equal(cmd.err, SMTP_PERR_NONE);
	assert_string_equal(cmd.arg, "[IPv6:::1]");
	assert_true(cmd.helo_literal);
}

static void
test_mail_syntax(void **state)
{
	static const struct pcase cases[] = {
		{ "MAIL FROM:<alice@example.com>", 0, 0, 0, SMTP_VERB_MAIL,
		    E(NONE) },
		{ "mail from:<alice@example.com>", 0, 0, 0, SMTP_VERB_MAIL,
		    E(NONE) },
		{ "MAIL FROM: <alice@example.com>", 0, 0, 0, SMTP_VERB_MAIL,
		    E(NONE) },
		{ "MAIL  FROM:<alice@example.com>  ", 0, 0, 0, SMTP_VERB_MAIL,
		    E(NONE) },
		{ "MAIL FROM:<>", 0, 0, 0, SMTP_VERB_MAIL, E(NONE) },
		{ "MAIL FROM:<@a.example,@b.example:alice@example.com>", 0, 0,
		    0, SMTP_VERB_MAIL, E(NONE) },
		{ "MAIL FROM:<\"john doe\"@example.com>", 0, 0, 0,
		    SMTP_VERB_MAIL, E(NONE) },
		{ "MAIL FROM:<\"a>b\"@example.com>", 0, 0, 0, SMTP_VERB_MAIL,
		    E(NONE) },
		{ "MAIL FROM:<alice@[192.0.2.1]>", 0, 0, 0, SMTP_VERB_MAIL,
		    E(NONE) },
		{ "MAIL FROM:<alice@[IPv6:::1]>", 0, 0, 0, SMTP_VERB_MAIL,
		    E(NONE) },
		{ "MAIL FROM:alice@example.com", 0, 0, 0, SMTP_VERB_MAIL,
		    E(MAIL_SYNTAX) },
		{ "MAIL FROM <alice@example.com>", 0, 0, 0, SMTP_VERB_MAIL,
		    E(MAIL_SYNTAX) },
		{ "MAIL TO:<alice@example.com>", 0, 0, 0, SMTP_VERB_MAIL,
		    E(MAIL_SYNTAX) },
		{ "MAIL", 0, 0, 0, SMTP_VERB_MAIL, E(MAIL_SYNTAX) },
		{ "MAIL FROM:", 0, 0, 0, SMTP_VERB_MAIL, E(MAIL_SYNTAX) },
		{ "MAIL FRO", 0, 0, 0, SMTP_VERB_MAIL, E(MAIL_SYNTAX) },
		{ "MAIL FROM:<alice@example.com>x", 0, 0, 0, SMTP_VERB_MAIL,
		    E(MAIL_SYNTAX) },
		{ "MAIL FROM:<alice@example.com", 0, 0, 0, SMTP_VERB_MAIL,
		    E(BAD_SENDER) },
		{ "MAIL FROM:<\"alice@example.com>", 0, 0, 0, SMTP_VERB_MAIL,
		    E(BAD_SENDER) },
		{ "MAIL FROM:<alice>", 0, 0, 0, SMTP_VERB_MAIL, E(BAD_SENDER) },
		{ "MAIL FROM:<alice@>", 0, 0, 0, SMTP_VERB_MAIL,
		    E(BAD_SENDER) },
		{ "MAIL FROM:<@example.com>", 0, 0, 0, SMTP_VERB_MAIL,
		    E(BAD_SENDER) },
		{ "MAIL FROM:<@a.example:>", 0, 0, 0, SMTP_VERB_MAIL,
		    E(BAD_SENDER) },
		{ "MAIL FROM:<@a..b:alice@example.com>", 0, 0, 0,
		    SMTP_VERB_MAIL, E(BAD_SENDER) },
		{ "MAIL FROM:<@a,b:alice@example.com>", 0, 0, 0,
		    SMTP_VERB_MAIL, E(BAD_SENDER) },
		{ "MAIL FROM:<alice..x@example.com>", 0, 0, 0, SMTP_VERB_MAIL,
		    E(BAD_SENDER) },
		{ "MAIL FROM:<.alice@example.com>", 0, 0, 0, SMTP_VERB_MAIL,
		    E(BAD_SENDER) },
		{ "MAIL FROM:<Postmaster>", 0, 0, 0, SMTP_VERB_MAIL,
		    E(BAD_SENDER) },
		{ "MAIL FROM:<a b@example.com>", 0, 0, 0, SMTP_VERB_MAIL,
		    E(BAD_SENDER) },
		{ "MAIL FROM:<alice@example.com.>", 0, 0, 0, SMTP_VERB_MAIL,
		    E(BAD_SENDER) },
		{ "MAIL FROM:<alice@exa_mple.com>", 0, 0, 0, SMTP_VERB_MAIL,
		    E(BAD_SENDER) },
		{ "MAIL FROM:<<alice@example.com>>", 0, 0, 0, SMTP_VERB_MAIL,
		    E(MAIL_SYNTAX) },
		{ "MAIL FROM:<<alice@example.com>", 0, 0, 0, SMTP_VERB_MAIL,
		    E(BAD_SENDER) },
		{ "MAIL FROM:<alice@[1.2.3]>", 0, 0, 0, SMTP_VERB_MAIL,
		    E(BAD_SENDER) },
		{ "MAIL FROM:<alice@example.com\t>", 0, 0, 0, SMTP_VERB_MAIL,
		    E(BAD_SENDER) },
		/* RFC 6531: UTF-8 only with the SMTPUTF8 parameter */
		{ "MAIL FROM:<j\xc3\xb6rg@example.com>", 0, ALL_EXT, 0,
		    SMTP_VERB_MAIL, E(UTF8_ADDR) },
		{ "MAIL FROM:<j\xc3\xb6rg@b\xc3\xbc.de> SMTPUTF8", 0, ALL_EXT,
		    0, SMTP_VERB_MAIL, E(NONE) },
		{ "MAIL FROM:<j\xc3\xb6rg@example.com> SMTPUTF8", 0, 0, 0,
		    SMTP_VERB_MAIL, E(PARAM_UNKNOWN) },
		{ "MAIL FROM:<j\xc3rg@example.com> SMTPUTF8", 0, ALL_EXT, 0,
		    SMTP_VERB_MAIL, E(BAD_SENDER) },
		{ "MAIL FROM:<jo\xc0\xaeg@example.com> SMTPUTF8", 0, ALL_EXT,
		    0, SMTP_VERB_MAIL, E(BAD_SENDER) },
		{ "MAIL FROM:<alice@example.com> SMTPUTF8", 0, ALL_EXT, 0,
		    SMTP_VERB_MAIL, E(NONE) },
	};

	RUN(cases);
}

static void
test_mail_fields(void **state)
{
	struct smtp_cmd cmd;

	cmd = parse("MAIL FROM:<Alice@Example.COM>");
	assert_int_equal(cmd.err, SMTP_PERR_NONE);
	assert_string_equal(cmd.mail.path.mailbox, "Alice@Example.COM");
	assert_string_equal(cmd.mail.path.local, "Alice");
	assert_string_equal(cmd.mail.path.local_plain, "Alice");
	assert_string_equal(cmd.mail.path.domain, "Example.COM");
	assert_false(cmd.mail.path.is_null);
	assert_false(cmd.mail.path.is_quoted);
	assert_false(cmd.mail.path.had_route);
	assert_false(cmd.mail.has_size);
	assert_int_equal(cmd.mail.body, SMTP_BODY_NONE);
	assert_int_equal(cmd.mail.ret, SMTP_RET_NONE);
	assert_null(cmd.mail.envid);
	assert_null(cmd.mail.auth);

	cmd = parse("MAIL FROM:<>");
	assert_int_equal(cmd.err, SMTP_PERR_NONE);
	assert_true(cmd.mail.path.is_null);
	assert_string_equal(cmd.mail.path.mailbox, "");

	/* RFC 5321 4.1.2 / appendix C: source route accepted and dropped */
	cmd = parse("MAIL FROM:<@a.example,@b.example:alice@example.com>");
	assert_int_equal(cmd.err, SMTP_PERR_NONE);
	assert_true(cmd.mail.path.had_route);
	assert_string_equal(cmd.mail.path.mailbox, "alice@example.com");
	assert_string_equal(cmd.mail.path.domain, "example.com");

	cmd = parse("MAIL FROM:<\"john \\\"jd\\\" doe\"@example.com>");
	assert_int_equal(cmd.err, SMTP_PERR_NONE);
	assert_true(cmd.mail.path.is_quoted);
	assert_string_equal(cmd.mail.path.local, "\"john \\\"jd\\\" doe\"");
	assert_string_equal(cmd.mail.path.local_plain, "john \"jd\" doe");
	assert_string_equal(cmd.mail.path.domain, "example.com");

	cmd = parse("MAIL FROM:<alice@[192.0.2.1]>");
	assert_true(cmd.mail.path.is_literal);
	assert_string_equal(cmd.mail.path.domain, "[192.0.2.1]");

	cmd = parse("MAIL FROM:<j\xc3\xb6rg@example.com> SMTPUTF8");
	assert_int_equal(cmd.err, SMTP_PERR_NONE);
	assert_true(cmd.mail.smtputf8);
	assert_true(cmd.mail.path.is_utf8);
	assert_string_equal(cmd.mail.path.local, "j\xc3\xb6rg");

	cmd = parse("MAIL FROM:<a@example.com> SIZE=1048576 BODY=8BITMIME "
	    "RET=HDRS ENVID=QQ+2B314159 AUTH=e+3Dmc2@example.com");
	assert_int_equal(cmd.err, SMTP_PERR_NONE);
	assert_true(cmd.mail.has_size);
	assert_true(cmd.mail.size == 1048576);
	assert_int_equal(cmd.mail.body, SMTP_BODY_8BITMIME);
	assert_int_equal(cmd.mail.ret, SMTP_RET_HDRS);
	assert_string_equal(cmd.mail.envid, "QQ+314159");
	assert_string_equal(cmd.mail.envid_xtext, "QQ+2B314159");
	assert_string_equal(cmd.mail.auth, "e=mc2@example.com");
	assert_null(cmd.err_param);

	cmd = parse("mail from:<a@example.com> size=0 body=7bit ret=full "
	    "auth=<>");
	assert_int_equal(cmd.err, SMTP_PERR_NONE);
	assert_true(cmd.mail.size == 0);
	assert_int_equal(cmd.mail.body, SMTP_BODY_7BIT);
	assert_int_equal(cmd.mail.ret, SMTP_RET_FULL);
	assert_string_equal(cmd.mail.auth, "<>");

	cmd = parse("MAIL FROM:<a@example.com> BODY=BINARYMIME");
	assert_int_equal(cmd.mail.body, SMTP_BODY_BINARYMIME);

	/* 20 digits above 2^64: too big for us, not a syntax error */
	cmd = parse("MAIL FROM:<a@example.com> SIZE=99999999999999999999");
	assert_int_equal(cmd.err, SMTP_PERR_NONE);
	assert_true(cmd.mail.size == UINT64_MAX);
	cmd = parse("MAIL FROM:<a@example.com> SIZE=18446744073709551615");
	assert_true(cmd.mail.size == UINT64_MAX);
	cmd = parse("MAIL FROM:<a@example.com> SIZE=18446744073709551614");
	assert_true(cmd.mail.size == UINT64_MAX - 1);
}

static void
test_mail_params(void **state)
{
	static const struct pcase cases[] = {
		{ "MAIL FROM:<a@b.example> SIZE=1000", 0, SMTP_EXT_SIZE, 0,
		    SMTP_VERB_MAIL, E(NONE) },
		{ "MAIL FROM:<a@b.example> SIZE=1000", 0, 0, 0,
		    SMTP_VERB_MAIL, E(PARAM_UNKNOWN) },
		{ "MAIL FROM:<a@b.example>  SIZE=1000", 0, ALL_EXT, 0,
		    SMTP_VERB_MAIL, E(NONE) },
		{ "MAIL FROM:<a@b.example> SIZE=", 0, ALL_EXT, 0,
		    SMTP_VERB_MAIL, E(PARAM_SYNTAX) },
		{ "MAIL FROM:<a@b.example> SIZE", 0, ALL_EXT, 0,
		    SMTP_VERB_MAIL, E(PARAM_SYNTAX) },
		{ "MAIL FROM:<a@b.example> SIZE=abc", 0, ALL_EXT, 0,
		    SMTP_VERB_MAIL, E(PARAM_SYNTAX) },
		{ "MAIL FROM:<a@b.example> SIZE=-1", 0, ALL_EXT, 0,
		    SMTP_VERB_MAIL, E(PARAM_SYNTAX) },
		{ "MAIL FROM:<a@b.example> SIZE=12x", 0, ALL_EXT, 0,
		    SMTP_VERB_MAIL, E(PARAM_SYNTAX) },
		{ "MAIL FROM:<a@b.example> SIZE=123456789012345678901", 0,
		    ALL_EXT, 0, SMTP_VERB_MAIL, E(PARAM_SYNTAX) },
		{ "MAIL FROM:<a@b.example> SIZE=1 SIZE=2", 0, ALL_EXT, 0,
		    SMTP_VERB_MAIL, E(PARAM_SYNTAX) },
		{ "MAIL FROM:<a@b.example> SIZE=1=2", 0, ALL_EXT, 0,
		    SMTP_VERB_MAIL, E(PARAM_SYNTAX) },
		{ "MAIL FROM:<a@b.example> SIZE==1", 0, ALL_EXT, 0,
		    SMTP_VERB_MAIL, E(PARAM_SYNTAX) },
		{ "MAIL FROM:<a@b.example> BODY=8BITMIME", 0,
		    SMTP_EXT_8BITMIME, 0, SMTP_VERB_MAIL, E(NONE) },
		{ "MAIL FROM:<a@b.example> BODY=8BITMIME", 0, 0, 0,
		    SMTP_VERB_MAIL, E(PARAM_UNKNOWN) },
		{ "MAIL FROM:<a@b.example> BODY=BINARYMIME", 0,
		    SMTP_EXT_8BITMIME, 0, SMTP_VERB_MAIL, E(PARAM_UNKNOWN) },
		{ "MAIL FROM:<a@b.example> BODY=BINARYMIME", 0,
		    SMTP_EXT_8BITMIME | SMTP_EXT_BINARYMIME, 0,
		    SMTP_VERB_MAIL, E(NONE) },
		{ "MAIL FROM:<a@b.example> BODY=9BIT", 0, ALL_EXT, 0,
		    SMTP_VERB_MAIL, E(PARAM_SYNTAX) },
		{ "MAIL FROM:<a@b.example> BODY", 0, ALL_EXT, 0,
		    SMTP_VERB_MAIL, E(PARAM_SYNTAX) },
		{ "MAIL FROM:<a@b.example> SMTPUTF8=yes", 0, ALL_EXT, 0,
		    SMTP_VERB_MAIL, E(PARAM_SYNTAX) },
		{ "MAIL FROM:<a@b.example> SMTPUTF8 SMTPUTF8", 0, ALL_EXT, 0,
		    SMTP_VERB_MAIL, E(PARAM_SYNTAX) },
		{ "MAIL FROM:<a@b.example> RET=FULL", 0, SMTP_EXT_DSN, 0,
		    SMTP_VERB_MAIL, E(NONE) },
		{ "MAIL FROM:<a@b.example> RET=FULL", 0, 0, 0,
		    SMTP_VERB_MAIL, E(PARAM_UNKNOWN) },
		{ "MAIL FROM:<a@b.example> RET=ALL", 0, ALL_EXT, 0,
		    SMTP_VERB_MAIL, E(PARAM_SYNTAX) },
		{ "MAIL FROM:<a@b.example> RET", 0, ALL_EXT, 0,
		    SMTP_VERB_MAIL, E(PARAM_SYNTAX) },
		{ "MAIL FROM:<a@b.example> ENVID=QQ314159", 0, SMTP_EXT_DSN,
		    0, SMTP_VERB_MAIL, E(NONE) },
		{ "MAIL FROM:<a@b.example> ENVID=a+2", 0, ALL_EXT, 0,
		    SMTP_VERB_MAIL, E(PARAM_SYNTAX) },
		{ "MAIL FROM:<a@b.example> ENVID=a+ZZ", 0, ALL_EXT, 0,
		    SMTP_VERB_MAIL, E(PARAM_SYNTAX) },
		{ "MAIL FROM:<a@b.example> ENVID=+00", 0, ALL_EXT, 0,
		    SMTP_VERB_MAIL, E(PARAM_SYNTAX) },
		{ "MAIL FROM:<a@b.example> ENVID=a\xc3\xb6", 0, ALL_EXT, 0,
		    SMTP_VERB_MAIL, E(PARAM_SYNTAX) },
		{ "MAIL FROM:<a@b.example> ENVID=0123456789012345678901234567"
		    "8901234567890123456789012345678901234567890123456789012345"
		    "67890123456789", 0, ALL_EXT, 0, SMTP_VERB_MAIL, E(NONE) },
		{ "MAIL FROM:<a@b.example> ENVID=0123456789012345678901234567"
		    "8901234567890123456789012345678901234567890123456789012345"
		    "678901234567890", 0, ALL_EXT, 0, SMTP_VERB_MAIL,
		    E(PARAM_SYNTAX) },
		{ "MAIL FROM:<a@b.example> AUTH=<>", 0, SMTP_EXT_AUTH, 0,
		    SMTP_VERB_MAIL, E(NONE) },
		{ "MAIL FROM:<a@b.example> AUTH=a@b.example", 0,
		    SMTP_EXT_AUTH, 0, SMTP_VERB_MAIL, E(NONE) },
		{ "MAIL FROM:<a@b.example> AUTH=<>", 0, 0, 0,
		    SMTP_VERB_MAIL, E(PARAM_UNKNOWN) },
		{ "MAIL FROM:<a@b.example> AUTH=nobody", 0, ALL_EXT, 0,
		    SMTP_VERB_MAIL, E(PARAM_SYNTAX) },
		{ "MAIL FROM:<a@b.example> AUTH=a+40", 0, ALL_EXT, 0,
		    SMTP_VERB_MAIL, E(PARAM_SYNTAX) },
		{ "MAIL FROM:<a@b.example> FOO=bar", 0, ALL_EXT, 0,
		    SMTP_VERB_MAIL, E(PARAM_UNKNOWN) },
		{ "MAIL FROM:<a@b.example> X-FOO", 0, ALL_EXT, 0,
		    SMTP_VERB_MAIL, E(PARAM_UNKNOWN) },
		{ "MAIL FROM:<a@b.example> NOTIFY=NEVER", 0, ALL_EXT, 0,
		    SMTP_VERB_MAIL, E(PARAM_UNKNOWN) },
		{ "MAIL FROM:<a@b.example> -X=1", 0, ALL_EXT, 0,
		    SMTP_VERB_MAIL, E(PARAM_SYNTAX) },
		{ "MAIL FROM:<a@b.example> =1", 0, ALL_EXT, 0,
		    SMTP_VERB_MAIL, E(PARAM_SYNTAX) },
		{ "MAIL FROM:<a@b.example> S_IZE=1", 0, ALL_EXT, 0,
		    SMTP_VERB_MAIL, E(PARAM_SYNTAX) },
		{ "MAIL FROM:<a@b.example> SIZE=1\tBODY=7BIT", 0, ALL_EXT, 0,
		    SMTP_VERB_MAIL, E(PARAM_SYNTAX) },
	};
	struct smtp_cmd cmd;

	RUN(cases);
	/* the reply can name the offending parameter */
	cmd = parse("MAIL FROM:<a@b.example> SIZE=1 x-Foo=bar");
	assert_int_equal(cmd.err, SMTP_PERR_PARAM_UNKNOWN);
	assert_string_equal(cmd.err_param, "X-FOO");
	cmd = parse("MAIL FROM:<a@b.example> body=9bit");
	assert_int_equal(cmd.err, SMTP_PERR_PARAM_SYNTAX);
	assert_string_equal(cmd.err_param, "BODY");
	cmd = parse("MAIL FROM:<a@b.example> -x=1");
	assert_int_equal(cmd.err, SMTP_PERR_PARAM_SYNTAX);
	assert_null(cmd.err_param);
	cmd = parse("MAIL FROM:<a@b.example");
	assert_null(cmd.err_param);
}

static void
test_rcpt(void **state)
{
	static const struct pcase cases[] = {
		{ "RCPT TO:<bob@example.com>", 0, 0, 0, SMTP_VERB_RCPT,
		    E(NONE) },
		{ "rcpt to: <bob@example.com>", 0, 0, 0, SMTP_VERB_RCPT,
		    E(NONE) },
		{ "RCPT TO:<Postmaster>", 0, 0, 0, SMTP_VERB_RCPT, E(NONE) },
		{ "RCPT TO:<postMASTER>", 0, 0, 0, SMTP_VERB_RCPT, E(NONE) },
		{ "RCPT TO:<Postmaster@example.com>", 0, 0, 0, SMTP_VERB_RCPT,
		    E(NONE) },
		{ "RCPT TO:<@relay.example:bob@example.com>", 0, 0, 0,
		    SMTP_VERB_RCPT, E(NONE) },
		{ "RCPT TO:<>", 0, 0, 0, SMTP_VERB_RCPT, E(BAD_RCPT) },
		{ "RCPT TO:bob@example.com", 0, 0, 0, SMTP_VERB_RCPT,
		    E(RCPT_SYNTAX) },
		{ "RCPT FROM:<bob@example.com>", 0, 0, 0, SMTP_VERB_RCPT,
		    E(RCPT_SYNTAX) },
		{ "RCPT", 0, 0, 0, SMTP_VERB_RCPT, E(RCPT_SYNTAX) },
		{ "RCPT TO:<bob@example.com>>", 0, 0, 0, SMTP_VERB_RCPT,
		    E(RCPT_SYNTAX) },
		{ "RCPT TO:<bob@@example.com>", 0, 0, 0, SMTP_VERB_RCPT,
		    E(BAD_RCPT) },
		{ "RCPT TO:<bob@example..com>", 0, 0, 0, SMTP_VERB_RCPT,
		    E(BAD_RCPT) },
		{ "RCPT TO:<bob>", 0, 0, 0, SMTP_VERB_RCPT, E(BAD_RCPT) },
		{ "RCPT TO:<@x:Postmaster>", 0, 0, 0, SMTP_VERB_RCPT,
		    E(BAD_RCPT) },
		{ "RCPT TO:<j\xc3\xb6rg@example.com>", 0, ALL_EXT, false,
		    SMTP_VERB_RCPT, E(UTF8_ADDR) },
		{ "RCPT TO:<j\xc3\xb6rg@example.com>", 0, ALL_EXT, true,
		    SMTP_VERB_RCPT, E(NONE) },
		{ "RCPT TO:<j\xc3rg@example.com>", 0, ALL_EXT, true,
		    SMTP_VERB_RCPT, E(BAD_RCPT) },
		{ "RCPT TO:<b@example.com> NOTIFY=SUCCESS,FAILURE", 0,
		    SMTP_EXT_DSN, 0, SMTP_VERB_RCPT, E(NONE) },
		{ "RCPT TO:<b@example.com> NOTIFY=NEVER", 0, 0, 0,
		    SMTP_VERB_RCPT, E(PARAM_UNKNOWN) },
		{ "RCPT TO:<b@example.com> NOTIFY=NEVER,SUCCESS", 0, ALL_EXT,
		    0, SMTP_VERB_RCPT, E(PARAM_SYNTAX) },
		{ "RCPT TO:<b@example.com> NOTIFY=SUCCESS,SUCCESS", 0,
		    ALL_EXT, 0, SMTP_VERB_RCPT, E(PARAM_SYNTAX) },
		{ "RCPT TO:<b@example.com> NOTIFY=SUCCESS,", 0, ALL_EXT, 0,
		    SMTP_VERB_RCPT, E(PARAM_SYNTAX) },
		{ "RCPT TO:<b@example.com> NOTIFY=,DELAY", 0, ALL_EXT, 0,
		    SMTP_VERB_RCPT, E(PARAM_SYNTAX) },
		{ "RCPT TO:<b@example.com> NOTIFY=sometimes", 0, ALL_EXT, 0,
		    SMTP_VERB_RCPT, E(PARAM_SYNTAX) },
		{ "RCPT TO:<b@example.com> NOTIFY", 0, ALL_EXT, 0,
		    SMTP_VERB_RCPT, E(PARAM_SYNTAX) },
		{ "RCPT TO:<b@example.com> ORCPT=rfc822;b@example.com", 0,
		    SMTP_EXT_DSN, 0, SMTP_VERB_RCPT, E(NONE) },
		{ "RCPT TO:<b@example.com> ORCPT=rfc822", 0, ALL_EXT, 0,
		    SMTP_VERB_RCPT, E(PARAM_SYNTAX) },
		{ "RCPT TO:<b@example.com> ORCPT=;b@example.com", 0, ALL_EXT,
		    0, SMTP_VERB_RCPT, E(PARAM_SYNTAX) },
		{ "RCPT TO:<b@example.com> ORCPT=rfc822;", 0, ALL_EXT, 0,
		    SMTP_VERB_RCPT, E(PARAM_SYNTAX) },
		{ "RCPT TO:<b@example.com> ORCPT=rfc822;a+4", 0, ALL_EXT, 0,
		    SMTP_VERB_RCPT, E(PARAM_SYNTAX) },
		{ "RCPT TO:<b@example.com> ORCPT=rfc822;a+0A", 0, ALL_EXT, 0,
		    SMTP_VERB_RCPT, E(PARAM_SYNTAX) },
		{ "RCPT TO:<b@example.com> ORCPT=x.y;z", 0, ALL_EXT, 0,
		    SMTP_VERB_RCPT, E(PARAM_SYNTAX) },
		{ "RCPT TO:<b@example.com> ORCPT=x400;z+2Fy", 0, ALL_EXT, 0,
		    SMTP_VERB_RCPT, E(NONE) },
		{ "RCPT TO:<b@example.com> ORCPT=utf-8;j\xc3\xb6rg@x.example",
		    0, ALL_EXT, true, SMTP_VERB_RCPT, E(NONE) },
		{ "RCPT TO:<b@example.com> ORCPT=utf-8;j\xc3\xb6rg@x.example",
		    0, ALL_EXT, false, SMTP_VERB_RCPT, E(PARAM_SYNTAX) },
		{ "RCPT TO:<b@example.com> ORCPT=rfc822;j\xc3\xb6rg@x.example",
		    0, ALL_EXT, true, SMTP_VERB_RCPT, E(PARAM_SYNTAX) },
		{ "RCPT TO:<b@example.com> ORCPT=utf-8;j\xc3rg@x.example",
		    0, ALL_EXT, true, SMTP_VERB_RCPT, E(PARAM_SYNTAX) },
		{ "RCPT TO:<b@example.com> SIZE=10", 0, ALL_EXT, 0,
		    SMTP_VERB_RCPT, E(PARAM_UNKNOWN) },
		{ "RCPT TO:<b@example.com> NOTIFY=DELAY NOTIFY=DELAY", 0,
		    ALL_EXT, 0, SMTP_VERB_RCPT, E(PARAM_SYNTAX) },
	};
	struct smtp_cmd cmd;

	RUN(cases);

	cmd = parse("RCPT TO:<Bob@Example.com>");
	assert_string_equal(cmd.rcpt.path.mailbox, "Bob@Example.com");
	assert_string_equal(cmd.rcpt.path.local, "Bob");
	assert_string_equal(cmd.rcpt.path.domain, "Example.com");
	assert_false(cmd.rcpt.path.is_postmaster);
	assert_int_equal(cmd.rcpt.notify, 0);
	assert_null(cmd.rcpt.orcpt_type);

	cmd = parse("RCPT TO:<postmaster>");
	assert_true(cmd.rcpt.path.is_postmaster);
	assert_string_equal(cmd.rcpt.path.mailbox, "postmaster");
	assert_string_equal(cmd.rcpt.path.domain, "");

	cmd = parse("RCPT TO:<b@example.com> notify=delay,Failure "
	    "ORCPT=rfc822;b+2Bx@example.com");
	assert_int_equal(cmd.err, SMTP_PERR_NONE);
	assert_int_equal(cmd.rcpt.notify,
	    SMTP_NOTIFY_DELAY | SMTP_NOTIFY_FAILURE);
	assert_string_equal(cmd.rcpt.orcpt_type, "rfc822");
	assert_string_equal(cmd.rcpt.orcpt_raw, "b+2Bx@example.com");
	assert_string_equal(cmd.rcpt.orcpt_addr, "b+x@example.com");

	cmd = parse("RCPT TO:<b@example.com> NOTIFY=NEVER ORCPT=x400;a");
	assert_int_equal(cmd.rcpt.notify, SMTP_NOTIFY_NEVER);
	assert_string_equal(cmd.rcpt.orcpt_type, "x400");
	assert_null(cmd.rcpt.orcpt_addr);
}

static void
test_limits(void **state)
{
	struct smtp_parse_opts o;
	struct smtp_cmd cmd;
	char line[600], local[100], dom[300];
	size_t n;

	smtp_parse_opts_init(&o);
	assert_int_equal(o.max_path_len, 256);
	assert_int_equal(o.max_local_len, 64);

	/* local part: 64 octets pass, 65 do not */
	memset(local, 'x', 65);
	local[64] = '\0';
	n = (size_t)snprintf(line, sizeof(line), "MAIL FROM:<%s@e.example>",
	    local);
	assert_int_equal(parse_full(&o, line, n, true, &cmd), 0);
	assert_int_equal(cmd.err, SMTP_PERR_NONE);
	local[64] = 'x';
	local[65] = '\0';
	n = (size_t)snprintf(line, sizeof(line), "MAIL FROM:<%s@e.example>",
	    local);
	assert_int_equal(parse_full(&o, line, n, true, &cmd), 0);
	assert_int_equal(cmd.err, SMTP_PERR_SENDER_TOO_LONG);
	n = (size_t)snprintf(line, sizeof(line), "RCPT TO:<%s@e.example>",
	    local);
	assert_int_equal(parse_full(&o, line, n, true, &cmd), 0);
	assert_int_equal(cmd.err, SMTP_PERR_RCPT_TOO_LONG);
	o.max_local_len = 0;		/* configurable: off */
	assert_int_equal(parse_full(&o, line, n, true, &cmd), 0);
	assert_int_equal(cmd.err, SMTP_PERR_NONE);
	o.max_local_len = 64;

	/* path: 256 octets with the brackets pass, 257 do not
	   ("a@" + 252-octet domain + "<>" = 256) */
	memset(dom, 'd', sizeof(dom));
	dom[63] = dom[127] = dom[191] = '.';
	dom[252] = '\0';
	n = (size_t)snprintf(line, sizeof(line), "RCPT TO:<a@%s>", dom);
	assert_int_equal(parse_full(&o, line, n, true, &cmd), 0);
	assert_int_equal(cmd.err, SMTP_PERR_NONE);
	n = (size_t)snprintf(line, sizeof(line), "RCPT TO:<ab@%s>", dom);
	assert_int_equal(parse_full(&o, line, n, true, &cmd), 0);
	assert_int_equal(cmd.err, SMTP_PERR_RCPT_TOO_LONG);
	n = (size_t)snprintf(line, sizeof(line), "MAIL FROM:<ab@%s>", dom);
	assert_int_equal(parse_full(&o, line, n, true, &cmd), 0);
	assert_int_equal(cmd.err, SMTP_PERR_SENDER_TOO_LONG);
	o.max_path_len = 300;
	assert_int_equal(parse_full(&o, line, n, true, &cmd), 0);
	assert_int_equal(cmd.err, SMTP_PERR_NONE);

	/* a source route counts towards the path */
	o.max_path_len = 30;
	n = (size_t)snprintf(line, sizeof(line),
	    "MAIL FROM:<@relay.example:alice@example.com>");
	assert_int_equal(parse_full(&o, line, n, true, &cmd), 0);
	assert_int_equal(cmd.err, SMTP_PERR_SENDER_TOO_LONG);
	o.max_path_len = 256;

	/* command line limit, AUTH exempt (RFC 4954 section 4) */
	o.max_line_len = 20;
	assert_int_equal(parse_full(&o, "NOOP 123456789012345", 20, true,
	    &cmd), 0);
	assert_int_equal(cmd.err, SMTP_PERR_NONE);
	assert_int_equal(parse_full(&o, "NOOP 1234567890123456", 21, true,
	    &cmd), 0);
	assert_int_equal(cmd.err, SMTP_PERR_LINE_TOO_LONG);
	assert_int_equal(cmd.verb, SMTP_VERB_NOOP);
	assert_int_equal(parse_full(&o, "AUTH PLAIN AGFsaWNlAHNlY3JldA==",
	    31, true, &cmd), 0);
	assert_int_equal(cmd.err, SMTP_PERR_NONE);
}

static void
test_simple_verbs(void **state)
{
	static const struct pcase cases[] = {
		{ "DATA", 0, 0, 0, SMTP_VERB_DATA, E(NONE) },
		{ "data", 0, 0, 0, SMTP_VERB_DATA, E(NONE) },
		{ "DATA ", 0, 0, 0, SMTP_VERB_DATA, E(NONE) },
		{ "DATA x", 0, 0, 0, SMTP_VERB_DATA, E(NO_ARGS) },
		{ "RSET", 0, 0, 0, SMTP_VERB_RSET, E(NONE) },
		{ "RSET x", 0, 0, 0, SMTP_VERB_RSET, E(NO_ARGS) },
		{ "QUIT", 0, 0, 0, SMTP_VERB_QUIT, E(NONE) },
		{ "QUIT now", 0, 0, 0, SMTP_VERB_QUIT, E(NO_ARGS) },
		{ "STARTTLS", 0, 0, 0, SMTP_VERB_STARTTLS, E(NONE) },
		{ "starttls", 0, 0, 0, SMTP_VERB_STARTTLS, E(NONE) },
		{ "STARTTLS x", 0, 0, 0, SMTP_VERB_STARTTLS, E(NO_ARGS) },
		{ "NOOP", 0, 0, 0, SMTP_VERB_NOOP, E(NONE) },
		{ "NOOP anything at all", 0, 0, 0, SMTP_VERB_NOOP, E(NONE) },
		{ "NOOP a\tb", 0, 0, 0, SMTP_VERB_NOOP, E(NONE) },
		{ "NOOP \xc3\xa9", 0, 0, 0, SMTP_VERB_NOOP, E(NONE) },
		{ "HELP", 0, 0, 0, SMTP_VERB_HELP, E(NONE) },
		{ "HELP MAIL", 0, 0, 0, SMTP_VERB_HELP, E(NONE) },
		{ "VRFY alice", 0, 0, 0, SMTP_VERB_VRFY, E(NONE) },
		{ "VRFY John Smith", 0, 0, 0, SMTP_VERB_VRFY, E(NONE) },
		{ "VRFY <alice@example.com>", 0, 0, 0, SMTP_VERB_VRFY,
		    E(NONE) },
		{ "VRFY", 0, 0, 0, SMTP_VERB_VRFY, E(VRFY_SYNTAX) },
		{ "VRFY   ", 0, 0, 0, SMTP_VERB_VRFY, E(VRFY_SYNTAX) },
		{ "EXPN staff", 0, 0, 0, SMTP_VERB_EXPN, E(NONE) },
		{ "EXPN", 0, 0, 0, SMTP_VERB_EXPN, E(VRFY_SYNTAX) },
		{ "VRFY j\xc3\xb6rg", 0, ALL_EXT, 0, SMTP_VERB_VRFY,
		    E(UTF8_ADDR) },
		{ "VRFY j\xc3\xb6rg SMTPUTF8", 0, ALL_EXT, 0, SMTP_VERB_VRFY,
		    E(NONE) },
		{ "VRFY j\xc3\xb6rg SMTPUTF8", 0, 0, 0, SMTP_VERB_VRFY,
		    E(UTF8_ADDR) },
		{ "VRFY j\xc3rg SMTPUTF8", 0, ALL_EXT, 0, SMTP_VERB_VRFY,
		    E(VRFY_SYNTAX) },
		{ "BDAT 100", 0, 0, 0, SMTP_VERB_BDAT, E(NONE) },
		{ "BDAT 0 LAST", 0, 0, 0, SMTP_VERB_BDAT, E(NONE) },
		{ "bdat 5  last", 0, 0, 0, SMTP_VERB_BDAT, E(NONE) },
		{ "BDAT 18446744073709551615", 0, 0, 0, SMTP_VERB_BDAT,
		    E(NONE) },
		{ "BDAT 18446744073709551616", 0, 0, 0, SMTP_VERB_BDAT,
		    E(BDAT_SYNTAX) },
		{ "BDAT", 0, 0, 0, SMTP_VERB_BDAT, E(BDAT_SYNTAX) },
		{ "BDAT x", 0, 0, 0, SMTP_VERB_BDAT, E(BDAT_SYNTAX) },
		{ "BDAT -1", 0, 0, 0, SMTP_VERB_BDAT, E(BDAT_SYNTAX) },
		{ "BDAT 1x", 0, 0, 0, SMTP_VERB_BDAT, E(BDAT_SYNTAX) },
		{ "BDAT 1 FIRST", 0, 0, 0, SMTP_VERB_BDAT, E(BDAT_SYNTAX) },
		{ "BDAT 1 LAST x", 0, 0, 0, SMTP_VERB_BDAT, E(BDAT_SYNTAX) },
		{ "BDAT LAST", 0, 0, 0, SMTP_VERB_BDAT, E(BDAT_SYNTAX) },
		{ "AUTH PLAIN", 0, 0, 0, SMTP_VERB_AUTH, E(NONE) },
		{ "AUTH PLAIN =", 0, 0, 0, SMTP_VERB_AUTH, E(NONE) },
		{ "AUTH PLAIN AGFsaWNlAHNlY3JldA==", 0, 0, 0, SMTP_VERB_AUTH,
		    E(NONE) },
		{ "AUTH LOGIN YWxpY2U=", 0, 0, 0, SMTP_VERB_AUTH, E(NONE) },
		{ "AUTH X-OAUTH_2", 0, 0, 0, SMTP_VERB_AUTH, E(NONE) },
		{ "AUTH", 0, 0, 0, SMTP_VERB_AUTH, E(AUTH_SYNTAX) },
		{ "AUTH PL@IN", 0, 0, 0, SMTP_VERB_AUTH, E(AUTH_SYNTAX) },
		{ "AUTH ABCDEFGHIJKLMNOPQRSTU", 0, 0, 0, SMTP_VERB_AUTH,
		    E(AUTH_SYNTAX) },
		{ "AUTH ABCDEFGHIJKLMNOPQRST", 0, 0, 0, SMTP_VERB_AUTH,
		    E(NONE) },
		{ "AUTH PLAIN x y", 0, 0, 0, SMTP_VERB_AUTH, E(AUTH_SYNTAX) },
		{ "AUTH PLAIN abc", 0, 0, 0, SMTP_VERB_AUTH, E(AUTH_BASE64) },
		{ "AUTH PLAIN ab!d", 0, 0, 0, SMTP_VERB_AUTH, E(AUTH_BASE64) },
		{ "AUTH PLAIN a=bc", 0, 0, 0, SMTP_VERB_AUTH, E(AUTH_BASE64) },
		{ "AUTH PLAIN ====", 0, 0, 0, SMTP_VERB_AUTH, E(AUTH_BASE64) },
		{ "AUTH PLAIN *", 0, 0, 0, SMTP_VERB_AUTH, E(AUTH_BASE64) },
		{ "", 0, 0, 0, SMTP_VERB_UNKNOWN, E(UNKNOWN) },
		{ "   ", 0, 0, 0, SMTP_VERB_UNKNOWN, E(UNKNOWN) },
		{ " NOOP", 0, 0, 0, SMTP_VERB_UNKNOWN, E(UNKNOWN) },
		{ "FOO", 0, 0, 0, SMTP_VERB_UNKNOWN, E(UNKNOWN) },
		{ "MAILFROM:<a@b.example>", 0, 0, 0, SMTP_VERB_UNKNOWN,
		    E(UNKNOWN) },
		{ "DATAX", 0, 0, 0, SMTP_VERB_UNKNOWN, E(UNKNOWN) },
		{ "DAT", 0, 0, 0, SMTP_VERB_UNKNOWN, E(UNKNOWN) },
		{ "STARTTLSX", 0, 0, 0, SMTP_VERB_UNKNOWN, E(UNKNOWN) },
		{ "\xc3\xa9HLO x", 0, 0, 0, SMTP_VERB_UNKNOWN, E(UNKNOWN) },
		{ "XCLIENT ADDR=192.0.2.1", 0, 0, 0, SMTP_VERB_UNKNOWN,
		    E(UNKNOWN) },
		{ "ETRN example.com", 0, 0, 0, SMTP_VERB_UNKNOWN, E(UNKNOWN) },
		{ "GET / HTTP/1.1", 0, 0, 0, SMTP_VERB_UNKNOWN, E(UNKNOWN) },
		/* control bytes: NUL, a CR that was not part of CRLF, DEL */
		{ "NOOP a\0b", 8, 0, 0, SMTP_VERB_NOOP, E(BAD_CHAR) },
		{ "\0", 1, 0, 0, SMTP_VERB_UNKNOWN, E(BAD_CHAR) },
		{ "MAIL FROM:<a@b.example>\rRCPT TO:<c@d.example>", 0, 0, 0,
		    SMTP_VERB_MAIL, E(BAD_CHAR) },
		{ "DATA\r", 0, 0, 0, SMTP_VERB_UNKNOWN, E(BAD_CHAR) },
		{ "NOOP \x7f", 0, 0, 0, SMTP_VERB_NOOP, E(BAD_CHAR) },
		{ "NOOP \x1b[31m", 0, 0, 0, SMTP_VERB_NOOP, E(BAD_CHAR) },
	};

	RUN(cases);
}

static void
test_simple_fields(void **state)
{
	struct smtp_cmd cmd;

	cmd = parse("BDAT 4096");
	assert_true(cmd.bdat.size == 4096);
	assert_false(cmd.bdat.last);
	cmd = parse("BDAT 0 last");
	assert_true(cmd.bdat.size == 0);
	assert_true(cmd.bdat.last);
	cmd = parse("BDAT 18446744073709551615 LAST");
	assert_true(cmd.bdat.size == UINT64_MAX);

	cmd = parse("auth plain AGFsaWNlAHNlY3JldA==");
	assert_string_equal(cmd.auth.mech, "PLAIN");
	assert_int_equal(cmd.auth.initial_len, 20);
	/* no copy of the secret: it points into the caller's line */
	assert_ptr_equal(cmd.auth.initial, copy + 11);
	assert_memory_equal(cmd.auth.initial, "AGFsaWNlAHNlY3JldA==", 20);
	cmd = parse("AUTH login");
	assert_string_equal(cmd.auth.mech, "LOGIN");
	assert_null(cmd.auth.initial);
	assert_int_equal(cmd.auth.initial_len, 0);
	cmd = parse("AUTH PLAIN =");
	assert_int_equal(cmd.auth.initial_len, 1);
	assert_memory_equal(cmd.auth.initial, "=", 1);

	cmd = parse("VRFY  John Smith ");
	assert_string_equal(cmd.arg, "John Smith");
	assert_false(cmd.vrfy_utf8);
	cmd = parse("EXPN j\xc3\xb6rg  smtputf8");
	assert_int_equal(cmd.err, SMTP_PERR_NONE);
	assert_true(cmd.vrfy_utf8);
	assert_string_equal(cmd.arg, "j\xc3\xb6rg");
	cmd = parse("HELP");
	assert_null(cmd.arg);
	cmd = parse("HELP  mail from");
	assert_string_equal(cmd.arg, "mail from");
	cmd = parse("NOOP");
	assert_null(cmd.arg);
}

static void
test_bare_lf(void **state)
{
	struct smtp_parse_opts o;
	struct smtp_cmd cmd;

	smtp_parse_opts_init(&o);
	/* tolerated by default: a bare LF command is still one command */
	assert_int_equal(parse_full(&o, "NOOP", 4, false, &cmd), 0);
	assert_int_equal(cmd.err, SMTP_PERR_NONE);
	o.require_crlf = true;
	assert_int_equal(parse_full(&o, "NOOP", 4, false, &cmd), 0);
	assert_int_equal(cmd.verb, SMTP_VERB_NOOP);
	assert_int_equal(cmd.err, SMTP_PERR_BARE_LF);
	assert_int_equal(parse_full(&o, "NOOP", 4, true, &cmd), 0);
	assert_int_equal(cmd.err, SMTP_PERR_NONE);
}

static void
test_status(void **state)
{
	static const struct {
		enum smtp_perr err;
		uint16_t code;
		const char *enh;
	} map[] = {
		{ E(NONE), 250, "2.0.0" },
		{ E(UNKNOWN), 500, "5.5.2" },
		{ E(LINE_TOO_LONG), 500, "5.5.2" },
		{ E(BARE_LF), 500, "5.5.2" },
		{ E(BAD_CHAR), 500, "5.5.2" },
		{ E(NO_ARGS), 501, "5.5.4" },
		{ E(HELO_SYNTAX), 501, "5.5.4" },
		{ E(HELO_DOMAIN), 501, "5.5.4" },
		{ E(MAIL_SYNTAX), 501, "5.5.4" },
		{ E(RCPT_SYNTAX), 501, "5.5.4" },
		{ E(BAD_SENDER), 501, "5.1.7" },
		{ E(BAD_RCPT), 501, "5.1.3" },
		{ E(SENDER_TOO_LONG), 501, "5.1.7" },
		{ E(RCPT_TOO_LONG), 501, "5.1.3" },
		{ E(UTF8_ADDR), 553, "5.6.7" },
		{ E(PARAM_SYNTAX), 501, "5.5.4" },
		{ E(PARAM_UNKNOWN), 555, "5.5.4" },
		{ E(BDAT_SYNTAX), 501, "5.5.4" },
		{ E(AUTH_SYNTAX), 501, "5.5.4" },
		{ E(AUTH_BASE64), 501, "5.5.2" },
		{ E(VRFY_SYNTAX), 501, "5.5.4" },
	};
	size_t i;

	assert_int_equal(sizeof(map) / sizeof(map[0]), SMTP_PERR_COUNT_);
	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		const struct smtp_status *s = smtp_parse_status(map[i].err);

		assert_int_equal(s->code, map[i].code);
		assert_string_equal(s->enhanced, map[i].enh);
		assert_non_null(s->text);
		assert_true(strlen(s->text) > 0);
	}
	assert_int_equal(smtp_parse_status((enum smtp_perr)999)->code, 500);
	assert_string_equal(smtp_verb_name(SMTP_VERB_STARTTLS), "STARTTLS");
	assert_string_equal(smtp_verb_name(SMTP_VERB_UNKNOWN), "UNKNOWN");
}

static void
test_xtext(void **state)
{
	char out[32];

	assert_int_equal(smtp_xtext_decode("abc", 3, out), 3);
	assert_memory_equal(out, "abc", 3);
	assert_int_equal(smtp_xtext_decode("a+2Bb+3d", 8, out), 4);
	assert_memory_equal(out, "a+b=", 4);
	assert_int_equal(smtp_xtext_decode("", 0, out), 0);
	assert_int_equal(smtp_xtext_decode("+", 1, out), -EINVAL);
	assert_int_equal(smtp_xtext_decode("+4", 2, out), -EINVAL);
	assert_int_equal(smtp_xtext_decode("+4G", 3, out), -EINVAL);
	assert_int_equal(smtp_xtext_decode("a=b", 3, out), -EINVAL);
	assert_int_equal(smtp_xtext_decode("a b", 3, out), -EINVAL);
	assert_int_equal(smtp_xtext_decode("\xc3\xb6", 2, out), -EINVAL);
}

static void
test_nomem(void **state)
{
	struct smtp_parse_opts o;
	struct smtp_cmd cmd;
	struct arena *tiny;
	char line[400];
	size_t n;
	int r;

	/* the arena refusing is -ENOMEM, never a crash or a half answer */
	smtp_parse_opts_init(&o);
	o.ext = ALL_EXT;
	tiny = arena_new(256, 256);
	assert_non_null(tiny);
	n = (size_t)snprintf(line, sizeof(line), "MAIL FROM:<%0200d@e.example>"
	    " ENVID=%090d", 0, 0);
	o.max_local_len = 0;
	r = smtp_parse_line(tiny, &o, (const uint8_t *)line, n, true, &cmd);
	assert_int_equal(r, -ENOMEM);
	arena_reset(tiny);
	r = smtp_parse_line(tiny, &o, (const uint8_t *)"NOOP", 4, true, &cmd);
	assert_int_equal(r, 0);
	arena_free(&tiny);
}

/* ---- a pipelined stream through the core's line splitter ----------- */

struct trace {
	char text[4096];
	size_t len;
	const struct smtp_parse_opts *o;
};

static void
trace_line(void *ctx, const uint8_t *line, size_t len, unsigned flags)
{
	struct trace *t = ctx;
	struct smtp_cmd cmd;
	uint8_t *p;
	int n;

	if (flags & POSTA_LINE_TOO_LONG) {
		n = snprintf(t->text + t->len, sizeof(t->text) - t->len,
		    "toolong;");
	} else {
		p = malloc(len > 0 ? len : 1);
		assert_non_null(p);
		memcpy(p, line, len);
		arena_reset(arena);
		assert_int_equal(smtp_parse_line(arena, t->o, p, len,
		    (flags & POSTA_LINE_CRLF) != 0, &cmd), 0);
		n = snprintf(t->text + t->len, sizeof(t->text) - t->len,
		    "%s:%d:%s;", smtp_verb_name(cmd.verb), cmd.err,
		    cmd.verb == SMTP_VERB_RCPT && cmd.err == 0 ?
		    cmd.rcpt.path.mailbox : "");
		free(p);
	}
	assert_true(n > 0 && (size_t)n < sizeof(t->text) - t->len);
	t->len += (size_t)n;
}

static void
trace_data(void *ctx, const uint8_t *p, size_t len, bool last)
{
	fail_msg("no exact-byte reads in this test");
}

static void
run_stream(const struct smtp_parse_opts *o, const char *s, size_t n,
    size_t split, size_t step, char *out)
{
	struct tlines *tl = malloc(sizeof(*tl));
	struct trace t;
	size_t i;

	assert_non_null(tl);
	memset(&t, 0, sizeof(t));
	t.o = o;
	tlines_init(tl, 64, &t, trace_line, trace_data);
	if (step == 0) {
		tlines_feed(tl, (const uint8_t *)s, split);
		tlines_feed(tl, (const uint8_t *)s + split, n - split);
	} else {
		for (i = 0; i < n; i += step)
			tlines_feed(tl, (const uint8_t *)s + i,
			    n - i < step ? n - i : step);
	}
	memcpy(out, t.text, t.len + 1);
	free(tl);
}

static void
test_stream_split(void **state)
{
	static const char stream[] =
	    "EHLO client.example\r\n"
	    "MAIL FROM:<a@b.example> SIZE=10\r\n"
	    "RCPT TO:<c@d.example>\r\n"
	    "RCPT TO:<\"x y\"@d.example>\n"
	    "RCPT TO:<bad\r\n"
	    "NOOP " "0123456789012345678901234567890123456789"
	    "0123456789012345678901234567890123456789\r\n"
	    "DATA\r\r\n"
	    "rcpt to:<postmaster>\r\n"
	    "\r\n"
	    "QUIT\r\n";
	struct smtp_parse_opts o;
	static char whole[4096], part[4096];
	size_t n = sizeof(stream) - 1, split;

	smtp_parse_opts_init(&o);
	o.ext = ALL_EXT;
	run_stream(&o, stream, n, n, 0, whole);
	assert_string_equal(whole,
	    "EHLO:0:;MAIL:0:;RCPT:0:c@d.example;RCPT:0:\"x y\"@d.example;"
	    "RCPT:11:;toolong;UNKNOWN:4:;RCPT:0:postmaster;UNKNOWN:1:;"
	    "QUIT:0:;");
	for (split = 0; split <= n; split++) {
		run_stream(&o, stream, n, split, 0, part);
		assert_string_equal(part, whole);
	}
	run_stream(&o, stream, n, 0, 1, part);
	assert_string_equal(part, whole);
	run_stream(&o, stream, n, 0, 7, part);
	assert_string_equal(part, whole);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_helo),
		cmocka_unit_test(test_mail_syntax),
		cmocka_unit_test(test_mail_fields),
		cmocka_unit_test(test_mail_params),
		cmocka_unit_test(test_rcpt),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_simple_verbs),
		cmocka_unit_test(test_simple_fields),
		cmocka_unit_test(test_bare_lf),
		cmocka_unit_test(test_status),
		cmocka_unit_test(test_xtext),
		cmocka_unit_test(test_nomem),
		cmocka_unit_test(test_stream_split),
	};

	return cmocka_run_group_tests_name("smtp_parse", tests, setup,
	    teardown);
}
