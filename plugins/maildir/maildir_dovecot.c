/* maildir_dovecot.c: reading Dovecot's uidlist, keywords, subscriptions */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "maildir.h"

/*
 * Migration from Dovecot: a Maildir it served holds, per folder,
 * dovecot-uidlist ("3 V<uidvalidity> N<nextuid> G<guid>" then
 * "<uid> [<key><value> ...] :<file name>" lines; version 1 is
 * "1 <uidvalidity> <nextuid>" then "<uid> <file name>"),
 * dovecot-keywords ("<n> <keyword>", n = the letter 'a' + n) and, in the
 * Maildir itself, subscriptions (version 2: "V\t2\n\n" then one name per
 * line with TAB between hierarchy levels; version 1: one name per line
 * with the separator '.').  Names are in modified UTF-7.  The parsers are
 * pure and skip what they cannot read: a damaged line costs one message
 * its old UID, never the import.
 */

static bool
parse_u32(const char *s, const char *end, uint32_t *v_r, const char **next_r)
{
	uint64_t v = 0;
	const char *p = s;

	while (p < end && *p >= '0' && *p <= '9') {
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > UINT32_MAX)
			return false;
		p++;
	}
	if (p == s)
		return false;
	*v_r = (uint32_t)v;
	*next_r = p;
	return true;
}

static int
cmp_uid_base(const void *a, const void *b)
{
	const struct md_dovecot_uid *x = a, *y = b;
	int c = strcmp(x->base, y->base);

	if (c != 0)
		return c;
	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

void
md_dovecot_uidlist_free(struct md_dovecot_uidlist *ul)
{
	size_t i;

	for (i = 0; i < ul->n; i++)
		free(ul->uids[i].base);
	free(ul->uids);
	memset(ul, 0, sizeof(*ul));
}

static int
uidlist_add(struct md_dovecot_uidlist *ul, size_t *cap, uint32_t uid,
    const char *name, size_t len)
{
	size_t base = 0;

	while (base < len && name[base] != ':')
		base++;
	if (uid == 0 || base == 0 || base > MD_NAME_MAX ||
	    memchr(name, '/', base) != NULL)
		return 0;
	if (ul->n == *cap) {
		size_t nc = *cap ? *cap * 2 : 64;
		struct md_dovecot_uid *p = realloc(ul->uids, nc * sizeof(*p));

		if (p == NULL)
			return -ENOMEM;
		ul->uids = p;
		*cap = nc;
	}
	ul->uids[ul->n].uid = uid;
	ul->uids[ul->n].base = strndup(name, base);
	if (ul->uids[ul->n].base == NULL)
		return -ENOMEM;
	ul->n++;
	return 0;
}

int
md_dovecot_parse_uidlist(const char *buf, size_t len,
    struct md_dovecot_uidlist *ul)
{
	const char *p = buf, *end = buf + len, *eol, *q;
	uint32_t version = 0, v;
	size_t cap = 0, i, j;
	int ret;

	memset(ul, 0, sizeof(*ul));
	eol = memchr(p, '\n', len);
	if (eol == NULL)
		return POSTA_ECORRUPT;
	if (!parse_u32(p, eol, &version, &q) || (version != 1 &&
	    version != 3))
		return POSTA_ECORRUPT;
	if (version == 1) {
		if (q >= eol || *q != ' ' ||
		    !parse_u32(q + 1, eol, &ul->uidvalidity, &q) ||
		    q >= eol || *q != ' ' ||
		    !parse_u32(q + 1, eol, &ul->nextuid, &q))
			return POSTA_ECORRUPT;
	} else {
		while (q < eol) {
			const char *f;

			while (q < eol && *q == ' ')
				q++;
			f = q;
			while (q < eol && *q != ' ')
				q++;
			if (f + 1 < q && *f == 'V' &&
			    parse_u32(f + 1, q, &v, &f))
				ul->uidvalidity = v;
			else if (f + 1 < q && *f == 'N' &&
			    parse_u32(f + 1, q, &v, &f))
				ul->nextuid = v;
		}
	}
	if (ul->uidvalidity == 0)
		return POSTA_ECORRUPT;
	for (p = eol + 1; p < end; p = eol + 1) {
		uint32_t uid;

		eol = memchr(p, '\n', (size_t)(end - p));
		if (eol == NULL)
			break;		/* a line being appended: ignore it */
		if (!parse_u32(p, eol, &uid, &q) || q >= eol || *q != ' ')
			continue;
		if (version == 1) {
			q++;
		} else {
			q = memchr(q, ':', (size_t)(eol - q));
			if (q == NULL)
				continue;
			q++;
		}
		ret = uidlist_add(ul, &cap, uid, q, (size_t)(eol - q));
		if (ret != 0) {
			md_dovecot_uidlist_free(ul);
			return ret;
		}
	}
	if (ul->n == 0)
		return 0;
	qsort(ul->uids, ul->n, sizeof(*ul->uids), cmp_uid_base);
	/* a base listed twice keeps its first (lowest) UID */
	for (i = 1, j = 1; i < ul->n; i++) {
		if (strcmp(ul->uids[i].base, ul->uids[j - 1].base) == 0) {
			free(ul->uids[i].base);
			continue;
		}
		ul->uids[j++] = ul->uids[i];
	}
	ul->n = j;
	return 0;
}

uint32_t
md_dovecot_uid_of(const struct md_dovecot_uidlist *ul, const char *base,
    size_t base_len)
{
	size_t lo = 0, hi = ul->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const char *b = ul->uids[mid].base;
		int c = strncmp(b, base, base_len);

		if (c == 0 && b[base_len] != '\0')
			c = 1;
		if (c == 0)
			return ul->uids[mid].uid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

int
md_dovecot_parse_keywords(const char *buf, size_t len,
    int (*fn)(void *ctx, unsigned idx, const char *name), void *ctx)
{
	const char *p = buf, *end = buf + len, *eol, *q;

	for (; p < end; p = eol + 1) {
		char name[128];
		uint32_t idx;
		size_t nl;
		int ret;

		eol = memchr(p, '\n', (size_t)(end - p));
		if (eol == NULL)
			eol = end;
		if (!parse_u32(p, eol, &idx, &q) || q >= eol || *q != ' ')
			continue;
		q++;
		nl = (size_t)(eol - q);
		if (nl == 0 || nl >= sizeof(name))
			continue;
		memcpy(name, q, nl);
		name[nl] = '\0';
		if (!md_keyword_valid(name))
			continue;
		ret = fn(ctx, idx, name);
		if (ret != 0)
			return ret;
	}
	return 0;
}

int
md_dovecot_parse_subscriptions(const char *buf, size_t len,
    int (*fn)(void *ctx, const char *name), void *ctx)
{
	const char *p = buf, *end = buf + len, *eol;
	bool v2 = false;

	if (len >= 4 && memcmp(buf, "V\t2\n", 4) == 0) {
		v2 = true;
		p = buf + 4;
	}
	for (; p < end; p = eol + 1) {
		char raw[MD_NAME_MAX + 1], utf8[MD_NAME_MAX * 2 + 1];
		char canon[MD_MAILBOX_MAX + 1];
		size_t nl, i;
		int ret;

		eol = memchr(p, '\n', (size_t)(end - p));
		if (eol == NULL)
			eol = end;
		nl = (size_t)(eol - p);
		if (nl == 0 || nl >= sizeof(raw))
			continue;
		memcpy(raw, p, nl);
		raw[nl] = '\0';
		for (i = 0; v2 && i < nl; i++)
			if (raw[i] == '\t')
				raw[i] = '.';
		/* modified UTF-7 normally; take UTF-8 when it is not */
		if (md_mutf7_decode(raw, utf8, sizeof(utf8)) < 0)
			memcpy(utf8, raw, nl + 1);
		if (md_mailbox_canon(utf8, canon, sizeof(canon)) < 0)
			continue;
		ret = fn(ctx, canon);
		if (ret != 0)
			return ret;
	}
	return 0;
}

int
md_read_small_file(const char *path, size_t max, char **buf_r, size_t *len_r)
{
	struct stat st;
	char *buf;
	size_t off = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) != 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	if ((uint64_t)st.st_size > max) {
		close(fd);
		return -EFBIG;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		close(fd);
		return -ENOMEM;
	}
	while (off < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + off, (size_t)st.st_size - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	close(fd);
	buf[off] = '\0';
	*buf_r = buf;
	*len_r = off;
	return 0;
}
