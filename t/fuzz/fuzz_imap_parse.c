/* fuzz_imap_parse.c: libFuzzer target for the IMAP parsers (fuzz_main.c runs it over the seeds) */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "imap_parse.h"
#include "imap_search_parse.h"
#include "imap_seqset.h"
#include "imap_utf7.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * The first input byte is a control byte, the rest the client's bytes:
 *   bits 0-3  chunk size - 1 for the split run
 *   bit 4     stream APPEND literals
 *   bit 5     abort commands whose literal exceeds 8 bytes
 *   bit 6     read a raw line after IDLE and AUTHENTICATE
 *   bit 7     tiny limits, so every limit path is reachable
 * The input is parsed three ways - whole, in chunks, and as a session on
 * posta_conn's line mode would feed it - and the event transcripts (as a
 * hash) must agree.  Every command is also put through the helpers:
 * sections, sequence sets, SEARCH, and the UTF-7 round trip, whose
 * canonical form must come back byte for byte.
 */

struct run {
	uint8_t ctl;
	struct imap_parser *p;
	struct arena *scratch;
	uint64_t hash;
	bool in_data;
};

static void
mix(struct run *r, const void *data, size_t len)
{
	const uint8_t *p = data;
	size_t i;

	for (i = 0; i < len; i++) {
		r->hash ^= p[i];
		r->hash *= 0x100000001b3ull;
	}
}

static void
mix_str(struct run *r, const char *s)
{
	if (s == NULL)
		s = "(null)";
	mix(r, s, strlen(s) + 1);
}

static void
mix_u64(struct run *r, uint64_t v)
{
	mix(r, &v, sizeof(v));
}

static void
check_string(struct run *r, const char *s, size_t len)
{
	char *u8, *u7;

	if (imap_utf7_to_utf8(r->scratch, s, len, &u8) == 0) {
		if (imap_utf8_to_utf7(r->scratch, u8, strlen(u8), &u7) != 0 ||
		    strlen(u7) != len || memcmp(u7, s, len) != 0)
			abort();
	}
	if (imap_utf8_is_valid(s, len) &&
	    imap_utf8_to_utf7(r->scratch, s, len, &u7) == 0) {
		if (imap_utf7_to_utf8(r->scratch, u7, strlen(u7), &u8) != 0 ||
		    strlen(u8) != len || memcmp(u8, s, len) != 0)
			abort();
	}
}

static void
check_seqset(struct run *r, const char *s)
{
	struct imap_seqset set, again, res;
	struct imap_seqset_iter it;
	uint32_t n, prev = 0;
	unsigned int k = 0;
	const char *f;

	if (imap_seqset_parse(r->scratch, s, strlen(s), &set) != 0)
		return;
	/* "3:3" is written "3": compare the ranges, not the text */
	f = imap_seqset_format(r->scratch, &set);
	if (f == NULL ||
	    imap_seqset_parse(r->scratch, f, strlen(f), &again) != 0 ||
	    again.count != set.count || memcmp(again.ranges, set.ranges,
	    set.count * sizeof(*set.ranges)) != 0)
		abort();
	if (imap_seqset_resolve(r->scratch, &set, 50, &res) != 0)
		abort();
	imap_seqset_iter_init(&it, &res);
	while (k++ < 200 && imap_seqset_iter_next(&it, &n)) {
		if (n <= prev || !imap_seqset_contains(&res, n))
			abort();
		prev = n;
	}
}

static void
walk(struct run *r, const struct imap_arg *a)
{
	for (; a != NULL; a = a->next) {
		struct imap_section sec;
		const char *s, *err;
		size_t len;

		mix_u64(r, a->type);
		switch (a->type) {
		case IMAP_ARG_ATOM:
		case IMAP_ARG_NIL:
		case IMAP_ARG_STRING:
		case IMAP_ARG_LITERAL:
			mix(r, a->u.str.data, a->u.str.len);
			if (a->u.str.data[a->u.str.len] != '\0')
				abort();
			if (imap_arg_get_astring(a, &s, &len))
				check_string(r, s, len);
			if (imap_arg_get_atom(a, &s))
				check_seqset(r, s);
			break;
		case IMAP_ARG_STREAMED:
			mix_u64(r, a->u.streamed_size);
			break;
		case IMAP_ARG_LIST:
			if (imap_args_count(a->u.list.first) !=
			    a->u.list.count)
				abort();
			walk(r, a->u.list.first);
			break;
		case IMAP_ARG_SECTION:
			mix_str(r, a->u.section.name);
			mix_u64(r, a->u.section.offset);
			mix_u64(r, a->u.section.length);
			mix_u64(r, imap_section_parse(a, &sec, &err));
			walk(r, a->u.section.children.first);
			break;
		default:
			abort();
		}
		if (a->next != NULL && a->next->parent != a->parent)
			abort();
	}
	mix_u64(r, 0xff);
}

static void
on_event(struct run *r, enum imap_parse_result res,
    const struct imap_event *ev)
{
	struct imap_search *search;
	const char *err;

	if ((res == IMAP_PARSE_ERROR) != (ev->type == IMAP_EVENT_ERROR))
		abort();
	if (ev->type != IMAP_EVENT_LITERAL_DATA) {
		if (r->in_data)
			abort();
		mix_u64(r, ev->type);
		mix_str(r, ev->tag);
		mix_str(r, ev->name);
		mix_u64(r, ev->uid);
	}
	switch (ev->type) {
	case IMAP_EVENT_COMMAND:
		walk(r, ev->args);
		if (ev->name != NULL && strcmp(ev->name, "SEARCH") == 0) {
			int ret = imap_search_parse(r->scratch, ev->args,
			    &search, &err);

			if (ret < 0 && err == NULL)
				abort();
			mix_u64(r, (uint64_t)ret);
		}
		if ((r->ctl & 0x40) && ev->name != NULL &&
		    (strcmp(ev->name, "IDLE") == 0 ||
		    strcmp(ev->name, "AUTHENTICATE") == 0) &&
		    imap_parser_expect_line(r->p) != 0)
			abort();
		arena_reset(r->scratch);
		break;
	case IMAP_EVENT_LITERAL_NEEDED:
		walk(r, ev->args);
		mix_u64(r, ev->u.literal.size);
		mix_u64(r, ev->u.literal.sync | ev->u.literal.literal8 << 1 |
		    ev->u.literal.stream << 2 | ev->u.literal.too_big << 3);
		if ((r->ctl & 0x10) && strcmp(ev->name, "APPEND") == 0 &&
		    imap_parser_stream_literal(r->p) != 0)
			abort();
		if ((r->ctl & 0x20) && ev->u.literal.size > 8 &&
		    imap_parser_abort_command(r->p) != 0)
			abort();
		break;
	case IMAP_EVENT_LITERAL_DATA:
		/* chunking differs between runs; the bytes may not */
		r->in_data = !ev->u.data.last;
		mix(r, ev->u.data.data, ev->u.data.len);
		if (ev->u.data.last)
			mix_u64(r, 0xda7a);
		break;
	case IMAP_EVENT_LINE:
		mix(r, ev->u.line.data, ev->u.line.len);
		break;
	case IMAP_EVENT_ERROR:
		if (ev->u.error.msg == NULL)
			abort();
		mix_u64(r, ev->u.error.code);
		mix_str(r, ev->u.error.msg);
		break;
	default:
		abort();
	}
}

/* Feeds one piece until the parser wants more, like a session must. */
static void
feed(struct run *r, const uint8_t *data, size_t len)
{
	size_t off = 0, used;
	struct imap_event ev;
	unsigned int guard = 0;

	for (;;) {
		enum imap_parse_result res = imap_parse_feed(r->p,
		    data + off, len - off, &used, &ev);

		if (used > len - off)
			abort();
		off += used;
		if (res == IMAP_PARSE_NEED_MORE)
			break;
		on_event(r, res, &ev);
		if (++guard > 1000000)
			abort();
	}
	if (off != len)
		abort();
}

/* Pieces are copied so that ASan sees a parser keeping stale pointers. */
static void
feed_copy(struct run *r, const uint8_t *data, size_t len)
{
	uint8_t *copy = malloc(len > 0 ? len : 1);

	if (copy == NULL)
		abort();
	memcpy(copy, data, len);
	feed(r, copy, len);
	free(copy);
}

enum mode { WHOLE, CHUNKS, LINES };

static uint64_t
run(uint8_t ctl, const uint8_t *in, size_t len, enum mode mode)
{
	struct imap_parse_limits lim;
	struct arena *a = arena_new(1024, 0);
	struct run r = { .ctl = ctl, .hash = 0xcbf29ce484222325ull };
	size_t pos = 0, step = (size_t)(ctl & 15) + 1;

	imap_parse_limits_init(&lim);
	if (ctl & 0x80) {
		lim.max_line_length = 40;
		lim.max_literal_size = 16;
		lim.max_command_size = 100;
		lim.max_args = 10;
		lim.max_list_depth = 3;
		lim.literal_stream_threshold = 12;
	}
	r.scratch = arena_new(4096, 0);
	if (a == NULL || r.scratch == NULL)
		abort();
	r.p = imap_parser_new(a, &lim);
	if (r.p == NULL)
		abort();
	switch (mode) {
	case WHOLE:
		feed_copy(&r, in, len);
		break;
	case CHUNKS:
		for (pos = 0; pos < len; pos += step)
			feed_copy(&r, in + pos,
			    len - pos < step ? len - pos : step);
		break;
	case LINES:
		while (pos < len) {
			uint64_t want = imap_parser_bytes_wanted(r.p);
			const uint8_t *lf;
			size_t n;

			if (want > 0) {
				n = len - pos < step ? len - pos : step;
				if (n > want)
					n = (size_t)want;
				feed_copy(&r, in + pos, n);
				pos += n;
				continue;
			}
			lf = memchr(in + pos, '\n', len - pos);
			n = lf != NULL ? (size_t)(lf - (in + pos)) : len - pos;
			if (lf != NULL && n > 0 && in[pos + n - 1] == '\r')
				n--;
			feed_copy(&r, in + pos, n);
			pos += n;
			if (pos < len) {
				bool crlf = in[pos] == '\r';

				feed(&r, (const uint8_t *)(crlf ? "\r\n" :
				    "\n"), crlf ? 2 : 1);
				pos += crlf ? 2 : 1;
			}
		}
		break;
	}
	feed(&r, NULL, 0);
	/* a literal being streamed may end with the input */
	mix_u64(&r, imap_parser_is_idle(r.p));
	arena_free(&r.scratch);
	arena_free(&a);
	return r.hash;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t whole;

	if (size == 0)
		return 0;
	whole = run(data[0], data + 1, size - 1, WHOLE);
	if (run(data[0], data + 1, size - 1, CHUNKS) != whole)
		abort();
	if (run(data[0], data + 1, size - 1, LINES) != whole)
		abort();
	return 0;
}
