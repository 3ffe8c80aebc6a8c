/*
 * worker.c -- worker threads: their loops, the snapshot mailbox, pause and stop.
 */
#include "config.h"
#include "worker.h"
#include "log.h"
#include "options.h"
#include "policy.h"
#include "query.h"
#include "recursion.h"
#include "server.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

/* Park w until main lets the workers go (workers_resume). Worker thread. */
static void
park(struct worker *w)
{
	struct workers *ws = w->pool;

	pthread_mutex_lock(&ws->lock);
	w->parked = true;
	pthread_cond_broadcast(&ws->cond);
	while (w->hold)
		pthread_cond_wait(&ws->cond, &ws->lock);
	w->parked = false;
	pthread_cond_broadcast(&ws->cond);
	pthread_mutex_unlock(&ws->lock);
}

/* Main made the wake event active: a new snapshot, a pause, or the end. */
static void
on_wake(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	(void)fd;
	(void)what;
	pthread_mutex_lock(&w->lock);
	struct policy *p = w->next;
	uint64_t seq = w->next_seq;
	bool pause = w->pause, stop = w->stop;
	w->next = NULL;
	w->pause = false;
	pthread_mutex_unlock(&w->lock);
	if (p) {
		/* queries see old or new, never half: one pointer, on this thread */
		struct policy *old = w->r.policy;
		w->r.policy = p;
		w->r.epoch++; /* cached answers checked against the old policy are stale */
		/* never the last reference: main keeps old until taken says so */
		policy_free(old);
		atomic_store_explicit(&w->taken, seq, memory_order_release);
	}
	if (pause)
		park(w);
	if (stop)
		event_base_loopbreak(w->base);
}

/* Five times a second: SERVFAIL for the queries that waited recursion-timeout. */
static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	(void)fd;
	(void)what;
	query_expire(&w->r, query_clock_ms());
	log_query_flush();
}

static void *
worker_run(void *arg)
{
	struct worker *w = arg;

	event_base_loop(w->base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

struct workers *
workers_new(size_t n, struct policy *p, char *err, size_t errlen)
{
	struct workers *ws = calloc(1, sizeof(*ws));

	if (!ws || !(ws->w = calloc(n, sizeof(*ws->w)))) {
		free(ws);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&ws->lock, NULL);
	pthread_cond_init(&ws->cond, NULL);
	ws->n = n;
	ws->serving = policy_ref(p);
	for (size_t i = 0; i < n; i++) {
		struct worker *w = &ws->w[i];
		w->id = i;
		w->pool = ws;
		pthread_mutex_init(&w->lock, NULL);
		atomic_init(&w->taken, 0);
		w->base = event_base_new();
		if (w->base) {
			w->wake = event_new(w->base, -1, 0, on_wake, w);
			w->tick = event_new(w->base, -1, EV_PERSIST, on_tick, w);
		}
		if (!w->base || !w->wake || !w->tick) {
			snprintf(err, errlen, "worker %zu: cannot create its event loop", i);
			workers_free(ws);
			return NULL;
		}
	}
	return ws;
}

int
worker_open(struct worker *w, const struct options *opt, const struct zone *zone,
            struct targetmap *learned, bool reuseport, char *err, size_t errlen)
{
	char why[512];

	if (resolver_init(&w->r, opt, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "config: %s", why);
		return -1;
	}
	w->r_ready = true;
	resolver_share_targets(&w->r, learned);
	w->r.zone = zone;
	w->r.policy = policy_ref(w->pool->serving);
	/* the first worker's context alone keeps auto-trust-anchor-file up to date */
	w->rec = recursion_new(w->base, opt, w->id == 0, why, sizeof(why));
	if (!w->rec) {
		snprintf(err, errlen, "recursion: %s", why);
		return -1;
	}
	w->r.lookup = recursion_resolve;
	w->r.lookup_ctx = w->rec;
	w->server = server_new(w->base, &w->r, opt, reuseport, why, sizeof(why));
	if (!w->server) {
		snprintf(err, errlen, "listen: %s", why);
		return -1;
	}
	return 0;
}

int
workers_start(struct workers *ws, char *err, size_t errlen)
{
	struct timeval tick = { 0, 200 * 1000 };
	sigset_t all, old;
	int ret = 0;

	/* the signals are main's (its loop handles them): the workers inherit a
	 * mask that keeps them from interrupting a worker's system calls (the
	 * ones a fault raises, SIGSEGV and the like, are not blocked) */
	sigemptyset(&all);
	int async[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2, SIGPIPE, SIGCHLD, SIGALRM };
	for (size_t i = 0; i < sizeof(async) / sizeof(async[0]); i++)
		sigaddset(&all, async[i]);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (size_t i = 0; i < ws->n; i++) {
		struct worker *w = &ws->w[i];
		if (event_add(w->tick, &tick) != 0 ||
		    pthread_create(&w->thread, NULL, worker_run, w) != 0) {
			snprintf(err, errlen, "worker %zu: cannot start its thread", i);
			ret = -1;
			break;
		}
		w->running = true;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret != 0) {
		workers_stop(ws);
		return -1;
	}
	ws->started = true;
	return 0;
}

/* Set what main asks of w and wake its loop. */
static void
wake(struct worker *w, bool pause, bool stop)
{
	pthread_mutex_lock(&w->lock);
	w->pause |= pause;
	w->stop |= stop;
	pthread_mutex_unlock(&w->lock);
	event_active(w->wake, EV_READ, 0);
}

void
workers_post(struct workers *ws, struct policy *p)
{
	ws->posted++;
	for (size_t i = 0; i < ws->n; i++) {
		struct worker *w = &ws->w[i];
		pthread_mutex_lock(&w->lock);
		struct policy *stale = w->next; /* not taken: p replaces it */
		w->next = policy_ref(p);
		w->next_seq = ws->posted;
		pthread_mutex_unlock(&w->lock);
		event_active(w->wake, EV_READ, 0);
		policy_free(stale); /* main still holds it (retired): not the last */
	}
	struct policy **r = realloc(ws->retired, (ws->nretired + 1) * sizeof(*r));
	if (r) {
		ws->retired = r;
		ws->retired[ws->nretired++] = ws->serving;
	} else {
		/* no room to wait: let go now; a worker may then free it (rare, harmless) */
		policy_free(ws->serving);
	}
	ws->serving = p;
	workers_release(ws);
}

void
workers_release(struct workers *ws)
{
	if (ws->nretired == 0)
		return;
	for (size_t i = 0; i < ws->n; i++)
		if (atomic_load_explicit(&ws->w[i].taken, memory_order_acquire) != ws->posted)
			return;
	/* every worker serves the last one posted and dropped its older ones */
	for (size_t i = 0; i < ws->nretired; i++)
		policy_free(ws->retired[i]);
	ws->nretired = 0;
}

/* Park workers lo .. hi-1 and wait until each is parked. */
static void
pause_range(struct workers *ws, size_t lo, size_t hi)
{
	if (!ws || !ws->started)
		return;
	pthread_mutex_lock(&ws->lock);
	for (size_t i = lo; i < hi; i++)
		ws->w[i].hold = true;
	pthread_mutex_unlock(&ws->lock);
	for (size_t i = lo; i < hi; i++)
		wake(&ws->w[i], true, false);
	pthread_mutex_lock(&ws->lock);
	for (size_t i = lo; i < hi; i++)
		while (!ws->w[i].parked)
			pthread_cond_wait(&ws->cond, &ws->lock);
	pthread_mutex_unlock(&ws->lock);
}

/* Let workers lo .. hi-1 go, and wait until each has left its wait. */
static void
resume_range(struct workers *ws, size_t lo, size_t hi)
{
	if (!ws || !ws->started)
		return;
	pthread_mutex_lock(&ws->lock);
	for (size_t i = lo; i < hi; i++)
		ws->w[i].hold = false;
	pthread_cond_broadcast(&ws->cond);
	/* out before a next pause finds it still parked from this one */
	for (size_t i = lo; i < hi; i++)
		while (ws->w[i].parked)
			pthread_cond_wait(&ws->cond, &ws->lock);
	pthread_mutex_unlock(&ws->lock);
}

void
workers_pause(struct workers *ws)
{
	pause_range(ws, 0, ws ? ws->n : 0);
}

void
workers_resume(struct workers *ws)
{
	resume_range(ws, 0, ws ? ws->n : 0);
}

void
workers_pause_one(struct workers *ws, size_t i)
{
	pause_range(ws, i, i + 1);
}

void
workers_resume_one(struct workers *ws, size_t i)
{
	resume_range(ws, i, i + 1);
}

void
workers_stop(struct workers *ws)
{
	if (!ws)
		return;
	for (size_t i = 0; i < ws->n; i++)
		if (ws->w[i].running)
			wake(&ws->w[i], false, true);
	for (size_t i = 0; i < ws->n; i++)
		if (ws->w[i].running) {
			pthread_join(ws->w[i].thread, NULL);
			ws->w[i].running = false;
		}
	ws->started = false;
}

void
workers_free(struct workers *ws)
{
	if (!ws)
		return;
	workers_stop(ws);
	for (size_t i = 0; i < ws->n; i++) {
		struct worker *w = &ws->w[i];
		/* no lookup calls back once the recursion is gone; then the waiting
		 * queries let go of their connections, and the server can close them */
		recursion_free(w->rec);
		if (w->r_ready)
			query_shutdown(&w->r);
		server_free(w->server);
		if (w->r_ready)
			resolver_cleanup(&w->r);
		if (w->wake)
			event_free(w->wake);
		if (w->tick)
			event_free(w->tick);
		if (w->base)
			event_base_free(w->base);
		policy_free(w->r.policy);
		policy_free(w->next);
		pthread_mutex_destroy(&w->lock);
	}
	for (size_t i = 0; i < ws->nretired; i++)
		policy_free(ws->retired[i]);
	free(ws->retired);
	policy_free(ws->serving);
	pthread_mutex_destroy(&ws->lock);
	pthread_cond_destroy(&ws->cond);
	free(ws->w);
	free(ws);
}
