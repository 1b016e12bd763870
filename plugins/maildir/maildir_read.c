/* maildir_read.c: streaming a message in CRLF form, by byte range */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "maildir.h"

/*
 * A reader owns an open descriptor, so it keeps working after the
 * message is expunged or renamed.  Reads run on the thread pool outside
 * the user's serial queue: they touch no index.  A file already in CRLF
 * form (size == raw_size, every message we wrote) is read with pread at
 * the offset asked; a bare-LF file goes through a cursor that converts on
 * the fly and remembers where it stopped, so sequential reads never
 * rescan, and a jump backwards restarts from the top.
 */

#define RAW_CHUNK (64u * 1024)

struct posta_msg_reader {
	const struct posta_store_ops *ops;
	struct md_store *store;
	int fd;
	uint64_t size, raw_size;
	struct md_crlf_cursor cur;
	uint8_t *buf, *raw;
	bool busy, closed;
	uint64_t off;
	size_t len, got;
	int err;
	posta_msg_read_cb *cb;
	void *ctx;
	struct md_job job;
};

static void
reader_free(struct posta_msg_reader *r)
{
	if (r->fd >= 0)
		close(r->fd);
	free(r->buf);
	free(r->raw);
	free(r);
}

struct posta_msg_reader *
md_reader_new(struct md_store *s, int fd, uint64_t size, uint64_t raw_size)
{
	struct posta_msg_reader *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->ops = &md_ops;
	r->store = s;
	r->fd = fd;
	r->size = size;
	r->raw_size = raw_size;
	return r;
}

static int
read_plain(struct posta_msg_reader *r)
{
	while (r->got < r->len) {
		ssize_t n = pread(r->fd, r->buf + r->got, r->len - r->got,
		    (off_t)(r->off + r->got));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		r->got += (size_t)n;
	}
	return 0;
}

static int
read_converted(struct posta_msg_reader *r)
{
	if (r->raw == NULL && (r->raw = malloc(RAW_CHUNK)) == NULL)
		return -ENOMEM;
	if (r->off < r->cur.norm_off)
		memset(&r->cur, 0, sizeof(r->cur));
	while (r->got < r->len) {
		ssize_t n = pread(r->fd, r->raw, RAW_CHUNK,
		    (off_t)r->cur.raw_off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		md_crlf_read(&r->cur, r->raw, (size_t)n, r->off, r->buf,
		    r->len, &r->got);
	}
	return 0;
}

static void
read_work(struct md_job *job)
{
	struct posta_msg_reader *r = (struct posta_msg_reader *)
	    ((char *)job - offsetof(struct posta_msg_reader, job));

	if (r->buf == NULL && (r->buf = malloc(POSTA_STORE_READ_MAX)) == NULL) {
		r->err = -ENOMEM;
		return;
	}
	r->err = r->size == r->raw_size ? read_plain(r) : read_converted(r);
}

static void
read_done(struct md_job *job)
{
	struct posta_msg_reader *r = (struct posta_msg_reader *)
	    ((char *)job - offsetof(struct posta_msg_reader, job));

	r->busy = false;
	if (r->closed) {
		r->cb(r->ctx, -ECANCELED, NULL, 0);
		reader_free(r);
		return;
	}
	r->cb(r->ctx, r->err, r->err == 0 ? r->buf : NULL,
	    r->err == 0 ? r->got : 0);
}

int
md_op_msg_read(struct posta_msg_reader *r, uint64_t offset, size_t len,
    posta_msg_read_cb *cb, void *ctx)
{
	if (r->closed)
		return -EINVAL;
	if (r->busy)
		return -EBUSY;
	if (len > POSTA_STORE_READ_MAX)
		return -EMSGSIZE;
	if (offset >= r->size)
		len = 0;
	else if (len > r->size - offset)
		len = (size_t)(r->size - offset);
	memset(&r->job, 0, sizeof(r->job));
	r->job.work_fn = read_work;
	r->job.done_fn = read_done;
	r->off = offset;
	r->len = len;
	r->got = 0;
	r->err = 0;
	r->cb = cb;
	r->ctx = ctx;
	r->busy = true;
	if (md_job_free(r->store, &r->job) != 0) {
		r->busy = false;
		return -ENOMEM;
	}
	return 0;
}

void
md_op_msg_close(struct posta_msg_reader *r)
{
	r->closed = true;
	if (!r->busy)
		reader_free(r);
}
