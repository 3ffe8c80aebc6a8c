/*
 * control.h -- the control socket (`control-socket: PATH`): a local unix
 * stream socket where `resolverd-control` sends one command line and reads
 * the answer until the connection closes.
 *
 * Commands: status, stats, reload, flush (see resolverd-control(8)). The
 * socket file is created mode 0660, owned by root and the group of
 * `username`, so only root and the service's group can use it; it is
 * created before the privilege drop and removed at exit.
 */
#ifndef CONTROL_H
#define CONTROL_H

#include <stddef.h>
#include <sys/types.h>

struct event_base;
struct evbuffer;

/** The longest command line accepted; a longer one is refused. */
#define CONTROL_LINE_MAX 256

/**
 * Run one command (the line without its newline) and append the answer to
 * out. Returns 0 when the command succeeded, -1 when it failed or is
 * unknown (the answer then starts with "error: "). Loop thread.
 */
typedef int (*control_fn)(const char *command, struct evbuffer *out, void *arg);

struct control;

/**
 * Listen on path (an existing socket file there is replaced; a non-socket
 * is refused) on base; group: the socket file's group ((gid_t)-1: keep the
 * creator's). fn(…, arg) answers each command. Returns the control or NULL
 * with a message in err.
 */
struct control *control_new(struct event_base *base, const char *path, gid_t group, control_fn fn,
                            void *arg, char *err, size_t errlen);

/** Close every connection, stop listening and remove the socket file. NULL is ignored. */
void control_free(struct control *c);

#endif
