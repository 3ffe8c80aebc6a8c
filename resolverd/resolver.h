/*
 * resolver.h -- the state one worker thread makes answers from.
 *
 * One struct resolver lives in each worker (worker.h) for the whole run.
 * Everything in it is read and written on that worker's event loop thread
 * only, except while main holds every worker paused (workers_pause: SIGHUP,
 * flush, a metrics scrape), and except the learned-target map, which all
 * workers share and which locks itself (targetmap.h). The policy watcher
 * thread never touches it: main hands a new snapshot to each worker's loop,
 * which swaps its pointer. The table below says who sets each field.
 */
#ifndef RESOLVER_H
#define RESOLVER_H

#include <stddef.h>
#include <stdint.h>

#include "recursion.h"

struct options;
struct zone;
struct policy;
struct prefixmap;
struct decision_cache;
struct targetmap;
struct answer_cache;
struct reply_handle;
struct addrcount;
struct rrl;
struct netaddr;
struct metrics;
struct inflight;
struct pending;

/** Counters since start, logged by resolver_stats_log() (SIGUSR1). */
struct query_stats {
	uint64_t queries;        /* every packet handed to query_process() */
	uint64_t dropped;        /* unparseable header, QR=1, oversized datagram */
	uint64_t formerr, notimp, refused, servfail;
	uint64_t policy_allow, policy_deny;  /* decisions of the policy, by outcome */
	uint64_t recursions;     /* lookups handed to the upstream (cache misses) */
	uint64_t recursions_joined;  /* queries that waited for a lookup already in flight */
	uint64_t recursions_limited; /* SERVFAIL at once: recursion-max-outstanding or -per-source */
	uint64_t recursion_timeouts; /* SERVFAIL after recursion-timeout */
	uint64_t rate_limited;       /* UDP answers dropped by rate limiting */
	uint64_t rate_slipped;       /* UDP answers sent truncated by rate limiting */
	uint64_t tcp_refused;    /* TCP connections closed at once: tcp-max-per-source */
	uint64_t tcp_evicted;    /* TCP connections closed to admit a new one */
	uint64_t tsig_errors;    /* queries with a bad TSIG: FORMERR, BADKEY, BADSIG, BADTIME, BADTRUNC */
	uint64_t identity_refused; /* REFUSED: weaker identity than the domain's require_identity */
};

/**
 * How a late answer reaches its client: the transport's functions (server.c
 * sets them in server_new). A struct reply_handle is the transport's own
 * type; query.c only passes pointers to it around.
 */
struct query_transport {
	/**
	 * Keep h for an answer made later (a lookup went upstream). Returns a
	 * copy owned by the transport until reply() is called with it, or NULL
	 * on no memory (the query is then answered SERVFAIL at once).
	 */
	struct reply_handle *(*hold)(void *ctx, const struct reply_handle *h);
	/**
	 * Send pkt (len bytes, 0 < len <= 65535) to the client of held, or
	 * with len == 0 send nothing; either way held is released.
	 */
	void (*reply)(void *ctx, struct reply_handle *held, const uint8_t *pkt, size_t len);
	void *ctx;
};

struct resolver {
	/* set by main before the loop starts, read-only afterwards */
	const struct options *opt;     /* owned by main */
	const struct zone *zone;       /* the clearinghouse zone; owned by main */
	upstream_lookup_fn lookup;     /* recursion_resolve, or a test's fake */
	void *lookup_ctx;              /* its state (struct recursion *); owned by main */
	struct query_transport transport;  /* set by server_new() */

	/* the current policy snapshot, a reference of this worker's: swapped on
	 * the worker's loop when main posts a new one (worker.c); main holds the
	 * old one until every worker let go, so its last free is not here */
	struct policy *policy;

	/* made by resolver_init(), freed by resolver_cleanup(); written by query.c */
	struct prefixmap *recursion_acl;   /* sources allowed to recurse without identity */
	struct decision_cache *decisions;  /* memo of decision(R, P) for the snapshot */
	struct targetmap *learned;         /* SRV target hosts seen upstream -> their peers;
	                                    * shared by the workers (resolver_share_targets) */
	bool learned_shared;               /* learned is not ours to free */
	struct answer_cache *answers;      /* upstream answers ready to send */
	/* hits and misses of the caches replaced since start (SIGHUP, flush):
	 * added to the live caches' so that the counters only go up */
	uint64_t retired_answer_hits, retired_answer_misses;
	uint64_t retired_decision_hits, retired_decision_misses;
	unsigned learning;                 /* target-learning lookups in flight */
	/* upstream lookups in flight, one per (name, type, class, CD): query.c */
	struct inflight **inflight;        /* hash buckets, inflight_buckets of them */
	size_t inflight_buckets, ninflight;
	/* client queries waiting for the upstream, oldest first, and per source */
	struct pending *oldest, *newest;
	struct addrcount *waiting_by_source;
	struct rrl *rrl;                   /* UDP answers per client a second */
	struct metrics *metrics;           /* counters for /metrics and the control socket */
	/*
	 * Policy epoch of this worker: bumped when it swaps the snapshot and on
	 * SIGHUP or flush. A cached answer that holds other names than its
	 * question's is valid in its epoch only: this one plus the learned map's
	 * (targetmap_epoch, bumped by any worker that learns a new target host).
	 */
	uint64_t epoch;
	uint8_t sink_host[255];            /* sink-host in wire format */
	/*
	 * policy-source xfr: a NOTIFY (RFC 1996) for qname (wire, lower case)
	 * from source is handed here; true when it names the policy zone and
	 * comes from its server (the transfer thread then checks at once).
	 * NULL: NOTIFY is NOTIMP like every opcode but QUERY. Set by main.
	 */
	bool (*policy_notify)(void *ctx, const uint8_t *qname, const struct netaddr *source);
	void *policy_notify_ctx;
	struct query_stats stats;          /* written by query.c and server.c; summed by
	                                    * main over the workers while they are paused */
};

/** Most answers the answer cache keeps. */
#define ANSWER_CACHE_MAX 131072
/** Most (target host, peer) pairs the learned-target map keeps; its tables
 * are calloc()ed, so memory is resident only where a community has entries. */
#define LEARNED_TARGETS 262144

/**
 * Zero r and build its derived state from opt (sink name, recursion ACL,
 * caches). opt must outlive r. Returns 0, or -1 with a message in err
 * (errlen bytes): "sink-host ... is not a domain name", "out of memory".
 * The caller then sets zone, policy, lookup and lookup_ctx.
 */
int resolver_init(struct resolver *r, const struct options *opt, char *err, size_t errlen);

/**
 * After the options changed (SIGHUP): build again what is derived from them
 * (sink name, recursion ACL, rate limiter) and forget cached decisions.
 * Returns 0, or -1 with a message in err; on error the old state stays.
 * Loop thread.
 */
int resolver_reconfigure(struct resolver *r, char *err, size_t errlen);

/**
 * Police with m, the learned-target map every worker shares (owned by the
 * caller, outliving r), instead of r's own, which is freed. Main thread,
 * before r's loop runs.
 */
void resolver_share_targets(struct resolver *r, struct targetmap *m);

/**
 * Forget every cached answer: fresh takes the place of r->answers (whose
 * hits and misses are kept in the retired counters). The owning thread, or
 * main while r's worker is paused.
 */
void resolver_replace_answers(struct resolver *r, struct answer_cache *fresh);

/**
 * The caches' hits and misses since start (the live caches' and the
 * retired ones'), and the answers held now. Same threads as above.
 */
void resolver_cache_stats(const struct resolver *r, size_t *answer_entries, uint64_t *answer_hits,
                          uint64_t *answer_misses, uint64_t *decision_hits, uint64_t *decision_misses);

/** Free what resolver_init() made (not the policy, zone, lookup state or a shared map). */
void resolver_cleanup(struct resolver *r);

/** Log the counters and the caches' hit rates at info level (the worker's own, or paused). */
void resolver_stats_log(const struct resolver *r);
/**
 * The same line from counts summed over the workers: in_flight lookups,
 * the serial served, decision cache hits and misses (dh, dm), answer cache
 * hits, misses and entries (ah, am, entries).
 */
void resolver_stats_log_counts(const struct query_stats *st, size_t in_flight, uint64_t serial,
                               uint64_t dh, uint64_t dm, uint64_t ah, uint64_t am, size_t entries);

#endif
