/* imap_search_parse.h: SEARCH arguments (RFC 3501 6.4.4) into a key tree */
#ifndef POSTA_IMAP_SEARCH_PARSE_H
#define POSTA_IMAP_SEARCH_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap_parse.h"
#include "imap_seqset.h"

struct arena;

/*
 * Grammar (after the command name, for SEARCH and UID SEARCH):
 *   [RETURN SP "(" [option *(SP option)] ")" SP]     RFC 4731 ESEARCH
 *   [CHARSET SP astring SP] search-key *(SP search-key)
 * with every search-key of RFC 3501 6.4.4, MODSEQ of RFC 7162 and
 * parenthesised groups.  Keys are matched case-insensitively.
 */

enum imap_search_type {
	IMAP_SEARCH_AND = 1,	/* u.sub: children (a group, the top level) */
	IMAP_SEARCH_OR,		/* u.sub and u.sub->next */
	IMAP_SEARCH_NOT,	/* u.sub */
	IMAP_SEARCH_ALL,
	IMAP_SEARCH_SEQSET,	/* u.set: message numbers, unresolved */
	IMAP_SEARCH_UID,	/* u.set: UIDs, unresolved */
	/* system flags; NEW is RECENT UNSEEN, OLD is NOT RECENT */
	IMAP_SEARCH_ANSWERED,
	IMAP_SEARCH_DELETED,
	IMAP_SEARCH_DRAFT,
	IMAP_SEARCH_FLAGGED,
	IMAP_SEARCH_NEW,
	IMAP_SEARCH_OLD,
	IMAP_SEARCH_RECENT,
	IMAP_SEARCH_SEEN,
	IMAP_SEARCH_UNANSWERED,
	IMAP_SEARCH_UNDELETED,
	IMAP_SEARCH_UNDRAFT,
	IMAP_SEARCH_UNFLAGGED,
	IMAP_SEARCH_UNSEEN,
	IMAP_SEARCH_KEYWORD,	/* u.str.value: the flag-keyword atom */
	IMAP_SEARCH_UNKEYWORD,
	/* substring matches, u.str.value (case-insensitive, per charset) */
	IMAP_SEARCH_BCC,
	IMAP_SEARCH_BODY,
	IMAP_SEARCH_CC,
	IMAP_SEARCH_FROM,
	IMAP_SEARCH_SUBJECT,
	IMAP_SEARCH_TEXT,
	IMAP_SEARCH_TO,
	IMAP_SEARCH_HEADER,	/* u.str.field and u.str.value */
	/* dates, u.date: internal date, then the Date: header (SENT*) */
	IMAP_SEARCH_BEFORE,
	IMAP_SEARCH_ON,
	IMAP_SEARCH_SINCE,
	IMAP_SEARCH_SENTBEFORE,
	IMAP_SEARCH_SENTON,
	IMAP_SEARCH_SENTSINCE,
	/* RFC822.SIZE, u.size */
	IMAP_SEARCH_LARGER,
	IMAP_SEARCH_SMALLER,
	IMAP_SEARCH_MODSEQ,	/* u.modseq, RFC 7162 */
};

enum imap_search_modseq_entry {
	IMAP_SEARCH_MODSEQ_ANY = 0,	/* no entry name given */
	IMAP_SEARCH_MODSEQ_PRIV,
	IMAP_SEARCH_MODSEQ_SHARED,
	IMAP_SEARCH_MODSEQ_ALL,
};

struct imap_search_date {
	uint16_t year;
	uint8_t month;		/* 1-12 */
	uint8_t day;		/* 1-31, valid for the month */
};

struct imap_search_key {
	enum imap_search_type type;
	struct imap_search_key *next;	/* sibling under AND / OR */
	union {
		struct imap_search_key *sub;
		struct imap_seqset set;
		struct {
			const char *field;	/* HEADER only */
			const char *value;	/* NUL-free, may be "" */
			size_t len;
		} str;
		struct imap_search_date date;
		uint64_t size;
		struct {
			uint64_t value;		/* 0 .. 2^63-1 */
			const char *entry;	/* "/flags/\\Seen" or NULL */
			enum imap_search_modseq_entry entry_type;
		} modseq;
	} u;
};

enum imap_search_charset {
	IMAP_SEARCH_CHARSET_US_ASCII = 0,	/* the default */
	IMAP_SEARCH_CHARSET_UTF8,
};

/* ESEARCH RETURN options (RFC 4731; SAVE is RFC 5182 SEARCHRES). */
enum imap_search_return {
	IMAP_SEARCH_RETURN_MIN = 1u << 0,
	IMAP_SEARCH_RETURN_MAX = 1u << 1,
	IMAP_SEARCH_RETURN_ALL = 1u << 2,
	IMAP_SEARCH_RETURN_COUNT = 1u << 3,
	IMAP_SEARCH_RETURN_SAVE = 1u << 4,
};

struct imap_search {
	enum imap_search_charset charset;
	bool has_return;	/* RETURN given: answer with ESEARCH */
	unsigned int return_opts; /* imap_search_return; "RETURN ()" = ALL */
	struct imap_search_key *root;	/* an AND of the top-level keys */
	bool uses_modseq;	/* a MODSEQ key: CONDSTORE is enabled */
};

/* Nesting of NOT, OR and parentheses, bounding recursion. */
#define IMAP_SEARCH_MAX_DEPTH 64

/*
 * Parses the arguments of SEARCH (args: the first one after the command
 * name) into a tree in a; strings point into the argument tree.  Strings
 * must be valid UTF-8 under CHARSET UTF-8 and 7-bit under US-ASCII.
 * Returns 0; -EINVAL with *error_r for a BAD reply; -ENOTSUP for an
 * unknown charset (reply NO [BADCHARSET (US-ASCII UTF-8)]); -ENOMEM.
 */
int imap_search_parse(struct arena *a, const struct imap_arg *args,
    struct imap_search **search_r, const char **error_r);

/* SORT (RFC 5256, ESORT RFC 5267) and THREAD arguments. */
#define IMAP_SORT_MAX_CRIT 16

struct imap_sort_args {
	/* SORT: the criteria, enum imap_sort_key_type (imap_sort_key.h) */
	struct {
		unsigned int type;
		bool reverse;
	} crit[IMAP_SORT_MAX_CRIT];
	size_t n_crit;
	/* THREAD: enum imap_thread_alg (imap_thread.h) */
	unsigned int alg;
	/* charset and keys; has_return/return_opts for ESORT */
	struct imap_search *search;
};

/*
 * Parses the arguments of SORT (thread false) or THREAD:
 *   SORT:   [RETURN SP "(" opts ")" SP] "(" ["REVERSE" SP] key ... ")"
 *           SP charset 1*(SP search-key)
 *   THREAD: algorithm SP charset 1*(SP search-key)
 * with the sort keys ARRIVAL CC DATE FROM SIZE SUBJECT TO DISPLAYFROM
 * DISPLAYTO and the algorithms ORDEREDSUBJECT and REFERENCES.  Returns
 * as imap_search_parse: 0, -EINVAL with *error_r (BAD), -ENOTSUP for a
 * charset other than UTF-8 and US-ASCII (NO [BADCHARSET]), -ENOMEM.
 */
int imap_sort_parse(struct arena *a, const struct imap_arg *args,
    bool thread, struct imap_sort_args **sort_r, const char **error_r);

/*
 * date-text "1-Feb-1994" (day 1-2 digits, month in English any case,
 * 4-digit year), checked against the month's length.  Returns 0 or
 * -EINVAL.
 */
int imap_date_parse(const char *s, size_t len,
    struct imap_search_date *date_r);

/*
 * APPEND's date-time without its quotes, "17-Jul-1996 02:44:25 -0700"
 * (RFC 3501 section 9; the day may also be " 7" or "7").  *time_r is
 * seconds since the epoch in UTC, *zone_min_r the offset in minutes.
 * Returns 0 or -EINVAL.
 */
int imap_datetime_parse(const char *s, size_t len, int64_t *time_r,
    int *zone_min_r);

#endif
