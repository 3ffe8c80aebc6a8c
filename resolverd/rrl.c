/*
 * rrl.c -- token buckets in an open-addressing table with a short probe
 * window; a full window reuses its least recently used bucket.
 */
#include "config.h"
#include "rrl.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define PROBES 8

struct rrl_bucket {
	uint8_t key[17];          /* family tag, then the prefix's bytes */
	bool used;
	uint64_t tokens;          /* answers in thousandths */
	uint64_t last_ms;         /* last refill */
	uint64_t over;            /* answers over the limit, for slip */
};

struct rrl {
	struct rrl_bucket *slots;
	size_t size;
	unsigned rate, rate_identified, slip;
};

struct rrl *
rrl_new(size_t max_clients, unsigned rate, unsigned rate_identified, unsigned slip)
{
	struct rrl *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->size = 64;
	while (r->size < max_clients)
		r->size *= 2;
	r->slots = calloc(r->size, sizeof(*r->slots));
	if (!r->slots) {
		free(r);
		return NULL;
	}
	r->rate = rate;
	r->rate_identified = rate_identified;
	r->slip = slip;
	return r;
}

void
rrl_free(struct rrl *r)
{
	if (!r)
		return;
	free(r->slots);
	free(r);
}

/* The bucket key: an unidentified client's /24 or /56, an identified one's address. */
static void
make_key(const struct netaddr *a, bool identified, uint8_t key[17])
{
	memset(key, 0, 17);
	bool v4 = a->family == AF_INET;
	size_t n = identified ? (v4 ? 4 : 16) : (v4 ? 3 : 7);
	key[0] = (uint8_t)((v4 ? 4 : 6) | (identified ? 0x80 : 0));
	memcpy(key + 1, a->addr, n);
}

static uint64_t
hash_key(const uint8_t key[17])
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < 17; i++)
		h = (h ^ key[i]) * 1099511628211ull;
	return h;
}

enum rrl_verdict
rrl_check(struct rrl *r, const struct netaddr *source, bool identified, uint64_t now_ms)
{
	unsigned rate = identified ? r->rate_identified : r->rate;
	uint8_t key[17];

	if (rate == 0)
		return RRL_PASS;
	make_key(source, identified, key);
	uint64_t h = hash_key(key);
	struct rrl_bucket *b = NULL, *lru = NULL;
	for (size_t p = 0; p < PROBES && !b; p++) {
		struct rrl_bucket *s = &r->slots[(h + p) & (r->size - 1)];
		if (s->used && memcmp(s->key, key, sizeof(key)) == 0)
			b = s;
		else if (!lru || !s->used || (lru->used && s->last_ms < lru->last_ms))
			lru = s;
	}
	/* a second's worth of answers at most: a quiet client cannot save up a burst */
	uint64_t full = (uint64_t)rate * 1000;
	if (!b) {
		b = lru;
		memcpy(b->key, key, sizeof(key));
		b->used = true;
		b->tokens = full;
		b->last_ms = now_ms;
		b->over = 0;
	}
	if (now_ms > b->last_ms) {
		uint64_t add = (now_ms - b->last_ms) * rate;
		b->tokens = b->tokens + add > full ? full : b->tokens + add;
		b->last_ms = now_ms;
	}
	if (b->tokens >= 1000) {
		b->tokens -= 1000;
		return RRL_PASS;
	}
	b->over++;
	return r->slip && b->over % r->slip == 0 ? RRL_SLIP : RRL_DROP;
}
