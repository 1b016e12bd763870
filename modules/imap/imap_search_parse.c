/* imap_search_parse.c: SEARCH criteria from the argument tree into keys */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "arena.h"
#include "imap_parse.h"
#include "imap_search_parse.h"
#include "imap_seqset.h"
#include "imap_sort_key.h"
#include "imap_thread.h"
#include "imap_utf7.h"

enum key_arg {
	ARG_NONE,
	ARG_STRING,		/* astring */
	ARG_HEADER,		/* field-name astring, astring */
	ARG_DATE,
	ARG_NUMBER,
	ARG_SEQSET,		/* UID */
	ARG_KEYWORD,		/* flag-keyword */
	ARG_KEY,		/* NOT */
	ARG_KEY2,		/* OR */
	ARG_MODSEQ,
};

static const struct {
	const char *name;
	enum imap_search_type type;
	enum key_arg arg;
} keys[] = {
	{ "ALL", IMAP_SEARCH_ALL, ARG_NONE },
	{ "ANSWERED", IMAP_SEARCH_ANSWERED, ARG_NONE },
	{ "BCC", IMAP_SEARCH_BCC, ARG_STRING },
	{ "BEFORE", IMAP_SEARCH_BEFORE, ARG_DATE },
	{ "BODY", IMAP_SEARCH_BODY, ARG_STRING },
	{ "CC", IMAP_SEARCH_CC, ARG_STRING },
	{ "DELETED", IMAP_SEARCH_DELETED, ARG_NONE },
	{ "DRAFT", IMAP_SEARCH_DRAFT, ARG_NONE },
	{ "FLAGGED", IMAP_SEARCH_FLAGGED, ARG_NONE },
	{ "FROM", IMAP_SEARCH_FROM, ARG_STRING },
	{ "HEADER", IMAP_SEARCH_HEADER, ARG_HEADER },
	{ "KEYWORD", IMAP_SEARCH_KEYWORD, ARG_KEYWORD },
	{ "LARGER", IMAP_SEARCH_LARGER, ARG_NUMBER },
	{ "MODSEQ", IMAP_SEARCH_MODSEQ, ARG_MODSEQ },
	{ "NEW", IMAP_SEARCH_NEW, ARG_NONE },
	{ "NOT", IMAP_SEARCH_NOT, ARG_KEY },
	{ "OLD", IMAP_SEARCH_OLD, ARG_NONE },
	{ "ON", IMAP_SEARCH_ON, ARG_DATE },
	{ "OR", IMAP_SEARCH_OR, ARG_KEY2 },
	{ "RECENT", IMAP_SEARCH_RECENT, ARG_NONE },
	{ "SEEN", IMAP_SEARCH_SEEN, ARG_NONE },
	{ "SENTBEFORE", IMAP_SEARCH_SENTBEFORE, ARG_DATE },
	{ "SENTON", IMAP_SEARCH_SENTON, ARG_DATE },
	{ "SENTSINCE", IMAP_SEARCH_SENTSINCE, ARG_DATE },
	{ "SINCE", IMAP_SEARCH_SINCE, ARG_DATE },
	{ "SMALLER", IMAP_SEARCH_SMALLER, ARG_NUMBER },
	{ "SUBJECT", IMAP_SEARCH_SUBJECT, ARG_STRING },
	{ "TEXT", IMAP_SEARCH_TEXT, ARG_STRING },
	{ "TO", IMAP_SEARCH_TO, ARG_STRING },
	{ "UID", IMAP_SEARCH_UID, ARG_SEQSET },
	{ "UNANSWERED", IMAP_SEARCH_UNANSWERED, ARG_NONE },
	{ "UNDELETED", IMAP_SEARCH_UNDELETED, ARG_NONE },
	{ "UNDRAFT", IMAP_SEARCH_UNDRAFT, ARG_NONE },
	{ "UNFLAGGED", IMAP_SEARCH_UNFLAGGED, ARG_NONE },
	{ "UNKEYWORD", IMAP_SEARCH_UNKEYWORD, ARG_KEYWORD },
	{ "UNSEEN", IMAP_SEARCH_UNSEEN, ARG_NONE },
};

struct sp {
	struct arena *a;
	const struct imap_arg *cur;	/* next argument to read */
	struct imap_search *s;
	const char **error_r;
};

static int
fail(struct sp *sp, const char *msg)
{
	*sp->error_r = msg;
	return -EINVAL;
}

static bool
caseeq(const char *a, const char *b)
{
	for (; *a != '\0' && *b != '\0'; a++, b++) {
		char x = *a, y = *b;

		if (x >= 'a' && x <= 'z')
			x = (char)(x - 'a' + 'A');
		if (y >= 'a' && y <= 'z')
			y = (char)(y - 'a' + 'A');
		if (x != y)
			return false;
	}
	return *a == *b;
}

static const struct imap_arg *
take(struct sp *sp)
{
	const struct imap_arg *a = sp->cur;

	if (a != NULL)
		sp->cur = a->next;
	return a;
}

/* uint64 of 1*DIGIT, at most max; false when not */
static bool
parse_u64(const char *s, size_t len, uint64_t max, uint64_t *n_r)
{
	uint64_t n = 0;
	size_t i;

	if (len == 0)
		return false;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		if (n > (max - (uint64_t)(s[i] - '0')) / 10)
			return false;
		n = n * 10 + (uint64_t)(s[i] - '0');
	}
	*n_r = n;
	return true;
}

int
imap_date_parse(const char *s, size_t len, struct imap_search_date *date_r)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	static const uint8_t mdays[] = {
		31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31,
	};
	size_t i = 0, d;
	unsigned int day = 0, month, year = 0;

	for (d = 0; i < len && d < 2 && s[i] >= '0' && s[i] <= '9'; i++, d++)
		day = day * 10 + (unsigned int)(s[i] - '0');
	/* then "-Mon-YYYY" */
	if (d == 0 || len - i != 9 || s[i] != '-' || s[i + 4] != '-')
		return -EINVAL;
	for (month = 0; month < 12; month++) {
		const char *m = months + month * 3;

		if ((s[i + 1] | 0x20) == (m[0] | 0x20) &&
		    (s[i + 2] | 0x20) == m[1] && (s[i + 3] | 0x20) == m[2])
			break;
	}
	if (month == 12)
		return -EINVAL;
	for (i += 5; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		year = year * 10 + (unsigned int)(s[i] - '0');
	}
	if (day == 0 || day > mdays[month] || (month == 1 && day == 29 &&
	    (year % 4 != 0 || (year % 100 == 0 && year % 400 != 0))))
		return -EINVAL;
	date_r->year = (uint16_t)year;
	date_r->month = (uint8_t)(month + 1);
	date_r->day = (uint8_t)day;
	return 0;
}

static bool
two_digits(const char *s, unsigned int max, unsigned int *n_r)
{
	if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
		return false;
	*n_r = (unsigned int)(s[0] - '0') * 10 + (unsigned int)(s[1] - '0');
	return *n_r <= max;
}

/* Days from 1970-01-01 to y-m-d, proleptic Gregorian (m 1-12). */
static int64_t
days_from_civil(int64_t y, unsigned int m, unsigned int d)
{
	int64_t era;
	unsigned int yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned int)(y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

int
imap_datetime_parse(const char *s, size_t len, int64_t *time_r,
    int *zone_min_r)
{
	struct imap_search_date date;
	unsigned int h, m, sec, zh, zm;
	size_t dlen, skip = 0;
	const char *t;
	int zone;

	/* date-day-fixed = (SP DIGIT) / 2DIGIT; a bare digit is let in */
	if (len > 0 && s[0] == ' ')
		skip = 1;
	t = memchr(s + skip, ' ', len - skip);
	if (t == NULL)
		return -EINVAL;
	dlen = (size_t)(t - (s + skip));
	if (imap_date_parse(s + skip, dlen, &date) < 0 ||
	    (skip == 1 && dlen != 10))
		return -EINVAL;
	/* SP time SP zone: " hh:mm:ss +hhmm" is 15 bytes */
	if (len - skip - dlen != 15)
		return -EINVAL;
	if (t[3] != ':' || t[6] != ':' || t[9] != ' ' ||
	    (t[10] != '+' && t[10] != '-') ||
	    !two_digits(t + 1, 23, &h) || !two_digits(t + 4, 59, &m) ||
	    !two_digits(t + 7, 60, &sec) || !two_digits(t + 11, 99, &zh) ||
	    !two_digits(t + 13, 59, &zm))
		return -EINVAL;
	zone = (int)(zh * 60 + zm) * (t[10] == '-' ? -1 : 1);
	*time_r = days_from_civil(date.year, date.month, date.day) * 86400 +
	    (int64_t)h * 3600 + m * 60 + sec - (int64_t)zone * 60;
	*zone_min_r = zone;
	return 0;
}

/* A string under the charset: 7-bit for US-ASCII, valid UTF-8 else. */
static int
take_string(struct sp *sp, const char **str_r, size_t *len_r)
{
	const struct imap_arg *a = take(sp);
	size_t i;

	if (a == NULL)
		return fail(sp, "Missing search string");
	if (!imap_arg_get_astring(a, str_r, len_r))
		return fail(sp, "Invalid search string");
	if (sp->s->charset == IMAP_SEARCH_CHARSET_UTF8) {
		if (!imap_utf8_is_valid(*str_r, *len_r))
			return fail(sp, "Invalid UTF-8 in search string");
		return 0;
	}
	for (i = 0; i < *len_r; i++)
		if ((uint8_t)(*str_r)[i] >= 0x80)
			return fail(sp, "8-bit search string without "
			    "CHARSET UTF-8");
	return 0;
}

/* flag-keyword = atom: ATOM-CHARs only, no '\' (system flags) */
static bool
is_keyword(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c <= 0x20 || c >= 0x7f || strchr("(){%*\"\\]", c) != NULL)
			return false;
	}
	return true;
}

static int parse_key(struct sp *sp, unsigned int depth,
    struct imap_search_key **key_r);

/* Keys up to the end of the current list, linked under an AND. */
static int
parse_keys(struct sp *sp, unsigned int depth, struct imap_search_key **first_r)
{
	struct imap_search_key **tail = first_r;
	int r;

	*first_r = NULL;
	if (sp->cur == NULL)
		return fail(sp, "Missing search key");
	while (sp->cur != NULL) {
		r = parse_key(sp, depth, tail);
		if (r < 0)
			return r;
		tail = &(*tail)->next;
	}
	return 0;
}

static int
parse_modseq(struct sp *sp, struct imap_search_key *k)
{
	const struct imap_arg *a = take(sp);
	const char *s;
	size_t len;

	if (imap_arg_get_string(a, &s, &len)) {
		/* entry-flag-name SP entry-type-req (RFC 7162 section 3.1.5) */
		if (len <= 7 || strncmp(s, "/flags/", 7) != 0)
			return fail(sp, "Invalid MODSEQ entry name");
		k->u.modseq.entry = s;
		a = take(sp);
		if (imap_arg_atom_equals(a, "priv"))
			k->u.modseq.entry_type = IMAP_SEARCH_MODSEQ_PRIV;
		else if (imap_arg_atom_equals(a, "shared"))
			k->u.modseq.entry_type = IMAP_SEARCH_MODSEQ_SHARED;
		else if (imap_arg_atom_equals(a, "all"))
			k->u.modseq.entry_type = IMAP_SEARCH_MODSEQ_ALL;
		else
			return fail(sp, "Invalid MODSEQ entry type");
		a = take(sp);
	}
	if (!imap_arg_get_atom(a, &s) || !parse_u64(s, strlen(s),
	    INT64_MAX, &k->u.modseq.value))
		return fail(sp, "Invalid MODSEQ value");
	sp->s->uses_modseq = true;
	return 0;
}

static int
parse_arg(struct sp *sp, unsigned int depth, struct imap_search_key *k,
    enum key_arg kind)
{
	const struct imap_arg *a;
	const char *s;
	size_t len, i;
	int r;

	switch (kind) {
	case ARG_NONE:
		return 0;
	case ARG_STRING:
		return take_string(sp, &k->u.str.value, &k->u.str.len);
	case ARG_HEADER:
		if (!imap_arg_get_astring(take(sp), &s, &len) || len == 0)
			return fail(sp, "Invalid header field name");
		for (i = 0; i < len; i++)
			if ((uint8_t)s[i] <= 0x20 || (uint8_t)s[i] >= 0x7f ||
			    s[i] == ':')
				return fail(sp, "Invalid header field name");
		k->u.str.field = s;
		return take_string(sp, &k->u.str.value, &k->u.str.len);
	case ARG_DATE:
		/* date = date-text / DQUOTE date-text DQUOTE */
		a = take(sp);
		if (a != NULL && a->type == IMAP_ARG_STRING)
			s = a->u.str.data;
		else if (!imap_arg_get_atom(a, &s))
			return fail(sp, "Invalid search date");
		if (imap_date_parse(s, strlen(s), &k->u.date) < 0)
			return fail(sp, "Invalid search date");
		return 0;
	case ARG_NUMBER:
		/* number64 (RFC 9051) covers RFC 3501's 32-bit number */
		if (!imap_arg_get_atom(take(sp), &s) ||
		    !parse_u64(s, strlen(s), INT64_MAX, &k->u.size))
			return fail(sp, "Invalid search size");
		return 0;
	case ARG_SEQSET:
		if (!imap_arg_get_atom(take(sp), &s))
			return fail(sp, "Missing UID set");
		r = imap_seqset_parse(sp->a, s, strlen(s), &k->u.set);
		if (r == -EINVAL)
			return fail(sp, "Invalid UID set");
		return r;
	case ARG_KEYWORD:
		if (!imap_arg_get_atom(take(sp), &s) || !is_keyword(s))
			return fail(sp, "Invalid keyword");
		k->u.str.value = s;
		k->u.str.len = strlen(s);
		return 0;
	case ARG_KEY:
		return parse_key(sp, depth + 1, &k->u.sub);
	case ARG_KEY2:
		r = parse_key(sp, depth + 1, &k->u.sub);
		if (r < 0)
			return r;
		return parse_key(sp, depth + 1, &k->u.sub->next);
	case ARG_MODSEQ:
		return parse_modseq(sp, k);
	}
	return fail(sp, "Invalid search key");
}

static int
parse_key(struct sp *sp, unsigned int depth, struct imap_search_key **key_r)
{
	const struct imap_arg *a = take(sp);
	struct imap_search_key *k;
	const char *name;
	size_t i;
	int r;

	*key_r = NULL;
	if (depth > IMAP_SEARCH_MAX_DEPTH)
		return fail(sp, "Search nested too deeply");
	if (a == NULL)
		return fail(sp, "Missing search key");
	k = arena_zalloc(sp->a, sizeof(*k));
	if (k == NULL)
		return -ENOMEM;
	*key_r = k;
	if (a->type == IMAP_ARG_LIST) {
		const struct imap_arg *after = sp->cur;

		k->type = IMAP_SEARCH_AND;
		sp->cur = a->u.list.first;
		r = parse_keys(sp, depth + 1, &k->u.sub);
		sp->cur = after;
		return r;
	}
	if (!imap_arg_get_atom(a, &name))
		return fail(sp, "Invalid search key");
	if ((name[0] >= '0' && name[0] <= '9') || name[0] == '*') {
		k->type = IMAP_SEARCH_SEQSET;
		r = imap_seqset_parse(sp->a, name, strlen(name), &k->u.set);
		if (r == -EINVAL)
			return fail(sp, "Invalid sequence set");
		return r;
	}
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (caseeq(name, keys[i].name)) {
			k->type = keys[i].type;
			return parse_arg(sp, depth, k, keys[i].arg);
		}
	}
	return fail(sp, "Unknown search key");
}

static int
parse_return(struct sp *sp)
{
	static const struct {
		const char *name;
		unsigned int bit;
	} opts[] = {
		{ "MIN", IMAP_SEARCH_RETURN_MIN },
		{ "MAX", IMAP_SEARCH_RETURN_MAX },
		{ "ALL", IMAP_SEARCH_RETURN_ALL },
		{ "COUNT", IMAP_SEARCH_RETURN_COUNT },
		{ "SAVE", IMAP_SEARCH_RETURN_SAVE },
	};
	const struct imap_arg *o;
	size_t i;

	if (!imap_arg_get_list(take(sp), &o, NULL))
		return fail(sp, "Invalid RETURN options");
	sp->s->has_return = true;
	for (; o != NULL; o = o->next) {
		for (i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
			if (imap_arg_atom_equals(o, opts[i].name))
				break;
		if (i == sizeof(opts) / sizeof(opts[0]))
			return fail(sp, "Unknown RETURN option");
		sp->s->return_opts |= opts[i].bit;
	}
	/* RFC 4731 section 3.1: "RETURN ()" means ALL */
	if (sp->s->return_opts == 0)
		sp->s->return_opts = IMAP_SEARCH_RETURN_ALL;
	return 0;
}

/* charset: UTF-8 or US-ASCII, any case */
static int
parse_charset(struct sp *sp)
{
	const char *cs;

	if (!imap_arg_get_astring(take(sp), &cs, NULL))
		return fail(sp, "Missing charset");
	if (caseeq(cs, "UTF-8")) {
		sp->s->charset = IMAP_SEARCH_CHARSET_UTF8;
		return 0;
	}
	if (caseeq(cs, "US-ASCII"))
		return 0;
	*sp->error_r = "Unsupported charset";
	return -ENOTSUP;
}

/* The search criteria that end the command: an implicit AND of keys. */
static int
parse_criteria(struct sp *sp)
{
	sp->s->root = arena_zalloc(sp->a, sizeof(*sp->s->root));
	if (sp->s->root == NULL)
		return -ENOMEM;
	sp->s->root->type = IMAP_SEARCH_AND;
	return parse_keys(sp, 0, &sp->s->root->u.sub);
}

int
imap_search_parse(struct arena *a, const struct imap_arg *args,
    struct imap_search **search_r, const char **error_r)
{
	struct sp sp = { .a = a, .cur = args, .error_r = error_r };
	int r;

	*search_r = NULL;
	*error_r = NULL;
	sp.s = arena_zalloc(a, sizeof(*sp.s));
	if (sp.s == NULL)
		return -ENOMEM;
	if (imap_arg_atom_equals(sp.cur, "RETURN")) {
		take(&sp);
		r = parse_return(&sp);
		if (r < 0)
			return r;
	}
	if (imap_arg_atom_equals(sp.cur, "CHARSET")) {
		take(&sp);
		r = parse_charset(&sp);
		if (r < 0)
			return r;
	}
	r = parse_criteria(&sp);
	if (r < 0)
		return r;
	*search_r = sp.s;
	return 0;
}

static int
parse_sort_keys(struct sp *sp, struct imap_sort_args *sa)
{
	static const struct {
		const char *name;
		enum imap_sort_key_type type;
	} skeys[] = {
		{ "ARRIVAL", IMAP_SORT_ARRIVAL },
		{ "CC", IMAP_SORT_CC },
		{ "DATE", IMAP_SORT_DATE },
		{ "FROM", IMAP_SORT_FROM },
		{ "SIZE", IMAP_SORT_SIZE },
		{ "SUBJECT", IMAP_SORT_SUBJECT },
		{ "TO", IMAP_SORT_TO },
		{ "DISPLAYFROM", IMAP_SORT_DISPLAYFROM },
		{ "DISPLAYTO", IMAP_SORT_DISPLAYTO },
	};
	const struct imap_arg *k;
	bool reverse = false;
	size_t i;

	if (!imap_arg_get_list(take(sp), &k, NULL) || k == NULL)
		return fail(sp, "Missing sort criteria");
	for (; k != NULL; k = k->next) {
		if (imap_arg_atom_equals(k, "REVERSE")) {
			if (reverse)
				return fail(sp, "REVERSE twice");
			reverse = true;
			continue;
		}
		for (i = 0; i < sizeof(skeys) / sizeof(skeys[0]); i++)
			if (imap_arg_atom_equals(k, skeys[i].name))
				break;
		if (i == sizeof(skeys) / sizeof(skeys[0]))
			return fail(sp, "Unknown sort key");
		if (sa->n_crit == IMAP_SORT_MAX_CRIT)
			return fail(sp, "Too many sort keys");
		sa->crit[sa->n_crit].type = skeys[i].type;
		sa->crit[sa->n_crit].reverse = reverse;
		sa->n_crit++;
		reverse = false;
	}
	if (reverse)
		return fail(sp, "REVERSE without a sort key");
	return 0;
}

int
imap_sort_parse(struct arena *a, const struct imap_arg *args, bool thread,
    struct imap_sort_args **sort_r, const char **error_r)
{
	struct sp sp = { .a = a, .cur = args, .error_r = error_r };
	struct imap_sort_args *sa;
	int r;

	*sort_r = NULL;
	*error_r = NULL;
	sa = arena_zalloc(a, sizeof(*sa));
	sp.s = arena_zalloc(a, sizeof(*sp.s));
	if (sa == NULL || sp.s == NULL)
		return -ENOMEM;
	sa->search = sp.s;
	if (thread) {
		if (imap_arg_atom_equals(sp.cur, "ORDEREDSUBJECT"))
			sa->alg = IMAP_THREAD_ORDEREDSUBJECT;
		else if (imap_arg_atom_equals(sp.cur, "REFERENCES"))
			sa->alg = IMAP_THREAD_REFERENCES;
		else if (sp.cur == NULL)
			return fail(&sp, "Missing threading algorithm");
		else
			return fail(&sp, "Unknown threading algorithm");
		take(&sp);
	} else {
		if (imap_arg_atom_equals(sp.cur, "RETURN")) {
			take(&sp);
			r = parse_return(&sp);
			if (r < 0)
				return r;
		}
		r = parse_sort_keys(&sp, sa);
		if (r < 0)
			return r;
	}
	r = parse_charset(&sp);
	if (r < 0)
		return r;
	r = parse_criteria(&sp);
	if (r < 0)
		return r;
	*sort_r = sa;
	return 0;
}
