/* posta.h: the one header a Posta module includes; error codes and handles */
#ifndef POSTA_POSTA_H
#define POSTA_POSTA_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <posta/abi.h>

/*
 * Errors are negative errno values (-EINVAL, -ENOMEM, -EMSGSIZE for an
 * over-long line, -ETIMEDOUT, -ECANCELED) or Posta's own codes below -4000.
 * A wrong password or a reached limit is a result, never an error.
 */
#define POSTA_EBASE		(-4000)
#define POSTA_ECONFIG		(POSTA_EBASE - 1)  /* invalid configuration */
#define POSTA_EABI		(POSTA_EBASE - 2)  /* module built for another ABI */
#define POSTA_ENOTLS		(POSTA_EBASE - 3)  /* TLS required or missing */
#define POSTA_ETLS		(POSTA_EBASE - 4)  /* TLS handshake or record error */
#define POSTA_ENOPROVIDER	(POSTA_EBASE - 5)  /* no auth provider / store */
#define POSTA_ETEMP		(POSTA_EBASE - 6)  /* temporary backend failure */
#define POSTA_ECORRUPT		(POSTA_EBASE - 7)  /* on-disk data is damaged */
#define POSTA_ENOTFOUND		(POSTA_EBASE - 8)  /* mailbox/message/user absent */
#define POSTA_EEXIST		(POSTA_EBASE - 9)  /* already exists */
#define POSTA_ENAME		(POSTA_EBASE - 10) /* invalid mailbox/address name */
#define POSTA_EQUOTA		(POSTA_EBASE - 11) /* over quota or size limit */
#define POSTA_ECLOSED		(POSTA_EBASE - 12) /* connection already closed */

/* Returns a static string for a negative errno or POSTA_E* code. */
static inline const char *
posta_strerror(int err)
{
	switch (err) {
	case 0: return "success";
	case POSTA_ECONFIG: return "invalid configuration";
	case POSTA_EABI: return "module ABI mismatch";
	case POSTA_ENOTLS: return "TLS required";
	case POSTA_ETLS: return "TLS error";
	case POSTA_ENOPROVIDER: return "no provider registered";
	case POSTA_ETEMP: return "temporary failure";
	case POSTA_ECORRUPT: return "data corrupted";
	case POSTA_ENOTFOUND: return "not found";
	case POSTA_EEXIST: return "already exists";
	case POSTA_ENAME: return "invalid name";
	case POSTA_EQUOTA: return "quota or size limit exceeded";
	case POSTA_ECLOSED: return "connection closed";
	default:
		break;
	}
	if (err < 0 && err > POSTA_EBASE)
		return strerror(-err);
	return "unknown error";
}

/*
 * Every opaque handle the host gives a module (struct posta_host,
 * struct posta_conn) starts with a pointer to the host's function table, so
 * the static inline wrappers in these headers reach postad without linking
 * against it, and a unit test can hand a module a fake table.
 */
struct posta_host_api;
struct posta_object {
	const struct posta_host_api *api;
};

struct posta_host;	/* one per loaded module: its view of postad */
struct posta_conn;	/* one client connection (a session) */

#define POSTA_OBJ_API(o) (((const struct posta_object *)(const void *)(o))->api)

#include <posta/log.h>
#include <posta/conf.h>
#include <posta/module.h>
#include <posta/conn.h>
#include <posta/hook.h>
#include <posta/auth.h>
#include <posta/store.h>
#include <posta/queue.h>
#include <posta/host.h>

#endif
