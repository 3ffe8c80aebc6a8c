/*
 * prefixmap.h -- longest-prefix match of source addresses to domain indexes.
 *
 * A binary trie per address family in one node array: a lookup walks at most
 * 32 or 128 nodes and never allocates.
 *
 * Maps are reference counted so that policy snapshots can share one
 * (prefixmap_ref); a map with more than one reference is read-only, and a
 * writer takes a private copy first (prefixmap_copy). Lookups may run on any
 * thread; a map is changed by one thread, and only while nobody else uses it.
 */
#ifndef PREFIXMAP_H
#define PREFIXMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct netaddr;

/** New empty map (one reference), or NULL. */
struct prefixmap *prefixmap_new(void);
/** Drop a reference; the last frees the map. NULL is ignored. Any thread. */
void prefixmap_free(struct prefixmap *m);
/** Another reference to m; returns m. Any thread. */
struct prefixmap *prefixmap_ref(struct prefixmap *m);
/** Whether m has more than one reference (then it must not be changed). */
bool prefixmap_shared(const struct prefixmap *m);
/** A private copy of m (one reference), or NULL. */
struct prefixmap *prefixmap_copy(const struct prefixmap *m);
/** Bind a prefix to a value. 0, -1 on no memory, 1 if the prefix was already bound. */
int prefixmap_insert(struct prefixmap *m, const struct netaddr *prefix, uint32_t value);
/** Unbind exactly this prefix. Returns the value it had, or UINT32_MAX. */
uint32_t prefixmap_remove(struct prefixmap *m, const struct netaddr *prefix);
/** The value bound to exactly this prefix, or UINT32_MAX. */
uint32_t prefixmap_get(const struct prefixmap *m, const struct netaddr *prefix);
/** Value of the longest prefix containing addr, or UINT32_MAX. */
uint32_t prefixmap_lookup(const struct prefixmap *m, const struct netaddr *addr);
/** Whether some prefix is bound to value (a walk over every node). */
bool prefixmap_has_value(const struct prefixmap *m, uint32_t value);
/** Give back the node array's unused room (after the last insert). */
void prefixmap_shrink(struct prefixmap *m);
/** Bytes the map uses. */
size_t prefixmap_memory(const struct prefixmap *m);

#endif
