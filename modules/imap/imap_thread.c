/* imap_thread.c: RFC 5256 threading (ORDEREDSUBJECT, REFERENCES), iterative */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap_thread.h"

#define NONE IMAP_THREAD_NONE
#define ROOT 0u

/* Scratch shared by the steps; freed before imap_thread_build returns. */
struct tb {
	struct imap_thread *t;
	const struct imap_thread_msg *msgs;
	const char *pool;
	uint32_t *a, *b;		/* n_nodes-sized work arrays */
	uint32_t *nchild;		/* step 1: children per node */
	uint32_t *key;			/* step 1: ID of each node */
	uint32_t *tab;			/* hash table of node numbers */
	size_t tab_mask;
};

static uint32_t
node_new(struct imap_thread *t, uint32_t msg, int64_t date, uint32_t order)
{
	uint32_t n = (uint32_t)t->n_nodes++;

	t->parent[n] = NONE;
	t->first_child[n] = NONE;
	t->next_sibling[n] = NONE;
	t->msg[n] = msg;
	t->date[n] = date;
	t->order[n] = order;
	return n;
}

static void
add_child(struct imap_thread *t, uint32_t p, uint32_t c)
{
	t->parent[c] = p;
	t->next_sibling[c] = t->first_child[p];
	t->first_child[p] = c;
}

/* ---- sibling order: sent date, then mailbox order (RFC 5256 2.2) ---- */

static int
node_cmp(const struct imap_thread *t, uint32_t x, uint32_t y)
{
	if (t->date[x] != t->date[y])
		return t->date[x] < t->date[y] ? -1 : 1;
	return t->order[x] < t->order[y] ? -1 : t->order[x] > t->order[y];
}

typedef int cmp_fn(const void *ctx, uint32_t x, uint32_t y);

/* Stable bottom-up merge sort of v[0..n) using tmp[0..n). */
static void
msort(uint32_t *v, uint32_t *tmp, size_t n, cmp_fn *cmp, const void *ctx)
{
	uint32_t *src = v, *dst = tmp, *sw;
	size_t w, lo, mid, hi, i, j, k;

	for (w = 1; w < n; w *= 2) {
		for (lo = 0; lo < n; lo += 2 * w) {
			mid = lo + w < n ? lo + w : n;
			hi = lo + 2 * w < n ? lo + 2 * w : n;
			for (i = lo, j = mid, k = lo; i < mid && j < hi;)
				dst[k++] = cmp(ctx, src[j], src[i]) < 0 ?
				    src[j++] : src[i++];
			while (i < mid)
				dst[k++] = src[i++];
			while (j < hi)
				dst[k++] = src[j++];
		}
		sw = src;
		src = dst;
		dst = sw;
		if (w > n / 2)
			break;
	}
	if (src != v)
		memcpy(v, src, n * sizeof(*v));
}

static int
cmp_nodes(const void *ctx, uint32_t x, uint32_t y)
{
	return node_cmp(ctx, x, y);
}

static void
sort_children(struct tb *b, uint32_t p)
{
	struct imap_thread *t = b->t;
	size_t n = 0, i;
	uint32_t c;

	for (c = t->first_child[p]; c != NONE; c = t->next_sibling[c])
		b->a[n++] = c;
	if (n < 2)
		return;
	msort(b->a, b->b, n, cmp_nodes, t);
	t->first_child[p] = b->a[0];
	for (i = 0; i + 1 < n; i++)
		t->next_sibling[b->a[i]] = b->a[i + 1];
	t->next_sibling[b->a[n - 1]] = NONE;
}

/* A dummy sorts as its first child (RFC 5256 REFERENCES steps 4, 6). */
static void
dummy_key(struct imap_thread *t, uint32_t x)
{
	uint32_t fc = t->first_child[x];

	if (t->msg[x] == NONE && fc != NONE) {
		t->date[x] = t->date[fc];
		t->order[x] = t->order[fc];
	}
}

/* ---- ORDEREDSUBJECT ---- */

static int
cmp_subject(const void *ctx, uint32_t x, uint32_t y)
{
	const struct tb *b = ctx;
	const struct imap_thread_msg *mx = &b->msgs[x], *my = &b->msgs[y];
	int r = strcmp(b->pool + mx->subject, b->pool + my->subject);

	if (r != 0)
		return r;
	if (mx->date != my->date)
		return mx->date < my->date ? -1 : 1;
	return x < y ? -1 : x > y;
}

static void
ordered_subject(struct tb *b, size_t n)
{
	struct imap_thread *t = b->t;
	uint32_t i, first = NONE, tail = NONE, node;

	for (i = 0; i < n; i++)
		b->a[i] = i;
	msort(b->a, b->b, n, cmp_subject, b);
	for (i = 0; i < n; i++) {
		uint32_t m = b->a[i];

		node = node_new(t, m, b->msgs[m].date, m);
		if (first != NONE && strcmp(b->pool + b->msgs[m].subject,
		    b->pool + b->msgs[t->msg[first]].subject) == 0) {
			/* children in date order: append */
			t->parent[node] = first;
			if (tail == NONE)
				t->first_child[first] = node;
			else
				t->next_sibling[tail] = node;
			tail = node;
			continue;
		}
		add_child(t, ROOT, node);
		first = node;
		tail = NONE;
	}
	sort_children(b, ROOT);
}

/* ---- REFERENCES ---- */

static uint32_t
str_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s != '\0'; s++) {
		h ^= (uint8_t)*s;
		h *= 16777619u;
	}
	return h;
}

/* The slot of ID key: holding its node, or empty (NONE). */
static size_t
id_slot(struct tb *b, uint32_t key)
{
	size_t h = str_hash(b->pool + key) & b->tab_mask;

	while (b->tab[h] != NONE &&
	    strcmp(b->pool + b->key[b->tab[h]], b->pool + key) != 0)
		h = (h + 1) & b->tab_mask;
	return h;
}

/* Would making p the parent of c create a loop (c an ancestor of p)? */
static bool
would_loop(struct tb *b, uint32_t p, uint32_t c)
{
	uint32_t x;

	if (p == c)
		return true;
	if (b->nchild[c] == 0)
		return false;	/* nothing hangs below c */
	for (x = p; x != NONE; x = b->t->parent[x])
		if (x == c)
			return true;
	return false;
}

static void
link_node(struct tb *b, uint32_t p, uint32_t c)
{
	b->t->parent[c] = p;
	b->nchild[p]++;
}

static void
unlink_node(struct tb *b, uint32_t c)
{
	uint32_t p = b->t->parent[c];

	if (p != NONE) {
		b->nchild[p]--;
		b->t->parent[c] = NONE;
	}
}

/* The container for ID key, a new dummy when there is none. */
static uint32_t
id_node(struct tb *b, uint32_t key)
{
	size_t h = id_slot(b, key);
	uint32_t n;

	if (b->tab[h] != NONE)
		return b->tab[h];
	n = node_new(b->t, NONE, 0, 0);
	b->key[n] = key;
	b->nchild[n] = 0;
	b->tab[h] = n;
	return n;
}

/* Step 1: containers and parent links from Message-ID and References. */
static void
link_messages(struct tb *b, size_t n, const uint32_t *refs)
{
	struct imap_thread *t = b->t;
	uint32_t i, j, node, prev, rn;

	for (i = 0; i < n; i++) {
		const struct imap_thread_msg *m = &b->msgs[i];

		node = NONE;
		if (m->msgid != NONE) {
			size_t h = id_slot(b, m->msgid);

			if (b->tab[h] == NONE) {
				node = node_new(t, i, m->date, i);
				b->key[node] = m->msgid;
				b->nchild[node] = 0;
				b->tab[h] = node;
			} else if (t->msg[b->tab[h]] == NONE) {
				node = b->tab[h];	/* fills a dummy */
				t->msg[node] = i;
				t->date[node] = m->date;
				t->order[node] = i;
			}
			/* else a duplicate: it gets a unique ID below */
		}
		if (node == NONE) {
			node = node_new(t, i, m->date, i);
			b->key[node] = NONE;
			b->nchild[node] = 0;
		}
		/* (1A) each reference the parent of the next, where free */
		prev = NONE;
		for (j = 0; j < m->n_refs; j++) {
			rn = id_node(b, refs[m->refs_first + j]);
			if (prev != NONE && t->parent[rn] == NONE &&
			    !would_loop(b, prev, rn))
				link_node(b, prev, rn);
			prev = rn;
		}
		/* (1B) the last reference is the parent, whatever was there */
		unlink_node(b, node);
		if (prev != NONE && !would_loop(b, prev, node))
			link_node(b, prev, node);
	}
}

/* Step 3: prune dummies, top-down with an explicit work list. */
static void
prune(struct tb *b)
{
	struct imap_thread *t = b->t;
	uint32_t *work = b->b;
	size_t top = 0;

	work[top++] = ROOT;
	while (top > 0) {
		uint32_t p = work[--top], c, prev = NONE, next;

		c = t->first_child[p];
		while (c != NONE) {
			next = t->next_sibling[c];
			if (t->msg[c] == NONE) {
				uint32_t fc = t->first_child[c], last, x;

				if (fc == NONE || p != ROOT ||
				    t->next_sibling[fc] == NONE) {
					/* delete c; splice in its children */
					last = NONE;
					for (x = fc; x != NONE;
					    x = t->next_sibling[x]) {
						t->parent[x] = p;
						last = x;
					}
					if (last != NONE)
						t->next_sibling[last] = next;
					else
						fc = next;
					if (prev == NONE)
						t->first_child[p] = fc;
					else
						t->next_sibling[prev] = fc;
					t->first_child[c] = NONE;
					t->parent[c] = NONE;
					/* the promoted ones come next */
					c = fc;
					continue;
				}
			}
			if (t->first_child[c] != NONE)
				work[top++] = c;
			prev = c;
			c = next;
		}
	}
}

static uint32_t
thread_subject(struct tb *b, uint32_t x)
{
	const struct imap_thread *t = b->t;
	uint32_t m = t->msg[x];

	if (m == NONE && t->first_child[x] != NONE)
		m = t->msg[t->first_child[x]];
	return m == NONE ? 0 : b->msgs[m].subject;
}

static bool
is_reply(struct tb *b, uint32_t x)
{
	uint32_t m = b->t->msg[x];

	return m != NONE && b->msgs[m].is_reply;
}

/* Step 5: merge threads whose subjects are the same. */
static void
gather_subjects(struct tb *b)
{
	struct imap_thread *t = b->t;
	uint32_t *roots = b->a, *pos = b->nchild, *skey = b->key;
	size_t nr = 0, k, size, mask, h;
	uint32_t c, x, next;

	for (c = t->first_child[ROOT]; c != NONE; c = t->next_sibling[c]) {
		pos[c] = (uint32_t)nr;
		roots[nr++] = c;
	}
	for (size = 16; size < 2 * nr; size *= 2)
		;
	if (size > t->cap)
		return;	/* cannot happen: the table fits in cap slots */
	mask = size - 1;
	/* the table: b->b[slot] is a node, skey[node] its subject */
	for (h = 0; h < size; h++)
		b->b[h] = NONE;
#define SLOT(subj) \
	for (h = str_hash(b->pool + (subj)) & mask; b->b[h] != NONE && \
	    strcmp(b->pool + skey[b->b[h]], b->pool + (subj)) != 0; \
	    h = (h + 1) & mask)
	for (k = 0; k < nr; k++) {
		uint32_t s = thread_subject(b, roots[k]), e;

		if (b->pool[s] == '\0')
			continue;
		SLOT(s);
		e = b->b[h];
		skey[roots[k]] = s;
		if (e == NONE)
			b->b[h] = roots[k];
		else if (t->msg[e] != NONE && (t->msg[roots[k]] == NONE ||
		    (is_reply(b, e) && !is_reply(b, roots[k]))))
			b->b[h] = roots[k];
	}
	for (k = 0; k < nr; k++) {
		uint32_t s, e;

		c = roots[k];
		if (c == NONE)
			continue;
		s = thread_subject(b, c);
		if (b->pool[s] == '\0')
			continue;
		SLOT(s);
		e = b->b[h];
		if (e == NONE || e == c)
			continue;
		if (t->msg[e] == NONE && t->msg[c] == NONE) {
			for (x = t->first_child[c]; x != NONE; x = next) {
				next = t->next_sibling[x];
				add_child(t, e, x);
			}
			t->first_child[c] = NONE;
		} else if (t->msg[e] == NONE ||
		    (is_reply(b, c) && !is_reply(b, e))) {
			add_child(t, e, c);
		} else {
			uint32_t d = node_new(t, NONE, 0, 0);

			roots[pos[e]] = d;
			pos[d] = pos[e];
			skey[d] = s;
			add_child(t, d, e);
			add_child(t, d, c);
			dummy_key(t, d);
			b->b[h] = d;
		}
		roots[k] = NONE;
	}
#undef SLOT
	t->first_child[ROOT] = NONE;
	for (k = nr; k-- > 0;)
		if (roots[k] != NONE)
			add_child(t, ROOT, roots[k]);
}

/* Step 6 (and 4): every sibling list by date, deepest lists first. */
static void
sort_all(struct tb *b)
{
	struct imap_thread *t = b->t;
	uint32_t *bfs = b->key, c;
	size_t head = 0, tail = 0, i;

	bfs[tail++] = ROOT;
	while (head < tail)
		for (c = t->first_child[bfs[head++]]; c != NONE;
		    c = t->next_sibling[c])
			bfs[tail++] = c;
	for (i = tail; i-- > 0;) {
		sort_children(b, bfs[i]);
		dummy_key(t, bfs[i]);
	}
}

static void
references(struct tb *b, size_t n, const uint32_t *refs)
{
	struct imap_thread *t = b->t;
	uint32_t x, c;

	link_messages(b, n, refs);
	/* (2) the root set; child lists from the parent links */
	for (x = 1; x < t->n_nodes; x++) {
		uint32_t p = t->parent[x];

		add_child(t, p == NONE ? ROOT : p, x);
	}
	prune(b);
	/* (4) the root set by date, a dummy by its first child */
	for (c = t->first_child[ROOT]; c != NONE; c = t->next_sibling[c]) {
		if (t->msg[c] == NONE) {
			sort_children(b, c);
			dummy_key(t, c);
		}
	}
	sort_children(b, ROOT);
	gather_subjects(b);
	sort_all(b);
}

int
imap_thread_build(enum imap_thread_alg alg,
    const struct imap_thread_msg *msgs, size_t n, const uint32_t *refs,
    size_t n_refs_total, const char *pool, struct imap_thread **t_r)
{
	struct imap_thread *t;
	struct tb b = { .msgs = msgs, .pool = pool };
	size_t cap, size;
	int r = -ENOMEM;

	*t_r = NULL;
	/* root, messages, one dummy per reference, one per subject merge */
	if (n > UINT32_MAX / 4 || n_refs_total > UINT32_MAX / 4)
		return -EOVERFLOW;
	cap = 1 + 2 * n + n_refs_total;
	for (size = 16; size < 2 * cap; size *= 2)
		;
	if (size > UINT32_MAX / 2)
		return -EOVERFLOW;
	/* the hash tables live in the work arrays: make them big enough */
	cap = size;
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return -ENOMEM;
	b.t = t;
	t->cap = cap;
	t->parent = malloc(cap * sizeof(uint32_t));
	t->first_child = malloc(cap * sizeof(uint32_t));
	t->next_sibling = malloc(cap * sizeof(uint32_t));
	t->msg = malloc(cap * sizeof(uint32_t));
	t->date = malloc(cap * sizeof(int64_t));
	t->order = malloc(cap * sizeof(uint32_t));
	t->stack = malloc(cap * sizeof(uint32_t));
	b.a = malloc(cap * sizeof(uint32_t));
	b.b = malloc(cap * sizeof(uint32_t));
	b.nchild = malloc(cap * sizeof(uint32_t));
	b.key = malloc(cap * sizeof(uint32_t));
	if (t->parent == NULL || t->first_child == NULL ||
	    t->next_sibling == NULL || t->msg == NULL || t->date == NULL ||
	    t->order == NULL || t->stack == NULL || b.a == NULL ||
	    b.b == NULL || b.nchild == NULL || b.key == NULL)
		goto out;
	node_new(t, NONE, 0, 0);	/* ROOT */
	if (alg == IMAP_THREAD_ORDEREDSUBJECT) {
		ordered_subject(&b, n);
	} else {
		/* the ID table: b.tab over b.a, only during step 1 */
		b.tab = b.a;
		b.tab_mask = size - 1;
		memset(b.tab, 0xff, size * sizeof(uint32_t));
		references(&b, n, refs);
	}
	t->cur = NONE;
	*t_r = t;
	t = NULL;
	r = 0;
out:
	free(b.a);
	free(b.b);
	free(b.nchild);
	free(b.key);
	imap_thread_free(&t);
	return r;
}

void
imap_thread_free(struct imap_thread **tp)
{
	struct imap_thread *t = *tp;

	if (t == NULL)
		return;
	*tp = NULL;
	free(t->parent);
	free(t->first_child);
	free(t->next_sibling);
	free(t->msg);
	free(t->date);
	free(t->order);
	free(t->stack);
	free(t);
}

/* ---- output (RFC 5256 section 4, thread-list) ---- */

/* Opens node c in parentheses: one more frame. */
static size_t
open_node(struct imap_thread *t, uint32_t c, char *buf)
{
	size_t n = 0;

	if (t->last_num)
		buf[n++] = ' ';
	buf[n++] = '(';
	t->last_num = false;
	t->stack[t->depth++] = NONE;
	t->cur = c;
	return n;
}

size_t
imap_thread_write(struct imap_thread *t, char *buf, size_t size,
    uint32_t (*num)(void *ctx, uint32_t msg), void *ctx)
{
	size_t n = 0;

	if (!t->started) {
		t->started = true;
		t->next_top = t->first_child[ROOT];
	}
	while (size - n >= 16) {
		uint32_t c = t->cur;

		if (c != NONE) {
			uint32_t fc = t->first_child[c];

			if (t->msg[c] != NONE) {
				n += (size_t)snprintf(buf + n, size - n, "%s%u",
				    t->last_num ? " " : "",
				    num(ctx, t->msg[c]));
				t->last_num = true;
			}
			if (fc != NONE && t->next_sibling[fc] == NONE) {
				t->cur = fc;	/* a chain stays in line */
			} else {
				t->stack[t->depth - 1] = fc;
				t->cur = NONE;
			}
			continue;
		}
		if (t->depth > 0) {
			uint32_t it = t->stack[t->depth - 1];

			if (it != NONE) {
				t->stack[t->depth - 1] = t->next_sibling[it];
				n += open_node(t, it, buf + n);
			} else {
				t->depth--;
				buf[n++] = ')';
				t->last_num = false;
			}
			continue;
		}
		if (t->next_top == NONE)
			break;
		c = t->next_top;
		t->next_top = t->next_sibling[c];
		n += open_node(t, c, buf + n);
	}
	return n;
}
