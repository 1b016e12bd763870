/* conn.h: the core's side of a client connection (struct conn) */
#ifndef POSTA_CORE_CONN_H
#define POSTA_CORE_CONN_H

#include <netinet/in.h>

#include "core.h"

enum tls_state { TLS_OFF = 0, TLS_HANDSHAKE, TLS_ON };

/* A request bound to a connection: cancelled (conn = NULL) at teardown. */
struct conn_req {
	struct conn *conn;
	struct conn_req *next, *prev;
	/* at teardown, after conn is set to NULL; may free the request */
	void (*cancel)(struct conn_req *r);
};

struct conn {
	struct posta_object obj;	/* first: host API for wrappers */
	struct loop *loop;
	struct gen *gen;		/* generation it was accepted under */
	const struct service *svc;
	const struct protocol_reg *proto;
	uv_tcp_t tcp;
	uv_timer_t timer;
	unsigned open_handles;

	struct linebuf in;
	uint8_t *stash;			/* raw input not yet taken in */
	size_t stash_len;

	gnutls_session_t tls;
	enum tls_state tls_state;
	const uint8_t *cipher_in;	/* what the pull function may read */
	size_t cipher_in_len;
	uint8_t *cipher_out;		/* ciphertext gathered by push */
	size_t cipher_out_len, cipher_out_cap;
	char *tls_info;

	const struct posta_conn_handler *h;
	void *hctx;

	uint8_t *out;			/* plaintext output, coalesced */
	size_t out_len, out_cap;
	size_t in_flight;		/* bytes handed to uv_write */

	bool reading;			/* uv_read_start is active */
	bool paused;			/* by the module */
	bool write_blocked;		/* reading stopped for backpressure */
	bool accepted;			/* protocol accept ran */
	bool closing, torn_down;
	bool dirty, ready;
	bool connect_hooks_ran;
	bool eof;
	bool bye_sent;
	bool lingering;			/* torn down; draining until EOF */
	size_t linger_bytes;
	int close_reason;
	struct posta_hook_refusal refusal;
	bool refused;

	uint64_t timeout_ms;
	char session_id[16];
	char remote_ip[INET6_ADDRSTRLEN];
	struct sockaddr_storage remote, local;
	char *user;
	void **data;			/* per module index */
	uint64_t hook_logout;		/* hooks whose login_ok accepted */
	struct conn_req *reqs;

	struct conn *next, *prev;	/* loop->conns */
	struct conn *dirty_next;
	struct conn *ready_next;
};

void conn_req_attach(struct conn *c, struct conn_req *r);
void conn_req_detach(struct conn_req *r);
void conn_set_user(struct conn *c, const char *user);
/* Writes the context fields (service, remote, session, user) into buf. */
void conn_log_fields(const struct conn *c, char *buf, size_t size);

#endif
