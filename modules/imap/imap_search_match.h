/* imap_search_match.h: SEARCH text matching: headers, encoded words, dates */
#ifndef POSTA_IMAP_SEARCH_MATCH_H
#define POSTA_IMAP_SEARCH_MATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct arena;

/*
 * Pure: no I/O.  Matching is a substring test that ignores ASCII case
 * (RFC 3501 6.4.4 leaves the details to the server; non-ASCII letters are
 * compared as bytes of their UTF-8 form).
 */

/*
 * Streaming substring search over a byte stream that arrives in chunks:
 * a needle split across two chunks is found.  The needle is copied.
 */
struct imap_substr {
	uint8_t *needle;		/* lowercase */
	size_t len;
	uint8_t *tail;			/* last len - 1 bytes seen */
	size_t tail_len;
	bool found;
};

/* Returns 0 or -ENOMEM; an empty needle matches at once. */
int imap_substr_init(struct arena *a, struct imap_substr *m,
    const char *needle, size_t len);
/* Feeds the next bytes; sets m->found when the needle turns up. */
void imap_substr_feed(struct imap_substr *m, const uint8_t *data, size_t len);
/* Forgets the stream (next message). */
void imap_substr_reset(struct imap_substr *m);

/* True when needle (any case) occurs in hay. */
bool imap_contains_nocase(const char *hay, size_t hay_len,
    const char *needle, size_t needle_len);

/*
 * Walks the fields of a message header (hdr, len bytes, up to the empty
 * line or the end): for each field calls fn with its name and its value
 * unfolded (CRLF + WSP become the WSP), NUL-terminated, in a scratch
 * buffer valid during the call.  Returns 0, or the first non-zero fn
 * return, or -ENOMEM.
 */
typedef int imap_header_field_fn(void *ctx, const char *name, size_t name_len,
    const char *value, size_t value_len);
int imap_header_fields(const uint8_t *hdr, size_t len,
    imap_header_field_fn *fn, void *ctx);

/*
 * Decodes RFC 2047 encoded words (B and Q) in a header value into UTF-8
 * for matching; charsets UTF-8, US-ASCII and ISO-8859-1 are decoded,
 * others are kept as they came.  Whitespace between two encoded words is
 * dropped (RFC 2047 6.2).  Returns a NUL-terminated string in a, or NULL
 * when out of memory.
 */
char *imap_decode_words(struct arena *a, const char *in, size_t len);

/*
 * The date of an RFC 5322 Date: value ("Tue, 1 Jul 2003 10:52:37 +0200"),
 * as written (its own zone; RFC 3501 ignores time and zone): day count
 * since 1970-01-01.  Returns 0 or -EINVAL.
 */
int imap_rfc5322_date(const char *value, int64_t *days_r);

/*
 * Body decoding for BODY and TEXT, so that a word in a base64 or
 * quoted-printable text part, or in Latin-1, is found as UTF-8.
 */
enum imap_cte {
	IMAP_CTE_IDENTITY = 0,		/* 7bit, 8bit, binary, absent */
	IMAP_CTE_BASE64,
	IMAP_CTE_QP,
};

struct imap_mime_info {
	enum imap_cte cte;
	bool is_text;			/* text/... (or no Content-Type) */
	bool latin1;			/* charset ISO-8859-1/Windows-1252 */
};

/* Reads Content-Type and Content-Transfer-Encoding of a MIME header. */
void imap_mime_info(const uint8_t *hdr, size_t len,
    struct imap_mime_info *info_r);

/* Streaming decoder; input may be cut anywhere. */
struct imap_body_decoder {
	enum imap_cte cte;
	bool latin1;
	uint32_t acc;			/* base64 bits not yet out */
	int bits;
	uint8_t qp[3];			/* "=X" waiting for its next char */
	size_t qp_len;
};

void imap_body_decoder_init(struct imap_body_decoder *d,
    const struct imap_mime_info *info);
/*
 * Decodes in; out must hold 2 * len + 6 bytes (Latin-1 doubles, held
 * back QP bytes come out later).  Returns the bytes written.
 */
size_t imap_body_decode(struct imap_body_decoder *d, const uint8_t *in,
    size_t len, uint8_t *out);

/* Days since 1970-01-01 of a civil date (proleptic Gregorian). */
int64_t imap_days_from_civil(int y, unsigned m, unsigned d);

#endif
