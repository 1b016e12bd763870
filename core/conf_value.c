/* conf_value.c: typed values (int, size, duration, bool, list, host:port) and settings tables applied to a parsed config */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "conf_int.h"

static const char oom[] = "out of memory";

/* ---- single values ---- */

/* Leading decimal digits of s into *v_r; returns how many, or -1 on
   overflow of uint64_t. */
static int
digits(const char *s, uint64_t *v_r, size_t *n_r)
{
	uint64_t v = 0;
	size_t n = 0;

	while (s[n] >= '0' && s[n] <= '9') {
		unsigned d = (unsigned)(s[n] - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
		n++;
	}
	*v_r = v;
	*n_r = n;
	return 0;
}

int
conf_value_int(const char *s, int64_t *v_r, const char **error_r)
{
	bool neg = false;
	uint64_t v;
	size_t n;

	if (*s == '\0') {
		*error_r = "expected an integer, got an empty value";
		return -EINVAL;
	}
	if (*s == '-') {
		neg = true;
		s++;
	}
	if (digits(s, &v, &n) < 0 ||
	    v > (neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX)) {
		*error_r = "expected an integer, got a number beyond 64 bits";
		return -EINVAL;
	}
	if (n == 0 || s[n] != '\0') {
		*error_r = "expected an integer, got other characters";
		return -EINVAL;
	}
	if (neg)
		*v_r = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
	else
		*v_r = (int64_t)v;
	return 0;
}

#define SIZE_EXPECT "expected a size (123, 512B, 64k, 10M, 1G), "

int
conf_value_size(const char *s, uint64_t *bytes_r, const char **error_r)
{
	uint64_t v, mult = 1;
	size_t n;

	if (digits(s, &v, &n) < 0) {
		*error_r = SIZE_EXPECT "got a number beyond 64 bits";
		return -EINVAL;
	}
	if (n == 0) {
		*error_r = *s == '\0' ? SIZE_EXPECT "got an empty value" :
		    SIZE_EXPECT "got no number";
		return -EINVAL;
	}
	s += n;
	switch (*s) {
	case 'k': case 'K':
		mult = 1024;
		s++;
		break;
	case 'm': case 'M':
		mult = 1024 * 1024;
		s++;
		break;
	case 'g': case 'G':
		mult = 1024 * 1024 * 1024;
		s++;
		break;
	default:
		break;
	}
	if (*s == 'b' || *s == 'B')
		s++;
	if (*s != '\0') {
		*error_r = SIZE_EXPECT "got an unknown unit";
		return -EINVAL;
	}
	if (v > UINT64_MAX / mult) {
		*error_r = SIZE_EXPECT "got a size beyond 64 bits";
		return -EINVAL;
	}
	*bytes_r = v * mult;
	return 0;
}

#define DURATION_EXPECT "expected a duration (250ms, 30s, 5m, 1h, 2d), "

int
conf_value_duration(const char *s, uint64_t *ms_r, const char **error_r)
{
	static const struct {
		const char *unit;
		uint64_t ms;
	} units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "m", 60 * 1000 },
		{ "h", 3600 * 1000 }, { "d", 24 * 3600 * 1000 },
	};
	uint64_t v;
	size_t n, i;

	if (digits(s, &v, &n) < 0) {
		*error_r = DURATION_EXPECT "got a number beyond 64 bits";
		return -EINVAL;
	}
	if (n == 0) {
		*error_r = *s == '\0' ? DURATION_EXPECT "got an empty value" :
		    DURATION_EXPECT "got no number";
		return -EINVAL;
	}
	s += n;
	if (*s == '\0') {
		if (v == 0) {
			*ms_r = 0;
			return 0;
		}
		*error_r = DURATION_EXPECT "got a number without a unit";
		return -EINVAL;
	}
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(s, units[i].unit) != 0)
			continue;
		if (v > UINT64_MAX / units[i].ms) {
			*error_r = DURATION_EXPECT "got a duration beyond "
			    "64 bits of milliseconds";
			return -EINVAL;
		}
		*ms_r = v * units[i].ms;
		return 0;
	}
	*error_r = DURATION_EXPECT "got an unknown unit";
	return -EINVAL;
}

int
conf_value_bool(const char *s, bool *v_r, const char **error_r)
{
	if (strcmp(s, "yes") == 0) {
		*v_r = true;
		return 0;
	}
	if (strcmp(s, "no") == 0) {
		*v_r = false;
		return 0;
	}
	*error_r = *s == '\0' ? "expected yes or no, got an empty value" :
	    "expected yes or no, got another word";
	return -EINVAL;
}

/*
 * Splits s at commas into trimmed, non-empty items (NULL-terminated array
 * from a); only blanks in s make zero items.
 */
static int
split_list(struct arena *a, const char *s, const char ***items_r,
    size_t *n_r, const char *empty_error, const char **error_r)
{
	const char *end = s + strlen(s), *p, **items;
	size_t n = 1, i;

	s = skip_blanks(s, end);
	while (end > s && is_blank(end[-1]))
		end--;
	*n_r = 0;
	*items_r = NULL;
	if (s == end)
		return 0;
	for (p = s; p < end; p++)
		if (*p == ',')
			n++;
	items = arena_alloc(a, (n + 1) * sizeof(*items));
	if (items == NULL) {
		*error_r = oom;
		return -ENOMEM;
	}
	for (i = 0, p = s; i < n; i++) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		const char *ie = comma != NULL ? comma : end;
		const char *is = skip_blanks(p, ie);

		while (ie > is && is_blank(ie[-1]))
			ie--;
		if (ie == is) {
			*error_r = empty_error;
			return -EINVAL;
		}
		items[i] = arena_strndup(a, is, (size_t)(ie - is));
		if (items[i] == NULL) {
			*error_r = oom;
			return -ENOMEM;
		}
		p = comma != NULL ? comma + 1 : end;
	}
	items[n] = NULL;
	*items_r = items;
	*n_r = n;
	return 0;
}

int
conf_value_list(struct arena *a, const char *s, struct posta_list *v_r,
    const char **error_r)
{
	const char **items;
	size_t n;
	int r;

	r = split_list(a, s, &items, &n, "expected a comma-separated list, "
	    "got an empty item", error_r);
	if (r < 0)
		return r;
	v_r->n = n;
	v_r->items = items;
	return 0;
}

#define ADDR_EXPECT "expected IPv4:PORT or [IPv6]:PORT, "

static int
parse_port(const char *s, in_port_t *port_r, const char **error_r)
{
	uint64_t v;
	size_t n;

	if (digits(s, &v, &n) < 0 || n == 0 || s[n] != '\0' || v > 65535) {
		*error_r = ADDR_EXPECT "got a port that is not 0..65535";
		return -EINVAL;
	}
	*port_r = htons((uint16_t)v);
	return 0;
}

static int
parse_addr(const char *s, struct sockaddr_storage *ss, const char **error_r)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *colon;
	size_t len;

	memset(ss, 0, sizeof(*ss));
	if (*s == '[') {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
		const char *close = strchr(s, ']');

		if (close == NULL) {
			*error_r = ADDR_EXPECT "got '[' without ']'";
			return -EINVAL;
		}
		len = (size_t)(close - s - 1);
		if (len >= sizeof(host)) {
			*error_r = ADDR_EXPECT "got an invalid IPv6 address";
			return -EINVAL;
		}
		memcpy(host, s + 1, len);
		host[len] = '\0';
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1) {
			*error_r = ADDR_EXPECT "got an invalid IPv6 address";
			return -EINVAL;
		}
		if (close[1] != ':') {
			*error_r = ADDR_EXPECT "got no :PORT after ']'";
			return -EINVAL;
		}
		sin6->sin6_family = AF_INET6;
		return parse_port(close + 2, &sin6->sin6_port, error_r);
	}

	colon = strrchr(s, ':');
	if (colon == NULL) {
		*error_r = ADDR_EXPECT "got no :PORT";
		return -EINVAL;
	}
	if (memchr(s, ':', (size_t)(colon - s)) != NULL) {
		*error_r = ADDR_EXPECT "got an IPv6 address without brackets";
		return -EINVAL;
	}
	len = (size_t)(colon - s);
	if (len < sizeof(host)) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		memcpy(host, s, len);
		host[len] = '\0';
		if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
			sin->sin_family = AF_INET;
			return parse_port(colon + 1, &sin->sin_port, error_r);
		}
	}
	if (strspn(s, "0123456789.") == len)
		*error_r = ADDR_EXPECT "got an invalid IPv4 address";
	else
		*error_r = ADDR_EXPECT "got a host name (no DNS at startup)";
	return -EINVAL;
}

int
conf_value_addrs(struct arena *a, const char *s, struct posta_addrs *v_r,
    const char **error_r)
{
	struct sockaddr_storage *addrs;
	const char **items;
	size_t n, i;
	int r;

	r = split_list(a, s, &items, &n, ADDR_EXPECT "got an empty item",
	    error_r);
	if (r < 0)
		return r;
	addrs = NULL;
	if (n > 0) {
		addrs = arena_zalloc(a, n * sizeof(*addrs));
		if (addrs == NULL) {
			*error_r = oom;
			return -ENOMEM;
		}
	}
	for (i = 0; i < n; i++) {
		r = parse_addr(items[i], &addrs[i], error_r);
		if (r < 0)
			return r;
	}
	v_r->n = n;
	v_r->addrs = addrs;
	return 0;
}

/* ---- settings tables ---- */

/* n in the largest unit that divides it: "16M", "512B" (parseable). */
static const char *
fmt_size(struct arena *a, uint64_t n)
{
	static const char units[] = "GMk";
	uint64_t mult = UINT64_C(1) << 30;
	size_t i;

	for (i = 0; i < 3; i++, mult >>= 10)
		if (n != 0 && n % mult == 0)
			return arena_printf(a, "%llu%c",
			    (unsigned long long)(n / mult), units[i]);
	return arena_printf(a, "%lluB", (unsigned long long)n);
}

static const char *
fmt_duration(struct arena *a, uint64_t ms)
{
	static const struct {
		char unit;
		uint64_t ms;
	} units[] = {
		{ 'd', 24 * 3600 * 1000 }, { 'h', 3600 * 1000 },
		{ 'm', 60 * 1000 }, { 's', 1000 },
	};
	size_t i;

	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (ms != 0 && ms % units[i].ms == 0)
			return arena_printf(a, "%llu%c",
			    (unsigned long long)(ms / units[i].ms),
			    units[i].unit);
	if (ms == 0)
		return "0s";
	return arena_printf(a, "%llums", (unsigned long long)ms);
}

static bool
has_bounds(const struct posta_setting *set)
{
	return set->min != 0 || set->max != 0;
}

/*
 * 0 when the value is within the row's bounds; else -ERANGE with *msg_r
 * "expected MIN to MAX, got V" in the setting's units (sizes and durations
 * written the way the config would, "16M", "30s"), or -ENOMEM.  Unsigned
 * values above INT64_MAX are beyond any max.
 */
static int
check_range(struct arena *a, const struct posta_setting *set, bool is_signed,
    int64_t sv, uint64_t uv, const char **msg_r)
{
	bool ok;
	const char *lo, *hi, *got;

	*msg_r = NULL;
	if (!has_bounds(set))
		return 0;
	if (is_signed)
		ok = sv >= set->min && sv <= set->max;
	else
		ok = uv <= INT64_MAX && (int64_t)uv >= set->min &&
		    (int64_t)uv <= set->max;
	if (ok)
		return 0;
	switch (set->type) {
	case POSTA_SET_SIZE:
		lo = fmt_size(a, (uint64_t)set->min);
		hi = fmt_size(a, (uint64_t)set->max);
		got = fmt_size(a, uv);
		break;
	case POSTA_SET_DURATION:
		lo = fmt_duration(a, (uint64_t)set->min);
		hi = fmt_duration(a, (uint64_t)set->max);
		got = fmt_duration(a, uv);
		break;
	default:
		lo = arena_printf(a, "%lld", (long long)set->min);
		hi = arena_printf(a, "%lld", (long long)set->max);
		got = arena_printf(a, "%lld", (long long)sv);
		break;
	}
	if (lo == NULL || hi == NULL || got == NULL)
		return -ENOMEM;
	*msg_r = arena_printf(a, "expected %s to %s, got %s", lo, hi, got);
	return *msg_r == NULL ? -ENOMEM : -ERANGE;
}

static const char *
enum_choices(struct arena *a, const char *const *choices)
{
	size_t len = 1, i;
	char *s;

	for (i = 0; choices[i] != NULL; i++)
		len += strlen(choices[i]) + 2;
	s = arena_alloc(a, len);
	if (s == NULL)
		return NULL;
	s[0] = '\0';
	for (i = 0; choices[i] != NULL; i++) {
		if (i > 0)
			strcat(s, ", ");
		strcat(s, choices[i]);
	}
	return s;
}

/*
 * Parses text per set->type and stores it at set->offset in dest.
 * Returns 0, -ENOMEM, or -EINVAL with *msg_r "expected ..., got ...".
 */
static int
store_value(struct arena *a, const struct posta_setting *set,
    const char *text, void *dest, const char **msg_r)
{
	char *at = (char *)dest + set->offset;
	int r;

	switch (set->type) {
	case POSTA_SET_STRING: {
		const char *v = arena_strdup(a, text);

		if (v == NULL)
			return -ENOMEM;
		memcpy(at, &v, sizeof(v));
		return 0;
	}
	case POSTA_SET_INT: {
		int64_t v;

		r = conf_value_int(text, &v, msg_r);
		if (r == 0)
			r = check_range(a, set, true, v, 0, msg_r);
		if (r == 0)
			memcpy(at, &v, sizeof(v));
		break;
	}
	case POSTA_SET_SIZE:
	case POSTA_SET_DURATION: {
		uint64_t v;

		r = set->type == POSTA_SET_SIZE ?
		    conf_value_size(text, &v, msg_r) :
		    conf_value_duration(text, &v, msg_r);
		if (r == 0)
			r = check_range(a, set, false, 0, v, msg_r);
		if (r == 0)
			memcpy(at, &v, sizeof(v));
		break;
	}
	case POSTA_SET_BOOL: {
		bool v;

		r = conf_value_bool(text, &v, msg_r);
		if (r == 0)
			memcpy(at, &v, sizeof(v));
		break;
	}
	case POSTA_SET_LIST: {
		struct posta_list v;

		r = conf_value_list(a, text, &v, msg_r);
		if (r == 0)
			memcpy(at, &v, sizeof(v));
		break;
	}
	case POSTA_SET_ADDRS: {
		struct posta_addrs v;

		r = conf_value_addrs(a, text, &v, msg_r);
		if (r == 0)
			memcpy(at, &v, sizeof(v));
		break;
	}
	case POSTA_SET_ENUM: {
		const char *list;
		int i;

		for (i = 0; set->choices[i] != NULL; i++) {
			if (strcmp(set->choices[i], text) == 0) {
				memcpy(at, &i, sizeof(i));
				return 0;
			}
		}
		list = enum_choices(a, set->choices);
		if (list == NULL)
			return -ENOMEM;
		*msg_r = arena_printf(a, "expected one of: %s; got another "
		    "word", list);
		return *msg_r == NULL ? -ENOMEM : -EINVAL;
	}
	default:
		return -EINVAL;		/* refused by check_table */
	}
	return r == -ERANGE ? -EINVAL : r;
}

/* Table rows are code, not config: report their mistakes plainly. */
static int
check_table(struct arena *a, const struct posta_setting *set,
    const char **error_r)
{
	if (set->type < POSTA_SET_STRING || set->type > POSTA_SET_ENUM)
		return conf_fail(a, error_r, "built-in setting %s: expected a "
		    "setting type, got %d", set->name, (int)set->type);
	if (set->type == POSTA_SET_ENUM &&
	    (set->choices == NULL || set->choices[0] == NULL))
		return conf_fail(a, error_r, "built-in setting %s: expected "
		    "choices for an enum, got none", set->name);
	if (has_bounds(set) && set->min > set->max)
		return conf_fail(a, error_r, "built-in setting %s: expected min <= "
		    "max, got %lld > %lld", set->name, (long long)set->min,
		    (long long)set->max);
	if ((set->type == POSTA_SET_SIZE || set->type == POSTA_SET_DURATION)
	    && has_bounds(set) && set->min < 0)
		return conf_fail(a, error_r, "built-in setting %s: expected min >= "
		    "0, got %lld", set->name, (long long)set->min);
	return 0;
}

static int
apply_default(struct arena *a, const struct posta_setting *set,
    const char *where, void *dest, const char **error_r)
{
	const char *text, *msg;
	int r;

	if (set->def == NULL) {
		if (set->type == POSTA_SET_STRING)
			return 0;	/* dest is zeroed: NULL */
		return conf_fail(a, error_r, "built-in default of %s: expected "
		    "config text, got none (only strings may lack one)",
		    set->name);
	}
	r = conf_lex_value(a, set->def, set->def + strlen(set->def), &text, &msg);
	if (r == 0)
		r = store_value(a, set, text, dest, &msg);
	if (r == -ENOMEM) {
		*error_r = oom;
		return r;
	}
	if (r < 0)
		return conf_fail(a, error_r, "built-in default of %s: bad value "
		    "'%s' in %s: %s", set->name, set->def, where, msg);
	return 0;
}

/* Does the row name "key" or "key qualifier" match the item? */
static bool
row_matches(const char *name, const struct conf_item *it)
{
	size_t kl = strlen(it->key);

	if (strncmp(name, it->key, kl) != 0)
		return false;
	if (it->qualifier == NULL)
		return name[kl] == '\0';
	return name[kl] == ' ' && strcmp(name + kl + 1, it->qualifier) == 0;
}

static int
unknown_setting(struct arena *a, const struct posta_setting *table,
    const char *where, const struct conf_item *it, const char **error_r)
{
	size_t len = 1, i;
	char *names;

	for (i = 0; table[i].name != NULL; i++)
		len += strlen(table[i].name) + 2;
	names = arena_alloc(a, len);
	if (names == NULL) {
		*error_r = oom;
		return -ENOMEM;
	}
	names[0] = '\0';
	for (i = 0; table[i].name != NULL; i++) {
		if (i > 0)
			strcat(names, ", ");
		strcat(names, table[i].name);
	}
	if (i == 0)
		return conf_fail(a, error_r, "%s:%u: unknown setting '%s%s%s' in "
		    "%s; expected no settings here", it->file, it->line,
		    it->key, it->qualifier != NULL ? " " : "",
		    it->qualifier != NULL ? it->qualifier : "", where);
	return conf_fail(a, error_r, "%s:%u: unknown setting '%s%s%s' in %s; "
	    "expected one of: %s", it->file, it->line, it->key,
	    it->qualifier != NULL ? " " : "",
	    it->qualifier != NULL ? it->qualifier : "", where, names);
}

int
conf_apply(struct arena *a, const struct posta_setting *table,
    const char *where, const struct conf_item *items, size_t n_items,
    void *dest, const char **error_r)
{
	const struct conf_item **first;
	size_t n_rows, i, row;
	int r;

	*error_r = NULL;
	if (where == NULL)
		where = "settings";
	for (n_rows = 0; table[n_rows].name != NULL; n_rows++) {
		r = check_table(a, &table[n_rows], error_r);
		if (r == 0)
			r = apply_default(a, &table[n_rows], where, dest,
			    error_r);
		if (r < 0)
			return r;
	}
	first = arena_zalloc(a, (n_rows + 1) * sizeof(*first));
	if (first == NULL) {
		*error_r = oom;
		return -ENOMEM;
	}
	for (i = 0; i < n_items; i++) {
		const struct conf_item *it = &items[i];
		const char *file = it->file != NULL ? it->file : "?";
		const char *msg;

		for (row = 0; row < n_rows; row++)
			if (row_matches(table[row].name, it))
				break;
		if (row == n_rows) {
			struct conf_item tmp = *it;

			tmp.file = file;
			return unknown_setting(a, table, where, &tmp,
			    error_r);
		}
		if (first[row] != NULL)
			return conf_fail(a, error_r, "%s:%u: duplicate setting "
			    "'%s' in %s; first set at %s:%u", file, it->line,
			    table[row].name, where, first[row]->file != NULL ?
			    first[row]->file : "?", first[row]->line);
		first[row] = it;
		r = store_value(a, &table[row], it->value, dest, &msg);
		if (r == -ENOMEM) {
			*error_r = oom;
			return r;
		}
		if (r < 0)
			return conf_fail(a, error_r, "%s:%u: bad value '%s' for %s "
			    "in %s: %s", file, it->line, it->value,
			    table[row].name, where, msg);
	}
	return 0;
}
