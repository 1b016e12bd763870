/* test_conf.c: config grammar, includes, value types and settings tables */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "arena.h"
#include "conf.h"

struct fx {
	struct arena *a;
	char dir[PATH_MAX];
};

static int
setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	const char *tmp = getenv("TMPDIR");

	assert_non_null(fx);
	fx->a = arena_new(4096, 0);
	assert_non_null(fx->a);
	if (tmp == NULL || tmp[0] == '\0')
		tmp = "/tmp";
	snprintf(fx->dir, sizeof(fx->dir), "%s/posta-conf-XXXXXX", tmp);
	assert_non_null(mkdtemp(fx->dir));
	*state = fx;
	return 0;
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int
teardown(void **state)
{
	struct fx *fx = *state;

	assert_int_equal(nftw(fx->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
	arena_free(&fx->a);
	assert_null(fx->a);
	free(fx);
	return 0;
}

/* fx->dir + "/" + rel, in the arena */
static const char *
path(struct fx *fx, const char *rel)
{
	char *p = arena_printf(fx->a, "%s/%s", fx->dir, rel);

	assert_non_null(p);
	return p;
}

static void
mkdir_rel(struct fx *fx, const char *rel)
{
	assert_int_equal(mkdir(path(fx, rel), 0755), 0);
}

static void
write_rel(struct fx *fx, const char *rel, const char *text)
{
	FILE *f = fopen(path(fx, rel), "w");

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
	assert_int_equal(fclose(f), 0);
}

/* Tests that need relative paths run in fx->dir, then go back. */
static void
enter(struct fx *fx, char *old, size_t len)
{
	assert_non_null(getcwd(old, len));
	assert_int_equal(chdir(fx->dir), 0);
}

static void
leave(const char *old)
{
	assert_int_equal(chdir(old), 0);
}

static const struct conf_doc *
parse_ok(struct fx *fx, const char *text)
{
	struct conf_doc *doc = NULL;
	const char *error = NULL;
	int r;

	r = conf_parse_string(fx->a, "t.conf", text, fx->dir, &doc, &error);
	if (r != 0)
		fail_msg("unexpected error %d: %s", r, error);
	assert_null(error);
	assert_non_null(doc);
	return doc;
}

static void
parse_err(struct fx *fx, const char *text, const char *expect)
{
	struct conf_doc *doc = (struct conf_doc *)1;
	const char *error = NULL;
	int r;

	r = conf_parse_string(fx->a, "t.conf", text, fx->dir, &doc, &error);
	assert_int_equal(r, POSTA_ECONFIG);
	assert_null(doc);
	assert_non_null(error);
	if (strstr(error, expect) == NULL)
		fail_msg("error \"%s\" lacks \"%s\"", error, expect);
}

static void
file_err(struct fx *fx, const char *rel, const char *expect)
{
	struct conf_doc *doc = (struct conf_doc *)1;
	const char *error = NULL;
	int r;

	r = conf_parse_file(fx->a, path(fx, rel), &doc, &error);
	assert_int_equal(r, POSTA_ECONFIG);
	assert_null(doc);
	assert_non_null(error);
	if (strstr(error, expect) == NULL)
		fail_msg("error \"%s\" lacks \"%s\"", error, expect);
}

static const struct conf_doc *
file_ok(struct fx *fx, const char *rel)
{
	struct conf_doc *doc = NULL;
	const char *error = NULL;
	int r;

	r = conf_parse_file(fx->a, path(fx, rel), &doc, &error);
	if (r != 0)
		fail_msg("unexpected error %d: %s", r, error);
	assert_non_null(doc);
	return doc;
}

static void
assert_item(const struct conf_item *it, const char *key, const char *qual,
    const char *value, unsigned line)
{
	assert_string_equal(it->key, key);
	if (qual == NULL)
		assert_null(it->qualifier);
	else
		assert_string_equal(it->qualifier, qual);
	assert_string_equal(it->value, value);
	assert_int_equal(it->line, line);
}

/* ---- grammar ---- */

static void
test_grammar(void **state)
{
	struct fx *fx = *state;
	const struct conf_doc *doc;
	const struct conf_block *b;

	doc = parse_ok(fx,
	    "# postad.conf\n"
	    "\n"
	    "user = posta   # trailing comment\n"
	    "\thostname\t=\tmail.example.net\t\n"
	    "empty =\n"
	    "empty2 = # only a comment\n"
	    "max_userip_connections imap = 25\n"
	    "max_userip_connections pop3 = 5\n"
	    "protocol imap {   # the module\n"
	    "  idle_timeout = 30m\n"
	    "  max_userip_connections imap = 25\n"
	    "}   # end\n"
	    "service imaps{\n"
	    "  listen = 0.0.0.0:993, [::]:993\n"
	    "  tls=implicit\n"
	    "}\n"
	    "certificate mail.example.net {\n"
	    "}\n"
	    "x.y-z_1 *.Example.NET:25@a {\n"
	    "a-b.c_d Q.u:a*l@1-_ = v\n"
	    "}");
	assert_int_equal(doc->n_globals, 6);
	assert_item(&doc->globals[0], "user", NULL, "posta", 3);
	assert_string_equal(doc->globals[0].file, "t.conf");
	assert_item(&doc->globals[1], "hostname", NULL, "mail.example.net", 4);
	assert_item(&doc->globals[2], "empty", NULL, "", 5);
	assert_item(&doc->globals[3], "empty2", NULL, "", 6);
	assert_item(&doc->globals[4], "max_userip_connections", "imap", "25",
	    7);
	assert_item(&doc->globals[5], "max_userip_connections", "pop3", "5",
	    8);

	assert_int_equal(doc->n_blocks, 4);
	b = &doc->blocks[0];
	assert_string_equal(b->kind, "protocol");
	assert_string_equal(b->name, "imap");
	assert_string_equal(b->file, "t.conf");
	assert_int_equal(b->line, 9);
	assert_int_equal(b->n_items, 2);
	assert_item(&b->items[0], "idle_timeout", NULL, "30m", 10);
	assert_item(&b->items[1], "max_userip_connections", "imap", "25", 11);
	b = &doc->blocks[1];
	assert_string_equal(b->name, "imaps");
	assert_int_equal(b->n_items, 2);
	assert_item(&b->items[0], "listen", NULL, "0.0.0.0:993, [::]:993", 14);
	assert_item(&b->items[1], "tls", NULL, "implicit", 15);
	b = &doc->blocks[2];
	assert_string_equal(b->name, "mail.example.net");
	assert_int_equal(b->n_items, 0);
	b = &doc->blocks[3];
	assert_string_equal(b->kind, "x.y-z_1");
	assert_string_equal(b->name, "*.Example.NET:25@a");
	assert_item(&b->items[0], "a-b.c_d", "Q.u:a*l@1-_", "v", 20);

	assert_ptr_equal(conf_find_block(doc, "service", "imaps"),
	    &doc->blocks[1]);
	assert_ptr_equal(conf_find_block(doc, "certificate",
	    "mail.example.net"), &doc->blocks[2]);
	assert_null(conf_find_block(doc, "service", "imap"));
	assert_null(conf_find_block(doc, "plugin", "imaps"));
}

static void
test_empty_and_crlf(void **state)
{
	struct fx *fx = *state;
	const struct conf_doc *doc;

	doc = parse_ok(fx, "");
	assert_int_equal(doc->n_globals, 0);
	assert_int_equal(doc->n_blocks, 0);
	doc = parse_ok(fx, "\n\n   \n\t# x\n");
	assert_int_equal(doc->n_globals, 0);

	doc = parse_ok(fx, "a = 1\r\nk n {\r\nb = \"x\"\r\n}\r\n");
	assert_int_equal(doc->n_globals, 1);
	assert_item(&doc->globals[0], "a", NULL, "1", 1);
	assert_item(&doc->blocks[0].items[0], "b", NULL, "x", 3);
	/* a CR elsewhere is a control byte */
	parse_err(fx, "a = 1\r2\n", "t.conf:1: expected text, got control "
	    "byte 0x0d");
}

static void
test_values(void **state)
{
	struct fx *fx = *state;
	const struct conf_doc *doc;

	doc = parse_ok(fx,
	    "a = \"with # hash\"  # comment\n"
	    "b = \"  padded  \"\n"
	    "c = \"esc \\\"q\\\" and \\\\ back\"\n"
	    "d = \"\"\n"
	    "e = un\"quoted\" stays\n"
	    "f = a#b\n"
	    "g = x = y\n"
	    "h=\"#\"#\"\n"
	    "i = caf\xc3\xa9\n");
	assert_string_equal(doc->globals[0].value, "with # hash");
	assert_string_equal(doc->globals[1].value, "  padded  ");
	assert_string_equal(doc->globals[2].value, "esc \"q\" and \\ back");
	assert_string_equal(doc->globals[3].value, "");
	assert_string_equal(doc->globals[4].value, "un\"quoted\" stays");
	assert_string_equal(doc->globals[5].value, "a");
	assert_string_equal(doc->globals[6].value, "x = y");
	assert_string_equal(doc->globals[7].value, "#");
	assert_string_equal(doc->globals[8].value, "caf\xc3\xa9");

	parse_err(fx, "a = 1\nb = \"open\n", "t.conf:2: expected '\"' closing "
	    "the quoted value, got end of line");
	parse_err(fx, "b = \"tail\\\"\n", "t.conf:1: expected '\"' closing");
	parse_err(fx, "b = \"bad \\n escape\"\n", "t.conf:1: expected \\\" or "
	    "\\\\ in the quoted value, got another backslash escape");
	parse_err(fx, "b = \"end\\", "t.conf:1: expected \\\" or \\\\");
	parse_err(fx, "b = \"x\" y\n", "t.conf:1: expected end of line or a "
	    "comment after the quoted value, got more text");
	parse_err(fx, "k n {\nb = \"x\"\"y\"\n}\n", "t.conf:2: expected end "
	    "of line or a comment after the quoted value");
}

static void
test_syntax_errors(void **state)
{
	struct fx *fx = *state;

	parse_err(fx, "ok = 1\nFoo = 1\n", "t.conf:2: expected a key "
	    "([a-z0-9_.-]), include, a block or '}', got 'Foo'");
	parse_err(fx, "= 5\n", "t.conf:1: expected a key ([a-z0-9_.-]), "
	    "include, a block or '}', got '='");
	parse_err(fx, "fooBar = 1\n", "t.conf:1: expected a key "
	    "([a-z0-9_.-]), include, a block or '}', got 'fooBar'");
	parse_err(fx, "foo! = 1\n", "got 'foo!'");
	parse_err(fx, "\"q\" = 1\n", "t.conf:1: expected a key");
	parse_err(fx, "foo\n", "t.conf:1: expected '=' or a qualifier "
	    "([A-Za-z0-9_.:*@-]) after 'foo', got end of line");
	parse_err(fx, "foo # c\n", "t.conf:1: expected '=' or a qualifier "
	    "([A-Za-z0-9_.:*@-]) after 'foo', got '#'");
	parse_err(fx, "foo bar! = 1\n", "t.conf:1: expected '=' or a "
	    "qualifier ([A-Za-z0-9_.:*@-]) after 'foo', got 'bar!'");
	parse_err(fx, "foo bar\n", "t.conf:1: expected '=' or '{' after "
	    "'foo bar', got end of line");
	parse_err(fx, "foo bar baz = 1\n", "t.conf:1: expected '=' or '{' "
	    "after 'foo bar', got 'baz'");
	parse_err(fx, "foo bar ( \n", "t.conf:1: expected '=' or '{' after "
	    "'foo bar', got '('");
	parse_err(fx, "a = x\x01y\n", "t.conf:1: expected text, got control "
	    "byte 0x01");
	parse_err(fx, "# comment \x1b too\n", "t.conf:1: expected text, got "
	    "control byte 0x1b");
	parse_err(fx, "a = \x7f\n", "control byte 0x7f");
	/* long words are cut in messages */
	parse_err(fx, "ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJ = 1\n",
	    "got 'ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEF...'");
}

static void
test_block_errors(void **state)
{
	struct fx *fx = *state;

	parse_err(fx, "a = 1\n}\n", "t.conf:2: expected a setting, include "
	    "or block, got '}' without an open block");
	parse_err(fx, "k n {\n}\n}\n", "t.conf:3: expected a setting, "
	    "include or block, got '}' without an open block");
	parse_err(fx, "k n {\n} x\n", "t.conf:2: expected end of line after "
	    "'}', got 'x'");
	parse_err(fx, "k n {\na = 1 }\n", "t.conf:2: expected '}' closing "
	    "block 'k n' (opened at line 1), got end of file");
	parse_err(fx, "k n { a = 1 }\n", "t.conf:1: expected end of line "
	    "after '{' (one setting per line), got 'a'");
	parse_err(fx, "k n {}\n", "t.conf:1: expected end of line after '{' "
	    "(one setting per line), got '}'");
	parse_err(fx, "x = 1\nk n {\na = 1\n", "t.conf:3: expected '}' "
	    "closing block 'k n' (opened at line 2), got end of file");
	parse_err(fx, "k n {", "t.conf:1: expected '}' closing block 'k n' "
	    "(opened at line 1), got end of file");
	parse_err(fx, "service a {\n  a = 1\n  plugin b {\n  }\n}\n",
	    "t.conf:3: expected a setting or '}' in block 'service a' "
	    "(opened at line 1), got nested block 'plugin b'; blocks do not "
	    "nest");
	parse_err(fx, "k n {\ninclude x.conf\n}\n", "t.conf:2: expected a "
	    "setting or '}' in block 'k n', got include (only allowed at top "
	    "level)");
	parse_err(fx, "K n {\n}\n", "t.conf:1: expected a key");
	parse_err(fx, "k n/x {\n}\n", "t.conf:1: expected '=' or a qualifier "
	    "([A-Za-z0-9_.:*@-]) after 'k', got 'n/x'");
}

static void
test_duplicates(void **state)
{
	struct fx *fx = *state;
	const struct conf_doc *doc;

	parse_err(fx, "a = 1\nb = 2\na = 3\n", "t.conf:3: duplicate setting "
	    "'a' in global settings; first set at t.conf:1");
	parse_err(fx, "m imap = 1\nm imap = 2\n", "t.conf:2: duplicate "
	    "setting 'm imap' in global settings; first set at t.conf:1");
	parse_err(fx, "plugin limiter {\nm imap = 25\n\nm imap = 5\n}\n",
	    "t.conf:4: duplicate setting 'm imap' in block 'plugin "
	    "limiter'; first set at t.conf:2");
	parse_err(fx, "k n {\na = 1\na = \"1\"\n}\n", "t.conf:3: duplicate "
	    "setting 'a' in block 'k n'; first set at t.conf:2");
	parse_err(fx, "k n {\n}\nx = 1\nk n {\n}\n", "t.conf:4: duplicate "
	    "block 'k n'; first opened at t.conf:1");

	/* same key elsewhere, or with another qualifier, is another setting */
	doc = parse_ok(fx, "a = 1\nm = 0\nm imap = 1\nm pop3 = 2\n"
	    "k n {\na = 1\nm imap = 1\n}\nk o {\na = 1\n}\nj n {\na = 1\n}\n");
	assert_int_equal(doc->n_globals, 4);
	assert_int_equal(doc->n_blocks, 3);
}

/* ---- includes ---- */

static void
test_include_glob_order(void **state)
{
	struct fx *fx = *state;
	const struct conf_doc *doc;

	mkdir_rel(fx, "conf.d");
	mkdir_rel(fx, "conf.d/sub");
	write_rel(fx, "conf.d/30-c.conf", "c = 3\n");
	write_rel(fx, "conf.d/10-a.conf", "a = 1\ninclude sub/x.conf\n");
	write_rel(fx, "conf.d/20-b.conf", "plugin b {\n  v = 2\n}\n");
	write_rel(fx, "conf.d/README", "not = included\n");
	write_rel(fx, "conf.d/sub/x.conf", "x = 9  # relative to conf.d\n");
	write_rel(fx, "postad.conf", "top = 0\ninclude \"conf.d/*.conf\"  "
	    "# snippets\nlast = 1\ninclude none/*.conf\ninclude "
	    "conf.d/*.none\n");

	doc = file_ok(fx, "postad.conf");
	assert_int_equal(doc->n_globals, 5);
	assert_item(&doc->globals[0], "top", NULL, "0", 1);
	assert_string_equal(doc->globals[0].file, path(fx, "postad.conf"));
	assert_item(&doc->globals[1], "a", NULL, "1", 1);
	assert_string_equal(doc->globals[1].file, path(fx,
	    "conf.d/10-a.conf"));
	assert_item(&doc->globals[2], "x", NULL, "9", 1);
	assert_string_equal(doc->globals[2].file, path(fx,
	    "conf.d/sub/x.conf"));
	assert_item(&doc->globals[3], "c", NULL, "3", 1);
	assert_item(&doc->globals[4], "last", NULL, "1", 3);
	assert_int_equal(doc->n_blocks, 1);
	assert_string_equal(doc->blocks[0].file, path(fx,
	    "conf.d/20-b.conf"));
	assert_int_equal(doc->blocks[0].line, 1);
	assert_item(&doc->blocks[0].items[0], "v", NULL, "2", 2);

	/* an error deep down names that file and line */
	write_rel(fx, "conf.d/sub/x.conf", "x = 9\n\nbad\n");
	file_err(fx, "postad.conf", "/conf.d/sub/x.conf:3: expected '=' or "
	    "a qualifier");

	/* duplicates across files name both files */
	write_rel(fx, "conf.d/sub/x.conf", "top = 9\n");
	file_err(fx, "postad.conf", "/conf.d/sub/x.conf:1: duplicate setting "
	    "'top' in global settings; first set at ");
	write_rel(fx, "conf.d/sub/x.conf", "\n\nplugin b {\n}\n");
	file_err(fx, "postad.conf", "/conf.d/20-b.conf:1: duplicate block "
	    "'plugin b'; first opened at ");
	file_err(fx, "postad.conf", "/conf.d/sub/x.conf:3");

	/* a block must close in its own file */
	write_rel(fx, "conf.d/sub/x.conf", "plugin c {\n");
	file_err(fx, "postad.conf", "/conf.d/sub/x.conf:1: expected '}' "
	    "closing block 'plugin c' (opened at line 1), got end of file");
}

static void
test_include_string_basedir(void **state)
{
	struct fx *fx = *state;
	const struct conf_doc *doc;
	struct conf_doc *d2;
	const char *error;
	char *text, cwd[PATH_MAX];

	write_rel(fx, "one.conf", "one = 1\n");
	doc = parse_ok(fx, "include one.conf\n");
	assert_int_equal(doc->n_globals, 1);
	assert_string_equal(doc->globals[0].file, path(fx, "one.conf"));

	/* absolute paths ignore basedir */
	text = arena_printf(fx->a, "include \"%s\"\n", path(fx, "one.conf"));
	assert_int_equal(conf_parse_string(fx->a, NULL, text, "/nonexistent",
	    &d2, &error), 0);
	assert_int_equal(d2->n_globals, 1);

	/* NULL basedir means the current directory */
	enter(fx, cwd, sizeof(cwd));
	assert_int_equal(conf_parse_string(fx->a, NULL, "include one.conf\n",
	    NULL, &d2, &error), 0);
	assert_string_equal(d2->globals[0].file, "one.conf");
	assert_int_equal(conf_parse_string(fx->a, NULL, "include o*.conf\n",
	    NULL, &d2, &error), 0);
	assert_string_equal(d2->globals[0].file, "one.conf");
	assert_int_equal(conf_parse_string(fx->a, NULL, "a = \"x\n", NULL,
	    &d2, &error), POSTA_ECONFIG);
	assert_non_null(strstr(error, "<string>:1: expected '\"'"));
	leave(cwd);
}

static void
test_include_dir_with_glob_chars(void **state)
{
	struct fx *fx = *state;
	const struct conf_doc *doc;

	/* the including file's directory is literal, not a pattern */
	mkdir_rel(fx, "we[ir]d*dir");
	mkdir_rel(fx, "we[ir]d*dir/d");
	write_rel(fx, "we[ir]d*dir/main.conf", "include d/*.conf\n");
	write_rel(fx, "we[ir]d*dir/d/1.conf", "one = 1\n");
	mkdir_rel(fx, "weid*dir");
	mkdir_rel(fx, "weid*dir/d");
	write_rel(fx, "weid*dir/d/1.conf", "wrong = 1\n");
	doc = file_ok(fx, "we[ir]d*dir/main.conf");
	assert_int_equal(doc->n_globals, 1);
	assert_string_equal(doc->globals[0].key, "one");
}

static void
test_include_errors(void **state)
{
	struct fx *fx = *state;

	write_rel(fx, "a.conf", "a = 1\n");
	parse_err(fx, "\ninclude missing.conf\n", "t.conf:2: cannot read "
	    "include '");
	parse_err(fx, "include missing.conf\n", "/missing.conf': No such file "
	    "or directory");
	/* a glob matching nothing, even in a missing directory, is fine */
	parse_ok(fx, "include *.none\ninclude nodir/*.conf\n");
	parse_err(fx, "include\n", "t.conf:1: expected a file or glob after "
	    "include, got an empty path");
	parse_err(fx, "include # x\n", "t.conf:1: expected a file or glob "
	    "after include, got an empty path");
	parse_err(fx, "include \"\"\n", "expected a file or glob after");
	parse_err(fx, "include = a.conf\n", "t.conf:1: expected a path after "
	    "include, got '='; include is not a setting");
	parse_err(fx, "include \"a.conf\n", "t.conf:1: expected '\"' "
	    "closing the quoted value, got end of line");
	parse_err(fx, "include \"a.conf\" x\n", "t.conf:1: expected end of "
	    "line or a comment after the quoted value");
	mkdir_rel(fx, "adir");
	parse_err(fx, "include adir\n", "t.conf:1: cannot read include '");
	parse_err(fx, "include adir\n", "/adir': expected a file, got a "
	    "directory");
	parse_err(fx, "include a*\n", "/adir': expected a file, got a "
	    "directory");
	assert_int_equal(symlink("loop", path(fx, "loop")), 0);
	parse_err(fx, "include loop/*.conf\n", "t.conf:1: cannot read a "
	    "directory for include '");
	/* an error in the included file is reported, not the include */
	write_rel(fx, "b.conf", "\n\n}\n");
	parse_err(fx, "include b.conf\n", "/b.conf:3: expected a setting, "
	    "include or block, got '}' without an open block");
	write_rel(fx, "c.conf", "x = 1\n\0y = 2\n");
	{
		/* write_rel stops at the NUL: write it by hand */
		int fd = open(path(fx, "c.conf"), O_WRONLY | O_TRUNC);

		assert_true(fd >= 0);
		assert_int_equal(write(fd, "x = 1\ny\0 = 2\n", 13), 13);
		close(fd);
	}
	parse_err(fx, "include c.conf\n", "/c.conf:2: expected text, got "
	    "control byte 0x00");
}

static void
test_include_loop(void **state)
{
	struct fx *fx = *state;

	write_rel(fx, "self.conf", "a = 1\ninclude self.conf\n");
	file_err(fx, "self.conf", "/self.conf:2: include loop: '");
	file_err(fx, "self.conf", "/self.conf' is already being read");

	write_rel(fx, "x.conf", "include y.conf\n");
	write_rel(fx, "y.conf", "\ninclude \"x.conf\"\n");
	file_err(fx, "x.conf", "/y.conf:2: include loop: '");

	/* a glob that matches the file itself */
	write_rel(fx, "g.conf", "include *.conf\n");
	file_err(fx, "g.conf", "include loop");

	/* the same file twice side by side is no loop, but its settings
	   then repeat */
	write_rel(fx, "s.conf", "include y2.conf\ninclude y2.conf\n");
	write_rel(fx, "y2.conf", "k = 1\n");
	file_err(fx, "s.conf", "/y2.conf:1: duplicate setting 'k' in global "
	    "settings; first set at ");
	write_rel(fx, "y2.conf", "# nothing\n");
	file_ok(fx, "s.conf");
}

static void
test_include_depth(void **state)
{
	struct fx *fx = *state;
	const struct conf_doc *doc;
	char name[32], text[64];
	int i;

	/* d0 includes d1 ... d8: eight levels below the top */
	for (i = 0; i < 8; i++) {
		snprintf(name, sizeof(name), "d%d.conf", i);
		snprintf(text, sizeof(text), "v%d = %d\ninclude d%d.conf\n", i,
		    i, i + 1);
		write_rel(fx, name, text);
	}
	write_rel(fx, "d8.conf", "v8 = 8\n");
	doc = file_ok(fx, "d0.conf");
	assert_int_equal(doc->n_globals, 9);
	assert_string_equal(doc->globals[8].key, "v8");

	write_rel(fx, "d8.conf", "v8 = 8\ninclude d9.conf\n");
	write_rel(fx, "d9.conf", "v9 = 9\n");
	file_err(fx, "d0.conf", "/d8.conf:2: expected includes nested at "
	    "most 8 deep, got include 'd9.conf' at depth 9");
	/* from a string the count is the same */
	parse_err(fx, "include d0.conf\n", "/d7.conf:2: expected includes "
	    "nested at most 8 deep, got include 'd8.conf' at depth 9");
}

static void
test_file_errors(void **state)
{
	struct fx *fx = *state;
	char cwd[PATH_MAX];
	int fd;

	file_err(fx, "nope.conf", "/nope.conf: cannot read config file: No "
	    "such file or directory");
	mkdir_rel(fx, "d");
	file_err(fx, "d", "/d: cannot read config file: expected a file, got "
	    "a directory");
	/* too large: refused before reading (sparse, costs no disk) */
	fd = open(path(fx, "big.conf"), O_WRONLY | O_CREAT, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, CONF_FILE_SIZE_MAX + 1), 0);
	close(fd);
	file_err(fx, "big.conf", "/big.conf: cannot read config file: "
	    "expected at most 4M, got a larger file");
	write_rel(fx, "inc.conf", "\ninclude big.conf\n");
	file_err(fx, "inc.conf", "/inc.conf:2: cannot read include '");
	file_err(fx, "inc.conf", "/big.conf': expected at most 4M");
	assert_int_equal(truncate(path(fx, "big.conf"), CONF_FILE_SIZE_MAX),
	    0);
	file_err(fx, "big.conf", "/big.conf:1: expected text, got control "
	    "byte 0x00");
	/* a file relative to the cwd keeps its name as given */
	enter(fx, cwd, sizeof(cwd));
	write_rel(fx, "rel.conf", "a = 1\n");
	{
		struct conf_doc *doc;
		const char *error;

		assert_int_equal(conf_parse_file(fx->a, "rel.conf", &doc,
		    &error), 0);
		assert_string_equal(doc->globals[0].file, "rel.conf");
		assert_int_equal(conf_parse_file(fx->a, "x/../rel.conf", &doc,
		    &error), POSTA_ECONFIG);
		assert_string_equal(error, "x/../rel.conf: cannot read config "
		    "file: No such file or directory");
	}
	leave(cwd);
}

/* Every allocation failure is a clean -ENOMEM, never a crash. */
static void
test_out_of_memory(void **state)
{
	struct fx *fx = *state;
	const char *text = "a = \"q\"\nm imap = 1\nk n {\nb = 1\nc = 2\n}\n"
	    "include sub/*.conf\n";
	size_t limit;
	int ok = 0, oom = 0;

	mkdir_rel(fx, "sub");
	write_rel(fx, "sub/1.conf", "x = 1\nplugin p {\ny = 2\n}\n");
	for (limit = 256; limit <= 16384; limit += 64) {
		struct arena *a = arena_new(256, limit);
		struct conf_doc *doc;
		const char *error;
		int r;

		assert_non_null(a);
		r = conf_parse_string(a, "t.conf", text, fx->dir, &doc,
		    &error);
		if (r == 0) {
			ok++;
			assert_int_equal(doc->n_blocks, 2);
		} else {
			oom++;
			assert_int_equal(r, -ENOMEM);
			assert_string_equal(error, "out of memory");
		}
		arena_free(&a);
	}
	assert_true(ok > 0 && oom > 0);
}

/* ---- single values ---- */

static void
int_ok(const char *s, int64_t expect)
{
	const char *error = NULL;
	int64_t v = 12345;

	if (conf_value_int(s, &v, &error) != 0)
		fail_msg("'%s': %s", s, error);
	assert_true(v == expect);
}

static void
int_bad(const char *s, const char *expect)
{
	const char *error = NULL;
	int64_t v = 12345;

	assert_int_equal(conf_value_int(s, &v, &error), -EINVAL);
	assert_true(v == 12345);
	assert_non_null(error);
	if (strstr(error, expect) == NULL)
		fail_msg("'%s': error \"%s\" lacks \"%s\"", s, error, expect);
}

static void
test_value_int(void **state)
{
	int_ok("0", 0);
	int_ok("42", 42);
	int_ok("-1", -1);
	int_ok("007", 7);
	int_ok("9223372036854775807", INT64_MAX);
	int_ok("-9223372036854775808", INT64_MIN);
	int_bad("", "expected an integer, got an empty value");
	int_bad("-", "expected an integer, got other characters");
	int_bad("1x", "expected an integer, got other characters");
	int_bad("+1", "expected an integer, got other characters");
	int_bad(" 1", "got other characters");
	int_bad("1 ", "got other characters");
	int_bad("1k", "got other characters");
	int_bad("0x10", "got other characters");
	int_bad("--1", "got other characters");
	int_bad("9223372036854775808", "expected an integer, got a number "
	    "beyond 64 bits");
	int_bad("-9223372036854775809", "beyond 64 bits");
	int_bad("99999999999999999999999", "beyond 64 bits");
}

static void
size_ok(const char *s, uint64_t expect)
{
	const char *error = NULL;
	uint64_t v = 12345;

	if (conf_value_size(s, &v, &error) != 0)
		fail_msg("'%s': %s", s, error);
	assert_true(v == expect);
}

static void
size_bad(const char *s, const char *expect)
{
	const char *error = NULL;
	uint64_t v = 12345;

	assert_int_equal(conf_value_size(s, &v, &error), -EINVAL);
	assert_true(v == 12345);
	if (strstr(error, expect) == NULL)
		fail_msg("'%s': error \"%s\" lacks \"%s\"", s, error, expect);
}

static void
test_value_size(void **state)
{
	size_ok("0", 0);
	size_ok("123", 123);
	size_ok("512B", 512);
	size_ok("512b", 512);
	size_ok("64k", 64 * 1024);
	size_ok("64K", 64 * 1024);
	size_ok("64kB", 64 * 1024);
	size_ok("64kb", 64 * 1024);
	size_ok("10M", 10 * 1024 * 1024);
	size_ok("10m", 10 * 1024 * 1024);
	size_ok("10MB", 10 * 1024 * 1024);
	size_ok("1G", UINT64_C(1) << 30);
	size_ok("1gb", UINT64_C(1) << 30);
	size_ok("18446744073709551615", UINT64_MAX);
	size_ok("17179869183G", UINT64_C(17179869183) << 30);
	size_bad("", "expected a size (123, 512B, 64k, 10M, 1G), got an "
	    "empty value");
	size_bad("k", "expected a size (123, 512B, 64k, 10M, 1G), got no "
	    "number");
	size_bad("-1", "got no number");
	size_bad(" 1k", "got no number");
	size_bad("10X", "expected a size (123, 512B, 64k, 10M, 1G), got an "
	    "unknown unit");
	size_bad("10 k", "got an unknown unit");
	size_bad("1T", "got an unknown unit");
	size_bad("10kk", "got an unknown unit");
	size_bad("10kBB", "got an unknown unit");
	size_bad("10Bk", "got an unknown unit");
	size_bad("1.5M", "got an unknown unit");
	size_bad("18446744073709551616", "got a number beyond 64 bits");
	size_bad("17179869184G", "got a size beyond 64 bits");
	size_bad("18014398509481984k", "got a size beyond 64 bits");
}

static void
dur_ok(const char *s, uint64_t expect)
{
	const char *error = NULL;
	uint64_t v = 12345;

	if (conf_value_duration(s, &v, &error) != 0)
		fail_msg("'%s': %s", s, error);
	assert_true(v == expect);
}

static void
dur_bad(const char *s, const char *expect)
{
	const char *error = NULL;
	uint64_t v = 12345;

	assert_int_equal(conf_value_duration(s, &v, &error), -EINVAL);
	assert_true(v == 12345);
	if (strstr(error, expect) == NULL)
		fail_msg("'%s': error \"%s\" lacks \"%s\"", s, error, expect);
}

static void
test_value_duration(void **state)
{
	dur_ok("0", 0);
	dur_ok("0ms", 0);
	dur_ok("0s", 0);
	dur_ok("250ms", 250);
	dur_ok("30s", 30000);
	dur_ok("5m", 300000);
	dur_ok("1h", 3600000);
	dur_ok("2d", 2 * 86400000ULL);
	dur_ok("00", 0);
	dur_ok("213503982334d", UINT64_C(213503982334) * 86400000);
	dur_bad("", "expected a duration (250ms, 30s, 5m, 1h, 2d), got an "
	    "empty value");
	dur_bad("5", "expected a duration (250ms, 30s, 5m, 1h, 2d), got a "
	    "number without a unit");
	dur_bad("s", "got no number");
	dur_bad("-1s", "got no number");
	dur_bad("5x", "expected a duration (250ms, 30s, 5m, 1h, 2d), got an "
	    "unknown unit");
	dur_bad("5 s", "got an unknown unit");
	dur_bad("1H", "got an unknown unit");
	dur_bad("5M", "got an unknown unit");
	dur_bad("5sec", "got an unknown unit");
	dur_bad("1h30m", "got an unknown unit");
	dur_bad("1ms1", "got an unknown unit");
	dur_bad("213503982335d", "got a duration beyond 64 bits of "
	    "milliseconds");
	dur_bad("99999999999999999999s", "got a number beyond 64 bits");
}

static void
test_value_bool(void **state)
{
	const char *error = NULL;
	bool v = false;

	assert_int_equal(conf_value_bool("yes", &v, &error), 0);
	assert_true(v);
	assert_int_equal(conf_value_bool("no", &v, &error), 0);
	assert_false(v);
	v = true;
	assert_int_equal(conf_value_bool("Yes", &v, &error), -EINVAL);
	assert_string_equal(error, "expected yes or no, got another word");
	assert_true(v);
	assert_int_equal(conf_value_bool("true", &v, &error), -EINVAL);
	assert_int_equal(conf_value_bool("1", &v, &error), -EINVAL);
	assert_int_equal(conf_value_bool("yes ", &v, &error), -EINVAL);
	assert_int_equal(conf_value_bool("", &v, &error), -EINVAL);
	assert_string_equal(error, "expected yes or no, got an empty value");
}

static void
test_value_list(void **state)
{
	struct fx *fx = *state;
	struct posta_list l;
	const char *error = NULL;

	assert_int_equal(conf_value_list(fx->a, "", &l, &error), 0);
	assert_int_equal(l.n, 0);
	assert_int_equal(conf_value_list(fx->a, " \t ", &l, &error), 0);
	assert_int_equal(l.n, 0);
	assert_int_equal(conf_value_list(fx->a, "a", &l, &error), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.items[0], "a");
	assert_null(l.items[1]);
	assert_int_equal(conf_value_list(fx->a, " a b , c,d\t", &l, &error),
	    0);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.items[0], "a b");
	assert_string_equal(l.items[1], "c");
	assert_string_equal(l.items[2], "d");
	assert_null(l.items[3]);

	l.n = 99;
	assert_int_equal(conf_value_list(fx->a, "a,,b", &l, &error), -EINVAL);
	assert_string_equal(error, "expected a comma-separated list, got an "
	    "empty item");
	assert_int_equal(l.n, 99);
	assert_int_equal(conf_value_list(fx->a, "a,", &l, &error), -EINVAL);
	assert_int_equal(conf_value_list(fx->a, ",a", &l, &error), -EINVAL);
	assert_int_equal(conf_value_list(fx->a, " , ", &l, &error), -EINVAL);
	assert_int_equal(conf_value_list(fx->a, "a, \t,b", &l, &error),
	    -EINVAL);
}

static void
addr_bad(struct fx *fx, const char *s, const char *expect)
{
	struct posta_addrs v = { 99, NULL };
	const char *error = NULL;

	assert_int_equal(conf_value_addrs(fx->a, s, &v, &error), -EINVAL);
	assert_int_equal(v.n, 99);
	if (strstr(error, expect) == NULL)
		fail_msg("'%s': error \"%s\" lacks \"%s\"", s, error, expect);
}

static void
test_value_addrs(void **state)
{
	struct fx *fx = *state;
	struct posta_addrs v;
	const struct sockaddr_in *sin;
	const struct sockaddr_in6 *sin6;
	const char *error = NULL;
	char buf[INET6_ADDRSTRLEN];

	assert_int_equal(conf_value_addrs(fx->a, "127.0.0.1:143, [::1]:143, "
	    "0.0.0.0:993,[::]:993 , 10.1.2.3:0,[2001:db8::ff]:65535", &v,
	    &error), 0);
	assert_int_equal(v.n, 6);
	sin = (const struct sockaddr_in *)&v.addrs[0];
	assert_int_equal(sin->sin_family, AF_INET);
	assert_int_equal(ntohs(sin->sin_port), 143);
	assert_int_equal(ntohl(sin->sin_addr.s_addr), 0x7f000001);
	sin6 = (const struct sockaddr_in6 *)&v.addrs[1];
	assert_int_equal(sin6->sin6_family, AF_INET6);
	assert_int_equal(ntohs(sin6->sin6_port), 143);
	assert_true(IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr));
	sin = (const struct sockaddr_in *)&v.addrs[2];
	assert_int_equal(sin->sin_family, AF_INET);
	assert_int_equal(ntohs(sin->sin_port), 993);
	assert_int_equal(sin->sin_addr.s_addr, 0);
	sin6 = (const struct sockaddr_in6 *)&v.addrs[3];
	assert_int_equal(sin6->sin6_family, AF_INET6);
	assert_true(IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr));
	sin = (const struct sockaddr_in *)&v.addrs[4];
	assert_int_equal(ntohs(sin->sin_port), 0);
	sin6 = (const struct sockaddr_in6 *)&v.addrs[5];
	assert_int_equal(ntohs(sin6->sin6_port), 65535);
	assert_non_null(inet_ntop(AF_INET6, &sin6->sin6_addr, buf,
	    sizeof(buf)));
	assert_string_equal(buf, "2001:db8::ff");

	assert_int_equal(conf_value_addrs(fx->a, "", &v, &error), 0);
	assert_int_equal(v.n, 0);

	addr_bad(fx, "localhost:25", "expected IPv4:PORT or [IPv6]:PORT, "
	    "got a host name (no DNS at startup)");
	addr_bad(fx, "mail.example.net:25", "got a host name");
	addr_bad(fx, "127.0.0.1", "expected IPv4:PORT or [IPv6]:PORT, got no "
	    ":PORT");
	addr_bad(fx, "127.0.0.1:", "got a port that is not 0..65535");
	addr_bad(fx, "127.0.0.1:65536", "got a port that is not 0..65535");
	addr_bad(fx, "127.0.0.1:-1", "got a port that is not 0..65535");
	addr_bad(fx, "127.0.0.1:1x", "got a port that is not 0..65535");
	addr_bad(fx, "127.0.0.1: 25", "got a port that is not 0..65535");
	addr_bad(fx, "127.0.0.1:99999999999999999999999", "got a port");
	addr_bad(fx, "::1:143", "got an IPv6 address without brackets");
	addr_bad(fx, "[::1]", "got no :PORT after ']'");
	addr_bad(fx, "[::1]143", "got no :PORT after ']'");
	addr_bad(fx, "[::1:143", "got '[' without ']'");
	addr_bad(fx, "[zz::1]:1", "got an invalid IPv6 address");
	addr_bad(fx, "[127.0.0.1]:1", "got an invalid IPv6 address");
	addr_bad(fx, "[0000:0000:0000:0000:0000:0000:0000:0000:0000]:1",
	    "got an invalid IPv6 address");
	addr_bad(fx, "1.2.3:4", "got an invalid IPv4 address");
	addr_bad(fx, "256.1.1.1:5", "got an invalid IPv4 address");
	addr_bad(fx, "1.2.3.4.5.6.7.8.9.10.11.12.13.14.15.16.17.18.19.20:1",
	    "got an invalid IPv4 address");
	addr_bad(fx, ":25", "got an invalid IPv4 address");
	addr_bad(fx, "1.2.3.4:5,", "expected IPv4:PORT or [IPv6]:PORT, got an "
	    "empty item");
	addr_bad(fx, "1.2.3.4:5, localhost:6", "got a host name");
}

/* ---- settings tables ---- */

struct test_settings {
	const char *name;
	const char *nodef;
	const char *quoted;
	const char *empty;
	int64_t count;
	int64_t any;
	uint64_t max_size;
	uint64_t timeout_ms;
	bool flag;
	struct posta_list names;
	struct posta_addrs listen;
	int tls;
	int64_t per_imap, per_pop3;
};

static const char *const tls_modes[] = { "none", "starttls", "implicit",
	NULL };

#define O(f) offsetof(struct test_settings, f)
static const struct posta_setting test_table[] = {
	{ "name", POSTA_SET_STRING, O(name), 0, 0, "posta", NULL },
	{ "nodef", POSTA_SET_STRING, O(nodef), 0, 0, NULL, NULL },
	{ "quoted", POSTA_SET_STRING, O(quoted), 0, 0,
	  " \"a \\\"b\\\" # c\"  # why", NULL },
	{ "empty", POSTA_SET_STRING, O(empty), 0, 0, "", NULL },
	{ "count", POSTA_SET_INT, O(count), 1, 100, "10", NULL },
	{ "any", POSTA_SET_INT, O(any), 0, 0, "-5", NULL },
	{ "max_size", POSTA_SET_SIZE, O(max_size), 512, 16 * 1024 * 1024,
	  "64k", NULL },
	{ "timeout", POSTA_SET_DURATION, O(timeout_ms), 1000, 30 * 60 * 1000,
	  "30s", NULL },
	{ "flag", POSTA_SET_BOOL, O(flag), 0, 0, "yes", NULL },
	{ "names", POSTA_SET_LIST, O(names), 0, 0, "a, b", NULL },
	{ "listen", POSTA_SET_ADDRS, O(listen), 0, 0, "127.0.0.1:25", NULL },
	{ "tls", POSTA_SET_ENUM, O(tls), 0, 0, "starttls", tls_modes },
	{ "per imap", POSTA_SET_INT, O(per_imap), 0, 1000, "25", NULL },
	{ "per pop3", POSTA_SET_INT, O(per_pop3), 0, 1000, "5", NULL },
	POSTA_SETTINGS_END
};

static void
test_apply_defaults(void **state)
{
	struct fx *fx = *state;
	struct test_settings s;
	const char *error = NULL;

	memset(&s, 0, sizeof(s));
	assert_int_equal(conf_apply(fx->a, test_table, "plugin t", NULL, 0,
	    &s, &error), 0);
	assert_null(error);
	assert_string_equal(s.name, "posta");
	assert_null(s.nodef);
	assert_string_equal(s.quoted, "a \"b\" # c");
	assert_string_equal(s.empty, "");
	assert_true(s.count == 10);
	assert_true(s.any == -5);
	assert_true(s.max_size == 65536);
	assert_true(s.timeout_ms == 30000);
	assert_true(s.flag);
	assert_int_equal(s.names.n, 2);
	assert_string_equal(s.names.items[1], "b");
	assert_int_equal(s.listen.n, 1);
	assert_int_equal(s.listen.addrs[0].ss_family, AF_INET);
	assert_int_equal(s.tls, 1);
	assert_true(s.per_imap == 25);
	assert_true(s.per_pop3 == 5);
}

static const struct conf_doc *
parse_apply(struct fx *fx, const char *text, struct test_settings *s,
    int expect_r, const char **error_r)
{
	const struct conf_doc *doc = parse_ok(fx, text);
	const struct conf_block *b = conf_find_block(doc, "plugin", "t");

	assert_non_null(b);
	memset(s, 0, sizeof(*s));
	assert_int_equal(conf_apply(fx->a, test_table, "plugin t", b->items,
	    b->n_items, s, error_r), expect_r);
	return doc;
}

static void
apply_err(struct fx *fx, const char *text, const char *expect)
{
	struct test_settings s;
	const char *error = NULL;

	parse_apply(fx, text, &s, POSTA_ECONFIG, &error);
	assert_non_null(error);
	if (strstr(error, expect) == NULL)
		fail_msg("error \"%s\" lacks \"%s\"", error, expect);
}

static void
test_apply_items(void **state)
{
	struct fx *fx = *state;
	struct test_settings s;
	const char *error = NULL;

	parse_apply(fx, "plugin t {\n"
	    "name = \"two words\"\n"
	    "nodef = set\n"
	    "empty = \"\"\n"
	    "count = 100\n"
	    "any = -9223372036854775808\n"
	    "max_size = 16M\n"
	    "timeout = 1s\n"
	    "flag = no\n"
	    "names =\n"
	    "listen = [::1]:143, 127.0.0.1:143\n"
	    "tls = implicit\n"
	    "per pop3 = 0\n"
	    "}\n", &s, 0, &error);
	assert_string_equal(s.name, "two words");
	assert_string_equal(s.nodef, "set");
	assert_string_equal(s.empty, "");
	assert_true(s.count == 100);
	assert_true(s.any == INT64_MIN);
	assert_true(s.max_size == 16 * 1024 * 1024);
	assert_true(s.timeout_ms == 1000);
	assert_false(s.flag);
	assert_int_equal(s.names.n, 0);
	assert_int_equal(s.listen.n, 2);
	assert_int_equal(s.listen.addrs[0].ss_family, AF_INET6);
	assert_int_equal(s.tls, 2);
	assert_true(s.per_imap == 25);
	assert_true(s.per_pop3 == 0);

	/* lower bounds are inclusive too */
	parse_apply(fx, "plugin t {\ncount = 1\nmax_size = 512\ntimeout = "
	    "1000ms\ntls = none\n}\n", &s, 0, &error);
	assert_true(s.count == 1);
	assert_true(s.max_size == 512);
	assert_true(s.timeout_ms == 1000);
	assert_int_equal(s.tls, 0);
}

static void
test_apply_errors(void **state)
{
	struct fx *fx = *state;

	apply_err(fx, "plugin t {\n\nbogus = 1\n}\n", "t.conf:3: unknown "
	    "setting 'bogus' in plugin t; expected one of: name, nodef, "
	    "quoted, empty, count, any, max_size, timeout, flag, names, "
	    "listen, tls, per imap, per pop3");
	apply_err(fx, "plugin t {\nper smtp = 1\n}\n", "t.conf:2: unknown "
	    "setting 'per smtp' in plugin t; expected one of: name,");
	apply_err(fx, "plugin t {\nper = 1\n}\n", "t.conf:2: unknown "
	    "setting 'per' in plugin t");
	apply_err(fx, "plugin t {\ncount imap = 1\n}\n", "t.conf:2: unknown "
	    "setting 'count imap' in plugin t");
	apply_err(fx, "plugin t {\ncount = 101\n}\n", "t.conf:2: bad value "
	    "'101' for count in plugin t: expected 1 to 100, got 101");
	apply_err(fx, "plugin t {\ncount = 0\n}\n", "t.conf:2: bad value '0' "
	    "for count in plugin t: expected 1 to 100, got 0");
	apply_err(fx, "plugin t {\ncount = -1\n}\n", "expected 1 to 100, got "
	    "-1");
	apply_err(fx, "plugin t {\ncount = ten\n}\n", "t.conf:2: bad value "
	    "'ten' for count in plugin t: expected an integer, got other "
	    "characters");
	apply_err(fx, "plugin t {\nper imap = 1001\n}\n", "t.conf:2: bad "
	    "value '1001' for per imap in plugin t: expected 0 to 1000, got "
	    "1001");
	apply_err(fx, "plugin t {\nper imap = -1\n}\n", "expected 0 to 1000, "
	    "got -1");
	apply_err(fx, "plugin t {\nmax_size = 1G\n}\n", "t.conf:2: bad value "
	    "'1G' for max_size in plugin t: expected 512B to 16M, got 1G");
	apply_err(fx, "plugin t {\nmax_size = 511\n}\n", "expected 512B to "
	    "16M, got 511B");
	apply_err(fx, "plugin t {\nmax_size = 16777217\n}\n", "expected 512B "
	    "to 16M, got 16777217B");
	apply_err(fx, "plugin t {\nmax_size = 18446744073709551615\n}\n",
	    "expected 512B to 16M, got 18446744073709551615B");
	apply_err(fx, "plugin t {\nmax_size = 10X\n}\n", "t.conf:2: bad value "
	    "'10X' for max_size in plugin t: expected a size (123, 512B, 64k, "
	    "10M, 1G), got an unknown unit");
	apply_err(fx, "plugin t {\ntimeout = 1h\n}\n", "t.conf:2: bad value "
	    "'1h' for timeout in plugin t: expected 1s to 30m, got 1h");
	apply_err(fx, "plugin t {\ntimeout = 999ms\n}\n", "expected 1s to "
	    "30m, got 999ms");
	apply_err(fx, "plugin t {\ntimeout = 0\n}\n", "expected 1s to 30m, "
	    "got 0s");
	apply_err(fx, "plugin t {\ntimeout = 30\n}\n", "bad value '30' for "
	    "timeout in plugin t: expected a duration (250ms, 30s, 5m, 1h, "
	    "2d), got a number without a unit");
	apply_err(fx, "plugin t {\nflag = true\n}\n", "t.conf:2: bad value "
	    "'true' for flag in plugin t: expected yes or no, got another "
	    "word");
	apply_err(fx, "plugin t {\nnames = a,,b\n}\n", "t.conf:2: bad value "
	    "'a,,b' for names in plugin t: expected a comma-separated list, "
	    "got an empty item");
	apply_err(fx, "plugin t {\nlisten = localhost:25\n}\n", "t.conf:2: "
	    "bad value 'localhost:25' for listen in plugin t: expected "
	    "IPv4:PORT or [IPv6]:PORT, got a host name");
	apply_err(fx, "plugin t {\ntls = TLS\n}\n", "t.conf:2: bad value "
	    "'TLS' for tls in plugin t: expected one of: none, starttls, "
	    "implicit; got another word");
}

static void
test_apply_direct_items(void **state)
{
	struct fx *fx = *state;
	struct test_settings s;
	const char *error = NULL;
	struct conf_item items[] = {
		{ "count", NULL, "5", "a.conf", 3 },
		{ "per", "imap", "7", "b.conf", 4 },
		{ "count", NULL, "6", NULL, 9 },
	};
	static const struct posta_setting none[] = { POSTA_SETTINGS_END };

	/* items need not come from the parser: duplicates are still caught */
	memset(&s, 0, sizeof(s));
	assert_int_equal(conf_apply(fx->a, test_table, "service x", items, 2,
	    &s, &error), 0);
	assert_true(s.count == 5);
	assert_true(s.per_imap == 7);
	memset(&s, 0, sizeof(s));
	assert_int_equal(conf_apply(fx->a, test_table, "service x", items, 3,
	    &s, &error), POSTA_ECONFIG);
	assert_string_equal(error, "?:9: duplicate setting 'count' in "
	    "service x; first set at a.conf:3");
	/* a table without rows takes nothing */
	assert_int_equal(conf_apply(fx->a, none, "plugin n", NULL, 0, &s,
	    &error), 0);
	assert_int_equal(conf_apply(fx->a, none, "plugin n", items, 1, &s,
	    &error), POSTA_ECONFIG);
	assert_string_equal(error, "a.conf:3: unknown setting 'count' in "
	    "plugin n; expected no settings here");
	/* where may be NULL */
	assert_int_equal(conf_apply(fx->a, none, NULL, items + 1, 1, &s,
	    &error), POSTA_ECONFIG);
	assert_string_equal(error, "b.conf:4: unknown setting 'per imap' in "
	    "settings; expected no settings here");
}

static void
table_err(struct fx *fx, const struct posta_setting *row, const char *expect)
{
	struct posta_setting table[2] = { *row, POSTA_SETTINGS_END };
	struct test_settings s;
	const char *error = NULL;

	memset(&s, 0, sizeof(s));
	assert_int_equal(conf_apply(fx->a, table, "plugin t", NULL, 0, &s,
	    &error), POSTA_ECONFIG);
	if (strstr(error, expect) == NULL)
		fail_msg("error \"%s\" lacks \"%s\"", error, expect);
}

static void
test_apply_bad_table(void **state)
{
	struct fx *fx = *state;
	static const char *const no_choices[] = { NULL };
	const struct posta_setting bad[] = {
		{ "count", POSTA_SET_INT, O(count), 0, 0, "x", NULL },
		{ "count", POSTA_SET_INT, O(count), 1, 9, "10", NULL },
		{ "count", POSTA_SET_INT, O(count), 0, 0, NULL, NULL },
		{ "max_size", POSTA_SET_SIZE, O(max_size), 0, 0, "1X", NULL },
		{ "timeout", POSTA_SET_DURATION, O(timeout_ms), 1000, 2000,
		  "5s", NULL },
		{ "flag", POSTA_SET_BOOL, O(flag), 0, 0, NULL, NULL },
		{ "names", POSTA_SET_LIST, O(names), 0, 0, ",", NULL },
		{ "listen", POSTA_SET_ADDRS, O(listen), 0, 0, "[::1]", NULL },
		{ "tls", POSTA_SET_ENUM, O(tls), 0, 0, "tls", tls_modes },
		{ "tls", POSTA_SET_ENUM, O(tls), 0, 0, "tls", no_choices },
		{ "name", POSTA_SET_STRING, O(name), 0, 0, "\"open", NULL },
		{ "count", POSTA_SET_INT, O(count), 9, 1, "5", NULL },
		{ "tls", POSTA_SET_ENUM, O(tls), 0, 0, "none", NULL },
		{ "odd", (enum posta_setting_type)99, 0, 0, 0, "1", NULL },
		{ "max_size", POSTA_SET_SIZE, O(max_size), -1, 5, "1", NULL },
	};

	table_err(fx, &bad[0], "built-in default of count: bad value 'x' in "
	    "plugin t: expected an integer, got other characters");
	table_err(fx, &bad[1], "built-in default of count: bad value '10' in "
	    "plugin t: expected 1 to 9, got 10");
	table_err(fx, &bad[2], "built-in default of count: expected config "
	    "text, got none (only strings may lack one)");
	table_err(fx, &bad[3], "built-in default of max_size: bad value '1X' "
	    "in plugin t: expected a size");
	table_err(fx, &bad[4], "built-in default of timeout: bad value '5s' "
	    "in plugin t: expected 1s to 2s, got 5s");
	table_err(fx, &bad[5], "built-in default of flag: expected config "
	    "text, got none");
	table_err(fx, &bad[6], "built-in default of names: bad value ',' in "
	    "plugin t: expected a comma-separated list, got an empty item");
	table_err(fx, &bad[7], "built-in default of listen: bad value "
	    "'[::1]' in plugin t: expected IPv4:PORT or [IPv6]:PORT, got no "
	    ":PORT after ']'");
	table_err(fx, &bad[8], "built-in default of tls: bad value 'tls' in "
	    "plugin t: expected one of: none, starttls, implicit; got another "
	    "word");
	table_err(fx, &bad[9], "built-in setting tls: expected choices for "
	    "an enum, got none");
	table_err(fx, &bad[10], "built-in default of name: bad value "
	    "'\"open' in plugin t: expected '\"' closing the quoted value");
	table_err(fx, &bad[11], "built-in setting count: expected min <= max, "
	    "got 9 > 1");
	table_err(fx, &bad[12], "built-in setting tls: expected choices for "
	    "an enum, got none");
	table_err(fx, &bad[13], "built-in setting odd: expected a setting "
	    "type, got 99");
	table_err(fx, &bad[14], "built-in setting max_size: expected min >= "
	    "0, got -1");
}

/* The path postad takes: file, block, table. */
static void
test_parse_then_apply(void **state)
{
	struct fx *fx = *state;
	const struct conf_doc *doc;
	const struct conf_block *b;
	struct test_settings s;
	const char *error = NULL;

	mkdir_rel(fx, "conf.d");
	write_rel(fx, "conf.d/40-t.conf", "# the t plugin\nplugin t {\n"
	    "  per imap = 30\n  listen = \"[::]:993\"\n  names = x\n"
	    "  bogus = 1\n}\n");
	write_rel(fx, "postad.conf", "include conf.d/*.conf\n");
	doc = file_ok(fx, "postad.conf");
	b = conf_find_block(doc, "plugin", "t");
	assert_non_null(b);
	memset(&s, 0, sizeof(s));
	assert_int_equal(conf_apply(fx->a, test_table, "plugin t", b->items,
	    b->n_items, &s, &error), POSTA_ECONFIG);
	assert_string_equal(error, arena_printf(fx->a, "%s:6: unknown "
	    "setting 'bogus' in plugin t; expected one of: name, nodef, "
	    "quoted, empty, count, any, max_size, timeout, flag, names, "
	    "listen, tls, per imap, per pop3", path(fx, "conf.d/40-t.conf")));

	write_rel(fx, "conf.d/40-t.conf", "plugin t {\n  per imap = 30\n"
	    "  listen = \"[::]:993\"\n  names = x\n}\n");
	doc = file_ok(fx, "postad.conf");
	b = conf_find_block(doc, "plugin", "t");
	memset(&s, 0, sizeof(s));
	assert_int_equal(conf_apply(fx->a, test_table, "plugin t", b->items,
	    b->n_items, &s, &error), 0);
	assert_true(s.per_imap == 30);
	assert_true(s.per_pop3 == 5);
	assert_int_equal(s.listen.n, 1);
	assert_int_equal(s.listen.addrs[0].ss_family, AF_INET6);
	assert_int_equal(s.names.n, 1);
	assert_string_equal(s.names.items[0], "x");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_grammar, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_and_crlf, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_syntax_errors, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_block_errors, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_duplicates, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_include_glob_order, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_include_string_basedir,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_include_dir_with_glob_chars, setup, teardown),
		cmocka_unit_test_setup_teardown(test_include_errors, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_include_loop, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_include_depth, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_file_errors, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_out_of_memory, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_value_int, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_value_size, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_value_duration, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_value_bool, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_value_list, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_value_addrs, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_apply_defaults, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_apply_items, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_apply_errors, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_apply_direct_items, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_apply_bad_table, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_parse_then_apply, setup,
		    teardown),
	};

	return cmocka_run_group_tests_name("conf", tests, NULL, NULL);
}
