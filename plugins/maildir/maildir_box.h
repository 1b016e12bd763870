/* maildir_box.h: view requests, shared by maildir_box.c and maildir_msgop.c */
#ifndef POSTA_MAILDIR_BOX_H
#define POSTA_MAILDIR_BOX_H

#include "maildir.h"

enum md_req_op {
	MD_REQ_OPEN,
	MD_REQ_REFRESH,
	MD_REQ_META,
	MD_REQ_FLAGS,
	MD_REQ_EXPUNGE,
	MD_REQ_COPY,
	MD_REQ_GONE,
	MD_REQ_MSG_OPEN,
};

struct md_meta_res {
	uint32_t uid;
	int err;
	void *blob;
	size_t len;
	uint64_t header_size;
	uint32_t body_lines;
};

struct md_flag_res {
	uint32_t uid, flags;
	uint64_t kw, modseq;
};

struct md_req {
	struct md_job job;		/* first: the job is the request */
	enum md_req_op op;
	struct posta_mailbox *v;	/* NULL for MD_REQ_OPEN until done */
	struct md_box *box;
	void *cb;
	void *ctx;
	char name[MD_MAILBOX_MAX + 1];
	uint32_t expect_id;		/* 0: any */
	uint32_t flags;
	bool claim;
	uint32_t *uids;
	size_t n;
	/* MD_REQ_OPEN, MD_REQ_REFRESH */
	struct posta_msg *msgs;
	size_t n_msgs;
	char **kw;
	size_t n_kw;
	uint32_t id, uidvalidity, uidnext;
	uint64_t hms;
	uint32_t *recent;
	size_t n_recent;
	bool gone;
	/* MD_REQ_META */
	uint32_t fields;
	struct md_meta_res *metas;
	/* MD_REQ_FLAGS */
	enum posta_flags_mode mode;
	uint32_t set_flags;
	uint64_t unchangedsince;
	char **upd_kw;
	size_t n_upd_kw;
	struct md_flag_res *changed;
	size_t n_changed;
	uint32_t *failed;
	size_t n_failed;
	/* MD_REQ_EXPUNGE */
	size_t n_expunged;
	/* MD_REQ_COPY */
	char dst[MD_MAILBOX_MAX + 1];
	bool move;
	uint32_t *src_done, *dst_uids;
	size_t n_copied;
	/* MD_REQ_GONE */
	struct posta_uid_range *ranges;
	size_t n_ranges, cap_ranges;
	/* MD_REQ_MSG_OPEN */
	int fd;
	uint64_t size, raw_size;
};

/* worker side (maildir_msgop.c), inside the request's serial job */
int md_req_resync(struct md_req *r, struct md_txn *t, struct md_box_info *bi);
int md_req_meta_one(struct md_req *r, struct md_txn *t,
    struct md_box_info *bi, struct md_meta_res *res);
int md_req_flags(struct md_req *r, struct md_txn *t, struct md_box_info *bi);
int md_req_expunge(struct md_req *r, struct md_txn *t,
    struct md_box_info *bi);
int md_req_copy(struct md_req *r, struct md_txn *t, struct md_box_info *src);
int md_req_gone_add(void *ctx, uint32_t uid);
int md_req_msg_open(struct md_req *r, struct md_txn *t,
    struct md_box_info *bi);
/* maildir_box.c: the mailbox's keyword names into r->kw */
int md_req_copy_kw(struct md_req *r, const struct md_box_info *bi);

#endif
