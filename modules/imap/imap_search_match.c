/* imap_search_match.c: SEARCH text matching: headers, encoded words, dates */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "imap_search_match.h"
#include "util.h"

static uint8_t
lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
}

/* ---- substring search ---- */

int
imap_substr_init(struct arena *a, struct imap_substr *m, const char *needle,
    size_t len)
{
	size_t i;

	memset(m, 0, sizeof(*m));
	m->len = len;
	m->found = len == 0;
	if (len == 0)
		return 0;
	m->needle = arena_alloc(a, len);
	m->tail = arena_alloc(a, len);
	if (m->needle == NULL || m->tail == NULL)
		return -ENOMEM;
	for (i = 0; i < len; i++)
		m->needle[i] = lower((uint8_t)needle[i]);
	return 0;
}

void
imap_substr_reset(struct imap_substr *m)
{
	m->tail_len = 0;
	m->found = m->len == 0;
}

/* Is the needle at h (at least m->len bytes), ignoring case of h? */
static bool
at(const struct imap_substr *m, const uint8_t *h)
{
	size_t i;

	for (i = 0; i < m->len; i++)
		if (lower(h[i]) != m->needle[i])
			return false;
	return true;
}

void
imap_substr_feed(struct imap_substr *m, const uint8_t *data, size_t len)
{
	size_t i, keep;

	if (m->found || len == 0)
		return;
	/* matches that start in the tail and end in data */
	for (i = 0; i < m->tail_len; i++) {
		size_t from_tail = m->tail_len - i, k;
		bool ok = true;

		if (from_tail + len < m->len)
			continue;
		for (k = 0; k < m->len && ok; k++) {
			uint8_t c = k < from_tail ? m->tail[i + k] :
			    lower(data[k - from_tail]);

			ok = c == m->needle[k];
		}
		if (ok) {
			m->found = true;
			return;
		}
	}
	if (len >= m->len) {
		uint8_t first = m->needle[0];
		uint8_t other = first >= 'a' && first <= 'z' ?
		    (uint8_t)(first - 32) : first;

		for (i = 0; i + m->len <= len; i++) {
			const uint8_t *p = memchr(data + i, first,
			    len - m->len + 1 - i);
			const uint8_t *q = other != first ? memchr(data + i,
			    other, len - m->len + 1 - i) : NULL;

			if (p == NULL || (q != NULL && q < p))
				p = q;
			if (p == NULL)
				break;
			i = (size_t)(p - data);
			if (at(m, p)) {
				m->found = true;
				return;
			}
		}
	}
	/* keep the last len - 1 bytes for the next chunk */
	keep = m->len - 1;
	if (len >= keep) {
		for (i = 0; i < keep; i++)
			m->tail[i] = lower(data[len - keep + i]);
		m->tail_len = keep;
	} else {
		size_t drop = m->tail_len + len > keep ?
		    m->tail_len + len - keep : 0;

		memmove(m->tail, m->tail + drop, m->tail_len - drop);
		m->tail_len -= drop;
		for (i = 0; i < len; i++)
			m->tail[m->tail_len++] = lower(data[i]);
	}
}

bool
imap_contains_nocase(const char *hay, size_t hay_len, const char *needle,
    size_t needle_len)
{
	size_t i, k;

	if (needle_len == 0)
		return true;
	if (needle_len > hay_len)
		return false;
	for (i = 0; i + needle_len <= hay_len; i++) {
		for (k = 0; k < needle_len; k++)
			if (lower((uint8_t)hay[i + k]) !=
			    lower((uint8_t)needle[k]))
				break;
		if (k == needle_len)
			return true;
	}
	return false;
}

/* ---- header fields ---- */

int
imap_header_fields(const uint8_t *hdr, size_t len, imap_header_field_fn *fn,
    void *ctx)
{
	size_t pos = 0;
	char *scratch = NULL;
	size_t cap = 0;
	int r = 0;

	while (pos < len && r == 0) {
		size_t start = pos, end, colon, vlen = 0, i;

		if (hdr[pos] == '\r' || hdr[pos] == '\n')
			break;
		/* a field ends at a line that does not start with WSP */
		end = pos;
		for (;;) {
			const uint8_t *lf = memchr(hdr + end, '\n', len - end);

			end = lf != NULL ? (size_t)(lf - hdr) + 1 : len;
			if (end >= len || (hdr[end] != ' ' && hdr[end] != '\t'))
				break;
		}
		pos = end;
		for (colon = start; colon < end && hdr[colon] != ':'; colon++)
			;
		if (colon >= end)
			continue;	/* not a field: skip it */
		if (end - colon > cap) {
			char *n = realloc(scratch, end - colon + 1);

			if (n == NULL) {
				r = -ENOMEM;
				break;
			}
			scratch = n;
			cap = end - colon;
		}
		/* unfold: drop CR and LF, keep the WSP that follows */
		for (i = colon + 1; i < end; i++)
			if (hdr[i] != '\r' && hdr[i] != '\n')
				scratch[vlen++] = (char)hdr[i];
		while (vlen > 0 && (scratch[vlen - 1] == ' ' ||
		    scratch[vlen - 1] == '\t'))
			vlen--;
		i = 0;
		while (i < vlen && (scratch[i] == ' ' || scratch[i] == '\t'))
			i++;
		scratch[vlen] = '\0';
		{
			size_t nlen = colon - start;

			while (nlen > 0 && (hdr[start + nlen - 1] == ' ' ||
			    hdr[start + nlen - 1] == '\t'))
				nlen--;
			r = fn(ctx, (const char *)hdr + start, nlen,
			    scratch + i, vlen - i);
		}
	}
	free(scratch);
	return r;
}

/* ---- RFC 2047 ---- */

/* Appends a decoded byte as UTF-8 (Latin-1 bytes become two). */
static void
put_byte(char *out, size_t *n, uint8_t b, bool latin1)
{
	if (latin1 && b >= 0x80) {
		out[(*n)++] = (char)(0xc0 | (b >> 6));
		out[(*n)++] = (char)(0x80 | (b & 0x3f));
	} else {
		out[(*n)++] = (char)b;
	}
}

/*
 * One encoded word at in[0..len): "=?cs?E?text?=".  Returns its length
 * when it is one we decode (and appends the decoding), else 0.
 */
static size_t
decode_word(const char *in, size_t len, char *out, size_t *n)
{
	size_t i, cs_end, enc, text, end;
	bool latin1;

	if (len < 8 || in[0] != '=' || in[1] != '?')
		return 0;
	for (cs_end = 2; cs_end < len && in[cs_end] != '?'; cs_end++)
		if (in[cs_end] == ' ')
			return 0;
	if (cs_end + 3 >= len || in[cs_end + 2] != '?')
		return 0;
	enc = cs_end + 1;
	text = cs_end + 3;
	for (end = text; end + 1 < len; end++)
		if (in[end] == '?' && in[end + 1] == '=')
			break;
	if (end + 1 >= len)
		return 0;
	{
		size_t cslen = cs_end - 2;
		const char *cs = in + 2;
		const char *star = memchr(cs, '*', cslen);	/* RFC 2231 */

		if (star != NULL)
			cslen = (size_t)(star - cs);
		if (cslen == 5 && util_memcaseeq(cs, "UTF-8", 5))
			latin1 = false;
		else if (cslen == 8 && util_memcaseeq(cs, "US-ASCII", 8))
			latin1 = false;
		else if ((cslen == 10 &&
		    util_memcaseeq(cs, "ISO-8859-1", 10)) || (cslen == 12 &&
		    util_memcaseeq(cs, "WINDOWS-1252", 12)))
			latin1 = true;
		else
			return 0;
	}
	if (in[enc] == 'Q' || in[enc] == 'q') {
		for (i = text; i < end; i++) {
			if (in[i] == '_') {
				out[(*n)++] = ' ';
			} else if (in[i] == '=' && i + 2 < end &&
			    util_hexval(in[i + 1]) >= 0 && util_hexval(in[i + 2]) >= 0) {
				put_byte(out, n, (uint8_t)(util_hexval(in[i + 1]) *
				    16 + util_hexval(in[i + 2])), latin1);
				i += 2;
			} else {
				put_byte(out, n, (uint8_t)in[i], latin1);
			}
		}
	} else if (in[enc] == 'B' || in[enc] == 'b') {
		uint32_t acc = 0;
		int bits = 0;

		for (i = text; i < end; i++) {
			int v = base64_value(in[i]);

			if (v < 0)
				continue;	/* padding and junk */
			acc = (acc << 6) | (uint32_t)v;
			bits += 6;
			if (bits >= 8) {
				bits -= 8;
				put_byte(out, n, (uint8_t)(acc >> bits),
				    latin1);
				acc &= (1u << bits) - 1;
			}
		}
	} else {
		return 0;
	}
	return end + 2;
}

char *
imap_decode_words(struct arena *a, const char *in, size_t len)
{
	/* decoding never grows a word by more than Latin-1's doubling */
	char *out = arena_alloc(a, len * 2 + 1);
	size_t i = 0, n = 0, after_word = (size_t)-1;

	if (out == NULL)
		return NULL;
	while (i < len) {
		size_t w = in[i] == '=' ? decode_word(in + i, len - i, out,
		    &n) : 0;

		if (w > 0) {
			i += w;
			after_word = n;
			continue;
		}
		if (in[i] == ' ' || in[i] == '\t') {
			/* whitespace between two encoded words vanishes */
			size_t j = i;

			while (j < len && (in[j] == ' ' || in[j] == '\t'))
				j++;
			if (after_word == n && j < len && in[j] == '=' &&
			    j + 1 < len && in[j + 1] == '?') {
				size_t save = n, w2 = decode_word(in + j,
				    len - j, out, &n);

				if (w2 > 0) {
					i = j + w2;
					after_word = n;
					continue;
				}
				n = save;
			}
		}
		out[n++] = in[i++];
	}
	out[n] = '\0';
	return out;
}

/* ---- dates ---- */

int64_t
imap_days_from_civil(int y, unsigned m, unsigned d)
{
	/* Howard Hinnant's algorithm, in days relative to 1970-01-01 */
	int64_t yy = (int64_t)y - (m <= 2);
	int64_t era = (yy >= 0 ? yy : yy - 399) / 400;
	int64_t yoe = yy - era * 400;
	int64_t doy = (153 * (int64_t)(m > 2 ? m - 3 : m + 9) + 2) / 5 +
	    (int64_t)d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + doe - 719468;
}

int
imap_rfc5322_date(const char *v, int64_t *days_r)
{
	static const char *const months[] = { "jan", "feb", "mar", "apr",
		"may", "jun", "jul", "aug", "sep", "oct", "nov", "dec" };
	const char *p = v, *comma = strchr(v, ',');
	unsigned day = 0, month = 0, i;
	int year = 0, digits = 0;

	if (comma != NULL)
		p = comma + 1;
	while (*p == ' ' || *p == '\t')
		p++;
	while (*p >= '0' && *p <= '9' && day < 100)
		day = day * 10 + (unsigned)(*p++ - '0');
	if (day < 1 || day > 31)
		return -EINVAL;
	while (*p == ' ' || *p == '\t' || *p == '-')
		p++;
	for (i = 0; i < 12; i++)
		if (strlen(p) >= 3 && util_memcaseeq(p, months[i], 3))
			month = i + 1;
	if (month == 0)
		return -EINVAL;
	p += 3;
	while (*p == ' ' || *p == '\t' || *p == '-')
		p++;
	while (*p >= '0' && *p <= '9' && digits < 5) {
		year = year * 10 + (*p++ - '0');
		digits++;
	}
	if (digits == 2)
		year += year < 50 ? 2000 : 1900;	/* RFC 5322 4.3 */
	else if (digits == 3)
		year += 1900;
	else if (digits != 4)
		return -EINVAL;
	*days_r = imap_days_from_civil(year, month, day);
	return 0;
}

/* ---- MIME body decoding ---- */

/* The value of a header field (not unfolded beyond what we need). */
static bool
field_is(const uint8_t *line, size_t len, const char *name)
{
	size_t n = strlen(name);

	return len > n && line[n] == ':' && util_memcaseeq(line, name, n);
}

static bool
value_has(const uint8_t *v, size_t len, const char *word)
{
	return imap_contains_nocase((const char *)v, len, word, strlen(word));
}

void
imap_mime_info(const uint8_t *hdr, size_t len, struct imap_mime_info *info)
{
	size_t pos = 0;

	info->cte = IMAP_CTE_IDENTITY;
	info->is_text = true;		/* RFC 2045 5.2: text/plain by default */
	info->latin1 = false;
	while (pos < len) {
		size_t start = pos, end;
		const uint8_t *lf;

		if (hdr[pos] == '\r' || hdr[pos] == '\n')
			break;
		/* one field with its continuation lines */
		end = pos;
		for (;;) {
			lf = memchr(hdr + end, '\n', len - end);
			end = lf != NULL ? (size_t)(lf - hdr) + 1 : len;
			if (end >= len || (hdr[end] != ' ' && hdr[end] != '\t'))
				break;
		}
		pos = end;
		if (field_is(hdr + start, end - start,
		    "Content-Transfer-Encoding")) {
			const uint8_t *v = hdr + start + 26;
			size_t vlen = end - start - 26;

			if (value_has(v, vlen, "base64"))
				info->cte = IMAP_CTE_BASE64;
			else if (value_has(v, vlen, "quoted-printable"))
				info->cte = IMAP_CTE_QP;
		} else if (field_is(hdr + start, end - start,
		    "Content-Type")) {
			const uint8_t *v = hdr + start + 13;
			size_t vlen = end - start - 13, i = 0;

			while (i < vlen && (v[i] == ' ' || v[i] == '\t'))
				i++;
			info->is_text = vlen - i >= 5 &&
			    util_memcaseeq(v + i, "text/", 5);
			info->latin1 = value_has(v, vlen, "iso-8859-1") ||
			    value_has(v, vlen, "windows-1252") ||
			    value_has(v, vlen, "latin1");
		}
	}
}

void
imap_body_decoder_init(struct imap_body_decoder *d,
    const struct imap_mime_info *info)
{
	memset(d, 0, sizeof(*d));
	d->cte = info->cte;
	d->latin1 = info->latin1;
}

static size_t
emit(const struct imap_body_decoder *d, uint8_t *out, size_t n, uint8_t b)
{
	size_t k = n;

	put_byte((char *)out, &k, b, d->latin1);
	return k;
}

size_t
imap_body_decode(struct imap_body_decoder *d, const uint8_t *in, size_t len,
    uint8_t *out)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++) {
		uint8_t c = in[i];

		if (d->cte == IMAP_CTE_BASE64) {
			int v = base64_value((char)c);

			if (v < 0)
				continue;	/* line ends, padding */
			d->acc = (d->acc << 6) | (uint32_t)v;
			d->bits += 6;
			if (d->bits >= 8) {
				d->bits -= 8;
				n = emit(d, out, n, (uint8_t)(d->acc >>
				    d->bits));
				d->acc &= (1u << d->bits) - 1;
			}
		} else if (d->cte == IMAP_CTE_QP) {
			if (d->qp_len == 0 && c != '=') {
				n = emit(d, out, n, c);
				continue;
			}
			d->qp[d->qp_len++] = c;
			if (d->qp_len < 3)
				continue;
			d->qp_len = 0;
			if (util_hexval((char)d->qp[1]) >= 0 &&
			    util_hexval((char)d->qp[2]) >= 0) {
				n = emit(d, out, n, (uint8_t)(
				    util_hexval((char)d->qp[1]) * 16 +
				    util_hexval((char)d->qp[2])));
			} else if (d->qp[1] == '\r' && d->qp[2] == '\n') {
				continue;	/* soft line break */
			} else if (d->qp[1] == '\n') {
				/* bare LF soft break: the next char is data */
				if (d->qp[2] == '=')
					d->qp[d->qp_len++] = '=';
				else
					n = emit(d, out, n, d->qp[2]);
			} else {
				/* not an escape: the bytes as they were */
				n = emit(d, out, n, d->qp[0]);
				n = emit(d, out, n, d->qp[1]);
				if (d->qp[2] == '=')
					d->qp[d->qp_len++] = '=';
				else
					n = emit(d, out, n, d->qp[2]);
			}
		} else {
			n = emit(d, out, n, c);
		}
	}
	return n;
}
