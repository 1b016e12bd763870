/* imap_fetch.c: FETCH and UID FETCH, streamed at the pace the client reads */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap.h"
#include "util.h"

/*
 * A FETCH walks its messages in batches: the cached parse results
 * (ENVELOPE, BODYSTRUCTURE, the MIME part table) of a batch come from one
 * posta_mailbox_fetch_meta() call and are copied into a batch arena.  Body
 * sections are read from the message in ranges of POSTA_STORE_READ_MAX and
 * written as they come; whenever more than OUT_HIGH bytes wait in the
 * output queue the walk stops until the drain callback, so a client that
 * reads slowly holds little memory whatever it asked for.
 */

#define OUT_HIGH	(256u * 1024)
#define BATCH_META	POSTA_STORE_BATCH_MAX
#define BATCH_BODY	32u
/* HEADER.FIELDS looks at this much of a header at most */
#define HEADER_MAX	(1024u * 1024)

enum fetch_attr {
	FA_UID = 1u << 0,
	FA_FLAGS = 1u << 1,
	FA_INTERNALDATE = 1u << 2,
	FA_SIZE = 1u << 3,
	FA_ENVELOPE = 1u << 4,
	FA_BODY = 1u << 5,		/* non-extensible BODYSTRUCTURE */
	FA_BODYSTRUCTURE = 1u << 6,
	FA_MODSEQ = 1u << 7,
};

struct fetch_section {
	char *label;			/* "BODY[1.HEADER]", "RFC822" */
	struct imap_section sec;
	bool seen;			/* sets \Seen (not PEEK) */
	char **fields;			/* HEADER.FIELDS[.NOT] */
	unsigned int n_fields;
};

struct fetch_msg {
	uint32_t idx;			/* view index */
	uint32_t uid;
	bool set_seen;			/* this FETCH set its \Seen */
	int err;
	char *envelope, *bodystructure, *body;
	uint64_t header_size;
	struct posta_mime_part *parts;
	size_t n_parts;
};

struct fetch_ctx {
	unsigned attrs;			/* enum fetch_attr */
	struct fetch_section *secs;
	size_t n_secs;
	bool any_seen;			/* some section sets \Seen */
	uint32_t meta_fields;
	uint64_t changedsince;		/* 0: none */
	bool vanished;

	uint32_t *idx;
	size_t n_idx, pos;
	bool expunged;			/* some message was gone */

	struct arena *batch_arena;
	struct fetch_msg *batch;
	size_t batch_n, batch_pos;

	/* the message being written */
	struct posta_msg_reader *reader;
	uint64_t msg_size;
	size_t sec_i;
	uint64_t off, end;		/* range of the section being sent */
	uint8_t *hbuf;			/* HEADER.FIELDS: header read */
	size_t hlen, hcap;
	bool collecting;
	bool head_written;
};

static void fetch_walk(struct imap_session *s);
static void batch_next(struct imap_session *s);

static void
fetch_cleanup(void *ctx)
{
	struct fetch_ctx *x = ctx;

	posta_msg_close(&x->reader);
	arena_free(&x->batch_arena);
	free(x->hbuf);
	x->hbuf = NULL;
}

/* ---- parsing ---- */

static const struct {
	const char *name;
	unsigned attrs;
} simple_attrs[] = {
	{ "UID", FA_UID },
	{ "FLAGS", FA_FLAGS },
	{ "INTERNALDATE", FA_INTERNALDATE },
	{ "RFC822.SIZE", FA_SIZE },
	{ "ENVELOPE", FA_ENVELOPE },
	{ "BODY", FA_BODY },
	{ "BODYSTRUCTURE", FA_BODYSTRUCTURE },
	{ "MODSEQ", FA_MODSEQ },
	{ "ALL", FA_FLAGS | FA_INTERNALDATE | FA_SIZE | FA_ENVELOPE },
	{ "FAST", FA_FLAGS | FA_INTERNALDATE | FA_SIZE },
	{ "FULL", FA_FLAGS | FA_INTERNALDATE | FA_SIZE | FA_ENVELOPE |
	  FA_BODY },
};

static struct fetch_section *
add_section(struct imap_session *s, struct fetch_ctx *x, size_t max)
{
	struct fetch_section *sec;

	if (x->secs == NULL) {
		x->secs = arena_zalloc(s->cmd_arena, max * sizeof(*x->secs));
		if (x->secs == NULL)
			return NULL;
	}
	if (x->n_secs >= max)
		return NULL;
	sec = &x->secs[x->n_secs++];
	memset(sec, 0, sizeof(*sec));
	return sec;
}

/* "BODY[1.2.HEADER.FIELDS (FROM TO)]<5>" as the response names it. */
static char *
section_label(struct imap_session *s, const struct imap_section *sec)
{
	static const char *const texts[] = { "", "HEADER", "HEADER.FIELDS",
		"HEADER.FIELDS.NOT", "TEXT", "MIME" };
	char buf[4096];
	size_t n = 0;
	unsigned int i;
	const struct imap_arg *f;

	n += (size_t)snprintf(buf + n, sizeof(buf) - n, "BODY[");
	for (i = 0; i < sec->nparts && n < sizeof(buf); i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%u",
		    i > 0 ? "." : "", sec->parts[i]);
	if (sec->text != IMAP_SECTION_NONE && n < sizeof(buf))
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s",
		    sec->nparts > 0 ? "." : "", texts[sec->text]);
	if (sec->text == IMAP_SECTION_HEADER_FIELDS ||
	    sec->text == IMAP_SECTION_HEADER_FIELDS_NOT) {
		if (n < sizeof(buf))
			n += (size_t)snprintf(buf + n, sizeof(buf) - n, " (");
		for (f = sec->fields, i = 0; f != NULL && i < sec->nfields &&
		    n < sizeof(buf); f = f->next, i++) {
			const char *str;

			if (!imap_arg_get_astring(f, &str, NULL))
				str = "";
			n += (size_t)snprintf(buf + n, sizeof(buf) - n,
			    "%s%s", i > 0 ? " " : "", str);
		}
		if (n < sizeof(buf))
			n += (size_t)snprintf(buf + n, sizeof(buf) - n, ")");
	}
	if (n < sizeof(buf))
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "]");
	if (sec->has_partial && n < sizeof(buf))
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "<%u>",
		    sec->offset);
	if (n >= sizeof(buf))
		return NULL;
	return arena_strdup(s->cmd_arena, buf);
}

static bool
field_name_ok(const char *str)
{
	size_t i;

	if (str[0] == '\0')
		return false;
	for (i = 0; str[i] != '\0'; i++) {
		unsigned char ch = (unsigned char)str[i];

		/* RFC 5322 ftext: printable US-ASCII except ':' */
		if (ch < 33 || ch > 126 || ch == ':')
			return false;
	}
	return true;
}

static int
parse_att(struct imap_session *s, struct fetch_ctx *x,
    const struct imap_arg *a, size_t max_secs, const char **error_r)
{
	struct fetch_section *fs;
	const char *str;
	size_t i;

	if (a->type == IMAP_ARG_SECTION) {
		if (imap_section_parse(a, &(struct imap_section){ 0 },
		    error_r) < 0)
			return -EINVAL;
		fs = add_section(s, x, max_secs);
		if (fs == NULL) {
			*error_r = "Too many fetch items.";
			return -EINVAL;
		}
		imap_section_parse(a, &fs->sec, error_r);
		if (fs->sec.kind != IMAP_FETCH_BODY &&
		    fs->sec.kind != IMAP_FETCH_BODY_PEEK) {
			*error_r = "BINARY is not supported.";
			return -EINVAL;
		}
		fs->seen = fs->sec.kind == IMAP_FETCH_BODY;
		fs->label = section_label(s, &fs->sec);
		if (fs->label == NULL) {
			*error_r = "Section too long.";
			return -EINVAL;
		}
		if (fs->sec.text == IMAP_SECTION_HEADER_FIELDS ||
		    fs->sec.text == IMAP_SECTION_HEADER_FIELDS_NOT) {
			const struct imap_arg *f = fs->sec.fields;
			unsigned int k;

			fs->fields = arena_alloc(s->cmd_arena,
			    fs->sec.nfields * sizeof(char *));
			if (fs->fields == NULL) {
				*error_r = "Out of memory.";
				return -ENOMEM;
			}
			for (k = 0; k < fs->sec.nfields && f != NULL;
			    k++, f = f->next) {
				if (!imap_arg_get_astring(f, &str, NULL) ||
				    !field_name_ok(str)) {
					*error_r = "Invalid header field name.";
					return -EINVAL;
				}
				fs->fields[k] = arena_strdup(s->cmd_arena,
				    str);
				if (fs->fields[k] == NULL)
					return -ENOMEM;
				util_ascii_lower(fs->fields[k]);
			}
			fs->n_fields = k;
		}
		return 0;
	}
	if (!imap_arg_get_atom(a, &str)) {
		*error_r = "Invalid fetch item.";
		return -EINVAL;
	}
	for (i = 0; i < sizeof(simple_attrs) / sizeof(simple_attrs[0]); i++) {
		if (util_strcaseeq(str, simple_attrs[i].name)) {
			x->attrs |= simple_attrs[i].attrs;
			return 0;
		}
	}
	if (util_strcaseeq(str, "RFC822") ||
	    util_strcaseeq(str, "RFC822.HEADER") ||
	    util_strcaseeq(str, "RFC822.TEXT")) {
		fs = add_section(s, x, max_secs);
		if (fs == NULL) {
			*error_r = "Too many fetch items.";
			return -EINVAL;
		}
		fs->sec.kind = IMAP_FETCH_BODY;
		if (util_strcaseeq(str, "RFC822")) {
			fs->label = "RFC822";
			fs->seen = true;
		} else if (util_strcaseeq(str, "RFC822.HEADER")) {
			fs->label = "RFC822.HEADER";
			fs->sec.text = IMAP_SECTION_HEADER;
		} else {
			fs->label = "RFC822.TEXT";
			fs->sec.text = IMAP_SECTION_TEXT;
			fs->seen = true;
		}
		return 0;
	}
	*error_r = "Unknown fetch item.";
	return -EINVAL;
}

static bool
parse_number(const char *str, uint64_t *n_r)
{
	uint64_t n = 0;
	size_t i;

	if (str[0] == '\0' || (str[0] == '0' && str[1] != '\0'))
		return false;
	for (i = 0; str[i] != '\0'; i++) {
		if (str[i] < '0' || str[i] > '9' || n > (INT64_MAX - 9) / 10)
			return false;
		n = n * 10 + (uint64_t)(str[i] - '0');
	}
	*n_r = n;
	return true;
}

/* (CHANGEDSINCE modseq [VANISHED]) */
static int
parse_modifiers(struct imap_session *s, struct fetch_ctx *x,
    const struct imap_arg *a, bool uid, const char **error_r)
{
	const struct imap_arg *p;
	const char *str;

	*error_r = "Invalid FETCH modifiers.";
	if (!imap_arg_get_list(a, &p, NULL) || a->next != NULL)
		return -EINVAL;
	for (; p != NULL; p = p->next) {
		if (imap_arg_atom_equals(p, "CHANGEDSINCE") &&
		    p->next != NULL) {
			p = p->next;
			if (!imap_arg_get_atom(p, &str) ||
			    !parse_number(str, &x->changedsince))
				return -EINVAL;
			s->condstore = true;
			x->attrs |= FA_MODSEQ;
		} else if (imap_arg_atom_equals(p, "VANISHED")) {
			if (!uid || !s->qresync) {
				*error_r = "VANISHED needs UID FETCH and "
				    "QRESYNC.";
				return -EINVAL;
			}
			x->vanished = true;
		} else {
			return -EINVAL;
		}
	}
	if (x->vanished && x->changedsince == 0) {
		*error_r = "VANISHED needs CHANGEDSINCE.";
		return -EINVAL;
	}
	return 0;
}

/* ---- sections: ranges ---- */

static const struct posta_mime_part *
find_part(const struct fetch_msg *m, const struct imap_section *sec)
{
	char want[IMAP_SECTION_MAX_PARTS * 11 + 1];
	size_t n = 0, i;
	unsigned int k;

	for (k = 0; k < sec->nparts && n < sizeof(want); k++)
		n += (size_t)snprintf(want + n, sizeof(want) - n, "%s%u",
		    k > 0 ? "." : "", sec->parts[k]);
	if (n >= sizeof(want))
		return NULL;
	want[n] = '\0';
	for (i = 0; i < m->n_parts; i++)
		if (strcmp(m->parts[i].section, want) == 0)
			return &m->parts[i];
	return NULL;
}

/*
 * The byte range of a section; false when the message has no such part
 * (then the section is sent empty).  *is_header: the range is a header
 * (HEADER.FIELDS filters it).
 */
static bool
section_range(const struct fetch_ctx *x, const struct fetch_msg *m,
    const struct fetch_section *fs, uint64_t *off_r, uint64_t *len_r)
{
	const struct imap_section *sec = &fs->sec;
	const struct posta_mime_part *p;
	bool top = sec->nparts == 0;

	*off_r = *len_r = 0;
	if (top && sec->text == IMAP_SECTION_NONE) {
		*len_r = x->msg_size;
		return true;
	}
	if (top) {
		/* the table's first entry is the whole message */
		if (m->n_parts == 0) {
			if (sec->text == IMAP_SECTION_TEXT) {
				*off_r = m->header_size;
				*len_r = x->msg_size > m->header_size ?
				    x->msg_size - m->header_size : 0;
			} else {
				*len_r = m->header_size;
			}
			return true;
		}
		p = &m->parts[0];
		if (sec->text == IMAP_SECTION_TEXT) {
			*off_r = p->body_off;
			*len_r = p->body_len;
		} else {
			*off_r = p->header_off;
			*len_r = p->header_len;
		}
		return true;
	}
	p = find_part(m, sec);
	if (p == NULL)
		return false;
	switch (sec->text) {
	case IMAP_SECTION_NONE:
		*off_r = p->body_off;
		*len_r = p->body_len;
		return true;
	case IMAP_SECTION_MIME:
		*off_r = p->header_off;
		*len_r = p->header_len;
		return true;
	case IMAP_SECTION_TEXT:
		if (!(p->flags & POSTA_PART_MESSAGE))
			return false;
		*off_r = p->body_off + p->msg_header_len;
		*len_r = p->body_len > p->msg_header_len ?
		    p->body_len - p->msg_header_len : 0;
		return true;
	default:	/* HEADER, HEADER.FIELDS[.NOT] */
		if (!(p->flags & POSTA_PART_MESSAGE))
			return false;
		*off_r = p->body_off;
		*len_r = p->msg_header_len;
		return true;
	}
}

static void
apply_partial(const struct fetch_section *fs, uint64_t *off, uint64_t *len)
{
	uint64_t o;

	if (!fs->sec.has_partial)
		return;
	o = fs->sec.offset;
	if (o > *len)
		o = *len;
	*off += o;
	*len -= o;
	if (*len > fs->sec.length)
		*len = fs->sec.length;
}

/* ---- HEADER.FIELDS ---- */

static bool
field_wanted(const struct fetch_section *fs, const uint8_t *name, size_t len)
{
	unsigned int i;
	bool found = false;

	for (i = 0; i < fs->n_fields && !found; i++)
		found = strlen(fs->fields[i]) == len &&
		    util_memcaseeq(fs->fields[i], name, len);
	return fs->sec.text == IMAP_SECTION_HEADER_FIELDS ? found : !found;
}

/*
 * Filters the header in x->hbuf in place: whole fields (with their
 * continuation lines) whose names are wanted, then the empty line.
 */
static size_t
filter_header(struct fetch_ctx *x, const struct fetch_section *fs)
{
	uint8_t *h = x->hbuf;
	size_t len = x->hlen, in = 0, out = 0;

	while (in < len) {
		size_t start = in, colon, end;
		const uint8_t *lf;

		if (h[in] == '\r' || h[in] == '\n')
			break;	/* the empty line: end of header */
		/* the field runs to a line not starting with SP or TAB */
		end = in;
		for (;;) {
			lf = memchr(h + end, '\n', len - end);
			end = lf != NULL ? (size_t)(lf - h) + 1 : len;
			if (end >= len || (h[end] != ' ' && h[end] != '\t'))
				break;
		}
		for (colon = start; colon < end && h[colon] != ':' &&
		    h[colon] != '\n'; colon++)
			;
		if (colon < end && h[colon] == ':') {
			size_t nlen = colon;

			while (nlen > start && (h[nlen - 1] == ' ' ||
			    h[nlen - 1] == '\t'))
				nlen--;
			if (field_wanted(fs, h + start, nlen - start)) {
				memmove(h + out, h + start, end - start);
				out += end - start;
			}
		}
		in = end;
	}
	/* out never passes in, and the terminator fits where it came from */
	if (out + 2 <= x->hcap) {
		h[out++] = '\r';
		h[out++] = '\n';
	}
	return out;
}

/* ---- writing one message ---- */

static struct fetch_msg *
cur_msg(struct fetch_ctx *x)
{
	return &x->batch[x->batch_pos];
}

static void
write_head(struct imap_session *s, struct fetch_ctx *x, struct fetch_msg *m)
{
	const struct posta_msg *msgs;
	const char *const *names = NULL;
	size_t nk;
	const struct posta_msg *pm;
	const char *sep = "";
	char date[40];

	posta_mailbox_messages(s->box, &msgs);
	nk = posta_mailbox_keywords(s->box, &names);
	pm = &msgs[m->idx];
	imap_printf(s, "* %u FETCH (", m->idx + 1);
	/* RFC 7162 3.2: a \Seen set here is a flag change like any other */
	if ((x->attrs & FA_UID) || (m->set_seen && s->condstore)) {
		imap_printf(s, "UID %u", pm->uid);
		sep = " ";
	}
	if ((x->attrs & FA_FLAGS) || m->set_seen) {
		imap_printf(s, "%sFLAGS ", sep);
		imap_write_flags(s, pm->flags, pm->keywords, names, nk);
		sep = " ";
	}
	if (x->attrs & FA_INTERNALDATE) {
		imap_format_datetime(pm->internal_date, date, sizeof(date));
		imap_printf(s, "%sINTERNALDATE \"%s\"", sep, date);
		sep = " ";
	}
	if (x->attrs & FA_SIZE) {
		imap_printf(s, "%sRFC822.SIZE %llu", sep,
		    (unsigned long long)pm->size);
		sep = " ";
	}
	if (x->attrs & FA_ENVELOPE) {
		imap_printf(s, "%sENVELOPE ", sep);
		imap_puts(s, m->envelope != NULL ? m->envelope : "NIL");
		sep = " ";
	}
	if (x->attrs & FA_BODY) {
		imap_printf(s, "%sBODY ", sep);
		imap_puts(s, m->body != NULL ? m->body : "NIL");
		sep = " ";
	}
	if (x->attrs & FA_BODYSTRUCTURE) {
		imap_printf(s, "%sBODYSTRUCTURE ", sep);
		imap_puts(s, m->bodystructure != NULL ? m->bodystructure :
		    "NIL");
		sep = " ";
	}
	if ((x->attrs & FA_MODSEQ) || (m->set_seen && s->condstore)) {
		imap_printf(s, "%sMODSEQ (%llu)", sep,
		    (unsigned long long)pm->modseq);
		sep = " ";
	}
	x->head_written = sep[0] != '\0';
}

static void msg_sections(struct imap_session *s);

static void
msg_end(struct imap_session *s)
{
	struct fetch_ctx *x = s->cmd.ctx;

	imap_puts(s, ")\r\n");
	posta_msg_close(&x->reader);
	x->batch_pos++;
	fetch_walk(s);
}

static void read_cb(void *ctx, int err, const uint8_t *data, size_t len);

static void
read_more(struct imap_session *s)
{
	struct fetch_ctx *x = s->cmd.ctx;
	uint64_t left = x->end - x->off;
	size_t n = left > POSTA_STORE_READ_MAX ? POSTA_STORE_READ_MAX :
	    (size_t)left;
	int r;

	if (x->collecting && x->hlen + n > x->hcap)
		n = x->hcap - x->hlen;
	r = posta_msg_read(x->reader, x->off, n, read_cb, s);
	if (r < 0) {
		posta_conn_log(s->conn, POSTA_LOG_WARN, "imap.read_failed",
		    "error=\"%s\"", posta_strerror(r));
		imap_bye(s, "Message could not be read.");
		return;
	}
	imap_ref(s);
}

static void
fetch_drain(struct imap_session *s)
{
	s->cmd.drain = NULL;
	read_more(s);
}

static void
section_done(struct imap_session *s)
{
	struct fetch_ctx *x = s->cmd.ctx;

	x->sec_i++;
	msg_sections(s);
}

static void
read_cb(void *ctx, int err, const uint8_t *data, size_t len)
{
	struct imap_session *s = ctx;
	struct fetch_ctx *x;

	if (imap_cb_enter(s))
		return;
	x = s->cmd.ctx;
	if (err < 0 || (len == 0 && x->off < x->end)) {
		/* a literal is promised: the stream cannot go on */
		if (s->conn != NULL)
			posta_conn_log(s->conn, POSTA_LOG_WARN,
			    "imap.read_failed", "error=\"%s\"", err < 0 ?
			    posta_strerror(err) : "message shrank");
		imap_bye(s, "Message could not be read.");
		imap_cb_leave(s);
		return;
	}
	if (len > x->end - x->off)
		len = (size_t)(x->end - x->off);
	if (x->collecting) {
		memcpy(x->hbuf + x->hlen, data, len);
		x->hlen += len;
	} else {
		imap_write(s, data, len);
	}
	x->off += len;
	if (x->off < x->end) {
		if (!x->collecting && imap_write_pending(s) > OUT_HIGH)
			s->cmd.drain = fetch_drain;
		else
			read_more(s);
	} else if (x->collecting) {
		const struct fetch_section *fs = &x->secs[x->sec_i];
		uint64_t off = 0, n;

		x->collecting = false;
		x->hlen = filter_header(x, fs);
		n = x->hlen;
		apply_partial(fs, &off, &n);
		imap_printf(s, "%s%s {%llu}\r\n", x->head_written ? " " : "",
		    fs->label, (unsigned long long)n);
		imap_write(s, x->hbuf + off, (size_t)n);
		x->head_written = true;
		section_done(s);
	} else {
		section_done(s);
	}
	imap_cb_leave(s);
}

/* Sends the sections of the current message from x->sec_i on. */
static void
msg_sections(struct imap_session *s)
{
	struct fetch_ctx *x = s->cmd.ctx;
	struct fetch_msg *m = cur_msg(x);

	while (x->sec_i < x->n_secs && s->conn != NULL) {
		const struct fetch_section *fs = &x->secs[x->sec_i];
		uint64_t off, len;
		bool fields = fs->sec.text == IMAP_SECTION_HEADER_FIELDS ||
		    fs->sec.text == IMAP_SECTION_HEADER_FIELDS_NOT;

		if (!section_range(x, m, fs, &off, &len)) {
			imap_printf(s, "%s%s \"\"", x->head_written ? " " : "",
			    fs->label);
			x->head_written = true;
			x->sec_i++;
			continue;
		}
		if (off > x->msg_size)
			off = x->msg_size;
		if (len > x->msg_size - off)
			len = x->msg_size - off;
		if (fields) {
			if (len > HEADER_MAX)
				len = HEADER_MAX;
			if (x->hcap < len + 2) {
				uint8_t *nb = realloc(x->hbuf, len + 2);

				if (nb == NULL) {
					imap_bye(s, "Out of memory.");
					return;
				}
				x->hbuf = nb;
				x->hcap = len + 2;
			}
			x->hlen = 0;
			x->off = off;
			x->end = off + len;
			if (len == 0) {
				x->collecting = false;
				x->hbuf[0] = '\0';
				imap_printf(s, "%s%s {2}\r\n\r\n",
				    x->head_written ? " " : "", fs->label);
				x->head_written = true;
				x->sec_i++;
				continue;
			}
			x->collecting = true;
			read_more(s);
			return;
		}
		apply_partial(fs, &off, &len);
		imap_printf(s, "%s%s {%llu}\r\n", x->head_written ? " " : "",
		    fs->label, (unsigned long long)len);
		x->head_written = true;
		if (len == 0) {
			x->sec_i++;
			continue;
		}
		x->off = off;
		x->end = off + len;
		x->collecting = false;
		read_more(s);
		return;
	}
	if (s->conn != NULL)
		msg_end(s);
}

static void
open_cb(void *ctx, int err, struct posta_msg_reader *reader, uint64_t size)
{
	struct imap_session *s = ctx;
	struct fetch_ctx *x;

	if (imap_cb_enter(s)) {
		posta_msg_close(&reader);
		return;
	}
	x = s->cmd.ctx;
	if (err < 0) {
		/* gone since the view was taken: left out (RFC 2180 4.1.2) */
		x->expunged = true;
		x->batch_pos++;
		fetch_walk(s);
		imap_cb_leave(s);
		return;
	}
	x->reader = reader;
	x->msg_size = size;
	x->sec_i = 0;
	write_head(s, x, cur_msg(x));
	msg_sections(s);
	imap_cb_leave(s);
}

/* Writes messages of the batch until one needs the disk or output waits. */
static void
fetch_walk(struct imap_session *s)
{
	struct fetch_ctx *x = s->cmd.ctx;

	while (s->conn != NULL) {
		struct fetch_msg *m;

		if (x->batch_pos >= x->batch_n) {
			batch_next(s);
			return;
		}
		if (imap_write_pending(s) > OUT_HIGH) {
			s->cmd.drain = fetch_walk;
			return;
		}
		m = cur_msg(x);
		if (m->err != 0) {
			x->expunged = true;
			x->batch_pos++;
			continue;
		}
		if (x->n_secs > 0) {
			int r = posta_msg_open(s->box, m->uid, open_cb, s);

			if (r == 0) {
				imap_ref(s);
				return;
			}
			x->expunged = true;
			x->batch_pos++;
			continue;
		}
		write_head(s, x, m);
		imap_puts(s, ")\r\n");
		x->batch_pos++;
	}
}

static char *
dup_or_null(struct arena *a, const char *str)
{
	return str != NULL ? arena_strdup(a, str) : NULL;
}

static void
meta_cb(void *ctx, int err, const struct posta_msg_meta *metas, size_t n)
{
	struct imap_session *s = ctx;
	struct fetch_ctx *x;
	size_t i, k;

	if (imap_cb_enter(s))
		return;
	x = s->cmd.ctx;
	if (err < 0) {
		imap_cmd_store_error(s, err, "fetch");
		imap_cb_leave(s);
		return;
	}
	for (i = 0; i < n && i < x->batch_n; i++) {
		struct fetch_msg *m = &x->batch[i];
		const struct posta_msg_meta *mt = &metas[i];

		m->err = mt->err;
		if (mt->err != 0)
			continue;
		m->envelope = dup_or_null(x->batch_arena, mt->envelope);
		m->bodystructure = dup_or_null(x->batch_arena,
		    mt->bodystructure);
		m->body = dup_or_null(x->batch_arena, mt->body);
		m->header_size = mt->header_size;
		if ((mt->envelope != NULL && m->envelope == NULL) ||
		    (mt->bodystructure != NULL && m->bodystructure == NULL) ||
		    (mt->body != NULL && m->body == NULL))
			goto nomem;
		if (mt->n_parts > 0) {
			m->parts = arena_alloc(x->batch_arena,
			    mt->n_parts * sizeof(*m->parts));
			if (m->parts == NULL)
				goto nomem;
			for (k = 0; k < mt->n_parts; k++) {
				m->parts[k] = mt->parts[k];
				m->parts[k].section = arena_strdup(
				    x->batch_arena, mt->parts[k].section);
				if (m->parts[k].section == NULL)
					goto nomem;
			}
			m->n_parts = mt->n_parts;
		}
	}
	fetch_walk(s);
	imap_cb_leave(s);
	return;
nomem:
	imap_cmd_done(s, "NO [SERVERBUG] Out of memory.");
	imap_cb_leave(s);
}

static void
batch_fetch_meta(struct imap_session *s)
{
	struct fetch_ctx *x = s->cmd.ctx;
	uint32_t *uids;
	size_t i;
	int r;

	if (x->meta_fields == 0) {
		fetch_walk(s);
		return;
	}
	uids = arena_alloc(x->batch_arena, x->batch_n * sizeof(*uids));
	if (uids == NULL) {
		imap_cmd_done(s, "NO [SERVERBUG] Out of memory.");
		return;
	}
	for (i = 0; i < x->batch_n; i++)
		uids[i] = x->batch[i].uid;
	r = posta_mailbox_fetch_meta(s->box, uids, x->batch_n, x->meta_fields,
	    meta_cb, s);
	if (r < 0) {
		imap_cmd_store_error(s, r, "fetch");
		return;
	}
	imap_ref(s);
}

static void
seen_cb(void *ctx, int err, const struct posta_flags_result *res)
{
	struct imap_session *s = ctx;
	struct fetch_ctx *x;
	size_t i, k = 0;

	if (imap_cb_enter(s))
		return;
	x = s->cmd.ctx;
	/* a failure to set \Seen does not fail the FETCH (RFC 3501 6.4.5) */
	if (err == 0) {
		for (i = 0; i < res->n_changed; i++) {
			while (k < x->batch_n && x->batch[k].uid <
			    res->changed[i])
				k++;
			if (k < x->batch_n && x->batch[k].uid ==
			    res->changed[i])
				x->batch[k].set_seen = true;
		}
	}
	batch_fetch_meta(s);
	imap_cb_leave(s);
}

/* Takes the next batch of messages and starts on it. */
static void
batch_next(struct imap_session *s)
{
	struct fetch_ctx *x = s->cmd.ctx;
	const struct posta_msg *msgs;
	size_t max = x->n_secs > 0 ? BATCH_BODY : BATCH_META;
	uint32_t *unseen;
	size_t n_unseen = 0;

	posta_mailbox_messages(s->box, &msgs);
	arena_reset(x->batch_arena);
	x->batch_n = x->batch_pos = 0;
	x->batch = arena_zalloc(x->batch_arena, max * sizeof(*x->batch));
	unseen = arena_alloc(x->batch_arena, max * sizeof(*unseen));
	if (x->batch == NULL || unseen == NULL) {
		imap_cmd_done(s, "NO [SERVERBUG] Out of memory.");
		return;
	}
	while (x->pos < x->n_idx && x->batch_n < max) {
		uint32_t i = x->idx[x->pos++];
		struct fetch_msg *m;

		if (x->changedsince != 0 && msgs[i].modseq <= x->changedsince)
			continue;
		m = &x->batch[x->batch_n++];
		m->idx = i;
		m->uid = msgs[i].uid;
		if (x->any_seen && !(msgs[i].flags & POSTA_FLAG_SEEN))
			unseen[n_unseen++] = msgs[i].uid;
	}
	if (x->batch_n == 0) {
		if (x->expunged)
			imap_cmd_done(s, "NO [EXPUNGEISSUED] Some of the "
			    "requested messages no longer exist.");
		else
			imap_cmd_done(s, "OK Fetch completed.");
		return;
	}
	if (n_unseen > 0) {
		struct posta_flag_update up = {
			.mode = POSTA_FLAGS_ADD,
			.flags = POSTA_FLAG_SEEN,
		};

		if (posta_mailbox_store_flags(s->box, unseen, n_unseen, &up,
		    seen_cb, s) == 0) {
			imap_ref(s);
			return;
		}
	}
	batch_fetch_meta(s);
}

static void
vanished_cb(void *ctx, int err, const struct posta_uid_range *ranges,
    size_t n)
{
	struct imap_session *s = ctx;

	if (imap_cb_enter(s))
		return;
	if (err == 0 && n > 0) {
		/* only those inside the UID set the client asked about */
		const char *setstr;
		struct imap_seqset set, req;
		struct imap_seq_range *r = arena_alloc(s->cmd_arena,
		    n * sizeof(*r));
		size_t i;
		char *str;

		imap_arg_get_atom(s->cmd.args, &setstr);
		for (i = 0; r != NULL && i < n; i++) {
			r[i].lo = ranges[i].lo;
			r[i].hi = ranges[i].hi;
		}
		set.ranges = r;
		set.count = (unsigned)n;
		if (r != NULL &&
		    imap_seqset_parse(s->cmd_arena, setstr, strlen(setstr),
		    &req) == 0 &&
		    imap_seqset_resolve(s->cmd_arena, &req, UINT32_MAX,
		    &req) == 0 &&
		    imap_seqset_resolve(s->cmd_arena, &set, UINT32_MAX,
		    &set) == 0) {
			struct imap_seq_range *o = arena_alloc(s->cmd_arena,
			    (set.count + req.count) * sizeof(*o));
			unsigned int a = 0, b = 0, k = 0;

			while (o != NULL && a < set.count && b < req.count) {
				uint32_t lo = set.ranges[a].lo >
				    req.ranges[b].lo ? set.ranges[a].lo :
				    req.ranges[b].lo;
				uint32_t hi = set.ranges[a].hi <
				    req.ranges[b].hi ? set.ranges[a].hi :
				    req.ranges[b].hi;

				if (lo <= hi) {
					o[k].lo = lo;
					o[k++].hi = hi;
				}
				if (set.ranges[a].hi < req.ranges[b].hi)
					a++;
				else
					b++;
			}
			set.ranges = o;
			set.count = k;
			if (o != NULL && k > 0 &&
			    (str = imap_seqset_format(s->cmd_arena,
			    &set)) != NULL)
				imap_printf(s, "* VANISHED (EARLIER) %s\r\n",
				    str);
		}
	}
	batch_next(s);
	imap_cb_leave(s);
}

void
imap_cmd_fetch(struct imap_session *s, struct imap_cmd *c)
{
	struct fetch_ctx *x = arena_zalloc(s->cmd_arena, sizeof(*x));
	const struct imap_arg *items, *it;
	const char *set, *error = "Invalid arguments.";
	unsigned int n;
	size_t i;

	if (x == NULL) {
		imap_cmd_done(s, "NO [SERVERBUG] Out of memory.");
		return;
	}
	n = imap_args_count(c->args);
	if (n < 2 || n > 3 || !imap_arg_get_atom(c->args, &set)) {
		imap_cmd_bad(s, "FETCH needs a message set and items.");
		return;
	}
	items = c->args->next;
	if (imap_arg_is_list(items)) {
		unsigned int count;

		imap_arg_get_list(items, &it, &count);
		if (count == 0) {
			imap_cmd_bad(s, "Empty fetch item list.");
			return;
		}
		for (; it != NULL; it = it->next)
			if (parse_att(s, x, it, count, &error) < 0) {
				imap_cmd_bad(s, error);
				return;
			}
	} else if (parse_att(s, x, items, 1, &error) < 0) {
		imap_cmd_bad(s, error);
		return;
	}
	if (items->next != NULL &&
	    parse_modifiers(s, x, items->next, c->uid, &error) < 0) {
		imap_cmd_bad(s, error);
		return;
	}
	if (c->uid)
		x->attrs |= FA_UID;
	if (x->attrs & FA_MODSEQ)
		s->condstore = true;
	if (x->attrs & FA_ENVELOPE)
		x->meta_fields |= POSTA_META_ENVELOPE;
	if (x->attrs & FA_BODYSTRUCTURE)
		x->meta_fields |= POSTA_META_BODYSTRUCTURE;
	if (x->attrs & FA_BODY)
		x->meta_fields |= POSTA_META_BODY;
	for (i = 0; i < x->n_secs; i++) {
		if (x->secs[i].seen && !s->readonly)
			x->any_seen = true;
		if (x->secs[i].sec.nparts > 0 ||
		    x->secs[i].sec.text != IMAP_SECTION_NONE)
			x->meta_fields |= POSTA_META_PARTS;
	}
	if (imap_seqset_to_indexes(s, set, c->uid, &x->idx, &x->n_idx,
	    &error) < 0) {
		imap_cmd_bad(s, error);
		return;
	}
	x->batch_arena = arena_new(16 * 1024, 0);
	if (x->batch_arena == NULL ||
	    arena_on_free(s->cmd_arena, fetch_cleanup, x) < 0) {
		arena_free(&x->batch_arena);
		imap_cmd_done(s, "NO [SERVERBUG] Out of memory.");
		return;
	}
	c->ctx = x;
	imap_cmd_wait(s);
	if (x->vanished &&
	    posta_mailbox_expunged_since(s->box, x->changedsince, vanished_cb,
	    s) == 0) {
		imap_ref(s);
		return;
	}
	batch_next(s);
}
