/*
 * statusfile.h -- the key: value files resolverd writes beside its database
 * for chpolicy status (DATABASE-status by the policy watcher, reload.c;
 * DATABASE-xfr-status by a site's transfer thread, xfr.c).
 *
 * A status file is written whole to a temporary name and renamed over the
 * old one, so a reader never sees half of it. Any thread; each file has one
 * writer.
 */
#ifndef STATUSFILE_H
#define STATUSFILE_H

#include <stddef.h>
#include <time.h>

/** t (seconds since the epoch) as "YYYY-MM-DD HH:MM:SS" in UTC into buf; "-" for 0. Returns buf. */
const char *statusfile_time(time_t t, char *buf, size_t len);

/** Make text one line (a newline would start a key of its own): newlines become spaces. */
void statusfile_one_line(char *text);

/**
 * Write the printf-formatted content to tmp, then rename it to path. 0, or
 * -1 with errno set (tmp is removed).
 */
int statusfile_write(const char *path, const char *tmp, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
