/*
 * addrcount.h -- how many of something each source address has open:
 * upstream lookups a client waits for, TCP connections. Used to cap what one
 * address may hold, so that one client cannot take what all share.
 *
 * An open-addressing table keyed by the whole address (IPv4, or IPv6); an
 * entry goes away when its count returns to 0. Loop thread only.
 */
#ifndef ADDRCOUNT_H
#define ADDRCOUNT_H

#include <stddef.h>

#include "netaddr.h"

struct addrcount;

/**
 * A table for at most max_addrs addresses at once (rounded up to a power of
 * two, and twice that many slots). NULL on no memory. Free with
 * addrcount_free().
 */
struct addrcount *addrcount_new(size_t max_addrs);
void addrcount_free(struct addrcount *t);

/** The count of addr (0 when it has none). */
unsigned addrcount_get(const struct addrcount *t, const struct netaddr *addr);

/**
 * Add one to addr's count. Returns the new count, or 0 when the table is
 * full of other addresses (the caller treats that as over its limit).
 */
unsigned addrcount_inc(struct addrcount *t, const struct netaddr *addr);

/** Take one from addr's count (nothing when it has none). */
void addrcount_dec(struct addrcount *t, const struct netaddr *addr);

#endif
