/* imap_cmd_append.c: APPEND streamed into the store, with UIDPLUS and TOOBIG */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap.h"
#include "imap_search_parse.h"

/*
 * APPEND mailbox [flags] [date-time] literal.  The decision is made when
 * the literal is announced, before a byte of it is read: a message over
 * the store's size limit gets NO [TOOBIG] and a missing mailbox NO
 * [TRYCREATE] without the client sending it (for a synchronizing literal)
 * or with the parser skipping it (LITERAL+).  An accepted literal is
 * streamed chunk by chunk into posta_append_write(), one write at a time,
 * so the message is never whole in memory.
 */

struct imap_append {
	struct posta_append *ap;	/* NULL before begin and after finish */
	char *mailbox;
	uint64_t size, written;
	int err;			/* the first write error */
	uint8_t *spill;			/* chunk over one write */
	size_t spill_len, spill_off;
};

static void
append_end(struct imap_session *s)
{
	struct imap_append *x = s->append;

	if (x == NULL)
		return;
	posta_append_abort(&x->ap);
	free(x->spill);
	x->spill = NULL;
	s->append = NULL;
}

void
imap_append_abort(struct imap_session *s)
{
	append_end(s);
}

/* Ends the command before its literal is read. */
static void
refuse(struct imap_session *s, const char *reply)
{
	append_end(s);
	imap_parser_abort_command(s->parser);
	imap_cmd_done(s, "%s", reply);
}

static void
begin_cb(void *ctx, int err, struct posta_append *ap)
{
	struct imap_session *s = ctx;
	struct imap_append *x = s->append;

	if (imap_cb_enter(s)) {
		posta_append_abort(&ap);
		return;
	}
	if (x == NULL) {
		posta_append_abort(&ap);
	} else if (err < 0) {
		if (err == POSTA_ENOTFOUND)
			refuse(s, "NO [TRYCREATE] Mailbox doesn't exist.");
		else if (err == POSTA_EQUOTA)	/* full before this one */
			refuse(s, "NO [OVERQUOTA] Quota exceeded.");
		else
			refuse(s, arena_printf(s->cmd_arena, "NO %s",
			    imap_store_error_text(s, err, "append")));
	} else {
		x->ap = ap;
		imap_parser_stream_literal(s->parser);
		if (s->cmd.ctx != NULL)	/* a synchronizing literal */
			imap_puts(s, "+ OK\r\n");
		imap_cmd_unwait(s);
	}
	imap_cb_leave(s);
}

/* mailbox [flag-list] [date-time] as far as they came before the literal */
static int
parse_head(struct imap_session *s, const struct imap_arg *a,
    struct posta_append_params *params, char **mailbox_r, const char **error_r)
{
	const char **kw;
	int zone;

	memset(params, 0, sizeof(*params));
	if (imap_mailbox_arg(s, a, mailbox_r, error_r) < 0)
		return -EINVAL;
	a = a->next;
	if (a != NULL && imap_arg_is_list(a)) {
		if (imap_parse_flags(s->cmd_arena, a, &params->flags, &kw,
		    &params->n_keywords, error_r) < 0) {
			*error_r = "BAD Invalid flags.";
			return -EINVAL;
		}
		params->keywords = kw;
		a = a->next;
	}
	if (a != NULL && a->type == IMAP_ARG_STRING) {
		if (imap_datetime_parse(a->u.str.data, a->u.str.len,
		    &params->internal_date, &zone) < 0) {
			*error_r = "BAD Invalid date-time.";
			return -EINVAL;
		}
		a = a->next;
	}
	if (a != NULL && a->type != IMAP_ARG_STREAMED) {
		*error_r = "BAD Invalid APPEND arguments.";
		return -EINVAL;
	}
	return 0;
}

void
imap_append_literal_needed(struct imap_session *s,
    const struct imap_event *ev)
{
	const struct posta_store_info *info =
	    posta_store_get_info(s->mod->host);
	struct posta_append_params params;
	struct imap_append *x;
	const char *error;
	int r;

	if (!(s->state & IMAP_STATE_AUTHED)) {
		refuse(s, "BAD Log in first.");
		return;
	}
	if (ev->u.literal.literal8) {
		refuse(s, "BAD Binary literals are not supported.");
		return;
	}
	x = arena_zalloc(s->cmd_arena, sizeof(*x));
	if (x == NULL) {
		refuse(s, "NO [SERVERBUG] Out of memory.");
		return;
	}
	s->append = x;
	x->size = ev->u.literal.size;
	/* remembered for begin_cb: send "+ OK" only when asked to */
	s->cmd.ctx = ev->u.literal.sync ? x : NULL;
	if (parse_head(s, ev->args, &params, &x->mailbox, &error) < 0) {
		refuse(s, error);
		return;
	}
	if (info != NULL && info->max_message_size > 0 &&
	    x->size > info->max_message_size) {
		refuse(s, arena_printf(s->cmd_arena, "NO [TOOBIG] Message "
		    "too large (limit %llu bytes).",
		    (unsigned long long)info->max_message_size));
		return;
	}
	r = posta_append_begin(s->user, x->mailbox, &params, begin_cb, s);
	if (r < 0) {
		refuse(s, arena_printf(s->cmd_arena, "NO %s",
		    r == POSTA_ENOTFOUND ?
		    "[TRYCREATE] Mailbox doesn't exist." :
		    imap_store_error_text(s, r, "append")));
		return;
	}
	imap_ref(s);
	imap_cmd_wait(s);
}

static void write_next(struct imap_session *s, struct imap_append *x);

static void
write_cb(void *ctx, int err)
{
	struct imap_session *s = ctx;
	struct imap_append *x = s->append;

	if (imap_cb_enter(s))
		return;
	if (x != NULL) {
		if (err < 0 && x->err == 0) {
			x->err = err;
			posta_append_abort(&x->ap);
		}
		if (x->err == 0 && x->spill_off < x->spill_len)
			write_next(s, x);
		else
			imap_cmd_unwait(s);
	}
	imap_cb_leave(s);
}

static void
write_next(struct imap_session *s, struct imap_append *x)
{
	size_t n = x->spill_len - x->spill_off;
	int r;

	if (n > POSTA_STORE_WRITE_MAX)
		n = POSTA_STORE_WRITE_MAX;
	r = posta_append_write(x->ap, x->spill + x->spill_off, n, write_cb, s);
	if (r < 0) {
		x->err = r;
		posta_append_abort(&x->ap);
		imap_cmd_unwait(s);
		return;
	}
	x->spill_off += n;
	imap_ref(s);
	imap_cmd_wait(s);
}

void
imap_append_data(struct imap_session *s, const uint8_t *data, size_t len,
    bool last)
{
	struct imap_append *x = s->append;
	size_t n = len;
	int r;

	(void)last;
	if (x == NULL || x->err != 0 || x->ap == NULL || len == 0)
		return;
	x->written += len;
	if (n > POSTA_STORE_WRITE_MAX) {
		/* the data is only ours during this call: keep the rest */
		free(x->spill);
		x->spill_len = len - POSTA_STORE_WRITE_MAX;
		x->spill_off = 0;
		x->spill = malloc(x->spill_len);
		if (x->spill == NULL) {
			x->err = -ENOMEM;
			posta_append_abort(&x->ap);
			return;
		}
		memcpy(x->spill, data + POSTA_STORE_WRITE_MAX, x->spill_len);
		n = POSTA_STORE_WRITE_MAX;
	}
	r = posta_append_write(x->ap, data, n, write_cb, s);
	if (r < 0) {
		x->err = r;
		posta_append_abort(&x->ap);
		return;
	}
	imap_ref(s);
	imap_cmd_wait(s);
}

static void
finish_cb(void *ctx, int err, uint32_t uidvalidity, uint32_t uid)
{
	struct imap_session *s = ctx;
	struct imap_append *x = s->append;

	if (imap_cb_enter(s))
		return;
	s->append = NULL;
	if (x != NULL) {
		free(x->spill);
		x->spill = NULL;
	}
	if (err < 0) {
		/* the writes enforce the size limit, finish the quota */
		imap_cmd_done(s, "NO %s", err == POSTA_EQUOTA ?
		    "[OVERQUOTA] Quota exceeded." : err == -ENOENT ?
		    "[TRYCREATE] Mailbox doesn't exist." :
		    imap_store_error_text(s, err, "append"));
	} else {
		/* the new message is announced before the tagged OK */
		if (s->box != NULL && x != NULL &&
		    strcmp(posta_mailbox_name(s->box), x->mailbox) == 0)
			s->notified = true;
		imap_cmd_done(s, "OK [APPENDUID %u %u] Append completed.",
		    uidvalidity, uid);
	}
	imap_cb_leave(s);
}

void
imap_cmd_append(struct imap_session *s, struct imap_cmd *c)
{
	struct imap_append *x = s->append;
	const struct imap_arg *last;
	unsigned int n;
	int r;

	n = imap_args_count(c->args);
	last = n > 0 ? imap_args_nth(c->args, n - 1) : NULL;
	if (x == NULL || last == NULL || last->type != IMAP_ARG_STREAMED) {
		append_end(s);
		imap_cmd_bad(s, x == NULL ? "APPEND needs a mailbox and a "
		    "message literal." : "MULTIAPPEND is not supported.");
		return;
	}
	if (x->err != 0) {
		int err = x->err;

		append_end(s);
		imap_cmd_done(s, "NO %s", err == POSTA_EQUOTA ?
		    "[TOOBIG] Message too large." :
		    imap_store_error_text(s, err, "append"));
		return;
	}
	if (x->ap == NULL) {
		append_end(s);
		imap_cmd_done(s, "NO [SERVERBUG] Append failed.");
		return;
	}
	r = posta_append_finish(x->ap, finish_cb, s);
	if (r < 0) {
		append_end(s);
		imap_cmd_done(s, "NO %s", imap_store_error_text(s, r,
		    "append"));
		return;
	}
	x->ap = NULL;	/* the store frees it after finish_cb */
	imap_ref(s);
	imap_cmd_wait(s);
}
