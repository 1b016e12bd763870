/* maildir_deliver.c: durable APPEND and local delivery to N users */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "maildir.h"

/*
 * The Maildir way (qmail's), with the syncs that make an answer true:
 *   1. write the message to tmp/ under a name no one else uses, turning
 *      bare LFs into CRLF and feeding the MIME parser as it goes;
 *   2. fsync the file, set its mtime to the internal date;
 *   3. link (delivery, one per recipient) or rename (APPEND) it into
 *      new/ or cur/ under a unique name carrying S= and W=;
 *   4. fsync that directory: now the message survives a crash;
 *   5. index it (UID, flags, keywords, cached parse results) and tell
 *      the watchers; only then does the caller hear "done".
 * A crash after 4 and before 5 is repaired by the next sync, which finds
 * the file and indexes it.  A copy that cannot be hard-linked (another
 * file system) is copied and fsync'd instead.  The data chunks are
 * written on the thread pool outside the user's serial queue; steps 3 to
 * 5 run in it.
 *
 * Cost per delivery.  Begin touches no disk, and data waits in memory up
 * to MD_WRITE_FLUSH_AT, so a small message takes two trips through the
 * thread pool: one job creates, writes, parses and fsyncs the file, and
 * the user's batch (below) places it.  A message for one user is renamed
 * into new/ (no link and unlink).  The batch's index commit skips the
 * meta page's sync (md_txn_commit_unexposed): the UIDs it hands out are
 * seen only through a later serial job, which syncs it first.
 */

struct md_writer {
	int fd;
	char tmp_path[MD_PATH_MAX];
	struct md_crlf crlf;
	struct md_parse *parse;
	uint64_t size;			/* CRLF bytes so far */
	uint64_t max;			/* 0: no limit */
	uint8_t *buf;			/* converted bytes not yet written */
	size_t len, cap;
	int err;			/* sticky */
	/* results of finishing */
	void *blob;
	size_t blob_len;
	uint64_t header_size;
	uint32_t body_lines;
};

static void
writer_init(struct md_writer *w, uint64_t max)
{
	memset(w, 0, sizeof(*w));
	w->fd = -1;
	w->max = max;
}

static void
writer_deinit(struct md_writer *w)
{
	if (w->fd >= 0) {
		close(w->fd);
		w->fd = -1;
	}
	if (w->tmp_path[0] != '\0') {
		unlink(w->tmp_path);	/* only a rejected message is here */
		w->tmp_path[0] = '\0';
	}
	md_parse_free(&w->parse);
	free(w->buf);
	free(w->blob);
	w->buf = NULL;
	w->blob = NULL;
}

/* Creates the temporary file in dir/tmp (worker). */
static int
writer_open(struct md_writer *w, struct md_store *s, const char *dir)
{
	char name[MD_NAME_MAX + 1];
	int tries;

	if (w->parse == NULL && (w->parse = md_parse_new()) == NULL)
		return -ENOMEM;
	for (tries = 0; tries < 5; tries++) {
		if (md_tmp_name(name, sizeof(name), s->start, s->pid,
		    atomic_fetch_add(&s->seq, 1) + 1, s->hostname) < 0 ||
		    md_pathf(w->tmp_path, sizeof(w->tmp_path), "%s/tmp/%s",
		    dir, name) != 0)
			return -ENAMETOOLONG;
		w->fd = open(w->tmp_path, O_WRONLY | O_CREAT | O_EXCL |
		    O_CLOEXEC, 0600);
		if (w->fd >= 0)
			return 0;
		if (errno != EEXIST)
			break;
	}
	w->tmp_path[0] = '\0';
	return -errno;
}

/*
 * Bytes gather in w->buf until MD_WRITE_FLUSH_AT of them wait; only then
 * is a write worth a trip to the thread pool.  A message smaller than
 * that (most mail) is written, parsed and fsync'd by one job at finish.
 * buf is below MD_WRITE_FLUSH_AT before each take and a chunk at most
 * doubles (bare LFs), which bounds it.
 */
#define MD_WRITE_FLUSH_AT	(128u * 1024)
#define MD_WRITE_BUF_MAX	(MD_WRITE_FLUSH_AT + 2 * POSTA_STORE_WRITE_MAX)

/* Converts a chunk on the loop: the caller's buffer is free at return. */
static int
writer_take(struct md_writer *w, const void *data, size_t len)
{
	size_t need;

	if (w->err != 0)
		return w->err;
	if (len > POSTA_STORE_WRITE_MAX)
		return -EMSGSIZE;
	need = w->len + 2 * len;
	MD_ASSERT(need <= MD_WRITE_BUF_MAX);
	if (need > w->cap) {
		size_t cap = w->cap != 0 ? w->cap : 16384;
		uint8_t *b;

		while (cap < need)
			cap *= 2;
		if (cap > MD_WRITE_BUF_MAX)
			cap = MD_WRITE_BUF_MAX;
		if ((b = realloc(w->buf, cap)) == NULL)
			return -ENOMEM;
		w->buf = b;
		w->cap = cap;
	}
	need = md_crlf_convert(&w->crlf, data, len, w->buf + w->len);
	if (w->max != 0 && w->size + need > w->max) {
		w->err = POSTA_EQUOTA;
		return w->err;
	}
	w->len += need;
	w->size += need;
	return 0;
}

static bool
writer_full(const struct md_writer *w)
{
	return w->len >= MD_WRITE_FLUSH_AT;
}

/* Writes and parses what waits in buf (worker). */
static void
writer_write(struct md_writer *w)
{
	size_t off = 0;

	if (w->fd < 0 || w->err != 0)
		return;
	while (off < w->len) {
		ssize_t n = write(w->fd, w->buf + off, w->len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			w->err = -errno;
			return;
		}
		off += (size_t)n;
	}
	md_parse_feed(w->parse, w->buf, w->len);
	w->len = 0;
}

/* Parses to the end, fsyncs, dates and closes the file (worker). */
static void
writer_finish(struct md_writer *w, int64_t internal_date, bool do_fsync)
{
	struct timespec ts[2];
	uint64_t size;

	writer_write(w);
	if (w->err != 0 || w->fd < 0)
		return;
	w->err = md_parse_finish(w->parse, &w->blob, &w->blob_len, &size,
	    &w->header_size, &w->body_lines);
	if (w->err != 0)
		return;
	ts[0].tv_sec = ts[1].tv_sec = (time_t)internal_date;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	(void)futimens(w->fd, ts);
	if (do_fsync && fsync(w->fd) != 0)
		w->err = -errno;
	if (close(w->fd) != 0 && w->err == 0)
		w->err = -errno;
	w->fd = -1;
}

/* Keyword bits of names in a box's table, adding the new ones (worker). */
static uint64_t
kw_bits(struct md_box_info *bi, char **names, size_t n, int64_t max)
{
	uint64_t bits = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		int idx = md_kw_index(bi, names[i], true, max);

		if (idx >= 0)
			bits |= (uint64_t)1 << idx;
	}
	return bits;
}

/* The final name: unique base, sizes, and flags when it goes to cur/. */
static int
final_name(struct md_store *s, uint64_t size, uint32_t flags, uint64_t kw,
    bool in_new, char *out, size_t outsize)
{
	char base[MD_NAME_MAX + 1];
	struct timespec now;
	int ret;

	clock_gettime(CLOCK_REALTIME, &now);
	ret = md_name_unique(base, sizeof(base), (int64_t)now.tv_sec,
	    (uint32_t)(now.tv_nsec / 1000), s->pid,
	    atomic_fetch_add(&s->seq, 1) + 1, s->hostname, size);
	if (ret < 0)
		return ret;
	if (in_new)
		return md_pathf(out, outsize, "%s", base);
	return md_name_set_flags(base, flags, (uint32_t)(kw & 0x3ffffff), out,
	    outsize) < 0 ? -ENAMETOOLONG : 0;
}

static char **
copy_keywords(const struct posta_append_params *p, int *err_r)
{
	char **kw;
	size_t i;

	*err_r = 0;
	if (p == NULL || p->n_keywords == 0)
		return NULL;
	if (p->n_keywords > POSTA_STORE_KEYWORDS_MAX) {
		*err_r = -EINVAL;
		return NULL;
	}
	kw = calloc(p->n_keywords, sizeof(*kw));
	if (kw == NULL) {
		*err_r = -ENOMEM;
		return NULL;
	}
	for (i = 0; i < p->n_keywords; i++) {
		if (!md_keyword_valid(p->keywords[i]))
			*err_r = -EINVAL;
		else if ((kw[i] = strdup(p->keywords[i])) == NULL)
			*err_r = -ENOMEM;
		if (*err_r != 0) {
			while (i > 0)
				free(kw[--i]);
			free(kw);
			return NULL;
		}
	}
	return kw;
}

static void
free_keywords(char **kw, size_t n)
{
	size_t i;

	for (i = 0; kw != NULL && i < n; i++)
		free(kw[i]);
	free(kw);
}

/* ---- APPEND ---- */

enum ap_stage { AP_BEGIN, AP_WRITE, AP_FINISH, AP_COMMIT };

struct posta_append {
	const struct posta_store_ops *ops;
	struct md_store *store;
	struct md_user *u;		/* holds a reference */
	char name[MD_MAILBOX_MAX + 1];
	uint32_t flags;
	char **kw;
	size_t n_kw;
	int64_t internal_date;
	struct md_writer w;
	enum ap_stage stage;
	bool busy, aborted;
	void *cb;
	void *ctx;
	uint32_t uidvalidity, uid;
	uint32_t box_id;		/* the mailbox begin found */
	struct md_job job;
};

#define AP_OF(j) ((struct posta_append *)((char *)(j) - \
	offsetof(struct posta_append, job)))

static void
ap_free(struct posta_append *ap)
{
	writer_deinit(&ap->w);
	free_keywords(ap->kw, ap->n_kw);
	md_user_unref(ap->u);
	free(ap);
}

static void
ap_work(struct md_job *job)
{
	struct posta_append *ap = AP_OF(job);
	struct md_store *s = ap->store;

	switch (ap->stage) {
	case AP_BEGIN: {
		struct md_box_info bi;
		struct md_sync_opts o = { 0 };
		struct md_txn t;
		char dir[MD_PATH_MAX];
		int ret;

		o.no_scan = true;
		if ((ret = md_txn_begin(ap->u, &t)) != 0) {
			job->err = ret;
			return;
		}
		ret = md_box_open_sync(job, &t, ap->name, &bi, &o);
		if (ret == 0 && (ret = md_quota_check(&t, 0, 0, NULL)) != 0)
			md_box_info_clear(&bi);	/* full already */
		if (ret == 0) {
			ap->box_id = bi.rec.id;
			if (bi.dirty)
				ret = md_box_store(&t, &bi);
			md_box_info_clear(&bi);
		}
		if (ret == 0)
			ret = md_txn_commit(&t);
		else
			md_txn_abort(&t);
		if (ret == 0)
			ret = md_box_path(ap->u, ap->name, NULL, dir,
			    sizeof(dir));
		if (ret == 0)
			ret = writer_open(&ap->w, s, dir);
		/* the index knows the mailbox, its folder is gone */
		job->err = ret == -ENOENT ? POSTA_ENOTFOUND : ret;
		break;
	}
	case AP_WRITE:
		writer_write(&ap->w);
		job->err = ap->w.err;
		break;
	case AP_FINISH:
		writer_finish(&ap->w, ap->internal_date, s->set.fsync);
		job->err = ap->w.err;
		break;
	case AP_COMMIT: {
		struct md_box_info bi;
		struct md_sync_opts o = { 0 };
		struct md_txn t;
		struct md_msg m;
		char dir[MD_PATH_MAX], path[MD_PATH_MAX];
		int ret;

		o.no_scan = true;
		memset(&m, 0, sizeof(m));
		if ((ret = md_txn_begin(ap->u, &t)) != 0) {
			job->err = ret;
			return;
		}
		ret = md_box_open_sync(job, &t, ap->name, &bi, &o);
		if (ret == 0 && bi.rec.id != ap->box_id) {
			/* deleted and created again since begin: our tmp/
			   file went with the old one */
			md_box_info_clear(&bi);
			ret = POSTA_ENOTFOUND;
		}
		if (ret == 0 && (ret = md_quota_check(&t, 1, ap->w.size,
		    NULL)) != 0)
			md_box_info_clear(&bi);
		if (ret != 0) {
			md_txn_abort(&t);
			job->err = ret;
			return;
		}
		m.rec.flags = ap->flags;
		m.rec.kw = kw_bits(&bi, ap->kw, ap->n_kw, s->set.max_keywords);
		m.rec.size = m.rec.raw_size = ap->w.size;
		m.rec.internal_date = ap->internal_date;
		m.rec.header_size = ap->w.header_size;
		m.rec.body_lines = ap->w.body_lines;
		if ((ret = final_name(s, ap->w.size, m.rec.flags, m.rec.kw,
		    false, m.name, sizeof(m.name))) == 0 &&
		    (ret = md_box_path(ap->u, ap->name, "cur", dir,
		    sizeof(dir))) == 0 &&
		    (ret = md_pathf(path, sizeof(path), "%s/%s", dir,
		    m.name)) == 0) {
			/* ENOENT: the folder (with our tmp/ file) went
			   away behind the index's back */
			if (rename(ap->w.tmp_path, path) != 0)
				ret = errno == ENOENT ? POSTA_ENOTFOUND :
				    -errno;
		}
		if (ret == 0) {
			ap->w.tmp_path[0] = '\0';	/* it is the message */
			if (s->set.fsync)
				ret = md_fsync_dir(dir);
			/* it is on disk: a failure below is healed by the
			   next sync, which finds the file */
			if (ret == 0)
				ret = md_msg_upsert(&t, &bi, &m, ap->w.blob,
				    ap->w.blob_len);
			if (ret == 0)
				ret = md_box_store(&t, &bi);
		}
		if (ret == 0)
			ret = md_txn_commit(&t);
		else
			md_txn_abort(&t);
		if (ret == 0) {
			ap->uidvalidity = bi.rec.uidvalidity;
			ap->uid = m.uid;
			md_job_changed(job, bi.rec.id);
		}
		md_box_info_clear(&bi);
		job->err = ret;
		break;
	}
	}
}

static int ap_submit(struct posta_append *ap, enum ap_stage stage);

static void
ap_done(struct md_job *job)
{
	struct posta_append *ap = AP_OF(job);
	int err = job->err;

	ap->busy = false;
	switch (ap->stage) {
	case AP_BEGIN:
		if (err != 0) {
			((posta_append_begin_cb *)ap->cb)(ap->ctx, err, NULL);
			ap_free(ap);
			return;
		}
		if (ap->aborted) {
			/* cannot happen: abort needs the handle from cb */
			ap_free(ap);
			return;
		}
		((posta_append_begin_cb *)ap->cb)(ap->ctx, 0, ap);
		return;
	case AP_WRITE:
		if (ap->aborted) {
			((posta_store_done_cb *)ap->cb)(ap->ctx, -ECANCELED);
			ap_free(ap);
			return;
		}
		((posta_store_done_cb *)ap->cb)(ap->ctx, err);
		return;
	case AP_FINISH:
		if (err == 0 && ap_submit(ap, AP_COMMIT) == 0)
			return;
		((posta_append_cb *)ap->cb)(ap->ctx, err != 0 ? err : -ENOMEM,
		    0, 0);
		ap_free(ap);
		return;
	case AP_COMMIT:
		((posta_append_cb *)ap->cb)(ap->ctx, err, ap->uidvalidity,
		    ap->uid);
		ap_free(ap);
		return;
	}
}

static int
ap_submit(struct posta_append *ap, enum ap_stage stage)
{
	memset(&ap->job, 0, sizeof(ap->job));
	ap->job.work_fn = ap_work;
	ap->job.done_fn = ap_done;
	{
		enum ap_stage was = ap->stage;

		/* the worker reads the stage: set before queueing */
		ap->stage = stage;
		ap->busy = true;
		if (stage == AP_BEGIN || stage == AP_COMMIT)
			return md_job_serial(ap->u, &ap->job);
		ap->job.user = ap->u;
		if (md_job_free(ap->store, &ap->job) != 0) {
			ap->stage = was;
			ap->busy = false;
			return -ENOMEM;
		}
	}
	return 0;
}

int
md_op_append_begin(struct posta_mail_user *h, const char *mailbox,
    const struct posta_append_params *params, posta_append_begin_cb *cb,
    void *ctx)
{
	struct posta_append *ap;
	int err;

	if (h->closed)
		return -EINVAL;
	if (params != NULL && (params->flags & ~POSTA_FLAGS_STORED) != 0)
		return -EINVAL;
	ap = calloc(1, sizeof(*ap));
	if (ap == NULL)
		return -ENOMEM;
	if (md_mailbox_canon(mailbox, ap->name, sizeof(ap->name)) < 0) {
		free(ap);
		return POSTA_ENAME;
	}
	ap->kw = copy_keywords(params, &err);
	if (err != 0) {
		free(ap);
		return err;
	}
	ap->n_kw = params != NULL ? params->n_keywords : 0;
	ap->ops = &md_ops;
	ap->store = h->u->store;
	ap->u = h->u;
	md_user_ref(ap->u);
	ap->flags = params != NULL ? params->flags : 0;
	ap->internal_date = params != NULL && params->internal_date != 0 ?
	    params->internal_date : (int64_t)time(NULL);
	writer_init(&ap->w, ap->store->set.max_message_size);
	ap->cb = (void *)cb;
	ap->ctx = ctx;
	return ap_submit(ap, AP_BEGIN);
}

int
md_op_append_write(struct posta_append *ap, const void *data, size_t len,
    posta_store_done_cb *cb, void *ctx)
{
	int ret;

	if (ap->aborted || ap->stage == AP_FINISH || ap->stage == AP_COMMIT)
		return -EINVAL;
	if (ap->busy)
		return -EBUSY;
	ret = writer_take(&ap->w, data, len);
	if (ret != 0)
		return ret;
	ap->cb = (void *)cb;
	ap->ctx = ctx;
	return ap_submit(ap, AP_WRITE);
}

int
md_op_append_finish(struct posta_append *ap, posta_append_cb *cb, void *ctx)
{
	if (ap->aborted || ap->stage == AP_FINISH || ap->stage == AP_COMMIT)
		return -EINVAL;
	if (ap->busy)
		return -EBUSY;
	if (ap->w.err != 0)
		return ap->w.err;
	ap->cb = (void *)cb;
	ap->ctx = ctx;
	return ap_submit(ap, AP_FINISH);
}

void
md_op_append_abort(struct posta_append *ap)
{
	ap->aborted = true;
	if (!ap->busy && ap->stage != AP_FINISH && ap->stage != AP_COMMIT)
		ap_free(ap);
}

/* ---- delivery ---- */

struct rcpt {
	char *account;
	char mailbox[MD_MAILBOX_MAX + 1];
	struct md_user *u;		/* NULL when err is set at begin */
	int err;
	uint32_t uidvalidity, uid;
	bool dup;
	struct posta_delivery *d;
	struct md_job job;
};

enum dl_stage { DL_BEGIN, DL_WRITE, DL_FINISH, DL_DONE };

struct posta_delivery {
	const struct posta_store_ops *ops;
	struct md_store *store;
	struct rcpt *r;
	size_t n;
	uint32_t flags;
	char **kw;
	size_t n_kw;
	int64_t internal_date;
	struct md_writer w;
	struct md_user *first;		/* where tmp/ is; NULL: none valid */
	enum dl_stage stage;
	bool busy, aborted;
	size_t n_running;
	void *cb;
	void *ctx;
	struct md_job job;
	struct md_defer later;		/* a step done without the pool */
	/*
	 * The tmp/ name goes with the last copy placed: a lone copy is
	 * renamed into place, and of several the last one linked unlinks
	 * it (links_left counts them down on the workers).  tmp_gone tells
	 * the loop; otherwise a DL_DONE job removes the name.
	 */
	size_t n_jobs;
	atomic_uint links_left;
	atomic_bool tmp_gone;
};

#define DL_OF(j) ((struct posta_delivery *)((char *)(j) - \
	offsetof(struct posta_delivery, job)))
#define RCPT_OF(j) ((struct rcpt *)((char *)(j) - offsetof(struct rcpt, job)))

static void dl_finished(struct posta_delivery *d);

static void
dl_free(struct posta_delivery *d)
{
	size_t i;

	if (atomic_load(&d->tmp_gone))
		d->w.tmp_path[0] = '\0';	/* a message's name now */
	writer_deinit(&d->w);
	for (i = 0; i < d->n; i++) {
		free(d->r[i].account);
		if (d->r[i].u != NULL)
			md_user_unref(d->r[i].u);
	}
	free(d->r);
	free_keywords(d->kw, d->n_kw);
	free(d);
}

/* A copy of the message in another file system: copy, sync, rename in. */
static int
copy_in(struct md_store *s, struct posta_delivery *d, const char *boxdir,
    const char *path)
{
	struct md_writer cw;
	int in, ret;

	writer_init(&cw, 0);
	if ((ret = writer_open(&cw, s, boxdir)) != 0) {
		writer_deinit(&cw);
		return ret;
	}
	md_parse_free(&cw.parse);
	in = open(d->w.tmp_path, O_RDONLY | O_CLOEXEC);
	ret = in < 0 ? -errno : 0;
	while (ret == 0) {
		char buf[65536];
		ssize_t n = read(in, buf, sizeof(buf)), w = 0;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = n < 0 ? -errno : 0;
			break;
		}
		while (w < n && ret == 0) {
			ssize_t k = write(cw.fd, buf + w, (size_t)(n - w));

			if (k < 0 && errno != EINTR)
				ret = -errno;
			else if (k > 0)
				w += k;
		}
	}
	if (in >= 0)
		close(in);
	if (ret == 0) {
		struct timespec ts[2] = { { (time_t)d->internal_date, 0 },
		    { (time_t)d->internal_date, 0 } };

		futimens(cw.fd, ts);
		if (s->set.fsync && fsync(cw.fd) != 0)
			ret = -errno;
	}
	if (ret == 0 && rename(cw.tmp_path, path) != 0)
		ret = -errno;
	if (ret == 0)
		cw.tmp_path[0] = '\0';
	writer_deinit(&cw);
	return ret;
}

/*
 * Deliveries queued for the same user run as one batch (group commit):
 * every copy is linked, each directory they went to is fsync'd once, and
 * one index transaction takes them all.  A batch of one is the plain
 * case.  Boxes are loaded once per batch, so UIDs are handed out from one
 * record.
 */
#define BATCH_BOXES 8

struct placed {
	struct rcpt *r;
	struct md_box_info *bi;
	struct md_msg m;
	char dir[MD_PATH_MAX];
	char path[MD_PATH_MAX];
};

struct batch {
	struct md_box_info bi[BATCH_BOXES];
	size_t n_bi;
	struct placed *p;
	size_t n;
	struct posta_user_usage placed;	/* linked, not yet indexed */
};

static struct md_box_info *
batch_box(struct md_job *job, struct md_txn *t, struct batch *b,
    const char *name, int *err_r)
{
	struct md_sync_opts o = { 0 };
	size_t i;

	for (i = 0; i < b->n_bi; i++)
		if (strcmp(b->bi[i].name, name) == 0)
			return &b->bi[i];
	if (b->n_bi == BATCH_BOXES) {
		*err_r = POSTA_ETEMP;	/* the next batch takes it */
		return NULL;
	}
	o.no_scan = true;
	*err_r = md_box_open_sync(job, t, name, &b->bi[b->n_bi], &o);
	if (*err_r != 0)
		return NULL;
	return &b->bi[b->n_bi++];
}

/* Links one recipient's copy into place (not yet durable). */
static int
rcpt_place(struct md_job *job, struct md_txn *t, struct batch *b,
    struct placed *p)
{
	struct rcpt *r = p->r;
	struct posta_delivery *d = r->d;
	struct md_store *s = job->store;
	const char *box = r->mailbox;
	bool in_new = d->flags == 0 && d->n_kw == 0;
	char boxdir[MD_PATH_MAX];
	int ret;

	p->bi = batch_box(job, t, b, box, &ret);
	if (p->bi == NULL && ret == POSTA_ENOTFOUND &&
	    !md_mailbox_is_inbox(box)) {
		box = "INBOX";	/* the folder is gone: INBOX gets it */
		p->bi = batch_box(job, t, b, box, &ret);
	}
	if (p->bi == NULL)
		return ret;
	/* the copies placed earlier in this batch count too */
	if ((ret = md_quota_check(t, 1, d->w.size, &b->placed)) != 0)
		return ret;
	memset(&p->m, 0, sizeof(p->m));
	p->m.rec.flags = d->flags | (in_new ? MD_MSG_IN_NEW : 0);
	p->m.rec.kw = kw_bits(p->bi, d->kw, d->n_kw, s->set.max_keywords);
	p->m.rec.size = p->m.rec.raw_size = d->w.size;
	p->m.rec.internal_date = d->internal_date;
	p->m.rec.header_size = d->w.header_size;
	p->m.rec.body_lines = d->w.body_lines;
	if ((ret = final_name(s, d->w.size, d->flags, p->m.rec.kw, in_new,
	    p->m.name, sizeof(p->m.name))) != 0 ||
	    (ret = md_box_path(r->u, box, in_new ? "new" : "cur", p->dir,
	    sizeof(p->dir))) != 0 ||
	    (ret = md_pathf(p->path, sizeof(p->path), "%s/%s", p->dir,
	    p->m.name)) != 0)
		return ret;
	if (d->n_jobs == 1) {
		if (rename(d->w.tmp_path, p->path) == 0) {
			atomic_store(&d->tmp_gone, true);
			return 0;
		}
	} else if (link(d->w.tmp_path, p->path) == 0) {
		return 0;
	}
	if (errno != EXDEV && errno != EPERM && errno != EMLINK &&
	    errno != ENOTSUP)
		return -errno;
	if ((ret = md_box_path(r->u, box, NULL, boxdir, sizeof(boxdir))) != 0)
		return ret;
	return copy_in(s, d, boxdir, p->path);
}

static void
rcpt_batch(struct md_job *first)
{
	struct md_store *s = first->store;
	struct batch b;
	struct md_txn t;
	struct md_job *j;
	size_t i, k, n = 0;
	int ret;

	memset(&b, 0, sizeof(b));
	for (j = first; j != NULL; j = j->batch_next)
		n++;
	b.p = calloc(n, sizeof(*b.p));
	ret = b.p == NULL ? -ENOMEM : md_txn_begin(first->user, &t);
	if (ret != 0) {
		for (j = first; j != NULL; j = j->batch_next)
			RCPT_OF(j)->err = ret;
		free(b.p);
		return;
	}
	for (j = first; j != NULL; j = j->batch_next) {
		struct placed *p = &b.p[b.n++];

		p->r = RCPT_OF(j);
		p->r->err = rcpt_place(first, &t, &b, p);
		if (p->r->err != 0) {
			p->path[0] = '\0';
		} else {
			b.placed.messages++;
			b.placed.bytes += p->m.rec.size;
		}
	}
	/* durable: each directory once, after all its links */
	for (i = 0; s->set.fsync && i < b.n; i++) {
		if (b.p[i].r->err != 0)
			continue;
		for (k = 0; k < i; k++)
			if (b.p[k].r->err == 0 &&
			    strcmp(b.p[k].dir, b.p[i].dir) == 0)
				break;
		if (k < i)
			continue;	/* synced with an earlier one */
		ret = md_fsync_dir(b.p[i].dir);
		if (ret == 0)
			continue;
		for (k = i; k < b.n; k++)
			if (b.p[k].r->err == 0 &&
			    strcmp(b.p[k].dir, b.p[i].dir) == 0) {
				unlink(b.p[k].path);	/* no success for it */
				b.p[k].r->err = ret;
			}
	}
	/* after the last link of a message its tmp/ name can go */
	for (i = 0; i < b.n; i++) {
		struct posta_delivery *d = b.p[i].r->d;

		if (d->n_jobs > 1 &&
		    atomic_fetch_sub(&d->links_left, 1) == 1) {
			unlink(d->w.tmp_path);
			atomic_store(&d->tmp_gone, true);
		}
	}
	/* indexed; a failure from here on is healed by the next sync,
	   which finds the files: the copies are delivered either way */
	ret = 0;
	for (i = 0; i < b.n && ret == 0; i++) {
		struct placed *p = &b.p[i];
		struct posta_delivery *d = p->r->d;

		if (p->r->err != 0)
			continue;
		ret = md_msg_upsert(&t, p->bi, &p->m, d->w.blob,
		    d->w.blob_len);
		p->r->uid = p->m.uid;
		p->r->uidvalidity = p->bi->rec.uidvalidity;
		md_job_changed(first, p->bi->rec.id);
	}
	for (i = 0; i < b.n_bi && ret == 0; i++)
		ret = md_box_store(&t, &b.bi[i]);
	if (ret == 0)
		ret = md_txn_commit_unexposed(&t);
	else
		md_txn_abort(&t);
	for (i = 0; ret != 0 && i < b.n; i++)
		b.p[i].r->uid = 0;	/* delivered, UID at the next sync */
	for (i = 0; i < b.n_bi; i++)
		md_box_info_clear(&b.bi[i]);
	free(b.p);
}

static void
rcpt_done(struct md_job *job)
{
	struct posta_delivery *d = RCPT_OF(job)->d;

	if (job->err != 0 && RCPT_OF(job)->err == 0)
		RCPT_OF(job)->err = job->err;	/* the index did not open */
	if (--d->n_running == 0)
		dl_finished(d);
}


/* Opens the tmp/ file at the first write or the finish (worker). */
static int
dl_open(struct posta_delivery *d)
{
	struct md_store *s = d->store;
	int ret;

	if (d->w.fd >= 0 || d->w.err != 0)
		return d->w.err;
	ret = writer_open(&d->w, s, d->first->path);
	if (ret == -ENOENT) {
		/* a first delivery: make the Maildir, then try again */
		ret = md_mkdir_maildir(d->first->path, s->set.fsync);
		if (ret == 0)
			ret = writer_open(&d->w, s, d->first->path);
	}
	if (ret != 0)
		d->w.err = ret;
	return ret;
}

static void
dl_work(struct md_job *job)
{
	struct posta_delivery *d = DL_OF(job);
	struct md_store *s = d->store;

	switch (d->stage) {
	case DL_BEGIN:
		break;		/* only while closing: see dl_later() */
	case DL_WRITE:
		if (dl_open(d) == 0)
			writer_write(&d->w);
		job->err = d->w.err;
		break;
	case DL_FINISH:
		if (dl_open(d) == 0)
			writer_finish(&d->w, d->internal_date, s->set.fsync);
		job->err = d->w.err;
		break;
	case DL_DONE:
		/* every copy is linked: the tmp/ name can go */
		if (d->w.tmp_path[0] != '\0')
			unlink(d->w.tmp_path);
		d->w.tmp_path[0] = '\0';
		break;
	}
}

static int dl_submit(struct posta_delivery *d, enum dl_stage stage);

static void
dl_report(struct posta_delivery *d, int err)
{
	struct posta_delivery_result *res;
	size_t i;

	res = calloc(d->n ? d->n : 1, sizeof(*res));
	if (res == NULL) {
		/* cannot say who got it: say nobody did, as a 4xx would */
		static struct posta_delivery_result one = { "", -ENOMEM, 0,
		    0 };

		((posta_delivery_cb *)d->cb)(d->ctx, &one, 0);
		dl_free(d);
		return;
	}
	for (i = 0; i < d->n; i++) {
		struct rcpt *r = &d->r[i];

		if (r->dup) {
			size_t j;

			for (j = 0; j < i; j++)
				if (strcmp(d->r[j].account, r->account) == 0)
					break;
			r->err = d->r[j].err;
			r->uid = d->r[j].uid;
			r->uidvalidity = d->r[j].uidvalidity;
		}
		res[i].account = r->account;
		res[i].err = err != 0 && r->err == 0 ? err : r->err;
		res[i].uidvalidity = r->uidvalidity;
		res[i].uid = r->uid;
	}
	((posta_delivery_cb *)d->cb)(d->ctx, res, d->n);
	free(res);
	dl_free(d);
}

static void
dl_finished(struct posta_delivery *d)
{
	if (atomic_load(&d->tmp_gone) || d->w.tmp_path[0] == '\0' ||
	    dl_submit(d, DL_DONE) != 0)
		dl_report(d, 0);
}

/* The loop's side of a step that ended with err. */
static void
dl_step_done(struct posta_delivery *d, int err)
{
	size_t i;

	d->busy = false;
	switch (d->stage) {
	case DL_BEGIN:
		if (err != 0) {
			((posta_delivery_begin_cb *)d->cb)(d->ctx, err, NULL);
			dl_free(d);
			return;
		}
		((posta_delivery_begin_cb *)d->cb)(d->ctx, 0, d);
		return;
	case DL_WRITE:
		if (d->aborted) {
			((posta_store_done_cb *)d->cb)(d->ctx, -ECANCELED);
			dl_free(d);
			return;
		}
		((posta_store_done_cb *)d->cb)(d->ctx, err);
		return;
	case DL_FINISH:
		if (err != 0) {
			for (i = 0; i < d->n; i++)
				if (d->r[i].err == 0)
					d->r[i].err = err;
			dl_report(d, err);
			return;
		}
		for (i = 0; i < d->n; i++)
			if (d->r[i].u != NULL && !d->r[i].dup)
				d->n_jobs++;
		atomic_store(&d->links_left, (unsigned)d->n_jobs);
		d->n_running = 1;	/* until every job is queued */
		for (i = 0; i < d->n; i++) {
			struct rcpt *r = &d->r[i];

			if (r->u == NULL || r->dup)
				continue;
			memset(&r->job, 0, sizeof(r->job));
			r->d = d;
			r->job.batch_fn = rcpt_batch;
			r->job.done_fn = rcpt_done;
			r->job.unexposed = true;
			d->n_running++;
			md_job_serial(r->u, &r->job);
		}
		if (--d->n_running == 0)
			dl_finished(d);
		return;
	case DL_DONE:
		dl_report(d, 0);
		return;
	}
}

static void
dl_done(struct md_job *job)
{
	dl_step_done(DL_OF(job), job->err);
}

static void
dl_later_run(struct md_defer *df)
{
	struct posta_delivery *d = (struct posta_delivery *)((char *)df -
	    offsetof(struct posta_delivery, later));

	dl_step_done(d, 0);
}

static int
dl_submit(struct posta_delivery *d, enum dl_stage stage)
{
	memset(&d->job, 0, sizeof(d->job));
	d->job.work_fn = dl_work;
	d->job.done_fn = dl_done;
	d->job.user = d->first;
	{
		enum dl_stage was = d->stage;

		/* the worker reads the stage: set before queueing */
		d->stage = stage;
		d->busy = true;
		if (md_job_free(d->store, &d->job) != 0) {
			d->stage = was;
			d->busy = false;
			return -ENOMEM;
		}
	}
	return 0;
}

/*
 * A step with nothing for the disk yet (begin, a write that stays in the
 * buffer) completes on the loop, later, as the async rule wants: no trip
 * through the thread pool.  While the store closes, its idle handle is
 * gone, so such a step takes an (empty) job instead.
 */
static int
dl_later(struct posta_delivery *d, enum dl_stage stage)
{
	if (d->store->closing)
		return dl_submit(d, stage);
	d->stage = stage;
	d->busy = true;
	md_defer(d->store, &d->later, dl_later_run);
	return 0;
}

int
md_op_delivery_begin(void *state, const struct posta_delivery_rcpt *rcpts,
    size_t n, const struct posta_append_params *params,
    posta_delivery_begin_cb *cb, void *ctx)
{
	struct md_store *s = state;
	struct posta_delivery *d;
	size_t i, j;
	int err;

	if (s->closing)
		return -ECANCELED;
	if (n == 0 || n > 10000)
		return -EINVAL;
	if (params != NULL && (params->flags & ~POSTA_FLAGS_STORED) != 0)
		return -EINVAL;
	d = calloc(1, sizeof(*d));
	if (d == NULL)
		return -ENOMEM;
	d->r = calloc(n, sizeof(*d->r));
	d->kw = copy_keywords(params, &err);
	if (d->r == NULL || err != 0) {
		free(d->r);
		free(d);
		return err != 0 ? err : -ENOMEM;
	}
	d->n_kw = params != NULL ? params->n_keywords : 0;
	d->n = n;
	d->ops = &md_ops;
	d->store = s;
	d->flags = params != NULL ? params->flags : 0;
	d->internal_date = params != NULL && params->internal_date != 0 ?
	    params->internal_date : (int64_t)time(NULL);
	writer_init(&d->w, s->set.max_message_size);
	for (i = 0; i < n; i++) {
		struct rcpt *r = &d->r[i];

		r->account = strdup(rcpts[i].account != NULL ?
		    rcpts[i].account : "");
		if (r->account == NULL) {
			dl_free(d);
			return -ENOMEM;
		}
		for (j = 0; j < i; j++)
			if (strcmp(d->r[j].account, r->account) == 0)
				r->dup = true;
		if (r->dup)
			continue;
		if (md_mailbox_canon(rcpts[i].mailbox != NULL ?
		    rcpts[i].mailbox : "INBOX", r->mailbox,
		    sizeof(r->mailbox)) < 0)
			snprintf(r->mailbox, sizeof(r->mailbox), "INBOX");
		r->u = md_user_get(s, r->account, &r->err);
		if (r->u != NULL && d->first == NULL)
			d->first = r->u;
	}
	if (d->first == NULL) {
		/* no recipient is an account we can hold mail for */
		err = d->r[0].err;
		dl_free(d);
		return err != 0 ? err : POSTA_ENAME;
	}
	d->cb = (void *)cb;
	d->ctx = ctx;
	/* the tmp/ file is made by the first job that writes */
	err = dl_later(d, DL_BEGIN);
	if (err != 0)
		dl_free(d);
	return err;
}

int
md_op_delivery_write(struct posta_delivery *d, const void *data, size_t len,
    posta_store_done_cb *cb, void *ctx)
{
	int ret;

	if (d->aborted || d->stage >= DL_FINISH)
		return -EINVAL;
	if (d->busy)
		return -EBUSY;
	ret = writer_take(&d->w, data, len);
	if (ret != 0)
		return ret;
	d->cb = (void *)cb;
	d->ctx = ctx;
	if (!writer_full(&d->w))
		return dl_later(d, DL_WRITE);
	return dl_submit(d, DL_WRITE);
}

int
md_op_delivery_finish(struct posta_delivery *d, posta_delivery_cb *cb,
    void *ctx)
{
	if (d->aborted || d->stage >= DL_FINISH)
		return -EINVAL;
	if (d->busy)
		return -EBUSY;
	if (d->w.err != 0)
		return d->w.err;
	d->cb = (void *)cb;
	d->ctx = ctx;
	return dl_submit(d, DL_FINISH);
}

void
md_op_delivery_abort(struct posta_delivery *d)
{
	d->aborted = true;
	/* after finish the copies are on their way: finish's callback
	   still runs once and frees d */
	if (!d->busy && d->stage < DL_FINISH)
		dl_free(d);
}
