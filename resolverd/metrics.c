/*
 * metrics.c -- the counters behind /metrics, and the HTTP endpoint.
 */
#include "config.h"
#include "metrics.h"
#include "answer_cache.h"
#include "decision_cache.h"
#include "log.h"
#include "options.h"
#include "policy.h"
#include "resolver.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <ldns/ldns.h>

/* question types counted apart; the rest is "other" */
static const struct {
	uint16_t type;
	const char *name;
} qtypes[] = {
	{ LDNS_RR_TYPE_A, "A" },         { LDNS_RR_TYPE_AAAA, "AAAA" },   { LDNS_RR_TYPE_SRV, "SRV" },
	{ 65, "HTTPS" },                 { 64, "SVCB" },                  { LDNS_RR_TYPE_MX, "MX" },
	{ LDNS_RR_TYPE_TXT, "TXT" },     { LDNS_RR_TYPE_CNAME, "CNAME" }, { LDNS_RR_TYPE_PTR, "PTR" },
	{ LDNS_RR_TYPE_NS, "NS" },       { LDNS_RR_TYPE_SOA, "SOA" },     { LDNS_RR_TYPE_TLSA, "TLSA" },
	{ LDNS_RR_TYPE_DS, "DS" },       { LDNS_RR_TYPE_DNSKEY, "DNSKEY" }, { LDNS_RR_TYPE_ANY, "ANY" },
};
#define NQTYPES (sizeof(qtypes) / sizeof(qtypes[0]))

static const char *const rcodes[16] = {
	"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET",
	"NXRRSET", "NOTAUTH", "NOTZONE", "RCODE11", "RCODE12", "RCODE13", "RCODE14", "RCODE15",
};

/* the reasons policy_decide() and query.c give; the rest is "other" */
static const char *const reasons[] = {
	"rule", "default deny", "no mutual consent", "domain disabled", "requester not identified",
	"unknown peer", "own domain", "peer outside the community", "alias chain", "other",
};
#define NREASONS (sizeof(reasons) / sizeof(reasons[0]))

static const double latency_bounds[METRICS_LATENCY_BUCKETS] = {
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
};

/* Decisions of one requester, by its name: it outlives snapshots. */
struct requester_count {
	char *name;
	uint64_t allow, deny;
};

struct rule_count {
	int64_t id;     /* 0: empty slot */
	uint64_t hits;
};

struct metrics {
	uint64_t answers[2][NQTYPES + 1][16];       /* [tcp][qtype][rcode] */
	uint64_t decisions[2][NREASONS];             /* [allow][reason] */
	uint64_t unidentified_decisions;
	struct requester_count *requesters;          /* open addressing by name */
	size_t requesters_size, requesters_used;
	/* the current snapshot's domain index -> its entry, rebuilt on a new snapshot */
	const struct policy *snapshot;
	struct requester_count **by_index;
	struct rule_table {
		struct rule_count *slots;                /* open addressing by id */
		size_t size, used;
	} rules, would;                              /* decisions made; dry-run rules that would differ */
	uint64_t latency[METRICS_LATENCY_BUCKETS + 1];
	double latency_sum;
	uint64_t latency_count;
	uint64_t reloads, reload_failures, db_serial;
	bool hook;                                   /* policy-zone: the hook's state */
	uint64_t hook_failures;
	int64_t hook_published;
	bool xfr;                                    /* policy-source xfr: the transfer's state */
	uint64_t xfr_transfers, xfr_failures, xfr_records;
	int64_t xfr_serial;
	double xfr_last_success;
	unsigned tcp_open;
	struct evhttp *http;
	metrics_scrape_fn scrape;                    /* main's: the HTTP body */
	void *scrape_arg;
};

struct metrics *
metrics_new(void)
{
	struct metrics *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->requesters_size = 64;
	m->rules.size = m->would.size = 64;
	m->requesters = calloc(m->requesters_size, sizeof(*m->requesters));
	m->rules.slots = calloc(m->rules.size, sizeof(*m->rules.slots));
	m->would.slots = calloc(m->would.size, sizeof(*m->would.slots));
	if (!m->requesters || !m->rules.slots || !m->would.slots) {
		metrics_free(m);
		return NULL;
	}
	return m;
}

void
metrics_free(struct metrics *m)
{
	if (!m)
		return;
	if (m->http)
		evhttp_free(m->http);
	for (size_t i = 0; i < m->requesters_size && m->requesters; i++)
		free(m->requesters[i].name);
	free(m->requesters);
	free(m->by_index);
	free(m->rules.slots);
	free(m->would.slots);
	free(m);
}

void
metrics_answer(struct metrics *m, bool tcp, uint16_t qtype, unsigned rcode)
{
	size_t t = NQTYPES;

	for (size_t i = 0; i < NQTYPES; i++)
		if (qtypes[i].type == qtype) {
			t = i;
			break;
		}
	m->answers[tcp][t][rcode & 15]++;
}

static uint64_t
name_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ull;
	return h;
}

/* Double a table of entries while more than half full; false on no memory. */
static bool
grow_requesters(struct metrics *m)
{
	if (2 * (m->requesters_used + 1) <= m->requesters_size)
		return true;
	size_t size = m->requesters_size * 2;
	struct requester_count *t = calloc(size, sizeof(*t));
	if (!t)
		return false;
	for (size_t i = 0; i < m->requesters_size; i++) {
		if (!m->requesters[i].name)
			continue;
		size_t k = name_hash(m->requesters[i].name) & (size - 1);
		while (t[k].name)
			k = (k + 1) & (size - 1);
		t[k] = m->requesters[i];
	}
	free(m->requesters);
	m->requesters = t;
	m->requesters_size = size;
	m->snapshot = NULL; /* the index points into the old table */
	return true;
}

/* The entry of a requester name, made on first sight; NULL on no memory. */
static struct requester_count *
requester_entry(struct metrics *m, const char *name)
{
	if (!grow_requesters(m))
		return NULL;
	size_t k = name_hash(name) & (m->requesters_size - 1);
	while (m->requesters[k].name && strcmp(m->requesters[k].name, name) != 0)
		k = (k + 1) & (m->requesters_size - 1);
	if (!m->requesters[k].name) {
		m->requesters[k].name = strdup(name);
		if (!m->requesters[k].name)
			return NULL;
		m->requesters_used++;
	}
	return &m->requesters[k];
}

static size_t
rule_slot(int64_t id, size_t size)
{
	return (size_t)((uint64_t)id * 0x9e3779b97f4a7c15ull) & (size - 1);
}

/* The counter of rule id in t, made on first sight; NULL on no memory. */
static struct rule_count *
rule_entry(struct rule_table *t, int64_t id)
{
	if (2 * (t->used + 1) > t->size) {
		size_t size = t->size * 2;
		struct rule_count *n = calloc(size, sizeof(*n));
		if (!n)
			return NULL;
		for (size_t i = 0; i < t->size; i++)
			if (t->slots[i].id) {
				size_t k = rule_slot(t->slots[i].id, size);
				while (n[k].id)
					k = (k + 1) & (size - 1);
				n[k] = t->slots[i];
			}
		free(t->slots);
		t->slots = n;
		t->size = size;
	}
	size_t k = rule_slot(id, t->size);
	while (t->slots[k].id && t->slots[k].id != id)
		k = (k + 1) & (t->size - 1);
	if (!t->slots[k].id) {
		t->slots[k].id = id;
		t->used++;
	}
	return &t->slots[k];
}

void
metrics_decision(struct metrics *m, const struct policy *pol, uint32_t requester,
                 const struct policy_verdict *v)
{
	size_t reason = NREASONS - 1;

	for (size_t i = 0; v->reason && i + 1 < NREASONS; i++)
		if (strcmp(v->reason, reasons[i]) == 0) {
			reason = i;
			break;
		}
	m->decisions[v->allow][reason]++;
	if (v->rule_id) {
		struct rule_count *rc = rule_entry(&m->rules, v->rule_id);
		if (rc)
			rc->hits++;
	}
	if (v->would_differ && v->would_rule_id) {
		struct rule_count *rc = rule_entry(&m->would, v->would_rule_id);
		if (rc)
			rc->hits++;
	}
	if (requester == POLICY_NONE || requester >= pol->ndomains) {
		m->unidentified_decisions++;
		return;
	}
	if (m->snapshot != pol) {
		/* a new snapshot: its indexes, looked up by name once each */
		free(m->by_index);
		m->by_index = calloc(pol->ndomains, sizeof(*m->by_index));
		m->snapshot = m->by_index ? pol : NULL;
		if (!m->by_index)
			return;
	}
	struct requester_count *c = m->by_index[requester];
	if (!c) {
		c = requester_entry(m, pol->domains[requester].name);
		if (!c)
			return;
		if (m->snapshot == pol) /* not rebuilt by a growth of the table */
			m->by_index[requester] = c;
	}
	if (v->allow)
		c->allow++;
	else
		c->deny++;
}

void
metrics_upstream(struct metrics *m, double seconds)
{
	size_t b = 0;

	while (b < METRICS_LATENCY_BUCKETS && seconds > latency_bounds[b])
		b++;
	m->latency[b]++;
	m->latency_sum += seconds;
	m->latency_count++;
}

void
metrics_reload(struct metrics *m, uint64_t reloads, uint64_t failures, uint64_t db_serial)
{
	m->reloads = reloads;
	m->reload_failures = failures;
	m->db_serial = db_serial;
}

void
metrics_zone_hook(struct metrics *m, uint64_t failures, int64_t published)
{
	m->hook = true;
	m->hook_failures = failures;
	m->hook_published = published;
}

void
metrics_xfr(struct metrics *m, uint64_t transfers, uint64_t failures, int64_t serial,
            time_t last_success, uint64_t records)
{
	m->xfr = true;
	m->xfr_transfers = transfers;
	m->xfr_failures = failures;
	m->xfr_serial = serial;
	m->xfr_last_success = (double)last_success;
	m->xfr_records = records;
}

void
metrics_tcp_connections(struct metrics *m, unsigned open)
{
	m->tcp_open = open;
}

/* Add every counter of from to into (tables by requester name and rule id). */
static int
metrics_merge(struct metrics *into, const struct metrics *from)
{
	int ret = 0;

	for (int tcp = 0; tcp < 2; tcp++)
		for (size_t t = 0; t <= NQTYPES; t++)
			for (int rc = 0; rc < 16; rc++)
				into->answers[tcp][t][rc] += from->answers[tcp][t][rc];
	for (int allow = 0; allow < 2; allow++)
		for (size_t i = 0; i < NREASONS; i++)
			into->decisions[allow][i] += from->decisions[allow][i];
	into->unidentified_decisions += from->unidentified_decisions;
	for (size_t i = 0; i < from->requesters_size; i++) {
		const struct requester_count *c = &from->requesters[i];
		if (!c->name)
			continue;
		struct requester_count *e = requester_entry(into, c->name);
		if (!e) {
			ret = -1;
			continue;
		}
		e->allow += c->allow;
		e->deny += c->deny;
	}
	for (size_t i = 0; i < from->rules.size; i++)
		if (from->rules.slots[i].id) {
			struct rule_count *rc = rule_entry(&into->rules, from->rules.slots[i].id);
			if (rc)
				rc->hits += from->rules.slots[i].hits;
			else
				ret = -1;
		}
	for (size_t i = 0; i < from->would.size; i++)
		if (from->would.slots[i].id) {
			struct rule_count *rc = rule_entry(&into->would, from->would.slots[i].id);
			if (rc)
				rc->hits += from->would.slots[i].hits;
			else
				ret = -1;
		}
	for (size_t b = 0; b <= METRICS_LATENCY_BUCKETS; b++)
		into->latency[b] += from->latency[b];
	into->latency_sum += from->latency_sum;
	into->latency_count += from->latency_count;
	into->tcp_open += from->tcp_open;
	return ret;
}

int
metrics_totals_init(struct metrics_totals *t, const struct policy *policy)
{
	memset(t, 0, sizeof(*t));
	t->policy = policy;
	t->sum = metrics_new();
	return t->sum ? 0 : -1;
}

int
metrics_totals_add(struct metrics_totals *t, const struct resolver *r)
{
	const struct query_stats *s = &r->stats;
	uint64_t h, m;
	size_t entries;

	t->stats.queries += s->queries;
	t->stats.dropped += s->dropped;
	t->stats.formerr += s->formerr;
	t->stats.notimp += s->notimp;
	t->stats.refused += s->refused;
	t->stats.servfail += s->servfail;
	t->stats.policy_allow += s->policy_allow;
	t->stats.policy_deny += s->policy_deny;
	t->stats.recursions += s->recursions;
	t->stats.recursions_joined += s->recursions_joined;
	t->stats.recursions_limited += s->recursions_limited;
	t->stats.recursion_timeouts += s->recursion_timeouts;
	t->stats.rate_limited += s->rate_limited;
	t->stats.rate_slipped += s->rate_slipped;
	t->stats.tcp_refused += s->tcp_refused;
	t->stats.tcp_evicted += s->tcp_evicted;
	t->stats.tsig_errors += s->tsig_errors;
	t->stats.identity_refused += s->identity_refused;
	uint64_t dh, dm;
	resolver_cache_stats(r, &entries, &h, &m, &dh, &dm);
	t->answer_hits += h;
	t->answer_misses += m;
	t->answer_entries += entries;
	t->decision_hits += dh;
	t->decision_misses += dm;
	t->in_flight += r->ninflight;
	uint64_t *wq = realloc(t->worker_queries, (t->nworkers + 1) * sizeof(*wq));
	if (!wq)
		return -1;
	t->worker_queries = wq;
	wq[t->nworkers++] = s->queries;
	return t->sum ? metrics_merge(t->sum, r->metrics) : -1;
}

void
metrics_totals_free(struct metrics_totals *t)
{
	metrics_free(t->sum);
	free(t->worker_queries);
	memset(t, 0, sizeof(*t));
}

/* A label value in the exposition format: backslash, quote and newline escaped. */
static void
write_label(struct evbuffer *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			evbuffer_add_printf(out, "\\%c", *s);
		else if (*s == '\n')
			evbuffer_add(out, "\\n", 2);
		else
			evbuffer_add(out, s, 1);
	}
}

static void
family(struct evbuffer *out, const char *name, const char *type, const char *help)
{
	evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
counter(struct evbuffer *out, const char *name, const char *help, uint64_t v)
{
	family(out, name, "counter", help);
	evbuffer_add_printf(out, "%s %llu\n", name, (unsigned long long)v);
}

static void
gauge(struct evbuffer *out, const char *name, const char *help, double v)
{
	family(out, name, "gauge", help);
	evbuffer_add_printf(out, "%s %.17g\n", name, v);
}

void
metrics_write(const struct metrics *main_m, const struct metrics_totals *tot, struct evbuffer *out)
{
	const struct metrics *m = tot->sum;
	const struct query_stats *st = &tot->stats;

	family(out, "resolverd_answers_total", "counter", "Answers sent, by transport, question type and RCODE.");
	for (int tcp = 0; tcp < 2; tcp++)
		for (size_t t = 0; t <= NQTYPES; t++)
			for (int rc = 0; rc < 16; rc++)
				if (m->answers[tcp][t][rc])
					evbuffer_add_printf(out,
					                    "resolverd_answers_total{transport=\"%s\",qtype=\"%s\",rcode=\"%s\"} %llu\n",
					                    tcp ? "tcp" : "udp", t < NQTYPES ? qtypes[t].name : "other",
					                    rcodes[rc], (unsigned long long)m->answers[tcp][t][rc]);
	counter(out, "resolverd_queries_total", "Queries received (UDP and TCP).", st->queries);
	family(out, "resolverd_worker_queries_total", "counter", "Queries received, by worker thread.");
	for (size_t i = 0; i < tot->nworkers; i++)
		evbuffer_add_printf(out, "resolverd_worker_queries_total{worker=\"%zu\"} %llu\n", i,
		                    (unsigned long long)tot->worker_queries[i]);
	counter(out, "resolverd_dropped_total", "Queries dropped without an answer: no header, QR=1, too big.", st->dropped);
	family(out, "resolverd_decisions_total", "counter", "Policy decisions, by action and reason.");
	for (int allow = 0; allow < 2; allow++)
		for (size_t i = 0; i < NREASONS; i++)
			evbuffer_add_printf(out, "resolverd_decisions_total{action=\"%s\",reason=\"%s\"} %llu\n",
			                    allow ? "allow" : "deny", reasons[i],
			                    (unsigned long long)m->decisions[allow][i]);
	family(out, "resolverd_requester_decisions_total", "counter", "Policy decisions per identified requester.");
	for (size_t i = 0; i < m->requesters_size; i++) {
		const struct requester_count *c = &m->requesters[i];
		if (!c->name)
			continue;
		for (int allow = 0; allow < 2; allow++) {
			evbuffer_add(out, "resolverd_requester_decisions_total{requester=\"", 47);
			write_label(out, c->name);
			evbuffer_add_printf(out, "\",action=\"%s\"} %llu\n", allow ? "allow" : "deny",
			                    (unsigned long long)(allow ? c->allow : c->deny));
		}
	}
	counter(out, "resolverd_unidentified_decisions_total",
	        "Policy decisions for requesters that are not identified (always deny).",
	        m->unidentified_decisions);
	family(out, "resolverd_rule_hits_total", "counter", "Decisions made by each rule (rules.id).");
	for (size_t i = 0; i < m->rules.size; i++)
		if (m->rules.slots[i].id)
			evbuffer_add_printf(out, "resolverd_rule_hits_total{rule=\"%lld\"} %llu\n",
			                    (long long)m->rules.slots[i].id,
			                    (unsigned long long)m->rules.slots[i].hits);
	family(out, "resolverd_dry_run_would_total", "counter",
	       "Decisions a dry-run rule would have changed, by rule.");
	for (size_t i = 0; i < m->would.size; i++)
		if (m->would.slots[i].id)
			evbuffer_add_printf(out, "resolverd_dry_run_would_total{rule=\"%lld\"} %llu\n",
			                    (long long)m->would.slots[i].id,
			                    (unsigned long long)m->would.slots[i].hits);
	family(out, "resolverd_cache_hits_total", "counter", "Cache hits, by cache.");
	evbuffer_add_printf(out, "resolverd_cache_hits_total{cache=\"answer\"} %llu\n",
	                    (unsigned long long)tot->answer_hits);
	evbuffer_add_printf(out, "resolverd_cache_hits_total{cache=\"decision\"} %llu\n",
	                    (unsigned long long)tot->decision_hits);
	family(out, "resolverd_cache_misses_total", "counter", "Cache misses, by cache.");
	evbuffer_add_printf(out, "resolverd_cache_misses_total{cache=\"answer\"} %llu\n",
	                    (unsigned long long)tot->answer_misses);
	evbuffer_add_printf(out, "resolverd_cache_misses_total{cache=\"decision\"} %llu\n",
	                    (unsigned long long)tot->decision_misses);
	gauge(out, "resolverd_answer_cache_entries", "Answers in the answer caches (one per worker).",
	      (double)tot->answer_entries);
	counter(out, "resolverd_upstream_lookups_total", "Lookups sent to the upstream (cache misses).", st->recursions);
	counter(out, "resolverd_upstream_joined_total", "Queries that waited for a lookup already in flight.", st->recursions_joined);
	counter(out, "resolverd_upstream_limited_total", "SERVFAIL at once: recursion-max-outstanding or -per-source.", st->recursions_limited);
	counter(out, "resolverd_upstream_timeouts_total", "SERVFAIL after recursion-timeout.", st->recursion_timeouts);
	gauge(out, "resolverd_upstream_in_flight", "Upstream lookups in flight.", (double)tot->in_flight);
	family(out, "resolverd_upstream_latency_seconds", "histogram", "Time from an upstream lookup's start to its answer.");
	uint64_t cum = 0;
	for (size_t b = 0; b < METRICS_LATENCY_BUCKETS; b++) {
		cum += m->latency[b];
		evbuffer_add_printf(out, "resolverd_upstream_latency_seconds_bucket{le=\"%g\"} %llu\n",
		                    latency_bounds[b], (unsigned long long)cum);
	}
	evbuffer_add_printf(out, "resolverd_upstream_latency_seconds_bucket{le=\"+Inf\"} %llu\n",
	                    (unsigned long long)m->latency_count);
	evbuffer_add_printf(out, "resolverd_upstream_latency_seconds_sum %.9f\n", m->latency_sum);
	evbuffer_add_printf(out, "resolverd_upstream_latency_seconds_count %llu\n",
	                    (unsigned long long)m->latency_count);
	counter(out, "resolverd_servfail_total", "SERVFAIL answers made by resolverd.", st->servfail);
	counter(out, "resolverd_refused_total", "REFUSED answers.", st->refused);
	counter(out, "resolverd_formerr_total", "FORMERR answers.", st->formerr);
	counter(out, "resolverd_notimp_total", "NOTIMP answers.", st->notimp);
	counter(out, "resolverd_tsig_errors_total", "Queries with a bad TSIG (FORMERR, BADKEY, BADSIG, BADTIME, BADTRUNC).", st->tsig_errors);
	counter(out, "resolverd_identity_refused_total", "Queries REFUSED for a weaker identity than the domain requires.", st->identity_refused);
	counter(out, "resolverd_rate_limited_total", "UDP answers dropped by rate limiting.", st->rate_limited);
	counter(out, "resolverd_rate_slipped_total", "UDP answers sent truncated by rate limiting.", st->rate_slipped);
	gauge(out, "resolverd_tcp_connections", "TCP connections open.", m->tcp_open);
	counter(out, "resolverd_tcp_refused_total", "TCP connections closed at once: tcp-max-per-source.", st->tcp_refused);
	counter(out, "resolverd_tcp_evicted_total", "TCP connections closed to admit a new one.", st->tcp_evicted);
	counter(out, "resolverd_policy_reloads_total", "Policy snapshots loaded since start.", main_m->reloads);
	counter(out, "resolverd_policy_reload_failures_total", "Policy reloads that failed.", main_m->reload_failures);
	gauge(out, "resolverd_policy_served_serial", "The policy serial answers are made from.",
	      (double)tot->policy->serial);
	gauge(out, "resolverd_policy_database_serial", "The serial last read from the database.",
	      (double)main_m->db_serial);
	if (main_m->hook) {
		counter(out, "resolverd_policy_zone_hook_failures_total",
		        "policy-zone writes or commands that failed (each is tried again).", main_m->hook_failures);
		gauge(out, "resolverd_policy_zone_published_serial",
		      "The policy serial the policy-zone command last published (-1 none).",
		      (double)main_m->hook_published);
	}
	if (main_m->xfr) {
		counter(out, "resolverd_policy_xfr_transfers_total", "Policy zone transfers that changed the policy.",
		        main_m->xfr_transfers);
		counter(out, "resolverd_policy_xfr_failures_total",
		        "Policy zone checks or transfers that failed or were refused (the last good policy stays).",
		        main_m->xfr_failures);
		gauge(out, "resolverd_policy_xfr_last_success_seconds",
		      "When a transfer check last succeeded (Unix time; 0 never).", main_m->xfr_last_success);
		gauge(out, "resolverd_policy_xfr_serial", "The policy zone serial held (-1 none).",
		      (double)main_m->xfr_serial);
		gauge(out, "resolverd_policy_xfr_last_records", "Records the last transfer carried.",
		      (double)main_m->xfr_records);
	}
	gauge(out, "resolverd_policy_domains", "Community domains in the served policy.", (double)tot->policy->ndomains);
	gauge(out, "resolverd_policy_rules", "Rules in the served policy.", (double)tot->policy->nrules);
}

/* GET /metrics */
static void
serve_metrics(struct evhttp_request *req, void *arg)
{
	const struct metrics *m = arg;
	struct evbuffer *out = evbuffer_new();

	if (!out || evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
		evhttp_send_error(req, out ? 405 : 500, NULL);
		if (out)
			evbuffer_free(out);
		return;
	}
	m->scrape(out, m->scrape_arg);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	                  "text/plain; version=0.0.4; charset=utf-8");
	evhttp_send_reply(req, 200, "OK", out);
	evbuffer_free(out);
}

int
metrics_listen(struct metrics *m, struct event_base *base, metrics_scrape_fn scrape, void *arg,
               const struct options *opt, char *err, size_t errlen)
{
	if (opt->nmetrics_listen == 0)
		return 0;
	m->scrape = scrape;
	m->scrape_arg = arg;
	m->http = evhttp_new(base);
	if (!m->http) {
		snprintf(err, errlen, "metrics: cannot create the HTTP server");
		return -1;
	}
	/* one scrape at a time is plenty; a slow client must not hold memory */
	evhttp_set_timeout(m->http, 10);
	evhttp_set_max_headers_size(m->http, 8192);
	evhttp_set_max_body_size(m->http, 0);
	evhttp_set_allowed_methods(m->http, EVHTTP_REQ_GET);
	evhttp_set_cb(m->http, "/metrics", serve_metrics, m);
	for (size_t i = 0; i < opt->nmetrics_listen; i++) {
		const struct listen_addr *la = &opt->metrics_listen[i];
		int one = 1, fd = socket(la->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
		    bind(fd, (const struct sockaddr *)&la->addr, la->addrlen) != 0 || listen(fd, 16) != 0 ||
		    !evhttp_accept_socket_with_handle(m->http, fd)) {
			snprintf(err, errlen, "metrics-listen %s: %s", la->text, strerror(errno));
			if (fd >= 0)
				close(fd);
			return -1;
		}
		/* as a URL: host:port, an IPv6 address in brackets (RFC 3986 3.2.2) */
		char host[INET6_ADDRSTRLEN] = "";
		const struct sockaddr_in *in4 = (const struct sockaddr_in *)&la->addr;
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&la->addr;
		bool v6 = la->addr.ss_family == AF_INET6;
		inet_ntop(la->addr.ss_family, v6 ? (const void *)&in6->sin6_addr : (const void *)&in4->sin_addr,
		          host, sizeof(host));
		log_info("metrics on http://%s%s%s:%u/metrics", v6 ? "[" : "", host, v6 ? "]" : "",
		         (unsigned)ntohs(v6 ? in6->sin6_port : in4->sin_port));
	}
	return 0;
}
