/* hook.h: running the session hooks policy plugins registered */
#ifndef POSTA_CORE_HOOK_H
#define POSTA_CORE_HOOK_H

struct conn;

/* connect hooks: CONTINUE or REFUSE (PENDING is not allowed there). */
enum posta_hook_verdict hook_run_connect(struct conn *c,
    struct posta_hook_refusal *refusal_r);
/* logout hooks for the hooks that accepted this session's login */
void hook_run_logout(struct conn *c);
void hook_run_close(struct conn *c);

#endif
