/* conf_int.h: what conf.c (the document) and conf_value.c (typed values) share */
#ifndef POSTA_CORE_CONF_INT_H
#define POSTA_CORE_CONF_INT_H

#include <stdbool.h>

#include "arena.h"

static inline bool
is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static inline const char *
skip_blanks(const char *p, const char *end)
{
	while (p < end && is_blank(*p))
		p++;
	return p;
}

/* Formats the message into *error_r (arena); returns POSTA_ECONFIG, or
   -ENOMEM with a static message. */
int conf_fail(struct arena *a, const char **error_r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * The value grammar, shared by setting lines, include paths and built-in
 * defaults: blanks trimmed, '#' starts a comment, or one quoted string.
 * *error_r is static.
 */
int conf_lex_value(struct arena *a, const char *p, const char *end,
    const char **value_r, const char **error_r);

#endif
