/*
 * query.c -- the answer pipeline of docs/resolverd.md "What resolverd answers".
 *
 * Read top-down: parse the request, identify the requester, decide (own
 * zone, XMPP policy, recursion), answer. An answer the upstream must supply
 * takes the same road in two halves: recurse() starts the lookup, and
 * upstream_done() makes the client's answer from the upstream result and
 * sends it through the transport. Nothing else decides what a client gets.
 *
 * The request is parsed by hand, strictly and without allocating: queries
 * are small and this runs for every packet. Upstream answers are parsed with
 * ldns; DNS constants and header flags come from ldns.
 */
#include "config.h"
#include "query.h"
#include "answer.h"
#include "answer_cache.h"
#include "decision_cache.h"
#include "dname.h"
#include "log.h"
#include "options.h"
#include "policy.h"
#include "prefixmap.h"
#include "targetmap.h"
#include "zone.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>

#include <ldns/ldns.h>

/* most peers one host name is checked against */
#define MAX_HOST_PEERS 16
/* most target-learning lookups in flight: they must not crowd out client queries */
#define MAX_LEARNING 32
/* TTL places remembered per upstream answer for the answer cache */
#define CACHE_TTLS 255
/* RFC 6891 9: extended RCODE 16; ldns names only the 4-bit RCODEs */
#define RCODE_BADVERS 16

/** The parts of a request the pipeline needs. */
struct request {
	uint16_t id;
	uint8_t opcode;
	bool rd, cd, ad;               /* header flags of the query */
	const uint8_t *question;       /* in the packet, or in the pending lookup */
	size_t question_len;           /* name + type + class */
	uint8_t qname[DNAME_MAXLEN];   /* lower-case copy */
	uint16_t qtype, qclass;
	bool edns, do_bit;
	uint16_t edns_size;
	uint8_t edns_version;
};

/* Skip a possibly compressed name in an RR; returns the offset after it or 0. */
static size_t
skip_name(const uint8_t *pkt, size_t len, size_t o)
{
	while (o < len) {
		uint8_t l = pkt[o];
		if (l == 0)
			return o + 1;
		if ((l & 0xc0) == 0xc0)
			return o + 2 <= len ? o + 2 : 0;
		if (l > 63)
			return 0;
		o += 1 + (size_t)l;
	}
	return 0;
}

/*
 * Parse question and EDNS. Returns 0, or an RCODE to answer with
 * (FORMERR); req->question is set only when the question itself parsed.
 */
static int
parse_request(const uint8_t *pkt, size_t len, struct request *req)
{
	uint16_t qd = LDNS_QDCOUNT(pkt), an = LDNS_ANCOUNT(pkt), ns = LDNS_NSCOUNT(pkt),
	         ar = LDNS_ARCOUNT(pkt);
	size_t o = LDNS_HEADER_SIZE;

	if (qd != 1)
		return LDNS_RCODE_FORMERR;
	/* question names are not compressed (there is nothing before them) */
	size_t nlen = dname_length(pkt + o, len - o);
	if (nlen == 0 || o + nlen + 4 > len)
		return LDNS_RCODE_FORMERR;
	memcpy(req->qname, pkt + o, nlen);
	dname_lower(req->qname);
	req->question = pkt + o;
	req->question_len = nlen + 4;
	req->qtype = ldns_read_uint16(pkt + o + nlen);
	req->qclass = ldns_read_uint16(pkt + o + nlen + 2);
	o += nlen + 4;
	/* walk the other sections to find OPT and check the packet is whole */
	unsigned total = (unsigned)an + ns + ar;
	for (unsigned i = 0; i < total; i++) {
		size_t start = o;
		o = skip_name(pkt, len, o);
		if (o == 0 || o + 10 > len)
			return LDNS_RCODE_FORMERR;
		uint16_t type = ldns_read_uint16(pkt + o), rdlen = ldns_read_uint16(pkt + o + 8);
		if (o + 10 + rdlen > len)
			return LDNS_RCODE_FORMERR;
		if (type == LDNS_RR_TYPE_OPT) {
			/* one OPT, owner root, in the additional section (RFC 6891 6.1.1) */
			if (req->edns || i < (unsigned)an + ns || pkt[start] != 0)
				return LDNS_RCODE_FORMERR;
			req->edns = true;
			req->edns_size = ldns_read_uint16(pkt + o + 2);
			req->edns_version = pkt[o + 5];
			req->do_bit = (pkt[o + 6] & 0x80) != 0;
		}
		o += 10 + rdlen;
	}
	return 0;
}

static size_t
udp_limit(const struct resolver *r, const struct request *req)
{
	size_t ours = (size_t)r->opt->edns_buffer_size;
	if (!req->edns || req->edns_size < 512)
		return 512;
	return req->edns_size < ours ? req->edns_size : ours;
}

/*
 * Start the answer to req: its id and question, QR, the query's opcode, RD
 * and CD echoed, RA set, rcode, and EDNS when the query had it. limit: the
 * most bytes the client takes.
 */
static void
start_answer(const struct resolver *r, struct answer *a, const struct request *req, uint8_t *out,
             size_t outcap, size_t limit, uint8_t rcode)
{
	answer_start(a, out, outcap, limit, req->id, req->question, req->question_len);
	LDNS_OPCODE_SET(out, req->opcode);
	if (req->rd)
		LDNS_RD_SET(out);
	if (req->cd)
		LDNS_CD_SET(out);
	LDNS_RA_SET(out);
	answer_set_rcode(a, rcode);
	a->edns = req->edns;
	a->edns_do = req->do_bit;
	a->edns_size = (uint16_t)r->opt->edns_buffer_size;
}

/*
 * NODATA made by policy: the clearinghouse zone's SOA in the authority
 * section, so that the empty answer is cached (RFC 2308) for at most the cap.
 */
static void
answer_nodata(const struct resolver *r, struct answer *a)
{
	const struct zone_rr *soa = &r->zone->rrs[r->zone->soa];
	uint32_t ttl = (uint32_t)r->opt->ttl_cap;

	answer_add_rr(a, SECTION_AUTHORITY, soa->owner, soa->type, soa->rrclass,
	              ttl < r->zone->neg_ttl ? ttl : r->zone->neg_ttl, soa->rdata, soa->rdlen);
}

/* The sink: SRV to the sink host (or "." in refuse mode), its addresses as extra. */
static void
answer_sink(const struct resolver *r, const struct request *req, struct answer *a)
{
	uint8_t rdata[6 + DNAME_MAXLEN];
	uint32_t ttl = (uint32_t)r->opt->ttl_cap;
	size_t tlen;

	if (req->qtype != LDNS_RR_TYPE_SRV) {
		/* other types at a denied service name: NODATA, nothing to learn */
		answer_nodata(r, a);
		return;
	}
	memset(rdata, 0, 6);
	if (r->opt->sink_mode == SINK_REFUSE) {
		rdata[6] = 0; /* "." with port 0: service decidedly not available */
		tlen = 1;
	} else {
		rdata[4] = (uint8_t)(r->opt->sink_port >> 8);
		rdata[5] = (uint8_t)r->opt->sink_port;
		tlen = dname_length(r->sink_host, DNAME_MAXLEN);
		memcpy(rdata + 6, r->sink_host, tlen);
	}
	answer_add_rr(a, SECTION_ANSWER, NULL, LDNS_RR_TYPE_SRV, LDNS_RR_CLASS_IN, ttl, rdata, (uint16_t)(6 + tlen));
	if (r->opt->sink_mode != SINK_REFUSE && zone_contains(r->zone, r->sink_host)) {
		zone_add_rrset(r->zone, r->sink_host, LDNS_RR_TYPE_A, a, SECTION_ADDITIONAL, ttl, false);
		zone_add_rrset(r->zone, r->sink_host, LDNS_RR_TYPE_AAAA, a, SECTION_ADDITIONAL, ttl, false);
	}
}

/*
 * An allowed peer with targets in the database (a closed network without
 * public DNS): answer from them, never upstream. False when it has none.
 */
static bool
answer_targets(const struct resolver *r, const struct request *req, const struct policy *pol,
               uint32_t peer, enum xmpp_service svc, struct answer *a)
{
	const struct policy_domain *d = &pol->domains[peer];
	uint32_t ttl = (uint32_t)r->opt->ttl_cap;
	uint8_t rdata[6 + DNAME_MAXLEN];

	if (d->ntargets == 0)
		return false;
	if (req->qtype != LDNS_RR_TYPE_SRV) {
		answer_nodata(r, a);
		return true;
	}
	unsigned srvs = 0;
	for (int pass = 0; pass < 2; pass++) {
		for (uint32_t i = d->first_target; i < d->first_target + d->ntargets; i++) {
			const struct policy_target *t = &pol->targets[i];
			if (t->service != svc)
				continue;
			if (pass == 0) {
				size_t hl = dname_length(t->host, DNAME_MAXLEN);
				rdata[0] = (uint8_t)(t->priority >> 8);
				rdata[1] = (uint8_t)t->priority;
				rdata[2] = (uint8_t)(t->weight >> 8);
				rdata[3] = (uint8_t)t->weight;
				rdata[4] = (uint8_t)(t->port >> 8);
				rdata[5] = (uint8_t)t->port;
				memcpy(rdata + 6, t->host, hl);
				answer_add_rr(a, SECTION_ANSWER, NULL, LDNS_RR_TYPE_SRV, LDNS_RR_CLASS_IN, ttl, rdata,
				              (uint16_t)(6 + hl));
				srvs++;
				continue;
			}
			/* the hosts' addresses save the requester a round trip */
			for (size_t k = 0; k < t->naddrs; k++) {
				bool v4 = t->addrs[k].family == AF_INET;
				answer_add_rr(a, SECTION_ADDITIONAL, t->host, v4 ? LDNS_RR_TYPE_A : LDNS_RR_TYPE_AAAA, LDNS_RR_CLASS_IN, ttl,
				              t->addrs[k].addr, v4 ? 4 : 16);
			}
		}
	}
	if (srvs == 0)
		answer_nodata(r, a); /* no target for this service */
	return true;
}

/*
 * A query waiting for the upstream: a copy of the request (its question
 * lives here, the packet is gone), who gets the answer and how it is shaped.
 * Made by pending_new(), freed by upstream_done().
 */
struct pending {
	struct resolver *r;
	struct upstream_lookup lookup;  /* recursion's handle, calls upstream_done */
	struct reply_handle *client;    /* held by the transport; NULL: a lookup of our own */
	struct request req;             /* req.question points into question below */
	uint8_t question[DNAME_MAXLEN + 4];
	size_t limit;                   /* most bytes the client accepts */
	uint32_t ttl_cap;               /* UINT32_MAX: not a policy answer */
	bool learn;                     /* an SRV lookup of learn_peer: remember its target hosts */
	uint8_t learn_peer[DNAME_MAXLEN];  /* wire */
};

static void upstream_done(void *arg, const struct upstream_result *res);

/*
 * A lookup of req's question; learn_peer (or NULL): the peer whose SRV
 * targets the answer teaches. NULL on no memory.
 */
static struct pending *
pending_new(struct resolver *r, const struct request *req, size_t limit, uint32_t ttl_cap,
            const uint8_t *learn_peer)
{
	struct pending *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->r = r;
	p->req = *req;
	memcpy(p->question, req->question, req->question_len);
	p->req.question = p->question;
	p->limit = limit;
	p->ttl_cap = ttl_cap;
	p->lookup.done = upstream_done;
	p->lookup.arg = p;
	if (learn_peer) {
		p->learn = true;
		memcpy(p->learn_peer, learn_peer, dname_length(learn_peer, DNAME_MAXLEN));
	}
	return p;
}

/* Start p's lookup; upstream_done may run (and free p) before this returns. */
static int
pending_start(struct pending *p)
{
	struct resolver *r = p->r;

	if (!r->lookup)
		return -1;
	return r->lookup(r->lookup_ctx, p->question, p->req.qtype, p->req.qclass, p->req.cd,
	                 &p->lookup);
}

/*
 * The answer comes from the upstream: from the answer cache at once, or
 * later through upstream_done(). On failure to start, SERVFAIL now.
 */
static enum query_result
recurse(struct resolver *r, const struct request *req, bool tcp, const struct reply_handle *h,
        uint32_t ttl_cap, const uint8_t *learn_peer, struct answer *a)
{
	struct answer_key k = { req->qname, req->qtype, req->qclass,
	                        answer_variant(req->do_bit, req->cd) };

	if (answer_cache_get(r->answers, &k, time(NULL), req->do_bit || req->ad, ttl_cap, a))
		return QUERY_ANSWERED;
	struct pending *p = pending_new(r, req, tcp ? 65535 : udp_limit(r, req), ttl_cap, learn_peer);
	if (p) {
		p->client = r->transport.hold ? r->transport.hold(r->transport.ctx, h) : NULL;
		if (p->client) {
			if (pending_start(p) == 0) {
				r->stats.recursions++;
				return QUERY_PENDING;
			}
			r->transport.reply(r->transport.ctx, p->client, NULL, 0);
		}
		free(p);
	}
	r->stats.servfail++;
	answer_set_rcode(a, LDNS_RCODE_SERVFAIL);
	return QUERY_ANSWERED;
}

/*
 * A denied SRV lookup: look the SRV up ourselves (at most once a minute per
 * peer) so that the peer's target hosts are known before the requester asks
 * for their addresses directly.
 */
static void
learn_targets(struct resolver *r, const struct request *req, const uint8_t *peer)
{
	if (r->learning >= MAX_LEARNING || !targetmap_probe_due(r->learned, peer, time(NULL)))
		return;
	struct request srv = *req;
	srv.qtype = LDNS_RR_TYPE_SRV;
	srv.do_bit = srv.cd = false;
	struct pending *p = pending_new(r, &srv, 65535, UINT32_MAX, peer);
	if (!p)
		return;
	r->learning++; /* before: a cached answer calls back at once */
	if (pending_start(p) != 0) {
		r->learning--;
		free(p);
	}
}

static void
log_decision(const struct resolver *r, uint32_t requester, const struct netaddr *source,
             const char *peer, const struct policy_verdict *v)
{
	char addr[64];

	if (log_level() < LOG_LEVEL_INFO)
		return;
	log_info("decision requester=%s source=%s peer=%s %s rule=%lld%s%s",
	         requester != POLICY_NONE ? r->policy->domains[requester].name : "-",
	         netaddr_format_addr(source, addr, sizeof(addr)), peer, v->allow ? "allow" : "deny",
	         (long long)v->rule_id, v->reason ? " reason=" : "", v->reason ? v->reason : "");
}

/* XMPP service lookup under a community domain (or not): the policy decides. */
static enum query_result
answer_xmpp(struct resolver *r, const struct request *req, enum xmpp_service svc,
            const uint8_t *peer_name,
            uint32_t requester, const struct netaddr *source, bool tcp,
            const struct reply_handle *h, struct answer *a)
{
	const struct policy *pol = r->policy;
	unsigned above;
	uint32_t peer = policy_find_domain_suffix(pol, peer_name, dname_length(peer_name, DNAME_MAXLEN),
	                                          &above);
	struct policy_verdict v;
	char text[DNAME_MAXLEN + 1];

	if (peer == POLICY_NONE) {
		if (r->opt->unknown_peer == UNKNOWN_PEER_PASS)
			return recurse(r, req, tcp, h, (uint32_t)r->opt->ttl_cap, NULL, a);
		memset(&v, 0, sizeof(v));
		v.reason = "unknown peer";
		log_decision(r, requester, source, dname_to_text(peer_name, text, sizeof(text)), &v);
		r->stats.policy_deny++;
		answer_sink(r, req, a);
		return QUERY_ANSWERED;
	}
	decision_cache_decide(r->decisions, pol, requester, peer, time(NULL), r->opt->require_mutual,
	                      &v);
	log_decision(r, requester, source, pol->domains[peer].name, &v);
	if (v.allow) {
		r->stats.policy_allow++;
		if (above == 0 && answer_targets(r, req, pol, peer, svc, a))
			return QUERY_ANSWERED;
		return recurse(r, req, tcp, h, (uint32_t)r->opt->ttl_cap,
		               req->qtype == LDNS_RR_TYPE_SRV ? pol->domains[peer].wire : NULL, a);
	}
	r->stats.policy_deny++;
	answer_sink(r, req, a);
	if (req->qtype == LDNS_RR_TYPE_SRV && pol->domains[peer].ntargets == 0)
		learn_targets(r, req, pol->domains[peer].wire);
	return QUERY_ANSWERED;
}

/* The sink's address under the question's name: what a denied host lookup gets. */
static void
answer_sink_address(const struct resolver *r, const struct request *req, struct answer *a)
{
	uint32_t ttl = (uint32_t)r->opt->ttl_cap;
	unsigned n = 0;

	if (req->qtype == LDNS_RR_TYPE_A || req->qtype == LDNS_RR_TYPE_ANY)
		n += zone_add_rrset(r->zone, r->sink_host, LDNS_RR_TYPE_A, a, SECTION_ANSWER, ttl, true);
	if (req->qtype == LDNS_RR_TYPE_AAAA || req->qtype == LDNS_RR_TYPE_ANY)
		n += zone_add_rrset(r->zone, r->sink_host, LDNS_RR_TYPE_AAAA, a, SECTION_ANSWER, ttl, true);
	if (n == 0)
		answer_nodata(r, a); /* the sink has no address of that family */
}

/*
 * A/AAAA of a community domain itself (the RFC 6120 3.2.2 fallback), of a
 * name below it (components), or of a peer's SRV target host: decided like the SRV lookup, so that a denied
 * requester cannot skip the SRV step. A host serving several peers is allowed
 * when any of them is. QUERY_DROP means "not a policed name": go on.
 */
static enum query_result
answer_address(struct resolver *r, const struct request *req, uint32_t requester,
               const struct netaddr *source, bool tcp, const struct reply_handle *h,
               struct answer *a)
{
	const struct policy *pol = r->policy;
	uint32_t peers[MAX_HOST_PEERS];
	size_t npeers = 0, first = 0;
	bool is_domain = false;

	if (r->opt->police_domain_address) {
		/* P itself, or a name below it (a component such as conference.P) */
		unsigned above;
		uint32_t d = policy_find_domain_suffix(pol, req->qname,
		                                       dname_length(req->qname, DNAME_MAXLEN), &above);
		if (d != POLICY_NONE) {
			peers[npeers++] = d;
			is_domain = above == 0;
		}
	}
	size_t ntargets = policy_find_target_host(pol, req->qname, &first);
	for (size_t i = 0; i < ntargets && npeers < MAX_HOST_PEERS; i++)
		peers[npeers++] = pol->targets[pol->targets_by_host[first + i]].domain;
	const uint8_t *learned[MAX_HOST_PEERS];
	size_t nlearned = targetmap_lookup(r->learned, req->qname, time(NULL), learned, MAX_HOST_PEERS);
	for (size_t i = 0; i < nlearned && npeers < MAX_HOST_PEERS; i++) {
		uint32_t d = policy_find_domain_wire(pol, learned[i]);
		if (d != POLICY_NONE)
			peers[npeers++] = d;
	}
	if (npeers == 0)
		return QUERY_DROP;

	struct policy_verdict v;
	uint32_t decided = peers[0];
	for (size_t i = 0; i < npeers; i++) {
		decision_cache_decide(r->decisions, pol, requester, peers[i], time(NULL),
		                      r->opt->require_mutual, &v);
		decided = peers[i];
		if (v.allow)
			break;
	}
	log_decision(r, requester, source, pol->domains[decided].name, &v);
	if (!v.allow) {
		r->stats.policy_deny++;
		answer_sink_address(r, req, a);
		return QUERY_ANSWERED;
	}
	r->stats.policy_allow++;
	/* addresses from the targets table: closed networks answer without upstream */
	bool from_db = false;
	for (size_t i = 0; i < ntargets; i++) {
		const struct policy_target *t = &pol->targets[pol->targets_by_host[first + i]];
		for (size_t k = 0; k < t->naddrs; k++) {
			bool v4 = t->addrs[k].family == AF_INET;
			from_db = true;
			if ((v4 && req->qtype == LDNS_RR_TYPE_AAAA) || (!v4 && req->qtype == LDNS_RR_TYPE_A))
				continue;
			answer_add_rr(a, SECTION_ANSWER, NULL, v4 ? LDNS_RR_TYPE_A : LDNS_RR_TYPE_AAAA, LDNS_RR_CLASS_IN,
			              (uint32_t)r->opt->ttl_cap, t->addrs[k].addr, v4 ? 4 : 16);
		}
		if (from_db)
			break; /* one target's addresses are the host's addresses */
	}
	if (from_db) {
		if (a->count[SECTION_ANSWER] == 0)
			answer_nodata(r, a); /* no address of the family asked for */
		return QUERY_ANSWERED;
	}
	/* a closed-network peer (targets in the database) has no address of its own: NODATA */
	if (is_domain && ntargets == 0 && pol->domains[peers[0]].ntargets > 0) {
		answer_nodata(r, a);
		return QUERY_ANSWERED;
	}
	return recurse(r, req, tcp, h, (uint32_t)r->opt->ttl_cap, NULL, a);
}

static bool
in_recursion_acl(const struct resolver *r, const struct netaddr *source)
{
	return r->recursion_acl && prefixmap_lookup(r->recursion_acl, source) != UINT32_MAX;
}

enum query_result
query_process(struct resolver *r, const uint8_t *pkt, size_t len, const struct netaddr *source,
              bool tcp, const struct reply_handle *h, uint8_t *out, size_t outcap, size_t *outlen)
{
	struct request req;
	struct answer a;
	enum query_result res = QUERY_ANSWERED;

	r->stats.queries++;
	/* an unparseable header or a response: drop, never answer */
	if (len < LDNS_HEADER_SIZE || LDNS_QR_WIRE(pkt)) {
		r->stats.dropped++;
		return QUERY_DROP;
	}
	memset(&req, 0, sizeof(req));
	req.id = LDNS_ID_WIRE(pkt);
	req.opcode = LDNS_OPCODE_WIRE(pkt);
	req.rd = LDNS_RD_WIRE(pkt) != 0;
	req.cd = LDNS_CD_WIRE(pkt) != 0;
	req.ad = LDNS_AD_WIRE(pkt) != 0;
	int rcode = parse_request(pkt, len, &req);
	size_t limit = tcp ? 65535 : udp_limit(r, &req);
	if (rcode != 0) {
		r->stats.formerr++;
		if (req.question == NULL)
			req.question_len = 0;
		req.edns = false; /* the OPT may be what was malformed */
		start_answer(r, &a, &req, out, outcap, tcp ? 65535 : 512, (uint8_t)rcode);
		goto done;
	}
	if (req.opcode != LDNS_PACKET_QUERY) {
		r->stats.notimp++;
		start_answer(r, &a, &req, out, outcap, limit, LDNS_RCODE_NOTIMPL);
		goto done;
	}
	start_answer(r, &a, &req, out, outcap, limit, LDNS_RCODE_NOERROR);
	if (req.edns && req.edns_version != 0) {
		/* RFC 6891 6.1.3: we speak EDNS version 0 only */
		a.edns_ext_rcode = RCODE_BADVERS >> 4;
		goto done;
	}

	uint32_t requester = policy_identify(r->policy, source);
	if (requester == POLICY_NONE && !in_recursion_acl(r, source)) {
		r->stats.refused++;
		answer_set_rcode(&a, LDNS_RCODE_REFUSED);
		goto done;
	}
	if (req.qclass != LDNS_RR_CLASS_IN) {
		answer_set_rcode(&a, LDNS_RCODE_REFUSED);
		goto done;
	}
	if (zone_contains(r->zone, req.qname)) {
		zone_answer(r->zone, req.qname, req.qtype, &a);
		goto done;
	}
	const uint8_t *peer_name;
	enum xmpp_service svc = dname_xmpp_service(req.qname, &peer_name);
	if (svc != XMPP_NONE) {
		res = answer_xmpp(r, &req, svc, peer_name, requester, source, tcp, h, &a);
		if (res == QUERY_PENDING)
			return res;
		goto done;
	}
	if (req.qtype == LDNS_RR_TYPE_A || req.qtype == LDNS_RR_TYPE_AAAA || req.qtype == LDNS_RR_TYPE_ANY) {
		res = answer_address(r, &req, requester, source, tcp, h, &a);
		if (res == QUERY_PENDING)
			return res;
		if (res == QUERY_ANSWERED)
			goto done;
	}
	res = recurse(r, &req, tcp, h, UINT32_MAX, NULL, &a);
	if (res == QUERY_PENDING)
		return res;
done:
	*outlen = answer_finish(&a);
	return QUERY_ANSWERED;
}

/* ------------------------------------------------------------------------
 * The second half of an upstream answer: the lookup's result comes back.
 */

/* DNSSEC records are sent only to clients that set DO (RFC 4035 3.2.1). */
static bool
is_dnssec_type(ldns_rr_type t)
{
	return t == LDNS_RR_TYPE_RRSIG || t == LDNS_RR_TYPE_NSEC || t == LDNS_RR_TYPE_NSEC3;
}

/*
 * Copy one upstream section into the answer, TTLs capped at p->ttl_cap; the
 * upstream TTLs go to upstream_ttls for the answer cache. False once the
 * answer is truncated.
 */
static bool
copy_section(const struct pending *p, ldns_rr_list *list, enum dns_section s, struct answer *a,
             ldns_buffer *rdbuf, uint32_t *upstream_ttls)
{
	for (size_t i = 0; i < ldns_rr_list_rr_count(list); i++) {
		ldns_rr *rr = ldns_rr_list_rr(list, i);
		ldns_rr_type t = ldns_rr_get_type(rr);
		if (t == LDNS_RR_TYPE_OPT)
			continue;
		if (!p->req.do_bit && is_dnssec_type(t) && t != p->req.qtype)
			continue;
		ldns_buffer_clear(rdbuf);
		for (size_t k = 0; k < ldns_rr_rd_count(rr); k++)
			ldns_rdf2buffer_wire(rdbuf, ldns_rr_rdf(rr, k));
		if (ldns_buffer_status(rdbuf) != LDNS_STATUS_OK || ldns_buffer_position(rdbuf) > 65535)
			continue;
		const uint8_t *owner = ldns_rdf_data(ldns_rr_owner(rr));
		uint32_t ttl = ldns_rr_ttl(rr);
		if (ttl > p->ttl_cap)
			ttl = p->ttl_cap;
		if (!answer_add_rr(a, s, dname_equal(owner, p->question) ? NULL : owner, (uint16_t)t,
		                   (uint16_t)ldns_rr_get_class(rr), ttl, ldns_buffer_begin(rdbuf),
		                   (uint16_t)ldns_buffer_position(rdbuf)))
			return false;
		if (a->nttl > 0 && a->nttl <= a->ttl_max)
			upstream_ttls[a->nttl - 1] = ldns_rr_ttl(rr);
	}
	return true;
}

/* Remember the target hosts of an upstream SRV answer for p->learn_peer. */
static void
learn_srv_targets(const struct pending *p, ldns_pkt *pkt)
{
	ldns_rr_list *an = ldns_pkt_answer(pkt);
	time_t now = time(NULL), fresh = 0;

	for (size_t i = 0; i < ldns_rr_list_rr_count(an); i++) {
		ldns_rr *rr = ldns_rr_list_rr(an, i);
		if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_SRV || ldns_rr_rd_count(rr) < 4)
			continue;
		ldns_rdf *target = ldns_rr_rdf(rr, 3);
		if (ldns_rdf_size(target) <= 1 || ldns_rdf_size(target) > DNAME_MAXLEN)
			continue; /* "." : no service */
		/* keep the upstream TTL (not the capped one), from one minute to one day */
		uint32_t ttl = ldns_rr_ttl(rr);
		ttl = ttl < 60 ? 60 : ttl > 86400 ? 86400 : ttl;
		targetmap_add(p->r->learned, ldns_rdf_data(target), p->learn_peer, now + (time_t)ttl);
		if (fresh == 0 || now + (time_t)ttl < fresh)
			fresh = now + (time_t)ttl;
	}
	/* no need to look this peer up again for the targets before they expire */
	if (fresh)
		targetmap_peer_learned(p->r->learned, p->learn_peer, fresh);
}

/* The upstream packet parsed, or NULL when it failed, was bogus or is unreadable. */
static ldns_pkt *
upstream_packet(const struct pending *p, const struct upstream_result *res)
{
	ldns_pkt *pkt = NULL;

	if (res->sec == UPSTREAM_BOGUS && p->client && log_level() >= LOG_LEVEL_INFO) {
		char name[DNAME_MAXLEN + 1];
		log_info("bogus answer for %s: %s", dname_to_text(p->question, name, sizeof(name)),
		         res->why_bogus ? res->why_bogus : "validation failed");
	}
	if (res->error != 0 || !res->packet || res->sec == UPSTREAM_BOGUS ||
	    ldns_wire2pkt(&pkt, res->packet, res->len) != LDNS_STATUS_OK)
		return NULL;
	return pkt;
}

/*
 * upstream_done_fn of every lookup: make the client's answer from the
 * upstream result (its RCODE and records, TTLs capped for policy answers,
 * AD when validated and wanted, SERVFAIL on failure or bogus data), keep it
 * in the answer cache, and send it through the transport. A lookup of our
 * own (target learning) only learns.
 */
static void
upstream_done(void *arg, const struct upstream_result *res)
{
	struct pending *p = arg;
	struct resolver *r = p->r;
	static uint8_t out[65535];
	uint16_t ttl_offsets[CACHE_TTLS];
	uint32_t upstream_ttls[CACHE_TTLS];
	struct answer a;
	ldns_pkt *pkt = upstream_packet(p, res);

	if (!p->client) {
		if (pkt)
			learn_srv_targets(p, pkt);
		ldns_pkt_free(pkt);
		r->learning--;
		free(p);
		return;
	}
	start_answer(r, &a, &p->req, out, sizeof(out), p->limit, LDNS_RCODE_NOERROR);
	a.ttl_offsets = ttl_offsets;
	a.ttl_max = CACHE_TTLS;
	if (!pkt) {
		r->stats.servfail++;
		answer_set_rcode(&a, LDNS_RCODE_SERVFAIL);
	} else {
		ldns_buffer *rdbuf = ldns_buffer_new(512);
		if (p->learn)
			learn_srv_targets(p, pkt);
		answer_set_rcode(&a, (uint8_t)ldns_pkt_get_rcode(pkt));
		/* secure, and the client can use it: RFC 6840 5.7, 4035 3.2.3 */
		if (res->sec == UPSTREAM_SECURE && (p->req.do_bit || p->req.ad))
			LDNS_AD_SET(out);
		if (rdbuf) {
			if (copy_section(p, ldns_pkt_answer(pkt), SECTION_ANSWER, &a, rdbuf, upstream_ttls) &&
			    copy_section(p, ldns_pkt_authority(pkt), SECTION_AUTHORITY, &a, rdbuf, upstream_ttls))
				copy_section(p, ldns_pkt_additional(pkt), SECTION_ADDITIONAL, &a, rdbuf,
				             upstream_ttls);
			ldns_buffer_free(rdbuf);
		}
		ldns_pkt_free(pkt);
		/* complete answers only: one cut by the client's size limit is not the answer */
		if (!a.truncated && a.nttl < CACHE_TTLS) {
			struct answer_key k = { p->req.qname, p->req.qtype, p->req.qclass,
			                        answer_variant(p->req.do_bit, p->req.cd) };
			answer_cache_put(r->answers, &k, &a, ttl_offsets, upstream_ttls, a.nttl,
			                 res->sec == UPSTREAM_SECURE, time(NULL));
		}
	}
	size_t len = answer_finish(&a);
	r->transport.reply(r->transport.ctx, p->client, out, len);
	free(p);
}
