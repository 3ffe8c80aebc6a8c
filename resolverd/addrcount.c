/*
 * addrcount.c -- linear probing with backward-shift deletion, so that the
 * table never fills with tombstones under churn.
 */
#include "config.h"
#include "addrcount.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct addr_slot {
	struct netaddr addr;
	unsigned count;    /* 0: empty */
};

struct addrcount {
	struct addr_slot *slots;
	size_t size;       /* a power of two, twice the addresses allowed */
	size_t used, max;
};

struct addrcount *
addrcount_new(size_t max_addrs)
{
	struct addrcount *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->max = max_addrs ? max_addrs : 1;
	t->size = 2;
	while (t->size < 2 * t->max)
		t->size *= 2;
	t->slots = calloc(t->size, sizeof(*t->slots));
	if (!t->slots) {
		free(t);
		return NULL;
	}
	return t;
}

void
addrcount_free(struct addrcount *t)
{
	if (!t)
		return;
	free(t->slots);
	free(t);
}

/* FNV-1a over the family and the address bytes in use. */
static size_t
slot_of(const struct addrcount *t, const struct netaddr *a)
{
	uint32_t h = 2166136261u ^ (uint32_t)a->family;
	size_t n = a->family == AF_INET ? 4 : 16;

	for (size_t i = 0; i < n; i++)
		h = (h ^ a->addr[i]) * 16777619u;
	return h & (t->size - 1);
}

static bool
same(const struct netaddr *a, const struct netaddr *b)
{
	return a->family == b->family &&
	       memcmp(a->addr, b->addr, a->family == AF_INET ? 4 : 16) == 0;
}

/* The slot holding a, or the empty slot where it would go. */
static size_t
find(const struct addrcount *t, const struct netaddr *a)
{
	size_t i = slot_of(t, a);

	while (t->slots[i].count && !same(&t->slots[i].addr, a))
		i = (i + 1) & (t->size - 1);
	return i;
}

unsigned
addrcount_get(const struct addrcount *t, const struct netaddr *addr)
{
	return t->slots[find(t, addr)].count;
}

unsigned
addrcount_inc(struct addrcount *t, const struct netaddr *addr)
{
	size_t i = find(t, addr);

	if (t->slots[i].count == 0) {
		if (t->used >= t->max)
			return 0;
		t->slots[i].addr = *addr;
		t->used++;
	}
	return ++t->slots[i].count;
}

void
addrcount_dec(struct addrcount *t, const struct netaddr *addr)
{
	size_t i = find(t, addr), mask = t->size - 1;

	if (t->slots[i].count == 0 || --t->slots[i].count > 0)
		return;
	t->used--;
	/* backward shift: move later entries of the run into the hole */
	for (size_t j = (i + 1) & mask; t->slots[j].count; j = (j + 1) & mask) {
		size_t home = slot_of(t, &t->slots[j].addr);
		/* j may move to i when home is not in the cyclic range (i, j] */
		if (((j - home) & mask) >= ((j - i) & mask)) {
			t->slots[i] = t->slots[j];
			t->slots[j].count = 0;
			i = j;
		}
	}
}
