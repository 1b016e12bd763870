/* imap_seqset.h: IMAP sequence sets ("1,3:5,7:*") parsed, resolved, walked */
#ifndef POSTA_IMAP_SEQSET_H
#define POSTA_IMAP_SEQSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct arena;

/*
 * sequence-set (RFC 3501 section 9): comma-separated seq-number or
 * seq-number ":" seq-number, where seq-number is nz-number (1 to
 * 4294967295, no leading zero) or "*".  The same syntax carries message
 * sequence numbers and UIDs; what "*" stands for is the caller's choice.
 */

/* In a parsed set, 0 (never a valid number) stands for "*". */
#define IMAP_SEQ_STAR 0u

/*
 * Inclusive range.  Parsed: as written, so lo may exceed hi ("5:2",
 * "*:4").  Resolved: 1 <= lo <= hi, same layout as posta_uid_range.
 */
struct imap_seq_range {
	uint32_t lo, hi;
};

struct imap_seqset {
	struct imap_seq_range *ranges;	/* in the arena given */
	unsigned int count;
};

/*
 * Parses s (len bytes, no NUL needed).  Returns 0; -EINVAL for anything
 * but the grammar above (empty, "0", "01", spaces, "1:", ",1", "1,,2",
 * "1:2:3", numbers over 32 bits, and "$" of SEARCHRES, which the caller
 * must handle before); -ENOMEM.
 */
int imap_seqset_parse(struct arena *a, const char *s, size_t len,
    struct imap_seqset *set_r);

/* True when the parsed set holds a "*". */
bool imap_seqset_has_star(const struct imap_seqset *set);

/*
 * Replaces "*" by max (the highest sequence number or UID in use), puts
 * each range in order, sorts and merges overlapping and adjacent ranges.
 * Numbers above max are kept: a UID set may name UIDs that do not exist
 * (RFC 3501 6.4.8, "559:*" with a highest UID of 500 is "500:559"), while
 * for sequence numbers the caller checks imap_seqset_highest() <= max.
 * Returns 0; -ERANGE when the set holds "*" and max is 0 (an empty
 * mailbox: the caller decides what that means); -ENOMEM.  in may be a set
 * resolved before.
 */
int imap_seqset_resolve(struct arena *a, const struct imap_seqset *in,
    uint32_t max, struct imap_seqset *out_r);

/* On a resolved set: membership (binary search), size, the last number. */
bool imap_seqset_contains(const struct imap_seqset *set, uint32_t n);
uint64_t imap_seqset_count(const struct imap_seqset *set);
uint32_t imap_seqset_highest(const struct imap_seqset *set); /* 0: empty */

/* Ascending walk over a resolved set. */
struct imap_seqset_iter {
	const struct imap_seqset *set;
	unsigned int idx;
	uint64_t next;
};

void imap_seqset_iter_init(struct imap_seqset_iter *it,
    const struct imap_seqset *set);
/* Sets *n_r to the next number and returns true, or false at the end. */
bool imap_seqset_iter_next(struct imap_seqset_iter *it, uint32_t *n_r);

/*
 * Writes a set in wire form ("1:3,5,7:*"), for COPYUID, ESEARCH ALL and
 * VANISHED; "*" is written for IMAP_SEQ_STAR.  Returns a NUL-terminated
 * string in a, or NULL when out of memory or the set is empty.
 */
char *imap_seqset_format(struct arena *a, const struct imap_seqset *set);

#endif
