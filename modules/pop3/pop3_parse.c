/* pop3_parse.c: pure POP3 command-line parser and UIDL format expansion */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "pop3_parse.h"

static const char *const verb_names[POP3_VERB_COUNT_] = {
	[POP3_VERB_UNKNOWN] = "UNKNOWN",
	[POP3_VERB_USER] = "USER",
	[POP3_VERB_PASS] = "PASS",
	[POP3_VERB_QUIT] = "QUIT",
	[POP3_VERB_STAT] = "STAT",
	[POP3_VERB_LIST] = "LIST",
	[POP3_VERB_RETR] = "RETR",
	[POP3_VERB_DELE] = "DELE",
	[POP3_VERB_NOOP] = "NOOP",
	[POP3_VERB_RSET] = "RSET",
	[POP3_VERB_TOP] = "TOP",
	[POP3_VERB_UIDL] = "UIDL",
	[POP3_VERB_CAPA] = "CAPA",
	[POP3_VERB_STLS] = "STLS",
	[POP3_VERB_AUTH] = "AUTH",
	[POP3_VERB_APOP] = "APOP",
};

static const char *const perr_texts[POP3_PERR_COUNT_] = {
	[POP3_PERR_NONE] = "OK",
	[POP3_PERR_EMPTY] = "Empty command line.",
	[POP3_PERR_UNKNOWN] = "Unknown command.",
	[POP3_PERR_BAD_CHAR] = "Invalid characters in command line.",
	[POP3_PERR_ARGS] = "Wrong number of arguments.",
	[POP3_PERR_NUMBER] = "Invalid number.",
	[POP3_PERR_TOO_LONG] = "Argument too long.",
};

const char *
pop3_verb_name(enum pop3_verb verb)
{
	if ((unsigned)verb >= POP3_VERB_COUNT_)
		return verb_names[POP3_VERB_UNKNOWN];
	return verb_names[verb];
}

const char *
pop3_perr_text(enum pop3_perr err)
{
	if ((unsigned)err >= POP3_PERR_COUNT_ || err == POP3_PERR_NONE)
		return perr_texts[POP3_PERR_UNKNOWN];
	return perr_texts[err];
}

static uint8_t
ascii_upper(uint8_t c)
{
	return c >= 'a' && c <= 'z' ? (uint8_t)(c - 'a' + 'A') : c;
}

static enum pop3_verb
verb_lookup(const uint8_t *kw, size_t len)
{
	unsigned v;

	if (len < 3 || len > 4)
		return POP3_VERB_UNKNOWN;
	for (v = POP3_VERB_UNKNOWN + 1; v < POP3_VERB_COUNT_; v++) {
		const char *name = verb_names[v];
		size_t i;

		if (strlen(name) != len)
			continue;
		for (i = 0; i < len; i++)
			if (ascii_upper(kw[i]) != (uint8_t)name[i])
				break;
		if (i == len)
			return (enum pop3_verb)v;
	}
	return POP3_VERB_UNKNOWN;
}

/* Control characters are never part of a POP3 command (RFC 1939 3). */
static bool
is_ctl(uint8_t c)
{
	return c < 0x20 || c == 0x7f;
}

/*
 * Decimal without sign, at least one digit.  *sat_r tells the value was
 * larger than UINT32_MAX (then it is UINT32_MAX).  Returns false for
 * anything that is not a number.
 */
static bool
parse_u32(const struct pop3_arg *a, uint32_t *out, bool *sat_r)
{
	uint64_t v = 0;
	size_t i;

	*sat_r = false;
	if (a->len == 0)
		return false;
	for (i = 0; i < a->len; i++) {
		uint8_t c = a->ptr[i];

		if (c < '0' || c > '9')
			return false;
		if (v <= UINT32_MAX)
			v = v * 10 + (uint64_t)(c - '0');
	}
	if (v > UINT32_MAX) {
		*sat_r = true;
		v = UINT32_MAX;
	}
	*out = (uint32_t)v;
	return true;
}

/* Splits the rest of a line at runs of spaces into at most max args. */
static enum pop3_perr
split_args(const uint8_t *p, size_t len, struct pop3_arg *args,
    unsigned max, unsigned *n_r)
{
	size_t i = 0;
	unsigned n = 0;

	for (;;) {
		size_t start;

		while (i < len && p[i] == ' ')
			i++;
		if (i == len)
			break;
		if (n == max)
			return POP3_PERR_ARGS;
		start = i;
		while (i < len && p[i] != ' ')
			i++;
		if (i - start > POP3_ARG_MAX)
			return POP3_PERR_TOO_LONG;
		args[n].ptr = p + start;
		args[n].len = i - start;
		n++;
	}
	*n_r = n;
	return POP3_PERR_NONE;
}

/* min..max arguments, each converted to num[] when numeric. */
static enum pop3_perr
numeric_args(struct pop3_cmd *cmd, unsigned min, unsigned max,
    bool last_saturates)
{
	unsigned i;

	if (cmd->nargs < min || cmd->nargs > max)
		return POP3_PERR_ARGS;
	for (i = 0; i < cmd->nargs; i++) {
		bool sat;

		if (!parse_u32(&cmd->arg[i], &cmd->num[i], &sat))
			return POP3_PERR_NUMBER;
		if (sat && !(last_saturates && i == max - 1))
			return POP3_PERR_NUMBER;
	}
	return POP3_PERR_NONE;
}

static enum pop3_perr
parse_pass(struct pop3_cmd *cmd, const uint8_t *rest, size_t len)
{
	size_t i;

	/* the password is the rest of the line after exactly one space */
	if (len < 2 || rest[0] != ' ')
		return POP3_PERR_ARGS;
	rest++;
	len--;
	for (i = 0; i < len; i++)
		if (rest[i] == '\0')
			return POP3_PERR_BAD_CHAR;
	if (len > POP3_ARG_MAX)
		return POP3_PERR_TOO_LONG;
	cmd->arg[0].ptr = rest;
	cmd->arg[0].len = len;
	cmd->nargs = 1;
	return POP3_PERR_NONE;
}

void
pop3_parse_line(const uint8_t *line, size_t len, struct pop3_cmd *cmd)
{
	size_t kwlen = 0, i;
	const uint8_t *rest;
	size_t restlen;
	enum pop3_perr err;

	memset(cmd, 0, sizeof(*cmd));
	if (len == 0) {
		cmd->err = POP3_PERR_EMPTY;
		return;
	}
	while (kwlen < len && line[kwlen] != ' ')
		kwlen++;
	for (i = 0; i < kwlen; i++) {
		if (is_ctl(line[i])) {
			cmd->err = POP3_PERR_BAD_CHAR;
			return;
		}
	}
	cmd->verb = verb_lookup(line, kwlen);
	if (cmd->verb == POP3_VERB_UNKNOWN) {
		cmd->err = kwlen == 0 ? POP3_PERR_EMPTY : POP3_PERR_UNKNOWN;
		return;
	}
	rest = line + kwlen;
	restlen = len - kwlen;
	if (cmd->verb == POP3_VERB_PASS) {
		cmd->err = parse_pass(cmd, rest, restlen);
		return;
	}
	for (i = 0; i < restlen; i++) {
		if (is_ctl(rest[i])) {
			cmd->err = POP3_PERR_BAD_CHAR;
			return;
		}
	}
	err = split_args(rest, restlen, cmd->arg, 2, &cmd->nargs);
	if (err != POP3_PERR_NONE) {
		cmd->err = err;
		return;
	}
	switch (cmd->verb) {
	case POP3_VERB_USER:
		err = cmd->nargs == 1 ? POP3_PERR_NONE : POP3_PERR_ARGS;
		break;
	case POP3_VERB_QUIT:
	case POP3_VERB_STAT:
	case POP3_VERB_NOOP:
	case POP3_VERB_RSET:
	case POP3_VERB_CAPA:
	case POP3_VERB_STLS:
		err = cmd->nargs == 0 ? POP3_PERR_NONE : POP3_PERR_ARGS;
		break;
	case POP3_VERB_LIST:
	case POP3_VERB_UIDL:
		err = numeric_args(cmd, 0, 1, false);
		break;
	case POP3_VERB_RETR:
	case POP3_VERB_DELE:
		err = numeric_args(cmd, 1, 1, false);
		break;
	case POP3_VERB_TOP:
		err = numeric_args(cmd, 2, 2, true);
		break;
	case POP3_VERB_AUTH:
	case POP3_VERB_APOP:
	default:
		/* AUTH [mechanism [initial-response]]; APOP is refused */
		err = POP3_PERR_NONE;
		break;
	}
	cmd->err = err;
}

/* ---- UIDL format ---- */

static int
uidl_fail(const char **error_r, const char *text)
{
	*error_r = text;
	return -EINVAL;
}

int
pop3_uidl_compile(const char *fmt, struct pop3_uidl_fmt *out,
    const char **error_r)
{
	size_t i = 0, lit = 0, total = 0;
	bool has_uid = false;

	memset(out, 0, sizeof(*out));
	while (fmt[i] != '\0') {
		struct pop3_uidl_item *it;

		if (out->n == POP3_UIDL_FMT_MAX)
			return uidl_fail(error_r, "too many items");
		it = &out->items[out->n];
		if (fmt[i] != '%' || fmt[i + 1] == '%') {
			char c = fmt[i];

			if (c == '%')
				i++;
			if ((unsigned char)c < 0x21 || (unsigned char)c > 0x7e)
				return uidl_fail(error_r, "characters must be "
				    "printable ASCII without spaces");
			if (lit == POP3_UIDL_MAX)
				return uidl_fail(error_r, "longer than 70 "
				    "characters");
			/* extend the previous literal run if it ends here */
			if (out->n > 0 && out->items[out->n - 1].var == 0 &&
			    out->items[out->n - 1].lit_off +
			    out->items[out->n - 1].lit_len == lit) {
				out->items[out->n - 1].lit_len++;
			} else {
				it->var = 0;
				it->lit_off = (uint8_t)lit;
				it->lit_len = 1;
				out->n++;
			}
			out->lit[lit++] = c;
			total++;
			i++;
			continue;
		}
		i++;
		it->conv = 'd';
		if (fmt[i] == '0') {
			it->zero = true;
			i++;
		}
		while (fmt[i] >= '0' && fmt[i] <= '9') {
			it->width = (uint8_t)(it->width * 10 + (fmt[i] - '0'));
			if (it->width > POP3_UIDL_MAX)
				return uidl_fail(error_r, "width too large");
			i++;
		}
		if (it->width > 0 && !it->zero)
			return uidl_fail(error_r, "a width needs the 0 flag "
			    "(a UIDL holds no spaces)");
		if (fmt[i] == 'X' || fmt[i] == 'x') {
			it->conv = fmt[i];
			i++;
		}
		if (fmt[i] != 'u' && fmt[i] != 'v')
			return uidl_fail(error_r, "expected %u or %v (with "
			    "optional 0, width and X)");
		it->var = fmt[i];
		if (it->var == 'u')
			has_uid = true;
		i++;
		/* the longest a 32-bit number gets: 10 digits or 8 hex */
		total += it->width > (it->conv == 'd' ? 10 : 8) ? it->width :
		    (it->conv == 'd' ? 10u : 8u);
		out->n++;
	}
	if (!has_uid)
		return uidl_fail(error_r, "must contain %u (the UID)");
	if (total > POP3_UIDL_MAX)
		return uidl_fail(error_r, "expands to more than 70 characters");
	out->lit[lit] = '\0';
	return 0;
}

/* Writes v in base 10 or 16, padded to width; returns the length. */
static size_t
put_u32(char *buf, uint32_t v, char conv, bool zero, unsigned width)
{
	static const char upper[] = "0123456789ABCDEF";
	static const char lower[] = "0123456789abcdef";
	const char *digits = conv == 'x' ? lower : upper;
	unsigned base = conv == 'd' ? 10 : 16;
	char tmp[12];
	size_t n = 0, len = 0;

	do {
		tmp[n++] = digits[v % base];
		v /= base;
	} while (v != 0);
	/* compile refuses a width without the 0 flag */
	while (zero && width > n) {
		buf[len++] = '0';
		width--;
	}
	while (n > 0)
		buf[len++] = tmp[--n];
	return len;
}

size_t
pop3_uidl_format(const struct pop3_uidl_fmt *fmt, uint32_t uid,
    uint32_t uidvalidity, char *buf)
{
	size_t i, len = 0;

	/* pop3_uidl_compile() bounded the longest expansion: it fits */
	for (i = 0; i < fmt->n; i++) {
		const struct pop3_uidl_item *it = &fmt->items[i];

		if (it->var == 0) {
			memcpy(buf + len, fmt->lit + it->lit_off, it->lit_len);
			len += it->lit_len;
		} else {
			len += put_u32(buf + len, it->var == 'u' ? uid :
			    uidvalidity, it->conv, it->zero, it->width);
		}
	}
	buf[len] = '\0';
	return len;
}
