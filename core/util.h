/* util.h: small string, base64 and address helpers shared by core and modules */
#ifndef POSTA_CORE_UTIL_H
#define POSTA_CORE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Base64 (RFC 4648, standard alphabet, padding required on decode).
 * encode: out must hold base64_encoded_len(len) + 1 bytes; returns length.
 * decode: returns decoded length, or -EINVAL on bad input; out must hold
 * base64_decoded_max(len) bytes.  Whitespace is not accepted.
 */
size_t base64_encoded_len(size_t len);
size_t base64_decoded_max(size_t len);
size_t base64_encode(const uint8_t *in, size_t len, char *out);
long base64_decode(const char *in, size_t len, uint8_t *out);
/* The value of one base64 character (standard alphabet), or -1. */
int base64_value(char c);
/* The value of one hex digit, either case, or -1. */
int util_hexval(char c);

/* ASCII case-insensitive helpers that never depend on the locale. */
bool util_strcaseeq(const char *a, const char *b);
bool util_memcaseeq(const void *a, const void *b, size_t len);
void util_ascii_lower(char *s);

/*
 * mkdir -p: creates path with mode, and its missing parents with 0755
 * (they are system directories such as /var/lib, not private ones).
 * 0 when path exists or was made, else a negative errno.
 */
int util_mkdir_parents(const char *path, unsigned int mode);

/* explicit_bzero where libc has it, a volatile loop otherwise */
void util_wipe(void *p, size_t len);

#endif
