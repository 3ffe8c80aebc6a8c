/*
 * options.h -- resolverd's configuration: the file format, defaults and checks.
 *
 * Every option is described once in a table in options.c (name, kind,
 * default, range, help); options_init() sets the defaults from it, the
 * parser reads the file by it, and `resolverd -h` prints it, defaults
 * included. The file is "keyword: value" lines, '#' starts a comment.
 * Read once at start on the main thread; read-only afterwards.
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
	char *control_socket;
	char *decision_log;     /* JSON lines of every decision; NULL: none */   /* unix socket for resolverd-control; NULL: none */
	struct listen_addr *tls_listen;   /* DNS over TLS (RFC 7858); none: off */
	size_t ntls_listen;
	char *tls_cert, *tls_key, *tls_client_ca, *tls_crl;
	int tls_max_handshakes;
	struct listen_addr *metrics_listen;  /* Prometheus /metrics over HTTP; none: off */
	size_t nmetrics_listen;
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
	char *username;      /* NULL: not set */
	char *chroot_dir;    /* NULL: no chroot */
	char *trust_anchor_file;
	char *auto_trust_anchor_file;
	struct unbound_option *unbound;
	size_t nunbound;
	int edns_buffer_size;
	int tcp_idle_timeout;
	int tcp_initial_timeout;
	int tcp_max_connections;
	int tcp_max_per_source;
	int tcp_max_pending_output;
	int policy_poll_ms;
	char *policy_source;     /* "xfr ADDR[@PORT] KEY"; NULL: the database is edited here */
	char *policy_zone_apex;  /* the policy zone's name, for policy-source xfr */
	int policy_xfr_refresh;  /* s between transfer checks; 0: the SOA's refresh and retry */
	char *policy_zone;       /* "APEX FILE [COMMAND]": publish the policy as a zone; NULL: no */
	int verbosity;
	int recursion_max_outstanding;
	int recursion_max_per_source;
	int recursion_timeout;
	int rate_limit;
	int rate_limit_identified;
	int rate_limit_slip;
	int log_rate_limit;
	int threads;            /* worker threads; 0: one per CPU online (options_threads) */
};

/**
 * Zero o and set every option's default from the table. Returns 0, or -1
 * on no memory (string defaults are strdup()ed). Free with options_free().
 */
int options_init(struct options *o);
/**
 * Read the config file at path over what o holds. Strings and lists are
 * malloc()ed and owned by o. Every bad line is reported, not only the
 * first: each is logged at error level ("config: FILE:LINE: what") and the
 * rest of the file is still read. Returns 0, or -1 with the first message
 * ("FILE:LINE: what", or "FILE: strerror") in err (errlen bytes), followed
 * by how many more there were.
 */
int options_read(struct options *o, const char *path, char *err, size_t errlen);
/**
 * Checks that need the whole file: a listen address, a database and a zone
 * file given, a sink-listen address for sink-mode listener, and no two
 * listen or sink-listen addresses start-up could not both bind (the same
 * address and port, or a wildcard and another address of its family on the
 * same port; addresses are not bound here). Each problem is logged at
 * error level; 0, or -1 with the first message in err (errlen bytes).
 * Main thread.
 */
int options_check(const struct options *o, char *err, size_t errlen);
/**
 * The number of worker threads o asks for: `threads`, or with 0 (the
 * default) the CPUs online (sysconf(_SC_NPROCESSORS_ONLN)), at least 1.
 */
int options_threads(const struct options *o);
/** Free everything o owns; o may be passed to options_init() again. */
void options_free(struct options *o);
/** Print every keyword with its help and its default to stdout (for -h). */
void options_print_help(void);

/**
 * "ADDR@PORT" (or "ADDR", port 53), IPv4 or IPv6, to a socket address in
 * *ss, its length in *len. 0, -1 when it is not such text, -2 for a port
 * outside 1-65535. Any thread.
 */
int options_parse_addr_port(const char *v, struct sockaddr_storage *ss, socklen_t *len);

#endif
