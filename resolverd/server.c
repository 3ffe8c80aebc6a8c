/*
 * server.c -- UDP and TCP transport.
 *
 * UDP: each readable event drains up to a batch of datagrams and answers
 * synchronous ones at once with sendto. TCP: RFC 7766 framing, several
 * queries per connection (answers may come out of order), an idle timeout,
 * a cap on connections and on queries in flight per connection.
 */
#include "config.h"
#include "server.h"
#include "addrcount.h"
#include "log.h"
#include "metrics.h"
#include "netaddr.h"
#include "options.h"
#include "query.h"
#include "resolver.h"
#include "tls.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/bufferevent_ssl.h>
#include <event2/listener.h>

#include <openssl/ssl.h>

#define UDP_BATCH 64
#define UDP_ROUNDS 4           /* batches per wake-up before other events get a turn */
#define UDP_QUERY_MAX 4096     /* bigger UDP queries are dropped (MSG_TRUNC) */
#define UDP_ANSWER_MAX 4096    /* edns-buffer-size is at most 4096 */
#define TCP_MAX_INFLIGHT 32
#define MSG_MAX 65535

struct udp_socket {
	int fd;
	struct event *ev;
	struct server *s;
	bool wildcard;        /* bound to 0.0.0.0 or ::: answers need the query's local address */
};

/* room for one IP_PKTINFO or IPV6_PKTINFO control message */
#define PKTINFO_SPACE CMSG_SPACE(sizeof(struct in6_pktinfo))

/*
 * Where an answer goes: a UDP socket and peer, or a TCP connection. Lives on
 * the stack while a query is processed; query.c asks server_hold() for a
 * copy when the answer has to wait for the upstream.
 */
struct reply_handle {
	int fd;                        /* UDP socket, or -1 for TCP */
	struct sockaddr_storage peer;
	socklen_t peerlen;
	struct tcp_conn *conn;         /* TCP; kept alive (inflight) while a copy is held */
	/* UDP on a wildcard address: the address the query came to, to answer from */
	int local_family;              /* 0: none (the socket's own address is used) */
	uint8_t local_addr[16];
	int local_ifindex;
};

struct tcp_conn {
	struct server *s;
	struct bufferevent *bev;
	struct netaddr peer;
	unsigned inflight;   /* queries handed to libunbound, not yet answered */
	bool closed;         /* the socket is gone; freed when inflight reaches 0 */
	bool answered_one;   /* a whole query has arrived: idle, not initial, timeout */
	bool output_full;    /* reading stopped until the client reads its answers */
	bool linked;         /* in s->conns */
	bool reading;        /* EV_READ enabled */
	bool tls;            /* DNS over TLS */
	bool handshaking;    /* TLS: the handshake is not done yet */
	struct tls_identity *cert;  /* TLS: the names of a verified client certificate, or NULL */
	time_t active;       /* when the last whole query arrived (or the connection) */
	/* s->conns, most recently active first: the last one is evicted first */
	struct tcp_conn *next, *prev;
};

/* Buffers of one recvmmsg/sendmmsg round. */
struct udp_batch {
	struct mmsghdr msg_in[UDP_BATCH], msg_out[UDP_BATCH];
	struct iovec iov_in[UDP_BATCH], iov_out[UDP_BATCH];
	struct sockaddr_storage peer[UDP_BATCH];
	union { char buf[PKTINFO_SPACE]; struct cmsghdr align; } ctrl_in[UDP_BATCH], ctrl_out[UDP_BATCH];
	uint8_t in[UDP_BATCH][UDP_QUERY_MAX];
	uint8_t out[UDP_BATCH][UDP_ANSWER_MAX];
};

struct server {
	struct event_base *base;
	struct resolver *r;
	const struct options *opt;
	bool reuseport;             /* one of several workers' sockets on each address */
	struct udp_socket *udp;
	size_t nudp;
	struct evconnlistener **tcp;
	size_t ntcp;
	struct evconnlistener **tls;  /* DNS over TLS listeners */
	size_t ntls;
	SSL_CTX *tls_ctx;
	unsigned handshakes;        /* TLS handshakes in progress */
	struct tcp_conn *conns, *conns_tail;
	unsigned nconns;
	struct addrcount *tcp_by_source;  /* open connections per client address */
	struct event *sweep;        /* closes connections past their timeouts, every second */
	uint8_t in[MSG_MAX];        /* TCP */
	uint8_t out[MSG_MAX + 2];
	struct udp_batch batch;
};

static void tcp_release(struct tcp_conn *c);
static void tcp_check_output(struct tcp_conn *c);
static void tcp_read_control(struct tcp_conn *c);

/* The local address a query on a wildcard socket came to (IP_PKTINFO). */
static void
pktinfo_read(struct msghdr *mh, struct reply_handle *h)
{
	h->local_family = 0;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo pi;
			memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
			h->local_family = AF_INET;
			memcpy(h->local_addr, &pi.ipi_addr, 4);
			h->local_ifindex = pi.ipi_ifindex;
		} else if (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_PKTINFO) {
			struct in6_pktinfo pi;
			memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
			h->local_family = AF_INET6;
			memcpy(h->local_addr, &pi.ipi6_addr, 16);
			h->local_ifindex = (int)pi.ipi6_ifindex;
		}
	}
}

/* Put the answer's source address into mh's control buffer (none: no control). */
static void
pktinfo_write(const struct reply_handle *h, struct msghdr *mh, void *buf)
{
	mh->msg_control = NULL;
	mh->msg_controllen = 0;
	if (h->local_family == 0)
		return;
	mh->msg_control = buf;
	mh->msg_controllen = PKTINFO_SPACE;
	struct cmsghdr *cm = CMSG_FIRSTHDR(mh);
	if (h->local_family == AF_INET) {
		struct in_pktinfo pi = { 0 };
		memcpy(&pi.ipi_spec_dst, h->local_addr, 4);
		cm->cmsg_level = IPPROTO_IP;
		cm->cmsg_type = IP_PKTINFO;
		cm->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
		mh->msg_controllen = CMSG_SPACE(sizeof(pi));
	} else {
		struct in6_pktinfo pi = { 0 };
		memcpy(&pi.ipi6_addr, h->local_addr, 16);
		pi.ipi6_ifindex = (unsigned)h->local_ifindex;
		cm->cmsg_level = IPPROTO_IPV6;
		cm->cmsg_type = IPV6_PKTINFO;
		cm->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
		mh->msg_controllen = CMSG_SPACE(sizeof(pi));
	}
}

/*
 * query_transport.hold: a copy of h for a late answer. A TCP connection
 * counts it in flight, so that it outlives its socket until the answer comes.
 */
static struct reply_handle *
server_hold(void *ctx, const struct reply_handle *h)
{
	struct reply_handle *held = malloc(sizeof(*held));

	(void)ctx;
	if (!held)
		return NULL;
	*held = *h;
	if (held->conn) {
		held->conn->inflight++;
		tcp_read_control(held->conn);
	}
	return held;
}

/* Send one answer to the client of h, now. */
static void
send_answer(const struct reply_handle *h, const uint8_t *pkt, size_t len)
{
	if (h->conn) {
		struct tcp_conn *c = h->conn;
		if (!c->closed) {
			uint8_t hdr[2] = { (uint8_t)(len >> 8), (uint8_t)len };
			bufferevent_write(c->bev, hdr, 2);
			bufferevent_write(c->bev, pkt, len);
			tcp_check_output(c);
		}
		return;
	}
	union { char buf[PKTINFO_SPACE]; struct cmsghdr align; } ctrl;
	struct iovec iov = { (void *)pkt, len };
	struct msghdr mh = { .msg_name = (void *)&h->peer, .msg_namelen = h->peerlen,
	                     .msg_iov = &iov, .msg_iovlen = 1 };
	pktinfo_write(h, &mh, ctrl.buf);
	if (sendmsg(h->fd, &mh, 0) < 0)
		log_debug("udp sendmsg: %s", strerror(errno));
}

/* query_transport.reply: send a late answer (len > 0) and let go of held. */
static void
server_reply(void *ctx, struct reply_handle *held, const uint8_t *pkt, size_t len)
{
	(void)ctx;
	if (len > 0)
		send_answer(held, pkt, len);
	if (held->conn) {
		struct tcp_conn *c = held->conn;
		c->inflight--;
		if (!c->closed)
			tcp_read_control(c);
		tcp_release(c);
	}
	free(held);
}

/*
 * Drain a UDP socket in batches: one recvmmsg for up to UDP_BATCH queries,
 * one sendmmsg for the answers made at once. The system calls, not the
 * answering, are most of the cost of a cached or policy answer.
 */
static void
udp_read(evutil_socket_t fd, short what, void *arg)
{
	struct udp_socket *u = arg;
	struct server *s = u->s;
	struct udp_batch *b = &s->batch;
	struct netaddr src;

	(void)what;
	for (int round = 0; round < UDP_ROUNDS; round++) {
		int n = recvmmsg(fd, b->msg_in, UDP_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0) {
			if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				log_warn("udp recvmmsg: %s", strerror(errno));
			return;
		}
		unsigned nout = 0;
		for (int i = 0; i < n; i++) {
			struct msghdr *mh = &b->msg_in[i].msg_hdr;
			if (netaddr_from_sockaddr((struct sockaddr *)&b->peer[i], &src) != 0)
				continue;
			if (mh->msg_flags & MSG_TRUNC) {
				s->r->stats.dropped++; /* a query bigger than any real one */
				continue;
			}
			struct reply_handle h = { .fd = fd, .peerlen = mh->msg_namelen, .conn = NULL };
			memcpy(&h.peer, &b->peer[i], mh->msg_namelen);
			if (u->wildcard)
				pktinfo_read(mh, &h);
			size_t outlen = 0;
			if (query_process(s->r, b->in[i], b->msg_in[i].msg_len, &src, false, &h,
			                  b->out[nout], UDP_ANSWER_MAX, &outlen) != QUERY_ANSWERED)
				continue;
			b->iov_out[nout] = (struct iovec){ b->out[nout], outlen };
			b->msg_out[nout].msg_hdr = (struct msghdr){ .msg_name = &b->peer[i],
			                                             .msg_namelen = mh->msg_namelen,
			                                             .msg_iov = &b->iov_out[nout],
			                                             .msg_iovlen = 1 };
			pktinfo_write(&h, &b->msg_out[nout].msg_hdr, b->ctrl_out[nout].buf);
			nout++;
		}
		/* the kernel wrote the peers' address and control lengths: make room again */
		for (int i = 0; i < n; i++) {
			b->msg_in[i].msg_hdr.msg_namelen = sizeof(b->peer[i]);
			b->msg_in[i].msg_hdr.msg_controllen = sizeof(b->ctrl_in[i]);
		}
		for (unsigned sent = 0; sent < nout;) {
			int m = sendmmsg(fd, b->msg_out + sent, nout - sent, MSG_DONTWAIT);
			if (m <= 0) {
				log_debug("udp sendmmsg: %s", strerror(errno));
				break; /* the socket buffer is full: these answers are lost, like a drop */
			}
			sent += (unsigned)m;
		}
		if (n < UDP_BATCH)
			return;
	}
}

/* Take c out of the activity list (nothing when it is not in it). */
static void
tcp_unlink(struct tcp_conn *c)
{
	struct server *s = c->s;

	if (!c->linked)
		return;
	c->linked = false;
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		s->conns_tail = c->prev;
	c->next = c->prev = NULL;
}

/* Put c first in the activity list: it just did something useful. */
static void
tcp_touch(struct tcp_conn *c)
{
	struct server *s = c->s;

	c->active = time(NULL);
	if (s->conns == c)
		return;
	tcp_unlink(c);
	c->linked = true;
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	if (!s->conns_tail)
		s->conns_tail = c;
}

/*
 * Read from c only while it has room: fewer than TCP_MAX_INFLIGHT queries
 * waiting for the upstream, and its unread answers under
 * tcp-max-pending-output (a client that does not read stops being read).
 */
static void
tcp_read_control(struct tcp_conn *c)
{
	bool want = c->inflight < TCP_MAX_INFLIGHT && !c->output_full;

	if (want == c->reading)
		return;
	c->reading = want;
	if (!want) {
		bufferevent_disable(c->bev, EV_READ);
		return;
	}
	bufferevent_enable(c->bev, EV_READ);
	/* queries that arrived while reading was off are in the buffer already:
	 * libevent calls back only for new bytes, so ask for the call (deferred,
	 * never from inside tcp_read) */
	if (evbuffer_get_length(bufferevent_get_input(c->bev)) > 0)
		bufferevent_trigger(c->bev, EV_READ, BEV_TRIG_DEFER_CALLBACKS);
}

/* After an answer is queued: too much unread output stops reading. */
static void
tcp_check_output(struct tcp_conn *c)
{
	size_t max = (size_t)c->s->opt->tcp_max_pending_output;

	if (!c->output_full && evbuffer_get_length(bufferevent_get_output(c->bev)) > max) {
		c->output_full = true;
		tcp_read_control(c);
	}
}

/* The client read its answers down to half the limit: read from it again. */
static void
tcp_write(struct bufferevent *bev, void *arg)
{
	struct tcp_conn *c = arg;

	(void)bev;
	if (c->output_full) {
		c->output_full = false;
		tcp_read_control(c);
	}
}

static void
tcp_close(struct tcp_conn *c)
{
	struct server *s = c->s;

	if (c->closed)
		return;
	c->closed = true;
	if (c->handshaking) {
		c->handshaking = false;
		s->handshakes--;
	}
	if (c->tls) {
		/* a quiet shutdown: no close_notify to wait for on a connection being dropped */
		SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
		if (ssl)
			SSL_set_quiet_shutdown(ssl, 1);
	}
	bufferevent_free(c->bev);
	c->bev = NULL;
	tcp_unlink(c);
	addrcount_dec(s->tcp_by_source, &c->peer);
	s->nconns--;
	metrics_tcp_connections(s->r->metrics, s->nconns);
	tcp_release(c);
}

/* Free a closed connection once no answer refers to it. */
static void
tcp_release(struct tcp_conn *c)
{
	if (c->closed && c->inflight == 0) {
		free(c->cert);
		free(c);
	}
}

static void
tcp_read(struct bufferevent *bev, void *arg)
{
	struct tcp_conn *c = arg;
	struct server *s = c->s;
	struct evbuffer *in = bufferevent_get_input(bev);

	while (!c->closed && c->inflight < TCP_MAX_INFLIGHT && !c->output_full) {
		uint8_t hdr[2];
		if (evbuffer_copyout(in, hdr, 2) < 2)
			return;
		size_t mlen = (size_t)hdr[0] << 8 | hdr[1];
		if (evbuffer_get_length(in) < 2 + mlen)
			return;
		evbuffer_drain(in, 2);
		evbuffer_remove(in, s->in, mlen);
		c->answered_one = true;
		tcp_touch(c);
		struct reply_handle h = { .fd = -1, .conn = c };
		size_t outlen = 0;
		switch (query_process_as(s->r, s->in, mlen, &c->peer, c->cert, true, &h, s->out + 2,
		                         sizeof(s->out) - 2, &outlen)) {
		case QUERY_ANSWERED:
			send_answer(&h, s->out + 2, outlen);
			break;
		case QUERY_DROP:
			/* a stream cannot skip a bad message cleanly: close it */
			tcp_close(c);
			return;
		case QUERY_PENDING:
			break; /* server_hold() counted it in flight */
		}
	}
}

static void
tcp_event(struct bufferevent *bev, short what, void *arg)
{
	struct tcp_conn *c = arg;

	if ((what & BEV_EVENT_CONNECTED) && c->handshaking) {
		/* TLS handshake done: who the client's certificate speaks for */
		c->handshaking = false;
		c->s->handshakes--;
		SSL *ssl = bufferevent_openssl_get_ssl(bev);
		struct tls_identity id;
		if (ssl && tls_certificate_identity(ssl, &id) && (c->cert = malloc(sizeof(id))))
			*c->cert = id;
		return;
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
		if (c->tls && (what & BEV_EVENT_ERROR))
			log_debug("tls: %s: %s", netaddr_format_addr(&c->peer, (char[64]){ 0 }, 64),
			          c->handshaking ? "handshake failed" : "error");
		tcp_close(c);
	}
}

/*
 * A new stream connection, plain TCP or (ssl not NULL) TLS: counted per
 * address, admitted by evicting the quietest when the table is full.
 */
static void
conn_accept(struct server *s, evutil_socket_t fd, struct sockaddr *sa, SSL *ssl)
{
	struct tcp_conn *c;

	c = calloc(1, sizeof(*c));
	if (!c || netaddr_from_sockaddr(sa, &c->peer) != 0) {
		free(c);
		close(fd);
		return;
	}
	unsigned from_peer = addrcount_inc(s->tcp_by_source, &c->peer);
	if (from_peer == 0 || from_peer > (unsigned)s->opt->tcp_max_per_source) {
		if (from_peer)
			addrcount_dec(s->tcp_by_source, &c->peer);
		log_debug("tcp: %s has tcp-max-per-source (%d) connections, closing a new one",
		          netaddr_format_addr(&c->peer, (char[64]){ 0 }, 64), s->opt->tcp_max_per_source);
		s->r->stats.tcp_refused++;
		free(c);
		close(fd);
		if (ssl)
			SSL_free(ssl);
		return;
	}
	if (s->nconns >= (unsigned)s->opt->tcp_max_connections && s->conns_tail) {
		/*
		 * A full table never stops accepting: the connection that has been
		 * quiet longest (idle, or too slow to send a whole query) makes
		 * room (RFC 7766 6.2.3).
		 */
		s->r->stats.tcp_evicted++;
		tcp_close(s->conns_tail);
	}
	c->s = s;
	if (ssl) {
		c->bev = bufferevent_openssl_socket_new(s->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
		                                        BEV_OPT_CLOSE_ON_FREE);
		c->tls = c->handshaking = c->bev != NULL;
	} else {
		c->bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
	}
	if (!c->bev) {
		addrcount_dec(s->tcp_by_source, &c->peer);
		if (ssl)
			SSL_free(ssl);
		free(c);
		close(fd);
		return;
	}
	if (c->handshaking)
		s->handshakes++;
	/* a client that does not read its answers is closed after the idle timeout */
	struct timeval idle = { s->opt->tcp_idle_timeout, 0 };
	bufferevent_set_timeouts(c->bev, NULL, &idle);
	bufferevent_setwatermark(c->bev, EV_WRITE, (size_t)s->opt->tcp_max_pending_output / 2, 0);
	bufferevent_setcb(c->bev, tcp_read, tcp_write, tcp_event, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	c->reading = true;
	s->nconns++;
	metrics_tcp_connections(s->r->metrics, s->nconns);
	tcp_touch(c);
}

/*
 * Every second: close connections that sent no whole query in time,
 * tcp-initial-timeout after they opened, tcp-idle-timeout after their last
 * query. A connection waiting for the upstream is not idle: its queries get
 * SERVFAIL after recursion-timeout instead (query.c).
 */
static void
tcp_sweep(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;
	time_t now = time(NULL);
	struct tcp_conn *c = s->conns_tail, *prev;

	(void)fd;
	(void)what;
	for (; c; c = prev) {
		prev = c->prev;
		if (c->inflight > 0)
			continue;
		time_t limit = c->answered_one ? s->opt->tcp_idle_timeout : s->opt->tcp_initial_timeout;
		if (now - c->active >= limit)
			tcp_close(c);
	}
}

static void
tcp_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
	(void)l;
	(void)salen;
	conn_accept(arg, fd, sa, NULL);
}

/* A DNS over TLS connection: at most tls-max-handshakes in progress at once. */
static void
tls_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
	struct server *s = arg;
	SSL *ssl;

	(void)l;
	(void)salen;
	if (s->handshakes >= (unsigned)s->opt->tls_max_handshakes || !(ssl = SSL_new(s->tls_ctx))) {
		s->r->stats.tcp_refused++;
		close(fd);
		return;
	}
	conn_accept(s, fd, sa, ssl);
}

/*
 * Whether another process has la (type SOCK_DGRAM or SOCK_STREAM): bind a
 * socket without SO_REUSEPORT, and for UDP without SO_REUSEADDR, which
 * would let two processes share the address. 0 free, -1 with err set.
 */
static int
probe_free(const struct listen_addr *la, int type, char *err, size_t errlen)
{
	int one = 1, fd = socket(la->addr.ss_family, type | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		snprintf(err, errlen, "%s %s: %s", type == SOCK_DGRAM ? "udp" : "tcp", la->text, strerror(errno));
		return -1;
	}
	if (type == SOCK_STREAM)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)); /* TIME_WAIT of our last run */
	if (la->addr.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	int rc = bind(fd, (const struct sockaddr *)&la->addr, la->addrlen);
	int e = errno;
	close(fd);
	if (rc != 0) {
		snprintf(err, errlen, "listen: %s %s: %s%s", type == SOCK_DGRAM ? "udp" : "tcp", la->text, strerror(e),
		         e == EADDRINUSE ? " (another process listens there)" : "");
		return -1;
	}
	return 0;
}

int
server_addresses_free(const struct options *opt, char *err, size_t errlen)
{
	for (size_t i = 0; i < opt->nlisten; i++)
		if (probe_free(&opt->listen[i], SOCK_DGRAM, err, errlen) != 0 ||
		    probe_free(&opt->listen[i], SOCK_STREAM, err, errlen) != 0)
			return -1;
	for (size_t i = 0; i < opt->ntls_listen; i++)
		if (probe_free(&opt->tls_listen[i], SOCK_STREAM, err, errlen) != 0)
			return -1;
	return 0;
}

static int
open_udp(struct server *s, const struct listen_addr *la, char *err, size_t errlen)
{
	int one = 1;
	int fd = socket(la->addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (s->reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0)
		goto fail;
	if (la->addr.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	bool wildcard = la->addr.ss_family == AF_INET
	                    ? ((const struct sockaddr_in *)&la->addr)->sin_addr.s_addr == htonl(INADDR_ANY)
	                    : IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)&la->addr)->sin6_addr);
	/* on a wildcard address, answer from the address each query came to */
	if (wildcard && (la->addr.ss_family == AF_INET
	                     ? setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one))
	                     : setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one))) != 0)
		goto fail;
	if (bind(fd, (const struct sockaddr *)&la->addr, la->addrlen) != 0)
		goto fail;
	struct udp_socket *nu = realloc(s->udp, (s->nudp + 1) * sizeof(*nu));
	if (!nu)
		goto fail;
	s->udp = nu;
	struct udp_socket *u = &s->udp[s->nudp];
	u->fd = fd;
	u->s = s;
	u->ev = NULL;
	u->wildcard = wildcard;
	s->nudp++;
	return 0;
fail:
	snprintf(err, errlen, "udp %s: %s", la->text, strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

static int
open_stream(struct server *s, const struct listen_addr *la, bool tls, char *err, size_t errlen)
{
	int one = 1;
	int fd = socket(la->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (s->reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0)
		goto fail;
	if (la->addr.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&la->addr, la->addrlen) != 0 || listen(fd, 128) != 0)
		goto fail;
	struct evconnlistener ***list = tls ? &s->tls : &s->tcp;
	size_t *n = tls ? &s->ntls : &s->ntcp;
	struct evconnlistener **nt = realloc(*list, (*n + 1) * sizeof(*nt));
	if (!nt)
		goto fail;
	*list = nt;
	nt[*n] = evconnlistener_new(s->base, tls ? tls_accept : tcp_accept, s, LEV_OPT_CLOSE_ON_FREE,
	                            -1, fd);
	if (!nt[*n])
		goto fail;
	(*n)++;
	return 0;
fail:
	snprintf(err, errlen, "%s %s: %s", tls ? "tls" : "tcp", la->text, strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

struct server *
server_new(struct event_base *base, struct resolver *r, const struct options *opt, bool reuseport,
           char *err, size_t errlen)
{
	struct server *s = calloc(1, sizeof(*s));

	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->base = base;
	s->r = r;
	s->opt = opt;
	s->reuseport = reuseport;
	r->transport = (struct query_transport){ server_hold, server_reply, s };
	for (int i = 0; i < UDP_BATCH; i++) {
		struct udp_batch *b = &s->batch;
		b->iov_in[i] = (struct iovec){ b->in[i], UDP_QUERY_MAX };
		b->msg_in[i].msg_hdr = (struct msghdr){ .msg_name = &b->peer[i],
		                                         .msg_namelen = sizeof(b->peer[i]),
		                                         .msg_iov = &b->iov_in[i],
		                                         .msg_iovlen = 1,
		                                         .msg_control = b->ctrl_in[i].buf,
		                                         .msg_controllen = sizeof(b->ctrl_in[i]) };
	}
	for (size_t i = 0; i < opt->nlisten; i++)
		if (open_udp(s, &opt->listen[i], err, errlen) != 0 ||
		    open_stream(s, &opt->listen[i], false, err, errlen) != 0)
			goto fail;
	if (opt->ntls_listen) {
		s->tls_ctx = tls_server_context(opt, err, errlen);
		if (!s->tls_ctx)
			goto fail;
	}
	for (size_t i = 0; i < opt->ntls_listen; i++)
		if (open_stream(s, &opt->tls_listen[i], true, err, errlen) != 0)
			goto fail;
	/* the table is full with one more than the connection cap (the one being admitted) */
	s->tcp_by_source = addrcount_new((size_t)opt->tcp_max_connections + 1);
	if (!s->tcp_by_source) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	s->sweep = event_new(base, -1, EV_PERSIST, tcp_sweep, s);
	struct timeval second = { 1, 0 };
	if (!s->sweep || event_add(s->sweep, &second) != 0) {
		snprintf(err, errlen, "cannot register the tcp timer");
		goto fail;
	}
	/* register the UDP events once the array stops moving */
	for (size_t i = 0; i < s->nudp; i++) {
		s->udp[i].ev = event_new(base, s->udp[i].fd, EV_READ | EV_PERSIST, udp_read, &s->udp[i]);
		if (!s->udp[i].ev || event_add(s->udp[i].ev, NULL) != 0) {
			snprintf(err, errlen, "cannot register udp socket");
			goto fail;
		}
	}
	return s;
fail:
	server_free(s);
	return NULL;
}

void
server_free(struct server *s)
{
	if (!s)
		return;
	while (s->conns)
		tcp_close(s->conns);
	if (s->sweep)
		event_free(s->sweep);
	addrcount_free(s->tcp_by_source);
	for (size_t i = 0; i < s->nudp; i++) {
		if (s->udp[i].ev)
			event_free(s->udp[i].ev);
		close(s->udp[i].fd);
	}
	free(s->udp);
	for (size_t i = 0; i < s->ntcp; i++)
		evconnlistener_free(s->tcp[i]);
	free(s->tcp);
	for (size_t i = 0; i < s->ntls; i++)
		evconnlistener_free(s->tls[i]);
	free(s->tls);
	SSL_CTX_free(s->tls_ctx);
	free(s);
}
