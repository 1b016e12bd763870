/* imap.h: the IMAP session, command table and helpers shared by imap_*.c */
#ifndef POSTA_IMAP_H
#define POSTA_IMAP_H

#include <posta/posta.h>

#include "arena.h"
#include "imap_parse.h"
#include "imap_seqset.h"

/* The protocol block (conf.d/09-imap-protocol.conf documents each). */
struct imap_settings {
	uint64_t idle_timeout_ms;	/* after login; >= 30m (RFC 3501) */
	int64_t max_bad_commands;	/* BAD replies in a row before BYE */
	uint64_t max_line_length;	/* one command line, bytes */
	uint64_t max_literal_size;	/* a literal held in memory */
	uint64_t max_command_size;	/* lines and literals of a command */
	uint64_t max_search_read;	/* message bytes one SEARCH may read */
};

/* Module state: one per loaded module. */
struct imap_module {
	struct posta_host *host;
	const struct imap_settings *set;
};

/* RFC 3501 section 3; bits, so a command can name the states it runs in. */
enum imap_state {
	IMAP_STATE_NOTAUTH = 1u << 0,
	IMAP_STATE_AUTH = 1u << 1,
	IMAP_STATE_SELECTED = 1u << 2,
	IMAP_STATE_LOGOUT = 1u << 3,
};

#define IMAP_STATE_ANY (IMAP_STATE_NOTAUTH | IMAP_STATE_AUTH | \
	IMAP_STATE_SELECTED)
#define IMAP_STATE_AUTHED (IMAP_STATE_AUTH | IMAP_STATE_SELECTED)

struct imap_session;
struct imap_cmd;

typedef void imap_cmd_fn(struct imap_session *s, struct imap_cmd *c);

enum imap_cmd_flags {
	/* may be prefixed with UID */
	IMAP_CMDF_UID = 1u << 0,
	/*
	 * FETCH, STORE, SEARCH without UID: no EXPUNGE may be sent while
	 * they run (RFC 3501 7.4.1), so the view is not refreshed after them.
	 */
	IMAP_CMDF_NO_EXPUNGE = 1u << 1,
	/* refresh with a look at the disk before the tagged reply (NOOP) */
	IMAP_CMDF_POLL = 1u << 2,
};

struct imap_cmd_def {
	const char *name;
	unsigned states;		/* enum imap_state bits */
	unsigned flags;			/* enum imap_cmd_flags */
	imap_cmd_fn *run;
};

/*
 * The command being run; one at a time.  Everything a command allocates
 * lives in the session's command arena, reset when the command ends.  A
 * command that waits for a callback calls imap_cmd_wait(), which pauses
 * the input so pipelined commands keep their order; it ends with
 * imap_cmd_done() (or imap_cmd_ok/no/bad).
 */
struct imap_cmd {
	const struct imap_cmd_def *def;
	const char *tag;
	const char *name;		/* as the table spells it */
	bool uid;
	const struct imap_arg *args;	/* the parser's tree: valid until
					   the command ends */
	/* raw lines after imap_parser_expect_line (IDLE, AUTHENTICATE) */
	void (*line)(struct imap_session *s, const uint8_t *line,
	    size_t len);
	/*
	 * that raw line was over-long (msg: the BAD text); when unset the
	 * command ends with BAD.  A command with a request out (IDLE's
	 * refresh) must wait for it instead of ending now.
	 */
	void (*line_error)(struct imap_session *s, const char *msg);
	/* the output queue ran empty (streaming FETCH) */
	void (*drain)(struct imap_session *s);
	/* a watch notification while the command runs (IDLE) */
	void (*notify)(struct imap_session *s);
	void *ctx;
	char *reply;			/* "OK ..." once decided */
	bool no_refresh;		/* skip the update refresh */
};

/* An APPEND being streamed into the store (imap_cmd_append.c). */
struct imap_append;

/*
 * One connection.  Memory: freed when the last reference goes; the
 * connection holds one until its close handler runs, and each store
 * request one until its callback runs (imap_ref / imap_cb_enter).  A login
 * needs none: the core never calls it back after close.
 */
struct imap_session {
	struct imap_module *mod;
	struct posta_conn *conn;	/* NULL once closed */
	unsigned refs;
	bool closed;
	enum imap_state state;

	struct arena *arena;		/* the connection's: parser state */
	struct arena *cmd_arena;	/* reset after each command */
	struct imap_parser *parser;
	uint64_t want;			/* exact bytes still to come */
	uint8_t *pend;			/* input taken while waiting */
	size_t pend_len, pend_cap;
	bool in_cmd;			/* cmd holds a running command */
	bool shutdown_pending;		/* BYE once the command ends */
	bool waiting;			/* input paused for a callback */
	bool paused;			/* we paused the connection */
	bool feeding;			/* imap_feed is on the stack */
	unsigned bad;			/* BAD replies in a row */
	struct imap_cmd cmd;
	struct imap_append *append;

	/* SASL exchange state (imap_cmd_auth.c) */
	uint8_t sasl_step;
	uint8_t sasl_mech;
	char *sasl_user;

	/* authenticated */
	struct posta_mail_user *user;
	/* selected */
	struct posta_mailbox *box;
	bool readonly;
	bool notified;			/* watch fired since refresh */
	bool condstore, qresync;	/* ENABLEd (or CONDSTORE used) */
	uint32_t exists;		/* EXISTS the client was told */
	uint32_t recent;		/* RECENT the client was told */
	size_t n_keywords;		/* keywords in the last FLAGS sent */
};

/* ---- imap.c ---- */

/* References that keep s alive while a callback is outstanding. */
void imap_ref(struct imap_session *s);
void imap_unref(struct imap_session *s);
/*
 * First call in every store callback whose ctx leads to s: drops the
 * request's reference and returns true when the session is closed (then s
 * may be freed already and must not be touched).
 */
bool imap_cb_enter(struct imap_session *s);
/* Last call of a callback that imap_cb_enter() let through. */
void imap_cb_leave(struct imap_session *s);

/* Output; no-ops once the connection is gone. */
void imap_write(struct imap_session *s, const void *data, size_t len);
void imap_puts(struct imap_session *s, const char *str);
void imap_printf(struct imap_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
size_t imap_write_pending(struct imap_session *s);

/* The command waits for a callback: no input until it ends. */
void imap_cmd_wait(struct imap_session *s);
/* Resumes reading input for a running command (IDLE, AUTHENTICATE). */
void imap_cmd_unwait(struct imap_session *s);
/*
 * Ends the command with "tag <reply>" (reply is "OK ...", "NO ..." or
 * "BAD ..."); untagged updates for the selected mailbox go first where
 * RFC 3501 allows them.
 */
void imap_cmd_done(struct imap_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void imap_cmd_bad(struct imap_session *s, const char *text);
/* A store error as the tagged NO with an RFC 5530 code. */
void imap_cmd_store_error(struct imap_session *s, int err,
    const char *what);
/* "[CODE] text" for a store error. */
const char *imap_store_error_text(struct imap_session *s, int err,
    const char *what);

/* CAPABILITY list for the session's state, without "* CAPABILITY ". */
const char *imap_capabilities(struct imap_session *s);

/* Logs in done: sets the state, the timeout; used by LOGIN and AUTH. */
void imap_login_start(struct imap_session *s, const char *user,
    const char *password);

/* Ends the session with "* BYE text" after what is queued. */
void imap_bye(struct imap_session *s, const char *text);

/* ---- imap_reply.c: wire forms ---- */

/* A string as an atom-safe quoted string, or a literal when it must be. */
void imap_write_string(struct imap_session *s, const char *str, size_t len);
/* NIL for NULL. */
void imap_write_nstring(struct imap_session *s, const char *str);
/* A UTF-8 mailbox name in modified UTF-7, quoted. */
void imap_write_mailbox(struct imap_session *s, const char *name);
/* "(\Seen \Answered kw)" for flags and keywords of the view. */
void imap_write_flags(struct imap_session *s, uint32_t flags,
    uint64_t keywords, const char *const *names, size_t n_names);
/* "* FLAGS (...)" and "* OK [PERMANENTFLAGS (...)]" */
void imap_write_flag_lists(struct imap_session *s);
/* The mailbox argument in UTF-8 for the store ("INBOX" any case). */
int imap_mailbox_arg(struct imap_session *s, const struct imap_arg *a,
    char **name_r, const char **error_r);
/* A flag list or single flag: system flag bits and keyword atoms. */
int imap_parse_flags(struct arena *a, const struct imap_arg *arg,
    uint32_t *flags_r, const char ***keywords_r, size_t *n_keywords_r,
    const char **error_r);
/* "17-Jul-1996 02:44:25 +0000" for an internal date. */
void imap_format_datetime(int64_t t, char *buf, size_t size);

/* ---- imap_sync.c: the selected mailbox ---- */

/* Installs the view as the selected mailbox and sends its SELECT data. */
void imap_select_install(struct imap_session *s, struct posta_mailbox *box,
    bool readonly);
/* Closes the selected mailbox (no expunge). */
void imap_select_close(struct imap_session *s);
/*
 * Refreshes the view and sends EXISTS/EXPUNGE/FETCH/VANISHED; then calls
 * done(s).  flags: enum posta_refresh_flags.  Returns 0 or an error (done
 * is not called then).
 */
int imap_sync(struct imap_session *s, uint32_t flags,
    void (*done)(struct imap_session *s));
/* "* n FETCH (FLAGS (...) UID u [MODSEQ (m)])" for message seq. */
void imap_write_fetch_flags(struct imap_session *s, uint32_t seq,
    bool with_uid, bool with_modseq);
/*
 * Resolves a sequence set argument (message numbers or, for uid, UIDs)
 * against the view into ascending view indexes (0-based) in the command
 * arena.  Returns 0, -EINVAL (*error_r: a BAD text), -ENOMEM.
 */
int imap_seqset_to_indexes(struct imap_session *s, const char *set,
    bool uid, uint32_t **idx_r, size_t *n_r, const char **error_r);

/* ---- imap_cmd_mailbox.c: STATUS items, shared with LIST-STATUS ---- */

enum imap_status_item {
	IMAP_STATUS_MESSAGES = 1u << 0,
	IMAP_STATUS_RECENT = 1u << 1,
	IMAP_STATUS_UIDNEXT = 1u << 2,
	IMAP_STATUS_UIDVALIDITY = 1u << 3,
	IMAP_STATUS_UNSEEN = 1u << 4,
	IMAP_STATUS_HIGHESTMODSEQ = 1u << 5,
	IMAP_STATUS_SIZE = 1u << 6,
	IMAP_STATUS_DELETED = 1u << 7,
};

/* "(MESSAGES UNSEEN ...)" into bits; -EINVAL for anything else. */
int imap_parse_status_items(const struct imap_arg *list, unsigned *items_r);
/* "* STATUS name (MESSAGES n ...)" */
void imap_write_status(struct imap_session *s, const char *name,
    unsigned items, const struct posta_mailbox_status *st);
/* " \Sent \Trash" special-use attributes (RFC 6154). */
void imap_write_special_use(struct imap_session *s, uint32_t bits,
    bool *first);

/* ---- imap_search.c: the matcher, shared with SORT and THREAD ---- */

struct imap_search;
/* hits: ascending view indexes, valid until the command ends */
typedef void imap_search_done_fn(struct imap_session *s, void *ctx,
    const uint32_t *hits, size_t n_hits);
/*
 * Runs a parsed search over the view (reading messages when its keys need
 * their text).  When done, s->cmd.ctx is ctx again and done runs, maybe
 * before this returns.  A search that reads too much ends the command
 * itself (NO [LIMIT]) and done never runs; nor does it when the session
 * closes.  Memory is the command arena's.  Returns 0 or -ENOMEM.
 */
int imap_search_run(struct imap_session *s, struct imap_search *search,
    imap_search_done_fn *done, void *ctx);

/* ---- command handlers (imap_cmd_*.c, imap_fetch.c, imap_search.c) ---- */

void imap_cmd_capability(struct imap_session *s, struct imap_cmd *c);
void imap_cmd_noop(struct imap_session *s, struct imap_cmd *c);
void imap_cmd_logout(struct imap_session *s, struct imap_cmd *c);
void imap_cmd_id(struct imap_session *s, struct imap_cmd *c);
void imap_cmd_enable(struct imap_session *s, struct imap_cmd *c);
void imap_cmd_namespace(struct imap_session *s, struct imap_cmd *c);
void imap_cmd_starttls(struct imap_session *s, struct imap_cmd *c);
void imap_cmd_login(struct imap_session *s, struct imap_cmd *c);
void imap_cmd_authenticate(struct imap_session *s, struct imap_cmd *c);
void imap_cmd_select(struct imap_session *s, struct imap_cmd *c);
void imap_cmd_close(struct imap_session *s, struct imap_cmd *c);
void imap_cmd_unselect(struct imap_session *s, struct imap_cmd *c);
void imap_cmd_check(struct imap_session *s, struct imap_cmd *c);
void imap_cmd_expunge(struct imap_session *s, struct imap_cmd *c);
void imap_cmd_create(struct imap_session *s, struct imap_cmd *c);
void imap_cmd_delete(struct imap_session *s, struct imap_cmd *c);
void imap_cmd_rename(struct imap_session *s, struct imap_cmd *c);
void imap_cmd_subscribe(struct imap_session *s, struct imap_cmd *c);
void imap_cmd_status(struct imap_session *s, struct imap_cmd *c);
void imap_cmd_list(struct imap_session *s, struct imap_cmd *c);
void imap_cmd_append(struct imap_session *s, struct imap_cmd *c);
void imap_cmd_fetch(struct imap_session *s, struct imap_cmd *c);
void imap_cmd_store(struct imap_session *s, struct imap_cmd *c);
void imap_cmd_copy(struct imap_session *s, struct imap_cmd *c);
void imap_cmd_getquotaroot(struct imap_session *s, struct imap_cmd *c);
void imap_cmd_getquota(struct imap_session *s, struct imap_cmd *c);
void imap_cmd_setquota(struct imap_session *s, struct imap_cmd *c);
void imap_cmd_search(struct imap_session *s, struct imap_cmd *c);
void imap_cmd_sort(struct imap_session *s, struct imap_cmd *c);
void imap_cmd_thread(struct imap_session *s, struct imap_cmd *c);
void imap_cmd_idle(struct imap_session *s, struct imap_cmd *c);

/* APPEND's literal (imap_cmd_append.c), from the input loop in imap.c. */
void imap_append_literal_needed(struct imap_session *s,
    const struct imap_event *ev);
void imap_append_data(struct imap_session *s, const uint8_t *data,
    size_t len, bool last);
void imap_append_abort(struct imap_session *s);

#endif
