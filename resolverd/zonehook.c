/*
 * zonehook.c -- write the policy zone when the served serial changes, and
 * tell the authoritative server.
 */
#include "config.h"
#include "zonehook.h"
#include "log.h"
#include "policydb.h"
#include "policyzone.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define HOOK_RETRY_S 10
#define HOOK_COMMAND_S 30

struct zonehook {
	struct zonehook_spec spec;
	char *database, *tmp;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
	uint64_t wanted;     /* the serial served, as last kicked */
	int64_t written;     /* the serial in FILE, -1 none yet */
	uint64_t failures;   /* writes or commands that failed (each is tried again) */
	int64_t published;   /* the serial the command last took, -1 none yet */
};

int
zonehook_parse(const char *spec, struct zonehook_spec *out, char *err, size_t errlen)
{
	struct zonehook_spec s;
	int n = 0;

	memset(&s, 0, sizeof(s));
	if (sscanf(spec, "%255s %4095s %n", s.apex, s.file, &n) != 2) {
		snprintf(err, errlen, "policy-zone: '%s' is not 'APEX FILE [COMMAND]'", spec);
		return -1;
	}
	snprintf(s.command, sizeof(s.command), "%s", spec + n);
	size_t al = strlen(s.apex);
	if (al > 1 && s.apex[al - 1] == '.')
		s.apex[al - 1] = '\0';
	if (!policydb_valid_name(s.apex)) {
		snprintf(err, errlen, "policy-zone: '%s' is not a domain name (lower case)", s.apex);
		return -1;
	}
	if (s.file[0] != '/') {
		snprintf(err, errlen, "policy-zone: the file '%s' must be an absolute path", s.file);
		return -1;
	}
	if (out)
		*out = s;
	return 0;
}

/* Write the zone from the database into FILE (via FILE.tmp). The serial written, or -1. */
static int64_t
write_zone(struct zonehook *h)
{
	char err[512];
	struct policyzone_info info;
	sqlite3 *db = policydb_open(h->database, 0, err, sizeof(err));
	FILE *f = NULL;

	if (!db)
		goto fail;
	if (!(f = fopen(h->tmp, "w"))) {
		snprintf(err, sizeof(err), "%.300s: %s", h->tmp, strerror(errno));
		goto fail;
	}
	if (policyzone_write(db, h->spec.apex, f, &info, err, sizeof(err)) != 0)
		goto fail;
	if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
		snprintf(err, sizeof(err), "%.300s: %s", h->tmp, strerror(errno));
		goto fail;
	}
	fclose(f);
	f = NULL;
	if (rename(h->tmp, h->spec.file) != 0) {
		snprintf(err, sizeof(err), "rename to %.300s: %s", h->spec.file, strerror(errno));
		goto fail;
	}
	sqlite3_close(db);
	log_info("policy-zone: %s serial %" PRId64 " written to %s (%zu rows)", h->spec.apex, info.serial,
	         h->spec.file, info.total);
	return info.serial;
fail:
	if (f) {
		fclose(f);
		unlink(h->tmp);
	}
	sqlite3_close(db);
	log_err("policy-zone: %s not written: %s", h->spec.apex, err);
	return -1;
}

/* Run the command with sh -c; it gets HOOK_COMMAND_S seconds. 0 when it exited 0, else -1. */
static int
run_command(struct zonehook *h, int64_t serial)
{
	char *argv[] = { "/bin/sh", "-c", h->spec.command, NULL };
	pid_t pid;
	int status = 0;

	if (!h->spec.command[0])
		return 0;
	int rc = posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ);
	if (rc != 0) {
		log_err("policy-zone: cannot run '%s': %s", h->spec.command, strerror(rc));
		return -1;
	}
	for (int i = 0; i < HOOK_COMMAND_S * 20; i++) {
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid) {
			if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
				return 0;
			log_err("policy-zone: '%s' failed (%s %d) after serial %" PRId64 " was written; "
			        "trying again in %d s", h->spec.command, WIFEXITED(status) ? "exit" : "signal",
			        WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), serial, HOOK_RETRY_S);
			return -1;
		}
		if (w < 0 && errno != EINTR) {
			log_err("policy-zone: waiting for '%s': %s", h->spec.command, strerror(errno));
			return -1;
		}
		struct timespec ts = { 0, 50 * 1000000L };
		nanosleep(&ts, NULL);
	}
	log_err("policy-zone: '%s' still runs after %d s: killed", h->spec.command, HOOK_COMMAND_S);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

static void *
hook_thread(void *arg)
{
	struct zonehook *h = arg;
	bool failed = false;

	pthread_mutex_lock(&h->lock);
	while (!h->stop) {
		if (h->written >= 0 && (uint64_t)h->written >= h->wanted && !failed) {
			pthread_cond_wait(&h->cond, &h->lock);
			continue;
		}
		pthread_mutex_unlock(&h->lock);
		int64_t s = write_zone(h);
		/* a command that failed has not published the zone: write and run it again */
		bool ran = s >= 0 && run_command(h, s) == 0;
		pthread_mutex_lock(&h->lock);
		failed = !ran;
		if (failed)
			h->failures++;
		else
			h->published = s;
		if (s >= 0)
			h->written = s;
		if (failed || (h->written >= 0 && (uint64_t)h->written < h->wanted)) {
			/* the database is ahead or did not read: again in a while, or at the next kick */
			struct timespec until;
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += failed ? HOOK_RETRY_S : 1;
			pthread_cond_timedwait(&h->cond, &h->lock, &until);
		}
	}
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

void
zonehook_stats(struct zonehook *h, uint64_t *failures, int64_t *published)
{
	*failures = 0;
	*published = -1;
	if (!h)
		return;
	pthread_mutex_lock(&h->lock);
	*failures = h->failures;
	*published = h->published;
	pthread_mutex_unlock(&h->lock);
}

struct zonehook *
zonehook_start(const char *spec, const char *database, char *err, size_t errlen)
{
	struct zonehook *h = calloc(1, sizeof(*h));

	if (!h) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (zonehook_parse(spec, &h->spec, err, errlen) != 0) {
		free(h);
		return NULL;
	}
	h->database = strdup(database);
	if (!h->database || asprintf(&h->tmp, "%s.tmp", h->spec.file) < 0) {
		snprintf(err, errlen, "out of memory");
		free(h->database);
		free(h);
		return NULL;
	}
	h->written = -1;
	h->published = -1;
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->cond, NULL);
	if (pthread_create(&h->thread, NULL, hook_thread, h) != 0) {
		snprintf(err, errlen, "policy-zone: cannot start a thread");
		pthread_mutex_destroy(&h->lock);
		pthread_cond_destroy(&h->cond);
		free(h->tmp);
		free(h->database);
		free(h);
		return NULL;
	}
	return h;
}

void
zonehook_kick(struct zonehook *h, uint64_t serial)
{
	if (!h)
		return;
	pthread_mutex_lock(&h->lock);
	h->wanted = serial;
	pthread_cond_signal(&h->cond);
	pthread_mutex_unlock(&h->lock);
}

void
zonehook_stop(struct zonehook *h)
{
	if (!h)
		return;
	pthread_mutex_lock(&h->lock);
	h->stop = true;
	pthread_cond_signal(&h->cond);
	pthread_mutex_unlock(&h->lock);
	pthread_join(h->thread, NULL);
	pthread_mutex_destroy(&h->lock);
	pthread_cond_destroy(&h->cond);
	free(h->tmp);
	free(h->database);
	free(h);
}
