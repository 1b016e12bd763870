/* test_smtp_lines.h: a model of the core's line splitter for SMTP tests */
#ifndef POSTA_TEST_SMTP_LINES_H
#define POSTA_TEST_SMTP_LINES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <posta/conn.h>

/*
 * Behaves as conn.h and core/linebuf.h promise the core does, so the
 * parsers can be tested on byte streams cut into reads at any offset:
 * lines split at LF only, POSTA_LINE_CRLF when the LF followed a CR (the
 * CR is stripped), a line longer than max (terminator excluded) dropped up
 * to its LF and reported once with POSTA_LINE_TOO_LONG, and exact-byte
 * mode while a callback has set want.  With crlf_on_too_long the
 * too-long event also carries POSTA_LINE_CRLF when the dropped line ended
 * in CRLF (what smtp_data wants from the core; today's core does not).
 * Bytes after the last LF stay buffered, as at a connection's end.
 */
#define TLINES_MAX 4096

struct tlines {
	uint8_t buf[TLINES_MAX + 2];
	size_t max, used;
	bool discarding, last_cr;
	bool crlf_on_too_long;
	uint64_t want;			/* exact-byte mode while > 0 */
	void *ctx;
	void (*line)(void *ctx, const uint8_t *line, size_t len,
	    unsigned flags);
	void (*data)(void *ctx, const uint8_t *p, size_t len, bool last);
};

static inline void
tlines_init(struct tlines *t, size_t max, void *ctx,
    void (*line)(void *, const uint8_t *, size_t, unsigned),
    void (*data)(void *, const uint8_t *, size_t, bool))
{
	memset(t, 0, sizeof(*t));
	t->max = max < TLINES_MAX ? max : TLINES_MAX;
	t->ctx = ctx;
	t->line = line;
	t->data = data;
}

static inline void
tlines_feed(struct tlines *t, const uint8_t *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		if (t->want > 0) {
			size_t take = n - i;

			if ((uint64_t)take > t->want)
				take = (size_t)t->want;
			t->want -= take;
			t->data(t->ctx, p + i, take, t->want == 0);
			i += take;
			continue;
		}
		if (p[i] == '\n') {
			bool crlf;
			size_t len;

			i++;
			if (t->discarding) {
				t->discarding = false;
				t->line(t->ctx, NULL, 0, POSTA_LINE_TOO_LONG |
				    (t->last_cr && t->crlf_on_too_long ?
				    POSTA_LINE_CRLF : 0));
				t->last_cr = false;
				continue;
			}
			crlf = t->used > 0 && t->buf[t->used - 1] == '\r';
			len = crlf ? t->used - 1 : t->used;
			t->used = 0;
			if (len > t->max) {
				t->line(t->ctx, NULL, 0, POSTA_LINE_TOO_LONG |
				    (crlf && t->crlf_on_too_long ?
				    POSTA_LINE_CRLF : 0));
				continue;
			}
			t->line(t->ctx, t->buf, len,
			    crlf ? POSTA_LINE_CRLF : 0);
			continue;
		}
		if (t->discarding) {
			t->last_cr = p[i] == '\r';
			i++;
			continue;
		}
		/* max + 1: room for the CR of a CRLF */
		if (t->used >= t->max + 1) {
			t->discarding = true;
			t->last_cr = p[i] == '\r';
			t->used = 0;
			i++;
			continue;
		}
		t->buf[t->used++] = p[i++];
	}
}

#endif
