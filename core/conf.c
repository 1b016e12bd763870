/* conf.c: the config file language: lines, blocks, includes (typed values are in conf_value.c) */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "conf_int.h"

static const char oom[] = "out of memory";

/* A growing array in the arena; the old copy stays until the arena goes,
   which for a config generation is at most as much again. */
struct vec {
	void *v;
	size_t n, cap;
};

static void *
vec_push(struct arena *a, struct vec *vec, size_t size)
{
	char *p;

	if (vec->n == vec->cap) {
		size_t cap = vec->cap == 0 ? 8 : vec->cap * 2;
		void *nv;

		if (cap > SIZE_MAX / size)
			return NULL;
		nv = arena_alloc(a, cap * size);
		if (nv == NULL)
			return NULL;
		if (vec->n > 0)
			memcpy(nv, vec->v, vec->n * size);
		vec->v = nv;
		vec->cap = cap;
	}
	p = (char *)vec->v + vec->n++ * size;
	memset(p, 0, size);
	return p;
}

struct file_id {
	dev_t dev;
	ino_t ino;
};

struct parser {
	struct arena *a;
	const char **error_r;
	struct vec globals;	/* struct conf_item */
	struct vec blocks;	/* struct conf_block */
	/* files being read, outermost first, to refuse include loops */
	struct file_id open[CONF_INCLUDE_DEPTH_MAX + 1];
	size_t n_open;
};

/* One file (or string) being parsed. */
struct src {
	const char *name;	/* for messages and items; in the arena */
	const char *dir;	/* base of relative includes; NULL = cwd */
	unsigned line;
	int depth;		/* 0 for the top file */
	size_t block;		/* index of the open block in blocks */
	bool in_block;
	struct vec items;	/* of the open block */
};


static bool
is_key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	    c == '_' || c == '.' || c == '-';
}

static bool
is_name_char(char c)
{
	return is_key_char(c) || (c >= 'A' && c <= 'Z') || c == ':' ||
	    c == '*' || c == '@';
}


static int
vfail(struct arena *a, const char **error_r, const char *fmt, va_list ap)
{
	*error_r = arena_vprintf(a, fmt, ap);
	if (*error_r == NULL) {
		*error_r = oom;
		return -ENOMEM;
	}
	return POSTA_ECONFIG;
}

int
conf_fail(struct arena *a, const char **error_r, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vfail(a, error_r, fmt, ap);
	va_end(ap);
	return r;
}

/* "FILE:LINE: " + message */
static int
src_fail(struct parser *p, const struct src *s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int
src_fail(struct parser *p, const struct src *s, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	msg = arena_vprintf(p->a, fmt, ap);
	va_end(ap);
	if (msg == NULL) {
		*p->error_r = oom;
		return -ENOMEM;
	}
	return conf_fail(p->a, p->error_r, "%s:%u: %s", s->name, s->line, msg);
}

/*
 * What the parser found, for "got ...": "end of line" or the next word in
 * quotes, at most 32 bytes, non-printable bytes as \xNN.
 */
static const char *
describe(struct arena *a, const char *p, const char *end)
{
	char buf[32 * 4 + 8], *o = buf;
	size_t n = 0;

	if (p >= end)
		return "end of line";
	*o++ = '\'';
	while (p < end && !is_blank(*p) && n < 32) {
		unsigned char c = (unsigned char)*p++;

		if (c >= 0x20 && c < 0x7f) {
			*o++ = (char)c;
		} else {
			snprintf(o, 5, "\\x%02x", c);
			o += 4;
		}
		n++;
	}
	if (p < end && !is_blank(*p)) {
		memcpy(o, "...", 3);
		o += 3;
	}
	*o++ = '\'';
	*o = '\0';
	o = arena_strdup(a, buf);
	return o != NULL ? o : "something else";
}

/* See conf_int.h. */
int
conf_lex_value(struct arena *a, const char *p, const char *end,
    const char **value_r, const char **error_r)
{
	const char *q;
	char *out, *o;

	p = skip_blanks(p, end);
	if (p == end || *p != '"') {
		q = memchr(p, '#', (size_t)(end - p));
		if (q == NULL)
			q = end;
		while (q > p && is_blank(q[-1]))
			q--;
		*value_r = out = arena_strndup(a, p, (size_t)(q - p));
		if (out == NULL) {
			*error_r = oom;
			return -ENOMEM;
		}
		return 0;
	}

	out = o = arena_alloc(a, (size_t)(end - p));
	if (out == NULL) {
		*error_r = oom;
		return -ENOMEM;
	}
	for (p++;; p++) {
		if (p == end) {
			*error_r = "expected '\"' closing the quoted value, "
			    "got end of line";
			return -EINVAL;
		}
		if (*p == '"')
			break;
		if (*p == '\\') {
			p++;
			if (p == end || (*p != '"' && *p != '\\')) {
				*error_r = "expected \\\" or \\\\ in the "
				    "quoted value, got another backslash "
				    "escape";
				return -EINVAL;
			}
		}
		*o++ = *p;
	}
	*o = '\0';
	p = skip_blanks(p + 1, end);
	if (p < end && *p != '#') {
		*error_r = "expected end of line or a comment after the "
		    "quoted value, got more text";
		return -EINVAL;
	}
	*value_r = out;
	return 0;
}

static bool
same_qualifier(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static int
add_setting(struct parser *p, struct src *s, const char *key, size_t key_len,
    const char *qual, size_t qual_len, const char *v, const char *end)
{
	struct vec *scope = s->in_block ? &s->items : &p->globals;
	struct conf_item *items = scope->v, *it;
	const char *value, *error;
	char *k, *q = NULL;
	size_t i;
	int r;

	r = conf_lex_value(p->a, v, end, &value, &error);
	if (r == -ENOMEM) {
		*p->error_r = oom;
		return r;
	}
	if (r < 0)
		return src_fail(p, s, "%s", error);
	k = arena_strndup(p->a, key, key_len);
	if (qual != NULL)
		q = arena_strndup(p->a, qual, qual_len);
	if (k == NULL || (qual != NULL && q == NULL)) {
		*p->error_r = oom;
		return -ENOMEM;
	}
	for (i = 0; i < scope->n; i++) {
		if (strcmp(items[i].key, k) != 0 ||
		    !same_qualifier(items[i].qualifier, q))
			continue;
		if (s->in_block) {
			const struct conf_block *b =
			    (struct conf_block *)p->blocks.v + s->block;

			return src_fail(p, s, "duplicate setting '%s%s%s' in "
			    "block '%s %s'; first set at %s:%u", k,
			    q != NULL ? " " : "", q != NULL ? q : "", b->kind,
			    b->name, items[i].file, items[i].line);
		}
		return src_fail(p, s, "duplicate setting '%s%s%s' in global "
		    "settings; first set at %s:%u", k, q != NULL ? " " : "",
		    q != NULL ? q : "", items[i].file, items[i].line);
	}
	it = vec_push(p->a, scope, sizeof(*it));
	if (it == NULL) {
		*p->error_r = oom;
		return -ENOMEM;
	}
	it->key = k;
	it->qualifier = q;
	it->value = value;
	it->file = s->name;
	it->line = s->line;
	return 0;
}

static int
open_block(struct parser *p, struct src *s, const char *kind, size_t kind_len,
    const char *name, size_t name_len)
{
	struct conf_block *blocks = p->blocks.v, *b;
	char *k, *n;
	size_t i;

	k = arena_strndup(p->a, kind, kind_len);
	n = arena_strndup(p->a, name, name_len);
	if (k == NULL || n == NULL) {
		*p->error_r = oom;
		return -ENOMEM;
	}
	if (s->in_block) {
		b = blocks + s->block;
		return src_fail(p, s, "expected a setting or '}' in block "
		    "'%s %s' (opened at line %u), got nested block '%s %s'; "
		    "blocks do not nest", b->kind, b->name, b->line, k, n);
	}
	for (i = 0; i < p->blocks.n; i++)
		if (strcmp(blocks[i].kind, k) == 0 &&
		    strcmp(blocks[i].name, n) == 0)
			return src_fail(p, s, "duplicate block '%s %s'; first "
			    "opened at %s:%u", k, n, blocks[i].file,
			    blocks[i].line);
	b = vec_push(p->a, &p->blocks, sizeof(*b));
	if (b == NULL) {
		*p->error_r = oom;
		return -ENOMEM;
	}
	b->kind = k;
	b->name = n;
	b->file = s->name;
	b->line = s->line;
	s->block = p->blocks.n - 1;
	s->in_block = true;
	memset(&s->items, 0, sizeof(s->items));
	return 0;
}

static void
close_block(struct parser *p, struct src *s)
{
	struct conf_block *b = (struct conf_block *)p->blocks.v + s->block;

	b->items = s->items.v;
	b->n_items = s->items.n;
	s->in_block = false;
}

static int parse_file(struct parser *p, const char *path,
    const struct src *from);

static bool
has_glob_chars(const char *s)
{
	return strpbrk(s, "*?[") != NULL;
}

/* dir + "/" + rest, with dir's glob characters escaped if escape */
static char *
join_path(struct arena *a, const char *dir, const char *rest, bool escape)
{
	size_t dl = strlen(dir), i;
	char *out, *o;

	out = o = arena_alloc(a, dl * 2 + strlen(rest) + 2);
	if (out == NULL)
		return NULL;
	for (i = 0; i < dl; i++) {
		if (escape && strchr("*?[\\", dir[i]) != NULL)
			*o++ = '\\';
		*o++ = dir[i];
	}
	if (dl > 0 && dir[dl - 1] != '/')
		*o++ = '/';
	strcpy(o, rest);
	return out;
}

static int
cmp_str(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

/* A missing directory is no match; anything else unreadable is an error. */
static int
glob_error(const char *path, int err)
{
	return err != ENOENT && err != ENOTDIR;
}

static int
include(struct parser *p, struct src *s, const char *path)
{
	bool relative = path[0] != '/' && s->dir != NULL;
	char *full, **names;
	glob_t g;
	size_t i, n;
	int r;

	if (path[0] == '\0')
		return src_fail(p, s, "expected a file or glob after "
		    "include, got an empty path");
	if (s->depth + 1 > CONF_INCLUDE_DEPTH_MAX)
		return src_fail(p, s, "expected includes nested at most %d "
		    "deep, got include '%s' at depth %d",
		    CONF_INCLUDE_DEPTH_MAX, path, s->depth + 1);
	if (!has_glob_chars(path)) {
		full = relative ? join_path(p->a, s->dir, path, false) :
		    arena_strdup(p->a, path);
		if (full == NULL) {
			*p->error_r = oom;
			return -ENOMEM;
		}
		return parse_file(p, full, s);
	}

	full = relative ? join_path(p->a, s->dir, path, true) :
	    arena_strdup(p->a, path);
	if (full == NULL) {
		*p->error_r = oom;
		return -ENOMEM;
	}
	memset(&g, 0, sizeof(g));
	r = glob(full, 0, glob_error, &g);
	if (r == GLOB_NOMATCH) {
		globfree(&g);
		return 0;
	}
	if (r != 0) {
		globfree(&g);
		if (r == GLOB_NOSPACE) {
			*p->error_r = oom;
			return -ENOMEM;
		}
		return src_fail(p, s, "cannot read a directory for include "
		    "'%s'", full);
	}
	/* copy out first: the includes may fail, and the glob must go */
	n = g.gl_pathc;
	names = arena_alloc(p->a, (n + 1) * sizeof(*names));
	for (i = 0; names != NULL && i < n; i++) {
		names[i] = arena_strdup(p->a, g.gl_pathv[i]);
		if (names[i] == NULL)
			names = NULL;
	}
	globfree(&g);
	if (names == NULL) {
		*p->error_r = oom;
		return -ENOMEM;
	}
	/* glob(3) sorts by the locale; config order must not depend on it */
	qsort(names, n, sizeof(*names), cmp_str);
	for (i = 0; i < n; i++) {
		r = parse_file(p, names[i], s);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Length of the run of characters at p that ok() accepts. */
static size_t
span(const char *p, const char *end, bool (*ok)(char))
{
	const char *q = p;

	while (q < end && ok(*q))
		q++;
	return (size_t)(q - p);
}

static int
parse_line(struct parser *p, struct src *s, const char *l, const char *end)
{
	const char *w1, *w2, *c;
	size_t n1, n2;

	for (c = l; c < end; c++) {
		unsigned char ch = (unsigned char)*c;

		if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
			return src_fail(p, s, "expected text, got control "
			    "byte 0x%02x", ch);
	}

	c = skip_blanks(l, end);
	if (c == end || *c == '#')
		return 0;

	if (*c == '}') {
		c = skip_blanks(c + 1, end);
		if (c < end && *c != '#')
			return src_fail(p, s, "expected end of line after "
			    "'}', got %s", describe(p->a, c, end));
		if (!s->in_block)
			return src_fail(p, s, "expected a setting, include "
			    "or block, got '}' without an open block");
		close_block(p, s);
		return 0;
	}

	w1 = c;
	n1 = span(c, end, is_key_char);
	c += n1;
	if (n1 == 0 || (c < end && !is_blank(*c) && *c != '=' && *c != '{'))
		return src_fail(p, s, "expected a key ([a-z0-9_.-]), "
		    "include, a block or '}', got %s", describe(p->a, w1,
		    end));
	c = skip_blanks(c, end);

	if (n1 == 7 && memcmp(w1, "include", 7) == 0) {
		const char *path, *error;
		int r;

		if (s->in_block) {
			const struct conf_block *b =
			    (struct conf_block *)p->blocks.v + s->block;

			return src_fail(p, s, "expected a setting or '}' in "
			    "block '%s %s', got include (only allowed at top "
			    "level)", b->kind, b->name);
		}
		if (c < end && *c == '=')
			return src_fail(p, s, "expected a path after "
			    "include, got '='; include is not a setting");
		r = conf_lex_value(p->a, c, end, &path, &error);
		if (r == -ENOMEM) {
			*p->error_r = oom;
			return r;
		}
		if (r < 0)
			return src_fail(p, s, "%s", error);
		return include(p, s, path);
	}

	if (c < end && *c == '=')
		return add_setting(p, s, w1, n1, NULL, 0, c + 1, end);

	w2 = c;
	n2 = span(c, end, is_name_char);
	c += n2;
	if (n2 == 0 || (c < end && !is_blank(*c) && *c != '=' && *c != '{'))
		return src_fail(p, s, "expected '=' or a qualifier "
		    "([A-Za-z0-9_.:*@-]) after '%.*s', got %s", (int)n1, w1,
		    describe(p->a, w2, end));
	c = skip_blanks(c, end);
	if (c < end && *c == '=')
		return add_setting(p, s, w1, n1, w2, n2, c + 1, end);
	if (c < end && *c == '{') {
		const char *after = skip_blanks(c + 1, end);

		if (after < end && *after != '#')
			return src_fail(p, s, "expected end of line after "
			    "'{' (one setting per line), got %s",
			    describe(p->a, after, end));
		return open_block(p, s, w1, n1, w2, n2);
	}
	return src_fail(p, s, "expected '=' or '{' after '%.*s %.*s', got %s",
	    (int)n1, w1, (int)n2, w2, describe(p->a, c, end));
}

static int
parse_text(struct parser *p, const char *name, const char *dir,
    const char *text, size_t len, int depth)
{
	struct src s;
	const char *cur = text, *end = text + len;
	int r;

	memset(&s, 0, sizeof(s));
	s.name = name;
	s.dir = dir;
	s.depth = depth;
	while (cur < end) {
		const char *lf = memchr(cur, '\n', (size_t)(end - cur));
		const char *le = lf != NULL ? lf : end;

		s.line++;
		if (le > cur && le[-1] == '\r')
			le--;
		r = parse_line(p, &s, cur, le);
		if (r < 0)
			return r;
		cur = lf != NULL ? lf + 1 : end;
	}
	if (s.in_block) {
		const struct conf_block *b =
		    (struct conf_block *)p->blocks.v + s.block;

		return src_fail(p, &s, "expected '}' closing block '%s %s' "
		    "(opened at line %u), got end of file", b->kind, b->name,
		    b->line);
	}
	return 0;
}

/* The directory part of path, or NULL when it has none (cwd). */
static int
dir_of(struct arena *a, const char *path, const char **dir_r)
{
	const char *slash = strrchr(path, '/');

	*dir_r = NULL;
	if (slash == NULL)
		return 0;
	*dir_r = arena_strndup(a, path, slash == path ? 1 :
	    (size_t)(slash - path));
	return *dir_r == NULL ? -ENOMEM : 0;
}

/*
 * Reads path whole into a malloc()ed buffer (freed by the caller) after
 * the loop check; from is the including file, NULL for the top one.
 */
static int
read_file(struct parser *p, const char *path, const struct src *from,
    struct file_id *id_r, char **buf_r, size_t *len_r)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0, i;
	int fd;
	const char *why;

	*buf_r = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 || fstat(fd, &st) < 0) {
		why = strerror(errno);
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		why = S_ISDIR(st.st_mode) ? "expected a file, got a directory" :
		    "expected a regular file, got another kind of file";
		goto fail;
	}
	for (i = 0; i < p->n_open; i++) {
		if (p->open[i].dev == st.st_dev &&
		    p->open[i].ino == st.st_ino) {
			close(fd);
			return src_fail(p, from, "include loop: '%s' is "
			    "already being read", path);
		}
	}
	id_r->dev = st.st_dev;
	id_r->ino = st.st_ino;
	if (st.st_size > CONF_FILE_SIZE_MAX) {
		why = "expected at most 4M, got a larger file";
		goto fail;
	}
	/* one byte more than its size tells a file that grew meanwhile */
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		close(fd);
		*p->error_r = oom;
		return -ENOMEM;
	}
	for (;;) {
		size_t room = (size_t)st.st_size + 1 - len;
		ssize_t n;

		if (room == 0) {
			why = "expected a file that does not change while "
			    "read, got a growing file";
			goto fail;
		}
		n = read(fd, buf + len, room);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			why = strerror(errno);
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	*buf_r = buf;
	*len_r = len;
	return 0;
fail:
	free(buf);
	if (fd >= 0)
		close(fd);
	if (from != NULL)
		return src_fail(p, from, "cannot read include '%s': %s", path,
		    why);
	return conf_fail(p->a, p->error_r, "%s: cannot read config file: %s",
	    path, why);
}

static int
parse_file(struct parser *p, const char *path, const struct src *from)
{
	struct file_id id;
	const char *name, *dir;
	char *buf = NULL;
	size_t len = 0;
	int r;

	name = arena_strdup(p->a, path);
	if (name == NULL || dir_of(p->a, path, &dir) < 0) {
		*p->error_r = oom;
		return -ENOMEM;
	}
	r = read_file(p, name, from, &id, &buf, &len);
	if (r < 0)
		return r;
	p->open[p->n_open++] = id;
	r = parse_text(p, name, dir, buf, len, from != NULL ?
	    from->depth + 1 : 0);
	p->n_open--;
	free(buf);
	return r;
}

static int
finish(struct parser *p, struct conf_doc **doc_r)
{
	struct conf_doc *doc = arena_zalloc(p->a, sizeof(*doc));

	if (doc == NULL) {
		*p->error_r = oom;
		return -ENOMEM;
	}
	doc->globals = p->globals.v;
	doc->n_globals = p->globals.n;
	doc->blocks = p->blocks.v;
	doc->n_blocks = p->blocks.n;
	*doc_r = doc;
	return 0;
}

static void
parser_init(struct parser *p, struct arena *a, const char **error_r)
{
	memset(p, 0, sizeof(*p));
	p->a = a;
	p->error_r = error_r;
	*error_r = NULL;
}

int
conf_parse_file(struct arena *a, const char *path, struct conf_doc **doc_r,
    const char **error_r)
{
	struct parser p;
	int r;

	*doc_r = NULL;
	parser_init(&p, a, error_r);
	r = parse_file(&p, path, NULL);
	if (r == 0)
		r = finish(&p, doc_r);
	return r;
}

int
conf_parse_string(struct arena *a, const char *name, const char *text,
    const char *basedir, struct conf_doc **doc_r, const char **error_r)
{
	struct parser p;
	const char *n, *dir = NULL;
	int r;

	*doc_r = NULL;
	parser_init(&p, a, error_r);
	n = arena_strdup(a, name != NULL ? name : "<string>");
	if (basedir != NULL)
		dir = arena_strdup(a, basedir);
	if (n == NULL || (basedir != NULL && dir == NULL)) {
		*error_r = oom;
		return -ENOMEM;
	}
	r = parse_text(&p, n, dir, text, strlen(text), 0);
	if (r == 0)
		r = finish(&p, doc_r);
	return r;
}

const struct conf_block *
conf_find_block(const struct conf_doc *doc, const char *kind,
    const char *name)
{
	size_t i;

	for (i = 0; i < doc->n_blocks; i++)
		if (strcmp(doc->blocks[i].kind, kind) == 0 &&
		    strcmp(doc->blocks[i].name, name) == 0)
			return &doc->blocks[i];
	return NULL;
}
