/* imap_search.c: SEARCH and UID SEARCH with ESEARCH and CONDSTORE MODSEQ */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap.h"
#include "imap_search_match.h"
#include "imap_search_parse.h"
#include "util.h"

/*
 * Each message is first judged on what the view knows (flags, sizes,
 * dates, numbers), with the keys that need its text counting as "maybe".
 * Only a message still undecided is read: its header for header keys,
 * the whole message for BODY and TEXT, streamed in ranges, never held
 * whole.  For BODY and TEXT the raw bytes are searched, and also the text
 * parts decoded (base64, quoted-printable, Latin-1 to UTF-8) and the
 * header's encoded words, so a word is found however the sender's
 * program wrote it; the part table comes from posta_mailbox_fetch_meta().
 */

#define HEADER_MAX	(256u * 1024)
#define PART_HEADER_MAX	(16u * 1024)

enum tri {
	T_NO = 0,
	T_YES = 1,
	T_MAYBE = 2,
};

struct content_key {
	const struct imap_search_key *key;
	struct imap_substr sub;		/* BODY, TEXT: the raw bytes */
	struct imap_substr dsub;	/* ... and the decoded text */
	const char *field;		/* header keys: the field name */
	const char *value;		/* decoded value searched for */
	size_t value_len;
	bool result;
	bool date_seen;			/* SENT*: the first Date: only */
};

struct search_ctx {
	struct imap_search *search;
	imap_search_done_fn *done;	/* SORT, THREAD: who gets the hits */
	void *done_ctx;
	size_t n_msgs, pos;
	uint32_t *hits;
	size_t n_hits;
	uint64_t max_modseq;

	struct content_key *ckeys;
	size_t n_ckeys;
	bool need_body;			/* BODY or TEXT keys */

	struct posta_msg_reader *reader;
	uint64_t off, size, total_read;
	bool header_done;
	unsigned eoh;			/* bytes of CRLF CRLF matched */
	uint8_t *hbuf;
	size_t hlen;
	struct arena *msg_arena;	/* decoded header values */

	/* decoding: the leaf parts of the message being read */
	struct posta_mime_part *parts;
	size_t n_parts, cap_parts, leaf;
	uint8_t *phdr;			/* the current leaf's MIME header */
	size_t phdr_len;
	bool dec_started, decoding;
	struct imap_body_decoder dec;
	uint8_t *dbuf;			/* decoder output */
	bool has_text;			/* TEXT keys: decode header words */
};

static void search_next(struct imap_session *s);

static void
search_cleanup(void *ctx)
{
	struct search_ctx *x = ctx;

	posta_msg_close(&x->reader);
	free(x->hbuf);
	x->hbuf = NULL;
	free(x->parts);
	x->parts = NULL;
	free(x->phdr);
	x->phdr = NULL;
	free(x->dbuf);
	x->dbuf = NULL;
	arena_free(&x->msg_arena);
}

static bool
is_content(enum imap_search_type t)
{
	switch (t) {
	case IMAP_SEARCH_BCC:
	case IMAP_SEARCH_BODY:
	case IMAP_SEARCH_CC:
	case IMAP_SEARCH_FROM:
	case IMAP_SEARCH_SUBJECT:
	case IMAP_SEARCH_TEXT:
	case IMAP_SEARCH_TO:
	case IMAP_SEARCH_HEADER:
	case IMAP_SEARCH_SENTBEFORE:
	case IMAP_SEARCH_SENTON:
	case IMAP_SEARCH_SENTSINCE:
		return true;
	default:
		return false;
	}
}

static struct content_key *
ckey_of(struct search_ctx *x, const struct imap_search_key *k)
{
	size_t i;

	for (i = 0; i < x->n_ckeys; i++)
		if (x->ckeys[i].key == k)
			return &x->ckeys[i];
	return NULL;
}

static bool
has_keyword(struct imap_session *s, const struct posta_msg *m,
    const char *kw)
{
	const char *const *names = NULL;
	size_t n = posta_mailbox_keywords(s->box, &names), i;

	for (i = 0; i < n && i < 64; i++)
		if (util_strcaseeq(names[i], kw))
			return (m->keywords & (UINT64_C(1) << i)) != 0;
	return false;
}

static int64_t
key_days(const struct imap_search_key *k)
{
	return imap_days_from_civil(k->u.date.year, k->u.date.month,
	    k->u.date.day);
}

static int64_t
floor_days(int64_t t)
{
	return t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
}

static enum tri
eval(struct imap_session *s, struct search_ctx *x,
    const struct imap_search_key *k, size_t i, bool content)
{
	const struct posta_msg *msgs;
	const struct posta_msg *m;
	enum tri r, sub;
	const struct imap_search_key *c;

	posta_mailbox_messages(s->box, &msgs);
	m = &msgs[i];
	switch (k->type) {
	case IMAP_SEARCH_AND:
		r = T_YES;
		for (c = k->u.sub; c != NULL; c = c->next) {
			sub = eval(s, x, c, i, content);
			if (sub == T_NO)
				return T_NO;
			if (sub == T_MAYBE)
				r = T_MAYBE;
		}
		return r;
	case IMAP_SEARCH_OR:
		r = eval(s, x, k->u.sub, i, content);
		if (r == T_YES)
			return T_YES;
		sub = eval(s, x, k->u.sub->next, i, content);
		if (sub == T_YES)
			return T_YES;
		return r == T_NO && sub == T_NO ? T_NO : T_MAYBE;
	case IMAP_SEARCH_NOT:
		r = eval(s, x, k->u.sub, i, content);
		return r == T_MAYBE ? T_MAYBE : r == T_YES ? T_NO : T_YES;
	case IMAP_SEARCH_ALL:
		return T_YES;
	case IMAP_SEARCH_SEQSET:
		return imap_seqset_contains(&k->u.set, (uint32_t)i + 1);
	case IMAP_SEARCH_UID:
		return imap_seqset_contains(&k->u.set, m->uid);
	case IMAP_SEARCH_ANSWERED:
		return (m->flags & POSTA_FLAG_ANSWERED) != 0;
	case IMAP_SEARCH_DELETED:
		return (m->flags & POSTA_FLAG_DELETED) != 0;
	case IMAP_SEARCH_DRAFT:
		return (m->flags & POSTA_FLAG_DRAFT) != 0;
	case IMAP_SEARCH_FLAGGED:
		return (m->flags & POSTA_FLAG_FLAGGED) != 0;
	case IMAP_SEARCH_NEW:
		return (m->flags & POSTA_FLAG_RECENT) &&
		    !(m->flags & POSTA_FLAG_SEEN);
	case IMAP_SEARCH_OLD:
		return !(m->flags & POSTA_FLAG_RECENT);
	case IMAP_SEARCH_RECENT:
		return (m->flags & POSTA_FLAG_RECENT) != 0;
	case IMAP_SEARCH_SEEN:
		return (m->flags & POSTA_FLAG_SEEN) != 0;
	case IMAP_SEARCH_UNANSWERED:
		return !(m->flags & POSTA_FLAG_ANSWERED);
	case IMAP_SEARCH_UNDELETED:
		return !(m->flags & POSTA_FLAG_DELETED);
	case IMAP_SEARCH_UNDRAFT:
		return !(m->flags & POSTA_FLAG_DRAFT);
	case IMAP_SEARCH_UNFLAGGED:
		return !(m->flags & POSTA_FLAG_FLAGGED);
	case IMAP_SEARCH_UNSEEN:
		return !(m->flags & POSTA_FLAG_SEEN);
	case IMAP_SEARCH_KEYWORD:
		return has_keyword(s, m, k->u.str.value);
	case IMAP_SEARCH_UNKEYWORD:
		return !has_keyword(s, m, k->u.str.value);
	case IMAP_SEARCH_BEFORE:
		return floor_days(m->internal_date) < key_days(k);
	case IMAP_SEARCH_ON:
		return floor_days(m->internal_date) == key_days(k);
	case IMAP_SEARCH_SINCE:
		return floor_days(m->internal_date) >= key_days(k);
	case IMAP_SEARCH_LARGER:
		return m->size > k->u.size;
	case IMAP_SEARCH_SMALLER:
		return m->size < k->u.size;
	case IMAP_SEARCH_MODSEQ:
		return m->modseq >= k->u.modseq.value;
	default:
		if (!content)
			return T_MAYBE;
		{
			const struct content_key *ck = ckey_of(x, k);

			return ck != NULL && ck->result;
		}
	}
}

/* ---- reading a message ---- */

struct field_ctx {
	struct imap_session *s;
	struct search_ctx *x;
};

static const char *
field_of(enum imap_search_type t)
{
	switch (t) {
	case IMAP_SEARCH_BCC: return "Bcc";
	case IMAP_SEARCH_CC: return "Cc";
	case IMAP_SEARCH_FROM: return "From";
	case IMAP_SEARCH_SUBJECT: return "Subject";
	case IMAP_SEARCH_TO: return "To";
	case IMAP_SEARCH_SENTBEFORE:
	case IMAP_SEARCH_SENTON:
	case IMAP_SEARCH_SENTSINCE: return "Date";
	default: return NULL;
	}
}

static int
field_cb(void *ctx, const char *name, size_t name_len, const char *value,
    size_t value_len)
{
	struct field_ctx *f = ctx;
	struct search_ctx *x = f->x;
	char *decoded = NULL;
	size_t i;

	if (x->has_text) {
		decoded = imap_decode_words(x->msg_arena, value, value_len);
		if (decoded == NULL)
			return -ENOMEM;
		for (i = 0; i < x->n_ckeys; i++) {
			struct content_key *ck = &x->ckeys[i];

			if (ck->key->type != IMAP_SEARCH_TEXT)
				continue;
			imap_substr_feed(&ck->dsub, (const uint8_t *)name,
			    name_len);
			imap_substr_feed(&ck->dsub, (const uint8_t *)": ", 2);
			imap_substr_feed(&ck->dsub, (const uint8_t *)decoded,
			    strlen(decoded));
			imap_substr_feed(&ck->dsub, (const uint8_t *)"\n", 1);
		}
	}

	for (i = 0; i < x->n_ckeys; i++) {
		struct content_key *ck = &x->ckeys[i];
		const struct imap_search_key *k = ck->key;

		if (ck->field == NULL || ck->result ||
		    strlen(ck->field) != name_len ||
		    !util_memcaseeq(ck->field, name, name_len))
			continue;
		if (k->type == IMAP_SEARCH_SENTBEFORE ||
		    k->type == IMAP_SEARCH_SENTON ||
		    k->type == IMAP_SEARCH_SENTSINCE) {
			int64_t d, want = key_days(k);

			if (ck->date_seen)
				continue;
			ck->date_seen = true;
			if (imap_rfc5322_date(value, &d) < 0)
				continue;
			ck->result = k->type == IMAP_SEARCH_SENTBEFORE ?
			    d < want : k->type == IMAP_SEARCH_SENTON ?
			    d == want : d >= want;
			continue;
		}
		if (decoded == NULL) {
			decoded = imap_decode_words(x->msg_arena, value,
			    value_len);
			if (decoded == NULL)
				return -ENOMEM;
		}
		ck->result = imap_contains_nocase(decoded, strlen(decoded),
		    ck->value, ck->value_len);
	}
	return 0;
}

static void
header_keys(struct imap_session *s, struct search_ctx *x)
{
	struct field_ctx f = { s, x };

	arena_reset(x->msg_arena);
	imap_header_fields(x->hbuf, x->hlen, field_cb, &f);
}

static bool
all_found(const struct search_ctx *x)
{
	size_t i;

	for (i = 0; i < x->n_ckeys; i++)
		if (x->ckeys[i].field == NULL && !x->ckeys[i].result &&
		    !x->ckeys[i].sub.found && !x->ckeys[i].dsub.found)
			return false;
	return true;
}

static void
feed_decoded(struct search_ctx *x, const uint8_t *data, size_t len)
{
	size_t i;

	for (i = 0; i < x->n_ckeys; i++)
		if (x->ckeys[i].field == NULL)
			imap_substr_feed(&x->ckeys[i].dsub, data, len);
}

/*
 * The bytes [base, base + len) of the message: collects each leaf part's
 * MIME header and decodes its body when it is encoded text.
 */
static void
decode_chunk(struct search_ctx *x, uint64_t base, const uint8_t *data,
    size_t len)
{
	uint64_t end = base + len;

	while (x->leaf < x->n_parts) {
		const struct posta_mime_part *p = &x->parts[x->leaf];
		uint64_t hs = p->header_off, he = hs + p->header_len;
		uint64_t bs = p->body_off, be = bs + p->body_len;
		uint64_t lo, hi;

		lo = hs > base ? hs : base;
		hi = he < end ? he : end;
		if (lo < hi && x->phdr_len < PART_HEADER_MAX) {
			size_t n = (size_t)(hi - lo);

			if (n > PART_HEADER_MAX - x->phdr_len)
				n = PART_HEADER_MAX - x->phdr_len;
			memcpy(x->phdr + x->phdr_len, data + (lo - base), n);
			x->phdr_len += n;
		}
		lo = bs > base ? bs : base;
		hi = be < end ? be : end;
		if (lo < hi || (be <= end && bs >= base)) {
			if (!x->dec_started) {
				struct imap_mime_info info;

				imap_mime_info(x->phdr, x->phdr_len, &info);
				x->decoding = info.is_text &&
				    (info.cte != IMAP_CTE_IDENTITY ||
				    info.latin1);
				imap_body_decoder_init(&x->dec, &info);
				x->dec_started = true;
			}
			if (x->decoding && lo < hi)
				feed_decoded(x, x->dbuf, imap_body_decode(
				    &x->dec, data + (lo - base),
				    (size_t)(hi - lo), x->dbuf));
		}
		if (be > end)
			break;
		x->leaf++;
		x->phdr_len = 0;
		x->dec_started = x->decoding = false;
	}
}

static void
feed_text(struct search_ctx *x, const uint8_t *data, size_t len, bool body)
{
	size_t i;

	for (i = 0; i < x->n_ckeys; i++) {
		struct content_key *ck = &x->ckeys[i];

		if (ck->field != NULL)
			continue;
		if (ck->key->type == IMAP_SEARCH_TEXT || body)
			imap_substr_feed(&ck->sub, data, len);
	}
}

/* Takes one chunk; returns true when nothing more needs reading. */
static bool
take_chunk(struct imap_session *s, struct search_ctx *x, const uint8_t *data,
    size_t len)
{
	size_t j = 0;

	if (!x->header_done) {
		static const uint8_t eoh[] = "\r\n\r\n";

		for (j = 0; j < len && !x->header_done; j++) {
			uint8_t b = data[j];

			if (x->hlen < HEADER_MAX)
				x->hbuf[x->hlen++] = b;
			if (b == eoh[x->eoh])
				x->eoh++;
			else
				x->eoh = b == '\r' ? 1 : 0;
			if (x->eoh == 4)
				x->header_done = true;
		}
		feed_text(x, data, j, false);
		if (x->header_done)
			header_keys(s, x);
	}
	if (j < len)
		feed_text(x, data + j, len - j, true);
	if (x->n_parts > 0)
		decode_chunk(x, x->off - len, data, len);
	return x->header_done && (!x->need_body || all_found(x));
}

static void
message_done(struct imap_session *s, struct search_ctx *x)
{
	const struct posta_msg *msgs;
	size_t i;

	posta_msg_close(&x->reader);
	for (i = 0; i < x->n_ckeys; i++)
		if (x->ckeys[i].field == NULL)
			x->ckeys[i].result = x->ckeys[i].sub.found ||
			    x->ckeys[i].dsub.found;
	posta_mailbox_messages(s->box, &msgs);
	if (eval(s, x, x->search->root, x->pos, true) == T_YES) {
		x->hits[x->n_hits++] = (uint32_t)x->pos;
		if (msgs[x->pos].modseq > x->max_modseq)
			x->max_modseq = msgs[x->pos].modseq;
	}
	x->pos++;
	search_next(s);
}

static void read_cb(void *ctx, int err, const uint8_t *data, size_t len);
static void open_cb(void *ctx, int err, struct posta_msg_reader *reader,
    uint64_t size);

static void
read_more(struct imap_session *s, struct search_ctx *x)
{
	uint64_t left = x->size - x->off;
	size_t n = left > POSTA_STORE_READ_MAX ? POSTA_STORE_READ_MAX :
	    (size_t)left;

	if (n == 0 || posta_msg_read(x->reader, x->off, n, read_cb, s) < 0) {
		if (!x->header_done) {
			x->header_done = true;
			header_keys(s, x);
		}
		message_done(s, x);
		return;
	}
	imap_ref(s);
}

static void
read_cb(void *ctx, int err, const uint8_t *data, size_t len)
{
	struct imap_session *s = ctx;
	struct search_ctx *x;

	if (imap_cb_enter(s))
		return;
	x = s->cmd.ctx;
	if (err < 0 || len == 0) {
		if (!x->header_done) {
			x->header_done = true;
			header_keys(s, x);
		}
		message_done(s, x);
		imap_cb_leave(s);
		return;
	}
	x->off += len;
	x->total_read += len;
	if (take_chunk(s, x, data, len) || x->off >= x->size) {
		if (!x->header_done) {
			x->header_done = true;
			header_keys(s, x);
		}
		message_done(s, x);
	} else {
		read_more(s, x);
	}
	imap_cb_leave(s);
}

static void
open_cb(void *ctx, int err, struct posta_msg_reader *reader, uint64_t size)
{
	struct imap_session *s = ctx;
	struct search_ctx *x;
	size_t i;

	if (imap_cb_enter(s)) {
		posta_msg_close(&reader);
		return;
	}
	x = s->cmd.ctx;
	if (err < 0) {
		/* expunged meanwhile: it no longer matches anything */
		x->pos++;
		search_next(s);
		imap_cb_leave(s);
		return;
	}
	x->reader = reader;
	x->size = size;
	x->off = 0;
	x->header_done = false;
	x->eoh = 2;	/* an empty header is a lone CRLF */
	x->hlen = 0;
	for (i = 0; i < x->n_ckeys; i++) {
		x->ckeys[i].result = false;
		x->ckeys[i].date_seen = false;
		imap_substr_reset(&x->ckeys[i].sub);
		imap_substr_reset(&x->ckeys[i].dsub);
	}
	x->leaf = 0;
	x->phdr_len = 0;
	x->dec_started = x->decoding = false;
	read_more(s, x);
	imap_cb_leave(s);
}

static void
parts_cb(void *ctx, int err, const struct posta_msg_meta *metas, size_t n)
{
	struct imap_session *s = ctx;
	struct search_ctx *x;
	const struct posta_msg *msgs;
	size_t i;

	if (imap_cb_enter(s))
		return;
	x = s->cmd.ctx;
	x->n_parts = 0;
	if (err == 0 && n == 1 && metas[0].err == 0) {
		const struct posta_msg_meta *m = &metas[0];

		if (m->n_parts > x->cap_parts) {
			struct posta_mime_part *np = realloc(x->parts,
			    m->n_parts * sizeof(*np));

			if (np != NULL) {
				x->parts = np;
				x->cap_parts = m->n_parts;
			}
		}
		for (i = 0; i < m->n_parts && i < x->cap_parts; i++) {
			const struct posta_mime_part *p = &m->parts[i];

			/* leaves only; section pointers are not kept */
			if (p->flags & (POSTA_PART_MULTIPART |
			    POSTA_PART_MESSAGE) || p->section[0] == '\0')
				continue;
			x->parts[x->n_parts] = *p;
			x->parts[x->n_parts++].section = NULL;
		}
	}
	posta_mailbox_messages(s->box, &msgs);
	if (posta_msg_open(s->box, msgs[x->pos].uid, open_cb, s) == 0) {
		imap_ref(s);
	} else {
		x->pos++;
		search_next(s);
	}
	imap_cb_leave(s);
}

/* ---- the answer ---- */

static void
write_numbers(struct imap_session *s, struct search_ctx *x)
{
	const struct posta_msg *msgs;
	char buf[4096];
	size_t n = 0, i;

	posta_mailbox_messages(s->box, &msgs);
	for (i = 0; i < x->n_hits; i++) {
		if (n > sizeof(buf) - 16) {
			imap_write(s, buf, n);
			n = 0;
		}
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, " %u",
		    s->cmd.uid ? msgs[x->hits[i]].uid : x->hits[i] + 1);
	}
	imap_write(s, buf, n);
}

static void
write_esearch(struct imap_session *s, struct search_ctx *x)
{
	const struct posta_msg *msgs;
	unsigned opts = x->search->return_opts;
	uint32_t first, last;

	if (opts == 0)
		opts = IMAP_SEARCH_RETURN_ALL;
	posta_mailbox_messages(s->box, &msgs);
	imap_puts(s, "* ESEARCH (TAG ");
	imap_write_string(s, s->cmd.tag, strlen(s->cmd.tag));
	imap_puts(s, ")");
	if (s->cmd.uid)
		imap_puts(s, " UID");
	if (x->n_hits > 0) {
		first = s->cmd.uid ? msgs[x->hits[0]].uid : x->hits[0] + 1;
		last = s->cmd.uid ? msgs[x->hits[x->n_hits - 1]].uid :
		    x->hits[x->n_hits - 1] + 1;
		if (opts & IMAP_SEARCH_RETURN_MIN)
			imap_printf(s, " MIN %u", first);
		if (opts & IMAP_SEARCH_RETURN_MAX)
			imap_printf(s, " MAX %u", last);
	}
	if (opts & IMAP_SEARCH_RETURN_COUNT)
		imap_printf(s, " COUNT %zu", x->n_hits);
	if ((opts & IMAP_SEARCH_RETURN_ALL) && x->n_hits > 0) {
		size_t i = 0;
		bool firstr = true;

		imap_puts(s, " ALL ");
		/* hits ascend in both numberings: write runs */
		while (i < x->n_hits) {
			uint32_t lo = s->cmd.uid ? msgs[x->hits[i]].uid :
			    x->hits[i] + 1, hi = lo;

			while (i + 1 < x->n_hits) {
				uint32_t nx = s->cmd.uid ?
				    msgs[x->hits[i + 1]].uid :
				    x->hits[i + 1] + 1;

				if (nx != hi + 1)
					break;
				hi = nx;
				i++;
			}
			i++;
			if (lo == hi)
				imap_printf(s, "%s%u", firstr ? "" : ",", lo);
			else
				imap_printf(s, "%s%u:%u", firstr ? "" : ",",
				    lo, hi);
			firstr = false;
		}
	}
	if (x->search->uses_modseq && x->n_hits > 0)
		imap_printf(s, " MODSEQ %llu",
		    (unsigned long long)x->max_modseq);
	imap_puts(s, "\r\n");
}

static void
search_finish(struct imap_session *s, struct search_ctx *x)
{
	if (x->done != NULL) {
		s->cmd.ctx = x->done_ctx;
		x->done(s, x->done_ctx, x->hits, x->n_hits);
		return;
	}
	if (x->search->has_return) {
		write_esearch(s, x);
	} else {
		imap_puts(s, "* SEARCH");
		write_numbers(s, x);
		if (x->search->uses_modseq && x->n_hits > 0)
			imap_printf(s, " (MODSEQ %llu)",
			    (unsigned long long)x->max_modseq);
		imap_puts(s, "\r\n");
	}
	imap_cmd_done(s, "OK Search completed.");
}

static void
search_next(struct imap_session *s)
{
	struct search_ctx *x = s->cmd.ctx;
	const struct posta_msg *msgs;

	posta_mailbox_messages(s->box, &msgs);
	while (x->pos < x->n_msgs && s->conn != NULL) {
		enum tri r = eval(s, x, x->search->root, x->pos, false);

		if (r == T_MAYBE) {
			if (s->mod->set->max_search_read > 0 &&
			    x->total_read > s->mod->set->max_search_read) {
				imap_cmd_done(s, "NO [LIMIT] Search reads too "
				    "much mail, narrow it down.");
				return;
			}
			if (x->need_body) {
				/* the part table first, for decoding */
				if (posta_mailbox_fetch_meta(s->box,
				    &msgs[x->pos].uid, 1, POSTA_META_PARTS,
				    parts_cb, s) == 0) {
					imap_ref(s);
					return;
				}
			} else if (posta_msg_open(s->box, msgs[x->pos].uid,
			    open_cb, s) == 0) {
				imap_ref(s);
				return;
			}
			r = T_NO;
		}
		if (r == T_YES) {
			x->hits[x->n_hits++] = (uint32_t)x->pos;
			if (msgs[x->pos].modseq > x->max_modseq)
				x->max_modseq = msgs[x->pos].modseq;
		}
		x->pos++;
	}
	if (s->conn != NULL)
		search_finish(s, x);
}

/* Resolves sets against the view and collects the keys needing text. */
static int
prepare(struct imap_session *s, struct search_ctx *x,
    struct imap_search_key *k, size_t *n_content)
{
	const struct posta_msg *msgs;
	size_t n = posta_mailbox_messages(s->box, &msgs);
	struct imap_search_key *c;
	int r;

	switch (k->type) {
	case IMAP_SEARCH_AND:
	case IMAP_SEARCH_OR:
	case IMAP_SEARCH_NOT:
		for (c = k->u.sub; c != NULL; c = c->next) {
			r = prepare(s, x, c, n_content);
			if (r < 0)
				return r;
			if (k->type == IMAP_SEARCH_NOT)
				break;
		}
		return 0;
	case IMAP_SEARCH_SEQSET:
	case IMAP_SEARCH_UID:
		r = imap_seqset_resolve(s->cmd_arena, &k->u.set,
		    n == 0 ? 0 : k->type == IMAP_SEARCH_UID ?
		    msgs[n - 1].uid : (uint32_t)n, &k->u.set);
		if (r == -ERANGE) {
			k->u.set.count = 0;	/* "*" of an empty mailbox */
			return 0;
		}
		return r;
	default:
		if (!is_content(k->type))
			return 0;
		if (x->ckeys != NULL) {
			struct content_key *ck = &x->ckeys[x->n_ckeys++];

			ck->key = k;
			if (k->type == IMAP_SEARCH_BODY ||
			    k->type == IMAP_SEARCH_TEXT) {
				x->need_body = true;
				if (k->type == IMAP_SEARCH_TEXT)
					x->has_text = true;
				r = imap_substr_init(s->cmd_arena, &ck->sub,
				    k->u.str.value, k->u.str.len);
				if (r == 0)
					r = imap_substr_init(s->cmd_arena,
					    &ck->dsub, k->u.str.value,
					    k->u.str.len);
				return r;
			}
			ck->field = k->type == IMAP_SEARCH_HEADER ?
			    k->u.str.field : field_of(k->type);
			ck->value = k->u.str.value;
			ck->value_len = k->u.str.len;
		} else {
			(*n_content)++;
		}
		return 0;
	}
}

/* Counts and fills in the text keys; buffers for reading messages. */
static int
search_setup(struct imap_session *s, struct search_ctx *x)
{
	size_t n_content = 0;

	if (x->search->uses_modseq)
		s->condstore = true;
	/* twice: count the text keys, then fill them in */
	if (prepare(s, x, x->search->root, &n_content) < 0)
		return -ENOMEM;
	if (n_content > 0) {
		x->ckeys = arena_zalloc(s->cmd_arena,
		    n_content * sizeof(*x->ckeys));
		x->hbuf = malloc(HEADER_MAX);
		x->msg_arena = arena_new(4096, 0);
		if (x->ckeys == NULL || x->hbuf == NULL ||
		    x->msg_arena == NULL) {
			free(x->hbuf);
			x->hbuf = NULL;
			arena_free(&x->msg_arena);
			return -ENOMEM;
		}
		if (arena_on_free(s->cmd_arena, search_cleanup, x) < 0) {
			free(x->hbuf);
			x->hbuf = NULL;
			arena_free(&x->msg_arena);
			return -ENOMEM;
		}
		if (prepare(s, x, x->search->root, &n_content) < 0)
			return -ENOMEM;
		if (x->need_body) {
			x->phdr = malloc(PART_HEADER_MAX);
			x->dbuf = malloc(2 * POSTA_STORE_READ_MAX + 8);
			if (x->phdr == NULL || x->dbuf == NULL)
				return -ENOMEM;
		}
	}
	{
		const struct posta_msg *msgs;

		x->n_msgs = posta_mailbox_messages(s->box, &msgs);
	}
	x->hits = arena_alloc(s->cmd_arena, (x->n_msgs + 1) *
	    sizeof(*x->hits));
	if (x->hits == NULL)
		return -ENOMEM;
	return 0;
}

int
imap_search_run(struct imap_session *s, struct imap_search *search,
    imap_search_done_fn *done, void *ctx)
{
	struct search_ctx *x = arena_zalloc(s->cmd_arena, sizeof(*x));

	if (x == NULL)
		return -ENOMEM;
	x->search = search;
	x->done = done;
	x->done_ctx = ctx;
	if (search_setup(s, x) < 0)
		return -ENOMEM;
	s->cmd.ctx = x;
	search_next(s);
	return 0;
}

void
imap_cmd_search(struct imap_session *s, struct imap_cmd *c)
{
	struct search_ctx *x = arena_zalloc(s->cmd_arena, sizeof(*x));
	const char *error = "Invalid search.";
	int r;

	if (x == NULL) {
		imap_cmd_done(s, "NO [SERVERBUG] Out of memory.");
		return;
	}
	r = imap_search_parse(s->cmd_arena, c->args, &x->search, &error);
	if (r == -ENOTSUP) {
		imap_cmd_done(s, "NO [BADCHARSET (US-ASCII UTF-8)] Unsupported "
		    "charset.");
		return;
	}
	if (r < 0) {
		if (r == -ENOMEM)
			imap_cmd_done(s, "NO [SERVERBUG] Out of memory.");
		else
			imap_cmd_bad(s, error);
		return;
	}
	if (x->search->return_opts & IMAP_SEARCH_RETURN_SAVE) {
		imap_cmd_bad(s, "SEARCHRES (SAVE) is not supported.");
		return;
	}
	if (search_setup(s, x) < 0) {
		imap_cmd_done(s, "NO [SERVERBUG] Out of memory.");
		return;
	}
	c->ctx = x;
	imap_cmd_wait(s);
	search_next(s);
}
