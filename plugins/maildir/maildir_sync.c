/* maildir_sync.c: bringing a mailbox's index in line with its Maildir */
#include "config.h"

#include <dirent.h>
#include <stdarg.h>
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
 * The Maildir is the truth about which messages exist and their system
 * flags; other programs (procmail, mutt, another server) may add, remove
 * and rename files at any time.  A sync compares the files in new/ and
 * cur/ with the index, by base name (the part before ':', which never
 * changes):
 *   - a file the index lacks is a new message: it gets the next UID, in
 *     arrival order (the time in its name, then the name);
 *   - an indexed message whose file is gone is expunged (tombstoned with
 *     a modseq for QRESYNC); its UID is never handed out again, because
 *     UIDNEXT only grows;
 *   - a file whose flag letters changed updates the flags, with a modseq.
 * The directories' mtimes are remembered so an unchanged mailbox costs
 * two stat() calls.  readdir() may miss a file renamed while it runs, so a
 * scan is repeated when the mtimes moved during it.
 *
 * Crash safety.  We fsync a message and its directory before we tell
 * anyone about it, then update the index; a crash in between leaves a
 * file the index lacks, which the next sync adopts (its flags are in its
 * name and its internal date in its mtime).  Files in tmp/ from an
 * earlier run (our names, md_tmp_is_stale()) or older than tmp_max_age
 * are removed at the first sync of each mailbox.
 *
 * UIDVALIDITY.  A mailbox's UIDVALIDITY is chosen when its record is
 * created and stays in the index.  It is also written to the folder's
 * posta-uidvalidity file.  When the index is lost or rebuilt, a folder
 * with that file gets a fresh UIDVALIDITY greater than the one recorded
 * (clients then resync it: the messages may get other UIDs), and a folder
 * without it that holds Dovecot's dovecot-uidlist takes Dovecot's
 * UIDVALIDITY and UIDs (migration; dovecot_import setting).  Only that
 * first import trusts the uidlist: after Posta has handed out UIDs of its
 * own, the old list no longer describes them.
 */

int
md_pathf(char *out, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, size, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size) {
		if (size > 0)
			out[0] = '\0';
		return -ENAMETOOLONG;
	}
	return 0;
}

int
md_box_path(const struct md_user *u, const char *name, const char *sub,
    char *out, size_t size)
{
	char dir[MD_NAME_MAX + 1];
	int ret = md_mailbox_dir(name, dir, sizeof(dir));

	if (ret < 0)
		return ret;
	ret = snprintf(out, size, "%s%s%s%s%s", u->path, dir[0] ? "/" : "",
	    dir, sub != NULL ? "/" : "", sub != NULL ? sub : "");
	if (ret < 0 || (size_t)ret >= size)
		return -ENAMETOOLONG;
	return 0;
}

int
md_msg_path(const struct md_user *u, const char *box, const struct md_msg *m,
    char *out, size_t size)
{
	char dir[4096];
	int ret = md_box_path(u, box, (m->rec.flags & MD_MSG_IN_NEW) ?
	    "new" : "cur", dir, sizeof(dir));

	if (ret != 0)
		return ret;
	ret = snprintf(out, size, "%s/%s", dir, m->name);
	if (ret < 0 || (size_t)ret >= size)
		return -ENAMETOOLONG;
	return 0;
}

int
md_fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int ret = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) != 0)
		ret = -errno;
	close(fd);
	return ret;
}

/* mkdir -p, mode 0700 */
static int
mkdir_parents(char *path)
{
	char *p;

	if (mkdir(path, 0700) == 0 || errno == EEXIST)
		return 0;
	if (errno != ENOENT)
		return -errno;
	p = strrchr(path, '/');
	if (p == NULL || p == path)
		return -ENOENT;
	*p = '\0';
	{
		int ret = mkdir_parents(path);

		*p = '/';
		if (ret != 0)
			return ret;
	}
	if (mkdir(path, 0700) != 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int
md_mkdir_maildir(const char *path, bool fsync_parent)
{
	static const char *const subs[] = { "tmp", "new", "cur" };
	char buf[4096];
	size_t i;
	int ret;
	bool made = false;

	if (snprintf(buf, sizeof(buf), "%s/cur", path) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	if (access(buf, F_OK) == 0)
		return 0;
	strcpy(buf, path);
	ret = mkdir_parents(buf);
	if (ret != 0)
		return ret;
	for (i = 0; i < 3; i++) {
		snprintf(buf, sizeof(buf), "%s/%s", path, subs[i]);
		if (mkdir(buf, 0700) == 0)
			made = true;
		else if (errno != EEXIST)
			return -errno;
	}
	if (made && fsync_parent) {
		/* the new directories must survive a crash: sync them and
		   the Maildir that holds them */
		ret = md_fsync_dir(path);
		if (ret == 0) {
			char *slash;

			strcpy(buf, path);
			slash = strrchr(buf, '/');
			if (slash != NULL && slash != buf) {
				*slash = '\0';
				ret = md_fsync_dir(buf);
			}
		}
		if (ret != 0)
			return ret;
	}
	return 0;
}

/* ---- tmp/ cleaning ---- */

static void
clean_tmp(struct md_job *job, const struct md_box_info *bi)
{
	struct md_user *u = job->user;
	struct md_store *s = job->store;
	char path[4096];
	DIR *d;
	struct dirent *de;
	time_t now = time(NULL);
	size_t i;

	for (i = 0; i < u->n_cleaned; i++)
		if (u->cleaned[i] == bi->rec.id)
			return;
	if (u->n_cleaned == u->cap_cleaned) {
		size_t cap = u->cap_cleaned ? u->cap_cleaned * 2 : 8;
		uint32_t *p = realloc(u->cleaned, cap * sizeof(*p));

		if (p == NULL)
			return;		/* try again at the next sync */
		u->cleaned = p;
		u->cap_cleaned = cap;
	}
	u->cleaned[u->n_cleaned++] = bi->rec.id;
	if (md_box_path(u, bi->name, "tmp", path, sizeof(path)) != 0)
		return;
	d = opendir(path);
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		if (md_tmp_is_stale(de->d_name, s->start, s->pid)) {
			unlinkat(dirfd(d), de->d_name, 0);
			continue;
		}
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) ==
		    0 && S_ISREG(st.st_mode) &&
		    (uint64_t)(now - st.st_mtime) * 1000 > s->set.tmp_max_age)
			unlinkat(dirfd(d), de->d_name, 0);
	}
	closedir(d);
}

/* ---- scanning ---- */

struct disk_entry {
	char *name;
	size_t base_len;
	bool in_new;
	bool seen;
	uint64_t sec;
	uint32_t usec;
	uint32_t dovecot_uid;
};

struct scan {
	struct disk_entry *e;
	size_t n, cap;
};

static void
scan_free(struct scan *sc)
{
	size_t i;

	for (i = 0; i < sc->n; i++)
		free(sc->e[i].name);
	free(sc->e);
	memset(sc, 0, sizeof(*sc));
}

static int
scan_dir(struct scan *sc, const char *path, bool in_new)
{
	DIR *d = opendir(path);
	struct dirent *de;

	if (d == NULL)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d)) != NULL) {
		struct disk_entry *e;

		if (de->d_name[0] == '.' || strlen(de->d_name) > MD_NAME_MAX)
			continue;
		if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN &&
		    de->d_type != DT_LNK)
			continue;
		if (sc->n == sc->cap) {
			size_t cap = sc->cap ? sc->cap * 2 : 64;
			struct disk_entry *p = realloc(sc->e,
			    cap * sizeof(*p));

			if (p == NULL) {
				closedir(d);
				return -ENOMEM;
			}
			sc->e = p;
			sc->cap = cap;
		}
		e = &sc->e[sc->n];
		memset(e, 0, sizeof(*e));
		e->name = strdup(de->d_name);
		if (e->name == NULL) {
			closedir(d);
			return -ENOMEM;
		}
		e->base_len = md_name_base_len(e->name);
		e->in_new = in_new;
		md_name_arrival(e->name, &e->sec, &e->usec);
		sc->n++;
	}
	closedir(d);
	return 0;
}

static int
cmp_base(const void *a, const void *b)
{
	const struct disk_entry *x = a, *y = b;
	size_t n = x->base_len < y->base_len ? x->base_len : y->base_len;
	int c = memcmp(x->name, y->name, n);

	if (c != 0)
		return c;
	if (x->base_len != y->base_len)
		return x->base_len < y->base_len ? -1 : 1;
	/* the same message in cur/ and new/: cur/ first, the one kept */
	return (int)x->in_new - (int)y->in_new;
}

static struct disk_entry *
scan_find(struct scan *sc, const char *name)
{
	struct disk_entry key = { 0 };
	size_t lo = 0, hi = sc->n;

	key.name = (char *)name;
	key.base_len = md_name_base_len(name);
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		struct disk_entry *e = &sc->e[mid];
		size_t n = e->base_len < key.base_len ? e->base_len :
		    key.base_len;
		int c = memcmp(e->name, name, n);

		if (c == 0 && e->base_len != key.base_len)
			c = e->base_len < key.base_len ? -1 : 1;
		if (c == 0) {
			/* the first of a base listed twice (cur/ sorts
			   first): the others are duplicates */
			while (mid > 0 && sc->e[mid - 1].base_len ==
			    key.base_len && memcmp(sc->e[mid - 1].name, name,
			    key.base_len) == 0)
				mid--;
			return &sc->e[mid];
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static int64_t
mtime_ns(const struct stat *st)
{
	return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

/* Reads new/ and cur/, again if either changed meanwhile (3 tries). */
static int
scan_box(struct md_user *u, const char *name, struct scan *sc,
    int64_t *new_ns, int64_t *cur_ns)
{
	char pn[4096], pc[4096];
	struct stat a1, b1, a2, b2;
	int tries, ret;

	if (md_box_path(u, name, "new", pn, sizeof(pn)) != 0 ||
	    md_box_path(u, name, "cur", pc, sizeof(pc)) != 0)
		return -ENAMETOOLONG;
	for (tries = 0; tries < 3; tries++) {
		if (stat(pn, &a1) != 0 || stat(pc, &b1) != 0)
			return errno == ENOENT ? POSTA_ENOTFOUND : -errno;
		scan_free(sc);
		if ((ret = scan_dir(sc, pc, false)) != 0 ||
		    (ret = scan_dir(sc, pn, true)) != 0)
			return ret;
		if (stat(pn, &a2) != 0 || stat(pc, &b2) != 0)
			return errno == ENOENT ? POSTA_ENOTFOUND : -errno;
		if (mtime_ns(&a1) == mtime_ns(&a2) &&
		    mtime_ns(&b1) == mtime_ns(&b2))
			break;
	}
	*new_ns = mtime_ns(&a2);
	*cur_ns = mtime_ns(&b2);
	/* a change within the clock's granularity may hide behind an equal
	   mtime: do not trust a very recent one */
	{
		int64_t now = (int64_t)time(NULL) * 1000000000;

		if (now - *new_ns < 2000000000LL ||
		    now - *cur_ns < 2000000000LL)
			*new_ns = *cur_ns = 0;
	}
	if (sc->n > 0)
		qsort(sc->e, sc->n, sizeof(*sc->e), cmp_base);
	return 0;
}

/* ---- applying ---- */

struct msg_list {
	struct md_msg *m;
	size_t n, cap;
};

static int
collect(void *ctx, const struct md_msg *m)
{
	struct msg_list *l = ctx;

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

static uint64_t
letters_mask(const struct md_box_info *bi)
{
	uint32_t n = bi->rec.n_kw < MD_KEYWORD_LETTERS ? bi->rec.n_kw :
	    MD_KEYWORD_LETTERS;

	return n == 0 ? 0 : ((uint64_t)1 << n) - 1;
}

/* Flags and letter keywords of an indexed message from its file name. */
static bool
apply_name(const struct md_box_info *bi, struct md_msg *m,
    const struct disk_entry *e)
{
	uint32_t flags, kw;
	uint32_t old_flags = m->rec.flags & POSTA_FLAGS_STORED;
	uint64_t old_kw = m->rec.kw, mask = letters_mask(bi);

	md_name_flags(e->name, &flags, &kw);
	m->rec.flags = (m->rec.flags & ~(POSTA_FLAGS_STORED | MD_MSG_IN_NEW)) |
	    flags | (e->in_new ? MD_MSG_IN_NEW : 0);
	/* letters past the keyword table name nothing; keywords past z
	   live only in the index */
	m->rec.kw = (m->rec.kw & ~(uint64_t)0x3ffffff) | (kw & mask);
	snprintf(m->name, sizeof(m->name), "%s", e->name);
	return old_flags != flags || old_kw != m->rec.kw;
}

static int
cmp_arrival(const void *a, const void *b)
{
	const struct disk_entry *x = *(const struct disk_entry *const *)a;
	const struct disk_entry *y = *(const struct disk_entry *const *)b;

	/* Dovecot's UIDs first, in their order; then arrival time */
	if ((x->dovecot_uid != 0) != (y->dovecot_uid != 0))
		return x->dovecot_uid != 0 ? -1 : 1;
	if (x->dovecot_uid != y->dovecot_uid)
		return x->dovecot_uid < y->dovecot_uid ? -1 : 1;
	if (x->sec != y->sec)
		return x->sec < y->sec ? -1 : 1;
	if (x->usec != y->usec)
		return x->usec < y->usec ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* Indexes one file found on disk. */
static int
adopt(struct md_job *job, struct md_txn *t, struct md_box_info *bi,
    const struct disk_entry *e, const char *dir, uint32_t ul_next)
{
	struct md_msg m;
	char path[4096];
	struct stat st;
	void *blob = NULL;
	size_t blob_len = 0;
	uint64_t w;
	uint32_t flags, kw;
	int fd, ret;

	memset(&m, 0, sizeof(m));
	if (snprintf(path, sizeof(path), "%s/%s", dir, e->name) >=
	    (int)sizeof(path))
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return 0;	/* gone meanwhile: the next sync sees it */
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return 0;
	}
	m.rec.raw_size = (uint64_t)st.st_size;
	m.rec.internal_date = (int64_t)st.st_mtime;
	if (md_name_size(e->name, 'W', &w) && w >= m.rec.raw_size &&
	    w <= m.rec.raw_size * 2) {
		/* Dovecot and Posta record the CRLF size in the name:
		   parse later, when a client first asks */
		m.rec.size = w;
		m.rec.header_size = UINT64_MAX;
	} else {
		ret = md_parse_file(fd, &blob, &blob_len, &m.rec.size,
		    &m.rec.raw_size, &m.rec.header_size, &m.rec.body_lines);
		if (ret != 0) {
			close(fd);
			return ret == -ENOMEM ? ret : 0;
		}
	}
	close(fd);
	md_name_flags(e->name, &flags, &kw);
	m.rec.flags = flags | (e->in_new ? MD_MSG_IN_NEW : 0);
	m.rec.kw = kw & letters_mask(bi);
	snprintf(m.name, sizeof(m.name), "%s", e->name);
	if (e->dovecot_uid >= bi->rec.uidnext)
		bi->rec.uidnext = e->dovecot_uid;
	else if (e->dovecot_uid == 0 && ul_next > bi->rec.uidnext)
		bi->rec.uidnext = ul_next;	/* after Dovecot's last */
	ret = md_msg_insert(t, bi, &m, blob, blob_len);
	free(blob);
	if (ret == 0)
		md_job_changed(job, bi->rec.id);
	return ret;
}

static int
sync_scan(struct md_job *job, struct md_txn *t, struct md_box_info *bi,
    bool force, const struct md_dovecot_uidlist *ul)
{
	struct md_user *u = job->user;
	struct scan sc = { 0 };
	struct msg_list l = { 0 };
	struct disk_entry **fresh = NULL;
	size_t i, n_fresh = 0;
	int64_t new_ns = 0, cur_ns = 0;
	char pn[4096], pc[4096];
	struct stat a, b;
	int ret;

	if (md_box_path(u, bi->name, "new", pn, sizeof(pn)) != 0 ||
	    md_box_path(u, bi->name, "cur", pc, sizeof(pc)) != 0)
		return -ENAMETOOLONG;
	if (!force && stat(pn, &a) == 0 && stat(pc, &b) == 0 &&
	    bi->rec.new_mtime_ns != 0 &&
	    bi->rec.new_mtime_ns == mtime_ns(&a) &&
	    bi->rec.cur_mtime_ns == mtime_ns(&b))
		return 0;
	ret = scan_box(u, bi->name, &sc, &new_ns, &cur_ns);
	if (ret != 0)
		goto out;
	ret = md_msg_each(t, bi->rec.id, collect, &l);
	if (ret != 0)
		goto out;
	for (i = 0; i < l.n; i++) {
		struct md_msg *m = &l.m[i];
		struct disk_entry *e = scan_find(&sc, m->name);

		if (e == NULL || e->seen) {
			ret = md_msg_del(t, bi->rec.id, m,
			    ++bi->rec.highestmodseq);
			bi->dirty = true;
			md_job_changed(job, bi->rec.id);
		} else {
			e->seen = true;
			if (strcmp(e->name, m->name) == 0 &&
			    e->in_new == !!(m->rec.flags & MD_MSG_IN_NEW))
				continue;
			if (apply_name(bi, m, e)) {
				m->rec.modseq = ++bi->rec.highestmodseq;
				bi->dirty = true;
				md_job_changed(job, bi->rec.id);
			}
			ret = md_msg_put(t, bi->rec.id, m);
		}
		if (ret != 0)
			goto out;
	}
	/* the rest are new; of one base in cur/ and new/ only the first */
	fresh = malloc((sc.n + 1) * sizeof(*fresh));
	if (fresh == NULL) {
		ret = -ENOMEM;
		goto out;
	}
	for (i = 0; i < sc.n; i++) {
		struct disk_entry *e = &sc.e[i];

		if (e->seen || (i > 0 && sc.e[i - 1].base_len == e->base_len &&
		    memcmp(sc.e[i - 1].name, e->name, e->base_len) == 0))
			continue;
		if (ul != NULL)
			e->dovecot_uid = md_dovecot_uid_of(ul, e->name,
			    e->base_len);
		fresh[n_fresh++] = e;
	}
	if (n_fresh > 1)
		qsort(fresh, n_fresh, sizeof(*fresh), cmp_arrival);
	for (i = 0; i < n_fresh; i++) {
		ret = adopt(job, t, bi, fresh[i], fresh[i]->in_new ? pn : pc,
		    ul != NULL ? ul->nextuid : 0);
		if (ret != 0)
			goto out;
	}
	if (ul != NULL && ul->nextuid > bi->rec.uidnext)
		bi->rec.uidnext = ul->nextuid;
	bi->rec.new_mtime_ns = new_ns;
	bi->rec.cur_mtime_ns = cur_ns;

	bi->dirty = true;
out:
	free(fresh);
	free(l.m);
	scan_free(&sc);
	return ret;
}

/* Moves the messages still in new/ to cur/: they are \Recent to the
   view that claims them (Maildir's meaning of new/). */
static int
claim_recent(struct md_job *job, struct md_txn *t, struct md_box_info *bi,
    struct md_sync_opts *o)
{
	struct md_user *u = job->user;
	struct msg_list l = { 0 };
	char from[4096], to[4096], name[MD_NAME_MAX + 1];
	size_t i, n = 0;
	int ret;

	ret = md_msg_each(t, bi->rec.id, collect, &l);
	if (ret != 0)
		goto out;
	for (i = 0; i < l.n; i++)
		if (l.m[i].rec.flags & MD_MSG_IN_NEW)
			n++;
	if (n == 0)
		goto out;
	o->recent = malloc(n * sizeof(*o->recent));
	if (o->recent == NULL) {
		ret = -ENOMEM;
		goto out;
	}
	for (i = 0; i < l.n; i++) {
		struct md_msg *m = &l.m[i];
		uint32_t flags, kw;

		if (!(m->rec.flags & MD_MSG_IN_NEW))
			continue;
		o->recent[o->n_recent++] = m->uid;
		md_name_flags(m->name, &flags, &kw);
		if (md_name_set_flags(m->name, flags, kw, name,
		    sizeof(name)) < 0 ||
		    md_msg_path(u, bi->name, m, from, sizeof(from)) != 0)
			continue;
		m->rec.flags &= ~MD_MSG_IN_NEW;
		snprintf(m->name, sizeof(m->name), "%s", name);
		if (md_msg_path(u, bi->name, m, to, sizeof(to)) != 0)
			continue;
		if (rename(from, to) != 0)
			continue;	/* someone else moved it: next sync */
		ret = md_msg_put(t, bi->rec.id, m);
		if (ret != 0)
			goto out;
	}
out:
	free(l.m);
	return ret;
}

int
md_sync_box(struct md_job *job, struct md_txn *t, struct md_box_info *bi,
    struct md_sync_opts *o)
{
	int ret;

	if (!o->no_scan) {
		clean_tmp(job, bi);
		ret = sync_scan(job, t, bi, o->force, NULL);
	} else {
		ret = 0;
	}
	if (ret == 0 && o->claim_recent)
		ret = claim_recent(job, t, bi, o);
	return ret;
}

/* ---- creating a box record from the disk ---- */

static int
read_uidv_marker(const char *dir, uint32_t *v_r)
{
	char path[4096], *buf;
	size_t len;
	unsigned long v;
	int ret;

	if (snprintf(path, sizeof(path), "%s/" MD_UIDV_FILE, dir) >=
	    (int)sizeof(path))
		return -ENAMETOOLONG;
	ret = md_read_small_file(path, 64, &buf, &len);
	if (ret != 0)
		return ret;
	v = strtoul(buf, NULL, 10);
	free(buf);
	*v_r = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
	return 0;
}

static int
write_uidv_marker(const char *dir, uint32_t v, bool do_fsync)
{
	char path[4096], tmp[4096], buf[32];
	int fd, len, ret = 0;

	if (snprintf(path, sizeof(path), "%s/" MD_UIDV_FILE, dir) >=
	    (int)sizeof(path) ||
	    snprintf(tmp, sizeof(tmp), "%s/tmp/" MD_UIDV_FILE ".%u", dir,
	    (unsigned)getpid()) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	len = snprintf(buf, sizeof(buf), "%u\n", (unsigned)v);
	if (write(fd, buf, (size_t)len) != len ||
	    (do_fsync && fsync(fd) != 0))
		ret = -errno;
	close(fd);
	if (ret == 0 && rename(tmp, path) != 0)
		ret = -errno;
	if (ret != 0)
		unlink(tmp);
	return ret;
}

static int
add_keyword(void *ctx, unsigned idx, const char *name)
{
	struct md_box_info *bi = ctx;

	/* only a table that is dense from 0 keeps the letters' meaning */
	if (idx != bi->rec.n_kw || idx >= POSTA_STORE_KEYWORDS_MAX)
		return 0;
	bi->kw[idx] = strdup(name);
	if (bi->kw[idx] == NULL)
		return -ENOMEM;
	bi->rec.n_kw++;
	return 0;
}

static int
box_open_sync(struct md_job *job, struct md_txn *t, const char *name,
    struct md_box_info *bi, struct md_sync_opts *o)
{
	struct md_user *u = job->user;
	struct md_store *s = job->store;
	struct md_dovecot_uidlist ul = { 0 }, *ulp = NULL;
	char dir[4096], path[4096], *buf;
	size_t len;
	uint32_t old = 0;
	bool created, have_marker;
	int ret;

	ret = md_box_load(t, name, bi);
	if (ret == 0) {
		ret = md_sync_box(job, t, bi, o);
		if (ret == POSTA_ENOTFOUND) {
			/* removed behind our back: forget it */
			md_box_delete_rec(t, name, bi->rec.id);
			md_job_changed(job, bi->rec.id);
		}
		return ret;
	}
	if (ret != POSTA_ENOTFOUND)
		return ret;
	if ((ret = md_box_path(u, name, NULL, dir, sizeof(dir))) != 0)
		return ret;
	if (md_mailbox_is_inbox(name)) {
		ret = md_mkdir_maildir(dir, s->set.fsync);
		if (ret != 0)
			return ret;
	} else {
		if (md_pathf(path, sizeof(path), "%s/cur", dir) != 0 ||
		    access(path, F_OK) != 0)
			return POSTA_ENOTFOUND;
		/* a folder made by hand may lack new/ or tmp/ */
		ret = md_mkdir_maildir(dir, s->set.fsync);
		if (ret != 0)
			return ret;
	}
	ret = md_box_ensure(t, name, true, bi, &created);
	if (ret != 0)
		return ret;
	have_marker = read_uidv_marker(dir, &old) == 0;
	if (!have_marker && s->set.dovecot_import) {
		if (md_pathf(path, sizeof(path), "%s/dovecot-uidlist",
		    dir) == 0 &&
		    md_read_small_file(path, 256u << 20, &buf, &len) == 0) {
			if (md_dovecot_parse_uidlist(buf, len, &ul) == 0)
				ulp = &ul;
			free(buf);
		}
	}
	/* Dovecot's table, or ours from before the index was lost */
	if (ulp != NULL || have_marker) {
		if (md_pathf(path, sizeof(path), "%s/dovecot-keywords",
		    dir) == 0 &&
		    md_read_small_file(path, 1u << 20, &buf, &len) == 0) {
			ret = md_dovecot_parse_keywords(buf, len, add_keyword,
			    bi);
			free(buf);
			if (ret != 0)
				goto out;
		}
	}
	if (ulp != NULL) {
		bi->rec.uidvalidity = ul.uidvalidity;
		(void)md_new_uidvalidity(t, 0);	/* keeps last_ monotonic */
		u->imported_boxes++;
		u->imported_uids += ul.n;
	} else {
		bi->rec.uidvalidity = md_new_uidvalidity(t,
		    have_marker && old < UINT32_MAX ? old + 1 : 0);
	}
	ret = write_uidv_marker(dir, bi->rec.uidvalidity, s->set.fsync);
	if (ret != 0)
		goto out;
	clean_tmp(job, bi);
	ret = sync_scan(job, t, bi, true, ulp);
	if (ret == 0 && o->claim_recent)
		ret = claim_recent(job, t, bi, o);
	if (ret == 0)
		ret = md_box_store(t, bi);
out:
	md_dovecot_uidlist_free(&ul);
	return ret;
}

int
md_box_open_sync(struct md_job *job, struct md_txn *t, const char *name,
    struct md_box_info *bi, struct md_sync_opts *o)
{
	int ret = box_open_sync(job, t, name, bi, o);

	/* callers own bi and o->recent only on success: a record loaded
	   before the sync found the folder gone (or any later failure) is
	   freed here */
	if (ret != 0) {
		md_box_info_clear(bi);
		free(o->recent);
		o->recent = NULL;
		o->n_recent = 0;
	}
	return ret;
}
