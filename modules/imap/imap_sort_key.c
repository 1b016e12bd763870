/* imap_sort_key.c: RFC 5256 base subject, sent date, ENVELOPE fields, order */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "imap_search_match.h"
#include "imap_sort_key.h"

void
imap_casemap(char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (s[i] >= 'a' && s[i] <= 'z')
			s[i] = (char)(s[i] - 'a' + 'A');
}

/* ---- base subject (RFC 5256 section 2.1) ---- */

/*
 * subj-blob = "[" *BLOBCHAR "]" *WSP; BLOBCHAR is any CHAR but '[' and
 * ']' (and NUL, never present here).  Length matched, or 0.
 */
static size_t
blob_len(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || s[0] != '[')
		return 0;
	for (i = 1; i < len && s[i] != ']'; i++)
		if (s[i] == '[')
			return 0;
	if (i == len)
		return 0;
	for (i++; i < len && s[i] == ' '; i++)
		;
	return i;
}

/* subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":" */
static size_t
refwd_len(const char *s, size_t len)
{
	size_t i, b;

	if (len >= 2 && s[0] == 'R' && s[1] == 'E')
		i = 2;
	else if (len >= 3 && s[0] == 'F' && s[1] == 'W' && s[2] == 'D')
		i = 3;
	else if (len >= 2 && s[0] == 'F' && s[1] == 'W')
		i = 2;
	else
		return 0;
	while (i < len && s[i] == ' ')
		i++;
	if (i < len && s[i] == '[') {
		b = blob_len(s + i, len - i);
		if (b == 0)
			return 0;
		i += b;
	}
	if (i < len && s[i] == ':')
		return i + 1;
	return 0;
}

/* subj-leader = (*subj-blob subj-refwd) / WSP; sets *refwd for the first */
static size_t
leader_len(const char *s, size_t len, bool *refwd)
{
	size_t i = 0, r, b;

	if (len > 0 && s[0] == ' ')
		return 1;
	for (;;) {
		r = refwd_len(s + i, len - i);
		if (r > 0) {
			*refwd = true;
			return i + r;
		}
		b = blob_len(s + i, len - i);
		if (b == 0)
			return 0;
		i += b;
	}
}

size_t
imap_base_subject_extract(const char *s, size_t len, size_t *start_r,
    bool *is_reply_r)
{
	size_t b = 0, n = len, l, bl;
	bool changed, refwd;

	*is_reply_r = false;
	for (;;) {
		/* (2) subj-trailer = "(fwd)" / WSP, repeatedly */
		while (n > b) {
			if (s[n - 1] == ' ') {
				n--;
			} else if (n - b >= 5 &&
			    memcmp(s + n - 5, "(FWD)", 5) == 0) {
				n -= 5;
				*is_reply_r = true;
			} else {
				break;
			}
		}
		/* (3)-(5) leaders, then one blob if something stays */
		do {
			changed = false;
			refwd = false;
			while ((l = leader_len(s + b, n - b, &refwd)) > 0) {
				b += l;
				changed = true;
			}
			if (refwd)
				*is_reply_r = true;
			bl = blob_len(s + b, n - b);
			if (bl > 0 && b + bl < n) {
				b += bl;
				changed = true;
			}
		} while (changed);
		/* (6) "[fwd:" subj-base "]" */
		if (n - b >= 6 && memcmp(s + b, "[FWD:", 5) == 0 &&
		    s[n - 1] == ']') {
			b += 5;
			n--;
			*is_reply_r = true;
			continue;
		}
		break;
	}
	*start_r = b;
	return n - b;
}

char *
imap_base_subject(struct arena *a, const char *subject, size_t len,
    bool *is_reply_r)
{
	char *d, *out;
	size_t i, n = 0, start, blen;
	bool space = false;

	*is_reply_r = false;
	if (subject == NULL)
		return arena_strdup(a, "");
	/* (1) encoded words, then whitespace */
	d = imap_decode_words(a, subject, len);
	if (d == NULL)
		return NULL;
	for (i = 0; d[i] != '\0'; i++) {
		char c = d[i];

		if (c == '\t' || c == '\r' || c == '\n' || c == ' ') {
			space = true;
			continue;
		}
		/* n <= i: a run of spaces becomes one */
		if (space)
			d[n++] = ' ';
		space = false;
		d[n++] = c;
	}
	if (space)
		d[n++] = ' ';
	imap_casemap(d, n);
	blen = imap_base_subject_extract(d, n, &start, is_reply_r);
	out = arena_strndup(a, d + start, blen);
	return out;
}

/* ---- sent date (RFC 5256 section 2.2, RFC 5322 section 3.3) ---- */

static bool
is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Skips whitespace and (nested) comments. */
static size_t
skip_cfws(const char *s, size_t len, size_t i)
{
	unsigned depth = 0;

	for (; i < len; i++) {
		if (depth > 0) {
			if (s[i] == '\\' && i + 1 < len)
				i++;
			else if (s[i] == '(')
				depth++;
			else if (s[i] == ')')
				depth--;
			continue;
		}
		if (s[i] == '(')
			depth = 1;
		else if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' &&
		    s[i] != '\n')
			break;
	}
	return i;
}

/* Up to max digits; false when none. */
static bool
digits(const char *s, size_t len, size_t *i, unsigned max, unsigned *v_r,
    unsigned *n_r)
{
	unsigned v = 0, n = 0;

	while (*i < len && is_digit(s[*i]) && n < max) {
		v = v * 10 + (unsigned)(s[*i] - '0');
		(*i)++;
		n++;
	}
	if (n == 0 || (*i < len && is_digit(s[*i])))
		return false;
	*v_r = v;
	if (n_r != NULL)
		*n_r = n;
	return true;
}

static int
zone_minutes(const char *s, size_t len, size_t i)
{
	static const struct {
		const char *name;
		int min;
	} names[] = {
		{ "UT", 0 }, { "UTC", 0 }, { "GMT", 0 }, { "Z", 0 },
		{ "EST", -300 }, { "EDT", -240 }, { "CST", -360 },
		{ "CDT", -300 }, { "MST", -420 }, { "MDT", -360 },
		{ "PST", -480 }, { "PDT", -420 },
	};
	size_t k, n;

	if (i < len && (s[i] == '+' || s[i] == '-')) {
		unsigned v = 0;

		for (k = 1; k <= 4; k++) {
			if (i + k >= len || !is_digit(s[i + k]))
				return 0;
			v = v * 10 + (unsigned)(s[i + k] - '0');
		}
		if (v % 100 > 59)
			return 0;
		return (int)(v / 100 * 60 + v % 100) * (s[i] == '-' ? -1 : 1);
	}
	for (n = 0; i + n < len && is_alpha(s[i + n]); n++)
		;
	for (k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
		const char *z = names[k].name;
		size_t j;

		if (strlen(z) != n)
			continue;
		for (j = 0; j < n; j++)
			if ((s[i + j] & ~0x20) != z[j])
				break;
		if (j == n)
			return names[k].min;
	}
	return 0;	/* unknown or military zones: UTC (RFC 5322 4.3) */
}

int
imap_sent_date_parse(const char *s, size_t len, int64_t *time_r)
{
	static const char months[] = "JANFEBMARAPRMAYJUNJULAUGSEPOCTNOVDEC";
	static const unsigned char mdays[] = {
		31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31,
	};
	unsigned day, month, year, nd, h = 0, m = 0, sec = 0;
	size_t i, j;
	int64_t t;
	int zone = 0;

	if (s == NULL)
		return -EINVAL;
	i = skip_cfws(s, len, 0);
	/* [day-of-week ","] */
	if (i < len && is_alpha(s[i])) {
		while (i < len && is_alpha(s[i]))
			i++;
		i = skip_cfws(s, len, i);
		if (i < len && s[i] == ',')
			i = skip_cfws(s, len, i + 1);
	}
	if (!digits(s, len, &i, 2, &day, NULL))
		return -EINVAL;
	i = skip_cfws(s, len, i);
	if (i + 3 > len)
		return -EINVAL;
	for (month = 0; month < 12; month++) {
		for (j = 0; j < 3; j++)
			if ((s[i + j] & ~0x20) != months[month * 3 + j])
				break;
		if (j == 3)
			break;
	}
	if (month == 12)
		return -EINVAL;
	for (i += 3; i < len && is_alpha(s[i]); i++)
		;	/* "July" */
	i = skip_cfws(s, len, i);
	if (!digits(s, len, &i, 4, &year, &nd))
		return -EINVAL;
	/* obs-year (RFC 5322 4.3) */
	if (nd == 2)
		year += year < 50 ? 2000 : 1900;
	else if (nd == 3)
		year += 1900;
	if (day == 0 || day > mdays[month] || (month == 1 && day == 29 &&
	    (year % 4 != 0 || (year % 100 == 0 && year % 400 != 0))))
		return -EINVAL;
	i = skip_cfws(s, len, i);
	/* time: an invalid one counts as 00:00:00, its zone as UTC */
	{
		size_t k = i;
		unsigned hh, mm, ss = 0;

		if (digits(s, len, &k, 2, &hh, NULL) && k < len &&
		    s[k] == ':' && (k++, digits(s, len, &k, 2, &mm, NULL)) &&
		    hh < 24 && mm < 60) {
			if (k < len && s[k] == ':') {
				k++;
				if (!digits(s, len, &k, 2, &ss, NULL) ||
				    ss > 60)
					ss = 0;
			}
			h = hh;
			m = mm;
			sec = ss;
			k = skip_cfws(s, len, k);
			zone = zone_minutes(s, len, k);
		}
	}
	t = imap_days_from_civil((int)year, month + 1, day) * 86400 +
	    (int64_t)h * 3600 + (int64_t)m * 60 + sec;
	*time_r = t - (int64_t)zone * 60;
	return 0;
}

/* ---- ENVELOPE ---- */

struct ep {
	struct arena *a;
	const char *s;
	size_t len, i;
};

static void
ep_space(struct ep *p)
{
	while (p->i < p->len && p->s[p->i] == ' ')
		p->i++;
}

static bool
ep_char(struct ep *p, char c)
{
	ep_space(p);
	if (p->i < p->len && p->s[p->i] == c) {
		p->i++;
		return true;
	}
	return false;
}

/* nstring: NIL, "quoted" or {n}CRLF literal; *r NULL for NIL */
static int
ep_nstring(struct ep *p, const char **r)
{
	const char *s = p->s;
	char *out;
	size_t n = 0, k;

	ep_space(p);
	*r = NULL;
	if (p->i + 3 <= p->len && (s[p->i] & ~0x20) == 'N' &&
	    (s[p->i + 1] & ~0x20) == 'I' && (s[p->i + 2] & ~0x20) == 'L') {
		p->i += 3;
		return 0;
	}
	if (p->i < p->len && s[p->i] == '"') {
		size_t start = ++p->i;

		for (k = start; k < p->len && s[k] != '"'; k++)
			if (s[k] == '\\' && k + 1 < p->len)
				k++;
		if (k >= p->len)
			return -EINVAL;
		out = arena_alloc(p->a, k - start + 1);
		if (out == NULL)
			return -ENOMEM;
		for (; p->i < k; p->i++) {
			if (s[p->i] == '\\')
				p->i++;
			out[n++] = s[p->i];
		}
		out[n] = '\0';
		p->i = k + 1;
		*r = out;
		return 0;
	}
	if (p->i < p->len && s[p->i] == '{') {
		uint64_t size = 0;

		for (k = p->i + 1; k < p->len && is_digit(s[k]); k++) {
			size = size * 10 + (uint64_t)(s[k] - '0');
			if (size > p->len)
				return -EINVAL;
		}
		if (k == p->i + 1 || k + 3 > p->len || s[k] != '}' ||
		    s[k + 1] != '\r' || s[k + 2] != '\n' ||
		    size > p->len - (k + 3))
			return -EINVAL;
		k += 3;
		out = arena_alloc(p->a, (size_t)size + 1);
		if (out == NULL)
			return -ENOMEM;
		/* a NUL inside would cut the C string: harmless for keys */
		memcpy(out, s + k, (size_t)size);
		out[size] = '\0';
		p->i = k + (size_t)size;
		*r = out;
		return 0;
	}
	return -EINVAL;
}

/* Address list; keeps the first address that is not a group marker. */
static int
ep_addrs(struct ep *p, struct imap_env_addr *first)
{
	const char *f[4];
	bool have = false;
	int r, k;

	memset(first, 0, sizeof(*first));
	ep_space(p);
	if (!ep_char(p, '(')) {
		const char *nil;

		return ep_nstring(p, &nil) < 0 || nil != NULL ? -EINVAL : 0;
	}
	for (;;) {
		if (ep_char(p, ')'))
			return 0;
		if (!ep_char(p, '('))
			return -EINVAL;
		for (k = 0; k < 4; k++) {
			r = ep_nstring(p, &f[k]);
			if (r < 0)
				return r;
		}
		if (!ep_char(p, ')'))
			return -EINVAL;
		if (!have && f[3] != NULL) {
			first->name = f[0];
			first->mailbox = f[2];
			first->host = f[3];
			have = true;
		}
	}
}

int
imap_envelope_parse(struct arena *a, const char *env, size_t len,
    struct imap_envelope *e)
{
	struct ep p = { .a = a, .s = env, .len = len };
	struct imap_env_addr skip;
	int r;

	memset(e, 0, sizeof(*e));
	if (env == NULL || !ep_char(&p, '('))
		return -EINVAL;
	if ((r = ep_nstring(&p, &e->date)) < 0 ||
	    (r = ep_nstring(&p, &e->subject)) < 0 ||
	    (r = ep_addrs(&p, &e->from)) < 0 ||
	    (r = ep_addrs(&p, &skip)) < 0 ||		/* sender */
	    (r = ep_addrs(&p, &skip)) < 0 ||		/* reply-to */
	    (r = ep_addrs(&p, &e->to)) < 0 ||
	    (r = ep_addrs(&p, &e->cc)) < 0 ||
	    (r = ep_addrs(&p, &skip)) < 0 ||		/* bcc */
	    (r = ep_nstring(&p, &e->in_reply_to)) < 0 ||
	    (r = ep_nstring(&p, &e->message_id)) < 0)
		return r;
	if (!ep_char(&p, ')'))
		return -EINVAL;
	return 0;
}

/* ---- message IDs ---- */

bool
imap_msgid_next(const char **pp, const char *end, const char **id_r,
    size_t *len_r)
{
	const char *p = *pp;

	while (p < end) {
		const char *start, *q;
		bool quoted = false, at = false, ok = true;

		while (p < end && *p != '<')
			p++;
		if (p >= end)
			break;
		start = ++p;
		for (q = start; q < end; q++) {
			unsigned char c = (unsigned char)*q;

			if (quoted) {
				if (c == '\\' && q + 1 < end)
					q++;
				else if (c == '"')
					quoted = false;
				continue;
			}
			if (c == '>' || c == '<')
				break;
			if (c == '"')
				quoted = true;
			else if (c == '@')
				at = true;
			else if (c <= ' ' || c == 0x7f)
				ok = false;
		}
		if (q < end && *q == '>' && ok && at && q > start) {
			*id_r = start;
			*len_r = (size_t)(q - start);
			*pp = q + 1;
			return true;
		}
		p = q;	/* at the next '<' or the end */
	}
	*pp = end;
	return false;
}

/* ---- order ---- */

static int
cmp_i64(int64_t a, int64_t b)
{
	return a < b ? -1 : a > b;
}

int
imap_sort_compare(const struct imap_sort_rec *a,
    const struct imap_sort_rec *b, const struct imap_sort_crit *crit,
    size_t n_crit, const char *pool)
{
	size_t i;
	int r = 0;

	for (i = 0; i < n_crit && r == 0; i++) {
		enum imap_sort_str k;

		switch (crit[i].type) {
		case IMAP_SORT_ARRIVAL:
			r = cmp_i64(a->arrival, b->arrival);
			break;
		case IMAP_SORT_DATE:
			r = cmp_i64(a->date, b->date);
			break;
		case IMAP_SORT_SIZE:
			r = a->size < b->size ? -1 : a->size > b->size;
			break;
		default:
			switch (crit[i].type) {
			case IMAP_SORT_CC: k = IMAP_SORT_STR_CC; break;
			case IMAP_SORT_FROM: k = IMAP_SORT_STR_FROM; break;
			case IMAP_SORT_SUBJECT: k = IMAP_SORT_STR_SUBJECT;
				break;
			case IMAP_SORT_TO: k = IMAP_SORT_STR_TO; break;
			case IMAP_SORT_DISPLAYFROM:
				k = IMAP_SORT_STR_DISPLAYFROM;
				break;
			default: k = IMAP_SORT_STR_DISPLAYTO; break;
			}
			r = strcmp(pool + a->str[k], pool + b->str[k]);
			r = r < 0 ? -1 : r > 0;
			break;
		}
		if (crit[i].reverse)
			r = -r;
	}
	if (r == 0)
		r = a->idx < b->idx ? -1 : a->idx > b->idx;
	return r;
}

int
imap_sort_recs(struct imap_sort_rec *recs, size_t n,
    const struct imap_sort_crit *crit, size_t n_crit, const char *pool)
{
	struct imap_sort_rec *tmp, *src = recs, *dst, *t;
	size_t width, lo, mid, hi, i, j, k;

	if (n < 2)
		return 0;
	if (n > SIZE_MAX / sizeof(*tmp))
		return -ENOMEM;
	tmp = malloc(n * sizeof(*tmp));
	if (tmp == NULL)
		return -ENOMEM;
	dst = tmp;
	/* bottom-up merge sort: n log n whatever the input */
	for (width = 1; width < n; width *= 2) {
		for (lo = 0; lo < n; lo += 2 * width) {
			mid = lo + width < n ? lo + width : n;
			hi = lo + 2 * width < n ? lo + 2 * width : n;
			i = lo;
			j = mid;
			k = lo;
			while (i < mid && j < hi) {
				if (imap_sort_compare(&src[j], &src[i], crit,
				    n_crit, pool) < 0)
					dst[k++] = src[j++];
				else
					dst[k++] = src[i++];
			}
			while (i < mid)
				dst[k++] = src[i++];
			while (j < hi)
				dst[k++] = src[j++];
		}
		t = src;
		src = dst;
		dst = t;
		if (width > n / 2)
			break;	/* sorted; and width * 2 must not wrap */
	}
	if (src != recs)
		memcpy(recs, src, n * sizeof(*recs));
	free(tmp);
	return 0;
}
