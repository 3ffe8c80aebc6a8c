/*
 * options.c -- the config file parser, driven by one table of options.
 */
#include "config.h"
#include "options.h"
#include "log.h"
#include "xfr.h"
#include "zonehook.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum opt_kind { OPT_INT, OPT_BOOL, OPT_STRING, OPT_ENUM, OPT_LIST };

/* A handler for options that need more than storing a value. */
typedef int (*opt_fn)(struct options *o, const char *value, char *err, size_t errlen);

struct option_desc {
	const char *name;
	enum opt_kind kind;
	size_t offset;      /* into struct options, for OPT_INT/BOOL/STRING/ENUM */
	int min, max;       /* OPT_INT range */
	const char *const *choices; /* OPT_ENUM, index = stored value */
	opt_fn fn;          /* OPT_LIST: called for each occurrence */
	const char *def;    /* the default, as it would be written in the file; NULL: none */
	const char *help;
};

static const char *const sink_modes[] = { "host", "refuse", "listener", NULL };
static const char *const unknown_peers[] = { "deny", "pass", NULL };

static int add_listen(struct options *o, const char *v, char *err, size_t errlen);
static int add_sink_listen(struct options *o, const char *v, char *err, size_t errlen);
static int add_metrics_listen(struct options *o, const char *v, char *err, size_t errlen);
static int add_tls_listen(struct options *o, const char *v, char *err, size_t errlen);
static int add_acl(struct options *o, const char *v, char *err, size_t errlen);
static int add_forward(struct options *o, const char *v, char *err, size_t errlen);
static int add_stub(struct options *o, const char *v, char *err, size_t errlen);
static int add_transparent(struct options *o, const char *v, char *err, size_t errlen);
static int add_unbound(struct options *o, const char *v, char *err, size_t errlen);

#define OFF(f) offsetof(struct options, f)
static const struct option_desc option_table[] = {
	{ "listen", OPT_LIST, 0, 0, 0, NULL, add_listen, NULL, "ADDR@PORT to answer on, UDP and TCP (repeatable)" },
	{ "database", OPT_STRING, OFF(database), 0, 0, NULL, NULL, NULL, "policy database (SQLite)" },
	{ "zone-file", OPT_STRING, OFF(zone_file), 0, 0, NULL, NULL, NULL, "the clearinghouse zone" },
	{ "sink-mode", OPT_ENUM, OFF(sink_mode), 0, 0, sink_modes, NULL, "host", "host | refuse | listener" },
	{ "sink-host", OPT_STRING, OFF(sink_host), 0, 0, NULL, NULL, "sink.clearinghouse.test", "SRV target of denied lookups" },
	{ "sink-port", OPT_INT, OFF(sink_port), 1, 65535, NULL, NULL, "5269", "SRV port of denied lookups" },
	{ "sink-listen", OPT_LIST, 0, 0, 0, NULL, add_sink_listen, NULL, "ADDR@PORT of the listener sink (repeatable)" },
	{ "decision-log", OPT_STRING, OFF(decision_log), 0, 0, NULL, NULL, NULL, "file to append every policy decision to as a JSON line (rate limited by log-rate-limit; reopened on SIGHUP)" },
	{ "control-socket", OPT_STRING, OFF(control_socket), 0, 0, NULL, NULL, NULL, "unix socket for resolverd-control (mode 0660, the group of username); none when absent" },
	{ "tls-listen", OPT_LIST, 0, 0, 0, NULL, add_tls_listen, NULL, "ADDR@PORT answering DNS over TLS, RFC 7858 (repeatable; off when absent)" },
	{ "tls-cert", OPT_STRING, OFF(tls_cert), 0, 0, NULL, NULL, NULL, "the DoT server's certificate chain (PEM)" },
	{ "tls-key", OPT_STRING, OFF(tls_key), 0, 0, NULL, NULL, NULL, "its private key (PEM)" },
	{ "tls-client-ca", OPT_STRING, OFF(tls_client_ca), 0, 0, NULL, NULL, NULL, "CA bundle (PEM) client certificates are verified against; a verified one naming a community domain identifies it" },
	{ "tls-crl", OPT_STRING, OFF(tls_crl), 0, 0, NULL, NULL, NULL, "certificate revocation list (PEM) for client certificates" },
	{ "tls-max-handshakes", OPT_INT, OFF(tls_max_handshakes), 1, 65535, NULL, NULL, "64", "TLS handshakes in progress at once; more connections are closed" },
	{ "metrics-listen", OPT_LIST, 0, 0, 0, NULL, add_metrics_listen, NULL, "ADDR@PORT serving Prometheus metrics at /metrics over HTTP (repeatable; off when absent)" },
	{ "police-domain-address", OPT_BOOL, OFF(police_domain_address), 0, 0, NULL, NULL, "yes", "A/AAAA of a community domain decided by policy" },
	{ "ttl-cap", OPT_INT, OFF(ttl_cap), 0, 86400, NULL, NULL, "60", "TTL cap of policy answers (s)" },
	{ "unknown-peer", OPT_ENUM, OFF(unknown_peer), 0, 0, unknown_peers, NULL, "deny", "deny | pass" },
	{ "require-mutual", OPT_BOOL, OFF(require_mutual), 0, 0, NULL, NULL, "yes", "allow needs both directions" },
	{ "recursion-acl", OPT_LIST, 0, 0, 0, NULL, add_acl, NULL, "CIDR allowed recursion (repeatable)" },
	{ "forward", OPT_LIST, 0, 0, 0, NULL, add_forward, NULL, "upstream resolver ADDR@PORT (repeatable)" },
	{ "stub-zone", OPT_LIST, 0, 0, 0, NULL, add_stub, NULL, "ZONE ADDR@PORT (repeatable)" },
	{ "transparent-zone", OPT_LIST, 0, 0, 0, NULL, add_transparent, NULL, "special-use zone to resolve normally (repeatable)" },
	{ "username", OPT_STRING, OFF(username), 0, 0, NULL, NULL, NULL, "user to run as once sockets and files are open; needed when started as root (root: stay root)" },
	{ "chroot", OPT_STRING, OFF(chroot_dir), 0, 0, NULL, NULL, NULL, "directory to chroot to before dropping to username; database and zone-file inside it" },
	{ "trust-anchor-file", OPT_STRING, OFF(trust_anchor_file), 0, 0, NULL, NULL, NULL, "DNSSEC trust anchor" },
	{ "auto-trust-anchor-file", OPT_STRING, OFF(auto_trust_anchor_file), 0, 0, NULL, NULL, NULL, "DNSSEC trust anchor kept up to date (RFC 5011); resolverd must be able to write it" },
	{ "unbound-option", OPT_LIST, 0, 0, 0, NULL, add_unbound, NULL, "NAME: VALUE for libunbound (repeatable)" },
	{ "recursion-max-outstanding", OPT_INT, OFF(recursion_max_outstanding), 1, 1000000, NULL, NULL, "1000", "upstream lookups in flight at once; beyond, SERVFAIL at once" },
	{ "recursion-max-per-source", OPT_INT, OFF(recursion_max_per_source), 1, 1000000, NULL, NULL, "100", "queries one address may have waiting for the upstream" },
	{ "recursion-timeout", OPT_INT, OFF(recursion_timeout), 1, 120, NULL, NULL, "5", "seconds a query waits for the upstream before SERVFAIL" },
	{ "rate-limit", OPT_INT, OFF(rate_limit), 0, 10000000, NULL, NULL, "100", "UDP answers a second to one unidentified /24 or /56, 0 no limit" },
	{ "rate-limit-identified", OPT_INT, OFF(rate_limit_identified), 0, 10000000, NULL, NULL, "10000", "UDP answers a second to one identified requester address, 0 no limit" },
	{ "rate-limit-slip", OPT_INT, OFF(rate_limit_slip), 0, 100, NULL, NULL, "2", "every Nth answer over the rate goes out truncated (TC=1), the rest are dropped; 0 drops all" },
	{ "edns-buffer-size", OPT_INT, OFF(edns_buffer_size), 512, 4096, NULL, NULL, "1232", "EDNS0 UDP payload size" },
	{ "tcp-idle-timeout", OPT_INT, OFF(tcp_idle_timeout), 1, 3600, NULL, NULL, "10", "seconds a TCP connection may wait for its next query, or leave answers unread" },
	{ "tcp-initial-timeout", OPT_INT, OFF(tcp_initial_timeout), 1, 3600, NULL, NULL, "3", "seconds a new TCP connection has for its first whole query" },
	{ "tcp-max-connections", OPT_INT, OFF(tcp_max_connections), 1, 65535, NULL, NULL, "256", "TCP connection cap; when full the quietest one is closed" },
	{ "tcp-max-per-source", OPT_INT, OFF(tcp_max_per_source), 1, 65535, NULL, NULL, "32", "TCP connections from one address" },
	{ "tcp-max-pending-output", OPT_INT, OFF(tcp_max_pending_output), 4096, 16777216, NULL, NULL, "131072", "unread answer bytes before a TCP client stops being read" },
	{ "policy-poll-ms", OPT_INT, OFF(policy_poll_ms), 5, 1000, NULL, NULL, "50", "policy change check interval" },
	{ "policy-source", OPT_STRING, OFF(policy_source), 0, 0, NULL, NULL, NULL, "xfr ADDR[@PORT] KEY: keep the database a replica of the policy zone transferred (IXFR/AXFR, TSIG KEY as NAME:ALGORITHM:BASE64 or a key file) from that server; absent: the database is edited here" },
	{ "policy-zone-apex", OPT_STRING, OFF(policy_zone_apex), 0, 0, NULL, NULL, NULL, "the name of the policy zone policy-source xfr transfers" },
	{ "policy-xfr-refresh", OPT_INT, OFF(policy_xfr_refresh), 0, 86400, NULL, NULL, "0", "seconds between transfer checks (IXFR polls), also after a failure; 0: the zone's SOA refresh and retry" },
	{ "policy-zone", OPT_STRING, OFF(policy_zone), 0, 0, NULL, NULL, NULL, "APEX FILE [COMMAND]: write the policy as a zone (docs/policy-zone.md) to FILE at start and whenever the served serial changes, then run COMMAND (sh -c), e.g. knotc zone-reload APEX" },
	{ "verbosity", OPT_INT, OFF(verbosity), 0, 3, NULL, NULL, "2", "0 err, 1 warn, 2 info, 3 debug" },
	{ "threads", OPT_INT, OFF(threads), 0, 1024, NULL, NULL, "0", "worker threads answering queries, each with its own sockets (SO_REUSEPORT), caches and upstream context; 0: one per CPU online" },
	{ "log-rate-limit", OPT_INT, OFF(log_rate_limit), 0, 1000000, NULL, NULL, "100", "query log lines (decisions) per second, 0 no limit" },
};
#define NOPTIONS (sizeof(option_table) / sizeof(option_table[0]))

static int set_option(struct options *o, const struct option_desc *d, const char *v, char *err,
                      size_t errlen);

int
options_init(struct options *o)
{
	char err[128];

	memset(o, 0, sizeof(*o));
	for (size_t i = 0; i < NOPTIONS; i++)
		if (option_table[i].def &&
		    set_option(o, &option_table[i], option_table[i].def, err, sizeof(err)) != 0)
			return -1;
	return 0;
}

static void
free_strv(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void
options_free(struct options *o)
{
	free(o->listen);
	free(o->sink_listen);
	free(o->metrics_listen);
	free(o->tls_listen);
	free(o->tls_cert);
	free(o->tls_key);
	free(o->tls_client_ca);
	free(o->tls_crl);
	free(o->control_socket);
	free(o->decision_log);
	free(o->database);
	free(o->zone_file);
	free(o->policy_source);
	free(o->policy_zone_apex);
	free(o->policy_zone);
	free(o->sink_host);
	free(o->recursion_acl);
	free_strv(o->forward, o->nforward);
	for (size_t i = 0; i < o->nstub; i++) {
		free(o->stub[i].zone);
		free(o->stub[i].addr);
	}
	free(o->stub);
	free_strv(o->transparent, o->ntransparent);
	free(o->trust_anchor_file);
	free(o->username);
	free(o->chroot_dir);
	free(o->auto_trust_anchor_file);
	for (size_t i = 0; i < o->nunbound; i++) {
		free(o->unbound[i].name);
		free(o->unbound[i].value);
	}
	free(o->unbound);
	memset(o, 0, sizeof(*o));
}

/* Append one element to a growing array. */
static void *
append(void *arr, size_t *n, size_t elem)
{
	char *na = realloc(arr, (*n + 1) * elem);
	if (!na)
		return NULL;
	memset(na + *n * elem, 0, elem);
	(*n)++;
	return na;
}

int
options_parse_addr_port(const char *v, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[64];
	const char *at = strchr(v, '@');
	size_t hl = at ? (size_t)(at - v) : strlen(v);
	long port = 53;

	if (hl == 0 || hl >= sizeof(host))
		return -1;
	memcpy(host, v, hl);
	host[hl] = '\0';
	if (at) {
		char *end;
		errno = 0;
		port = strtol(at + 1, &end, 10);
		if (errno || *end || end == at + 1)
			return -1;
		if (port < 1 || port > 65535)
			return -2;
	}
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		*len = sizeof(*in);
	} else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*in6);
	} else {
		return -1;
	}
	return 0;
}

static int
add_addr(struct listen_addr **list, size_t *n, const char *what, const char *v, char *err,
         size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t len;

	int rc = options_parse_addr_port(v, &ss, &len);
	if (rc != 0) {
		snprintf(err, errlen, "%s: '%s' is not ADDR@PORT%s", what, v,
		         rc == -2 ? " (the port is 1 to 65535)" : " (ADDR an IPv4 or IPv6 address)");
		return -1;
	}
	struct listen_addr *nl = append(*list, n, sizeof(*nl));
	if (!nl)
		return -1;
	*list = nl;
	nl[*n - 1].addr = ss;
	nl[*n - 1].addrlen = len;
	snprintf(nl[*n - 1].text, sizeof(nl->text), "%s", v);
	return 0;
}

static int
add_listen(struct options *o, const char *v, char *err, size_t errlen)
{
	return add_addr(&o->listen, &o->nlisten, "listen", v, err, errlen);
}

static int
add_sink_listen(struct options *o, const char *v, char *err, size_t errlen)
{
	return add_addr(&o->sink_listen, &o->nsink_listen, "sink-listen", v, err, errlen);
}

static int
add_tls_listen(struct options *o, const char *v, char *err, size_t errlen)
{
	return add_addr(&o->tls_listen, &o->ntls_listen, "tls-listen", v, err, errlen);
}

static int
add_metrics_listen(struct options *o, const char *v, char *err, size_t errlen)
{
	return add_addr(&o->metrics_listen, &o->nmetrics_listen, "metrics-listen", v, err, errlen);
}

static int
add_acl(struct options *o, const char *v, char *err, size_t errlen)
{
	struct netaddr a;
	const char *why;

	if (netaddr_parse_cidr(v, &a, &why) != 0) {
		snprintf(err, errlen, "recursion-acl: '%s': %s", v, why);
		return -1;
	}
	struct netaddr *na = append(o->recursion_acl, &o->nrecursion_acl, sizeof(*na));
	if (!na)
		return -1;
	o->recursion_acl = na;
	na[o->nrecursion_acl - 1] = a;
	return 0;
}

static int
add_str(char ***v, size_t *n, const char *s)
{
	char **nv = append(*v, n, sizeof(*nv));
	if (!nv)
		return -1;
	*v = nv;
	nv[*n - 1] = strdup(s);
	return nv[*n - 1] ? 0 : -1;
}

static int
add_forward(struct options *o, const char *v, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t len;

	if (options_parse_addr_port(v, &ss, &len) != 0) {
		snprintf(err, errlen, "forward: '%s' is not ADDR@PORT", v);
		return -1;
	}
	return add_str(&o->forward, &o->nforward, v);
}

static int
add_stub(struct options *o, const char *v, char *err, size_t errlen)
{
	char zone[256], addr[128];
	struct sockaddr_storage ss;
	socklen_t len;

	if (sscanf(v, "%255s %127s", zone, addr) != 2 || options_parse_addr_port(addr, &ss, &len) != 0) {
		snprintf(err, errlen, "stub-zone: '%s' is not 'ZONE ADDR@PORT'", v);
		return -1;
	}
	struct stub_zone *ns = append(o->stub, &o->nstub, sizeof(*ns));
	if (!ns)
		return -1;
	o->stub = ns;
	ns[o->nstub - 1].zone = strdup(zone);
	ns[o->nstub - 1].addr = strdup(addr);
	return 0;
}

static int
add_transparent(struct options *o, const char *v, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	return add_str(&o->transparent, &o->ntransparent, v);
}

static int
add_unbound(struct options *o, const char *v, char *err, size_t errlen)
{
	const char *colon = strchr(v, ':');

	if (!colon || colon == v) {
		snprintf(err, errlen, "unbound-option: '%s' is not 'NAME: VALUE'", v);
		return -1;
	}
	struct unbound_option *nu = append(o->unbound, &o->nunbound, sizeof(*nu));
	if (!nu)
		return -1;
	o->unbound = nu;
	nu[o->nunbound - 1].name = strndup(v, (size_t)(colon - v) + 1);
	const char *val = colon + 1;
	while (isspace((unsigned char)*val))
		val++;
	nu[o->nunbound - 1].value = strdup(val);
	return 0;
}

/* Store one value according to its table entry. */
static int
set_option(struct options *o, const struct option_desc *d, const char *v, char *err, size_t errlen)
{
	char *field = (char *)o + d->offset;

	switch (d->kind) {
	case OPT_INT: {
		char *end;
		errno = 0;
		long n = strtol(v, &end, 10);
		if (errno || *end || end == v || n < d->min || n > d->max) {
			snprintf(err, errlen, "%s: '%s' is not an integer from %d to %d", d->name, v,
			         d->min, d->max);
			return -1;
		}
		*(int *)field = (int)n;
		return 0;
	}
	case OPT_BOOL:
		if (strcmp(v, "yes") == 0 || strcmp(v, "on") == 0 || strcmp(v, "true") == 0)
			*(bool *)field = true;
		else if (strcmp(v, "no") == 0 || strcmp(v, "off") == 0 || strcmp(v, "false") == 0)
			*(bool *)field = false;
		else {
			snprintf(err, errlen, "%s: '%s' is not yes or no", d->name, v);
			return -1;
		}
		return 0;
	case OPT_STRING: {
		char *s = strdup(v);
		if (!s)
			return -1;
		free(*(char **)field);
		*(char **)field = s;
		return 0;
	}
	case OPT_ENUM:
		for (int i = 0; d->choices[i]; i++)
			if (strcmp(v, d->choices[i]) == 0) {
				*(int *)field = i;
				return 0;
			}
		snprintf(err, errlen, "%s: '%s' is not one of the choices", d->name, v);
		return -1;
	case OPT_LIST:
		return d->fn(o, v, err, errlen);
	}
	return -1;
}

/* One bad line: logged at once, the first one kept for err. */
static void
line_error(int *nerr, char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void
line_error(int *nerr, char *err, size_t errlen, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_err("config: %s", msg);
	if ((*nerr)++ == 0)
		snprintf(err, errlen, "%s", msg);
}

int
options_read(struct options *o, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char line[1024], msg[512];
	int lineno = 0, nerr = 0;

	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			line_error(&nerr, err, errlen, "%s:%d: line longer than %zu bytes", path, lineno,
			           sizeof(line) - 2);
			int ch;
			while ((ch = fgetc(f)) != EOF && ch != '\n')
				;
			continue;
		}
		char *hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		char *s = line;
		while (isspace((unsigned char)*s))
			s++;
		char *e = s + strlen(s);
		while (e > s && isspace((unsigned char)e[-1]))
			*--e = '\0';
		if (*s == '\0')
			continue;
		char *colon = strchr(s, ':');
		if (!colon) {
			line_error(&nerr, err, errlen, "%s:%d: expected 'keyword: value'", path, lineno);
			continue;
		}
		*colon = '\0';
		char *v = colon + 1;
		while (isspace((unsigned char)*v))
			v++;
		const struct option_desc *d = NULL;
		for (size_t i = 0; i < NOPTIONS; i++)
			if (strcmp(option_table[i].name, s) == 0)
				d = &option_table[i];
		if (!d) {
			line_error(&nerr, err, errlen, "%s:%d: unknown keyword '%s'", path, lineno, s);
			continue;
		}
		msg[0] = '\0';
		if (set_option(o, d, v, msg, sizeof(msg)) != 0)
			line_error(&nerr, err, errlen, "%s:%d: %s", path, lineno,
			           msg[0] ? msg : "out of memory");
	}
	fclose(f);
	if (nerr > 1) {
		size_t n = strlen(err);
		snprintf(err + n, errlen > n ? errlen - n : 0, " (and %d more errors, each logged)", nerr - 1);
	}
	return nerr ? -1 : 0;
}

/* The port of a socket address, and whether its address is the wildcard. */
static uint16_t
addr_port(const struct listen_addr *l, bool *wildcard)
{
	if (l->addr.ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)&l->addr;
		*wildcard = in->sin_addr.s_addr == htonl(INADDR_ANY);
		return ntohs(in->sin_port);
	}
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&l->addr;
	*wildcard = IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr);
	return ntohs(in6->sin6_port);
}

/*
 * Two addresses start-up could not both bind (TCP for both the DNS listener
 * and the sink): the same address and port, or the same port of one family
 * with one of them the wildcard.
 */
static bool
addr_clash(const struct listen_addr *a, const struct listen_addr *b)
{
	bool wa, wb;

	if (a->addr.ss_family != b->addr.ss_family || addr_port(a, &wa) != addr_port(b, &wb))
		return false;
	return wa || wb || memcmp(&a->addr, &b->addr, a->addrlen) == 0;
}

/* The first pair of the listen and sink-listen addresses that clash; 0 for none. */
static int
check_clashes(const struct options *o, char *err, size_t errlen)
{
	size_t n = o->nlisten + o->nsink_listen;

	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++) {
			const struct listen_addr *a = i < o->nlisten ? &o->listen[i] : &o->sink_listen[i - o->nlisten];
			const struct listen_addr *b = j < o->nlisten ? &o->listen[j] : &o->sink_listen[j - o->nlisten];
			if (addr_clash(a, b)) {
				snprintf(err, errlen, "%s '%s' and %s '%s' are the same address and port: "
				         "resolverd could not bind both", i < o->nlisten ? "listen" : "sink-listen",
				         a->text, j < o->nlisten ? "listen" : "sink-listen", b->text);
				return -1;
			}
		}
	return 0;
}

int
options_check(const struct options *o, char *err, size_t errlen)
{
	int nerr = 0;

	if (o->nlisten == 0)
		line_error(&nerr, err, errlen, "no 'listen' address configured");
	if (!o->database)
		line_error(&nerr, err, errlen, "no 'database' configured");
	if (!o->zone_file)
		line_error(&nerr, err, errlen, "no 'zone-file' configured");
	if (o->sink_mode == SINK_LISTENER && o->nsink_listen == 0)
		line_error(&nerr, err, errlen, "sink-mode listener needs a 'sink-listen' address");
	if (o->ntls_listen && (!o->tls_cert || !o->tls_key))
		line_error(&nerr, err, errlen, "tls-listen needs tls-cert and tls-key");
	char why[512];
	if (o->policy_source && xfr_check_config(o->policy_source, o->policy_zone_apex, false, why, sizeof(why)) != 0)
		line_error(&nerr, err, errlen, "%s", why);
	if (o->policy_zone && o->chroot_dir)
		line_error(&nerr, err, errlen, "policy-zone does not work with chroot (its file and "
		           "command are outside it)");
	if (o->policy_source && o->chroot_dir)
		line_error(&nerr, err, errlen, "policy-source xfr does not work with chroot (its first "
		           "transfer runs before the chroot)");
	if (!o->policy_source && o->policy_zone_apex)
		line_error(&nerr, err, errlen, "policy-zone-apex without policy-source xfr");
	if (o->policy_zone && zonehook_parse(o->policy_zone, NULL, why, sizeof(why)) != 0)
		line_error(&nerr, err, errlen, "%s", why);
	char clash[512];
	if (check_clashes(o, clash, sizeof(clash)) != 0)
		line_error(&nerr, err, errlen, "%s", clash);
	return nerr ? -1 : 0;
}

void
options_print_help(void)
{
	printf("config file keywords (default in brackets):\n");
	for (size_t i = 0; i < NOPTIONS; i++) {
		const struct option_desc *d = &option_table[i];
		printf("  %-22s %s", d->name, d->help);
		if (d->def)
			printf(" [%s]", d->def);
		printf("\n");
	}
}

int
options_threads(const struct options *o)
{
	if (o->threads > 0)
		return o->threads;
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > 1024 ? 1024 : (int)n;
}
