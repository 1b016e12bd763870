/* mime_int.h: the MIME parser's internals shared by mime.c and mime_field.c */
#ifndef POSTA_MIME_INT_H
#define POSTA_MIME_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "util.h"
#include "mime.h"

#define NAME_MAX_LEN 76		/* longer field names are never ours */
#define MAX_PARAMS 64		/* per Content-Type / -Disposition */
#define MAX_LANGS 32
#define MAX_SECTION 999		/* highest RFC 2231 section number */
#define LBUF_MAX (MIME_BOUNDARY_MAX + 4)

enum hdr_id {
	/* ENVELOPE fields, in RFC 3501 order */
	HDR_DATE, HDR_SUBJECT, HDR_FROM, HDR_SENDER, HDR_REPLY_TO, HDR_TO,
	HDR_CC, HDR_BCC, HDR_IN_REPLY_TO, HDR_MESSAGE_ID,
	HDR_ENV_COUNT,
	HDR_CONTENT_TYPE = HDR_ENV_COUNT, HDR_CONTENT_TE, HDR_CONTENT_ID,
	HDR_CONTENT_DESC, HDR_CONTENT_DISP, HDR_CONTENT_LANG,
	HDR_CONTENT_LOC, HDR_CONTENT_MD5,
	HDR_COUNT
};


enum node_kind { KIND_LEAF, KIND_MULTIPART, KIND_RFC822 };

struct mime_param {
	const char *name, *value;
};

/* An ENVELOPE address; a group is a start marker with the group name in
   mailbox and host NULL, its members, and an all-NULL end marker. */
struct addr {
	struct addr *next;
	const char *name, *adl, *mailbox, *host;
};

struct node {
	struct node *parent, *child, *last_child, *next;
	uint64_t hdr_off, body_off, body_end;
	uint64_t lf_body_off, lf_body_end;	/* LF counts at those offsets */
	uint32_t depth, n_children;
	enum node_kind kind;
	bool is_message;	/* a message header: keep ENVELOPE fields */
	bool header_done;
	bool fallback;		/* shown as text/plain, see the top comment */
	bool digest_default;	/* no Content-Type under multipart/digest */
	uint32_t seen;		/* 1 << hdr_id: first occurrence wins */

	const char *type, *subtype;	/* NULL unless Content-Type valid */
	struct mime_param *params;
	size_t n_params;
	const char *cte, *id, *desc, *md5, *loc;
	const char *disp;
	struct mime_param *disp_params;
	size_t n_disp_params;
	const char **langs;
	size_t n_langs;
	const char *boundary;
	size_t boundary_len;

	const char *env[HDR_ENV_COUNT];	/* unstructured ones */
	struct addr *addrs[HDR_ENV_COUNT];	/* address lists */
};

enum pstate { ST_HEADER, ST_BODY, ST_BLINE };
enum hstate { H_LINE_START, H_CR, H_NAME, H_VALUE, H_SKIP };

struct mime_parser {
	struct arena *a;
	struct mime_limits lim;
	struct node *root, *cur;
	size_t n_nodes;
	enum pstate st;
	enum hstate hst;

	/* the header field being read: its name, then its unfolded value */
	char *fbuf;
	size_t flen, fcap;
	int fid;		/* enum hdr_id, or -1 when not kept */
	bool fopen;		/* a field line was seen: WSP continues it */
	bool fstore;		/* name still short enough to store */
	size_t hdr_kept;	/* value bytes kept in this header block */

	char *scratch;		/* for address words */
	size_t scratch_cap;

	bool bline_close;	/* ST_BLINE: the delimiter was a close one */

	uint64_t pos, lfs;	/* bytes and LFs consumed */
	uint64_t eol_start;	/* the [CR]LF that ends at the line start */
	unsigned int eol_len;
	uint8_t last_byte;
	bool at_line_start;
	uint8_t lbuf[LBUF_MAX];
	size_t lbuf_len;

	struct node **bounds;	/* open multiparts, outermost first */
	size_t n_bounds, max_blen;

	int error;
	bool finished;
};

struct cur {
	const char *p, *end;
};

struct sb {
	char *buf;		/* NULL: only count */
	size_t len;
};

static inline bool
is_wsp(int c)
{
	return c == ' ' || c == '\t';
}

static inline char
lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static inline bool
ieq(const char *a, const char *b)
{
	return a != NULL && b != NULL && util_strcaseeq(a, b);
}

/* mime.c: arena strings (an allocation failure sets p->error) and the
   counting output buffer */
char *mime_lower_dup(struct mime_parser *p, const char *s);
char *mime_pdup(struct mime_parser *p, const char *s, size_t len);
bool mime_grow(struct mime_parser *p, char **buf, size_t *cap, size_t used,
    size_t need, size_t max);
void mime_sb_put(struct sb *s, const char *p, size_t n);
void mime_sb_puts(struct sb *s, const char *p);
void mime_sb_putc(struct sb *s, char c);

/* mime_field.c: structured header values (RFC 5322 3.2, RFC 2045 5.1) */
void mime_skip_cfws(struct cur *c);
size_t mime_span_token(const struct cur *c);
void mime_parse_content_type(struct mime_parser *p, struct node *n,
    struct cur *c);
void mime_parse_disposition(struct mime_parser *p, struct node *n,
    struct cur *c);
void mime_parse_language(struct mime_parser *p, struct node *n,
    struct cur *c);
struct addr *mime_parse_addresses(struct mime_parser *p, const char *v,
    size_t len);

#endif
