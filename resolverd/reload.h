/*
 * reload.h -- live policy: a watcher thread notices committed changes to the
 * database, builds a new snapshot off the event loop, and hands it over.
 *
 * Queries never wait for a reload: the loop only swaps a pointer. A new
 * serial is applied to the snapshot last handed over (policydb_apply: the
 * audit rows since, read again from their tables; the unchanged parts are
 * shared), so its cost follows the size of the change, not of the policy; a
 * full build (policydb_load) happens when the changes cannot be applied, on
 * SIGHUP and after a failure, and once at start unless reload_adopt() gave
 * the watcher the snapshot the loop started with. The watcher keeps a
 * reference to the snapshot it handed over last (its base for the next
 * change) and to the one before until the loop has let go of it, so that the
 * loop never pays for freeing a snapshot. A reload
 * that fails (locked, corrupt, wrong schema, a value the loader refuses)
 * leaves the current snapshot in place; it is retried every second, logged
 * at error level at once and then with back-off while the same error
 * repeats (1, 2, 4 ... 60 s between lines), and counted.
 *
 * A database file replaced under the running daemon (mv or cp over it, or
 * its -wal file removed or replaced) is refused: its -wal file belongs to
 * the old file, and reading the two together mixes or loses commits. The
 * watcher empties the old -wal into the old file, closes it, keeps the last
 * good snapshot and logs what happened and what to do instead (chpolicy
 * restore). It opens the database again when the original file is back, or
 * on reload_force() (SIGHUP), which takes whatever file is at the path.
 *
 * The watcher publishes its state in the status file "<database>-status"
 * (RELOAD_STATUS_SUFFIX), replaced atomically (a temporary file renamed over
 * it) at every change: "key: value" lines pid, state (serving, failing,
 * replaced, stopped), served-serial, database-serial, failed-reloads,
 * last-error, last-error-at, updated (times UTC, 'YYYY-MM-DD HH:MM:SS';
 * "-" for none). `chpolicy status` reads it. A directory it cannot write is
 * logged once, as a warning.
 */
#ifndef RELOAD_H
#define RELOAD_H

#include <stdint.h>

/** The status file is the database's path with this appended. */
#define RELOAD_STATUS_SUFFIX "-status"

struct event_base;
struct policy;

/**
 * Called on the event loop with a new snapshot; the callee takes ownership
 * of a reference (drops it with policy_free when it is replaced).
 */
typedef void (*reload_fn)(struct policy *p, void *arg);

struct reload;

/**
 * Start the watcher thread on path (copied), checking every poll_ms
 * milliseconds (sooner on an inotify event in the database's directory).
 * serial is the snapshot already loaded and served. fn(…, arg) is called on
 * base's loop for each new snapshot; base must have been created after
 * evthread_use_pthreads(). Call from the thread that runs base's loop.
 * Returns the watcher, or NULL (no memory, no thread, no event).
 */
struct reload *reload_start(struct event_base *base, const char *path, int poll_ms,
                            uint64_t serial, reload_fn fn, void *arg);
/**
 * Give the watcher the snapshot the loop serves from the start (the serial
 * given to reload_start), as the base it applies changes to; without it the
 * watcher builds that base itself at its second check (a full build, and a
 * second copy of the policy until the first change is handed over). Takes a
 * reference (p stays the caller's). Call right after reload_start, from the
 * loop's thread.
 */
void reload_adopt(struct reload *rl, struct policy *p);
/**
 * Ask for a full reload at the next check (SIGHUP), even if the serial did
 * not change, and open a file that replaced the database. Any thread, also
 * a signal callback; never blocks.
 */
void reload_force(struct reload *rl);
/**
 * Failed reloads since start and the serial last read from the database
 * (-1: not read yet), for the metrics. Any thread; rl may be NULL (0, -1).
 */
void reload_stats(const struct reload *rl, uint64_t *failed, int64_t *db_serial);

/**
 * Stop the thread, write the status file's last state (stopped) and free
 * everything; a snapshot built but not yet handed over is freed. rl may be
 * NULL. Call from the thread that called reload_start, after its loop has
 * stopped dispatching.
 */
void reload_stop(struct reload *rl);

/**
 * Log a warning when the database at path (or its -wal or -shm) is readable
 * by every user while p holds TSIG secrets: at every full load, and for
 * resolverd -t. Any thread.
 */
void reload_warn_readable_secrets(const char *path, const struct policy *p);

#endif
