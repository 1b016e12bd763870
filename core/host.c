/* host.c: what the host table gives modules beyond connections: loop, dirs, registries */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

uv_loop_t *
host_loop(struct posta_host *h)
{
	return ((struct module *)h)->loop->uv;
}

const char *
host_state_dir(struct posta_host *h)
{
	return ((struct module *)h)->loop->gen->g.state_dir;
}

const char *
host_hostname(struct posta_host *h)
{
	return ((struct module *)h)->loop->gen->g.hostname;
}

int
host_register_protocol(struct posta_host *h, const struct posta_protocol *proto,
    void *state)
{
	struct module *m = (struct module *)h;
	struct protocol_reg *r;

	if (proto == NULL || proto->name == NULL || proto->accept == NULL ||
	    proto->refuse == NULL)
		return -EINVAL;
	for (r = m->loop->protocols; r != NULL; r = r->next)
		if (strcmp(r->proto->name, proto->name) == 0)
			return -EEXIST;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return -ENOMEM;
	r->proto = proto;
	r->state = state;
	r->owner = m;
	r->next = m->loop->protocols;
	m->loop->protocols = r;
	return 0;
}

int
host_register_store(struct posta_host *h, const struct posta_store_ops *ops,
    void *state)
{
	struct module *m = (struct module *)h;

	if (ops == NULL)
		return -EINVAL;
	/* one store per server: mail has exactly one home */
	if (m->loop->store_ops != NULL)
		return -EEXIST;
	m->loop->store_ops = ops;
	m->loop->store_state = state;
	m->loop->store_owner = m;
	return 0;
}

const struct posta_store_ops *
host_store(struct posta_host *h, void **state_r)
{
	struct loop *l = ((struct module *)h)->loop;

	if (state_r != NULL)
		*state_r = l->store_state;
	return l->store_ops;
}

int
host_register_queue(struct posta_host *h, const struct posta_queue_ops *ops,
    void *state)
{
	struct module *m = (struct module *)h;

	if (ops == NULL || ops->submit_begin == NULL ||
	    ops->submit_write == NULL || ops->submit_finish == NULL ||
	    ops->submit_abort == NULL)
		return -EINVAL;
	if (m->loop->queue_ops != NULL)
		return -EEXIST;
	m->loop->queue_ops = ops;
	m->loop->queue_state = state;
	return 0;
}

const struct posta_queue_ops *
host_queue(struct posta_host *h, void **state_r)
{
	struct loop *l = ((struct module *)h)->loop;

	if (state_r != NULL)
		*state_r = l->queue_state;
	return l->queue_ops;
}
