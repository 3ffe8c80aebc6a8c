/*
 * query.h -- what resolverd answers: one query in, one answer out.
 *
 * query_process() runs the pipeline of docs/resolverd.md "What resolverd
 * answers": header checks, requester identification, own zone, XMPP policy,
 * recursion. It answers synchronously into the caller's buffer when it can.
 * Otherwise it starts an upstream lookup (r->lookup) and, when the result
 * comes back, makes the answer itself and sends it through r->transport.
 * Every decision about an answer, on either path, is made in query.c.
 *
 * The thread that owns the struct resolver only: it reads and writes it. Its
 * scratch buffers are thread-local, so workers with a resolver each may run it
 * at once.
 */
#ifndef QUERY_H
#define QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "netaddr.h"
#include "resolver.h"

enum query_result {
	QUERY_DROP,      /* no answer at all (unparseable header, a response) */
	QUERY_ANSWERED,  /* the answer is in out, *outlen bytes */
	QUERY_PENDING,   /* the answer goes out later through r->transport */
};

/**
 * Process one query of len bytes at pkt (read during the call only), from
 * source. tcp selects the size limit (65535, or the client's EDNS buffer
 * size capped by edns-buffer-size, or 512). h is the transport's handle for
 * this client, passed to r->transport.hold() when the answer has to wait for
 * the upstream; it is read during the call only.
 *
 * On QUERY_ANSWERED the answer is in out (outcap bytes, at least 512; 65535
 * for TCP) and *outlen is its length. On QUERY_PENDING the transport holds a
 * copy of h and gets the answer, or an empty reply when there is none, later.
 * Never fails: what cannot be done (no memory, lookup refused) is answered
 * SERVFAIL.
 */
enum query_result query_process(struct resolver *r, const uint8_t *pkt, size_t len,
                                const struct netaddr *source, bool tcp,
                                const struct reply_handle *h, uint8_t *out, size_t outcap,
                                size_t *outlen);

struct tls_identity;

/**
 * query_process() for a client that showed a verified certificate over
 * DNS over TLS: the first name of cert (NULL: none) that is a community
 * domain identifies the requester, before the source address (a name that
 * is not one is ignored). Otherwise the same.
 */
enum query_result query_process_as(struct resolver *r, const uint8_t *pkt, size_t len,
                                   const struct netaddr *source, const struct tls_identity *cert,
                                   bool tcp, const struct reply_handle *h, uint8_t *out,
                                   size_t outcap, size_t *outlen);

/** Milliseconds of the monotonic clock: the time base of query_expire(). Any thread. */
uint64_t query_clock_ms(void);

/**
 * Answer SERVFAIL to every client query that has waited for the upstream
 * recursion-timeout seconds or more by now_ms (query_clock_ms()); the
 * lookup goes on and still teaches when it ends. Called by main from a
 * timer, a few times a second. Loop thread.
 */
void query_expire(struct resolver *r, uint64_t now_ms);

/**
 * Let go of every lookup in flight and every query waiting for one, without
 * answering: at shutdown, after the recursion is freed (no callback can
 * come any more). Loop thread.
 */
void query_shutdown(struct resolver *r);

#endif
