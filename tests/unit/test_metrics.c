/*
 * test_metrics.c -- the sum over the workers that a scrape shows: two
 * workers' counters (answers, decisions by requester name and by rule,
 * statistics, upstream latency) added into one exposition, each worker's
 * queries on a line of its own, and a requester or rule seen by one worker
 * only still shown.
 */
#include "config.h"
#include "metrics.h"
#include "options.h"
#include "policy.h"
#include "resolver.h"
#include "unit.h"

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <ldns/ldns.h>

/* The exposition's text (NUL-terminated, the caller frees it). */
static char *
text_of(struct evbuffer *out)
{
	size_t n = evbuffer_get_length(out);
	char *s = malloc(n + 1);
	if (!s)
		return NULL;
	evbuffer_copyout(out, s, n);
	s[n] = '\0';
	return s;
}

/* Whether the exposition has this exact line. */
static bool
has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	for (const char *p = text; (p = strstr(p, line)); p += n)
		if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
			return true;
	return false;
}

int
main(void)
{
	struct options opt;
	struct resolver w[2];
	char err[256];

	if (options_init(&opt) != 0)
		return 1;
	struct policy *p = policy_new(7);
	uint32_t a = policy_add_domain(p, "a.test", 1, true);
	uint32_t b = policy_add_domain(p, "b.test", 1, true);
	uint32_t c = policy_add_domain(p, "c.test", 1, true);
	policy_finish(p);
	for (int i = 0; i < 2; i++) {
		if (resolver_init(&w[i], &opt, err, sizeof(err)) != 0)
			return 1;
		w[i].policy = p;
	}
	struct policy_verdict allow = { .allow = true, .rule_id = 5, .reason = "rule" };
	struct policy_verdict deny = { .allow = false, .rule_id = 6, .reason = "rule" };
	struct policy_verdict dflt = { .allow = false, .rule_id = 0, .reason = "default deny" };

	/* worker 0: a asks 3 times (allowed by rule 5), b once (denied by rule 6) */
	for (int i = 0; i < 3; i++)
		metrics_decision(w[0].metrics, p, a, &allow);
	metrics_decision(w[0].metrics, p, b, &deny);
	for (int i = 0; i < 4; i++)
		metrics_answer(w[0].metrics, false, LDNS_RR_TYPE_SRV, LDNS_RCODE_NOERROR);
	metrics_upstream(w[0].metrics, 0.003);
	w[0].stats.queries = 4;
	w[0].stats.policy_allow = 3;
	w[0].stats.policy_deny = 1;
	/* worker 1: a twice more (rule 5), c once (no rule: default deny), one TCP SERVFAIL */
	for (int i = 0; i < 2; i++)
		metrics_decision(w[1].metrics, p, a, &allow);
	metrics_decision(w[1].metrics, p, c, &dflt);
	metrics_answer(w[1].metrics, false, LDNS_RR_TYPE_SRV, LDNS_RCODE_NOERROR);
	metrics_answer(w[1].metrics, false, LDNS_RR_TYPE_SRV, LDNS_RCODE_NOERROR);
	metrics_answer(w[1].metrics, true, LDNS_RR_TYPE_A, LDNS_RCODE_SERVFAIL);
	metrics_upstream(w[1].metrics, 0.2);
	w[1].stats.queries = 5;
	w[1].stats.policy_allow = 2;
	w[1].stats.policy_deny = 1;
	w[1].stats.servfail = 1;

	struct metrics_totals t;
	CHECK(metrics_totals_init(&t, p) == 0, "totals made");
	CHECK(metrics_totals_add(&t, &w[0]) == 0 && metrics_totals_add(&t, &w[1]) == 0,
	      "both workers added");
	struct metrics *main_m = metrics_new();
	metrics_reload(main_m, 3, 1, 7);
	struct evbuffer *out = evbuffer_new();
	metrics_write(main_m, &t, out);
	char *text = text_of(out);
	CHECK(text != NULL, "the exposition is written");
	if (!text)
		return unit_summary();
	CHECK(has_line(text, "resolverd_queries_total 9"), "queries: the sum of both workers' (4 + 5)");
	CHECK(has_line(text, "resolverd_worker_queries_total{worker=\"0\"} 4"), "worker 0's queries on its own line");
	CHECK(has_line(text, "resolverd_worker_queries_total{worker=\"1\"} 5"), "worker 1's too");
	CHECK(has_line(text, "resolverd_requester_decisions_total{requester=\"a.test\",action=\"allow\"} 5"),
	      "a requester seen by both workers: its decisions added by name (3 + 2)");
	CHECK(has_line(text, "resolverd_requester_decisions_total{requester=\"b.test\",action=\"deny\"} 1"),
	      "a requester seen by worker 0 only is shown");
	CHECK(has_line(text, "resolverd_requester_decisions_total{requester=\"c.test\",action=\"deny\"} 1"),
	      "a requester seen by worker 1 only is shown");
	CHECK(has_line(text, "resolverd_rule_hits_total{rule=\"5\"} 5"), "a rule's hits added by id");
	CHECK(has_line(text, "resolverd_rule_hits_total{rule=\"6\"} 1"), "a rule hit on one worker only is shown");
	CHECK(has_line(text, "resolverd_decisions_total{action=\"allow\",reason=\"rule\"} 5"), "decisions by reason added");
	CHECK(has_line(text, "resolverd_decisions_total{action=\"deny\",reason=\"default deny\"} 1"), "... each reason");
	CHECK(has_line(text, "resolverd_answers_total{transport=\"udp\",qtype=\"SRV\",rcode=\"NOERROR\"} 6"),
	      "answers by transport, type and RCODE added (4 + 2)");
	CHECK(has_line(text, "resolverd_answers_total{transport=\"tcp\",qtype=\"A\",rcode=\"SERVFAIL\"} 1"),
	      "... one seen by one worker only");
	CHECK(has_line(text, "resolverd_upstream_latency_seconds_count 2"), "the latency histogram's count added");
	CHECK(has_line(text, "resolverd_upstream_latency_seconds_bucket{le=\"0.005\"} 1") &&
	          has_line(text, "resolverd_upstream_latency_seconds_bucket{le=\"0.25\"} 2"),
	      "... and its buckets, cumulative");
	CHECK(has_line(text, "resolverd_servfail_total 1"), "statistics added");
	CHECK(has_line(text, "resolverd_policy_served_serial 7"), "the served serial is main's snapshot's");
	CHECK(has_line(text, "resolverd_policy_reloads_total 3"), "the watcher's counters are main's");
	free(text);
	evbuffer_free(out);
	metrics_totals_free(&t);
	metrics_free(main_m);
	for (int i = 0; i < 2; i++)
		resolver_cleanup(&w[i]);
	policy_free(p);
	options_free(&opt);
	return unit_summary();
}
