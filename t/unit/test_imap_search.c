/* test_imap_search.c: SEARCH criteria parsed from real command lines */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "arena.h"
#include "imap_parse.h"
#include "imap_search_parse.h"
#include "imap_seqset.h"

static const char *const type_names[] = {
	[IMAP_SEARCH_AND] = "AND", [IMAP_SEARCH_OR] = "OR",
	[IMAP_SEARCH_NOT] = "NOT", [IMAP_SEARCH_ALL] = "ALL",
	[IMAP_SEARCH_SEQSET] = "SEQ", [IMAP_SEARCH_UID] = "UID",
	[IMAP_SEARCH_ANSWERED] = "ANSWERED", [IMAP_SEARCH_DELETED] = "DELETED",
	[IMAP_SEARCH_DRAFT] = "DRAFT", [IMAP_SEARCH_FLAGGED] = "FLAGGED",
	[IMAP_SEARCH_NEW] = "NEW", [IMAP_SEARCH_OLD] = "OLD",
	[IMAP_SEARCH_RECENT] = "RECENT", [IMAP_SEARCH_SEEN] = "SEEN",
	[IMAP_SEARCH_UNANSWERED] = "UNANSWERED",
	[IMAP_SEARCH_UNDELETED] = "UNDELETED",
	[IMAP_SEARCH_UNDRAFT] = "UNDRAFT",
	[IMAP_SEARCH_UNFLAGGED] = "UNFLAGGED",
	[IMAP_SEARCH_UNSEEN] = "UNSEEN", [IMAP_SEARCH_KEYWORD] = "KEYWORD",
	[IMAP_SEARCH_UNKEYWORD] = "UNKEYWORD", [IMAP_SEARCH_BCC] = "BCC",
	[IMAP_SEARCH_BODY] = "BODY", [IMAP_SEARCH_CC] = "CC",
	[IMAP_SEARCH_FROM] = "FROM", [IMAP_SEARCH_SUBJECT] = "SUBJECT",
	[IMAP_SEARCH_TEXT] = "TEXT", [IMAP_SEARCH_TO] = "TO",
	[IMAP_SEARCH_HEADER] = "HEADER", [IMAP_SEARCH_BEFORE] = "BEFORE",
	[IMAP_SEARCH_ON] = "ON", [IMAP_SEARCH_SINCE] = "SINCE",
	[IMAP_SEARCH_SENTBEFORE] = "SENTBEFORE",
	[IMAP_SEARCH_SENTON] = "SENTON",
	[IMAP_SEARCH_SENTSINCE] = "SENTSINCE",
	[IMAP_SEARCH_LARGER] = "LARGER", [IMAP_SEARCH_SMALLER] = "SMALLER",
	[IMAP_SEARCH_MODSEQ] = "MODSEQ",
};

static void
put(char *buf, size_t size, size_t *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf + *o, size - *o, fmt, ap);
	va_end(ap);
	assert_true(n >= 0 && (size_t)n < size - *o);
	*o += (size_t)n;
}

static void
dump_set(char *buf, size_t size, size_t *o, const struct imap_seqset *set)
{
	unsigned int i;

	for (i = 0; i < set->count; i++) {
		const struct imap_seq_range *r = &set->ranges[i];

		put(buf, size, o, i > 0 ? "," : "");
		if (r->lo == IMAP_SEQ_STAR)
			put(buf, size, o, "*");
		else
			put(buf, size, o, "%u", r->lo);
		if (r->hi != r->lo) {
			if (r->hi == IMAP_SEQ_STAR)
				put(buf, size, o, "-*");
			else
				put(buf, size, o, "-%u", r->hi);
		}
	}
}

static void
dump_key(char *buf, size_t size, size_t *o, const struct imap_search_key *k)
{
	const struct imap_search_key *c;

	put(buf, size, o, "%s", type_names[k->type]);
	switch (k->type) {
	case IMAP_SEARCH_AND:
	case IMAP_SEARCH_OR:
	case IMAP_SEARCH_NOT:
		put(buf, size, o, "(");
		for (c = k->u.sub; c != NULL; c = c->next) {
			dump_key(buf, size, o, c);
			if (c->next != NULL)
				put(buf, size, o, " ");
		}
		put(buf, size, o, ")");
		break;
	case IMAP_SEARCH_SEQSET:
	case IMAP_SEARCH_UID:
		put(buf, size, o, ":");
		dump_set(buf, size, o, &k->u.set);
		break;
	case IMAP_SEARCH_HEADER:
		put(buf, size, o, ":%s", k->u.str.field);
		/* fall through */
	case IMAP_SEARCH_KEYWORD: case IMAP_SEARCH_UNKEYWORD:
	case IMAP_SEARCH_BCC: case IMAP_SEARCH_BODY: case IMAP_SEARCH_CC:
	case IMAP_SEARCH_FROM: case IMAP_SEARCH_SUBJECT:
	case IMAP_SEARCH_TEXT: case IMAP_SEARCH_TO:
		assert_int_equal(strlen(k->u.str.value), k->u.str.len);
		put(buf, size, o, ":%s", k->u.str.value);
		break;
	case IMAP_SEARCH_BEFORE: case IMAP_SEARCH_ON: case IMAP_SEARCH_SINCE:
	case IMAP_SEARCH_SENTBEFORE: case IMAP_SEARCH_SENTON:
	case IMAP_SEARCH_SENTSINCE:
		put(buf, size, o, ":%04u-%02u-%02u", k->u.date.year,
		    k->u.date.month, k->u.date.day);
		break;
	case IMAP_SEARCH_LARGER:
	case IMAP_SEARCH_SMALLER:
		put(buf, size, o, ":%llu", (unsigned long long)k->u.size);
		break;
	case IMAP_SEARCH_MODSEQ:
		if (k->u.modseq.entry != NULL)
			put(buf, size, o, ":%s,%d", k->u.modseq.entry,
			    k->u.modseq.entry_type);
		put(buf, size, o, ":%llu",
		    (unsigned long long)k->u.modseq.value);
		break;
	default:
		break;
	}
}

struct fixture {
	struct arena *a;
	struct imap_parser *p;
};

static int
setup(void **state)
{
	static struct fixture f;

	f.a = arena_new(4096, 0);
	if (f.a == NULL)
		return -1;
	f.p = imap_parser_new(f.a, NULL);
	*state = &f;
	return f.p == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	arena_free(&f->a);
	return 0;
}

/*
 * Feeds "t SEARCH <criteria>\r\n" (literals included: LITERAL_NEEDED
 * events are simply continued) and parses the criteria.
 */
static int
search(struct fixture *f, const char *criteria, size_t clen, char *out,
    size_t size, const char **error_r)
{
	char line[1024];
	struct imap_event ev;
	struct imap_search *s;
	size_t len, off = 0, used, o = 0;
	int r;

	assert_true(clen + 12 < sizeof(line));
	memcpy(line, "t SEARCH ", 9);
	memcpy(line + 9, criteria, clen);
	memcpy(line + 9 + clen, "\r\n", 2);
	len = 11 + clen;
	for (;;) {
		enum imap_parse_result res = imap_parse_feed(f->p,
		    (const uint8_t *)line + off, len - off, &used, &ev);

		off += used;
		assert_int_equal(res, IMAP_PARSE_EVENT);
		if (ev.type == IMAP_EVENT_COMMAND)
			break;
		assert_int_equal(ev.type, IMAP_EVENT_LITERAL_NEEDED);
	}
	assert_int_equal(off, len);
	r = imap_search_parse(f->a, ev.args, &s, error_r);
	out[0] = '\0';
	if (r < 0) {
		assert_null(s);
		assert_non_null(*error_r);
		return r;
	}
	if (s->has_return)
		put(out, size, &o, "RET%u ", s->return_opts);
	if (s->charset == IMAP_SEARCH_CHARSET_UTF8)
		put(out, size, &o, "UTF8 ");
	if (s->uses_modseq)
		put(out, size, &o, "CONDSTORE ");
	dump_key(out, size, &o, s->root);
	return 0;
}

static void
good(struct fixture *f, const char *criteria, const char *want)
{
	char out[1024];
	const char *err = NULL;

	if (search(f, criteria, strlen(criteria), out, sizeof(out),
	    &err) != 0)
		fail_msg("\"%s\" refused: %s", criteria, err);
	if (strcmp(out, want) != 0)
		fail_msg("\"%s\"\n got  %s\n want %s", criteria, out, want);
}

static void
bad(struct fixture *f, const char *criteria, int want, const char *msg)
{
	char out[1024];
	const char *err = NULL;
	int r = search(f, criteria, strlen(criteria), out, sizeof(out), &err);

	if (r != want)
		fail_msg("\"%s\": got %d, want %d", criteria, r, want);
	assert_string_equal(err, msg);
}

static void
test_every_key(void **state)
{
	struct fixture *f = *state;

	good(f, "ALL", "AND(ALL)");
	good(f, "answered deleted draft flagged new old recent seen",
	    "AND(ANSWERED DELETED DRAFT FLAGGED NEW OLD RECENT SEEN)");
	good(f, "UNANSWERED UNDELETED UNDRAFT UNFLAGGED UNSEEN",
	    "AND(UNANSWERED UNDELETED UNDRAFT UNFLAGGED UNSEEN)");
	good(f, "KEYWORD $Junk UNKEYWORD NonJunk",
	    "AND(KEYWORD:$Junk UNKEYWORD:NonJunk)");
	good(f, "BCC a BODY \"b c\" CC {1}\r\nd FROM e SUBJECT f TEXT g TO h",
	    "AND(BCC:a BODY:b c CC:d FROM:e SUBJECT:f TEXT:g TO:h)");
	good(f, "HEADER X-Spam-Flag YES HEADER \"Message-ID\" \"\"",
	    "AND(HEADER:X-Spam-Flag:YES HEADER:Message-ID:)");
	good(f, "BEFORE 1-Feb-1994 ON \"29-Feb-2000\" SINCE 31-dec-1999",
	    "AND(BEFORE:1994-02-01 ON:2000-02-29 SINCE:1999-12-31)");
	good(f, "SENTBEFORE 01-Jan-2020 SENTON 9-SEP-2021 "
	    "SENTSINCE 28-Feb-2023",
	    "AND(SENTBEFORE:2020-01-01 SENTON:2021-09-09 "
	    "SENTSINCE:2023-02-28)");
	good(f, "LARGER 1000 SMALLER 0 LARGER 9223372036854775807",
	    "AND(LARGER:1000 SMALLER:0 LARGER:9223372036854775807)");
	good(f, "UID 1:5,7:* 2,4", "AND(UID:1-5,7-* SEQ:2,4)");
	good(f, "* 1:*", "AND(SEQ:* SEQ:1-*)");
	good(f, "MODSEQ 620162338",
	    "CONDSTORE AND(MODSEQ:620162338)");
	good(f, "MODSEQ \"/flags/\\\\draft\" all 620162338",
	    "CONDSTORE AND(MODSEQ:/flags/\\draft,3:620162338)");
	good(f, "MODSEQ \"/flags/$Junk\" priv 0",
	    "CONDSTORE AND(MODSEQ:/flags/$Junk,1:0)");
}

static void
test_structure(void **state)
{
	struct fixture *f = *state;

	good(f, "NOT SEEN", "AND(NOT(SEEN))");
	good(f, "OR SEEN FLAGGED", "AND(OR(SEEN FLAGGED))");
	good(f, "OR (SEEN DELETED) NOT (FROM a TO b)",
	    "AND(OR(AND(SEEN DELETED) NOT(AND(FROM:a TO:b))))");
	good(f, "OR OR 2:4 FLAGGED NOT NOT UID 3 1",
	    "AND(OR(OR(SEQ:2-4 FLAGGED) NOT(NOT(UID:3))) SEQ:1)");
	good(f, "((SEEN))", "AND(AND(AND(SEEN)))");
	/* RFC 3501's example */
	good(f, "FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"",
	    "AND(FLAGGED SINCE:1994-02-01 NOT(FROM:Smith))");
}

static void
test_charset_return(void **state)
{
	struct fixture *f = *state;

	good(f, "CHARSET UTF-8 SUBJECT {4}\r\nf\xc3\xbc" "r",
	    "UTF8 AND(SUBJECT:f\xc3\xbcr)");
	good(f, "charset \"utf-8\" TEXT \"\xe2\x82\xac\"",
	    "UTF8 AND(TEXT:\xe2\x82\xac)");
	good(f, "CHARSET US-ASCII TEXT x", "AND(TEXT:x)");
	good(f, "RETURN (MIN MAX) UNSEEN", "RET3 AND(UNSEEN)");
	good(f, "RETURN () UNSEEN", "RET4 AND(UNSEEN)");
	good(f, "RETURN (COUNT ALL SAVE) CHARSET UTF-8 ALL",
	    "RET28 UTF8 AND(ALL)");
	bad(f, "CHARSET KOI8-R TEXT x", -ENOTSUP, "Unsupported charset");
	bad(f, "CHARSET", -EINVAL, "Missing charset");
	bad(f, "CHARSET UTF-8", -EINVAL, "Missing search key");
	bad(f, "TEXT \"f\xc3\xbcr\"", -EINVAL,
	    "8-bit search string without CHARSET UTF-8");
	bad(f, "CHARSET UTF-8 TEXT \"\xc3\"", -EINVAL,
	    "Invalid UTF-8 in search string");
	bad(f, "CHARSET UTF-8 HEADER \"X-\xc3\xbc\" x", -EINVAL,
	    "Invalid header field name");
	bad(f, "RETURN UNSEEN", -EINVAL, "Invalid RETURN options");
	bad(f, "RETURN (MIN FOO) ALL", -EINVAL, "Unknown RETURN option");
	bad(f, "RETURN (MIN) CHARSET UTF-8", -EINVAL, "Missing search key");
	/* CHARSET after a key is just an unknown key */
	bad(f, "ALL CHARSET UTF-8", -EINVAL, "Unknown search key");
}

static void
test_rejects(void **state)
{
	struct fixture *f = *state;
	char deep[400], want[600];
	size_t i, o;

	bad(f, "FOO", -EINVAL, "Unknown search key");
	bad(f, "\"SEEN\"", -EINVAL, "Invalid search key");
	bad(f, "NIL", -EINVAL, "Unknown search key");
	bad(f, "()", -EINVAL, "Missing search key");
	bad(f, "NOT", -EINVAL, "Missing search key");
	bad(f, "OR SEEN", -EINVAL, "Missing search key");
	bad(f, "(OR SEEN) FLAGGED", -EINVAL, "Missing search key");
	bad(f, "FROM", -EINVAL, "Missing search string");
	bad(f, "FROM (a)", -EINVAL, "Invalid search string");
	bad(f, "FROM a*b", -EINVAL, "Invalid search string");
	bad(f, "TO \\x", -EINVAL, "Invalid search string");
	bad(f, "HEADER", -EINVAL, "Invalid header field name");
	bad(f, "HEADER X-A", -EINVAL, "Missing search string");
	bad(f, "HEADER \"\" x", -EINVAL, "Invalid header field name");
	bad(f, "HEADER \"a:b\" x", -EINVAL, "Invalid header field name");
	bad(f, "HEADER \"a b\" x", -EINVAL, "Invalid header field name");
	bad(f, "SINCE", -EINVAL, "Invalid search date");
	bad(f, "SINCE {10}\r\n1-Feb-1994", -EINVAL, "Invalid search date");
	bad(f, "SINCE 1994-02-01", -EINVAL, "Invalid search date");
	bad(f, "SINCE 0-Feb-1994", -EINVAL, "Invalid search date");
	bad(f, "SINCE 32-Jan-1994", -EINVAL, "Invalid search date");
	bad(f, "SINCE 29-Feb-1900", -EINVAL, "Invalid search date");
	bad(f, "SINCE 29-Feb-2023", -EINVAL, "Invalid search date");
	bad(f, "SINCE 31-Apr-2023", -EINVAL, "Invalid search date");
	bad(f, "SINCE 1-Foo-1994", -EINVAL, "Invalid search date");
	bad(f, "SINCE 1-Feb-94", -EINVAL, "Invalid search date");
	bad(f, "SINCE 1-Feb-19940", -EINVAL, "Invalid search date");
	bad(f, "SINCE 123-Feb-1994", -EINVAL, "Invalid search date");
	bad(f, "SINCE \"1-Feb-1994 \"", -EINVAL, "Invalid search date");
	bad(f, "SINCE (1-Feb-1994)", -EINVAL, "Invalid search date");
	bad(f, "LARGER", -EINVAL, "Invalid search size");
	bad(f, "LARGER -1", -EINVAL, "Invalid search size");
	bad(f, "LARGER 1k", -EINVAL, "Invalid search size");
	bad(f, "LARGER \"10\"", -EINVAL, "Invalid search size");
	bad(f, "LARGER 9223372036854775808", -EINVAL, "Invalid search size");
	bad(f, "UID", -EINVAL, "Missing UID set");
	bad(f, "UID 0", -EINVAL, "Invalid UID set");
	bad(f, "UID \"1\"", -EINVAL, "Missing UID set");
	bad(f, "1:0", -EINVAL, "Invalid sequence set");
	bad(f, "1,", -EINVAL, "Invalid sequence set");
	bad(f, "KEYWORD", -EINVAL, "Invalid keyword");
	bad(f, "KEYWORD \\Seen", -EINVAL, "Invalid keyword");
	bad(f, "KEYWORD \"$Junk\"", -EINVAL, "Invalid keyword");
	bad(f, "KEYWORD a*", -EINVAL, "Invalid keyword");
	bad(f, "MODSEQ", -EINVAL, "Invalid MODSEQ value");
	bad(f, "MODSEQ x", -EINVAL, "Invalid MODSEQ value");
	bad(f, "MODSEQ \"/flags/\\\\seen\" 5", -EINVAL,
	    "Invalid MODSEQ entry type");
	bad(f, "MODSEQ \"/other/x\" all 5", -EINVAL,
	    "Invalid MODSEQ entry name");
	bad(f, "MODSEQ \"/flags/x\" all", -EINVAL, "Invalid MODSEQ value");
	/* NOT NOT ... past the depth bound, without exhausting the stack */
	for (i = 0; i + 4 < sizeof(deep) && i / 4 <= IMAP_SEARCH_MAX_DEPTH;
	    i += 4)
		memcpy(deep + i, "NOT ", 4);
	memcpy(deep + i, "ALL", 4);
	bad(f, deep, -EINVAL, "Search nested too deeply");
	/* exactly at the bound is fine */
	deep[4 * IMAP_SEARCH_MAX_DEPTH] = '\0';
	strcat(deep, "ALL");
	o = 0;
	put(want, sizeof(want), &o, "AND(");
	for (i = 0; i < IMAP_SEARCH_MAX_DEPTH; i++)
		put(want, sizeof(want), &o, "NOT(");
	put(want, sizeof(want), &o, "ALL");
	for (i = 0; i <= IMAP_SEARCH_MAX_DEPTH; i++)
		put(want, sizeof(want), &o, ")");
	good(f, deep, want);
}

static void
test_date(void **state)
{
	struct imap_search_date d;

	assert_int_equal(imap_date_parse("1-Feb-1994", 10, &d), 0);
	assert_int_equal(d.year, 1994);
	assert_int_equal(d.month, 2);
	assert_int_equal(d.day, 1);
	assert_int_equal(imap_date_parse("29-feb-2400", 11, &d), 0);
	assert_int_equal(d.day, 29);
	assert_int_equal(imap_date_parse("31-DEC-9999", 11, &d), 0);
	assert_int_equal(d.month, 12);
	assert_int_equal(imap_date_parse("", 0, &d), -EINVAL);
	assert_int_equal(imap_date_parse("1-Feb-1994", 9, &d), -EINVAL);
	assert_int_equal(imap_date_parse("1-Feb-199x", 10, &d), -EINVAL);
	assert_int_equal(imap_date_parse("1 Feb 1994", 10, &d), -EINVAL);
	assert_int_equal(imap_date_parse("x-Feb-1994", 10, &d), -EINVAL);
}

static void
datetime(const char *s, int want, int64_t t, int zone)
{
	int64_t got_t = 0;
	int got_zone = 0;

	if (imap_datetime_parse(s, strlen(s), &got_t, &got_zone) != want)
		fail_msg("\"%s\": not %d", s, want);
	if (want == 0) {
		assert_int_equal(got_t, t);
		assert_int_equal(got_zone, zone);
	}
}

static void
test_datetime(void **state)
{
	datetime("17-Jul-1996 02:44:25 -0700", 0, 837596665, -420);
	datetime(" 1-Jan-1970 00:00:00 +0000", 0, 0, 0);
	datetime("01-Jan-1970 00:00:00 +0000", 0, 0, 0);
	datetime("1-Jan-1970 01:00:00 +0100", 0, 0, 60);
	datetime("31-Dec-1969 23:00:00 +0000", 0, -3600, 0);
	datetime("29-Feb-2000 23:59:59 +0530", 0, 951848999, 330);
	datetime("31-Dec-1999 23:59:60 +0000", 0, 946684800, 0);
	datetime("", -EINVAL, 0, 0);
	datetime("17-Jul-1996", -EINVAL, 0, 0);
	datetime("17-Jul-1996 02:44:25", -EINVAL, 0, 0);
	datetime("17-Jul-1996 02:44:25 0700", -EINVAL, 0, 0);
	datetime("17-Jul-1996 24:00:00 +0000", -EINVAL, 0, 0);
	datetime("17-Jul-1996 02:60:00 +0000", -EINVAL, 0, 0);
	datetime("17-Jul-1996 02:44:61 +0000", -EINVAL, 0, 0);
	datetime("17-Jul-1996 02:44:25 +0060", -EINVAL, 0, 0);
	datetime("17-Jul-1996 2:44:25 +0000", -EINVAL, 0, 0);
	datetime("17-Jul-1996  02:44:25 +0000", -EINVAL, 0, 0);
	datetime("17-Jul-1996 02:44:25 +00000", -EINVAL, 0, 0);
	datetime("  7-Jul-1996 02:44:25 +0000", -EINVAL, 0, 0);
	datetime(" 17-Jul-1996 02:44:25 +0000", -EINVAL, 0, 0);
	datetime("30-Feb-1996 02:44:25 +0000", -EINVAL, 0, 0);
	datetime("17-Jul-1996 02:4x:25 +0000", -EINVAL, 0, 0);
}

static void
test_nomem(void **state)
{
	static const char cmd[] = "t SEARCH SEEN UID 1:5 OR A B\r\n";
	struct fixture *f = *state;
	struct arena *small;
	struct imap_search *s;
	struct imap_event ev;
	const char *err;
	size_t used, limit;
	int r = -ENOMEM;

	assert_int_equal(imap_parse_feed(f->p, (const uint8_t *)cmd,
	    sizeof(cmd) - 1, &used, &ev), IMAP_PARSE_EVENT);
	/* every allocation failure on the way is a clean -ENOMEM */
	for (limit = 16; r == -ENOMEM; limit += 16) {
		small = arena_new(256, limit);
		assert_non_null(small);
		r = imap_search_parse(small, ev.args, &s, &err);
		if (r == -ENOMEM)
			assert_null(s);
		arena_free(&small);
		assert_true(limit < 65536);
	}
	assert_int_equal(r, -EINVAL);	/* "A" is no search key */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_every_key, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_structure, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_charset_return, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_rejects, setup, teardown),
		cmocka_unit_test(test_date),
		cmocka_unit_test(test_datetime),
		cmocka_unit_test_setup_teardown(test_nomem, setup, teardown),
	};

	return cmocka_run_group_tests_name("imap_search", tests, NULL, NULL);
}
