/* smtp_data.h: DATA reader (dot-unstuffing, strict end of data) and BDAT */
#ifndef POSTA_SMTP_DATA_H
#define POSTA_SMTP_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "smtp_parse.h"

/*
 * DATA reader: fed the line events the core produces after the 354 reply
 * (bytes without terminator, CRLF or bare LF, or "too long, discarded"),
 * it says which bytes to store and when the message ends.  Pure: no I/O,
 * no allocation; state is the struct.
 *
 * End of data (RFC 5321 4.1.1.4, 4.5.2) is ONLY a line that is exactly "."
 * AND ended by CRLF AND follows a line that ended by CRLF (or is the first
 * line).  In bytes: CRLF "." CRLF.  Every near miss is message content, so
 * no sequence an upstream server might pass on as content can end our
 * message early and have the rest run as commands (SMTP smuggling,
 * CVE-2023-51764/5/6): "\n.\n", "\n.\r\n", "\r\n.\n", "\r.\r", "\r.\r\n",
 * "\r\n.\r", "\r\n\0.\r\n", "\r\n.\0\r\n" ...  Because the core splits
 * lines only at LF, a bare CR never splits a line at all.
 *
 * What is stored (the "normalize" policy, compare Postfix's
 * smtpd_forbid_bare_newline = normalize):
 *  - every line is stored with CRLF, also one that arrived with a bare LF,
 *    so the stored message has consistent line ends and IMAP/POP3 octet
 *    counts hold;
 *  - a line starting with "." and longer than one octet loses that first
 *    "." (transparency, RFC 5321 4.5.2), whatever its terminator;
 *  - a line that is exactly "." but is not the end of data (it ended in a
 *    bare LF, or the line before it did) is stored as ".\r\n", NOT
 *    unstuffed to an empty line: the client did not send an end of data,
 *    and an invented empty line could end the header section.  Anything
 *    relaying the message on must dot-stuff it like any other line;
 *  - a bare CR inside a line is stored as is (counted; see reject_bare_cr);
 *  - nothing is stored once the message has failed (too big, a line too
 *    long, or a rejected bare LF/CR): the reader keeps consuming lines until
 *    the real end of data so the session stays in sync, and then the
 *    session answers with smtp_data_status() and drops what it stored.
 *
 * Over-long lines: RFC 5321 4.5.3.1.6 limits a text line to 1000 octets
 * with CRLF.  A longer line either arrives whole (core limit above ours)
 * or as a too-long event (the core discarded it); both fail the message
 * with 550 5.6.0: the problem is the message content, not a command, so
 * 5.5.x would mislead, and 552 5.3.4 is kept for the size limit.
 */

/* Final state; smtp_data_status() maps it to a reply. */
enum smtp_data_result {
	SMTP_DATA_OK = 0,
	SMTP_DATA_TOO_BIG,		/* 552 5.3.4 */
	SMTP_DATA_LINE_TOO_LONG,	/* 550 5.6.0 */
	SMTP_DATA_BARE_LF,		/* 550 5.5.2, if reject_bare_lf */
	SMTP_DATA_BARE_CR,		/* 550 5.5.2, if reject_bare_cr */
	SMTP_DATA_RESULT_COUNT_
};

struct smtp_data_opts {
	uint64_t max_size;	/* stored octets (RFC 1870 counting); 0: none */
	/* octets before the terminator, not counting a stuffing dot (RFC
	   5321 4.5.3.1.6); 998 by default, 0: no check of our own */
	size_t max_line_len;
	bool reject_bare_lf;	/* else stored normalised to CRLF */
	bool reject_bare_cr;	/* else stored as is */
};

/* Defaults: no size limit, 998-octet lines, normalise LF, keep CR. */
void smtp_data_opts_init(struct smtp_data_opts *o);

struct smtp_data {
	struct smtp_data_opts opts;
	/* octets of the message as it would be stored, counted on after a
	   failure too (saturates) */
	uint64_t size;
	uint64_t lines;		/* line events consumed, too-long ones too */
	uint64_t bare_lf_lines;	/* lines that ended in a bare LF */
	uint64_t bare_cr;	/* CR octets not followed by LF */
	uint64_t long_lines;
	enum smtp_data_result result;	/* first failure, or OK */
	bool prev_crlf;		/* last line ended in CRLF (true at start) */
	bool done;		/* end of data seen */
};

/* Bytes to append to the stored message for one line: data[0..len) and
   then, if eol, "\r\n".  data points into the fed line (or is NULL when
   len is 0) and is valid until the caller's line buffer changes. */
struct smtp_data_out {
	const uint8_t *data;
	size_t len;
	bool eol;
};

enum smtp_data_event {
	SMTP_DATA_MORE = 0,	/* store *out, feed the next line */
	SMTP_DATA_END = 1,	/* end of data: reply smtp_data_status() */
};

void smtp_data_init(struct smtp_data *d, const struct smtp_data_opts *o);

/*
 * Feeds one line (without terminator; crlf tells CRLF from bare LF).
 * Returns SMTP_DATA_MORE with *out set (len 0 and !eol when nothing is to
 * be stored), SMTP_DATA_END (nothing to store; the line was the end
 * marker), or -EINVAL when called after the end or with line NULL and len
 * non-zero.
 */
int smtp_data_feed(struct smtp_data *d, const uint8_t *line, size_t len,
    bool crlf, struct smtp_data_out *out);

/*
 * The core reported a line it discarded as too long; crlf tells how it
 * ended, which decides whether a "." line after it may end the data.  If
 * the core cannot tell, pass false: a client whose last line was too long
 * then has to send CRLF.CRLF again (it times out), which is a nuisance;
 * guessing true would let "<long line>\n.\r\n" end the data.  Returns
 * SMTP_DATA_MORE, or -EINVAL after the end.
 */
int smtp_data_feed_too_long(struct smtp_data *d, bool crlf);

/* The reply for the result: 250 2.0.0 when OK (the session puts its own
   text and queue id in), else the failure. */
const struct smtp_status *smtp_data_status(enum smtp_data_result r);

/*
 * BDAT (RFC 3030): chunks are exact byte counts, stored as they are (no
 * unstuffing, no line rules: BINARYMIME content may hold any octet), and
 * concatenated.  The size limit spans all chunks.  Once over it, every
 * further chunk must still be read in full (the client sends it anyway),
 * discarded, and answered 552 5.3.4.
 */
struct smtp_bdat {
	uint64_t max_size;	/* 0: none */
	uint64_t size;		/* octets announced so far (saturates) */
	uint64_t chunk_left;	/* of the chunk being read */
	bool in_chunk;
	bool last;		/* a BDAT ... LAST was begun */
	enum smtp_data_result result;	/* OK or SMTP_DATA_TOO_BIG */
};

enum smtp_bdat_action {
	SMTP_BDAT_STORE = 0,	/* read the chunk and store it */
	SMTP_BDAT_DISCARD = 1,	/* read the chunk and throw it away */
};

void smtp_bdat_init(struct smtp_bdat *b, uint64_t max_size);

/*
 * A BDAT command was parsed: size octets follow, last from "LAST".
 * Returns SMTP_BDAT_STORE or SMTP_BDAT_DISCARD (the limit is exceeded,
 * now or before), or -EINVAL when a chunk is still being read or LAST was
 * already seen (session bugs; a client's BDAT after LAST is the session's
 * 503).  With size 0 the chunk is complete at once.
 */
int smtp_bdat_begin(struct smtp_bdat *b, uint64_t size, bool last);

/*
 * Bytes of the current chunk as the core delivers them.  *out gets what
 * to store (the same bytes, or len 0 when discarding; never eol).
 * Returns 1 when the chunk is complete (reply now: 250, or 552 5.3.4 when
 * result is TOO_BIG), 0 when more is due, -EINVAL for more bytes than
 * announced or no chunk open.
 */
int smtp_bdat_feed(struct smtp_bdat *b, const uint8_t *p, size_t len,
    struct smtp_data_out *out);

/* True once the LAST chunk is complete: the message is whole. */
bool smtp_bdat_done(const struct smtp_bdat *b);

#endif
