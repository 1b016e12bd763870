/* maildir_fakehost.h: a minimal host to drive the maildir store outside postad */
#ifndef POSTA_BENCH_MAILDIR_FAKEHOST_H
#define POSTA_BENCH_MAILDIR_FAKEHOST_H

#include <posta/posta.h>

#include "maildir.h"

/*
 * What the benchmark and the interop tool use to run the plugin without
 * postad: a struct posta_host (function table first) over a real loop,
 * state_dir = dir.  Errors go to stderr; fh_wait() runs the loop until a
 * flag is set and exits the program if nothing is left to wait for.
 */
struct fakehost {
	const struct posta_host_api *api;
	uv_loop_t loop;
	char dir[1024];
	const struct posta_store_ops *ops;
	void *state;
	struct md_settings set;
};

int fh_init(struct fakehost *fh, const char *dir, bool do_fsync);
void fh_fini(struct fakehost *fh);
void fh_wait(struct fakehost *fh, const bool *flag);
struct posta_host *fh_host(struct fakehost *fh);

#endif
