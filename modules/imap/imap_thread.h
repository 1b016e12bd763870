/* imap_thread.h: RFC 5256 THREAD=ORDEREDSUBJECT and THREAD=REFERENCES */
#ifndef POSTA_IMAP_THREAD_H
#define POSTA_IMAP_THREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Pure: no I/O, no recursion (a reply chain may be as deep as the mailbox
 * is long).  Memory: a handful of arrays sized from the message and
 * reference counts, malloc'd by imap_thread_build and released by
 * imap_thread_free; nothing per message.
 */

#define IMAP_THREAD_NONE UINT32_MAX

/*
 * One message, in mailbox order (the index is the RFC 5256 tie-breaker).
 * Strings are offsets into a pool of NUL-terminated strings: subject is
 * the casemapped base subject (offset of "" when empty), msgid the
 * Message-ID without brackets or IMAP_THREAD_NONE when it has none.
 * refs[refs_first .. refs_first + n_refs) are offsets of the References
 * IDs in order, or of the first valid In-Reply-To ID when References has
 * none (RFC 5256 REFERENCES step 1).
 */
struct imap_thread_msg {
	int64_t date;			/* sent date, UTC */
	uint32_t subject;
	uint32_t msgid;
	uint32_t refs_first, n_refs;
	bool is_reply;			/* subject was a reply/forward */
};

enum imap_thread_alg {
	IMAP_THREAD_ORDEREDSUBJECT = 1,
	IMAP_THREAD_REFERENCES,
};

/*
 * The threads as a tree: node 0 is the root, whose children are the
 * threads in order.  msg[n] is the message index of node n, or
 * IMAP_THREAD_NONE for a dummy (a message that is not there).
 */
struct imap_thread {
	size_t n_nodes, cap;
	uint32_t *parent, *first_child, *next_sibling, *msg;
	int64_t *date;			/* sort key: sent date ... */
	uint32_t *order;		/* ... then mailbox order */

	/* resumable writer state (imap_thread_write): one frame per "(" */
	uint32_t *stack;		/* next child to open, per frame */
	size_t depth;
	uint32_t cur;			/* node whose number comes next */
	uint32_t next_top;		/* next thread to open */
	bool started, last_num;
};

/*
 * Threads msgs[0..n) with alg.  Returns 0 with *t_r, -ENOMEM, or
 * -EOVERFLOW when the counts do not fit the 32-bit node numbers.
 */
int imap_thread_build(enum imap_thread_alg alg,
    const struct imap_thread_msg *msgs, size_t n, const uint32_t *refs,
    size_t n_refs_total, const char *pool, struct imap_thread **t_r);

void imap_thread_free(struct imap_thread **t);

/*
 * Writes the thread list ("(1 2 (3)(4))(5)") into buf, at most size bytes
 * (size >= 32), as far as it fits, mapping message index i to the number
 * num(ctx, i) shown (sequence number or UID).  Call again for more;
 * returns the bytes written, 0 once everything has been written.
 */
size_t imap_thread_write(struct imap_thread *t, char *buf, size_t size,
    uint32_t (*num)(void *ctx, uint32_t msg), void *ctx);

#endif
