/* test_mime.c: MIME parser over the corpus (whole, byte by byte, every split) and its limits */
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
#include "mime.h"

/*
 * Each t/unit/data/mime/NAME.eml has NAME.exp beside it: the exact
 * ENVELOPE, BODYSTRUCTURE and BODY strings and one line per part, written
 * with "<CRLF>" for the CR LF inside IMAP literals.  The expectations
 * were checked by hand against RFC 3501 7.4.2 and against Dovecot 2.3's
 * FETCH output; where we differ on purpose, the .exp says so in a
 * comment line ("# ...").  `test_mime --dump FILE` prints the format.
 */

#ifndef MIME_CORPUS_DIR
#define MIME_CORPUS_DIR "t/unit/data/mime"
#endif

#define MAX_FILE (1 << 20)

struct blob {
	uint8_t *data;
	size_t len;
};

static struct blob
read_file(const char *path)
{
	struct blob b = { NULL, 0 };
	FILE *f = fopen(path, "rb");

	if (f == NULL)
		return b;
	b.data = malloc(MAX_FILE);
	if (b.data != NULL)
		b.len = fread(b.data, 1, MAX_FILE, f);
	fclose(f);
	return b;
}

/* The summary as text, in the .exp format. */
static char *
summary_text(const struct mime_summary *s)
{
	char *out = NULL;
	size_t len = 0, i;
	FILE *f = open_memstream(&out, &len);

	assert_non_null(f);
	fprintf(f, "envelope %s\nbodystructure %s\nbody %s\n",
	    s->envelope, s->bodystructure, s->body);
	fprintf(f, "size %llu lines %u\n", (unsigned long long)s->size,
	    s->lines);
	for (i = 0; i < s->n_parts; i++) {
		const struct mime_part *p = &s->parts[i];

		fprintf(f, "part %s %llu+%llu %llu+%llu lines=%u msghdr=%llu "
		    "depth=%u %s/%s%s%s charset=%s enc=%s\n",
		    p->section[0] != '\0' ? p->section : "-",
		    (unsigned long long)p->header_off,
		    (unsigned long long)p->header_len,
		    (unsigned long long)p->body_off,
		    (unsigned long long)p->body_len, p->body_lines,
		    (unsigned long long)p->message_header_len, p->depth,
		    p->type, p->subtype, p->is_multipart ? " multipart" : "",
		    p->is_message_rfc822 ? " rfc822" : "",
		    p->charset != NULL ? p->charset : "-", p->encoding);
	}
	fclose(f);
	/* literals carry CR LF; make them visible and line-safe */
	{
		char *o = malloc(len * 6 + 1), *q = o;

		assert_non_null(o);
		for (i = 0; i < len; i++) {
			if (out[i] == '\r' && out[i + 1] == '\n') {
				q += sprintf(q, "<CRLF>");
				i++;
			} else {
				*q++ = out[i];
			}
		}
		*q = '\0';
		free(out);
		return o;
	}
}

/* Every range lies in the message, and each part inside its parent's
   body: what the IMAP layer relies on when it serves sections. */
static void
check_invariants(const struct mime_summary *s)
{
	size_t i, j;

	assert_true(s->n_parts >= 1);
	assert_string_equal(s->parts[0].section, "");
	assert_int_equal(s->parts[0].header_off, 0);
	assert_int_equal(s->parts[0].body_off + s->parts[0].body_len, s->size);
	for (i = 0; i < s->n_parts; i++) {
		const struct mime_part *p = &s->parts[i], *q;
		const char *dot = strrchr(p->section, '.');
		char parent[64];

		assert_int_equal(p->header_off + p->header_len, p->body_off);
		assert_true(p->body_off + p->body_len <= s->size);
		assert_true(p->message_header_len <= p->body_len);
		assert_true(p->is_message_rfc822 || p->message_header_len == 0);
		if (i == 0)
			continue;
		snprintf(parent, sizeof(parent), "%.*s",
		    dot != NULL ? (int)(dot - p->section) : 0, p->section);
		for (j = 0; j < i; j++) {
			if (strcmp(s->parts[j].section, parent) == 0)
				break;
		}
		assert_true(j < i);
		q = &s->parts[j];
		if (q->is_multipart) {
			assert_true(p->header_off >= q->body_off);
		} else if (j == 0) {
			/* "1" of a single-part message is that message */
			assert_int_equal(p->header_off, q->header_off);
			assert_int_equal(p->body_off, q->body_off);
		} else {
			/* inside message/rfc822 S: the attached message's
			   own body (S.1) or the parts of its multipart */
			assert_true(q->is_message_rfc822);
			assert_true(p->header_off >= q->body_off);
		}
		assert_true(p->body_off + p->body_len <=
		    q->body_off + q->body_len);
	}
}

/* The cache form decodes to the same summary; every truncation of it
   and a flipped magic are refused cleanly. */
static void
check_cache_roundtrip(struct arena *a, const struct mime_summary *s,
    const char *text)
{
	struct mime_summary *d;
	uint8_t *buf, *copy;
	size_t len, cut;
	char *t;

	assert_int_equal(mime_summary_encode(a, s, &buf, &len), 0);
	assert_int_equal(mime_summary_decode(a, buf, len, &d), 0);
	t = summary_text(d);
	assert_string_equal(t, text);
	free(t);
	for (cut = 0; cut < len; cut++) {
		/* a copy of exactly cut bytes, so ASan sees any overread */
		copy = malloc(cut + 1);
		assert_non_null(copy);
		memcpy(copy, buf, cut);
		assert_int_equal(mime_summary_decode(a, copy, cut, &d),
		    -EINVAL);
		free(copy);
	}
	/* part 0's header_len, so that body_off no longer follows it */
	cut = 4 + 8 + 4 + 4 + 4 + strlen(s->envelope) + 4 +
	    strlen(s->bodystructure) + 4 + strlen(s->body) + 4 + 8;
	buf[cut] ^= 1;
	assert_int_equal(mime_summary_decode(a, buf, len, &d), -EINVAL);
	buf[cut] ^= 1;
	buf[0] ^= 1;
	assert_int_equal(mime_summary_decode(a, buf, len, &d), -EINVAL);
}

/* feeds data in chunks of `step` bytes, or split once at `split` */
static char *
parse_text(const uint8_t *data, size_t len, size_t step, size_t split,
    const struct mime_limits *lim)
{
	struct arena *a = arena_new(4096, 0);
	struct mime_parser *p;
	struct mime_summary *s;
	char *t;
	size_t off;

	assert_non_null(a);
	p = mime_parser_new(a, lim);
	assert_non_null(p);
	if (step > 0) {
		for (off = 0; off < len; off += step) {
			size_t n = len - off < step ? len - off : step;

			assert_int_equal(mime_parser_feed(p, data + off, n), 0);
		}
	} else {
		assert_int_equal(mime_parser_feed(p, data, split), 0);
		/* an empty feed in the middle must change nothing */
		assert_int_equal(mime_parser_feed(p, data + split, 0), 0);
		assert_int_equal(mime_parser_feed(p, data + split,
		    len - split), 0);
	}
	assert_int_equal(mime_parser_finish(p, &s), 0);
	check_invariants(s);
	t = summary_text(s);
	if (step == len)
		check_cache_roundtrip(a, s, t);
	arena_free(&a);
	return t;
}

/* The .exp file without its comment lines. */
static char *
expected_text(const char *path)
{
	struct blob b = read_file(path);
	char *o, *q;
	size_t i = 0;

	if (b.data == NULL) {
		fail_msg("cannot read %s", path);
		return NULL;
	}
	o = q = malloc(b.len + 1);
	assert_non_null(o);
	while (i < b.len) {
		size_t e = i;

		while (e < b.len && b.data[e] != '\n')
			e++;
		if (b.data[i] != '#') {
			memcpy(q, b.data + i, e - i);
			q += e - i;
			*q++ = '\n';
		}
		i = e + 1;
	}
	*q = '\0';
	free(b.data);
	return o;
}

static void
assert_same_text(const char *what, const char *got, const char *want)
{
	if (strcmp(got, want) != 0) {
		print_error("%s differs\n--- got:\n%s--- want:\n%s", what,
		    got, want);
		fail();
	}
}

static void
check_corpus_file(void **state)
{
	const char *name = *state;
	char path[512], *want, *whole, *t;
	struct blob b;
	size_t split, step;

	snprintf(path, sizeof(path), "%s/%s.eml", MIME_CORPUS_DIR, name);
	b = read_file(path);
	assert_non_null(b.data);
	snprintf(path, sizeof(path), "%s/%s.exp", MIME_CORPUS_DIR, name);
	want = expected_text(path);

	whole = parse_text(b.data, b.len, b.len == 0 ? 1 : b.len, 0, NULL);
	assert_same_text("whole message", whole, want);

	/* STYLE 9: byte by byte, small chunks, and split at every offset */
	for (step = 1; step <= 7; step += 3) {
		t = parse_text(b.data, b.len, step, 0, NULL);
		assert_same_text("chunked", t, whole);
		free(t);
	}
	for (split = 0; split <= b.len; split++) {
		t = parse_text(b.data, b.len, 0, split, NULL);
		if (strcmp(t, whole) != 0)
			print_error("split at %zu\n", split);
		assert_same_text("split", t, whole);
		free(t);
	}
	free(whole);
	free(want);
	free(b.data);
}

static const char *const corpus[] = {
	"01-plain", "02-alternative", "03-mixed-attachments",
	"04-nested-rfc822", "05-rfc2231", "06-encoded-words", "07-groups",
	"08-lf-only", "09-truncated", "10-no-blank-line",
	"11-multipart-no-boundary", "12-digest", "13-nul-8bit",
	"14-rfc822-top", "15-prefix-boundaries", "16-empty-parts",
	"17-report", "18-broken-headers", "19-signed", "20-headers-only",
	"21-eof-delimiter", "22-blank-line-before-delimiter",
};

/* ---- programmatic cases ---- */

static struct mime_summary *
parse_str(struct arena *a, const char *msg, const struct mime_limits *lim)
{
	struct mime_summary *s = NULL;

	assert_int_equal(mime_parse_buffer(a, lim, (const uint8_t *)msg,
	    strlen(msg), &s), 0);
	return s;
}

static void
test_quoting(void **state)
{
	struct arena *a = arena_new(4096, 0);
	struct mime_summary *s;

	(void)state;
	s = parse_str(a, "Subject: a \"quoted\" back\\slash\r\n"
	    "Message-ID:\r\n\r\n", NULL);
	/* RFC 3501 quoted: \ and " escaped; an empty field is "", not NIL */
	assert_string_equal(s->envelope, "(NIL \"a \\\"quoted\\\" "
	    "back\\\\slash\" NIL NIL NIL NIL NIL NIL NIL \"\")");
	arena_free(&a);
}

static void
test_find(void **state)
{
	struct arena *a = arena_new(4096, 0);
	struct mime_summary *s;
	const struct mime_part *p;

	(void)state;
	s = parse_str(a, "Content-Type: multipart/mixed; boundary=x\r\n\r\n"
	    "--x\r\nContent-Type: message/rfc822\r\n\r\n"
	    "Subject: in\r\n\r\nhi\r\n--x--\r\n", NULL);
	assert_int_equal(s->n_parts, 3);
	p = mime_summary_find(s, "");
	assert_ptr_equal(p, &s->parts[0]);
	assert_true(p->is_multipart);
	p = mime_summary_find(s, "1");
	assert_non_null(p);
	assert_true(p->is_message_rfc822);
	/* BODY[1.HEADER] is "Subject: in\r\n\r\n" */
	assert_int_equal(p->message_header_len, 15);
	assert_int_equal(p->body_len, 17);
	p = mime_summary_find(s, "1.1");
	assert_non_null(p);
	assert_int_equal(p->body_len, 2);
	assert_string_equal(p->type, "text");
	assert_null(mime_summary_find(s, "2"));
	assert_null(mime_summary_find(s, "1.2"));
	arena_free(&a);
}

/* A 300 KiB header field is dropped; memory stays near the limit. */
static void
test_huge_header(void **state)
{
	struct mime_limits lim = { 20, 1000, 4096 };
	struct arena *a = arena_new(4096, 64 * 1024);
	struct mime_parser *p;
	struct mime_summary *s;
	uint8_t chunk[1000];
	size_t i;
	static const char tail[] = "\r\nFrom: x@y\r\n"
	    "Content-Type: text/html\r\n\r\nbody\r\n";

	(void)state;
	p = mime_parser_new(a, &lim);
	assert_non_null(p);
	assert_int_equal(mime_parser_feed(p, (const uint8_t *)"Subject: ", 9),
	    0);
	memset(chunk, 'x', sizeof(chunk));
	for (i = 0; i < 300; i++)
		assert_int_equal(mime_parser_feed(p, chunk, sizeof(chunk)), 0);
	assert_int_equal(mime_parser_feed(p, (const uint8_t *)tail,
	    strlen(tail)), 0);
	assert_int_equal(mime_parser_finish(p, &s), 0);
	/* the subject blew the block's budget, so fields after it too */
	assert_string_equal(s->envelope,
	    "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
	assert_string_equal(s->body,
	    "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" "
	    "6 1)");
	assert_true(arena_used(a) <= 64 * 1024);
	arena_free(&a);

	/* default limits: a 300 KiB Subject costs about 2 x 256 KiB */
	a = arena_new(4096, 0);
	p = mime_parser_new(a, NULL);
	assert_non_null(p);
	assert_int_equal(mime_parser_feed(p, (const uint8_t *)"Subject: ", 9),
	    0);
	for (i = 0; i < 300; i++)
		assert_int_equal(mime_parser_feed(p, chunk, sizeof(chunk)), 0);
	assert_int_equal(mime_parser_feed(p, (const uint8_t *)tail,
	    strlen(tail)), 0);
	assert_int_equal(mime_parser_finish(p, &s), 0);
	assert_null(strstr(s->envelope, "xxx"));
	assert_true(arena_used(a) <= 600 * 1024);
	arena_free(&a);
}

/* Bodies are never held: 20 MB through a multipart keeps memory flat. */
static void
test_big_body_flat(void **state)
{
	struct arena *a = arena_new(4096, 0);
	struct mime_parser *p;
	struct mime_summary *s;
	static uint8_t chunk[64 * 1024];
	static const char head[] = "Content-Type: multipart/mixed; "
	    "boundary=zz\r\n\r\n--zz\r\nContent-Type: text/plain\r\n\r\n";
	static const char end[] = "\r\n--zz--\r\n";
	size_t i, used;

	(void)state;
	p = mime_parser_new(a, NULL);
	assert_non_null(p);
	assert_int_equal(mime_parser_feed(p, (const uint8_t *)head,
	    strlen(head)), 0);
	used = arena_used(a);
	for (i = 0; i < sizeof(chunk); i++)
		chunk[i] = i % 61 == 60 ? '\n' : (uint8_t)('-' + i % 3);
	for (i = 0; i < 320; i++)
		assert_int_equal(mime_parser_feed(p, chunk, sizeof(chunk)), 0);
	assert_int_equal(arena_used(a), used);
	assert_int_equal(mime_parser_feed(p, (const uint8_t *)end,
	    strlen(end)), 0);
	assert_int_equal(mime_parser_finish(p, &s), 0);
	assert_int_equal(s->n_parts, 2);
	assert_int_equal(s->parts[1].body_len, 320 * sizeof(chunk));
	assert_int_equal(s->parts[1].body_lines, 320 * (sizeof(chunk) / 61));
	arena_free(&a);
}

static char *
nested_message(int depth)
{
	char *m = malloc((size_t)depth * 120 + 200), *q = m;
	int i;

	assert_non_null(m);
	for (i = 0; i < depth; i++)
		q += sprintf(q, "Content-Type: multipart/mixed; boundary=\"b%d.\""
		    "\r\n\r\n--b%d.\r\n", i, i);
	q += sprintf(q, "\r\ndeep\r\n");
	for (i = depth - 1; i >= 0; i--)
		q += sprintf(q, "--b%d.--\r\n", i);
	return m;
}

static void
test_depth_limit(void **state)
{
	struct mime_limits lim = { 5, 1000, 4096 };
	struct arena *a = arena_new(4096, 0);
	struct mime_summary *s;
	char *m = nested_message(30);

	(void)state;
	s = parse_str(a, m, &lim);
	/* depths 0..4 split; the multipart at depth 5 is shown as text */
	assert_int_equal(s->n_parts, 6);
	assert_string_equal(s->parts[5].section, "1.1.1.1.1");
	assert_false(s->parts[5].is_multipart);
	assert_string_equal(s->parts[5].type, "text");
	assert_non_null(strstr(s->bodystructure, "((((((\"text\" \"plain\""));
	free(m);
	/* the default limit handles 30 levels of nesting too */
	m = nested_message(30);
	s = parse_str(a, m, NULL);
	assert_int_equal(s->n_parts, 21);
	free(m);
	arena_free(&a);
}

static void
test_parts_limit(void **state)
{
	struct mime_limits lim = { 20, 10, 4096 };
	struct arena *a = arena_new(4096, 0);
	struct mime_summary *s;
	char *m = malloc(100 * 40 + 100), *q = m;
	int i;

	(void)state;
	assert_non_null(m);
	q += sprintf(q, "Content-Type: multipart/mixed; boundary=p\r\n\r\n");
	for (i = 0; i < 100; i++)
		q += sprintf(q, "--p\r\n\r\npart %d\r\n", i);
	sprintf(q, "--p--\r\n");
	s = parse_str(a, m, &lim);
	/* the root and 9 parts; the others stay in the multipart's body */
	assert_int_equal(s->n_parts, 10);
	assert_string_equal(s->parts[9].section, "9");
	assert_int_equal(s->parts[9].body_len, 6);
	assert_int_equal(s->parts[0].body_len, strlen(m) -
	    s->parts[0].header_len);
	free(m);
	arena_free(&a);
}

/* Out of arena memory is a clean -ENOMEM, sticky, at any point. */
static void
test_enomem(void **state)
{
	struct blob b;
	char path[512];
	size_t limit;
	int ok = 0, failed = 0;

	(void)state;
	snprintf(path, sizeof(path), "%s/04-nested-rfc822.eml",
	    MIME_CORPUS_DIR);
	b = read_file(path);
	assert_non_null(b.data);
	for (limit = 256; limit <= 64 * 1024; limit += 256) {
		struct arena *a = arena_new(256, limit);
		struct mime_parser *p = mime_parser_new(a, NULL);
		struct mime_summary *s;
		int r;

		if (p == NULL) {
			arena_free(&a);
			failed++;
			continue;
		}
		r = mime_parser_feed(p, b.data, b.len);
		if (r == 0)
			r = mime_parser_finish(p, &s);
		if (r == 0) {
			ok++;
		} else {
			assert_int_equal(r, -ENOMEM);
			assert_int_equal(mime_parser_feed(p, b.data, 1),
			    -ENOMEM);
			assert_int_equal(mime_parser_finish(p, &s), -ENOMEM);
			failed++;
		}
		arena_free(&a);
	}
	assert_true(ok > 0);
	assert_true(failed > 0);
	free(b.data);
}

static void
test_call_order(void **state)
{
	struct arena *a = arena_new(4096, 0);
	struct mime_parser *p = mime_parser_new(a, NULL);
	struct mime_summary *s;

	(void)state;
	assert_int_equal(mime_parser_finish(p, &s), 0);
	assert_int_equal(s->size, 0);
	assert_string_equal(s->body, "(\"text\" \"plain\" (\"charset\" "
	    "\"us-ascii\") NIL NIL \"7bit\" 0 0)");
	assert_int_equal(mime_parser_feed(p, (const uint8_t *)"x", 1),
	    -EINVAL);
	assert_int_equal(mime_parser_finish(p, &s), -EINVAL);
	arena_free(&a);
}

/* Lines that look like delimiters but are not, longer than lbuf. */
static void
test_near_boundaries(void **state)
{
	struct arena *a = arena_new(4096, 0);
	struct mime_summary *s;
	char *m = malloc(4096), *q = m;
	int i;

	(void)state;
	assert_non_null(m);
	q += sprintf(q, "Content-Type: multipart/mixed; boundary=\"=_b\"\r\n"
	    "\r\n--=_b\r\n\r\n-- \r\n---\r\n-\r\n--=\r\n--=_\r\n-");
	for (i = 0; i < 300; i++)
		*q++ = '-';
	q += sprintf(q, "\r\n--=_b--");
	s = parse_str(a, m, NULL);
	assert_int_equal(s->n_parts, 2);
	/* everything up to the CRLF before the close delimiter */
	assert_int_equal(s->parts[1].body_len, 5 + 5 + 3 + 5 + 6 + 301);
	assert_int_equal(s->parts[1].body_lines, 5);
	free(m);
	arena_free(&a);
}

static int
dump(const char *path)
{
	struct blob b = read_file(path);
	char *t;

	if (b.data == NULL) {
		perror(path);
		return 1;
	}
	t = parse_text(b.data, b.len, b.len == 0 ? 1 : b.len, 0, NULL);
	fputs(t, stdout);
	free(t);
	free(b.data);
	return 0;
}

int
main(int argc, char **argv)
{
	struct CMUnitTest tests[sizeof(corpus) / sizeof(corpus[0]) + 16];
	size_t i, n = 0;

	if (argc == 3 && strcmp(argv[1], "--dump") == 0)
		return dump(argv[2]);
	for (i = 0; i < sizeof(corpus) / sizeof(corpus[0]); i++) {
		struct CMUnitTest t = { corpus[i], check_corpus_file, NULL,
		    NULL, (void *)corpus[i] };

		tests[n++] = t;
	}
#define ADD(fn) do { \
		struct CMUnitTest t = { #fn, fn, NULL, NULL, NULL }; \
		tests[n++] = t; \
	} while (0)
	ADD(test_quoting);
	ADD(test_find);
	ADD(test_huge_header);
	ADD(test_big_body_flat);
	ADD(test_depth_limit);
	ADD(test_parts_limit);
	ADD(test_enomem);
	ADD(test_call_order);
	ADD(test_near_boundaries);
	return _cmocka_run_group_tests("mime", tests, n, NULL, NULL);
}
