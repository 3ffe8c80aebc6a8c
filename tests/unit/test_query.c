/*
 * test_query.c -- the answer pipeline on crafted packets, without a network:
 * drops, FORMERR, NOTIMP, REFUSED, the sink in both modes, the own zone, and
 * the asynchronous half: a fake upstream (as Unbound's fake_event.c is for
 * its tests) records each lookup and the test calls it back with the result
 * it chooses; a fake transport records the late answers.
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

#include <ldns/ldns.h>

static struct resolver r;
static struct options opt;
static uint8_t out[65535];

/* the RD flag in make_query's 16-bit header flags */
#define RD ((uint16_t)(LDNS_RD_MASK << 8))

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

/* ---------------------------------------------------------------- fakes */

/* The transport's handle is the transport's own type; ours is a number. */
struct reply_handle {
	int client;
};

#define MAX_LOOKUPS 8
static struct fake_lookup {
	struct upstream_lookup *l;
	uint8_t qname[DNAME_MAXLEN];
	uint16_t qtype, qclass;
	bool cd;
} lookups[MAX_LOOKUPS];
static size_t nlookups;
static bool lookup_fails;      /* the next lookups fail to start */
static bool lookup_at_once;    /* the next lookups call back before returning (a cache hit) */
static bool hold_fails;        /* the transport has no memory */

static void upstream_fail(size_t i, int error);

/* upstream_lookup_fn: record the lookup; the test answers it later. */
static int
fake_lookup(void *ctx, const uint8_t *qname, uint16_t qtype, uint16_t qclass, bool cd,
            struct upstream_lookup *l)
{
	(void)ctx;
	if (lookup_fails || nlookups == MAX_LOOKUPS)
		return -1;
	struct fake_lookup *f = &lookups[nlookups++];
	f->l = l;
	memcpy(f->qname, qname, dname_length(qname, DNAME_MAXLEN));
	dname_lower(f->qname);
	f->qtype = qtype;
	f->qclass = qclass;
	f->cd = cd;
	if (lookup_at_once)
		upstream_fail(nlookups - 1, 1);
	return 0;
}

static int held;               /* handles the transport holds */
static int nlate;              /* late answers sent */
static int late_client;        /* the client of the last one */
static uint8_t late[65535];    /* the last one */
static size_t late_len;

static struct reply_handle *
fake_hold(void *ctx, const struct reply_handle *h)
{
	(void)ctx;
	if (hold_fails)
		return NULL;
	struct reply_handle *c = malloc(sizeof(*c));
	if (c) {
		*c = *h;
		held++;
	}
	return c;
}

static void
fake_reply(void *ctx, struct reply_handle *h, const uint8_t *pkt, size_t len)
{
	(void)ctx;
	if (len > 0) {
		nlate++;
		late_client = h->client;
		memcpy(late, pkt, len);
		late_len = len;
	}
	held--;
	free(h);
}

/* Take lookup i off the list and call it back with res. */
static void
upstream_call(size_t i, const struct upstream_result *res)
{
	struct upstream_lookup *l = lookups[i].l;

	memmove(&lookups[i], &lookups[i + 1], (nlookups - i - 1) * sizeof(lookups[0]));
	nlookups--;
	l->done(l->arg, res);
}

static void
upstream_fail(size_t i, int error)
{
	struct upstream_result res = { .error = error };
	upstream_call(i, &res);
}

/*
 * Answer lookup i with an upstream packet made by ldns: the RRs in
 * presentation format (NULL-terminated) in the answer section.
 */
static void
upstream_answer(size_t i, uint8_t rcode, const char *const *rrs, enum upstream_security sec)
{
	ldns_pkt *pkt = ldns_pkt_new();
	uint8_t *wire = NULL;
	size_t wlen = 0;

	ldns_pkt_set_qr(pkt, true);
	ldns_pkt_set_rcode(pkt, rcode);
	for (; rrs && *rrs; rrs++) {
		ldns_rr *rr = NULL;
		if (ldns_rr_new_frm_str(&rr, *rrs, 3600, NULL, NULL) == LDNS_STATUS_OK)
			ldns_pkt_push_rr(pkt, LDNS_SECTION_ANSWER, rr);
	}
	ldns_pkt2wire(&wire, pkt, &wlen);
	struct upstream_result res = { .packet = wire, .len = wlen, .sec = sec };
	upstream_call(i, &res);
	free(wire);
	ldns_pkt_free(pkt);
}

/* Fail every lookup still waiting, and forget the late answers. */
static void
settle(void)
{
	while (nlookups > 0)
		upstream_fail(0, 1);
	nlate = 0;
}

static int next_client;

static enum query_result
run_from(const uint8_t *pkt, size_t len, const char *source, bool tcp, size_t *outlen)
{
	struct netaddr src;
	const char *err;
	struct reply_handle h = { .client = ++next_client };

	netaddr_parse_cidr(source, &src, &err);
	*outlen = 0;
	return query_process(&r, pkt, len, &src, tcp, &h, out, sizeof(out), outlen);
}

static enum query_result
run(const uint8_t *pkt, size_t len, const char *source, size_t *outlen)
{
	return run_from(pkt, len, source, false, outlen);
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

	len = make_query(q, RD, "www.example", LDNS_RR_TYPE_A, 0);
	CHECK_INT(run(q, 11, "127.0.0.2", &outlen), QUERY_DROP, "an 11-byte packet is dropped");
	q[2] |= 0x80;
	CHECK_INT(run(q, len, "127.0.0.2", &outlen), QUERY_DROP, "a response (QR=1) is dropped");
	len = make_query(q, RD, "www.example", LDNS_RR_TYPE_A, 0);
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
	len = make_query(q, RD, "www.example", LDNS_RR_TYPE_A, 1);
	q[11] = 2; /* claims two additional records, holds one */
	run(q, len, "127.0.0.2", &outlen);
	CHECK_INT(rcode(), 1, "a missing additional record gets FORMERR");
	len = make_query(q, LDNS_PACKET_STATUS << 11, "www.example", LDNS_RR_TYPE_A, 0);
	CHECK_INT(run(q, len, "127.0.0.2", &outlen), QUERY_ANSWERED, "opcode STATUS is answered");
	CHECK_INT(rcode(), 4, "... with NOTIMP");
	CHECK_INT((out[2] >> 3) & 0xf, 2, "... echoing the opcode");
	CHECK(LDNS_QDCOUNT(out) == 0 && !LDNS_RD_WIRE(out) && !LDNS_RA_WIRE(out) && outlen == 12,
	      "... the header alone: the message is not parsed, no flag echoed, no RA");
	len = make_query(q, (uint16_t)(15 << 11) | RD, "www.example", LDNS_RR_TYPE_A, 1);
	q[13] = 0xff; /* and a question that would not even parse */
	run(q, len, "127.0.0.2", &outlen);
	CHECK(rcode() == LDNS_RCODE_NOTIMPL && LDNS_OPCODE_WIRE(out) == 15 && !LDNS_RD_WIRE(out),
	      "opcode 15 with RD and a broken question: NOTIMP, opcode 15, no RD");

	/* EDNS options (RFC 6891 6.1.2) and the TSIG record's place (RFC 8945 5.1) */
	static const struct {
		uint8_t opt[16];
		size_t len;
		int rcode;
		const char *what;
	} opts[] = {
		{ { 0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8 }, 12, 0, "a client COOKIE of 8 bytes is fine" },
		{ { 0, 10, 0, 5, 1, 2, 3, 4, 5 }, 9, 1, "a COOKIE of 5 bytes: FORMERR" },
		{ { 0, 10, 0, 12, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 }, 16, 1, "a COOKIE of 12 bytes: FORMERR" },
		{ { 0, 12, 0, 9, 0, 0 }, 6, 1, "an option running past the RDATA: FORMERR" },
		{ { 0, 12 }, 2, 1, "half an option header: FORMERR" },
		{ { 0, 3, 0, 0 }, 4, 0, "an empty NSID request is fine" },
		{ { 0, 3, 0, 2, 1, 2 }, 6, 1, "an NSID with data in a query: FORMERR" },
		{ { 0, 8, 0, 7, 0, 1, 24, 0, 10, 1, 2 }, 11, 0, "a Client Subnet /24 with 3 address bytes is fine" },
		{ { 0, 8, 0, 7, 0, 1, 33, 0, 10, 1, 2 }, 11, 1, "a Client Subnet /33 for IPv4: FORMERR" },
		{ { 0, 8, 0, 8, 0, 1, 24, 0, 10, 1, 2, 3 }, 12, 1, "a Client Subnet with too many address bytes: FORMERR" },
		{ { 0, 14, 0, 3, 1, 2, 3 }, 7, 1, "an odd edns-key-tag: FORMERR" },
		{ { 0xfd, 0xe9, 0, 2, 1, 2 }, 6, 0, "an unknown option is ignored" },
	};
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		len = make_query(q, RD, "sink.clearinghouse.test", LDNS_RR_TYPE_A, 1);
		memcpy(q + len, opts[i].opt, opts[i].len);
		ldns_write_uint16(q + len - 2, (uint16_t)opts[i].len);
		run(q, len + opts[i].len, "127.0.0.2", &outlen);
		CHECK_INT(rcode(), opts[i].rcode, "%s", opts[i].what);
	}
	static const uint8_t tsig_rr[] = { 3, 'k', 'e', 'y', 0, 0, 250, 0, 255, 0, 0, 0, 0, 0, 0 };
	len = make_query(q, RD, "sink.clearinghouse.test", LDNS_RR_TYPE_A, 0);
	memcpy(q + len, tsig_rr, sizeof(tsig_rr));
	len += sizeof(tsig_rr);
	static const uint8_t opt_rr[11] = { 0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0 };
	memcpy(q + len, opt_rr, sizeof(opt_rr));
	len += sizeof(opt_rr);
	q[11] = 2;
	run(q, len, "127.0.0.2", &outlen);
	CHECK_INT(rcode(), LDNS_RCODE_FORMERR, "a TSIG record that is not the last: FORMERR");

	/* compression pointers in the other sections must point back (RFC 1035 4.1.4) */
	static const struct {
		uint8_t ptr[2];
		int rcode;
		const char *what;
	} ptrs[] = {
		{ { 0xc0, 12 }, 0, "an owner that points to the question: fine" },
		{ { 0xc0, 0 }, 1, "a pointer into the header: FORMERR" },
		{ { 0xc3, 0xff }, 1, "a pointer past the end: FORMERR" },
		{ { 0xff, 0xff }, 1, "a pointer far past the end: FORMERR" },
	};
	for (size_t i = 0; i < sizeof(ptrs) / sizeof(ptrs[0]) + 1; i++) {
		len = make_query(q, RD, "sink.clearinghouse.test", LDNS_RR_TYPE_A, 0);
		size_t at = len;
		if (i < sizeof(ptrs) / sizeof(ptrs[0]))
			memcpy(q + len, ptrs[i].ptr, 2);
		else
			ldns_write_uint16(q + len, (uint16_t)(0xc000 | at)); /* itself */
		static const uint8_t a_rr[] = { 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 198, 18, 0, 1 };
		memcpy(q + len + 2, a_rr, sizeof(a_rr));
		len += 2 + sizeof(a_rr);
		q[11] = 1;
		run(q, len, "127.0.0.2", &outlen);
		CHECK_INT(rcode(), i < sizeof(ptrs) / sizeof(ptrs[0]) ? ptrs[i].rcode : 1, "%s",
		          i < sizeof(ptrs) / sizeof(ptrs[0]) ? ptrs[i].what : "a pointer to itself: FORMERR");
	}

	/* question types that are not lookups */
	len = make_query(q, 0, "clearinghouse.test", LDNS_RR_TYPE_AXFR, 0);
	run(q, len, "127.0.0.2", &outlen);
	CHECK_INT(rcode(), LDNS_RCODE_FORMERR, "AXFR over UDP: FORMERR");
	run_from(q, len, "127.0.0.2", true, &outlen);
	CHECK(rcode() == LDNS_RCODE_REFUSED && !LDNS_RA_WIRE(out), "AXFR over TCP: REFUSED, no RA");
	len = make_query(q, 0, "clearinghouse.test", LDNS_RR_TYPE_MAILB, 0);
	run(q, len, "127.0.0.2", &outlen);
	CHECK_INT(rcode(), LDNS_RCODE_NOTIMPL, "MAILB: NOTIMP");
	len = make_query(q, 0, "clearinghouse.test", LDNS_RR_TYPE_OPT, 0);
	run(q, len, "127.0.0.2", &outlen);
	CHECK_INT(rcode(), LDNS_RCODE_FORMERR, "OPT as a question type: FORMERR");
}

static void
test_refused(void)
{
	uint8_t q[512];
	size_t len = make_query(q, RD, "www.example", LDNS_RR_TYPE_A, 0), outlen;

	CHECK_INT(run(q, len, "127.0.0.9", &outlen), QUERY_ANSWERED, "an unknown source is answered");
	CHECK_INT(rcode(), 5, "... with REFUSED");
	len = make_query(q, RD, "_xmpp-server._tcp.b.test", LDNS_RR_TYPE_SRV, 0);
	run(q, len, "127.0.0.9", &outlen);
	CHECK_INT(rcode(), 5, "an unknown source gets REFUSED for XMPP names too");
	len = make_query(q, RD, "_xmpp-server._tcp.b.test", LDNS_RR_TYPE_SRV, 0);
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

	len = make_query(q, RD, "_xmpp-server._tcp.c.test", LDNS_RR_TYPE_SRV, 1);
	CHECK_INT(run(q, len, "127.0.0.2", &outlen), QUERY_ANSWERED, "a denied SRV lookup is answered at once");
	CHECK_INT(rcode(), 0, "... NOERROR");
	CHECK_INT(count(1), 1, "... one SRV answer");
	CHECK(contains(outlen, sink_srv, sizeof(sink_srv)), "... 0 0 5269 sink.clearinghouse.test");
	CHECK(contains(outlen, "\000\000\000\074", 4), "... with TTL capped at 60");
	CHECK(!LDNS_AA_WIRE(out), "... not authoritative");
	CHECK(!LDNS_AD_WIRE(out), "... never AD");
	CHECK_INT(count(3), 3, "... sink A, AAAA and OPT in the additional section");
	CHECK(contains(outlen, loopback, sizeof(loopback)), "... the sink A record");
	len = make_query(q, RD, "_xmpp-server._tcp.conference.c.test", LDNS_RR_TYPE_SRV, 0);
	run(q, len, "127.0.0.2", &outlen);
	CHECK(contains(outlen, sink_srv, sizeof(sink_srv)), "a subdomain of a denied peer is denied too");
	len = make_query(q, RD, "_xmpp-server._tcp.outsider.example", LDNS_RR_TYPE_SRV, 0);
	run(q, len, "127.0.0.2", &outlen);
	CHECK(contains(outlen, sink_srv, sizeof(sink_srv)), "a peer outside the community gets the sink (unknown-peer deny)");
	len = make_query(q, RD, "_xmpp-server._tcp.c.test", LDNS_RR_TYPE_TXT, 0);
	run(q, len, "127.0.0.2", &outlen);
	CHECK(count(1) == 0 && count(2) == 1 && rcode() == 0, "other types at a denied service name: NODATA");

	opt.sink_mode = SINK_REFUSE;
	len = make_query(q, RD, "_xmpp-server._tcp.c.test", LDNS_RR_TYPE_SRV, 0);
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

	len = make_query(q, RD, "_xmpp-server._tcp.b.test", LDNS_RR_TYPE_SRV, 0);
	CHECK_INT(run(q, len, "127.0.0.2", &outlen), QUERY_ANSWERED,
	          "an allowed peer with database targets is answered without upstream");
	CHECK(rcode() == 0 && count(1) == 1, "... one SRV record for the service asked");
	CHECK(contains(outlen, srv, sizeof(srv)), "... 5 10 5270 xmpp.b.test from the targets table");
	CHECK_INT(count(3), 2, "... the host's A and AAAA as additional data");
	CHECK(contains(outlen, v4, sizeof(v4)), "... A 10.9.9.9");
	CHECK(!LDNS_AD_WIRE(out) && !LDNS_AA_WIRE(out), "... neither AD nor AA");
	len = make_query(q, RD, "_xmpps-server._tcp.b.test", LDNS_RR_TYPE_SRV, 0);
	run(q, len, "127.0.0.2", &outlen);
	CHECK(count(1) == 1 && contains(outlen, "\003tls\001b", 6), "the direct-TLS service has its own targets");
	len = make_query(q, RD, "_jabber._tcp.b.test", LDNS_RR_TYPE_SRV, 0);
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

	len = make_query(q, RD, "c.test", LDNS_RR_TYPE_A, 0);
	run(q, len, "127.0.0.2", &outlen);
	CHECK(rcode() == 0 && count(1) == 1 && contains(outlen, sink_a, sizeof(sink_a)),
	      "A of a denied peer (the RFC 6120 fallback) gives the sink address, TTL 60");
	len = make_query(q, RD, "conference.c.test", LDNS_RR_TYPE_AAAA, 0);
	run(q, len, "127.0.0.2", &outlen);
	CHECK(rcode() == 0 && count(1) == 1 && contains(outlen, "\0\034\0\001", 4),
	      "AAAA of a denied peer's component gives the sink's AAAA");
	len = make_query(q, RD, "xmpp.b.test", LDNS_RR_TYPE_A, 0);
	run(q, len, "127.0.0.2", &outlen);
	CHECK(count(1) == 1 && contains(outlen, db_a, sizeof(db_a)),
	      "A of an allowed peer's target host comes from the targets table");
	len = make_query(q, RD, "tls.b.test", LDNS_RR_TYPE_A, 0);
	CHECK_INT(run(q, len, "127.0.0.2", &outlen), QUERY_PENDING,
	          "a database target host without addresses in the database is resolved upstream");
	settle();
	len = make_query(q, RD, "xmpp.b.test", LDNS_RR_TYPE_A, 0);
	run(q, len, "127.0.0.5", &outlen);
	CHECK(rcode() == 5, "an unknown source still gets REFUSED for target hosts");
	len = make_query(q, RD, "b.test", LDNS_RR_TYPE_A, 0);
	run(q, len, "127.0.0.2", &outlen);
	CHECK(rcode() == 0 && count(1) == 0 && count(2) == 1,
	      "A of an allowed closed-network peer without an address: NODATA with the SOA");
	len = make_query(q, RD, "xmpp.b.test", LDNS_RR_TYPE_A, 0);
	run(q, len, "10.0.0.7", &outlen);
	CHECK(contains(outlen, sink_a, sizeof(sink_a)), "an unidentified ACL client gets the sink for a target host");
	opt.police_domain_address = false;
	len = make_query(q, RD, "c.test", LDNS_RR_TYPE_A, 0);
	CHECK_INT(run(q, len, "127.0.0.2", &outlen), QUERY_PENDING,
	          "police-domain-address off: A of a community domain goes upstream, not to the sink");
	settle();
	opt.police_domain_address = true;
}

static void
test_edns(void)
{
	uint8_t q[512];
	size_t len, outlen;

	len = make_query(q, RD, "sink.clearinghouse.test", LDNS_RR_TYPE_A, 1);
	q[len - 5] = 1; /* EDNS version 1 */
	run(q, len, "127.0.0.2", &outlen);
	CHECK(rcode() == 0 && count(1) == 0 && count(3) == 1, "EDNS version 1: no records, an OPT");
	CHECK(outlen >= 11 && out[outlen - 6] == 1 && out[outlen - 5] == 0,
	      "... extended RCODE 1 (BADVERS = 16), version 0");
	len = make_query(q, RD, "sink.clearinghouse.test", LDNS_RR_TYPE_A, 1);
	run(q, len, "127.0.0.2", &outlen);
	CHECK(out[outlen - 6] == 0 && (out[outlen - 4] & 0x80), "EDNS version 0: no BADVERS, DO echoed");
}

static void
test_own_zone(void)
{
	uint8_t q[512];
	size_t len, outlen;

	len = make_query(q, RD, "SINK.clearinghouse.test", LDNS_RR_TYPE_A, 0);
	run(q, len, "127.0.0.2", &outlen);
	CHECK(rcode() == 0 && count(1) == 1, "sink A is answered from the zone");
	CHECK(LDNS_AA_WIRE(out), "... authoritatively");
	len = make_query(q, RD, "nothing.clearinghouse.test", LDNS_RR_TYPE_A, 0);
	run(q, len, "127.0.0.2", &outlen);
	CHECK(rcode() == 3 && count(2) == 1, "a missing name: NXDOMAIN with the SOA");
	len = make_query(q, RD, "sink.clearinghouse.test", LDNS_RR_TYPE_MX, 0);
	run(q, len, "127.0.0.2", &outlen);
	CHECK(rcode() == 0 && count(1) == 0 && count(2) == 1, "a missing type: NODATA with the SOA");
	len = make_query(q, RD, "sink.clearinghouse.test", LDNS_RR_TYPE_A, 0);
	run(q, len, "127.0.0.9", &outlen);
	CHECK_INT(rcode(), 5, "the own zone is not open to unknown sources either");
}

/* Does the last late answer contain these bytes? */
static int
late_contains(const void *needle, size_t nlen)
{
	for (size_t i = 0; i + nlen <= late_len; i++)
		if (memcmp(late + i, needle, nlen) == 0)
			return 1;
	return 0;
}

/* A name's wire form, for lookups[i].qname comparisons. */
static int
looked_up(size_t i, const char *name, uint16_t qtype)
{
	uint8_t wire[DNAME_MAXLEN];

	return i < nlookups && dname_from_text(name, wire) && dname_equal(wire, lookups[i].qname) &&
	       lookups[i].qtype == qtype;
}

/* A recursive lookup outside the community: miss, upstream, answer, cache. */
static void
test_upstream(void)
{
	uint8_t q[512];
	size_t len, outlen;
	static const char *const www[] = { "www.example. 3600 IN A 198.18.0.1", NULL };
	static const uint8_t ttl3600[] = { 0, 0, 0x0e, 0x10, 0, 4, 198, 18, 0, 1 };

	settle();
	len = make_query(q, RD, "www.example", LDNS_RR_TYPE_A, 1);
	memcpy(q + 13, "WWW", 3); /* as the client wrote it (0x20) */
	CHECK_INT(run(q, len, "127.0.0.2", &outlen), QUERY_PENDING, "a name outside the community goes upstream");
	CHECK(nlookups == 1 && looked_up(0, "www.example", LDNS_RR_TYPE_A) && !lookups[0].cd,
	      "... one lookup of www.example A, validating");
	CHECK_INT(held, 1, "... the transport holds the client's handle");
	int client = next_client;
	upstream_answer(0, LDNS_RCODE_NOERROR, www, UPSTREAM_INSECURE);
	CHECK_INT(nlate, 1, "the upstream answer is sent through the transport");
	CHECK_INT(late_client, client, "... to the client that asked");
	CHECK_INT(held, 0, "... and the handle is let go");
	CHECK(LDNS_ID_WIRE(late) == 0x1234 && LDNS_QR_WIRE(late) && LDNS_RD_WIRE(late) && LDNS_RA_WIRE(late),
	      "... with the query's id, QR, RD and RA");
	CHECK(LDNS_RCODE_WIRE(late) == 0 && LDNS_ANCOUNT(late) == 1 && late_contains(ttl3600, sizeof(ttl3600)),
	      "... NOERROR, the A record with its TTL of 3600 (not a policy answer: no cap)");
	CHECK(late_contains("\003WWW", 4), "... and the question as the client wrote it");
	CHECK(LDNS_ARCOUNT(late) == 1 && !LDNS_AD_WIRE(late), "... an OPT record, no AD for insecure data");
	nlate = 0;
	CHECK_INT(run(q, len, "127.0.0.2", &outlen), QUERY_ANSWERED, "the same question again is answered at once");
	CHECK(nlookups == 0 && LDNS_ANCOUNT(out) == 1 && contains(outlen, ttl3600 + 6, 4),
	      "... from the answer cache, without a lookup");

	/* the upstream fails, is bogus, or cannot be asked */
	len = make_query(q, RD, "fail.example", LDNS_RR_TYPE_A, 0);
	uint64_t servfail = r.stats.servfail;
	run(q, len, "127.0.0.2", &outlen);
	upstream_fail(0, 1);
	CHECK(nlate == 1 && LDNS_RCODE_WIRE(late) == LDNS_RCODE_SERVFAIL && held == 0,
	      "an upstream failure: SERVFAIL through the transport");
	CHECK_INT(r.stats.servfail, servfail + 1, "... counted");
	len = make_query(q, RD, "bogus.example", LDNS_RR_TYPE_A, 1);
	run(q, len, "127.0.0.2", &outlen);
	upstream_answer(0, LDNS_RCODE_NOERROR, www, UPSTREAM_BOGUS);
	CHECK(nlate == 2 && LDNS_RCODE_WIRE(late) == LDNS_RCODE_SERVFAIL && LDNS_ANCOUNT(late) == 0,
	      "bogus upstream data: SERVFAIL, no records");
	lookup_fails = true;
	len = make_query(q, RD, "nostart.example", LDNS_RR_TYPE_A, 0);
	CHECK_INT(run(q, len, "127.0.0.2", &outlen), QUERY_ANSWERED, "a lookup that cannot start is answered at once");
	CHECK(rcode() == LDNS_RCODE_SERVFAIL && held == 0, "... SERVFAIL, the held handle let go");
	lookup_fails = false;
	hold_fails = true;
	CHECK(run(q, len, "127.0.0.2", &outlen) == QUERY_ANSWERED && rcode() == LDNS_RCODE_SERVFAIL && nlookups == 0,
	      "no memory to hold the client: SERVFAIL at once, no lookup");
	hold_fails = false;
	lookup_at_once = true;
	nlate = 0;
	len = make_query(q, RD, "atonce.example", LDNS_RR_TYPE_A, 0);
	CHECK(run(q, len, "127.0.0.2", &outlen) == QUERY_PENDING && nlate == 1 && held == 0,
	      "a lookup that calls back before it returns: answered once, through the transport");
	lookup_at_once = false;

	/* over UDP without EDNS the answer is cut at 512 bytes, over TCP it is whole */
	const char *big[41];
	char texts[40][64];
	for (int i = 0; i < 40; i++) {
		snprintf(texts[i], sizeof(texts[i]), "big.example. 300 IN AAAA 2001:db8::%x", i + 1);
		big[i] = texts[i];
	}
	big[40] = NULL;
	len = make_query(q, RD, "big.example", LDNS_RR_TYPE_AAAA, 0);
	run(q, len, "127.0.0.2", &outlen);
	upstream_answer(0, LDNS_RCODE_NOERROR, big, UPSTREAM_INSECURE);
	CHECK(LDNS_TC_WIRE(late) && LDNS_ANCOUNT(late) == 0 && late_len <= 512,
	      "40 AAAA records over UDP without EDNS: TC=1, no records, at most 512 bytes");
	len = make_query(q, RD, "big2.example", LDNS_RR_TYPE_AAAA, 0);
	run_from(q, len, "127.0.0.2", true, &outlen);
	for (int i = 0; i < 40; i++)
		snprintf(texts[i], sizeof(texts[i]), "big2.example. 300 IN AAAA 2001:db8::%x", i + 1);
	upstream_answer(0, LDNS_RCODE_NOERROR, big, UPSTREAM_INSECURE);
	CHECK(!LDNS_TC_WIRE(late) && LDNS_ANCOUNT(late) == 40, "... over TCP all 40");
	settle();
}

/* Policy answers from the upstream: capped TTLs, AD, learned target hosts. */
static void
test_upstream_policy(void)
{
	uint8_t q[512];
	size_t len, outlen;
	static const char *const srv[] = {
		"_xmpp-server._tcp.d.test. 3600 IN SRV 0 5 5269 xmpp.hoster.example.", NULL
	};
	static const char *const g_srv[] = {
		"_xmpp-server._tcp.g.test. 3600 IN SRV 0 5 5269 mail.elsewhere.example.", NULL
	};
	static const uint8_t sink_a[] = { 0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1 };

	settle();
	len = make_query(q, RD, "_xmpp-server._tcp.d.test", LDNS_RR_TYPE_SRV, 1);
	CHECK_INT(run(q, len, "127.0.0.2", &outlen), QUERY_PENDING, "an allowed SRV lookup goes upstream");
	upstream_answer(0, LDNS_RCODE_NOERROR, srv, UPSTREAM_SECURE);
	CHECK(nlate == 1 && LDNS_ANCOUNT(late) == 1 && late_contains("\0\0\0\074\0", 5),
	      "... the SRV answer with its TTL capped at 60");
	CHECK(LDNS_AD_WIRE(late), "... AD: validated, and the client set DO");
	len = make_query(q, RD, "xmpp.hoster.example", LDNS_RR_TYPE_A, 0);
	run(q, len, "127.0.0.3", &outlen);
	CHECK(rcode() == 0 && contains(outlen, sink_a, sizeof(sink_a)),
	      "the target host learned from that answer is policed: a denied requester gets the sink");
	CHECK_INT(run(q, len, "127.0.0.2", &outlen), QUERY_PENDING, "... an allowed one goes upstream");
	settle();

	/* a denied SRV lookup starts a lookup of our own, to learn the targets */
	unsigned learning = r.learning;
	len = make_query(q, RD, "_xmpp-server._tcp.g.test", LDNS_RR_TYPE_SRV, 0);
	CHECK_INT(run(q, len, "127.0.0.3", &outlen), QUERY_ANSWERED, "a denied SRV lookup is answered at once");
	CHECK(nlookups == 1 && looked_up(0, "_xmpp-server._tcp.g.test", LDNS_RR_TYPE_SRV) && held == 0,
	      "... and one lookup of our own starts, with no client to answer");
	CHECK_INT(r.learning, learning + 1, "... counted in flight");
	upstream_answer(0, LDNS_RCODE_NOERROR, g_srv, UPSTREAM_INSECURE);
	CHECK_INT(nlate, 0, "its answer is sent to nobody");
	len = make_query(q, RD, "mail.elsewhere.example", LDNS_RR_TYPE_A, 0);
	run(q, len, "127.0.0.3", &outlen);
	CHECK(contains(outlen, sink_a, sizeof(sink_a)), "... and the denied peer's target host now gets the sink");
	len = make_query(q, RD, "mail.elsewhere.example", LDNS_RR_TYPE_MX, 0);
	run(q, len, "127.0.0.3", &outlen);
	CHECK(rcode() == 0 && count(1) == 0 && count(2) == 1,
	      "... for other types NODATA with the SOA: nothing of the host comes from upstream");
	CHECK(nlookups == 1 && looked_up(0, "mail.elsewhere.example", LDNS_RR_TYPE_A),
	      "the new target host is looked up ourselves, to see whether it is an alias");
	static const char *const alias[] = { "mail.elsewhere.example. 3600 IN CNAME real.hidden.example.",
		                             "real.hidden.example. 3600 IN A 198.18.0.9", NULL };
	upstream_answer(0, LDNS_RCODE_NOERROR, alias, UPSTREAM_INSECURE);
	CHECK(nlate == 0 && r.learning == learning, "... it is, and nobody is answered");
	len = make_query(q, RD, "real.hidden.example", LDNS_RR_TYPE_A, 0);
	run(q, len, "127.0.0.3", &outlen);
	CHECK(contains(outlen, sink_a, sizeof(sink_a)),
	      "the alias's canonical host is the denied peer's too: the sink");
	len = make_query(q, RD, "_xmpp-server._tcp.g.test", LDNS_RR_TYPE_SRV, 0);
	run(q, len, "127.0.0.3", &outlen);
	CHECK_INT(nlookups, 0, "the targets known, the next denied lookup starts no new one");
	settle();
}

/* One lookup per question at a time, caps, and the time limit. */
static void
test_upstream_limits(void)
{
	uint8_t q[512];
	size_t len, outlen;
	static const char *const www[] = { "same.example. 300 IN A 198.18.0.7", NULL };

	settle();
	len = make_query(q, RD, "same.example", LDNS_RR_TYPE_A, 0);
	uint64_t joined = r.stats.recursions_joined;
	CHECK_INT(run(q, len, "127.0.0.2", &outlen), QUERY_PENDING, "a first client waits for the upstream");
	int first = next_client;
	q[1] = 0x99; /* another id */
	CHECK_INT(run(q, len, "127.0.0.3", &outlen), QUERY_PENDING, "a second client with the same question waits too");
	CHECK_INT(nlookups, 1, "... for the same lookup: the upstream is asked once");
	CHECK_INT(r.stats.recursions_joined, joined + 1, "... counted as joined");
	CHECK_INT(r.ninflight, 1, "... one lookup in flight");
	int lates = nlate;
	upstream_answer(0, LDNS_RCODE_NOERROR, www, UPSTREAM_INSECURE);
	CHECK_INT(nlate, lates + 2, "one upstream answer answers both");
	CHECK(LDNS_ID_WIRE(late) == 0x1299 && late_client == first + 1, "... each with its own id");
	CHECK(held == 0 && r.ninflight == 0, "... and nothing is left in flight");

	/* recursion-max-per-source */
	opt.recursion_max_per_source = 2;
	char name[32];
	for (int i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "cap%d.example", i);
		len = make_query(q, RD, name, LDNS_RR_TYPE_A, 0);
		enum query_result res = run(q, len, "10.0.0.9", &outlen);
		if (i < 2)
			CHECK_INT(res, QUERY_PENDING, "query %d from one address waits", i + 1);
		else
			CHECK(res == QUERY_ANSWERED && rcode() == LDNS_RCODE_SERVFAIL,
			      "the third while two wait: SERVFAIL at once (recursion-max-per-source)");
	}
	len = make_query(q, RD, "cap9.example", LDNS_RR_TYPE_A, 0);
	CHECK_INT(run(q, len, "10.0.0.10", &outlen), QUERY_PENDING, "... another address is not held back");
	opt.recursion_max_per_source = 100;
	settle();

	/* recursion-max-outstanding */
	opt.recursion_max_outstanding = 2;
	for (int i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "out%d.example", i);
		len = make_query(q, RD, name, LDNS_RR_TYPE_A, 0);
		enum query_result res = run(q, len, "127.0.0.2", &outlen);
		if (i == 2)
			CHECK(res == QUERY_ANSWERED && rcode() == LDNS_RCODE_SERVFAIL,
			      "a third lookup while two are in flight: SERVFAIL (recursion-max-outstanding)");
	}
	len = make_query(q, RD, "out0.example", LDNS_RR_TYPE_A, 0);
	CHECK_INT(run(q, len, "127.0.0.3", &outlen), QUERY_PENDING, "... joining one in flight still works");
	opt.recursion_max_outstanding = 1000;
	settle();

	/* recursion-timeout */
	len = make_query(q, RD, "slow.example", LDNS_RR_TYPE_A, 0);
	run(q, len, "127.0.0.2", &outlen);
	nlate = 0;
	query_expire(&r, query_clock_ms() + (uint64_t)opt.recursion_timeout * 1000 - 100);
	CHECK_INT(nlate, 0, "before recursion-timeout the client still waits");
	uint64_t timeouts = r.stats.recursion_timeouts;
	query_expire(&r, query_clock_ms() + (uint64_t)opt.recursion_timeout * 1000);
	CHECK(nlate == 1 && LDNS_RCODE_WIRE(late) == LDNS_RCODE_SERVFAIL && held == 0,
	      "after recursion-timeout: SERVFAIL through the transport, the handle let go");
	CHECK_INT(r.stats.recursion_timeouts, timeouts + 1, "... counted");
	CHECK_INT(nlookups, 1, "the lookup itself goes on");
	upstream_answer(0, LDNS_RCODE_NOERROR, www, UPSTREAM_INSECURE);
	CHECK(nlate == 1 && r.ninflight == 0, "its late answer goes to nobody");

	/* shutdown lets go of everything */
	len = make_query(q, RD, "left.example", LDNS_RR_TYPE_A, 0);
	run(q, len, "127.0.0.2", &outlen);
	nlookups = 0; /* the recursion is gone: no callback will come */
	query_shutdown(&r);
	CHECK(held == 0 && r.ninflight == 0 && r.oldest == NULL, "shutdown: every handle let go, nothing in flight");
}

int
main(void)
{
	char err[256];
	struct netaddr n;
	const char *why;

	if (!CHECK(options_init(&opt) == 0, "the defaults come from the option table"))
		return unit_summary();
	CHECK(opt.ttl_cap == 60 && opt.require_mutual && opt.sink_mode == SINK_HOST &&
	          opt.edns_buffer_size == 1232 && strcmp(opt.sink_host, "sink.clearinghouse.test") == 0,
	      "... ttl-cap 60, require-mutual yes, sink-mode host, edns-buffer-size 1232, the sink host");
	netaddr_parse_cidr("10.0.0.0/8", &n, &why);
	opt.recursion_acl = &n;
	opt.nrecursion_acl = 1;
	if (resolver_init(&r, &opt, err, sizeof(err)) != 0)
		return 99;
	r.lookup = fake_lookup;
	r.transport = (struct query_transport){ fake_hold, fake_reply, NULL };
	r.zone = zone_load(TOP_SRCDIR "/zones/clearinghouse.test.zone", err, sizeof(err));
	if (!CHECK(r.zone != NULL, "the clearinghouse zone loads (%s)", r.zone ? "ok" : err))
		return unit_summary();
	struct policy *p = policy_new(1);
	uint32_t a = policy_add_domain(p, "a.test", 1, true);
	uint32_t b = policy_add_domain(p, "b.test", 1, true);
	uint32_t c = policy_add_domain(p, "c.test", 1, true);
	uint32_t d = policy_add_domain(p, "d.test", 1, true);
	uint32_t e = policy_add_domain(p, "e.test", 1, true);
	uint32_t g = policy_add_domain(p, "g.test", 1, true);
	policy_finish(p);
	netaddr_parse_cidr("127.0.0.2", &n, &why);
	policy_add_cidr(p, &n, a);
	netaddr_parse_cidr("127.0.0.3", &n, &why);
	policy_add_cidr(p, &n, e);
	struct policy_rule e_d = { .id = 3, .priority = 0, .from = { .kind = SEL_DOMAIN, .index = e },
	                           .to = { .kind = SEL_DOMAIN, .index = d }, .allow = false };
	policy_add_rule(p, &e_d);
	e_d.id = 4;
	e_d.to.index = g;
	policy_add_rule(p, &e_d);
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
	test_upstream();
	test_upstream_policy();
	test_upstream_limits();
	CHECK_INT(held, 0, "every handle the transport held was let go");

	policy_free(p);
	zone_free((struct zone *)r.zone);
	resolver_cleanup(&r);
	opt.recursion_acl = NULL;
	options_free(&opt);
	return unit_summary();
}
