/*
 * decision_cache.c -- open-addressing hash of (requester, peer) -> verdict.
 *
 * Forgetting every entry (a new snapshot, the next rule expiry) is one
 * increment of a generation number: an entry of an older generation is an
 * empty slot. The loop's swap to a new snapshot so costs nothing however
 * big the table is, and the table's memory is only touched where used.
 */
#include "config.h"
#include "decision_cache.h"

#include <stdlib.h>
#include <string.h>

/* A verdict's reason is one of a few static texts: kept as an index. */
#define MAX_REASONS 32

struct cache_entry {
	uint64_t key;              /* requester << 32 | peer */
	uint32_t gen;              /* valid when equal to the cache's generation */
	uint8_t reason;            /* index in reasons[] */
	uint8_t allow : 1, would_differ : 1, would_allow : 1;
	int64_t rule_id, reverse_rule_id, would_rule_id;
};

struct decision_cache {
	struct cache_entry *slots;
	size_t size, used, max_entries;
	uint32_t gen;                /* slots of another generation are empty; never 0 */
	const struct policy *policy; /* the snapshot the entries belong to */
	uint64_t serial;
	time_t valid_until;          /* next rule expiry; 0 = none */
	uint64_t hits, misses;
	const char *reasons[MAX_REASONS];
	size_t nreasons;
};

struct decision_cache *
decision_cache_new(size_t max_entries)
{
	struct decision_cache *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->size = 1024;
	while (c->size < max_entries * 2)
		c->size *= 2;
	c->max_entries = max_entries;
	c->slots = calloc(c->size, sizeof(*c->slots)); /* generation 0: all empty */
	if (!c->slots) {
		free(c);
		return NULL;
	}
	c->gen = 1;
	return c;
}

void
decision_cache_free(struct decision_cache *c)
{
	if (!c)
		return;
	free(c->slots);
	free(c);
}

/* Grow the table for a bigger community: twice its domains fit (a requester's peers). */
static void
fit(struct decision_cache *c, const struct policy *p)
{
	size_t want = p->ndomains * 2;

	if (want <= c->max_entries)
		return;
	size_t size = c->size;
	while (size < want * 2)
		size *= 2;
	struct cache_entry *slots = calloc(size, sizeof(*slots));
	if (!slots)
		return; /* keep the smaller table: still correct, only more misses */
	free(c->slots);
	c->slots = slots;
	c->size = size;
	c->max_entries = want;
	c->gen = 1;
}

static void
flush(struct decision_cache *c, const struct policy *p, time_t now)
{
	if (c->policy != p)
		fit(c, p);
	if (++c->gen == 0) {
		/* the generations wrapped: clear for real, once in 4 billion flushes */
		memset(c->slots, 0, c->size * sizeof(*c->slots));
		c->gen = 1;
	}
	c->used = 0;
	c->policy = p;
	c->serial = p->serial;
	c->valid_until = policy_next_expiry(p, now);
}

static inline size_t
slot_of(uint64_t key, size_t size)
{
	/* Fibonacci hashing spreads the sequential domain indexes */
	return (size_t)((key * 0x9E3779B97F4A7C15ull) >> 20) & (size - 1);
}

/* The index of a reason text; MAX_REASONS when the table is full (not cached then). */
static size_t
reason_index(struct decision_cache *c, const char *reason)
{
	for (size_t i = 0; i < c->nreasons; i++)
		if (c->reasons[i] == reason)
			return i;
	if (c->nreasons == MAX_REASONS)
		return MAX_REASONS;
	c->reasons[c->nreasons] = reason;
	return c->nreasons++;
}

void
decision_cache_decide(struct decision_cache *c, const struct policy *p, uint32_t requester,
                      uint32_t peer, time_t now, bool require_mutual, struct policy_verdict *out)
{
	if (requester == POLICY_NONE || peer == POLICY_NONE) {
		policy_decide(p, requester, peer, now, require_mutual, out);
		return;
	}
	if (c->policy != p || c->serial != p->serial || (c->valid_until != 0 && now >= c->valid_until))
		flush(c, p, now);
	uint64_t key = (uint64_t)requester << 32 | peer;
	size_t mask = c->size - 1;
	size_t i = slot_of(key, c->size);
	for (; c->slots[i].gen == c->gen; i = (i + 1) & mask) {
		const struct cache_entry *e = &c->slots[i];
		if (e->key == key) {
			c->hits++;
			memset(out, 0, sizeof(*out));
			out->allow = e->allow;
			out->rule_id = e->rule_id;
			out->reverse_rule_id = e->reverse_rule_id;
			out->reason = c->reasons[e->reason];
			out->would_differ = e->would_differ;
			out->would_allow = e->would_allow;
			out->would_rule_id = e->would_rule_id;
			return;
		}
	}
	c->misses++;
	policy_decide(p, requester, peer, now, require_mutual, out);
	size_t reason = reason_index(c, out->reason);
	if (reason == MAX_REASONS)
		return;
	if (c->used >= c->max_entries) {
		flush(c, p, now);
		i = slot_of(key, c->size);
	}
	struct cache_entry *e = &c->slots[i];
	e->key = key;
	e->gen = c->gen;
	e->reason = (uint8_t)reason;
	e->allow = out->allow;
	e->would_differ = out->would_differ;
	e->would_allow = out->would_allow;
	e->rule_id = out->rule_id;
	e->reverse_rule_id = out->reverse_rule_id;
	e->would_rule_id = out->would_rule_id;
	c->used++;
}

void
decision_cache_stats(const struct decision_cache *c, uint64_t *hits, uint64_t *misses)
{
	*hits = c->hits;
	*misses = c->misses;
}
