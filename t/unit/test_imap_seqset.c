/* test_imap_seqset.c: sequence sets parsed, resolved, iterated, formatted */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "arena.h"
#include "imap_seqset.h"

static int
setup(void **state)
{
	*state = arena_new(4096, 0);
	return *state == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	struct arena *a = *state;

	arena_free(&a);
	return 0;
}

/* The set as "lo-hi lo-hi", '*' for IMAP_SEQ_STAR. */
static const char *
dump(const struct imap_seqset *set)
{
	static char buf[512];
	size_t o = 0;
	unsigned int i;

	buf[0] = '\0';
	for (i = 0; i < set->count; i++) {
		char lo[16], hi[16];

		snprintf(lo, sizeof(lo), "%u", set->ranges[i].lo);
		snprintf(hi, sizeof(hi), "%u", set->ranges[i].hi);
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%s-%s",
		    i > 0 ? " " : "",
		    set->ranges[i].lo == IMAP_SEQ_STAR ? "*" : lo,
		    set->ranges[i].hi == IMAP_SEQ_STAR ? "*" : hi);
	}
	return buf;
}

static void
good(struct arena *a, const char *s, const char *want)
{
	struct imap_seqset set;

	if (imap_seqset_parse(a, s, strlen(s), &set) != 0)
		fail_msg("refused \"%s\"", s);
	assert_string_equal(dump(&set), want);
	assert_string_equal(imap_seqset_format(a, &set), s);
}

static void
test_parse(void **state)
{
	struct arena *a = *state;

	good(a, "1", "1-1");
	good(a, "1:5", "1-5");
	good(a, "*", "*-*");
	good(a, "1:*", "1-*");
	good(a, "*:4", "*-4");
	good(a, "5:2", "5-2");
	good(a, "1,3:5,7:*", "1-1 3-5 7-*");
	good(a, "4294967295", "4294967295-4294967295");
	good(a, "1:4294967295", "1-4294967295");
	good(a, "10,9,10", "10-10 9-9 10-10");
}

static void
test_parse_rejects(void **state)
{
	static const char *const bad[] = {
		"", "0", "01", "0:5", "1:0", " 1", "1 ", "1:", ":1", ",1",
		"1,", "1,,2", "1:2:3", "4294967296", "99999999999999999999",
		"a", "1a", "$", "**", "*:*:*", "1-2", "-1", "+1", "1:*:",
		"1;2", "(1)", "1,*:",
	};
	struct arena *a = *state;
	struct imap_seqset set;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (imap_seqset_parse(a, bad[i], strlen(bad[i]), &set) !=
		    -EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
	/* the length is honoured: no NUL needed */
	assert_int_equal(imap_seqset_parse(a, "12x", 2, &set), 0);
	assert_string_equal(dump(&set), "12-12");
	assert_int_equal(imap_seqset_parse(a, "1\0" "2", 3, &set), -EINVAL);
}

static void
resolved(struct arena *a, const char *s, uint32_t max, const char *want)
{
	struct imap_seqset set, res;

	assert_int_equal(imap_seqset_parse(a, s, strlen(s), &set), 0);
	assert_int_equal(imap_seqset_resolve(a, &set, max, &res), 0);
	assert_string_equal(dump(&res), want);
	/* resolving again changes nothing, in place too */
	assert_int_equal(imap_seqset_resolve(a, &res, max, &res), 0);
	assert_string_equal(dump(&res), want);
}

static void
test_resolve(void **state)
{
	struct arena *a = *state;
	struct imap_seqset set, res;

	resolved(a, "1,3:5,7:*", 10, "1-1 3-5 7-10");
	resolved(a, "*:4", 10, "4-10");
	resolved(a, "*", 10, "10-10");
	resolved(a, "5:2", 10, "2-5");
	resolved(a, "1:3,2:6,8,7", 10, "1-8");
	resolved(a, "9,1,5,3", 10, "1-1 3-3 5-5 9-9");
	resolved(a, "3,2,1", 10, "1-3");
	resolved(a, "1:*,4", 10, "1-10");
	/* RFC 3501 6.4.8: 559:* includes the last UID even below 559 */
	resolved(a, "559:*", 500, "500-559");
	/* numbers above max stay: the caller checks or intersects */
	resolved(a, "20:30", 10, "20-30");
	/* adjacency at the top of the range, without wrapping */
	resolved(a, "4294967295,4294967294", 4294967295u,
	    "4294967294-4294967295");
	resolved(a, "*,1", 4294967295u, "1-1 4294967295-4294967295");
	/* an empty mailbox has no "*" */
	assert_int_equal(imap_seqset_parse(a, "1:*", 3, &set), 0);
	assert_true(imap_seqset_has_star(&set));
	assert_int_equal(imap_seqset_resolve(a, &set, 0, &res), -ERANGE);
	assert_int_equal(res.count, 0);
	assert_int_equal(imap_seqset_parse(a, "1:3", 3, &set), 0);
	assert_false(imap_seqset_has_star(&set));
	assert_int_equal(imap_seqset_resolve(a, &set, 0, &res), 0);
	assert_int_equal(imap_seqset_highest(&res), 3);
}

static void
test_query(void **state)
{
	struct arena *a = *state;
	struct imap_seqset set, res;
	struct imap_seqset_iter it;
	uint32_t n, seen[16];
	unsigned int k = 0;

	assert_int_equal(imap_seqset_parse(a, "7:*,1:3,5", 9, &set), 0);
	assert_int_equal(imap_seqset_resolve(a, &set, 9, &res), 0);
	assert_true(imap_seqset_contains(&res, 1));
	assert_true(imap_seqset_contains(&res, 3));
	assert_false(imap_seqset_contains(&res, 4));
	assert_true(imap_seqset_contains(&res, 5));
	assert_false(imap_seqset_contains(&res, 6));
	assert_true(imap_seqset_contains(&res, 9));
	assert_false(imap_seqset_contains(&res, 10));
	assert_false(imap_seqset_contains(&res, 0));
	assert_int_equal(imap_seqset_count(&res), 7);
	assert_int_equal(imap_seqset_highest(&res), 9);
	imap_seqset_iter_init(&it, &res);
	while (imap_seqset_iter_next(&it, &n)) {
		assert_true(k < 16);
		seen[k++] = n;
	}
	assert_int_equal(k, 7);
	assert_int_equal(seen[0], 1);
	assert_int_equal(seen[2], 3);
	assert_int_equal(seen[3], 5);
	assert_int_equal(seen[4], 7);
	assert_int_equal(seen[6], 9);
	assert_false(imap_seqset_iter_next(&it, &n));
	assert_string_equal(imap_seqset_format(a, &res), "1:3,5,7:9");

	/* the walk ends at UINT32_MAX instead of wrapping to 0 */
	assert_int_equal(imap_seqset_parse(a, "4294967294:*", 12, &set), 0);
	assert_int_equal(imap_seqset_resolve(a, &set, 4294967295u, &res), 0);
	assert_int_equal(imap_seqset_count(&res), 2);
	imap_seqset_iter_init(&it, &res);
	assert_true(imap_seqset_iter_next(&it, &n));
	assert_int_equal(n, 4294967294u);
	assert_true(imap_seqset_iter_next(&it, &n));
	assert_int_equal(n, 4294967295u);
	assert_false(imap_seqset_iter_next(&it, &n));
	assert_int_equal(imap_seqset_count(&(struct imap_seqset){ NULL, 0 }),
	    0);
	imap_seqset_iter_init(&it, &(struct imap_seqset){ NULL, 0 });
	assert_false(imap_seqset_iter_next(&it, &n));
	assert_null(imap_seqset_format(a, &(struct imap_seqset){ NULL, 0 }));
	/* the whole UID space counts without overflow */
	assert_int_equal(imap_seqset_parse(a, "1:*", 3, &set), 0);
	assert_int_equal(imap_seqset_resolve(a, &set, 4294967295u, &res), 0);
	assert_int_equal(imap_seqset_count(&res), 4294967295ull);
}

static void
test_nomem(void **state)
{
	struct arena *a = arena_new(256, 64);
	struct imap_seqset set;
	char big[200];
	size_t i;

	assert_non_null(a);
	for (i = 0; i < sizeof(big); i += 2) {
		big[i] = '1';
		big[i + 1] = ',';
	}
	assert_int_equal(imap_seqset_parse(a, big, sizeof(big) - 1, &set),
	    -ENOMEM);
	arena_free(&a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_parse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_rejects, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_resolve, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_query, setup, teardown),
		cmocka_unit_test(test_nomem),
	};

	return cmocka_run_group_tests_name("imap_seqset", tests, NULL, NULL);
}
