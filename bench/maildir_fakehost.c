/* maildir_fakehost.c: a minimal host to drive the maildir store outside postad */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "maildir_fakehost.h"

extern const struct posta_module posta_module;

static void
fh_logv(const void *obj, enum posta_log_level level, const char *event,
    const char *fmt, va_list ap)
{
	if (level > POSTA_LOG_WARN && getenv("MD_LOG") == NULL)
		return;
	fprintf(stderr, "# %s ", event);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

static bool
fh_log_enabled(const void *obj, enum posta_log_level level)
{
	return level <= POSTA_LOG_WARN;
}

static uv_loop_t *
fh_loop(struct posta_host *h)
{
	return &((struct fakehost *)h)->loop;
}

static const char *
fh_state_dir(struct posta_host *h)
{
	return ((struct fakehost *)h)->dir;
}

static int
fh_register_store(struct posta_host *h, const struct posta_store_ops *ops,
    void *state)
{
	struct fakehost *fh = (struct fakehost *)h;

	fh->ops = ops;
	fh->state = state;
	return 0;
}

static const struct posta_store_ops *
fh_store(struct posta_host *h, void **state_r)
{
	struct fakehost *fh = (struct fakehost *)h;

	*state_r = fh->state;
	return fh->ops;
}

static const struct posta_host_api fh_api = {
	.size = sizeof(struct posta_host_api),
	.logv = fh_logv,
	.log_enabled = fh_log_enabled,
	.loop = fh_loop,
	.state_dir = fh_state_dir,
	.register_store = fh_register_store,
	.store = fh_store,
};

struct posta_host *
fh_host(struct fakehost *fh)
{
	return (struct posta_host *)fh;
}

int
fh_init(struct fakehost *fh, const char *dir, bool do_fsync)
{
	const char *error = NULL;
	void *state;
	int ret;

	memset(fh, 0, sizeof(*fh));
	fh->api = &fh_api;
	snprintf(fh->dir, sizeof(fh->dir), "%s", dir);
	if (uv_loop_init(&fh->loop) != 0)
		return -1;
	fh->set.fsync = do_fsync;
	fh->set.index_idle_timeout = 60000;
	fh->set.index_map_size = 1u << 30;
	fh->set.max_message_size = 64u << 20;
	fh->set.tmp_max_age = 36ull * 3600 * 1000;
	fh->set.max_keywords = 64;
	fh->set.dovecot_import = true;
	fh->set.folder_drafts = "Drafts";
	fh->set.folder_sent = "Sent";
	fh->set.folder_trash = "Trash";
	fh->set.folder_junk = "Junk";
	fh->set.folder_archive = "";
	ret = posta_module.init(fh_host(fh), &fh->set, &state, &error);
	if (ret != 0) {
		fprintf(stderr, "maildir init: %s\n", error ? error : "?");
		return ret;
	}
	return 0;
}

void
fh_fini(struct fakehost *fh)
{
	if (fh->ops != NULL)
		posta_module.deinit(fh->state);
	fh->ops = NULL;
	while (uv_run(&fh->loop, UV_RUN_DEFAULT) != 0)
		;
	uv_loop_close(&fh->loop);
}

void
fh_wait(struct fakehost *fh, const bool *flag)
{
	while (!*flag)
		if (uv_run(&fh->loop, UV_RUN_ONCE) == 0 && !*flag) {
			fprintf(stderr, "the loop stalled\n");
			exit(2);
		}
}
