/* maildir.c: the maildir plugin's descriptor, settings, jobs and user table */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "maildir.h"

#define OFF(f) offsetof(struct md_settings, f)

static const struct posta_setting md_setting_table[] = {
	{ "mail_root", POSTA_SET_STRING, OFF(mail_root), 0, 0, NULL, NULL },
	{ "fsync", POSTA_SET_BOOL, OFF(fsync), 0, 0, "yes", NULL },
	{ "index_idle_timeout", POSTA_SET_DURATION, OFF(index_idle_timeout),
	    1000, 86400000, "60s", NULL },
	{ "index_map_size", POSTA_SET_SIZE, OFF(index_map_size),
	    1 << 20, INT64_MAX, "1G", NULL },
	{ "max_message_size", POSTA_SET_SIZE, OFF(max_message_size),
	    0, INT64_MAX, "64M", NULL },
	{ "tmp_max_age", POSTA_SET_DURATION, OFF(tmp_max_age),
	    60000, INT64_MAX, "36h", NULL },
	{ "max_keywords", POSTA_SET_INT, OFF(max_keywords),
	    0, POSTA_STORE_KEYWORDS_MAX, "64", NULL },
	{ "dovecot_import", POSTA_SET_BOOL, OFF(dovecot_import), 0, 0, "yes",
	    NULL },
	{ "folder_drafts", POSTA_SET_STRING, OFF(folder_drafts), 0, 0,
	    "Drafts", NULL },
	{ "folder_sent", POSTA_SET_STRING, OFF(folder_sent), 0, 0, "Sent",
	    NULL },
	{ "folder_trash", POSTA_SET_STRING, OFF(folder_trash), 0, 0, "Trash",
	    NULL },
	{ "folder_junk", POSTA_SET_STRING, OFF(folder_junk), 0, 0, "Junk",
	    NULL },
	{ "folder_archive", POSTA_SET_STRING, OFF(folder_archive), 0, 0, "",
	    NULL },
	{ "quota_storage", POSTA_SET_SIZE, OFF(quota_storage),
	    0, INT64_MAX, "0", NULL },
	{ "quota_messages", POSTA_SET_INT, OFF(quota_messages),
	    0, INT64_MAX, "0", NULL },
	POSTA_SETTINGS_END
};

/* ---- deferred calls ---- */

static void store_maybe_free(struct md_store *s);

static void
defer_run(uv_idle_t *idle)
{
	struct md_store *s = idle->data;
	struct md_defer *d = s->defer_head;

	/* calls queued by these calls wait for the next loop iteration */
	s->defer_head = s->defer_tail = NULL;
	uv_idle_stop(&s->idle);
	while (d != NULL) {
		struct md_defer *next = d->next;

		d->queued = false;
		d->next = NULL;
		d->fn(d);
		d = next;
	}
	/* a deferred delivery step may have been the last thing to wait
	   for */
	store_maybe_free(s);
}

void
md_defer(struct md_store *s, struct md_defer *d, void (*fn)(struct md_defer *))
{
	if (d->queued)
		return;
	d->fn = fn;
	d->next = NULL;
	d->queued = true;
	if (s->defer_tail != NULL)
		s->defer_tail->next = d;
	else
		s->defer_head = d;
	s->defer_tail = d;
	uv_idle_start(&s->idle, defer_run);
}

/* ---- errors ---- */

int
md_error(int e)
{
	switch (e) {
	case 0:
		return 0;
	case MDB_NOTFOUND:
		return POSTA_ENOTFOUND;
	case MDB_KEYEXIST:
		return POSTA_EEXIST;
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_INVALID:
	case MDB_VERSION_MISMATCH:
	case MDB_BAD_TXN:
		return POSTA_ECORRUPT;
	case MDB_MAP_FULL:
	case MDB_MAP_RESIZED:
	case MDB_READERS_FULL:
	case MDB_TXN_FULL:
	case MDB_CURSOR_FULL:
	case MDB_PAGE_FULL:
	case MDB_DBS_FULL:
		return POSTA_ETEMP;
	default:
		break;
	}
	if (e > 0 && e < 10000)
		return -e;
	if (e < 0)
		return e;
	return POSTA_ETEMP;
}

/* ---- jobs ---- */

static void store_maybe_free(struct md_store *s);
static void user_start(struct md_user *u);
static void install_pending(struct md_store *s);

static void
job_work(uv_work_t *w)
{
	struct md_job *job = w->data;
	struct md_user *u = job->user;

	if (job->serial) {
		int err = 0;

		if (u->env == NULL || u->broken)
			err = md_index_open(u);
		/* what an unexposed job handed out becomes visible now */
		else if (!job->unexposed)
			err = md_index_durable(u);
		if (err != 0) {
			struct md_job *j;

			for (j = job; j != NULL; j = j->batch_next)
				j->err = err;
			return;
		}
	}
	if (job->batch_fn != NULL)
		job->batch_fn(job);
	else
		job->work_fn(job);
}

/* One job's completion: its callback, then its watchers. */
static void
job_complete(struct md_job *job)
{
	struct md_user *u = job->user;
	uint32_t *changed = job->changed;
	size_t i, n_changed = job->n_changed;
	const struct posta_mailbox *origin = job->origin;

	job->changed = NULL;
	job->done_fn(job);		/* frees job */
	for (i = 0; i < n_changed; i++)
		md_notify_box(u, changed[i], origin);
	free(changed);
}

static void
job_after(uv_work_t *w, int status)
{
	struct md_job *job = w->data, *next;
	struct md_store *s = job->store;
	struct md_user *u = job->user;
	bool serial = job->serial;
	unsigned refs = 0;

	(void)status;
	s->jobs--;
	if (serial)
		u->running = false;
	/* only serial jobs write it; another may be running otherwise */
	if (serial && u->log_msg != NULL) {
		posta_log(s->host, u->log_level, u->log_event, "user=%s %s",
		    u->account, u->log_msg);
		free(u->log_msg);
		u->log_msg = NULL;
	}
	if (serial && u->imported_boxes > 0) {
		posta_log(s->host, POSTA_LOG_INFO, "maildir.dovecot_import",
		    "user=%s mailboxes=%u uids=%zu", u->account,
		    u->imported_boxes, u->imported_uids);
		u->imported_boxes = 0;
		u->imported_uids = 0;
	}
	for (; job != NULL; job = next) {
		next = job->batch_next;
		refs++;
		job_complete(job);
	}
	if (serial)
		user_start(u);
	while (u != NULL && refs-- > 0)
		md_user_unref(u);
	install_pending(s);
	store_maybe_free(s);
}

static void
user_start(struct md_user *u)
{
	struct md_job *job = u->q_head;

	if (u->running || job == NULL)
		return;
	u->q_head = job->next;
	job->next = NULL;
	job->batch_next = NULL;
	if (job->batch_fn != NULL) {
		struct md_job *last = job;
		unsigned n = 1;

		while (u->q_head != NULL && n < MD_BATCH_MAX &&
		    u->q_head->batch_fn == job->batch_fn) {
			last->batch_next = u->q_head;
			last = u->q_head;
			u->q_head = last->next;
			last->next = NULL;
			last->batch_next = NULL;
			n++;
		}
	}
	if (u->q_head == NULL)
		u->q_tail = NULL;
	u->running = true;
	u->store->jobs++;
	job->work.data = job;
	/* only fails for a NULL callback, which we never pass */
	(void)uv_queue_work(u->store->loop, &job->work, job_work, job_after);
}

int
md_job_serial(struct md_user *u, struct md_job *job)
{
	job->store = u->store;
	job->user = u;
	job->serial = true;
	job->next = NULL;
	md_user_ref(u);
	if (u->q_tail != NULL)
		u->q_tail->next = job;
	else
		u->q_head = job;
	u->q_tail = job;
	user_start(u);
	return 0;
}

int
md_job_free(struct md_store *s, struct md_job *job)
{
	int ret;

	job->store = s;
	job->serial = false;
	if (job->user != NULL)
		md_user_ref(job->user);
	job->work.data = job;
	ret = uv_queue_work(s->loop, &job->work, job_work, job_after);
	if (ret != 0) {
		if (job->user != NULL)
			md_user_unref(job->user);
		return ret;
	}
	s->jobs++;
	return 0;
}

void
md_job_changed(struct md_job *job, uint32_t box_id)
{
	size_t i;

	for (i = 0; i < job->n_changed; i++)
		if (job->changed[i] == box_id)
			return;
	if (job->n_changed == job->cap_changed) {
		size_t cap = job->cap_changed ? job->cap_changed * 2 : 4;
		uint32_t *p = realloc(job->changed, cap * sizeof(*p));

		if (p == NULL)
			return;		/* watchers then learn at refresh */
		job->changed = p;
		job->cap_changed = cap;
	}
	job->changed[job->n_changed++] = box_id;
}

/* ---- users ---- */

static uint64_t
hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;	/* FNV-1a */

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static int
users_grow(struct md_store *s)
{
	size_t nb = s->n_buckets ? s->n_buckets * 2 : 64, i;
	struct md_user **b = calloc(nb, sizeof(*b));

	if (b == NULL)
		return -ENOMEM;
	for (i = 0; i < s->n_buckets; i++) {
		struct md_user *u = s->users[i], *next;

		for (; u != NULL; u = next) {
			size_t k = hash_str(u->account) & (nb - 1);

			next = u->hnext;
			u->hnext = b[k];
			b[k] = u;
		}
	}
	free(s->users);
	s->users = b;
	s->n_buckets = nb;
	return 0;
}

struct md_user *
md_user_get(struct md_store *s, const char *account, int *err_r)
{
	struct md_user *u;
	char path[4096];
	size_t k;
	int ret;

	if (s->n_buckets > 0) {
		k = hash_str(account) & (s->n_buckets - 1);
		for (u = s->users[k]; u != NULL; u = u->hnext)
			if (strcmp(u->account, account) == 0) {
				md_user_ref(u);
				return u;
			}
	}
	ret = md_expand_root(s->root_tmpl, account, path, sizeof(path));
	if (ret < 0) {
		*err_r = ret == -EINVAL ? -ENAMETOOLONG : ret;
		return NULL;
	}
	if (s->n_users >= s->n_buckets && users_grow(s) != 0) {
		*err_r = -ENOMEM;
		return NULL;
	}
	u = calloc(1, sizeof(*u));
	if (u == NULL || (u->account = strdup(account)) == NULL ||
	    (u->path = strdup(path)) == NULL) {
		if (u != NULL)
			free(u->account);
		free(u);
		*err_r = -ENOMEM;
		return NULL;
	}
	u->store = s;
	u->refs = 1;
	k = hash_str(account) & (s->n_buckets - 1);
	u->hnext = s->users[k];
	s->users[k] = u;
	s->n_users++;
	return u;
}

void
md_user_ref(struct md_user *u)
{
	u->refs++;
}

void
md_user_unref(struct md_user *u)
{
	MD_ASSERT(u->refs > 0);
	if (--u->refs == 0)
		u->idle_since = uv_now(u->store->loop);
}

static void
user_free(struct md_store *s, struct md_user *u)
{
	struct md_user **pp;
	size_t k = hash_str(u->account) & (s->n_buckets - 1);

	for (pp = &s->users[k]; *pp != NULL; pp = &(*pp)->hnext)
		if (*pp == u) {
			*pp = u->hnext;
			break;
		}
	s->n_users--;
	if (u->env != NULL)
		md_index_close(u);	/* only at shutdown: a quick munmap */
	free(u->cleaned);
	free(u->log_msg);
	free(u->account);
	free(u->path);
	free(u);
}

static void
close_work(struct md_job *job)
{
	md_index_close(job->user);
}

static void
close_done(struct md_job *job)
{
	free(job);
}

/*
 * Closes the index of users idle for index_idle_timeout, frees them.  A
 * user whose index is closed and who has no references or jobs is freed
 * at once: the close job's own reference, dropped when it is done, moves
 * idle_since, so waiting for the timeout again would keep every user one
 * sweep longer than meant, or not, depending on how fast the job ran.
 */
void
md_store_sweep(struct md_store *s, uint64_t now)
{
	size_t i;

	for (i = 0; i < s->n_buckets; i++) {
		struct md_user *u = s->users[i], *next;

		for (; u != NULL; u = next) {
			next = u->hnext;
			if (u->refs != 0 || u->running || u->q_head != NULL)
				continue;
			if (u->env == NULL) {
				user_free(s, u);
				continue;
			}
			if (now - u->idle_since < s->set.index_idle_timeout)
				continue;
			{
				struct md_job *job = calloc(1, sizeof(*job));

				if (job == NULL)
					continue;
				job->work_fn = close_work;
				job->done_fn = close_done;
				/* the job's reference keeps u until done;
				   the next sweep frees it */
				md_job_serial(u, job);
			}
		}
	}
}

static void
sweep(uv_timer_t *t)
{
	struct md_store *s = t->data;

	md_store_sweep(s, uv_now(s->loop));
}

/* ---- boxes and notification ---- */

struct md_box *
md_box_get(struct md_user *u, const char *name)
{
	struct md_box *b;

	for (b = u->boxes; b != NULL; b = b->next)
		if (strcmp(b->name, name) == 0) {
			b->refs++;
			return b;
		}
	b = calloc(1, sizeof(*b));
	if (b == NULL || (b->name = strdup(name)) == NULL) {
		free(b);
		return NULL;
	}
	b->user = u;
	b->refs = 1;
	md_user_ref(u);
	b->next = u->boxes;
	u->boxes = b;
	return b;
}

void
md_box_unref(struct md_box *b)
{
	struct md_box **pp;
	struct md_user *u = b->user;

	if (--b->refs > 0)
		return;
	for (pp = &u->boxes; *pp != NULL; pp = &(*pp)->next)
		if (*pp == b) {
			*pp = b->next;
			break;
		}
	free(b->name);
	free(b);
	md_user_unref(u);
}

static void
notify_run(struct md_defer *d)
{
	struct posta_mailbox *v = (struct posta_mailbox *)((char *)d -
	    offsetof(struct posta_mailbox, notify_defer));

	if (!v->closed && v->notify != NULL)
		v->notify(v->notify_ctx, v);
	v->pending--;
	md_view_release(v);
}

void
md_notify_box(struct md_user *u, uint32_t box_id,
    const struct posta_mailbox *origin)
{
	struct md_box *b;
	struct posta_mailbox *v;

	for (b = u->boxes; b != NULL; b = b->next) {
		if (b->id != box_id)
			continue;
		for (v = b->views; v != NULL; v = v->vnext) {
			if (v == origin || v->closed || v->notify == NULL ||
			    v->notify_defer.queued)
				continue;
			v->pending++;
			md_defer(u->store, &v->notify_defer, notify_run);
		}
	}
}

/* ---- the module ---- */

static const struct posta_store_info *
md_op_info(void *state)
{
	struct md_store *s = state;

	return &s->info;
}

static const char *
conf_str(struct arena *a, const char *s, const char *def)
{
	return arena_strdup(a, s != NULL ? s : def);
}

/* Checks settings and copies their strings into a new arena. */
static int
prepare_settings(struct md_store *s, const struct md_settings *in,
    struct md_settings *set_r, struct arena **a_r, const char **error_r)
{
	struct arena *a = arena_new(1024, 0);
	struct md_settings set = *in;
	char probe[4096];
	const char *root;

	if (a == NULL) {
		*error_r = "out of memory";
		return -ENOMEM;
	}
	if (in->mail_root != NULL)
		root = arena_strdup(a, in->mail_root);
	else
		root = arena_printf(a, "%s/mail/%%d/%%n",
		    posta_host_state_dir(s->host));
	set.mail_root = root;
	set.folder_drafts = conf_str(a, in->folder_drafts, "");
	set.folder_sent = conf_str(a, in->folder_sent, "");
	set.folder_trash = conf_str(a, in->folder_trash, "");
	set.folder_junk = conf_str(a, in->folder_junk, "");
	set.folder_archive = conf_str(a, in->folder_archive, "");
	if (root == NULL || set.folder_drafts == NULL ||
	    set.folder_sent == NULL || set.folder_trash == NULL ||
	    set.folder_junk == NULL || set.folder_archive == NULL) {
		arena_free(&a);
		*error_r = "out of memory";
		return -ENOMEM;
	}
	if (root[0] != '/' ||
	    md_expand_root(root, "probe@example.com", probe,
	    sizeof(probe)) < 0) {
		arena_free(&a);
		*error_r = "mail_root: expected an absolute path with %d, %n, "
		    "%u or %%";
		return POSTA_ECONFIG;
	}
	if (s->root_tmpl != NULL && strcmp(root, s->root_tmpl) != 0) {
		/* open users would keep the old path: one account, two
		   Maildirs */
		arena_free(&a);
		*error_r = "mail_root: cannot change on reload; restart postad";
		return POSTA_ECONFIG;
	}
	{
		const char *f[] = { set.folder_drafts, set.folder_sent,
		    set.folder_trash, set.folder_junk, set.folder_archive };
		size_t i;

		for (i = 0; i < sizeof(f) / sizeof(*f); i++) {
			char canon[MD_MAILBOX_MAX + 1];

			if (f[i][0] != '\0' &&
			    (md_mailbox_canon(f[i], canon, sizeof(canon)) < 0 ||
			    md_mailbox_is_inbox(canon))) {
				arena_free(&a);
				*error_r = "folder_*: expected a mailbox name "
				    "other than INBOX";
				return POSTA_ECONFIG;
			}
		}
	}
	*set_r = set;
	*a_r = a;
	return 0;
}

/* Workers read the settings: they change only while no job runs. */
static void
install_settings(struct md_store *s, const struct md_settings *set,
    struct arena *a)
{
	arena_free(&s->conf);
	s->conf = a;
	s->set = *set;
	s->root_tmpl = (char *)set->mail_root;
	s->info.hierarchy_sep = '.';
	s->info.max_message_size = set->max_message_size;
	s->info.max_keywords = (uint32_t)set->max_keywords;
	s->info.has_recent = true;
}

static void
install_pending(struct md_store *s)
{
	if (s->pending_conf == NULL || s->jobs != 0)
		return;
	install_settings(s, &s->pending_set, s->pending_conf);
	s->pending_conf = NULL;
	uv_timer_set_repeat(&s->sweep, s->set.index_idle_timeout / 2 < 1000 ?
	    1000 : s->set.index_idle_timeout / 2);
}

static void
handle_closed(uv_handle_t *h)
{
	struct md_store *s = h->data;

	s->handles--;
	store_maybe_free(s);
}

static void
store_free_now(struct md_store *s)
{
	size_t i;

	for (i = 0; i < s->n_buckets; i++)
		while (s->users[i] != NULL)
			user_free(s, s->users[i]);
	free(s->users);
	arena_free(&s->conf);
	arena_free(&s->pending_conf);
	free(s);
}

static void
store_maybe_free(struct md_store *s)
{
	if (s->closing && s->jobs == 0 && s->handles == 0 &&
	    s->defer_head == NULL)
		store_free_now(s);
}

static int
md_init(struct posta_host *host, const void *settings, void **state_r,
    const char **error_r)
{
	struct md_store *s = calloc(1, sizeof(*s));
	int ret;

	if (s == NULL) {
		*error_r = "out of memory";
		return -ENOMEM;
	}
	s->ops = &md_ops;
	s->host = host;
	s->loop = posta_host_loop(host);
	{
		struct md_settings set;
		struct arena *a;

		ret = prepare_settings(s, settings, &set, &a, error_r);
		if (ret != 0) {
			free(s);
			return ret;
		}
		install_settings(s, &set, a);
	}
	if (gethostname(s->hostname, sizeof(s->hostname) - 1) != 0 ||
	    s->hostname[0] == '\0')
		strcpy(s->hostname, "localhost");
	s->start = (int64_t)time(NULL);
	s->pid = (uint32_t)getpid();
	atomic_init(&s->seq, 0);
	uv_idle_init(s->loop, &s->idle);
	s->idle.data = s;
	uv_timer_init(s->loop, &s->sweep);
	s->sweep.data = s;
	s->handles = 2;
	{
		uint64_t every = s->set.index_idle_timeout / 2;

		if (every < 1000)
			every = 1000;
		uv_timer_start(&s->sweep, sweep, every, every);
		uv_unref((uv_handle_t *)&s->sweep);
	}
	ret = posta_host_register_store(host, &md_ops, s);
	if (ret != 0) {
		*error_r = "cannot register the mail store";
		s->closing = true;
		uv_close((uv_handle_t *)&s->idle, handle_closed);
		uv_close((uv_handle_t *)&s->sweep, handle_closed);
		return ret;
	}
	posta_log(host, POSTA_LOG_INFO, "maildir.init", "mail_root=%s fsync=%s",
	    s->root_tmpl, s->set.fsync ? "yes" : "no");
	*state_r = s;
	return 0;
}

static int
md_reload(void *state, const void *settings, const char **error_r)
{
	struct md_store *s = state;
	struct md_settings set;
	struct arena *a;
	int ret = prepare_settings(s, settings, &set, &a, error_r);

	if (ret != 0)
		return ret;
	arena_free(&s->pending_conf);
	s->pending_set = set;
	s->pending_conf = a;
	install_pending(s);	/* now, or when the last job is done */
	return 0;
}

static void
md_deinit(void *state)
{
	struct md_store *s = state;

	s->closing = true;
	/* deferred calls (a delivery step, a notification) would never
	   run once the idle handle is closed: run them now */
	while (s->defer_head != NULL)
		defer_run(&s->idle);
	uv_close((uv_handle_t *)&s->idle, handle_closed);
	uv_close((uv_handle_t *)&s->sweep, handle_closed);
	/* with no job running, users hold no references: free at close */
}

const struct posta_store_ops md_ops = {
	.size = sizeof(struct posta_store_ops),
	.name = "maildir",
	.info = md_op_info,
	.user_open = md_op_user_open,
	.user_close = md_op_user_close,
	.user_usage = md_op_user_usage,
	.mailbox_list = md_op_list,
	.mailbox_create = md_op_create,
	.mailbox_delete = md_op_delete,
	.mailbox_rename = md_op_rename,
	.mailbox_subscribe = md_op_subscribe,
	.mailbox_status = md_op_status,
	.mailbox_open = md_op_open,
	.mailbox_close = md_op_close,
	.view_name = md_op_view_name,
	.view_status = md_op_view_status,
	.view_messages = md_op_view_messages,
	.view_keywords = md_op_view_keywords,
	.watch = md_op_watch,
	.refresh = md_op_refresh,
	.fetch_meta = md_op_fetch_meta,
	.store_flags = md_op_store_flags,
	.expunge = md_op_expunge,
	.copy = md_op_copy,
	.expunged_since = md_op_expunged_since,
	.msg_open = md_op_msg_open,
	.msg_read = md_op_msg_read,
	.msg_close = md_op_msg_close,
	.append_begin = md_op_append_begin,
	.append_write = md_op_append_write,
	.append_finish = md_op_append_finish,
	.append_abort = md_op_append_abort,
	.delivery_begin = md_op_delivery_begin,
	.delivery_write = md_op_delivery_write,
	.delivery_finish = md_op_delivery_finish,
	.delivery_abort = md_op_delivery_abort,
	.quota = md_op_quota,
};

POSTA_MODULE(
	.name = "maildir",
	.version = PACKAGE_VERSION,
	.kind = POSTA_MODULE_PLUGIN,
	.settings = md_setting_table,
	.settings_size = sizeof(struct md_settings),
	.init = md_init,
	.reload = md_reload,
	.deinit = md_deinit,
);
