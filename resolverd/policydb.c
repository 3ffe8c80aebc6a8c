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
#include "prefixmap.h"
#include "tsig.h"

#include <stdio.h>
#include <unistd.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

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
	if (sqlite3_column_type(st, col) != SQLITE_TEXT)
		return NULL;
	const char *t = (const char *)sqlite3_column_text(st, col);
	/* a text with a NUL byte would read as a shorter one: 'a' and 'a\0x' as
	 * the same domain (found by fuzz_policydb); refused as not text */
	if (t && strlen(t) != (size_t)sqlite3_column_bytes(st, col))
		return NULL;
	return t;
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

/*
 * domains.require_identity in column col as enum policy_identity; source
 * when the query has no such column (a database made before it). -1 when
 * it is not one of the three words.
 */
static int
col_require(sqlite3_stmt *st, int col)
{
	if (sqlite3_column_count(st) <= col)
		return POLICY_ID_SOURCE;
	const char *v = col_text(st, col);
	if (!v)
		return -1;
	if (strcmp(v, "source") == 0)
		return POLICY_ID_SOURCE;
	if (strcmp(v, "cert") == 0)
		return POLICY_ID_CERT;
	if (strcmp(v, "tsig") == 0)
		return POLICY_ID_TSIG;
	return -1;
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
	uint32_t d = policy_add_domain(p, name, (uint32_t)level, enabled != 0);
	if (d == POLICY_NONE) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	int require = col_require(st, 3);
	if (require < 0) {
		snprintf(err, errlen, "domain '%s': require_identity must be source, cert or tsig", name);
		return -1;
	}
	return policy_set_domain_require(p, d, (enum policy_identity)require) == 0 ? 0 : -1;
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

int
policydb_base64_decode(const char *text, uint8_t *out, size_t cap)
{
	size_t len = strlen(text), pad = 0;

	if (len == 0 || len % 4 != 0 || len / 4 * 3 > cap)
		return -1;
	while (pad < 2 && text[len - 1 - pad] == '=')
		pad++;
	const char *eq = strchr(text, '=');
	if ((eq && eq != text + len - pad) ||
	    strspn(text, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") != len)
		return -1; /* padding only at the end; no white space */
	int n = EVP_DecodeBlock(out, (const unsigned char *)text, (int)len);
	if (n < 0 || (size_t)n < pad)
		return -1;
	return n - (int)pad; /* EVP_DecodeBlock counts the padding as zero bytes */
}

/*
 * A TSIG key (columns 3 and 4: algorithm, base64 secret) or a certificate
 * name of domain d. The secret never appears in a message.
 */
static int
row_key(struct policy *p, sqlite3_stmt *st, uint32_t d, const char *kind, const char *value,
        char *err, size_t errlen)
{
	bool tsig = strcmp(kind, "tsig") == 0;
	uint8_t wire[DNAME_MAXLEN], secret[TSIG_SECRET_MAX + 3];
	int algorithm = TSIG_NONE, n = 0;

	if (!value || !policydb_valid_name(value) || dname_from_text(value, wire) <= 1) {
		snprintf(err, errlen, "identity %s '%s': invalid name", kind, value ? value : "");
		return -1;
	}
	if (tsig) {
		const char *alg = sqlite3_column_count(st) > 4 ? col_text(st, 3) : NULL;
		const char *b64 = sqlite3_column_count(st) > 4 ? col_text(st, 4) : NULL;
		algorithm = alg ? (int)tsig_algorithm_from_text(alg) : TSIG_NONE;
		if (algorithm == TSIG_NONE) {
			snprintf(err, errlen, "TSIG key '%s': algorithm must be hmac-sha256, hmac-sha384 or "
			         "hmac-sha512", value);
			return -1;
		}
		n = b64 ? policydb_base64_decode(b64, secret, sizeof(secret)) : -1;
		if (n < 16 || n > TSIG_SECRET_MAX) {
			snprintf(err, errlen, "TSIG key '%s': the secret is not base64 of 16 to 128 bytes", value);
			return -1;
		}
	}
	int rc = policy_add_key(p, tsig ? POLICY_KEY_TSIG : POLICY_KEY_CERT, wire, d, algorithm, secret,
	                        (size_t)n);
	OPENSSL_cleanse(secret, sizeof(secret));
	if (rc != 0)
		snprintf(err, errlen, "out of memory");
	return rc;
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
	if (kind && (strcmp(kind, "tsig") == 0 || strcmp(kind, "cert") == 0))
		return row_key(p, st, d, kind, value, err, errlen);
	if (!kind || strcmp(kind, "cidr") != 0) {
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

/* Whether table has column: columns added to the schema later are read when present. */
static bool
has_column(sqlite3 *db, const char *table, const char *column)
{
	sqlite3_stmt *st = NULL;
	bool has = sqlite3_prepare_v2(db, "SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2", -1, &st,
	                              NULL) == SQLITE_OK &&
	           sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC) == SQLITE_OK &&
	           sqlite3_bind_text(st, 2, column, -1, SQLITE_STATIC) == SQLITE_OK &&
	           sqlite3_step(st) == SQLITE_ROW;

	sqlite3_finalize(st);
	return has;
}

/* The SELECT of domains, with require_identity when the schema has it; where as below. */
static void
domains_sql(sqlite3 *db, const char *where, char *sql, size_t len)
{
	snprintf(sql, len, "SELECT name, level, enabled%s FROM domains%s",
	         has_column(db, "domains", "require_identity") ? ", require_identity" : "", where);
}

/* The SELECT of identities, with the TSIG columns when the schema has them. */
static void
identities_sql(sqlite3 *db, const char *where, char *sql, size_t len)
{
	snprintf(sql, len, "SELECT kind, value, domain%s FROM identities%s",
	         has_column(db, "identities", "secret") ? ", algorithm, secret" : "", where);
}

/* The SELECT of rules, with rules.mode when the schema has it; where: "" or a WHERE clause. */
static void
rules_sql(sqlite3 *db, const char *where, char *sql, size_t len)
{
	bool has_mode = has_column(db, "rules", "mode");

	snprintf(sql, len, "SELECT id, priority, from_kind, from_name, from_min, from_max, to_kind, to_name,"
	         " to_min, to_max, action, expires, datetime(expires)%s FROM rules%s",
	         has_mode ? ", mode" : "", where);
}

#define TARGETS_SQL \
	"SELECT t.domain, t.service, t.priority, t.weight, t.port, t.host, a.address" \
	" FROM targets t LEFT JOIN target_addresses a ON a.host = t.host"

/* One integer a query returns (PRAGMA schema_version, max(id) of the audit), or -1. */
static int64_t
query_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int64_t v = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW &&
	    sqlite3_column_type(st, 0) == SQLITE_INTEGER)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* Where the database is: its schema cookie and its last audit row, for policydb_apply. */
static void
note_position(sqlite3 *db, struct policy *p)
{
	p->schema_cookie = query_int(db, "PRAGMA schema_version");
	p->audit_id = query_int(db, "SELECT coalesce(max(id), 0) FROM audit");
}

struct policy *
policydb_load(sqlite3 *db, char *err, size_t errlen)
{
	struct policy *p = NULL;
	int64_t version, serial;
	bool own = sqlite3_get_autocommit(db) != 0; /* not inside the caller's transaction */
	char rules[512], domains[256], identities[256];

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
	rules_sql(db, "", rules, sizeof(rules));
	domains_sql(db, " ORDER BY name", domains, sizeof(domains));
	identities_sql(db, "", identities, sizeof(identities));
	/* the domain index is kept as domains are added: the rows below find them at once */
	if (for_each_row(db, p, domains, row_domain, err, errlen) != 0 ||
	    for_each_row(db, p, "SELECT name FROM groups ORDER BY name", row_group, err, errlen) != 0 ||
	    for_each_row(db, p, "SELECT domain, grp FROM memberships", row_membership, err,
	                 errlen) != 0 ||
	    for_each_row(db, p, identities, row_identity, err, errlen) != 0 ||
	    for_each_row(db, p,
	                 "SELECT a.value FROM identities a JOIN identities b ON a.kind = 'cidr'"
	                 " AND b.kind = 'cidr' AND b.value IN (a.value || '/32', a.value || '/128')",
	                 row_identity_twice, err, errlen) != 0 ||
	    for_each_row(db, p, rules, row_rule, err, errlen) != 0 ||
	    for_each_row(db, p, "SELECT host, address FROM target_addresses", row_target_address, err,
	                 errlen) != 0 ||
	    for_each_row(db, p,
	                 TARGETS_SQL " ORDER BY t.domain, t.service, t.priority, t.weight, t.host, t.port",
	                 row_target, err, errlen) != 0)
		goto fail;
	if (policy_finish(p) != 0) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	note_position(db, p);
	if (own)
		sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	return p;
fail:
	if (own)
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	policy_free(p);
	return NULL;
}

/* ------------------------------------------------------------ applying the audit log */

/* A set of names (text), or of rule ids: collected, then sorted and made unique. */
struct keyset {
	char **names;
	int64_t *ids;
	size_t n, cap;
};

static int
keyset_add_name(struct keyset *k, const char *name)
{
	if (k->n == k->cap) {
		size_t ncap = k->cap ? k->cap * 2 : 16;
		char **nn = realloc(k->names, ncap * sizeof(*nn));
		if (!nn)
			return -1;
		k->names = nn;
		k->cap = ncap;
	}
	k->names[k->n] = strdup(name);
	return k->names[k->n++] ? 0 : -1;
}

static int
keyset_add_id(struct keyset *k, int64_t id)
{
	if (k->n == k->cap) {
		size_t ncap = k->cap ? k->cap * 2 : 16;
		int64_t *ni = realloc(k->ids, ncap * sizeof(*ni));
		if (!ni)
			return -1;
		k->ids = ni;
		k->cap = ncap;
	}
	k->ids[k->n++] = id;
	return 0;
}

static int
cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
cmp_id(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static void
keyset_unique(struct keyset *k)
{
	size_t n = 0;

	if (k->names) {
		qsort(k->names, k->n, sizeof(*k->names), cmp_name);
		for (size_t i = 0; i < k->n; i++) {
			if (n && strcmp(k->names[n - 1], k->names[i]) == 0)
				free(k->names[i]);
			else
				k->names[n++] = k->names[i];
		}
	} else if (k->ids) {
		qsort(k->ids, k->n, sizeof(*k->ids), cmp_id);
		for (size_t i = 0; i < k->n; i++)
			if (!n || k->ids[n - 1] != k->ids[i])
				k->ids[n++] = k->ids[i];
	}
	k->n = n;
}

static void
keyset_free(struct keyset *k)
{
	for (size_t i = 0; k->names && i < k->n; i++)
		free(k->names[i]);
	free(k->names);
	free(k->ids);
	memset(k, 0, sizeof(*k));
}

/* What the audit rows since the snapshot touched; each entry is read again from its table. */
struct touched {
	struct keyset groups, domains;   /* names */
	struct keyset members, targets;  /* domain names whose memberships / targets changed */
	struct keyset hosts;             /* target hosts whose addresses changed */
	struct keyset identities;        /* "kind value" */
	struct keyset rules;             /* ids */
	int64_t last_id;                 /* the last audit row */
	size_t rows;
};

static void
touched_free(struct touched *t)
{
	keyset_free(&t->groups);
	keyset_free(&t->domains);
	keyset_free(&t->members);
	keyset_free(&t->targets);
	keyset_free(&t->hosts);
	keyset_free(&t->identities);
	keyset_free(&t->rules);
}

/* Columns of the audit query: old and new value of each key field. */
enum { A_ID, A_SERIAL, A_TBL, A_OP, A_NAME, A_DOMAIN = A_NAME + 2, A_KIND = A_DOMAIN + 2,
       A_VALUE = A_KIND + 2, A_RID = A_VALUE + 2, A_HOST = A_RID + 2 };

#define AUDIT_SQL \
	"SELECT id, serial, tbl, op," \
	" json_extract(old, '$.name'), json_extract(new, '$.name')," \
	" json_extract(old, '$.domain'), json_extract(new, '$.domain')," \
	" json_extract(old, '$.kind'), json_extract(new, '$.kind')," \
	" json_extract(old, '$.value'), json_extract(new, '$.value')," \
	" json_extract(old, '$.id'), json_extract(new, '$.id')," \
	" json_extract(old, '$.host'), json_extract(new, '$.host')" \
	" FROM audit WHERE id > ?1 ORDER BY id"

/*
 * Add the key of one side (col: old, col + 1: new) when that side has a row.
 * 0, 1 when the row lacks the key (the audit is not what this code reads), -1 on no memory.
 */
static int
touch_name(sqlite3_stmt *st, int col, bool has, struct keyset *k)
{
	if (!has)
		return 0;
	const char *v = sqlite3_column_type(st, col) == SQLITE_TEXT ? (const char *)sqlite3_column_text(st, col)
	                                                            : NULL;
	if (!v)
		return 1;
	return keyset_add_name(k, v);
}

/* Read one audit row into t. 0, 1: cannot be applied (why in err), -1: no memory. */
static int
touch_row(sqlite3_stmt *st, struct touched *t, char *err, size_t errlen)
{
	const char *tbl = (const char *)sqlite3_column_text(st, A_TBL);
	const char *op = (const char *)sqlite3_column_text(st, A_OP);
	long long id = sqlite3_column_int64(st, A_ID);
	int rc = 0;

	if (!tbl || !op) {
		snprintf(err, errlen, "audit row %lld has no table or operation", id);
		return 1;
	}
	bool ins = strcmp(op, "insert") == 0, upd = strcmp(op, "update") == 0, del = strcmp(op, "delete") == 0;
	if (!ins && !upd && !del) {
		snprintf(err, errlen, "audit row %lld: %s of %s", id, op, tbl);
		return 1;
	}
	bool o = upd || del, n = ins || upd;
	for (int side = 0; side < 2 && rc == 0; side++) {
		bool has = side ? n : o;
		if (strcmp(tbl, "domains") == 0)
			rc = touch_name(st, A_NAME + side, has, &t->domains);
		else if (strcmp(tbl, "groups") == 0)
			rc = touch_name(st, A_NAME + side, has, &t->groups);
		else if (strcmp(tbl, "memberships") == 0)
			rc = touch_name(st, A_DOMAIN + side, has, &t->members);
		else if (strcmp(tbl, "targets") == 0)
			rc = touch_name(st, A_DOMAIN + side, has, &t->targets);
		else if (strcmp(tbl, "target_addresses") == 0)
			rc = touch_name(st, A_HOST + side, has, &t->hosts);
		else if (strcmp(tbl, "identities") == 0 && has) {
			const char *kind = (const char *)sqlite3_column_text(st, A_KIND + side);
			const char *value = (const char *)sqlite3_column_text(st, A_VALUE + side);
			char key[300];
			if (kind && strcmp(kind, "cidr") != 0) {
				/* keys and certificate names: rare, read by a full build */
				snprintf(err, errlen, "audit row %lld: a %s identity changed", id, kind);
				return 1;
			}
			if (!kind || !value || snprintf(key, sizeof(key), "%s %s", kind, value) >= (int)sizeof(key))
				rc = 1;
			else
				rc = keyset_add_name(&t->identities, key);
		} else if (strcmp(tbl, "rules") == 0 && has) {
			if (sqlite3_column_type(st, A_RID + side) != SQLITE_INTEGER)
				rc = 1;
			else
				rc = keyset_add_id(&t->rules, sqlite3_column_int64(st, A_RID + side));
		} else if (strcmp(tbl, "identities") != 0 && strcmp(tbl, "rules") != 0) {
			snprintf(err, errlen, "audit row %lld: table %s", id, tbl);
			return 1;
		}
	}
	if (rc == 1)
		snprintf(err, errlen, "audit row %lld (%s %s) lacks its key", id, op, tbl);
	return rc;
}

/* Prepared statements of one apply. */
struct apply {
	sqlite3 *db;
	struct policy *p;
	char *err;
	size_t errlen;
	sqlite3_stmt *domain, *group, *members, *identity, *twice, *rule, *targets, *host_addrs,
	             *host_domains;
	/* domains and groups removed: nothing may name them afterwards */
	uint32_t *gone_domains, *gone_groups;
	size_t ngone_domains, ngone_groups;
};

static void
apply_finalize(struct apply *a)
{
	sqlite3_finalize(a->domain);
	sqlite3_finalize(a->group);
	sqlite3_finalize(a->members);
	sqlite3_finalize(a->identity);
	sqlite3_finalize(a->twice);
	sqlite3_finalize(a->rule);
	sqlite3_finalize(a->targets);
	sqlite3_finalize(a->host_addrs);
	sqlite3_finalize(a->host_domains);
	free(a->gone_domains);
	free(a->gone_groups);
}

static int
prepare(struct apply *a, const char *sql, sqlite3_stmt **st)
{
	if (sqlite3_prepare_v2(a->db, sql, -1, st, NULL) != SQLITE_OK) {
		snprintf(a->err, a->errlen, "%s", sqlite3_errmsg(a->db));
		return -1;
	}
	return 0;
}

/* Run st bound to text key and call row() for each row; st is reset. 0 or -1. */
static int
each_row_of(struct apply *a, sqlite3_stmt *st, const char *key, row_fn row)
{
	int rc;

	sqlite3_reset(st);
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if (row(a->p, st, a->err, a->errlen) != 0) {
			sqlite3_reset(st);
			return -1;
		}
	if (rc != SQLITE_DONE) {
		snprintf(a->err, a->errlen, "%s", sqlite3_errmsg(a->db));
		sqlite3_reset(st);
		return -1;
	}
	sqlite3_reset(st);
	return 0;
}

/* Step st once: 1 a row, 0 none, -1 an error (in err). */
static int
step_one(struct apply *a, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	snprintf(a->err, a->errlen, "%s", sqlite3_errmsg(a->db));
	return -1;
}

static int
remember(uint32_t **list, size_t *n, uint32_t v)
{
	uint32_t *nl = realloc(*list, (*n + 1) * sizeof(*nl));

	if (!nl)
		return -1;
	nl[(*n)++] = v;
	*list = nl;
	return 0;
}

static int
apply_groups(struct apply *a, const struct keyset *names)
{
	for (size_t i = 0; i < names->n; i++) {
		const char *name = names->names[i];
		uint32_t g = policy_find_group(a->p, name);
		sqlite3_reset(a->group);
		sqlite3_bind_text(a->group, 1, name, -1, SQLITE_STATIC);
		int rc = step_one(a, a->group);
		if (rc < 0)
			return -1;
		if (rc == 1 && g == POLICY_NONE) {
			if (row_group(a->p, a->group, a->err, a->errlen) != 0)
				return -1;
		} else if (rc == 0 && g != POLICY_NONE) {
			if (policy_remove_group(a->p, g) != 0 || remember(&a->gone_groups, &a->ngone_groups, g))
				goto nomem;
		}
	}
	sqlite3_reset(a->group);
	return 0;
nomem:
	snprintf(a->err, a->errlen, "out of memory");
	return -1;
}

/* Domains: added, changed, removed. New domains join members and targets (read afresh). */
static int
apply_domains(struct apply *a, const struct keyset *names, struct touched *t)
{
	for (size_t i = 0; i < names->n; i++) {
		const char *name = names->names[i];
		uint32_t d = policy_find_domain(a->p, name);
		sqlite3_reset(a->domain);
		sqlite3_bind_text(a->domain, 1, name, -1, SQLITE_STATIC);
		int rc = step_one(a, a->domain);
		if (rc < 0)
			return -1;
		if (rc == 1 && d == POLICY_NONE) {
			if (row_domain(a->p, a->domain, a->err, a->errlen) != 0)
				return -1;
			if (keyset_add_name(&t->members, name) != 0 || keyset_add_name(&t->targets, name) != 0)
				goto nomem;
		} else if (rc == 1) {
			int64_t level, enabled;
			const struct policy_domain *dom = &a->p->domains[d];
			if (!col_int(a->domain, 1, 0, LEVEL_MAX, &level) || !col_int(a->domain, 2, 0, 1, &enabled)) {
				snprintf(a->err, a->errlen, "domain '%s': level must be an integer from 0 to "
				         "2147483647, enabled 0 or 1", name);
				return -1;
			}
			if ((dom->level != (uint32_t)level || dom->enabled != (enabled != 0)) &&
			    policy_set_domain(a->p, d, (uint32_t)level, enabled != 0) != 0)
				goto nomem;
			int require = col_require(a->domain, 3);
			if (require < 0) {
				snprintf(a->err, a->errlen, "domain '%s': require_identity must be source, cert "
				         "or tsig", name);
				return -1;
			}
			if (dom->require != (unsigned)require &&
			    policy_set_domain_require(a->p, d, (enum policy_identity)require) != 0)
				goto nomem;
		} else if (d != POLICY_NONE) {
			if (policy_clear_targets(a->p, d) != 0 || policy_remove_domain(a->p, d) != 0 ||
			    remember(&a->gone_domains, &a->ngone_domains, d) != 0)
				goto nomem;
		}
	}
	sqlite3_reset(a->domain);
	return 0;
nomem:
	snprintf(a->err, a->errlen, "out of memory");
	return -1;
}

static int
apply_members(struct apply *a, const struct keyset *names)
{
	uint32_t *list = NULL;
	size_t n = 0, cap = 0;
	int ret = -1;

	for (size_t i = 0; i < names->n; i++) {
		const char *name = names->names[i];
		uint32_t d = policy_find_domain(a->p, name);
		int rc;
		if (d == POLICY_NONE)
			continue; /* removed, with its memberships */
		n = 0;
		sqlite3_reset(a->members);
		sqlite3_bind_text(a->members, 1, name, -1, SQLITE_STATIC);
		while ((rc = step_one(a, a->members)) == 1) {
			const char *gn = col_text(a->members, 0);
			uint32_t g = gn ? policy_find_group(a->p, gn) : POLICY_NONE;
			if (g == POLICY_NONE) {
				snprintf(a->err, a->errlen, "membership %s in %s: unknown domain or group", name,
				         gn ? gn : "");
				goto out;
			}
			if (n == cap) {
				cap = cap ? cap * 2 : 16;
				uint32_t *nl = realloc(list, cap * sizeof(*nl));
				if (!nl)
					goto nomem;
				list = nl;
			}
			list[n++] = g;
		}
		if (rc < 0)
			goto out;
		const struct policy_domain *dom = &a->p->domains[d];
		bool same = dom->ngroups == n;
		for (size_t k = 0; same && k < n; k++)
			same = policy_selector_matches(a->p, &(struct policy_selector){ .kind = SEL_GROUP, .index = list[k] }, d);
		if (!same && policy_set_groups(a->p, d, list, n) != 0)
			goto nomem;
	}
	ret = 0;
	goto out;
nomem:
	snprintf(a->err, a->errlen, "out of memory");
out:
	sqlite3_reset(a->members);
	free(list);
	return ret;
}

/* Identities: every touched prefix unbound, then bound again as its row now says. */
static int
apply_identities(struct apply *a, const struct keyset *keys)
{
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < keys->n; i++) {
			char kind[16];
			const char *value = strchr(keys->names[i], ' ');
			struct netaddr prefix;
			const char *why;
			if (!value || (size_t)(value - keys->names[i]) >= sizeof(kind))
				continue;
			memcpy(kind, keys->names[i], (size_t)(value - keys->names[i]));
			kind[value - keys->names[i]] = '\0';
			value++;
			bool cidr = strcmp(kind, "cidr") == 0;
			bool parsed = cidr && netaddr_parse_db(value, false, &prefix, &why, NULL, 0) == 0;
			if (pass == 0) {
				if (parsed)
					policy_remove_cidr(a->p, &prefix);
				continue;
			}
			sqlite3_reset(a->identity);
			sqlite3_bind_text(a->identity, 1, kind, -1, SQLITE_STATIC);
			sqlite3_bind_text(a->identity, 2, value, -1, SQLITE_STATIC);
			int rc = step_one(a, a->identity);
			if (rc < 0)
				return -1;
			if (rc == 1 && row_identity(a->p, a->identity, a->err, a->errlen) != 0)
				return -1;
			if (rc == 1 && parsed && prefix.prefix == (prefix.family == AF_INET6 ? 128 : 32)) {
				/* the same host written both ways (bare and with /32 or /128) */
				char bare[NETADDR_TEXT_MAX], full[NETADDR_TEXT_MAX + 8];
				netaddr_format_addr(&prefix, bare, sizeof(bare));
				snprintf(full, sizeof(full), "%s/%u", bare, prefix.prefix);
				sqlite3_reset(a->twice);
				sqlite3_bind_text(a->twice, 1, bare, -1, SQLITE_STATIC);
				sqlite3_bind_text(a->twice, 2, full, -1, SQLITE_STATIC);
				if (step_one(a, a->twice) != 1)
					return -1;
				if (sqlite3_column_int64(a->twice, 0) > 1) {
					snprintf(a->err, a->errlen, "identity '%s': the same prefix is already stored "
					         "with (or without) its /32 or /128", bare);
					sqlite3_reset(a->twice);
					return -1;
				}
				sqlite3_reset(a->twice);
			}
		}
	}
	sqlite3_reset(a->identity);
	return 0;
}

static int
apply_rules(struct apply *a, const struct keyset *ids)
{
	for (size_t i = 0; i < ids->n; i++) {
		int rc;
		if (policy_remove_rule(a->p, ids->ids[i]) != 0) {
			snprintf(a->err, a->errlen, "out of memory");
			return -1;
		}
		sqlite3_reset(a->rule);
		sqlite3_bind_int64(a->rule, 1, ids->ids[i]);
		if ((rc = step_one(a, a->rule)) < 0)
			return -1;
		if (rc == 1 && row_rule(a->p, a->rule, a->err, a->errlen) != 0)
			return -1;
	}
	sqlite3_reset(a->rule);
	return 0;
}

/* Target hosts whose addresses changed: their rows checked, their domains' targets read again. */
static int
apply_hosts(struct apply *a, const struct keyset *hosts, struct keyset *domains)
{
	for (size_t i = 0; i < hosts->n; i++) {
		const char *host = hosts->names[i];
		uint8_t wire[DNAME_MAXLEN];
		size_t first = 0, n;
		int rc;
		if (each_row_of(a, a->host_addrs, host, row_target_address) != 0)
			return -1;
		/* the domains with a target there, before and now */
		n = dname_from_text(host, wire) ? policy_find_target_host(a->p, wire, &first) : 0;
		for (size_t k = 0; k < n; k++) {
			uint32_t d = a->p->targets[a->p->targets_by_host[first + k]].domain;
			if (d != POLICY_NONE && keyset_add_name(domains, a->p->domains[d].name) != 0)
				goto nomem;
		}
		sqlite3_reset(a->host_domains);
		sqlite3_bind_text(a->host_domains, 1, host, -1, SQLITE_STATIC);
		while ((rc = step_one(a, a->host_domains)) == 1) {
			const char *dn = col_text(a->host_domains, 0);
			if (dn && keyset_add_name(domains, dn) != 0)
				goto nomem;
		}
		sqlite3_reset(a->host_domains);
		if (rc < 0)
			return -1;
	}
	return 0;
nomem:
	snprintf(a->err, a->errlen, "out of memory");
	return -1;
}

static int
apply_targets(struct apply *a, const struct keyset *names)
{
	for (size_t i = 0; i < names->n; i++) {
		uint32_t d = policy_find_domain(a->p, names->names[i]);
		if (d == POLICY_NONE)
			continue; /* removed, with its targets */
		if (policy_clear_targets(a->p, d) != 0) {
			snprintf(a->err, a->errlen, "out of memory");
			return -1;
		}
		if (each_row_of(a, a->targets, names->names[i], row_target) != 0)
			return -1;
	}
	return 0;
}

/* Nothing may name a removed domain or group: else the database is not what it promises. */
static int
check_removed(struct apply *a)
{
	const struct policy *p = a->p;

	if (!a->ngone_domains && !a->ngone_groups)
		return 0;
	for (size_t i = 0; i < a->ngone_domains; i++)
		if (prefixmap_has_value(p->cidrs, a->gone_domains[i]))
			goto named;
	for (size_t d = 0; a->ngone_groups && d < p->ndomains; d++)
		for (size_t k = 0; k < p->domains[d].ngroups; k++)
			for (size_t g = 0; g < a->ngone_groups; g++)
				if (p->domains[d].groups[k] == a->gone_groups[g])
					goto named;
	for (size_t i = 0; i < p->nrules; i++) {
		const struct policy_selector *s[2] = { &p->rules[i].from, &p->rules[i].to };
		for (int k = 0; k < 2; k++) {
			if (s[k]->kind == SEL_DOMAIN)
				for (size_t g = 0; g < a->ngone_domains; g++)
					if (s[k]->index == a->gone_domains[g])
						goto named;
			if (s[k]->kind == SEL_GROUP)
				for (size_t g = 0; g < a->ngone_groups; g++)
					if (s[k]->index == a->gone_groups[g])
						goto named;
		}
	}
	for (size_t i = 0; i < p->ntargets; i++)
		for (size_t g = 0; g < a->ngone_domains; g++)
			if (p->targets[i].domain == a->gone_domains[g])
				goto named;
	return 0;
named:
	snprintf(a->err, a->errlen, "a removed domain or group is still named");
	return -1;
}

/* Read the audit rows after base's position into t. 0, 1: cannot apply (err), -1: error (err). */
static int
read_audit(sqlite3 *db, const struct policy *base, int64_t serial, size_t max_changes,
           struct touched *t, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int64_t expect = (int64_t)base->serial + 1;
	int rc, ret = 0;

	if (sqlite3_prepare_v2(db, AUDIT_SQL, -1, &st, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "audit: %s", sqlite3_errmsg(db));
		return 1;
	}
	sqlite3_bind_int64(st, 1, base->audit_id);
	t->last_id = base->audit_id;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t s = sqlite3_column_int64(st, A_SERIAL);
		if (s != expect) {
			snprintf(err, errlen, "audit row %lld has serial %lld, not %lld",
			         (long long)sqlite3_column_int64(st, A_ID), (long long)s, (long long)expect);
			ret = 1;
			break;
		}
		if (++t->rows > max_changes) {
			snprintf(err, errlen, "more than %zu changes", max_changes);
			ret = 1;
			break;
		}
		expect++;
		t->last_id = sqlite3_column_int64(st, A_ID);
		if ((ret = touch_row(st, t, err, errlen)) != 0)
			break;
	}
	if (ret == 0 && rc != SQLITE_DONE) {
		snprintf(err, errlen, "audit: %s", sqlite3_errmsg(db));
		ret = 1;
	}
	if (ret == 0 && expect != serial + 1) {
		snprintf(err, errlen, "the audit log ends at serial %lld, the database is at %lld",
		         (long long)expect - 1, (long long)serial);
		ret = 1;
	}
	if (ret == -1)
		snprintf(err, errlen, "out of memory");
	sqlite3_finalize(st);
	return ret;
}

struct policy *
policydb_apply(sqlite3 *db, const struct policy *base, size_t max_changes,
               enum policydb_apply_status *status, char *err, size_t errlen)
{
	bool own = sqlite3_get_autocommit(db) != 0;
	struct touched t;
	struct apply a;
	struct policy *p = NULL;
	char rules[512], domains[256];

	memset(&t, 0, sizeof(t));
	memset(&a, 0, sizeof(a));
	*status = POLICYDB_REBUILD;
	if (base->audit_id < 0 || base->schema_cookie < 0) {
		snprintf(err, errlen, "the snapshot does not know its place in the audit log");
		return NULL;
	}
	if (policy_wants_rebuild(base)) {
		snprintf(err, errlen, "the snapshot holds many removed entries");
		return NULL;
	}
	if (own && sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "begin: %s", sqlite3_errmsg(db));
		return NULL;
	}
	int64_t version = policydb_schema_version(db, err, errlen);
	int64_t serial = version > 0 ? policydb_serial(db, err, errlen) : -1;
	if (version < 0 || serial < 0)
		goto out;
	if (version != POLICYDB_SCHEMA_VERSION ||
	    query_int(db, "PRAGMA schema_version") != base->schema_cookie) {
		snprintf(err, errlen, "the schema changed");
		goto out;
	}
	if (serial == (int64_t)base->serial) {
		if (query_int(db, "SELECT coalesce(max(id), 0) FROM audit") == base->audit_id)
			*status = POLICYDB_UNCHANGED;
		else
			snprintf(err, errlen, "audit rows without a new serial");
		goto out;
	}
	if (serial < (int64_t)base->serial || (uint64_t)(serial - (int64_t)base->serial) > max_changes) {
		snprintf(err, errlen, "serial %lld after %llu", (long long)serial,
		         (unsigned long long)base->serial);
		goto out;
	}
	int rc = read_audit(db, base, serial, max_changes, &t, err, errlen);
	if (rc != 0)
		goto out;
	keyset_unique(&t.groups);
	keyset_unique(&t.domains);
	keyset_unique(&t.hosts);
	keyset_unique(&t.identities);
	keyset_unique(&t.rules);
	p = policy_derive(base, (uint64_t)serial);
	if (!p) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	a.db = db;
	a.p = p;
	a.err = err;
	a.errlen = errlen;
	rules_sql(db, " WHERE id = ?1", rules, sizeof(rules));
	domains_sql(db, " WHERE name = ?1", domains, sizeof(domains));
	if (prepare(&a, domains, &a.domain) ||
	    prepare(&a, "SELECT name FROM groups WHERE name = ?1", &a.group) ||
	    prepare(&a, "SELECT grp FROM memberships WHERE domain = ?1", &a.members) ||
	    prepare(&a, "SELECT kind, value, domain FROM identities WHERE kind = ?1 AND value = ?2",
	            &a.identity) ||
	    prepare(&a, "SELECT count(*) FROM identities WHERE kind = 'cidr' AND value IN (?1, ?2)",
	            &a.twice) ||
	    prepare(&a, rules, &a.rule) ||
	    prepare(&a, TARGETS_SQL " WHERE t.domain = ?1 ORDER BY t.service, t.priority, t.weight,"
	            " t.host, t.port", &a.targets) ||
	    prepare(&a, "SELECT host, address FROM target_addresses WHERE host = ?1", &a.host_addrs) ||
	    prepare(&a, "SELECT DISTINCT domain FROM targets WHERE host = ?1", &a.host_domains))
		goto fail;
	/* in dependency order: names first, then what refers to them */
	if (apply_groups(&a, &t.groups) != 0 || apply_domains(&a, &t.domains, &t) != 0 ||
	    apply_hosts(&a, &t.hosts, &t.targets) != 0)
		goto fail;
	keyset_unique(&t.members);
	keyset_unique(&t.targets);
	if (apply_members(&a, &t.members) != 0 || apply_identities(&a, &t.identities) != 0 ||
	    apply_rules(&a, &t.rules) != 0 || apply_targets(&a, &t.targets) != 0)
		goto fail;
	if (policy_finish(p) != 0) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (check_removed(&a) != 0)
		goto fail;
	p->audit_id = t.last_id;
	p->schema_cookie = base->schema_cookie;
	*status = POLICYDB_APPLIED;
	goto out;
fail:
	policy_free(p);
	p = NULL;
out:
	apply_finalize(&a);
	touched_free(&t);
	if (own)
		sqlite3_exec(db, p ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL);
	return p;
}

bool
policydb_readable_by_others(const char *path, char *file, size_t len)
{
	static const char *const suffixes[] = { "", "-wal", "-shm" };

	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		struct stat sb;
		snprintf(file, len, "%s%s", path, suffixes[i]);
		if (stat(file, &sb) == 0 && (sb.st_mode & S_IROTH))
			return true;
	}
	return false;
}

void
policydb_remove(const char *path)
{
	static const char *const suffixes[] = { "-wal", "-shm", "-journal" };
	char side[PATH_MAX];

	unlink(path);
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		snprintf(side, sizeof(side), "%s%s", path, suffixes[i]);
		unlink(side);
	}
}
