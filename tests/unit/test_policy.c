/*
 * test_policy.c -- the federation decision, through the snapshot builder
 * (policy.h) only: no database, so each case states exactly the policy it
 * decides against.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "netaddr.h"
#include "policy.h"
#include "unit.h"

#define NOW ((time_t)1700000000)

/* The community most tests share. */
struct fixture {
	struct policy *p;
	uint32_t a, b, c, d, e;   /* levels 3, 2, 1, 0, 5 */
	uint32_t finance, nato;   /* finance = {a, b}, nato = {b, c}; nato named after finance */
};

static void
fixture_init(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	f->p = policy_new(42);
	if (!f->p) {
		printf("Bail out! policy_new failed\n");
		exit(1);
	}
	f->a = policy_add_domain(f->p, "a.test", 3, true);
	f->b = policy_add_domain(f->p, "b.test", 2, true);
	f->c = policy_add_domain(f->p, "c.test", 1, true);
	f->d = policy_add_domain(f->p, "d.test", 0, true);
	f->e = policy_add_domain(f->p, "e.test", 5, true);
	f->finance = policy_add_group(f->p, "finance");
	f->nato = policy_add_group(f->p, "nato");
	if (f->a == POLICY_NONE || f->e == POLICY_NONE || f->nato == POLICY_NONE ||
	    policy_add_membership(f->p, f->a, f->finance) != 0 ||
	    policy_add_membership(f->p, f->b, f->finance) != 0 ||
	    policy_add_membership(f->p, f->c, f->nato) != 0 ||
	    policy_add_membership(f->p, f->b, f->nato) != 0) {
		printf("Bail out! building the fixture failed\n");
		exit(1);
	}
}

static struct policy_selector
sel_any(void)
{
	struct policy_selector s = { SEL_ANY, 0, 0, 0 };
	return s;
}

static struct policy_selector
sel_domain(uint32_t d)
{
	struct policy_selector s = { SEL_DOMAIN, d, 0, 0 };
	return s;
}

static struct policy_selector
sel_group(uint32_t g)
{
	struct policy_selector s = { SEL_GROUP, g, 0, 0 };
	return s;
}

static struct policy_selector
sel_level(uint32_t min, uint32_t max)
{
	struct policy_selector s = { SEL_LEVEL, 0, min, max };
	return s;
}

static void
rule(struct policy *p, int64_t id, int64_t priority, struct policy_selector from,
     struct policy_selector to, bool allow, time_t expires)
{
	struct policy_rule r;

	memset(&r, 0, sizeof(r));
	r.id = id;
	r.priority = priority;
	r.from = from;
	r.to = to;
	r.allow = allow;
	r.expires = expires;
	if (policy_add_rule(p, &r) != 0) {
		printf("Bail out! policy_add_rule failed\n");
		exit(1);
	}
}

static void
finish(struct policy *p)
{
	if (policy_finish(p) != 0) {
		printf("Bail out! policy_finish failed\n");
		exit(1);
	}
}

/* decide() and return allow, with the verdict in *v. */
static bool
decide(const struct policy *p, uint32_t r, uint32_t peer, bool mutual, struct policy_verdict *v)
{
	policy_decide(p, r, peer, NOW, mutual, v);
	return v->allow;
}

static void
test_any(void)
{
	struct fixture f;
	struct policy_verdict v;

	fixture_init(&f);
	rule(f.p, 1, 100, sel_any(), sel_any(), true, 0);
	finish(f.p);
	CHECK(decide(f.p, f.a, f.b, true, &v), "any -> any allow: a -> b allowed");
	CHECK_INT(v.rule_id, 1, "any: decided by rule 1");
	CHECK_INT(v.reverse_rule_id, 1, "any: mutual consent from rule 1");
	CHECK(decide(f.p, f.e, f.d, true, &v), "any -> any allow: e -> d allowed");
	policy_free(f.p);
}

static void
test_domain(void)
{
	struct fixture f;
	struct policy_verdict v;

	fixture_init(&f);
	rule(f.p, 1, 100, sel_domain(f.a), sel_domain(f.b), true, 0);
	rule(f.p, 2, 100, sel_domain(f.b), sel_domain(f.a), true, 0);
	finish(f.p);
	CHECK(decide(f.p, f.a, f.b, true, &v) && v.rule_id == 1 && v.reverse_rule_id == 2,
	      "domain pair: a -> b allowed by rule 1, mutual rule 2");
	CHECK(decide(f.p, f.b, f.a, true, &v) && v.rule_id == 2, "domain pair: b -> a allowed by rule 2");
	CHECK(!decide(f.p, f.a, f.c, false, &v), "domain: a -> c denied");
	CHECK_INT(v.rule_id, 0, "domain: a -> c is the default deny (rule 0)");
	CHECK(!decide(f.p, f.c, f.b, false, &v), "domain: c -> b denied");
	CHECK(policy_selector_matches(f.p, &(struct policy_selector){ SEL_DOMAIN, f.a, 0, 0 }, f.a) &&
	      !policy_selector_matches(f.p, &(struct policy_selector){ SEL_DOMAIN, f.a, 0, 0 }, f.b),
	      "domain selector matches exactly its domain");
	policy_free(f.p);
}

static void
test_group(void)
{
	struct fixture f;
	struct policy_verdict v;
	struct policy_selector fin, nato;

	fixture_init(&f);
	rule(f.p, 1, 100, sel_group(f.finance), sel_group(f.finance), true, 0);
	finish(f.p);
	/* look the groups up again: finish() may reorder what it sorts */
	fin = sel_group(policy_find_group(f.p, "finance"));
	nato = sel_group(policy_find_group(f.p, "nato"));
	CHECK(fin.index != POLICY_NONE && nato.index != POLICY_NONE, "policy_find_group finds both groups");
	CHECK_INT(policy_find_group(f.p, "retail"), POLICY_NONE, "policy_find_group: unknown group");
	CHECK(decide(f.p, f.a, f.b, true, &v), "group: finance a -> finance b allowed");
	CHECK(decide(f.p, f.b, f.a, true, &v), "group: finance b -> finance a allowed");
	CHECK(!decide(f.p, f.a, f.c, false, &v), "group: a -> c (not finance) denied");
	CHECK(!decide(f.p, f.c, f.a, false, &v), "group: c (not finance) -> a denied");
	CHECK(policy_selector_matches(f.p, &fin, f.a) && policy_selector_matches(f.p, &fin, f.b) &&
	      !policy_selector_matches(f.p, &fin, f.c), "finance matches a, b, not c");
	CHECK(policy_selector_matches(f.p, &nato, f.b) && policy_selector_matches(f.p, &nato, f.c) &&
	      !policy_selector_matches(f.p, &nato, f.a), "nato matches b, c, not a (b is in two groups)");
	policy_free(f.p);
}

static void
test_level(void)
{
	struct fixture f;
	struct policy_verdict v;
	struct policy_selector exact = sel_level(2, 2), range = sel_level(1, 3),
	                       atleast = sel_level(3, UINT32_MAX), atmost = sel_level(0, 1);

	fixture_init(&f);
	/* a's local service policy: talk to level 3 and above, not to level 2 */
	rule(f.p, 1, 100, sel_domain(f.a), sel_level(3, UINT32_MAX), true, 0);
	rule(f.p, 2, 100, sel_level(3, UINT32_MAX), sel_level(3, UINT32_MAX), true, 0);
	finish(f.p);
	CHECK(policy_selector_matches(f.p, &exact, f.b) && !policy_selector_matches(f.p, &exact, f.a) &&
	      !policy_selector_matches(f.p, &exact, f.c), "level:2 matches level 2 only");
	CHECK(policy_selector_matches(f.p, &range, f.a) && policy_selector_matches(f.p, &range, f.b) &&
	      policy_selector_matches(f.p, &range, f.c) && !policy_selector_matches(f.p, &range, f.d) &&
	      !policy_selector_matches(f.p, &range, f.e), "level:1-3 is inclusive at both ends");
	CHECK(policy_selector_matches(f.p, &atleast, f.a) && policy_selector_matches(f.p, &atleast, f.e) &&
	      !policy_selector_matches(f.p, &atleast, f.b), "level:>=3 matches 3 and 5, not 2");
	CHECK(policy_selector_matches(f.p, &atmost, f.d) && policy_selector_matches(f.p, &atmost, f.c) &&
	      !policy_selector_matches(f.p, &atmost, f.b), "level:<=1 matches 0 and 1, not 2");
	CHECK(decide(f.p, f.a, f.e, true, &v) && v.rule_id == 1 && v.reverse_rule_id == 2,
	      "level: a -> e (level 5) allowed by rule 1, mutual rule 2");
	CHECK(!decide(f.p, f.a, f.b, false, &v) && v.rule_id == 0, "level: a -> b (level 2) denied");
	policy_free(f.p);
}

static void
test_priority(void)
{
	struct fixture f;
	struct policy_verdict v;

	fixture_init(&f);
	/* added out of order on purpose: finish() sorts */
	rule(f.p, 3, 20, sel_any(), sel_any(), true, 0);
	rule(f.p, 5, 10, sel_domain(f.a), sel_domain(f.b), false, 0);
	rule(f.p, 9, 30, sel_domain(f.a), sel_domain(f.c), false, 0);
	rule(f.p, 8, 15, sel_domain(f.c), sel_any(), false, 0);
	rule(f.p, 7, 15, sel_domain(f.c), sel_any(), true, 0);
	finish(f.p);
	CHECK(!decide(f.p, f.a, f.b, false, &v) && v.rule_id == 5,
	      "priority 10 deny (id 5) beats priority 20 allow (id 3)");
	CHECK(decide(f.p, f.a, f.c, false, &v) && v.rule_id == 3,
	      "priority 20 allow (id 3) beats priority 30 deny (id 9)");
	CHECK(decide(f.p, f.c, f.a, false, &v) && v.rule_id == 7,
	      "equal priority 15: lower id 7 (allow) beats id 8 (deny)");
	CHECK(f.p->nrules == 5 && f.p->rules[0].id == 5 && f.p->rules[1].id == 7 &&
	      f.p->rules[2].id == 8 && f.p->rules[3].id == 3 && f.p->rules[4].id == 9,
	      "rules sorted by priority, then id");
	policy_free(f.p);
}

static void
test_expiry(void)
{
	struct fixture f;
	struct policy_verdict v;
	const struct policy_rule *r;

	fixture_init(&f);
	rule(f.p, 1, 10, sel_domain(f.a), sel_any(), false, NOW - 1);      /* expired */
	rule(f.p, 2, 10, sel_domain(f.b), sel_any(), false, NOW + 3600);   /* still valid */
	rule(f.p, 3, 10, sel_domain(f.c), sel_any(), false, NOW);          /* expires now */
	rule(f.p, 4, 100, sel_any(), sel_any(), true, 0);
	finish(f.p);
	CHECK(decide(f.p, f.a, f.d, false, &v) && v.rule_id == 4,
	      "a rule expired before now is skipped (rule 4 decides)");
	CHECK(!decide(f.p, f.b, f.d, false, &v) && v.rule_id == 2,
	      "a rule expiring after now still decides");
	CHECK(decide(f.p, f.c, f.d, false, &v) && v.rule_id == 4,
	      "a rule whose expiry equals now is expired (as the schema's expires <= now)");
	r = policy_first_match(f.p, f.a, f.d, NOW - 10);
	CHECK(r && r->id == 1, "the same rule decides at an earlier now");
	policy_free(f.p);
}

/* Dry-run rules: reported as what they would change, never applied. */
static void
test_dry_run(void)
{
	struct fixture f;
	struct policy_verdict v;

	fixture_init(&f);
	rule(f.p, 1, 100, sel_any(), sel_any(), true, 0);
	/* a deny a -> c to try first: dry-run, and before the allow */
	struct policy_rule r = { .id = 2, .priority = 10, .from = sel_domain(f.a), .to = sel_domain(f.c),
	                         .allow = false, .dry_run = true };
	policy_add_rule(f.p, &r);
	finish(f.p);
	CHECK_INT(f.p->ndry_run, 1, "one dry-run rule counted");
	CHECK(decide(f.p, f.a, f.c, false, &v) && v.rule_id == 1, "a -> c: still allowed by rule 1");
	CHECK(v.would_differ && !v.would_allow && v.would_rule_id == 2,
	      "... and rule 2 would deny it");
	CHECK(decide(f.p, f.a, f.b, false, &v) && !v.would_differ, "a -> b: nothing would change");
	CHECK(policy_first_match(f.p, f.a, f.c, NOW)->id == 1 &&
	      policy_first_match_dry_run(f.p, f.a, f.c, NOW)->id == 2,
	      "first match without and with the dry-run rules");
	/* a dry-run allow on the reverse side of a mutual decision */
	policy_free(f.p);
	fixture_init(&f);
	rule(f.p, 1, 100, sel_domain(f.a), sel_domain(f.b), true, 0);
	r = (struct policy_rule){ .id = 3, .priority = 10, .from = sel_domain(f.b), .to = sel_domain(f.a),
	                          .allow = true, .dry_run = true };
	policy_add_rule(f.p, &r);
	finish(f.p);
	CHECK(!decide(f.p, f.a, f.b, true, &v) && strcmp(v.reason, "no mutual consent") == 0,
	      "mutual: b -> a is only allowed by a dry-run rule: denied");
	CHECK(v.would_differ && v.would_allow && v.would_rule_id == 3, "... which would allow it");
	policy_free(f.p);
}

static void
test_mutual(void)
{
	struct fixture f;
	struct policy_verdict v;

	fixture_init(&f);
	rule(f.p, 1, 100, sel_domain(f.a), sel_domain(f.b), true, 0);   /* one way only */
	rule(f.p, 2, 100, sel_domain(f.a), sel_domain(f.c), true, 0);
	rule(f.p, 3, 100, sel_domain(f.c), sel_domain(f.a), false, 0);  /* c refuses a */
	finish(f.p);
	CHECK(!decide(f.p, f.a, f.b, true, &v), "mutual on: one-way allow a -> b is denied");
	CHECK(v.rule_id == 1 && v.reverse_rule_id == 0 && v.reason != NULL,
	      "mutual on: a -> b names rule 1 and no reverse rule");
	CHECK(decide(f.p, f.a, f.b, false, &v) && v.rule_id == 1, "mutual off: a -> b allowed by rule 1");
	CHECK(!decide(f.p, f.a, f.c, true, &v) && v.rule_id == 2 && v.reverse_rule_id == 3,
	      "mutual on: a -> c denied by the reverse deny rule 3");
	CHECK(!decide(f.p, f.b, f.a, false, &v) && v.rule_id == 0, "b -> a denied either way");
	CHECK(decide(f.p, f.a, f.a, true, &v) && v.rule_id == 0 && strcmp(v.reason, "own domain") == 0,
	      "a -> a without a rule: allowed, its own domain");
	CHECK(decide(f.p, f.c, f.c, false, &v) && strcmp(v.reason, "own domain") == 0,
	      "c -> c too, whatever the rules say of c");
	policy_free(f.p);
}

static void
test_disabled(void)
{
	struct fixture f;
	struct policy_verdict v;
	uint32_t off;

	fixture_init(&f);
	off = policy_add_domain(f.p, "off.test", 9, false);
	rule(f.p, 1, 100, sel_any(), sel_any(), true, 0);
	rule(f.p, 2, 1, sel_domain(off), sel_domain(f.a), true, 0);
	finish(f.p);
	CHECK(off != POLICY_NONE, "a disabled domain can be added");
	for (int m = 0; m < 2; m++) {
		CHECK(!decide(f.p, f.a, off, m, &v), "disabled peer denied (mutual %s)", m ? "on" : "off");
		CHECK(!decide(f.p, off, f.a, m, &v), "disabled requester denied, even with its own rule (mutual %s)",
		      m ? "on" : "off");
	}
	CHECK(policy_first_match(f.p, f.a, off, NOW) == NULL && policy_first_match(f.p, off, f.a, NOW) == NULL,
	      "a disabled domain matches no rule");
	CHECK(decide(f.p, f.a, f.b, true, &v), "other domains still allowed");
	CHECK(policy_find_domain(f.p, "off.test") == off, "a disabled domain is still a community domain");
	policy_free(f.p);
}

static void
test_unknown_requester(void)
{
	struct fixture f;
	struct policy_verdict v;

	fixture_init(&f);
	rule(f.p, 1, 100, sel_any(), sel_any(), true, 0);
	finish(f.p);
	CHECK(!decide(f.p, POLICY_NONE, f.a, true, &v) && v.rule_id == 0,
	      "unidentified requester denied even by any -> any allow (mutual on)");
	CHECK(!decide(f.p, POLICY_NONE, f.a, false, &v), "unidentified requester denied (mutual off)");
	CHECK(v.reason != NULL, "a denial gives a reason");
	policy_free(f.p);
}

static uint32_t
identify(const struct policy *p, const char *addr)
{
	struct netaddr na;
	const char *err;

	if (netaddr_parse_cidr(addr, &na, &err) != 0) {
		printf("# cannot parse %s: %s\n", addr, err);
		return POLICY_NONE - 1;
	}
	return policy_identify(p, &na);
}

static void
add_cidr(struct policy *p, const char *text, uint32_t d)
{
	struct netaddr na;
	const char *err;

	CHECK(netaddr_parse_cidr(text, &na, &err) == 0 && policy_add_cidr(p, &na, d) == 0,
	      "bind %s", text);
}

static void
test_identify(void)
{
	struct fixture f;

	fixture_init(&f);
	add_cidr(f.p, "10.0.0.0/8", f.a);
	add_cidr(f.p, "10.1.0.0/16", f.b);
	add_cidr(f.p, "127.0.0.3/32", f.c);
	add_cidr(f.p, "::1/128", f.c);
	add_cidr(f.p, "2001:db8::/32", f.a);
	add_cidr(f.p, "2001:db8:1::/48", f.b);
	finish(f.p);
	CHECK_INT(identify(f.p, "10.1.2.3"), f.b, "10.1.2.3: longest prefix 10.1.0.0/16 -> b");
	CHECK_INT(identify(f.p, "10.2.0.1"), f.a, "10.2.0.1: 10.0.0.0/8 -> a");
	CHECK_INT(identify(f.p, "10.0.0.0"), f.a, "10.0.0.0: the network address -> a");
	CHECK_INT(identify(f.p, "10.255.255.255"), f.a, "10.255.255.255: last address of /8 -> a");
	CHECK_INT(identify(f.p, "11.0.0.1"), POLICY_NONE, "11.0.0.1: no prefix -> none");
	CHECK_INT(identify(f.p, "9.255.255.255"), POLICY_NONE, "9.255.255.255: just below -> none");
	CHECK_INT(identify(f.p, "127.0.0.3"), f.c, "127.0.0.3/32 -> c");
	CHECK_INT(identify(f.p, "127.0.0.2"), POLICY_NONE, "127.0.0.2: neighbour of a /32 -> none");
	CHECK_INT(identify(f.p, "::1"), f.c, "::1/128 -> c");
	CHECK_INT(identify(f.p, "::2"), POLICY_NONE, "::2 -> none");
	CHECK_INT(identify(f.p, "2001:db8:1::5"), f.b, "2001:db8:1::5: longest 2001:db8:1::/48 -> b");
	CHECK_INT(identify(f.p, "2001:db8:2::1"), f.a, "2001:db8:2::1: 2001:db8::/32 -> a");
	CHECK_INT(identify(f.p, "2001:db9::1"), POLICY_NONE, "2001:db9::1 -> none");
	CHECK_INT(identify(f.p, "::ffff:10.1.2.3"), POLICY_NONE,
	          "an IPv6 address never matches an IPv4 prefix");
	policy_free(f.p);
}

/* Text name to wire format (test-only, no escapes). */
static size_t
wire(const char *text, uint8_t *out)
{
	size_t n = 0;

	while (*text) {
		const char *dot = strchr(text, '.');
		size_t len = dot ? (size_t)(dot - text) : strlen(text);
		out[n++] = (uint8_t)len;
		memcpy(out + n, text, len);
		n += len;
		text += len + (dot ? 1 : 0);
	}
	out[n++] = 0;
	return n;
}

static void
test_find(void)
{
	struct fixture f;
	uint8_t w[256];
	unsigned above = 99;
	uint32_t sub;
	size_t len;

	fixture_init(&f);
	sub = policy_add_domain(f.p, "sub.a.test", 1, true);
	finish(f.p);
	CHECK_INT(policy_find_domain(f.p, "a.test"), f.a, "find a.test");
	CHECK_INT(policy_find_domain(f.p, "A.Test"), f.a, "find A.Test (any case)");
	CHECK_INT(policy_find_domain(f.p, "a.test."), f.a, "find a.test. (trailing dot)");
	CHECK_INT(policy_find_domain(f.p, "A.TEST."), f.a, "find A.TEST. (both)");
	CHECK_INT(policy_find_domain(f.p, "x.test"), POLICY_NONE, "x.test is not in the community");
	CHECK_INT(policy_find_domain(f.p, "test"), POLICY_NONE, "a parent is not the domain");
	CHECK_INT(policy_find_domain(f.p, ""), POLICY_NONE, "empty name");

	len = wire("conference.A.test", w);
	CHECK(policy_find_domain_suffix(f.p, w, len, &above) == f.a && above == 1,
	      "conference.A.test: suffix a.test, one label above");
	len = wire("a.test", w);
	CHECK(policy_find_domain_suffix(f.p, w, len, &above) == f.a && above == 0,
	      "a.test: itself, no label above");
	len = wire("x.sub.a.test", w);
	CHECK(policy_find_domain_suffix(f.p, w, len, &above) == sub && above == 1,
	      "x.sub.a.test: the longest suffix sub.a.test wins over a.test");
	len = wire("_xmpp-server._tcp.b.test", w);
	CHECK(policy_find_domain_suffix(f.p, w, len, &above) == f.b && above == 2,
	      "_xmpp-server._tcp.b.test: b.test, two labels above");
	len = wire("example.org", w);
	CHECK_INT(policy_find_domain_suffix(f.p, w, len, &above), POLICY_NONE, "example.org: none");
	policy_free(f.p);
}

static void
test_format(void)
{
	struct fixture f;
	char buf[300];

	fixture_init(&f);
	finish(f.p);
	CHECK_STR(policy_selector_format(f.p, &(struct policy_selector){ SEL_ANY, 0, 0, 0 }, buf, sizeof(buf)),
	          "any", "format any");
	CHECK_STR(policy_selector_format(f.p, &(struct policy_selector){ SEL_DOMAIN, f.a, 0, 0 }, buf,
	          sizeof(buf)), "domain:a.test", "format domain:a.test");
	CHECK_STR(policy_selector_format(f.p, &(struct policy_selector){ SEL_GROUP,
	          policy_find_group(f.p, "finance"), 0, 0 }, buf, sizeof(buf)),
	          "group:finance", "format group:finance");
	CHECK_STR(policy_selector_format(f.p, &(struct policy_selector){ SEL_LEVEL, 0, 2, 5 }, buf,
	          sizeof(buf)), "level:2-5", "format level:2-5");
	CHECK_STR(policy_selector_format(f.p, &(struct policy_selector){ SEL_LEVEL, 0, 3, 3 }, buf,
	          sizeof(buf)), "level:3", "format level:3");
	CHECK_STR(policy_selector_format(f.p, &(struct policy_selector){ SEL_LEVEL, 0, 3, UINT32_MAX },
	          buf, sizeof(buf)), "level:>=3", "format level:>=3");
	CHECK_STR(policy_selector_format(f.p, &(struct policy_selector){ SEL_LEVEL, 0, 0, 4 }, buf,
	          sizeof(buf)), "level:<=4", "format level:<=4");
	policy_free(f.p);
}

/*
 * A derived snapshot: edits change the copy only; the snapshot it came from
 * (what the event loop serves meanwhile) decides as before.
 */
static void
test_derive(void)
{
	struct fixture f;
	struct policy_verdict v;
	struct netaddr na;
	const char *why;

	fixture_init(&f);
	add_cidr(f.p, "192.0.2.0/24", f.a);
	add_cidr(f.p, "198.51.100.7", f.b);
	rule(f.p, 1, 10, sel_group(f.finance), sel_group(f.finance), true, 0);
	rule(f.p, 2, 20, sel_domain(f.c), sel_any(), true, NOW + 60);
	rule(f.p, 3, 30, sel_any(), sel_any(), false, 0);
	finish(f.p);
	struct policy *d = policy_derive(f.p, 43);
	CHECK(d && d->serial == 43 && d->nrules == 3, "derived: a copy with its own serial");
	if (!d)
		exit(1);
	/* every kind of edit */
	CHECK(policy_set_domain(d, f.a, 3, false) == 0, "set a.test disabled");
	netaddr_parse_cidr("198.51.100.7", &na, &why);
	CHECK_INT(policy_remove_cidr(d, &na), f.b, "unbind 198.51.100.7 (it was b.test's)");
	CHECK(policy_remove_rule(d, 2) == 0, "remove rule 2");
	struct policy_rule r = { .id = 4, .priority = 5, .from = sel_domain(f.c), .to = sel_domain(f.d),
	                         .allow = true };
	CHECK(policy_add_rule(d, &r) == 0, "add rule 4");
	uint32_t groups[] = { f.finance };
	CHECK(policy_set_groups(d, f.c, groups, 1) == 0, "c.test joins finance");
	uint32_t x = policy_add_domain(d, "x.test", 1, true);
	CHECK(x == 5, "a new domain takes the next index");
	CHECK(policy_remove_domain(d, f.e) == 0, "remove e.test");
	finish(d);
	CHECK(d->ndeleted == 1 && policy_find_domain(d, "e.test") == POLICY_NONE &&
	      policy_find_domain(d, "x.test") == x, "derived: e.test gone, x.test found");
	CHECK(!decide(d, f.a, f.b, false, &v) && strcmp(v.reason, "domain disabled") == 0,
	      "derived: a.test disabled");
	CHECK(decide(d, f.c, f.d, false, &v) && v.rule_id == 4, "derived: rule 4 decides c -> d");
	CHECK(decide(d, f.c, f.b, false, &v) && v.rule_id == 1, "derived: c.test is in finance now");
	CHECK_INT(identify(d, "198.51.100.7"), POLICY_NONE, "derived: 198.51.100.7 no longer identified");
	CHECK_INT(identify(d, "192.0.2.9"), f.a, "derived: the /24 still is");
	CHECK(d->nrules == 3 && d->nexpiries == 0, "derived: 3 rules, none expiring");
	/* the base, unchanged */
	CHECK(decide(f.p, f.a, f.b, false, &v) && v.rule_id == 1, "base: a -> b still allowed by rule 1");
	CHECK(decide(f.p, f.c, f.d, false, &v) && v.rule_id == 2, "base: rule 2 still decides c -> d");
	CHECK_INT(identify(f.p, "198.51.100.7"), f.b, "base: 198.51.100.7 is still b.test");
	CHECK(policy_find_domain(f.p, "e.test") == f.e && policy_find_domain(f.p, "x.test") == POLICY_NONE,
	      "base: e.test there, x.test not");
	CHECK(f.p->nrules == 3 && f.p->nexpiries == 1 && policy_next_expiry(f.p, NOW) == NOW + 60,
	      "base: rule 2's expiry is the next one");
	/* either may go first: they share what did not change */
	policy_free(f.p);
	CHECK(decide(d, f.c, f.d, false, &v) && v.rule_id == 4, "derived after the base is freed");
	policy_free(d);
}

int
main(void)
{
	test_any();
	test_domain();
	test_group();
	test_level();
	test_priority();
	test_expiry();
	test_mutual();
	test_dry_run();
	test_disabled();
	test_unknown_requester();
	test_identify();
	test_find();
	test_format();
	test_derive();
	return unit_summary();
}
