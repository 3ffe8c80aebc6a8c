/*
 * metrics.h -- counters for Prometheus, served on `metrics-listen` at
 * /metrics in the text exposition format (version 0.0.4) with libevent's
 * evhttp.
 *
 * Each worker counts into its own struct metrics (its resolver's): the
 * counting functions run on that worker's loop for every query and only add
 * to arrays and small hash tables, with no lock and no allocation once a
 * requester or rule has been seen. Counters are kept by requester name and
 * rule id, not by snapshot index, so that they keep counting across policy
 * reloads as Prometheus counters must.
 *
 * A scrape (HTTP on main's loop, or the control socket's stats) shows the
 * sum over the workers: main pauses one worker at a time
 * (workers_pause_one), merges its counters into a struct metrics_totals
 * (metrics_totals_add), lets it go on, and writes the exposition from the
 * totals. The counters are therefore neither atomics nor read while being
 * written: each worker's pause lasts the merge of its own counters (a copy
 * of arrays and one pass over its requester and rule tables), and each
 * worker's share is exact. Main's own struct metrics holds the HTTP
 * listener and the policy watcher's counters.
 */
#ifndef METRICS_H
#define METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "resolver.h"

struct event_base;
struct evbuffer;
struct options;
struct policy;
struct policy_verdict;
struct resolver;

struct metrics;

/** What one scrape shows, summed over the workers. Main thread. */
struct metrics_totals {
	struct metrics *sum;          /* the workers' counters merged; made by metrics_totals_init */
	struct query_stats stats;
	uint64_t answer_hits, answer_misses, decision_hits, decision_misses;
	size_t answer_entries, in_flight;
	uint64_t *worker_queries;     /* queries of worker i, i < nworkers */
	size_t nworkers;
	const struct policy *policy;  /* the snapshot main serves (the workers' once they took it) */
};

/** Empty totals for policy. 0, or -1 on no memory. */
int metrics_totals_init(struct metrics_totals *t, const struct policy *policy);
/**
 * Add worker r's counters, statistics and cache figures (r is not written).
 * Only while r's worker is paused, or from r's own thread. 0, or -1 on no
 * memory (the totals then miss some requesters or rules).
 */
int metrics_totals_add(struct metrics_totals *t, const struct resolver *r);
/** Free what the totals hold. */
void metrics_totals_free(struct metrics_totals *t);

/**
 * Write the exposition (the HTTP handler, the control socket's stats):
 * main's metrics m are called back to fill out with it.
 */
typedef void (*metrics_scrape_fn)(struct evbuffer *out, void *arg);

/** The buckets of the upstream latency histogram, in seconds. */
#define METRICS_LATENCY_BUCKETS 12

/**
 * Counters, all zero. NULL on no memory. Free with metrics_free().
 */
struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);

/**
 * Serve /metrics on every address of opt->metrics_listen (ADDR@PORT) on
 * base (main's loop); each GET calls scrape(out, arg) for the body. Call
 * before the privilege drop (the port may be privileged). Returns 0, or -1
 * with a message naming the address in err.
 */
int metrics_listen(struct metrics *m, struct event_base *base, metrics_scrape_fn scrape,
                   void *arg, const struct options *opt, char *err, size_t errlen);

/**
 * One answer sent: its transport, question type and RCODE (the low 4 bits
 * of the header; the extended RCODE is not counted apart).
 */
void metrics_answer(struct metrics *m, bool tcp, uint16_t qtype, unsigned rcode);

/**
 * One policy decision: requester (an index of pol, or POLICY_NONE), its
 * outcome, reason and deciding rule (v->rule_id, 0: none).
 */
void metrics_decision(struct metrics *m, const struct policy *pol, uint32_t requester,
                      const struct policy_verdict *v);

/** One upstream lookup answered after seconds (wall time). */
void metrics_upstream(struct metrics *m, double seconds);

/** The policy watcher's state, set by main from the reload callbacks. */
void metrics_reload(struct metrics *m, uint64_t reloads, uint64_t failures, uint64_t db_serial);

/**
 * The primary's policy-zone hook (zonehook.h), set by main: failed writes
 * and commands, and the serial the command last published (-1 none);
 * without a call the resolverd_policy_zone_* metrics are not written.
 */
void metrics_zone_hook(struct metrics *m, uint64_t failures, int64_t published);

/**
 * The policy transfer's state (policy-source xfr, xfr.h), set by main;
 * without a call the resolverd_policy_xfr_* metrics are not written.
 */
void metrics_xfr(struct metrics *m, uint64_t transfers, uint64_t failures, int64_t serial,
                 time_t last_success, uint64_t records);

/**
 * Append the whole exposition to out (a libevent evbuffer, grown as
 * needed: one line per requester and per rule seen): the counters of t,
 * the policy watcher's of m (main's). For the HTTP handler and the control
 * socket's stats.
 */
void metrics_write(const struct metrics *m, const struct metrics_totals *t, struct evbuffer *out);

/** TCP connections open now, for the gauge (set by the server). */
void metrics_tcp_connections(struct metrics *m, unsigned open);

#endif
