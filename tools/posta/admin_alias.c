/* admin_alias.c: posta alias and catch-all subcommands */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"

#define MAX_ARGS 64

static int
print_alias(void *ctx, const char *address, const char *const *targets,
    size_t n)
{
	size_t i;

	printf("%s ", address);
	for (i = 0; i < n; i++)
		printf("%s%s", i > 0 ? "," : "", targets[i]);
	putchar('\n');
	return 0;
}

static int
walk_aliases(struct auth_lmdb_txn *txn, void *ctx)
{
	const char *domain = ctx;
	int ret;

	if (domain != NULL) {
		ret = auth_lmdb_domain_exists(txn, domain);
		if (ret == POSTA_ENOTFOUND) {
			admin_err("alias list %s: no such domain", domain);
			return ADMIN_EDATA;
		}
		if (ret < 0)
			return ret;
	}
	return auth_lmdb_alias_foreach(txn, domain, print_alias, NULL);
}

static int
print_catchall(void *ctx, const char *domain, const char *target)
{
	printf("%s %s\n", domain, target);
	return 0;
}

static int
walk_catchalls(struct auth_lmdb_txn *txn, void *ctx)
{
	return auth_lmdb_catchall_foreach(txn, print_catchall, NULL);
}

/*
 * Splits "a,b" arguments into targets (items trimmed of blanks).  The
 * copies live in *buf_r, which the caller frees.
 */
static int
split_targets(const char *const *args, size_t n_args, const char ***targets_r,
    size_t *n_r, char **buf_r)
{
	const char **targets = NULL;
	size_t total = 0, n = 0, i;
	char *buf, *p, *item, *save;

	for (i = 0; i < n_args; i++)
		total += strlen(args[i]) + 1;
	buf = malloc(total);
	targets = calloc(total, sizeof(*targets));
	if (buf == NULL || targets == NULL) {
		free(buf);
		free(targets);
		admin_err("out of memory");
		return ADMIN_ESYS;
	}
	p = buf;
	for (i = 0; i < n_args; i++) {
		const char *a = args[i];
		size_t len = strlen(a);

		if (len == 0 || a[0] == ',' || a[len - 1] == ',' ||
		    strstr(a, ",,") != NULL) {
			free(buf);
			free(targets);
			return admin_usage("empty target in '%s'", a);
		}
		memcpy(p, a, len + 1);
		for (item = strtok_r(p, ",", &save); item != NULL;
		    item = strtok_r(NULL, ",", &save)) {
			char *end;

			while (*item == ' ' || *item == '\t')
				item++;
			end = item + strlen(item);
			while (end > item && (end[-1] == ' ' ||
			    end[-1] == '\t'))
				*--end = '\0';
			if (*item == '\0') {
				free(buf);
				free(targets);
				return admin_usage("empty target in '%s'", a);
			}
			targets[n++] = item;
		}
		p += len + 1;
	}
	*targets_r = targets;
	*n_r = n;
	*buf_r = buf;
	return ADMIN_OK;
}

int
admin_alias_main(struct admin *ad, int argc, char **argv)
{
	struct auth_lmdb_txn *txn;
	const char *pos[MAX_ARGS], *error = "";
	const char **targets = NULL;
	char *buf = NULL;
	size_t n, n_targets = 0;
	int ret;

	if (strcmp(argv[0], "add") == 0) {
		if ((ret = admin_args(argc, argv, NULL, pos, 2, MAX_ARGS, &n,
		    "posta alias add ADDRESS TARGET[,TARGET...]")) !=
		    ADMIN_OK ||
		    (ret = split_targets(pos + 1, n - 1, &targets, &n_targets,
		    &buf)) != ADMIN_OK)
			return ret;
		ret = admin_open(ad, false);
		if (ret == ADMIN_OK)
			ret = admin_begin(ad, true, &txn);
		if (ret == ADMIN_OK) {
			ret = auth_lmdb_alias_add(txn, pos[0], targets,
			    n_targets, &error);
			ret = admin_finish(&txn, ret, error, "alias add",
			    pos[0]);
		}
		free(targets);
		free(buf);
		return ret;
	}
	if (strcmp(argv[0], "del") == 0) {
		if ((ret = admin_args(argc, argv, NULL, pos, 1, 2, &n,
		    "posta alias del ADDRESS [TARGET]")) != ADMIN_OK ||
		    (ret = admin_open(ad, false)) != ADMIN_OK ||
		    (ret = admin_begin(ad, true, &txn)) != ADMIN_OK)
			return ret;
		ret = auth_lmdb_alias_del(txn, pos[0], n > 1 ? pos[1] : NULL,
		    &error);
		return admin_finish(&txn, ret, error, "alias del", pos[0]);
	}
	if (strcmp(argv[0], "list") == 0) {
		if ((ret = admin_args(argc, argv, NULL, pos, 0, 1, &n,
		    "posta alias list [DOMAIN]")) != ADMIN_OK)
			return ret;
		return admin_list(ad, walk_aliases,
		    n > 0 ? (void *)pos[0] : NULL);
	}
	return admin_usage("unknown subcommand 'alias %s' (add, del, list)",
	    argv[0]);
}

int
admin_catchall_main(struct admin *ad, int argc, char **argv)
{
	struct auth_lmdb_txn *txn;
	const char *pos[2], *error = "";
	size_t n;
	int ret;

	if (strcmp(argv[0], "set") == 0) {
		if ((ret = admin_args(argc, argv, NULL, pos, 2, 2, &n,
		    "posta catch-all set DOMAIN TARGET")) != ADMIN_OK ||
		    (ret = admin_open(ad, false)) != ADMIN_OK ||
		    (ret = admin_begin(ad, true, &txn)) != ADMIN_OK)
			return ret;
		ret = auth_lmdb_catchall_set(txn, pos[0], pos[1], &error);
		return admin_finish(&txn, ret, error, "catch-all set",
		    pos[0]);
	}
	if (strcmp(argv[0], "unset") == 0) {
		if ((ret = admin_args(argc, argv, NULL, pos, 1, 1, &n,
		    "posta catch-all unset DOMAIN")) != ADMIN_OK ||
		    (ret = admin_open(ad, false)) != ADMIN_OK ||
		    (ret = admin_begin(ad, true, &txn)) != ADMIN_OK)
			return ret;
		ret = auth_lmdb_catchall_unset(txn, pos[0], &error);
		return admin_finish(&txn, ret, error, "catch-all unset",
		    pos[0]);
	}
	if (strcmp(argv[0], "list") == 0) {
		if ((ret = admin_args(argc, argv, NULL, pos, 0, 0, &n,
		    "posta catch-all list")) != ADMIN_OK)
			return ret;
		return admin_list(ad, walk_catchalls, NULL);
	}
	return admin_usage("unknown subcommand 'catch-all %s' (set, unset, "
	    "list)", argv[0]);
}
