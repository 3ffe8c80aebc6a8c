/*
 * policydb.c -- reading the SQLite policy database into a snapshot.
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
	return db;
}

/* Run one statement returning a single integer; -1 on error. */
static int64_t
query_int(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int64_t v = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(db));
		return -1;
	}
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	else
		snprintf(err, errlen, "%s", rc == SQLITE_DONE ? "no value" : sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return v;
}

int64_t
policydb_serial(sqlite3 *db, char *err, size_t errlen)
{
	return query_int(db, "SELECT value FROM meta WHERE key = 'serial'", err, errlen);
}

int64_t
policydb_schema_version(sqlite3 *db, char *err, size_t errlen)
{
	return query_int(db, "SELECT value FROM meta WHERE key = 'schema_version'", err, errlen);
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

/* Fill a selector from (kind, name, min, max) columns starting at col. */
static int
read_selector(struct policy *p, sqlite3_stmt *st, int col, struct policy_selector *sel,
              char *err, size_t errlen)
{
	const char *kind = (const char *)sqlite3_column_text(st, col);
	const char *name = (const char *)sqlite3_column_text(st, col + 1);

	memset(sel, 0, sizeof(*sel));
	if (!kind)
		kind = "";
	if (strcmp(kind, "any") == 0) {
		sel->kind = SEL_ANY;
	} else if (strcmp(kind, "domain") == 0) {
		sel->kind = SEL_DOMAIN;
		sel->index = name ? policy_find_domain(p, name) : POLICY_NONE;
	} else if (strcmp(kind, "group") == 0) {
		sel->kind = SEL_GROUP;
		sel->index = name ? policy_find_group(p, name) : POLICY_NONE;
	} else if (strcmp(kind, "level") == 0) {
		sel->kind = SEL_LEVEL;
		sel->min = sqlite3_column_type(st, col + 2) == SQLITE_NULL
		               ? 0 : (uint32_t)sqlite3_column_int64(st, col + 2);
		sel->max = sqlite3_column_type(st, col + 3) == SQLITE_NULL
		               ? UINT32_MAX : (uint32_t)sqlite3_column_int64(st, col + 3);
		return 0;
	} else {
		snprintf(err, errlen, "rule %lld: unknown selector kind '%s'",
		         (long long)sqlite3_column_int64(st, 0), kind);
		return -1;
	}
	if (sel->kind != SEL_ANY && sel->index == POLICY_NONE) {
		snprintf(err, errlen, "rule %lld: selector names unknown %s '%s'",
		         (long long)sqlite3_column_int64(st, 0), kind, name ? name : "");
		return -1;
	}
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
	const char *name = (const char *)sqlite3_column_text(st, 0);
	sqlite3_int64 level = sqlite3_column_int64(st, 1);

	if (!name || level < 0 || level > UINT32_MAX - 1 ||
	    policy_add_domain(p, name, (uint32_t)level, sqlite3_column_int(st, 2) != 0) == POLICY_NONE) {
		snprintf(err, errlen, "domain '%s': invalid or out of memory", name ? name : "");
		return -1;
	}
	return 0;
}

static int
row_group(struct policy *p, sqlite3_stmt *st, char *err, size_t errlen)
{
	const char *name = (const char *)sqlite3_column_text(st, 0);

	if (!name || policy_add_group(p, name) == POLICY_NONE) {
		snprintf(err, errlen, "group: out of memory");
		return -1;
	}
	return 0;
}

static int
row_membership(struct policy *p, sqlite3_stmt *st, char *err, size_t errlen)
{
	const char *dn = (const char *)sqlite3_column_text(st, 0);
	const char *gn = (const char *)sqlite3_column_text(st, 1);
	uint32_t d = dn ? policy_find_domain(p, dn) : POLICY_NONE;
	uint32_t g = gn ? policy_find_group(p, gn) : POLICY_NONE;

	if (d == POLICY_NONE || g == POLICY_NONE || policy_add_membership(p, d, g) != 0) {
		snprintf(err, errlen, "membership %s in %s: unknown domain or group", dn ? dn : "",
		         gn ? gn : "");
		return -1;
	}
	return 0;
}

static int
row_identity(struct policy *p, sqlite3_stmt *st, char *err, size_t errlen)
{
	const char *value = (const char *)sqlite3_column_text(st, 0);
	const char *dn = (const char *)sqlite3_column_text(st, 1);
	uint32_t d = dn ? policy_find_domain(p, dn) : POLICY_NONE;
	struct netaddr prefix;
	const char *why = "";

	if (!value || netaddr_parse_cidr(value, &prefix, &why) != 0) {
		snprintf(err, errlen, "identity '%s': %s", value ? value : "", why);
		return -1;
	}
	if (d == POLICY_NONE) {
		snprintf(err, errlen, "identity '%s': unknown domain '%s'", value, dn ? dn : "");
		return -1;
	}
	if (policy_add_cidr(p, &prefix, d) != 0) {
		/* the same prefix written two ways ("10.0.0.1/8", "10.0.0.0/8") for two domains */
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
	const char *action = (const char *)sqlite3_column_text(st, 10);

	memset(&r, 0, sizeof(r));
	r.id = sqlite3_column_int64(st, 0);
	r.priority = sqlite3_column_int64(st, 1);
	if (read_selector(p, st, 2, &r.from, err, errlen) != 0 ||
	    read_selector(p, st, 6, &r.to, err, errlen) != 0)
		return -1;
	r.allow = action && strcmp(action, "allow") == 0;
	if (sqlite3_column_type(st, 11) != SQLITE_NULL) {
		const char *exp = (const char *)sqlite3_column_text(st, 11);
		int64_t t = exp ? policydb_parse_time(exp) : -1;
		if (t <= 0) {
			snprintf(err, errlen, "rule %lld: invalid expiry '%s'", (long long)r.id,
			         exp ? exp : "");
			return -1;
		}
		r.expires = (time_t)t;
	}
	if (policy_add_rule(p, &r) != 0) {
		snprintf(err, errlen, "rule: out of memory");
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

/* One row per (target, address): rows of the same target arrive together. */
static int
row_target(struct policy *p, sqlite3_stmt *st, char *err, size_t errlen)
{
	const char *dn = (const char *)sqlite3_column_text(st, 0);
	int service = service_of((const char *)sqlite3_column_text(st, 1));
	const char *host = (const char *)sqlite3_column_text(st, 5);
	const char *addr = (const char *)sqlite3_column_text(st, 6);
	uint32_t d = dn ? policy_find_domain(p, dn) : POLICY_NONE;
	uint16_t prio = (uint16_t)sqlite3_column_int(st, 2), weight = (uint16_t)sqlite3_column_int(st, 3),
	         port = (uint16_t)sqlite3_column_int(st, 4);
	uint8_t wire[DNAME_MAXLEN];

	if (d == POLICY_NONE || service == XMPP_NONE || !host || dname_from_text(host, wire) == 0) {
		snprintf(err, errlen, "target %s of %s: invalid", host ? host : "", dn ? dn : "");
		return -1;
	}
	uint32_t t = POLICY_NONE;
	if (p->ntargets > 0) {
		const struct policy_target *last = &p->targets[p->ntargets - 1];
		if (last->domain == d && last->service == service && last->port == port &&
		    last->priority == prio && last->weight == weight && dname_equal(last->host, wire))
			t = (uint32_t)(p->ntargets - 1);
	}
	if (t == POLICY_NONE)
		t = policy_add_target(p, d, service, prio, weight, port, host);
	if (t == POLICY_NONE) {
		snprintf(err, errlen, "target: out of memory");
		return -1;
	}
	if (addr) {
		struct netaddr a;
		const char *why;
		if (netaddr_parse_cidr(addr, &a, &why) != 0 || a.prefix != (a.family == AF_INET ? 32 : 128)) {
			snprintf(err, errlen, "target address '%s' of %s: not an address", addr, host);
			return -1;
		}
		if (policy_add_target_address(p, t, &a) != 0) {
			snprintf(err, errlen, "target: out of memory");
			return -1;
		}
	}
	return 0;
}

struct policy *
policydb_load(sqlite3 *db, char *err, size_t errlen)
{
	struct policy *p = NULL;
	int64_t version, serial;

	if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
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
	    for_each_row(db, p, "SELECT value, domain FROM identities WHERE kind = 'cidr'",
	                 row_identity, err, errlen) != 0 ||
	    for_each_row(db, p,
	                 "SELECT id, priority, from_kind, from_name, from_min, from_max,"
	                 " to_kind, to_name, to_min, to_max, action, datetime(expires)"
	                 " FROM rules",
	                 row_rule, err, errlen) != 0 ||
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
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	return p;
fail:
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	policy_free(p);
	return NULL;
}
