/* limiter_table.c: keyed hash tables of counts and decaying failure scores */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "limiter_table.h"

/* ---- addresses and networks ---- */

void
limiter_addr_from_sockaddr(const struct sockaddr *sa,
    struct limiter_addr *addr_r)
{
	memset(addr_r, 0, sizeof(*addr_r));
	addr_r->family = AF_UNSPEC;
	if (sa == NULL)
		return;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)sa;

		addr_r->family = AF_INET;
		memcpy(addr_r->bytes, &sin->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)sa;

		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
			addr_r->family = AF_INET;
			memcpy(addr_r->bytes, &sin6->sin6_addr.s6_addr[12], 4);
		} else {
			addr_r->family = AF_INET6;
			memcpy(addr_r->bytes, &sin6->sin6_addr, 16);
		}
	}
}

static void
mask_bits(uint8_t *bytes, size_t len, unsigned prefix)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (prefix >= 8) {
			prefix -= 8;
			continue;
		}
		bytes[i] &= (uint8_t)(0xff00u >> prefix);
		prefix = 0;
	}
}

void
limiter_addr_mask(struct limiter_addr *a, unsigned v6_prefix)
{
	if (a->family == AF_INET6 && v6_prefix < 128)
		mask_bits(a->bytes, 16, v6_prefix);
}

const char *
limiter_addr_format(const struct limiter_addr *a, unsigned v6_prefix,
    char *buf, size_t size)
{
	char text[INET6_ADDRSTRLEN];

	if (size == 0)
		return buf;
	if (a->family == AF_INET)
		inet_ntop(AF_INET, a->bytes, text, sizeof(text));
	else if (a->family == AF_INET6)
		inet_ntop(AF_INET6, a->bytes, text, sizeof(text));
	else
		snprintf(text, sizeof(text), "local");
	if (a->family == AF_INET6 && v6_prefix < 128)
		snprintf(buf, size, "%s/%u", text, v6_prefix);
	else
		snprintf(buf, size, "%s", text);
	return buf;
}

static bool
host_bits_zero(const uint8_t *bytes, size_t len, unsigned prefix)
{
	uint8_t copy[16];

	memcpy(copy, bytes, len);
	mask_bits(copy, len, prefix);
	return memcmp(copy, bytes, len) == 0;
}

/* ::ffff:a.b.c.d; bytes need not be aligned like a struct in6_addr */
static bool
is_v4_mapped(const uint8_t *b)
{
	static const uint8_t prefix[12] = {
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
	};

	return memcmp(b, prefix, sizeof(prefix)) == 0;
}

int
limiter_net_parse(const char *text, struct limiter_net *net_r)
{
	char addr[INET6_ADDRSTRLEN + 8];
	const char *slash, *end;
	struct limiter_net net;
	unsigned prefix = 0, max;
	size_t len;

	while (*text == ' ' || *text == '\t')
		text++;
	end = text + strlen(text);
	while (end > text && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	slash = memchr(text, '/', (size_t)(end - text));
	len = (size_t)((slash != NULL ? slash : end) - text);
	if (len == 0 || len >= sizeof(addr))
		return -EINVAL;
	memcpy(addr, text, len);
	addr[len] = '\0';

	memset(&net, 0, sizeof(net));
	if (inet_pton(AF_INET, addr, net.addr.bytes) == 1) {
		net.addr.family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, addr, net.addr.bytes) == 1) {
		net.addr.family = AF_INET6;
		max = 128;
	} else {
		return -EINVAL;
	}

	if (slash != NULL) {
		const char *p = slash + 1;

		/* digits only: no sign, no spaces, no leading zeros */
		if (p == end || (*p == '0' && p + 1 != end))
			return -EINVAL;
		for (; p < end; p++) {
			if (*p < '0' || *p > '9')
				return -EINVAL;
			prefix = prefix * 10 + (unsigned)(*p - '0');
			if (prefix > max)
				return -EINVAL;
		}
	} else {
		prefix = max;
	}
	if (!host_bits_zero(net.addr.bytes, max / 8, prefix))
		return -EINVAL;

	/* clients on mapped addresses are counted as IPv4: match them so */
	if (net.addr.family == AF_INET6 && prefix >= 96 &&
	    is_v4_mapped(net.addr.bytes)) {
		net.addr.family = AF_INET;
		memmove(net.addr.bytes, net.addr.bytes + 12, 4);
		memset(net.addr.bytes + 4, 0, 12);
		prefix -= 96;
	}
	net.prefix = prefix;
	*net_r = net;
	return 0;
}

int
limiter_nets_parse(const char *const *items, size_t n,
    struct limiter_nets *nets_r, const char **bad_r)
{
	struct limiter_net *nets = NULL;
	size_t i;

	if (n > 0) {
		nets = calloc(n, sizeof(*nets));
		if (nets == NULL)
			return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		if (limiter_net_parse(items[i], &nets[i]) < 0) {
			free(nets);
			if (bad_r != NULL)
				*bad_r = items[i];
			return -EINVAL;
		}
	}
	nets_r->n = n;
	nets_r->nets = nets;
	return 0;
}

void
limiter_nets_deinit(struct limiter_nets *nets)
{
	free(nets->nets);
	nets->nets = NULL;
	nets->n = 0;
}

bool
limiter_nets_match(const struct limiter_nets *nets,
    const struct limiter_addr *a)
{
	size_t i;

	for (i = 0; i < nets->n; i++) {
		const struct limiter_net *net = &nets->nets[i];
		uint8_t copy[16];

		if (net->addr.family != a->family)
			continue;
		memcpy(copy, a->bytes, sizeof(copy));
		mask_bits(copy, sizeof(copy), net->prefix);
		if (memcmp(copy, net->addr.bytes, sizeof(copy)) == 0)
			return true;
	}
	return false;
}

/* ---- keys ---- */

static uint8_t
ascii_lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? (uint8_t)(c + ('a' - 'A')) : c;
}

int
limiter_key_new(char tag, const struct limiter_addr *a, const char *s1,
    const char *s2, struct limiter_key *key_r)
{
	size_t l1 = s1 != NULL ? strlen(s1) : 0;
	size_t l2 = s2 != NULL ? strlen(s2) : 0;
	size_t len = 2 + sizeof(a->bytes) + l1 + 1 + l2, i, o = 0;
	uint8_t *b = malloc(len);

	if (b == NULL)
		return -ENOMEM;
	b[o++] = (uint8_t)tag;
	b[o++] = a->family;
	memcpy(b + o, a->bytes, sizeof(a->bytes));
	o += sizeof(a->bytes);
	for (i = 0; i < l1; i++)
		b[o++] = ascii_lower((uint8_t)s1[i]);
	b[o++] = '\0';
	for (i = 0; i < l2; i++)
		b[o++] = ascii_lower((uint8_t)s2[i]);
	key_r->bytes = b;
	key_r->len = len;
	return 0;
}

void
limiter_key_free(struct limiter_key *key)
{
	free(key->bytes);
	key->bytes = NULL;
	key->len = 0;
}

static bool
name_is(const char *a, const char *b)
{
	for (; *a != '\0' && *b != '\0'; a++, b++)
		if (ascii_lower((uint8_t)*a) != (uint8_t)*b)
			return false;
	return *a == *b;
}

const char *
limiter_protocol_family(const char *protocol)
{
	if (protocol == NULL)
		return "";
	if (name_is(protocol, "imap") || name_is(protocol, "imaps"))
		return "imap";
	if (name_is(protocol, "pop3") || name_is(protocol, "pop3s"))
		return "pop3";
	if (name_is(protocol, "smtp") || name_is(protocol, "submission") ||
	    name_is(protocol, "smtps"))
		return "smtp";
	return protocol;
}

/* ---- SipHash-2-4 (Aumasson and Bernstein, 2012) ---- */

#define ROTL64(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

static uint64_t
load_le64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static void
sip_round(uint64_t v[4])
{
	v[0] += v[1]; v[1] = ROTL64(v[1], 13); v[1] ^= v[0];
	v[0] = ROTL64(v[0], 32);
	v[2] += v[3]; v[3] = ROTL64(v[3], 16); v[3] ^= v[2];
	v[0] += v[3]; v[3] = ROTL64(v[3], 21); v[3] ^= v[0];
	v[2] += v[1]; v[1] = ROTL64(v[1], 17); v[1] ^= v[2];
	v[2] = ROTL64(v[2], 32);
}

uint64_t
limiter_siphash(const uint8_t seed[16], const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t k0 = load_le64(seed), k1 = load_le64(seed + 8);
	uint64_t v[4] = {
		k0 ^ UINT64_C(0x736f6d6570736575),
		k1 ^ UINT64_C(0x646f72616e646f6d),
		k0 ^ UINT64_C(0x6c7967656e657261),
		k1 ^ UINT64_C(0x7465646279746573),
	};
	uint64_t m;
	size_t left = len, i;

	for (; left >= 8; p += 8, left -= 8) {
		m = load_le64(p);
		v[3] ^= m;
		sip_round(v);
		sip_round(v);
		v[0] ^= m;
	}
	m = (uint64_t)len << 56;
	for (i = 0; i < left; i++)
		m |= (uint64_t)p[i] << (8 * i);
	v[3] ^= m;
	sip_round(v);
	sip_round(v);
	v[0] ^= m;
	v[2] ^= 0xff;
	for (i = 0; i < 4; i++)
		sip_round(v);
	return v[0] ^ v[1] ^ v[2] ^ v[3];
}

/* ---- tables ---- */

#define TABLE_MIN_BUCKETS 16

struct limiter_entry {
	struct limiter_entry *next;
	uint64_t hash;
	union {
		uint32_t count;
		struct {
			double score;		/* as of updated_ms */
			uint64_t updated_ms;
			uint64_t blocked_until_ms;	/* 0: not blocked */
		} fail;
	} v;
	size_t key_len;
	uint8_t key[];
};

struct limiter_table {
	uint8_t seed[16];
	struct limiter_entry **buckets;
	size_t n_buckets;	/* a power of two */
	size_t n;
};

int
limiter_table_new(const uint8_t seed[16], struct limiter_table **t_r)
{
	struct limiter_table *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return -ENOMEM;
	t->buckets = calloc(TABLE_MIN_BUCKETS, sizeof(*t->buckets));
	if (t->buckets == NULL) {
		free(t);
		return -ENOMEM;
	}
	memcpy(t->seed, seed, sizeof(t->seed));
	t->n_buckets = TABLE_MIN_BUCKETS;
	*t_r = t;
	return 0;
}

void
limiter_table_free(struct limiter_table **tp)
{
	struct limiter_table *t = *tp;
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->n_buckets; i++) {
		struct limiter_entry *e = t->buckets[i], *next;

		for (; e != NULL; e = next) {
			next = e->next;
			free(e);
		}
	}
	free(t->buckets);
	free(t);
	*tp = NULL;
}

size_t
limiter_table_size(const struct limiter_table *t)
{
	return t->n;
}

/*
 * Rehashes into n_buckets.  A failed allocation keeps the old array:
 * chains only get longer, every entry stays reachable.
 */
static void
table_resize(struct limiter_table *t, size_t n_buckets)
{
	struct limiter_entry **b = calloc(n_buckets, sizeof(*b));
	size_t i;

	if (b == NULL)
		return;
	for (i = 0; i < t->n_buckets; i++) {
		struct limiter_entry *e = t->buckets[i], *next;

		for (; e != NULL; e = next) {
			size_t j = (size_t)(e->hash & (n_buckets - 1));

			next = e->next;
			e->next = b[j];
			b[j] = e;
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->n_buckets = n_buckets;
}

/* The link that points at key's entry (*link is NULL when absent). */
static struct limiter_entry **
table_find(const struct limiter_table *t, const struct limiter_key *key,
    uint64_t hash)
{
	struct limiter_entry **link = &t->buckets[hash & (t->n_buckets - 1)];

	for (; *link != NULL; link = &(*link)->next) {
		const struct limiter_entry *e = *link;

		if (e->hash == hash && e->key_len == key->len &&
		    memcmp(e->key, key->bytes, key->len) == 0)
			break;
	}
	return link;
}

static struct limiter_entry *
table_lookup(const struct limiter_table *t, const struct limiter_key *key)
{
	uint64_t hash = limiter_siphash(t->seed, key->bytes, key->len);

	return *table_find(t, key, hash);
}

/* Returns the entry for key, created zeroed if absent, or NULL (ENOMEM). */
static struct limiter_entry *
table_get(struct limiter_table *t, const struct limiter_key *key)
{
	uint64_t hash = limiter_siphash(t->seed, key->bytes, key->len);
	struct limiter_entry **link = table_find(t, key, hash), *e;

	if (*link != NULL)
		return *link;
	e = calloc(1, sizeof(*e) + key->len);
	if (e == NULL)
		return NULL;
	e->hash = hash;
	e->key_len = key->len;
	memcpy(e->key, key->bytes, key->len);
	*link = e;
	t->n++;
	if (t->n > t->n_buckets && t->n_buckets <= SIZE_MAX / 2 /
	    sizeof(*t->buckets))
		table_resize(t, t->n_buckets * 2);
	return e;
}

static void
table_unlink(struct limiter_table *t, struct limiter_entry **link)
{
	struct limiter_entry *e = *link;

	*link = e->next;
	free(e);
	t->n--;
	/* give memory back after a flood, with hysteresis against flapping */
	if (t->n_buckets > TABLE_MIN_BUCKETS && t->n < t->n_buckets / 8)
		table_resize(t, t->n_buckets / 2);
}

static void
table_remove(struct limiter_table *t, const struct limiter_key *key)
{
	uint64_t hash = limiter_siphash(t->seed, key->bytes, key->len);
	struct limiter_entry **link = table_find(t, key, hash);

	if (*link != NULL)
		table_unlink(t, link);
}

/* ---- counts ---- */

uint32_t
limiter_count_get(const struct limiter_table *t,
    const struct limiter_key *key)
{
	const struct limiter_entry *e = table_lookup(t, key);

	return e != NULL ? e->v.count : 0;
}

int
limiter_count_take(struct limiter_table *t, const struct limiter_key *key,
    uint32_t limit, bool force, uint32_t *count_r)
{
	struct limiter_entry *e = table_lookup(t, key);
	uint32_t count = e != NULL ? e->v.count : 0;

	if (count_r != NULL)
		*count_r = count;
	if (!force && limit != 0 && count >= limit)
		return 0;
	if (count == UINT32_MAX)
		return -ENOMEM;
	if (e == NULL) {
		e = table_get(t, key);
		if (e == NULL)
			return -ENOMEM;
	}
	e->v.count++;
	return 1;
}

int
limiter_count_release(struct limiter_table *t, const struct limiter_key *key)
{
	uint64_t hash = limiter_siphash(t->seed, key->bytes, key->len);
	struct limiter_entry **link = table_find(t, key, hash);

	if (*link == NULL)
		return -ENOENT;
	if (--(*link)->v.count == 0)
		table_unlink(t, link);
	return 0;
}

/* ---- failure scores ---- */

double
limiter_fail_decay(double score, uint64_t elapsed_ms, uint64_t half_life_ms)
{
	if (elapsed_ms == 0)
		return score;
	if (half_life_ms == 0)
		return 0;
	return score * exp2(-(double)elapsed_ms / (double)half_life_ms);
}

static uint32_t
score_round(double score)
{
	if (!(score > 0))
		return 0;
	if (score >= (double)UINT32_MAX - 1)
		return UINT32_MAX;
	return (uint32_t)(score + 0.5);
}

uint64_t
limiter_fail_delay(double score, const struct limiter_fail_policy *p)
{
	uint32_t n = score_round(score), shift;
	uint64_t delay;

	if (p->delay_after == 0 || p->max_delay_ms == 0 || n < p->delay_after)
		return 0;
	shift = n - p->delay_after;
	if (shift >= 40)
		return p->max_delay_ms;
	delay = (uint64_t)LIMITER_FAIL_BASE_DELAY_MS << shift;
	return delay < p->max_delay_ms ? delay : p->max_delay_ms;
}

static double
entry_score(const struct limiter_entry *e, const struct limiter_fail_policy *p,
    uint64_t now_ms)
{
	uint64_t elapsed = now_ms > e->v.fail.updated_ms ?
	    now_ms - e->v.fail.updated_ms : 0;

	return limiter_fail_decay(e->v.fail.score, elapsed, p->half_life_ms);
}

static bool
entry_forgotten(const struct limiter_entry *e, double score, uint64_t now_ms)
{
	return e->v.fail.blocked_until_ms <= now_ms &&
	    score < LIMITER_FAIL_FORGET;
}

enum limiter_fail_verdict
limiter_fail_check(struct limiter_table *t, const struct limiter_key *key,
    const struct limiter_fail_policy *p, uint64_t now_ms,
    uint64_t *delay_ms_r, double *score_r)
{
	struct limiter_entry *e = table_lookup(t, key);
	uint64_t delay = 0;
	double score = 0;
	enum limiter_fail_verdict v = LIMITER_FAIL_OK;

	if (e != NULL) {
		score = entry_score(e, p, now_ms);
		if (e->v.fail.blocked_until_ms > now_ms) {
			v = LIMITER_FAIL_BLOCKED;
			delay = e->v.fail.blocked_until_ms - now_ms;
		} else if (entry_forgotten(e, score, now_ms)) {
			table_remove(t, key);
			score = 0;
		} else {
			delay = limiter_fail_delay(score, p);
			if (delay > 0)
				v = LIMITER_FAIL_DELAY;
		}
	}
	if (delay_ms_r != NULL)
		*delay_ms_r = delay;
	if (score_r != NULL)
		*score_r = score;
	return v;
}

int
limiter_fail_record(struct limiter_table *t, const struct limiter_key *key,
    const struct limiter_fail_policy *p, uint64_t now_ms, double *score_r)
{
	struct limiter_entry *e = table_get(t, key);
	double score;
	int started = 0;

	if (e == NULL)
		return -ENOMEM;
	score = entry_score(e, p, now_ms) + 1;
	e->v.fail.score = score;
	e->v.fail.updated_ms = now_ms;
	if (e->v.fail.blocked_until_ms <= now_ms) {
		e->v.fail.blocked_until_ms = 0;
		if (p->block_after != 0 && p->block_ms != 0 &&
		    score_round(score) >= p->block_after) {
			e->v.fail.blocked_until_ms = now_ms + p->block_ms;
			started = 1;
		}
	}
	if (score_r != NULL)
		*score_r = score;
	return started;
}

size_t
limiter_fail_sweep(struct limiter_table *t,
    const struct limiter_fail_policy *p, uint64_t now_ms)
{
	size_t i, dropped = 0;

	/* unlink by hand: table_unlink() could shrink the array mid-walk */
	for (i = 0; i < t->n_buckets; i++) {
		struct limiter_entry **link = &t->buckets[i];

		while (*link != NULL) {
			struct limiter_entry *e = *link;

			if (entry_forgotten(e, entry_score(e, p, now_ms),
			    now_ms)) {
				*link = e->next;
				free(e);
				t->n--;
				dropped++;
			} else {
				link = &e->next;
			}
		}
	}
	if (t->n_buckets > TABLE_MIN_BUCKETS && t->n < t->n_buckets / 8) {
		size_t n = t->n_buckets;

		while (n > TABLE_MIN_BUCKETS && t->n < n / 8)
			n /= 2;
		table_resize(t, n);
	}
	return dropped;
}
