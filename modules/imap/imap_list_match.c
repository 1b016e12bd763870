/* imap_list_match.c: LIST/LSUB mailbox patterns with '*' and '%' */
#include "config.h"

#include <string.h>

#include "imap_list_match.h"
#include "util.h"

/* Backtracking steps allowed per match; plenty for any real pattern. */
#define MATCH_BUDGET 200000

static int
match_at(const char *p, const char *n, char sep, unsigned long *budget)
{
	for (;;) {
		if (++*budget > MATCH_BUDGET)
			return -1;
		if (*p == '\0')
			return *n == '\0';
		if (*p == '*' || *p == '%') {
			char w = *p;
			const char *k;

			/* runs of wildcards: '*' wins over '%' */
			while (p[1] == '*' || p[1] == '%') {
				if (p[1] == '*')
					w = '*';
				p++;
			}
			p++;
			for (k = n; ; k++) {
				int r = match_at(p, k, sep, budget);

				if (r != 0)
					return r;
				if (*k == '\0' || (w == '%' && *k == sep))
					return 0;
			}
		}
		if (*p != *n)
			return 0;
		p++;
		n++;
	}
}

bool
imap_list_match(const char *pattern, const char *name, char sep)
{
	unsigned long budget = 0;

	return match_at(pattern, name, sep, &budget) == 1;
}

void
imap_list_fold_inbox(char *s, char sep)
{
	if (strnlen(s, 5) == 5 && util_memcaseeq(s, "INBOX", 5) &&
	    (s[5] == '\0' || s[5] == sep))
		memcpy(s, "INBOX", 5);
}
