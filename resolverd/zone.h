/*
 * zone.h -- the clearinghouse's own zone (the sink host and friends),
 * loaded from a zone file with ldns and answered authoritatively.
 */
#ifndef ZONE_H
#define ZONE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct answer;

struct zone_rr {
	uint8_t owner[255]; /* lower-case wire */
	uint16_t type, rrclass;
	uint32_t ttl;
	uint8_t *rdata;
	uint16_t rdlen;
};

struct zone {
	uint8_t origin[255];
	struct zone_rr *rrs;
	size_t nrrs;
	size_t soa;         /* index of the SOA record */
	uint32_t neg_ttl;   /* min(SOA TTL, SOA minimum) */
};

/** Load a zone file. NULL with a message in err (file, line, ldns error). */
struct zone *zone_load(const char *path, char *err, size_t errlen);
void zone_free(struct zone *z);

/** Whether qname is the origin or below it. */
bool zone_contains(const struct zone *z, const uint8_t *qname);

/**
 * Answer qname/qtype from the zone into a started answer: records, or
 * NODATA/NXDOMAIN with the SOA. Sets AA and the RCODE.
 */
void zone_answer(const struct zone *z, const uint8_t *qname, uint16_t qtype, struct answer *a);

/**
 * Add the zone's records of owner/type (wire) to a section (e.g. the sink
 * host's addresses as additional data), TTL capped at ttl_cap seconds. With
 * as_owner (wire, or NULL) the records are written under that name instead
 * (the sink address given for a denied name). Returns how many were added.
 */
unsigned zone_add_rrset(const struct zone *z, const uint8_t *owner, uint16_t type,
                        struct answer *a, int section, uint32_t ttl_cap, const uint8_t *as_owner);

#endif
