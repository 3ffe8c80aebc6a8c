/*
 * rrl.h -- response rate limiting: how many UDP answers a second one client
 * gets, so that an open UDP port is no amplifier and one client cannot take
 * the server's time from the rest.
 *
 * Clients are counted by prefix when they are not identified (an IPv4 /24,
 * an IPv6 /56, as BIND's RRL does: an attacker spoofing a whole prefix is
 * one client) and by address when they are (a community server, with its
 * own, higher limit). Each has a token bucket refilled at the rate. Over
 * the limit, every slip-th answer goes out truncated (TC=1, nothing else:
 * a real client retries over TCP, which cannot be spoofed) and the others
 * are dropped. Loop thread only.
 */
#ifndef RRL_H
#define RRL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "netaddr.h"

enum rrl_verdict {
	RRL_PASS,   /* answer as usual */
	RRL_SLIP,   /* answer truncated: TC=1, no records */
	RRL_DROP,   /* no answer */
};

struct rrl;

/**
 * A limiter keeping at most max_clients buckets (the least recently used
 * is reused when a new client needs room). rate: answers a second to an
 * unidentified prefix, rate_identified: to an identified address; 0 means
 * no limit. slip: every slip-th answer over the limit is truncated instead
 * of dropped (0: drop all, 1: truncate all). NULL on no memory.
 */
struct rrl *rrl_new(size_t max_clients, unsigned rate, unsigned rate_identified, unsigned slip);
void rrl_free(struct rrl *r);

/**
 * Count one answer to source at now_ms (milliseconds, monotonic) and say
 * what to do with it.
 */
enum rrl_verdict rrl_check(struct rrl *r, const struct netaddr *source, bool identified,
                           uint64_t now_ms);

#endif
