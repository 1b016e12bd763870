/* imap_cmd_select.c: SELECT EXAMINE (QRESYNC) CLOSE UNSELECT EXPUNGE */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "imap.h"
#include "util.h"

struct select_ctx {
	bool readonly;
	bool qresync;			/* (QRESYNC (...)) given */
	uint32_t uidvalidity;
	uint64_t modseq;
	struct imap_seqset known;	/* resolved; count 0 = all */
	struct posta_mailbox *box;
};

static void
select_finish(struct imap_session *s, struct select_ctx *x)
{
	x->box = NULL;
	s->cmd.no_refresh = true;
	imap_cmd_done(s, "OK [%s] %s completed.", x->readonly ? "READ-ONLY" :
	    "READ-WRITE", s->cmd.name[0] == 'E' ? "Examine" : "Select");
}

/* RFC 7162 3.2.5.2: changed messages since the client's modseq. */
static void
qresync_fetches(struct imap_session *s, struct select_ctx *x)
{
	const struct posta_msg *msgs;
	size_t n = posta_mailbox_messages(s->box, &msgs), i;

	for (i = 0; i < n; i++) {
		if (msgs[i].modseq <= x->modseq)
			continue;
		if (x->known.count > 0 &&
		    !imap_seqset_contains(&x->known, msgs[i].uid))
			continue;
		imap_write_fetch_flags(s, (uint32_t)i + 1, true, true);
	}
}

/* The ranges of a (resolved) that are also in b (resolved), in arena. */
static int
intersect(struct arena *ar, const struct imap_seqset *a,
    const struct imap_seqset *b, struct imap_seqset *out)
{
	unsigned int i = 0, j = 0, k = 0;
	struct imap_seq_range *r = arena_alloc(ar, (a->count + b->count + 1) *
	    sizeof(*r));

	if (r == NULL)
		return -ENOMEM;
	while (i < a->count && j < b->count) {
		uint32_t lo = a->ranges[i].lo > b->ranges[j].lo ?
		    a->ranges[i].lo : b->ranges[j].lo;
		uint32_t hi = a->ranges[i].hi < b->ranges[j].hi ?
		    a->ranges[i].hi : b->ranges[j].hi;

		if (lo <= hi) {
			r[k].lo = lo;
			r[k++].hi = hi;
		}
		if (a->ranges[i].hi < b->ranges[j].hi)
			i++;
		else
			j++;
	}
	out->ranges = r;
	out->count = k;
	return 0;
}

static void
vanished_cb(void *ctx, int err, const struct posta_uid_range *ranges,
    size_t n)
{
	struct imap_session *s = ctx;
	struct select_ctx *x = s->cmd.ctx;

	if (imap_cb_enter(s))
		return;
	if (err == 0 && n > 0) {
		struct imap_seq_range *r = arena_alloc(s->cmd_arena,
		    n * sizeof(*r));
		struct imap_seqset set, out;
		size_t i;
		char *str;

		for (i = 0; r != NULL && i < n; i++) {
			r[i].lo = ranges[i].lo;
			r[i].hi = ranges[i].hi;
		}
		set.ranges = r;
		set.count = (unsigned)n;
		if (r != NULL &&
		    imap_seqset_resolve(s->cmd_arena, &set, UINT32_MAX,
		    &out) == 0 &&
		    (x->known.count == 0 || intersect(s->cmd_arena, &out,
		    &x->known, &out) == 0) && out.count > 0 &&
		    (str = imap_seqset_format(s->cmd_arena, &out)) != NULL)
			imap_printf(s, "* VANISHED (EARLIER) %s\r\n", str);
	}
	qresync_fetches(s, x);
	select_finish(s, x);
	imap_cb_leave(s);
}

static void
open_cb(void *ctx, int err, struct posta_mailbox *box)
{
	struct imap_session *s = ctx;
	struct select_ctx *x;
	const struct posta_mailbox_status *st;

	if (imap_cb_enter(s)) {
		posta_mailbox_close(&box);
		return;
	}
	x = s->cmd.ctx;
	if (err < 0) {
		imap_cmd_store_error(s, err, "select");
		imap_cb_leave(s);
		return;
	}
	imap_select_install(s, box, x->readonly);
	st = posta_mailbox_view_status(box);
	if (x->qresync && x->uidvalidity == st->uidvalidity &&
	    x->modseq < st->highestmodseq) {
		int r = posta_mailbox_expunged_since(box, x->modseq,
		    vanished_cb, s);

		if (r == 0) {
			imap_ref(s);
			imap_cb_leave(s);
			return;
		}
	}
	if (x->qresync && x->uidvalidity == st->uidvalidity)
		qresync_fetches(s, x);
	select_finish(s, x);
	imap_cb_leave(s);
}

static bool
parse_number(const struct imap_arg *a, uint64_t max, uint64_t *n_r)
{
	const char *str;
	uint64_t n = 0;
	size_t i;

	if (a == NULL || a->type != IMAP_ARG_ATOM ||
	    !imap_arg_get_atom(a, &str) || str[0] == '\0' ||
	    (str[0] == '0' && str[1] != '\0'))
		return false;
	for (i = 0; str[i] != '\0'; i++) {
		if (str[i] < '0' || str[i] > '9' || n > (max - (uint64_t)(str[i]
		    - '0')) / 10)
			return false;
		n = n * 10 + (uint64_t)(str[i] - '0');
	}
	*n_r = n;
	return true;
}

/* (QRESYNC (uidvalidity modseq [known-uids [(seq-set uid-set)]])) */
static int
parse_qresync(struct imap_session *s, struct select_ctx *x,
    const struct imap_arg *a, const char **error_r)
{
	const struct imap_arg *p;
	unsigned int n;
	uint64_t v;
	const char *str;

	*error_r = "Invalid QRESYNC parameters.";
	if (!imap_arg_get_list(a, &p, &n) || n < 2 || n > 4)
		return -EINVAL;
	if (!parse_number(p, UINT32_MAX, &v) || v == 0)
		return -EINVAL;
	x->uidvalidity = (uint32_t)v;
	if (!parse_number(p->next, INT64_MAX, &x->modseq) || x->modseq == 0)
		return -EINVAL;
	p = p->next->next;
	if (p != NULL && p->type == IMAP_ARG_ATOM) {
		struct imap_seqset set;

		if (!imap_arg_get_atom(p, &str) ||
		    imap_seqset_parse(s->cmd_arena, str, strlen(str),
		    &set) < 0 || imap_seqset_has_star(&set) ||
		    imap_seqset_resolve(s->cmd_arena, &set, UINT32_MAX,
		    &x->known) < 0)
			return -EINVAL;
		p = p->next;
	}
	/* seq-match-data: the store remembers every expunge, so not needed */
	if (p != NULL && !imap_arg_is_list(p))
		return -EINVAL;
	x->qresync = true;
	return 0;
}

void
imap_cmd_select(struct imap_session *s, struct imap_cmd *c)
{
	struct select_ctx *x = arena_zalloc(s->cmd_arena, sizeof(*x));
	const char *error;
	char *name;
	int r;

	if (x == NULL) {
		imap_cmd_done(s, "NO [SERVERBUG] Out of memory.");
		return;
	}
	x->readonly = c->name[0] == 'E';
	c->ctx = x;
	if (c->args == NULL || imap_args_count(c->args) > 2) {
		imap_cmd_bad(s, "Expected a mailbox name.");
		return;
	}
	if (imap_mailbox_arg(s, c->args, &name, &error) < 0) {
		imap_cmd_done(s, "%s", error);
		return;
	}
	if (c->args->next != NULL) {
		const struct imap_arg *p;

		if (!imap_arg_get_list(c->args->next, &p, NULL)) {
			imap_cmd_bad(s, "Invalid select parameters.");
			return;
		}
		for (; p != NULL; p = p->next) {
			if (imap_arg_atom_equals(p, "CONDSTORE")) {
				s->condstore = true;
			} else if (imap_arg_atom_equals(p, "QRESYNC") &&
			    p->next != NULL) {
				if (!s->qresync) {
					imap_cmd_bad(s, "QRESYNC is not "
					    "enabled.");
					return;
				}
				p = p->next;
				if (parse_qresync(s, x, p, &error) < 0) {
					imap_cmd_bad(s, error);
					return;
				}
			} else {
				imap_cmd_bad(s, "Unknown select parameter.");
				return;
			}
		}
	}
	if (s->state == IMAP_STATE_SELECTED) {
		imap_select_close(s);
		imap_puts(s, "* OK [CLOSED] Previous mailbox closed.\r\n");
	}
	r = posta_mailbox_open(s->user, name, x->readonly ?
	    POSTA_OPEN_READONLY : 0, open_cb, s);
	if (r < 0) {
		imap_cmd_store_error(s, r, "select");
		return;
	}
	imap_ref(s);
	imap_cmd_wait(s);
}

/* ---- CLOSE ---- */

static void
close_expunge_cb(void *ctx, int err, size_t n)
{
	struct imap_session *s = ctx;

	(void)n;
	if (imap_cb_enter(s))
		return;
	imap_select_close(s);
	s->cmd.no_refresh = true;
	if (err < 0)
		imap_cmd_store_error(s, err, "close");
	else
		imap_cmd_done(s, "OK Close completed.");
	imap_cb_leave(s);
}

void
imap_cmd_close(struct imap_session *s, struct imap_cmd *c)
{
	int r;

	if (c->args != NULL) {
		imap_cmd_bad(s, "CLOSE takes no arguments.");
		return;
	}
	if (!s->readonly) {
		/* RFC 3501 6.4.2: expunge silently, then close */
		r = posta_mailbox_expunge(s->box, NULL, 0,
		    POSTA_EXPUNGE_DELETED_ONLY, close_expunge_cb, s);
		if (r == 0) {
			imap_ref(s);
			imap_cmd_wait(s);
			return;
		}
	}
	imap_select_close(s);
	c->no_refresh = true;
	imap_cmd_done(s, "OK Close completed.");
}

void
imap_cmd_unselect(struct imap_session *s, struct imap_cmd *c)
{
	if (c->args != NULL) {
		imap_cmd_bad(s, "UNSELECT takes no arguments.");
		return;
	}
	imap_select_close(s);
	c->no_refresh = true;
	imap_cmd_done(s, "OK Unselect completed.");
}

/* ---- EXPUNGE, UID EXPUNGE (UIDPLUS) ---- */

static void
expunge_cb(void *ctx, int err, size_t n)
{
	struct imap_session *s = ctx;

	(void)n;
	if (imap_cb_enter(s))
		return;
	/* the refresh before the tagged reply sends the EXPUNGEs */
	s->notified = true;
	if (err < 0)
		imap_cmd_store_error(s, err, "expunge");
	else
		imap_cmd_done(s, "OK Expunge completed.");
	imap_cb_leave(s);
}

void
imap_cmd_expunge(struct imap_session *s, struct imap_cmd *c)
{
	uint32_t *uids = NULL;
	size_t n = 0;
	int r;

	if (s->readonly) {
		imap_cmd_done(s, "NO [CANNOT] Mailbox is read-only.");
		return;
	}
	if (c->uid) {
		const char *set, *error;
		const struct posta_msg *msgs;
		uint32_t *idx;
		size_t i;

		if (imap_args_count(c->args) != 1 ||
		    !imap_arg_get_atom(c->args, &set)) {
			imap_cmd_bad(s, "UID EXPUNGE needs a UID set.");
			return;
		}
		if (imap_seqset_to_indexes(s, set, true, &idx, &n,
		    &error) < 0) {
			imap_cmd_bad(s, error);
			return;
		}
		if (n == 0) {
			imap_cmd_done(s, "OK Expunge completed.");
			return;
		}
		posta_mailbox_messages(s->box, &msgs);
		uids = idx;
		for (i = 0; i < n; i++)
			uids[i] = msgs[idx[i]].uid;
	} else if (c->args != NULL) {
		imap_cmd_bad(s, "EXPUNGE takes no arguments.");
		return;
	}
	r = posta_mailbox_expunge(s->box, uids, n, POSTA_EXPUNGE_DELETED_ONLY,
	    expunge_cb, s);
	if (r < 0) {
		imap_cmd_store_error(s, r, "expunge");
		return;
	}
	imap_ref(s);
	imap_cmd_wait(s);
}
