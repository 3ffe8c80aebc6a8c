/*
 * policy.h -- the in-memory policy snapshot and the federation decision.
 *
 * A snapshot is built once from the database (policydb.h) and then only read:
 * queries decide against it without touching SQLite. A reload makes a new
 * snapshot and swaps the pointer: either a full build (policy_new, the
 * policy_add_* calls, policy_finish), or a copy of the served snapshot with
 * the committed changes applied (policy_derive, the edit calls below,
 * policy_finish). A derived snapshot shares every part the changes leave
 * alone with the snapshot it came from (the rule array and its index when no
 * rule changed, the prefix trie when no identity changed, and so on), and
 * copies a part before it changes it: the snapshot it came from is never
 * written to. A finished snapshot never changes, and its lookups and
 * decisions never allocate.
 *
 * Names are interned: a snapshot keeps one copy of each domain name (text and
 * wire form together), group name and target host, in an append-only name
 * pool that the snapshots derived from one full build share.
 *
 * Threads: a snapshot is built (or derived) by one thread. Once finished it
 * is immutable, and any thread may call the lookup and decision functions on
 * it. Snapshots are reference counted (policy_ref, policy_free), atomically:
 * a snapshot may be freed on one thread while another derives from it, and
 * the parts they share are freed with the last snapshot that uses them. The
 * snapshots derived from one full build share its name pool, which only the
 * deriving thread writes: derive from one lineage on one thread at a time.
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
/** The largest domain or group index (a selector keeps indexes in 30 bits). */
#define POLICY_INDEX_MAX ((1u << 30) - 1)

enum policy_sel_kind { SEL_ANY, SEL_DOMAIN, SEL_GROUP, SEL_LEVEL };

/** One side of a rule (12 bytes, no alignment: a rule packs two of them). */
struct policy_selector {
	unsigned kind : 2;      /* enum policy_sel_kind */
	unsigned index : 30;    /* domain or group index for SEL_DOMAIN / SEL_GROUP */
	uint32_t min, max;      /* SEL_LEVEL, inclusive; max = UINT32_MAX when open */
} __attribute__((packed));

/** A rule (46 bytes, no alignment: a million rules take 46 MB). */
struct policy_rule {
	int64_t id;             /* rules.id in the database */
	int64_t priority;
	struct policy_selector from, to;
	bool allow : 1;
	int64_t expires : 40;   /* seconds since the epoch, up to the year 9999; 0: never */
	bool dry_run : 1;       /* rules.mode 'dry-run': evaluated and reported, never applied */
} __attribute__((packed));

/** An SRV target of a domain, from the targets table (closed networks). */
struct policy_target {
	uint32_t domain;
	uint8_t service;    /* enum xmpp_service */
	uint16_t priority, weight, port;
	const uint8_t *host;           /* wire, lower-case; interned in the snapshot's name pool */
	const struct netaddr *addrs;   /* host addresses (prefix 32/128), in the name pool */
	size_t naddrs;
};

struct policy_domain {
	const char *name;      /* lower-case, no trailing dot; interned in the name pool */
	const uint8_t *wire;   /* the same name in wire format, lower-case */
	const uint32_t *groups; /* sorted group indexes, in the name pool */
	uint32_t level;
	uint32_t first_target, ntargets; /* range in policy.targets, set by policy_finish */
	uint32_t ngroups : 21;
	uint32_t enabled : 1;
	uint32_t require : 2;  /* enum policy_identity: the weakest identity accepted */
	uint32_t wire_len : 8;
};

/**
 * How a requester was identified, weakest first: a domain's require_identity
 * names the weakest it accepts (docs/identity.md).
 */
enum policy_identity { POLICY_ID_SOURCE = 0, POLICY_ID_CERT = 1, POLICY_ID_TSIG = 2 };

/** What a key of the identities table is: a TSIG key or a certificate name. */
enum policy_key_kind { POLICY_KEY_TSIG = 0, POLICY_KEY_CERT = 1 };

/** A TSIG key, or a name a client certificate carries, and the domain it identifies. */
struct policy_key {
	const uint8_t *name;    /* wire, lower case; in the name pool */
	const uint8_t *secret;  /* TSIG: the secret bytes, in the name pool; NULL for a certificate name */
	uint32_t domain;
	uint8_t kind;           /* enum policy_key_kind */
	uint8_t algorithm;      /* TSIG: enum tsig_algorithm (tsig.h) */
	uint8_t secret_len;     /* TSIG: 16 to 128 bytes */
};

struct prefixmap;
struct policy_state;

struct policy {
	uint64_t serial;
	struct policy_domain *domains;
	size_t ndomains, domains_cap;
	char **groups;      /* group names by index; "" for a group deleted since the last full build */
	size_t ngroups, groups_cap;
	struct policy_rule *rules; /* sorted by priority, then id */
	size_t nrules, rules_cap;
	size_t ndry_run;           /* rules in dry-run mode, counted by policy_finish */
	uint32_t *hash;     /* open addressing over domains by wire name (policy.c) */
	size_t hash_size;
	unsigned hash_bits; /* a slot: the domain index in these low bits, a tag above */
	struct prefixmap *cidrs;
	struct policy_target *targets; /* sorted by domain, service, priority, weight, host, port */
	size_t ntargets, targets_cap;
	struct policy_key *keys;   /* sorted by kind, then name, by policy_finish */
	size_t nkeys, keys_cap;
	/*
	 * Rules by their from side, as positions in rules[] (ascending), built by
	 * policy_finish: a decision walks only the rules that can match the
	 * requester (its domain, its groups, and the any/level rules). Domains
	 * and groups added after the index was built (from_ndomains,
	 * from_ngroups) are the from side of no rule.
	 */
	uint32_t *from_domain_off, *from_domain;  /* CSR: from_ndomains + 1 offsets */
	uint32_t *from_group_off, *from_group;    /* CSR: from_ngroups + 1 offsets */
	uint32_t *from_generic;                   /* from any or a level range */
	size_t nfrom_generic;
	/* target indexes sorted by host name (then domain name, service, priority, weight, port) */
	uint32_t *targets_by_host;
	size_t from_ndomains, from_ngroups;
	time_t *expiries;          /* the distinct rule expiry times, ascending */
	uint32_t *expiry_rules;    /* how many rules expire at each */
	size_t nexpiries;
	/*
	 * Domains deleted since the last full build: their slots stay (indexes
	 * are stable across derived snapshots) but no lookup finds them, no
	 * identity, rule or target names them, and they are disabled.
	 */
	size_t ndeleted;
	/* Where the database was when this snapshot was read (policydb.c). */
	int64_t audit_id;          /* the last audit row it includes */
	int64_t schema_cookie;     /* PRAGMA schema_version */
	struct policy_state *state; /* reference count, name pool, building state */
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
/** Another reference to p (any thread); returns p. */
struct policy *policy_ref(const struct policy *p);
/** Drop a reference; the last one frees the snapshot and the parts only it used. NULL is ignored. */
void policy_free(struct policy *p);

/* Building. Each returns the new index, or POLICY_NONE on error: no memory,
 * too many (POLICY_INDEX_MAX), or (domains) a text that is not a domain
 * name. Duplicates are not detected. */
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
/**
 * Bind a TSIG key (kind POLICY_KEY_TSIG: algorithm, secret of secret_len
 * bytes, 1 to 255) or a certificate name (POLICY_KEY_CERT: no secret) to a
 * domain. name: wire (any case). The name pool keeps copies. 0, or -1 (bad
 * index or length, no memory). A name bound twice is the database's to refuse.
 */
int policy_add_key(struct policy *p, enum policy_key_kind kind, const uint8_t *name,
                   uint32_t domain, int algorithm, const uint8_t *secret, size_t secret_len);
/** Set the weakest identity a domain accepts (enum policy_identity). 0, or -1 (bad index). */
int policy_set_domain_require(struct policy *p, uint32_t domain, enum policy_identity require);
/** Add an SRV target (service: enum xmpp_service). Returns its index or POLICY_NONE. */
uint32_t policy_add_target(struct policy *p, uint32_t domain, int service, uint16_t priority,
                           uint16_t weight, uint16_t port, const char *host);
/** Add an address (prefix 32 or 128) of a target's host. 0, or -1 (bad index, no memory). */
int policy_add_target_address(struct policy *p, uint32_t target, const struct netaddr *addr);
/**
 * Sort rules, group lists and targets and build the lookup tables (domain
 * hash, rule index, host index, expiry list), or bring them up to date after
 * edits of a derived snapshot. May be called again after more policy_add_*
 * or edit calls. 0, or -1 (no memory; the snapshot must then be freed).
 */
int policy_finish(struct policy *p);

/*
 * Deriving. policy_derive() makes an unfinished copy of a finished snapshot
 * that shares all of it; the edit calls and the policy_add_* calls change
 * the copy (a part is copied before its first change), policy_finish()
 * finishes it. Domains and groups keep their indexes; new ones get new
 * indexes. The caller keeps the copy consistent, as the database does: a
 * domain or group is removed only once no rule, membership, identity or
 * target names it. Each edit returns 0, or -1 (bad index, no memory).
 */
/** An unfinished copy of base (finished) with serial; NULL on no memory. */
struct policy *policy_derive(const struct policy *base, uint64_t serial);
/** Set a domain's level and enabled flag. */
int policy_set_domain(struct policy *p, uint32_t domain, uint32_t level, bool enabled);
/** Remove a domain: no lookup finds it any more; its slot stays (p->ndeleted). */
int policy_remove_domain(struct policy *p, uint32_t domain);
/** Remove a group: its name becomes "" and policy_find_group no longer finds it. */
int policy_remove_group(struct policy *p, uint32_t group);
/** Replace a domain's groups with groups[0..n) (any order, no duplicates). */
int policy_set_groups(struct policy *p, uint32_t domain, const uint32_t *groups, size_t n);
/** Unbind a prefix (exactly this prefix). Returns the domain it was bound to, or POLICY_NONE. */
uint32_t policy_remove_cidr(struct policy *p, const struct netaddr *prefix);
/** The domain bound to exactly this prefix, or POLICY_NONE. */
uint32_t policy_find_cidr(const struct policy *p, const struct netaddr *prefix);
/** Remove the rule with this id, if there is one (policy_finish rebuilds the rule array). */
int policy_remove_rule(struct policy *p, int64_t id);
/** Remove every target of a domain (policy_add_target adds the new ones). */
int policy_clear_targets(struct policy *p, uint32_t domain);
/**
 * Whether a new full build would be better than deriving again: the name
 * pool holds more garbage (names and lists of removed or changed entries)
 * than live data, or more than an eighth of the domain slots are deleted.
 */
bool policy_wants_rebuild(const struct policy *p);
/** Bytes the snapshot uses, its shared parts and its name pool counted in full (statistics). */
size_t policy_memory(const struct policy *p);

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

/**
 * The domain a name a client certificate carries stands for: a community
 * domain of that name, else the domain a certificate-name identity binds it
 * to (*bound true then; bound may be NULL), else POLICY_NONE.
 */
uint32_t policy_certificate_domain(const struct policy *p, const uint8_t *wire, bool *bound);

/** How many keys of that kind the snapshot holds. */
size_t policy_count_keys(const struct policy *p, enum policy_key_kind kind);

/** The key of that kind and wire name (any case), or NULL. */
const struct policy_key *policy_find_key(const struct policy *p, enum policy_key_kind kind,
                                         const uint8_t *wire);

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

/** The first rule expiry after now (a decision may change then), or 0 when none. */
time_t policy_next_expiry(const struct policy *p, time_t now);

/** Text form of a selector ("any", "domain:x", "group:g", "level:2-5", "level:>=3"). */
char *policy_selector_format(const struct policy *p, const struct policy_selector *sel,
                             char *buf, size_t len);

#endif
