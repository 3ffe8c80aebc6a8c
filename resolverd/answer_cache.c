/*
 * answer_cache.c -- open addressing with a short probe window; a full window
 * evicts its entry that expires first.
 */
#include "config.h"
#include "answer_cache.h"
#include "answer.h"
#include "dname.h"
#include <ldns/ldns.h>

#include <stdlib.h>
#include <string.h>

#define PROBES 8
#define MAX_TTLS 255

struct cached_answer {
	uint64_t hash;          /* 0: empty slot */
	uint8_t *key;           /* qname, type, class, variant */
	size_t keylen;
	/* one allocation: ttl[nttl], ttl_at[nttl], then body */
	uint32_t *ttl;          /* TTL values when stored */
	uint16_t *ttl_at;       /* offsets of the TTL fields in body */
	uint8_t *body;          /* everything after the question, before OPT */
	uint16_t bodylen;
	uint16_t count[3];
	uint8_t rcode;
	bool secure;
	uint8_t nttl;
	uint64_t epoch;         /* 0: any; else valid only in this policy epoch */
	time_t stored, expires;
};

struct answer_cache {
	struct cached_answer *slots;
	size_t size, max_size;      /* grows up to max_size slots, see grow() */
	size_t entries;
	uint64_t hits, misses;
};

static size_t
make_key(const struct answer_key *k, uint8_t *out)
{
	size_t n = dname_length(k->qname, DNAME_MAXLEN);

	memcpy(out, k->qname, n);
	out[n] = (uint8_t)(k->qtype >> 8);
	out[n + 1] = (uint8_t)k->qtype;
	out[n + 2] = (uint8_t)(k->qclass >> 8);
	out[n + 3] = (uint8_t)k->qclass;
	out[n + 4] = k->variant;
	return n + 5;
}

static uint64_t
hash_key(const uint8_t *key, size_t len)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < len; i++)
		h = (h ^ key[i]) * 1099511628211ull;
	return h ? h : 1;
}

struct answer_cache *
answer_cache_new(size_t max_entries)
{
	struct answer_cache *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->max_size = 64;
	while (c->max_size < max_entries)
		c->max_size *= 2;
	c->size = c->max_size < 1024 ? c->max_size : 1024;
	c->slots = calloc(c->size, sizeof(*c->slots));
	if (!c->slots) {
		free(c);
		return NULL;
	}
	return c;
}

static void
drop(struct answer_cache *c, struct cached_answer *e)
{
	if (!e->hash)
		return;
	free(e->key);
	free(e->ttl);
	memset(e, 0, sizeof(*e));
	c->entries--;
}

void
answer_cache_free(struct answer_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->size; i++)
		drop(c, &c->slots[i]);
	free(c->slots);
	free(c);
}

static struct cached_answer *
find(const struct answer_cache *c, const uint8_t *key, size_t keylen, uint64_t h)
{
	for (size_t p = 0; p < PROBES; p++) {
		struct cached_answer *e = &c->slots[(h + p) & (c->size - 1)];
		if (e->hash == h && e->keylen == keylen && memcmp(e->key, key, keylen) == 0)
			return e;
	}
	return NULL;
}

bool
answer_cache_get(struct answer_cache *c, const struct answer_key *k, time_t now, bool want_ad,
                 uint32_t ttl_cap, struct answer *a)
{
	uint8_t key[DNAME_MAXLEN + 5];
	size_t keylen = make_key(k, key);
	uint64_t h = hash_key(key, keylen);
	struct cached_answer *e = find(c, key, keylen, h);

	if (!e || now >= e->expires || (e->epoch && e->epoch != k->epoch)) {
		if (e)
			drop(c, e);
		c->misses++;
		return false;
	}
	size_t reserve = a->edns ? 11 : 0;
	if (a->len + e->bodylen + reserve > a->limit) {
		/* does not fit the client's buffer: TC=1, the client retries over TCP */
		c->hits++;
		answer_set_rcode(a, e->rcode);
		a->truncated = true;
		return true;
	}
	uint8_t *body = a->buf + a->len;
	memcpy(body, e->body, e->bodylen);
	uint32_t elapsed = (uint32_t)(now - e->stored);
	for (uint8_t i = 0; i < e->nttl; i++) {
		uint32_t left = e->ttl[i] > elapsed ? e->ttl[i] - elapsed : 0;
		ldns_write_uint32(body + e->ttl_at[i], left < ttl_cap ? left : ttl_cap);
	}
	a->len += e->bodylen;
	memcpy(a->count, e->count, sizeof(a->count));
	answer_set_rcode(a, e->rcode);
	if (e->secure && want_ad)
		LDNS_AD_SET(a->buf);
	c->hits++;
	return true;
}

/*
 * Double the table while it is more than half full and under its maximum:
 * the cache's memory follows what a community asks, not the maximum.
 * Entries that find no slot in their new probe window are dropped.
 */
static void
grow(struct answer_cache *c)
{
	if (c->entries * 2 < c->size || c->size >= c->max_size)
		return;
	size_t size = c->size * 2;
	struct cached_answer *slots = calloc(size, sizeof(*slots));
	if (!slots)
		return;
	struct cached_answer *old = c->slots;
	size_t old_size = c->size;
	c->slots = slots;
	c->size = size;
	for (size_t i = 0; i < old_size; i++) {
		if (!old[i].hash)
			continue;
		struct cached_answer *dst = NULL;
		for (size_t p = 0; p < PROBES && !dst; p++) {
			struct cached_answer *e = &slots[(old[i].hash + p) & (size - 1)];
			if (!e->hash)
				dst = e;
		}
		if (dst) {
			*dst = old[i];
		} else {
			free(old[i].key);
			free(old[i].ttl);
			c->entries--;
		}
	}
	free(old);
}

void
answer_cache_put(struct answer_cache *c, const struct answer_key *k, const struct answer *a,
                 const uint16_t *ttl_offsets, const uint32_t *ttls, size_t nttl, bool secure,
                 time_t now)
{
	uint8_t rcode = a->buf[3] & 0x0f;
	uint8_t key[DNAME_MAXLEN + 5];

	if (a->truncated || (rcode != 0 && rcode != 3) || nttl > MAX_TTLS || a->len <= a->question_end)
		return;
	if (nttl == 0)
		return; /* no TTL to bound its life (an empty answer without SOA) */
	uint32_t min_ttl = UINT32_MAX;
	for (size_t i = 0; i < nttl; i++)
		if (ttls[i] < min_ttl)
			min_ttl = ttls[i];
	if (min_ttl == 0)
		return;
	grow(c);
	size_t keylen = make_key(k, key);
	uint64_t h = hash_key(key, keylen);
	struct cached_answer *slot = find(c, key, keylen, h);
	if (!slot) {
		/* an empty slot in the window, else the one expiring first */
		for (size_t p = 0; p < PROBES; p++) {
			struct cached_answer *e = &c->slots[(h + p) & (c->size - 1)];
			if (!e->hash) {
				slot = e;
				break;
			}
			if (!slot || e->expires < slot->expires)
				slot = e;
		}
	}
	drop(c, slot);
	size_t bodylen = a->len - a->question_end;
	slot->key = malloc(keylen);
	slot->ttl = malloc(nttl * (sizeof(uint32_t) + sizeof(uint16_t)) + bodylen);
	if (!slot->key || !slot->ttl) {
		free(slot->key);
		free(slot->ttl);
		memset(slot, 0, sizeof(*slot));
		return;
	}
	slot->ttl_at = (uint16_t *)(slot->ttl + nttl);
	slot->body = (uint8_t *)(slot->ttl_at + nttl);
	memcpy(slot->key, key, keylen);
	slot->keylen = keylen;
	memcpy(slot->body, a->buf + a->question_end, bodylen);
	slot->bodylen = (uint16_t)bodylen;
	memcpy(slot->count, a->count, sizeof(slot->count));
	slot->rcode = rcode;
	slot->secure = secure;
	slot->nttl = (uint8_t)nttl;
	for (size_t i = 0; i < nttl; i++) {
		slot->ttl_at[i] = (uint16_t)(ttl_offsets[i] - a->question_end);
		slot->ttl[i] = ttls[i];
	}
	slot->epoch = k->epoch;
	slot->stored = now;
	slot->expires = now + (time_t)min_ttl;
	slot->hash = h;
	c->entries++;
}

void
answer_cache_stats(const struct answer_cache *c, size_t *entries, uint64_t *hits, uint64_t *misses)
{
	*entries = c->entries;
	*hits = c->hits;
	*misses = c->misses;
}
