/* fuzz_imap_sort.c: libFuzzer: ENVELOPE, base subject, dates, IDs, threads */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "imap_sort_key.h"
#include "imap_thread.h"

#define MAX_MSGS 256

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t
num(void *ctx, uint32_t i)
{
	(void)ctx;
	return i + 1;
}

/* Every message appears exactly once and the parentheses balance. */
static void
check_threads(enum imap_thread_alg alg, const struct imap_thread_msg *msgs,
    size_t n, const uint32_t *refs, size_t n_refs, const char *pool)
{
	struct imap_thread *t;
	char buf[64];
	size_t w, i, opened = 0;
	long depth = 0;

	if (imap_thread_build(alg, msgs, n, refs, n_refs, pool, &t) < 0)
		return;
	while ((w = imap_thread_write(t, buf, sizeof(buf), num, NULL)) > 0) {
		for (i = 0; i < w; i++) {
			if (buf[i] == '(') {
				depth++;
				opened++;
			} else if (buf[i] == ')' && --depth < 0) {
				abort();
			}
		}
	}
	if (depth != 0 || (n > 0 && opened == 0))
		abort();
	imap_thread_free(&t);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct arena *a = arena_new(4096, 64u * 1024 * 1024);
	struct imap_envelope env;
	struct imap_thread_msg *msgs;
	uint32_t *refs;
	char *pool, *text;
	size_t n = 0, n_refs = 0, pool_len = 1, pos = 0;

	if (a == NULL)
		return 0;
	text = malloc(size + 1);
	pool = malloc(2 * size + 2);
	msgs = calloc(MAX_MSGS, sizeof(*msgs));
	refs = malloc((size / 2 + 1) * sizeof(*refs));
	if (text == NULL || pool == NULL || msgs == NULL || refs == NULL)
		goto out;
	memcpy(text, data, size);
	text[size] = '\0';
	pool[0] = '\0';
	(void)imap_envelope_parse(a, text, size, &env);
	/* each line a message: "subject|date|<id> <ref> <ref>..." */
	while (pos < size && n < MAX_MSGS) {
		char *line = text + pos, *nl = memchr(line, '\n', size - pos);
		size_t len = nl != NULL ? (size_t)(nl - line) : size - pos;
		char *bar = memchr(line, '|', len), *bar2;
		const char *p, *end = line + len, *id;
		size_t idlen, slen;
		bool reply;
		char *base;
		int64_t t;

		pos += len + 1;
		slen = bar != NULL ? (size_t)(bar - line) : len;
		base = imap_base_subject(a, line, slen, &reply);
		if (base == NULL)
			break;
		msgs[n].is_reply = reply;
		msgs[n].subject = 0;
		if (base[0] != '\0') {
			msgs[n].subject = (uint32_t)pool_len;
			memcpy(pool + pool_len, base, strlen(base) + 1);
			pool_len += strlen(base) + 1;
		}
		bar2 = bar != NULL ? memchr(bar + 1, '|', (size_t)(end -
		    bar - 1)) : NULL;
		if (bar != NULL && imap_sent_date_parse(bar + 1, (size_t)((
		    bar2 != NULL ? bar2 : end) - bar - 1), &t) == 0)
			msgs[n].date = t;
		msgs[n].msgid = IMAP_THREAD_NONE;
		msgs[n].refs_first = (uint32_t)n_refs;
		p = bar2 != NULL ? bar2 + 1 : end;
		while (imap_msgid_next(&p, end, &id, &idlen)) {
			uint32_t off = (uint32_t)pool_len;

			memcpy(pool + pool_len, id, idlen);
			pool[pool_len + idlen] = '\0';
			pool_len += idlen + 1;
			if (msgs[n].msgid == IMAP_THREAD_NONE)
				msgs[n].msgid = off;
			else
				refs[n_refs++] = off;
		}
		msgs[n].n_refs = (uint32_t)(n_refs - msgs[n].refs_first);
		n++;
		arena_reset(a);
	}
	check_threads(IMAP_THREAD_REFERENCES, msgs, n, refs, n_refs, pool);
	check_threads(IMAP_THREAD_ORDEREDSUBJECT, msgs, n, refs, n_refs,
	    pool);
out:
	free(text);
	free(pool);
	free(msgs);
	free(refs);
	arena_free(&a);
	return 0;
}
