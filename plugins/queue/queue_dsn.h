/* queue_dsn.h: delivery status notifications (RFC 3464) for failures */
#ifndef POSTA_QUEUE_DSN_H
#define POSTA_QUEUE_DSN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One failed recipient as the report lists it. */
struct qdsn_rcpt {
	const char *address;
	const char *orcpt;	/* "rfc822;a@b" or NULL */
	const char *status;	/* "5.1.1"; a 4.x.x when it expired */
	const char *remote;	/* remote MTA, or NULL (then diag is ours) */
	const char *diag;	/* the remote's reply or our reason, or NULL */
	int64_t when;		/* last attempt, seconds */
};

struct qdsn_input {
	const char *reporting_mta;	/* our host name */
	const char *postmaster;		/* From: address, MAILER-DAEMON@host */
	const char *sender;		/* the original envelope sender (To:) */
	const char *envid;		/* or NULL */
	const char *queue_id;
	int64_t arrival, now;		/* seconds since the epoch */
	bool utf8;			/* RFC 6533 global types */
	size_t n_rcpts;
	const struct qdsn_rcpt *rcpts;
	/* the original message, or just its header (orig_headers_only) */
	const char *orig;
	size_t orig_len;
	bool orig_headers_only;
	/* the original is gone: no third part, and the text says so (RFC
	   3464 2.1 makes the returned content optional); orig is unused */
	bool orig_missing;
	const char *boundary;		/* unique, [A-Za-z0-9.=_-]{1,60} */
	const char *message_id;		/* "<...>" */
};

/*
 * Builds the whole bounce message (header and multipart/report body, CRLF
 * line ends) into *out_r (malloc'd).  *eightbit_r says whether it holds
 * bytes above 0x7f (then it must go out as BODY=8BITMIME).  Returns 0,
 * -EINVAL (no recipients, a bad boundary) or -ENOMEM.
 */
int qdsn_build(const struct qdsn_input *in, char **out_r, size_t *len_r,
    bool *eightbit_r);

/*
 * Length of the header block of msg including the empty line that ends it
 * (CRLF or LF); the whole length when there is no empty line.
 */
size_t qdsn_header_len(const char *msg, size_t len);

/* RFC 5322 date-time in UTC: "Thu, 01 Jan 2026 00:00:00 +0000". */
void qdsn_date(int64_t t, char buf[40]);

#endif
