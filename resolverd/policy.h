/*
 * policy.h -- the in-memory policy snapshot and the federation decision.
 *
 * A snapshot is built once from the database (policydb.h) and then only read:
 * queries decide against it without touching SQLite, and a reload builds a
 * new snapshot and swaps the pointer. Nothing here allocates after
 * policy_finish().
 *
 * Threads: a snapshot is built by one thread (the policy watcher, or main at
 * start; the build functions keep no state outside the snapshot, so several
 * snapshots may be built at once on different threads). Once finished it is
 * immutable, and any thread may call the lookup and decision functions on it.
 * Every string and array in it is owned by the snapshot and freed by
 * policy_free().
 *
 * The snapshot trusts its builder: it does not look for duplicate domains,
 * groups or rules. The database refuses those (UNIQUE constraints and
 * triggers in dbtools/schema.sql) before policydb_load() ever sees them.
 */
#ifndef POLICY_H
#define POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "netaddr.h"

/** No domain: an unidentified requester, or a name outside the community. */
#define POLICY_NONE UINT32_MAX

enum policy_sel_kind { SEL_ANY, SEL_DOMAIN, SEL_GROUP, SEL_LEVEL };

/** One side of a rule. */
struct policy_selector {
	enum policy_sel_kind kind;
	uint32_t index;     /* domain or group index for SEL_DOMAIN / SEL_GROUP */
	uint32_t min, max;  /* SEL_LEVEL, inclusive; max = UINT32_MAX when open */
};

struct policy_rule {
	int64_t id;         /* rules.id in the database */
	int64_t priority;
	struct policy_selector from, to;
	bool allow;
	time_t expires;     /* 0: never */
	bool dry_run;       /* rules.mode 'dry-run': evaluated and reported, never applied */
};

/** An SRV target of a domain, from the targets table (closed networks). */
struct policy_target {
	uint32_t domain;
	uint8_t service;    /* enum xmpp_service */
	uint16_t priority, weight, port;
	uint8_t *host;      /* wire, lower-case; malloced */
	struct netaddr *addrs; /* host addresses (prefix 32/128); malloced */
	size_t naddrs;
};

struct policy_domain {
	char *name;         /* lower-case, no trailing dot; malloced, owned by the snapshot */
	uint8_t *wire;      /* the same name in wire format, lower-case */
	size_t wire_len;
	uint32_t level;
	bool enabled;
	uint32_t *groups;   /* sorted group indexes */
	size_t ngroups;
	uint32_t first_target, ntargets; /* range in policy.targets, set by policy_finish */
};

struct prefixmap;

struct policy {
	uint64_t serial;
	struct policy_domain *domains;
	size_t ndomains, domains_cap;
	char **groups;      /* group names by index */
	size_t ngroups, groups_cap;
	struct policy_rule *rules; /* sorted by priority, then id */
	size_t nrules, rules_cap;
	size_t ndry_run;           /* rules in dry-run mode, counted by policy_finish */
	uint32_t *hash;     /* open addressing over domains by wire name */
	size_t hash_size;
	struct prefixmap *cidrs;
	struct policy_target *targets; /* sorted by domain, service, priority, host */
	size_t ntargets, targets_cap;
	/*
	 * Rules by their from side, as positions in rules[] (ascending), built by
	 * policy_finish: a decision walks only the rules that can match the
	 * requester (its domain, its groups, and the any/level rules).
	 */
	uint32_t *from_domain_off, *from_domain;  /* CSR: ndomains + 1 offsets */
	uint32_t *from_group_off, *from_group;    /* CSR: ngroups + 1 offsets */
	uint32_t *from_generic;                   /* from any or a level range */
	size_t nfrom_generic;
	uint32_t *targets_by_host;                /* target indexes sorted by host name */
};

/** How decision() came out, and why. */
struct policy_verdict {
	bool allow;
	int64_t rule_id;          /* rule that decided R->P; 0 = default deny */
	int64_t reverse_rule_id;  /* with require-mutual: rule that decided P->R */
	const char *reason;       /* static text: "rule", "default deny", "no mutual consent", ... */
	/*
	 * With dry-run rules in the snapshot: whether enforcing them would give
	 * another decision, that decision, and the dry-run rule behind it.
	 */
	bool would_differ;
	bool would_allow;
	int64_t would_rule_id;
};

/** An empty snapshot, to fill with the policy_add_* calls. NULL on no memory. */
struct policy *policy_new(uint64_t serial);
/** Free a snapshot and all it owns; NULL is ignored. */
void policy_free(struct policy *p);

/* Building. Each returns the new index, or POLICY_NONE on error: no memory,
 * or (domains) a text that is not a domain name. Duplicates are not detected. */
uint32_t policy_add_domain(struct policy *p, const char *name, uint32_t level, bool enabled);
uint32_t policy_add_group(struct policy *p, const char *name);
/** Make domain a member of group (indexes from the calls above). 0, or -1 (bad index, no memory). */
int policy_add_membership(struct policy *p, uint32_t domain, uint32_t group);
/**
 * Bind a prefix to a domain. The same prefix again for the same domain is
 * accepted (written two ways in the database); for another domain it is an
 * error (-1): the requester would be ambiguous.
 */
int policy_add_cidr(struct policy *p, const struct netaddr *prefix, uint32_t domain);
/** Add a copy of rule (its selectors' indexes must exist). 0, or -1 (no memory). */
int policy_add_rule(struct policy *p, const struct policy_rule *rule);
/** Add an SRV target (service: enum xmpp_service). Returns its index or POLICY_NONE. */
uint32_t policy_add_target(struct policy *p, uint32_t domain, int service, uint16_t priority,
                           uint16_t weight, uint16_t port, const char *host);
/** Add an address (prefix 32 or 128) of a target's host. 0, or -1 (bad index, no memory). */
int policy_add_target_address(struct policy *p, uint32_t target, const struct netaddr *addr);
/**
 * Sort rules, groups and targets and build the lookup tables (domain hash,
 * rule index, host index). May be called again after more policy_add_*
 * calls. 0, or -1 (no memory).
 */
int policy_finish(struct policy *p);

/** Domain index by text name (any case, optional trailing dot), or POLICY_NONE. */
uint32_t policy_find_domain(const struct policy *p, const char *name);
/** Domain index by wire name (any case), or POLICY_NONE. */
uint32_t policy_find_domain_wire(const struct policy *p, const uint8_t *wire);
/** Group index by name, or POLICY_NONE. */
uint32_t policy_find_group(const struct policy *p, const char *name);
/**
 * The community domain that is the longest suffix of a wire-format name
 * (any case), or POLICY_NONE. *labels_above is set to the number of labels of
 * the name before that suffix.
 */
uint32_t policy_find_domain_suffix(const struct policy *p, const uint8_t *wire, size_t len,
                                   unsigned *labels_above);
/**
 * The targets whose host is this wire name (any case): *first indexes
 * targets_by_host, the count is returned (0: not a target host).
 */
size_t policy_find_target_host(const struct policy *p, const uint8_t *wire, size_t *first);

/** Longest-prefix match of a source address, or POLICY_NONE. */
uint32_t policy_identify(const struct policy *p, const struct netaddr *source);

/** Whether a selector matches domain d. */
bool policy_selector_matches(const struct policy *p, const struct policy_selector *sel, uint32_t d);

/**
 * The first unexpired enforced rule (in priority order) matching
 * from -> to, or NULL. Dry-run rules are skipped. Disabled domains match no
 * rule.
 */
const struct policy_rule *policy_first_match(const struct policy *p, uint32_t from, uint32_t to,
                                             time_t now);

/** The same with the dry-run rules taken as enforced: what they would decide. */
const struct policy_rule *policy_first_match_dry_run(const struct policy *p, uint32_t from,
                                                     uint32_t to, time_t now);

/**
 * decision(requester, peer): allow only when a rule allows requester -> peer
 * and, with require_mutual, a rule allows peer -> requester too. A requester
 * is always allowed its own domain (reason "own domain"). An unknown
 * requester (POLICY_NONE) is denied everything. out->reason is static text.
 * Dry-run rules never change the decision: when enforcing them would,
 * out->would_differ says so, with the decision and the dry-run rule.
 */
void policy_decide(const struct policy *p, uint32_t requester, uint32_t peer, time_t now,
                   bool require_mutual, struct policy_verdict *out);

/** Text form of a selector ("any", "domain:x", "group:g", "level:2-5", "level:>=3"). */
char *policy_selector_format(const struct policy *p, const struct policy_selector *sel,
                             char *buf, size_t len);

#endif
