/*
 * main.c -- resolverd: start-up, signals, the main loop and the workers.
 *
 * The main thread runs its own loop: signals, the policy watcher's
 * hand-over, the control socket, the metrics listener and the sink. The
 * queries are answered by the worker threads (worker.h), which main starts
 * once every socket is open and privileges are dropped.
 */
#include "config.h"
#include "log.h"
#include "options.h"
#include "policy.h"
#include "policydb.h"
#include "answer_cache.h"
#include "control.h"
#include "metrics.h"
#include "notify.h"
#include "privdrop.h"
#include "query.h"
#include "recursion.h"
#include "reload.h"
#include "resolver.h"
#include "server.h"
#include "sink.h"
#include "targetmap.h"
#include "worker.h"
#include "xfr.h"
#include "zone.h"
#include "zonehook.h"

#include <ctype.h>
#include <errno.h>
#include <pwd.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/thread.h>

/* the schema, as chpolicy carries it (dbtools/schema.sql, generated) */
extern const char policydb_schema_sql[];

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif

struct daemon {
	const char *config;      /* the config file, read again on SIGHUP */
	struct options opt;
	struct zone *zone;
	int verbosity_flag;      /* -v, or -1: it overrides the config, also on SIGHUP */
	int use_syslog;
	uint64_t reloads;        /* snapshots swapped in since start */
	time_t started;
	struct control *control;
	struct event_base *base; /* main's loop */
	struct workers *ws;      /* the threads that answer */
	struct targetmap *learned;  /* learned target hosts, shared by the workers */
	struct metrics *metrics; /* main's: the HTTP listener, the watcher's counters */
	struct policy *policy;   /* the snapshot served (ws->serving), for main's loop */
	struct sink *sink;
	struct reload *reload;
	struct xfr *xfr;         /* policy-source xfr, else NULL */
	struct zonehook *hook;   /* policy-zone, else NULL */
};

static void
usage(FILE *f)
{
	fprintf(f,
	        "usage: resolverd [-c CONFIG] [-f] [-v LEVEL] [-t] [-h] [-V]\n"
	        "  -c CONFIG  config file (default %s/resolverd.conf)\n"
	        "  -f         stay in the foreground and log to stderr\n"
	        "  -v LEVEL   verbosity 0-3, overrides the config\n"
	        "  -t         check the config, zone and database, then exit\n"
	        "  -h         this help and the config keywords\n"
	        "  -V         version\n",
	        SYSCONFDIR);
}

static void update_reload_metrics(struct daemon *d);

/*
 * The replica a first transfer made as root belongs to the service user,
 * who writes it from then on (the later transfers, the -shm of a WAL reader).
 */
static void
replica_owner(const struct options *o)
{
	static const char *const suffixes[] = { "", "-wal", "-shm", XFR_STATUS_SUFFIX };
	struct passwd *pw;
	char path[4200];

	if (geteuid() != 0 || !o->username || strcmp(o->username, "root") == 0 ||
	    !(pw = getpwnam(o->username)))
		return;
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		snprintf(path, sizeof(path), "%s%s", o->database, suffixes[i]);
		if (chown(path, pw->pw_uid, pw->pw_gid) != 0 && errno != ENOENT)
			log_warn("%s: chown to %s: %s", path, o->username, strerror(errno));
	}
}

/*
 * Main's side of a reload: post the snapshot to every worker, which swaps
 * its pointer on its own loop (queries see old or new, never half); main
 * keeps the old one until every worker has let go of it.
 */
static void
policy_swap(struct policy *p, void *arg)
{
	struct daemon *d = arg;

	workers_post(d->ws, p);
	d->policy = p;
	d->reloads++;
	update_reload_metrics(d);
	zonehook_kick(d->hook, p->serial);
	char status[96];
	snprintf(status, sizeof(status), "STATUS=serving policy serial %llu", (unsigned long long)p->serial);
	notify_systemd(status);
}

/* The watcher's counters into the metrics. */
static void
update_reload_metrics(struct daemon *d)
{
	uint64_t failed;
	int64_t db_serial;

	reload_stats(d->reload, &failed, &db_serial);
	metrics_reload(d->metrics, d->reloads, failed,
	               db_serial >= 0 ? (uint64_t)db_serial : d->policy->serial);
	if (d->xfr) {
		struct xfr_stats xs;
		xfr_stats(d->xfr, &xs);
		metrics_xfr(d->metrics, xs.transfers, xs.failures, xs.serial, xs.last_success,
		            xs.last_records);
	}
	if (d->hook) {
		uint64_t failures;
		int64_t published;
		zonehook_stats(d->hook, &failures, &published);
		metrics_zone_hook(d->metrics, failures, published);
	}
}

/*
 * Up to the hard limit of open files: libunbound keeps up to outgoing-range
 * sockets to upstreams, TCP clients take one each.
 */
static void
raise_open_files(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		log_warn("cannot raise the open files limit to %llu", (unsigned long long)rl.rlim_max);
}

/*
 * Five times a second: let go of the snapshots every worker has replaced,
 * and keep the watcher's counters fresh (each worker has its own timer for
 * its queries that waited recursion-timeout).
 */
static void
on_main_timer(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;

	(void)fd;
	(void)what;
	workers_release(d->ws);
	log_query_flush();
	update_reload_metrics(d);
}

/*
 * The counters of every worker summed into t, each read while its worker
 * is paused. 0, or -1 on no memory.
 */
static int
collect_totals(struct daemon *d, struct metrics_totals *t)
{
	int ret = 0;

	if (metrics_totals_init(t, d->policy) != 0)
		return -1;
	/*
	 * One worker at a time: each one's counters are consistent, and no
	 * worker waits for another to reach its pause. The sum is not one
	 * instant of the whole process, which counters need not be.
	 */
	for (size_t i = 0; i < d->ws->n; i++) {
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		workers_pause_one(d->ws, i);
		if (metrics_totals_add(t, &d->ws->w[i].r) != 0)
			ret = -1;
		workers_resume_one(d->ws, i);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		/* what a scrape costs the queries: this worker stops for this long */
		log_debug("metrics: worker %zu paused for at most %.0f us while its counters were added", i,
		          (double)(t1.tv_sec - t0.tv_sec) * 1e6 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e3);
	}
	return ret;
}

/* metrics_scrape_fn: the exposition, summed over the workers. */
static void
write_metrics(struct evbuffer *out, void *arg)
{
	struct daemon *d = arg;
	struct metrics_totals t;

	update_reload_metrics(d);
	if (collect_totals(d, &t) != 0)
		log_warn("metrics: out of memory: some requesters or rules are not shown");
	if (t.sum)
		metrics_write(d->metrics, &t, out);
	metrics_totals_free(&t);
}

/* A restart-only option that changed: say so, keep the running value. */
static void
needs_restart(const char *what)
{
	log_warn("SIGHUP: %s changed: it takes effect at the next restart, the running value stays",
	         what);
}

/* Whether two lists of listen addresses differ. */
static bool
listen_changed(const struct listen_addr *a, size_t na, const struct listen_addr *b, size_t nb)
{
	if (na != nb)
		return true;
	for (size_t i = 0; i < na; i++)
		if (strcmp(a[i].text, b[i].text) != 0)
			return true;
	return false;
}

/* a file opened again after start: its path inside the chroot when it is
 * there (privileges are dropped by then), else the path as configured */
static const char *
reopen_path(const struct options *o, const char *path)
{
	const char *inside = privdrop_path(o, path);
	return inside ? inside : path;
}

static bool
str_changed(const char *a, const char *b)
{
	return (a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0);
}

/*
 * SIGHUP: read the config and the zone again and apply what can change
 * while serving (policy answers, limits, logging, the zone); queries go on
 * being answered throughout. What needs sockets, the upstream context or
 * privileges opened again is logged as needing a restart. A config or zone
 * that does not load leaves everything as it was.
 */
static void
reconfigure(struct daemon *d)
{
	struct options n;
	char err[512];

	notify_reloading();
	if (options_init(&n) != 0 || options_read(&n, d->config, err, sizeof(err)) != 0 ||
	    options_check(&n, err, sizeof(err)) != 0) {
		log_err("SIGHUP: config %s: %s; the running config stays", d->config, err);
		goto done;
	}
	struct zone *z = zone_load(reopen_path(&d->opt, n.zone_file), err, sizeof(err));
	if (!z) {
		log_err("SIGHUP: zone: %s; the running config and zone stay", err);
		goto done;
	}
	struct options *o = &d->opt;
	if (listen_changed(o->listen, o->nlisten, n.listen, n.nlisten))
		needs_restart("listen");
	if (listen_changed(o->sink_listen, o->nsink_listen, n.sink_listen, n.nsink_listen) ||
	    o->sink_mode != n.sink_mode)
		needs_restart("sink-mode or sink-listen");
	if (str_changed(o->database, n.database))
		needs_restart("database");
	if (str_changed(o->username, n.username) || str_changed(o->chroot_dir, n.chroot_dir))
		needs_restart("username or chroot");
	if (o->nforward != n.nforward || o->nstub != n.nstub || o->ntransparent != n.ntransparent ||
	    o->nunbound != n.nunbound || str_changed(o->trust_anchor_file, n.trust_anchor_file) ||
	    str_changed(o->auto_trust_anchor_file, n.auto_trust_anchor_file))
		needs_restart("the upstream (forward, stub-zone, transparent-zone, trust anchors, "
		              "unbound-option)");
	if (o->policy_poll_ms != n.policy_poll_ms)
		needs_restart("policy-poll-ms");
	if (str_changed(o->policy_source, n.policy_source) ||
	    str_changed(o->policy_zone_apex, n.policy_zone_apex) ||
	    o->policy_xfr_refresh != n.policy_xfr_refresh || str_changed(o->policy_zone, n.policy_zone))
		needs_restart("policy-source, policy-zone-apex, policy-xfr-refresh or policy-zone");
	if (o->threads != n.threads)
		needs_restart("threads");
	/*
	 * What answers are made from: scalars every worker reads at every
	 * query, its derived state and its zone. Written while every worker is
	 * parked, so that no query sees half of a change.
	 */
	workers_pause(d->ws);
	free(o->sink_host);
	o->sink_host = n.sink_host;
	n.sink_host = NULL;
	free(o->zone_file);
	o->zone_file = n.zone_file;
	n.zone_file = NULL;
	o->sink_port = n.sink_port;
	o->police_domain_address = n.police_domain_address;
	o->ttl_cap = n.ttl_cap;
	o->unknown_peer = n.unknown_peer;
	o->require_mutual = n.require_mutual;
	o->edns_buffer_size = n.edns_buffer_size;
	o->tcp_idle_timeout = n.tcp_idle_timeout;
	o->tcp_initial_timeout = n.tcp_initial_timeout;
	o->tcp_max_connections = n.tcp_max_connections < o->tcp_max_connections ? n.tcp_max_connections
	                                                                         : o->tcp_max_connections;
	if (n.tcp_max_connections > d->opt.tcp_max_connections)
		needs_restart("a larger tcp-max-connections");
	o->tcp_max_per_source = n.tcp_max_per_source;
	o->tcp_max_pending_output = n.tcp_max_pending_output;
	o->recursion_max_per_source = n.recursion_max_per_source;
	o->recursion_timeout = n.recursion_timeout;
	if (n.recursion_max_outstanding != o->recursion_max_outstanding)
		needs_restart("recursion-max-outstanding");
	o->rate_limit = n.rate_limit;
	o->rate_limit_identified = n.rate_limit_identified;
	o->rate_limit_slip = n.rate_limit_slip;
	o->verbosity = d->verbosity_flag >= 0 ? d->verbosity_flag : n.verbosity;
	o->log_rate_limit = n.log_rate_limit;
	struct netaddr *acl = o->recursion_acl;
	size_t nacl = o->nrecursion_acl;
	o->recursion_acl = n.recursion_acl;
	o->nrecursion_acl = n.nrecursion_acl;
	n.recursion_acl = acl;
	n.nrecursion_acl = nacl;
	log_init("resolverd", o->verbosity, d->use_syslog);
	log_set_rate_limit((unsigned)o->log_rate_limit);
	/* after a rotation the decision log is a new file; a new path needs the rights of root */
	if (str_changed(o->decision_log, n.decision_log))
		needs_restart("decision-log");
	else if (o->decision_log && log_json_open(reopen_path(o, o->decision_log)) != 0)
		log_err("SIGHUP: decision-log %s: %s; logging there stopped", o->decision_log, strerror(errno));
	for (size_t i = 0; i < d->ws->n; i++) {
		struct resolver *r = &d->ws->w[i].r;
		if (resolver_reconfigure(r, err, sizeof(err)) != 0)
			log_err("SIGHUP: %s", err);
		r->zone = z;
	}
	workers_resume(d->ws);
	zone_free(d->zone);
	d->zone = z;
	log_info("SIGHUP: config and zone read again");
done:
	options_free(&n);
	/* the policy too: also takes a database file that was put in place */
	reload_force(d->reload);
	notify_systemd("READY=1");
}

/* Append the watcher's status file (the policy's state as the operator sees it). */
static void
append_status_file(const struct daemon *d, struct evbuffer *out)
{
	char path[4096], line[1024];
	const char *db = privdrop_path(&d->opt, d->opt.database);

	snprintf(path, sizeof(path), "%s%s", db ? db : d->opt.database, RELOAD_STATUS_SUFFIX);
	FILE *f = fopen(path, "r");
	if (!f) {
		evbuffer_add_printf(out, "status-file: %s: %s\n", path, strerror(errno));
		return;
	}
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "pid:", 4) != 0)
			evbuffer_add(out, line, strlen(line));
	fclose(f);
	if (!d->xfr)
		return;
	snprintf(path, sizeof(path), "%s%s", db ? db : d->opt.database, XFR_STATUS_SUFFIX);
	if (!(f = fopen(path, "r"))) {
		evbuffer_add_printf(out, "xfr-status-file: %s: %s\n", path, strerror(errno));
		return;
	}
	while (fgets(line, sizeof(line), f))
		if (line[0] != '#' && strncmp(line, "pid:", 4) != 0)
			evbuffer_add(out, line, strlen(line));
	fclose(f);
}

/*
 * control_fn: the commands of resolverd-control.
 *   status  the policy served and the database's, the last reload error,
 *           uptime, a few counters ("key: value" lines)
 *   stats   every metric (Prometheus text format)
 *   reload  what SIGHUP does: config, zone and policy read again
 *   flush   forget cached answers and decisions
 */
static int
control_command(const char *cmd, struct evbuffer *out, void *arg)
{
	struct daemon *d = arg;

	if (strcmp(cmd, "status") == 0) {
		struct metrics_totals t;
		collect_totals(d, &t);
		const struct query_stats *st = &t.stats;
		evbuffer_add_printf(out, "version: %s\npid: %ld\nuptime: %lld s\n", PACKAGE_VERSION,
		                    (long)getpid(), (long long)(time(NULL) - d->started));
		append_status_file(d, out);
		evbuffer_add_printf(out, "queries: %llu\nallowed: %llu\ndenied: %llu\nservfail: %llu\n"
		                    "refused: %llu\nrate-limited: %llu\nin-flight: %zu\n",
		                    (unsigned long long)st->queries, (unsigned long long)st->policy_allow,
		                    (unsigned long long)st->policy_deny, (unsigned long long)st->servfail,
		                    (unsigned long long)st->refused, (unsigned long long)st->rate_limited,
		                    t.in_flight);
		if (d->ws->n > 1)
			evbuffer_add_printf(out, "threads: %zu\n", d->ws->n);
		metrics_totals_free(&t);
		return 0;
	}
	if (strcmp(cmd, "stats") == 0) {
		write_metrics(out, d);
		return 0;
	}
	if (strcmp(cmd, "reload") == 0) {
		reconfigure(d);
		evbuffer_add_printf(out, "ok: config, zone and policy read again (see the log for what "
		                    "needs a restart)\n");
		return 0;
	}
	if (strcmp(cmd, "flush") == 0) {
		char err[256];
		bool failed = false;
		workers_pause(d->ws);
		for (size_t i = 0; i < d->ws->n; i++) {
			struct resolver *r = &d->ws->w[i].r;
			struct answer_cache *fresh = answer_cache_new(ANSWER_CACHE_MAX);
			if (fresh)
				resolver_replace_answers(r, fresh);
			if (!fresh || resolver_reconfigure(r, err, sizeof(err)) != 0)
				failed = true;
		}
		workers_resume(d->ws);
		if (failed) {
			evbuffer_add_printf(out, "error: flush: out of memory\n");
			return -1;
		}
		evbuffer_add_printf(out, "ok: answer and decision caches emptied\n");
		return 0;
	}
	evbuffer_add_printf(out, "error: unknown command '%.64s' (status, stats, reload, flush)\n", cmd);
	return -1;
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;

	(void)what;
	if (sig == SIGHUP) {
		log_info("SIGHUP: reading the config, the zone and the policy again");
		reconfigure(d);
		return;
	}
	if (sig == SIGUSR1) {
		/* one line for the whole process, as without threads; then each worker's share */
		struct metrics_totals t;
		collect_totals(d, &t);
		resolver_stats_log_counts(&t.stats, t.in_flight, d->policy->serial, t.decision_hits,
		                          t.decision_misses, t.answer_hits, t.answer_misses,
		                          t.answer_entries);
		for (size_t i = 0; d->ws->n > 1 && i < t.nworkers; i++)
			log_info("statistics: worker %zu of %zu: queries=%llu", i, d->ws->n,
			         (unsigned long long)t.worker_queries[i]);
		metrics_totals_free(&t);
		return;
	}
	log_info("signal %d: stopping", (int)sig);
	notify_systemd("STOPPING=1");
	event_base_loopbreak(d->base);
}

int
main(int argc, char **argv)
{
	struct daemon d;
	const char *config = SYSCONFDIR "/resolverd.conf";
	int foreground = 0, check_only = 0, verbosity = -1, c;
	char err[512];
	int ret = 1;
	struct event *sigs[5] = { NULL, NULL, NULL, NULL, NULL };
	struct event *timer = NULL;
	struct policy *first = NULL;

	memset(&d, 0, sizeof(d));
	d.started = time(NULL);
	while ((c = getopt(argc, argv, "c:fv:thV")) != -1) {
		switch (c) {
		case 'c': config = optarg; break;
		case 'f': foreground = 1; break;
		case 'v': verbosity = atoi(optarg); break;
		case 't': check_only = 1; break;
		case 'h': usage(stdout); options_print_help(); return 0;
		case 'V': printf("resolverd %s\n", PACKAGE_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	log_init("resolverd", LOG_LEVEL_INFO, 0);
	if (options_init(&d.opt) != 0) {
		log_err("out of memory");
		goto out;
	}
	/* every problem of the file is reported (file:line), then what the whole lacks */
	bool bad_config = options_read(&d.opt, config, err, sizeof(err)) != 0;
	bad_config |= options_check(&d.opt, err, sizeof(err)) != 0;
	if (bad_config) {
		log_err("config: %s is not valid (every problem is listed above)", config);
		goto out;
	}
	d.config = config;
	d.verbosity_flag = verbosity > 3 ? 3 : verbosity;
	if (d.verbosity_flag >= 0)
		d.opt.verbosity = d.verbosity_flag;
	d.use_syslog = !foreground && !check_only;
	log_init("resolverd", d.opt.verbosity, d.use_syslog);
	log_set_rate_limit((unsigned)d.opt.log_rate_limit);
	if (!check_only && d.opt.decision_log && log_json_open(d.opt.decision_log) != 0) {
		log_err("decision-log %s: %s", d.opt.decision_log, strerror(errno));
		goto out;
	}
	/* the service user must open it again after a rotation (SIGHUP) */
	if (!check_only && d.opt.decision_log && geteuid() == 0 && d.opt.username &&
	    strcmp(d.opt.username, "root") != 0) {
		struct passwd *pw = getpwnam(d.opt.username);
		if (pw && chown(d.opt.decision_log, pw->pw_uid, pw->pw_gid) != 0)
			log_warn("decision-log %s: chown to %s: %s", d.opt.decision_log, d.opt.username,
			         strerror(errno));
	}
	if (privdrop_check(&d.opt, !check_only, err, sizeof(err)) != 0) {
		log_err("config: %s", err);
		goto out;
	}

	d.zone = zone_load(d.opt.zone_file, err, sizeof(err));
	if (!d.zone) {
		log_err("zone: %s", err);
		goto out;
	}
	if (d.opt.policy_zone_apex) {
		/* written as chpolicy export zone --apex takes it: any case, a trailing dot */
		char *a = d.opt.policy_zone_apex;
		size_t n = strlen(a);
		for (size_t i = 0; i < n; i++)
			a[i] = (char)tolower((unsigned char)a[i]);
		if (n > 1 && a[n - 1] == '.')
			a[n - 1] = '\0';
	}
	if (d.opt.policy_source) {
		/* NAME:ALGORITHM:BASE64 in the config: the config file is then as secret as the key */
		const char *key = strrchr(d.opt.policy_source, ' ');
		struct stat sb;
		if (key && strchr(key, ':') && strchr(strchr(key, ':') + 1, ':') && access(key + 1, F_OK) != 0 &&
		    stat(config, &sb) == 0 && (sb.st_mode & S_IROTH))
			log_warn("%s holds the policy-source TSIG secret and every user may read it: chmod "
			         "o-rwx %s, or give the key as a file", config, config);
	}
	if (d.opt.policy_source && check_only &&
	    xfr_check_config(d.opt.policy_source, d.opt.policy_zone_apex, true, err, sizeof(err)) != 0) {
		log_err("config: %s", err);
		goto out;
	}
	if (d.opt.policy_source && !check_only) {
		d.xfr = xfr_new(d.opt.policy_source, d.opt.policy_zone_apex, d.opt.database,
		                policydb_schema_sql, d.opt.policy_xfr_refresh, err, sizeof(err));
		if (!d.xfr) {
			log_err("config: %s", err);
			goto out;
		}
	}
	/* a site's replica may not exist yet; elsewhere policydb_open says what is missing */
	sqlite3 *db = NULL;
	if (d.opt.policy_source && access(d.opt.database, F_OK) != 0)
		snprintf(err, sizeof(err), "%s: no database yet", d.opt.database);
	else
		db = policydb_open(d.opt.database, 0, err, sizeof(err));
	if (db) {
		first = policydb_load(db, err, sizeof(err));
		sqlite3_close(db);
	}
	if (!first && d.xfr) {
		/* a site without a policy yet: one transfer now, or no start (never fail open) */
		log_warn("policy: %s; transferring zone %s first", err, d.opt.policy_zone_apex);
		if (xfr_once(d.xfr, err, sizeof(err)) != 0) {
			log_err("policy: no policy to serve: the first transfer failed: %s", err);
			goto out;
		}
		replica_owner(&d.opt);
		db = policydb_open(d.opt.database, 0, err, sizeof(err));
		if (db) {
			first = policydb_load(db, err, sizeof(err));
			sqlite3_close(db);
		}
	}
	if (!first && check_only && d.opt.policy_source) {
		/* a site before its first transfer: the start transfers it (or does not start) */
		printf("config and zone are valid; policy: %s (transferred at start: %s)\n", err,
		       d.opt.policy_source);
		ret = 0;
		goto out;
	}
	if (!first) {
		/* no last good policy to fall back on: refuse to start rather than fail open */
		log_err("policy: %s", err);
		goto out;
	}
	log_info("policy serial %llu: %zu domains, %zu rules", (unsigned long long)first->serial,
	         first->ndomains, first->nrules);
	if (d.opt.policy_source) {
		/* a replica holds no key (the zone carries none): this database was edited here */
		size_t keys = policy_count_keys(first, POLICY_KEY_TSIG);
		if (keys)
			log_warn("policy-source xfr: %s holds %zu TSIG key%s, which the next transfer replaces "
			         "(a site's replica holds none: keep local edits on the primary)",
			         d.opt.database, keys, keys == 1 ? "" : "s");
	}
	if (check_only) {
		reload_warn_readable_secrets(d.opt.database, first);
		printf("config, zone and policy are valid\n");
		ret = 0;
		goto out;
	}

	/* every loop below may be woken from another thread */
	evthread_use_pthreads();
	d.base = event_base_new();
	d.metrics = metrics_new();
	d.learned = targetmap_new(LEARNED_TARGETS);
	if (!d.base || !d.metrics || !d.learned) {
		log_err("cannot create the event loop");
		goto out;
	}
	raise_open_files();
	size_t nthreads = (size_t)options_threads(&d.opt);
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	if (cpus > 0 && nthreads > (size_t)cpus)
		log_warn("threads: %zu workers on %ld CPUs: more workers than CPUs only cost memory (about "
		         "18 MB each) and context switches", nthreads, cpus);
	d.ws = workers_new(nthreads, first, err, sizeof(err));
	if (!d.ws) {
		log_err("%s", err);
		goto out;
	}
	/* the workers' reference is the one to keep */
	policy_free(first);
	first = NULL;
	d.policy = d.ws->serving;
	/*
	 * Each worker's answer state, libunbound context and sockets, made
	 * here as one loop's were: before the chroot and the privilege drop.
	 * With several workers every address is bound once per worker with
	 * SO_REUSEPORT; with one, as a single process binds.
	 */
	if (server_addresses_free(&d.opt, err, sizeof(err)) != 0) {
		log_err("%s", err);
		goto out;
	}
	for (size_t i = 0; i < nthreads; i++)
		if (worker_open(&d.ws->w[i], &d.opt, d.zone, d.learned, nthreads > 1, err, sizeof(err)) != 0) {
			log_err("%s", err);
			goto out;
		}
	/* a site: a NOTIFY for the policy zone, on any worker, wakes the transfer thread */
	for (size_t i = 0; d.xfr && i < nthreads; i++) {
		d.ws->w[i].r.policy_notify = xfr_notify;
		d.ws->w[i].r.policy_notify_ctx = d.xfr;
	}
	if (metrics_listen(d.metrics, d.base, write_metrics, &d, &d.opt, err, sizeof(err)) != 0) {
		log_err("%s", err);
		goto out;
	}
	if (d.opt.control_socket) {
		gid_t group = (gid_t)-1;
		struct passwd *pw = d.opt.username ? getpwnam(d.opt.username) : NULL;
		if (pw && geteuid() == 0)
			group = pw->pw_gid;
		d.control = control_new(d.base, d.opt.control_socket, group, control_command, &d, err,
		                        sizeof(err));
		if (!d.control) {
			log_err("%s", err);
			goto out;
		}
	}
	if (d.opt.sink_mode == SINK_LISTENER) {
		d.sink = sink_new(d.base, &d.policy, &d.opt, err, sizeof(err));
		if (!d.sink) {
			log_err("sink: %s", err);
			goto out;
		}
	}
	/* everything that needs root is open: become the service user for good */
	if (privdrop_apply(&d.opt, err, sizeof(err)) != 0) {
		log_err("%s", err);
		goto out;
	}
	if (!foreground && daemon(0, 0) != 0) {
		log_err("cannot daemonize");
		goto out;
	}
	/* after the fork: the watcher and the workers must live in the serving process */
	event_reinit(d.base);
	for (size_t i = 0; i < nthreads; i++)
		event_reinit(d.ws->w[i].base);
	d.reload = reload_start(d.base, privdrop_path(&d.opt, d.opt.database), d.opt.policy_poll_ms,
	                        d.policy->serial, policy_swap, &d);
	if (!d.reload) {
		log_err("cannot start the policy watcher");
		goto out;
	}
	/* the watcher applies edits to the snapshot served now, not to a second copy */
	reload_adopt(d.reload, d.policy);
	if (d.xfr && xfr_start(d.xfr) != 0) {
		log_err("cannot start the policy transfer thread");
		goto out;
	}
	if (d.opt.policy_zone) {
		d.hook = zonehook_start(d.opt.policy_zone, privdrop_path(&d.opt, d.opt.database), err,
		                        sizeof(err));
		if (!d.hook) {
			log_err("%s", err);
			goto out;
		}
		zonehook_kick(d.hook, d.policy->serial);
	}
	signal(SIGPIPE, SIG_IGN);
	int signums[5] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1, 0 };
	for (int i = 0; signums[i]; i++) {
		sigs[i] = evsignal_new(d.base, signums[i], on_signal, &d);
		if (sigs[i])
			event_add(sigs[i], NULL);
	}
	/* snapshots the workers replaced are let go of here */
	timer = event_new(d.base, -1, EV_PERSIST, on_main_timer, &d);
	struct timeval tick = { 0, 200 * 1000 };
	if (!timer || event_add(timer, &tick) != 0) {
		log_err("cannot start the main timer");
		goto out;
	}
	/* privileges are dropped and every socket is open: answer */
	if (workers_start(d.ws, err, sizeof(err)) != 0) {
		log_err("%s", err);
		goto out;
	}
	if (nthreads > 1)
		log_info("%zu worker threads", nthreads);
	for (size_t i = 0; i < d.opt.nlisten; i++)
		log_info("listening on %s (udp, tcp)", d.opt.listen[i].text);
	for (size_t i = 0; i < d.opt.ntls_listen; i++)
		log_info("listening on %s (dns over tls)", d.opt.tls_listen[i].text);
	char ready[96];
	snprintf(ready, sizeof(ready), "READY=1\nSTATUS=serving policy serial %llu",
	         (unsigned long long)d.policy->serial);
	notify_systemd(ready);
	event_base_dispatch(d.base);
	ret = 0;
out:
	zonehook_stop(d.hook);
	xfr_stop(d.xfr);
	/* no new snapshot is posted once the watcher is gone */
	reload_stop(d.reload);
	/* every worker leaves its loop and is joined before anything is freed */
	workers_stop(d.ws);
	for (int i = 0; i < 5; i++)
		if (sigs[i])
			event_free(sigs[i]);
	if (timer)
		event_free(timer);
	control_free(d.control);
	sink_free(d.sink);
	/* each worker's recursion, waiting queries, server, resolver and loop */
	workers_free(d.ws);
	targetmap_free(d.learned);
	/* the metrics listener's events belong to main's base: free them first */
	metrics_free(d.metrics);
	if (d.base)
		event_base_free(d.base);
	policy_free(first);
	zone_free(d.zone);
	options_free(&d.opt);
	return ret;
}
