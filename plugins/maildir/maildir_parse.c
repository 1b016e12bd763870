/* maildir_parse.c: CRLF normalising, MIME parsing and the cached-meta blob */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "maildir.h"
#include "mime.h"

/*
 * Clients are sent messages with CRLF line ends, so every size and offset
 * the store reports is of that form (store.h).  Messages we write are
 * stored that way; a foreign message with bare LFs is converted as it is
 * read, and parsed in converted form so the MIME offsets match.
 */

size_t
md_crlf_convert(struct md_crlf *c, const uint8_t *in, size_t len,
    uint8_t *out)
{
	size_t i, n = 0;
	bool prev_cr = c->prev_cr;

	for (i = 0; i < len; i++) {
		if (in[i] == '\n' && !prev_cr)
			out[n++] = '\r';
		out[n++] = in[i];
		prev_cr = in[i] == '\r';
	}
	c->prev_cr = prev_cr;
	return n;
}

size_t
md_crlf_read(struct md_crlf_cursor *c, const uint8_t *raw, size_t raw_len,
    uint64_t off, uint8_t *out, size_t len, size_t *filled)
{
	size_t i;

	for (i = 0; i < raw_len && *filled < len; i++) {
		uint8_t emit[2];
		size_t ne = 0, k;
		uint64_t pos = c->norm_off;

		if (raw[i] == '\n' && !c->prev_cr)
			emit[ne++] = '\r';
		emit[ne++] = raw[i];
		for (k = 0; k < ne; k++, pos++) {
			if (pos < off)
				continue;
			if (*filled == len)
				return i;	/* the cursor stays here */
			out[(*filled)++] = emit[k];
		}
		c->norm_off += ne;
		c->raw_off++;
		c->prev_cr = raw[i] == '\r';
	}
	return i;
}

/* ---- parsing ---- */

struct md_parse {
	struct arena *arena;
	struct mime_parser *mime;	/* NULL after a parser error */
	uint64_t size;
	uint64_t header_size;		/* 0 until the header ended */
	uint32_t body_lines;
	uint32_t hdr_state;		/* bytes of CRLFCRLF matched */
	bool header_done;
};

struct md_parse *
md_parse_new(void)
{
	struct md_parse *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	/* the parser's own limits bound it well below this */
	p->arena = arena_new(64 * 1024, 64u << 20);
	if (p->arena == NULL) {
		free(p);
		return NULL;
	}
	p->mime = mime_parser_new(p->arena, NULL);
	if (p->mime == NULL) {
		arena_free(&p->arena);
		free(p);
		return NULL;
	}
	return p;
}

void
md_parse_free(struct md_parse **pp)
{
	struct md_parse *p = *pp;

	if (p == NULL)
		return;
	*pp = NULL;
	arena_free(&p->arena);
	free(p);
}

int
md_parse_feed(struct md_parse *p, const uint8_t *data, size_t len)
{
	static const char crlf2[] = "\r\n\r\n";
	size_t i;

	for (i = 0; i < len; i++) {
		if (p->header_done) {
			if (data[i] == '\n')
				p->body_lines++;
			continue;
		}
		/* an empty header: the message starts with its blank line */
		if (p->size + i == 0 && data[i] == '\r')
			p->hdr_state = 2;
		if (data[i] == (uint8_t)crlf2[p->hdr_state]) {
			if (++p->hdr_state == 4) {
				p->header_done = true;
				p->header_size = p->size + i + 1;
			}
		} else {
			p->hdr_state = data[i] == '\r' ? 1 : 0;
		}
	}
	p->size += len;
	if (p->mime != NULL && mime_parser_feed(p->mime, data, len) != 0)
		p->mime = NULL;		/* the sizes are still right */
	return 0;
}

/* The cache blob is the MIME parser's own versioned form of its summary
   (mime_summary_encode), copied out of the parser's arena. */
static int
encode(struct arena *a, const struct mime_summary *s, void **blob_r,
    size_t *len_r)
{
	uint8_t *buf;
	size_t len;
	int ret = mime_summary_encode(a, s, &buf, &len);

	if (ret != 0)
		return ret;
	*blob_r = malloc(len ? len : 1);
	if (*blob_r == NULL)
		return -ENOMEM;
	memcpy(*blob_r, buf, len);
	*len_r = len;
	return 0;
}

int
md_parse_finish(struct md_parse *p, void **blob_r, size_t *len_r,
    uint64_t *size_r, uint64_t *header_size_r, uint32_t *body_lines_r)
{
	struct mime_summary *s;

	*blob_r = NULL;
	*len_r = 0;
	*size_r = p->size;
	/* no blank line: the whole message is header (RFC 5322 allows it) */
	*header_size_r = p->header_done ? p->header_size : p->size;
	*body_lines_r = p->body_lines;
	if (p->mime == NULL || mime_parser_finish(p->mime, &s) != 0)
		return 0;	/* no cache; fetch_meta parses again */
	p->mime = NULL;
	/* without a cache fetch_meta parses again: not an error here */
	if (encode(p->arena, s, blob_r, len_r) != 0) {
		*blob_r = NULL;
		*len_r = 0;
	}
	return 0;
}

int
md_parse_file(int fd, void **blob_r, size_t *len_r, uint64_t *size_r,
    uint64_t *raw_size_r, uint64_t *header_size_r, uint32_t *lines_r)
{
	struct md_parse *p = md_parse_new();
	struct md_crlf c = { false };
	uint8_t *raw, *conv;
	uint64_t raw_size = 0;
	ssize_t n;
	int ret = 0;

	if (p == NULL)
		return -ENOMEM;
	raw = malloc(64 * 1024);
	conv = malloc(128 * 1024);
	if (raw == NULL || conv == NULL) {
		ret = -ENOMEM;
		goto out;
	}
	for (;;) {
		n = pread(fd, raw, 64 * 1024, (off_t)raw_size);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			goto out;
		}
		if (n == 0)
			break;
		raw_size += (uint64_t)n;
		ret = md_parse_feed(p, conv, md_crlf_convert(&c, raw,
		    (size_t)n, conv));
		if (ret != 0)
			goto out;
	}
	*raw_size_r = raw_size;
	ret = md_parse_finish(p, blob_r, len_r, size_r, header_size_r,
	    lines_r);
out:
	free(raw);
	free(conv);
	md_parse_free(&p);
	return ret;
}

/* ---- decoding ---- */

int
md_meta_decode(struct arena *a, const void *blob, size_t len,
    struct posta_msg_meta *m)
{
	struct mime_summary *s;
	struct posta_mime_part *parts;
	size_t i;
	int ret = mime_summary_decode(a, blob, len, &s);

	if (ret == -ENOMEM)
		return ret;
	if (ret != 0)
		return POSTA_ECORRUPT;
	parts = arena_alloc(a, (s->n_parts ? s->n_parts : 1) *
	    sizeof(*parts));
	if (parts == NULL)
		return -ENOMEM;
	for (i = 0; i < s->n_parts; i++) {
		const struct mime_part *mp = &s->parts[i];

		parts[i].section = mp->section;
		parts[i].header_off = mp->header_off;
		parts[i].header_len = mp->header_len;
		parts[i].body_off = mp->body_off;
		parts[i].body_len = mp->body_len;
		parts[i].msg_header_len = mp->message_header_len;
		parts[i].body_lines = mp->body_lines;
		parts[i].flags = (mp->is_multipart ? POSTA_PART_MULTIPART : 0) |
		    (mp->is_message_rfc822 ? POSTA_PART_MESSAGE : 0);
	}
	m->envelope = s->envelope;
	m->bodystructure = s->bodystructure;
	m->body = s->body;
	m->n_parts = s->n_parts;
	m->parts = parts;
	return 0;
}
