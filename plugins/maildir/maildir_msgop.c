/* maildir_msgop.c: per-message work of the views: meta, flags, expunge, copy */
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
 * Worker side of the requests on messages (maildir_box.c queues them and
 * answers): each runs in its user's serial job with the index open in a
 * write transaction, and the Maildir may have been changed by others
 * since the view was taken: a file not where the index says is looked for
 * once with a forced sync, and a message gone meanwhile is skipped.
 */

/* Re-reads the disk after a file was not where the index said. */
int
md_req_resync(struct md_req *r, struct md_txn *t, struct md_box_info *bi)
{
	struct md_sync_opts o = { 0 };

	o.force = true;
	return md_sync_box(&r->job, t, bi, &o);
}

static int
fsync_box_dirs(struct md_req *r, const char *name)
{
	char path[MD_PATH_MAX];
	int ret;

	if (!r->job.store->set.fsync)
		return 0;
	if ((ret = md_box_path(r->job.user, name, "cur", path,
	    sizeof(path))) != 0 || (ret = md_fsync_dir(path)) != 0)
		return ret;
	if ((ret = md_box_path(r->job.user, name, "new", path,
	    sizeof(path))) != 0)
		return ret;
	return md_fsync_dir(path);
}

/* True when a mailbox's folder is no longer on the disk (worker). */
static bool
folder_gone(const struct md_user *u, const char *name)
{
	char path[MD_PATH_MAX];

	return md_box_path(u, name, "cur", path, sizeof(path)) == 0 &&
	    access(path, F_OK) != 0 && errno == ENOENT;
}

/* ---- MD_REQ_META ---- */

int
md_req_meta_one(struct md_req *r, struct md_txn *t, struct md_box_info *bi,
    struct md_meta_res *res)
{
	struct md_msg m;
	MDB_val val;
	char path[MD_PATH_MAX];
	int ret, fd, tries;

	ret = md_msg_get(t, bi->rec.id, res->uid, &m);
	if (ret != 0)
		return ret;
	if (m.rec.header_size != UINT64_MAX &&
	    md_meta_get(t, bi->rec.id, res->uid, &val) == 0) {
		res->blob = malloc(val.mv_size);
		if (res->blob == NULL)
			return -ENOMEM;
		memcpy(res->blob, val.mv_data, val.mv_size);
		res->len = val.mv_size;
		res->header_size = m.rec.header_size;
		res->body_lines = m.rec.body_lines;
		return 0;
	}
	/* not parsed yet (adopted with W=) or the cache was lost */
	for (tries = 0;; tries++) {
		if ((ret = md_msg_path(r->job.user, bi->name, &m, path,
		    sizeof(path))) != 0)
			return ret;
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0 || errno != ENOENT || tries > 0)
			break;
		if ((ret = md_req_resync(r, t, bi)) != 0 ||
		    (ret = md_msg_get(t, bi->rec.id, res->uid, &m)) != 0)
			return ret;
	}
	if (fd < 0)
		return errno == ENOENT ? POSTA_ENOTFOUND : -errno;
	ret = md_parse_file(fd, &res->blob, &res->len, &m.rec.size,
	    &m.rec.raw_size, &m.rec.header_size, &m.rec.body_lines);
	close(fd);
	if (ret != 0)
		return ret;
	res->header_size = m.rec.header_size;
	res->body_lines = m.rec.body_lines;
	/* the size is unchanged when W= told the truth; keep the modseq */
	ret = md_msg_put(t, bi->rec.id, &m);
	if (ret == 0 && res->blob != NULL)
		ret = md_meta_put(t, bi->rec.id, res->uid, res->blob,
		    res->len);
	return ret;
}

/* ---- MD_REQ_FLAGS ---- */

int
md_req_flags(struct md_req *r, struct md_txn *t, struct md_box_info *bi)
{
	struct md_store *s = r->job.store;
	uint64_t kwbits = 0;
	size_t i, k;
	bool moved_new = false;
	int ret;

	for (k = 0; k < r->n_upd_kw; k++) {
		int idx = md_kw_index(bi, r->upd_kw[k],
		    r->mode != POSTA_FLAGS_REMOVE, s->set.max_keywords);

		if (idx == -1)
			continue;	/* removing an unknown keyword */
		if (idx < 0)
			return idx;
		kwbits |= (uint64_t)1 << idx;
	}
	r->changed = calloc(r->n ? r->n : 1, sizeof(*r->changed));
	r->failed = calloc(r->n ? r->n : 1, sizeof(*r->failed));
	if (r->changed == NULL || r->failed == NULL)
		return -ENOMEM;
	for (i = 0; i < r->n; i++) {
		struct md_msg m;
		uint32_t flags;
		uint64_t kw;
		char name[MD_NAME_MAX + 1], from[MD_PATH_MAX], to[MD_PATH_MAX];
		int tries;

		ret = md_msg_get(t, bi->rec.id, r->uids[i], &m);
		if (ret == POSTA_ENOTFOUND)
			continue;
		if (ret != 0)
			return ret;
		if (r->unchangedsince != 0 &&
		    m.rec.modseq > r->unchangedsince) {
			r->failed[r->n_failed++] = m.uid;
			continue;
		}
		flags = m.rec.flags & POSTA_FLAGS_STORED;
		kw = m.rec.kw;
		switch (r->mode) {
		case POSTA_FLAGS_SET:
			flags = r->set_flags;
			kw = kwbits;
			break;
		case POSTA_FLAGS_ADD:
			flags |= r->set_flags;
			kw |= kwbits;
			break;
		case POSTA_FLAGS_REMOVE:
			flags &= ~r->set_flags;
			kw &= ~kwbits;
			break;
		}
		if (flags == (m.rec.flags & POSTA_FLAGS_STORED) &&
		    kw == m.rec.kw)
			continue;
		for (tries = 0;; tries++) {
			if (md_name_set_flags(m.name, flags,
			    (uint32_t)(kw & 0x3ffffff), name,
			    sizeof(name)) < 0)
				return -ENAMETOOLONG;
			if ((ret = md_msg_path(r->job.user, bi->name, &m,
			    from, sizeof(from))) != 0 ||
			    (ret = md_box_path(r->job.user, bi->name, "cur",
			    to, sizeof(to))) != 0 ||
			    (ret = md_pathf(to + strlen(to),
			    sizeof(to) - strlen(to), "/%s", name)) != 0)
				return ret;
			if (rename(from, to) == 0)
				break;
			if (errno != ENOENT || tries > 0)
				return errno == ENOENT ? 0 : -errno;
			/* renamed by another program: find it, try again */
			if ((ret = md_req_resync(r, t, bi)) != 0)
				return ret;
			ret = md_msg_get(t, bi->rec.id, r->uids[i], &m);
			if (ret == POSTA_ENOTFOUND)
				break;
			if (ret != 0)
				return ret;
		}
		if (ret == POSTA_ENOTFOUND) {
			ret = 0;
			continue;
		}
		if (m.rec.flags & MD_MSG_IN_NEW)
			moved_new = true;
		m.rec.flags = (m.rec.flags & ~(POSTA_FLAGS_STORED |
		    MD_MSG_IN_NEW)) | flags;
		m.rec.kw = kw;
		m.rec.modseq = ++bi->rec.highestmodseq;
		snprintf(m.name, sizeof(m.name), "%s", name);
		bi->dirty = true;
		ret = md_msg_put(t, bi->rec.id, &m);
		if (ret != 0)
			return ret;
		r->changed[r->n_changed].uid = m.uid;
		r->changed[r->n_changed].flags = flags;
		r->changed[r->n_changed].kw = kw;
		r->changed[r->n_changed].modseq = m.rec.modseq;
		r->n_changed++;
	}
	(void)moved_new;
	if (r->n_changed > 0) {
		md_job_changed(&r->job, bi->rec.id);
		ret = fsync_box_dirs(r, bi->name);
		if (ret != 0)
			return ret;
	}
	return md_req_copy_kw(r, bi);
}

/* ---- MD_REQ_EXPUNGE ---- */

int
md_req_expunge(struct md_req *r, struct md_txn *t, struct md_box_info *bi)
{
	struct md_msg *gone;
	size_t i, n_gone = 0;
	int ret = 0;

	gone = malloc((r->n ? r->n : 1) * sizeof(*gone));
	if (gone == NULL)
		return -ENOMEM;
	/* files first, synced, then the index: a crash in between leaves
	   an index entry without a file, which the next sync expunges; the
	   other order could bring a deleted message back */
	for (i = 0; i < r->n; i++) {
		struct md_msg *m = &gone[n_gone];
		char path[MD_PATH_MAX];
		int tries;

		for (tries = 0;; tries++) {
			ret = md_msg_get(t, bi->rec.id, r->uids[i], m);
			if (ret != 0)
				break;
			if ((r->flags & POSTA_EXPUNGE_DELETED_ONLY) &&
			    !(m->rec.flags & POSTA_FLAG_DELETED)) {
				ret = POSTA_ENOTFOUND;
				break;
			}
			if ((ret = md_msg_path(r->job.user, bi->name, m, path,
			    sizeof(path))) != 0)
				goto out;
			if (unlink(path) == 0)
				break;
			if (errno != ENOENT) {
				ret = -errno;
				goto out;
			}
			if (tries > 0)
				break;	/* really gone: drop the record */
			if ((ret = md_req_resync(r, t, bi)) != 0)
				goto out;
		}
		if (ret == POSTA_ENOTFOUND) {
			ret = 0;
			continue;
		}
		if (ret != 0)
			goto out;
		n_gone++;
	}
	if (n_gone == 0)
		goto out;
	ret = fsync_box_dirs(r, bi->name);
	for (i = 0; i < n_gone && ret == 0; i++)
		ret = md_msg_del(t, bi->rec.id, &gone[i],
		    ++bi->rec.highestmodseq);
	bi->dirty = true;
	r->n_expunged = n_gone;
	md_job_changed(&r->job, bi->rec.id);
out:
	free(gone);
	return ret;
}

/* ---- MD_REQ_COPY ---- */

/* Copies a file's bytes when a hard link is impossible (worker). */
static int
copy_file(const char *from, const char *to, int64_t mtime, bool do_fsync)
{
	char buf[65536];
	int in = open(from, O_RDONLY | O_CLOEXEC), out, ret = 0;
	struct timespec ts[2];

	if (in < 0)
		return -errno;
	out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0) {
		ret = -errno;
		close(in);
		return ret;
	}
	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf)), w = 0;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			break;
		}
		if (n == 0)
			break;
		while (w < n) {
			ssize_t k = write(out, buf + w, (size_t)(n - w));

			if (k < 0 && errno == EINTR)
				continue;
			if (k < 0) {
				ret = -errno;
				break;
			}
			w += k;
		}
		if (ret != 0)
			break;
	}
	ts[0].tv_sec = ts[1].tv_sec = (time_t)mtime;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	if (ret == 0)
		futimens(out, ts);
	if (ret == 0 && do_fsync && fsync(out) != 0)
		ret = -errno;
	close(in);
	if (close(out) != 0 && ret == 0)
		ret = -errno;
	if (ret != 0)
		unlink(to);
	return ret;
}

int
md_req_copy(struct md_req *r, struct md_txn *t, struct md_box_info *src)
{
	struct md_store *s = r->job.store;
	struct md_user *u = r->job.user;
	struct md_box_info dst_bi, *dst = &dst_bi;
	struct md_sync_opts o = { 0 };
	struct md_msg *done_src = NULL, *made = NULL;
	void **metas = NULL;
	size_t *meta_lens = NULL;
	bool same = strcmp(r->dst, src->name) == 0;
	size_t i, n_made = 0;
	char path[MD_PATH_MAX];
	int ret;

	if (same) {
		dst = src;
	} else {
		ret = md_box_open_sync(&r->job, t, r->dst, &dst_bi, &o);
		free(o.recent);
		if (ret != 0)
			return ret;
	}
	done_src = calloc(r->n ? r->n : 1, sizeof(*done_src));
	made = calloc(r->n ? r->n : 1, sizeof(*made));
	metas = calloc(r->n ? r->n : 1, sizeof(*metas));
	meta_lens = calloc(r->n ? r->n : 1, sizeof(*meta_lens));
	r->src_done = calloc(r->n ? r->n : 1, sizeof(*r->src_done));
	r->dst_uids = calloc(r->n ? r->n : 1, sizeof(*r->dst_uids));
	if (done_src == NULL || made == NULL || metas == NULL ||
	    meta_lens == NULL || r->src_done == NULL || r->dst_uids == NULL) {
		ret = -ENOMEM;
		goto out;
	}
	if (!r->move) {
		/* a MOVE keeps the user's usage; a COPY adds to it, all or
		   nothing, so the quota is checked for the whole set */
		uint64_t add_msgs = 0, add_bytes = 0;

		for (i = 0; i < r->n; i++) {
			ret = md_msg_get(t, src->rec.id, r->uids[i],
			    &done_src[0]);
			if (ret == POSTA_ENOTFOUND)
				continue;
			if (ret != 0)
				goto out;
			add_msgs++;
			add_bytes += done_src[0].rec.size;
		}
		if (add_msgs != 0 &&
		    (ret = md_quota_check(t, add_msgs, add_bytes, NULL)) != 0)
			goto out;
	}
	for (i = 0; i < r->n; i++) {
		struct md_msg *m = &done_src[n_made], *nm = &made[n_made];
		char from[MD_PATH_MAX], to[MD_PATH_MAX], base[MD_NAME_MAX + 1];
		uint32_t k;
		uint64_t kw = 0;
		MDB_val val;
		int tries, e;

		ret = md_msg_get(t, src->rec.id, r->uids[i], m);
		if (ret == POSTA_ENOTFOUND)
			continue;
		if (ret != 0)
			goto out;
		/* keywords travel by name */
		for (k = 0; k < src->rec.n_kw; k++)
			if (m->rec.kw & ((uint64_t)1 << k)) {
				int idx = same ? (int)k : md_kw_index(dst,
				    src->kw[k], true, s->set.max_keywords);

				if (idx >= 0)
					kw |= (uint64_t)1 << idx;
			}
		*nm = *m;
		nm->rec.kw = kw;
		nm->rec.flags &= POSTA_FLAGS_STORED;
		if ((ret = md_name_unique(base, sizeof(base),
		    (int64_t)time(NULL), 0, s->pid,
		    atomic_fetch_add(&s->seq, 1) + 1, s->hostname,
		    m->rec.size == m->rec.raw_size ? m->rec.size :
		    UINT64_MAX)) < 0 ||
		    (ret = md_name_set_flags(base, nm->rec.flags,
		    (uint32_t)(kw & 0x3ffffff), nm->name,
		    sizeof(nm->name))) < 0)
			goto out;
		if ((ret = md_msg_path(u, dst->name, nm, to, sizeof(to))) != 0)
			goto out;
		for (tries = 0;; tries++) {
			if ((ret = md_msg_path(u, src->name, m, from,
			    sizeof(from))) != 0)
				goto out;
			if (link(from, to) == 0) {
				ret = 0;
				break;
			}
			e = errno;
			if (e == EXDEV || e == EPERM || e == EMLINK ||
			    e == ENOTSUP) {
				ret = copy_file(from, to,
				    m->rec.internal_date, s->set.fsync);
				break;
			}
			if (e == ENOENT && folder_gone(u, dst->name)) {
				/* not an expunged source: no destination */
				ret = POSTA_ENOTFOUND;
				goto out;
			}
			if (e != ENOENT || tries > 0) {
				ret = e == ENOENT ? POSTA_ENOTFOUND : -e;
				break;
			}
			if ((ret = md_req_resync(r, t, src)) != 0)
				goto out;
			if ((ret = md_msg_get(t, src->rec.id, r->uids[i],
			    m)) != 0)
				break;
		}
		if (ret == POSTA_ENOTFOUND)
			continue;	/* expunged meanwhile */
		if (ret != 0)
			goto out;
		if (md_meta_get(t, src->rec.id, m->uid, &val) == 0) {
			metas[n_made] = malloc(val.mv_size);
			if (metas[n_made] == NULL) {
				unlink(to);
				ret = -ENOMEM;
				goto out;
			}
			memcpy(metas[n_made], val.mv_data, val.mv_size);
			meta_lens[n_made] = val.mv_size;
		}
		n_made++;
	}
	if (n_made == 0) {
		ret = 0;	/* all expunged meanwhile: nothing to do */
		goto out;
	}
	/* durable in the destination before the index or any answer */
	if (s->set.fsync && (ret = md_box_path(u, dst->name, "cur", path,
	    sizeof(path))) == 0)
		ret = md_fsync_dir(path);
	for (i = 0; i < n_made && ret == 0; i++) {
		ret = md_msg_insert(t, dst, &made[i], metas[i], meta_lens[i]);
		r->src_done[i] = done_src[i].uid;
		r->dst_uids[i] = made[i].uid;
	}
	if (ret != 0)
		goto out;
	r->n_copied = n_made;
	md_job_changed(&r->job, dst->rec.id);
	r->uidvalidity = dst->rec.uidvalidity;
	if (r->move) {
		for (i = 0; i < n_made; i++) {
			if (md_msg_path(u, src->name, &done_src[i], path,
			    sizeof(path)) == 0)
				unlink(path);
		}
		ret = fsync_box_dirs(r, src->name);
		for (i = 0; i < n_made && ret == 0; i++)
			ret = md_msg_del(t, src->rec.id, &done_src[i],
			    ++src->rec.highestmodseq);
		src->dirty = true;
		md_job_changed(&r->job, src->rec.id);
	}
	if (ret == 0 && !same && dst->dirty)
		ret = md_box_store(t, dst);
out:
	/* a folder went away under us (the destination, or a MOVE's
	   source): the mailbox does not exist, whatever call noticed */
	if (ret == -ENOENT)
		ret = POSTA_ENOTFOUND;
	if (ret != 0) {
		/* nothing was indexed: take the new files away again */
		for (i = 0; i < n_made; i++)
			if (md_msg_path(u, dst->name, &made[i], path,
			    sizeof(path)) == 0)
				unlink(path);
		r->n_copied = 0;
	}
	if (metas != NULL)
		for (i = 0; i < n_made; i++)
			free(metas[i]);
	free(metas);
	free(meta_lens);
	free(done_src);
	free(made);
	if (!same)
		md_box_info_clear(&dst_bi);
	return ret;
}

/* ---- MD_REQ_GONE ---- */

int
md_req_gone_add(void *ctx, uint32_t uid)
{
	struct md_req *r = ctx;
	struct posta_uid_range *last = r->n_ranges ?
	    &r->ranges[r->n_ranges - 1] : NULL;

	if (last != NULL && last->hi + 1 == uid) {
		last->hi = uid;
		return 0;
	}
	if (r->n_ranges == r->cap_ranges) {
		size_t cap = r->cap_ranges ? r->cap_ranges * 2 : 16;
		struct posta_uid_range *p = realloc(r->ranges,
		    cap * sizeof(*p));

		if (p == NULL)
			return -ENOMEM;
		r->ranges = p;
		r->cap_ranges = cap;
	}
	r->ranges[r->n_ranges].lo = r->ranges[r->n_ranges].hi = uid;
	r->n_ranges++;
	return 0;
}

/* ---- MD_REQ_MSG_OPEN ---- */

int
md_req_msg_open(struct md_req *r, struct md_txn *t, struct md_box_info *bi)
{
	struct md_msg m;
	char path[MD_PATH_MAX];
	int ret, tries;

	for (tries = 0;; tries++) {
		ret = md_msg_get(t, bi->rec.id, r->uids[0], &m);
		if (ret != 0)
			return ret;
		if ((ret = md_msg_path(r->job.user, bi->name, &m, path,
		    sizeof(path))) != 0)
			return ret;
		r->fd = open(path, O_RDONLY | O_CLOEXEC);
		if (r->fd >= 0)
			break;
		if (errno != ENOENT || tries > 0)
			return errno == ENOENT ? POSTA_ENOTFOUND : -errno;
		if ((ret = md_req_resync(r, t, bi)) != 0)
			return ret;
	}
	r->size = m.rec.size;
	r->raw_size = m.rec.raw_size;
	return 0;
}

