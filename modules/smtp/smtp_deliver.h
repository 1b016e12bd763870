/* smtp_deliver.h: one message on its way to the store and the queue */
#ifndef POSTA_SMTP_DELIVER_H
#define POSTA_SMTP_DELIVER_H

#include <posta/posta.h>

#include "smtp_parse.h"

/*
 * A sink takes the bytes of one message (after DATA or BDAT) and hands
 * them to up to two targets at once:
 *   - the mail store's delivery (store.h posta_delivery_*), one copy per
 *     local account, with local_prefix (Return-Path: and Received:) in
 *     front: this is final delivery (RFC 5321 4.4);
 *   - the outbound queue (queue.h), when a queue plugin is loaded, for
 *     recipients on other servers, with queue_prefix (Received:) in
 *     front; its envelope carries the DSN parameters (RET, ENVID, NOTIFY,
 *     ORCPT), which the queue keeps in its own envelope record: the
 *     message itself is never changed to carry them, because one copy
 *     serves every recipient and per-recipient data in it would show each
 *     recipient the others (a Bcc leak).
 *
 * All or nothing.  With DATA and BDAT, SMTP has one reply for the whole
 * message, so a 250 must mean every recipient's copy is durable, and a
 * 4xx must mean no copy exists, or the sender's retry duplicates the
 * message for the recipients that got it.  The store reports each
 * recipient on its own (struct posta_delivery_result), so when some
 * copies succeed and others fail, the sink takes the successful copies
 * out again (opens each of those mailboxes and expunges the new UID)
 * before it answers, and the queue submission is aborted (or, when the
 * queue itself fails after every local copy succeeded, the local copies
 * are removed the same way).  The answer is then 451 4.3.0 when any
 * failure was temporary, else the permanent failure (552, 550).  Only
 * two cases can still duplicate: a copy the store made durable but could
 * not index (uid 0; the next sync finds it) cannot be removed by UID, and
 * a removal that itself fails; both are logged (smtp.rollback_failed),
 * since a duplicate is better than a lost message.  Watchers (IMAP IDLE)
 * may see such a message appear and go again, and the removal opens the
 * INBOX read-write (an expunge needs it), which claims \Recent for what
 * is there like any SELECT.  When the queue exists,
 * the better answer for local temporary failures is to hand those
 * recipients to the queue for a later local retry; that belongs to the
 * queue issue.
 *
 * A session that ends while the sink finishes does not get an answer,
 * but the sink completes on its own (a client that gave up after "."
 * has no 250, so it may send again: a duplicate rather than a loss, as
 * RFC 5321 section 6.1 prefers).
 *
 * Async rule of STYLE section 5: a call that returns an error never calls
 * back; 0 means the callback runs exactly once, later, unless
 * smtp_sink_cancel() came first (then never).
 */
struct smtp_sink;

/* Largest smtp_sink_write(): leaves room for the prefixes in one
   store write (POSTA_STORE_WRITE_MAX). */
#define SMTP_SINK_WRITE_MAX	(128u * 1024)

struct smtp_envelope {
	const char *id;			/* our transaction id, for logs */
	const char *sender;		/* reverse-path; "" for <> */
	const char *envid;		/* DSN ENVID decoded, or NULL */
	enum posta_queue_ret ret;
	bool smtputf8;
	bool eightbit;			/* BODY=8BITMIME */
	const char *auth_user;		/* or NULL */
	const char *client;		/* "[192.0.2.1]" */
	size_t n_accounts;		/* local, without duplicates */
	const char *const *accounts;
	size_t n_external;		/* for the queue */
	const struct posta_queue_rcpt *external;
	const char *local_prefix;	/* Return-Path: and Received: */
	const char *queue_prefix;	/* Received: */
};

typedef void smtp_sink_cb(void *ctx, int err);
/* status: the reply for the message (static or valid during the call) */
typedef void smtp_sink_done_cb(void *ctx, const struct smtp_status *status);

/*
 * Copies env and opens the targets (store delivery and/or queue
 * submission).  cb(ctx, 0) when both are ready, else with the error
 * (and the sink is then only good for smtp_sink_cancel).  Needs at least
 * one recipient: -EINVAL otherwise; POSTA_ENOPROVIDER without a store
 * for local accounts or a queue for external ones.
 */
int smtp_sink_new(struct posta_host *h, const struct smtp_envelope *env,
    smtp_sink_cb *cb, void *ctx, struct smtp_sink **sink_r);

/*
 * Writes len (1..SMTP_SINK_WRITE_MAX) message bytes to every target; one
 * write at a time (-EBUSY).  data must stay valid until cb runs.  cb's
 * err is the first target's failure; the message is then lost and the
 * caller should answer with smtp_sink_write_status(err).
 */
int smtp_sink_write(struct smtp_sink *k, const void *data, size_t len,
    smtp_sink_cb *cb, void *ctx);

/* Completes the message; cb gets the reply (above for the policy). */
int smtp_sink_finish(struct smtp_sink *k, smtp_sink_done_cb *cb, void *ctx);

/*
 * The caller is done with the sink: before finish it drops the message
 * (no copy is kept); after finish it only stops the callback, and the
 * sink completes by itself.  No callback runs after it.  NULL is fine.
 */
void smtp_sink_cancel(struct smtp_sink **sinkp);

/* The reply for a failed write or begin (451 4.3.0, 552 5.3.4, ...). */
const struct smtp_status *smtp_sink_error_status(int err);

#endif
