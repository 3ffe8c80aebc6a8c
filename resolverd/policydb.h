/*
 * policydb.h -- the SQLite policy database: opening it, checking its schema,
 * and reading it into a snapshot (policy.h).
 *
 * Shared by resolverd (which reloads on change) and chpolicy (which loads
 * every would-be policy before it commits an edit). The loader accepts
 * exactly the values dbtools/schema.sql accepts (names, addresses and
 * prefixes in canonical text, integers in range, one of a list of words), so
 * that a database the schema guards always loads, and one whose guards were
 * bypassed is refused with a message naming the row.
 *
 * Threads: every function works on the connection it is given and keeps no
 * state of its own; a connection is used by one thread at a time (SQLite's
 * rule), so each thread has its own.
 */
#ifndef POLICYDB_H
#define POLICYDB_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <sqlite3.h>

struct policy;

/** The schema version this code reads and writes (meta.schema_version). */
#define POLICYDB_SCHEMA_VERSION 1

/**
 * Open an existing database (never creates one). readonly:
 * SQLITE_OPEN_READONLY, else read-write (a WAL reader needs to write the
 * -shm file). Sets a 2 s busy timeout and extended result codes, and keeps
 * SQLite from checkpointing and deleting the -wal file when this connection
 * closes (SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE): a reader never writes the
 * database, whatever happened to the file meanwhile. Returns the connection
 * (caller closes it with sqlite3_close), or NULL with "PATH: why" in err
 * (errlen bytes).
 */
sqlite3 *policydb_open(const char *path, int readonly, char *err, size_t errlen);

/** meta.serial (an integer >= 1), or -1 with a message in err (errlen bytes). */
int64_t policydb_serial(sqlite3 *db, char *err, size_t errlen);

/** meta.schema_version (an integer >= 1), or -1 with a message in err (errlen bytes). */
int64_t policydb_schema_version(sqlite3 *db, char *err, size_t errlen);

/**
 * Read the whole policy (a full build). Outside a transaction it runs in its own read
 * transaction (a consistent view even while writers commit); inside one
 * (chpolicy, before COMMIT) it reads what that transaction would commit and
 * leaves the transaction open. Returns a finished snapshot (the caller frees
 * it with policy_free), or NULL with a message in err (errlen bytes): schema
 * version mismatch, a value the schema would refuse ("target address
 * '999.0.0.1' of x.test: not an IPv4 or IPv6 address"), a corrupt or
 * locked file, no memory. The snapshot records the database's schema cookie
 * and last audit row (audit_id, schema_cookie) for policydb_apply.
 */
struct policy *policydb_load(sqlite3 *db, char *err, size_t errlen);

/** What policydb_apply() did. */
enum policydb_apply_status {
	POLICYDB_APPLIED,    /* a new snapshot with the changes */
	POLICYDB_UNCHANGED,  /* nothing was committed since base: no snapshot */
	POLICYDB_REBUILD,    /* the changes cannot be applied (err says why): load afresh */
};

/**
 * Bring a finished snapshot up to date: read the audit rows committed since
 * it was read (policy.audit_id, a snapshot of policydb_load or of this
 * function), read again each row they name (a domain, group, membership
 * list, identity, rule, or a domain's targets) and apply the result to a
 * derived copy of base (policy_derive), which shares what did not change.
 * Rows are checked exactly as policydb_load checks them, so the copy decides
 * exactly as a fresh load of the same database would.
 *
 * Runs in its own read transaction outside one (inside the caller's, it
 * reads what that one sees). base is only read. Returns the new snapshot
 * (*status POLICYDB_APPLIED; the caller frees it with policy_free), or NULL
 * with *status POLICYDB_UNCHANGED (the database is still at base's serial),
 * or NULL with *status POLICYDB_REBUILD and the reason in err (errlen bytes):
 * the audit log has a gap or a row this code does not read (a restore, a
 * change of the audit's form), the schema changed (PRAGMA schema_version),
 * more than max_changes changes, a row the loader would refuse, base holds
 * too many removed entries (policy_wants_rebuild), the database cannot be
 * read, no memory. The caller then loads afresh with policydb_load, which
 * says what is wrong if anything is.
 *
 * Threads: as the rest of this file; base may be read by other threads
 * meanwhile, and derive from one lineage of snapshots on one thread at a
 * time (policy.h).
 */
struct policy *policydb_apply(sqlite3 *db, const struct policy *base, size_t max_changes,
                              enum policydb_apply_status *status, char *err, size_t errlen);

/**
 * Whether text is a name the database stores (dbtools/schema.sql,
 * name_syntax): lower-case letters, digits and hyphens, labels of 1-63
 * characters not starting or ending with a hyphen, 1-253 characters, no
 * trailing dot.
 */
bool policydb_valid_name(const char *text);

/**
 * Decode a TSIG secret as the database stores it (identities.secret):
 * standard base64, padded, nothing else (RFC 4648 4). out: cap bytes, at
 * least 3/4 of the text's length. Returns the byte count, or -1 when the
 * text is not such base64 or does not fit. Any thread.
 */
int policydb_base64_decode(const char *text, uint8_t *out, size_t cap);

/**
 * Whether other users may read the database at path or its -wal or -shm
 * (which hold the same pages): the first such file's name into file (len
 * bytes) and true, else false. A file that does not exist is not readable.
 * What TSIG secrets need (chpolicy refuses to store them in such a file,
 * resolverd and chpolicy verify warn). Any thread.
 */
bool policydb_readable_by_others(const char *path, char *file, size_t len);

/**
 * Remove a database file that was being made and failed, with its -wal,
 * -shm and -journal, so that nothing half-made stays. Any thread.
 */
void policydb_remove(const char *path);

/** Parse 'YYYY-MM-DD HH:MM:SS' (UTC, as SQLite datetime()) into seconds since the epoch; -1 on error. */
int64_t policydb_parse_time(const char *text);

#endif
