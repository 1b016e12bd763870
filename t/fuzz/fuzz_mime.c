/* fuzz_mime.c: libFuzzer target for the MIME parser (fuzz_main.c runs it over the seeds) */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "mime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * The first byte picks a chunk size, so one input is also fed in pieces
 * split at awkward places; the summary must then be byte-identical to
 * the one-piece parse.  Small limits are used so the fuzzer reaches the
 * depth, part and header-budget paths with short inputs.
 */
static int
parse(const uint8_t *data, size_t size, size_t step, struct arena *a,
    struct mime_summary **s_r)
{
	struct mime_limits lim = { 8, 64, 2048 };
	struct mime_parser *p = mime_parser_new(a, &lim);
	size_t off;
	int r = 0;

	if (p == NULL)
		return -ENOMEM;
	for (off = 0; off < size && r == 0; off += step) {
		size_t n = size - off < step ? size - off : step;

		r = mime_parser_feed(p, data + off, n);
	}
	if (r == 0)
		r = mime_parser_finish(p, s_r);
	return r;
}

/* A part lies inside its parent's body, or is that single-part
   message's body itself. */
static void
check_parent(const struct mime_summary *x, size_t i)
{
	const struct mime_part *c = &x->parts[i], *p;
	const char *dot = strrchr(c->section, '.');
	size_t plen = dot != NULL ? (size_t)(dot - c->section) : 0, j;

	for (j = 0; j < i; j++) {
		p = &x->parts[j];
		if (strlen(p->section) == plen &&
		    strncmp(p->section, c->section, plen) == 0)
			break;
	}
	if (j == i)
		abort();
	p = &x->parts[j];
	if (j == 0 && !p->is_multipart) {
		if (c->header_off != p->header_off || c->body_off != p->body_off)
			abort();
	} else if (c->header_off < p->body_off) {
		abort();
	}
	if (c->body_off + c->body_len > p->body_off + p->body_len)
		abort();
}

static void
check_same(const struct mime_summary *x, const struct mime_summary *y)
{
	size_t i;

	if (strcmp(x->envelope, y->envelope) != 0 ||
	    strcmp(x->bodystructure, y->bodystructure) != 0 ||
	    strcmp(x->body, y->body) != 0 || x->size != y->size ||
	    x->lines != y->lines || x->n_parts != y->n_parts)
		abort();
	for (i = 0; i < x->n_parts; i++) {
		const struct mime_part *a = &x->parts[i], *b = &y->parts[i];

		if (strcmp(a->section, b->section) != 0 ||
		    a->header_off != b->header_off ||
		    a->header_len != b->header_len ||
		    a->body_off != b->body_off || a->body_len != b->body_len ||
		    a->body_lines != b->body_lines ||
		    a->message_header_len != b->message_header_len)
			abort();
		/* every range lies inside the message */
		if (a->header_off + a->header_len != a->body_off ||
		    a->body_off + a->body_len > x->size ||
		    a->message_header_len > a->body_len)
			abort();
		if (i > 0)
			check_parent(x, i);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct arena *a1, *a2;
	struct mime_summary *s1 = NULL, *s2 = NULL;
	size_t step;

	if (size == 0)
		return 0;
	step = (size_t)data[0] % 17 + 1;
	data++;
	size--;
	a1 = arena_new(4096, 0);
	a2 = arena_new(4096, 0);
	if (a1 == NULL || a2 == NULL)
		abort();
	if (parse(data, size, size == 0 ? 1 : size, a1, &s1) != 0 ||
	    parse(data, size, step, a2, &s2) != 0)
		abort();
	check_same(s1, s2);
	/* the cache form round-trips, and arbitrary bytes never crash
	   its decoder */
	{
		uint8_t *buf;
		size_t len;
		struct mime_summary *d;

		if (mime_summary_encode(a1, s1, &buf, &len) != 0 ||
		    mime_summary_decode(a2, buf, len, &d) != 0)
			abort();
		check_same(s1, d);
		(void)mime_summary_decode(a2, data, size, &d);
	}
	arena_free(&a1);
	arena_free(&a2);
	return 0;
}
