/* conf.h: typed settings tables that modules declare and the core parses */
#ifndef POSTA_CONF_H
#define POSTA_CONF_H

#include <sys/socket.h>

/*
 * A module declares its settings as a {NULL}-terminated table.  The core
 * parses the module's config block against it into a struct of
 * settings_size bytes: first every default (written as config text and
 * parsed by the same code, so the table is the only source of truth), then
 * the block's lines.  Unknown or duplicate keys and out-of-range values are
 * errors naming file:line, and postad refuses to start.
 *
 * A keyed setting ("max_userip_connections imap = 25") is one row whose name
 * holds both words separated by one space.
 *
 * Storage per type (at .offset in the settings struct):
 *   STRING    const char *        (NULL when the default is NULL)
 *   INT       int64_t             bounded by min..max
 *   SIZE      uint64_t bytes      "64k", "10M", "1G" (1024-based), or bytes
 *   DURATION  uint64_t ms         "30s", "5m", "1h", "2d", "250ms"
 *   BOOL      bool                yes/no
 *   LIST      struct posta_list   comma-separated strings
 *   ADDRS     struct posta_addrs  comma-separated host:port, [v6]:port
 *   ENUM      int                 index into .choices
 * Strings live as long as the config generation the settings belong to.
 */
enum posta_setting_type {
	POSTA_SET_STRING = 1,
	POSTA_SET_INT,
	POSTA_SET_SIZE,
	POSTA_SET_DURATION,
	POSTA_SET_BOOL,
	POSTA_SET_LIST,
	POSTA_SET_ADDRS,
	POSTA_SET_ENUM,
};

struct posta_list {
	size_t n;
	const char *const *items;
};

struct posta_addrs {
	size_t n;
	const struct sockaddr_storage *addrs;
};

struct posta_setting {
	const char *name;
	enum posta_setting_type type;
	size_t offset;
	int64_t min, max;		/* INT, SIZE, DURATION (ms); 0,0 = none */
	const char *def;		/* config text; NULL only for STRING */
	const char *const *choices;	/* ENUM: NULL-terminated */
};

#define POSTA_SETTINGS_END { NULL, 0, 0, 0, 0, NULL, NULL }

#endif
