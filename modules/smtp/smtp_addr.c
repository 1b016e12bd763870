/* smtp_addr.c: RFC 5321/6531 mailbox, domain and address-literal syntax */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "smtp_addr.h"

static bool
is_alpha(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static bool
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* RFC 5322 3.2.3 atext */
static bool
is_atext(unsigned char c)
{
	if (is_alpha(c) || is_digit(c))
		return true;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/* RFC 5321 4.1.2 qtextSMTP: %d32-33 / %d35-91 / %d93-126 */
static bool
is_qtext(unsigned char c)
{
	return c == 32 || c == 33 || (c >= 35 && c <= 91) ||
	    (c >= 93 && c <= 126);
}

bool
smtp_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < len) {
		unsigned char c = p[i];
		uint32_t cp, min;
		size_t n, k;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
			min = 0x80;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
			min = 0x800;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
			min = 0x10000;
		} else {
			return false;
		}
		if (len - i - 1 < n)
			return false;
		for (k = 1; k <= n; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		/* overlong forms can alias ASCII, e.g. '@' or '.' */
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n + 1;
	}
	return true;
}

bool
smtp_addr_has_8bit(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] >= 0x80)
			return true;
	return false;
}

size_t
smtp_addr_local_scan(const char *s, size_t len, unsigned flags,
    bool *quoted_r)
{
	const unsigned char *p = (const unsigned char *)s;
	bool utf8 = (flags & SMTP_ADDR_UTF8) != 0;
	size_t i;

	if (quoted_r != NULL)
		*quoted_r = false;
	if (len == 0)
		return 0;
	if (p[0] == '"') {
		for (i = 1; i < len; i++) {
			if (p[i] == '"') {
				if (quoted_r != NULL)
					*quoted_r = true;
				return i + 1;
			}
			if (p[i] == '\\') {
				/* quoted-pairSMTP = %d92 %d32-126 */
				if (i + 1 >= len || p[i + 1] < 32 ||
				    p[i + 1] > 126)
					return 0;
				i++;
			} else if (!is_qtext(p[i]) && !(utf8 && p[i] >= 0x80)) {
				return 0;
			}
		}
		return 0;	/* unterminated */
	}
	/* Dot-string = Atom *("." Atom): no leading, trailing or double dot */
	for (i = 0; i < len; i++) {
		if (p[i] == '.') {
			if (i == 0 || p[i - 1] == '.')
				return 0;
		} else if (!is_atext(p[i]) && !(utf8 && p[i] >= 0x80)) {
			break;
		}
	}
	if (i == 0 || p[i - 1] == '.')
		return 0;
	return i;
}

bool
smtp_addr_local_valid(const char *s, size_t len, unsigned flags)
{
	if (len == 0 || smtp_addr_local_scan(s, len, flags, NULL) != len)
		return false;
	return smtp_utf8_valid(s, len);
}

size_t
smtp_addr_local_unquote(const char *s, size_t len, char *out)
{
	size_t i, n = 0;

	if (len < 2 || s[0] != '"') {
		memcpy(out, s, len);
		return len;
	}
	for (i = 1; i + 1 < len; i++) {
		if (s[i] == '\\' && i + 2 < len)
			i++;
		out[n++] = s[i];
	}
	return n;
}

bool
smtp_addr_domain_valid(const char *s, size_t len, unsigned flags)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i, start = 0;
	bool label_8bit = false, any_8bit = false;

	if (len == 0 || len > SMTP_ADDR_DOMAIN_MAX)
		return false;
	for (i = 0; i <= len; i++) {
		if (i == len || p[i] == '.') {
			size_t n = i - start;

			if (n == 0 || (!label_8bit && n > SMTP_ADDR_LABEL_MAX))
				return false;
			/* Let-dig [Ldh-str]: hyphens only inside a label */
			if (p[start] == '-' || p[i - 1] == '-')
				return false;
			start = i + 1;
			label_8bit = false;
			continue;
		}
		if (is_alpha(p[i]) || is_digit(p[i]) || p[i] == '-')
			continue;
		if (p[i] == '_' && (flags & SMTP_ADDR_UNDERSCORE))
			continue;
		if (p[i] >= 0x80 && (flags & SMTP_ADDR_UTF8)) {
			label_8bit = any_8bit = true;
			continue;
		}
		return false;
	}
	return !any_8bit || smtp_utf8_valid(s, len);
}

bool
smtp_addr_is_literal(const char *s, size_t len)
{
	return len >= 2 && s[0] == '[' && s[len - 1] == ']';
}

/* Snum "." Snum "." Snum "." Snum, Snum = 1*3DIGIT with a value <= 255 */
static bool
ipv4_parse(const char *s, size_t len, uint8_t out[4])
{
	size_t i = 0;
	int part;

	for (part = 0; part < 4; part++) {
		unsigned v = 0, digits = 0;

		while (i < len && is_digit((unsigned char)s[i])) {
			if (++digits > 3)
				return false;
			v = v * 10 + (unsigned)(s[i] - '0');
			i++;
		}
		if (digits == 0 || v > 255)
			return false;
		out[part] = (uint8_t)v;
		if (part < 3) {
			if (i >= len || s[i] != '.')
				return false;
			i++;
		}
	}
	return i == len;
}

int
smtp_addr_literal_parse(const char *s, size_t len, uint8_t addr_r[16])
{
	static const char tag[] = "ipv6:";
	const size_t tag_len = sizeof(tag) - 1;
	uint8_t buf[16];
	char text[64];
	size_t i, n;

	if (!smtp_addr_is_literal(s, len))
		return 0;
	s++;
	len -= 2;
	if (len > 0 && is_digit((unsigned char)s[0])) {
		if (!ipv4_parse(s, len, buf))
			return 0;
		if (addr_r != NULL)
			memcpy(addr_r, buf, 4);
		return AF_INET;
	}
	if (len <= tag_len)
		return 0;
	for (i = 0; i < tag_len; i++) {
		char c = s[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != tag[i])
			return 0;
	}
	n = len - tag_len;
	if (n >= sizeof(text))
		return 0;
	/* inet_pton wants a C string and must not see a zone id or spaces */
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[tag_len + i];

		if (!is_digit(c) && !(c >= 'a' && c <= 'f') &&
		    !(c >= 'A' && c <= 'F') && c != ':' && c != '.')
			return 0;
		text[i] = (char)c;
	}
	text[n] = '\0';
	if (inet_pton(AF_INET6, text, buf) != 1)
		return 0;
	if (addr_r != NULL)
		memcpy(addr_r, buf, 16);
	return AF_INET6;
}

int
smtp_addr_mailbox_check(const char *s, size_t len, unsigned flags,
    size_t *at_r)
{
	size_t at = smtp_addr_local_scan(s, len, flags, NULL);
	const char *dom;
	size_t dlen;

	if (at == 0 || at >= len || s[at] != '@')
		return -EINVAL;
	dom = s + at + 1;
	dlen = len - at - 1;
	if (smtp_addr_is_literal(dom, dlen)) {
		if (smtp_addr_literal_parse(dom, dlen, NULL) == 0)
			return -EINVAL;
	} else if (!smtp_addr_domain_valid(dom, dlen,
	    flags & SMTP_ADDR_UTF8)) {
		return -EINVAL;
	}
	if (!smtp_utf8_valid(s, at))
		return -EINVAL;
	if (at_r != NULL)
		*at_r = at;
	return 0;
}

int
smtp_addr_split(const char *mbox, size_t len, size_t *at_r)
{
	size_t at = smtp_addr_local_scan(mbox, len, SMTP_ADDR_UTF8, NULL);

	if (at == 0 || at >= len || mbox[at] != '@')
		return -EINVAL;
	*at_r = at;
	return 0;
}

void
smtp_addr_domain_lower(char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (s[i] >= 'A' && s[i] <= 'Z')
			s[i] = (char)(s[i] - 'A' + 'a');
}
