/*
 * test_policyzone.c -- the policy zone both ways (policyzone.h): a database
 * written as a zone and built back is the same policy; a zone that is cut
 * short, altered, or consistent but holding a row the schema or the loader
 * refuses is refused; no TSIG key, and no column named secret, is ever written.
 *
 * The digest of _meta is computed here from docs/policy-zone.md, not with
 * the code under test, so that a consistent but bad zone can be made.
 */
#include "config.h"
#include "policyzone.h"
#include "policydb.h"
#include "policy.h"
#include "unit.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ldns/ldns.h>
#include <openssl/evp.h>
#include <sqlite3.h>

extern const char policydb_schema_sql[];

static char tmpdir[] = "/tmp/test_policyzone.XXXXXX";

static sqlite3 *
source_db(void)
{
	sqlite3 *db;

	if (sqlite3_open(":memory:", &db) != SQLITE_OK || sqlite3_exec(db, policydb_schema_sql, NULL, NULL, NULL) != SQLITE_OK)
		return NULL;
	const char *sql =
		"INSERT INTO domains (name, level, note) VALUES ('a.test', 3, 'a \"quoted\" note, \xc3\xa9'),"
		" ('b.test', 3, ''), ('c.test', 1, '');"
		"INSERT INTO groups (name) VALUES ('g1');"
		"INSERT INTO memberships VALUES ('a.test', 'g1');"
		"INSERT INTO identities (value, domain) VALUES ('10.0.0.2/32', 'a.test'), ('2001:db8::/48', 'b.test');"
		"INSERT INTO rules (priority, from_kind, to_kind, to_min, action, note) VALUES (10, 'any', 'level', 3, 'allow', '');"
		"INSERT INTO rules (priority, from_kind, from_name, to_kind, action, expires) VALUES (5, 'group', 'g1', 'any', 'deny', '2099-01-01 00:00:00');"
		"INSERT INTO targets (domain, host) VALUES ('b.test', 'xmpp.b.test');"
		"INSERT INTO target_addresses VALUES ('xmpp.b.test', '192.0.2.1');";
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		printf("# %s\n", sqlite3_errmsg(db));
		return NULL;
	}
	/* a rule that has expired since it was written: still a row */
	sqlite3_exec(db, "DROP TRIGGER rules_refs_insert;"
	             "INSERT INTO rules (priority, from_kind, to_kind, action, expires) VALUES (1, 'any', 'any', 'allow', '2001-01-01 00:00:00');",
	             NULL, NULL, NULL);
	return db;
}

/* The zone text of db. */
static char *
zone_text(sqlite3 *db)
{
	char *buf = NULL, err[256];
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (policyzone_write(db, "policy.test", f, NULL, err, sizeof(err)) != 0)
		printf("# %s\n", err);
	fclose(f);
	return buf;
}

/* Zone text into records, through ldns as a transfer would deliver them. */
static ldns_rr_list *
parse(const char *text)
{
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	ldns_zone *z = NULL;
	int line = 0;

	if (ldns_zone_new_frm_fp_l(&z, f, NULL, 0, LDNS_RR_CLASS_IN, &line) != LDNS_STATUS_OK) {
		fclose(f);
		return NULL;
	}
	fclose(f);
	ldns_rr_list *l = ldns_rr_list_clone(ldns_zone_rrs(z));
	ldns_rr_list_push_rr(l, ldns_rr_clone(ldns_zone_soa(z)));
	ldns_zone_deep_free(z);
	return l;
}

/* Build text; 0 ok, else -1 with err. */
static int
build(const char *text, char *err, size_t errlen)
{
	char path[256];
	ldns_rr_list *l = parse(text);
	struct policyzone_info info;

	if (!l) {
		snprintf(err, errlen, "ldns could not parse the zone");
		return -1;
	}
	snprintf(path, sizeof(path), "%s/built.db", tmpdir);
	int rc = policyzone_build("policy.test", l, policydb_schema_sql, path, 1, &info, err, errlen);
	ldns_rr_list_deep_free(l);
	return rc;
}

/* Replace the first occurrence of from with to in text (a new string). */
static char *
replace(const char *text, const char *from, const char *to)
{
	const char *at = strstr(text, from);
	if (!at)
		return NULL;
	size_t n = strlen(text) - strlen(from) + strlen(to) + 1;
	char *s = malloc(n);
	snprintf(s, n, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
	return s;
}

/* The row lines' TXT strings, unescaped and joined, as docs/policy-zone.md lines; the _meta digest. */
static char *
with_meta_recomputed(const char *text)
{
	ldns_rr_list *l = parse(text);
	static const char *tables[] = { "domains", "groups", "memberships", "identities", "rules", "targets", "target-addresses" };
	char lines[64][1024];
	int nl = 0, counts[7] = { 0 };

	for (size_t i = 0; l && i < ldns_rr_list_rr_count(l); i++) {
		ldns_rr *rr = ldns_rr_list_rr(l, i);
		char *owner = ldns_rdf2str(ldns_rr_owner(rr));
		char label[64] = "", table[64] = "";
		if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_TXT && strncmp(owner, "_meta", 5) != 0 &&
		    sscanf(owner, "%63[^.].%63[^.]", label, table) == 2) {
			char json[900] = "";
			size_t jl = 0;
			for (size_t k = 0; k < ldns_rr_rd_count(rr); k++) {
				const uint8_t *d = ldns_rdf_data(ldns_rr_rdf(rr, k));
				memcpy(json + jl, d + 1, d[0]);
				jl += d[0];
			}
			json[jl] = '\0';
			int t = 0;
			while (t < 7 && strcmp(tables[t], table) != 0)
				t++;
			counts[t]++;
			snprintf(lines[nl++], sizeof(lines[0]), "%d %s %s %s\n", t, tables[t], label, json);
		}
		free(owner);
	}
	ldns_rr_list_deep_free(l);
	qsort(lines, (size_t)nl, sizeof(lines[0]), (int (*)(const void *, const void *))strcmp);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char md[32];
	unsigned mdlen;
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	for (int i = 0; i < nl; i++)
		EVP_DigestUpdate(ctx, strchr(lines[i], ' ') + 1, strlen(strchr(lines[i], ' ') + 1));
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	char hex[65];
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	/* the new _meta line */
	const char *m = strstr(text, "_meta.");
	const char *end = strchr(m, '\n');
	char meta[1024];
	int off = snprintf(meta, sizeof(meta), "%.*s", (int)(strstr(m, "\"domains=") - m), m);
	for (int t = 0; t < 7; t++)
		off += snprintf(meta + off, sizeof(meta) - (size_t)off, "\"%s=%d\" ", tables[t], counts[t]);
	snprintf(meta + off, sizeof(meta) - (size_t)off, "\"sha256=%s\"", hex);
	size_t n = strlen(text) + 1024;
	char *s = malloc(n);
	snprintf(s, n, "%.*s%s%s", (int)(m - text), text, meta, end);
	return s;
}

/* The records of a not in b (both zone texts), as a list. */
static ldns_rr_list *
minus(const char *a, const char *b)
{
	ldns_rr_list *la = parse(a), *lb = parse(b), *out = ldns_rr_list_new();

	for (size_t i = 0; la && lb && i < ldns_rr_list_rr_count(la); i++) {
		bool found = false;
		for (size_t j = 0; j < ldns_rr_list_rr_count(lb) && !found; j++)
			found = ldns_rr_compare(ldns_rr_list_rr(la, i), ldns_rr_list_rr(lb, j)) == 0;
		if (!found)
			ldns_rr_list_push_rr(out, ldns_rr_clone(ldns_rr_list_rr(la, i)));
	}
	ldns_rr_list_deep_free(la);
	ldns_rr_list_deep_free(lb);
	return out;
}

/* Apply the difference old -> new to the database base_path; 0 and the written-back zone in *back, or -1. */
static int
diff_build(const char *old, const char *new, const char *base_path, char **back, char *err, size_t errlen)
{
	char path[256];
	ldns_rr_list *del = minus(old, new), *add = minus(new, old), *all = parse(new);
	struct policyzone_info info;

	snprintf(path, sizeof(path), "%s/diff.db", tmpdir);
	int rc = policyzone_build_diff("policy.test", all, del, add, base_path, path, 2, &info, err, errlen);
	ldns_rr_list_deep_free(del);
	ldns_rr_list_deep_free(add);
	ldns_rr_list_deep_free(all);
	*back = NULL;
	if (rc == 0) {
		sqlite3 *db;
		sqlite3_open(path, &db);
		*back = zone_text(db);
		sqlite3_close(db);
	}
	unlink(path);
	return rc;
}

/* Expect text to be refused with a message containing want. */
static void
refused(const char *what, const char *text, const char *want)
{
	char err[512] = "";

	if (!text) {
		CHECK(0, "%s: the test could not make the zone", what);
		return;
	}
	int rc = build(text, err, sizeof(err));
	if (!CHECK(rc != 0 && strstr(err, want), "%s: refused (%s)", what, want))
		printf("#   rc %d, err: %s\n", rc, err);
}

int
main(void)
{
	char err[512] = "", path[256];

	if (!mkdtemp(tmpdir))
		return 1;
	sqlite3 *src = source_db();
	CHECK(src != NULL, "a source database");
	if (!src)
		return unit_summary();
	char *z = zone_text(src);
	CHECK(z && strstr(z, "policy.test. 60 IN SOA"), "the zone is written");

	/* round trip */
	CHECK_INT(build(z, err, sizeof(err)), 0, "the zone builds back (%s)", err);
	snprintf(path, sizeof(path), "%s/built.db", tmpdir);
	sqlite3 *b;
	sqlite3_open(path, &b);
	char *z2 = zone_text(b);
	char *a1 = strchr(z, '\n'), *a2 = z2 ? strchr(z2, '\n') : NULL; /* past the comment line with the serial */
	CHECK(a2 && strcmp(strstr(a1, "IN NS"), strstr(a2, "IN NS")) == 0, "the built database writes the same rows");
	struct policy *p = policydb_load(b, err, sizeof(err));
	CHECK(p && p->ndomains == 3 && p->nrules == 3, "the built database loads: 3 domains, 3 rules (one expired)");
	policy_free(p);
	sqlite3_stmt *st;
	sqlite3_prepare_v2(b, "SELECT count(*), max(op) FROM audit", -1, &st, NULL);
	sqlite3_step(st);
	CHECK(sqlite3_column_int(st, 0) == 1 && strcmp((const char *)sqlite3_column_text(st, 1), "restore") == 0,
	      "its change log is one restore row");
	sqlite3_finalize(st);
	sqlite3_close(b);
	free(z2);

	/* cut short, altered, foreign */
	char *s = strdup(z);
	char *line = strstr(s, ".groups.policy.test.");
	while (line > s && line[-1] != '\n')
		line--;
	memmove(line, strchr(line, '\n') + 1, strlen(strchr(line, '\n') + 1) + 1);
	refused("a row missing", s, "incomplete: 0 groups rows");
	free(s);
	s = replace(z, "\\\"level\\\":1", "\\\"level\\\":2");
	refused("a row changed, _meta left", s, "the digest");
	free(s);
	s = replace(z, "_meta.policy.test. 60 IN TXT", "x.policy.test. 60 IN A 192.0.2.1\n_meta.policy.test. 60 IN TXT");
	refused("a record of another kind", s, "a record the policy zone does not hold");
	free(s);
	s = replace(z, "\"policy-zone=1\"", "\"policy-zone=2\"");
	refused("another encoding", s, "encoding 2");
	free(s);

	/* consistent (_meta recomputed) but bad rows */
	char *t = replace(z, "\\\"level\\\":1", "\\\"level\\\":-1");
	s = t ? with_meta_recomputed(t) : NULL;
	refused("a level the schema refuses", s, "refused by the schema");
	free(s);
	free(t);
	t = replace(z, "\\\"level\\\":1", "\\\"level\\\":\\\"1\\\"");
	s = t ? with_meta_recomputed(t) : NULL;
	/* the column's affinity stores '1' as 1: reading it back tells */
	refused("a level as text", s, "not in canonical form");
	free(s);
	free(t);
	t = replace(z, "\\\"note\\\":\\\"\\\"}", "\\\"note\\\":\\\"\\\",\\\"secret\\\":\\\"x\\\"}");
	s = t ? with_meta_recomputed(t) : NULL;
	refused("an extra column", s, "not in canonical form");
	free(s);
	free(t);
	t = strdup(z);
	char *own = strstr(t, ".domains.policy.test.");
	if (own)
		memcpy(own - 32, "00000000000000000000000000000000", 32);
	s = own ? with_meta_recomputed(t) : NULL;
	refused("an owner that is not the hash of its key", s, "not the hash of the row's key");
	free(s);
	free(t);
	t = replace(z, "\\\"value\\\":\\\"10.0.0.2/32\\\"", "\\\"value\\\":\\\"10.0.0.02/32\\\"");
	s = t ? with_meta_recomputed(t) : NULL;
	refused("an address not in canonical form", s, "refused by the schema");
	free(s);
	free(t);
	CHECK(access(path, F_OK) != 0, "a refused zone leaves no file");

	/* a difference applied to the database of the zone before it */
	CHECK_INT(build(z, err, sizeof(err)), 0, "the base builds");
	CHECK(sqlite3_exec(src, "INSERT INTO domains (name, level) VALUES ('d.test', 2);"
	                   "UPDATE domains SET level = 2, note = 'changed' WHERE name = 'c.test';"
	                   "INSERT INTO memberships VALUES ('d.test', 'g1');"
	                   "DELETE FROM rules WHERE priority = 10;"
	                   "INSERT INTO rules (priority, from_kind, from_name, to_kind, action, expires) VALUES (7, 'domain', 'd.test', 'any', 'allow', '2098-01-01 00:00:00');"
	                   "DELETE FROM target_addresses; DELETE FROM targets;"
	                   "UPDATE identities SET note = 'moved', domain = 'c.test' WHERE value = '2001:db8::/48'",
	                   NULL, NULL, NULL) == SQLITE_OK, "edits of every kind on the source");
	char *znew = zone_text(src), *back = NULL;
	CHECK_INT(diff_build(z, znew, path, &back, err, sizeof(err)), 0, "the difference applies (%s)", err);
	CHECK(back && strcmp(strstr(back, "IN NS"), strstr(znew, "IN NS")) == 0,
	      "the database it makes writes the new zone's rows");
	free(back);
	char empty[256];
	snprintf(empty, sizeof(empty), "%s/empty.db", tmpdir);
	sqlite3 *e;
	sqlite3_open(empty, &e);
	sqlite3_exec(e, policydb_schema_sql, NULL, NULL, NULL);
	sqlite3_close(e);
	err[0] = '\0';
	CHECK(diff_build(z, znew, empty, &back, err, sizeof(err)) != 0 && back == NULL,
	      "a difference applied to another base is refused (%s)", err);
	unlink(empty);
	free(znew);
	unlink(path);

	/* no secret: a TSIG key stays at the primary, name, algorithm and secret */
	char sql[512];
	snprintf(sql, sizeof(sql), "INSERT INTO identities (kind, value, domain, algorithm, secret) SELECT"
	         " 'tsig', 'hidden-key.test', name, 'hmac-sha256', 'aHVudGVyMmh1bnRlcjJodW50ZXIy'"
	         " FROM domains LIMIT 1");
	CHECK(sqlite3_exec(src, sql, NULL, NULL, NULL) == SQLITE_OK, "a TSIG key with its secret");
	char *z3 = zone_text(src);
	CHECK(z3 && !strstr(z3, "aHVudGVyMmh1bnRlcjJodW50ZXIy") && !strstr(z3, "secret") &&
	      !strstr(z3, "hidden-key"), "the zone holds no secret, and not the key");
	free(z3);

	free(z);
	sqlite3_close(src);
	unlink(path);
	rmdir(tmpdir);
	return unit_summary();
}
