/* fuzz_smtp_parse.c: libFuzzer target for SMTP command, DATA and BDAT parsing */
#include "config.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "smtp_addr.h"
#include "smtp_data.h"
#include "smtp_parse.h"
#include "test_smtp_lines.h"

/*
 * Input: two option bytes, then a client byte stream.  Byte 0 holds the
 * SMTP_EXT_* bits (low 6), require_crlf (bit 6) and reject bare LF/CR in
 * DATA (bit 7); byte 1 the core's line limit (high nibble) and the message
 * size limit (low nibble, 0 = none).  The stream runs through a model of
 * the core's line splitter into a miniature session: commands go to the
 * parser, DATA switches to the DATA reader until it says END, BDAT reads
 * the announced bytes.  Besides the sanitizers' checks, CHECK() holds the
 * parsers to their contracts: a failure aborts, in the libFuzzer build
 * and in the seed runner (fuzz_main.c) that make check uses alike.
 */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_failed(const char *what, int line)
{
	fprintf(stderr, "fuzz_smtp_parse.c:%d: CHECK(%s) failed\n", line,
	    what);
	abort();
}

#define CHECK(c) do {						\
		if (!(c))					\
			check_failed(#c, __LINE__);		\
	} while (0)

enum mode { M_CMD, M_DATA, M_BDAT };

struct fsess {
	struct tlines tl;
	struct smtp_parse_opts po;
	struct smtp_data_opts dopts;
	struct arena *arena;
	enum mode mode;
	struct smtp_data d;
	struct smtp_bdat b;
	bool in_bdat;
	bool prev_crlf;		/* our own view of the DATA end rule */
	uint64_t stored;	/* octets handed out for this message */
	uint64_t chunk_stored;
};

static bool
ascii_caseeq(const char *a, const char *b)
{
	for (; *a != '\0' && *b != '\0'; a++, b++) {
		char x = *a, y = *b;

		if (x >= 'A' && x <= 'Z')
			x = (char)(x - 'A' + 'a');
		if (y >= 'A' && y <= 'Z')
			y = (char)(y - 'A' + 'a');
		if (x != y)
			return false;
	}
	return *a == *b;
}

static void
check_path(const struct fsess *s, const struct smtp_path *p, bool is_mail,
    bool utf8_ok)
{
	size_t m, l, d, at;

	CHECK(p->mailbox != NULL && p->local != NULL &&
	    p->local_plain != NULL && p->domain != NULL);
	if (p->mailbox == NULL || p->local == NULL || p->domain == NULL)
		return;
	m = strlen(p->mailbox);
	if (p->is_null) {
		CHECK(is_mail && m == 0);
		return;
	}
	if (p->is_postmaster) {
		CHECK(!is_mail && ascii_caseeq(p->mailbox, "postmaster"));
		return;
	}
	l = strlen(p->local);
	d = strlen(p->domain);
	CHECK(l + 1 + d == m);
	CHECK(smtp_addr_mailbox_check(p->mailbox, m, SMTP_ADDR_UTF8, &at) ==
	    0 && at == l);
	CHECK(smtp_addr_split(p->mailbox, m, &at) == 0 && at == l);
	CHECK(s->po.max_path_len == 0 || m + 2 <= s->po.max_path_len);
	CHECK(s->po.max_local_len == 0 || l <= s->po.max_local_len);
	CHECK(p->is_utf8 == smtp_addr_has_8bit(p->mailbox, m));
	CHECK(!p->is_utf8 || utf8_ok);
	CHECK(p->is_literal == smtp_addr_is_literal(p->domain, d));
	CHECK(strlen(p->local_plain) <= l);
}

static void
check_cmd(struct fsess *s, const struct smtp_cmd *cmd, const uint8_t *line,
    size_t len)
{
	const struct smtp_status *st = smtp_parse_status(cmd->err);

	CHECK((unsigned)cmd->err < SMTP_PERR_COUNT_);
	CHECK(st->code == 250 || st->code == 500 || st->code == 501 ||
	    st->code == 553 || st->code == 555);
	CHECK(cmd->err_param == NULL || cmd->err == SMTP_PERR_PARAM_SYNTAX ||
	    cmd->err == SMTP_PERR_PARAM_UNKNOWN);
	if (cmd->err != SMTP_PERR_NONE)
		return;
	CHECK(cmd->verb != SMTP_VERB_UNKNOWN);
	switch (cmd->verb) {
	case SMTP_VERB_EHLO:
	case SMTP_VERB_HELO:
		CHECK(cmd->arg != NULL);
		if (cmd->arg == NULL)
			break;
		if (cmd->helo_literal)
			CHECK(smtp_addr_literal_parse(cmd->arg,
			    strlen(cmd->arg), NULL) != 0);
		else
			CHECK(smtp_addr_domain_valid(cmd->arg,
			    strlen(cmd->arg), SMTP_ADDR_UTF8 |
			    SMTP_ADDR_UNDERSCORE));
		break;
	case SMTP_VERB_MAIL:
		check_path(s, &cmd->mail.path, true, cmd->mail.smtputf8);
		CHECK(!cmd->mail.smtputf8 ||
		    (s->po.ext & SMTP_EXT_SMTPUTF8) != 0);
		CHECK(!cmd->mail.has_size || (s->po.ext & SMTP_EXT_SIZE));
		CHECK(cmd->mail.envid == NULL ||
		    strlen(cmd->mail.envid) <= 100);
		break;
	case SMTP_VERB_RCPT:
		check_path(s, &cmd->rcpt.path, false, s->po.utf8_tx);
		CHECK(!(cmd->rcpt.notify & SMTP_NOTIFY_NEVER) ||
		    cmd->rcpt.notify == SMTP_NOTIFY_NEVER);
		CHECK((cmd->rcpt.orcpt_type == NULL) ==
		    (cmd->rcpt.orcpt_raw == NULL));
		break;
	case SMTP_VERB_AUTH:
		CHECK(cmd->auth.mech != NULL && strlen(cmd->auth.mech) >= 1 &&
		    strlen(cmd->auth.mech) <= 20);
		if (cmd->auth.initial != NULL)
			CHECK(cmd->auth.initial >= line &&
			    cmd->auth.initial + cmd->auth.initial_len <=
			    line + len);
		break;
	case SMTP_VERB_VRFY:
	case SMTP_VERB_EXPN:
		CHECK(cmd->arg != NULL && cmd->arg[0] != '\0');
		break;
	default:
		break;
	}
}

/* Calls the address helpers on raw bytes too and cross-checks them. */
static void
poke_helpers(const uint8_t *line, size_t len)
{
	const char *s = (const char *)line;
	char buf[512];
	size_t at = 0, at2 = 0;
	long r;

	if (smtp_addr_mailbox_check(s, len, SMTP_ADDR_UTF8, &at) == 0) {
		CHECK(smtp_addr_split(s, len, &at2) == 0 && at == at2);
		CHECK(smtp_utf8_valid(s, len));
	}
	if (smtp_addr_local_valid(s, len, 0))
		CHECK(!smtp_addr_has_8bit(s, len));
	if (smtp_addr_domain_valid(s, len, 0))
		CHECK(len <= SMTP_ADDR_DOMAIN_MAX);
	(void)smtp_addr_literal_parse(s, len, NULL);
	if (len <= sizeof(buf)) {
		r = smtp_xtext_decode(s, len, buf);
		CHECK(r < 0 || (size_t)r <= len);
	}
}

static void
end_message(struct fsess *s, enum smtp_data_result r, uint64_t size)
{
	const struct smtp_status *st = smtp_data_status(r);

	CHECK(st->code == 250 || st->code == 550 || st->code == 552);
	if (r == SMTP_DATA_OK)
		CHECK(s->stored == size);
	s->stored = 0;
	s->mode = M_CMD;
	s->po.utf8_tx = false;
}

static void
on_command(struct fsess *s, const uint8_t *line, size_t len, bool crlf)
{
	struct smtp_cmd cmd;
	int r;

	arena_reset(s->arena);
	r = smtp_parse_line(s->arena, &s->po, line, len, crlf, &cmd);
	CHECK(r == 0);
	if (r != 0)
		return;
	check_cmd(s, &cmd, line, len);
	poke_helpers(line, len);
	if (cmd.err != SMTP_PERR_NONE)
		return;
	if (cmd.verb == SMTP_VERB_MAIL) {
		s->po.utf8_tx = cmd.mail.smtputf8;
	} else if (cmd.verb == SMTP_VERB_DATA && !s->in_bdat) {
		smtp_data_init(&s->d, &s->dopts);
		s->mode = M_DATA;
		s->prev_crlf = true;
		s->stored = 0;
	} else if (cmd.verb == SMTP_VERB_BDAT) {
		if (!s->in_bdat) {
			smtp_bdat_init(&s->b, s->dopts.max_size);
			s->in_bdat = true;
			s->stored = 0;
		}
		r = smtp_bdat_begin(&s->b, cmd.bdat.size, cmd.bdat.last);
		CHECK(r == SMTP_BDAT_STORE || r == SMTP_BDAT_DISCARD);
		/* a fuzzer-sized chunk: reading 2^64 bytes proves nothing */
		if (cmd.bdat.size > 0) {
			s->tl.want = cmd.bdat.size;
			s->chunk_stored = 0;
			s->mode = M_BDAT;
		} else if (smtp_bdat_done(&s->b)) {
			s->in_bdat = false;
			end_message(s, s->b.result, s->b.size);
		}
	} else if (cmd.verb == SMTP_VERB_RSET) {
		s->in_bdat = false;
		s->po.utf8_tx = false;
	}
}

static void
on_data_line(struct fsess *s, const uint8_t *line, size_t len, bool crlf)
{
	struct smtp_data_out out;
	bool is_end = len == 1 && line[0] == '.' && crlf && s->prev_crlf;
	int r;

	r = smtp_data_feed(&s->d, line, len, crlf, &out);
	s->prev_crlf = crlf;
	/* the one rule that stops smuggling, checked independently */
	CHECK((r == SMTP_DATA_END) == is_end);
	if (r == SMTP_DATA_END) {
		end_message(s, s->d.result, s->d.size);
		return;
	}
	CHECK(r == SMTP_DATA_MORE);
	if (out.len > 0)
		CHECK(out.data >= line && out.data + out.len <= line + len);
	CHECK(out.len == 0 || memchr(out.data, '\n', out.len) == NULL);
	CHECK(out.len + 1 >= len || out.len == 0);
	if (out.eol || out.len > 0) {
		CHECK(out.eol);
		CHECK(s->d.result == SMTP_DATA_OK);
		s->stored += out.len + 2;
	}
}

static void
on_line(void *ctx, const uint8_t *line, size_t len, unsigned flags)
{
	struct fsess *s = ctx;
	bool crlf = (flags & POSTA_LINE_CRLF) != 0;
	uint8_t *p;

	if (flags & POSTA_LINE_TOO_LONG) {
		if (s->mode == M_DATA) {
			CHECK(smtp_data_feed_too_long(&s->d, crlf) ==
			    SMTP_DATA_MORE);
			CHECK(s->d.result != SMTP_DATA_OK);
			s->prev_crlf = crlf;
		}
		return;
	}
	/* exact-size copy, so ASan sees any read past the line */
	p = malloc(len > 0 ? len : 1);
	if (p == NULL)
		return;
	memcpy(p, line, len);
	if (s->mode == M_CMD)
		on_command(s, p, len, crlf);
	else
		on_data_line(s, p, len, crlf);
	free(p);
}

static void
on_bytes(void *ctx, const uint8_t *data, size_t len, bool last)
{
	struct fsess *s = ctx;
	struct smtp_data_out out;
	int r;

	r = smtp_bdat_feed(&s->b, data, len, &out);
	CHECK(r == 0 || r == 1);
	CHECK((r == 1) == last);
	CHECK(out.len == 0 || (out.data == data && out.len == len));
	s->stored += out.len;
	if (r == 1) {
		s->mode = M_CMD;
		if (smtp_bdat_done(&s->b)) {
			s->in_bdat = false;
			end_message(s, s->b.result, s->b.size);
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fsess *s;

	if (size < 2)
		return 0;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return 0;
	s->arena = arena_new(4096, 1 << 20);
	if (s->arena == NULL) {
		free(s);
		return 0;
	}
	smtp_parse_opts_init(&s->po);
	s->po.ext = data[0] & 0x3f;
	s->po.require_crlf = (data[0] & 0x40) != 0;
	smtp_data_opts_init(&s->dopts);
	s->dopts.reject_bare_lf = s->dopts.reject_bare_cr =
	    (data[0] & 0x80) != 0;
	s->dopts.max_size = (uint64_t)(data[1] & 0x0f) * 64;
	tlines_init(&s->tl, 32 + (size_t)(data[1] >> 4) * 128, s, on_line,
	    on_bytes);
	tlines_feed(&s->tl, data + 2, size - 2);
	arena_free(&s->arena);
	free(s);
	return 0;
}
