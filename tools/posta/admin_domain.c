/* admin_domain.c: posta domain and alias-domain subcommands */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "admin.h"

static int
print_domain(void *ctx, const char *domain)
{
	printf("%s\n", domain);
	return 0;
}

static int
print_alias_domain(void *ctx, const char *alias, const char *target)
{
	printf("%s %s\n", alias, target);
	return 0;
}

static int
walk_domains(struct auth_lmdb_txn *txn, void *ctx)
{
	return auth_lmdb_domain_foreach(txn, print_domain, ctx);
}

static int
walk_alias_domains(struct auth_lmdb_txn *txn, void *ctx)
{
	return auth_lmdb_alias_domain_foreach(txn, print_alias_domain, ctx);
}

int
admin_domain_main(struct admin *ad, int argc, char **argv)
{
	struct auth_lmdb_txn *txn;
	const char *pos[1], *error = "";
	bool force = false;
	const struct admin_opt del_opts[] = {
		{ "force", false, NULL, &force },
		{ NULL, false, NULL, NULL },
	};
	size_t n;
	int ret;

	if (strcmp(argv[0], "add") == 0) {
		if ((ret = admin_args(argc, argv, NULL, pos, 1, 1, &n,
		    "posta domain add DOMAIN")) != ADMIN_OK ||
		    (ret = admin_open(ad, true)) != ADMIN_OK ||
		    (ret = admin_begin(ad, true, &txn)) != ADMIN_OK)
			return ret;
		ret = auth_lmdb_domain_add(txn, pos[0], &error);
		return admin_finish(&txn, ret, error, "domain add", pos[0]);
	}
	if (strcmp(argv[0], "del") == 0) {
		if ((ret = admin_args(argc, argv, del_opts, pos, 1, 1, &n,
		    "posta domain del DOMAIN [--force]")) != ADMIN_OK ||
		    (ret = admin_open(ad, false)) != ADMIN_OK ||
		    (ret = admin_begin(ad, true, &txn)) != ADMIN_OK)
			return ret;
		ret = auth_lmdb_domain_del(txn, pos[0], force, &error);
		return admin_finish(&txn, ret, error, "domain del", pos[0]);
	}
	if (strcmp(argv[0], "list") == 0) {
		if ((ret = admin_args(argc, argv, NULL, pos, 0, 0, &n,
		    "posta domain list")) != ADMIN_OK)
			return ret;
		return admin_list(ad, walk_domains, NULL);
	}
	return admin_usage("unknown subcommand 'domain %s' (add, del, list)",
	    argv[0]);
}

int
admin_alias_domain_main(struct admin *ad, int argc, char **argv)
{
	struct auth_lmdb_txn *txn;
	const char *pos[2], *error = "";
	size_t n;
	int ret;

	if (strcmp(argv[0], "add") == 0) {
		if ((ret = admin_args(argc, argv, NULL, pos, 2, 2, &n,
		    "posta alias-domain add ALIAS TARGET")) != ADMIN_OK ||
		    (ret = admin_open(ad, false)) != ADMIN_OK ||
		    (ret = admin_begin(ad, true, &txn)) != ADMIN_OK)
			return ret;
		ret = auth_lmdb_alias_domain_add(txn, pos[0], pos[1], &error);
		return admin_finish(&txn, ret, error, "alias-domain add",
		    pos[0]);
	}
	if (strcmp(argv[0], "del") == 0) {
		if ((ret = admin_args(argc, argv, NULL, pos, 1, 1, &n,
		    "posta alias-domain del ALIAS")) != ADMIN_OK ||
		    (ret = admin_open(ad, false)) != ADMIN_OK ||
		    (ret = admin_begin(ad, true, &txn)) != ADMIN_OK)
			return ret;
		ret = auth_lmdb_alias_domain_del(txn, pos[0], &error);
		return admin_finish(&txn, ret, error, "alias-domain del",
		    pos[0]);
	}
	if (strcmp(argv[0], "list") == 0) {
		if ((ret = admin_args(argc, argv, NULL, pos, 0, 0, &n,
		    "posta alias-domain list")) != ADMIN_OK)
			return ret;
		return admin_list(ad, walk_alias_domains, NULL);
	}
	return admin_usage("unknown subcommand 'alias-domain %s' (add, del, "
	    "list)", argv[0]);
}
