/* util.c: base64, ASCII case folding and secret wiping for core and modules */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

#include "util.h"

static const char b64[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t
base64_encoded_len(size_t len)
{
	return (len + 2) / 3 * 4;
}

size_t
base64_decoded_max(size_t len)
{
	return len / 4 * 3 + 3;
}

size_t
base64_encode(const uint8_t *in, size_t len, char *out)
{
	size_t i, o = 0;

	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 |
		    in[i + 2];

		out[o++] = b64[v >> 18];
		out[o++] = b64[(v >> 12) & 63];
		out[o++] = b64[(v >> 6) & 63];
		out[o++] = b64[v & 63];
	}
	if (i < len) {
		uint32_t v = (uint32_t)in[i] << 16;

		if (i + 1 < len)
			v |= (uint32_t)in[i + 1] << 8;
		out[o++] = b64[v >> 18];
		out[o++] = b64[(v >> 12) & 63];
		out[o++] = i + 1 < len ? b64[(v >> 6) & 63] : '=';
		out[o++] = '=';
	}
	out[o] = '\0';
	return o;
}

int
util_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int
base64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

long
base64_decode(const char *in, size_t len, uint8_t *out)
{
	size_t i, o = 0;

	if (len % 4 != 0)
		return -EINVAL;
	for (i = 0; i < len; i += 4) {
		int v[4], k, pad = 0;
		uint32_t n;

		for (k = 0; k < 4; k++) {
			if (in[i + k] == '=' && i + 4 == len && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			if (pad > 0)
				return -EINVAL;
			v[k] = base64_value(in[i + k]);
			if (v[k] < 0)
				return -EINVAL;
		}
		n = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 |
		    (uint32_t)v[2] << 6 | (uint32_t)v[3];
		out[o++] = (uint8_t)(n >> 16);
		if (pad < 2)
			out[o++] = (uint8_t)(n >> 8);
		if (pad < 1)
			out[o++] = (uint8_t)n;
	}
	return (long)o;
}

static char
lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

bool
util_memcaseeq(const void *a, const void *b, size_t len)
{
	const char *x = a, *y = b;
	size_t i;

	for (i = 0; i < len; i++)
		if (lower(x[i]) != lower(y[i]))
			return false;
	return true;
}

bool
util_strcaseeq(const char *a, const char *b)
{
	size_t la = strlen(a);

	return la == strlen(b) && util_memcaseeq(a, b, la);
}

void
util_ascii_lower(char *s)
{
	for (; *s != '\0'; s++)
		*s = lower(*s);
}

void
util_wipe(void *p, size_t len)
{
#ifdef HAVE_EXPLICIT_BZERO
	explicit_bzero(p, len);
#else
	volatile unsigned char *v = p;

	while (len-- > 0)
		*v++ = 0;
#endif
}

int
util_mkdir_parents(const char *path, unsigned int mode)
{
	char buf[PATH_MAX];
	size_t len = strlen(path), i;

	if (len == 0)
		return -ENOENT;
	if (len >= sizeof(buf))
		return -ENAMETOOLONG;
	if (mkdir(path, (mode_t)mode) == 0 || errno == EEXIST)
		return 0;
	if (errno != ENOENT)
		return -errno;
	memcpy(buf, path, len + 1);
	/* each missing ancestor, from the top down */
	for (i = 1; i < len; i++) {
		if (buf[i] != '/' || buf[i - 1] == '/')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
			int err = errno;

			buf[i] = '/';
			return -err;
		}
		buf[i] = '/';
	}
	if (mkdir(path, (mode_t)mode) != 0 && errno != EEXIST)
		return -errno;
	return 0;
}
