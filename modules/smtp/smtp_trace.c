/* smtp_trace.c: Received, Return-Path, Date, Message-ID; the header scan */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "smtp_addr.h"
#include "smtp_trace.h"

/* appends to buf; *len grows even past size so overflow is seen once */
static void
put(char *buf, size_t size, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void
put(char *buf, size_t size, size_t *len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(*len < size ? buf + *len : NULL,
	    *len < size ? size - *len : 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		*len += (size_t)n;
}

static int
done(size_t len, size_t size)
{
	return len < size ? (int)len : -ENOSPC;
}

int
smtp_trace_date(int64_t t, long gmtoff, char *buf, size_t size)
{
	static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu",
		"Fri", "Sat" };
	static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr",
		"May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t local = (time_t)(t + gmtoff);
	long off = gmtoff < 0 ? -gmtoff : gmtoff;
	struct tm tm;
	size_t len = 0;

	if (gmtime_r(&local, &tm) == NULL || tm.tm_wday < 0 ||
	    tm.tm_wday > 6 || tm.tm_mon < 0 || tm.tm_mon > 11)
		return -EINVAL;
	put(buf, size, &len, "%s, %d %s %04d %02d:%02d:%02d %c%02ld%02ld",
	    days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec,
	    gmtoff < 0 ? '-' : '+', off / 3600, (off / 60) % 60);
	return done(len, size);
}

const char *
smtp_trace_with(bool esmtp, bool tls, bool auth, bool utf8)
{
	static const char *const esmtp_names[4] = { "ESMTP", "ESMTPS",
		"ESMTPA", "ESMTPSA" };
	static const char *const utf8_names[4] = { "UTF8SMTP", "UTF8SMTPS",
		"UTF8SMTPA", "UTF8SMTPSA" };
	unsigned i = (tls ? 1u : 0u) | (auth ? 2u : 0u);

	if (utf8)
		return utf8_names[i];
	return esmtp ? esmtp_names[i] : "SMTP";
}

/* What may stand in a comment: printable ASCII but the comment syntax. */
static void
put_comment_text(char *buf, size_t size, size_t *len, const char *s)
{
	char tmp[128];
	size_t i, n = 0;

	for (i = 0; s[i] != '\0' && n < sizeof(tmp) - 1; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c < 0x7f && c != '(' && c != ')' &&
		    c != '\\')
			tmp[n++] = (char)c;
	}
	tmp[n] = '\0';
	put(buf, size, len, "%s", tmp);
}

int
smtp_trace_received(const struct smtp_received *r, char *buf, size_t size)
{
	bool v6 = r->ip != NULL && strchr(r->ip, ':') != NULL;
	const char *helo = r->helo;
	size_t len = 0;

	if (helo != NULL && !r->utf8 &&
	    smtp_addr_has_8bit(helo, strlen(helo)))
		helo = NULL;
	if (helo != NULL)
		put(buf, size, &len, "Received: from %s ([%s%s])\r\n", helo,
		    v6 ? "IPv6:" : "", r->ip != NULL ? r->ip : "");
	else
		put(buf, size, &len, "Received: from [%s%s] ([%s%s])\r\n",
		    v6 ? "IPv6:" : "", r->ip != NULL ? r->ip : "",
		    v6 ? "IPv6:" : "", r->ip != NULL ? r->ip : "");
	put(buf, size, &len, "\tby %s (Posta) with %s id %s", r->by, r->with,
	    r->id);
	if (r->tls != NULL) {
		put(buf, size, &len, "\r\n\t(using ");
		put_comment_text(buf, size, &len, r->tls);
		put(buf, size, &len, ")");
	}
	if (r->rcpt != NULL && (r->utf8 ||
	    !smtp_addr_has_8bit(r->rcpt, strlen(r->rcpt))))
		put(buf, size, &len, "\r\n\tfor <%s>", r->rcpt);
	put(buf, size, &len, ";\r\n\t%s\r\n", r->date);
	return done(len, size);
}

int
smtp_trace_return_path(const char *sender, char *buf, size_t size)
{
	size_t len = 0;

	put(buf, size, &len, "Return-Path: <%s>\r\n", sender);
	return done(len, size);
}

int
smtp_trace_msgid(int64_t t, uint64_t random, const char *id,
    const char *host, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;
	size_t len = 0;

	if (gmtime_r(&tt, &tm) == NULL)
		return -EINVAL;
	put(buf, size, &len, "<%04d%02d%02d%02d%02d%02d.%016llx.%s@%s>",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, (unsigned long long)random, id, host);
	return done(len, size);
}

/* ---- header scan ---- */

enum hs_state {
	HS_START = 0,		/* at the first octet of a line */
	HS_START_CR,		/* a line that so far is one CR */
	HS_NAME,		/* in a field name */
	HS_NAME_WSP,		/* blanks after a field name */
	HS_VALUE,		/* the rest of a field (or continuation) line */
};

void
smtp_hdrscan_init(struct smtp_hdrscan *h)
{
	memset(h, 0, sizeof(*h));
	h->state = HS_START;
}

static void
hs_end(struct smtp_hdrscan *h, bool need_blank)
{
	h->done = true;
	h->end_off = h->line_off;
	h->need_blank = need_blank;
}

/* RFC 5322 3.6.8 ftext: printable ASCII except ':' */
static bool
is_ftext(uint8_t c)
{
	return c >= 33 && c <= 126 && c != ':';
}

static void
hs_field_named(struct smtp_hdrscan *h)
{
	if (h->name_len == 4 && memcmp(h->name, "date", 4) == 0)
		h->has_date = true;
	else if (h->name_len == 10 && memcmp(h->name, "message-id", 10) == 0)
		h->has_msgid = true;
	h->state = HS_VALUE;
}

bool
smtp_hdrscan_feed(struct smtp_hdrscan *h, const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i < len && !h->done; i++) {
		uint8_t c = p[i];
		char lc = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);

		switch (h->state) {
		case HS_START:
			if (c == '\n') {
				hs_end(h, false);
			} else if (c == '\r') {
				h->state = HS_START_CR;
			} else if (c == ' ' || c == '\t') {
				/* a continuation needs a field before it */
				if (h->line_off == 0)
					hs_end(h, true);
				else
					h->state = HS_VALUE;
			} else if (is_ftext(c)) {
				h->name[0] = lc;
				h->name_len = 1;
				h->state = HS_NAME;
			} else {
				hs_end(h, true);
			}
			break;
		case HS_START_CR:
			/* CRLF: the empty line; CR and more: not a field */
			hs_end(h, c != '\n');
			break;
		case HS_NAME:
			if (is_ftext(c)) {
				if (h->name_len < sizeof(h->name))
					h->name[h->name_len] = lc;
				h->name_len++;
			} else if (c == ':') {
				hs_field_named(h);
			} else if (c == ' ' || c == '\t') {
				h->state = HS_NAME_WSP;
			} else {
				hs_end(h, true);
			}
			break;
		case HS_NAME_WSP:
			if (c == ':')
				hs_field_named(h);
			else if (c != ' ' && c != '\t')
				hs_end(h, true);
			break;
		case HS_VALUE:
			if (c == '\n') {
				h->state = HS_START;
				h->line_off = h->off + i + 1;
			}
			break;
		}
	}
	h->off += len;
	if (len > 0)
		h->last_lf = p[len - 1] == '\n';
	return h->done;
}

void
smtp_hdrscan_finish(struct smtp_hdrscan *h)
{
	if (h->done)
		return;
	h->done = true;
	h->need_blank = false;
	if (h->state == HS_START) {
		/* every line ended: insert after the last */
		h->end_off = h->off;
		h->need_crlf = false;
	} else {
		/* an unterminated last line: end it first */
		h->end_off = h->off;
		h->need_crlf = true;
	}
}

int
smtp_hdrscan_fields(const struct smtp_hdrscan *h, const char *date_value,
    const char *msgid_value, char *buf, size_t size)
{
	size_t len = 0;

	if (size > 0)
		buf[0] = '\0';
	if (h->has_date && h->has_msgid)
		return 0;
	if (h->need_crlf)
		put(buf, size, &len, "\r\n");
	if (!h->has_date)
		put(buf, size, &len, "Date: %s\r\n", date_value);
	if (!h->has_msgid)
		put(buf, size, &len, "Message-ID: %s\r\n", msgid_value);
	if (h->need_blank)
		put(buf, size, &len, "\r\n");
	return done(len, size);
}
