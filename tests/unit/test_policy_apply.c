/*
 * test_policy_apply.c -- a snapshot brought up to date with policydb_apply()
 * is the snapshot a full policydb_load() of the same database makes.
 *
 * Random edit sequences go through SQL (the schema's triggers write the
 * audit rows and refuse what the database refuses): domains, groups,
 * memberships, identities, rules (every selector kind, expiry, dry-run),
 * targets and their addresses, in batches of one to forty statements per
 * commit. After each commit the last snapshot (itself applied, step after
 * step) is brought up to date and compared with a full build (and the one
 * it was applied to with the full build of its own serial: a snapshot being
 * served is never written): the domains,
 * groups and rules by name, every decision between every pair of domains
 * (mutual consent on and off, at times before and after rule expiries),
 * identify() of every stored prefix and of addresses around them,
 * find_domain_suffix() of names at, below and beside the domains, and the
 * targets and the host index. Then the cases that must fall back to a full
 * build: a gap in the audit log, a schema change, too many changes.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <sqlite3.h>

#include "dname.h"
#include "netaddr.h"
#include "policy.h"
#include "policydb.h"
#include "unit.h"

#define NDOMAINS 28
#define NGROUPS 6
#define NHOSTS 8
#define NADDRS 16

static const char *domain_names[NDOMAINS] = {
	"a.test", "b.test", "c.test", "d.test", "e.test", "f.test", "g.test", "h.test",
	"x.a.test", "y.x.a.test", "sub.b.test", "k.example", "l.example", "m.example",
	"n.example", "o.example", "p.example", "q.example", "r.example", "s.example",
	"xn--bcher-kva.example", "t.example", "u.example", "v.example", "w.example",
	"example", "z.test", "zz.z.test",
};
static const char *group_names[NGROUPS] = { "finance", "nato", "g:1", "g.2", "g_3", "retail" };
static const char *host_names[NHOSTS] = {
	"xmpp.a.test", "b.test", "hoster.example", "xmpp.hoster.example", "k.example",
	"srv.c.test", "ab.c", "b.z",
};
static const char *addrs[NADDRS] = {
	"10.0.0.1", "10.0.0.1/32", "10.0.0.2", "10.0.1.0/24", "10.0.0.0/16", "10.1.0.0/16",
	"192.0.2.7", "192.0.2.0/24", "2001:db8::1", "2001:db8::1/128", "2001:db8:1::/48",
	"2001:db8::/32", "198.51.100.0/25", "0.0.0.0/0", "::/0", "203.0.113.9",
};
static const char *target_addrs[] = { "192.0.2.10", "192.0.2.11", "2001:db8::10", "198.51.100.3" };
static const char *services[] = { "xmpp-server", "xmpps-server", "jabber" };

#define BASE_TIME ((time_t)3786912000) /* 2090-01-01 00:00:00 UTC */

static sqlite3 *db;

static void
exec_or_bail(const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		printf("Bail out! %s: %s\n", sql, msg ? msg : "");
		exit(1);
	}
}

/* Run one edit; the database may refuse it (a trigger, a constraint): that is part of the test. */
static int
edit(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
edit(const char *fmt, ...)
{
	char sql[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK;
}

static const char *
pick(const char **list, size_t n)
{
	return list[(size_t)rand() % n];
}

#define PICK(list) pick(list, sizeof(list) / sizeof(list[0]))

static void
selector(char *kind, size_t klen, char *name, size_t nlen, char *min, char *max, size_t mlen)
{
	snprintf(name, nlen, "NULL");
	snprintf(min, mlen, "NULL");
	snprintf(max, mlen, "NULL");
	switch (rand() % 6) {
	case 0:
		snprintf(kind, klen, "any");
		break;
	case 1:
	case 2:
		snprintf(kind, klen, "domain");
		snprintf(name, nlen, "'%s'", PICK(domain_names));
		break;
	case 3:
	case 4:
		snprintf(kind, klen, "group");
		snprintf(name, nlen, "'%s'", PICK(group_names));
		break;
	default: {
		snprintf(kind, klen, "level");
		int lo = rand() % 4, shape = rand() % 3;
		if (shape != 1)
			snprintf(min, mlen, "%d", lo);
		if (shape != 0)
			snprintf(max, mlen, "%d", lo + rand() % 3);
		break;
	}
	}
}

static void
expires_text(char *buf, size_t len)
{
	if (rand() % 4)
		snprintf(buf, len, "NULL");
	else
		snprintf(buf, len, "datetime(%lld, 'unixepoch')", (long long)(BASE_TIME + (rand() % 5) * 86400));
}

static void
random_rule_values(char *buf, size_t len)
{
	char fk[16], fn[64], fmin[16], fmax[16], tk[16], tn[64], tmin[16], tmax[16], exp[64];

	selector(fk, sizeof(fk), fn, sizeof(fn), fmin, fmax, sizeof(fmin));
	selector(tk, sizeof(tk), tn, sizeof(tn), tmin, tmax, sizeof(tmin));
	expires_text(exp, sizeof(exp));
	snprintf(buf, len, "%d, '%s', %s, %s, %s, '%s', %s, %s, %s, '%s', %s, '%s'",
	         rand() % 12 - 2, fk, fn, fmin, fmax, tk, tn, tmin, tmax, rand() % 3 ? "allow" : "deny",
	         exp, rand() % 5 ? "enforce" : "dry-run");
}

/* A rule's id, picked by rand() (SQLite's random() would make a run unrepeatable); 0 for none. */
static long long
random_rule_id(void)
{
	sqlite3_stmt *st;
	long long id = 0;

	if (sqlite3_prepare_v2(db, "SELECT id FROM rules ORDER BY id LIMIT 1 OFFSET"
	                       " ?1 % max(1, (SELECT count(*) FROM rules))", -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_int(st, 1, rand());
		if (sqlite3_step(st) == SQLITE_ROW)
			id = sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
	return id;
}

#define RULE_COLS "priority, from_kind, from_name, from_min, from_max, to_kind, to_name, to_min, " \
                  "to_max, action, expires, mode"

/* One random edit of any table. */
static void
random_edit(void)
{
	char v[512];
	const char *d = PICK(domain_names), *g = PICK(group_names);

	switch (rand() % 26) {
	case 0:
	case 1:
	case 2:
		edit("INSERT INTO domains (name, level, enabled) VALUES ('%s', %d, %d)", d, rand() % 5,
		     rand() % 8 != 0);
		break;
	case 24:
		/* a replaced row: no delete trigger fires, only the insert is in the audit log */
		if (rand() % 2)
			edit("INSERT OR REPLACE INTO domains (name, level, enabled) VALUES ('%s', %d, 1)", d,
			     rand() % 5);
		else
			edit("INSERT OR REPLACE INTO identities (value, domain) VALUES ('%s', '%s')", PICK(addrs), d);
		break;
	case 25:
		/* TSIG keys and certificate names: read by a full build */
		if (rand() % 2)
			edit("INSERT INTO identities (kind, value, domain, algorithm, secret) VALUES"
			     " ('tsig', 'key-%d', '%s', 'hmac-sha256', 'QUJDREVGR0hJSktMTU5PUA==')", rand() % 4, d);
		else
			edit("INSERT INTO identities (kind, value, domain) VALUES ('cert', 'name-%d', '%s')",
			     rand() % 4, d);
		break;
	case 3:
		edit("UPDATE domains SET level = %d, enabled = %d WHERE name = '%s'", rand() % 5,
		     rand() % 6 != 0, d);
		break;
	case 4:
		edit("DELETE FROM domains WHERE name = '%s'", d);
		break;
	case 5:
		edit("INSERT INTO groups (name) VALUES ('%s')", g);
		break;
	case 6:
		edit("DELETE FROM groups WHERE name = '%s'", g);
		break;
	case 7:
	case 8:
		edit("INSERT INTO memberships (domain, grp) VALUES ('%s', '%s')", d, g);
		break;
	case 9:
		edit("DELETE FROM memberships WHERE domain = '%s' AND grp = '%s'", d, g);
		break;
	case 10:
		edit("UPDATE memberships SET grp = '%s' WHERE domain = '%s' AND grp = '%s'", PICK(group_names), d, g);
		break;
	case 11:
		edit("INSERT INTO identities (value, domain) VALUES ('%s', '%s')", PICK(addrs), d);
		break;
	case 12:
		edit("DELETE FROM identities WHERE value = '%s'", PICK(addrs));
		break;
	case 13:
		if (rand() % 2)
			edit("UPDATE identities SET domain = '%s' WHERE value = '%s'", d, PICK(addrs));
		else
			edit("UPDATE identities SET value = '%s' WHERE value = '%s'", PICK(addrs), PICK(addrs));
		break;
	case 14:
	case 15:
	case 16:
		random_rule_values(v, sizeof(v));
		edit("INSERT INTO rules (" RULE_COLS ") VALUES (%s)", v);
		break;
	case 17:
		edit("DELETE FROM rules WHERE id = %lld", random_rule_id());
		break;
	case 18: {
		long long id = random_rule_id();
		switch (rand() % 4) {
		case 0:
			edit("UPDATE rules SET priority = %d WHERE id = %lld", rand() % 12 - 2, id);
			break;
		case 1:
			edit("UPDATE rules SET action = CASE action WHEN 'allow' THEN 'deny' ELSE 'allow' END,"
			     " mode = CASE mode WHEN 'enforce' THEN 'dry-run' ELSE 'enforce' END WHERE id = %lld", id);
			break;
		case 2:
			edit("UPDATE rules SET note = 'only the note' WHERE id = %lld", id);
			break;
		default:
			random_rule_values(v, sizeof(v));
			edit("INSERT OR REPLACE INTO rules (id, " RULE_COLS ") VALUES (%lld, %s)", id, v);
			break;
		}
		break;
	}
	case 19:
	case 20: {
		const char *host = rand() % 8 ? PICK(host_names) : ".";
		bool none = strcmp(host, ".") == 0;
		edit("INSERT INTO targets (domain, service, priority, weight, port, host) VALUES"
		     " ('%s', '%s', %d, %d, %d, '%s')", d, PICK(services), none ? 0 : rand() % 3,
		     none ? 0 : rand() % 3, none ? 0 : 5269 + rand() % 3, host);
		break;
	}
	case 21:
		if (rand() % 2)
			edit("DELETE FROM targets WHERE domain = '%s' AND host = '%s'", d, PICK(host_names));
		else
			edit("UPDATE targets SET priority = %d WHERE domain = '%s'", rand() % 3, d);
		break;
	case 22:
		edit("INSERT INTO target_addresses (host, address) VALUES ('%s', '%s')", PICK(host_names),
		     PICK(target_addrs));
		break;
	default:
		edit("DELETE FROM target_addresses WHERE host = '%s' AND address = '%s'", PICK(host_names),
		     PICK(target_addrs));
		break;
	}
}

/* ------------------------------------------------------------ comparison */

static int mismatches;

#define SAME(cond, ...)                                         \
	do {                                                    \
		if (!(cond)) {                                  \
			if (mismatches++ < 10) {                \
				printf("# mismatch: ");         \
				printf(__VA_ARGS__);            \
				printf("\n");                   \
			}                                       \
		}                                               \
	} while (0)

static const char *
dname(const struct policy *p, uint32_t d)
{
	return d == POLICY_NONE ? "(none)" : p->domains[d].name;
}

static void
sel_text(const struct policy *p, const struct policy_selector *s, char *buf, size_t len)
{
	policy_selector_format(p, s, buf, len);
}

static bool
same_groups(const struct policy *a, uint32_t da, const struct policy *b, uint32_t db_)
{
	const struct policy_domain *x = &a->domains[da], *y = &b->domains[db_];

	if (x->ngroups != y->ngroups)
		return false;
	for (size_t i = 0; i < x->ngroups; i++) {
		uint32_t g = policy_find_group(b, a->groups[x->groups[i]]);
		struct policy_selector s = { .kind = SEL_GROUP, .index = g };
		if (g == POLICY_NONE || !policy_selector_matches(b, &s, db_))
			return false;
	}
	return true;
}

static void
target_text(const struct policy *p, const struct policy_target *t, char *buf, size_t len)
{
	char host[DNAME_TEXT_MAX], a[NETADDR_TEXT_MAX];
	size_t o = (size_t)snprintf(buf, len, "%s %u %u %u %u %s", dname(p, t->domain), t->service,
	                            t->priority, t->weight, t->port, dname_to_text(t->host, host, sizeof(host)));
	for (size_t i = 0; i < t->naddrs && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, " %s", netaddr_format(&t->addrs[i], a, sizeof(a)));
}

static void
compare_targets(const struct policy *inc, uint32_t di, const struct policy *full, uint32_t df)
{
	const struct policy_domain *x = &inc->domains[di], *y = &full->domains[df];
	char ta[1024], tb[1024];

	SAME(x->ntargets == y->ntargets, "%s: %u targets, full build %u", y->name, x->ntargets, y->ntargets);
	for (uint32_t i = 0; i < x->ntargets && i < y->ntargets; i++) {
		target_text(inc, &inc->targets[x->first_target + i], ta, sizeof(ta));
		target_text(full, &full->targets[y->first_target + i], tb, sizeof(tb));
		SAME(strcmp(ta, tb) == 0, "%s target %u: '%s', full build '%s'", y->name, i, ta, tb);
	}
}

static void
compare_host_index(const struct policy *inc, const struct policy *full, const char *host)
{
	uint8_t wire[DNAME_MAXLEN];
	size_t fi = 0, ff = 0, ni, nf;
	char ta[1024], tb[1024];

	if (!dname_from_text(host, wire))
		return;
	ni = policy_find_target_host(inc, wire, &fi);
	nf = policy_find_target_host(full, wire, &ff);
	SAME(ni == nf, "host %s: %zu targets, full build %zu", host, ni, nf);
	for (size_t i = 0; i < ni && i < nf; i++) {
		target_text(inc, &inc->targets[inc->targets_by_host[fi + i]], ta, sizeof(ta));
		target_text(full, &full->targets[full->targets_by_host[ff + i]], tb, sizeof(tb));
		SAME(strcmp(ta, tb) == 0, "host %s entry %zu: '%s', full build '%s'", host, i, ta, tb);
	}
}

static void
compare_rules(const struct policy *inc, const struct policy *full)
{
	char a[300], b[300];

	SAME(inc->nrules == full->nrules, "%zu rules, full build %zu", inc->nrules, full->nrules);
	SAME(inc->ndry_run == full->ndry_run, "%zu dry-run rules, full build %zu", inc->ndry_run, full->ndry_run);
	for (size_t i = 0; i < inc->nrules && i < full->nrules; i++) {
		const struct policy_rule *x = &inc->rules[i], *y = &full->rules[i];
		SAME(x->id == y->id && x->priority == y->priority && x->allow == y->allow &&
		     x->expires == y->expires && x->dry_run == y->dry_run,
		     "rule %zu: id %lld, full build id %lld", i, (long long)x->id, (long long)y->id);
		sel_text(inc, &x->from, a, sizeof(a));
		sel_text(full, &y->from, b, sizeof(b));
		SAME(strcmp(a, b) == 0, "rule %lld from %s, full build %s", (long long)y->id, a, b);
		sel_text(inc, &x->to, a, sizeof(a));
		sel_text(full, &y->to, b, sizeof(b));
		SAME(strcmp(a, b) == 0, "rule %lld to %s, full build %s", (long long)y->id, a, b);
	}
	SAME(inc->nexpiries == full->nexpiries, "%zu expiries, full build %zu", inc->nexpiries, full->nexpiries);
	for (time_t t = BASE_TIME - 1; t < BASE_TIME + 6 * 86400; t += 43200)
		SAME(policy_next_expiry(inc, t) == policy_next_expiry(full, t), "next expiry after %lld",
		     (long long)t);
}

static uint32_t
identify(const struct policy *p, const char *text)
{
	struct netaddr na;
	const char *err;

	if (netaddr_parse_cidr(text, &na, &err) != 0)
		return POLICY_NONE;
	return policy_identify(p, &na);
}

static long decisions;

/* Everything a query can ask of the two snapshots. */
static void
compare(const struct policy *inc, const struct policy *full)
{
	static const char *probes[] = {
		"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.1.5", "10.0.255.1", "10.1.2.3", "10.2.0.1",
		"192.0.2.7", "192.0.2.8", "2001:db8::1", "2001:db8::2", "2001:db8:1::9", "2001:db9::1",
		"198.51.100.1", "198.51.100.200", "203.0.113.9", "8.8.8.8", "::2",
	};
	static const time_t nows[] = { BASE_TIME - 10, BASE_TIME + 86400 + 5, BASE_TIME + 10 * 86400 };
	char name[300];
	uint8_t wire[DNAME_MAXLEN];
	unsigned above_i, above_f;

	SAME(inc->serial == full->serial, "serial %llu, full build %llu", (unsigned long long)inc->serial,
	     (unsigned long long)full->serial);
	SAME(inc->ndomains - inc->ndeleted == full->ndomains, "%zu domains, full build %zu",
	     inc->ndomains - inc->ndeleted, full->ndomains);
	for (uint32_t df = 0; df < full->ndomains; df++) {
		const struct policy_domain *y = &full->domains[df];
		uint32_t di = policy_find_domain(inc, y->name);
		SAME(di != POLICY_NONE, "domain %s missing", y->name);
		if (di == POLICY_NONE)
			continue;
		const struct policy_domain *x = &inc->domains[di];
		SAME(x->level == y->level && x->enabled == y->enabled, "domain %s: level %u enabled %u, "
		     "full build %u %u", y->name, x->level, x->enabled, y->level, y->enabled);
		SAME(same_groups(inc, di, full, df) && same_groups(full, df, inc, di), "domain %s: groups", y->name);
		SAME(policy_find_domain_wire(inc, y->wire) == di, "domain %s by wire", y->name);
		compare_targets(inc, di, full, df);
	}
	size_t live_groups = 0;
	for (size_t g = 0; g < inc->ngroups; g++)
		if (inc->groups[g][0]) {
			live_groups++;
			SAME(policy_find_group(full, inc->groups[g]) != POLICY_NONE, "group %s", inc->groups[g]);
		}
	SAME(live_groups == full->ngroups, "%zu groups, full build %zu", live_groups, full->ngroups);
	compare_rules(inc, full);
	/* every decision, by name */
	for (uint32_t rf = 0; rf <= full->ndomains; rf++) {
		uint32_t ri = rf < full->ndomains ? policy_find_domain(inc, full->domains[rf].name) : POLICY_NONE;
		for (uint32_t pf = 0; pf < full->ndomains; pf++) {
			uint32_t pi = policy_find_domain(inc, full->domains[pf].name);
			for (size_t k = 0; k < sizeof(nows) / sizeof(nows[0]); k++)
				for (int mutual = 0; mutual < 2; mutual++) {
					struct policy_verdict a, b;
					policy_decide(inc, ri, pi, nows[k], mutual, &a);
					policy_decide(full, rf < full->ndomains ? rf : POLICY_NONE, pf, nows[k], mutual, &b);
					decisions++;
					SAME(a.allow == b.allow && a.rule_id == b.rule_id &&
					     a.reverse_rule_id == b.reverse_rule_id && strcmp(a.reason, b.reason) == 0 &&
					     a.would_differ == b.would_differ && a.would_allow == b.would_allow &&
					     a.would_rule_id == b.would_rule_id,
					     "%s -> %s at %lld mutual %d: %s rule %lld/%lld (%s), full build %s rule %lld/%lld (%s)",
					     dname(full, rf < full->ndomains ? rf : POLICY_NONE), full->domains[pf].name,
					     (long long)nows[k], mutual, a.allow ? "allow" : "deny", (long long)a.rule_id,
					     (long long)a.reverse_rule_id, a.reason, b.allow ? "allow" : "deny",
					     (long long)b.rule_id, (long long)b.reverse_rule_id, b.reason);
				}
		}
	}
	/* identify: the stored prefixes and addresses around them */
	for (size_t i = 0; i < NADDRS + sizeof(probes) / sizeof(probes[0]); i++) {
		const char *a = i < NADDRS ? addrs[i] : probes[i - NADDRS];
		uint32_t x = identify(inc, a), y = identify(full, a);
		SAME(strcmp(dname(inc, x), dname(full, y)) == 0, "identify %s: %s, full build %s", a,
		     dname(inc, x), dname(full, y));
	}
	/* suffixes: at, below and beside every name */
	for (size_t i = 0; i < NDOMAINS * 3 + 2; i++) {
		if (i < NDOMAINS * 3)
			snprintf(name, sizeof(name), i % 3 == 0 ? "%s" : i % 3 == 1 ? "conference.%s" : "_xmpp-server._tcp.Z%s",
			         domain_names[i / 3]);
		else
			snprintf(name, sizeof(name), i % 2 ? "nothing.invalid" : "test");
		size_t len = dname_from_text(name, wire);
		uint32_t x = policy_find_domain_suffix(inc, wire, len, &above_i);
		uint32_t y = policy_find_domain_suffix(full, wire, len, &above_f);
		SAME(strcmp(dname(inc, x), dname(full, y)) == 0 && (y == POLICY_NONE || above_i == above_f),
		     "suffix of %s: %s, full build %s", name, dname(inc, x), dname(full, y));
	}
	for (size_t i = 0; i < NHOSTS; i++)
		compare_host_index(inc, full, host_names[i]);
	for (size_t i = 0; i < NDOMAINS; i++)
		compare_host_index(inc, full, domain_names[i]);
}

/* ------------------------------------------------------------ the run */

static struct policy *
full_load(void)
{
	char err[512];
	struct policy *p = policydb_load(db, err, sizeof(err));

	if (!p) {
		printf("Bail out! full load: %s\n", err);
		exit(1);
	}
	return p;
}

static void
open_db(void)
{
	char path[4096], *schema;
	FILE *f;
	long len;

	snprintf(path, sizeof(path), "%s/dbtools/schema.sql", TOP_SRCDIR);
	f = fopen(path, "r");
	if (!f || fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
		printf("Bail out! cannot read %s\n", path);
		exit(1);
	}
	schema = malloc((size_t)len + 1);
	if (!schema || fread(schema, 1, (size_t)len, f) != (size_t)len) {
		printf("Bail out! cannot read %s\n", path);
		exit(1);
	}
	schema[len] = '\0';
	fclose(f);
	if (sqlite3_open(":memory:", &db) != SQLITE_OK) {
		printf("Bail out! sqlite3_open\n");
		exit(1);
	}
	exec_or_bail(schema);
	free(schema);
}

/*
 * Apply the database's changes to *cur and compare with a full build; *cur
 * becomes the new snapshot, *full the full build of it. The snapshot applied
 * to must not have changed meanwhile (it is what the loop serves): it is
 * compared again with the full build of its own serial.
 */
static void
step(struct policy **cur, struct policy **full_cur, int *applied, int *rebuilt)
{
	char err[512];
	enum policydb_apply_status st;
	struct policy *full = full_load();
	struct policy *inc = policydb_apply(db, *cur, 1000000, &st, err, sizeof(err));

	if (st == POLICYDB_UNCHANGED) {
		inc = policy_ref(*cur);
		SAME(full->serial == (*cur)->serial, "unchanged, but serial %llu after %llu",
		     (unsigned long long)full->serial, (unsigned long long)(*cur)->serial);
	} else if (st == POLICYDB_REBUILD) {
		/* only the garbage of removed entries, or a key or certificate name, ask for a full build */
		SAME(policy_wants_rebuild(*cur) || strstr(err, "identity changed"),
		     "a full build was needed: %s", err);
		(*rebuilt)++;
		inc = policy_ref(full);
	} else {
		(*applied)++;
	}
	compare(inc, full);
	compare(*cur, *full_cur);
	policy_free(*full_cur);
	*full_cur = full;
	policy_free(*cur);
	*cur = inc;
}

static void
run(unsigned seed, int steps)
{
	int applied = 0, rebuilt = 0;
	long before = decisions;

	srand(seed);
	open_db();
	struct policy *cur = full_load(), *full_cur = policy_ref(cur);
	mismatches = 0;
	for (int i = 0; i < steps; i++) {
		int batch = rand() % 10 == 0 ? 10 + rand() % 30 : 1 + rand() % 4;
		exec_or_bail("BEGIN");
		for (int k = 0; k < batch; k++)
			random_edit();
		exec_or_bail("COMMIT");
		step(&cur, &full_cur, &applied, &rebuilt);
	}
	sqlite3_stmt *st;
	long rules = 0, domains = 0, audit = 0;
	if (sqlite3_prepare_v2(db, "SELECT (SELECT count(*) FROM rules), (SELECT count(*) FROM domains),"
	                       " (SELECT count(*) FROM audit)", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW) {
		rules = sqlite3_column_int64(st, 0);
		domains = sqlite3_column_int64(st, 1);
		audit = sqlite3_column_int64(st, 2);
	}
	sqlite3_finalize(st);
	CHECK(mismatches == 0 && applied > steps / 2,
	      "seed %u: %d commits (%ld audit rows, %ld domains, %ld rules at the end): %d applied, "
	      "%d full builds, %ld decisions compared, %d mismatches",
	      seed, steps, audit, domains, rules, applied, rebuilt, decisions - before, mismatches);

	/* what must make a full build */
	char err[512];
	enum policydb_apply_status status;
	struct policy *p;
	exec_or_bail("UPDATE meta SET value = value + 1 WHERE key = 'serial'");
	policy_free(full_cur);
	p = policydb_apply(db, cur, 1000000, &status, err, sizeof(err));
	CHECK(!p && status == POLICYDB_REBUILD, "seed %u: a serial without an audit row: full build (%s)", seed, err);
	policy_free(cur);
	cur = full_load();
	exec_or_bail("CREATE INDEX test_only ON rules (note)");
	edit("INSERT INTO domains (name) VALUES ('schema-change.test')");
	p = policydb_apply(db, cur, 1000000, &status, err, sizeof(err));
	CHECK(!p && status == POLICYDB_REBUILD, "seed %u: a schema change: full build (%s)", seed, err);
	policy_free(cur);
	cur = full_load();
	for (int k = 0; k < 5; k++)
		edit("UPDATE domains SET level = %d WHERE name = 'schema-change.test'", k + 1);
	p = policydb_apply(db, cur, 4, &status, err, sizeof(err));
	CHECK(!p && status == POLICYDB_REBUILD, "seed %u: more changes than allowed: full build (%s)", seed, err);
	p = policydb_apply(db, cur, 5, &status, err, sizeof(err));
	CHECK(p && status == POLICYDB_APPLIED, "seed %u: as many as allowed: applied", seed);
	policy_free(p);
	p = policydb_apply(db, cur, 5, &status, err, sizeof(err));
	struct policy *q = p ? policydb_apply(db, p, 5, &status, err, sizeof(err)) : NULL;
	CHECK(p && !q && status == POLICYDB_UNCHANGED, "seed %u: nothing new: unchanged", seed);
	policy_free(p);
	policy_free(cur);
	sqlite3_close(db);
}

int
main(int argc, char **argv)
{
	int steps = argc > 1 ? atoi(argv[1]) : 300;

	for (unsigned seed = 1; seed <= 3; seed++)
		run(seed, steps);
	return unit_summary();
}
