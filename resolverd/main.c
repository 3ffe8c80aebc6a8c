/*
 * main.c -- resolverd: start-up, signals, the event loop.
 */
#include "config.h"
#include "log.h"
#include "options.h"
#include "policy.h"
#include "policydb.h"
#include "query.h"
#include "recursion.h"
#include "reload.h"
#include "resolver.h"
#include "server.h"
#include "sink.h"
#include "zone.h"

#include <signal.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif

struct daemon {
	struct options opt;
	struct resolver r;
	struct recursion *rec;
	struct zone *zone;
	struct event_base *base;
	struct server *server;
	struct sink *sink;
	struct reload *reload;
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

/* The loop's side of a reload: swap the snapshot; queries see old or new, never half. */
static void
policy_swap(struct policy *p, void *arg)
{
	struct daemon *d = arg;
	struct policy *old = d->r.policy;

	d->r.policy = p;
	d->r.epoch++; /* cached answers checked against the old policy are stale */
	policy_free(old);
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

/* Five times a second: SERVFAIL for the queries that waited recursion-timeout. */
static void
on_expire_timer(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;

	(void)fd;
	(void)what;
	query_expire(&d->r, time(NULL));
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;

	(void)what;
	if (sig == SIGHUP) {
		log_info("SIGHUP: reloading the policy");
		reload_force(d->reload);
		return;
	}
	if (sig == SIGUSR1) {
		resolver_stats_log(&d->r);
		return;
	}
	log_info("signal %d: stopping", (int)sig);
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
	struct event *expire = NULL;

	memset(&d, 0, sizeof(d));
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
	if (options_read(&d.opt, config, err, sizeof(err)) != 0 ||
	    options_check(&d.opt, err, sizeof(err)) != 0) {
		log_err("config: %s", err);
		goto out;
	}
	if (verbosity >= 0)
		d.opt.verbosity = verbosity > 3 ? 3 : verbosity;
	log_init("resolverd", d.opt.verbosity, !foreground && !check_only);
	log_set_rate_limit((unsigned)d.opt.log_rate_limit);

	d.zone = zone_load(d.opt.zone_file, err, sizeof(err));
	if (!d.zone) {
		log_err("zone: %s", err);
		goto out;
	}
	if (resolver_init(&d.r, &d.opt, err, sizeof(err)) != 0) {
		log_err("config: %s", err);
		goto out;
	}
	d.r.zone = d.zone;
	sqlite3 *db = policydb_open(d.opt.database, 0, err, sizeof(err));
	if (db) {
		d.r.policy = policydb_load(db, err, sizeof(err));
		sqlite3_close(db);
	}
	if (!d.r.policy) {
		/* no last good policy to fall back on: refuse to start rather than fail open */
		log_err("policy: %s", err);
		goto out;
	}
	log_info("policy serial %llu: %zu domains, %zu rules",
	         (unsigned long long)d.r.policy->serial, d.r.policy->ndomains, d.r.policy->nrules);
	if (check_only) {
		printf("config, zone and policy are valid\n");
		ret = 0;
		goto out;
	}

	evthread_use_pthreads();
	d.base = event_base_new();
	if (!d.base) {
		log_err("cannot create the event loop");
		goto out;
	}
	raise_open_files();
	d.rec = recursion_new(d.base, &d.opt, err, sizeof(err));
	if (!d.rec) {
		log_err("recursion: %s", err);
		goto out;
	}
	d.r.lookup = recursion_resolve;
	d.r.lookup_ctx = d.rec;
	d.server = server_new(d.base, &d.r, &d.opt, err, sizeof(err));
	if (!d.server) {
		log_err("listen: %s", err);
		goto out;
	}
	if (d.opt.sink_mode == SINK_LISTENER) {
		d.sink = sink_new(d.base, &d.r, &d.opt, err, sizeof(err));
		if (!d.sink) {
			log_err("sink: %s", err);
			goto out;
		}
	}
	if (!foreground && daemon(0, 0) != 0) {
		log_err("cannot daemonize");
		goto out;
	}
	/* after the fork: the watcher thread must live in the serving process */
	event_reinit(d.base);
	d.reload = reload_start(d.base, d.opt.database, d.opt.policy_poll_ms, d.r.policy->serial,
	                        policy_swap, &d);
	if (!d.reload) {
		log_err("cannot start the policy watcher");
		goto out;
	}
	signal(SIGPIPE, SIG_IGN);
	int signums[5] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1, 0 };
	for (int i = 0; signums[i]; i++) {
		sigs[i] = evsignal_new(d.base, signums[i], on_signal, &d);
		if (sigs[i])
			event_add(sigs[i], NULL);
	}
	/* queries that waited for the upstream too long get SERVFAIL */
	expire = event_new(d.base, -1, EV_PERSIST, on_expire_timer, &d);
	struct timeval tick = { 0, 200 * 1000 };
	if (!expire || event_add(expire, &tick) != 0) {
		log_err("cannot start the recursion timer");
		goto out;
	}
	for (size_t i = 0; i < d.opt.nlisten; i++)
		log_info("listening on %s (udp, tcp)", d.opt.listen[i].text);
	event_base_dispatch(d.base);
	ret = 0;
out:
	reload_stop(d.reload);
	for (int i = 0; i < 5; i++)
		if (sigs[i])
			event_free(sigs[i]);
	if (expire)
		event_free(expire);
	sink_free(d.sink);
	/* no lookup calls back once the recursion is gone; then the waiting
	 * queries let go of their connections, and the server can close them */
	recursion_free(d.rec);
	query_shutdown(&d.r);
	server_free(d.server);
	if (d.base)
		event_base_free(d.base);
	policy_free(d.r.policy);
	resolver_cleanup(&d.r);
	zone_free(d.zone);
	options_free(&d.opt);
	return ret;
}
