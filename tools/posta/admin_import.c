/* admin_import.c: posta user import of a Dovecot passwd-file */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "admin.h"
#include "util.h"

/*
 * Dovecot's passwd-file: "user:password:uid:gid:gecos:home:shell:extra",
 * of which only the first two fields matter here; the user must be a full
 * address and the password a {SCHEME} crypt hash we accept.  Each line is
 * its own nested transaction inside one write transaction: a bad line is
 * reported with its number and leaves nothing behind (not even a domain
 * --create-domains made for it), the good lines are committed together at
 * the end, and --dry-run commits nothing.
 */

/* Longer lines are reported, not read into memory. */
#define LINE_MAX_BYTES 8192

struct import {
	struct admin *ad;
	struct auth_lmdb_txn *txn;
	const char *file;
	bool create_domains;
	unsigned users, domains, errors;
};

static void
line_error(struct import *im, unsigned line, const char *who,
    const char *msg, const char *hint)
{
	admin_err("%s:%u: %s%s%s%s", im->file, line, who, who[0] != '\0' ?
	    ": " : "", msg, hint);
	im->errors++;
}

/* Returns 0, or a database error that ends the import. */
static int
import_line(struct import *im, unsigned line, char *s)
{
	struct auth_lmdb_txn *child;
	const char *error = "";
	char *user, *pass, *colon, *at;
	bool made_domain = false;
	int ret;

	while (*s == ' ' || *s == '\t')
		s++;
	if (*s == '\0' || *s == '#')
		return 0;
	user = s;
	colon = strchr(s, ':');
	if (colon == NULL) {
		line_error(im, line, "", "expected user:{SCHEME}hash:...", "");
		return 0;
	}
	*colon = '\0';
	pass = colon + 1;
	colon = strchr(pass, ':');
	if (colon != NULL)
		*colon = '\0';
	if (pass[0] == '\0') {
		line_error(im, line, user, "no password hash", "");
		return 0;
	}
	at = strrchr(user, '@');
	if (at == NULL) {
		line_error(im, line, user, "not a full address (user@domain)",
		    "");
		return 0;
	}

	ret = auth_lmdb_txn_begin(im->ad->db, im->txn, true, &child, &error);
	if (ret < 0)
		goto fatal;
	if (im->create_domains && auth_lmdb_domain_exists(child, at + 1) ==
	    POSTA_ENOTFOUND) {
		ret = auth_lmdb_domain_add(child, at + 1, &error);
		if (ret == 0)
			made_domain = true;
		else if (ret != POSTA_EEXIST)
			goto fail;
	}
	ret = auth_lmdb_user_add(child, user, pass, &error);
	if (ret < 0)
		goto fail;
	ret = auth_lmdb_txn_commit(&child, &error);
	if (ret < 0)
		goto fatal;
	im->users++;
	if (made_domain)
		im->domains++;
	return 0;
fail:
	auth_lmdb_txn_abort(&child);
	if (admin_exit_code(ret) != ADMIN_EDATA)
		goto fatal;
	line_error(im, line, user, error, ret == POSTA_ENOTFOUND &&
	    !im->create_domains ? " (or pass --create-domains)" : "");
	return 0;
fatal:
	admin_err("%s:%u: %s: %s", im->file, line, user, error);
	return ret;
}

int
admin_import_main(struct admin *ad, int argc, char **argv)
{
	struct import im;
	char buf[LINE_MAX_BYTES];
	const char *pos[1], *error = "";
	bool dry_run = false, create_domains = false, skipping = false;
	const struct admin_opt opts[] = {
		{ "create-domains", false, NULL, &create_domains },
		{ "dry-run", false, NULL, &dry_run },
		{ NULL, false, NULL, NULL },
	};
	unsigned line = 0;
	FILE *f;
	size_t n;
	int ret;

	if ((ret = admin_args(argc, argv, opts, pos, 1, 1, &n,
	    "posta user import FILE [--create-domains] [--dry-run]")) !=
	    ADMIN_OK)
		return ret;
	memset(&im, 0, sizeof(im));
	im.ad = ad;
	im.file = pos[0];
	im.create_domains = create_domains;
	if (strcmp(pos[0], "-") == 0) {
		f = stdin;
		im.file = "(stdin)";
	} else if ((f = fopen(pos[0], "r")) == NULL) {
		admin_err("user import: cannot open %s: %s", pos[0],
		    strerror(errno));
		return ADMIN_ESYS;
	}
	if ((ret = admin_open(ad, create_domains)) != ADMIN_OK ||
	    (ret = admin_begin(ad, true, &im.txn)) != ADMIN_OK)
		goto out;
	while (fgets(buf, sizeof(buf), f) != NULL) {
		size_t len = strlen(buf);
		bool complete = len > 0 && buf[len - 1] == '\n';

		if (skipping) {
			/* the tail of an over-long line */
			skipping = !complete;
			continue;
		}
		line++;
		if (!complete && !feof(f)) {
			line_error(&im, line, "", "line longer than 8192 "
			    "bytes", "");
			skipping = true;
			continue;
		}
		if (complete)
			buf[--len] = '\0';
		if (len > 0 && buf[len - 1] == '\r')
			buf[--len] = '\0';
		ret = import_line(&im, line, buf);
		util_wipe(buf, sizeof(buf));
		if (ret < 0) {
			auth_lmdb_txn_abort(&im.txn);
			admin_err("user import: stopped; nothing was imported");
			ret = ADMIN_ESYS;
			goto out;
		}
	}
	if (ferror(f)) {
		auth_lmdb_txn_abort(&im.txn);
		admin_err("user import: reading %s: %s; nothing was imported",
		    im.file, strerror(errno));
		ret = ADMIN_ESYS;
		goto out;
	}
	if (dry_run) {
		auth_lmdb_txn_abort(&im.txn);
	} else if ((ret = auth_lmdb_txn_commit(&im.txn, &error)) < 0) {
		admin_err("user import: cannot commit: %s; nothing was "
		    "imported", error);
		ret = ADMIN_ESYS;
		goto out;
	}
	printf("%s %u user%s, %s %u domain%s; %u line%s with errors\n",
	    dry_run ? "would import" : "imported", im.users,
	    im.users == 1 ? "" : "s", dry_run ? "would create" : "created",
	    im.domains, im.domains == 1 ? "" : "s", im.errors,
	    im.errors == 1 ? "" : "s");
	ret = im.errors > 0 ? ADMIN_EDATA : ADMIN_OK;
out:
	if (f != stdin)
		fclose(f);
	return ret;
}
