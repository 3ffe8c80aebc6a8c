/*
 * prefixmap.c -- binary trie for longest-prefix match.
 */
#include "config.h"
#include "prefixmap.h"
#include "netaddr.h"

#include <stdlib.h>
#include <sys/socket.h>

#define NO_NODE 0u  /* node 0 is never a child: roots are 0 and 1 */
#define NO_VALUE UINT32_MAX

struct trie_node {
	uint32_t child[2];
	uint32_t value;
};

struct prefixmap {
	struct trie_node *nodes; /* [0] IPv4 root, [1] IPv6 root */
	uint32_t n, cap;
};

struct prefixmap *
prefixmap_new(void)
{
	struct prefixmap *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
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
	if (!m)
		return;
	free(m->nodes);
	free(m);
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

uint32_t
prefixmap_lookup(const struct prefixmap *m, const struct netaddr *addr)
{
	unsigned bits = addr->family == AF_INET6 ? 128 : 32;
	uint32_t node = addr->family == AF_INET6 ? 1 : 0;
	uint32_t best = m->nodes[node].value;

	for (unsigned bit = 0; bit < bits; bit++) {
		node = m->nodes[node].child[addr_bit(addr, bit)];
		if (node == NO_NODE)
			break;
		if (m->nodes[node].value != NO_VALUE)
			best = m->nodes[node].value;
	}
	return best;
}
