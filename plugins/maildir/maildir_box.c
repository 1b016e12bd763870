/* maildir_box.c: mailbox views: open, refresh, flags, expunge, copy, meta */
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
#include "maildir_box.h"

/*
 * A view is a private copy of a mailbox's message list: sequence numbers
 * move only when its refresh (or, for its own flag changes, store_flags)
 * callback runs, as IMAP requires.  Every change goes through a serial job
 * on the user's queue; when a job changed a mailbox, the other views of
 * it are told (posta_mailbox_notify_cb) and fetch the new list with a
 * refresh, which diffs it against their copy.
 */

/* ---- views ---- */

static void
free_strv(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void
md_view_release(struct posta_mailbox *v)
{
	if (!v->closed || v->pending > 0)
		return;
	free(v->msgs);
	free_strv(v->kw, v->n_kw);
	md_box_unref(v->box);
	free(v);
}

static void
view_recount(struct posta_mailbox *v)
{
	struct posta_mailbox_status *st = &v->st;
	size_t i;

	st->messages = (uint32_t)v->n;
	st->recent = st->unseen = st->deleted = 0;
	st->first_unseen = 0;
	st->size = 0;
	for (i = 0; i < v->n; i++) {
		const struct posta_msg *m = &v->msgs[i];

		st->size += m->size;
		if (m->flags & POSTA_FLAG_RECENT)
			st->recent++;
		if (m->flags & POSTA_FLAG_DELETED)
			st->deleted++;
		if (!(m->flags & POSTA_FLAG_SEEN)) {
			st->unseen++;
			if (st->first_unseen == 0)
				st->first_unseen = (uint32_t)i + 1;
		}
		if (m->modseq > st->highestmodseq)
			st->highestmodseq = m->modseq;
	}
}

static bool
uid_in(const uint32_t *uids, size_t n, uint32_t uid)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (uids[mid] == uid)
			return true;
		if (uids[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* ---- worker helpers ---- */

static int
load_box(struct md_req *r, struct md_txn *t, const char *name,
    struct md_box_info *bi, struct md_sync_opts *o)
{
	int ret = md_box_open_sync(&r->job, t, name, bi, o);

	if (ret == 0 && r->expect_id != 0 && bi->rec.id != r->expect_id &&
	    strcmp(name, r->name) == 0) {
		/* deleted and created again: another mailbox now */
		md_box_info_clear(bi);
		free(o->recent);
		o->recent = NULL;
		o->n_recent = 0;
		return POSTA_ENOTFOUND;
	}
	return ret;
}

struct snap_ctx {
	struct md_req *r;
	size_t cap;
};

static int
snap_add(void *ctx, const struct md_msg *m)
{
	struct snap_ctx *c = ctx;
	struct md_req *r = c->r;
	struct posta_msg *pm;

	if (r->n_msgs == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 256;
		struct posta_msg *p = realloc(r->msgs, cap * sizeof(*p));

		if (p == NULL)
			return -ENOMEM;
		r->msgs = p;
		c->cap = cap;
	}
	pm = &r->msgs[r->n_msgs++];
	pm->uid = m->uid;
	pm->flags = m->rec.flags & POSTA_FLAGS_STORED;
	pm->keywords = m->rec.kw;
	pm->modseq = m->rec.modseq;
	pm->size = m->rec.size;
	pm->internal_date = m->rec.internal_date;
	return 0;
}

int
md_req_copy_kw(struct md_req *r, const struct md_box_info *bi)
{
	size_t i;

	free_strv(r->kw, r->n_kw);
	r->kw = NULL;
	r->n_kw = 0;
	if (bi->rec.n_kw == 0)
		return 0;
	r->kw = calloc(bi->rec.n_kw, sizeof(*r->kw));
	if (r->kw == NULL)
		return -ENOMEM;
	for (i = 0; i < bi->rec.n_kw; i++) {
		r->kw[i] = strdup(bi->kw[i]);
		if (r->kw[i] == NULL)
			return -ENOMEM;
		r->n_kw = i + 1;
	}
	return 0;
}

static int
snapshot(struct md_req *r, struct md_txn *t, const struct md_box_info *bi)
{
	struct snap_ctx c = { r, 0 };
	int ret;

	r->id = bi->rec.id;
	r->uidvalidity = bi->rec.uidvalidity;
	r->uidnext = bi->rec.uidnext;
	r->hms = bi->rec.highestmodseq;
	ret = md_msg_each(t, bi->rec.id, snap_add, &c);
	if (ret == 0)
		ret = md_req_copy_kw(r, bi);
	return ret;
}

/* ---- the job ---- */

static void
box_work(struct md_job *job)
{
	struct md_req *r = (struct md_req *)job;
	struct md_box_info bi;
	struct md_sync_opts o = { 0 };
	struct md_txn t;
	size_t i;
	int ret;

	r->fd = -1;
	ret = md_txn_begin(job->user, &t);
	if (ret != 0) {
		job->err = ret;
		return;
	}
	o.claim_recent = r->claim;
	o.no_scan = !(r->op == MD_REQ_OPEN ||
	    (r->op == MD_REQ_REFRESH && (r->flags & POSTA_REFRESH_DISK)));
	o.force = false;
	ret = load_box(r, &t, r->name, &bi, &o);
	if (ret == POSTA_ENOTFOUND && r->op == MD_REQ_REFRESH) {
		r->gone = true;
		ret = md_txn_commit(&t);
		job->err = ret;
		return;
	}
	if (ret != 0)
		goto fail;
	r->recent = o.recent;
	r->n_recent = o.n_recent;
	o.recent = NULL;
	switch (r->op) {
	case MD_REQ_OPEN:
	case MD_REQ_REFRESH:
		ret = snapshot(r, &t, &bi);
		break;
	case MD_REQ_META:
		r->metas = calloc(r->n, sizeof(*r->metas));
		if (r->metas == NULL) {
			ret = -ENOMEM;
			break;
		}
		for (i = 0; i < r->n && ret == 0; i++) {
			r->metas[i].uid = r->uids[i];
			r->metas[i].err = md_req_meta_one(r, &t, &bi,
			    &r->metas[i]);
			if (r->metas[i].err == -ENOMEM ||
			    r->metas[i].err == POSTA_ECORRUPT)
				ret = r->metas[i].err;
		}
		break;
	case MD_REQ_FLAGS:
		ret = md_req_flags(r, &t, &bi);
		r->hms = bi.rec.highestmodseq;
		break;
	case MD_REQ_EXPUNGE:
		ret = md_req_expunge(r, &t, &bi);
		break;
	case MD_REQ_COPY:
		ret = md_req_copy(r, &t, &bi);
		break;
	case MD_REQ_GONE:
		ret = md_gone_each(&t, bi.rec.id, r->hms, md_req_gone_add, r);
		break;
	case MD_REQ_MSG_OPEN:
		ret = md_req_msg_open(r, &t, &bi);
		break;
	}
	if (ret == 0 && bi.dirty)
		ret = md_box_store(&t, &bi);
	md_box_info_clear(&bi);
	if (ret != 0)
		goto fail;
	ret = md_txn_commit(&t);
	if (ret != 0 && r->fd >= 0) {
		close(r->fd);
		r->fd = -1;
	}
	job->err = ret;
	return;
fail:
	md_txn_abort(&t);
	if (r->fd >= 0) {
		close(r->fd);
		r->fd = -1;
	}
	job->err = ret;
}

static void
req_free(struct md_req *r)
{
	size_t i;

	free(r->uids);
	free(r->msgs);
	free_strv(r->kw, r->n_kw);
	free(r->recent);
	if (r->metas != NULL)
		for (i = 0; i < r->n; i++)
			free(r->metas[i].blob);
	free(r->metas);
	free_strv(r->upd_kw, r->n_upd_kw);
	free(r->changed);
	free(r->failed);
	free(r->src_done);
	free(r->dst_uids);
	free(r->ranges);
	if (r->fd >= 0)
		close(r->fd);
	free(r);
}

/* Installs a refresh or open result in the view; fills ch for refresh. */
static int
view_apply(struct posta_mailbox *v, struct md_req *r,
    struct posta_mailbox_changes *ch, struct posta_expunged **exp_r,
    uint32_t **chg_r)
{
	size_t i = 0, j = 0, n = 0, ne = 0, nc = 0;
	struct posta_msg *merged;
	struct posta_expunged *exp;
	uint32_t *chg;

	merged = malloc((r->n_msgs + 1) * sizeof(*merged));
	exp = malloc((v->n + 1) * sizeof(*exp));
	chg = malloc((v->n + 1) * sizeof(*chg));
	if (merged == NULL || exp == NULL || chg == NULL) {
		free(merged);
		free(exp);
		free(chg);
		return -ENOMEM;
	}
	if (r->gone || (v->st.uidvalidity != 0 &&
	    r->uidvalidity != v->st.uidvalidity)) {
		/* every message of the old mailbox is gone */
		for (i = 0; i < v->n; i++) {
			exp[ne].seq = (uint32_t)i + 1;
			exp[ne++].uid = v->msgs[i].uid;
		}
		ch->uidvalidity_changed = !r->gone;
	} else {
		for (i = 0; i < v->n; i++) {
			const struct posta_msg *o = &v->msgs[i];

			while (j < r->n_msgs && r->msgs[j].uid < o->uid)
				j++;	/* cannot happen: UIDs only grow */
			if (j < r->n_msgs && r->msgs[j].uid == o->uid) {
				merged[n] = r->msgs[j];
				merged[n].flags |= o->flags &
				    POSTA_FLAG_RECENT;
				if (r->msgs[j].modseq != o->modseq)
					chg[nc++] = o->uid;
				n++;
				j++;
			} else {
				exp[ne].seq = (uint32_t)i + 1;
				exp[ne++].uid = o->uid;
			}
		}
	}
	for (; j < r->n_msgs; j++)
		merged[n++] = r->msgs[j];
	for (i = 0; i < n; i++)
		if (r->recent != NULL && uid_in(r->recent, r->n_recent,
		    merged[i].uid))
			merged[i].flags |= POSTA_FLAG_RECENT;
	/* descending sequence numbers: each EXPUNGE is then right */
	for (i = 0; i < ne / 2; i++) {
		struct posta_expunged tmp = exp[i];

		exp[i] = exp[ne - 1 - i];
		exp[ne - 1 - i] = tmp;
	}
	free(v->msgs);
	v->msgs = merged;
	v->n = n;
	if (!r->gone) {
		bool kw_grew = r->n_kw != v->n_kw;

		free_strv(v->kw, v->n_kw);
		v->kw = r->kw;
		v->n_kw = r->n_kw;
		r->kw = NULL;
		r->n_kw = 0;
		ch->keywords_changed = kw_grew;
		v->st.uidvalidity = r->uidvalidity;
		v->st.uidnext = r->uidnext;
		v->st.highestmodseq = r->hms;
	}
	view_recount(v);
	ch->n_expunged = ne;
	ch->expunged = exp;
	ch->n_changed = nc;
	ch->changed = chg;
	ch->messages = v->st.messages;
	ch->recent = v->st.recent;
	*exp_r = exp;
	*chg_r = chg;
	return 0;
}

static void
box_done(struct md_job *job)
{
	struct md_req *r = (struct md_req *)job;
	struct posta_mailbox *v = r->v;
	int err = job->err;
	bool closed = v != NULL && v->closed;

	if (closed && r->op != MD_REQ_FLAGS && r->op != MD_REQ_EXPUNGE &&
	    r->op != MD_REQ_COPY)
		err = -ECANCELED;
	switch (r->op) {
	case MD_REQ_OPEN: {
		posta_mailbox_open_cb *cb = r->cb;

		if (err == 0) {
			v = calloc(1, sizeof(*v));
			if (v == NULL)
				err = -ENOMEM;
		}
		if (err == 0) {
			struct posta_mailbox_changes ch = { 0 };
			struct posta_expunged *e = NULL;
			uint32_t *c = NULL;

			v->ops = &md_ops;
			v->box = r->box;
			r->box = NULL;
			v->open_flags = r->flags;
			v->has_pop3_lock =
			    (r->flags & POSTA_OPEN_POP3_LOCK) != 0;
			v->box->id = r->id;
			if (view_apply(v, r, &ch, &e, &c) != 0) {
				err = -ENOMEM;
				v->closed = true;
				md_view_release(v);
				v = NULL;
			} else {
				v->vnext = v->box->views;
				v->box->views = v;
			}
			free(e);
			free(c);
		}
		if (err != 0 && r->box != NULL) {
			if (r->flags & POSTA_OPEN_POP3_LOCK)
				r->box->pop3_locked = false;
			md_box_unref(r->box);
			r->box = NULL;
		}
		cb(r->ctx, err, err == 0 ? v : NULL);
		break;
	}
	case MD_REQ_REFRESH: {
		struct posta_mailbox_changes ch = { 0 };
		struct posta_expunged *e = NULL;
		uint32_t *c = NULL;

		if (err == 0 && view_apply(v, r, &ch, &e, &c) != 0)
			err = -ENOMEM;
		v->refreshing = false;
		((posta_mailbox_refresh_cb *)r->cb)(r->ctx, err,
		    err == 0 ? &ch : NULL);
		free(e);
		free(c);
		break;
	}
	case MD_REQ_META: {
		struct posta_msg_meta *metas = NULL;
		struct arena *a = NULL;
		size_t i;

		if (err == 0) {
			metas = calloc(r->n, sizeof(*metas));
			a = arena_new(64 * 1024, 0);
			if (metas == NULL || a == NULL)
				err = -ENOMEM;
		}
		for (i = 0; err == 0 && i < r->n; i++) {
			struct md_meta_res *mr = &r->metas[i];
			struct posta_msg_meta *m = &metas[i];
			int ret;

			m->uid = mr->uid;
			m->err = mr->err;
			if (mr->err != 0)
				continue;
			m->header_size = mr->header_size;
			m->body_lines = mr->body_lines;
			/* no blob: the parser gave up at its limits */
			ret = mr->blob == NULL ? POSTA_ECORRUPT :
			    md_meta_decode(a, mr->blob, mr->len, m);
			if (ret == -ENOMEM)
				err = ret;
			else if (ret != 0)
				m->err = ret;
			if (!(r->fields & POSTA_META_ENVELOPE))
				m->envelope = NULL;
			if (!(r->fields & POSTA_META_BODYSTRUCTURE))
				m->bodystructure = NULL;
			if (!(r->fields & POSTA_META_BODY))
				m->body = NULL;
			if (!(r->fields & POSTA_META_PARTS)) {
				m->n_parts = 0;
				m->parts = NULL;
			}
		}
		((posta_msg_meta_cb *)r->cb)(r->ctx, err, err == 0 ? metas :
		    NULL, err == 0 ? r->n : 0);
		arena_free(&a);
		free(metas);
		break;
	}
	case MD_REQ_FLAGS: {
		struct posta_flags_result res = { 0 };
		uint32_t *changed = NULL;
		size_t i;

		if (err == 0 && !closed) {
			/* our own change: in this view at once, and the
			   refresh will not report it again */
			for (i = 0; i < r->n_changed; i++) {
				uint32_t seq = posta_mailbox_seq_of_uid(v,
				    r->changed[i].uid);
				struct posta_msg *m;

				if (seq == 0)
					continue;
				m = &v->msgs[seq - 1];
				m->flags = (m->flags & POSTA_FLAG_RECENT) |
				    r->changed[i].flags;
				m->keywords = r->changed[i].kw;
				m->modseq = r->changed[i].modseq;
			}
			if (r->kw != NULL || r->n_kw != v->n_kw) {
				free_strv(v->kw, v->n_kw);
				v->kw = r->kw;
				v->n_kw = r->n_kw;
				r->kw = NULL;
				r->n_kw = 0;
			}
			view_recount(v);
			if (r->hms > v->st.highestmodseq)
				v->st.highestmodseq = r->hms;
		}
		if (err == 0) {
			changed = malloc((r->n_changed + 1) * sizeof(*changed));
			if (changed == NULL)
				err = -ENOMEM;
			for (i = 0; changed != NULL && i < r->n_changed; i++)
				changed[i] = r->changed[i].uid;
			res.n_changed = r->n_changed;
			res.changed = changed;
			res.n_failed = r->n_failed;
			res.failed = r->failed;
		}
		((posta_store_flags_cb *)r->cb)(r->ctx, err,
		    err == 0 ? &res : NULL);
		free(changed);
		break;
	}
	case MD_REQ_EXPUNGE:
		((posta_store_expunge_cb *)r->cb)(r->ctx, err,
		    err == 0 ? r->n_expunged : 0);
		break;
	case MD_REQ_COPY: {
		struct posta_copy_result res = { r->uidvalidity, r->n_copied,
		    r->src_done, r->dst_uids };

		((posta_store_copy_cb *)r->cb)(r->ctx, err,
		    err == 0 ? &res : NULL);
		break;
	}
	case MD_REQ_GONE:
		((posta_uid_ranges_cb *)r->cb)(r->ctx, err,
		    err == 0 ? r->ranges : NULL, err == 0 ? r->n_ranges : 0);
		break;
	case MD_REQ_MSG_OPEN: {
		struct posta_msg_reader *rd = NULL;

		if (err == 0) {
			rd = md_reader_new(job->store, r->fd, r->size,
			    r->raw_size);
			if (rd == NULL)
				err = -ENOMEM;
			else
				r->fd = -1;
		}
		((posta_msg_open_cb *)r->cb)(r->ctx, err, rd,
		    err == 0 ? r->size : 0);
		break;
	}
	}
	if (r->box != NULL)
		md_box_unref(r->box);
	if (v != NULL && r->op != MD_REQ_OPEN) {
		v->pending--;
		md_view_release(v);
	}
	req_free(r);
}

/* ---- the ops ---- */

static struct md_req *
req_new(struct posta_mailbox *v, enum md_req_op op, void *cb, void *ctx)
{
	struct md_req *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->op = op;
	r->v = v;
	r->cb = cb;
	r->ctx = ctx;
	r->fd = -1;
	r->job.work_fn = box_work;
	r->job.done_fn = box_done;
	if (v != NULL) {
		snprintf(r->name, sizeof(r->name), "%s", v->box->name);
		r->expect_id = v->box->id;
		r->job.origin = v;
	}
	return r;
}

static int
submit(struct md_req *r)
{
	if (r->v != NULL)
		r->v->pending++;
	return md_job_serial(r->v != NULL ? r->v->box->user :
	    r->box->user, &r->job);
}

/* Copies a UID array: ascending, no duplicates, no zero. */
static int
take_uids(struct md_req *r, const uint32_t *uids, size_t n)
{
	size_t i, j;

	r->uids = malloc((n ? n : 1) * sizeof(*r->uids));
	if (r->uids == NULL)
		return -ENOMEM;
	if (n > 0)
		memcpy(r->uids, uids, n * sizeof(*uids));
	qsort(r->uids, n, sizeof(*r->uids), cmp_u32);
	for (i = 0, j = 0; i < n; i++)
		if (r->uids[i] != 0 && (j == 0 || r->uids[j - 1] != r->uids[i]))
			r->uids[j++] = r->uids[i];
	r->n = j;
	return 0;
}

/* The view's UIDs (uids NULL: "every message of the view"). */
static int
take_view_uids(struct md_req *r, const struct posta_mailbox *v)
{
	size_t i;

	r->uids = malloc((v->n ? v->n : 1) * sizeof(*r->uids));
	if (r->uids == NULL)
		return -ENOMEM;
	for (i = 0; i < v->n; i++)
		r->uids[i] = v->msgs[i].uid;
	r->n = v->n;
	return 0;
}

int
md_op_open(struct posta_mail_user *h, const char *name, uint32_t flags,
    posta_mailbox_open_cb *cb, void *ctx)
{
	struct md_req *r;
	char canon[MD_MAILBOX_MAX + 1];

	if (h->closed)
		return -EINVAL;
	if (md_mailbox_canon(name, canon, sizeof(canon)) < 0)
		return POSTA_ENAME;
	if (flags & ~(uint32_t)(POSTA_OPEN_READONLY | POSTA_OPEN_POP3_LOCK))
		return -EINVAL;
	r = req_new(NULL, MD_REQ_OPEN, (void *)cb, ctx);
	if (r == NULL)
		return -ENOMEM;
	snprintf(r->name, sizeof(r->name), "%s", canon);
	r->box = md_box_get(h->u, canon);
	if (r->box == NULL) {
		req_free(r);
		return -ENOMEM;
	}
	if (flags & POSTA_OPEN_POP3_LOCK) {
		if (r->box->pop3_locked) {
			md_box_unref(r->box);
			r->box = NULL;
			req_free(r);
			return -EBUSY;
		}
		r->box->pop3_locked = true;
	}
	r->flags = flags;
	r->claim = !(flags & POSTA_OPEN_READONLY);
	return submit(r);
}

void
md_op_close(struct posta_mailbox *v)
{
	struct posta_mailbox **pp;

	v->closed = true;
	v->notify = NULL;
	for (pp = &v->box->views; *pp != NULL; pp = &(*pp)->vnext)
		if (*pp == v) {
			*pp = v->vnext;
			break;
		}
	if (v->has_pop3_lock) {
		v->box->pop3_locked = false;
		v->has_pop3_lock = false;
	}
	md_view_release(v);
}

const char *
md_op_view_name(const struct posta_mailbox *v)
{
	return v->box->name;
}

const struct posta_mailbox_status *
md_op_view_status(const struct posta_mailbox *v)
{
	return &v->st;
}

size_t
md_op_view_messages(const struct posta_mailbox *v,
    const struct posta_msg **msgs_r)
{
	*msgs_r = v->msgs;
	return v->n;
}

size_t
md_op_view_keywords(const struct posta_mailbox *v,
    const char *const **names_r)
{
	*names_r = (const char *const *)v->kw;
	return v->n_kw;
}

void
md_op_watch(struct posta_mailbox *v, posta_mailbox_notify_cb *cb, void *ctx)
{
	v->notify = cb;
	v->notify_ctx = ctx;
}

int
md_op_refresh(struct posta_mailbox *v, uint32_t flags,
    posta_mailbox_refresh_cb *cb, void *ctx)
{
	struct md_req *r;

	if (v->closed)
		return -EINVAL;
	if (v->refreshing)
		return -EBUSY;
	r = req_new(v, MD_REQ_REFRESH, (void *)cb, ctx);
	if (r == NULL)
		return -ENOMEM;
	r->flags = flags;
	r->claim = !(v->open_flags & POSTA_OPEN_READONLY);
	v->refreshing = true;
	return submit(r);
}

int
md_op_fetch_meta(struct posta_mailbox *v, const uint32_t *uids, size_t n,
    uint32_t fields, posta_msg_meta_cb *cb, void *ctx)
{
	struct md_req *r;
	size_t i;

	if (v->closed)
		return -EINVAL;
	if (n == 0 || n > POSTA_STORE_BATCH_MAX)
		return -EMSGSIZE;
	r = req_new(v, MD_REQ_META, (void *)cb, ctx);
	if (r == NULL)
		return -ENOMEM;
	/* kept in the caller's order: metas[i] answers uids[i] */
	r->uids = malloc(n * sizeof(*r->uids));
	if (r->uids == NULL) {
		req_free(r);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++)
		r->uids[i] = uids[i];
	r->n = n;
	r->fields = fields;
	return submit(r);
}

int
md_op_store_flags(struct posta_mailbox *v, const uint32_t *uids, size_t n,
    const struct posta_flag_update *upd, posta_store_flags_cb *cb,
    void *ctx)
{
	struct md_req *r;
	size_t i;

	if (v->closed)
		return -EINVAL;
	if (v->open_flags & POSTA_OPEN_READONLY)
		return -EROFS;
	if ((upd->flags & ~POSTA_FLAGS_STORED) != 0 ||
	    upd->mode > POSTA_FLAGS_REMOVE ||
	    upd->n_keywords > POSTA_STORE_KEYWORDS_MAX)
		return -EINVAL;
	for (i = 0; i < upd->n_keywords; i++)
		if (!md_keyword_valid(upd->keywords[i]))
			return -EINVAL;
	r = req_new(v, MD_REQ_FLAGS, (void *)cb, ctx);
	if (r == NULL || take_uids(r, uids, n) != 0)
		goto oom;
	r->mode = upd->mode;
	r->set_flags = upd->flags;
	r->unchangedsince = upd->unchangedsince;
	if (upd->n_keywords > 0) {
		r->upd_kw = calloc(upd->n_keywords, sizeof(*r->upd_kw));
		if (r->upd_kw == NULL)
			goto oom;
		for (i = 0; i < upd->n_keywords; i++) {
			r->upd_kw[i] = strdup(upd->keywords[i]);
			if (r->upd_kw[i] == NULL)
				goto oom;
			r->n_upd_kw = i + 1;
		}
	}
	return submit(r);
oom:
	if (r != NULL)
		req_free(r);
	return -ENOMEM;
}

int
md_op_expunge(struct posta_mailbox *v, const uint32_t *uids, size_t n,
    uint32_t flags, posta_store_expunge_cb *cb, void *ctx)
{
	struct md_req *r;
	int ret;

	if (v->closed)
		return -EINVAL;
	if (v->open_flags & POSTA_OPEN_READONLY)
		return -EROFS;
	r = req_new(v, MD_REQ_EXPUNGE, (void *)cb, ctx);
	if (r == NULL)
		return -ENOMEM;
	ret = uids != NULL ? take_uids(r, uids, n) : take_view_uids(r, v);
	if (ret != 0) {
		req_free(r);
		return ret;
	}
	r->flags = flags;
	return submit(r);
}

int
md_op_copy(struct posta_mailbox *v, const uint32_t *uids, size_t n,
    const char *dst, bool move, posta_store_copy_cb *cb, void *ctx)
{
	struct md_req *r;
	char canon[MD_MAILBOX_MAX + 1];

	if (v->closed)
		return -EINVAL;
	if (move && (v->open_flags & POSTA_OPEN_READONLY))
		return -EROFS;
	if (md_mailbox_canon(dst, canon, sizeof(canon)) < 0)
		return POSTA_ENAME;
	r = req_new(v, MD_REQ_COPY, (void *)cb, ctx);
	if (r == NULL || take_uids(r, uids, n) != 0) {
		if (r != NULL)
			req_free(r);
		return -ENOMEM;
	}
	snprintf(r->dst, sizeof(r->dst), "%s", canon);
	r->move = move;
	return submit(r);
}

int
md_op_expunged_since(struct posta_mailbox *v, uint64_t modseq,
    posta_uid_ranges_cb *cb, void *ctx)
{
	struct md_req *r;

	if (v->closed)
		return -EINVAL;
	r = req_new(v, MD_REQ_GONE, (void *)cb, ctx);
	if (r == NULL)
		return -ENOMEM;
	r->hms = modseq;
	return submit(r);
}

int
md_op_msg_open(struct posta_mailbox *v, uint32_t uid, posta_msg_open_cb *cb,
    void *ctx)
{
	struct md_req *r;

	if (v->closed)
		return -EINVAL;
	if (uid == 0)
		return POSTA_ENOTFOUND;
	r = req_new(v, MD_REQ_MSG_OPEN, (void *)cb, ctx);
	if (r == NULL || take_uids(r, &uid, 1) != 0) {
		if (r != NULL)
			req_free(r);
		return -ENOMEM;
	}
	return submit(r);
}
