/* module.h: the descriptor every Posta module exports as posta_module */
#ifndef POSTA_MODULE_H
#define POSTA_MODULE_H

enum posta_module_kind {
	POSTA_MODULE_PROTOCOL = 1,	/* configured by "protocol NAME { }" */
	POSTA_MODULE_PLUGIN = 2,	/* configured by "plugin NAME { }" */
};

/*
 * Lifecycle, as postad drives it:
 *  1. load: lt_dlopenext, lt_dlsym("posta_module"); abi_major, abi_minor and
 *     size are checked before any other field is read.  Another major, or a
 *     newer minor than postad's, is refused naming both versions.
 *  2. configure: the core parses the module's block against .settings into
 *     a zeroed struct of .settings_size bytes.
 *  3. init(host, settings, &state, &error) runs after the privilege drop, on
 *     the loop thread.  It registers what the module provides through host
 *     (see host.h) and returns 0, or a negative error with *error_r set;
 *     postad then refuses to start.  settings stays valid until reload or
 *     deinit; host stays valid until deinit returns.
 *  4. reload(state, settings, &error) (optional) on SIGHUP with the new
 *     generation's settings; live sessions keep their state.  On error the
 *     old settings stay in force.
 *  5. deinit(state) at shutdown after every session has closed.  Modules are
 *     never unloaded while postad runs.
 */
struct posta_module {
	uint16_t abi_major, abi_minor;	/* first: checked before all else */
	uint32_t size;			/* sizeof(struct posta_module) */
	const char *name;		/* = the config block name */
	const char *version;
	enum posta_module_kind kind;
	const struct posta_setting *settings;	/* may be NULL */
	size_t settings_size;
	int (*init)(struct posta_host *host, const void *settings,
	    void **state_r, const char **error_r);
	int (*reload)(void *state, const void *settings, const char **error_r);
	void (*deinit)(void *state);
};

#define POSTA_MODULE_EXPORT __attribute__((visibility("default")))

/* POSTA_MODULE(.name = "limiter", .kind = POSTA_MODULE_PLUGIN, ...); */
#define POSTA_MODULE(...)						\
	POSTA_MODULE_EXPORT const struct posta_module posta_module = {	\
		.abi_major = POSTA_ABI_MAJOR,				\
		.abi_minor = POSTA_ABI_MINOR,				\
		.size = sizeof(struct posta_module),			\
		__VA_ARGS__						\
	}

#endif
