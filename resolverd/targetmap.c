/*
 * targetmap.c -- open-addressing multimap host -> peers with expiry.
 */
#include "config.h"
#include "targetmap.h"
#include "dname.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct target_entry {
	uint8_t *pair;     /* host wire then peer wire, one allocation; NULL = empty */
	size_t host_len;
	uint32_t hash;
	time_t expires;
};

/* when each peer's targets were last looked up, direct-mapped by name hash */
#define PROBE_SLOTS 65536
#define PROBE_RETRY 60

struct probe_slot {
	uint32_t hash;
	time_t until;   /* no new lookup of this peer before then */
};

struct targetmap {
	/* readers: lookups; writers: add, probe_due, peer_learned (rare: once
	 * per new upstream SRV answer or per denied lookup of a peer a minute) */
	pthread_rwlock_t lock;
	atomic_uint_fast64_t epoch;
	struct target_entry *slots;
	size_t size, used, max_entries;
	struct probe_slot probes[PROBE_SLOTS];
};

struct targetmap *
targetmap_new(size_t max_entries)
{
	struct targetmap *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->size = 1024;             /* grows with the community, see grow() */
	m->max_entries = max_entries;
	m->slots = calloc(m->size, sizeof(*m->slots));
	if (!m->slots || pthread_rwlock_init(&m->lock, NULL) != 0) {
		free(m->slots);
		free(m);
		return NULL;
	}
	atomic_init(&m->epoch, 0);
	return m;
}

static void
clear(struct targetmap *m)
{
	for (size_t i = 0; i < m->size; i++) {
		free(m->slots[i].pair);
		m->slots[i].pair = NULL;
	}
	m->used = 0;
}

void
targetmap_free(struct targetmap *m)
{
	if (!m)
		return;
	clear(m);
	free(m->slots);
	pthread_rwlock_destroy(&m->lock);
	free(m);
}

/* Move every live entry into a table of new_size slots (expired ones are freed). */
static int
rehash(struct targetmap *m, size_t new_size, time_t now)
{
	struct target_entry *slots = calloc(new_size, sizeof(*slots));

	if (!slots)
		return -1;
	size_t used = 0;
	for (size_t i = 0; i < m->size; i++) {
		struct target_entry *e = &m->slots[i];
		if (!e->pair)
			continue;
		if (e->expires <= now) {
			free(e->pair);
			continue;
		}
		size_t k = e->hash & (new_size - 1);
		while (slots[k].pair)
			k = (k + 1) & (new_size - 1);
		slots[k] = *e;
		used++;
	}
	free(m->slots);
	m->slots = slots;
	m->size = new_size;
	m->used = used;
	return 0;
}

/*
 * Make room for one more entry: grow while under max_entries (the table is
 * kept at most half full), else drop the expired ones, else start over. A
 * cleared map polices fewer hosts until they are learned again, so
 * max_entries is sized well above a community's target hosts.
 */
static void
make_room(struct targetmap *m, time_t now)
{
	if (m->used + 1 <= m->size / 2)
		return;
	if (m->size < m->max_entries * 2 && rehash(m, m->size * 2, now) == 0)
		return;
	if (rehash(m, m->size, now) == 0 && m->used + 1 <= m->size / 2)
		return;
	clear(m);
}

bool
targetmap_add(struct targetmap *m, const uint8_t *host, const uint8_t *peer, time_t expires)
{
	size_t hl = dname_length(host, DNAME_MAXLEN), pl = dname_length(peer, DNAME_MAXLEN);
	uint32_t h = dname_hash(host, hl);
	size_t mask, i;

	if (hl == 0 || pl == 0)
		return false;
	/* made outside the lock: most adds are new pairs (an SRV answer's targets) */
	uint8_t *pair = malloc(hl + pl);
	if (!pair)
		return false;
	memcpy(pair, host, hl);
	memcpy(pair + hl, peer, pl);
	dname_lower(pair);
	dname_lower(pair + hl);
	pthread_rwlock_wrlock(&m->lock);
	make_room(m, time(NULL));
	mask = m->size - 1;
	for (i = h & mask; m->slots[i].pair; i = (i + 1) & mask) {
		struct target_entry *e = &m->slots[i];
		if (e->hash == h && e->host_len == hl && dname_equal(e->pair, host) &&
		    dname_equal(e->pair + hl, peer)) {
			if (expires > e->expires)
				e->expires = expires;
			pthread_rwlock_unlock(&m->lock);
			free(pair);
			return false;
		}
	}
	m->slots[i] = (struct target_entry){ pair, hl, h, expires };
	m->used++;
	pthread_rwlock_unlock(&m->lock);
	return true;
}

size_t
targetmap_lookup(struct targetmap *m, const uint8_t *host, time_t now,
                 uint8_t (*peers)[DNAME_MAXLEN], size_t max)
{
	size_t hl = dname_length(host, DNAME_MAXLEN), n = 0;
	uint32_t h = dname_hash(host, hl);

	if (hl == 0)
		return 0;
	pthread_rwlock_rdlock(&m->lock);
	size_t mask = m->size - 1;
	for (size_t i = h & mask; m->slots[i].pair; i = (i + 1) & mask) {
		const struct target_entry *e = &m->slots[i];
		if (e->hash == h && e->host_len == hl && e->expires > now && dname_equal(e->pair, host) &&
		    n < max) {
			const uint8_t *peer = e->pair + hl;
			memcpy(peers[n++], peer, dname_length(peer, DNAME_MAXLEN));
		}
	}
	pthread_rwlock_unlock(&m->lock);
	return n;
}

uint64_t
targetmap_epoch(const struct targetmap *m)
{
	return (uint64_t)atomic_load_explicit(&m->epoch, memory_order_acquire);
}

void
targetmap_new_epoch(struct targetmap *m)
{
	atomic_fetch_add_explicit(&m->epoch, 1, memory_order_acq_rel);
}

bool
targetmap_probe_due(struct targetmap *m, const uint8_t *peer, time_t now)
{
	uint32_t h = dname_hash(peer, dname_length(peer, DNAME_MAXLEN));
	struct probe_slot *p = &m->probes[h % PROBE_SLOTS];
	bool due = true;

	/*
	 * Every denied SRV lookup asks; nearly always the peer was probed less
	 * than a minute ago. That answer takes the read lock only, so that the
	 * workers do not take turns on the write lock once per denied query.
	 */
	pthread_rwlock_rdlock(&m->lock);
	bool fresh = p->hash == h && now < p->until;
	pthread_rwlock_unlock(&m->lock);
	if (fresh)
		return false;
	/* one worker starts the lookup: the others see it marked */
	pthread_rwlock_wrlock(&m->lock);
	if (p->hash == h && now < p->until) {
		due = false;
	} else {
		p->hash = h;
		p->until = now + PROBE_RETRY;
	}
	pthread_rwlock_unlock(&m->lock);
	return due;
}

void
targetmap_peer_learned(struct targetmap *m, const uint8_t *peer, time_t until)
{
	uint32_t h = dname_hash(peer, dname_length(peer, DNAME_MAXLEN));
	struct probe_slot *p = &m->probes[h % PROBE_SLOTS];

	pthread_rwlock_wrlock(&m->lock);
	p->hash = h;
	p->until = until;
	pthread_rwlock_unlock(&m->lock);
}
