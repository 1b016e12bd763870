/* linebuf.h: bounded input buffer cutting a connection's bytes into lines */
#ifndef POSTA_CORE_LINEBUF_H
#define POSTA_CORE_LINEBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Pure: no I/O, no timers, no logging.  The connection reads into
 * linebuf_space(), reports the count with linebuf_commit(), then calls
 * linebuf_next() until it says LINEBUF_NEED_MORE.  Input may stop at any
 * byte; the same bytes give the same events however they were split, except
 * that exact-byte data comes out in chunks as it arrived.
 *
 * Lines end at LF.  A CR right before the LF is stripped and reported as
 * crlf = true; any other CR is part of the line.  A line longer than
 * max_line bytes (terminator excluded) is dropped as it arrives and gives
 * exactly one LINEBUF_TOO_LONG when its LF comes; the next line is normal
 * again.  The buffer is allocated once by linebuf_init() and never grows,
 * so a peer sending an endless line costs no memory.
 *
 * linebuf_read_bytes(n) switches to exact-byte mode (IMAP literals, SMTP
 * BDAT): the next n bytes come out as LINEBUF_DATA events in chunks of
 * whatever is buffered, the final one with last = true; then line mode
 * resumes.  n never has to fit in memory.
 */
struct linebuf {		/* embedded in the connection; fields private */
	uint8_t *buf;
	size_t cap, start, end;	/* buffered bytes are buf[start..end) */
	size_t max_line;	/* longest line accepted, terminator excluded */
	size_t want;		/* >0: exact-byte mode, bytes still wanted */
	bool discarding;
	bool discard_cr;		/* the last byte dropped was a CR */	/* inside an over-long line, dropping to LF */
	size_t max_cap;		/* full capacity, allocated lazily */
	size_t scanned;		/* bytes after start known to hold no LF */
};

enum linebuf_event_type {
	LINEBUF_NEED_MORE = 0,
	LINEBUF_LINE,
	LINEBUF_TOO_LONG,
	LINEBUF_DATA,
};

struct linebuf_event {
	enum linebuf_event_type type;
	/* LINE: the line without CRLF/LF; DATA: one chunk; NULL/0 otherwise.
	   Points into the buffer: valid until the next linebuf call. */
	const uint8_t *data;
	size_t len;
	bool crlf;		/* LINE, TOO_LONG: ended in CRLF (else LF) */
	bool last;		/* DATA: this chunk completes the exact read */
};

/*
 * Allocates max_line + 2 bytes plus slack, at least 4096 in all, so a line
 * of max_line bytes with its CRLF always fits.  Returns 0, or -ENOMEM (also
 * when max_line is so large the size overflows); on failure lb is zeroed
 * and linebuf_deinit() on it is harmless.
 */
int linebuf_init(struct linebuf *lb, size_t max_line);
/* Frees the buffer; lb may be reused with linebuf_init(). */
void linebuf_deinit(struct linebuf *lb);

/*
 * Where to read the next bytes into, and how many fit (*len_r).  Moves the
 * buffered bytes to the front first, so event data handed out before is no
 * longer valid.  *len_r == 0 means the buffer is full of unconsumed events:
 * stop reading until linebuf_next() has drained them.  After linebuf_next()
 * returned NEED_MORE there is always room.
 */
uint8_t *linebuf_space(struct linebuf *lb, size_t *len_r);
/* n bytes (at most the *len_r given) were written at linebuf_space(). */
void linebuf_commit(struct linebuf *lb, size_t n);

/* The next event from the buffered bytes, or LINEBUF_NEED_MORE. */
void linebuf_next(struct linebuf *lb, struct linebuf_event *ev);

/*
 * The next n bytes are data, not lines: call it right after the LINE event
 * that announced them (bytes already buffered behind that line count).
 * n > 0 replaces a pending exact read; n == 0 does nothing and gives no
 * event.
 */
void linebuf_read_bytes(struct linebuf *lb, size_t n);

/*
 * Drops everything buffered, e.g. plaintext pipelined behind STARTTLS
 * (CVE-2011-0411).  The mode is kept: a pending exact read still wants the
 * same count, an over-long line is still being skipped.
 */
void linebuf_discard(struct linebuf *lb);

/* Frees the buffer while nothing is buffered (an idle session). */
void linebuf_release(struct linebuf *lb);

/* Bytes buffered and not yet handed out by an event. */
size_t linebuf_buffered(const struct linebuf *lb);

#endif
