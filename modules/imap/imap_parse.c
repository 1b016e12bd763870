/* imap_parse.c: incremental IMAP command parser, bytes in and events out */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "arena.h"
#include "imap_parse.h"

/*
 * How it works.  Command lines are collected whole (zero-copy when a line
 * sits in one input buffer, else copied into linebuf, which never grows
 * past max_line_length + 1) and then tokenized in one go, so a token never
 * straddles two feeds and every syntax error is found at the same point
 * however the input was split.  Only the line framing and the literal
 * bytes are byte-incremental.  The argument tree persists across the lines
 * of one command (a literal ends a line, the command goes on after it).
 */

enum parser_state {
	PS_LINE,		/* collecting a command line */
	PS_LIT_DECIDE,		/* LITERAL_NEEDED is out; next feed acts */
	PS_LIT_BUFFER,		/* copying literal bytes into the tree */
	PS_LIT_STREAM,		/* handing literal bytes out */
	PS_SKIP_LITERAL,	/* discarding literal bytes of a dead command */
	PS_SKIP_LINE,		/* discarding a dead command's line */
	PS_RAW_LINE,		/* collecting a line for IMAP_EVENT_LINE */
	PS_RAW_SKIP,		/* discarding an over-long raw line */
};

/*
 * Recognises "{digits}" or "{digits+}" (optionally followed by CR) at the
 * end of a line being skipped: after a BAD, RFC 7888 obliges us to swallow
 * the bytes of a LITERAL+ literal, while a client that sent "{n}" waits for
 * a "+" that never comes and so sends nothing more for that command.
 */
enum tail_state {
	T_NONE = 0, T_OPEN, T_DIGITS, T_PLUS, T_CLOSE, T_CR,
};

struct lit_tail {
	enum tail_state st;
	bool plus;
	uint64_t n;
};

struct imap_parser {
	struct imap_parse_limits lim;
	struct arena *cmd;		/* private, reset per command */
	enum parser_state state;
	bool in_command;		/* a tag was read; tree in progress */
	bool reset_pending;		/* cmd holds a finished command */

	uint8_t *linebuf;		/* in cmd */
	size_t linebuf_len, linebuf_cap;

	const char *tag, *name;
	bool uid, fetch;
	struct imap_arg_list root;
	struct imap_arg *cur;		/* innermost open LIST / SECTION */
	unsigned int depth, nargs;
	bool in_section, need_sep;
	size_t cmd_size;

	struct imap_arg *lit;		/* announced, not yet linked */
	uint64_t lit_size, lit_left;
	bool lit_sync, lit_stream, lit_too_big;
	uint8_t *lit_buf;

	uint64_t skip_left;
	struct lit_tail tail;
};

#define CMD_ARENA_BLOCK 1024

void
imap_parse_limits_init(struct imap_parse_limits *lim)
{
	memset(lim, 0, sizeof(*lim));
	lim->max_line_length = IMAP_PARSE_DEFAULT_MAX_LINE;
	lim->max_literal_size = IMAP_PARSE_DEFAULT_MAX_LITERAL;
	lim->literal_stream_threshold = 0;
	lim->max_command_size = IMAP_PARSE_DEFAULT_MAX_COMMAND;
	lim->max_args = IMAP_PARSE_DEFAULT_MAX_ARGS;
	lim->max_list_depth = IMAP_PARSE_DEFAULT_MAX_DEPTH;
}

static size_t
sat_add(size_t a, size_t b)
{
	return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}

static size_t
sat_mul(size_t a, size_t b)
{
	return b != 0 && a > SIZE_MAX / b ? SIZE_MAX : a * b;
}

/*
 * The command arena's byte limit.  The protocol limits are what clients
 * meet; this is only a backstop, so it is generous: twice the sum of the
 * line buffer (which grows by doubling), the command's bytes and its
 * argument nodes, to cover block waste.
 */
static size_t
cmd_arena_limit(const struct imap_parse_limits *lim)
{
	size_t n = sat_mul(sat_add(lim->max_line_length, 1), 2);

	n = sat_add(n, lim->max_command_size);
	n = sat_add(n, sat_mul(lim->max_args,
	    sizeof(struct imap_arg) + 2 * sizeof(max_align_t)));
	return sat_add(sat_mul(n, 2), 64 * 1024);
}

static void
parser_cleanup(void *ctx)
{
	struct imap_parser *p = ctx;

	arena_free(&p->cmd);
}

struct imap_parser *
imap_parser_new(struct arena *a, const struct imap_parse_limits *lim)
{
	struct imap_parse_limits def;
	struct imap_parser *p;

	if (lim == NULL) {
		imap_parse_limits_init(&def);
		lim = &def;
	}
	if (lim->max_line_length == 0 || lim->max_command_size == 0 ||
	    lim->max_args == 0 || lim->max_list_depth == 0)
		return NULL;
	p = arena_zalloc(a, sizeof(*p));
	if (p == NULL)
		return NULL;
	p->lim = *lim;
	p->cmd = arena_new(CMD_ARENA_BLOCK, cmd_arena_limit(lim));
	if (p->cmd == NULL)
		return NULL;
	/*
	 * arena_reset() keeps the first block: make it a small one now, so a
	 * big first allocation cannot pin its size for the connection's life.
	 */
	if (arena_alloc(p->cmd, 1) == NULL ||
	    arena_on_free(a, parser_cleanup, p) < 0) {
		arena_free(&p->cmd);
		return NULL;
	}
	p->state = PS_LINE;
	return p;
}

void
imap_parser_free(struct imap_parser **pp)
{
	struct imap_parser *p = *pp;

	if (p == NULL)
		return;
	*pp = NULL;
	/* p itself belongs to the caller's arena; its cleanup sees NULL */
	arena_free(&p->cmd);
}

static void
clear_command(struct imap_parser *p)
{
	p->in_command = false;
	p->tag = NULL;
	p->name = NULL;
	p->uid = false;
	p->fetch = false;
	memset(&p->root, 0, sizeof(p->root));
	p->cur = NULL;
	p->depth = 0;
	p->nargs = 0;
	p->in_section = false;
	p->need_sep = false;
	p->cmd_size = 0;
	p->lit = NULL;
	p->lit_buf = NULL;
	p->lit_size = p->lit_left = 0;
	p->lit_sync = p->lit_stream = p->lit_too_big = false;
	p->skip_left = 0;
	memset(&p->tail, 0, sizeof(p->tail));
}

static void
start_command(struct imap_parser *p)
{
	arena_reset(p->cmd);
	p->linebuf = NULL;
	p->linebuf_len = p->linebuf_cap = 0;
	clear_command(p);
	p->reset_pending = false;
}

void
imap_parser_reset(struct imap_parser *p)
{
	start_command(p);
	p->state = PS_LINE;
}

bool
imap_parser_is_idle(const struct imap_parser *p)
{
	return p->state == PS_LINE && !p->in_command && p->linebuf_len == 0;
}

size_t
imap_parser_memory(const struct imap_parser *p)
{
	return arena_used(p->cmd);
}

/* The command is over (answered or dropped); its tree stays readable. */
static void
end_command(struct imap_parser *p)
{
	p->in_command = false;
	p->reset_pending = true;
	p->state = PS_LINE;
	p->linebuf_len = 0;
}

/* ---- literal tails of skipped lines ---- */

static void
tail_init(struct lit_tail *t)
{
	memset(t, 0, sizeof(*t));
}

static void
tail_byte(struct lit_tail *t, uint8_t c)
{
	switch (t->st) {
	case T_OPEN:
	case T_DIGITS:
		if (c >= '0' && c <= '9') {
			unsigned int d = c - '0';

			if (t->st == T_OPEN)
				t->n = 0;
			/* no sane count overflows: not a literal then */
			if (t->n > (UINT64_MAX - d) / 10)
				break;
			t->n = t->n * 10 + d;
			t->st = T_DIGITS;
			return;
		}
		if (t->st == T_DIGITS && c == '+') {
			t->st = T_PLUS;
			t->plus = true;
			return;
		}
		if (t->st == T_DIGITS && c == '}') {
			t->st = T_CLOSE;
			return;
		}
		break;
	case T_PLUS:
		if (c == '}') {
			t->st = T_CLOSE;
			return;
		}
		break;
	case T_CLOSE:
		if (c == '\r') {
			t->st = T_CR;
			return;
		}
		break;
	default:
		break;
	}
	t->plus = false;
	t->n = 0;
	t->st = c == '{' ? T_OPEN : T_NONE;
}

static void
tail_bytes(struct lit_tail *t, const uint8_t *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		tail_byte(t, s[i]);
}

/*
 * The skipped line has ended: swallow a LITERAL+ literal and the line after
 * it, or finish the command.
 */
static void
tail_line_end(struct imap_parser *p)
{
	struct lit_tail *t = &p->tail;

	if ((t->st == T_CLOSE || t->st == T_CR) && t->plus) {
		p->skip_left = t->n;
		p->state = PS_SKIP_LITERAL;
	} else {
		end_command(p);
	}
	tail_init(t);
}

/* ---- events ---- */

static void
event_init(struct imap_parser *p, struct imap_event *ev,
    enum imap_event_type type)
{
	memset(ev, 0, sizeof(*ev));
	ev->type = type;
	ev->tag = p->in_command ? p->tag : NULL;
	ev->name = p->in_command ? p->name : NULL;
	ev->uid = p->in_command && p->uid;
	ev->args = p->in_command ? p->root.first : NULL;
}

static enum imap_parse_result
error_event(struct imap_parser *p, struct imap_event *ev,
    enum imap_parse_error code, const char *msg)
{
	event_init(p, ev, IMAP_EVENT_ERROR);
	ev->args = NULL;
	ev->u.error.code = code;
	ev->u.error.msg = msg;
	return IMAP_PARSE_ERROR;
}

/* ---- line collection ---- */

static int
linebuf_reserve(struct imap_parser *p, size_t need)
{
	size_t cap = p->linebuf_cap < 256 ? 256 : p->linebuf_cap;
	size_t max = p->lim.max_line_length + 1;
	uint8_t *nb;

	if (need <= p->linebuf_cap)
		return 0;
	while (cap < need && cap < max)
		cap = cap > max / 2 ? max : cap * 2;
	if (cap < need)
		cap = need;
	nb = arena_alloc(p->cmd, cap);
	if (nb == NULL)
		return -ENOMEM;
	if (p->linebuf_len > 0)
		memcpy(nb, p->linebuf, p->linebuf_len);
	p->linebuf = nb;
	p->linebuf_cap = cap;
	return 0;
}

enum line_result {
	LINE_MORE,	/* everything consumed, no LF yet */
	LINE_DONE,	/* *line_r holds a whole line, CRLF stripped */
	LINE_LONG,	/* over max_line_length; see line_overflow() */
	LINE_NOMEM,
};

struct line_take {
	const uint8_t *line;
	size_t len;
	/*
	 * LINE_LONG: line/len are the line's first max_line_length + 1
	 * bytes, rest/rest_len the other bytes consumed now (LF excluded),
	 * ended whether the LF was among them.
	 */
	const uint8_t *rest;
	size_t rest_len;
	bool ended;
};

/*
 * Takes bytes up to and including an LF.  A line longer than
 * max_line_length is reported as soon as that is certain; then linebuf
 * holds its first max_line_length + 1 bytes, so what follows (the tag of
 * the error reply, the literal tail) depends only on the bytes, not on how
 * they were split.
 */
static enum line_result
line_take(struct imap_parser *p, const uint8_t *in, size_t len,
    size_t *used_r, struct line_take *lt)
{
	const uint8_t *lf = memchr(in, '\n', len);
	size_t n = lf != NULL ? (size_t)(lf - in) : len;
	size_t max = p->lim.max_line_length;
	size_t total = p->linebuf_len + n, take = 0;

	memset(lt, 0, sizeof(*lt));
	*used_r = 0;
	if (lf != NULL) {
		size_t content = total;

		if (n > 0 ? in[n - 1] == '\r' :
		    (p->linebuf_len > 0 &&
		    p->linebuf[p->linebuf_len - 1] == '\r'))
			content--;
		if (content <= max) {
			if (p->linebuf_len == 0) {
				lt->line = in;
			} else {
				if (linebuf_reserve(p, total) < 0)
					return LINE_NOMEM;
				memcpy(p->linebuf + p->linebuf_len, in, n);
				lt->line = p->linebuf;
			}
			*used_r = n + 1;
			lt->len = content;
			p->linebuf_len = 0;
			return LINE_DONE;
		}
	} else if (total <= max + 1) {
		if (linebuf_reserve(p, total) < 0)
			return LINE_NOMEM;
		memcpy(p->linebuf + p->linebuf_len, in, n);
		p->linebuf_len = total;
		*used_r = len;
		return LINE_MORE;
	}
	/* too long (total > max + 1, or > max with the LF here) */
	if (p->linebuf_len < max + 1) {
		take = max + 1 - p->linebuf_len;
		if (linebuf_reserve(p, max + 1) < 0)
			return LINE_NOMEM;
		memcpy(p->linebuf + p->linebuf_len, in, take);
		p->linebuf_len = max + 1;
	}
	lt->line = p->linebuf;
	lt->len = max + 1;
	lt->rest = in + take;
	lt->rest_len = n - take;
	lt->ended = lf != NULL;
	*used_r = lf != NULL ? n + 1 : len;
	p->linebuf_len = 0;
	return LINE_LONG;
}

/* ---- tokens ---- */

enum tok_result {
	TOK_COMMAND,
	TOK_LITERAL,
	TOK_ERROR,
};

struct tok_error {
	enum imap_parse_error code;
	const char *msg;
};

/* ATOM-CHAR of RFC 3501: CHAR except atom-specials */
static bool
is_atom_char(uint8_t c)
{
	if (c <= 0x20 || c >= 0x7f)
		return false;
	switch (c) {
	case '(': case ')': case '{': case '%': case '*':
	case '"': case '\\': case ']':
		return false;
	default:
		return true;
	}
}

/* tag = 1*<any ASTRING-CHAR except "+"> */
static bool
is_tag_char(uint8_t c)
{
	return (is_atom_char(c) || c == ']') && c != '+';
}

/* What an argument atom may hold after its first byte. */
static bool
is_arg_char(const struct imap_parser *p, uint8_t c)
{
	if (c == '*' || c == '%')
		return true;
	if (c == ']')
		return !p->in_section;
	if (c == '[')
		return !p->fetch || p->in_section;
	return is_atom_char(c);
}

static bool
can_start_arg(uint8_t c)
{
	return c == '(' || c == '"' || c == '{' || c == '\\' || c == '*' ||
	    c == '%' || c == ']' || is_atom_char(c);
}

static char *
upper_dup(struct arena *a, const uint8_t *s, size_t len)
{
	char *r = arena_strndup(a, (const char *)s, len);
	size_t i;

	if (r == NULL)
		return NULL;
	for (i = 0; i < len; i++)
		if (r[i] >= 'a' && r[i] <= 'z')
			r[i] = (char)(r[i] - 'a' + 'A');
	return r;
}

static enum tok_result
tok_fail(struct tok_error *err, enum imap_parse_error code, const char *msg)
{
	err->code = code;
	err->msg = msg;
	return TOK_ERROR;
}

static struct imap_arg_list *
container_list(struct imap_arg *c)
{
	return c->type == IMAP_ARG_LIST ? &c->u.list : &c->u.section.children;
}

static void
arg_link(struct imap_parser *p, struct imap_arg *a)
{
	struct imap_arg_list *l = p->cur != NULL ? container_list(p->cur) :
	    &p->root;

	a->parent = p->cur;
	if (l->last != NULL)
		l->last->next = a;
	else
		l->first = a;
	l->last = a;
	l->count++;
}

static struct imap_arg *
arg_new(struct imap_parser *p, enum imap_arg_type type,
    struct tok_error *err)
{
	struct imap_arg *a;

	if (p->nargs >= p->lim.max_args) {
		tok_fail(err, IMAP_PERR_TOO_MANY_ARGS, "Too many arguments");
		return NULL;
	}
	a = arena_zalloc(p->cmd, sizeof(*a));
	if (a == NULL) {
		tok_fail(err, IMAP_PERR_NOMEM, "Command too large");
		return NULL;
	}
	p->nargs++;
	a->type = type;
	return a;
}

/* Reads the tag and command name (and a UID subcommand) of a first line. */
static enum tok_result
tok_command_start(struct imap_parser *p, const uint8_t *s, size_t len,
    size_t *i_r, struct tok_error *err)
{
	size_t i = 0, start, j;
	const char *name;

	while (i < len && s[i] != ' ')
		i++;
	if (i == 0)
		return tok_fail(err, IMAP_PERR_SYNTAX, "Missing tag");
	for (j = 0; j < i; j++)
		if (!is_tag_char(s[j]))
			return tok_fail(err, IMAP_PERR_SYNTAX, "Invalid tag");
	p->tag = arena_strndup(p->cmd, (const char *)s, i);
	if (p->tag == NULL)
		return tok_fail(err, IMAP_PERR_NOMEM, "Command too large");
	p->in_command = true;
	for (;;) {
		while (i < len && s[i] == ' ')
			i++;
		start = i;
		while (i < len && is_atom_char(s[i]))
			i++;
		if (i == start && i == len)
			return tok_fail(err, IMAP_PERR_SYNTAX, p->uid ?
			    "Missing UID command" : "Missing command");
		if (i == start || (i < len && s[i] != ' '))
			return tok_fail(err, IMAP_PERR_SYNTAX,
			    "Invalid command name");
		name = upper_dup(p->cmd, s + start, i - start);
		if (name == NULL)
			return tok_fail(err, IMAP_PERR_NOMEM,
			    "Command too large");
		if (p->uid || strcmp(name, "UID") != 0)
			break;
		p->uid = true;
	}
	p->name = name;
	p->fetch = strcmp(name, "FETCH") == 0;
	p->need_sep = true;
	*i_r = i;
	return TOK_COMMAND;
}

static enum tok_result
tok_quoted(struct imap_parser *p, const uint8_t *s, size_t len, size_t *i_r,
    struct tok_error *err)
{
	size_t i = *i_r + 1, start = i, o = 0;
	struct imap_arg *a;
	char *buf;

	for (; i < len && s[i] != '"'; i++) {
		if (s[i] == '\\') {
			if (i + 1 == len) {
				i = len;
				break;
			}
			i++;
			if (s[i] != '\\' && s[i] != '"')
				return tok_fail(err, IMAP_PERR_SYNTAX,
				    "Invalid escape in quoted string");
		} else if (s[i] == '\0' || s[i] == '\r') {
			/* TEXT-CHAR; 8-bit is let through for UTF8=ACCEPT */
			return tok_fail(err, IMAP_PERR_SYNTAX,
			    "Invalid character in quoted string");
		}
	}
	if (i >= len)
		return tok_fail(err, IMAP_PERR_SYNTAX,
		    "Unterminated quoted string");
	a = arg_new(p, IMAP_ARG_STRING, err);
	if (a == NULL)
		return TOK_ERROR;
	buf = arena_alloc(p->cmd, i - start + 1);
	if (buf == NULL)
		return tok_fail(err, IMAP_PERR_NOMEM, "Command too large");
	for (size_t k = start; k < i; k++) {
		if (s[k] == '\\')
			k++;
		buf[o++] = (char)s[k];
	}
	buf[o] = '\0';
	a->u.str.data = buf;
	a->u.str.len = o;
	arg_link(p, a);
	*i_r = i + 1;
	return TOK_COMMAND;
}

static enum tok_result
tok_literal(struct imap_parser *p, const uint8_t *s, size_t len, size_t *i_r,
    struct tok_error *err)
{
	size_t i = *i_r;
	bool lit8 = s[i] == '~';
	uint64_t n = 0;
	size_t digits = 0;
	bool plus = false;
	struct imap_arg *a;

	i += lit8 ? 2 : 1;
	for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, digits++) {
		unsigned int d = s[i] - '0';

		if (n > (UINT64_MAX - d) / 10)
			return tok_fail(err, IMAP_PERR_LITERAL_TOO_BIG,
			    "Literal size too large");
		n = n * 10 + d;
	}
	if (digits == 0)
		return tok_fail(err, IMAP_PERR_SYNTAX, "Invalid literal");
	if (i < len && s[i] == '+') {
		plus = true;
		i++;
	}
	if (i >= len || s[i] != '}')
		return tok_fail(err, IMAP_PERR_SYNTAX, "Invalid literal");
	if (i + 1 != len)
		return tok_fail(err, IMAP_PERR_SYNTAX,
		    "Literal must end the line");
	a = arg_new(p, IMAP_ARG_LITERAL, err);
	if (a == NULL)
		return TOK_ERROR;
	a->literal8 = lit8;
	p->lit = a;
	p->lit_size = p->lit_left = n;
	p->lit_sync = !plus;
	p->lit_too_big = n > p->lim.max_literal_size || n >= SIZE_MAX ||
	    n > p->lim.max_command_size - p->cmd_size;
	p->lit_stream = p->lim.literal_stream_threshold != 0 &&
	    n > p->lim.literal_stream_threshold;
	*i_r = len;
	return TOK_LITERAL;
}

/* RFC 3501: "<" number "." nz-number ">", both 32-bit */
static bool
tok_number32(const uint8_t *s, size_t len, size_t *i_r, bool nz,
    uint32_t *n_r)
{
	size_t i = *i_r, start = i;
	uint64_t n = 0;

	if (nz && i < len && s[i] == '0')
		return false;
	for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
		n = n * 10 + (uint64_t)(s[i] - '0');
		if (n > UINT32_MAX)
			return false;
	}
	if (i == start || (nz && n == 0))
		return false;
	*n_r = (uint32_t)n;
	*i_r = i;
	return true;
}

static enum tok_result
tok_section_close(struct imap_parser *p, const uint8_t *s, size_t len,
    size_t *i_r, struct tok_error *err)
{
	struct imap_arg *sec = p->cur;
	size_t i = *i_r + 1;

	if (i < len && s[i] == '<') {
		i++;
		if (!tok_number32(s, len, &i, false,
		    &sec->u.section.offset) || i >= len || s[i] != '.')
			return tok_fail(err, IMAP_PERR_SYNTAX,
			    "Invalid partial range");
		i++;
		if (!tok_number32(s, len, &i, true,
		    &sec->u.section.length) || i >= len || s[i] != '>')
			return tok_fail(err, IMAP_PERR_SYNTAX,
			    "Invalid partial range");
		i++;
		sec->u.section.has_partial = true;
	}
	p->cur = sec->parent;
	p->depth--;
	p->in_section = false;
	p->need_sep = true;
	*i_r = i;
	return TOK_COMMAND;
}

static enum tok_result
tok_open(struct imap_parser *p, enum imap_arg_type type, const uint8_t *name,
    size_t name_len, struct tok_error *err)
{
	struct imap_arg *a;

	if (p->depth >= p->lim.max_list_depth)
		return tok_fail(err, IMAP_PERR_TOO_DEEP,
		    "Lists nested too deeply");
	a = arg_new(p, type, err);
	if (a == NULL)
		return TOK_ERROR;
	if (type == IMAP_ARG_SECTION) {
		a->u.section.name = arena_strndup(p->cmd, (const char *)name,
		    name_len);
		if (a->u.section.name == NULL)
			return tok_fail(err, IMAP_PERR_NOMEM,
			    "Command too large");
		p->in_section = true;
	}
	arg_link(p, a);
	p->cur = a;
	p->depth++;
	p->need_sep = false;
	return TOK_COMMAND;
}

static enum tok_result
tok_atom(struct imap_parser *p, const uint8_t *s, size_t len, size_t *i_r,
    struct tok_error *err)
{
	size_t i = *i_r, start = i;
	struct imap_arg *a;
	char *str;

	if (s[i] == '\\')
		i++;		/* flag: "\" atom (RFC 3501 flag-extension) */
	while (i < len && is_arg_char(p, s[i]))
		i++;
	if (i < len && s[i] == '[' && p->fetch && !p->in_section &&
	    i > start) {
		*i_r = i + 1;
		return tok_open(p, IMAP_ARG_SECTION, s + start, i - start,
		    err);
	}
	if (i == start || (i == start + 1 && s[start] == '\\'))
		return tok_fail(err, IMAP_PERR_SYNTAX,
		    "Invalid character in argument");
	a = arg_new(p, IMAP_ARG_ATOM, err);
	if (a == NULL)
		return TOK_ERROR;
	str = arena_strndup(p->cmd, (const char *)s + start, i - start);
	if (str == NULL)
		return tok_fail(err, IMAP_PERR_NOMEM, "Command too large");
	if (i - start == 3 && (str[0] | 0x20) == 'n' &&
	    (str[1] | 0x20) == 'i' && (str[2] | 0x20) == 'l')
		a->type = IMAP_ARG_NIL;
	a->u.str.data = str;
	a->u.str.len = i - start;
	arg_link(p, a);
	p->need_sep = true;
	*i_r = i;
	return TOK_COMMAND;
}

/*
 * Tokenizes one whole line of the current command (CRLF stripped).
 * Returns TOK_COMMAND when the command is complete, TOK_LITERAL when the
 * line announced a literal, TOK_ERROR with *err set.
 */
static enum tok_result
tokenize(struct imap_parser *p, const uint8_t *s, size_t len,
    struct tok_error *err)
{
	enum tok_result r;
	size_t i = 0;

	if (!p->in_command) {
		r = tok_command_start(p, s, len, &i, err);
		if (r != TOK_COMMAND)
			return r;
	}
	while (i < len) {
		uint8_t c = s[i];

		if (c == ' ') {
			i++;
			p->need_sep = false;
			continue;
		}
		if (c == ')') {
			if (p->cur == NULL || p->cur->type != IMAP_ARG_LIST)
				return tok_fail(err, IMAP_PERR_SYNTAX,
				    "Unexpected ')'");
			p->cur = p->cur->parent;
			p->depth--;
			p->need_sep = true;
			i++;
			continue;
		}
		if (c == ']' && p->in_section) {
			if (p->cur->type != IMAP_ARG_SECTION)
				return tok_fail(err, IMAP_PERR_SYNTAX,
				    "Unexpected ']'");
			r = tok_section_close(p, s, len, &i, err);
			if (r != TOK_COMMAND)
				return r;
			continue;
		}
		if (p->need_sep)
			return tok_fail(err, IMAP_PERR_SYNTAX,
			    can_start_arg(c) ?
			    "Missing space between arguments" :
			    "Invalid character in argument");
		if (c == '(') {
			i++;
			r = tok_open(p, IMAP_ARG_LIST, NULL, 0, err);
		} else if (c == '"') {
			r = tok_quoted(p, s, len, &i, err);
			p->need_sep = true;
		} else if (c == '{' || (c == '~' && i + 1 < len &&
		    s[i + 1] == '{')) {
			return tok_literal(p, s, len, &i, err);
		} else {
			r = tok_atom(p, s, len, &i, err);
		}
		if (r != TOK_COMMAND)
			return r;
	}
	if (p->cur != NULL)
		return tok_fail(err, IMAP_PERR_SYNTAX,
		    p->cur->type == IMAP_ARG_LIST ? "Missing ')'" :
		    "Missing ']'");
	return TOK_COMMAND;
}

/* ---- the state machine ---- */

/*
 * A command line failed.  The bytes seen of it (line, then rest) decide
 * whether a LITERAL+ literal must be skipped after it; when !ended, the
 * rest of the line is still to come.
 */
static enum imap_parse_result
line_error(struct imap_parser *p, struct imap_event *ev,
    enum imap_parse_error code, const char *msg, const uint8_t *line,
    size_t len, const uint8_t *rest, size_t rest_len, bool ended)
{
	enum imap_parse_result r;

	p->in_command = true;	/* dead, but skipping belongs to it */
	r = error_event(p, ev, code, msg);
	tail_init(&p->tail);
	tail_bytes(&p->tail, line, len);
	tail_bytes(&p->tail, rest, rest_len);
	p->linebuf_len = 0;
	if (ended)
		tail_line_end(p);
	else
		p->state = PS_SKIP_LINE;
	return r;
}

/*
 * The first line of a command was too long: report its tag when the
 * first max_line_length bytes hold one, so the reply can be tagged.
 */
static void
long_line_tag(struct imap_parser *p, const uint8_t *s, size_t len)
{
	size_t i = 0;

	if (p->in_command)
		return;
	if (len > p->lim.max_line_length)
		len = p->lim.max_line_length;
	while (i < len && is_tag_char(s[i]))
		i++;
	if (i > 0 && i < len && s[i] == ' ')
		p->tag = arena_strndup(p->cmd, (const char *)s, i);
}

static enum imap_parse_result
feed_line(struct imap_parser *p, const uint8_t *in, size_t len,
    size_t *used_r, struct imap_event *ev)
{
	struct line_take lt;
	struct tok_error err;
	enum tok_result r;

	switch (line_take(p, in, len, used_r, &lt)) {
	case LINE_MORE:
		return IMAP_PARSE_NEED_MORE;
	case LINE_NOMEM:
		*used_r = 0;
		return line_error(p, ev, IMAP_PERR_NOMEM, "Command too large",
		    NULL, 0, NULL, 0, false);
	case LINE_LONG:
		long_line_tag(p, lt.line, lt.len);
		return line_error(p, ev, IMAP_PERR_LINE_TOO_LONG,
		    "Line too long", lt.line, lt.len, lt.rest, lt.rest_len,
		    lt.ended);
	case LINE_DONE:
		break;
	}
	if (!p->in_command && lt.len == 0)
		return IMAP_PARSE_NEED_MORE;	/* empty line: ignored */
	if (lt.len + 2 > p->lim.max_command_size - p->cmd_size) {
		if (!p->in_command)
			long_line_tag(p, lt.line, lt.len);
		return line_error(p, ev, IMAP_PERR_COMMAND_TOO_BIG,
		    "Command too long", lt.line, lt.len, NULL, 0, true);
	}
	p->cmd_size += lt.len + 2;
	r = tokenize(p, lt.line, lt.len, &err);
	if (r == TOK_ERROR)
		return line_error(p, ev, err.code, err.msg, lt.line, lt.len,
		    NULL, 0, true);
	if (r == TOK_LITERAL) {
		event_init(p, ev, IMAP_EVENT_LITERAL_NEEDED);
		ev->u.literal.size = p->lit_size;
		ev->u.literal.sync = p->lit_sync;
		ev->u.literal.literal8 = p->lit->literal8;
		ev->u.literal.stream = p->lit_stream;
		ev->u.literal.too_big = p->lit_too_big;
		p->state = PS_LIT_DECIDE;
		return IMAP_PARSE_EVENT;
	}
	event_init(p, ev, IMAP_EVENT_COMMAND);
	end_command(p);
	return IMAP_PARSE_EVENT;
}

/* The session let the pending literal come (or did not stop it). */
static enum imap_parse_result
lit_decide(struct imap_parser *p, struct imap_event *ev)
{
	struct imap_arg *a = p->lit;

	if (p->lit_stream) {
		a->type = IMAP_ARG_STREAMED;
		a->u.streamed_size = p->lit_size;
		arg_link(p, a);
		p->state = PS_LIT_STREAM;
		return IMAP_PARSE_NEED_MORE;
	}
	if (!p->lit_too_big)
		p->lit_buf = arena_alloc(p->cmd, (size_t)p->lit_size + 1);
	if (p->lit_too_big || p->lit_buf == NULL) {
		enum imap_parse_result r = error_event(p, ev,
		    p->lit_too_big ? IMAP_PERR_LITERAL_TOO_BIG :
		    IMAP_PERR_NOMEM, p->lit_too_big ? "Literal too big" :
		    "Command too large");

		/* a client that sent "{n}" got no "+" and sends nothing */
		if (p->lit_sync) {
			end_command(p);
		} else {
			p->skip_left = p->lit_size;
			p->state = PS_SKIP_LITERAL;
		}
		return r;
	}
	p->cmd_size += (size_t)p->lit_size;
	p->state = PS_LIT_BUFFER;
	return IMAP_PARSE_NEED_MORE;
}

static void
lit_finish(struct imap_parser *p)
{
	struct imap_arg *a = p->lit;

	if (a->type == IMAP_ARG_LITERAL) {
		p->lit_buf[p->lit_size] = '\0';
		a->u.str.data = (const char *)p->lit_buf;
		a->u.str.len = (size_t)p->lit_size;
		arg_link(p, a);
	}
	p->lit = NULL;
	p->lit_buf = NULL;
	p->need_sep = true;
	p->state = PS_LINE;
}

enum imap_parse_result
imap_parse_feed(struct imap_parser *p, const uint8_t *in, size_t len,
    size_t *used_r, struct imap_event *ev)
{
	enum imap_parse_result r;
	size_t used = 0, n;

	if (in == NULL)
		in = (const uint8_t *)"";	/* len 0: valid arithmetic */
	for (;;) {
		const uint8_t *s = in + used;
		size_t avail = len - used;

		switch (p->state) {
		case PS_LINE:
			if (avail == 0)
				goto need_more;
			if (!p->in_command && p->linebuf_len == 0 &&
			    p->reset_pending)
				start_command(p);
			r = feed_line(p, s, avail, &n, ev);
			used += n;
			if (r != IMAP_PARSE_NEED_MORE)
				goto out;
			break;
		case PS_LIT_DECIDE:
			r = lit_decide(p, ev);
			if (r != IMAP_PARSE_NEED_MORE)
				goto out;
			break;
		case PS_LIT_BUFFER:
			n = avail < p->lit_left ? avail : (size_t)p->lit_left;
			if (n == 0 && p->lit_left > 0)
				goto need_more;
			if (!p->lit->literal8 && memchr(s, '\0', n) != NULL) {
				/* CHAR8 excludes NUL (RFC 3501 section 9) */
				used += n;
				p->skip_left = p->lit_left - n;
				p->lit = NULL;
				p->state = PS_SKIP_LITERAL;
				r = error_event(p, ev, IMAP_PERR_SYNTAX,
				    "NUL in literal");
				goto out;
			}
			memcpy(p->lit_buf + (p->lit_size - p->lit_left), s,
			    n);
			p->lit_left -= n;
			used += n;
			if (p->lit_left == 0)
				lit_finish(p);
			break;
		case PS_LIT_STREAM:
			n = avail < p->lit_left ? avail : (size_t)p->lit_left;
			if (n == 0 && p->lit_left > 0)
				goto need_more;
			event_init(p, ev, IMAP_EVENT_LITERAL_DATA);
			ev->u.data.data = s;
			ev->u.data.len = n;
			p->lit_left -= n;
			ev->u.data.remaining = p->lit_left;
			ev->u.data.last = p->lit_left == 0;
			used += n;
			if (p->lit_left == 0)
				lit_finish(p);
			r = IMAP_PARSE_EVENT;
			goto out;
		case PS_SKIP_LITERAL:
			n = avail < p->skip_left ? avail : (size_t)p->skip_left;
			used += n;
			p->skip_left -= n;
			if (p->skip_left > 0)
				goto need_more;
			tail_init(&p->tail);
			p->state = PS_SKIP_LINE;
			break;
		case PS_SKIP_LINE: {
			const uint8_t *lf = memchr(s, '\n', avail);

			n = lf != NULL ? (size_t)(lf - s) : avail;
			tail_bytes(&p->tail, s, n);
			if (lf == NULL) {
				used += n;
				goto need_more;
			}
			used += n + 1;
			tail_line_end(p);
			break;
		}
		case PS_RAW_LINE: {
			struct line_take lt;

			if (avail == 0)
				goto need_more;
			switch (line_take(p, s, avail, &n, &lt)) {
			case LINE_MORE:
				used += n;
				goto need_more;
			case LINE_DONE:
				used += n;
				event_init(p, ev, IMAP_EVENT_LINE);
				ev->tag = NULL;
				ev->name = NULL;
				ev->uid = false;
				ev->args = NULL;
				ev->u.line.data = lt.line;
				ev->u.line.len = lt.len;
				p->state = PS_LINE;
				r = IMAP_PARSE_EVENT;
				goto out;
			case LINE_LONG:
			case LINE_NOMEM:
				used += n;
				p->linebuf_len = 0;
				p->state = n > 0 && s[n - 1] == '\n' ?
				    PS_LINE : PS_RAW_SKIP;
				memset(ev, 0, sizeof(*ev));
				ev->type = IMAP_EVENT_ERROR;
				ev->u.error.code = IMAP_PERR_LINE_TOO_LONG;
				ev->u.error.msg = "Line too long";
				r = IMAP_PARSE_ERROR;
				goto out;
			}
			break;
		}
		case PS_RAW_SKIP: {
			const uint8_t *lf = memchr(s, '\n', avail);

			if (lf == NULL) {
				used = len;
				goto need_more;
			}
			used += (size_t)(lf - s) + 1;
			p->state = PS_LINE;
			break;
		}
		}
	}
need_more:
	r = IMAP_PARSE_NEED_MORE;
out:
	*used_r = used;
	return r;
}

int
imap_parser_stream_literal(struct imap_parser *p)
{
	if (p->state != PS_LIT_DECIDE)
		return -EINVAL;
	p->lit_stream = true;
	return 0;
}

int
imap_parser_abort_command(struct imap_parser *p)
{
	switch (p->state) {
	case PS_LIT_DECIDE:
		p->lit = NULL;
		if (p->lit_sync) {
			end_command(p);
		} else {
			p->skip_left = p->lit_size;
			p->state = PS_SKIP_LITERAL;
		}
		return 0;
	case PS_LIT_STREAM:
		/* accepted literal bytes come whatever we think of them */
		p->skip_left = p->lit_left;
		p->lit = NULL;
		p->state = PS_SKIP_LITERAL;
		return 0;
	case PS_LINE:
		/* right after the last chunk of a streamed literal */
		if (!p->in_command || p->linebuf_len != 0)
			return -EINVAL;
		tail_init(&p->tail);
		p->state = PS_SKIP_LINE;
		return 0;
	default:
		return -EINVAL;
	}
}

int
imap_parser_expect_line(struct imap_parser *p)
{
	if (!imap_parser_is_idle(p))
		return -EINVAL;
	p->state = PS_RAW_LINE;
	return 0;
}

/* ---- argument helpers ---- */

bool
imap_arg_is_atom(const struct imap_arg *a)
{
	return a != NULL && (a->type == IMAP_ARG_ATOM ||
	    a->type == IMAP_ARG_NIL);
}

bool
imap_arg_is_nil(const struct imap_arg *a)
{
	return a != NULL && a->type == IMAP_ARG_NIL;
}

bool
imap_arg_is_string(const struct imap_arg *a)
{
	return a != NULL && (a->type == IMAP_ARG_STRING ||
	    (a->type == IMAP_ARG_LITERAL && !a->literal8));
}

/* ASTRING-CHAR = ATOM-CHAR / "]", plus list-wildcards for list-mailbox */
static bool
atom_chars_ok(const char *s, bool wildcards)
{
	for (; *s != '\0'; s++) {
		uint8_t c = (uint8_t)*s;

		if (!is_atom_char(c) && c != ']' &&
		    (!wildcards || (c != '*' && c != '%')))
			return false;
	}
	return true;
}

bool
imap_arg_is_astring(const struct imap_arg *a)
{
	return (imap_arg_is_atom(a) && atom_chars_ok(a->u.str.data, false)) ||
	    imap_arg_is_string(a);
}

bool
imap_arg_is_nstring(const struct imap_arg *a)
{
	return imap_arg_is_nil(a) || imap_arg_is_string(a);
}

bool
imap_arg_is_list(const struct imap_arg *a)
{
	return a != NULL && a->type == IMAP_ARG_LIST;
}

bool
imap_arg_get_atom(const struct imap_arg *a, const char **str_r)
{
	if (!imap_arg_is_atom(a))
		return false;
	*str_r = a->u.str.data;
	return true;
}

bool
imap_arg_get_string(const struct imap_arg *a, const char **str_r,
    size_t *len_r)
{
	if (!imap_arg_is_string(a))
		return false;
	*str_r = a->u.str.data;
	if (len_r != NULL)
		*len_r = a->u.str.len;
	return true;
}

bool
imap_arg_get_astring(const struct imap_arg *a, const char **str_r,
    size_t *len_r)
{
	if (!imap_arg_is_astring(a))
		return false;
	*str_r = a->u.str.data;
	if (len_r != NULL)
		*len_r = a->u.str.len;
	return true;
}

bool
imap_arg_get_list_mailbox(const struct imap_arg *a, const char **str_r,
    size_t *len_r)
{
	if (!(imap_arg_is_atom(a) && atom_chars_ok(a->u.str.data, true)) &&
	    !imap_arg_is_string(a))
		return false;
	*str_r = a->u.str.data;
	if (len_r != NULL)
		*len_r = a->u.str.len;
	return true;
}

bool
imap_arg_get_nstring(const struct imap_arg *a, const char **str_r,
    size_t *len_r)
{
	if (imap_arg_is_nil(a)) {
		*str_r = NULL;
		if (len_r != NULL)
			*len_r = 0;
		return true;
	}
	return imap_arg_get_string(a, str_r, len_r);
}

bool
imap_arg_get_list(const struct imap_arg *a, const struct imap_arg **first_r,
    unsigned int *count_r)
{
	if (!imap_arg_is_list(a))
		return false;
	*first_r = a->u.list.first;
	if (count_r != NULL)
		*count_r = a->u.list.count;
	return true;
}

bool
imap_arg_get_data(const struct imap_arg *a, const uint8_t **data_r,
    size_t *len_r)
{
	if (a == NULL || (a->type != IMAP_ARG_STRING &&
	    a->type != IMAP_ARG_LITERAL))
		return false;
	*data_r = (const uint8_t *)a->u.str.data;
	*len_r = a->u.str.len;
	return true;
}

static bool
ascii_caseeq(const char *a, const char *b)
{
	for (; *a != '\0' && *b != '\0'; a++, b++) {
		char x = *a, y = *b;

		if (x >= 'a' && x <= 'z')
			x = (char)(x - 'a' + 'A');
		if (y >= 'a' && y <= 'z')
			y = (char)(y - 'a' + 'A');
		if (x != y)
			return false;
	}
	return *a == *b;
}

bool
imap_arg_atom_equals(const struct imap_arg *a, const char *word)
{
	return imap_arg_is_atom(a) && ascii_caseeq(a->u.str.data, word);
}

unsigned int
imap_args_count(const struct imap_arg *first)
{
	unsigned int n = 0;

	for (; first != NULL; first = first->next)
		n++;
	return n;
}

const struct imap_arg *
imap_args_nth(const struct imap_arg *first, unsigned int n)
{
	while (first != NULL && n-- > 0)
		first = first->next;
	return first;
}

/* ---- FETCH sections ---- */

static const struct {
	const char *name;
	enum imap_fetch_kind kind;
} fetch_kinds[] = {
	{ "BODY", IMAP_FETCH_BODY },
	{ "BODY.PEEK", IMAP_FETCH_BODY_PEEK },
	{ "BINARY", IMAP_FETCH_BINARY },
	{ "BINARY.PEEK", IMAP_FETCH_BINARY_PEEK },
	{ "BINARY.SIZE", IMAP_FETCH_BINARY_SIZE },
};

static const struct {
	const char *name;
	enum imap_section_text text;
} section_texts[] = {
	{ "HEADER", IMAP_SECTION_HEADER },
	{ "HEADER.FIELDS", IMAP_SECTION_HEADER_FIELDS },
	{ "HEADER.FIELDS.NOT", IMAP_SECTION_HEADER_FIELDS_NOT },
	{ "TEXT", IMAP_SECTION_TEXT },
	{ "MIME", IMAP_SECTION_MIME },
};

static int
section_fail(const char **error_r, const char *msg)
{
	*error_r = msg;
	return -EINVAL;
}

/*
 * section-spec = section-msgtext / (section-part ["." section-text]),
 * section-part = nz-number *("." nz-number): digits first, then a word.
 */
static int
section_spec(const char *s, struct imap_section *sec, const char **error_r)
{
	size_t i;

	while (*s >= '0' && *s <= '9') {
		uint64_t n = 0;

		if (*s == '0')
			return section_fail(error_r, "Invalid section part");
		for (; *s >= '0' && *s <= '9'; s++) {
			n = n * 10 + (uint64_t)(*s - '0');
			if (n > UINT32_MAX)
				return section_fail(error_r,
				    "Invalid section part");
		}
		if (sec->nparts == IMAP_SECTION_MAX_PARTS)
			return section_fail(error_r, "Section nested too deep");
		sec->parts[sec->nparts++] = (uint32_t)n;
		if (*s == '\0')
			return 0;
		if (*s != '.' || s[1] == '\0')
			return section_fail(error_r, "Invalid section part");
		s++;
	}
	for (i = 0; i < sizeof(section_texts) / sizeof(section_texts[0]);
	    i++) {
		if (ascii_caseeq(s, section_texts[i].name)) {
			sec->text = section_texts[i].text;
			if (sec->text == IMAP_SECTION_MIME && sec->nparts == 0)
				return section_fail(error_r,
				    "MIME needs a part number");
			return 0;
		}
	}
	return section_fail(error_r, "Invalid section");
}

int
imap_section_parse(const struct imap_arg *a, struct imap_section *sec,
    const char **error_r)
{
	const struct imap_arg *c, *f;
	const char *spec;
	size_t i;

	memset(sec, 0, sizeof(*sec));
	if (a == NULL || a->type != IMAP_ARG_SECTION)
		return section_fail(error_r, "Not a section");
	for (i = 0; i < sizeof(fetch_kinds) / sizeof(fetch_kinds[0]); i++)
		if (ascii_caseeq(a->u.section.name, fetch_kinds[i].name))
			sec->kind = fetch_kinds[i].kind;
	if (sec->kind == 0)
		return section_fail(error_r, "Unknown fetch attribute");
	sec->has_partial = a->u.section.has_partial;
	sec->offset = a->u.section.offset;
	sec->length = a->u.section.length;
	c = a->u.section.children.first;
	if (c == NULL)
		return 0;
	if (!imap_arg_get_atom(c, &spec))
		return section_fail(error_r, "Invalid section");
	if (section_spec(spec, sec, error_r) < 0)
		return -EINVAL;
	if (sec->kind >= IMAP_FETCH_BINARY && sec->text != IMAP_SECTION_NONE)
		return section_fail(error_r,
		    "BINARY takes only a part number");
	if (sec->kind == IMAP_FETCH_BINARY_SIZE && sec->has_partial)
		return section_fail(error_r, "BINARY.SIZE takes no range");
	c = c->next;
	if (sec->text != IMAP_SECTION_HEADER_FIELDS &&
	    sec->text != IMAP_SECTION_HEADER_FIELDS_NOT)
		return c == NULL ? 0 :
		    section_fail(error_r, "Junk after section");
	/* header-list = "(" header-fld-name *(SP header-fld-name) ")" */
	if (!imap_arg_get_list(c, &sec->fields, &sec->nfields) ||
	    sec->nfields == 0 || c->next != NULL)
		return section_fail(error_r, "Invalid header field list");
	for (f = sec->fields; f != NULL; f = f->next) {
		const char *name;
		size_t len, k;

		if (!imap_arg_get_astring(f, &name, &len) || len == 0)
			return section_fail(error_r,
			    "Invalid header field name");
		/* RFC 5322 field names: printable ASCII except ':' */
		for (k = 0; k < len; k++)
			if ((uint8_t)name[k] <= 0x20 ||
			    (uint8_t)name[k] >= 0x7f || name[k] == ':')
				return section_fail(error_r,
				    "Invalid header field name");
	}
	return 0;
}

uint64_t
imap_parser_bytes_wanted(const struct imap_parser *p)
{
	switch (p->state) {
	case PS_LIT_DECIDE:
		return p->lit_stream || !p->lit_too_big || !p->lit_sync ?
		    p->lit_size : 0;
	case PS_LIT_BUFFER:
	case PS_LIT_STREAM:
		return p->lit_left;
	case PS_SKIP_LITERAL:
		return p->skip_left;
	default:
		return 0;
	}
}

enum imap_parse_result
imap_parse_line_lost(struct imap_parser *p, struct imap_event *ev)
{
	enum imap_parse_result r;

	switch (p->state) {
	case PS_SKIP_LINE:
		end_command(p);
		return IMAP_PARSE_NEED_MORE;
	case PS_RAW_LINE:
	case PS_RAW_SKIP:
	case PS_LINE:
		if (p->state == PS_LINE && !p->in_command &&
		    p->reset_pending)
			start_command(p);
		r = error_event(p, ev, IMAP_PERR_LINE_TOO_LONG,
		    "Line too long");
		if (p->state == PS_LINE) {
			end_command(p);
		} else {
			p->state = PS_LINE;
			p->linebuf_len = 0;
		}
		return r;
	default:
		/* literal bytes were due: the session broke the contract */
		r = error_event(p, ev, IMAP_PERR_SYNTAX, "Literal data lost");
		end_command(p);
		return r;
	}
}
