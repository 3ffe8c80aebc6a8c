/*
 * worker.h -- the threads that answer queries.
 *
 * `threads: N` workers, each with its own libevent loop, its own listening
 * sockets on every address (SO_REUSEPORT when N > 1), its own struct
 * resolver (answer cache, decision cache, in-flight table, rate limiter,
 * metrics) and its own libunbound context. All of them read the same
 * immutable policy snapshot and share one learned-target map. The main
 * thread keeps signals, the policy watcher, the control socket and the
 * metrics listener; it talks to the workers only through this file:
 *
 * - a new snapshot is posted to each worker's mailbox (a mutex-protected
 *   pointer, taken once by the worker's loop when main makes the worker's
 *   wake event active); the worker swaps its pointer, bumps its epoch and
 *   drops its reference to the old one. The query path takes no lock. Main
 *   keeps a reference to every snapshot it replaced until each worker has
 *   taken a newer one (workers_release), so that a snapshot's last free
 *   happens on main or on the watcher, never on a worker;
 * - workers_pause() parks every worker in its loop, between two events,
 *   until workers_resume(): main then writes their state (SIGHUP, flush) as
 *   if it were theirs; workers_pause_one() parks one, for reading its
 *   counters (a metrics scrape, the control socket, SIGUSR1);
 * - workers_stop() makes each loop leave and joins the threads.
 *
 * Every function here is for the main thread.
 */
#ifndef WORKER_H
#define WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "resolver.h"

struct event;
struct event_base;
struct options;
struct policy;
struct recursion;
struct server;
struct targetmap;
struct workers;
struct zone;

struct worker {
	/* made by main before workers_start(); then the worker thread's, except
	 * while it is paused (and after workers_stop) */
	size_t id;
	struct event_base *base;
	struct resolver r;
	bool r_ready;                  /* r was made by resolver_init */
	struct recursion *rec;
	struct server *server;

	/* the machinery */
	struct workers *pool;
	pthread_t thread;
	bool running;                  /* the thread was started (and not joined) */
	struct event *wake;            /* made active by main: look into the mailbox */
	struct event *tick;            /* five times a second: query_expire */
	pthread_mutex_t lock;          /* the mailbox: */
	struct policy *next;           /*   a snapshot to serve next (a reference), or NULL */
	uint64_t next_seq;             /*   its number, counted by main */
	bool pause, stop;              /*   park once, leave the loop */
	atomic_uint_fast64_t taken;    /* the number of the snapshot it serves (0: the first) */
	bool hold, parked;             /* under the pool's lock: main holds it; it waits */
};

struct workers {
	struct worker *w;
	size_t n;
	bool started;
	pthread_mutex_t lock;          /* the pause (each worker's hold and parked) */
	pthread_cond_t cond;
	uint64_t posted;               /* snapshots posted since start */
	struct policy *serving;        /* main's reference to the last one posted */
	struct policy **retired;       /* replaced ones, until every worker took a newer one */
	size_t nretired;
};

/**
 * n workers (n >= 1), each with an event base (evthread_use_pthreads() must
 * have been called) and its events; p is the snapshot they start with (a
 * reference is taken). NULL with a message in err (no memory, no base).
 * The caller then fills each w[i] (worker_open, or its own r for tests).
 */
struct workers *workers_new(size_t n, struct policy *p, char *err, size_t errlen);

/**
 * Make worker w's answer state: resolver_init from opt, zone (the caller's,
 * outliving the worker), the shared learned-target map, the serving
 * snapshot, a libunbound context on w's base (recursion_new, as one loop
 * does without threads: before the privilege drop) and its listening
 * sockets (server_new; reuseport when there are several workers). 0, or -1
 * with a message in err.
 */
int worker_open(struct worker *w, const struct options *opt, const struct zone *zone,
                struct targetmap *learned, bool reuseport, char *err, size_t errlen);

/**
 * Start every worker's thread, which runs its loop until workers_stop().
 * After a fork (daemon()), the caller has called event_reinit() on each
 * base. 0, or -1 with a message in err (the threads that did start are
 * stopped again).
 */
int workers_start(struct workers *ws, char *err, size_t errlen);

/**
 * Hand p to every worker (takes the caller's reference: main's, until the
 * next post). A worker that has not yet taken the previous one takes only
 * p. Never blocks on a worker.
 */
void workers_post(struct workers *ws, struct policy *p);

/**
 * Drop main's references to replaced snapshots once every worker serves a
 * newer one. Called by main from a timer and at each post.
 */
void workers_release(struct workers *ws);

/**
 * Park every running worker in its loop and return once all are parked;
 * nothing runs on them until workers_resume(). Workers not started yet are
 * idle already. Blocks main for as long as the slowest worker takes to
 * finish the event it is in; every worker waits for the slowest too. For
 * what must change on all workers at once (SIGHUP, flush).
 */
void workers_pause(struct workers *ws);
void workers_resume(struct workers *ws);

/**
 * The same for worker i alone, the others go on answering: for reading one
 * worker's counters (a metrics scrape), where no worker need wait for
 * another.
 */
void workers_pause_one(struct workers *ws, size_t i);
void workers_resume_one(struct workers *ws, size_t i);

/** Make every loop leave and join the threads. Idempotent. */
void workers_stop(struct workers *ws);

/**
 * After workers_stop: free each worker's state in the order one loop frees
 * it (recursion, waiting queries, server, resolver, base, snapshots).
 */
void workers_free(struct workers *ws);

#endif
