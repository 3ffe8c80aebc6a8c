/*
 * decision_cache.h -- memo of decision(R, P) for the current snapshot.
 *
 * Deciding walks the rules in priority order, which costs up to the number of
 * rules; a community asks the same pairs again and again, so each decision is
 * computed once per snapshot and then costs one hash lookup. The cache is
 * flushed when the snapshot changes (another pointer or serial) and when the
 * next rule expiry passes (policy_next_expiry), so an expiring rule stops
 * applying on time without any edit; a flush costs the same whatever the
 * table's size. Loop thread only.
 */
#ifndef DECISION_CACHE_H
#define DECISION_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "policy.h"

struct decision_cache;

/**
 * A cache of at least max_entries pairs (flushed whole when full); it grows
 * with the community to twice the domains of the snapshot (40 bytes an entry,
 * touched only where used). NULL on no memory. Free with decision_cache_free
 * (NULL is ignored).
 */
struct decision_cache *decision_cache_new(size_t max_entries);
void decision_cache_free(struct decision_cache *c);

/**
 * decision(requester, peer) under snapshot p at time now, from the cache or
 * computed and remembered. Same result as policy_decide(). The cache keeps
 * no reference to p: it only compares the pointer and serial of the next
 * snapshot it is given with those of the last one.
 */
void decision_cache_decide(struct decision_cache *c, const struct policy *p, uint32_t requester,
                           uint32_t peer, time_t now, bool require_mutual,
                           struct policy_verdict *out);

/** Hits and misses since creation, for statistics and tests. */
void decision_cache_stats(const struct decision_cache *c, uint64_t *hits, uint64_t *misses);

#endif
