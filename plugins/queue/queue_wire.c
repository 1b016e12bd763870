/* queue_wire.c: pure SMTP client code: replies, EHLO, dot-stuffing */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue_wire.h"
#include "util.h"

void
qwire_parser_init(struct qwire_parser *p)
{
	memset(p, 0, sizeof(*p));
}

static bool
qwire_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/*
 * One complete line (without its terminator) into the reply.  Returns
 * REPLY when it was the last line, NEED_MORE, or ERROR.
 */
static enum qwire_result
qwire_line(struct qwire_parser *p, const char *line, size_t len)
{
	struct qwire_reply *r = &p->reply;
	bool last;
	int code;
	size_t tlen;

	if (len < 3 || !qwire_is_digit(line[0]) || !qwire_is_digit(line[1]) ||
	    !qwire_is_digit(line[2]) || line[0] < '2' || line[0] > '5')
		return QWIRE_ERROR;
	if (len > 3 && line[3] != ' ' && line[3] != '-')
		return QWIRE_ERROR;
	code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	last = len == 3 || line[3] == ' ';
	if (r->n_lines > 0 && code != r->code)
		return QWIRE_ERROR;
	if (r->n_lines == QWIRE_LINES_MAX)
		return QWIRE_ERROR;
	tlen = len > 4 ? len - 4 : 0;
	if (r->text_len + tlen + 1 > sizeof(r->text))
		return QWIRE_ERROR;
	r->code = code;
	if (tlen > 0)
		memcpy(r->text + r->text_len, line + 4, tlen);
	r->text[r->text_len + tlen] = '\0';
	r->lines[r->n_lines++] = r->text + r->text_len;
	r->text_len += tlen + 1;
	return last ? QWIRE_REPLY : QWIRE_NEED_MORE;
}

enum qwire_result
qwire_feed(struct qwire_parser *p, const uint8_t *in, size_t len,
    size_t *used_r)
{
	size_t i;

	/* a reply handed out by the previous call is done with */
	if (p->done) {
		memset(&p->reply, 0, sizeof(p->reply));
		p->done = false;
	}
	for (i = 0; i < len; i++) {
		char c = (char)in[i];
		enum qwire_result res;
		size_t n;

		if (c != '\n') {
			if (p->line_len < QWIRE_LINE_MAX)
				p->line[p->line_len++] = c;
			else
				p->skipping = true;
			continue;
		}
		if (p->skipping) {
			*used_r = i + 1;
			return QWIRE_ERROR;
		}
		n = p->line_len;
		if (n > 0 && p->line[n - 1] == '\r')
			n--;
		p->line_len = 0;
		res = qwire_line(p, p->line, n);
		if (res == QWIRE_ERROR) {
			*used_r = i + 1;
			return QWIRE_ERROR;
		}
		if (res == QWIRE_REPLY) {
			*used_r = i + 1;
			p->done = true;
			return QWIRE_REPLY;
		}
	}
	*used_r = len;
	return QWIRE_NEED_MORE;
}

void
qwire_reply_summary(const struct qwire_reply *r, char *buf, size_t size)
{
	size_t i, n = 0;
	int k;

	if (size == 0)
		return;
	k = snprintf(buf, size, "%03d", r->code);
	n = k > 0 ? ((size_t)k < size ? (size_t)k : size - 1) : 0;
	for (i = 0; i < r->n_lines && n + 1 < size; i++) {
		const char *s = r->lines[i];

		buf[n++] = ' ';
		for (; *s != '\0' && n + 1 < size; s++) {
			unsigned char c = (unsigned char)*s;

			buf[n++] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
		}
	}
	buf[n] = '\0';
}

void
qwire_reply_status(const struct qwire_reply *r, char *buf, size_t size)
{
	const char *s = r->n_lines > 0 ? r->lines[0] : "";
	size_t i = 0, parts = 0, digits = 0;

	/* class.subject.detail: 1 digit, 1-3 digits, 1-3 digits */
	if (s[0] == (char)('0' + r->code / 100) && s[1] == '.') {
		for (i = 2; s[i] != '\0'; i++) {
			if (qwire_is_digit(s[i])) {
				if (++digits > 3)
					break;
			} else if (s[i] == '.' && digits > 0 && parts == 0) {
				parts++;
				digits = 0;
			} else {
				break;
			}
		}
		if (parts == 1 && digits > 0 && (s[i] == '\0' ||
		    s[i] == ' ') && i < size) {
			memcpy(buf, s, i);
			buf[i] = '\0';
			return;
		}
	}
	snprintf(buf, size, "%d.0.0", r->code / 100);
}

/* keyword at the start of line, followed by end or space; caseless */
static bool
qwire_kw(const char *line, const char *kw, const char **rest_r)
{
	size_t n = strlen(kw);

	if (!util_memcaseeq(line, kw, n) || strlen(line) < n ||
	    (line[n] != '\0' && line[n] != ' ' && line[n] != '='))
		return false;
	*rest_r = line + n;
	while (**rest_r == ' ' || **rest_r == '=')
		(*rest_r)++;
	return true;
}

void
qwire_parse_ehlo(const struct qwire_reply *r, struct qwire_caps *caps)
{
	size_t i;

	memset(caps, 0, sizeof(*caps));
	/* the first line is the greeting domain, not a keyword */
	for (i = 1; i < r->n_lines; i++) {
		const char *l = r->lines[i], *rest;

		if (strlen(l) < 3)
			continue;
		if (qwire_kw(l, "PIPELINING", &rest))
			caps->pipelining = true;
		else if (qwire_kw(l, "STARTTLS", &rest))
			caps->starttls = true;
		else if (qwire_kw(l, "8BITMIME", &rest))
			caps->eightbitmime = true;
		else if (qwire_kw(l, "SMTPUTF8", &rest))
			caps->smtputf8 = true;
		else if (qwire_kw(l, "DSN", &rest))
			caps->dsn = true;
		else if (qwire_kw(l, "SIZE", &rest)) {
			char *end;
			unsigned long long v;

			caps->size = true;
			if (*rest >= '0' && *rest <= '9') {
				v = strtoull(rest, &end, 10);
				if (*end == '\0' || *end == ' ')
					caps->size_max = v;
			}
		} else if (qwire_kw(l, "AUTH", &rest)) {
			while (*rest != '\0') {
				const char *m = rest;
				size_t n;

				while (*rest != '\0' && *rest != ' ')
					rest++;
				n = (size_t)(rest - m);
				if (n == 5 && util_memcaseeq(m, "PLAIN", 5))
					caps->auth_plain = true;
				if (n == 5 && util_memcaseeq(m, "LOGIN", 5))
					caps->auth_login = true;
				while (*rest == ' ')
					rest++;
			}
		}
	}
}

void
qwire_dot_init(struct qwire_dot *d)
{
	d->mid_line = false;
	d->pending_cr = false;
}

size_t
qwire_dot_encode(struct qwire_dot *d, const uint8_t *in, size_t len,
    uint8_t *out)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++) {
		uint8_t c = in[i];

		if (d->pending_cr) {
			d->pending_cr = false;
			out[n++] = '\r';
			out[n++] = '\n';
			d->mid_line = false;
			if (c == '\n')
				continue;
		}
		if (c == '\r') {
			d->pending_cr = true;
			continue;
		}
		if (c == '\n') {
			out[n++] = '\r';
			out[n++] = '\n';
			d->mid_line = false;
			continue;
		}
		if (!d->mid_line && c == '.')
			out[n++] = '.';
		out[n++] = c;
		d->mid_line = true;
	}
	return n;
}

size_t
qwire_dot_finish(struct qwire_dot *d, uint8_t *out)
{
	size_t n = 0;

	if (d->pending_cr || d->mid_line) {
		out[n++] = '\r';
		out[n++] = '\n';
	}
	memcpy(out + n, ".\r\n", 3);
	d->pending_cr = d->mid_line = false;
	return n + 3;
}

char *
qwire_xtext(const char *s, char *out)
{
	static const char hex[] = "0123456789ABCDEF";
	char *o = out;

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x21 || c > 0x7e || c == '+' || c == '=') {
			*o++ = '+';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 15];
		} else {
			*o++ = (char)c;
		}
	}
	*o = '\0';
	return out;
}
