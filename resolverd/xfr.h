/*
 * xfr.h -- a site's policy from zone transfers (policy-source: xfr).
 *
 * A thread transfers the policy zone (docs/policy-zone.md) from an
 * authoritative server, usually a stock NSD or Knot secondary at the site,
 * with TSIG: an IXFR from the serial it holds (falling back to AXFR when the
 * server sends a whole zone, or when nothing is held yet), every response
 * message's TSIG checked here (ldns's own transfer functions do not check
 * any), polled every SOA refresh or policy-xfr-refresh seconds, and at once
 * on a NOTIFY from the server (xfr_notify). A zone that
 * arrived whole is built into a new SQLite file with the real schema and
 * checked by resolverd's loader (policyzone_build); only then is it copied
 * into the site's database with SQLite's backup API, in one commit, as
 * chpolicy restore does, and the policy watcher (reload.h) loads it like any
 * other commit. A transfer that fails or a zone that does not check out
 * changes nothing: the last good policy stays, and the failure is logged,
 * counted (xfr_stats, the metrics) and written to "<database>-xfr-status"
 * (XFR_STATUS_SUFFIX, read by chpolicy status).
 *
 * Threads: xfr_new, xfr_once, xfr_start and xfr_stop from the main thread;
 * xfr_stats from any thread.
 */
#ifndef XFR_H
#define XFR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct netaddr;

/** The transfer status file is the database's path with this appended. */
#define XFR_STATUS_SUFFIX "-xfr-status"

struct xfr;

/** Counters and state, for the metrics and the control socket. */
struct xfr_stats {
	uint64_t transfers;      /* transfers that changed the policy */
	uint64_t failures;       /* failed checks and transfers */
	int64_t serial;          /* the zone serial held, -1 none */
	time_t last_success;     /* the last check that reached the server and checked out, 0 never */
	uint64_t last_records;   /* records the last transfer carried */
	bool failing;            /* the last check failed */
};

/**
 * Check "xfr ADDR[@PORT] KEY" (policy-source) and the apex without
 * starting anything: KEY is NAME:ALGORITHM:BASE64 or a key file (BIND or
 * Knot syntax: key "NAME" { algorithm ALG; secret "BASE64"; };), ALGORITHM
 * one of hmac-md5, hmac-sha1, hmac-sha224, hmac-sha256, hmac-sha384,
 * hmac-sha512. A key file is read only with read_key_file (it may be
 * readable by root only: the config is read again on SIGHUP after the
 * privileges are dropped). 0, or -1 with the problem in err (errlen bytes).
 */
int xfr_check_config(const char *source, const char *apex, bool read_key_file, char *err,
                     size_t errlen);

/**
 * Prepare transfers of the zone apex from source (as above) into the
 * database at database (created if absent), whose tables schema_sql
 * (dbtools/schema.sql; kept, not copied: it must outlive x) makes.
 * refresh_s > 0 overrides the SOA's refresh and retry as the poll interval.
 * Returns the handle, or NULL with err set. Free with xfr_stop().
 */
struct xfr *xfr_new(const char *source, const char *apex, const char *database,
                    const char *schema_sql, int refresh_s, char *err, size_t errlen);

/**
 * One check now, on the calling thread (start-up, when the database holds
 * no policy yet): transfer, check, copy into the database. 0 when the
 * database holds the zone's policy afterwards, -1 with err set.
 */
int xfr_once(struct xfr *x, char *err, size_t errlen);

/** Start the polling thread. 0, or -1 (no thread). */
int xfr_start(struct xfr *x);

/**
 * A NOTIFY arrived (resolver.h, policy_notify): true when qname (wire,
 * lower case) is the policy zone and source the configured server's
 * address; the thread then checks at once (at most every 100 ms). Loop
 * thread; never blocks on a transfer.
 */
bool xfr_notify(void *x, const uint8_t *qname, const struct netaddr *source);

/** Copy the counters; x may be NULL (all zero, serial -1). */
void xfr_stats(struct xfr *x, struct xfr_stats *s);

/** Stop the thread (if started), write the status file's last state, free x. NULL-safe. */
void xfr_stop(struct xfr *x);

#endif
