/*
 * fuzz_tcp_frames.c -- the TCP framing reader of server.c (RFC 7766: a
 * two-byte length before each message), reached through the public API
 * only: server_new() listens on 127.0.0.1 (a port the kernel picks, found
 * again with getsockname), and each input is sent over a real loopback
 * connection while the libevent loop runs in this thread.
 *
 * The upstream is a fake (r.lookup) that records lookups; they are answered
 * (with a small answer, or a failure) either while the client is still
 * connected or after it has gone, so that both the answer to a live
 * connection and the release of a closed one with queries in flight run.
 *
 * Input:
 *   byte 0      bits 0-1 the client's source address (identified,
 *               identified, in the recursion ACL, unknown); bits 2-4 how
 *               the stream is cut into writes (whole, or pieces of 1, 2,
 *               3, 5, 13, 64, 512 bytes, the loop running between them);
 *               bit 5 lookups answered before the client closes; bit 6
 *               they fail; bit 7 the client half-closes (FIN) before
 *               reading, else it resets at the end
 *   the rest    the byte stream the client sends
 *
 * Checks (abort() when broken): what the server sends back is whole frames
 * only, each a DNS response (QR, at least a header) with the id of a query
 * that was sent, and never more answers than whole queries were sent.
 */
#include "config.h"
#include "fuzz.h"
#include "dname.h"
#include "log.h"
#include "netaddr.h"
#include "options.h"
#include "policy.h"
#include "query.h"
#include "resolver.h"
#include "server.h"
#include "zone.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <ldns/ldns.h>


#define FAIL(...) fuzz_fail("fuzz_tcp_frames", __VA_ARGS__)

static struct options opt;
static struct listen_addr la;
static struct netaddr acl;
static struct resolver r;
static struct event_base *base;
static struct server *server;
static struct sockaddr_in server_addr;

#define MAX_LOOKUPS 64
static struct upstream_lookup *lookups[MAX_LOOKUPS];
static uint8_t lookup_names[MAX_LOOKUPS][DNAME_MAXLEN];
static uint16_t lookup_types[MAX_LOOKUPS];
static size_t nlookups;
static bool lookups_fail;

static int
fake_lookup(void *ctx, const uint8_t *qname, uint16_t qtype, uint16_t qclass, bool cd,
            struct upstream_lookup *l)
{
	(void)ctx;
	(void)qclass;
	(void)cd;
	if (nlookups == MAX_LOOKUPS)
		return -1;
	memcpy(lookup_names[nlookups], qname, dname_length(qname, DNAME_MAXLEN));
	lookup_types[nlookups] = qtype;
	lookups[nlookups++] = l;
	return 0;
}

/* Answer every recorded lookup: an A record 198.18.0.1 for its name, or a failure. */
static void
answer_lookups(void)
{
	while (nlookups > 0) {
		size_t i = --nlookups;
		struct upstream_lookup *l = lookups[i];
		uint8_t pkt[512];
		size_t n = dname_length(lookup_names[i], DNAME_MAXLEN), o = LDNS_HEADER_SIZE;
		memset(pkt, 0, LDNS_HEADER_SIZE);
		LDNS_QR_SET(pkt);
		LDNS_RA_SET(pkt);
		ldns_write_uint16(pkt + 4, 1);
		ldns_write_uint16(pkt + 6, 1);
		memcpy(pkt + o, lookup_names[i], n);
		o += n;
		ldns_write_uint16(pkt + o, lookup_types[i]);
		ldns_write_uint16(pkt + o + 2, LDNS_RR_CLASS_IN);
		o += 4;
		static const uint8_t rr[] = { 0xc0, 12, 0, 1, 0, 1, 0, 0, 1, 0, 0, 4, 198, 18, 0, 1 };
		memcpy(pkt + o, rr, sizeof(rr));
		o += sizeof(rr);
		struct upstream_result res = { .packet = pkt, .len = o };
		if (lookups_fail) {
			res.error = 1;
			res.packet = NULL;
			res.len = 0;
		}
		l->done(l->arg, &res);
	}
}

static void
run_loop(int times)
{
	for (int i = 0; i < times; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
}

/* What came back so far, appended to buf. */
static void
read_some(int fd, uint8_t *buf, size_t cap, size_t *len, bool *eof)
{
	for (;;) {
		uint8_t scratch[4096];
		ssize_t n = read(fd, scratch, sizeof(scratch));
		if (n == 0) {
			*eof = true;
			return;
		}
		if (n < 0)
			return; /* EAGAIN, or a reset */
		size_t take = (size_t)n < cap - *len ? (size_t)n : cap - *len;
		memcpy(buf + *len, scratch, take);
		*len += take;
	}
}

/*
 * Run the loop and read until the server has nothing more to say: three
 * rounds in a row without a byte (an answer bigger than what one write
 * event sends comes in several), or the end of the stream.
 */
static void
settle(int fd, uint8_t *buf, size_t cap, size_t *len, bool *eof)
{
	for (int quiet = 0, round = 0; quiet < 3 && round < 1000 && !*eof; round++) {
		size_t before = *len;
		run_loop(1);
		read_some(fd, buf, cap, len, eof);
		quiet = *len == before ? quiet + 1 : 0;
	}
}

static void
setup(void)
{
	char err[256];
	const char *why;

	/* not even errors: the search would print little else */
	log_init("fuzz_tcp_frames", LOG_LEVEL_ERR - 1, 0);
	/* as resolverd's main(): a peer that is gone is an error, not a signal */
	signal(SIGPIPE, SIG_IGN);
	if (options_init(&opt) != 0)
		abort();
	netaddr_parse_cidr("127.0.0.128/25", &acl, &why);
	opt.recursion_acl = &acl;
	opt.nrecursion_acl = 1;
	struct sockaddr_in *sin = (struct sockaddr_in *)&la.addr;
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin->sin_port = 0;
	la.addrlen = sizeof(*sin);
	snprintf(la.text, sizeof(la.text), "127.0.0.1@0");
	opt.listen = &la;
	opt.nlisten = 1;

	struct zone *z = zone_load(TOP_SRCDIR "/zones/clearinghouse.test.zone", err, sizeof(err));
	if (!z)
		FAIL("the clearinghouse zone: %s", err);
	struct policy *p = policy_new(1);
	uint32_t a = policy_add_domain(p, "a.test", 1, true);
	uint32_t b = policy_add_domain(p, "b.test", 1, true);
	uint32_t c = policy_add_domain(p, "c.test", 1, true);
	policy_finish(p);
	struct netaddr n;
	netaddr_parse_cidr("127.0.0.2", &n, &why);
	policy_add_cidr(p, &n, a);
	netaddr_parse_cidr("127.0.0.3", &n, &why);
	policy_add_cidr(p, &n, b);
	struct policy_rule deny = { .id = 1, .priority = 1, .from = { SEL_DOMAIN, a, 0, 0 },
		                    .to = { SEL_DOMAIN, c, 0, 0 } };
	struct policy_rule allow = { .id = 2, .priority = 2, .from = { SEL_ANY, 0, 0, 0 },
		                     .to = { SEL_ANY, 0, 0, 0 }, .allow = true };
	policy_add_rule(p, &deny);
	policy_add_rule(p, &allow);
	policy_finish(p);

	if (resolver_init(&r, &opt, err, sizeof(err)) != 0)
		FAIL("resolver_init: %s", err);
	r.zone = z;
	r.policy = p;
	r.lookup = fake_lookup;
	base = event_base_new();
	if (!base)
		FAIL("event_base_new");
	server = server_new(base, &r, &opt, false, err, sizeof(err));
	if (!server)
		FAIL("server_new: %s", err);
	/* the listening TCP socket the kernel gave a port: find it among our descriptors */
	for (int fd = 3; fd < 1024; fd++) {
		int type = 0, listening = 0;
		socklen_t tl = sizeof(type), ll = sizeof(listening), al = sizeof(server_addr);
		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == 0 && type == SOCK_STREAM &&
		    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &ll) == 0 && listening &&
		    getsockname(fd, (struct sockaddr *)&server_addr, &al) == 0 &&
		    server_addr.sin_family == AF_INET &&
		    server_addr.sin_addr.s_addr == htonl(INADDR_LOOPBACK))
			return;
	}
	FAIL("the server's TCP socket was not found");
}

/* The ids of the whole queries in the stream, in order; returns how many. */
static size_t
frame_ids(const uint8_t *s, size_t len, uint16_t *ids, size_t max)
{
	size_t n = 0;
	for (size_t o = 0; o + 2 <= len && n < max;) {
		size_t m = (size_t)s[o] << 8 | s[o + 1];
		if (o + 2 + m > len)
			break;
		ids[n++] = m >= 2 ? (uint16_t)(s[o + 2] << 8 | s[o + 3]) : 0;
		o += 2 + m;
	}
	return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	static const char *const sources[4] = { "127.0.0.2", "127.0.0.3", "127.0.0.130", "127.0.0.9" };
	static const size_t pieces[8] = { 0, 1, 2, 3, 5, 13, 64, 512 };

	if (!ready) {
		setup();
		ready = true;
	}
	if (size < 1)
		return 0;
	uint8_t flags = data[0];
	const uint8_t *s = data + 1;
	size_t len = size - 1, piece = pieces[(flags >> 2) & 7];
	lookups_fail = flags & 0x40;

	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		FAIL("socket: %s", strerror(errno));
	struct sockaddr_in src = { .sin_family = AF_INET };
	inet_pton(AF_INET, sources[flags & 3], &src.sin_addr);
	if (bind(fd, (struct sockaddr *)&src, sizeof(src)) != 0)
		FAIL("bind %s: %s", sources[flags & 3], strerror(errno));
	/* non-blocking: libFuzzer's timer signal interrupts a blocking connect */
	if (connect(fd, (struct sockaddr *)&server_addr, sizeof(server_addr)) != 0 &&
	    errno != EINPROGRESS && errno != EINTR)
		FAIL("connect from %s: %s", sources[flags & 3], strerror(errno));
	for (int i = 0;; i++) {
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };
		run_loop(1); /* accept */
		if (poll(&pfd, 1, 10) == 1)
			break;
		if (i == 500)
			FAIL("connect from %s: not connected after 5 s", sources[flags & 3]);
	}
	int soerr = 0;
	socklen_t sl = sizeof(soerr);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr != 0)
		FAIL("connect from %s: %s", sources[flags & 3], strerror(soerr));
	run_loop(1);

	static uint8_t back[1 << 20];
	size_t back_len = 0;
	bool eof = false;
	for (size_t o = 0, stuck = 0; o < len && stuck < 100;) {
		size_t n = piece && piece < len - o ? piece : len - o;
		ssize_t w = write(fd, s + o, n);
		if (w > 0) {
			o += (size_t)w;
			stuck = 0;
		} else if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			break; /* the server closed: the rest is not read */
		} else if (++stuck % 10 == 0) {
			answer_lookups(); /* a server that waits for the upstream reads no more */
		}
		run_loop(1);
		read_some(fd, back, sizeof(back), &back_len, &eof);
		if (eof)
			break;
	}
	settle(fd, back, sizeof(back), &back_len, &eof);
	if (flags & 0x20) {
		answer_lookups();
		settle(fd, back, sizeof(back), &back_len, &eof);
	}
	if (flags & 0x80) {
		shutdown(fd, SHUT_WR);
		settle(fd, back, sizeof(back), &back_len, &eof);
	}

	/* whole frames of responses to queries that were sent */
	static uint16_t ids[65536];
	size_t nq = frame_ids(s, len, ids, sizeof(ids) / sizeof(ids[0])), na = 0;
	for (size_t o = 0; o < back_len; na++) {
		if (o + 2 > back_len)
			FAIL("half a length prefix at the end of the server's output");
		size_t m = (size_t)back[o] << 8 | back[o + 1];
		if (o + 2 + m > back_len)
			FAIL("a frame of %zu bytes cut at %zu", m, back_len - o - 2);
		const uint8_t *ans = back + o + 2;
		if (m < LDNS_HEADER_SIZE || !LDNS_QR_WIRE(ans))
			FAIL("an answer of %zu bytes that is no response", m);
		bool known = false;
		for (size_t i = 0; i < nq && !known; i++)
			known = ids[i] == LDNS_ID_WIRE(ans);
		if (!known)
			FAIL("an answer with id %u, which no query had", LDNS_ID_WIRE(ans));
		o += 2 + m;
	}
	if (na > nq)
		FAIL("%zu answers to %zu queries", na, nq);

	/* the client goes: a reset, so that no TIME_WAIT piles up */
	struct linger lg = { 1, 0 };
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
	run_loop(2);
	/* the lookups of a closed connection are answered into the void */
	answer_lookups();
	run_loop(1);
	return 0;
}
