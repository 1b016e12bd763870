/* test_maildir_quota.c: quota file parser, limit decision, usage, refusal */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_maildir_host.h"

extern const struct posta_module posta_module;

#define ACCT "alice@example.com"
#define OTHER "bob@example.com"

/* 40 bytes: sizes below are multiples of it */
static const char msg[] = "Subject: q\r\n\r\n012345678901234567890123\r\n";

/* ---- the parser ---- */

static int
parse(const char *text, struct md_quota *q, unsigned *line_r,
    const char **why_r)
{
	return md_quota_parse(text, strlen(text), q, line_r, why_r);
}

static void
test_parse(void **state)
{
	struct md_quota q = { 7, 9 };
	unsigned line = 0;
	const char *why = NULL;

	(void)state;
	assert_int_equal(parse("", &q, &line, &why), 0);
	assert_int_equal(q.storage, 7);		/* untouched keys stay */
	assert_int_equal(q.messages, 9);
	assert_int_equal(parse("# limits\n\nstorage = 2G\n", &q, &line,
	    &why), 0);
	assert_int_equal(q.storage, 2ull << 30);
	assert_int_equal(q.messages, 9);
	assert_int_equal(parse("  messages=50000 \r\nstorage\t= 512k",
	    &q, &line, &why), 0);
	assert_int_equal(q.messages, 50000);
	assert_int_equal(q.storage, 512 * 1024);
	assert_int_equal(parse("storage = 0\nmessages = 0\n", &q, &line,
	    &why), 0);
	assert_int_equal(q.storage, 0);
	assert_int_equal(q.messages, 0);
	assert_int_equal(parse("storage = 10MB\n", &q, &line, &why), 0);
	assert_int_equal(q.storage, 10u << 20);
	assert_int_equal(parse("storage = 123\n", &q, &line, &why), 0);
	assert_int_equal(q.storage, 123);
}

static void
test_parse_errors(void **state)
{
	static const struct {
		const char *text;
		unsigned line;
	} bad[] = {
		{ "storage\n", 1 },
		{ "storage =\n", 1 },
		{ "storage = 2X\n", 1 },
		{ "storage = -1\n", 1 },
		{ "storage = 2 G\n", 1 },
		{ "# ok\nmessages = 1k\n", 2 },
		{ "messages = 12a\n", 1 },
		{ "messages = 99999999999999999999999\n", 1 },
		{ "storage = 99999999999999999999G\n", 1 },
		{ "storage = 20000000000G\n", 1 },
		{ "quota = 1G\n", 1 },
		{ "Storage = 1G\n", 1 },
		{ "storage = 1G\nstorage = 2G\n", 2 },
		{ "messages = 1\n\nmessages = 2\n", 3 },
		{ "= 5\n", 1 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct md_quota q = { 1, 2 };
		unsigned line = 0;
		const char *why = NULL;

		assert_int_equal(parse(bad[i].text, &q, &line, &why),
		    -EINVAL);
		assert_int_equal(line, bad[i].line);
		assert_non_null(why);
		assert_int_equal(q.storage, 1);	/* untouched on error */
		assert_int_equal(q.messages, 2);
	}
	{
		struct md_quota q = { 1, 2 };
		unsigned line = 0;
		const char *why = NULL;

		assert_int_equal(md_quota_parse("storage = 1\0x", 14, &q,
		    &line, &why), -EINVAL);
	}
}

/* ---- the decision ---- */

static void
test_allows(void **state)
{
	struct md_quota none = { 0, 0 }, q = { 1000, 10 };
	struct posta_user_usage use = { 0, 0 };

	(void)state;
	use.messages = 1000000;
	use.bytes = UINT64_MAX;
	assert_true(md_quota_allows(&none, &use, 1, UINT64_MAX));
	use.messages = 0;
	use.bytes = 0;
	assert_true(md_quota_allows(&q, &use, 1, 1000));	/* exactly */
	assert_false(md_quota_allows(&q, &use, 1, 1001));
	assert_false(md_quota_allows(&q, &use, 1, UINT64_MAX));
	use.bytes = 999;
	assert_true(md_quota_allows(&q, &use, 1, 1));
	assert_true(md_quota_allows(&q, &use, 0, 0));
	assert_false(md_quota_allows(&q, &use, 1, 2));
	use.bytes = 1000;		/* at the limit: even 0 bytes refused */
	assert_false(md_quota_allows(&q, &use, 0, 0));
	use.bytes = 5000;		/* over it (limit lowered) */
	assert_false(md_quota_allows(&q, &use, 1, 0));
	use.bytes = 0;
	use.messages = 9;
	assert_true(md_quota_allows(&q, &use, 1, 10));
	assert_false(md_quota_allows(&q, &use, 2, 10));
	use.messages = 10;
	assert_false(md_quota_allows(&q, &use, 0, 0));
	assert_false(md_quota_allows(&q, &use, 1, 0));
}

/* ---- through the store ---- */

struct copy_wait {
	bool done;
	int err;
};

static void
copy_cb(void *ctx, int err, const struct posta_copy_result *r)
{
	struct copy_wait *w = ctx;

	(void)r;
	w->err = err;
	w->done = true;
}

static int
do_copy(struct test_host *th, struct posta_mailbox *box,
    const uint32_t *uids, size_t n, const char *dst, bool move)
{
	struct copy_wait w = { 0 };

	assert_int_equal(posta_mailbox_copy(box, uids, n, dst, move,
	    copy_cb, &w), 0);
	th_wait(th, &w.done);
	return w.err;
}

struct usage_wait {
	bool done;
	int err;
	struct posta_user_usage use;
	struct posta_quota quota;
};

static void
usage_cb(void *ctx, int err, const struct posta_user_usage *use)
{
	struct usage_wait *w = ctx;

	w->err = err;
	if (err == 0)
		w->use = *use;
	w->done = true;
}

static void
quota_cb(void *ctx, int err, const struct posta_quota *q)
{
	struct usage_wait *w = ctx;

	w->err = err;
	if (err == 0)
		w->quota = *q;
	w->done = true;
}

/* usage through both ways: the session's op and the store's quota op
   (by account, no session); they agree */
static void
check_usage(struct test_host *th, struct posta_mail_user *u,
    uint64_t messages, uint64_t bytes, uint64_t lim_msgs, uint64_t lim_bytes)
{
	struct usage_wait w = { 0 }, q = { 0 };

	assert_int_equal(posta_mail_user_usage(u, usage_cb, &w), 0);
	th_wait(th, &w.done);
	assert_int_equal(w.err, 0);
	assert_int_equal(w.use.messages, messages);
	assert_int_equal(w.use.bytes, bytes);
	assert_int_equal(posta_store_quota((struct posta_host *)th, ACCT,
	    quota_cb, &q), 0);
	th_wait(th, &q.done);
	assert_int_equal(q.err, 0);
	assert_int_equal(q.quota.messages, messages);
	assert_int_equal(q.quota.bytes, bytes);
	assert_int_equal(q.quota.messages_limit, lim_msgs);
	assert_int_equal(q.quota.bytes_limit, lim_bytes);
}

static void
write_quota(struct test_host *th, const char *text)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/quota", th_maildir(th, ACCT));
	th_write_file(path, text);
}

static void
test_store(void **state)
{
	struct test_host *th = th_new();
	const char *both[2] = { ACCT, OTHER };
	struct posta_delivery_result res[2];
	struct posta_mail_user *u;
	struct posta_mailbox *box;
	size_t len = strlen(msg), n;
	uint32_t uids[2] = { 1, 2 };
	int err;

	(void)state;
	assert_int_equal(len, 40);
	th_start(th);
	u = th_user(th, ACCT);
	check_usage(th, u, 0, 0, 0, 0);
	/* three messages fit, the fourth would pass 120 bytes */
	write_quota(th, "storage = 120\n");
	assert_int_equal(th_deliver(th, both, 2, msg, len, res), 0);
	assert_int_equal(res[0].err, 0);
	assert_int_equal(th_append(th, u, "INBOX", msg, len, 0, NULL, NULL),
	    0);
	check_usage(th, u, 2, 80, 0, 120);
	/* one batch, two copies for alice: the second is refused */
	{
		const char *twice[3] = { ACCT, OTHER, ACCT };
		struct posta_delivery_result r3[3];

		assert_int_equal(th_deliver(th, twice, 3, msg, len, r3), 0);
		assert_int_equal(r3[0].err, 0);
		assert_int_equal(r3[1].err, 0);
	}
	check_usage(th, u, 3, 120, 0, 120);
	assert_int_equal(th_deliver(th, both, 2, msg, len, res), 0);
	assert_int_equal(res[0].err, POSTA_EQUOTA);
	assert_int_equal(res[1].err, 0);	/* bob has no limit */
	assert_int_equal(th_append(th, u, "INBOX", msg, len, 0, NULL, NULL),
	    POSTA_EQUOTA);
	/* COPY adds, MOVE does not */
	box = th_open(th, u, "INBOX", 0, &err);
	assert_non_null(box);
	assert_int_equal(do_copy(th, box, uids, 1, "Trash", false),
	    POSTA_EQUOTA);
	assert_int_equal(do_copy(th, box, uids, 2, "Trash", true), 0);
	check_usage(th, u, 3, 120, 0, 120);
	/* a larger limit applies at once */
	write_quota(th, "storage = 1k\nmessages = 4\n");
	assert_int_equal(th_append(th, u, "INBOX", msg, len, 0, NULL, NULL),
	    0);
	check_usage(th, u, 4, 160, 4, 1024);
	assert_int_equal(th_append(th, u, "INBOX", msg, len, 0, NULL, NULL),
	    POSTA_EQUOTA);
	/* expunge frees room */
	assert_int_equal(th_refresh(th, box, 0, NULL, NULL), 0);
	assert_int_equal(th_expunge(th, box, NULL, 0, 0, &n), 0);
	assert_int_equal(n, 2);		/* 3 and the new one */
	check_usage(th, u, 2, 80, 4, 1024);
	/* a foreign file counts after a sync (the usage op syncs) */
	{
		char path[512];

		snprintf(path, sizeof(path), "%s/cur/1.foreign.host:2,S",
		    th_maildir(th, ACCT));
		th_write_file(path, msg);
	}
	check_usage(th, u, 3, 120, 4, 1024);
	/* deleting a folder takes its messages off */
	assert_int_equal(th_user_op(th, u, TH_DELETE, "Trash", NULL), 0);
	check_usage(th, u, 1, 40, 4, 1024);
	/* a malformed file: the defaults (unlimited here) and one error */
	{
		unsigned before = th->warnings;

		write_quota(th, "storage = lots\n");
		check_usage(th, u, 1, 40, 0, 0);
		assert_int_equal(th->warnings, before + 1);
		check_usage(th, u, 1, 40, 0, 0);
		assert_int_equal(th->warnings, before + 1);	/* once */
	}
	posta_mailbox_close(&box);
	posta_mail_user_close(&u);
	th_free(&th);
}

/* The plugin-wide default applies without a file. */
static void
test_default_limit(void **state)
{
	struct test_host *th = th_new();
	struct posta_mail_user *u;

	(void)state;
	th->set.quota_messages = 1;
	th_start(th);
	u = th_user(th, ACCT);
	assert_int_equal(th_append(th, u, "INBOX", msg, strlen(msg), 0,
	    NULL, NULL), 0);
	assert_int_equal(th_append(th, u, "Sent", msg, strlen(msg), 0,
	    NULL, NULL), POSTA_EQUOTA);
	check_usage(th, u, 1, 40, 1, 0);
	/* 0 in the file lifts the default */
	write_quota(th, "messages = 0\n");
	assert_int_equal(th_append(th, u, "Sent", msg, strlen(msg), 0,
	    NULL, NULL), 0);
	check_usage(th, u, 2, 80, 0, 0);
	posta_mail_user_close(&u);
	th_free(&th);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_allows),
		cmocka_unit_test(test_store),
		cmocka_unit_test(test_default_limit),
	};

	alarm(120);
	return cmocka_run_group_tests_name("maildir_quota", tests, NULL, NULL);
}
