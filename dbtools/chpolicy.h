/*
 * chpolicy.h -- what the parts of chpolicy share: the context of one run,
 * the command table's row, exit codes, and the helpers for errors, parsing,
 * table output and the database.
 *
 * chpolicy.c          main(), global options, the command table, help
 * chpolicy_util.c     errors, integers and times, names, aligned tables, opening the database
 * chpolicy_edit.c     init and the editing commands (domain, group, member,
 *                     identity, rule, target), each edit in one audited
 *                     transaction that commits only a policy resolverd loads;
 *                     restore
 * chpolicy_report.c   check, audit, serial, backup, verify, status
 *
 * Every command handler reports its own errors on stderr (one line, through
 * ch_error or ch_usage) and returns one of the exit codes below.
 */
#ifndef CHPOLICY_H
#define CHPOLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <sqlite3.h>

/** The text of schema.sql, generated into dbtools/schema_sql.c by make. */
extern const char policydb_schema_sql[];

/** Exit codes of chpolicy, and what every handler and helper returns. */
enum {
	CH_OK = 0,      /* success; check: allow; verify: clean */
	CH_NO = 1,      /* check: deny; verify: lint warnings only */
	CH_USAGE = 2,   /* bad or missing argument, unknown command */
	CH_FAIL = 3,    /* database or runtime error, refused edit, no resolverd status */
	CH_HELP = -1    /* internal: help was printed, exit 0 */
};

/** What a command needs opened before it runs. */
enum ch_access { DB_NONE, DB_READ, DB_WRITE };

/** The most positional arguments any command takes. */
#define CH_MAXPOS 4
/** The most --address options target add takes. */
#define CH_MAXADDR 16
/** How long a command waits for another writer's lock, in milliseconds. */
#define CH_BUSY_MS 5000

/**
 * Parsed arguments of one command; options not given stay NULL / false.
 * The strings point into argv: not owned, valid for the whole run.
 */
struct ch_args {
	const char *pos[CH_MAXPOS];
	int npos;
	const char *level, *note, *from, *to, *priority, *expires, *since, *service, *weight, *port;
	/* exports, keys, diff */
	const char *out, *config, *format, *requester, *peer, *decision, *valid_for, *sign, *pubkey,
	           *sig, *apex, *at, *ttl, *zone_file, *sink_mode, *sink_host, *sink_port, *ttl_cap,
	           *require_mutual, *unknown_peer, *police_domain_address;
	/* identities: TSIG keys, certificate names, the identity a domain requires */
	const char *tsig, *algorithm, *secret_file, *cert, *require_identity, *as;
	const char *address[CH_MAXADDR];
	int naddress;
	bool disabled, enable, disable, allow, deny, all, no_mutual, dry_run, enforce, generate;
};

struct ch_ctx;

/** One subcommand: a row of the command table in chpolicy.c (static data). */
struct ch_cmd {
	const char *name;       /* one or two words: "serial", "rule add" */
	int (*run)(struct ch_ctx *c, const struct ch_args *a);
	const char *usage;      /* arguments after the name */
	const char *summary;    /* one line for the command list */
	const char *opts;       /* accepted options, space separated, without "--" */
	int min_pos, max_pos;
	enum ch_access access;
	const char *help;       /* details for COMMAND --help, or NULL */
};

/**
 * The state of one run. db_path and actor point into argv or the
 * environment (not owned); cmd is NULL until a command is found (errors then
 * name no command); db is opened by main() as cmd->access asks (by
 * ch_cmd_init itself for init) and closed by main() after the handler.
 */
struct ch_ctx {
	const char *db_path;
	const char *actor;
	const struct ch_cmd *cmd;
	sqlite3 *db;
};

/* ------------------------------------------------------------ errors */

/**
 * Print one line on stderr: "chpolicy: <command>: <what>" (printf format).
 * c may be NULL. Returns code, so that a handler can "return ch_error(...)".
 */
int ch_error(const struct ch_ctx *c, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/**
 * Print a usage error like ch_error, followed on the same line by the
 * command's synopsis (or a pointer to --help when no command is known yet).
 * Returns CH_USAGE.
 */
int ch_usage(const struct ch_ctx *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/**
 * Report c->db's last SQLite error with sqlite3_errmsg(); a duplicate
 * primary or unique key gets "(already exists)". Returns CH_FAIL.
 */
int ch_dberror(const struct ch_ctx *c);

/* ------------------------------------------------------------ parsing, time */

/**
 * Parse a strict decimal integer: optional sign, digits, nothing else (no
 * leading space, no trailing junk, no overflow). Returns 0 with *out set, or
 * -1 with *out untouched. s may be NULL (-1).
 */
int ch_parse_int64(const char *s, int64_t *out);

/**
 * Format t as 'YYYY-MM-DD HH:MM:SS' in UTC, the form SQLite's datetime()
 * produces, into buf (at least 20 bytes); "?" if it cannot. Returns buf.
 */
char *ch_fmt_time(time_t t, char *buf, size_t len);

/* ------------------------------------------------------------ names */

/**
 * A domain or host name argument (what: "DOMAIN", "--from", ...) as the
 * database stores it: a Unicode name becomes A-labels (libidn2, IDNA2008
 * with UTS #46 non-transitional processing), escapes of the presentation
 * format (\. \\ \DDD) are read, upper case is lowered and a trailing dot
 * dropped. root_ok: "." (a target host meaning "no service") is accepted.
 * Whether the result is a valid name is left to the database, whose message
 * then speaks. Returns a malloced name (caller frees), or NULL with a usage
 * error reported (CH_USAGE): a name libidn2 cannot convert, an empty
 * label, or a label holding a dot or a byte outside 0x21-0x7e, which no
 * name here can hold (the error shows it escaped: alpha\.test). Exits with
 * CH_FAIL when out of memory. Main thread.
 */
char *ch_name_arg(const struct ch_ctx *c, const char *what, const char *text, bool root_ok);

/**
 * A TSIG key name or certificate name argument: ch_name_arg, and a name the
 * schema stores (policydb_valid_name), so that a bad one is a usage error
 * with a reason, not the schema's CHECK message. Malloced, or NULL after a
 * usage error was printed.
 */
char *ch_key_name_arg(const struct ch_ctx *c, const char *what, const char *text);

/**
 * Whether the database at path (and its -wal and -shm, when they exist) is
 * private enough to hold TSIG secrets: no permission for other users.
 * CH_OK, or CH_FAIL with the error printed (the file and the chmod to run).
 */
int ch_db_private(struct ch_ctx *c, const char *path);

/**
 * Whether the database is a site's replica (resolverd's policy-source xfr
 * writes DATABASE-xfr-status beside it): CH_OK when it is not, else CH_FAIL
 * with the error printed. Edits belong on the primary.
 */
int ch_db_replica(struct ch_ctx *c);

/**
 * name (from the database: A-labels) for output: the name itself, followed
 * by its Unicode form in parentheses when it has an A-label that libidn2
 * can convert ("xn--bcher-kva.test (bücher.test)"). Into buf (len bytes);
 * returns buf.
 */
char *ch_name_show(const char *name, char *buf, size_t len);

/* ------------------------------------------------------------ table output */

/**
 * Rows of text cells, printed with aligned columns (the last one unpadded).
 * Start with { .ncols = N } (at most 16 columns are aligned); cells are
 * malloced copies, freed by ch_table_free.
 */
struct ch_table {
	size_t ncols, nrows, cap;
	char **cells;
};

/**
 * Append a row of t->ncols cells, copied (a NULL cell becomes ""). Exits
 * with CH_FAIL when out of memory.
 */
void ch_table_add(struct ch_table *t, const char *const *row);

/** Print every row to f, each column padded to its widest cell. */
void ch_table_print(struct ch_table *t, FILE *f);

/** Free the cells and reset t to empty (ncols too: set it again to reuse t). */
void ch_table_free(struct ch_table *t);

/**
 * The end of every list command: step_rc is the last sqlite3_step() result.
 * Finalizes st, prints t when the rows were all read, frees t. Returns CH_OK
 * or the database error (reported).
 */
int ch_table_finish(struct ch_ctx *c, struct ch_table *t, sqlite3_stmt *st, int step_rc);

/**
 * The text of column col of the current row of st, or null when the value
 * is NULL. Owned by SQLite: valid until the next step, reset or finalize.
 */
const char *ch_col_text(sqlite3_stmt *st, int col, const char *null);

/* ------------------------------------------------------------ database */

/**
 * Prepare sql on c->db into *st (caller finalizes). On error *st is NULL,
 * the error is reported (ch_dberror) and CH_FAIL returned.
 */
int ch_db_prepare(struct ch_ctx *c, const char *sql, sqlite3_stmt **st);

/**
 * meta.schema_version of c->db, or -1 with a message in err (errlen bytes):
 * not a policy database, no schema_version row, or SQLite's error.
 * Reports nothing itself.
 */
int64_t ch_db_schema_version(struct ch_ctx *c, char *err, size_t errlen);

/**
 * Open c->db_path into c->db, read-write if write, with the busy timeout
 * and extended result codes. A missing file is an error (only init creates
 * one). check_version: refuse a schema version this build does not know.
 * Returns CH_OK, or CH_FAIL with the error reported; c->db may then be open
 * all the same, and the caller closes it in either case.
 */
int ch_db_open(struct ch_ctx *c, bool write, bool check_version);

/**
 * Copy every page of src's main database into dst's in one step (one read
 * transaction on src: one serial), retrying for up to CH_BUSY_MS while
 * either is locked. Returns SQLITE_DONE or SQLite's error code.
 */
int ch_backup_copy(sqlite3 *dst, sqlite3 *src);

/** What resolverd wrote in its status file (resolverd/reload.h). */
struct ch_status {
	long pid;
	char state[32];              /* serving, failing, replaced, stopped */
	int64_t served, db_serial;   /* -1: not known */
	int64_t failed;
	char last_error[1024], last_error_at[32], updated[32];
};

/**
 * Read db_path's status file ("<db_path>-status") into *s. Returns 0, or -1
 * with errno set (ENOENT: no resolverd has written one). Any thread.
 */
int ch_status_read(const char *db_path, struct ch_status *s);

/**
 * Parse a time argument: 'YYYY-MM-DD HH:MM:SS' in UTC (a 'T' separator is
 * accepted) or +N[s|m|h|d|w] from now. Writes the canonical
 * 'YYYY-MM-DD HH:MM:SS' into out (len bytes, at least 20) and returns 0, or
 * -1 when s is neither (out untouched).
 */
int ch_parse_time(const char *s, time_t now, char *out, size_t len);

/**
 * A duration N[s|m|h|d|w] (plain N: seconds), from 1 second to 100 years.
 * 0 with *secs set, or -1.
 */
int ch_parse_duration(const char *s, int64_t *secs);

/* ------------------------------------------------------------ atomic output */

/**
 * An output file that appears whole or not at all: written to a temporary
 * file in the same directory (PATH.tmp.XXXXXX, mode 0644 less the umask)
 * and renamed over PATH by ch_out_commit. path NULL or "-": standard
 * output, written as it goes. The strings are owned by the struct.
 */
struct ch_out {
	FILE *f;
	char *path, *tmp;
};

/**
 * Open o for path (see above). CH_OK, or CH_FAIL reported ("PATH: why",
 * e.g. a directory that does not exist or cannot be written).
 */
int ch_out_open(const struct ch_ctx *c, struct ch_out *o, const char *path);
/**
 * Flush, sync and close o, then rename the temporary file to its path.
 * CH_OK, or CH_FAIL reported (a write error: disk full...) with the
 * temporary file removed. o is closed in either case.
 */
int ch_out_commit(const struct ch_ctx *c, struct ch_out *o);
/** Close o and remove its temporary file (an export that failed). NULL-safe. */
void ch_out_abort(struct ch_out *o);

/* ------------------------------------------------------------ commands */

/*
 * The handlers of the command table. Each runs one subcommand with the
 * arguments a (checked against the table row's counts and options) on
 * c->db, opened as the row's access asks, and returns an exit code with any
 * error already reported. Edits run in one transaction each, all or nothing,
 * recorded in the audit log under c->actor.
 */

/* chpolicy_edit.c */

/**
 * Commit the caller's edit transaction if rc is CH_OK and resolverd's loader
 * accepts the policy it leaves (policydb_load on the same connection, before
 * COMMIT), else roll it back; the loader's refusal is reported (CH_FAIL).
 * Returns the outcome.
 */
int ch_tx_end(struct ch_ctx *c, int rc);
/**
 * Start an edit transaction: BEGIN IMMEDIATE (waiting up to CH_BUSY_MS for
 * another writer) and meta('actor') set to c->actor for the audit triggers.
 * CH_OK, or CH_FAIL reported.
 */
int ch_tx_begin(struct ch_ctx *c);

/**
 * init: create c->db_path from the built-in schema, in WAL mode, all or
 * nothing: on failure it removes the files it made. Refuses a non-empty file.
 */
int ch_cmd_init(struct ch_ctx *c, const struct ch_args *a);
/** domain add NAME [--level N] [--disabled] [--note TEXT]. */
int ch_cmd_domain_add(struct ch_ctx *c, const struct ch_args *a);
/** domain set NAME [--level N] [--enable|--disable] [--note TEXT]; CH_FAIL if no such domain. */
int ch_cmd_domain_set(struct ch_ctx *c, const struct ch_args *a);
/** domain remove NAME; CH_FAIL if no such domain or a rule names it. */
int ch_cmd_domain_remove(struct ch_ctx *c, const struct ch_args *a);
/** domain list: a table of domains with level, state, groups, identities, note. */
int ch_cmd_domain_list(struct ch_ctx *c, const struct ch_args *a);
/** group add NAME [--note TEXT]. */
int ch_cmd_group_add(struct ch_ctx *c, const struct ch_args *a);
/** group remove NAME; CH_FAIL if no such group or a rule names it. */
int ch_cmd_group_remove(struct ch_ctx *c, const struct ch_args *a);
/** group list: a table of groups with member count, the rules naming them, note. */
int ch_cmd_group_list(struct ch_ctx *c, const struct ch_args *a);
/** member add DOMAIN GROUP. */
int ch_cmd_member_add(struct ch_ctx *c, const struct ch_args *a);
/** member remove DOMAIN GROUP; CH_FAIL if DOMAIN is not a member. */
int ch_cmd_member_remove(struct ch_ctx *c, const struct ch_args *a);
/** member list [GROUP]: a table of memberships; CH_FAIL if GROUP does not exist. */
int ch_cmd_member_list(struct ch_ctx *c, const struct ch_args *a);
/**
 * identity add DOMAIN CIDR | --tsig NAME [--algorithm A] (--secret-file F | --generate)
 * | --cert NAME [--note TEXT]: stores the canonical CIDR, the TSIG key (refused
 * while the database file is readable by others) or the certificate name;
 * CH_USAGE if invalid. --generate prints the new secret once.
 */
int ch_cmd_identity_add(struct ch_ctx *c, const struct ch_args *a);
/** identity remove CIDR (canonicalised first) | --tsig NAME | --cert NAME; CH_FAIL if no such identity. */
int ch_cmd_identity_remove(struct ch_ctx *c, const struct ch_args *a);
/** identity list [DOMAIN]: a table of identities; CH_FAIL if DOMAIN does not exist. */
int ch_cmd_identity_list(struct ch_ctx *c, const struct ch_args *a);
/** rule add --from SEL --to SEL (--allow|--deny) [...]: prints the new rule's id. */
int ch_cmd_rule_add(struct ch_ctx *c, const struct ch_args *a);
/** rule remove ID; CH_FAIL if no such rule. */
int ch_cmd_rule_remove(struct ch_ctx *c, const struct ch_args *a);
/** rule list: the rules in evaluation order, selectors in rule add's syntax, with their mode. */
int ch_cmd_rule_list(struct ch_ctx *c, const struct ch_args *a);
/**
 * rule set ID (--enforce|--dry-run): change a rule's mode, audited like
 * every edit. CH_USAGE without exactly one of the two, CH_FAIL if no such rule.
 */
int ch_cmd_rule_set(struct ch_ctx *c, const struct ch_args *a);
/**
 * target add DOMAIN HOST [--service S] [--priority N] [--weight N] [--port N]
 * [--address ADDR ...]: an SRV target (HOST "." : no service, SRV 0 0 0 .)
 * and its addresses; an existing target with --address gets the addresses.
 */
int ch_cmd_target_add(struct ch_ctx *c, const struct ch_args *a);
/** target list [DOMAIN]: the targets with their addresses; CH_FAIL if DOMAIN does not exist. */
int ch_cmd_target_list(struct ch_ctx *c, const struct ch_args *a);
/**
 * target remove DOMAIN HOST [--service S]: the target (every port, and
 * every service without --service) and the host's addresses once no target
 * names the host; CH_FAIL if no such target.
 */
int ch_cmd_target_remove(struct ch_ctx *c, const struct ch_args *a);

/* chpolicy_report.c */

/**
 * check R P [--all] [--no-mutual]: decide R -> P as resolverd would and say
 * which rule decided. CH_OK allow, CH_NO deny, CH_USAGE unknown R or P.
 */
int ch_cmd_check(struct ch_ctx *c, const struct ch_args *a);
/** audit [--since SERIAL]: the change log as a table. */
int ch_cmd_audit(struct ch_ctx *c, const struct ch_args *a);
/** serial: print the policy serial. */
int ch_cmd_serial(struct ch_ctx *c, const struct ch_args *a);
/** backup FILE: a consistent copy by the online backup API; never overwrites FILE. */
int ch_cmd_backup(struct ch_ctx *c, const struct ch_args *a);
/**
 * verify [--no-mutual]: integrity, schema and lint findings on stdout.
 * CH_OK clean, CH_NO warnings only, CH_FAIL integrity or schema error. Runs
 * on a database whose schema version main() has not checked.
 */
int ch_cmd_verify(struct ch_ctx *c, const struct ch_args *a);

/**
 * Compare db's tables, views, indexes and triggers with the built-in
 * schema; report(ctx, message) for each one missing or different. Returns
 * the number of differences, or -1 when the comparison could not be made
 * (reported too).
 */
int ch_schema_compare(sqlite3 *db, void (*report)(void *ctx, const char *msg), void *ctx);

/**
 * status: what resolverd serves for this database, from its status file
 * (DATABASE-status, see resolverd/reload.h) and the database's serial.
 * CH_OK resolverd serves the database's serial and its last reload worked;
 * CH_NO it serves an older serial (after waiting up to 2 s for a reload
 * under way) or its last reload failed; CH_FAIL no status file, or the
 * resolverd that wrote it is gone.
 */
int ch_cmd_status(struct ch_ctx *c, const struct ch_args *a);

/* chpolicy_edit.c */

/**
 * restore FILE: load FILE into the live database through SQLite's online
 * backup API, in one commit: FILE must be a policy database with the
 * built-in schema that resolverd's loader accepts; the change log keeps the
 * live database's rows, adds FILE's rows it lacks and one 'restore' row;
 * the serial becomes higher than any resolverd has seen. Works on a live
 * database that is damaged or not a database at all. CH_FAIL when refused.
 */
int ch_cmd_restore(struct ch_ctx *c, const struct ch_args *a);

/* chpolicy_export.c */

/**
 * A policy snapshot with what the exports say of it, made once: the text
 * of each rule ("domain:a.test -> any allow", by index in p->rules), the
 * rules by id and the domains by name (indexes), the time decisions are
 * made at and whether they need mutual consent. Owns p and every array.
 */
struct policy;
struct policy_verdict;
struct ch_expolicy {
	struct policy *p;
	char **text;
	uint32_t *by_id;
	uint32_t *order;
	time_t now;
	bool mutual;
};

/**
 * Fill x's indexes for x->p (already loaded: x owns it from now on),
 * deciding at the current time. CH_OK; exits with CH_FAIL when out of memory.
 */
int ch_ex_index(struct ch_expolicy *x, bool mutual);
/** Free x and its snapshot; x may be all zero. */
void ch_ex_free(struct ch_expolicy *x);
/**
 * Why R -> P (domain indexes) came out as v says, in words: "rule 3: any
 * -> any allow; mutual: rule 5: ...", "default deny", "no mutual consent:
 * ...", "domain disabled (X)", "own domain", and any dry-run rule that
 * would change it. Into buf (len bytes); returns buf.
 */
char *ch_ex_verdict_words(const struct ch_expolicy *x, uint32_t r, uint32_t peer,
                          const struct policy_verdict *v, char *buf, size_t len);
/** The CSV header line of export matrix, with its newline. */
extern const char ch_matrix_csv_header[];

/**
 * export view R [--out FILE] [settings]: requester R's view as a Response
 * Policy Zone (master file). CH_USAGE unknown R or a bad setting, CH_FAIL
 * database or output error (nothing is left at FILE then).
 */
int ch_cmd_export_view(struct ch_ctx *c, const struct ch_args *a);
/**
 * export views DIR [settings]: one RPZ zone per domain in DIR, plus
 * unbound.conf and named.conf fragments that give each requester its
 * zone. CH_FAIL when DIR cannot be written.
 */
int ch_cmd_export_views(struct ch_ctx *c, const struct ch_args *a);
/**
 * export matrix [--format csv|json] [--requester R] [--peer P]
 * [--decision allow|deny] [--out FILE]: every (requester, peer) decision,
 * one line each, streamed (memory does not grow with the rows).
 */
int ch_cmd_export_matrix(struct ch_ctx *c, const struct ch_args *a);
/**
 * export table [--format json|csv|zone] [--out FILE] [--valid-for D]
 * [--apex NAME] [--sign KEYFILE]: the signed lookup table of every domain
 * (docs/chpolicy.md, "The policy table").
 */
int ch_cmd_export_table(struct ch_ctx *c, const struct ch_args *a);
/**
 * export zone --apex NAME [--out FILE]: the whole policy as a master-format
 * zone whose SOA serial is the policy serial (docs/policy-zone.md), for
 * secondaries that carry it to the sites (policy-source xfr).
 */
int ch_cmd_export_zone(struct ch_ctx *c, const struct ch_args *a);

/* chpolicy_sign.c */

/** keygen --out PREFIX: an Ed25519 key pair, PREFIX.key (0600) and PREFIX.pub; never overwrites. */
int ch_cmd_keygen(struct ch_ctx *c, const struct ch_args *a);
/**
 * verify-table FILE --pubkey PEM [--sig SIGFILE]: CH_OK good signature and
 * valid now, CH_NO good signature but expired or not yet valid, CH_FAIL a
 * bad signature or an unreadable or malformed file or key.
 */
int ch_cmd_verify_table(struct ch_ctx *c, const struct ch_args *a);
/**
 * Sign the bytes of file with the PEM Ed25519 private key in keyfile: the
 * base64 of the 64-byte signature, NUL-terminated, into b64 (len bytes, at
 * least 89). CH_OK, or CH_FAIL reported (a missing, unreadable or
 * non-Ed25519 key, an unreadable file).
 */
int ch_sign_file(const struct ch_ctx *c, const char *file, const char *keyfile, char *b64,
                 size_t len);

/* chpolicy_diff.c */

/**
 * diff A B [--at TIME] [settings]: the (requester, peer) pairs whose
 * decision differs between two serials (the policy at each rebuilt from
 * the change log) or between two matrix exports (files). CH_OK no
 * difference, CH_NO differences (listed), CH_USAGE / CH_FAIL as usual.
 */
int ch_cmd_diff(struct ch_ctx *c, const struct ch_args *a);
/**
 * Rebuild into mem (an empty in-memory database) the policy tables as they
 * were at serial, from c->db's change log: meta holds that serial. CH_OK,
 * or CH_FAIL reported: a serial the log does not reach, or a restore
 * recorded without its content.
 */
int ch_rebuild_at(struct ch_ctx *c, sqlite3 *mem, int64_t serial);
/**
 * rebuild SERIAL FILE: FILE (new, never overwritten) with the built-in
 * schema, the policy as it was at SERIAL and an empty change log.
 */
int ch_cmd_rebuild(struct ch_ctx *c, const struct ch_args *a);
/**
 * The audit rows a restore writes after its own row: one 'insert' row per
 * row of every policy table of the restored database (schema name db), at
 * serial, by actor, so that the change log can rebuild the policy after a
 * restore. 0, or -1 (SQLite's error on db's connection).
 */
int ch_audit_snapshot(sqlite3 *db, int64_t serial, const char *actor);

#endif
