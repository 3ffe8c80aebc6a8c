/*
 * recursion.h -- libunbound on resolverd's libevent loop: start a lookup,
 * get the upstream result back in a callback.
 *
 * This is glue only. What the client is answered (flags, EDNS, size limit,
 * TTL cap, AD bit, policy on the names inside) is decided in query.c.
 * Every function here runs on the loop thread.
 */
#ifndef RECURSION_H
#define RECURSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct options;
struct recursion;

/** DNSSEC status of an upstream answer, as libunbound's `sec` reports it. */
enum upstream_security {
	UPSTREAM_INSECURE = 0, /* not validated, or no trust anchor covers it */
	UPSTREAM_BOGUS = 1,    /* validation failed: the client gets SERVFAIL */
	UPSTREAM_SECURE = 2,   /* validated: AD may be set (RFC 4035 3.2.3) */
};

/**
 * The result of one lookup. Valid only during the callback: packet and
 * why_bogus belong to libunbound.
 */
struct upstream_result {
	int error;                     /* 0, or a libunbound error code (no packet) */
	const uint8_t *packet;         /* the upstream answer in wire format, or NULL */
	size_t len;                    /* bytes at packet */
	enum upstream_security sec;
	const char *why_bogus;         /* with UPSTREAM_BOGUS: libunbound's reason, or NULL */
};

/** Called once per started lookup, on the loop thread. */
typedef void (*upstream_done_fn)(void *arg, const struct upstream_result *res);

/**
 * One lookup in flight, owned by the caller (inside its own per-query
 * record, so that starting a lookup allocates nothing of ours). It must stay
 * in place until done has been called.
 */
struct upstream_lookup {
	upstream_done_fn done;         /* set by the caller */
	void *arg;                     /* set by the caller, passed to done */
	int async_id;                  /* libunbound's id, set by recursion_resolve */
};

/**
 * How query.c starts a lookup: recursion_resolve in resolverd, a fake that
 * the test calls back itself in the unit tests. ctx is the lookup's state
 * (a struct recursion * for recursion_resolve).
 */
typedef int (*upstream_lookup_fn)(void *ctx, const uint8_t *qname, uint16_t qtype,
                                  uint16_t qclass, bool checking_disabled,
                                  struct upstream_lookup *l);

/**
 * Create the libunbound context on base, configured from the options
 * (forwarders, stub zones, transparent zones, trust anchor, raw libunbound
 * options). With a trust anchor a second context without validation serves
 * CD queries. track_anchor: this context keeps auto-trust-anchor-file up to
 * date (RFC 5011) and writes it; with several workers only the first one's
 * does, the others read the file as a static anchor at start (libunbound
 * contexts in one process would write the same file unaware of each other).
 * It also makes the warning about recursing without validation be logged
 * once. Returns NULL with a message in err (errlen bytes) naming the
 * option that failed. Free with recursion_free(). Main thread, before the
 * loop of base runs (and before the chroot: the anchors are read here).
 */
struct recursion *recursion_new(struct event_base *base, const struct options *opt,
                                bool track_anchor, char *err, size_t errlen);

/** Delete the contexts; lookups still running are cancelled without callback. */
void recursion_free(struct recursion *rec);

/**
 * An upstream_lookup_fn: start resolving qname (wire format, at most 255
 * bytes, read during the call only) / qtype / qclass with rec (a struct
 * recursion *). checking_disabled selects the context without validation
 * (a CD query, RFC 4035 3.2.2).
 *
 * l->done(l->arg, result) is called exactly once when 0 is returned,
 * possibly before this function returns (libunbound answers from its cache
 * and its local zones at once): the caller must be ready for it before
 * calling. Returns -1 when the lookup could not be started (no memory, a
 * name libunbound refuses; logged at warning level); done is then never
 * called.
 */
int recursion_resolve(void *rec, const uint8_t *qname, uint16_t qtype, uint16_t qclass,
                      bool checking_disabled, struct upstream_lookup *l);

#endif
