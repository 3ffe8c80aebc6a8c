/*
 * privdrop.c -- chroot and the switch to the service user.
 */
#include "config.h"
#include "privdrop.h"
#include "log.h"
#include "options.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

const char *
privdrop_path(const struct options *opt, const char *path)
{
	if (!opt->chroot_dir || !*opt->chroot_dir)
		return path;
	size_t n = strlen(opt->chroot_dir);
	while (n > 1 && opt->chroot_dir[n - 1] == '/')
		n--;
	if (strncmp(path, opt->chroot_dir, n) != 0 || path[n] != '/')
		return NULL;
	return path + n;
}

int
privdrop_check(const struct options *opt, bool serving, char *err, size_t errlen)
{
	if (opt->chroot_dir && *opt->chroot_dir) {
		if (opt->chroot_dir[0] != '/') {
			snprintf(err, errlen, "chroot: '%s' is not an absolute path", opt->chroot_dir);
			return -1;
		}
		const char *files[] = { opt->database, opt->zone_file };
		for (size_t i = 0; i < 2; i++)
			if (files[i] && !privdrop_path(opt, files[i])) {
				snprintf(err, errlen, "%s is not inside chroot %s: resolverd could not read it after "
				         "the chroot", files[i], opt->chroot_dir);
				return -1;
			}
	}
	if (geteuid() != 0)
		return 0;
	if (!opt->username) {
		snprintf(err, errlen, "started as root without 'username': set username: USER (the "
		         "service's user), or username: root to keep running as root");
		if (!serving) {
			log_warn("%s", err);
			return 0;
		}
		return -1;
	}
	if (strcmp(opt->username, "root") != 0 && !getpwnam(opt->username)) {
		snprintf(err, errlen, "username: no such user '%s'", opt->username);
		return -1;
	}
	return 0;
}

int
privdrop_apply(const struct options *opt, char *err, size_t errlen)
{
	bool root = geteuid() == 0;
	struct passwd *pw = NULL;

	if (root && opt->username && strcmp(opt->username, "root") != 0) {
		pw = getpwnam(opt->username);
		if (!pw) {
			snprintf(err, errlen, "username: no such user '%s'", opt->username);
			return -1;
		}
	}
	if (opt->chroot_dir && *opt->chroot_dir) {
		if (!root) {
			snprintf(err, errlen, "chroot %s needs root to start", opt->chroot_dir);
			return -1;
		}
		if (chroot(opt->chroot_dir) != 0 || chdir("/") != 0) {
			snprintf(err, errlen, "chroot %s: %s", opt->chroot_dir, strerror(errno));
			return -1;
		}
		log_info("chroot %s", opt->chroot_dir);
	}
	if (!root) {
		struct passwd *me = getpwuid(geteuid());
		if (opt->username && (!me || strcmp(me->pw_name, opt->username) != 0))
			log_warn("username %s: not started as root, keeps running as %s", opt->username,
			         me ? me->pw_name : "this user");
		return 0;
	}
	if (!pw) {
		log_warn("username: root: resolverd keeps running as root (not recommended)");
		return 0;
	}
	if (setgroups(1, &pw->pw_gid) != 0 || setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) != 0 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) != 0) {
		snprintf(err, errlen, "cannot become %s: %s", opt->username, strerror(errno));
		return -1;
	}
	/* the drop must be for good: root must not come back */
	if (setuid(0) == 0 || geteuid() != pw->pw_uid || getegid() != pw->pw_gid) {
		snprintf(err, errlen, "dropping to %s did not hold", opt->username);
		return -1;
	}
	log_info("running as %s (uid %u, gid %u)", opt->username, (unsigned)pw->pw_uid,
	         (unsigned)pw->pw_gid);
	return 0;
}
