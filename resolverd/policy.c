/*
 * policy.c -- the policy snapshot: building, deriving, lookups, and the decision.
 *
 * Memory. Every array of a snapshot (domains, groups, rules, the rule index,
 * the domain hash, targets, the host index, the expiry list) is a "part": a
 * reference-counted block that snapshots share. A derived snapshot starts
 * with every part of its base and copies a part before it writes to it
 * (part_own), so an edit costs the parts it touches and the base is never
 * written. Big parts (256 KiB and more) are mapped memory of their own, so
 * that a freed snapshot gives its memory back to the system at once.
 *
 * Names, group lists and target addresses live in a pool: append-only
 * chunks shared by every snapshot derived from one full build, never moved
 * and never changed once written. A snapshot counts the pool bytes it uses
 * (pool_live); what the lineage no longer uses is garbage until the next full
 * build, which policy_wants_rebuild() asks for when it outweighs the rest.
 */
#include "config.h"
#include "policy.h"
#include "dname.h"
#include "prefixmap.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

_Static_assert(sizeof(struct policy_selector) == 12, "a selector is 12 bytes");
_Static_assert(sizeof(struct policy_rule) == 46, "a rule is 46 bytes");
_Static_assert(sizeof(struct policy_domain) == 40, "a domain is 40 bytes");

#define HASH_EMPTY UINT32_MAX

/* qsort and bsearch orders of plain numbers */
#define NUMBER_ORDER(name, type)                                        \
	static int name(const void *a, const void *b)                   \
	{                                                               \
		type x = *(const type *)a, y = *(const type *)b;        \
		return (x > y) - (x < y);                               \
	}
NUMBER_ORDER(cmp_u32, uint32_t)
NUMBER_ORDER(cmp_i64, int64_t)
NUMBER_ORDER(cmp_time, time_t)

/* ... and of records by two fields */
#define PAIR_ORDER(name, type, first, second)                                    \
	static int name(const void *a, const void *b)                            \
	{                                                                        \
		const type *x = a, *y = b;                                       \
		if (x->first != y->first)                                        \
			return x->first < y->first ? -1 : 1;                     \
		return (x->second > y->second) - (x->second < y->second);        \
	}

/* The first index of a sorted array whose value is v or more (n when none). */
static size_t
lower_time(const time_t *a, size_t n, time_t v)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (a[mid] < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* ------------------------------------------------------------ parts */

#define PART_HDR 32                     /* keeps the data 16-byte aligned */
#define PART_MMAP_MIN (256 * 1024)

struct part {
	atomic_size_t refs;
	size_t cap;      /* bytes of data */
	bool mapped;
};
_Static_assert(sizeof(struct part) <= PART_HDR, "part header");

static struct part *
part_of(const void *data)
{
	return (struct part *)((char *)(uintptr_t)data - PART_HDR);
}

static size_t
page_round(size_t n)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	return (n + pg - 1) / pg * pg;
}

/*
 * *size bytes from the system: from PART_MMAP_MIN on, mapped memory of its
 * own (given back at once when freed; *size rounded up to whole pages),
 * else malloc. NULL on no memory.
 */
static void *
sys_alloc(size_t *size, bool *mapped)
{
	void *m;

	*mapped = *size >= PART_MMAP_MIN;
	if (!*mapped)
		return malloc(*size);
	*size = page_round(*size);
	/*
	 * Small pages: transparent huge pages would make copying the rules four
	 * times faster on average, but now and then a huge page costs the
	 * kernel 100 ms and more to find, which is what an edit's latency must
	 * not depend on.
	 */
	m = mmap(NULL, *size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return m == MAP_FAILED ? NULL : m;
}

static void
sys_free(void *m, size_t size, bool mapped)
{
	if (mapped)
		munmap(m, size);
	else
		free(m);
}

/* A new part with room for cap bytes (not cleared), one reference; NULL on no memory. */
static void *
part_alloc(size_t cap)
{
	size_t total = PART_HDR + (cap ? cap : 1);
	bool mapped;
	struct part *h = sys_alloc(&total, &mapped);

	if (!h)
		return NULL;
	atomic_init(&h->refs, 1);
	h->cap = total - PART_HDR;
	h->mapped = mapped;
	return (char *)h + PART_HDR;
}

static void *
part_ref(void *data)
{
	if (data)
		atomic_fetch_add_explicit(&part_of(data)->refs, 1, memory_order_relaxed);
	return data;
}

static void
part_unref(void *data)
{
	if (!data)
		return;
	struct part *h = part_of(data);
	if (atomic_fetch_sub_explicit(&h->refs, 1, memory_order_acq_rel) != 1)
		return;
	sys_free(h, h->cap + PART_HDR, h->mapped);
}

static bool
part_shared(const void *data)
{
	return data && atomic_load_explicit(&part_of(data)->refs, memory_order_acquire) > 1;
}

static size_t
part_cap(const void *data)
{
	return data ? part_of(data)->cap : 0;
}

/*
 * Make *data writable with room for need bytes, keeping its first used
 * bytes: in place when this snapshot is its only user and it is big enough,
 * else grown or copied (a shared part is released, never written). 0, or -1
 * on no memory (*data unchanged).
 */
static int
part_own(void **data, size_t used, size_t need)
{
	void *d = *data;

	if (need < used)
		need = used;
	if (d && !part_shared(d) && part_cap(d) >= need)
		return 0;
	if (d && !part_shared(d) && part_of(d)->mapped) {
		struct part *h = part_of(d);
		size_t total = page_round(PART_HDR + need);
		void *m = mremap(h, h->cap + PART_HDR, total, MREMAP_MAYMOVE);
		if (m == MAP_FAILED)
			return -1;
		h = m;
		h->cap = total - PART_HDR;
		*data = (char *)h + PART_HDR;
		return 0;
	}
	void *n = part_alloc(need);
	if (!n)
		return -1;
	if (used)
		memcpy(n, d, used);
	part_unref(d);
	*data = n;
	return 0;
}

/* Room for one more element of an array part, growing it geometrically; updates *cap (elements). */
static int
part_grow(void **data, size_t *cap, size_t n, size_t elem)
{
	if (*data && n < *cap && !part_shared(*data))
		return 0;
	size_t want = n + 1;
	if (want < *cap)
		want = *cap;
	else if (want < 2 * n)
		want = 2 * n;
	if (want < 16)
		want = 16;
	if (part_own(data, n * elem, want * elem) != 0)
		return -1;
	*cap = part_cap(*data) / elem;
	return 0;
}

/* Give back what a builder's part does not use (pages of a mapped part). */
static void
part_shrink(void **data, size_t used)
{
	void *d = *data;

	if (!d || part_shared(d) || !part_of(d)->mapped)
		return;
	struct part *h = part_of(d);
	size_t total = page_round(PART_HDR + (used ? used : 1));
	if (total >= h->cap + PART_HDR)
		return;
	void *m = mremap(h, h->cap + PART_HDR, total, 0);
	if (m == MAP_FAILED)
		return;
	h->cap = total - PART_HDR;
}

/* ------------------------------------------------------------ the name pool */

#define CHUNK_HDR 32
#define CHUNK_MIN (64 * 1024)
#define CHUNK_MAX (4 * 1024 * 1024)

struct chunk {
	struct chunk *next;
	size_t size, used;   /* bytes of data */
	bool mapped;
};
_Static_assert(sizeof(struct chunk) <= CHUNK_HDR, "chunk header");

struct pool {
	atomic_size_t refs;
	struct chunk *head;  /* newest first; only the newest is allocated from */
	size_t total;        /* bytes handed out */
	size_t bytes;        /* bytes of all chunks */
	size_t next_size;
	/* interned target host names (wire): builder side, never read by lookups */
	const uint8_t **hosts;
	size_t hosts_size, hosts_used;
};

static struct pool *
pool_new(void)
{
	struct pool *pl = calloc(1, sizeof(*pl));

	if (pl) {
		atomic_init(&pl->refs, 1);
		pl->next_size = CHUNK_MIN;
	}
	return pl;
}

static void
pool_unref(struct pool *pl)
{
	if (!pl || atomic_fetch_sub_explicit(&pl->refs, 1, memory_order_acq_rel) != 1)
		return;
	for (struct chunk *c = pl->head, *next; c; c = next) {
		next = c->next;
		sys_free(c, c->size + CHUNK_HDR, c->mapped);
	}
	free(pl->hosts);
	free(pl);
}

static char *
chunk_data(struct chunk *c)
{
	return (char *)c + CHUNK_HDR;
}

/* size bytes aligned to align (a power of two up to 16) that nobody uses yet; NULL on no memory. */
static void *
pool_alloc(struct pool *pl, size_t size, size_t align)
{
	struct chunk *c = pl->head;

	if (c) {
		size_t at = (c->used + align - 1) & ~(align - 1);
		if (at + size <= c->size) {
			c->used = at + size;
			pl->total += size;
			return chunk_data(c) + at;
		}
	}
	size_t want = pl->next_size;
	while (want < size)
		want *= 2;
	size_t total = CHUNK_HDR + want;
	bool mapped;
	c = sys_alloc(&total, &mapped);
	if (!c)
		return NULL;
	c->size = total - CHUNK_HDR;
	c->used = size;
	c->mapped = mapped;
	c->next = pl->head;
	pl->head = c;
	pl->bytes += c->size;
	pl->total += size;
	if (pl->next_size < CHUNK_MAX)
		pl->next_size *= 2;
	return chunk_data(c);
}

/* Extend the last allocation (ending at end) by more bytes, if it is still the last one. */
static bool
pool_extend(struct pool *pl, const void *end, size_t more)
{
	struct chunk *c = pl->head;

	if (!c || (const char *)end != chunk_data(c) + c->used || c->used + more > c->size)
		return false;
	c->used += more;
	pl->total += more;
	return true;
}

/* ------------------------------------------------------------ snapshot state */

struct policy_state {
	atomic_size_t refs;
	struct pool *pool;
	size_t pool_live;        /* pool bytes this snapshot uses */
	bool derived;            /* a copy of a finished snapshot: rules are merged, not sorted */
	/* building: memberships not yet in the domains' lists */
	uint32_t (*members)[2];
	size_t nmembers, members_cap;
	/* rules added (not yet sorted or merged) and rule ids removed */
	struct policy_rule *added;
	size_t nadded, added_cap;
	int64_t *removed;
	size_t nremoved, removed_cap;
	bool rules_dirty, targets_dirty, keys_dirty;
};

struct policy *
policy_new(uint64_t serial)
{
	struct policy *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->serial = serial;
	p->state = calloc(1, sizeof(*p->state));
	if (p->state) {
		atomic_init(&p->state->refs, 1);
		p->state->pool = pool_new();
	}
	p->cidrs = prefixmap_new();
	if (!p->state || !p->state->pool || !p->cidrs) {
		if (p->state)
			pool_unref(p->state->pool);
		free(p->state);
		prefixmap_free(p->cidrs);
		free(p);
		return NULL;
	}
	return p;
}

struct policy *
policy_ref(const struct policy *cp)
{
	struct policy *p = (struct policy *)(uintptr_t)cp;

	atomic_fetch_add_explicit(&p->state->refs, 1, memory_order_relaxed);
	return p;
}

/* The building state a finished snapshot no longer needs. */
static void
drop_building(struct policy_state *s)
{
	part_unref(s->members);
	s->members = NULL;
	s->nmembers = s->members_cap = 0;
	part_unref(s->added);
	s->added = NULL;
	s->nadded = s->added_cap = 0;
	free(s->removed);
	s->removed = NULL;
	s->nremoved = s->removed_cap = 0;
}

void
policy_free(struct policy *p)
{
	if (!p || atomic_fetch_sub_explicit(&p->state->refs, 1, memory_order_acq_rel) != 1)
		return;
	drop_building(p->state);
	pool_unref(p->state->pool);
	free(p->state);
	part_unref(p->domains);
	part_unref(p->groups);
	part_unref(p->rules);
	part_unref(p->hash);
	part_unref(p->targets);
	part_unref(p->targets_by_host);
	part_unref(p->keys);
	part_unref(p->from_domain_off);
	part_unref(p->from_domain);
	part_unref(p->from_group_off);
	part_unref(p->from_group);
	part_unref(p->from_generic);
	part_unref(p->expiries);
	part_unref(p->expiry_rules);
	prefixmap_free(p->cidrs);
	free(p);
}

struct policy *
policy_derive(const struct policy *base, uint64_t serial)
{
	struct policy *p = malloc(sizeof(*p));
	struct policy_state *s = calloc(1, sizeof(*s));

	if (!p || !s) {
		free(p);
		free(s);
		return NULL;
	}
	*p = *base;
	p->serial = serial;
	atomic_init(&s->refs, 1);
	s->pool = base->state->pool;
	atomic_fetch_add_explicit(&s->pool->refs, 1, memory_order_relaxed);
	s->pool_live = base->state->pool_live;
	s->derived = true;
	p->state = s;
	part_ref(p->domains);
	part_ref(p->groups);
	part_ref(p->rules);
	part_ref(p->hash);
	part_ref(p->targets);
	part_ref(p->targets_by_host);
	part_ref(p->keys);
	part_ref(p->from_domain_off);
	part_ref(p->from_domain);
	part_ref(p->from_group_off);
	part_ref(p->from_group);
	part_ref(p->from_generic);
	part_ref(p->expiries);
	part_ref(p->expiry_rules);
	prefixmap_ref(p->cidrs);
	return p;
}

bool
policy_wants_rebuild(const struct policy *p)
{
	const struct pool *pl = p->state->pool;
	size_t live = p->state->pool_live;

	return pl->total > 2 * live + (1u << 20) || (p->ndeleted > 64 && p->ndeleted * 8 > p->ndomains);
}

size_t
policy_memory(const struct policy *p)
{
	const struct pool *pl = p->state->pool;

	return sizeof(*p) + sizeof(*p->state) + part_cap(p->domains) + part_cap(p->groups) +
	       part_cap(p->rules) + part_cap(p->hash) + part_cap(p->targets) +
	       part_cap(p->targets_by_host) + part_cap(p->keys) + part_cap(p->from_domain_off) +
	       part_cap(p->from_domain) +
	       part_cap(p->from_group_off) + part_cap(p->from_group) + part_cap(p->from_generic) +
	       part_cap(p->expiries) + part_cap(p->expiry_rules) + prefixmap_memory(p->cidrs) +
	       pl->total + pl->hosts_size * sizeof(*pl->hosts);
}

/* ------------------------------------------------------------ the domain hash */

/*
 * Open addressing with linear probing, at most 3/4 full, of any size: the
 * home slot is the high bits of a multiplication scaled to the size (the
 * name hash, FNV-1a, mixes its low bits poorly for names that differ in a
 * few characters: d000001.example, d000002.example ...). A slot holds the
 * domain's index in its low hash_bits bits and a tag of the name's hash
 * above them: a probe compares the tag before it reads a domain, so a name
 * outside the community (most of what a resolver is asked) touches no
 * domain at all. 4 bytes a slot.
 */
static size_t
home_slot(uint32_t h, size_t size)
{
	uint64_t m = (uint64_t)h * 0x9E3779B97F4A7C15ull;
	return (size_t)(((m >> 32) * (uint64_t)size) >> 32);
}

static uint32_t
hash_tag(uint32_t h, unsigned bits)
{
	return (uint32_t)(((uint64_t)h * 0xC2B2AE3D27D4EB4Full) >> 32) >> bits;
}

static size_t
next_slot(size_t i, size_t size)
{
	return i + 1 == size ? 0 : i + 1;
}

static uint32_t
find_wire(const struct policy *p, const uint8_t *wire, size_t len)
{
	if (len == 0 || !p->hash)
		return POLICY_NONE;
	uint32_t h = dname_hash(wire, len), bits = p->hash_bits, mask = (1u << bits) - 1;
	uint32_t tag = hash_tag(h, bits);
	for (size_t i = home_slot(h, p->hash_size);; i = next_slot(i, p->hash_size)) {
		uint32_t e = p->hash[i];
		if (e == HASH_EMPTY)
			return POLICY_NONE;
		if (e >> bits != tag)
			continue;
		uint32_t d = e & mask;
		if (p->domains[d].wire_len == len && dname_equal(p->domains[d].wire, wire))
			return d;
	}
}

static void
hash_put(struct policy *p, uint32_t d)
{
	const struct policy_domain *dom = &p->domains[d];
	uint32_t h = dname_hash(dom->wire, dom->wire_len);
	size_t i = home_slot(h, p->hash_size);

	while (p->hash[i] != HASH_EMPTY)
		i = next_slot(i, p->hash_size);
	p->hash[i] = hash_tag(h, p->hash_bits) << p->hash_bits | d;
}

/*
 * A new hash of every live domain with size slots (at least 4/3 of them),
 * and index bits for twice the domains (an index of all ones is never
 * stored: a slot of all ones is empty).
 */
static int
hash_rebuild(struct policy *p, size_t size)
{
	unsigned bits = 4;

	while (bits < 31 && ((size_t)1 << bits) - 1 <= p->ndomains * 2)
		bits++;
	if (size < p->ndomains * 4 / 3 + 16)
		size = p->ndomains * 4 / 3 + 16;
	uint32_t *h = part_alloc(size * sizeof(*h));
	if (!h)
		return -1;
	memset(h, 0xff, size * sizeof(*h));
	part_unref(p->hash);
	p->hash = h;
	p->hash_size = size;
	p->hash_bits = bits;
	for (size_t d = 0; d < p->ndomains; d++)
		if (p->domains[d].wire_len)
			hash_put(p, (uint32_t)d);
	return 0;
}

/* Add domain d (the last one) to the hash; grown with room to spare when it would be 3/4 full. */
static int
hash_insert(struct policy *p, uint32_t d)
{
	if (!p->hash || p->ndomains * 4 > p->hash_size * 3 || d >= (1u << p->hash_bits) - 1)
		return hash_rebuild(p, p->ndomains * 3 / 2 + 16);
	if (part_own((void **)&p->hash, p->hash_size * sizeof(*p->hash), p->hash_size * sizeof(*p->hash)))
		return -1;
	hash_put(p, d);
	return 0;
}

/* Take domain d out of the hash (linear probing: the cluster after it moves back). */
static int
hash_delete(struct policy *p, uint32_t d)
{
	if (!p->hash)
		return 0;
	if (part_own((void **)&p->hash, p->hash_size * sizeof(*p->hash), p->hash_size * sizeof(*p->hash)))
		return -1;
	uint32_t mask = (1u << p->hash_bits) - 1;
	size_t size = p->hash_size;
	size_t i = home_slot(dname_hash(p->domains[d].wire, p->domains[d].wire_len), size);
	while (p->hash[i] == HASH_EMPTY || (p->hash[i] & mask) != d) {
		if (p->hash[i] == HASH_EMPTY)
			return 0;
		i = next_slot(i, size);
	}
	p->hash[i] = HASH_EMPTY;
	for (size_t j = next_slot(i, size); p->hash[j] != HASH_EMPTY; j = next_slot(j, size)) {
		const struct policy_domain *dom = &p->domains[p->hash[j] & mask];
		size_t home = home_slot(dname_hash(dom->wire, dom->wire_len), size);
		/* move back unless its home lies cyclically in (i, j] */
		bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
		if (!stays) {
			p->hash[i] = p->hash[j];
			p->hash[j] = HASH_EMPTY;
			i = j;
		}
	}
	return 0;
}

/* The pool's host table: a power-of-two size, Fibonacci hashing. */
static size_t
slot_of(const uint8_t *wire, size_t len, size_t size)
{
	uint64_t h = (uint64_t)dname_hash(wire, len) * 0x9E3779B97F4A7C15ull;
	return size > 1 ? (size_t)(h >> (64 - __builtin_ctzll(size))) : 0;
}

/* ------------------------------------------------------------ building and editing */

static int
own_domains(struct policy *p)
{
	if (part_own((void **)&p->domains, p->ndomains * sizeof(*p->domains),
	             p->domains_cap * sizeof(*p->domains)) != 0)
		return -1;
	p->domains_cap = part_cap(p->domains) / sizeof(*p->domains);
	return 0;
}

uint32_t
policy_add_domain(struct policy *p, const char *name, uint32_t level, bool enabled)
{
	uint8_t wire[DNAME_MAXLEN];
	char text[DNAME_TEXT_MAX];
	size_t len = dname_from_text(name, wire);

	if (len <= 1 || p->ndomains > POLICY_INDEX_MAX ||
	    part_grow((void **)&p->domains, &p->domains_cap, p->ndomains, sizeof(*p->domains)))
		return POLICY_NONE;
	dname_to_text(wire, text, sizeof(text));
	size_t tlen = strlen(text) + 1;
	char *mem = pool_alloc(p->state->pool, tlen + len, 1);
	if (!mem)
		return POLICY_NONE;
	memcpy(mem, text, tlen);
	memcpy(mem + tlen, wire, len);
	p->state->pool_live += tlen + len;
	struct policy_domain *d = &p->domains[p->ndomains];
	memset(d, 0, sizeof(*d));
	d->name = mem;
	d->wire = (const uint8_t *)mem + tlen;
	d->wire_len = (uint32_t)len;
	d->level = level;
	d->enabled = enabled;
	uint32_t index = (uint32_t)p->ndomains++;
	if (hash_insert(p, index) != 0) {
		p->ndomains--;
		return POLICY_NONE;
	}
	return index;
}

int
policy_set_domain(struct policy *p, uint32_t domain, uint32_t level, bool enabled)
{
	if (domain >= p->ndomains || own_domains(p) != 0)
		return -1;
	p->domains[domain].level = level;
	p->domains[domain].enabled = enabled;
	return 0;
}

int
policy_set_domain_require(struct policy *p, uint32_t domain, enum policy_identity require)
{
	if (domain >= p->ndomains || require > POLICY_ID_TSIG || own_domains(p) != 0)
		return -1;
	p->domains[domain].require = require;
	return 0;
}

int
policy_add_key(struct policy *p, enum policy_key_kind kind, const uint8_t *name, uint32_t domain,
               int algorithm, const uint8_t *secret, size_t secret_len)
{
	size_t len = dname_length(name, DNAME_MAXLEN);

	if (domain >= p->ndomains || len <= 1 || secret_len > 255 ||
	    (kind == POLICY_KEY_TSIG) != (secret_len > 0) ||
	    part_grow((void **)&p->keys, &p->keys_cap, p->nkeys, sizeof(*p->keys)))
		return -1;
	uint8_t *mem = pool_alloc(p->state->pool, len + secret_len, 1);
	if (!mem)
		return -1;
	memcpy(mem, name, len);
	dname_lower(mem);
	if (secret_len)
		memcpy(mem + len, secret, secret_len);
	p->state->pool_live += len + secret_len;
	struct policy_key *k = &p->keys[p->nkeys++];
	k->name = mem;
	k->secret = secret_len ? mem + len : NULL;
	k->domain = domain;
	k->kind = (uint8_t)kind;
	k->algorithm = (uint8_t)algorithm;
	k->secret_len = (uint8_t)secret_len;
	p->state->keys_dirty = true;
	return 0;
}

int
policy_remove_domain(struct policy *p, uint32_t domain)
{
	if (domain >= p->ndomains || !p->domains[domain].wire_len)
		return -1;
	if (own_domains(p) != 0 || hash_delete(p, domain) != 0)
		return -1;
	struct policy_domain *d = &p->domains[domain];
	p->state->pool_live -= strlen(d->name) + 1 + d->wire_len + d->ngroups * sizeof(uint32_t);
	/* the slot stays, unreachable: no name, no groups, no targets, disabled */
	d->wire_len = 0;
	d->enabled = 0;
	d->level = 0;
	d->groups = NULL;
	d->ngroups = 0;
	p->ndeleted++;
	return 0;
}

uint32_t
policy_add_group(struct policy *p, const char *name)
{
	size_t len = strlen(name) + 1;

	if (p->ngroups > POLICY_INDEX_MAX ||
	    part_grow((void **)&p->groups, &p->groups_cap, p->ngroups, sizeof(*p->groups)))
		return POLICY_NONE;
	char *copy = pool_alloc(p->state->pool, len, 1);
	if (!copy)
		return POLICY_NONE;
	memcpy(copy, name, len);
	p->state->pool_live += len;
	p->groups[p->ngroups] = copy;
	return (uint32_t)p->ngroups++;
}

int
policy_remove_group(struct policy *p, uint32_t group)
{
	static char deleted[] = "";

	if (group >= p->ngroups ||
	    part_own((void **)&p->groups, p->ngroups * sizeof(*p->groups), p->groups_cap * sizeof(*p->groups)))
		return -1;
	p->state->pool_live -= strlen(p->groups[group]) + 1;
	p->groups[group] = deleted;
	return 0;
}

int
policy_add_membership(struct policy *p, uint32_t domain, uint32_t group)
{
	struct policy_state *s = p->state;

	if (domain >= p->ndomains || group >= p->ngroups)
		return -1;
	/* a part, not malloc: a full build's 250,000 pairs leave nothing in the heap */
	if (part_grow((void **)&s->members, &s->members_cap, s->nmembers, sizeof(*s->members)))
		return -1;
	s->members[s->nmembers][0] = domain;
	s->members[s->nmembers][1] = group;
	s->nmembers++;
	return 0;
}

/* A domain's group list from groups[0..n), sorted, in the pool (domains owned by the caller). */
static int
write_groups(struct policy *p, uint32_t domain, const uint32_t *groups, size_t n)
{
	struct policy_domain *d = &p->domains[domain];
	uint32_t *list = NULL;

	if (n >= (1u << 23))
		return -1;
	if (n) {
		list = pool_alloc(p->state->pool, n * sizeof(*list), sizeof(*list));
		if (!list)
			return -1;
		memcpy(list, groups, n * sizeof(*list));
		if (n > 1)
			qsort(list, n, sizeof(*list), cmp_u32);
	}
	p->state->pool_live += n * sizeof(*list);
	p->state->pool_live -= d->ngroups * sizeof(*list);
	d->groups = list;
	d->ngroups = (uint32_t)n;
	return 0;
}

int
policy_set_groups(struct policy *p, uint32_t domain, const uint32_t *groups, size_t n)
{
	if (domain >= p->ndomains || own_domains(p) != 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (groups[i] >= p->ngroups)
			return -1;
	return write_groups(p, domain, groups, n);
}

/* The memberships added since the last finish, into the domains' lists. */
static int
finish_memberships(struct policy *p)
{
	struct policy_state *s = p->state;

	if (s->nmembers == 0)
		return 0;
	if (own_domains(p) != 0)
		return -1;
	/* counting sort by domain */
	uint32_t *off = part_alloc((p->ndomains + 1) * sizeof(*off));
	uint32_t *by = part_alloc(s->nmembers * sizeof(*by));
	uint32_t *tmp = NULL;
	size_t tmp_cap = 0;
	int rc = -1;
	if (!off || !by)
		goto out;
	memset(off, 0, (p->ndomains + 1) * sizeof(*off));
	for (size_t i = 0; i < s->nmembers; i++)
		off[s->members[i][0] + 1]++;
	for (size_t d = 0; d < p->ndomains; d++)
		off[d + 1] += off[d];
	for (size_t i = 0; i < s->nmembers; i++)
		by[off[s->members[i][0]]++] = s->members[i][1];
	/* off[d] is now the end of d's run */
	for (size_t d = 0, start = 0; d < p->ndomains; start = off[d], d++) {
		size_t add = off[d] - start;
		if (add == 0)
			continue;
		size_t n = p->domains[d].ngroups + add;
		if (n > tmp_cap) {
			uint32_t *nt = realloc(tmp, n * sizeof(*tmp));
			if (!nt)
				goto out;
			tmp = nt;
			tmp_cap = n;
		}
		if (p->domains[d].ngroups)
			memcpy(tmp, p->domains[d].groups, p->domains[d].ngroups * sizeof(*tmp));
		memcpy(tmp + p->domains[d].ngroups, by + start, add * sizeof(*tmp));
		if (write_groups(p, (uint32_t)d, tmp, n) != 0)
			goto out;
	}
	s->nmembers = 0;
	rc = 0;
out:
	part_unref(off);
	part_unref(by);
	free(tmp);
	if (rc == 0) {
		part_unref(s->members);
		s->members = NULL;
		s->members_cap = 0;
	}
	return rc;
}

static int
own_cidrs(struct policy *p)
{
	if (!prefixmap_shared(p->cidrs))
		return 0;
	struct prefixmap *m = prefixmap_copy(p->cidrs);
	if (!m)
		return -1;
	prefixmap_free(p->cidrs);
	p->cidrs = m;
	return 0;
}

int
policy_add_cidr(struct policy *p, const struct netaddr *prefix, uint32_t domain)
{
	if (domain >= p->ndomains || own_cidrs(p) != 0)
		return -1;
	int rc = prefixmap_insert(p->cidrs, prefix, domain);
	if (rc == 1 && prefixmap_get(p->cidrs, prefix) == domain)
		return 0; /* the same prefix written twice for the same domain */
	return rc == 0 ? 0 : -1;
}

uint32_t
policy_remove_cidr(struct policy *p, const struct netaddr *prefix)
{
	if (prefixmap_get(p->cidrs, prefix) == POLICY_NONE || own_cidrs(p) != 0)
		return POLICY_NONE;
	return prefixmap_remove(p->cidrs, prefix);
}

uint32_t
policy_find_cidr(const struct policy *p, const struct netaddr *prefix)
{
	return prefixmap_get(p->cidrs, prefix);
}

int
policy_add_rule(struct policy *p, const struct policy_rule *rule)
{
	struct policy_state *s = p->state;

	if (part_grow((void **)&s->added, &s->added_cap, s->nadded, sizeof(*s->added)))
		return -1;
	s->added[s->nadded++] = *rule;
	s->rules_dirty = true;
	return 0;
}

int
policy_remove_rule(struct policy *p, int64_t id)
{
	struct policy_state *s = p->state;

	if (s->nremoved == s->removed_cap) {
		size_t ncap = s->removed_cap ? s->removed_cap * 2 : 16;
		int64_t *nr = realloc(s->removed, ncap * sizeof(*nr));
		if (!nr)
			return -1;
		s->removed = nr;
		s->removed_cap = ncap;
	}
	s->removed[s->nremoved++] = id;
	s->rules_dirty = true;
	return 0;
}

static int
own_targets(struct policy *p, size_t need)
{
	if (part_own((void **)&p->targets, p->ntargets * sizeof(*p->targets),
	             (need > p->targets_cap ? need : p->targets_cap) * sizeof(*p->targets)) != 0)
		return -1;
	p->targets_cap = part_cap(p->targets) / sizeof(*p->targets);
	return 0;
}

/* One copy per distinct host name: a domain's own wire name, or the pool's host table. */
static const uint8_t *
intern_host(struct policy *p, const uint8_t *wire, size_t len)
{
	struct pool *pl = p->state->pool;
	uint32_t d = find_wire(p, wire, len);

	if (d != POLICY_NONE)
		return p->domains[d].wire;
	if ((pl->hosts_used + 1) * 2 > pl->hosts_size) {
		size_t size = pl->hosts_size ? pl->hosts_size * 2 : 64;
		const uint8_t **h = calloc(size, sizeof(*h));
		if (!h)
			return NULL;
		for (size_t i = 0; i < pl->hosts_size; i++) {
			const uint8_t *w = pl->hosts[i];
			if (!w)
				continue;
			size_t k = slot_of(w, dname_length(w, DNAME_MAXLEN), size);
			while (h[k])
				k = (k + 1) & (size - 1);
			h[k] = w;
		}
		free(pl->hosts);
		pl->hosts = h;
		pl->hosts_size = size;
	}
	size_t mask = pl->hosts_size - 1, k = slot_of(wire, len, pl->hosts_size);
	for (; pl->hosts[k]; k = (k + 1) & mask)
		if (dname_equal(pl->hosts[k], wire))
			return pl->hosts[k];
	uint8_t *copy = pool_alloc(pl, len, 1);
	if (!copy)
		return NULL;
	memcpy(copy, wire, len);
	pl->hosts[k] = copy;
	pl->hosts_used++;
	p->state->pool_live += len;
	return copy;
}

uint32_t
policy_add_target(struct policy *p, uint32_t domain, int service, uint16_t priority,
                  uint16_t weight, uint16_t port, const char *host)
{
	uint8_t wire[DNAME_MAXLEN];
	size_t len = dname_from_text(host, wire);

	if (domain >= p->ndomains || len == 0 || p->ntargets >= UINT32_MAX - 1 ||
	    part_grow((void **)&p->targets, &p->targets_cap, p->ntargets, sizeof(*p->targets)))
		return POLICY_NONE;
	const uint8_t *interned = intern_host(p, wire, len);
	if (!interned)
		return POLICY_NONE;
	struct policy_target *t = &p->targets[p->ntargets];
	memset(t, 0, sizeof(*t));
	t->host = interned;
	t->domain = domain;
	t->service = (uint8_t)service;
	t->priority = priority;
	t->weight = weight;
	t->port = port;
	p->state->targets_dirty = true;
	return (uint32_t)p->ntargets++;
}

int
policy_add_target_address(struct policy *p, uint32_t target, const struct netaddr *addr)
{
	if (target >= p->ntargets || own_targets(p, p->ntargets) != 0)
		return -1;
	struct policy_target *t = &p->targets[target];
	struct pool *pl = p->state->pool;
	struct netaddr *na;
	if (t->naddrs && pool_extend(pl, t->addrs + t->naddrs, sizeof(*na))) {
		na = (struct netaddr *)(uintptr_t)t->addrs;
	} else {
		na = pool_alloc(pl, (t->naddrs + 1) * sizeof(*na), _Alignof(struct netaddr));
		if (!na)
			return -1;
		if (t->naddrs)
			memcpy(na, t->addrs, t->naddrs * sizeof(*na)); /* the old copy is garbage now */
	}
	na[t->naddrs] = *addr;
	t->addrs = na;
	t->naddrs++;
	p->state->pool_live += sizeof(*na);
	return 0;
}

int
policy_clear_targets(struct policy *p, uint32_t domain)
{
	size_t i = 0;

	if (domain >= p->ndomains)
		return -1;
	while (i < p->ntargets && p->targets[i].domain != domain)
		i++;
	if (i == p->ntargets)
		return 0;
	if (own_targets(p, p->ntargets) != 0)
		return -1;
	for (; i < p->ntargets; i++)
		if (p->targets[i].domain == domain) {
			p->targets[i].domain = POLICY_NONE; /* dropped by finish */
			p->state->pool_live -= p->targets[i].naddrs * sizeof(struct netaddr);
			p->state->targets_dirty = true;
		}
	return 0;
}

/* ------------------------------------------------------------ the rule array and its index */

/* decision order: priority, then id */
PAIR_ORDER(cmp_rule, struct policy_rule, priority, id)

static bool
sorted_rules(const struct policy_rule *r, size_t n)
{
	for (size_t i = 1; i < n; i++)
		if (cmp_rule(&r[i - 1], &r[i]) > 0)
			return false;
	return true;
}

static void
insertion_sort(struct policy_rule *r, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		struct policy_rule x = r[i];
		size_t j = i;
		while (j > 0 && cmp_rule(&r[j - 1], &x) > 0) {
			r[j] = r[j - 1];
			j--;
		}
		r[j] = x;
	}
}

/*
 * Rules in decision order: a bottom-up merge sort whose buffer is a part of
 * its own (mapped memory for a big array), so that sorting a million rules
 * leaves nothing behind in the malloc heap. 0, or -1 on no memory.
 */
static int
sort_rules(struct policy_rule *r, size_t n)
{
	if (n < 2 || sorted_rules(r, n))
		return 0;
	for (size_t s = 0; s < n; s += 32)
		insertion_sort(r + s, n - s < 32 ? n - s : 32);
	if (n <= 32)
		return 0;
	struct policy_rule *buf = part_alloc(n * sizeof(*r)), *src = r, *dst = buf;
	if (!buf)
		return -1;
	for (size_t w = 32; w < n; w *= 2) {
		for (size_t lo = 0; lo < n; lo += 2 * w) {
			size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
			size_t i = lo, j = mid, o = lo;
			while (i < mid && j < hi)
				dst[o++] = cmp_rule(&src[j], &src[i]) < 0 ? src[j++] : src[i++];
			memcpy(dst + o, src + i, (mid - i) * sizeof(*src));
			o += mid - i;
			memcpy(dst + o, src + j, (hi - j) * sizeof(*src));
		}
		struct policy_rule *t = src;
		src = dst;
		dst = t;
	}
	if (src != r)
		memcpy(r, src, n * sizeof(*r));
	part_unref(buf);
	return 0;
}

/* What a merge did to the rule array, for the index and the expiry list. */
struct rule_change {
	const struct policy_rule *old;  /* the array before */
	size_t nold;
	size_t *rem;                    /* old positions of the removed rules, ascending */
	size_t nrem;
	const struct policy_rule *added; /* the added rules, in decision order */
	size_t *ins;                    /* each one's place in the old array (before that rule) */
	size_t *at;                     /* each one's position in the new array */
	size_t nadd;
};

static void
change_free(struct rule_change *c)
{
	free(c->rem);
	free(c->ins);
	free(c->at);
}

/* Old positions of the rules whose id is among removed[0..n) (sorted), ascending. */
static int
find_removed(const struct policy *p, const int64_t *removed, size_t n, struct rule_change *c)
{
	size_t cap = n;

	c->rem = malloc((cap ? cap : 1) * sizeof(*c->rem));
	if (!c->rem)
		return -1;
	for (size_t i = 0; i < p->nrules && c->nrem < n; i++) {
		int64_t id = p->rules[i].id;
		bool hit = false;
		if (n <= 8) {
			for (size_t k = 0; k < n; k++)
				hit |= removed[k] == id;
		} else {
			hit = bsearch(&id, removed, n, sizeof(*removed), cmp_i64) != NULL;
		}
		if (hit)
			c->rem[c->nrem++] = i;
	}
	return 0;
}

/* The first position in r[0..n) whose rule comes after (or is) x in decision order. */
static size_t
lower_bound_rule(const struct policy_rule *r, size_t n, const struct policy_rule *x)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (cmp_rule(&r[mid], x) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * The new rule array: the kept rules and the added ones in decision order,
 * copied in runs between the places that change. Fills c (the caller frees
 * it with change_free; c->old stays valid until the caller releases it).
 */
static int
merge_rules(struct policy *p, struct rule_change *c, void **old_part)
{
	struct policy_state *s = p->state;

	memset(c, 0, sizeof(*c));
	if (sort_rules(s->added, s->nadded) != 0)
		return -1;
	if (s->nremoved > 1)
		qsort(s->removed, s->nremoved, sizeof(*s->removed), cmp_i64);
	if (find_removed(p, s->removed, s->nremoved, c) != 0)
		return -1;
	c->old = p->rules;
	c->nold = p->nrules;
	c->added = s->added;
	c->nadd = s->nadded;
	c->ins = malloc((c->nadd ? c->nadd : 1) * sizeof(*c->ins));
	c->at = malloc((c->nadd ? c->nadd : 1) * sizeof(*c->at));
	if (!c->ins || !c->at)
		return -1;
	for (size_t j = 0; j < c->nadd; j++)
		c->ins[j] = lower_bound_rule(c->old, c->nold, &c->added[j]);
	size_t n = c->nold - c->nrem + c->nadd;
	struct policy_rule *out = part_alloc((n ? n : 1) * sizeof(*out));
	if (!out)
		return -1;
	size_t i = 0, r = 0, j = 0, o = 0;
	while (i < c->nold || j < c->nadd) {
		size_t next = c->nold;
		if (r < c->nrem && c->rem[r] < next)
			next = c->rem[r];
		if (j < c->nadd && c->ins[j] < next)
			next = c->ins[j];
		if (next > i)
			memcpy(out + o, c->old + i, (next - i) * sizeof(*out));
		o += next - i;
		i = next;
		if (j < c->nadd && c->ins[j] == i) {
			c->at[j] = o;
			out[o++] = c->added[j++];
		} else if (r < c->nrem && c->rem[r] == i) {
			i++;
			r++;
		}
	}
	*old_part = p->rules; /* the caller releases it after the index is patched */
	p->rules = out;
	p->nrules = n;
	p->rules_cap = part_cap(out) / sizeof(*out);
	s->nremoved = 0;
	return 0;
}

/* Where an index entry moves: +1 from each place a rule was added, -1 after each removed one. */
struct shift_event {
	size_t pos;     /* applies to old positions from here on */
	long sum;       /* the shift from here on (all events up to this one) */
};

static int
cmp_event(const void *a, const void *b)
{
	const struct shift_event *x = a, *y = b;
	return (x->pos > y->pos) - (x->pos < y->pos);
}

/* Sorted events with running sums; *n is set. NULL on no memory. */
static struct shift_event *
shift_events(const struct rule_change *c, size_t *n)
{
	struct shift_event *e = malloc((c->nrem + c->nadd + 1) * sizeof(*e));

	if (!e)
		return NULL;
	*n = 0;
	for (size_t j = 0; j < c->nadd; j++)
		e[(*n)++] = (struct shift_event){ c->ins[j], 1 };
	for (size_t r = 0; r < c->nrem; r++)
		e[(*n)++] = (struct shift_event){ c->rem[r] + 1, -1 };
	qsort(e, *n, sizeof(*e), cmp_event);
	long sum = 0;
	for (size_t k = 0; k < *n; k++) {
		sum += e[k].sum;
		e[k].sum = sum;
	}
	return e;
}

/* The index entries of one kind of from side after a change, as the rebuild would make them. */
struct bucket_entry {
	uint32_t bucket;
	uint32_t pos;
};

PAIR_ORDER(cmp_bucket_entry, struct bucket_entry, bucket, pos)

/* Which bucket of a list rule r is in: kind 0 domains, 1 groups, 2 the generic list; or -1. */
static long
bucket_of(const struct policy_rule *r, int kind, size_t nb)
{
	if (kind == 2)
		return r->from.kind == SEL_ANY || r->from.kind == SEL_LEVEL ? 0 : -1;
	if (r->from.kind != (kind == 0 ? SEL_DOMAIN : SEL_GROUP) || r->from.index >= nb)
		return -1;
	return (long)r->from.index;
}

/*
 * One list of the index after the change: each kept entry moved to its new
 * position, the removed ones dropped, the added ones put in their place.
 * off: nb_old + 1 offsets (NULL for the single generic list of nold_list
 * entries); nb: the buckets after. -1 on no memory, or when the old list
 * does not hold what the change says it does (the caller rebuilds).
 */
static int
patch_list(const struct rule_change *c, const struct shift_event *ev, size_t nev, int kind,
           const uint32_t *off, const uint32_t *list, size_t nold_list, size_t nb_old, size_t nb,
           uint32_t **off_out, uint32_t **list_out, size_t *n_out)
{
	struct bucket_entry *gone = malloc((c->nrem + 1) * sizeof(*gone));
	struct bucket_entry *add = malloc((c->nadd + 1) * sizeof(*add));
	size_t ngone = 0, nadd = 0;
	uint32_t *noff = NULL, *nlist = NULL;
	int rc = -1;

	if (!gone || !add)
		goto out;
	for (size_t r = 0; r < c->nrem; r++) {
		long b = bucket_of(&c->old[c->rem[r]], kind, nb_old);
		if (b >= 0)
			gone[ngone++] = (struct bucket_entry){ (uint32_t)b, (uint32_t)c->rem[r] };
	}
	for (size_t j = 0; j < c->nadd; j++) {
		long b = bucket_of(&c->added[j], kind, nb);
		if (b >= 0)
			add[nadd++] = (struct bucket_entry){ (uint32_t)b, (uint32_t)c->at[j] };
	}
	qsort(gone, ngone, sizeof(*gone), cmp_bucket_entry);
	qsort(add, nadd, sizeof(*add), cmp_bucket_entry);
	size_t total = nold_list - ngone + nadd;
	if (off) {
		noff = part_alloc((nb + 1) * sizeof(*noff));
		if (!noff)
			goto out;
	}
	nlist = part_alloc((total ? total : 1) * sizeof(*nlist));
	if (!nlist)
		goto out;
	size_t o = 0, gi = 0, ai = 0, nbk = off ? nb : 1;
	for (size_t b = 0; b < nbk; b++) {
		if (noff)
			noff[b] = (uint32_t)o;
		if (!off || b < nb_old) {
			size_t from = off ? off[b] : 0, to = off ? off[b + 1] : nold_list;
			/* the shift of this bucket's first entry, then advanced along its entries */
			size_t k = 0;
			if (from < to && nev) {
				size_t lo = 0, hi = nev;
				while (lo < hi) {
					size_t mid = (lo + hi) / 2;
					if (ev[mid].pos <= list[from])
						lo = mid + 1;
					else
						hi = mid;
				}
				k = lo;
			}
			for (size_t x = from; x < to; x++) {
				uint32_t e = list[x];
				if (gi < ngone && gone[gi].bucket == b && gone[gi].pos == e) {
					gi++;
					continue;
				}
				while (k < nev && ev[k].pos <= e)
					k++;
				uint32_t ne = (uint32_t)((long)e + (k ? ev[k - 1].sum : 0));
				while (ai < nadd && add[ai].bucket == b && add[ai].pos < ne && o < total)
					nlist[o++] = add[ai++].pos;
				if (o == total)
					goto out; /* more entries than the change allows: rebuild instead */
				nlist[o++] = ne;
			}
		}
		while (ai < nadd && add[ai].bucket == b && o < total)
			nlist[o++] = add[ai++].pos;
	}
	if (o != total || gi != ngone || ai != nadd)
		goto out;
	if (noff)
		noff[nbk] = (uint32_t)o;
	if (off_out)
		*off_out = noff;
	*list_out = nlist;
	*n_out = o;
	noff = nlist = NULL;
	rc = 0;
out:
	part_unref(noff);
	part_unref(nlist);
	free(gone);
	free(add);
	return rc;
}

/* The expiry list with the removed rules' expiries taken out and the added ones' put in. */
static int
patch_expiries(struct policy *p, const struct rule_change *c)
{
	size_t n = p->nexpiries, cap = n + c->nadd;
	time_t *exp = part_alloc((cap ? cap : 1) * sizeof(*exp));
	uint32_t *cnt = part_alloc((cap ? cap : 1) * sizeof(*cnt));

	if (!exp || !cnt) {
		part_unref(exp);
		part_unref(cnt);
		return -1;
	}
	if (n) {
		memcpy(exp, p->expiries, n * sizeof(*exp));
		memcpy(cnt, p->expiry_rules, n * sizeof(*cnt));
	}
	for (int add = 0; add < 2; add++) {
		size_t m = add ? c->nadd : c->nrem;
		for (size_t k = 0; k < m; k++) {
			const struct policy_rule *r = add ? &c->added[k] : &c->old[c->rem[k]];
			time_t t = r->expires;
			if (!t)
				continue;
			size_t lo = lower_time(exp, n, t);
			if (add && (lo == n || exp[lo] != t)) {
				memmove(exp + lo + 1, exp + lo, (n - lo) * sizeof(*exp));
				memmove(cnt + lo + 1, cnt + lo, (n - lo) * sizeof(*cnt));
				exp[lo] = t;
				cnt[lo] = 0;
				n++;
			}
			if (add)
				cnt[lo]++;
			else if (lo < n && exp[lo] == t && --cnt[lo] == 0) {
				memmove(exp + lo, exp + lo + 1, (n - lo - 1) * sizeof(*exp));
				memmove(cnt + lo, cnt + lo + 1, (n - lo - 1) * sizeof(*cnt));
				n--;
			}
		}
	}
	part_unref(p->expiries);
	part_unref(p->expiry_rules);
	p->expiries = exp;
	p->expiry_rules = cnt;
	p->nexpiries = n;
	return 0;
}

/* Put a new rule index (for every domain and group there is now) in place of the old one. */
static void
set_rule_index(struct policy *p, uint32_t *doff, uint32_t *dl, uint32_t *goff, uint32_t *gl,
               uint32_t *gen, size_t ngen)
{
	part_unref(p->from_domain_off);
	part_unref(p->from_domain);
	part_unref(p->from_group_off);
	part_unref(p->from_group);
	part_unref(p->from_generic);
	p->from_domain_off = doff;
	p->from_domain = dl;
	p->from_group_off = goff;
	p->from_group = gl;
	p->from_generic = gen;
	p->nfrom_generic = ngen;
	p->from_ndomains = p->ndomains;
	p->from_ngroups = p->ngroups;
}

/* The index after a small change: the old one patched, not rebuilt from the whole array. */
static int
patch_rule_index(struct policy *p, const struct rule_change *c)
{
	size_t nev = 0, ndl = 0, ngl = 0, ngen = 0;
	struct shift_event *ev = shift_events(c, &nev);
	uint32_t *doff = NULL, *dl = NULL, *goff = NULL, *gl = NULL, *gen = NULL;

	if (!ev)
		return -1;
	if (patch_list(c, ev, nev, 0, p->from_domain_off, p->from_domain,
	               p->from_domain_off[p->from_ndomains], p->from_ndomains, p->ndomains, &doff, &dl,
	               &ndl) != 0 ||
	    patch_list(c, ev, nev, 1, p->from_group_off, p->from_group, p->from_group_off[p->from_ngroups],
	               p->from_ngroups, p->ngroups, &goff, &gl, &ngl) != 0 ||
	    patch_list(c, ev, nev, 2, NULL, p->from_generic, p->nfrom_generic, 1, 1, NULL, &gen, &ngen) != 0 ||
	    patch_expiries(p, c) != 0) {
		free(ev);
		part_unref(doff);
		part_unref(dl);
		part_unref(goff);
		part_unref(gl);
		part_unref(gen);
		return -1;
	}
	free(ev);
	for (size_t r = 0; r < c->nrem; r++)
		p->ndry_run -= c->old[c->rem[r]].dry_run;
	for (size_t j = 0; j < c->nadd; j++)
		p->ndry_run += c->added[j].dry_run;
	set_rule_index(p, doff, dl, goff, gl, gen, ngen);
	return 0;
}

/*
 * The rule index and the expiry list, from the rule array in two passes:
 * count rules per from-domain and from-group, then place each position.
 */
static int
build_rule_index(struct policy *p)
{
	size_t nd = p->ndomains, ng = p->ngroups, ngen = 0, nexp = 0, ndom = 0, ngrp = 0;
	uint32_t *doff = part_alloc((nd + 1) * sizeof(*doff));
	uint32_t *goff = part_alloc((ng + 1) * sizeof(*goff));
	uint32_t *dl = NULL, *gl = NULL, *gen = NULL, *cnt = NULL;
	time_t *exp = NULL;

	if (!doff || !goff)
		goto fail;
	memset(doff, 0, (nd + 1) * sizeof(*doff));
	memset(goff, 0, (ng + 1) * sizeof(*goff));
	p->ndry_run = 0;
	for (size_t i = 0; i < p->nrules; i++) {
		const struct policy_rule *r = &p->rules[i];
		if (r->from.kind == SEL_DOMAIN && r->from.index < nd) {
			doff[r->from.index + 1]++;
			ndom++;
		} else if (r->from.kind == SEL_GROUP && r->from.index < ng) {
			goff[r->from.index + 1]++;
			ngrp++;
		} else if (r->from.kind == SEL_ANY || r->from.kind == SEL_LEVEL) {
			ngen++;
		}
		nexp += r->expires != 0;
		p->ndry_run += r->dry_run;
	}
	for (size_t k = 0; k < nd; k++)
		doff[k + 1] += doff[k];
	for (size_t k = 0; k < ng; k++)
		goff[k + 1] += goff[k];
	dl = part_alloc((ndom ? ndom : 1) * sizeof(*dl));
	gl = part_alloc((ngrp ? ngrp : 1) * sizeof(*gl));
	gen = part_alloc((ngen ? ngen : 1) * sizeof(*gen));
	exp = part_alloc((nexp ? nexp : 1) * sizeof(*exp));
	if (!dl || !gl || !gen || !exp)
		goto fail;
	/* rules are in decision order, so each list comes out sorted; the
	 * offsets are used as fill pointers and shifted back afterwards */
	size_t ig = 0, ie = 0;
	for (size_t i = 0; i < p->nrules; i++) {
		const struct policy_rule *r = &p->rules[i];
		if (r->from.kind == SEL_DOMAIN && r->from.index < nd)
			dl[doff[r->from.index]++] = (uint32_t)i;
		else if (r->from.kind == SEL_GROUP && r->from.index < ng)
			gl[goff[r->from.index]++] = (uint32_t)i;
		else if (r->from.kind == SEL_ANY || r->from.kind == SEL_LEVEL)
			gen[ig++] = (uint32_t)i;
		if (r->expires)
			exp[ie++] = r->expires;
	}
	memmove(doff + 1, doff, nd * sizeof(*doff));
	doff[0] = 0;
	memmove(goff + 1, goff, ng * sizeof(*goff));
	goff[0] = 0;
	if (nexp > 1)
		qsort(exp, nexp, sizeof(*exp), cmp_time);
	size_t ndistinct = 0;
	for (size_t i = 0; i < nexp; i++)
		if (ndistinct == 0 || exp[ndistinct - 1] != exp[i])
			exp[ndistinct++] = exp[i];
	cnt = part_alloc((ndistinct ? ndistinct : 1) * sizeof(*cnt));
	if (!cnt)
		goto fail;
	/* how many rules expire at each time: counted again from the rules */
	memset(cnt, 0, (ndistinct ? ndistinct : 1) * sizeof(*cnt));
	for (size_t i = 0; i < p->nrules; i++)
		if (p->rules[i].expires)
			cnt[lower_time(exp, ndistinct, p->rules[i].expires)]++;
	set_rule_index(p, doff, dl, goff, gl, gen, ngen);
	part_unref(p->expiries);
	part_unref(p->expiry_rules);
	p->expiries = exp;
	p->expiry_rules = cnt;
	p->nexpiries = ndistinct;
	return 0;
fail:
	part_unref(cnt);
	part_unref(doff);
	part_unref(goff);
	part_unref(dl);
	part_unref(gl);
	part_unref(gen);
	part_unref(exp);
	return -1;
}

/*
 * The text order of two wire names (labels joined with dots, "." for the
 * root), as SQLite orders the host column: targets come out in the order
 * the database lists them, whichever way the snapshot was built.
 */
static int
text_char(const uint8_t *w, size_t *i, unsigned *rem, bool *start)
{
	if (*rem > 0) {
		(*rem)--;
		return w[(*i)++];
	}
	uint8_t len = w[*i];
	if (len == 0) {
		if (*start) {
			*start = false;
			return '.';
		}
		return 0;
	}
	(*i)++;
	*rem = len;
	if (*start) {
		*start = false;
		(*rem)--;
		return w[(*i)++];
	}
	return '.';
}

static int
cmp_host_text(const uint8_t *a, const uint8_t *b)
{
	size_t ia = 0, ib = 0;
	unsigned ra = 0, rb = 0;
	bool sa = true, sb = true;

	for (;;) {
		int ca = text_char(a, &ia, &ra, &sa), cb = text_char(b, &ib, &rb, &sb);
		if (ca != cb || ca == 0)
			return ca - cb;
	}
}

static int
cmp_target(const void *a, const void *b)
{
	const struct policy_target *x = a, *y = b;

	if (x->domain != y->domain)
		return x->domain < y->domain ? -1 : 1;
	if (x->service != y->service)
		return x->service < y->service ? -1 : 1;
	if (x->priority != y->priority)
		return x->priority < y->priority ? -1 : 1;
	if (x->weight != y->weight)
		return x->weight < y->weight ? -1 : 1;
	int c = cmp_host_text(x->host, y->host);
	if (c)
		return c;
	return (x->port > y->port) - (x->port < y->port);
}

/* Order of two wire names, for sorting and binary search (names are lower-case). */
static int
cmp_wire(const uint8_t *a, const uint8_t *b)
{
	size_t la = dname_length(a, DNAME_MAXLEN), lb = dname_length(b, DNAME_MAXLEN);
	int c = memcmp(a, b, la < lb ? la : lb);
	return c ? c : (la > lb) - (la < lb);
}

/* Order of two target indexes by host, then by what the target is; ctx is the snapshot. */
static int
cmp_target_host(const void *a, const void *b, void *ctx)
{
	const struct policy *p = ctx;
	const struct policy_target *x = &p->targets[*(const uint32_t *)a];
	const struct policy_target *y = &p->targets[*(const uint32_t *)b];
	int c = cmp_wire(x->host, y->host);

	if (c)
		return c;
	if (x->domain != y->domain)
		return strcmp(p->domains[x->domain].name, p->domains[y->domain].name);
	return cmp_target(x, y);
}

/* Targets: drop the cleared ones, sort, set each domain's range, index the hosts. */
/* Keys by kind, then name (wire, lower case, compared bytewise). */
static int
cmp_key(const void *a, const void *b)
{
	const struct policy_key *x = a, *y = b;

	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	return cmp_wire(x->name, y->name);
}

static int
finish_targets(struct policy *p)
{
	if (own_targets(p, p->ntargets) != 0 || own_domains(p) != 0)
		return -1;
	size_t n = 0;
	for (size_t i = 0; i < p->ntargets; i++)
		if (p->targets[i].domain != POLICY_NONE)
			p->targets[n++] = p->targets[i];
	p->ntargets = n;
	if (n > 1)
		qsort(p->targets, n, sizeof(*p->targets), cmp_target);
	for (size_t d = 0; d < p->ndomains; d++)
		p->domains[d].first_target = p->domains[d].ntargets = 0;
	for (size_t i = n; i-- > 0;) {
		struct policy_domain *d = &p->domains[p->targets[i].domain];
		d->first_target = (uint32_t)i;
		d->ntargets++;
	}
	uint32_t *byhost = part_alloc((n ? n : 1) * sizeof(*byhost));
	if (!byhost)
		return -1;
	for (size_t i = 0; i < n; i++)
		byhost[i] = (uint32_t)i;
	if (n > 1)
		qsort_r(byhost, n, sizeof(*byhost), cmp_target_host, p);
	part_unref(p->targets_by_host);
	p->targets_by_host = byhost;
	return 0;
}

/* Up to this many rules removed and added, the index is patched rather than built again. */
#define PATCH_MAX 4096

/* The rule array, its index and the expiry list after rules were added or removed. */
static int
finish_rules(struct policy *p)
{
	struct policy_state *s = p->state;
	int rc;

	if (p->nrules == 0 && s->nremoved == 0) {
		/* a full build: the added rules become the array */
		if (sort_rules(s->added, s->nadded) != 0)
			return -1;
		part_unref(p->rules);
		part_shrink((void **)&s->added, s->nadded * sizeof(*s->added));
		p->rules = s->added;
		p->nrules = s->nadded;
		p->rules_cap = part_cap(p->rules) / sizeof(*p->rules);
		s->added = NULL;
		s->nadded = s->added_cap = 0;
		return build_rule_index(p);
	}
	struct rule_change c;
	void *old = NULL;
	rc = merge_rules(p, &c, &old);
	if (rc == 0 && (!p->from_domain_off || c.nrem + c.nadd > PATCH_MAX || patch_rule_index(p, &c) != 0))
		rc = build_rule_index(p);
	change_free(&c);
	part_unref(old);
	part_unref(s->added);
	s->added = NULL;
	s->nadded = s->added_cap = 0;
	return rc;
}

int
policy_finish(struct policy *p)
{
	struct policy_state *s = p->state;

	if (!p->hash && hash_rebuild(p, 0) != 0)
		return -1;
	if (finish_memberships(p) != 0)
		return -1;
	if (s->rules_dirty || !p->from_domain_off) {
		if (finish_rules(p) != 0)
			return -1;
		s->rules_dirty = false;
	}
	if (s->keys_dirty) {
		qsort(p->keys, p->nkeys, sizeof(*p->keys), cmp_key);
		s->keys_dirty = false;
	}
	if (s->targets_dirty || !p->targets_by_host) {
		if (finish_targets(p) != 0)
			return -1;
		s->targets_dirty = false;
	}
	if (!s->derived) {
		/* a full build ends with its tables 3/4 full */
		if (p->hash_size > p->ndomains * 4 / 3 + 64 && hash_rebuild(p, 0) != 0)
			return -1;
		part_shrink((void **)&p->domains, p->ndomains * sizeof(*p->domains));
		p->domains_cap = part_cap(p->domains) / sizeof(*p->domains);
		part_shrink((void **)&p->targets, p->ntargets * sizeof(*p->targets));
		p->targets_cap = part_cap(p->targets) / sizeof(*p->targets);
		prefixmap_shrink(p->cidrs);
	}
	return 0;
}

/* ------------------------------------------------------------ lookups */

size_t
policy_find_target_host(const struct policy *p, const uint8_t *wire, size_t *first)
{
	uint8_t lower[DNAME_MAXLEN];
	size_t len = dname_length(wire, DNAME_MAXLEN), lo = 0, hi = p->ntargets;

	if (len == 0 || !p->targets_by_host)
		return 0;
	memcpy(lower, wire, len);
	dname_lower(lower);
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (cmp_wire(p->targets[p->targets_by_host[mid]].host, lower) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	size_t n = 0;
	while (lo + n < p->ntargets && cmp_wire(p->targets[p->targets_by_host[lo + n]].host, lower) == 0)
		n++;
	*first = lo;
	return n;
}

uint32_t
policy_certificate_domain(const struct policy *p, const uint8_t *wire, bool *bound)
{
	uint32_t d = policy_find_domain_wire(p, wire);
	const struct policy_key *k = d == POLICY_NONE ? policy_find_key(p, POLICY_KEY_CERT, wire) : NULL;

	if (bound)
		*bound = k != NULL;
	return k ? k->domain : d;
}

size_t
policy_count_keys(const struct policy *p, enum policy_key_kind kind)
{
	size_t n = 0;

	for (size_t i = 0; i < p->nkeys; i++)
		n += p->keys[i].kind == kind;
	return n;
}

const struct policy_key *
policy_find_key(const struct policy *p, enum policy_key_kind kind, const uint8_t *wire)
{
	struct policy_key x = { .kind = (uint8_t)kind };
	uint8_t lower[DNAME_MAXLEN];
	size_t len = dname_length(wire, DNAME_MAXLEN);

	if (len == 0 || p->nkeys == 0)
		return NULL;
	memcpy(lower, wire, len);
	dname_lower(lower);
	x.name = lower;
	return bsearch(&x, p->keys, p->nkeys, sizeof(*p->keys), cmp_key);
}

uint32_t
policy_find_domain(const struct policy *p, const char *name)
{
	uint8_t wire[DNAME_MAXLEN];
	size_t len = dname_from_text(name, wire);

	return len > 1 ? find_wire(p, wire, len) : POLICY_NONE;
}

uint32_t
policy_find_domain_wire(const struct policy *p, const uint8_t *wire)
{
	return find_wire(p, wire, dname_length(wire, DNAME_MAXLEN));
}

uint32_t
policy_find_group(const struct policy *p, const char *name)
{
	if (!*name)
		return POLICY_NONE;
	for (size_t i = 0; i < p->ngroups; i++)
		if (strcmp(p->groups[i], name) == 0)
			return (uint32_t)i;
	return POLICY_NONE;
}

uint32_t
policy_find_domain_suffix(const struct policy *p, const uint8_t *wire, size_t len,
                          unsigned *labels_above)
{
	unsigned skipped = 0;

	/* try the whole name, then each parent, so the longest suffix wins */
	while (*wire) {
		uint32_t d = find_wire(p, wire, len);
		if (d != POLICY_NONE) {
			*labels_above = skipped;
			return d;
		}
		len -= 1u + *wire;
		wire += 1u + *wire;
		skipped++;
	}
	return POLICY_NONE;
}

uint32_t
policy_identify(const struct policy *p, const struct netaddr *source)
{
	return prefixmap_lookup(p->cidrs, source);
}

time_t
policy_next_expiry(const struct policy *p, time_t now)
{
	size_t at = lower_time(p->expiries, p->nexpiries, now + 1);

	return at < p->nexpiries ? p->expiries[at] : 0;
}

/* ------------------------------------------------------------ the decision */

static bool
in_group(const struct policy_domain *d, uint32_t g)
{
	size_t lo = 0, hi = d->ngroups;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (d->groups[mid] == g)
			return true;
		if (d->groups[mid] < g)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

bool
policy_selector_matches(const struct policy *p, const struct policy_selector *sel, uint32_t d)
{
	const struct policy_domain *dom = &p->domains[d];

	switch (sel->kind) {
	case SEL_ANY:
		return true;
	case SEL_DOMAIN:
		return sel->index == d;
	case SEL_GROUP:
		return in_group(dom, sel->index);
	case SEL_LEVEL:
		return dom->level >= sel->min && dom->level <= sel->max;
	}
	return false;
}

/* A cursor over one sorted list of rule positions. */
struct rule_cursor {
	const uint32_t *at, *end;
};

static bool
rule_applies(const struct policy *p, const struct policy_rule *r, uint32_t from, uint32_t to,
             time_t now, bool dry)
{
	return (dry || !r->dry_run) && (r->expires == 0 || r->expires > now) &&
	       policy_selector_matches(p, &r->from, from) && policy_selector_matches(p, &r->to, to);
}

/* The first unexpired rule matching from -> to; dry-run rules only with dry. */
static const struct policy_rule *
first_match(const struct policy *p, uint32_t from, uint32_t to, time_t now, bool dry)
{
	struct rule_cursor cur[66];
	size_t ncur = 0;

	if (from >= p->ndomains || to >= p->ndomains)
		return NULL;
	const struct policy_domain *fd = &p->domains[from];
	if (!fd->enabled || !p->domains[to].enabled)
		return NULL;
	if (!p->from_domain_off || (size_t)fd->ngroups + 2 > sizeof(cur) / sizeof(cur[0])) {
		/* no index (or a domain in very many groups): walk every rule */
		for (size_t i = 0; i < p->nrules; i++)
			if (rule_applies(p, &p->rules[i], from, to, now, dry))
				return &p->rules[i];
		return NULL;
	}
	if (from < p->from_ndomains)
		cur[ncur++] = (struct rule_cursor){ p->from_domain + p->from_domain_off[from],
		                                    p->from_domain + p->from_domain_off[from + 1] };
	cur[ncur++] = (struct rule_cursor){ p->from_generic, p->from_generic + p->nfrom_generic };
	for (size_t g = 0; g < fd->ngroups; g++) {
		uint32_t gi = fd->groups[g];
		if (gi < p->from_ngroups)
			cur[ncur++] = (struct rule_cursor){ p->from_group + p->from_group_off[gi],
			                                    p->from_group + p->from_group_off[gi + 1] };
	}
	/* merge the sorted lists: the rules in decision order, only those that can match */
	for (;;) {
		size_t best = ncur;
		for (size_t k = 0; k < ncur; k++)
			if (cur[k].at < cur[k].end && (best == ncur || *cur[k].at < *cur[best].at))
				best = k;
		if (best == ncur)
			return NULL;
		const struct policy_rule *r = &p->rules[*cur[best].at++];
		if (rule_applies(p, r, from, to, now, dry))
			return r;
	}
}

const struct policy_rule *
policy_first_match(const struct policy *p, uint32_t from, uint32_t to, time_t now)
{
	return first_match(p, from, to, now, false);
}

const struct policy_rule *
policy_first_match_dry_run(const struct policy *p, uint32_t from, uint32_t to, time_t now)
{
	return first_match(p, from, to, now, true);
}

/* decision(requester, peer) with or without the dry-run rules; *fwd_out: the R->P rule (or NULL). */
static void
decide(const struct policy *p, uint32_t requester, uint32_t peer, time_t now, bool require_mutual,
       bool dry, struct policy_verdict *out, const struct policy_rule **fwd_out)
{
	memset(out, 0, sizeof(*out));
	*fwd_out = NULL;
	if (requester == POLICY_NONE || requester >= p->ndomains) {
		out->reason = "requester not identified";
		return;
	}
	if (peer >= p->ndomains) {
		out->reason = "peer outside the community";
		return;
	}
	if (requester == peer) {
		/* its own names: a server's self-check and its components */
		out->allow = true;
		out->reason = "own domain";
		return;
	}
	if (!p->domains[requester].enabled || !p->domains[peer].enabled) {
		out->reason = "domain disabled";
		return;
	}
	const struct policy_rule *fwd = first_match(p, requester, peer, now, dry);
	if (!fwd) {
		out->reason = "default deny";
		return;
	}
	out->rule_id = fwd->id;
	*fwd_out = fwd;
	if (!fwd->allow) {
		out->reason = "rule";
		return;
	}
	if (require_mutual && requester != peer) {
		const struct policy_rule *rev = first_match(p, peer, requester, now, dry);
		out->reverse_rule_id = rev ? rev->id : 0;
		if (!rev || !rev->allow) {
			out->reason = "no mutual consent";
			return;
		}
	}
	out->allow = true;
	out->reason = "rule";
}

void
policy_decide(const struct policy *p, uint32_t requester, uint32_t peer, time_t now,
              bool require_mutual, struct policy_verdict *out)
{
	struct policy_verdict would;
	const struct policy_rule *fwd, *wfwd;

	decide(p, requester, peer, now, require_mutual, false, out, &fwd);
	(void)fwd;
	if (p->ndry_run == 0)
		return;
	decide(p, requester, peer, now, require_mutual, true, &would, &wfwd);
	if (would.allow == out->allow)
		return;
	out->would_differ = true;
	out->would_allow = would.allow;
	/* the dry-run rule behind the other outcome: the forward rule, else the reverse one */
	out->would_rule_id = wfwd && wfwd->dry_run ? would.rule_id : would.reverse_rule_id;
}

char *
policy_selector_format(const struct policy *p, const struct policy_selector *sel, char *buf,
                       size_t len)
{
	switch (sel->kind) {
	case SEL_ANY:
		snprintf(buf, len, "any");
		break;
	case SEL_DOMAIN:
		snprintf(buf, len, "domain:%s",
		         sel->index < p->ndomains && p->domains[sel->index].wire_len
		                 ? p->domains[sel->index].name : "?");
		break;
	case SEL_GROUP:
		snprintf(buf, len, "group:%s",
		         sel->index < p->ngroups && p->groups[sel->index][0] ? p->groups[sel->index] : "?");
		break;
	case SEL_LEVEL:
		if (sel->min == sel->max)
			snprintf(buf, len, "level:%u", sel->min);
		else if (sel->max == UINT32_MAX)
			snprintf(buf, len, "level:>=%u", sel->min);
		else if (sel->min == 0)
			snprintf(buf, len, "level:<=%u", sel->max);
		else
			snprintf(buf, len, "level:%u-%u", sel->min, sel->max);
		break;
	}
	return buf;
}
