/*
 * log.c -- logging to stderr or syslog.
 */
#include "config.h"
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>
#include <time.h>
#include <sys/time.h>
#include <unistd.h>

static const char *log_ident = "resolverd";
static int log_current = LOG_LEVEL_INFO;
static int log_syslog;

void
log_init(const char *ident, int level, int use_syslog)
{
	log_ident = ident;
	log_current = level;
	log_syslog = use_syslog;
	if (use_syslog)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

int
log_level(void)
{
	return log_current;
}

static void
log_vmsg(int level, const char *fmt, va_list ap)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	static const char *name[] = { "error", "warning", "info", "debug" };
	char line[1024];
	struct timeval tv;
	struct tm tm;
	int n;

	if (level > log_current)
		return;
	if (log_syslog) {
		vsyslog(prio[level], fmt, ap);
		return;
	}
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	n = (int)strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	n += snprintf(line + n, sizeof(line) - (size_t)n, ".%03ldZ %s %s: ", (long)(tv.tv_usec / 1000),
	              log_ident, name[level]);
	if (n < (int)sizeof(line) - 1) {
		int m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
		n = m < 0 ? n : (n + m < (int)sizeof(line) - 1 ? n + m : (int)sizeof(line) - 2);
	}
	line[n++] = '\n';
	/* one write per line: lines from the watcher thread never interleave */
	if (write(STDERR_FILENO, line, (size_t)n) < 0)
		return;
}

#define LOG_FN(fn, level)                       \
	void fn(const char *fmt, ...)           \
	{                                       \
		va_list ap;                     \
		va_start(ap, fmt);              \
		log_vmsg(level, fmt, ap);       \
		va_end(ap);                     \
	}

LOG_FN(log_err, LOG_LEVEL_ERR)
LOG_FN(log_warn, LOG_LEVEL_WARN)
LOG_FN(log_info, LOG_LEVEL_INFO)
LOG_FN(log_debug, LOG_LEVEL_DEBUG)
