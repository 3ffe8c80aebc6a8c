/*
 * control_tool.c -- resolverd-control: send one command to resolverd's
 * control socket and print the answer.
 *
 *   resolverd-control [-c CONFIG | -s SOCKET] status|stats|reload|flush
 *
 * Exit codes: 0 done, 1 resolverd answered with an error, 2 bad usage,
 * 3 no resolverd to talk to (no control-socket configured, cannot connect).
 */
#include "config.h"
#include "control.h"
#include "options.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif

static void
usage(FILE *f)
{
	fprintf(f,
	        "usage: resolverd-control [-c CONFIG | -s SOCKET] COMMAND\n"
	        "  -c CONFIG  resolverd's config, for its control-socket (default %s/resolverd.conf)\n"
	        "  -s SOCKET  the control socket itself\n"
	        "commands:\n"
	        "  status     served and database serial, last reload error, uptime, counters\n"
	        "  stats      every metric, Prometheus text format\n"
	        "  reload     read the config, the zone and the policy again (as SIGHUP)\n"
	        "  flush      forget cached answers and decisions\n"
	        "exit: 0 done, 1 resolverd answered with an error, 2 bad usage, 3 cannot reach resolverd\n",
	        SYSCONFDIR);
}

int
main(int argc, char **argv)
{
	const char *config = SYSCONFDIR "/resolverd.conf", *path = NULL;
	struct options opt;
	char err[512];
	int c;

	while ((c = getopt(argc, argv, "c:s:h")) != -1) {
		switch (c) {
		case 'c': config = optarg; break;
		case 's': path = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[optind];
	if (strcmp(cmd, "status") != 0 && strcmp(cmd, "stats") != 0 && strcmp(cmd, "reload") != 0 &&
	    strcmp(cmd, "flush") != 0) {
		fprintf(stderr, "resolverd-control: unknown command '%s' (status, stats, reload, flush)\n", cmd);
		return 2;
	}
	if (options_init(&opt) != 0)
		return 3;
	if (!path) {
		if (options_read(&opt, config, err, sizeof(err)) != 0) {
			fprintf(stderr, "resolverd-control: %s\n", err);
			options_free(&opt);
			return 3;
		}
		path = opt.control_socket;
		if (!path) {
			fprintf(stderr, "resolverd-control: %s has no control-socket\n", config);
			options_free(&opt);
			return 3;
		}
	}
	struct sockaddr_un sun;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "resolverd-control: %s: path too long\n", path);
		options_free(&opt);
		return 2;
	}
	memcpy(sun.sun_path, path, strlen(path));
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		fprintf(stderr, "resolverd-control: cannot connect to %s: %s\n", path, strerror(errno));
		options_free(&opt);
		return 3;
	}
	options_free(&opt);
	char line[CONTROL_LINE_MAX + 2];
	int n = snprintf(line, sizeof(line), "%s\n", cmd);
	if (write(fd, line, (size_t)n) != n) {
		fprintf(stderr, "resolverd-control: write: %s\n", strerror(errno));
		close(fd);
		return 3;
	}
	char buf[65536];
	ssize_t got;
	int rc = 0;
	bool first = true;
	while ((got = read(fd, buf, sizeof(buf))) > 0) {
		if (first && got >= 7 && strncmp(buf, "error: ", 7) == 0)
			rc = 1;
		first = false;
		fwrite(buf, 1, (size_t)got, stdout);
	}
	close(fd);
	if (first) {
		fprintf(stderr, "resolverd-control: no answer from %s\n", path);
		return 3;
	}
	return rc;
}
