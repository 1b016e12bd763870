/* maildir_user.c: user sessions and mailbox management (LIST, CREATE, ...) */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "maildir.h"
#include "util.h"

enum user_op {
	OP_OPEN,
	OP_USAGE,
	OP_LIST,
	OP_CREATE,
	OP_DELETE,
	OP_RENAME,
	OP_SUBSCRIBE,
	OP_STATUS,
	OP_QUOTA,			/* an account's quota, no session */
};

struct user_req {
	struct md_job job;		/* first: the job is the request */
	enum user_op op;
	struct posta_mail_user *h;
	void *cb;
	void *ctx;
	char name[MD_MAILBOX_MAX + 1];
	char to[MD_MAILBOX_MAX + 1];
	uint32_t special_use;
	bool flag;			/* subscribe; setup at open */
	/* results */
	struct posta_mailbox_status st;
	struct posta_user_usage usage;
	struct posta_quota quota;
	struct posta_mailbox_info *boxes;
	size_t n_boxes, cap_boxes;
	uint32_t box_id;		/* deleted or renamed */
};

bool
md_keyword_valid(const char *kw)
{
	size_t i;

	if (kw[0] == '\0' || kw[0] == '\\' || strlen(kw) > 100)
		return false;
	for (i = 0; kw[i] != '\0'; i++) {
		unsigned char c = (unsigned char)kw[i];

		/* RFC 3501 atom: no specials, controls, or 8-bit */
		if (c <= 0x20 || c >= 0x7f || strchr("(){%*\"\\]", c) != NULL)
			return false;
	}
	return true;
}

/* ---- small disk helpers (worker) ---- */

static int
write_marker_file(const char *dir, const char *name)
{
	char path[MD_PATH_MAX];
	int fd;

	if (md_pathf(path, sizeof(path), "%s/%s", dir, name) != 0)
		return -ENAMETOOLONG;
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

/* rm -r of a directory we own (a deleted folder); best effort */
static void
remove_tree(int parent, const char *name)
{
	int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	DIR *d;
	struct dirent *de;

	if (fd < 0) {
		unlinkat(parent, name, 0);
		return;
	}
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (de->d_type == DT_DIR)
			remove_tree(dirfd(d), de->d_name);
		else if (unlinkat(dirfd(d), de->d_name, 0) != 0 &&
		    errno == EISDIR)
			remove_tree(dirfd(d), de->d_name);
	}
	closedir(d);
	unlinkat(parent, name, AT_REMOVEDIR);
}

/* Calls fn for every folder directory of the Maildir (INBOX first). */
static int
each_folder(struct md_user *u, int (*fn)(void *ctx, const char *name),
    void *ctx)
{
	DIR *d = opendir(u->path);
	struct dirent *de;
	int ret;

	if (d == NULL)
		return -errno;
	ret = fn(ctx, "INBOX");
	while (ret == 0 && (de = readdir(d)) != NULL) {
		char name[MD_MAILBOX_MAX + 1], path[MD_PATH_MAX];
		struct stat st;

		if (md_mailbox_from_dir(de->d_name, name, sizeof(name)) < 0 ||
		    md_mailbox_is_inbox(name))
			continue;
		if (md_pathf(path, sizeof(path), "%s/%s/cur", u->path,
		    de->d_name) != 0 || stat(path, &st) != 0 ||
		    !S_ISDIR(st.st_mode))
			continue;
		ret = fn(ctx, name);
	}
	closedir(d);
	return ret;
}

/* ---- first login: special-use folders, Dovecot's subscriptions ---- */

static int
import_sub(void *ctx, const char *name)
{
	return md_sub_set(ctx, name, true);
}

static int
make_folder(struct md_job *job, struct md_txn *t, const char *name,
    uint32_t special_use, bool must_be_new)
{
	struct md_user *u = job->user;
	struct md_box_info bi;
	struct md_sync_opts o = { 0 };
	char dir[MD_PATH_MAX], cur[MD_PATH_MAX];
	int ret;

	if ((ret = md_box_path(u, name, NULL, dir, sizeof(dir))) != 0 ||
	    (ret = md_pathf(cur, sizeof(cur), "%s/cur", dir)) != 0)
		return ret;
	if (access(cur, F_OK) == 0) {
		if (must_be_new)
			return POSTA_EEXIST;
	} else {
		ret = md_mkdir_maildir(dir, job->store->set.fsync);
		if (ret == 0)
			ret = write_marker_file(dir, "maildirfolder");
		if (ret != 0)
			return ret;
	}
	ret = md_box_open_sync(job, t, name, &bi, &o);
	if (ret != 0)
		return ret;
	if (special_use != 0 && bi.rec.special_use != special_use) {
		bi.rec.special_use = special_use;
		bi.dirty = true;
	}
	if (bi.dirty)
		ret = md_box_store(t, &bi);
	md_box_info_clear(&bi);
	free(o.recent);
	return ret;
}

int
md_user_setup(struct md_job *job, struct md_txn *t)
{
	const struct md_settings *set = &job->store->set;
	const struct {
		const char *name;
		uint32_t use;
	} f[] = {
		{ set->folder_drafts, POSTA_SPECIAL_DRAFTS },
		{ set->folder_sent, POSTA_SPECIAL_SENT },
		{ set->folder_trash, POSTA_SPECIAL_TRASH },
		{ set->folder_junk, POSTA_SPECIAL_JUNK },
		{ set->folder_archive, POSTA_SPECIAL_ARCHIVE },
	};
	uint32_t done = 0;
	size_t i;
	int ret;

	if (md_info_get(t, "subs_imported", &done) != 0 || done == 0) {
		char path[MD_PATH_MAX], *buf;
		size_t len;

		if (set->dovecot_import &&
		    md_pathf(path, sizeof(path), "%s/subscriptions",
		    job->user->path) == 0 &&
		    md_read_small_file(path, 4u << 20, &buf, &len) == 0) {
			ret = md_dovecot_parse_subscriptions(buf, len,
			    import_sub, t);
			free(buf);
			if (ret != 0)
				return ret;
		}
		ret = md_info_put(t, "subs_imported", 1);
		if (ret != 0)
			return ret;
		/* a new index: the special-use folders get subscribed */
		for (i = 0; i < sizeof(f) / sizeof(*f); i++) {
			char canon[MD_MAILBOX_MAX + 1];

			if (f[i].name[0] != '\0' && md_mailbox_canon(f[i].name,
			    canon, sizeof(canon)) > 0 &&
			    (ret = md_sub_set(t, canon, true)) != 0)
				return ret;
		}
	}
	for (i = 0; i < sizeof(f) / sizeof(*f); i++) {
		char canon[MD_MAILBOX_MAX + 1];

		if (f[i].name[0] == '\0' || md_mailbox_canon(f[i].name, canon,
		    sizeof(canon)) < 0)
			continue;
		ret = make_folder(job, t, canon, f[i].use, false);
		if (ret != 0)
			return ret;
	}
	return 0;
}

/* ---- the work of each op ---- */

struct status_acc {
	struct posta_mailbox_status *st;
};

static int
status_add(void *ctx, const struct md_msg *m)
{
	struct posta_mailbox_status *st = ctx;

	st->messages++;
	st->size += m->rec.size;
	if (!(m->rec.flags & POSTA_FLAG_SEEN))
		st->unseen++;
	if (m->rec.flags & POSTA_FLAG_DELETED)
		st->deleted++;
	if (m->rec.flags & MD_MSG_IN_NEW)
		st->recent++;
	return 0;
}

static int
box_status(struct md_job *job, struct md_txn *t, const char *name,
    struct posta_mailbox_status *st)
{
	struct md_box_info bi;
	struct md_sync_opts o = { 0 };
	int ret = md_box_open_sync(job, t, name, &bi, &o);

	if (ret != 0)
		return ret;
	memset(st, 0, sizeof(*st));
	ret = md_msg_each(t, bi.rec.id, status_add, st);
	st->uidvalidity = bi.rec.uidvalidity;
	st->uidnext = bi.rec.uidnext;
	st->highestmodseq = bi.rec.highestmodseq;
	if (ret == 0 && bi.dirty)
		ret = md_box_store(t, &bi);
	md_box_info_clear(&bi);
	return ret;
}

struct usage_ctx {
	struct md_job *job;
	struct md_txn *t;
	struct posta_user_usage *usage;
};

/* Brings one folder's records (and so the usage counter) up to date. */
static int
usage_add(void *ctx, const char *name)
{
	struct usage_ctx *c = ctx;
	struct md_box_info bi;
	struct md_sync_opts o = { 0 };
	int ret = md_box_open_sync(c->job, c->t, name, &bi, &o);

	free(o.recent);
	if (ret == POSTA_ENOTFOUND)
		return 0;
	if (ret != 0)
		return ret;
	if (bi.dirty)
		ret = md_box_store(c->t, &bi);
	md_box_info_clear(&bi);
	return ret;
}

/* LIST: folders on disk, their parents, subscriptions */
static struct posta_mailbox_info *
list_find(struct user_req *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->n_boxes; i++)
		if (strcmp(r->boxes[i].name, name) == 0)
			return &r->boxes[i];
	return NULL;
}

static int
list_add(struct user_req *r, const char *name, uint32_t attrs)
{
	struct posta_mailbox_info *b = list_find(r, name);

	if (b != NULL) {
		b->attrs &= attrs | ~(uint32_t)POSTA_MBOX_NONEXISTENT;
		b->attrs |= attrs & ~(uint32_t)POSTA_MBOX_NONEXISTENT;
		return 0;
	}
	if (r->n_boxes == r->cap_boxes) {
		size_t cap = r->cap_boxes ? r->cap_boxes * 2 : 16;
		struct posta_mailbox_info *p = realloc(r->boxes,
		    cap * sizeof(*p));

		if (p == NULL)
			return -ENOMEM;
		r->boxes = p;
		r->cap_boxes = cap;
	}
	b = &r->boxes[r->n_boxes];
	b->name = strdup(name);
	if (b->name == NULL)
		return -ENOMEM;
	b->attrs = attrs;
	b->special_use = 0;
	r->n_boxes++;
	return 0;
}

struct list_ctx {
	struct user_req *r;
	struct md_txn *t;
};

static int
list_folder(void *ctx, const char *name)
{
	struct list_ctx *c = ctx;
	struct md_box_info bi;
	int ret = list_add(c->r, name, 0);

	if (ret == 0 && md_box_load(c->t, name, &bi) == 0) {
		list_find(c->r, name)->special_use = bi.rec.special_use;
		md_box_info_clear(&bi);
	}
	return ret;
}

static int
list_sub(void *ctx, const char *name)
{
	return list_add(((struct list_ctx *)ctx)->r, name,
	    POSTA_MBOX_SUBSCRIBED | POSTA_MBOX_NONEXISTENT);
}

static int
cmp_info(const void *a, const void *b)
{
	const struct posta_mailbox_info *x = a, *y = b;

	if (md_mailbox_is_inbox(x->name) != md_mailbox_is_inbox(y->name))
		return md_mailbox_is_inbox(x->name) ? -1 : 1;
	return strcmp(x->name, y->name);
}

static bool
counts_as_child(const struct posta_mailbox_info *b)
{
	/* a name that is only subscribed is nobody's child */
	return !((b->attrs & POSTA_MBOX_NONEXISTENT) &&
	    (b->attrs & POSTA_MBOX_SUBSCRIBED));
}

static int
list_work(struct user_req *r, struct md_txn *t)
{
	struct list_ctx c = { r, t };
	size_t i, n;
	int ret;

	ret = each_folder(r->job.user, list_folder, &c);
	if (ret != 0)
		return ret;
	/* parents that exist only as part of a child's name */
	n = r->n_boxes;
	for (i = 0; i < n && ret == 0; i++) {
		char parent[MD_MAILBOX_MAX + 1], *dot;

		snprintf(parent, sizeof(parent), "%s", r->boxes[i].name);
		while (ret == 0 && (dot = strrchr(parent, '.')) != NULL) {
			*dot = '\0';
			if (list_find(r, parent) == NULL)
				ret = list_add(r, parent,
				    POSTA_MBOX_NONEXISTENT);
		}
	}
	if (ret == 0)
		ret = md_sub_each(t, list_sub, &c);
	if (ret != 0)
		return ret;
	for (i = 0; i < r->n_boxes; i++) {
		size_t j, len = strlen(r->boxes[i].name);

		for (j = 0; j < r->n_boxes; j++)
			if (strncmp(r->boxes[j].name, r->boxes[i].name,
			    len) == 0 && r->boxes[j].name[len] == '.' &&
			    counts_as_child(&r->boxes[j])) {
				r->boxes[i].attrs |= POSTA_MBOX_HAS_CHILDREN;
				break;
			}
	}
	if (r->n_boxes > 1)
		qsort(r->boxes, r->n_boxes, sizeof(*r->boxes), cmp_info);
	return 0;
}

static bool
has_children(struct md_user *u, const char *name)
{
	char dir[MD_NAME_MAX + 2];
	DIR *d;
	struct dirent *de;
	size_t len;
	bool found = false;

	if (md_mailbox_dir(name, dir, sizeof(dir) - 1) < 0)
		return false;
	len = strlen(dir);
	dir[len++] = '.';
	dir[len] = '\0';
	d = opendir(u->path);
	if (d == NULL)
		return false;
	while (!found && (de = readdir(d)) != NULL)
		found = strncmp(de->d_name, dir, len) == 0 &&
		    de->d_name[len] != '\0';
	closedir(d);
	return found;
}

static int
delete_work(struct user_req *r, struct md_txn *t)
{
	struct md_user *u = r->job.user;
	struct md_box_info bi;
	char dir[MD_PATH_MAX], cur[MD_PATH_MAX], rel[MD_NAME_MAX + 1];
	char aside[MD_PATH_MAX];
	bool have_rec;
	int ret;

	if (md_mailbox_is_inbox(r->name))
		return -EPERM;
	if ((ret = md_box_path(u, r->name, NULL, dir, sizeof(dir))) != 0 ||
	    (ret = md_pathf(cur, sizeof(cur), "%s/cur", dir)) != 0)
		return ret;
	have_rec = md_box_load(t, r->name, &bi) == 0;
	if (access(cur, F_OK) != 0) {
		if (!have_rec)
			return POSTA_ENOTFOUND;
	} else {
		if (has_children(u, r->name)) {
			ret = -ENOTEMPTY;
			goto out;
		}
		/* out of the namespace in one step, then removed at leisure */
		md_mailbox_dir(r->name, rel, sizeof(rel));
		if ((ret = md_pathf(aside, sizeof(aside),
		    "%s/posta-deleted.%u.%ld", u->path, (unsigned)getpid(),
		    (long)time(NULL))) != 0)
			goto out;
		if (rename(dir, aside) != 0) {
			ret = -errno;
			goto out;
		}
		if (r->job.store->set.fsync)
			md_fsync_dir(u->path);
		remove_tree(AT_FDCWD, aside);
	}
	if (have_rec) {
		r->box_id = bi.rec.id;
		ret = md_box_delete_rec(t, r->name, bi.rec.id);
		md_job_changed(&r->job, bi.rec.id);
	}
out:
	if (have_rec)
		md_box_info_clear(&bi);
	return ret;
}

/* Moves one message's file and record from one box to another (worker);
   the caller fsyncs the directories. */
static int
move_msg(struct md_job *job, struct md_txn *t, struct md_box_info *from,
    struct md_box_info *to, struct md_msg *m)
{
	struct md_user *u = job->user;
	char src[MD_PATH_MAX], dst[MD_PATH_MAX];
	struct md_msg nm = *m;
	MDB_val meta;
	void *copy = NULL;
	size_t copy_len = 0;
	int ret;

	if ((ret = md_msg_path(u, from->name, m, src, sizeof(src))) != 0 ||
	    (ret = md_msg_path(u, to->name, m, dst, sizeof(dst))) != 0)
		return ret;
	if (rename(src, dst) != 0)
		return errno == ENOENT ? 0 : -errno;	/* gone: skip */
	if (md_meta_get(t, from->rec.id, m->uid, &meta) == 0) {
		copy = malloc(meta.mv_size);
		if (copy == NULL)
			return -ENOMEM;
		memcpy(copy, meta.mv_data, meta.mv_size);
		copy_len = meta.mv_size;
	}
	ret = md_msg_insert(t, to, &nm, copy, copy_len);
	free(copy);
	if (ret == 0)
		ret = md_msg_del(t, from->rec.id, m, ++from->rec.highestmodseq);
	from->dirty = true;
	return ret;
}

struct inbox_move {
	struct md_msg *m;
	size_t n, cap;
};

static int
inbox_collect(void *ctx, const struct md_msg *m)
{
	struct inbox_move *l = ctx;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct md_msg *p = realloc(l->m, cap * sizeof(*p));

		if (p == NULL)
			return -ENOMEM;
		l->m = p;
		l->cap = cap;
	}
	l->m[l->n++] = *m;
	return 0;
}

/* RFC 3501 6.3.5: renaming INBOX moves its messages to a new mailbox */
static int
rename_inbox(struct user_req *r, struct md_txn *t)
{
	struct md_job *job = &r->job;
	struct md_box_info from, to;
	struct md_sync_opts o = { 0 };
	struct inbox_move l = { 0 };
	char path[MD_PATH_MAX];
	size_t i;
	int ret;

	ret = make_folder(job, t, r->to, 0, true);
	if (ret != 0)
		return ret;
	ret = md_box_open_sync(job, t, "INBOX", &from, &o);
	if (ret != 0)
		return ret;
	free(o.recent);
	o.recent = NULL;
	ret = md_box_open_sync(job, t, r->to, &to, &o);
	if (ret != 0) {
		md_box_info_clear(&from);
		return ret;
	}
	ret = md_msg_each(t, from.rec.id, inbox_collect, &l);
	for (i = 0; i < l.n && ret == 0; i++) {
		struct md_msg *m = &l.m[i];

		/* keywords by name: the new box's table starts empty */
		uint64_t kw = 0;
		uint32_t k;

		for (k = 0; k < from.rec.n_kw; k++)
			if (m->rec.kw & ((uint64_t)1 << k)) {
				int idx = md_kw_index(&to, from.kw[k], true,
				    job->store->set.max_keywords);

				if (idx >= 0)
					kw |= (uint64_t)1 << idx;
			}
		m->rec.kw = kw;
		ret = move_msg(job, t, &from, &to, m);
	}
	free(l.m);
	if (ret == 0 && job->store->set.fsync) {
		static const char *const subs[] = { "cur", "new" };

		for (i = 0; i < 2 && ret == 0; i++) {
			if (md_box_path(job->user, r->to, subs[i], path,
			    sizeof(path)) == 0)
				ret = md_fsync_dir(path);
			if (ret == 0 && md_box_path(job->user, "INBOX",
			    subs[i], path, sizeof(path)) == 0)
				ret = md_fsync_dir(path);
		}
	}
	/* the names in kw[] of a full table were dropped: the letters of
	   moved files are rewritten at their next flag change */
	if (ret == 0)
		ret = md_box_store(t, &to);
	if (ret == 0)
		ret = md_box_store(t, &from);
	md_job_changed(job, from.rec.id);
	md_job_changed(job, to.rec.id);
	md_box_info_clear(&from);
	md_box_info_clear(&to);
	return ret;
}

static int
rename_work(struct user_req *r, struct md_txn *t)
{
	struct md_user *u = r->job.user;
	size_t flen = strlen(r->name);
	char from_dir[MD_PATH_MAX], to_dir[MD_PATH_MAX], cur[MD_PATH_MAX];
	struct {
		char from[MD_MAILBOX_MAX + 1], to[MD_MAILBOX_MAX + 1];
	} *list = NULL;
	size_t n = 0, cap = 0, i;
	DIR *d;
	struct dirent *de;
	int ret;

	if (md_mailbox_is_inbox(r->to))
		return POSTA_EEXIST;
	if (strncmp(r->to, r->name, flen) == 0 && r->to[flen] == '.')
		return POSTA_ENAME;	/* under itself */
	if (md_mailbox_is_inbox(r->name))
		return rename_inbox(r, t);
	if ((ret = md_box_path(u, r->to, NULL, to_dir, sizeof(to_dir))) ||
	    (ret = md_pathf(cur, sizeof(cur), "%s/cur", to_dir)))
		return ret;
	if (access(cur, F_OK) == 0)
		return POSTA_EEXIST;
	if ((ret = md_box_path(u, r->name, NULL, from_dir,
	    sizeof(from_dir))) ||
	    (ret = md_pathf(cur, sizeof(cur), "%s/cur", from_dir)))
		return ret;
	if (access(cur, F_OK) != 0)
		return POSTA_ENOTFOUND;
	/* the folder and its children (Maildir++ keeps them side by side) */
	d = opendir(u->path);
	if (d == NULL)
		return -errno;
	while ((de = readdir(d)) != NULL) {
		char name[MD_MAILBOX_MAX + 1];

		if (md_mailbox_from_dir(de->d_name, name, sizeof(name)) < 0 ||
		    strncmp(name, r->name, flen) != 0 ||
		    (name[flen] != '\0' && name[flen] != '.'))
			continue;
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 8;
			void *p = realloc(list, nc * sizeof(*list));

			if (p == NULL) {
				ret = -ENOMEM;
				break;
			}
			list = p;
			cap = nc;
		}
		snprintf(list[n].from, sizeof(list[n].from), "%s", name);
		if (md_pathf(list[n].to, sizeof(list[n].to), "%s%s", r->to,
		    name + flen) != 0 || md_mailbox_canon(list[n].to,
		    list[n].to, sizeof(list[n].to)) < 0) {
			ret = POSTA_ENAME;
			break;
		}
		n++;
	}
	closedir(d);
	for (i = 0; i < n && ret == 0; i++) {
		struct md_box_info bi;

		if ((ret = md_box_path(u, list[i].from, NULL, from_dir,
		    sizeof(from_dir))) != 0 ||
		    (ret = md_box_path(u, list[i].to, NULL, to_dir,
		    sizeof(to_dir))) != 0)
			break;
		if (rename(from_dir, to_dir) != 0) {
			ret = -errno;
			break;
		}
		if (md_box_load(t, list[i].from, &bi) == 0) {
			md_job_changed(&r->job, bi.rec.id);
			md_box_info_clear(&bi);
			ret = md_box_rename_rec(t, list[i].from, list[i].to);
		}
		if (ret == 0 && md_sub_has(t, list[i].from)) {
			ret = md_sub_set(t, list[i].from, false);
			if (ret == 0)
				ret = md_sub_set(t, list[i].to, true);
		}
	}
	if (ret == 0 && r->job.store->set.fsync)
		ret = md_fsync_dir(u->path);
	free(list);
	return ret;
}

/* The index's counter, no folder scan: cheap enough for every RCPT. */
static int
quota_work(struct user_req *r, struct md_txn *t)
{
	struct md_quota q;
	struct posta_user_usage use;
	int ret = md_usage_get(t, &use);

	if (ret != 0)
		return ret;
	md_quota_load(t->u, &q);
	r->quota.messages = use.messages;
	r->quota.bytes = use.bytes;
	r->quota.messages_limit = q.messages;
	r->quota.bytes_limit = q.storage;
	return 0;
}

static void
user_work(struct md_job *job)
{
	struct user_req *r = (struct user_req *)job;
	struct md_txn t;
	int ret;

	ret = md_txn_begin(job->user, &t);
	if (ret != 0) {
		job->err = ret;
		return;
	}
	switch (r->op) {
	case OP_OPEN:
		ret = r->flag ? md_user_setup(job, &t) : 0;
		break;
	case OP_USAGE: {
		struct usage_ctx c = { job, &t, &r->usage };

		/* syncs every folder first (two stat()s each when nothing
		   changed), so foreign changes count; then the counter */
		ret = each_folder(job->user, usage_add, &c);
		if (ret == 0)
			ret = md_usage_get(&t, &r->usage);
		break;
	}
	case OP_LIST:
		ret = list_work(r, &t);
		break;
	case OP_CREATE:
		ret = md_mailbox_is_inbox(r->name) ? POSTA_EEXIST :
		    make_folder(job, &t, r->name, r->special_use, true);
		break;
	case OP_DELETE:
		ret = delete_work(r, &t);
		break;
	case OP_RENAME:
		ret = rename_work(r, &t);
		break;
	case OP_SUBSCRIBE:
		ret = md_sub_set(&t, r->name, r->flag);
		break;
	case OP_STATUS:
		ret = box_status(job, &t, r->name, &r->st);
		break;
	case OP_QUOTA:
		ret = quota_work(r, &t);
		break;
	}
	if (ret == 0)
		ret = md_txn_commit(&t);
	else
		md_txn_abort(&t);
	job->err = ret;
}

static void
handle_release(struct posta_mail_user *h)
{
	if (!h->closed || h->pending > 0)
		return;
	md_user_unref(h->u);
	free(h);
}

static void
user_req_free(struct user_req *r)
{
	size_t i;

	for (i = 0; i < r->n_boxes; i++)
		free((char *)r->boxes[i].name);
	free(r->boxes);
	free(r);
}

static void
user_done(struct md_job *job)
{
	struct user_req *r = (struct user_req *)job;
	struct posta_mail_user *h = r->h;
	int err = job->err;
	bool closed = h != NULL && h->closed;

	switch (r->op) {
	case OP_OPEN: {
		posta_mail_user_cb *cb = r->cb;
		struct posta_mail_user *nh = NULL;

		if (err == 0) {
			nh = calloc(1, sizeof(*nh));
			if (nh == NULL)
				err = -ENOMEM;
		}
		if (err == 0) {
			nh->ops = &md_ops;
			nh->u = job->user;
			md_user_ref(job->user);
			if (r->flag)
				job->user->setup_done = true;
		}
		cb(r->ctx, err, nh);
		break;
	}
	case OP_USAGE:
		((posta_store_usage_cb *)r->cb)(r->ctx, closed ? -ECANCELED :
		    err, err == 0 && !closed ? &r->usage : NULL);
		break;
	case OP_LIST:
		((posta_mailbox_list_cb *)r->cb)(r->ctx, closed ? -ECANCELED :
		    err, err == 0 && !closed ? r->boxes : NULL,
		    err == 0 && !closed ? r->n_boxes : 0);
		break;
	case OP_STATUS:
		((posta_mailbox_status_cb *)r->cb)(r->ctx, closed ?
		    -ECANCELED : err, err == 0 && !closed ? &r->st : NULL);
		break;
	case OP_QUOTA:
		((posta_store_quota_cb *)r->cb)(r->ctx, err,
		    err == 0 ? &r->quota : NULL);
		break;
	case OP_RENAME:
		if (err == 0) {
			/* open views follow their mailbox to its new name */
			struct md_box *b;
			size_t flen = strlen(r->name);

			for (b = job->user->boxes; b != NULL; b = b->next) {
				char nn[MD_MAILBOX_MAX + 1], *dup;

				if (md_mailbox_is_inbox(r->name) ||
				    strncmp(b->name, r->name, flen) != 0 ||
				    (b->name[flen] != '\0' &&
				    b->name[flen] != '.'))
					continue;
				if (md_pathf(nn, sizeof(nn), "%s%s", r->to,
				    b->name + flen) != 0 ||
				    (dup = strdup(nn)) == NULL)
					continue;
				free(b->name);
				b->name = dup;
			}
		}
		/* fall through */
	case OP_CREATE:
	case OP_DELETE:
	case OP_SUBSCRIBE:
		/* the change is made: report it even to a closed session */
		((posta_store_done_cb *)r->cb)(r->ctx, err);
		break;
	}
	if (h != NULL) {
		h->pending--;
		handle_release(h);
	}
	user_req_free(r);
}

static struct user_req *
req_new(struct posta_mail_user *h, enum user_op op, void *cb, void *ctx)
{
	struct user_req *r;

	if (h != NULL && h->closed)
		return NULL;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	r->op = op;
	r->h = h;
	r->cb = cb;
	r->ctx = ctx;
	r->job.work_fn = user_work;
	r->job.done_fn = user_done;
	return r;
}

static int
req_submit(struct user_req *r, struct md_user *u)
{
	if (r->h != NULL)
		r->h->pending++;
	return md_job_serial(u, &r->job);
}

static int
canon_into(char *out, size_t size, const char *name)
{
	return md_mailbox_canon(name, out, size) < 0 ? POSTA_ENAME : 0;
}

/* A request about an account that has no session (open, quota). */
static int
account_req(void *state, const char *account, enum user_op op, void *cb,
    void *ctx)
{
	struct md_store *s = state;
	struct user_req *r;
	struct md_user *u;
	int err = 0;

	if (s->closing)
		return -ECANCELED;
	u = md_user_get(s, account, &err);
	if (u == NULL)
		return err;
	r = req_new(NULL, op, cb, ctx);
	if (r == NULL) {
		md_user_unref(u);
		return -ENOMEM;
	}
	r->flag = op == OP_OPEN && !u->setup_done;
	req_submit(r, u);
	md_user_unref(u);	/* the job holds its own reference */
	return 0;
}

int
md_op_user_open(void *state, const char *account, posta_mail_user_cb *cb,
    void *ctx)
{
	return account_req(state, account, OP_OPEN, (void *)cb, ctx);
}

int
md_op_quota(void *state, const char *account, posta_store_quota_cb *cb,
    void *ctx)
{
	return account_req(state, account, OP_QUOTA, (void *)cb, ctx);
}

void
md_op_user_close(struct posta_mail_user *h)
{
	h->closed = true;
	handle_release(h);
}

int
md_op_user_usage(struct posta_mail_user *h, posta_store_usage_cb *cb,
    void *ctx)
{
	struct user_req *r = req_new(h, OP_USAGE, (void *)cb, ctx);

	if (r == NULL)
		return h->closed ? -EINVAL : -ENOMEM;
	return req_submit(r, h->u);
}

int
md_op_list(struct posta_mail_user *h, posta_mailbox_list_cb *cb, void *ctx)
{
	struct user_req *r = req_new(h, OP_LIST, (void *)cb, ctx);

	if (r == NULL)
		return h->closed ? -EINVAL : -ENOMEM;
	return req_submit(r, h->u);
}

int
md_op_create(struct posta_mail_user *h, const char *name,
    uint32_t special_use, posta_store_done_cb *cb, void *ctx)
{
	struct user_req *r = req_new(h, OP_CREATE, (void *)cb, ctx);

	if (r == NULL)
		return h->closed ? -EINVAL : -ENOMEM;
	if (canon_into(r->name, sizeof(r->name), name) != 0 ||
	    (special_use & ~(uint32_t)0x7f) != 0) {
		user_req_free(r);
		return POSTA_ENAME;
	}
	r->special_use = special_use;
	return req_submit(r, h->u);
}

int
md_op_delete(struct posta_mail_user *h, const char *name,
    posta_store_done_cb *cb, void *ctx)
{
	struct user_req *r = req_new(h, OP_DELETE, (void *)cb, ctx);

	if (r == NULL)
		return h->closed ? -EINVAL : -ENOMEM;
	if (canon_into(r->name, sizeof(r->name), name) != 0) {
		user_req_free(r);
		return POSTA_ENAME;
	}
	return req_submit(r, h->u);
}

int
md_op_rename(struct posta_mail_user *h, const char *from, const char *to,
    posta_store_done_cb *cb, void *ctx)
{
	struct user_req *r = req_new(h, OP_RENAME, (void *)cb, ctx);

	if (r == NULL)
		return h->closed ? -EINVAL : -ENOMEM;
	if (canon_into(r->name, sizeof(r->name), from) != 0 ||
	    canon_into(r->to, sizeof(r->to), to) != 0) {
		user_req_free(r);
		return POSTA_ENAME;
	}
	return req_submit(r, h->u);
}

int
md_op_subscribe(struct posta_mail_user *h, const char *name, bool subscribe,
    posta_store_done_cb *cb, void *ctx)
{
	struct user_req *r = req_new(h, OP_SUBSCRIBE, (void *)cb, ctx);

	if (r == NULL)
		return h->closed ? -EINVAL : -ENOMEM;
	if (canon_into(r->name, sizeof(r->name), name) != 0) {
		user_req_free(r);
		return POSTA_ENAME;
	}
	r->flag = subscribe;
	return req_submit(r, h->u);
}

int
md_op_status(struct posta_mail_user *h, const char *name,
    posta_mailbox_status_cb *cb, void *ctx)
{
	struct user_req *r = req_new(h, OP_STATUS, (void *)cb, ctx);

	if (r == NULL)
		return h->closed ? -EINVAL : -ENOMEM;
	if (canon_into(r->name, sizeof(r->name), name) != 0) {
		user_req_free(r);
		return POSTA_ENAME;
	}
	return req_submit(r, h->u);
}
