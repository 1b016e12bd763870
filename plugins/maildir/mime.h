/* mime.h: streaming MIME parser producing IMAP ENVELOPE, BODY[STRUCTURE] and part offsets */
#ifndef POSTA_MAILDIR_MIME_H
#define POSTA_MAILDIR_MIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct arena;

/*
 * A pure parser: bytes in, one summary out.  No I/O, no logging; every
 * allocation comes from the arena handed to mime_parser_new(), and the
 * summary lives exactly as long as that arena.
 *
 * Memory: the parser never holds a whole message, header block or body.
 * It keeps the header fields it needs (Content-*, and for messages the
 * ENVELOPE fields), at most max_header_bytes of them per header block,
 * one field buffer that grows to at most max_header_bytes (twice that in
 * the arena, because arenas do not free), one line-start buffer of
 * MIME_BOUNDARY_MAX + 4 bytes, and a small node per MIME part, of which
 * there are at most max_parts.
 *
 * Broken MIME is never an error: truncated messages, missing blank lines,
 * unclosed or missing boundaries, NUL and 8-bit bytes, bare LF line ends
 * all produce a summary.  The only errors are -ENOMEM (the arena is out of
 * memory or at its limit) and -EINVAL (calls in the wrong order); after an
 * error the parser is dead and returns that error again.
 *
 * Sizes and offsets count the raw bytes fed, and line counts count LF
 * bytes, whatever the line endings are.  A layer that sends the message
 * with bare LFs turned into CRLF must present sizes of that form itself.
 */

/* Longest boundary parameter honoured (RFC 2046 allows 70). */
#define MIME_BOUNDARY_MAX 200
/* max_depth is capped here: output is built recursively. */
#define MIME_DEPTH_MAX 100

struct mime_limits {
	size_t max_depth;	/* nesting of multiparts and messages: 20 */
	size_t max_parts;	/* MIME entities (incl. encapsulated msgs): 1000 */
	size_t max_header_bytes;	/* kept per header block: 256 KiB */
};

#define MIME_LIMITS_DEFAULT_INIT { 20, 1000, 256 * 1024 }

/*
 * One IMAP-addressable part.  parts[0] is always the whole message with
 * section "".  After it, depth first, one entry per IMAP section number:
 * the children of a multipart are S.1, S.2, ...; the body of a
 * non-multipart message (the top-level one or one inside message/rfc822)
 * is S.1, sharing that message's header and body offsets (RFC 3501 6.4.5:
 * BODY[1] of a single-part message is its body).
 *
 * How the IMAP layer serves a section S with the entry p found for it:
 *   BODY[S]         body_off, body_len
 *   BODY[S.MIME]    header_off, header_len
 *   BODY[S.HEADER]  body_off, message_header_len   (is_message_rfc822)
 *   BODY[S.TEXT]    body_off + message_header_len to the end of the body
 *   BODY[HEADER], BODY[TEXT] of the message: parts[0] header and body.
 * header_len includes the blank line that ends the header, if any.
 */
struct mime_part {
	const char *section;	/* "", "1", "1.2", "2.1.3", ... */
	uint64_t header_off, header_len;
	uint64_t body_off, body_len;
	/* is_message_rfc822: header of the encapsulated message at body_off */
	uint64_t message_header_len;
	uint32_t body_lines;	/* LF bytes in the body */
	uint32_t depth;		/* number of dots in section + 1; 0 for "" */
	bool is_multipart, is_message_rfc822;
	/* effective media type, lower case: what BODYSTRUCTURE reports */
	const char *type, *subtype;
	const char *charset;	/* charset parameter as sent, or NULL */
	const char *encoding;	/* lower case, "7bit" when absent */
};

/*
 * What the strings hold (decisions where RFC 3501 leaves room; they
 * match Dovecot 2.3 except where noted):
 * - Header values are unfolded (CRLF removed, WSP kept) and trimmed; a
 *   NUL or stray CR in them becomes a space (Dovecot: U+FFFD).  7-bit
 *   values are quoted strings with \ and " escaped; values with 8-bit
 *   bytes are literals {n}CRLF..., the only form IMAP4rev1 allows.
 * - Encoded-words (RFC 2047) are left as they are; clients decode them.
 * - The first Date, Subject, From, ... and Content-* field wins
 *   (Dovecot takes the last Subject).  Present but empty: "" for the
 *   unstructured fields, NIL for address lists; Sender and Reply-To
 *   fall back to From (RFC 3501 7.4.2).
 * - Addresses: groups as (NIL NIL "name" NIL) ... (NIL NIL NIL NIL); a
 *   comment names an address without a display name; a missing local
 *   part or domain is "MISSING_MAILBOX" / "MISSING_DOMAIN", as Dovecot.
 * - Types, subtypes, parameters and encodings keep their case; text
 *   types without a charset get "charset" "us-ascii"; no or an invalid
 *   Content-Type is text/plain (RFC 2045 5.2), or message/rfc822 inside
 *   multipart/digest.
 * - RFC 2231: continuations are joined; if any piece is encoded the
 *   parameter is returned as name* = charset'lang'%XX..., for the client
 *   to decode; pieces after a gap are dropped.
 * - A multipart that cannot be split (no boundary, no delimiter seen,
 *   too deep, no part left) and a message/rfc822 that cannot be entered
 *   are text/plain; charset=us-ascii over their raw body (Dovecot shows
 *   an empty multipart).
 */
struct mime_summary {
	/* for the top-level message, exactly as they go on the wire after
	   "ENVELOPE ", "BODYSTRUCTURE " and "BODY " (RFC 3501 7.4.2) */
	const char *envelope;
	const char *bodystructure;	/* with extension data */
	const char *body;		/* without extension data */
	size_t n_parts;
	const struct mime_part *parts;
	uint64_t size;		/* bytes fed */
	uint32_t lines;		/* LF bytes fed */
};

struct mime_parser;

/* lim NULL means MIME_LIMITS_DEFAULT_INIT; zero fields take the default.
   Returns NULL when the arena cannot hold the parser (-ENOMEM). */
struct mime_parser *mime_parser_new(struct arena *a,
    const struct mime_limits *lim);

/* Feed the next bytes; chunks may be of any size and split anywhere.
   data is not referenced after the call.  Returns 0, -ENOMEM, -EINVAL. */
int mime_parser_feed(struct mime_parser *p, const uint8_t *data, size_t len);

/* End of input.  On 0 *summary_r points into the arena.  The parser takes
   no more input afterwards (-EINVAL). */
int mime_parser_finish(struct mime_parser *p, struct mime_summary **summary_r);

/* The entry for an IMAP section number ("" for the message), or NULL. */
const struct mime_part *mime_summary_find(const struct mime_summary *s,
    const char *section);

/*
 * The summary in a compact, versioned binary form for a cache (the maildir
 * index), and back.  encode: the buffer comes from arena a; returns 0 or
 * -ENOMEM.  decode: everything, strings included, is copied into arena a;
 * returns 0, -ENOMEM, or -EINVAL for a blob that is truncated, foreign,
 * from another version, or whose offsets do not add up.
 */
int mime_summary_encode(struct arena *a, const struct mime_summary *s,
    uint8_t **buf_r, size_t *len_r);
int mime_summary_decode(struct arena *a, const uint8_t *buf, size_t len,
    struct mime_summary **summary_r);

/* Convenience: parse one buffer.  Returns what feed/finish return. */
int mime_parse_buffer(struct arena *a, const struct mime_limits *lim,
    const uint8_t *data, size_t len, struct mime_summary **summary_r);

#endif
