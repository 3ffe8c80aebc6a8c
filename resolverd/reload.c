/*
 * reload.c -- the policy watcher thread.
 *
 * Change detection costs one `PRAGMA data_version` per poll (it changes when
 * another connection commits) plus a stat() of the database and its -wal
 * file, to notice a replaced file and garbage written over it in place. An
 * inotify watch on the directory cuts the wait short when the database's
 * files change, so a commit is seen in about a millisecond; the poll stays as
 * the fallback (filesystems without inotify, missed events).
 *
 * A new serial is applied to the snapshot last handed over (the watcher's
 * base): policydb_apply reads the audit rows since, and the new snapshot
 * shares every part the changes leave alone. A full build (policydb_load)
 * happens at start when no snapshot was adopted, on SIGHUP, after a failure,
 * and when the changes cannot be applied (policydb.h says when).
 */
#include "config.h"
#include "reload.h"
#include "log.h"
#include "policy.h"
#include "policydb.h"
#include "statusfile.h"

#include <errno.h>
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
/* the longest wait between two log lines of the same repeated error, in seconds */
#define BACKOFF_MAX_S 60

/* What the watcher knows of a file: whether it exists and which one it is. */
struct file_id {
	bool exists;
	dev_t dev;
	ino_t ino;
	struct timespec mtime, ctime;
	off_t size;
};

enum watch_state { WATCH_SERVING, WATCH_FAILING, WATCH_REPLACED };

struct reload {
	struct event_base *base;
	struct event *notify;
	char *path, *wal_path, *status_path, *status_tmp;
	int poll_ms;
	reload_fn fn;
	void *arg;
	pthread_t thread;
	atomic_bool stop;
	atomic_bool force;
	pthread_mutex_t lock;
	struct policy *ready;     /* built, not yet taken by the loop */
	struct policy *adopted;   /* reload_adopt(): the snapshot the loop started with */
	/* the rest belongs to the watcher thread (and to reload_stop after the join) */
	uint64_t serial;          /* the serial handed to the loop: the one served */
	struct policy *current;   /* a reference to the snapshot the loop serves (or will): the base */
	struct policy *retired;   /* the one before: released once the loop let go of it */
	bool started;             /* the first check is done (the adoption's grace period) */
	/* read by reload_stats() from the loop thread too: atomic */
	atomic_int_fast64_t db_serial;  /* the database's serial as last read; -1 unknown */
	enum watch_state state;
	atomic_uint_fast64_t failed;    /* failed reloads since start */
	char last_error[512];
	time_t last_error_at;
	char logged[512];         /* the error last logged, for the back-off */
	struct timespec logged_at;
	int backoff_s;
	unsigned suppressed;      /* repeats not logged since the last line */
	bool status_warned;
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

/* ------------------------------------------------------------ status file */

/* Write the status file: a temporary file renamed over the old one. */
static void
status_write(struct reload *rl, const char *state)
{
	static const char *names[] = { "serving", "failing", "replaced" };
	char at[32], now[32], dbs[32];

	if (!state)
		state = names[rl->state];
	if (rl->db_serial >= 0)
		snprintf(dbs, sizeof(dbs), "%lld", (long long)rl->db_serial);
	else
		snprintf(dbs, sizeof(dbs), "-");
	statusfile_one_line(rl->last_error);
	if (statusfile_write(rl->status_path, rl->status_tmp,
	                     "# resolverd policy status, rewritten at every change\n"
	                     "pid: %ld\nstate: %s\nserved-serial: %llu\ndatabase-serial: %s\n"
	                     "failed-reloads: %llu\nlast-error: %s\nlast-error-at: %s\nupdated: %s\n",
	                     (long)getpid(), state, (unsigned long long)rl->serial, dbs,
	                     (unsigned long long)rl->failed, rl->last_error[0] ? rl->last_error : "-",
	                     statusfile_time(rl->last_error_at, at, sizeof(at)),
	                     statusfile_time(time(NULL), now, sizeof(now))) != 0) {
		if (!rl->status_warned)
			log_warn("cannot write the status file %s: %s (chpolicy status will not see this "
			         "resolverd)", rl->status_path, strerror(errno));
		rl->status_warned = true;
	}
}

/* ------------------------------------------------------------ failures */

static long
ms_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t->tv_sec) * 1000 + (now.tv_nsec - t->tv_nsec) / 1000000;
}

/*
 * A failed reload: counted, recorded in the status file, and logged at once
 * when the error is new, else after 1, 2, 4 ... BACKOFF_MAX_S seconds.
 */
static void
reload_failed(struct reload *rl, enum watch_state state, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
reload_failed(struct reload *rl, enum watch_state state, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rl->last_error, sizeof(rl->last_error), fmt, ap);
	va_end(ap);
	rl->failed++;
	rl->last_error_at = time(NULL);
	rl->state = state;
	if (strcmp(rl->last_error, rl->logged) != 0) {
		log_err("%s", rl->last_error);
		snprintf(rl->logged, sizeof(rl->logged), "%s", rl->last_error);
		rl->backoff_s = 1;
		rl->suppressed = 0;
		clock_gettime(CLOCK_MONOTONIC, &rl->logged_at);
	} else if (ms_since(&rl->logged_at) >= rl->backoff_s * 1000L) {
		log_err("%s (again; %u more times since the last line, %llu failed reloads in all)",
		        rl->last_error, rl->suppressed, (unsigned long long)rl->failed);
		rl->backoff_s = rl->backoff_s * 2 > BACKOFF_MAX_S ? BACKOFF_MAX_S : rl->backoff_s * 2;
		rl->suppressed = 0;
		clock_gettime(CLOCK_MONOTONIC, &rl->logged_at);
	} else {
		rl->suppressed++;
	}
	status_write(rl, NULL);
}

/* The policy reads again: say so once after failures, and go back to serving. */
static void
reload_ok(struct reload *rl)
{
	if (rl->state != WATCH_SERVING)
		log_info("policy reload: the database reads again (serial %lld) after %llu failed reloads",
		         (long long)rl->db_serial, (unsigned long long)rl->failed);
	rl->state = WATCH_SERVING;
	rl->logged[0] = '\0';
}

/* ------------------------------------------------------------ files */

/*
 * Open an inotify watch on the database's directory: a commit writes the
 * -wal file (or the file itself in other journal modes), a replacement
 * renames a file over it; either wakes the watcher at once instead of at the
 * next poll. -1 when inotify is not available: polling alone still works.
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
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		long left = ms - ms_since(&start);
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

static void
file_id(const char *path, struct file_id *id)
{
	struct stat sb;

	memset(id, 0, sizeof(*id));
	if (stat(path, &sb) != 0)
		return;
	id->exists = true;
	id->dev = sb.st_dev;
	id->ino = sb.st_ino;
	id->mtime = sb.st_mtim;
	id->ctime = sb.st_ctim;
	id->size = sb.st_size;
}

static bool
same_file(const struct file_id *a, const struct file_id *b)
{
	return a->exists == b->exists && (!a->exists || (a->dev == b->dev && a->ino == b->ino));
}

/* Written to since it was last seen: size, mtime or ctime moved. */
static bool
file_touched(const struct file_id *a, const struct file_id *b)
{
	return a->size != b->size || a->mtime.tv_sec != b->mtime.tv_sec ||
	       a->mtime.tv_nsec != b->mtime.tv_nsec || a->ctime.tv_sec != b->ctime.tv_sec ||
	       a->ctime.tv_nsec != b->ctime.tv_nsec;
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

/* ------------------------------------------------------------ the thread */

/* The watcher's view of the database between two checks. */
struct watch {
	sqlite3 *db;
	struct file_id dbf, wal;   /* the files db was opened on */
	struct file_id original;   /* REPLACED: the file that was replaced */
	int64_t last_version;
};

static void
watch_close(struct watch *w)
{
	sqlite3_close(w->db); /* policydb_open: no checkpoint, no -wal deleted on close */
	w->db = NULL;
	w->last_version = -1;
}

/*
 * The file at the path is no longer the one db was opened on. Its -wal, if
 * still at the path, is the old file's: empty it into the old file (which
 * this connection still holds) so that nobody reads it with the new one,
 * then let go of both. The last good snapshot stays.
 */
static void
on_replaced(struct reload *rl, struct watch *w)
{
	struct file_id wal;

	file_id(rl->wal_path, &wal);
	if (w->wal.exists && same_file(&wal, &w->wal))
		sqlite3_exec(w->db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
	w->original = w->dbf;
	watch_close(w);
	rl->state = WATCH_REPLACED;
}

/*
 * Open the database and take note of its files (after the first read, which
 * creates the -wal file of a WAL database). false: the failure is recorded.
 */
static bool
watch_open(struct reload *rl, struct watch *w)
{
	char err[512];

	w->db = policydb_open(rl->path, 0, err, sizeof(err)); /* WAL readers need the -shm file */
	if (!w->db) {
		reload_failed(rl, WATCH_FAILING, "policy reload failed: %s; still serving serial %llu", err,
		              (unsigned long long)rl->serial);
		return false;
	}
	file_id(rl->path, &w->dbf);
	data_version(w->db);
	file_id(rl->wal_path, &w->wal);
	w->last_version = -1;
	return true;
}

/* At most this many changes are applied; more make a full build (a change costs ~10 rules' build). */
static size_t
max_changes(const struct policy *base)
{
	return (base->nrules + base->ndomains) / 8 + 64;
}

/* The snapshot reload_adopt() handed in, as the base when it is the one served. */
static void
take_adopted(struct reload *rl)
{
	pthread_mutex_lock(&rl->lock);
	struct policy *p = rl->adopted;
	rl->adopted = NULL;
	pthread_mutex_unlock(&rl->lock);
	if (p && !rl->current && p->serial == rl->serial)
		rl->current = p;
	else
		policy_free(p);
}

/* Drop the retired snapshot once the loop has taken the newer one (its last free happens here). */
static void
release_retired(struct reload *rl)
{
	if (!rl->retired)
		return;
	pthread_mutex_lock(&rl->lock);
	bool taken = rl->ready == NULL;
	pthread_mutex_unlock(&rl->lock);
	if (taken) {
		policy_free(rl->retired);
		rl->retired = NULL;
	}
}

/*
 * TSIG secrets are only as secret as the file that holds them: say so, at
 * every full build (keys change by full builds only), when every user may
 * read the database (chpolicy refuses to store a key in such a file; the
 * mode may have changed since).
 */
void
reload_warn_readable_secrets(const char *path, const struct policy *p)
{
	size_t keys = policy_count_keys(p, POLICY_KEY_TSIG);
	char file[PATH_MAX];

	if (keys && policydb_readable_by_others(path, file, sizeof(file)))
		log_warn("%s holds %zu TSIG secret%s and every user may read %s: chmod o-rwx %s and "
		         "its -wal and -shm files", path, keys, keys == 1 ? "" : "s", file, path);
}

/*
 * Bring the snapshot up to date and hand it over: the changes applied to the
 * base, or (full, no base, or changes that cannot be applied) a full build.
 * false: the failure is recorded.
 */
static bool
watch_load(struct reload *rl, struct watch *w, bool full)
{
	char err[512], why[512] = "";
	struct timespec t0;
	struct policy *p = NULL;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (!full && rl->current) {
		enum policydb_apply_status st;
		p = policydb_apply(w->db, rl->current, max_changes(rl->current), &st, why, sizeof(why));
		if (st == POLICYDB_UNCHANGED) {
			rl->db_serial = (int64_t)rl->current->serial;
			reload_ok(rl);
			status_write(rl, NULL);
			return true;
		}
	}
	if (!p) {
		p = policydb_load(w->db, err, sizeof(err));
		if (!p) {
			reload_failed(rl, WATCH_FAILING, "policy reload failed: %s; still serving serial %llu", err,
			              (unsigned long long)rl->serial);
			watch_close(w); /* a damaged or replaced file: start again from a fresh connection */
			return false;
		}
		reload_warn_readable_secrets(rl->path, p);
	} else {
		why[0] = '\0';
	}
	rl->db_serial = (int64_t)p->serial;
	reload_ok(rl);
	if (p->serial == rl->serial) {
		/* the file checks out, and it is what we serve: the base for the next change */
		log_info("policy serial %llu read afresh in %.1f ms: the base the next changes apply to",
		         (unsigned long long)p->serial, (double)ms_since(&t0));
		policy_free(rl->current);
		rl->current = p;
		status_write(rl, NULL);
		return true;
	}
	uint64_t from = rl->serial;
	rl->serial = p->serial;
	if (why[0] || !rl->current) {
		log_info("policy serial %llu loaded: %zu domains, %zu rules in %.1f ms (full build%s%s)",
		         (unsigned long long)p->serial, p->ndomains - p->ndeleted, p->nrules,
		         (double)ms_since(&t0), why[0] ? ": " : "", why);
	}
	else
		log_info("policy serial %llu loaded: %zu domains, %zu rules in %.1f ms (%llu change%s applied)",
		         (unsigned long long)p->serial, p->ndomains - p->ndeleted, p->nrules,
		         (double)ms_since(&t0), (unsigned long long)(p->serial - from),
		         p->serial - from == 1 ? "" : "s");
	pthread_mutex_lock(&rl->lock);
	struct policy *stale = rl->ready; /* an older one the loop had not taken yet */
	rl->ready = policy_ref(p);        /* the loop's reference */
	pthread_mutex_unlock(&rl->lock);
	event_active(rl->notify, EV_READ, 0);
	policy_free(stale);
	/* the loop still serves the old base until it takes p: keep it till then */
	policy_free(rl->retired);
	rl->retired = rl->current;
	rl->current = p;
	status_write(rl, NULL);
	return true;
}

/*
 * One check. Returns after recording what it found: nothing to do, a new
 * snapshot handed over, or a failure (which makes the caller wait a second).
 */
static void
watch_check(struct reload *rl, struct watch *w, bool force)
{
	struct file_id now, wal;
	/* a full build on SIGHUP and after failures; else the changes are applied */
	bool full = force || rl->state != WATCH_SERVING;
	bool verify = full;

	take_adopted(rl);
	if (!rl->current && rl->started)
		verify = full = true; /* the base to apply changes to: built once at start */
	rl->started = true;

	file_id(rl->path, &now);
	if (w->db && !same_file(&now, &w->dbf))
		on_replaced(rl, w);
	if (rl->state == WATCH_REPLACED) {
		if (!(now.exists && same_file(&now, &w->original)) && !force) {
			reload_failed(rl, WATCH_REPLACED,
			              "policy reload refused: %s was replaced by another file while in use "
			              "(mv or cp over a live database: its -wal belonged to the old file, and "
			              "commits would be mixed or lost); still serving serial %llu. Load a "
			              "database with 'chpolicy restore FILE' instead; put the original file "
			              "back, or send SIGHUP to open the file now at %s", rl->path,
			              (unsigned long long)rl->serial, rl->path);
			return;
		}
		if (force && !same_file(&now, &w->original))
			log_warn("policy reload: SIGHUP: opening the file that replaced %s", rl->path);
		memset(&w->original, 0, sizeof(w->original));
		rl->state = WATCH_FAILING; /* until it loads */
		verify = full = true;
	}
	if (w->db) {
		file_id(rl->wal_path, &wal);
		if (w->wal.exists && !same_file(&wal, &w->wal)) {
			reload_failed(rl, WATCH_FAILING,
			              "policy reload: the -wal file of %s was removed or replaced while in use: "
			              "the commits it held are lost; reopening the database (still serving "
			              "serial %llu). Never remove or copy the -wal file of a live database; "
			              "use chpolicy backup and chpolicy restore", rl->path,
			              (unsigned long long)rl->serial);
			watch_close(w);
			verify = full = true;
		} else if (file_touched(&now, &w->dbf)) {
			/* a checkpoint, or something writing over the file: open it afresh and check
			 * where it is (a full build if that fails) */
			watch_close(w);
			verify = true;
		}
	}
	if (!w->db && !watch_open(rl, w))
		return;
	int64_t version = data_version(w->db);
	if (!verify && version >= 0 && version == w->last_version)
		return;
	char err[512];
	/* the schema version is checked on every change, not only on a new serial */
	int64_t schema = policydb_schema_version(w->db, err, sizeof(err));
	int64_t serial = policydb_serial(w->db, err, sizeof(err));
	if (schema < 0 || serial < 0 || schema != POLICYDB_SCHEMA_VERSION) {
		if (schema >= 0 && schema != POLICYDB_SCHEMA_VERSION)
			snprintf(err, sizeof(err), "schema version %lld, this build reads %d",
			         (long long)schema, POLICYDB_SCHEMA_VERSION);
		reload_failed(rl, WATCH_FAILING, "policy reload failed: %s; still serving serial %llu", err,
		              (unsigned long long)rl->serial);
		watch_close(w);
		return;
	}
	bool changed = serial != rl->db_serial;
	rl->db_serial = serial;
	if (!verify && (uint64_t)serial == rl->serial) {
		w->last_version = version;
		if (changed)
			status_write(rl, NULL);
		return;
	}
	if (watch_load(rl, w, full))
		w->last_version = version;
}

static void *
reload_thread(void *arg)
{
	struct reload *rl = arg;
	struct watch w = { .db = NULL, .last_version = -1 };
	const char *slash = strrchr(rl->path, '/');
	const char *base = slash ? slash + 1 : rl->path;
	int wfd = watch_directory(rl->path);
	int settle = 0; /* quick re-checks left after a wake-up that found no commit yet */

	status_write(rl, NULL);
	while (!atomic_load(&rl->stop)) {
		bool force = atomic_exchange(&rl->force, false);
		watch_check(rl, &w, force);
		release_retired(rl);
		if (atomic_load(&rl->stop))
			break;
		if (rl->state != WATCH_SERVING) {
			/* retry every second, or at once on SIGHUP */
			for (int i = 0; i < RETRY_MS / 50 && !atomic_load(&rl->stop) && !atomic_load(&rl->force); i++)
				wait_change(-1, base, 50);
		} else if (wait_change(wfd, base, settle > 0 ? SETTLE_MS : rl->poll_ms)) {
			/* a writer is at work: its commit may land a moment after this event */
			settle = SETTLE_CHECKS;
		} else if (settle > 0) {
			settle--;
		}
	}
	watch_close(&w);
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
	if (rl->path &&
	    (asprintf(&rl->wal_path, "%s-wal", path) < 0 ||
	     asprintf(&rl->status_path, "%s%s", path, RELOAD_STATUS_SUFFIX) < 0 ||
	     asprintf(&rl->status_tmp, "%s%s.tmp", path, RELOAD_STATUS_SUFFIX) < 0))
		rl->wal_path = rl->status_path = rl->status_tmp = NULL;
	rl->poll_ms = poll_ms;
	rl->serial = serial;
	rl->db_serial = (int64_t)serial;
	rl->fn = fn;
	rl->arg = arg;
	pthread_mutex_init(&rl->lock, NULL);
	rl->notify = event_new(base, -1, 0, reload_notify, rl);
	if (!rl->path || !rl->wal_path || !rl->status_path || !rl->status_tmp || !rl->notify ||
	    pthread_create(&rl->thread, NULL, reload_thread, rl) != 0) {
		if (rl->notify)
			event_free(rl->notify);
		free(rl->path);
		free(rl->wal_path);
		free(rl->status_path);
		free(rl->status_tmp);
		pthread_mutex_destroy(&rl->lock);
		free(rl);
		return NULL;
	}
	return rl;
}

void
reload_adopt(struct reload *rl, struct policy *p)
{
	pthread_mutex_lock(&rl->lock);
	if (!rl->adopted)
		rl->adopted = policy_ref(p);
	pthread_mutex_unlock(&rl->lock);
}

void
reload_force(struct reload *rl)
{
	atomic_store(&rl->force, true);
}

void
reload_stats(const struct reload *rl, uint64_t *failed, int64_t *db_serial)
{
	*failed = rl ? (uint64_t)atomic_load(&rl->failed) : 0;
	*db_serial = rl ? (int64_t)atomic_load(&rl->db_serial) : -1;
}

void
reload_stop(struct reload *rl)
{
	if (!rl)
		return;
	atomic_store(&rl->stop, true);
	pthread_join(rl->thread, NULL);
	status_write(rl, "stopped");
	event_free(rl->notify);
	policy_free(rl->ready);
	policy_free(rl->adopted);
	policy_free(rl->current);
	policy_free(rl->retired);
	pthread_mutex_destroy(&rl->lock);
	free(rl->path);
	free(rl->wal_path);
	free(rl->status_path);
	free(rl->status_tmp);
	free(rl);
}
