/*
 * decision_cache.c -- open-addressing hash of (requester, peer) -> verdict.
 */
#include "config.h"
#include "decision_cache.h"

#include <stdlib.h>
#include <string.h>

#define EMPTY_KEY UINT64_MAX

struct cache_entry {
	uint64_t key;              /* requester << 32 | peer */
	struct policy_verdict v;
};

struct decision_cache {
	struct cache_entry *slots;
	size_t size, used, max_entries;
	const struct policy *policy; /* the snapshot the entries belong to */
	uint64_t serial;
	time_t valid_until;          /* next rule expiry; 0 = none */
	uint64_t hits, misses;
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
	c->slots = malloc(c->size * sizeof(*c->slots));
	if (!c->slots) {
		free(c);
		return NULL;
	}
	for (size_t i = 0; i < c->size; i++)
		c->slots[i].key = EMPTY_KEY;
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

/* The earliest rule expiry after now, or 0. */
static time_t
next_expiry(const struct policy *p, time_t now)
{
	time_t next = 0;

	for (size_t i = 0; i < p->nrules; i++) {
		time_t e = p->rules[i].expires;
		if (e > now && (next == 0 || e < next))
			next = e;
	}
	return next;
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
	struct cache_entry *slots = malloc(size * sizeof(*slots));
	if (!slots)
		return; /* keep the smaller table: still correct, only more misses */
	free(c->slots);
	c->slots = slots;
	c->size = size;
	c->max_entries = want;
}

static void
flush(struct decision_cache *c, const struct policy *p, time_t now)
{
	if (c->policy != p)
		fit(c, p);
	for (size_t i = 0; i < c->size; i++)
		c->slots[i].key = EMPTY_KEY;
	c->used = 0;
	c->policy = p;
	c->serial = p->serial;
	c->valid_until = next_expiry(p, now);
}

static inline size_t
slot_of(uint64_t key, size_t size)
{
	/* Fibonacci hashing spreads the sequential domain indexes */
	return (size_t)((key * 0x9E3779B97F4A7C15ull) >> 20) & (size - 1);
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
	for (; c->slots[i].key != EMPTY_KEY; i = (i + 1) & mask) {
		if (c->slots[i].key == key) {
			c->hits++;
			*out = c->slots[i].v;
			return;
		}
	}
	c->misses++;
	policy_decide(p, requester, peer, now, require_mutual, out);
	if (c->used >= c->max_entries) {
		flush(c, p, now);
		i = slot_of(key, c->size);
	}
	c->slots[i].key = key;
	c->slots[i].v = *out;
	c->used++;
}

void
decision_cache_stats(const struct decision_cache *c, uint64_t *hits, uint64_t *misses)
{
	*hits = c->hits;
	*misses = c->misses;
}
