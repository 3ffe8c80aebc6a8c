/*
 * policy_scale.c -- how the policy snapshot grows: build time, decision time
 * (computed and cached), memory. Run by bench/scale.sh on generated
 * communities; prints one TSV line.
 *
 * usage: policy_scale DB [PAIRS]
 */
#include "config.h"
#include "decision_cache.h"
#include "policy.h"
#include "policydb.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

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

int
main(int argc, char **argv)
{
	char err[512];
	double build[3];
	struct policy *p = NULL;

	if (argc < 2) {
		fprintf(stderr, "usage: policy_scale DB [PAIRS]\n");
		return 2;
	}
	long pairs = argc > 2 ? atol(argv[2]) : 200000;
	long rss0 = rss_kib();
	sqlite3 *db = policydb_open(argv[1], 1, err, sizeof(err));
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
	long rss1 = rss_kib();

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
	printf("domains\trules\tbuild_ms_median\tbuild_ms_min\tbuild_ms_max\tdecide_ns_computed\t"
	       "decide_ns_cached\tallowed_pct\tsnapshot_rss_kib\tcache_rss_kib\n");
	printf("%zu\t%zu\t%.1f\t%.1f\t%.1f\t%.0f\t%.0f\t%.1f\t%ld\t%ld\n", p->ndomains, p->nrules,
	       build[1] * 1e3, build[0] * 1e3, build[2] * 1e3, computed * 1e9, cached * 1e9,
	       100.0 * (double)allowed / (double)pairs, rss1 - rss0, rss2 - rss1);
	decision_cache_free(c);
	free(rq);
	policy_free(p);
	sqlite3_close(db);
	return 0;
}
