/*
 * test_targetmap.c -- learned target hosts: found by host in any case, gone
 * after their TTL, several peers per host, growth without losing entries,
 * the once-per-TTL probing of a peer, and one map shared by threads that
 * add, look up and probe at once (as the workers do).
 */
#include "config.h"
#include "dname.h"
#include "targetmap.h"
#include "unit.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define THREADS 4
#define PER_THREAD 5000

struct hammer {
	struct targetmap *m;
	int id;
	time_t now;
	int added;          /* adds that returned true */
	int missing;        /* own hosts not found right after their add */
	int wrong;          /* a lookup that gave a peer that was never added for the host */
	uint64_t epochs_seen_back;  /* the epoch went backwards */
};

/*
 * One worker's share: learn its own hosts (every one for its own peer, and
 * every tenth also for a shared host all threads learn), look up its own and
 * the others' hosts, probe peers, bump the epoch per new pair.
 */
static void *
hammer_run(void *arg)
{
	struct hammer *h = arg;
	uint8_t host[DNAME_MAXLEN], peer[DNAME_MAXLEN], other[DNAME_MAXLEN], shared[DNAME_MAXLEN];
	uint8_t peers[8][DNAME_MAXLEN];
	char name[64];
	uint64_t last = 0;

	snprintf(name, sizeof(name), "peer%d.test", h->id);
	dname_from_text(name, peer);
	dname_from_text("xmpp.shared.test", shared);
	for (int i = 0; i < PER_THREAD; i++) {
		snprintf(name, sizeof(name), "h%d.t%d.test", i, h->id);
		dname_from_text(name, host);
		if (targetmap_add(h->m, host, peer, h->now + 1000)) {
			h->added++;
			targetmap_new_epoch(h->m);
		}
		size_t n = targetmap_lookup(h->m, host, h->now, peers, 8);
		h->missing += n != 1;
		h->wrong += n == 1 && !dname_equal(peers[0], peer);
		if (i % 10 == 0 && targetmap_add(h->m, shared, peer, h->now + 1000)) {
			h->added++;
			targetmap_new_epoch(h->m);
		}
		/* another thread's host: found with that thread's peer, or not yet */
		snprintf(name, sizeof(name), "h%d.t%d.test", i, (h->id + 1) % THREADS);
		dname_from_text(name, other);
		n = targetmap_lookup(h->m, other, h->now, peers, 8);
		snprintf(name, sizeof(name), "peer%d.test", (h->id + 1) % THREADS);
		dname_from_text(name, other);
		h->wrong += n > 1 || (n == 1 && !dname_equal(peers[0], other));
		targetmap_lookup(h->m, shared, h->now, peers, 8);
		targetmap_probe_due(h->m, peer, h->now + i);
		uint64_t e = targetmap_epoch(h->m);
		h->epochs_seen_back += e < last;
		last = e;
	}
	return NULL;
}

int
main(void)
{
	struct targetmap *m = targetmap_new(50000);
	uint8_t host[DNAME_MAXLEN], host_uc[DNAME_MAXLEN], p1[DNAME_MAXLEN], p2[DNAME_MAXLEN];
	uint8_t peers[8][DNAME_MAXLEN];
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

	/* shared by threads: nothing lost, nothing mixed up, every new pair one epoch */
	m = targetmap_new(262144);
	struct hammer hs[THREADS];
	pthread_t th[THREADS];
	for (int i = 0; i < THREADS; i++) {
		hs[i] = (struct hammer){ .m = m, .id = i, .now = now };
		if (pthread_create(&th[i], NULL, hammer_run, &hs[i]) != 0) {
			CHECK(0, "pthread_create");
			return unit_summary();
		}
	}
	int added = 0, lost = 0, wrong = 0;
	uint64_t back = 0;
	for (int i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		added += hs[i].added;
		lost += hs[i].missing;
		wrong += hs[i].wrong;
		back += hs[i].epochs_seen_back;
	}
	CHECK_INT(lost, 0, "threads: every host is found by the thread that added it, at once");
	CHECK_INT(wrong, 0, "threads: a lookup never gives another host's peer");
	CHECK_INT(added, THREADS * PER_THREAD + THREADS, "threads: each new pair added once (the shared host once per peer)");
	CHECK_INT((long long)targetmap_epoch(m), added, "threads: one epoch per new pair, none lost");
	CHECK_INT((long long)back, 0, "threads: the epoch never goes back");
	missing = 0;
	for (int t = 0; t < THREADS; t++)
		for (int i = 0; i < PER_THREAD; i++) {
			snprintf(name, sizeof(name), "h%d.t%d.test", i, t);
			dname_from_text(name, h);
			missing += targetmap_lookup(m, h, now, peers, 8) != 1;
		}
	CHECK_INT(missing, 0, "threads: all 20,000 hosts are there after the join");
	dname_from_text("xmpp.shared.test", h);
	CHECK_INT(targetmap_lookup(m, h, now, peers, 8), THREADS, "threads: the shared host serves every thread's peer");
	targetmap_free(m);
	return unit_summary();
}
