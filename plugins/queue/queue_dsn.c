/* queue_dsn.c: delivery status notifications (RFC 3464) for failures */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "queue_dsn.h"

struct qdsn_buf {
	char *p;
	size_t len, cap;
	bool oom;
};

static bool
qdsn_room(struct qdsn_buf *b, size_t need)
{
	if (b->oom)
		return false;
	if (b->len + need + 1 > b->cap) {
		size_t cap = b->cap == 0 ? 4096 : b->cap;
		char *np;

		while (cap < b->len + need + 1)
			cap *= 2;
		np = realloc(b->p, cap);
		if (np == NULL) {
			b->oom = true;
			return false;
		}
		b->p = np;
		b->cap = cap;
	}
	return true;
}

static void
qdsn_put(struct qdsn_buf *b, const char *s, size_t n)
{
	if (!qdsn_room(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
qdsn_puts(struct qdsn_buf *b, const char *s)
{
	qdsn_put(b, s, strlen(s));
}

static void qdsn_printf(struct qdsn_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void
qdsn_printf(struct qdsn_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !qdsn_room(b, (size_t)n)) {
		b->oom = true;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/*
 * A value as it may stand in a header field: control bytes (CR and LF
 * above all, which would start a field of the sender's choosing) become
 * '?'.  UTF-8 stays: only the global types may carry it, and the caller
 * chose them for UTF-8 addresses.
 */
static void
qdsn_put_value(struct qdsn_buf *b, const char *s, size_t max)
{
	size_t i;

	for (i = 0; s[i] != '\0' && i < max; i++) {
		char c = s[i];

		if ((unsigned char)c < 0x20 || c == 0x7f)
			c = '?';
		qdsn_put(b, &c, 1);
	}
}

void
qdsn_date(int64_t t, char buf[40])
{
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu",
	    "Fri", "Sat" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr",
	    "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	snprintf(buf, 40, "%s, %02d %s %04d %02d:%02d:%02d +0000",
	    days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

size_t
qdsn_header_len(const char *msg, size_t len)
{
	size_t i;

	if (len >= 2 && msg[0] == '\r' && msg[1] == '\n')
		return 2;
	if (len >= 1 && msg[0] == '\n')
		return 1;
	for (i = 0; i + 1 < len; i++) {
		if (msg[i] != '\n')
			continue;
		if (msg[i + 1] == '\n')
			return i + 2;
		if (i + 2 < len && msg[i + 1] == '\r' && msg[i + 2] == '\n')
			return i + 3;
	}
	return len;
}

static bool
qdsn_boundary_valid(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > 60)
		return false;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '=' ||
		    c == '_' || c == '-'))
			return false;
	}
	return true;
}

static bool
qdsn_has_8bit(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80)
			return true;
	return false;
}

/* The human part: who failed and why, in plain words. */
static void
qdsn_text_part(struct qdsn_buf *b, const struct qdsn_input *in)
{
	size_t i;

	qdsn_printf(b, "Content-Type: text/plain; charset=%s\r\n"
	    "Content-Description: Notification\r\n\r\n",
	    in->utf8 ? "utf-8" : "us-ascii");
	qdsn_printf(b, "This is the mail system at host %s.\r\n\r\n",
	    in->reporting_mta);
	qdsn_puts(b, "Your message could not be delivered to one or more "
	    "recipients.\r\n");
	if (in->orig_missing)
		qdsn_puts(b, "The original message was not available any more "
		    "(it was removed\r\nfrom the mail queue), so it is not "
		    "attached. The details of the\r\nfailure follow."
		    "\r\n\r\n");
	else
		qdsn_puts(b, "It is attached below, with the details of the "
		    "failure.\r\n\r\n");
	for (i = 0; i < in->n_rcpts; i++) {
		const struct qdsn_rcpt *r = &in->rcpts[i];

		qdsn_puts(b, "<");
		qdsn_put_value(b, r->address, 512);
		qdsn_puts(b, ">: ");
		if (r->remote != NULL) {
			qdsn_puts(b, "host ");
			qdsn_put_value(b, r->remote, 255);
			qdsn_puts(b, " said: ");
		}
		qdsn_put_value(b, r->diag != NULL ? r->diag :
		    "delivery failed", 1024);
		if (r->status[0] == '4')
			qdsn_puts(b, " (gave up after retrying)");
		qdsn_puts(b, "\r\n");
	}
}

/* The machine part: message/delivery-status fields (RFC 3464 2.2, 2.3). */
static void
qdsn_status_part(struct qdsn_buf *b, const struct qdsn_input *in)
{
	char date[40];
	size_t i;

	qdsn_printf(b, "Content-Type: message/%s\r\n"
	    "Content-Description: Delivery report\r\n\r\n",
	    in->utf8 ? "global-delivery-status" : "delivery-status");
	qdsn_puts(b, "Reporting-MTA: dns; ");
	qdsn_put_value(b, in->reporting_mta, 255);
	qdsn_printf(b, "\r\nX-Posta-Queue-ID: %s\r\n", in->queue_id);
	if (in->envid != NULL) {
		qdsn_puts(b, "Original-Envelope-Id: ");
		qdsn_put_value(b, in->envid, 100);
		qdsn_puts(b, "\r\n");
	}
	qdsn_date(in->arrival, date);
	qdsn_printf(b, "Arrival-Date: %s\r\n", date);
	for (i = 0; i < in->n_rcpts; i++) {
		const struct qdsn_rcpt *r = &in->rcpts[i];

		qdsn_puts(b, "\r\n");
		if (r->orcpt != NULL && strchr(r->orcpt, ';') != NULL) {
			qdsn_puts(b, "Original-Recipient: ");
			qdsn_put_value(b, r->orcpt, 600);
			qdsn_puts(b, "\r\n");
		}
		qdsn_printf(b, "Final-Recipient: %s; ",
		    in->utf8 ? "utf-8" : "rfc822");
		qdsn_put_value(b, r->address, 512);
		qdsn_puts(b, "\r\nAction: failed\r\nStatus: ");
		qdsn_put_value(b, r->status, 12);
		qdsn_puts(b, "\r\n");
		if (r->remote != NULL) {
			qdsn_puts(b, "Remote-MTA: dns; ");
			qdsn_put_value(b, r->remote, 255);
			qdsn_puts(b, "\r\n");
		}
		if (r->diag != NULL) {
			/* an SMTP reply is typed smtp; our own words are not */
			qdsn_puts(b, r->remote != NULL ?
			    "Diagnostic-Code: smtp; " :
			    "Diagnostic-Code: X-Posta; ");
			qdsn_put_value(b, r->diag, 900);
			qdsn_puts(b, "\r\n");
		}
		if (r->when > 0) {
			qdsn_date(r->when, date);
			qdsn_printf(b, "Last-Attempt-Date: %s\r\n", date);
		}
	}
}

/* The third part: the message, or its header. */
static void
qdsn_orig_part(struct qdsn_buf *b, const struct qdsn_input *in, bool orig8)
{
	qdsn_printf(b, "\r\n--%s\r\n", in->boundary);
	if (in->orig_headers_only)
		qdsn_printf(b, "Content-Type: %s\r\n"
		    "Content-Description: Undelivered Message Headers\r\n",
		    in->utf8 ? "message/global-headers" :
		    "text/rfc822-headers");
	else
		qdsn_printf(b, "Content-Type: %s\r\n"
		    "Content-Description: Undelivered Message\r\n",
		    in->utf8 ? "message/global" : "message/rfc822");
	if (orig8)
		qdsn_puts(b, "Content-Transfer-Encoding: 8bit\r\n");
	qdsn_puts(b, "\r\n");
	qdsn_put(b, in->orig, in->orig_len);
	/* the close delimiter must start a line of its own */
	if (in->orig_len > 0 && in->orig[in->orig_len - 1] != '\n')
		qdsn_puts(b, "\r\n");
}

int
qdsn_build(const struct qdsn_input *in, char **out_r, size_t *len_r,
    bool *eightbit_r)
{
	struct qdsn_buf b = { NULL, 0, 0, false };
	char date[40];
	bool orig8 = !in->orig_missing && qdsn_has_8bit(in->orig,
	    in->orig_len);
	size_t i;

	if (in->n_rcpts == 0 || !qdsn_boundary_valid(in->boundary))
		return -EINVAL;
	qdsn_date(in->now, date);
	qdsn_printf(&b, "From: Mail Delivery System <%s>\r\n", in->postmaster);
	qdsn_puts(&b, "To: <");
	qdsn_put_value(&b, in->sender, 512);
	qdsn_puts(&b, ">\r\n");
	qdsn_printf(&b, "Subject: Undelivered Mail Returned to Sender\r\n"
	    "Date: %s\r\nMessage-ID: %s\r\n"
	    "Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
	    "Content-Type: multipart/report; report-type=%s;\r\n"
	    "\tboundary=\"%s\"\r\n", date, in->message_id,
	    in->utf8 ? "global-delivery-status" : "delivery-status",
	    in->boundary);
	if (orig8 || in->utf8)
		qdsn_puts(&b, "Content-Transfer-Encoding: 8bit\r\n");
	qdsn_printf(&b, "\r\nThis is a MIME-encapsulated message.\r\n\r\n"
	    "--%s\r\n", in->boundary);
	qdsn_text_part(&b, in);
	qdsn_printf(&b, "\r\n--%s\r\n", in->boundary);
	qdsn_status_part(&b, in);
	if (!in->orig_missing)
		qdsn_orig_part(&b, in, orig8);
	qdsn_printf(&b, "\r\n--%s--\r\n", in->boundary);
	if (b.oom) {
		free(b.p);
		return -ENOMEM;
	}
	*eightbit_r = false;
	for (i = 0; i < b.len && !*eightbit_r; i++)
		if ((unsigned char)b.p[i] >= 0x80)
			*eightbit_r = true;
	*out_r = b.p;
	*len_r = b.len;
	return 0;
}
