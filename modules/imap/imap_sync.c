/* imap_sync.c: the selected mailbox: SELECT data, watch, untagged updates */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "imap.h"

/*
 * The client's picture of the mailbox is the view as of the last refresh
 * whose changes were sent: s->exists messages, numbered as the view numbers
 * them.  A refresh reports expunges by the old numbers in descending order,
 * so sending them in that order keeps both sides in step.  Refreshes run
 * only where RFC 3501 7.4.1 allows EXPUNGE: at the end of commands other
 * than FETCH, STORE and SEARCH, and during IDLE.
 */

static void
notify_cb(void *ctx, struct posta_mailbox *box)
{
	struct imap_session *s = ctx;

	(void)box;
	if (s->closed || s->box == NULL)
		return;
	imap_ref(s);
	s->notified = true;
	if (s->in_cmd && s->cmd.notify != NULL)
		s->cmd.notify(s);
	imap_cb_leave(s);
}

void
imap_select_install(struct imap_session *s, struct posta_mailbox *box,
    bool readonly)
{
	const struct posta_mailbox_status *st = posta_mailbox_view_status(box);

	s->box = box;
	s->readonly = readonly;
	s->state = IMAP_STATE_SELECTED;
	s->notified = false;
	posta_mailbox_watch(box, notify_cb, s);
	imap_write_flag_lists(s);
	imap_printf(s, "* %u EXISTS\r\n* %u RECENT\r\n", st->messages,
	    st->recent);
	if (st->first_unseen != 0)
		imap_printf(s, "* OK [UNSEEN %u] First unseen.\r\n",
		    st->first_unseen);
	imap_printf(s, "* OK [UIDVALIDITY %u] UIDs valid.\r\n"
	    "* OK [UIDNEXT %u] Predicted next UID.\r\n"
	    "* OK [HIGHESTMODSEQ %llu] Highest.\r\n", st->uidvalidity,
	    st->uidnext, (unsigned long long)st->highestmodseq);
	s->exists = st->messages;
	s->recent = st->recent;
}

void
imap_select_close(struct imap_session *s)
{
	posta_mailbox_close(&s->box);
	s->state = IMAP_STATE_AUTH;
	s->exists = s->recent = 0;
	s->notified = false;
	s->readonly = false;
}

void
imap_write_fetch_flags(struct imap_session *s, uint32_t seq, bool with_uid,
    bool with_modseq)
{
	const struct posta_msg *msgs;
	const char *const *names = NULL;
	size_t n = posta_mailbox_messages(s->box, &msgs);
	size_t nk = posta_mailbox_keywords(s->box, &names);
	const struct posta_msg *m;

	if (seq == 0 || seq > n)
		return;
	m = &msgs[seq - 1];
	imap_printf(s, "* %u FETCH (", seq);
	if (with_uid)
		imap_printf(s, "UID %u ", m->uid);
	imap_puts(s, "FLAGS ");
	imap_write_flags(s, m->flags, m->keywords, names, nk);
	if (with_modseq)
		imap_printf(s, " MODSEQ (%llu)", (unsigned long long)m->modseq);
	imap_puts(s, ")\r\n");
}

static void
send_vanished(struct imap_session *s,
    const struct posta_mailbox_changes *ch)
{
	struct imap_seqset set;
	struct imap_seq_range *r;
	size_t i;
	char *str;

	r = arena_alloc(s->cmd_arena, ch->n_expunged * sizeof(*r));
	if (r == NULL)
		goto fallback;
	for (i = 0; i < ch->n_expunged; i++)
		r[i].lo = r[i].hi = ch->expunged[i].uid;
	set.ranges = r;
	set.count = (unsigned)ch->n_expunged;
	if (imap_seqset_resolve(s->cmd_arena, &set, UINT32_MAX, &set) < 0)
		goto fallback;
	str = imap_seqset_format(s->cmd_arena, &set);
	if (str == NULL)
		goto fallback;
	imap_printf(s, "* VANISHED %s\r\n", str);
	return;
fallback:
	for (i = 0; i < ch->n_expunged; i++)
		imap_printf(s, "* VANISHED %u\r\n", ch->expunged[i].uid);
}

static void
report_changes(struct imap_session *s,
    const struct posta_mailbox_changes *ch)
{
	size_t i;

	if (ch->uidvalidity_changed) {
		imap_bye(s, "Mailbox UIDVALIDITY changed, select it again.");
		return;
	}
	if (ch->n_expunged > 0) {
		if (s->qresync) {
			send_vanished(s, ch);
		} else {
			for (i = 0; i < ch->n_expunged; i++)
				imap_printf(s, "* %u EXPUNGE\r\n",
				    ch->expunged[i].seq);
		}
		s->exists = s->exists > ch->n_expunged ?
		    s->exists - (uint32_t)ch->n_expunged : 0;
	}
	if (ch->keywords_changed) {
		const char *const *names;

		if (posta_mailbox_keywords(s->box, &names) != s->n_keywords)
			imap_write_flag_lists(s);
	}
	if (ch->messages != s->exists) {
		imap_printf(s, "* %u EXISTS\r\n", ch->messages);
		s->exists = ch->messages;
	}
	if (ch->recent != s->recent) {
		imap_printf(s, "* %u RECENT\r\n", ch->recent);
		s->recent = ch->recent;
	}
	for (i = 0; i < ch->n_changed; i++) {
		uint32_t seq = posta_mailbox_seq_of_uid(s->box, ch->changed[i]);

		if (seq != 0)
			imap_write_fetch_flags(s, seq, true, s->condstore);
	}
}

struct sync_req {
	struct imap_session *s;
	void (*done)(struct imap_session *s);
};

static void
refresh_cb(void *ctx, int err, const struct posta_mailbox_changes *ch)
{
	struct sync_req *req = ctx;
	struct imap_session *s = req->s;
	void (*done)(struct imap_session *) = req->done;

	free(req);
	if (imap_cb_enter(s))
		return;
	if (err == 0 && s->box != NULL)
		report_changes(s, ch);
	else if (err != 0 && err != -ECANCELED && s->conn != NULL)
		posta_conn_log(s->conn, POSTA_LOG_WARN, "imap.refresh_failed",
		    "error=\"%s\"", posta_strerror(err));
	done(s);
	imap_cb_leave(s);
}

int
imap_sync(struct imap_session *s, uint32_t flags,
    void (*done)(struct imap_session *s))
{
	struct sync_req *req;
	int r;

	if (s->box == NULL)
		return -EINVAL;
	/* malloc, not the command arena: IDLE may end while this runs */
	req = malloc(sizeof(*req));
	if (req == NULL)
		return -ENOMEM;
	req->s = s;
	req->done = done;
	s->notified = false;
	r = posta_mailbox_refresh(s->box, flags, refresh_cb, req);
	if (r < 0) {
		free(req);
		return r;
	}
	imap_ref(s);
	return 0;
}

/* First index whose UID is >= uid (n when none). */
static size_t
lower_bound(const struct posta_msg *msgs, size_t n, uint32_t uid)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (msgs[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int
imap_seqset_to_indexes(struct imap_session *s, const char *str, bool uid,
    uint32_t **idx_r, size_t *n_r, const char **error_r)
{
	const struct posta_msg *msgs;
	size_t n = posta_mailbox_messages(s->box, &msgs), count = 0;
	struct imap_seqset set, res;
	uint32_t *idx, max;
	unsigned int i;
	int r;

	*idx_r = NULL;
	*n_r = 0;
	if (imap_seqset_parse(s->cmd_arena, str, strlen(str), &set) < 0) {
		*error_r = "Invalid message set.";
		return -EINVAL;
	}
	max = n == 0 ? 0 : uid ? msgs[n - 1].uid : (uint32_t)n;
	r = imap_seqset_resolve(s->cmd_arena, &set, max, &res);
	if (r == -ERANGE)
		return 0;	/* "*" in an empty mailbox: nothing */
	if (r < 0) {
		*error_r = "Out of memory.";
		return r;
	}
	if (!uid && imap_seqset_highest(&res) > n) {
		*error_r = "Invalid message sequence number.";
		return -EINVAL;
	}
	if (n == 0)
		return 0;
	idx = arena_alloc(s->cmd_arena, n * sizeof(*idx));
	if (idx == NULL) {
		*error_r = "Out of memory.";
		return -ENOMEM;
	}
	for (i = 0; i < res.count; i++) {
		uint32_t lo = res.ranges[i].lo, hi = res.ranges[i].hi;

		if (!uid) {
			uint64_t q;

			for (q = lo; q <= hi; q++)
				idx[count++] = (uint32_t)(q - 1);
		} else {
			size_t k = lower_bound(msgs, n, lo);

			for (; k < n && msgs[k].uid <= hi; k++)
				idx[count++] = (uint32_t)k;
		}
	}
	*idx_r = idx;
	*n_r = count;
	return 0;
}
