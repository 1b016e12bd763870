/* imap_cmd_mailbox.c: CREATE DELETE RENAME (UN)SUBSCRIBE STATUS and QUOTA */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "imap.h"
#include "util.h"

static void
done_cb(void *ctx, int err)
{
	struct imap_session *s = ctx;

	if (imap_cb_enter(s))
		return;
	if (err < 0)
		imap_cmd_store_error(s, err, s->cmd.name);
	else
		imap_cmd_done(s, "OK %s completed.", s->cmd.name);
	imap_cb_leave(s);
}

static void
started(struct imap_session *s, int r)
{
	if (r < 0) {
		imap_cmd_store_error(s, r, s->cmd.name);
		return;
	}
	imap_ref(s);
	imap_cmd_wait(s);
}

static const struct {
	const char *name;
	uint32_t bit;
} special_uses[] = {
	{ "\\All", POSTA_SPECIAL_ALL },
	{ "\\Archive", POSTA_SPECIAL_ARCHIVE },
	{ "\\Drafts", POSTA_SPECIAL_DRAFTS },
	{ "\\Flagged", POSTA_SPECIAL_FLAGGED },
	{ "\\Junk", POSTA_SPECIAL_JUNK },
	{ "\\Sent", POSTA_SPECIAL_SENT },
	{ "\\Trash", POSTA_SPECIAL_TRASH },
};

void
imap_write_special_use(struct imap_session *s, uint32_t bits, bool *first)
{
	size_t i;

	for (i = 0; i < sizeof(special_uses) / sizeof(special_uses[0]); i++) {
		if (!(bits & special_uses[i].bit))
			continue;
		if (!*first)
			imap_write(s, " ", 1);
		imap_puts(s, special_uses[i].name);
		*first = false;
	}
}

/* CREATE name [(USE (\Sent ...))] (RFC 6154 CREATE-SPECIAL-USE) */
void
imap_cmd_create(struct imap_session *s, struct imap_cmd *c)
{
	uint32_t use = 0;
	const char *error;
	char *name;
	size_t len;

	if (c->args == NULL || imap_args_count(c->args) > 2) {
		imap_cmd_bad(s, "CREATE needs a mailbox name.");
		return;
	}
	if (imap_mailbox_arg(s, c->args, &name, &error) < 0) {
		imap_cmd_done(s, "%s", error);
		return;
	}
	if (c->args->next != NULL) {
		const struct imap_arg *p, *u;

		if (!imap_arg_get_list(c->args->next, &p, NULL) ||
		    !imap_arg_atom_equals(p, "USE") || p->next == NULL ||
		    p->next->next != NULL ||
		    !imap_arg_get_list(p->next, &u, NULL)) {
			imap_cmd_bad(s, "Invalid CREATE parameters.");
			return;
		}
		for (; u != NULL; u = u->next) {
			size_t i, k = sizeof(special_uses) /
			    sizeof(special_uses[0]);

			for (i = 0; i < k; i++)
				if (imap_arg_atom_equals(u,
				    special_uses[i].name))
					break;
			if (i == k) {
				imap_cmd_done(s, "NO [USEATTR] Unsupported "
				    "special-use attribute.");
				return;
			}
			use |= special_uses[i].bit;
		}
	}
	/* RFC 3501 6.3.3: a trailing separator names the same mailbox */
	len = strlen(name);
	if (len > 1 && name[len - 1] == '.')
		name[len - 1] = '\0';
	if (strcmp(name, "INBOX") == 0) {
		imap_cmd_done(s, "NO [ALREADYEXISTS] INBOX always exists.");
		return;
	}
	started(s, posta_mailbox_create(s->user, name, use, done_cb, s));
}

void
imap_cmd_delete(struct imap_session *s, struct imap_cmd *c)
{
	const char *error;
	char *name;

	if (imap_args_count(c->args) != 1) {
		imap_cmd_bad(s, "DELETE needs a mailbox name.");
		return;
	}
	if (imap_mailbox_arg(s, c->args, &name, &error) < 0) {
		imap_cmd_done(s, "%s", error);
		return;
	}
	if (strcmp(name, "INBOX") == 0) {
		imap_cmd_done(s, "NO [CANNOT] INBOX can't be deleted.");
		return;
	}
	started(s, posta_mailbox_delete(s->user, name, done_cb, s));
}

void
imap_cmd_rename(struct imap_session *s, struct imap_cmd *c)
{
	const char *error;
	char *from, *to;

	if (imap_args_count(c->args) != 2) {
		imap_cmd_bad(s, "RENAME needs two mailbox names.");
		return;
	}
	if (imap_mailbox_arg(s, c->args, &from, &error) < 0 ||
	    imap_mailbox_arg(s, c->args->next, &to, &error) < 0) {
		imap_cmd_done(s, "%s", error);
		return;
	}
	started(s, posta_mailbox_rename(s->user, from, to, done_cb, s));
}

void
imap_cmd_subscribe(struct imap_session *s, struct imap_cmd *c)
{
	const char *error;
	char *name;

	if (imap_args_count(c->args) != 1) {
		imap_cmd_bad(s, "Expected a mailbox name.");
		return;
	}
	if (imap_mailbox_arg(s, c->args, &name, &error) < 0) {
		imap_cmd_done(s, "%s", error);
		return;
	}
	started(s, posta_mailbox_subscribe(s->user, name,
	    c->name[0] == 'S', done_cb, s));
}

/* ---- STATUS ---- */

static const struct {
	const char *name;
	unsigned bit;
} status_items[] = {
	{ "MESSAGES", IMAP_STATUS_MESSAGES },
	{ "RECENT", IMAP_STATUS_RECENT },
	{ "UIDNEXT", IMAP_STATUS_UIDNEXT },
	{ "UIDVALIDITY", IMAP_STATUS_UIDVALIDITY },
	{ "UNSEEN", IMAP_STATUS_UNSEEN },
	{ "HIGHESTMODSEQ", IMAP_STATUS_HIGHESTMODSEQ },
	{ "SIZE", IMAP_STATUS_SIZE },
	{ "DELETED", IMAP_STATUS_DELETED },
};

#define N_STATUS_ITEMS (sizeof(status_items) / sizeof(status_items[0]))

int
imap_parse_status_items(const struct imap_arg *list, unsigned *items_r)
{
	const struct imap_arg *p;
	unsigned items = 0;
	size_t i;

	if (!imap_arg_get_list(list, &p, NULL) || p == NULL)
		return -EINVAL;
	for (; p != NULL; p = p->next) {
		for (i = 0; i < N_STATUS_ITEMS; i++)
			if (imap_arg_atom_equals(p, status_items[i].name))
				break;
		if (i == N_STATUS_ITEMS)
			return -EINVAL;
		items |= status_items[i].bit;
	}
	*items_r = items;
	return 0;
}

void
imap_write_status(struct imap_session *s, const char *name, unsigned items,
    const struct posta_mailbox_status *st)
{
	const char *sep = "";

	imap_puts(s, "* STATUS ");
	imap_write_mailbox(s, name);
	imap_puts(s, " (");
	if (items & IMAP_STATUS_MESSAGES) {
		imap_printf(s, "%sMESSAGES %u", sep, st->messages);
		sep = " ";
	}
	if (items & IMAP_STATUS_RECENT) {
		imap_printf(s, "%sRECENT %u", sep, st->recent);
		sep = " ";
	}
	if (items & IMAP_STATUS_UIDNEXT) {
		imap_printf(s, "%sUIDNEXT %u", sep, st->uidnext);
		sep = " ";
	}
	if (items & IMAP_STATUS_UIDVALIDITY) {
		imap_printf(s, "%sUIDVALIDITY %u", sep, st->uidvalidity);
		sep = " ";
	}
	if (items & IMAP_STATUS_UNSEEN) {
		imap_printf(s, "%sUNSEEN %u", sep, st->unseen);
		sep = " ";
	}
	if (items & IMAP_STATUS_HIGHESTMODSEQ) {
		imap_printf(s, "%sHIGHESTMODSEQ %llu", sep,
		    (unsigned long long)st->highestmodseq);
		sep = " ";
	}
	if (items & IMAP_STATUS_SIZE) {
		imap_printf(s, "%sSIZE %llu", sep,
		    (unsigned long long)st->size);
		sep = " ";
	}
	if (items & IMAP_STATUS_DELETED)
		imap_printf(s, "%sDELETED %u", sep, st->deleted);
	imap_puts(s, ")\r\n");
}

struct status_ctx {
	char *name;
	unsigned items;
};

static void
status_cb(void *ctx, int err, const struct posta_mailbox_status *st)
{
	struct imap_session *s = ctx;
	struct status_ctx *x = s->cmd.ctx;

	if (imap_cb_enter(s))
		return;
	if (err < 0) {
		imap_cmd_store_error(s, err, "status");
	} else {
		imap_write_status(s, x->name, x->items, st);
		imap_cmd_done(s, "OK Status completed.");
	}
	imap_cb_leave(s);
}

void
imap_cmd_status(struct imap_session *s, struct imap_cmd *c)
{
	struct status_ctx *x = arena_zalloc(s->cmd_arena, sizeof(*x));
	const char *error;

	if (x == NULL) {
		imap_cmd_done(s, "NO [SERVERBUG] Out of memory.");
		return;
	}
	if (imap_args_count(c->args) != 2) {
		imap_cmd_bad(s, "STATUS needs a mailbox and a list of items.");
		return;
	}
	if (imap_mailbox_arg(s, c->args, &x->name, &error) < 0) {
		imap_cmd_done(s, "%s", error);
		return;
	}
	if (imap_parse_status_items(c->args->next, &x->items) < 0) {
		imap_cmd_bad(s, "Invalid status items.");
		return;
	}
	c->ctx = x;
	if (x->items & IMAP_STATUS_HIGHESTMODSEQ)
		s->condstore = true;	/* RFC 7162 3.1: enables it */
	started(s, posta_mailbox_status(s->user, x->name, status_cb, s));
}

/* ---- QUOTA (RFC 9208): one quota root "" over all of the user's mail ---- */

struct quota_ctx {
	char *mailbox;			/* GETQUOTAROOT's argument, or NULL */
};

/*
 * The QUOTAROOT and QUOTA lines and the tagged reply; q NULL for a store
 * without quotas (built for ABI 1.0).  A user with no limit has no quota
 * root: RFC 9208's QUOTA response needs at least one resource, so
 * GETQUOTAROOT names no root and GETQUOTA "" is NO [NONEXISTENT].
 */
static void
quota_reply(struct imap_session *s, const struct posta_quota *q)
{
	struct quota_ctx *x = s->cmd.ctx;
	bool limited = q != NULL && (q->bytes_limit != 0 ||
	    q->messages_limit != 0);
	bool first = true;

	if (x->mailbox != NULL) {
		imap_puts(s, "* QUOTAROOT ");
		imap_write_mailbox(s, x->mailbox);
		imap_puts(s, limited ? " \"\"\r\n" : "\r\n");
	} else if (!limited) {
		imap_cmd_done(s, "NO [NONEXISTENT] No quota root: no limits "
		    "apply to this account.");
		return;
	}
	if (!limited) {
		imap_cmd_done(s, "OK %s completed.", s->cmd.name);
		return;
	}
	imap_puts(s, "* QUOTA \"\" (");
	if (q->bytes_limit != 0) {
		/* KiB (RFC 9208 5.1): usage rounded up, limit down, so a
		   client never sees room the store would refuse */
		imap_printf(s, "STORAGE %llu %llu",
		    (unsigned long long)((q->bytes + 1023) / 1024),
		    (unsigned long long)(q->bytes_limit / 1024));
		first = false;
	}
	if (q->messages_limit != 0)
		imap_printf(s, "%sMESSAGE %llu %llu", first ? "" : " ",
		    (unsigned long long)q->messages,
		    (unsigned long long)q->messages_limit);
	imap_puts(s, ")\r\n");
	imap_cmd_done(s, "OK %s completed.", s->cmd.name);
}

static void
quota_cb(void *ctx, int err, const struct posta_quota *q)
{
	struct imap_session *s = ctx;

	if (imap_cb_enter(s))
		return;
	if (err < 0)
		imap_cmd_store_error(s, err, s->cmd.name);
	else
		quota_reply(s, q);
	imap_cb_leave(s);
}

static void
quota_start(struct imap_session *s)
{
	int r = posta_store_quota(s->mod->host, posta_conn_user(s->conn),
	    quota_cb, s);

	if (r == -ENOTSUP)
		quota_reply(s, NULL);
	else
		started(s, r);
}

/* GETQUOTAROOT mailbox: every mailbox is under the root "" */
void
imap_cmd_getquotaroot(struct imap_session *s, struct imap_cmd *c)
{
	struct quota_ctx *x = arena_zalloc(s->cmd_arena, sizeof(*x));
	const char *error;

	if (x == NULL) {
		imap_cmd_done(s, "NO [SERVERBUG] Out of memory.");
		return;
	}
	if (c->args == NULL || imap_args_count(c->args) != 1) {
		imap_cmd_bad(s, "GETQUOTAROOT needs a mailbox name.");
		return;
	}
	if (imap_mailbox_arg(s, c->args, &x->mailbox, &error) < 0) {
		imap_cmd_done(s, "%s", error);
		return;
	}
	s->cmd.ctx = x;
	quota_start(s);
}

/* GETQUOTA root: only "" exists */
void
imap_cmd_getquota(struct imap_session *s, struct imap_cmd *c)
{
	struct quota_ctx *x = arena_zalloc(s->cmd_arena, sizeof(*x));
	const char *root;
	size_t len;

	if (x == NULL) {
		imap_cmd_done(s, "NO [SERVERBUG] Out of memory.");
		return;
	}
	if (c->args == NULL || imap_args_count(c->args) != 1 ||
	    !imap_arg_get_astring(c->args, &root, &len)) {
		imap_cmd_bad(s, "GETQUOTA needs a quota root.");
		return;
	}
	if (len != 0) {
		imap_cmd_done(s, "NO [NONEXISTENT] No such quota root; "
		    "the only one is \"\".");
		return;
	}
	s->cmd.ctx = x;
	quota_start(s);
}

/* SETQUOTA: limits are the administrator's (RFC 9208 4.3 allows NO) */
void
imap_cmd_setquota(struct imap_session *s, struct imap_cmd *c)
{
	(void)c;
	imap_cmd_done(s, "NO [NOPERM] Quotas are set by the administrator.");
}
