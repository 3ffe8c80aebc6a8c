/*
 * netaddr.c -- parsing and printing of addresses and prefixes.
 */
#include "config.h"
#include "netaddr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int
netaddr_parse_cidr(const char *text, struct netaddr *out, const char **err)
{
	char buf[64];
	const char *slash = strchr(text, '/');
	size_t alen = slash ? (size_t)(slash - text) : strlen(text);
	int maxlen;
	long plen;

	memset(out, 0, sizeof(*out));
	if (alen == 0 || alen >= sizeof(buf)) {
		*err = "invalid address";
		return -1;
	}
	memcpy(buf, text, alen);
	buf[alen] = '\0';
	if (inet_pton(AF_INET, buf, out->addr) == 1) {
		out->family = AF_INET;
		maxlen = 32;
	} else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
		out->family = AF_INET6;
		maxlen = 128;
	} else {
		*err = "invalid address";
		return -1;
	}
	plen = maxlen;
	if (slash) {
		char *end;
		if (slash[1] < '0' || slash[1] > '9') {
			*err = "invalid prefix length";
			return -1;
		}
		plen = strtol(slash + 1, &end, 10);
		if (*end != '\0' || plen < 0 || plen > maxlen) {
			*err = "invalid prefix length";
			return -1;
		}
	}
	out->prefix = (uint8_t)plen;
	/* clear host bits so that equal prefixes compare equal */
	for (int bit = (int)plen; bit < maxlen; bit++)
		out->addr[bit / 8] &= (uint8_t)~(0x80u >> (bit % 8));
	return 0;
}

int
netaddr_from_sockaddr(const struct sockaddr *sa, struct netaddr *out)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	memset(out, 0, sizeof(*out));
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		out->family = AF_INET;
		out->prefix = 32;
		memcpy(out->addr, &in->sin_addr, 4);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		if (memcmp(&in6->sin6_addr, mapped, 12) == 0) {
			out->family = AF_INET;
			out->prefix = 32;
			memcpy(out->addr, (const uint8_t *)&in6->sin6_addr + 12, 4);
			return 0;
		}
		out->family = AF_INET6;
		out->prefix = 128;
		memcpy(out->addr, &in6->sin6_addr, 16);
		return 0;
	}
	return -1;
}

char *
netaddr_format_addr(const struct netaddr *a, char *buf, size_t len)
{
	if (!inet_ntop(a->family, a->addr, buf, (socklen_t)len))
		snprintf(buf, len, "?");
	return buf;
}

char *
netaddr_format(const struct netaddr *a, char *buf, size_t len)
{
	char addr[INET6_ADDRSTRLEN];
	snprintf(buf, len, "%s/%u", netaddr_format_addr(a, addr, sizeof(addr)), a->prefix);
	return buf;
}
