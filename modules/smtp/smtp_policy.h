/* smtp_policy.h: what smtp, submission and smtps allow, as pure decisions */
#ifndef POSTA_SMTP_POLICY_H
#define POSTA_SMTP_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "smtp_parse.h"

/*
 * The three SMTP modules run the same engine and differ only in a
 * struct smtp_policy.  The decisions below are pure functions of the
 * policy and of facts about the session, so they are tested without a
 * daemon; the session layer gathers the facts, asks, and sends the reply
 * it gets (NULL means "go on").
 *
 *                         smtp (25)      submission (587)  smtps (465)
 *   tls_required          no             yes               yes (implicit)
 *   auth_required         no             yes               yes
 *   add_missing_headers   no             yes               yes
 *
 * Common to all three: local recipients are accepted from anyone who
 * passed the other checks; other domains only from authenticated
 * sessions ("relay"); a password is only taken over TLS unless the
 * service sets allow_plaintext_auth, which also waives tls_required (a
 * test or a trusted network may run submission without TLS).
 */
struct smtp_policy {
	const char *name;		/* protocol name */
	bool tls_required;		/* 530 5.7.0 before STARTTLS */
	bool auth_required;		/* 530 5.7.0 before AUTH */
	bool add_missing_headers;	/* Date, Message-ID (RFC 6409 8) */
};

extern const struct smtp_policy smtp_policy_smtp;
extern const struct smtp_policy smtp_policy_submission;
extern const struct smtp_policy smtp_policy_smtps;

/* What the session knows when it asks. */
struct smtp_facts {
	bool greeted;		/* HELO or EHLO seen (since STARTTLS) */
	bool esmtp;		/* it was EHLO */
	bool tls;		/* TLS is up */
	bool starttls_offered;	/* service is STARTTLS and TLS is not up */
	bool plaintext_ok;	/* a password may be sent now */
	bool authed;
	bool in_tx;		/* MAIL accepted, transaction open */
};

/* EHLO keywords that depend on state (the rest are always listed). */
struct smtp_caps {
	bool starttls;
	bool auth;
};

void smtp_policy_caps(const struct smtp_policy *p, const struct smtp_facts *f,
    struct smtp_caps *caps_r);

/* STARTTLS: 503 after AUTH or in a transaction, 454 when not offered. */
const struct smtp_status *smtp_policy_starttls(const struct smtp_policy *p,
    const struct smtp_facts *f);

/* AUTH: order (503), TLS first (530 5.7.0 or 538 5.7.11). */
const struct smtp_status *smtp_policy_auth(const struct smtp_policy *p,
    const struct smtp_facts *f);

/* MAIL: order (503), TLS first and AUTH first (530 5.7.0). */
const struct smtp_status *smtp_policy_mail(const struct smtp_policy *p,
    const struct smtp_facts *f);

/*
 * The envelope sender of an authenticated session must be one of the
 * user's addresses: the sender resolves (posta_conn_resolve) to local
 * accounts and the login is one of them.  Null senders are refused too:
 * <> names nobody, and a user has no business sending bounces.  Returns
 * NULL when allowed, else 553 5.7.1.
 */
const struct smtp_status *smtp_policy_sender(bool is_null, bool resolved_local,
    const char *const *accounts, size_t n_accounts, const char *login);

/* Where an accepted recipient goes. */
enum smtp_route {
	SMTP_ROUTE_REFUSE = 0,	/* *status_r is the reply */
	SMTP_ROUTE_ACCEPT,	/* local accounts and/or the queue */
};

/* The resolution of a recipient, as far as policy cares. */
struct smtp_rcpt_facts {
	int kind;		/* enum posta_resolve_kind (auth.h) */
	size_t n_accounts;
	size_t n_external;	/* alias targets on other servers */
	bool have_queue;	/* an outbound queue is registered */
};

/*
 * RCPT: unknown local address 550 5.1.1; a temporary lookup failure
 * 451 4.3.0; another domain without AUTH 554 5.7.1; mail for other
 * servers (another domain, or an alias's external targets) while no
 * queue is loaded 451 4.4.0, so senders retry once it is.
 */
enum smtp_route smtp_policy_rcpt(const struct smtp_policy *p,
    const struct smtp_facts *f, const struct smtp_rcpt_facts *r,
    const struct smtp_status **status_r);

#endif
