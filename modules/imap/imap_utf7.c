/* imap_utf7.c: strict modified UTF-7 <-> UTF-8 for IMAP mailbox names */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "arena.h"
#include "imap_utf7.h"

/* RFC 3501 5.1.3: RFC 2045 base64 with ',' in place of '/' */
static const char mb64[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

static int
mb64_value(uint8_t c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == ',')
		return 63;
	return -1;
}

/* Writes cp as UTF-8 at out + *o when out is set; always advances *o. */
static void
put_utf8(uint8_t *out, size_t *o, uint32_t cp)
{
	uint8_t b[4];
	size_t n, k;

	if (cp < 0x80) {
		b[0] = (uint8_t)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (uint8_t)(0xc0 | cp >> 6);
		b[1] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (uint8_t)(0xe0 | cp >> 12);
		b[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		b[0] = (uint8_t)(0xf0 | cp >> 18);
		b[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 4;
	}
	for (k = 0; k < n; k++) {
		if (out != NULL)
			out[*o] = b[k];
		(*o)++;
	}
}

/*
 * Decodes one "&...-" section starting after the '&'.  Returns the index
 * after its '-', or 0 when the section is invalid.
 */
static size_t
utf7_section(const uint8_t *in, size_t len, size_t i, uint8_t *out,
    size_t *o)
{
	uint32_t bits = 0, high = 0;
	unsigned int nbits = 0;

	for (; i < len && in[i] != '-'; i++) {
		int v = mb64_value(in[i]);
		uint32_t u;

		if (v < 0)
			return 0;
		bits = bits << 6 | (uint32_t)v;
		nbits += 6;
		if (nbits < 16)
			continue;
		nbits -= 16;
		u = bits >> nbits & 0xffff;
		bits &= (1u << nbits) - 1;
		if (high != 0) {
			if (u < 0xdc00 || u > 0xdfff)
				return 0;
			put_utf8(out, o, 0x10000 + ((high - 0xd800) << 10) +
			    (u - 0xdc00));
			high = 0;
		} else if (u >= 0xd800 && u <= 0xdbff) {
			high = u;
		} else if (u >= 0xdc00 && u <= 0xdfff) {
			return 0;
		} else if (u == 0 || (u >= 0x20 && u <= 0x7e)) {
			/* NUL, or printable ASCII that must stand for itself */
			return 0;
		} else {
			put_utf8(out, o, u);
		}
	}
	/*
	 * Unterminated, a dangling high surrogate, a whole superfluous base64
	 * char (6+ bits left) or non-zero pad bits: each would let a second
	 * spelling of the same name through.
	 */
	if (i == len || high != 0 || nbits >= 6 || bits != 0)
		return 0;
	return i + 1;
}

/* Returns the decoded length, writing it when out is set, or -EINVAL. */
static int
utf7_decode(const uint8_t *in, size_t len, uint8_t *out, size_t *out_len_r)
{
	size_t i = 0, o = 0;
	bool after_section = false;

	while (i < len) {
		uint8_t c = in[i];

		if (c < 0x20 || c > 0x7e)
			return -EINVAL;
		if (c != '&') {
			if (out != NULL)
				out[o] = c;
			o++;
			i++;
			after_section = false;
			continue;
		}
		if (i + 1 < len && in[i + 1] == '-') {
			if (out != NULL)
				out[o] = '&';
			o++;
			i += 2;
			after_section = false;
			continue;
		}
		/* "&AOk-&AOk-" is "&AOkA6Q-" spelt twice: refuse it */
		if (after_section)
			return -EINVAL;
		i = utf7_section(in, len, i + 1, out, &o);
		if (i == 0)
			return -EINVAL;
		after_section = true;
	}
	*out_len_r = o;
	return 0;
}

int
imap_utf7_to_utf8(struct arena *a, const char *in, size_t len, char **out_r)
{
	size_t n;
	char *out;

	if (utf7_decode((const uint8_t *)in, len, NULL, &n) < 0)
		return -EINVAL;
	out = arena_alloc(a, n + 1);
	if (out == NULL)
		return -ENOMEM;
	(void)utf7_decode((const uint8_t *)in, len, (uint8_t *)out, &n);
	out[n] = '\0';
	*out_r = out;
	return 0;
}

bool
imap_utf7_is_valid(const char *in, size_t len)
{
	size_t n;

	return utf7_decode((const uint8_t *)in, len, NULL, &n) == 0;
}

/*
 * The next code point of s, or -1 for NUL or an invalid sequence (the
 * well-formed byte ranges of RFC 3629 section 4: no overlong forms, no
 * surrogates, nothing above U+10FFFF).
 */
static int32_t
utf8_next(const uint8_t *s, size_t len, size_t *i_r)
{
	size_t i = *i_r, n, k;
	uint8_t c = s[i], lo = 0x80, hi = 0xbf;
	uint32_t cp;

	if (c == 0)
		return -1;
	if (c < 0x80) {
		*i_r = i + 1;
		return c;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		n = 1;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 2;
		cp = c & 0x0f;
		if (c == 0xe0)
			lo = 0xa0;	/* overlong */
		else if (c == 0xed)
			hi = 0x9f;	/* surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 3;
		cp = c & 0x07;
		if (c == 0xf0)
			lo = 0x90;	/* overlong */
		else if (c == 0xf4)
			hi = 0x8f;	/* above U+10FFFF */
	} else {
		return -1;
	}
	if (len - i - 1 < n)
		return -1;
	for (k = 1; k <= n; k++) {
		uint8_t b = s[i + k];

		if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xbf))
			return -1;
		cp = cp << 6 | (b & 0x3f);
	}
	*i_r = i + n + 1;
	return (int32_t)cp;
}

bool
imap_utf8_is_valid(const char *in, size_t len)
{
	size_t i = 0;

	while (i < len)
		if (utf8_next((const uint8_t *)in, len, &i) < 0)
			return false;
	return true;
}

static void
put_char(char *out, size_t *o, char c)
{
	if (out != NULL)
		out[*o] = c;
	(*o)++;
}

/* Flushes pending bits and closes a base64 section. */
static void
b64_close(char *out, size_t *o, uint32_t *bits, unsigned int *nbits)
{
	if (*nbits > 0)
		put_char(out, o, mb64[(*bits << (6 - *nbits)) & 63]);
	put_char(out, o, '-');
	*bits = 0;
	*nbits = 0;
}

/* Encodes valid UTF-8; returns the length, writing it when out is set. */
static size_t
utf7_encode(const uint8_t *in, size_t len, char *out)
{
	size_t i = 0, o = 0;
	uint32_t bits = 0;
	unsigned int nbits = 0;
	bool b64 = false;

	while (i < len) {
		uint32_t cp = (uint32_t)utf8_next(in, len, &i);
		uint32_t units[2];
		unsigned int nunits = 1, k;

		if (cp >= 0x20 && cp <= 0x7e) {
			if (b64)
				b64_close(out, &o, &bits, &nbits);
			b64 = false;
			put_char(out, &o, (char)cp);
			if (cp == '&')
				put_char(out, &o, '-');
			continue;
		}
		if (!b64)
			put_char(out, &o, '&');
		b64 = true;
		if (cp >= 0x10000) {
			units[0] = 0xd800 + ((cp - 0x10000) >> 10);
			units[1] = 0xdc00 + ((cp - 0x10000) & 0x3ff);
			nunits = 2;
		} else {
			units[0] = cp;
		}
		for (k = 0; k < nunits; k++) {
			bits = bits << 16 | units[k];
			nbits += 16;
			while (nbits >= 6) {
				nbits -= 6;
				put_char(out, &o, mb64[bits >> nbits & 63]);
			}
			bits &= (1u << nbits) - 1;
		}
	}
	if (b64)
		b64_close(out, &o, &bits, &nbits);
	return o;
}

int
imap_utf8_to_utf7(struct arena *a, const char *in, size_t len, char **out_r)
{
	size_t n;
	char *out;

	if (!imap_utf8_is_valid(in, len))
		return -EINVAL;
	n = utf7_encode((const uint8_t *)in, len, NULL);
	out = arena_alloc(a, n + 1);
	if (out == NULL)
		return -ENOMEM;
	(void)utf7_encode((const uint8_t *)in, len, out);
	out[n] = '\0';
	*out_r = out;
	return 0;
}
