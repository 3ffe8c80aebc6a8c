/*
 * recursion.c -- libunbound on the libevent loop, and turning its answers
 * into ours (the client's id, flags, EDNS, size limit, TTL cap, AD bit).
 */
#include "config.h"
#include "recursion.h"
#include "answer.h"
#include "answer_cache.h"
#include "dname.h"
#include "log.h"
#include "options.h"
#include "targetmap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <ldns/ldns.h>
#include <unbound.h>
#include <unbound-event.h>

/* TTL places remembered per answer for the answer cache */
#define CACHE_TTLS 255

struct recursion {
	struct ub_ctx *ctx;     /* validating when a trust anchor is configured */
	struct ub_ctx *ctx_cd;  /* the same without validation, for CD queries */
};

/* ub_ctx_set_option with an error message naming the option. */
static int
set_option(struct ub_ctx *ctx, const char *name, const char *value, char *err, size_t errlen)
{
	int rc = ub_ctx_set_option(ctx, name, value);
	if (rc != 0) {
		snprintf(err, errlen, "libunbound option %s %s: %s", name, value, ub_strerror(rc));
		return -1;
	}
	return 0;
}

/* One libunbound context configured from the options; validating or not. */
static struct ub_ctx *
context_new(struct event_base *base, const struct options *opt, bool validate, char *err,
            size_t errlen)
{
	struct ub_ctx *ctx = ub_ctx_create_event(base);
	char buf[300];
	int rc;

	if (!ctx) {
		snprintf(err, errlen, "cannot create the libunbound context");
		return NULL;
	}
	/* upstreams on loopback (a local authoritative server) are normal here */
	if (set_option(ctx, "do-not-query-localhost:", "no", err, errlen) != 0)
		goto fail;
	for (size_t i = 0; i < opt->ntransparent; i++) {
		snprintf(buf, sizeof(buf), "%s transparent", opt->transparent[i]);
		if (set_option(ctx, "local-zone:", buf, err, errlen) != 0)
			goto fail;
	}
	for (size_t i = 0; i < opt->nforward; i++) {
		rc = ub_ctx_set_fwd(ctx, opt->forward[i]);
		if (rc != 0) {
			snprintf(err, errlen, "forward %s: %s", opt->forward[i], ub_strerror(rc));
			goto fail;
		}
	}
	for (size_t i = 0; i < opt->nstub; i++) {
		rc = ub_ctx_set_stub(ctx, opt->stub[i].zone, opt->stub[i].addr, 0);
		if (rc != 0) {
			snprintf(err, errlen, "stub-zone %s %s: %s", opt->stub[i].zone, opt->stub[i].addr,
			         ub_strerror(rc));
			goto fail;
		}
	}
	if (validate && opt->trust_anchor_file) {
		rc = ub_ctx_add_ta_file(ctx, opt->trust_anchor_file);
		if (rc != 0) {
			snprintf(err, errlen, "trust-anchor-file %s: %s", opt->trust_anchor_file,
			         ub_strerror(rc));
			goto fail;
		}
	}
	for (size_t i = 0; i < opt->nunbound; i++)
		if (set_option(ctx, opt->unbound[i].name, opt->unbound[i].value, err, errlen) != 0)
			goto fail;
	return ctx;
fail:
	ub_ctx_delete(ctx);
	return NULL;
}

struct recursion *
recursion_new(struct event_base *base, const struct options *opt, char *err, size_t errlen)
{
	struct recursion *rec = calloc(1, sizeof(*rec));

	if (!rec) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	rec->ctx = context_new(base, opt, true, err, errlen);
	/*
	 * A client that sets CD validates itself and must get the data even when
	 * it is bogus (RFC 4035 3.2.2); libunbound validates per context, so CD
	 * queries go to a second one without trust anchors.
	 */
	if (rec->ctx && opt->trust_anchor_file)
		rec->ctx_cd = context_new(base, opt, false, err, errlen);
	if (!rec->ctx || (opt->trust_anchor_file && !rec->ctx_cd)) {
		recursion_free(rec);
		return NULL;
	}
	return rec;
}

void
recursion_free(struct recursion *rec)
{
	if (!rec)
		return;
	if (rec->ctx)
		ub_ctx_delete(rec->ctx);
	if (rec->ctx_cd)
		ub_ctx_delete(rec->ctx_cd);
	free(rec);
}

/* DNSSEC records are sent only to clients that set DO (RFC 4035 3.2.1). */
static bool
is_dnssec_type(ldns_rr_type t)
{
	return t == LDNS_RR_TYPE_RRSIG || t == LDNS_RR_TYPE_NSEC || t == LDNS_RR_TYPE_NSEC3;
}

/* Copy one ldns section into the answer; false once the answer is truncated. */
static bool
copy_section(const struct pending *p, ldns_rr_list *list, enum dns_section s, struct answer *a,
             ldns_buffer *rdbuf, uint32_t *upstream_ttls)
{
	for (size_t i = 0; i < ldns_rr_list_rr_count(list); i++) {
		ldns_rr *rr = ldns_rr_list_rr(list, i);
		ldns_rr_type t = ldns_rr_get_type(rr);
		if (t == LDNS_RR_TYPE_OPT)
			continue;
		if (!p->do_bit && is_dnssec_type(t) && t != p->qtype)
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

/* libunbound's answer: rebuild it for the client and send it. */
static void
recursion_done(void *arg, int rcode, void *packet, int packet_len, int sec, char *why_bogus,
               int was_ratelimited)
{
	struct pending *p = arg;
	static uint8_t out[65535];
	struct answer a;
	ldns_pkt *pkt = NULL;
	uint16_t flags = (uint16_t)(DNS_FLAG_QR | (p->flags & (DNS_FLAG_RD | DNS_FLAG_CD)) | DNS_FLAG_RA);

	(void)was_ratelimited;
	if (p->silent) {
		if (rcode == 0 && packet && sec != 1 &&
		    ldns_wire2pkt(&pkt, packet, (size_t)packet_len) == LDNS_STATUS_OK) {
			learn_srv_targets(p, pkt);
			ldns_pkt_free(pkt);
		}
		p->r->learning--;
		free(p);
		return;
	}
	uint16_t ttl_offsets[CACHE_TTLS];
	uint32_t upstream_ttls[CACHE_TTLS];
	answer_start(&a, out, sizeof(out), p->limit, p->id, flags, p->question, p->question_len);
	a.ttl_offsets = ttl_offsets;
	a.ttl_max = CACHE_TTLS;
	a.edns = p->edns;
	a.edns_do = p->do_bit;
	a.edns_size = (uint16_t)p->r->opt->edns_buffer_size;
	if (rcode != 0 || packet == NULL || sec == 1 ||
	    ldns_wire2pkt(&pkt, packet, (size_t)packet_len) != LDNS_STATUS_OK) {
		if (sec == 1 && log_level() >= LOG_LEVEL_INFO) {
			char name[DNAME_MAXLEN + 1];
			log_info("bogus answer for %s: %s",
			         dname_to_text(p->question, name, sizeof(name)),
			         why_bogus ? why_bogus : "validation failed");
		}
		p->r->stats.servfail++;
		answer_set_rcode(&a, LDNS_RCODE_SERVFAIL);
	} else {
		ldns_buffer *rdbuf = ldns_buffer_new(512);
		if (p->learn)
			learn_srv_targets(p, pkt);
		answer_set_rcode(&a, (uint8_t)ldns_pkt_get_rcode(pkt));
		/* secure, and the client can use it: RFC 6840 5.7, 4035 3.2.3 */
		if (sec == 2 && (p->do_bit || (p->flags & DNS_FLAG_AD)))
			out[3] |= DNS_FLAG_AD;
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
			uint8_t qname[DNAME_MAXLEN];
			memcpy(qname, p->question, p->question_len - 4);
			dname_lower(qname);
			struct answer_key k = { qname, p->qtype, p->qclass, answer_variant(p->do_bit, p->flags) };
			answer_cache_put(p->r->answers, &k, &a, ttl_offsets, upstream_ttls, a.nttl, sec == 2,
			                 time(NULL));
		}
	}
	size_t len = answer_finish(&a);
	p->r->reply(&p->h, out, len);
	free(p);
}

int
recursion_start(struct recursion *rec, struct pending *p)
{
	char name[4 * DNAME_MAXLEN + 2];
	ldns_rdf *rdf = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_DNAME, p->question_len - 4, p->question);
	char *text;

	if (!rec || !rdf) {
		ldns_rdf_deep_free(rdf);
		return -1;
	}
	/* ldns escapes odd bytes (\DDD), as libunbound's parser expects */
	text = ldns_rdf2str(rdf);
	ldns_rdf_deep_free(rdf);
	if (!text)
		return -1;
	snprintf(name, sizeof(name), "%s", text);
	free(text);
	struct ub_ctx *ctx = (p->flags & DNS_FLAG_CD) && rec->ctx_cd ? rec->ctx_cd : rec->ctx;
	int rc = ub_resolve_event(ctx, name, p->qtype, p->qclass, p, recursion_done, &p->async_id);
	if (rc != 0) {
		log_warn("recursion for %s failed to start: %s", name, ub_strerror(rc));
		return -1;
	}
	return 0;
}
