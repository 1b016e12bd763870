/* pop3_sasl.c: pure SASL PLAIN and LOGIN decoding for POP3 AUTH (RFC 5034) */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "util.h"
#include "pop3_sasl.h"

enum pop3_sasl_mech
pop3_sasl_mech(const uint8_t *name, size_t len)
{
	if (len == 5 && util_memcaseeq(name, "PLAIN", 5))
		return POP3_SASL_PLAIN;
	if (len == 5 && util_memcaseeq(name, "LOGIN", 5))
		return POP3_SASL_LOGIN;
	return POP3_SASL_NONE;
}

size_t
pop3_sasl_decoded_max(size_t len)
{
	return base64_decoded_max(len) + 1;
}

long
pop3_sasl_decode(const uint8_t *line, size_t len, uint8_t *out)
{
	long n;

	if (len == 1 && line[0] == '*')
		return -ECANCELED;
	if (len == 0 || (len == 1 && line[0] == '=')) {
		out[0] = '\0';
		return 0;
	}
	n = base64_decode((const char *)line, len, out);
	if (n < 0)
		return -EINVAL;
	out[n] = '\0';
	return n;
}

bool
pop3_sasl_is_text(const uint8_t *data, size_t len)
{
	return len > 0 && memchr(data, '\0', len) == NULL;
}

int
pop3_sasl_plain(uint8_t *msg, size_t len, const char **user_r,
    const char **pass_r)
{
	uint8_t *nul1, *nul2;
	size_t zlen, ulen, plen;

	nul1 = memchr(msg, '\0', len);
	if (nul1 == NULL)
		return -EINVAL;
	nul2 = memchr(nul1 + 1, '\0', len - (size_t)(nul1 + 1 - msg));
	if (nul2 == NULL)
		return -EINVAL;
	zlen = (size_t)(nul1 - msg);
	ulen = (size_t)(nul2 - nul1 - 1);
	plen = len - (size_t)(nul2 + 1 - msg);
	/* a third NUL would be inside the password */
	if (ulen == 0 || plen == 0 || memchr(nul2 + 1, '\0', plen) != NULL)
		return -EINVAL;
	if (zlen != 0 && (zlen != ulen || !util_memcaseeq(msg, nul1 + 1, ulen)))
		return -EINVAL;
	msg[len] = '\0';
	*user_r = (const char *)nul1 + 1;
	*pass_r = (const char *)nul2 + 1;
	return 0;
}
