/* imap_cmd_copy.c: COPY and MOVE (RFC 6851) with UIDPLUS COPYUID */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "imap.h"

struct copy_ctx {
	char *dst;
	bool move;
};

/* Appends "a" or "a:b" for the run [lo, hi] to buf. */
static void
put_run(char *buf, size_t size, size_t *n, uint32_t lo, uint32_t hi)
{
	if (*n >= size)
		return;
	if (lo == hi)
		*n += (size_t)snprintf(buf + *n, size - *n, "%s%u",
		    *n > 0 ? "," : "", lo);
	else
		*n += (size_t)snprintf(buf + *n, size - *n, "%s%u:%u",
		    *n > 0 ? "," : "", lo, hi);
}

/*
 * "[COPYUID v src dst]": both sets list the pairs in the same order, so a
 * run is compressed only when both sides advance by one.
 */
static char *
copyuid(struct imap_session *s, const struct posta_copy_result *res)
{
	size_t cap = res->n * 24 + 64, ns = 0, nd = 0, i, start = 0;
	char *src = arena_alloc(s->cmd_arena, cap);
	char *dst = arena_alloc(s->cmd_arena, cap);

	if (src == NULL || dst == NULL || res->n == 0)
		return NULL;
	src[0] = dst[0] = '\0';
	for (i = 1; i <= res->n; i++) {
		if (i < res->n &&
		    res->src_uids[i] == res->src_uids[i - 1] + 1 &&
		    res->dst_uids[i] == res->dst_uids[i - 1] + 1)
			continue;
		put_run(src, cap, &ns, res->src_uids[start],
		    res->src_uids[i - 1]);
		put_run(dst, cap, &nd, res->dst_uids[start],
		    res->dst_uids[i - 1]);
		start = i;
	}
	if (ns >= cap || nd >= cap)
		return NULL;
	return arena_printf(s->cmd_arena, "[COPYUID %u %s %s]",
	    res->dst_uidvalidity, src, dst);
}

static void
copy_cb(void *ctx, int err, const struct posta_copy_result *res)
{
	struct imap_session *s = ctx;
	struct copy_ctx *x;
	char *code;

	if (imap_cb_enter(s))
		return;
	x = s->cmd.ctx;
	if (err < 0) {
		if (err == POSTA_ENOTFOUND || err == -ENOENT)
			imap_cmd_done(s, "NO [TRYCREATE] Mailbox doesn't "
			    "exist.");
		else if (err == POSTA_EQUOTA && !x->move)
			imap_cmd_done(s, "NO [OVERQUOTA] Quota exceeded.");
		else
			imap_cmd_store_error(s, err, x->move ? "move" : "copy");
		imap_cb_leave(s);
		return;
	}
	code = copyuid(s, res);
	if (x->move || strcmp(posta_mailbox_name(s->box), x->dst) == 0)
		s->notified = true;	/* EXPUNGE / EXISTS before the OK */
	if (x->move) {
		/* RFC 6851 4.3: COPYUID goes in an untagged OK */
		if (code != NULL)
			imap_printf(s, "* OK %s Moved UIDs.\r\n", code);
		imap_cmd_done(s, "OK Move completed.");
	} else {
		imap_cmd_done(s, "OK %sCopy completed.", code != NULL ?
		    arena_printf(s->cmd_arena, "%s ", code) : "");
	}
	imap_cb_leave(s);
}

void
imap_cmd_copy(struct imap_session *s, struct imap_cmd *c)
{
	struct copy_ctx *x = arena_zalloc(s->cmd_arena, sizeof(*x));
	const struct posta_msg *msgs;
	const char *set, *error;
	uint32_t *idx;
	size_t n, i;
	int r;

	if (x == NULL) {
		imap_cmd_done(s, "NO [SERVERBUG] Out of memory.");
		return;
	}
	c->ctx = x;
	x->move = c->name[0] == 'M';
	if (imap_args_count(c->args) != 2 ||
	    !imap_arg_get_atom(c->args, &set)) {
		imap_cmd_bad(s, "Expected a message set and a mailbox.");
		return;
	}
	if (imap_mailbox_arg(s, c->args->next, &x->dst, &error) < 0) {
		imap_cmd_done(s, "%s", error);
		return;
	}
	if (imap_seqset_to_indexes(s, set, c->uid, &idx, &n, &error) < 0) {
		imap_cmd_bad(s, error);
		return;
	}
	if (x->move && s->readonly) {
		imap_cmd_done(s, "NO [CANNOT] Mailbox is read-only.");
		return;
	}
	if (n == 0) {
		imap_cmd_done(s, "OK No messages.");
		return;
	}
	posta_mailbox_messages(s->box, &msgs);
	for (i = 0; i < n; i++)
		idx[i] = msgs[idx[i]].uid;
	r = posta_mailbox_copy(s->box, idx, n, x->dst, x->move, copy_cb, s);
	if (r < 0) {
		if (r == POSTA_ENOTFOUND)
			imap_cmd_done(s, "NO [TRYCREATE] Mailbox doesn't "
			    "exist.");
		else
			imap_cmd_store_error(s, r, x->move ? "move" : "copy");
		return;
	}
	imap_ref(s);
	imap_cmd_wait(s);
}
