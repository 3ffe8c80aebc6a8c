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
 * Read the whole policy. Outside a transaction it runs in its own read
 * transaction (a consistent view even while writers commit); inside one
 * (chpolicy, before COMMIT) it reads what that transaction would commit and
 * leaves the transaction open. Returns a finished snapshot (the caller frees
 * it with policy_free), or NULL with a message in err (errlen bytes): schema
 * version mismatch, a value the schema would refuse ("target address
 * '999.0.0.1' of x.test: not an IPv4 or IPv6 address"), a corrupt or
 * locked file, no memory.
 */
struct policy *policydb_load(sqlite3 *db, char *err, size_t errlen);

/**
 * Whether text is a name the database stores (dbtools/schema.sql,
 * name_syntax): lower-case letters, digits and hyphens, labels of 1-63
 * characters not starting or ending with a hyphen, 1-253 characters, no
 * trailing dot.
 */
bool policydb_valid_name(const char *text);

/** Parse 'YYYY-MM-DD HH:MM:SS' (UTC, as SQLite datetime()) into seconds since the epoch; -1 on error. */
int64_t policydb_parse_time(const char *text);

#endif
