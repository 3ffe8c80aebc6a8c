/*
 * log.h -- logging for resolverd and the tools.
 *
 * Messages go to stderr (foreground, tools) or syslog (daemon). The level set
 * by log_init() filters: 0 errors only, 1 + warnings, 2 + info (policy
 * decisions), 3 + debug.
 */
#ifndef LOG_H
#define LOG_H

#include <stddef.h>

enum log_level { LOG_LEVEL_ERR = 0, LOG_LEVEL_WARN = 1, LOG_LEVEL_INFO = 2, LOG_LEVEL_DEBUG = 3 };

/** Set the program name shown in messages, the level, and stderr or syslog. */
void log_init(const char *ident, int level, int use_syslog);

/**
 * At most per_second lines a second from log_query() (0: no limit), so that
 * a flood of queries cannot fill the disk with decision lines. Lines over
 * the limit are counted, and a warning "N query log lines suppressed"
 * follows when logging resumes. Any thread.
 */
void log_set_rate_limit(unsigned per_second);
/** The current level, to skip building messages nobody will see. */
int log_level(void);

void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/**
 * Open (or, on SIGHUP after a rotation, open again) the JSON decision log:
 * one JSON object per line, appended to path, mode 0640. NULL closes it.
 * Returns 0, or -1 with errno set (the log stays as it was). Main thread.
 */
int log_json_open(const char *path);

/** Whether a JSON decision log is open. */
int log_json_enabled(void);

/**
 * Append one line (a JSON object without the newline) to the JSON decision
 * log, under the same per-second limit as log_query() but its own budget;
 * lines over it are counted and reported in a {"suppressed":N} line when
 * logging resumes. Any thread (one lock: the budget and the file are shared).
 */
void log_json(const char *line, size_t len);

/**
 * Report query lines suppressed in a second that has ended, even when no
 * query line follows (called from a timer). Any thread.
 */
void log_query_flush(void);

/** An info line about one query (a policy decision): under log_set_rate_limit(). */
void log_query(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
