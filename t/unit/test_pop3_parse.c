/* test_pop3_parse.c: POP3 command-line parser and UIDL format compiler */
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

#include "pop3_parse.h"

/*
 * Parses from an exact-size heap copy, so ASan sees any read past the
 * line; checks that arguments point into that copy.
 */
static void
parse(const char *line, size_t len, struct pop3_cmd *cmd)
{
	uint8_t *p = malloc(len > 0 ? len : 1);
	unsigned i;

	assert_non_null(p);
	memcpy(p, line, len);
	pop3_parse_line(p, len, cmd);
	for (i = 0; i < cmd->nargs && cmd->err == POP3_PERR_NONE; i++) {
		assert_true(cmd->arg[i].ptr >= p);
		assert_true(cmd->arg[i].ptr + cmd->arg[i].len <= p + len);
		/* rebase onto the caller's string so it outlives p */
		cmd->arg[i].ptr = (const uint8_t *)line +
		    (cmd->arg[i].ptr - p);
	}
	free(p);
}

static void
parse_s(const char *line, struct pop3_cmd *cmd)
{
	parse(line, strlen(line), cmd);
}

static void
assert_arg(const struct pop3_cmd *cmd, unsigned i, const char *want)
{
	assert_true(i < cmd->nargs);
	assert_int_equal(cmd->arg[i].len, strlen(want));
	assert_memory_equal(cmd->arg[i].ptr, want, strlen(want));
}

static void
expect_err(const char *line, enum pop3_perr err)
{
	struct pop3_cmd cmd;

	parse_s(line, &cmd);
	if (cmd.err != err)
		fail_msg("\"%s\": err %d, want %d", line, cmd.err, err);
}

static void
test_verbs(void **state)
{
	static const struct {
		const char *line;
		enum pop3_verb verb;
	} cases[] = {
		{ "QUIT", POP3_VERB_QUIT }, { "quit", POP3_VERB_QUIT },
		{ "Stat", POP3_VERB_STAT }, { "LIST", POP3_VERB_LIST },
		{ "RETR 1", POP3_VERB_RETR }, { "DELE 1", POP3_VERB_DELE },
		{ "NOOP", POP3_VERB_NOOP }, { "RSET", POP3_VERB_RSET },
		{ "TOP 1 0", POP3_VERB_TOP }, { "top 1 0", POP3_VERB_TOP },
		{ "UIDL", POP3_VERB_UIDL }, { "CAPA", POP3_VERB_CAPA },
		{ "STLS", POP3_VERB_STLS }, { "AUTH", POP3_VERB_AUTH },
		{ "USER a", POP3_VERB_USER }, { "PASS b", POP3_VERB_PASS },
		{ "APOP a b", POP3_VERB_APOP },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pop3_cmd cmd;

		parse_s(cases[i].line, &cmd);
		assert_int_equal(cmd.err, POP3_PERR_NONE);
		assert_int_equal(cmd.verb, cases[i].verb);
	}
	assert_string_equal(pop3_verb_name(POP3_VERB_RETR), "RETR");
	assert_string_equal(pop3_verb_name(POP3_VERB_TOP), "TOP");
	assert_string_equal(pop3_verb_name((enum pop3_verb)999), "UNKNOWN");
}

static void
test_unknown_and_empty(void **state)
{
	(void)state;
	expect_err("", POP3_PERR_EMPTY);
	expect_err(" ", POP3_PERR_EMPTY);
	expect_err("   RETR 1", POP3_PERR_EMPTY);
	expect_err("HELO", POP3_PERR_UNKNOWN);
	expect_err("QUITX", POP3_PERR_UNKNOWN);
	expect_err("QU", POP3_PERR_UNKNOWN);
	expect_err("RETRIEVE 1", POP3_PERR_UNKNOWN);
	expect_err("GET / HTTP/1.0", POP3_PERR_UNKNOWN);
	expect_err("\xff\xfe\xfd", POP3_PERR_UNKNOWN);
	assert_string_equal(pop3_perr_text(POP3_PERR_UNKNOWN),
	    "Unknown command.");
	assert_string_equal(pop3_perr_text((enum pop3_perr)77),
	    "Unknown command.");
}

static void
test_bad_chars(void **state)
{
	struct pop3_cmd cmd;

	(void)state;
	parse("RE\0R 1", 6, &cmd);
	assert_int_equal(cmd.err, POP3_PERR_BAD_CHAR);
	parse("RETR 1\0", 7, &cmd);
	assert_int_equal(cmd.err, POP3_PERR_BAD_CHAR);
	parse("\0", 1, &cmd);
	assert_int_equal(cmd.err, POP3_PERR_BAD_CHAR);
	expect_err("RETR\t1", POP3_PERR_BAD_CHAR);
	expect_err("USER a\x01", POP3_PERR_BAD_CHAR);
	expect_err("LIST\x7f", POP3_PERR_BAD_CHAR);
	expect_err("USER a\rb", POP3_PERR_BAD_CHAR);
	/* a password may hold anything but NUL */
	parse("PASS a\0b", 8, &cmd);
	assert_int_equal(cmd.err, POP3_PERR_BAD_CHAR);
	parse_s("PASS a\tb\x01", &cmd);
	assert_int_equal(cmd.err, POP3_PERR_NONE);
	assert_arg(&cmd, 0, "a\tb\x01");
}

static void
test_arg_counts(void **state)
{
	(void)state;
	expect_err("QUIT now", POP3_PERR_ARGS);
	expect_err("STAT 1", POP3_PERR_ARGS);
	expect_err("NOOP x", POP3_PERR_ARGS);
	expect_err("RSET 1", POP3_PERR_ARGS);
	expect_err("CAPA x", POP3_PERR_ARGS);
	expect_err("STLS x", POP3_PERR_ARGS);
	expect_err("RETR", POP3_PERR_ARGS);
	expect_err("RETR 1 2", POP3_PERR_ARGS);
	expect_err("DELE", POP3_PERR_ARGS);
	expect_err("TOP 1", POP3_PERR_ARGS);
	expect_err("TOP", POP3_PERR_ARGS);
	expect_err("TOP 1 2 3", POP3_PERR_ARGS);
	expect_err("LIST 1 2", POP3_PERR_ARGS);
	expect_err("UIDL 1 2", POP3_PERR_ARGS);
	expect_err("USER", POP3_PERR_ARGS);
	expect_err("USER a b", POP3_PERR_ARGS);
	expect_err("PASS", POP3_PERR_ARGS);
	expect_err("PASS ", POP3_PERR_ARGS);
	expect_err("AUTH PLAIN x y", POP3_PERR_ARGS);
	/* tolerated: trailing and repeated spaces */
	expect_err("QUIT ", POP3_PERR_NONE);
	expect_err("RETR  1  ", POP3_PERR_NONE);
}

static void
test_numbers(void **state)
{
	struct pop3_cmd cmd;

	(void)state;
	parse_s("RETR 1", &cmd);
	assert_int_equal(cmd.num[0], 1);
	parse_s("DELE 007", &cmd);
	assert_int_equal(cmd.err, POP3_PERR_NONE);
	assert_int_equal(cmd.num[0], 7);
	parse_s("RETR 0", &cmd);
	assert_int_equal(cmd.err, POP3_PERR_NONE);
	assert_int_equal(cmd.num[0], 0);
	parse_s("LIST 4294967295", &cmd);
	assert_int_equal(cmd.err, POP3_PERR_NONE);
	assert_int_equal(cmd.num[0], UINT32_MAX);
	expect_err("LIST 4294967296", POP3_PERR_NUMBER);
	expect_err("RETR 99999999999999999999999", POP3_PERR_NUMBER);
	expect_err("RETR -1", POP3_PERR_NUMBER);
	expect_err("RETR +1", POP3_PERR_NUMBER);
	expect_err("RETR 1x", POP3_PERR_NUMBER);
	expect_err("RETR x", POP3_PERR_NUMBER);
	expect_err("UIDL 0x10", POP3_PERR_NUMBER);
	expect_err("TOP x 1", POP3_PERR_NUMBER);
	expect_err("TOP 1 -1", POP3_PERR_NUMBER);
	expect_err("TOP 99999999999 1", POP3_PERR_NUMBER);
	parse_s("TOP 2 10", &cmd);
	assert_int_equal(cmd.num[0], 2);
	assert_int_equal(cmd.num[1], 10);
	/* a line count past 32 bits means the whole body */
	parse_s("TOP 3 123456789012345678901234567890", &cmd);
	assert_int_equal(cmd.err, POP3_PERR_NONE);
	assert_int_equal(cmd.num[1], UINT32_MAX);
	parse_s("LIST", &cmd);
	assert_int_equal(cmd.err, POP3_PERR_NONE);
	assert_int_equal(cmd.nargs, 0);
}

static void
test_user_pass(void **state)
{
	struct pop3_cmd cmd;

	(void)state;
	parse_s("USER alice@example.com", &cmd);
	assert_int_equal(cmd.err, POP3_PERR_NONE);
	assert_arg(&cmd, 0, "alice@example.com");
	parse_s("user  bob@example.com ", &cmd);
	assert_arg(&cmd, 0, "bob@example.com");
	/* the password is the rest of the line, spaces included */
	parse_s("PASS  two  spaces ", &cmd);
	assert_int_equal(cmd.err, POP3_PERR_NONE);
	assert_arg(&cmd, 0, " two  spaces ");
	parse_s("pass x", &cmd);
	assert_arg(&cmd, 0, "x");
	parse_s("PASS \xc3\xa9t\xc3\xa9", &cmd);
	assert_arg(&cmd, 0, "\xc3\xa9t\xc3\xa9");
	expect_err("PASSx", POP3_PERR_UNKNOWN);
}

static void
test_auth(void **state)
{
	struct pop3_cmd cmd;

	(void)state;
	parse_s("AUTH", &cmd);
	assert_int_equal(cmd.err, POP3_PERR_NONE);
	assert_int_equal(cmd.nargs, 0);
	parse_s("AUTH plain", &cmd);
	assert_int_equal(cmd.nargs, 1);
	assert_arg(&cmd, 0, "plain");
	parse_s("AUTH PLAIN AGEAYg==", &cmd);
	assert_int_equal(cmd.nargs, 2);
	assert_arg(&cmd, 1, "AGEAYg==");
	parse_s("AUTH PLAIN =", &cmd);
	assert_arg(&cmd, 1, "=");
}

static void
test_too_long(void **state)
{
	char *line = malloc(POP3_ARG_MAX + 16);
	struct pop3_cmd cmd;

	(void)state;
	assert_non_null(line);
	memcpy(line, "USER ", 5);
	memset(line + 5, 'a', POP3_ARG_MAX);
	line[5 + POP3_ARG_MAX] = '\0';
	parse_s(line, &cmd);
	assert_int_equal(cmd.err, POP3_PERR_NONE);
	memcpy(line + 5 + POP3_ARG_MAX, "a", 2);
	parse_s(line, &cmd);
	assert_int_equal(cmd.err, POP3_PERR_TOO_LONG);
	memcpy(line, "PASS ", 5);
	parse_s(line, &cmd);
	assert_int_equal(cmd.err, POP3_PERR_TOO_LONG);
	free(line);
}

/* Every line of every length up to 12 bytes over a small alphabet. */
static void
test_exhaustive_short(void **state)
{
	static const char alpha[] = { 'R', 'E', 'T', ' ', '1', '\0', 'P',
		'A', 'S', '9' };
	char line[6];
	unsigned long n, total = 1;
	size_t len, i;

	(void)state;
	for (len = 0; len <= sizeof(line); len++) {
		total = 1;
		for (i = 0; i < len; i++)
			total *= sizeof(alpha);
		for (n = 0; n < total; n++) {
			unsigned long v = n;
			struct pop3_cmd cmd;

			for (i = 0; i < len; i++) {
				line[i] = alpha[v % sizeof(alpha)];
				v /= sizeof(alpha);
			}
			parse(line, len, &cmd);
			assert_true(cmd.err < POP3_PERR_COUNT_);
			assert_true(cmd.nargs <= 2);
		}
	}
}

/* ---- UIDL ---- */

static void
uidl(const char *fmt, uint32_t uid, uint32_t uv, const char *want)
{
	struct pop3_uidl_fmt f;
	const char *err = NULL;
	char buf[POP3_UIDL_MAX + 1];
	size_t n;

	if (pop3_uidl_compile(fmt, &f, &err) != 0)
		fail_msg("\"%s\": %s", fmt, err);
	n = pop3_uidl_format(&f, uid, uv, buf);
	assert_string_equal(buf, want);
	assert_int_equal(n, strlen(want));
}

static void
uidl_bad(const char *fmt)
{
	struct pop3_uidl_fmt f;
	const char *err = NULL;

	if (pop3_uidl_compile(fmt, &f, &err) != -EINVAL)
		fail_msg("\"%s\" compiled", fmt);
	assert_non_null(err);
}

static void
test_uidl_format(void **state)
{
	(void)state;
	/* Dovecot's default: UID then UIDVALIDITY, 8 upper-case hex each */
	uidl("%08Xu%08Xv", 42, 0x5F3C2B11, "0000002A5F3C2B11");
	uidl("%08Xu%08Xv", 0xFFFFFFFF, 0xFFFFFFFF, "FFFFFFFFFFFFFFFF");
	uidl("%08Xu%08Xv", 1, 1, "0000000100000001");
	uidl("%u", 0, 0, "0");
	uidl("%u.%v", 17, 1234567890, "17.1234567890");
	uidl("%xu-%Xv", 255, 255, "ff-FF");
	uidl("%010u", 12345, 0, "0000012345");
	uidl("a%%b%u", 5, 0, "a%b5");
	uidl("%v%u", 1, 2, "21");
	uidl("%08Xv%08Xu", 0x2a, 0x10, "000000100000002A");
	uidl_bad("");
	uidl_bad("%v");
	uidl_bad("abc");
	uidl_bad("%8u");
	uidl_bad("%08Xq");
	uidl_bad("%08X");
	uidl_bad("%");
	uidl_bad("a b%u");
	uidl_bad("%u\x01");
	uidl_bad("%u\xc3\xa9");
	uidl_bad("%099u");
	uidl_bad("%060u%020v");
	uidl_bad("%u%u%u%u%u%u%u%u%u%u%u%u%u%u%u%u%u");
	/* at most 70 characters: 10 digits each, worst case */
	uidl("%u%u%u%u%u%u%u", 4294967295u, 0,
	    "42949672954294967295429496729542949672954294967295"
	    "42949672954294967295");
	uidl_bad("%u%u%u%u%u%u%u%u");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_verbs),
		cmocka_unit_test(test_unknown_and_empty),
		cmocka_unit_test(test_bad_chars),
		cmocka_unit_test(test_arg_counts),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_user_pass),
		cmocka_unit_test(test_auth),
		cmocka_unit_test(test_too_long),
		cmocka_unit_test(test_exhaustive_short),
		cmocka_unit_test(test_uidl_format),
	};

	return cmocka_run_group_tests_name("pop3_parse", tests, NULL, NULL);
}
