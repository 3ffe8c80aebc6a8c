/*
 * metrics.h -- counters for Prometheus, served on `metrics-listen` at
 * /metrics in the text exposition format (version 0.0.4) with libevent's
 * evhttp.
 *
 * The counting functions run on the loop thread for every query and only
 * add to arrays and small hash tables: no allocation once a requester or
 * rule has been seen. Counters are kept by requester name and rule id, not
 * by snapshot index, so that they keep counting across policy reloads as
 * Prometheus counters must. Loop thread only.
 */
#ifndef METRICS_H
#define METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct event_base;
struct evbuffer;
struct options;
struct policy;
struct policy_verdict;
struct resolver;

struct metrics;

/** The buckets of the upstream latency histogram, in seconds. */
#define METRICS_LATENCY_BUCKETS 12

/**
 * Counters, all zero. NULL on no memory. Free with metrics_free().
 */
struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);

/**
 * Serve /metrics on every address of opt->metrics_listen (ADDR@PORT) on
 * base; r is read at each scrape (its statistics, snapshot, caches). Call
 * before the privilege drop (the port may be privileged). Returns 0, or -1
 * with a message naming the address in err.
 */
int metrics_listen(struct metrics *m, struct event_base *base, const struct resolver *r,
                   const struct options *opt, char *err, size_t errlen);

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
 * The policy transfer's state (policy-source xfr, xfr.h), set by main;
 * without a call the resolverd_policy_xfr_* metrics are not written.
 */
void metrics_xfr(struct metrics *m, uint64_t transfers, uint64_t failures, int64_t serial,
                 time_t last_success, uint64_t records);

/**
 * Append the whole exposition to out (a libevent evbuffer, grown as
 * needed: one line per requester and per rule seen). For the HTTP handler
 * and the control socket's stats.
 */
void metrics_write(const struct metrics *m, const struct resolver *r, struct evbuffer *out);

/** TCP connections open now, for the gauge (set by the server). */
void metrics_tcp_connections(struct metrics *m, unsigned open);

#endif
