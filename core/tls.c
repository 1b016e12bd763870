/* tls.c: GnuTLS credentials per config generation, SNI, new server sessions */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "util.h"

static int
load_pair(struct arena *a, const char *cert, const char *key,
    const char *chain, gnutls_certificate_credentials_t *creds_r,
    const char **error_r)
{
	gnutls_certificate_credentials_t cr;
	gnutls_datum_t c = { NULL, 0 }, k = { NULL, 0 }, ch = { NULL, 0 };
	gnutls_datum_t all = { NULL, 0 };
	int r;

	if (gnutls_load_file(cert, &c) < 0) {
		*error_r = arena_printf(a, "cannot read certificate %s", cert);
		return POSTA_ECONFIG;
	}
	if (gnutls_load_file(key, &k) < 0) {
		*error_r = arena_printf(a, "cannot read key %s", key);
		gnutls_free(c.data);
		return POSTA_ECONFIG;
	}
	if (chain != NULL && chain[0] != '\0' &&
	    gnutls_load_file(chain, &ch) < 0) {
		*error_r = arena_printf(a, "cannot read certificate chain %s",
		    chain);
		gnutls_free(c.data);
		util_wipe(k.data, k.size);
		gnutls_free(k.data);
		return POSTA_ECONFIG;
	}
	/* GnuTLS sends the certificate list it was given: leaf, then chain */
	all.size = c.size + 1 + ch.size;
	all.data = gnutls_malloc(all.size);
	r = all.data == NULL ? GNUTLS_E_MEMORY_ERROR : 0;
	if (r == 0) {
		memcpy(all.data, c.data, c.size);
		all.data[c.size] = '\n';
		if (ch.size > 0)
			memcpy(all.data + c.size + 1, ch.data, ch.size);
		r = gnutls_certificate_allocate_credentials(&cr);
	}
	if (r == 0) {
		r = gnutls_certificate_set_x509_key_mem2(cr, &all, &k,
		    GNUTLS_X509_FMT_PEM, NULL, 0);
		if (r < 0)
			gnutls_certificate_free_credentials(cr);
	}
	gnutls_free(c.data);
	gnutls_free(ch.data);
	gnutls_free(all.data);
	util_wipe(k.data, k.size);
	gnutls_free(k.data);
	if (r < 0) {
		*error_r = arena_printf(a, "cannot load certificate %s with "
		    "key %s: %s", cert, key, gnutls_strerror(r));
		return POSTA_ECONFIG;
	}
	*creds_r = cr;
	return 0;
}

int
tls_creds_load(struct arena *a, const struct gen *g, struct tls_creds *tls,
    const char **error_r)
{
	const char *errpos = NULL;
	size_t i, n = 0;
	bool needed = false;
	int r;

	memset(tls, 0, sizeof(*tls));
	for (i = 0; i < g->n_services; i++)
		if (g->services[i].set.tls != POSTA_TLS_NONE)
			needed = true;
	if (g->g.tls_cert[0] == '\0' || g->g.tls_key[0] == '\0') {
		if (!needed)
			return 0;
		for (i = 0; i < g->n_services; i++)
			if (g->services[i].set.tls != POSTA_TLS_NONE)
				break;
		*error_r = arena_printf(a, "%s:%u: service %s uses TLS: "
		    "expected tls_cert and tls_key in the global settings",
		    g->services[i].file, g->services[i].line,
		    g->services[i].name);
		return POSTA_ECONFIG;
	}
	r = gnutls_priority_init(&tls->priority, g->g.tls_priority, &errpos);
	if (r < 0) {
		*error_r = arena_printf(a, "tls_priority: invalid priority "
		    "string near \"%s\": %s", errpos ? errpos : "",
		    gnutls_strerror(r));
		return POSTA_ECONFIG;
	}
	r = load_pair(a, g->g.tls_cert, g->g.tls_key, g->g.tls_chain,
	    &tls->creds, error_r);
	if (r < 0) {
		tls_creds_free(tls);
		return r;
	}
	for (i = 0; i < g->doc->n_blocks; i++)
		if (strcmp(g->doc->blocks[i].kind, "certificate") == 0)
			n++;
	if (n == 0)
		return 0;
	tls->sni = arena_zalloc(a, n * sizeof(*tls->sni));
	if (tls->sni == NULL) {
		tls_creds_free(tls);
		return -ENOMEM;
	}
	for (i = 0; i < g->doc->n_blocks; i++) {
		const struct conf_block *b = &g->doc->blocks[i];
		const char *cert = NULL, *key = NULL, *chain = NULL;
		size_t k;
		char *name;

		if (strcmp(b->kind, "certificate") != 0)
			continue;
		for (k = 0; k < b->n_items; k++) {
			if (strcmp(b->items[k].key, "cert") == 0)
				cert = b->items[k].value;
			else if (strcmp(b->items[k].key, "key") == 0)
				key = b->items[k].value;
			else if (strcmp(b->items[k].key, "chain") == 0)
				chain = b->items[k].value;
		}
		name = arena_strdup(a, b->name);
		if (name == NULL) {
			tls_creds_free(tls);
			return -ENOMEM;
		}
		util_ascii_lower(name);
		tls->sni[tls->n_sni].name = name;
		r = load_pair(a, cert, key, chain, &tls->sni[tls->n_sni].creds,
		    error_r);
		if (r < 0) {
			*error_r = arena_printf(a, "%s:%u: %s", b->file,
			    b->line, *error_r);
			tls_creds_free(tls);
			return r;
		}
		tls->n_sni++;
	}
	return 0;
}

void
tls_creds_free(struct tls_creds *tls)
{
	size_t i;

	for (i = 0; i < tls->n_sni; i++)
		gnutls_certificate_free_credentials(tls->sni[i].creds);
	tls->n_sni = 0;
	if (tls->creds != NULL)
		gnutls_certificate_free_credentials(tls->creds);
	tls->creds = NULL;
	if (tls->priority != NULL)
		gnutls_priority_deinit(tls->priority);
	tls->priority = NULL;
}

/* Picks the SNI certificate once the client named its host. */
static int
post_client_hello(gnutls_session_t s)
{
	const struct tls_creds *tls = gnutls_session_get_ptr(s);
	char name[256];
	size_t len = sizeof(name) - 1, i;
	unsigned type;

	if (gnutls_server_name_get(s, name, &len, &type, 0) < 0 ||
	    type != GNUTLS_NAME_DNS)
		return 0;
	name[len < sizeof(name) ? len : sizeof(name) - 1] = '\0';
	util_ascii_lower(name);
	for (i = 0; i < tls->n_sni; i++) {
		if (strcmp(tls->sni[i].name, name) == 0) {
			gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE,
			    tls->sni[i].creds);
			break;
		}
	}
	return 0;
}

int
tls_session_new(const struct tls_creds *tls, gnutls_session_t *s_r)
{
	gnutls_session_t s;
	int r;

	if (tls->creds == NULL)
		return POSTA_ENOTLS;
	r = gnutls_init(&s, GNUTLS_SERVER | GNUTLS_NONBLOCK);
	if (r < 0)
		return -ENOMEM;
	if (gnutls_priority_set(s, tls->priority) < 0 ||
	    gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE,
	    tls->creds) < 0) {
		gnutls_deinit(s);
		return POSTA_ETLS;
	}
	gnutls_certificate_server_set_request(s, GNUTLS_CERT_IGNORE);
	if (tls->n_sni > 0) {
		gnutls_session_set_ptr(s, (void *)tls);
		gnutls_handshake_set_post_client_hello_function(s,
		    post_client_hello);
	}
	*s_r = s;
	return 0;
}
