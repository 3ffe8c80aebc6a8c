/*
 * policydb.h -- the SQLite policy database: opening it, checking its schema,
 * and reading it into a snapshot (policy.h).
 *
 * Shared by resolverd (which reloads on change) and chpolicy.
 */
#ifndef POLICYDB_H
#define POLICYDB_H

#include <stdint.h>
#include <stddef.h>
#include <sqlite3.h>

struct policy;

/** The schema version this code reads and writes (meta.schema_version). */
#define POLICYDB_SCHEMA_VERSION 1

/**
 * Open an existing database. readonly: SQLITE_OPEN_READONLY. Sets a busy
 * timeout. Returns NULL with a message in err (size errlen).
 */
sqlite3 *policydb_open(const char *path, int readonly, char *err, size_t errlen);

/** The current serial (meta.serial), or -1 with err filled. */
int64_t policydb_serial(sqlite3 *db, char *err, size_t errlen);

/** meta.schema_version, or -1 with err filled. */
int64_t policydb_schema_version(sqlite3 *db, char *err, size_t errlen);

/**
 * Read the whole policy in one read transaction (a consistent view even while
 * writers commit). Returns a finished snapshot (caller frees with
 * policy_free), or NULL with err filled: schema mismatch, corrupt file, locked.
 */
struct policy *policydb_load(sqlite3 *db, char *err, size_t errlen);

/** Parse 'YYYY-MM-DD HH:MM:SS' (UTC, as SQLite datetime()) into time_t; -1 on error. */
int64_t policydb_parse_time(const char *text);

#endif
