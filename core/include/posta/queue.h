/* queue.h: the outbound-queue interface: mail for other servers handed to a queue plugin */
#ifndef POSTA_QUEUE_H
#define POSTA_QUEUE_H

/*
 * A queue plugin registers struct posta_queue_ops with
 * posta_host_register_queue(); the SMTP engine finds it with
 * posta_host_queue() and hands it every message that has recipients on
 * other servers (submission and SMTPS always, port 25 only for
 * authenticated users).  Without a queue plugin those recipients are
 * refused at RCPT with a 4xx.
 *
 * A submission is streamed: submit_begin, submit_write for each chunk
 * (each answers through its callback before the next write is issued),
 * then submit_finish, whose callback reports success only once the message
 * and every recipient's state are on disk (fsync'd): that is when the SMTP
 * engine may say 250.  submit_abort drops an unfinished submission; its
 * callbacks never run after it.  The async rule of STYLE holds for every
 * call: an error return means the callback never runs; 0 means it runs
 * exactly once, later, on the loop thread.
 */
struct posta_queue_msg;

enum posta_queue_ret {
	POSTA_QUEUE_RET_DEFAULT = 0,
	POSTA_QUEUE_RET_FULL,
	POSTA_QUEUE_RET_HDRS,
};

/* DSN NOTIFY bits (RFC 3461); 0 means the parameter was not given. */
enum posta_queue_notify {
	POSTA_QUEUE_NOTIFY_NEVER = 1 << 0,
	POSTA_QUEUE_NOTIFY_SUCCESS = 1 << 1,
	POSTA_QUEUE_NOTIFY_FAILURE = 1 << 2,
	POSTA_QUEUE_NOTIFY_DELAY = 1 << 3,
};

struct posta_queue_rcpt {
	const char *address;	/* forward-path without <> */
	unsigned notify;	/* enum posta_queue_notify bits */
	const char *orcpt;	/* ORCPT as given ("rfc822;a@b"), or NULL */
};

/* Everything the engine knows about a message; the queue copies it. */
struct posta_queue_envelope {
	const char *sender;		/* reverse-path; "" for <> (bounces) */
	const char *envid;		/* DSN ENVID (decoded), or NULL */
	enum posta_queue_ret ret;
	bool smtputf8;			/* MAIL ... SMTPUTF8 */
	bool eightbit;			/* BODY=8BITMIME */
	const char *auth_user;		/* submitting account, or NULL */
	const char *client;		/* "[192.0.2.1]" style, for logs */
	size_t n_rcpts;
	const struct posta_queue_rcpt *rcpts;
};

typedef void posta_queue_begin_cb(void *ctx, int err,
    struct posta_queue_msg *msg);
typedef void posta_queue_write_cb(void *ctx, int err);
/* queue_id: the queue's name for the message, valid during the call */
typedef void posta_queue_done_cb(void *ctx, int err, const char *queue_id);

struct posta_queue_ops {
	const char *name;
	int (*submit_begin)(void *state,
	    const struct posta_queue_envelope *env,
	    posta_queue_begin_cb *cb, void *ctx);
	int (*submit_write)(struct posta_queue_msg *msg, const void *data,
	    size_t len, posta_queue_write_cb *cb, void *ctx);
	int (*submit_finish)(struct posta_queue_msg *msg,
	    posta_queue_done_cb *cb, void *ctx);
	void (*submit_abort)(struct posta_queue_msg *msg);
};

#endif
