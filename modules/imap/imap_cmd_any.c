/* imap_cmd_any.c: CAPABILITY NOOP CHECK LOGOUT ID ENABLE NAMESPACE */
#include "config.h"

#include <string.h>

#include "imap.h"
#include "util.h"

void
imap_cmd_capability(struct imap_session *s, struct imap_cmd *c)
{
	if (c->args != NULL) {
		imap_cmd_bad(s, "CAPABILITY takes no arguments.");
		return;
	}
	imap_printf(s, "* CAPABILITY %s\r\n", imap_capabilities(s));
	imap_cmd_done(s, "OK Capability completed.");
}

/* NOOP and CHECK: the update refresh (IMAP_CMDF_POLL) does the work. */
void
imap_cmd_noop(struct imap_session *s, struct imap_cmd *c)
{
	if (c->args != NULL) {
		imap_cmd_bad(s, "NOOP takes no arguments.");
		return;
	}
	imap_cmd_done(s, "OK NOOP completed.");
}

void
imap_cmd_check(struct imap_session *s, struct imap_cmd *c)
{
	if (c->args != NULL) {
		imap_cmd_bad(s, "CHECK takes no arguments.");
		return;
	}
	imap_cmd_done(s, "OK Check completed.");
}

void
imap_cmd_logout(struct imap_session *s, struct imap_cmd *c)
{
	if (c->args != NULL) {
		imap_cmd_bad(s, "LOGOUT takes no arguments.");
		return;
	}
	imap_puts(s, "* BYE Logging out.\r\n");
	s->state = IMAP_STATE_LOGOUT;
	imap_cmd_done(s, "OK Logout completed.");
}

/* RFC 2971: the client's fields are logged, ours are name and version. */
void
imap_cmd_id(struct imap_session *s, struct imap_cmd *c)
{
	const struct imap_arg *it;
	unsigned int count;
	char logbuf[512];
	size_t n = 0;

	if (c->args == NULL || c->args->next != NULL) {
		imap_cmd_bad(s, "ID takes one argument.");
		return;
	}
	if (!imap_arg_is_nil(c->args)) {
		if (!imap_arg_get_list(c->args, &it, &count) ||
		    count % 2 != 0 || count > 60) {
			imap_cmd_bad(s, "Invalid ID parameters.");
			return;
		}
		logbuf[0] = '\0';
		for (; it != NULL; it = it->next->next) {
			const char *key, *val;
			size_t klen, vlen;

			if (!imap_arg_get_string(it, &key, &klen) ||
			    !imap_arg_get_nstring(it->next, &val, &vlen)) {
				imap_cmd_bad(s, "Invalid ID parameters.");
				return;
			}
			if (val != NULL && n < sizeof(logbuf) - 1) {
				char q[128];

				n += (size_t)snprintf(logbuf + n,
				    sizeof(logbuf) - n, "%s%.*s=%s",
				    n > 0 ? " " : "", (int)(klen > 30 ? 30 :
				    klen), key, posta_log_quote(q, sizeof(q),
				    val));
				if (n >= sizeof(logbuf))
					n = sizeof(logbuf) - 1;
			}
		}
		if (n > 0 && s->conn != NULL)
			posta_conn_log(s->conn, POSTA_LOG_INFO, "imap.id",
			    "%s", logbuf);
	}
	imap_printf(s, "* ID (\"name\" \"Posta\" \"version\" \"%s\")\r\n",
	    PACKAGE_VERSION);
	imap_cmd_done(s, "OK ID completed.");
}

/* RFC 5161 with CONDSTORE and QRESYNC (RFC 7162); others are ignored. */
void
imap_cmd_enable(struct imap_session *s, struct imap_cmd *c)
{
	const struct imap_arg *it;
	char enabled[64] = "";

	if (c->args == NULL) {
		imap_cmd_bad(s, "ENABLE needs capabilities.");
		return;
	}
	for (it = c->args; it != NULL; it = it->next) {
		if (!imap_arg_is_atom(it)) {
			imap_cmd_bad(s, "Invalid capability.");
			return;
		}
	}
	for (it = c->args; it != NULL; it = it->next) {
		if (imap_arg_atom_equals(it, "CONDSTORE") && !s->condstore) {
			s->condstore = true;
			strcat(enabled, " CONDSTORE");
		} else if (imap_arg_atom_equals(it, "QRESYNC") &&
		    !s->qresync) {
			s->qresync = true;
			if (!s->condstore) {
				s->condstore = true;
				strcat(enabled, " CONDSTORE");
			}
			strcat(enabled, " QRESYNC");
		}
	}
	imap_printf(s, "* ENABLED%s\r\n", enabled);
	imap_cmd_done(s, "OK Enabled.");
}

void
imap_cmd_namespace(struct imap_session *s, struct imap_cmd *c)
{
	if (c->args != NULL) {
		imap_cmd_bad(s, "NAMESPACE takes no arguments.");
		return;
	}
	imap_puts(s, "* NAMESPACE ((\"\" \".\")) NIL NIL\r\n");
	imap_cmd_done(s, "OK Namespace completed.");
}
