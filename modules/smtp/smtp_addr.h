/* smtp_addr.h: RFC 5321/6531 mailbox, domain and address-literal syntax */
#ifndef POSTA_SMTP_ADDR_H
#define POSTA_SMTP_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Pure syntax helpers shared by the command parser and the session layer.
 * Inputs are (pointer, length) and need not be NUL-terminated; nothing here
 * allocates, logs or looks anything up.  Validity means RFC 5321 section
 * 4.1.2 syntax (plus RFC 6531 when SMTP_ADDR_UTF8 is given); whether a
 * domain exists or is ours is the session's question.
 */

enum smtp_addr_flags {
	/* RFC 6531: UTF-8 in local parts and U-labels in domains */
	SMTP_ADDR_UTF8 = 1 << 0,
	/* '_' in domain labels: only for HELO/EHLO names, where real clients
	   (Windows host names) send it and refusing them helps nobody */
	SMTP_ADDR_UNDERSCORE = 1 << 1,
};

/* RFC 5321 4.5.3.1.2 (domain) and the DNS label limit (RFC 1035 2.3.4) */
#define SMTP_ADDR_DOMAIN_MAX	255
#define SMTP_ADDR_LABEL_MAX	63

/*
 * True when s is well-formed UTF-8: shortest form, no surrogates, nothing
 * above U+10FFFF.  ASCII (including the empty string) is valid.
 */
bool smtp_utf8_valid(const char *s, size_t len);

/* True when some byte of s is outside ASCII. */
bool smtp_addr_has_8bit(const char *s, size_t len);

/*
 * Length of the Local-part (Dot-string or Quoted-string) that starts at s,
 * or 0 when none does.  Scanning stops at the first byte that cannot
 * continue the local part (normally the '@').  *quoted_r (may be NULL) is
 * set when it is a Quoted-string.  With SMTP_ADDR_UTF8, bytes >= 0x80 are
 * accepted as atext/qtext; the caller checks UTF-8 well-formedness.
 */
size_t smtp_addr_local_scan(const char *s, size_t len, unsigned flags,
    bool *quoted_r);

/* True when all of s is one Local-part (and well-formed UTF-8). */
bool smtp_addr_local_valid(const char *s, size_t len, unsigned flags);

/*
 * Decodes a Quoted-string local part (surrounding quotes and backslash
 * escapes removed) into out, which must hold len bytes; a Dot-string is
 * copied unchanged.  s must be valid (smtp_addr_local_valid).  Returns the
 * decoded length; out is not NUL-terminated.
 */
size_t smtp_addr_local_unquote(const char *s, size_t len, char *out);

/*
 * RFC 5321 Domain: dot-separated labels of letters, digits and inner
 * hyphens, each 1..63 octets, at most 255 in all, no trailing dot.  With
 * SMTP_ADDR_UTF8 a label may hold UTF-8 (a U-label); the 63-octet limit is
 * then not applied to that label, since it binds the A-label form, which
 * only IDNA conversion can compute.
 */
bool smtp_addr_domain_valid(const char *s, size_t len, unsigned flags);

/* True when s looks like an address literal: "[" ... "]". */
bool smtp_addr_is_literal(const char *s, size_t len);

/*
 * Parses an address literal "[1.2.3.4]" or "[IPv6:...]" (RFC 5321 4.1.3;
 * the tag is case-insensitive).  Returns AF_INET or AF_INET6 and, when
 * addr_r is not NULL, stores the address in network order (4 or 16 bytes);
 * returns 0 for anything else, including General-address-literals with
 * other tags, which no standard defines.
 */
int smtp_addr_literal_parse(const char *s, size_t len, uint8_t addr_r[16]);

/*
 * Checks a whole Mailbox "local@domain-or-literal" and returns 0 with *at_r
 * (may be NULL) the offset of the '@' that ends the local part, or -EINVAL.
 * A quoted local part may itself hold '@', which is why callers must not
 * split at the first or last '@' themselves.
 */
int smtp_addr_mailbox_check(const char *s, size_t len, unsigned flags,
    size_t *at_r);

/*
 * Finds the '@' ending the local part of a mailbox the parser produced
 * (UTF-8 allowed); 0 and *at_r, or -EINVAL when there is none.
 */
int smtp_addr_split(const char *mbox, size_t len, size_t *at_r);

/*
 * Lowercases ASCII letters in place; UTF-8 bytes are left alone (U-label
 * case folding belongs to IDNA).  Domains compare case-insensitively
 * (RFC 5321 2.4), local parts do not, so use this on the domain only.
 */
void smtp_addr_domain_lower(char *s, size_t len);

#endif
