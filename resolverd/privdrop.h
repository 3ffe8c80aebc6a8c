/*
 * privdrop.h -- least privilege once start-up is done, as NSD and Unbound
 * do: everything that needs root (sockets on port 53, the zone, the first
 * policy load, the control socket) is opened first, then the process
 * chroots (`chroot: DIR`, optional) and becomes `username: USER` for good.
 */
#ifndef PRIVDROP_H
#define PRIVDROP_H

#include <stdbool.h>
#include <stddef.h>

struct options;

/**
 * Check before anything is opened that the drop will be possible: started
 * as root to serve, a `username` must be set (`username: root` keeps root,
 * with a warning at the drop; without serving, `resolverd -t`, its absence
 * is only warned about) and must exist; with `chroot`, the database and the
 * zone file must lie inside it. Returns 0, or -1 with a one-line message in
 * err (errlen bytes). Main thread.
 */
int privdrop_check(const struct options *opt, bool serving, char *err, size_t errlen);

/**
 * chroot() to opt->chroot_dir (when set), then setgroups/setresgid/
 * setresuid to opt->username, and verify root cannot be regained. Call
 * before any thread is started. Started as another user than root:
 * nothing to drop (a `username` other than the current one is warned
 * about). Returns 0, or -1 with a message in err: a failed drop stops the
 * daemon, it never runs on with more rights than configured.
 */
int privdrop_apply(const struct options *opt, char *err, size_t errlen);

/**
 * path as the daemon sees it after privdrop_apply(): with a chroot, the
 * part below the chroot directory (a pointer into path, starting with
 * '/'); without one, path itself. Returns NULL when path is not inside the
 * chroot.
 */
const char *privdrop_path(const struct options *opt, const char *path);

#endif
