/*
 * prefixmap.c -- longest-prefix match: host tables and a binary trie.
 *
 * Most identities are single hosts (a /32 or a /128): they live in two hash
 * tables (8 and 20 bytes an entry) instead of the trie, where each would
 * cost up to 32 or 128 nodes of 12 bytes; a host entry is the longest
 * possible match, so a lookup tries the host table first, then walks the
 * trie. Removing a shorter prefix clears its value and leaves its nodes: it
 * costs its path until the map is built afresh (a full policy build).
 */
#include "config.h"
#include "prefixmap.h"
#include "netaddr.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define NO_NODE 0u  /* node 0 is never a child: roots are 0 and 1 */
#define NO_VALUE UINT32_MAX

struct trie_node {
	uint32_t child[2];
	uint32_t value;
};

/* A host table: open addressing, at most 3/4 full; value NO_VALUE is an empty slot. */
struct host4 {
	uint32_t addr;       /* network order, as stored */
	uint32_t value;
};
struct host6 {
	uint8_t addr[16];
	uint32_t value;
};

struct prefixmap {
	atomic_size_t refs;
	struct trie_node *nodes; /* [0] IPv4 root, [1] IPv6 root */
	uint32_t n, cap;
	struct host4 *h4;
	struct host6 *h6;
	size_t h4_size, h4_used, h6_size, h6_used;
};

/* A hash of an address whose high bits depend on every bit (MurmurHash3's finalizer per word). */
static uint64_t
mix(const uint8_t *a, size_t len)
{
	uint64_t h = 0;

	for (size_t i = 0; i < len; i += 4) {
		uint32_t w;
		memcpy(&w, a + i, 4);
		h ^= w;
		h ^= h >> 33;
		h *= 0xff51afd7ed558ccdull;
		h ^= h >> 33;
		h *= 0xc4ceb9fe1a85ec53ull;
		h ^= h >> 33;
	}
	return h;
}

/* The home slot of an address in a table of size slots (any size): the hash's high bits scaled. */
static size_t
home(const uint8_t *a, size_t len, size_t size)
{
	return (size_t)(((mix(a, len) >> 32) * (uint64_t)size) >> 32);
}

static bool
host_full(const struct netaddr *a)
{
	return a->prefix == (a->family == AF_INET6 ? 128 : 32);
}

/* The slot of addr in the family's table, or of the empty slot where it would go. */
static size_t
host_slot(const struct prefixmap *m, const uint8_t *addr, bool v6)
{
	size_t size = v6 ? m->h6_size : m->h4_size, i = home(addr, v6 ? 16 : 4, size);

	for (;; i = i + 1 == size ? 0 : i + 1) {
		if (v6) {
			if (m->h6[i].value == NO_VALUE || memcmp(m->h6[i].addr, addr, 16) == 0)
				return i;
		} else {
			uint32_t x;
			memcpy(&x, addr, 4);
			if (m->h4[i].value == NO_VALUE || m->h4[i].addr == x)
				return i;
		}
	}
}

static uint32_t
host_get(const struct prefixmap *m, const uint8_t *addr, bool v6)
{
	if (!(v6 ? m->h6_size : m->h4_size))
		return NO_VALUE;
	size_t i = host_slot(m, addr, v6);
	return v6 ? m->h6[i].value : m->h4[i].value;
}

/* A table of size slots holding every entry of the old one. 0, or -1 on no memory. */
static int
host_resize(struct prefixmap *m, bool v6, size_t size)
{
	size_t old_size = v6 ? m->h6_size : m->h4_size;
	size_t elem = v6 ? sizeof(struct host6) : sizeof(struct host4);
	void *old = v6 ? (void *)m->h6 : (void *)m->h4, *t = malloc(size * elem);

	if (!t)
		return -1;
	for (size_t i = 0; i < size; i++) {
		if (v6)
			((struct host6 *)t)[i].value = NO_VALUE;
		else
			((struct host4 *)t)[i].value = NO_VALUE;
	}
	if (v6) {
		m->h6 = t;
		m->h6_size = size;
	} else {
		m->h4 = t;
		m->h4_size = size;
	}
	for (size_t i = 0; i < old_size; i++) {
		if (v6 && ((struct host6 *)old)[i].value != NO_VALUE)
			m->h6[host_slot(m, ((struct host6 *)old)[i].addr, true)] = ((struct host6 *)old)[i];
		if (!v6 && ((struct host4 *)old)[i].value != NO_VALUE) {
			struct host4 e = ((struct host4 *)old)[i];
			m->h4[host_slot(m, (const uint8_t *)&e.addr, false)] = e;
		}
	}
	free(old);
	return 0;
}

static int
host_insert(struct prefixmap *m, const uint8_t *addr, bool v6, uint32_t value)
{
	size_t *size = v6 ? &m->h6_size : &m->h4_size, *used = v6 ? &m->h6_used : &m->h4_used;

	if ((*used + 1) * 4 > *size * 3 && host_resize(m, v6, (*used + 1) * 3 / 2 + 8) != 0)
		return -1;
	size_t i = host_slot(m, addr, v6);
	if ((v6 ? m->h6[i].value : m->h4[i].value) != NO_VALUE)
		return 1;
	if (v6) {
		memcpy(m->h6[i].addr, addr, 16);
		m->h6[i].value = value;
	} else {
		memcpy(&m->h4[i].addr, addr, 4);
		m->h4[i].value = value;
	}
	(*used)++;
	return 0;
}

/* Take addr out (linear probing: the cluster after it moves back); its value, or NO_VALUE. */
static uint32_t
host_remove(struct prefixmap *m, const uint8_t *addr, bool v6)
{
	size_t size = v6 ? m->h6_size : m->h4_size;

	if (!size)
		return NO_VALUE;
	size_t i = host_slot(m, addr, v6);
	uint32_t old = v6 ? m->h6[i].value : m->h4[i].value;
	if (old == NO_VALUE)
		return NO_VALUE;
	if (v6)
		m->h6[i].value = NO_VALUE;
	else
		m->h4[i].value = NO_VALUE;
	for (size_t j = i + 1 == size ? 0 : i + 1;; j = j + 1 == size ? 0 : j + 1) {
		const uint8_t *a = v6 ? m->h6[j].addr : (const uint8_t *)&m->h4[j].addr;
		if ((v6 ? m->h6[j].value : m->h4[j].value) == NO_VALUE)
			break;
		size_t h = home(a, v6 ? 16 : 4, size);
		bool stays = i <= j ? (h > i && h <= j) : (h > i || h <= j);
		if (!stays) {
			if (v6) {
				m->h6[i] = m->h6[j];
				m->h6[j].value = NO_VALUE;
			} else {
				m->h4[i] = m->h4[j];
				m->h4[j].value = NO_VALUE;
			}
			i = j;
		}
	}
	(*(v6 ? &m->h6_used : &m->h4_used))--;
	return old;
}

struct prefixmap *
prefixmap_new(void)
{
	struct prefixmap *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	atomic_init(&m->refs, 1);
	m->cap = 64;
	m->nodes = calloc(m->cap, sizeof(*m->nodes));
	if (!m->nodes) {
		free(m);
		return NULL;
	}
	m->n = 2;
	m->nodes[0].value = m->nodes[1].value = NO_VALUE;
	return m;
}

void
prefixmap_free(struct prefixmap *m)
{
	if (!m || atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) != 1)
		return;
	free(m->nodes);
	free(m->h4);
	free(m->h6);
	free(m);
}

struct prefixmap *
prefixmap_ref(struct prefixmap *m)
{
	atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
	return m;
}

bool
prefixmap_shared(const struct prefixmap *m)
{
	return atomic_load_explicit(&((struct prefixmap *)(uintptr_t)m)->refs, memory_order_acquire) > 1;
}

struct prefixmap *
prefixmap_copy(const struct prefixmap *m)
{
	struct prefixmap *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	atomic_init(&c->refs, 1);
	c->cap = m->n + m->n / 8 + 16; /* room for a few more prefixes */
	c->nodes = malloc(c->cap * sizeof(*c->nodes));
	if (!c->nodes) {
		free(c);
		return NULL;
	}
	memcpy(c->nodes, m->nodes, m->n * sizeof(*c->nodes));
	c->n = m->n;
	if (m->h4_size && !(c->h4 = malloc(m->h4_size * sizeof(*c->h4))))
		goto fail;
	if (m->h6_size && !(c->h6 = malloc(m->h6_size * sizeof(*c->h6))))
		goto fail;
	if (m->h4_size)
		memcpy(c->h4, m->h4, m->h4_size * sizeof(*c->h4));
	if (m->h6_size)
		memcpy(c->h6, m->h6, m->h6_size * sizeof(*c->h6));
	c->h4_size = m->h4_size;
	c->h4_used = m->h4_used;
	c->h6_size = m->h6_size;
	c->h6_used = m->h6_used;
	return c;
fail:
	free(c->nodes);
	free(c->h4);
	free(c);
	return NULL;
}

static inline int
addr_bit(const struct netaddr *a, unsigned bit)
{
	return (a->addr[bit / 8] >> (7 - bit % 8)) & 1;
}

int
prefixmap_insert(struct prefixmap *m, const struct netaddr *prefix, uint32_t value)
{
	uint32_t node = prefix->family == AF_INET6 ? 1 : 0;

	if (host_full(prefix))
		return host_insert(m, prefix->addr, prefix->family == AF_INET6, value);

	for (unsigned bit = 0; bit < prefix->prefix; bit++) {
		int b = addr_bit(prefix, bit);
		if (m->nodes[node].child[b] == NO_NODE) {
			if (m->n == m->cap) {
				uint32_t ncap = m->cap * 2;
				struct trie_node *nn = realloc(m->nodes, ncap * sizeof(*nn));
				if (!nn)
					return -1;
				m->nodes = nn;
				m->cap = ncap;
			}
			m->nodes[m->n] = (struct trie_node){ { NO_NODE, NO_NODE }, NO_VALUE };
			m->nodes[node].child[b] = m->n++;
		}
		node = m->nodes[node].child[b];
	}
	if (m->nodes[node].value != NO_VALUE)
		return 1;
	m->nodes[node].value = value;
	return 0;
}

/* The node of exactly this prefix, or NO_NODE when its path is not there. */
static uint32_t
find_node(const struct prefixmap *m, const struct netaddr *prefix)
{
	uint32_t node = prefix->family == AF_INET6 ? 1 : 0;

	for (unsigned bit = 0; bit < prefix->prefix; bit++) {
		node = m->nodes[node].child[addr_bit(prefix, bit)];
		if (node == NO_NODE)
			return NO_NODE;
	}
	return node;
}

uint32_t
prefixmap_get(const struct prefixmap *m, const struct netaddr *prefix)
{
	if (host_full(prefix))
		return host_get(m, prefix->addr, prefix->family == AF_INET6);
	uint32_t node = find_node(m, prefix);

	/* node 0 is also the IPv4 root, a prefix of length 0 */
	if (node == NO_NODE && !(prefix->prefix == 0 && prefix->family != AF_INET6))
		return NO_VALUE;
	return m->nodes[node].value;
}

uint32_t
prefixmap_remove(struct prefixmap *m, const struct netaddr *prefix)
{
	if (host_full(prefix))
		return host_remove(m, prefix->addr, prefix->family == AF_INET6);
	uint32_t node = find_node(m, prefix), old;

	if (node == NO_NODE && !(prefix->prefix == 0 && prefix->family != AF_INET6))
		return NO_VALUE;
	old = m->nodes[node].value;
	m->nodes[node].value = NO_VALUE;
	return old;
}

uint32_t
prefixmap_lookup(const struct prefixmap *m, const struct netaddr *addr)
{
	unsigned bits = addr->family == AF_INET6 ? 128 : 32;
	uint32_t node = addr->family == AF_INET6 ? 1 : 0;
	uint32_t best = host_get(m, addr->addr, addr->family == AF_INET6);

	if (best != NO_VALUE)
		return best; /* a host entry: no prefix is longer */
	best = m->nodes[node].value;

	for (unsigned bit = 0; bit < bits; bit++) {
		node = m->nodes[node].child[addr_bit(addr, bit)];
		if (node == NO_NODE)
			break;
		if (m->nodes[node].value != NO_VALUE)
			best = m->nodes[node].value;
	}
	return best;
}

bool
prefixmap_has_value(const struct prefixmap *m, uint32_t value)
{
	for (uint32_t i = 0; i < m->n; i++)
		if (m->nodes[i].value == value)
			return true;
	for (size_t i = 0; i < m->h4_size; i++)
		if (m->h4[i].value == value)
			return true;
	for (size_t i = 0; i < m->h6_size; i++)
		if (m->h6[i].value == value)
			return true;
	return false;
}

void
prefixmap_shrink(struct prefixmap *m)
{
	/* host tables 3/4 full (a failed resize keeps the bigger one) */
	if (m->h4_size > m->h4_used * 4 / 3 + 16)
		host_resize(m, false, m->h4_used * 4 / 3 + 8);
	if (m->h6_size > m->h6_used * 4 / 3 + 16)
		host_resize(m, true, m->h6_used * 4 / 3 + 8);
	if (m->cap <= m->n + 16)
		return;
	struct trie_node *nn = realloc(m->nodes, m->n * sizeof(*nn));
	if (nn) {
		m->nodes = nn;
		m->cap = m->n;
	}
}

size_t
prefixmap_memory(const struct prefixmap *m)
{
	return sizeof(*m) + m->cap * sizeof(*m->nodes) + m->h4_size * sizeof(*m->h4) +
	       m->h6_size * sizeof(*m->h6);
}
