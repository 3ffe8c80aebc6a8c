/*
 * test_rule_index.c -- the from-side rule index picks exactly the rule a
 * plain walk over every rule in priority order picks.
 */
#include "config.h"
#include "policy.h"
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>

/* The definition: first unexpired rule in order whose both sides match. */
static const struct policy_rule *
reference_match(const struct policy *p, uint32_t from, uint32_t to, time_t now)
{
	if (!p->domains[from].enabled || !p->domains[to].enabled)
		return NULL;
	for (size_t i = 0; i < p->nrules; i++) {
		const struct policy_rule *r = &p->rules[i];
		if ((r->expires == 0 || r->expires > now) && policy_selector_matches(p, &r->from, from) &&
		    policy_selector_matches(p, &r->to, to))
			return r;
	}
	return NULL;
}

int
main(void)
{
	char name[32];

	for (unsigned seed = 1; seed <= 20; seed++) {
		struct policy *p = policy_new(seed);
		srand(seed);
		int ndom = 30 + rand() % 30, ngrp = 1 + rand() % 8, nrules = 20 + rand() % 200;
		for (int i = 0; i < ndom; i++) {
			snprintf(name, sizeof(name), "d%03d.test", i);
			policy_add_domain(p, name, (uint32_t)(rand() % 6), rand() % 12 != 0);
		}
		for (int g = 0; g < ngrp; g++) {
			snprintf(name, sizeof(name), "g%d", g);
			policy_add_group(p, name);
		}
		for (int d = 0; d < ndom; d++)
			for (int g = 0; g < ngrp; g++)
				if (rand() % 3 == 0)
					policy_add_membership(p, (uint32_t)d, (uint32_t)g);
		for (int i = 0; i < nrules; i++) {
			struct policy_rule r = { .id = i + 1, .priority = rand() % 50, .allow = rand() % 2 };
			struct policy_selector *sides[2] = { &r.from, &r.to };
			for (int s = 0; s < 2; s++) {
				sides[s]->kind = (enum policy_sel_kind)(rand() % 4);
				sides[s]->index = (uint32_t)(sides[s]->kind == SEL_GROUP ? rand() % ngrp : rand() % ndom);
				sides[s]->min = (uint32_t)(rand() % 4);
				sides[s]->max = rand() % 4 == 0 ? UINT32_MAX : sides[s]->min + (uint32_t)(rand() % 3);
			}
			if (rand() % 5 == 0)
				r.expires = 100 + rand() % 100;
			policy_add_rule(p, &r);
		}
		policy_finish(p);
		int mismatches = 0, matched = 0;
		for (time_t now = 50; now <= 250; now += 100)
			for (uint32_t a = 0; a < (uint32_t)ndom; a++)
				for (uint32_t b = 0; b < (uint32_t)ndom; b++) {
					const struct policy_rule *want = reference_match(p, a, b, now);
					const struct policy_rule *got = policy_first_match(p, a, b, now);
					mismatches += want != got;
					matched += want != NULL;
				}
		CHECK(mismatches == 0 && matched > 0,
		      "seed %u: %d domains, %d groups, %d rules: indexed match = reference (%d matched, %d mismatches)",
		      seed, ndom, ngrp, nrules, matched, mismatches);
		policy_free(p);
	}
	return unit_summary();
}
