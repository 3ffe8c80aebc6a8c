/*
 * answer_cache.h -- upstream answers kept in wire format, ready to send.
 *
 * libunbound has its own cache, but asking it costs a mesh lookup, an encode,
 * and our parse and rebuild of its packet. The answers the community asks
 * for again and again (allowed SRV lookups, target addresses, everything else
 * a server resolves) are kept here as the bytes after the question, with the
 * place of every TTL, and sent with the client's id, flags and question, the
 * TTLs counted down. Not requester-specific: the policy decides before the
 * cache is asked. Loop thread only.
 */
#ifndef ANSWER_CACHE_H
#define ANSWER_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct answer;

/** What makes two questions share an answer. */
struct answer_key {
	const uint8_t *qname;  /* lower-case wire */
	uint16_t qtype, qclass;
	uint8_t variant;       /* ANSWER_DO | ANSWER_CD */
	/*
	 * Policy epoch. answer_cache_put: 0 when the answer holds no name but
	 * the question's (valid whatever the policy), else the epoch it was
	 * checked in. answer_cache_get: the current epoch (not 0); an entry of
	 * another epoch is a miss, since the names in it may be policed now.
	 */
	uint64_t epoch;
};
#define ANSWER_DO 1        /* RRSIGs included */
#define ANSWER_CD 2        /* not validated */

/** The variant of a query: whether it set DO (EDNS) and CD (header). */
static inline uint8_t
answer_variant(bool do_bit, bool cd)
{
	return (uint8_t)((do_bit ? ANSWER_DO : 0) | (cd ? ANSWER_CD : 0));
}

struct answer_cache;

/** A cache of at most max_entries answers. NULL on no memory. */
struct answer_cache *answer_cache_new(size_t max_entries);
void answer_cache_free(struct answer_cache *c);

/**
 * Fill a started answer (header and question written) from the cache: RCODE,
 * sections, TTLs counted down to now and capped at ttl_cap (policy answers);
 * AD when the answer was validated and want_ad. Returns false on a miss or
 * an expired entry.
 */
bool answer_cache_get(struct answer_cache *c, const struct answer_key *k, time_t now, bool want_ad,
                      uint32_t ttl_cap, struct answer *a);

/**
 * Keep a finished answer (before its OPT record) for its smallest upstream
 * TTL. ttl_offsets are the places of the TTL fields in a->buf and ttls their
 * upstream values (the answer itself may carry capped ones: the cap is a
 * promise to clients, applied again on the way out, not a limit on how long
 * the upstream answer stays true). Truncated answers, and answers other than
 * NOERROR or NXDOMAIN, are not kept.
 */
void answer_cache_put(struct answer_cache *c, const struct answer_key *k, const struct answer *a,
                      const uint16_t *ttl_offsets, const uint32_t *ttls, size_t nttl, bool secure,
                      time_t now);

/** Entries and hit counters, for statistics. */
void answer_cache_stats(const struct answer_cache *c, size_t *entries, uint64_t *hits,
                        uint64_t *misses);

#endif
