/*
 * test_workers.c -- the worker threads' machinery without sockets: snapshots
 * posted faster than the workers take them reach every worker, in order,
 * and the replaced ones are let go of once every worker took a newer one
 * (ASan's leak check in the sanitizer build sees one that is not); a pause
 * stops every loop until the resume, a pause of one stops that one only;
 * stop joins them.
 */
#include "config.h"
#include "options.h"
#include "policy.h"
#include "resolver.h"
#include "worker.h"
#include "unit.h"

#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#define NWORKERS 3
#define POSTS 300

/* what each worker's own timer sees, on the worker's thread */
struct probe {
	struct worker *w;
	struct event *ev;
	uint64_t ticks;          /* timer runs */
	uint64_t last_serial;    /* the serial it served at its last run */
	uint64_t went_back;      /* runs that saw an older serial than the run before */
};

static void
on_probe(evutil_socket_t fd, short what, void *arg)
{
	struct probe *p = arg;

	(void)fd;
	(void)what;
	p->ticks++;
	if (p->w->r.policy->serial < p->last_serial)
		p->went_back++;
	p->last_serial = p->w->r.policy->serial;
}

static struct policy *
snapshot(uint64_t serial)
{
	struct policy *p = policy_new(serial);
	if (p)
		policy_add_domain(p, "a.test", 1, true);
	if (!p || policy_finish(p) != 0)
		return NULL;
	return p;
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

int
main(void)
{
	struct options opt;
	char err[256];
	struct probe probes[NWORKERS];

	evthread_use_pthreads();
	if (options_init(&opt) != 0)
		return 1;
	struct policy *first = snapshot(1);
	struct workers *ws = first ? workers_new(NWORKERS, first, err, sizeof(err)) : NULL;
	CHECK(ws != NULL, "workers_new: %d loops", NWORKERS);
	if (!ws)
		return unit_summary();
	policy_free(first);
	bool made = true;
	for (size_t i = 0; i < NWORKERS; i++) {
		struct worker *w = &ws->w[i];
		if (resolver_init(&w->r, &opt, err, sizeof(err)) != 0) {
			made = false;
			break;
		}
		w->r_ready = true;
		w->r.policy = policy_ref(ws->serving);
		probes[i] = (struct probe){ .w = w };
		probes[i].ev = event_new(w->base, -1, EV_PERSIST, on_probe, &probes[i]);
		struct timeval ms = { 0, 1000 };
		made &= probes[i].ev && event_add(probes[i].ev, &ms) == 0;
	}
	CHECK(made, "each worker has its resolver and a timer of its own");
	CHECK(workers_start(ws, err, sizeof(err)) == 0, "the threads start");

	/* posted much faster than the loops take them: each takes the latest */
	for (uint64_t s = 2; s <= POSTS; s++) {
		struct policy *p = snapshot(s);
		if (!p)
			break;
		workers_post(ws, p);
		if (s % 50 == 0) {
			workers_pause(ws);
			uint64_t bad = 0;
			for (size_t i = 0; i < NWORKERS; i++)
				bad += ws->w[i].r.policy->serial > s;
			workers_resume(ws);
			CHECK_INT(bad, 0, "paused at serial %llu: no worker serves a snapshot not posted yet",
			          (unsigned long long)s);
		}
	}
	/* every worker takes the last one; then main lets go of the others */
	for (int tries = 0; tries < 2000 && ws->nretired > 0; tries++) {
		sleep_ms(1);
		workers_release(ws);
	}
	CHECK_INT(ws->nretired, 0, "every replaced snapshot is let go of once all workers took a newer one");
	workers_pause(ws);
	size_t on_last = 0;
	uint64_t back = 0;
	for (size_t i = 0; i < NWORKERS; i++) {
		on_last += ws->w[i].r.policy == ws->serving;
		back += probes[i].went_back;
	}
	CHECK_INT(on_last, NWORKERS, "every worker serves the last snapshot posted");
	CHECK_INT(back, 0, "no worker ever went back to an older snapshot");
	CHECK_INT(ws->serving->serial, POSTS, "... serial %d", POSTS);

	/* paused: no loop runs */
	uint64_t before[NWORKERS], after[NWORKERS];
	for (size_t i = 0; i < NWORKERS; i++)
		before[i] = probes[i].ticks;
	sleep_ms(30);
	size_t still = 0;
	for (size_t i = 0; i < NWORKERS; i++)
		still += probes[i].ticks == before[i];
	CHECK_INT(still, NWORKERS, "a paused worker runs nothing (its 1 ms timer is still after 30 ms)");
	workers_resume(ws);
	sleep_ms(30);
	workers_pause(ws);
	for (size_t i = 0; i < NWORKERS; i++)
		after[i] = probes[i].ticks;
	workers_resume(ws);
	size_t moved = 0;
	for (size_t i = 0; i < NWORKERS; i++)
		moved += after[i] > before[i];
	CHECK_INT(moved, NWORKERS, "after the resume every worker runs again");

	/* one worker paused: it stops, the others go on */
	uint64_t mid[NWORKERS];
	workers_pause(ws);
	for (size_t i = 0; i < NWORKERS; i++)
		mid[i] = probes[i].ticks;
	workers_resume(ws);
	workers_pause_one(ws, 1);
	uint64_t one = probes[1].ticks;
	sleep_ms(30);
	uint64_t one_later = probes[1].ticks;
	workers_resume_one(ws, 1);
	CHECK_INT(one_later, one, "workers_pause_one: the paused worker runs nothing");
	workers_pause(ws);
	size_t others = (probes[0].ticks > mid[0]) + (probes[2].ticks > mid[2]);
	workers_resume(ws);
	CHECK_INT(others, 2, "... while the others go on");

	/* pause and post from one thread, over and over: nothing hangs */
	for (int k = 0; k < 200; k++) {
		struct policy *p = snapshot(POSTS + 1 + (uint64_t)k);
		if (p)
			workers_post(ws, p);
		workers_pause(ws);
		workers_resume(ws);
		workers_pause_one(ws, (size_t)k % NWORKERS);
		workers_resume_one(ws, (size_t)k % NWORKERS);
	}
	CHECK(1, "200 posts, pauses and resumes (all, and one at a time) in a row");

	workers_stop(ws);
	size_t joined = 0;
	for (size_t i = 0; i < NWORKERS; i++)
		joined += !ws->w[i].running;
	CHECK_INT(joined, NWORKERS, "stop: every thread left its loop and was joined");
	for (size_t i = 0; i < NWORKERS; i++)
		event_free(probes[i].ev);
	workers_free(ws);
	options_free(&opt);
	return unit_summary();
}
