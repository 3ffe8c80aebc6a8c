/*
 * server.h -- the network side: UDP and TCP listeners on the libevent loop.
 */
#ifndef SERVER_H
#define SERVER_H

#include <stddef.h>

struct event_base;
struct resolver;
struct options;

struct server;

/**
 * Open every configured listen address (UDP and TCP) and register them on
 * base. NULL with a message in err (which address, why).
 */
struct server *server_new(struct event_base *base, struct resolver *r, const struct options *opt,
                          char *err, size_t errlen);
/** Close sockets and connections. Pending answers for closed connections are dropped. */
void server_free(struct server *s);

#endif
