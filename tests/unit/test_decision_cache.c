/*
 * test_decision_cache.c -- the memo gives exactly policy_decide()'s answers,
 * forgets them when a rule expires or the snapshot changes.
 */
#include "config.h"
#include "decision_cache.h"
#include "policy.h"
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>

/* A pseudo-random community: 40 domains, 4 groups, 60 rules of every kind. */
static struct policy *
random_policy(uint64_t serial, unsigned seed)
{
	struct policy *p = policy_new(serial);
	char name[32];

	srand(seed);
	for (int i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "d%02d.test", i);
		policy_add_domain(p, name, (uint32_t)(rand() % 5), rand() % 10 != 0);
	}
	for (int g = 0; g < 4; g++) {
		snprintf(name, sizeof(name), "g%d", g);
		policy_add_group(p, name);
	}
	for (uint32_t d = 0; d < 40; d++)
		for (uint32_t g = 0; g < 4; g++)
			if (rand() % 3 == 0)
				policy_add_membership(p, d, g);
	for (int i = 0; i < 60; i++) {
		struct policy_rule r = { .id = i + 1, .priority = rand() % 20, .allow = rand() % 3 != 0 };
		struct policy_selector *sides[2] = { &r.from, &r.to };
		for (int s = 0; s < 2; s++) {
			sides[s]->kind = (enum policy_sel_kind)(rand() % 4);
			sides[s]->index = (uint32_t)(sides[s]->kind == SEL_GROUP ? rand() % 4 : rand() % 40);
			sides[s]->min = (uint32_t)(rand() % 3);
			sides[s]->max = sides[s]->min + (uint32_t)(rand() % 3);
		}
		if (rand() % 6 == 0)
			r.expires = 1000 + rand() % 1000;
		policy_add_rule(p, &r);
	}
	policy_finish(p);
	return p;
}

static int
same(const struct policy_verdict *a, const struct policy_verdict *b)
{
	return a->allow == b->allow && a->rule_id == b->rule_id &&
	       a->reverse_rule_id == b->reverse_rule_id;
}

int
main(void)
{
	struct decision_cache *c = decision_cache_new(4096);
	struct policy *p = random_policy(1, 7);
	struct policy_verdict want, got;
	uint64_t hits, misses;
	int mismatches = 0, allows = 0;

	for (int round = 0; round < 2; round++)
		for (uint32_t r = 0; r < 40; r++)
			for (uint32_t q = 0; q < 40; q++) {
				policy_decide(p, r, q, 500, true, &want);
				decision_cache_decide(c, p, r, q, 500, true, &got);
				mismatches += !same(&want, &got);
				allows += want.allow;
			}
	CHECK_INT(mismatches, 0, "cached verdicts equal policy_decide for all 1600 pairs, twice");
	CHECK(allows > 0 && allows < 3200, "the random policy allows some pairs and denies others (%d)", allows);
	decision_cache_stats(c, &hits, &misses);
	CHECK_INT(misses, 1600, "each pair computed once");
	CHECK_INT(hits, 1600, "then answered from the cache");

	/* a time past every expiry: the cache must not serve verdicts of expired rules */
	mismatches = 0;
	for (uint32_t r = 0; r < 40; r++)
		for (uint32_t q = 0; q < 40; q++) {
			policy_decide(p, r, q, 5000, true, &want);
			decision_cache_decide(c, p, r, q, 5000, true, &got);
			mismatches += !same(&want, &got);
		}
	CHECK_INT(mismatches, 0, "after the rules expire, verdicts follow the remaining rules");

	/* a new snapshot (another serial) replaces every remembered verdict */
	struct policy *p2 = random_policy(2, 11);
	mismatches = 0;
	for (uint32_t r = 0; r < 40; r++)
		for (uint32_t q = 0; q < 40; q++) {
			policy_decide(p2, r, q, 5000, false, &want);
			decision_cache_decide(c, p2, r, q, 5000, false, &got);
			mismatches += !same(&want, &got);
		}
	CHECK_INT(mismatches, 0, "a new snapshot is decided afresh");

	/* a full cache flushes and keeps answering correctly */
	struct decision_cache *small = decision_cache_new(10);
	mismatches = 0;
	for (uint32_t r = 0; r < 40; r++)
		for (uint32_t q = 0; q < 40; q++) {
			policy_decide(p, r, q, 500, true, &want);
			decision_cache_decide(small, p, r, q, 500, true, &got);
			mismatches += !same(&want, &got);
		}
	CHECK_INT(mismatches, 0, "a cache smaller than the pairs stays correct");

	decision_cache_decide(c, p, POLICY_NONE, 0, 500, true, &got);
	CHECK(!got.allow, "an unidentified requester is denied");
	decision_cache_free(small);
	decision_cache_free(c);
	policy_free(p);
	policy_free(p2);
	return unit_summary();
}
