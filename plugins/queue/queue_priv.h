/* queue_priv.h: the plugin's shared state: messages, destinations */
#ifndef POSTA_QUEUE_PRIV_H
#define POSTA_QUEUE_PRIV_H

#include <gnutls/gnutls.h>
#include <posta/posta.h>

#include "queue_policy.h"
#include "queue_spool.h"

/*
 * How the pieces fit (queue.c has the module and the submission API):
 *
 *  - Every committed message is a struct qmsg in memory (envelope and
 *    per-recipient state, the journal's twin).  queue_sched.c decides
 *    when recipients are due and groups them into jobs: one job is one
 *    message to one destination, i.e. one SMTP transaction.
 *  - A destination (struct qdest) is where a job goes: a domain's MX
 *    hosts, a static route's host, or the smarthost.  It resolves its
 *    hosts once (queue_dns.c, c-ares on the loop), holds the jobs that
 *    wait, and opens connections (queue_client.c) up to the limits; each
 *    connection takes job after job until none is left.
 *  - Recipients that are resolved at delivery (bounces) run as local
 *    jobs (queue_local.c): the auth chain says whether the address is one
 *    of our users, and the store delivers it.
 *  - Every result goes to the journal (a thread-pool append + fsync)
 *    before anything depends on it; a message leaves the spool when all
 *    its recipients are delivered or bounced.
 *
 * Everything here runs on the loop thread; thread-pool work touches only
 * copies and reports back through uv_after_work_cb.
 */

struct queue_settings {
	uint64_t max_age_ms;
	uint64_t retry_min_ms;
	uint64_t retry_max_ms;
	int64_t max_connections;
	int64_t max_connections_per_domain;
	int64_t max_rcpts_per_transaction;
	int64_t max_messages;
	struct posta_addrs dns_servers;
	uint64_t dns_timeout_ms;
	struct posta_list routes;
	const char *smarthost;
	const char *smarthost_user;
	const char *smarthost_password_file;
	bool smarthost_auth_plaintext;
	int tls;			/* enum queue_tls */
	bool tls_verify;
	const char *tls_priority;
	uint64_t connect_timeout_ms;
	uint64_t command_timeout_ms;
	uint64_t data_timeout_ms;
	const char *helo_name;
	int64_t smtp_port;
	int address_family;		/* enum queue_family */
	uint64_t bounce_return_max;
};

enum queue_tls {
	QUEUE_TLS_NO = 0,
	QUEUE_TLS_OPPORTUNISTIC,
	QUEUE_TLS_REQUIRED,
};

enum queue_family {
	QUEUE_FAMILY_ANY = 0,	/* IPv4 addresses first, then IPv6 */
	QUEUE_FAMILY_IPV4,
	QUEUE_FAMILY_IPV6,
};

struct qdns;
struct qmsg;
struct qdest;
struct qconn;

struct queue {
	struct posta_host *host;
	uv_loop_t *loop;
	const struct queue_settings *set;	/* until reload */
	char *dir;				/* <state_dir>/queue */
	char *helo;
	char *postmaster;			/* MAILER-DAEMON@host */
	struct qroute *routes;
	size_t n_routes;
	bool has_smarthost;
	struct qroute smarthost;
	char *smarthost_password;		/* wiped when freed */
	struct qdns *dns;
	gnutls_certificate_credentials_t tls_creds;
	gnutls_priority_t tls_prio;
	uv_timer_t timer;			/* the scheduler's wake-up */
	uint64_t timer_due;			/* loop ms; 0 = not armed */
	uv_timer_t kick;			/* 0 ms: run soon, once */
	bool kick_armed;
	uv_fs_event_t ctl_watch;
	bool ctl_watching;
	bool ctl_busy, ctl_again;
	struct qmsg *msgs;			/* doubly linked, by age */
	struct qmsg *msgs_tail;
	size_t n_msgs;
	size_t n_submitting;			/* begun, not finished */
	struct qdest *dests;
	size_t n_conns;				/* outbound, all dests */
	size_t n_jobs;				/* jobs in flight or waiting */
	unsigned refs;				/* handles and work in flight */
	bool stopping;
	bool host_gone;				/* deinit returned */
	bool loaded;				/* startup scan done */
	struct posta_queue_msg *submissions;	/* begun, not yet done */
	/* ids committed or being committed, not yet in msgs */
	char (*pending_ids)[QSPOOL_ID_LEN + 1];
	size_t n_pending_ids, cap_pending_ids;
	uint32_t seed;
	uint64_t n_delivered, n_deferred, n_failed, n_bounces;
};

/* One committed message. */
struct qmsg {
	struct queue *q;
	struct qmsg *prev, *next;
	struct qspool_env env;
	bool *busy;		/* per recipient: a job holds it now */
	unsigned jobs;		/* jobs (and local deliveries) in flight */
	unsigned ops;		/* other thread-pool work in flight */
	/* journal lines not yet durable; one append at a time */
	char *jbuf;
	size_t jlen, jcap;
	bool jwriting;
	unsigned jlines;	/* appended since the file was last written */
	bool bouncing;		/* a bounce is being made */
	int64_t bounce_retry;	/* seconds; a failed bounce tries again */
	bool removing;
	bool deleted;		/* posta queue delete: drop when idle */
	bool gone;		/* removed from the list; free when ops end */
};

/* One SMTP transaction's worth: a message's recipients for one dest. */
struct qjob {
	struct qmsg *msg;
	struct qdest *dest;
	struct qjob *next;
	size_t n;
	size_t *rcpts;		/* indices into msg->env.rcpts */
	bool *settled;		/* per entry: a result was recorded */
};

struct qtarget {
	char host[QPOLICY_HOST_MAX];
	struct sockaddr_storage addr;	/* port set */
	socklen_t addr_len;
};

enum qdest_rstate {
	QDEST_UNRESOLVED = 0,
	QDEST_RESOLVING,
	QDEST_READY,
};

struct qdest {
	struct queue *q;
	struct qdest *prev, *next;
	char key[2 * QPOLICY_HOST_MAX + 16];
	char domain[QPOLICY_HOST_MAX];	/* the MX domain, or the host */
	bool use_mx;
	bool is_smarthost;
	char host[QPOLICY_HOST_MAX];	/* !use_mx: host name or address */
	uint16_t port;
	struct qjob *jobs, *jobs_tail;
	size_t n_jobs;
	struct qconn *conns;
	size_t n_conns;
	size_t n_unready;		/* conns not yet able to take a job */
	enum qdest_rstate rstate;
	struct qtarget *targets;
	size_t n_targets;
	uint64_t resolved_at;		/* loop ms */
	uint64_t dead;			/* bit i: target i failed this round */
	/* why the last connection that never got ready failed */
	char fail_status[12];
	char fail_diag[600];
	bool kicking, kick_again;	/* see qdest_kick() */
};

/* ---- queue.c ---- */
/* a spool id about to be committed outside a submission (a bounce) */
int queue_pending_reserve(struct queue *q, const char *id);
void queue_pending_del(struct queue *q, const char *id);
void queue_ref(struct queue *q);
void queue_unref(struct queue *q);
int64_t queue_now(void);
/*
 * posta_log() while the host is valid: it is not after deinit returns,
 * and thread-pool work may still complete then (postad runs the loop
 * once more to let it).
 */
void queue_log(const struct queue *q, enum posta_log_level level,
    const char *event, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* log helpers: s quoted for a log line into buf */
const char *queue_q(struct queue *q, const char *s, char *buf, size_t size);

/* ---- queue_sched.c ---- */
struct qmsg *qmsg_add(struct queue *q, struct qspool_env *env);
struct qmsg *qmsg_find(struct queue *q, const char *id);
void qmsg_free_all(struct queue *q);
/* result of one recipient of a job; kind 'D', 'T' or 'F' */
void qjob_result(struct qjob *job, size_t i, char kind, const char *status,
    const char *remote, const char *diag);
/* every unsettled recipient of the job gets this result */
void qjob_result_all(struct qjob *job, char kind, const char *status,
    const char *remote, const char *diag);
/* the job is over (every unsettled recipient is deferred) */
void qjob_finish(struct qjob *job);
/* re-routes recipient i of a local job over SMTP (it resolved EXTERNAL) */
int qsched_route_external(struct qmsg *msg, size_t rcpt);
void qsched_kick(struct queue *q);
void qsched_flush(struct queue *q, const char *id);
void qsched_delete(struct queue *q, const char *id);
int qsched_init(struct queue *q);
void qsched_stop(struct queue *q);
/* a connection's job source and its report when it ends */
struct qjob *qdest_take_job(struct qdest *d);
void qdest_conn_ready(struct qdest *d);
void qdest_conn_gone(struct qdest *d, bool was_ready, bool ok,
    const char *status, const char *diag);
/* the message was submitted (or loaded): schedule it */
void qsched_message_added(struct queue *q, struct qmsg *m);

/* ---- queue_dns.c ---- */
struct qdns_result {
	int err;		/* 0, -ECANCELED, POSTA_ETEMP or -ENOENT */
	char status[12];	/* for failures: "5.1.2", "4.4.3" */
	char why[400];
	size_t n;
	const struct qtarget *targets;
};

typedef void qdns_cb(void *ctx, const struct qdns_result *res);

int qdns_new(uv_loop_t *loop, const struct queue_settings *set,
    struct qdns **dns_r, const char **error_r);
int qdns_set_servers(struct qdns *dns, const struct posta_addrs *servers);
/* pending lookups end with -ECANCELED (their callbacks run at once) */
void qdns_free(struct qdns **dns);
/*
 * Finds where mail for name goes: with mx, its MX hosts in order (null
 * MX and loops to self are permanent failures, no MX record means the
 * name itself); without, the name's own addresses.  Each host's A and
 * AAAA records follow as targets, port set.  Async rule.
 */
int qdns_lookup(struct qdns *dns, const char *name, bool mx, uint16_t port,
    const char *self, int family, qdns_cb *cb, void *ctx);

/* ---- queue_client.c ---- */
int qconn_start(struct qdest *d);
/* closes every connection of d at once (shutdown): jobs are deferred */
void qconn_abort_all(struct qdest *d);

/* ---- queue_local.c ---- */
int qlocal_start(struct qjob *job);

#endif
