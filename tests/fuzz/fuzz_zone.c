/*
 * fuzz_zone.c -- zone_load() (ldns's zone parser and zone.c's checks) on a
 * zone file made of the input bytes, then, when it loads, answers from it.
 *
 * The file is written once per input to a private temporary file (under
 * TMPDIR, else /dev/shm or /tmp), removed at exit.
 *
 * Checks (abort() when broken): a refused zone leaves a message; a loaded
 * zone has its SOA at z->soa, owned by the origin, and every record's owner
 * and rdata within bounds; zone_answer() for each record's owner and type
 * (and for A, and a name that is not there) writes an answer that parses
 * (ldns_wire2pkt) within the 512 bytes of a UDP client, else TC=1.
 */
#include "config.h"
#include "fuzz.h"
#include "answer.h"
#include "dname.h"
#include "log.h"
#include "zone.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ldns/ldns.h>


#define FAIL(...) fuzz_fail("fuzz_zone", __VA_ARGS__)

/* Answer qname/qtype from z as query.c does, and check the answer. */
static void
answer(const struct zone *z, const uint8_t *qname, uint16_t qtype)
{
	static uint8_t out[65535];
	uint8_t question[DNAME_MAXLEN + 4];
	size_t n = dname_length(qname, DNAME_MAXLEN);
	struct answer a;
	ldns_pkt *p = NULL;

	if (n == 0)
		FAIL("an owner name that is not a name");
	memcpy(question, qname, n);
	ldns_write_uint16(question + n, qtype);
	ldns_write_uint16(question + n + 2, LDNS_RR_CLASS_IN);
	answer_start(&a, out, sizeof(out), 512, 0x4242, question, n + 4);
	a.edns = true;
	a.edns_size = 1232;
	zone_answer(z, qname, qtype, &a);
	size_t len = answer_finish(&a);
	if (len > 512)
		FAIL("an answer of %zu bytes over the limit of 512", len);
	ldns_status st = ldns_wire2pkt(&p, out, len);
	if (st != LDNS_STATUS_OK)
		FAIL("an answer from the zone does not parse: %s", ldns_get_errorstr_by_id(st));
	ldns_pkt_free(p);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	char err[512];

	if (!ready) {
		/* not even errors: the search would print little else */
		log_init("fuzz_zone", LOG_LEVEL_ERR - 1, 0);
		ready = true;
	}
	const char *path = fuzz_file("fuzz_zone");
	if (!path || fuzz_write_file(path, data, size) != 0)
		FAIL("cannot write the zone file %s", path ? path : "(none)");

	memset(err, 0, sizeof(err));
	struct zone *z = zone_load(path, err, sizeof(err));
	if (!z) {
		if (strnlen(err, sizeof(err)) == 0 || strnlen(err, sizeof(err)) == sizeof(err))
			FAIL("a refused zone without a message");
		return 0;
	}
	if (dname_length(z->origin, sizeof(z->origin)) == 0)
		FAIL("an origin that is not a name");
	if (z->soa >= z->nrrs || z->rrs[z->soa].type != LDNS_RR_TYPE_SOA)
		FAIL("no SOA at index %zu of %zu records", z->soa, z->nrrs);
	if (!dname_equal(z->rrs[z->soa].owner, z->origin))
		FAIL("the SOA is not owned by the origin");
	for (size_t i = 0; i < z->nrrs; i++) {
		const struct zone_rr *rr = &z->rrs[i];
		if (dname_length(rr->owner, sizeof(rr->owner)) == 0)
			FAIL("record %zu: an owner that is not a name", i);
		if (rr->rdlen > 0 && !rr->rdata)
			FAIL("record %zu: %u bytes of rdata at NULL", i, rr->rdlen);
		/* touch every byte, so that a short allocation shows */
		volatile uint8_t sum = 0;
		for (size_t k = 0; k < rr->rdlen; k++)
			sum ^= rr->rdata[k];
		(void)sum;
	}
	for (size_t i = 0; i < z->nrrs && i < 64; i++) {
		answer(z, z->rrs[i].owner, z->rrs[i].type);
		answer(z, z->rrs[i].owner, LDNS_RR_TYPE_A);
	}
	/* a name below the origin that is not in the zone: NXDOMAIN or NODATA */
	uint8_t missing[DNAME_MAXLEN];
	size_t olen = dname_length(z->origin, sizeof(z->origin));
	if (olen + 9 <= DNAME_MAXLEN) {
		memcpy(missing, "\x08zzmissin", 9);
		memcpy(missing + 9, z->origin, olen);
		if (zone_contains(z, missing))
			answer(z, missing, LDNS_RR_TYPE_TXT);
	}
	zone_free(z);
	return 0;
}
