/*
 * zonehook.h -- the primary's side of policy distribution (policy-zone:
 * APEX FILE [COMMAND]): the policy served, written as a DNS zone
 * (policyzone.h) for a stock authoritative server to publish.
 *
 * A thread of its own writes FILE (a temporary file renamed over it, so the
 * server never reads half of one) from the database at start and each time
 * the served serial changes, then runs COMMAND with sh -c (for instance
 * "knotc zone-reload APEX"; Knot with zonefile-load: difference then makes
 * an IXFR of the change and NOTIFYs its secondaries). Queries never wait
 * for it. A serial that moves on while one is written is written next; a
 * file that cannot be written is logged and tried again at the next change
 * or after 10 s; a command that fails is logged and not run again until the
 * next change (a server that was down reads FILE when it starts).
 *
 * Threads: zonehook_start and zonehook_stop from the main thread,
 * zonehook_kick from any.
 */
#ifndef ZONEHOOK_H
#define ZONEHOOK_H

#include <stddef.h>
#include <stdint.h>

struct zonehook;

/** What "APEX FILE [COMMAND]" says. */
struct zonehook_spec {
	char apex[256];
	char file[4096];
	char command[2048];      /* "" for none */
};

/** Parse and check spec into *out (may be NULL: only check). 0, or -1 with err (errlen bytes). */
int zonehook_parse(const char *spec, struct zonehook_spec *out, char *err, size_t errlen);

/**
 * Start the thread for spec on the database at database (both copied); it
 * writes the zone at once. NULL with err set (a bad spec, no memory, no
 * thread).
 */
struct zonehook *zonehook_start(const char *spec, const char *database, char *err, size_t errlen);

/** The served serial is now serial: write the zone again if it differs. Any thread; h may be NULL. */
void zonehook_kick(struct zonehook *h, uint64_t serial);

/**
 * How the hook fares: *failures, the writes and commands that failed since
 * start (each is tried again every 10 s until it works), *published, the
 * serial the command last took (-1 none yet). Any thread; h may be NULL.
 */
void zonehook_stats(struct zonehook *h, uint64_t *failures, int64_t *published);

/** Stop the thread (a command still running is waited for, at most 30 s) and free h. NULL-safe. */
void zonehook_stop(struct zonehook *h);

#endif
