/* imap_utf7.h: modified UTF-7 mailbox names (RFC 3501 5.1.3) and UTF-8 */
#ifndef POSTA_IMAP_UTF7_H
#define POSTA_IMAP_UTF7_H

#include <stdbool.h>
#include <stddef.h>

struct arena;

/*
 * IMAP4rev1 mailbox names travel in modified UTF-7; the store wants UTF-8.
 * Both directions are strict, so that every name has exactly one wire
 * form and a client cannot reach one mailbox under two spellings:
 *   - printable US-ASCII (0x20-0x7e) other than '&' stands for itself and
 *     may not be base64-encoded; '&' is written "&-";
 *   - everything else is "&" modified-BASE64(UTF-16BE) "-", with ','
 *     for '/', no padding, zero pad bits, no superfluous base64 char, no
 *     empty section, and no section directly after another;
 *   - surrogates must pair; U+0000 is refused;
 *   - on the UTF-8 side: no overlong forms, no surrogates, nothing above
 *     U+10FFFF, no truncated sequences, no NUL.
 */

/*
 * Decodes in (len bytes) into a NUL-terminated UTF-8 string in a.
 * Returns 0, -EINVAL for invalid input, -ENOMEM.
 */
int imap_utf7_to_utf8(struct arena *a, const char *in, size_t len,
    char **out_r);

/*
 * Encodes UTF-8 in (len bytes) into a NUL-terminated modified UTF-7
 * string in a.  Returns 0, -EINVAL for invalid UTF-8, -ENOMEM.
 */
int imap_utf8_to_utf7(struct arena *a, const char *in, size_t len,
    char **out_r);

/* True when in is valid modified UTF-7 by the rules above. */
bool imap_utf7_is_valid(const char *in, size_t len);

/* True when in is valid UTF-8 by the rules above (NUL refused). */
bool imap_utf8_is_valid(const char *in, size_t len);

#endif
