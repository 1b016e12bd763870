/* test_maildir_store.c: mailbox management, flags, copy/move, meta, IDLE */
#include "config.h"

#include <dirent.h>
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

static const char msg[] =
	"From: Bob <bob@example.org>\r\n"
	"Subject: hello there\r\n"
	"Content-Type: multipart/mixed; boundary=xx\r\n"
	"\r\n"
	"--xx\r\n"
	"Content-Type: text/plain\r\n"
	"\r\n"
	"hi\r\n"
	"--xx--\r\n";

/* ---- LIST ---- */

struct list_wait {
	bool done;
	int err;
	size_t n;
	char names[32][64];
	uint32_t attrs[32], use[32];
};

static void
list_cb(void *ctx, int err, const struct posta_mailbox_info *b, size_t n)
{
	struct list_wait *w = ctx;
	size_t i;

	w->err = err;
	w->n = n;
	for (i = 0; i < n && i < 32; i++) {
		snprintf(w->names[i], sizeof(w->names[i]), "%s", b[i].name);
		w->attrs[i] = b[i].attrs;
		w->use[i] = b[i].special_use;
	}
	w->done = true;
}

static int
list_find(struct list_wait *w, const char *name)
{
	size_t i;

	for (i = 0; i < w->n; i++)
		if (strcmp(w->names[i], name) == 0)
			return (int)i;
	return -1;
}

static void
do_list(struct test_host *th, struct posta_mail_user *u, struct list_wait *w)
{
	memset(w, 0, sizeof(*w));
	assert_int_equal(posta_mailbox_list(u, list_cb, w), 0);
	th_wait(th, &w->done);
	assert_int_equal(w->err, 0);
}

static void
test_mailboxes(void **state)
{
	struct test_host *th = th_new();
	struct posta_mail_user *u;
	struct posta_mailbox_status st;
	struct list_wait w;
	int i;

	th_start(th);
	u = th_user(th, ACCT);
	do_list(th, u, &w);
	assert_int_equal(w.n, 5);
	assert_string_equal(w.names[0], "INBOX");
	i = list_find(&w, "Sent");
	assert_true(i > 0);
	assert_int_equal(w.use[i], POSTA_SPECIAL_SENT);
	assert_true(w.attrs[i] & POSTA_MBOX_SUBSCRIBED);
	assert_int_equal(w.use[list_find(&w, "Trash")], POSTA_SPECIAL_TRASH);
	assert_int_equal(w.use[list_find(&w, "Drafts")], POSTA_SPECIAL_DRAFTS);
	assert_int_equal(w.use[list_find(&w, "Junk")], POSTA_SPECIAL_JUNK);

	/* names */
	assert_int_equal(th_user_op(th, u, TH_CREATE, "a/b", NULL),
	    POSTA_ENAME);
	assert_int_equal(th_user_op(th, u, TH_CREATE, "a..b", NULL),
	    POSTA_ENAME);
	assert_int_equal(th_user_op(th, u, TH_CREATE, "bad\x01", NULL),
	    POSTA_ENAME);
	assert_int_equal(th_user_op(th, u, TH_CREATE, "inbox", NULL),
	    POSTA_EEXIST);
	assert_int_equal(th_user_op(th, u, TH_CREATE, "Sent", NULL),
	    POSTA_EEXIST);
	assert_int_equal(th_user_op(th, u, TH_CREATE, "Lists.dev.posta",
	    NULL), 0);
	assert_int_equal(th_user_op(th, u, TH_CREATE, "Entwürfe", NULL), 0);
	do_list(th, u, &w);
	i = list_find(&w, "Lists");
	assert_true(i >= 0);
	assert_int_equal(w.attrs[i], POSTA_MBOX_NONEXISTENT |
	    POSTA_MBOX_HAS_CHILDREN);
	i = list_find(&w, "Lists.dev.posta");
	assert_true(i >= 0);
	assert_int_equal(w.attrs[i], 0);
	assert_true(list_find(&w, "Entwürfe") >= 0);
	assert_int_equal(access("/dev/null", F_OK), 0);
	{
		char p[4096];

		snprintf(p, sizeof(p), "%s/.Entw&APw-rfe/cur",
		    th_maildir(th, ACCT));
		assert_int_equal(access(p, F_OK), 0);
		snprintf(p, sizeof(p), "%s/.Entw&APw-rfe/maildirfolder",
		    th_maildir(th, ACCT));
		assert_int_equal(access(p, F_OK), 0);
	}

	/* subscriptions of names that do not exist */
	assert_int_equal(th_user_op(th, u, TH_SUBSCRIBE, "Gone.Away", NULL),
	    0);
	do_list(th, u, &w);
	i = list_find(&w, "Gone.Away");
	assert_int_equal(w.attrs[i], POSTA_MBOX_NONEXISTENT |
	    POSTA_MBOX_SUBSCRIBED);
	assert_int_equal(list_find(&w, "Gone"), -1);
	assert_int_equal(th_user_op(th, u, TH_UNSUBSCRIBE, "Gone.Away", NULL),
	    0);
	do_list(th, u, &w);
	assert_int_equal(list_find(&w, "Gone.Away"), -1);

	/* rename takes the children along, and their subscriptions */
	assert_int_equal(th_user_op(th, u, TH_SUBSCRIBE, "Lists.dev.posta",
	    NULL), 0);
	assert_int_equal(th_user_op(th, u, TH_RENAME, "Lists.dev", "Old.dev"),
	    POSTA_ENOTFOUND);	/* only a parent by name */
	assert_int_equal(th_user_op(th, u, TH_CREATE, "Lists.dev", NULL), 0);
	assert_int_equal(th_user_op(th, u, TH_RENAME, "Lists.dev",
	    "Lists.dev.x"), POSTA_ENAME);
	assert_int_equal(th_user_op(th, u, TH_RENAME, "Lists.dev", "Sent"),
	    POSTA_EEXIST);
	assert_int_equal(th_user_op(th, u, TH_RENAME, "Lists.dev", "Old.dev"),
	    0);
	do_list(th, u, &w);
	assert_int_equal(list_find(&w, "Lists.dev.posta"), -1);
	i = list_find(&w, "Old.dev.posta");
	assert_true(i >= 0);
	assert_int_equal(w.attrs[i], POSTA_MBOX_SUBSCRIBED);

	/* delete: not INBOX, not with children */
	assert_int_equal(th_user_op(th, u, TH_DELETE, "INBOX", NULL), -EPERM);
	assert_int_equal(th_user_op(th, u, TH_DELETE, "Old.dev", NULL),
	    -ENOTEMPTY);
	assert_int_equal(th_user_op(th, u, TH_DELETE, "Old.dev.posta", NULL),
	    0);
	assert_int_equal(th_user_op(th, u, TH_DELETE, "Old.dev.posta", NULL),
	    POSTA_ENOTFOUND);
	assert_int_equal(th_user_op(th, u, TH_DELETE, "Old.dev", NULL), 0);
	assert_int_equal(th_status(th, u, "Old.dev", &st), POSTA_ENOTFOUND);
	/* a re-created mailbox is another mailbox: another UIDVALIDITY */
	{
		struct posta_mailbox_status st2;

		assert_int_equal(th_status(th, u, "Entwürfe", &st), 0);
		assert_int_equal(th_user_op(th, u, TH_DELETE, "Entwürfe",
		    NULL), 0);
		assert_int_equal(th_user_op(th, u, TH_CREATE, "Entwürfe",
		    NULL), 0);
		assert_int_equal(th_status(th, u, "Entwürfe", &st2), 0);
		assert_true(st2.uidvalidity > st.uidvalidity);
	}
	posta_mail_user_close(&u);
	th_free(&th);
}

struct usage_wait {
	bool done;
	int err;
	struct posta_user_usage use;
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
test_status_and_inbox_rename(void **state)
{
	struct test_host *th = th_new();
	struct posta_mail_user *u;
	struct posta_mailbox_status st;
	struct posta_mailbox *box;
	int i, err;

	th_start(th);
	u = th_user(th, ACCT);
	for (i = 0; i < 3; i++)
		assert_int_equal(th_append(th, u, "INBOX", msg, strlen(msg),
		    i == 0 ? POSTA_FLAG_SEEN : 0, NULL, NULL), 0);
	assert_int_equal(th_status(th, u, "inbox", &st), 0);
	assert_int_equal(st.messages, 3);
	assert_int_equal(st.unseen, 2);
	assert_int_equal(st.uidnext, 4);
	assert_int_equal(st.size, 3 * strlen(msg));
	assert_true(st.highestmodseq >= 3);
	assert_int_equal(th_user_op(th, u, TH_RENAME, "INBOX", "Old Inbox"),
	    0);
	assert_int_equal(th_status(th, u, "INBOX", &st), 0);
	assert_int_equal(st.messages, 0);
	assert_int_equal(st.uidnext, 4);	/* UIDs are not reused */
	box = th_open(th, u, "Old Inbox", 0, &err);
	assert_int_equal(err, 0);
	assert_int_equal(posta_mailbox_view_status(box)->messages, 3);
	assert_int_equal(posta_mailbox_view_status(box)->unseen, 2);
	posta_mailbox_close(&box);
	{
		struct usage_wait uw = { 0 };

		assert_int_equal(posta_mail_user_usage(u, usage_cb, &uw), 0);
		th_wait(th, &uw.done);
		assert_int_equal(uw.err, 0);
		assert_int_equal(uw.use.messages, 3);
		assert_int_equal(uw.use.bytes, 3 * strlen(msg));
	}
	posta_mail_user_close(&u);
	th_free(&th);
}

/* ---- POP3 lock ---- */

static void
test_pop3_lock(void **state)
{
	struct test_host *th = th_new();
	struct posta_mail_user *u1, *u2;
	struct posta_mailbox *a, *b;
	int err;

	th_start(th);
	u1 = th_user(th, ACCT);
	u2 = th_user(th, ACCT);
	a = th_open(th, u1, "INBOX", POSTA_OPEN_POP3_LOCK, &err);
	assert_int_equal(err, 0);
	b = th_open(th, u2, "INBOX", POSTA_OPEN_POP3_LOCK, &err);
	assert_null(b);
	assert_int_equal(err, -EBUSY);
	/* IMAP is not affected by the POP3 lock */
	b = th_open(th, u2, "INBOX", 0, &err);
	assert_int_equal(err, 0);
	posta_mailbox_close(&b);
	posta_mailbox_close(&a);
	b = th_open(th, u2, "INBOX", POSTA_OPEN_POP3_LOCK, &err);
	assert_int_equal(err, 0);
	posta_mailbox_close(&b);
	posta_mail_user_close(&u1);
	posta_mail_user_close(&u2);
	th_free(&th);
}

/* ---- flags ---- */

struct fl_wait {
	bool done;
	int err;
	size_t n_changed, n_failed;
	uint32_t failed[8];
};

static void
fl_cb(void *ctx, int err, const struct posta_flags_result *r)
{
	struct fl_wait *w = ctx;
	size_t i;

	w->err = err;
	if (err == 0) {
		w->n_changed = r->n_changed;
		w->n_failed = r->n_failed;
		for (i = 0; i < r->n_failed && i < 8; i++)
			w->failed[i] = r->failed[i];
	}
	w->done = true;
}

static bool
file_with_suffix(const char *dir, const char *suffix)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	bool found = false;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name), sl = strlen(suffix);

		if (l > sl && strcmp(de->d_name + l - sl, suffix) == 0)
			found = true;
	}
	closedir(d);
	return found;
}

static void
test_flags(void **state)
{
	struct test_host *th = th_new();
	struct posta_mail_user *u;
	struct posta_mailbox *box, *other;
	const struct posta_msg *msgs;
	const char *const *kw;
	char cur[4096];
	uint64_t ms;
	int err;

	th->set.max_keywords = 2;
	th_start(th);
	u = th_user(th, ACCT);
	assert_int_equal(th_append(th, u, "INBOX", msg, strlen(msg), 0, NULL,
	    NULL), 0);
	assert_int_equal(th_append(th, u, "INBOX", msg, strlen(msg), 0, NULL,
	    NULL), 0);
	box = th_open(th, u, "INBOX", 0, &err);
	other = th_open(th, u, "INBOX", 0, &err);
	snprintf(cur, sizeof(cur), "%s/cur", th_maildir(th, ACCT));

	assert_int_equal(th_store(th, box, 1, POSTA_FLAGS_ADD,
	    POSTA_FLAG_SEEN | POSTA_FLAG_ANSWERED, "$Junk"), 0);
	assert_true(file_with_suffix(cur, ":2,RSa"));
	/* our own view shows it at once, without a refresh */
	posta_mailbox_messages(box, &msgs);
	assert_int_equal(msgs[0].flags & POSTA_FLAGS_STORED,
	    POSTA_FLAG_SEEN | POSTA_FLAG_ANSWERED);
	assert_int_equal(msgs[0].keywords, 1);
	assert_int_equal(posta_mailbox_keywords(box, &kw), 1);
	assert_string_equal(kw[0], "$Junk");
	ms = msgs[0].modseq;
	assert_int_equal(posta_mailbox_view_status(box)->unseen, 1);
	/* keyword names are case-insensitive; the table has a limit */
	assert_int_equal(th_store(th, box, 2, POSTA_FLAGS_ADD, 0, "$JUNK"), 0);
	assert_int_equal(th_store(th, box, 2, POSTA_FLAGS_ADD, 0, "two"), 0);
	assert_int_equal(th_store(th, box, 2, POSTA_FLAGS_ADD, 0, "three"),
	    POSTA_EQUOTA);
	assert_int_equal(th_store(th, box, 2, POSTA_FLAGS_ADD, 0, "(bad"),
	    -EINVAL);
	assert_int_equal(th_store(th, box, 2, POSTA_FLAGS_SET,
	    POSTA_FLAG_DELETED, NULL), 0);
	posta_mailbox_messages(box, &msgs);
	assert_int_equal(msgs[1].keywords, 0);
	assert_int_equal(msgs[1].flags & POSTA_FLAGS_STORED,
	    POSTA_FLAG_DELETED);
	/* the other view hears of it at its refresh */
	{
		struct posta_mailbox_changes ch;
		uint32_t *exp;

		assert_int_equal(th_refresh(th, other, 0, &ch, &exp), 0);
		free(exp);
		assert_int_equal(ch.n_changed, 2);
		assert_true(ch.keywords_changed);
		assert_int_equal(th_refresh(th, box, 0, &ch, &exp), 0);
		free(exp);
		assert_int_equal(ch.n_changed, 0);	/* not told twice */
	}
	/* CONDSTORE UNCHANGEDSINCE */
	{
		struct posta_flag_update upd = { POSTA_FLAGS_ADD,
		    POSTA_FLAG_FLAGGED, 0, NULL, ms - 1 };
		uint32_t uids[2] = { 1, 2 };
		struct fl_wait w = { 0 };

		assert_int_equal(posta_mailbox_store_flags(box, uids, 2, &upd,
		    fl_cb, &w), 0);
		th_wait(th, &w.done);
		assert_int_equal(w.err, 0);
		assert_int_equal(w.n_failed, 2);
		upd.unchangedsince = posta_mailbox_view_status(box)->
		    highestmodseq;
		memset(&w, 0, sizeof(w));
		assert_int_equal(posta_mailbox_store_flags(box, uids, 2, &upd,
		    fl_cb, &w), 0);
		th_wait(th, &w.done);
		assert_int_equal(w.n_failed, 0);
		assert_int_equal(w.n_changed, 2);
	}
	/* EXPUNGE of \Deleted only, then QRESYNC's VANISHED source */
	{
		size_t n;

		ms = posta_mailbox_view_status(box)->highestmodseq;
		assert_int_equal(th_expunge(th, box, NULL, 0,
		    POSTA_EXPUNGE_DELETED_ONLY, &n), 0);
		assert_int_equal(n, 1);
	}
	posta_mailbox_close(&box);
	posta_mailbox_close(&other);
	posta_mail_user_close(&u);
	th_free(&th);
}

/* ---- copy, move, vanished ---- */

struct copy_wait {
	bool done;
	int err;
	uint32_t uidv;
	size_t n;
	uint32_t src[8], dst[8];
};

static void
copy_cb(void *ctx, int err, const struct posta_copy_result *r)
{
	struct copy_wait *w = ctx;
	size_t i;

	w->err = err;
	if (err == 0) {
		w->uidv = r->dst_uidvalidity;
		w->n = r->n;
		for (i = 0; i < r->n && i < 8; i++) {
			w->src[i] = r->src_uids[i];
			w->dst[i] = r->dst_uids[i];
		}
	}
	w->done = true;
}

struct range_wait {
	bool done;
	int err;
	size_t n;
	struct posta_uid_range r[8];
};

static void
range_cb(void *ctx, int err, const struct posta_uid_range *r, size_t n)
{
	struct range_wait *w = ctx;

	w->err = err;
	w->n = n;
	memcpy(w->r, r, (n < 8 ? n : 8) * sizeof(*r));
	w->done = true;
}

static void
test_copy_move(void **state)
{
	struct test_host *th = th_new();
	struct posta_mail_user *u;
	struct posta_mailbox *box, *trash;
	struct copy_wait w = { 0 };
	struct range_wait rw = { 0 };
	const struct posta_msg *msgs;
	uint32_t uids[3] = { 1, 2, 3 };
	uint64_t ms;
	int i, err;

	th_start(th);
	u = th_user(th, ACCT);
	for (i = 0; i < 3; i++)
		assert_int_equal(th_append(th, u, "INBOX", msg, strlen(msg),
		    POSTA_FLAG_FLAGGED, "$Label3", NULL), 0);
	box = th_open(th, u, "INBOX", 0, &err);
	ms = posta_mailbox_view_status(box)->highestmodseq;
	assert_int_equal(posta_mailbox_copy(box, uids, 2, "Nowhere", false,
	    copy_cb, &w), 0);
	th_wait(th, &w.done);
	assert_int_equal(w.err, POSTA_ENOTFOUND);	/* TRYCREATE */
	memset(&w, 0, sizeof(w));
	assert_int_equal(posta_mailbox_copy(box, uids, 2, "Trash", false,
	    copy_cb, &w), 0);
	th_wait(th, &w.done);
	assert_int_equal(w.err, 0);
	assert_int_equal(w.n, 2);
	assert_int_equal(w.src[0], 1);
	assert_int_equal(w.dst[0], 1);
	assert_int_equal(w.dst[1], 2);
	memset(&w, 0, sizeof(w));
	assert_int_equal(posta_mailbox_copy(box, uids + 1, 2, "Trash", true,
	    copy_cb, &w), 0);
	th_wait(th, &w.done);
	assert_int_equal(w.err, 0);
	assert_int_equal(w.n, 2);
	assert_int_equal(w.src[1], 3);
	assert_int_equal(w.dst[1], 4);
	{
		struct posta_mailbox_changes ch;
		uint32_t *exp;

		assert_int_equal(th_refresh(th, box, 0, &ch, &exp), 0);
		assert_int_equal(ch.n_expunged, 2);
		assert_int_equal(exp[0], 3);
		assert_int_equal(exp[1], 2);
		free(exp);
	}
	trash = th_open(th, u, "Trash", 0, &err);
	assert_int_equal(posta_mailbox_messages(trash, &msgs), 4);
	assert_int_equal(msgs[3].flags & POSTA_FLAGS_STORED,
	    POSTA_FLAG_FLAGGED);
	assert_int_equal(msgs[3].keywords, 1);
	assert_int_equal(msgs[3].internal_date, 1500000000);
	{
		char *data;
		size_t len;

		assert_int_equal(th_read(th, trash, 4, 1000, &data, &len), 0);
		assert_memory_equal(data, msg, len);
		free(data);
	}
	assert_int_equal(posta_mailbox_expunged_since(box, ms, range_cb, &rw),
	    0);
	th_wait(th, &rw.done);
	assert_int_equal(rw.err, 0);
	assert_int_equal(rw.n, 1);
	assert_int_equal(rw.r[0].lo, 2);
	assert_int_equal(rw.r[0].hi, 3);
	posta_mailbox_close(&trash);
	posta_mailbox_close(&box);
	posta_mail_user_close(&u);
	th_free(&th);
}

/* ---- a mailbox that vanishes under busy sessions ---- */

struct op_wait {
	bool done;
	int err;
	struct posta_mailbox *box;
};

static void
op_done_cb(void *ctx, int err)
{
	struct op_wait *w = ctx;

	w->err = err;
	w->done = true;
}

static void
op_open_cb(void *ctx, int err, struct posta_mailbox *box)
{
	struct op_wait *w = ctx;

	w->err = err;
	w->box = box;
	w->done = true;
}

/* "Shared" with a keyword in its record, then its folder removed behind
   the index's back, as another Maildir program or process does */
static void
shared_then_gone(struct test_host *th, struct posta_mail_user *u)
{
	char dir[512];

	assert_int_equal(th_user_op(th, u, TH_CREATE, "Shared", NULL), 0);
	assert_int_equal(th_append(th, u, "Shared", msg, strlen(msg), 0,
	    "$Work", NULL), 0);
	snprintf(dir, sizeof(dir), "%s/.Shared", th_maildir(th, ACCT));
	th_rm_rf(dir);
}

/*
 * Sessions create, delete, copy to and select one mailbox at once while
 * its folder is gone: each request that finds the index record without
 * the folder fails cleanly until DELETE drops the record; nothing leaks
 * (LeakSanitizer checks the box records loaded on the way).
 */
static void
test_vanishing_box(void **state)
{
	struct test_host *th = th_new();
	struct posta_mail_user *u, *u2;
	struct posta_mailbox *a, *b;
	struct copy_wait c1 = { 0 }, c2 = { 0 }, c3 = { 0 };
	struct op_wait sel = { 0 }, del = { 0 }, cre = { 0 }, sel2 = { 0 };
	uint32_t uids[2] = { 1, 2 };
	int i, err;

	th_start(th);
	u = th_user(th, ACCT);
	u2 = th_user(th, ACCT);
	for (i = 0; i < 2; i++)
		assert_int_equal(th_append(th, u, "INBOX", msg, strlen(msg),
		    0, "$Label3", NULL), 0);
	a = th_open(th, u, "INBOX", 0, &err);
	b = th_open(th, u2, "INBOX", 0, &err);
	assert_non_null(a);
	assert_non_null(b);

	/* round 1: COPY reaches the stale record first */
	shared_then_gone(th, u);
	assert_int_equal(posta_mailbox_copy(a, uids, 2, "Shared", false,
	    copy_cb, &c1), 0);
	assert_int_equal(posta_mailbox_open(u2, "Shared", 0, op_open_cb,
	    &sel), 0);
	assert_int_equal(posta_mailbox_copy(b, uids, 1, "Shared", true,
	    copy_cb, &c2), 0);
	assert_int_equal(posta_mailbox_delete(u, "Shared", op_done_cb, &del),
	    0);
	assert_int_equal(posta_mailbox_create(u2, "Shared", 0, op_done_cb,
	    &cre), 0);
	assert_int_equal(posta_mailbox_copy(a, uids, 2, "Shared", false,
	    copy_cb, &c3), 0);
	assert_int_equal(posta_mailbox_open(u, "Shared", 0, op_open_cb,
	    &sel2), 0);
	th_wait(th, &c1.done);
	th_wait(th, &sel.done);
	th_wait(th, &c2.done);
	th_wait(th, &del.done);
	th_wait(th, &cre.done);
	th_wait(th, &c3.done);
	th_wait(th, &sel2.done);
	assert_int_equal(c1.err, POSTA_ENOTFOUND);
	assert_int_equal(sel.err, POSTA_ENOTFOUND);
	assert_null(sel.box);
	assert_int_equal(c2.err, POSTA_ENOTFOUND);
	/* failed requests roll back; DELETE drops the stale record */
	assert_int_equal(del.err, 0);
	assert_int_equal(cre.err, 0);
	assert_int_equal(c3.err, 0);
	assert_int_equal(c3.n, 2);
	assert_int_equal(c3.dst[0], 1);
	assert_int_equal(sel2.err, 0);
	assert_non_null(sel2.box);
	assert_int_equal(posta_mailbox_view_status(sel2.box)->messages, 2);
	posta_mailbox_close(&sel2.box);
	assert_int_equal(th_user_op(th, u, TH_DELETE, "Shared", NULL), 0);

	/* round 2: SELECT reaches it first */
	shared_then_gone(th, u);
	memset(&sel, 0, sizeof(sel));
	memset(&c1, 0, sizeof(c1));
	assert_int_equal(posta_mailbox_open(u2, "Shared", 0, op_open_cb,
	    &sel), 0);
	assert_int_equal(posta_mailbox_copy(a, uids, 2, "Shared", false,
	    copy_cb, &c1), 0);
	th_wait(th, &sel.done);
	th_wait(th, &c1.done);
	assert_int_equal(sel.err, POSTA_ENOTFOUND);
	assert_int_equal(c1.err, POSTA_ENOTFOUND);
	assert_int_equal(th_status(th, u, "Shared", NULL), POSTA_ENOTFOUND);

	/* messages expunged meanwhile are no missing mailbox: OK, none */
	{
		uint32_t gone = 99;

		memset(&c1, 0, sizeof(c1));
		assert_int_equal(posta_mailbox_copy(a, &gone, 1, "Trash",
		    false, copy_cb, &c1), 0);
		th_wait(th, &c1.done);
		assert_int_equal(c1.err, 0);
		assert_int_equal(c1.n, 0);
	}

	/* the views are intact: INBOX still has both messages */
	assert_int_equal(posta_mailbox_view_status(a)->messages, 2);
	posta_mailbox_close(&a);
	posta_mailbox_close(&b);
	posta_mail_user_close(&u2);
	posta_mail_user_close(&u);
	th_free(&th);
}

struct ap_wait {
	bool done;
	int err;
	struct posta_append *ap;
	uint32_t uid;
};

static void
ap_begin_cb(void *ctx, int err, struct posta_append *ap)
{
	struct ap_wait *w = ctx;

	w->err = err;
	w->ap = ap;
	w->done = true;
}

static void
ap_finish_cb(void *ctx, int err, uint32_t uidvalidity, uint32_t uid)
{
	struct ap_wait *w = ctx;

	w->err = err;
	w->uid = uid;
	w->done = true;
}

#define OP_RM_FOLDER 100	/* another program removes .Shared */

/* APPEND to "Shared", with ops run between its data and its end */
static int
append_around(struct test_host *th, struct posta_mail_user *u,
    const int *ops, size_t n_ops)
{
	struct ap_wait b = { 0 }, f = { 0 };
	struct op_wait wr = { 0 };
	size_t i;

	assert_int_equal(posta_append_begin(u, "Shared", NULL, ap_begin_cb,
	    &b), 0);
	th_wait(th, &b.done);
	if (b.err != 0)
		return b.err;
	assert_int_equal(posta_append_write(b.ap, msg, strlen(msg),
	    op_done_cb, &wr), 0);
	th_wait(th, &wr.done);
	assert_int_equal(wr.err, 0);
	for (i = 0; i < n_ops; i++) {
		char dir[512];

		if (ops[i] != OP_RM_FOLDER) {
			assert_int_equal(th_user_op(th, u, ops[i], "Shared",
			    NULL), 0);
			continue;
		}
		snprintf(dir, sizeof(dir), "%s/.Shared",
		    th_maildir(th, ACCT));
		th_rm_rf(dir);
	}
	assert_int_equal(posta_append_finish(b.ap, ap_finish_cb, &f), 0);
	th_wait(th, &f.done);
	return f.err;
}

/* an APPEND whose mailbox goes away is refused as missing (TRYCREATE),
   never with a bare errno */
static void
test_append_vanishing_box(void **state)
{
	struct test_host *th = th_new();
	struct posta_mail_user *u;
	static const int del[] = { TH_DELETE };
	static const int recreate[] = { TH_DELETE, TH_CREATE };
	static const int rm[] = { OP_RM_FOLDER };

	th_start(th);
	u = th_user(th, ACCT);
	/* the index knows it, the folder is gone */
	shared_then_gone(th, u);
	assert_int_equal(append_around(th, u, NULL, 0), POSTA_ENOTFOUND);
	assert_int_equal(th_user_op(th, u, TH_DELETE, "Shared", NULL), 0);
	/* deleted between the data and the commit */
	assert_int_equal(th_user_op(th, u, TH_CREATE, "Shared", NULL), 0);
	assert_int_equal(append_around(th, u, del, 1), POSTA_ENOTFOUND);
	/* deleted and created again: the new one does not get it */
	assert_int_equal(th_user_op(th, u, TH_CREATE, "Shared", NULL), 0);
	assert_int_equal(append_around(th, u, recreate, 2), POSTA_ENOTFOUND);
	/* removed by another program between the data and the commit */
	assert_int_equal(append_around(th, u, rm, 1), POSTA_ENOTFOUND);
	assert_int_equal(th_user_op(th, u, TH_DELETE, "Shared", NULL), 0);
	assert_int_equal(th_user_op(th, u, TH_CREATE, "Shared", NULL), 0);
	{
		struct posta_mailbox_status st;

		assert_int_equal(th_status(th, u, "Shared", &st), 0);
		assert_int_equal(st.messages, 0);
	}
	/* and an undisturbed one still works */
	assert_int_equal(append_around(th, u, NULL, 0), 0);
	posta_mail_user_close(&u);
	th_free(&th);
}

/* ---- cached parse results ---- */

struct meta_wait {
	bool done;
	int err;
	size_t n;
	int errs[4];
	char env[4][512];
	char bs[4][512];
	size_t n_parts[4];
	uint64_t header_size[4];
};

static void
meta_cb(void *ctx, int err, const struct posta_msg_meta *m, size_t n)
{
	struct meta_wait *w = ctx;
	size_t i;

	w->err = err;
	w->n = n;
	for (i = 0; i < n && i < 4; i++) {
		w->errs[i] = m[i].err;
		if (m[i].err != 0)
			continue;
		snprintf(w->env[i], sizeof(w->env[i]), "%s",
		    m[i].envelope ? m[i].envelope : "(null)");
		snprintf(w->bs[i], sizeof(w->bs[i]), "%s",
		    m[i].bodystructure ? m[i].bodystructure : "(null)");
		w->n_parts[i] = m[i].n_parts;
		w->header_size[i] = m[i].header_size;
	}
	w->done = true;
}

static void
test_meta(void **state)
{
	struct test_host *th = th_new();
	struct posta_mail_user *u;
	struct posta_mailbox *box;
	struct meta_wait w = { 0 };
	uint32_t uids[3] = { 2, 1, 99 }, many[POSTA_STORE_BATCH_MAX + 1];
	int err;

	th_start(th);
	u = th_user(th, ACCT);
	assert_int_equal(th_append(th, u, "INBOX", msg, strlen(msg), 0, NULL,
	    NULL), 0);
	assert_int_equal(th_append(th, u, "INBOX", "Subject: x\r\n\r\n", 14,
	    0, NULL, NULL), 0);
	box = th_open(th, u, "INBOX", 0, &err);
	assert_int_equal(posta_mailbox_fetch_meta(box, uids, 3,
	    POSTA_META_ENVELOPE | POSTA_META_PARTS, meta_cb, &w), 0);
	th_wait(th, &w.done);
	assert_int_equal(w.err, 0);
	assert_int_equal(w.n, 3);
	assert_int_equal(w.errs[0], 0);
	assert_int_equal(w.errs[1], 0);
	assert_int_equal(w.errs[2], POSTA_ENOTFOUND);
	assert_non_null(strstr(w.env[1], "\"hello there\""));
	assert_non_null(strstr(w.env[1], "\"bob\" \"example.org\""));
	assert_string_equal(w.bs[1], "(null)");	/* not asked for */
	assert_true(w.n_parts[1] >= 2);
	assert_int_equal(w.header_size[1], strstr(msg, "\r\n\r\n") + 4 - msg);
	assert_int_equal(w.header_size[0], 14);
	memset(many, 0, sizeof(many));
	assert_int_equal(posta_mailbox_fetch_meta(box, many,
	    POSTA_STORE_BATCH_MAX + 1, POSTA_META_BODY, meta_cb, &w),
	    -EMSGSIZE);
	posta_mailbox_close(&box);
	posta_mail_user_close(&u);
	th_free(&th);
}

/* ---- IDLE: watchers hear of deliveries at once ---- */

static void
idle_notify(void *ctx, struct posta_mailbox *box)
{
	(*(int *)ctx)++;
}

static void
test_watch(void **state)
{
	struct test_host *th = th_new();
	const char *rcpt[] = { ACCT };
	struct posta_delivery_result res[1];
	struct posta_mail_user *u;
	struct posta_mailbox *box, *sent;
	int notified = 0, sent_notified = 0, err;

	th_start(th);
	u = th_user(th, ACCT);
	box = th_open(th, u, "INBOX", 0, &err);
	sent = th_open(th, u, "Sent", 0, &err);
	posta_mailbox_watch(box, idle_notify, &notified);
	posta_mailbox_watch(sent, idle_notify, &sent_notified);
	assert_int_equal(th_deliver(th, rcpt, 1, msg, strlen(msg), res), 0);
	/* the delivery's callback ran; the notification is at most one
	   loop iteration behind it */
	uv_run(&th->loop, UV_RUN_NOWAIT);
	assert_int_equal(notified, 1);
	assert_int_equal(sent_notified, 0);
	{
		struct posta_mailbox_changes ch;
		uint32_t *exp;

		assert_int_equal(th_refresh(th, box, 0, &ch, &exp), 0);
		free(exp);
		assert_int_equal(ch.messages, 1);
		assert_int_equal(ch.recent, 1);
	}
	posta_mailbox_watch(box, NULL, NULL);
	assert_int_equal(th_deliver(th, rcpt, 1, msg, strlen(msg), res), 0);
	uv_run(&th->loop, UV_RUN_NOWAIT);
	assert_int_equal(notified, 1);
	posta_mailbox_close(&box);
	posta_mailbox_close(&sent);
	posta_mail_user_close(&u);
	th_free(&th);
}

/* runs the loop until no job of the store is on the thread pool */
static void
drain_jobs(struct test_host *th, struct md_store *s)
{
	while (s->jobs > 0)
		uv_run(&th->loop, UV_RUN_ONCE);
}

static struct md_user *
find_user(struct md_store *s, const char *account)
{
	size_t i;

	for (i = 0; i < s->n_buckets; i++) {
		struct md_user *u;

		for (u = s->users[i]; u != NULL; u = u->hnext)
			if (strcmp(u->account, account) == 0)
				return u;
	}
	return NULL;
}

/*
 * Idle users' indexes are closed and forgotten; reload applies.  The
 * sweep gets its clock from the test, so nothing here waits for time to
 * pass: the timer only calls md_store_sweep() with uv_now().
 */
static void
test_idle_close(void **state)
{
	struct test_host *th = th_new();
	const char *rcpt[] = { ACCT, "bob@example.com" };
	struct posta_delivery_result res[2];
	struct posta_mail_user *u;
	struct md_store *s;
	struct md_user *bob;
	const char *error = NULL;
	uint64_t now;

	th->set.index_idle_timeout = 4000;
	th_start(th);
	s = th->state;
	assert_int_equal(uv_timer_get_repeat(&s->sweep), 2000);
	assert_int_equal(th_deliver(th, rcpt, 2, msg, strlen(msg), res), 0);
	u = th_user(th, ACCT);
	assert_int_equal(s->n_users, 2);
	/* a reload changes limits and the sweep, never mail_root */
	th->set.max_message_size = 1000;
	th->set.index_idle_timeout = 1000;
	assert_int_equal(posta_module.reload(th->state, &th->set, &error), 0);
	assert_int_equal(posta_store_get_info((struct posta_host *)th)->
	    max_message_size, 1000);
	assert_int_equal(uv_timer_get_repeat(&s->sweep), 1000);
	th->set.mail_root = "/elsewhere/%d/%n";
	assert_int_equal(posta_module.reload(th->state, &th->set, &error),
	    POSTA_ECONFIG);
	assert_non_null(strstr(error, "mail_root"));
	th->set.mail_root = NULL;

	/* bob is idle, alice has a session */
	bob = find_user(s, "bob@example.com");
	assert_non_null(bob);
	assert_non_null(bob->env);
	now = uv_now(&th->loop);
	md_store_sweep(s, bob->idle_since + 999);	/* not yet */
	drain_jobs(th, s);
	assert_int_equal(s->n_users, 2);
	assert_non_null(bob->env);
	md_store_sweep(s, bob->idle_since + 1000);	/* index closed */
	drain_jobs(th, s);
	assert_int_equal(s->n_users, 2);
	assert_null(bob->env);
	/* the next sweep frees it, however long the close took */
	md_store_sweep(s, now + 1000);
	assert_int_equal(s->n_users, 1);
	assert_null(find_user(s, "bob@example.com"));
	/* alice's session keeps hers however old it is */
	md_store_sweep(s, now + 1000000);
	drain_jobs(th, s);
	assert_int_equal(s->n_users, 1);
	posta_mail_user_close(&u);
	drain_jobs(th, s);
	now = uv_now(&th->loop);
	md_store_sweep(s, now + 1000);
	drain_jobs(th, s);
	md_store_sweep(s, now + 1000);
	assert_int_equal(s->n_users, 0);

	/* and comes back on demand */
	u = th_user(th, ACCT);
	assert_int_equal(th_status(th, u, "INBOX", NULL), 0);
	posta_mail_user_close(&u);
	th_free(&th);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mailboxes),
		cmocka_unit_test(test_status_and_inbox_rename),
		cmocka_unit_test(test_pop3_lock),
		cmocka_unit_test(test_flags),
		cmocka_unit_test(test_copy_move),
		cmocka_unit_test(test_vanishing_box),
		cmocka_unit_test(test_append_vanishing_box),
		cmocka_unit_test(test_meta),
		cmocka_unit_test(test_watch),
		cmocka_unit_test(test_idle_close),
	};

	alarm(120);
	return cmocka_run_group_tests_name("maildir_store", tests, NULL, NULL);
}
