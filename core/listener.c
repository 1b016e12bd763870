/* listener.c: binding each service's addresses and accepting connections */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

static __thread char listener_msg[512];

static void
addr_text(const struct sockaddr_storage *ss, char *buf, size_t size)
{
	char ip[INET6_ADDRSTRLEN] = "?";

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
		snprintf(buf, size, "[%s]:%u", ip, ntohs(s6->sin6_port));
	} else {
		const struct sockaddr_in *s4 = (const void *)ss;

		inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
		snprintf(buf, size, "%s:%u", ip, ntohs(s4->sin_port));
	}
}

static void
on_connection(uv_stream_t *server, int status)
{
	struct listener *ln = server->data;

	if (status < 0) {
		log_core(ln->loop, POSTA_LOG_WARN, "listen.accept_failed",
		    "service=%s addr=%s error=\"%s\"", ln->service_name,
		    ln->addr_text, uv_strerror(status));
		return;
	}
	conn_accept(ln->loop, ln);
}

int
listener_bind_all(struct loop *l, const struct gen *g, const char **error_r)
{
	size_t i, k;

	for (i = 0; i < g->n_services; i++) {
		const struct service *s = &g->services[i];

		for (k = 0; k < s->set.listen.n; k++) {
			const struct sockaddr_storage *ss =
			    &s->set.listen.addrs[k];
			struct listener *ln = calloc(1, sizeof(*ln));
			struct sockaddr_storage bound;
			int r, len = sizeof(bound);

			if (ln == NULL)
				return -ENOMEM;
			ln->loop = l;
			ln->service_name = strdup(s->name);
			addr_text(ss, ln->addr_text, sizeof(ln->addr_text));
			uv_tcp_init(l->uv, &ln->tcp);
			ln->tcp.data = ln;
			ln->next = l->listeners;
			l->listeners = ln;
			if (ln->service_name == NULL)
				return -ENOMEM;
			/* [::] must not also grab IPv4: 0.0.0.0 is its own */
			r = uv_tcp_bind(&ln->tcp, (const struct sockaddr *)ss,
			    ss->ss_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0);
			/* libuv may report EADDRINUSE only at listen() */
			if (r == 0)
				r = uv_listen((uv_stream_t *)&ln->tcp, 511,
				    on_connection);
			if (r < 0) {
				snprintf(listener_msg, sizeof(listener_msg),
				    "%s:%u: service %s cannot listen on %s: %s",
				    s->file, s->line, s->name, ln->addr_text,
				    uv_strerror(r));
				*error_r = listener_msg;
				return POSTA_ECONFIG;
			}
			if (uv_tcp_getsockname(&ln->tcp,
			    (struct sockaddr *)&bound, &len) == 0)
				addr_text(&bound, ln->addr_text,
				    sizeof(ln->addr_text));
		}
	}
	return 0;
}

int
listener_start_all(struct loop *l, const char **error_r)
{
	struct listener *ln;

	/* the kernel queued connections since bind; the loop takes them now */
	for (ln = l->listeners; ln != NULL; ln = ln->next)
		log_core(l, POSTA_LOG_INFO, "listen.ready", "service=%s "
		    "addr=%s", ln->service_name, ln->addr_text);
	return 0;
}

static void
listener_closed(uv_handle_t *h)
{
	struct listener *ln = h->data;

	free((char *)ln->service_name);
	free(ln);
}

void
listener_close_all(struct loop *l)
{
	struct listener *ln, *next;

	for (ln = l->listeners; ln != NULL; ln = next) {
		next = ln->next;
		uv_close((uv_handle_t *)&ln->tcp, listener_closed);
	}
	l->listeners = NULL;
}
