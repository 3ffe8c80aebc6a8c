/*
 * unit.h -- the smallest useful test harness for the C unit tests.
 *
 * Each CHECK prints one TAP line, "ok N - what" or "not ok N - what" (with a
 * "# " line giving the file, line and values on failure); unit_summary()
 * prints the plan and returns the exit status (0 when every check passed), so
 * a test's main() ends with "return unit_summary();". One test program is one
 * translation unit, so the counters can be static here.
 */
#ifndef UNIT_H
#define UNIT_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int unit_count;   /* checks run */
static int unit_failed;  /* checks failed */

/* Record one result; fmt describes what was checked. Returns ok. */
static inline int unit_check(int ok, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static inline int
unit_check(int ok, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	unit_count++;
	if (!ok)
		unit_failed++;
	printf("%s %d - ", ok ? "ok" : "not ok", unit_count);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	if (!ok)
		printf("#   failed at %s:%d\n", file, line);
	fflush(stdout);
	return ok;
}

/** CHECK(cond, "what", ...): pass when cond is true. */
#define CHECK(cond, ...) unit_check(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

/** CHECK_INT(got, want, "what", ...): integers equal; prints both on failure. */
#define CHECK_INT(got, want, ...)                                                       \
	do {                                                                            \
		long long unit_g_ = (long long)(got), unit_w_ = (long long)(want);      \
		if (!unit_check(unit_g_ == unit_w_, __FILE__, __LINE__, __VA_ARGS__))   \
			printf("#   got %lld, want %lld\n", unit_g_, unit_w_);      \
	} while (0)

/** CHECK_STR(got, want, "what", ...): strings equal (NULL only equals NULL). */
#define CHECK_STR(got, want, ...)                                                       \
	do {                                                                            \
		const char *unit_g_ = (got), *unit_w_ = (want);                         \
		int unit_ok_ = (unit_g_ && unit_w_) ? strcmp(unit_g_, unit_w_) == 0     \
		                                    : unit_g_ == unit_w_;               \
		if (!unit_check(unit_ok_, __FILE__, __LINE__, __VA_ARGS__))             \
			printf("#   got \"%s\", want \"%s\"\n", unit_g_ ? unit_g_ : "(null)", \
			       unit_w_ ? unit_w_ : "(null)");                           \
	} while (0)

/* Print the plan and a summary; the test's exit status. */
static inline int
unit_summary(void)
{
	printf("1..%d\n", unit_count);
	if (unit_failed)
		printf("# %d of %d checks failed\n", unit_failed, unit_count);
	else
		printf("# all %d checks passed\n", unit_count);
	return unit_failed ? 1 : 0;
}

#endif
