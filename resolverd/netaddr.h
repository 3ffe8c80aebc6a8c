/*
 * netaddr.h -- IPv4/IPv6 addresses and prefixes (CIDR) for requester
 * identification and the targets table.
 *
 * Two parsers: netaddr_parse_cidr() reads what a person types (any form
 * inet_pton takes, host bits cleared; netaddr_unmap() then turns an
 * IPv4-mapped IPv6 prefix into IPv4);
 * netaddr_parse_db() accepts only the canonical text the policy database
 * stores, the same definition dbtools/schema.sql enforces:
 *
 *   ADDR/LEN, or a bare ADDR (a host prefix) where a prefix is wanted;
 *   IPv4 ADDR: four decimal numbers 0-255 without leading zeros;
 *   IPv6 ADDR: RFC 5952 text: lower-case hex, no leading zeros in a group,
 *     "::" for the longest run (the first of equal runs) of two or more zero
 *     groups, no dotted-quad tail; not inside ::ffff:0:0/96 (IPv4-mapped:
 *     written as IPv4 instead);
 *   LEN: decimal without leading zeros, 0-32 or 0-128; host bits zero.
 *
 * Pure functions on caller memory: any thread, no allocation.
 */
#ifndef NETADDR_H
#define NETADDR_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

struct sockaddr;

/** Text of a canonical address with its prefix: 39 + "/128" + NUL, rounded up. */
#define NETADDR_TEXT_MAX 64

/** An address or a prefix. IPv4 is kept in its own family, not mapped. */
struct netaddr {
	int family;        /* AF_INET or AF_INET6 */
	uint8_t prefix;    /* 0..32 or 0..128 (bits) */
	uint8_t addr[16];  /* network byte order; 4 bytes used for IPv4 */
};

/**
 * Parse what a person typed: "ADDR/LEN" or a bare "ADDR" (a host prefix),
 * ADDR in any form inet_pton(3) accepts. Host bits beyond the prefix are
 * cleared. Returns 0 with *out filled, or -1 with *err set to a static
 * message (*out zeroed).
 */
int netaddr_parse_cidr(const char *text, struct netaddr *out, const char **err);

/**
 * An IPv6 prefix of 96 bits or more inside ::ffff:0:0/96 becomes the IPv4
 * prefix it maps (::ffff:192.0.2.1/128 -> 192.0.2.1/32), as resolverd sees
 * an IPv4-mapped source (netaddr_from_sockaddr). Returns true when it did.
 */
bool netaddr_unmap(struct netaddr *a);

/**
 * Parse a value from the policy database: only the canonical text described
 * above. host_only: a single address, no "/LEN" (target addresses). Returns
 * 0 with *out filled, or -1 with *err set to a static message saying what is
 * wrong (not an address, prefix length, host bits set, not canonical,
 * IPv4-mapped) and, when the value means a valid prefix, the canonical text
 * of it in fix (fixlen bytes, NETADDR_TEXT_MAX suffice; "" otherwise).
 */
int netaddr_parse_db(const char *text, bool host_only, struct netaddr *out, const char **err,
                     char *fix, size_t fixlen);

/** Fill *out (host prefix) from a socket address; IPv4-mapped IPv6 becomes IPv4. 0, or -1 for another family. */
int netaddr_from_sockaddr(const struct sockaddr *sa, struct netaddr *out);

/** Canonical text "ADDR/LEN" into buf (len bytes, NETADDR_TEXT_MAX suffice). Returns buf. */
char *netaddr_format(const struct netaddr *a, char *buf, size_t len);

/** Canonical address only, without the prefix, into buf (len bytes, NETADDR_TEXT_MAX suffice). Returns buf. */
char *netaddr_format_addr(const struct netaddr *a, char *buf, size_t len);

#endif
