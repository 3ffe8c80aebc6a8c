/*
 * test_targetmap.c -- learned target hosts: found by host in any case, gone
 * after their TTL, several peers per host, growth without losing entries,
 * and the once-per-TTL probing of a peer.
 */
#include "config.h"
#include "dname.h"
#include "targetmap.h"
#include "unit.h"

#include <stdio.h>
#include <string.h>

int
main(void)
{
	struct targetmap *m = targetmap_new(50000);
	uint8_t host[DNAME_MAXLEN], host_uc[DNAME_MAXLEN], p1[DNAME_MAXLEN], p2[DNAME_MAXLEN];
	const uint8_t *peers[8];
	time_t now = time(NULL);

	dname_from_text("xmpp.provider.test", host);
	memcpy(host_uc, "\004XMPP\010PROVIDER\004TEST\000", 20);
	dname_from_text("a.test", p1);
	dname_from_text("b.test", p2);
	targetmap_add(m, host, p1, now + 100);
	CHECK_INT(targetmap_lookup(m, host, now, peers, 8), 1, "a learned host is found");
	CHECK(dname_equal(peers[0], p1), "... with its peer");
	CHECK_INT(targetmap_lookup(m, host_uc, now, peers, 8), 1, "... in any case");
	targetmap_add(m, host, p2, now + 50);
	targetmap_add(m, host, p1, now + 200);
	CHECK_INT(targetmap_lookup(m, host, now, peers, 8), 2, "a host serving two peers has both, once each");
	CHECK_INT(targetmap_lookup(m, host, now + 60, peers, 8), 1, "b.test's pair is gone after its TTL");
	CHECK_INT(targetmap_lookup(m, host, now + 150, peers, 8), 1, "a refreshed pair lives on its new TTL");
	CHECK_INT(targetmap_lookup(m, host, now + 250, peers, 8), 0, "and then it is gone too");

	/* 20,000 hosts: the table grows from its first 1,024 slots and keeps them all */
	int missing = 0;
	char name[64];
	uint8_t h[DNAME_MAXLEN];
	for (int i = 0; i < 20000; i++) {
		snprintf(name, sizeof(name), "x%d.peer%d.test", i, i % 97);
		dname_from_text(name, h);
		targetmap_add(m, h, p1, now + 1000);
	}
	for (int i = 0; i < 20000; i++) {
		snprintf(name, sizeof(name), "x%d.peer%d.test", i, i % 97);
		dname_from_text(name, h);
		missing += targetmap_lookup(m, h, now, peers, 8) != 1;
	}
	CHECK_INT(missing, 0, "20,000 learned hosts, none lost while the table grew");

	CHECK(targetmap_probe_due(m, p2, now), "a peer never looked up is due");
	CHECK(!targetmap_probe_due(m, p2, now + 10), "... not again within a minute of the lookup");
	CHECK(targetmap_probe_due(m, p2, now + 61), "... due again after a minute without an answer");
	targetmap_peer_learned(m, p2, now + 3600);
	CHECK(!targetmap_probe_due(m, p2, now + 1800), "learned targets are not looked up again before their TTL");
	CHECK(targetmap_probe_due(m, p2, now + 3601), "... and are after it");
	targetmap_free(m);
	return unit_summary();
}
