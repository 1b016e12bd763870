/* imap_reply.c: wire forms the commands share: strings, names, flags, dates */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "imap.h"
#include "imap_utf7.h"
#include "util.h"

static const struct {
	const char *name;
	uint32_t flag;
} system_flags[] = {
	{ "\\Answered", POSTA_FLAG_ANSWERED },
	{ "\\Flagged", POSTA_FLAG_FLAGGED },
	{ "\\Deleted", POSTA_FLAG_DELETED },
	{ "\\Seen", POSTA_FLAG_SEEN },
	{ "\\Draft", POSTA_FLAG_DRAFT },
};

#define N_SYSTEM_FLAGS (sizeof(system_flags) / sizeof(system_flags[0]))

/* quoted = DQUOTE *QUOTED-CHAR DQUOTE: 7-bit, no CR, LF or NUL */
static bool
quotable(const char *str, size_t len)
{
	size_t i;

	if (len > 1024)
		return false;
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)str[i];

		if (ch == 0 || ch == '\r' || ch == '\n' || ch >= 0x80)
			return false;
	}
	return true;
}

static void
write_quoted(struct imap_session *s, const char *str, size_t len)
{
	size_t i, start = 0;

	imap_write(s, "\"", 1);
	for (i = 0; i < len; i++) {
		if (str[i] == '"' || str[i] == '\\') {
			imap_write(s, str + start, i - start);
			imap_write(s, "\\", 1);
			start = i;
		}
	}
	imap_write(s, str + start, len - start);
	imap_write(s, "\"", 1);
}

void
imap_write_string(struct imap_session *s, const char *str, size_t len)
{
	if (quotable(str, len)) {
		write_quoted(s, str, len);
		return;
	}
	imap_printf(s, "{%zu}\r\n", len);
	imap_write(s, str, len);
}

void
imap_write_nstring(struct imap_session *s, const char *str)
{
	if (str == NULL)
		imap_write(s, "NIL", 3);
	else
		imap_write_string(s, str, strlen(str));
}

void
imap_write_mailbox(struct imap_session *s, const char *name)
{
	char *utf7 = NULL;

	if (imap_utf8_to_utf7(s->cmd_arena, name, strlen(name), &utf7) < 0) {
		/* the store hands out valid UTF-8; send it as it is */
		imap_write_string(s, name, strlen(name));
		return;
	}
	imap_write_string(s, utf7, strlen(utf7));
}

void
imap_write_flags(struct imap_session *s, uint32_t flags, uint64_t keywords,
    const char *const *names, size_t n_names)
{
	char buf[128];
	size_t i, n = 0;
	bool first = true;

	buf[n++] = '(';
	for (i = 0; i < N_SYSTEM_FLAGS; i++) {
		if (!(flags & system_flags[i].flag))
			continue;
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s",
		    first ? "" : " ", system_flags[i].name);
		first = false;
	}
	if (flags & POSTA_FLAG_RECENT) {
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s\\Recent",
		    first ? "" : " ");
		first = false;
	}
	imap_write(s, buf, n);
	for (i = 0; i < n_names && i < 64; i++) {
		if (!(keywords & (UINT64_C(1) << i)))
			continue;
		if (!first)
			imap_write(s, " ", 1);
		imap_puts(s, names[i]);
		first = false;
	}
	imap_write(s, ")", 1);
}

void
imap_write_flag_lists(struct imap_session *s)
{
	const char *const *names = NULL;
	size_t n = posta_mailbox_keywords(s->box, &names), i;
	const struct posta_store_info *info =
	    posta_store_get_info(s->mod->host);

	imap_puts(s, "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft");
	for (i = 0; i < n; i++) {
		imap_write(s, " ", 1);
		imap_puts(s, names[i]);
	}
	imap_puts(s, ")\r\n");
	if (s->readonly) {
		imap_puts(s, "* OK [PERMANENTFLAGS ()] Read-only mailbox.\r\n");
	} else {
		imap_puts(s, "* OK [PERMANENTFLAGS (\\Answered \\Flagged "
		    "\\Deleted \\Seen \\Draft");
		for (i = 0; i < n; i++) {
			imap_write(s, " ", 1);
			imap_puts(s, names[i]);
		}
		if (info == NULL || n < info->max_keywords)
			imap_puts(s, " \\*");
		imap_puts(s, ")] Flags permitted.\r\n");
	}
	s->n_keywords = n;
}

int
imap_mailbox_arg(struct imap_session *s, const struct imap_arg *a,
    char **name_r, const char **error_r)
{
	const char *str;
	size_t len;
	char *utf8;

	if (!imap_arg_get_astring(a, &str, &len)) {
		*error_r = "BAD Invalid mailbox name argument.";
		return -EINVAL;
	}
	if (imap_utf7_to_utf8(s->cmd_arena, str, len, &utf8) < 0) {
		*error_r = "NO [CANNOT] Mailbox name is not valid modified "
		    "UTF-7.";
		return -EINVAL;
	}
	/* RFC 3501 5.1: INBOX in any case is INBOX; so is its hierarchy */
	if (strnlen(utf8, 5) == 5 && util_memcaseeq(utf8, "INBOX", 5) &&
	    (utf8[5] == '\0' || utf8[5] == '.'))
		memcpy(utf8, "INBOX", 5);
	*name_r = utf8;
	return 0;
}

static bool
is_atom_char(unsigned char ch)
{
	if (ch <= 0x20 || ch >= 0x7f)
		return false;
	return strchr("(){%*\"\\]", ch) == NULL;
}

static int
parse_one_flag(struct arena *a, const char *str, size_t len, uint32_t *flags,
    const char ***kw, size_t *n_kw, size_t *cap_kw, const char **error_r)
{
	size_t i;

	if (len == 0) {
		*error_r = "Empty flag.";
		return -EINVAL;
	}
	if (str[0] == '\\') {
		for (i = 0; i < N_SYSTEM_FLAGS; i++) {
			if (strlen(system_flags[i].name) == len &&
			    util_memcaseeq(str, system_flags[i].name, len)) {
				*flags |= system_flags[i].flag;
				return 0;
			}
		}
		*error_r = "Invalid system flag.";
		return -EINVAL;
	}
	for (i = 0; i < len; i++) {
		if (!is_atom_char((unsigned char)str[i])) {
			*error_r = "Invalid keyword.";
			return -EINVAL;
		}
	}
	for (i = 0; i < *n_kw; i++)
		if (strlen((*kw)[i]) == len && util_memcaseeq((*kw)[i], str,
		    len))
			return 0;
	if (*n_kw == *cap_kw) {
		size_t cap = *cap_kw == 0 ? 8 : *cap_kw * 2;
		const char **n = arena_alloc(a, cap * sizeof(*n));

		if (n == NULL || cap > 1024) {
			*error_r = "Too many keywords.";
			return -EINVAL;
		}
		if (*n_kw > 0)
			memcpy(n, *kw, *n_kw * sizeof(*n));
		*kw = n;
		*cap_kw = cap;
	}
	(*kw)[(*n_kw)++] = arena_strndup(a, str, len);
	if ((*kw)[*n_kw - 1] == NULL) {
		*error_r = "Out of memory.";
		return -ENOMEM;
	}
	return 0;
}

int
imap_parse_flags(struct arena *a, const struct imap_arg *arg,
    uint32_t *flags_r, const char ***keywords_r, size_t *n_keywords_r,
    const char **error_r)
{
	const struct imap_arg *it;
	size_t cap = 0;
	int r;

	*flags_r = 0;
	*keywords_r = NULL;
	*n_keywords_r = 0;
	if (imap_arg_is_list(arg)) {
		imap_arg_get_list(arg, &it, NULL);
	} else {
		it = arg;
	}
	for (; it != NULL; it = it->next) {
		const char *str;

		if (it->type != IMAP_ARG_ATOM ||
		    !imap_arg_get_atom(it, &str)) {
			*error_r = "Flags must be atoms.";
			return -EINVAL;
		}
		r = parse_one_flag(a, str, it->u.str.len, flags_r, keywords_r,
		    n_keywords_r, &cap, error_r);
		if (r < 0)
			return r;
	}
	return 0;
}

void
imap_format_datetime(int64_t t, char *buf, size_t size)
{
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr",
		"May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL) {
		snprintf(buf, size, "01-Jan-1970 00:00:00 +0000");
		return;
	}
	snprintf(buf, size, "%02d-%s-%04d %02d:%02d:%02d +0000", tm.tm_mday,
	    months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
	    tm.tm_sec);
}
