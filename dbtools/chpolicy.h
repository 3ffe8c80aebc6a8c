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
	const char *address[CH_MAXADDR];
	int naddress;
	bool disabled, enable, disable, allow, deny, all, no_mutual, dry_run, enforce;
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
/** identity add DOMAIN CIDR [--note TEXT]: stores the canonical CIDR; CH_USAGE if invalid. */
int ch_cmd_identity_add(struct ch_ctx *c, const struct ch_args *a);
/** identity remove CIDR (canonicalised first); CH_FAIL if no such identity. */
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

#endif
