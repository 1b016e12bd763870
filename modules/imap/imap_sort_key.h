/* imap_sort_key.h: RFC 5256 sort keys: base subject, sent date, envelope */
#ifndef POSTA_IMAP_SORT_KEY_H
#define POSTA_IMAP_SORT_KEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct arena;

/*
 * Pure: no I/O.  Strings compared for SORT and THREAD are kept in their
 * i;ascii-casemap form (a-z mapped to A-Z, everything else as is, RFC 4790
 * section 9.2), the collation RFC 5256 requires without I18NLEVEL, so that
 * comparing two keys is a plain unsigned byte comparison (strcmp).
 */

/* Maps a-z to A-Z in place. */
void imap_casemap(char *s, size_t len);

/*
 * RFC 5256 section 2.1 steps 2-7 on a string already decoded and
 * casemapped (step 1: see imap_base_subject).  Works in place: the base
 * subject is s[*start_r, *start_r + returned length).  *is_reply_r is set
 * when a subj-refwd leader, a "(fwd)" trailer or a "[fwd: ...]" wrapper
 * was removed (the reply-or-forward test of THREAD=REFERENCES step 5).
 */
size_t imap_base_subject_extract(const char *s, size_t len, size_t *start_r,
    bool *is_reply_r);

/*
 * The base subject of a raw Subject: value (RFC 2047 encoded words are
 * decoded to UTF-8, tabs and folding become spaces, runs of spaces one),
 * casemapped and NUL-terminated in a.  Returns NULL when out of memory.
 * subject NULL (no header) gives "".
 */
char *imap_base_subject(struct arena *a, const char *subject, size_t len,
    bool *is_reply_r);

/*
 * The sent date of a Date: value (RFC 5256 section 2.2): an RFC 5322
 * date-time, tolerant of obsolete forms, in seconds since the epoch in
 * UTC.  An invalid zone counts as UTC, an invalid time as 00:00:00.
 * Returns 0, or -EINVAL when no date can be read (then the caller uses
 * the internal date).
 */
int imap_sent_date_parse(const char *value, size_t len, int64_t *time_r);

/* One address of an ENVELOPE; NULL members were NIL. */
struct imap_env_addr {
	const char *name, *mailbox, *host;
};

/*
 * What SORT and THREAD need from an ENVELOPE; NULL for NIL.  The address
 * fields hold the first address of each list that is not a group marker
 * (RFC 3501 7.4.2: host NIL), all NULL when there is none.
 */
struct imap_envelope {
	const char *date, *subject;
	struct imap_env_addr from, to, cc;
	const char *in_reply_to, *message_id;
};

/*
 * Parses an ENVELOPE in IMAP wire form (as posta_mailbox_fetch_meta
 * gives it: quoted strings, literals, NIL, lists) into *env_r; strings are
 * unescaped copies in a.  Returns 0, -EINVAL for a malformed envelope,
 * -ENOMEM.
 */
int imap_envelope_parse(struct arena *a, const char *env, size_t len,
    struct imap_envelope *env_r);

/*
 * The next valid message ID at or after *p in a References:,
 * In-Reply-To: or Message-ID: value: "<" id ">" with an "@" and no
 * whitespace outside quotes.  *id_r and *len_r give the text between the
 * angle brackets (RFC 5256: the brackets are not part of the ID); *p moves
 * past it.  Invalid candidates are skipped.  Returns false at the end.
 */
bool imap_msgid_next(const char **p, const char *end, const char **id_r,
    size_t *len_r);

/* ---- SORT ---- */

enum imap_sort_key_type {
	IMAP_SORT_ARRIVAL = 1,
	IMAP_SORT_CC,
	IMAP_SORT_DATE,
	IMAP_SORT_FROM,
	IMAP_SORT_SIZE,
	IMAP_SORT_SUBJECT,
	IMAP_SORT_TO,
	IMAP_SORT_DISPLAYFROM,		/* RFC 5957 */
	IMAP_SORT_DISPLAYTO,
};

/* The string keys of a record, indexes into imap_sort_rec.str. */
enum imap_sort_str {
	IMAP_SORT_STR_CC = 0,
	IMAP_SORT_STR_FROM,
	IMAP_SORT_STR_SUBJECT,
	IMAP_SORT_STR_TO,
	IMAP_SORT_STR_DISPLAYFROM,
	IMAP_SORT_STR_DISPLAYTO,
	IMAP_SORT_N_STR,
};

struct imap_sort_crit {
	enum imap_sort_key_type type;
	bool reverse;
};

/*
 * One message to sort.  Strings are offsets into one pool of
 * NUL-terminated casemapped strings; offset 0 must be "" (a key that was
 * not asked for, or an absent header).  idx is the position in the
 * mailbox, the final tie-breaker (RFC 5256 section 3).
 */
struct imap_sort_rec {
	uint32_t idx;
	uint32_t str[IMAP_SORT_N_STR];
	uint64_t size;
	int64_t arrival;		/* internal date */
	int64_t date;			/* sent date, else internal date */
};

/* < 0, 0, > 0 as a sorts before, with or after b under crit. */
int imap_sort_compare(const struct imap_sort_rec *a,
    const struct imap_sort_rec *b, const struct imap_sort_crit *crit,
    size_t n_crit, const char *pool);

/*
 * Sorts recs (stable merge sort; a temporary copy is allocated and
 * freed).  Returns 0 or -ENOMEM (recs unchanged then).
 */
int imap_sort_recs(struct imap_sort_rec *recs, size_t n,
    const struct imap_sort_crit *crit, size_t n_crit, const char *pool);

#endif
