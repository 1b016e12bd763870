/* pop3_dot.c: pure encoder of a message into a POP3 multi-line response */
#include "config.h"

#include <string.h>

#include "pop3_dot.h"

void
pop3_dot_init(struct pop3_dot *d, bool top, uint32_t lines)
{
	memset(d, 0, sizeof(*d));
	d->line_start = true;
	d->line_empty = true;
	d->top = top;
	d->lines_left = lines;
	/* TOP 0 of a message that has no body still sends the header */
}

/* A line ended: move through the header and count TOP's body lines. */
static void
line_end(struct pop3_dot *d)
{
	if (!d->in_body) {
		if (d->line_empty) {
			d->in_body = true;
			if (d->top && d->lines_left == 0)
				d->done = true;
		}
	} else if (d->top) {
		if (d->lines_left > 0)
			d->lines_left--;
		if (d->lines_left == 0)
			d->done = true;
	}
	d->line_start = true;
	d->line_empty = true;
}

/* True when p[0..n) holds a byte other than CR. */
static bool
has_text(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != '\r')
			return true;
	return false;
}

size_t
pop3_dot_feed(struct pop3_dot *d, const uint8_t *in, size_t len,
    uint8_t *out, size_t *used_r)
{
	size_t i = 0, o = 0;

	/* a run up to the next LF at a time: messages are mostly text */
	while (i < len && !d->done) {
		const uint8_t *lf = memchr(in + i, '\n', len - i);
		size_t end = lf != NULL ? (size_t)(lf - in) : len;

		if (end > i) {
			/* RFC 1939 3: a line starting with the termination
			   octet gets another one */
			if (d->line_start && in[i] == '.')
				out[o++] = '.';
			memcpy(out + o, in + i, end - i);
			o += end - i;
			if (d->line_empty && !d->in_body &&
			    has_text(in + i, end - i))
				d->line_empty = false;
			d->line_start = false;
			d->prev_cr = in[end - 1] == '\r';
		}
		i = end;
		if (lf == NULL)
			break;
		/* a bare LF becomes CRLF */
		if (!d->prev_cr)
			out[o++] = '\r';
		out[o++] = '\n';
		d->prev_cr = false;
		line_end(d);
		i++;
	}
	*used_r = i;
	return o;
}

bool
pop3_dot_done(const struct pop3_dot *d)
{
	return d->done;
}

size_t
pop3_dot_finish(struct pop3_dot *d, uint8_t *out)
{
	size_t o = 0;

	if (!d->line_start) {
		if (!d->prev_cr)
			out[o++] = '\r';
		out[o++] = '\n';
		d->line_start = true;
		d->prev_cr = false;
	}
	out[o++] = '.';
	out[o++] = '\r';
	out[o++] = '\n';
	d->done = true;
	return o;
}
