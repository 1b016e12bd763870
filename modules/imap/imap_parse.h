/* imap_parse.h: incremental IMAP command parser, argument tree and helpers */
#ifndef POSTA_IMAP_PARSE_H
#define POSTA_IMAP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct arena;

/*
 * The parser turns the raw client byte stream (command lines with their
 * CRLF, and literal bytes) into events.  It does no I/O, keeps no timers
 * and logs nothing; the session sends continuations and replies.
 *
 * Input may stop at any byte: imap_parse_feed() consumes what it can,
 * keeps partial state in the parser and reports how much it used.  The
 * caller hands the unused rest back on the next call.  A line may end in
 * CRLF or a bare LF; a CR anywhere else in a command line is a syntax
 * error.  Empty lines between commands are ignored (clients send one after
 * an APPEND literal now and then).
 *
 * Grammar accepted (RFC 3501 section 9, RFC 7888 LITERAL+, RFC 3516
 * literal8): tag SP command [SP "UID"-subcommand] *(SP arg) CRLF, where an
 * arg is an atom, a quoted string, a literal, NIL or a parenthesised list.
 * Atoms take every ATOM-CHAR plus the list wildcards '*' and '%', ']'
 * (ASTRING-CHAR) and a leading '\' (flags such as \Seen); validating them
 * (sequence sets, flags, dates) is the command handler's job.  Runs of
 * spaces between arguments and before ')' or the line end are accepted.
 * In FETCH and UID FETCH, '[' in an atom opens a section (BODY[...],
 * BODY.PEEK[...], BINARY[...]) whose contents are parsed as arguments up
 * to the matching ']', optionally followed by <offset.length>.
 */

/* Defaults that imap_parse_limits_init() sets; all are in bytes or counts. */
#define IMAP_PARSE_DEFAULT_MAX_LINE	65536u	/* long UID sets need room */
#define IMAP_PARSE_DEFAULT_MAX_LITERAL	65536u
#define IMAP_PARSE_DEFAULT_MAX_COMMAND	(256u * 1024)
#define IMAP_PARSE_DEFAULT_MAX_ARGS	4096u
#define IMAP_PARSE_DEFAULT_MAX_DEPTH	32u

struct imap_parse_limits {
	/* one line of a command (or a raw line), CRLF not counted */
	size_t max_line_length;
	/* largest literal the parser buffers into the argument tree */
	size_t max_literal_size;
	/*
	 * Literals larger than this are streamed as LITERAL_DATA events
	 * without being asked; 0 streams only on imap_parser_stream_literal().
	 */
	uint64_t literal_stream_threshold;
	/* all lines of a command plus its buffered literals */
	size_t max_command_size;
	/* arguments of a command, counting every nested one and each list */
	unsigned int max_args;
	/* nesting of lists and sections */
	unsigned int max_list_depth;
};

/* Fills lim with the IMAP_PARSE_DEFAULT_* values and no auto-streaming. */
void imap_parse_limits_init(struct imap_parse_limits *lim);

enum imap_arg_type {
	IMAP_ARG_ATOM = 1,
	IMAP_ARG_NIL,		/* the atom NIL, any case; text kept in str */
	IMAP_ARG_STRING,	/* quoted string, escapes removed */
	IMAP_ARG_LITERAL,	/* buffered literal */
	IMAP_ARG_STREAMED,	/* literal handed out as LITERAL_DATA events */
	IMAP_ARG_LIST,		/* ( ... ) */
	IMAP_ARG_SECTION,	/* name[ ... ]<offset.length>, FETCH only */
};

struct imap_arg_list {
	struct imap_arg *first;	/* NULL when empty */
	struct imap_arg *last;	/* parser-internal: where the next one goes */
	unsigned int count;
};

/*
 * One argument.  Siblings are linked through next (NULL after the last);
 * a list's or section's children hang off u.list / u.section.children.
 * Every string is NUL-terminated and its len excludes the NUL.  Quoted
 * strings never hold NUL, CR or LF; a literal that is not literal8 never
 * holds NUL (the parser refuses it), so those are safe as C strings.
 */
struct imap_arg {
	enum imap_arg_type type;
	bool literal8;		/* LITERAL or STREAMED sent as ~{n} */
	struct imap_arg *next;
	struct imap_arg *parent; /* enclosing LIST or SECTION, NULL at top */
	union {
		struct {	/* ATOM, NIL, STRING, LITERAL */
			const char *data;
			size_t len;
		} str;
		struct imap_arg_list list;	/* LIST */
		struct {			/* SECTION */
			struct imap_arg_list children;
			const char *name;	/* before '[', as sent */
			bool has_partial;
			uint32_t offset;	/* <offset.length> */
			uint32_t length;	/* > 0 when has_partial */
		} section;
		uint64_t streamed_size;		/* STREAMED */
	} u;
};

enum imap_parse_result {
	IMAP_PARSE_NEED_MORE = 0,	/* all input used, nothing to report */
	IMAP_PARSE_EVENT,		/* *event_r filled */
	IMAP_PARSE_ERROR,		/* *event_r is an IMAP_EVENT_ERROR */
};

enum imap_event_type {
	/* a whole command: tag, name, uid, args */
	IMAP_EVENT_COMMAND = 1,
	/*
	 * "{n}" / "{n+}" / "~{n}" ended a line; u.literal says what comes.
	 * args holds the top-level arguments before the literal.  Before the
	 * next feed the session may call imap_parser_stream_literal() or
	 * imap_parser_abort_command(); for a synchronizing literal it sends
	 * "+ ..." only when it lets the literal come (not after abort, and
	 * not when u.literal.too_big is set and it did not ask to stream).
	 */
	IMAP_EVENT_LITERAL_NEEDED,
	/*
	 * A chunk of a streamed literal.  u.data.data points into the
	 * caller's input buffer.  A streamed literal yields at least one
	 * chunk (one of length 0 for {0}); the final one has last set.
	 */
	IMAP_EVENT_LITERAL_DATA,
	/* the line asked for by imap_parser_expect_line(), without CRLF */
	IMAP_EVENT_LINE,
	/*
	 * The command is rejected: reply "tag BAD msg", or "* BAD msg" when
	 * tag is NULL.  The parser already skips the rest of the command.
	 */
	IMAP_EVENT_ERROR,
};

enum imap_parse_error {
	IMAP_PERR_SYNTAX = 1,
	IMAP_PERR_LINE_TOO_LONG,	/* max_line_length */
	IMAP_PERR_LITERAL_TOO_BIG,	/* max_literal_size, max_command_size */
	IMAP_PERR_COMMAND_TOO_BIG,	/* max_command_size */
	IMAP_PERR_TOO_MANY_ARGS,	/* max_args */
	IMAP_PERR_TOO_DEEP,		/* max_list_depth */
	IMAP_PERR_NOMEM,		/* the command arena ran out */
};

/*
 * Lifetime: tag, name and args live in the parser's command arena and stay
 * valid until the parser starts reading the next command, i.e. until the
 * first feed after a COMMAND or ERROR event that has input to consume.  Raw
 * lines (imap_parser_expect_line) do not invalidate them.  Data pointers in
 * LITERAL_DATA and LINE events and the error message are valid until the
 * next call of imap_parse_feed().
 */
struct imap_event {
	enum imap_event_type type;
	const char *tag;	/* NULL when the line had no valid tag */
	const char *name;	/* command, uppercased, "FETCH" for UID FETCH */
	bool uid;		/* "UID" prefixed the command */
	const struct imap_arg *args;	/* first top-level argument or NULL */
	union {
		struct {			/* LITERAL_NEEDED */
			uint64_t size;
			bool sync;		/* {n}: client waits for "+" */
			bool literal8;		/* ~{n} */
			bool stream;		/* streamed as things stand */
			/* buffering would exceed the limits: unless it is
			 * streamed, the next feed reports an ERROR */
			bool too_big;
		} literal;
		struct {			/* LITERAL_DATA */
			const uint8_t *data;
			size_t len;
			uint64_t remaining;	/* bytes after this chunk */
			bool last;
		} data;
		struct {			/* LINE */
			const uint8_t *data;
			size_t len;
		} line;
		struct {			/* ERROR */
			enum imap_parse_error code;
			const char *msg;	/* for the BAD reply, no CRLF */
		} error;
	} u;
};

struct imap_parser;

/*
 * Creates a parser whose state lives in arena a (normally the
 * connection's) and lasts until a is freed or imap_parser_free().
 * Commands are built in a private arena bounded by the limits and reset
 * per command.  lim NULL means defaults; lim is copied.  Returns NULL when
 * out of memory or a limit is zero.
 */
struct imap_parser *imap_parser_new(struct arena *a,
    const struct imap_parse_limits *lim);
/* Releases the command arena now; *p becomes NULL.  NULL is fine. */
void imap_parser_free(struct imap_parser **p);

/*
 * Consumes input.  *used_r is always set: on NEED_MORE it equals len (the
 * parser kept what it needs); on EVENT and ERROR the caller passes
 * in + *used_r on the next call, and keeps calling (with no bytes left if
 * need be) until NEED_MORE: some events need no further input (the
 * decision after LITERAL_NEEDED, the one chunk of a streamed {0}).  in
 * may be NULL when len is 0.
 *
 * After an ERROR the parser skips the rest of the erroring command by
 * itself: to the end of the line, and when that line ended in a LITERAL+
 * announcement "{n+}", also the n bytes and the line after them, and so on
 * (RFC 7888); a synchronizing "{n}" ends it, because the client sends no
 * literal after a BAD.  Then the next command follows.
 */
enum imap_parse_result imap_parse_feed(struct imap_parser *p,
    const uint8_t *in, size_t len, size_t *used_r,
    struct imap_event *event_r);

/*
 * Feeding from posta_conn's line mode.  The core hands over lines without
 * their terminator: feed the line, then "\r\n" (or "\n" for a bare LF)
 * as a second call.  Whenever imap_parser_bytes_wanted() is non-zero after
 * a call, switch the connection to exact-byte mode for that many bytes
 * (posta_conn_read_bytes) and feed the chunks: literal bytes must not be
 * cut into lines.  A line the core dropped as over-long is reported with
 * imap_parse_line_lost().
 */

/*
 * Literal bytes the parser takes next without line framing (to buffer,
 * stream or skip), or 0 when it next expects a line.  After LITERAL_NEEDED
 * it reflects the decision made so far: 0 for a synchronizing literal that
 * will be refused, as no bytes come for it.
 */
uint64_t imap_parser_bytes_wanted(const struct imap_parser *p);

/*
 * The transport dropped a line over its own length limit.  Gives the
 * ERROR (IMAP_PERR_LINE_TOO_LONG; tagged when the line continued a
 * command whose tag is known) and ends that command, or NEED_MORE when
 * the line belonged to a command already being skipped.  Whatever the line
 * announced at its end is unknown, so a LITERAL+ literal after it will be
 * read as commands (and fail); give the parser a lower max_line_length
 * than the transport's so that this stays rare.
 */
enum imap_parse_result imap_parse_line_lost(struct imap_parser *p,
    struct imap_event *event_r);

/*
 * After LITERAL_NEEDED: hand this literal out as LITERAL_DATA events
 * instead of buffering it (APPEND message data).  Its argument becomes
 * IMAP_ARG_STREAMED.  Returns 0, or -EINVAL when no literal is pending.
 */
int imap_parser_stream_literal(struct imap_parser *p);

/*
 * Drops the command being parsed; no COMMAND or ERROR event follows for it
 * (the session has answered it, e.g. "NO [TOOBIG]" for APPEND).  Allowed
 * after LITERAL_NEEDED and after a LITERAL_DATA event.  A synchronizing
 * literal is then taken as refused, so abort before sending its "+": the
 * client sends no bytes for it.  Literal bytes that will come anyway
 * (LITERAL+, or a literal being streamed) are skipped, then the rest of
 * the command as after an ERROR.  Returns 0, or -EINVAL outside a command.
 */
int imap_parser_abort_command(struct imap_parser *p);

/*
 * The next line is raw data, not a command (IDLE's "DONE", AUTHENTICATE
 * responses): the next feed yields one IMAP_EVENT_LINE, or an ERROR
 * (IMAP_PERR_LINE_TOO_LONG, tag NULL) for a line over max_line_length,
 * which is skipped.  Then commands follow again.  Returns 0, or -EINVAL
 * when called inside a command.
 */
int imap_parser_expect_line(struct imap_parser *p);

/*
 * Forgets any partial command or line: the next byte starts a command.
 * For STARTTLS, after the session discarded its buffered plaintext.
 */
void imap_parser_reset(struct imap_parser *p);

/* True between commands with nothing buffered. */
bool imap_parser_is_idle(const struct imap_parser *p);

/* Bytes the command arena holds now (for memory accounting and tests). */
size_t imap_parser_memory(const struct imap_parser *p);

/*
 * Argument helpers.  All accept NULL (the end of a list) and then return
 * false / 0.  Strings returned point into the tree.
 */
bool imap_arg_is_atom(const struct imap_arg *a);	/* ATOM or NIL */
bool imap_arg_is_nil(const struct imap_arg *a);
bool imap_arg_is_string(const struct imap_arg *a);	/* quoted / literal */
bool imap_arg_is_astring(const struct imap_arg *a);	/* see below */
bool imap_arg_is_nstring(const struct imap_arg *a);	/* NIL / string */
bool imap_arg_is_list(const struct imap_arg *a);

/*
 * ATOM or NIL: the token as sent, which may hold '*', '%', ']' and a
 * leading '' (sequence sets, flags); the caller validates it.
 */
bool imap_arg_get_atom(const struct imap_arg *a, const char **str_r);
/* STRING or LITERAL (not literal8).  len_r may be NULL. */
bool imap_arg_get_string(const struct imap_arg *a, const char **str_r,
    size_t *len_r);
/*
 * astring (RFC 3501): a STRING or LITERAL (not literal8), or an ATOM / NIL
 * made of ASTRING-CHARs only (no '*', '%' or ''); NIL gives the text
 * "NIL", since a mailbox may be called that.  len_r may be NULL.
 */
bool imap_arg_get_astring(const struct imap_arg *a, const char **str_r,
    size_t *len_r);
/*
 * list-mailbox (LIST and LSUB patterns): as an astring, but an atom may
 * also hold the wildcards '*' and '%'.
 */
bool imap_arg_get_list_mailbox(const struct imap_arg *a, const char **str_r,
    size_t *len_r);
/* NIL gives *str_r = NULL, *len_r = 0; else as imap_arg_get_string(). */
bool imap_arg_get_nstring(const struct imap_arg *a, const char **str_r,
    size_t *len_r);
/* LIST: *first_r (NULL when empty) and, if count_r, the child count. */
bool imap_arg_get_list(const struct imap_arg *a,
    const struct imap_arg **first_r, unsigned int *count_r);
/* STRING, LITERAL, literal8 LITERAL: the bytes, which may hold NUL. */
bool imap_arg_get_data(const struct imap_arg *a, const uint8_t **data_r,
    size_t *len_r);
/* True when a is an ATOM (or NIL) equal to word, ignoring ASCII case. */
bool imap_arg_atom_equals(const struct imap_arg *a, const char *word);
/* Number of arguments from first to the end of its list. */
unsigned int imap_args_count(const struct imap_arg *first);
/* The n-th (0-based) argument from first, or NULL. */
const struct imap_arg *imap_args_nth(const struct imap_arg *first,
    unsigned int n);

/*
 * FETCH sections (RFC 3501 section 6.4.5, RFC 3516):
 *   BODY[<part>.<text>]<o.l>  BODY.PEEK[...]  BINARY[<part>]<o.l>
 *   BINARY.PEEK[...]  BINARY.SIZE[<part>]
 * with text HEADER, HEADER.FIELDS (list), HEADER.FIELDS.NOT (list), TEXT,
 * or MIME (only after a part).
 */
#define IMAP_SECTION_MAX_PARTS 32

enum imap_fetch_kind {
	IMAP_FETCH_BODY = 1,
	IMAP_FETCH_BODY_PEEK,
	IMAP_FETCH_BINARY,
	IMAP_FETCH_BINARY_PEEK,
	IMAP_FETCH_BINARY_SIZE,
};

enum imap_section_text {
	IMAP_SECTION_NONE = 0,	/* BODY[] or BODY[1.2]: the whole part */
	IMAP_SECTION_HEADER,
	IMAP_SECTION_HEADER_FIELDS,
	IMAP_SECTION_HEADER_FIELDS_NOT,
	IMAP_SECTION_TEXT,
	IMAP_SECTION_MIME,
};

struct imap_section {
	enum imap_fetch_kind kind;
	uint32_t parts[IMAP_SECTION_MAX_PARTS];	/* "1.2" -> {1, 2} */
	unsigned int nparts;
	enum imap_section_text text;
	/* HEADER.FIELDS[.NOT]: the astring header names, nfields >= 1 */
	const struct imap_arg *fields;
	unsigned int nfields;
	bool has_partial;
	uint32_t offset, length;
};

/*
 * Interprets an IMAP_ARG_SECTION argument.  Returns 0, or -EINVAL with a
 * static message in *error_r (for a BAD reply).  The result points into
 * the argument tree.
 */
int imap_section_parse(const struct imap_arg *a, struct imap_section *sec_r,
    const char **error_r);

#endif
