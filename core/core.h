/* core.h: postad's internal types shared by the core files */
#ifndef POSTA_CORE_CORE_H
#define POSTA_CORE_CORE_H

#include <stdbool.h>
#include <stdint.h>

#include <gnutls/gnutls.h>
#include <ltdl.h>
#include <uv.h>

#include <posta/posta.h>

#include "arena.h"
#include "conf.h"
#include "linebuf.h"

struct loop;
struct conn;
struct gen;

/* postad's own settings (top level of postad.conf). */
struct global_settings {
	const char *state_dir;
	struct posta_list module_dir;
	const char *user, *group;
	bool allow_root;
	const char *hostname;
	int log_target;			/* LOG_TARGET_* */
	int log_level;			/* enum posta_log_level */
	const char *tls_cert, *tls_key, *tls_chain, *tls_priority;
	uint64_t tls_handshake_timeout_ms;
	uint64_t shutdown_grace_ms;
	uint64_t auth_failure_delay_ms;
};

enum { LOG_TARGET_STDERR = 0, LOG_TARGET_SYSLOG = 1 };

struct service_settings {
	const char *protocol;
	const char *module;		/* "" means: the module named protocol */
	struct posta_addrs listen;
	int tls;			/* enum posta_tls_mode */
	uint64_t max_line_length;
	uint64_t write_queue_max;
	uint64_t idle_timeout_ms;
	bool allow_plaintext_auth;
	bool debug;
};

struct sni_settings {
	const char *cert, *key, *chain;
};

struct sni_cert {
	const char *name;		/* lowercased host name */
	gnutls_certificate_credentials_t creds;
};

/* TLS credentials of one config generation. */
struct tls_creds {
	gnutls_certificate_credentials_t creds;	/* NULL: no tls_cert */
	gnutls_priority_t priority;
	struct sni_cert *sni;
	size_t n_sni;
};

struct service {
	const char *name;
	const char *file;	/* where it was declared, for errors */
	unsigned line;
	struct service_settings set;
	struct module *module;	/* filled when protocols are registered */
};

/* One config generation: live until its last connection closes. */
struct gen {
	unsigned refs;
	struct arena *arena;
	struct conf_doc *doc;
	struct global_settings g;
	struct service *services;
	size_t n_services;
	struct tls_creds tls;
	void **module_settings;	/* per module index, parsed settings */
};

/* A loaded module and the handle it sees (struct posta_host). */
struct module {
	struct posta_object obj;	/* first: host API for wrappers */
	struct loop *loop;
	unsigned index;
	char *name;
	char *path;
	lt_dlhandle dl;
	const struct posta_module *desc;
	void *state;
	bool inited;
	struct gen *set_gen;	/* owns the settings the module holds */
	struct module *next;
};

struct protocol_reg {
	const struct posta_protocol *proto;
	void *state;
	struct module *owner;
	struct protocol_reg *next;
};

struct auth_reg {
	const struct posta_auth_provider *prov;
	void *state;
	struct module *owner;
	bool warned_sync;		/* answered inside its own call */
	struct auth_reg *next;
};

struct hook_reg {
	const struct posta_hooks *hooks;
	void *state;
	struct module *owner;
	unsigned index;		/* bit in conn->hook_logout */
	struct hook_reg *next;
};

struct listener {
	uv_tcp_t tcp;
	struct loop *loop;
	const char *service_name;	/* looked up in the current gen */
	char addr_text[64];
	struct listener *next;
};

/* Per-loop state; nothing in postad is global but the signal handlers. */
struct loop {
	uv_loop_t *uv;
	struct gen *gen;		/* current generation */
	const char *config_path;
	bool foreground;
	struct module *modules;
	unsigned n_modules;
	struct protocol_reg *protocols;
	struct auth_reg *auth;
	struct hook_reg *hooks;
	unsigned n_hooks;
	const struct posta_store_ops *store_ops;
	void *store_state;
	struct module *store_owner;
	const struct posta_queue_ops *queue_ops;
	void *queue_state;
	struct listener *listeners;
	struct conn *conns;		/* every live connection */
	unsigned n_conns;
	struct conn *dirty;		/* connections with unflushed output */
	uv_prepare_t flush;
	struct conn *ready;		/* connections with input to handle */
	uv_idle_t ready_idle;
	uv_signal_t sig_term, sig_int, sig_hup;
	uv_timer_t grace;
	bool stopping;
	uint64_t session_counter, session_salt;
	unsigned n_owed;		/* provider answers still to come */
	uint8_t *read_buf;		/* shared by every read callback */
	size_t read_buf_size;
	int log_level, log_target;
	bool syslog_open;
};

extern const struct posta_host_api core_host_api;

/* conf glue (settings.c) */
int gen_load(struct loop *l, const char *path, struct gen **gen_r,
    const char **error_r);
struct gen *gen_ref(struct gen *g);
void gen_unref(struct gen **g);
const struct service *gen_service(const struct gen *g, const char *name);
int gen_configure_modules(struct loop *l, struct gen *g, const char **error_r);

/* log.c */
void log_init(struct loop *l, const struct global_settings *g);
void log_line(struct loop *l, enum posta_log_level level, const char *event,
    const char *ctx_fields, const char *fmt, va_list ap);
void log_core(struct loop *l, enum posta_log_level level, const char *event,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void log_host_v(const void *obj, enum posta_log_level level,
    const char *event, const char *fmt, va_list ap);
bool log_host_enabled(const void *obj, enum posta_log_level level);

/* loader.c */
int loader_init(struct loop *l, const struct posta_list *dirs,
    const char **error_r);
int loader_load(struct loop *l, const char *name,
    enum posta_module_kind kind, struct module **mod_r, const char **error_r);
struct module *loader_find(struct loop *l, const char *name);
int loader_init_modules(struct loop *l, const char **error_r);
/* Hands each module its new settings; returns how many refused them. */
int loader_reload_modules(struct loop *l, struct gen *g);
void loader_deinit_modules(struct loop *l);

/* listener.c */
int listener_bind_all(struct loop *l, const struct gen *g,
    const char **error_r);
int listener_start_all(struct loop *l, const char **error_r);
void listener_close_all(struct loop *l);

/* tls.c */
int tls_creds_load(struct arena *a, const struct gen *g,
    struct tls_creds *tls_r, const char **error_r);
void tls_creds_free(struct tls_creds *tls);
int tls_session_new(const struct tls_creds *tls, gnutls_session_t *s_r);

/* conn.c */
void conn_accept(struct loop *l, struct listener *ln);
void conn_shutdown_all(struct loop *l, bool force);
void conn_flush_dirty(struct loop *l);

/* host.c, auth.c, hook.c: the host table's entries */
uv_loop_t *host_loop(struct posta_host *h);
const char *host_state_dir(struct posta_host *h);
const char *host_hostname(struct posta_host *h);
int host_register_protocol(struct posta_host *h,
    const struct posta_protocol *proto, void *state);
int host_register_auth(struct posta_host *h,
    const struct posta_auth_provider *prov, void *state);
int host_register_store(struct posta_host *h,
    const struct posta_store_ops *ops, void *state);
int host_register_hooks(struct posta_host *h,
    const struct posta_hooks *hooks, void *state);
int host_resolve(struct posta_host *h, const char *address,
    posta_auth_resolve_cb *cb, void *ctx);
const struct posta_store_ops *host_store(struct posta_host *h,
    void **state_r);
int host_register_queue(struct posta_host *h,
    const struct posta_queue_ops *ops, void *state);
const struct posta_queue_ops *host_queue(struct posta_host *h,
    void **state_r);
int auth_conn_login(struct posta_conn *c, const char *user,
    const char *password, posta_login_cb *cb, void *ctx);
int auth_conn_resolve(struct posta_conn *c, const char *address,
    posta_auth_resolve_cb *cb, void *ctx);

#include "hook.h"

#endif
