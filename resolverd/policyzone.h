/*
 * policyzone.h -- the whole policy as a DNS zone, both ways (the encoding is
 * docs/policy-zone.md).
 *
 * One TXT RRset per row under <hash>.<table>.APEX (the hash is of the row's
 * primary key, so an edit changes only the records of the rows it touched
 * and an IXFR carries only them), the row itself as one JSON object (its
 * columns, as the audit log writes them) split into character-strings, a
 * record _meta.APEX with the count per table and a SHA-256 digest over the
 * canonical content, and the SOA whose serial is the policy serial.
 *
 * The writer (chpolicy export zone, resolverd's policy-zone hook) reads a
 * database; the reader (resolverd's policy-source xfr) builds a new database
 * file from a transferred zone with the real schema, so the schema's checks
 * and resolverd's loader refuse anything a primary database could not hold.
 * No column named secret is ever written: every exported column is listed
 * here by name.
 *
 * Threads: every function works on what it is given and keeps no state.
 */
#ifndef POLICYZONE_H
#define POLICYZONE_H

#include <stdint.h>
#include <stdio.h>
#include <sqlite3.h>
#include <ldns/ldns.h>

/** The encoding's version, "policy-zone=1" in _meta.APEX. */
#define POLICYZONE_VERSION 1
/** The tables written, in zone and insertion order. */
#define POLICYZONE_NTABLES 7

/** What a zone held, for logs and metrics. */
struct policyzone_info {
	int64_t serial;
	size_t rows[POLICYZONE_NTABLES];
	size_t total;                    /* rows in all */
};

/** The owner label of table i ("domains", "target-addresses"...). */
const char *policyzone_table(int i);

/**
 * Write the policy of db as a master-format zone under apex (a name, no
 * trailing dot needed) to f: SOA (serial = meta.serial, which must fit 32
 * bits), NS, _meta, one TXT per row. Reads in one read transaction of its
 * own outside a transaction (a consistent view while writers commit), inside
 * the caller's otherwise. Returns 0 with *info filled (info may be NULL), or
 * -1 with a message in err (errlen bytes): a database that does not read, a
 * serial beyond 32 bits, a write error, no memory.
 */
int policyzone_write(sqlite3 *db, const char *apex, FILE *f, struct policyzone_info *info,
                     char *err, size_t errlen);

/**
 * Build a new database file at path (removed first if it exists) from the
 * records of a zone under apex (rrs: every record of one transfer or zone,
 * the SOA once; only read). The zone must be complete and canonical: _meta's
 * counts and digest match, every row is valid JSON with exactly the
 * columns its table has, every owner is the hash of its row's key, and the
 * rows go through schema_sql (dbtools/schema.sql: every CHECK and trigger)
 * and then resolverd's loader (policydb_load). The file's change log holds
 * one 'restore' row (id audit_id, so that a reader of the database it is
 * copied into sees a restore and builds afresh) and its serial is the SOA's.
 * Returns 0 with *info filled, or -1 with the first problem in err (errlen
 * bytes) and no file left at path.
 */
int policyzone_build(const char *apex, const ldns_rr_list *rrs, const char *schema_sql,
                     const char *path, int64_t audit_id, struct policyzone_info *info,
                     char *err, size_t errlen);

/**
 * The same result as policyzone_build, made faster from the database of the
 * zone before an IXFR: base_path (only read; it must hold exactly the zone
 * the difference starts from, as the last build made it) is copied to path,
 * the rows of deleted and added (the difference's records; SOA, NS and
 * _meta there are ignored) are applied through the schema (a row in both is
 * an update), and then the whole is checked as policyzone_build checks it:
 * rrs (the whole new zone) complete and matching _meta, every row of the
 * file equal to the zone's, resolverd's loader. Returns 0 with *info, or -1
 * with err set and no file at path; the caller may then build from rrs
 * with policyzone_build (a base that was not the difference's start, a
 * change the schema takes only in another order).
 */
int policyzone_build_diff(const char *apex, const ldns_rr_list *rrs, const ldns_rr_list *deleted,
                          const ldns_rr_list *added, const char *base_path, const char *path,
                          int64_t audit_id, struct policyzone_info *info, char *err, size_t errlen);

#endif
