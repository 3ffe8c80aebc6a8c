/*
 * tls.h -- DNS over TLS (RFC 7858) for resolverd: the server's TLS context
 * and the requester a client certificate names.
 *
 * A client may present a certificate; when its chain verifies against
 * tls-client-ca (and, with tls-crl, it is not revoked) and it names a
 * community domain, that domain is the requester, whatever the source
 * address (docs/identity.md). A certificate that does not verify fails the
 * handshake; no certificate at all leaves identification to the source
 * address. OpenSSL does the TLS, the verification and the CRL check.
 */
#ifndef TLS_H
#define TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

struct options;
struct policy;

/**
 * The server context from the options: tls-cert (chain, PEM), tls-key,
 * tls-client-ca (PEM bundle; client certificates are then asked for and
 * verified), tls-crl (PEM; checked for the leaf). TLS 1.2 and 1.3 only,
 * server-side session cache for resumption. Returns NULL with a message
 * (file, OpenSSL's reason) in err. Free with SSL_CTX_free(). Main thread.
 */
SSL_CTX *tls_server_context(const struct options *opt, char *err, size_t errlen);

/** Most names of a client certificate kept for identification. */
#define TLS_MAX_NAMES 8

/**
 * The domain names a verified client certificate speaks for, in wire
 * format: from the subjectAltName's dNSName (wildcards are skipped), XMPP
 * SRV-ID (id-on-dnsSRV, RFC 7673: "_xmpp-server.DOMAIN" gives DOMAIN) and
 * XmppAddr (id-on-xmppAddr, RFC 6120 13.7.1.4, a bare domain). Which of
 * them is a community domain, or a certificate name bound to one in the
 * identities table, is asked per query,
 * so an edit of the policy applies to open connections too.
 */
struct tls_identity {
	size_t n;
	uint8_t names[TLS_MAX_NAMES][255];
};

/**
 * After the handshake: fill id from the client's certificate. Returns
 * false (id->n == 0) when there is none or it did not verify. Loop thread.
 */
bool tls_certificate_identity(SSL *ssl, struct tls_identity *id);

/**
 * The names of cert as above, without any verification (chpolicy check
 * --as cert:FILE). False (id->n == 0) when it names none. Any thread; cert
 * stays the caller's.
 */
bool tls_x509_names(X509 *cert, struct tls_identity *id);

#endif
