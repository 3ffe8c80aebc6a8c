/*
 * fuzz.h -- what the fuzz targets of tests/fuzz share: the way a broken
 * invariant is reported, and the private file a target writes its input to
 * when the code under test reads a file (the config, a zone file).
 *
 * Each target is one translation unit (its LLVMFuzzerTestOneInput, and
 * tests/fuzz/replay.c for the corpus replayer), so these are static.
 */
#ifndef FUZZ_H
#define FUZZ_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken invariant: say which, as "TARGET: what", and abort (a crash). */
static void fuzz_fail(const char *target, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn, unused));

static void
fuzz_fail(const char *target, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", target);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

static char fuzz_file_path[4096];

static void
fuzz_file_remove(void)
{
	unlink(fuzz_file_path);
}

/*
 * The path of a private file for this process, made once (under TMPDIR,
 * else /dev/shm or /tmp) and removed at exit. NULL when none can be made.
 */
static const char *fuzz_file(const char *target) __attribute__((unused));

static const char *
fuzz_file(const char *target)
{
	if (!fuzz_file_path[0]) {
		const char *tmp = getenv("TMPDIR");
		if (!tmp || !*tmp)
			tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
		snprintf(fuzz_file_path, sizeof(fuzz_file_path), "%s/%s.XXXXXX", tmp, target);
		int fd = mkstemp(fuzz_file_path);
		if (fd < 0) {
			fuzz_file_path[0] = '\0';
			return NULL;
		}
		close(fd);
		atexit(fuzz_file_remove);
	}
	return fuzz_file_path;
}

/* Write size bytes at data to path (replacing it); 0, or -1. */
static int fuzz_write_file(const char *path, const uint8_t *data, size_t size)
	__attribute__((unused));

static int
fuzz_write_file(const char *path, const uint8_t *data, size_t size)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return -1;
	size_t n = size ? fwrite(data, 1, size, f) : 0;
	return fclose(f) == 0 && n == size ? 0 : -1;
}

#endif
