/*
 * policy.c -- the policy snapshot: building, lookups, and the decision.
 */
#include "config.h"
#include "policy.h"
#include "dname.h"
#include "prefixmap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HASH_EMPTY UINT32_MAX

struct policy *
policy_new(uint64_t serial)
{
	struct policy *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->serial = serial;
	p->cidrs = prefixmap_new();
	if (!p->cidrs) {
		free(p);
		return NULL;
	}
	return p;
}

void
policy_free(struct policy *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->ndomains; i++) {
		free(p->domains[i].name);
		free(p->domains[i].wire);
		free(p->domains[i].groups);
	}
	free(p->domains);
	for (size_t i = 0; i < p->ngroups; i++)
		free(p->groups[i]);
	free(p->groups);
	free(p->rules);
	for (size_t i = 0; i < p->ntargets; i++) {
		free(p->targets[i].host);
		free(p->targets[i].addrs);
	}
	free(p->targets);
	free(p->from_domain_off);
	free(p->from_domain);
	free(p->from_group_off);
	free(p->from_group);
	free(p->from_generic);
	free(p->targets_by_host);
	free(p->hash);
	prefixmap_free(p->cidrs);
	free(p);
}

/* Grow an array to hold one more element. */
static int
grow(void **arr, size_t *cap, size_t n, size_t elem)
{
	if (n < *cap)
		return 0;
	size_t ncap = *cap ? *cap * 2 : 16;
	void *na = realloc(*arr, ncap * elem);
	if (!na)
		return -1;
	*arr = na;
	*cap = ncap;
	return 0;
}

/* Lookup by wire name in the finished hash table (wire may be any case). */
static uint32_t
find_wire(const struct policy *p, const uint8_t *wire, size_t len)
{
	if (len == 0)
		return POLICY_NONE;
	if (!p->hash)
		return POLICY_NONE;
	size_t mask = p->hash_size - 1;
	for (size_t i = dname_hash(wire, len) & mask;; i = (i + 1) & mask) {
		uint32_t d = p->hash[i];
		if (d == HASH_EMPTY)
			return POLICY_NONE;
		if (p->domains[d].wire_len == len && dname_equal(p->domains[d].wire, wire))
			return d;
	}
}

uint32_t
policy_add_domain(struct policy *p, const char *name, uint32_t level, bool enabled)
{
	uint8_t wire[DNAME_MAXLEN];
	size_t len = dname_from_text(name, wire);

	if (len <= 1 || grow((void **)&p->domains, &p->domains_cap, p->ndomains, sizeof(*p->domains)))
		return POLICY_NONE;
	struct policy_domain *d = &p->domains[p->ndomains];
	memset(d, 0, sizeof(*d));
	char text[DNAME_TEXT_MAX];
	d->wire = malloc(len);
	d->name = strdup(dname_to_text(wire, text, sizeof(text)));
	if (!d->wire || !d->name) {
		free(d->wire);
		free(d->name);
		return POLICY_NONE;
	}
	memcpy(d->wire, wire, len);
	d->wire_len = len;
	d->level = level;
	d->enabled = enabled;
	return (uint32_t)p->ndomains++;
}

uint32_t
policy_add_group(struct policy *p, const char *name)
{
	if (grow((void **)&p->groups, &p->groups_cap, p->ngroups, sizeof(*p->groups)))
		return POLICY_NONE;
	p->groups[p->ngroups] = strdup(name);
	if (!p->groups[p->ngroups])
		return POLICY_NONE;
	return (uint32_t)p->ngroups++;
}

int
policy_add_membership(struct policy *p, uint32_t domain, uint32_t group)
{
	if (domain >= p->ndomains || group >= p->ngroups)
		return -1;
	struct policy_domain *d = &p->domains[domain];
	uint32_t *ng = realloc(d->groups, (d->ngroups + 1) * sizeof(*ng));
	if (!ng)
		return -1;
	d->groups = ng;
	d->groups[d->ngroups++] = group;
	return 0;
}

int
policy_add_cidr(struct policy *p, const struct netaddr *prefix, uint32_t domain)
{
	if (domain >= p->ndomains)
		return -1;
	int rc = prefixmap_insert(p->cidrs, prefix, domain);
	if (rc == 1 && prefixmap_lookup(p->cidrs, prefix) == domain)
		return 0; /* the same prefix written twice for the same domain */
	return rc == 0 ? 0 : -1;
}

int
policy_add_rule(struct policy *p, const struct policy_rule *rule)
{
	if (grow((void **)&p->rules, &p->rules_cap, p->nrules, sizeof(*p->rules)))
		return -1;
	p->rules[p->nrules++] = *rule;
	return 0;
}

uint32_t
policy_add_target(struct policy *p, uint32_t domain, int service, uint16_t priority,
                  uint16_t weight, uint16_t port, const char *host)
{
	uint8_t wire[DNAME_MAXLEN];
	size_t len = dname_from_text(host, wire);

	if (domain >= p->ndomains || len == 0 ||
	    grow((void **)&p->targets, &p->targets_cap, p->ntargets, sizeof(*p->targets)))
		return POLICY_NONE;
	struct policy_target *t = &p->targets[p->ntargets];
	memset(t, 0, sizeof(*t));
	t->host = malloc(len);
	if (!t->host)
		return POLICY_NONE;
	memcpy(t->host, wire, len);
	t->domain = domain;
	t->service = (uint8_t)service;
	t->priority = priority;
	t->weight = weight;
	t->port = port;
	return (uint32_t)p->ntargets++;
}

int
policy_add_target_address(struct policy *p, uint32_t target, const struct netaddr *addr)
{
	if (target >= p->ntargets)
		return -1;
	struct policy_target *t = &p->targets[target];
	struct netaddr *na = realloc(t->addrs, (t->naddrs + 1) * sizeof(*na));
	if (!na)
		return -1;
	t->addrs = na;
	t->addrs[t->naddrs++] = *addr;
	return 0;
}

static int
cmp_target(const void *a, const void *b)
{
	const struct policy_target *x = a, *y = b;

	if (x->domain != y->domain)
		return x->domain < y->domain ? -1 : 1;
	if (x->service != y->service)
		return x->service < y->service ? -1 : 1;
	return (x->priority > y->priority) - (x->priority < y->priority);
}

static int
cmp_rule(const void *a, const void *b)
{
	const struct policy_rule *x = a, *y = b;

	if (x->priority != y->priority)
		return x->priority < y->priority ? -1 : 1;
	return (x->id > y->id) - (x->id < y->id);
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

/* Build one CSR index: rules whose from side is kind, grouped by their index. */
static int
build_from_index(struct policy *p, enum policy_sel_kind kind, size_t n, uint32_t **off_out,
                 uint32_t **list_out)
{
	uint32_t *off = calloc(n + 1, sizeof(*off)), *list, *fill;
	size_t total = 0;

	if (!off)
		return -1;
	for (size_t i = 0; i < p->nrules; i++)
		if (p->rules[i].from.kind == kind && p->rules[i].from.index < n) {
			off[p->rules[i].from.index + 1]++;
			total++;
		}
	for (size_t k = 0; k < n; k++)
		off[k + 1] += off[k];
	list = malloc((total ? total : 1) * sizeof(*list));
	fill = malloc((n ? n : 1) * sizeof(*fill));
	if (!list || !fill) {
		free(off);
		free(list);
		free(fill);
		return -1;
	}
	memcpy(fill, off, n * sizeof(*fill));
	/* rules are already in decision order, so each bucket comes out sorted */
	for (size_t i = 0; i < p->nrules; i++)
		if (p->rules[i].from.kind == kind && p->rules[i].from.index < n)
			list[fill[p->rules[i].from.index]++] = (uint32_t)i;
	free(fill);
	free(*off_out);
	free(*list_out);
	*off_out = off;
	*list_out = list;
	return 0;
}

/* Order of two wire names, for sorting and binary search (names are lower-case). */
static int
cmp_wire(const uint8_t *a, const uint8_t *b)
{
	size_t la = dname_length(a, DNAME_MAXLEN), lb = dname_length(b, DNAME_MAXLEN);
	int c = memcmp(a, b, la < lb ? la : lb);
	return c ? c : (la > lb) - (la < lb);
}

/* Order of two target indexes by host name; ctx is the targets array (qsort_r). */
static int
cmp_target_host(const void *a, const void *b, void *ctx)
{
	const struct policy_target *t = ctx;
	return cmp_wire(t[*(const uint32_t *)a].host, t[*(const uint32_t *)b].host);
}

static int
build_host_index(struct policy *p)
{
	free(p->targets_by_host);
	p->targets_by_host = malloc((p->ntargets ? p->ntargets : 1) * sizeof(uint32_t));
	if (!p->targets_by_host)
		return -1;
	for (size_t i = 0; i < p->ntargets; i++)
		p->targets_by_host[i] = (uint32_t)i;
	if (p->ntargets > 1)
		qsort_r(p->targets_by_host, p->ntargets, sizeof(uint32_t), cmp_target_host, p->targets);
	return 0;
}

size_t
policy_find_target_host(const struct policy *p, const uint8_t *wire, size_t *first)
{
	uint8_t lower[DNAME_MAXLEN];
	size_t len = dname_length(wire, DNAME_MAXLEN), lo = 0, hi = p->ntargets;

	if (len == 0 || !p->targets_by_host)
		return 0;
	memcpy(lower, wire, len);
	dname_lower(lower);
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (cmp_wire(p->targets[p->targets_by_host[mid]].host, lower) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	size_t n = 0;
	while (lo + n < p->ntargets && cmp_wire(p->targets[p->targets_by_host[lo + n]].host, lower) == 0)
		n++;
	*first = lo;
	return n;
}

static int
build_rule_index(struct policy *p)
{
	if (build_from_index(p, SEL_DOMAIN, p->ndomains, &p->from_domain_off, &p->from_domain) != 0 ||
	    build_from_index(p, SEL_GROUP, p->ngroups, &p->from_group_off, &p->from_group) != 0)
		return -1;
	free(p->from_generic);
	p->from_generic = malloc((p->nrules ? p->nrules : 1) * sizeof(*p->from_generic));
	if (!p->from_generic)
		return -1;
	p->nfrom_generic = 0;
	for (size_t i = 0; i < p->nrules; i++)
		if (p->rules[i].from.kind == SEL_ANY || p->rules[i].from.kind == SEL_LEVEL)
			p->from_generic[p->nfrom_generic++] = (uint32_t)i;
	return 0;
}

int
policy_finish(struct policy *p)
{
	/* qsort with a NULL array is undefined even for zero elements */
	if (p->nrules > 1)
		qsort(p->rules, p->nrules, sizeof(*p->rules), cmp_rule);
	p->ndry_run = 0;
	for (size_t i = 0; i < p->nrules; i++)
		p->ndry_run += p->rules[i].dry_run;
	for (size_t i = 0; i < p->ndomains; i++) {
		if (p->domains[i].ngroups > 1)
			qsort(p->domains[i].groups, p->domains[i].ngroups, sizeof(uint32_t), cmp_u32);
		p->domains[i].first_target = p->domains[i].ntargets = 0;
	}
	if (p->ntargets > 1)
		qsort(p->targets, p->ntargets, sizeof(*p->targets), cmp_target);
	for (size_t i = p->ntargets; i-- > 0;) {
		struct policy_domain *d = &p->domains[p->targets[i].domain];
		d->first_target = (uint32_t)i;
		d->ntargets++;
	}
	/* load factor at most 1/2 */
	size_t size = 16;
	while (size < p->ndomains * 2)
		size *= 2;
	free(p->hash);
	p->hash = malloc(size * sizeof(*p->hash));
	if (!p->hash)
		return -1;
	memset(p->hash, 0xff, size * sizeof(*p->hash));
	p->hash_size = size;
	for (size_t d = 0; d < p->ndomains; d++) {
		size_t mask = size - 1;
		size_t i = dname_hash(p->domains[d].wire, p->domains[d].wire_len) & mask;
		while (p->hash[i] != HASH_EMPTY)
			i = (i + 1) & mask;
		p->hash[i] = (uint32_t)d;
	}
	if (build_host_index(p) != 0)
		return -1;
	return build_rule_index(p);
}

uint32_t
policy_find_domain(const struct policy *p, const char *name)
{
	uint8_t wire[DNAME_MAXLEN];
	size_t len = dname_from_text(name, wire);

	return len > 1 ? find_wire(p, wire, len) : POLICY_NONE;
}

uint32_t
policy_find_domain_wire(const struct policy *p, const uint8_t *wire)
{
	return find_wire(p, wire, dname_length(wire, DNAME_MAXLEN));
}

uint32_t
policy_find_group(const struct policy *p, const char *name)
{
	for (size_t i = 0; i < p->ngroups; i++)
		if (strcmp(p->groups[i], name) == 0)
			return (uint32_t)i;
	return POLICY_NONE;
}

uint32_t
policy_find_domain_suffix(const struct policy *p, const uint8_t *wire, size_t len,
                          unsigned *labels_above)
{
	unsigned skipped = 0;

	/* try the whole name, then each parent, so the longest suffix wins */
	while (*wire) {
		uint32_t d = find_wire(p, wire, len);
		if (d != POLICY_NONE) {
			*labels_above = skipped;
			return d;
		}
		len -= 1u + *wire;
		wire += 1u + *wire;
		skipped++;
	}
	return POLICY_NONE;
}

uint32_t
policy_identify(const struct policy *p, const struct netaddr *source)
{
	return prefixmap_lookup(p->cidrs, source);
}

static bool
in_group(const struct policy_domain *d, uint32_t g)
{
	size_t lo = 0, hi = d->ngroups;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (d->groups[mid] == g)
			return true;
		if (d->groups[mid] < g)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

bool
policy_selector_matches(const struct policy *p, const struct policy_selector *sel, uint32_t d)
{
	const struct policy_domain *dom = &p->domains[d];

	switch (sel->kind) {
	case SEL_ANY:
		return true;
	case SEL_DOMAIN:
		return sel->index == d;
	case SEL_GROUP:
		return in_group(dom, sel->index);
	case SEL_LEVEL:
		return dom->level >= sel->min && dom->level <= sel->max;
	}
	return false;
}

/* A cursor over one sorted list of rule positions. */
struct rule_cursor {
	const uint32_t *at, *end;
};

/* The first unexpired rule matching from -> to; dry-run rules only with dry. */
static const struct policy_rule *
first_match(const struct policy *p, uint32_t from, uint32_t to, time_t now, bool dry)
{
	struct rule_cursor cur[66];
	size_t ncur = 0;

	if (from >= p->ndomains || to >= p->ndomains)
		return NULL;
	const struct policy_domain *fd = &p->domains[from];
	if (!fd->enabled || !p->domains[to].enabled)
		return NULL;
	if (!p->from_domain_off || fd->ngroups + 2 > sizeof(cur) / sizeof(cur[0])) {
		/* no index (or a domain in very many groups): walk every rule */
		for (size_t i = 0; i < p->nrules; i++) {
			const struct policy_rule *r = &p->rules[i];
			if ((dry || !r->dry_run) && (r->expires == 0 || r->expires > now) &&
			    policy_selector_matches(p, &r->from, from) &&
			    policy_selector_matches(p, &r->to, to))
				return r;
		}
		return NULL;
	}
	cur[ncur++] = (struct rule_cursor){ p->from_domain + p->from_domain_off[from],
	                                    p->from_domain + p->from_domain_off[from + 1] };
	cur[ncur++] = (struct rule_cursor){ p->from_generic, p->from_generic + p->nfrom_generic };
	for (size_t g = 0; g < fd->ngroups; g++) {
		uint32_t gi = fd->groups[g];
		cur[ncur++] = (struct rule_cursor){ p->from_group + p->from_group_off[gi],
		                                    p->from_group + p->from_group_off[gi + 1] };
	}
	/* merge the sorted lists: the rules in decision order, only those that can match */
	for (;;) {
		size_t best = ncur;
		for (size_t k = 0; k < ncur; k++)
			if (cur[k].at < cur[k].end && (best == ncur || *cur[k].at < *cur[best].at))
				best = k;
		if (best == ncur)
			return NULL;
		const struct policy_rule *r = &p->rules[*cur[best].at++];
		if ((dry || !r->dry_run) && (r->expires == 0 || r->expires > now) &&
		    policy_selector_matches(p, &r->from, from) &&
		    policy_selector_matches(p, &r->to, to))
			return r;
	}
}

const struct policy_rule *
policy_first_match(const struct policy *p, uint32_t from, uint32_t to, time_t now)
{
	return first_match(p, from, to, now, false);
}

const struct policy_rule *
policy_first_match_dry_run(const struct policy *p, uint32_t from, uint32_t to, time_t now)
{
	return first_match(p, from, to, now, true);
}

/* decision(requester, peer) with or without the dry-run rules. */
static void
decide(const struct policy *p, uint32_t requester, uint32_t peer, time_t now, bool require_mutual,
       bool dry, struct policy_verdict *out)
{
	memset(out, 0, sizeof(*out));
	if (requester == POLICY_NONE || requester >= p->ndomains) {
		out->reason = "requester not identified";
		return;
	}
	if (peer >= p->ndomains) {
		out->reason = "peer outside the community";
		return;
	}
	if (requester == peer) {
		/* its own names: a server's self-check and its components */
		out->allow = true;
		out->reason = "own domain";
		return;
	}
	if (!p->domains[requester].enabled || !p->domains[peer].enabled) {
		out->reason = "domain disabled";
		return;
	}
	const struct policy_rule *fwd = first_match(p, requester, peer, now, dry);
	if (!fwd) {
		out->reason = "default deny";
		return;
	}
	out->rule_id = fwd->id;
	if (!fwd->allow) {
		out->reason = "rule";
		return;
	}
	if (require_mutual && requester != peer) {
		const struct policy_rule *rev = first_match(p, peer, requester, now, dry);
		out->reverse_rule_id = rev ? rev->id : 0;
		if (!rev || !rev->allow) {
			out->reason = "no mutual consent";
			return;
		}
	}
	out->allow = true;
	out->reason = "rule";
}

/* Whether rule id is a dry-run rule of p. */
static bool
is_dry_run(const struct policy *p, int64_t id)
{
	for (size_t i = 0; id && i < p->nrules; i++)
		if (p->rules[i].id == id)
			return p->rules[i].dry_run;
	return false;
}

void
policy_decide(const struct policy *p, uint32_t requester, uint32_t peer, time_t now,
              bool require_mutual, struct policy_verdict *out)
{
	struct policy_verdict would;

	decide(p, requester, peer, now, require_mutual, false, out);
	if (p->ndry_run == 0)
		return;
	decide(p, requester, peer, now, require_mutual, true, &would);
	if (would.allow == out->allow)
		return;
	out->would_differ = true;
	out->would_allow = would.allow;
	out->would_rule_id = is_dry_run(p, would.rule_id) ? would.rule_id : would.reverse_rule_id;
}

char *
policy_selector_format(const struct policy *p, const struct policy_selector *sel, char *buf,
                       size_t len)
{
	switch (sel->kind) {
	case SEL_ANY:
		snprintf(buf, len, "any");
		break;
	case SEL_DOMAIN:
		snprintf(buf, len, "domain:%s",
		         sel->index < p->ndomains ? p->domains[sel->index].name : "?");
		break;
	case SEL_GROUP:
		snprintf(buf, len, "group:%s", sel->index < p->ngroups ? p->groups[sel->index] : "?");
		break;
	case SEL_LEVEL:
		if (sel->min == sel->max)
			snprintf(buf, len, "level:%u", sel->min);
		else if (sel->max == UINT32_MAX)
			snprintf(buf, len, "level:>=%u", sel->min);
		else if (sel->min == 0)
			snprintf(buf, len, "level:<=%u", sel->max);
		else
			snprintf(buf, len, "level:%u-%u", sel->min, sel->max);
		break;
	}
	return buf;
}
