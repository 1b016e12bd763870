/* imap_seqset.c: sequence-set parsing, resolution against "*", iteration */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "imap_seqset.h"

/* seq-number: nz-number / "*"; returns the index after it, or 0 */
static size_t
parse_number(const char *s, size_t len, size_t i, uint32_t *n_r)
{
	uint64_t n = 0;
	size_t start = i;

	if (i < len && s[i] == '*') {
		*n_r = IMAP_SEQ_STAR;
		return i + 1;
	}
	if (i >= len || s[i] < '1' || s[i] > '9')
		return 0;
	for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
		n = n * 10 + (uint64_t)(s[i] - '0');
		if (n > UINT32_MAX)
			return 0;
	}
	*n_r = (uint32_t)n;
	return i > start ? i : 0;
}

int
imap_seqset_parse(struct arena *a, const char *s, size_t len,
    struct imap_seqset *set_r)
{
	size_t count = 1, i;
	unsigned int k = 0;

	memset(set_r, 0, sizeof(*set_r));
	if (len == 0)
		return -EINVAL;
	for (i = 0; i < len; i++)
		if (s[i] == ',')
			count++;
	if (count > UINT32_MAX || count > SIZE_MAX / sizeof(*set_r->ranges))
		return -EINVAL;
	set_r->ranges = arena_alloc(a, count * sizeof(*set_r->ranges));
	if (set_r->ranges == NULL)
		return -ENOMEM;
	i = 0;
	for (;;) {
		struct imap_seq_range *r = &set_r->ranges[k];

		i = parse_number(s, len, i, &r->lo);
		if (i == 0)
			return -EINVAL;
		r->hi = r->lo;
		if (i < len && s[i] == ':') {
			i = parse_number(s, len, i + 1, &r->hi);
			if (i == 0)
				return -EINVAL;
		}
		k++;
		if (i == len)
			break;
		if (s[i] != ',')
			return -EINVAL;
		i++;
	}
	set_r->count = k;
	return 0;
}

bool
imap_seqset_has_star(const struct imap_seqset *set)
{
	unsigned int i;

	for (i = 0; i < set->count; i++)
		if (set->ranges[i].lo == IMAP_SEQ_STAR ||
		    set->ranges[i].hi == IMAP_SEQ_STAR)
			return true;
	return false;
}

static int
range_cmp(const void *x, const void *y)
{
	const struct imap_seq_range *a = x, *b = y;

	if (a->lo != b->lo)
		return a->lo < b->lo ? -1 : 1;
	if (a->hi != b->hi)
		return a->hi < b->hi ? -1 : 1;
	return 0;
}

int
imap_seqset_resolve(struct arena *a, const struct imap_seqset *in,
    uint32_t max, struct imap_seqset *out_r)
{
	/* in and out_r may be the same struct */
	const struct imap_seq_range *src = in->ranges;
	unsigned int i, n = 0, count = in->count;
	struct imap_seq_range *r;

	if (max == 0 && imap_seqset_has_star(in)) {
		memset(out_r, 0, sizeof(*out_r));
		return -ERANGE;
	}
	r = arena_alloc(a, (count > 0 ? count : 1) * sizeof(*r));
	if (r == NULL) {
		memset(out_r, 0, sizeof(*out_r));
		return -ENOMEM;
	}
	for (i = 0; i < count; i++) {
		uint32_t lo = src[i].lo, hi = src[i].hi;

		if (lo == IMAP_SEQ_STAR)
			lo = max;
		if (hi == IMAP_SEQ_STAR)
			hi = max;
		r[i].lo = lo < hi ? lo : hi;
		r[i].hi = lo < hi ? hi : lo;
	}
	if (count > 1)
		qsort(r, count, sizeof(*r), range_cmp);
	for (i = 0; i < count; i++) {
		/* r[n - 1].hi + 1 as 64 bits: hi may be UINT32_MAX */
		if (n > 0 && (uint64_t)r[i].lo <= (uint64_t)r[n - 1].hi + 1) {
			if (r[i].hi > r[n - 1].hi)
				r[n - 1].hi = r[i].hi;
		} else {
			r[n++] = r[i];
		}
	}
	out_r->ranges = r;
	out_r->count = n;
	return 0;
}

bool
imap_seqset_contains(const struct imap_seqset *set, uint32_t n)
{
	unsigned int lo = 0, hi = set->count;

	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;

		if (n < set->ranges[mid].lo)
			hi = mid;
		else if (n > set->ranges[mid].hi)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

uint64_t
imap_seqset_count(const struct imap_seqset *set)
{
	uint64_t n = 0;
	unsigned int i;

	for (i = 0; i < set->count; i++)
		n += (uint64_t)set->ranges[i].hi - set->ranges[i].lo + 1;
	return n;
}

uint32_t
imap_seqset_highest(const struct imap_seqset *set)
{
	return set->count > 0 ? set->ranges[set->count - 1].hi : 0;
}

void
imap_seqset_iter_init(struct imap_seqset_iter *it,
    const struct imap_seqset *set)
{
	it->set = set;
	it->idx = 0;
	it->next = set->count > 0 ? set->ranges[0].lo : 0;
}

bool
imap_seqset_iter_next(struct imap_seqset_iter *it, uint32_t *n_r)
{
	const struct imap_seqset *set = it->set;

	if (it->idx >= set->count)
		return false;
	*n_r = (uint32_t)it->next;
	/* 64-bit next: stepping past UINT32_MAX must not wrap to 0 */
	if (++it->next > set->ranges[it->idx].hi) {
		it->idx++;
		if (it->idx < set->count)
			it->next = set->ranges[it->idx].lo;
	}
	return true;
}

static size_t
put_number(char *out, uint32_t n)
{
	if (n == IMAP_SEQ_STAR) {
		out[0] = '*';
		return 1;
	}
	return (size_t)sprintf(out, "%u", n);
}

char *
imap_seqset_format(struct arena *a, const struct imap_seqset *set)
{
	/* "4294967295:4294967295," is 22 bytes */
	uint64_t max = (uint64_t)set->count * 22 + 1;
	unsigned int i;
	size_t o = 0;
	char *out;

	if (set->count == 0 || max > SIZE_MAX)
		return NULL;
	out = arena_alloc(a, (size_t)max);
	if (out == NULL)
		return NULL;
	for (i = 0; i < set->count; i++) {
		const struct imap_seq_range *r = &set->ranges[i];

		if (i > 0)
			out[o++] = ',';
		o += put_number(out + o, r->lo);
		if (r->hi != r->lo) {
			out[o++] = ':';
			o += put_number(out + o, r->hi);
		}
	}
	out[o] = '\0';
	return out;
}
