/* queue_spool.c: the spool's file format and its blocking file operations */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <posta/posta.h>

#include "queue_spool.h"
#include "util.h"

#define QSPOOL_MAGIC	"POSTA-QUEUE 1"
#define QSPOOL_FIELDS_MAX 10

/* ---- escaping ---- */

static bool
qspool_must_escape(unsigned char c)
{
	return c <= 0x20 || c == 0x7f || c == '%';
}

/* Appends the escaped form of s (NULL or "" -> "-"); false if no room. */
static bool
qspool_put_field(char *buf, size_t cap, size_t *len, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = *len;

	if (s == NULL || s[0] == '\0' || strcmp(s, "-") == 0) {
		const char *t = (s != NULL && s[0] == '-') ? "%2D" : "-";

		if (n + strlen(t) >= cap)
			return false;
		memcpy(buf + n, t, strlen(t));
		*len = n + strlen(t);
		return true;
	}
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (qspool_must_escape(c)) {
			if (n + 3 >= cap)
				return false;
			buf[n++] = '%';
			buf[n++] = hex[c >> 4];
			buf[n++] = hex[c & 15];
		} else {
			if (n + 1 >= cap)
				return false;
			buf[n++] = (char)c;
		}
	}
	*len = n;
	return true;
}

/*
 * Decodes a field in place; "-" gives NULL in *out_r.  Returns false for a
 * malformed escape or an escaped NUL.
 */
static bool
qspool_get_field(char *s, char **out_r)
{
	char *r = s, *w = s;

	if (strcmp(s, "-") == 0) {
		*out_r = NULL;
		return true;
	}
	while (*r != '\0') {
		if (*r == '%') {
			int hi = util_hexval(r[1]);
			int lo = hi < 0 ? -1 : util_hexval(r[2]);

			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				return false;
			*w++ = (char)(hi << 4 | lo);
			r += 3;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
	*out_r = s;
	return true;
}

static bool
qspool_get_i64(const char *s, int64_t min, int64_t max, int64_t *v_r)
{
	char *end;
	long long v;

	if (s[0] == '\0' || (s[0] == '0' && s[1] != '\0') ||
	    !((s[0] >= '0' && s[0] <= '9') || s[0] == '-'))
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return false;
	*v_r = v;
	return true;
}

/* ---- pure: ids, parse, format ---- */

bool
qspool_id_valid(const char *id)
{
	size_t i;

	for (i = 0; i < QSPOOL_ID_LEN; i++)
		if (!((id[i] >= '0' && id[i] <= '9') ||
		    (id[i] >= 'a' && id[i] <= 'f')))
			return false;
	return id[QSPOOL_ID_LEN] == '\0';
}

static char *
qspool_dup(const char *s)
{
	return s != NULL ? strdup(s) : NULL;
}

/* Replaces *dst with a copy of s (NULL allowed); false on ENOMEM. */
static bool
qspool_set_str(char **dst, const char *s)
{
	char *c = NULL;

	if (s != NULL && (c = strdup(s)) == NULL)
		return false;
	free(*dst);
	*dst = c;
	return true;
}

static void
qspool_rcpt_clear(struct qspool_rcpt *r)
{
	free(r->address);
	free(r->orcpt);
	free(r->remote);
	free(r->diag);
	memset(r, 0, sizeof(*r));
}

void
qspool_env_clear(struct qspool_env *env)
{
	size_t i;

	for (i = 0; i < env->n_rcpts; i++)
		qspool_rcpt_clear(&env->rcpts[i]);
	free(env->rcpts);
	free(env->sender);
	free(env->envid);
	free(env->auth_user);
	free(env->client);
	memset(env, 0, sizeof(*env));
}

int
qspool_env_copy(struct qspool_env *dst, const struct qspool_env *src)
{
	size_t i;

	memset(dst, 0, sizeof(*dst));
	memcpy(dst->id, src->id, sizeof(dst->id));
	dst->created = src->created;
	dst->ret = src->ret;
	dst->smtputf8 = src->smtputf8;
	dst->eightbit = src->eightbit;
	dst->size = src->size;
	if (!qspool_set_str(&dst->sender, src->sender) ||
	    !qspool_set_str(&dst->envid, src->envid) ||
	    !qspool_set_str(&dst->auth_user, src->auth_user) ||
	    !qspool_set_str(&dst->client, src->client))
		goto oom;
	if (src->n_rcpts > 0) {
		dst->rcpts = calloc(src->n_rcpts, sizeof(*dst->rcpts));
		if (dst->rcpts == NULL)
			goto oom;
	}
	for (i = 0; i < src->n_rcpts; i++) {
		const struct qspool_rcpt *s = &src->rcpts[i];
		struct qspool_rcpt *d = &dst->rcpts[i];

		dst->n_rcpts = i + 1;
		*d = *s;
		d->address = d->orcpt = d->remote = d->diag = NULL;
		if (!qspool_set_str(&d->address, s->address) ||
		    !qspool_set_str(&d->orcpt, s->orcpt) ||
		    !qspool_set_str(&d->remote, s->remote) ||
		    !qspool_set_str(&d->diag, s->diag))
			goto oom;
	}
	return 0;
oom:
	qspool_env_clear(dst);
	return -ENOMEM;
}

void
qspool_env_counts(const struct qspool_env *env, size_t counts[4])
{
	size_t i;

	counts[0] = counts[1] = counts[2] = counts[3] = 0;
	for (i = 0; i < env->n_rcpts; i++)
		counts[env->rcpts[i].state]++;
}

/* status: digits and dots, "2.0.0" style, at most 11 bytes */
static bool
qspool_status_valid(const char *s)
{
	size_t i, n = strlen(s);

	if (n < 5 || n >= sizeof(((struct qspool_rcpt *)0)->status))
		return false;
	if (s[0] < '2' || s[0] > '5' || s[1] != '.')
		return false;
	for (i = 2; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || s[i] == '.'))
			return false;
	return true;
}

/* Truncates a copy of s to QSPOOL_DIAG_MAX bytes (on a UTF-8 boundary). */
static char *
qspool_dup_diag(const char *s)
{
	size_t n;
	char *c;

	if (s == NULL)
		return NULL;
	n = strlen(s);
	if (n > QSPOOL_DIAG_MAX) {
		n = QSPOOL_DIAG_MAX;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	c = malloc(n + 1);
	if (c != NULL) {
		memcpy(c, s, n);
		c[n] = '\0';
	}
	return c;
}

int
qspool_env_apply(struct qspool_env *env, const struct qspool_event *ev)
{
	struct qspool_rcpt *r;
	char *remote = NULL, *diag = NULL;

	if (ev->rcpt >= env->n_rcpts)
		return -EINVAL;
	r = &env->rcpts[ev->rcpt];
	switch (ev->kind) {
	case 'B':
		if (r->state != QSPOOL_FAILED && r->state != QSPOOL_BOUNCED)
			return -EINVAL;
		r->state = QSPOOL_BOUNCED;
		return 0;
	case 'D':
	case 'F':
	case 'T':
		break;
	default:
		return -EINVAL;
	}
	if (ev->status == NULL || !qspool_status_valid(ev->status))
		return -EINVAL;
	/* a final result stays final: a replayed journal must not revive */
	if (r->state != QSPOOL_PENDING)
		return -EINVAL;
	if ((ev->remote != NULL && (remote = strdup(ev->remote)) == NULL) ||
	    (ev->diag != NULL && (diag = qspool_dup_diag(ev->diag)) == NULL)) {
		free(remote);
		return -ENOMEM;
	}
	free(r->remote);
	free(r->diag);
	r->remote = remote;
	r->diag = diag;
	r->when = ev->when;
	snprintf(r->status, sizeof(r->status), "%s", ev->status);
	if (ev->kind == 'D') {
		r->state = QSPOOL_DONE;
	} else if (ev->kind == 'F') {
		r->state = QSPOOL_FAILED;
	} else {
		r->attempts = ev->attempts;
		r->next_try = ev->next_try;
	}
	return 0;
}

int
qspool_journal_line(const struct qspool_event *ev, char *buf, size_t cap,
    size_t *len)
{
	char tmp[QSPOOL_LINE_MAX];
	size_t n;
	int k;

	if (ev->kind == 'B') {
		k = snprintf(tmp, sizeof(tmp), "B %zu %" PRId64, ev->rcpt,
		    ev->when);
	} else if (ev->kind == 'T') {
		k = snprintf(tmp, sizeof(tmp), "T %zu %" PRId64 " %" PRIu32
		    " %" PRId64, ev->rcpt, ev->when, ev->attempts,
		    ev->next_try);
	} else if (ev->kind == 'D' || ev->kind == 'F') {
		k = snprintf(tmp, sizeof(tmp), "%c %zu %" PRId64, ev->kind,
		    ev->rcpt, ev->when);
	} else {
		return -EINVAL;
	}
	if (k < 0)
		return -EINVAL;
	n = (size_t)k;
	if (ev->kind != 'B') {
		char *diag = qspool_dup_diag(ev->diag);
		const char *fields[3] = { ev->status, ev->remote, diag };
		size_t i;

		if (ev->diag != NULL && diag == NULL)
			return -ENOMEM;
		for (i = 0; i < 3; i++) {
			tmp[n++] = ' ';
			if (!qspool_put_field(tmp, sizeof(tmp), &n,
			    fields[i])) {
				free(diag);
				return -ENOSPC;
			}
		}
		free(diag);
	}
	if (*len + n + 1 > cap)
		return -ENOSPC;
	memcpy(buf + *len, tmp, n);
	buf[*len + n] = '\n';
	*len += n + 1;
	return 0;
}

/* Splits line at spaces into at most max fields; returns the count. */
static size_t
qspool_split(char *line, char **f, size_t max)
{
	size_t n = 0;
	char *p = line;

	while (*p != '\0') {
		if (n == max)
			return max + 1;
		f[n++] = p;
		p = strchr(p, ' ');
		if (p == NULL)
			break;
		*p++ = '\0';
	}
	return n;
}

static int
qspool_parse_rcpt(struct qspool_env *env, char **f, size_t nf)
{
	struct qspool_rcpt *r, *nr;
	int64_t notify;
	char *orcpt, *addr;

	if (nf != 5 || !qspool_get_i64(f[1], 0, 15, &notify) ||
	    (strcmp(f[2], "e") != 0 && strcmp(f[2], "r") != 0) ||
	    !qspool_get_field(f[3], &orcpt) || !qspool_get_field(f[4], &addr) ||
	    addr == NULL)
		return POSTA_ECORRUPT;
	if (env->n_rcpts >= QSPOOL_RCPTS_MAX)
		return POSTA_ECORRUPT;
	nr = realloc(env->rcpts, (env->n_rcpts + 1) * sizeof(*nr));
	if (nr == NULL)
		return -ENOMEM;
	env->rcpts = nr;
	r = &nr[env->n_rcpts];
	memset(r, 0, sizeof(*r));
	r->notify = (unsigned)notify;
	r->resolve = f[2][0] == 'r';
	r->address = strdup(addr);
	r->orcpt = qspool_dup(orcpt);
	if (r->address == NULL || (orcpt != NULL && r->orcpt == NULL)) {
		qspool_rcpt_clear(r);
		return -ENOMEM;
	}
	env->n_rcpts++;
	return 0;
}

/* One header line "key value" (the R lines go to qspool_parse_rcpt). */
static int
qspool_parse_header(struct qspool_env *env, char **f, size_t nf,
    unsigned *seen)
{
	static const char *const keys[] = { "id", "created", "sender",
	    "envid", "ret", "utf8", "8bit", "auth", "client", "size" };
	size_t k;
	int64_t v;
	char *s;

	if (nf != 2)
		return POSTA_ECORRUPT;
	for (k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
		if (strcmp(f[0], keys[k]) == 0)
			break;
	if (k == sizeof(keys) / sizeof(keys[0]) || (*seen & (1u << k)))
		return POSTA_ECORRUPT;
	*seen |= 1u << k;
	switch (k) {
	case 0:
		if (!qspool_id_valid(f[1]))
			return POSTA_ECORRUPT;
		memcpy(env->id, f[1], QSPOOL_ID_LEN + 1);
		return 0;
	case 1:
		if (!qspool_get_i64(f[1], 0, INT64_MAX, &env->created))
			return POSTA_ECORRUPT;
		return 0;
	case 4:
		if (!qspool_get_i64(f[1], 0, 2, &v))
			return POSTA_ECORRUPT;
		env->ret = (enum qspool_ret)v;
		return 0;
	case 5:
	case 6:
		if (!qspool_get_i64(f[1], 0, 1, &v))
			return POSTA_ECORRUPT;
		if (k == 5)
			env->smtputf8 = v != 0;
		else
			env->eightbit = v != 0;
		return 0;
	case 9:
		if (!qspool_get_i64(f[1], 0, INT64_MAX, &v))
			return POSTA_ECORRUPT;
		env->size = (uint64_t)v;
		return 0;
	default:
		break;
	}
	if (!qspool_get_field(f[1], &s))
		return POSTA_ECORRUPT;
	if (k == 2)
		return qspool_set_str(&env->sender, s != NULL ? s : "") ?
		    0 : -ENOMEM;
	return qspool_set_str(k == 3 ? &env->envid : k == 7 ?
	    &env->auth_user : &env->client, s) ? 0 : -ENOMEM;
}

static int
qspool_parse_event(struct qspool_env *env, char **f, size_t nf)
{
	struct qspool_event ev;
	int64_t v, w;
	size_t base;
	char *status, *remote, *diag;

	memset(&ev, 0, sizeof(ev));
	if (strlen(f[0]) != 1 || nf < 3)
		return POSTA_ECORRUPT;
	ev.kind = f[0][0];
	if (!qspool_get_i64(f[1], 0, QSPOOL_RCPTS_MAX - 1, &v) ||
	    !qspool_get_i64(f[2], 0, INT64_MAX, &w))
		return POSTA_ECORRUPT;
	ev.rcpt = (size_t)v;
	ev.when = w;
	if (ev.kind == 'B') {
		if (nf != 3)
			return POSTA_ECORRUPT;
	} else {
		base = 3;
		if (ev.kind == 'T') {
			if (nf != 8 ||
			    !qspool_get_i64(f[3], 0, UINT32_MAX, &v) ||
			    !qspool_get_i64(f[4], 0, INT64_MAX, &w))
				return POSTA_ECORRUPT;
			ev.attempts = (uint32_t)v;
			ev.next_try = w;
			base = 5;
		} else if (nf != 6) {
			return POSTA_ECORRUPT;
		}
		if (!qspool_get_field(f[base], &status) || status == NULL ||
		    !qspool_get_field(f[base + 1], &remote) ||
		    !qspool_get_field(f[base + 2], &diag))
			return POSTA_ECORRUPT;
		ev.status = status;
		ev.remote = remote;
		ev.diag = diag;
	}
	v = qspool_env_apply(env, &ev);
	if (v == -ENOMEM)
		return -ENOMEM;
	return v < 0 ? POSTA_ECORRUPT : 0;
}

int
qspool_env_parse(const char *buf, size_t len, struct qspool_env *env_r,
    const char **error_r)
{
	char *copy, *line, *next, *f[QSPOOL_FIELDS_MAX + 1];
	enum { MAGIC, HEADER, JOURNAL } where = MAGIC;
	unsigned seen = 0;
	size_t nf;
	int r = 0;

	memset(env_r, 0, sizeof(*env_r));
	*error_r = NULL;
	if (len > QSPOOL_ENV_MAX || memchr(buf, '\0', len) != NULL) {
		*error_r = "too large or holds NUL bytes";
		return POSTA_ECORRUPT;
	}
	copy = malloc(len + 1);
	if (copy == NULL)
		return -ENOMEM;
	memcpy(copy, buf, len);
	copy[len] = '\0';
	for (line = copy; r == 0 && *line != '\0'; line = next) {
		next = strchr(line, '\n');
		if (next == NULL) {
			/* a crash cut this append short: it never happened */
			if (where != JOURNAL) {
				*error_r = "header cut short";
				r = POSTA_ECORRUPT;
			}
			break;
		}
		*next++ = '\0';
		if (where == MAGIC) {
			if (strcmp(line, QSPOOL_MAGIC) != 0) {
				*error_r = "not a queue envelope";
				r = POSTA_ECORRUPT;
			}
			where = HEADER;
			continue;
		}
		nf = qspool_split(line, f, QSPOOL_FIELDS_MAX);
		if (nf == 0 || nf > QSPOOL_FIELDS_MAX) {
			*error_r = "malformed line";
			r = POSTA_ECORRUPT;
		} else if (where == HEADER && strcmp(f[0], "end") == 0 &&
		    nf == 1) {
			where = JOURNAL;
		} else if (where == HEADER && strcmp(f[0], "R") == 0) {
			r = qspool_parse_rcpt(env_r, f, nf);
			if (r != 0)
				*error_r = "bad recipient line";
		} else if (where == HEADER) {
			r = qspool_parse_header(env_r, f, nf, &seen);
			if (r != 0)
				*error_r = "bad or repeated header line";
		} else {
			r = qspool_parse_event(env_r, f, nf);
			if (r != 0)
				*error_r = "bad journal line";
		}
	}
	free(copy);
	if (r == 0 && where != JOURNAL) {
		*error_r = "no end of header";
		r = POSTA_ECORRUPT;
	}
	/* id, created, sender and size are required; so is a recipient */
	if (r == 0 && ((seen & 0x207) != 0x207 || env_r->n_rcpts == 0)) {
		*error_r = "required header line missing";
		r = POSTA_ECORRUPT;
	}
	if (r == -ENOMEM)
		*error_r = "out of memory";
	return r;
}

/* A growing buffer for qspool_env_format. */
struct qspool_buf {
	char *p;
	size_t len, cap;
	bool oom;
};

static char *
qspool_buf_room(struct qspool_buf *b, size_t need)
{
	if (b->oom)
		return NULL;
	if (b->len + need > b->cap) {
		size_t cap = b->cap == 0 ? 1024 : b->cap;
		char *np;

		while (cap < b->len + need)
			cap *= 2;
		np = realloc(b->p, cap);
		if (np == NULL) {
			b->oom = true;
			return NULL;
		}
		b->p = np;
		b->cap = cap;
	}
	return b->p + b->len;
}

static void
qspool_buf_kv(struct qspool_buf *b, const char *key, const char *val)
{
	size_t n = 0, cap = 3 * (val != NULL ? strlen(val) : 0) + 8;
	char *field = malloc(cap);
	char *p;

	if (field == NULL || !qspool_put_field(field, cap, &n, val)) {
		free(field);
		b->oom = true;
		return;
	}
	p = qspool_buf_room(b, strlen(key) + n + 2);
	if (p != NULL)
		b->len += (size_t)sprintf(p, "%s %.*s\n", key, (int)n, field);
	free(field);
}

int
qspool_env_format(const struct qspool_env *env, char **buf_r, size_t *len_r)
{
	struct qspool_buf b = { NULL, 0, 0, false };
	char num[64];
	size_t i;
	char *p;

	/* what qspool_env_parse would refuse is never written */
	if (!qspool_id_valid(env->id) || env->n_rcpts == 0 ||
	    env->n_rcpts > QSPOOL_RCPTS_MAX)
		return -EINVAL;
	for (i = 0; i < env->n_rcpts; i++)
		if (env->rcpts[i].address == NULL ||
		    env->rcpts[i].address[0] == '\0')
			return -EINVAL;
	p = qspool_buf_room(&b, sizeof(QSPOOL_MAGIC) + 1);
	if (p != NULL)
		b.len += (size_t)sprintf(p, "%s\n", QSPOOL_MAGIC);
	qspool_buf_kv(&b, "id", env->id);
	snprintf(num, sizeof(num), "%" PRId64, env->created);
	qspool_buf_kv(&b, "created", num);
	qspool_buf_kv(&b, "sender", env->sender);
	qspool_buf_kv(&b, "envid", env->envid);
	snprintf(num, sizeof(num), "%d", (int)env->ret);
	qspool_buf_kv(&b, "ret", num);
	qspool_buf_kv(&b, "utf8", env->smtputf8 ? "1" : "0");
	qspool_buf_kv(&b, "8bit", env->eightbit ? "1" : "0");
	qspool_buf_kv(&b, "auth", env->auth_user);
	qspool_buf_kv(&b, "client", env->client);
	snprintf(num, sizeof(num), "%" PRIu64, env->size);
	qspool_buf_kv(&b, "size", num);
	for (i = 0; i < env->n_rcpts; i++) {
		const struct qspool_rcpt *r = &env->rcpts[i];
		char *tmp;
		size_t n = 0, cap = 3 * (strlen(r->address) +
		    (r->orcpt != NULL ? strlen(r->orcpt) : 0)) + 32;

		tmp = malloc(cap);
		if (tmp == NULL) {
			b.oom = true;
			break;
		}
		n = (size_t)snprintf(tmp, cap, "R %u %c ", r->notify & 15,
		    r->resolve ? 'r' : 'e');
		qspool_put_field(tmp, cap, &n, r->orcpt);
		tmp[n++] = ' ';
		qspool_put_field(tmp, cap, &n, r->address);
		p = qspool_buf_room(&b, n + 1);
		if (p != NULL) {
			memcpy(p, tmp, n);
			p[n] = '\n';
			b.len += n + 1;
		}
		free(tmp);
	}
	p = qspool_buf_room(&b, 5);
	if (p != NULL) {
		memcpy(p, "end\n", 4);
		b.len += 4;
	}
	/* the journal that reproduces each recipient's state */
	for (i = 0; i < env->n_rcpts && !b.oom; i++) {
		const struct qspool_rcpt *r = &env->rcpts[i];
		struct qspool_event ev = {
			.rcpt = i, .when = r->when, .attempts = r->attempts,
			.next_try = r->next_try, .status = r->status,
			.remote = r->remote, .diag = r->diag,
		};

		if (r->state == QSPOOL_PENDING && r->status[0] == '\0')
			continue;
		ev.kind = r->state == QSPOOL_DONE ? 'D' :
		    r->state == QSPOOL_PENDING ? 'T' : 'F';
		p = qspool_buf_room(&b, QSPOOL_LINE_MAX);
		if (p == NULL || qspool_journal_line(&ev, b.p, b.cap,
		    &b.len) < 0)
			b.oom = true;
		if (r->state == QSPOOL_BOUNCED && !b.oom) {
			ev.kind = 'B';
			p = qspool_buf_room(&b, QSPOOL_LINE_MAX);
			if (p == NULL || qspool_journal_line(&ev, b.p, b.cap,
			    &b.len) < 0)
				b.oom = true;
		}
	}
	if (b.oom) {
		free(b.p);
		return -ENOMEM;
	}
	*buf_r = b.p;
	*len_r = b.len;
	return 0;
}

/* ---- blocking file operations ---- */

int
qspool_path(char *buf, size_t size, const char *dir, const char *sub,
    const char *id, const char *ext)
{
	int n;

	if (id != NULL)
		n = snprintf(buf, size, "%s/%s/%s%s", dir, sub, id,
		    ext != NULL ? ext : "");
	else
		n = snprintf(buf, size, "%s/%s", dir, sub);
	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	return 0;
}

static int
qspool_fsync_dir(const char *dir, const char *sub)
{
	char path[4096];
	int fd, r = 0;

	if (qspool_path(path, sizeof(path), dir, sub, NULL, NULL) < 0)
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		r = -errno;
	close(fd);
	return r;
}

static bool
qspool_has_suffix(const char *name, const char *ext, char id_r[])
{
	size_t n = strlen(name), e = strlen(ext);

	if (n != QSPOOL_ID_LEN + e || strcmp(name + QSPOOL_ID_LEN, ext) != 0)
		return false;
	memcpy(id_r, name, QSPOOL_ID_LEN);
	id_r[QSPOOL_ID_LEN] = '\0';
	return qspool_id_valid(id_r);
}

/* The crash leftovers: tmp/ and q/<id>.msg files without an envelope. */
static int
qspool_clean(const char *dir)
{
	char path[4096], id[QSPOOL_ID_LEN + 1];
	struct dirent *de;
	DIR *d;

	if (qspool_path(path, sizeof(path), dir, "tmp", NULL, NULL) < 0)
		return -ENAMETOOLONG;
	d = opendir(path);
	if (d == NULL)
		return -errno;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (qspool_path(path, sizeof(path), dir, "tmp", de->d_name,
		    NULL) == 0)
			unlink(path);
	}
	closedir(d);
	if (qspool_path(path, sizeof(path), dir, "q", NULL, NULL) < 0)
		return -ENAMETOOLONG;
	d = opendir(path);
	if (d == NULL)
		return -errno;
	while ((de = readdir(d)) != NULL) {
		struct stat st;

		if (!qspool_has_suffix(de->d_name, ".msg", id))
			continue;
		if (qspool_path(path, sizeof(path), dir, "q", id, ".env") < 0)
			continue;
		if (stat(path, &st) == 0 || errno != ENOENT)
			continue;
		if (qspool_path(path, sizeof(path), dir, "q", id, ".msg") == 0)
			unlink(path);
	}
	closedir(d);
	return qspool_fsync_dir(dir, "q");
}

int
qspool_open(const char *dir, bool clean)
{
	static const char *const subs[] = { "tmp", "q", "ctl", "corrupt" };
	char path[4096];
	size_t i;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		if (qspool_path(path, sizeof(path), dir, subs[i], NULL,
		    NULL) < 0)
			return -ENAMETOOLONG;
		if (mkdir(path, 0700) < 0 && errno != EEXIST)
			return -errno;
	}
	return clean ? qspool_clean(dir) : 0;
}

int
qspool_new_id(char id_r[QSPOOL_ID_LEN + 1])
{
	struct timeval tv;
	uint32_t rnd;
	uint64_t us;

	if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return -EIO;
	gettimeofday(&tv, NULL);
	us = (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
	snprintf(id_r, QSPOOL_ID_LEN + 1, "%016" PRIx64 "%08" PRIx32, us,
	    rnd);
	return 0;
}

int
qspool_msg_create(const char *dir, const char *id, int *fd_r)
{
	char path[4096];
	int fd;

	if (qspool_path(path, sizeof(path), dir, "tmp", id, ".msg") < 0)
		return -ENAMETOOLONG;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	*fd_r = fd;
	return 0;
}

int
qspool_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Writes a whole file at path (O_EXCL unless replace), fsync'd. */
static int
qspool_write_file(const char *path, const char *data, size_t len,
    int64_t uid, int64_t gid)
{
	int fd, r;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	r = qspool_write_all(fd, data, len);
	if (r == 0 && uid >= 0 && fchown(fd, (uid_t)uid, (gid_t)gid) < 0)
		r = -errno;
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r < 0)
		unlink(path);
	return r;
}

void
qspool_discard(const char *dir, const char *id)
{
	char path[4096];

	if (qspool_path(path, sizeof(path), dir, "tmp", id, ".msg") == 0)
		unlink(path);
	if (qspool_path(path, sizeof(path), dir, "tmp", id, ".env") == 0)
		unlink(path);
}

int
qspool_commit(const char *dir, const struct qspool_env *env, int msg_fd,
    int64_t owner_uid, int64_t owner_gid)
{
	char tmsg[4096], tenv[4096], qmsg[4096], qenv[4096];
	char *text = NULL;
	size_t len;
	int r;

	if (qspool_path(tmsg, sizeof(tmsg), dir, "tmp", env->id, ".msg") < 0 ||
	    qspool_path(tenv, sizeof(tenv), dir, "tmp", env->id, ".env") < 0 ||
	    qspool_path(qmsg, sizeof(qmsg), dir, "q", env->id, ".msg") < 0 ||
	    qspool_path(qenv, sizeof(qenv), dir, "q", env->id, ".env") < 0)
		return -ENAMETOOLONG;
	r = qspool_env_format(env, &text, &len);
	if (r == 0 && owner_uid >= 0 &&
	    fchown(msg_fd, (uid_t)owner_uid, (gid_t)owner_gid) < 0)
		r = -errno;
	if (r == 0 && fsync(msg_fd) < 0)
		r = -errno;
	if (r == 0)
		r = qspool_write_file(tenv, text, len, owner_uid, owner_gid);
	free(text);
	if (r == 0 && rename(tmsg, qmsg) < 0)
		r = -errno;
	if (r == 0 && rename(tenv, qenv) < 0) {
		r = -errno;
		unlink(qmsg);
	}
	if (r == 0)
		r = qspool_fsync_dir(dir, "q");
	if (r < 0) {
		/* not acknowledged: whatever reached q/ must go too */
		unlink(qenv);
		unlink(qmsg);
		qspool_discard(dir, env->id);
	}
	return r;
}

/*
 * A crash can leave the file ending in a torn line, which the parser
 * ignores; appending behind it would glue it to the next line and make
 * the whole envelope unreadable.  Cuts the file after its last LF.
 */
static int
qspool_cut_torn_line(int fd)
{
	char buf[4096];
	struct stat st;
	off_t end, pos;
	ssize_t n;

	if (fstat(fd, &st) < 0)
		return -errno;
	end = st.st_size;
	if (end == 0)
		return 0;
	if (pread(fd, buf, 1, end - 1) != 1)
		return -EIO;
	if (buf[0] == '\n')
		return 0;
	/* bounded: a larger file is refused as corrupt when read */
	for (pos = end; pos > 0 && end - pos < (off_t)QSPOOL_ENV_MAX;) {
		size_t want = pos > (off_t)sizeof(buf) ? sizeof(buf) :
		    (size_t)pos;
		char *nl;

		n = pread(fd, buf, want, pos - (off_t)want);
		if (n != (ssize_t)want)
			return -EIO;
		nl = memrchr(buf, '\n', want);
		if (nl != NULL)
			return ftruncate(fd, pos - (off_t)want +
			    (nl - buf) + 1) < 0 ? -errno : 0;
		pos -= (off_t)want;
	}
	return 0;	/* no line at all: corrupt, and left for the reader */
}

int
qspool_journal_append(const char *dir, const char *id, const char *text,
    size_t len)
{
	char path[4096];
	int fd, r;

	if (qspool_path(path, sizeof(path), dir, "q", id, ".env") < 0)
		return -ENAMETOOLONG;
	fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = qspool_cut_torn_line(fd);
	if (r == 0)
		r = qspool_write_all(fd, text, len);
	if (r == 0 && fdatasync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	return r;
}

int
qspool_env_rewrite(const char *dir, const struct qspool_env *env)
{
	char tmp[4096], dst[4096];
	char *text;
	size_t len;
	struct stat st;
	int r;

	if (qspool_path(tmp, sizeof(tmp), dir, "tmp", env->id, ".env") < 0 ||
	    qspool_path(dst, sizeof(dst), dir, "q", env->id, ".env") < 0)
		return -ENAMETOOLONG;
	if (stat(dst, &st) < 0)
		return -errno;
	r = qspool_env_format(env, &text, &len);
	if (r < 0)
		return r;
	r = qspool_write_file(tmp, text, len, -1, -1);
	free(text);
	if (r == 0 && rename(tmp, dst) < 0) {
		r = -errno;
		unlink(tmp);
	}
	return r == 0 ? qspool_fsync_dir(dir, "q") : r;
}

int
qspool_env_load(const char *dir, const char *id, struct qspool_env *env_r,
    const char **error_r)
{
	char path[4096];
	struct stat st;
	char *buf;
	ssize_t n;
	size_t got = 0;
	int fd, r;

	memset(env_r, 0, sizeof(*env_r));
	*error_r = NULL;
	if (qspool_path(path, sizeof(path), dir, "q", id, ".env") < 0)
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	if ((uint64_t)st.st_size > QSPOOL_ENV_MAX) {
		close(fd);
		*error_r = "envelope file too large";
		return POSTA_ECORRUPT;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		close(fd);
		return -ENOMEM;
	}
	while (got < (size_t)st.st_size) {
		n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			/* EIO is the disk, not the file: what we got is not
			   the envelope, and must not be judged corrupt */
			r = -errno;
			close(fd);
			free(buf);
			return r;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	r = qspool_env_parse(buf, got, env_r, error_r);
	free(buf);
	if (r == 0 && strcmp(env_r->id, id) != 0) {
		*error_r = "id does not match the file name";
		r = POSTA_ECORRUPT;
	}
	return r;
}

int
qspool_remove(const char *dir, const char *id)
{
	char path[4096];

	if (qspool_path(path, sizeof(path), dir, "q", id, ".env") < 0)
		return -ENAMETOOLONG;
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	if (qspool_path(path, sizeof(path), dir, "q", id, ".msg") == 0)
		unlink(path);
	/* no directory fsync: a removal a crash undoes brings back a
	   message whose journal says every recipient is done, and the
	   next start removes it again without sending anything */
	return 0;
}

int
qspool_set_aside(const char *dir, const char *id)
{
	static const char *const exts[] = { ".env", ".msg" };
	char from[4096], to[4096];
	size_t i;

	for (i = 0; i < 2; i++) {
		if (qspool_path(from, sizeof(from), dir, "q", id,
		    exts[i]) < 0 || qspool_path(to, sizeof(to), dir,
		    "corrupt", id, exts[i]) < 0)
			return -ENAMETOOLONG;
		if (rename(from, to) < 0 && errno != ENOENT)
			return -errno;
	}
	return qspool_fsync_dir(dir, "q");
}

static int
qspool_cmp_id(const void *a, const void *b)
{
	return strcmp(a, b);
}

int
qspool_scan(const char *dir, char (**ids_r)[QSPOOL_ID_LEN + 1], size_t *n_r)
{
	char path[4096], id[QSPOOL_ID_LEN + 1];
	char (*ids)[QSPOOL_ID_LEN + 1] = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d;

	*ids_r = NULL;
	*n_r = 0;
	if (qspool_path(path, sizeof(path), dir, "q", NULL, NULL) < 0)
		return -ENAMETOOLONG;
	d = opendir(path);
	if (d == NULL)
		return -errno;
	while ((de = readdir(d)) != NULL) {
		if (!qspool_has_suffix(de->d_name, ".env", id))
			continue;
		if (n == cap) {
			size_t ncap = cap == 0 ? 64 : cap * 2;
			void *np = realloc(ids, ncap * sizeof(*ids));

			if (np == NULL) {
				free(ids);
				closedir(d);
				return -ENOMEM;
			}
			ids = np;
			cap = ncap;
		}
		memcpy(ids[n++], id, sizeof(id));
	}
	closedir(d);
	if (n > 1)
		qsort(ids, n, sizeof(*ids), qspool_cmp_id);
	*ids_r = ids;
	*n_r = n;
	return 0;
}

static bool
qspool_req_what_valid(const char *what)
{
	return strcmp(what, "flush") == 0 || strcmp(what, "delete") == 0 ||
	    strcmp(what, "new") == 0;
}

int
qspool_request(const char *dir, const char *what, const char *id,
    int64_t owner_uid, int64_t owner_gid)
{
	char path[4096], name[64];
	int r;

	if (!qspool_req_what_valid(what) ||
	    (id != NULL && !qspool_id_valid(id)) ||
	    (id == NULL && strcmp(what, "delete") == 0))
		return -EINVAL;
	snprintf(name, sizeof(name), "%s%s%s", what, id != NULL ? "." : "",
	    id != NULL ? id : "");
	if (qspool_path(path, sizeof(path), dir, "ctl", name, NULL) < 0)
		return -ENAMETOOLONG;
	r = qspool_write_file(path, "", 0, owner_uid, owner_gid);
	if (r < 0)
		return r;
	return qspool_fsync_dir(dir, "ctl");
}

int
qspool_take_requests(const char *dir, struct qspool_req **reqs_r,
    size_t *n_r)
{
	char path[4096];
	struct qspool_req *reqs = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d;

	*reqs_r = NULL;
	*n_r = 0;
	if (qspool_path(path, sizeof(path), dir, "ctl", NULL, NULL) < 0)
		return -ENAMETOOLONG;
	d = opendir(path);
	if (d == NULL)
		return -errno;
	while ((de = readdir(d)) != NULL) {
		struct qspool_req req;
		const char *dot;
		size_t wl;

		if (de->d_name[0] == '.')
			continue;
		if (qspool_path(path, sizeof(path), dir, "ctl", de->d_name,
		    NULL) < 0 || unlink(path) < 0)
			continue;
		memset(&req, 0, sizeof(req));
		dot = strchr(de->d_name, '.');
		wl = dot != NULL ? (size_t)(dot - de->d_name) :
		    strlen(de->d_name);
		if (wl >= sizeof(req.what))
			continue;
		memcpy(req.what, de->d_name, wl);
		if (!qspool_req_what_valid(req.what))
			continue;
		if (dot != NULL) {
			if (!qspool_id_valid(dot + 1))
				continue;
			memcpy(req.id, dot + 1, QSPOOL_ID_LEN + 1);
		} else if (strcmp(req.what, "delete") == 0) {
			continue;
		}
		if (n == cap) {
			size_t ncap = cap == 0 ? 8 : cap * 2;
			void *np = realloc(reqs, ncap * sizeof(*reqs));

			if (np == NULL)
				break;
			reqs = np;
			cap = ncap;
		}
		reqs[n++] = req;
	}
	closedir(d);
	*reqs_r = reqs;
	*n_r = n;
	return 0;
}
