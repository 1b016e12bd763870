/* maildir.h: internal structures shared by the maildir plugin's files */
#ifndef POSTA_MAILDIR_H
#define POSTA_MAILDIR_H

#include <stdatomic.h>
#include <sys/types.h>

#include <lmdb.h>
#include <uv.h>

#include <posta/posta.h>

#include "arena.h"
#include "maildir_name.h"

/*
 * Threads.  Everything named md_* without "_work" runs on the loop.
 * Functions taking a struct md_txn run on a thread-pool worker inside a
 * serial job (below), the only place the index and the Maildir's
 * directories are changed.  Workers touch only their job's copies and the
 * user's index; results go back through the job struct.
 *
 * Serial jobs.  Each user (struct md_user) has a queue of jobs run one at
 * a time on the thread pool, so one user's index has one writer, a sync
 * never races our own renames, and different users proceed in parallel.
 * Reading and writing message files (readers, the body of an append or a
 * delivery) does not touch the index and runs as free jobs beside it.
 */

/* A broken invariant: a bug, never bad input. */
#define MD_ASSERT(x) do { if (!(x)) { fprintf(stderr,		\
	"maildir: assertion failed: %s (%s:%d)\n", #x, __FILE__,	\
	__LINE__); abort(); } } while (0)

struct md_store;
struct md_user;
struct md_box;
struct md_job;

struct md_settings {
	const char *mail_root;		/* NULL: <state_dir>/mail/%d/%n */
	bool fsync;
	uint64_t index_idle_timeout;	/* ms */
	uint64_t index_map_size;	/* bytes */
	uint64_t max_message_size;	/* bytes, 0 = none */
	uint64_t tmp_max_age;		/* ms */
	int64_t max_keywords;
	bool dovecot_import;
	const char *folder_drafts;
	const char *folder_sent;
	const char *folder_trash;
	const char *folder_junk;
	const char *folder_archive;
	uint64_t quota_storage;		/* bytes, 0 = unlimited */
	int64_t quota_messages;		/* 0 = unlimited */
};

/* A user's limits; 0 means unlimited. */
struct md_quota {
	uint64_t storage;		/* bytes */
	uint64_t messages;
};

enum md_quota_state {
	MD_QSTATE_NONE = 0,		/* no file: the plugin defaults */
	MD_QSTATE_FILE,			/* the file's limits (quota) */
	MD_QSTATE_BAD,			/* malformed: defaults, logged */
};

/* ---- deferred calls: the async rule's "later, never inside the call" */

struct md_defer {
	struct md_defer *next;
	void (*fn)(struct md_defer *d);
	bool queued;
};

void md_defer(struct md_store *s, struct md_defer *d,
    void (*fn)(struct md_defer *d));

/* ---- jobs ---- */

struct md_job {
	struct md_job *next;
	struct md_store *store;
	struct md_user *user;		/* holds a reference */
	uv_work_t work;
	void (*work_fn)(struct md_job *job);	/* worker thread */
	void (*done_fn)(struct md_job *job);	/* loop; frees the job */
	/*
	 * Serial jobs with a batch_fn (instead of work_fn) that wait next
	 * to each other in the queue run as one: batch_fn gets the first,
	 * the others follow through batch_next; each still gets done_fn.
	 */
	void (*batch_fn)(struct md_job *first);
	struct md_job *batch_next;
	int err;
	bool serial;
	/*
	 * The job's index changes (new UIDs) reach nobody before the next
	 * serial job of the user runs: it may commit without syncing the
	 * index's meta page (md_txn_commit_unexposed).  Delivery sets it.
	 */
	bool unexposed;
	/* boxes changed by the job: watchers are told after done_fn */
	uint32_t *changed;
	size_t n_changed, cap_changed;
	const struct posta_mailbox *origin;	/* not told: made the change */
};

#define MD_BATCH_MAX 64

/* Queues a serial job on user (job->user set here, with a reference). */
int md_job_serial(struct md_user *u, struct md_job *job);
/* Runs a free job on the thread pool (job->user may be NULL). */
int md_job_free(struct md_store *s, struct md_job *job);
/* Records (worker side) that a box's messages or flags changed. */
void md_job_changed(struct md_job *job, uint32_t box_id);

/* ---- the store, users, shared mailbox state (loop thread) ---- */

struct md_store {
	const struct posta_store_ops *ops;
	struct posta_host *host;
	uv_loop_t *loop;
	struct md_settings set;
	struct arena *conf;		/* copies of the settings' strings */
	struct md_settings pending_set;	/* a reload waiting for idle jobs */
	struct arena *pending_conf;
	char *root_tmpl;
	char hostname[64];
	int64_t start;			/* process start, for tmp/ names */
	uint32_t pid;
	atomic_uint_fast64_t seq;	/* unique-name counter, any thread */
	struct posta_store_info info;

	struct md_user **users;		/* hash by account */
	size_t n_buckets, n_users;

	struct md_defer *defer_head, *defer_tail;
	uv_idle_t idle;
	uv_timer_t sweep;
	unsigned jobs;			/* jobs on the thread pool */
	unsigned handles;		/* libuv handles not yet closed */
	bool closing;
};

struct md_user {
	struct md_store *store;
	struct md_user *hnext;
	char *account;
	char *path;			/* the user's Maildir */
	unsigned refs;
	uint64_t idle_since;		/* uv_now when refs dropped to 0 */
	struct md_job *q_head, *q_tail;
	bool running;			/* a serial job is on the pool */
	bool setup_done;		/* special-use folders made */
	struct md_box *boxes;

	/* worker side, touched only by serial jobs */
	MDB_env *env;
	MDB_dbi dbi_box, dbi_msg, dbi_name, dbi_meta, dbi_gone, dbi_sub,
	    dbi_info;
	bool broken;			/* move the index aside, rebuild */
	bool meta_unsynced;		/* last commit's meta page not synced */
	uint32_t *cleaned;		/* boxes whose tmp/ was cleaned */
	size_t n_cleaned, cap_cleaned;
	/* one line for the loop to log after the job (workers do not log) */
	const char *log_event;
	enum posta_log_level log_level;
	char *log_msg;
	unsigned imported_boxes;	/* Dovecot folders taken over */
	size_t imported_uids;
	/* the per-user quota file as last read (md_quota_load) */
	enum md_quota_state quota_state;
	struct md_quota quota;
	int64_t quota_mtime_ns;
	uint64_t quota_fsize, quota_ino;
};

struct md_box {
	struct md_user *user;		/* holds a reference */
	struct md_box *next;
	char *name;
	uint32_t id;
	unsigned refs;
	struct posta_mailbox *views;
	bool pop3_locked;
};

struct posta_mail_user {
	const struct posta_store_ops *ops;
	struct md_user *u;
	unsigned pending;
	bool closed;
};

struct posta_mailbox {
	const struct posta_store_ops *ops;
	struct md_box *box;
	struct posta_mailbox *vnext;
	uint32_t open_flags;
	unsigned pending;
	bool closed;
	bool has_pop3_lock;
	bool refreshing;
	struct posta_msg *msgs;
	size_t n;
	char **kw;			/* keyword names, owned */
	size_t n_kw;
	struct posta_mailbox_status st;
	posta_mailbox_notify_cb *notify;
	void *notify_ctx;
	struct md_defer notify_defer;
};

struct md_user *md_user_get(struct md_store *s, const char *account,
    int *err_r);
void md_user_ref(struct md_user *u);
void md_user_unref(struct md_user *u);
/* What the sweep timer does with the clock at now (ms, uv_now's): closes
   the index of each user idle for index_idle_timeout (a serial job) and
   frees users with no references, no jobs and no open index. */
void md_store_sweep(struct md_store *s, uint64_t now);
struct md_box *md_box_get(struct md_user *u, const char *name);
void md_box_unref(struct md_box *b);
/* Tells the watchers of box id of user u (loop side, deferred). */
void md_notify_box(struct md_user *u, uint32_t box_id,
    const struct posta_mailbox *origin);
/* Maps an LMDB or errno error to a Posta error (negative). */
int md_error(int mdb_or_errno);

/* ---- the index (worker side) ---- */

#define MD_INDEX_DIR "posta-index"
#define MD_INDEX_VERSION 1
#define MD_UIDV_FILE "posta-uidvalidity"

/* Stored with each message: POSTA_FLAGS_STORED plus these. */
#define MD_MSG_IN_NEW (1u << 31)	/* the file is in new/ */

struct md_txn {
	struct md_user *u;
	MDB_txn *txn;
};

/* A mailbox's record; keyword names follow it in the value. */
struct md_box_rec {
	uint32_t id;
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint32_t special_use;
	uint64_t highestmodseq;
	int64_t new_mtime_ns;		/* new/ and cur/ at the last full */
	int64_t cur_mtime_ns;		/* scan; 0 forces one */
	uint32_t n_kw;
	uint32_t flags;
};

/* A box record with its keyword table, decoded. */
struct md_box_info {
	struct md_box_rec rec;
	char *name;
	char *kw[POSTA_STORE_KEYWORDS_MAX];
	uint32_t stored_n_kw;		/* keywords in the index already */
	bool dirty;			/* needs writing back */
};

/* A message's record; the current file name follows it in the value. */
struct md_msg_rec {
	uint32_t flags;			/* POSTA_FLAG_* | MD_MSG_IN_NEW */
	uint32_t body_lines;
	uint64_t kw;
	uint64_t modseq;
	uint64_t size;			/* CRLF form */
	uint64_t raw_size;		/* bytes in the file */
	int64_t internal_date;
	uint64_t header_size;
};

struct md_msg {
	uint32_t uid;
	struct md_msg_rec rec;
	char name[MD_NAME_MAX + 1];
};

int md_index_open(struct md_user *u);		/* worker */
void md_index_close(struct md_user *u);		/* worker */
int md_txn_begin(struct md_user *u, struct md_txn *t);
/* Commits durably (with fsync on): data and meta pages synced. */
int md_txn_commit(struct md_txn *t);
/*
 * Commits with the data pages synced but not the meta page, saving one
 * sync.  A crash may then undo this last transaction, never damage the
 * index (LMDB's MDB_NOMETASYNC).  Only for unexposed jobs: what it
 * handed out is made durable by md_index_durable() before any other
 * job can show it to a client, so a UID is never seen and then reused.
 */
int md_txn_commit_unexposed(struct md_txn *t);
/* Syncs the meta page an unexposed commit left; 0 or an error. */
int md_index_durable(struct md_user *u);
void md_txn_abort(struct md_txn *t);

/* box records */
int md_box_load(struct md_txn *t, const char *name, struct md_box_info *bi);
int md_box_store(struct md_txn *t, struct md_box_info *bi);
void md_box_info_clear(struct md_box_info *bi);
int md_box_delete_rec(struct md_txn *t, const char *name, uint32_t id);
int md_box_rename_rec(struct md_txn *t, const char *from, const char *to);
int md_box_ensure(struct md_txn *t, const char *name, bool create,
    struct md_box_info *bi, bool *created_r);
uint32_t md_new_uidvalidity(struct md_txn *t, uint32_t at_least);
/* Index of keyword name in bi, adding it when add is set; -1, or
   POSTA_EQUOTA when the table is full. */
int md_kw_index(struct md_box_info *bi, const char *name, bool add,
    int64_t max);

/* message records */
int md_msg_get(struct md_txn *t, uint32_t box, uint32_t uid, struct md_msg *m);
int md_msg_put(struct md_txn *t, uint32_t box, const struct md_msg *m);
int md_msg_del(struct md_txn *t, uint32_t box, const struct md_msg *m,
    uint64_t modseq);
int md_name_lookup(struct md_txn *t, uint32_t box, const char *name,
    uint32_t *uid_r);
/* Calls fn for each message of box in UID order; fn returns 0 to go on. */
int md_msg_each(struct md_txn *t, uint32_t box,
    int (*fn)(void *ctx, const struct md_msg *m), void *ctx);
int md_meta_get(struct md_txn *t, uint32_t box, uint32_t uid,
    MDB_val *val_r);
int md_meta_put(struct md_txn *t, uint32_t box, uint32_t uid,
    const void *blob, size_t len);
int md_gone_each(struct md_txn *t, uint32_t box, uint64_t modseq,
    int (*fn)(void *ctx, uint32_t uid), void *ctx);
int md_info_get(struct md_txn *t, const char *key, uint32_t *v_r);
int md_info_put(struct md_txn *t, const char *key, uint32_t v);
int md_sub_set(struct md_txn *t, const char *name, bool on);
bool md_sub_has(struct md_txn *t, const char *name);
int md_sub_each(struct md_txn *t, int (*fn)(void *ctx, const char *name),
    void *ctx);

/* ---- paths (worker side) ---- */

#define MD_PATH_MAX 4096

/* snprintf into a path buffer: 0, or -ENAMETOOLONG when it does not fit */
int md_pathf(char *out, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* <maildir>/<box dir>[/sub], or -ENAMETOOLONG */
int md_box_path(const struct md_user *u, const char *name, const char *sub,
    char *out, size_t size);
int md_mkdir_maildir(const char *path, bool fsync_parent);
int md_fsync_dir(const char *path);

/* ---- sync (worker side) ---- */

struct md_sync_opts {
	bool force;			/* rescan even if mtimes agree */
	bool no_scan;			/* index only: no look at the disk */
	bool claim_recent;		/* move new/ to cur/, report them */
	uint32_t *recent;		/* out: claimed UIDs (malloc'd) */
	size_t n_recent;
};

int md_sync_box(struct md_job *job, struct md_txn *t, struct md_box_info *bi,
    struct md_sync_opts *o);
/* Opens the box's record, creating it from the disk when the folder
   exists there; POSTA_ENOTFOUND otherwise.  Then syncs it.  On failure
   neither bi nor o->recent holds memory (clearing them is harmless). */
int md_box_open_sync(struct md_job *job, struct md_txn *t, const char *name,
    struct md_box_info *bi, struct md_sync_opts *o);

/* ---- message parsing and cached metadata ---- */

/* Streaming CRLF normaliser: bare LF becomes CRLF. */
struct md_crlf {
	bool prev_cr;
};
/* Converts len bytes into out (room for 2 * len); returns bytes out. */
size_t md_crlf_convert(struct md_crlf *c, const uint8_t *in, size_t len,
    uint8_t *out);

/*
 * Reading a bare-LF file in its CRLF form at any offset: the cursor marks
 * a raw byte and the CRLF offset where its output starts.
 */
struct md_crlf_cursor {
	uint64_t raw_off;
	uint64_t norm_off;
	bool prev_cr;
};
/*
 * Consumes raw bytes (which start at c->raw_off) and copies their CRLF
 * form falling in [off, off + len) into out, which *filled bytes already
 * hold.  Returns the raw bytes consumed; stops early once out is full,
 * leaving the cursor at the first raw byte not wholly delivered.
 */
size_t md_crlf_read(struct md_crlf_cursor *c, const uint8_t *raw,
    size_t raw_len, uint64_t off, uint8_t *out, size_t len, size_t *filled);

struct md_parse;
/* A parser that also counts the CRLF form and the top header. */
struct md_parse *md_parse_new(void);
void md_parse_free(struct md_parse **pp);
/* Feeds bytes already in CRLF form. */
int md_parse_feed(struct md_parse *p, const uint8_t *data, size_t len);
/* Finishes and encodes the cache blob (malloc'd) and the sizes. */
int md_parse_finish(struct md_parse *p, void **blob_r, size_t *len_r,
    uint64_t *size_r, uint64_t *header_size_r, uint32_t *body_lines_r);
/* Reads a whole file through a parser (worker). */
int md_parse_file(int fd, void **blob_r, size_t *len_r, uint64_t *size_r,
    uint64_t *raw_size_r, uint64_t *header_size_r, uint32_t *lines_r);
/* Decodes a cache blob into meta; strings and parts live in arena a.
   POSTA_ECORRUPT for a blob the parser does not recognise. */
int md_meta_decode(struct arena *a, const void *blob, size_t len,
    struct posta_msg_meta *m);

/* ---- quotas (maildir_quota.c) ---- */

#define MD_QUOTA_FILE "quota"
/*
 * Parses a quota file: lines "storage = SIZE" and "messages = N" (each at
 * most once), blank lines and # comments.  Keys not given keep q's value.
 * Pure.  0, or -EINVAL with the line number and a reason (q untouched).
 */
int md_quota_parse(const char *buf, size_t len, struct md_quota *q,
    unsigned *line_r, const char **error_r);
/* Whether use plus the additions stays within q (soft limit). */
bool md_quota_allows(const struct md_quota *q,
    const struct posta_user_usage *use, uint64_t add_messages,
    uint64_t add_bytes);
/* The user's current limits (worker; reads the quota file if changed). */
void md_quota_load(struct md_user *u, struct md_quota *q_r);
/* 0, or POSTA_EQUOTA when adding would break the user's limits; pending
   (may be NULL) is usage not yet in the index (a delivery batch). */
int md_quota_check(struct md_txn *t, uint64_t add_messages,
    uint64_t add_bytes, const struct posta_user_usage *pending);
/* The user's messages and bytes over all mailboxes, kept in the index by
   md_msg_put/md_msg_del/md_box_delete_rec (worker). */
int md_usage_get(struct md_txn *t, struct posta_user_usage *use_r);

/* ---- Dovecot files (pure parsers and worker-side readers) ---- */

struct md_dovecot_uidlist {
	uint32_t uidvalidity, nextuid;
	size_t n;
	struct md_dovecot_uid {
		uint32_t uid;
		char *base;		/* base name, up to ':' */
	} *uids;			/* sorted by base */
};

int md_dovecot_parse_uidlist(const char *buf, size_t len,
    struct md_dovecot_uidlist *ul);
void md_dovecot_uidlist_free(struct md_dovecot_uidlist *ul);
/* The UID the uidlist gives base, or 0. */
uint32_t md_dovecot_uid_of(const struct md_dovecot_uidlist *ul,
    const char *base, size_t base_len);
/* Calls fn(index, name) for each valid "N name" line. */
int md_dovecot_parse_keywords(const char *buf, size_t len,
    int (*fn)(void *ctx, unsigned idx, const char *name), void *ctx);
/* Calls fn(name) for each subscribed mailbox (UTF-8, '.' separated). */
int md_dovecot_parse_subscriptions(const char *buf, size_t len,
    int (*fn)(void *ctx, const char *name), void *ctx);
/* Reads a whole small file (at most max bytes) into a malloc'd buffer. */
int md_read_small_file(const char *path, size_t max, char **buf_r,
    size_t *len_r);

/* ---- the ops (maildir_user.c, maildir_box.c, maildir_deliver.c) ---- */

extern const struct posta_store_ops md_ops;

int md_op_user_open(void *state, const char *account, posta_mail_user_cb *cb,
    void *ctx);
void md_op_user_close(struct posta_mail_user *user);
int md_op_quota(void *state, const char *account, posta_store_quota_cb *cb,
    void *ctx);
int md_op_user_usage(struct posta_mail_user *user, posta_store_usage_cb *cb,
    void *ctx);
int md_op_list(struct posta_mail_user *user, posta_mailbox_list_cb *cb,
    void *ctx);
int md_op_create(struct posta_mail_user *user, const char *name,
    uint32_t special_use, posta_store_done_cb *cb, void *ctx);
int md_op_delete(struct posta_mail_user *user, const char *name,
    posta_store_done_cb *cb, void *ctx);
int md_op_rename(struct posta_mail_user *user, const char *from,
    const char *to, posta_store_done_cb *cb, void *ctx);
int md_op_subscribe(struct posta_mail_user *user, const char *name,
    bool subscribe, posta_store_done_cb *cb, void *ctx);
int md_op_status(struct posta_mail_user *user, const char *name,
    posta_mailbox_status_cb *cb, void *ctx);

int md_op_open(struct posta_mail_user *user, const char *name,
    uint32_t flags, posta_mailbox_open_cb *cb, void *ctx);
void md_op_close(struct posta_mailbox *box);
const char *md_op_view_name(const struct posta_mailbox *box);
const struct posta_mailbox_status *md_op_view_status(
    const struct posta_mailbox *box);
size_t md_op_view_messages(const struct posta_mailbox *box,
    const struct posta_msg **msgs_r);
size_t md_op_view_keywords(const struct posta_mailbox *box,
    const char *const **names_r);
void md_op_watch(struct posta_mailbox *box, posta_mailbox_notify_cb *cb,
    void *ctx);
int md_op_refresh(struct posta_mailbox *box, uint32_t flags,
    posta_mailbox_refresh_cb *cb, void *ctx);
int md_op_fetch_meta(struct posta_mailbox *box, const uint32_t *uids,
    size_t n, uint32_t fields, posta_msg_meta_cb *cb, void *ctx);
int md_op_store_flags(struct posta_mailbox *box, const uint32_t *uids,
    size_t n, const struct posta_flag_update *update,
    posta_store_flags_cb *cb, void *ctx);
int md_op_expunge(struct posta_mailbox *box, const uint32_t *uids, size_t n,
    uint32_t flags, posta_store_expunge_cb *cb, void *ctx);
int md_op_copy(struct posta_mailbox *box, const uint32_t *uids, size_t n,
    const char *dst, bool move, posta_store_copy_cb *cb, void *ctx);
int md_op_expunged_since(struct posta_mailbox *box, uint64_t modseq,
    posta_uid_ranges_cb *cb, void *ctx);
int md_op_msg_open(struct posta_mailbox *box, uint32_t uid,
    posta_msg_open_cb *cb, void *ctx);
int md_op_msg_read(struct posta_msg_reader *r, uint64_t offset, size_t len,
    posta_msg_read_cb *cb, void *ctx);
void md_op_msg_close(struct posta_msg_reader *r);

int md_op_append_begin(struct posta_mail_user *user, const char *mailbox,
    const struct posta_append_params *params, posta_append_begin_cb *cb,
    void *ctx);
int md_op_append_write(struct posta_append *ap, const void *data,
    size_t len, posta_store_done_cb *cb, void *ctx);
int md_op_append_finish(struct posta_append *ap, posta_append_cb *cb,
    void *ctx);
void md_op_append_abort(struct posta_append *ap);
int md_op_delivery_begin(void *state, const struct posta_delivery_rcpt *rcpts,
    size_t n, const struct posta_append_params *params,
    posta_delivery_begin_cb *cb, void *ctx);
int md_op_delivery_write(struct posta_delivery *d, const void *data,
    size_t len, posta_store_done_cb *cb, void *ctx);
int md_op_delivery_finish(struct posta_delivery *d, posta_delivery_cb *cb,
    void *ctx);
void md_op_delivery_abort(struct posta_delivery *d);

/* A reader over an open message file (maildir_read.c); takes fd. */
struct posta_msg_reader *md_reader_new(struct md_store *s, int fd,
    uint64_t size, uint64_t raw_size);

/* helpers shared by the op files */
bool md_keyword_valid(const char *kw);
/* Frees a closed view once nothing refers to it any more. */
void md_view_release(struct posta_mailbox *v);
/* Inserts a new message (worker): uid = uidnext, modseq bumped. */
int md_msg_insert(struct md_txn *t, struct md_box_info *bi,
    struct md_msg *m, const void *meta, size_t meta_len);
/* Inserts or, when sync already found the file, updates (append commit). */
int md_msg_upsert(struct md_txn *t, struct md_box_info *bi,
    struct md_msg *m, const void *meta, size_t meta_len);
/* The first-login setup: special-use folders (worker). */
int md_user_setup(struct md_job *job, struct md_txn *t);
/* Writes a file name into a path buffer: <box path>/<cur|new>/<name>. */
int md_msg_path(const struct md_user *u, const char *box,
    const struct md_msg *m, char *out, size_t size);

#endif
