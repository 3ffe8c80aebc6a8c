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

struct zone *
zone_load(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	ldns_zone *lz = NULL;
	int line = 0;
	struct zone *z = NULL;

	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	ldns_status st = ldns_zone_new_frm_fp_l(&lz, f, NULL, 3600, LDNS_RR_CLASS_IN, &line);
	fclose(f);
	if (st != LDNS_STATUS_OK) {
		snprintf(err, errlen, "%s:%d: %s", path, line, ldns_get_errorstr_by_id(st));
		return NULL;
	}
	z = calloc(1, sizeof(*z));
	ldns_rr *soa = ldns_zone_soa(lz);
	if (!z || !soa) {
		snprintf(err, errlen, "%s: %s", path, z ? "no SOA record" : "out of memory");
		goto fail;
	}
	if (zone_take_rr(z, soa) != 0)
		goto nomem;
	z->soa = 0;
	memcpy(z->origin, z->rrs[0].owner, sizeof(z->origin));
	ldns_rr_list *rrs = ldns_zone_rrs(lz);
	for (size_t i = 0; i < ldns_rr_list_rr_count(rrs); i++) {
		ldns_rr *rr = ldns_rr_list_rr(rrs, i);
		if (!ldns_dname_is_subdomain(ldns_rr_owner(rr), ldns_rr_owner(soa)) &&
		    ldns_dname_compare(ldns_rr_owner(rr), ldns_rr_owner(soa)) != 0) {
			char *o = ldns_rdf2str(ldns_rr_owner(rr));
			snprintf(err, errlen, "%s: %s is outside the zone", path, o ? o : "?");
			free(o);
			goto fail;
		}
		if (zone_take_rr(z, rr) != 0)
			goto nomem;
	}
	/* the SOA minimum is the last rdata field */
	uint32_t minimum = ldns_rdf2native_int32(ldns_rr_rdf(soa, 6));
	z->neg_ttl = ldns_rr_ttl(soa) < minimum ? ldns_rr_ttl(soa) : minimum;
	ldns_zone_deep_free(lz);
	return z;
nomem:
	snprintf(err, errlen, "%s: out of memory or record too large", path);
fail:
	ldns_zone_deep_free(lz);
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
