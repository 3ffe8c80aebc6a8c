/*
 * log.c -- logging to stderr or syslog.
 */
#include "config.h"
#include "log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <syslog.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <sys/time.h>
#include <unistd.h>

/* set on the main thread (at start and on SIGHUP), read by every thread:
 * the workers and the policy watcher log while main reads the config again */
static const char *_Atomic log_ident = "resolverd";
static atomic_int log_current = LOG_LEVEL_INFO;
static atomic_int log_syslog;

/* log_query()'s budget of the current second; any thread may log */
static pthread_mutex_t log_rate_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_uint log_rate_max;    /* 0: no limit; log_json reads it without the lock */
static time_t log_rate_second;
static unsigned log_rate_used;
static unsigned long log_rate_suppressed;

/* the JSON decision log: its file and its own budget; every worker thread
 * writes it, main opens it again on SIGHUP */
static pthread_mutex_t json_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int json_fd = -1;
static time_t json_second;
static unsigned json_used;
static unsigned long json_suppressed;

int
log_json_open(const char *path)
{
	int fd = -1;

	if (path) {
		fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
		if (fd < 0)
			return -1;
	}
	pthread_mutex_lock(&json_lock);
	if (json_fd >= 0)
		close(json_fd);
	json_fd = fd;
	pthread_mutex_unlock(&json_lock);
	return 0;
}

int
log_json_enabled(void)
{
	return json_fd >= 0;
}

static void log_json_locked(time_t now, const char *line, size_t len);

void
log_json(const char *line, size_t len)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	time_t now = tv.tv_sec;

	if (json_fd < 0)
		return;
	pthread_mutex_lock(&json_lock);
	log_json_locked(now, line, len);
	pthread_mutex_unlock(&json_lock);
}

/* log_json under json_lock: the per-second budget and the file are shared */
static void
log_json_locked(time_t now, const char *line, size_t len)
{
	char note[64];

	if (json_fd < 0)
		return;
	if (now != json_second) {
		json_second = now;
		json_used = 0;
	}
	if (log_rate_max && json_used >= log_rate_max) {
		json_suppressed++;
		return;
	}
	json_used++;
	if (json_suppressed) {
		int n = snprintf(note, sizeof(note), "{\"suppressed\":%lu}\n", json_suppressed);
		json_suppressed = 0;
		if (write(json_fd, note, (size_t)n) < 0)
			return;
	}
	/* the line and its newline in one write: lines never interleave */
	char buf[2048];
	if (len + 1 > sizeof(buf))
		return;
	memcpy(buf, line, len);
	buf[len] = '\n';
	if (write(json_fd, buf, len + 1) < 0)
		return;
}

void
log_set_rate_limit(unsigned per_second)
{
	pthread_mutex_lock(&log_rate_lock);
	log_rate_max = per_second;
	pthread_mutex_unlock(&log_rate_lock);
}

/*
 * Whether an info/debug line may go out now; *suppressed: lines dropped
 * since the last one that went out, to report (0 when none).
 */
static bool
log_rate_allow(unsigned long *suppressed)
{
	bool allow;
	struct timeval tv;

	/* the clock of the lines' timestamps: a second of log is a second of budget */
	gettimeofday(&tv, NULL);
	time_t now = tv.tv_sec;

	*suppressed = 0;
	pthread_mutex_lock(&log_rate_lock);
	if (now != log_rate_second) {
		log_rate_second = now;
		log_rate_used = 0;
	}
	allow = log_rate_max == 0 || log_rate_used < log_rate_max;
	if (allow) {
		log_rate_used++;
		*suppressed = log_rate_suppressed;
		log_rate_suppressed = 0;
	} else {
		log_rate_suppressed++;
	}
	pthread_mutex_unlock(&log_rate_lock);
	return allow;
}


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

void
log_query_flush(void)
{
	struct timeval tv;
	unsigned long suppressed = 0;

	gettimeofday(&tv, NULL);
	pthread_mutex_lock(&log_rate_lock);
	if (tv.tv_sec != log_rate_second && log_rate_suppressed) {
		suppressed = log_rate_suppressed;
		log_rate_suppressed = 0;
	}
	pthread_mutex_unlock(&log_rate_lock);
	if (suppressed)
		log_warn("%lu query log lines suppressed (log-rate-limit)", suppressed);
}

void
log_query(const char *fmt, ...)
{
	va_list ap;
	unsigned long suppressed;

	if (log_current < LOG_LEVEL_INFO || !log_rate_allow(&suppressed))
		return;
	if (suppressed)
		log_warn("%lu query log lines suppressed (log-rate-limit)", suppressed);
	va_start(ap, fmt);
	log_vmsg(LOG_LEVEL_INFO, fmt, ap);
	va_end(ap);
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
