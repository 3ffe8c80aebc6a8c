/*
 * query.h -- what resolverd answers: one query in, one decision out.
 *
 * query_process() runs the pipeline of PRODUCT.md "What resolverd answers":
 * header checks, requester identification, own zone, XMPP policy, recursion.
 * It answers synchronously into the caller's buffer when it can, or hands the
 * query to libunbound and replies later through the resolver's reply function.
 */
#ifndef QUERY_H
#define QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "netaddr.h"

struct options;
struct zone;
struct policy;
struct recursion;
struct tcp_conn;
struct decision_cache;
struct targetmap;
struct answer_cache;

/** Where an answer goes: a UDP socket and peer, or a TCP connection. */
struct reply_handle {
	int fd;                        /* UDP socket, or -1 for TCP */
	struct sockaddr_storage peer;
	socklen_t peerlen;
	struct tcp_conn *conn;         /* TCP; the server keeps it alive while referenced */
	/* UDP on a wildcard address: the address the query came to, to answer from */
	int local_family;              /* 0: none (the socket's own address is used) */
	uint8_t local_addr[16];
	int local_ifindex;
};

/** Send an answer (len > 0) or just release the handle (len == 0). */
typedef void (*reply_fn)(const struct reply_handle *h, const uint8_t *pkt, size_t len);

/** Counters, logged by query_stats_log() (SIGUSR1). */
struct query_stats {
	uint64_t queries, dropped, formerr, notimp, refused, policy_allow, policy_deny,
	    recursions, servfail;
};

/** The state queries are answered from; owned by main. */
struct resolver {
	const struct options *opt;
	const struct zone *zone;
	struct policy *policy;         /* current snapshot; swapped by the reload code */
	struct recursion *rec;
	struct prefixmap *recursion_acl;
	struct decision_cache *decisions; /* memo of decision(R, P) for the snapshot */
	struct targetmap *learned;     /* SRV target hosts seen upstream -> their peers */
	struct answer_cache *answers;  /* upstream answers ready to send */
	unsigned learning;             /* target-learning lookups in flight */
	reply_fn reply;
	uint8_t sink_host[255];        /* wire */
	struct query_stats stats;
};

enum query_result { QUERY_DROP, QUERY_ANSWERED, QUERY_PENDING };

/**
 * Process one query packet from source. On QUERY_ANSWERED the answer is in
 * out (*outlen bytes). On QUERY_PENDING the reply comes later through
 * r->reply with handle h. tcp selects the size limit (65535 vs EDNS/512).
 */
enum query_result query_process(struct resolver *r, const uint8_t *pkt, size_t len,
                                const struct netaddr *source, bool tcp,
                                const struct reply_handle *h, uint8_t *out, size_t outcap,
                                size_t *outlen);

/** Log the counters and the caches' hit rates at info level. */
void query_stats_log(const struct resolver *r);

/** Build the resolver's derived state (sink name, ACL). 0 or -1 with err. */
int resolver_init(struct resolver *r, const struct options *opt, char *err, size_t errlen);
void resolver_cleanup(struct resolver *r);

#endif
