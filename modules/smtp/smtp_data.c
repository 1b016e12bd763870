/* smtp_data.c: DATA reader (dot-unstuffing, strict end of data) and BDAT */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "smtp_data.h"

static const struct smtp_status data_status[SMTP_DATA_RESULT_COUNT_] = {
	[SMTP_DATA_OK] = { 250, "2.0.0", "OK" },
	[SMTP_DATA_TOO_BIG] = { 552, "5.3.4",
	    "Message size exceeds fixed maximum message size" },
	[SMTP_DATA_LINE_TOO_LONG] = { 550, "5.6.0",
	    "Message has lines longer than 1000 octets (RFC 5321 4.5.3.1.6)" },
	[SMTP_DATA_BARE_LF] = { 550, "5.5.2",
	    "Message has lines ending in bare LF; use CRLF" },
	[SMTP_DATA_BARE_CR] = { 550, "5.5.2",
	    "Message has bare CR characters; use CRLF" },
};

const struct smtp_status *
smtp_data_status(enum smtp_data_result r)
{
	if ((unsigned)r >= SMTP_DATA_RESULT_COUNT_)
		r = SMTP_DATA_TOO_BIG;
	return &data_status[r];
}

void
smtp_data_opts_init(struct smtp_data_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->max_line_len = 998;
}

void
smtp_data_init(struct smtp_data *d, const struct smtp_data_opts *o)
{
	memset(d, 0, sizeof(*d));
	d->opts = *o;
	/* the first line may be the end marker: an empty message */
	d->prev_crlf = true;
}

static uint64_t
sat_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* Only the first failure is reported; later ones do not change it. */
static void
fail(struct smtp_data *d, enum smtp_data_result r)
{
	if (d->result == SMTP_DATA_OK)
		d->result = r;
}

int
smtp_data_feed(struct smtp_data *d, const uint8_t *line, size_t len,
    bool crlf, struct smtp_data_out *out)
{
	const uint8_t *p = line;
	size_t n = len, i, cr = 0;
	bool was_crlf = d->prev_crlf;

	out->data = NULL;
	out->len = 0;
	out->eol = false;
	if (d->done || (line == NULL && len != 0))
		return -EINVAL;
	d->lines++;
	d->prev_crlf = crlf;

	if (len == 1 && line[0] == '.' && crlf && was_crlf) {
		d->done = true;
		return SMTP_DATA_END;
	}

	if (!crlf) {
		d->bare_lf_lines++;
		if (d->opts.reject_bare_lf)
			fail(d, SMTP_DATA_BARE_LF);
	}
	/* the core strips the CR of CRLF only, so any CR left is bare */
	for (i = 0; i < len; i++)
		if (line[i] == '\r')
			cr++;
	if (cr > 0) {
		d->bare_cr = sat_add(d->bare_cr, cr);
		if (d->opts.reject_bare_cr)
			fail(d, SMTP_DATA_BARE_CR);
	}
	/* a lone "." here is not the end (see smtp_data.h): kept as is */
	if (n > 1 && p[0] == '.') {
		p++;
		n--;
	}
	/* RFC 5321 4.5.3.1.6 does not count the dot added for transparency */
	if (d->opts.max_line_len != 0 && n > d->opts.max_line_len) {
		d->long_lines++;
		fail(d, SMTP_DATA_LINE_TOO_LONG);
	}
	if (d->opts.max_size != 0 && d->result == SMTP_DATA_OK &&
	    sat_add(d->size, (uint64_t)n + 2) > d->opts.max_size)
		fail(d, SMTP_DATA_TOO_BIG);
	d->size = sat_add(d->size, (uint64_t)n + 2);
	if (d->result != SMTP_DATA_OK)
		return SMTP_DATA_MORE;
	out->data = n > 0 ? p : NULL;
	out->len = n;
	out->eol = true;
	return SMTP_DATA_MORE;
}

int
smtp_data_feed_too_long(struct smtp_data *d, bool crlf)
{
	if (d->done)
		return -EINVAL;
	d->lines++;
	d->long_lines++;
	d->prev_crlf = crlf;
	if (!crlf)
		d->bare_lf_lines++;
	fail(d, SMTP_DATA_LINE_TOO_LONG);
	return SMTP_DATA_MORE;
}

void
smtp_bdat_init(struct smtp_bdat *b, uint64_t max_size)
{
	memset(b, 0, sizeof(*b));
	b->max_size = max_size;
}

int
smtp_bdat_begin(struct smtp_bdat *b, uint64_t size, bool last)
{
	if (b->in_chunk || b->last)
		return -EINVAL;
	b->size = sat_add(b->size, size);
	/* decided before reading, so no byte of an oversized chunk is
	   stored: the size is announced up front */
	if (b->max_size != 0 && b->size > b->max_size)
		b->result = SMTP_DATA_TOO_BIG;
	b->chunk_left = size;
	b->in_chunk = size > 0;
	b->last = last;
	return b->result == SMTP_DATA_OK ? SMTP_BDAT_STORE :
	    SMTP_BDAT_DISCARD;
}

int
smtp_bdat_feed(struct smtp_bdat *b, const uint8_t *p, size_t len,
    struct smtp_data_out *out)
{
	out->data = NULL;
	out->len = 0;
	out->eol = false;
	if (!b->in_chunk || (uint64_t)len > b->chunk_left ||
	    (p == NULL && len != 0))
		return -EINVAL;
	b->chunk_left -= len;
	if (b->result == SMTP_DATA_OK && len > 0) {
		out->data = p;
		out->len = len;
	}
	if (b->chunk_left > 0)
		return 0;
	b->in_chunk = false;
	return 1;
}

bool
smtp_bdat_done(const struct smtp_bdat *b)
{
	return b->last && !b->in_chunk;
}
