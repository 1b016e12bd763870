/* imap_cmd_idle.c: IDLE (RFC 2177): changes pushed as they happen */
#include "config.h"

#include <string.h>

#include "imap.h"
#include "util.h"

struct idle_ctx {
	bool syncing;			/* a refresh is out */
	bool again;			/* notified while it was */
	bool done;			/* DONE came while it was */
	bool bad;			/* ... or something else did */
	const char *bad_text;		/* the BAD reply then */
};

static void idle_sync(struct imap_session *s);

static void
idle_synced(struct imap_session *s)
{
	struct idle_ctx *x = s->cmd.ctx;

	x->syncing = false;
	if (x->done) {
		if (x->bad)
			imap_cmd_bad(s, x->bad_text);
		else
			imap_cmd_done(s, "OK Idle completed.");
		return;
	}
	if (x->again || s->notified) {
		x->again = false;
		idle_sync(s);
	}
}

static void
idle_sync(struct imap_session *s)
{
	struct idle_ctx *x = s->cmd.ctx;

	if (s->box == NULL)
		return;
	if (x->syncing) {
		x->again = true;
		return;
	}
	if (imap_sync(s, 0, idle_synced) == 0)
		x->syncing = true;
}

/* Ends IDLE with BAD text, or once the refresh that is out returns. */
static void
idle_bad(struct imap_session *s, const char *text)
{
	struct idle_ctx *x = s->cmd.ctx;

	if (x->syncing) {
		/* its callback finds this command still running */
		x->done = x->bad = true;
		x->bad_text = arena_strdup(s->cmd_arena, text);
		if (x->bad_text == NULL)
			x->bad_text = "Expected DONE.";
		imap_cmd_wait(s);
		return;
	}
	imap_cmd_bad(s, text);
}

/* An over-long line instead of DONE: the parser has skipped it. */
static void
idle_line_error(struct imap_session *s, const char *msg)
{
	idle_bad(s, msg);
}

static void
idle_line(struct imap_session *s, const uint8_t *line, size_t len)
{
	struct idle_ctx *x = s->cmd.ctx;

	s->cmd.line = NULL;
	s->cmd.line_error = NULL;
	if (len != 4 || !util_memcaseeq(line, "DONE", 4)) {
		idle_bad(s, "Expected DONE.");
		return;
	}
	if (x->syncing) {
		x->done = true;
		imap_cmd_wait(s);
		return;
	}
	imap_cmd_done(s, "OK Idle completed.");
}

void
imap_cmd_idle(struct imap_session *s, struct imap_cmd *c)
{
	struct idle_ctx *x = arena_zalloc(s->cmd_arena, sizeof(*x));

	if (x == NULL) {
		imap_cmd_done(s, "NO [SERVERBUG] Out of memory.");
		return;
	}
	if (c->args != NULL) {
		imap_cmd_bad(s, "IDLE takes no arguments.");
		return;
	}
	if (imap_parser_expect_line(s->parser) < 0) {
		imap_cmd_done(s, "NO [SERVERBUG] Cannot idle now.");
		return;
	}
	c->ctx = x;
	c->line = idle_line;
	c->line_error = idle_line_error;
	c->notify = idle_sync;
	imap_puts(s, "+ idling\r\n");
	if (s->notified)
		idle_sync(s);
}
