/* hook.c: registration and running of session hooks (connect, logout, close) */
#include "config.h"

#include <errno.h>
#include <stdlib.h>

#include "conn.h"
#include "hook.h"

/* conn->hook_logout is a 64-bit mask: one bit per hook registration. */
#define MAX_HOOKS 64

int
host_register_hooks(struct posta_host *h, const struct posta_hooks *hooks,
    void *state)
{
	struct module *m = (struct module *)h;
	struct loop *l = m->loop;
	struct hook_reg *r, **pp;

	if (hooks == NULL)
		return -EINVAL;
	if (l->n_hooks >= MAX_HOOKS)
		return -ENOSPC;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return -ENOMEM;
	r->hooks = hooks;
	r->state = state;
	r->owner = m;
	r->index = l->n_hooks++;
	/* run in registration order */
	for (pp = &l->hooks; *pp != NULL; pp = &(*pp)->next)
		;
	*pp = r;
	return 0;
}

enum posta_hook_verdict
hook_run_connect(struct conn *c, struct posta_hook_refusal *refusal_r)
{
	struct hook_reg *r;

	for (r = c->loop->hooks; r != NULL; r = r->next) {
		enum posta_hook_verdict v;

		if (r->hooks->connect == NULL)
			continue;
		refusal_r->code = POSTA_REFUSE_OTHER;
		refusal_r->text = NULL;
		v = r->hooks->connect(r->state, (struct posta_conn *)c,
		    refusal_r);
		if (v == POSTA_HOOK_REFUSE)
			return v;
	}
	return POSTA_HOOK_CONTINUE;
}

void
hook_run_logout(struct conn *c)
{
	struct hook_reg *r;

	for (r = c->loop->hooks; r != NULL && c->hook_logout != 0;
	    r = r->next) {
		uint64_t bit = UINT64_C(1) << r->index;

		if ((c->hook_logout & bit) == 0)
			continue;
		c->hook_logout &= ~bit;
		if (r->hooks->logout != NULL)
			r->hooks->logout(r->state, (struct posta_conn *)c);
	}
}

void
hook_run_close(struct conn *c)
{
	struct hook_reg *r;

	for (r = c->loop->hooks; r != NULL; r = r->next)
		if (r->hooks->close != NULL)
			r->hooks->close(r->state, (struct posta_conn *)c);
}
