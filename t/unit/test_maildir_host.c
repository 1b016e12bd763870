/* test_maildir_host.c: a fake postad for the maildir plugin's tests */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_maildir_host.h"

extern const struct posta_module posta_module;

static void
h_logv(const void *obj, enum posta_log_level level, const char *event,
    const char *fmt, va_list ap)
{
	struct test_host *th = (struct test_host *)obj;

	if (level <= POSTA_LOG_WARN)
		th->warnings++;
	if (getenv("MD_TEST_LOG") != NULL) {
		fprintf(stderr, "# level=%d event=%s ", level, event);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	}
}

static bool
h_log_enabled(const void *obj, enum posta_log_level level)
{
	return level <= POSTA_LOG_INFO;
}

static uv_loop_t *
h_loop(struct posta_host *h)
{
	return &((struct test_host *)h)->loop;
}

static const char *
h_state_dir(struct posta_host *h)
{
	return ((struct test_host *)h)->dir;
}

static int
h_register_store(struct posta_host *h, const struct posta_store_ops *ops,
    void *state)
{
	struct test_host *th = (struct test_host *)h;

	if (th->ops != NULL)
		return POSTA_EEXIST;
	th->ops = ops;
	th->state = state;
	return 0;
}

static const struct posta_store_ops *
h_store(struct posta_host *h, void **state_r)
{
	struct test_host *th = (struct test_host *)h;

	*state_r = th->state;
	return th->ops;
}

static const struct posta_host_api api = {
	.size = sizeof(struct posta_host_api),
	.logv = h_logv,
	.log_enabled = h_log_enabled,
	.loop = h_loop,
	.state_dir = h_state_dir,
	.register_store = h_register_store,
	.store = h_store,
};

struct test_host *
th_new(void)
{
	struct test_host *th = calloc(1, sizeof(*th));

	assert_non_null(th);
	th->api = &api;
	snprintf(th->dir, sizeof(th->dir), "%s/posta-md-XXXXXX",
	    getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(th->dir));
	assert_int_equal(uv_loop_init(&th->loop), 0);
	th->set.mail_root = NULL;
	th->set.fsync = true;
	th->set.index_idle_timeout = 60000;
	th->set.index_map_size = 64u << 20;
	th->set.max_message_size = 64u << 20;
	th->set.tmp_max_age = 36ull * 3600 * 1000;
	th->set.max_keywords = 64;
	th->set.dovecot_import = true;
	th->set.folder_drafts = "Drafts";
	th->set.folder_sent = "Sent";
	th->set.folder_trash = "Trash";
	th->set.folder_junk = "Junk";
	th->set.folder_archive = "";
	return th;
}

void
th_start(struct test_host *th)
{
	const char *error = NULL;
	void *state = NULL;

	th->ops = NULL;
	assert_int_equal(posta_module.init((struct posta_host *)th, &th->set,
	    &state, &error), 0);
	assert_non_null(th->ops);
}

void
th_stop(struct test_host *th)
{
	if (th->ops == NULL)
		return;
	posta_module.deinit(th->state);
	th->ops = NULL;
	th->state = NULL;
	/* the store frees itself once its handles and jobs are done */
	while (uv_run(&th->loop, UV_RUN_DEFAULT) != 0)
		;
}

void
th_rm_rf(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;

	if (d == NULL) {
		unlink(path);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		char p[4096];

		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", path, de->d_name);
		if (de->d_type == DT_DIR)
			th_rm_rf(p);
		else
			unlink(p);
	}
	closedir(d);
	rmdir(path);
}

void
th_free(struct test_host **thp)
{
	struct test_host *th = *thp;

	*thp = NULL;
	th_stop(th);
	assert_int_equal(uv_loop_close(&th->loop), 0);
	if (getenv("MD_TEST_KEEP") == NULL)
		th_rm_rf(th->dir);
	free(th);
}

const char *
th_maildir(struct test_host *th, const char *account)
{
	static char path[4096];
	const char *at = strchr(account, '@');

	snprintf(path, sizeof(path), "%s/mail/%s/%.*s", th->dir, at + 1,
	    (int)(at - account), account);
	return path;
}

void
th_wait(struct test_host *th, const bool *flag)
{
	while (!*flag) {
		if (uv_run(&th->loop, UV_RUN_ONCE) == 0 && !*flag)
			fail_msg("the loop stalled before the callback ran");
	}
}

/* ---- synchronous wrappers ---- */

struct wait {
	bool done;
	int err;
	void *p;
	struct posta_mailbox_changes ch;
	uint32_t *exp_uids;
	size_t n;
	uint32_t u1, u2;
};

static void
user_cb(void *ctx, int err, struct posta_mail_user *user)
{
	struct wait *w = ctx;

	w->err = err;
	w->p = user;
	w->done = true;
}

struct posta_mail_user *
th_user(struct test_host *th, const char *account)
{
	struct wait w = { 0 };

	assert_int_equal(posta_mail_user_open((struct posta_host *)th,
	    account, user_cb, &w), 0);
	assert_false(w.done);	/* never from inside the call */
	th_wait(th, &w.done);
	assert_int_equal(w.err, 0);
	return w.p;
}

static void
open_cb(void *ctx, int err, struct posta_mailbox *box)
{
	struct wait *w = ctx;

	w->err = err;
	w->p = box;
	w->done = true;
}

struct posta_mailbox *
th_open(struct test_host *th, struct posta_mail_user *u, const char *name,
    uint32_t flags, int *err_r)
{
	struct wait w = { 0 };
	int ret = posta_mailbox_open(u, name, flags, open_cb, &w);

	if (ret != 0) {
		*err_r = ret;
		return NULL;
	}
	th_wait(th, &w.done);
	*err_r = w.err;
	return w.p;
}

static void
refresh_cb(void *ctx, int err, const struct posta_mailbox_changes *ch)
{
	struct wait *w = ctx;
	size_t i;

	w->err = err;
	w->done = true;
	if (err != 0)
		return;
	w->ch = *ch;
	w->exp_uids = calloc(ch->n_expunged + 1, sizeof(uint32_t));
	for (i = 0; i < ch->n_expunged; i++)
		w->exp_uids[i] = ch->expunged[i].uid;
	/* the descending order the header promises */
	for (i = 1; i < ch->n_expunged; i++)
		assert_true(ch->expunged[i - 1].seq > ch->expunged[i].seq);
	w->ch.expunged = NULL;
	w->ch.changed = NULL;
}

int
th_refresh(struct test_host *th, struct posta_mailbox *box, uint32_t flags,
    struct posta_mailbox_changes *copy_r, uint32_t **expunged_uids_r)
{
	struct wait w = { 0 };

	assert_int_equal(posta_mailbox_refresh(box, flags, refresh_cb, &w),
	    0);
	th_wait(th, &w.done);
	if (copy_r != NULL)
		*copy_r = w.ch;
	if (expunged_uids_r != NULL)
		*expunged_uids_r = w.exp_uids;
	else
		free(w.exp_uids);
	return w.err;
}

static void
done_cb(void *ctx, int err)
{
	struct wait *w = ctx;

	w->err = err;
	w->done = true;
}

static void
deliver_begin_cb(void *ctx, int err, struct posta_delivery *d)
{
	struct wait *w = ctx;

	w->err = err;
	w->p = d;
	w->done = true;
}

struct deliver_wait {
	bool done;
	struct posta_delivery_result *res;
	size_t n;
	const char *const *accounts;
};

static void
deliver_cb(void *ctx, const struct posta_delivery_result *res, size_t n)
{
	struct deliver_wait *w = ctx;
	size_t i;

	assert_int_equal(n, w->n);
	for (i = 0; i < n; i++) {
		/* res[] lives only during the callback: keep the caller's */
		assert_string_equal(res[i].account, w->accounts[i]);
		w->res[i] = res[i];
		w->res[i].account = w->accounts[i];
	}
	w->done = true;
}

/* write in uneven chunks so chunk borders land everywhere */
static int
write_chunks(struct test_host *th, void *h, bool append, const void *data,
    size_t len)
{
	size_t off = 0, step = 7;

	while (off < len) {
		struct wait w = { 0 };
		size_t n = len - off < step ? len - off : step;
		int ret = append ?
		    posta_append_write(h, (const char *)data + off, n, done_cb,
		    &w) :
		    posta_delivery_write(h, (const char *)data + off, n,
		    done_cb, &w);

		if (ret != 0)
			return ret;
		th_wait(th, &w.done);
		if (w.err != 0)
			return w.err;
		off += n;
		step = step * 3 + 1;
		if (step > POSTA_STORE_WRITE_MAX)
			step = POSTA_STORE_WRITE_MAX;
	}
	return 0;
}

int
th_deliver(struct test_host *th, const char *const *accounts, size_t n,
    const void *data, size_t len, struct posta_delivery_result *res)
{
	struct posta_delivery_rcpt rc[16];
	struct wait w = { 0 };
	struct deliver_wait dw = { false, res, n, accounts };
	size_t i;
	int ret;

	assert_true(n <= 16);
	for (i = 0; i < n; i++) {
		rc[i].account = accounts[i];
		rc[i].mailbox = NULL;
	}
	ret = posta_delivery_begin((struct posta_host *)th, rc, n, NULL,
	    deliver_begin_cb, &w);
	if (ret != 0)
		return ret;
	th_wait(th, &w.done);
	if (w.err != 0)
		return w.err;
	ret = write_chunks(th, w.p, false, data, len);
	if (ret != 0) {
		posta_delivery_abort((struct posta_delivery **)&w.p);
		return ret;
	}
	ret = posta_delivery_finish(w.p, deliver_cb, &dw);
	if (ret != 0) {
		posta_delivery_abort((struct posta_delivery **)&w.p);
		return ret;
	}
	th_wait(th, &dw.done);
	return 0;
}

static void
append_begin_cb(void *ctx, int err, struct posta_append *ap)
{
	struct wait *w = ctx;

	w->err = err;
	w->p = ap;
	w->done = true;
}

static void
append_cb(void *ctx, int err, uint32_t uidvalidity, uint32_t uid)
{
	struct wait *w = ctx;

	w->err = err;
	w->u1 = uidvalidity;
	w->u2 = uid;
	w->done = true;
}

int
th_append(struct test_host *th, struct posta_mail_user *u, const char *box,
    const void *data, size_t len, uint32_t flags, const char *keyword,
    uint32_t *uid_r)
{
	struct posta_append_params p = { flags, keyword ? 1 : 0,
	    keyword ? &keyword : NULL, 1500000000 };
	struct wait w = { 0 }, f = { 0 };
	int ret;

	ret = posta_append_begin(u, box, &p, append_begin_cb, &w);
	if (ret != 0)
		return ret;
	th_wait(th, &w.done);
	if (w.err != 0)
		return w.err;
	ret = write_chunks(th, w.p, true, data, len);
	if (ret != 0) {
		posta_append_abort((struct posta_append **)&w.p);
		return ret;
	}
	ret = posta_append_finish(w.p, append_cb, &f);
	if (ret != 0) {
		posta_append_abort((struct posta_append **)&w.p);
		return ret;
	}
	th_wait(th, &f.done);
	if (uid_r != NULL)
		*uid_r = f.u2;
	return f.err;
}

struct read_wait {
	bool done;
	int err;
	struct posta_msg_reader *r;
	uint64_t size;
	char *buf;
	size_t len;
};

static void
msg_open_cb(void *ctx, int err, struct posta_msg_reader *r, uint64_t size)
{
	struct read_wait *w = ctx;

	w->err = err;
	w->r = r;
	w->size = size;
	w->done = true;
}

static void
msg_read_cb(void *ctx, int err, const uint8_t *data, size_t len)
{
	struct read_wait *w = ctx;

	w->err = err;
	if (err == 0 && len > 0) {
		w->buf = realloc(w->buf, w->len + len + 1);
		memcpy(w->buf + w->len, data, len);
		w->len += len;
		w->buf[w->len] = '\0';
	}
	w->done = true;
	w->size = len;	/* reused: bytes of this read */
}

int
th_read(struct test_host *th, struct posta_mailbox *box, uint32_t uid,
    size_t chunk, char **data_r, size_t *len_r)
{
	struct read_wait w = { 0 };
	uint64_t size;
	int ret = posta_msg_open(box, uid, msg_open_cb, &w);

	if (ret != 0)
		return ret;
	th_wait(th, &w.done);
	if (w.err != 0)
		return w.err;
	size = w.size;
	w.buf = calloc(1, 1);
	for (;;) {
		w.done = false;
		assert_int_equal(posta_msg_read(w.r, w.len, chunk, msg_read_cb,
		    &w), 0);
		th_wait(th, &w.done);
		if (w.err != 0 || w.size == 0)
			break;
	}
	posta_msg_close(&w.r);
	assert_int_equal(w.len, size);	/* the size promised at open */
	*data_r = w.buf;
	*len_r = w.len;
	return w.err;
}

struct posta_msg_reader *
th_reader(struct test_host *th, struct posta_mailbox *box, uint32_t uid,
    uint64_t *size_r)
{
	struct read_wait w = { 0 };

	assert_int_equal(posta_msg_open(box, uid, msg_open_cb, &w), 0);
	th_wait(th, &w.done);
	assert_int_equal(w.err, 0);
	*size_r = w.size;
	return w.r;
}

struct at_wait {
	bool done;
	int err;
	char *out;
	size_t got;
};

static void
at_cb(void *ctx, int err, const uint8_t *data, size_t len)
{
	struct at_wait *w = ctx;

	w->err = err;
	if (err == 0) {
		memcpy(w->out, data, len);
		w->got = len;
	}
	w->done = true;
}

int
th_read_at(struct test_host *th, struct posta_msg_reader *r, uint64_t off,
    size_t len, char *out, size_t *got_r)
{
	struct at_wait w = { false, 0, out, 0 };
	int ret = posta_msg_read(r, off, len, at_cb, &w);

	if (ret != 0)
		return ret;
	th_wait(th, &w.done);
	*got_r = w.got;
	return w.err;
}

static void
flags_cb(void *ctx, int err, const struct posta_flags_result *res)
{
	struct wait *w = ctx;

	w->err = err;
	w->n = err == 0 ? res->n_changed : 0;
	w->done = true;
}

int
th_store(struct test_host *th, struct posta_mailbox *box, uint32_t uid,
    enum posta_flags_mode mode, uint32_t flags, const char *keyword)
{
	struct posta_flag_update upd = { mode, flags, keyword ? 1 : 0,
	    keyword ? &keyword : NULL, 0 };
	struct wait w = { 0 };
	int ret = posta_mailbox_store_flags(box, &uid, 1, &upd, flags_cb, &w);

	if (ret != 0)
		return ret;
	th_wait(th, &w.done);
	return w.err;
}

static void
expunge_cb(void *ctx, int err, size_t n)
{
	struct wait *w = ctx;

	w->err = err;
	w->n = n;
	w->done = true;
}

int
th_expunge(struct test_host *th, struct posta_mailbox *box,
    const uint32_t *uids, size_t n, uint32_t flags, size_t *n_r)
{
	struct wait w = { 0 };
	int ret = posta_mailbox_expunge(box, uids, n, flags, expunge_cb, &w);

	if (ret != 0)
		return ret;
	th_wait(th, &w.done);
	if (n_r != NULL)
		*n_r = w.n;
	return w.err;
}

struct status_wait {
	bool done;
	int err;
	struct posta_mailbox_status st;
};

static void
status_cb(void *ctx, int err, const struct posta_mailbox_status *st)
{
	struct status_wait *w = ctx;

	w->err = err;
	if (err == 0)
		w->st = *st;
	w->done = true;
}

int
th_status(struct test_host *th, struct posta_mail_user *u, const char *name,
    struct posta_mailbox_status *st)
{
	struct status_wait w = { 0 };
	int ret = posta_mailbox_status(u, name, status_cb, &w);

	if (ret != 0)
		return ret;
	th_wait(th, &w.done);
	if (st != NULL)
		*st = w.st;
	return w.err;
}

int
th_user_op(struct test_host *th, struct posta_mail_user *u, int op,
    const char *a, const char *b)
{
	struct wait w = { 0 };
	int ret = 0;

	switch (op) {
	case TH_CREATE:
		ret = posta_mailbox_create(u, a, 0, done_cb, &w);
		break;
	case TH_DELETE:
		ret = posta_mailbox_delete(u, a, done_cb, &w);
		break;
	case TH_RENAME:
		ret = posta_mailbox_rename(u, a, b, done_cb, &w);
		break;
	case TH_SUBSCRIBE:
	case TH_UNSUBSCRIBE:
		ret = posta_mailbox_subscribe(u, a, op == TH_SUBSCRIBE,
		    done_cb, &w);
		break;
	}
	if (ret != 0)
		return ret;
	th_wait(th, &w.done);
	return w.err;
}

int
th_done_call(struct test_host *th, int ret, bool *flag, int *err)
{
	if (ret != 0)
		return ret;
	th_wait(th, flag);
	return *err;
}

void
th_write_file(const char *path, const char *data)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, strlen(data)), (ssize_t)strlen(data));
	close(fd);
}

size_t
th_count_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}
