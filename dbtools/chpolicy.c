/*
 * chpolicy.c -- the administration tool of the clearinghouse policy database:
 * main(), the global options, the command table, argument checking and help.
 *
 * Every subcommand is one row of ch_cmds[] (name, handler, usage, summary,
 * accepted options), so that argument checking and --help come from one place.
 * The handlers live in chpolicy_edit.c (changes) and chpolicy_report.c
 * (check, audit, serial, backup, verify); chpolicy.h is what they share.
 *
 * Exit codes: 0 success (check: allow), 1 check: deny / verify: warnings /
 * status: resolverd behind or failing, 2 usage error, 3 database or runtime
 * error (an edit refused by the schema or by resolverd's loader).
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "chpolicy.h"

/* Every option any command takes; ch_cmd.opts says which one accepts which. */
struct ch_optdef {
	const char *name;
	bool has_arg;
	size_t off;
	bool repeat;       /* each use appends to ch_args.address (the one list option) */
};

#define OPT_ARG(n, f)  { n, true, offsetof(struct ch_args, f), false }
#define OPT_FLAG(n, f) { n, false, offsetof(struct ch_args, f), false }
static const struct ch_optdef ch_optdefs[] = {
	OPT_ARG("level", level),
	OPT_ARG("note", note),
	OPT_ARG("from", from),
	OPT_ARG("to", to),
	OPT_ARG("priority", priority),
	OPT_ARG("expires", expires),
	OPT_ARG("since", since),
	OPT_ARG("service", service),
	OPT_ARG("weight", weight),
	OPT_ARG("port", port),
	OPT_ARG("out", out),
	OPT_ARG("config", config),
	OPT_ARG("format", format),
	OPT_ARG("requester", requester),
	OPT_ARG("peer", peer),
	OPT_ARG("decision", decision),
	OPT_ARG("valid-for", valid_for),
	OPT_ARG("sign", sign),
	OPT_ARG("pubkey", pubkey),
	OPT_ARG("sig", sig),
	OPT_ARG("apex", apex),
	OPT_ARG("at", at),
	OPT_ARG("ttl", ttl),
	OPT_ARG("zone-file", zone_file),
	OPT_ARG("sink-mode", sink_mode),
	OPT_ARG("sink-host", sink_host),
	OPT_ARG("sink-port", sink_port),
	OPT_ARG("ttl-cap", ttl_cap),
	OPT_ARG("require-mutual", require_mutual),
	OPT_ARG("unknown-peer", unknown_peer),
	OPT_ARG("police-domain-address", police_domain_address),
	OPT_ARG("tsig", tsig),
	OPT_ARG("algorithm", algorithm),
	OPT_ARG("secret-file", secret_file),
	OPT_ARG("cert", cert),
	OPT_ARG("require-identity", require_identity),
	OPT_ARG("as", as),
	{ "address", true, offsetof(struct ch_args, address), true },
	OPT_FLAG("disabled", disabled),
	OPT_FLAG("enable", enable),
	OPT_FLAG("disable", disable),
	OPT_FLAG("allow", allow),
	OPT_FLAG("deny", deny),
	OPT_FLAG("all", all),
	OPT_FLAG("no-mutual", no_mutual),
	OPT_FLAG("dry-run", dry_run),
	OPT_FLAG("enforce", enforce),
	OPT_FLAG("generate", generate),
};

/* ------------------------------------------------------------ the table */

/* The settings of resolverd that shape a view, as flags named like its keywords. */
#define SETTINGS_OPTS "config zone-file sink-mode sink-host sink-port ttl-cap require-mutual " \
	"unknown-peer police-domain-address no-mutual"
#define SETTINGS_HELP \
	"SETTINGS: resolverd's, from --config FILE (resolverd.conf), then flags named\n" \
	"as its keywords: --sink-mode, --sink-host, --sink-port, --ttl-cap,\n" \
	"--require-mutual yes|no, --unknown-peer, --police-domain-address yes|no,\n" \
	"--zone-file (the sink host's addresses; required without --config).\n"

static const struct ch_cmd ch_cmds[] = {
	{ "init", ch_cmd_init, "", "create a new policy database (WAL mode)", "", 0, 0, DB_NONE,
	  "Creates the database named by --db from the schema built into chpolicy.\n"
	  "Refuses a file that exists and is not empty. The file gets no permission for\n"
	  "other users (it may hold TSIG secrets): 0640 with the usual umask.\n" },
	{ "domain add", ch_cmd_domain_add,
	  "NAME [--level N] [--disabled] [--require-identity source|cert|tsig] [--note TEXT]",
	  "add a community domain", "level disabled require-identity note", 1, 1, DB_WRITE,
	  "  --level N     clearance level, an integer >= 0 (default 0)\n"
	  "  --disabled    add it disabled: no rule allows it, either way\n"
	  "  --require-identity source|cert|tsig\n"
	  "                the weakest identity resolverd accepts for it (default source):\n"
	  "                cert needs a client certificate or a TSIG key, tsig a TSIG key;\n"
	  "                a weaker query from the domain is REFUSED\n"
	  "  --note TEXT   free text\n"
	  "NAME is stored lower-case, without a trailing dot; a Unicode name (UTF-8)\n"
	  "is stored as its A-labels (bücher.example -> xn--bcher-kva.example).\n" },
	{ "domain list", ch_cmd_domain_list, "", "list domains with level, groups and identities", "",
	  0, 0, DB_READ, NULL },
	{ "domain set", ch_cmd_domain_set,
	  "NAME [--level N] [--enable|--disable] [--require-identity source|cert|tsig] [--note TEXT]",
	  "change a domain's level, state, required identity or note",
	  "level enable disable require-identity note", 1, 1, DB_WRITE,
	  "  --level N     new clearance level\n"
	  "  --enable      enable it\n"
	  "  --disable     disable it: every decision to or from it is deny\n"
	  "  --require-identity source|cert|tsig\n"
	  "                the weakest identity resolverd accepts for it (see domain add)\n"
	  "  --note TEXT   replace the note\n" },
	{ "domain remove", ch_cmd_domain_remove, "NAME",
	  "remove a domain (with its memberships and identities)", "", 1, 1, DB_WRITE,
	  "Refused while a rule names the domain: remove or change the rule first.\n" },
	{ "group add", ch_cmd_group_add, "NAME [--note TEXT]", "add a group", "note", 1, 1, DB_WRITE,
	  "Group names: lower-case letters, digits and : . _ - (e.g. finance, auth:smartcard).\n" },
	{ "group list", ch_cmd_group_list, "", "list groups, member counts and the rules naming them",
	  "", 0, 0, DB_READ, NULL },
	{ "group remove", ch_cmd_group_remove, "NAME", "remove a group (and its memberships)", "", 1, 1,
	  DB_WRITE, "Refused while a rule names the group.\n" },
	{ "member add", ch_cmd_member_add, "DOMAIN GROUP", "put a domain into a group", "", 2, 2,
	  DB_WRITE, NULL },
	{ "member remove", ch_cmd_member_remove, "DOMAIN GROUP", "take a domain out of a group", "", 2,
	  2, DB_WRITE, NULL },
	{ "member list", ch_cmd_member_list, "[GROUP]", "list memberships (of one group)", "", 0, 1,
	  DB_READ, NULL },
	{ "identity add", ch_cmd_identity_add,
	  "DOMAIN (CIDR | --tsig NAME [--algorithm A] (--secret-file F | --generate) | --cert NAME)"
	  " [--note TEXT]",
	  "bind a source prefix, a TSIG key or a certificate name to a domain",
	  "note tsig algorithm secret-file generate cert", 1, 2, DB_WRITE,
	  "CIDR is an IPv4 or IPv6 prefix or a bare address (a host prefix). It is stored\n"
	  "in canonical form: host bits cleared, compressed lower-case IPv6 (RFC 5952),\n"
	  "an IPv4-mapped IPv6 prefix as the IPv4 prefix it maps (10.1.2.3/8 ->\n"
	  "10.0.0.0/8, 127.0.0.2 -> 127.0.0.2/32, ::ffff:127.0.0.5 -> 127.0.0.5/32).\n"
	  "A prefix belongs to one domain; resolverd picks the longest matching prefix.\n"
	  "  --tsig NAME         a TSIG key (RFC 8945): a query signed with it comes from\n"
	  "                      DOMAIN, whatever its address; the answer is signed\n"
	  "  --algorithm A       hmac-sha256 (default), hmac-sha384 or hmac-sha512\n"
	  "  --secret-file F     F holds the base64 secret, as dig -y takes it\n"
	  "  --generate          make a random secret (as long as the MAC) and print it once\n"
	  "  --cert NAME         a client certificate naming NAME (dNSName, XMPP SRV-ID,\n"
	  "                      XmppAddr) speaks for DOMAIN; a certificate naming a\n"
	  "                      community domain speaks for it without this\n"
	  "A TSIG key is refused while the database file is readable by other users.\n"
	  "The audit log records that a secret was set, never the secret.\n" },
	{ "identity list", ch_cmd_identity_list, "[DOMAIN]",
	  "list identities (prefixes, TSIG keys, certificate names) of every or one domain", "", 0,
	  1, DB_READ, "Secrets are never shown: a TSIG key is listed with its algorithm.\n" },
	{ "identity remove", ch_cmd_identity_remove, "CIDR | --tsig NAME | --cert NAME",
	  "remove a source prefix, a TSIG key or a certificate name", "tsig cert", 0, 1,
	  DB_WRITE, "CIDR is canonicalised first, so 10.1.2.3/8 removes 10.0.0.0/8.\n" },
	{ "rule add", ch_cmd_rule_add,
	  "--from SEL --to SEL (--allow|--deny) [--priority N] [--expires TIME] [--note TEXT] [--dry-run]",
	  "add a rule; prints its id", "from to allow deny priority expires note dry-run", 0, 0, DB_WRITE,
	  "  --from SEL      the requesters the rule applies to\n"
	  "  --to SEL        the peers they look up\n"
	  "  --allow/--deny  the action\n"
	  "  --priority N    lower numbers are tried first (default 100); ties by id\n"
	  "  --expires TIME  'YYYY-MM-DD HH:MM:SS' (UTC) or +N[s|m|h|d|w] from now\n"
	  "  --note TEXT     free text\n"
	  "  --dry-run       evaluate and report the rule, never apply it (chpolicy check\n"
	  "                  and resolverd's log say what it would change); enforce it\n"
	  "                  later with chpolicy rule set ID --enforce\n"
	  "SEL is one of:\n"
	  "  any            every domain\n"
	  "  domain:NAME    one domain\n"
	  "  group:NAME     the members of a group\n"
	  "  level:N        domains of level N\n"
	  "  level:N-M      levels N to M (inclusive)\n"
	  "  level:>=N      level N and above\n"
	  "  level:<=N      level N and below\n"
	  "The first unexpired matching rule decides; no match means deny.\n" },
	{ "target add", ch_cmd_target_add,
	  "DOMAIN HOST [--service S] [--priority N] [--weight N] [--port N] [--address ADDR ...]",
	  "add an SRV target of a closed-network domain", "service priority weight port address", 2, 2,
	  DB_WRITE,
	  "  --service S     xmpp-server (default), xmpps-server or jabber\n"
	  "  --priority N    SRV priority, 0-65535 (default 0)\n"
	  "  --weight N      SRV weight, 0-65535 (default 0)\n"
	  "  --port N        SRV port, 1-65535 (default 5269)\n"
	  "  --address ADDR  an IPv4 or IPv6 address of HOST (repeatable); given for a\n"
	  "                  target that exists, only the addresses are added\n"
	  "resolverd answers the domain's SRV lookups from its targets, never upstream,\n"
	  "with the hosts' addresses. HOST . means the service is not available\n"
	  "(RFC 2782): answered as SRV 0 0 0 ., the only target of its service.\n" },
	{ "target list", ch_cmd_target_list, "[DOMAIN]", "list targets and their addresses", "", 0, 1,
	  DB_READ, NULL },
	{ "target remove", ch_cmd_target_remove, "DOMAIN HOST [--service S]",
	  "remove a target (every port; every service without --service)", "service", 2, 2, DB_WRITE,
	  "The host's addresses go with the last target that names the host.\n" },
	{ "rule list", ch_cmd_rule_list, "", "list rules in evaluation order", "", 0, 0, DB_READ, NULL },
	{ "rule set", ch_cmd_rule_set, "ID (--enforce|--dry-run)", "enforce a rule or put it in dry-run mode",
	  "enforce dry-run", 1, 1, DB_WRITE,
	  "  --enforce   the rule decides (the default mode of a new rule)\n"
	  "  --dry-run   the rule is evaluated and reported, never applied\n"
	  "The change is audited like every edit and reaches resolverd at once.\n" },
	{ "rule remove", ch_cmd_rule_remove, "ID", "remove a rule", "", 1, 1, DB_WRITE, NULL },
	{ "check", ch_cmd_check, "(R | --as tsig:NAME | --as cert:FILE) P [--all] [--no-mutual]",
	  "decide R -> P as resolverd would, and say which rule decided", "all no-mutual as", 1, 2,
	  DB_READ,
	  "  --all         also list every rule matching R -> P and P -> R, in order;\n"
	  "                * marks the one that decided\n"
	  "  --no-mutual   decide without requiring P -> R (resolverd: require-mutual: no)\n"
	  "  --as tsig:NAME  the requester a query signed with TSIG key NAME is\n"
	  "  --as cert:FILE  the requester the client certificate in FILE (PEM) names;\n"
	  "                  its chain is not verified here (resolverd checks it against\n"
	  "                  tls-client-ca)\n"
	  "R is a domain or a source address (identified by the longest matching prefix).\n"
	  "A requester identified more weakly than its domain's require-identity is\n"
	  "REFUSED by resolverd, and check says deny.\n"
	  "Exit status: 0 allow, 1 deny, 2 unknown R or P.\n" },
	{ "audit", ch_cmd_audit, "[--since SERIAL]", "print the change log", "since", 0, 0, DB_READ,
	  "  --since SERIAL   only changes after that serial\n"
	  "Columns: serial, time (UTC), actor, table, operation, old row -> new row (JSON).\n" },
	{ "serial", ch_cmd_serial, "", "print the policy serial", "", 0, 0, DB_READ, NULL },
	{ "backup", ch_cmd_backup, "FILE", "write a consistent copy (safe while resolverd runs)", "", 1,
	  1, DB_READ, "Uses SQLite's online backup API. Refuses to overwrite an existing FILE.\n" },
	{ "restore", ch_cmd_restore, "FILE",
	  "load a database file into the live one (safe while resolverd runs)", "", 1, 1, DB_NONE,
	  "Copies FILE into the database with SQLite's online backup API, in one commit,\n"
	  "after checking that FILE has this chpolicy's schema and that resolverd can load\n"
	  "it. The change log keeps its rows and records the restore; the serial goes up,\n"
	  "so resolverd loads it at once. Never replace the file of a live database (mv,\n"
	  "cp): resolverd refuses a replaced file. Works on a damaged live database too.\n" },
	{ "status", ch_cmd_status, "", "what resolverd serves: its serial and last reload error", "", 0,
	  0, DB_NONE,
	  "Reads resolverd's status file (DATABASE-status) and the database's serial;\n"
	  "at a site fed by zone transfer also DATABASE-xfr-status (policy-source xfr).\n"
	  "Exit status: 0 resolverd serves the database's serial, 1 it serves an older one\n"
	  "or its last reload failed (or its last policy transfer), 3 no status file or the\n"
	  "resolverd that wrote it is gone.\n" },
	{ "verify", ch_cmd_verify, "[--no-mutual]", "check integrity and lint the policy", "no-mutual",
	  0, 0, DB_READ,
	  "Runs PRAGMA integrity_check and quick_check, checks the schema version and that\n"
	  "every table, index and trigger of the schema is present and unchanged, then\n"
	  "warns about expired rules, shadowed rules, groups named by rules but without\n"
	  "members, level selectors that match no domain, identities not in canonical\n"
	  "form, TSIG secrets in a file every user may read,\n"
	  "target hosts without an address, domains without identity and domains\n"
	  "nobody may reach (with mutual consent unless --no-mutual).\n"
	  "Exit status: 0 clean, 1 warnings only, 3 integrity or schema error.\n" },
	{ "export view", ch_cmd_export_view, "R [--out FILE] [SETTINGS]",
	  "requester R's view as a Response Policy Zone", SETTINGS_OPTS " out ttl", 1, 1, DB_READ,
	  "What resolverd answers requester R (a domain) for every peer's XMPP service\n"
	  "names, names and target hosts, as a master-format zone that is a valid RPZ:\n"
	  "CNAME rpz-passthru. where allowed, the sink where denied, a comment naming the\n"
	  "rule behind each entry, and a header with the settings and what RPZ cannot say.\n"
	  "  --out FILE     write FILE (whole or not at all) instead of standard output\n"
	  "  --ttl N        TTL of every record (default and at most ttl-cap)\n"
	  SETTINGS_HELP },
	{ "export views", ch_cmd_export_views, "DIR [SETTINGS]",
	  "every requester's view, with unbound.conf and named.conf fragments", SETTINGS_OPTS " ttl", 1,
	  1, DB_READ,
	  "Writes DIR/DOMAIN.rpz for every domain, DIR/unbound.conf (a tag per requester,\n"
	  "its identities tagged, one rpz: clause per zone) and DIR/named.conf (one view\n"
	  "per requester with its response-policy zone).\n" SETTINGS_HELP },
	{ "export matrix", ch_cmd_export_matrix,
	  "[--format csv|json] [--requester R] [--peer P] [--decision allow|deny] [--out FILE]",
	  "every (requester, peer) decision with its rule and reason",
	  "format requester peer decision out config no-mutual require-mutual", 0, 0, DB_READ,
	  "One line per (requester, peer), sorted by requester then peer: CSV with a\n"
	  "header line (default) or JSON Lines (--format json). Streams: memory does not\n"
	  "grow with the rows. --config FILE / --require-mutual yes|no / --no-mutual:\n"
	  "decide as resolverd with that setting (default: require-mutual yes).\n" },
	{ "export table", ch_cmd_export_table,
	  "[--format json|csv|zone] [--out FILE] [--valid-for DURATION] [--apex NAME] [--sign KEYFILE]",
	  "the signed lookup table of every domain (policy push)", "format out valid-for apex sign", 0,
	  0, DB_READ,
	  "Every domain with its level, enabled flag and groups, the serial, the time\n"
	  "made and the validity end (--valid-for, default 30d). --sign KEYFILE (PEM\n"
	  "Ed25519, from chpolicy keygen) also writes FILE.sig: base64 of the Ed25519\n"
	  "signature over FILE's exact bytes. The format is in docs/chpolicy.md.\n" },
	{ "export zone", ch_cmd_export_zone, "--apex NAME [--out FILE]",
	  "the whole policy as a DNS zone for secondaries (policy-source xfr)", "apex out", 0, 0,
	  DB_READ,
	  "Every domain, group, membership, identity (never a secret), rule and target\n"
	  "with its addresses as one TXT record per row under <hash>.<table>.NAME, a\n"
	  "_meta.NAME record with the count per table and a SHA-256 digest, and the SOA\n"
	  "whose serial is the policy serial: one edit changes only the records of the\n"
	  "rows it touched, so an IXFR carries only the change. The encoding is in\n"
	  "docs/policy-zone.md.\n"
	  "  --apex NAME    the zone's name (required)\n"
	  "  --out FILE     write FILE (whole or not at all) instead of standard output\n" },
	{ "keygen", ch_cmd_keygen, "--out PREFIX", "make an Ed25519 key pair for export table --sign",
	  "out", 0, 0, DB_NONE,
	  "Writes PREFIX.key (PKCS#8 PEM, mode 0600) and PREFIX.pub (PEM public key);\n"
	  "never overwrites.\n" },
	{ "verify-table", ch_cmd_verify_table, "FILE --pubkey PEMFILE [--sig SIGFILE]",
	  "check a policy table's signature and validity", "pubkey sig", 1, 1, DB_NONE,
	  "The signature is read from FILE.sig unless --sig is given.\n"
	  "Exit status: 0 good signature and valid now, 1 good signature but expired,\n"
	  "2 usage error, 3 bad signature, missing file or key, or not a policy table.\n" },
	{ "diff", ch_cmd_diff, "A B [--at TIME] [--no-mutual] [--config FILE]",
	  "the (requester, peer) decisions that differ between two serials or two matrix exports",
	  "at no-mutual config require-mutual", 2, 2, DB_READ,
	  "A and B are serials (the policy at each is rebuilt from the change log) or\n"
	  "files written by export matrix (CSV or JSON Lines). Lists each pair whose\n"
	  "decision differs, with the rule behind each side. Serials are decided at\n"
	  "--at TIME (default now), so that only edits show.\n"
	  "Exit status: 0 no difference, 1 differences, 2 usage, 3 error.\n" },
	{ "rebuild", ch_cmd_rebuild, "SERIAL FILE", "write the policy as it was at SERIAL, from the change log",
	  "", 2, 2, DB_READ,
	  "FILE (new) gets the policy tables as they were at SERIAL, rebuilt from the\n"
	  "audit table, with the built-in schema and an empty change log. TSIG keys are\n"
	  "left out: the change log never holds their secrets.\n" },
};

#define CH_NCMDS (sizeof(ch_cmds) / sizeof(ch_cmds[0]))

/* ------------------------------------------------------------ help, main */

static void
help_main(FILE *f)
{
	fputs("usage: chpolicy [--db PATH] [--actor NAME] COMMAND [ARGS]\n"
	      "\n"
	      "Edit, check and audit the XMPP federation clearinghouse policy database.\n"
	      "\n"
	      "Options (also accepted after the command):\n"
	      "  --db PATH      the policy database (default: $CHPOLICY_DB)\n"
	      "  --actor NAME   who makes the change, for the audit log\n"
	      "                 (default: chpolicy:<user>)\n"
	      "  -h, --help     this help; COMMAND --help describes COMMAND\n"
	      "\n"
	      "Commands:\n", f);
	for (size_t i = 0; i < CH_NCMDS; i++)
		fprintf(f, "  %-16s %s\n", ch_cmds[i].name, ch_cmds[i].summary);
	fputs("\n"
	      "Exit status:\n"
	      "  0  success; check: allow; verify: clean; status: in sync; diff: no\n"
	      "     difference; verify-table: good signature, valid now\n"
	      "  1  check: deny; verify: warnings only; status: resolverd serves an older\n"
	      "     serial or its last reload failed; diff: differences; verify-table:\n"
	      "     good signature, but expired\n"
	      "  2  usage error: bad or missing argument, unknown command, an unknown\n"
	      "     domain in check or an export\n"
	      "  3  database or runtime error: refused edit (by the schema, or because\n"
	      "     resolverd could not load the result), missing database, integrity error;\n"
	      "     status: no resolverd status, or its resolverd is gone; an export that\n"
	      "     could not be written (nothing half-written is left); verify-table: a\n"
	      "     bad signature or a missing key\n"
	      "\n"
	      "Environment:\n"
	      "  CHPOLICY_DB    the database, when --db is not given\n", f);
}

static void
help_cmd(const struct ch_cmd *cmd, FILE *f)
{
	fprintf(f, "usage: chpolicy [--db PATH] [--actor NAME] %s%s%s\n\n%c%s.\n", cmd->name,
	        *cmd->usage ? " " : "", cmd->usage, toupper((unsigned char)cmd->summary[0]),
	        cmd->summary + 1);
	if (cmd->help)
		fprintf(f, "\n%s", cmd->help);
}

/*
 * The subcommands whose first word is word ("domain" -> "add, list, set,
 * remove") into buf; false when word names no family.
 */
static bool
cmd_family(const char *word, char *buf, size_t len)
{
	size_t wlen = strlen(word), used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < CH_NCMDS; i++) {
		const char *name = ch_cmds[i].name;
		if (strncmp(name, word, wlen) == 0 && name[wlen] == ' ') {
			int n = snprintf(buf + used, len - used, "%s%s", used ? ", " : "", name + wlen + 1);
			if (n < 0 || (size_t)n >= len - used)
				break;
			used += (size_t)n;
		}
	}
	return used > 0;
}

/* "chpolicy domain --help": the synopsis of each command of the family. */
static void
help_family(const char *word, FILE *f)
{
	size_t wlen = strlen(word);

	fprintf(f, "usage:\n");
	for (size_t i = 0; i < CH_NCMDS; i++)
		if (strncmp(ch_cmds[i].name, word, wlen) == 0 && ch_cmds[i].name[wlen] == ' ')
			fprintf(f, "  chpolicy %s%s%s\n", ch_cmds[i].name, *ch_cmds[i].usage ? " " : "",
			        ch_cmds[i].usage);
	fprintf(f, "\nRun 'chpolicy %s SUBCOMMAND --help' for details.\n", word);
}

/* Match one or two words of argv against the table; *used says how many. */
static const struct ch_cmd *
cmd_find(int argc, char **argv, int *used)
{
	for (size_t i = 0; i < CH_NCMDS; i++) {
		const char *name = ch_cmds[i].name, *sp = strchr(name, ' ');
		if (!sp && strcmp(name, argv[0]) == 0) {
			*used = 1;
			return &ch_cmds[i];
		}
		if (sp && argc >= 2 && strlen(argv[0]) == (size_t)(sp - name) &&
		    strncmp(name, argv[0], (size_t)(sp - name)) == 0 && strcmp(sp + 1, argv[1]) == 0) {
			*used = 2;
			return &ch_cmds[i];
		}
	}
	return NULL;
}

/* Whether the option name (without "--") is in a space-separated list. */
static bool
opt_allowed(const char *list, const char *name, size_t len)
{
	for (const char *s = list; *s;) {
		const char *e = strchr(s, ' ');
		size_t n = e ? (size_t)(e - s) : strlen(s);
		if (n == len && strncmp(s, name, len) == 0)
			return true;
		s += n;
		while (*s == ' ')
			s++;
	}
	return false;
}

/*
 * A global option (--db, --actor) at argv[*i]: 1 if consumed (and *i moved
 * past its argument), 0 if not a global option, CH_USAGE on a missing argument.
 */
static int
opt_global(struct ch_ctx *c, int argc, char **argv, int *i)
{
	static const char *names[] = { "--db", "--actor" };
	const char **dest[] = { &c->db_path, &c->actor };

	for (int k = 0; k < 2; k++) {
		size_t n = strlen(names[k]);
		if (strncmp(argv[*i], names[k], n) != 0)
			continue;
		if (argv[*i][n] == '=') {
			*dest[k] = argv[*i] + n + 1;
			return 1;
		}
		if (argv[*i][n] != '\0')
			continue;
		if (*i + 1 >= argc)
			return ch_usage(c, "%s needs an argument", names[k]);
		*dest[k] = argv[++*i];
		return 1;
	}
	return 0;
}

/* Fill a from argv (the words after the command name) against cmd's option list. */
static int
args_parse(struct ch_ctx *c, int argc, char **argv, struct ch_args *a)
{
	const struct ch_cmd *cmd = c->cmd;
	bool dashdash = false;

	for (int i = 0; i < argc; i++) {
		const char *s = argv[i];
		if (!dashdash && strcmp(s, "--") == 0) {
			dashdash = true;
			continue;
		}
		if (!dashdash && s[0] == '-' && s[1] != '\0') {
			if (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0) {
				help_cmd(cmd, stdout);
				return CH_HELP;
			}
			int g = opt_global(c, argc, argv, &i);
			if (g == 1)
				continue;
			if (g != 0)
				return g;
			const char *name = s + 2, *eq = strchr(s, '=');
			size_t len = eq ? (size_t)(eq - name) : strlen(name);
			const struct ch_optdef *o = NULL;
			if (s[1] == '-' && opt_allowed(cmd->opts, name, len)) {
				for (size_t k = 0; k < sizeof(ch_optdefs) / sizeof(ch_optdefs[0]); k++)
					if (strlen(ch_optdefs[k].name) == len &&
					    strncmp(ch_optdefs[k].name, name, len) == 0)
						o = &ch_optdefs[k];
			}
			if (!o)
				return ch_usage(c, "unknown option '%s'%s", s, s[1] != '-'
				                ? " (put -- before an argument that starts with '-')" : "");
			if (o->has_arg) {
				const char *val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
				if (!val)
					return ch_usage(c, "--%s needs an argument", o->name);
				if (o->repeat && a->naddress >= CH_MAXADDR)
					return ch_usage(c, "--%s: at most %d", o->name, CH_MAXADDR);
				if (o->repeat)
					a->address[a->naddress++] = val;
				else
					*(const char **)((char *)a + o->off) = val;
			} else {
				if (eq)
					return ch_usage(c, "--%s takes no argument", o->name);
				*(bool *)((char *)a + o->off) = true;
			}
			continue;
		}
		if (a->npos >= cmd->max_pos)
			return ch_usage(c, "unexpected argument '%s'", s);
		a->pos[a->npos++] = s;
	}
	if (a->npos < cmd->min_pos)
		return ch_usage(c, "missing argument");
	return CH_OK;
}

int
main(int argc, char **argv)
{
	struct ch_ctx c = { 0 };
	struct ch_args a;
	int i = 1, used = 0, rc;

	memset(&a, 0, sizeof(a));
	c.db_path = getenv("CHPOLICY_DB");
	if (c.db_path && !*c.db_path)
		c.db_path = NULL;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			help_main(stdout);
			return CH_OK;
		}
		if (strcmp(argv[i], "--version") == 0) {
			printf("chpolicy (%s)\n", PACKAGE_STRING);
			return CH_OK;
		}
		rc = opt_global(&c, argc, argv, &i);
		if (rc == 0)
			return ch_usage(&c, "unknown option '%s'", argv[i]);
		if (rc != 1)
			return rc;
	}
	if (i >= argc)
		return ch_usage(&c, "no command given");
	if (strcmp(argv[i], "help") == 0) {
		if (i + 1 >= argc) {
			help_main(stdout);
			return CH_OK;
		}
		const struct ch_cmd *hc = cmd_find(argc - i - 1, argv + i + 1, &used);
		char fam[256];
		if (hc)
			help_cmd(hc, stdout);
		else if (cmd_family(argv[i + 1], fam, sizeof(fam)))
			help_family(argv[i + 1], stdout);
		else
			return ch_usage(&c, "unknown command '%s'", argv[i + 1]);
		return CH_OK;
	}
	c.cmd = cmd_find(argc - i, argv + i, &used);
	if (!c.cmd) {
		/* "chpolicy domain" or "chpolicy domain --help": that family's commands */
		char fam[256];
		if (!cmd_family(argv[i], fam, sizeof(fam)))
			return ch_usage(&c, "unknown command '%s'", argv[i]);
		if (i + 1 < argc && (strcmp(argv[i + 1], "--help") == 0 || strcmp(argv[i + 1], "-h") == 0)) {
			help_family(argv[i], stdout);
			return CH_OK;
		}
		if (i + 1 < argc)
			return ch_usage(&c, "%s: unknown subcommand '%s' (one of: %s)", argv[i], argv[i + 1],
			                fam);
		return ch_usage(&c, "%s: subcommand missing (one of: %s)", argv[i], fam);
	}
	rc = args_parse(&c, argc - i - used, argv + i + used, &a);
	if (rc != CH_OK)
		return rc == CH_HELP ? CH_OK : rc;
	/* keys and tables need no database */
	bool no_db = c.cmd->run == ch_cmd_keygen || c.cmd->run == ch_cmd_verify_table;
	if (!c.db_path && !no_db)
		return ch_usage(&c, "no database: give --db PATH or set CHPOLICY_DB");
	if (c.cmd->access != DB_NONE) {
		rc = ch_db_open(&c, c.cmd->access == DB_WRITE, c.cmd->run != ch_cmd_verify);
		if (rc != CH_OK) {
			sqlite3_close(c.db);
			return rc;
		}
	}
	rc = c.cmd->run(&c, &a);
	if (c.db && sqlite3_close(c.db) != SQLITE_OK && rc == CH_OK)
		rc = ch_error(&c, CH_FAIL, "close: %s", sqlite3_errmsg(c.db));
	if (fflush(stdout) != 0 && rc == CH_OK)
		rc = ch_error(&c, CH_FAIL, "stdout: %s", strerror(errno));
	return rc;
}
