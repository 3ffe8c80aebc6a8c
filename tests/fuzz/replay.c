/*
 * replay.c -- a fuzz target without libFuzzer: runs LLVMFuzzerTestOneInput
 * once per input file, as `make check` does over the committed corpus.
 *
 *   fuzz_query_replay                 every file of tests/fuzz/corpus/fuzz_query
 *   fuzz_query_replay FILE|DIR ...    these files, and every file of these dirs
 *
 * Prints TAP: the plan, then one line for the whole run, "ok 1 - NAME: N
 * inputs replayed". A target's own checks abort() on a broken invariant;
 * the input that was running is then named on stdout ("not ok 1 - NAME:
 * FILE crashed") before the process dies, under a sanitizer (its death
 * callback) or without one (a signal handler). FUZZ_NAME is the target's
 * name, set by Makefile.am.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef FUZZ_NAME
#error "FUZZ_NAME: the target's name, e.g. -DFUZZ_NAME='\"fuzz_query\"'"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));
void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

static char current[4096];     /* the input being run */
static size_t replayed;

static void
say_crashed(void)
{
	char line[4300];
	int n = snprintf(line, sizeof(line), "not ok 1 - %s: %s crashed\n", FUZZ_NAME, current);

	if (n > 0)
		(void)!write(STDOUT_FILENO, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

static void
on_signal(int sig)
{
	say_crashed();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Run one file; 0, or -1 when it cannot be read. */
static int
replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *data = NULL;
	size_t len = 0, cap = 0;

	if (!f) {
		printf("# %s: %s\n", path, strerror(errno));
		return -1;
	}
	for (;;) {
		if (len == cap) {
			cap = cap ? 2 * cap : 4096;
			uint8_t *d = realloc(data, cap);
			if (!d) {
				free(data);
				fclose(f);
				return -1;
			}
			data = d;
		}
		size_t n = fread(data + len, 1, cap - len, f);
		if (n == 0)
			break;
		len += n;
	}
	fclose(f);
	/* an exact copy on the heap, so that a read past the input is caught */
	uint8_t *exact = malloc(len ? len : 1);
	if (!exact) {
		free(data);
		return -1;
	}
	memcpy(exact, data, len);
	free(data);
	snprintf(current, sizeof(current), "%s", path);
	LLVMFuzzerTestOneInput(exact, len);
	free(exact);
	replayed++;
	return 0;
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Run every regular file of a directory, in name order. */
static int
replay_dir(const char *dir)
{
	DIR *d = opendir(dir);
	char **names = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;

	if (!d) {
		printf("# %s: %s\n", dir, strerror(errno));
		return -1;
	}
	for (struct dirent *e; (e = readdir(d)) != NULL;) {
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 256;
			char **nn = realloc(names, cap * sizeof(*nn));
			if (!nn)
				break;
			names = nn;
		}
		names[n] = malloc(strlen(dir) + strlen(e->d_name) + 2);
		if (!names[n])
			break;
		sprintf(names[n], "%s/%s", dir, e->d_name);
		n++;
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), cmp_names);
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode) && replay_file(names[i]) != 0)
			rc = -1;
		free(names[i]);
	}
	free(names);
	return rc;
}

static int
replay_path(const char *path)
{
	struct stat st;

	if (stat(path, &st) != 0) {
		printf("# %s: %s\n", path, strerror(errno));
		return -1;
	}
	return S_ISDIR(st.st_mode) ? replay_dir(path) : replay_file(path);
}

int
main(int argc, char **argv)
{
	int rc = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("1..1\n");
	/* a target's own abort(); the sanitizers leave SIGABRT alone */
	signal(SIGABRT, on_signal);
	if (__sanitizer_set_death_callback) {
		__sanitizer_set_death_callback(say_crashed);
	} else {
		signal(SIGSEGV, on_signal);
		signal(SIGBUS, on_signal);
		signal(SIGFPE, on_signal);
	}
	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	if (argc > 1) {
		for (int i = 1; i < argc; i++)
			if (replay_path(argv[i]) != 0)
				rc = -1;
	} else {
		rc = replay_path(TOP_SRCDIR "/tests/fuzz/corpus/" FUZZ_NAME);
	}
	if (rc != 0 || replayed == 0)
		printf("not ok 1 - %s: %zu inputs replayed, %s\n", FUZZ_NAME, replayed,
		       rc != 0 ? "some could not be read" : "none found");
	else
		printf("ok 1 - %s: %zu inputs replayed\n", FUZZ_NAME, replayed);
	return rc != 0 || replayed == 0;
}
