/* test_linebuf.c: line framing, long lines, exact reads, at every split */
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

#include "linebuf.h"

/*
 * Events are recorded as text, one per line, so a whole run compares with
 * one string.  DATA chunks are joined until the one with last = true: their
 * boundaries depend on how the input was split, the bytes must not.
 *   L:<line>\r\n   or  L:<line>\n     a line and how it ended
 *   TOO_LONG
 *   D:<bytes>                         a completed exact read
 *   D-open:<bytes>                    exact read still open at the end
 * Bytes other than printable ASCII are written as \xNN, backslash as \\.
 */
struct rec {
	char *s;
	size_t len, cap;
	uint8_t *data;		/* DATA chunks of the open exact read */
	size_t data_len, data_cap;
};

static void
rec_init(struct rec *r)
{
	memset(r, 0, sizeof(*r));
	r->cap = 1 << 16;
	r->s = malloc(r->cap);
	assert_non_null(r->s);
	r->s[0] = '\0';
	r->data_cap = 1 << 16;
	r->data = malloc(r->data_cap);
	assert_non_null(r->data);
}

static void
rec_free(struct rec *r)
{
	free(r->s);
	free(r->data);
}

static void
rec_putc(struct rec *r, char c)
{
	if (r->len + 2 > r->cap) {
		r->cap *= 2;
		r->s = realloc(r->s, r->cap);
		assert_non_null(r->s);
	}
	r->s[r->len++] = c;
	r->s[r->len] = '\0';
}

static void
rec_puts(struct rec *r, const char *s)
{
	while (*s != '\0')
		rec_putc(r, *s++);
}

static void
rec_bytes(struct rec *r, const uint8_t *p, size_t len)
{
	char hex[8];
	size_t i;

	for (i = 0; i < len; i++) {
		if (p[i] == '\\') {
			rec_puts(r, "\\\\");
		} else if (p[i] >= 0x20 && p[i] < 0x7f) {
			rec_putc(r, (char)p[i]);
		} else {
			snprintf(hex, sizeof(hex), "\\x%02x", p[i]);
			rec_puts(r, hex);
		}
	}
}

static void
rec_data(struct rec *r, const uint8_t *p, size_t len)
{
	if (r->data_len + len > r->data_cap) {
		while (r->data_len + len > r->data_cap)
			r->data_cap *= 2;
		r->data = realloc(r->data, r->data_cap);
		assert_non_null(r->data);
	}
	memcpy(r->data + r->data_len, p, len);
	r->data_len += len;
}

/* A line ending in {N} (up to 6 digits) announces N bytes of data, as an
   IMAP literal does. */
static size_t
literal_size(const uint8_t *p, size_t len)
{
	size_t i, n = 0;

	if (len < 3 || p[len - 1] != '}')
		return 0;
	i = len - 1;
	while (i > 0 && p[i - 1] >= '0' && p[i - 1] <= '9')
		i--;
	if (i == len - 1 || len - 1 - i > 6 || i == 0 || p[i - 1] != '{')
		return 0;
	for (; i < len - 1; i++)
		n = n * 10 + (size_t)(p[i] - '0');
	return n;
}

/* Drains every event; returns when the buffer needs more input. */
static void
drain(struct linebuf *lb, struct rec *r)
{
	struct linebuf_event ev;
	size_t n;

	for (;;) {
		linebuf_next(lb, &ev);
		switch (ev.type) {
		case LINEBUF_NEED_MORE:
			assert_null(ev.data);
			assert_int_equal(ev.len, 0);
			/* the memory bound: a partial line never holds more
			   than max_line + 1 bytes, so reading never stalls */
			if (lb->want == 0)
				assert_true(linebuf_buffered(lb) <=
				    lb->max_line + 1);
			else
				assert_int_equal(linebuf_buffered(lb), 0);
			return;
		case LINEBUF_LINE:
			/* handed out in place, never copied */
			assert_true(ev.data >= lb->buf &&
			    ev.data + ev.len <= lb->buf + lb->cap);
			assert_true(ev.len <= lb->max_line);
			assert_false(ev.last);
			rec_puts(r, "L:");
			rec_bytes(r, ev.data, ev.len);
			rec_puts(r, ev.crlf ? "\\r\\n\n" : "\\n\n");
			n = literal_size(ev.data, ev.len);
			linebuf_read_bytes(lb, n);
			break;
		case LINEBUF_TOO_LONG:
			assert_null(ev.data);
			assert_int_equal(ev.len, 0);
			rec_puts(r, ev.crlf ? "TOO_LONG\\r\\n\n" :
			    "TOO_LONG\n");
			break;
		case LINEBUF_DATA:
			assert_true(ev.len > 0);
			assert_true(ev.data >= lb->buf &&
			    ev.data + ev.len <= lb->buf + lb->cap);
			rec_data(r, ev.data, ev.len);
			if (ev.last) {
				assert_int_equal(lb->want, 0);
				rec_puts(r, "D:");
				rec_bytes(r, r->data, r->data_len);
				rec_putc(r, '\n');
				r->data_len = 0;
			}
			break;
		default:
			fail_msg("unknown event type %d", (int)ev.type);
		}
	}
}

/* Writes in[0..len) through linebuf_space/commit and drains. */
static void
feed(struct linebuf *lb, struct rec *r, const uint8_t *in, size_t len)
{
	while (len > 0) {
		size_t room, n;
		uint8_t *p = linebuf_space(lb, &room);

		/* drained before, so there is always room */
		assert_true(room > 0);
		n = room < len ? room : len;
		memcpy(p, in, n);
		linebuf_commit(lb, n);
		in += n;
		len -= n;
		drain(lb, r);
	}
}

static void
finish(struct linebuf *lb, struct rec *r)
{
	if (r->data_len > 0) {
		rec_puts(r, "D-open:");
		rec_bytes(r, r->data, r->data_len);
		rec_putc(r, '\n');
	}
	/* the buffer grows lazily, never past its full capacity */
	assert_true(lb->max_cap >= 4096 && lb->max_cap > lb->max_line + 2);
	assert_true(lb->cap <= lb->max_cap);
}

/* Feeds in chunks of at most chunk bytes (0 = all at once). */
static char *
run_chunked(size_t max_line, const uint8_t *in, size_t len, size_t chunk)
{
	struct linebuf lb;
	struct rec r;
	size_t off = 0, cap;
	char *out;

	assert_int_equal(linebuf_init(&lb, max_line), 0);
	cap = lb.max_cap;
	rec_init(&r);
	if (chunk == 0)
		chunk = len;
	while (off < len) {
		size_t n = len - off < chunk ? len - off : chunk;

		feed(&lb, &r, in + off, n);
		off += n;
	}
	drain(&lb, &r);
	finish(&lb, &r);
	assert_int_equal(lb.max_cap, cap);
	out = strdup(r.s);
	assert_non_null(out);
	rec_free(&r);
	linebuf_deinit(&lb);
	return out;
}

static char *
run_split(size_t max_line, const uint8_t *in, size_t len, size_t at)
{
	struct linebuf lb;
	struct rec r;
	char *out;

	assert_int_equal(linebuf_init(&lb, max_line), 0);
	rec_init(&r);
	feed(&lb, &r, in, at);
	feed(&lb, &r, in + at, len - at);
	finish(&lb, &r);
	out = strdup(r.s);
	assert_non_null(out);
	rec_free(&r);
	linebuf_deinit(&lb);
	return out;
}

/* Whole, byte by byte, small chunks, and split at every offset. */
static void
check_events(size_t max_line, const void *input, size_t len,
    const char *expect)
{
	const uint8_t *in = input;
	size_t i;
	char *got;

	got = run_chunked(max_line, in, len, 0);
	assert_string_equal(got, expect);
	free(got);
	for (i = 1; i <= 7; i++) {
		got = run_chunked(max_line, in, len, i);
		assert_string_equal(got, expect);
		free(got);
	}
	for (i = 0; i <= len; i++) {
		got = run_split(max_line, in, len, i);
		if (strcmp(got, expect) != 0)
			fail_msg("split at %zu:\n%s\nexpected:\n%s", i, got,
			    expect);
		free(got);
	}
}

#define CHECK(max_line, lit, expect) \
	check_events(max_line, lit, sizeof(lit) - 1, expect)

static void
test_lines(void **state)
{
	CHECK(100, "", "");
	CHECK(100, "a\r\nbc\n", "L:a\\r\\n\nL:bc\\n\n");
	CHECK(100, "HELO x\r\nNOOP\r\nQUIT\r\n",
	    "L:HELO x\\r\\n\nL:NOOP\\r\\n\nL:QUIT\\r\\n\n");
	/* an unterminated tail is not a line */
	CHECK(100, "a\nno end", "L:a\\n\n");
	CHECK(100, "a\nno end\r", "L:a\\n\n");
}

static void
test_empty_lines(void **state)
{
	CHECK(100, "\r\n\n\r\n", "L:\\r\\n\nL:\\n\nL:\\r\\n\n");
	CHECK(0, "\r\n\n", "L:\\r\\n\nL:\\n\n");
	CHECK(0, "x\n\n", "TOO_LONG\nL:\\n\n");
}

static void
test_cr_inside_line(void **state)
{
	/* only the CR right before LF belongs to the terminator */
	CHECK(100, "a\rb\r\n", "L:a\\x0db\\r\\n\n");
	CHECK(100, "\r\r\n", "L:\\x0d\\r\\n\n");
	CHECK(100, "\r\rx\n", "L:\\x0d\\x0dx\\n\n");
	CHECK(100, "a\r", "");
	CHECK(100, "nul\0byte\n", "L:nul\\x00byte\\n\n");
}

static void
test_max_line_boundary(void **state)
{
	/* max_line 10: 10 bytes accepted with either ending, 11 refused */
	CHECK(10, "0123456789\r\nok\r\n", "L:0123456789\\r\\n\nL:ok\\r\\n\n");
	CHECK(10, "0123456789\nok\n", "L:0123456789\\n\nL:ok\\n\n");
	CHECK(10, "0123456789A\r\nok\r\n", "TOO_LONG\\r\\n\nL:ok\\r\\n\n");
	CHECK(10, "0123456789A\nok\n", "TOO_LONG\nL:ok\\n\n");
	/* a CR inside the line counts towards its length */
	CHECK(10, "012345678\r\r\n", "L:012345678\\x0d\\r\\n\n");
	CHECK(10, "0123456789\r\r\n", "TOO_LONG\\r\\n\n");
	CHECK(10, "0123456789\rx\n", "TOO_LONG\n");
	CHECK(1, "a\nab\n\n", "L:a\\n\nTOO_LONG\nL:\\n\n");
}

static void
test_too_long_then_normal(void **state)
{
	size_t big = 9000, i, len;
	uint8_t *in = malloc(big + 64);

	assert_non_null(in);
	/* far larger than the whole buffer */
	for (i = 0; i < big; i++)
		in[i] = (uint8_t)('a' + i % 26);
	len = big;
	memcpy(in + len, "\r\nNOOP\r\n", 8);
	len += 8;
	check_events(100, in, len, "TOO_LONG\\r\\n\nL:NOOP\\r\\n\n");

	/* two in a row each give one event, with a bare LF too */
	len = 0;
	memset(in, 'x', 300);
	len += 300;
	in[len++] = '\n';
	memset(in + len, 'y', 300);
	len += 300;
	memcpy(in + len, "\r\n\r\nz\n", 6);
	len += 6;
	check_events(100, in, len,
	    "TOO_LONG\nTOO_LONG\\r\\n\nL:\\r\\n\nL:z\\n\n");
	free(in);

	CHECK(4, "abcdef\n", "TOO_LONG\n");
	/* never completed: no event at all */
	CHECK(4, "abcdefghijklmnop", "");
}

static void
test_exact_bytes(void **state)
{
	CHECK(100, "A1 APPEND x {5}\r\nhello\r\nA2 NOOP\r\n",
	    "L:A1 APPEND x {5}\\r\\n\nD:hello\nL:\\r\\n\n"
	    "L:A2 NOOP\\r\\n\n");
	/* data ends in the middle of what would be lines */
	CHECK(100, "{3}\nabcdef\nxyz\n",
	    "L:{3}\\n\nD:abc\nL:def\\n\nL:xyz\\n\n");
	/* CR and LF in data are data */
	CHECK(100, "{4}\r\n\r\n\r\nX\n", "L:{4}\\r\\n\nD:\\x0d\\x0a\\x0d\\x0a\n"
	    "L:X\\n\n");
	/* data is not subject to max_line, and a line may follow at once */
	CHECK(4, "{12}\n0123456789abok\n", "L:{12}\\n\nD:0123456789ab\n"
	    "L:ok\\n\n");
	/* zero bytes: no event, lines go on */
	CHECK(100, "{0}\nnext\n", "L:{0}\\n\nL:next\\n\n");
	/* back to back */
	CHECK(100, "{2}\nab{1}\nc\n", "L:{2}\\n\nD:ab\nL:{1}\\n\nD:c\n"
	    "L:\\n\n");
	/* input ends inside the data */
	CHECK(100, "{10}\nabc", "L:{10}\\n\nD-open:abc\n");
}

static void
test_exact_bytes_larger_than_buffer(void **state)
{
	size_t n = 20000, i, len = 0;
	uint8_t *in = malloc(n + 64);
	char *expect = malloc(n + 64);
	int hdr;

	assert_non_null(in);
	assert_non_null(expect);
	hdr = snprintf((char *)in, 64, "{%zu}\r\n", n);
	len = (size_t)hdr;
	for (i = 0; i < n; i++)
		in[len + i] = (uint8_t)('A' + i % 26);
	len += n;
	memcpy(in + len, "END\r\n", 5);
	len += 5;

	hdr = snprintf(expect, 64, "L:{%zu}\\r\\n\nD:", n);
	for (i = 0; i < n; i++)
		expect[hdr + i] = (char)('A' + i % 26);
	strcpy(expect + hdr + n, "\nL:END\\r\\n\n");
	/* whole and in small chunks; every split of 20k is too slow here */
	{
		char *got = run_chunked(100, in, len, 0);

		assert_string_equal(got, expect);
		free(got);
		got = run_chunked(100, in, len, 1);
		assert_string_equal(got, expect);
		free(got);
		got = run_chunked(100, in, len, 1000);
		assert_string_equal(got, expect);
		free(got);
		for (i = 0; i <= len; i += 997) {
			got = run_split(100, in, len, i);
			assert_string_equal(got, expect);
			free(got);
		}
	}
	free(in);
	free(expect);
}

/* Exact reads hand out what is there, without waiting for all of it. */
static void
test_exact_bytes_chunks(void **state)
{
	struct linebuf lb;
	struct linebuf_event ev;
	uint8_t *p;
	size_t room;

	assert_int_equal(linebuf_init(&lb, 64), 0);
	linebuf_read_bytes(&lb, 10);
	p = linebuf_space(&lb, &room);
	memcpy(p, "abcd", 4);
	linebuf_commit(&lb, 4);
	linebuf_next(&lb, &ev);
	assert_int_equal(ev.type, LINEBUF_DATA);
	assert_int_equal(ev.len, 4);
	assert_memory_equal(ev.data, "abcd", 4);
	assert_false(ev.last);
	linebuf_next(&lb, &ev);
	assert_int_equal(ev.type, LINEBUF_NEED_MORE);

	p = linebuf_space(&lb, &room);
	memcpy(p, "efghijKL\n", 9);
	linebuf_commit(&lb, 9);
	linebuf_next(&lb, &ev);
	assert_int_equal(ev.type, LINEBUF_DATA);
	assert_int_equal(ev.len, 6);
	assert_memory_equal(ev.data, "efghij", 6);
	assert_true(ev.last);
	linebuf_next(&lb, &ev);
	assert_int_equal(ev.type, LINEBUF_LINE);
	assert_int_equal(ev.len, 2);
	assert_memory_equal(ev.data, "KL", 2);
	assert_false(ev.crlf);
	linebuf_deinit(&lb);
}

static void
put(struct linebuf *lb, const char *s)
{
	size_t room, n = strlen(s);
	uint8_t *p = linebuf_space(lb, &room);

	assert_true(room >= n);
	memcpy(p, s, n);
	linebuf_commit(lb, n);
}

static void
expect_line(struct linebuf *lb, const char *s)
{
	struct linebuf_event ev;

	linebuf_next(lb, &ev);
	assert_int_equal(ev.type, LINEBUF_LINE);
	assert_int_equal(ev.len, strlen(s));
	assert_memory_equal(ev.data, s, ev.len);
}

static void
expect_type(struct linebuf *lb, enum linebuf_event_type type)
{
	struct linebuf_event ev;

	linebuf_next(lb, &ev);
	assert_int_equal(ev.type, type);
}

static void
test_discard(void **state)
{
	struct linebuf lb;
	struct linebuf_event ev;

	/* CVE-2011-0411: a command pipelined behind STARTTLS must vanish */
	assert_int_equal(linebuf_init(&lb, 100), 0);
	put(&lb, "STARTTLS\r\nRCPT TO:<evil>\r\nQU");
	expect_line(&lb, "STARTTLS");
	assert_int_equal(linebuf_buffered(&lb), 18);
	linebuf_discard(&lb);
	assert_int_equal(linebuf_buffered(&lb), 0);
	expect_type(&lb, LINEBUF_NEED_MORE);
	put(&lb, "EHLO x\r\n");
	expect_line(&lb, "EHLO x");
	expect_type(&lb, LINEBUF_NEED_MORE);

	/* a partial line is dropped as well */
	put(&lb, "half");
	expect_type(&lb, LINEBUF_NEED_MORE);
	linebuf_discard(&lb);
	put(&lb, "y\n");
	expect_line(&lb, "y");
	put(&lb, "longer half");
	expect_type(&lb, LINEBUF_NEED_MORE);
	linebuf_discard(&lb);
	put(&lb, "whole\n");
	expect_line(&lb, "whole");
	linebuf_deinit(&lb);

	/* an exact read keeps wanting its count */
	assert_int_equal(linebuf_init(&lb, 100), 0);
	linebuf_read_bytes(&lb, 5);
	put(&lb, "abc");
	linebuf_next(&lb, &ev);
	assert_int_equal(ev.type, LINEBUF_DATA);
	assert_int_equal(ev.len, 3);
	put(&lb, "XY");
	linebuf_discard(&lb);
	put(&lb, "de\nok\n");
	linebuf_next(&lb, &ev);
	assert_int_equal(ev.type, LINEBUF_DATA);
	assert_int_equal(ev.len, 2);
	assert_memory_equal(ev.data, "de", 2);
	assert_true(ev.last);
	expect_line(&lb, "");
	expect_line(&lb, "ok");
	linebuf_deinit(&lb);

	/* and an over-long line is still skipped to its LF */
	assert_int_equal(linebuf_init(&lb, 4), 0);
	put(&lb, "aaaaaaaaaa");
	expect_type(&lb, LINEBUF_NEED_MORE);
	linebuf_discard(&lb);
	put(&lb, "b\nok\n");
	expect_type(&lb, LINEBUF_TOO_LONG);
	expect_line(&lb, "ok");
	expect_type(&lb, LINEBUF_NEED_MORE);
	linebuf_deinit(&lb);
}

static void
test_buffered_and_full(void **state)
{
	struct linebuf lb;
	size_t room, lines = 0;
	uint8_t *p;

	assert_int_equal(linebuf_init(&lb, 100), 0);
	put(&lb, "ab\ncd");
	assert_int_equal(linebuf_buffered(&lb), 5);
	expect_line(&lb, "ab");
	assert_int_equal(linebuf_buffered(&lb), 2);
	expect_type(&lb, LINEBUF_NEED_MORE);
	put(&lb, "\n");
	expect_line(&lb, "cd");
	assert_int_equal(linebuf_buffered(&lb), 0);

	/* undrained pipelined lines fill it: reading must stop, not grow */
	for (;;) {
		p = linebuf_space(&lb, &room);
		if (room == 0)
			break;
		*p = (lines++ % 2 == 0) ? 'x' : '\n';
		linebuf_commit(&lb, 1);
	}
	assert_int_equal(linebuf_buffered(&lb), lb.cap);
	expect_line(&lb, "x");
	p = linebuf_space(&lb, &room);
	assert_int_equal(room, 2);
	while (lines > 2) {
		expect_line(&lb, "x");
		lines -= 2;
	}
	expect_type(&lb, LINEBUF_NEED_MORE);
	p = linebuf_space(&lb, &room);
	assert_int_equal(room, lb.cap);
	linebuf_deinit(&lb);
}

static void
test_release(void **state)
{
	struct linebuf lb;
	uint8_t *p;
	size_t room;

	assert_int_equal(linebuf_init(&lb, 65536), 0);
	p = linebuf_space(&lb, &room);
	assert_non_null(p);
	/* small at first: an idle session must not pay for max_line */
	assert_true(room <= 1024);
	memcpy(p, "abc", 3);
	linebuf_commit(&lb, 3);
	linebuf_release(&lb);
	assert_non_null(lb.buf);	/* a partial line keeps its buffer */
	put(&lb, "\n");
	expect_line(&lb, "abc");
	linebuf_release(&lb);
	assert_null(lb.buf);
	assert_int_equal(lb.cap, 0);
	put(&lb, "def\n");
	expect_line(&lb, "def");
	linebuf_deinit(&lb);
}

static void
test_init_sizes(void **state)
{
	static const size_t sizes[] = { 0, 1, 998, 4093, 4094, 4095, 65536 };
	struct linebuf lb;
	size_t i;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		assert_int_equal(linebuf_init(&lb, sizes[i]), 0);
		assert_true(lb.max_cap >= 4096);
		assert_true(lb.max_cap > sizes[i] + 2);
		/* nothing is allocated until the first read */
		assert_null(lb.buf);
		assert_int_equal(linebuf_buffered(&lb), 0);
		expect_type(&lb, LINEBUF_NEED_MORE);
		linebuf_deinit(&lb);
		assert_null(lb.buf);
		linebuf_deinit(&lb);
	}
	assert_int_equal(linebuf_init(&lb, SIZE_MAX), -ENOMEM);
	assert_null(lb.buf);
	linebuf_deinit(&lb);
	assert_int_equal(linebuf_init(&lb, SIZE_MAX - 1024), -ENOMEM);
	linebuf_deinit(&lb);
}

/* A line as long as the buffer allows, dribbled in byte by byte. */
static void
test_max_line_fills_buffer(void **state)
{
	size_t max = 4094, i;
	uint8_t *in = malloc(max + 16);
	char *expect = malloc(max + 32);

	assert_non_null(in);
	assert_non_null(expect);
	memset(in, 'q', max);
	memcpy(in + max, "\r\n", 2);
	strcpy(expect, "L:");
	memset(expect + 2, 'q', max);
	strcpy(expect + 2 + max, "\\r\\n\n");
	for (i = 1; i <= 3; i++) {
		char *got = run_chunked(max, in, max + 2, i);

		assert_string_equal(got, expect);
		free(got);
	}
	/* one more byte and it is refused */
	memset(in, 'q', max + 1);
	memcpy(in + max + 1, "\r\n", 2);
	{
		char *got = run_chunked(max, in, max + 3, 1);

		assert_string_equal(got, "TOO_LONG\\r\\n\n");
		free(got);
		got = run_chunked(max, in, max + 3, 0);
		assert_string_equal(got, "TOO_LONG\\r\\n\n");
		free(got);
	}
	free(in);
	free(expect);
}

/* Random input over a small alphabet: every split gives the same events. */
static void
test_random_splits(void **state)
{
	static const char alphabet[] = "ab\r\n\n{}1234";
	uint8_t in[160];
	unsigned seed = 12345, round;
	size_t i;

	for (round = 0; round < 60; round++) {
		char *expect;

		for (i = 0; i < sizeof(in); i++) {
			seed = seed * 1103515245u + 12345u;
			in[i] = (uint8_t)alphabet[(seed >> 16) %
			    (sizeof(alphabet) - 1)];
		}
		expect = run_chunked(8, in, sizeof(in), 0);
		check_events(8, in, sizeof(in), expect);
		free(expect);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_empty_lines),
		cmocka_unit_test(test_cr_inside_line),
		cmocka_unit_test(test_max_line_boundary),
		cmocka_unit_test(test_too_long_then_normal),
		cmocka_unit_test(test_exact_bytes),
		cmocka_unit_test(test_exact_bytes_larger_than_buffer),
		cmocka_unit_test(test_exact_bytes_chunks),
		cmocka_unit_test(test_discard),
		cmocka_unit_test(test_buffered_and_full),
		cmocka_unit_test(test_init_sizes),
		cmocka_unit_test(test_release),
		cmocka_unit_test(test_max_line_fills_buffer),
		cmocka_unit_test(test_random_splits),
	};

	return cmocka_run_group_tests_name("linebuf", tests, NULL, NULL);
}
