/* pop3_sasl.h: pure SASL PLAIN and LOGIN decoding for POP3 AUTH (RFC 5034) */
#ifndef POSTA_POP3_SASL_H
#define POSTA_POP3_SASL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum pop3_sasl_mech {
	POP3_SASL_NONE = 0,	/* not one we offer */
	POP3_SASL_PLAIN,	/* RFC 4616 */
	POP3_SASL_LOGIN,	/* draft-murchison-sasl-login */
};

/* The mechanism named (case-insensitively), or POP3_SASL_NONE. */
enum pop3_sasl_mech pop3_sasl_mech(const uint8_t *name, size_t len);

/* Room pop3_sasl_decode() needs for a response of len octets. */
size_t pop3_sasl_decoded_max(size_t len);

/*
 * Decodes one client response (RFC 5034 4): "*" cancels (-ECANCELED); an
 * empty line or "=" is a zero-length response; otherwise base64 with
 * padding.  out (pop3_sasl_decoded_max(len) bytes) receives the data and a
 * terminating NUL.  Returns the decoded length, or -EINVAL for bad base64.
 */
long pop3_sasl_decode(const uint8_t *line, size_t len, uint8_t *out);

/*
 * Splits a decoded PLAIN message (RFC 4616: [authzid] NUL authcid NUL
 * passwd) in place; msg must have room for len + 1 bytes.  Only an
 * authzid that is empty or equal to authcid (ignoring ASCII case) is
 * accepted: no proxy logins.
 * Returns 0, or -EINVAL for a malformed message or another authzid.
 * *user_r and *pass_r point into msg.
 */
int pop3_sasl_plain(uint8_t *msg, size_t len, const char **user_r,
    const char **pass_r);

/* True when decoded bytes may be used as a C string (no NUL, not empty). */
bool pop3_sasl_is_text(const uint8_t *data, size_t len);

#endif
