/* smtp_deliver.c: a message into the store and the queue, all or nothing */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <posta/posta.h>

#include "arena.h"
#include "smtp_deliver.h"

/*
 * Life of a sink (see smtp_deliver.h for the policy):
 *
 *   OPENING --begin callbacks--> READY <--write--> WRITING
 *   READY --finish--> PREFIX? -> LOCAL -> QUEUE -> done
 *                                   \        \
 *                                    +--------+--> ROLLBACK -> done
 *
 * l_pending and q_pending say a store or queue callback is still due to
 * us.  A store callback always comes (with -ECANCELED after an abort), a
 * queue callback never comes after submit_abort, so q_pending is cleared
 * when we abort.  The sink is freed once it is dead (nothing left to do:
 * cancelled before finish, failed, or done) and nothing is pending.  The
 * owner's callback runs last, after the free, with copies, so the owner
 * may do anything in it.
 */

enum sink_state {
	K_OPENING = 0,
	K_READY,
	K_WRITING,
	K_PREFIX,
	K_LOCAL,
	K_QUEUE,
	K_ROLLBACK,
};

struct rb_item {
	const char *account;
	uint32_t uidvalidity, uid;
};

struct smtp_sink {
	struct posta_host *h;
	struct arena *a;
	struct smtp_envelope env;	/* strings and arrays in a */
	size_t local_prefix_len, queue_prefix_len;
	const struct posta_queue_ops *qops;
	void *qstate;

	struct posta_delivery *dl;
	struct posta_queue_msg *qm;
	bool l_pending, q_pending;
	bool l_started, q_started;	/* a write carried the prefix */
	uint8_t *lbuf, *qbuf;		/* prefix + first chunk */
	int err;			/* first failure of this step */

	enum sink_state st;
	bool dead;			/* nothing more to do: free when idle */
	bool cancelled;			/* no owner callback any more */
	smtp_sink_cb *cb;
	smtp_sink_done_cb *done_cb;
	void *ctx;

	/* finishing */
	struct rb_item *rb;
	size_t n_rb, i_rb;
	struct posta_mail_user *rb_user;
	struct posta_mailbox *rb_box;
	struct smtp_status reply;
	char reply_text[200];
};

static const struct smtp_status st_ok = { 250, "2.0.0",
	"Message accepted" };
static const struct smtp_status st_temp = { 451, "4.3.0",
	"Temporary failure storing the message, try again later" };
static const struct smtp_status st_nostore = { 451, "4.3.0",
	"Mail store not available, try again later" };
static const struct smtp_status st_quota = { 552, "5.3.4",
	"Message too big for a recipient's mailbox" };
static const struct smtp_status st_gone = { 550, "5.1.1",
	"Recipient mailbox no longer exists" };
/* RFC 3463 4.2.2: a recipient over its storage quota; temporary, so the
   sender retries once the user has made room */
static const struct smtp_status st_full = { 452, "4.2.2", "Mailbox full" };

const struct smtp_status *
smtp_sink_error_status(int err)
{
	switch (err) {
	case POSTA_EQUOTA:
	case -EMSGSIZE:
		return &st_quota;
	case POSTA_ENOPROVIDER:
		return &st_nostore;
	default:
		return &st_temp;
	}
}

/* A permanent per-recipient delivery failure, or NULL for a temporary. */
static const struct smtp_status *
permanent_status(int err)
{
	/* POSTA_EQUOTA per recipient is its quota (the message's size was
	   refused by the writes): temporary, see st_full */
	switch (err) {
	case -EMSGSIZE:
		return &st_quota;
	case POSTA_ENOTFOUND:
	case POSTA_ENAME:
		return &st_gone;
	default:
		return NULL;
	}
}

static void
sink_free(struct smtp_sink *k)
{
	free(k->lbuf);
	free(k->qbuf);
	arena_free(&k->a);
	free(k);
}

/* Frees a dead sink once no callback is due to it. */
static bool
sink_reap(struct smtp_sink *k)
{
	if (!k->dead || k->l_pending || k->q_pending)
		return false;
	sink_free(k);
	return true;
}

/* Drops both targets' unfinished handles. */
static void
sink_abort_targets(struct smtp_sink *k)
{
	if (k->dl != NULL)
		posta_delivery_abort(&k->dl);	/* a pending write still
						   calls back: l_pending */
	if (k->qm != NULL) {
		k->qops->submit_abort(k->qm);
		k->qm = NULL;
		k->q_pending = false;		/* never calls back now */
	}
}

/* Ends the sink with an error for the owner's begin or write callback. */
static void
sink_fail(struct smtp_sink *k, int err)
{
	smtp_sink_cb *cb = k->cancelled ? NULL : k->cb;
	void *ctx = k->ctx;

	sink_abort_targets(k);
	k->dead = true;
	sink_reap(k);
	if (cb != NULL)
		cb(ctx, err);
}

/* ---- copying the envelope ---- */

static const char *
dup_or_null(struct arena *a, const char *s, bool *nomem)
{
	char *d;

	if (s == NULL)
		return NULL;
	d = arena_strdup(a, s);
	if (d == NULL)
		*nomem = true;
	return d;
}

static int
env_copy(struct smtp_sink *k, const struct smtp_envelope *e)
{
	struct smtp_envelope *c = &k->env;
	const char **acc = NULL;
	struct posta_queue_rcpt *ext = NULL;
	bool nomem = false;
	size_t i, total = 4096;

	total += strlen(e->local_prefix) + strlen(e->queue_prefix);
	for (i = 0; i < e->n_accounts; i++)
		total += strlen(e->accounts[i]) + 2 * sizeof(void *) + 16;
	for (i = 0; i < e->n_external; i++)
		total += strlen(e->external[i].address) + 16 +
		    sizeof(struct posta_queue_rcpt) +
		    (e->external[i].orcpt ? strlen(e->external[i].orcpt) : 0);
	k->a = arena_new(4096, 2 * total + 4096);
	if (k->a == NULL)
		return -ENOMEM;
	*c = *e;
	c->id = dup_or_null(k->a, e->id, &nomem);
	c->sender = dup_or_null(k->a, e->sender, &nomem);
	c->envid = dup_or_null(k->a, e->envid, &nomem);
	c->auth_user = dup_or_null(k->a, e->auth_user, &nomem);
	c->client = dup_or_null(k->a, e->client, &nomem);
	c->local_prefix = dup_or_null(k->a, e->local_prefix, &nomem);
	c->queue_prefix = dup_or_null(k->a, e->queue_prefix, &nomem);
	if (e->n_accounts > 0 &&
	    (acc = arena_alloc(k->a, e->n_accounts * sizeof(*acc))) == NULL)
		nomem = true;
	for (i = 0; acc != NULL && i < e->n_accounts; i++)
		acc[i] = dup_or_null(k->a, e->accounts[i], &nomem);
	c->accounts = acc;
	if (e->n_external > 0 &&
	    (ext = arena_alloc(k->a, e->n_external * sizeof(*ext))) == NULL)
		nomem = true;
	for (i = 0; ext != NULL && i < e->n_external; i++) {
		ext[i].address = dup_or_null(k->a, e->external[i].address,
		    &nomem);
		ext[i].notify = e->external[i].notify;
		ext[i].orcpt = dup_or_null(k->a, e->external[i].orcpt, &nomem);
	}
	c->external = ext;
	if (nomem || c->sender == NULL || c->local_prefix == NULL ||
	    c->queue_prefix == NULL || c->id == NULL)
		return -ENOMEM;
	k->local_prefix_len = strlen(c->local_prefix);
	k->queue_prefix_len = strlen(c->queue_prefix);
	return 0;
}

/* ---- opening ---- */

static void
opening_step(struct smtp_sink *k)
{
	if (k->l_pending || k->q_pending)
		return;
	if (k->err != 0) {
		sink_fail(k, k->err);
		return;
	}
	k->st = K_READY;
	k->cb(k->ctx, 0);
}

/* One target (the store or the queue) has answered its begin. */
static void
target_begun(struct smtp_sink *k, int err)
{
	if (err != 0 && k->err == 0)
		k->err = err;
	if (k->dead) {
		sink_abort_targets(k);
		sink_reap(k);
		return;
	}
	opening_step(k);
}

static void
local_begun(void *ctx, int err, struct posta_delivery *d)
{
	struct smtp_sink *k = ctx;

	k->l_pending = false;
	if (err == 0)
		k->dl = d;
	target_begun(k, err);
}

static void
queue_begun(void *ctx, int err, struct posta_queue_msg *msg)
{
	struct smtp_sink *k = ctx;

	k->q_pending = false;
	if (err == 0)
		k->qm = msg;
	target_begun(k, err);
}

int
smtp_sink_new(struct posta_host *h, const struct smtp_envelope *env,
    smtp_sink_cb *cb, void *ctx, struct smtp_sink **sink_r)
{
	struct smtp_sink *k;
	int ret;

	*sink_r = NULL;
	if (env->n_accounts + env->n_external == 0 || cb == NULL)
		return -EINVAL;
	if (env->n_accounts > 0 && posta_host_store(h, NULL) == NULL)
		return POSTA_ENOPROVIDER;
	k = calloc(1, sizeof(*k));
	if (k == NULL)
		return -ENOMEM;
	k->h = h;
	if (env->n_external > 0) {
		k->qops = posta_host_queue(h, &k->qstate);
		if (k->qops == NULL) {
			free(k);
			return POSTA_ENOPROVIDER;
		}
	}
	ret = env_copy(k, env);
	if (ret < 0) {
		sink_free(k);
		return ret;
	}
	k->cb = cb;
	k->ctx = ctx;
	k->st = K_OPENING;
	if (k->env.n_accounts > 0) {
		struct posta_delivery_rcpt *r;
		struct posta_append_params params;
		size_t i;

		r = arena_zalloc(k->a, k->env.n_accounts * sizeof(*r));
		if (r == NULL) {
			sink_free(k);
			return -ENOMEM;
		}
		for (i = 0; i < k->env.n_accounts; i++)
			r[i].account = k->env.accounts[i];
		memset(&params, 0, sizeof(params));
		ret = posta_delivery_begin(h, r, k->env.n_accounts, &params,
		    local_begun, k);
		if (ret < 0) {
			sink_free(k);
			return ret;
		}
		k->l_pending = true;
	}
	if (k->env.n_external > 0) {
		struct posta_queue_envelope q;

		memset(&q, 0, sizeof(q));
		q.sender = k->env.sender;
		q.envid = k->env.envid;
		q.ret = k->env.ret;
		q.smtputf8 = k->env.smtputf8;
		q.eightbit = k->env.eightbit;
		q.auth_user = k->env.auth_user;
		q.client = k->env.client;
		q.n_rcpts = k->env.n_external;
		q.rcpts = k->env.external;
		ret = k->qops->submit_begin(k->qstate, &q, queue_begun, k);
		if (ret < 0) {
			/* a pending store callback frees us, if there is one */
			k->dead = true;
			k->cancelled = true;
			sink_reap(k);
			return ret;
		}
		k->q_pending = true;
	}
	*sink_r = k;
	return 0;
}

/* ---- writing ---- */

static void finish_after_prefix(struct smtp_sink *k);

static void
write_step(struct smtp_sink *k)
{
	if (k->l_pending || k->q_pending)
		return;
	if (k->st == K_PREFIX) {
		finish_after_prefix(k);
		return;
	}
	free(k->lbuf);
	free(k->qbuf);
	k->lbuf = k->qbuf = NULL;
	if (k->err != 0) {
		sink_fail(k, k->err);
		return;
	}
	k->st = K_READY;
	k->cb(k->ctx, 0);
}

static void
local_written(void *ctx, int err)
{
	struct smtp_sink *k = ctx;

	k->l_pending = false;
	if (err != 0 && k->err == 0)
		k->err = err;
	if (k->dead) {
		sink_reap(k);
		return;
	}
	write_step(k);
}

static void
queue_written(void *ctx, int err)
{
	struct smtp_sink *k = ctx;

	k->q_pending = false;
	if (err != 0 && k->err == 0)
		k->err = err;
	if (k->dead) {
		sink_reap(k);
		return;
	}
	write_step(k);
}

/* prefix + data in a buffer of its own, for a target's first write */
static const void *
with_prefix(uint8_t **bufp, const char *prefix, size_t plen,
    const void *data, size_t len, size_t *len_r)
{
	uint8_t *b = malloc(plen + len + 1);

	free(*bufp);
	*bufp = b;
	if (b == NULL)
		return NULL;
	memcpy(b, prefix, plen);
	if (len > 0)
		memcpy(b + plen, data, len);
	*len_r = plen + len;
	return b;
}

/* Issues one write to each open target; returns how many were issued. */
static int
write_targets(struct smtp_sink *k, const void *data, size_t len)
{
	const void *p;
	size_t n;
	int ret = 0, issued = 0;

	if (k->dl != NULL) {
		p = data;
		n = len;
		if (!k->l_started) {
			p = with_prefix(&k->lbuf, k->env.local_prefix,
			    k->local_prefix_len, data, len, &n);
			if (p == NULL)
				return -ENOMEM;
		}
		if (n > 0) {
			ret = posta_delivery_write(k->dl, p, n, local_written,
			    k);
			if (ret < 0)
				return ret;
			k->l_pending = true;
			issued++;
		}
		k->l_started = true;
	}
	if (k->qm != NULL) {
		p = data;
		n = len;
		if (!k->q_started) {
			p = with_prefix(&k->qbuf, k->env.queue_prefix,
			    k->queue_prefix_len, data, len, &n);
			if (p == NULL)
				ret = -ENOMEM;
		}
		if (p != NULL && n > 0) {
			ret = k->qops->submit_write(k->qm, p, n, queue_written,
			    k);
			if (ret == 0) {
				k->q_pending = true;
				issued++;
			}
		}
		if (p == NULL || (n > 0 && ret < 0)) {
			if (issued == 0)
				return p == NULL ? -ENOMEM : ret;
			/* the store write is out: report when it is back */
			k->err = p == NULL ? -ENOMEM : ret;
		}
		k->q_started = true;
	}
	return issued;
}

int
smtp_sink_write(struct smtp_sink *k, const void *data, size_t len,
    smtp_sink_cb *cb, void *ctx)
{
	int ret;

	if (k->st != K_READY)
		return -EBUSY;
	if (len == 0 || len > SMTP_SINK_WRITE_MAX)
		return -EINVAL;
	k->err = 0;
	k->cb = cb;
	k->ctx = ctx;
	ret = write_targets(k, data, len);
	if (ret < 0)
		return ret;
	k->st = K_WRITING;
	return 0;
}

/* ---- finishing ---- */

static void rb_next(struct smtp_sink *k);

static void
sink_done(struct smtp_sink *k)
{
	smtp_sink_done_cb *cb = k->cancelled ? NULL : k->done_cb;
	void *ctx = k->ctx;
	struct smtp_status st = k->reply;
	char text[sizeof(k->reply_text)];

	snprintf(text, sizeof(text), "%s", k->reply.text);
	st.text = text;
	k->dead = true;
	sink_reap(k);
	if (cb != NULL)
		cb(ctx, &st);
}

static void
set_reply(struct smtp_sink *k, const struct smtp_status *s)
{
	snprintf(k->reply_text, sizeof(k->reply_text), "%s", s->text);
	k->reply.code = s->code;
	k->reply.enhanced = s->enhanced;
	k->reply.text = k->reply_text;
}

static void
queue_finished(void *ctx, int err, const char *queue_id)
{
	struct smtp_sink *k = ctx;
	char q[80];

	k->q_pending = false;
	if (err != 0) {
		posta_log(k->h, POSTA_LOG_WARN, "smtp.queue_failed",
		    "id=%s error=\"%s\"", k->env.id, posta_strerror(err));
		set_reply(k, smtp_sink_error_status(err));
		k->st = K_ROLLBACK;
		k->i_rb = 0;
		rb_next(k);
		return;
	}
	posta_log(k->h, POSTA_LOG_INFO, "smtp.queued", "id=%s queue_id=%s "
	    "rcpts=%zu", k->env.id, posta_log_quote(q, sizeof(q),
	    queue_id != NULL ? queue_id : ""), k->env.n_external);
	k->n_rb = 0;
	sink_done(k);
}

static void
finish_queue(struct smtp_sink *k)
{
	int ret;

	if (k->qm == NULL) {
		sink_done(k);
		return;
	}
	k->st = K_QUEUE;
	ret = k->qops->submit_finish(k->qm, queue_finished, k);
	if (ret < 0) {
		k->qops->submit_abort(k->qm);
		k->qm = NULL;
		posta_log(k->h, POSTA_LOG_WARN, "smtp.queue_failed",
		    "id=%s error=\"%s\"", k->env.id, posta_strerror(ret));
		set_reply(k, smtp_sink_error_status(ret));
		k->st = K_ROLLBACK;
		k->i_rb = 0;
		rb_next(k);
		return;
	}
	k->qm = NULL;	/* the queue's until its callback */
	k->q_pending = true;
}

static void
local_finished(void *ctx, const struct posta_delivery_result *res, size_t n)
{
	struct smtp_sink *k = ctx;
	const struct smtp_status *perm = NULL;
	bool temp = false, full = false, all_ok = n == k->env.n_accounts;
	size_t i, n_ok = 0;

	k->l_pending = false;
	for (i = 0; i < n; i++) {
		if (res[i].err == 0) {
			n_ok++;
			continue;
		}
		all_ok = false;
		posta_log(k->h, POSTA_LOG_WARN, "smtp.delivery_failed",
		    "id=%s account=%s error=\"%s\"", k->env.id,
		    res[i].account, posta_strerror(res[i].err));
		if (res[i].err == POSTA_EQUOTA)
			full = true;
		else if (permanent_status(res[i].err) == NULL)
			temp = true;
		else if (perm == NULL)
			perm = permanent_status(res[i].err);
	}
	if (n != k->env.n_accounts)
		temp = true;	/* the store could not say: assume the worst */
	/* keep what rollback needs: every copy that exists */
	k->rb = n_ok > 0 ? arena_zalloc(k->a, n_ok * sizeof(*k->rb)) : NULL;
	k->n_rb = 0;
	for (i = 0; i < n && k->rb != NULL; i++) {
		if (res[i].err != 0)
			continue;
		k->rb[k->n_rb].account = arena_strdup(k->a, res[i].account);
		k->rb[k->n_rb].uidvalidity = res[i].uidvalidity;
		k->rb[k->n_rb].uid = res[i].uid;
		if (k->rb[k->n_rb].account != NULL)
			k->n_rb++;
	}
	if (n_ok > k->n_rb) {
		posta_log(k->h, POSTA_LOG_WARN, "smtp.rollback_failed",
		    "id=%s copies=%zu error=\"%s\"", k->env.id,
		    n_ok - k->n_rb, posta_strerror(-ENOMEM));
	}
	if (all_ok) {
		posta_log(k->h, POSTA_LOG_INFO, "smtp.delivered",
		    "id=%s accounts=%zu", k->env.id, n);
		finish_queue(k);
		return;
	}
	if (k->qm != NULL) {
		k->qops->submit_abort(k->qm);
		k->qm = NULL;
	}
	if (full && !temp)
		set_reply(k, &st_full);	/* before any permanent error:
					   the whole message is retried */
	else
		set_reply(k, temp || perm == NULL ? &st_temp : perm);
	if (temp && n_ok > 0)
		snprintf(k->reply_text, sizeof(k->reply_text), "%s",
		    "Could not deliver to every recipient; no copy was "
		    "kept, try again later");
	k->st = K_ROLLBACK;
	k->i_rb = 0;
	rb_next(k);
}

/* Hands the message to the store (then the queue); 0 or an error. */
static int
finish_start(struct smtp_sink *k)
{
	int ret;

	if (k->dl != NULL) {
		k->st = K_LOCAL;
		ret = posta_delivery_finish(k->dl, local_finished, k);
		if (ret < 0)
			return ret;
		k->dl = NULL;	/* the store frees it after the callback */
		k->l_pending = true;
		return 0;
	}
	if (k->qm == NULL)
		return -EINVAL;
	k->st = K_QUEUE;
	ret = k->qops->submit_finish(k->qm, queue_finished, k);
	if (ret < 0)
		return ret;
	k->qm = NULL;	/* the queue's until its callback */
	k->q_pending = true;
	return 0;
}

/* The prefixes of an empty message are written (callback context). */
static void
finish_after_prefix(struct smtp_sink *k)
{
	int ret = k->err;

	free(k->lbuf);
	free(k->qbuf);
	k->lbuf = k->qbuf = NULL;
	if (ret == 0)
		ret = finish_start(k);
	if (ret < 0) {
		/* nothing was committed */
		set_reply(k, smtp_sink_error_status(ret));
		sink_abort_targets(k);
		sink_done(k);
	}
}

int
smtp_sink_finish(struct smtp_sink *k, smtp_sink_done_cb *cb, void *ctx)
{
	int ret;

	if (k->st != K_READY)
		return -EBUSY;
	k->done_cb = cb;
	k->ctx = ctx;
	k->err = 0;
	set_reply(k, &st_ok);
	if ((k->dl != NULL && !k->l_started) ||
	    (k->qm != NULL && !k->q_started)) {
		/* an empty message: the prefixes still have to go in */
		k->st = K_PREFIX;
		ret = write_targets(k, NULL, 0);
		if (ret > 0)
			return 0;
		if (ret < 0) {
			k->st = K_READY;
			return ret;
		}
	}
	ret = finish_start(k);
	if (ret < 0)
		k->st = K_READY;
	return ret;
}

void
smtp_sink_cancel(struct smtp_sink **sinkp)
{
	struct smtp_sink *k = *sinkp;

	if (k == NULL)
		return;
	*sinkp = NULL;
	k->cancelled = true;
	switch (k->st) {
	case K_OPENING:
	case K_READY:
	case K_WRITING:
		sink_abort_targets(k);
		k->dead = true;
		sink_reap(k);
		break;
	default:
		/* finishing: completes by itself, silently */
		break;
	}
}

/* ---- rollback: take back the copies of a message we refuse ---- */

static void
rb_fail(struct smtp_sink *k, const char *why, int err)
{
	const struct rb_item *it = &k->rb[k->i_rb];

	posta_log(k->h, POSTA_LOG_WARN, "smtp.rollback_failed",
	    "id=%s account=%s uid=%u reason=%s error=\"%s\"", k->env.id,
	    it->account, (unsigned)it->uid, why, posta_strerror(err));
}

static void
rb_item_done(struct smtp_sink *k)
{
	posta_mailbox_close(&k->rb_box);
	posta_mail_user_close(&k->rb_user);
	k->i_rb++;
	rb_next(k);
}

static void
rb_expunged(void *ctx, int err, size_t n)
{
	struct smtp_sink *k = ctx;

	k->l_pending = false;
	if (err != 0 || n != 1)
		rb_fail(k, "expunge", err != 0 ? err : POSTA_ENOTFOUND);
	else
		posta_log(k->h, POSTA_LOG_INFO, "smtp.rollback",
		    "id=%s account=%s uid=%u", k->env.id,
		    k->rb[k->i_rb].account, (unsigned)k->rb[k->i_rb].uid);
	rb_item_done(k);
}

static void
rb_box_opened(void *ctx, int err, struct posta_mailbox *box)
{
	struct smtp_sink *k = ctx;
	const struct rb_item *it = &k->rb[k->i_rb];
	int ret;

	k->l_pending = false;
	if (err != 0) {
		rb_fail(k, "open", err);
		rb_item_done(k);
		return;
	}
	k->rb_box = box;
	if (posta_mailbox_view_status(box)->uidvalidity != it->uidvalidity) {
		rb_fail(k, "uidvalidity", POSTA_ENOTFOUND);
		rb_item_done(k);
		return;
	}
	ret = posta_mailbox_expunge(box, &it->uid, 1, 0, rb_expunged, k);
	if (ret < 0) {
		rb_fail(k, "expunge", ret);
		rb_item_done(k);
		return;
	}
	k->l_pending = true;
}

static void
rb_user_opened(void *ctx, int err, struct posta_mail_user *user)
{
	struct smtp_sink *k = ctx;
	int ret;

	k->l_pending = false;
	if (err != 0) {
		rb_fail(k, "user", err);
		rb_item_done(k);
		return;
	}
	k->rb_user = user;
	ret = posta_mailbox_open(user, "INBOX", 0, rb_box_opened, k);
	if (ret < 0) {
		rb_fail(k, "open", ret);
		rb_item_done(k);
		return;
	}
	k->l_pending = true;
}

static void
rb_next(struct smtp_sink *k)
{
	while (k->i_rb < k->n_rb) {
		const struct rb_item *it = &k->rb[k->i_rb];
		int ret;

		if (it->uid == 0) {
			/* durable but not indexed: no UID to remove it by */
			rb_fail(k, "unindexed", POSTA_ENOTFOUND);
			k->i_rb++;
			continue;
		}
		ret = posta_mail_user_open(k->h, it->account, rb_user_opened,
		    k);
		if (ret == 0) {
			k->l_pending = true;
			return;
		}
		rb_fail(k, "user", ret);
		k->i_rb++;
	}
	sink_done(k);
}
