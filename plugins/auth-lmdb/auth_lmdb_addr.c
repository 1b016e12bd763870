/* auth_lmdb_addr.c: address and domain syntax and lowercasing */
#include "config.h"

#include <string.h>

#include "auth_lmdb_db.h"

/*
 * Why lowercase the whole address, local part included: mailbox names are
 * case-sensitive in theory (RFC 5321 2.4), but no provider hands out
 * "Alice" and "alice" to two people, and Dovecot's default
 * auth_username_format (%Lu) lowercases the whole login too, so a migrated
 * user logs in exactly as before.  Only ASCII is folded; UTF-8 local parts
 * (RFC 6531) are kept byte for byte.
 */

static char
ascii_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c + ('a' - 'A')) : c;
}

/* Length of the valid UTF-8 sequence at s (non-ASCII lead), or 0. */
static size_t
utf8_seq(const unsigned char *s, size_t left)
{
	unsigned cp;
	size_t n, i;

	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (left < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* overlong forms, UTF-16 surrogates, beyond U+10FFFF */
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return n;
}

static bool
is_atext(unsigned char c)
{
	/* RFC 5322 3.2.3 atext: printable ASCII but specials and space */
	if (c <= 0x20 || c >= 0x7f)
		return false;
	return strchr("()<>[]:;@\\,\".", c) == NULL;
}

static int
check_local(const char *s, size_t len, const char **error_r)
{
	size_t i, n;

	if (len == 0) {
		*error_r = "empty local part";
		return POSTA_ENAME;
	}
	if (len > AUTH_LMDB_LOCAL_MAX) {
		*error_r = "local part longer than 64 bytes";
		return POSTA_ENAME;
	}
	if (s[0] == '.' || s[len - 1] == '.') {
		*error_r = "local part starts or ends with a dot";
		return POSTA_ENAME;
	}
	for (i = 0; i < len; i += n) {
		unsigned char c = (unsigned char)s[i];

		n = 1;
		if (c == '.') {
			if (s[i + 1] == '.') {
				*error_r = "two dots in a row in the local "
				    "part";
				return POSTA_ENAME;
			}
			continue;
		}
		if (c >= 0x80) {
			n = utf8_seq((const unsigned char *)s + i, len - i);
			if (n == 0) {
				*error_r = "local part is not valid UTF-8";
				return POSTA_ENAME;
			}
			continue;
		}
		if (c <= 0x20 || c == 0x7f) {
			*error_r = "space or control character in the "
			    "local part";
			return POSTA_ENAME;
		}
		if (!is_atext(c)) {
			*error_r = "special character ()<>[]:;@\\,\" in the "
			    "local part";
			return POSTA_ENAME;
		}
	}
	return 0;
}

static int
check_domain(const char *s, size_t len, const char **error_r)
{
	size_t i, label = 0;

	if (len == 0) {
		*error_r = "empty domain";
		return POSTA_ENAME;
	}
	if (len > AUTH_LMDB_DOMAIN_MAX) {
		*error_r = "domain longer than 253 bytes";
		return POSTA_ENAME;
	}
	for (i = 0; i <= len; i++) {
		char c = i < len ? s[i] : '.';

		if (c == '.') {
			if (label == 0) {
				*error_r = "empty label in the domain";
				return POSTA_ENAME;
			}
			if (label > 63) {
				*error_r = "domain label longer than 63 bytes";
				return POSTA_ENAME;
			}
			if (s[i - 1] == '-') {
				*error_r = "domain label ends with '-'";
				return POSTA_ENAME;
			}
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-')) {
			*error_r = "domain holds a character other than "
			    "letters, digits, '-' and '.'";
			return POSTA_ENAME;
		}
		if (label == 0 && c == '-') {
			*error_r = "domain label starts with '-'";
			return POSTA_ENAME;
		}
		label++;
	}
	return 0;
}

int
auth_lmdb_domain_normalize(const char *in, char *out, size_t out_size,
    const char **error_r)
{
	const char *dummy;
	size_t len, i;
	int ret;

	if (error_r == NULL)
		error_r = &dummy;
	len = strnlen(in, AUTH_LMDB_DOMAIN_MAX + 1);
	ret = check_domain(in, len, error_r);
	if (ret < 0)
		return ret;
	if (out_size <= len) {
		*error_r = "domain too long";
		return POSTA_ENAME;
	}
	for (i = 0; i < len; i++)
		out[i] = ascii_lower(in[i]);
	out[len] = '\0';
	return 0;
}

int
auth_lmdb_address_normalize(const char *in, char *out, size_t out_size,
    const char **error_r)
{
	const char *dummy, *at;
	size_t len, local_len, i;
	int ret;

	if (error_r == NULL)
		error_r = &dummy;
	len = strnlen(in, AUTH_LMDB_ADDRESS_MAX + 1);
	if (len > AUTH_LMDB_ADDRESS_MAX) {
		*error_r = "address longer than 320 bytes";
		return POSTA_ENAME;
	}
	at = memchr(in, '@', len);
	if (at == NULL) {
		*error_r = "no '@' in the address";
		return POSTA_ENAME;
	}
	if (memchr(at + 1, '@', len - (size_t)(at + 1 - in)) != NULL) {
		*error_r = "more than one '@' in the address";
		return POSTA_ENAME;
	}
	local_len = (size_t)(at - in);
	ret = check_local(in, local_len, error_r);
	if (ret < 0)
		return ret;
	ret = check_domain(at + 1, len - local_len - 1, error_r);
	if (ret < 0)
		return ret;
	if (out_size <= len) {
		*error_r = "address too long";
		return POSTA_ENAME;
	}
	for (i = 0; i < len; i++)
		out[i] = ascii_lower(in[i]);
	out[len] = '\0';
	return 0;
}
