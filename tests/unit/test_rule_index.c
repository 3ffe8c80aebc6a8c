/*
 * test_rule_index.c -- the from-side rule index picks exactly the rule a
 * plain walk over every rule in priority order picks.
 */
#include "config.h"
#include "policy.h"
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>

/* The definition: first unexpired enforced rule in order whose both sides match. */
static const struct policy_rule *
reference_match(const struct policy *p, uint32_t from, uint32_t to, time_t now)
{
	if (!p->domains[from].enabled || !p->domains[to].enabled)
		return NULL;
	for (size_t i = 0; i < p->nrules; i++) {
		const struct policy_rule *r = &p->rules[i];
		if (!r->dry_run && (r->expires == 0 || r->expires > now) &&
		    policy_selector_matches(p, &r->from, from) &&
		    policy_selector_matches(p, &r->to, to))
			return r;
	}
	return NULL;
}

/* A random rule over ndom domains and ngrp groups. */
static struct policy_rule
random_rule(int64_t id, int ndom, int ngrp)
{
	struct policy_rule r = { .id = id, .priority = rand() % 50, .allow = rand() % 2,
	                         .dry_run = rand() % 9 == 0 };
	struct policy_selector *sides[2] = { &r.from, &r.to };

	for (int s = 0; s < 2; s++) {
		sides[s]->kind = (enum policy_sel_kind)(rand() % 4);
		sides[s]->index = (uint32_t)(sides[s]->kind == SEL_GROUP ? rand() % ngrp : rand() % ndom);
		sides[s]->min = (uint32_t)(rand() % 4);
		sides[s]->max = rand() % 4 == 0 ? UINT32_MAX : sides[s]->min + (uint32_t)(rand() % 3);
	}
	if (rand() % 5 == 0)
		r.expires = 100 + rand() % 100;
	return r;
}

/* Mismatches of the indexed match against the reference over every pair, at three times. */
static int
mismatches_of(const struct policy *p, int *matched)
{
	int bad = 0;

	*matched = 0;
	for (time_t now = 50; now <= 250; now += 100)
		for (uint32_t a = 0; a < (uint32_t)p->ndomains; a++)
			for (uint32_t b = 0; b < (uint32_t)p->ndomains; b++) {
				const struct policy_rule *want = reference_match(p, a, b, now);
				const struct policy_rule *got = policy_first_match(p, a, b, now);
				bad += want != got;
				*matched += want != NULL;
			}
	return bad;
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
			struct policy_rule r = random_rule(i + 1, ndom, ngrp);
			policy_add_rule(p, &r);
		}
		policy_finish(p);
		int matched, mismatches = mismatches_of(p, &matched);
		CHECK(mismatches == 0 && matched > 0,
		      "seed %u: %d domains, %d groups, %d rules: indexed match = reference (%d matched, %d mismatches)",
		      seed, ndom, ngrp, nrules, matched, mismatches);
		/* derived copies: rules removed and added, the index patched, not rebuilt */
		int64_t next_id = nrules + 1;
		mismatches = 0;
		for (int round = 0; round < 10; round++) {
			struct policy *d = policy_derive(p, seed * 100 + (unsigned)round);
			int nrem = rand() % 6, nadd = rand() % 6;
			if (round % 3 == 0) {
				/* a new domain and a new group, with rules from them */
				snprintf(name, sizeof(name), "new%d.test", round);
				policy_add_domain(d, name, (uint32_t)(rand() % 6), true);
				snprintf(name, sizeof(name), "newg%d", round);
				uint32_t g = policy_add_group(d, name);
				uint32_t list[1] = { g };
				policy_set_groups(d, (uint32_t)d->ndomains - 1, list, 1);
			}
			for (int k = 0; k < nrem && p->nrules; k++)
				policy_remove_rule(d, p->rules[(size_t)rand() % p->nrules].id);
			for (int k = 0; k < nadd; k++) {
				struct policy_rule r = random_rule(rand() % 3 == 0 && p->nrules
				                                           ? p->rules[(size_t)rand() % p->nrules].id
				                                           : next_id++,
				                                   (int)d->ndomains, (int)d->ngroups);
				if (rand() % 4 == 0)
					policy_remove_rule(d, r.id);
				policy_add_rule(d, &r);
			}
			policy_finish(d);
			mismatches += mismatches_of(d, &matched);
			policy_free(p);
			p = d;
		}
		CHECK(mismatches == 0, "seed %u: 10 derived copies, rules removed and added: indexed match = "
		      "reference (%d mismatches)", seed, mismatches);
		policy_free(p);
	}
	return unit_summary();
}
