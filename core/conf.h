/* conf.h: the config file language, and typed settings from its text */
#ifndef POSTA_CORE_CONF_H
#define POSTA_CORE_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <posta/posta.h>

#include "arena.h"

/*
 * The language, line by line.  A line ends at LF (a CR before it is
 * dropped); blanks are spaces and tabs; other control bytes and NUL are
 * errors anywhere.
 *
 *   # comment              '#' to the end of the line, outside quotes
 *                          (blank lines and comment lines are ignored)
 *   KEY = VALUE            a setting
 *   KEY QUALIFIER = VALUE  a keyed setting: max_userip_connections imap = 25
 *   include PATH           top level only; PATH may be "quoted"
 *   KIND NAME {            top level only: opens a block; nothing but a
 *                          comment may follow the '{'
 *   }                      closes it, alone on its line (a comment may
 *                          follow); blocks do not nest and must close in
 *                          the file that opened them
 *
 * KEY and KIND are [a-z0-9_.-]+; NAME and QUALIFIER are
 * [A-Za-z0-9_.:*@-]+ (so a NAME may be a host name or an address).
 * "include" is a directive, never a KEY.
 *
 * VALUE is the rest of the line after '=', up to a '#' comment, without
 * leading and trailing blanks; it may be empty.  If it begins with '"' it
 * is a quoted string: \" and \\ are its only escapes, it must close on the
 * same line, and only blanks or a comment may follow.  A quoted value may
 * hold '#' and leading or trailing blanks.
 *
 * include: a relative PATH is relative to the directory of the file that
 * holds the include (to basedir for conf_parse_string).  A PATH with any of
 * * ? [ is a glob(3) pattern: its matches are read in byte order of their
 * names, and no match (even a missing directory) is fine; a directory that
 * cannot be read is an error.  A PATH without them must exist.  Includes
 * nest at most 8 deep (a file read from the top file is depth 1), and a
 * file that is already being read may not be included again (a loop).
 *
 * Each key (with its qualifier) appears once per block and once at top
 * level, counting every included file; each KIND NAME pair appears once.
 * Every error message starts with FILE:LINE (FILE as given, or as the
 * include resolved it) and says what was expected and what was found;
 * postad prints it and refuses to start.
 *
 * Everything returned lives in the arena a (the config generation).
 */
struct conf_item {
	const char *key;
	const char *qualifier;	/* NULL if none */
	const char *value;	/* unquoted; "" when empty */
	const char *file;
	unsigned line;
};

struct conf_block {
	const char *kind, *name, *file;
	unsigned line;		/* of the opening line */
	struct conf_item *items;
	size_t n_items;
};

struct conf_doc {
	struct conf_item *globals;
	size_t n_globals;
	struct conf_block *blocks;	/* in file order */
	size_t n_blocks;
};

#define CONF_INCLUDE_DEPTH_MAX	8
/* Larger config files are refused rather than read into memory. */
#define CONF_FILE_SIZE_MAX	(4 * 1024 * 1024)

/*
 * Parse the file at path (and its includes) into *doc_r.  Returns 0,
 * -ENOMEM, or POSTA_ECONFIG with *error_r set (also when a file cannot be
 * read).  *error_r is allocated from a, or static.
 */
int conf_parse_file(struct arena *a, const char *path,
    struct conf_doc **doc_r, const char **error_r);
/*
 * The same for text already in memory; name is what error messages call
 * it, basedir the directory relative includes start from (NULL: the
 * current directory).
 */
int conf_parse_string(struct arena *a, const char *name, const char *text,
    const char *basedir, struct conf_doc **doc_r, const char **error_r);

/* The block KIND NAME, or NULL. */
const struct conf_block *conf_find_block(const struct conf_doc *doc,
    const char *kind, const char *name);

/*
 * Fill dest (a zeroed struct) from table: every default first (parsed from
 * its config text by the same code, quotes included; a bad built-in
 * default is reported as "built-in default of NAME: ..."), then the items
 * in order.  A keyed item matches the row named "KEY QUALIFIER".  where
 * names the block in messages ("plugin limiter", "global settings"; NULL
 * reads "settings").  Messages:
 *   FILE:LINE: unknown setting 'x' in WHERE; expected one of: a, b, c
 *   FILE:LINE: duplicate setting 'x' in WHERE; first set at FILE:LINE
 *   FILE:LINE: bad value 'V' for NAME in WHERE: expected ..., got ...
 * where a range reads "expected 512B to 16M, got 1G" (INT plain, SIZE
 * bytes, DURATION ms, in the largest exact unit).  A broken table row
 * (unknown type, min > max, negative min for SIZE/DURATION, ENUM without
 * choices) is "built-in setting NAME: ...".  Strings, lists and addresses
 * are allocated from a.  Returns 0, -ENOMEM or POSTA_ECONFIG.
 */
int conf_apply(struct arena *a, const struct posta_setting *table,
    const char *where, const struct conf_item *items, size_t n_items,
    void *dest, const char **error_r);

/*
 * Single-value parsers, also used by conf_apply.  s is the value text
 * already unquoted.  Each returns 0, -EINVAL with a static *error_r of the
 * form "expected ..., got ..." (no FILE:LINE; the caller knows the value),
 * or -ENOMEM.
 */
/* Decimal, optional leading '-', within int64_t. */
int conf_value_int(const char *s, int64_t *v_r, const char **error_r);
/* "123", "64k", "10M", "1G": k/M/G are 1024-based, the unit is
   case-insensitive and may be followed by B ("64kB", "512B"). */
int conf_value_size(const char *s, uint64_t *bytes_r, const char **error_r);
/* "250ms", "30s", "5m", "1h", "2d": one number and a lowercase unit, which
   is required except for a plain "0". */
int conf_value_duration(const char *s, uint64_t *ms_r,
    const char **error_r);
/* "yes" or "no", nothing else. */
int conf_value_bool(const char *s, bool *v_r, const char **error_r);
/* Comma-separated, items trimmed; "" (or only blanks) is the empty list,
   an empty item is an error.  Items and array come from a. */
int conf_value_list(struct arena *a, const char *s, struct posta_list *v_r,
    const char **error_r);
/* Comma-separated "IPv4:port" or "[IPv6]:port", port 0..65535; no host
   names, since there is no DNS at startup.  Fills sockaddr_in or
   sockaddr_in6 (port in network order) in sockaddr_storage from a;
   "" is the empty list. */
int conf_value_addrs(struct arena *a, const char *s, struct posta_addrs *v_r,
    const char **error_r);

#endif
