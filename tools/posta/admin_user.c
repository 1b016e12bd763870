/* admin_user.c: posta user subcommands */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "admin.h"
#include "util.h"

/*
 * Before a terminal prompt, check what can be checked, so the admin does
 * not type a password twice only to hear that the domain is unknown.  The
 * write transaction checks again (another admin may have raced us); no
 * write transaction is ever held while waiting for a person.
 */
static int
precheck(struct admin *ad, const char *what, const char *address,
    bool must_exist)
{
	char addr[AUTH_LMDB_ADDRESS_MAX + 1];
	struct auth_lmdb_txn *txn;
	const char *error = "";
	int ret, user;

	ret = auth_lmdb_address_normalize(address, addr, sizeof(addr),
	    &error);
	if (ret < 0) {
		admin_err("%s %s: %s", what, address, error);
		return ADMIN_EDATA;
	}
	if ((ret = admin_begin(ad, false, &txn)) != ADMIN_OK)
		return ret;
	user = auth_lmdb_user_get(txn, addr, NULL, NULL, &error);
	ret = auth_lmdb_domain_exists(txn, strchr(addr, '@') + 1);
	auth_lmdb_txn_abort(&txn);
	if (user < 0 && user != POSTA_ENOTFOUND) {
		admin_err("%s %s: %s", what, address, error);
		return ADMIN_ESYS;
	}
	if (must_exist && user == POSTA_ENOTFOUND) {
		admin_err("%s %s: no such user", what, address);
		return ADMIN_EDATA;
	}
	if (!must_exist && user == 0) {
		admin_err("%s %s: user already exists", what, address);
		return ADMIN_EDATA;
	}
	if (!must_exist && ret == POSTA_ENOTFOUND) {
		admin_err("%s %s: its domain is not one of ours (see 'posta "
		    "domain list' and 'posta alias-domain list')", what,
		    address);
		return ADMIN_EDATA;
	}
	return ret < 0 ? admin_exit_code(ret) : ADMIN_OK;
}

/* add and passwd: both take a password */
static int
set_password(struct admin *ad, int argc, char **argv, bool add)
{
	char hash[AUTH_LMDB_HASH_MAX + 1];
	struct auth_lmdb_txn *txn;
	const char *pos[1], *hash_opt = NULL, *error = "";
	const char *what = add ? "user add" : "user passwd";
	bool from_stdin = false;
	const struct admin_opt opts[] = {
		{ "password-stdin", false, NULL, &from_stdin },
		{ "hash", true, &hash_opt, NULL },
		{ NULL, false, NULL, NULL },
	};
	size_t n;
	int ret;

	if ((ret = admin_args(argc, argv, opts, pos, 1, 1, &n, add ?
	    "posta user add ADDRESS [--password-stdin | --hash HASH]" :
	    "posta user passwd ADDRESS [--password-stdin | --hash HASH]")) !=
	    ADMIN_OK || (ret = admin_open(ad, false)) != ADMIN_OK)
		return ret;
	if (hash_opt == NULL && !from_stdin && isatty(STDIN_FILENO) &&
	    (ret = precheck(ad, what, pos[0], !add)) != ADMIN_OK)
		return ret;
	if ((ret = admin_pw_hash(hash_opt, from_stdin, pos[0], hash)) !=
	    ADMIN_OK)
		return ret;
	ret = admin_begin(ad, true, &txn);
	if (ret == ADMIN_OK) {
		ret = add ? auth_lmdb_user_add(txn, pos[0], hash, &error) :
		    auth_lmdb_user_set_hash(txn, pos[0], hash, &error);
		ret = admin_finish(&txn, ret, error, what, pos[0]);
	}
	util_wipe(hash, sizeof(hash));
	return ret;
}

/*
 * Runs the same check postad does, then, since whoever may run this can
 * read the database anyway, says why a login would be refused.
 */
static int
check_login(struct admin *ad, int argc, char **argv)
{
	char pw[AUTH_LMDB_PASSWORD_MAX + 1];
	char account[AUTH_LMDB_ADDRESS_MAX + 1];
	struct auth_lmdb_txn *txn;
	const char *pos[1], *error = "", *why;
	bool from_stdin = false, ok = false, disabled = false;
	const struct admin_opt opts[] = {
		{ "password-stdin", false, NULL, &from_stdin },
		{ NULL, false, NULL, NULL },
	};
	size_t n;
	int ret, user;

	if ((ret = admin_args(argc, argv, opts, pos, 1, 1, &n,
	    "posta user check ADDRESS [--password-stdin]")) != ADMIN_OK ||
	    (ret = admin_open(ad, false)) != ADMIN_OK)
		return ret;
	ret = admin_pw_read(from_stdin, false, pos[0], pw, sizeof(pw));
	if (ret == ADMIN_OK) {
		ret = auth_lmdb_verify(ad->db, pos[0], pw, account, &ok,
		    &error);
		if (ret < 0) {
			admin_err("user check %s: %s", pos[0], error);
			ret = ADMIN_ESYS;
		}
	}
	util_wipe(pw, sizeof(pw));
	if (ret != ADMIN_OK)
		return ret;
	if (ok) {
		printf("ok %s\n", account);
		return ADMIN_OK;
	}
	if ((ret = admin_begin(ad, false, &txn)) != ADMIN_OK)
		return ret;
	user = auth_lmdb_user_get(txn, pos[0], NULL, &disabled, &error);
	auth_lmdb_txn_abort(&txn);
	if (user == 0)
		why = disabled ? "the user is disabled" : "wrong password";
	else if (user == POSTA_ENOTFOUND || user == POSTA_ENAME)
		why = "not a user (aliases and addresses in alias domains "
		    "cannot log in)";
	else
		why = error;
	admin_err("user check %s: login refused: %s", pos[0], why);
	return ADMIN_EDATA;
}

struct user_list {
	const char *domain;
};

static int
print_user(void *ctx, const char *address, bool disabled)
{
	printf("%s%s\n", address, disabled ? " disabled" : "");
	return 0;
}

static int
walk_users(struct auth_lmdb_txn *txn, void *ctx)
{
	struct user_list *ul = ctx;
	int ret;

	if (ul->domain != NULL) {
		ret = auth_lmdb_domain_exists(txn, ul->domain);
		if (ret == POSTA_ENOTFOUND) {
			admin_err("user list %s: no such domain", ul->domain);
			return ADMIN_EDATA;
		}
		if (ret < 0)
			return ret;
	}
	return auth_lmdb_user_foreach(txn, ul->domain, print_user, NULL);
}

int
admin_user_main(struct admin *ad, int argc, char **argv)
{
	struct auth_lmdb_txn *txn;
	struct user_list ul = { NULL };
	const char *pos[1], *error = "";
	size_t n;
	int ret;

	if (strcmp(argv[0], "add") == 0)
		return set_password(ad, argc, argv, true);
	if (strcmp(argv[0], "passwd") == 0)
		return set_password(ad, argc, argv, false);
	if (strcmp(argv[0], "import") == 0)
		return admin_import_main(ad, argc, argv);
	if (strcmp(argv[0], "check") == 0)
		return check_login(ad, argc, argv);
	if (strcmp(argv[0], "list") == 0) {
		if ((ret = admin_args(argc, argv, NULL, pos, 0, 1, &n,
		    "posta user list [DOMAIN]")) != ADMIN_OK)
			return ret;
		ul.domain = n > 0 ? pos[0] : NULL;
		return admin_list(ad, walk_users, &ul);
	}
	if (strcmp(argv[0], "del") == 0 || strcmp(argv[0], "disable") == 0 ||
	    strcmp(argv[0], "enable") == 0) {
		char what[32];

		snprintf(what, sizeof(what), "user %s", argv[0]);
		if ((ret = admin_args(argc, argv, NULL, pos, 1, 1, &n,
		    argv[0][0] == 'd' && argv[0][1] == 'e' ?
		    "posta user del ADDRESS" :
		    "posta user disable|enable ADDRESS")) != ADMIN_OK ||
		    (ret = admin_open(ad, false)) != ADMIN_OK ||
		    (ret = admin_begin(ad, true, &txn)) != ADMIN_OK)
			return ret;
		if (strcmp(argv[0], "del") == 0)
			ret = auth_lmdb_user_del(txn, pos[0], &error);
		else
			ret = auth_lmdb_user_set_disabled(txn, pos[0],
			    argv[0][0] == 'd', &error);
		return admin_finish(&txn, ret, error, what, pos[0]);
	}
	return admin_usage("unknown subcommand 'user %s' (add, del, list, "
	    "passwd, disable, enable, check, import)", argv[0]);
}
