/*
 * recursion.h -- everything not decided by policy is resolved by libunbound,
 * asynchronously on resolverd's libevent loop.
 */
#ifndef RECURSION_H
#define RECURSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "query.h"

struct event_base;
struct options;

/** A query waiting for libunbound; malloced by recursion_start, freed on completion. */
struct pending {
	struct resolver *r;
	struct reply_handle h;
	uint16_t id, flags;            /* the client's id and flags */
	uint16_t qtype, qclass;
	uint8_t question[255 + 4];     /* the client's question, as sent */
	size_t question_len;
	bool edns, do_bit;
	size_t limit;                  /* most bytes the client accepts */
	uint32_t ttl_cap;              /* UINT32_MAX: not a policy answer */
	bool learn;                    /* an SRV lookup of learn_peer: remember its target hosts */
	bool silent;                   /* a lookup of our own: nobody to answer */
	uint8_t learn_peer[255];       /* wire */
	int async_id;
};

/**
 * Create the libunbound context on base, configured from the options
 * (forwarders, stub zones, transparent zones, trust anchor, raw options).
 * NULL with a message in err.
 */
struct recursion *recursion_new(struct event_base *base, const struct options *opt, char *err,
                                size_t errlen);
void recursion_free(struct recursion *rec);

/**
 * Resolve p's question; the answer (or SERVFAIL) is sent with p->r->reply and
 * p is freed. Returns 0, or -1 (p is not taken; caller answers SERVFAIL).
 */
int recursion_start(struct recursion *rec, struct pending *p);

#endif
