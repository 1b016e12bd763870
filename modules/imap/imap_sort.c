/* imap_sort.c: SORT, UID SORT (RFC 5256, ESORT RFC 5267) and THREAD */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap.h"
#include "imap_search_match.h"
#include "imap_search_parse.h"
#include "imap_sort_key.h"
#include "imap_thread.h"
#include "util.h"

/*
 * A SORT or THREAD runs the SEARCH matcher first (imap_search_run), then
 * collects the keys of the hits: the cached ENVELOPE in batches of
 * POSTA_STORE_BATCH_MAX (posta_mailbox_fetch_meta), and for
 * THREAD=REFERENCES the References: field, read from the first
 * REFS_READ_MAX bytes of each message's header (the ENVELOPE does not
 * carry it).  Keys go into flat arrays and one string pool, so a mailbox
 * of 100,000 messages costs a few arrays, not 100,000 allocations.  All
 * of it is malloc'd, registered with the command arena and freed when the
 * command ends, however it ends.  The answer is written in pieces and
 * waits for the drain callback past OUT_HIGH queued bytes, like FETCH.
 */

#define OUT_HIGH	(256u * 1024)
#define KEY_MAX		1024u		/* bytes kept of a string key */
#define POOL_MAX	(128u * 1024 * 1024)	/* all string keys */
#define REFS_READ_MAX	POSTA_STORE_READ_MAX
#define MAX_REFS	512u		/* last IDs kept of References */

struct sort_ctx {
	struct imap_sort_args *args;
	bool thread;
	const uint32_t *hits;		/* view indexes, ascending */
	size_t n, pos;

	struct imap_sort_rec *recs;	/* SORT */
	struct imap_thread_msg *tmsgs;	/* THREAD */
	uint32_t *irt;			/* In-Reply-To ID, per message */
	uint32_t *refs;			/* IDs, as pool offsets */
	size_t n_refs, cap_refs;
	char *pool;
	size_t pool_len, pool_cap;
	bool pool_full;
	struct arena *tmp;		/* per message: envelope strings */

	struct posta_msg_reader *reader; /* REFERENCES header reads */
	uint8_t *hbuf;
	uint64_t *hsize;		/* header sizes from the metadata */

	struct imap_thread *thr;
	size_t out_pos;			/* SORT: next record to write */
	bool out_started;
};

static void collect_next(struct imap_session *s);
static void refs_next(struct imap_session *s);

static void
sort_cleanup(void *ctx)
{
	struct sort_ctx *x = ctx;

	posta_msg_close(&x->reader);
	free(x->recs);
	free(x->tmsgs);
	free(x->irt);
	free(x->refs);
	free(x->pool);
	free(x->hbuf);
	free(x->hsize);
	arena_free(&x->tmp);
	imap_thread_free(&x->thr);
	x->recs = NULL;
	x->tmsgs = NULL;
	x->irt = NULL;
	x->refs = NULL;
	x->pool = NULL;
	x->hbuf = NULL;
	x->hsize = NULL;
}

/* Adds a string (cut at KEY_MAX) to the pool; its offset, 0 when full. */
static uint32_t
pool_add(struct sort_ctx *x, const char *str, size_t len, bool casemap)
{
	uint32_t off;

	if (len == 0)
		return 0;
	if (len > KEY_MAX)
		len = KEY_MAX;
	if (x->pool_len + len + 1 > x->pool_cap) {
		size_t cap = x->pool_cap * 2;
		char *np;

		while (cap < x->pool_len + len + 1)
			cap *= 2;
		if (cap > POOL_MAX) {
			x->pool_full = true;
			return 0;
		}
		np = realloc(x->pool, cap);
		if (np == NULL) {
			x->pool_full = true;
			return 0;
		}
		x->pool = np;
		x->pool_cap = cap;
	}
	off = (uint32_t)x->pool_len;
	memcpy(x->pool + off, str, len);
	if (casemap)
		imap_casemap(x->pool + off, len);
	x->pool[off + len] = '\0';
	x->pool_len += len + 1;
	return off;
}

static uint32_t
pool_str(struct sort_ctx *x, const char *str)
{
	return str != NULL ? pool_add(x, str, strlen(str), true) : 0;
}

/* The first valid message ID of a value, or IMAP_THREAD_NONE. */
static uint32_t
pool_msgid(struct sort_ctx *x, const char *value)
{
	const char *p = value, *id;
	size_t len;

	if (value == NULL ||
	    !imap_msgid_next(&p, value + strlen(value), &id, &len))
		return IMAP_THREAD_NONE;
	if (len > KEY_MAX)
		return IMAP_THREAD_NONE;
	len = pool_add(x, id, len, false);
	return len == 0 ? IMAP_THREAD_NONE : (uint32_t)len;
}

/* RFC 5957: the display name, else the addr-spec. */
static uint32_t
pool_display(struct sort_ctx *x, const struct imap_env_addr *a)
{
	if (a->name != NULL && a->name[0] != '\0') {
		char *d = imap_decode_words(x->tmp, a->name,
		    strlen(a->name));

		if (d != NULL && d[0] != '\0')
			return pool_str(x, d);
	}
	if (a->mailbox != NULL && a->host != NULL) {
		char *spec = arena_printf(x->tmp, "%s@%s", a->mailbox,
		    a->host);

		return spec != NULL ? pool_str(x, spec) : 0;
	}
	return pool_str(x, a->mailbox);
}

static bool
sort_wants(const struct sort_ctx *x, enum imap_sort_key_type t)
{
	size_t i;

	for (i = 0; i < x->args->n_crit; i++)
		if (x->args->crit[i].type == t)
			return true;
	return false;
}

/* Fills message k's keys from its ENVELOPE (NULL: none known). */
static void
take_envelope(struct imap_session *s, struct sort_ctx *x, size_t k,
    const char *envelope)
{
	const struct posta_msg *msgs;
	const struct posta_msg *m;
	struct imap_envelope e;
	int64_t date;
	bool reply = false;
	char *subj;

	posta_mailbox_messages(s->box, &msgs);
	m = &msgs[x->hits[k]];
	arena_reset(x->tmp);
	if (envelope == NULL || imap_envelope_parse(x->tmp, envelope,
	    strlen(envelope), &e) < 0)
		memset(&e, 0, sizeof(e));
	if (e.date == NULL ||
	    imap_sent_date_parse(e.date, strlen(e.date), &date) < 0)
		date = m->internal_date;
	subj = NULL;
	if (x->thread || sort_wants(x, IMAP_SORT_SUBJECT))
		subj = imap_base_subject(x->tmp, e.subject,
		    e.subject != NULL ? strlen(e.subject) : 0, &reply);
	if (x->thread) {
		struct imap_thread_msg *t = &x->tmsgs[k];

		t->date = date;
		t->subject = subj != NULL ? pool_add(x, subj, strlen(subj),
		    false) : 0;
		t->is_reply = reply;
		t->msgid = pool_msgid(x, e.message_id);
		x->irt[k] = pool_msgid(x, e.in_reply_to);
		return;
	}
	{
		struct imap_sort_rec *r = &x->recs[k];

		r->date = date;
		if (subj != NULL)
			r->str[IMAP_SORT_STR_SUBJECT] = pool_add(x, subj,
			    strlen(subj), false);
		if (sort_wants(x, IMAP_SORT_FROM))
			r->str[IMAP_SORT_STR_FROM] = pool_str(x,
			    e.from.mailbox);
		if (sort_wants(x, IMAP_SORT_TO))
			r->str[IMAP_SORT_STR_TO] = pool_str(x, e.to.mailbox);
		if (sort_wants(x, IMAP_SORT_CC))
			r->str[IMAP_SORT_STR_CC] = pool_str(x, e.cc.mailbox);
		if (sort_wants(x, IMAP_SORT_DISPLAYFROM))
			r->str[IMAP_SORT_STR_DISPLAYFROM] = pool_display(x,
			    &e.from);
		if (sort_wants(x, IMAP_SORT_DISPLAYTO))
			r->str[IMAP_SORT_STR_DISPLAYTO] = pool_display(x,
			    &e.to);
	}
}

/* ---- the answer ---- */

static uint32_t
view_num(struct imap_session *s, uint32_t idx)
{
	const struct posta_msg *msgs;

	posta_mailbox_messages(s->box, &msgs);
	return s->cmd.uid ? msgs[idx].uid : idx + 1;
}

/* THREAD numbers messages by their place among the hits */
static uint32_t
thread_num(void *ctx, uint32_t k)
{
	struct imap_session *s = ctx;
	struct sort_ctx *x = s->cmd.ctx;

	return view_num(s, x->hits[k]);
}

static void
write_esort(struct imap_session *s, struct sort_ctx *x)
{
	unsigned opts = x->args->search->return_opts;

	imap_puts(s, "* ESEARCH (TAG ");
	imap_write_string(s, s->cmd.tag, strlen(s->cmd.tag));
	imap_puts(s, ")");
	if (s->cmd.uid)
		imap_puts(s, " UID");
	/* RFC 5267 3.2: MIN and MAX are the first and last in sort order */
	if (x->n > 0 && (opts & IMAP_SEARCH_RETURN_MIN))
		imap_printf(s, " MIN %u", view_num(s, x->recs[0].idx));
	if (x->n > 0 && (opts & IMAP_SEARCH_RETURN_MAX))
		imap_printf(s, " MAX %u", view_num(s, x->recs[x->n - 1].idx));
	if (opts & IMAP_SEARCH_RETURN_COUNT)
		imap_printf(s, " COUNT %zu", x->n);
	if (!(opts & IMAP_SEARCH_RETURN_ALL) || x->n == 0)
		x->out_pos = x->n;
	else
		imap_puts(s, " ALL ");
}

/*
 * The numbers of the sorted records.  In ESORT's ALL only ascending runs
 * become ranges (a:b with a < b), which read the same in any order.
 */
static size_t
sort_chunk(struct imap_session *s, struct sort_ctx *x, char *buf,
    size_t size)
{
	bool esort = x->args->search->has_return;
	size_t n = 0;

	while (x->out_pos < x->n && size - n >= 32) {
		uint32_t v = view_num(s, x->recs[x->out_pos].idx), hi = v;

		if (esort) {
			while (x->out_pos + 1 < x->n && hi < UINT32_MAX &&
			    view_num(s, x->recs[x->out_pos + 1].idx) ==
			    hi + 1) {
				hi++;
				x->out_pos++;
			}
			n += (size_t)snprintf(buf + n, size - n, "%s%u",
			    x->out_started ? "," : "", v);
			if (hi > v)
				n += (size_t)snprintf(buf + n, size - n,
				    ":%u", hi);
		} else {
			n += (size_t)snprintf(buf + n, size - n, " %u", v);
		}
		x->out_started = true;
		x->out_pos++;
	}
	return n;
}

static void
write_more(struct imap_session *s)
{
	struct sort_ctx *x = s->cmd.ctx;
	char buf[8192];
	size_t n;

	while (s->conn != NULL) {
		if (imap_write_pending(s) > OUT_HIGH) {
			s->cmd.drain = write_more;
			return;
		}
		if (x->thread)
			n = imap_thread_write(x->thr, buf, sizeof(buf),
			    thread_num, s);
		else
			n = sort_chunk(s, x, buf, sizeof(buf));
		if (n == 0)
			break;
		imap_write(s, buf, n);
	}
	if (s->conn == NULL)
		return;
	imap_puts(s, "\r\n");
	imap_cmd_done(s, x->thread ? "OK Thread completed." :
	    "OK Sort completed.");
}

static void
finish(struct imap_session *s, struct sort_ctx *x)
{
	int r;

	if (x->pool_full) {
		imap_cmd_done(s, "NO [LIMIT] Too much to sort, narrow the "
		    "search down.");
		return;
	}
	if (x->thread) {
		r = imap_thread_build(x->args->alg, x->tmsgs, x->n, x->refs,
		    x->n_refs, x->pool, &x->thr);
		if (r < 0) {
			imap_cmd_done(s, "NO [SERVERBUG] Out of memory.");
			return;
		}
		imap_puts(s, x->n > 0 ? "* THREAD " : "* THREAD");
	} else {
		struct imap_sort_crit crit[IMAP_SORT_MAX_CRIT];
		size_t i;

		for (i = 0; i < x->args->n_crit; i++) {
			crit[i].type = x->args->crit[i].type;
			crit[i].reverse = x->args->crit[i].reverse;
		}
		if (imap_sort_recs(x->recs, x->n, crit, x->args->n_crit,
		    x->pool) < 0) {
			imap_cmd_done(s, "NO [SERVERBUG] Out of memory.");
			return;
		}
		if (x->args->search->has_return)
			write_esort(s, x);
		else
			imap_puts(s, "* SORT");
	}
	write_more(s);
}

/* ---- References (THREAD=REFERENCES) ---- */

struct refs_field {
	struct sort_ctx *x;
	size_t k;
	bool seen;
};

static int
refs_field_cb(void *ctx, const char *name, size_t name_len,
    const char *value, size_t value_len)
{
	struct refs_field *f = ctx;
	struct sort_ctx *x = f->x;
	const char *p = value, *end = value + value_len, *id;
	size_t len, first = x->n_refs;

	if (f->seen || name_len != 10 || !util_memcaseeq(name,
	    "References", 10))
		return 0;
	f->seen = true;
	while (imap_msgid_next(&p, end, &id, &len)) {
		uint32_t off;

		if (len > KEY_MAX)
			continue;
		if (x->n_refs - first == MAX_REFS) {
			/* keep the last ones: the parent is the last */
			memmove(x->refs + first, x->refs + first + 1,
			    (MAX_REFS - 1) * sizeof(*x->refs));
			x->n_refs--;
		}
		if (x->n_refs == x->cap_refs) {
			size_t cap = x->cap_refs * 2 + 64;
			uint32_t *nr;

			if (cap > POOL_MAX / sizeof(*nr) ||
			    (nr = realloc(x->refs, cap * sizeof(*nr))) ==
			    NULL) {
				x->pool_full = true;
				return 1;
			}
			x->refs = nr;
			x->cap_refs = cap;
		}
		off = pool_add(x, id, len, false);
		if (off == 0)
			return 1;
		x->refs[x->n_refs++] = off;
	}
	return 0;
}

/* Message k's References from its header bytes, or its In-Reply-To. */
static void
take_refs(struct sort_ctx *x, size_t k, const uint8_t *hdr, size_t len)
{
	struct refs_field f = { x, k, false };
	struct imap_thread_msg *t = &x->tmsgs[k];

	t->refs_first = (uint32_t)x->n_refs;
	if (hdr != NULL)
		imap_header_fields(hdr, len, refs_field_cb, &f);
	if (x->n_refs == t->refs_first && x->irt[k] != IMAP_THREAD_NONE &&
	    !x->pool_full) {
		if (x->n_refs == x->cap_refs) {
			size_t cap = x->cap_refs * 2 + 64;
			uint32_t *nr = realloc(x->refs, cap * sizeof(*nr));

			if (nr == NULL) {
				x->pool_full = true;
				return;
			}
			x->refs = nr;
			x->cap_refs = cap;
		}
		x->refs[x->n_refs++] = x->irt[k];
	}
	t->n_refs = (uint32_t)(x->n_refs - t->refs_first);
}

static void
refs_read_cb(void *ctx, int err, const uint8_t *data, size_t len)
{
	struct imap_session *s = ctx;
	struct sort_ctx *x;

	if (imap_cb_enter(s))
		return;
	x = s->cmd.ctx;
	/* data belongs to the reader: use it before closing */
	take_refs(x, x->pos, err < 0 ? NULL : data, err < 0 ? 0 : len);
	posta_msg_close(&x->reader);
	x->pos++;
	refs_next(s);
	imap_cb_leave(s);
}

static void
refs_open_cb(void *ctx, int err, struct posta_msg_reader *reader,
    uint64_t size)
{
	struct imap_session *s = ctx;
	struct sort_ctx *x;
	size_t want;

	if (imap_cb_enter(s)) {
		posta_msg_close(&reader);
		return;
	}
	x = s->cmd.ctx;
	if (err < 0) {
		/* expunged meanwhile: threaded on what the envelope said */
		take_refs(x, x->pos, NULL, 0);
		x->pos++;
		refs_next(s);
		imap_cb_leave(s);
		return;
	}
	x->reader = reader;
	want = REFS_READ_MAX;
	if (x->hsize[x->pos] > 0 && x->hsize[x->pos] < want)
		want = (size_t)x->hsize[x->pos];
	if (want > size)
		want = (size_t)size;
	if (want == 0 || posta_msg_read(reader, 0, want, refs_read_cb,
	    s) < 0) {
		posta_msg_close(&x->reader);
		take_refs(x, x->pos, NULL, 0);
		x->pos++;
		refs_next(s);
	} else {
		imap_ref(s);
	}
	imap_cb_leave(s);
}

static void
refs_next(struct imap_session *s)
{
	struct sort_ctx *x = s->cmd.ctx;
	const struct posta_msg *msgs;

	posta_mailbox_messages(s->box, &msgs);
	while (x->pos < x->n && s->conn != NULL && !x->pool_full) {
		if (posta_msg_open(s->box, msgs[x->hits[x->pos]].uid,
		    refs_open_cb, s) == 0) {
			imap_ref(s);
			return;
		}
		take_refs(x, x->pos, NULL, 0);
		x->pos++;
	}
	if (s->conn != NULL)
		finish(s, x);
}

/* ---- envelopes ---- */

static void
meta_cb(void *ctx, int err, const struct posta_msg_meta *metas, size_t n)
{
	struct imap_session *s = ctx;
	struct sort_ctx *x;
	size_t i;

	if (imap_cb_enter(s))
		return;
	x = s->cmd.ctx;
	if (err < 0) {
		imap_cmd_store_error(s, err, x->thread ? "thread" : "sort");
		imap_cb_leave(s);
		return;
	}
	for (i = 0; i < n && x->pos < x->n; i++, x->pos++) {
		bool ok = metas[i].err == 0;

		take_envelope(s, x, x->pos, ok ? metas[i].envelope : NULL);
		if (x->hsize != NULL)
			x->hsize[x->pos] = ok ? metas[i].header_size : 0;
	}
	collect_next(s);
	imap_cb_leave(s);
}

static void
collect_next(struct imap_session *s)
{
	struct sort_ctx *x = s->cmd.ctx;
	const struct posta_msg *msgs;
	uint32_t uids[POSTA_STORE_BATCH_MAX];
	size_t k;
	int r;

	if (s->conn == NULL)
		return;
	if (x->pos < x->n && !x->pool_full) {
		posta_mailbox_messages(s->box, &msgs);
		for (k = 0; k < POSTA_STORE_BATCH_MAX && x->pos + k < x->n;
		    k++)
			uids[k] = msgs[x->hits[x->pos + k]].uid;
		r = posta_mailbox_fetch_meta(s->box, uids, k,
		    POSTA_META_ENVELOPE, meta_cb, s);
		if (r < 0) {
			imap_cmd_store_error(s, r, x->thread ? "thread" :
			    "sort");
			return;
		}
		imap_ref(s);
		return;
	}
	if (x->thread && x->args->alg == IMAP_THREAD_REFERENCES &&
	    !x->pool_full) {
		x->pos = 0;
		refs_next(s);
		return;
	}
	finish(s, x);
}

static bool
needs_envelope(const struct sort_ctx *x)
{
	size_t i;

	if (x->thread)
		return true;
	for (i = 0; i < x->args->n_crit; i++)
		if (x->args->crit[i].type != IMAP_SORT_ARRIVAL &&
		    x->args->crit[i].type != IMAP_SORT_SIZE)
			return true;
	return false;
}

/* The search is done: set up the key arrays and collect. */
static void
searched(struct imap_session *s, void *ctx, const uint32_t *hits, size_t n)
{
	struct sort_ctx *x = ctx;
	const struct posta_msg *msgs;
	size_t k;

	x->hits = hits;
	x->n = n;
	x->pos = 0;
	x->pool_cap = 4096;
	x->pool = malloc(x->pool_cap);
	x->tmp = arena_new(4096, 0);
	if (x->pool == NULL || x->tmp == NULL)
		goto nomem;
	x->pool[0] = '\0';
	x->pool_len = 1;
	if (n > 0 && x->thread) {
		x->tmsgs = calloc(n, sizeof(*x->tmsgs));
		x->irt = malloc(n * sizeof(*x->irt));
		if (x->tmsgs == NULL || x->irt == NULL)
			goto nomem;
		if (x->args->alg == IMAP_THREAD_REFERENCES) {
			x->hsize = calloc(n, sizeof(*x->hsize));
			if (x->hsize == NULL)
				goto nomem;
		}
	} else if (n > 0) {
		x->recs = calloc(n, sizeof(*x->recs));
		if (x->recs == NULL)
			goto nomem;
		posta_mailbox_messages(s->box, &msgs);
		for (k = 0; k < n; k++) {
			const struct posta_msg *m = &msgs[hits[k]];

			x->recs[k].idx = hits[k];
			x->recs[k].size = m->size;
			x->recs[k].arrival = m->internal_date;
			x->recs[k].date = m->internal_date;
		}
		if (!needs_envelope(x))
			x->pos = n;
	}
	collect_next(s);
	return;
nomem:
	imap_cmd_done(s, "NO [SERVERBUG] Out of memory.");
}

static void
sort_or_thread(struct imap_session *s, struct imap_cmd *c, bool thread)
{
	struct sort_ctx *x = arena_zalloc(s->cmd_arena, sizeof(*x));
	const char *error = "Invalid arguments.";
	int r;

	if (x == NULL || arena_on_free(s->cmd_arena, sort_cleanup, x) < 0) {
		imap_cmd_done(s, "NO [SERVERBUG] Out of memory.");
		return;
	}
	x->thread = thread;
	r = imap_sort_parse(s->cmd_arena, c->args, thread, &x->args, &error);
	if (r == -ENOTSUP) {
		imap_cmd_done(s, "NO [BADCHARSET (UTF-8 US-ASCII)] "
		    "Unsupported charset.");
		return;
	}
	if (r == -ENOMEM) {
		imap_cmd_done(s, "NO [SERVERBUG] Out of memory.");
		return;
	}
	if (r < 0) {
		imap_cmd_bad(s, error);
		return;
	}
	if (x->args->search->return_opts & IMAP_SEARCH_RETURN_SAVE) {
		imap_cmd_bad(s, "SEARCHRES (SAVE) is not supported.");
		return;
	}
	c->ctx = x;
	imap_cmd_wait(s);
	if (imap_search_run(s, x->args->search, searched, x) < 0)
		imap_cmd_done(s, "NO [SERVERBUG] Out of memory.");
}

void
imap_cmd_sort(struct imap_session *s, struct imap_cmd *c)
{
	sort_or_thread(s, c, false);
}

void
imap_cmd_thread(struct imap_session *s, struct imap_cmd *c)
{
	sort_or_thread(s, c, true);
}
