/* smtp_cmd_mail.c: MAIL and RCPT: envelope, sender check, lookups */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_session.h"
#include "util.h"

static const struct smtp_status st_too_big = { 552, "5.3.4",
	"Message size exceeds fixed maximum message size" };
static const struct smtp_status st_nomem = { 451, "4.3.0",
	"Out of memory, try again" };
static const struct smtp_status st_lookup = { 451, "4.3.0",
	"Temporary failure looking up the address, try again later" };
static const struct smtp_status st_need_mail = { 503, "5.5.1",
	"Need MAIL command" };
static const struct smtp_status st_in_data = { 503, "5.5.1",
	"RCPT not permitted after BDAT" };
static const struct smtp_status st_full = { 452, "4.2.2",
	"Mailbox full, try again later" };
static const struct smtp_status st_too_many = { 452, "4.5.3",
	"Too many recipients" };

static void txn_discard(struct smtp_txn *tx);

void
smtp_txn_free(struct smtp_session *s)
{
	struct smtp_txn *tx = s->tx;

	if (s->tx_pending_mail != NULL) {
		/* only at close: its lookup never calls back now */
		txn_discard(s->tx_pending_mail);
		s->tx_pending_mail = NULL;
	}
	if (tx == NULL)
		return;
	s->tx = NULL;
	smtp_sink_cancel(&tx->sink);
	free(tx->fill.p);
	free(tx->out.p);
	arena_free(&tx->a);
	free(tx);
	s->po.utf8_tx = false;
	if (s->flow_paused)
		smtp_flow_pause(s, false);
}

static struct smtp_txn *
txn_new(struct smtp_session *s)
{
	struct smtp_txn *tx = calloc(1, sizeof(*tx));

	if (tx == NULL)
		return NULL;
	tx->a = arena_new(4096, SMTP_TXN_ARENA_MAX);
	if (tx->a == NULL) {
		free(tx);
		return NULL;
	}
	s->n_tx++;
	snprintf(tx->id, sizeof(tx->id), "%s-%u",
	    posta_conn_session_id(s->conn), s->n_tx);
	return tx;
}

static void
txn_discard(struct smtp_txn *tx)
{
	arena_free(&tx->a);
	free(tx);
}

/*
 * "local@domain" with the domain lower-cased (RFC 5321 2.4: domains
 * compare case-insensitively, local parts are the receiver's business).
 * plain: the decoded local part (for lookups) instead of the one as sent.
 */
static char *
mailbox_lower(struct arena *a, const struct smtp_path *p, bool plain)
{
	const char *local = plain ? p->local_plain : p->local;
	char *m = arena_printf(a, "%s@%s", local, p->domain);

	if (m != NULL)
		smtp_addr_domain_lower(m + strlen(local) + 1,
		    strlen(p->domain));
	return m;
}

/* ---- MAIL ---- */

static void
mail_accept(struct smtp_session *s, struct smtp_txn *tx)
{
	char q[300];

	s->tx = tx;
	s->po.utf8_tx = tx->smtputf8;
	posta_conn_log(s->conn, POSTA_LOG_DEBUG, "smtp.mail", "id=%s from=%s",
	    tx->id, posta_log_quote(q, sizeof(q), tx->sender));
	smtp_reply(s, 250, "2.1.0", "Sender OK");
}

static void
sender_resolved(void *ctx, const struct posta_resolution *res)
{
	struct smtp_session *s = ctx;
	struct smtp_txn *tx = s->tx_pending_mail;
	const struct smtp_status *st;
	char q[300];

	s->tx_pending_mail = NULL;
	smtp_busy(s, false);
	if (res->kind == POSTA_RESOLVE_TEMPFAIL) {
		txn_discard(tx);
		smtp_reply_status(s, &st_lookup);
		return;
	}
	st = smtp_policy_sender(false, res->kind == POSTA_RESOLVE_LOCAL,
	    res->accounts, res->n_accounts, posta_conn_user(s->conn));
	if (st != NULL) {
		posta_conn_log(s->conn, POSTA_LOG_INFO, "smtp.sender_refused",
		    "from=%s", posta_log_quote(q, sizeof(q), tx->sender));
		txn_discard(tx);
		smtp_reply_status(s, st);
		return;
	}
	mail_accept(s, tx);
}

void
smtp_cmd_mail(struct smtp_session *s)
{
	const struct smtp_cmd *c = &s->cmd;
	const struct smtp_path *p = &c->mail.path;
	struct smtp_facts f;
	const struct smtp_status *st;
	struct smtp_txn *tx;
	const char *lookup;
	int ret;

	smtp_facts(s, &f);
	st = smtp_policy_mail(s->policy, &f);
	if (st != NULL) {
		smtp_reply_status(s, st);
		return;
	}
	if (c->mail.has_size && c->mail.size > smtp_max_size(s)) {
		smtp_reply_status(s, &st_too_big);
		return;
	}
	tx = txn_new(s);
	if (tx == NULL) {
		smtp_reply_status(s, &st_nomem);
		return;
	}
	tx->sender = p->is_null ? "" : mailbox_lower(tx->a, p, false);
	tx->envid = c->mail.envid != NULL ? arena_strdup(tx->a,
	    c->mail.envid) : NULL;
	tx->ret = c->mail.ret;
	tx->body = c->mail.body;
	tx->smtputf8 = c->mail.smtputf8;
	tx->max_size = smtp_max_size(s);
	tx->declared_size = c->mail.has_size ? c->mail.size : 0;
	if (tx->sender == NULL || (c->mail.envid != NULL &&
	    tx->envid == NULL)) {
		txn_discard(tx);
		smtp_reply_status(s, &st_nomem);
		return;
	}
	if (!f.authed || !s->set.sender_login_match) {
		mail_accept(s, tx);
		return;
	}
	if (p->is_null) {
		smtp_reply_status(s, smtp_policy_sender(true, false, NULL, 0,
		    posta_conn_user(s->conn)));
		txn_discard(tx);
		return;
	}
	lookup = mailbox_lower(s->cmd_arena, p, true);
	if (lookup == NULL) {
		txn_discard(tx);
		smtp_reply_status(s, &st_nomem);
		return;
	}
	ret = posta_conn_resolve(s->conn, lookup, sender_resolved, s);
	if (ret < 0) {
		txn_discard(tx);
		smtp_reply_status(s, &st_lookup);
		return;
	}
	s->tx_pending_mail = tx;
	smtp_busy(s, true);
}

/* ---- RCPT ---- */

static int
add_account(struct smtp_txn *tx, const char *account)
{
	size_t i;

	for (i = 0; i < tx->n_accounts; i++)
		if (strcmp(tx->accounts[i], account) == 0)
			return 0;
	if (tx->n_accounts == tx->cap_accounts) {
		size_t cap = tx->cap_accounts ? 2 * tx->cap_accounts : 8;
		const char **v = arena_alloc(tx->a, cap * sizeof(*v));

		if (v == NULL)
			return -ENOMEM;
		if (tx->n_accounts > 0)
			memcpy(v, tx->accounts, tx->n_accounts * sizeof(*v));
		tx->accounts = v;
		tx->cap_accounts = cap;
	}
	tx->accounts[tx->n_accounts] = arena_strdup(tx->a, account);
	if (tx->accounts[tx->n_accounts] == NULL)
		return -ENOMEM;
	tx->n_accounts++;
	return 0;
}

static int
add_external(struct smtp_txn *tx, const char *address, unsigned notify,
    const char *orcpt)
{
	size_t i;

	for (i = 0; i < tx->n_external; i++)
		if (strcmp(tx->external[i].address, address) == 0)
			return 0;
	if (tx->n_external == tx->cap_external) {
		size_t cap = tx->cap_external ? 2 * tx->cap_external : 8;
		struct posta_queue_rcpt *v = arena_alloc(tx->a,
		    cap * sizeof(*v));

		if (v == NULL)
			return -ENOMEM;
		if (tx->n_external > 0)
			memcpy(v, tx->external, tx->n_external * sizeof(*v));
		tx->external = v;
		tx->cap_external = cap;
	}
	tx->external[tx->n_external].address = arena_strdup(tx->a, address);
	tx->external[tx->n_external].notify = notify;
	tx->external[tx->n_external].orcpt = orcpt;
	if (tx->external[tx->n_external].address == NULL)
		return -ENOMEM;
	tx->n_external++;
	return 0;
}

/* RFC 3461 4.2 ORCPT as "type;value", or for forwarding our own alias
   the recipient as given (RFC 3461 5.2.1: the original address). */
static const char *
orcpt_of(struct smtp_txn *tx, const struct smtp_cmd *c, const char *rcpt,
    bool forwarded)
{
	if (c->rcpt.orcpt_type != NULL)
		return arena_printf(tx->a, "%s;%s", c->rcpt.orcpt_type,
		    c->rcpt.orcpt_raw);
	if (forwarded)
		return arena_printf(tx->a, "rfc822;%s", rcpt);
	return NULL;
}

static const char *
postmaster_address(struct smtp_session *s)
{
	if (s->set.postmaster_address != NULL &&
	    s->set.postmaster_address[0] != '\0')
		return s->set.postmaster_address;
	return arena_printf(s->cmd_arena, "postmaster@%s",
	    posta_host_hostname(s->eng->host));
}

static void rcpt_resolved(void *ctx, const struct posta_resolution *res);

static void
rcpt_lookup(struct smtp_session *s, const char *address)
{
	int ret;

	if (address == NULL) {
		smtp_reply_status(s, &st_nomem);
		return;
	}
	ret = posta_conn_resolve(s->conn, address, rcpt_resolved, s);
	if (ret < 0) {
		smtp_reply_status(s, &st_lookup);
		return;
	}
	smtp_busy(s, true);
}

/* The recipient passed every check: into the envelope, and 250. */
static void
rcpt_accept(struct smtp_session *s, const struct posta_resolution *res,
    const char *rcpt)
{
	const struct smtp_cmd *c = &s->cmd;
	struct smtp_txn *tx = s->tx;
	size_t i;
	int ret = 0;

	if (res->kind == POSTA_RESOLVE_EXTERNAL) {
		ret = add_external(tx, rcpt, c->rcpt.notify,
		    orcpt_of(tx, c, rcpt, false));
	} else {
		for (i = 0; ret == 0 && i < res->n_accounts; i++)
			ret = add_account(tx, res->accounts[i]);
		for (i = 0; ret == 0 && i < res->n_external; i++)
			ret = add_external(tx, res->external[i],
			    c->rcpt.notify, orcpt_of(tx, c, rcpt, true));
	}
	if (ret < 0) {
		/* the envelope's memory bound: the rest in a later try */
		smtp_reply_status(s, &st_too_many);
		return;
	}
	if (tx->first_rcpt == NULL)
		tx->first_rcpt = rcpt;
	tx->n_rcpts++;
	smtp_reply(s, 250, "2.1.5", "Recipient OK");
}

/*
 * Quotas at RCPT time (RFC 5321 4.5.3.1.10, RFC 1870): a local account
 * that is full, or would be with MAIL's SIZE=, gets 452 4.2.2 for this
 * recipient alone, so the others of the transaction get the message and
 * the sender retries this one.  An alias is refused as a whole when any
 * of its accounts is full: every member then gets it together, later,
 * never twice.  A store without quotas, or one that fails to answer,
 * refuses nothing here; the end of DATA still checks.
 */
struct smtp_quota_check {
	struct smtp_session *s;		/* NULL: the session is gone */
	struct posta_resolution res;	/* a copy, in the transaction */
	const char *rcpt;
	uint64_t size;
	size_t next;
};

static void quota_check_cb(void *ctx, int err, const struct posta_quota *q);

/* No room for one more message, or for size bytes when SIZE= said so. */
static bool
quota_full(const struct posta_quota *q, uint64_t size)
{
	if (q->messages_limit != 0 && q->messages >= q->messages_limit)
		return true;
	if (q->bytes_limit == 0)
		return false;
	return size == 0 ? q->bytes >= q->bytes_limit :
	    size > q->bytes_limit || q->bytes > q->bytes_limit - size;
}

static int
quota_check_next(struct smtp_quota_check *qc)
{
	return posta_store_quota(qc->s->eng->host,
	    qc->res.accounts[qc->next], quota_check_cb, qc);
}

static void
quota_check_end(struct smtp_quota_check *qc, bool full)
{
	struct smtp_session *s = qc->s;
	char q[300];

	s->qc = NULL;
	smtp_busy(s, false);
	if (full) {
		posta_conn_log(s->conn, POSTA_LOG_INFO, "smtp.rcpt_refused",
		    "id=%s to=%s code=452 reason=quota", s->tx->id,
		    posta_log_quote(q, sizeof(q), qc->rcpt));
		smtp_reply_status(s, &st_full);
	} else {
		rcpt_accept(s, &qc->res, qc->rcpt);
	}
	free(qc);
}

static void
quota_check_cb(void *ctx, int err, const struct posta_quota *q)
{
	struct smtp_quota_check *qc = ctx;

	if (qc->s == NULL) {
		free(qc);
		return;
	}
	if (err == 0 && quota_full(q, qc->size)) {
		quota_check_end(qc, true);
		return;
	}
	if (++qc->next < qc->res.n_accounts && quota_check_next(qc) == 0)
		return;
	quota_check_end(qc, false);
}

/* Starts the checks; false when there is nothing to wait for. */
static bool
quota_check_start(struct smtp_session *s, const struct posta_resolution *res,
    const char *rcpt)
{
	struct smtp_txn *tx = s->tx;
	struct smtp_quota_check *qc = calloc(1, sizeof(*qc));
	const char **acc, **ext;
	size_t i;

	acc = arena_alloc(tx->a, res->n_accounts * sizeof(*acc));
	ext = arena_alloc(tx->a, (res->n_external + 1) * sizeof(*ext));
	if (qc == NULL || acc == NULL || ext == NULL) {
		free(qc);
		return false;	/* rcpt_accept meets the same shortage */
	}
	for (i = 0; i < res->n_accounts; i++)
		if ((acc[i] = arena_strdup(tx->a, res->accounts[i])) == NULL)
			goto fail;
	for (i = 0; i < res->n_external; i++)
		if ((ext[i] = arena_strdup(tx->a, res->external[i])) == NULL)
			goto fail;
	qc->s = s;
	qc->res = *res;
	qc->res.accounts = acc;
	qc->res.external = ext;
	qc->rcpt = rcpt;
	qc->size = tx->declared_size;
	if (quota_check_next(qc) != 0)
		goto fail;	/* no quotas here: accept as before */
	s->qc = qc;
	smtp_busy(s, true);
	return true;
fail:
	free(qc);
	return false;
}

void
smtp_quota_check_cancel(struct smtp_session *s)
{
	if (s->qc != NULL) {
		s->qc->s = NULL;	/* its callback frees it */
		s->qc = NULL;
	}
}

static void
rcpt_decide(struct smtp_session *s, const struct posta_resolution *res)
{
	const struct smtp_cmd *c = &s->cmd;
	const struct smtp_path *p = &c->rcpt.path;
	struct smtp_txn *tx = s->tx;
	struct smtp_facts f;
	struct smtp_rcpt_facts rf;
	const struct smtp_status *st;
	const char *rcpt;
	char q[300];

	smtp_facts(s, &f);
	memset(&rf, 0, sizeof(rf));
	rf.kind = res->kind;
	rf.n_accounts = res->n_accounts;
	rf.n_external = res->n_external;
	rf.have_queue = posta_host_queue(s->eng->host, NULL) != NULL;
	rcpt = p->is_postmaster ? arena_strdup(tx->a, postmaster_address(s)) :
	    mailbox_lower(tx->a, p, false);
	if (rcpt == NULL) {
		smtp_reply_status(s, &st_nomem);
		return;
	}
	if (smtp_policy_rcpt(s->policy, &f, &rf, &st) != SMTP_ROUTE_ACCEPT) {
		posta_conn_log(s->conn, POSTA_LOG_INFO, "smtp.rcpt_refused",
		    "id=%s to=%s code=%u", tx->id,
		    posta_log_quote(q, sizeof(q), rcpt), st->code);
		smtp_reply_status(s, st);
		return;
	}
	if (res->kind != POSTA_RESOLVE_EXTERNAL && res->n_accounts > 0 &&
	    quota_check_start(s, res, rcpt))
		return;
	rcpt_accept(s, res, rcpt);
}

static bool
is_postmaster_local(const char *local)
{
	return util_strcaseeq(local, "postmaster");
}

static void
rcpt_resolved(void *ctx, const struct posta_resolution *res)
{
	struct smtp_session *s = ctx;
	struct smtp_txn *tx = s->tx;
	const struct smtp_path *p = &s->cmd.rcpt.path;

	smtp_busy(s, false);
	/* RFC 5321 4.5.1: postmaster@ each of our domains must work, even
	   when the admin made no such alias there */
	if (res->kind == POSTA_RESOLVE_UNKNOWN && !tx->rcpt_postmaster_retry &&
	    !p->is_postmaster && is_postmaster_local(p->local_plain)) {
		tx->rcpt_postmaster_retry = true;
		rcpt_lookup(s, postmaster_address(s));
		return;
	}
	tx->rcpt_postmaster_retry = false;
	rcpt_decide(s, res);
}

void
smtp_cmd_rcpt(struct smtp_session *s)
{
	const struct smtp_path *p = &s->cmd.rcpt.path;
	struct smtp_txn *tx = s->tx;
	struct posta_resolution ext;

	if (tx == NULL) {
		smtp_reply_status(s, &st_need_mail);
		return;
	}
	if (tx->bdat) {
		smtp_reply_status(s, &st_in_data);
		return;
	}
	if (tx->n_rcpts >= (uint64_t)s->set.max_recipients) {
		smtp_reply_status(s, &st_too_many);
		return;
	}
	tx->rcpt_postmaster_retry = false;
	if (p->is_postmaster) {
		rcpt_lookup(s, postmaster_address(s));
		return;
	}
	if (p->is_literal) {
		/* an address literal names a host, never one of our
		   domains: other servers' mail */
		memset(&ext, 0, sizeof(ext));
		ext.kind = POSTA_RESOLVE_EXTERNAL;
		rcpt_decide(s, &ext);
		return;
	}
	rcpt_lookup(s, mailbox_lower(s->cmd_arena, p, true));
}
