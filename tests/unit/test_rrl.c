/*
 * test_rrl.c -- response rate limiting: the rate per client, refill over
 * time, slip, prefixes for unidentified clients, addresses for identified.
 */
#include "config.h"
#include "rrl.h"
#include "unit.h"

#include <string.h>

static struct netaddr
addr(const char *text)
{
	struct netaddr a;
	const char *why;

	netaddr_parse_cidr(text, &a, &why);
	return a;
}

/* Send n answers at now_ms; count the verdicts. */
static void
burst(struct rrl *r, const char *src, bool identified, int n, uint64_t now_ms, int counts[3])
{
	struct netaddr a = addr(src);

	memset(counts, 0, 3 * sizeof(int));
	for (int i = 0; i < n; i++)
		counts[rrl_check(r, &a, identified, now_ms)]++;
}

int
main(void)
{
	struct rrl *r = rrl_new(1024, 10, 50, 2);
	int c[3];

	if (!CHECK(r != NULL, "a rate limiter"))
		return unit_summary();
	burst(r, "198.18.7.1", false, 100, 1000, c);
	CHECK_INT(c[RRL_PASS], 10, "an unidentified client: 10 answers a second pass");
	CHECK(c[RRL_SLIP] == 45 && c[RRL_DROP] == 45, "... of the 90 over the limit every 2nd slips (TC), the rest drop");
	burst(r, "198.18.7.200", false, 5, 1000, c);
	CHECK_INT(c[RRL_PASS], 0, "another address of the same /24 shares the limit");
	burst(r, "198.18.8.1", false, 10, 1000, c);
	CHECK_INT(c[RRL_PASS], 10, "another /24 has its own");
	burst(r, "198.18.7.1", false, 10, 1500, c);
	CHECK_INT(c[RRL_PASS], 5, "half a second later: 5 more");
	burst(r, "198.18.7.1", false, 100, 60000, c);
	CHECK_INT(c[RRL_PASS], 10, "after a long pause no more than a second's worth");
	burst(r, "198.18.7.1", true, 100, 1000, c);
	CHECK_INT(c[RRL_PASS], 50, "an identified client: its own, higher limit");
	burst(r, "198.18.7.2", true, 100, 1000, c);
	CHECK_INT(c[RRL_PASS], 50, "... per address, not per prefix");
	burst(r, "2001:db8:1:ff::1", false, 20, 1000, c);
	burst(r, "2001:db8:1:aa::2", false, 20, 1000, c);
	CHECK_INT(c[RRL_PASS], 0, "IPv6: one /56 is one client");
	burst(r, "2001:db8:1:100::1", false, 20, 1000, c);
	CHECK_INT(c[RRL_PASS], 10, "... the next /56 another");
	rrl_free(r);

	r = rrl_new(1024, 0, 0, 2);
	burst(r, "198.18.7.1", false, 100000, 1000, c);
	CHECK_INT(c[RRL_PASS], 100000, "rate 0: no limit");
	rrl_free(r);

	r = rrl_new(4, 1, 1, 0);
	int passed = 0;
	for (int i = 0; i < 1000; i++) {
		char a[32];
		snprintf(a, sizeof(a), "198.%d.%d.1", i / 200, i % 200);
		burst(r, a, false, 1, 1000, c);
		passed += c[RRL_PASS];
	}
	CHECK_INT(passed, 1000, "more clients than buckets: the least recently used bucket is reused");
	burst(r, "198.18.9.1", false, 3, 1000, c);
	CHECK(c[RRL_PASS] == 1 && c[RRL_DROP] == 2 && c[RRL_SLIP] == 0, "slip 0: everything over the limit is dropped");
	rrl_free(r);
	return unit_summary();
}
