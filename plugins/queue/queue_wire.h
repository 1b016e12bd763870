/* queue_wire.h: pure SMTP client code: replies, EHLO, dot-stuffing */
#ifndef POSTA_QUEUE_WIRE_H
#define POSTA_QUEUE_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Reply parser (RFC 5321 4.2).  Bytes in, one complete reply out; state
 * lives in the struct, so input may stop at any byte.  A reply is one or
 * more lines "NNN-text" ending with "NNN text" (or "NNN"), all with the
 * same code.  Lines end in CRLF; a bare LF is accepted too (servers get
 * this wrong and there is no smuggling risk on replies).  A line over
 * QWIRE_LINE_MAX or a reply over QWIRE_TEXT_MAX is an error, so a hostile
 * server cannot make us buffer without bound.
 */
#define QWIRE_LINE_MAX	2048
#define QWIRE_TEXT_MAX	8192
#define QWIRE_LINES_MAX	64

enum qwire_result {
	QWIRE_NEED_MORE = 0,
	QWIRE_REPLY,
	QWIRE_ERROR,
};

struct qwire_reply {
	int code;			/* 200..599 */
	size_t n_lines;
	/* text of each line after "NNN-"/"NNN ", NUL-terminated, in text */
	const char *lines[QWIRE_LINES_MAX];
	char text[QWIRE_TEXT_MAX];
	size_t text_len;
};

struct qwire_parser {
	char line[QWIRE_LINE_MAX + 1];
	size_t line_len;
	bool skipping;			/* over-long line: error at its end */
	bool done;			/* reply was handed out */
	struct qwire_reply reply;	/* being built; valid after REPLY */
};

void qwire_parser_init(struct qwire_parser *p);

/*
 * Consumes bytes up to the end of one reply.  Returns REPLY (p->reply is
 * valid until the next feed; *used_r says how much was consumed),
 * NEED_MORE (all consumed) or ERROR (the connection is unusable).
 */
enum qwire_result qwire_feed(struct qwire_parser *p, const uint8_t *in,
    size_t len, size_t *used_r);

/*
 * The reply as one line for logs and bounces: "550 5.1.1 no such user"
 * (lines joined with a space, control bytes and non-ASCII as '?', at most
 * size - 1 bytes).
 */
void qwire_reply_summary(const struct qwire_reply *r, char *buf,
    size_t size);

/*
 * The enhanced status code at the start of the first line ("5.1.1"), or
 * a default derived from the code when there is none ("5.0.0", "4.0.0",
 * "2.0.0").  buf holds at least 12 bytes.
 */
void qwire_reply_status(const struct qwire_reply *r, char *buf, size_t size);

/* What the EHLO reply offers (RFC 5321 4.1.1.1; keywords are caseless). */
struct qwire_caps {
	bool pipelining, starttls, eightbitmime, smtputf8, dsn;
	bool size;
	uint64_t size_max;	/* 0: no limit announced */
	bool auth_plain, auth_login;
};

void qwire_parse_ehlo(const struct qwire_reply *r, struct qwire_caps *caps);

/*
 * Dot-stuffing for DATA (RFC 5321 4.5.2) with line endings made safe: a
 * bare LF and a bare CR each become CRLF, so nothing we pass on can be
 * read as a different end of data downstream (SMTP smuggling).
 * qwire_dot_encode writes at most 2 * len + 4 bytes to out;
 * qwire_dot_finish at most 5 (the CRLF the last line may lack, then
 * ".\r\n").  Both return the number of bytes written.
 */
struct qwire_dot {
	bool mid_line;		/* something was written since the last CRLF */
	bool pending_cr;	/* a CR was seen, its LF not yet */
};

#define QWIRE_DOT_OUT_MAX(len) (2 * (len) + 4)

void qwire_dot_init(struct qwire_dot *d);
size_t qwire_dot_encode(struct qwire_dot *d, const uint8_t *in, size_t len,
    uint8_t *out);
size_t qwire_dot_finish(struct qwire_dot *d, uint8_t *out);

/*
 * xtext (RFC 3461 4): '+', '=', and bytes outside 0x21..0x7e as "+XX".
 * Writes at most 3 * strlen(s) + 1 bytes, NUL-terminated; returns out.
 */
char *qwire_xtext(const char *s, char *out);

#endif
