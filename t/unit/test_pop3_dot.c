/* test_pop3_dot.c: RETR/TOP response encoder: dot-stuffing, CRLF, TOP lines */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pop3_dot.h"

struct out {
	uint8_t *data;
	size_t len, cap;
	size_t used;		/* input taken in all */
};

static void
out_init(struct out *o, size_t in_len)
{
	o->cap = POP3_DOT_OUT_MAX(in_len) + POP3_DOT_FINISH_MAX + 1;
	o->data = malloc(o->cap);
	assert_non_null(o->data);
	o->len = 0;
	o->used = 0;
}

/* Feeds one chunk from an exact-size heap copy (ASan sees overreads). */
static void
feed(struct pop3_dot *d, struct out *o, const char *in, size_t len)
{
	uint8_t *p = malloc(len > 0 ? len : 1);
	size_t used, n;

	assert_non_null(p);
	memcpy(p, in, len);
	n = pop3_dot_feed(d, p, len, o->data + o->len, &used);
	assert_true(n <= POP3_DOT_OUT_MAX(len));
	assert_true(used <= len);
	if (used < len)
		assert_true(pop3_dot_done(d));
	o->len += n;
	o->used += used;
	free(p);
}

static void
finish(struct pop3_dot *d, struct out *o)
{
	size_t n = pop3_dot_finish(d, o->data + o->len);

	assert_true(n <= POP3_DOT_FINISH_MAX);
	o->len += n;
}

static void
expect(const struct out *o, const char *want, const char *how)
{
	size_t wlen = strlen(want);

	if (o->len != wlen || memcmp(o->data, want, wlen) != 0)
		fail_msg("%s: got %zu bytes \"%.*s\", want \"%s\"", how,
		    o->len, (int)o->len, (const char *)o->data, want);
}

/*
 * Encodes in whole, byte by byte, and split in two at every offset and in
 * three at every pair of offsets; each must produce want exactly.
 */
static void
check(bool top, uint32_t lines, const char *in, const char *want)
{
	size_t len = strlen(in), i, j;
	struct pop3_dot d;
	struct out o;

	out_init(&o, len);
	pop3_dot_init(&d, top, lines);
	feed(&d, &o, in, len);
	finish(&d, &o);
	expect(&o, want, "whole");

	o.len = 0;
	pop3_dot_init(&d, top, lines);
	for (i = 0; i < len; i++)
		feed(&d, &o, in + i, 1);
	finish(&d, &o);
	expect(&o, want, "byte by byte");

	for (i = 0; i <= len; i++) {
		o.len = 0;
		pop3_dot_init(&d, top, lines);
		feed(&d, &o, in, i);
		feed(&d, &o, in + i, len - i);
		finish(&d, &o);
		expect(&o, want, "split in two");
		for (j = i; j <= len && len <= 64; j++) {
			o.len = 0;
			pop3_dot_init(&d, top, lines);
			feed(&d, &o, in, i);
			feed(&d, &o, in + i, j - i);
			feed(&d, &o, in + j, len - j);
			finish(&d, &o);
			expect(&o, want, "split in three");
		}
	}
	free(o.data);
}

static void
retr(const char *in, const char *want)
{
	check(false, 0, in, want);
}

static void
test_retr_plain(void **state)
{
	(void)state;
	retr("", ".\r\n");
	retr("Subject: a\r\n\r\nbody\r\n", "Subject: a\r\n\r\nbody\r\n.\r\n");
	retr("a\r\nb\r\n", "a\r\nb\r\n.\r\n");
}

static void
test_dot_stuffing(void **state)
{
	(void)state;
	retr(".\r\n", "..\r\n.\r\n");
	retr("a\r\n.\r\nb\r\n", "a\r\n..\r\nb\r\n.\r\n");
	retr("..x\r\n", "...x\r\n.\r\n");
	retr("a.b\r\n.c\r\n", "a.b\r\n..c\r\n.\r\n");
	retr("x\r\n.", "x\r\n..\r\n.\r\n");
	retr(".", "..\r\n.\r\n");
	/* only at the start of a line */
	retr(" .\r\n", " .\r\n.\r\n");
	retr("\r.\r\n", "\r.\r\n.\r\n");
}

static void
test_bare_lf(void **state)
{
	(void)state;
	retr("a\nb\n", "a\r\nb\r\n.\r\n");
	retr("a\n.\n", "a\r\n..\r\n.\r\n");
	retr("\n\n", "\r\n\r\n.\r\n");
	retr("a\r\nb\nc\r\n", "a\r\nb\r\nc\r\n.\r\n");
	/* a lone CR is left alone */
	retr("a\rb\r\n", "a\rb\r\n.\r\n");
	/* an unterminated last line is terminated */
	retr("abc", "abc\r\n.\r\n");
	retr("abc\r", "abc\r\n.\r\n");
}

static void
top(uint32_t n, const char *in, const char *want)
{
	check(true, n, in, want);
}

static void
test_top(void **state)
{
	static const char msg[] =
	    "From: a\r\nSubject: b\r\n\r\nline1\r\n.line2\r\nline3\r\n";

	(void)state;
	top(0, msg, "From: a\r\nSubject: b\r\n\r\n.\r\n");
	top(1, msg, "From: a\r\nSubject: b\r\n\r\nline1\r\n.\r\n");
	top(2, msg, "From: a\r\nSubject: b\r\n\r\nline1\r\n..line2\r\n.\r\n");
	top(3, msg, "From: a\r\nSubject: b\r\n\r\nline1\r\n..line2\r\n"
	    "line3\r\n.\r\n");
	top(100, msg, "From: a\r\nSubject: b\r\n\r\nline1\r\n..line2\r\n"
	    "line3\r\n.\r\n");
	top(UINT32_MAX, msg, "From: a\r\nSubject: b\r\n\r\nline1\r\n"
	    "..line2\r\nline3\r\n.\r\n");
	/* bare LF header and body */
	top(1, "A: b\n\nx\ny\n", "A: b\r\n\r\nx\r\n.\r\n");
	/* no body at all; no empty line at all */
	top(0, "A: b\r\n\r\n", "A: b\r\n\r\n.\r\n");
	top(5, "A: b\r\n", "A: b\r\n.\r\n");
	top(0, "A: b", "A: b\r\n.\r\n");
	/* the empty line is found across CRs */
	top(0, "A: b\r\n\r\nbody\r\n", "A: b\r\n\r\n.\r\n");
	/* an unterminated last body line */
	top(2, "A: b\r\n\r\nx\r\ny", "A: b\r\n\r\nx\r\ny\r\n.\r\n");
	/* empty message */
	top(3, "", ".\r\n");
	/* the header's empty line may be the first line */
	top(1, "\r\nbody1\r\nbody2\r\n", "\r\nbody1\r\n.\r\n");
}

static void
test_top_stops_reading(void **state)
{
	static const char msg[] = "H: 1\r\n\r\nb1\r\nb2\r\nb3\r\n";
	struct pop3_dot d;
	struct out o;

	(void)state;
	out_init(&o, sizeof(msg));
	pop3_dot_init(&d, true, 1);
	assert_false(pop3_dot_done(&d));
	feed(&d, &o, msg, strlen(msg));
	assert_true(pop3_dot_done(&d));
	/* consumed up to and including the LF of b1 */
	assert_int_equal(o.used, strlen("H: 1\r\n\r\nb1\r\n"));
	feed(&d, &o, "more\r\n", 6);
	assert_int_equal(o.used, strlen("H: 1\r\n\r\nb1\r\n"));
	finish(&d, &o);
	expect(&o, "H: 1\r\n\r\nb1\r\n.\r\n", "stop");
	free(o.data);
}

/* Worst case growth: every byte doubles. */
static void
test_worst_case(void **state)
{
	enum { N = 4096 };
	char *in = malloc(N + 1);
	struct pop3_dot d;
	struct out o;
	size_t i;

	(void)state;
	assert_non_null(in);
	for (i = 0; i < N; i += 2) {
		in[i] = '.';
		in[i + 1] = '\n';
	}
	in[N] = '\0';
	out_init(&o, N);
	pop3_dot_init(&d, false, 0);
	feed(&d, &o, in, N);
	assert_int_equal(o.len, POP3_DOT_OUT_MAX(N));
	finish(&d, &o);
	assert_int_equal(o.len, POP3_DOT_OUT_MAX(N) + 3);
	free(o.data);
	free(in);
}

/*
 * A byte-at-a-time reference of RFC 1939 3 written for this test: it
 * knows the whole message, so it needs no state across chunks.
 */
static size_t
reference(const uint8_t *in, size_t len, bool top, uint32_t lines,
    uint8_t *out)
{
	size_t i, o = 0, line = 0;
	bool body = false;

	for (i = 0; i < len; i++) {
		bool start = i == 0 || in[i - 1] == '\n';

		if (start && in[i] == '.')
			out[o++] = '.';
		if (in[i] == '\n') {
			if (i == 0 || in[i - 1] != '\r')
				out[o++] = '\r';
			out[o++] = '\n';
			if (!body) {
				size_t k;
				bool empty = true;

				for (k = line; k < i; k++)
					if (in[k] != '\r')
						empty = false;
				if (empty) {
					body = true;
					if (top && lines == 0)
						break;
				}
			} else if (top && --lines == 0) {
				break;
			}
			line = i + 1;
			continue;
		}
		out[o++] = in[i];
	}
	if (o > 0 && out[o - 1] != '\n') {
		if (out[o - 1] != '\r')
			out[o++] = '\r';
		out[o++] = '\n';
	}
	memcpy(out + o, ".\r\n", 3);
	return o + 3;
}

/* Random messages over a small alphabet, fed in random chunks. */
static void
test_random_vs_reference(void **state)
{
	static const uint8_t alpha[] = { 'a', '.', '\r', '\n', '\n', 'b' };
	uint8_t in[300], want[2 * 300 + 8], got[2 * 300 + 8];
	unsigned seed = 12345, round;

	(void)state;
	for (round = 0; round < 20000; round++) {
		size_t len, i, wlen, glen = 0, off = 0;
		bool top;
		uint32_t lines;
		struct pop3_dot d;

		seed = seed * 1103515245u + 12345u;
		len = (seed >> 8) % sizeof(in);
		for (i = 0; i < len; i++) {
			seed = seed * 1103515245u + 12345u;
			in[i] = alpha[(seed >> 16) % sizeof(alpha)];
		}
		top = (seed >> 5) & 1;
		lines = (seed >> 12) % 6;
		wlen = reference(in, len, top, lines, want);
		pop3_dot_init(&d, top, lines);
		while (off < len) {
			size_t n, used;

			seed = seed * 1103515245u + 12345u;
			n = 1 + (seed >> 10) % 40;
			if (n > len - off)
				n = len - off;
			glen += pop3_dot_feed(&d, in + off, n, got + glen,
			    &used);
			off += n;
		}
		glen += pop3_dot_finish(&d, got + glen);
		if (glen != wlen || memcmp(got, want, wlen) != 0)
			fail_msg("round %u (len %zu, top %d, lines %u) differs",
			    round, len, top, (unsigned)lines);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_retr_plain),
		cmocka_unit_test(test_dot_stuffing),
		cmocka_unit_test(test_bare_lf),
		cmocka_unit_test(test_top),
		cmocka_unit_test(test_top_stops_reading),
		cmocka_unit_test(test_worst_case),
		cmocka_unit_test(test_random_vs_reference),
	};

	return cmocka_run_group_tests_name("pop3_dot", tests, NULL, NULL);
}
