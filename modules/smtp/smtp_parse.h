/* smtp_parse.h: pure SMTP command-line parser and the reply for each error */
#ifndef POSTA_SMTP_PARSE_H
#define POSTA_SMTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct arena;

/*
 * One command line in, one struct smtp_cmd out.  The parser knows RFC 5321
 * syntax and the ESMTP parameters of the extensions the session says are
 * on; it knows nothing of session state (order of commands, TLS, AUTH,
 * policy, sizes), which the session checks on the result.  Lines arrive
 * from the core without their terminator; over-long lines never reach the
 * parser (the session answers SMTP_PERR_LINE_TOO_LONG itself, see
 * smtp_parse_status()).
 *
 * Strictness: angle brackets around paths, keyword syntax, parameter
 * values and address syntax are enforced.  Deliberately tolerated, because
 * common clients send them and they are unambiguous: lower/mixed-case
 * verbs and keywords, several spaces between words, spaces after "FROM:" /
 * "TO:", trailing spaces and tabs, and a bare LF ending a command line
 * unless require_crlf is set.
 */

enum smtp_verb {
	SMTP_VERB_UNKNOWN = 0,
	SMTP_VERB_EHLO,
	SMTP_VERB_HELO,
	SMTP_VERB_MAIL,
	SMTP_VERB_RCPT,
	SMTP_VERB_DATA,
	SMTP_VERB_BDAT,
	SMTP_VERB_RSET,
	SMTP_VERB_NOOP,
	SMTP_VERB_QUIT,
	SMTP_VERB_HELP,
	SMTP_VERB_VRFY,
	SMTP_VERB_EXPN,
	SMTP_VERB_AUTH,
	SMTP_VERB_STARTTLS,
};

/* Upper-case name of a verb ("EHLO"), "UNKNOWN" for SMTP_VERB_UNKNOWN. */
const char *smtp_verb_name(enum smtp_verb verb);

/*
 * Syntax errors.  Each maps to one reply (code, enhanced code, text) with
 * smtp_parse_status(); the session may word the text differently but
 * should keep both codes.
 */
enum smtp_perr {
	SMTP_PERR_NONE = 0,
	SMTP_PERR_UNKNOWN,	/* 500 5.5.2 unknown verb, empty line */
	SMTP_PERR_LINE_TOO_LONG,/* 500 5.5.2 (RFC 5321 4.5.3.1.10) */
	SMTP_PERR_BARE_LF,	/* 500 5.5.2 only with require_crlf */
	SMTP_PERR_BAD_CHAR,	/* 500 5.5.2 NUL, lone CR, controls */
	SMTP_PERR_NO_ARGS,	/* 501 5.5.4 "DATA x", "QUIT x" */
	SMTP_PERR_HELO_SYNTAX,	/* 501 5.5.4 missing or extra argument */
	SMTP_PERR_HELO_DOMAIN,	/* 501 5.5.4 bad domain or literal */
	SMTP_PERR_MAIL_SYNTAX,	/* 501 5.5.4 not MAIL FROM:<...> */
	SMTP_PERR_RCPT_SYNTAX,	/* 501 5.5.4 not RCPT TO:<...> */
	SMTP_PERR_BAD_SENDER,	/* 501 5.1.7 reverse-path syntax */
	SMTP_PERR_BAD_RCPT,	/* 501 5.1.3 forward-path syntax */
	SMTP_PERR_SENDER_TOO_LONG,	/* 501 5.1.7 path, local part */
	SMTP_PERR_RCPT_TOO_LONG,/* 501 5.1.3 path, local part */
	SMTP_PERR_UTF8_ADDR,	/* 553 5.6.7 UTF-8 without SMTPUTF8 */
	SMTP_PERR_PARAM_SYNTAX,	/* 501 5.5.4 bad or repeated parameter */
	SMTP_PERR_PARAM_UNKNOWN,/* 555 5.5.4 unknown or not enabled */
	SMTP_PERR_BDAT_SYNTAX,	/* 501 5.5.4 */
	SMTP_PERR_AUTH_SYNTAX,	/* 501 5.5.4 */
	SMTP_PERR_AUTH_BASE64,	/* 501 5.5.2 (RFC 4954 section 4) */
	SMTP_PERR_VRFY_SYNTAX,	/* 501 5.5.4 VRFY/EXPN without arg */
	SMTP_PERR_COUNT_
};

/* A reply: "code enhanced text".  Static storage. */
struct smtp_status {
	uint16_t code;
	const char *enhanced;
	const char *text;
};

/* Never NULL; an out-of-range value yields the SMTP_PERR_UNKNOWN reply. */
const struct smtp_status *smtp_parse_status(enum smtp_perr err);

/* Extensions the session advertised and that apply to this command. */
enum smtp_ext {
	SMTP_EXT_SIZE = 1 << 0,		/* RFC 1870: SIZE= */
	SMTP_EXT_8BITMIME = 1 << 1,	/* RFC 6152: BODY=7BIT|8BITMIME */
	SMTP_EXT_BINARYMIME = 1 << 2,	/* RFC 3030: BODY=BINARYMIME */
	SMTP_EXT_SMTPUTF8 = 1 << 3,	/* RFC 6531 */
	SMTP_EXT_DSN = 1 << 4,		/* RFC 3461: RET ENVID NOTIFY.. */
	SMTP_EXT_AUTH = 1 << 5,		/* RFC 4954: MAIL ... AUTH= */
};

struct smtp_parse_opts {
	/* SMTP_EXT_* bits: what EHLO advertised (0 after HELO: RFC 5321
	   says no parameters then) */
	unsigned ext;
	/* the transaction's MAIL had SMTPUTF8: RCPT may use UTF-8 */
	bool utf8_tx;
	/* refuse command lines ending in a bare LF (SMTP_PERR_BARE_LF) */
	bool require_crlf;
	/* RFC 5321 4.5.3.1.3, octets including "<" ">" and a source route */
	size_t max_path_len;
	/* RFC 5321 4.5.3.1.1, octets as sent (quotes included) */
	size_t max_local_len;
	/* command line without CRLF, 0 for no check beyond the core's own
	   limit; AUTH is exempt (RFC 4954 allows 12288 octets) */
	size_t max_line_len;
};

/* Defaults: no extensions, 256-octet paths, 64-octet local parts, lines
   limited only by the core. */
void smtp_parse_opts_init(struct smtp_parse_opts *o);

enum smtp_body {
	SMTP_BODY_NONE = 0,		/* no BODY= given */
	SMTP_BODY_7BIT,
	SMTP_BODY_8BITMIME,
	SMTP_BODY_BINARYMIME,
};

enum smtp_ret {
	SMTP_RET_NONE = 0,
	SMTP_RET_FULL,
	SMTP_RET_HDRS,
};

enum smtp_notify {
	SMTP_NOTIFY_NEVER = 1 << 0,
	SMTP_NOTIFY_SUCCESS = 1 << 1,
	SMTP_NOTIFY_FAILURE = 1 << 2,
	SMTP_NOTIFY_DELAY = 1 << 3,
};

/*
 * A reverse- or forward-path.  All strings are NUL-terminated, in the
 * arena, and hold no NUL or control bytes (the parser refuses those).  A
 * source route (@a,@b:) is accepted and dropped (RFC 5321 4.1.2 and
 * appendix C); had_route tells it was there.
 */
struct smtp_path {
	const char *mailbox;	/* "local@domain" as sent; "" for <>;
				   "Postmaster" for <Postmaster> */
	const char *local;	/* local part as sent, quotes kept */
	const char *local_plain;/* Quoted-string decoded; == local if not */
	const char *domain;	/* domain or "[...]" literal as sent (case
				   kept: smtp_addr_domain_lower a copy) */
	bool is_null;		/* <> (MAIL only) */
	bool is_postmaster;	/* <Postmaster> without domain (RCPT only) */
	bool is_quoted;
	bool is_literal;	/* domain is an address literal */
	bool is_utf8;		/* non-ASCII somewhere (SMTPUTF8 checked) */
	bool had_route;
};

struct smtp_cmd {
	enum smtp_verb verb;
	enum smtp_perr err;	/* SMTP_PERR_NONE: the fields below hold */
	/* keyword of a bad or unknown parameter, upper-cased, or NULL */
	const char *err_param;
	/* EHLO/HELO name; VRFY/EXPN/HELP/NOOP argument (NULL if absent) */
	const char *arg;
	bool helo_literal;	/* EHLO/HELO argument is a [literal] */
	bool vrfy_utf8;		/* VRFY/EXPN ... SMTPUTF8 (RFC 6531) */

	struct {
		struct smtp_path path;
		uint64_t size;	/* SIZE=; UINT64_MAX if beyond */
		bool has_size;
		enum smtp_body body;
		bool smtputf8;
		enum smtp_ret ret;
		const char *envid;	/* xtext decoded; NULL: none */
		const char *envid_xtext;/* as sent, for DSNs */
		const char *auth;	/* AUTH=, decoded: "<>" or mailbox */
	} mail;

	struct {
		struct smtp_path path;
		unsigned notify;	/* SMTP_NOTIFY_* bits, 0: none */
		const char *orcpt_type;	/* addr-type as sent */
		const char *orcpt_raw;	/* value after ';' as sent */
		const char *orcpt_addr;	/* decoded, rfc822 type only */
	} rcpt;

	struct {
		uint64_t size;
		bool last;
	} bdat;

	struct {
		const char *mech;	/* upper-cased */
		/* initial response as sent ("=" means empty), pointing INTO
		   the caller's line so that no copy of a secret lands in the
		   arena; valid as long as that line.  NULL when absent. */
		const uint8_t *initial;
		size_t initial_len;
	} auth;
};

/*
 * Parses one command line (bytes without the CRLF/LF; crlf tells which
 * terminator it had).  Strings are allocated from a, which the caller
 * resets after the command; a limit of 8 * line length + 1 KiB always
 * suffices.  Returns 0 with cmd filled in (cmd->err tells whether the
 * syntax was good; cmd->verb is set whenever the verb was recognised, also
 * on errors), or -ENOMEM when the arena refused (cmd is then unusable:
 * answer 451 4.3.0 and carry on).  Never reads outside line[0..len).
 */
int smtp_parse_line(struct arena *a, const struct smtp_parse_opts *o,
    const uint8_t *line, size_t len, bool crlf, struct smtp_cmd *cmd);

/*
 * Decodes RFC 3461 xtext ("+" two hex digits for an octet; lowercase hex
 * tolerated) into out, which must hold len bytes.  Returns the decoded
 * length, or -EINVAL for bytes outside xtext or a broken "+" escape.
 */
long smtp_xtext_decode(const char *in, size_t len, char *out);

#endif
