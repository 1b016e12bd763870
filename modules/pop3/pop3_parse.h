/* pop3_parse.h: pure POP3 command-line parser and UIDL format expansion */
#ifndef POSTA_POP3_PARSE_H
#define POSTA_POP3_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * One command line in (as the core delivers it: no terminator, not
 * NUL-terminated), one struct pop3_cmd out.  The parser knows RFC 1939,
 * 2449, 2595 and 5034 syntax; it knows nothing of session state (which
 * commands a state allows, TLS, whether a message exists), which the
 * session checks on the result.  It allocates nothing: arguments point
 * into the caller's line and stay valid as long as that line.
 *
 * Tolerated, because real clients send it and it is unambiguous: any case
 * in keywords, several spaces between arguments, trailing spaces (except
 * in PASS, whose argument is the rest of the line as sent: RFC 1939 lets a
 * server take spaces as part of the password).
 */

enum pop3_verb {
	POP3_VERB_UNKNOWN = 0,
	POP3_VERB_USER,
	POP3_VERB_PASS,
	POP3_VERB_QUIT,
	POP3_VERB_STAT,
	POP3_VERB_LIST,
	POP3_VERB_RETR,
	POP3_VERB_DELE,
	POP3_VERB_NOOP,
	POP3_VERB_RSET,
	POP3_VERB_TOP,
	POP3_VERB_UIDL,
	POP3_VERB_CAPA,
	POP3_VERB_STLS,
	POP3_VERB_AUTH,
	POP3_VERB_APOP,		/* known only to refuse it by name */
	POP3_VERB_COUNT_
};

/* Upper-case keyword ("RETR"), "UNKNOWN" for POP3_VERB_UNKNOWN. */
const char *pop3_verb_name(enum pop3_verb verb);

/* Syntax errors; pop3_perr_text() gives the -ERR text for each. */
enum pop3_perr {
	POP3_PERR_NONE = 0,
	POP3_PERR_EMPTY,	/* empty line */
	POP3_PERR_UNKNOWN,	/* unknown keyword */
	POP3_PERR_BAD_CHAR,	/* NUL or a control character */
	POP3_PERR_ARGS,		/* missing or extra arguments */
	POP3_PERR_NUMBER,	/* not a decimal number, or too large */
	POP3_PERR_TOO_LONG,	/* an argument past POP3_ARG_MAX */
	POP3_PERR_COUNT_
};

/* Static text for a -ERR reply, without "-ERR " and CRLF. */
const char *pop3_perr_text(enum pop3_perr err);

/*
 * Longest argument accepted, in octets.  RFC 2449 says 40; login names
 * and SASL initial responses are longer in practice, so this only stops
 * absurd input (a password or SASL response may use the whole line).
 */
#define POP3_ARG_MAX	1024

struct pop3_arg {
	const uint8_t *ptr;	/* into the caller's line */
	size_t len;
};

struct pop3_cmd {
	enum pop3_verb verb;
	enum pop3_perr err;	/* POP3_PERR_NONE: the fields below hold */
	unsigned nargs;		/* 0..2 */
	/*
	 * Numeric arguments (LIST/UIDL msg, RETR/DELE msg, TOP msg and
	 * lines).  A message number is 1..UINT32_MAX (0 parses, the session
	 * answers "no such message"); TOP's line count saturates at
	 * UINT32_MAX.
	 */
	uint32_t num[2];
	/* USER name, PASS password, AUTH mechanism and initial response */
	struct pop3_arg arg[2];
};

/* Parses one line; always fills *cmd (verb may be known with err set). */
void pop3_parse_line(const uint8_t *line, size_t len, struct pop3_cmd *cmd);

/*
 * UIDL format, Dovecot-compatible (pop3_uidl_format): literal characters
 * and %[0][width][X|x]{u|v}: u = UID, v = UIDVALIDITY; X/x hexadecimal in
 * upper/lower case, else decimal; 0 pads with zeros; %% is a '%'.  The
 * default "%08Xu%08Xv" gives "0000002A5F3C2B11".
 */
#define POP3_UIDL_MAX		70	/* RFC 1939 unique-id: 1*70 */
#define POP3_UIDL_FMT_MAX	16	/* items in one format */

struct pop3_uidl_item {
	char var;		/* 'u', 'v', or 0 for a literal run */
	char conv;		/* 'X', 'x' or 'd' */
	bool zero;
	uint8_t width;
	uint8_t lit_off, lit_len;	/* into lit[] */
};

struct pop3_uidl_fmt {
	size_t n;
	struct pop3_uidl_item items[POP3_UIDL_FMT_MAX];
	char lit[POP3_UIDL_MAX + 1];
};

/*
 * Compiles fmt.  Fails (-EINVAL, *error_r set to static text) on unknown
 * or malformed directives, a missing %u (UIDLs would not be unique),
 * characters outside 0x21..0x7E (RFC 1939), and on a format whose longest
 * expansion exceeds POP3_UIDL_MAX.
 */
int pop3_uidl_compile(const char *fmt, struct pop3_uidl_fmt *out,
    const char **error_r);

/*
 * Writes the UIDL of (uid, uidvalidity) into buf (at least
 * POP3_UIDL_MAX + 1 bytes), NUL-terminated; returns its length.
 */
size_t pop3_uidl_format(const struct pop3_uidl_fmt *fmt, uint32_t uid,
    uint32_t uidvalidity, char *buf);

#endif
