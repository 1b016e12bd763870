/* maildir_quota.c: storage limits: the per-user quota file and the check */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "maildir.h"

/* Same syntax as the config's sizes (core/conf_value.c): 123 64k 10M 1G. */
static int
parse_size(const char *s, size_t len, uint64_t *v_r)
{
	uint64_t v = 0, mult = 1;
	size_t i = 0;

	while (i < len && s[i] >= '0' && s[i] <= '9') {
		unsigned d = (unsigned)(s[i] - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
		i++;
	}
	if (i == 0)
		return -1;
	if (i < len) {
		switch (s[i]) {
		case 'k': case 'K':
			mult = 1024;
			i++;
			break;
		case 'm': case 'M':
			mult = 1024 * 1024;
			i++;
			break;
		case 'g': case 'G':
			mult = 1024 * 1024 * 1024;
			i++;
			break;
		default:
			break;
		}
	}
	if (i < len && (s[i] == 'b' || s[i] == 'B'))
		i++;
	if (i != len || v > UINT64_MAX / mult)
		return -1;
	*v_r = v * mult;
	return 0;
}

static int
parse_count(const char *s, size_t len, uint64_t *v_r)
{
	uint64_t v = 0;
	size_t i;

	if (len == 0)
		return -1;
	for (i = 0; i < len; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return -1;
		d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*v_r = v;
	return 0;
}

static bool
is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

int
md_quota_parse(const char *buf, size_t len, struct md_quota *q,
    unsigned *line_r, const char **error_r)
{
	struct md_quota out = *q;
	bool seen_storage = false, seen_messages = false;
	size_t pos = 0;
	unsigned line = 0;

	while (pos < len) {
		const char *l = buf + pos, *nl = memchr(l, '\n', len - pos);
		size_t ll = nl != NULL ? (size_t)(nl - l) : len - pos;
		size_t ks, ke, vs, ve;
		uint64_t v;

		pos += ll + (nl != NULL);
		line++;
		if (memchr(l, '\0', ll) != NULL) {
			*error_r = "expected text, got a NUL byte";
			goto bad;
		}
		for (ks = 0; ks < ll && is_blank(l[ks]); ks++)
			;
		if (ks == ll || l[ks] == '#')
			continue;
		for (ke = ks; ke < ll && l[ke] >= 'a' && l[ke] <= 'z'; ke++)
			;
		for (vs = ke; vs < ll && is_blank(l[vs]); vs++)
			;
		if (vs == ll || l[vs] != '=') {
			*error_r = "expected \"storage = SIZE\" or "
			    "\"messages = N\"";
			goto bad;
		}
		for (vs++; vs < ll && is_blank(l[vs]); vs++)
			;
		for (ve = ll; ve > vs && is_blank(l[ve - 1]); ve--)
			;
		if (ke - ks == 7 && memcmp(l + ks, "storage", 7) == 0) {
			if (seen_storage) {
				*error_r = "expected storage once, got it "
				    "twice";
				goto bad;
			}
			if (parse_size(l + vs, ve - vs, &v) < 0) {
				*error_r = "expected a size (0, 512k, 10M, "
				    "2G) for storage";
				goto bad;
			}
			out.storage = v;
			seen_storage = true;
		} else if (ke - ks == 8 && memcmp(l + ks, "messages", 8) == 0) {
			if (seen_messages) {
				*error_r = "expected messages once, got it "
				    "twice";
				goto bad;
			}
			if (parse_count(l + vs, ve - vs, &v) < 0) {
				*error_r = "expected a whole number for "
				    "messages";
				goto bad;
			}
			out.messages = v;
			seen_messages = true;
		} else {
			*error_r = "expected the key storage or messages";
			goto bad;
		}
	}
	*q = out;
	return 0;
bad:
	*line_r = line;
	return -EINVAL;
}

bool
md_quota_allows(const struct md_quota *q, const struct posta_user_usage *use,
    uint64_t add_messages, uint64_t add_bytes)
{
	/* soft limit as Dovecot's: refused when already at or over the
	   limit, or when this message would take usage past it */
	if (q->storage != 0 && (use->bytes >= q->storage ||
	    add_bytes > q->storage - use->bytes))
		return false;
	if (q->messages != 0 && (use->messages >= q->messages ||
	    add_messages > q->messages - use->messages))
		return false;
	return true;
}

/*
 * The user's limits (worker, inside a serial job): the plugin defaults,
 * overridden by <Maildir>/quota.  One stat() per call; the file is read
 * again only when its mtime, size or inode moved.  A malformed file is
 * logged once per version and the defaults apply.
 */
void
md_quota_load(struct md_user *u, struct md_quota *q_r)
{
	const struct md_settings *set = &u->store->set;
	struct md_quota def = { set->quota_storage,
	    (uint64_t)set->quota_messages };
	char path[MD_PATH_MAX];
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	const char *why = NULL;
	unsigned line = 0;
	int ret;

	*q_r = def;
	if (md_pathf(path, sizeof(path), "%s/%s", u->path,
	    MD_QUOTA_FILE) != 0)
		return;
	if (stat(path, &st) != 0) {
		u->quota_state = MD_QSTATE_NONE;
		return;
	}
	if (u->quota_state != MD_QSTATE_NONE &&
	    u->quota_mtime_ns == (int64_t)st.st_mtim.tv_sec * 1000000000 +
	    st.st_mtim.tv_nsec && u->quota_fsize == (uint64_t)st.st_size &&
	    u->quota_ino == (uint64_t)st.st_ino) {
		if (u->quota_state == MD_QSTATE_FILE)
			*q_r = u->quota;
		return;
	}
	u->quota_mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 +
	    st.st_mtim.tv_nsec;
	u->quota_fsize = (uint64_t)st.st_size;
	u->quota_ino = (uint64_t)st.st_ino;
	ret = md_read_small_file(path, 4096, &buf, &len);
	if (ret == 0) {
		struct md_quota q = def;

		ret = md_quota_parse(buf, len, &q, &line, &why);
		free(buf);
		if (ret == 0) {
			u->quota = q;
			u->quota_state = MD_QSTATE_FILE;
			*q_r = q;
			return;
		}
	} else {
		why = ret == -EFBIG ? "expected at most 4096 bytes" :
		    strerror(-ret);
	}
	u->quota_state = MD_QSTATE_BAD;
	if (u->log_msg == NULL) {
		u->log_event = "maildir.quota_invalid";
		u->log_level = POSTA_LOG_ERROR;
		if (asprintf(&u->log_msg, "file=%s line=%u error=\"%s\" "
		    "using=defaults", path, line, why) < 0)
			u->log_msg = NULL;
	}
}

int
md_quota_check(struct md_txn *t, uint64_t add_messages, uint64_t add_bytes,
    const struct posta_user_usage *pending)
{
	struct md_quota q;
	struct posta_user_usage use;
	int ret;

	md_quota_load(t->u, &q);
	if (q.storage == 0 && q.messages == 0)
		return 0;
	if ((ret = md_usage_get(t, &use)) != 0)
		return ret;
	if (pending != NULL) {
		use.messages += pending->messages;
		use.bytes += pending->bytes;
	}
	return md_quota_allows(&q, &use, add_messages, add_bytes) ? 0 :
	    POSTA_EQUOTA;
}
