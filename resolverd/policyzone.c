/*
 * policyzone.c -- the policy as a DNS zone: the writer and the reader share
 * the table list below, so what one writes the other reads, and the reader
 * checks a zone by writing back the rows it built and comparing.
 */
#include "config.h"
#include "policyzone.h"
#include "dname.h"
#include "policy.h"
#include "policydb.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

/*
 * One table: its owner label, the row's key and the row as JSON (every
 * column by name: a column added later, e.g. a secret, is never written
 * unless it is listed here), and the insert that reads that JSON back.
 */
struct pz_table {
	const char *label;
	const char *select;   /* key JSON, row JSON */
	const char *insert;   /* ?1: the row JSON */
	const char *update;   /* ?1: the row JSON; the columns outside the key (NULL: all are key) */
	const char *delete;   /* ?1: the row JSON; by its key */
};

static const struct pz_table pz_tables[POLICYZONE_NTABLES] = {
	{ "domains",
	  "SELECT json_array(name), json_object('name', name, 'level', level, 'enabled', enabled,"
	  " 'note', note, 'require_identity', require_identity) FROM domains",
	  "INSERT INTO domains (name, level, enabled, note, require_identity) VALUES"
	  " (json_extract(?1, '$.name'), json_extract(?1, '$.level'), json_extract(?1, '$.enabled'),"
	  " json_extract(?1, '$.note'), json_extract(?1, '$.require_identity'))",
	  "UPDATE domains SET level = json_extract(?1, '$.level'), enabled = json_extract(?1, '$.enabled'),"
	  " note = json_extract(?1, '$.note'), require_identity = json_extract(?1, '$.require_identity')"
	  " WHERE name = json_extract(?1, '$.name')",
	  "DELETE FROM domains WHERE name = json_extract(?1, '$.name')" },
	{ "groups",
	  "SELECT json_array(name), json_object('name', name, 'note', note) FROM groups",
	  "INSERT INTO groups (name, note) VALUES (json_extract(?1, '$.name'), json_extract(?1, '$.note'))",
	  "UPDATE groups SET note = json_extract(?1, '$.note') WHERE name = json_extract(?1, '$.name')",
	  "DELETE FROM groups WHERE name = json_extract(?1, '$.name')" },
	{ "memberships",
	  "SELECT json_array(domain, grp), json_object('domain', domain, 'grp', grp) FROM memberships",
	  "INSERT INTO memberships (domain, grp) VALUES (json_extract(?1, '$.domain'),"
	  " json_extract(?1, '$.grp'))",
	  NULL,
	  "DELETE FROM memberships WHERE domain = json_extract(?1, '$.domain') AND grp = json_extract(?1, '$.grp')" },
	{ "identities",
	  /* TSIG keys stay at the primary: the zone carries no secret (docs/policy-zone.md) */
	  "SELECT json_array(kind, value), json_object('kind', kind, 'value', value, 'domain', domain,"
	  " 'note', note) FROM identities WHERE kind <> 'tsig'",
	  "INSERT INTO identities (kind, value, domain, note) VALUES (json_extract(?1, '$.kind'),"
	  " json_extract(?1, '$.value'), json_extract(?1, '$.domain'), json_extract(?1, '$.note'))",
	  "UPDATE identities SET domain = json_extract(?1, '$.domain'), note = json_extract(?1, '$.note')"
	  " WHERE kind = json_extract(?1, '$.kind') AND value = json_extract(?1, '$.value')",
	  "DELETE FROM identities WHERE kind = json_extract(?1, '$.kind') AND value = json_extract(?1, '$.value')" },
	{ "rules",
	  "SELECT json_array(id), json_object('id', id, 'priority', priority, 'from_kind', from_kind,"
	  " 'from_name', from_name, 'from_min', from_min, 'from_max', from_max, 'to_kind', to_kind,"
	  " 'to_name', to_name, 'to_min', to_min, 'to_max', to_max, 'action', action, 'expires',"
	  " expires, 'note', note, 'mode', mode) FROM rules",
	  /* expires is set afterwards: see build_rows() */
	  "INSERT INTO rules (id, priority, from_kind, from_name, from_min, from_max, to_kind, to_name,"
	  " to_min, to_max, action, expires, note, mode) VALUES (json_extract(?1, '$.id'),"
	  " json_extract(?1, '$.priority'), json_extract(?1, '$.from_kind'),"
	  " json_extract(?1, '$.from_name'), json_extract(?1, '$.from_min'),"
	  " json_extract(?1, '$.from_max'), json_extract(?1, '$.to_kind'), json_extract(?1, '$.to_name'),"
	  " json_extract(?1, '$.to_min'), json_extract(?1, '$.to_max'), json_extract(?1, '$.action'),"
	  " NULL, json_extract(?1, '$.note'), json_extract(?1, '$.mode'))",
	  "UPDATE rules SET priority = json_extract(?1, '$.priority'), from_kind = json_extract(?1, '$.from_kind'),"
	  " from_name = json_extract(?1, '$.from_name'), from_min = json_extract(?1, '$.from_min'),"
	  " from_max = json_extract(?1, '$.from_max'), to_kind = json_extract(?1, '$.to_kind'),"
	  " to_name = json_extract(?1, '$.to_name'), to_min = json_extract(?1, '$.to_min'),"
	  " to_max = json_extract(?1, '$.to_max'), action = json_extract(?1, '$.action'),"
	  " expires = json_extract(?1, '$.expires'), note = json_extract(?1, '$.note'),"
	  " mode = json_extract(?1, '$.mode') WHERE id = json_extract(?1, '$.id')",
	  "DELETE FROM rules WHERE id = json_extract(?1, '$.id')" },
	{ "targets",
	  "SELECT json_array(domain, service, host, port), json_object('domain', domain, 'service',"
	  " service, 'priority', priority, 'weight', weight, 'port', port, 'host', host) FROM targets",
	  "INSERT INTO targets (domain, service, priority, weight, port, host) VALUES"
	  " (json_extract(?1, '$.domain'), json_extract(?1, '$.service'), json_extract(?1, '$.priority'),"
	  " json_extract(?1, '$.weight'), json_extract(?1, '$.port'), json_extract(?1, '$.host'))",
	  "UPDATE targets SET priority = json_extract(?1, '$.priority'), weight = json_extract(?1, '$.weight')"
	  " WHERE domain = json_extract(?1, '$.domain') AND service = json_extract(?1, '$.service')"
	  " AND host = json_extract(?1, '$.host') AND port = json_extract(?1, '$.port')",
	  "DELETE FROM targets WHERE domain = json_extract(?1, '$.domain') AND service = json_extract(?1, '$.service')"
	  " AND host = json_extract(?1, '$.host') AND port = json_extract(?1, '$.port')" },
	{ "target-addresses",
	  "SELECT json_array(host, address), json_object('host', host, 'address', address)"
	  " FROM target_addresses",
	  "INSERT INTO target_addresses (host, address) VALUES (json_extract(?1, '$.host'),"
	  " json_extract(?1, '$.address'))",
	  NULL,
	  "DELETE FROM target_addresses WHERE host = json_extract(?1, '$.host') AND address = json_extract(?1, '$.address')" },
};

/* SOA timers and TTL of every record (docs/policy-zone.md says why these) */
#define PZ_TTL 60
#define PZ_REFRESH 60
#define PZ_RETRY 10
#define PZ_EXPIRE 2419200
#define PZ_MINIMUM 60
#define PZ_HASH_HEX 32   /* the owner label: the first 16 bytes of SHA-256, in hex */

const char *
policyzone_table(int i)
{
	return i >= 0 && i < POLICYZONE_NTABLES ? pz_tables[i].label : "?";
}

/* One row as it appears in the zone. */
struct pz_row {
	int table;
	char label[PZ_HASH_HEX + 1];
	char *json;
};

struct pz_rows {
	struct pz_row *v;
	size_t n, cap;
};

static void
rows_free(struct pz_rows *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->v[i].json);
	free(r->v);
	memset(r, 0, sizeof(*r));
}

static int
rows_add(struct pz_rows *r, int table, const char *label, char *json)
{
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 256;
		struct pz_row *v = realloc(r->v, cap * sizeof(*v));
		if (!v)
			return -1;
		r->v = v;
		r->cap = cap;
	}
	r->v[r->n].table = table;
	snprintf(r->v[r->n].label, sizeof(r->v[r->n].label), "%s", label);
	r->v[r->n].json = json;
	r->n++;
	return 0;
}

/* Zone order: table, then label. */
static int
row_cmp(const void *a, const void *b)
{
	const struct pz_row *x = a, *y = b;

	if (x->table != y->table)
		return x->table < y->table ? -1 : 1;
	return strcmp(x->label, y->label);
}

/* Sort rows into zone order (none: nothing to sort, and qsort must not see a NULL array). */
static void
rows_sort(struct pz_rows *r)
{
	if (r->n)
		qsort(r->v, r->n, sizeof(*r->v), row_cmp);
}

/* The owner label of a row: SHA-256 over "table NUL key-JSON", 16 bytes in hex. */
static int
row_label(int table, const char *key, char out[PZ_HASH_HEX + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	const char *t = pz_tables[table].label;
	int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
	         EVP_DigestUpdate(ctx, t, strlen(t) + 1) == 1 &&
	         EVP_DigestUpdate(ctx, key, strlen(key)) == 1 && EVP_DigestFinal_ex(ctx, md, &mdlen) == 1;

	EVP_MD_CTX_free(ctx);
	if (!ok)
		return -1;
	for (int i = 0; i < PZ_HASH_HEX / 2; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	return 0;
}

/* The digest of _meta: SHA-256 over "table label json\n" for every row in zone order, hex. */
static int
rows_digest(const struct pz_rows *r, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1;

	for (size_t i = 0; ok && i < r->n; i++) {
		const char *t = pz_tables[r->v[i].table].label;
		ok = EVP_DigestUpdate(ctx, t, strlen(t)) == 1 && EVP_DigestUpdate(ctx, " ", 1) == 1 &&
		     EVP_DigestUpdate(ctx, r->v[i].label, strlen(r->v[i].label)) == 1 &&
		     EVP_DigestUpdate(ctx, " ", 1) == 1 &&
		     EVP_DigestUpdate(ctx, r->v[i].json, strlen(r->v[i].json)) == 1 &&
		     EVP_DigestUpdate(ctx, "\n", 1) == 1;
	}
	ok = ok && EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen == 32;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return -1;
	for (unsigned i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	return 0;
}

/* Every row of db, sorted in zone order. -1 with err set. */
static int
rows_collect(sqlite3 *db, struct pz_rows *r, char *err, size_t errlen)
{
	memset(r, 0, sizeof(*r));
	for (int t = 0; t < POLICYZONE_NTABLES; t++) {
		sqlite3_stmt *st;
		int rc;
		if (sqlite3_prepare_v2(db, pz_tables[t].select, -1, &st, NULL) != SQLITE_OK) {
			snprintf(err, errlen, "%s: %s", pz_tables[t].label, sqlite3_errmsg(db));
			rows_free(r);
			return -1;
		}
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			char label[PZ_HASH_HEX + 1];
			const char *key = (const char *)sqlite3_column_text(st, 0);
			const char *json = (const char *)sqlite3_column_text(st, 1);
			char *copy = json ? strdup(json) : NULL;
			if (!key || !copy || row_label(t, key, label) != 0 || rows_add(r, t, label, copy) != 0) {
				free(copy);
				snprintf(err, errlen, "out of memory");
				sqlite3_finalize(st);
				rows_free(r);
				return -1;
			}
		}
		if (rc != SQLITE_DONE) {
			snprintf(err, errlen, "%s: %s", pz_tables[t].label, sqlite3_errmsg(db));
			sqlite3_finalize(st);
			rows_free(r);
			return -1;
		}
		sqlite3_finalize(st);
	}
	rows_sort(r);
	for (size_t i = 1; i < r->n; i++)
		if (row_cmp(&r->v[i - 1], &r->v[i]) == 0) {
			snprintf(err, errlen, "two %s rows hash to the same label %s", pz_tables[r->v[i].table].label,
			         r->v[i].label);
			rows_free(r);
			return -1;
		}
	return 0;
}

static void
rows_info(const struct pz_rows *r, int64_t serial, struct policyzone_info *info)
{
	if (!info)
		return;
	memset(info, 0, sizeof(*info));
	info->serial = serial;
	info->total = r->n;
	for (size_t i = 0; i < r->n; i++)
		info->rows[r->v[i].table]++;
}

/* ------------------------------------------------------------ writer */

/* A character-string in master format: quoted, '"' and '\' escaped, other bytes outside 0x20-0x7e as \DDD. */
static void
put_string(FILE *f, const char *s, size_t len)
{
	fputc('"', f);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20 || c > 0x7e)
			fprintf(f, "\\%03u", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/* The _meta strings, in this order (the reader wants each once). */
static void
put_meta(FILE *f, const char *apex, const struct pz_rows *r, int64_t serial, const char *digest)
{
	size_t counts[POLICYZONE_NTABLES] = { 0 };

	for (size_t i = 0; i < r->n; i++)
		counts[r->v[i].table]++;
	fprintf(f, "_meta.%s. %d IN TXT \"policy-zone=%d\" \"serial=%" PRId64 "\" \"schema=%d\"", apex,
	        PZ_TTL, POLICYZONE_VERSION, serial, POLICYDB_SCHEMA_VERSION);
	for (int t = 0; t < POLICYZONE_NTABLES; t++)
		fprintf(f, " \"%s=%zu\"", pz_tables[t].label, counts[t]);
	fprintf(f, " \"sha256=%s\"\n", digest);
}

int
policyzone_write(sqlite3 *db, const char *apex_in, FILE *f, struct policyzone_info *info,
                 char *err, size_t errlen)
{
	char apex[256];
	uint8_t wire[DNAME_MAXLEN];
	struct pz_rows r = { 0 };
	bool own = sqlite3_get_autocommit(db);
	int ret = -1;

	snprintf(apex, sizeof(apex), "%s", apex_in);
	size_t al = strlen(apex);
	if (al > 1 && apex[al - 1] == '.')
		apex[al - 1] = '\0';
	for (char *c = apex; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	/* the longest owner is <32 hex>.target-addresses.APEX */
	if (!policydb_valid_name(apex) || !dname_from_text(apex, wire) || strlen(apex) > 253 - 51) {
		snprintf(err, errlen, "'%s' is not a domain name that can be the apex (at most 202 characters)",
		         apex_in);
		return -1;
	}
	if (own && sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "begin: %s", sqlite3_errmsg(db));
		return -1;
	}
	int64_t serial = policydb_serial(db, err, errlen);
	if (serial < 0)
		goto out;
	if (serial > UINT32_MAX) {
		snprintf(err, errlen, "serial %" PRId64 " does not fit a SOA serial (32 bits)", serial);
		goto out;
	}
	if (rows_collect(db, &r, err, errlen) != 0)
		goto out;
	char digest[65];
	if (rows_digest(&r, digest) != 0) {
		snprintf(err, errlen, "SHA-256 failed");
		goto out;
	}
	fprintf(f, "; the clearinghouse policy at serial %" PRId64 " (docs/policy-zone.md)\n", serial);
	fprintf(f, "%s. %d IN SOA ns.invalid. hostmaster.invalid. %" PRId64 " %d %d %d %d\n", apex, PZ_TTL,
	        serial, PZ_REFRESH, PZ_RETRY, PZ_EXPIRE, PZ_MINIMUM);
	fprintf(f, "%s. %d IN NS ns.invalid.\n", apex, PZ_TTL);
	put_meta(f, apex, &r, serial, digest);
	for (size_t i = 0; i < r.n; i++) {
		const char *j = r.v[i].json;
		size_t len = strlen(j);
		fprintf(f, "%s.%s.%s. %d IN TXT", r.v[i].label, pz_tables[r.v[i].table].label, apex, PZ_TTL);
		for (size_t off = 0; off < len || off == 0; off += 255) {
			fputc(' ', f);
			put_string(f, j + off, len - off > 255 ? 255 : len - off);
		}
		fputc('\n', f);
	}
	if (ferror(f)) {
		snprintf(err, errlen, "write: %s", strerror(errno));
		goto out;
	}
	rows_info(&r, serial, info);
	ret = 0;
out:
	rows_free(&r);
	if (own)
		sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	return ret;
}

/* ------------------------------------------------------------ reader */

/* The meta fields of _meta.APEX. */
struct pz_meta {
	int64_t version, serial, schema;
	int64_t counts[POLICYZONE_NTABLES];
	char digest[65];
	bool seen;
};

/* "key=value" strings of _meta into m; -1 with err on anything else. */
static int
meta_parse(const ldns_rr *rr, struct pz_meta *m, char *err, size_t errlen)
{
	m->version = m->serial = m->schema = -1;
	for (int t = 0; t < POLICYZONE_NTABLES; t++)
		m->counts[t] = -1;
	m->digest[0] = '\0';
	for (size_t i = 0; i < ldns_rr_rd_count(rr); i++) {
		const ldns_rdf *rdf = ldns_rr_rdf(rr, i);
		const uint8_t *d = ldns_rdf_data(rdf);
		char s[256];
		if (ldns_rdf_size(rdf) < 1 || d[0] + 1u != ldns_rdf_size(rdf))
			goto bad;
		memcpy(s, d + 1, d[0]);
		s[d[0]] = '\0';
		char *eq = strchr(s, '=');
		if (!eq || strlen(s) != d[0])
			goto bad;
		*eq = '\0';
		const char *v = eq + 1;
		int64_t *slot = NULL;
		if (strcmp(s, "sha256") == 0) {
			if (strlen(v) != 64 || strspn(v, "0123456789abcdef") != 64 || m->digest[0])
				goto bad;
			snprintf(m->digest, sizeof(m->digest), "%s", v);
			continue;
		}
		if (strcmp(s, "policy-zone") == 0)
			slot = &m->version;
		else if (strcmp(s, "serial") == 0)
			slot = &m->serial;
		else if (strcmp(s, "schema") == 0)
			slot = &m->schema;
		for (int t = 0; !slot && t < POLICYZONE_NTABLES; t++)
			if (strcmp(s, pz_tables[t].label) == 0)
				slot = &m->counts[t];
		if (!slot || *slot != -1 || !*v || strspn(v, "0123456789") != strlen(v) || strlen(v) > 18)
			goto bad;
		*slot = strtoll(v, NULL, 10);
	}
	if (m->version < 0 || m->serial < 0 || m->schema < 0 || !m->digest[0])
		goto bad;
	for (int t = 0; t < POLICYZONE_NTABLES; t++)
		if (m->counts[t] < 0)
			goto bad;
	m->seen = true;
	return 0;
bad:
	snprintf(err, errlen, "_meta: not the record this code writes (every key once: policy-zone, "
	         "serial, schema, a count per table, sha256)");
	return -1;
}

/* The TXT strings of rr joined; NULL (err set) on a NUL byte or no memory. */
static char *
txt_join(const ldns_rr *rr, char *err, size_t errlen)
{
	size_t len = 0;

	for (size_t i = 0; i < ldns_rr_rd_count(rr); i++)
		len += ldns_rdf_size(ldns_rr_rdf(rr, i));
	char *s = malloc(len + 1), *p = s;
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < ldns_rr_rd_count(rr); i++) {
		const ldns_rdf *rdf = ldns_rr_rdf(rr, i);
		const uint8_t *d = ldns_rdf_data(rdf);
		if (ldns_rdf_size(rdf) < 1 || d[0] + 1u != ldns_rdf_size(rdf) || memchr(d + 1, 0, d[0])) {
			snprintf(err, errlen, "a TXT string with a NUL byte or a bad length");
			free(s);
			return NULL;
		}
		memcpy(p, d + 1, d[0]);
		p += d[0];
	}
	*p = '\0';
	return s;
}

static bool
dnssec_type(ldns_rr_type t)
{
	return t == LDNS_RR_TYPE_RRSIG || t == LDNS_RR_TYPE_NSEC || t == LDNS_RR_TYPE_NSEC3 ||
	       t == LDNS_RR_TYPE_NSEC3PARAM || t == LDNS_RR_TYPE_DNSKEY || t == LDNS_RR_TYPE_CDS ||
	       t == LDNS_RR_TYPE_CDNSKEY || (int)t == 63 /* ZONEMD */;
}

/*
 * Sort the records into rows and the meta record. Only SOA, NS, _meta and
 * row TXT records (and DNSSEC records, if the zone is signed) may be there.
 * m NULL: a part of a zone (the records of a difference): only its rows
 * are taken, the rest is left alone, and the rows are not sorted.
 */
static int
read_records(const char *apex, const ldns_rr_list *rrs, struct pz_rows *r, struct pz_meta *m,
             int64_t *soa_serial, char *err, size_t errlen)
{
	size_t al = strlen(apex);
	int nsoa = 0;

	for (size_t i = 0; i < ldns_rr_list_rr_count(rrs); i++) {
		const ldns_rr *rr = ldns_rr_list_rr(rrs, i);
		ldns_rr_type type = ldns_rr_get_type(rr);
		char *owner = ldns_rdf2str(ldns_rr_owner(rr));
		if (!owner) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		for (char *c = owner; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		size_t ol = strlen(owner);
		if (ol && owner[ol - 1] == '.')
			owner[--ol] = '\0';
		bool at_apex = strcmp(owner, apex) == 0;
		bool below = ol > al + 1 && owner[ol - al - 1] == '.' && strcmp(owner + ol - al, apex) == 0;
		int rc = 0;
		bool meta = below && ol == al + 6 && strncmp(owner, "_meta.", 6) == 0;
		if (!m && (type != LDNS_RR_TYPE_TXT || !below || meta)) {
			/* a difference's SOA, _meta, NS: the whole zone is checked apart */
		} else if (ldns_rr_get_class(rr) != LDNS_RR_CLASS_IN) {
			snprintf(err, errlen, "%s: not class IN", owner);
			rc = -1;
		} else if (dnssec_type(type)) {
			/* a signed zone: the transfer's integrity is TSIG's and _meta's */
		} else if (at_apex && type == LDNS_RR_TYPE_SOA) {
			if (nsoa++ || ldns_rr_rd_count(rr) != 7) {
				snprintf(err, errlen, "more than one SOA");
				rc = -1;
			} else {
				*soa_serial = ldns_rdf2native_int32(ldns_rr_rdf(rr, 2));
			}
		} else if (at_apex && type == LDNS_RR_TYPE_NS) {
			/* the zone's own NS: no policy */
		} else if (type == LDNS_RR_TYPE_TXT && meta) {
			if (m->seen) {
				snprintf(err, errlen, "more than one _meta record");
				rc = -1;
			} else {
				rc = meta_parse(rr, m, err, errlen);
			}
		} else if (below && type == LDNS_RR_TYPE_TXT) {
			/* <label>.<table>.APEX */
			owner[ol - al - 1] = '\0';
			char *dot = strchr(owner, '.');
			int t = -1;
			for (int k = 0; dot && k < POLICYZONE_NTABLES; k++)
				if (strcmp(dot + 1, pz_tables[k].label) == 0)
					t = k;
			if (t < 0 || dot - owner != PZ_HASH_HEX ||
			    strspn(owner, "0123456789abcdef") != PZ_HASH_HEX) {
				snprintf(err, errlen, "%s.%s: not a row of a table this code knows", owner, apex);
				rc = -1;
			} else {
				*dot = '\0';
				char *json = txt_join(rr, err, errlen);
				if (!json || rows_add(r, t, owner, json) != 0) {
					if (json)
						snprintf(err, errlen, "out of memory");
					free(json);
					rc = -1;
				}
			}
		} else {
			char *ts = ldns_rr_type2str(type);
			snprintf(err, errlen, "%s %s: a record the policy zone does not hold", owner,
			         ts ? ts : "?");
			free(ts);
			rc = -1;
		}
		free(owner);
		if (rc != 0)
			return -1;
	}
	if (!m)
		return 0;
	if (nsoa != 1) {
		snprintf(err, errlen, "no SOA at the apex %s", apex);
		return -1;
	}
	if (!m->seen) {
		snprintf(err, errlen, "no _meta.%s record: not a policy zone, or an incomplete one", apex);
		return -1;
	}
	rows_sort(r);
	for (size_t i = 1; i < r->n; i++)
		if (row_cmp(&r->v[i - 1], &r->v[i]) == 0) {
			snprintf(err, errlen, "%s.%s: more than one record for one row", r->v[i].label,
			         pz_tables[r->v[i].table].label);
			return -1;
		}
	return 0;
}

/* _meta against the rows: version, serial, counts, digest. */
static int
check_meta(const struct pz_meta *m, const struct pz_rows *r, int64_t soa_serial, char *err,
           size_t errlen)
{
	size_t counts[POLICYZONE_NTABLES] = { 0 };
	char digest[65];

	if (m->version != POLICYZONE_VERSION || m->schema != POLICYDB_SCHEMA_VERSION) {
		snprintf(err, errlen, "_meta: encoding %" PRId64 ", schema %" PRId64 "; this build reads "
		         "encoding %d, schema %d", m->version, m->schema, POLICYZONE_VERSION,
		         POLICYDB_SCHEMA_VERSION);
		return -1;
	}
	if (m->serial != soa_serial) {
		snprintf(err, errlen, "_meta is of serial %" PRId64 ", the SOA of %" PRId64, m->serial, soa_serial);
		return -1;
	}
	for (size_t i = 0; i < r->n; i++)
		counts[r->v[i].table]++;
	for (int t = 0; t < POLICYZONE_NTABLES; t++)
		if ((int64_t)counts[t] != m->counts[t]) {
			snprintf(err, errlen, "incomplete: %zu %s rows, _meta says %" PRId64, counts[t],
			         pz_tables[t].label, m->counts[t]);
			return -1;
		}
	if (rows_digest(r, digest) != 0) {
		snprintf(err, errlen, "SHA-256 failed");
		return -1;
	}
	if (strcmp(digest, m->digest) != 0) {
		snprintf(err, errlen, "the digest of the rows is %.16s..., _meta says %.16s...: the zone is "
		         "not the one its primary wrote", digest, m->digest);
		return -1;
	}
	return 0;
}

/* Run one statement with text bound to ?1 (NULL: none), to completion. */
static int
exec1(sqlite3 *db, const char *sql, const char *text, char *err, size_t errlen)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(db));
		return -1;
	}
	if (text)
		sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(db));
		return -1;
	}
	return 0;
}

/* Drop a trigger, run sql (text bound), create the trigger again from its own text. */
static int
without_trigger(sqlite3 *db, const char *trigger, const char *sql, const char *text, char *err,
                size_t errlen)
{
	sqlite3_stmt *st;
	char *def = NULL, drop[128];

	if (sqlite3_prepare_v2(db, "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?1",
	                       -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(st, 1, trigger, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		def = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	if (!def) {
		snprintf(err, errlen, "the schema has no trigger %s", trigger);
		return -1;
	}
	snprintf(drop, sizeof(drop), "DROP TRIGGER %s", trigger);
	int rc = exec1(db, drop, NULL, err, errlen) == 0 && exec1(db, sql, text, err, errlen) == 0 &&
	         exec1(db, def, NULL, err, errlen) == 0 ? 0 : -1;
	free(def);
	return rc;
}

/*
 * Insert every row through the schema. A rule's expiry is set after all
 * the inserts, with the "already expired" trigger of edits set aside once:
 * a rule that expired since it was written is still a row of the policy
 * (inactive), and the primary holds it too.
 */
static int
build_rows(sqlite3 *db, const struct pz_rows *r, char *err, size_t errlen)
{
	sqlite3_stmt *is_object = NULL, *st = NULL;
	char *expiring = NULL;  /* a JSON array of the rules with an expiry */
	size_t elen = 0;
	int rc = -1;

	if (sqlite3_prepare_v2(db, "SELECT json_valid(?1) AND json_type(?1) = 'object'", -1, &is_object,
	                       NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(db));
		return -1;
	}
	for (int t = 0; t < POLICYZONE_NTABLES; t++) {
		if (sqlite3_prepare_v2(db, pz_tables[t].insert, -1, &st, NULL) != SQLITE_OK) {
			snprintf(err, errlen, "%s", sqlite3_errmsg(db));
			goto out;
		}
		for (size_t i = 0; i < r->n; i++) {
			if (r->v[i].table != t)
				continue;
			/* SQLite's own JSON parser, the one the inserts use */
			sqlite3_reset(is_object);
			sqlite3_bind_text(is_object, 1, r->v[i].json, -1, SQLITE_STATIC);
			if (sqlite3_step(is_object) != SQLITE_ROW || sqlite3_column_int(is_object, 0) != 1) {
				snprintf(err, errlen, "%s.%s: not a JSON object: %.200s", r->v[i].label,
				         pz_tables[t].label, r->v[i].json);
				goto out;
			}
			sqlite3_reset(st);
			sqlite3_bind_text(st, 1, r->v[i].json, -1, SQLITE_STATIC);
			if (sqlite3_step(st) != SQLITE_DONE) {
				snprintf(err, errlen, "%s row %.200s: refused by the schema: %s", pz_tables[t].label,
				         r->v[i].json, sqlite3_errmsg(db));
				goto out;
			}
			if (strcmp(pz_tables[t].label, "rules") == 0 && strstr(r->v[i].json, "\"expires\":null") == NULL) {
				size_t jl = strlen(r->v[i].json);
				char *ne = realloc(expiring, elen + jl + 3);
				if (!ne) {
					snprintf(err, errlen, "out of memory");
					goto out;
				}
				expiring = ne;
				expiring[elen] = elen ? ',' : '[';
				memcpy(expiring + elen + 1, r->v[i].json, jl);
				elen += jl + 1;
				memcpy(expiring + elen, "]", 2);
			}
		}
		sqlite3_finalize(st);
		st = NULL;
	}
	char msg[400];
	/* the array parsed once into a table with a key, then one indexed update */
	if (expiring &&
	    (exec1(db, "CREATE TEMP TABLE pz_expires (id INTEGER PRIMARY KEY, expires)", NULL, msg, sizeof(msg)) != 0 ||
	     exec1(db, "INSERT INTO temp.pz_expires SELECT json_extract(value, '$.id'),"
	           " json_extract(value, '$.expires') FROM json_each(?1)", expiring, msg, sizeof(msg)) != 0 ||
	     without_trigger(db, "rules_refs_update",
	                     "UPDATE rules SET expires = (SELECT e.expires FROM temp.pz_expires AS e"
	                     " WHERE e.id = rules.id) WHERE id IN (SELECT id FROM temp.pz_expires)",
	                     NULL, msg, sizeof(msg)) != 0 ||
	     exec1(db, "DROP TABLE temp.pz_expires", NULL, msg, sizeof(msg)) != 0)) {
		snprintf(err, errlen, "rules: refused by the schema: %s", msg);
		goto out;
	}
	rc = 0;
out:
	free(expiring);
	sqlite3_finalize(is_object);
	sqlite3_finalize(st);
	return rc;
}

/* The rows the database now holds must be exactly the zone's: same labels, same JSON. */
static int
check_roundtrip(sqlite3 *db, const struct pz_rows *want, char *err, size_t errlen)
{
	struct pz_rows got;

	if (rows_collect(db, &got, err, errlen) != 0)
		return -1;
	int rc = 0;
	for (size_t i = 0; i < want->n && rc == 0; i++) {
		if (i >= got.n || row_cmp(&got.v[i], &want->v[i]) != 0) {
			snprintf(err, errlen, "%s.%s: the owner is not the hash of the row's key",
			         want->v[i].label, pz_tables[want->v[i].table].label);
			rc = -1;
		} else if (strcmp(got.v[i].json, want->v[i].json) != 0) {
			snprintf(err, errlen, "%s row %.200s: not in canonical form (extra, missing or "
			         "mistyped columns; stored as %.200s)", pz_tables[want->v[i].table].label,
			         want->v[i].json, got.v[i].json);
			rc = -1;
		}
	}
	if (rc == 0 && got.n != want->n) {
		snprintf(err, errlen, "the rows stored are not the rows sent");
		rc = -1;
	}
	rows_free(&got);
	return rc;
}

/*
 * The change log's triggers (tables' *_audit_* triggers: they record and
 * count, they check nothing) set aside while a whole zone is inserted, and
 * put back from their own text: the log is replaced by one row anyway, and
 * they cost a third of the build.
 */
static int
audit_triggers(sqlite3 *db, char **saved, char *err, size_t errlen)
{
	sqlite3_stmt *st;

	if (*saved) {
		int rc = sqlite3_exec(db, *saved, NULL, NULL, NULL);
		free(*saved);
		*saved = NULL;
		if (rc != SQLITE_OK) {
			snprintf(err, errlen, "the change log's triggers: %s", sqlite3_errmsg(db));
			return -1;
		}
		return 0;
	}
	if (sqlite3_prepare_v2(db, "SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"
	                       " AND name GLOB '*_audit_*' AND tbl_name <> 'audit'", -1, &st, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(db));
		return -1;
	}
	char *defs = strdup(""), *drops = strdup("");
	while (defs && drops && sqlite3_step(st) == SQLITE_ROW) {
		char *d = NULL, *x = NULL;
		if (asprintf(&d, "%s%s;\n", defs, (const char *)sqlite3_column_text(st, 1)) < 0 ||
		    asprintf(&x, "%sDROP TRIGGER \"%s\";\n", drops, (const char *)sqlite3_column_text(st, 0)) < 0) {
			free(d);
			free(defs);
			free(drops);
			defs = drops = NULL;
			break;
		}
		free(defs);
		free(drops);
		defs = d;
		drops = x;
	}
	sqlite3_finalize(st);
	if (!defs || !drops || sqlite3_exec(db, drops, NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "the change log's triggers: %s", defs && drops ? sqlite3_errmsg(db) : "out of memory");
		free(defs);
		free(drops);
		return -1;
	}
	free(drops);
	*saved = defs;
	return 0;
}

/* The change log of the new file: one restore row, so that a reader rebuilds. */
static int
set_log(sqlite3 *db, const char *apex, int64_t serial, int64_t audit_id, char *err, size_t errlen)
{
	char sql[512];

	if (without_trigger(db, "audit_append_only_delete", "DELETE FROM audit", NULL, err, errlen) != 0)
		return -1;
	snprintf(sql, sizeof(sql),
	         "INSERT INTO audit (id, serial, actor, tbl, op, old, new) VALUES (%" PRId64 ", %" PRId64
	         ", 'xfr', 'database', 'restore', NULL, json_object('zone', ?1, 'serial', %" PRId64 "))",
	         audit_id < 1 ? 1 : audit_id, serial, serial);
	if (exec1(db, sql, apex, err, errlen) != 0)
		return -1;
	snprintf(sql, sizeof(sql), "UPDATE meta SET value = %" PRId64 " WHERE key = 'serial'", serial);
	return exec1(db, sql, NULL, err, errlen);
}

/*
 * The whole zone read and checked: apex_in in the form the owners are
 * compared with (lower case, no trailing dot) into apex (256 bytes), every
 * row into r, the SOA serial into *serial, _meta's counts and digest
 * checked. 0, or -1 with err set.
 */
static int
read_zone(const char *apex_in, const ldns_rr_list *rrs, char *apex, struct pz_rows *r,
          int64_t *serial, char *err, size_t errlen)
{
	struct pz_meta m;

	memset(&m, 0, sizeof(m));
	snprintf(apex, 256, "%s", apex_in);
	size_t al = strlen(apex);
	if (al > 1 && apex[al - 1] == '.')
		apex[al - 1] = '\0';
	for (char *c = apex; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	if (read_records(apex, rrs, r, &m, serial, err, errlen) != 0 ||
	    check_meta(&m, r, *serial, err, errlen) != 0)
		return -1;
	return 0;
}

/*
 * The end of every build: the rows read back as the zone has them, the
 * change log, resolverd's own loader, the commit; then what the file holds.
 * 0, or -1 with err set.
 */
static int
finish_build(sqlite3 *db, const char *path, const struct pz_rows *r, const char *apex,
             int64_t serial, int64_t audit_id, struct policyzone_info *info, char *err, size_t errlen)
{
	char msg[512];

	if (check_roundtrip(db, r, err, errlen) != 0 || set_log(db, apex, serial, audit_id, err, errlen) != 0)
		return -1;
	struct policy *p = policydb_load(db, msg, sizeof(msg));
	if (!p) {
		snprintf(err, errlen, "resolverd's loader refuses it: %s", msg);
		return -1;
	}
	policy_free(p);
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: commit: %s", path, sqlite3_errmsg(db));
		return -1;
	}
	rows_info(r, serial, info);
	return 0;
}

int
policyzone_build(const char *apex_in, const ldns_rr_list *rrs, const char *schema_sql,
                 const char *path, int64_t audit_id, struct policyzone_info *info, char *err,
                 size_t errlen)
{
	char apex[256], msg[512];
	struct pz_rows r = { 0 };
	int64_t serial = -1;
	sqlite3 *db = NULL;
	int ret = -1;

	if (read_zone(apex_in, rrs, apex, &r, &serial, err, errlen) != 0)
		goto out;
	unlink(path);
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path, db ? sqlite3_errmsg(db) : "out of memory");
		goto out;
	}
	if (sqlite3_exec(db, schema_sql, NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: the schema: %s", path, sqlite3_errmsg(db));
		goto out;
	}
	char *audit = NULL;
	if (audit_triggers(db, &audit, err, errlen) != 0)
		goto out;
	int brc = build_rows(db, &r, err, errlen);
	if (audit_triggers(db, &audit, brc ? msg : err, brc ? sizeof(msg) : errlen) != 0 || brc != 0 ||
	    finish_build(db, path, &r, apex, serial, audit_id, info, err, errlen) != 0)
		goto out;
	ret = 0;
out:
	rows_free(&r);
	if (db)
		sqlite3_close(db);
	if (ret != 0 && db)
		policydb_remove(path); /* a build that failed leaves no file behind */
	return ret;
}

/* ------------------------------------------------------------ a difference */

/* Whether (table, label) is in sorted rows. */
static bool
rows_have(const struct pz_rows *r, const struct pz_row *x)
{
	return r->n && bsearch(x, r->v, r->n, sizeof(*r->v), row_cmp) != NULL;
}

/*
 * Run the statement of kind (0 insert, 1 update, 2 delete) of each row of
 * r whose presence in other is want, tables in order (forward, or
 * backward: references first). -1 with err set.
 */
static int
apply_rows(sqlite3 *db, const struct pz_rows *r, int kind, const struct pz_rows *other, bool want,
           bool backward, char *err, size_t errlen)
{
	static const char *const verbs[] = { "insert", "update", "delete" };

	for (int k = 0; k < POLICYZONE_NTABLES; k++) {
		int t = backward ? POLICYZONE_NTABLES - 1 - k : k;
		const char *sql = kind == 0 ? pz_tables[t].insert : kind == 1 ? pz_tables[t].update : pz_tables[t].delete;
		sqlite3_stmt *st = NULL;
		for (size_t i = 0; i < r->n; i++) {
			if (r->v[i].table != t || rows_have(other, &r->v[i]) != want)
				continue;
			if (!sql) {
				snprintf(err, errlen, "%s row %.200s: an update of a table whose rows are all key",
				         pz_tables[t].label, r->v[i].json);
				sqlite3_finalize(st);
				return -1;
			}
			if (!st && sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
				snprintf(err, errlen, "%s", sqlite3_errmsg(db));
				return -1;
			}
			sqlite3_reset(st);
			sqlite3_bind_text(st, 1, r->v[i].json, -1, SQLITE_STATIC);
			int rc = sqlite3_step(st);
			/* a new rule's expiry: set as an update sets it */
			if (rc == SQLITE_DONE && kind == 0 && strcmp(pz_tables[t].label, "rules") == 0)
				rc = exec1(db, pz_tables[t].update, r->v[i].json, err, errlen) == 0 ? SQLITE_DONE : SQLITE_ERROR;
			if (rc != SQLITE_DONE) {
				snprintf(err, errlen, "%s row %.200s: %s refused by the schema: %s", pz_tables[t].label,
				         r->v[i].json, verbs[kind], sqlite3_errmsg(db));
				sqlite3_finalize(st);
				return -1;
			}
		}
		sqlite3_finalize(st);
	}
	return 0;
}

int
policyzone_build_diff(const char *apex_in, const ldns_rr_list *rrs, const ldns_rr_list *deleted,
                      const ldns_rr_list *added, const char *base_path, const char *path,
                      int64_t audit_id, struct policyzone_info *info, char *err, size_t errlen)
{
	char apex[256], msg[512];
	struct pz_rows r = { 0 }, del = { 0 }, add = { 0 };
	int64_t serial = -1;
	sqlite3 *db = NULL, *base = NULL;
	int ret = -1;

	/* the whole zone first: complete and as its primary wrote it */
	if (read_zone(apex_in, rrs, apex, &r, &serial, err, errlen) != 0 ||
	    read_records(apex, deleted, &del, NULL, NULL, err, errlen) != 0 ||
	    read_records(apex, added, &add, NULL, NULL, err, errlen) != 0)
		goto out;
	rows_sort(&del);
	rows_sort(&add);
	/* the base: the database last built, copied page by page */
	unlink(path);
	if (sqlite3_open_v2(base_path, &base, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
	    sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", base ? path : base_path, "cannot open");
		goto out;
	}
	sqlite3_busy_timeout(base, 5000);
	sqlite3_backup *b = sqlite3_backup_init(db, "main", base, "main");
	int brc = b ? sqlite3_backup_step(b, -1) : SQLITE_ERROR;
	sqlite3_backup_finish(b);
	if (brc != SQLITE_DONE) {
		snprintf(err, errlen, "%s: copying the base: %s", base_path, sqlite3_errstr(brc));
		goto out;
	}
	sqlite3_close(base);
	base = NULL;
	if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(db));
		goto out;
	}
	/*
	 * New rows (tables in order: what they name first), changed rows (the
	 * key, and so the owner, stays: an update), then removed rows (tables
	 * backwards: what names a row goes before it). Every one through the
	 * schema's checks.
	 */
	if (apply_rows(db, &add, 0, &del, false, false, msg, sizeof(msg)) != 0 ||
	    apply_rows(db, &add, 1, &del, true, false, msg, sizeof(msg)) != 0 ||
	    apply_rows(db, &del, 2, &add, false, true, msg, sizeof(msg)) != 0) {
		snprintf(err, errlen, "%s", msg);
		goto out;
	}
	/* then the whole: every row as the zone has it, the loader */
	if (finish_build(db, path, &r, apex, serial, audit_id, info, err, errlen) != 0)
		goto out;
	ret = 0;
out:
	rows_free(&r);
	rows_free(&del);
	rows_free(&add);
	sqlite3_close(base);
	if (db)
		sqlite3_close(db);
	if (ret != 0)
		policydb_remove(path);
	return ret;
}
