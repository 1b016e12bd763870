/* test_maildir_conf.c: the maildir settings table and its conf.d snippet */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "conf.h"
#include "test_maildir_host.h"

extern const struct posta_module posta_module;

static void
load(struct arena *a, const char *text, struct md_settings *set,
    int expect)
{
	struct conf_doc *doc;
	const struct conf_block *b;
	const char *error = NULL;

	memset(set, 0, sizeof(*set));
	if (conf_parse_string(a, "test.conf", text, NULL, &doc, &error) != 0) {
		/* a duplicate key is refused by the parser already */
		assert_int_equal(expect, POSTA_ECONFIG);
		assert_non_null(strstr(error, "test.conf:"));
		return;
	}
	b = conf_find_block(doc, "plugin", "maildir");
	assert_non_null(b);
	assert_int_equal(conf_apply(a, posta_module.settings, "plugin maildir",
	    b->items, b->n_items, set, &error), expect);
	if (expect != 0)
		assert_non_null(error);
}

static void
test_snippet_is_defaults(void **state)
{
	struct arena *a = arena_new(4096, 0);
	struct md_settings from_file, defaults;
	const char *error = NULL;
	struct conf_doc *doc;
	const struct conf_block *b;

	assert_int_equal(posta_module.settings_size, sizeof(from_file));
	assert_int_equal(conf_parse_file(a, MD_CONF_SNIPPET, &doc, &error), 0);
	b = conf_find_block(doc, "plugin", "maildir");
	assert_non_null(b);
	memset(&from_file, 0, sizeof(from_file));
	assert_int_equal(conf_apply(a, posta_module.settings, "plugin maildir",
	    b->items, b->n_items, &from_file, &error), 0);
	memset(&defaults, 0, sizeof(defaults));
	assert_int_equal(conf_apply(a, posta_module.settings, "plugin maildir",
	    NULL, 0, &defaults, &error), 0);
	assert_null(defaults.mail_root);
	assert_null(from_file.mail_root);
	assert_int_equal(from_file.fsync, defaults.fsync);
	assert_true(defaults.fsync);
	assert_int_equal(from_file.index_idle_timeout,
	    defaults.index_idle_timeout);
	assert_int_equal(defaults.index_idle_timeout, 60000);
	assert_int_equal(from_file.index_map_size, defaults.index_map_size);
	assert_int_equal(from_file.max_message_size,
	    defaults.max_message_size);
	assert_int_equal(defaults.max_message_size, 64u << 20);
	assert_int_equal(from_file.tmp_max_age, defaults.tmp_max_age);
	assert_int_equal(from_file.max_keywords, defaults.max_keywords);
	assert_int_equal(from_file.dovecot_import, defaults.dovecot_import);
	assert_string_equal(from_file.folder_drafts, defaults.folder_drafts);
	assert_string_equal(from_file.folder_sent, defaults.folder_sent);
	assert_string_equal(from_file.folder_trash, defaults.folder_trash);
	assert_string_equal(from_file.folder_junk, defaults.folder_junk);
	assert_string_equal(from_file.folder_archive, defaults.folder_archive);
	assert_string_equal(defaults.folder_archive, "");
	arena_free(&a);
}

static void
test_bad_values(void **state)
{
	struct arena *a = arena_new(4096, 0);
	struct md_settings set;

	load(a, "plugin maildir {\n  fsync = maybe\n}\n", &set, POSTA_ECONFIG);
	load(a, "plugin maildir {\n  max_keywords = 65\n}\n", &set,
	    POSTA_ECONFIG);
	load(a, "plugin maildir {\n  index_idle_timeout = 10ms\n}\n", &set,
	    POSTA_ECONFIG);
	load(a, "plugin maildir {\n  mail_dir = /x\n}\n", &set, POSTA_ECONFIG);
	load(a, "plugin maildir {\n  fsync = no\n  fsync = yes\n}\n", &set,
	    POSTA_ECONFIG);
	arena_free(&a);
}

/* values the table accepts but init refuses, naming the setting */
static void
test_init_refuses(void **state)
{
	static const char *const bad[] = {
		"plugin maildir {\n  mail_root = relative/%d/%n\n}\n",
		"plugin maildir {\n  mail_root = /m/%x\n}\n",
		"plugin maildir {\n  folder_sent = a/b\n}\n",
		"plugin maildir {\n  folder_trash = inbox\n}\n",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		struct test_host *th = th_new();
		struct arena *a = arena_new(4096, 0);
		const char *error = NULL;
		void *st = NULL;

		load(a, bad[i], &th->set, 0);
		assert_int_equal(posta_module.init((struct posta_host *)th,
		    &th->set, &st, &error), POSTA_ECONFIG);
		assert_non_null(error);
		assert_true(strstr(error, "mail_root") != NULL ||
		    strstr(error, "folder_") != NULL);
		assert_null(th->ops);
		arena_free(&a);
		th_free(&th);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_snippet_is_defaults),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_init_refuses),
	};

	return cmocka_run_group_tests_name("maildir_conf", tests, NULL, NULL);
}
