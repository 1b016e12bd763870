/* maildir_name.h: Maildir file names, flag letters, folder names (pure) */
#ifndef POSTA_MAILDIR_NAME_H
#define POSTA_MAILDIR_NAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Everything here is pure: strings in, strings out, no I/O.  Output
 * buffers are sized by the caller; a result that does not fit is
 * -ENAMETOOLONG and the buffer holds an empty string.
 *
 * A Maildir file name is "<base>[:2,<flags>[,<rest>]]".  The flag letters
 * are the Maildir ones: D draft, F flagged, R replied (\Answered), S seen,
 * T trashed (\Deleted); a..z are keywords 0..25 of the folder's keyword
 * table (Dovecot's dovecot-keywords numbering).  Other letters (P passed,
 * ...) and anything after a second comma belong to other programs and are
 * kept when the flags are rewritten.
 */

#define MD_NAME_MAX 255		/* one file or directory name */
#define MD_MAILBOX_MAX 200	/* UTF-8 bytes of a mailbox name */
#define MD_KEYWORD_LETTERS 26

/* Length of the base name: up to the ':' of the info part. */
size_t md_name_base_len(const char *name);

/* System flags (POSTA_FLAG_*) and keyword letters (bit i = 'a' + i) of a
   file name; both 0 without an info part. */
void md_name_flags(const char *name, uint32_t *flags_r, uint32_t *kw_r);

/*
 * Writes name with its flags replaced: base + ":2," + letters in ASCII
 * order (system letters, other programs' letters, keyword letters) +
 * the old ",rest".  Returns the length or -ENAMETOOLONG.
 */
int md_name_set_flags(const char *name, uint32_t flags, uint32_t kw,
    char *out, size_t size);

/*
 * A new unique base name: "<sec>.M<usec>P<pid>Q<seq>.<host>" with '/'
 * and ':' in host written as "\057" and "\072" (the Maildir convention),
 * then ",S=<size>,W=<size>" when size is not UINT64_MAX (the file holds
 * CRLF line ends, so the two are equal).
 */
int md_name_unique(char *out, size_t size, int64_t sec, uint32_t usec,
    uint32_t pid, uint64_t seq, const char *host, uint64_t msg_size);

/* Arrival time from a base name's leading "<sec>[.M<usec>" (0 if none). */
void md_name_arrival(const char *name, uint64_t *sec_r, uint32_t *usec_r);

/* The value of ",<key>=<n>" in the base name (key 'S' or 'W'). */
bool md_name_size(const char *name, char key, uint64_t *value_r);

/*
 * Validates a mailbox name and writes its canonical form: a first
 * component spelled INBOX in any case becomes "INBOX".  Refused
 * (POSTA_ENAME): empty components, '/', '*', '%', control characters
 * (C0, DEL, C1), invalid UTF-8, more than MD_MAILBOX_MAX bytes.  Returns
 * the length or POSTA_ENAME.
 */
int md_mailbox_canon(const char *name, char *out, size_t size);

/* True when canon names INBOX itself. */
bool md_mailbox_is_inbox(const char *canon);

/*
 * The Maildir++ directory of a canonical name, relative to the Maildir:
 * "" for INBOX, else "." + the name in modified UTF-7 (RFC 3501 5.1.3,
 * as Dovecot and Courier write it), ".INBOX.x" for "INBOX.x".
 */
int md_mailbox_dir(const char *canon, char *out, size_t size);

/* The mailbox a Maildir++ directory entry (".a.b") holds, or POSTA_ENAME
   when the entry is not a valid folder name. */
int md_mailbox_from_dir(const char *dirent, char *out, size_t size);

/* RFC 3501 modified UTF-7; both return the length or POSTA_ENAME. */
int md_mutf7_encode(const char *utf8, char *out, size_t size);
int md_mutf7_decode(const char *mutf7, char *out, size_t size);

/* True for valid UTF-8 without C0/C1 controls or DEL. */
bool md_utf8_printable(const char *s, size_t len);

/*
 * Expands a mail_root template for account "local@domain": %d domain,
 * %n local part, %u the whole account, %% a percent sign.  The account
 * must hold exactly one '@' with non-empty sides, and neither side may
 * hold '/', control characters or start with '.'.  Returns the length,
 * POSTA_ENAME for a bad account, -EINVAL for a bad template.
 */
int md_expand_root(const char *tmpl, const char *account, char *out,
    size_t size);

/*
 * Temporary files this plugin writes are named
 * "posta.<start>.<pid>.<seq>.<host>"; md_tmp_is_stale() tells whether such
 * a name comes from another run (start or pid differ) than the one given,
 * so crash leftovers can be removed without touching other programs' files.
 */
int md_tmp_name(char *out, size_t size, int64_t start, uint32_t pid,
    uint64_t seq, const char *host);
bool md_tmp_is_stale(const char *name, int64_t start, uint32_t pid);

#endif
