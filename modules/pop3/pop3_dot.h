/* pop3_dot.h: pure encoder of a message into a POP3 multi-line response */
#ifndef POSTA_POP3_DOT_H
#define POSTA_POP3_DOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Turns message bytes, fed in chunks split anywhere, into the body of a
 * RETR or TOP response (RFC 1939 3): lines starting with '.' get another
 * '.', a bare LF becomes CRLF (the store already hands out CRLF; this keeps
 * the wire correct whatever it gets), and for TOP output stops after the
 * header, its empty line and n body lines.  The output for a message is the
 * same however its input is split.  No allocation, no I/O.
 */
struct pop3_dot {
	bool line_start;	/* the next byte begins a line */
	bool prev_cr;		/* the last byte was a CR */
	bool line_empty;	/* the current line holds only CRs so far */
	bool in_body;		/* past the header's empty line */
	bool top;		/* stop after lines_left body lines */
	bool done;		/* TOP limit reached: input is ignored */
	uint32_t lines_left;
};

/* The most output one feed of len bytes can produce. */
#define POP3_DOT_OUT_MAX(len)	(2 * (size_t)(len))
/* The most pop3_dot_finish() writes: "\r\n.\r\n". */
#define POP3_DOT_FINISH_MAX	5

/* RETR: top false.  TOP msg n: top true, lines n. */
void pop3_dot_init(struct pop3_dot *d, bool top, uint32_t lines);

/*
 * Encodes in[0..len) into out (room for POP3_DOT_OUT_MAX(len) bytes) and
 * returns the number of bytes written.  Once pop3_dot_done() is true the
 * rest of the input is ignored; *used_r tells how much input was taken.
 */
size_t pop3_dot_feed(struct pop3_dot *d, const uint8_t *in, size_t len,
    uint8_t *out, size_t *used_r);

/* True when TOP has sent all it should: the caller may stop reading. */
bool pop3_dot_done(const struct pop3_dot *d);

/*
 * Ends the response: CRLF when the last line is unterminated, then
 * ".\r\n".  Writes at most POP3_DOT_FINISH_MAX bytes; returns the count.
 */
size_t pop3_dot_finish(struct pop3_dot *d, uint8_t *out);

#endif
