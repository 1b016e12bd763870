/* loader.c: finding, checking and initialising modules with libltdl */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

static __thread char loader_msg[1024];

static int
loader_fail(const char **error_r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int
loader_fail(const char **error_r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(loader_msg, sizeof(loader_msg), fmt, ap);
	va_end(ap);
	*error_r = loader_msg;
	return POSTA_ECONFIG;
}

int
loader_init(struct loop *l, const struct posta_list *dirs,
    const char **error_r)
{
	size_t i, len = 1;
	char *path;

	if (lt_dlinit() != 0)
		return loader_fail(error_r, "libltdl: %s", lt_dlerror());
	for (i = 0; i < dirs->n; i++)
		len += strlen(dirs->items[i]) + 1;
	path = calloc(1, len);
	if (path == NULL)
		return -ENOMEM;
	for (i = 0; i < dirs->n; i++) {
		if (i > 0)
			strcat(path, ":");
		strcat(path, dirs->items[i]);
	}
	/* only module_dir: never LD_LIBRARY_PATH or the system paths */
	lt_dlsetsearchpath(path);
	free(path);
	return 0;
}

struct module *
loader_find(struct loop *l, const char *name)
{
	struct module *m;

	for (m = l->modules; m != NULL; m = m->next)
		if (strcmp(m->name, name) == 0)
			return m;
	return NULL;
}

static bool
valid_name(const char *name)
{
	const char *p;

	if (name[0] == '\0' || strlen(name) > 64)
		return false;
	for (p = name; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		    *p == '-' || *p == '_'))
			return false;
	return true;
}

int
loader_load(struct loop *l, const char *name, enum posta_module_kind kind,
    struct module **mod_r, const char **error_r)
{
	const struct posta_module *d;
	const lt_dlinfo *info;
	struct module *m, **pp;
	lt_dlhandle h;
	const char *file;

	m = loader_find(l, name);
	if (m != NULL) {
		if (m->desc->kind != kind)
			return loader_fail(error_r, "module %s is a %s, not a "
			    "%s", name, m->desc->kind == POSTA_MODULE_PROTOCOL ?
			    "protocol" : "plugin", kind == POSTA_MODULE_PROTOCOL
			    ? "protocol" : "plugin");
		*mod_r = m;
		return 0;
	}
	if (!valid_name(name))
		return loader_fail(error_r, "invalid module name \"%s\"", name);
	h = lt_dlopenext(name);
	if (h == NULL)
		return loader_fail(error_r, "cannot load module %s from "
		    "module_dir %s: %s", name, lt_dlgetsearchpath() ?
		    lt_dlgetsearchpath() : "", lt_dlerror());
	info = lt_dlgetinfo(h);
	file = info != NULL && info->filename != NULL ? info->filename : name;
	d = lt_dlsym(h, "posta_module");
	if (d == NULL) {
		loader_fail(error_r, "%s is not a Posta module: no "
		    "posta_module symbol", file);
		lt_dlclose(h);
		return POSTA_EABI;
	}
	/* nothing but these three fields may be read before they check out */
	if (d->abi_major != POSTA_ABI_MAJOR || d->abi_minor > POSTA_ABI_MINOR) {
		loader_fail(error_r, "module %s was built for Posta module ABI "
		    "%u.%u, but this postad provides ABI %u.%u", file,
		    d->abi_major, d->abi_minor, POSTA_ABI_MAJOR,
		    POSTA_ABI_MINOR);
		lt_dlclose(h);
		return POSTA_EABI;
	}
	if (d->size < sizeof(struct posta_module)) {
		loader_fail(error_r, "module %s has a descriptor of %u bytes, "
		    "expected %zu for ABI %u.%u", file, d->size,
		    sizeof(struct posta_module), POSTA_ABI_MAJOR,
		    POSTA_ABI_MINOR);
		lt_dlclose(h);
		return POSTA_EABI;
	}
	if (d->name == NULL || strcmp(d->name, name) != 0 || d->init == NULL ||
	    d->kind != kind) {
		loader_fail(error_r, "module %s does not describe itself as "
		    "%s %s", file, kind == POSTA_MODULE_PROTOCOL ? "protocol" :
		    "plugin", name);
		lt_dlclose(h);
		return POSTA_EABI;
	}
	m = calloc(1, sizeof(*m));
	if (m == NULL || (m->name = strdup(name)) == NULL ||
	    (m->path = strdup(file)) == NULL) {
		if (m != NULL)
			free(m->name);
		free(m);
		lt_dlclose(h);
		return -ENOMEM;
	}
	m->obj.api = &core_host_api;
	m->loop = l;
	m->dl = h;
	m->desc = d;
	m->index = l->n_modules++;
	for (pp = &l->modules; *pp != NULL; pp = &(*pp)->next)
		;
	*pp = m;
	*mod_r = m;
	return 0;
}

int
loader_init_modules(struct loop *l, const char **error_r)
{
	struct module *m;

	for (m = l->modules; m != NULL; m = m->next) {
		const char *err = NULL;
		int r = m->desc->init((struct posta_host *)m,
		    l->gen->module_settings[m->index], &m->state, &err);

		if (r < 0)
			return loader_fail(error_r, "module %s failed to "
			    "start: %s", m->name, err != NULL ? err :
			    posta_strerror(r));
		m->inited = true;
		/* the module points into this generation's settings */
		m->set_gen = gen_ref(l->gen);
	}
	return 0;
}

int
loader_reload_modules(struct loop *l, struct gen *g)
{
	struct module *m;
	int failed = 0;

	for (m = l->modules; m != NULL; m = m->next) {
		const char *err = NULL;

		if (!m->inited || m->desc->reload == NULL)
			continue;
		if (m->desc->reload(m->state, g->module_settings[m->index],
		    &err) < 0) {
			/* the module keeps its old settings: keep them alive */
			log_core(l, POSTA_LOG_ERROR, "reload.module_failed",
			    "module=%s error=\"%s\"", m->name,
			    err != NULL ? err : "unknown");
			failed++;
			continue;
		}
		gen_unref(&m->set_gen);
		m->set_gen = gen_ref(g);
	}
	return failed;
}

void
loader_deinit_modules(struct loop *l)
{
	struct module *m, *next;

	/* protocols were registered last; stop them first */
	for (m = l->modules; m != NULL; m = m->next)
		if (m->inited && m->desc->kind == POSTA_MODULE_PROTOCOL &&
		    m->desc->deinit != NULL)
			m->desc->deinit(m->state);
	for (m = l->modules; m != NULL; m = m->next)
		if (m->inited && m->desc->kind == POSTA_MODULE_PLUGIN &&
		    m->desc->deinit != NULL)
			m->desc->deinit(m->state);
	for (m = l->modules; m != NULL; m = next) {
		next = m->next;
		gen_unref(&m->set_gen);
		/* never dlclose: a module's code may still sit on a stack
		 * trace or in an atexit list; the process is ending anyway */
		free(m->name);
		free(m->path);
		free(m);
	}
	l->modules = NULL;
	/* no lt_dlexit() here: it unloads the modules, and the loop still
	   has to run their handles' close callbacks (loop_free does it) */
}
