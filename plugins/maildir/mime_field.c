/* mime_field.c: MIME header values: parameters (RFC 2045, 2231), addresses */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "mime_int.h"

/* Skips a comment at c->p == '('; copies its text to out if non-NULL. */
static void
skip_comment(struct cur *c, char *out, size_t *out_len)
{
	int depth = 0;

	for (; c->p < c->end; c->p++) {
		char ch = *c->p;

		if (ch == '\\' && c->p + 1 < c->end) {
			c->p++;
			if (out != NULL)
				out[(*out_len)++] = *c->p;
			continue;
		}
		if (ch == '(') {
			if (depth++ == 0)
				continue;
		} else if (ch == ')') {
			if (--depth == 0) {
				c->p++;
				return;
			}
		}
		if (out != NULL)
			out[(*out_len)++] = ch;
	}
}

void
mime_skip_cfws(struct cur *c)
{
	while (c->p < c->end) {
		if (is_wsp(*c->p))
			c->p++;
		else if (*c->p == '(')
			skip_comment(c, NULL, NULL);
		else
			break;
	}
}

/* RFC 2045 token; 8-bit bytes are let through rather than lost. */
static bool
is_tchar(char ch)
{
	uint8_t c = (uint8_t)ch;

	return c > 0x20 && c != 0x7f && strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

size_t
mime_span_token(const struct cur *c)
{
	const char *q = c->p;

	while (q < c->end && is_tchar(*q))
		q++;
	return (size_t)(q - c->p);
}

/* Unescapes a quoted-string at c->p == '"' into out; an unterminated
   one runs to the end of the value. */
static size_t
read_quoted(struct cur *c, char *out)
{
	size_t n = 0;

	for (c->p++; c->p < c->end; c->p++) {
		if (*c->p == '"') {
			c->p++;
			break;
		}
		if (*c->p == '\\' && c->p + 1 < c->end)
			c->p++;
		out[n++] = *c->p;
	}
	return n;
}

/*
 * Parameter values that are not quoted are taken up to ';', white space
 * or a comment, wider than RFC 2045's token: unquoted boundaries like
 * ----=_Part_1 are common and must still split the multipart.
 */
static size_t
span_value(const struct cur *c)
{
	const char *q = c->p;

	while (q < c->end && (uint8_t)*q > 0x20 && *q != 0x7f && *q != ';' &&
	    *q != '"' && *q != '(')
		q++;
	return (size_t)(q - c->p);
}

static bool
is_attr_char(char ch)
{
	/* RFC 2231 attribute-char: token without "*", "'" and "%" */
	return is_tchar(ch) && ch != '*' && ch != '\'' && ch != '%' &&
	    (uint8_t)ch < 0x80;
}

struct raw_param {
	const char *name, *value;
	size_t base_len;	/* name up to the first '*' */
	int section;		/* -1: none; RFC 2231 continuation number */
	bool extended;		/* value is charset'lang'%XX encoded */
	bool used;
};

static void
classify_param(struct raw_param *rp)
{
	const char *star = strchr(rp->name, '*');
	const char *q;
	int n = 0;

	rp->base_len = star != NULL ? (size_t)(star - rp->name) :
	    strlen(rp->name);
	rp->section = -1;
	rp->extended = false;
	if (star == NULL || star == rp->name)
		return;
	if (star[1] == '\0') {
		rp->extended = true;
		return;
	}
	for (q = star + 1; *q >= '0' && *q <= '9'; q++) {
		n = n * 10 + (*q - '0');
		if (n > MAX_SECTION)
			return;
	}
	if (q == star + 1 || (q > star + 2 && star[1] == '0'))
		return;
	if (*q == '*' && q[1] == '\0')
		rp->extended = true;
	else if (*q != '\0')
		return;
	rp->section = n;
}

static bool
same_base(const struct raw_param *a, const struct raw_param *b)
{
	return a->base_len == b->base_len &&
	    util_memcaseeq(a->name, b->name, a->base_len);
}

/* The piece with section sec of rp[i]'s name, searching from i. */
static const struct raw_param *
find_section(const struct raw_param *rp, size_t n, size_t i, int sec)
{
	size_t j;

	for (j = i; j < n; j++) {
		if (rp[j].section == sec && same_base(&rp[j], &rp[i]))
			return &rp[j];
	}
	return NULL;
}

static void
put_pct(struct sb *s, const char *v)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *v != '\0'; v++) {
		uint8_t c = (uint8_t)*v;

		if (is_attr_char((char)c)) {
			mime_sb_putc(s, (char)c);
		} else {
			mime_sb_putc(s, '%');
			mime_sb_putc(s, hex[c >> 4]);
			mime_sb_putc(s, hex[c & 15]);
		}
	}
}

/*
 * RFC 2231 3 and 4: param*0, param*1 ... are joined in section order,
 * up to the first gap.  If any piece is charset-encoded the result is
 * "param*" with the whole value in encoded form (plain pieces
 * percent-encoded), which IMAP clients decode themselves: the server
 * never guesses at charsets.  Without a section 0 the pieces stay as
 * they came.
 */
static int
merge_params(struct mime_parser *p, struct raw_param *rp, size_t n,
    struct mime_param **out_r, size_t *n_out_r)
{
	struct mime_param *out;
	size_t i, j, no = 0;

	out = arena_alloc(p->a, sizeof(*out) * n);
	if (out == NULL)
		return p->error = -ENOMEM;
	for (i = 0; i < n; i++)
		classify_param(&rp[i]);
	for (i = 0; i < n; i++) {
		const struct raw_param *piece;
		struct sb s = { NULL, 0 };
		bool ext = false;
		int pass, sec, last = -1;
		char *name;

		if (rp[i].used)
			continue;
		if (rp[i].section < 0 ||
		    find_section(rp, n, i, 0) == NULL) {
			out[no].name = rp[i].name;
			out[no++].value = rp[i].value;
			rp[i].used = true;
			continue;
		}
		while ((piece = find_section(rp, n, i, last + 1)) != NULL) {
			ext = ext || piece->extended;
			last++;
		}
		for (pass = 0; pass < 2; pass++) {
			if (pass == 1) {
				s.buf = arena_alloc(p->a, s.len + 1);
				if (s.buf == NULL)
					return p->error = -ENOMEM;
				s.len = 0;
			}
			for (sec = 0; sec <= last; sec++) {
				piece = find_section(rp, n, i, sec);
				if (!ext || piece->extended) {
					mime_sb_puts(&s, piece->value);
					continue;
				}
				if (sec == 0)
					mime_sb_puts(&s, "''");
				put_pct(&s, piece->value);
			}
		}
		s.buf[s.len] = '\0';
		for (j = i; j < n; j++) {
			if (rp[j].section >= 0 && same_base(&rp[j], &rp[i]))
				rp[j].used = true;
		}
		name = mime_pdup(p, rp[i].name, rp[i].base_len + (ext ? 1 : 0));
		if (name == NULL)
			return p->error;
		if (ext)
			name[rp[i].base_len] = '*';
		out[no].name = name;
		out[no++].value = s.buf;
	}
	*out_r = out;
	*n_out_r = no;
	return 0;
}

/* Parses "; attr=value" pairs from c; copies strings into the arena. */
static int
parse_params(struct mime_parser *p, struct cur *c,
    struct mime_param **out_r, size_t *n_out_r)
{
	struct raw_param rp[MAX_PARAMS];
	size_t n = 0;
	char *tmp;

	*out_r = NULL;
	*n_out_r = 0;
	/* quoted values only shrink, so the value length bounds them */
	tmp = arena_alloc(p->a, (size_t)(c->end - c->p) + 1);
	if (tmp == NULL)
		return p->error = -ENOMEM;
	while (c->p < c->end && n < MAX_PARAMS) {
		size_t alen, vlen;
		const char *attr;

		mime_skip_cfws(c);
		if (c->p >= c->end)
			break;
		if (*c->p != ';') {
			/* junk: resynchronise at the next ';' */
			if (*c->p == '"')
				(void)read_quoted(c, tmp);
			else
				c->p++;
			continue;
		}
		c->p++;
		mime_skip_cfws(c);
		attr = c->p;
		alen = mime_span_token(c);
		c->p += alen;
		mime_skip_cfws(c);
		if (alen == 0 || c->p >= c->end || *c->p != '=')
			continue;
		c->p++;
		mime_skip_cfws(c);
		if (c->p < c->end && *c->p == '"') {
			vlen = read_quoted(c, tmp);
			rp[n].value = mime_pdup(p, tmp, vlen);
		} else {
			vlen = span_value(c);
			rp[n].value = mime_pdup(p, c->p, vlen);
			c->p += vlen;
		}
		rp[n].name = mime_pdup(p, attr, alen);
		if (rp[n].name == NULL || rp[n].value == NULL)
			return p->error;
		rp[n].used = false;
		n++;
	}
	if (n == 0)
		return 0;
	return merge_params(p, rp, n, out_r, n_out_r);
}

/* The boundary from merged parameters: plain, or RFC 2231 encoded. */
static void
find_boundary(struct mime_parser *p, struct node *n)
{
	size_t i, len;
	const char *v = NULL;
	char *b, *o;
	bool ext = false;

	for (i = 0; i < n->n_params && v == NULL; i++) {
		if (ieq(n->params[i].name, "boundary"))
			v = n->params[i].value;
		else if (ieq(n->params[i].name, "boundary*")) {
			v = n->params[i].value;
			ext = true;
		}
	}
	if (v == NULL)
		return;
	if (ext) {
		const char *q = strchr(v, '\'');

		if (q != NULL && strchr(q + 1, '\'') != NULL)
			v = strchr(q + 1, '\'') + 1;
	}
	b = o = arena_strdup(p->a, v);
	if (b == NULL) {
		p->error = -ENOMEM;
		return;
	}
	for (; *v != '\0'; v++) {
		if (ext && *v == '%' && util_hexval(v[1]) >= 0 && util_hexval(v[2]) >= 0) {
			*o++ = (char)(util_hexval(v[1]) * 16 + util_hexval(v[2]));
			v += 2;
		} else
			*o++ = *v;
	}
	*o = '\0';
	len = (size_t)(o - b);
	/* RFC 2046 5.1.1: a boundary never ends in a space */
	while (len > 0 && b[len - 1] == ' ')
		len--;
	if (len == 0 || len > MIME_BOUNDARY_MAX || memchr(b, '\0', len))
		return;
	n->boundary = b;
	n->boundary_len = len;
}

void
mime_parse_content_type(struct mime_parser *p, struct node *n, struct cur *c)
{
	size_t tlen, slen;
	const char *t, *s;

	mime_skip_cfws(c);
	t = c->p;
	tlen = mime_span_token(c);
	c->p += tlen;
	mime_skip_cfws(c);
	if (tlen == 0 || c->p >= c->end || *c->p != '/')
		return;
	c->p++;
	mime_skip_cfws(c);
	s = c->p;
	slen = mime_span_token(c);
	c->p += slen;
	if (slen == 0)
		return;
	n->type = mime_pdup(p, t, tlen);
	n->subtype = mime_pdup(p, s, slen);
	if (n->type == NULL || n->subtype == NULL)
		return;
	if (parse_params(p, c, &n->params, &n->n_params) < 0)
		return;
	if (ieq(n->type, "multipart"))
		find_boundary(p, n);
}

void
mime_parse_disposition(struct mime_parser *p, struct node *n, struct cur *c)
{
	size_t len;
	const char *t;

	mime_skip_cfws(c);
	t = c->p;
	len = mime_span_token(c);
	c->p += len;
	if (len == 0)
		return;
	n->disp = mime_pdup(p, t, len);
	if (n->disp != NULL)
		(void)parse_params(p, c, &n->disp_params, &n->n_disp_params);
}

void
mime_parse_language(struct mime_parser *p, struct node *n, struct cur *c)
{
	const char *tags[MAX_LANGS];
	size_t i, nt = 0;

	while (c->p < c->end && nt < MAX_LANGS) {
		size_t len;

		mime_skip_cfws(c);
		len = mime_span_token(c);
		if (len > 0) {
			tags[nt] = mime_pdup(p, c->p, len);
			if (tags[nt++] == NULL)
				return;
			c->p += len;
			mime_skip_cfws(c);
		}
		if (c->p < c->end && *c->p != ',')
			break;	/* junk ends the list */
		if (c->p < c->end)
			c->p++;
	}
	if (nt == 0)
		return;
	n->langs = arena_alloc(p->a, sizeof(*n->langs) * nt);
	if (n->langs == NULL) {
		p->error = -ENOMEM;
		return;
	}
	for (i = 0; i < nt; i++)
		n->langs[i] = tags[i];
	n->n_langs = nt;
}

/* ---- address lists (RFC 5322 3.4) for ENVELOPE ---- */

static const char missing_mailbox[] = "MISSING_MAILBOX";
static const char missing_domain[] = "MISSING_DOMAIN";

struct addr_list {
	struct addr *head, **tail;
};

static int
addr_add(struct mime_parser *p, struct addr_list *l, const char *name,
    const char *adl, const char *mailbox, const char *host)
{
	struct addr *a = arena_zalloc(p->a, sizeof(*a));

	if (a == NULL)
		return p->error = -ENOMEM;
	a->name = name;
	a->adl = adl;
	a->mailbox = mailbox;
	a->host = host;
	*l->tail = a;
	l->tail = &a->next;
	return 0;
}

static bool
is_addr_special(char c)
{
	return c == ',' || c == ';' || c == ':' || c == '<' || c == '>' ||
	    c == '@' || c == '"' || c == '(' || is_wsp(c);
}

/*
 * A phrase: words (atoms with dots, quoted-strings) and comments up to a
 * special.  sp gets the words joined by single spaces (a display name or
 * group name, encoded-words left as they are: RFC 3501 returns them raw),
 * cat the words run together (a local-part), com the last comment.
 */
struct phrase {
	char *sp, *cat, *com;
	size_t sp_len, cat_len, com_len, words;
};

static void
read_phrase(struct cur *c, struct phrase *ph)
{
	ph->sp_len = ph->cat_len = ph->words = 0;
	while (c->p < c->end) {
		char ch = *c->p;
		size_t n;

		if (is_wsp(ch)) {
			c->p++;
			continue;
		}
		if (ch == '(') {
			ph->com_len = 0;
			skip_comment(c, ph->com, &ph->com_len);
			continue;
		}
		if (ch == '"') {
			if (ph->words++ > 0)
				ph->sp[ph->sp_len++] = ' ';
			n = read_quoted(c, ph->sp + ph->sp_len);
			memcpy(ph->cat + ph->cat_len, ph->sp + ph->sp_len, n);
			ph->sp_len += n;
			ph->cat_len += n;
			continue;
		}
		if (is_addr_special(ch))
			break;
		if (ph->words++ > 0)
			ph->sp[ph->sp_len++] = ' ';
		while (c->p < c->end && !is_addr_special(*c->p)) {
			ph->sp[ph->sp_len++] = *c->p;
			ph->cat[ph->cat_len++] = *c->p++;
		}
	}
}

/* A domain after '@': dot-atoms and [literals] run together. */
static const char *
read_domain(struct mime_parser *p, struct cur *c, struct phrase *ph)
{
	size_t n = 0;
	char *d = ph->cat;	/* the local-part was copied out already */

	while (c->p < c->end) {
		char ch = *c->p;

		if (is_wsp(ch)) {
			c->p++;
		} else if (ch == '(') {
			ph->com_len = 0;
			skip_comment(c, ph->com, &ph->com_len);
		} else if (ch == '[') {
			while (c->p < c->end && *c->p != ']')
				d[n++] = *c->p++;
			if (c->p < c->end)
				d[n++] = *c->p++;
		} else if (ch == ',' || ch == ';' || ch == '<' || ch == '>' ||
		    ch == ':' || ch == '"' || ch == '@') {
			break;
		} else {
			d[n++] = *c->p++;
		}
	}
	if (n == 0)
		return missing_domain;
	return mime_pdup(p, d, n);
}

static const char *
phrase_or_null(struct mime_parser *p, const char *s, size_t len)
{
	return len == 0 ? NULL : mime_pdup(p, s, len);
}

/* <[@route,@route:]local@domain> at c->p == '<' */
static int
read_angle(struct mime_parser *p, struct cur *c, struct phrase *ph,
    struct addr_list *l)
{
	const char *name, *adl = NULL, *mailbox, *host = missing_domain;
	const char *r;

	name = phrase_or_null(p, ph->sp, ph->sp_len);
	c->p++;
	mime_skip_cfws(c);
	if (c->p < c->end && *c->p == '@') {
		r = c->p;
		while (c->p < c->end && *c->p != ':' && *c->p != '>')
			c->p++;
		if (c->p < c->end && *c->p == ':') {
			size_t i, n = 0;
			char *d = ph->cat;

			/* the route without its white space */
			for (i = 0; r + i < c->p; i++) {
				if (!is_wsp(r[i]))
					d[n++] = r[i];
			}
			adl = mime_pdup(p, d, n);
			c->p++;
		} else {
			c->p = r;
		}
	}
	ph->com_len = 0;
	read_phrase(c, ph);
	mailbox = ph->cat_len > 0 ? mime_pdup(p, ph->cat, ph->cat_len) :
	    missing_mailbox;
	if (c->p < c->end && *c->p == '@') {
		c->p++;
		host = read_domain(p, c, ph);
	}
	while (c->p < c->end && *c->p != '>' && *c->p != ',' &&
	    *c->p != ';')
		c->p++;
	if (c->p < c->end && *c->p == '>')
		c->p++;
	if (p->error != 0)
		return p->error;
	if (name == NULL && mailbox == missing_mailbox &&
	    host == missing_domain)
		return 0;	/* "<>": no address at all */
	return addr_add(p, l, name, adl, mailbox, host);
}

struct addr *
mime_parse_addresses(struct mime_parser *p, const char *v, size_t len)
{
	struct addr_list l = { NULL, &l.head };
	struct cur c = { v, v + len };
	struct phrase ph;
	bool in_group = false;

	if (!mime_grow(p, &p->scratch, &p->scratch_cap, 0, 3 * (len + 1), 0))
		return NULL;
	ph.sp = p->scratch;
	ph.cat = p->scratch + len + 1;
	ph.com = p->scratch + 2 * (len + 1);
	while (c.p < c.end && p->error == 0) {
		const char *name, *mailbox;

		ph.com_len = 0;
		read_phrase(&c, &ph);
		if (c.p >= c.end || *c.p == ',' || *c.p == ';') {
			/* one word is a local-part without a domain, more
			   are a display name without an address */
			if (ph.words == 1) {
				name = phrase_or_null(p, ph.com, ph.com_len);
				mailbox = mime_pdup(p, ph.sp, ph.sp_len);
				if (mailbox != NULL)
					(void)addr_add(p, &l, name, NULL,
					    mailbox, missing_domain);
			} else if (ph.words > 1) {
				name = mime_pdup(p, ph.sp, ph.sp_len);
				if (name != NULL)
					(void)addr_add(p, &l, name, NULL,
					    missing_mailbox, missing_domain);
			}
			if (c.p < c.end && *c.p == ';' && in_group) {
				(void)addr_add(p, &l, NULL, NULL, NULL, NULL);
				in_group = false;
			}
			if (c.p < c.end)
				c.p++;
			continue;
		}
		switch (*c.p) {
		case ':':
			c.p++;
			if (in_group)
				continue;	/* groups do not nest */
			name = mime_pdup(p, ph.sp, ph.sp_len);
			if (name != NULL)
				(void)addr_add(p, &l, NULL, NULL, name, NULL);
			in_group = true;
			break;
		case '<':
			(void)read_angle(p, &c, &ph, &l);
			break;
		case '@':
			c.p++;
			mailbox = ph.cat_len > 0 ?
			    mime_pdup(p, ph.cat, ph.cat_len) : missing_mailbox;
			if (mailbox == NULL)
				break;
			{
				const char *host = read_domain(p, &c, &ph);

				name = phrase_or_null(p, ph.com, ph.com_len);
				if (host != NULL && p->error == 0)
					(void)addr_add(p, &l, name, NULL,
					    mailbox, host);
			}
			/* junk up to the next separator */
			while (c.p < c.end && *c.p != ',' && *c.p != ';')
				c.p++;
			break;
		default:
			c.p++;	/* a stray '>' */
			break;
		}
	}
	if (in_group && p->error == 0)
		(void)addr_add(p, &l, NULL, NULL, NULL, NULL);
	return p->error != 0 ? NULL : l.head;
}
