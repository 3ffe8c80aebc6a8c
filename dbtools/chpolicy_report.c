/*
 * chpolicy_report.c -- the commands that read the policy database without
 * changing it: check (a decision and its reason), audit, serial, backup,
 * verify (integrity, schema and lint), and status (what resolverd serves).
 *
 * Decisions go through the same snapshot code as resolverd (policydb_load,
 * policy_decide), so that check and verify say what resolverd would do.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "netaddr.h"
#include "policy.h"
#include "policydb.h"
#include "reload.h"
#include "xfr.h"
#include "chpolicy.h"
#include "dname.h"
#include "tls.h"

#include <openssl/pem.h>
#include <openssl/x509.h>

/* ------------------------------------------------------------ check */

static const struct policy_rule *
rule_by_id(const struct policy *p, int64_t id)
{
	for (size_t i = 0; i < p->nrules; i++)
		if (p->rules[i].id == id)
			return &p->rules[i];
	return NULL;
}

/* "rule 3 (domain:a.test -> level:>=2 allow)", or the default when id is 0. */
static char *
rule_explain(const struct policy *p, int64_t id, char *buf, size_t len)
{
	const struct policy_rule *r = rule_by_id(p, id);
	char from[300], to[300];

	if (!r) {
		snprintf(buf, len, "default deny (no rule matched)");
		return buf;
	}
	snprintf(buf, len, "rule %lld (%s -> %s %s)", (long long)r->id,
	         policy_selector_format(p, &r->from, from, sizeof(from)),
	         policy_selector_format(p, &r->to, to, sizeof(to)), r->allow ? "allow" : "deny");
	return buf;
}

static bool
rule_expired(const struct policy_rule *r, time_t now)
{
	return r->expires != 0 && r->expires <= now;
}

/* check --all: every rule matching from -> to in evaluation order, the winner starred. */
static void
check_list_matches(const struct policy *p, uint32_t from, uint32_t to, time_t now)
{
	const struct policy_domain *f = &p->domains[from], *t = &p->domains[to];
	bool won = false, any = false;

	printf("  %s -> %s:\n", f->name, t->name);
	if (!f->enabled || !t->enabled)
		printf("    (no rule applies: %s is disabled)\n", !f->enabled ? f->name : t->name);
	for (size_t i = 0; i < p->nrules; i++) {
		const struct policy_rule *r = &p->rules[i];
		char fs[300], ts[300], when[32];
		if (!policy_selector_matches(p, &r->from, from) || !policy_selector_matches(p, &r->to, to))
			continue;
		any = true;
		bool expired = rule_expired(r, now);
		bool first = !won && !expired && !r->dry_run && f->enabled && t->enabled;
		won = won || first;
		printf("  %s rule %lld  priority %lld  %s -> %s  %s%s%s%s\n", first ? "*" : " ",
		       (long long)r->id, (long long)r->priority,
		       policy_selector_format(p, &r->from, fs, sizeof(fs)),
		       policy_selector_format(p, &r->to, ts, sizeof(ts)), r->allow ? "allow" : "deny",
		       r->dry_run ? "  dry-run" : "",
		       r->expires ? (expired ? "  expired " : "  expires ") : "",
		       r->expires ? ch_fmt_time(r->expires, when, sizeof(when)) : "");
	}
	if (!any)
		printf("    (no rule matches: default deny)\n");
}

/*
 * decision(R, P) through the same snapshot and function resolverd uses. R may
 * also be a source address, identified as resolverd would.
 */
/*
 * check --as tsig:NAME | cert:FILE: the requester the key or the
 * certificate's names stand for, as resolverd finds it (query.c), into *r,
 * *how and label. CH_OK, or the error reported (CH_USAGE: unknown key, no
 * community name; CH_FAIL: unreadable file).
 */
static int
check_as(struct ch_ctx *c, const struct policy *p, const char *as, uint32_t *r,
         enum policy_identity *how, char *label, size_t len)
{
	const char *what = as + 5;
	uint8_t wire[DNAME_MAXLEN];

	if (strncmp(as, "tsig:", 5) == 0) {
		const struct policy_key *k = dname_from_text(what, wire) > 1
		                                 ? policy_find_key(p, POLICY_KEY_TSIG, wire) : NULL;
		if (!k)
			return ch_usage(c, "no TSIG key '%s' (resolverd answers its queries NOTAUTH, BADKEY)",
			                what);
		*r = k->domain;
		*how = POLICY_ID_TSIG;
		snprintf(label, len, "tsig:%s (%s)", what, p->domains[k->domain].name);
		return CH_OK;
	}
	FILE *f = fopen(what, "r");
	if (!f)
		return ch_error(c, CH_FAIL, "%s: %s", what, strerror(errno));
	X509 *cert = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	struct tls_identity id;
	if (!cert)
		return ch_error(c, CH_FAIL, "%s: not a PEM certificate", what);
	tls_x509_names(cert, &id);
	X509_free(cert);
	for (size_t i = 0; i < id.n; i++) {
		bool bound;
		uint32_t d = policy_certificate_domain(p, id.names[i], &bound);
		if (d != POLICY_NONE) {
			char name[DNAME_TEXT_MAX];
			*r = d;
			*how = POLICY_ID_CERT;
			snprintf(label, len, "cert:%s (%s%s%s)", what, dname_to_text(id.names[i], name, sizeof(name)),
			         bound ? " -> " : "", bound ? p->domains[d].name : "");
			return CH_OK;
		}
	}
	return ch_usage(c, "%s names no community domain (%zu name%s): resolverd identifies such a "
	                "client by its address", what, id.n, id.n == 1 ? "" : "s");
}

int
ch_cmd_check(struct ch_ctx *c, const struct ch_args *a)
{
	char err[512], why[1024], rev[1024], label[600];
	struct policy_verdict v;
	struct policy *p;
	bool mutual = !a->no_mutual;
	time_t now = time(NULL);
	uint32_t r, peer;

	struct netaddr src;
	const char *perr;
	if (a->as ? a->npos != 1 : a->npos != 2)
		return ch_usage(c, a->as ? "--as takes the place of R: give P only" : "give R and P");
	if (a->as && strncmp(a->as, "tsig:", 5) != 0 && strncmp(a->as, "cert:", 5) != 0)
		return ch_usage(c, "--as %s: write tsig:KEYNAME or cert:FILE", a->as);
	/* R: a source address (an IPv4-mapped one is IPv4, as resolverd sees it), else a domain */
	bool by_address = !a->as && !strchr(a->pos[0], '/') && netaddr_parse_cidr(a->pos[0], &src, &perr) == 0;
	char *rname = by_address || a->as ? NULL : ch_name_arg(c, "R", a->pos[0], false);
	char *pname = ch_name_arg(c, "P", a->pos[a->as ? 0 : 1], false);
	enum policy_identity how = POLICY_ID_SOURCE;

	if ((!by_address && !a->as && !rname) || !pname) {
		free(rname);
		free(pname);
		return CH_USAGE;
	}
	p = policydb_load(c->db, err, sizeof(err));
	if (!p) {
		free(rname);
		free(pname);
		return ch_error(c, CH_FAIL, "%s: %s", c->db_path, err);
	}
	peer = policy_find_domain(p, pname);
	r = rname ? policy_find_domain(p, rname) : POLICY_NONE;
	if (a->as && peer != POLICY_NONE) {
		int rc = check_as(c, p, a->as, &r, &how, label, sizeof(label));
		if (rc != CH_OK) {
			free(pname);
			policy_free(p);
			return rc;
		}
	}
	if (peer == POLICY_NONE || (!by_address && !a->as && r == POLICY_NONE)) {
		snprintf(label, sizeof(label), "%s", peer == POLICY_NONE ? pname : rname);
		free(rname);
		free(pname);
		policy_free(p);
		return ch_usage(c, "unknown domain '%s' (%s)", label, peer == POLICY_NONE
		                ? "outside the community, resolverd's unknown-peer setting decides"
		                : "neither a community domain nor an address");
	}
	free(rname);
	free(pname);
	if (by_address) {
		netaddr_unmap(&src);
		r = policy_identify(p, &src);
		if (r == POLICY_NONE) {
			printf("deny %s -> %s: requester not identified (no identity matches %s)\n",
			       a->pos[0], p->domains[peer].name, a->pos[0]);
			policy_free(p);
			return CH_NO;
		}
		snprintf(label, sizeof(label), "%s (%s)", a->pos[0], p->domains[r].name);
	} else if (!a->as) {
		snprintf(label, sizeof(label), "%s", p->domains[r].name);
	}
	if ((by_address || a->as) && p->domains[r].require > how) {
		static const char *const kinds[] = { "source address", "client certificate", "TSIG key" };
		printf("deny %s -> %s: %s requires %s identity; a query identified by its %s is "
		       "REFUSED\n", label, p->domains[peer].name, p->domains[r].name,
		       kinds[p->domains[r].require], kinds[how]);
		policy_free(p);
		return CH_NO;
	}

	policy_decide(p, r, peer, now, mutual, &v);
	const struct policy_domain *rd = &p->domains[r], *pd = &p->domains[peer];
	if (v.allow && r == peer) {
		printf("allow %s -> %s: own domain (a requester is always allowed its own domain and "
		       "every name below it; no rule is asked)\n", label, pd->name);
	} else if (v.allow) {
		rule_explain(p, v.rule_id, why, sizeof(why));
		if (mutual && r != peer)
			printf("allow %s -> %s: %s, mutual: %s\n", label, pd->name, why,
			       rule_explain(p, v.reverse_rule_id, rev, sizeof(rev)));
		else
			printf("allow %s -> %s: %s\n", label, pd->name, why);
	} else if (!rd->enabled || !pd->enabled) {
		printf("deny %s -> %s: %s is disabled\n", label, pd->name,
		       !rd->enabled ? rd->name : pd->name);
	} else {
		const struct policy_rule *fwd = rule_by_id(p, v.rule_id);
		rule_explain(p, v.rule_id, why, sizeof(why));
		if (fwd && fwd->allow)
			printf("deny %s -> %s: %s, but no mutual consent: %s -> %s %s\n", label, pd->name,
			       why, pd->name, rd->name, rule_explain(p, v.reverse_rule_id, rev, sizeof(rev)));
		else
			printf("deny %s -> %s: %s\n", label, pd->name, why);
	}
	if (v.would_differ) {
		/* a dry-run rule would change the decision: say which, and that it is not applied */
		const struct policy_rule *w = rule_by_id(p, v.would_rule_id);
		char fs[300], ts[300];
		if (w)
			printf("rule %lld (dry-run) would %s %s -> %s: %s -> %s %s (not enforced)\n",
			       (long long)w->id, v.would_allow ? "allow" : "deny", label, pd->name,
			       policy_selector_format(p, &w->from, fs, sizeof(fs)),
			       policy_selector_format(p, &w->to, ts, sizeof(ts)), w->allow ? "allow" : "deny");
		else
			printf("the dry-run rules would %s %s -> %s (not enforced)\n",
			       v.would_allow ? "allow" : "deny", label, pd->name);
	}
	if (a->all) {
		check_list_matches(p, r, peer, now);
		if (r != peer)
			check_list_matches(p, peer, r, now);
	}
	policy_free(p);
	return v.allow ? CH_OK : CH_NO;
}

/* ------------------------------------------------------------ audit, serial */

int
ch_cmd_audit(struct ch_ctx *c, const struct ch_args *a)
{
	static const char *head[] = { "SERIAL", "AT", "ACTOR", "TABLE", "OP", "CHANGE" };
	struct ch_table t = { .ncols = 6 };
	int64_t since = 0;
	sqlite3_stmt *st;
	int rc;

	if (a->since && ch_parse_int64(a->since, &since) != 0)
		return ch_usage(c, "--since: not a serial: '%s'", a->since);
	if ((rc = ch_db_prepare(c, "SELECT serial, at, actor, tbl, op, old, new FROM audit"
	                        " WHERE serial > ? ORDER BY id", &st)) != CH_OK)
		return rc;
	sqlite3_bind_int64(st, 1, since);
	ch_table_add(&t, head);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *old = ch_col_text(st, 5, "-"), *new = ch_col_text(st, 6, "-");
		size_t len = strlen(old) + strlen(new) + 8;
		char *change = malloc(len);
		if (!change) {
			perror("chpolicy");
			exit(CH_FAIL);
		}
		snprintf(change, len, "%s -> %s", old, new);
		const char *row[6] = { ch_col_text(st, 0, ""), ch_col_text(st, 1, ""), ch_col_text(st, 2, ""),
		                       ch_col_text(st, 3, ""), ch_col_text(st, 4, ""), change };
		ch_table_add(&t, row);
		free(change);
	}
	rc = ch_table_finish(c, &t, st, rc);
	return rc;
}

int
ch_cmd_serial(struct ch_ctx *c, const struct ch_args *a)
{
	char err[512];
	int64_t serial = policydb_serial(c->db, err, sizeof(err));

	(void)a;
	if (serial < 0)
		return ch_error(c, CH_FAIL, "%s", err);
	printf("%lld\n", (long long)serial);
	return CH_OK;
}

/* ------------------------------------------------------------ backup */

/*
 * The online backup API copies a consistent snapshot page by page while
 * resolverd reads and other tools write. The target is created with O_EXCL so
 * that an existing file is never overwritten, and with the source's mode.
 */
int
ch_cmd_backup(struct ch_ctx *c, const struct ch_args *a)
{
	const char *path = a->pos[0];
	sqlite3 *dst = NULL;
	struct stat sb;
	char err[512];
	int fd, rc;
	mode_t mode = 0600;

	if (stat(c->db_path, &sb) == 0)
		mode = sb.st_mode & 0666;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
	if (fd < 0)
		return ch_error(c, CH_FAIL, "%s: %s%s", path, strerror(errno),
		                errno == EEXIST ? "; refusing to overwrite" : "");
	close(fd);
	if (sqlite3_open_v2(path, &dst, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		ch_error(c, CH_FAIL, "%s: %s", path, dst ? sqlite3_errmsg(dst) : "cannot open");
		goto fail;
	}
	rc = ch_backup_copy(dst, c->db);
	if (rc != SQLITE_DONE) {
		ch_error(c, CH_FAIL, "%s: %s", path, sqlite3_errstr(rc));
		goto fail;
	}
	int64_t serial = policydb_serial(dst, err, sizeof(err));
	if (serial < 0) {
		ch_error(c, CH_FAIL, "%s: %s", path, err);
		goto fail;
	}
	if (sqlite3_close(dst) != SQLITE_OK) {
		ch_error(c, CH_FAIL, "%s: %s", path, sqlite3_errmsg(dst));
		dst = NULL;
		goto fail;
	}
	printf("%s: serial %lld\n", path, (long long)serial);
	return CH_OK;
fail:
	sqlite3_close_v2(dst);
	unlink(path);
	return CH_FAIL;
}

/* ------------------------------------------------------------ verify */

struct ch_verify {
	int errors, warnings;
};

static void verify_finding(struct ch_verify *vf, bool error, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
verify_finding(struct ch_verify *vf, bool error, const char *fmt, ...)
{
	va_list ap;

	if (error)
		vf->errors++;
	else
		vf->warnings++;
	printf("%s: ", error ? "error" : "warning");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* PRAGMA integrity_check / quick_check: "ok" or one row per problem. */
static int
verify_pragma(struct ch_ctx *c, struct ch_verify *vf, const char *pragma)
{
	sqlite3_stmt *st;
	char sql[64];
	int rc;

	snprintf(sql, sizeof(sql), "PRAGMA %s", pragma);
	if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK) {
		verify_finding(vf, true, "%s: %s", pragma, sqlite3_errmsg(c->db));
		return -1;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *msg = ch_col_text(st, 0, "");
		if (strcmp(msg, "ok") != 0)
			verify_finding(vf, true, "%s: %s", pragma, msg);
	}
	if (rc != SQLITE_DONE)
		verify_finding(vf, true, "%s: %s", pragma, sqlite3_errmsg(c->db));
	sqlite3_finalize(st);
	return 0;
}

/*
 * Compare the tables, views, indexes and triggers with the built-in schema:
 * the database only refuses bad edits while its triggers are all there, and
 * one dropped or changed from the sqlite3 shell is easy to miss.
 */
int
ch_schema_compare(sqlite3 *db, void (*report)(void *ctx, const char *msg), void *ctx)
{
	sqlite3 *ref = NULL;
	sqlite3_stmt *st = NULL, *look = NULL;
	char msg[512];
	int n = 0;

	if (sqlite3_open_v2(":memory:", &ref, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
	    sqlite3_exec(ref, policydb_schema_sql, NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(ref, "SELECT type, name, sql FROM sqlite_master"
	                            " WHERE sql IS NOT NULL ORDER BY type, name", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "SELECT sql FROM sqlite_master WHERE type = ? AND name = ?",
	                       -1, &look, NULL) != SQLITE_OK) {
		snprintf(msg, sizeof(msg), "schema: cannot compare with the built-in schema: %s",
		         look || !st ? sqlite3_errmsg(ref) : sqlite3_errmsg(db));
		report(ctx, msg);
		n = -1;
		goto out;
	}
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *type = ch_col_text(st, 0, ""), *name = ch_col_text(st, 1, "");
		sqlite3_reset(look);
		sqlite3_bind_text(look, 1, type, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(look, 2, name, -1, SQLITE_TRANSIENT);
		if (sqlite3_step(look) != SQLITE_ROW)
			snprintf(msg, sizeof(msg), "schema: %s %s is missing (bad edits it refuses are let "
			         "through)", type, name);
		else if (strcmp(ch_col_text(look, 0, ""), ch_col_text(st, 2, "")) != 0)
			snprintf(msg, sizeof(msg), "schema: %s %s differs from schema version %d", type, name,
			         POLICYDB_SCHEMA_VERSION);
		else
			continue;
		report(ctx, msg);
		n++;
	}
out:
	sqlite3_finalize(look);
	sqlite3_finalize(st);
	sqlite3_close(ref);
	return n;
}

/* ch_schema_compare's report for verify: a warning each. */
static void
verify_schema_finding(void *ctx, const char *msg)
{
	verify_finding(ctx, false, "%s", msg);
}

/* Run a lint query; each row's first column is one warning line. */
static void
verify_lint_sql(struct ch_ctx *c, struct ch_verify *vf, const char *sql)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK) {
		verify_finding(vf, true, "lint: %s", sqlite3_errmsg(c->db));
		return;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		verify_finding(vf, false, "%s", ch_col_text(st, 0, ""));
	if (rc != SQLITE_DONE)
		verify_finding(vf, true, "lint: %s", sqlite3_errmsg(c->db));
	sqlite3_finalize(st);
}

/*
 * Identities the schema of this build would refuse (a database made by an
 * older schema.sql, or with its triggers dropped): each one stops resolverd
 * from loading the policy. A bare address is the host prefix: fine, but
 * chpolicy writes the /32 (/128).
 */
static void
verify_lint_identities(struct ch_ctx *c, struct ch_verify *vf)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(c->db, "SELECT value, domain FROM identities WHERE kind = 'cidr'"
	                              " ORDER BY domain, value", -1, &st, NULL) != SQLITE_OK) {
		verify_finding(vf, true, "lint: %s", sqlite3_errmsg(c->db));
		return;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *value = ch_col_text(st, 0, ""), *why = "invalid";
		struct netaddr na;
		char fix[NETADDR_TEXT_MAX];
		bool bad = netaddr_parse_db(value, false, &na, &why, fix, sizeof(fix)) != 0;
		if (bad && fix[0])
			verify_finding(vf, false, "identity %s (%s) is not canonical: it means %s (%s; fix: "
			               "UPDATE identities SET value = '%s' WHERE kind = 'cidr' AND value = '%s')",
			               value, ch_col_text(st, 1, ""), fix, why, fix, value);
		else if (bad)
			verify_finding(vf, false, "identity %s (%s): %s", value, ch_col_text(st, 1, ""), why);
		else if (!strchr(value, '/'))
			verify_finding(vf, false, "identity %s (%s) has no prefix length: it means %s",
			               value, ch_col_text(st, 1, ""), netaddr_format(&na, fix, sizeof(fix)));
	}
	if (rc != SQLITE_DONE)
		verify_finding(vf, true, "lint: %s", sqlite3_errmsg(c->db));
	sqlite3_finalize(st);
}

static bool
sel_equal(const struct policy_selector *x, const struct policy_selector *y)
{
	if (x->kind != y->kind)
		return false;
	switch (x->kind) {
	case SEL_ANY:
		return true;
	case SEL_DOMAIN:
	case SEL_GROUP:
		return x->index == y->index;
	case SEL_LEVEL:
		return x->min == y->min && x->max == y->max;
	}
	return false;
}

/* Lint that needs the decision logic: shadowed rules, empty level ranges, unreachable domains. */
static void
verify_lint_policy(const struct policy *p, struct ch_verify *vf, time_t now, bool mutual)
{
	char fs[300], ts[300], when[32];

	for (size_t i = 0; i < p->nrules; i++) {
		const struct policy_rule *r = &p->rules[i];
		if (rule_expired(r, now))
			continue; /* reported as expired */
		for (size_t j = 0; j < i; j++) {
			const struct policy_rule *e = &p->rules[j];
			if (rule_expired(e, now) || e->dry_run)
				continue; /* a dry-run rule decides nothing */
			if ((e->from.kind == SEL_ANY && e->to.kind == SEL_ANY) ||
			    (sel_equal(&e->from, &r->from) && sel_equal(&e->to, &r->to))) {
				if (e->expires)
					verify_finding(vf, false, "rule %lld (%s -> %s) is shadowed by rule %lld "
					               "until that one expires at %s", (long long)r->id,
					               policy_selector_format(p, &r->from, fs, sizeof(fs)),
					               policy_selector_format(p, &r->to, ts, sizeof(ts)),
					               (long long)e->id, ch_fmt_time(e->expires, when, sizeof(when)));
				else
					verify_finding(vf, false, "rule %lld (%s -> %s) is shadowed by rule %lld "
					               "and never decides", (long long)r->id,
					               policy_selector_format(p, &r->from, fs, sizeof(fs)),
					               policy_selector_format(p, &r->to, ts, sizeof(ts)),
					               (long long)e->id);
				break;
			}
		}
		for (int side = 0; side < 2; side++) {
			const struct policy_selector *sel = side ? &r->to : &r->from;
			bool hit = false;
			if (sel->kind != SEL_LEVEL)
				continue;
			for (size_t d = 0; d < p->ndomains && !hit; d++)
				hit = policy_selector_matches(p, sel, (uint32_t)d);
			if (!hit)
				verify_finding(vf, false, "rule %lld: %s selector %s matches no domain",
				               (long long)r->id, side ? "to" : "from",
				               policy_selector_format(p, sel, fs, sizeof(fs)));
		}
	}
	for (size_t d = 0; d < p->ndomains; d++) {
		bool reached = false;
		if (!p->domains[d].enabled)
			continue; /* unreachable on purpose */
		for (size_t r = 0; r < p->ndomains && !reached; r++) {
			struct policy_verdict v;
			if (r == d)
				continue;
			policy_decide(p, (uint32_t)r, (uint32_t)d, now, mutual, &v);
			reached = v.allow;
		}
		if (!reached)
			verify_finding(vf, false, "domain %s: no other domain may reach it%s",
			               p->domains[d].name, mutual ? " (with mutual consent)" : "");
	}
}

int
ch_cmd_verify(struct ch_ctx *c, const struct ch_args *a)
{
	struct ch_verify vf = { 0, 0 };
	char err[512];
	struct policy *p;
	sqlite3_stmt *st;
	int64_t version;

	verify_pragma(c, &vf, "integrity_check");
	verify_pragma(c, &vf, "quick_check");
	if (vf.errors)
		return CH_FAIL; /* nothing else can be trusted */
	version = ch_db_schema_version(c, err, sizeof(err));
	if (version < 0) {
		verify_finding(&vf, true, "schema: %s", err);
		return CH_FAIL;
	}
	if (version != POLICYDB_SCHEMA_VERSION) {
		verify_finding(&vf, true, "schema: version %lld, this chpolicy knows %d",
		               (long long)version, POLICYDB_SCHEMA_VERSION);
		return CH_FAIL;
	}
	ch_schema_compare(c->db, verify_schema_finding, &vf);
	if (sqlite3_prepare_v2(c->db, "PRAGMA journal_mode", -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW && strcmp(ch_col_text(st, 0, ""), "wal") != 0)
			verify_finding(&vf, false, "journal mode is %s, not wal: writers block resolverd's "
			               "reads (fix: sqlite3 DB 'PRAGMA journal_mode=WAL')",
			               ch_col_text(st, 0, ""));
		sqlite3_finalize(st);
	}
	verify_lint_identities(c, &vf);
	char file[PATH_MAX];
	if (policydb_readable_by_others(c->db_path, file, sizeof(file)))
		verify_lint_sql(c, &vf,
		        "SELECT count(*) || ' TSIG secret(s) in a database file every user may read"
		        " (fix: chmod o-rwx DB and its -wal and -shm files)'"
		        " FROM identities WHERE kind = 'tsig' HAVING count(*) > 0");
	/* whoever holds one domain's secret could sign as the other */
	verify_lint_sql(c, &vf,
	        "SELECT 'TSIG keys ' || group_concat(value, ', ') || ' share one secret across domains '"
	        " || group_concat(DISTINCT domain) || ': give each domain its own'"
	        " FROM identities WHERE kind = 'tsig' GROUP BY secret HAVING count(DISTINCT domain) > 1");
	/* SERVFAIL: a closed-network target host is never asked upstream */
	verify_lint_sql(c, &vf,
	        "SELECT 'target host ' || host || ' of ' || group_concat(DISTINCT domain) || ':"
	        " no address in target_addresses, so resolverd answers SERVFAIL for it (add one: chpolicy"
	        " target add ' || min(domain) || ' ' || host || ' --address ADDR)'"
	        " FROM targets t WHERE host <> '.'"
	        " AND NOT EXISTS (SELECT 1 FROM target_addresses a WHERE a.host = t.host)"
	        " GROUP BY host ORDER BY host");
	p = policydb_load(c->db, err, sizeof(err));
	if (!p) {
		verify_finding(&vf, true, "resolverd cannot load this policy: %s", err);
		return CH_FAIL;
	}
	verify_lint_sql(c, &vf,
	        "SELECT 'rule ' || id || ': expired at ' || expires"
	        " || ' (remove it: chpolicy rule remove ' || id || ')'"
	        " FROM rules WHERE expires IS NOT NULL AND datetime(expires) <= datetime('now')"
	        " ORDER BY priority, id");
	verify_lint_sql(c, &vf,
	        "SELECT 'group ' || g.name || ': no members, but named by rule(s) '"
	        " || (SELECT group_concat(id, ', ') FROM (SELECT id FROM rules"
	        "     WHERE (from_kind = 'group' AND from_name = g.name)"
	        "        OR (to_kind = 'group' AND to_name = g.name) ORDER BY id))"
	        " || ' (it selects nothing)'"
	        " FROM groups g WHERE NOT EXISTS (SELECT 1 FROM memberships WHERE grp = g.name)"
	        " AND EXISTS (SELECT 1 FROM rules WHERE (from_kind = 'group' AND from_name = g.name)"
	        "                                    OR (to_kind = 'group' AND to_name = g.name))"
	        " ORDER BY g.name");
	verify_lint_sql(c, &vf,
	        "SELECT 'domain ' || name || ': no identity (its queries cannot be attributed to it)'"
	        " FROM domains d WHERE enabled"
	        " AND NOT EXISTS (SELECT 1 FROM identities WHERE domain = d.name) ORDER BY name");
	verify_lint_sql(c, &vf,
	        "SELECT 'meta: actor is set to ' || quote(value) || ' outside a transaction:"
	        " edits from the sqlite3 shell are logged under that name'"
	        " FROM meta WHERE key = 'actor'");
	verify_lint_policy(p, &vf, time(NULL), !a->no_mutual);
	/* a reminder, not a finding: dry-run rules are meant to be enforced or removed one day */
	for (size_t i = 0; i < p->nrules; i++) {
		const struct policy_rule *r = &p->rules[i];
		char fs[300], ts[300];
		if (r->dry_run)
			printf("note: rule %lld (%s -> %s %s) is in dry-run mode: reported, not applied "
			       "(enforce it: chpolicy rule set %lld --enforce)\n", (long long)r->id,
			       policy_selector_format(p, &r->from, fs, sizeof(fs)),
			       policy_selector_format(p, &r->to, ts, sizeof(ts)), r->allow ? "allow" : "deny",
			       (long long)r->id);
	}
	printf("%s: integrity ok, schema version %d, serial %llu, %zu domains, %zu rules "
	       "(%zu dry-run), %d warning%s\n", c->db_path, POLICYDB_SCHEMA_VERSION,
	       (unsigned long long)p->serial, p->ndomains, p->nrules, p->ndry_run, vf.warnings,
	       vf.warnings == 1 ? "" : "s");
	policy_free(p);
	if (vf.errors)
		return CH_FAIL;
	return vf.warnings ? CH_NO : CH_OK;
}

/* ------------------------------------------------------------ status */

/* Whether the process that wrote the status file still runs (EPERM: it does, as another user). */
static bool
pid_alive(long pid)
{
	return pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

int
ch_cmd_status(struct ch_ctx *c, const struct ch_args *a)
{
	struct ch_status s;
	char err[512];
	int64_t dbserial = -1;

	(void)a;
	/* the database's serial: read it without the schema check, a damaged file says so below */
	c->db = policydb_open(c->db_path, 1, err, sizeof(err));
	if (c->db)
		dbserial = policydb_serial(c->db, err, sizeof(err));
	if (ch_status_read(c->db_path, &s) != 0)
		return ch_error(c, CH_FAIL, "no resolverd status for %s: %s%s: %s (resolverd is not "
		                "running with this database, or cannot write that directory)", c->db_path,
		                c->db_path, RELOAD_STATUS_SUFFIX, strerror(errno));
	if (strcmp(s.state, "stopped") == 0 || !pid_alive(s.pid))
		return ch_error(c, CH_FAIL, "resolverd (pid %ld) that wrote %s%s is %s (last update %s UTC); "
		                "nothing serves this database", s.pid, c->db_path, RELOAD_STATUS_SUFFIX,
		                strcmp(s.state, "stopped") == 0 ? "stopped" : "gone", s.updated);
	/* an edit just committed: give resolverd's reload (milliseconds) up to 2 s */
	for (int i = 0; i < 40 && dbserial >= 0 && s.served != dbserial && strcmp(s.state, "serving") == 0; i++) {
		sqlite3_sleep(50);
		if (ch_status_read(c->db_path, &s) != 0)
			break;
	}
	printf("resolverd:         pid %ld, %s (status of %s UTC)\n", s.pid, s.state, s.updated);
	printf("served serial:     %lld\n", (long long)s.served);
	if (dbserial >= 0)
		printf("database serial:   %lld\n", (long long)dbserial);
	else
		printf("database serial:   unreadable (%s)\n", err);
	if (s.last_error[0])
		printf("last reload error: %s UTC: %s\n", s.last_error_at, s.last_error);
	else
		printf("last reload error: none\n");
	printf("failed reloads:    %lld\n", (long long)s.failed);
	/* a site fed by zone transfer (policy-source xfr): the transfer's state too */
	char xpath[4200], line[1100];
	bool xfr_failing = false;
	snprintf(xpath, sizeof(xpath), "%s%s", c->db_path, XFR_STATUS_SUFFIX);
	FILE *xf = fopen(xpath, "r");
	if (xf) {
		while (fgets(line, sizeof(line), xf)) {
			if (line[0] == '#' || strncmp(line, "pid:", 4) == 0)
				continue;
			fputs(line, stdout);
			if (strncmp(line, "xfr-state: ", 11) == 0 && strncmp(line + 11, "ok", 2) != 0 &&
			    strncmp(line + 11, "stopped", 7) != 0)
				xfr_failing = true;
		}
		fclose(xf);
	}
	if (xfr_failing)
		printf("NOT IN SYNC WITH THE PRIMARY: the last policy transfer failed (xfr-last-error "
		       "above); resolverd serves the last good policy, serial %lld\n", (long long)s.served);
	if (strcmp(s.state, "serving") != 0) {
		printf("NOT IN SYNC: the last reload failed; resolverd serves serial %lld%s\n",
		       (long long)s.served, strcmp(s.state, "replaced") == 0
		       ? " (the database file was replaced: see the error above)" : "");
		return CH_NO;
	}
	if (dbserial < 0 || s.served != dbserial) {
		printf("NOT IN SYNC: resolverd serves serial %lld, the database is at %s\n",
		       (long long)s.served, dbserial >= 0 ? "a newer serial" : "a serial that cannot be read");
		return CH_NO;
	}
	printf("in sync: resolverd serves the database's serial %lld\n", (long long)dbserial);
	return xfr_failing ? CH_NO : CH_OK;
}
