/* host.h: the host function table handed to modules, and its inline wrappers */
#ifndef POSTA_HOST_H
#define POSTA_HOST_H

#include <uv.h>

struct posta_protocol;

/*
 * A protocol module registers one of these per protocol name it serves
 * ("imap", "pop3", "smtp", "submission", "smtps").  Each service block names
 * its protocol.
 *
 * accept(state, conn) runs for each new connection once the connect hooks
 * let it in and, on implicit-TLS services, after the handshake: the module
 * sets its handler (posta_conn_set_handler) and writes its greeting.  A
 * non-zero return closes the connection.
 *
 * refuse(state, conn, refusal, text) writes the protocol's reply for a
 * connection the connect hooks refused or that arrives during shutdown
 * (IMAP "* BYE ...", POP3 "-ERR [SYS/TEMP] ...", SMTP "421 4.7.0 ...");
 * the core then closes the connection.
 */
struct posta_protocol {
	const char *name;
	int (*accept)(void *state, struct posta_conn *conn);
	void (*refuse)(void *state, struct posta_conn *conn,
	    enum posta_refusal refusal, const char *text);
};

/*
 * The table itself.  Append only (abi.h); modules call it through the
 * posta_*() wrappers below, never directly.
 */
struct posta_host_api {
	uint32_t size;	/* sizeof(struct posta_host_api) of the host */

	/* logging (obj is a struct posta_host or struct posta_conn) */
	void (*logv)(const void *obj, enum posta_log_level level,
	    const char *event, const char *fmt, va_list ap);
	bool (*log_enabled)(const void *obj, enum posta_log_level level);

	/* host */
	uv_loop_t *(*loop)(struct posta_host *h);
	const char *(*state_dir)(struct posta_host *h);
	const char *(*hostname)(struct posta_host *h);
	int (*register_protocol)(struct posta_host *h,
	    const struct posta_protocol *proto, void *state);
	int (*register_auth)(struct posta_host *h,
	    const struct posta_auth_provider *prov, void *state);
	int (*register_store)(struct posta_host *h,
	    const struct posta_store_ops *ops, void *state);
	int (*register_hooks)(struct posta_host *h,
	    const struct posta_hooks *hooks, void *state);
	int (*resolve)(struct posta_host *h, const char *address,
	    posta_auth_resolve_cb *cb, void *ctx);
	const struct posta_store_ops *(*store)(struct posta_host *h,
	    void **state_r);

	/* connection I/O */
	void (*conn_set_handler)(struct posta_conn *c,
	    const struct posta_conn_handler *handler, void *ctx);
	int (*conn_write)(struct posta_conn *c, const void *data, size_t len);
	size_t (*conn_write_pending)(const struct posta_conn *c);
	int (*conn_read_bytes)(struct posta_conn *c, size_t n);
	void (*conn_pause)(struct posta_conn *c);
	void (*conn_resume)(struct posta_conn *c);
	void (*conn_set_timeout)(struct posta_conn *c, uint64_t timeout_ms);
	int (*conn_starttls)(struct posta_conn *c);
	void (*conn_close)(struct posta_conn *c);

	/* connection facts */
	const char *(*conn_protocol)(const struct posta_conn *c);
	const char *(*conn_service)(const struct posta_conn *c);
	const char *(*conn_session_id)(const struct posta_conn *c);
	const char *(*conn_remote_ip)(const struct posta_conn *c);
	const struct sockaddr *(*conn_remote_addr)(const struct posta_conn *c);
	const struct sockaddr *(*conn_local_addr)(const struct posta_conn *c);
	enum posta_tls_mode (*conn_tls_mode)(const struct posta_conn *c);
	bool (*conn_is_tls)(const struct posta_conn *c);
	const char *(*conn_tls_info)(const struct posta_conn *c);
	bool (*conn_plaintext_auth_allowed)(const struct posta_conn *c);
	const char *(*conn_user)(const struct posta_conn *c);
	void *(*conn_get_data)(const struct posta_conn *c,
	    const struct posta_host *h);
	void (*conn_set_data)(struct posta_conn *c, const struct posta_host *h,
	    void *data);
	struct posta_host *(*conn_host)(const struct posta_conn *c);

	/* logins and lookups bound to a connection: never called back after
	 * the connection's close handler ran */
	int (*conn_login)(struct posta_conn *c, const char *user,
	    const char *password, posta_login_cb *cb, void *ctx);
	int (*conn_resolve)(struct posta_conn *c, const char *address,
	    posta_auth_resolve_cb *cb, void *ctx);

	/* outbound queue */
	int (*register_queue)(struct posta_host *h,
	    const struct posta_queue_ops *ops, void *state);
	const struct posta_queue_ops *(*queue)(struct posta_host *h,
	    void **state_r);
};

#define POSTA_API(o) POSTA_OBJ_API(o)

/* ---- logging ---- */

static inline void posta_log(const struct posta_host *h,
    enum posta_log_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static inline void
posta_log(const struct posta_host *h, enum posta_log_level level,
    const char *event, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	POSTA_API(h)->logv(h, level, event, fmt, ap);
	va_end(ap);
}

static inline void posta_conn_log(const struct posta_conn *c,
    enum posta_log_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static inline void
posta_conn_log(const struct posta_conn *c, enum posta_log_level level,
    const char *event, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	POSTA_API(c)->logv(c, level, event, fmt, ap);
	va_end(ap);
}

/* True when a line at this level would be written (skip costly traces). */
static inline bool
posta_log_enabled(const void *obj, enum posta_log_level level)
{
	return POSTA_API(obj)->log_enabled(obj, level);
}

/* ---- host ---- */

/* The libuv loop the module runs on: timers, uv_queue_work, uv_fs_*. */
static inline uv_loop_t *
posta_host_loop(struct posta_host *h)
{
	return POSTA_API(h)->loop(h);
}

/* The state directory (state_dir setting); modules keep their data under it.
 * Like hostname below, valid until the next reload: copy it to keep it. */
static inline const char *
posta_host_state_dir(struct posta_host *h)
{
	return POSTA_API(h)->state_dir(h);
}

/* The server's name (hostname setting) for greetings and Received: lines. */
static inline const char *
posta_host_hostname(struct posta_host *h)
{
	return POSTA_API(h)->hostname(h);
}

/* Registrations belong to the module's handle; each returns 0 or -errno. */
static inline int
posta_host_register_protocol(struct posta_host *h,
    const struct posta_protocol *proto, void *state)
{
	return POSTA_API(h)->register_protocol(h, proto, state);
}

static inline int
posta_host_register_auth(struct posta_host *h,
    const struct posta_auth_provider *prov, void *state)
{
	return POSTA_API(h)->register_auth(h, prov, state);
}

static inline int
posta_host_register_store(struct posta_host *h,
    const struct posta_store_ops *ops, void *state)
{
	return POSTA_API(h)->register_store(h, ops, state);
}

static inline int
posta_host_register_hooks(struct posta_host *h,
    const struct posta_hooks *hooks, void *state)
{
	return POSTA_API(h)->register_hooks(h, hooks, state);
}

/*
 * Resolve an envelope address through the provider chain (async rule of
 * auth.h).  With no provider at all the answer is TEMPFAIL.
 */
static inline int
posta_resolve(struct posta_host *h, const char *address,
    posta_auth_resolve_cb *cb, void *ctx)
{
	return POSTA_API(h)->resolve(h, address, cb, ctx);
}

/* The registered mail store, or NULL when no store plugin is loaded. */
static inline const struct posta_store_ops *
posta_host_store(struct posta_host *h, void **state_r)
{
	return POSTA_API(h)->store(h, state_r);
}

/* Registers the outbound queue (queue.h); one per server: -EEXIST. */
static inline int
posta_host_register_queue(struct posta_host *h,
    const struct posta_queue_ops *ops, void *state)
{
	return POSTA_API(h)->register_queue(h, ops, state);
}

/* The outbound queue, or NULL when no queue plugin is loaded. */
static inline const struct posta_queue_ops *
posta_host_queue(struct posta_host *h, void **state_r)
{
	return POSTA_API(h)->queue(h, state_r);
}

/* ---- connections (see conn.h for the reading and writing model) ---- */

static inline void
posta_conn_set_handler(struct posta_conn *c,
    const struct posta_conn_handler *handler, void *ctx)
{
	POSTA_API(c)->conn_set_handler(c, handler, ctx);
}

/* Copies data into the write queue; 0, or POSTA_ECLOSED after close. */
static inline int
posta_conn_write(struct posta_conn *c, const void *data, size_t len)
{
	return POSTA_API(c)->conn_write(c, data, len);
}

static inline int
posta_conn_puts(struct posta_conn *c, const char *s)
{
	return POSTA_API(c)->conn_write(c, s, strlen(s));
}

static inline int posta_conn_printf(struct posta_conn *c,
    const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline int
posta_conn_printf(struct posta_conn *c, const char *fmt, ...)
{
	char small[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n < sizeof(small))
		return POSTA_API(c)->conn_write(c, small, (size_t)n);
	{
		char *big = malloc((size_t)n + 1);
		int ret;

		if (big == NULL)
			return -ENOMEM;
		va_start(ap, fmt);
		vsnprintf(big, (size_t)n + 1, fmt, ap);
		va_end(ap);
		ret = POSTA_API(c)->conn_write(c, big, (size_t)n);
		free(big);
		return ret;
	}
}

/* Bytes queued but not yet written to the socket. */
static inline size_t
posta_conn_write_pending(const struct posta_conn *c)
{
	return POSTA_API(c)->conn_write_pending(c);
}

/* Deliver the next n bytes through handler->data (n > 0). */
static inline int
posta_conn_read_bytes(struct posta_conn *c, size_t n)
{
	return POSTA_API(c)->conn_read_bytes(c, n);
}

static inline void
posta_conn_pause(struct posta_conn *c)
{
	POSTA_API(c)->conn_pause(c);
}

static inline void
posta_conn_resume(struct posta_conn *c)
{
	POSTA_API(c)->conn_resume(c);
}

/* Idle timeout, restarted by every read; 0 disables it. */
static inline void
posta_conn_set_timeout(struct posta_conn *c, uint64_t timeout_ms)
{
	POSTA_API(c)->conn_set_timeout(c, timeout_ms);
}

/*
 * Starts TLS on a STARTTLS service after the module queued its "go ahead"
 * reply (which still goes out in plaintext).  Input the client pipelined
 * after the STARTTLS command is thrown away (CVE-2011-0411).
 * handler->tls runs when the handshake ends.  Returns 0, -EALREADY when TLS
 * is on, or POSTA_ENOTLS when the service has no certificate.
 */
static inline int
posta_conn_starttls(struct posta_conn *c)
{
	return POSTA_API(c)->conn_starttls(c);
}

/* Flushes the write queue, then closes; handler->close follows. */
static inline void
posta_conn_close(struct posta_conn *c)
{
	POSTA_API(c)->conn_close(c);
}

static inline const char *
posta_conn_protocol(const struct posta_conn *c)
{
	return POSTA_API(c)->conn_protocol(c);
}

static inline const char *
posta_conn_service(const struct posta_conn *c)
{
	return POSTA_API(c)->conn_service(c);
}

static inline const char *
posta_conn_session_id(const struct posta_conn *c)
{
	return POSTA_API(c)->conn_session_id(c);
}

/* The peer's address as text ("127.0.0.1", "::1"). */
static inline const char *
posta_conn_remote_ip(const struct posta_conn *c)
{
	return POSTA_API(c)->conn_remote_ip(c);
}

static inline const struct sockaddr *
posta_conn_remote_addr(const struct posta_conn *c)
{
	return POSTA_API(c)->conn_remote_addr(c);
}

static inline const struct sockaddr *
posta_conn_local_addr(const struct posta_conn *c)
{
	return POSTA_API(c)->conn_local_addr(c);
}

/* The service's TLS mode (none, starttls, implicit). */
static inline enum posta_tls_mode
posta_conn_tls_mode(const struct posta_conn *c)
{
	return POSTA_API(c)->conn_tls_mode(c);
}

/* True once TLS is up (implicit, or after STARTTLS). */
static inline bool
posta_conn_is_tls(const struct posta_conn *c)
{
	return POSTA_API(c)->conn_is_tls(c);
}

/* "TLSv1.3 cipher=AES-256-GCM" for Received: lines, or NULL. */
static inline const char *
posta_conn_tls_info(const struct posta_conn *c)
{
	return POSTA_API(c)->conn_tls_info(c);
}

/* True when a password may be sent now: TLS is up or the admin allows it. */
static inline bool
posta_conn_plaintext_auth_allowed(const struct posta_conn *c)
{
	return POSTA_API(c)->conn_plaintext_auth_allowed(c);
}

/* The logged-in account, or NULL before login. */
static inline const char *
posta_conn_user(const struct posta_conn *c)
{
	return POSTA_API(c)->conn_user(c);
}

/* A per-connection pointer that belongs to the module owning h. */
static inline void *
posta_conn_get_data(const struct posta_conn *c, const struct posta_host *h)
{
	return POSTA_API(c)->conn_get_data(c, h);
}

static inline void
posta_conn_set_data(struct posta_conn *c, const struct posta_host *h,
    void *data)
{
	POSTA_API(c)->conn_set_data(c, h, data);
}

/*
 * Runs a whole login (auth.h: hooks, provider chain, caps).  Returns 0 and
 * calls cb exactly once later, unless the connection closes first: then cb
 * never runs.  The password is copied; the caller may wipe its buffer.
 */
static inline int
posta_conn_login(struct posta_conn *c, const char *user, const char *password,
    posta_login_cb *cb, void *ctx)
{
	return POSTA_API(c)->conn_login(c, user, password, cb, ctx);
}

/* posta_resolve() bound to a connection's lifetime, like posta_conn_login. */
static inline int
posta_conn_resolve(struct posta_conn *c, const char *address,
    posta_auth_resolve_cb *cb, void *ctx)
{
	return POSTA_API(c)->conn_resolve(c, address, cb, ctx);
}

#endif
