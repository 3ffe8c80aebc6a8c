/*
 * options.h -- resolverd's configuration: the file format, defaults and checks.
 *
 * Every option is described once in a table in options.c (name, kind,
 * default, range); the parser, the defaults and `resolverd -h` come from it.
 */
#ifndef OPTIONS_H
#define OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "netaddr.h"

enum sink_mode { SINK_HOST, SINK_REFUSE, SINK_LISTENER };
enum unknown_peer { UNKNOWN_PEER_DENY, UNKNOWN_PEER_PASS };

struct listen_addr {
	struct sockaddr_storage addr;
	socklen_t addrlen;
	char text[64];
};

struct stub_zone {
	char *zone;
	char *addr;   /* ADDR@PORT, as libunbound takes it */
};

struct unbound_option {
	char *name;   /* with the trailing colon, as ub_ctx_set_option wants it */
	char *value;
};

struct options {
	struct listen_addr *listen;
	size_t nlisten;
	char *database;
	char *zone_file;
	enum sink_mode sink_mode;
	char *sink_host;
	int sink_port;
	struct listen_addr *sink_listen;  /* sink-mode listener: where the stream error is served */
	size_t nsink_listen;
	bool police_domain_address;
	int ttl_cap;
	enum unknown_peer unknown_peer;
	bool require_mutual;
	struct netaddr *recursion_acl;
	size_t nrecursion_acl;
	char **forward;
	size_t nforward;
	struct stub_zone *stub;
	size_t nstub;
	char **transparent;
	size_t ntransparent;
	char *trust_anchor_file;
	struct unbound_option *unbound;
	size_t nunbound;
	int edns_buffer_size;
	int tcp_idle_timeout;
	int tcp_max_connections;
	int policy_poll_ms;
	int verbosity;
};

/** Defaults for every option. */
void options_init(struct options *o);
/**
 * Read a config file over the defaults. Returns 0, or -1 with a message
 * "FILE:LINE: what" in err.
 */
int options_read(struct options *o, const char *path, char *err, size_t errlen);
/** Checks that need the whole file (a database and a listen address given, ...). */
int options_check(const struct options *o, char *err, size_t errlen);
void options_free(struct options *o);
/** Print the list of options with their defaults (for -h). */
void options_print_help(void);

#endif
