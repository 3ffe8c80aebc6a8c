/*
 * test_query.c -- the answer pipeline on crafted packets, without a network:
 * drops, FORMERR, NOTIMP, REFUSED, the sink in both modes, the own zone.
 * (Allowed lookups go to libunbound; the integration test covers them.)
 */
#include "config.h"
#include "answer.h"
#include "dname.h"
#include "options.h"
#include "policy.h"
#include "query.h"
#include "unit.h"
#include "zone.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static struct resolver r;
static struct options opt;
static uint8_t out[65535];

#define TYPE_A_ 1

/* Build a query: header, one question, optional OPT. Returns its length. */
static size_t
make_query(uint8_t *buf, uint16_t flags, const char *name, uint16_t qtype, int edns)
{
	uint8_t wire[DNAME_MAXLEN];
	size_t n = dname_from_text(name, wire), o = 12;

	memset(buf, 0, 12);
	buf[0] = 0x12;
	buf[1] = 0x34;
	buf[2] = (uint8_t)(flags >> 8);
	buf[3] = (uint8_t)flags;
	buf[5] = 1;
	memcpy(buf + o, wire, n);
	o += n;
	buf[o++] = (uint8_t)(qtype >> 8);
	buf[o++] = (uint8_t)qtype;
	buf[o++] = 0;
	buf[o++] = 1;
	if (edns) {
		static const uint8_t opt_rr[11] = { 0, 0, 41, 0x04, 0xd0, 0, 0, 0x80, 0, 0, 0 };
		memcpy(buf + o, opt_rr, sizeof(opt_rr));
		o += sizeof(opt_rr);
		buf[11] = 1;
	}
	return o;
}

static enum query_result
run(const uint8_t *pkt, size_t len, const char *source, size_t *outlen)
{
	struct netaddr src;
	const char *err;
	struct reply_handle h = { .fd = -1 };

	netaddr_parse_cidr(source, &src, &err);
	*outlen = 0;
	return query_process(&r, pkt, len, &src, false, &h, out, sizeof(out), outlen);
}

static int
rcode(void)
{
	return out[3] & 0x0f;
}

static uint16_t
count(int i)
{
	return (uint16_t)(out[4 + 2 * i] << 8 | out[5 + 2 * i]);
}

/* Does the answer contain these bytes (an rdata, a name)? */
static int
contains(size_t len, const void *needle, size_t nlen)
{
	for (size_t i = 0; i + nlen <= len; i++)
		if (memcmp(out + i, needle, nlen) == 0)
			return 1;
	return 0;
}

static void
test_malformed(void)
{
	uint8_t q[512];
	size_t len, outlen;

	len = make_query(q, DNS_FLAG_RD, "www.example", 1, 0);
	CHECK_INT(run(q, 11, "127.0.0.2", &outlen), QUERY_DROP, "an 11-byte packet is dropped");
	q[2] |= 0x80;
	CHECK_INT(run(q, len, "127.0.0.2", &outlen), QUERY_DROP, "a response (QR=1) is dropped");
	len = make_query(q, DNS_FLAG_RD, "www.example", 1, 0);
	CHECK_INT(run(q, len - 3, "127.0.0.2", &outlen), QUERY_ANSWERED, "a cut question is answered");
	CHECK_INT(rcode(), 1, "... with FORMERR");
	CHECK(out[2] & 0x80, "... and QR set");
	CHECK(out[0] == 0x12 && out[1] == 0x34, "... and the query's id");
	q[5] = 0;
	CHECK_INT(run(q, len, "127.0.0.2", &outlen), QUERY_ANSWERED, "QDCOUNT 0 is answered");
	CHECK_INT(rcode(), 1, "... with FORMERR");
	q[5] = 2;
	run(q, len, "127.0.0.2", &outlen);
	CHECK_INT(rcode(), 1, "QDCOUNT 2 gets FORMERR");
	len = make_query(q, DNS_FLAG_RD, "www.example", 1, 1);
	q[11] = 2; /* claims two additional records, holds one */
	run(q, len, "127.0.0.2", &outlen);
	CHECK_INT(rcode(), 1, "a missing additional record gets FORMERR");
	len = make_query(q, 2 << 11, "www.example", 1, 0);
	CHECK_INT(run(q, len, "127.0.0.2", &outlen), QUERY_ANSWERED, "opcode STATUS is answered");
	CHECK_INT(rcode(), 4, "... with NOTIMP");
	CHECK_INT((out[2] >> 3) & 0xf, 2, "... echoing the opcode");
}

static void
test_refused(void)
{
	uint8_t q[512];
	size_t len = make_query(q, DNS_FLAG_RD, "www.example", 1, 0), outlen;

	CHECK_INT(run(q, len, "127.0.0.9", &outlen), QUERY_ANSWERED, "an unknown source is answered");
	CHECK_INT(rcode(), 5, "... with REFUSED");
	len = make_query(q, DNS_FLAG_RD, "_xmpp-server._tcp.b.test", 33, 0);
	run(q, len, "127.0.0.9", &outlen);
	CHECK_INT(rcode(), 5, "an unknown source gets REFUSED for XMPP names too");
	len = make_query(q, DNS_FLAG_RD, "_xmpp-server._tcp.b.test", 33, 0);
	run(q, len, "10.1.2.3", &outlen);
	CHECK_INT(rcode(), 0, "an unidentified source in the recursion ACL is answered");
	CHECK(contains(outlen, "\004sink\015clearinghouse\004test", 24),
	      "... and denied: unidentified requesters match no rule");
}

static void
test_sink(void)
{
	uint8_t q[512];
	size_t len, outlen;
	static const uint8_t sink_srv[] = { 0, 0, 0, 0, 0x14, 0x95, 4, 's', 'i', 'n', 'k' };
	static const uint8_t loopback[] = { 0, 1, 0, 1 };

	len = make_query(q, DNS_FLAG_RD, "_xmpp-server._tcp.c.test", 33, 1);
	CHECK_INT(run(q, len, "127.0.0.2", &outlen), QUERY_ANSWERED, "a denied SRV lookup is answered at once");
	CHECK_INT(rcode(), 0, "... NOERROR");
	CHECK_INT(count(1), 1, "... one SRV answer");
	CHECK(contains(outlen, sink_srv, sizeof(sink_srv)), "... 0 0 5269 sink.clearinghouse.test");
	CHECK(contains(outlen, "\000\000\000\074", 4), "... with TTL capped at 60");
	CHECK(!(out[2] & (DNS_FLAG_AA >> 8)), "... not authoritative");
	CHECK(!(out[3] & DNS_FLAG_AD), "... never AD");
	CHECK_INT(count(3), 3, "... sink A, AAAA and OPT in the additional section");
	CHECK(contains(outlen, loopback, sizeof(loopback)), "... the sink A record");
	len = make_query(q, DNS_FLAG_RD, "_xmpp-server._tcp.conference.c.test", 33, 0);
	run(q, len, "127.0.0.2", &outlen);
	CHECK(contains(outlen, sink_srv, sizeof(sink_srv)), "a subdomain of a denied peer is denied too");
	len = make_query(q, DNS_FLAG_RD, "_xmpp-server._tcp.outsider.example", 33, 0);
	run(q, len, "127.0.0.2", &outlen);
	CHECK(contains(outlen, sink_srv, sizeof(sink_srv)), "a peer outside the community gets the sink (unknown-peer deny)");
	len = make_query(q, DNS_FLAG_RD, "_xmpp-server._tcp.c.test", 16 /* TXT */, 0);
	run(q, len, "127.0.0.2", &outlen);
	CHECK(count(1) == 0 && count(2) == 1 && rcode() == 0, "other types at a denied service name: NODATA");

	opt.sink_mode = SINK_REFUSE;
	len = make_query(q, DNS_FLAG_RD, "_xmpp-server._tcp.c.test", 33, 0);
	run(q, len, "127.0.0.2", &outlen);
	static const uint8_t refuse_srv[] = { 0, 7, 0, 0, 0, 0, 0, 0, 0 };
	CHECK(contains(outlen, refuse_srv, sizeof(refuse_srv)), "refuse mode: SRV 0 0 0 .");
	CHECK_INT(count(3), 0, "refuse mode: no additional records");
	opt.sink_mode = SINK_HOST;
}

static void
test_targets(void)
{
	uint8_t q[512];
	size_t len, outlen;
	static const uint8_t srv[] = { 0, 5, 0, 10, 0x14, 0x96, 4, 'x', 'm', 'p', 'p', 1, 'b' };
	static const uint8_t v4[] = { 0, 4, 10, 9, 9, 9 };

	len = make_query(q, DNS_FLAG_RD, "_xmpp-server._tcp.b.test", 33, 0);
	CHECK_INT(run(q, len, "127.0.0.2", &outlen), QUERY_ANSWERED,
	          "an allowed peer with database targets is answered without upstream");
	CHECK(rcode() == 0 && count(1) == 1, "... one SRV record for the service asked");
	CHECK(contains(outlen, srv, sizeof(srv)), "... 5 10 5270 xmpp.b.test from the targets table");
	CHECK_INT(count(3), 2, "... the host's A and AAAA as additional data");
	CHECK(contains(outlen, v4, sizeof(v4)), "... A 10.9.9.9");
	CHECK(!(out[3] & DNS_FLAG_AD) && !(out[2] & (DNS_FLAG_AA >> 8)), "... neither AD nor AA");
	len = make_query(q, DNS_FLAG_RD, "_xmpps-server._tcp.b.test", 33, 0);
	run(q, len, "127.0.0.2", &outlen);
	CHECK(count(1) == 1 && contains(outlen, "\003tls\001b", 6), "the direct-TLS service has its own targets");
	len = make_query(q, DNS_FLAG_RD, "_jabber._tcp.b.test", 33, 0);
	run(q, len, "127.0.0.2", &outlen);
	CHECK(rcode() == 0 && count(1) == 0, "a service without targets: NODATA, still no upstream");
	CHECK_INT(count(2), 1, "... with the clearinghouse SOA, so that it is cached (RFC 2308)");
}

static void
test_addresses(void)
{
	uint8_t q[512];
	size_t len, outlen;
	static const uint8_t sink_a[] = { 0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1 };
	static const uint8_t db_a[] = { 0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 9, 9, 9 };

	len = make_query(q, DNS_FLAG_RD, "c.test", TYPE_A_, 0);
	run(q, len, "127.0.0.2", &outlen);
	CHECK(rcode() == 0 && count(1) == 1 && contains(outlen, sink_a, sizeof(sink_a)),
	      "A of a denied peer (the RFC 6120 fallback) gives the sink address, TTL 60");
	len = make_query(q, DNS_FLAG_RD, "conference.c.test", 28, 0);
	run(q, len, "127.0.0.2", &outlen);
	CHECK(rcode() == 0 && count(1) == 1 && contains(outlen, "\0\034\0\001", 4),
	      "AAAA of a denied peer's component gives the sink's AAAA");
	len = make_query(q, DNS_FLAG_RD, "xmpp.b.test", TYPE_A_, 0);
	run(q, len, "127.0.0.2", &outlen);
	CHECK(count(1) == 1 && contains(outlen, db_a, sizeof(db_a)),
	      "A of an allowed peer's target host comes from the targets table");
	len = make_query(q, DNS_FLAG_RD, "tls.b.test", TYPE_A_, 0);
	run(q, len, "127.0.0.2", &outlen);
	CHECK_INT(rcode(), 2, "a database target host without addresses in the database is resolved upstream "
	                      "(SERVFAIL here: this test has no upstream)");
	len = make_query(q, DNS_FLAG_RD, "xmpp.b.test", TYPE_A_, 0);
	run(q, len, "127.0.0.5", &outlen);
	CHECK(rcode() == 5, "an unknown source still gets REFUSED for target hosts");
	len = make_query(q, DNS_FLAG_RD, "b.test", TYPE_A_, 0);
	run(q, len, "127.0.0.2", &outlen);
	CHECK(rcode() == 0 && count(1) == 0 && count(2) == 1,
	      "A of an allowed closed-network peer without an address: NODATA with the SOA");
	len = make_query(q, DNS_FLAG_RD, "xmpp.b.test", TYPE_A_, 0);
	run(q, len, "10.0.0.7", &outlen);
	CHECK(contains(outlen, sink_a, sizeof(sink_a)), "an unidentified ACL client gets the sink for a target host");
	opt.police_domain_address = false;
	len = make_query(q, DNS_FLAG_RD, "c.test", TYPE_A_, 0);
	run(q, len, "127.0.0.2", &outlen);
	CHECK(!contains(outlen, sink_a, sizeof(sink_a)),
	      "police-domain-address off: A of a community domain is not answered with the sink");
	opt.police_domain_address = true;
}

static void
test_edns(void)
{
	uint8_t q[512];
	size_t len, outlen;

	len = make_query(q, DNS_FLAG_RD, "sink.clearinghouse.test", TYPE_A_, 1);
	q[len - 5] = 1; /* EDNS version 1 */
	run(q, len, "127.0.0.2", &outlen);
	CHECK(rcode() == 0 && count(1) == 0 && count(3) == 1, "EDNS version 1: no records, an OPT");
	CHECK(outlen >= 11 && out[outlen - 6] == 1 && out[outlen - 5] == 0,
	      "... extended RCODE 1 (BADVERS = 16), version 0");
	len = make_query(q, DNS_FLAG_RD, "sink.clearinghouse.test", TYPE_A_, 1);
	run(q, len, "127.0.0.2", &outlen);
	CHECK(out[outlen - 6] == 0 && (out[outlen - 4] & 0x80), "EDNS version 0: no BADVERS, DO echoed");
}

static void
test_own_zone(void)
{
	uint8_t q[512];
	size_t len, outlen;

	len = make_query(q, DNS_FLAG_RD, "SINK.clearinghouse.test", 1, 0);
	run(q, len, "127.0.0.2", &outlen);
	CHECK(rcode() == 0 && count(1) == 1, "sink A is answered from the zone");
	CHECK(out[2] & (DNS_FLAG_AA >> 8), "... authoritatively");
	len = make_query(q, DNS_FLAG_RD, "nothing.clearinghouse.test", 1, 0);
	run(q, len, "127.0.0.2", &outlen);
	CHECK(rcode() == 3 && count(2) == 1, "a missing name: NXDOMAIN with the SOA");
	len = make_query(q, DNS_FLAG_RD, "sink.clearinghouse.test", 15 /* MX */, 0);
	run(q, len, "127.0.0.2", &outlen);
	CHECK(rcode() == 0 && count(1) == 0 && count(2) == 1, "a missing type: NODATA with the SOA");
	len = make_query(q, DNS_FLAG_RD, "sink.clearinghouse.test", 1, 0);
	run(q, len, "127.0.0.9", &outlen);
	CHECK_INT(rcode(), 5, "the own zone is not open to unknown sources either");
}

int
main(void)
{
	char err[256];
	struct netaddr n;
	const char *why;

	options_init(&opt);
	netaddr_parse_cidr("10.0.0.0/8", &n, &why);
	opt.recursion_acl = &n;
	opt.nrecursion_acl = 1;
	if (resolver_init(&r, &opt, err, sizeof(err)) != 0)
		return 99;
	r.zone = zone_load(TOP_SRCDIR "/zones/clearinghouse.test.zone", err, sizeof(err));
	if (!CHECK(r.zone != NULL, "the clearinghouse zone loads (%s)", r.zone ? "ok" : err))
		return unit_summary();
	struct policy *p = policy_new(1);
	uint32_t a = policy_add_domain(p, "a.test", 1, true);
	uint32_t b = policy_add_domain(p, "b.test", 1, true);
	uint32_t c = policy_add_domain(p, "c.test", 1, true);
	policy_finish(p);
	netaddr_parse_cidr("127.0.0.2", &n, &why);
	policy_add_cidr(p, &n, a);
	struct policy_rule rule = { .id = 1, .priority = 1, .from = { .kind = SEL_DOMAIN, .index = a },
	                            .to = { .kind = SEL_DOMAIN, .index = c }, .allow = false };
	policy_add_rule(p, &rule);
	rule = (struct policy_rule){ .id = 2, .priority = 2, .from = { .kind = SEL_ANY },
	                             .to = { .kind = SEL_ANY }, .allow = true };
	policy_add_rule(p, &rule);
	policy_finish(p);
	uint32_t t = policy_add_target(p, b, XMPP_SERVER, 5, 10, 5270, "xmpp.b.test");
	netaddr_parse_cidr("10.9.9.9", &n, &why);
	policy_add_target_address(p, t, &n);
	netaddr_parse_cidr("2001:db8::9", &n, &why);
	policy_add_target_address(p, t, &n);
	policy_add_target(p, b, XMPP_SERVER_TLS, 0, 0, 5223, "tls.b.test");
	policy_finish(p);
	r.policy = p;

	test_malformed();
	test_refused();
	test_sink();
	test_own_zone();
	test_targets();
	test_addresses();
	test_edns();

	policy_free(p);
	zone_free((struct zone *)r.zone);
	resolver_cleanup(&r);
	opt.recursion_acl = NULL;
	options_free(&opt);
	return unit_summary();
}
