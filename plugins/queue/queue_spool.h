/* queue_spool.h: the spool on disk: layout, envelope format, journal */
#ifndef POSTA_QUEUE_SPOOL_H
#define POSTA_QUEUE_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * Layout under <state_dir>/queue:
 *
 *   tmp/<id>.msg  tmp/<id>.env   a submission being written; removed at start
 *   q/<id>.msg                   the message as the SMTP engine received it
 *   q/<id>.env                   its envelope, then an append-only journal
 *   ctl/                         requests from "posta queue" (flush, delete,
 *                                new); postad watches it with inotify
 *   corrupt/                     envelopes that could not be read, kept aside
 *
 * A message is committed when q/<id>.env exists: .msg is renamed into q/
 * first, .env second, and the q/ directory is fsync'd before the SMTP
 * engine hears "durable".  A q/<id>.msg without its .env is a submission
 * that was never acknowledged (or a removal cut short) and is deleted at
 * start.  Removal unlinks .env first for the same reason.
 *
 * The .env file is text, one record per line:
 *
 *   POSTA-QUEUE 1
 *   id 0006123456789abc01234567
 *   created 1767225600              (seconds since the epoch)
 *   sender alice@example.com        ("-" is the null sender <>)
 *   envid -                         (RFC 3461 ENVID, decoded)
 *   ret 0                           (0 default, 1 FULL, 2 HDRS)
 *   utf8 0                          (MAIL ... SMTPUTF8)
 *   8bit 0                          (BODY=8BITMIME)
 *   auth alice@example.com
 *   client [192.0.2.1]
 *   size 1234                       (bytes of the .msg file)
 *   R <notify> <route> <orcpt> <address>     one per recipient
 *   end
 *
 * and after "end" the journal, one line per event, appended and fsync'd:
 *
 *   D <rcpt> <time> <status> <remote> <diag>   delivered
 *   F <rcpt> <time> <status> <remote> <diag>   failed for good (bounce due)
 *   T <rcpt> <time> <attempts> <next> <status> <remote> <diag>  deferred
 *   B <rcpt> <time>                            bounce sent (or not wanted)
 *
 * Every field is escaped: bytes up to 0x20, 0x7f and '%' as %XX, an empty
 * or absent value as "-" (a literal "-" as %2D).  A last line without its
 * LF is a write cut short by a crash and is ignored; anything else that
 * does not parse makes the whole file corrupt.  route is 'e' (external:
 * deliver over SMTP) or 'r' (resolve through the auth chain at delivery:
 * bounces, which may go to a local user).
 */

#define QSPOOL_ID_LEN		24
#define QSPOOL_ENV_MAX		(4u << 20)	/* a larger .env is corrupt */
#define QSPOOL_RCPTS_MAX	10000u
#define QSPOOL_DIAG_MAX		512u		/* kept of a remote reply */
#define QSPOOL_REMOTE_MAX	255u		/* kept of a remote's name */

enum qspool_rstate {
	QSPOOL_PENDING = 0,	/* not yet delivered; maybe deferred */
	QSPOOL_DONE,		/* delivered */
	QSPOOL_FAILED,		/* failed for good; bounce not yet sent */
	QSPOOL_BOUNCED,		/* failed, and the bounce is taken care of */
};

enum qspool_ret {
	QSPOOL_RET_DEFAULT = 0,
	QSPOOL_RET_FULL = 1,
	QSPOOL_RET_HDRS = 2,
};

struct qspool_rcpt {
	char *address;
	char *orcpt;		/* "rfc822;a@b" as given, or NULL */
	unsigned notify;	/* enum posta_queue_notify bits */
	bool resolve;		/* route 'r' */
	enum qspool_rstate state;
	uint32_t attempts;	/* temporary failures so far */
	int64_t next_try;	/* seconds; 0 = as soon as possible */
	int64_t when;		/* time of the last result, 0 = none */
	char status[12];	/* enhanced status of the last result */
	char *remote;		/* remote MTA of the last result, or NULL */
	char *diag;		/* last result's text, or NULL */
};

struct qspool_env {
	char id[QSPOOL_ID_LEN + 1];
	int64_t created;
	char *sender;		/* "" for <> */
	char *envid;		/* NULL when absent */
	enum qspool_ret ret;
	bool smtputf8, eightbit;
	char *auth_user;	/* NULL when absent */
	char *client;		/* NULL when absent */
	uint64_t size;
	size_t n_rcpts;
	struct qspool_rcpt *rcpts;
};

/* One journal event, for qspool_journal_line(). */
struct qspool_event {
	char kind;		/* 'D', 'F', 'T' or 'B' */
	size_t rcpt;
	int64_t when;
	uint32_t attempts;	/* T */
	int64_t next_try;	/* T */
	const char *status;	/* D F T: "2.0.0", "5.1.1" */
	const char *remote;	/* D F T: may be NULL */
	const char *diag;	/* D F T: may be NULL */
};

/* ---- pure functions: no I/O ---- */

/* True when id has the form qspool_new_id() makes (24 lowercase hex). */
bool qspool_id_valid(const char *id);

/*
 * Parses a whole .env file (header and journal).  Returns 0, -ENOMEM, or
 * POSTA_ECORRUPT with *error_r a static reason.  env_r is filled even on
 * error and must always be released with qspool_env_clear().
 */
int qspool_env_parse(const char *buf, size_t len, struct qspool_env *env_r,
    const char **error_r);

/*
 * The file text for env: the header with every recipient, then the
 * journal lines that reproduce each recipient's state.  *buf_r is
 * malloc'd.  Returns 0, -EINVAL (an invalid id, no recipient or more
 * than QSPOOL_RCPTS_MAX, a rcpt with no address) or -ENOMEM.
 */
int qspool_env_format(const struct qspool_env *env, char **buf_r,
    size_t *len_r);

/*
 * Appends one journal line for ev to buf (of size cap, with *len used).
 * Returns 0, or -ENOSPC when it does not fit (nothing is appended).
 * Lines are at most QSPOOL_LINE_MAX bytes.
 */
#define QSPOOL_LINE_MAX		4096
int qspool_journal_line(const struct qspool_event *ev, char *buf,
    size_t cap, size_t *len);

/* Applies one event to env (as the parser does).  -EINVAL if invalid. */
int qspool_env_apply(struct qspool_env *env, const struct qspool_event *ev);

/* Frees everything env holds and zeroes it. */
void qspool_env_clear(struct qspool_env *env);

/* A deep copy; 0 or -ENOMEM (then *dst is cleared). */
int qspool_env_copy(struct qspool_env *dst, const struct qspool_env *src);

/* The counts of recipients in each state. */
void qspool_env_counts(const struct qspool_env *env, size_t counts[4]);

/* ---- blocking file operations: for worker threads and posta(8) ---- */

/*
 * Makes dir and its subdirectories (mode 0700).  With clean, removes what
 * a crash left: everything in tmp/, q/<id>.msg without its .env.  Only
 * the daemon passes clean, once, before it accepts submissions.  Returns 0
 * or -errno.
 */
int qspool_open(const char *dir, bool clean);

/* A new unique id: microseconds since the epoch and 32 random bits. */
int qspool_new_id(char id_r[QSPOOL_ID_LEN + 1]);

/* "<dir>/<sub>/<id><ext>" (or "<dir>/<sub>") into buf; -ENAMETOOLONG. */
int qspool_path(char *buf, size_t size, const char *dir, const char *sub,
    const char *id, const char *ext);

/* Creates tmp/<id>.msg for writing (O_EXCL, 0600); the fd in *fd_r. */
int qspool_msg_create(const char *dir, const char *id, int *fd_r);

/* write(2) until done; 0 or -errno. */
int qspool_write_all(int fd, const void *buf, size_t len);

/*
 * Commits a submission: fsyncs msg_fd (tmp/<id>.msg, which the caller
 * still closes), writes and fsyncs tmp/<id>.env from env, renames both
 * into q/ (message first) and fsyncs q/.  When 0 is returned the message
 * is durable.  On error the tmp files are removed.  owner_uid >= 0: chown
 * both files (posta(8) running as root writes for the daemon's user).
 */
int qspool_commit(const char *dir, const struct qspool_env *env, int msg_fd,
    int64_t owner_uid, int64_t owner_gid);

/* Drops an uncommitted submission (tmp files). */
void qspool_discard(const char *dir, const char *id);

/* Appends journal text to q/<id>.env and fsyncs it. */
int qspool_journal_append(const char *dir, const char *id, const char *text,
    size_t len);

/*
 * Rewrites q/<id>.env from env (to a temp file, fsync, rename, fsync q/):
 * compaction, so a message retried for days keeps a short file.
 */
int qspool_env_rewrite(const char *dir, const struct qspool_env *env);

/*
 * Reads and parses q/<id>.env; as qspool_env_parse, or -errno when the
 * file cannot be opened or read (EACCES, EIO: the file may be fine).
 */
int qspool_env_load(const char *dir, const char *id, struct qspool_env *env_r,
    const char **error_r);

/* Removes a message: .env, then .msg (no fsync, see there).  0/-errno. */
int qspool_remove(const char *dir, const char *id);

/* Moves a message's files into corrupt/ (an unreadable envelope). */
int qspool_set_aside(const char *dir, const char *id);

/* The ids of committed messages, sorted (oldest first); *ids_r malloc'd. */
int qspool_scan(const char *dir, char (**ids_r)[QSPOOL_ID_LEN + 1],
    size_t *n_r);

/*
 * Control requests (ctl/): what is "flush", "delete" or "new"; id may be
 * NULL (flush everything; new: rescan q/).  The daemon acts on them at
 * once when it runs, or at its next start.
 */
int qspool_request(const char *dir, const char *what, const char *id,
    int64_t owner_uid, int64_t owner_gid);

struct qspool_req {
	char what[8];
	char id[QSPOOL_ID_LEN + 1];	/* "" for all */
};
/*
 * Takes the pending requests out of ctl/ (each file is removed as it is
 * read); unknown names are removed and skipped.  *reqs_r malloc'd.
 */
int qspool_take_requests(const char *dir, struct qspool_req **reqs_r,
    size_t *n_r);

#endif
