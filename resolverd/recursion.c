/*
 * recursion.c -- libunbound on the libevent loop. Starts lookups and hands
 * their results back; what the client is answered is query.c's business.
 */
#include "config.h"
#include "recursion.h"
#include "dname.h"
#include "log.h"
#include "options.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <ldns/ldns.h>
#include <unbound.h>
#include <unbound-event.h>

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

/*
 * libunbound's library defaults suit one program asking a few questions
 * (16 outgoing ports, 512 queries in progress); a resolver for a whole
 * community needs a server's. With 16 ports, 50 queries for names under an
 * upstream that never answers starved every other lookup for 30 s. The
 * hardening options are what unbound.conf(5) recommends for a server.
 * unbound-option lines come later and override any of these.
 */
static const char *const server_defaults[][2] = {
	{ "outgoing-range:", "4096" },          /* sockets for queries to upstreams */
	{ "num-queries-per-thread:", "2048" },  /* queries in progress at once */
	{ "jostle-timeout:", "200" },           /* when full, slow queries make room (ms) */
	{ "harden-glue:", "yes" },
	{ "harden-referral-path:", "yes" },
	{ "harden-dnssec-stripped:", "yes" },
	{ "harden-below-nxdomain:", "yes" },
	{ "qname-minimisation:", "yes" },
	{ "use-caps-for-id:", "yes" },          /* 0x20: forged answers must guess the case too */
	{ "aggressive-nsec:", "yes" },          /* RFC 8198 */
	{ "unwanted-reply-threshold:", "10000000" },
};

/*
 * One libunbound context configured from the options; validating or not;
 * track_anchor: it keeps auto-trust-anchor-file up to date (else it only
 * reads it at start).
 */
static struct ub_ctx *
context_new(struct event_base *base, const struct options *opt, bool validate, bool track_anchor,
            char *err, size_t errlen)
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
	for (size_t i = 0; i < sizeof(server_defaults) / sizeof(server_defaults[0]); i++)
		if (set_option(ctx, server_defaults[i][0], server_defaults[i][1], err, errlen) != 0)
			goto fail;
	if (validate && opt->auto_trust_anchor_file && track_anchor &&
	    set_option(ctx, "auto-trust-anchor-file:", opt->auto_trust_anchor_file, err, errlen) != 0)
		goto fail;
	if (validate && opt->auto_trust_anchor_file && !track_anchor) {
		/* another worker's context writes the file: two writers could clobber it */
		rc = ub_ctx_add_ta_file(ctx, opt->auto_trust_anchor_file);
		if (rc != 0) {
			snprintf(err, errlen, "auto-trust-anchor-file %s: %s", opt->auto_trust_anchor_file,
			         ub_strerror(rc));
			goto fail;
		}
	}
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
recursion_new(struct event_base *base, const struct options *opt, bool track_anchor, char *err,
              size_t errlen)
{
	struct recursion *rec = calloc(1, sizeof(*rec));

	if (!rec) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	rec->ctx = context_new(base, opt, true, track_anchor, err, errlen);
	/*
	 * A client that sets CD validates itself and must get the data even when
	 * it is bogus (RFC 4035 3.2.2); libunbound validates per context, so CD
	 * queries go to a second one without trust anchors.
	 */
	bool validating = opt->trust_anchor_file || opt->auto_trust_anchor_file;
	if (rec->ctx && validating)
		rec->ctx_cd = context_new(base, opt, false, false, err, errlen);
	if (!rec->ctx || (validating && !rec->ctx_cd)) {
		recursion_free(rec);
		return NULL;
	}
	if (!validating && opt->nforward == 0 && opt->nstub == 0 && track_anchor)
		log_warn("recursing from the root without DNSSEC validation: set auto-trust-anchor-file "
		         "(RFC 5011, e.g. a copy of /usr/share/dns/root.key) or trust-anchor-file");
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

/* libunbound's callback: hand its result to the lookup's owner as it is. */
static void
resolved(void *arg, int err, void *packet, int packet_len, int sec, char *why_bogus,
         int was_ratelimited)
{
	struct upstream_lookup *l = arg;
	struct upstream_result res = {
		.error = err,
		.packet = err == 0 ? packet : NULL,
		.len = err == 0 && packet && packet_len > 0 ? (size_t)packet_len : 0,
		.sec = sec == 2 ? UPSTREAM_SECURE : sec == 1 ? UPSTREAM_BOGUS : UPSTREAM_INSECURE,
		.why_bogus = why_bogus,
	};

	(void)was_ratelimited;
	if (res.len == 0)
		res.packet = NULL;
	l->done(l->arg, &res);
}

int
recursion_resolve(void *ctx, const uint8_t *qname, uint16_t qtype, uint16_t qclass,
                  bool checking_disabled, struct upstream_lookup *l)
{
	struct recursion *rec = ctx;
	char name[4 * DNAME_MAXLEN + 2];
	size_t qlen = dname_length(qname, DNAME_MAXLEN);
	ldns_rdf *rdf = qlen ? ldns_rdf_new_frm_data(LDNS_RDF_TYPE_DNAME, qlen, qname) : NULL;
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
	struct ub_ctx *ub = checking_disabled && rec->ctx_cd ? rec->ctx_cd : rec->ctx;
	int rc = ub_resolve_event(ub, name, qtype, qclass, l, resolved, &l->async_id);
	if (rc != 0) {
		log_warn("recursion for %s failed to start: %s", name, ub_strerror(rc));
		return -1;
	}
	return 0;
}
