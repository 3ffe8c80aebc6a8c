/*
 * targetmap.h -- SRV target hosts learned from upstream answers.
 *
 * A denied requester must not reach a peer by asking for the address of the
 * peer's SRV target host directly. Hosts listed in the targets table are known
 * from the snapshot; for the others, every upstream SRV answer of a community
 * domain teaches us "host H serves peer P" until its TTL runs out, and so does
 * every alias chain that passes through a name of P (H is then P's hidden
 * canonical host). Loop thread only.
 */
#ifndef TARGETMAP_H
#define TARGETMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct targetmap;

/** A map of at most max_entries (host, peer) pairs. NULL on no memory. */
struct targetmap *targetmap_new(size_t max_entries);
void targetmap_free(struct targetmap *m);

/**
 * Remember that host (wire) serves peer (wire) until expires (seconds since
 * the epoch). Returns true when the pair was not known before (the caller
 * bumps the policy epoch then: answers checked without it are stale).
 */
bool targetmap_add(struct targetmap *m, const uint8_t *host, const uint8_t *peer, time_t expires);

/**
 * The peers (wire names, owned by the map, valid until the next add) that
 * host serves at time now; at most max are stored in peers. Returns how many.
 */
size_t targetmap_lookup(const struct targetmap *m, const uint8_t *host, time_t now,
                        const uint8_t **peers, size_t max);

/**
 * Whether the targets of peer (wire) should be looked up now: not when they
 * were learned and are still fresh, nor when a lookup started less than a
 * minute ago. A true answer marks the lookup as started.
 */
bool targetmap_probe_due(struct targetmap *m, const uint8_t *peer, time_t now);

/** The targets of peer were learned and stay fresh until until. */
void targetmap_peer_learned(struct targetmap *m, const uint8_t *peer, time_t until);

#endif
