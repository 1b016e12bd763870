/* test_maildir_host.h: a fake postad for the maildir plugin's tests */
#ifndef POSTA_TEST_MAILDIR_HOST_H
#define POSTA_TEST_MAILDIR_HOST_H

#include <posta/posta.h>

#include "maildir.h"

/*
 * A struct posta_host whose function table implements just what a store
 * plugin uses (loop, state_dir, register_store, store, logging) over a
 * real libuv loop and a temporary directory.  th_* helpers run the loop
 * until one request's callback has run, so a test reads top to bottom.
 */
struct test_host {
	const struct posta_host_api *api;	/* first: see posta.h */
	uv_loop_t loop;
	char dir[256];				/* state_dir */
	const struct posta_store_ops *ops;
	void *state;
	struct md_settings set;
	unsigned warnings;			/* warn and error lines */
};

/* Makes a temp dir and a loop, loads the plugin with default settings
   (mail_root <dir>/mail/%d/%n); th_start() after changing th->set. */
struct test_host *th_new(void);
void th_start(struct test_host *th);
/* Unloads the plugin and runs the loop until its handles are closed. */
void th_stop(struct test_host *th);
/* th_stop, rm -r of the directory, free */
void th_free(struct test_host **thp);
/* "<dir>/mail/<domain>/<local>" for account */
const char *th_maildir(struct test_host *th, const char *account);
/* Runs the loop until *flag is true (bounded by a 20 s watchdog). */
void th_wait(struct test_host *th, const bool *flag);

/* synchronous wrappers; each asserts the call itself returned 0 */
struct posta_mail_user *th_user(struct test_host *th, const char *account);
struct posta_mailbox *th_open(struct test_host *th,
    struct posta_mail_user *u, const char *name, uint32_t flags, int *err_r);
int th_refresh(struct test_host *th, struct posta_mailbox *box,
    uint32_t flags, struct posta_mailbox_changes *copy_r,
    uint32_t **expunged_uids_r);
int th_done_call(struct test_host *th, int ret, bool *flag, int *err);
/* delivers data to accounts; results copied to res (n entries) */
int th_deliver(struct test_host *th, const char *const *accounts, size_t n,
    const void *data, size_t len, struct posta_delivery_result *res);
int th_append(struct test_host *th, struct posta_mail_user *u,
    const char *box, const void *data, size_t len, uint32_t flags,
    const char *keyword, uint32_t *uid_r);
/* reads a whole message through a reader in chunks of chunk bytes */
int th_read(struct test_host *th, struct posta_mailbox *box, uint32_t uid,
    size_t chunk, char **data_r, size_t *len_r);
/* one reader, several reads at chosen offsets */
struct posta_msg_reader *th_reader(struct test_host *th,
    struct posta_mailbox *box, uint32_t uid, uint64_t *size_r);
int th_read_at(struct test_host *th, struct posta_msg_reader *r,
    uint64_t off, size_t len, char *out, size_t *got_r);
int th_store(struct test_host *th, struct posta_mailbox *box, uint32_t uid,
    enum posta_flags_mode mode, uint32_t flags, const char *keyword);
int th_expunge(struct test_host *th, struct posta_mailbox *box,
    const uint32_t *uids, size_t n, uint32_t flags, size_t *n_r);
int th_status(struct test_host *th, struct posta_mail_user *u,
    const char *name, struct posta_mailbox_status *st);
int th_user_op(struct test_host *th, struct posta_mail_user *u, int op,
    const char *a, const char *b);
enum { TH_CREATE, TH_DELETE, TH_RENAME, TH_SUBSCRIBE, TH_UNSUBSCRIBE };

/* files */
void th_write_file(const char *path, const char *data);
size_t th_count_files(const char *dir);
void th_rm_rf(const char *path);

#endif
