/*
 * policy_scale.c -- how the policy snapshot grows: full build time, the time
 * to apply a committed edit (policydb_apply), decision time (computed and
 * cached), memory. Run by bench/scale.sh on generated communities; prints a
 * header line and one TSV line.
 *
 * usage: policy_scale DB [PAIRS [EDITS]]
 *
 * The edits (EDITS of each kind, default 40, 0: none) are committed through
 * a second connection and undone by the next one of their kind, so the
 * database keeps its policy (its audit log grows): a rule added and removed,
 * a domain disabled and enabled again, a membership added and removed, an
 * identity added and removed, a target added and removed. Each is applied to the snapshot of the one
 * before, as the policy watcher does.
 */
#include "config.h"
#include "decision_cache.h"
#include "policy.h"
#include "policydb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

static double
now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long
rss_kib(void)
{
	long pages = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (f) {
		if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
			resident = 0;
		fclose(f);
	}
	return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* The q-quantile of n sorted values. */
static double
quantile(const double *v, int n, double q)
{
	int i = (int)(q * n);
	return v[i < n ? i : n - 1];
}

/* Commit one edit through w, apply it to *p; returns the apply time in seconds, -1 on failure. */
static double
edit_and_apply(sqlite3 *w, sqlite3 *r, struct policy **p, const char *sql)
{
	char err[512];
	enum policydb_apply_status st;

	if (sqlite3_exec(w, sql, NULL, NULL, NULL) != SQLITE_OK) {
		fprintf(stderr, "policy_scale: %s: %s\n", sql, sqlite3_errmsg(w));
		return -1;
	}
	double t0 = now_s();
	struct policy *n = policydb_apply(r, *p, ((*p)->nrules + (*p)->ndomains) / 8 + 64, &st, err,
	                                  sizeof(err));
	double t = now_s() - t0;
	if (!n) {
		fprintf(stderr, "policy_scale: not applied (%d): %s\n", (int)st, err);
		return -1;
	}
	policy_free(*p);
	*p = n;
	return t;
}

int
main(int argc, char **argv)
{
	char err[512];
	double build[3];
	struct policy *p = NULL;

	if (argc < 2) {
		fprintf(stderr, "usage: policy_scale DB [PAIRS [EDITS]]\n");
		return 2;
	}
	long pairs = argc > 2 ? atol(argv[2]) : 200000;
	int edits = argc > 3 ? atoi(argv[3]) : 40;
	sqlite3 *db = policydb_open(argv[1], 0, err, sizeof(err));
	if (!db) {
		fprintf(stderr, "policy_scale: %s\n", err);
		return 1;
	}
	/* one load first, freed: the code and SQLite's own state are then not counted as the snapshot */
	policy_free(policydb_load(db, err, sizeof(err)));
	sqlite3_close(db);
#ifdef __GLIBC__
	malloc_trim(0);
#endif
	long rss0 = rss_kib();
	db = policydb_open(argv[1], 0, err, sizeof(err));
	if (!db) {
		fprintf(stderr, "policy_scale: %s\n", err);
		return 1;
	}
	for (int i = 0; i < 3; i++) {
		policy_free(p);
		double t0 = now_s();
		p = policydb_load(db, err, sizeof(err));
		build[i] = now_s() - t0;
		if (!p) {
			fprintf(stderr, "policy_scale: %s\n", err);
			return 1;
		}
	}
	qsort(build, 3, sizeof(build[0]), cmp_double);
	/* the snapshot alone: without the connection's page cache */
	sqlite3_close(db);
#ifdef __GLIBC__
	malloc_trim(0);
#endif
	long rss1 = rss_kib();
	size_t bytes = policy_memory(p);
	db = policydb_open(argv[1], 0, err, sizeof(err));
	if (!db) {
		fprintf(stderr, "policy_scale: %s\n", err);
		return 1;
	}

	/* random pairs: computed (no cache), then the same pairs through the cache twice */
	uint32_t *rq = malloc((size_t)pairs * 2 * sizeof(*rq));
	srand(3);
	for (long i = 0; i < 2 * pairs; i++)
		rq[i] = (uint32_t)(rand() % (int)p->ndomains);
	struct policy_verdict v;
	long allowed = 0;
	time_t t = time(NULL);
	double t0 = now_s();
	for (long i = 0; i < pairs; i++) {
		policy_decide(p, rq[2 * i], rq[2 * i + 1], t, true, &v);
		allowed += v.allow;
	}
	double computed = (now_s() - t0) / (double)pairs;
	struct decision_cache *c = decision_cache_new((size_t)pairs);
	for (long i = 0; i < pairs; i++)
		decision_cache_decide(c, p, rq[2 * i], rq[2 * i + 1], t, true, &v);
	t0 = now_s();
	for (long i = 0; i < pairs; i++)
		decision_cache_decide(c, p, rq[2 * i], rq[2 * i + 1], t, true, &v);
	double cached = (now_s() - t0) / (double)pairs;
	long rss2 = rss_kib();
	decision_cache_free(c);
	free(rq);

	/* committed edits, each applied to the snapshot before it */
	static const char *kinds[] = { "rule", "domain", "member", "identity", "target" };
	double *times[5] = { NULL };
	sqlite3 *w = edits > 0 ? policydb_open(argv[1], 0, err, sizeof(err)) : NULL;
	for (int k = 0; w && k < 5; k++) {
		times[k] = calloc((size_t)edits, sizeof(double));
		for (int i = 0; i < edits; i++) {
			char sql[512];
			const char *d0 = p->domains[0].name, *d1 = p->domains[p->ndomains / 2].name;
			bool undo = i % 2 == 1;
			if (k == 0)
				snprintf(sql, sizeof(sql), undo ? "DELETE FROM rules WHERE note = 'policy_scale'"
				         : "INSERT INTO rules (priority, from_kind, from_name, to_kind, to_name, action,"
				           " note) VALUES (1, 'domain', '%s', 'domain', '%s', 'deny', 'policy_scale')", d0, d1);
			else if (k == 1)
				snprintf(sql, sizeof(sql), "UPDATE domains SET enabled = %d WHERE name = '%s'", undo, d1);
			else if (k == 2)
				snprintf(sql, sizeof(sql), undo ? "DELETE FROM memberships WHERE domain = '%s' AND grp = 'bench'"
				         : "INSERT OR IGNORE INTO groups (name) VALUES ('bench');"
				           " INSERT INTO memberships (domain, grp) VALUES ('%s', 'bench')", d1);
			else if (k == 3)
				snprintf(sql, sizeof(sql), undo ? "DELETE FROM identities WHERE value = '100.64.0.1'"
				         : "INSERT INTO identities (value, domain) VALUES ('100.64.0.1', '%s')", d1);
			else
				snprintf(sql, sizeof(sql), undo ? "DELETE FROM targets WHERE host = 'policy-scale.example'"
				         : "INSERT INTO targets (domain, port, host) VALUES ('%s', 5269, 'policy-scale.example')",
				         d1);
			double s = edit_and_apply(w, db, &p, sql);
			if (s < 0)
				return 1;
			times[k][i] = s;
		}
		qsort(times[k], (size_t)edits, sizeof(double), cmp_double);
	}
	long rss3 = rss_kib();

	printf("domains\trules\tbuild_ms_median\tbuild_ms_min\tbuild_ms_max\tdecide_ns_computed\t"
	       "decide_ns_cached\tallowed_pct\tsnapshot_rss_kib\tsnapshot_bytes\tsnapshot_mib\tcache_rss_kib");
	for (int k = 0; w && k < 5; k++)
		printf("\tapply_%s_ms_p50\tapply_%s_ms_p99", kinds[k], kinds[k]);
	printf("\trss_after_edits_kib\n");
	printf("%zu\t%zu\t%.1f\t%.1f\t%.1f\t%.0f\t%.0f\t%.1f\t%ld\t%zu\t%.1f\t%ld", p->ndomains - p->ndeleted,
	       p->nrules, build[1] * 1e3, build[0] * 1e3, build[2] * 1e3, computed * 1e9, cached * 1e9,
	       100.0 * (double)allowed / (double)pairs, rss1 - rss0, bytes, (double)bytes / 1048576.0,
	       rss2 - rss1);
	for (int k = 0; w && k < 5; k++)
		printf("\t%.2f\t%.2f", quantile(times[k], edits, 0.5) * 1e3, quantile(times[k], edits, 0.99) * 1e3);
	printf("\t%ld\n", rss3 - rss0);
	for (int k = 0; k < 5; k++)
		free(times[k]);
	policy_free(p);
	sqlite3_close(w);
	sqlite3_close(db);
	return 0;
}
