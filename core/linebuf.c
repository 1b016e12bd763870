/* linebuf.c: bounded line and exact-byte framing of one connection's input */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "linebuf.h"

/* Room beyond the longest line so a read never has to wait for one byte. */
#define LINEBUF_SLACK	1024
#define LINEBUF_MIN_CAP	4096
/* first allocation; doubled up to the full capacity while a line grows */
#define LINEBUF_INITIAL	1024

int
linebuf_init(struct linebuf *lb, size_t max_line)
{
	size_t cap;

	memset(lb, 0, sizeof(*lb));
	if (max_line > SIZE_MAX - 2 - LINEBUF_SLACK)
		return -ENOMEM;
	/*
	 * cap > max_line + 2 is what keeps the buffer from filling up with a
	 * partial line: without an LF, at most max_line + 1 bytes (the line
	 * and a CR that may still become a CRLF) are kept.
	 */
	cap = max_line + 2 + LINEBUF_SLACK;
	if (cap < LINEBUF_MIN_CAP)
		cap = LINEBUF_MIN_CAP;
	/* allocated on first use and grown on demand: an idle session with
	   a 64k line limit must not hold 64k */
	lb->max_cap = cap;
	lb->max_line = max_line;
	return 0;
}

void
linebuf_deinit(struct linebuf *lb)
{
	free(lb->buf);
	memset(lb, 0, sizeof(*lb));
}

void
linebuf_release(struct linebuf *lb)
{
	if (lb->start != lb->end || lb->buf == NULL)
		return;
	free(lb->buf);
	lb->buf = NULL;
	lb->cap = lb->start = lb->end = lb->scanned = 0;
}

uint8_t *
linebuf_space(struct linebuf *lb, size_t *len_r)
{
	if ((lb->buf == NULL || lb->end - lb->start == lb->cap) &&
	    lb->cap < lb->max_cap) {
		size_t want = lb->cap == 0 ? LINEBUF_INITIAL : lb->cap * 2;
		uint8_t *n;

		if (want > lb->max_cap)
			want = lb->max_cap;
		n = realloc(lb->buf, want);
		if (n == NULL) {
			/* no room is an answer the caller already handles */
			*len_r = 0;
			return lb->buf != NULL ? lb->buf + lb->end : NULL;
		}
		lb->buf = n;
		lb->cap = want;
	}
	if (lb->start == lb->end) {
		lb->start = lb->end = 0;
	} else if (lb->start > 0) {
		memmove(lb->buf, lb->buf + lb->start, lb->end - lb->start);
		lb->end -= lb->start;
		lb->start = 0;
	}
	*len_r = lb->cap - lb->end;
	return lb->buf + lb->end;
}

void
linebuf_commit(struct linebuf *lb, size_t n)
{
	/* a caller writing past linebuf_space() has corrupted memory already:
	   stop before anything trusts the buffer again */
	if (n > lb->cap - lb->end)
		abort();
	lb->end += n;
}

size_t
linebuf_buffered(const struct linebuf *lb)
{
	return lb->end - lb->start;
}

static void
event_set(struct linebuf_event *ev, enum linebuf_event_type type,
    const uint8_t *data, size_t len)
{
	ev->type = type;
	ev->data = data;
	ev->len = len;
	ev->crlf = false;
	ev->last = false;
}

static void
next_data(struct linebuf *lb, struct linebuf_event *ev)
{
	size_t n = lb->end - lb->start;

	if (n == 0) {
		event_set(ev, LINEBUF_NEED_MORE, NULL, 0);
		return;
	}
	if (n > lb->want)
		n = lb->want;
	event_set(ev, LINEBUF_DATA, lb->buf + lb->start, n);
	lb->start += n;
	lb->want -= n;
	ev->last = lb->want == 0;
}

/* Skips to the end of an over-long line; true once its LF was consumed. */
static bool
skip_long_line(struct linebuf *lb)
{
	uint8_t *lf;

	if (lb->end == lb->start)	/* also: no buffer allocated yet */
		return false;
	lf = memchr(lb->buf + lb->start, '\n', lb->end - lb->start);

	if (lf == NULL) {
		/* the CR of a CRLF may be the last byte of this chunk */
		lb->discard_cr = lb->buf[lb->end - 1] == '\r';
		lb->start = lb->end = 0;
		return false;
	}
	/* SMTP needs to know how the line ended even when it was dropped */
	lb->discard_cr = lf > lb->buf + lb->start ? lf[-1] == '\r' :
	    lb->discard_cr;
	lb->start = (size_t)(lf - lb->buf) + 1;
	lb->discarding = false;
	return true;
}

void
linebuf_next(struct linebuf *lb, struct linebuf_event *ev)
{
	uint8_t *line, *lf;
	size_t avail, len;

	if (lb->want > 0) {
		next_data(lb, ev);
		return;
	}
	if (lb->discarding) {
		if (skip_long_line(lb)) {
			event_set(ev, LINEBUF_TOO_LONG, NULL, 0);
			ev->crlf = lb->discard_cr;
		} else
			event_set(ev, LINEBUF_NEED_MORE, NULL, 0);
		return;
	}

	avail = lb->end - lb->start;
	if (avail == 0) {	/* also: no buffer allocated yet */
		event_set(ev, LINEBUF_NEED_MORE, NULL, 0);
		return;
	}
	line = lb->buf + lb->start;
	/* resume the search where the last one stopped: a peer dribbling a
	   long line byte by byte must not cost max_line^2 */
	lf = memchr(line + lb->scanned, '\n', avail - lb->scanned);
	if (lf == NULL) {
		if (avail > lb->max_line + 1) {
			/* too long even if the last byte is the CR of a CRLF */
			lb->discarding = true;
			lb->discard_cr = line[avail - 1] == '\r';
			lb->scanned = 0;
			lb->start = lb->end = 0;
		} else {
			lb->scanned = avail;
		}
		event_set(ev, LINEBUF_NEED_MORE, NULL, 0);
		return;
	}

	len = (size_t)(lf - line);
	lb->start += len + 1;
	lb->scanned = 0;
	if (len > 0 && line[len - 1] == '\r') {
		len--;
		if (len <= lb->max_line) {
			event_set(ev, LINEBUF_LINE, line, len);
			ev->crlf = true;
			return;
		}
		event_set(ev, LINEBUF_TOO_LONG, NULL, 0);
		ev->crlf = true;
		return;
	}
	if (len > lb->max_line)
		event_set(ev, LINEBUF_TOO_LONG, NULL, 0);
	else
		event_set(ev, LINEBUF_LINE, line, len);
}

void
linebuf_read_bytes(struct linebuf *lb, size_t n)
{
	if (n == 0)
		return;
	lb->want = n;
	lb->scanned = 0;
	/* the data follows a complete line, so no over-long line is open */
	lb->discarding = false;
}

void
linebuf_discard(struct linebuf *lb)
{
	lb->start = lb->end = 0;
	lb->scanned = 0;
}
