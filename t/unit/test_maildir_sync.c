/* test_maildir_sync.c: sync with files changed by hand, rebuild, Dovecot */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_maildir_host.h"

#define ACCT "alice@example.com"

static char *
mdpath(struct test_host *th, const char *rel)
{
	static char path[4096];

	snprintf(path, sizeof(path), "%s/%s", th_maildir(th, ACCT), rel);
	return path;
}

static const struct posta_msg *
msg_by_uid(struct posta_mailbox *box, uint32_t uid)
{
	const struct posta_msg *msgs;
	uint32_t seq = posta_mailbox_seq_of_uid(box, uid);

	posta_mailbox_messages(box, &msgs);
	return seq == 0 ? NULL : &msgs[seq - 1];
}

static void
test_sync_by_hand(void **state)
{
	struct test_host *th = th_new();
	struct posta_mail_user *u;
	struct posta_mailbox *box;
	struct posta_mailbox_changes ch;
	const struct posta_msg *msgs;
	uint32_t *exp;
	char *data;
	size_t len;
	int err;

	th_start(th);
	u = th_user(th, ACCT);		/* makes the Maildir */
	box = th_open(th, u, "INBOX", 0, &err);
	assert_int_equal(err, 0);
	assert_int_equal(posta_mailbox_messages(box, &msgs), 0);

	/* procmail-style files, out of arrival order, one with bare LFs */
	th_write_file(mdpath(th, "new/1700000300.M5P1.other"),
	    "Subject: three\r\n\r\nc\r\n");
	th_write_file(mdpath(th, "new/1700000100.M5P1.other"),
	    "Subject: one\n\nbare\nlf\n");
	th_write_file(mdpath(th, "cur/1700000200.M5P1.other:2,S"),
	    "Subject: two\r\n\r\nb\r\n");
	/* the same message in new/ and cur/ (a crashed mover): one copy */
	th_write_file(mdpath(th, "cur/1700000400.M5P1.other:2,"),
	    "Subject: four\r\n\r\nd\r\n");
	th_write_file(mdpath(th, "new/1700000400.M5P1.other"),
	    "Subject: four\r\n\r\nd\r\n");
	assert_int_equal(th_refresh(th, box, POSTA_REFRESH_DISK, &ch, &exp),
	    0);
	free(exp);
	assert_int_equal(ch.messages, 4);
	assert_int_equal(posta_mailbox_messages(box, &msgs), 4);
	assert_int_equal(msgs[0].uid, 1);
	assert_int_equal(msgs[3].uid, 4);
	assert_int_equal(msgs[1].flags & POSTA_FLAGS_STORED, POSTA_FLAG_SEEN);
	assert_int_equal(msgs[0].internal_date, msgs[0].internal_date);
	/* sizes and bytes are those of the CRLF form */
	assert_int_equal(msgs[0].size, strlen("Subject: one\r\n\r\nbare\r\n"
	    "lf\r\n"));
	assert_int_equal(th_read(th, box, 1, 3, &data, &len), 0);
	assert_string_equal(data, "Subject: one\r\n\r\nbare\r\nlf\r\n");
	free(data);
	{
		/* any range of a converted message agrees with the whole,
		   forwards and backwards on one reader */
		const char *whole = "Subject: one\r\n\r\nbare\r\nlf\r\n";
		size_t wl = strlen(whole), off, n, got;
		struct posta_msg_reader *r;
		uint64_t size;
		char buf[64];

		r = th_reader(th, box, 1, &size);
		assert_int_equal(size, wl);
		for (n = 1; n <= wl + 2; n += 3)
			for (off = 0; off <= wl + 1; off++) {
				size_t o = (off * 7) % (wl + 2);

				assert_int_equal(th_read_at(th, r, o, n, buf,
				    &got), 0);
				assert_int_equal(got, o >= wl ? 0 :
				    (wl - o < n ? wl - o : n));
				assert_memory_equal(buf, whole + o, got);
			}
		posta_msg_close(&r);
	}
	/* flags changed by hand are picked up, with a new modseq */
	{
		uint64_t ms = msgs[1].modseq;
		const struct posta_msg *m;
		char from[4096];

		snprintf(from, sizeof(from), "%s", mdpath(th,
		    "cur/1700000200.M5P1.other:2,S"));
		assert_int_equal(rename(from, mdpath(th,
		    "cur/1700000200.M5P1.other:2,FS")), 0);
		assert_int_equal(th_refresh(th, box, POSTA_REFRESH_DISK, &ch,
		    &exp), 0);
		free(exp);
		assert_int_equal(ch.n_changed, 1);
		m = msg_by_uid(box, 2);
		assert_int_equal(m->flags & POSTA_FLAGS_STORED,
		    POSTA_FLAG_SEEN | POSTA_FLAG_FLAGGED);
		assert_true(m->modseq > ms);
	}
	/* a file removed by hand is an expunge */
	{
		char name[4096];
		const struct posta_msg *m = msg_by_uid(box, 1);

		assert_non_null(m);
		/* uid 1 was claimed as \Recent and moved to cur/ */
		snprintf(name, sizeof(name), "%s", mdpath(th,
		    "cur/1700000100.M5P1.other:2,"));
		assert_int_equal(unlink(name), 0);
		assert_int_equal(th_refresh(th, box, POSTA_REFRESH_DISK, &ch,
		    &exp), 0);
		assert_int_equal(ch.n_expunged, 1);
		assert_int_equal(exp[0], 1);
		free(exp);
		assert_null(msg_by_uid(box, 1));
	}
	/* an older file arriving late still gets a new UID: no reuse */
	th_write_file(mdpath(th, "new/1600000000.M1P1.late"),
	    "Subject: late\r\n\r\n");
	assert_int_equal(th_refresh(th, box, POSTA_REFRESH_DISK, &ch, &exp),
	    0);
	free(exp);
	assert_int_equal(posta_mailbox_messages(box, &msgs), 4);
	assert_int_equal(msgs[3].uid, 5);
	/* without REFRESH_DISK the disk is not looked at */
	th_write_file(mdpath(th, "new/1700000999.M1P1.unseen"), "X: y\r\n\r\n");
	assert_int_equal(th_refresh(th, box, 0, &ch, &exp), 0);
	free(exp);
	assert_int_equal(ch.messages, 4);
	assert_int_equal(th_refresh(th, box, POSTA_REFRESH_DISK, &ch, &exp),
	    0);
	free(exp);
	assert_int_equal(ch.messages, 5);
	posta_mailbox_close(&box);
	posta_mail_user_close(&u);
	th_free(&th);
}

static void
test_rebuild_index(void **state)
{
	struct test_host *th = th_new();
	const char *rcpt[] = { ACCT };
	struct posta_delivery_result res[1];
	struct posta_mail_user *u;
	struct posta_mailbox *box;
	const struct posta_msg *msgs;
	const char *const *kw;
	uint32_t old_uidv;
	char path[4096];
	int i, err;

	th_start(th);
	for (i = 0; i < 3; i++)
		assert_int_equal(th_deliver(th, rcpt, 1, "S: x\r\n\r\nb\r\n",
		    11, res), 0);
	u = th_user(th, ACCT);
	box = th_open(th, u, "INBOX", 0, &err);
	assert_int_equal(th_store(th, box, 2, POSTA_FLAGS_ADD,
	    POSTA_FLAG_SEEN, "$Label1"), 0);
	old_uidv = posta_mailbox_view_status(box)->uidvalidity;
	posta_mailbox_close(&box);
	posta_mail_user_close(&u);
	th_stop(th);

	/* the index is gone (disk replaced, admin removed it) */
	snprintf(path, sizeof(path), "%s/posta-index", th_maildir(th, ACCT));
	th_rm_rf(path);
	th_start(th);
	u = th_user(th, ACCT);
	box = th_open(th, u, "INBOX", 0, &err);
	assert_int_equal(err, 0);
	/*
	 * UIDVALIDITY: a rebuilt index cannot know which UIDs clients saw,
	 * so the mailbox gets a new, larger UIDVALIDITY (from the folder's
	 * posta-uidvalidity file) and clients resync it.  Messages, system
	 * flags (in the file names), keywords (in dovecot-keywords) and
	 * internal dates (file mtimes) all survive.
	 */
	assert_true(posta_mailbox_view_status(box)->uidvalidity > old_uidv);
	assert_int_equal(posta_mailbox_messages(box, &msgs), 3);
	assert_int_equal(msgs[1].flags & POSTA_FLAGS_STORED, POSTA_FLAG_SEEN);
	assert_int_equal(posta_mailbox_keywords(box, &kw), 1);
	assert_string_equal(kw[0], "$Label1");
	assert_int_equal(msgs[1].keywords, 1);
	/* a damaged index is moved aside and rebuilt the same way */
	old_uidv = posta_mailbox_view_status(box)->uidvalidity;
	posta_mailbox_close(&box);
	posta_mail_user_close(&u);
	th_stop(th);
	snprintf(path, sizeof(path), "%s/posta-index/data.mdb",
	    th_maildir(th, ACCT));
	th_write_file(path, "this is not an LMDB file, not even close to one");
	th_start(th);
	th->warnings = 0;
	u = th_user(th, ACCT);
	box = th_open(th, u, "INBOX", 0, &err);
	assert_int_equal(err, 0);
	assert_true(th->warnings > 0);	/* the rebuild is logged */
	assert_true(posta_mailbox_view_status(box)->uidvalidity > old_uidv);
	assert_int_equal(posta_mailbox_messages(box, &msgs), 3);
	posta_mailbox_close(&box);
	posta_mail_user_close(&u);
	th_free(&th);
}

static void
test_dovecot_import(void **state)
{
	struct test_host *th = th_new();
	struct posta_mail_user *u;
	struct posta_mailbox *box;
	const struct posta_msg *msgs;
	const char *const *kw;
	char path[4096];
	int err;

	/* a Maildir as Dovecot 2.3 leaves it (file formats of its docs) */
	snprintf(path, sizeof(path), "%s/cur", th_maildir(th, ACCT));
	th_write_file("/dev/null", "");
	{
		char cmd[8192];

		snprintf(cmd, sizeof(cmd), "mkdir -p '%s/cur' '%s/new' "
		    "'%s/tmp' '%s/.Foo.B&AOQ-r/cur' '%s/.Foo.B&AOQ-r/new' "
		    "'%s/.Foo.B&AOQ-r/tmp'", th_maildir(th, ACCT),
		    th_maildir(th, ACCT), th_maildir(th, ACCT),
		    th_maildir(th, ACCT), th_maildir(th, ACCT),
		    th_maildir(th, ACCT));
		assert_int_equal(system(cmd), 0);
	}
	th_write_file(mdpath(th, "dovecot-uidlist"),
	    "3 V1275660208 N25022 G3085f01b7f11094c501100008c4a11c1\n"
	    "25006 :1276528487.M364837P9451.kurkku,S=30,W=34:2,\n"
	    "25017 W2481 :1276533073.M242911P3632.kurkku:2,F\n"
	    "25018 :1276533074.M1P1.kurkku\n"
	    "garbage line\n"
	    "25019 :1276533075.M1P1.gone\n");
	th_write_file(mdpath(th, "dovecot-keywords"),
	    "0 $Label1\n1 $Junk\n");
	th_write_file(mdpath(th, "subscriptions"),
	    "V\t2\n\nFoo\tB&AOQ-r\nINBOX\n");
	th_write_file(mdpath(th, "cur/1276528487.M364837P9451.kurkku,S=30,"
	    "W=34:2,Sb"), "From: a@b\nSubject: one\n\nbody1\n");
	th_write_file(mdpath(th, "cur/1276533073.M242911P3632.kurkku:2,FSa"),
	    "Subject: two\r\n\r\n");
	th_write_file(mdpath(th, "new/1276533074.M1P1.kurkku"),
	    "Subject: three\r\n\r\n");
	/* delivered after Dovecot last wrote its list */
	th_write_file(mdpath(th, "new/1276533080.M1P1.kurkku"),
	    "Subject: four\r\n\r\n");
	th_write_file(mdpath(th, ".Foo.B&AOQ-r/dovecot-uidlist"),
	    "1 777 9\n7 1276533090.M1P1.k\n");
	th_write_file(mdpath(th, ".Foo.B&AOQ-r/cur/1276533090.M1P1.k:2,S"),
	    "Subject: five\r\n\r\n");

	th_start(th);
	u = th_user(th, ACCT);
	box = th_open(th, u, "INBOX", 0, &err);
	assert_int_equal(err, 0);
	assert_int_equal(posta_mailbox_view_status(box)->uidvalidity,
	    1275660208);
	assert_int_equal(posta_mailbox_messages(box, &msgs), 4);
	assert_int_equal(msgs[0].uid, 25006);
	assert_int_equal(msgs[1].uid, 25017);
	assert_int_equal(msgs[2].uid, 25018);
	assert_int_equal(msgs[3].uid, 25022);	/* N: the next UID */
	assert_int_equal(posta_mailbox_view_status(box)->uidnext, 25023);
	assert_int_equal(msgs[0].size, 34);	/* W= */
	assert_int_equal(posta_mailbox_keywords(box, &kw), 2);
	assert_string_equal(kw[0], "$Label1");
	assert_string_equal(kw[1], "$Junk");
	assert_int_equal(msgs[0].keywords, 2);
	assert_int_equal(msgs[1].keywords, 1);
	assert_int_equal(msgs[1].flags & POSTA_FLAGS_STORED,
	    POSTA_FLAG_SEEN | POSTA_FLAG_FLAGGED);
	{
		char *data;
		size_t len;

		/* W= was trusted; reading converts the bare LFs to match */
		assert_int_equal(th_read(th, box, 25006, 10, &data, &len), 0);
		assert_string_equal(data,
		    "From: a@b\r\nSubject: one\r\n\r\nbody1\r\n");
		free(data);
	}
	posta_mailbox_close(&box);
	box = th_open(th, u, "Foo.Bär", 0, &err);
	assert_int_equal(err, 0);
	assert_int_equal(posta_mailbox_view_status(box)->uidvalidity, 777);
	assert_int_equal(posta_mailbox_messages(box, &msgs), 1);
	assert_int_equal(msgs[0].uid, 7);
	posta_mailbox_close(&box);
	posta_mail_user_close(&u);

	/* a restart keeps everything as it is */
	th_stop(th);
	th_start(th);
	u = th_user(th, ACCT);
	box = th_open(th, u, "INBOX", 0, &err);
	assert_int_equal(posta_mailbox_view_status(box)->uidvalidity,
	    1275660208);
	assert_int_equal(posta_mailbox_messages(box, &msgs), 4);
	assert_int_equal(msgs[3].uid, 25022);
	posta_mailbox_close(&box);
	posta_mail_user_close(&u);
	th_free(&th);
}

static void
test_stale_tmp(void **state)
{
	struct test_host *th = th_new();
	struct posta_mail_user *u;
	struct posta_mailbox *box;
	struct timespec old[2] = { { time(NULL) - 40 * 3600, 0 },
	    { time(NULL) - 40 * 3600, 0 } };
	int err;

	th_start(th);
	u = th_user(th, ACCT);
	posta_mail_user_close(&u);
	th_stop(th);
	/* a crash left our file; procmail is writing one; one is ancient */
	th_write_file(mdpath(th, "tmp/posta.1.1.1.host"), "half a mess");
	th_write_file(mdpath(th, "tmp/1700000000.P9.procmail"), "in progress");
	th_write_file(mdpath(th, "tmp/1500000000.P9.old"), "forgotten");
	assert_int_equal(utimensat(AT_FDCWD, mdpath(th,
	    "tmp/1500000000.P9.old"), old, 0), 0);
	th_start(th);
	u = th_user(th, ACCT);
	box = th_open(th, u, "INBOX", 0, &err);
	assert_int_equal(err, 0);
	assert_int_equal(access(mdpath(th, "tmp/posta.1.1.1.host"), F_OK), -1);
	assert_int_equal(access(mdpath(th, "tmp/1500000000.P9.old"), F_OK),
	    -1);
	assert_int_equal(access(mdpath(th, "tmp/1700000000.P9.procmail"),
	    F_OK), 0);
	posta_mailbox_close(&box);
	posta_mail_user_close(&u);
	th_free(&th);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sync_by_hand),
		cmocka_unit_test(test_rebuild_index),
		cmocka_unit_test(test_dovecot_import),
		cmocka_unit_test(test_stale_tmp),
	};

	alarm(120);
	return cmocka_run_group_tests_name("maildir_sync", tests, NULL, NULL);
}
