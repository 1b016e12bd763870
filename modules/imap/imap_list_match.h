/* imap_list_match.h: LIST/LSUB patterns with '*' and '%' (RFC 3501 6.3.8) */
#ifndef POSTA_IMAP_LIST_MATCH_H
#define POSTA_IMAP_LIST_MATCH_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Pure.  '*' matches any run of characters, '%' any run without the
 * hierarchy separator sep; everything else matches itself exactly (the
 * caller folds INBOX's case first: imap_list_fold_inbox).  Patterns and
 * names are the wire forms (modified UTF-7), so wildcards inside encoded
 * runs match encoded bytes, as with every IMAP server.  The work is
 * bounded: a pattern built to make backtracking explode gives no match
 * rather than burning the CPU.
 */
bool imap_list_match(const char *pattern, const char *name, char sep);

/*
 * Rewrites a leading "inbox" (any case) to "INBOX" in place when it is the
 * whole of s or followed by sep, so that INBOX matches case-insensitively.
 */
void imap_list_fold_inbox(char *s, char sep);

#endif
