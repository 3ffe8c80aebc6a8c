/*
 * test_log.c -- the query log's rate limit: a flood of decision lines is cut
 * to the limit per second and the cut is reported; other lines are never cut.
 */
#include "config.h"
#include "log.h"
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Count the lines of f that contain needle. */
static int
count_lines(FILE *f, const char *needle)
{
	char line[1100];
	int n = 0;

	rewind(f);
	while (fgets(line, sizeof(line), f))
		if (strstr(line, needle))
			n++;
	return n;
}

int
main(void)
{
	FILE *f = tmpfile();
	int saved = dup(STDERR_FILENO);

	if (!CHECK(f != NULL && saved >= 0, "a temporary file for stderr"))
		return unit_summary();
	fflush(stderr);
	dup2(fileno(f), STDERR_FILENO);
	log_init("test", LOG_LEVEL_INFO, 0);
	log_set_rate_limit(50);
	/* within one second of the clock: wait for a fresh second to start */
	time_t t0 = time(NULL);
	while (time(NULL) == t0)
		usleep(1000);
	for (int i = 0; i < 1000; i++)
		log_query("decision %d", i);
	for (int i = 0; i < 10; i++)
		log_info("policy serial %d loaded", i);
	log_err("an error");
	while (time(NULL) == t0 + 1)
		usleep(1000);
	log_query("decision after");
	log_set_rate_limit(0);
	for (int i = 0; i < 300; i++)
		log_query("unlimited %d", i);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);

	CHECK_INT(count_lines(f, "decision "), 51, "50 query lines in the first second, then the next one");
	CHECK_INT(count_lines(f, "policy serial"), 10, "other info lines are never cut");
	CHECK_INT(count_lines(f, "an error"), 1, "errors are never cut");
	CHECK_INT(count_lines(f, "950 query log lines suppressed"), 1,
	          "the cut is reported once, with its count, when logging resumes");
	CHECK_INT(count_lines(f, "unlimited "), 300, "limit 0: no limit");
	fclose(f);
	return unit_summary();
}
