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

static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

/*
 * Split "ADDR[/LEN]" and read ADDR with inet_pton. *plen is -1 without
 * "/LEN"; with one it must be decimal digits within the family's length.
 * *lead_zero: LEN has a leading zero. Host bits are left as written.
 */
static int
parse_raw(const char *text, struct netaddr *out, int *plen, int *lead_zero, const char **err)
{
	char buf[64];
	const char *slash = strchr(text, '/');
	size_t alen = slash ? (size_t)(slash - text) : strlen(text);
	int maxlen;

	memset(out, 0, sizeof(*out));
	*plen = -1;
	*lead_zero = 0;
	if (alen == 0 || alen >= sizeof(buf)) {
		*err = "not an IPv4 or IPv6 address";
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
		*err = "not an IPv4 or IPv6 address";
		return -1;
	}
	out->prefix = (uint8_t)maxlen;
	if (!slash)
		return 0;
	const char *d = slash + 1;
	long v = 0;
	size_t n = strspn(d, "0123456789");
	if (n == 0 || n > 3 || d[n] != '\0') {
		*err = "invalid prefix length";
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		v = v * 10 + (d[i] - '0');
	if (v > maxlen) {
		*err = "invalid prefix length";
		return -1;
	}
	*lead_zero = n > 1 && d[0] == '0';
	*plen = (int)v;
	out->prefix = (uint8_t)v;
	return 0;
}

/* Clear the bits after the prefix; true if any was set. */
static bool
clear_host_bits(struct netaddr *a)
{
	int maxlen = a->family == AF_INET ? 32 : 128;
	bool set = false;

	for (int bit = a->prefix; bit < maxlen; bit++) {
		uint8_t mask = (uint8_t)(0x80u >> (bit % 8));
		set = set || (a->addr[bit / 8] & mask);
		a->addr[bit / 8] &= (uint8_t)~mask;
	}
	return set;
}

/* Whether an IPv6 prefix lies inside ::ffff:0:0/96 (an IPv4-mapped address). */
static bool
is_mapped(const struct netaddr *a)
{
	return a->family == AF_INET6 && a->prefix >= 96 && memcmp(a->addr, v4mapped, 12) == 0;
}

int
netaddr_parse_cidr(const char *text, struct netaddr *out, const char **err)
{
	int plen, lead_zero;

	if (parse_raw(text, out, &plen, &lead_zero, err) != 0) {
		memset(out, 0, sizeof(*out));
		return -1;
	}
	clear_host_bits(out);
	return 0;
}

bool
netaddr_unmap(struct netaddr *a)
{
	if (!is_mapped(a))
		return false;
	memmove(a->addr, a->addr + 12, 4);
	memset(a->addr + 4, 0, 12);
	a->family = AF_INET;
	a->prefix = (uint8_t)(a->prefix - 96);
	return true;
}

int
netaddr_parse_db(const char *text, bool host_only, struct netaddr *out, const char **err,
                 char *fix, size_t fixlen)
{
	char canon[NETADDR_TEXT_MAX];
	int plen, lead_zero;

	if (fixlen > 0)
		fix[0] = '\0';
	if (parse_raw(text, out, &plen, &lead_zero, err) != 0)
		return -1;
	if (host_only && plen >= 0) {
		*err = "a single address here, without a prefix length";
		snprintf(fix, fixlen, "%s", netaddr_format_addr(out, canon, sizeof(canon)));
		return -1;
	}
	bool host_bits = clear_host_bits(out);
	if (is_mapped(out)) {
		struct netaddr v4 = *out;
		netaddr_unmap(&v4);
		*err = "an IPv4-mapped IPv6 address: write it as IPv4";
		snprintf(fix, fixlen, "%s", plen < 0 || host_only ? netaddr_format_addr(&v4, canon, sizeof(canon))
		                                                  : netaddr_format(&v4, canon, sizeof(canon)));
		return -1;
	}
	const char *want = plen < 0 ? netaddr_format_addr(out, canon, sizeof(canon))
	                            : netaddr_format(out, canon, sizeof(canon));
	if (host_bits) {
		*err = "host bits set after the prefix length";
		snprintf(fix, fixlen, "%s", want);
		return -1;
	}
	if (strcmp(want, text) != 0) {
		*err = lead_zero ? "invalid prefix length" : "not in canonical form";
		snprintf(fix, fixlen, "%s", want);
		return -1;
	}
	return 0;
}

int
netaddr_from_sockaddr(const struct sockaddr *sa, struct netaddr *out)
{
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
		if (memcmp(&in6->sin6_addr, v4mapped, 12) == 0) {
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

/*
 * RFC 5952 text of an IPv6 address: lower-case hex groups without leading
 * zeros, "::" for the longest run of two or more zero groups (the first of
 * equal runs), and never a dotted-quad tail (inet_ntop writes one for some
 * addresses), so that the text is the same on every system.
 */
static void
format6(const uint8_t *a, char *buf, size_t len)
{
	unsigned g[8];
	int best = -1, bestlen = 0;
	size_t o = 0;

	for (int i = 0; i < 8; i++)
		g[i] = (unsigned)a[2 * i] << 8 | a[2 * i + 1];
	for (int i = 0; i < 8;) {
		int j = i;
		while (j < 8 && g[j] == 0)
			j++;
		if (j - i > bestlen && j - i >= 2) {
			best = i;
			bestlen = j - i;
		}
		i = j > i ? j : i + 1;
	}
	buf[0] = '\0';
	for (int i = 0; i < 8 && o < len; i++) {
		int n;
		if (i == best) {
			n = snprintf(buf + o, len - o, "::");
			i += bestlen - 1;
		} else {
			n = snprintf(buf + o, len - o, "%s%x", o > 0 && buf[o - 1] != ':' ? ":" : "", g[i]);
		}
		if (n < 0)
			break;
		o += (size_t)n;
	}
}

char *
netaddr_format_addr(const struct netaddr *a, char *buf, size_t len)
{
	if (len == 0)
		return buf;
	if (a->family == AF_INET6)
		format6(a->addr, buf, len);
	else if (!inet_ntop(a->family, a->addr, buf, (socklen_t)len))
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
