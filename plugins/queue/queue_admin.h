/* queue_admin.h: "posta queue ..." subcommands over the spool */
#ifndef POSTA_QUEUE_ADMIN_H
#define POSTA_QUEUE_ADMIN_H

/*
 * Runs one "posta queue" command against <state_dir>/queue, in the
 * calling process (no daemon needed to read; changes reach a running
 * postad through ctl/ requests, which it watches, and otherwise take
 * effect at its next start).  argv[0] is the subcommand:
 *
 *   list                      every message, one line each, then one
 *                             line per recipient and its state
 *   show ID                   envelope, recipients, message header
 *   flush [ID]                try deferred recipients now
 *   delete ID                 drop a message (no bounce)
 *   submit --from ADDR --to ADDR [--to ADDR...]   queue the message read
 *                             from stdin (bare LF made CRLF) for delivery
 *
 * Output goes to stdout, errors to stderr.  Returns the exit status of
 * posta(8): 0, 1 usage, 2 data error (no such message), 3 system error.
 */
int queue_admin_main(const char *state_dir, int argc, char **argv);

/* The usage lines for posta(8)'s own usage text. */
extern const char queue_admin_usage[];

#endif
