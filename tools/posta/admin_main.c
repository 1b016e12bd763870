/* admin_main.c: posta(8): options, config file, opening the db */
#include "config.h"

#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admin.h"
#include "util.h"
#include "arena.h"
#include "conf.h"
#include "queue_admin.h"

static const char usage_text[] =
"usage: posta [--state-dir DIR] [--config FILE] COMMAND ...\n"
"\n"
"  domain add DOMAIN\n"
"  domain del DOMAIN [--force]\n"
"  domain list\n"
"  alias-domain add ALIAS TARGET\n"
"  alias-domain del ALIAS\n"
"  alias-domain list\n"
"  user add ADDRESS [--password-stdin | --hash HASH]\n"
"  user passwd ADDRESS [--password-stdin | --hash HASH]\n"
"  user del|disable|enable ADDRESS\n"
"  user list [DOMAIN]\n"
"  user check ADDRESS [--password-stdin]\n"
"  user import FILE [--create-domains] [--dry-run]\n"
"  alias add ADDRESS TARGET[,TARGET...]\n"
"  alias del ADDRESS [TARGET]\n"
"  alias list [DOMAIN]\n"
"  catch-all set DOMAIN TARGET\n"
"  catch-all unset DOMAIN\n"
"  catch-all list\n"
"  queue list | show ID | flush [ID] | delete ID\n"
"  queue submit --from ADDRESS --to ADDRESS... < MESSAGE\n"
"\n"
"Exit status: 0 success, 1 usage error, 2 data error (unknown, duplicate,\n"
"invalid or refused), 3 database or system error.  See posta(8).\n";

void
admin_err(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("posta: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int
admin_usage(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("posta: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n(see 'posta --help')\n", stderr);
	return ADMIN_EUSAGE;
}

int
admin_exit_code(int err)
{
	switch (err) {
	case 0:
		return ADMIN_OK;
	case POSTA_ENAME:
	case POSTA_EEXIST:
	case POSTA_ENOTFOUND:
	case -EINVAL:
	case -EBUSY:
	case -E2BIG:
		return ADMIN_EDATA;
	default:
		return ADMIN_ESYS;
	}
}

int
admin_flush(void)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		admin_err("writing the output: %s", strerror(errno));
		return ADMIN_ESYS;
	}
	return ADMIN_OK;
}

int
admin_args(int argc, char **argv, const struct admin_opt *opts,
    const char **pos, size_t min_pos, size_t max_pos, size_t *n_pos_r,
    const char *usage)
{
	size_t n = 0;
	bool only_pos = false;
	int i;

	for (i = 1; i < argc; i++) {
		const char *arg = argv[i], *eq;
		const struct admin_opt *o;
		size_t name_len;

		if (only_pos || arg[0] != '-' || arg[1] == '\0') {
			if (n == max_pos)
				return admin_usage("unexpected argument '%s'; "
				    "usage: %s", arg, usage);
			pos[n++] = arg;
			continue;
		}
		if (strcmp(arg, "--") == 0) {
			only_pos = true;
			continue;
		}
		if (arg[1] != '-')
			return admin_usage("unknown option '%s'; usage: %s",
			    arg, usage);
		eq = strchr(arg, '=');
		name_len = eq != NULL ? (size_t)(eq - arg - 2) :
		    strlen(arg + 2);
		for (o = opts; o != NULL && o->name != NULL; o++)
			if (strlen(o->name) == name_len &&
			    strncmp(o->name, arg + 2, name_len) == 0)
				break;
		if (o == NULL || o->name == NULL)
			return admin_usage("unknown option '%s'; usage: %s",
			    arg, usage);
		if (!o->has_arg) {
			if (eq != NULL)
				return admin_usage("option --%s takes no "
				    "value", o->name);
			*o->flag_r = true;
		} else if (eq != NULL) {
			*o->value_r = eq + 1;
		} else if (i + 1 < argc) {
			*o->value_r = argv[++i];
		} else {
			return admin_usage("option --%s needs a value",
			    o->name);
		}
	}
	if (n < min_pos)
		return admin_usage("missing argument; usage: %s", usage);
	*n_pos_r = n;
	return ADMIN_OK;
}

/* ---- database ---- */

/*
 * postad runs as an unprivileged user and must be able to open the files
 * (LMDB writes its lock file even to read).  An admin running this as root
 * would leave root-owned files behind, so they get the owner of the
 * directory that holds the database when postad already made it its own,
 * else postad's user (before postad's first start).
 */
static void
fix_owner(const char *db_path, const char *user)
{
	static const char *const files[] = { "", "/data.mdb", "/lock.mdb" };
	char parent[4096], path[4096 + 16];
	const struct passwd *pw;
	struct stat st;
	uid_t uid;
	gid_t gid;
	char *slash;
	size_t i;

	if (geteuid() != 0 || strlen(db_path) >= sizeof(parent))
		return;
	strcpy(parent, db_path);
	slash = strrchr(parent, '/');
	if (slash == NULL)
		strcpy(parent, ".");
	else if (slash == parent)
		parent[1] = '\0';
	else
		*slash = '\0';
	if (stat(parent, &st) < 0)
		return;
	uid = st.st_uid;
	gid = st.st_gid;
	if (uid == 0) {
		pw = user != NULL && user[0] != '\0' ? getpwnam(user) : NULL;
		if (pw == NULL || pw->pw_uid == 0)
			return;
		uid = pw->pw_uid;
		gid = pw->pw_gid;
	}
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		struct stat fst;

		snprintf(path, sizeof(path), "%s%s", db_path, files[i]);
		if (stat(path, &fst) == 0 && (fst.st_uid != uid ||
		    fst.st_gid != gid) && chown(path, uid, gid) < 0)
			admin_err("warning: cannot give %s to uid %u: %s",
			    path, (unsigned)uid, strerror(errno));
	}
}

int
admin_open(struct admin *ad, bool create)
{
	const char *error = "";
	int ret;

	if (ad->db != NULL)
		return ADMIN_OK;
	/* postad normally creates the state directory; an admin setting up
	   before the first start should not have to */
	if (create && (ret = util_mkdir_parents(ad->state_dir, 0750)) < 0) {
		admin_err("cannot create the state directory %s: %s",
		    ad->state_dir, strerror(-ret));
		return ADMIN_ESYS;
	}
	ret = auth_lmdb_db_open(ad->db_path, ad->map_size,
	    create ? AUTH_LMDB_OPEN_CREATE : 0, &ad->db, &error);
	if (ret < 0) {
		admin_err("auth database %s: %s", ad->db_path, error);
		return ADMIN_ESYS;
	}
	fix_owner(ad->db_path, ad->user);
	return ADMIN_OK;
}

int
admin_begin(struct admin *ad, bool write, struct auth_lmdb_txn **txn_r)
{
	const char *error = "";
	int ret;

	ret = auth_lmdb_txn_begin(ad->db, NULL, write, txn_r, &error);
	if (ret < 0) {
		admin_err("auth database %s: %s", ad->db_path, error);
		return ADMIN_ESYS;
	}
	return ADMIN_OK;
}

int
admin_finish(struct auth_lmdb_txn **txn, int ret, const char *error,
    const char *what, const char *name)
{
	if (ret < 0) {
		auth_lmdb_txn_abort(txn);
		admin_err("%s %s: %s", what, name, error);
		return admin_exit_code(ret);
	}
	ret = auth_lmdb_txn_commit(txn, &error);
	if (ret < 0) {
		admin_err("%s %s: cannot commit: %s", what, name, error);
		return ADMIN_ESYS;
	}
	return ADMIN_OK;
}

int
admin_list(struct admin *ad, admin_walk_fn *walk, void *ctx)
{
	struct auth_lmdb_txn *txn;
	int ret;

	if ((ret = admin_open(ad, false)) != ADMIN_OK ||
	    (ret = admin_begin(ad, false, &txn)) != ADMIN_OK)
		return ret;
	ret = walk(txn, ctx);
	auth_lmdb_txn_abort(&txn);
	if (ret > 0)
		return ret;
	if (ret < 0) {
		admin_err("auth database %s: %s", ad->db_path,
		    posta_strerror(ret));
		return admin_exit_code(ret) == ADMIN_EDATA ? ADMIN_EDATA :
		    ADMIN_ESYS;
	}
	return ADMIN_OK;
}

/* ---- configuration ---- */

/*
 * Reads state_dir and user (top level) and the auth-lmdb block's db_path
 * and map_size from postad's config, the way postad reads them.
 */
static int
read_config(struct admin *ad, struct arena *a, const char *path,
    bool state_dir_given, char **db_path_r)
{
	const struct conf_block *b;
	struct conf_doc *doc;
	const char *error = "";
	size_t i;
	int ret;

	ret = conf_parse_file(a, path, &doc, &error);
	if (ret < 0) {
		admin_err("%s", ret == -ENOMEM ? strerror(ENOMEM) : error);
		return ADMIN_ESYS;
	}
	for (i = 0; i < doc->n_globals; i++) {
		const struct conf_item *it = &doc->globals[i];

		if (it->qualifier != NULL || it->value[0] == '\0')
			continue;
		if (strcmp(it->key, "state_dir") == 0 && !state_dir_given)
			ad->state_dir = it->value;
		else if (strcmp(it->key, "user") == 0)
			ad->user = it->value;
	}
	b = conf_find_block(doc, "plugin", "auth-lmdb");
	for (i = 0; b != NULL && i < b->n_items; i++) {
		const struct conf_item *it = &b->items[i];

		if (it->qualifier != NULL)
			continue;
		if (strcmp(it->key, "db_path") == 0 && it->value[0] != '\0') {
			*db_path_r = arena_strdup(a, it->value);
			if (*db_path_r == NULL) {
				admin_err("%s", strerror(ENOMEM));
				return ADMIN_ESYS;
			}
		} else if (strcmp(it->key, "map_size") == 0 &&
		    conf_value_size(it->value, &ad->map_size, &error) < 0) {
			admin_err("%s:%u: map_size: %s", it->file, it->line,
			    error);
			return ADMIN_ESYS;
		}
	}
	return ADMIN_OK;
}

/* The outbound queue's commands live with the queue (plugins/queue). */
static int
admin_queue_main(struct admin *ad, int argc, char **argv)
{
	return queue_admin_main(ad->state_dir, argc, argv);
}

static const struct {
	const char *name;
	int (*run)(struct admin *, int, char **);
} commands[] = {
	{ "domain", admin_domain_main },
	{ "alias-domain", admin_alias_domain_main },
	{ "user", admin_user_main },
	{ "alias", admin_alias_main },
	{ "catch-all", admin_catchall_main },
	{ "queue", admin_queue_main },
};

int
main(int argc, char **argv)
{
	struct admin ad;
	struct arena *a;
	const char *config = NULL;
	char *db_path = NULL, *owned_path = NULL;
	bool state_dir_given = false;
	size_t c;
	int i, ret;

	memset(&ad, 0, sizeof(ad));
	ad.state_dir = POSTA_STATE_DIR;
	ad.user = POSTA_USER;
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		const char *arg = argv[i];

		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			fputs(usage_text, stdout);
			return admin_flush();
		} else if (strcmp(arg, "--version") == 0) {
			printf("posta %s\n", PACKAGE_VERSION);
			return admin_flush();
		} else if (strcmp(arg, "--state-dir") == 0 && i + 1 < argc) {
			ad.state_dir = argv[++i];
			state_dir_given = true;
		} else if (strncmp(arg, "--state-dir=", 12) == 0) {
			ad.state_dir = arg + 12;
			state_dir_given = true;
		} else if (strcmp(arg, "--config") == 0 && i + 1 < argc) {
			config = argv[++i];
		} else if (strncmp(arg, "--config=", 9) == 0) {
			config = arg + 9;
		} else {
			return admin_usage("unknown option '%s' (or missing "
			    "value)", arg);
		}
	}
	if (i == argc)
		return admin_usage("no command given");
	if (ad.state_dir[0] == '\0')
		return admin_usage("--state-dir must not be empty");
	for (c = 0; c < sizeof(commands) / sizeof(commands[0]); c++)
		if (strcmp(argv[i], commands[c].name) == 0)
			break;
	if (c == sizeof(commands) / sizeof(commands[0]))
		return admin_usage("unknown command '%s'", argv[i]);
	if (i + 1 == argc)
		return admin_usage("%s: missing subcommand", argv[i]);

	a = arena_new(4096, 0);
	if (a == NULL) {
		admin_err("%s", strerror(ENOMEM));
		return ADMIN_ESYS;
	}
	if (config != NULL) {
		ret = read_config(&ad, a, config, state_dir_given, &db_path);
		if (ret != ADMIN_OK)
			goto out;
	}
	if (db_path == NULL) {
		if (asprintf(&owned_path, "%s/auth", ad.state_dir) < 0) {
			admin_err("%s", strerror(ENOMEM));
			ret = ADMIN_ESYS;
			goto out;
		}
		db_path = owned_path;
	}
	ad.db_path = db_path;
	ret = commands[c].run(&ad, argc - i - 1, argv + i + 1);
	if (ret == ADMIN_OK)
		ret = admin_flush();
out:
	auth_lmdb_db_close(&ad.db);
	free(owned_path);
	arena_free(&a);
	return ret;
}
