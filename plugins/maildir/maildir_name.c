/* maildir_name.c: Maildir file names, flag letters, folder names (pure) */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <posta/posta.h>

#include "util.h"
#include "maildir_name.h"

static const struct {
	char letter;
	uint32_t flag;
} flag_letters[] = {	/* ASCII order, as the Maildir spec wants */
	{ 'D', POSTA_FLAG_DRAFT },
	{ 'F', POSTA_FLAG_FLAGGED },
	{ 'R', POSTA_FLAG_ANSWERED },
	{ 'S', POSTA_FLAG_SEEN },
	{ 'T', POSTA_FLAG_DELETED },
};

size_t
md_name_base_len(const char *name)
{
	const char *colon = strchr(name, ':');

	return colon != NULL ? (size_t)(colon - name) : strlen(name);
}

/* The flag letters of name, or NULL when it has no ":2," info. */
static const char *
info_flags(const char *name)
{
	const char *colon = strchr(name, ':');

	if (colon == NULL || colon[1] != '2' || colon[2] != ',')
		return NULL;
	return colon + 3;
}

void
md_name_flags(const char *name, uint32_t *flags_r, uint32_t *kw_r)
{
	const char *p = info_flags(name);
	uint32_t flags = 0, kw = 0;
	size_t i;

	for (; p != NULL && *p != '\0' && *p != ','; p++) {
		if (*p >= 'a' && *p <= 'z') {
			kw |= 1u << (*p - 'a');
			continue;
		}
		for (i = 0; i < sizeof(flag_letters) / sizeof(*flag_letters);
		    i++)
			if (flag_letters[i].letter == *p)
				flags |= flag_letters[i].flag;
	}
	*flags_r = flags;
	*kw_r = kw;
}

static bool
is_system_letter(char c)
{
	size_t i;

	for (i = 0; i < sizeof(flag_letters) / sizeof(*flag_letters); i++)
		if (flag_letters[i].letter == c)
			return true;
	return false;
}

int
md_name_set_flags(const char *name, uint32_t flags, uint32_t kw, char *out,
    size_t size)
{
	size_t base = md_name_base_len(name), n = 0, i;
	const char *old = info_flags(name), *rest = NULL, *p;
	char letters[128];
	size_t nl = 0;
	int c;

	/* every letter once, in ASCII order: that is what readers expect */
	for (c = 0x21; c < 0x7f; c++) {
		bool on = false;

		if (c >= 'a' && c <= 'z') {
			on = (kw & (1u << (c - 'a'))) != 0;
		} else if (is_system_letter((char)c)) {
			for (i = 0; i < sizeof(flag_letters) /
			    sizeof(*flag_letters); i++)
				if (flag_letters[i].letter == c)
					on = (flags &
					    flag_letters[i].flag) != 0;
		} else if (c != ',' && old != NULL) {
			for (p = old; *p != '\0' && *p != ','; p++)
				if (*p == c)
					on = true;
		}
		if (on)
			letters[nl++] = (char)c;
	}
	if (old != NULL)
		rest = strchr(old, ',');
	if (base + 3 + nl + (rest != NULL ? strlen(rest) : 0) + 1 > size ||
	    base + 3 + nl > MD_NAME_MAX) {
		if (size > 0)
			out[0] = '\0';
		return -ENAMETOOLONG;
	}
	memcpy(out, name, base);
	n = base;
	memcpy(out + n, ":2,", 3);
	n += 3;
	memcpy(out + n, letters, nl);
	n += nl;
	if (rest != NULL) {
		memcpy(out + n, rest, strlen(rest));
		n += strlen(rest);
	}
	out[n] = '\0';
	return (int)n;
}

/* Appends s to out at *n, escaping '/' and ':' for use in a file name. */
static bool
append_host(char *out, size_t size, size_t *n, const char *host)
{
	for (; *host != '\0'; host++) {
		const char *esc = NULL;

		if (*host == '/')
			esc = "\\057";
		else if (*host == ':')
			esc = "\\072";
		if (esc != NULL) {
			if (*n + 4 >= size)
				return false;
			memcpy(out + *n, esc, 4);
			*n += 4;
		} else if ((unsigned char)*host < 0x21 ||
		    (unsigned char)*host == 0x7f) {
			continue;
		} else {
			if (*n + 1 >= size)
				return false;
			out[(*n)++] = *host;
		}
	}
	out[*n] = '\0';
	return true;
}

int
md_name_unique(char *out, size_t size, int64_t sec, uint32_t usec,
    uint32_t pid, uint64_t seq, const char *host, uint64_t msg_size)
{
	int len;
	size_t n;

	len = snprintf(out, size, "%" PRId64 ".M%" PRIu32 "P%" PRIu32 "Q%"
	    PRIu64 ".", sec, usec, pid, seq);
	if (len < 0 || (size_t)len >= size)
		goto toolong;
	n = (size_t)len;
	if (!append_host(out, size, &n, host))
		goto toolong;
	if (msg_size != UINT64_MAX) {
		len = snprintf(out + n, size - n, ",S=%" PRIu64 ",W=%" PRIu64,
		    msg_size, msg_size);
		if (len < 0 || (size_t)len >= size - n)
			goto toolong;
		n += (size_t)len;
	}
	if (n > MD_NAME_MAX - 16)	/* leave room for ":2,<flags>" */
		goto toolong;
	return (int)n;
toolong:
	if (size > 0)
		out[0] = '\0';
	return -ENAMETOOLONG;
}

void
md_name_arrival(const char *name, uint64_t *sec_r, uint32_t *usec_r)
{
	uint64_t sec = 0;
	uint32_t usec = 0;
	const char *p = name;
	int digits = 0;

	while (*p >= '0' && *p <= '9' && digits < 19) {
		sec = sec * 10 + (uint64_t)(*p - '0');
		p++;
		digits++;
	}
	if (digits > 0 && p[0] == '.' && p[1] == 'M') {
		p += 2;
		digits = 0;
		while (*p >= '0' && *p <= '9' && digits < 7) {
			usec = usec * 10 + (uint32_t)(*p - '0');
			p++;
			digits++;
		}
		if (usec > 999999)
			usec = 0;
	}
	*sec_r = sec;
	*usec_r = usec;
}

bool
md_name_size(const char *name, char key, uint64_t *value_r)
{
	size_t base = md_name_base_len(name), i;

	for (i = 0; i + 3 < base; i++) {
		uint64_t v = 0;
		size_t j;

		if (name[i] != ',' || name[i + 1] != key || name[i + 2] != '=')
			continue;
		for (j = i + 3; j < base && name[j] >= '0' && name[j] <= '9';
		    j++) {
			if (v > (UINT64_MAX - 9) / 10)
				return false;
			v = v * 10 + (uint64_t)(name[j] - '0');
		}
		if (j == i + 3 || (j < base && name[j] != ','))
			continue;
		*value_r = v;
		return true;
	}
	return false;
}

/* Decodes one UTF-8 sequence; returns its length, 0 when invalid. */
static size_t
utf8_decode(const unsigned char *s, size_t len, uint32_t *cp_r)
{
	uint32_t cp;
	size_t n, i;

	if (len == 0)
		return 0;
	if (s[0] < 0x80) {
		*cp_r = s[0];
		return 1;
	}
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
	if (len < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* overlong forms, surrogates, beyond U+10FFFF */
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	*cp_r = cp;
	return n;
}

bool
md_utf8_printable(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < len) {
		uint32_t cp;
		size_t n = utf8_decode(p + i, len - i, &cp);

		if (n == 0 || cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
			return false;
		i += n;
	}
	return true;
}

int
md_mailbox_canon(const char *name, char *out, size_t size)
{
	size_t len = strlen(name), i, comp = 0;

	if (len == 0 || len > MD_MAILBOX_MAX || len + 1 > size)
		goto bad;
	if (!md_utf8_printable(name, len))
		goto bad;
	for (i = 0; i <= len; i++) {
		char c = name[i];

		if (c == '.' || c == '\0') {
			if (i == comp)
				goto bad;	/* empty component */
			comp = i + 1;
			continue;
		}
		if (c == '/' || c == '*' || c == '%')
			goto bad;
	}
	memcpy(out, name, len + 1);
	if ((len == 5 || (len > 5 && name[5] == '.')) &&
	    util_memcaseeq(name, "INBOX", 5))
		memcpy(out, "INBOX", 5);
	return (int)len;
bad:
	if (size > 0)
		out[0] = '\0';
	return POSTA_ENAME;
}

bool
md_mailbox_is_inbox(const char *canon)
{
	return strcmp(canon, "INBOX") == 0;
}

static const char mb64[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

int
md_mutf7_encode(const char *utf8, char *out, size_t size)
{
	const unsigned char *s = (const unsigned char *)utf8;
	size_t len = strlen(utf8), i = 0, n = 0;

#define PUT(ch) do { if (n + 1 >= size) goto toolong; out[n++] = (ch); } \
	while (0)
	while (i < len) {
		uint32_t bits = 0;
		int nbits = 0;

		if (s[i] >= 0x20 && s[i] <= 0x7e) {
			PUT((char)s[i]);
			if (s[i] == '&')
				PUT('-');
			i++;
			continue;
		}
		PUT('&');
		while (i < len && !(s[i] >= 0x20 && s[i] <= 0x7e)) {
			uint32_t cp, units[2];
			size_t k, nu, step = utf8_decode(s + i, len - i, &cp);

			if (step == 0)
				goto bad;
			i += step;
			if (cp >= 0x10000) {
				cp -= 0x10000;
				units[0] = 0xd800 | (cp >> 10);
				units[1] = 0xdc00 | (cp & 0x3ff);
				nu = 2;
			} else {
				units[0] = cp;
				nu = 1;
			}
			for (k = 0; k < nu; k++) {
				bits = bits << 16 | units[k];
				nbits += 16;
				while (nbits >= 6) {
					nbits -= 6;
					PUT(mb64[(bits >> nbits) & 0x3f]);
				}
				bits &= (1u << nbits) - 1;
			}
		}
		if (nbits > 0)
			PUT(mb64[(bits << (6 - nbits)) & 0x3f]);
		PUT('-');
	}
	out[n] = '\0';
	return (int)n;
#undef PUT
toolong:
	if (size > 0)
		out[0] = '\0';
	return -ENAMETOOLONG;
bad:
	if (size > 0)
		out[0] = '\0';
	return POSTA_ENAME;
}

static int
mb64_value(char c)
{
	const char *p = c != '\0' ? strchr(mb64, c) : NULL;

	return p != NULL ? (int)(p - mb64) : -1;
}

/* Writes cp as UTF-8 at out[*n]. */
static bool
put_utf8(char *out, size_t size, size_t *n, uint32_t cp)
{
	unsigned char b[4];
	size_t k, len;

	if (cp < 0x80) {
		b[0] = (unsigned char)cp;
		len = 1;
	} else if (cp < 0x800) {
		b[0] = (unsigned char)(0xc0 | cp >> 6);
		b[1] = (unsigned char)(0x80 | (cp & 0x3f));
		len = 2;
	} else if (cp < 0x10000) {
		b[0] = (unsigned char)(0xe0 | cp >> 12);
		b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (unsigned char)(0x80 | (cp & 0x3f));
		len = 3;
	} else {
		b[0] = (unsigned char)(0xf0 | cp >> 18);
		b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (unsigned char)(0x80 | (cp & 0x3f));
		len = 4;
	}
	if (*n + len >= size)
		return false;
	for (k = 0; k < len; k++)
		out[(*n)++] = (char)b[k];
	return true;
}

int
md_mutf7_decode(const char *in, char *out, size_t size)
{
	size_t i = 0, n = 0;

	while (in[i] != '\0') {
		uint32_t bits = 0, high = 0;
		int nbits = 0;
		size_t start;

		if ((unsigned char)in[i] < 0x20 ||
		    (unsigned char)in[i] > 0x7e)
			goto bad;
		if (in[i] != '&') {
			if (n + 1 >= size)
				goto bad;
			out[n++] = in[i++];
			continue;
		}
		i++;
		if (in[i] == '-') {
			if (n + 1 >= size)
				goto bad;
			out[n++] = '&';
			i++;
			continue;
		}
		start = i;
		while (in[i] != '-') {
			int v = mb64_value(in[i]);

			if (v < 0)
				goto bad;	/* also the NUL: unterminated */
			bits = bits << 6 | (uint32_t)v;
			nbits += 6;
			i++;
			if (nbits < 16)
				continue;
			nbits -= 16;
			{
				uint32_t u = (bits >> nbits) & 0xffff;

				bits &= (1u << nbits) - 1;
				if (u >= 0xd800 && u <= 0xdbff) {
					if (high != 0)
						goto bad;
					high = u;
					continue;
				}
				if (u >= 0xdc00 && u <= 0xdfff) {
					if (high == 0)
						goto bad;
					u = 0x10000 + ((high - 0xd800) << 10) +
					    (u - 0xdc00);
					high = 0;
				} else if (high != 0) {
					goto bad;
				}
				/* printable ASCII must stand for itself */
				if (u >= 0x20 && u <= 0x7e)
					goto bad;
				if (!put_utf8(out, size, &n, u))
					goto bad;
			}
		}
		/* leftover bits must be padding zeros, fewer than 6 */
		if (i == start || high != 0 || nbits >= 6 || bits != 0)
			goto bad;
		i++;
	}
	out[n] = '\0';
	return (int)n;
bad:
	if (size > 0)
		out[0] = '\0';
	return POSTA_ENAME;
}

int
md_mailbox_dir(const char *canon, char *out, size_t size)
{
	int len;

	if (md_mailbox_is_inbox(canon)) {
		if (size == 0)
			return -ENAMETOOLONG;
		out[0] = '\0';
		return 0;
	}
	if (size < 2)
		return -ENAMETOOLONG;
	out[0] = '.';
	len = md_mutf7_encode(canon, out + 1, size - 1);
	if (len < 0) {
		out[0] = '\0';
		return len;
	}
	if (len + 1 > MD_NAME_MAX) {
		out[0] = '\0';
		return POSTA_ENAME;
	}
	return len + 1;
}

int
md_mailbox_from_dir(const char *dirent, char *out, size_t size)
{
	char tmp[MD_NAME_MAX + 1];
	int len;

	if (dirent[0] != '.' || dirent[1] == '\0' || dirent[1] == '.')
		goto bad;
	len = md_mutf7_decode(dirent + 1, tmp, sizeof(tmp));
	if (len < 0)
		goto bad;
	len = md_mailbox_canon(tmp, out, size);
	if (len < 0)
		goto bad;
	return len;
bad:
	if (size > 0)
		out[0] = '\0';
	return POSTA_ENAME;
}

static bool
account_part_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || s[0] == '.')
		return false;
	for (i = 0; i < len; i++)
		if (s[i] == '/' || (unsigned char)s[i] < 0x20 ||
		    (unsigned char)s[i] == 0x7f)
			return false;
	return md_utf8_printable(s, len);
}

int
md_expand_root(const char *tmpl, const char *account, char *out, size_t size)
{
	const char *at = strchr(account, '@');
	size_t n = 0, local_len;
	const char *p;

	if (at == NULL || strchr(at + 1, '@') != NULL)
		goto badname;
	local_len = (size_t)(at - account);
	if (!account_part_ok(account, local_len) ||
	    !account_part_ok(at + 1, strlen(at + 1)))
		goto badname;
	for (p = tmpl; *p != '\0'; p++) {
		const char *s = p;
		size_t len = 1;

		if (*p == '%') {
			switch (p[1]) {
			case 'd':
				s = at + 1;
				len = strlen(s);
				break;
			case 'n':
				s = account;
				len = local_len;
				break;
			case 'u':
				s = account;
				len = strlen(s);
				break;
			case '%':
				break;
			default:
				goto badtmpl;
			}
			p++;
		}
		if (n + len >= size)
			goto badtmpl;
		memcpy(out + n, s, len);
		n += len;
	}
	if (n == 0)
		goto badtmpl;
	out[n] = '\0';
	return (int)n;
badname:
	if (size > 0)
		out[0] = '\0';
	return POSTA_ENAME;
badtmpl:
	if (size > 0)
		out[0] = '\0';
	return -EINVAL;
}

int
md_tmp_name(char *out, size_t size, int64_t start, uint32_t pid,
    uint64_t seq, const char *host)
{
	int len = snprintf(out, size, "posta.%" PRId64 ".%" PRIu32 ".%"
	    PRIu64 ".", start, pid, seq);
	size_t n;

	if (len < 0 || (size_t)len >= size)
		goto toolong;
	n = (size_t)len;
	if (!append_host(out, size, &n, host) || n > MD_NAME_MAX)
		goto toolong;
	return (int)n;
toolong:
	if (size > 0)
		out[0] = '\0';
	return -ENAMETOOLONG;
}

bool
md_tmp_is_stale(const char *name, int64_t start, uint32_t pid)
{
	long long s;
	unsigned long p;
	int used = 0;

	if (strncmp(name, "posta.", 6) != 0)
		return false;
	if (sscanf(name + 6, "%lld.%lu.%n", &s, &p, &used) != 2 || used == 0)
		return false;
	return s != start || p != pid;
}
