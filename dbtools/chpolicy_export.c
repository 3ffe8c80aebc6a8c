/*
 * chpolicy_export.c -- exports for audits and for stock resolvers: a
 * requester's view as a Response Policy Zone (export view), every
 * requester's with unbound.conf and named.conf fragments (export views),
 * every decision as CSV or JSON Lines (export matrix), and the lookup table
 * of the policy push model (export table), and the whole policy as a DNS
 * zone for secondaries (export zone).
 *
 * Every decision is made by resolverd's own code (policydb_load,
 * policy_decide) with resolverd's settings (options_read), so that an
 * export says what resolverd answers. Every file is written whole or not at
 * all (struct ch_out: a temporary file renamed into place).
 */
#define _GNU_SOURCE /* memfd_create */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <ldns/ldns.h>
#include <sqlite3.h>

#include "dname.h"
#include "options.h"
#include "policy.h"
#include "policydb.h"
#include "policyzone.h"
#include "zone.h"
#include "chpolicy.h"

static void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p) {
		perror("chpolicy");
		exit(CH_FAIL);
	}
	return p;
}

/* ------------------------------------------------------------ settings */

/* What shapes resolverd's answers, read as resolverd reads it. */
struct ex_settings {
	struct options o;
	const char *config;          /* the config file read, or NULL: defaults */
	struct zone *zone;           /* zone-file, when loaded */
	uint8_t sink_wire[DNAME_MAXLEN];
	uint32_t ttl;                /* of every record of a view: <= ttl-cap */
	char sink_a[8][INET6_ADDRSTRLEN], sink_aaaa[8][INET6_ADDRSTRLEN];
	int nsink_a, nsink_aaaa;
};

/*
 * options_read, whose errors come back in err only: resolverd's parser also
 * logs them on stderr, which would make a second line of the same error.
 */
static int
options_read_quiet(struct options *o, const char *path, char *err, size_t errlen)
{
	int saved = dup(2), null = open("/dev/null", O_WRONLY | O_CLOEXEC), rc;

	fflush(stderr);
	if (saved >= 0 && null >= 0)
		dup2(null, 2);
	rc = options_read(o, path, err, errlen);
	fflush(stderr);
	if (saved >= 0 && null >= 0)
		dup2(saved, 2);
	if (saved >= 0)
		close(saved);
	if (null >= 0)
		close(null);
	return rc;
}

/*
 * One "keyword: value" line through resolverd's own parser, from memory
 * (memfd), so that a flag is checked exactly as the config file would be.
 */
static int
setting_line(const struct ch_ctx *c, struct options *o, const char *key, const char *value)
{
	char path[64], err[512];
	int fd = memfd_create("chpolicy-setting", MFD_CLOEXEC), rc;

	if (fd < 0)
		return ch_error(c, CH_FAIL, "memfd_create: %s", strerror(errno));
	char line[1024];
	int n = snprintf(line, sizeof(line), "%s: %s\n", key, value);
	if (n < 0 || (size_t)n >= sizeof(line) || write(fd, line, (size_t)n) != n) {
		close(fd);
		return ch_usage(c, "--%s: too long a value", key);
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	rc = options_read_quiet(o, path, err, sizeof(err));
	close(fd);
	if (rc != 0) {
		const char *why = strstr(err, ":1: ");
		return ch_usage(c, "--%s: %s", key, why ? why + 4 : err);
	}
	return CH_OK;
}

/*
 * resolverd's settings: its defaults, the config file (--config), then the
 * flags named as its keywords. need_zone: load zone-file (the sink host's
 * addresses). Returns CH_OK, or an error reported.
 */
static int
settings_load(const struct ch_ctx *c, const struct ch_args *a, bool need_zone, struct ex_settings *s)
{
	char err[512];
	int rc;

	memset(s, 0, sizeof(*s));
	if (options_init(&s->o) != 0)
		return ch_error(c, CH_FAIL, "out of memory");
	if (a->config) {
		s->config = a->config;
		if (options_read_quiet(&s->o, a->config, err, sizeof(err)) != 0)
			return ch_error(c, CH_USAGE, "--config: %s", err);
	}
	const struct { const char *key, *value; } flags[] = {
		{ "sink-mode", a->sink_mode }, { "sink-host", a->sink_host }, { "sink-port", a->sink_port },
		{ "ttl-cap", a->ttl_cap }, { "require-mutual", a->require_mutual },
		{ "unknown-peer", a->unknown_peer }, { "police-domain-address", a->police_domain_address },
		{ "zone-file", a->zone_file },
	};
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		if (flags[i].value && (rc = setting_line(c, &s->o, flags[i].key, flags[i].value)) != CH_OK)
			return rc;
	if (a->no_mutual)
		s->o.require_mutual = false;
	s->ttl = (uint32_t)s->o.ttl_cap;
	if (a->ttl) {
		int64_t t;
		if (ch_parse_int64(a->ttl, &t) != 0 || t < 0 || t > s->o.ttl_cap)
			return ch_usage(c, "--ttl: an integer from 0 to ttl-cap (%d), not '%s'", s->o.ttl_cap, a->ttl);
		s->ttl = (uint32_t)t;
	}
	if (!dname_from_text(s->o.sink_host, s->sink_wire))
		return ch_usage(c, "sink-host '%s' is not a domain name", s->o.sink_host);
	if (!need_zone)
		return CH_OK;
	if (!s->o.zone_file)
		return ch_usage(c, "the sink host's addresses come from resolverd's zone file: give "
		                "--config FILE or --zone-file FILE");
	s->zone = zone_load(s->o.zone_file, err, sizeof(err));
	if (!s->zone)
		return ch_error(c, CH_FAIL, "zone-file: %s", err);
	for (size_t i = 0; i < s->zone->nrrs; i++) {
		const struct zone_rr *rr = &s->zone->rrs[i];
		if (!dname_equal(rr->owner, s->sink_wire))
			continue;
		if (rr->type == LDNS_RR_TYPE_A && rr->rdlen == 4 && s->nsink_a < 8)
			inet_ntop(AF_INET, rr->rdata, s->sink_a[s->nsink_a++], INET6_ADDRSTRLEN);
		else if (rr->type == LDNS_RR_TYPE_AAAA && rr->rdlen == 16 && s->nsink_aaaa < 8)
			inet_ntop(AF_INET6, rr->rdata, s->sink_aaaa[s->nsink_aaaa++], INET6_ADDRSTRLEN);
	}
	return CH_OK;
}

static void
settings_free(struct ex_settings *s)
{
	options_free(&s->o);
	zone_free(s->zone);
	s->zone = NULL;
}

static const char *
sink_mode_name(enum sink_mode m)
{
	return m == SINK_REFUSE ? "refuse" : m == SINK_LISTENER ? "listener" : "host";
}

/* ------------------------------------------------------------ rules and verdicts */

static const struct ch_expolicy *cmp_ctx;

static int
cmp_rule_id(const void *x, const void *y)
{
	int64_t a = cmp_ctx->p->rules[*(const uint32_t *)x].id, b = cmp_ctx->p->rules[*(const uint32_t *)y].id;
	return a < b ? -1 : a > b;
}

static int
cmp_domain_name(const void *x, const void *y)
{
	return strcmp(cmp_ctx->p->domains[*(const uint32_t *)x].name,
	              cmp_ctx->p->domains[*(const uint32_t *)y].name);
}

/* Load the policy of c->db and index it. CH_OK or CH_FAIL reported. */
static int
ex_policy_load(struct ch_ctx *c, struct ch_expolicy *x, bool mutual)
{
	char err[512];

	memset(x, 0, sizeof(*x));
	x->p = policydb_load(c->db, err, sizeof(err));
	if (!x->p)
		return ch_error(c, CH_FAIL, "%s: %s", c->db_path, err);
	return ch_ex_index(x, mutual);
}

int
ch_ex_index(struct ch_expolicy *x, bool mutual)
{
	const struct policy *p = x->p;

	x->now = time(NULL);
	x->mutual = mutual;
	x->text = xmalloc(sizeof(char *) * p->nrules);
	x->by_id = xmalloc(sizeof(uint32_t) * p->nrules);
	x->order = xmalloc(sizeof(uint32_t) * p->ndomains);
	for (size_t i = 0; i < p->nrules; i++) {
		char fs[300], ts[300], buf[700];
		const struct policy_rule *r = &p->rules[i];
		snprintf(buf, sizeof(buf), "%s -> %s %s", policy_selector_format(p, &r->from, fs, sizeof(fs)),
		         policy_selector_format(p, &r->to, ts, sizeof(ts)), r->allow ? "allow" : "deny");
		x->text[i] = strdup(buf);
		if (!x->text[i]) {
			perror("chpolicy");
			exit(CH_FAIL);
		}
		x->by_id[i] = (uint32_t)i;
	}
	for (size_t i = 0; i < p->ndomains; i++)
		x->order[i] = (uint32_t)i;
	cmp_ctx = x;
	qsort(x->by_id, p->nrules, sizeof(uint32_t), cmp_rule_id);
	qsort(x->order, p->ndomains, sizeof(uint32_t), cmp_domain_name);
	return CH_OK;
}

void
ch_ex_free(struct ch_expolicy *x)
{
	for (size_t i = 0; x->p && i < x->p->nrules; i++)
		free(x->text[i]);
	free(x->text);
	free(x->by_id);
	free(x->order);
	policy_free(x->p);
	memset(x, 0, sizeof(*x));
}

/* The index in p->rules of rule id, or -1. */
static long
rule_index(const struct ch_expolicy *x, int64_t id)
{
	size_t lo = 0, hi = x->p->nrules;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int64_t m = x->p->rules[x->by_id[mid]].id;
		if (m == id)
			return x->by_id[mid];
		if (m < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* "rule 12: level:>=3 -> level:>=3 allow", or "default deny" for id 0. */
static char *
rule_words(const struct ch_expolicy *x, int64_t id, char *buf, size_t len)
{
	long i = id ? rule_index(x, id) : -1;

	if (i < 0)
		snprintf(buf, len, "default deny");
	else
		snprintf(buf, len, "rule %lld: %s", (long long)id, x->text[i]);
	return buf;
}

/*
 * Why R -> P came out as it did, in words: "rule 3: any -> any allow;
 * mutual: rule 5: ...", "no mutual consent: rule 3: ... allow, but P -> R:
 * default deny", "default deny", "domain disabled (c.test)", "own domain";
 * and "; dry-run: rule 7: ... would deny (not applied)".
 */
char *
ch_ex_verdict_words(const struct ch_expolicy *x, uint32_t r, uint32_t peer, const struct policy_verdict *v,
              char *buf, size_t len)
{
	const struct policy *p = x->p;
	char one[800], two[800];
	int n;

	if (strcmp(v->reason, "own domain") == 0)
		n = snprintf(buf, len, "own domain");
	else if (strcmp(v->reason, "domain disabled") == 0)
		n = snprintf(buf, len, "domain disabled (%s)",
		             !p->domains[r].enabled ? p->domains[r].name : p->domains[peer].name);
	else if (strcmp(v->reason, "no mutual consent") == 0)
		n = snprintf(buf, len, "no mutual consent: %s, but %s -> %s: %s",
		             rule_words(x, v->rule_id, one, sizeof(one)), p->domains[peer].name,
		             p->domains[r].name, rule_words(x, v->reverse_rule_id, two, sizeof(two)));
	else if (v->allow && x->mutual)
		n = snprintf(buf, len, "%s; mutual: %s", rule_words(x, v->rule_id, one, sizeof(one)),
		             rule_words(x, v->reverse_rule_id, two, sizeof(two)));
	else
		n = snprintf(buf, len, "%s", rule_words(x, v->rule_id, one, sizeof(one)));
	if (v->would_differ && n >= 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, "; dry-run: %s would %s (not applied)",
		         v->would_rule_id ? rule_words(x, v->would_rule_id, one, sizeof(one)) : "the dry-run rules",
		         v->would_allow ? "allow" : "deny");
	return buf;
}

/* A domain argument that names a community domain, as its index. CH_USAGE reported if not. */
static int
domain_arg(const struct ch_ctx *c, const struct ch_expolicy *x, const char *what, const char *text,
           uint32_t *d)
{
	char *name = ch_name_arg(c, what, text, false);

	if (!name)
		return CH_USAGE;
	*d = policy_find_domain(x->p, name);
	if (*d == POLICY_NONE) {
		int rc = ch_usage(c, "%s: unknown domain '%s' (not a community domain)", what, name);
		free(name);
		return rc;
	}
	free(name);
	return CH_OK;
}

/* ------------------------------------------------------------ views (RPZ) */

static const char *const service_label[] = { "_xmpp-server._tcp", "_xmpps-server._tcp", "_jabber._tcp" };
static const int service_of_label[] = { XMPP_SERVER, XMPP_SERVER_TLS, XMPP_JABBER };

/* The domains whose policy covers a target host, and whether it has addresses. */
struct ex_host {
	const char *name;           /* lower-case text */
	uint32_t peers[16];
	size_t npeers;
	size_t first;               /* its entries in p->targets_by_host */
	size_t ntargets;
};

/* One view being written. */
struct ex_view {
	const struct ch_expolicy *x;
	const struct ex_settings *s;
	uint32_t r;                 /* the requester */
	FILE *f;
	char origin[DNAME_TEXT_MAX];
	unsigned long entries, too_long;
};

/* Whether owner.origin fits in a DNS name (255 bytes in wire format). */
static bool
owner_fits(const struct ex_view *w, const char *owner)
{
	return strlen(owner) + 1 + strlen(w->origin) + 1 <= 255;
}

/* The sink's addresses as local data at owner, or NODATA when the sink has none. */
static void
put_sink_addresses(struct ex_view *w, const char *owner)
{
	const struct ex_settings *s = w->s;

	for (int i = 0; i < s->nsink_a; i++)
		fprintf(w->f, "%s %u IN A %s\n", owner, s->ttl, s->sink_a[i]);
	for (int i = 0; i < s->nsink_aaaa; i++)
		fprintf(w->f, "%s %u IN AAAA %s\n", owner, s->ttl, s->sink_aaaa[i]);
	if (s->nsink_a + s->nsink_aaaa == 0)
		fprintf(w->f, "%s %u IN CNAME *.\n", owner, s->ttl);
}

/* The sink's SRV record at owner (refuse mode: "0 0 0 ."). */
static void
put_sink_srv(struct ex_view *w, const char *owner)
{
	const struct ex_settings *s = w->s;

	if (s->o.sink_mode == SINK_REFUSE)
		fprintf(w->f, "%s %u IN SRV 0 0 0 .\n", owner, s->ttl);
	else
		fprintf(w->f, "%s %u IN SRV 0 0 %d %s.\n", owner, s->ttl, s->o.sink_port, s->o.sink_host);
}

/* A target host's addresses from the targets table at owner; false when it has none. */
static bool
put_host_addresses(struct ex_view *w, const char *owner, const struct ex_host *h)
{
	const struct policy *p = w->x->p;
	char text[INET6_ADDRSTRLEN];

	for (size_t i = 0; i < h->ntargets; i++) {
		const struct policy_target *t = &p->targets[p->targets_by_host[h->first + i]];
		if (t->naddrs == 0)
			continue;
		/* one target's addresses are the host's addresses (as resolverd answers) */
		for (size_t k = 0; k < t->naddrs; k++) {
			bool v4 = t->addrs[k].family == AF_INET;
			inet_ntop(v4 ? AF_INET : AF_INET6, t->addrs[k].addr, text, sizeof(text));
			fprintf(w->f, "%s %u IN %s %s\n", owner, w->s->ttl, v4 ? "A" : "AAAA", text);
		}
		return true;
	}
	return false;
}

/* The entries of one XMPP service name of peer d (allowed: passthru or the targets table). */
static void
put_service(struct ex_view *w, uint32_t d, int k, bool allow)
{
	const struct policy *p = w->x->p;
	const struct policy_domain *pd = &p->domains[d];
	char owner[DNAME_TEXT_MAX + 32], host[DNAME_TEXT_MAX];

	snprintf(owner, sizeof(owner), "%s.%s", service_label[k], pd->name);
	if (!owner_fits(w, owner)) {
		fprintf(w->f, "; %s: left out, too long under this zone's origin\n", owner);
		w->too_long++;
		return;
	}
	w->entries++;
	if (!allow) {
		put_sink_srv(w, owner);
		return;
	}
	if (pd->ntargets == 0) {
		fprintf(w->f, "%s %u IN CNAME rpz-passthru.\n", owner, w->s->ttl);
		return;
	}
	/* a closed network: its SRV records from the targets table, never upstream */
	unsigned n = 0;
	for (uint32_t i = pd->first_target; i < pd->first_target + pd->ntargets; i++) {
		const struct policy_target *t = &p->targets[i];
		if (t->service != service_of_label[k])
			continue;
		dname_to_text(t->host, host, sizeof(host));
		fprintf(w->f, "%s %u IN SRV %u %u %u %s%s\n", owner, w->s->ttl, t->priority, t->weight,
		        t->port, strcmp(host, ".") == 0 ? "" : host, ".");
		n++;
	}
	if (n == 0)
		fprintf(w->f, "%s %u IN CNAME *.\n", owner, w->s->ttl); /* NODATA: no target for this service */
}

/*
 * The decision for a name several peers share (a target host): allowed
 * when any of them is allowed, as resolverd decides. *decided: the peer
 * whose verdict is returned.
 */
static bool
decide_any(const struct ex_view *w, const uint32_t *peers, size_t n, struct policy_verdict *v,
           uint32_t *decided)
{
	for (size_t i = 0; i < n; i++) {
		policy_decide(w->x->p, w->r, peers[i], w->x->now, w->x->mutual, v);
		*decided = peers[i];
		if (v->allow)
			return true;
	}
	return false;
}

/* The target hosts of the targets table, grouped by host (p->targets_by_host order). */
static struct ex_host *
collect_hosts(const struct ch_expolicy *x, bool police, size_t *nhosts)
{
	const struct policy *p = x->p;
	struct ex_host *hosts = xmalloc(sizeof(*hosts) * (p->ntargets + 1));
	size_t n = 0;

	for (size_t i = 0; i < p->ntargets;) {
		const struct policy_target *t = &p->targets[p->targets_by_host[i]];
		size_t first = i;
		if (t->host[0] == 0) { /* ".": no service, not a host */
			i++;
			continue;
		}
		struct ex_host *h = &hosts[n++];
		memset(h, 0, sizeof(*h));
		h->first = first;
		while (i < p->ntargets && dname_equal(p->targets[p->targets_by_host[i]].host, t->host))
			i++;
		h->ntargets = i - first;
		h->name = NULL;
		if (police) {
			unsigned above;
			uint32_t d = policy_find_domain_suffix(p, t->host, dname_length(t->host, DNAME_MAXLEN), &above);
			if (d != POLICY_NONE)
				h->peers[h->npeers++] = d;
		}
		for (size_t k = first; k < i && h->npeers < 16; k++)
			h->peers[h->npeers++] = p->targets[p->targets_by_host[k]].domain;
	}
	*nhosts = n;
	return hosts;
}

/* The host entry of name (its index in hosts), or -1. */
static long
host_find(const struct ch_expolicy *x, const struct ex_host *hosts, size_t n, const uint8_t *wire)
{
	for (size_t i = 0; i < n; i++)
		if (dname_equal(x->p->targets[x->p->targets_by_host[hosts[i].first]].host, wire))
			return (long)i;
	return -1;
}

/* A name policed as a host of some peers (and maybe a community domain): one exact entry. */
static void
put_host(struct ex_view *w, const char *owner, const struct ex_host *h)
{
	const struct policy *p = w->x->p;
	struct policy_verdict v;
	uint32_t decided = h->peers[0];
	char why[2048];

	bool allow = decide_any(w, h->peers, h->npeers, &v, &decided);
	fprintf(w->f, "; host %s: target of", owner);
	for (size_t i = 0; i < h->ntargets; i++) {
		uint32_t d = p->targets[p->targets_by_host[h->first + i]].domain;
		if (i == 0 || d != p->targets[p->targets_by_host[h->first + i - 1]].domain)
			fprintf(w->f, " %s", p->domains[d].name);
	}
	fprintf(w->f, ": %s by %s: %s\n", allow ? "allow" : "deny", p->domains[decided].name,
	        ch_ex_verdict_words(w->x, w->r, decided, &v, why, sizeof(why)));
	if (!owner_fits(w, owner)) {
		fprintf(w->f, "; %s: left out, too long under this zone's origin\n", owner);
		w->too_long++;
		return;
	}
	w->entries++;
	if (!allow)
		put_sink_addresses(w, owner);
	else if (!put_host_addresses(w, owner, h))
		fprintf(w->f, "%s %u IN CNAME rpz-passthru.\n", owner, w->s->ttl);
}

/* Every entry of peer d: its service names, its name and the names below it. */
static void
put_peer(struct ex_view *w, uint32_t d, const struct ex_host *hosts, size_t nhosts, bool *host_done)
{
	const struct ch_expolicy *x = w->x;
	const struct policy_domain *pd = &x->p->domains[d];
	struct policy_verdict v;
	char why[2048], owner[DNAME_TEXT_MAX + 8];

	policy_decide(x->p, w->r, d, x->now, x->mutual, &v);
	fprintf(w->f, "\n; %s: %s, %s\n", pd->name, v.allow ? "allow" : "deny",
	        ch_ex_verdict_words(x, w->r, d, &v, why, sizeof(why)));
	for (int k = 0; k < 3; k++)
		put_service(w, d, k, v.allow);
	if (!w->s->o.police_domain_address)
		return;
	long h = host_find(x, hosts, nhosts, pd->wire);
	if (h >= 0) {
		/* the domain is also a target host: decided for all the peers it serves */
		put_host(w, pd->name, &hosts[h]);
		host_done[h] = true;
	} else if (owner_fits(w, pd->name)) {
		w->entries++;
		if (!v.allow)
			put_sink_addresses(w, pd->name);
		else if (pd->ntargets > 0)
			/* a closed network has no address of its own: NODATA */
			fprintf(w->f, "%s %u IN CNAME *.\n", pd->name, w->s->ttl);
		else
			fprintf(w->f, "%s %u IN CNAME rpz-passthru.\n", pd->name, w->s->ttl);
	} else {
		w->too_long++;
	}
	snprintf(owner, sizeof(owner), "*.%s", pd->name);
	if (!owner_fits(w, owner)) {
		w->too_long++;
		return;
	}
	w->entries++;
	if (v.allow) {
		fprintf(w->f, "%s %u IN CNAME rpz-passthru.\n", owner, w->s->ttl);
	} else {
		/* the service names of components (conference.P) get the sink SRV too */
		put_sink_srv(w, owner);
		put_sink_addresses(w, owner);
	}
}

/*
 * The identities of a domain of kind ("cidr" or "tsig") that a stock server
 * can match, space separated, into buf: its prefixes only when its
 * require-identity accepts a source address (require, enum
 * policy_identity), its TSIG key names always.
 */
static char *
identities_of(struct ch_ctx *c, const char *domain, unsigned require, const char *kind, char *buf,
              size_t len)
{
	sqlite3_stmt *st;
	size_t used = 0;

	buf[0] = '\0';
	if (strcmp(kind, "cidr") == 0 && require != POLICY_ID_SOURCE)
		return buf;
	if (sqlite3_prepare_v2(c->db, "SELECT value FROM identities WHERE kind = ?2 AND domain = ?1"
	                              " ORDER BY value", -1, &st, NULL) != SQLITE_OK)
		return buf;
	sqlite3_bind_text(st, 1, domain, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW && used < len) {
		int n = snprintf(buf + used, len - used, "%s%s", used ? " " : "", ch_col_text(st, 0, ""));
		if (n < 0)
			break;
		used += (size_t)n;
	}
	sqlite3_finalize(st);
	return buf;
}

/*
 * The rules whose expiry can change this requester's view (from or to
 * selects it: R -> P and, with mutual consent, P -> R): the earliest
 * expiry after now into *until (0: none), and a comment line for each one
 * that falls within the TTL.
 */
static void
view_expiries(const struct ex_view *w, time_t *until, FILE *f)
{
	const struct policy *p = w->x->p;
	time_t now = w->x->now;
	char when[32];

	*until = 0;
	for (size_t i = 0; i < p->nrules; i++) {
		const struct policy_rule *r = &p->rules[i];
		if (r->dry_run || r->expires == 0 || r->expires <= now)
			continue;
		if (!policy_selector_matches(p, &r->from, w->r) && !policy_selector_matches(p, &r->to, w->r))
			continue;
		if (*until == 0 || r->expires < *until)
			*until = r->expires;
		if (f && r->expires <= now + (time_t)w->s->ttl)
			fprintf(f, ";   rule %lld (%s) expires at %s UTC, within the TTL: an answer given "
			        "before then may be cached until %s UTC + %u s\n", (long long)r->id,
			        w->x->text[i], ch_fmt_time(r->expires, when, sizeof(when)), when, w->s->ttl);
	}
}

/* The whole zone of requester r into f. */
static void
write_view(struct ch_ctx *c, const struct ch_expolicy *x, const struct ex_settings *s, uint32_t r,
           FILE *f, unsigned long *entries)
{
	const struct policy *p = x->p;
	const struct policy_domain *rd = &p->domains[r];
	struct ex_view w = { .x = x, .s = s, .r = r, .f = f };
	char when[32], ids[4096], groups[2048] = "";
	size_t nhosts, used = 0;
	time_t until;

	snprintf(w.origin, sizeof(w.origin), "%s.rpz", rd->name);
	for (size_t g = 0; g < rd->ngroups && used < sizeof(groups); g++) {
		int n = snprintf(groups + used, sizeof(groups) - used, "%s%s", g ? " " : "", p->groups[rd->groups[g]]);
		if (n > 0)
			used += (size_t)n;
	}
	fprintf(f, "; Response Policy Zone: what resolverd answers %s, made by chpolicy export view.\n",
	        rd->name);
	fprintf(f, "; requester: %s (level %u, %s, groups: %s)\n", rd->name, rd->level,
	        rd->enabled ? "enabled" : "disabled", groups[0] ? groups : "none");
	char keys[4096];
	identities_of(c, rd->name, POLICY_ID_SOURCE, "cidr", ids, sizeof(ids));
	identities_of(c, rd->name, POLICY_ID_SOURCE, "tsig", keys, sizeof(keys));
	if (!ids[0] && !keys[0])
		fprintf(f, "; identities: none (resolverd cannot identify it)\n");
	else
		fprintf(f, "; identities: %s%s%s%s\n", ids, ids[0] && keys[0] ? " " : "",
		        keys[0] ? "TSIG keys " : "", keys);
	if (rd->require != POLICY_ID_SOURCE)
		fprintf(f, "; require-identity: %s (its addresses alone do not identify it)\n",
		        rd->require == POLICY_ID_TSIG ? "tsig" : "cert");
	fprintf(f, "; made: %s UTC\n", ch_fmt_time(x->now, when, sizeof(when)));
	fprintf(f, "; policy serial: %llu (the SOA serial)\n", (unsigned long long)p->serial);
	fprintf(f, "; settings (%s): sink-mode %s, sink-host %s, sink-port %d, ttl-cap %d, "
	        "require-mutual %s, unknown-peer %s, police-domain-address %s\n",
	        s->config ? s->config : "resolverd's defaults and chpolicy's flags",
	        sink_mode_name(s->o.sink_mode), s->o.sink_host, s->o.sink_port, s->o.ttl_cap,
	        x->mutual ? "yes" : "no", s->o.unknown_peer == UNKNOWN_PEER_PASS ? "pass" : "deny",
	        s->o.police_domain_address ? "yes" : "no");
	fprintf(f, "; sink host addresses (%s):", s->o.zone_file);
	for (int i = 0; i < s->nsink_a; i++)
		fprintf(f, " %s", s->sink_a[i]);
	for (int i = 0; i < s->nsink_aaaa; i++)
		fprintf(f, " %s", s->sink_aaaa[i]);
	fprintf(f, "%s\n", s->nsink_a + s->nsink_aaaa ? "" : " none (denied address lookups get NODATA)");
	fprintf(f, "; ttl: %u s on every record (ttl-cap %d)\n", s->ttl, s->o.ttl_cap);
	fprintf(f, "; decisions as at the time made; rules that expire and change this view:\n");
	view_expiries(&w, &until, f);
	if (until)
		fprintf(f, "; valid until: %s UTC, when the first of them expires: export again before\n",
		        ch_fmt_time(until, when, sizeof(when)));
	else
		fprintf(f, ";   none: valid until the policy changes (serial %llu)\n",
		        (unsigned long long)p->serial);
	fprintf(f, "; dry-run rules: %zu, never applied here; an entry they would change says so\n",
	        p->ndry_run);
	fprintf(f, ";\n"
	        "; Entries: per peer, allowed -> CNAME rpz-passthru. (the real records), or the\n"
	        "; targets table's records for a closed network; denied -> the sink: SRV to the\n"
	        "; sink host (SRV 0 0 0 . in refuse mode) at the service names, the sink host's\n"
	        "; addresses at the peer's names. Local data answers other types with NODATA, as\n"
	        "; resolverd does; CNAME *. is NODATA for every type.\n"
	        "; What a Response Policy Zone cannot say as resolverd does:\n"
	        ";  - names resolverd learns (SRV targets from upstream answers, alias chains\n"
	        ";    through a peer's names): only the targets table's hosts are here;\n"
	        ";  - unknown-peer: names outside the community are not listed (every resolver\n"
	        ";    answers them as it would without policy);\n"
	        ";  - the sink host's addresses in the additional section of a denied SRV answer\n"
	        ";    (the requester looks the sink host up itself);\n"
	        ";  - TTLs of allowed upstream answers are not capped (set cache-max-ttl);\n"
	        ";  - below a peer, every name is decided by *.P: an SRV query of a name that is\n"
	        ";    not a service name gets the sink SRV (resolverd: NODATA); with\n"
	        ";    police-domain-address no, service names of a peer's components (below P)\n"
	        ";    are not covered;\n"
	        ";  - allowed lookups of a closed-network peer's own name or target hosts of\n"
	        ";    types other than A/AAAA: NODATA here, asked upstream by resolverd;\n"
	        ";  - a subdomain that is a community domain of its own has its own entries:\n"
	        ";    the longest match wins (exact names before wildcards), as in resolverd.\n");
	fprintf(f, "$ORIGIN %s.\n$TTL %u\n", w.origin, s->ttl);
	fprintf(f, "@ %u IN SOA localhost. hostmaster.localhost. %llu 3600 600 86400 %u\n", s->ttl,
	        (unsigned long long)p->serial, s->ttl);
	fprintf(f, "@ %u IN NS localhost.\n", s->ttl);

	struct ex_host *hosts = collect_hosts(x, s->o.police_domain_address, &nhosts);
	bool *done = calloc(nhosts + 1, sizeof(bool));
	if (!done) {
		perror("chpolicy");
		exit(CH_FAIL);
	}
	for (size_t i = 0; i < p->ndomains; i++)
		put_peer(&w, x->order[i], hosts, nhosts, done);
	for (size_t i = 0; i < nhosts; i++) {
		char name[DNAME_TEXT_MAX];
		if (done[i])
			continue;
		fputc('\n', f);
		dname_to_text(p->targets[p->targets_by_host[hosts[i].first]].host, name, sizeof(name));
		put_host(&w, name, &hosts[i]);
	}
	fprintf(f, "\n; %lu entries%s\n", w.entries, w.too_long ? ", some left out: too long" : "");
	free(done);
	free(hosts);
	if (entries)
		*entries = w.entries;
}

int
ch_cmd_export_view(struct ch_ctx *c, const struct ch_args *a)
{
	struct ex_settings s;
	struct ch_expolicy x;
	struct ch_out out;
	uint32_t r;
	int rc;

	if ((rc = settings_load(c, a, true, &s)) != CH_OK) {
		settings_free(&s);
		return rc;
	}
	if ((rc = ex_policy_load(c, &x, s.o.require_mutual)) != CH_OK ||
	    (rc = domain_arg(c, &x, "R", a->pos[0], &r)) != CH_OK)
		goto out;
	if ((rc = ch_out_open(c, &out, a->out)) != CH_OK)
		goto out;
	write_view(c, &x, &s, r, out.f, NULL);
	rc = ch_out_commit(c, &out);
out:
	ch_ex_free(&x);
	settings_free(&s);
	return rc;
}

/* The Unbound tag of a domain: "ch_" and the name with '.' as '_' (no name holds '_'). */
static char *
tag_of(const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "ch_%s", name);
	for (char *q = buf; *q; q++)
		if (*q == '.')
			*q = '_';
	return buf;
}

int
ch_cmd_export_views(struct ch_ctx *c, const struct ch_args *a)
{
	char dir[PATH_MAX];
	struct ex_settings s;
	struct ch_expolicy x;
	struct ch_out out, ub, bind;
	struct stat sb;
	char path[PATH_MAX + 32], tag[300], when[32];
	int rc;

	memset(&ub, 0, sizeof(ub));
	memset(&bind, 0, sizeof(bind));
	if ((rc = settings_load(c, a, true, &s)) != CH_OK) {
		settings_free(&s);
		return rc;
	}
	if ((rc = ex_policy_load(c, &x, s.o.require_mutual)) != CH_OK)
		goto out;
	/* the fragments name the zones by absolute path: the servers run elsewhere */
	if (stat(a->pos[0], &sb) != 0 || !S_ISDIR(sb.st_mode) || access(a->pos[0], W_OK) != 0 ||
	    !realpath(a->pos[0], dir)) {
		rc = ch_error(c, CH_FAIL, "%s: %s", a->pos[0], stat(a->pos[0], &sb) != 0 ? strerror(errno)
		              : !S_ISDIR(sb.st_mode) ? "not a directory" : "not writable");
		goto out;
	}
	const struct policy *p = x.p;
	snprintf(path, sizeof(path), "%s/unbound.conf", dir);
	if ((rc = ch_out_open(c, &ub, path)) != CH_OK)
		goto out;
	snprintf(path, sizeof(path), "%s/named.conf", dir);
	if ((rc = ch_out_open(c, &bind, path)) != CH_OK)
		goto out;
	ch_fmt_time(x.now, when, sizeof(when));
	fprintf(ub.f, "# unbound.conf fragment made by chpolicy export views at %s UTC from policy\n"
	        "# serial %llu: each requester (its identities' addresses) gets its own Response\n"
	        "# Policy Zone, so a stock Unbound answers it as resolverd would (the zones' headers\n"
	        "# say what they cannot express). Include it from unbound.conf (include: FILE);\n"
	        "# the zones are read from %s. Every other address is refused below: remove those\n"
	        "# lines to set access-control yourself. Response policy zones need the respip\n"
	        "# module: module-config: \"respip validator iterator\".\n"
	        "server:\n", when, (unsigned long long)p->serial, dir);
	fprintf(bind.f, "// named.conf fragment made by chpolicy export views at %s UTC from policy\n"
	        "// serial %llu: one view per requester, matched by its identities (its addresses\n"
	        "// when its require-identity is source, and its TSIG keys), with its Response\n"
	        "// Policy Zone. Every view needs the rest of your configuration (forwarders,\n"
	        "// zones) too; a client that matches no view is not answered. Keys are named,\n"
	        "// never written: define each one (key \"NAME\" { algorithm ...; secret ...; };)\n"
	        "// in a file only named reads, included before this one.\n", when,
	        (unsigned long long)p->serial);
	/* define-tag: one line with every requester that has an identity */
	fprintf(ub.f, "    define-tag: \"");
	bool first = true;
	for (size_t i = 0; i < p->ndomains; i++) {
		char ids[4096];
		const struct policy_domain *d = &p->domains[x.order[i]];
		if (!identities_of(c, d->name, d->require, "cidr", ids, sizeof(ids))[0])
			continue;
		fprintf(ub.f, "%s%s", first ? "" : " ", tag_of(d->name, tag, sizeof(tag)));
		first = false;
	}
	fprintf(ub.f, "\"\n    # policy answers are never cached for longer than ttl-cap\n"
	        "    cache-max-ttl: %d\n    cache-max-negative-ttl: %d\n", s.o.ttl_cap, s.o.ttl_cap);
	/* the sink host, as resolverd's zone gives it */
	char zone_origin[DNAME_TEXT_MAX];
	dname_to_text(s.zone->origin, zone_origin, sizeof(zone_origin));
	fprintf(ub.f, "    # the clearinghouse's sink host (%s)\n    local-zone: \"%s.\" static\n",
	        s.o.zone_file, zone_origin);
	for (int i = 0; i < s.nsink_a; i++)
		fprintf(ub.f, "    local-data: \"%s. %u IN A %s\"\n", s.o.sink_host, s.ttl, s.sink_a[i]);
	for (int i = 0; i < s.nsink_aaaa; i++)
		fprintf(ub.f, "    local-data: \"%s. %u IN AAAA %s\"\n", s.o.sink_host, s.ttl, s.sink_aaaa[i]);
	unsigned long zones = 0;
	for (size_t i = 0; i < p->ndomains; i++) {
		uint32_t r = x.order[i];
		const char *name = p->domains[r].name;
		char ids[4096], keys[4096], zpath[PATH_MAX + 300], *save = NULL;
		snprintf(zpath, sizeof(zpath), "%s/%s.rpz", dir, name);
		if ((rc = ch_out_open(c, &out, zpath)) != CH_OK)
			goto out;
		write_view(c, &x, &s, r, out.f, NULL);
		if ((rc = ch_out_commit(c, &out)) != CH_OK)
			goto out;
		zones++;
		unsigned require = p->domains[r].require;
		identities_of(c, name, require, "cidr", ids, sizeof(ids));
		identities_of(c, name, require, "tsig", keys, sizeof(keys));
		tag_of(name, tag, sizeof(tag));
		if (!ids[0] && !keys[0]) {
			fprintf(ub.f, "    # %s: no identity a stock server can match (%s): no tag\n", name,
			        require == POLICY_ID_SOURCE ? "no address" : "its require-identity excludes addresses");
			fprintf(bind.f, "// %s: no address or key identifies it here: no view\n", name);
			continue;
		}
		if (!ids[0])
			fprintf(ub.f, "    # %s: identified by TSIG key only (%s), which Unbound cannot match: no tag\n",
			        name, keys);
		else
			fprintf(ub.f, "    # %s\n", name);
		fprintf(bind.f, "acl \"%s\" {", tag);
		for (char *id = strtok_r(ids, " ", &save); id; id = strtok_r(NULL, " ", &save)) {
			fprintf(ub.f, "    access-control: %s allow\n    access-control-tag: %s \"%s\"\n", id, id, tag);
			fprintf(bind.f, " %s;", id);
		}
		for (char *k = strtok_r(keys, " ", &save); k; k = strtok_r(NULL, " ", &save))
			fprintf(bind.f, " key \"%s\";", k);
		fprintf(bind.f, " };\nview \"%s\" {\n    match-clients { \"%s\"; };\n    recursion yes;\n"
		        "    zone \"%s.rpz\" { type primary; file \"%s\"; };\n"
		        "    response-policy { zone \"%s.rpz\"; } qname-wait-recurse no;\n};\n",
		        tag, tag, name, zpath, name);
	}
	fprintf(ub.f, "    # unidentified clients: no policy could apply, so no answer (resolverd: REFUSED)\n"
	        "    access-control: 0.0.0.0/0 refuse\n    access-control: ::/0 refuse\n");
	for (size_t i = 0; i < p->ndomains; i++) {
		char ids[4096];
		const struct policy_domain *d = &p->domains[x.order[i]];
		const char *name = d->name;
		if (!identities_of(c, name, d->require, "cidr", ids, sizeof(ids))[0])
			continue;
		fprintf(ub.f, "\nrpz:\n    name: \"%s.rpz.\"\n    zonefile: \"%s/%s.rpz\"\n    tags: \"%s\"\n"
		        "    rpz-log: yes\n    rpz-log-name: \"%s\"\n", name, dir, name,
		        tag_of(name, tag, sizeof(tag)), name);
	}
	if ((rc = ch_out_commit(c, &ub)) != CH_OK || (rc = ch_out_commit(c, &bind)) != CH_OK)
		goto out;
	printf("%s: %lu zones, unbound.conf, named.conf (serial %llu)\n", dir, zones,
	       (unsigned long long)p->serial);
out:
	ch_out_abort(&ub);
	ch_out_abort(&bind);
	ch_ex_free(&x);
	settings_free(&s);
	return rc;
}

/* ------------------------------------------------------------ matrix */

/* A growing line buffer written in large blocks: the rows are many and short. */
struct ex_buf {
	FILE *f;
	char data[1 << 16];
	size_t used;
};

static void
buf_put(struct ex_buf *b, const char *s, size_t n)
{
	if (b->used + n > sizeof(b->data)) {
		fwrite(b->data, 1, b->used, b->f);
		b->used = 0;
	}
	if (n > sizeof(b->data)) {
		fwrite(s, 1, n, b->f);
		return;
	}
	memcpy(b->data + b->used, s, n);
	b->used += n;
}

static void
buf_str(struct ex_buf *b, const char *s)
{
	buf_put(b, s, strlen(s));
}

static void
buf_i64(struct ex_buf *b, int64_t v)
{
	char t[24];
	int n = snprintf(t, sizeof(t), "%lld", (long long)v);
	buf_put(b, t, (size_t)n);
}

static void
buf_flush(struct ex_buf *b)
{
	fwrite(b->data, 1, b->used, b->f);
	b->used = 0;
}

/* The rule text of id for the matrix (empty for none). */
static const char *
rule_text(const struct ch_expolicy *x, int64_t id)
{
	long i = id ? rule_index(x, id) : -1;
	return i < 0 ? "" : x->text[i];
}

/* A JSON string value (names, selectors and words: nothing to escape but the defensive minimum). */
static void
buf_json_str(struct ex_buf *b, const char *s)
{
	buf_put(b, "\"", 1);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\') {
			char e[2] = { '\\', *s };
			buf_put(b, e, 2);
		} else if ((unsigned char)*s < 0x20) {
			char e[8];
			snprintf(e, sizeof(e), "\\u%04x", (unsigned char)*s);
			buf_put(b, e, 6);
		} else {
			buf_put(b, s, 1);
		}
	}
	buf_put(b, "\"", 1);
}

static void
buf_json_id(struct ex_buf *b, int64_t id)
{
	if (id)
		buf_i64(b, id);
	else
		buf_str(b, "null");
}

static void
matrix_row(struct ex_buf *b, const struct ch_expolicy *x, bool json, uint32_t r, uint32_t peer,
           const struct policy_verdict *v)
{
	const struct policy *p = x->p;
	int64_t mutual_id = v->allow && x->mutual && r != peer ? v->reverse_rule_id
	                    : strcmp(v->reason, "no mutual consent") == 0 ? v->reverse_rule_id : 0;
	bool has_mutual = (v->allow && x->mutual && r != peer) || strcmp(v->reason, "no mutual consent") == 0;

	if (json) {
		buf_str(b, "{\"serial\":");
		buf_i64(b, (int64_t)p->serial);
		buf_str(b, ",\"requester\":");
		buf_json_str(b, p->domains[r].name);
		buf_str(b, ",\"peer\":");
		buf_json_str(b, p->domains[peer].name);
		buf_str(b, v->allow ? ",\"decision\":\"allow\",\"reason\":" : ",\"decision\":\"deny\",\"reason\":");
		buf_json_str(b, v->reason);
		buf_str(b, ",\"rule_id\":");
		buf_json_id(b, v->rule_id);
		buf_str(b, ",\"rule\":");
		if (v->rule_id)
			buf_json_str(b, rule_text(x, v->rule_id));
		else
			buf_str(b, "null");
		buf_str(b, ",\"mutual_rule_id\":");
		buf_json_id(b, mutual_id);
		buf_str(b, ",\"mutual_rule\":");
		if (has_mutual)
			buf_json_str(b, mutual_id ? rule_text(x, mutual_id) : "default deny");
		else
			buf_str(b, "null");
		buf_str(b, ",\"dry_run_would\":");
		buf_str(b, !v->would_differ ? "null" : v->would_allow ? "\"allow\"" : "\"deny\"");
		buf_str(b, ",\"dry_run_rule_id\":");
		buf_json_id(b, v->would_differ ? v->would_rule_id : 0);
		buf_str(b, "}\n");
		return;
	}
	buf_i64(b, (int64_t)p->serial);
	buf_put(b, ",", 1);
	buf_str(b, p->domains[r].name);
	buf_put(b, ",", 1);
	buf_str(b, p->domains[peer].name);
	buf_str(b, v->allow ? ",allow," : ",deny,");
	buf_str(b, v->reason);
	buf_put(b, ",", 1);
	if (v->rule_id)
		buf_i64(b, v->rule_id);
	buf_put(b, ",", 1);
	buf_str(b, rule_text(x, v->rule_id));
	buf_put(b, ",", 1);
	if (mutual_id)
		buf_i64(b, mutual_id);
	buf_put(b, ",", 1);
	if (has_mutual)
		buf_str(b, mutual_id ? rule_text(x, mutual_id) : "default deny");
	buf_put(b, ",", 1);
	if (v->would_differ)
		buf_str(b, v->would_allow ? "allow" : "deny");
	buf_put(b, ",", 1);
	if (v->would_differ && v->would_rule_id)
		buf_i64(b, v->would_rule_id);
	buf_put(b, "\n", 1);
}

/** The header line of the CSV matrix (also read back by diff). */
const char ch_matrix_csv_header[] =
	"serial,requester,peer,decision,reason,rule_id,rule,mutual_rule_id,mutual_rule,dry_run_would,"
	"dry_run_rule_id\n";

int
ch_cmd_export_matrix(struct ch_ctx *c, const struct ch_args *a)
{
	struct ex_settings s;
	struct ch_expolicy x;
	struct ch_out out;
	uint32_t only_r = POLICY_NONE, only_p = POLICY_NONE;
	int rc;
	bool json;

	if (a->format && strcmp(a->format, "csv") != 0 && strcmp(a->format, "json") != 0)
		return ch_usage(c, "--format: csv or json, not '%s'", a->format);
	json = a->format && strcmp(a->format, "json") == 0;
	if (a->decision && strcmp(a->decision, "allow") != 0 && strcmp(a->decision, "deny") != 0)
		return ch_usage(c, "--decision: allow or deny, not '%s'", a->decision);
	int want = !a->decision ? -1 : strcmp(a->decision, "allow") == 0;
	if ((rc = settings_load(c, a, false, &s)) != CH_OK) {
		settings_free(&s);
		return rc;
	}
	if ((rc = ex_policy_load(c, &x, s.o.require_mutual)) != CH_OK)
		goto out;
	if ((a->requester && (rc = domain_arg(c, &x, "--requester", a->requester, &only_r)) != CH_OK) ||
	    (a->peer && (rc = domain_arg(c, &x, "--peer", a->peer, &only_p)) != CH_OK))
		goto out;
	if ((rc = ch_out_open(c, &out, a->out)) != CH_OK)
		goto out;
	struct ex_buf *b = xmalloc(sizeof(*b));
	b->f = out.f;
	b->used = 0;
	if (!json)
		buf_str(b, ch_matrix_csv_header);
	const struct policy *p = x.p;
	for (size_t i = 0; i < p->ndomains; i++) {
		uint32_t r = x.order[i];
		if (only_r != POLICY_NONE && r != only_r)
			continue;
		for (size_t k = 0; k < p->ndomains; k++) {
			uint32_t peer = x.order[k];
			struct policy_verdict v;
			if (only_p != POLICY_NONE && peer != only_p)
				continue;
			policy_decide(p, r, peer, x.now, x.mutual, &v);
			if (want >= 0 && v.allow != (want == 1))
				continue;
			matrix_row(b, &x, json, r, peer, &v);
		}
	}
	buf_flush(b);
	free(b);
	rc = ch_out_commit(c, &out);
out:
	ch_ex_free(&x);
	settings_free(&s);
	return rc;
}

/* ------------------------------------------------------------ table */

/* "2026-11-30T22:00:00Z" */
static char *
rfc3339(time_t t, char *buf, size_t len)
{
	struct tm tm;

	if (!gmtime_r(&t, &tm) || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "?");
	return buf;
}

int
ch_cmd_export_table(struct ch_ctx *c, const struct ch_args *a)
{
	const char *fmt = a->format ? a->format : "json";
	const char *apex = a->apex ? a->apex : "table.clearinghouse.test";
	struct ch_expolicy x;
	struct ch_out out, sig;
	int64_t valid = 30 * 86400;
	char made[32], until[32], sep[2] = { ',', 0 };
	int rc;

	if (strcmp(fmt, "json") != 0 && strcmp(fmt, "csv") != 0 && strcmp(fmt, "zone") != 0)
		return ch_usage(c, "--format: json, csv or zone, not '%s'", fmt);
	if (a->valid_for && ch_parse_duration(a->valid_for, &valid) != 0)
		return ch_usage(c, "--valid-for: want N[s|m|h|d|w], not '%s'", a->valid_for);
	if (a->sign && (!a->out || strcmp(a->out, "-") == 0))
		return ch_usage(c, "--sign needs --out FILE (the signature goes to FILE.sig)");
	if (a->sign && access(a->sign, R_OK) != 0)
		return ch_error(c, CH_FAIL, "--sign: %s: %s", a->sign, strerror(errno));
	uint8_t apex_wire[DNAME_MAXLEN];
	if (strcmp(fmt, "zone") == 0 && (!dname_from_text(apex, apex_wire) || !policydb_valid_name(apex)))
		return ch_usage(c, "--apex: not a domain name: '%s'", apex);
	memset(&sig, 0, sizeof(sig));
	if ((rc = ex_policy_load(c, &x, true)) != CH_OK)
		goto out;
	const struct policy *p = x.p;
	rfc3339(x.now, made, sizeof(made));
	rfc3339(x.now + (time_t)valid, until, sizeof(until));
	if (strcmp(fmt, "zone") == 0) {
		for (size_t i = 0; i < p->ndomains; i++)
			if (strlen(p->domains[i].name) + strlen(apex) + 3 > 255) {
				rc = ch_error(c, CH_FAIL, "%s: too long a name under --apex %s", p->domains[i].name, apex);
				goto out;
			}
	}
	if ((rc = ch_out_open(c, &out, a->out)) != CH_OK)
		goto out;
	FILE *f = out.f;
	if (strcmp(fmt, "json") == 0)
		fprintf(f, "{\"format\":\"xmpp-clearinghouse-policy-table\",\"version\":1,\"serial\":%llu,"
		        "\"made\":\"%s\",\"valid_until\":\"%s\",\"domains\":[\n", (unsigned long long)p->serial,
		        made, until);
	else if (strcmp(fmt, "csv") == 0)
		fprintf(f, "serial,made,valid_until,name,level,enabled,groups\n");
	else
		fprintf(f, "; the clearinghouse policy table (docs/chpolicy.md, \"The policy table\")\n"
		        "$ORIGIN %s.\n$TTL 300\n"
		        "@ 300 IN SOA localhost. hostmaster.localhost. %llu 3600 600 86400 300\n"
		        "@ 300 IN NS localhost.\n"
		        "@ 300 IN TXT \"v=xmpp-clearinghouse-policy-table/1\" \"serial=%llu\" \"made=%s\" "
		        "\"valid-until=%s\"\n", apex, (unsigned long long)p->serial,
		        (unsigned long long)p->serial, made, until);
	for (size_t i = 0; i < p->ndomains; i++) {
		const struct policy_domain *d = &p->domains[x.order[i]];
		if (strcmp(fmt, "json") == 0) {
			fprintf(f, "{\"name\":\"%s\",\"level\":%u,\"enabled\":%s,\"groups\":[", d->name, d->level,
			        d->enabled ? "true" : "false");
			for (size_t g = 0; g < d->ngroups; g++)
				fprintf(f, "%s\"%s\"", g ? "," : "", p->groups[d->groups[g]]);
			fprintf(f, "]}%s\n", i + 1 < p->ndomains ? "," : "");
		} else {
			if (strcmp(fmt, "csv") == 0)
				fprintf(f, "%llu,%s,%s,%s,%u,%d,", (unsigned long long)p->serial, made, until, d->name,
				        d->level, d->enabled ? 1 : 0);
			else
				fprintf(f, "%s 300 IN TXT \"level=%u\" \"enabled=%d\" \"groups=", d->name, d->level,
				        d->enabled ? 1 : 0);
			sep[0] = strcmp(fmt, "csv") == 0 ? ' ' : ',';
			for (size_t g = 0; g < d->ngroups; g++)
				fprintf(f, "%s%s", g ? sep : "", p->groups[d->groups[g]]);
			fprintf(f, "%s\n", strcmp(fmt, "csv") == 0 ? "" : "\"");
		}
	}
	if (strcmp(fmt, "json") == 0)
		fprintf(f, "]}\n");
	/* the signature of the bytes written, before either file takes its place */
	if (a->sign) {
		char b64[128], sigpath[4096];
		if (fflush(f) != 0 || (rc = ch_sign_file(c, out.tmp, a->sign, b64, sizeof(b64))) != CH_OK) {
			rc = rc == CH_OK ? ch_error(c, CH_FAIL, "%s: %s", a->out, strerror(errno)) : rc;
			ch_out_abort(&out);
			goto out;
		}
		snprintf(sigpath, sizeof(sigpath), "%s.sig", a->out);
		if ((rc = ch_out_open(c, &sig, sigpath)) != CH_OK) {
			ch_out_abort(&out);
			goto out;
		}
		fprintf(sig.f, "%s\n", b64);
	}
	if ((rc = ch_out_commit(c, &out)) != CH_OK) {
		ch_out_abort(&sig);
		goto out;
	}
	if (a->sign && (rc = ch_out_commit(c, &sig)) != CH_OK)
		goto out;
	if (rc == CH_OK && a->out && strcmp(a->out, "-") != 0)
		printf("%s: serial %llu, %zu domains, valid until %s%s\n", a->out,
		       (unsigned long long)p->serial, p->ndomains, until, a->sign ? ", signed" : "");
out:
	ch_ex_free(&x);
	return rc;
}

/* ------------------------------------------------------------ export zone */

/*
 * The whole policy as a DNS zone for secondaries (policyzone.h; the
 * encoding is docs/policy-zone.md): written whole or not at all, so that an
 * authoritative server reloading the file never reads half of it.
 */
int
ch_cmd_export_zone(struct ch_ctx *c, const struct ch_args *a)
{
	struct ch_out out;
	struct policyzone_info info;
	char err[512];
	int rc;

	if (!a->apex)
		return ch_usage(c, "export zone needs --apex NAME");
	if ((rc = ch_out_open(c, &out, a->out)) != CH_OK)
		return rc;
	if (policyzone_write(c->db, a->apex, out.f, &info, err, sizeof(err)) != 0) {
		ch_out_abort(&out);
		return ch_error(c, CH_FAIL, "export zone: %s", err);
	}
	if ((rc = ch_out_commit(c, &out)) != CH_OK)
		return rc;
	if (a->out && strcmp(a->out, "-") != 0)
		fprintf(stderr, "%s: serial %lld, %zu rows (%zu domains, %zu rules)\n", a->out,
		        (long long)info.serial, info.total, info.rows[0], info.rows[4]);
	return CH_OK;
}
