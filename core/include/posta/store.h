/* store.h: the mail-store interface (mailboxes, messages, delivery) */
#ifndef POSTA_STORE_H
#define POSTA_STORE_H

/* The store API is defined together with the maildir plugin. */
struct posta_store_ops;

#endif
