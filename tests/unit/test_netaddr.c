/*
 * test_netaddr.c -- parsing and printing of requester prefixes (netaddr.h).
 *
 * The canonical text matters beyond display: chpolicy stores it in the
 * identities table, whose primary key only catches a duplicate prefix when
 * both rows are written the same way.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "netaddr.h"
#include "unit.h"

/* Parse text and compare its canonical form with want. */
static void
check_canonical(const char *text, const char *want)
{
	struct netaddr na;
	const char *err = NULL;
	char buf[64];

	if (!CHECK(netaddr_parse_cidr(text, &na, &err) == 0, "parse \"%s\"", text)) {
		printf("#   error: %s\n", err ? err : "(none)");
		return;
	}
	CHECK_STR(netaddr_format(&na, buf, sizeof(buf)), want, "\"%s\" formats as %s", text, want);
}

static void
check_rejected(const char *text)
{
	struct netaddr na;
	const char *err = NULL;
	int rc = netaddr_parse_cidr(text, &na, &err);

	CHECK(rc == -1 && err != NULL, "reject \"%s\" (%s)", text, err ? err : "no message");
}

static void
test_ipv4(void)
{
	struct netaddr na;
	const char *err;
	static const uint8_t want[4] = { 10, 0, 0, 0 };

	check_canonical("192.0.2.0/24", "192.0.2.0/24");
	check_canonical("10.1.2.3/8", "10.0.0.0/8");          /* host bits cleared */
	check_canonical("192.0.2.255/25", "192.0.2.128/25");
	check_canonical("127.0.0.2", "127.0.0.2/32");         /* bare address: host prefix */
	check_canonical("0.0.0.0/0", "0.0.0.0/0");
	check_canonical("1.2.3.4/0", "0.0.0.0/0");
	check_canonical("1.2.3.4/32", "1.2.3.4/32");

	CHECK(netaddr_parse_cidr("10.9.8.7/8", &na, &err) == 0, "parse 10.9.8.7/8");
	CHECK_INT(na.family, AF_INET, "IPv4 family");
	CHECK_INT(na.prefix, 8, "IPv4 prefix length");
	CHECK(memcmp(na.addr, want, 4) == 0, "IPv4 host bits zero in addr");
}

static void
test_ipv6(void)
{
	check_canonical("2001:db8::/32", "2001:db8::/32");
	check_canonical("2001:DB8:0:0::1/32", "2001:db8::/32");   /* lower case, compressed */
	check_canonical("2001:db8:1:2:3:4:5:6/48", "2001:db8:1::/48");
	check_canonical("::1", "::1/128");
	check_canonical("::1/128", "::1/128");
	check_canonical("::/0", "::/0");
}

static void
test_ipv6_more(void)
{
	struct netaddr na;
	const char *err;

	CHECK(netaddr_parse_cidr("2001:db8::ff/120", &na, &err) == 0, "parse 2001:db8::ff/120");
	CHECK_INT(na.family, AF_INET6, "IPv6 family");
	CHECK_INT(na.prefix, 120, "IPv6 prefix length");
	CHECK_INT(na.addr[15], 0, "IPv6 host bits cleared in the last byte");
	CHECK(netaddr_parse_cidr("2001:db8::ff/127", &na, &err) == 0 && na.addr[15] == 0xfe,
	      "2001:db8::ff/127 keeps the bits inside the prefix");
}

static void
test_rejects(void)
{
	check_rejected("1.2.3.4/33");
	check_rejected("1.2.3");
	check_rejected("::1/129");
	check_rejected("1.2.3.4/");
	check_rejected("abc");
	check_rejected("");
	check_rejected("/24");
	check_rejected("1.2.3.4/-1");
	check_rejected("1.2.3.4/24x");
	check_rejected("1.2.3.256");
	check_rejected("2001:db8::/32/1");
	check_rejected("2001:db8:::1");
	check_rejected("a.test");
}

static void
test_format_addr(void)
{
	struct netaddr na;
	const char *err;
	char buf[64];

	CHECK(netaddr_parse_cidr("192.0.2.7", &na, &err) == 0, "parse 192.0.2.7");
	CHECK_STR(netaddr_format_addr(&na, buf, sizeof(buf)), "192.0.2.7", "address without prefix");
	CHECK(netaddr_parse_cidr("2001:db8::7", &na, &err) == 0, "parse 2001:db8::7");
	CHECK_STR(netaddr_format_addr(&na, buf, sizeof(buf)), "2001:db8::7", "IPv6 address without prefix");
}

static void
test_sockaddr(void)
{
	struct sockaddr_in in4;
	struct sockaddr_in6 in6;
	struct netaddr na;
	char buf[64];

	memset(&in4, 0, sizeof(in4));
	in4.sin_family = AF_INET;
	inet_pton(AF_INET, "127.0.0.3", &in4.sin_addr);
	CHECK(netaddr_from_sockaddr((struct sockaddr *)&in4, &na) == 0, "from sockaddr_in");
	CHECK_STR(netaddr_format(&na, buf, sizeof(buf)), "127.0.0.3/32", "sockaddr_in is a /32");

	memset(&in6, 0, sizeof(in6));
	in6.sin6_family = AF_INET6;
	inet_pton(AF_INET6, "2001:db8::53", &in6.sin6_addr);
	CHECK(netaddr_from_sockaddr((struct sockaddr *)&in6, &na) == 0, "from sockaddr_in6");
	CHECK_STR(netaddr_format(&na, buf, sizeof(buf)), "2001:db8::53/128", "sockaddr_in6 is a /128");

	/* a dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d */
	inet_pton(AF_INET6, "::ffff:127.0.0.4", &in6.sin6_addr);
	CHECK(netaddr_from_sockaddr((struct sockaddr *)&in6, &na) == 0, "from mapped sockaddr_in6");
	CHECK_INT(na.family, AF_INET, "IPv4-mapped becomes IPv4");
	CHECK_STR(netaddr_format(&na, buf, sizeof(buf)), "127.0.0.4/32", "IPv4-mapped formats as IPv4");
}

int
main(void)
{
	test_ipv4();
	test_ipv6();
	test_ipv6_more();
	test_rejects();
	test_format_addr();
	test_sockaddr();
	return unit_summary();
}
