/*
 * sink.c -- the listener sink (sink-mode listener).
 *
 * Bounded: at most SINK_MAX_CONNS streams at once and SINK_MAX_PER_SOURCE
 * from one address, SINK_READ_LIMIT bytes read per stream (the header is
 * looked for as text, never parsed as XML: no entity is ever expanded),
 * SINK_TIMEOUT seconds per stream; garbage is answered with the same stream
 * error or closed. A full table closes its oldest stream to admit a new
 * one: clients that trickle a byte a second cannot keep a real server from
 * its policy-violation.
 */
#include "config.h"
#include "sink.h"
#include "addrcount.h"
#include "log.h"
#include "netaddr.h"
#include "options.h"
#include "policy.h"
#include "resolver.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#define SINK_MAX_CONNS 128
#define SINK_MAX_PER_SOURCE 8
#define SINK_READ_LIMIT 4096
#define SINK_TIMEOUT 5

struct sink {
	struct event_base *base;
	struct policy *const *policy;  /* main's current snapshot, read on main's loop */
	struct evconnlistener **listeners;
	size_t nlisteners;
	unsigned nconns;
	struct sink_conn *oldest, *newest;
	struct addrcount *by_source;
};

struct sink_conn {
	struct sink *s;
	struct bufferevent *bev;
	struct netaddr peer;
	bool answered;
	struct sink_conn *older, *newer;
};

/* Copy an attribute value of the stream header, keeping only name characters. */
static void
header_attr(const char *header, size_t len, const char *attr, char *out, size_t outlen)
{
	size_t alen = strlen(attr);

	out[0] = '\0';
	for (size_t i = 0; i + alen + 2 < len; i++) {
		if ((i > 0 && header[i - 1] != ' ' && header[i - 1] != '\t' && header[i - 1] != '\n' &&
		     header[i - 1] != '\r') ||
		    strncmp(header + i, attr, alen) != 0 || header[i + alen] != '=')
			continue;
		char quote = header[i + alen + 1];
		if (quote != '\'' && quote != '"')
			continue;
		size_t o = 0;
		for (size_t k = i + alen + 2; k < len && header[k] != quote && o + 1 < outlen; k++) {
			char c = header[k];
			/* domain names only: nothing that could break out of the XML we write */
			if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			    c == '.' || c == '-' || c == '_')
				out[o++] = c;
		}
		out[o] = '\0';
		return;
	}
}

size_t
sink_stream_error(const char *header, size_t len, const char *requester, char *out, size_t outlen)
{
	char to[256], from[256];
	int n;

	header_attr(header, len, "to", to, sizeof(to));
	header_attr(header, len, "from", from, sizeof(from));
	if (!requester || !*requester)
		requester = from[0] ? from : "an unidentified server";
	/* RFC 6120 4.9.1.1: an error at stream set-up still opens our stream first */
	n = snprintf(out, outlen,
	             "<?xml version='1.0'?>"
	             "<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams'"
	             " version='1.0'%s%s%s id='clearinghouse-sink'>"
	             "<stream:error>"
	             "<policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
	             "<text xmlns='urn:ietf:params:xml:ns:xmpp-streams' xml:lang='en'>"
	             "Federation from %s to %s is denied by the federation clearinghouse policy."
	             "</text></stream:error></stream:stream>",
	             to[0] ? " from='" : "", to, to[0] ? "'" : "", requester,
	             to[0] ? to : "this domain");
	if (n < 0)
		n = 0;
	return (size_t)n < outlen ? (size_t)n : outlen - 1;
}

static void
sink_close(struct bufferevent *bev, struct sink_conn *c)
{
	struct sink *s = c->s;

	if (c->older)
		c->older->newer = c->newer;
	else
		s->oldest = c->newer;
	if (c->newer)
		c->newer->older = c->older;
	else
		s->newest = c->older;
	addrcount_dec(s->by_source, &c->peer);
	s->nconns--;
	bufferevent_free(bev);
	free(c);
}

/* Once the answer is written, close. */
static void
sink_written(struct bufferevent *bev, void *arg)
{
	struct sink_conn *c = arg;

	if (c->answered)
		sink_close(bev, c);
}

static void
sink_read(struct bufferevent *bev, void *arg)
{
	struct sink_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char header[SINK_READ_LIMIT + 1], reply[2048];
	size_t len = evbuffer_get_length(in);

	if (c->answered) {
		evbuffer_drain(in, len);
		return;
	}
	if (len > SINK_READ_LIMIT)
		len = SINK_READ_LIMIT;
	evbuffer_copyout(in, header, len);
	header[len] = '\0';
	char *start = strstr(header, "<stream:stream");
	char *end = start ? strchr(start, '>') : NULL;
	bool garbage = len > 0 && header[0] != '<' && header[0] != ' ' && header[0] != '\n' &&
	               header[0] != '\r' && header[0] != '\t' && header[0] != '\xef';
	if (!end && !garbage && evbuffer_get_length(in) < SINK_READ_LIMIT)
		return; /* wait for the rest of the header */
	const struct policy *pol = *c->s->policy;
	uint32_t requester = policy_identify(pol, &c->peer);
	char addr[64];
	size_t n = sink_stream_error(start ? start : "", end ? (size_t)(end - start) : 0,
	                             requester != POLICY_NONE ? pol->domains[requester].name : NULL,
	                             reply, sizeof(reply));
	log_info("sink: stream from %s (%s) closed with policy-violation",
	         netaddr_format_addr(&c->peer, addr, sizeof(addr)),
	         requester != POLICY_NONE ? pol->domains[requester].name : "unidentified");
	evbuffer_drain(in, evbuffer_get_length(in));
	c->answered = true;
	bufferevent_write(bev, reply, n);
}

static void
sink_event(struct bufferevent *bev, short what, void *arg)
{
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
		sink_close(bev, arg);
}

static void
sink_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
	struct sink *s = arg;
	struct sink_conn *c;

	(void)l;
	(void)salen;
	if (!(c = calloc(1, sizeof(*c))) || netaddr_from_sockaddr(sa, &c->peer) != 0) {
		free(c);
		close(fd);
		return;
	}
	unsigned from_peer = addrcount_inc(s->by_source, &c->peer);
	if (from_peer == 0 || from_peer > SINK_MAX_PER_SOURCE) {
		if (from_peer)
			addrcount_dec(s->by_source, &c->peer);
		free(c);
		close(fd);
		return;
	}
	struct bufferevent *bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!bev) {
		addrcount_dec(s->by_source, &c->peer);
		close(fd);
		free(c);
		return;
	}
	if (s->nconns >= SINK_MAX_CONNS)
		sink_close(s->oldest->bev, s->oldest); /* the oldest makes room */
	c->s = s;
	c->bev = bev;
	c->older = s->newest;
	if (s->newest)
		s->newest->newer = c;
	else
		s->oldest = c;
	s->newest = c;
	s->nconns++;
	struct timeval tv = { SINK_TIMEOUT, 0 };
	bufferevent_set_timeouts(bev, &tv, &tv);
	bufferevent_setwatermark(bev, EV_READ, 0, SINK_READ_LIMIT);
	bufferevent_setcb(bev, sink_read, sink_written, sink_event, c);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

struct sink *
sink_new(struct event_base *base, struct policy *const *policy, const struct options *opt,
         char *err, size_t errlen)
{
	struct sink *s = calloc(1, sizeof(*s));

	if (!s || !(s->listeners = calloc(opt->nsink_listen + 1, sizeof(*s->listeners)))) {
		free(s);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->base = base;
	s->policy = policy;
	s->by_source = addrcount_new(SINK_MAX_CONNS + 1);
	if (!s->by_source) {
		snprintf(err, errlen, "out of memory");
		sink_free(s);
		return NULL;
	}
	for (size_t i = 0; i < opt->nsink_listen; i++) {
		const struct listen_addr *la = &opt->sink_listen[i];
		s->listeners[i] = evconnlistener_new_bind(
		    base, sink_accept, s, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
		    64, (const struct sockaddr *)&la->addr, (int)la->addrlen);
		if (!s->listeners[i]) {
			snprintf(err, errlen, "sink-listen %s: %s", la->text, strerror(errno));
			sink_free(s);
			return NULL;
		}
		s->nlisteners++;
		log_info("sink listener on %s", la->text);
	}
	return s;
}

void
sink_free(struct sink *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nlisteners; i++)
		evconnlistener_free(s->listeners[i]);
	while (s->oldest)
		sink_close(s->oldest->bev, s->oldest);
	addrcount_free(s->by_source);
	free(s->listeners);
	free(s);
}
