/*
 * netaddr.h -- IPv4/IPv6 addresses and prefixes (CIDR) for requester
 * identification.
 */
#ifndef NETADDR_H
#define NETADDR_H

#include <stdint.h>
#include <stddef.h>

struct sockaddr;

/** An address or a prefix. IPv4 is kept in its own family, not mapped. */
struct netaddr {
	int family;        /* AF_INET or AF_INET6 */
	uint8_t prefix;    /* 0..32 or 0..128 */
	uint8_t addr[16];  /* network byte order; 4 bytes used for IPv4 */
};

/**
 * Parse "ADDR/LEN" or a bare "ADDR" (a host prefix). Host bits beyond the
 * prefix are cleared. Returns 0, or -1 with *err set to a static message.
 */
int netaddr_parse_cidr(const char *text, struct netaddr *out, const char **err);

/** Fill *out (host prefix) from a socket address; IPv4-mapped IPv6 becomes IPv4. */
int netaddr_from_sockaddr(const struct sockaddr *sa, struct netaddr *out);

/** Canonical text "ADDR/LEN" into buf (at least 50 bytes). Returns buf. */
char *netaddr_format(const struct netaddr *a, char *buf, size_t len);

/** Address only (no prefix) into buf (at least 46 bytes). Returns buf. */
char *netaddr_format_addr(const struct netaddr *a, char *buf, size_t len);

#endif
