/*
 * query.c -- the answer pipeline of PRODUCT.md "What resolverd answers".
 *
 * The request is parsed by hand, strictly and without allocating: queries
 * are small and this runs for every packet. Upstream answers are parsed with
 * ldns (recursion.c) and the own zone is loaded with ldns (zone.c).
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
#include "recursion.h"
#include "targetmap.h"
#include "zone.h"
#include "wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>

#define TYPE_A 1
#define TYPE_AAAA 28
#define TYPE_ANY 255
#define TYPE_SRV 33
#define TYPE_OPT 41
#define CLASS_IN 1
#define RCODE_FORMERR 1
#define RCODE_SERVFAIL 2
#define RCODE_NOTIMP 4
#define RCODE_REFUSED 5
#define RCODE_BADVERS 16

/* pairs remembered per snapshot: 3 requesters x 10,000 peers fit twice over */
#define DECISION_CACHE_ENTRIES 65536
/* learned (target host, peer) pairs; the tables are calloc()ed, so memory is
 * resident only where a community actually has entries */
#define LEARNED_TARGETS 262144
/* upstream answers kept ready to send */
#define ANSWER_CACHE_ENTRIES 131072
/* most peers one host name is checked against */
#define MAX_HOST_PEERS 16
/* most target-learning lookups in flight: they must not crowd out client queries */
#define MAX_LEARNING 32

/** The parts of a request the pipeline needs. */
struct request {
	uint16_t id, flags;
	const uint8_t *question;       /* in the packet */
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
	uint16_t qd = wire_get16(pkt + 4), an = wire_get16(pkt + 6), ns = wire_get16(pkt + 8), ar = wire_get16(pkt + 10);
	size_t o = DNS_HEADER_LEN;

	if (qd != 1)
		return RCODE_FORMERR;
	/* question names are not compressed (there is nothing before them) */
	size_t nlen = dname_length(pkt + o, len - o);
	if (nlen == 0 || o + nlen + 4 > len)
		return RCODE_FORMERR;
	memcpy(req->qname, pkt + o, nlen);
	dname_lower(req->qname);
	req->question = pkt + o;
	req->question_len = nlen + 4;
	req->qtype = wire_get16(pkt + o + nlen);
	req->qclass = wire_get16(pkt + o + nlen + 2);
	o += nlen + 4;
	/* walk the other sections to find OPT and check the packet is whole */
	unsigned total = (unsigned)an + ns + ar;
	for (unsigned i = 0; i < total; i++) {
		size_t start = o;
		o = skip_name(pkt, len, o);
		if (o == 0 || o + 10 > len)
			return RCODE_FORMERR;
		uint16_t type = wire_get16(pkt + o), rdlen = wire_get16(pkt + o + 8);
		if (o + 10 + rdlen > len)
			return RCODE_FORMERR;
		if (type == TYPE_OPT) {
			/* one OPT, owner root, in the additional section */
			if (req->edns || i < (unsigned)an + ns || pkt[start] != 0)
				return RCODE_FORMERR;
			req->edns = true;
			req->edns_size = wire_get16(pkt + o + 2);
			req->edns_version = pkt[o + 5];
			req->do_bit = (pkt[o + 6] & 0x80) != 0;
		}
		o += 10 + rdlen;
	}
	return 0;
}

/* Flags of every response: QR, the client's opcode, RD and CD, and RA. */
static uint16_t
response_flags(uint16_t qflags)
{
	return (uint16_t)(DNS_FLAG_QR | (qflags & (0x7800 | DNS_FLAG_RD | DNS_FLAG_CD)) | DNS_FLAG_RA);
}

static size_t
udp_limit(const struct resolver *r, const struct request *req)
{
	size_t ours = (size_t)r->opt->edns_buffer_size;
	if (!req->edns || req->edns_size < 512)
		return 512;
	return req->edns_size < ours ? req->edns_size : ours;
}

static void
start_answer(const struct resolver *r, struct answer *a, const struct request *req, uint8_t *out,
             size_t outcap, bool tcp, uint8_t rcode)
{
	answer_start(a, out, outcap, tcp ? 65535 : udp_limit(r, req), req->id,
	             response_flags(req->flags) | rcode, req->question, req->question_len);
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

	if (req->qtype != TYPE_SRV) {
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
	answer_add_rr(a, SECTION_ANSWER, NULL, TYPE_SRV, CLASS_IN, ttl, rdata, (uint16_t)(6 + tlen));
	if (r->opt->sink_mode != SINK_REFUSE && zone_contains(r->zone, r->sink_host)) {
		zone_add_rrset(r->zone, r->sink_host, TYPE_A, a, SECTION_ADDITIONAL, ttl, false);
		zone_add_rrset(r->zone, r->sink_host, TYPE_AAAA, a, SECTION_ADDITIONAL, ttl, false);
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
	if (req->qtype != TYPE_SRV) {
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
				answer_add_rr(a, SECTION_ANSWER, NULL, TYPE_SRV, CLASS_IN, ttl, rdata,
				              (uint16_t)(6 + hl));
				srvs++;
				continue;
			}
			/* the hosts' addresses save the requester a round trip */
			for (size_t k = 0; k < t->naddrs; k++) {
				bool v4 = t->addrs[k].family == AF_INET;
				answer_add_rr(a, SECTION_ADDITIONAL, t->host, v4 ? 1 : 28, CLASS_IN, ttl,
				              t->addrs[k].addr, v4 ? 4 : 16);
			}
		}
	}
	if (srvs == 0)
		answer_nodata(r, a); /* no target for this service */
	return true;
}

/*
 * A lookup for libunbound, of the request's question; learn_peer (or NULL):
 * the peer whose SRV targets the answer teaches. The caller says who gets
 * the answer. NULL on no memory.
 */
static struct pending *
pending_new(struct resolver *r, const struct request *req, const uint8_t *learn_peer)
{
	struct pending *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->r = r;
	p->qclass = req->qclass;
	memcpy(p->question, req->question, req->question_len);
	p->question_len = req->question_len;
	if (learn_peer) {
		p->learn = true;
		memcpy(p->learn_peer, learn_peer, dname_length(learn_peer, DNAME_MAXLEN));
	}
	return p;
}

/* Hand the query to libunbound; on failure answer SERVFAIL now. */
static enum query_result
recurse(struct resolver *r, const struct request *req, bool tcp, const struct reply_handle *h,
        uint32_t ttl_cap, const uint8_t *learn_peer, struct answer *a)
{
	struct answer_key k = { req->qname, req->qtype, req->qclass,
	                        answer_variant(req->do_bit, req->flags) };

	if (answer_cache_get(r->answers, &k, time(NULL), req->do_bit || (req->flags & DNS_FLAG_AD), ttl_cap,
	                     a))
		return QUERY_ANSWERED;
	struct pending *p = pending_new(r, req, learn_peer);
	if (p) {
		p->h = *h;
		p->id = req->id;
		p->flags = req->flags;
		p->qtype = req->qtype;
		p->edns = req->edns;
		p->do_bit = req->do_bit;
		p->limit = tcp ? 65535 : udp_limit(r, req);
		p->ttl_cap = ttl_cap;
		if (recursion_start(r->rec, p) == 0) {
			r->stats.recursions++;
			return QUERY_PENDING;
		}
		free(p);
	}
	r->stats.servfail++;
	answer_set_rcode(a, RCODE_SERVFAIL);
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
	struct pending *p = pending_new(r, req, peer);
	if (!p)
		return;
	p->h.fd = -1;
	p->silent = true;
	p->qtype = TYPE_SRV;
	p->limit = 65535;
	p->ttl_cap = UINT32_MAX;
	r->learning++; /* before: a cached answer calls back at once */
	if (recursion_start(r->rec, p) != 0) {
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
		               req->qtype == TYPE_SRV ? pol->domains[peer].wire : NULL, a);
	}
	r->stats.policy_deny++;
	answer_sink(r, req, a);
	if (req->qtype == TYPE_SRV && pol->domains[peer].ntargets == 0)
		learn_targets(r, req, pol->domains[peer].wire);
	return QUERY_ANSWERED;
}

/* The sink's address under the question's name: what a denied host lookup gets. */
static void
answer_sink_address(const struct resolver *r, const struct request *req, struct answer *a)
{
	uint32_t ttl = (uint32_t)r->opt->ttl_cap;
	unsigned n = 0;

	if (req->qtype == TYPE_A || req->qtype == TYPE_ANY)
		n += zone_add_rrset(r->zone, r->sink_host, TYPE_A, a, SECTION_ANSWER, ttl, true);
	if (req->qtype == TYPE_AAAA || req->qtype == TYPE_ANY)
		n += zone_add_rrset(r->zone, r->sink_host, TYPE_AAAA, a, SECTION_ANSWER, ttl, true);
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
			if ((v4 && req->qtype == TYPE_AAAA) || (!v4 && req->qtype == TYPE_A))
				continue;
			answer_add_rr(a, SECTION_ANSWER, NULL, v4 ? TYPE_A : TYPE_AAAA, CLASS_IN,
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
	if (len < DNS_HEADER_LEN || (pkt[2] & 0x80)) {
		r->stats.dropped++;
		return QUERY_DROP;
	}
	memset(&req, 0, sizeof(req));
	req.id = wire_get16(pkt);
	req.flags = wire_get16(pkt + 2);
	int rcode = parse_request(pkt, len, &req);
	if (rcode != 0) {
		r->stats.formerr++;
		if (req.question == NULL)
			req.question_len = 0;
		req.edns = false; /* the OPT may be what was malformed */
		start_answer(r, &a, &req, out, outcap, tcp, (uint8_t)rcode);
		goto done;
	}
	if (((req.flags >> 11) & 0xf) != 0) {
		r->stats.notimp++;
		start_answer(r, &a, &req, out, outcap, tcp, RCODE_NOTIMP);
		goto done;
	}
	start_answer(r, &a, &req, out, outcap, tcp, 0);
	if (req.edns && req.edns_version != 0) {
		/* RFC 6891 6.1.3: we speak EDNS version 0 only */
		a.edns_ext_rcode = RCODE_BADVERS >> 4;
		goto done;
	}

	uint32_t requester = policy_identify(r->policy, source);
	if (requester == POLICY_NONE && !in_recursion_acl(r, source)) {
		r->stats.refused++;
		answer_set_rcode(&a, RCODE_REFUSED);
		goto done;
	}
	if (req.qclass != CLASS_IN) {
		answer_set_rcode(&a, RCODE_REFUSED);
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
	if (req.qtype == TYPE_A || req.qtype == TYPE_AAAA || req.qtype == TYPE_ANY) {
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

void
query_stats_log(const struct resolver *r)
{
	const struct query_stats *st = &r->stats;
	uint64_t dh, dm, ah, am;
	size_t entries;

	decision_cache_stats(r->decisions, &dh, &dm);
	answer_cache_stats(r->answers, &entries, &ah, &am);
	log_info("statistics: queries=%llu allow=%llu deny=%llu recursions=%llu servfail=%llu "
	         "refused=%llu formerr=%llu notimp=%llu dropped=%llu policy-serial=%llu "
	         "decision-cache=%llu/%llu answer-cache=%llu/%llu (%zu answers)",
	         (unsigned long long)st->queries, (unsigned long long)st->policy_allow,
	         (unsigned long long)st->policy_deny, (unsigned long long)st->recursions,
	         (unsigned long long)st->servfail, (unsigned long long)st->refused,
	         (unsigned long long)st->formerr, (unsigned long long)st->notimp,
	         (unsigned long long)st->dropped, (unsigned long long)r->policy->serial,
	         (unsigned long long)dh, (unsigned long long)(dh + dm), (unsigned long long)ah,
	         (unsigned long long)(ah + am), entries);
}

int
resolver_init(struct resolver *r, const struct options *opt, char *err, size_t errlen)
{
	memset(r, 0, sizeof(*r));
	r->opt = opt;
	if (dname_from_text(opt->sink_host, r->sink_host) == 0) {
		snprintf(err, errlen, "sink-host '%s' is not a domain name", opt->sink_host);
		return -1;
	}
	r->decisions = decision_cache_new(DECISION_CACHE_ENTRIES);
	r->learned = targetmap_new(LEARNED_TARGETS);
	r->answers = answer_cache_new(ANSWER_CACHE_ENTRIES);
	if (!r->decisions || !r->learned || !r->answers) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (opt->nrecursion_acl) {
		r->recursion_acl = prefixmap_new();
		if (!r->recursion_acl) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		for (size_t i = 0; i < opt->nrecursion_acl; i++)
			prefixmap_insert(r->recursion_acl, &opt->recursion_acl[i], 0);
	}
	return 0;
}

void
resolver_cleanup(struct resolver *r)
{
	prefixmap_free(r->recursion_acl);
	r->recursion_acl = NULL;
	decision_cache_free(r->decisions);
	r->decisions = NULL;
	targetmap_free(r->learned);
	r->learned = NULL;
	answer_cache_free(r->answers);
	r->answers = NULL;
}
