/* smtp_policy.c: the rules of smtp, submission and smtps as pure decisions */
#include "config.h"

#include <string.h>

#include <posta/posta.h>

#include "smtp_policy.h"

const struct smtp_policy smtp_policy_smtp = {
	.name = "smtp",
	.tls_required = false,
	.auth_required = false,
	.add_missing_headers = false,
};

const struct smtp_policy smtp_policy_submission = {
	.name = "submission",
	.tls_required = true,
	.auth_required = true,
	.add_missing_headers = true,
};

const struct smtp_policy smtp_policy_smtps = {
	.name = "smtps",
	.tls_required = true,
	.auth_required = true,
	.add_missing_headers = true,
};

static const struct smtp_status st_need_ehlo = { 503, "5.5.1",
	"Send EHLO first" };
static const struct smtp_status st_need_helo = { 503, "5.5.1",
	"Send HELO or EHLO first" };
static const struct smtp_status st_authed = { 503, "5.5.1",
	"Already authenticated" };
static const struct smtp_status st_in_tx = { 503, "5.5.1",
	"Not permitted during a mail transaction" };
static const struct smtp_status st_nested = { 503, "5.5.1",
	"Nested MAIL command" };
static const struct smtp_status st_tls_first = { 530, "5.7.0",
	"Must issue a STARTTLS command first" };
static const struct smtp_status st_auth_first = { 530, "5.7.0",
	"Authentication required" };
static const struct smtp_status st_encrypt = { 538, "5.7.11",
	"Encryption required for requested authentication mechanism" };
static const struct smtp_status st_no_tls = { 454, "4.7.0",
	"TLS not available" };
static const struct smtp_status st_tls_on = { 503, "5.5.1",
	"TLS already active" };
static const struct smtp_status st_sender = { 553, "5.7.1",
	"Sender address not owned by the authenticated user" };
static const struct smtp_status st_unknown = { 550, "5.1.1",
	"Recipient address rejected: user unknown" };
static const struct smtp_status st_tempfail = { 451, "4.3.0",
	"Temporary failure looking up the recipient, try again later" };
static const struct smtp_status st_relay = { 554, "5.7.1",
	"Relay access denied" };
static const struct smtp_status st_no_queue = { 451, "4.4.0",
	"Relaying to other domains is not available yet" };
static const struct smtp_status st_alias_ext = { 451, "4.4.0",
	"Address forwards to other domains; relaying is not available yet" };

/* TLS is up, or the admin waived it (allow_plaintext_auth). */
static bool
tls_ok(const struct smtp_policy *p, const struct smtp_facts *f)
{
	return !p->tls_required || f->tls || f->plaintext_ok;
}

void
smtp_policy_caps(const struct smtp_policy *p, const struct smtp_facts *f,
    struct smtp_caps *caps_r)
{
	memset(caps_r, 0, sizeof(*caps_r));
	caps_r->starttls = f->starttls_offered && !f->tls;
	/* RFC 4954 section 4: offer only what may be used now */
	caps_r->auth = !f->authed && f->plaintext_ok;
	(void)p;
}

const struct smtp_status *
smtp_policy_starttls(const struct smtp_policy *p, const struct smtp_facts *f)
{
	(void)p;
	if (f->tls)
		return &st_tls_on;
	if (!f->starttls_offered)
		return &st_no_tls;
	/* RFC 3207 4.2 resets the session; a login cannot be undone */
	if (f->authed)
		return &st_authed;
	if (f->in_tx)
		return &st_in_tx;
	return NULL;
}

const struct smtp_status *
smtp_policy_auth(const struct smtp_policy *p, const struct smtp_facts *f)
{
	if (!f->esmtp)
		return &st_need_ehlo;
	if (f->authed)
		return &st_authed;
	if (f->in_tx)
		return &st_in_tx;
	if (!f->plaintext_ok)
		return p->tls_required ? &st_tls_first : &st_encrypt;
	return NULL;
}

const struct smtp_status *
smtp_policy_mail(const struct smtp_policy *p, const struct smtp_facts *f)
{
	if (!f->greeted)
		return &st_need_helo;
	if (f->in_tx)
		return &st_nested;
	if (!tls_ok(p, f))
		return &st_tls_first;
	if (p->auth_required && !f->authed)
		return &st_auth_first;
	return NULL;
}

const struct smtp_status *
smtp_policy_sender(bool is_null, bool resolved_local,
    const char *const *accounts, size_t n_accounts, const char *login)
{
	size_t i;

	if (is_null || !resolved_local || login == NULL)
		return &st_sender;
	for (i = 0; i < n_accounts; i++)
		if (accounts[i] != NULL && strcmp(accounts[i], login) == 0)
			return NULL;
	return &st_sender;
}

enum smtp_route
smtp_policy_rcpt(const struct smtp_policy *p, const struct smtp_facts *f,
    const struct smtp_rcpt_facts *r, const struct smtp_status **status_r)
{
	(void)p;
	*status_r = NULL;
	switch (r->kind) {
	case POSTA_RESOLVE_LOCAL:
		if (r->n_accounts == 0 && r->n_external == 0) {
			*status_r = &st_unknown;
			return SMTP_ROUTE_REFUSE;
		}
		/* forwarding by our own alias is not relaying: anyone may
		   send to it, but the queue must take the external part */
		if (r->n_external > 0 && !r->have_queue) {
			*status_r = &st_alias_ext;
			return SMTP_ROUTE_REFUSE;
		}
		return SMTP_ROUTE_ACCEPT;
	case POSTA_RESOLVE_EXTERNAL:
		if (!f->authed) {
			*status_r = &st_relay;
			return SMTP_ROUTE_REFUSE;
		}
		if (!r->have_queue) {
			*status_r = &st_no_queue;
			return SMTP_ROUTE_REFUSE;
		}
		return SMTP_ROUTE_ACCEPT;
	case POSTA_RESOLVE_UNKNOWN:
		*status_r = &st_unknown;
		return SMTP_ROUTE_REFUSE;
	case POSTA_RESOLVE_TEMPFAIL:
	default:
		*status_r = &st_tempfail;
		return SMTP_ROUTE_REFUSE;
	}
}
