/* admin.h: posta(8) shared context, exit codes and helpers */
#ifndef POSTA_ADMIN_H
#define POSTA_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth_lmdb_db.h"

/* Exit codes (documented in posta(8)). */
enum admin_exit {
	ADMIN_OK = 0,
	ADMIN_EUSAGE = 1,	/* bad command line */
	ADMIN_EDATA = 2,	/* unknown, duplicate, invalid, refused */
	ADMIN_ESYS = 3,		/* database, config file or system failure */
};

struct admin {
	const char *state_dir;
	const char *db_path;	/* <state_dir>/auth unless configured */
	uint64_t map_size;	/* 0: the database layer's default */
	const char *user;	/* postad's unprivileged user */
	struct auth_lmdb_db *db;
};

/* "posta: " + message on stderr */
void admin_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* an error message, then a hint to see --help; returns ADMIN_EUSAGE */
int admin_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The exit code an error from the database layer deserves. */
int admin_exit_code(int err);

/*
 * Opens the database (creating it when create is set and it is missing).
 * Prints the error and returns an exit code, or ADMIN_OK.
 */
int admin_open(struct admin *ad, bool create);

/*
 * Runs one write operation's ending: on ret < 0 aborts and prints
 * "posta: WHAT NAME: ERROR", else commits.  Returns the exit code.
 */
int admin_finish(struct auth_lmdb_txn **txn, int ret, const char *error,
    const char *what, const char *name);

/* Begins a transaction, printing the error; returns the exit code. */
int admin_begin(struct admin *ad, bool write, struct auth_lmdb_txn **txn_r);

/*
 * Opens the database and runs walk in one read transaction.  walk returns
 * 0, a negative error (printed here) or an exit code it printed itself.
 * Returns the exit code.
 */
typedef int admin_walk_fn(struct auth_lmdb_txn *txn, void *ctx);
int admin_list(struct admin *ad, admin_walk_fn *walk, void *ctx);

/* Flushes stdout; ADMIN_ESYS (printed) on a write error. */
int admin_flush(void);

/*
 * Command-line options of one subcommand.  Each argv element after the
 * verb is an option from opts ("--name", "--name=value" or "--name value"
 * when has_arg), "--" (the rest is positional), or a positional argument.
 */
struct admin_opt {
	const char *name;
	bool has_arg;
	const char **value_r;	/* has_arg */
	bool *flag_r;		/* !has_arg */
};

/*
 * Parses argv[0..argc) into options and at most max_pos positionals; the
 * number of positionals must lie in min_pos..max_pos.  Prints the problem
 * and returns ADMIN_EUSAGE, or ADMIN_OK.
 */
int admin_args(int argc, char **argv, const struct admin_opt *opts,
    const char **pos, size_t min_pos, size_t max_pos, size_t *n_pos_r,
    const char *usage);

/*
 * Reads a password: from stdin's first line (from_stdin), else from the
 * terminal without echo (asked twice when confirm is set).  buf holds
 * size bytes and is the caller's to wipe.  Returns the exit code.
 */
int admin_pw_read(bool from_stdin, bool confirm, const char *address,
    char *buf, size_t size);

/*
 * The stored hash for --hash VALUE or a password read as above (hashed
 * with yescrypt).  hash_r holds AUTH_LMDB_HASH_MAX + 1 bytes.
 */
int admin_pw_hash(const char *hash_opt, bool from_stdin, const char *address,
    char *hash_r);

/* Subcommands; argv[0] is the verb ("add", "list", ...). */
int admin_domain_main(struct admin *ad, int argc, char **argv);
int admin_alias_domain_main(struct admin *ad, int argc, char **argv);
int admin_user_main(struct admin *ad, int argc, char **argv);
int admin_alias_main(struct admin *ad, int argc, char **argv);
int admin_catchall_main(struct admin *ad, int argc, char **argv);
/* "user import FILE ..." with argv[0] == "import" */
int admin_import_main(struct admin *ad, int argc, char **argv);

#endif
