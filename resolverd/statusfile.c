/*
 * statusfile.c -- status files written whole and renamed into place. See
 * statusfile.h.
 */
#include "config.h"
#include "statusfile.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

const char *
statusfile_time(time_t t, char *buf, size_t len)
{
	struct tm tm;

	if (t == 0 || !gmtime_r(&t, &tm) || strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(buf, len, "-");
	return buf;
}

void
statusfile_one_line(char *text)
{
	for (; *text; text++)
		if (*text == '\n')
			*text = ' ';
}

int
statusfile_write(const char *path, const char *tmp, const char *fmt, ...)
{
	FILE *f = fopen(tmp, "w");
	va_list ap;

	if (!f)
		return -1;
	va_start(ap, fmt);
	int n = vfprintf(f, fmt, ap);
	va_end(ap);
	if (fclose(f) != 0 || n < 0 || rename(tmp, path) != 0) {
		int e = errno ? errno : EIO;
		unlink(tmp);
		errno = e;
		return -1;
	}
	return 0;
}
