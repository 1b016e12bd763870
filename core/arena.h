/* arena.h: bump allocator with cleanups; one per connection, command or config generation */
#ifndef POSTA_CORE_ARENA_H
#define POSTA_CORE_ARENA_H

#include <stdarg.h>
#include <stddef.h>

/*
 * An arena hands out memory that lives until arena_reset() or arena_free().
 * Every arena has a byte limit fixed at creation (0 = unlimited, only for the
 * config generation); past it, allocations return NULL and the caller turns
 * that into a protocol reply, never into a crash.  Cleanups run in reverse
 * order of registration on reset and free, which is how fds, limiter counts
 * and pending requests are released however a session ends.
 */
struct arena;

typedef void arena_cleanup_fn(void *ctx);

struct arena *arena_new(size_t block_size, size_t limit);
void arena_free(struct arena **a);
/* Runs cleanups and releases all but the first block. */
void arena_reset(struct arena *a);

void *arena_alloc(struct arena *a, size_t size);
void *arena_zalloc(struct arena *a, size_t size);
char *arena_strdup(struct arena *a, const char *s);
char *arena_strndup(struct arena *a, const char *s, size_t len);
void *arena_memdup(struct arena *a, const void *p, size_t len);
char *arena_printf(struct arena *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
char *arena_vprintf(struct arena *a, const char *fmt, va_list ap);
/* Returns 0 or -ENOMEM (then fn is not registered and not called). */
int arena_on_free(struct arena *a, arena_cleanup_fn *fn, void *ctx);
size_t arena_used(const struct arena *a);

#endif
