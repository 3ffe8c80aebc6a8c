/*
 * policydb.c -- reading the SQLite policy database into a snapshot.
 *
 * Every value is checked against the same definition as dbtools/schema.sql
 * (see policydb.h), so that the loader and the database agree on what a
 * valid policy is.
 */
#include "config.h"
#include "policydb.h"
#include "policy.h"
#include "netaddr.h"
#include "dname.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>

sqlite3 *
policydb_open(const char *path, int readonly, char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	int flags = readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
	int rc = sqlite3_open_v2(path, &db, flags, NULL);

	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_busy_timeout(db, 2000);
	sqlite3_extended_result_codes(db, 1);
	sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
	return db;
}

/* One meta value that must be an integer >= 1; -1 on error. */
static int64_t
meta_int(sqlite3 *db, const char *key, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int64_t v = -1;

	if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = ?", -1, &st, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(db));
		return -1;
	}
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_INTEGER && sqlite3_column_int64(st, 0) >= 1)
		v = sqlite3_column_int64(st, 0);
	else if (rc == SQLITE_ROW)
		snprintf(err, errlen, "meta.%s is not an integer from 1", key);
	else
		snprintf(err, errlen, "%s", rc == SQLITE_DONE ? "no value" : sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return v;
}

int64_t
policydb_serial(sqlite3 *db, char *err, size_t errlen)
{
	return meta_int(db, "serial", err, errlen);
}

int64_t
policydb_schema_version(sqlite3 *db, char *err, size_t errlen)
{
	return meta_int(db, "schema_version", err, errlen);
}

int64_t
policydb_parse_time(const char *text)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (sscanf(text, "%d-%d-%d %d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
	           &tm.tm_min, &tm.tm_sec) < 3)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm);
}

bool
policydb_valid_name(const char *text)
{
	size_t len = strlen(text), label = 0;

	if (len < 1 || len > 253)
		return false;
	for (size_t i = 0; i < len; i++) {
		char ch = text[i];
		if (ch == '.') {
			/* a label ends: not empty, not ending with a hyphen */
			if (label == 0 || text[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-'))
			return false;
		if (ch == '-' && label == 0)
			return false;
		if (++label > 63)
			return false;
	}
	return label > 0 && text[len - 1] != '-';
}

/* groups.name: lower-case letters, digits and ": . _ -", 1-64, starting with a letter or digit. */
static bool
valid_group(const char *text)
{
	size_t len = strlen(text);

	if (len < 1 || len > 64 || strspn(text, "abcdefghijklmnopqrstuvwxyz0123456789:._-") != len)
		return false;
	return (text[0] >= 'a' && text[0] <= 'z') || (text[0] >= '0' && text[0] <= '9');
}

/* Column col as an integer within [min, max]; false for any other type or value. */
static bool
col_int(sqlite3_stmt *st, int col, int64_t min, int64_t max, int64_t *out)
{
	if (sqlite3_column_type(st, col) != SQLITE_INTEGER)
		return false;
	*out = sqlite3_column_int64(st, col);
	return *out >= min && *out <= max;
}

/* Column col as text (never a blob or a number), or NULL. */
static const char *
col_text(sqlite3_stmt *st, int col)
{
	return sqlite3_column_type(st, col) == SQLITE_TEXT ? (const char *)sqlite3_column_text(st, col)
	                                                  : NULL;
}

#define LEVEL_MAX INT64_C(2147483647)

/* Fill a selector from (kind, name, min, max) columns starting at col. */
static int
read_selector(struct policy *p, sqlite3_stmt *st, int col, struct policy_selector *sel,
              char *err, size_t errlen)
{
	const char *kind = col_text(st, col), *name = col_text(st, col + 1);
	bool has_name = sqlite3_column_type(st, col + 1) != SQLITE_NULL;
	bool has_min = sqlite3_column_type(st, col + 2) != SQLITE_NULL;
	bool has_max = sqlite3_column_type(st, col + 3) != SQLITE_NULL;
	long long id = sqlite3_column_int64(st, 0);
	int64_t min = 0, max = LEVEL_MAX;

	memset(sel, 0, sizeof(*sel));
	if (!kind)
		kind = "";
	if (strcmp(kind, "level") == 0) {
		if (has_name || (!has_min && !has_max) || (has_min && !col_int(st, col + 2, 0, LEVEL_MAX, &min)) ||
		    (has_max && !col_int(st, col + 3, 0, LEVEL_MAX, &max)) || min > max) {
			snprintf(err, errlen, "rule %lld: invalid level selector (bounds are integers from 0 to "
			         "2147483647, min <= max, no name)", id);
			return -1;
		}
		sel->kind = SEL_LEVEL;
		sel->min = (uint32_t)min;
		sel->max = has_max ? (uint32_t)max : UINT32_MAX;
		return 0;
	}
	if (has_min || has_max || (strcmp(kind, "any") == 0) == has_name) {
		snprintf(err, errlen, "rule %lld: invalid '%s' selector (fields mixed)", id, kind);
		return -1;
	}
	if (strcmp(kind, "any") == 0) {
		sel->kind = SEL_ANY;
		return 0;
	}
	uint32_t index;
	if (strcmp(kind, "domain") == 0) {
		sel->kind = SEL_DOMAIN;
		index = name ? policy_find_domain(p, name) : POLICY_NONE;
	} else if (strcmp(kind, "group") == 0) {
		sel->kind = SEL_GROUP;
		index = name ? policy_find_group(p, name) : POLICY_NONE;
	} else {
		snprintf(err, errlen, "rule %lld: unknown selector kind '%s'", id, kind);
		return -1;
	}
	if (index == POLICY_NONE) {
		snprintf(err, errlen, "rule %lld: selector names unknown %s '%s'", id, kind, name ? name : "");
		return -1;
	}
	sel->index = index;
	return 0;
}

/* Each loader step: prepare sql, call row() for each row. */
typedef int (*row_fn)(struct policy *p, sqlite3_stmt *st, char *err, size_t errlen);

static int
for_each_row(sqlite3 *db, struct policy *p, const char *sql, row_fn row, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(db));
		return -1;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (row(p, st, err, errlen) != 0) {
			sqlite3_finalize(st);
			return -1;
		}
	}
	if (rc != SQLITE_DONE) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(db));
		sqlite3_finalize(st);
		return -1;
	}
	sqlite3_finalize(st);
	return 0;
}

static int
row_domain(struct policy *p, sqlite3_stmt *st, char *err, size_t errlen)
{
	const char *name = col_text(st, 0);
	int64_t level, enabled;

	if (!name || !policydb_valid_name(name)) {
		snprintf(err, errlen, "domain '%s': invalid domain name", name ? name : "");
		return -1;
	}
	if (!col_int(st, 1, 0, LEVEL_MAX, &level) || !col_int(st, 2, 0, 1, &enabled)) {
		snprintf(err, errlen, "domain '%s': level must be an integer from 0 to 2147483647, "
		         "enabled 0 or 1", name);
		return -1;
	}
	if (policy_add_domain(p, name, (uint32_t)level, enabled != 0) == POLICY_NONE) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

static int
row_group(struct policy *p, sqlite3_stmt *st, char *err, size_t errlen)
{
	const char *name = col_text(st, 0);

	if (!name || !valid_group(name)) {
		snprintf(err, errlen, "group '%s': invalid group name", name ? name : "");
		return -1;
	}
	if (policy_add_group(p, name) == POLICY_NONE) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

static int
row_membership(struct policy *p, sqlite3_stmt *st, char *err, size_t errlen)
{
	const char *dn = col_text(st, 0), *gn = col_text(st, 1);
	uint32_t d = dn ? policy_find_domain(p, dn) : POLICY_NONE;
	uint32_t g = gn ? policy_find_group(p, gn) : POLICY_NONE;

	if (d == POLICY_NONE || g == POLICY_NONE || policy_add_membership(p, d, g) != 0) {
		snprintf(err, errlen, "membership %s in %s: unknown domain or group", dn ? dn : "",
		         gn ? gn : "");
		return -1;
	}
	return 0;
}

/* "what 'value' of owner: why (means FIX)" for a value netaddr_parse_db refused. */
static void
address_error(char *err, size_t errlen, const char *what, const char *value, const char *owner,
              const char *why, const char *fix)
{
	snprintf(err, errlen, "%s '%s' of %s: invalid CIDR/address: %s%s%s%s", what, value, owner, why,
	         *fix ? " (write " : "", fix, *fix ? ")" : "");
}

static int
row_identity(struct policy *p, sqlite3_stmt *st, char *err, size_t errlen)
{
	const char *kind = col_text(st, 0), *value = col_text(st, 1), *dn = col_text(st, 2);
	uint32_t d = dn ? policy_find_domain(p, dn) : POLICY_NONE;
	struct netaddr prefix;
	char fix[NETADDR_TEXT_MAX];
	const char *why = "";

	if (d == POLICY_NONE) {
		snprintf(err, errlen, "identity '%s': unknown domain '%s'", value ? value : "", dn ? dn : "");
		return -1;
	}
	if (!kind || (strcmp(kind, "tsig") == 0 || strcmp(kind, "cert") == 0))
		return kind ? 0 : -1; /* reserved kinds: not read yet */
	if (strcmp(kind, "cidr") != 0) {
		snprintf(err, errlen, "identity of %s: unknown kind '%s'", dn, kind);
		return -1;
	}
	if (!value || netaddr_parse_db(value, false, &prefix, &why, fix, sizeof(fix)) != 0) {
		address_error(err, errlen, "identity", value ? value : "", dn, value ? why : "not text", fix);
		return -1;
	}
	if (policy_add_cidr(p, &prefix, d) != 0) {
		snprintf(err, errlen, "identity '%s' of %s: the same prefix is bound to another domain",
		         value, dn);
		return -1;
	}
	return 0;
}

static int
row_rule(struct policy *p, sqlite3_stmt *st, char *err, size_t errlen)
{
	struct policy_rule r;
	const char *action = col_text(st, 10);

	memset(&r, 0, sizeof(r));
	r.id = sqlite3_column_int64(st, 0);
	int64_t priority;
	if (!col_int(st, 1, INT64_MIN, INT64_MAX, &priority)) {
		snprintf(err, errlen, "rule %lld: priority is not an integer", (long long)r.id);
		return -1;
	}
	r.priority = priority;
	if (read_selector(p, st, 2, &r.from, err, errlen) != 0 ||
	    read_selector(p, st, 6, &r.to, err, errlen) != 0)
		return -1;
	if (!action || (strcmp(action, "allow") != 0 && strcmp(action, "deny") != 0)) {
		snprintf(err, errlen, "rule %lld: action must be allow or deny", (long long)r.id);
		return -1;
	}
	r.allow = strcmp(action, "allow") == 0;
	if (sqlite3_column_type(st, 11) != SQLITE_NULL) {
		const char *exp = col_text(st, 11), *norm = col_text(st, 12);
		int64_t t = exp && norm && strcmp(exp, norm) == 0 ? policydb_parse_time(exp) : -1;
		if (t <= 0) {
			snprintf(err, errlen, "rule %lld: expires must be a date-time 'YYYY-MM-DD HH:MM:SS' "
			         "(UTC), not '%s'", (long long)r.id, exp ? exp : "");
			return -1;
		}
		r.expires = (time_t)t;
	}
	/* column 13, the mode: 'enforce' or 'dry-run' */
	const char *mode = sqlite3_column_count(st) > 13 ? col_text(st, 13) : "enforce";
	if (!mode || (strcmp(mode, "enforce") != 0 && strcmp(mode, "dry-run") != 0)) {
		snprintf(err, errlen, "rule %lld: mode must be enforce or dry-run", (long long)r.id);
		return -1;
	}
	r.dry_run = strcmp(mode, "dry-run") == 0;
	if (policy_add_rule(p, &r) != 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

static int
service_of(const char *text)
{
	if (!text)
		return XMPP_NONE;
	if (strcmp(text, "xmpp-server") == 0)
		return XMPP_SERVER;
	if (strcmp(text, "xmpps-server") == 0)
		return XMPP_SERVER_TLS;
	if (strcmp(text, "jabber") == 0)
		return XMPP_JABBER;
	return XMPP_NONE;
}

/* target_addresses: a valid host name and a single canonical address. */
static int
row_target_address(struct policy *p, sqlite3_stmt *st, char *err, size_t errlen)
{
	const char *host = col_text(st, 0), *addr = col_text(st, 1), *why = "not text";
	char fix[NETADDR_TEXT_MAX] = "";
	struct netaddr a;

	(void)p;
	if (!host || !policydb_valid_name(host)) {
		snprintf(err, errlen, "target address of host '%s': invalid domain name", host ? host : "");
		return -1;
	}
	if (!addr || netaddr_parse_db(addr, true, &a, &why, fix, sizeof(fix)) != 0) {
		address_error(err, errlen, "target address", addr ? addr : "", host, why, fix);
		return -1;
	}
	return 0;
}

/* One row per (target, address): rows of the same target arrive together. */
static int
row_target(struct policy *p, sqlite3_stmt *st, char *err, size_t errlen)
{
	const char *dn = col_text(st, 0), *host = col_text(st, 5), *addr = col_text(st, 6);
	int service = service_of(col_text(st, 1));
	uint32_t d = dn ? policy_find_domain(p, dn) : POLICY_NONE;
	int64_t prio, weight, port;
	uint8_t wire[DNAME_MAXLEN];

	if (d == POLICY_NONE || service == XMPP_NONE) {
		snprintf(err, errlen, "target %s of %s: unknown domain or service", host ? host : "",
		         dn ? dn : "");
		return -1;
	}
	bool none = host && strcmp(host, ".") == 0; /* RFC 2782: service decidedly not available */
	if (!host || !(none || policydb_valid_name(host))) {
		snprintf(err, errlen, "target '%s' of %s: invalid domain name", host ? host : "", dn);
		return -1;
	}
	if (!col_int(st, 2, 0, 65535, &prio) || !col_int(st, 3, 0, 65535, &weight) ||
	    !col_int(st, 4, none ? 0 : 1, none ? 0 : 65535, &port) || (none && (prio || weight))) {
		snprintf(err, errlen, "target %s of %s: priority and weight must be integers from 0 to "
		         "65535, port from 1 to 65535 (target .: priority, weight and port 0)", host, dn);
		return -1;
	}
	dname_from_text(host, wire);
	uint32_t t = POLICY_NONE;
	if (p->ntargets > 0) {
		const struct policy_target *last = &p->targets[p->ntargets - 1];
		bool same_service = last->domain == d && last->service == service;
		if (same_service && last->port == port && last->priority == prio && last->weight == weight &&
		    dname_equal(last->host, wire))
			t = (uint32_t)(p->ntargets - 1);
		else if (same_service && (none || last->host[0] == 0)) {
			snprintf(err, errlen, "target of %s: . (no service) must be the only target of its "
			         "domain and service", dn);
			return -1;
		}
	}
	if (t == POLICY_NONE)
		t = policy_add_target(p, d, service, (uint16_t)prio, (uint16_t)weight, (uint16_t)port, host);
	if (t == POLICY_NONE) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (addr) {
		struct netaddr a;
		const char *why;
		if (netaddr_parse_db(addr, true, &a, &why, NULL, 0) != 0 || policy_add_target_address(p, t, &a) != 0) {
			snprintf(err, errlen, "target address '%s' of %s: invalid, or out of memory", addr, host);
			return -1;
		}
	}
	return 0;
}

/* A bare identity address and its /32 (/128) both stored: the same prefix twice. */
static int
row_identity_twice(struct policy *p, sqlite3_stmt *st, char *err, size_t errlen)
{
	(void)p;
	snprintf(err, errlen, "identity '%s': the same prefix is already stored with (or without) its "
	         "/32 or /128", (const char *)sqlite3_column_text(st, 0));
	return -1;
}

struct policy *
policydb_load(sqlite3 *db, char *err, size_t errlen)
{
	struct policy *p = NULL;
	int64_t version, serial;
	bool own = sqlite3_get_autocommit(db) != 0; /* not inside the caller's transaction */

	if (own && sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "begin: %s", sqlite3_errmsg(db));
		return NULL;
	}
	version = policydb_schema_version(db, err, errlen);
	if (version < 0)
		goto fail;
	if (version != POLICYDB_SCHEMA_VERSION) {
		snprintf(err, errlen, "schema version %lld, this build reads %d", (long long)version,
		         POLICYDB_SCHEMA_VERSION);
		goto fail;
	}
	serial = policydb_serial(db, err, errlen);
	if (serial < 0)
		goto fail;
	p = policy_new((uint64_t)serial);
	if (!p) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	/* rules.mode (dry-run rules) is read when the schema has it */
	sqlite3_stmt *col = NULL;
	bool has_mode = sqlite3_prepare_v2(db, "SELECT 1 FROM pragma_table_info('rules') WHERE name = 'mode'",
	                                   -1, &col, NULL) == SQLITE_OK &&
	                sqlite3_step(col) == SQLITE_ROW;
	sqlite3_finalize(col);
	if (for_each_row(db, p, "SELECT name, level, enabled FROM domains ORDER BY name", row_domain,
	                 err, errlen) != 0 ||
	    for_each_row(db, p, "SELECT name FROM groups ORDER BY name", row_group, err, errlen) != 0)
		goto fail;
	if (policy_finish(p) != 0) { /* the name index, needed below */
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (for_each_row(db, p, "SELECT domain, grp FROM memberships", row_membership, err,
	                 errlen) != 0 ||
	    for_each_row(db, p, "SELECT kind, value, domain FROM identities", row_identity, err,
	                 errlen) != 0 ||
	    for_each_row(db, p,
	                 "SELECT a.value FROM identities a JOIN identities b ON a.kind = 'cidr'"
	                 " AND b.kind = 'cidr' AND b.value IN (a.value || '/32', a.value || '/128')",
	                 row_identity_twice, err, errlen) != 0 ||
	    for_each_row(db, p,
	                 has_mode ? "SELECT id, priority, from_kind, from_name, from_min, from_max,"
	                            " to_kind, to_name, to_min, to_max, action, expires, datetime(expires),"
	                            " mode FROM rules"
	                          : "SELECT id, priority, from_kind, from_name, from_min, from_max,"
	                            " to_kind, to_name, to_min, to_max, action, expires, datetime(expires)"
	                            " FROM rules",
	                 row_rule, err, errlen) != 0 ||
	    for_each_row(db, p, "SELECT host, address FROM target_addresses", row_target_address, err,
	                 errlen) != 0 ||
	    for_each_row(db, p,
	                 "SELECT t.domain, t.service, t.priority, t.weight, t.port, t.host, a.address"
	                 " FROM targets t LEFT JOIN target_addresses a ON a.host = t.host"
	                 " ORDER BY t.domain, t.service, t.priority, t.weight, t.host, t.port",
	                 row_target, err, errlen) != 0)
		goto fail;
	if (policy_finish(p) != 0) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (own)
		sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	return p;
fail:
	if (own)
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	policy_free(p);
	return NULL;
}
