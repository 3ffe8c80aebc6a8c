/*
 * test_answer_cache.c -- cached upstream answers: TTLs count down, entries
 * expire with their smallest TTL, variants stay apart, size limits hold.
 */
#include "config.h"
#include "answer.h"
#include "answer_cache.h"
#include "dname.h"
#include "unit.h"

#include <stdio.h>
#include <string.h>

#include <ldns/ldns.h>

static uint8_t question[DNAME_MAXLEN + 4];
static size_t qlen;
static uint8_t qname[DNAME_MAXLEN];

/* An answer like query.c builds from an upstream one: two A records (TTL 60 and 30), TTL places recorded. */
static void
build(struct answer *a, uint8_t *buf, uint16_t *offs, uint8_t rcode)
{
	static const uint8_t v4a[] = { 10, 0, 0, 1 }, v4b[] = { 10, 0, 0, 2 };

	answer_start(a, buf, 65535, 65535, 7, question, qlen);
	answer_set_rcode(a, rcode);
	a->ttl_offsets = offs;
	a->ttl_max = 8;
	answer_add_rr(a, SECTION_ANSWER, NULL, 1, 1, 60, v4a, 4);
	answer_add_rr(a, SECTION_ANSWER, NULL, 1, 1, 30, v4b, 4);
}

int
main(void)
{
	struct answer_cache *c = answer_cache_new(16);
	struct answer a, b;
	uint8_t buf[65535], out[65535];
	uint16_t offs[8];

	size_t n = dname_from_text("www.example", qname);
	memcpy(question, qname, n);
	memcpy(question + n, "\0\1\0\1", 4);
	qlen = n + 4;
	struct answer_key k = { qname, 1, 1, 0, 7 };

	build(&a, buf, offs, 0);
	CHECK_INT(a.nttl, 2, "the writer records both TTL places");
	static const uint32_t ttls[] = { 60, 30 };
	k.epoch = 0; /* only the question's name: valid whatever the policy */
	answer_cache_put(c, &k, &a, offs, ttls, a.nttl, true, 1000);
	k.epoch = 7;

	answer_start(&b, out, sizeof(out), 65535, 9, question, qlen);
	CHECK(answer_cache_get(c, &k, 1010, false, UINT32_MAX, &b), "a hit 10 s later");
	CHECK_INT(b.count[SECTION_ANSWER], 2, "... with both records");
	CHECK_INT(ldns_read_uint32(out + offs[0]), 50, "... the first TTL counted down to 50");
	CHECK_INT(ldns_read_uint32(out + offs[1]), 20, "... the second to 20");
	CHECK(out[0] == 0 && out[1] == 9, "... under the new query's id");
	CHECK(!LDNS_AD_WIRE(out), "... no AD when the client did not ask");
	answer_start(&b, out, sizeof(out), 65535, 9, question, qlen);
	answer_cache_get(c, &k, 1010, true, UINT32_MAX, &b);
	CHECK(LDNS_AD_WIRE(out), "AD when validated and asked for");

	answer_start(&b, out, sizeof(out), 65535, 9, question, qlen);
	answer_cache_get(c, &k, 1010, false, 25, &b);
	CHECK(ldns_read_uint32(out + offs[0]) == 25 && ldns_read_uint32(out + offs[1]) == 20,
	      "a policy answer's TTLs are capped on the way out (50 -> 25, 20 stays)");

	answer_start(&b, out, sizeof(out), 40, 9, question, qlen);
	CHECK(answer_cache_get(c, &k, 1010, false, UINT32_MAX, &b) && b.truncated && b.count[0] == 0,
	      "an answer over the client's limit: truncated, no records");

	struct answer_key kdo = { qname, 1, 1, ANSWER_DO, 7 };
	answer_start(&b, out, sizeof(out), 65535, 9, question, qlen);
	CHECK(!answer_cache_get(c, &kdo, 1010, false, UINT32_MAX, &b), "the DO variant is another entry");
	struct answer_key kaaaa = { qname, 28, 1, 0, 7 };
	CHECK(!answer_cache_get(c, &kaaaa, 1010, false, UINT32_MAX, &b), "another type is another entry");

	/* epochs: an answer with other names than the question's is checked against one policy */
	struct answer_key k8 = k;
	k8.epoch = 8;
	answer_start(&b, out, sizeof(out), 65535, 9, question, qlen);
	CHECK(answer_cache_get(c, &k8, 1010, false, UINT32_MAX, &b),
	      "an answer stored for every epoch (0) is found in a later one");
	struct answer_key kbound = k;
	kbound.qtype = 16;
	answer_cache_put(c, &kbound, &a, offs, ttls, a.nttl, false, 1000);
	kbound.epoch = 8;
	answer_start(&b, out, sizeof(out), 65535, 9, question, qlen);
	CHECK(!answer_cache_get(c, &kbound, 1010, false, UINT32_MAX, &b),
	      "an answer stored for epoch 7 is a miss in epoch 8");
	kbound.epoch = 7;
	answer_start(&b, out, sizeof(out), 65535, 9, question, qlen);
	CHECK(!answer_cache_get(c, &kbound, 1010, false, UINT32_MAX, &b), "... and it was dropped");

	answer_start(&b, out, sizeof(out), 65535, 9, question, qlen);
	CHECK(!answer_cache_get(c, &k, 1030, false, UINT32_MAX, &b), "gone when the smallest TTL has run out");

	build(&a, buf, offs, 2);
	answer_cache_put(c, &k, &a, offs, ttls, a.nttl, false, 2000);
	answer_start(&b, out, sizeof(out), 65535, 9, question, qlen);
	CHECK(!answer_cache_get(c, &k, 2001, false, UINT32_MAX, &b), "SERVFAIL is not kept");
	build(&a, buf, offs, 3);
	answer_cache_put(c, &k, &a, offs, ttls, a.nttl, false, 2000);
	answer_start(&b, out, sizeof(out), 65535, 9, question, qlen);
	CHECK(answer_cache_get(c, &k, 2001, false, UINT32_MAX, &b) && (out[3] & 0x0f) == 3, "NXDOMAIN is kept, RCODE and all");

	/* more names than slots: entries are replaced, never wrong */
	int wrong = 0;
	for (int i = 0; i < 200; i++) {
		char name[32];
		uint8_t w[DNAME_MAXLEN];
		snprintf(name, sizeof(name), "h%d.example", i);
		size_t wl = dname_from_text(name, w);
		memcpy(question, w, wl);
		memcpy(question + wl, "\0\1\0\1", 4);
		qlen = wl + 4;
		struct answer_key ki = { w, 1, 1, 0, 1 };
		build(&a, buf, offs, 0);
		answer_cache_put(c, &ki, &a, offs, ttls, a.nttl, false, 3000);
		answer_start(&b, out, sizeof(out), 65535, 9, question, qlen);
		if (!answer_cache_get(c, &ki, 3001, false, UINT32_MAX, &b) || memcmp(out + 12, w, wl) != 0)
			wrong++;
	}
	CHECK_INT(wrong, 0, "200 names through a 16-entry cache: each just stored is found");
	size_t entries;
	uint64_t hits, misses;
	answer_cache_stats(c, &entries, &hits, &misses);
	CHECK(entries <= 64, "the cache stays within its slots (%zu entries)", entries);
	answer_cache_free(c);
	return unit_summary();
}
