/* limiter_table.h: the limiter's pure tables: networks, counts, scores */
#ifndef LIMITER_TABLE_H
#define LIMITER_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/*
 * Nothing here does I/O, reads a clock or logs: time comes in as now_ms
 * from the caller (uv_now() in the plugin, a fake clock in the tests), so
 * every decision is reproducible.  All functions run on the loop thread.
 */

/* ---- addresses and networks ---- */

/*
 * A client address.  family is AF_INET or AF_INET6, or AF_UNSPEC for a
 * connection without an IP peer (all such connections share one key).
 * IPv4 sits in bytes[0..3]; IPv4-mapped IPv6 (::ffff:a.b.c.d, what a
 * dual-stack listener reports) is stored as the IPv4 address, so a client
 * counts the same whichever socket it came through.  Unused bytes are 0.
 */
struct limiter_addr {
	uint8_t family;
	uint8_t bytes[16];
};

/* Fills addr_r from sa (NULL or a non-IP family gives AF_UNSPEC). */
void limiter_addr_from_sockaddr(const struct sockaddr *sa,
    struct limiter_addr *addr_r);
/* Clears the bits past prefix of an IPv6 address; IPv4 is left as is. */
void limiter_addr_mask(struct limiter_addr *a, unsigned v6_prefix);
/*
 * Writes "192.0.2.1", "2001:db8::1" or "2001:db8::/64" (prefix < 128 on
 * IPv6) into buf; returns buf.  size of 64 is always enough.
 */
const char *limiter_addr_format(const struct limiter_addr *a,
    unsigned v6_prefix, char *buf, size_t size);

struct limiter_net {
	struct limiter_addr addr;	/* host bits are zero */
	unsigned prefix;		/* 0..32 or 0..128 */
};

struct limiter_nets {
	size_t n;
	struct limiter_net *nets;	/* malloc'd; NULL when n == 0 */
};

/*
 * Parses "192.0.2.0/24", "2001:db8::/32", or a bare address (a host
 * network).  Returns 0, or -EINVAL for anything else, including host bits
 * set past the prefix ("10.0.0.1/8" is a typo more often than not), so the
 * admin learns at startup instead of when a client is refused.
 */
int limiter_net_parse(const char *text, struct limiter_net *net_r);
/*
 * Parses every item; on the first bad one returns -EINVAL with *bad_r set
 * to it (else -ENOMEM, or 0).  nets_r is filled only on success and is
 * released with limiter_nets_deinit().
 */
int limiter_nets_parse(const char *const *items, size_t n,
    struct limiter_nets *nets_r, const char **bad_r);
void limiter_nets_deinit(struct limiter_nets *nets);
bool limiter_nets_match(const struct limiter_nets *nets,
    const struct limiter_addr *a);

/* ---- keys ---- */

/*
 * A table key: tag, family, the 16 address bytes, s1, NUL, s2, with s1 and
 * s2 in ASCII lowercase (accounts, services and protocol names compare
 * without case).  The tag keeps kinds of keys apart if tables are shared.
 */
struct limiter_key {
	uint8_t *bytes;
	size_t len;
};

/* Returns 0 or -ENOMEM; s1 and s2 may be NULL (empty). */
int limiter_key_new(char tag, const struct limiter_addr *a, const char *s1,
    const char *s2, struct limiter_key *key_r);
/* Frees the bytes and zeroes key; a zeroed key is a no-op. */
void limiter_key_free(struct limiter_key *key);

/*
 * The family whose counter a protocol uses: "imap", "pop3", and "smtp" for
 * smtp, submission and smtps (one SMTP AUTH count however the user
 * submits).  Any other name is its own family.
 */
const char *limiter_protocol_family(const char *protocol);

/* ---- tables ---- */

/*
 * A hash table of keys to either a count or a failure score (one kind per
 * table).  Buckets are found with SipHash-2-4 under a secret seed, so
 * clients who choose their addresses (an IPv6 /48 holds 2^80 of them)
 * cannot aim at one bucket.  An entry exists only while its count is
 * above zero or its score has not decayed away, so memory follows live
 * sessions and recent failures.
 */
struct limiter_table;

uint64_t limiter_siphash(const uint8_t seed[16], const void *data,
    size_t len);

/* Returns 0 or -ENOMEM. */
int limiter_table_new(const uint8_t seed[16], struct limiter_table **t_r);
void limiter_table_free(struct limiter_table **t);
/* Live entries. */
size_t limiter_table_size(const struct limiter_table *t);

/* The current count of key (0 when absent). */
uint32_t limiter_count_get(const struct limiter_table *t,
    const struct limiter_key *key);
/*
 * Takes one slot when count < limit (limit 0: no limit), or always when
 * force.  Returns 1 taken, 0 refused (at the limit), or -ENOMEM (nothing
 * taken).  *count_r (may be NULL) is the count before the call.
 */
int limiter_count_take(struct limiter_table *t, const struct limiter_key *key,
    uint32_t limit, bool force, uint32_t *count_r);
/*
 * Gives one slot back; the entry goes away at 0.  Returns 0, or -ENOENT
 * when key holds no slot (a caller bug: a count released twice).
 */
int limiter_count_release(struct limiter_table *t,
    const struct limiter_key *key);

/*
 * Login failures per client network.
 *
 * Each failure adds 1 to a score that halves every half_life_ms:
 *     score(t) = score(t0) * 2^(-(t - t0) / half_life_ms)
 * evaluated lazily whenever the entry is read, so nothing ticks.  A score
 * counts as n = round(score) failures (three failures within a minute are
 * 2.9 after decay, and should still count as three):
 *   - n >= delay_after (non-zero) at a login attempt: it waits
 *     min(max_delay_ms, 1s * 2^(n - delay_after)) before the password is
 *     checked (defaults: 1s, 2s, 4s, 8s, then 15s);
 *   - a failure that brings n to block_after (non-zero) starts a block:
 *     every attempt is refused until block_ms have passed.  Attempts during
 *     the block neither count nor extend it.  The score keeps decaying, so
 *     after the block replies are still slowed and a few more failures
 *     block again.
 * A success does not lower the score: an attacker holding one valid
 * account must not be able to wash away its failures on the others.
 * An entry is dropped once it is not blocked and its score fell below
 * LIMITER_FAIL_FORGET; limiter_fail_sweep() does that for entries nobody
 * reads any more.
 */
#define LIMITER_FAIL_FORGET 0.05
#define LIMITER_FAIL_BASE_DELAY_MS 1000

struct limiter_fail_policy {
	uint32_t delay_after;	/* 0: never delay */
	uint64_t max_delay_ms;	/* 0: never delay */
	uint32_t block_after;	/* 0: never block */
	uint64_t block_ms;
	uint64_t half_life_ms;	/* 0: failures are forgotten at once */
};

enum limiter_fail_verdict {
	LIMITER_FAIL_OK = 0,
	LIMITER_FAIL_DELAY,	/* *delay_ms_r > 0 */
	LIMITER_FAIL_BLOCKED,	/* *delay_ms_r = time left in the block */
};

/* score decayed over elapsed_ms (pure math, exposed for the tests) */
double limiter_fail_decay(double score, uint64_t elapsed_ms,
    uint64_t half_life_ms);
/* the delay for a score, 0 below delay_after */
uint64_t limiter_fail_delay(double score, const struct limiter_fail_policy *p);

/*
 * What a login attempt from key meets now.  *delay_ms_r and *score_r (both
 * may be NULL) get the delay or remaining block time and the decayed score.
 * May drop a forgotten entry.
 */
enum limiter_fail_verdict limiter_fail_check(struct limiter_table *t,
    const struct limiter_key *key, const struct limiter_fail_policy *p,
    uint64_t now_ms, uint64_t *delay_ms_r, double *score_r);
/*
 * Counts one failure.  Returns 1 when it started a block, 0 otherwise, or
 * -ENOMEM (not counted).  *score_r (may be NULL) is the new score.
 */
int limiter_fail_record(struct limiter_table *t,
    const struct limiter_key *key, const struct limiter_fail_policy *p,
    uint64_t now_ms, double *score_r);
/* Drops every forgotten entry; returns how many. */
size_t limiter_fail_sweep(struct limiter_table *t,
    const struct limiter_fail_policy *p, uint64_t now_ms);

#endif
