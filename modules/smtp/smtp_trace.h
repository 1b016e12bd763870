/* smtp_trace.h: trace and added header fields, and the header scan */
#ifndef POSTA_SMTP_TRACE_H
#define POSTA_SMTP_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Pure helpers of the SMTP engine: they format the header fields the
 * engine adds to a message and find where a message's header section
 * ends.  No I/O, no clock: the caller passes times and random numbers.
 * Every field produced ends in CRLF, stays below 998 octets per line
 * (RFC 5322 2.1.1) and holds only the bytes it was given plus ASCII.
 */

/* RFC 5322 3.3 date-time: "Thu, 27 Nov 2026 07:35:58 +0100" (31 octets) */
#define SMTP_TRACE_DATE_MAX	40

/*
 * Formats the date-time of t (seconds since the epoch) in a zone gmtoff
 * seconds east of UTC, with English day and month names whatever the
 * locale.  Returns the length, or -ENOSPC when size is too small.
 */
int smtp_trace_date(int64_t t, long gmtoff, char *buf, size_t size);

/*
 * The "with" keyword of a Received: field (RFC 3848, RFC 6531 section
 * 3.7.3): SMTP after HELO; ESMTP, ESMTPS, ESMTPA, ESMTPSA after EHLO;
 * UTF8SMTP, UTF8SMTPS, UTF8SMTPA, UTF8SMTPSA for an SMTPUTF8 transaction.
 */
const char *smtp_trace_with(bool esmtp, bool tls, bool auth, bool utf8);

struct smtp_received {
	const char *helo;	/* EHLO/HELO argument as validated, or NULL */
	const char *ip;		/* client address ("::1", "192.0.2.1") */
	const char *by;		/* our host name */
	const char *with;	/* smtp_trace_with() */
	const char *id;		/* our transaction id (an atom) */
	const char *tls;	/* "TLS1.3 cipher=AES-256-GCM", or NULL */
	const char *rcpt;	/* the one recipient, or NULL (several) */
	const char *date;	/* smtp_trace_date() */
	bool utf8;		/* the message may hold UTF-8 (SMTPUTF8) */
};

/*
 * Writes a folded Received: field (RFC 5321 4.4) into buf.  A HELO name
 * or recipient holding UTF-8 is left out unless utf8 is set, so a
 * message without SMTPUTF8 stays ASCII; characters that could end a
 * comment are dropped from the TLS text.  Returns the length or -ENOSPC.
 */
int smtp_trace_received(const struct smtp_received *r, char *buf,
    size_t size);

/* "Return-Path: <sender>" CRLF; sender "" gives "<>".  Length or -ENOSPC. */
int smtp_trace_return_path(const char *sender, char *buf, size_t size);

/*
 * A Message-ID value "<YYYYMMDDhhmmss.RANDOM.id@host>" (RFC 5322 3.6.4)
 * from the UTC time t, 64 random bits, our transaction id and host name.
 * Length, or -ENOSPC.
 */
int smtp_trace_msgid(int64_t t, uint64_t random, const char *id,
    const char *host, char *buf, size_t size);

/*
 * Header scan.  Fed the message bytes in order (any split), it finds the
 * offset where the header section ends, which is where fields missing
 * from it are inserted (RFC 6409 section 8):
 *  - at the empty line (CRLF or bare LF) that separates header and body;
 *  - at the first line that is neither a header field ("name:" with
 *    printable name characters, blanks allowed before the colon) nor a
 *    continuation (leading SP/HTAB after a field); inserted fields are
 *    then followed by an empty line, so that line becomes body text as
 *    every reader treats it anyway (need_blank);
 *  - at the end of a message that is all header (smtp_hdrscan_finish),
 *    after a CRLF when the last line has none (need_crlf).
 * It notes whether Date: and Message-ID: fields are present (field names
 * compare case-insensitively).
 */
struct smtp_hdrscan {
	uint64_t off;		/* octets fed so far */
	uint64_t line_off;	/* offset of the current line's first octet */
	uint64_t end_off;	/* valid once done: insert there */
	int state;
	char name[12];		/* lower-cased start of the field name */
	size_t name_len;
	bool has_date, has_msgid;
	bool need_blank, need_crlf;
	bool last_lf;		/* the last octet fed was LF */
	bool done;
};

void smtp_hdrscan_init(struct smtp_hdrscan *h);

/* Returns true once the header section has ended (now or before). */
bool smtp_hdrscan_feed(struct smtp_hdrscan *h, const uint8_t *p, size_t len);

/* The message is complete: a header section still open ends here. */
void smtp_hdrscan_finish(struct smtp_hdrscan *h);

/*
 * The fields to insert: Date (date_value) and Message-ID (msgid_value)
 * when the scan did not see them, with the CRLF or empty line the scan
 * asked for.  Returns the length (0: nothing to add), or -ENOSPC.
 */
int smtp_hdrscan_fields(const struct smtp_hdrscan *h, const char *date_value,
    const char *msgid_value, char *buf, size_t size);

#endif
