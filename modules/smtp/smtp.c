/* smtp.c: protocol smtp (port 25): anyone to local recipients */
#include "config.h"

#include <posta/posta.h>

#include "smtp_engine.h"

static int
smtp_init(struct posta_host *host, const void *settings, void **state_r,
    const char **error_r)
{
	return smtp_engine_init(host, &smtp_policy_smtp, settings, state_r,
	    error_r);
}

POSTA_MODULE(
	.name = "smtp",
	.version = PACKAGE_VERSION,
	.kind = POSTA_MODULE_PROTOCOL,
	.settings = smtp_settings_table,
	.settings_size = sizeof(struct smtp_settings),
	.init = smtp_init,
	.reload = smtp_engine_reload,
	.deinit = smtp_engine_deinit,
);
