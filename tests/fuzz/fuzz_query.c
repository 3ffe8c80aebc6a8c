/*
 * fuzz_query.c -- the request path: bytes -> query_process(), and the
 * upstream-answer path behind it.
 *
 * Set up once: a test policy built in memory (policy_new, policy_add_*),
 * the clearinghouse zone (zones/clearinghouse.test.zone), a fake upstream
 * (r.lookup) that records each lookup and a fake transport that counts the
 * handles it holds, as tests/unit/test_query.c does. Per input the
 * resolver's state is fresh: empty caches (decisions, learned targets,
 * answers) and rate limiter, made small here (resolver_init() makes them
 * at their full size, which would cost more than the query), and no lookup
 * in flight.
 *
 * Input:
 *   byte 0      transport and source: bit 0 TCP; bits 1-3 the source (one
 *               of eight: identified IPv4 and IPv6, unidentified inside
 *               the recursion ACL, unknown); bits 4-6 the upstream mode
 *               (answer insecure/secure/bogus, fail, answer with the
 *               lookup's question spliced in, insecure or secure, answer
 *               at once inside r.lookup, let the query time out first);
 *               bit 7 rate-limit 1 (the second query is slipped or dropped
 *               over UDP)
 *   byte 1      options: sink-mode, require-mutual, police-domain-address,
 *               unknown-peer, edns-buffer-size, the second query from
 *               another source
 *   bytes 2-3   the query's length N (big-endian, cut to what is there)
 *   N bytes     the query
 *   the rest    the upstream's answer packet: every recorded lookup is
 *               called back with it (and the lookups those answers start,
 *               a few rounds deep); then the same query is asked again
 *               (from the answer cache), from the second source when
 *               byte 1 says so
 *
 * Invariants (abort() when broken):
 *   - QR=1 or a short header: QUERY_DROP, no answer;
 *   - an answer is at least a header, has QR set and the query's id, and
 *     is no longer than the client's limit: over UDP 512, or with EDNS the
 *     client's size capped by edns-buffer-size (never below 512); over TCP
 *     65535; late answers (through the transport) too;
 *   - every answer parses (ldns_wire2pkt);
 *   - once every lookup has been called back, every handle the transport
 *     held has been released, nothing is in flight, nobody waits, and no
 *     source is counted as waiting (recursion-max-per-source).
 */
#include "config.h"
#include "fuzz.h"
#include "addrcount.h"
#include "answer_cache.h"
#include "decision_cache.h"
#include "dname.h"
#include "log.h"
#include "netaddr.h"
#include "options.h"
#include "policy.h"
#include "query.h"
#include "resolver.h"
#include "rrl.h"
#include "targetmap.h"
#include "tsig.h"
#include "zone.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ldns/ldns.h>


#define FAIL(...) fuzz_fail("fuzz_query", __VA_ARGS__)

static struct options opt;
static struct netaddr acl;
static struct resolver r;
static struct zone *zone;
static struct policy *pol;
static struct netaddr sources[8];

/* upstream modes (byte 0, bits 4-7, modulo) */
enum mode {
	UP_INSECURE, UP_SECURE, UP_BOGUS, UP_FAIL, UP_SPLICE, UP_SPLICE_SECURE, UP_AT_ONCE,
	UP_TIMEOUT, UP_MODES
};

/* ---------------------------------------------------------------- fakes */

/* The transport's handle: which client, and what it may be sent. */
struct reply_handle {
	uint16_t id;      /* the query's id */
	size_t limit;     /* the most bytes the client accepts */
};

#define MAX_LOOKUPS 64
static struct fake_lookup {
	struct upstream_lookup *l;
	uint8_t qname[DNAME_MAXLEN];
	uint16_t qtype, qclass;
} lookups[MAX_LOOKUPS];
static size_t nlookups;
static int held;                   /* handles the transport holds */
static enum mode mode;
static const uint8_t *upstream;    /* the answer packet from the input */
static size_t upstream_len;

static void upstream_call(size_t i);

static int
fake_lookup(void *ctx, const uint8_t *qname, uint16_t qtype, uint16_t qclass, bool cd,
            struct upstream_lookup *l)
{
	(void)ctx;
	(void)cd;
	size_t n = dname_length(qname, DNAME_MAXLEN);
	if (n == 0)
		FAIL("a lookup of a name that is not one");
	if (nlookups == MAX_LOOKUPS)
		return -1;
	struct fake_lookup *f = &lookups[nlookups++];
	f->l = l;
	memcpy(f->qname, qname, n);
	f->qtype = qtype;
	f->qclass = qclass;
	if (mode == UP_AT_ONCE)
		upstream_call(nlookups - 1);
	return 0;
}

/* Every answer a client gets: the checks that do not depend on the path. */
static void
check_answer(const uint8_t *pkt, size_t len, uint16_t id, size_t limit, const char *how)
{
	ldns_pkt *p = NULL;

	if (len < LDNS_HEADER_SIZE)
		FAIL("%s answer of %zu bytes: shorter than a header", how, len);
	if (len > limit)
		FAIL("%s answer of %zu bytes over the client's limit of %zu", how, len, limit);
	if (!LDNS_QR_WIRE(pkt))
		FAIL("%s answer without QR", how);
	if (LDNS_ID_WIRE(pkt) != id)
		FAIL("%s answer with id %u, the query's is %u", how, LDNS_ID_WIRE(pkt), id);
	ldns_status st = ldns_wire2pkt(&p, pkt, len);
	if (st != LDNS_STATUS_OK)
		FAIL("%s answer does not parse: %s", how, ldns_get_errorstr_by_id(st));
	ldns_pkt_free(p);
}

static struct reply_handle *
fake_hold(void *ctx, const struct reply_handle *h)
{
	(void)ctx;
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
	if (held <= 0)
		FAIL("a reply through a handle the transport does not hold");
	if (len > 65535)
		FAIL("a late answer of %zu bytes", len);
	if (len > 0)
		check_answer(pkt, len, h->id, h->limit, "a late");
	held--;
	free(h);
}

/* Take lookup i off the list and call it back as the mode says. */
static void
upstream_call(size_t i)
{
	struct fake_lookup f = lookups[i];
	struct upstream_result res = { 0 };
	uint8_t *spliced = NULL;

	memmove(&lookups[i], &lookups[i + 1], (nlookups - i - 1) * sizeof(lookups[0]));
	nlookups--;
	res.packet = upstream;
	res.len = upstream_len;
	switch (mode) {
	case UP_SECURE:
	case UP_SPLICE_SECURE:
		res.sec = UPSTREAM_SECURE;
		break;
	case UP_BOGUS:
		res.sec = UPSTREAM_BOGUS;
		res.why_bogus = "fuzzed";
		break;
	case UP_FAIL:
		res.error = 1;
		res.packet = NULL;
		res.len = 0;
		break;
	default:
		break;
	}
	if ((mode == UP_SPLICE || mode == UP_SPLICE_SECURE) && upstream_len >= LDNS_HEADER_SIZE) {
		/* the input's header, the lookup's own question, the input's records */
		size_t n = dname_length(f.qname, DNAME_MAXLEN);
		spliced = malloc(upstream_len + n + 4);
		if (spliced) {
			memcpy(spliced, upstream, LDNS_HEADER_SIZE);
			ldns_write_uint16(spliced + 4, 1);
			memcpy(spliced + LDNS_HEADER_SIZE, f.qname, n);
			ldns_write_uint16(spliced + LDNS_HEADER_SIZE + n, f.qtype);
			ldns_write_uint16(spliced + LDNS_HEADER_SIZE + n + 2, f.qclass);
			memcpy(spliced + LDNS_HEADER_SIZE + n + 4, upstream + LDNS_HEADER_SIZE,
			       upstream_len - LDNS_HEADER_SIZE);
			res.packet = spliced;
			res.len = upstream_len + n + 4;
		}
	}
	f.l->done(f.l->arg, &res);
	free(spliced);
}

/* ---------------------------------------------------------------- the query */

/*
 * The client's size limit as RFC 6891 sets it, read from the query
 * independently of query.c: 512 unless the query is a well-formed QUERY with
 * one OPT in the additional section, then its size within [512,
 * edns-buffer-size].
 */
static size_t
expected_limit(const uint8_t *pkt, size_t len, bool tcp)
{
	if (tcp)
		return 65535;
	if (len < LDNS_HEADER_SIZE || LDNS_OPCODE_WIRE(pkt) != LDNS_PACKET_QUERY || LDNS_QDCOUNT(pkt) != 1)
		return 512;
	size_t o = LDNS_HEADER_SIZE;
	unsigned an = LDNS_ANCOUNT(pkt), ns = LDNS_NSCOUNT(pkt), ar = LDNS_ARCOUNT(pkt);
	int size = -1;
	for (unsigned i = 0; i < 1 + an + ns + ar; i++) {
		/* a name: labels, or a pointer (not in the question) */
		for (;;) {
			if (o >= len)
				return 512;
			uint8_t l = pkt[o];
			if (l == 0) {
				o++;
				break;
			}
			if ((l & 0xc0) == 0xc0 && i > 0) {
				o += 2;
				break;
			}
			if (l > 63)
				return 512;
			o += 1 + (size_t)l;
		}
		if (i == 0) {
			o += 4;
			continue;
		}
		if (o + 10 > len)
			return 512;
		uint16_t type = ldns_read_uint16(pkt + o), rdlen = ldns_read_uint16(pkt + o + 8);
		if (type == LDNS_RR_TYPE_OPT && i > an + ns)
			size = ldns_read_uint16(pkt + o + 2);
		o += 10 + (size_t)rdlen;
	}
	if (o > len || size < 512)
		return 512;
	return (size_t)size < (size_t)opt.edns_buffer_size ? (size_t)size : (size_t)opt.edns_buffer_size;
}

/* One query from source over UDP or TCP, its answer checked. */
static void
ask(const uint8_t *q, size_t qlen, const struct netaddr *source, bool tcp)
{
	/* exactly what the server gives: 4096 bytes for UDP, 65535 for TCP
	 * (arrays of their own, so that ASan sees a write past either) */
	static uint8_t out_udp[4096], out_tcp[65535];
	size_t cap = tcp ? sizeof(out_tcp) : sizeof(out_udp), outlen = 0;
	uint8_t *out = tcp ? out_tcp : out_udp;
	uint8_t *pkt = malloc(qlen ? qlen : 1); /* an exact copy: reads past it are caught */
	if (!pkt)
		abort();
	memcpy(pkt, q, qlen);
	size_t limit = expected_limit(q, qlen, tcp);
	struct reply_handle h = { .id = qlen >= 2 ? LDNS_ID_WIRE(q) : 0, .limit = limit };
	int before = held;
	enum query_result res = query_process(&r, pkt, qlen, source, tcp, &h, out, cap, &outlen);
	switch (res) {
	case QUERY_DROP:
		if (held != before)
			FAIL("a dropped query left a handle held");
		break;
	case QUERY_ANSWERED:
		if (qlen < LDNS_HEADER_SIZE || LDNS_QR_WIRE(q))
			FAIL("a %s was answered", qlen < LDNS_HEADER_SIZE ? "short packet" : "response (QR=1)");
		check_answer(out, outlen, h.id, limit, "an immediate");
		break;
	case QUERY_PENDING:
		if (qlen < LDNS_HEADER_SIZE || LDNS_QR_WIRE(q))
			FAIL("a %s went upstream", qlen < LDNS_HEADER_SIZE ? "short packet" : "response (QR=1)");
		break;
	default:
		FAIL("query_process returned %d", (int)res);
	}
	free(pkt);
}

/* Call back every lookup, and those these answers start, a few rounds deep. */
static void
drain(void)
{
	for (int round = 0; round < 4 && nlookups > 0; round++) {
		size_t n = nlookups;
		for (size_t i = 0; i < n && nlookups > 0; i++)
			upstream_call(0);
	}
	/* what is left fails, as an upstream that gives up */
	enum mode m = mode;
	mode = UP_FAIL;
	while (nlookups > 0)
		upstream_call(0);
	mode = m;
}

/* The resolver as resolver_init() leaves it, with small caches. */
static void
fresh_state(void)
{
	decision_cache_free(r.decisions);
	targetmap_free(r.learned);
	answer_cache_free(r.answers);
	rrl_free(r.rrl);
	r.decisions = decision_cache_new(64);
	r.learned = targetmap_new(64);
	r.answers = answer_cache_new(64);
	r.rrl = rrl_new(64, (unsigned)opt.rate_limit, (unsigned)opt.rate_limit_identified,
	                (unsigned)opt.rate_limit_slip);
	if (!r.decisions || !r.learned || !r.answers || !r.rrl)
		FAIL("out of memory");
	r.epoch = 1;
	r.learning = 0;
	memset(&r.stats, 0, sizeof(r.stats));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	static bool ready;

	if (!ready) {
		/* not even errors: the search would print little else */
		log_init("fuzz_query", LOG_LEVEL_ERR - 1, 0);
		if (options_init(&opt) != 0)
			abort();
		const char *why;
		netaddr_parse_cidr("10.0.0.0/8", &acl, &why);
		opt.recursion_acl = &acl;
		opt.nrecursion_acl = 1;
		zone = zone_load(TOP_SRCDIR "/zones/clearinghouse.test.zone", err, sizeof(err));
		if (!zone)
			FAIL("the clearinghouse zone: %s", err);

		/* the community: a..g.test, two groups, rules of every kind */
		pol = policy_new(1);
		static const char *const names[] = { "a.test", "b.test", "c.test", "d.test",
			                             "e.test", "f.test", "g.test", "sub.a.test" };
		uint32_t d[8];
		for (int i = 0; i < 8; i++)
			d[i] = policy_add_domain(pol, names[i], (uint32_t)i, i != 5);
		uint32_t g1 = policy_add_group(pol, "partners"), g2 = policy_add_group(pol, "closed");
		policy_finish(pol);
		policy_add_membership(pol, d[0], g1);
		policy_add_membership(pol, d[1], g1);
		policy_add_membership(pol, d[3], g2);
		policy_add_membership(pol, d[6], g2);
		static const char *const cidrs[] = { "127.0.0.2", "127.0.0.3/32", "2001:db8:a::/48",
			                             "192.0.2.0/24" };
		static const int owner[] = { 0, 4, 1, 3 };
		for (int i = 0; i < 4; i++) {
			struct netaddr n;
			netaddr_parse_cidr(cidrs[i], &n, &why);
			policy_add_cidr(pol, &n, d[owner[i]]);
		}
		struct policy_rule rules[] = {
			{ .id = 1, .priority = 1, .from = { SEL_DOMAIN, d[0], 0, 0 }, .to = { SEL_DOMAIN, d[2], 0, 0 } },
			{ .id = 2, .priority = 2, .from = { SEL_GROUP, g1, 0, 0 }, .to = { SEL_GROUP, g1, 0, 0 }, .allow = true },
			{ .id = 3, .priority = 3, .from = { SEL_DOMAIN, d[4], 0, 0 }, .to = { SEL_DOMAIN, d[3], 0, 0 } },
			{ .id = 4, .priority = 3, .from = { SEL_DOMAIN, d[4], 0, 0 }, .to = { SEL_DOMAIN, d[6], 0, 0 } },
			{ .id = 5, .priority = 4, .from = { SEL_LEVEL, 0, 2, UINT32_MAX }, .to = { SEL_LEVEL, 0, 0, 3 }, .allow = true },
			{ .id = 6, .priority = 5, .from = { SEL_ANY, 0, 0, 0 }, .to = { SEL_GROUP, g2, 0, 0 }, .allow = true,
			  .expires = time(NULL) + 86400 },
			{ .id = 7, .priority = 6, .from = { SEL_ANY, 0, 0, 0 }, .to = { SEL_ANY, 0, 0, 0 }, .allow = true },
		};
		for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
			policy_add_rule(pol, &rules[i]);
		/* a TSIG key of b.test (secret bytes 0..31, seeds.py signs with it), a
		 * certificate name of c.test, and e.test requiring TSIG */
		uint8_t kname[DNAME_MAXLEN], secret[32];
		for (int i = 0; i < 32; i++)
			secret[i] = (uint8_t)i;
		dname_from_text("k.test", kname);
		policy_add_key(pol, POLICY_KEY_TSIG, kname, d[1], TSIG_HMAC_SHA256, secret, sizeof(secret));
		dname_from_text("xmpp1.c-site.test", kname);
		policy_add_key(pol, POLICY_KEY_CERT, kname, d[2], 0, NULL, 0);
		policy_set_domain_require(pol, d[4], POLICY_ID_TSIG);
		policy_finish(pol);
		uint32_t t = policy_add_target(pol, d[1], XMPP_SERVER, 5, 10, 5270, "xmpp.b.test");
		struct netaddr n;
		netaddr_parse_cidr("10.9.9.9", &n, &why);
		policy_add_target_address(pol, t, &n);
		netaddr_parse_cidr("2001:db8::9", &n, &why);
		policy_add_target_address(pol, t, &n);
		policy_add_target(pol, d[1], XMPP_SERVER_TLS, 0, 0, 5223, "tls.b.test");
		policy_add_target(pol, d[3], XMPP_SERVER, 0, 0, 0, ".");
		policy_add_target(pol, d[6], XMPP_JABBER, 1, 1, 5269, "hidden.g.test");
		policy_finish(pol);

		/* the recursion-max-outstanding cap is within reach of one input */
		opt.recursion_max_outstanding = 16;
		if (resolver_init(&r, &opt, err, sizeof(err)) != 0)
			FAIL("resolver_init: %s", err);
		r.zone = zone;
		r.policy = pol;
		r.lookup = fake_lookup;
		r.transport = (struct query_transport){ fake_hold, fake_reply, NULL };

		/* identified a (v4), e (v4), b (v6), d (v4 /24); in the ACL; unknown */
		static const char *const src[8] = { "127.0.0.2", "127.0.0.3", "2001:db8:a::5", "192.0.2.77",
			                            "10.0.0.7", "10.200.0.1", "127.0.0.9", "2001:db8:ff::1" };
		for (int i = 0; i < 8; i++)
			netaddr_parse_cidr(src[i], &sources[i], &why);
		ready = true;
	}
	if (size < 4)
		return 0;

	bool tcp = data[0] & 1;
	const struct netaddr *source = &sources[(data[0] >> 1) & 7];
	mode = (enum mode)((data[0] >> 4) & 7);
	opt.rate_limit = opt.rate_limit_identified = (data[0] & 0x80) ? 1 : 100;
	uint8_t o = data[1];
	opt.sink_mode = (o & 3) == 1 ? SINK_REFUSE : (o & 3) == 2 ? SINK_LISTENER : SINK_HOST;
	opt.require_mutual = !(o & 4);
	opt.police_domain_address = !(o & 8);
	opt.unknown_peer = (o & 16) ? UNKNOWN_PEER_PASS : UNKNOWN_PEER_DENY;
	static const int sizes[4] = { 1232, 512, 4096, 1400 };
	opt.edns_buffer_size = sizes[(o >> 5) & 3];
	bool again_elsewhere = o & 0x80;
	size_t qlen = (size_t)data[2] << 8 | data[3];
	if (qlen > size - 4)
		qlen = size - 4;
	const uint8_t *q = data + 4;
	upstream = q + qlen;
	upstream_len = size - 4 - qlen;

	fresh_state();

	ask(q, qlen, source, tcp);
	if (mode == UP_TIMEOUT) {
		/* the client is answered SERVFAIL; the lookups go on and still teach */
		query_expire(&r, query_clock_ms() + (uint64_t)opt.recursion_timeout * 1000);
		mode = UP_INSECURE;
	}
	drain();
	/* the same question again: from the answer cache, or for another requester */
	ask(q, qlen, again_elsewhere ? &sources[((data[0] >> 1) + 3) & 7] : source, tcp);
	drain();
	if (held != 0)
		FAIL("%d handles still held after every lookup was answered", held);
	if (r.ninflight != 0 || r.oldest != NULL || r.learning != 0)
		FAIL("lookups in flight (%zu), clients waiting (%s) or learning (%u) after every lookup was answered",
		     r.ninflight, r.oldest ? "yes" : "no", r.learning);
	for (int i = 0; i < 8; i++)
		if (addrcount_get(r.waiting_by_source, &sources[i]) != 0)
			FAIL("source %d still counts %u queries waiting, none waits", i,
			     addrcount_get(r.waiting_by_source, &sources[i]));
	return 0;
}
