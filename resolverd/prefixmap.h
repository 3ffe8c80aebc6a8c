/*
 * prefixmap.h -- longest-prefix match of source addresses to domain indexes.
 *
 * A binary trie per address family in one node array: a lookup walks at most
 * 32 or 128 nodes and never allocates.
 */
#ifndef PREFIXMAP_H
#define PREFIXMAP_H

#include <stdint.h>

struct netaddr;

/** New empty map, or NULL. */
struct prefixmap *prefixmap_new(void);
void prefixmap_free(struct prefixmap *m);
/** Bind a prefix to a value. 0, -1 on no memory, 1 if the prefix was already bound. */
int prefixmap_insert(struct prefixmap *m, const struct netaddr *prefix, uint32_t value);
/** Value of the longest prefix containing addr, or UINT32_MAX. */
uint32_t prefixmap_lookup(const struct prefixmap *m, const struct netaddr *addr);

#endif
