/* smtp_parse.c: pure SMTP command-line parser (RFC 5321 and its extensions) */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "arena.h"
#include "smtp_addr.h"
#include "smtp_parse.h"
#include "util.h"

/* RFC 3461 4.4 and 4.2: longest ENVID and ORCPT values we take */
#define ENVID_MAX	100
#define ORCPT_MAX	500
/* RFC 4954 section 4: sasl-mech = 1*20(UPPER-ALPHA / DIGIT / "-" / "_") */
#define SASL_MECH_MAX	20
/* RFC 1870: size-value = 1*20DIGIT */
#define SIZE_DIGITS_MAX	20

static const struct smtp_status status_table[SMTP_PERR_COUNT_] = {
	[SMTP_PERR_NONE] = { 250, "2.0.0", "OK" },
	[SMTP_PERR_UNKNOWN] = { 500, "5.5.2", "Command unrecognized" },
	[SMTP_PERR_LINE_TOO_LONG] = { 500, "5.5.2", "Line too long" },
	[SMTP_PERR_BARE_LF] = { 500, "5.5.2",
	    "Bare LF received, lines must end in CRLF" },
	[SMTP_PERR_BAD_CHAR] = { 500, "5.5.2",
	    "Invalid control character in command" },
	[SMTP_PERR_NO_ARGS] = { 501, "5.5.4",
	    "Syntax error, no parameters allowed" },
	[SMTP_PERR_HELO_SYNTAX] = { 501, "5.5.4",
	    "Syntax: EHLO domain-or-address-literal" },
	[SMTP_PERR_HELO_DOMAIN] = { 501, "5.5.4",
	    "Invalid domain name or address literal" },
	[SMTP_PERR_MAIL_SYNTAX] = { 501, "5.5.4",
	    "Syntax: MAIL FROM:<address> [parameters]" },
	[SMTP_PERR_RCPT_SYNTAX] = { 501, "5.5.4",
	    "Syntax: RCPT TO:<address> [parameters]" },
	[SMTP_PERR_BAD_SENDER] = { 501, "5.1.7", "Bad sender address syntax" },
	[SMTP_PERR_BAD_RCPT] = { 501, "5.1.3",
	    "Bad recipient address syntax" },
	[SMTP_PERR_SENDER_TOO_LONG] = { 501, "5.1.7",
	    "Sender address too long" },
	[SMTP_PERR_RCPT_TOO_LONG] = { 501, "5.1.3",
	    "Recipient address too long" },
	[SMTP_PERR_UTF8_ADDR] = { 553, "5.6.7",
	    "Non-ASCII address requires SMTPUTF8" },
	[SMTP_PERR_PARAM_SYNTAX] = { 501, "5.5.4", "Invalid parameter" },
	[SMTP_PERR_PARAM_UNKNOWN] = { 555, "5.5.4",
	    "Parameter not recognized or not implemented" },
	[SMTP_PERR_BDAT_SYNTAX] = { 501, "5.5.4",
	    "Syntax: BDAT chunk-size [LAST]" },
	[SMTP_PERR_AUTH_SYNTAX] = { 501, "5.5.4",
	    "Syntax: AUTH mechanism [initial-response]" },
	[SMTP_PERR_AUTH_BASE64] = { 501, "5.5.2",
	    "Cannot Base64-decode initial response" },
	[SMTP_PERR_VRFY_SYNTAX] = { 501, "5.5.4",
	    "Syntax: VRFY or EXPN string" },
};

static const struct {
	const char *name;
	enum smtp_verb verb;
} verb_table[] = {
	{ "EHLO", SMTP_VERB_EHLO },
	{ "HELO", SMTP_VERB_HELO },
	{ "MAIL", SMTP_VERB_MAIL },
	{ "RCPT", SMTP_VERB_RCPT },
	{ "DATA", SMTP_VERB_DATA },
	{ "BDAT", SMTP_VERB_BDAT },
	{ "RSET", SMTP_VERB_RSET },
	{ "NOOP", SMTP_VERB_NOOP },
	{ "QUIT", SMTP_VERB_QUIT },
	{ "HELP", SMTP_VERB_HELP },
	{ "VRFY", SMTP_VERB_VRFY },
	{ "EXPN", SMTP_VERB_EXPN },
	{ "AUTH", SMTP_VERB_AUTH },
	{ "STARTTLS", SMTP_VERB_STARTTLS },
};

/* Parameters seen in one command, to refuse duplicates. */
enum param_bit {
	P_SIZE = 1 << 0,
	P_BODY = 1 << 1,
	P_SMTPUTF8 = 1 << 2,
	P_RET = 1 << 3,
	P_ENVID = 1 << 4,
	P_AUTH = 1 << 5,
	P_NOTIFY = 1 << 6,
	P_ORCPT = 1 << 7,
};

struct pctx {
	struct arena *a;
	const struct smtp_parse_opts *o;
	struct smtp_cmd *cmd;
	const char *s;
	size_t len;		/* trailing blanks already cut off */
	size_t pos;
	bool nomem;
	unsigned seen;		/* enum param_bit */
};

const char *
smtp_verb_name(enum smtp_verb verb)
{
	size_t i;

	for (i = 0; i < sizeof(verb_table) / sizeof(verb_table[0]); i++)
		if (verb_table[i].verb == verb)
			return verb_table[i].name;
	return "UNKNOWN";
}

const struct smtp_status *
smtp_parse_status(enum smtp_perr err)
{
	if ((unsigned)err >= SMTP_PERR_COUNT_)
		err = SMTP_PERR_UNKNOWN;
	return &status_table[err];
}

void
smtp_parse_opts_init(struct smtp_parse_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->max_path_len = 256;
	o->max_local_len = 64;
}

static char
upper(char c)
{
	return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool
is_alnum(char c)
{
	return is_digit(c) || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* Case-insensitive compare of s[0..n) with an upper-case literal. */
static bool
word_eq(const char *s, size_t n, const char *lit)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (lit[i] == '\0' || upper(s[i]) != lit[i])
			return false;
	return lit[n] == '\0';
}

long
smtp_xtext_decode(const char *in, size_t len, char *out)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c == '+') {
			int hi, lo;

			/* RFC 3461 says upper-case hex; lower case is
			   unambiguous and sloppy clients send it */
			if (len - i < 3)
				return -EINVAL;
			hi = util_hexval(in[i + 1]);
			lo = util_hexval(in[i + 2]);
			if (hi < 0 || lo < 0)
				return -EINVAL;
			out[n++] = (char)(hi << 4 | lo);
			i += 2;
		} else if (c < 33 || c > 126 || c == '=') {
			return -EINVAL;
		} else {
			out[n++] = (char)c;
		}
	}
	return (long)n;
}

static char *
dup(struct pctx *c, const char *p, size_t n)
{
	char *r = arena_strndup(c->a, p, n);

	if (r == NULL)
		c->nomem = true;
	return r;
}

static size_t
skip_sp(struct pctx *c)
{
	size_t start = c->pos;

	while (c->pos < c->len && c->s[c->pos] == ' ')
		c->pos++;
	return c->pos - start;
}

/* Length of the word at pos (up to a space or the end). */
static size_t
word_len(const struct pctx *c)
{
	size_t i = c->pos;

	while (i < c->len && c->s[i] != ' ')
		i++;
	return i - c->pos;
}

static bool
printable_ascii(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 32 || (unsigned char)s[i] > 126)
			return false;
	return true;
}

/* ---- EHLO / HELO --------------------------------------------------- */

static enum smtp_perr
parse_helo(struct pctx *c)
{
	struct smtp_cmd *cmd = c->cmd;
	unsigned flags = SMTP_ADDR_UNDERSCORE;
	const char *w;
	size_t n;

	if (skip_sp(c) == 0 || c->pos >= c->len)
		return SMTP_PERR_HELO_SYNTAX;
	w = c->s + c->pos;
	n = word_len(c);
	c->pos += n;
	if (c->pos < c->len)
		return SMTP_PERR_HELO_SYNTAX;	/* RFC 5321 4.1.1.1: one */
	if (smtp_addr_is_literal(w, n)) {
		if (smtp_addr_literal_parse(w, n, NULL) == 0)
			return SMTP_PERR_HELO_DOMAIN;
		cmd->helo_literal = true;
	} else {
		/* a U-label only where the client could know we take it */
		if (cmd->verb == SMTP_VERB_EHLO &&
		    (c->o->ext & SMTP_EXT_SMTPUTF8))
			flags |= SMTP_ADDR_UTF8;
		if (!smtp_addr_domain_valid(w, n, flags))
			return SMTP_PERR_HELO_DOMAIN;
	}
	cmd->arg = dup(c, w, n);
	return SMTP_PERR_NONE;
}

/* ---- paths --------------------------------------------------------- */

/* A-d-l = At-domain *( "," At-domain ) ":"; returns bytes used or 0. */
static size_t
route_len(const char *s, size_t n)
{
	size_t i = 0;

	for (;;) {
		size_t start;

		if (i >= n || s[i] != '@')
			return 0;
		start = ++i;
		while (i < n && s[i] != ',' && s[i] != ':')
			i++;
		if (i >= n || !smtp_addr_domain_valid(s + start, i - start, 0))
			return 0;
		if (s[i++] == ':')
			return i;
	}
}

/*
 * Parses "<...>" at pos.  Sets *junk_r when the path is followed by
 * something other than a space (a command syntax error rather than an
 * address one).
 */
static enum smtp_perr
parse_path(struct pctx *c, struct smtp_path *path, bool is_mail,
    bool *junk_r)
{
	enum smtp_perr bad = is_mail ? SMTP_PERR_BAD_SENDER :
	    SMTP_PERR_BAD_RCPT;
	enum smtp_perr too_long = is_mail ? SMTP_PERR_SENDER_TOO_LONG :
	    SMTP_PERR_RCPT_TOO_LONG;
	const char *in, *mbox;
	size_t i, n, route, mlen, at;
	bool quoted = false;
	char *plain;

	*junk_r = false;
	/* find the closing '>' outside a quoted local part */
	for (i = c->pos + 1; i < c->len; i++) {
		char ch = c->s[i];

		if (quoted) {
			if (ch == '\\' && i + 1 < c->len)
				i++;
			else if (ch == '"')
				quoted = false;
		} else if (ch == '"') {
			quoted = true;
		} else if (ch == '>') {
			break;
		}
	}
	if (i >= c->len)
		return bad;
	in = c->s + c->pos + 1;
	n = i - c->pos - 1;
	c->pos = i + 1;
	if (c->pos < c->len && c->s[c->pos] != ' ') {
		*junk_r = true;
		return bad;
	}
	if (c->o->max_path_len != 0 && n + 2 > c->o->max_path_len)
		return too_long;

	if (n == 0) {
		if (!is_mail)
			return bad;
		path->is_null = true;
		path->mailbox = path->local = path->local_plain =
		    path->domain = "";
		return SMTP_PERR_NONE;
	}
	route = 0;
	if (in[0] == '@') {
		route = route_len(in, n);
		if (route == 0)
			return bad;
		path->had_route = true;
	}
	mbox = in + route;
	mlen = n - route;

	/* RFC 5321 4.5.1: <Postmaster> alone, case-insensitive, RCPT only */
	if (!is_mail && route == 0 && word_eq(mbox, mlen, "POSTMASTER")) {
		path->is_postmaster = true;
		path->mailbox = path->local = path->local_plain =
		    dup(c, mbox, mlen);
		path->domain = "";
		return SMTP_PERR_NONE;
	}
	/* UTF-8 is scanned here and refused later unless SMTPUTF8 holds */
	if (smtp_addr_mailbox_check(mbox, mlen, SMTP_ADDR_UTF8, &at) != 0)
		return bad;
	if (c->o->max_local_len != 0 && at > c->o->max_local_len)
		return too_long;

	path->is_quoted = mbox[0] == '"';
	path->is_literal = smtp_addr_is_literal(mbox + at + 1, mlen - at - 1);
	path->is_utf8 = smtp_addr_has_8bit(mbox, mlen);
	path->mailbox = dup(c, mbox, mlen);
	path->local = dup(c, mbox, at);
	path->domain = dup(c, mbox + at + 1, mlen - at - 1);
	if (path->is_quoted) {
		plain = arena_alloc(c->a, at + 1);
		if (plain == NULL) {
			c->nomem = true;
		} else {
			plain[smtp_addr_local_unquote(mbox, at, plain)] = '\0';
			path->local_plain = plain;
		}
	} else {
		path->local_plain = path->local;
	}
	return SMTP_PERR_NONE;
}

/* ---- ESMTP parameters ---------------------------------------------- */

static enum smtp_perr
param_size(struct pctx *c, const char *v, size_t n)
{
	uint64_t size = 0;
	size_t i;

	if (n == 0 || n > SIZE_DIGITS_MAX)
		return SMTP_PERR_PARAM_SYNTAX;
	for (i = 0; i < n; i++) {
		unsigned d;

		if (!is_digit(v[i]))
			return SMTP_PERR_PARAM_SYNTAX;
		d = (unsigned)(v[i] - '0');
		/* 20 digits may exceed 2^64: that is "too big", not bad
		   syntax, so saturate and let the session say 552 */
		if (size > (UINT64_MAX - d) / 10)
			size = UINT64_MAX;
		else
			size = size * 10 + d;
	}
	c->cmd->mail.size = size;
	c->cmd->mail.has_size = true;
	return SMTP_PERR_NONE;
}

static enum smtp_perr
param_body(struct pctx *c, const char *v, size_t n)
{
	if (word_eq(v, n, "7BIT")) {
		c->cmd->mail.body = SMTP_BODY_7BIT;
	} else if (word_eq(v, n, "8BITMIME")) {
		c->cmd->mail.body = SMTP_BODY_8BITMIME;
	} else if (word_eq(v, n, "BINARYMIME")) {
		if (!(c->o->ext & SMTP_EXT_BINARYMIME))
			return SMTP_PERR_PARAM_UNKNOWN;
		c->cmd->mail.body = SMTP_BODY_BINARYMIME;
	} else {
		return SMTP_PERR_PARAM_SYNTAX;
	}
	return SMTP_PERR_NONE;
}

/* Decodes xtext into the arena; NULL on bad syntax (nomem flagged). */
static char *
xtext_dup(struct pctx *c, const char *v, size_t n, size_t *len_r)
{
	char *out = arena_alloc(c->a, n + 1);
	long r;

	if (out == NULL) {
		c->nomem = true;
		return NULL;
	}
	r = smtp_xtext_decode(v, n, out);
	if (r < 0)
		return NULL;
	out[r] = '\0';
	*len_r = (size_t)r;
	return out;
}

static enum smtp_perr
param_envid(struct pctx *c, const char *v, size_t n)
{
	size_t dlen;
	char *d = xtext_dup(c, v, n, &dlen);

	if (d == NULL)
		return SMTP_PERR_PARAM_SYNTAX;
	/* RFC 3461 4.4: printable US-ASCII, at most 100 characters */
	if (dlen == 0 || dlen > ENVID_MAX || !printable_ascii(d, dlen))
		return SMTP_PERR_PARAM_SYNTAX;
	c->cmd->mail.envid = d;
	c->cmd->mail.envid_xtext = dup(c, v, n);
	return SMTP_PERR_NONE;
}

static enum smtp_perr
param_auth(struct pctx *c, const char *v, size_t n)
{
	size_t dlen;
	char *d = xtext_dup(c, v, n, &dlen);

	if (d == NULL)
		return SMTP_PERR_PARAM_SYNTAX;
	/* RFC 4954 section 5: "<>" or an addr-spec */
	if (strcmp(d, "<>") != 0 &&
	    smtp_addr_mailbox_check(d, dlen, 0, NULL) != 0)
		return SMTP_PERR_PARAM_SYNTAX;
	c->cmd->mail.auth = d;
	return SMTP_PERR_NONE;
}

static enum smtp_perr
param_notify(struct pctx *c, const char *v, size_t n)
{
	unsigned bits = 0;
	size_t i = 0;

	while (i <= n) {
		size_t start = i;
		unsigned bit;

		while (i < n && v[i] != ',')
			i++;
		if (word_eq(v + start, i - start, "NEVER"))
			bit = SMTP_NOTIFY_NEVER;
		else if (word_eq(v + start, i - start, "SUCCESS"))
			bit = SMTP_NOTIFY_SUCCESS;
		else if (word_eq(v + start, i - start, "FAILURE"))
			bit = SMTP_NOTIFY_FAILURE;
		else if (word_eq(v + start, i - start, "DELAY"))
			bit = SMTP_NOTIFY_DELAY;
		else
			return SMTP_PERR_PARAM_SYNTAX;
		if (bits & bit)
			return SMTP_PERR_PARAM_SYNTAX;
		bits |= bit;
		i++;
	}
	/* RFC 3461 4.1: NEVER stands alone */
	if ((bits & SMTP_NOTIFY_NEVER) && bits != SMTP_NOTIFY_NEVER)
		return SMTP_PERR_PARAM_SYNTAX;
	c->cmd->rcpt.notify = bits;
	return SMTP_PERR_NONE;
}

static enum smtp_perr
param_orcpt(struct pctx *c, const char *v, size_t n)
{
	struct smtp_cmd *cmd = c->cmd;
	const char *val;
	size_t i, tlen, vlen, dlen;
	char *d;

	if (n > ORCPT_MAX)
		return SMTP_PERR_PARAM_SYNTAX;
	for (i = 0; i < n && v[i] != ';'; i++)
		;
	tlen = i;
	if (i >= n || tlen == 0)
		return SMTP_PERR_PARAM_SYNTAX;
	/* addr-type = atom: a Dot-string without dots */
	if (v[0] == '"' || smtp_addr_local_scan(v, tlen, 0, NULL) != tlen ||
	    memchr(v, '.', tlen) != NULL)
		return SMTP_PERR_PARAM_SYNTAX;
	val = v + tlen + 1;
	vlen = n - tlen - 1;
	if (vlen == 0)
		return SMTP_PERR_PARAM_SYNTAX;
	if (word_eq(v, tlen, "RFC822")) {
		d = xtext_dup(c, val, vlen, &dlen);
		if (d == NULL || dlen == 0 || !printable_ascii(d, dlen))
			return SMTP_PERR_PARAM_SYNTAX;
		cmd->rcpt.orcpt_addr = d;
	} else if (word_eq(v, tlen, "UTF-8") &&
	    smtp_addr_has_8bit(val, vlen)) {
		/* RFC 6533 utf-8-addr-unitext: raw UTF-8 only in an
		   SMTPUTF8 transaction */
		if (!c->o->utf8_tx || !smtp_utf8_valid(val, vlen))
			return SMTP_PERR_PARAM_SYNTAX;
	} else {
		/* other types are kept as sent; they must still be xtext */
		if (xtext_dup(c, val, vlen, &dlen) == NULL)
			return SMTP_PERR_PARAM_SYNTAX;
	}
	cmd->rcpt.orcpt_type = dup(c, v, tlen);
	cmd->rcpt.orcpt_raw = dup(c, val, vlen);
	return SMTP_PERR_NONE;
}

/* One ESMTP parameter: the extension that enables it, whether it belongs
   to RCPT (else MAIL), and the value handler (NULL: handled inline). */
struct param_def {
	const char *name;
	unsigned bit;
	unsigned ext;
	bool is_rcpt;
	enum smtp_perr (*fn)(struct pctx *, const char *, size_t);
};

static const struct param_def param_defs[] = {
	{ "SIZE", P_SIZE, SMTP_EXT_SIZE, false, param_size },
	{ "BODY", P_BODY, SMTP_EXT_8BITMIME | SMTP_EXT_BINARYMIME, false,
	    param_body },
	{ "SMTPUTF8", P_SMTPUTF8, SMTP_EXT_SMTPUTF8, false, NULL },
	{ "RET", P_RET, SMTP_EXT_DSN, false, NULL },
	{ "ENVID", P_ENVID, SMTP_EXT_DSN, false, param_envid },
	{ "AUTH", P_AUTH, SMTP_EXT_AUTH, false, param_auth },
	{ "NOTIFY", P_NOTIFY, SMTP_EXT_DSN, true, param_notify },
	{ "ORCPT", P_ORCPT, SMTP_EXT_DSN, true, param_orcpt },
	{ NULL, 0, 0, false, NULL },
};

static enum smtp_perr
parse_param(struct pctx *c, bool is_rcpt, const char *w, size_t n)
{
	const struct param_def *def;
	const char *v = NULL;
	size_t i, klen, vlen = 0;
	char *up;

	for (klen = 0; klen < n && w[klen] != '='; klen++)
		;
	/* esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-") */
	if (klen == 0 || !is_alnum(w[0]))
		return SMTP_PERR_PARAM_SYNTAX;
	for (i = 1; i < klen; i++)
		if (!is_alnum(w[i]) && w[i] != '-')
			return SMTP_PERR_PARAM_SYNTAX;
	up = arena_alloc(c->a, klen + 1);
	if (up == NULL) {
		c->nomem = true;
		return SMTP_PERR_PARAM_SYNTAX;
	}
	for (i = 0; i < klen; i++)
		up[i] = upper(w[i]);
	up[klen] = '\0';
	c->cmd->err_param = up;

	if (klen < n) {
		v = w + klen + 1;
		vlen = n - klen - 1;
		/* esmtp-value = 1*(%d33-60 / %d62-126), UTF-8 per RFC 6531;
		   the handlers narrow it further */
		if (vlen == 0)
			return SMTP_PERR_PARAM_SYNTAX;
		for (i = 0; i < vlen; i++) {
			unsigned char ch = (unsigned char)v[i];

			if (ch < 33 || ch == '=' || ch == 127)
				return SMTP_PERR_PARAM_SYNTAX;
		}
	}

	for (def = param_defs; def->name != NULL; def++)
		if (def->is_rcpt == is_rcpt && word_eq(w, klen, def->name))
			break;
	if (def->name == NULL || !(c->o->ext & def->ext))
		return SMTP_PERR_PARAM_UNKNOWN;
	if (c->seen & def->bit)
		return SMTP_PERR_PARAM_SYNTAX;
	c->seen |= def->bit;

	if (def->bit == P_SMTPUTF8) {
		if (v != NULL)
			return SMTP_PERR_PARAM_SYNTAX;
		c->cmd->mail.smtputf8 = true;
	} else if (v == NULL) {
		return SMTP_PERR_PARAM_SYNTAX;
	} else if (def->bit == P_RET) {
		if (word_eq(v, vlen, "FULL"))
			c->cmd->mail.ret = SMTP_RET_FULL;
		else if (word_eq(v, vlen, "HDRS"))
			c->cmd->mail.ret = SMTP_RET_HDRS;
		else
			return SMTP_PERR_PARAM_SYNTAX;
	} else {
		enum smtp_perr e = def->fn(c, v, vlen);

		if (e != SMTP_PERR_NONE)
			return e;
	}
	c->cmd->err_param = NULL;
	return SMTP_PERR_NONE;
}

static enum smtp_perr
parse_params(struct pctx *c, bool is_rcpt)
{
	while (c->pos < c->len) {
		enum smtp_perr e;
		const char *w;
		size_t n;

		/* parse_path guaranteed a space; trailing ones are cut */
		skip_sp(c);
		w = c->s + c->pos;
		n = word_len(c);
		c->pos += n;
		e = parse_param(c, is_rcpt, w, n);
		if (e != SMTP_PERR_NONE || c->nomem)
			return e;
	}
	return SMTP_PERR_NONE;
}

/* ---- MAIL / RCPT --------------------------------------------------- */

static enum smtp_perr
parse_mail_rcpt(struct pctx *c, bool is_mail)
{
	struct smtp_cmd *cmd = c->cmd;
	struct smtp_path *path = is_mail ? &cmd->mail.path : &cmd->rcpt.path;
	enum smtp_perr syntax = is_mail ? SMTP_PERR_MAIL_SYNTAX :
	    SMTP_PERR_RCPT_SYNTAX;
	const char *kw = is_mail ? "FROM:" : "TO:";
	size_t kwlen = strlen(kw);
	enum smtp_perr e;
	bool junk, utf8_ok;

	if (skip_sp(c) == 0 || c->len - c->pos < kwlen ||
	    !word_eq(c->s + c->pos, kwlen, kw))
		return syntax;
	c->pos += kwlen;
	/* RFC 5321 has no space here; many clients send one, harmlessly */
	skip_sp(c);
	if (c->pos >= c->len || c->s[c->pos] != '<')
		return syntax;
	e = parse_path(c, path, is_mail, &junk);
	if (junk)
		return syntax;
	if (e != SMTP_PERR_NONE || c->nomem)
		return e;
	e = parse_params(c, !is_mail);
	if (e != SMTP_PERR_NONE || c->nomem)
		return e;
	/* RFC 6531 3.4: UTF-8 only under MAIL ... SMTPUTF8 */
	utf8_ok = is_mail ? cmd->mail.smtputf8 : c->o->utf8_tx;
	if (path->is_utf8 && !utf8_ok)
		return SMTP_PERR_UTF8_ADDR;
	return SMTP_PERR_NONE;
}

/* ---- the rest ------------------------------------------------------ */

static enum smtp_perr
parse_vrfy(struct pctx *c)
{
	struct smtp_cmd *cmd = c->cmd;
	const char *arg;
	size_t n;

	if (skip_sp(c) == 0 || c->pos >= c->len)
		return SMTP_PERR_VRFY_SYNTAX;
	arg = c->s + c->pos;
	n = c->len - c->pos;
	/* RFC 6531 3.7.4.2: VRFY string [SP "SMTPUTF8"] */
	if ((c->o->ext & SMTP_EXT_SMTPUTF8) && n > 9 &&
	    word_eq(arg + n - 8, 8, "SMTPUTF8") && arg[n - 9] == ' ') {
		cmd->vrfy_utf8 = true;
		n -= 9;
		while (n > 0 && arg[n - 1] == ' ')
			n--;
	}
	if (smtp_addr_has_8bit(arg, n)) {
		if (!smtp_utf8_valid(arg, n))
			return SMTP_PERR_VRFY_SYNTAX;
		if (!cmd->vrfy_utf8)
			return SMTP_PERR_UTF8_ADDR;
	}
	cmd->arg = dup(c, arg, n);
	return SMTP_PERR_NONE;
}

static enum smtp_perr
parse_optional_arg(struct pctx *c)
{
	/* the verb word ended at a space, so one follows if anything does */
	if (skip_sp(c) == 0)
		return SMTP_PERR_NONE;
	c->cmd->arg = dup(c, c->s + c->pos, c->len - c->pos);
	return SMTP_PERR_NONE;
}

static bool
is_b64(char ch)
{
	return is_alnum(ch) || ch == '+' || ch == '/';
}

static enum smtp_perr
parse_auth(struct pctx *c)
{
	struct smtp_cmd *cmd = c->cmd;
	const char *w;
	size_t i, n, pad;
	char *mech;

	if (skip_sp(c) == 0 || c->pos >= c->len)
		return SMTP_PERR_AUTH_SYNTAX;
	w = c->s + c->pos;
	n = word_len(c);
	c->pos += n;
	if (n > SASL_MECH_MAX)
		return SMTP_PERR_AUTH_SYNTAX;
	for (i = 0; i < n; i++)
		if (!is_alnum(w[i]) && w[i] != '-' && w[i] != '_')
			return SMTP_PERR_AUTH_SYNTAX;
	mech = dup(c, w, n);
	if (mech == NULL)
		return SMTP_PERR_NONE;
	for (i = 0; i < n; i++)
		mech[i] = upper(mech[i]);
	cmd->auth.mech = mech;

	if (c->pos >= c->len)
		return SMTP_PERR_NONE;
	skip_sp(c);
	w = c->s + c->pos;
	n = word_len(c);
	c->pos += n;
	if (c->pos < c->len)
		return SMTP_PERR_AUTH_SYNTAX;
	if (!(n == 1 && w[0] == '=')) {
		/* base64 with padding, RFC 4648 section 4 */
		if (n % 4 != 0)
			return SMTP_PERR_AUTH_BASE64;
		pad = 0;
		while (pad < 2 && pad < n && w[n - 1 - pad] == '=')
			pad++;
		for (i = 0; i < n - pad; i++)
			if (!is_b64(w[i]))
				return SMTP_PERR_AUTH_BASE64;
	}
	cmd->auth.initial = (const uint8_t *)w;
	cmd->auth.initial_len = n;
	return SMTP_PERR_NONE;
}

static enum smtp_perr
parse_bdat(struct pctx *c)
{
	struct smtp_cmd *cmd = c->cmd;
	uint64_t size = 0;
	const char *w;
	size_t i, n;

	if (skip_sp(c) == 0 || c->pos >= c->len)
		return SMTP_PERR_BDAT_SYNTAX;
	w = c->s + c->pos;
	n = word_len(c);
	c->pos += n;
	for (i = 0; i < n; i++) {
		unsigned d;

		if (!is_digit(w[i]))
			return SMTP_PERR_BDAT_SYNTAX;
		d = (unsigned)(w[i] - '0');
		if (size > (UINT64_MAX - d) / 10)
			return SMTP_PERR_BDAT_SYNTAX;
		size = size * 10 + d;
	}
	cmd->bdat.size = size;
	if (c->pos < c->len) {
		skip_sp(c);
		w = c->s + c->pos;
		n = word_len(c);
		c->pos += n;
		if (!word_eq(w, n, "LAST") || c->pos < c->len)
			return SMTP_PERR_BDAT_SYNTAX;
		cmd->bdat.last = true;
	}
	return SMTP_PERR_NONE;
}

static enum smtp_perr
dispatch(struct pctx *c)
{
	switch (c->cmd->verb) {
	case SMTP_VERB_EHLO:
	case SMTP_VERB_HELO:
		return parse_helo(c);
	case SMTP_VERB_MAIL:
		return parse_mail_rcpt(c, true);
	case SMTP_VERB_RCPT:
		return parse_mail_rcpt(c, false);
	case SMTP_VERB_BDAT:
		return parse_bdat(c);
	case SMTP_VERB_AUTH:
		return parse_auth(c);
	case SMTP_VERB_VRFY:
	case SMTP_VERB_EXPN:
		return parse_vrfy(c);
	case SMTP_VERB_HELP:
	case SMTP_VERB_NOOP:
		return parse_optional_arg(c);
	case SMTP_VERB_DATA:
	case SMTP_VERB_RSET:
	case SMTP_VERB_QUIT:
	case SMTP_VERB_STARTTLS:
		return c->pos < c->len ? SMTP_PERR_NO_ARGS : SMTP_PERR_NONE;
	case SMTP_VERB_UNKNOWN:
		break;
	}
	return SMTP_PERR_UNKNOWN;
}

int
smtp_parse_line(struct arena *a, const struct smtp_parse_opts *o,
    const uint8_t *line, size_t len, bool crlf, struct smtp_cmd *cmd)
{
	struct pctx c;
	bool bad_char = false;
	size_t i, vlen;

	memset(cmd, 0, sizeof(*cmd));
	memset(&c, 0, sizeof(c));
	c.a = a;
	c.o = o;
	c.cmd = cmd;
	c.s = (const char *)line;
	c.len = len;

	/* NUL, a CR that was not part of CRLF, and other controls have no
	   place in a command and would confuse logs and later stages */
	for (i = 0; i < len; i++)
		if ((line[i] < 0x20 && line[i] != '\t') || line[i] == 0x7f)
			bad_char = true;
	while (c.len > 0 && (c.s[c.len - 1] == ' ' || c.s[c.len - 1] == '\t'))
		c.len--;

	vlen = word_len(&c);
	for (i = 0; i < sizeof(verb_table) / sizeof(verb_table[0]); i++) {
		if (word_eq(c.s, vlen, verb_table[i].name)) {
			cmd->verb = verb_table[i].verb;
			break;
		}
	}
	c.pos = vlen;

	if (!crlf && o->require_crlf)
		cmd->err = SMTP_PERR_BARE_LF;
	else if (bad_char)
		cmd->err = SMTP_PERR_BAD_CHAR;
	else if (cmd->verb == SMTP_VERB_UNKNOWN)
		cmd->err = SMTP_PERR_UNKNOWN;
	else if (o->max_line_len != 0 && len > o->max_line_len &&
	    cmd->verb != SMTP_VERB_AUTH)
		cmd->err = SMTP_PERR_LINE_TOO_LONG;
	else
		cmd->err = dispatch(&c);
	if (c.nomem)
		return -ENOMEM;
	if (cmd->err != SMTP_PERR_PARAM_SYNTAX &&
	    cmd->err != SMTP_PERR_PARAM_UNKNOWN)
		cmd->err_param = NULL;
	return 0;
}
