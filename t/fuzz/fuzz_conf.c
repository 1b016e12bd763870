/* fuzz_conf.c: libFuzzer target for the config parser and typed settings */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <posta/posta.h>

#include "arena.h"
#include "conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One row of every type, so conf_apply's value parsers all see input. */
struct all_types {
	const char *s;
	int64_t i;
	uint64_t size, ms;
	bool b;
	struct posta_list list;
	struct posta_addrs addrs;
	int e;
	int64_t keyed;
};

static const char *const choices[] = { "none", "starttls", "implicit",
	NULL };

#define O(f) offsetof(struct all_types, f)
static const struct posta_setting table[] = {
	{ "s", POSTA_SET_STRING, O(s), 0, 0, "\"x y\"", NULL },
	{ "i", POSTA_SET_INT, O(i), -5, 5000, "3", NULL },
	{ "size", POSTA_SET_SIZE, O(size), 0, INT64_C(1) << 40, "64k", NULL },
	{ "ms", POSTA_SET_DURATION, O(ms), 0, INT64_C(1) << 40, "5m", NULL },
	{ "b", POSTA_SET_BOOL, O(b), 0, 0, "no", NULL },
	{ "list", POSTA_SET_LIST, O(list), 0, 0, "a, b", NULL },
	{ "addrs", POSTA_SET_ADDRS, O(addrs), 0, 0, "127.0.0.1:1, [::1]:2",
	  NULL },
	{ "e", POSTA_SET_ENUM, O(e), 0, 0, "none", choices },
	{ "keyed imap", POSTA_SET_INT, O(keyed), 0, 100, "25", NULL },
	POSTA_SETTINGS_END
};
#undef O

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct arena *a = arena_new(4096, 16 << 20);
	struct conf_doc *doc;
	const char *err = NULL;
	char *text;
	size_t i;

	if (a == NULL)
		abort();
	text = malloc(size + 1);
	if (text == NULL)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	/* includes resolve under a directory that does not exist */
	if (conf_parse_string(a, "fuzz.conf", text, "/nonexistent-posta-fuzz",
	    &doc, &err) == 0) {
		struct all_types dest;

		memset(&dest, 0, sizeof(dest));
		conf_apply(a, table, "global settings", doc->globals,
		    doc->n_globals, &dest, &err);
		for (i = 0; i < doc->n_blocks; i++) {
			memset(&dest, 0, sizeof(dest));
			conf_apply(a, table, "block", doc->blocks[i].items,
			    doc->blocks[i].n_items, &dest, &err);
		}
	} else if (err == NULL) {
		abort();	/* every refusal must say why */
	}
	free(text);
	arena_free(&a);
	return 0;
}
