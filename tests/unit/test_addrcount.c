/*
 * test_addrcount.c -- per-address counts against a plain array, through
 * random increments and decrements (the deletions shift entries back).
 */
#include "config.h"
#include "addrcount.h"
#include "unit.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define NADDR 300

int
main(void)
{
	struct addrcount *t = addrcount_new(NADDR);
	struct netaddr addrs[NADDR];
	unsigned want[NADDR] = { 0 };
	int wrong = 0;

	if (!CHECK(t != NULL, "a table for %d addresses", NADDR))
		return unit_summary();
	for (int i = 0; i < NADDR; i++) {
		memset(&addrs[i], 0, sizeof(addrs[i]));
		addrs[i].family = i % 3 ? AF_INET : AF_INET6;
		addrs[i].prefix = addrs[i].family == AF_INET ? 32 : 128;
		addrs[i].addr[0] = (uint8_t)(i % 7);
		addrs[i].addr[3] = (uint8_t)i;
		addrs[i].addr[15] = (uint8_t)(i >> 8);
	}
	srand(7);
	for (int step = 0; step < 200000; step++) {
		int i = rand() % NADDR;
		if (rand() % 2) {
			if (addrcount_inc(t, &addrs[i]) != ++want[i])
				wrong++;
		} else {
			addrcount_dec(t, &addrs[i]);
			if (want[i])
				want[i]--;
		}
		if (step % 997 == 0)
			for (int k = 0; k < NADDR; k++)
				wrong += addrcount_get(t, &addrs[k]) != want[k];
	}
	CHECK_INT(wrong, 0, "200,000 random changes: every count equals the reference");
	for (int i = 0; i < NADDR; i++)
		while (want[i]--)
			addrcount_dec(t, &addrs[i]);
	int left = 0;
	for (int i = 0; i < NADDR; i++)
		left += addrcount_get(t, &addrs[i]) != 0;
	CHECK_INT(left, 0, "back to zero: no count is left behind");

	struct addrcount *small = addrcount_new(2);
	CHECK(addrcount_inc(small, &addrs[0]) == 1 && addrcount_inc(small, &addrs[1]) == 1,
	      "a table for 2 addresses takes 2");
	CHECK_INT(addrcount_inc(small, &addrs[2]), 0, "... a third address is refused (0: over the limit)");
	CHECK_INT(addrcount_inc(small, &addrs[0]), 2, "... a known one still counts up");
	addrcount_dec(small, &addrs[1]);
	CHECK_INT(addrcount_inc(small, &addrs[2]), 1, "... and room comes back when a count drops to 0");
	struct netaddr v4 = addrs[1], v6 = addrs[1];
	v6.family = AF_INET6;
	CHECK(addrcount_get(small, &v6) == 0 && addrcount_get(small, &v4) == 0,
	      "the same bytes in another family are another address");
	addrcount_free(small);
	addrcount_free(t);
	return unit_summary();
}
