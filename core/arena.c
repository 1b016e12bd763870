/* arena.c: bump allocator with a byte limit and cleanup callbacks */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"

struct arena_block {
	struct arena_block *next;
	size_t size, used;
	max_align_t data[];
};

struct arena_cleanup {
	struct arena_cleanup *next;
	arena_cleanup_fn *fn;
	void *ctx;
};

struct arena {
	struct arena_block *blocks;	/* newest first; the last is the first */
	struct arena_cleanup *cleanups;
	size_t block_size, limit, total;
};

#define ALIGN_UP(n) (((n) + sizeof(max_align_t) - 1) & \
	~(sizeof(max_align_t) - 1))

static struct arena_block *
block_new(size_t size)
{
	struct arena_block *b = malloc(sizeof(*b) + size);

	if (b == NULL)
		return NULL;
	b->next = NULL;
	b->size = size;
	b->used = 0;
	return b;
}

struct arena *
arena_new(size_t block_size, size_t limit)
{
	struct arena *a = calloc(1, sizeof(*a));

	if (a == NULL)
		return NULL;
	a->block_size = block_size < 256 ? 256 : ALIGN_UP(block_size);
	a->limit = limit;
	return a;
}

static void
run_cleanups(struct arena *a)
{
	while (a->cleanups != NULL) {
		struct arena_cleanup *c = a->cleanups;

		/* unlink first: a cleanup may register nothing new safely */
		a->cleanups = c->next;
		c->fn(c->ctx);
	}
}

void
arena_reset(struct arena *a)
{
	struct arena_block *b, *next;

	if (a == NULL)
		return;
	run_cleanups(a);
	for (b = a->blocks; b != NULL && b->next != NULL; b = next) {
		next = b->next;
		a->total -= b->size;
		free(b);
	}
	a->blocks = b;
	if (b != NULL)
		b->used = 0;
}

void
arena_free(struct arena **ap)
{
	struct arena *a = *ap;
	struct arena_block *b, *next;

	if (a == NULL)
		return;
	*ap = NULL;
	run_cleanups(a);
	for (b = a->blocks; b != NULL; b = next) {
		next = b->next;
		free(b);
	}
	free(a);
}

void *
arena_alloc(struct arena *a, size_t size)
{
	struct arena_block *b = a->blocks;
	size_t need = ALIGN_UP(size == 0 ? 1 : size);
	void *p;

	if (need < size)
		return NULL;
	if (b == NULL || b->size - b->used < need) {
		size_t bsize = need > a->block_size ? need : a->block_size;

		if (a->limit != 0 && a->total + bsize > a->limit) {
			/* a last block smaller than block_size may still fit */
			if (a->total + need > a->limit)
				return NULL;
			bsize = need;
		}
		b = block_new(bsize);
		if (b == NULL)
			return NULL;
		a->total += bsize;
		/* newest first, so the first block stays last for reset */
		b->next = a->blocks;
		a->blocks = b;
	}
	p = (char *)b->data + b->used;
	b->used += need;
	return p;
}

void *
arena_zalloc(struct arena *a, size_t size)
{
	void *p = arena_alloc(a, size);

	if (p != NULL)
		memset(p, 0, size);
	return p;
}

void *
arena_memdup(struct arena *a, const void *src, size_t len)
{
	void *p = arena_alloc(a, len);

	if (p != NULL && len > 0)
		memcpy(p, src, len);
	return p;
}

char *
arena_strndup(struct arena *a, const char *s, size_t len)
{
	char *p = arena_alloc(a, len + 1);

	if (p == NULL)
		return NULL;
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

char *
arena_strdup(struct arena *a, const char *s)
{
	return arena_strndup(a, s, strlen(s));
}

char *
arena_vprintf(struct arena *a, const char *fmt, va_list ap)
{
	va_list ap2;
	int n;
	char *p;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return NULL;
	p = arena_alloc(a, (size_t)n + 1);
	if (p != NULL)
		vsnprintf(p, (size_t)n + 1, fmt, ap);
	return p;
}

char *
arena_printf(struct arena *a, const char *fmt, ...)
{
	va_list ap;
	char *p;

	va_start(ap, fmt);
	p = arena_vprintf(a, fmt, ap);
	va_end(ap);
	return p;
}

int
arena_on_free(struct arena *a, arena_cleanup_fn *fn, void *ctx)
{
	struct arena_cleanup *c = arena_alloc(a, sizeof(*c));

	if (c == NULL)
		return -ENOMEM;
	c->fn = fn;
	c->ctx = ctx;
	c->next = a->cleanups;
	a->cleanups = c;
	return 0;
}

size_t
arena_used(const struct arena *a)
{
	return a->total;
}
