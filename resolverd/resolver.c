/*
 * resolver.c -- making and freeing one worker's answer state, and its
 * statistics.
 */
#include "config.h"
#include "resolver.h"
#include "addrcount.h"
#include "answer_cache.h"
#include "decision_cache.h"
#include "dname.h"
#include "log.h"
#include "options.h"
#include "policy.h"
#include "metrics.h"
#include "prefixmap.h"
#include "rrl.h"
#include "targetmap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* pairs remembered per snapshot: 3 requesters x 10,000 peers fit twice over */
#define DECISION_CACHE_ENTRIES 65536

int
resolver_init(struct resolver *r, const struct options *opt, char *err, size_t errlen)
{
	memset(r, 0, sizeof(*r));
	r->opt = opt;
	r->epoch = 1;
	r->learned = targetmap_new(LEARNED_TARGETS);
	r->answers = answer_cache_new(ANSWER_CACHE_MAX);
	r->inflight_buckets = 64;
	while (r->inflight_buckets < (size_t)opt->recursion_max_outstanding)
		r->inflight_buckets *= 2;
	r->inflight = calloc(r->inflight_buckets, sizeof(*r->inflight));
	/* every waiting query may come from another address */
	r->waiting_by_source = addrcount_new((size_t)opt->recursion_max_outstanding * 4);
	r->metrics = metrics_new();
	if (!r->learned || !r->answers || !r->inflight || !r->waiting_by_source || !r->metrics) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	/* what follows from the options is built as SIGHUP builds it again */
	return resolver_reconfigure(r, err, errlen);
}

/* The recursion ACL of opt as a prefix map; NULL when there is none or no memory (*oom). */
static struct prefixmap *
acl_new(const struct options *opt, bool *oom)
{
	struct prefixmap *m;

	*oom = false;
	if (opt->nrecursion_acl == 0)
		return NULL;
	m = prefixmap_new();
	if (!m) {
		*oom = true;
		return NULL;
	}
	for (size_t i = 0; i < opt->nrecursion_acl; i++)
		prefixmap_insert(m, &opt->recursion_acl[i], 0);
	return m;
}

int
resolver_reconfigure(struct resolver *r, char *err, size_t errlen)
{
	const struct options *opt = r->opt;
	uint8_t sink[DNAME_MAXLEN];
	bool oom;

	if (dname_from_text(opt->sink_host, sink) == 0) {
		snprintf(err, errlen, "sink-host '%s' is not a domain name", opt->sink_host);
		return -1;
	}
	struct prefixmap *acl = acl_new(opt, &oom);
	struct rrl *rrl = rrl_new(65536, (unsigned)opt->rate_limit, (unsigned)opt->rate_limit_identified,
	                          (unsigned)opt->rate_limit_slip);
	struct decision_cache *decisions = decision_cache_new(DECISION_CACHE_ENTRIES);
	if (oom || !rrl || !decisions) {
		prefixmap_free(acl);
		rrl_free(rrl);
		decision_cache_free(decisions);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	memcpy(r->sink_host, sink, sizeof(sink));
	prefixmap_free(r->recursion_acl);
	r->recursion_acl = acl;
	rrl_free(r->rrl);
	r->rrl = rrl;
	if (r->decisions) {
		uint64_t h, m;
		decision_cache_stats(r->decisions, &h, &m);
		r->retired_decision_hits += h;
		r->retired_decision_misses += m;
	}
	decision_cache_free(r->decisions);
	r->decisions = decisions;
	r->epoch++;
	return 0;
}

void
resolver_replace_answers(struct resolver *r, struct answer_cache *fresh)
{
	size_t entries;
	uint64_t h, m;

	answer_cache_stats(r->answers, &entries, &h, &m);
	r->retired_answer_hits += h;
	r->retired_answer_misses += m;
	answer_cache_free(r->answers);
	r->answers = fresh;
}

void
resolver_cache_stats(const struct resolver *r, size_t *answer_entries, uint64_t *answer_hits,
                     uint64_t *answer_misses, uint64_t *decision_hits, uint64_t *decision_misses)
{
	answer_cache_stats(r->answers, answer_entries, answer_hits, answer_misses);
	decision_cache_stats(r->decisions, decision_hits, decision_misses);
	*answer_hits += r->retired_answer_hits;
	*answer_misses += r->retired_answer_misses;
	*decision_hits += r->retired_decision_hits;
	*decision_misses += r->retired_decision_misses;
}

void
resolver_share_targets(struct resolver *r, struct targetmap *m)
{
	if (!r->learned_shared)
		targetmap_free(r->learned);
	r->learned = m;
	r->learned_shared = true;
}

void
resolver_cleanup(struct resolver *r)
{
	prefixmap_free(r->recursion_acl);
	r->recursion_acl = NULL;
	decision_cache_free(r->decisions);
	r->decisions = NULL;
	if (!r->learned_shared)
		targetmap_free(r->learned);
	r->learned = NULL;
	answer_cache_free(r->answers);
	r->answers = NULL;
	free(r->inflight);
	r->inflight = NULL;
	addrcount_free(r->waiting_by_source);
	r->waiting_by_source = NULL;
	rrl_free(r->rrl);
	r->rrl = NULL;
	metrics_free(r->metrics);
	r->metrics = NULL;
}

void
resolver_stats_log(const struct resolver *r)
{
	uint64_t dh, dm, ah, am;
	size_t entries;

	resolver_cache_stats(r, &entries, &ah, &am, &dh, &dm);
	resolver_stats_log_counts(&r->stats, r->ninflight, r->policy->serial, dh, dm, ah, am, entries);
}

void
resolver_stats_log_counts(const struct query_stats *st, size_t in_flight, uint64_t serial,
                          uint64_t dh, uint64_t dm, uint64_t ah, uint64_t am, size_t entries)
{
	log_info("statistics: queries=%llu allow=%llu deny=%llu recursions=%llu joined=%llu "
	         "limited=%llu timeouts=%llu in-flight=%zu servfail=%llu "
	         "refused=%llu formerr=%llu notimp=%llu dropped=%llu rate-limited=%llu "
	         "rate-slipped=%llu tcp-refused=%llu "
	         "tcp-evicted=%llu tsig-errors=%llu identity-refused=%llu policy-serial=%llu "
	         "decision-cache=%llu/%llu answer-cache=%llu/%llu (%zu answers)",
	         (unsigned long long)st->queries, (unsigned long long)st->policy_allow,
	         (unsigned long long)st->policy_deny, (unsigned long long)st->recursions,
	         (unsigned long long)st->recursions_joined, (unsigned long long)st->recursions_limited,
	         (unsigned long long)st->recursion_timeouts, in_flight,
	         (unsigned long long)st->servfail, (unsigned long long)st->refused,
	         (unsigned long long)st->formerr, (unsigned long long)st->notimp,
	         (unsigned long long)st->dropped, (unsigned long long)st->rate_limited,
	         (unsigned long long)st->rate_slipped, (unsigned long long)st->tcp_refused,
	         (unsigned long long)st->tcp_evicted, (unsigned long long)st->tsig_errors,
	         (unsigned long long)st->identity_refused, (unsigned long long)serial,
	         (unsigned long long)dh, (unsigned long long)(dh + dm), (unsigned long long)ah,
	         (unsigned long long)(ah + am), entries);
}
