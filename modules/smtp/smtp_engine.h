/* smtp_engine.h: the SMTP engine as its three modules see it */
#ifndef POSTA_SMTP_ENGINE_H
#define POSTA_SMTP_ENGINE_H

#include <posta/posta.h>

#include "smtp_policy.h"

/*
 * libsmtp-engine.la holds one ESMTP server (RFC 5321 with PIPELINING,
 * SIZE, 8BITMIME, ENHANCEDSTATUSCODES, STARTTLS, AUTH PLAIN/LOGIN,
 * SMTPUTF8, CHUNKING, DSN) over the pure parsing layer.  Each module is
 * a descriptor that hands the engine its struct smtp_policy; all three
 * take the same settings (the table below; conf.d/49-smtp-protocol.conf
 * shows every one with its default).
 */
struct smtp_settings {
	uint64_t max_message_size;	/* SIZE; bytes */
	int64_t max_recipients;		/* per message */
	int64_t max_bad_commands;	/* 5xx answers before 421 */
	int64_t max_junk_commands;	/* NOOP, RSET, VRFY... per message */
	uint64_t command_timeout_ms;	/* RFC 5321 4.5.3.2.7 */
	uint64_t data_timeout_ms;	/* RFC 5321 4.5.3.2.6 */
	uint64_t max_command_length;	/* command line, CRLF excluded */
	int64_t max_text_line_length;	/* DATA line; 0: core's limit */
	bool reject_bare_lf;		/* in DATA: 550 instead of CRLF */
	bool reject_bare_cr;
	bool sender_login_match;	/* AUTH: MAIL FROM one's own address */
	const char *postmaster_address;	/* NULL: postmaster@hostname */
};

extern const struct posta_setting smtp_settings_table[];

/*
 * Module callbacks: init registers protocol policy->name with the host;
 * reload takes new settings for sessions accepted from then on; deinit
 * frees the engine's state.
 */
int smtp_engine_init(struct posta_host *host, const struct smtp_policy *policy,
    const void *settings, void **state_r, const char **error_r);
int smtp_engine_reload(void *state, const void *settings,
    const char **error_r);
void smtp_engine_deinit(void *state);

#endif
