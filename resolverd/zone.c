/*
 * zone.c -- own zone: loaded once with ldns into a flat array of records.
 *
 * The zone is tiny (a sink host, its name server), so a linear scan is faster
 * than any index and keeps the code obvious.
 */
#include "config.h"
#include "zone.h"
#include "answer.h"
#include "dname.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ldns/ldns.h>

void
zone_free(struct zone *z)
{
	if (!z)
		return;
	for (size_t i = 0; i < z->nrrs; i++)
		free(z->rrs[i].rdata);
	free(z->rrs);
	free(z);
}

/* Convert one ldns RR into our flat form. */
static int
zone_take_rr(struct zone *z, ldns_rr *rr)
{
	ldns_buffer *buf = ldns_buffer_new(512);
	struct zone_rr *zr;
	int ret = -1;

	if (!buf)
		return -1;
	ldns_rdf *owner = ldns_rr_owner(rr);
	if (ldns_rdf_size(owner) > sizeof(zr->owner))
		goto out;
	for (size_t i = 0; i < ldns_rr_rd_count(rr); i++)
		if (ldns_rdf2buffer_wire_canonical(buf, ldns_rr_rdf(rr, i)) != LDNS_STATUS_OK)
			goto out;
	if (ldns_buffer_position(buf) > 65535)
		goto out;
	struct zone_rr *nrrs = realloc(z->rrs, (z->nrrs + 1) * sizeof(*nrrs));
	if (!nrrs)
		goto out;
	z->rrs = nrrs;
	zr = &z->rrs[z->nrrs];
	memcpy(zr->owner, ldns_rdf_data(owner), ldns_rdf_size(owner));
	dname_lower(zr->owner);
	zr->type = (uint16_t)ldns_rr_get_type(rr);
	zr->rrclass = (uint16_t)ldns_rr_get_class(rr);
	zr->ttl = ldns_rr_ttl(rr);
	zr->rdlen = (uint16_t)ldns_buffer_position(buf);
	zr->rdata = malloc(zr->rdlen ? zr->rdlen : 1);
	if (!zr->rdata)
		goto out;
	memcpy(zr->rdata, ldns_buffer_begin(buf), zr->rdlen);
	z->nrrs++;
	ret = 0;
out:
	ldns_buffer_free(buf);
	return ret;
}

/*
 * The file is read record by record with ldns_rr_new_frm_fp_l(), as ldns's
 * own zone reader does, but without it: ldns 1.8.3's reader frees a second
 * SOA and then reads it again as the previous record (found by fuzzing).
 * The SOA comes first, once, with its seven fields; every record is at or
 * below its owner; $INCLUDE is refused.
 */
struct zone *
zone_load(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	uint32_t default_ttl = 3600;
	ldns_rdf *origin = NULL, *prev = NULL;
	ldns_rr *soa = NULL;
	int line = 0;
	struct zone *z = NULL;

	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	z = calloc(1, sizeof(*z));
	if (!z)
		goto nomem;
	for (;;) {
		ldns_rr *rr = NULL;
		ldns_status st = ldns_rr_new_frm_fp_l(&rr, f, &default_ttl, &origin, &prev, &line);
		if (st == LDNS_STATUS_SYNTAX_EMPTY && feof(f))
			break;
		if (st == LDNS_STATUS_SYNTAX_EMPTY || st == LDNS_STATUS_SYNTAX_TTL ||
		    st == LDNS_STATUS_SYNTAX_ORIGIN)
			continue;
		if (st != LDNS_STATUS_OK) {
			ldns_rr_free(rr);
			snprintf(err, errlen, "%s:%d: %s", path, line,
			         st == LDNS_STATUS_SYNTAX_INCLUDE ? "$INCLUDE is not supported"
			                                          : ldns_get_errorstr_by_id(st));
			goto fail;
		}
		if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_SOA) {
			const char *why = soa ? "a second SOA record" : ldns_rr_rd_count(rr) != 7 ||
			                  ldns_rdf_size(ldns_rr_rdf(rr, 6)) != 4 ? "a malformed SOA record" : NULL;
			if (why) {
				ldns_rr_free(rr);
				snprintf(err, errlen, "%s:%d: %s", path, line, why);
				goto fail;
			}
			soa = rr;
			memcpy(z->origin, ldns_rdf_data(ldns_rr_owner(soa)), ldns_rdf_size(ldns_rr_owner(soa)));
			dname_lower(z->origin);
			z->soa = z->nrrs;
			/* the SOA minimum is the last rdata field */
			uint32_t minimum = ldns_rdf2native_int32(ldns_rr_rdf(soa, 6));
			z->neg_ttl = ldns_rr_ttl(soa) < minimum ? ldns_rr_ttl(soa) : minimum;
			if (zone_take_rr(z, soa) != 0)
				goto nomem;
			continue;
		}
		if (!soa || (!ldns_dname_is_subdomain(ldns_rr_owner(rr), ldns_rr_owner(soa)) &&
		             ldns_dname_compare(ldns_rr_owner(rr), ldns_rr_owner(soa)) != 0)) {
			char *o = ldns_rdf2str(ldns_rr_owner(rr));
			snprintf(err, errlen, "%s:%d: %s %s", path, line, o ? o : "?",
			         soa ? "is outside the zone" : "comes before the SOA record");
			free(o);
			ldns_rr_free(rr);
			goto fail;
		}
		int rc = zone_take_rr(z, rr);
		ldns_rr_free(rr);
		if (rc != 0)
			goto nomem;
	}
	if (!soa) {
		snprintf(err, errlen, "%s: no SOA record", path);
		goto fail;
	}
	ldns_rr_free(soa);
	ldns_rdf_deep_free(origin);
	ldns_rdf_deep_free(prev);
	fclose(f);
	return z;
nomem:
	snprintf(err, errlen, "%s: out of memory or record too large", path);
fail:
	ldns_rr_free(soa);
	ldns_rdf_deep_free(origin);
	ldns_rdf_deep_free(prev);
	fclose(f);
	zone_free(z);
	return NULL;
}

bool
zone_contains(const struct zone *z, const uint8_t *qname)
{
	return dname_is_below(qname, z->origin);
}

unsigned
zone_add_rrset(const struct zone *z, const uint8_t *owner, uint16_t type, struct answer *a,
               int section, uint32_t ttl_cap, const uint8_t *as_owner)
{
	unsigned n = 0;

	for (size_t i = 0; i < z->nrrs; i++) {
		const struct zone_rr *r = &z->rrs[i];
		if (r->type != type || !dname_equal(r->owner, owner))
			continue;
		uint32_t ttl = r->ttl < ttl_cap ? r->ttl : ttl_cap;
		if (answer_add_rr(a, (enum dns_section)section, as_owner ? as_owner : r->owner, r->type,
		                  r->rrclass, ttl, r->rdata, r->rdlen))
			n++;
	}
	return n;
}

void
zone_answer(const struct zone *z, const uint8_t *qname, uint16_t qtype, struct answer *a)
{
	bool name_exists = false;
	unsigned added = 0;

	LDNS_AA_SET(a->buf);
	for (size_t i = 0; i < z->nrrs; i++) {
		const struct zone_rr *r = &z->rrs[i];
		if (!dname_is_below(r->owner, qname))
			continue;
		name_exists = true; /* the name itself or an empty non-terminal above a record */
		if (!dname_equal(r->owner, qname))
			continue;
		if (r->type == qtype || qtype == LDNS_RR_TYPE_ANY) {
			answer_add_rr(a, SECTION_ANSWER, NULL, r->type, r->rrclass, r->ttl, r->rdata,
			              r->rdlen);
			added++;
		}
	}
	if (added > 0)
		return;
	answer_set_rcode(a, name_exists ? LDNS_RCODE_NOERROR : LDNS_RCODE_NXDOMAIN);
	const struct zone_rr *soa = &z->rrs[z->soa];
	answer_add_rr(a, SECTION_AUTHORITY, soa->owner, soa->type, soa->rrclass, z->neg_ttl,
	              soa->rdata, soa->rdlen);
}
