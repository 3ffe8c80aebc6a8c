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
#include "addrcount.h"
#include "answer_cache.h"
#include "decision_cache.h"
#include "dname.h"
#include "log.h"
#include "metrics.h"
#include "options.h"
#include "policy.h"
#include "prefixmap.h"
#include "rrl.h"
#include "targetmap.h"
#include "tls.h"
#include "tsig.h"
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
	size_t tsig_start;             /* offset of the TSIG record, 0: none */
	/* who asks: the community domain a verified client certificate names
	 * (wire), or NULL when the source address identifies the requester */
	const uint8_t *certified;
	/* a query with a TSIG record: how it verified, what signs the answer */
	const struct tsig_session *tsig;
};

/*
 * The requester (docs/identity.md): a verified TSIG key's domain first (a
 * key the policy no longer has identifies nobody: never the address), then
 * a domain a verified client certificate names, else the longest prefix of
 * the source address. *how (may be NULL) says which.
 */
static uint32_t
identify_how(const struct resolver *r, const struct request *req, const struct netaddr *source,
             enum policy_identity *how)
{
	enum policy_identity dummy;
	if (!how)
		how = &dummy;
	if (req->tsig) {
		const struct policy_key *k = policy_find_key(r->policy, POLICY_KEY_TSIG, req->tsig->key.name);
		*how = POLICY_ID_TSIG;
		return k ? k->domain : POLICY_NONE;
	}
	if (req->certified) {
		uint32_t d = policy_certificate_domain(r->policy, req->certified, NULL);
		if (d != POLICY_NONE) {
			*how = POLICY_ID_CERT;
			return d;
		}
	}
	*how = POLICY_ID_SOURCE;
	return policy_identify(r->policy, source);
}

static uint32_t
identify(const struct resolver *r, const struct request *req, const struct netaddr *source)
{
	return identify_how(r, req, source, NULL);
}

/* How the requester was identified, for the logs. */
static const char *
identity_text(const struct request *req, uint32_t requester)
{
	if (requester == POLICY_NONE)
		return "none";
	return req->tsig ? "tsig" : req->certified ? "certificate" : "source";
}

/*
 * Skip a possibly compressed name in an RR; returns the offset after it or
 * 0. A compression pointer must point back, into the message after the
 * header and before itself (RFC 1035 4.1.4: to a prior occurrence): one to
 * itself, forward or past the end is malformed.
 */
static size_t
skip_name(const uint8_t *pkt, size_t len, size_t o)
{
	while (o < len) {
		uint8_t l = pkt[o];
		if (l == 0)
			return o + 1;
		if ((l & 0xc0) == 0xc0) {
			if (o + 2 > len)
				return 0;
			size_t target = (size_t)(l & 0x3f) << 8 | pkt[o + 1];
			return target >= LDNS_HEADER_SIZE && target < o ? o + 2 : 0;
		}
		if (l > 63)
			return 0;
		o += 1 + (size_t)l;
	}
	return 0;
}

/*
 * The options of an OPT record (RFC 6891 6.1.2): each must lie within the
 * RDATA, and those whose query form an RFC fixes must have it. 0, or
 * FORMERR.
 */
static int
check_edns_options(const uint8_t *rdata, size_t rdlen)
{
	size_t o = 0;

	while (o < rdlen) {
		if (o + 4 > rdlen)
			return LDNS_RCODE_FORMERR;
		uint16_t code = ldns_read_uint16(rdata + o), olen = ldns_read_uint16(rdata + o + 2);
		const uint8_t *v = rdata + o + 4;
		if (o + 4 + olen > rdlen)
			return LDNS_RCODE_FORMERR; /* runs past the RDATA */
		switch (code) {
		case 3:  /* NSID, RFC 5001 2.3: empty in a query */
		case 9:  /* EDNS EXPIRE, RFC 7314 2: empty in a query */
		case 11: /* edns-tcp-keepalive, RFC 7828 3.2.1: empty from a client */
			if (olen != 0)
				return LDNS_RCODE_FORMERR;
			break;
		case 8: { /* Client Subnet, RFC 7871 6: family, prefixes, the address bytes */
			if (olen < 4)
				return LDNS_RCODE_FORMERR;
			uint16_t family = ldns_read_uint16(v);
			unsigned source = v[2], scope = v[3], max = family == 1 ? 32 : 128;
			if ((family != 1 && family != 2) || source > max || scope != 0 ||
			    olen != 4 + (source + 7) / 8)
				return LDNS_RCODE_FORMERR;
			break;
		}
		case 10: /* COOKIE, RFC 7873 4: client cookie 8, or 16 to 40 with a server cookie */
			if (olen != 8 && (olen < 16 || olen > 40))
				return LDNS_RCODE_FORMERR;
			break;
		case 14: /* edns-key-tag, RFC 8145 4.1: one or more 2-byte key tags */
			if (olen == 0 || olen % 2 != 0)
				return LDNS_RCODE_FORMERR;
			break;
		default: /* unknown options are ignored (RFC 6891 6.1.2) */
			break;
		}
		o += 4 + (size_t)olen;
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
			if (req->edns || i < (unsigned)an + ns || pkt[start] != 0 ||
			    check_edns_options(pkt + o + 10, rdlen) != 0)
				return LDNS_RCODE_FORMERR;
			req->edns = true;
			req->edns_size = ldns_read_uint16(pkt + o + 2);
			req->edns_version = pkt[o + 5];
			req->do_bit = (pkt[o + 6] & 0x80) != 0;
		}
		/* a TSIG record is the last of the message, in the additional section (RFC 8945 5.1) */
		if (type == LDNS_RR_TYPE_TSIG) {
			if (i != total - 1 || i < (unsigned)an + ns)
				return LDNS_RCODE_FORMERR;
			req->tsig_start = start;
		}
		o += 10 + rdlen;
	}
	return 0;
}

/*
 * The epoch answers holding other names than their question's are kept and
 * looked up in: this worker's own (a new snapshot, SIGHUP, flush) plus the
 * shared learning epoch (a target host learned by any worker). Both only
 * grow, so the sum changes whenever either does.
 */
static uint64_t
cache_epoch(const struct resolver *r)
{
	return r->epoch + targetmap_epoch(r->learned);
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
 * The most bytes of an answer before its TSIG record: the client's limit
 * less the record's room (RFC 8945 5.3: the TSIG must fit; what does not
 * is truncated, TC=1, and the client asks over TCP).
 */
static size_t
answer_limit(const struct resolver *r, const struct request *req, bool tcp)
{
	size_t limit = tcp ? 65535 : udp_limit(r, req);
	size_t room = req->tsig ? tsig_answer_space(req->tsig) : 0;
	return limit > room + LDNS_HEADER_SIZE ? limit - room : LDNS_HEADER_SIZE;
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
		zone_add_rrset(r->zone, r->sink_host, LDNS_RR_TYPE_A, a, SECTION_ADDITIONAL, ttl, NULL);
		zone_add_rrset(r->zone, r->sink_host, LDNS_RR_TYPE_AAAA, a, SECTION_ADDITIONAL, ttl, NULL);
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
 * Made by pending_new(), freed when its lookup's answer comes back or when
 * it has waited recursion-timeout.
 */
struct pending {
	struct inflight *in;            /* the lookup it waits for */
	struct pending *next_in;        /* the next query waiting for the same lookup */
	struct pending *older, *newer;  /* r's client queries, oldest first (time limit) */
	uint64_t started_ms;            /* monotonic clock */
	struct reply_handle *client;    /* held by the transport; NULL: a lookup of our own */
	struct netaddr source;          /* the client's address: who the answer is policed for */
	struct request req;             /* req.question, req.certified point into the copies below */
	uint8_t question[DNAME_MAXLEN + 4];
	uint8_t certified[DNAME_MAXLEN];
	struct tsig_session tsig;       /* req.tsig points here when the query was signed */
	size_t limit;                   /* most bytes the client accepts */
	bool tcp;                       /* asked over TCP */
	uint32_t ttl_cap;               /* UINT32_MAX: not a policy answer */
	bool learn;                     /* an SRV lookup of peer: remember its target hosts */
	bool has_peer;                  /* the question was decided by one peer: */
	uint8_t peer[DNAME_MAXLEN];     /* ... its name (wire); names of it in the answer
	                                 * are allowed with the question */
};

/*
 * One upstream lookup in flight. Every query for the same name, type, class
 * and CD bit waits for it, so the upstream is asked once however many
 * clients ask at the same time. Freed by upstream_done().
 */
struct inflight {
	struct resolver *r;
	struct upstream_lookup lookup;  /* recursion's handle, calls upstream_done */
	uint8_t qname[DNAME_MAXLEN];    /* lower case; with qtype, qclass, cd: the key */
	uint8_t question[DNAME_MAXLEN + 4];  /* as the first asker wrote it: what is looked up */
	uint16_t qtype, qclass;
	bool cd;
	uint32_t hash;
	struct timespec started;        /* for the upstream latency histogram */
	struct inflight *hnext;         /* r->inflight bucket chain */
	struct pending *waiting;        /* oldest first */
};

/* How the upstream answer to a question is shaped by the policy. */
enum recurse_mode {
	RECURSE_PLAIN,     /* not a policed name: upstream TTLs */
	RECURSE_POLICY,    /* a policed name, allowed: TTLs capped */
	RECURSE_LEARN,     /* the same, an SRV lookup: learn the peer's target hosts */
};

static void upstream_done(void *arg, const struct upstream_result *res);

static uint32_t
inflight_hash(const struct request *req)
{
	return dname_hash(req->qname, dname_length(req->qname, DNAME_MAXLEN)) ^
	       (uint32_t)req->qtype * 2654435761u ^ (uint32_t)req->qclass << 16 ^ (req->cd ? 1u : 0u);
}

/* The lookup in flight for req's question, or NULL. */
static struct inflight *
inflight_find(const struct resolver *r, const struct request *req, uint32_t hash)
{
	for (struct inflight *in = r->inflight[hash & (r->inflight_buckets - 1)]; in; in = in->hnext)
		if (in->hash == hash && in->qtype == req->qtype && in->qclass == req->qclass &&
		    in->cd == req->cd && dname_equal(in->qname, req->qname))
			return in;
	return NULL;
}

/* A new lookup of req's question, in the table (not started). NULL on no memory. */
static struct inflight *
inflight_new(struct resolver *r, const struct request *req, uint32_t hash)
{
	struct inflight *in = calloc(1, sizeof(*in));

	if (!in)
		return NULL;
	in->r = r;
	memcpy(in->qname, req->qname, dname_length(req->qname, DNAME_MAXLEN));
	memcpy(in->question, req->question, req->question_len);
	in->qtype = req->qtype;
	in->qclass = req->qclass;
	in->cd = req->cd;
	in->hash = hash;
	in->lookup.done = upstream_done;
	in->lookup.arg = in;
	clock_gettime(CLOCK_MONOTONIC, &in->started);
	struct inflight **bucket = &r->inflight[hash & (r->inflight_buckets - 1)];
	in->hnext = *bucket;
	*bucket = in;
	r->ninflight++;
	return in;
}

/* Take in out of the table: later askers start a lookup of their own. */
static void
inflight_remove(struct resolver *r, struct inflight *in)
{
	for (struct inflight **pp = &r->inflight[in->hash & (r->inflight_buckets - 1)]; *pp;
	     pp = &(*pp)->hnext)
		if (*pp == in) {
			*pp = in->hnext;
			r->ninflight--;
			return;
		}
}

/*
 * A query of req's question for a client at source (NULL: a lookup of our
 * own); peer (wire, or NULL): the one peer that decided the question.
 * NULL on no memory.
 */
static struct pending *
pending_new(struct resolver *r, const struct request *req, size_t limit,
            const struct netaddr *source, const uint8_t *peer, enum recurse_mode mode)
{
	struct pending *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->req = *req;
	memcpy(p->question, req->question, req->question_len);
	p->req.question = p->question;
	if (req->certified) {
		memcpy(p->certified, req->certified, dname_length(req->certified, DNAME_MAXLEN));
		p->req.certified = p->certified;
	}
	if (req->tsig) {
		p->tsig = *req->tsig;
		p->req.tsig = &p->tsig;
	}
	p->limit = limit;
	if (source)
		p->source = *source;
	p->ttl_cap = mode == RECURSE_PLAIN ? UINT32_MAX : (uint32_t)r->opt->ttl_cap;
	p->started_ms = query_clock_ms();
	if (peer) {
		p->has_peer = true;
		p->learn = mode == RECURSE_LEARN;
		memcpy(p->peer, peer, dname_length(peer, DNAME_MAXLEN));
	}
	return p;
}

/* p waits for in; a client query also joins r's time list and its source's count. */
static void
pending_attach(struct resolver *r, struct inflight *in, struct pending *p)
{
	struct pending **pp = &in->waiting;

	while (*pp)
		pp = &(*pp)->next_in;
	*pp = p;
	p->in = in;
	if (!p->client)
		return;
	p->older = r->newest;
	if (r->newest)
		r->newest->newer = p;
	else
		r->oldest = p;
	r->newest = p;
	addrcount_inc(r->waiting_by_source, &p->source);
}

/* p stops waiting for its lookup; a client query leaves the time list and count. */
static void
pending_detach(struct resolver *r, struct pending *p)
{
	for (struct pending **pp = &p->in->waiting; *pp; pp = &(*pp)->next_in)
		if (*pp == p) {
			*pp = p->next_in;
			break;
		}
	if (!p->client)
		return;
	if (p->older)
		p->older->newer = p->newer;
	else
		r->oldest = p->newer;
	if (p->newer)
		p->newer->older = p->older;
	else
		r->newest = p->older;
	addrcount_dec(r->waiting_by_source, &p->source);
}

/*
 * Let p wait for the lookup of its question: the one in flight, or a new
 * one started now (upstream_done may then run, and answer p, before this
 * returns). -1 when no lookup can be had (recursion-max-outstanding, no
 * memory, the upstream refuses): p is not attached then.
 */
static int
pending_wait(struct resolver *r, struct pending *p)
{
	uint32_t hash = inflight_hash(&p->req);
	struct inflight *in = inflight_find(r, &p->req, hash);

	if (in) {
		pending_attach(r, in, p);
		r->stats.recursions_joined++;
		return 0;
	}
	if (!r->lookup || r->ninflight >= (size_t)r->opt->recursion_max_outstanding)
		return -1;
	in = inflight_new(r, &p->req, hash);
	if (!in)
		return -1;
	pending_attach(r, in, p);
	r->stats.recursions++;
	if (r->lookup(r->lookup_ctx, in->question, in->qtype, in->qclass, in->cd, &in->lookup) == 0)
		return 0;
	r->stats.recursions--;
	pending_detach(r, p);
	inflight_remove(r, in);
	free(in);
	return -1;
}

/*
 * The answer comes from the upstream: from the answer cache at once, or
 * later through upstream_done(), policed for the requester at source. peer
 * (wire, or NULL): the one peer that decided the question. SERVFAIL now
 * when the client already waits for recursion-max-per-source answers, or
 * no lookup can be started.
 */
static enum query_result
recurse(struct resolver *r, const struct request *req, bool tcp, const struct reply_handle *h,
        const struct netaddr *source, const uint8_t *peer, enum recurse_mode mode,
        struct answer *a)
{
	struct answer_key k = { req->qname, req->qtype, req->qclass,
	                        answer_variant(req->do_bit, req->cd), cache_epoch(r) };
	uint32_t ttl_cap = mode == RECURSE_PLAIN ? UINT32_MAX : (uint32_t)r->opt->ttl_cap;

	if (answer_cache_get(r->answers, &k, time(NULL), req->do_bit || req->ad, ttl_cap, a))
		return QUERY_ANSWERED;
	if (addrcount_get(r->waiting_by_source, source) >= (unsigned)r->opt->recursion_max_per_source) {
		r->stats.recursions_limited++;
		goto servfail;
	}
	struct pending *p = pending_new(r, req, answer_limit(r, req, tcp), source, peer, mode);
	if (p) {
		p->tcp = tcp;
		p->client = r->transport.hold ? r->transport.hold(r->transport.ctx, h) : NULL;
		if (p->client) {
			if (pending_wait(r, p) == 0)
				return QUERY_PENDING;
			r->stats.recursions_limited++;
			r->transport.reply(r->transport.ctx, p->client, NULL, 0);
		}
		free(p);
	}
servfail:
	r->stats.servfail++;
	answer_set_rcode(a, LDNS_RCODE_SERVFAIL);
	return QUERY_ANSWERED;
}

/* Start a lookup of our own; it only teaches (upstream_done frees it). */
static void
start_learning(struct resolver *r, const struct request *req, const uint8_t *peer,
               enum recurse_mode mode)
{
	struct pending *p = pending_new(r, req, 65535, NULL, peer, mode);

	if (!p)
		return;
	r->learning++; /* before: a cached answer calls back at once */
	if (pending_wait(r, p) != 0) {
		r->learning--;
		free(p);
	}
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
	start_learning(r, &srv, peer, RECURSE_LEARN);
}

/*
 * A new target host: look up its address ourselves, so that when it is an
 * alias its canonical host is learned too (learn_chain), before a denied
 * requester could ask for that host directly.
 */
static void
probe_host(struct resolver *r, const uint8_t *host)
{
	struct request req;
	size_t len = dname_length(host, DNAME_MAXLEN);

	if (r->learning >= MAX_LEARNING || len == 0)
		return;
	memset(&req, 0, sizeof(req));
	memcpy(req.qname, host, len);
	dname_lower(req.qname);
	uint8_t question[DNAME_MAXLEN + 4];
	memcpy(question, req.qname, len);
	ldns_write_uint16(question + len, LDNS_RR_TYPE_A);
	ldns_write_uint16(question + len + 2, LDNS_RR_CLASS_IN);
	req.question = question;
	req.question_len = len + 4;
	req.qtype = LDNS_RR_TYPE_A;
	req.qclass = LDNS_RR_CLASS_IN;
	start_learning(r, &req, NULL, RECURSE_PLAIN);
}

/* s as a JSON string's content into out (len bytes, NUL-terminated): quote, backslash, controls escaped. */
static void
json_escape(const char *s, char *out, size_t len)
{
	size_t o = 0;

	for (; *s && o + 7 < len; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c < 0x20) {
			o += (size_t)snprintf(out + o, len - o, "\\u%04x", c);
		} else {
			out[o++] = (char)c;
		}
	}
	out[o] = '\0';
}

/* One decision as a JSON line in the decision log. */
static void
log_decision_json(const struct resolver *r, const struct request *req, uint32_t requester,
                  const char *addr, const char *peer, const struct policy_verdict *v)
{
	char qname[DNAME_TEXT_MAX], qn[2 * DNAME_TEXT_MAX], pn[2 * DNAME_TEXT_MAX], rn[2 * DNAME_TEXT_MAX];
	char line[2048], type[16];

	json_escape(dname_to_text(req->qname, qname, sizeof(qname)), qn, sizeof(qn));
	json_escape(peer, pn, sizeof(pn));
	json_escape(requester != POLICY_NONE ? r->policy->domains[requester].name : "", rn, sizeof(rn));
	char would[80] = "", key[2 * DNAME_TEXT_MAX + 16] = "";
	if (req->tsig) {
		/* which key: a rollover can be watched before the old key goes */
		char kt[DNAME_TEXT_MAX], ke[2 * DNAME_TEXT_MAX];
		json_escape(dname_to_text(req->tsig->key.name, kt, sizeof(kt)), ke, sizeof(ke));
		snprintf(key, sizeof(key), ",\"key\":\"%s\"", ke);
	}
	if (v->would_differ)
		snprintf(would, sizeof(would), ",\"dry_run_would\":\"%s\",\"dry_run_rule\":%lld",
		         v->would_allow ? "allow" : "deny", (long long)v->would_rule_id);
	const ldns_rr_descriptor *d = ldns_rr_descript(req->qtype);
	if (d && d->_name)
		snprintf(type, sizeof(type), "%s", d->_name);
	else
		snprintf(type, sizeof(type), "TYPE%u", req->qtype);
	int n = snprintf(line, sizeof(line),
	                 "{\"time\":%lld,\"requester\":%s%s%s,\"identity\":\"%s\"%s,\"source\":\"%s\","
	                 "\"qname\":\"%s\",\"qtype\":\"%s\",\"peer\":\"%s\",\"decision\":\"%s\","
	                 "\"rule\":%lld,\"reason\":\"%s\",\"serial\":%llu%s}",
	                 (long long)time(NULL), requester != POLICY_NONE ? "\"" : "",
	                 requester != POLICY_NONE ? rn : "null", requester != POLICY_NONE ? "\"" : "",
	                 identity_text(req, requester), key, addr,
	                 qn, type, pn,
	                 v->allow ? "allow" : "deny", (long long)v->rule_id, v->reason ? v->reason : "",
	                 (unsigned long long)r->policy->serial, would);
	if (n > 0 && (size_t)n < sizeof(line))
		log_json(line, (size_t)n);
}

/* Count a decision and log it (rate limited), as a line and, if configured, as JSON. */
static void
log_decision(struct resolver *r, const struct request *req, uint32_t requester,
             const struct netaddr *source, const char *peer, const struct policy_verdict *v)
{
	char addr[64];

	metrics_decision(r->metrics, r->policy, requester, v);
	if (log_json_enabled())
		log_decision_json(r, req, requester, netaddr_format_addr(source, addr, sizeof(addr)), peer,
		                  v);
	if (log_level() < LOG_LEVEL_INFO)
		return;
	char key[DNAME_TEXT_MAX + 32] = "";
	if (req->tsig)
		snprintf(key, sizeof(key), " identity=tsig key=%s",
		         dname_to_text(req->tsig->key.name, (char[DNAME_TEXT_MAX]){ 0 }, DNAME_TEXT_MAX));
	else if (req->certified)
		snprintf(key, sizeof(key), " identity=certificate");
	log_query("decision requester=%s source=%s peer=%s %s rule=%lld%s%s%s",
	         requester != POLICY_NONE ? r->policy->domains[requester].name : "-",
	         netaddr_format_addr(source, addr, sizeof(addr)), peer, v->allow ? "allow" : "deny",
	         (long long)v->rule_id, v->reason ? " reason=" : "", v->reason ? v->reason : "", key);
	if (v->would_differ)
		log_query("dry-run: rule %lld would %s %s -> %s (not enforced)", (long long)v->would_rule_id,
		          v->would_allow ? "allow" : "deny",
		          requester != POLICY_NONE ? r->policy->domains[requester].name : "-", peer);
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
	char text[DNAME_TEXT_MAX];

	if (peer == POLICY_NONE) {
		if (r->opt->unknown_peer == UNKNOWN_PEER_PASS)
			return recurse(r, req, tcp, h, source, NULL, RECURSE_POLICY, a);
		memset(&v, 0, sizeof(v));
		v.reason = "unknown peer";
		log_decision(r, req, requester, source, dname_to_text(peer_name, text, sizeof(text)), &v);
		r->stats.policy_deny++;
		answer_sink(r, req, a);
		return QUERY_ANSWERED;
	}
	decision_cache_decide(r->decisions, pol, requester, peer, time(NULL), r->opt->require_mutual,
	                      &v);
	log_decision(r, req, requester, source, pol->domains[peer].name, &v);
	if (v.allow) {
		r->stats.policy_allow++;
		if (above == 0 && answer_targets(r, req, pol, peer, svc, a))
			return QUERY_ANSWERED;
		return recurse(r, req, tcp, h, source, pol->domains[peer].wire,
		               req->qtype == LDNS_RR_TYPE_SRV ? RECURSE_LEARN : RECURSE_POLICY, a);
	}
	r->stats.policy_deny++;
	answer_sink(r, req, a);
	if (req->qtype == LDNS_RR_TYPE_SRV && pol->domains[peer].ntargets == 0)
		learn_targets(r, req, pol->domains[peer].wire);
	return QUERY_ANSWERED;
}

/*
 * The sink's addresses under owner (the question's name, or a denied name in
 * an alias chain): what a denied name gets for A, AAAA and ANY. Returns how
 * many records were added (0: other types, or the sink has no address of
 * the family asked for).
 */
static unsigned
add_sink_address(const struct resolver *r, uint16_t qtype, const uint8_t *owner, struct answer *a)
{
	uint32_t ttl = (uint32_t)r->opt->ttl_cap;
	unsigned n = 0;

	if (qtype == LDNS_RR_TYPE_A || qtype == LDNS_RR_TYPE_ANY)
		n += zone_add_rrset(r->zone, r->sink_host, LDNS_RR_TYPE_A, a, SECTION_ANSWER, ttl, owner);
	if (qtype == LDNS_RR_TYPE_AAAA || qtype == LDNS_RR_TYPE_ANY)
		n += zone_add_rrset(r->zone, r->sink_host, LDNS_RR_TYPE_AAAA, a, SECTION_ANSWER, ttl, owner);
	return n;
}

/*
 * The peers whose policy covers a name. A name is policed when it is a
 * community domain or below one (with police-domain-address; the XMPP
 * service names are decided in answer_xmpp), or a target host of a peer:
 * from the targets table, or learned from SRV answers and alias chains.
 */
struct name_policy {
	uint32_t peers[MAX_HOST_PEERS];
	size_t npeers;                  /* 0: the name is not policed */
	bool is_domain;                 /* the name is a community domain itself */
	size_t first_target, ntargets;  /* its entries in targets_by_host */
};

static void
name_policy_find(const struct resolver *r, const uint8_t *name, struct name_policy *np)
{
	const struct policy *pol = r->policy;

	np->npeers = 0;
	np->is_domain = false;
	np->first_target = 0;
	if (r->opt->police_domain_address) {
		/* P itself, or a name below it (a component such as conference.P) */
		unsigned above;
		uint32_t d = policy_find_domain_suffix(pol, name, dname_length(name, DNAME_MAXLEN), &above);
		if (d != POLICY_NONE) {
			np->peers[np->npeers++] = d;
			np->is_domain = above == 0;
		}
	}
	/* "." as a target is "no service" (RFC 2782), not a host */
	np->ntargets = name[0] != 0 ? policy_find_target_host(pol, name, &np->first_target) : 0;
	for (size_t i = 0; i < np->ntargets && np->npeers < MAX_HOST_PEERS; i++)
		np->peers[np->npeers++] = pol->targets[pol->targets_by_host[np->first_target + i]].domain;
	uint8_t learned[MAX_HOST_PEERS][DNAME_MAXLEN];
	size_t nlearned = targetmap_lookup(r->learned, name, time(NULL), learned, MAX_HOST_PEERS);
	for (size_t i = 0; i < nlearned && np->npeers < MAX_HOST_PEERS; i++) {
		uint32_t d = policy_find_domain_wire(pol, learned[i]);
		if (d != POLICY_NONE)
			np->peers[np->npeers++] = d;
	}
}

/*
 * decision(requester, P) for the peers of a policed name: allowed when any
 * of them is (a host serving several peers). *decided: the peer that decided.
 */
static bool
name_policy_decide(struct resolver *r, uint32_t requester, const struct name_policy *np,
                   struct policy_verdict *v, uint32_t *decided)
{
	*decided = np->peers[0];
	for (size_t i = 0; i < np->npeers; i++) {
		decision_cache_decide(r->decisions, r->policy, requester, np->peers[i], time(NULL),
		                      r->opt->require_mutual, v);
		*decided = np->peers[i];
		if (v->allow)
			return true;
	}
	return false;
}

/*
 * Any type at a policed name: a community domain itself (the RFC 6120 3.2.2
 * fallback), a name below it (components), or a peer's SRV target host.
 * Decided like the SRV lookup, so that a denied requester cannot skip the
 * SRV step or learn anything of the name from another type: the sink's
 * addresses for A/AAAA/ANY, NODATA with the clearinghouse SOA otherwise.
 * Allowed: the targets table's addresses, else the upstream, TTL capped.
 * QUERY_DROP means "not a policed name": go on.
 */
static enum query_result
answer_policed(struct resolver *r, const struct request *req, uint32_t requester,
               const struct netaddr *source, bool tcp, const struct reply_handle *h,
               struct answer *a)
{
	const struct policy *pol = r->policy;
	struct name_policy np;
	struct policy_verdict v;
	uint32_t decided;
	bool address = req->qtype == LDNS_RR_TYPE_A || req->qtype == LDNS_RR_TYPE_AAAA ||
	               req->qtype == LDNS_RR_TYPE_ANY;

	name_policy_find(r, req->qname, &np);
	if (np.npeers == 0)
		return QUERY_DROP;
	bool allow = name_policy_decide(r, requester, &np, &v, &decided);
	log_decision(r, req, requester, source, pol->domains[decided].name, &v);
	if (!allow) {
		r->stats.policy_deny++;
		if (add_sink_address(r, req->qtype, req->qname, a) == 0)
			answer_nodata(r, a);
		return QUERY_ANSWERED;
	}
	r->stats.policy_allow++;
	/* addresses from the targets table: closed networks answer without upstream */
	bool from_db = false;
	for (size_t i = 0; address && i < np.ntargets; i++) {
		const struct policy_target *t = &pol->targets[pol->targets_by_host[np.first_target + i]];
		for (size_t k = 0; k < t->naddrs; k++) {
			bool v4 = t->addrs[k].family == AF_INET;
			from_db = true;
			if ((v4 && req->qtype == LDNS_RR_TYPE_AAAA) || (!v4 && req->qtype == LDNS_RR_TYPE_A))
				continue;
			answer_add_rr(a, SECTION_ANSWER, NULL, v4 ? LDNS_RR_TYPE_A : LDNS_RR_TYPE_AAAA,
			              LDNS_RR_CLASS_IN, (uint32_t)r->opt->ttl_cap, t->addrs[k].addr,
			              v4 ? 4 : 16);
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
	if (address && np.is_domain && np.ntargets == 0 && pol->domains[np.peers[0]].ntargets > 0) {
		answer_nodata(r, a);
		return QUERY_ANSWERED;
	}
	return recurse(r, req, tcp, h, source, np.npeers == 1 ? pol->domains[np.peers[0]].wire : NULL,
	               RECURSE_POLICY, a);
}

/*
 * Question types that are not a lookup (RFC 6895 3.1): zone transfers are
 * not served here (FORMERR over UDP, where they cannot run, REFUSED over
 * TCP), MAILA/MAILB are obsolete (NOTIMP), and OPT, TSIG, TKEY are not
 * questions (FORMERR). false: answered with that RCODE.
 */
static void refuse(struct resolver *r, struct answer *a);

static bool
meta_type_allowed(struct resolver *r, const struct request *req, bool tcp, struct answer *a)
{
	switch (req->qtype) {
	case LDNS_RR_TYPE_AXFR:
	case LDNS_RR_TYPE_IXFR:
		if (tcp) {
			refuse(r, a);
			return false;
		}
		/* FALLTHROUGH */
	case LDNS_RR_TYPE_OPT:
	case LDNS_RR_TYPE_TSIG:
	case LDNS_RR_TYPE_TKEY:
		r->stats.formerr++;
		answer_set_rcode(a, LDNS_RCODE_FORMERR);
		return false;
	case LDNS_RR_TYPE_MAILA:
	case LDNS_RR_TYPE_MAILB:
		r->stats.notimp++;
		answer_set_rcode(a, LDNS_RCODE_NOTIMPL);
		return false;
	default:
		return true;
	}
}

/* REFUSED: not for this client (RA clear: no recursion offered to it), counted. */
static void
refuse(struct resolver *r, struct answer *a)
{
	r->stats.refused++;
	answer_set_rcode(a, LDNS_RCODE_REFUSED);
	LDNS_RA_CLR(a->buf);
}

uint64_t
query_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static bool
in_recursion_acl(const struct resolver *r, const struct netaddr *source)
{
	return r->recursion_acl && prefixmap_lookup(r->recursion_acl, source) != UINT32_MAX;
}

/*
 * Response rate limiting of one UDP answer (rrl.h), counted: RRL_PASS;
 * RRL_SLIP, the answer made truncated (TC=1 and nothing else: a real
 * client asks again over TCP); RRL_DROP, no answer at all.
 */
static enum rrl_verdict
rate_limit(struct resolver *r, const struct netaddr *source, bool identified, struct answer *a)
{
	enum rrl_verdict v = rrl_check(r->rrl, source, identified, query_clock_ms());

	if (v == RRL_SLIP) {
		r->stats.rate_slipped++;
		a->truncated = true;
	} else if (v == RRL_DROP) {
		r->stats.rate_limited++;
	}
	return v;
}

/*
 * A query with a TSIG record (RFC 8945): the key must be the policy's and
 * the MAC, time and MAC size right. On success req->tsig is set and the key
 * identifies the requester. Otherwise the RCODE to answer with (FORMERR, or
 * NOTAUTH with the TSIG error in s, answered signed or unsigned as s says):
 * such a query never gets a policy answer, whatever its source address.
 */
static int
check_tsig(struct resolver *r, const uint8_t *pkt, size_t len, struct request *req,
           const struct netaddr *source, struct tsig_session *s)
{
	struct tsig_record t;
	struct tsig_key key;
	const struct policy_key *pk = NULL;

	if (tsig_parse(pkt, len, req->tsig_start, &t) != 0)
		return LDNS_RCODE_FORMERR;
	pk = policy_find_key(r->policy, POLICY_KEY_TSIG, t.key_name);
	if (pk) {
		memcpy(key.name, pk->name, dname_length(pk->name, DNAME_MAXLEN));
		key.algorithm = (enum tsig_algorithm)pk->algorithm;
		memcpy(key.secret, pk->secret, pk->secret_len);
		key.secret_len = pk->secret_len;
	}
	int rc = tsig_verify(pkt, len, &t, pk ? &key : NULL, time(NULL), s);
	if (s->active)
		req->tsig = s;
	if (rc != 0) {
		static const char *const names[] = { [TSIG_BADSIG] = "BADSIG", [TSIG_BADKEY] = "BADKEY",
		                                     [TSIG_BADTIME] = "BADTIME", [TSIG_BADTRUNC] = "BADTRUNC" };
		char kn[DNAME_TEXT_MAX], addr[64];
		r->stats.tsig_errors++;
		if (log_level() >= LOG_LEVEL_INFO)
			log_query("TSIG %s: key %s from %s", rc == LDNS_RCODE_FORMERR ? "FORMERR" : names[s->error],
			          dname_to_text(t.key_name, kn, sizeof(kn)),
			          netaddr_format_addr(source, addr, sizeof(addr)));
	}
	return rc;
}

enum query_result
query_process(struct resolver *r, const uint8_t *pkt, size_t len, const struct netaddr *source,
              bool tcp, const struct reply_handle *h, uint8_t *out, size_t outcap, size_t *outlen)
{
	return query_process_as(r, pkt, len, source, NULL, tcp, h, out, outcap, outlen);
}

enum query_result
query_process_as(struct resolver *r, const uint8_t *pkt, size_t len, const struct netaddr *source,
                 const struct tls_identity *cert, bool tcp, const struct reply_handle *h,
                 uint8_t *out, size_t outcap, size_t *outlen)
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
	if (req.opcode == LDNS_PACKET_NOTIFY && r->policy_notify) {
		/*
		 * A NOTIFY for the policy zone from its server: a hint to check
		 * now (the check itself is TSIG-protected, so a forged NOTIFY
		 * costs one IXFR query). Answered with the question, AA, NOERROR;
		 * anything else REFUSED.
		 */
		int rc = parse_request(pkt, len, &req);
		if (rc != 0) {
			r->stats.formerr++;
			if (req.question == NULL)
				req.question_len = 0;
			req.edns = false;
			start_answer(r, &a, &req, out, outcap, 512, (uint8_t)rc);
		} else {
			bool ours = req.qtype == LDNS_RR_TYPE_SOA && req.qclass == LDNS_RR_CLASS_IN &&
			            r->policy_notify(r->policy_notify_ctx, req.qname, source);
			if (!ours)
				r->stats.refused++;
			start_answer(r, &a, &req, out, outcap, 512, ours ? LDNS_RCODE_NOERROR : LDNS_RCODE_REFUSED);
			if (ours)
				LDNS_AA_SET(out);
		}
		LDNS_RA_CLR(out);
		goto done;
	}
	if (req.opcode != LDNS_PACKET_QUERY) {
		/*
		 * An opcode we do not implement: the rest of the message means
		 * nothing to us, so it is not parsed and no flag of it is echoed
		 * (RFC 8906 8.2.7-8.2.8): the id, QR, the opcode, NOTIMP.
		 */
		r->stats.notimp++;
		start_answer(r, &a, &req, out, outcap, 512, LDNS_RCODE_NOTIMPL);
		LDNS_RA_CLR(out);
		goto done;
	}
	req.rd = LDNS_RD_WIRE(pkt) != 0;
	req.cd = LDNS_CD_WIRE(pkt) != 0;
	req.ad = LDNS_AD_WIRE(pkt) != 0;
	int rcode = parse_request(pkt, len, &req);
	struct tsig_session tsig;
	if (rcode == 0 && req.tsig_start)
		rcode = check_tsig(r, pkt, len, &req, source, &tsig);
	size_t limit = answer_limit(r, &req, tcp);
	if (rcode == LDNS_RCODE_NOTAUTH) {
		/* a TSIG error: the question and the TSIG record (RFC 8945 5.3.2) */
		start_answer(r, &a, &req, out, outcap, limit, (uint8_t)rcode);
		if (!tcp && rate_limit(r, source, false, &a) == RRL_DROP)
			return QUERY_DROP;
		goto done;
	}
	if (rcode != 0) {
		r->stats.formerr++;
		if (req.question == NULL)
			req.question_len = 0;
		req.edns = false; /* the OPT may be what was malformed */
		req.tsig = NULL;
		start_answer(r, &a, &req, out, outcap, tcp ? 65535 : 512, (uint8_t)rcode);
		/* whoever sends it, an error answer goes to a source address that may be forged */
		if (!tcp && rate_limit(r, source, false, &a) == RRL_DROP)
			return QUERY_DROP;
		goto done;
	}
	start_answer(r, &a, &req, out, outcap, limit, LDNS_RCODE_NOERROR);
	if (!meta_type_allowed(r, &req, tcp, &a))
		goto done;
	if (req.edns && req.edns_version != 0) {
		/* RFC 6891 6.1.3: we speak EDNS version 0 only */
		a.edns_ext_rcode = RCODE_BADVERS >> 4;
		goto done;
	}

	if (cert) {
		/* the first name of the certificate that stands for a community domain, if any */
		for (size_t i = 0; i < cert->n && !req.certified; i++)
			if (policy_certificate_domain(r->policy, cert->names[i], NULL) != POLICY_NONE)
				req.certified = cert->names[i];
	}
	enum policy_identity how;
	uint32_t requester = identify_how(r, &req, source, &how);
	/* the domain asks for a stronger identity than this query shows */
	bool too_weak = requester != POLICY_NONE && r->policy->domains[requester].require > how;
	if (!tcp) {
		enum rrl_verdict v = rate_limit(r, source, requester != POLICY_NONE && !too_weak, &a);
		if (v == RRL_DROP)
			return QUERY_DROP;
		if (v == RRL_SLIP)
			goto done;
	}
	if (too_weak) {
		r->stats.identity_refused++;
		refuse(r, &a);
		goto done;
	}
	if ((requester == POLICY_NONE && !in_recursion_acl(r, source)) ||
	    req.qclass != LDNS_RR_CLASS_IN) {
		refuse(r, &a);
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
	res = answer_policed(r, &req, requester, source, tcp, h, &a);
	if (res == QUERY_PENDING)
		return res;
	if (res == QUERY_ANSWERED)
		goto done;
	res = recurse(r, &req, tcp, h, source, NULL, RECURSE_PLAIN, &a);
	if (res == QUERY_PENDING)
		return res;
done:
	*outlen = answer_finish(&a);
	if (req.tsig) {
		size_t n = tsig_sign_answer(out, *outlen, outcap, req.tsig, time(NULL));
		if (n == 0) {
			r->stats.dropped++;
			return QUERY_DROP;
		}
		*outlen = n;
	}
	metrics_answer(r->metrics, tcp, req.qtype, LDNS_RCODE_WIRE(out));
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

/* Most records of one upstream answer that are policed one by one; the rest are dropped. */
#define MAX_POLICED_RRS 512

/* What becomes of one upstream record. */
enum rr_fate { RR_DROP, RR_KEEP, RR_CAP /* keep, TTL capped: a policed name, allowed */ };

/*
 * The policy applied to one upstream answer for its requester, as RPZ
 * applies its triggers at every name of a CNAME/DNAME chain.
 */
struct policed_answer {
	enum rr_fate fate[3][MAX_POLICED_RRS];  /* per section, per record */
	const uint8_t *cut;      /* the first denied name of the chain, or NULL */
	uint32_t peer;           /* the one peer that decided the question, or POLICY_NONE */
	bool foreign;            /* a record owned by another name than the question's */
	bool policed;            /* ... and one of them policed (not cacheable for all) */
};

/* The owner of rr in wire format (ldns keeps it lower-case or as received). */
static const uint8_t *
rr_owner(const ldns_rr *rr)
{
	return ldns_rdf_data(ldns_rr_owner(rr));
}

/*
 * What the policy says of owner for the requester: RR_KEEP when the name is
 * not policed, RR_CAP when allowed, RR_DROP when denied. The question's own
 * name was decided before the lookup started and is not decided again.
 */
static enum rr_fate
police_owner(struct resolver *r, const struct pending *p, uint32_t requester, const uint8_t *owner,
             struct policed_answer *pa)
{
	struct name_policy np;
	struct policy_verdict v;
	uint32_t decided;

	if (dname_equal(owner, p->req.qname))
		return RR_KEEP;
	pa->foreign = true;
	name_policy_find(r, owner, &np);
	const uint8_t *peer_name;
	if (np.npeers == 0 && dname_xmpp_service(owner, &peer_name) != XMPP_NONE) {
		/* an XMPP service name inside an answer: its peer decides, as in answer_xmpp */
		unsigned above;
		uint32_t d = policy_find_domain_suffix(r->policy, peer_name,
		                                       dname_length(peer_name, DNAME_MAXLEN), &above);
		if (d != POLICY_NONE)
			np.peers[np.npeers++] = d;
	}
	if (np.npeers == 0)
		return RR_KEEP;
	/* a name of the peer that decided the question: allowed with it, for everyone */
	for (size_t i = 0; i < np.npeers && pa->peer != POLICY_NONE; i++)
		if (np.peers[i] == pa->peer)
			return RR_CAP;
	pa->policed = true;
	return name_policy_decide(r, requester, &np, &v, &decided) ? RR_CAP : RR_DROP;
}

/*
 * Decide every record of the answer section by walking the alias chain from
 * the question's name: a record is kept only when its owner is reached
 * through kept CNAMEs (or it is a DNAME above a reached name) and is not
 * denied; the first denied name reached ends the chain (pa->cut).
 */
static void
police_chain(struct resolver *r, const struct pending *p, uint32_t requester, ldns_rr_list *an,
             struct policed_answer *pa)
{
	size_t n = ldns_rr_list_rr_count(an);
	const uint8_t *reached[MAX_POLICED_RRS + 1];
	size_t nreached = 0;
	bool decided[MAX_POLICED_RRS] = { false };

	if (n > MAX_POLICED_RRS)
		n = MAX_POLICED_RRS; /* the rest stays RR_DROP */
	reached[nreached++] = p->req.qname;
	for (bool changed = true; changed;) {
		changed = false;
		for (size_t i = 0; i < n; i++) {
			if (decided[i])
				continue;
			ldns_rr *rr = ldns_rr_list_rr(an, i);
			const uint8_t *owner = rr_owner(rr);
			bool dname = ldns_rr_get_type(rr) == LDNS_RR_TYPE_DNAME, on_chain = false;
			for (size_t k = 0; k < nreached && !on_chain; k++)
				on_chain = dname ? dname_is_below(reached[k], owner) : dname_equal(reached[k], owner);
			if (!on_chain)
				continue;
			decided[i] = true;
			pa->fate[SECTION_ANSWER][i] = police_owner(r, p, requester, owner, pa);
			if (pa->fate[SECTION_ANSWER][i] == RR_DROP) {
				if (!dname && !pa->cut)
					pa->cut = owner;
				continue;
			}
			if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_CNAME && ldns_rr_rd_count(rr) == 1 &&
			    nreached <= MAX_POLICED_RRS) {
				reached[nreached++] = ldns_rdf_data(ldns_rr_rdf(rr, 0));
				changed = true;
			}
		}
	}
	/* records off the chain (there should be none) go with the denied ones */
}

/*
 * Police one upstream answer for the requester: the chain in the answer
 * section, and every record of the other sections by its owner.
 */
static void
police_answer(struct resolver *r, const struct pending *p, ldns_pkt *pkt, struct policed_answer *pa)
{
	uint32_t requester = identify(r, &p->req, &p->source);
	ldns_rr_list *sections[3] = { ldns_pkt_answer(pkt), ldns_pkt_authority(pkt),
	                              ldns_pkt_additional(pkt) };

	memset(pa, 0, sizeof(*pa));
	pa->peer = p->has_peer ? policy_find_domain_wire(r->policy, p->peer) : POLICY_NONE;
	police_chain(r, p, requester, sections[SECTION_ANSWER], pa);
	for (int s = SECTION_AUTHORITY; s <= SECTION_ADDITIONAL; s++) {
		size_t n = ldns_rr_list_rr_count(sections[s]);
		for (size_t i = 0; i < n && i < MAX_POLICED_RRS; i++) {
			ldns_rr *rr = ldns_rr_list_rr(sections[s], i);
			/* after a cut, the upstream's word on where the chain ended is not ours to pass on */
			pa->fate[s][i] = pa->cut && s == SECTION_AUTHORITY
			                     ? RR_DROP
			                     : ldns_rr_get_type(rr) == LDNS_RR_TYPE_OPT
			                           ? RR_KEEP
			                           : police_owner(r, p, requester, rr_owner(rr), pa);
		}
	}
}

/*
 * Copy one upstream section into the answer as policed: dropped records
 * are left out, TTLs capped at p->ttl_cap, and at the cap for policed
 * names. The upstream TTLs go to upstream_ttls for the answer cache. False
 * once the answer is truncated.
 */
static bool
copy_section(const struct resolver *r, const struct pending *p, ldns_rr_list *list,
             enum dns_section s, const struct policed_answer *pa, struct answer *a,
             ldns_buffer *rdbuf, uint32_t *upstream_ttls)
{
	for (size_t i = 0; i < ldns_rr_list_rr_count(list) && i < MAX_POLICED_RRS; i++) {
		ldns_rr *rr = ldns_rr_list_rr(list, i);
		ldns_rr_type t = ldns_rr_get_type(rr);
		if (t == LDNS_RR_TYPE_OPT || pa->fate[s][i] == RR_DROP)
			continue;
		if (!p->req.do_bit && is_dnssec_type(t) && t != p->req.qtype)
			continue;
		ldns_buffer_clear(rdbuf);
		for (size_t k = 0; k < ldns_rr_rd_count(rr); k++)
			ldns_rdf2buffer_wire(rdbuf, ldns_rr_rdf(rr, k));
		if (ldns_buffer_status(rdbuf) != LDNS_STATUS_OK || ldns_buffer_position(rdbuf) > 65535)
			continue;
		uint32_t ttl = ldns_rr_ttl(rr), cap = p->ttl_cap;
		if (pa->fate[s][i] == RR_CAP && cap > (uint32_t)r->opt->ttl_cap)
			cap = (uint32_t)r->opt->ttl_cap;
		if (ttl > cap)
			ttl = cap;
		if (!answer_add_rr(a, s, rr_owner(rr), (uint16_t)t, (uint16_t)ldns_rr_get_class(rr), ttl,
		                   ldns_buffer_begin(rdbuf), (uint16_t)ldns_buffer_position(rdbuf)))
			return false;
		if (a->nttl > 0 && a->nttl <= a->ttl_max)
			upstream_ttls[a->nttl - 1] = ldns_rr_ttl(rr);
	}
	return true;
}

/* An upstream TTL as a learning lifetime: from one minute to one day. */
static time_t
learn_until(time_t now, uint32_t ttl)
{
	return now + (time_t)(ttl < 60 ? 60 : ttl > 86400 ? 86400 : ttl);
}

/*
 * Remember that host serves peer. A host that was not policed before starts
 * a new policy epoch: cached answers holding its name were kept as the same
 * for everyone. A host at or below a community domain was policed already
 * (such answers were never shared), so it costs the cache nothing: the
 * usual case, xmpp.P serving P.
 */
static bool
learn_host(struct resolver *r, const uint8_t *host, const uint8_t *peer, time_t until)
{
	unsigned above;
	bool policed = r->opt->police_domain_address &&
	               policy_find_domain_suffix(r->policy, host, dname_length(host, DNAME_MAXLEN),
	                                         &above) != POLICY_NONE;

	if (!targetmap_add(r->learned, host, peer, until))
		return false;
	if (!policed)
		targetmap_new_epoch(r->learned); /* every worker's, the map is shared */
	return true;
}

/*
 * Remember the target hosts of an upstream SRV answer for p->peer, and
 * look each new one up: if it is an alias, its canonical host is the peer's
 * too (learn_chain).
 */
static void
learn_srv_targets(struct resolver *r, const struct pending *p, ldns_pkt *pkt)
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
		/* keep the upstream TTL (not the capped one) */
		time_t until = learn_until(now, ldns_rr_ttl(rr));
		if (learn_host(r, ldns_rdf_data(target), p->peer, until))
			probe_host(r, ldns_rdf_data(target));
		if (fresh == 0 || until < fresh)
			fresh = until;
	}
	/* no need to look this peer up again for the targets before they expire */
	if (fresh)
		targetmap_peer_learned(r->learned, p->peer, fresh);
}

/*
 * Every alias of an answer whose owner is a policed name hands the policy on
 * to its target: the target (a peer's hidden canonical host) serves the same
 * peers. Followed to the end of the chain.
 */
static void
learn_chain(struct resolver *r, ldns_pkt *pkt)
{
	ldns_rr_list *an = ldns_pkt_answer(pkt);
	size_t n = ldns_rr_list_rr_count(an);
	time_t now = time(NULL);
	struct name_policy np;

	for (size_t pass = 0; pass < n && pass < 16; pass++) {
		bool learned = false;
		for (size_t i = 0; i < n; i++) {
			ldns_rr *rr = ldns_rr_list_rr(an, i);
			if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_CNAME || ldns_rr_rd_count(rr) != 1)
				continue;
			name_policy_find(r, rr_owner(rr), &np);
			for (size_t k = 0; k < np.npeers; k++)
				learned |= learn_host(r, ldns_rdf_data(ldns_rr_rdf(rr, 0)),
				                      r->policy->domains[np.peers[k]].wire,
				                      learn_until(now, ldns_rr_ttl(rr)));
		}
		if (!learned)
			break;
	}
}

/* The upstream packet parsed, or NULL when it failed, was bogus or is unreadable. */
static ldns_pkt *
upstream_packet(const struct pending *p, const struct upstream_result *res)
{
	ldns_pkt *pkt = NULL;

	if (res->sec == UPSTREAM_BOGUS && p->client && log_level() >= LOG_LEVEL_INFO) {
		char name[DNAME_TEXT_MAX];
		log_query("bogus answer for %s: %s", dname_to_text(p->question, name, sizeof(name)),
		         res->why_bogus ? res->why_bogus : "validation failed");
	}
	if (res->error != 0 || !res->packet || res->sec == UPSTREAM_BOGUS ||
	    ldns_wire2pkt(&pkt, res->packet, res->len) != LDNS_STATUS_OK)
		return NULL;
	return pkt;
}

/*
 * The end of a chain cut at a denied name: the sink's addresses under that
 * name for an address question, else NODATA with the clearinghouse SOA.
 */
static void
answer_cut(struct resolver *r, const struct pending *p, const struct policed_answer *pa,
           struct answer *a)
{
	char name[DNAME_TEXT_MAX], qname[DNAME_TEXT_MAX];

	if (log_level() >= LOG_LEVEL_INFO)
		log_query("alias chain of %s cut at %s: denied for source %s",
		         dname_to_text(p->req.qname, qname, sizeof(qname)),
		         dname_to_text(pa->cut, name, sizeof(name)),
		         netaddr_format_addr(&p->source, (char[64]){ 0 }, 64));
	r->stats.policy_deny++;
	struct policy_verdict v = { .allow = false, .reason = "alias chain" };
	metrics_decision(r->metrics, r->policy, identify(r, &p->req, &p->source), &v);
	answer_set_rcode(a, LDNS_RCODE_NOERROR);
	if (add_sink_address(r, p->req.qtype, pa->cut, a) == 0)
		answer_nodata(r, a);
}

/*
 * The answer of one client query from the upstream result: its RCODE and
 * records, policed for the requester name by name, TTLs capped for policy
 * answers, AD when validated, unchanged and wanted, SERVFAIL when pkt is
 * NULL (failure, bogus data). Kept in the answer cache when it is the same
 * for every requester; sent through the transport.
 */
static void
answer_pending(struct resolver *r, struct pending *p, const struct upstream_result *res,
               ldns_pkt *pkt)
{
	static _Thread_local uint8_t out[65535];
	static _Thread_local struct policed_answer pa;
	uint16_t ttl_offsets[CACHE_TTLS];
	uint32_t upstream_ttls[CACHE_TTLS];
	struct answer a;
	/* before the answer is policed: a target another worker learns while
	 * this one polices makes the epoch newer than the one it is kept under */
	uint64_t epoch = cache_epoch(r);

	start_answer(r, &a, &p->req, out, sizeof(out), p->limit, LDNS_RCODE_NOERROR);
	a.ttl_offsets = ttl_offsets;
	a.ttl_max = CACHE_TTLS;
	if (!pkt) {
		r->stats.servfail++;
		answer_set_rcode(&a, LDNS_RCODE_SERVFAIL);
	} else {
		ldns_buffer *rdbuf = ldns_buffer_new(512);
		bool copied = rdbuf != NULL;
		police_answer(r, p, pkt, &pa);
		answer_set_rcode(&a, (uint8_t)ldns_pkt_get_rcode(pkt));
		/* secure, unchanged, and the client can use it: RFC 6840 5.7, 4035 3.2.3 */
		if (res->sec == UPSTREAM_SECURE && !pa.cut && (p->req.do_bit || p->req.ad))
			LDNS_AD_SET(out);
		if (rdbuf) {
			if (copy_section(r, p, ldns_pkt_answer(pkt), SECTION_ANSWER, &pa, &a, rdbuf,
			                 upstream_ttls) &&
			    (pa.cut || copy_section(r, p, ldns_pkt_authority(pkt), SECTION_AUTHORITY, &pa, &a,
			                            rdbuf, upstream_ttls)))
				copy_section(r, p, ldns_pkt_additional(pkt), SECTION_ADDITIONAL, &pa, &a, rdbuf,
				             upstream_ttls);
			ldns_buffer_free(rdbuf);
		}
		if (pa.cut && !a.truncated)
			answer_cut(r, p, &pa, &a);
		/*
		 * Complete answers only (one cut by the client's size limit is not
		 * the answer), and only when they are the same for every requester:
		 * none of their other names is policed now. Answers holding other
		 * names are kept for this policy epoch only.
		 */
		if (copied && !a.truncated && !pa.policed && !pa.cut && a.nttl < CACHE_TTLS) {
			struct answer_key k = { p->req.qname, p->req.qtype, p->req.qclass,
			                        answer_variant(p->req.do_bit, p->req.cd),
			                        pa.foreign ? epoch : 0 };
			answer_cache_put(r->answers, &k, &a, ttl_offsets, upstream_ttls, a.nttl,
			                 res->sec == UPSTREAM_SECURE, time(NULL));
		}
	}
	size_t len = answer_finish(&a);
	if (p->req.tsig)
		len = tsig_sign_answer(out, len, sizeof(out), p->req.tsig, time(NULL));
	metrics_answer(r->metrics, p->tcp, p->req.qtype, LDNS_RCODE_WIRE(out));
	r->transport.reply(r->transport.ctx, p->client, len ? out : NULL, len);
}

/*
 * upstream_done_fn of every lookup: learn from the upstream answer (target
 * hosts, alias chains), then answer every query that waits for it, each
 * for its own requester. Lookups of our own only learn.
 */
static void
upstream_done(void *arg, const struct upstream_result *res)
{
	struct inflight *in = arg;
	struct resolver *r = in->r;
	ldns_pkt *pkt = NULL;
	struct pending *p, *next;

	inflight_remove(r, in);
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	metrics_upstream(r->metrics, (double)(now.tv_sec - in->started.tv_sec) +
	                                 (double)(now.tv_nsec - in->started.tv_nsec) / 1e9);
	if (in->waiting)
		pkt = upstream_packet(in->waiting, res);
	if (pkt) {
		for (p = in->waiting; p; p = p->next_in)
			if (p->learn)
				learn_srv_targets(r, p, pkt);
		learn_chain(r, pkt);
	}
	for (p = in->waiting; p; p = next) {
		next = p->next_in;
		pending_detach(r, p);
		if (p->client)
			answer_pending(r, p, res, pkt);
		else
			r->learning--;
		free(p);
	}
	ldns_pkt_free(pkt);
	free(in);
}

void
query_shutdown(struct resolver *r)
{
	for (size_t b = 0; r->inflight && b < r->inflight_buckets; b++)
		while (r->inflight[b]) {
			struct inflight *in = r->inflight[b];
			inflight_remove(r, in);
			while (in->waiting) {
				struct pending *p = in->waiting;
				pending_detach(r, p);
				if (p->client)
					r->transport.reply(r->transport.ctx, p->client, NULL, 0);
				free(p);
			}
			free(in);
		}
}

void
query_expire(struct resolver *r, uint64_t now_ms)
{
	while (r->oldest && now_ms - r->oldest->started_ms >= (uint64_t)r->opt->recursion_timeout * 1000) {
		struct pending *p = r->oldest;
		struct upstream_result failed = { .error = 1 };
		pending_detach(r, p);
		r->stats.recursion_timeouts++;
		answer_pending(r, p, &failed, NULL);
		free(p);
	}
}
