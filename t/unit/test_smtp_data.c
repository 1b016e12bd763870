/* test_smtp_data.c: DATA reader, SMTP smuggling variants, limits and BDAT */
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
#include "smtp_data.h"
#include "smtp_parse.h"
#include "test_smtp_lines.h"

/* ---- direct line events -------------------------------------------- */

struct feeder {
	struct smtp_data d;
	uint8_t out[8192];
	size_t out_len;
};

static void
feeder_init(struct feeder *f, const struct smtp_data_opts *o)
{
	struct smtp_data_opts def;

	if (o == NULL) {
		smtp_data_opts_init(&def);
		o = &def;
	}
	memset(f, 0, sizeof(*f));
	smtp_data_init(&f->d, o);
}

/* Feeds one line from an exact-size heap copy (ASan sees overreads) and
   appends what is to be stored. */
static int
feed(struct feeder *f, const char *line, size_t len, bool crlf)
{
	struct smtp_data_out out;
	uint8_t *p = malloc(len > 0 ? len : 1);
	int r;

	assert_non_null(p);
	memcpy(p, line, len);
	r = smtp_data_feed(&f->d, p, len, crlf, &out);
	if (r == SMTP_DATA_MORE) {
		assert_true(out.len + 2 <= sizeof(f->out) - f->out_len);
		if (out.len > 0) {
			/* the bytes must come from the line just fed */
			assert_true(out.data >= p && out.data + out.len <=
			    p + len);
			memcpy(f->out + f->out_len, out.data, out.len);
		}
		f->out_len += out.len;
		if (out.eol) {
			memcpy(f->out + f->out_len, "\r\n", 2);
			f->out_len += 2;
		}
	} else {
		assert_int_equal(out.len, 0);
		assert_false(out.eol);
	}
	free(p);
	return r;
}

#define FEED(f, s, crlf) feed(f, s, strlen(s), crlf)

static void
assert_stored(const struct feeder *f, const char *want)
{
	size_t n = strlen(want);

	if (f->out_len != n || memcmp(f->out, want, n) != 0)
		fail_msg("stored %zu bytes \"%.*s\", want \"%s\"", f->out_len,
		    (int)f->out_len, (const char *)f->out, want);
}

static void
test_basic(void **state)
{
	struct feeder f;

	feeder_init(&f, NULL);
	assert_int_equal(FEED(&f, "Subject: hi", true), SMTP_DATA_MORE);
	assert_int_equal(FEED(&f, "", true), SMTP_DATA_MORE);
	assert_int_equal(FEED(&f, "body", true), SMTP_DATA_MORE);
	assert_int_equal(FEED(&f, ".", true), SMTP_DATA_END);
	assert_stored(&f, "Subject: hi\r\n\r\nbody\r\n");
	assert_true(f.d.done);
	assert_int_equal(f.d.result, SMTP_DATA_OK);
	assert_true(f.d.size == 21);
	assert_true(f.d.lines == 4);
	assert_int_equal(smtp_data_status(f.d.result)->code, 250);

	/* nothing after the end */
	assert_int_equal(FEED(&f, "x", true), -EINVAL);
	assert_int_equal(smtp_data_feed_too_long(&f.d, true), -EINVAL);

	/* an empty message: the first line may be the end */
	feeder_init(&f, NULL);
	assert_int_equal(FEED(&f, ".", true), SMTP_DATA_END);
	assert_int_equal(f.out_len, 0);
	assert_true(f.d.size == 0);

	/* NULL with a length is a caller bug, not a crash */
	feeder_init(&f, NULL);
	{
		struct smtp_data_out out;

		assert_int_equal(smtp_data_feed(&f.d, NULL, 3, true, &out),
		    -EINVAL);
		assert_int_equal(smtp_data_feed(&f.d, NULL, 0, true, &out),
		    SMTP_DATA_MORE);
		assert_true(out.eol);
		assert_int_equal(out.len, 0);
	}
}

static void
test_dot_stuffing(void **state)
{
	struct feeder f;

	feeder_init(&f, NULL);
	FEED(&f, "..", true);		/* a line that is "." */
	FEED(&f, "...", true);		/* ".." */
	FEED(&f, "..foo", true);	/* ".foo" */
	FEED(&f, ". leading", true);	/* " leading" */
	FEED(&f, "a.b", true);
	FEED(&f, "x.", true);
	assert_int_equal(FEED(&f, ".", true), SMTP_DATA_END);
	assert_stored(&f, ".\r\n..\r\n.foo\r\n leading\r\na.b\r\nx.\r\n");
	/* RFC 1870 counting: stuffing dots and the end marker excluded */
	assert_true(f.d.size == f.out_len);
}

static void
test_bare_lf_normalised(void **state)
{
	struct feeder f;

	/* bare LF lines are stored with CRLF; a "." that is not the end
	   (bare LF, or after a bare-LF line) is kept, not unstuffed */
	feeder_init(&f, NULL);
	assert_int_equal(FEED(&f, "one", false), SMTP_DATA_MORE);
	assert_int_equal(FEED(&f, ".", false), SMTP_DATA_MORE);
	assert_int_equal(FEED(&f, ".", true), SMTP_DATA_MORE);
	assert_int_equal(FEED(&f, "..x", false), SMTP_DATA_MORE);
	assert_int_equal(FEED(&f, "two", true), SMTP_DATA_MORE);
	assert_int_equal(FEED(&f, ".", true), SMTP_DATA_END);
	assert_stored(&f, "one\r\n.\r\n.\r\n.x\r\ntwo\r\n");
	assert_int_equal(f.d.result, SMTP_DATA_OK);
	assert_true(f.d.bare_lf_lines == 3);

	/* the first line counts as following a CRLF, but only a CRLF "."
	   ends: a bare-LF "." first line is content */
	feeder_init(&f, NULL);
	assert_int_equal(FEED(&f, ".", false), SMTP_DATA_MORE);
	assert_int_equal(FEED(&f, ".", true), SMTP_DATA_MORE);
	assert_int_equal(FEED(&f, ".", true), SMTP_DATA_END);
	assert_stored(&f, ".\r\n.\r\n");
}

static void
test_bare_lf_reject(void **state)
{
	struct smtp_data_opts o;
	struct feeder f;

	smtp_data_opts_init(&o);
	o.reject_bare_lf = true;
	feeder_init(&f, &o);
	FEED(&f, "good", true);
	FEED(&f, "bad", false);
	FEED(&f, "after", true);
	assert_int_equal(FEED(&f, ".", true), SMTP_DATA_END);
	/* nothing stored after the failure; the reader stayed in sync */
	assert_stored(&f, "good\r\n");
	assert_int_equal(f.d.result, SMTP_DATA_BARE_LF);
	assert_int_equal(smtp_data_status(f.d.result)->code, 550);
	assert_string_equal(smtp_data_status(f.d.result)->enhanced, "5.5.2");
}

static void
test_bare_cr(void **state)
{
	struct smtp_data_opts o;
	struct feeder f;

	feeder_init(&f, NULL);
	FEED(&f, "a\rb", true);
	FEED(&f, "\r", true);		/* "\r\r\n" on the wire */
	assert_int_equal(FEED(&f, ".", true), SMTP_DATA_END);
	assert_stored(&f, "a\rb\r\n\r\r\n");
	assert_true(f.d.bare_cr == 2);
	assert_int_equal(f.d.result, SMTP_DATA_OK);

	smtp_data_opts_init(&o);
	o.reject_bare_cr = true;
	feeder_init(&f, &o);
	FEED(&f, "ok", true);
	FEED(&f, "a\rb", true);
	assert_int_equal(FEED(&f, ".", true), SMTP_DATA_END);
	assert_stored(&f, "ok\r\n");
	assert_int_equal(f.d.result, SMTP_DATA_BARE_CR);
	assert_int_equal(smtp_data_status(f.d.result)->code, 550);
}

static void
test_size_limit(void **state)
{
	struct smtp_data_opts o;
	struct feeder f;

	smtp_data_opts_init(&o);
	o.max_size = 12;
	/* exactly at the limit is fine */
	feeder_init(&f, &o);
	FEED(&f, "0123", true);
	FEED(&f, "..a", true);		/* stored ".a\r\n": 4 octets */
	FEED(&f, "", true);
	assert_int_equal(FEED(&f, ".", true), SMTP_DATA_END);
	assert_int_equal(f.d.result, SMTP_DATA_OK);
	assert_true(f.d.size == 12);
	assert_stored(&f, "0123\r\n.a\r\n\r\n");

	/* one octet more fails; the rest is consumed, nothing more kept */
	feeder_init(&f, &o);
	FEED(&f, "0123", true);
	FEED(&f, "..a", true);
	FEED(&f, "cd", true);
	FEED(&f, "more", true);
	FEED(&f, "MAIL FROM:<x@y.example>", true);
	assert_int_equal(FEED(&f, ".", true), SMTP_DATA_END);
	assert_int_equal(f.d.result, SMTP_DATA_TOO_BIG);
	assert_stored(&f, "0123\r\n.a\r\n");
	assert_true(f.d.size == 6 + 4 + 4 + 6 + 25);
	assert_int_equal(smtp_data_status(f.d.result)->code, 552);
	assert_string_equal(smtp_data_status(f.d.result)->enhanced, "5.3.4");
	assert_int_equal(smtp_data_status((enum smtp_data_result)99)->code,
	    552);

	/* size counts on (saturating) even far past the limit */
	o.max_size = 1;
	feeder_init(&f, &o);
	f.d.size = UINT64_MAX - 1;
	FEED(&f, "abc", true);
	assert_true(f.d.size == UINT64_MAX);
	assert_int_equal(f.d.result, SMTP_DATA_TOO_BIG);
}

static void
test_long_lines(void **state)
{
	static char line[1100];
	struct smtp_data_opts o;
	struct feeder f;

	memset(line, 'x', sizeof(line));
	/* 998 octets plus CRLF is the RFC 5321 maximum */
	feeder_init(&f, NULL);
	feed(&f, line, 998, true);
	assert_int_equal(FEED(&f, ".", true), SMTP_DATA_END);
	assert_int_equal(f.d.result, SMTP_DATA_OK);

	/* the stuffing dot is not counted (4.5.3.1.6) */
	line[0] = '.';
	feeder_init(&f, NULL);
	feed(&f, line, 999, true);
	assert_int_equal(FEED(&f, ".", true), SMTP_DATA_END);
	assert_int_equal(f.d.result, SMTP_DATA_OK);
	line[0] = 'x';

	feeder_init(&f, NULL);
	FEED(&f, "first", true);
	feed(&f, line, 999, true);
	FEED(&f, "after", true);
	assert_int_equal(FEED(&f, ".", true), SMTP_DATA_END);
	assert_int_equal(f.d.result, SMTP_DATA_LINE_TOO_LONG);
	assert_true(f.d.long_lines == 1);
	assert_stored(&f, "first\r\n");
	assert_int_equal(smtp_data_status(f.d.result)->code, 550);
	assert_string_equal(smtp_data_status(f.d.result)->enhanced, "5.6.0");

	/* configurable, 0 = leave it to the core */
	smtp_data_opts_init(&o);
	o.max_line_len = 0;
	feeder_init(&f, &o);
	feed(&f, line, 1100, true);
	assert_int_equal(FEED(&f, ".", true), SMTP_DATA_END);
	assert_int_equal(f.d.result, SMTP_DATA_OK);
	assert_true(f.out_len == 1102);

	/* the first failure is the one reported */
	smtp_data_opts_init(&o);
	o.max_size = 2000;
	feeder_init(&f, &o);
	feed(&f, line, 1000, true);
	feed(&f, line, 1000, true);
	feed(&f, line, 1000, true);
	assert_int_equal(FEED(&f, ".", true), SMTP_DATA_END);
	assert_int_equal(f.d.result, SMTP_DATA_LINE_TOO_LONG);
}

static void
test_too_long_event(void **state)
{
	struct feeder f;

	/* a line the core dropped fails the message; how it ended decides
	   whether the next "." ends the data */
	feeder_init(&f, NULL);
	FEED(&f, "a", true);
	assert_int_equal(smtp_data_feed_too_long(&f.d, true), SMTP_DATA_MORE);
	FEED(&f, "b", true);
	assert_int_equal(FEED(&f, ".", true), SMTP_DATA_END);
	assert_int_equal(f.d.result, SMTP_DATA_LINE_TOO_LONG);
	assert_stored(&f, "a\r\n");

	feeder_init(&f, NULL);
	assert_int_equal(smtp_data_feed_too_long(&f.d, true), SMTP_DATA_MORE);
	assert_int_equal(FEED(&f, ".", true), SMTP_DATA_END);

	/* "<long line>\n.\r\n" must not end the data */
	feeder_init(&f, NULL);
	assert_int_equal(smtp_data_feed_too_long(&f.d, false),
	    SMTP_DATA_MORE);
	assert_int_equal(FEED(&f, ".", true), SMTP_DATA_MORE);
	assert_int_equal(FEED(&f, ".", true), SMTP_DATA_END);
	assert_true(f.d.bare_lf_lines == 1);
	assert_true(f.d.lines == 3);
}

/* ---- a miniature session over the core's line splitter ------------- */

#define MAX_MSGS 4

enum mode { M_CMD, M_DATA, M_BDAT };

struct msess {
	struct tlines tl;
	struct smtp_parse_opts po;
	struct smtp_data_opts dopts;
	uint64_t bdat_max;
	struct arena *arena;
	enum mode mode;
	struct smtp_data d;
	struct smtp_bdat b;
	bool in_bdat;
	char log[4096];
	size_t log_len;
	uint8_t cur[16384];
	size_t cur_len;
	uint8_t msg[MAX_MSGS][16384];
	size_t msg_len[MAX_MSGS];
	int nmsgs;
};

static void
logf_(struct msess *s, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(s->log + s->log_len, sizeof(s->log) - s->log_len, fmt,
	    ap);
	va_end(ap);
	assert_true(n >= 0 && (size_t)n < sizeof(s->log) - s->log_len);
	s->log_len += (size_t)n;
}

static void
store(struct msess *s, const struct smtp_data_out *out)
{
	assert_true(out->len + 2 <= sizeof(s->cur) - s->cur_len);
	if (out->len > 0)
		memcpy(s->cur + s->cur_len, out->data, out->len);
	s->cur_len += out->len;
	if (out->eol) {
		memcpy(s->cur + s->cur_len, "\r\n", 2);
		s->cur_len += 2;
	}
}

static void
finish_message(struct msess *s, enum smtp_data_result r)
{
	const struct smtp_status *st = smtp_data_status(r);

	logf_(s, "end %u %s;", st->code, st->enhanced);
	if (r == SMTP_DATA_OK) {
		assert_true(s->nmsgs < MAX_MSGS);
		memcpy(s->msg[s->nmsgs], s->cur, s->cur_len);
		s->msg_len[s->nmsgs++] = s->cur_len;
	}
	s->cur_len = 0;
	s->mode = M_CMD;
}

static void
sess_command(struct msess *s, const uint8_t *line, size_t len, bool crlf)
{
	struct smtp_cmd cmd;
	int r;

	arena_reset(s->arena);
	assert_int_equal(smtp_parse_line(s->arena, &s->po, line, len, crlf,
	    &cmd), 0);
	logf_(s, "%s %d;", smtp_verb_name(cmd.verb), cmd.err);
	if (cmd.err != SMTP_PERR_NONE)
		return;
	if (cmd.verb == SMTP_VERB_DATA) {
		smtp_data_init(&s->d, &s->dopts);
		s->mode = M_DATA;
	} else if (cmd.verb == SMTP_VERB_BDAT) {
		if (!s->in_bdat) {
			smtp_bdat_init(&s->b, s->bdat_max);
			s->in_bdat = true;
		}
		r = smtp_bdat_begin(&s->b, cmd.bdat.size, cmd.bdat.last);
		assert_true(r == SMTP_BDAT_STORE || r == SMTP_BDAT_DISCARD);
		if (cmd.bdat.size > 0) {
			s->tl.want = cmd.bdat.size;
			s->mode = M_BDAT;
		} else {
			logf_(s, "chunk %u;", smtp_data_status(
			    s->b.result)->code);
			if (smtp_bdat_done(&s->b)) {
				s->in_bdat = false;
				finish_message(s, s->b.result);
			}
		}
	}
}

static void
sess_line(void *ctx, const uint8_t *line, size_t len, unsigned flags)
{
	struct msess *s = ctx;
	bool crlf = (flags & POSTA_LINE_CRLF) != 0;
	struct smtp_data_out out;
	uint8_t *p;
	int r;

	if (flags & POSTA_LINE_TOO_LONG) {
		if (s->mode == M_DATA) {
			r = smtp_data_feed_too_long(&s->d, crlf);
			assert_int_equal(r, SMTP_DATA_MORE);
		} else {
			logf_(s, "toolong;");
		}
		return;
	}
	/* exact-size copy: ASan sees any read past the line */
	p = malloc(len > 0 ? len : 1);
	assert_non_null(p);
	memcpy(p, line, len);
	if (s->mode == M_CMD) {
		sess_command(s, p, len, crlf);
	} else {
		r = smtp_data_feed(&s->d, p, len, crlf, &out);
		if (r == SMTP_DATA_END)
			finish_message(s, s->d.result);
		else
			store(s, &out);
	}
	free(p);
}

static void
sess_bytes(void *ctx, const uint8_t *data, size_t len, bool last)
{
	struct msess *s = ctx;
	struct smtp_data_out out;
	int r;

	assert_int_equal(s->mode, M_BDAT);
	r = smtp_bdat_feed(&s->b, data, len, &out);
	assert_true(r == 0 || r == 1);
	assert_int_equal(r == 1, last);
	store(s, &out);
	if (r == 1) {
		logf_(s, "chunk %u;", smtp_data_status(s->b.result)->code);
		s->mode = M_CMD;
		if (smtp_bdat_done(&s->b)) {
			s->in_bdat = false;
			finish_message(s, s->b.result);
		}
	}
}

static struct msess *
sess_new(size_t max_line)
{
	struct msess *s = calloc(1, sizeof(*s));

	assert_non_null(s);
	s->arena = arena_new(4096, 1 << 20);
	assert_non_null(s->arena);
	smtp_parse_opts_init(&s->po);
	s->po.ext = SMTP_EXT_SIZE | SMTP_EXT_8BITMIME | SMTP_EXT_BINARYMIME;
	smtp_data_opts_init(&s->dopts);
	tlines_init(&s->tl, max_line, s, sess_line, sess_bytes);
	return s;
}

static void
sess_free(struct msess **sp)
{
	arena_free(&(*sp)->arena);
	free(*sp);
	*sp = NULL;
}

/* Same log and messages? */
static void
assert_same(const struct msess *a, const struct msess *b, const char *how)
{
	int i;

	if (strcmp(a->log, b->log) != 0)
		fail_msg("%s: log \"%s\" != \"%s\"", how, b->log, a->log);
	assert_int_equal(a->nmsgs, b->nmsgs);
	for (i = 0; i < a->nmsgs; i++) {
		assert_int_equal(a->msg_len[i], b->msg_len[i]);
		assert_memory_equal(a->msg[i], b->msg[i], a->msg_len[i]);
	}
}

/*
 * Runs a byte stream through the session whole, then cut in two at every
 * offset, then byte by byte and in 7-byte reads, and checks that all give
 * the same log and messages.  Returns the session fed whole.
 */
static struct msess *
run_all_splits(const uint8_t *stream, size_t n, size_t max_line,
    void (*tune)(struct msess *))
{
	struct msess *whole = sess_new(max_line), *s;
	size_t split, i, step;

	if (tune != NULL)
		tune(whole);
	tlines_feed(&whole->tl, stream, n);
	for (split = 1; split < n; split++) {
		s = sess_new(max_line);
		if (tune != NULL)
			tune(s);
		tlines_feed(&s->tl, stream, split);
		tlines_feed(&s->tl, stream + split, n - split);
		assert_same(whole, s, "split");
		sess_free(&s);
	}
	for (step = 1; step <= 7; step += 6) {
		s = sess_new(max_line);
		if (tune != NULL)
			tune(s);
		for (i = 0; i < n; i += step)
			tlines_feed(&s->tl, stream + i,
			    n - i < step ? n - i : step);
		assert_same(whole, s, "steps");
		sess_free(&s);
	}
	return whole;
}

static bool
contains(const uint8_t *hay, size_t n, const char *needle)
{
	size_t m = strlen(needle), i;

	for (i = 0; i + m <= n; i++)
		if (memcmp(hay + i, needle, m) == 0)
			return true;
	return false;
}

#define HEAD "EHLO client.example\r\nMAIL FROM:<a@b.example>\r\n" \
	"RCPT TO:<c@d.example>\r\nDATA\r\nFrom: a@b.example\r\n\r\nhello"
#define EVIL "MAIL FROM:<evil@x.example>\r\nRCPT TO:<c@d.example>\r\n" \
	"DATA\r\nFrom: admin@d.example\r\n\r\nsmuggled"
#define TAIL "\r\n.\r\nQUIT\r\n"

/*
 * The 2023 SMTP smuggling research (SEC Consult; the smtpsmug and
 * smtp_smuggling_checker tools) tried these as end-of-data sequences.
 * None may end the message here: every one has to leave exactly one
 * transaction, with the "smuggled" commands inside its content.
 */
static const struct {
	const char *name;
	const char *seq;
	size_t len;
	bool bare;		/* holds a bare CR or LF */
} smuggle[] = {
	{ "LF.LF", "\n.\n", 3, true },
	{ "CR.CR", "\r.\r", 3, true },
	{ "CR.LF", "\r.\n", 3, true },
	{ "LF.CR", "\n.\r", 3, true },
	{ "LF.CRLF", "\n.\r\n", 4, true },
	{ "CRLF.LF", "\r\n.\n", 4, true },
	{ "CR.CRLF", "\r.\r\n", 4, true },
	{ "CRLF.CR", "\r\n.\r", 4, true },
	{ "CRLF NUL.CRLF", "\r\n\0.\r\n", 6, false },
	{ "CRLF.NUL CRLF", "\r\n.\0\r\n", 6, false },
	{ "CRLF NUL.LF", "\r\n\0.\n", 5, true },
	{ "CRLF NUL.CR", "\r\n\0.\r", 5, true },
	{ "LF LF.CRLF", "\n\n.\r\n", 5, true },
	{ "CRLF.", "\r\n.", 3, false },
	{ "CRLF.CRCRLF", "\r\n.\r\r\n", 6, true },
	{ "CRLF.SP CRLF", "\r\n. \r\n", 6, false },
	{ "CRLF..CRLF", "\r\n..\r\n", 6, false },
};

static size_t
build(uint8_t *buf, size_t cap, const char *seq, size_t seq_len)
{
	size_t n = 0;

#define PUT(p, l) do {						\
		assert_true(n + (l) <= cap);			\
		memcpy(buf + n, (p), (l));			\
		n += (l);					\
	} while (0)
	PUT(HEAD, strlen(HEAD));
	PUT(seq, seq_len);
	PUT(EVIL, strlen(EVIL));
	PUT(TAIL, strlen(TAIL));
#undef PUT
	return n;
}

static void
reject_bare(struct msess *s)
{
	s->dopts.reject_bare_lf = true;
	s->dopts.reject_bare_cr = true;
}

static void
test_smuggling(void **state)
{
	static uint8_t buf[1024];
	struct msess *s;
	size_t i, n;

	for (i = 0; i < sizeof(smuggle) / sizeof(smuggle[0]); i++) {
		n = build(buf, sizeof(buf), smuggle[i].seq, smuggle[i].len);
		s = run_all_splits(buf, n, 1000, NULL);
		if (strcmp(s->log, "EHLO 0;MAIL 0;RCPT 0;DATA 0;"
		    "end 250 2.0.0;QUIT 0;") != 0)
			fail_msg("%s: log %s", smuggle[i].name, s->log);
		assert_int_equal(s->nmsgs, 1);
		assert_true(contains(s->msg[0], s->msg_len[0],
		    "MAIL FROM:<evil@x.example>"));
		assert_true(contains(s->msg[0], s->msg_len[0],
		    "smuggled\r\n"));
		sess_free(&s);

		/* rejecting bare LF/CR fails the message, never splits it */
		s = run_all_splits(buf, n, 1000, reject_bare);
		if (strcmp(s->log, smuggle[i].bare ?
		    "EHLO 0;MAIL 0;RCPT 0;DATA 0;end 550 5.5.2;QUIT 0;" :
		    "EHLO 0;MAIL 0;RCPT 0;DATA 0;end 250 2.0.0;QUIT 0;") != 0)
			fail_msg("%s strict: log %s", smuggle[i].name, s->log);
		assert_int_equal(s->nmsgs, smuggle[i].bare ? 0 : 1);
		sess_free(&s);
	}
}

static void
test_smuggling_stored(void **state)
{
	static uint8_t buf[1024];
	static const char *const want[] = {
		/* LF.CRLF: "hello" LF "." CRLF: both lines normalised */
		"From: a@b.example\r\n\r\nhello\r\n.\r\nMAIL FROM:",
		/* CRLF.LF */
		"From: a@b.example\r\n\r\nhello\r\n.\r\nMAIL FROM:",
		/* CR.CR: one line with bare CRs */
		"From: a@b.example\r\n\r\nhello\r.\rMAIL FROM:",
	};
	static const size_t idx[] = { 4, 5, 1 };
	struct msess *s;
	size_t i, n;

	for (i = 0; i < sizeof(idx) / sizeof(idx[0]); i++) {
		n = build(buf, sizeof(buf), smuggle[idx[i]].seq,
		    smuggle[idx[i]].len);
		s = run_all_splits(buf, n, 1000, NULL);
		assert_int_equal(s->nmsgs, 1);
		assert_true(s->msg_len[0] >= strlen(want[i]));
		assert_memory_equal(s->msg[0], want[i], strlen(want[i]));
		sess_free(&s);
	}
}

static void
test_pipelined_two_messages(void **state)
{
	/* the control: a real CRLF.CRLF does end the first message, so the
	   smuggling test above would notice a reader that splits */
	static const char stream[] = HEAD "\r\n.\r\n" EVIL TAIL;
	struct msess *s = run_all_splits((const uint8_t *)stream,
	    sizeof(stream) - 1, 1000, NULL);

	assert_string_equal(s->log, "EHLO 0;MAIL 0;RCPT 0;DATA 0;"
	    "end 250 2.0.0;MAIL 0;RCPT 0;DATA 0;end 250 2.0.0;QUIT 0;");
	assert_int_equal(s->nmsgs, 2);
	assert_int_equal(s->msg_len[0], strlen("From: a@b.example\r\n\r\n"
	    "hello\r\n"));
	sess_free(&s);
}

static void
test_stream_limits(void **state)
{
	static uint8_t buf[4096];
	struct msess *s;
	size_t n = 0;

	/* a 999-octet line reaches the reader (core limit 1000) and fails
	   the message; a 1200-octet one is dropped by the core and fails it
	   too; the session stays in sync for the next transaction */
#define PUTS(str) do {							\
		memcpy(buf + n, str, strlen(str));			\
		n += strlen(str);					\
	} while (0)
	PUTS("MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n");
	memset(buf + n, 'x', 999);
	n += 999;
	PUTS("\r\n.\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\n"
	    "DATA\r\n");
	memset(buf + n, 'y', 1200);
	n += 1200;
	PUTS("\r\nmore\r\n.\r\nQUIT\r\n");
	s = run_all_splits(buf, n, 1000, NULL);
	assert_string_equal(s->log, "MAIL 0;RCPT 0;DATA 0;end 550 5.6.0;"
	    "MAIL 0;RCPT 0;DATA 0;end 550 5.6.0;QUIT 0;");
	assert_int_equal(s->nmsgs, 0);
	sess_free(&s);

	/* an over-long line right before the end: with the core telling
	   how the dropped line ended, CRLF.CRLF still ends the data ... */
	n = 0;
	PUTS("DATA\r\n");
	memset(buf + n, 'z', 1500);
	n += 1500;
	PUTS("\r\n.\r\nQUIT\r\n");
	s = sess_new(1000);
	s->tl.crlf_on_too_long = true;
	tlines_feed(&s->tl, buf, n);
	assert_string_equal(s->log, "DATA 0;end 550 5.6.0;QUIT 0;");
	sess_free(&s);
	/* ... without it the reader must assume a bare LF, and only a
	   second CRLF.CRLF ends it */
	s = sess_new(1000);
	tlines_feed(&s->tl, buf, n);
	assert_string_equal(s->log, "DATA 0;");
	tlines_feed(&s->tl, (const uint8_t *)".\r\nNOOP\r\n", 9);
	assert_string_equal(s->log, "DATA 0;end 550 5.6.0;NOOP 0;");
	sess_free(&s);
	/* and "<long line>\n.\r\n" never ends the data, either way */
	n = 0;
	PUTS("DATA\r\n");
	memset(buf + n, 'z', 1500);
	n += 1500;
	PUTS("\n.\r\nQUIT\r\n");
	s = sess_new(1000);
	s->tl.crlf_on_too_long = true;
	tlines_feed(&s->tl, buf, n);
	assert_string_equal(s->log, "DATA 0;");
	sess_free(&s);
#undef PUTS
}

static void
size_limit_20(struct msess *s)
{
	s->dopts.max_size = 20;
	s->bdat_max = 20;
}

static void
test_stream_size(void **state)
{
	static const char stream[] =
	    "MAIL FROM:<a@b.example> SIZE=10\r\nRCPT TO:<c@d.example>\r\n"
	    "DATA\r\n0123456789\r\n0123456789\r\n.\r\n"
	    "MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\n"
	    "DATA\r\n0123456789\r\n012345\r\n.\r\nQUIT\r\n";
	struct msess *s = run_all_splits((const uint8_t *)stream,
	    sizeof(stream) - 1, 1000, size_limit_20);

	assert_string_equal(s->log, "MAIL 0;RCPT 0;DATA 0;end 552 5.3.4;"
	    "MAIL 0;RCPT 0;DATA 0;end 250 2.0.0;QUIT 0;");
	assert_int_equal(s->nmsgs, 1);
	assert_int_equal(s->msg_len[0], 20);
	sess_free(&s);
}

/* ---- BDAT ----------------------------------------------------------- */

static void
test_bdat_api(void **state)
{
	struct smtp_bdat b;
	struct smtp_data_out out;
	const uint8_t bytes[] = "abcdef";

	smtp_bdat_init(&b, 10);
	assert_int_equal(smtp_bdat_begin(&b, 4, false), SMTP_BDAT_STORE);
	/* a second BDAT before the chunk is read is a session bug */
	assert_int_equal(smtp_bdat_begin(&b, 1, false), -EINVAL);
	assert_int_equal(smtp_bdat_feed(&b, bytes, 3, &out), 0);
	assert_ptr_equal(out.data, bytes);
	assert_int_equal(out.len, 3);
	assert_false(out.eol);
	assert_int_equal(smtp_bdat_feed(&b, bytes, 2, &out), -EINVAL);
	assert_int_equal(smtp_bdat_feed(&b, bytes + 3, 1, &out), 1);
	assert_int_equal(smtp_bdat_feed(&b, bytes, 1, &out), -EINVAL);
	assert_false(smtp_bdat_done(&b));

	/* 4 + 6 = 10: at the limit */
	assert_int_equal(smtp_bdat_begin(&b, 6, false), SMTP_BDAT_STORE);
	assert_int_equal(smtp_bdat_feed(&b, bytes, 6, &out), 1);
	/* over it: discard, and every later chunk too */
	assert_int_equal(smtp_bdat_begin(&b, 1, false), SMTP_BDAT_DISCARD);
	assert_int_equal(smtp_bdat_feed(&b, bytes, 1, &out), 1);
	assert_int_equal(out.len, 0);
	assert_null(out.data);
	assert_int_equal(b.result, SMTP_DATA_TOO_BIG);
	assert_int_equal(smtp_bdat_begin(&b, 0, true), SMTP_BDAT_DISCARD);
	assert_true(smtp_bdat_done(&b));
	assert_int_equal(smtp_bdat_begin(&b, 1, false), -EINVAL);

	/* sizes saturate instead of wrapping back under the limit */
	smtp_bdat_init(&b, 100);
	assert_int_equal(smtp_bdat_begin(&b, UINT64_MAX, false),
	    SMTP_BDAT_DISCARD);
	assert_true(b.size == UINT64_MAX);
	b.in_chunk = false;		/* pretend it was read */
	assert_int_equal(smtp_bdat_begin(&b, 2, true), SMTP_BDAT_DISCARD);

	/* no limit */
	smtp_bdat_init(&b, 0);
	assert_int_equal(smtp_bdat_begin(&b, 1 << 30, true), SMTP_BDAT_STORE);
	assert_int_equal(smtp_bdat_feed(&b, NULL, 3, &out), -EINVAL);
	assert_int_equal(smtp_bdat_feed(&b, bytes, 0, &out), 0);
	assert_int_equal(out.len, 0);
}

static void
test_bdat_stream(void **state)
{
	/* chunks are raw: a CRLF.CRLF or a command inside is content */
	static const char stream[] =
	    "MAIL FROM:<a@b.example> BODY=BINARYMIME\r\n"
	    "RCPT TO:<c@d.example>\r\n"
	    "BDAT 12\r\nhello\r\n.\r\nXY"
	    "BDAT 21 LAST\r\nRCPT TO:<evil@x.ex>\r\n"
	    "NOOP\r\n"
	    "MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\n"
	    "BDAT 0 LAST\r\n"
	    "QUIT\r\n";
	static const char want[] = "hello\r\n.\r\nXY" "RCPT TO:<evil@x.ex>\r\n";
	struct msess *s = run_all_splits((const uint8_t *)stream,
	    sizeof(stream) - 1, 1000, NULL);

	assert_string_equal(s->log, "MAIL 0;RCPT 0;BDAT 0;chunk 250;BDAT 0;"
	    "chunk 250;end 250 2.0.0;NOOP 0;MAIL 0;RCPT 0;BDAT 0;chunk 250;"
	    "end 250 2.0.0;QUIT 0;");
	assert_int_equal(s->nmsgs, 2);
	assert_int_equal(s->msg_len[0], sizeof(want) - 1);
	assert_memory_equal(s->msg[0], want, sizeof(want) - 1);
	assert_int_equal(s->msg_len[1], 0);
	sess_free(&s);
}

static void
test_bdat_too_big(void **state)
{
	/* over the limit the chunk is still read in full, so the next
	   command is found where the client put it */
	static const char stream[] =
	    "MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\n"
	    "BDAT 15\r\n0123456789abcde"
	    "BDAT 10\r\nQUIT\r\nRSET"
	    "BDAT 3 LAST\r\nxyz"
	    "RSET\r\n"
	    "MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\n"
	    "BDAT 20 LAST\r\n01234567890123456789"
	    "QUIT\r\n";
	struct msess *s = run_all_splits((const uint8_t *)stream,
	    sizeof(stream) - 1, 1000, size_limit_20);

	assert_string_equal(s->log, "MAIL 0;RCPT 0;BDAT 0;chunk 250;"
	    "BDAT 0;chunk 552;BDAT 0;chunk 552;end 552 5.3.4;RSET 0;"
	    "MAIL 0;RCPT 0;BDAT 0;chunk 250;end 250 2.0.0;QUIT 0;");
	assert_int_equal(s->nmsgs, 1);
	assert_int_equal(s->msg_len[0], 20);
	sess_free(&s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_dot_stuffing),
		cmocka_unit_test(test_bare_lf_normalised),
		cmocka_unit_test(test_bare_lf_reject),
		cmocka_unit_test(test_bare_cr),
		cmocka_unit_test(test_size_limit),
		cmocka_unit_test(test_long_lines),
		cmocka_unit_test(test_too_long_event),
		cmocka_unit_test(test_smuggling),
		cmocka_unit_test(test_smuggling_stored),
		cmocka_unit_test(test_pipelined_two_messages),
		cmocka_unit_test(test_stream_limits),
		cmocka_unit_test(test_stream_size),
		cmocka_unit_test(test_bdat_api),
		cmocka_unit_test(test_bdat_stream),
		cmocka_unit_test(test_bdat_too_big),
	};

	return cmocka_run_group_tests_name("smtp_data", tests, NULL, NULL);
}
