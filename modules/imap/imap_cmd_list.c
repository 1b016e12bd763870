/* imap_cmd_list.c: LIST and LSUB, LIST-EXTENDED, LIST-STATUS, SPECIAL-USE */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap.h"
#include "imap_list_match.h"
#include "imap_utf7.h"
#include "util.h"

/*
 * The store lists every mailbox, subscribed names that do not exist and
 * parents that exist only in a child's name.  This file matches the
 * patterns against the modified UTF-7 forms and works out the attributes:
 * children are judged on the sorted list, where all names under "a."
 * form one run.
 */

enum list_select {
	SEL_SUBSCRIBED = 1u << 0,
	SEL_RECURSIVEMATCH = 1u << 1,
	SEL_SPECIAL_USE = 1u << 2,
};

enum list_return {
	RET_SUBSCRIBED = 1u << 0,
	RET_CHILDREN = 1u << 1,
	RET_SPECIAL_USE = 1u << 2,
	RET_STATUS = 1u << 3,
};

struct list_box {
	char *name;			/* UTF-8 */
	char *wire;			/* modified UTF-7 */
	uint32_t attrs;
	uint32_t special_use;
};

struct list_out {
	const struct list_box *box;
	bool noselect;			/* plain LIST/LSUB: \Noselect */
	bool nonexistent;		/* LIST-EXTENDED \NonExistent */
	bool has_children, child_subscribed;
	bool subscribed;
};

struct list_ctx {
	bool lsub, extended;
	unsigned sel, ret, status_items;
	char **patterns;		/* wire form, INBOX folded */
	size_t n_patterns;
	struct list_box *boxes;		/* sorted by wire name */
	size_t n_boxes;
	struct list_out *out;
	size_t n_out, next;
};

static int
box_cmp(const void *a, const void *b)
{
	return strcmp(((const struct list_box *)a)->wire,
	    ((const struct list_box *)b)->wire);
}

static bool
matches(const struct list_ctx *x, const char *wire)
{
	size_t i;

	for (i = 0; i < x->n_patterns; i++)
		if (imap_list_match(x->patterns[i], wire, '.'))
			return true;
	return false;
}

/* Index of the first box whose wire name is >= key. */
static size_t
lower_bound(const struct list_ctx *x, const char *key)
{
	size_t lo = 0, hi = x->n_boxes;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(x->boxes[mid].wire, key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * The boxes below box i ("name.*") are a run in the sorted table:
 * [*from_r, *to_r).  Empty when the name is too long to search for.
 */
static void
child_range(const struct list_ctx *x, size_t i, size_t *from_r, size_t *to_r)
{
	const char *name = x->boxes[i].wire;
	size_t len = strlen(name), k;
	char key[1024];

	*from_r = *to_r = 0;
	if (len + 2 > sizeof(key))
		return;
	memcpy(key, name, len);
	key[len] = '.';
	key[len + 1] = '\0';
	*from_r = lower_bound(x, key);
	for (k = *from_r; k < x->n_boxes; k++)
		if (strncmp(x->boxes[k].wire, key, len + 1) != 0)
			break;
	*to_r = k;
}

/* Descendants of box i: any existing one, any subscribed one. */
static void
descendants(const struct list_ctx *x, size_t i, bool *exists_r,
    bool *subscribed_r)
{
	size_t k, end;

	*exists_r = *subscribed_r = false;
	child_range(x, i, &k, &end);
	for (; k < end && !(*exists_r && *subscribed_r); k++) {
		if (!(x->boxes[k].attrs & POSTA_MBOX_NONEXISTENT))
			*exists_r = true;
		if (x->boxes[k].attrs & POSTA_MBOX_SUBSCRIBED)
			*subscribed_r = true;
	}
}

static bool
add_out(struct list_ctx *x, const struct list_out *o)
{
	x->out[x->n_out++] = *o;
	return true;
}

/*
 * A subscribed descendant of box i that the patterns do not match: the
 * one a '%' stopped at box i for (RFC 3501 6.3.9).
 */
static bool
stopped_at(const struct list_ctx *x, size_t i)
{
	size_t k, end;

	for (child_range(x, i, &k, &end); k < end; k++)
		if ((x->boxes[k].attrs & POSTA_MBOX_SUBSCRIBED) &&
		    !matches(x, x->boxes[k].wire))
			return true;
	return false;
}

/*
 * LSUB: subscribed names, plus \Noselect parents that '%' stops at; with
 * '*' the subscribed name itself is listed, not its parent.
 */
static void
select_lsub(struct list_ctx *x)
{
	size_t i;

	for (i = 0; i < x->n_boxes; i++) {
		const struct list_box *b = &x->boxes[i];
		struct list_out o = { .box = b };

		if (!matches(x, b->wire))
			continue;
		if (b->attrs & POSTA_MBOX_SUBSCRIBED) {
			o.subscribed = true;
			add_out(x, &o);
		} else if (stopped_at(x, i)) {
			o.noselect = true;
			add_out(x, &o);
		}
	}
}

static void
select_list(struct list_ctx *x)
{
	size_t i;

	for (i = 0; i < x->n_boxes; i++) {
		const struct list_box *b = &x->boxes[i];
		struct list_out o = { .box = b };
		bool exists = !(b->attrs & POSTA_MBOX_NONEXISTENT);
		bool subscribed = (b->attrs & POSTA_MBOX_SUBSCRIBED) != 0;
		bool ex_desc, sub_desc;

		if (!matches(x, b->wire))
			continue;
		descendants(x, i, &ex_desc, &sub_desc);
		o.has_children = ex_desc;
		o.subscribed = subscribed;
		o.nonexistent = !exists;
		if (x->sel & SEL_SUBSCRIBED) {
			if (!subscribed && !((x->sel & SEL_RECURSIVEMATCH) &&
			    sub_desc))
				continue;
			o.child_subscribed = (x->sel & SEL_RECURSIVEMATCH) &&
			    sub_desc;
		} else if (!exists && !ex_desc) {
			/* only subscribed: not a mailbox for plain LIST */
			continue;
		}
		if ((x->sel & SEL_SPECIAL_USE) && b->special_use == 0)
			continue;
		o.noselect = !exists;
		add_out(x, &o);
	}
}

/* Clients show the list in our order: INBOX goes first, as they expect. */
static void
inbox_first(struct list_ctx *x)
{
	size_t i;

	for (i = 1; i < x->n_out; i++) {
		if (strcmp(x->out[i].box->wire, "INBOX") == 0) {
			struct list_out o = x->out[i];

			memmove(&x->out[1], &x->out[0], i * sizeof(x->out[0]));
			x->out[0] = o;
			return;
		}
	}
}

static void
write_entry(struct imap_session *s, struct list_ctx *x,
    const struct list_out *o)
{
	bool first = true;

	imap_printf(s, "* %s (", x->lsub ? "LSUB" : "LIST");
	if (x->lsub) {
		if (o->noselect)
			imap_puts(s, "\\Noselect");
		goto name;
	}
	if (o->nonexistent && x->extended) {
		imap_puts(s, "\\NonExistent");
		first = false;
	} else if (o->noselect) {
		imap_puts(s, "\\Noselect");
		first = false;
	}
	if (!o->nonexistent || o->has_children) {
		imap_puts(s, first ? "" : " ");
		imap_puts(s, o->has_children ? "\\HasChildren" :
		    "\\HasNoChildren");
		first = false;
	}
	if (o->subscribed && (x->ret & RET_SUBSCRIBED)) {
		imap_puts(s, first ? "" : " ");
		imap_puts(s, "\\Subscribed");
		first = false;
	}
	if (!o->nonexistent)
		imap_write_special_use(s, o->box->special_use, &first);
name:
	imap_puts(s, ") \".\" ");
	imap_write_string(s, o->box->wire, strlen(o->box->wire));
	if (o->child_subscribed)
		imap_puts(s, " (\"CHILDINFO\" (\"SUBSCRIBED\"))");
	imap_puts(s, "\r\n");
}

static void list_next(struct imap_session *s);

static void
status_cb(void *ctx, int err, const struct posta_mailbox_status *st)
{
	struct imap_session *s = ctx;
	struct list_ctx *x = s->cmd.ctx;

	if (imap_cb_enter(s))
		return;
	/* RFC 5819: a mailbox whose status fails is listed without one */
	if (err == 0)
		imap_write_status(s, x->out[x->next - 1].box->name,
		    x->status_items, st);
	list_next(s);
	imap_cb_leave(s);
}

static void
list_next(struct imap_session *s)
{
	struct list_ctx *x = s->cmd.ctx;

	while (x->next < x->n_out && s->conn != NULL) {
		const struct list_out *o = &x->out[x->next++];

		write_entry(s, x, o);
		if ((x->ret & RET_STATUS) && !o->noselect &&
		    !o->nonexistent &&
		    posta_mailbox_status(s->user, o->box->name, status_cb,
		    s) == 0) {
			imap_ref(s);
			return;
		}
	}
	imap_cmd_done(s, "OK %s completed.", x->lsub ? "Lsub" : "List");
}

static void
list_cb(void *ctx, int err, const struct posta_mailbox_info *boxes, size_t n)
{
	struct imap_session *s = ctx;
	struct list_ctx *x = s->cmd.ctx;
	size_t i, k = 0;

	if (imap_cb_enter(s))
		return;
	if (err < 0) {
		imap_cmd_store_error(s, err, "list");
		imap_cb_leave(s);
		return;
	}
	x->boxes = arena_alloc(s->cmd_arena, (n + 1) * sizeof(*x->boxes));
	x->out = arena_alloc(s->cmd_arena, (n + 1) * sizeof(*x->out));
	if (x->boxes == NULL || x->out == NULL)
		goto nomem;
	for (i = 0; i < n; i++) {
		struct list_box *b = &x->boxes[k];

		b->name = arena_strdup(s->cmd_arena, boxes[i].name);
		if (b->name == NULL)
			goto nomem;
		if (imap_utf8_to_utf7(s->cmd_arena, b->name, strlen(b->name),
		    &b->wire) < 0)
			continue;	/* not valid UTF-8: cannot be named */
		b->attrs = boxes[i].attrs;
		b->special_use = boxes[i].special_use;
		k++;
	}
	x->n_boxes = k;
	qsort(x->boxes, k, sizeof(*x->boxes), box_cmp);
	if (x->lsub)
		select_lsub(x);
	else
		select_list(x);
	inbox_first(x);
	x->next = 0;
	list_next(s);
	imap_cb_leave(s);
	return;
nomem:
	imap_cmd_done(s, "NO [SERVERBUG] Out of memory.");
	imap_cb_leave(s);
}

/* Joins reference and pattern (RFC 3501 6.3.8) and folds INBOX. */
static char *
make_pattern(struct imap_session *s, const char *ref, size_t ref_len,
    const char *pat, size_t pat_len)
{
	char *p = arena_alloc(s->cmd_arena, ref_len + pat_len + 1);

	if (p == NULL)
		return NULL;
	memcpy(p, ref, ref_len);
	memcpy(p + ref_len, pat, pat_len);
	p[ref_len + pat_len] = '\0';
	imap_list_fold_inbox(p, '.');
	return p;
}

static int
parse_select_opts(struct list_ctx *x, const struct imap_arg *list)
{
	const struct imap_arg *p;

	imap_arg_get_list(list, &p, NULL);
	for (; p != NULL; p = p->next) {
		if (imap_arg_atom_equals(p, "SUBSCRIBED"))
			x->sel |= SEL_SUBSCRIBED;
		else if (imap_arg_atom_equals(p, "RECURSIVEMATCH"))
			x->sel |= SEL_RECURSIVEMATCH;
		else if (imap_arg_atom_equals(p, "SPECIAL-USE"))
			x->sel |= SEL_SPECIAL_USE;
		else if (imap_arg_atom_equals(p, "REMOTE"))
			continue;
		else
			return -EINVAL;
	}
	/* RFC 5258 3.1: RECURSIVEMATCH alone is an error */
	if ((x->sel & SEL_RECURSIVEMATCH) &&
	    !(x->sel & (SEL_SUBSCRIBED | SEL_SPECIAL_USE)))
		return -EINVAL;
	if (x->sel & SEL_SUBSCRIBED)
		x->ret |= RET_SUBSCRIBED;
	return 0;
}

static int
parse_return_opts(struct imap_session *s, struct list_ctx *x,
    const struct imap_arg *list)
{
	const struct imap_arg *p;

	if (!imap_arg_get_list(list, &p, NULL))
		return -EINVAL;
	for (; p != NULL; p = p->next) {
		if (imap_arg_atom_equals(p, "SUBSCRIBED")) {
			x->ret |= RET_SUBSCRIBED;
		} else if (imap_arg_atom_equals(p, "CHILDREN")) {
			x->ret |= RET_CHILDREN;
		} else if (imap_arg_atom_equals(p, "SPECIAL-USE")) {
			x->ret |= RET_SPECIAL_USE;
		} else if (imap_arg_atom_equals(p, "STATUS") &&
		    p->next != NULL) {
			p = p->next;
			if (imap_parse_status_items(p, &x->status_items) < 0)
				return -EINVAL;
			x->ret |= RET_STATUS;
			if (x->status_items & IMAP_STATUS_HIGHESTMODSEQ)
				s->condstore = true;
		} else {
			return -EINVAL;
		}
	}
	return 0;
}

void
imap_cmd_list(struct imap_session *s, struct imap_cmd *c)
{
	struct list_ctx *x = arena_zalloc(s->cmd_arena, sizeof(*x));
	const struct imap_arg *a = c->args, *pat;
	const char *ref, *str;
	size_t ref_len, len;
	unsigned int n;
	int r;

	if (x == NULL) {
		imap_cmd_done(s, "NO [SERVERBUG] Out of memory.");
		return;
	}
	c->ctx = x;
	x->lsub = c->name[1] == 'S';
	if (!x->lsub && imap_arg_is_list(a)) {
		x->extended = true;
		if (parse_select_opts(x, a) < 0) {
			imap_cmd_bad(s, "Invalid LIST selection options.");
			return;
		}
		a = a->next;
	}
	if (a == NULL || !imap_arg_get_astring(a, &ref, &ref_len) ||
	    a->next == NULL) {
		imap_cmd_bad(s, "Expected a reference and a pattern.");
		return;
	}
	pat = a->next;
	if (!x->lsub && pat->next != NULL) {
		x->extended = true;
		if (!imap_arg_atom_equals(pat->next, "RETURN") ||
		    pat->next->next == NULL ||
		    pat->next->next->next != NULL ||
		    parse_return_opts(s, x, pat->next->next) < 0) {
			imap_cmd_bad(s, "Invalid LIST return options.");
			return;
		}
	} else if (pat->next != NULL) {
		imap_cmd_bad(s, "Too many arguments.");
		return;
	}
	if (!x->lsub && imap_arg_get_list(pat, &pat, &n)) {
		x->extended = true;
		if (n == 0) {
			imap_cmd_bad(s, "Empty pattern list.");
			return;
		}
	} else {
		n = 1;
	}
	x->patterns = arena_alloc(s->cmd_arena, n * sizeof(char *));
	if (x->patterns == NULL) {
		imap_cmd_done(s, "NO [SERVERBUG] Out of memory.");
		return;
	}
	for (; pat != NULL && x->n_patterns < n; pat = pat->next) {
		if (!imap_arg_get_list_mailbox(pat, &str, &len)) {
			imap_cmd_bad(s, "Invalid pattern.");
			return;
		}
		if (len == 0 && !x->extended) {
			/* RFC 3501 6.3.8: the hierarchy delimiter and root */
			imap_printf(s, "* %s (\\Noselect) \".\" \"\"\r\n",
			    x->lsub ? "LSUB" : "LIST");
			imap_cmd_done(s, "OK %s completed.",
			    x->lsub ? "Lsub" : "List");
			return;
		}
		x->patterns[x->n_patterns] = make_pattern(s, ref, ref_len, str,
		    len);
		if (x->patterns[x->n_patterns] == NULL) {
			imap_cmd_done(s, "NO [SERVERBUG] Out of memory.");
			return;
		}
		x->n_patterns++;
	}
	r = posta_mailbox_list(s->user, list_cb, s);
	if (r < 0) {
		imap_cmd_store_error(s, r, "list");
		return;
	}
	imap_ref(s);
	imap_cmd_wait(s);
}
