/* main.c: postad entry point: options, startup order, signals, exit */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "core.h"
#include "util.h"

#define DEFAULT_CONFIG POSTA_SYSCONF_DIR "/postad.conf"

static void
usage(FILE *f)
{
	fprintf(f, "usage: postad [-F] [-t] [-c CONFIG] [-V]\n"
	    "  -c CONFIG  configuration file (default %s)\n"
	    "  -F         stay in the foreground, log to stderr\n"
	    "  -t         check the configuration and modules, then exit\n"
	    "  -V         print the version and module ABI, then exit\n",
	    DEFAULT_CONFIG);
}

/* Loads every module the generation names: plugins first, then protocols. */
static int
load_modules(struct loop *l, struct gen *g, const char **error_r)
{
	size_t i;
	int r;

	for (i = 0; i < g->doc->n_blocks; i++) {
		const struct conf_block *b = &g->doc->blocks[i];
		struct module *m;

		if (strcmp(b->kind, "plugin") != 0)
			continue;
		r = loader_load(l, b->name, POSTA_MODULE_PLUGIN, &m, error_r);
		if (r < 0)
			return r;
	}
	for (i = 0; i < g->doc->n_blocks; i++) {
		const struct conf_block *b = &g->doc->blocks[i];
		struct module *m;

		if (strcmp(b->kind, "protocol") != 0)
			continue;
		r = loader_load(l, b->name, POSTA_MODULE_PROTOCOL, &m, error_r);
		if (r < 0)
			return r;
	}
	/* a service may name a protocol without configuring it */
	for (i = 0; i < g->n_services; i++) {
		struct module *m;

		if (loader_find(l, g->services[i].set.module) != NULL)
			continue;
		r = loader_load(l, g->services[i].set.module,
		    POSTA_MODULE_PROTOCOL, &m, error_r);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Every service must be served by a registered protocol. */
static int
bind_services(struct loop *l, struct gen *g, const char **error_r)
{
	static char msg[512];
	size_t i;

	for (i = 0; i < g->n_services; i++) {
		struct service *s = &g->services[i];
		struct protocol_reg *p;

		s->module = NULL;
		for (p = l->protocols; p != NULL; p = p->next)
			if (strcmp(p->proto->name, s->set.protocol) == 0)
				s->module = p->owner;
		if (s->module == NULL) {
			snprintf(msg, sizeof(msg), "%s:%u: service %s: no "
			    "loaded module provides protocol %s", s->file,
			    s->line, s->name, s->set.protocol);
			*error_r = msg;
			return POSTA_ECONFIG;
		}
	}
	return 0;
}

static int
prepare_state_dir(const struct global_settings *g, uid_t uid, gid_t gid,
    const char **error_r)
{
	static char msg[512];
	int ret = util_mkdir_parents(g->state_dir, 0750);

	if (ret < 0) {
		snprintf(msg, sizeof(msg), "cannot create state_dir %s: %s",
		    g->state_dir, strerror(-ret));
		*error_r = msg;
		return ret;
	}
	if (getuid() == 0 && uid != 0 && chown(g->state_dir, uid, gid) < 0) {
		snprintf(msg, sizeof(msg), "cannot chown state_dir %s: %s",
		    g->state_dir, strerror(errno));
		*error_r = msg;
		return -errno;
	}
	return 0;
}

static int
drop_privileges(struct loop *l, const struct global_settings *g,
    uid_t *uid_r, gid_t *gid_r, bool do_drop, const char **error_r)
{
	static char msg[512];
	struct passwd *pw;
	gid_t gid;

	*uid_r = getuid();
	*gid_r = getgid();
	if (getuid() != 0)
		return 0;	/* started unprivileged: nothing to drop */
	pw = getpwnam(g->user);
	if (pw == NULL) {
		snprintf(msg, sizeof(msg), "user \"%s\" does not exist; create "
		    "it (adduser --system --group %s) or set user = ...",
		    g->user, g->user);
		*error_r = msg;
		return POSTA_ECONFIG;
	}
	gid = pw->pw_gid;
	if (g->group[0] != '\0') {
		struct group *gr = getgrnam(g->group);

		if (gr == NULL) {
			snprintf(msg, sizeof(msg), "group \"%s\" does not "
			    "exist", g->group);
			*error_r = msg;
			return POSTA_ECONFIG;
		}
		gid = gr->gr_gid;
	}
	if (pw->pw_uid == 0 && !g->allow_root) {
		snprintf(msg, sizeof(msg), "refusing to run sessions as root "
		    "(user = %s); set allow_root = yes if you really mean it",
		    g->user);
		*error_r = msg;
		return POSTA_ECONFIG;
	}
	*uid_r = pw->pw_uid;
	*gid_r = gid;
	if (!do_drop)
		return 0;
	if (setgroups(1, &gid) < 0 || setgid(gid) < 0 ||
	    setuid(pw->pw_uid) < 0) {
		snprintf(msg, sizeof(msg), "cannot drop privileges to %s: %s",
		    g->user, strerror(errno));
		*error_r = msg;
		return -errno;
	}
	if (pw->pw_uid != 0 && setuid(0) == 0) {
		*error_r = "privileges could be regained after dropping them";
		return POSTA_ECONFIG;
	}
	log_core(l, POSTA_LOG_INFO, "postad.privileges_dropped",
	    "user=%s uid=%u gid=%u", g->user, (unsigned)pw->pw_uid,
	    (unsigned)gid);
	return 0;
}

static void
flush_cb(uv_prepare_t *p)
{
	conn_flush_dirty(p->data);
}

static void
grace_cb(uv_timer_t *t)
{
	struct loop *l = t->data;

	log_core(l, POSTA_LOG_INFO, "postad.grace_over", "sessions=%u",
	    l->n_conns);
	conn_shutdown_all(l, true);
}

static void
begin_shutdown(struct loop *l, const char *why)
{
	if (l->stopping) {
		/* a second signal: do not wait for the grace period */
		conn_shutdown_all(l, true);
		return;
	}
	l->stopping = true;
	log_core(l, POSTA_LOG_INFO, "postad.stopping", "signal=%s sessions=%u "
	    "grace_ms=%llu", why, l->n_conns,
	    (unsigned long long)l->gen->g.shutdown_grace_ms);
	listener_close_all(l);
	uv_signal_stop(&l->sig_hup);
	conn_shutdown_all(l, false);
	if (l->n_conns == 0) {
		uv_stop(l->uv);
		return;
	}
	uv_timer_start(&l->grace, grace_cb, l->gen->g.shutdown_grace_ms, 0);
}

static bool
str_same(const char *a, const char *b)
{
	return strcmp(a != NULL ? a : "", b != NULL ? b : "") == 0;
}

static bool
list_same(const struct posta_list *a, const struct posta_list *b)
{
	size_t i;

	if (a->n != b->n)
		return false;
	for (i = 0; i < a->n; i++)
		if (strcmp(a->items[i], b->items[i]) != 0)
			return false;
	return true;
}

static bool
addr_same(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;

		return x->sin_port == y->sin_port &&
		    x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a,
		    *y = (const void *)b;

		return x->sin6_port == y->sin6_port &&
		    x->sin6_scope_id == y->sin6_scope_id &&
		    memcmp(&x->sin6_addr, &y->sin6_addr,
		    sizeof(x->sin6_addr)) == 0;
	}
	return false;
}

static bool
addrs_same(const struct posta_addrs *a, const struct posta_addrs *b)
{
	size_t i;

	if (a->n != b->n)
		return false;
	for (i = 0; i < a->n; i++)
		if (!addr_same(&a->addrs[i], &b->addrs[i]))
			return false;
	return true;
}

/*
 * What a reload cannot change takes effect at the next start; say so
 * rather than look as if it had been applied.  Returns how many.
 */
static int
report_needs_restart(struct loop *l, const struct gen *old,
    const struct gen *g)
{
	static const char why[] = "reason=\"takes effect at the next start\"";
	int n = 0;
	size_t i, j;

	if (!str_same(old->g.state_dir, g->g.state_dir) && ++n)
		log_core(l, POSTA_LOG_WARN, "reload.needs_restart",
		    "setting=state_dir %s", why);
	if (!str_same(old->g.user, g->g.user) && ++n)
		log_core(l, POSTA_LOG_WARN, "reload.needs_restart",
		    "setting=user %s", why);
	if (!str_same(old->g.group, g->g.group) && ++n)
		log_core(l, POSTA_LOG_WARN, "reload.needs_restart",
		    "setting=group %s", why);
	if (old->g.allow_root != g->g.allow_root && ++n)
		log_core(l, POSTA_LOG_WARN, "reload.needs_restart",
		    "setting=allow_root %s", why);
	if (!list_same(&old->g.module_dir, &g->g.module_dir) && ++n)
		log_core(l, POSTA_LOG_WARN, "reload.needs_restart",
		    "setting=module_dir %s", why);
	for (i = 0; i < g->n_services; i++) {
		const struct service *s = &g->services[i];
		const struct service *was = NULL;
		struct listener *ln;
		bool bound = false;

		for (ln = l->listeners; ln != NULL; ln = ln->next)
			if (strcmp(ln->service_name, s->name) == 0)
				bound = true;
		for (j = 0; j < old->n_services; j++)
			if (strcmp(old->services[j].name, s->name) == 0)
				was = &old->services[j];
		if (!bound) {
			n++;
			log_core(l, POSTA_LOG_WARN, "reload.needs_restart",
			    "service=%s reason=\"new listeners are bound at "
			    "start only\"", s->name);
		} else if (was != NULL &&
		    !addrs_same(&was->set.listen, &s->set.listen)) {
			n++;
			log_core(l, POSTA_LOG_WARN, "reload.needs_restart",
			    "service=%s setting=listen reason=\"listeners are "
			    "bound at start only\"", s->name);
		}
	}
	return n;
}

static void
reload(struct loop *l)
{
	struct gen *g = NULL, *old;
	const char *err = NULL;
	int r, restart, failed;

	r = gen_load(l, l->config_path, &g, &err);
	if (r == 0)
		r = gen_configure_modules(l, g, &err);
	if (r == 0)
		r = bind_services(l, g, &err);
	if (r < 0) {
		log_core(l, POSTA_LOG_ERROR, "reload.failed", "error=\"%s\" "
		    "action=\"keeping the running configuration\"",
		    err != NULL ? err : posta_strerror(r));
		gen_unref(&g);
		return;
	}
	restart = report_needs_restart(l, l->gen, g);
	old = l->gen;
	l->gen = g;
	log_init(l, &g->g);
	failed = loader_reload_modules(l, g);
	/* live connections hold their own reference to the old generation */
	gen_unref(&old);
	log_core(l, failed > 0 || restart > 0 ? POSTA_LOG_WARN :
	    POSTA_LOG_INFO, "postad.reloaded", "config=%s "
	    "modules_failed=%d needs_restart=%d", l->config_path, failed,
	    restart);
}

static void
signal_cb(uv_signal_t *s, int signum)
{
	struct loop *l = s->data;

	switch (signum) {
	case SIGHUP:
		reload(l);
		break;
	case SIGTERM:
		begin_shutdown(l, "TERM");
		break;
	case SIGINT:
		begin_shutdown(l, "INT");
		break;
	default:
		break;
	}
}

static int
daemonize(void)
{
	pid_t pid = fork();
	int fd;

	if (pid < 0)
		return -errno;
	if (pid > 0)
		_exit(0);
	if (setsid() < 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0)
		_exit(0);
	fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
	return 0;
}

static void
walk_close(uv_handle_t *h, void *arg)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

/* Releases everything, so sanitizers see a clean exit on every path. */
static void
loop_free(struct loop *l)
{
	struct protocol_reg *p, *pn;
	struct auth_reg *a, *an;
	struct hook_reg *h, *hn;

	loader_deinit_modules(l);
	listener_close_all(l);
	uv_walk(l->uv, walk_close, NULL);
	uv_run(l->uv, UV_RUN_DEFAULT);
	uv_loop_close(l->uv);
	/* only now: close callbacks above may live in module code */
	lt_dlexit();
	gen_unref(&l->gen);
	for (p = l->protocols; p != NULL; p = pn) {
		pn = p->next;
		free(p);
	}
	for (a = l->auth; a != NULL; a = an) {
		an = a->next;
		free(a);
	}
	for (h = l->hooks; h != NULL; h = hn) {
		hn = h->next;
		free(h);
	}
	free(l->read_buf);
	gnutls_global_deinit();
	if (l->syslog_open)
		closelog();
}

int
main(int argc, char **argv)
{
	struct loop l;
	const char *config = DEFAULT_CONFIG, *err = NULL;
	bool check_only = false, foreground = false;
	uid_t uid;
	gid_t gid;
	int opt, r;

	while ((opt = getopt(argc, argv, "c:FtVh")) != -1) {
		switch (opt) {
		case 'c':
			config = optarg;
			break;
		case 'F':
			foreground = true;
			break;
		case 't':
			check_only = true;
			break;
		case 'V':
			printf("postad %s (module ABI %u.%u)\n", PACKAGE_VERSION,
			    POSTA_ABI_MAJOR, POSTA_ABI_MINOR);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 64;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 64;
	}

	memset(&l, 0, sizeof(l));
	l.uv = uv_default_loop();
	l.config_path = config;
	l.foreground = foreground;
	l.log_level = POSTA_LOG_INFO;
	l.session_salt = (uint64_t)time(NULL) * 2654435761u ^ (uint64_t)getpid();
	l.read_buf_size = 64 * 1024;
	l.read_buf = malloc(l.read_buf_size);
	if (l.read_buf == NULL)
		return 1;
	gnutls_global_init();

	r = gen_load(&l, config, &l.gen, &err);
	if (r < 0) {
		fprintf(stderr, "postad: %s\n", err);
		loop_free(&l);
		return 1;
	}
	if (!foreground && !check_only)
		l.gen->g.log_target = LOG_TARGET_SYSLOG;
	log_init(&l, &l.gen->g);
	r = loader_init(&l, &l.gen->g.module_dir, &err);
	if (r == 0)
		r = load_modules(&l, l.gen, &err);
	if (r == 0)
		r = gen_configure_modules(&l, l.gen, &err);
	if (r == 0)
		r = drop_privileges(&l, &l.gen->g, &uid, &gid, false, &err);
	if (r < 0) {
		fprintf(stderr, "postad: %s\n", err != NULL ? err :
		    posta_strerror(r));
		loop_free(&l);
		return 1;
	}
	if (check_only) {
		printf("postad: configuration %s is valid\n", config);
		loop_free(&l);
		return 0;
	}

	r = listener_bind_all(&l, l.gen, &err);
	if (r == 0)
		r = prepare_state_dir(&l.gen->g, uid, gid, &err);
	if (r == 0 && !foreground)
		r = daemonize();
	if (r == 0)
		r = drop_privileges(&l, &l.gen->g, &uid, &gid, true, &err);
	if (r == 0)
		r = loader_init_modules(&l, &err);
	if (r == 0)
		r = bind_services(&l, l.gen, &err);
	if (r < 0) {
		log_core(&l, POSTA_LOG_ERROR, "postad.start_failed",
		    "error=\"%s\"", err != NULL ? err : posta_strerror(r));
		if (!foreground || l.gen->g.log_target != LOG_TARGET_STDERR)
			fprintf(stderr, "postad: %s\n", err != NULL ? err :
			    posta_strerror(r));
		loop_free(&l);
		return 1;
	}

	uv_prepare_init(l.uv, &l.flush);
	l.flush.data = &l;
	uv_prepare_start(&l.flush, flush_cb);
	uv_idle_init(l.uv, &l.ready_idle);
	l.ready_idle.data = &l;
	uv_timer_init(l.uv, &l.grace);
	l.grace.data = &l;
	uv_signal_init(l.uv, &l.sig_term);
	uv_signal_init(l.uv, &l.sig_int);
	uv_signal_init(l.uv, &l.sig_hup);
	l.sig_term.data = l.sig_int.data = l.sig_hup.data = &l;
	uv_signal_start(&l.sig_term, signal_cb, SIGTERM);
	uv_signal_start(&l.sig_int, signal_cb, SIGINT);
	uv_signal_start(&l.sig_hup, signal_cb, SIGHUP);
	/* a peer that vanished must cost one session, not the daemon */
	signal(SIGPIPE, SIG_IGN);

	listener_start_all(&l, &err);
	log_core(&l, POSTA_LOG_INFO, "postad.ready", "version=%s pid=%ld "
	    "config=%s", PACKAGE_VERSION, (long)getpid(), config);
	uv_run(l.uv, UV_RUN_DEFAULT);
	/*
	 * Providers may still owe answers (a hash on the thread pool for a
	 * session that is gone): let them arrive before the modules go away.
	 */
	while (l.n_owed > 0 && uv_run(l.uv, UV_RUN_ONCE) != 0)
		;

	/* every session has closed (or was closed after the grace period) */
	log_core(&l, POSTA_LOG_INFO, "postad.stopped", "sessions=%u",
	    l.n_conns);
	loop_free(&l);
	return 0;
}
