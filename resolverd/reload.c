/*
 * reload.c -- the policy watcher thread.
 *
 * Change detection costs one `PRAGMA data_version` per poll (it changes when
 * another connection commits) plus a stat() to notice a replaced file. An
 * inotify watch on the directory cuts the wait short when the database's
 * files change, so a commit is seen in about a millisecond; the poll stays as
 * the fallback (filesystems without inotify, missed events).
 */
#include "config.h"
#include "reload.h"
#include "log.h"
#include "policy.h"
#include "policydb.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>

#include <event2/event.h>

#define RETRY_MS 1000
/* after a file event without a visible commit: re-check every SETTLE_MS, SETTLE_CHECKS times */
#define SETTLE_MS 2
#define SETTLE_CHECKS 25

struct reload {
	struct event_base *base;
	struct event *notify;
	char *path;
	int poll_ms;
	reload_fn fn;
	void *arg;
	pthread_t thread;
	atomic_bool stop;
	atomic_bool force;
	pthread_mutex_t lock;
	struct policy *ready;     /* built, not yet taken by the loop */
	uint64_t serial;          /* the thread's view of the serving serial */
};

/* On the event loop: take the new snapshot. */
static void
reload_notify(evutil_socket_t fd, short what, void *arg)
{
	struct reload *rl = arg;
	struct policy *p;

	(void)fd;
	(void)what;
	pthread_mutex_lock(&rl->lock);
	p = rl->ready;
	rl->ready = NULL;
	pthread_mutex_unlock(&rl->lock);
	if (p)
		rl->fn(p, rl->arg);
}

/*
 * Open an inotify watch on the database's directory: a commit writes the
 * -wal file (or the file itself in other journal modes), a restore renames a
 * file over it; either wakes the watcher at once instead of at the next poll.
 * -1 when inotify is not available: polling alone still works.
 */
static int
watch_directory(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);

	if (fd < 0)
		return -1;
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	if (inotify_add_watch(fd, dir, IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Wait up to ms for a change of the database's files; true when woken by
 * one. Events about other files of the directory are drained and ignored.
 */
static bool
wait_change(int fd, const char *base, int ms)
{
	struct pollfd pfd = { fd, POLLIN, 0 };
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	size_t blen = strlen(base);

	if (fd < 0) {
		struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
		nanosleep(&ts, NULL);
		return false;
	}
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		long left = ms - ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000);
		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			return false;
		ssize_t n = read(fd, buf, sizeof(buf));
		bool ours = false;
		for (char *p = buf; n > 0 && p < buf + n;) {
			struct inotify_event *ev = (struct inotify_event *)p;
			/* the file itself, its -wal or -journal (not -shm: readers touch it too) */
			if (ev->len && strncmp(ev->name, base, blen) == 0 &&
			    (ev->name[blen] == '\0' || strcmp(ev->name + blen, "-wal") == 0 ||
			     strcmp(ev->name + blen, "-journal") == 0))
				ours = true;
			p += sizeof(*ev) + ev->len;
		}
		if (ours)
			return true;
	}
}

static int64_t
data_version(sqlite3 *db)
{
	sqlite3_stmt *st;
	int64_t v = -1;

	if (sqlite3_prepare_v2(db, "PRAGMA data_version", -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void *
reload_thread(void *arg)
{
	struct reload *rl = arg;
	sqlite3 *db = NULL;
	struct stat known;
	int64_t last_version = -1;
	bool failing = false;
	char err[512];

	const char *slash = strrchr(rl->path, '/');
	const char *base = slash ? slash + 1 : rl->path;
	int wfd = watch_directory(rl->path);

	int settle = 0; /* quick re-checks left after a wake-up that found no commit yet */

	memset(&known, 0, sizeof(known));
	while (!atomic_load(&rl->stop)) {
		if (failing) {
			struct timespec ts = { RETRY_MS / 1000, (long)(RETRY_MS % 1000) * 1000000L };
			nanosleep(&ts, NULL);
		} else if (wait_change(wfd, base, settle > 0 ? SETTLE_MS : rl->poll_ms)) {
			/* a writer is at work: its commit may land a moment after this event */
			settle = SETTLE_CHECKS;
		} else if (settle > 0) {
			settle--;
		}
		if (atomic_load(&rl->stop))
			break;
		struct stat now;
		bool replaced = stat(rl->path, &now) != 0 || now.st_ino != known.st_ino ||
		                now.st_dev != known.st_dev;
		if (replaced && db) {
			sqlite3_close(db);
			db = NULL;
		}
		if (!db) {
			db = policydb_open(rl->path, 0, err, sizeof(err)); /* WAL readers need the -shm file */
			if (!db) {
				log_err("policy reload: %s; still serving serial %llu", err,
				        (unsigned long long)rl->serial);
				failing = true;
				continue;
			}
			known = now;
			last_version = -1;
		}
		bool force = atomic_exchange(&rl->force, false);
		int64_t version = data_version(db);
		if (version >= 0 && version == last_version && !force && !failing)
			continue;
		int64_t serial = policydb_serial(db, err, sizeof(err));
		/* the schema version is checked on every change, not only on a new serial */
		int64_t schema = policydb_schema_version(db, err, sizeof(err));
		if (schema >= 0 && schema != POLICYDB_SCHEMA_VERSION) {
			log_err("policy reload failed: schema version %lld, this build reads %d; still "
			        "serving serial %llu", (long long)schema, POLICYDB_SCHEMA_VERSION,
			        (unsigned long long)rl->serial);
			failing = true;
			continue;
		}
		if (serial >= 0 && (uint64_t)serial == rl->serial && !force) {
			last_version = version;
			failing = false;
			continue;
		}
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		struct policy *p = serial >= 0 ? policydb_load(db, err, sizeof(err)) : NULL;
		if (!p) {
			log_err("policy reload failed: %s; still serving serial %llu", err,
			        (unsigned long long)rl->serial);
			failing = true;
			/* a corrupt or replaced file: start again from a fresh connection */
			sqlite3_close(db);
			db = NULL;
			continue;
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		failing = false;
		last_version = version;
		rl->serial = p->serial;
		log_info("policy serial %llu loaded: %zu domains, %zu rules in %.1f ms",
		         (unsigned long long)p->serial, p->ndomains, p->nrules,
		         (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
		pthread_mutex_lock(&rl->lock);
		policy_free(rl->ready); /* an older one the loop had not taken yet */
		rl->ready = p;
		pthread_mutex_unlock(&rl->lock);
		event_active(rl->notify, EV_READ, 0);
	}
	sqlite3_close(db);
	if (wfd >= 0)
		close(wfd);
	return NULL;
}

struct reload *
reload_start(struct event_base *base, const char *path, int poll_ms, uint64_t serial,
             reload_fn fn, void *arg)
{
	struct reload *rl = calloc(1, sizeof(*rl));

	if (!rl)
		return NULL;
	rl->base = base;
	rl->path = strdup(path);
	rl->poll_ms = poll_ms;
	rl->serial = serial;
	rl->fn = fn;
	rl->arg = arg;
	pthread_mutex_init(&rl->lock, NULL);
	rl->notify = event_new(base, -1, 0, reload_notify, rl);
	if (!rl->path || !rl->notify || pthread_create(&rl->thread, NULL, reload_thread, rl) != 0) {
		if (rl->notify)
			event_free(rl->notify);
		free(rl->path);
		free(rl);
		return NULL;
	}
	return rl;
}

void
reload_force(struct reload *rl)
{
	atomic_store(&rl->force, true);
}

void
reload_stop(struct reload *rl)
{
	if (!rl)
		return;
	atomic_store(&rl->stop, true);
	pthread_join(rl->thread, NULL);
	event_free(rl->notify);
	policy_free(rl->ready);
	pthread_mutex_destroy(&rl->lock);
	free(rl->path);
	free(rl);
}
