/* test_imap_thread.c: REFERENCES and ORDEREDSUBJECT on hand-built sets */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "imap_thread.h"

/*
 * A message of a test set: its Message-ID (NULL: none), References IDs
 * separated by spaces (already chosen from References or In-Reply-To),
 * base subject, reply flag and date.  Message i is shown as i + 1.
 */
struct tmsg {
	const char *id;
	const char *refs;
	const char *subject;
	bool reply;
	int64_t date;
};

struct set {
	char pool[65536];
	size_t pool_len;
	uint32_t refs[4096];
	size_t n_refs;
	struct imap_thread_msg msgs[512];
};

static uint32_t
add(struct set *s, const char *str, size_t len)
{
	uint32_t off;

	if (len == 0)
		return 0;
	assert_true(s->pool_len + len + 1 <= sizeof(s->pool));
	off = (uint32_t)s->pool_len;
	memcpy(s->pool + off, str, len);
	s->pool[off + len] = '\0';
	s->pool_len += len + 1;
	return off;
}

static uint32_t
num(void *ctx, uint32_t i)
{
	(void)ctx;
	return i + 1;
}

/* Threads the set and returns the thread-list, written in chunks. */
static char *
run(enum imap_thread_alg alg, const struct tmsg *m, size_t n, size_t chunk)
{
	static struct set s;
	struct imap_thread *t;
	size_t i, out_len = 0, w;
	char *out = malloc(1 << 20);

	assert_non_null(out);
	memset(&s, 0, sizeof(s));
	s.pool_len = 1;
	for (i = 0; i < n; i++) {
		struct imap_thread_msg *x = &s.msgs[i];
		const char *p = m[i].refs;

		x->date = m[i].date;
		x->subject = add(&s, m[i].subject, strlen(m[i].subject));
		x->is_reply = m[i].reply;
		x->msgid = m[i].id != NULL ? add(&s, m[i].id,
		    strlen(m[i].id)) : IMAP_THREAD_NONE;
		x->refs_first = (uint32_t)s.n_refs;
		while (p != NULL && *p != '\0') {
			size_t l = strcspn(p, " ");

			if (l > 0)
				s.refs[s.n_refs++] = add(&s, p, l);
			p += l;
			p += strspn(p, " ");
		}
		x->n_refs = (uint32_t)(s.n_refs - x->refs_first);
	}
	assert_int_equal(imap_thread_build(alg, s.msgs, n, s.refs, s.n_refs,
	    s.pool, &t), 0);
	while ((w = imap_thread_write(t, out + out_len, chunk, num,
	    NULL)) > 0) {
		out_len += w;
		assert_true(out_len + chunk < (1 << 20));
	}
	out[out_len] = '\0';
	imap_thread_free(&t);
	assert_null(t);
	return out;
}

static void
expect(enum imap_thread_alg alg, const struct tmsg *m, size_t n,
    const char *want)
{
	static const size_t chunks[] = { 32, 33, 47, 4096 };
	size_t i;

	/* the writer resumes anywhere: same text for every chunk size */
	for (i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		char *got = run(alg, m, n, chunks[i]);

		if (strcmp(got, want) != 0)
			fail_msg("chunk %zu: got %s, want %s", chunks[i], got,
			    want);
		free(got);
	}
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void
test_simple_chain(void **state)
{
	static const struct tmsg m[] = {
		{ "a@x", "", "HELLO", false, 100 },
		{ "b@x", "a@x", "HELLO", true, 200 },
		{ "c@x", "a@x b@x", "HELLO", true, 300 },
		{ "d@x", "", "OTHER", false, 150 },
	};

	(void)state;
	expect(IMAP_THREAD_REFERENCES, m, N(m), "(1 2 3)(4)");
}

static void
test_branches(void **state)
{
	/* 1 has two replies, each with a reply: "(1 (2 4)(3 5))" */
	static const struct tmsg m[] = {
		{ "a@x", "", "S", false, 10 },
		{ "b@x", "a@x", "S", true, 20 },
		{ "c@x", "a@x", "S", true, 30 },
		{ "d@x", "a@x b@x", "S", true, 40 },
		{ "e@x", "a@x c@x", "S", true, 50 },
	};

	(void)state;
	expect(IMAP_THREAD_REFERENCES, m, N(m), "(1 (2 4)(3 5))");
}

/* Children sort by date then mailbox order, whatever the mailbox order. */
static void
test_sibling_order(void **state)
{
	static const struct tmsg m[] = {
		{ "c@x", "a@x", "S", true, 30 },
		{ "a@x", "", "S", false, 10 },
		{ "b@x", "a@x", "S", true, 20 },
		{ "d@x", "a@x", "S", true, 20 },
		{ "z@x", "", "T", false, 5 },
	};

	(void)state;
	expect(IMAP_THREAD_REFERENCES, m, N(m), "(5)(2 (3)(4)(1))");
}

/* A parent that is not in the mailbox: a dummy, pruned or kept. */
static void
test_missing_parent(void **state)
{
	/* two replies to a missing message: kept as a dummy at the root */
	static const struct tmsg two[] = {
		{ "b@x", "gone@x", "S", true, 20 },
		{ "c@x", "gone@x", "S", true, 10 },
	};
	/* one reply to a missing one: promoted to the root */
	static const struct tmsg one[] = {
		{ "b@x", "gone@x", "S", true, 20 },
		{ "c@x", "b@x", "S", true, 30 },
	};
	/* a missing message in the middle of a chain is spliced out */
	static const struct tmsg mid[] = {
		{ "a@x", "", "S", false, 10 },
		{ "c@x", "a@x gone@x", "S", true, 30 },
		{ "d@x", "a@x gone@x", "S", true, 40 },
	};

	(void)state;
	expect(IMAP_THREAD_REFERENCES, two, N(two), "((2)(1))");
	expect(IMAP_THREAD_REFERENCES, one, N(one), "(1 2)");
	expect(IMAP_THREAD_REFERENCES, mid, N(mid), "(1 (2)(3))");
}

/* Loops in References never hang or lose a message. */
static void
test_loops(void **state)
{
	static const struct tmsg m[] = {
		{ "a@x", "b@x", "S", false, 10 },
		{ "b@x", "a@x", "S", true, 20 },
		{ "c@x", "c@x", "T", false, 30 },
		{ "d@x", "e@x d@x e@x", "U", false, 40 },
	};
	char *got;

	(void)state;
	/*
	 * 1 sits under b; b's References then ask for a as its parent,
	 * which would close a loop: refused, b stays a root above a.  A
	 * message referring to itself, and e -> d -> e, are refused too.
	 */
	got = run(IMAP_THREAD_REFERENCES, m, N(m), 4096);
	/* every message exactly once */
	assert_non_null(strstr(got, "1"));
	assert_non_null(strstr(got, "2"));
	assert_non_null(strstr(got, "3"));
	assert_non_null(strstr(got, "4"));
	assert_string_equal(got, "(2 1)(3)(4)");
	free(got);
}

/* Duplicate Message-IDs: only the first keeps it. */
static void
test_duplicate_ids(void **state)
{
	static const struct tmsg m[] = {
		{ "a@x", "", "S", false, 10 },
		{ "a@x", "", "T", false, 20 },
		{ "b@x", "a@x", "S", true, 30 },
		{ NULL, "a@x", "S", true, 40 },
		{ NULL, "", "V", false, 50 },
	};

	(void)state;
	expect(IMAP_THREAD_REFERENCES, m, N(m), "(1 (3)(4))(2)(5)");
}

/* The last reference wins over a parent from someone else's References. */
static void
test_truncated_references(void **state)
{
	static const struct tmsg m[] = {
		/* says c's parent is a (its References were cut) */
		{ "z@x", "a@x c@x", "S", true, 50 },
		{ "a@x", "", "S", false, 10 },
		{ "b@x", "a@x", "S", true, 20 },
		{ "c@x", "a@x b@x", "S", true, 30 },
	};

	(void)state;
	expect(IMAP_THREAD_REFERENCES, m, N(m), "(2 3 4 1)");
}

/* Step 5: threads with the same base subject are merged. */
static void
test_subject_merge(void **state)
{
	/* a reply whose References are lost goes under the original */
	static const struct tmsg reply[] = {
		{ "a@x", "", "HELLO", false, 10 },
		{ "b@x", "", "HELLO", true, 20 },
	};
	/* two originals: a dummy holds both */
	static const struct tmsg two[] = {
		{ "a@x", "", "HELLO", false, 10 },
		{ "b@x", "", "HELLO", false, 20 },
		{ "c@x", "", "OTHER", false, 15 },
	};
	/* a dummy (kept at the root) takes the other thread's root */
	static const struct tmsg dummy[] = {
		{ "b@x", "gone@x", "HELLO", true, 20 },
		{ "c@x", "gone@x", "HELLO", true, 30 },
		{ "d@x", "", "HELLO", false, 40 },
	};
	/* empty subjects are never merged */
	static const struct tmsg empty[] = {
		{ "a@x", "", "", false, 10 },
		{ "b@x", "", "", false, 20 },
	};
	/* a reply that sorts first still goes under the original */
	static const struct tmsg early[] = {
		{ "b@x", "", "HELLO", true, 5 },
		{ "a@x", "", "HELLO", false, 10 },
	};

	(void)state;
	expect(IMAP_THREAD_REFERENCES, reply, N(reply), "(1 2)");
	expect(IMAP_THREAD_REFERENCES, two, N(two), "((1)(2))(3)");
	expect(IMAP_THREAD_REFERENCES, dummy, N(dummy), "((1)(2)(3))");
	expect(IMAP_THREAD_REFERENCES, empty, N(empty), "(1)(2)");
	expect(IMAP_THREAD_REFERENCES, early, N(early), "(2 1)");
}

static void
test_ordered_subject(void **state)
{
	static const struct tmsg m[] = {
		{ NULL, "", "B", false, 50 },
		{ NULL, "", "A", false, 30 },
		{ NULL, "", "A", false, 10 },
		{ NULL, "", "B", false, 60 },
		{ NULL, "", "C", false, 40 },
		{ NULL, "", "A", false, 20 },
		{ NULL, "", "", false, 70 },
	};
	static const struct tmsg pair[] = {
		{ NULL, "", "X", false, 1 },
		{ NULL, "", "X", false, 1 },
	};

	(void)state;
	/* A: 3 first (date 10), then 6 and 2 as its children */
	expect(IMAP_THREAD_ORDEREDSUBJECT, m, N(m),
	    "(3 (6)(2))(5)(1 4)(7)");
	expect(IMAP_THREAD_ORDEREDSUBJECT, pair, N(pair), "(1 2)");
	expect(IMAP_THREAD_ORDEREDSUBJECT, m, 0, "");
	expect(IMAP_THREAD_REFERENCES, m, 0, "");
}

/* A reply chain as deep as the mailbox: no recursion, linear enough. */
static void
test_deep_chain(void **state)
{
	size_t n = 20000, i, refs_len = 0;
	struct imap_thread_msg *msgs = calloc(n, sizeof(*msgs));
	uint32_t *refs = calloc(n, sizeof(*refs));
	char *pool = malloc(n * 16 + 2);
	size_t pool_len = 1;
	struct imap_thread *t;
	char *out = malloc(n * 8 + 64), buf[64];
	size_t out_len = 0, w;

	(void)state;
	assert_non_null(msgs);
	assert_non_null(refs);
	assert_non_null(pool);
	assert_non_null(out);
	pool[0] = '\0';
	for (i = 0; i < n; i++) {
		/* newest first in the mailbox: parents turn up late */
		size_t k = n - 1 - i;
		int l = snprintf(pool + pool_len, 16, "%zu@x", k);

		msgs[i].msgid = (uint32_t)pool_len;
		msgs[i].date = (int64_t)k;
		pool_len += (size_t)l + 1;
		msgs[i].refs_first = (uint32_t)refs_len;
		if (k > 0) {
			l = snprintf(pool + pool_len, 16, "%zu@x", k - 1);
			refs[refs_len++] = (uint32_t)pool_len;
			pool_len += (size_t)l + 1;
			msgs[i].n_refs = 1;
		}
	}
	assert_int_equal(imap_thread_build(IMAP_THREAD_REFERENCES, msgs, n,
	    refs, refs_len, pool, &t), 0);
	while ((w = imap_thread_write(t, out + out_len, 64, num, NULL)) > 0)
		out_len += w;
	out[out_len] = '\0';
	snprintf(buf, sizeof(buf), "(%zu %zu ", n, n - 1);
	assert_memory_equal(out, buf, strlen(buf));
	assert_string_equal(out + out_len - 3, " 1)");
	imap_thread_free(&t);
	/* the same as ORDEREDSUBJECT: one thread, all children of one */
	assert_int_equal(imap_thread_build(IMAP_THREAD_ORDEREDSUBJECT, msgs,
	    n, refs, refs_len, pool, &t), 0);
	out_len = 0;
	while ((w = imap_thread_write(t, out + out_len, 64, num, NULL)) > 0)
		out_len += w;
	out[out_len] = '\0';
	snprintf(buf, sizeof(buf), "(%zu (%zu)(", n, n - 1);
	assert_memory_equal(out, buf, strlen(buf));
	imap_thread_free(&t);
	imap_thread_free(&t);
	free(msgs);
	free(refs);
	free(pool);
	free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple_chain),
		cmocka_unit_test(test_branches),
		cmocka_unit_test(test_sibling_order),
		cmocka_unit_test(test_missing_parent),
		cmocka_unit_test(test_loops),
		cmocka_unit_test(test_duplicate_ids),
		cmocka_unit_test(test_truncated_references),
		cmocka_unit_test(test_subject_merge),
		cmocka_unit_test(test_ordered_subject),
		cmocka_unit_test(test_deep_chain),
	};

	return cmocka_run_group_tests_name("imap_thread", tests, NULL, NULL);
}
