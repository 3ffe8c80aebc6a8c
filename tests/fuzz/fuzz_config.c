/*
 * fuzz_config.c -- options_read() and options_check() on a config file made
 * of the input bytes, then options_free(): every path of the parser, and no
 * leak (LeakSanitizer) on success or on any error.
 *
 * The file is written once per input to a private temporary file (under
 * TMPDIR, else /dev/shm or /tmp), removed at exit. A second read over the same
 * options follows the first (the file is read "over what o holds": lists
 * grow, strings are replaced).
 *
 * Checks (abort() when broken): an error leaves a message, one line, in
 * err; options_check() on what was read either accepts it or says why.
 */
#include "config.h"
#include "fuzz.h"
#include "log.h"
#include "options.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


#define FAIL(...) fuzz_fail("fuzz_config", __VA_ARGS__)

static void
check_message(const char *err, size_t errlen, const char *what)
{
	size_t n = strnlen(err, errlen);
	if (n == errlen)
		FAIL("%s: the message is not terminated", what);
	if (n == 0)
		FAIL("%s failed without a message", what);
	if (strchr(err, '\n'))
		FAIL("%s: a message of more than one line: %s", what, err);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	struct options o;
	char err[512];

	if (!ready) {
		/* not even errors: the search would print little else */
		log_init("fuzz_config", LOG_LEVEL_ERR - 1, 0);
		ready = true;
	}
	const char *path = fuzz_file("fuzz_config");
	if (!path || fuzz_write_file(path, data, size) != 0)
		FAIL("cannot write the config file %s", path ? path : "(none)");
	if (options_init(&o) != 0)
		abort();
	for (int pass = 0; pass < 2; pass++) {
		memset(err, 0, sizeof(err));
		if (options_read(&o, path, err, sizeof(err)) != 0) {
			check_message(err, sizeof(err), "options_read");
			break;
		}
		memset(err, 0, sizeof(err));
		if (options_check(&o, err, sizeof(err)) != 0)
			check_message(err, sizeof(err), "options_check");
	}
	options_free(&o);
	return 0;
}
