/* imap_cmd_store.c: STORE and UID STORE, with CONDSTORE's UNCHANGEDSINCE */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "imap.h"
#include "util.h"

struct store_ctx {
	uint32_t *idx;
	size_t n;
	bool silent;
	bool unchanged;			/* UNCHANGEDSINCE given */
};

static bool
contains(const uint32_t *list, size_t n, uint32_t v)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (list[mid] == v)
			return true;
		if (list[mid] < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* "[MODIFIED set]" of the messages that failed UNCHANGEDSINCE. */
static char *
modified_set(struct imap_session *s, const struct posta_flags_result *res)
{
	struct imap_seq_range *r = arena_alloc(s->cmd_arena,
	    (res->n_failed + 1) * sizeof(*r));
	struct imap_seqset set;
	size_t i, k = 0;

	if (r == NULL)
		return NULL;
	for (i = 0; i < res->n_failed; i++) {
		uint32_t v = s->cmd.uid ? res->failed[i] :
		    posta_mailbox_seq_of_uid(s->box, res->failed[i]);

		if (v != 0) {
			r[k].lo = r[k].hi = v;
			k++;
		}
	}
	set.ranges = r;
	set.count = (unsigned)k;
	if (k == 0 || imap_seqset_resolve(s->cmd_arena, &set, UINT32_MAX,
	    &set) < 0)
		return NULL;
	return imap_seqset_format(s->cmd_arena, &set);
}

static void
store_cb(void *ctx, int err, const struct posta_flags_result *res)
{
	struct imap_session *s = ctx;
	struct store_ctx *x;
	const struct posta_msg *msgs;
	size_t i;

	if (imap_cb_enter(s))
		return;
	x = s->cmd.ctx;
	if (err < 0) {
		if (err == POSTA_EQUOTA)
			imap_cmd_done(s, "NO [LIMIT] Too many keywords.");
		else
			imap_cmd_store_error(s, err, "store");
		imap_cb_leave(s);
		return;
	}
	{
		const char *const *names;

		/* a new keyword: FLAGS first, so the FETCHes make sense */
		if (posta_mailbox_keywords(s->box, &names) != s->n_keywords)
			imap_write_flag_lists(s);
	}
	posta_mailbox_messages(s->box, &msgs);
	for (i = 0; i < x->n; i++) {
		uint32_t uid = msgs[x->idx[i]].uid;

		if (res->n_failed > 0 &&
		    contains(res->failed, res->n_failed, uid))
			continue;
		if (x->silent) {
			/* RFC 7162 3.2: CONDSTORE clients still learn the new
			 * modseq of what they changed */
			if (!s->condstore ||
			    !contains(res->changed, res->n_changed, uid))
				continue;
			imap_printf(s, "* %u FETCH (UID %u MODSEQ (%llu))\r\n",
			    x->idx[i] + 1, uid,
			    (unsigned long long)msgs[x->idx[i]].modseq);
			continue;
		}
		/* RFC 7162 3.2: with CONDSTORE on, UID and MODSEQ as well */
		imap_write_fetch_flags(s, x->idx[i] + 1,
		    s->cmd.uid || s->condstore, s->condstore);
	}
	if (res->n_failed > 0) {
		char *set = modified_set(s, res);

		if (set != NULL) {
			imap_cmd_done(s, "OK [MODIFIED %s] Conditional STORE "
			    "failed.", set);
			imap_cb_leave(s);
			return;
		}
	}
	imap_cmd_done(s, "OK Store completed.");
	imap_cb_leave(s);
}

void
imap_cmd_store(struct imap_session *s, struct imap_cmd *c)
{
	struct store_ctx *x = arena_zalloc(s->cmd_arena, sizeof(*x));
	struct posta_flag_update up;
	const struct imap_arg *a;
	const char *set, *item, *error;
	const char **kw;
	uint32_t *uids;
	size_t i, len;
	int r;

	if (x == NULL) {
		imap_cmd_done(s, "NO [SERVERBUG] Out of memory.");
		return;
	}
	c->ctx = x;
	memset(&up, 0, sizeof(up));
	if (imap_args_count(c->args) < 3 || !imap_arg_get_atom(c->args, &set)) {
		imap_cmd_bad(s, "STORE needs a set, an item and flags.");
		return;
	}
	a = c->args->next;
	if (imap_arg_is_list(a)) {
		const struct imap_arg *p;
		const char *str;

		imap_arg_get_list(a, &p, NULL);
		if (!imap_arg_atom_equals(p, "UNCHANGEDSINCE") ||
		    p->next == NULL || p->next->next != NULL ||
		    !imap_arg_get_atom(p->next, &str)) {
			imap_cmd_bad(s, "Invalid STORE modifiers.");
			return;
		}
		for (i = 0; str[i] != '\0'; i++)
			if (str[i] < '0' || str[i] > '9' || i > 18)
				break;
		if (i == 0 || str[i] != '\0') {
			imap_cmd_bad(s, "Invalid UNCHANGEDSINCE.");
			return;
		}
		up.unchangedsince = strtoull(str, NULL, 10);
		x->unchanged = true;
		s->condstore = true;
		a = a->next;
	}
	if (a == NULL || a->next == NULL || !imap_arg_get_atom(a, &item)) {
		imap_cmd_bad(s, "STORE needs an item and flags.");
		return;
	}
	len = strlen(item);
	if (len > 7 && util_strcaseeq(item + len - 7, ".SILENT")) {
		x->silent = true;
		len -= 7;
	}
	if (len == 5 && util_memcaseeq(item, "FLAGS", 5))
		up.mode = POSTA_FLAGS_SET;
	else if (len == 6 && util_memcaseeq(item, "+FLAGS", 6))
		up.mode = POSTA_FLAGS_ADD;
	else if (len == 6 && util_memcaseeq(item, "-FLAGS", 6))
		up.mode = POSTA_FLAGS_REMOVE;
	else {
		imap_cmd_bad(s, "Invalid STORE item.");
		return;
	}
	if (imap_arg_is_list(a->next) && a->next->next != NULL) {
		imap_cmd_bad(s, "Unexpected argument after the flag list.");
		return;
	}
	if (imap_parse_flags(s->cmd_arena, a->next, &up.flags, &kw,
	    &up.n_keywords, &error) < 0) {
		imap_cmd_bad(s, error);
		return;
	}
	up.keywords = kw;
	if (imap_seqset_to_indexes(s, set, c->uid, &x->idx, &x->n,
	    &error) < 0) {
		imap_cmd_bad(s, error);
		return;
	}
	if (s->readonly) {
		imap_cmd_done(s, "NO [CANNOT] Mailbox is read-only.");
		return;
	}
	if (x->n == 0) {
		imap_cmd_done(s, "OK Store completed.");
		return;
	}
	uids = arena_alloc(s->cmd_arena, x->n * sizeof(*uids));
	if (uids == NULL) {
		imap_cmd_done(s, "NO [SERVERBUG] Out of memory.");
		return;
	}
	{
		const struct posta_msg *msgs;

		posta_mailbox_messages(s->box, &msgs);
		for (i = 0; i < x->n; i++)
			uids[i] = msgs[x->idx[i]].uid;
	}
	if (x->unchanged && up.unchangedsince == 0) {
		/*
		 * RFC 7162 3.1.3: UNCHANGEDSINCE 0 always fails, as flags
		 * always exist; the store reads 0 as "no condition".
		 */
		struct posta_flags_result res = {
			.n_failed = x->n,
			.failed = uids,
		};
		char *mod = modified_set(s, &res);

		if (mod == NULL) {
			imap_cmd_done(s, "NO [SERVERBUG] Out of memory.");
			return;
		}
		imap_cmd_done(s, "OK [MODIFIED %s] Conditional STORE failed.",
		    mod);
		return;
	}
	r = posta_mailbox_store_flags(s->box, uids, x->n, &up, store_cb, s);
	if (r < 0) {
		imap_cmd_store_error(s, r, "store");
		return;
	}
	imap_ref(s);
	imap_cmd_wait(s);
}
