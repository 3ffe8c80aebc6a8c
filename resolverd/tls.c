/*
 * tls.c -- the DoT server context and client certificate names.
 */
#include "config.h"
#include "tls.h"
#include "dname.h"
#include "options.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

/* OpenSSL's last error as text, after what failed. */
static void
ssl_error(char *err, size_t errlen, const char *what, const char *file)
{
	char reason[256];

	ERR_error_string_n(ERR_get_error(), reason, sizeof(reason));
	snprintf(err, errlen, "%s %s: %s", what, file, reason);
	ERR_clear_error();
}

SSL_CTX *
tls_server_context(const struct options *opt, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (!ctx) {
		snprintf(err, errlen, "cannot create the TLS context");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	/* resumption: clients reconnecting skip the full handshake (RFC 7858 3.4) */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"resolverd", 9);
	if (!opt->tls_cert || !opt->tls_key) {
		snprintf(err, errlen, "tls-listen needs tls-cert and tls-key");
		goto fail;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, opt->tls_cert) != 1) {
		ssl_error(err, errlen, "tls-cert", opt->tls_cert);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, opt->tls_key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		ssl_error(err, errlen, "tls-key", opt->tls_key);
		goto fail;
	}
	if (opt->tls_client_ca) {
		if (SSL_CTX_load_verify_locations(ctx, opt->tls_client_ca, NULL) != 1) {
			ssl_error(err, errlen, "tls-client-ca", opt->tls_client_ca);
			goto fail;
		}
		STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(opt->tls_client_ca);
		if (names)
			SSL_CTX_set_client_CA_list(ctx, names);
		/* a certificate is asked for, not required: without one the source address identifies */
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	}
	if (opt->tls_crl) {
		X509_STORE *store = SSL_CTX_get_cert_store(ctx);
		FILE *f = fopen(opt->tls_crl, "r");
		X509_CRL *crl = f ? PEM_read_X509_CRL(f, NULL, NULL, NULL) : NULL;
		if (f)
			fclose(f);
		if (!crl || X509_STORE_add_crl(store, crl) != 1) {
			X509_CRL_free(crl);
			ssl_error(err, errlen, "tls-crl", opt->tls_crl);
			goto fail;
		}
		X509_CRL_free(crl);
		X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

/* Add a name (text) to id when it is a valid domain name and there is room. */
static void
add_name(struct tls_identity *id, const char *text, size_t len)
{
	char buf[256];

	if (id->n >= TLS_MAX_NAMES || len == 0 || len >= sizeof(buf) || memchr(text, '\0', len))
		return;
	memcpy(buf, text, len);
	buf[len] = '\0';
	if (buf[0] == '*')
		return; /* a wildcard speaks for no domain in particular */
	if (dname_from_text(buf, id->names[id->n]) > 1)
		id->n++;
}

bool
tls_certificate_identity(SSL *ssl, struct tls_identity *id)
{
	X509 *cert = SSL_get_peer_certificate(ssl);

	id->n = 0;
	if (!cert)
		return false;
	bool named = SSL_get_verify_result(ssl) == X509_V_OK && tls_x509_names(cert, id);
	X509_free(cert);
	if (!named)
		id->n = 0;
	return named;
}

bool
tls_x509_names(X509 *cert, struct tls_identity *id)
{
	static const char srv_prefix[] = "_xmpp-server.";

	id->n = 0;
	ASN1_OBJECT *srv_oid = OBJ_txt2obj("1.3.6.1.5.5.7.8.7", 1);  /* id-on-dnsSRV */
	ASN1_OBJECT *xmpp_oid = OBJ_txt2obj("1.3.6.1.5.5.7.8.5", 1); /* id-on-xmppAddr */
	GENERAL_NAMES *sans = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	for (int i = 0; sans && i < sk_GENERAL_NAME_num(sans); i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, i);
		if (gn->type == GEN_DNS) {
			add_name(id, (const char *)ASN1_STRING_get0_data(gn->d.dNSName),
			         (size_t)ASN1_STRING_length(gn->d.dNSName));
		} else if (gn->type == GEN_OTHERNAME && gn->d.otherName->value) {
			const ASN1_TYPE *v = gn->d.otherName->value;
			if (srv_oid && OBJ_cmp(gn->d.otherName->type_id, srv_oid) == 0 &&
			    v->type == V_ASN1_IA5STRING) {
				const char *s = (const char *)ASN1_STRING_get0_data(v->value.ia5string);
				size_t n = (size_t)ASN1_STRING_length(v->value.ia5string);
				if (n > sizeof(srv_prefix) - 1 && strncasecmp(s, srv_prefix, sizeof(srv_prefix) - 1) == 0)
					add_name(id, s + sizeof(srv_prefix) - 1, n - (sizeof(srv_prefix) - 1));
			} else if (xmpp_oid && OBJ_cmp(gn->d.otherName->type_id, xmpp_oid) == 0 &&
			           v->type == V_ASN1_UTF8STRING) {
				const char *s = (const char *)ASN1_STRING_get0_data(v->value.utf8string);
				size_t n = (size_t)ASN1_STRING_length(v->value.utf8string);
				if (!memchr(s, '@', n) && !memchr(s, '/', n)) /* a server's address: a bare domain */
					add_name(id, s, n);
			}
		}
	}
	GENERAL_NAMES_free(sans);
	ASN1_OBJECT_free(srv_oid);
	ASN1_OBJECT_free(xmpp_oid);
	return id->n > 0;
}
