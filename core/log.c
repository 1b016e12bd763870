/* log.c: one key=value line per event, to stderr or syslog, with escaping */
#include "config.h"

#include <assert.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "conn.h"

static const char *const level_names[] = { "error", "warn", "info", "debug" };

void
log_init(struct loop *l, const struct global_settings *g)
{
	l->log_level = g->log_level;
	if (g->log_target == LOG_TARGET_SYSLOG && !l->syslog_open) {
		openlog("postad", LOG_PID | LOG_NDELAY, LOG_MAIL);
		l->syslog_open = true;
	}
	l->log_target = g->log_target;
}

/* Length of the valid UTF-8 sequence at p, or 0. */
static size_t
utf8_len(const unsigned char *p, size_t left)
{
	size_t n, i;
	unsigned cp;

	if (p[0] < 0x80)
		return 1;
	if ((p[0] & 0xe0) == 0xc0) {
		n = 2;
		cp = p[0] & 0x1f;
	} else if ((p[0] & 0xf0) == 0xe0) {
		n = 3;
		cp = p[0] & 0x0f;
	} else if ((p[0] & 0xf8) == 0xf0) {
		n = 4;
		cp = p[0] & 0x07;
	} else {
		return 0;
	}
	if (n > left)
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/* Control and non-UTF-8 bytes become \xNN so no value can forge a line. */
static size_t
escape_into(char *out, size_t size, const char *in)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t o = 0, left = strlen(in);

	while (left > 0 && o + 5 < size) {
		size_t n = utf8_len(p, left);

		if (n == 0 || (n == 1 && (*p < 0x20 || *p == 0x7f))) {
			o += (size_t)snprintf(out + o, size - o, "\\x%02X", *p);
			p++;
			left--;
			continue;
		}
		if (o + n >= size)
			break;
		memcpy(out + o, p, n);
		o += n;
		p += n;
		left -= n;
	}
	out[o] = '\0';
	return o;
}

void
log_line(struct loop *l, enum posta_log_level level, const char *event,
    const char *ctx_fields, const char *fmt, va_list ap)
{
	char msg[2048], raw[2048], line[4096];
	int n;

	if ((int)level > l->log_level)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = snprintf(raw, sizeof(raw), "level=%s event=%s%s%s%s%s",
	    level_names[level], event,
	    ctx_fields != NULL && ctx_fields[0] != '\0' ? " " : "",
	    ctx_fields != NULL ? ctx_fields : "",
	    msg[0] != '\0' ? " " : "", msg);
	if (n < 0)
		return;
	escape_into(line, sizeof(line), raw);
	if (l->log_target == LOG_TARGET_SYSLOG) {
		static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO,
		    LOG_DEBUG };

		syslog(prio[level], "%s", line);
	} else {
		struct timespec ts;
		struct tm tm;
		char stamp[32];

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
		/* one fprintf per line keeps lines whole with O_APPEND */
		fprintf(stderr, "%s.%03ldZ %s\n", stamp,
		    (long)(ts.tv_nsec / 1000000), line);
	}
}

void
log_core(struct loop *l, enum posta_log_level level, const char *event,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_line(l, level, event, NULL, fmt, ap);
	va_end(ap);
}

/* obj is a struct module (posta_host) or a struct conn (posta_conn). */
static_assert(offsetof(struct module, loop) == offsetof(struct conn, loop),
    "log_host_v reads ->loop before it knows the object's type");
static bool
obj_is_conn(const void *obj, struct loop **l_r)
{
	const struct module *m = obj;
	const struct conn *c = obj;

	/* both start with the api pointer; the module list tells them apart */
	for (struct module *x = m->loop != NULL ? m->loop->modules : NULL;
	    x != NULL; x = x->next) {
		if (x == m) {
			*l_r = m->loop;
			return false;
		}
	}
	*l_r = c->loop;
	return true;
}

void
log_host_v(const void *obj, enum posta_log_level level, const char *event,
    const char *fmt, va_list ap)
{
	struct loop *l;
	char fields[512];

	if (obj_is_conn(obj, &l)) {
		const struct conn *c = obj;

		if ((int)level > l->log_level &&
		    !(level == POSTA_LOG_DEBUG && c->svc->set.debug))
			return;
		conn_log_fields(c, fields, sizeof(fields));
		if (level == POSTA_LOG_DEBUG && c->svc->set.debug) {
			int saved = l->log_level;

			l->log_level = POSTA_LOG_DEBUG;
			log_line(l, level, event, fields, fmt, ap);
			l->log_level = saved;
			return;
		}
	} else {
		snprintf(fields, sizeof(fields), "module=%s",
		    ((const struct module *)obj)->name);
	}
	log_line(l, level, event, fields, fmt, ap);
}

bool
log_host_enabled(const void *obj, enum posta_log_level level)
{
	struct loop *l;

	if (obj_is_conn(obj, &l) && level == POSTA_LOG_DEBUG &&
	    ((const struct conn *)obj)->svc->set.debug)
		return true;
	return (int)level <= l->log_level;
}
