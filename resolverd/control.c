/*
 * control.c -- the control socket: one command per connection, answered,
 * then closed. Bounded: a command line of at most CONTROL_LINE_MAX bytes,
 * CONTROL_TIMEOUT seconds, CONTROL_MAX_CONNS connections.
 */
#include "config.h"
#include "control.h"
#include "log.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#define CONTROL_TIMEOUT 5
#define CONTROL_MAX_CONNS 16

struct control {
	struct evconnlistener *listener;
	char *path;
	control_fn fn;
	void *arg;
	unsigned nconns;
	struct control_conn *conns;
};

struct control_conn {
	struct control *c;
	struct bufferevent *bev;
	bool answered;
	struct control_conn *next, *prev;
};

static void
conn_close(struct bufferevent *bev, struct control_conn *cc)
{
	struct control *c = cc->c;

	if (cc->prev)
		cc->prev->next = cc->next;
	else
		c->conns = cc->next;
	if (cc->next)
		cc->next->prev = cc->prev;
	c->nconns--;
	bufferevent_free(bev);
	free(cc);
}

static void
conn_written(struct bufferevent *bev, void *arg)
{
	struct control_conn *cc = arg;

	if (cc->answered && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		conn_close(bev, cc);
}

static void
conn_read(struct bufferevent *bev, void *arg)
{
	struct control_conn *cc = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t len;

	if (cc->answered)
		return;
	char *line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF);
	struct evbuffer *out = bufferevent_get_output(bev);
	if (!line) {
		if (evbuffer_get_length(in) <= CONTROL_LINE_MAX)
			return; /* the rest of the line is on its way */
		evbuffer_add_printf(out, "error: command line longer than %d bytes\n", CONTROL_LINE_MAX);
	} else if (len > CONTROL_LINE_MAX) {
		evbuffer_add_printf(out, "error: command line longer than %d bytes\n", CONTROL_LINE_MAX);
	} else {
		log_info("control: %s", line);
		cc->c->fn(line, out, cc->c->arg);
	}
	free(line);
	cc->answered = true;
	bufferevent_disable(bev, EV_READ);
	conn_written(bev, cc); /* an empty answer closes at once */
}

static void
conn_event(struct bufferevent *bev, short what, void *arg)
{
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
		conn_close(bev, arg);
}

static void
control_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
               void *arg)
{
	struct control *c = arg;
	struct control_conn *cc;

	(void)sa;
	(void)salen;
	if (c->nconns >= CONTROL_MAX_CONNS || !(cc = calloc(1, sizeof(*cc)))) {
		close(fd);
		return;
	}
	struct bufferevent *bev = bufferevent_socket_new(evconnlistener_get_base(l), fd,
	                                                 BEV_OPT_CLOSE_ON_FREE);
	if (!bev) {
		free(cc);
		close(fd);
		return;
	}
	cc->c = c;
	cc->bev = bev;
	cc->next = c->conns;
	if (c->conns)
		c->conns->prev = cc;
	c->conns = cc;
	c->nconns++;
	struct timeval tv = { CONTROL_TIMEOUT, 0 };
	bufferevent_set_timeouts(bev, &tv, &tv);
	bufferevent_setcb(bev, conn_read, conn_written, conn_event, cc);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

struct control *
control_new(struct event_base *base, const char *path, gid_t group, control_fn fn, void *arg,
            char *err, size_t errlen)
{
	struct sockaddr_un sun;
	struct stat st;
	struct control *c = NULL;
	int fd = -1;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "control-socket %s: path too long", path);
		return NULL;
	}
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "control-socket %s: exists and is not a socket", path);
			return NULL;
		}
		unlink(path); /* left by a resolverd that did not stop cleanly */
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	/* no moment where others could connect: the file is made with mode 0660 */
	mode_t old = umask(0117);
	int rc = fd < 0 ? -1 : bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (rc != 0 || listen(fd, 16) != 0) {
		snprintf(err, errlen, "control-socket %s: %s", path, strerror(errno));
		goto fail;
	}
	if (group != (gid_t)-1 && chown(path, (uid_t)-1, group) != 0) {
		snprintf(err, errlen, "control-socket %s: chown: %s", path, strerror(errno));
		goto fail;
	}
	c = calloc(1, sizeof(*c));
	if (!c || !(c->path = strdup(path))) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	c->fn = fn;
	c->arg = arg;
	c->listener = evconnlistener_new(base, control_accept, c, LEV_OPT_CLOSE_ON_FREE, -1, fd);
	if (!c->listener) {
		snprintf(err, errlen, "control-socket %s: cannot listen", path);
		goto fail;
	}
	log_info("control socket %s", path);
	return c;
fail:
	if (c && c->listener)
		evconnlistener_free(c->listener);
	else if (fd >= 0)
		close(fd);
	if (c)
		free(c->path);
	free(c);
	unlink(path);
	return NULL;
}

void
control_free(struct control *c)
{
	if (!c)
		return;
	while (c->conns)
		conn_close(c->conns->bev, c->conns);
	evconnlistener_free(c->listener);
	/* after a drop to another user this may fail: the next start replaces it */
	if (unlink(c->path) != 0 && errno != ENOENT)
		log_debug("control socket %s: %s", c->path, strerror(errno));
	free(c->path);
	free(c);
}
