/* test_imap_parse.c: IMAP command parser, fed whole, bytewise and split */
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

/* ---- a growing string for event transcripts ---- */

struct sbuf {
	char *s;
	size_t len, cap;
};

static void
sb_putn(struct sbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap == 0 ? 256 : b->cap;

		while (cap < b->len + n + 1)
			cap *= 2;
		b->s = realloc(b->s, cap);
		assert_non_null(b->s);
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void
sb_puts(struct sbuf *b, const char *s)
{
	sb_putn(b, s, strlen(s));
}

static void __attribute__((format(printf, 2, 3)))
sb_printf(struct sbuf *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	assert_true(n >= 0 && (size_t)n < sizeof(tmp));
	sb_putn(b, tmp, (size_t)n);
}

/* bytes outside printable ASCII as \xNN, so transcripts stay readable */
static void
sb_bytes(struct sbuf *b, const void *data, size_t len)
{
	const uint8_t *p = data;
	size_t i;

	for (i = 0; i < len; i++) {
		if (p[i] >= 0x20 && p[i] < 0x7f)
			sb_putn(b, (const char *)p + i, 1);
		else
			sb_printf(b, "\\x%02x", p[i]);
	}
}

static void sb_args(struct sbuf *b, const struct imap_arg *a);

static void
sb_arg(struct sbuf *b, const struct imap_arg *a)
{
	size_t i;

	switch (a->type) {
	case IMAP_ARG_ATOM:
		assert_int_equal(strlen(a->u.str.data), a->u.str.len);
		sb_puts(b, a->u.str.data);
		break;
	case IMAP_ARG_NIL:
		sb_puts(b, "NIL");
		break;
	case IMAP_ARG_STRING:
		sb_puts(b, "\"");
		for (i = 0; i < a->u.str.len; i++) {
			char c = a->u.str.data[i];

			if (c == '"' || c == '\\')
				sb_puts(b, "\\");
			sb_bytes(b, &c, 1);
		}
		sb_puts(b, "\"");
		break;
	case IMAP_ARG_LITERAL:
		assert_int_equal(a->u.str.data[a->u.str.len], '\0');
		sb_printf(b, "%s{%zu}", a->literal8 ? "~" : "", a->u.str.len);
		sb_bytes(b, a->u.str.data, a->u.str.len);
		break;
	case IMAP_ARG_STREAMED:
		sb_printf(b, "%s{%llu}<stream>", a->literal8 ? "~" : "",
		    (unsigned long long)a->u.streamed_size);
		break;
	case IMAP_ARG_LIST:
		assert_int_equal(imap_args_count(a->u.list.first),
		    a->u.list.count);
		sb_puts(b, "(");
		sb_args(b, a->u.list.first);
		sb_puts(b, ")");
		break;
	case IMAP_ARG_SECTION:
		sb_printf(b, "%s[", a->u.section.name);
		sb_args(b, a->u.section.children.first);
		sb_puts(b, "]");
		if (a->u.section.has_partial)
			sb_printf(b, "<%u.%u>", a->u.section.offset,
			    a->u.section.length);
		break;
	default:
		fail_msg("bad arg type %d", a->type);
	}
}

static void
sb_args(struct sbuf *b, const struct imap_arg *a)
{
	const struct imap_arg *parent = a != NULL ? a->parent : NULL;

	for (; a != NULL; a = a->next) {
		assert_ptr_equal(a->parent, parent);
		sb_arg(b, a);
		if (a->next != NULL)
			sb_puts(b, " ");
	}
}

/* ---- the driver ---- */

struct policy {
	const struct imap_parse_limits *lim;
	const char *stream_cmd;		/* stream this command's literals */
	const char *abort_cmd;		/* abort it at LITERAL_NEEDED */
	const char *abort_last_cmd;	/* abort it after a last chunk */
	const char *line_after;		/* read one raw line after it */
};

struct run {
	struct sbuf out;
	bool in_data;			/* merging LITERAL_DATA chunks */
	uint64_t data_remaining;
	const struct policy *pol;
	struct imap_parser *p;
};

static bool
name_is(const struct imap_event *ev, const char *want)
{
	return want != NULL && ev->name != NULL && strcmp(ev->name, want) == 0;
}

static void
record(struct run *r, enum imap_parse_result res, const struct imap_event *ev)
{
	struct sbuf *b = &r->out;

	if (ev->type != IMAP_EVENT_LITERAL_DATA && r->in_data)
		fail_msg("literal data ended without last");
	switch (ev->type) {
	case IMAP_EVENT_COMMAND:
		assert_int_equal(res, IMAP_PARSE_EVENT);
		sb_printf(b, "CMD %s %s%s", ev->tag, ev->uid ? "UID " : "",
		    ev->name);
		if (ev->args != NULL) {
			sb_puts(b, " ");
			sb_args(b, ev->args);
		}
		sb_puts(b, "\n");
		if (name_is(ev, r->pol->line_after))
			assert_int_equal(imap_parser_expect_line(r->p), 0);
		break;
	case IMAP_EVENT_LITERAL_NEEDED:
		assert_int_equal(res, IMAP_PARSE_EVENT);
		sb_printf(b, "LIT %s %s%s size=%llu %s%s%s%s args=", ev->tag,
		    ev->uid ? "UID " : "", ev->name,
		    (unsigned long long)ev->u.literal.size,
		    ev->u.literal.sync ? "sync" : "plus",
		    ev->u.literal.literal8 ? " lit8" : "",
		    ev->u.literal.stream ? " stream" : "",
		    ev->u.literal.too_big ? " toobig" : "");
		sb_args(b, ev->args);
		sb_puts(b, "\n");
		if (name_is(ev, r->pol->stream_cmd))
			assert_int_equal(imap_parser_stream_literal(r->p), 0);
		if (name_is(ev, r->pol->abort_cmd))
			assert_int_equal(imap_parser_abort_command(r->p), 0);
		else	/* not allowed inside a command */
			assert_int_equal(imap_parser_expect_line(r->p),
			    -EINVAL);
		break;
	case IMAP_EVENT_LITERAL_DATA:
		assert_int_equal(res, IMAP_PARSE_EVENT);
		if (!r->in_data) {
			sb_puts(b, "DATA ");
			r->in_data = true;
		} else {
			assert_int_equal(r->data_remaining,
			    ev->u.data.remaining + ev->u.data.len);
		}
		r->data_remaining = ev->u.data.remaining;
		assert_int_equal(ev->u.data.last, ev->u.data.remaining == 0);
		sb_bytes(b, ev->u.data.data, ev->u.data.len);
		if (ev->u.data.last) {
			r->in_data = false;
			sb_puts(b, "\n");
			if (name_is(ev, r->pol->abort_last_cmd))
				assert_int_equal(
				    imap_parser_abort_command(r->p), 0);
		}
		break;
	case IMAP_EVENT_LINE:
		assert_int_equal(res, IMAP_PARSE_EVENT);
		assert_null(ev->tag);
		sb_puts(b, "LINE ");
		sb_bytes(b, ev->u.line.data, ev->u.line.len);
		sb_puts(b, "\n");
		break;
	case IMAP_EVENT_ERROR:
		assert_int_equal(res, IMAP_PARSE_ERROR);
		assert_non_null(ev->u.error.msg);
		sb_printf(b, "ERR %s %d %s\n", ev->tag != NULL ? ev->tag : "*",
		    ev->u.error.code, ev->u.error.msg);
		break;
	default:
		fail_msg("bad event type %d", ev->type);
	}
}

/*
 * Feeds one chunk, copied into its own allocation so that ASan catches a
 * parser that keeps a pointer into input it was already given back.
 */
static void
feed_chunk(struct run *r, const char *data, size_t len)
{
	uint8_t *buf = malloc(len > 0 ? len : 1);
	size_t off = 0, used;
	struct imap_event ev;
	unsigned int guard = 0;

	assert_non_null(buf);
	memcpy(buf, data, len);
	for (;;) {
		enum imap_parse_result res = imap_parse_feed(r->p, buf + off,
		    len - off, &used, &ev);

		assert_true(used <= len - off);
		off += used;
		if (res == IMAP_PARSE_NEED_MORE) {
			assert_int_equal(off, len);
			break;
		}
		record(r, res, &ev);
		/* an event must make progress within a few calls */
		assert_true(++guard < 100000);
		if (off == len && len > 0)
			break;
	}
	free(buf);
}

static char *
run_split(const char *in, size_t len, const struct policy *pol,
    const size_t *cuts, size_t ncuts)
{
	struct arena *a = arena_new(4096, 0);
	struct run r;
	size_t i, start = 0;

	memset(&r, 0, sizeof(r));
	r.pol = pol;
	assert_non_null(a);
	r.p = imap_parser_new(a, pol->lim);
	assert_non_null(r.p);
	assert_true(imap_parser_is_idle(r.p));
	for (i = 0; i <= ncuts; i++) {
		size_t end = i < ncuts ? cuts[i] : len;

		feed_chunk(&r, in + start, end - start);
		start = end;
	}
	/* deliver what waits for a decision only (e.g. a {0} literal) */
	feed_chunk(&r, "", 0);
	assert_false(r.in_data);
	arena_free(&a);
	sb_puts(&r.out, "");
	return r.out.s;
}

/* Feeds until NEED_MORE, the way a session must after each event. */
static void
feed_all(struct run *r, const uint8_t *data, size_t len)
{
	size_t off = 0, used;
	struct imap_event ev;
	unsigned int guard = 0;

	for (;;) {
		enum imap_parse_result res = imap_parse_feed(r->p,
		    data + off, len - off, &used, &ev);

		off += used;
		if (res == IMAP_PARSE_NEED_MORE)
			break;
		record(r, res, &ev);
		assert_true(++guard < 100000);
	}
	assert_int_equal(off, len);
}

/*
 * Emulates a session on posta_conn's line mode: lines arrive without their
 * terminator and are fed with "\r\n" or "\n" after them; the bytes
 * imap_parser_bytes_wanted() asks for arrive in chunks of up to 7 bytes.
 */
static char *
run_linemode(const char *in, size_t len, const struct policy *pol)
{
	struct arena *a = arena_new(4096, 0);
	struct run r;
	size_t pos = 0;

	memset(&r, 0, sizeof(r));
	r.pol = pol;
	assert_non_null(a);
	r.p = imap_parser_new(a, pol->lim);
	assert_non_null(r.p);
	while (pos < len) {
		uint64_t want = imap_parser_bytes_wanted(r.p);
		const char *lf;
		size_t n;
		uint8_t *copy;

		if (want > 0) {
			n = len - pos < 7 ? len - pos : 7;
			if (n > want)
				n = (size_t)want;
		} else {
			lf = memchr(in + pos, '\n', len - pos);
			n = lf != NULL ? (size_t)(lf - (in + pos)) : len - pos;
			if (lf != NULL && n > 0 && in[pos + n - 1] == '\r')
				n--;
		}
		copy = malloc(n > 0 ? n : 1);
		assert_non_null(copy);
		memcpy(copy, in + pos, n);
		feed_all(&r, copy, n);
		free(copy);
		pos += n;
		if (want == 0 && pos < len) {
			bool crlf = in[pos] == '\r';

			feed_all(&r, (const uint8_t *)(crlf ? "\r\n" : "\n"),
			    crlf ? 2 : 1);
			pos += crlf ? 2 : 1;
		}
	}
	feed_all(&r, NULL, 0);
	assert_false(r.in_data);
	arena_free(&a);
	sb_puts(&r.out, "");
	return r.out.s;
}

/*
 * STYLE section 9: the same events whether the input comes whole, byte by
 * byte or split in two at any offset, or through line mode.
 */
static void
check_policy(const char *in, size_t len, const char *expect,
    const struct policy *pol)
{
	char *whole = run_split(in, len, pol, NULL, 0);
	size_t *cuts = malloc((len > 0 ? len : 1) * sizeof(*cuts));
	size_t k;
	char *got;

	if (strcmp(whole, expect) != 0) {
		print_error("input:    ");
		for (k = 0; k < len; k++)
			print_error("%c", in[k] >= 0x20 && in[k] < 0x7f ?
			    in[k] : '.');
		print_error("\nexpected: %s\ngot:      %s\n", expect, whole);
		fail();
	}
	got = run_linemode(in, len, pol);
	if (strcmp(got, whole) != 0)
		fail_msg("line mode differs:\n%s\nvs whole:\n%s", got, whole);
	free(got);
	assert_non_null(cuts);
	for (k = 1; k < len; k++)
		cuts[k - 1] = k;
	got = run_split(in, len, pol, cuts, len > 0 ? len - 1 : 0);
	if (strcmp(got, whole) != 0)
		fail_msg("bytewise differs:\n%s\nvs whole:\n%s", got, whole);
	free(got);
	for (k = 1; k < len; k++) {
		got = run_split(in, len, pol, &k, 1);
		if (strcmp(got, whole) != 0)
			fail_msg("split at %zu differs:\n%s\nvs whole:\n%s", k,
			    got, whole);
		free(got);
	}
	free(cuts);
	free(whole);
}

static const struct policy default_policy;

static void
check(const char *in, const char *expect)
{
	check_policy(in, strlen(in), expect, &default_policy);
}

/* ---- command shapes of RFC 3501 ---- */

static void
test_simple_commands(void **state)
{
	check("a1 NOOP\r\n", "CMD a1 NOOP\n");
	check("a2 capability\r\n", "CMD a2 CAPABILITY\n");
	check("A003 LOGOUT\r\n", "CMD A003 LOGOUT\n");
	check("a]4 NOOP\r\n", "CMD a]4 NOOP\n");
	check("a5 SELECT INBOX\r\n", "CMD a5 SELECT INBOX\n");
	check("a6 EXAMINE \"Sent Items\"\r\n",
	    "CMD a6 EXAMINE \"Sent Items\"\n");
	check("a7 CREATE &AMk-t&AOk-\r\n", "CMD a7 CREATE &AMk-t&AOk-\n");
	check("a8 RENAME old new\r\n", "CMD a8 RENAME old new\n");
	check("a9 STATUS INBOX (MESSAGES UIDNEXT UNSEEN SIZE)\r\n",
	    "CMD a9 STATUS INBOX (MESSAGES UIDNEXT UNSEEN SIZE)\n");
	check("b1 STARTTLS\r\n", "CMD b1 STARTTLS\n");
	check("b2 AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\r\n",
	    "CMD b2 AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\n");
	check("b3 AUTHENTICATE PLAIN =\r\n", "CMD b3 AUTHENTICATE PLAIN =\n");
	check("b4 ID (\"name\" \"mutt\" \"version\" NIL)\r\n",
	    "CMD b4 ID (\"name\" \"mutt\" \"version\" NIL)\n");
	check("b5 ENABLE CONDSTORE QRESYNC\r\n",
	    "CMD b5 ENABLE CONDSTORE QRESYNC\n");
	check("b6 SELECT INBOX (QRESYNC (67890007 20050715194045000 "
	    "41,43:211,214:541))\r\n",
	    "CMD b6 SELECT INBOX (QRESYNC (67890007 20050715194045000 "
	    "41,43:211,214:541))\n");
	/* bare LF ends a line too; runs of spaces are tolerated */
	check("c1 NOOP\nc2  NOOP \r\n", "CMD c1 NOOP\nCMD c2 NOOP\n");
	check("c3 X ( a  b ) \r\n", "CMD c3 X (a b)\n");
	check("c4 X ()\r\n", "CMD c4 X ()\n");
	/* empty lines between commands are ignored */
	check("\r\n\r\nc5 NOOP\r\n\n", "CMD c5 NOOP\n");
}

static void
test_login(void **state)
{
	check("a1 LOGIN alice@example.com secret\r\n",
	    "CMD a1 LOGIN alice@example.com secret\n");
	check("a2 LOGIN \"alice@example.com\" \"p\\\"a ss\\\\w\"\r\n",
	    "CMD a2 LOGIN \"alice@example.com\" \"p\\\"a ss\\\\w\"\n");
	check("a3 LOGIN {17}\r\nalice@example.com {6}\r\nsecret\r\n",
	    "LIT a3 LOGIN size=17 sync args=\n"
	    "LIT a3 LOGIN size=6 sync args={17}alice@example.com\n"
	    "CMD a3 LOGIN {17}alice@example.com {6}secret\n");
	check("a4 LOGIN {5+}\r\nalice {6+}\r\nsec\"ts\r\n",
	    "LIT a4 LOGIN size=5 plus args=\n"
	    "LIT a4 LOGIN size=6 plus args={5}alice\n"
	    "CMD a4 LOGIN {5}alice {6}sec\"ts\n");
	check("a5 LOGIN \"\" {0}\r\n\r\n",
	    "LIT a5 LOGIN size=0 sync args=\"\"\n"
	    "CMD a5 LOGIN \"\" {0}\n");
	/* 8-bit in quoted strings is let through (UTF8=ACCEPT) */
	check("a6 LOGIN j\xc3\xb6rg \"p\xc3\xa4ss\"\r\n",
	    "ERR a6 1 Invalid character in argument\n");
	check("a7 LOGIN \"j\xc3\xb6rg\" x\r\n",
	    "CMD a7 LOGIN \"j\\xc3\\xb6rg\" x\n");
}

#define MSG "Subject: hi\r\n\r\nbody\r\n"
#define MSGX "Subject: hi\\x0d\\x0a\\x0d\\x0abody\\x0d\\x0a"

static void
test_append(void **state)
{
	static const struct policy stream = { .stream_cmd = "APPEND" };

	check("a1 APPEND \"Sent Items\" (\\Seen $Label1) "
	    "\"17-Jul-1996 02:44:25 -0700\" {21}\r\n" MSG "\r\n",
	    "LIT a1 APPEND size=21 sync args=\"Sent Items\" (\\Seen $Label1) "
	    "\"17-Jul-1996 02:44:25 -0700\"\n"
	    "CMD a1 APPEND \"Sent Items\" (\\Seen $Label1) "
	    "\"17-Jul-1996 02:44:25 -0700\" {21}" MSGX "\n");
	check("a2 APPEND INBOX {21+}\r\n" MSG "\r\n",
	    "LIT a2 APPEND size=21 plus args=INBOX\n"
	    "CMD a2 APPEND INBOX {21}" MSGX "\n");
	check_policy("a3 APPEND INBOX () {21}\r\n" MSG "\r\n",
	    strlen("a3 APPEND INBOX () {21}\r\n" MSG "\r\n"),
	    "LIT a3 APPEND size=21 sync args=INBOX ()\n"
	    "DATA " MSGX "\n"
	    "CMD a3 APPEND INBOX () {21}<stream>\n", &stream);
	/* MULTIAPPEND (RFC 3502): two messages, one streamed after another */
	check_policy("a4 APPEND INBOX {3}\r\nabc (\\Seen) {2+}\r\nde\r\n",
	    strlen("a4 APPEND INBOX {3}\r\nabc (\\Seen) {2+}\r\nde\r\n"),
	    "LIT a4 APPEND size=3 sync args=INBOX\n"
	    "DATA abc\n"
	    "LIT a4 APPEND size=2 plus args=INBOX {3}<stream> (\\Seen)\n"
	    "DATA de\n"
	    "CMD a4 APPEND INBOX {3}<stream> (\\Seen) {2}<stream>\n", &stream);
	check_policy("a5 APPEND INBOX {0}\r\n\r\n",
	    strlen("a5 APPEND INBOX {0}\r\n\r\n"),
	    "LIT a5 APPEND size=0 sync args=INBOX\n"
	    "DATA \n"
	    "CMD a5 APPEND INBOX {0}<stream>\n", &stream);
	/* literal8 (RFC 3516) may hold NUL */
	check_policy("a6 APPEND INBOX ~{3}\r\na\0b\r\n", 27,
	    "LIT a6 APPEND size=3 sync lit8 args=INBOX\n"
	    "CMD a6 APPEND INBOX ~{3}a\\x00b\n", &default_policy);
	check_policy("a7 APPEND INBOX ~{3+}\r\na\0b\r\n", 28,
	    "LIT a7 APPEND size=3 plus lit8 args=INBOX\n"
	    "DATA a\\x00b\n"
	    "CMD a7 APPEND INBOX ~{3}<stream>\n", &stream);
	/* CATENATE-style: a literal inside a list */
	check("a8 APPEND INBOX CATENATE (URL \"/INBOX;UID=1\" TEXT {2}\r\n"
	    "xy)\r\n",
	    "LIT a8 APPEND size=2 sync args=INBOX CATENATE "
	    "(URL \"/INBOX;UID=1\" TEXT)\n"
	    "CMD a8 APPEND INBOX CATENATE (URL \"/INBOX;UID=1\" TEXT {2}xy)\n");
}

static void
test_fetch(void **state)
{
	check("a1 FETCH 1:3,5,7:* (FLAGS INTERNALDATE RFC822.SIZE ENVELOPE "
	    "BODY.PEEK[HEADER.FIELDS (From To \"Subject\")]<0.1024> "
	    "BODY[1.2.MIME] BODY[] BINARY.PEEK[1]<0.10> BODY[TEXT] "
	    "body.peek[2.HEADER.FIELDS.NOT (X-Spam)])\r\n",
	    "CMD a1 FETCH 1:3,5,7:* (FLAGS INTERNALDATE RFC822.SIZE ENVELOPE "
	    "BODY.PEEK[HEADER.FIELDS (From To \"Subject\")]<0.1024> "
	    "BODY[1.2.MIME] BODY[] BINARY.PEEK[1]<0.10> BODY[TEXT] "
	    "body.peek[2.HEADER.FIELDS.NOT (X-Spam)])\n");
	check("a2 FETCH 1 BODY[]\r\n", "CMD a2 FETCH 1 BODY[]\n");
	check("a3 FETCH * ALL\r\n", "CMD a3 FETCH * ALL\n");
	check("a4 FETCH 2 (RFC822 RFC822.HEADER RFC822.TEXT UID "
	    "BODYSTRUCTURE BODY)\r\n",
	    "CMD a4 FETCH 2 (RFC822 RFC822.HEADER RFC822.TEXT UID "
	    "BODYSTRUCTURE BODY)\n");
	check("a5 FETCH 1 BODY[HEADER.FIELDS ({4}\r\nFrom)]<5.6>\r\n",
	    "LIT a5 FETCH size=4 sync args=1 BODY[HEADER.FIELDS ()]\n"
	    "CMD a5 FETCH 1 BODY[HEADER.FIELDS ({4}From)]<5.6>\n");
	check("a6 FETCH 1 BINARY.SIZE[1]\r\n",
	    "CMD a6 FETCH 1 BINARY.SIZE[1]\n");
	check("a7 FETCH 1:* (FLAGS) (CHANGEDSINCE 12345 VANISHED)\r\n",
	    "CMD a7 FETCH 1:* (FLAGS) (CHANGEDSINCE 12345 VANISHED)\n");
	/* '[' is an ordinary atom char outside FETCH */
	check("a8 LIST \"\" foo[bar]\r\n", "CMD a8 LIST \"\" foo[bar]\n");
	check("a9 FETCH 1 BODY[1]<0.4294967295>\r\n",
	    "CMD a9 FETCH 1 BODY[1]<0.4294967295>\n");
}

static void
test_uid(void **state)
{
	check("a1 UID FETCH 100:* (UID FLAGS) (CHANGEDSINCE 12345)\r\n",
	    "CMD a1 UID FETCH 100:* (UID FLAGS) (CHANGEDSINCE 12345)\n");
	check("a2 uid store 1:5 +FLAGS.SILENT (\\Deleted \\Seen)\r\n",
	    "CMD a2 UID STORE 1:5 +FLAGS.SILENT (\\Deleted \\Seen)\n");
	check("a3 UID COPY 1,3 \"Trash\"\r\n",
	    "CMD a3 UID COPY 1,3 \"Trash\"\n");
	check("a4 UID MOVE 1:* Archive\r\n", "CMD a4 UID MOVE 1:* Archive\n");
	check("a5 UID EXPUNGE 3000:3002\r\n", "CMD a5 UID EXPUNGE 3000:3002\n");
	check("a6 UID SEARCH CHARSET UTF-8 OR FROM alice (SUBJECT {3}\r\n"
	    "f\xc3\xb6) NOT SEEN\r\n",
	    "LIT a6 UID SEARCH size=3 sync args=CHARSET UTF-8 OR FROM alice "
	    "(SUBJECT)\n"
	    "CMD a6 UID SEARCH CHARSET UTF-8 OR FROM alice "
	    "(SUBJECT {3}f\\xc3\\xb6) NOT SEEN\n");
	check("a7 UID FETCH 1 BODY.PEEK[1]\r\n",
	    "CMD a7 UID FETCH 1 BODY.PEEK[1]\n");
}

static void
test_store_list_search(void **state)
{
	check("a1 STORE 2:4 +FLAGS.SILENT (\\Seen \\Flagged $Forwarded)\r\n",
	    "CMD a1 STORE 2:4 +FLAGS.SILENT (\\Seen \\Flagged $Forwarded)\n");
	check("a2 STORE 1 FLAGS \\Deleted\r\n",
	    "CMD a2 STORE 1 FLAGS \\Deleted\n");
	check("a3 STORE 1 (UNCHANGEDSINCE 320162338) -FLAGS ()\r\n",
	    "CMD a3 STORE 1 (UNCHANGEDSINCE 320162338) -FLAGS ()\n");
	check("l1 LIST \"\" \"*\"\r\n", "CMD l1 LIST \"\" \"*\"\n");
	check("l2 LIST \"\" %\r\n", "CMD l2 LIST \"\" %\n");
	check("l3 LIST \"\" INBOX.*\r\n", "CMD l3 LIST \"\" INBOX.*\n");
	check("l4 LSUB \"#news.\" \"comp.mail.*\"\r\n",
	    "CMD l4 LSUB \"#news.\" \"comp.mail.*\"\n");
	check("l5 LIST (SUBSCRIBED) \"\" (\"INBOX\" \"Sent\") RETURN "
	    "(CHILDREN STATUS (MESSAGES UNSEEN))\r\n",
	    "CMD l5 LIST (SUBSCRIBED) \"\" (\"INBOX\" \"Sent\") RETURN "
	    "(CHILDREN STATUS (MESSAGES UNSEEN))\n");
	check("s1 SEARCH RETURN (MIN COUNT) FLAGGED SINCE 1-Feb-1994 "
	    "NOT FROM \"Smith\" LARGER 1000 HEADER X-Foo \"\"\r\n",
	    "CMD s1 SEARCH RETURN (MIN COUNT) FLAGGED SINCE 1-Feb-1994 "
	    "NOT FROM \"Smith\" LARGER 1000 HEADER X-Foo \"\"\n");
	check("s2 SEARCH OR (SEEN UNDELETED) 1:5,*\r\n",
	    "CMD s2 SEARCH OR (SEEN UNDELETED) 1:5,*\n");
	check("n1 X NIL nil (NIL \"NIL\")\r\n",
	    "CMD n1 X NIL NIL (NIL \"NIL\")\n");
}

static void
test_pipelined(void **state)
{
	check("p1 NOOP\r\np2 CAPABILITY\r\np3 LOGIN a {1+}\r\nb\r\n"
	    "p4 SELECT INBOX\r\np5 FETCH 1 BODY[]\r\n",
	    "CMD p1 NOOP\nCMD p2 CAPABILITY\n"
	    "LIT p3 LOGIN size=1 plus args=a\nCMD p3 LOGIN a {1}b\n"
	    "CMD p4 SELECT INBOX\nCMD p5 FETCH 1 BODY[]\n");
	/* an error in the middle does not disturb its neighbours */
	check("p1 NOOP\r\np2 X (\r\np3 NOOP\r\n",
	    "CMD p1 NOOP\nERR p2 1 Missing ')'\nCMD p3 NOOP\n");
}

/* ---- bad syntax: an error, then the next command parses ---- */

static void
bad(const char *line, const char *err)
{
	char in[512], expect[512];

	snprintf(in, sizeof(in), "%s\r\nz1 NOOP\r\n", line);
	snprintf(expect, sizeof(expect), "%s\nCMD z1 NOOP\n", err);
	check(in, expect);
}

static void
test_bad_syntax(void **state)
{
	bad("* NOOP", "ERR * 1 Invalid tag");
	bad("+ NOOP", "ERR * 1 Invalid tag");
	bad("a+b NOOP", "ERR * 1 Invalid tag");
	bad("a(b NOOP", "ERR * 1 Invalid tag");
	bad("a\"b NOOP", "ERR * 1 Invalid tag");
	bad(" NOOP", "ERR * 1 Missing tag");
	bad("a1", "ERR a1 1 Missing command");
	bad("a1 ", "ERR a1 1 Missing command");
	bad("a1 UID", "ERR a1 1 Missing UID command");
	bad("a1 UID  ", "ERR a1 1 Missing UID command");
	bad("a1 NO(OP", "ERR a1 1 Invalid command name");
	bad("a1 NO*OP", "ERR a1 1 Invalid command name");
	bad("a1 \"NOOP\"", "ERR a1 1 Invalid command name");
	bad("a1 LOGIN \"unterminated", "ERR a1 1 Unterminated quoted string");
	bad("a1 LOGIN \"ends in backslash\\",
	    "ERR a1 1 Unterminated quoted string");
	bad("a1 LOGIN \"bad\\escape\"",
	    "ERR a1 1 Invalid escape in quoted string");
	bad("a1 LOGIN \"a\rb\"", "ERR a1 1 Invalid character in quoted string");
	bad("a1 X (a b", "ERR a1 1 Missing ')'");
	bad("a1 X ((a) b", "ERR a1 1 Missing ')'");
	bad("a1 X a)", "ERR a1 1 Unexpected ')'");
	bad("a1 X (a))", "ERR a1 1 Unexpected ')'");
	bad("a1 X (a)(b)", "ERR a1 1 Missing space between arguments");
	bad("a1 X \"a\"\"b\"", "ERR a1 1 Missing space between arguments");
	bad("a1 X foo\"b\"", "ERR a1 1 Missing space between arguments");
	bad("a1 X foo(", "ERR a1 1 Missing space between arguments");
	bad("a1 X foo\\bar", "ERR a1 1 Missing space between arguments");
	bad("a1 X {5}x", "ERR a1 1 Literal must end the line");
	bad("a1 X {5} ", "ERR a1 1 Literal must end the line");
	bad("a1 X {x}", "ERR a1 1 Invalid literal");
	bad("a1 X {}", "ERR a1 1 Invalid literal");
	bad("a1 X {+}", "ERR a1 1 Invalid literal");
	bad("a1 X {5", "ERR a1 1 Invalid literal");
	bad("a1 X {5-}", "ERR a1 1 Invalid literal");
	bad("a1 X ~{", "ERR a1 1 Invalid literal");
	bad("a1 X {99999999999999999999}", "ERR a1 3 Literal size too large");
	bad("a1 X \x01", "ERR a1 1 Invalid character in argument");
	bad("a1 X a\x01", "ERR a1 1 Invalid character in argument");
	bad("a1 X a\rb", "ERR a1 1 Invalid character in argument");
	bad("a1 X \x80", "ERR a1 1 Invalid character in argument");
	bad("a1 X \\", "ERR a1 1 Invalid character in argument");
	bad("a1 X a \t", "ERR a1 1 Invalid character in argument");
	bad("a1 FETCH 1 BODY[HEADER", "ERR a1 1 Missing ']'");
	bad("a1 FETCH 1 [1]", "ERR a1 1 Invalid character in argument");
	bad("a1 FETCH 1 BODY[1]<0>", "ERR a1 1 Invalid partial range");
	bad("a1 FETCH 1 BODY[1]<0.0>", "ERR a1 1 Invalid partial range");
	bad("a1 FETCH 1 BODY[1]<0.01>", "ERR a1 1 Invalid partial range");
	bad("a1 FETCH 1 BODY[1]<x.1>", "ERR a1 1 Invalid partial range");
	bad("a1 FETCH 1 BODY[1]<0.4294967296>",
	    "ERR a1 1 Invalid partial range");
	bad("a1 FETCH 1 BODY[1]x", "ERR a1 1 Missing space between arguments");
	bad("a1 FETCH 1 (BODY[1)]", "ERR a1 1 Unexpected ')'");
	bad("a1 FETCH 1 BODY[HEADER.FIELDS (A])", "ERR a1 1 Unexpected ']'");
	bad("a1 FETCH 1 (BODY[1] BODY[2", "ERR a1 1 Missing ']'");
}

static void
test_bad_nul(void **state)
{
	static const char q[] = "a1 X \"a\0b\"\r\nz1 NOOP\r\n";
	static const char t[] = "a\0 NOOP\r\nz1 NOOP\r\n";
	static const char l[] = "a1 LOGIN {3}\r\na\0b {2}\r\nz1 NOOP\r\n";
	static const char lp[] = "a1 LOGIN {3+}\r\na\0b {2+}\r\nzz\r\n"
	    "z1 NOOP\r\n";

	check_policy(q, sizeof(q) - 1,
	    "ERR a1 1 Invalid character in quoted string\nCMD z1 NOOP\n",
	    &default_policy);
	check_policy(t, sizeof(t) - 1, "ERR * 1 Invalid tag\nCMD z1 NOOP\n",
	    &default_policy);
	/* the rest of an accepted literal and its line are skipped */
	check_policy(l, sizeof(l) - 1,
	    "LIT a1 LOGIN size=3 sync args=\n"
	    "ERR a1 1 NUL in literal\nCMD z1 NOOP\n", &default_policy);
	check_policy(lp, sizeof(lp) - 1,
	    "LIT a1 LOGIN size=3 plus args=\n"
	    "ERR a1 1 NUL in literal\nCMD z1 NOOP\n", &default_policy);
}

/*
 * After a BAD, a LITERAL+ literal announced at the end of the erroring
 * line is still sent by the client and must be swallowed (RFC 7888); after
 * "{n}" the client waits for a "+" that never comes.
 */
static void
test_error_literal_resync(void **state)
{
	check("a1 X \"bad\\q\" {10+}\r\nz0 NOOP\r\n more junk\r\nz1 NOOP\r\n",
	    "ERR a1 1 Invalid escape in quoted string\nCMD z1 NOOP\n");
	check("a1 X \"bad\\q\" {3+}\r\nabc {4+}\r\nz0 X\r\nz1 NOOP\r\n",
	    "ERR a1 1 Invalid escape in quoted string\nCMD z1 NOOP\n");
	check("a1 X \"bad\\q\" {10}\r\nz1 NOOP\r\n",
	    "ERR a1 1 Invalid escape in quoted string\nCMD z1 NOOP\n");
	/* an error on a continuation line after a literal */
	check("a1 LOGIN {1}\r\nx (\"bad\\q\" {2+}\r\n\r\n\r\nz1 NOOP\r\n",
	    "LIT a1 LOGIN size=1 sync args=\n"
	    "ERR a1 1 Invalid escape in quoted string\nCMD z1 NOOP\n");
	/* a CR right before "}" is not a literal announcement */
	check("a1 X ( {2+\r}\r\nz1 NOOP\r\n",
	    "ERR a1 1 Invalid literal\nCMD z1 NOOP\n");
	check("a1 X ( {2+}}\r\nz1 NOOP\r\n",
	    "ERR a1 1 Literal must end the line\nCMD z1 NOOP\n");
	/* the literal of an untagged error is skipped as well */
	check("* X {4+}\r\nz0 X\r\nz1 NOOP\r\n",
	    "ERR * 1 Invalid tag\nCMD z1 NOOP\n");
	/* absurd counts are not literals: no endless skipping */
	check("a1 X ( {99999999999999999999+}\r\nz1 NOOP\r\n",
	    "ERR a1 3 Literal size too large\nCMD z1 NOOP\n");
}

static void
test_limits(void **state)
{
	struct imap_parse_limits lim;
	struct policy pol = { .lim = &lim };
	char in[512];

	imap_parse_limits_init(&lim);
	lim.max_line_length = 32;
	lim.max_literal_size = 16;
	lim.max_command_size = 64;
	lim.max_args = 8;
	lim.max_list_depth = 3;

#define CHECK_LIM(s, e) check_policy(s, strlen(s), e, &pol)
	/* exactly at the line limit, with and without CR */
	CHECK_LIM("a1 X 456789012345678901234567890\r\n",
	    "CMD a1 X 456789012345678901234567890\n");
	CHECK_LIM("a1 X 456789012345678901234567890\n",
	    "CMD a1 X 456789012345678901234567890\n");
	CHECK_LIM("a1 X 4567890123456789012345678901\r\nz1 NOOP\r\n",
	    "ERR a1 2 Line too long\nCMD z1 NOOP\n");
	CHECK_LIM("a1 X 4567890123456789012345678901\nz1 NOOP\r\n",
	    "ERR a1 2 Line too long\nCMD z1 NOOP\n");
	CHECK_LIM("a1 X 4567890123456789012345678901\r\r\nz1 NOOP\r\n",
	    "ERR a1 2 Line too long\nCMD z1 NOOP\n");
	CHECK_LIM("a1 X 45678901234567890123456789012345678901234567890"
	    "\r\nz1 NOOP\r\n", "ERR a1 2 Line too long\nCMD z1 NOOP\n");
	/* an over-long line ending in LITERAL+: its bytes are skipped */
	CHECK_LIM("a1 X 4567890123456789012345678901234567890 {5+}\r\n"
	    "z0 X\r\n\r\nz1 NOOP\r\n",
	    "ERR a1 2 Line too long\nCMD z1 NOOP\n");
	CHECK_LIM("a1 X 4567890123456789012345678901234567890 {5}\r\n"
	    "z1 NOOP\r\n", "ERR a1 2 Line too long\nCMD z1 NOOP\n");
	/* a tag longer than the line limit cannot be reported */
	CHECK_LIM("a12345678901234567890123456789012345 NOOP\r\nz1 NOOP\r\n",
	    "ERR * 2 Line too long\nCMD z1 NOOP\n");
	/* continuation lines obey the line limit too */
	CHECK_LIM("a1 X {1}\r\nx 4567890123456789012345678901234567\r\n"
	    "z1 NOOP\r\n",
	    "LIT a1 X size=1 sync args=\n"
	    "ERR a1 2 Line too long\nCMD z1 NOOP\n");

	CHECK_LIM("a1 X 1 2 3 4 5 6 7 8\r\n", "CMD a1 X 1 2 3 4 5 6 7 8\n");
	CHECK_LIM("a1 X 1 2 3 4 5 6 7 8 9\r\nz1 NOOP\r\n",
	    "ERR a1 5 Too many arguments\nCMD z1 NOOP\n");
	CHECK_LIM("a1 X (1 2 3) (4 5 6) 7\r\nz1 NOOP\r\n",
	    "ERR a1 5 Too many arguments\nCMD z1 NOOP\n");
	CHECK_LIM("a1 X (((a)))\r\n", "CMD a1 X (((a)))\n");
	CHECK_LIM("a1 X ((((a))))\r\nz1 NOOP\r\n",
	    "ERR a1 6 Lists nested too deeply\nCMD z1 NOOP\n");
	CHECK_LIM("a1 FETCH 1 ((BODY[1 (a)]))\r\nz1 NOOP\r\n",
	    "ERR a1 6 Lists nested too deeply\nCMD z1 NOOP\n");

	/* literal too big: no "+" is sent, the client sends no data */
	CHECK_LIM("a1 LOGIN {17}\r\nz1 NOOP\r\n",
	    "LIT a1 LOGIN size=17 sync toobig args=\n"
	    "ERR a1 3 Literal too big\nCMD z1 NOOP\n");
	CHECK_LIM("a1 LOGIN {16}\r\n0123456789abcdef\r\n",
	    "LIT a1 LOGIN size=16 sync args=\n"
	    "CMD a1 LOGIN {16}0123456789abcdef\n");
	/* LITERAL+ too big: its bytes arrive anyway and are skipped */
	CHECK_LIM("a1 LOGIN {17+}\r\nz0 NOOP\r\nz0 NOOPX {2+}\r\nzz\r\n"
	    "z1 NOOP\r\n",
	    "LIT a1 LOGIN size=17 plus toobig args=\n"
	    "ERR a1 3 Literal too big\nCMD z1 NOOP\n");
	/* the command size counts lines and buffered literals */
	CHECK_LIM("a1 X {16}\r\nAAAAAAAAAAAAAAAA {16}\r\nBBBBBBBBBBBBBBBB "
	    "{16}\r\nz1 NOOP\r\n",
	    "LIT a1 X size=16 sync args=\n"
	    "LIT a1 X size=16 sync args={16}AAAAAAAAAAAAAAAA\n"
	    "LIT a1 X size=16 sync toobig args={16}AAAAAAAAAAAAAAAA "
	    "{16}BBBBBBBBBBBBBBBB\n"
	    "ERR a1 3 Literal too big\nCMD z1 NOOP\n");
	CHECK_LIM("a1 X {16}\r\nAAAAAAAAAAAAAAAA {16}\r\nBBBBBBBBBBBBBBBB "
	    "123456789012345\r\nz1 NOOP\r\n",
	    "LIT a1 X size=16 sync args=\n"
	    "LIT a1 X size=16 sync args={16}AAAAAAAAAAAAAAAA\n"
	    "ERR a1 4 Command too long\nCMD z1 NOOP\n");
	/* streamed literals do not count */
	pol.stream_cmd = "APPEND";
	CHECK_LIM("a1 APPEND INBOX {100}\r\n"
	    "0123456789012345678901234567890123456789012345678901234567890"
	    "123456789012345678901234567890123456789\r\n",
	    "LIT a1 APPEND size=100 sync toobig args=INBOX\n"
	    "DATA 0123456789012345678901234567890123456789012345678901234567"
	    "890123456789012345678901234567890123456789\n"
	    "CMD a1 APPEND INBOX {100}<stream>\n");
	pol.stream_cmd = NULL;
	/* with a threshold, big literals stream unasked */
	lim.literal_stream_threshold = 8;
	CHECK_LIM("a1 LOGIN {8}\r\n12345678 {9+}\r\n123456789\r\n",
	    "LIT a1 LOGIN size=8 sync args=\n"
	    "LIT a1 LOGIN size=9 plus stream args={8}12345678\n"
	    "DATA 123456789\n"
	    "CMD a1 LOGIN {8}12345678 {9}<stream>\n");
#undef CHECK_LIM
	(void)in;
}

static void
test_abort(void **state)
{
	static const struct policy ab = { .abort_cmd = "APPEND",
	    .stream_cmd = "APPEND" };
	static const struct policy ablast = { .abort_last_cmd = "APPEND",
	    .stream_cmd = "APPEND" };
	const char *in;

	/* refused before the literal is read: the next line is a command */
	in = "a1 APPEND INBOX {100000000}\r\nz1 NOOP\r\n";
	check_policy(in, strlen(in),
	    "LIT a1 APPEND size=100000000 sync toobig args=INBOX\n"
	    "CMD z1 NOOP\n", &ab);
	in = "a1 APPEND INBOX {5+}\r\nhello\r\nz1 NOOP\r\n";
	check_policy(in, strlen(in),
	    "LIT a1 APPEND size=5 plus args=INBOX\nCMD z1 NOOP\n", &ab);
	/* after the data: the rest of the command is dropped */
	in = "a1 APPEND INBOX {3}\r\nabc (\\Seen) {2+}\r\nde\r\nz1 NOOP\r\n";
	check_policy(in, strlen(in),
	    "LIT a1 APPEND size=3 sync args=INBOX\nDATA abc\nCMD z1 NOOP\n",
	    &ablast);
	in = "a1 APPEND INBOX {3}\r\nabc {2}\r\nz1 NOOP\r\n";
	check_policy(in, strlen(in),
	    "LIT a1 APPEND size=3 sync args=INBOX\nDATA abc\nCMD z1 NOOP\n",
	    &ablast);
}

/* Abort in the middle of a streamed literal, at fixed points. */
static void
test_abort_mid_stream(void **state)
{
	static const char in[] = "a1 APPEND INBOX {10}\r\n0123456789 {3+}\r\n"
	    "abc\r\nz1 NOOP\r\n";
	struct arena *a = arena_new(1024, 0);
	struct imap_parser *p = imap_parser_new(a, NULL);
	struct imap_event ev;
	size_t used, off;

	assert_non_null(p);
	assert_int_equal(imap_parse_feed(p, (const uint8_t *)in, 25, &used,
	    &ev), IMAP_PARSE_EVENT);
	assert_int_equal(ev.type, IMAP_EVENT_LITERAL_NEEDED);
	assert_int_equal(used, 22);
	assert_int_equal(imap_parser_stream_literal(p), 0);
	assert_int_equal(imap_parser_stream_literal(p), 0);
	off = used;
	assert_int_equal(imap_parse_feed(p, (const uint8_t *)in + off,
	    25 - off, &used, &ev), IMAP_PARSE_EVENT);
	assert_int_equal(ev.type, IMAP_EVENT_LITERAL_DATA);
	assert_int_equal(ev.u.data.len, 3);
	assert_int_equal(ev.u.data.remaining, 7);
	assert_false(ev.u.data.last);
	assert_memory_equal(ev.u.data.data, "012", 3);
	assert_int_equal(imap_parser_stream_literal(p), -EINVAL);
	assert_int_equal(imap_parser_abort_command(p), 0);
	off += used;
	assert_int_equal(imap_parse_feed(p, (const uint8_t *)in + off,
	    sizeof(in) - 1 - off, &used, &ev), IMAP_PARSE_EVENT);
	assert_int_equal(ev.type, IMAP_EVENT_COMMAND);
	assert_string_equal(ev.tag, "z1");
	assert_int_equal(off + used, sizeof(in) - 1);
	assert_true(imap_parser_is_idle(p));
	assert_int_equal(imap_parser_abort_command(p), -EINVAL);
	arena_free(&a);
}

static void
test_raw_lines(void **state)
{
	static const struct policy idle = { .line_after = "IDLE" };
	static const struct policy auth = { .line_after = "AUTHENTICATE" };
	struct imap_parse_limits lim;
	struct policy authlim = { .line_after = "AUTHENTICATE", .lim = &lim };
	const char *in;

	in = "i1 IDLE\r\nDONE\r\ni2 NOOP\r\n";
	check_policy(in, strlen(in), "CMD i1 IDLE\nLINE DONE\nCMD i2 NOOP\n",
	    &idle);
	/* a raw line is not parsed: quotes and braces are just bytes */
	in = "a1 AUTHENTICATE PLAIN\r\n\"{5}\r\na2 NOOP\r\n";
	check_policy(in, strlen(in),
	    "CMD a1 AUTHENTICATE PLAIN\nLINE \"{5}\nCMD a2 NOOP\n", &auth);
	in = "a1 AUTHENTICATE PLAIN\r\n\r\na2 NOOP\r\n";
	check_policy(in, strlen(in),
	    "CMD a1 AUTHENTICATE PLAIN\nLINE \nCMD a2 NOOP\n", &auth);
	imap_parse_limits_init(&lim);
	lim.max_line_length = 24;
	in = "a1 AUTHENTICATE PLAIN\r\n0123456789abcdefghijklmno\r\n"
	    "a2 NOOP\r\n";
	check_policy(in, strlen(in),
	    "CMD a1 AUTHENTICATE PLAIN\nERR * 2 Line too long\n"
	    "CMD a2 NOOP\n", &authlim);
	in = "a1 AUTHENTICATE PLAIN\r\n0123456789abcdefghijklmn\r\n"
	    "a2 NOOP\r\n";
	check_policy(in, strlen(in),
	    "CMD a1 AUTHENTICATE PLAIN\nLINE 0123456789abcdefghijklmn\n"
	    "CMD a2 NOOP\n", &authlim);
}

/* The command's tag survives the raw line, for "tag OK IDLE terminated". */
static void
test_raw_line_keeps_tag(void **state)
{
	static const char in[] = "idle7 IDLE\r\nDONE\r\n";
	struct arena *a = arena_new(1024, 0);
	struct imap_parser *p = imap_parser_new(a, NULL);
	struct imap_event ev;
	const char *tag;
	size_t used, off;

	assert_non_null(p);
	assert_int_equal(imap_parse_feed(p, (const uint8_t *)in,
	    sizeof(in) - 1, &used, &ev), IMAP_PARSE_EVENT);
	assert_int_equal(ev.type, IMAP_EVENT_COMMAND);
	tag = ev.tag;
	assert_int_equal(imap_parser_expect_line(p), 0);
	assert_int_equal(imap_parser_expect_line(p), -EINVAL);
	off = used;
	assert_int_equal(imap_parse_feed(p, (const uint8_t *)in + off,
	    sizeof(in) - 1 - off, &used, &ev), IMAP_PARSE_EVENT);
	assert_int_equal(ev.type, IMAP_EVENT_LINE);
	assert_int_equal(ev.u.line.len, 4);
	assert_string_equal(tag, "idle7");
	arena_free(&a);
}

static void
test_reset(void **state)
{
	struct arena *a = arena_new(1024, 0);
	struct imap_parser *p = imap_parser_new(a, NULL);
	struct imap_event ev;
	size_t used;

	assert_non_null(p);
	assert_int_equal(imap_parse_feed(p, (const uint8_t *)"a1 LOG", 6,
	    &used, &ev), IMAP_PARSE_NEED_MORE);
	assert_false(imap_parser_is_idle(p));
	imap_parser_reset(p);
	assert_true(imap_parser_is_idle(p));
	assert_int_equal(imap_parse_feed(p, (const uint8_t *)"a2 NOOP\r\n", 9,
	    &used, &ev), IMAP_PARSE_EVENT);
	assert_string_equal(ev.tag, "a2");
	imap_parser_free(&p);
	assert_null(p);
	imap_parser_free(&p);
	arena_free(&a);
}

static void
test_new_limits(void **state)
{
	struct arena *a = arena_new(1024, 0);
	struct imap_parse_limits lim;

	imap_parse_limits_init(&lim);
	assert_int_equal(lim.max_line_length, IMAP_PARSE_DEFAULT_MAX_LINE);
	lim.max_args = 0;
	assert_null(imap_parser_new(a, &lim));
	imap_parse_limits_init(&lim);
	lim.max_line_length = 0;
	assert_null(imap_parser_new(a, &lim));
	arena_free(&a);
	/* the connection arena's own limit is honoured */
	a = arena_new(256, 64);
	assert_null(imap_parser_new(a, NULL));
	arena_free(&a);
}

/* ---- helpers and sections ---- */

static const struct imap_arg *
parse_one(struct imap_parser *p, const char *line)
{
	struct imap_event ev;
	size_t used;

	assert_int_equal(imap_parse_feed(p, (const uint8_t *)line,
	    strlen(line), &used, &ev), IMAP_PARSE_EVENT);
	assert_int_equal(ev.type, IMAP_EVENT_COMMAND);
	assert_int_equal(used, strlen(line));
	return ev.args;
}

static void
test_arg_helpers(void **state)
{
	struct arena *a = arena_new(1024, 0);
	struct imap_parser *p = imap_parser_new(a, NULL);
	const struct imap_arg *args, *l;
	const char *s;
	const uint8_t *d;
	size_t len;
	unsigned int n;

	assert_non_null(p);
	{
		static const char in[] = "a1 X atom \"q s\" nil (x y) "
		    "~{2+}\r\na\0 {3+}\r\nlit\r\n";
		struct imap_event ev;
		size_t used, off = 0;

		for (;;) {
			enum imap_parse_result r = imap_parse_feed(p,
			    (const uint8_t *)in + off, sizeof(in) - 1 - off,
			    &used, &ev);

			off += used;
			assert_int_equal(r, IMAP_PARSE_EVENT);
			if (ev.type == IMAP_EVENT_COMMAND)
				break;
			assert_int_equal(ev.type, IMAP_EVENT_LITERAL_NEEDED);
		}
		args = ev.args;
	}
	assert_int_equal(imap_args_count(args), 6);
	/* atom */
	assert_true(imap_arg_is_atom(args));
	assert_true(imap_arg_is_astring(args));
	assert_false(imap_arg_is_string(args));
	assert_false(imap_arg_is_nstring(args));
	assert_true(imap_arg_atom_equals(args, "ATOM"));
	assert_false(imap_arg_atom_equals(args, "ato"));
	assert_true(imap_arg_get_atom(args, &s));
	assert_string_equal(s, "atom");
	assert_true(imap_arg_get_astring(args, &s, &len));
	assert_int_equal(len, 4);
	assert_false(imap_arg_get_string(args, &s, &len));
	assert_false(imap_arg_get_nstring(args, &s, &len));
	/* quoted */
	l = imap_args_nth(args, 1);
	assert_true(imap_arg_is_string(l));
	assert_true(imap_arg_get_nstring(l, &s, &len));
	assert_string_equal(s, "q s");
	assert_false(imap_arg_get_atom(l, &s));
	assert_false(imap_arg_atom_equals(l, "q s"));
	/* NIL: an nstring NULL, but an astring "nil" (a mailbox name) */
	l = imap_args_nth(args, 2);
	assert_true(imap_arg_is_nil(l));
	assert_true(imap_arg_get_nstring(l, &s, &len));
	assert_null(s);
	assert_int_equal(len, 0);
	assert_true(imap_arg_get_astring(l, &s, NULL));
	assert_string_equal(s, "nil");
	assert_true(imap_arg_atom_equals(l, "NIL"));
	/* list */
	l = imap_args_nth(args, 3);
	assert_true(imap_arg_get_list(l, &l, &n));
	assert_int_equal(n, 2);
	assert_true(imap_arg_atom_equals(l, "x"));
	assert_ptr_equal(l->parent, imap_args_nth(args, 3));
	assert_false(imap_arg_get_list(args, &l, &n));
	/* literal8 is data, not a string */
	l = imap_args_nth(args, 4);
	assert_false(imap_arg_is_string(l));
	assert_false(imap_arg_get_astring(l, &s, &len));
	assert_true(imap_arg_get_data(l, &d, &len));
	assert_int_equal(len, 2);
	assert_memory_equal(d, "a\0", 2);
	l = imap_args_nth(args, 5);
	assert_true(imap_arg_get_string(l, &s, &len));
	assert_string_equal(s, "lit");
	assert_null(imap_args_nth(args, 6));
	assert_null(imap_args_nth(args, 600));

	/* astring is strict; list-mailbox takes wildcards; atom takes all */
	args = parse_one(p, "a2 X a]b a*b a%b \\Seen 1:* \"a*b\"\r\n");
	l = imap_args_nth(args, 0);
	assert_true(imap_arg_is_astring(l));
	assert_true(imap_arg_get_list_mailbox(l, &s, &len));
	for (n = 1; n <= 4; n++) {
		l = imap_args_nth(args, n);
		assert_false(imap_arg_is_astring(l));
		assert_false(imap_arg_get_astring(l, &s, &len));
		assert_true(imap_arg_get_atom(l, &s));
		assert_int_equal(imap_arg_get_list_mailbox(l, &s, &len),
		    n <= 2 || n == 4);
	}
	l = imap_args_nth(args, 5);
	assert_true(imap_arg_get_astring(l, &s, NULL));
	assert_true(imap_arg_get_list_mailbox(l, &s, NULL));
	assert_string_equal(s, "a*b");
	assert_false(imap_arg_get_list_mailbox(NULL, &s, NULL));
	assert_false(imap_arg_is_atom(NULL));
	assert_false(imap_arg_get_data(NULL, &d, &len));
	assert_int_equal(imap_args_count(NULL), 0);
	arena_free(&a);
}

struct sec_case {
	const char *att;
	int ret;
	enum imap_fetch_kind kind;
	unsigned int nparts;
	uint32_t part0, part1;
	enum imap_section_text text;
	unsigned int nfields;
	bool partial;
};

static void
test_sections(void **state)
{
	static const struct sec_case cases[] = {
		{ "BODY[]", 0, IMAP_FETCH_BODY, 0, 0, 0, IMAP_SECTION_NONE,
		  0, false },
		{ "body.peek[1.2]<0.10>", 0, IMAP_FETCH_BODY_PEEK, 2, 1, 2,
		  IMAP_SECTION_NONE, 0, true },
		{ "BODY[HEADER]", 0, IMAP_FETCH_BODY, 0, 0, 0,
		  IMAP_SECTION_HEADER, 0, false },
		{ "BODY[3.HEADER.FIELDS (From \"To\")]", 0, IMAP_FETCH_BODY,
		  1, 3, 0, IMAP_SECTION_HEADER_FIELDS, 2, false },
		{ "BODY[HEADER.FIELDS.NOT (X-A)]", 0, IMAP_FETCH_BODY, 0, 0,
		  0, IMAP_SECTION_HEADER_FIELDS_NOT, 1, false },
		{ "BODY[4.2.TEXT]", 0, IMAP_FETCH_BODY, 2, 4, 2,
		  IMAP_SECTION_TEXT, 0, false },
		{ "BODY[1.MIME]", 0, IMAP_FETCH_BODY, 1, 1, 0,
		  IMAP_SECTION_MIME, 0, false },
		{ "BINARY[1]", 0, IMAP_FETCH_BINARY, 1, 1, 0,
		  IMAP_SECTION_NONE, 0, false },
		{ "BINARY.PEEK[]<1.2>", 0, IMAP_FETCH_BINARY_PEEK, 0, 0, 0,
		  IMAP_SECTION_NONE, 0, true },
		{ "BINARY.SIZE[2]", 0, IMAP_FETCH_BINARY_SIZE, 1, 2, 0,
		  IMAP_SECTION_NONE, 0, false },
		{ "BODY[MIME]", -EINVAL },
		{ "BODY[0]", -EINVAL },
		{ "BODY[01]", -EINVAL },
		{ "BODY[1.]", -EINVAL },
		{ "BODY[1..2]", -EINVAL },
		{ "BODY[4294967296]", -EINVAL },
		{ "BODY[HEADERS]", -EINVAL },
		{ "BODY[HEADER.FIELDS]", -EINVAL },
		{ "BODY[HEADER.FIELDS ()]", -EINVAL },
		{ "BODY[HEADER.FIELDS (A) (B)]", -EINVAL },
		{ "BODY[HEADER.FIELDS (\"a:b\")]", -EINVAL },
		{ "BODY[HEADER.FIELDS (\"\")]", -EINVAL },
		{ "BODY[HEADER.FIELDS ((a))]", -EINVAL },
		{ "BODY[TEXT x]", -EINVAL },
		{ "BODY[\"1\"]", -EINVAL },
		{ "BINARY[1.TEXT]", -EINVAL },
		{ "BINARY.SIZE[1]<0.1>", -EINVAL },
		{ "RFC822[]", -EINVAL },
		{ "BODY[1.2.3.4.5.6.7.8.9.10.11.12.13.14.15.16.17.18.19.20."
		  "21.22.23.24.25.26.27.28.29.30.31.32.33]", -EINVAL },
	};
	struct arena *a = arena_new(1024, 0);
	struct imap_parser *p = imap_parser_new(a, NULL);
	struct imap_section sec;
	const char *err;
	size_t i;

	assert_non_null(p);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct sec_case *c = &cases[i];
		char line[256];
		const struct imap_arg *arg;
		int ret;

		snprintf(line, sizeof(line), "a FETCH 1 %s\r\n", c->att);
		arg = imap_args_nth(parse_one(p, line), 1);
		assert_non_null(arg);
		assert_int_equal(arg->type, IMAP_ARG_SECTION);
		err = NULL;
		ret = imap_section_parse(arg, &sec, &err);
		if (ret != c->ret)
			fail_msg("%s: got %d (%s)", c->att, ret,
			    err != NULL ? err : "");
		if (ret != 0) {
			assert_non_null(err);
			continue;
		}
		assert_int_equal(sec.kind, c->kind);
		assert_int_equal(sec.nparts, c->nparts);
		if (c->nparts > 0)
			assert_int_equal(sec.parts[0], c->part0);
		if (c->nparts > 1)
			assert_int_equal(sec.parts[1], c->part1);
		assert_int_equal(sec.text, c->text);
		assert_int_equal(sec.nfields, c->nfields);
		assert_int_equal(sec.has_partial, c->partial);
	}
	assert_int_equal(imap_section_parse(parse_one(p, "a X 1\r\n"), &sec,
	    &err), -EINVAL);
	assert_int_equal(imap_section_parse(imap_args_nth(parse_one(p,
	    "a FETCH 1 BODY[]<7.9>\r\n"), 1), &sec, &err), 0);
	assert_int_equal(sec.offset, 7);
	assert_int_equal(sec.length, 9);
	arena_free(&a);
}

/* A big literal streamed in many chunks keeps memory flat. */
static void
test_stream_memory(void **state)
{
	struct arena *a = arena_new(1024, 0);
	struct imap_parser *p = imap_parser_new(a, NULL);
	static const char hdr[] = "a1 APPEND INBOX {10000000}\r\n";
	uint8_t chunk[4096];
	struct imap_event ev;
	uint64_t total = 0;
	size_t used;

	assert_non_null(p);
	memset(chunk, 'x', sizeof(chunk));
	assert_int_equal(imap_parse_feed(p, (const uint8_t *)hdr,
	    sizeof(hdr) - 1, &used, &ev), IMAP_PARSE_EVENT);
	assert_true(ev.u.literal.too_big);
	assert_int_equal(imap_parser_stream_literal(p), 0);
	while (total < 10000000) {
		size_t n = sizeof(chunk), off = 0;

		if (n > 10000000 - total)
			n = (size_t)(10000000 - total);
		while (off < n) {
			assert_int_equal(imap_parse_feed(p, chunk + off,
			    n - off, &used, &ev), IMAP_PARSE_EVENT);
			assert_int_equal(ev.type, IMAP_EVENT_LITERAL_DATA);
			total += ev.u.data.len;
			off += used;
		}
	}
	assert_true(ev.u.data.last);
	assert_int_equal(imap_parse_feed(p, (const uint8_t *)"\r\n", 2, &used,
	    &ev), IMAP_PARSE_EVENT);
	assert_int_equal(ev.type, IMAP_EVENT_COMMAND);
	/* nothing of the 10 MB was kept */
	assert_true(imap_parser_memory(p) < 8192);
	arena_free(&a);
}

static enum imap_parse_result
feed_str(struct imap_parser *p, const char *s, size_t *used_r,
    struct imap_event *ev)
{
	return imap_parse_feed(p, (const uint8_t *)s, strlen(s), used_r, ev);
}

static void
test_bytes_wanted(void **state)
{
	struct imap_parse_limits lim;
	struct arena *a = arena_new(1024, 0);
	struct imap_parser *p;
	struct imap_event ev;
	size_t used;

	imap_parse_limits_init(&lim);
	lim.max_literal_size = 10;
	p = imap_parser_new(a, &lim);
	assert_non_null(p);
	assert_int_equal(imap_parser_bytes_wanted(p), 0);
	/* buffered: the literal size, then what is left of it */
	assert_int_equal(feed_str(p, "a1 LOGIN {5}\r\n", &used, &ev),
	    IMAP_PARSE_EVENT);
	assert_int_equal(imap_parser_bytes_wanted(p), 5);
	assert_int_equal(feed_str(p, "al", &used, &ev), IMAP_PARSE_NEED_MORE);
	assert_int_equal(imap_parser_bytes_wanted(p), 3);
	assert_int_equal(feed_str(p, "ice", &used, &ev), IMAP_PARSE_NEED_MORE);
	assert_int_equal(imap_parser_bytes_wanted(p), 0);
	assert_int_equal(feed_str(p, " x\r\n", &used, &ev), IMAP_PARSE_EVENT);
	assert_int_equal(ev.type, IMAP_EVENT_COMMAND);
	/* synchronizing and too big: nothing will come */
	assert_int_equal(feed_str(p, "a2 LOGIN {11}\r\n", &used, &ev),
	    IMAP_PARSE_EVENT);
	assert_true(ev.u.literal.too_big);
	assert_int_equal(imap_parser_bytes_wanted(p), 0);
	/* ... unless streamed */
	assert_int_equal(imap_parser_stream_literal(p), 0);
	assert_int_equal(imap_parser_bytes_wanted(p), 11);
	assert_int_equal(imap_parser_abort_command(p), 0);
	assert_int_equal(imap_parser_bytes_wanted(p), 0);
	assert_true(imap_parser_is_idle(p));
	/* LITERAL+ too big: the bytes come and are skipped */
	assert_int_equal(feed_str(p, "a3 LOGIN {11+}\r\n", &used, &ev),
	    IMAP_PARSE_EVENT);
	assert_int_equal(imap_parser_bytes_wanted(p), 11);
	assert_int_equal(feed_str(p, "", &used, &ev), IMAP_PARSE_ERROR);
	assert_int_equal(ev.u.error.code, IMAP_PERR_LITERAL_TOO_BIG);
	assert_int_equal(imap_parser_bytes_wanted(p), 11);
	/* an error line announcing LITERAL+ */
	imap_parser_reset(p);
	assert_int_equal(feed_str(p, "a4 X ) {7+}\r\n", &used, &ev),
	    IMAP_PARSE_ERROR);
	assert_int_equal(imap_parser_bytes_wanted(p), 7);
	arena_free(&a);
}

static void
test_line_lost(void **state)
{
	struct arena *a = arena_new(1024, 0);
	struct imap_parser *p = imap_parser_new(a, NULL);
	struct imap_event ev;
	size_t used;

	assert_non_null(p);
	/* a first line: no tag known */
	assert_int_equal(imap_parse_line_lost(p, &ev), IMAP_PARSE_ERROR);
	assert_int_equal(ev.type, IMAP_EVENT_ERROR);
	assert_null(ev.tag);
	assert_int_equal(ev.u.error.code, IMAP_PERR_LINE_TOO_LONG);
	assert_true(imap_parser_is_idle(p));
	/* a continuation line: tagged, and the command is over */
	assert_int_equal(feed_str(p, "a1 LOGIN {1}\r\n", &used, &ev),
	    IMAP_PARSE_EVENT);
	assert_int_equal(feed_str(p, "x", &used, &ev), IMAP_PARSE_NEED_MORE);
	assert_int_equal(imap_parse_line_lost(p, &ev), IMAP_PARSE_ERROR);
	assert_string_equal(ev.tag, "a1");
	assert_true(imap_parser_is_idle(p));
	assert_int_equal(feed_str(p, "a2 NOOP\r\n", &used, &ev),
	    IMAP_PARSE_EVENT);
	assert_string_equal(ev.tag, "a2");
	/* a raw line */
	assert_int_equal(imap_parser_expect_line(p), 0);
	assert_int_equal(imap_parse_line_lost(p, &ev), IMAP_PARSE_ERROR);
	assert_null(ev.tag);
	assert_true(imap_parser_is_idle(p));
	/* a line of a command already being skipped: nothing to say */
	assert_int_equal(feed_str(p, "a3 X ) {2+}\r\nxx", &used, &ev),
	    IMAP_PARSE_ERROR);
	assert_int_equal(feed_str(p, "xx", &used, &ev), IMAP_PARSE_NEED_MORE);
	assert_false(imap_parser_is_idle(p));
	assert_int_equal(imap_parse_line_lost(p, &ev), IMAP_PARSE_NEED_MORE);
	assert_true(imap_parser_is_idle(p));
	/* literal bytes were due: a contract breach, still handled */
	assert_int_equal(feed_str(p, "a4 LOGIN {3}\r\n", &used, &ev),
	    IMAP_PARSE_EVENT);
	assert_int_equal(feed_str(p, "", &used, &ev), IMAP_PARSE_NEED_MORE);
	assert_int_equal(imap_parse_line_lost(p, &ev), IMAP_PARSE_ERROR);
	assert_string_equal(ev.tag, "a4");
	assert_true(imap_parser_is_idle(p));
	assert_int_equal(feed_str(p, "a5 NOOP\r\n", &used, &ev),
	    IMAP_PARSE_EVENT);
	assert_string_equal(ev.tag, "a5");
	arena_free(&a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple_commands),
		cmocka_unit_test(test_login),
		cmocka_unit_test(test_append),
		cmocka_unit_test(test_fetch),
		cmocka_unit_test(test_uid),
		cmocka_unit_test(test_store_list_search),
		cmocka_unit_test(test_pipelined),
		cmocka_unit_test(test_bad_syntax),
		cmocka_unit_test(test_bad_nul),
		cmocka_unit_test(test_error_literal_resync),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_abort),
		cmocka_unit_test(test_abort_mid_stream),
		cmocka_unit_test(test_raw_lines),
		cmocka_unit_test(test_raw_line_keeps_tag),
		cmocka_unit_test(test_reset),
		cmocka_unit_test(test_new_limits),
		cmocka_unit_test(test_arg_helpers),
		cmocka_unit_test(test_sections),
		cmocka_unit_test(test_stream_memory),
		cmocka_unit_test(test_bytes_wanted),
		cmocka_unit_test(test_line_lost),
	};

	return cmocka_run_group_tests_name("imap_parse", tests, NULL, NULL);
}
