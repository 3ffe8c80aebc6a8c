/*
 * reload.h -- live policy: a watcher thread notices committed changes to the
 * database, builds a new snapshot off the event loop, and hands it over.
 *
 * Queries never wait for a reload: the loop only swaps a pointer. A reload
 * that fails (locked, corrupt, wrong schema) leaves the current snapshot in
 * place, and the error is logged at every retry.
 */
#ifndef RELOAD_H
#define RELOAD_H

#include <stdint.h>

struct event_base;
struct policy;

/** Called on the event loop with a new snapshot; the callee takes ownership. */
typedef void (*reload_fn)(struct policy *p, void *arg);

struct reload;

/**
 * Start watching path every poll_ms. serial is the snapshot already loaded.
 * base must have been created after evthread_use_pthreads().
 */
struct reload *reload_start(struct event_base *base, const char *path, int poll_ms,
                            uint64_t serial, reload_fn fn, void *arg);
/** Ask for a full reload at the next poll (SIGHUP), even if nothing changed. */
void reload_force(struct reload *rl);
/** Stop the thread and free everything. */
void reload_stop(struct reload *rl);

#endif
