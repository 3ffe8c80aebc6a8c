/*
 * targetmap.h -- SRV target hosts learned from upstream answers.
 *
 * A denied requester must not reach a peer by asking for the address of the
 * peer's SRV target host directly. Hosts listed in the targets table are known
 * from the snapshot; for the others, every upstream SRV answer of a community
 * domain teaches us "host H serves peer P" until its TTL runs out, and so does
 * every alias chain that passes through a name of P (H is then P's hidden
 * canonical host).
 *
 * One map is shared by every worker thread: a target learned on one worker
 * is policed on all of them. Every function takes the map's lock (a
 * read-write lock: lookups, the common case, share it), so any thread may
 * call any of them at once, except targetmap_free.
 */
#ifndef TARGETMAP_H
#define TARGETMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "dname.h"

struct targetmap;

/** A map of at most max_entries (host, peer) pairs. NULL on no memory. */
struct targetmap *targetmap_new(size_t max_entries);
/** Free m; no other thread may use it any more. */
void targetmap_free(struct targetmap *m);

/**
 * Remember that host (wire) serves peer (wire) until expires (seconds since
 * the epoch). Returns true when the pair was not known before (the caller
 * bumps the policy epoch then: answers checked without it are stale).
 */
bool targetmap_add(struct targetmap *m, const uint8_t *host, const uint8_t *peer, time_t expires);

/**
 * The peers that host serves at time now, copied as wire names into peers
 * (the caller's, max of them): another thread may change the map as soon as
 * this returns. Returns how many.
 */
size_t targetmap_lookup(struct targetmap *m, const uint8_t *host, time_t now,
                        uint8_t (*peers)[DNAME_MAXLEN], size_t max);

/**
 * The learning epoch: a counter every worker adds to its own policy epoch
 * when it keys or checks answers in its answer cache, so that a new target
 * host learned on one worker makes the answers every worker kept before it
 * stale. targetmap_new_epoch() bumps it (after the targetmap_add() that
 * returned true). Read it before the lookups an answer is policed with:
 * an add that the lookups missed then bumps it later, and the answer is
 * kept under the old value, never the new one.
 */
uint64_t targetmap_epoch(const struct targetmap *m);
void targetmap_new_epoch(struct targetmap *m);

/**
 * Whether the targets of peer (wire) should be looked up now: not when they
 * were learned and are still fresh, nor when a lookup started less than a
 * minute ago. A true answer marks the lookup as started.
 */
bool targetmap_probe_due(struct targetmap *m, const uint8_t *peer, time_t now);

/** The targets of peer were learned and stay fresh until until. */
void targetmap_peer_learned(struct targetmap *m, const uint8_t *peer, time_t until);

#endif
