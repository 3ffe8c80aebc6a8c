/*
 * server.h -- the network side: UDP and TCP listeners on the libevent loop.
 */
#ifndef SERVER_H
#define SERVER_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct resolver;
struct options;

struct server;

/**
 * Open every configured listen address (UDP and TCP, and DNS over TLS) and
 * register them on base, answering with r. reuseport: one worker of several,
 * each with its own sockets on the same addresses (SO_REUSEPORT; the kernel
 * spreads datagrams and connections over them by a hash of the client's
 * address and port); false binds as a single process does, so that an
 * address already in use fails. NULL with a message in err (which address,
 * why). Everything made here belongs to the thread that runs base.
 */
/**
 * Whether every listen and tls-listen address is free of other processes,
 * checked before the workers bind: workers share an address with
 * SO_REUSEPORT, which would also let a second resolverd (the same user)
 * join it and answer half the queries from its own policy. 0, or -1 with
 * the address and the reason in err. Main thread, before server_new().
 */
int server_addresses_free(const struct options *opt, char *err, size_t errlen);

struct server *server_new(struct event_base *base, struct resolver *r, const struct options *opt,
                          bool reuseport, char *err, size_t errlen);
/** Close sockets and connections. Pending answers for closed connections are dropped. */
void server_free(struct server *s);

#endif
