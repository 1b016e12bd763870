/* maildir_tool.c: store operations from the command line, for interop tests */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "maildir_fakehost.h"

/*
 * Usage: maildir_tool STATE_DIR COMMAND ARGS...  (mail_root is
 * STATE_DIR/mail/%d/%n; every run loads the plugin afresh, as postad
 * would after a restart)
 *   deliver ACCOUNT FILE...                 prints "uid N" per file
 *   append ACCOUNT MAILBOX FILE [LETTERS [KEYWORD]]
 *   list ACCOUNT MAILBOX         "UID LETTERS KEYWORDS SIZE DATE" lines
 *   cat ACCOUNT MAILBOX UID      the message, as a client would get it
 *   store ACCOUNT MAILBOX UID (+|-|=)LETTERS [KEYWORD]
 *   expunge ACCOUNT MAILBOX UID...
 *   folders ACCOUNT              "NAME ATTRS SPECIAL_USE" lines
 *   status ACCOUNT MAILBOX
 * LETTERS are Maildir's: D draft, F flagged, R answered, S seen,
 * T deleted.  Exit status 0, or 1 with a message on stderr.
 */

static struct fakehost fh;

struct wait {
	bool done;
	int err;
	void *p;
	size_t n;
	uint32_t uid;
};

static void
die(const char *what, int err)
{
	fprintf(stderr, "maildir_tool: %s: %s\n", what, posta_strerror(err));
	exit(1);
}

static void
ptr_cb(void *ctx, int err, void *p)
{
	struct wait *w = ctx;

	w->err = err;
	w->p = p;
	w->done = true;
}

static void
user_cb(void *ctx, int err, struct posta_mail_user *u)
{
	ptr_cb(ctx, err, u);
}

static void
box_cb(void *ctx, int err, struct posta_mailbox *b)
{
	ptr_cb(ctx, err, b);
}

static void
done_cb(void *ctx, int err)
{
	ptr_cb(ctx, err, NULL);
}

static struct posta_mail_user *
user(const char *account)
{
	struct wait w = { 0 };
	int ret = posta_mail_user_open(fh_host(&fh), account, user_cb, &w);

	if (ret != 0)
		die(account, ret);
	fh_wait(&fh, &w.done);
	if (w.err != 0)
		die(account, w.err);
	return w.p;
}

static struct posta_mailbox *
box(struct posta_mail_user *u, const char *name)
{
	struct wait w = { 0 };
	int ret = posta_mailbox_open(u, name, 0, box_cb, &w);

	if (ret != 0)
		die(name, ret);
	fh_wait(&fh, &w.done);
	if (w.err != 0)
		die(name, w.err);
	return w.p;
}

static uint32_t
letters(const char *s)
{
	uint32_t f = 0;

	for (; *s != '\0'; s++)
		switch (*s) {
		case 'D': f |= POSTA_FLAG_DRAFT; break;
		case 'F': f |= POSTA_FLAG_FLAGGED; break;
		case 'R': f |= POSTA_FLAG_ANSWERED; break;
		case 'S': f |= POSTA_FLAG_SEEN; break;
		case 'T': f |= POSTA_FLAG_DELETED; break;
		default: die("flag letters", -EINVAL);
		}
	return f;
}

static char *
slurp(const char *path, size_t *len_r)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (f == NULL)
		die(path, -errno);
	do {
		if (cap - len < 65536) {
			cap = cap ? cap * 2 : 65536;
			buf = realloc(buf, cap);
			if (buf == NULL)
				die(path, -ENOMEM);
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
	} while (n > 0);
	fclose(f);
	*len_r = len;
	return buf;
}

/* ---- delivery and append ---- */

static void
dbegin_cb(void *ctx, int err, struct posta_delivery *d)
{
	ptr_cb(ctx, err, d);
}

static void
abegin_cb(void *ctx, int err, struct posta_append *ap)
{
	ptr_cb(ctx, err, ap);
}

static void
deliver_cb(void *ctx, const struct posta_delivery_result *r, size_t n)
{
	struct wait *w = ctx;

	w->err = n == 1 ? r[0].err : -EINVAL;
	w->uid = n == 1 ? r[0].uid : 0;
	w->done = true;
}

static void
append_cb(void *ctx, int err, uint32_t uidvalidity, uint32_t uid)
{
	struct wait *w = ctx;

	w->err = err;
	w->uid = uid;
	w->done = true;
}

/* Writes data in POSTA_STORE_WRITE_MAX chunks through write(). */
static void
write_all(void *h, bool is_append, const char *data, size_t len)
{
	size_t off = 0;

	while (off < len) {
		struct wait w = { 0 };
		size_t n = len - off > POSTA_STORE_WRITE_MAX ?
		    POSTA_STORE_WRITE_MAX : len - off;
		int ret = is_append ?
		    posta_append_write(h, data + off, n, done_cb, &w) :
		    posta_delivery_write(h, data + off, n, done_cb, &w);

		if (ret != 0)
			die("write", ret);
		fh_wait(&fh, &w.done);
		if (w.err != 0)
			die("write", w.err);
		off += n;
	}
}

static int
cmd_deliver(int argc, char **argv)
{
	struct posta_delivery_rcpt rc = { argv[0], NULL };
	int i;

	for (i = 1; i < argc; i++) {
		struct wait w = { 0 }, f = { 0 };
		size_t len;
		char *data = slurp(argv[i], &len);
		int ret = posta_delivery_begin(fh_host(&fh), &rc, 1, NULL,
		    dbegin_cb, &w);

		if (ret != 0)
			die("deliver", ret);
		fh_wait(&fh, &w.done);
		if (w.err != 0)
			die("deliver", w.err);
		write_all(w.p, false, data, len);
		ret = posta_delivery_finish(w.p, deliver_cb, &f);
		if (ret != 0)
			die("deliver", ret);
		fh_wait(&fh, &f.done);
		if (f.err != 0)
			die("deliver", f.err);
		printf("uid %u\n", f.uid);
		free(data);
	}
	return 0;
}

static int
cmd_append(int argc, char **argv)
{
	struct posta_mail_user *u;
	struct posta_append_params p = { 0 };
	const char *kw[1];
	struct wait w = { 0 }, f = { 0 };
	size_t len;
	char *data;
	int ret;

	if (argc < 3)
		die("append", -EINVAL);
	u = user(argv[0]);
	data = slurp(argv[2], &len);
	if (argc > 3)
		p.flags = letters(argv[3]);
	if (argc > 4) {
		kw[0] = argv[4];
		p.keywords = kw;
		p.n_keywords = 1;
	}
	ret = posta_append_begin(u, argv[1], &p, abegin_cb, &w);
	if (ret != 0)
		die("append", ret);
	fh_wait(&fh, &w.done);
	if (w.err != 0)
		die("append", w.err);
	write_all(w.p, true, data, len);
	ret = posta_append_finish(w.p, append_cb, &f);
	if (ret != 0)
		die("append", ret);
	fh_wait(&fh, &f.done);
	if (f.err != 0)
		die("append", f.err);
	printf("uid %u\n", f.uid);
	free(data);
	posta_mail_user_close(&u);
	return 0;
}

/* ---- reading ---- */

static void
flag_letters(uint32_t flags, char *out)
{
	size_t n = 0;

	if (flags & POSTA_FLAG_DRAFT)
		out[n++] = 'D';
	if (flags & POSTA_FLAG_FLAGGED)
		out[n++] = 'F';
	if (flags & POSTA_FLAG_ANSWERED)
		out[n++] = 'R';
	if (flags & POSTA_FLAG_SEEN)
		out[n++] = 'S';
	if (flags & POSTA_FLAG_DELETED)
		out[n++] = 'T';
	if (n == 0)
		out[n++] = '-';
	out[n] = '\0';
}

static int
cmd_list(int argc, char **argv)
{
	struct posta_mail_user *u;
	struct posta_mailbox *b;
	const struct posta_msg *msgs;
	const char *const *kw;
	size_t n, nk, i, k;

	if (argc < 2)
		die("list", -EINVAL);
	u = user(argv[0]);
	b = box(u, argv[1]);
	n = posta_mailbox_messages(b, &msgs);
	nk = posta_mailbox_keywords(b, &kw);
	printf("uidvalidity %u\n", posta_mailbox_view_status(b)->uidvalidity);
	for (i = 0; i < n; i++) {
		char fl[8];
		bool first = true;

		flag_letters(msgs[i].flags, fl);
		printf("%u %s ", msgs[i].uid, fl);
		for (k = 0; k < nk; k++)
			if (msgs[i].keywords & ((uint64_t)1 << k)) {
				printf("%s%s", first ? "" : ",", kw[k]);
				first = false;
			}
		printf("%s %llu %lld\n", first ? "-" : "",
		    (unsigned long long)msgs[i].size,
		    (long long)msgs[i].internal_date);
	}
	posta_mailbox_close(&b);
	posta_mail_user_close(&u);
	return 0;
}

struct read_wait {
	bool done;
	int err;
	struct posta_msg_reader *r;
	size_t got;
};

static void
ropen_cb(void *ctx, int err, struct posta_msg_reader *r, uint64_t size)
{
	struct read_wait *w = ctx;

	w->err = err;
	w->r = r;
	w->done = true;
}

static void
read_cb(void *ctx, int err, const uint8_t *data, size_t len)
{
	struct read_wait *w = ctx;

	w->err = err;
	w->got = len;
	if (err == 0 && len > 0 && fwrite(data, 1, len, stdout) != len)
		w->err = -EIO;
	w->done = true;
}

static int
cmd_cat(int argc, char **argv)
{
	struct posta_mail_user *u;
	struct posta_mailbox *b;
	struct read_wait w = { 0 };
	uint64_t off = 0;
	int ret;

	if (argc < 3)
		die("cat", -EINVAL);
	u = user(argv[0]);
	b = box(u, argv[1]);
	ret = posta_msg_open(b, (uint32_t)strtoul(argv[2], NULL, 10),
	    ropen_cb, &w);
	if (ret != 0)
		die("cat", ret);
	fh_wait(&fh, &w.done);
	if (w.err != 0)
		die("cat", w.err);
	do {
		w.done = false;
		ret = posta_msg_read(w.r, off, POSTA_STORE_READ_MAX, read_cb,
		    &w);
		if (ret != 0)
			die("cat", ret);
		fh_wait(&fh, &w.done);
		if (w.err != 0)
			die("cat", w.err);
		off += w.got;
	} while (w.got > 0);
	posta_msg_close(&w.r);
	posta_mailbox_close(&b);
	posta_mail_user_close(&u);
	return 0;
}

/* ---- changes ---- */

static void
flags_cb(void *ctx, int err, const struct posta_flags_result *r)
{
	ptr_cb(ctx, err, NULL);
}

static int
cmd_store(int argc, char **argv)
{
	struct posta_mail_user *u;
	struct posta_mailbox *b;
	struct posta_flag_update upd = { 0 };
	struct wait w = { 0 };
	uint32_t uid;
	const char *kw[1];
	int ret;

	if (argc < 4 || strchr("+-=", argv[3][0]) == NULL)
		die("store", -EINVAL);
	u = user(argv[0]);
	b = box(u, argv[1]);
	uid = (uint32_t)strtoul(argv[2], NULL, 10);
	upd.mode = argv[3][0] == '+' ? POSTA_FLAGS_ADD :
	    argv[3][0] == '-' ? POSTA_FLAGS_REMOVE : POSTA_FLAGS_SET;
	upd.flags = letters(argv[3] + 1);
	if (argc > 4) {
		kw[0] = argv[4];
		upd.keywords = kw;
		upd.n_keywords = 1;
	}
	ret = posta_mailbox_store_flags(b, &uid, 1, &upd, flags_cb, &w);
	if (ret != 0)
		die("store", ret);
	fh_wait(&fh, &w.done);
	if (w.err != 0)
		die("store", w.err);
	posta_mailbox_close(&b);
	posta_mail_user_close(&u);
	return 0;
}

static void
expunge_cb(void *ctx, int err, size_t n)
{
	struct wait *w = ctx;

	w->err = err;
	w->n = n;
	w->done = true;
}

static int
cmd_expunge(int argc, char **argv)
{
	struct posta_mail_user *u;
	struct posta_mailbox *b;
	struct wait w = { 0 };
	uint32_t uids[64];
	int i, n = 0, ret;

	if (argc < 3 || argc - 2 > 64)
		die("expunge", -EINVAL);
	u = user(argv[0]);
	b = box(u, argv[1]);
	for (i = 2; i < argc; i++)
		uids[n++] = (uint32_t)strtoul(argv[i], NULL, 10);
	ret = posta_mailbox_expunge(b, uids, (size_t)n, 0, expunge_cb, &w);
	if (ret != 0)
		die("expunge", ret);
	fh_wait(&fh, &w.done);
	if (w.err != 0)
		die("expunge", w.err);
	printf("expunged %zu\n", w.n);
	posta_mailbox_close(&b);
	posta_mail_user_close(&u);
	return 0;
}

static void
list_cb(void *ctx, int err, const struct posta_mailbox_info *b, size_t n)
{
	struct wait *w = ctx;
	size_t i;

	for (i = 0; err == 0 && i < n; i++)
		printf("%s %u %u\n", b[i].name, b[i].attrs, b[i].special_use);
	w->err = err;
	w->done = true;
}

static int
cmd_folders(int argc, char **argv)
{
	struct posta_mail_user *u;
	struct wait w = { 0 };
	int ret;

	if (argc < 1)
		die("folders", -EINVAL);
	u = user(argv[0]);
	ret = posta_mailbox_list(u, list_cb, &w);
	if (ret != 0)
		die("folders", ret);
	fh_wait(&fh, &w.done);
	if (w.err != 0)
		die("folders", w.err);
	posta_mail_user_close(&u);
	return 0;
}

static void
status_cb(void *ctx, int err, const struct posta_mailbox_status *st)
{
	struct wait *w = ctx;

	if (err == 0)
		printf("messages %u unseen %u uidvalidity %u uidnext %u "
		    "size %llu\n", st->messages, st->unseen, st->uidvalidity,
		    st->uidnext, (unsigned long long)st->size);
	w->err = err;
	w->done = true;
}

static int
cmd_status(int argc, char **argv)
{
	struct posta_mail_user *u;
	struct wait w = { 0 };
	int ret;

	if (argc < 2)
		die("status", -EINVAL);
	u = user(argv[0]);
	ret = posta_mailbox_status(u, argv[1], status_cb, &w);
	if (ret != 0)
		die("status", ret);
	fh_wait(&fh, &w.done);
	if (w.err != 0)
		die("status", w.err);
	posta_mail_user_close(&u);
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int argc, char **argv);
	} cmds[] = {
		{ "deliver", cmd_deliver }, { "append", cmd_append },
		{ "list", cmd_list }, { "cat", cmd_cat },
		{ "store", cmd_store }, { "expunge", cmd_expunge },
		{ "folders", cmd_folders }, { "status", cmd_status },
	};
	size_t i;
	int ret = -1;

	if (argc < 4) {
		fprintf(stderr, "usage: maildir_tool STATE_DIR COMMAND "
		    "ACCOUNT ...\n");
		return 1;
	}
	if (fh_init(&fh, argv[1], true) != 0)
		return 1;
	for (i = 0; i < sizeof(cmds) / sizeof(*cmds); i++)
		if (strcmp(argv[2], cmds[i].name) == 0)
			ret = cmds[i].fn(argc - 3, argv + 3);
	if (ret < 0) {
		fprintf(stderr, "maildir_tool: unknown command %s\n", argv[2]);
		ret = 1;
	}
	fflush(stdout);
	fh_fini(&fh);
	return ret;
}
