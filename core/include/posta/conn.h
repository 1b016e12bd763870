/* conn.h: a client connection as a protocol module sees it */
#ifndef POSTA_CONN_H
#define POSTA_CONN_H

/*
 * The core owns the socket, TLS, buffers and timers; a protocol module owns
 * the session and sees the connection through a handler it sets in its
 * accept callback.  All callbacks run on the loop thread.
 *
 * Reading.  By default input arrives as lines: handler->line(ctx, line, len,
 * flags) without the terminator; POSTA_LINE_CRLF tells CRLF from a bare LF.
 * A line longer than the service's max_line_length is discarded up to its
 * LF and reported once with POSTA_LINE_TOO_LONG (line NULL, len 0; with
 * POSTA_LINE_CRLF when it ended in CRLF); memory stays bounded.  posta_conn_read_bytes(conn, n) switches to exact-byte
 * mode: the next n bytes arrive through handler->data in chunks, the last
 * one with last = true, then line mode resumes.  posta_conn_pause() stops
 * delivery (input stays buffered, reading from the socket stops once the
 * buffer is full) until posta_conn_resume(); use it while a command waits
 * for a callback so pipelined commands keep their order.
 *
 * Writing.  posta_conn_write() copies into the write queue.  Past the
 * service's write_queue_max the core stops reading from the peer until the
 * queue drains (a client that does not read its replies cannot make the
 * server buffer without bound); handler->drain runs each time the queue
 * becomes empty, which is when a module streaming a large message writes
 * its next chunk.
 *
 * Closing.  handler->close(ctx, reason) runs exactly once however the
 * connection ends: posta_conn_close() (after the queue is flushed), peer
 * reset or EOF (reason -ECONNRESET or 0), idle timeout (-ETIMEDOUT), TLS
 * error (POSTA_ETLS), server shutdown (-ECANCELED).  It never runs inside
 * a posta_conn_*() call the module made (posta_conn_close() included):
 * always from a later loop callback.  The conn pointer is invalid once it
 * returns.  posta_conn_login() and posta_conn_resolve() never call back
 * after it; store requests (store.h) do complete later, with -ECANCELED if
 * the handle was closed: a module keeps what their callbacks touch alive
 * until they have run, and never touches the conn then.
 */
enum posta_line_flags {
	POSTA_LINE_CRLF = 1 << 0,	/* ended in CRLF, not a bare LF */
	POSTA_LINE_TOO_LONG = 1 << 1,	/* over max_line_length, discarded */
};

enum posta_tls_mode {
	POSTA_TLS_NONE = 0,
	POSTA_TLS_STARTTLS = 1,
	POSTA_TLS_IMPLICIT = 2,
};

struct posta_conn_handler {
	void (*line)(void *ctx, const uint8_t *line, size_t len,
	    unsigned flags);
	void (*data)(void *ctx, const uint8_t *data, size_t len, bool last);
	void (*drain)(void *ctx);			/* optional */
	/* STARTTLS finished: 0, or an error and the conn closes after */
	void (*tls)(void *ctx, int err);		/* optional */
	/* idle timeout; NULL means close with -ETIMEDOUT at once */
	void (*timeout)(void *ctx);			/* optional */
	void (*close)(void *ctx, int reason);
	/* optional: the server is stopping (SIGTERM).  The session should
	 * say goodbye at its next clean point (IMAP "* BYE") and close;
	 * whatever is still open after shutdown_grace closes with
	 * -ECANCELED. */
	void (*shutdown)(void *ctx);
};

/* What a session-hook refusal means, so each protocol can word its reply. */
enum posta_refusal {
	POSTA_REFUSE_OTHER = 0,
	POSTA_REFUSE_CONN_LIMIT,	/* too many connections before login */
	POSTA_REFUSE_USERIP_LIMIT,	/* per-user-per-IP session cap */
	POSTA_REFUSE_THROTTLED,		/* too many login failures */
	POSTA_REFUSE_SHUTDOWN,		/* server is stopping */
};

#endif
