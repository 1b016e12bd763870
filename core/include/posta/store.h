/* store.h: the mail-store interface (mailboxes, messages, delivery) */
#ifndef POSTA_STORE_H
#define POSTA_STORE_H

/*
 * A storage plugin (maildir, or a third party's) fills a
 * struct posta_store_ops and registers it with posta_host_register_store()
 * (host.h).  Protocol modules find it with posta_host_store() and call it
 * through the static inline posta_*() wrappers at the end of this file.
 *
 * Threads.  Every call is made on the loop thread and every callback runs
 * on the loop thread.  The store does its disk work on the thread pool.
 *
 * The async rule (STYLE.md section 5).  A call that takes a callback
 * returns 0, and then the callback runs exactly once, later (never from
 * inside the call); or it returns a negative error, and then the callback
 * never runs.  Closing or aborting a handle while requests on it are
 * pending is allowed: each pending callback still runs exactly once, with
 * -ECANCELED unless its result was already final (a durable append that
 * finished stays done), and the store keeps the handle's memory alive until
 * then.  After a handle is closed the caller must not pass it again.
 * Watch notifications (posta_mailbox_notify_cb) are a registration, not a
 * request: they may run any number of times until the watch is removed.
 *
 * Handles.  struct posta_mail_user (one user's mail, opened per session),
 * struct posta_mailbox (an open mailbox: a view with stable sequence
 * numbers), struct posta_msg_reader (one message being read),
 * struct posta_append (one message being appended), struct posta_delivery
 * (one incoming message for N local accounts) are opaque.  Each starts
 * with a pointer to its store's ops table (struct posta_store_object), so
 * the wrappers reach the right store without a lookup.  A mailbox keeps its
 * user alive internally: the caller may close them in any order.
 *
 * Ownership.  Strings and arrays passed in are copied before the call
 * returns (the caller may free them at once).  Pointers handed to a
 * callback are valid only while it runs unless stated otherwise: copy what
 * you keep.
 *
 * Names.  Mailbox names are UTF-8, NUL-terminated, with '.' as the
 * hierarchy separator (posta_store_info.hierarchy_sep): "Sent",
 * "Lists.posta-dev".  "INBOX" is matched case-insensitively and always
 * exists.  Names holding '/', control characters, an empty component
 * ("a..b", ".a", "a.") or invalid UTF-8 are refused with POSTA_ENAME.
 * Translating IMAP's modified UTF-7 is the IMAP module's business.
 *
 * Messages.  Every size and offset the store reports or accepts counts the
 * message as it is sent to clients: lines end in CRLF.  Messages written
 * through the store are stored that way (a bare LF in appended or
 * delivered data is written as CRLF).  A foreign message with bare LFs
 * (put there by procmail, say) is read back with each bare LF turned into
 * CRLF, and its size is that of the converted form, so RFC822.SIZE, POP3
 * LIST and the bytes a reader returns always agree.  Message data is never
 * held whole in memory: it is read in ranges of at most
 * POSTA_STORE_READ_MAX bytes and written in chunks of at most
 * POSTA_STORE_WRITE_MAX bytes, one request at a time per handle.
 *
 * UIDs.  Each mailbox has a UIDVALIDITY and hands out strictly ascending
 * UIDs, never reused while the UIDVALIDITY stands.  Every change (new
 * message, flag change, expunge) takes a new MODSEQ from the mailbox's
 * HIGHESTMODSEQ (RFC 7162), so CONDSTORE and QRESYNC work on every mailbox.
 * UID arrays passed in are ascending without duplicates; UIDs that do not
 * exist (any more) are ignored unless stated otherwise.
 *
 * Errors are negative errnos or POSTA_E* codes (posta.h):
 *   POSTA_ENOTFOUND   mailbox or message does not exist (IMAP TRYCREATE
 *                     for APPEND/COPY when it is the destination mailbox)
 *   POSTA_EEXIST      CREATE/RENAME onto an existing mailbox
 *   POSTA_ENAME       invalid mailbox name
 *   POSTA_EQUOTA      message over max_message_size, too many keywords
 *   POSTA_ETEMP       temporary failure (disk, index busy): try later
 *   POSTA_ECORRUPT    damaged data the store could not repair
 *   -EBUSY            the POP3 lock is held by another session
 *   -EROFS            a change through a mailbox opened read-only
 *   -ENOTEMPTY        DELETE of a mailbox that has children
 *   -EPERM            DELETE of INBOX
 *   -EMSGSIZE         a chunk or range larger than the limits below
 *   -ECANCELED        the handle was closed while the request was pending
 */

#define POSTA_STORE_READ_MAX	(64u * 1024)	/* posta_msg_read() range */
#define POSTA_STORE_WRITE_MAX	(256u * 1024)	/* one append/delivery write */
#define POSTA_STORE_BATCH_MAX	256u		/* posta_mailbox_fetch_meta() */
#define POSTA_STORE_KEYWORDS_MAX 64u		/* keywords per mailbox */

struct posta_store_ops;
struct posta_mail_user;
struct posta_mailbox;
struct posta_msg_reader;
struct posta_append;
struct posta_delivery;

/* The first member of every store handle (see "Handles" above). */
struct posta_store_object {
	const struct posta_store_ops *ops;
};

#define POSTA_STORE_OPS(o) \
	(((const struct posta_store_object *)(const void *)(o))->ops)

/* ---- plain data ---- */

/* System flags (RFC 3501 2.3.2).  RECENT only ever appears in a view. */
enum posta_msg_flag {
	POSTA_FLAG_SEEN = 1u << 0,
	POSTA_FLAG_ANSWERED = 1u << 1,
	POSTA_FLAG_FLAGGED = 1u << 2,
	POSTA_FLAG_DELETED = 1u << 3,
	POSTA_FLAG_DRAFT = 1u << 4,
	POSTA_FLAG_RECENT = 1u << 5,	/* view only: never stored or set */
};
#define POSTA_FLAGS_STORED	0x1fu	/* the flags a client may set */

/* Special-use attributes (RFC 6154). */
enum posta_special_use {
	POSTA_SPECIAL_ALL = 1u << 0,
	POSTA_SPECIAL_ARCHIVE = 1u << 1,
	POSTA_SPECIAL_DRAFTS = 1u << 2,
	POSTA_SPECIAL_FLAGGED = 1u << 3,
	POSTA_SPECIAL_JUNK = 1u << 4,
	POSTA_SPECIAL_SENT = 1u << 5,
	POSTA_SPECIAL_TRASH = 1u << 6,
};

/* LIST attributes of one mailbox. */
enum posta_mailbox_attr {
	POSTA_MBOX_NONEXISTENT = 1u << 0,	/* only subscribed, or only a
						   parent of existing ones */
	POSTA_MBOX_HAS_CHILDREN = 1u << 1,
	POSTA_MBOX_SUBSCRIBED = 1u << 2,
};

/* What the store is and allows; constant while the store is registered. */
struct posta_store_info {
	char hierarchy_sep;		/* '.' */
	uint64_t max_message_size;	/* APPENDLIMIT; 0 = no limit */
	uint32_t max_keywords;		/* per mailbox, <= KEYWORDS_MAX */
	bool has_recent;		/* \Recent is tracked */
};

struct posta_mailbox_info {
	const char *name;
	uint32_t attrs;			/* enum posta_mailbox_attr */
	uint32_t special_use;		/* enum posta_special_use */
};

/*
 * STATUS items (RFC 3501, RFC 7162 HIGHESTMODSEQ, RFC 8438 SIZE).  In a
 * view (posta_mailbox_view_status) the counts describe the view;
 * first_unseen is the sequence number of the first message without \Seen
 * (0: none), set only in a view.
 */
struct posta_mailbox_status {
	uint32_t messages, recent, unseen, deleted;
	uint32_t uidvalidity, uidnext;
	uint64_t highestmodseq;
	uint64_t size;			/* sum of message sizes */
	uint32_t first_unseen;
};

struct posta_user_usage {
	uint64_t messages;
	uint64_t bytes;			/* sum of message sizes */
};

/* A user's quota (ABI 1.1): usage and limits, 0 meaning no limit. */
struct posta_quota {
	uint64_t messages, bytes;		/* in use now */
	uint64_t messages_limit, bytes_limit;
};

/*
 * One message of a view.  keywords is a bit set over the view's keyword
 * table (posta_mailbox_keywords): bit i means names[i].
 */
struct posta_msg {
	uint32_t uid;
	uint32_t flags;			/* enum posta_msg_flag */
	uint64_t keywords;
	uint64_t modseq;
	uint64_t size;			/* RFC822.SIZE: CRLF octets */
	int64_t internal_date;		/* seconds since the epoch, UTC */
};

/*
 * One MIME part of a message, in IMAP numbering.  Offsets are from the
 * start of the message.  header_* is the part's MIME header including the
 * empty line ending it (BODY[n.MIME]); body_* its body (BODY[n]).  For a
 * message/rfc822 part (POSTA_PART_MESSAGE) the body is a whole message:
 * its header is the first msg_header_len bytes of the body (BODY[n.HEADER])
 * and the rest is BODY[n.TEXT].  The table starts with the whole message,
 * section "" (BODY[HEADER], BODY[TEXT]), then every part depth first; the
 * body of a single-part message (top level or inside message/rfc822) is
 * its own entry S.1 sharing the message's offsets (RFC 3501 6.4.5).
 */
enum posta_part_flag {
	POSTA_PART_MULTIPART = 1u << 0,
	POSTA_PART_MESSAGE = 1u << 1,
};

struct posta_mime_part {
	const char *section;		/* "", "1", "1.2", "2.1.3" */
	uint64_t header_off, header_len;
	uint64_t body_off, body_len;
	uint64_t msg_header_len;	/* POSTA_PART_MESSAGE only */
	uint32_t body_lines;
	uint32_t flags;			/* enum posta_part_flag */
};

/* Cached parse results (posta_mailbox_fetch_meta). */
enum posta_meta_field {
	POSTA_META_ENVELOPE = 1u << 0,
	POSTA_META_BODYSTRUCTURE = 1u << 1,
	POSTA_META_BODY = 1u << 2,
	POSTA_META_PARTS = 1u << 3,
};

/*
 * envelope, bodystructure and body are the IMAP wire forms
 * ("(\"date\" \"subject\" ...)"), ready to send; NULL unless asked for.
 * header_size is the message header including its empty line (TOP,
 * BODY[HEADER]); body_lines counts the lines after it.  err is 0, or
 * POSTA_ENOTFOUND for a message expunged since the view was taken (then
 * only uid is set).
 */
struct posta_msg_meta {
	uint32_t uid;
	int err;
	const char *envelope;
	const char *bodystructure;
	const char *body;
	uint64_t header_size;
	uint32_t body_lines;
	size_t n_parts;			/* with POSTA_META_PARTS */
	const struct posta_mime_part *parts;
};

/*
 * What a refresh changed in a view, in the order an IMAP server reports
 * it.  expunged[] is ordered by descending seq, where seq is the number in
 * the view before the refresh: sending "* seq EXPUNGE" for each in this
 * order numbers them correctly.  changed[] holds UIDs (ascending) still in
 * the view whose flags or modseq changed, by others: changes made through
 * this view's own posta_mailbox_store_flags() are not repeated.  messages
 * is the new EXISTS count; messages beyond the surviving old ones are new.
 * keywords_changed: the keyword table grew (IMAP sends FLAGS again).
 * uidvalidity_changed: the index had to be rebuilt; the session cannot go
 * on with this view (IMAP: BYE, or re-SELECT).
 */
struct posta_expunged {
	uint32_t seq, uid;
};

struct posta_mailbox_changes {
	size_t n_expunged;
	const struct posta_expunged *expunged;
	size_t n_changed;
	const uint32_t *changed;
	uint32_t messages;
	uint32_t recent;
	bool keywords_changed;
	bool uidvalidity_changed;
};

/* A STORE: mode, system flags, keyword names, optional UNCHANGEDSINCE. */
enum posta_flags_mode {
	POSTA_FLAGS_SET = 0,		/* FLAGS */
	POSTA_FLAGS_ADD,		/* +FLAGS */
	POSTA_FLAGS_REMOVE,		/* -FLAGS */
};

struct posta_flag_update {
	enum posta_flags_mode mode;
	uint32_t flags;			/* within POSTA_FLAGS_STORED */
	size_t n_keywords;
	const char *const *keywords;	/* atoms; matched case-insensitively */
	uint64_t unchangedsince;	/* RFC 7162; 0 = no condition */
};

/*
 * changed: UIDs whose flags or keywords now differ; the view already shows
 * the new values and modseqs when the callback runs.  failed: UIDs whose
 * modseq was above unchangedsince (RFC 7162 MODIFIED); left alone.
 */
struct posta_flags_result {
	size_t n_changed;
	const uint32_t *changed;
	size_t n_failed;
	const uint32_t *failed;
};

/* For UIDPLUS COPYUID: src_uids[i] became dst_uids[i]. */
struct posta_copy_result {
	uint32_t dst_uidvalidity;
	size_t n;
	const uint32_t *src_uids;
	const uint32_t *dst_uids;
};

struct posta_uid_range {
	uint32_t lo, hi;		/* inclusive */
};

/*
 * Flags, keywords and internal date for an append or delivery.
 * internal_date 0 means now.
 */
struct posta_append_params {
	uint32_t flags;			/* within POSTA_FLAGS_STORED */
	size_t n_keywords;
	const char *const *keywords;
	int64_t internal_date;
};

/* One recipient of a delivery: mailbox NULL means INBOX. */
struct posta_delivery_rcpt {
	const char *account;		/* canonical login, user@domain */
	const char *mailbox;
};

/*
 * Per recipient, in the order given: err 0 means this copy is durable on
 * disk as uid in a mailbox with uidvalidity (uid 0: the copy is safe but
 * its index entry failed; the next sync gives it a UID).  POSTA_ETEMP,
 * POSTA_ENAME (not an account the store can hold mail for) and other
 * errors mean this recipient has no copy.  A missing target mailbox
 * falls back to INBOX.
 */
struct posta_delivery_result {
	const char *account;
	int err;
	uint32_t uidvalidity, uid;
};

/* posta_mailbox_open() flags */
enum posta_mailbox_open_flags {
	/* EXAMINE: no \Recent is claimed; changes fail with -EROFS */
	POSTA_OPEN_READONLY = 1u << 0,
	/*
	 * Take the mailbox's POP3 lock, held until close: while one view
	 * holds it, opening another with this flag fails with -EBUSY
	 * (POP3 [IN-USE]), from the call itself or from its callback.
	 * Other views are unaffected.  The lock is per daemon.
	 */
	POSTA_OPEN_POP3_LOCK = 1u << 1,
};

/* posta_mailbox_refresh() flags */
enum posta_refresh_flags {
	/*
	 * Also look at the disk for changes by other programs (a Maildir
	 * written by procmail).  Without it only changes made through this
	 * store in this daemon are applied, which costs no disk access.
	 */
	POSTA_REFRESH_DISK = 1u << 0,
};

/* posta_mailbox_expunge() flags */
enum posta_expunge_flags {
	/* only those of the given messages that have \Deleted (IMAP) */
	POSTA_EXPUNGE_DELETED_ONLY = 1u << 0,
};

/* ---- callbacks ---- */

typedef void posta_store_done_cb(void *ctx, int err);
typedef void posta_mail_user_cb(void *ctx, int err,
    struct posta_mail_user *user);
typedef void posta_store_usage_cb(void *ctx, int err,
    const struct posta_user_usage *usage);
typedef void posta_store_quota_cb(void *ctx, int err,
    const struct posta_quota *quota);
/* boxes sorted by name, INBOX first */
typedef void posta_mailbox_list_cb(void *ctx, int err,
    const struct posta_mailbox_info *boxes, size_t n);
typedef void posta_mailbox_status_cb(void *ctx, int err,
    const struct posta_mailbox_status *status);
typedef void posta_mailbox_open_cb(void *ctx, int err,
    struct posta_mailbox *box);
typedef void posta_mailbox_notify_cb(void *ctx, struct posta_mailbox *box);
typedef void posta_mailbox_refresh_cb(void *ctx, int err,
    const struct posta_mailbox_changes *changes);
/* metas[i] answers uids[i] of the request */
typedef void posta_msg_meta_cb(void *ctx, int err,
    const struct posta_msg_meta *metas, size_t n);
typedef void posta_store_flags_cb(void *ctx, int err,
    const struct posta_flags_result *result);
typedef void posta_store_expunge_cb(void *ctx, int err, size_t n_expunged);
typedef void posta_store_copy_cb(void *ctx, int err,
    const struct posta_copy_result *result);
typedef void posta_uid_ranges_cb(void *ctx, int err,
    const struct posta_uid_range *ranges, size_t n);
typedef void posta_msg_open_cb(void *ctx, int err,
    struct posta_msg_reader *reader, uint64_t size);
typedef void posta_msg_read_cb(void *ctx, int err, const uint8_t *data,
    size_t len);
typedef void posta_append_cb(void *ctx, int err, uint32_t uidvalidity,
    uint32_t uid);
typedef void posta_append_begin_cb(void *ctx, int err,
    struct posta_append *ap);
typedef void posta_delivery_begin_cb(void *ctx, int err,
    struct posta_delivery *d);
typedef void posta_delivery_cb(void *ctx,
    const struct posta_delivery_result *results, size_t n);

/* ---- the table a store registers ---- */

/*
 * size is sizeof(struct posta_store_ops) as the store was built; the
 * wrappers check it before calling a member added in a later ABI minor.
 * Every member of ABI 1.0 is required; later ones may be NULL (the
 * wrapper then answers -ENOTSUP).  See the wrappers below for each
 * contract.
 */
struct posta_store_ops {
	uint32_t size;
	const char *name;

	const struct posta_store_info *(*info)(void *state);

	int (*user_open)(void *state, const char *account,
	    posta_mail_user_cb *cb, void *ctx);
	void (*user_close)(struct posta_mail_user *user);
	int (*user_usage)(struct posta_mail_user *user,
	    posta_store_usage_cb *cb, void *ctx);

	int (*mailbox_list)(struct posta_mail_user *user,
	    posta_mailbox_list_cb *cb, void *ctx);
	int (*mailbox_create)(struct posta_mail_user *user, const char *name,
	    uint32_t special_use, posta_store_done_cb *cb, void *ctx);
	int (*mailbox_delete)(struct posta_mail_user *user, const char *name,
	    posta_store_done_cb *cb, void *ctx);
	int (*mailbox_rename)(struct posta_mail_user *user, const char *from,
	    const char *to, posta_store_done_cb *cb, void *ctx);
	int (*mailbox_subscribe)(struct posta_mail_user *user,
	    const char *name, bool subscribe, posta_store_done_cb *cb,
	    void *ctx);
	int (*mailbox_status)(struct posta_mail_user *user, const char *name,
	    posta_mailbox_status_cb *cb, void *ctx);

	int (*mailbox_open)(struct posta_mail_user *user, const char *name,
	    uint32_t flags, posta_mailbox_open_cb *cb, void *ctx);
	void (*mailbox_close)(struct posta_mailbox *box);
	const char *(*view_name)(const struct posta_mailbox *box);
	const struct posta_mailbox_status *(*view_status)(
	    const struct posta_mailbox *box);
	size_t (*view_messages)(const struct posta_mailbox *box,
	    const struct posta_msg **msgs_r);
	size_t (*view_keywords)(const struct posta_mailbox *box,
	    const char *const **names_r);
	void (*watch)(struct posta_mailbox *box, posta_mailbox_notify_cb *cb,
	    void *ctx);
	int (*refresh)(struct posta_mailbox *box, uint32_t flags,
	    posta_mailbox_refresh_cb *cb, void *ctx);
	int (*fetch_meta)(struct posta_mailbox *box, const uint32_t *uids,
	    size_t n, uint32_t fields, posta_msg_meta_cb *cb, void *ctx);
	int (*store_flags)(struct posta_mailbox *box, const uint32_t *uids,
	    size_t n, const struct posta_flag_update *update,
	    posta_store_flags_cb *cb, void *ctx);
	int (*expunge)(struct posta_mailbox *box, const uint32_t *uids,
	    size_t n, uint32_t flags, posta_store_expunge_cb *cb, void *ctx);
	int (*copy)(struct posta_mailbox *box, const uint32_t *uids, size_t n,
	    const char *dst, bool move, posta_store_copy_cb *cb, void *ctx);
	int (*expunged_since)(struct posta_mailbox *box, uint64_t modseq,
	    posta_uid_ranges_cb *cb, void *ctx);

	int (*msg_open)(struct posta_mailbox *box, uint32_t uid,
	    posta_msg_open_cb *cb, void *ctx);
	int (*msg_read)(struct posta_msg_reader *r, uint64_t offset,
	    size_t len, posta_msg_read_cb *cb, void *ctx);
	void (*msg_close)(struct posta_msg_reader *r);

	int (*append_begin)(struct posta_mail_user *user, const char *mailbox,
	    const struct posta_append_params *params,
	    posta_append_begin_cb *cb, void *ctx);
	int (*append_write)(struct posta_append *ap, const void *data,
	    size_t len, posta_store_done_cb *cb, void *ctx);
	int (*append_finish)(struct posta_append *ap, posta_append_cb *cb,
	    void *ctx);
	void (*append_abort)(struct posta_append *ap);

	int (*delivery_begin)(void *state,
	    const struct posta_delivery_rcpt *rcpts, size_t n,
	    const struct posta_append_params *params,
	    posta_delivery_begin_cb *cb, void *ctx);
	int (*delivery_write)(struct posta_delivery *d, const void *data,
	    size_t len, posta_store_done_cb *cb, void *ctx);
	int (*delivery_finish)(struct posta_delivery *d,
	    posta_delivery_cb *cb, void *ctx);
	void (*delivery_abort)(struct posta_delivery *d);

	/* ABI 1.1 */
	int (*quota)(void *state, const char *account,
	    posta_store_quota_cb *cb, void *ctx);
};

/* Whether the store that registered ops has member m (a later minor). */
#define POSTA_STORE_HAS(ops, m)						\
	((ops)->size >= offsetof(struct posta_store_ops, m) +		\
	    sizeof((ops)->m) && (ops)->m != NULL)

/* ---- wrappers: what protocol modules call ---- */

/* defined in host.h, which posta.h includes after this file */
static inline const struct posta_store_ops *posta_host_store(
    struct posta_host *h, void **state_r);

/* The registered store's constant facts, or NULL when none is loaded. */
static inline const struct posta_store_info *
posta_store_get_info(struct posta_host *h)
{
	void *state;
	const struct posta_store_ops *ops = posta_host_store(h, &state);

	return ops != NULL ? ops->info(state) : NULL;
}

/*
 * Opens the mail of account (a canonical login as posta_conn_user()
 * gives it) for one session; creates its Maildir and special-use folders
 * on first use.  cb gets the user handle, owned by the caller until
 * posta_mail_user_close().  POSTA_ENOPROVIDER when no store is loaded.
 */
static inline int
posta_mail_user_open(struct posta_host *h, const char *account,
    posta_mail_user_cb *cb, void *ctx)
{
	void *state;
	const struct posta_store_ops *ops = posta_host_store(h, &state);

	if (ops == NULL)
		return POSTA_ENOPROVIDER;
	return ops->user_open(state, account, cb, ctx);
}

/* Releases the session's handle (mailboxes opened from it stay usable). */
static inline void
posta_mail_user_close(struct posta_mail_user **userp)
{
	struct posta_mail_user *user = *userp;

	if (user == NULL)
		return;
	*userp = NULL;
	POSTA_STORE_OPS(user)->user_close(user);
}

/*
 * The quota of account (a canonical login) without opening a session:
 * cheap enough for every SMTP RCPT.  An account that has no mail yet has
 * no usage.  -ENOTSUP from a store without quotas (built for ABI 1.0 or
 * leaving the member NULL), POSTA_ENOPROVIDER without a store.  ABI 1.1.
 */
static inline int
posta_store_quota(struct posta_host *h, const char *account,
    posta_store_quota_cb *cb, void *ctx)
{
	void *state;
	const struct posta_store_ops *ops = posta_host_store(h, &state);

	if (ops == NULL)
		return POSTA_ENOPROVIDER;
	if (!POSTA_STORE_HAS(ops, quota))
		return -ENOTSUP;
	return ops->quota(state, account, cb, ctx);
}

/* Messages and bytes over all mailboxes (quota). */
static inline int
posta_mail_user_usage(struct posta_mail_user *user, posta_store_usage_cb *cb,
    void *ctx)
{
	return POSTA_STORE_OPS(user)->user_usage(user, cb, ctx);
}

/*
 * Every mailbox, plus subscribed names that do not exist and parents that
 * exist only as part of a child's name (both POSTA_MBOX_NONEXISTENT).
 * Pattern matching (LIST "" "a.%") is the caller's business.
 */
static inline int
posta_mailbox_list(struct posta_mail_user *user, posta_mailbox_list_cb *cb,
    void *ctx)
{
	return POSTA_STORE_OPS(user)->mailbox_list(user, cb, ctx);
}

/* special_use: 0, or enum posta_special_use bits (RFC 6154 CREATE USE). */
static inline int
posta_mailbox_create(struct posta_mail_user *user, const char *name,
    uint32_t special_use, posta_store_done_cb *cb, void *ctx)
{
	return POSTA_STORE_OPS(user)->mailbox_create(user, name, special_use,
	    cb, ctx);
}

/*
 * Deletes a mailbox and its messages; -ENOTEMPTY when it has children,
 * -EPERM for INBOX.  Open views of it see every message expunged.
 */
static inline int
posta_mailbox_delete(struct posta_mail_user *user, const char *name,
    posta_store_done_cb *cb, void *ctx)
{
	return POSTA_STORE_OPS(user)->mailbox_delete(user, name, cb, ctx);
}

/*
 * Renames a mailbox and its children (a.b follows a).  Renaming INBOX
 * moves its messages into a new mailbox and leaves INBOX empty
 * (RFC 3501 6.3.5).  The UIDVALIDITY is kept.
 */
static inline int
posta_mailbox_rename(struct posta_mail_user *user, const char *from,
    const char *to, posta_store_done_cb *cb, void *ctx)
{
	return POSTA_STORE_OPS(user)->mailbox_rename(user, from, to, cb, ctx);
}

/* Subscribing a name that does not exist is allowed (RFC 3501 6.3.6). */
static inline int
posta_mailbox_subscribe(struct posta_mail_user *user, const char *name,
    bool subscribe, posta_store_done_cb *cb, void *ctx)
{
	return POSTA_STORE_OPS(user)->mailbox_subscribe(user, name,
	    subscribe, cb, ctx);
}

/* STATUS without opening a view; picks up changes on disk first. */
static inline int
posta_mailbox_status(struct posta_mail_user *user, const char *name,
    posta_mailbox_status_cb *cb, void *ctx)
{
	return POSTA_STORE_OPS(user)->mailbox_status(user, name, cb, ctx);
}

/*
 * Opens a view of a mailbox (SELECT, EXAMINE, a POP3 maildrop) after
 * syncing the index with the disk.  The view is a snapshot: sequence
 * numbers, messages and flags change only when this view's refresh or
 * store_flags callback runs, so a POP3 session that never refreshes keeps
 * the maildrop it logged in to.  flags: enum posta_mailbox_open_flags.
 * cb gets the box, owned by the caller until posta_mailbox_close().
 */
static inline int
posta_mailbox_open(struct posta_mail_user *user, const char *name,
    uint32_t flags, posta_mailbox_open_cb *cb, void *ctx)
{
	return POSTA_STORE_OPS(user)->mailbox_open(user, name, flags, cb, ctx);
}

/* Closes the view, drops its watch and its POP3 lock. */
static inline void
posta_mailbox_close(struct posta_mailbox **boxp)
{
	struct posta_mailbox *box = *boxp;

	if (box == NULL)
		return;
	*boxp = NULL;
	POSTA_STORE_OPS(box)->mailbox_close(box);
}

/* The name the view was opened with, as the store spells it ("INBOX"). */
static inline const char *
posta_mailbox_name(const struct posta_mailbox *box)
{
	return POSTA_STORE_OPS(box)->view_name(box);
}

/* The view's counts, UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ (see above). */
static inline const struct posta_mailbox_status *
posta_mailbox_view_status(const struct posta_mailbox *box)
{
	return POSTA_STORE_OPS(box)->view_status(box);
}

/*
 * The view's messages, ascending by UID; msgs[seq - 1] is message seq.
 * The array and its contents stay valid and unchanged until this view's
 * next refresh or store_flags callback runs, or close.  Returns the count.
 */
static inline size_t
posta_mailbox_messages(const struct posta_mailbox *box,
    const struct posta_msg **msgs_r)
{
	return POSTA_STORE_OPS(box)->view_messages(box, msgs_r);
}

/*
 * The mailbox's keyword names (FLAGS, PERMANENTFLAGS); bit i of
 * posta_msg.keywords is names[i].  Valid as posta_mailbox_messages().
 */
static inline size_t
posta_mailbox_keywords(const struct posta_mailbox *box,
    const char *const **names_r)
{
	return POSTA_STORE_OPS(box)->view_keywords(box, names_r);
}

/*
 * Asks to be told when the mailbox changes (IDLE).  cb runs on the loop
 * soon after a new message, flag change or expunge made by any session or
 * delivery in this daemon (coalesced; never from inside a store call); the
 * session then calls posta_mailbox_refresh() when its protocol allows.
 * Replaces an earlier watch; cb NULL removes it.  Changes by other
 * programs are seen by a refresh with POSTA_REFRESH_DISK.
 */
static inline void
posta_mailbox_watch(struct posta_mailbox *box, posta_mailbox_notify_cb *cb,
    void *ctx)
{
	POSTA_STORE_OPS(box)->watch(box, cb, ctx);
}

/*
 * Brings the view up to date and reports what changed (struct
 * posta_mailbox_changes); the new view is in effect when cb runs.  Also
 * the way to see one's own expunges and appends.  flags: enum
 * posta_refresh_flags.  One refresh at a time per view (-EBUSY).  A
 * mailbox deleted meanwhile reports every message expunged.
 */
static inline int
posta_mailbox_refresh(struct posta_mailbox *box, uint32_t flags,
    posta_mailbox_refresh_cb *cb, void *ctx)
{
	return POSTA_STORE_OPS(box)->refresh(box, flags, cb, ctx);
}

/* Binary search of the view: the sequence number of uid, or 0. */
static inline uint32_t
posta_mailbox_seq_of_uid(const struct posta_mailbox *box, uint32_t uid)
{
	const struct posta_msg *msgs;
	size_t lo = 0, hi = posta_mailbox_messages(box, &msgs);

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (msgs[mid].uid == uid)
			return (uint32_t)mid + 1;
		if (msgs[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

/*
 * Cached ENVELOPE, BODYSTRUCTURE, BODY and part table of up to
 * POSTA_STORE_BATCH_MAX messages (n > 0, else -EMSGSIZE); fields: enum
 * posta_meta_field bits.  Ask batch after batch to stream a large FETCH at
 * the pace the client reads it.
 */
static inline int
posta_mailbox_fetch_meta(struct posta_mailbox *box, const uint32_t *uids,
    size_t n, uint32_t fields, posta_msg_meta_cb *cb, void *ctx)
{
	return POSTA_STORE_OPS(box)->fetch_meta(box, uids, n, fields, cb,
	    ctx);
}

/*
 * STORE.  Each changed message gets a new modseq.  Keywords not yet in the
 * mailbox are added to its table (POSTA_EQUOTA past max_keywords: nothing
 * changed).  The update is durable (flags in the file name and the index)
 * when cb runs.
 */
static inline int
posta_mailbox_store_flags(struct posta_mailbox *box, const uint32_t *uids,
    size_t n, const struct posta_flag_update *update,
    posta_store_flags_cb *cb, void *ctx)
{
	return POSTA_STORE_OPS(box)->store_flags(box, uids, n, update, cb,
	    ctx);
}

/*
 * Removes messages durably (the files are unlinked and the directory
 * synced when cb runs).  uids NULL means every message of the view; with
 * POSTA_EXPUNGE_DELETED_ONLY only those flagged \Deleted.  A POP3 QUIT
 * passes its DELE'd UIDs and 0.  The view itself changes at the next
 * refresh.
 */
static inline int
posta_mailbox_expunge(struct posta_mailbox *box, const uint32_t *uids,
    size_t n, uint32_t flags, posta_store_expunge_cb *cb, void *ctx)
{
	return POSTA_STORE_OPS(box)->expunge(box, uids, n, flags, cb, ctx);
}

/*
 * COPY or MOVE (RFC 6851) messages to mailbox dst of the same user,
 * keeping flags, keywords and internal dates; durable when cb runs.  The
 * result maps source to destination UIDs (UIDPLUS).  POSTA_ENOTFOUND when
 * dst does not exist.  MOVE expunges the sources; this view reports those
 * expunges at its next refresh.
 */
static inline int
posta_mailbox_copy(struct posta_mailbox *box, const uint32_t *uids, size_t n,
    const char *dst, bool move, posta_store_copy_cb *cb, void *ctx)
{
	return POSTA_STORE_OPS(box)->copy(box, uids, n, dst, move, cb, ctx);
}

/* UIDs expunged with a modseq above modseq (QRESYNC VANISHED (EARLIER)). */
static inline int
posta_mailbox_expunged_since(struct posta_mailbox *box, uint64_t modseq,
    posta_uid_ranges_cb *cb, void *ctx)
{
	return POSTA_STORE_OPS(box)->expunged_since(box, modseq, cb, ctx);
}

/*
 * Opens a message of the view for reading; cb gets the reader and the
 * message size.  A reader stays readable after the message is expunged by
 * someone else.  POSTA_ENOTFOUND when it is already gone.
 */
static inline int
posta_msg_open(struct posta_mailbox *box, uint32_t uid, posta_msg_open_cb *cb,
    void *ctx)
{
	return POSTA_STORE_OPS(box)->msg_open(box, uid, cb, ctx);
}

/*
 * Reads up to len (<= POSTA_STORE_READ_MAX) bytes at offset.  Fewer bytes
 * only at the end of the message; 0 at or past it.  One read at a time
 * per reader (-EBUSY).  Sequential reads are cheapest; any offset works
 * (partial FETCH).
 */
static inline int
posta_msg_read(struct posta_msg_reader *r, uint64_t offset, size_t len,
    posta_msg_read_cb *cb, void *ctx)
{
	return POSTA_STORE_OPS(r)->msg_read(r, offset, len, cb, ctx);
}

static inline void
posta_msg_close(struct posta_msg_reader **rp)
{
	struct posta_msg_reader *r = *rp;

	if (r == NULL)
		return;
	*rp = NULL;
	POSTA_STORE_OPS(r)->msg_close(r);
}

/*
 * APPEND.  begin checks the mailbox exists (POSTA_ENOTFOUND: IMAP
 * TRYCREATE, before the literal is read) and opens a temporary file; then
 * write the message in chunks (each <= POSTA_STORE_WRITE_MAX, copied
 * before the call returns; one write at a time, -EBUSY otherwise; cb
 * runs once the chunk is in the file); then finish, which makes the message
 * durable, gives it a UID, notifies watchers, and frees ap after cb.
 * POSTA_EQUOTA from a write past max_message_size.  abort (any time
 * before finish) discards the message and frees ap.
 */
static inline int
posta_append_begin(struct posta_mail_user *user, const char *mailbox,
    const struct posta_append_params *params, posta_append_begin_cb *cb,
    void *ctx)
{
	return POSTA_STORE_OPS(user)->append_begin(user, mailbox, params, cb,
	    ctx);
}

static inline int
posta_append_write(struct posta_append *ap, const void *data, size_t len,
    posta_store_done_cb *cb, void *ctx)
{
	return POSTA_STORE_OPS(ap)->append_write(ap, data, len, cb, ctx);
}

static inline int
posta_append_finish(struct posta_append *ap, posta_append_cb *cb, void *ctx)
{
	return POSTA_STORE_OPS(ap)->append_finish(ap, cb, ctx);
}

static inline void
posta_append_abort(struct posta_append **app)
{
	struct posta_append *ap = *app;

	if (ap == NULL)
		return;
	*app = NULL;
	POSTA_STORE_OPS(ap)->append_abort(ap);
}

/*
 * Local delivery of one message to n recipients (SMTP): begin, write
 * chunks exactly as for an append (the data is the message as it goes into
 * every mailbox, Return-Path and Received included), finish.  finish's cb
 * reports each recipient (struct posta_delivery_result); every copy whose
 * err is 0 is on disk (file and directory fsync'd, renamed into new/)
 * before cb runs, and watchers of those mailboxes have been notified.
 * The same account listed twice gets one copy.  d is freed after cb;
 * abort before finish discards everything.  begin fails (cb never runs)
 * when no recipient is an account the store can hold mail for.
 */
static inline int
posta_delivery_begin(struct posta_host *h,
    const struct posta_delivery_rcpt *rcpts, size_t n,
    const struct posta_append_params *params, posta_delivery_begin_cb *cb,
    void *ctx)
{
	void *state;
	const struct posta_store_ops *ops = posta_host_store(h, &state);

	if (ops == NULL)
		return POSTA_ENOPROVIDER;
	return ops->delivery_begin(state, rcpts, n, params, cb, ctx);
}

static inline int
posta_delivery_write(struct posta_delivery *d, const void *data, size_t len,
    posta_store_done_cb *cb, void *ctx)
{
	return POSTA_STORE_OPS(d)->delivery_write(d, data, len, cb, ctx);
}

static inline int
posta_delivery_finish(struct posta_delivery *d, posta_delivery_cb *cb,
    void *ctx)
{
	return POSTA_STORE_OPS(d)->delivery_finish(d, cb, ctx);
}

static inline void
posta_delivery_abort(struct posta_delivery **dp)
{
	struct posta_delivery *d = *dp;

	if (d == NULL)
		return;
	*dp = NULL;
	POSTA_STORE_OPS(d)->delivery_abort(d);
}

#endif
