/* badabi.c: test-only module built for a future ABI major; postad must refuse it */
#include "config.h"

#include <posta/posta.h>

static int
badabi_init(struct posta_host *host, const void *settings, void **state_r,
    const char **error_r)
{
	/* never reached: the loader refuses before any module code runs */
	abort();
}

POSTA_MODULE_EXPORT const struct posta_module posta_module = {
	.abi_major = POSTA_ABI_MAJOR + 1,
	.abi_minor = 0,
	.size = sizeof(struct posta_module),
	.name = "badabi",
	.version = "0",
	.kind = POSTA_MODULE_PLUGIN,
	.init = badabi_init,
};
