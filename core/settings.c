/* settings.c: postad's own settings tables and config generations */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core.h"
#include "util.h"

static const char *const log_targets[] = { "stderr", "syslog", NULL };
static const char *const log_levels[] = { "error", "warn", "info", "debug",
	NULL };
static const char *const tls_modes[] = { "none", "starttls", "implicit",
	NULL };

#define G(f) offsetof(struct global_settings, f)
static const struct posta_setting global_table[] = {
	{ "state_dir", POSTA_SET_STRING, G(state_dir), 0, 0, POSTA_STATE_DIR,
	  NULL },
	{ "module_dir", POSTA_SET_LIST, G(module_dir), 0, 0, POSTA_MODULE_DIR,
	  NULL },
	{ "user", POSTA_SET_STRING, G(user), 0, 0, POSTA_USER, NULL },
	{ "group", POSTA_SET_STRING, G(group), 0, 0, "", NULL },
	{ "allow_root", POSTA_SET_BOOL, G(allow_root), 0, 0, "no", NULL },
	{ "hostname", POSTA_SET_STRING, G(hostname), 0, 0, "", NULL },
	{ "log_target", POSTA_SET_ENUM, G(log_target), 0, 0, "stderr",
	  log_targets },
	{ "log_level", POSTA_SET_ENUM, G(log_level), 0, 0, "info",
	  log_levels },
	{ "tls_cert", POSTA_SET_STRING, G(tls_cert), 0, 0, "", NULL },
	{ "tls_key", POSTA_SET_STRING, G(tls_key), 0, 0, "", NULL },
	{ "tls_chain", POSTA_SET_STRING, G(tls_chain), 0, 0, "", NULL },
	{ "tls_priority", POSTA_SET_STRING, G(tls_priority), 0, 0,
	  "\"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:%SERVER_PRECEDENCE\"",
	  NULL },
	{ "tls_handshake_timeout", POSTA_SET_DURATION,
	  G(tls_handshake_timeout_ms), 1000, 600000, "30s", NULL },
	{ "shutdown_grace", POSTA_SET_DURATION, G(shutdown_grace_ms), 0,
	  3600000, "10s", NULL },
	{ "auth_failure_delay", POSTA_SET_DURATION, G(auth_failure_delay_ms),
	  0, 60000, "2s", NULL },
	POSTA_SETTINGS_END
};
#undef G

#define S(f) offsetof(struct service_settings, f)
static const struct posta_setting service_table[] = {
	{ "protocol", POSTA_SET_STRING, S(protocol), 0, 0, "", NULL },
	{ "module", POSTA_SET_STRING, S(module), 0, 0, "", NULL },
	{ "listen", POSTA_SET_ADDRS, S(listen), 0, 0, "", NULL },
	{ "tls", POSTA_SET_ENUM, S(tls), 0, 0, "none", tls_modes },
	{ "max_line_length", POSTA_SET_SIZE, S(max_line_length), 512,
	  16 * 1024 * 1024, "64k", NULL },
	{ "write_queue_max", POSTA_SET_SIZE, S(write_queue_max), 4096,
	  INT64_C(1) << 30, "1M", NULL },
	{ "idle_timeout", POSTA_SET_DURATION, S(idle_timeout_ms), 0,
	  INT64_C(7) * 24 * 3600 * 1000, "3m", NULL },
	{ "allow_plaintext_auth", POSTA_SET_BOOL, S(allow_plaintext_auth), 0,
	  0, "no", NULL },
	{ "debug", POSTA_SET_BOOL, S(debug), 0, 0, "no", NULL },
	POSTA_SETTINGS_END
};
#undef S

#define C(f) offsetof(struct sni_settings, f)
static const struct posta_setting sni_table[] = {
	{ "cert", POSTA_SET_STRING, C(cert), 0, 0, "", NULL },
	{ "key", POSTA_SET_STRING, C(key), 0, 0, "", NULL },
	{ "chain", POSTA_SET_STRING, C(chain), 0, 0, "", NULL },
	POSTA_SETTINGS_END
};
#undef C

struct gen *
gen_ref(struct gen *g)
{
	g->refs++;
	return g;
}

void
gen_unref(struct gen **gp)
{
	struct gen *g = *gp;

	if (g == NULL)
		return;
	*gp = NULL;
	if (--g->refs > 0)
		return;
	tls_creds_free(&g->tls);
	arena_free(&g->arena);
}

const struct service *
gen_service(const struct gen *g, const char *name)
{
	size_t i;

	for (i = 0; i < g->n_services; i++)
		if (strcmp(g->services[i].name, name) == 0)
			return &g->services[i];
	return NULL;
}

static int
fail(struct arena *a, const char **error_r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int
fail(struct arena *a, const char **error_r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	*error_r = arena_vprintf(a, fmt, ap);
	va_end(ap);
	if (*error_r == NULL)
		*error_r = "out of memory";
	return POSTA_ECONFIG;
}

static bool
same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET)
		return memcmp(a, b, sizeof(struct sockaddr_in)) == 0;
	return memcmp(a, b, sizeof(struct sockaddr_in6)) == 0;
}

static int
load_services(struct gen *g, const char **error_r)
{
	size_t i, n = 0, k;

	for (i = 0; i < g->doc->n_blocks; i++)
		if (strcmp(g->doc->blocks[i].kind, "service") == 0)
			n++;
	g->services = arena_zalloc(g->arena, (n + 1) * sizeof(*g->services));
	if (g->services == NULL)
		return -ENOMEM;
	for (i = 0; i < g->doc->n_blocks; i++) {
		const struct conf_block *b = &g->doc->blocks[i];
		struct service *s;
		const char *where;
		int r;

		if (strcmp(b->kind, "service") != 0)
			continue;
		s = &g->services[g->n_services];
		s->name = b->name;
		s->file = b->file;
		s->line = b->line;
		where = arena_printf(g->arena, "service %s", b->name);
		r = conf_apply(g->arena, service_table, where, b->items,
		    b->n_items, &s->set, error_r);
		if (r < 0)
			return r;
		if (s->set.protocol == NULL || s->set.protocol[0] == '\0')
			return fail(g->arena, error_r, "%s:%u: expected "
			    "\"protocol = NAME\" in service %s", b->file,
			    b->line, b->name);
		if (s->set.module[0] == '\0')
			s->set.module = s->set.protocol;
		if (s->set.listen.n == 0)
			return fail(g->arena, error_r, "%s:%u: expected "
			    "\"listen = ADDRESS:PORT, ...\" in service %s",
			    b->file, b->line, b->name);
		/* an address bound twice would fail later with less context */
		for (k = 0; k < g->n_services; k++) {
			const struct service *o = &g->services[k];
			size_t x, y;

			for (x = 0; x < s->set.listen.n; x++)
				for (y = 0; y < o->set.listen.n; y++)
					if (same_addr(&s->set.listen.addrs[x],
					    &o->set.listen.addrs[y]) &&
					    ((const struct sockaddr_in *)
					    &s->set.listen.addrs[x])->sin_port
					    != 0)
						return fail(g->arena, error_r,
						    "%s:%u: service %s listens "
						    "on an address service %s "
						    "(%s:%u) already uses",
						    b->file, b->line, s->name,
						    o->name, o->file, o->line);
		}
		g->n_services++;
	}
	return 0;
}

static int
check_blocks(struct gen *g, const char **error_r)
{
	size_t i;

	for (i = 0; i < g->doc->n_blocks; i++) {
		const struct conf_block *b = &g->doc->blocks[i];

		if (strcmp(b->kind, "service") != 0 &&
		    strcmp(b->kind, "protocol") != 0 &&
		    strcmp(b->kind, "plugin") != 0 &&
		    strcmp(b->kind, "certificate") != 0)
			return fail(g->arena, error_r, "%s:%u: expected a "
			    "block of kind service, protocol, plugin or "
			    "certificate, got \"%s\"", b->file, b->line,
			    b->kind);
	}
	return 0;
}

static int
load_sni(struct gen *g, const char **error_r)
{
	size_t i;

	for (i = 0; i < g->doc->n_blocks; i++) {
		const struct conf_block *b = &g->doc->blocks[i];
		struct sni_settings *sni;
		int r;

		if (strcmp(b->kind, "certificate") != 0)
			continue;
		sni = arena_zalloc(g->arena, sizeof(*sni));
		if (sni == NULL)
			return -ENOMEM;
		r = conf_apply(g->arena, sni_table,
		    arena_printf(g->arena, "certificate %s", b->name),
		    b->items, b->n_items, sni, error_r);
		if (r < 0)
			return r;
		if (sni->cert[0] == '\0' || sni->key[0] == '\0')
			return fail(g->arena, error_r, "%s:%u: expected cert "
			    "and key in certificate %s", b->file, b->line,
			    b->name);
	}
	return 0;
}

int
gen_load(struct loop *l, const char *path, struct gen **gen_r,
    const char **error_r)
{
	struct gen *g;
	int r;

	*error_r = NULL;
	g = calloc(1, sizeof(*g));
	if (g == NULL)
		return -ENOMEM;
	g->arena = arena_new(16 * 1024, 0);
	if (g->arena == NULL) {
		free(g);
		return -ENOMEM;
	}
	/* a generation is struct gen + its arena; free the struct with it */
	if (arena_on_free(g->arena, free, g) < 0) {
		arena_free(&g->arena);
		free(g);
		return -ENOMEM;
	}
	g->refs = 1;
	r = conf_parse_file(g->arena, path, &g->doc, error_r);
	if (r == 0)
		r = conf_apply(g->arena, global_table, "global settings",
		    g->doc->globals, g->doc->n_globals, &g->g, error_r);
	if (r == 0)
		r = check_blocks(g, error_r);
	if (r == 0)
		r = load_services(g, error_r);
	if (r == 0)
		r = load_sni(g, error_r);
	if (r == 0 && g->g.hostname[0] == '\0') {
		char host[256];

		if (gethostname(host, sizeof(host)) < 0)
			snprintf(host, sizeof(host), "localhost");
		host[sizeof(host) - 1] = '\0';
		g->g.hostname = arena_strdup(g->arena, host);
	}
	if (r == 0)
		r = tls_creds_load(g->arena, g, &g->tls, error_r);
	if (r < 0) {
		if (*error_r != NULL) {
			/* the message lives in the arena we are freeing */
			static __thread char msg[1024];

			snprintf(msg, sizeof(msg), "%s", *error_r);
			*error_r = msg;
		} else {
			*error_r = posta_strerror(r);
		}
		g->refs = 0;
		tls_creds_free(&g->tls);
		arena_free(&g->arena);
		return r < 0 ? r : POSTA_ECONFIG;
	}
	*gen_r = g;
	return 0;
}

/* Parses each loaded module's block of generation g into its settings. */
int
gen_configure_modules(struct loop *l, struct gen *g, const char **error_r)
{
	struct module *m;
	static __thread char msg[1024];

	g->module_settings = arena_zalloc(g->arena,
	    (l->n_modules + 1) * sizeof(void *));
	if (g->module_settings == NULL)
		return -ENOMEM;
	for (m = l->modules; m != NULL; m = m->next) {
		const char *kind = m->desc->kind == POSTA_MODULE_PROTOCOL ?
		    "protocol" : "plugin";
		const struct conf_block *b = conf_find_block(g->doc, kind,
		    m->name);
		void *set;
		int r;

		set = arena_zalloc(g->arena, m->desc->settings_size + 1);
		if (set == NULL)
			return -ENOMEM;
		if (m->desc->settings != NULL) {
			r = conf_apply(g->arena, m->desc->settings,
			    arena_printf(g->arena, "%s %s", kind, m->name),
			    b != NULL ? b->items : NULL,
			    b != NULL ? b->n_items : 0, set, error_r);
			if (r < 0) {
				snprintf(msg, sizeof(msg), "%s", *error_r);
				*error_r = msg;
				return r;
			}
		} else if (b != NULL && b->n_items > 0) {
			snprintf(msg, sizeof(msg), "%s:%u: %s %s takes no "
			    "settings", b->items[0].file, b->items[0].line,
			    kind, m->name);
			*error_r = msg;
			return POSTA_ECONFIG;
		}
		g->module_settings[m->index] = set;
	}
	return 0;
}
