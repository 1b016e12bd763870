/* log.h: levels and the one logging call shared by core and modules */
#ifndef POSTA_LOG_H
#define POSTA_LOG_H

enum posta_log_level {
	POSTA_LOG_ERROR = 0,	/* an operator must act */
	POSTA_LOG_WARN,		/* handled but unexpected */
	POSTA_LOG_INFO,		/* lifecycle, refusals, reloads */
	POSTA_LOG_DEBUG,	/* protocol traces, off by default */
};

/*
 * posta_log(host, level, "event.name", "key=%s n=%u", ...) (host.h) and
 * posta_conn_log(conn, ...) (conn.h) write one line:
 *   level=info event=auth.fail service=imap remote=127.0.0.1 session=9c1f ...
 * The context adds its fields (module; service, remote, session and user for
 * a connection).  The core escapes control and non-UTF-8 bytes of the whole
 * line as \xNN, so no client value can start a forged line.  A value that
 * may hold spaces, '=' or '"' goes through posta_log_quote().  Never log
 * passwords or AUTH payloads.
 */

/*
 * Writes s into buf (size bytes, NUL-terminated, truncated with "..." when
 * too long), double-quoted when it is empty or holds a space, '=' or '"'
 * (those escaped with a backslash).  Returns buf, for use as a "%s" argument.
 */
static inline const char *
posta_log_quote(char *buf, size_t size, const char *s)
{
	size_t i = 0, j;
	bool quote = (s[0] == '\0');

	for (j = 0; s[j] != '\0' && !quote; j++)
		if (s[j] == ' ' || s[j] == '=' || s[j] == '"' ||
		    s[j] == '\\')
			quote = true;
	if (size < 8) {
		if (size > 0)
			buf[0] = '\0';
		return buf;
	}
	if (quote)
		buf[i++] = '"';
	for (j = 0; s[j] != '\0'; j++) {
		if (i + 6 >= size) {
			buf[i++] = '.'; buf[i++] = '.'; buf[i++] = '.';
			break;
		}
		if (quote && (s[j] == '"' || s[j] == '\\'))
			buf[i++] = '\\';
		buf[i++] = s[j];
	}
	if (quote)
		buf[i++] = '"';
	buf[i] = '\0';
	return buf;
}

#endif
