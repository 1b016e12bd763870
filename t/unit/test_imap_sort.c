/* test_imap_sort.c: SORT keys: base subject, sent date, ENVELOPE, IDs, order */
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
#include "imap_parse.h"
#include "imap_search_parse.h"
#include "imap_sort_key.h"
#include "imap_thread.h"

static int
setup(void **state)
{
	*state = arena_new(4096, 0);
	return *state == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	struct arena *a = *state;

	arena_free(&a);
	return 0;
}

static void
check_base(struct arena *a, const char *subject, const char *want,
    bool want_reply)
{
	bool reply = !want_reply;
	char *b = imap_base_subject(a, subject,
	    subject != NULL ? strlen(subject) : 0, &reply);

	assert_non_null(b);
	if (strcmp(b, want) != 0)
		fail_msg("base subject of \"%s\": \"%s\", want \"%s\"",
		    subject, b, want);
	if (reply != want_reply)
		fail_msg("reply flag of \"%s\": %d", subject, reply);
}

/* RFC 5256 section 2.1 and the examples clients meet every day. */
static void
test_base_subject(void **state)
{
	struct arena *a = *state;

	check_base(a, NULL, "", false);
	check_base(a, "", "", false);
	check_base(a, "hello", "HELLO", false);
	check_base(a, "Re: hello", "HELLO", true);
	check_base(a, "RE: Re: re: hello", "HELLO", true);
	check_base(a, "Fwd: hello", "HELLO", true);
	check_base(a, "Fw: hello", "HELLO", true);
	check_base(a, "fw : hello", "HELLO", true);
	check_base(a, "Re[2]: hello", "HELLO", true);
	check_base(a, "Re [2] : hello", "HELLO", true);
	check_base(a, "hello (fwd)", "HELLO", true);
	check_base(a, "hello (fwd) (FWD)  ", "HELLO", true);
	check_base(a, "[fwd: hello]", "HELLO", true);
	check_base(a, "Re: [fwd: Re: hello]", "HELLO", true);
	check_base(a, "[Fwd: [list] Re: hello (fwd)]", "HELLO", true);
	/* a blob goes only when something is left after it */
	check_base(a, "[posta-dev] hello", "HELLO", false);
	check_base(a, "[posta-dev] Re: hello", "HELLO", true);
	check_base(a, "Re: [posta-dev] hello", "HELLO", true);
	check_base(a, "[a][b] [c] hello", "HELLO", false);
	check_base(a, "[only a blob]", "[ONLY A BLOB]", false);
	check_base(a, "[a] [b]", "[B]", false);
	/* whitespace: tabs, folding and runs become one space */
	check_base(a, "  hello\t \r\n  world  ", "HELLO WORLD", false);
	/* not leaders */
	check_base(a, "Reply to this", "REPLY TO THIS", false);
	check_base(a, "Re hello", "RE HELLO", false);
	check_base(a, "Ref: x", "REF: X", false);
	check_base(a, "Re[2 hello", "RE[2 HELLO", false);
	check_base(a, "[unclosed hello", "[UNCLOSED HELLO", false);
	check_base(a, "hello]", "HELLO]", false);
	/* step (6) looks only at the ends */
	check_base(a, "[fwd: ]", "", true);
	check_base(a, "Re:", "", true);
	check_base(a, "(fwd)", "", true);
	/* RFC 2047 words are decoded before anything else */
	check_base(a, "=?UTF-8?B?UmU6IGjDqWxsbw==?=", "H\xc3\xa9LLO",
	    true);
	check_base(a, "=?ISO-8859-1?Q?Re=3A_caf=E9?=", "CAF\xc3\xa9", true);
	check_base(a, "Re: =?utf-8?q?=C3=A9t=C3=A9?= (fwd)",
	    "\xc3\xa9T\xc3\xa9", true);
	/* i;ascii-casemap: non-ASCII bytes stay as they are */
	check_base(a, "\xc3\xa9t\xc3\xa9", "\xc3\xa9T\xc3\xa9", false);
}

/* Extraction never reads outside the string, whatever it is given. */
static void
test_base_subject_nasty(void **state)
{
	struct arena *a = *state;
	static const char *const nasty[] = {
		"[", "]", "[[[[", "]]]]", "[fwd:", "[fwd:]", "[FWD:[FWD:]]",
		"re", "re:", "fw", "fwd", "(fwd", "fwd)", "Re[", "Re[]",
		"Re[]:", "[]", "[] x", "[][][]", "\t", " ", "=?", "=?x?B?=",
		"=?UTF-8?B?", "=?UTF-8?Q?=", "Re: Re: Re: Re: Re: Re: Re:",
	};
	char big[20000];
	size_t i, start;
	bool reply;
	char *b;

	for (i = 0; i < sizeof(nasty) / sizeof(nasty[0]); i++) {
		b = imap_base_subject(a, nasty[i], strlen(nasty[i]), &reply);
		assert_non_null(b);
		assert_true(strlen(b) <= strlen(nasty[i]));
	}
	check_base(a, "[fwd:]", "", true);
	check_base(a, "Re[]: x", "X", true);
	/* many leaders and wrappers in a row: bounded, all removed */
	big[0] = '\0';
	for (i = 0; i < 1000; i++)
		strcat(big, "Re: [fwd: ");
	strcat(big, "x");
	for (i = 0; i < 1000; i++)
		strcat(big, "]");
	b = imap_base_subject(a, big, strlen(big), &reply);
	assert_string_equal(b, "X");
	assert_true(reply);
	/* the in-place form with explicit lengths */
	assert_int_equal(imap_base_subject_extract("RE: X", 5, &start,
	    &reply), 1);
	assert_int_equal(start, 4);
	assert_int_equal(imap_base_subject_extract("", 0, &start, &reply),
	    0);
}

static void
test_sent_date(void **state)
{
	int64_t t;

	(void)state;
	assert_int_equal(imap_sent_date_parse("Thu, 1 Jan 1970 00:00:00 "
	    "+0000", 31, &t), 0);
	assert_int_equal(t, 0);
	/* RFC 5256 2.2's example: normalised to UTC */
	assert_int_equal(imap_sent_date_parse("31 Dec 2000 16:01:33 -0800",
	    26, &t), 0);
	assert_int_equal(t, 978307293);	/* 2001-01-01 00:01:33 UTC */
	assert_int_equal(imap_sent_date_parse("Mon, 01 Jan 2001 00:01:33 "
	    "+0000 (UTC)", 37, &t), 0);
	assert_int_equal(t, 978307293);
	assert_int_equal(imap_sent_date_parse("1 Jan 2001 09:01:33 JST",
	    23, &t), 0);	/* unknown zone: UTC */
	assert_int_equal(t, 978339693);
	assert_int_equal(imap_sent_date_parse("1 Jan 2001 02:01:33 EST",
	    23, &t), 0);
	assert_int_equal(t, 978332493);
	/* obsolete forms: two-digit year, no seconds, comments, no comma */
	assert_int_equal(imap_sent_date_parse("Mon (x) 1 Jan 01 00:01 GMT",
	    26, &t), 0);
	assert_int_equal(t, 978307260);
	assert_int_equal(imap_sent_date_parse("1 January 99 00:00:00 +0000",
	    27, &t), 0);
	assert_int_equal(t, 915148800);
	/* bad time: 00:00:00; bad zone: UTC */
	assert_int_equal(imap_sent_date_parse("1 Jan 2001 99:99", 16, &t),
	    0);
	assert_int_equal(t, 978307200);
	assert_int_equal(imap_sent_date_parse("1 Jan 2001 10:00:00 +9999",
	    25, &t), 0);
	assert_int_equal(t, 978307200 + 36000);
	/* no date: the caller falls back to the internal date */
	assert_int_equal(imap_sent_date_parse("", 0, &t), -EINVAL);
	assert_int_equal(imap_sent_date_parse("yesterday", 9, &t), -EINVAL);
	assert_int_equal(imap_sent_date_parse("30 Feb 2001", 11, &t),
	    -EINVAL);
	assert_int_equal(imap_sent_date_parse("1 Foo 2001", 10, &t), -EINVAL);
	assert_int_equal(imap_sent_date_parse("123 Jan 2001", 12, &t),
	    -EINVAL);
	assert_int_equal(imap_sent_date_parse("1 Ja", 4, &t), -EINVAL);
	assert_int_equal(imap_sent_date_parse(NULL, 0, &t), -EINVAL);
}

static void
test_envelope(void **state)
{
	struct arena *a = *state;
	struct imap_envelope e;
	static const char env[] =
	    "(\"Mon, 7 Feb 1994 21:52:25 -0800\" \"Re: \\\"quoted\\\" x\" "
	    "((\"Fred Foobar\" NIL \"foobar\" \"Blurdybloop.COM\")) "
	    "((NIL NIL \"sender\" \"x.org\")) NIL "
	    "((NIL NIL \"undisclosed\" NIL)(NIL NIL NIL NIL)"
	    "(NIL NIL \"mooch\" \"owatagu.siam.edu\")) "
	    "NIL NIL \"<a@b>\" {11}\r\n<id@host.x>)";

	assert_int_equal(imap_envelope_parse(a, env, strlen(env), &e), 0);
	assert_string_equal(e.date, "Mon, 7 Feb 1994 21:52:25 -0800");
	assert_string_equal(e.subject, "Re: \"quoted\" x");
	assert_string_equal(e.from.name, "Fred Foobar");
	assert_string_equal(e.from.mailbox, "foobar");
	assert_string_equal(e.from.host, "Blurdybloop.COM");
	/* group markers are skipped */
	assert_string_equal(e.to.mailbox, "mooch");
	assert_null(e.to.name);
	assert_null(e.cc.mailbox);
	assert_string_equal(e.in_reply_to, "<a@b>");
	assert_string_equal(e.message_id, "<id@host.x>");

	assert_int_equal(imap_envelope_parse(a, "(NIL NIL NIL NIL NIL NIL "
	    "NIL NIL NIL NIL)", 41, &e), 0);
	assert_null(e.subject);
	assert_null(e.from.mailbox);
	/* malformed ones are refused, never read past the end */
	assert_int_equal(imap_envelope_parse(a, "", 0, &e), -EINVAL);
	assert_int_equal(imap_envelope_parse(a, "(", 1, &e), -EINVAL);
	assert_int_equal(imap_envelope_parse(a, "(\"abc", 5, &e), -EINVAL);
	assert_int_equal(imap_envelope_parse(a, "({5}\r\nab", 8, &e),
	    -EINVAL);
	assert_int_equal(imap_envelope_parse(a, "({99999999999999999999}"
	    "\r\n", 25, &e), -EINVAL);
	assert_int_equal(imap_envelope_parse(a, "(NIL NIL (( NIL NIL NIL))",
	    25, &e), -EINVAL);
	assert_int_equal(imap_envelope_parse(a, "(NIL NIL NIL NIL NIL NIL "
	    "NIL NIL NIL NIL", 40, &e), -EINVAL);
	assert_int_equal(imap_envelope_parse(a, NULL, 0, &e), -EINVAL);
}

static void
test_msgid(void **state)
{
	const char *v = "  <a@b> junk <no-at> <c@d> <bad id@x> (<e@f>) "
	    "<\"q x\"@y> <", *p = v, *end = v + strlen(v), *id;
	size_t len;

	(void)state;
	assert_true(imap_msgid_next(&p, end, &id, &len));
	assert_int_equal(len, 3);
	assert_memory_equal(id, "a@b", 3);
	assert_true(imap_msgid_next(&p, end, &id, &len));
	assert_memory_equal(id, "c@d", 3);
	assert_true(imap_msgid_next(&p, end, &id, &len));
	assert_memory_equal(id, "e@f", 3);
	assert_true(imap_msgid_next(&p, end, &id, &len));
	assert_int_equal(len, 7);
	assert_memory_equal(id, "\"q x\"@y", 7);
	assert_false(imap_msgid_next(&p, end, &id, &len));
	assert_false(imap_msgid_next(&p, end, &id, &len));
	p = "<<a@b>";
	assert_true(imap_msgid_next(&p, p + 6, &id, &len));
	assert_memory_equal(id, "a@b", 3);
	p = "<@>";
	assert_true(imap_msgid_next(&p, p + 3, &id, &len));
	p = "<>";
	assert_false(imap_msgid_next(&p, p + 2, &id, &len));
}

static void
test_compare(void **state)
{
	/* pool: "" A B a-ish */
	static const char pool[] = "\0ALICE\0BOB\0[\0a";
	struct imap_sort_rec r[5];
	struct imap_sort_crit c[3];
	size_t i;

	(void)state;
	memset(r, 0, sizeof(r));
	for (i = 0; i < 5; i++)
		r[i].idx = (uint32_t)i;
	r[0].str[IMAP_SORT_STR_FROM] = 7;	/* BOB */
	r[1].str[IMAP_SORT_STR_FROM] = 1;	/* ALICE */
	r[2].str[IMAP_SORT_STR_FROM] = 0;	/* none: first */
	r[3].str[IMAP_SORT_STR_FROM] = 1;
	r[4].str[IMAP_SORT_STR_FROM] = 11;	/* "[" after "B" */
	r[0].date = 5;
	r[1].date = 9;
	r[2].date = 9;
	r[3].date = 1;
	r[4].date = 9;
	r[0].size = 3;
	r[1].size = 1;
	r[2].size = 2;
	r[3].size = 2;
	r[4].size = 2;

	c[0].type = IMAP_SORT_FROM;
	c[0].reverse = false;
	assert_true(imap_sort_compare(&r[2], &r[1], c, 1, pool) < 0);
	assert_true(imap_sort_compare(&r[1], &r[0], c, 1, pool) < 0);
	assert_true(imap_sort_compare(&r[0], &r[4], c, 1, pool) < 0);
	/* equal keys: mailbox order */
	assert_true(imap_sort_compare(&r[1], &r[3], c, 1, pool) < 0);
	assert_true(imap_sort_compare(&r[3], &r[1], c, 1, pool) > 0);
	assert_int_equal(imap_sort_compare(&r[3], &r[3], c, 1, pool), 0);
	/* REVERSE applies to its key only, not to the tie-breaker */
	c[0].reverse = true;
	assert_true(imap_sort_compare(&r[1], &r[0], c, 1, pool) > 0);
	assert_true(imap_sort_compare(&r[1], &r[3], c, 1, pool) < 0);

	/* SIZE, then REVERSE DATE */
	c[0].type = IMAP_SORT_SIZE;
	c[0].reverse = false;
	c[1].type = IMAP_SORT_DATE;
	c[1].reverse = true;
	assert_int_equal(imap_sort_recs(r, 5, c, 2, pool), 0);
	assert_int_equal(r[0].idx, 1);	/* size 1 */
	assert_int_equal(r[1].idx, 2);	/* size 2, date 9 */
	assert_int_equal(r[2].idx, 4);	/* size 2, date 9, later */
	assert_int_equal(r[3].idx, 3);	/* size 2, date 1 */
	assert_int_equal(r[4].idx, 0);	/* size 3 */
}

/* The merge sort is stable and agrees with the comparator on big input. */
static void
test_sort_many(void **state)
{
	static const char pool[] = "";
	struct imap_sort_rec *r;
	struct imap_sort_crit c = { IMAP_SORT_ARRIVAL, false };
	size_t n = 10007, i;
	uint32_t seed = 1;

	(void)state;
	r = calloc(n, sizeof(*r));
	assert_non_null(r);
	for (i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		r[i].idx = (uint32_t)i;
		r[i].arrival = (int64_t)(seed >> 16) % 50;
	}
	assert_int_equal(imap_sort_recs(r, n, &c, 1, pool), 0);
	for (i = 1; i < n; i++)
		assert_true(imap_sort_compare(&r[i - 1], &r[i], &c, 1,
		    pool) < 0);
	free(r);
	assert_int_equal(imap_sort_recs(NULL, 0, &c, 1, pool), 0);
}

/* SORT and THREAD arguments, through the real command parser. */
static struct imap_parser *parser;

static int
parse_cmd(struct arena *a, const char *line, bool thread,
    struct imap_sort_args **sa_r, const char **error_r)
{
	struct imap_event ev;
	size_t used;
	int r;

	assert_int_equal(imap_parse_feed(parser, (const uint8_t *)line,
	    strlen(line), &used, &ev), IMAP_PARSE_EVENT);
	assert_int_equal(used, strlen(line));
	assert_int_equal(ev.type, IMAP_EVENT_COMMAND);
	r = imap_sort_parse(a, ev.args, thread, sa_r, error_r);
	assert_int_equal(imap_parse_feed(parser, NULL, 0, &used, &ev),
	    IMAP_PARSE_NEED_MORE);
	return r;
}

static void
test_parse(void **state)
{
	struct arena *a = *state;
	struct imap_sort_args *sa;
	const char *err;
	size_t i;

	parser = imap_parser_new(a, NULL);
	assert_non_null(parser);
	assert_int_equal(parse_cmd(a, "t SORT (REVERSE DATE subject) UTF-8 "
	    "ALL\r\n", false, &sa, &err), 0);
	assert_int_equal(sa->n_crit, 2);
	assert_int_equal(sa->crit[0].type, IMAP_SORT_DATE);
	assert_true(sa->crit[0].reverse);
	assert_int_equal(sa->crit[1].type, IMAP_SORT_SUBJECT);
	assert_false(sa->crit[1].reverse);
	assert_int_equal(sa->search->charset, IMAP_SEARCH_CHARSET_UTF8);
	assert_false(sa->search->has_return);

	assert_int_equal(parse_cmd(a, "t SORT RETURN (MIN COUNT) (ARRIVAL) "
	    "us-ascii UNSEEN FROM \"x\"\r\n", false, &sa, &err), 0);
	assert_true(sa->search->has_return);
	assert_int_equal(sa->search->return_opts, IMAP_SEARCH_RETURN_MIN |
	    IMAP_SEARCH_RETURN_COUNT);
	assert_int_equal(sa->search->root->u.sub->type, IMAP_SEARCH_UNSEEN);

	assert_int_equal(parse_cmd(a, "t SORT (DISPLAYFROM DISPLAYTO CC TO "
	    "SIZE FROM) UTF-8 1:*\r\n", false, &sa, &err), 0);
	assert_int_equal(sa->n_crit, 6);

	assert_int_equal(parse_cmd(a, "t THREAD REFERENCES UTF-8 ALL\r\n",
	    true, &sa, &err), 0);
	assert_int_equal(sa->alg, IMAP_THREAD_REFERENCES);
	assert_int_equal(parse_cmd(a, "t THREAD orderedsubject US-ASCII "
	    "SINCE 1-Feb-1994\r\n", true, &sa, &err), 0);
	assert_int_equal(sa->alg, IMAP_THREAD_ORDEREDSUBJECT);

	/* charsets other than UTF-8 and US-ASCII: NO [BADCHARSET] */
	assert_int_equal(parse_cmd(a, "t SORT (DATE) ISO-8859-1 ALL\r\n",
	    false, &sa, &err), -ENOTSUP);
	assert_int_equal(parse_cmd(a, "t THREAD REFERENCES KOI8-R ALL\r\n",
	    true, &sa, &err), -ENOTSUP);
	/* syntax: BAD */
	static const char *const bad[] = {
		"t SORT\r\n",
		"t SORT DATE UTF-8 ALL\r\n",
		"t SORT () UTF-8 ALL\r\n",
		"t SORT (DATE) UTF-8\r\n",
		"t SORT (DATE)\r\n",
		"t SORT (REVERSE) UTF-8 ALL\r\n",
		"t SORT (REVERSE REVERSE DATE) UTF-8 ALL\r\n",
		"t SORT (DATE REVERSE) UTF-8 ALL\r\n",
		"t SORT (BOGUS) UTF-8 ALL\r\n",
		"t SORT ((DATE)) UTF-8 ALL\r\n",
		"t SORT (DATE) UTF-8 NOSUCHKEY\r\n",
		"t SORT (DATE) (UTF-8) ALL\r\n",
		"t SORT RETURN (FOO) (DATE) UTF-8 ALL\r\n",
		"t SORT RETURN (DATE) UTF-8 ALL\r\n",
	};

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = parse_cmd(a, bad[i], false, &sa, &err);

		if (r != -EINVAL)
			fail_msg("%s: %d", bad[i], r);
		assert_non_null(err);
	}
	assert_int_equal(parse_cmd(a, "t THREAD UTF-8 ALL\r\n", true, &sa,
	    &err), -EINVAL);
	assert_int_equal(parse_cmd(a, "t THREAD\r\n", true, &sa, &err),
	    -EINVAL);
	assert_int_equal(parse_cmd(a, "t THREAD REFERENCES\r\n", true, &sa,
	    &err), -EINVAL);
	assert_int_equal(parse_cmd(a, "t THREAD REFERENCES UTF-8\r\n", true,
	    &sa, &err), -EINVAL);
	assert_int_equal(parse_cmd(a, "t THREAD (REFERENCES) UTF-8 ALL\r\n",
	    true, &sa, &err), -EINVAL);
	/* 8-bit search string without UTF-8 */
	assert_int_equal(parse_cmd(a, "t SORT (DATE) US-ASCII SUBJECT "
	    "\"\xc3\xa9\"\r\n", false, &sa, &err), -EINVAL);
	assert_int_equal(parse_cmd(a, "t SORT (DATE) UTF-8 SUBJECT "
	    "\"\xc3\xa9\"\r\n", false, &sa, &err), 0);
	/* too many keys */
	assert_int_equal(parse_cmd(a, "t SORT (DATE DATE DATE DATE DATE DATE "
	    "DATE DATE DATE DATE DATE DATE DATE DATE DATE DATE DATE) UTF-8 "
	    "ALL\r\n", false, &sa, &err), -EINVAL);
	imap_parser_free(&parser);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_base_subject, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_base_subject_nasty, setup,
		    teardown),
		cmocka_unit_test(test_sent_date),
		cmocka_unit_test_setup_teardown(test_envelope, setup,
		    teardown),
		cmocka_unit_test(test_msgid),
		cmocka_unit_test(test_compare),
		cmocka_unit_test(test_sort_many),
		cmocka_unit_test_setup_teardown(test_parse, setup, teardown),
	};

	return cmocka_run_group_tests_name("imap_sort", tests, NULL, NULL);
}
