/* submission.c: protocol submission (RFC 6409): TLS, AUTH, any rcpt */
#include "config.h"

#include <posta/posta.h>

#include "smtp_engine.h"

static int
submission_init(struct posta_host *host, const void *settings, void **state_r,
    const char **error_r)
{
	return smtp_engine_init(host, &smtp_policy_submission, settings,
	    state_r, error_r);
}

POSTA_MODULE(
	.name = "submission",
	.version = PACKAGE_VERSION,
	.kind = POSTA_MODULE_PROTOCOL,
	.settings = smtp_settings_table,
	.settings_size = sizeof(struct smtp_settings),
	.init = submission_init,
	.reload = smtp_engine_reload,
	.deinit = smtp_engine_deinit,
);
