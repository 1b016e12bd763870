/* mime.c: streaming MIME parser: part tree, ENVELOPE and BODYSTRUCTURE for IMAP */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "arena.h"
#include "util.h"
#include "mime_int.h"

/*
 * How it works.  Bytes go through a per-line state machine.  At the start
 * of every line, while some multipart is open, up to MIME_BOUNDARY_MAX + 4
 * bytes are held back in lbuf until we know whether the line is a
 * boundary delimiter of one of the open multiparts (RFC 2046 5.1.1); if it
 * is not, they are replayed through the normal path.  Header blocks are
 * parsed field by field: only the fields we need are kept, unfolded, in
 * one buffer.  Each MIME entity is a node in a tree shaped like RFC 3501
 * sees it: a message/rfc822 node has one child, the encapsulated message,
 * whose header is that node's body.  Output strings are built at finish.
 *
 * Boundary matching follows what deployed servers do: a line matches when
 * it starts with "--" and the boundary; if several open boundaries match,
 * the longest wins, and a match closes every part nested inside the
 * multipart it belongs to.  The [CR]LF before a delimiter belongs to the
 * delimiter, not to the part before it (RFC 2046 5.1.1).
 *
 * A multipart that cannot be split (no usable boundary parameter, no
 * delimiter ever seen, nested beyond max_depth, or no part left under
 * max_parts) and a message/rfc822 that cannot be descended into are
 * presented as text/plain; charset=us-ascii with their body intact, so a
 * client can still show the bytes.  That is RFC 2045 5.2's rule for a
 * Content-Type that cannot be used.
 */

static const char *const hdr_names[HDR_COUNT] = {
	"date", "subject", "from", "sender", "reply-to", "to", "cc", "bcc",
	"in-reply-to", "message-id",
	"content-type", "content-transfer-encoding", "content-id",
	"content-description", "content-disposition", "content-language",
	"content-location", "content-md5",
};

/* ---- small helpers shared with mime_field.c ---- */




char *
mime_lower_dup(struct mime_parser *p, const char *s)
{
	char *d = arena_strdup(p->a, s);

	if (d == NULL)
		p->error = -ENOMEM;
	else
		util_ascii_lower(d);
	return d;
}

char *
mime_pdup(struct mime_parser *p, const char *s, size_t len)
{
	char *d = arena_strndup(p->a, s, len);

	if (d == NULL)
		p->error = -ENOMEM;
	return d;
}

/* Grows an arena buffer by doubling, never past max (0: no cap) unless
   need is larger; the old block is wasted, so the total stays under
   twice the final size. */
bool
mime_grow(struct mime_parser *p, char **buf, size_t *cap, size_t used,
    size_t need, size_t max)
{
	size_t ncap = *cap < 256 ? 256 : *cap;
	char *n;

	if (need <= *cap)
		return true;
	while (ncap < need)
		ncap *= 2;
	if (max != 0 && ncap > max / 2)
		ncap = max > need ? max : need;	/* no block just below max */
	n = arena_alloc(p->a, ncap);
	if (n == NULL) {
		p->error = -ENOMEM;
		return false;
	}
	if (used > 0)
		memcpy(n, *buf, used);
	*buf = n;
	*cap = ncap;
	return true;
}

/* ---- output strings: counted first, then written ---- */


void
mime_sb_put(struct sb *s, const char *p, size_t n)
{
	if (s->buf != NULL)
		memcpy(s->buf + s->len, p, n);
	s->len += n;
}

void
mime_sb_puts(struct sb *s, const char *p)
{
	mime_sb_put(s, p, strlen(p));
}

void
mime_sb_putc(struct sb *s, char c)
{
	if (s->buf != NULL)
		s->buf[s->len] = c;
	s->len++;
}

static void
sb_u64(struct sb *s, uint64_t v)
{
	char tmp[24];
	size_t i = sizeof(tmp);

	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0);
	mime_sb_put(s, tmp + i, sizeof(tmp) - i);
}

/*
 * An IMAP string (RFC 3501 4.3).  Values never hold CR, LF or NUL here:
 * unfolding removed CRLF, and stray CR and NUL became spaces when the
 * field was read.  7-bit values go out as quoted strings with \ and "
 * escaped; a value with 8-bit bytes (raw UTF-8 headers, RFC 6532) cannot
 * be a quoted string in IMAP4rev1, so it goes out as a literal.
 */
static void
sb_string(struct sb *s, const char *v)
{
	size_t i, n = strlen(v);
	bool eight = false;

	for (i = 0; i < n; i++) {
		if ((uint8_t)v[i] >= 0x80) {
			eight = true;
			break;
		}
	}
	if (eight) {
		mime_sb_putc(s, '{');
		sb_u64(s, n);
		mime_sb_puts(s, "}\r\n");
		mime_sb_put(s, v, n);
		return;
	}
	mime_sb_putc(s, '"');
	for (i = 0; i < n; i++) {
		if (v[i] == '"' || v[i] == '\\')
			mime_sb_putc(s, '\\');
		mime_sb_putc(s, v[i]);
	}
	mime_sb_putc(s, '"');
}

static void
sb_nstring(struct sb *s, const char *v)
{
	if (v == NULL)
		mime_sb_puts(s, "NIL");
	else
		sb_string(s, v);
}

/* ---- header fields ---- */

static void
field_dispatch(struct mime_parser *p)
{
	struct node *n = p->cur;
	char *v = p->fbuf;
	size_t i, len = p->flen;
	struct cur c;

	for (i = 0; i < len; i++) {
		if (v[i] == '\r')
			v[i] = ' ';
	}
	while (len > 0 && is_wsp(v[0])) {
		v++;
		len--;
	}
	while (len > 0 && is_wsp(v[len - 1]))
		len--;
	v[len] = '\0';
	c.p = v;
	c.end = v + len;

	switch (p->fid) {
	case HDR_FROM: case HDR_SENDER: case HDR_REPLY_TO:
	case HDR_TO: case HDR_CC: case HDR_BCC:
		n->addrs[p->fid] = mime_parse_addresses(p, v, len);
		break;
	case HDR_DATE: case HDR_SUBJECT: case HDR_IN_REPLY_TO:
	case HDR_MESSAGE_ID:
		n->env[p->fid] = mime_pdup(p, v, len);
		break;
	case HDR_CONTENT_TYPE:
		mime_parse_content_type(p, n, &c);
		break;
	case HDR_CONTENT_TE:
		mime_skip_cfws(&c);
		if (mime_span_token(&c) > 0)
			n->cte = mime_pdup(p, c.p, mime_span_token(&c));
		break;
	case HDR_CONTENT_ID:
		n->id = mime_pdup(p, v, len);
		break;
	case HDR_CONTENT_DESC:
		n->desc = mime_pdup(p, v, len);
		break;
	case HDR_CONTENT_DISP:
		mime_parse_disposition(p, n, &c);
		break;
	case HDR_CONTENT_LANG:
		mime_parse_language(p, n, &c);
		break;
	case HDR_CONTENT_LOC:
		n->loc = mime_pdup(p, v, len);
		break;
	case HDR_CONTENT_MD5:
		n->md5 = mime_pdup(p, v, len);
		break;
	default:
		break;
	}
}

static void
field_done(struct mime_parser *p)
{
	if (p->fopen && p->fid >= 0)
		field_dispatch(p);
	p->fopen = false;
	p->fid = -1;
	p->flen = 0;
}

static void
field_start(struct mime_parser *p, uint8_t c)
{
	p->fopen = true;
	p->fid = -1;
	p->fstore = true;
	p->flen = 0;
	if (mime_grow(p, &p->fbuf, &p->fcap, 0, NAME_MAX_LEN + 1, 0))
		p->fbuf[p->flen++] = (char)c;
	p->hst = H_NAME;
}

static void
field_name_done(struct mime_parser *p)
{
	struct node *n = p->cur;
	size_t len = p->flen;
	int id;

	p->fid = -1;
	p->flen = 0;
	if (!p->fstore)
		return;
	while (len > 0 && is_wsp(p->fbuf[len - 1]))
		len--;
	for (id = n->is_message ? 0 : HDR_ENV_COUNT; id < HDR_COUNT; id++) {
		if (strlen(hdr_names[id]) == len &&
		    util_memcaseeq(hdr_names[id], p->fbuf, len))
			break;
	}
	if (id == HDR_COUNT || (n->seen & (1u << id)) != 0)
		return;
	n->seen |= 1u << id;
	p->fid = id;
}

static void
field_append(struct mime_parser *p, uint8_t c)
{
	if (p->fid < 0)
		return;
	if (p->hdr_kept >= p->lim.max_header_bytes) {
		/* over the budget: a cut value could mislead, drop it */
		p->fid = -1;
		return;
	}
	if (!mime_grow(p, &p->fbuf, &p->fcap, p->flen, p->flen + 2,
	    p->lim.max_header_bytes + 2))
		return;
	p->hdr_kept++;
	p->fbuf[p->flen++] = c == '\0' ? ' ' : (char)c;
}

/* ---- the part tree ---- */

static struct node *
node_new(struct mime_parser *p, struct node *parent, uint64_t off)
{
	struct node *n = arena_zalloc(p->a, sizeof(*n));

	if (n == NULL) {
		p->error = -ENOMEM;
		return NULL;
	}
	n->parent = parent;
	n->hdr_off = n->body_off = n->body_end = off;
	n->lf_body_off = n->lf_body_end = p->lfs;
	if (parent != NULL) {
		n->depth = parent->depth + 1;
		if (parent->last_child != NULL)
			parent->last_child->next = n;
		else
			parent->child = n;
		parent->last_child = n;
		parent->n_children++;
	}
	p->n_nodes++;
	return n;
}

static void
header_begin(struct mime_parser *p, struct node *n)
{
	p->cur = n;
	p->st = ST_HEADER;
	p->hst = H_LINE_START;
	p->fopen = false;
	p->fid = -1;
	p->flen = 0;
	p->hdr_kept = 0;
}

static void
bounds_recompute(struct mime_parser *p)
{
	size_t i;

	p->max_blen = 0;
	for (i = 0; i < p->n_bounds; i++) {
		if (p->bounds[i]->boundary_len > p->max_blen)
			p->max_blen = p->bounds[i]->boundary_len;
	}
}

/*
 * The header of n ends at end (lf: LFs before end).  With descend, the
 * body follows and we go into it; without, the part ends right here.
 */
static void
header_done(struct mime_parser *p, struct node *n, uint64_t end,
    uint64_t lf, bool descend)
{
	bool room = p->n_nodes < p->lim.max_parts;
	bool deep = n->depth >= p->lim.max_depth;

	field_done(p);
	n->header_done = true;
	n->body_off = n->body_end = end;
	n->lf_body_off = n->lf_body_end = lf;
	if (n->type == NULL && n->parent != NULL &&
	    n->parent->kind == KIND_MULTIPART &&
	    ieq(n->parent->subtype, "digest"))
		n->digest_default = true;

	if (ieq(n->type, "multipart")) {
		if (n->boundary != NULL && !deep && descend)
			n->kind = KIND_MULTIPART;
		else
			n->fallback = true;
	} else if (n->digest_default || (ieq(n->type, "message") &&
	    ieq(n->subtype, "rfc822"))) {
		if (!deep && room && descend)
			n->kind = KIND_RFC822;
		else
			n->fallback = true;
	}
	if (!descend)
		return;
	p->cur = n;
	p->st = ST_BODY;
	if (n->kind == KIND_MULTIPART) {
		p->bounds[p->n_bounds++] = n;
		bounds_recompute(p);
	} else if (n->kind == KIND_RFC822) {
		struct node *m = node_new(p, n, end);

		if (m == NULL)
			return;
		m->is_message = true;
		header_begin(p, m);
	}
}

static void
header_byte(struct mime_parser *p, uint8_t c)
{
	switch (p->hst) {
	case H_LINE_START:
		if (c == '\n') {
			header_done(p, p->cur, p->pos + 1, p->lfs, true);
			return;
		}
		if (c == '\r') {
			p->hst = H_CR;
			return;
		}
		if (is_wsp(c) && p->fopen) {
			/* unfolding: the CRLF goes, the WSP stays */
			field_append(p, c);
			p->hst = H_VALUE;
			return;
		}
		field_done(p);
		if (is_wsp(c)) {
			p->hst = H_SKIP;
			return;
		}
		field_start(p, c);
		return;
	case H_CR:
		if (c == '\n') {
			header_done(p, p->cur, p->pos + 1, p->lfs, true);
			return;
		}
		field_done(p);	/* a line starting with a bare CR: junk */
		p->hst = H_SKIP;
		return;
	case H_NAME:
		if (c == '\n') {
			/* no colon: not a field, and nothing continues it */
			p->fopen = false;
			p->hst = H_LINE_START;
			return;
		}
		if (c == ':') {
			field_name_done(p);
			p->hst = H_VALUE;
			return;
		}
		if (p->fstore) {
			if (p->flen < NAME_MAX_LEN)
				p->fbuf[p->flen++] = (char)c;
			else
				p->fstore = false;
		}
		return;
	case H_VALUE:
		if (c == '\n') {
			if (p->fid >= 0 && p->flen > 0 &&
			    p->fbuf[p->flen - 1] == '\r') {
				p->flen--;
				p->hdr_kept--;
			}
			p->hst = H_LINE_START;
			return;
		}
		field_append(p, c);
		return;
	case H_SKIP:
		if (c == '\n')
			p->hst = H_LINE_START;
		return;
	}
}

/* After a delimiter line: the next part, or the epilogue. */
static void
bline_done(struct mime_parser *p)
{
	struct node *m = p->cur, *n;

	p->st = ST_BODY;
	if (p->bline_close || p->n_nodes >= p->lim.max_parts)
		return;	/* epilogue, or a part we have no room for */
	n = node_new(p, m, p->pos);
	if (n != NULL)
		header_begin(p, n);
}

static void
note_lf(struct mime_parser *p, bool cr)
{
	p->lfs++;
	p->eol_len = cr ? 2 : 1;
	p->eol_start = p->pos + 1 - p->eol_len;
	p->at_line_start = true;
}

/* Consumes bytes up to and including the first LF; returns the count. */
static size_t
run(struct mime_parser *p, const uint8_t *d, size_t len)
{
	const uint8_t *q;
	size_t i, j;

	if (p->st == ST_HEADER) {
		for (i = 0; i < len && p->error == 0; i++) {
			uint8_t c = d[i];

			if (c == '\n')
				note_lf(p, p->last_byte == '\r');
			header_byte(p, c);
			p->pos++;
			p->last_byte = c;
			if (c == '\n')
				return i + 1;
			if (p->st != ST_HEADER)
				return i + 1;
		}
		return i;
	}
	if (p->st == ST_BODY && p->n_bounds == 0) {
		/* nothing can end this body before EOF: just count */
		for (i = 0; (q = memchr(d + i, '\n', len - i)) != NULL;
		    i = (size_t)(q - d) + 1)
			p->lfs++;
		p->pos += len;
		p->last_byte = d[len - 1];
		p->eol_len = 0;
		return len;
	}
	q = memchr(d, '\n', len);
	if (q == NULL) {
		p->pos += len;
		p->last_byte = d[len - 1];
		return len;
	}
	j = (size_t)(q - d);
	p->pos += j;
	note_lf(p, j > 0 ? d[j - 1] == '\r' : p->last_byte == '\r');
	p->pos++;
	p->last_byte = '\n';
	if (p->st == ST_BLINE)
		bline_done(p);
	return j + 1;
}

static void
run_all(struct mime_parser *p, const uint8_t *d, size_t len)
{
	size_t i = 0;

	while (i < len && p->error == 0)
		i += run(p, d + i, len - i);
}

/*
 * Is the held-back line start a delimiter?  1 with *k the index in
 * bounds, -1 no, 0 not known yet.
 */
static int
boundary_decide(struct mime_parser *p, bool eof, size_t *k_r, bool *close_r)
{
	const uint8_t *l = p->lbuf;
	size_t n = p->lbuf_len, i, best_len = 0;
	bool found = false;

	if ((n >= 1 && l[0] != '-') || (n >= 2 && l[1] != '-'))
		return -1;
	if (!eof && l[n - 1] != '\n' && n < 2 + p->max_blen + 2)
		return 0;
	for (i = p->n_bounds; i-- > 0;) {
		const struct node *b = p->bounds[i];

		if (b->boundary_len + 2 <= n &&
		    memcmp(l + 2, b->boundary, b->boundary_len) == 0 &&
		    (!found || b->boundary_len > best_len)) {
			found = true;
			best_len = b->boundary_len;
			*k_r = i;
		}
	}
	if (!found)
		return -1;
	*close_r = n >= best_len + 4 && l[2 + best_len] == '-' &&
	    l[3 + best_len] == '-';
	return 1;
}

static void
boundary_found(struct mime_parser *p, size_t k, bool close)
{
	struct node *m = p->bounds[k], *n;
	size_t len = p->lbuf_len;

	if (p->cur != m) {
		/* the innermost open part loses the [CR]LF that belongs to
		   the delimiter, unless that line end is not inside it (it
		   ended its header); the parts around it end where it ends */
		uint64_t start = p->cur->header_done ? p->cur->body_off :
		    p->cur->hdr_off;
		uint64_t end = p->pos, lf = p->lfs;

		if (p->eol_len > 0 && p->eol_start >= start) {
			end = p->eol_start;
			lf = p->lfs - 1;
		}
		for (n = p->cur; n != m && n != NULL; n = n->parent) {
			if (!n->header_done)
				header_done(p, n, end, lf, false);
			n->body_end = end;
			n->lf_body_end = lf;
		}
	}
	/* a close delimiter retires its boundary (RFC 2046 5.1.1) */
	p->n_bounds = close ? k : k + 1;
	bounds_recompute(p);
	p->cur = m;
	p->st = ST_BLINE;
	p->bline_close = close;
	p->lbuf_len = 0;
	run_all(p, p->lbuf, len);
}

static void
line_start_resolve(struct mime_parser *p, bool eof)
{
	size_t k = 0, len;
	bool close = false;
	int r = boundary_decide(p, eof, &k, &close);

	if (r == 0)
		return;
	p->at_line_start = false;
	if (r > 0) {
		boundary_found(p, k, close);
		return;
	}
	len = p->lbuf_len;
	p->lbuf_len = 0;
	run_all(p, p->lbuf, len);
}

struct mime_parser *
mime_parser_new(struct arena *a, const struct mime_limits *lim)
{
	static const struct mime_limits def = MIME_LIMITS_DEFAULT_INIT;
	struct mime_parser *p = arena_zalloc(a, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->a = a;
	p->lim = lim != NULL ? *lim : def;
	if (p->lim.max_depth == 0)
		p->lim.max_depth = def.max_depth;
	if (p->lim.max_parts == 0)
		p->lim.max_parts = def.max_parts;
	if (p->lim.max_header_bytes == 0)
		p->lim.max_header_bytes = def.max_header_bytes;
	/* output is written recursively: keep the stack small */
	if (p->lim.max_depth > MIME_DEPTH_MAX)
		p->lim.max_depth = MIME_DEPTH_MAX;
	p->bounds = arena_alloc(a, sizeof(*p->bounds) *
	    (p->lim.max_depth + 1));
	if (p->bounds == NULL)
		return NULL;
	p->root = node_new(p, NULL, 0);
	if (p->root == NULL)
		return NULL;
	p->root->is_message = true;
	header_begin(p, p->root);
	p->at_line_start = true;
	return p;
}

int
mime_parser_feed(struct mime_parser *p, const uint8_t *data, size_t len)
{
	size_t i = 0;

	if (p->error != 0)
		return p->error;
	if (p->finished)
		return -EINVAL;
	while (i < len && p->error == 0) {
		if (p->at_line_start && p->n_bounds > 0) {
			p->lbuf[p->lbuf_len++] = data[i++];
			line_start_resolve(p, false);
			continue;
		}
		p->at_line_start = false;
		i += run(p, data + i, len - i);
	}
	return p->error;
}

/* ---- output ---- */

static void
write_params(struct sb *s, const struct mime_param *prm, size_t n,
    bool def_charset)
{
	size_t i;
	bool any = false;

	for (i = 0; i < n && def_charset; i++) {
		if (ieq(prm[i].name, "charset"))
			def_charset = false;
	}
	if (n == 0 && !def_charset) {
		mime_sb_puts(s, "NIL");
		return;
	}
	mime_sb_putc(s, '(');
	for (i = 0; i < n; i++) {
		if (any)
			mime_sb_putc(s, ' ');
		sb_string(s, prm[i].name);
		mime_sb_putc(s, ' ');
		sb_string(s, prm[i].value);
		any = true;
	}
	if (def_charset)
		mime_sb_puts(s, any ? " \"charset\" \"us-ascii\"" :
		    "\"charset\" \"us-ascii\"");
	mime_sb_putc(s, ')');
}

static void
write_addrs(struct sb *s, const struct addr *a)
{
	if (a == NULL) {
		mime_sb_puts(s, "NIL");
		return;
	}
	mime_sb_putc(s, '(');
	for (; a != NULL; a = a->next) {
		mime_sb_putc(s, '(');
		sb_nstring(s, a->name);
		mime_sb_putc(s, ' ');
		sb_nstring(s, a->adl);
		mime_sb_putc(s, ' ');
		sb_nstring(s, a->mailbox);
		mime_sb_putc(s, ' ');
		sb_nstring(s, a->host);
		mime_sb_putc(s, ')');
	}
	mime_sb_putc(s, ')');
}

/* RFC 3501 7.4.2 ENVELOPE; Sender and Reply-To default to From. */
static void
write_envelope(struct sb *s, const struct node *m)
{
	mime_sb_putc(s, '(');
	sb_nstring(s, m->env[HDR_DATE]);
	mime_sb_putc(s, ' ');
	sb_nstring(s, m->env[HDR_SUBJECT]);
	mime_sb_putc(s, ' ');
	write_addrs(s, m->addrs[HDR_FROM]);
	mime_sb_putc(s, ' ');
	write_addrs(s, m->addrs[HDR_SENDER] != NULL ?
	    m->addrs[HDR_SENDER] : m->addrs[HDR_FROM]);
	mime_sb_putc(s, ' ');
	write_addrs(s, m->addrs[HDR_REPLY_TO] != NULL ?
	    m->addrs[HDR_REPLY_TO] : m->addrs[HDR_FROM]);
	mime_sb_putc(s, ' ');
	write_addrs(s, m->addrs[HDR_TO]);
	mime_sb_putc(s, ' ');
	write_addrs(s, m->addrs[HDR_CC]);
	mime_sb_putc(s, ' ');
	write_addrs(s, m->addrs[HDR_BCC]);
	mime_sb_putc(s, ' ');
	sb_nstring(s, m->env[HDR_IN_REPLY_TO]);
	mime_sb_putc(s, ' ');
	sb_nstring(s, m->env[HDR_MESSAGE_ID]);
	mime_sb_putc(s, ')');
}

static void
node_media_type(const struct node *n, const char **type_r,
    const char **subtype_r)
{
	if (n->fallback || (n->type == NULL && !n->digest_default)) {
		*type_r = "text";
		*subtype_r = "plain";
	} else if (n->type == NULL) {
		*type_r = "message";
		*subtype_r = "rfc822";
	} else {
		*type_r = n->type;
		*subtype_r = n->subtype;
	}
}

static void
write_ext_common(struct sb *s, const struct node *n)
{
	size_t i;

	mime_sb_putc(s, ' ');
	if (n->disp == NULL) {
		mime_sb_puts(s, "NIL");
	} else {
		mime_sb_putc(s, '(');
		sb_string(s, n->disp);
		mime_sb_putc(s, ' ');
		write_params(s, n->disp_params, n->n_disp_params, false);
		mime_sb_putc(s, ')');
	}
	mime_sb_putc(s, ' ');
	if (n->n_langs == 0) {
		mime_sb_puts(s, "NIL");
	} else {
		mime_sb_putc(s, '(');
		for (i = 0; i < n->n_langs; i++) {
			if (i > 0)
				mime_sb_putc(s, ' ');
			sb_string(s, n->langs[i]);
		}
		mime_sb_putc(s, ')');
	}
	mime_sb_putc(s, ' ');
	sb_nstring(s, n->loc);
}

/* RFC 3501 7.4.2 BODY / BODYSTRUCTURE of node n; recursion is bounded by
   max_depth. */
static void
write_body(struct sb *s, const struct node *n, bool ext)
{
	const char *type, *subtype;
	const struct node *c;

	mime_sb_putc(s, '(');
	if (n->kind == KIND_MULTIPART) {
		for (c = n->child; c != NULL; c = c->next)
			write_body(s, c, ext);
		mime_sb_putc(s, ' ');
		sb_string(s, n->subtype);
		if (ext) {
			mime_sb_putc(s, ' ');
			write_params(s, n->params, n->n_params, false);
			write_ext_common(s, n);
		}
		mime_sb_putc(s, ')');
		return;
	}
	node_media_type(n, &type, &subtype);
	sb_string(s, type);
	mime_sb_putc(s, ' ');
	sb_string(s, subtype);
	mime_sb_putc(s, ' ');
	if (n->fallback)
		write_params(s, NULL, 0, true);
	else
		write_params(s, n->params, n->n_params, ieq(type, "text"));
	mime_sb_putc(s, ' ');
	sb_nstring(s, n->id);
	mime_sb_putc(s, ' ');
	sb_nstring(s, n->desc);
	mime_sb_putc(s, ' ');
	sb_string(s, n->cte != NULL ? n->cte : "7bit");
	mime_sb_putc(s, ' ');
	sb_u64(s, n->body_end - n->body_off);
	if (n->kind == KIND_RFC822) {
		mime_sb_putc(s, ' ');
		write_envelope(s, n->child);
		mime_sb_putc(s, ' ');
		write_body(s, n->child, ext);
	}
	if (n->kind == KIND_RFC822 || ieq(type, "text")) {
		mime_sb_putc(s, ' ');
		sb_u64(s, n->lf_body_end - n->lf_body_off);
	}
	if (ext) {
		mime_sb_putc(s, ' ');
		sb_nstring(s, n->md5);
		write_ext_common(s, n);
	}
	mime_sb_putc(s, ')');
}

static const char *
render(struct mime_parser *p, const struct node *n, int what)
{
	struct sb s = { NULL, 0 };
	int pass;

	for (pass = 0; pass < 2; pass++) {
		if (pass == 1) {
			s.buf = arena_alloc(p->a, s.len + 1);
			if (s.buf == NULL) {
				p->error = -ENOMEM;
				return NULL;
			}
			s.len = 0;
		}
		if (what == 0)
			write_envelope(&s, n);
		else
			write_body(&s, n, what == 1);
	}
	s.buf[s.len] = '\0';
	return s.buf;
}

/* Multiparts with no part and message/rfc822 without its message are
   shown as text/plain (see the top comment). */
static void
settle_kinds(struct node *n)
{
	struct node *c;

	if (n->kind == KIND_MULTIPART && n->child == NULL) {
		n->kind = KIND_LEAF;
		n->fallback = true;
	}
	if (n->kind == KIND_RFC822 && n->child == NULL) {
		n->kind = KIND_LEAF;
		n->fallback = true;
	}
	for (c = n->child; c != NULL; c = c->next)
		settle_kinds(c);
}

struct parts_ctx {
	struct mime_parser *p;
	struct mime_part *parts;
	size_t n, cap;
};

static void add_entity(struct parts_ctx *pc, const struct node *n,
    const char *section, uint32_t depth);

static const char *
child_section(struct parts_ctx *pc, const char *parent, uint32_t i)
{
	char *s = arena_printf(pc->p->a, "%s%s%u", parent,
	    parent[0] != '\0' ? "." : "", i);

	if (s == NULL)
		pc->p->error = -ENOMEM;
	return s;
}

/* The parts of message m whose IMAP section is the one given. */
static void
add_message_parts(struct parts_ctx *pc, const struct node *m,
    const char *section, uint32_t depth)
{
	const struct node *c;
	const char *sec;
	uint32_t i = 1;

	if (m->kind == KIND_MULTIPART) {
		for (c = m->child; c != NULL; c = c->next) {
			sec = child_section(pc, section, i++);
			if (sec == NULL)
				return;
			add_entity(pc, c, sec, depth + 1);
		}
		return;
	}
	sec = child_section(pc, section, 1);
	if (sec != NULL)
		add_entity(pc, m, sec, depth + 1);
}

static void
add_entity(struct parts_ctx *pc, const struct node *n, const char *section,
    uint32_t depth)
{
	struct mime_parser *p = pc->p;
	struct mime_part *e;
	const char *type, *subtype;
	size_t i;

	if (p->error != 0 || pc->n >= pc->cap)
		return;
	e = &pc->parts[pc->n++];
	e->section = section;
	e->header_off = n->hdr_off;
	e->header_len = n->body_off - n->hdr_off;
	e->body_off = n->body_off;
	e->body_len = n->body_end - n->body_off;
	e->body_lines = (uint32_t)(n->lf_body_end - n->lf_body_off);
	e->depth = depth;
	e->is_multipart = n->kind == KIND_MULTIPART;
	e->is_message_rfc822 = n->kind == KIND_RFC822;
	if (e->is_message_rfc822)
		e->message_header_len = n->child->body_off - n->child->hdr_off;
	node_media_type(n, &type, &subtype);
	e->type = mime_lower_dup(p, type);
	e->subtype = mime_lower_dup(p, subtype);
	e->encoding = mime_lower_dup(p, n->cte != NULL ? n->cte : "7bit");
	for (i = 0; i < n->n_params && !n->fallback; i++) {
		if (ieq(n->params[i].name, "charset"))
			e->charset = n->params[i].value;
	}
	if (depth == 0) {
		/* the message itself; its parts follow */
		add_message_parts(pc, n, "", 0);
		return;
	}
	if (n->kind == KIND_MULTIPART) {
		const struct node *c;
		uint32_t k = 1;

		for (c = n->child; c != NULL; c = c->next) {
			const char *sec = child_section(pc, section, k++);

			if (sec == NULL)
				return;
			add_entity(pc, c, sec, depth + 1);
		}
	} else if (n->kind == KIND_RFC822) {
		add_message_parts(pc, n->child, section, depth);
	}
}

int
mime_parser_finish(struct mime_parser *p, struct mime_summary **summary_r)
{
	struct mime_summary *s;
	struct parts_ctx pc;
	struct node *n;

	if (p->error != 0)
		return p->error;
	if (p->finished)
		return -EINVAL;
	p->finished = true;
	if (p->lbuf_len > 0)
		line_start_resolve(p, true);
	if (p->error != 0)
		return p->error;
	/* everything still open ends here, last line end included */
	for (n = p->cur; n != NULL; n = n->parent) {
		if (!n->header_done)
			header_done(p, n, p->pos, p->lfs, false);
		n->body_end = p->pos;
		n->lf_body_end = p->lfs;
	}
	settle_kinds(p->root);

	s = arena_zalloc(p->a, sizeof(*s));
	pc.p = p;
	pc.n = 0;
	pc.cap = p->n_nodes + 1;
	pc.parts = arena_zalloc(p->a, sizeof(*pc.parts) * pc.cap);
	if (s == NULL || pc.parts == NULL || p->error != 0)
		return p->error = -ENOMEM;
	s->size = p->pos;
	s->lines = (uint32_t)p->lfs;
	s->envelope = render(p, p->root, 0);
	s->bodystructure = render(p, p->root, 1);
	s->body = render(p, p->root, 2);
	add_entity(&pc, p->root, "", 0);
	if (p->error != 0)
		return p->error;
	s->parts = pc.parts;
	s->n_parts = pc.n;
	*summary_r = s;
	return 0;
}

const struct mime_part *
mime_summary_find(const struct mime_summary *s, const char *section)
{
	size_t i;

	for (i = 0; i < s->n_parts; i++) {
		if (strcmp(s->parts[i].section, section) == 0)
			return &s->parts[i];
	}
	return NULL;
}

int
mime_parse_buffer(struct arena *a, const struct mime_limits *lim,
    const uint8_t *data, size_t len, struct mime_summary **summary_r)
{
	struct mime_parser *p = mime_parser_new(a, lim);
	int ret;

	if (p == NULL)
		return -ENOMEM;
	ret = mime_parser_feed(p, data, len);
	if (ret == 0)
		ret = mime_parser_finish(p, summary_r);
	return ret;
}

/* ---- cache form ---- */

/*
 * Little-endian, versioned by the magic: "PMS1", size u64, lines u32,
 * n_parts u32, envelope, bodystructure, body, then per part: section,
 * header_off, header_len, body_off, body_len, message_header_len (u64),
 * body_lines, depth (u32), flags (u8: 1 multipart, 2 message/rfc822),
 * type, subtype, charset, encoding.  A string is a u32 length and its
 * bytes; length 0xffffffff is NULL.
 */
#define CACHE_MAGIC "PMS1"
#define CACHE_NULL 0xffffffffu

struct wbuf {
	uint8_t *p;	/* NULL: only count */
	size_t len;
};

static void
w_bytes(struct wbuf *w, const void *d, size_t n)
{
	if (w->p != NULL && n > 0)
		memcpy(w->p + w->len, d, n);
	w->len += n;
}

static void
w_uint(struct wbuf *w, uint64_t v, unsigned int bytes)
{
	uint8_t b[8];
	unsigned int i;

	for (i = 0; i < bytes; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	w_bytes(w, b, bytes);
}

static void
w_str(struct wbuf *w, const char *s)
{
	if (s == NULL) {
		w_uint(w, CACHE_NULL, 4);
		return;
	}
	w_uint(w, strlen(s), 4);
	w_bytes(w, s, strlen(s));
}

int
mime_summary_encode(struct arena *a, const struct mime_summary *s,
    uint8_t **buf_r, size_t *len_r)
{
	struct wbuf w = { NULL, 0 };
	size_t i;
	int pass;

	for (pass = 0; pass < 2; pass++) {
		if (pass == 1) {
			w.p = arena_alloc(a, w.len);
			if (w.p == NULL)
				return -ENOMEM;
			w.len = 0;
		}
		w_bytes(&w, CACHE_MAGIC, 4);
		w_uint(&w, s->size, 8);
		w_uint(&w, s->lines, 4);
		w_uint(&w, s->n_parts, 4);
		w_str(&w, s->envelope);
		w_str(&w, s->bodystructure);
		w_str(&w, s->body);
		for (i = 0; i < s->n_parts; i++) {
			const struct mime_part *p = &s->parts[i];

			w_str(&w, p->section);
			w_uint(&w, p->header_off, 8);
			w_uint(&w, p->header_len, 8);
			w_uint(&w, p->body_off, 8);
			w_uint(&w, p->body_len, 8);
			w_uint(&w, p->message_header_len, 8);
			w_uint(&w, p->body_lines, 4);
			w_uint(&w, p->depth, 4);
			w_uint(&w, (p->is_multipart ? 1u : 0u) |
			    (p->is_message_rfc822 ? 2u : 0u), 1);
			w_str(&w, p->type);
			w_str(&w, p->subtype);
			w_str(&w, p->charset);
			w_str(&w, p->encoding);
		}
	}
	*buf_r = w.p;
	*len_r = w.len;
	return 0;
}

struct rbuf {
	const uint8_t *p, *end;
	struct arena *a;
	int error;
};

static uint64_t
r_uint(struct rbuf *r, unsigned int bytes)
{
	uint64_t v = 0;
	unsigned int i;

	if (r->error != 0 || (size_t)(r->end - r->p) < bytes) {
		r->error = -EINVAL;
		return 0;
	}
	for (i = 0; i < bytes; i++)
		v |= (uint64_t)r->p[i] << (8 * i);
	r->p += bytes;
	return v;
}

/* NULL with r->error 0 is a stored NULL */
static const char *
r_str(struct rbuf *r, bool nullable)
{
	uint64_t n = r_uint(r, 4);
	char *s;

	if (r->error != 0)
		return NULL;
	if (n == CACHE_NULL && nullable)
		return NULL;
	if (n > (uint64_t)(r->end - r->p) || memchr(r->p, '\0', n) != NULL) {
		r->error = -EINVAL;
		return NULL;
	}
	s = arena_strndup(r->a, (const char *)r->p, (size_t)n);
	if (s == NULL) {
		r->error = -ENOMEM;
		return NULL;
	}
	r->p += n;
	return s;
}

int
mime_summary_decode(struct arena *a, const uint8_t *buf, size_t len,
    struct mime_summary **summary_r)
{
	struct rbuf r = { buf, buf + len, a, 0 };
	struct mime_summary *s;
	struct mime_part *parts;
	uint64_t n, i;

	if (len < 4 || memcmp(buf, CACHE_MAGIC, 4) != 0)
		return -EINVAL;
	r.p += 4;
	s = arena_zalloc(a, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->size = r_uint(&r, 8);
	s->lines = (uint32_t)r_uint(&r, 4);
	n = r_uint(&r, 4);
	s->envelope = r_str(&r, false);
	s->bodystructure = r_str(&r, false);
	s->body = r_str(&r, false);
	/* each part takes at least 69 bytes: a short blob cannot claim
	   a huge table */
	if (r.error != 0 || n == 0 || n > (uint64_t)(r.end - r.p) / 69)
		return r.error != 0 ? r.error : -EINVAL;
	parts = arena_zalloc(a, sizeof(*parts) * (size_t)n);
	if (parts == NULL)
		return -ENOMEM;
	for (i = 0; i < n && r.error == 0; i++) {
		struct mime_part *p = &parts[i];
		unsigned int flags;

		p->section = r_str(&r, false);
		p->header_off = r_uint(&r, 8);
		p->header_len = r_uint(&r, 8);
		p->body_off = r_uint(&r, 8);
		p->body_len = r_uint(&r, 8);
		p->message_header_len = r_uint(&r, 8);
		p->body_lines = (uint32_t)r_uint(&r, 4);
		p->depth = (uint32_t)r_uint(&r, 4);
		flags = (unsigned int)r_uint(&r, 1);
		p->is_multipart = (flags & 1) != 0;
		p->is_message_rfc822 = (flags & 2) != 0;
		p->type = r_str(&r, false);
		p->subtype = r_str(&r, false);
		p->charset = r_str(&r, true);
		p->encoding = r_str(&r, false);
		/* the IMAP layer seeks with these: they must add up */
		if (r.error == 0 && (flags > 3 ||
		    p->header_off > s->size ||
		    p->header_len > s->size - p->header_off ||
		    p->body_off != p->header_off + p->header_len ||
		    p->body_len > s->size - p->body_off ||
		    p->message_header_len > p->body_len))
			r.error = -EINVAL;
	}
	if (r.error != 0)
		return r.error;
	if (r.p != r.end || parts[0].section[0] != '\0')
		return -EINVAL;
	s->parts = parts;
	s->n_parts = (size_t)n;
	*summary_r = s;
	return 0;
}
