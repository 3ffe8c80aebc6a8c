/*
 * chpolicy.c -- the administration tool of the clearinghouse policy database.
 *
 * Every subcommand is one row of ch_cmds[] (name, handler, usage, summary,
 * accepted options), so that argument checking and --help come from one place.
 * Edits are plain SQL statements with bound parameters; the database refuses
 * bad rows itself (schema.sql), and chpolicy passes its message on. Decisions
 * (check, verify) go through the same snapshot code as resolverd.
 *
 * Exit codes: 0 success (check: allow), 1 check: deny / verify: warnings,
 * 2 usage error, 3 database or runtime error.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "netaddr.h"
#include "policy.h"
#include "policydb.h"

/* The text of schema.sql, generated into dbtools/schema_sql.c by make. */
extern const char policydb_schema_sql[];

enum {
	CH_OK = 0,      /* success; check: allow; verify: clean */
	CH_NO = 1,      /* check: deny; verify: lint warnings only */
	CH_USAGE = 2,   /* bad or missing argument, unknown command */
	CH_FAIL = 3,    /* database or runtime error, refused edit */
	CH_HELP = -1    /* internal: help was printed, exit 0 */
};

/* What a command needs opened before it runs. */
enum ch_access { DB_NONE, DB_READ, DB_WRITE };

#define CH_MAXPOS 4
#define CH_BUSY_MS 5000

/* Parsed arguments of one command; options not given stay NULL / false. */
struct ch_args {
	const char *pos[CH_MAXPOS];
	int npos;
	const char *level, *note, *from, *to, *priority, *expires, *since;
	bool disabled, enable, disable, allow, deny, all, no_mutual;
};

struct ch_ctx;

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

struct ch_ctx {
	const char *db_path;
	const char *actor;
	const struct ch_cmd *cmd;
	sqlite3 *db;
};

/* Every option any command takes; ch_cmd.opts says which one accepts which. */
struct ch_optdef {
	const char *name;
	bool has_arg;
	size_t off;
};

#define OPT_ARG(n, f)  { n, true, offsetof(struct ch_args, f) }
#define OPT_FLAG(n, f) { n, false, offsetof(struct ch_args, f) }
static const struct ch_optdef ch_optdefs[] = {
	OPT_ARG("level", level),
	OPT_ARG("note", note),
	OPT_ARG("from", from),
	OPT_ARG("to", to),
	OPT_ARG("priority", priority),
	OPT_ARG("expires", expires),
	OPT_ARG("since", since),
	OPT_FLAG("disabled", disabled),
	OPT_FLAG("enable", enable),
	OPT_FLAG("disable", disable),
	OPT_FLAG("allow", allow),
	OPT_FLAG("deny", deny),
	OPT_FLAG("all", all),
	OPT_FLAG("no-mutual", no_mutual),
};

/* ---------------------------------------------------------------- errors */

/* One line on stderr: "chpolicy: <command>: <what>". Returns code. */
static int ch_error(const struct ch_ctx *c, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int
ch_error(const struct ch_ctx *c, int code, const char *fmt, ...)
{
	va_list ap;

	fputs("chpolicy: ", stderr);
	if (c && c->cmd)
		fprintf(stderr, "%s: ", c->cmd->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

/*
 * A usage error, with the command's synopsis on the same line so that the one
 * line is enough to fix the call.
 */
static int ch_usage(const struct ch_ctx *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int
ch_usage(const struct ch_ctx *c, const char *fmt, ...)
{
	va_list ap;

	fputs("chpolicy: ", stderr);
	if (c && c->cmd)
		fprintf(stderr, "%s: ", c->cmd->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (c && c->cmd)
		fprintf(stderr, " (usage: chpolicy %s%s%s)", c->cmd->name, *c->cmd->usage ? " " : "",
		        c->cmd->usage);
	else
		fputs(" (try 'chpolicy --help')", stderr);
	fputc('\n', stderr);
	return CH_USAGE;
}

/* Report the connection's last SQLite error; a duplicate key says so plainly. */
static int
ch_dberror(const struct ch_ctx *c)
{
	int ext = sqlite3_extended_errcode(c->db);

	if (ext == SQLITE_CONSTRAINT_PRIMARYKEY || ext == SQLITE_CONSTRAINT_UNIQUE)
		return ch_error(c, CH_FAIL, "%s (already exists)", sqlite3_errmsg(c->db));
	return ch_error(c, CH_FAIL, "%s", sqlite3_errmsg(c->db));
}

/* ------------------------------------------------------------ small parsers */

/* Strict decimal integer: optional sign, digits, nothing else. */
static int
parse_int64(const char *s, int64_t *out)
{
	char *end;
	long long v;

	if (!s || !*s || isspace((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end != '\0')
		return -1;
	*out = v;
	return 0;
}

/* Unsigned decimal digits only (selector bounds), at most a level. */
static int
parse_level_bound(const char *s, size_t len, int64_t *out)
{
	int64_t v = 0;

	if (len == 0 || len > 10)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	/* the schema's bound on levels */
	if (v > 2147483647)
		return -1;
	*out = v;
	return 0;
}

/*
 * Names are stored lower-case without the trailing dot (schema.sql), so a
 * name typed as "A.Example." finds the row "a.example". Returns a malloced copy.
 */
static char *
name_normalize(const char *in)
{
	size_t len = strlen(in);
	char *out;

	if (len > 0 && in[len - 1] == '.')
		len--;
	out = malloc(len + 1);
	if (!out) {
		perror("chpolicy");
		exit(CH_FAIL);
	}
	for (size_t i = 0; i < len; i++)
		out[i] = (char)tolower((unsigned char)in[i]);
	out[len] = '\0';
	return out;
}

/* 'YYYY-MM-DD HH:MM:SS' (UTC), the form SQLite's datetime() produces. */
static char *
fmt_time(time_t t, char *buf, size_t len)
{
	struct tm tm;

	if (!gmtime_r(&t, &tm) || strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(buf, len, "?");
	return buf;
}

/*
 * --expires: an absolute UTC time 'YYYY-MM-DD HH:MM:SS' (a 'T' separator is
 * accepted) or +N[s|m|h|d|w] from now. Checked here, strictly, because the
 * schema's datetime() test accepts many forms ('now', Julian day numbers) that
 * an operator would not mean. Writes the canonical form into out.
 */
static int
parse_expires(const char *s, time_t now, char *out, size_t len)
{
	static const char pattern[] = "dddd-dd-dd dd:dd:dd";
	struct tm tm, back;
	time_t t;

	if (s[0] == '+') {
		int64_t n = 0, unit = 1;
		size_t i = 1;
		for (; s[i] >= '0' && s[i] <= '9'; i++) {
			if (n > INT64_C(1000000000000))
				return -1;
			n = n * 10 + (s[i] - '0');
		}
		if (i == 1 || n <= 0)
			return -1;
		switch (s[i]) {
		case '\0': case 's': unit = 1; break;
		case 'm': unit = 60; break;
		case 'h': unit = 3600; break;
		case 'd': unit = 86400; break;
		case 'w': unit = 7 * 86400; break;
		default: return -1;
		}
		if (s[i] != '\0' && s[i + 1] != '\0')
			return -1;
		/* a century is plenty, and keeps time_t arithmetic far from overflow */
		if (n > INT64_C(100) * 366 * 86400 / unit)
			return -1;
		fmt_time(now + (time_t)(n * unit), out, len);
		return 0;
	}
	if (strlen(s) != sizeof(pattern) - 1)
		return -1;
	for (size_t i = 0; pattern[i]; i++) {
		if (pattern[i] == 'd' ? !isdigit((unsigned char)s[i])
		                      : !(s[i] == pattern[i] || (i == 10 && s[i] == 'T')))
			return -1;
	}
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = atoi(s) - 1900;
	tm.tm_mon = atoi(s + 5) - 1;
	tm.tm_mday = atoi(s + 8);
	tm.tm_hour = atoi(s + 11);
	tm.tm_min = atoi(s + 14);
	tm.tm_sec = atoi(s + 17);
	back = tm;
	t = timegm(&tm);
	/* timegm normalises 02-30 into March: a changed field means a bad date */
	if (t == (time_t)-1 || tm.tm_year != back.tm_year || tm.tm_mon != back.tm_mon ||
	    tm.tm_mday != back.tm_mday || tm.tm_hour != back.tm_hour || tm.tm_min != back.tm_min ||
	    tm.tm_sec != back.tm_sec)
		return -1;
	fmt_time(t, out, len);
	return 0;
}

/* A rule selector as the rules table stores it (from_* or to_* columns). */
struct ch_sel {
	const char *kind;   /* "any", "domain", "group", "level" */
	char *name;         /* malloced, domain or group */
	bool has_min, has_max;
	int64_t min, max;
};

/*
 * SEL: any | domain:NAME | group:NAME | level:N | level:N-M | level:>=N |
 * level:<=N. An inverted range is passed on as it is: the schema refuses it
 * with its own message, as it would from the sqlite3 shell.
 */
static int
sel_parse(const char *text, struct ch_sel *s)
{
	memset(s, 0, sizeof(*s));
	if (strcasecmp(text, "any") == 0) {
		s->kind = "any";
		return 0;
	}
	if (strncasecmp(text, "domain:", 7) == 0 && text[7]) {
		s->kind = "domain";
		s->name = name_normalize(text + 7);
		return 0;
	}
	if (strncasecmp(text, "group:", 6) == 0 && text[6]) {
		s->kind = "group";
		s->name = name_normalize(text + 6);
		return 0;
	}
	if (strncasecmp(text, "level:", 6) != 0)
		return -1;
	text += 6;
	s->kind = "level";
	if (strncmp(text, ">=", 2) == 0) {
		s->has_min = true;
		return parse_level_bound(text + 2, strlen(text + 2), &s->min);
	}
	if (strncmp(text, "<=", 2) == 0) {
		s->has_max = true;
		return parse_level_bound(text + 2, strlen(text + 2), &s->max);
	}
	const char *dash = strchr(text, '-');
	s->has_min = s->has_max = true;
	if (!dash) {
		if (parse_level_bound(text, strlen(text), &s->min) != 0)
			return -1;
		s->max = s->min;
		return 0;
	}
	if (parse_level_bound(text, (size_t)(dash - text), &s->min) != 0 ||
	    parse_level_bound(dash + 1, strlen(dash + 1), &s->max) != 0)
		return -1;
	return 0;
}

/* Bind a selector to four consecutive parameters: kind, name, min, max. */
static void
sel_bind(sqlite3_stmt *st, int first, const struct ch_sel *s)
{
	sqlite3_bind_text(st, first, s->kind, -1, SQLITE_STATIC);
	if (s->name)
		sqlite3_bind_text(st, first + 1, s->name, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, first + 1);
	if (s->has_min)
		sqlite3_bind_int64(st, first + 2, s->min);
	else
		sqlite3_bind_null(st, first + 2);
	if (s->has_max)
		sqlite3_bind_int64(st, first + 3, s->max);
	else
		sqlite3_bind_null(st, first + 3);
}

/*
 * Text of a selector from the kind, name, min, max columns starting at col,
 * in the syntax rule add takes (so `rule list` output can be pasted back).
 */
static char *
sel_format_cols(sqlite3_stmt *st, int col, char *buf, size_t len)
{
	const char *kind = (const char *)sqlite3_column_text(st, col);
	const char *name = (const char *)sqlite3_column_text(st, col + 1);
	bool has_min = sqlite3_column_type(st, col + 2) != SQLITE_NULL;
	bool has_max = sqlite3_column_type(st, col + 3) != SQLITE_NULL;
	long long min = sqlite3_column_int64(st, col + 2), max = sqlite3_column_int64(st, col + 3);

	if (!kind)
		kind = "?";
	if (strcmp(kind, "level") == 0) {
		if (has_min && has_max && min == max)
			snprintf(buf, len, "level:%lld", min);
		else if (has_min && has_max)
			snprintf(buf, len, "level:%lld-%lld", min, max);
		else if (has_min)
			snprintf(buf, len, "level:>=%lld", min);
		else
			snprintf(buf, len, "level:<=%lld", max);
	} else if (name) {
		snprintf(buf, len, "%s:%s", kind, name);
	} else {
		snprintf(buf, len, "%s", kind);
	}
	return buf;
}

/* ------------------------------------------------------------ table output */

/* Rows of text cells printed with aligned columns (the last one unpadded). */
struct ch_table {
	size_t ncols, nrows, cap;
	char **cells;
};

static void
table_add(struct ch_table *t, const char *const *row)
{
	if (t->nrows == t->cap) {
		size_t ncap = t->cap ? t->cap * 2 : 16;
		char **n = realloc(t->cells, ncap * t->ncols * sizeof(*n));
		if (!n) {
			perror("chpolicy");
			exit(CH_FAIL);
		}
		t->cells = n;
		t->cap = ncap;
	}
	for (size_t i = 0; i < t->ncols; i++) {
		char *cell = strdup(row[i] ? row[i] : "");
		if (!cell) {
			perror("chpolicy");
			exit(CH_FAIL);
		}
		t->cells[t->nrows * t->ncols + i] = cell;
	}
	t->nrows++;
}

static void
table_print(struct ch_table *t, FILE *f)
{
	size_t width[16] = { 0 };

	for (size_t r = 0; r < t->nrows; r++)
		for (size_t i = 0; i < t->ncols && i < 16; i++) {
			size_t w = strlen(t->cells[r * t->ncols + i]);
			if (w > width[i])
				width[i] = w;
		}
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t i = 0; i < t->ncols; i++) {
			const char *cell = t->cells[r * t->ncols + i];
			if (i + 1 == t->ncols)
				fprintf(f, "%s\n", cell);
			else
				fprintf(f, "%-*s  ", (int)width[i], cell);
		}
	}
}

static void
table_free(struct ch_table *t)
{
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	memset(t, 0, sizeof(*t));
}

/* Column text, with a stand-in for NULL. */
static const char *
col_text(sqlite3_stmt *st, int col, const char *null)
{
	const char *s = (const char *)sqlite3_column_text(st, col);
	return s ? s : null;
}

/* ------------------------------------------------------------ database */

static int
db_prepare(struct ch_ctx *c, const char *sql, sqlite3_stmt **st)
{
	if (sqlite3_prepare_v2(c->db, sql, -1, st, NULL) != SQLITE_OK) {
		*st = NULL;
		return ch_dberror(c);
	}
	return CH_OK;
}

/* Step a bound statement that returns no rows, then finalize it. */
static int
db_done(struct ch_ctx *c, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		rc = ch_dberror(c);
		sqlite3_finalize(st);
		return rc;
	}
	sqlite3_finalize(st);
	return CH_OK;
}

/* Whether a row exists for a one-parameter query; -1 on error (reported). */
static int
db_exists(struct ch_ctx *c, const char *sql, const char *param)
{
	sqlite3_stmt *st;
	int rc;

	if (db_prepare(c, sql, &st) != CH_OK)
		return -1;
	sqlite3_bind_text(st, 1, param, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		ch_dberror(c);
		sqlite3_finalize(st);
		return -1;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_ROW;
}

/* The OS user behind this process, for the audit log's actor column. */
static const char *
default_actor(void)
{
	static char buf[128];
	struct passwd *pw = getpwuid(geteuid());

	if (pw && pw->pw_name)
		snprintf(buf, sizeof(buf), "chpolicy:%s", pw->pw_name);
	else
		snprintf(buf, sizeof(buf), "chpolicy:uid%lu", (unsigned long)geteuid());
	return buf;
}

/*
 * Start a write: BEGIN IMMEDIATE takes the write lock at once (waiting up to
 * the busy timeout), and meta('actor') tells the audit triggers who edits.
 */
static int
tx_begin(struct ch_ctx *c)
{
	sqlite3_stmt *st;

	if (sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return ch_dberror(c);
	if (db_prepare(c, "INSERT OR REPLACE INTO meta (key, value) VALUES ('actor', ?)", &st) != CH_OK)
		goto fail;
	sqlite3_bind_text(st, 1, c->actor ? c->actor : default_actor(), -1, SQLITE_TRANSIENT);
	if (db_done(c, st) != CH_OK)
		goto fail;
	return CH_OK;
fail:
	sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	return CH_FAIL;
}

/* Commit if the edit succeeded (rc == CH_OK), else roll back. Returns the outcome. */
static int
tx_end(struct ch_ctx *c, int rc)
{
	if (rc == CH_OK) {
		if (sqlite3_exec(c->db, "DELETE FROM meta WHERE key = 'actor'", NULL, NULL, NULL) != SQLITE_OK ||
		    sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
			rc = ch_dberror(c);
	}
	if (rc != CH_OK && !sqlite3_get_autocommit(c->db))
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

/* Run one edit statement with text/NULL parameters inside its own transaction. */
static int
db_edit(struct ch_ctx *c, const char *sql, int nparams, const char *const *params,
        int *changes)
{
	sqlite3_stmt *st;
	int rc = tx_begin(c);

	if (rc != CH_OK)
		return rc;
	rc = db_prepare(c, sql, &st);
	if (rc == CH_OK) {
		for (int i = 0; i < nparams; i++) {
			if (params[i])
				sqlite3_bind_text(st, i + 1, params[i], -1, SQLITE_TRANSIENT);
			else
				sqlite3_bind_null(st, i + 1);
		}
		rc = db_done(c, st);
		if (changes)
			*changes = sqlite3_changes(c->db);
	}
	return tx_end(c, rc);
}

static int64_t
db_schema_version(struct ch_ctx *c, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int64_t v = -1;

	if (sqlite3_prepare_v2(c->db, "SELECT value FROM meta WHERE key = 'schema_version'", -1, &st,
	                       NULL) != SQLITE_OK) {
		snprintf(err, errlen, "not a policy database (%s)", sqlite3_errmsg(c->db));
		return -1;
	}
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	else
		snprintf(err, errlen, "%s", rc == SQLITE_DONE ? "no schema_version in meta"
		                                                : sqlite3_errmsg(c->db));
	sqlite3_finalize(st);
	return v;
}

/*
 * Open the database for a command. A missing file is an error here (only
 * init creates one), so that a mistyped --db does not leave an empty file.
 * check_version: refuse a schema this build does not know (verify reports it
 * as a finding instead).
 */
static int
db_open(struct ch_ctx *c, bool write, bool check_version)
{
	struct stat sb;
	char err[512];

	if (stat(c->db_path, &sb) != 0)
		return ch_error(c, CH_FAIL, "%s: %s", c->db_path, strerror(errno));
	c->db = policydb_open(c->db_path, !write, err, sizeof(err));
	if (!c->db)
		return ch_error(c, CH_FAIL, "%s", err);
	sqlite3_busy_timeout(c->db, CH_BUSY_MS);
	sqlite3_extended_result_codes(c->db, 1);
	if (check_version) {
		int64_t v = db_schema_version(c, err, sizeof(err));
		if (v < 0)
			return ch_error(c, CH_FAIL, "%s: %s", c->db_path, err);
		if (v != POLICYDB_SCHEMA_VERSION)
			return ch_error(c, CH_FAIL, "%s: schema version %lld, this chpolicy knows %d",
			                c->db_path, (long long)v, POLICYDB_SCHEMA_VERSION);
	}
	return CH_OK;
}

/* ------------------------------------------------------------ init */

/* Create the database from the built-in schema, in WAL mode, all or nothing. */
static int
cmd_init(struct ch_ctx *c, const struct ch_args *a)
{
	struct stat sb;
	bool existed = false;
	sqlite3_stmt *st;
	int rc;

	(void)a;
	if (stat(c->db_path, &sb) == 0) {
		if (sb.st_size > 0)
			return ch_error(c, CH_FAIL, "%s exists and is not empty; refusing to overwrite",
			                c->db_path);
		existed = true;
	}
	rc = sqlite3_open_v2(c->db_path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (rc != SQLITE_OK) {
		ch_error(c, CH_FAIL, "%s: %s", c->db_path,
		         c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_busy_timeout(c->db, CH_BUSY_MS);
	/* WAL first: it cannot be switched on inside the transaction below */
	if (sqlite3_prepare_v2(c->db, "PRAGMA journal_mode = WAL", -1, &st, NULL) != SQLITE_OK) {
		ch_dberror(c);
		goto fail;
	}
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW || strcmp(col_text(st, 0, ""), "wal") != 0) {
		ch_error(c, CH_FAIL, "%s: cannot switch to WAL mode: %s", c->db_path,
		         rc == SQLITE_ROW ? col_text(st, 0, "") : sqlite3_errmsg(c->db));
		sqlite3_finalize(st);
		goto fail;
	}
	sqlite3_finalize(st);
	if (sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(c->db, policydb_schema_sql, NULL, NULL, NULL) != SQLITE_OK) {
		ch_dberror(c);
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
		goto fail;
	}
	if (sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		ch_dberror(c);
		goto fail;
	}
	printf("%s: created, schema version %d, serial 1\n", c->db_path, POLICYDB_SCHEMA_VERSION);
	return CH_OK;
fail:
	sqlite3_close(c->db);
	c->db = NULL;
	if (!existed) {
		/* leave nothing half-made behind */
		char side[4096];
		unlink(c->db_path);
		snprintf(side, sizeof(side), "%s-wal", c->db_path);
		unlink(side);
		snprintf(side, sizeof(side), "%s-shm", c->db_path);
		unlink(side);
	}
	return CH_FAIL;
}

/* ------------------------------------------------------------ domains */

/* --level: an integer that fits the snapshot's uint32_t levels. */
static int
opt_level(const struct ch_ctx *c, const char *text, int64_t *level)
{
	if (parse_int64(text, level) != 0)
		return ch_usage(c, "--level: not an integer: '%s'", text);
	/* negative levels are left for the schema to refuse, with its own message */
	if (*level > 2147483647)
		return ch_usage(c, "--level: too large: '%s'", text);
	return CH_OK;
}

static int
cmd_domain_add(struct ch_ctx *c, const struct ch_args *a)
{
	int64_t level = 0;
	sqlite3_stmt *st;
	int rc;

	if (a->level && (rc = opt_level(c, a->level, &level)) != CH_OK)
		return rc;
	char *name = name_normalize(a->pos[0]);
	if ((rc = tx_begin(c)) == CH_OK) {
		rc = db_prepare(c, "INSERT INTO domains (name, level, enabled, note) VALUES (?, ?, ?, ?)",
		                &st);
		if (rc == CH_OK) {
			sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
			sqlite3_bind_int64(st, 2, level);
			sqlite3_bind_int(st, 3, a->disabled ? 0 : 1);
			sqlite3_bind_text(st, 4, a->note ? a->note : "", -1, SQLITE_TRANSIENT);
			rc = db_done(c, st);
		}
		rc = tx_end(c, rc);
	}
	free(name);
	return rc;
}

static int
cmd_domain_set(struct ch_ctx *c, const struct ch_args *a)
{
	int64_t level = 0;
	sqlite3_stmt *st;
	int rc, changes = 0;

	if (!a->level && !a->enable && !a->disable && !a->note)
		return ch_usage(c, "nothing to change");
	if (a->enable && a->disable)
		return ch_usage(c, "--enable and --disable exclude each other");
	if (a->level && (rc = opt_level(c, a->level, &level)) != CH_OK)
		return rc;
	char *name = name_normalize(a->pos[0]);
	if ((rc = tx_begin(c)) == CH_OK) {
		rc = db_prepare(c, "UPDATE domains SET level = coalesce(?1, level),"
		                   " enabled = coalesce(?2, enabled), note = coalesce(?3, note)"
		                   " WHERE name = ?4", &st);
		if (rc == CH_OK) {
			if (a->level)
				sqlite3_bind_int64(st, 1, level);
			if (a->enable || a->disable)
				sqlite3_bind_int(st, 2, a->enable ? 1 : 0);
			if (a->note)
				sqlite3_bind_text(st, 3, a->note, -1, SQLITE_TRANSIENT);
			sqlite3_bind_text(st, 4, name, -1, SQLITE_TRANSIENT);
			rc = db_done(c, st);
			changes = sqlite3_changes(c->db);
		}
		if (rc == CH_OK && changes == 0)
			rc = ch_error(c, CH_FAIL, "no such domain: %s", name);
		rc = tx_end(c, rc);
	}
	free(name);
	return rc;
}

static int
cmd_domain_remove(struct ch_ctx *c, const struct ch_args *a)
{
	char *name = name_normalize(a->pos[0]);
	const char *params[] = { name };
	int changes = 0;
	int rc = db_edit(c, "DELETE FROM domains WHERE name = ?", 1, params, &changes);

	if (rc == CH_OK && changes == 0)
		rc = ch_error(c, CH_FAIL, "no such domain: %s", name);
	free(name);
	return rc;
}

static int
cmd_domain_list(struct ch_ctx *c, const struct ch_args *a)
{
	static const char *head[] = { "NAME", "LEVEL", "STATE", "GROUPS", "IDENTITIES", "NOTE" };
	struct ch_table t = { .ncols = 6 };
	sqlite3_stmt *st;
	int rc;

	(void)a;
	if ((rc = db_prepare(c,
	        "SELECT d.name, d.level, d.enabled,"
	        " (SELECT group_concat(grp, ',') FROM"
	        "   (SELECT grp FROM memberships WHERE domain = d.name ORDER BY grp)),"
	        " (SELECT group_concat(value, ',') FROM"
	        "   (SELECT value FROM identities WHERE domain = d.name ORDER BY kind, value)),"
	        " d.note FROM domains d ORDER BY d.name", &st)) != CH_OK)
		return rc;
	table_add(&t, head);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *row[6] = {
			col_text(st, 0, ""), col_text(st, 1, ""),
			sqlite3_column_int(st, 2) ? "enabled" : "disabled",
			col_text(st, 3, "-"), col_text(st, 4, "-"), col_text(st, 5, ""),
		};
		table_add(&t, row);
	}
	rc = rc == SQLITE_DONE ? CH_OK : ch_dberror(c);
	sqlite3_finalize(st);
	if (rc == CH_OK)
		table_print(&t, stdout);
	table_free(&t);
	return rc;
}

/* ------------------------------------------------------------ groups */

static int
cmd_group_add(struct ch_ctx *c, const struct ch_args *a)
{
	char *name = name_normalize(a->pos[0]);
	const char *params[] = { name, a->note ? a->note : "" };
	int rc = db_edit(c, "INSERT INTO groups (name, note) VALUES (?, ?)", 2, params, NULL);

	free(name);
	return rc;
}

static int
cmd_group_remove(struct ch_ctx *c, const struct ch_args *a)
{
	char *name = name_normalize(a->pos[0]);
	const char *params[] = { name };
	int changes = 0;
	int rc = db_edit(c, "DELETE FROM groups WHERE name = ?", 1, params, &changes);

	if (rc == CH_OK && changes == 0)
		rc = ch_error(c, CH_FAIL, "no such group: %s", name);
	free(name);
	return rc;
}

static int
cmd_group_list(struct ch_ctx *c, const struct ch_args *a)
{
	static const char *head[] = { "NAME", "MEMBERS", "RULES", "NOTE" };
	struct ch_table t = { .ncols = 4 };
	sqlite3_stmt *st;
	int rc;

	(void)a;
	if ((rc = db_prepare(c,
	        "SELECT g.name,"
	        " (SELECT count(*) FROM memberships WHERE grp = g.name),"
	        " (SELECT group_concat(id, ',') FROM (SELECT id FROM rules"
	        "   WHERE (from_kind = 'group' AND from_name = g.name)"
	        "      OR (to_kind = 'group' AND to_name = g.name) ORDER BY id)),"
	        " g.note FROM groups g ORDER BY g.name", &st)) != CH_OK)
		return rc;
	table_add(&t, head);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *row[4] = { col_text(st, 0, ""), col_text(st, 1, "0"), col_text(st, 2, "-"),
		                       col_text(st, 3, "") };
		table_add(&t, row);
	}
	rc = rc == SQLITE_DONE ? CH_OK : ch_dberror(c);
	sqlite3_finalize(st);
	if (rc == CH_OK)
		table_print(&t, stdout);
	table_free(&t);
	return rc;
}

static int
cmd_member_add(struct ch_ctx *c, const struct ch_args *a)
{
	char *domain = name_normalize(a->pos[0]), *group = name_normalize(a->pos[1]);
	const char *params[] = { domain, group };
	int rc = db_edit(c, "INSERT INTO memberships (domain, grp) VALUES (?, ?)", 2, params, NULL);

	free(domain);
	free(group);
	return rc;
}

static int
cmd_member_remove(struct ch_ctx *c, const struct ch_args *a)
{
	char *domain = name_normalize(a->pos[0]), *group = name_normalize(a->pos[1]);
	const char *params[] = { domain, group };
	int changes = 0;
	int rc = db_edit(c, "DELETE FROM memberships WHERE domain = ? AND grp = ?", 2, params,
	                 &changes);

	if (rc == CH_OK && changes == 0)
		rc = ch_error(c, CH_FAIL, "%s is not a member of %s", domain, group);
	free(domain);
	free(group);
	return rc;
}

static int
cmd_member_list(struct ch_ctx *c, const struct ch_args *a)
{
	static const char *head[] = { "GROUP", "DOMAIN" };
	struct ch_table t = { .ncols = 2 };
	char *group = a->npos > 0 ? name_normalize(a->pos[0]) : NULL;
	sqlite3_stmt *st;
	int rc;

	if (group) {
		int e = db_exists(c, "SELECT 1 FROM groups WHERE name = ?", group);
		if (e <= 0) {
			rc = e < 0 ? CH_FAIL : ch_error(c, CH_FAIL, "no such group: %s", group);
			free(group);
			return rc;
		}
	}
	if ((rc = db_prepare(c, "SELECT grp, domain FROM memberships WHERE ?1 IS NULL OR grp = ?1"
	                        " ORDER BY grp, domain", &st)) != CH_OK) {
		free(group);
		return rc;
	}
	if (group)
		sqlite3_bind_text(st, 1, group, -1, SQLITE_TRANSIENT);
	table_add(&t, head);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *row[2] = { col_text(st, 0, ""), col_text(st, 1, "") };
		table_add(&t, row);
	}
	rc = rc == SQLITE_DONE ? CH_OK : ch_dberror(c);
	sqlite3_finalize(st);
	if (rc == CH_OK)
		table_print(&t, stdout);
	table_free(&t);
	free(group);
	return rc;
}

/* ------------------------------------------------------------ identities */

/* The canonical text of a CIDR (host bits cleared, compressed IPv6). */
static int
cidr_canonical(const struct ch_ctx *c, const char *text, char *buf, size_t len)
{
	struct netaddr na;
	const char *why = "invalid";

	if (netaddr_parse_cidr(text, &na, &why) != 0)
		return ch_usage(c, "%s: %s", text, why);
	netaddr_format(&na, buf, len);
	return CH_OK;
}

static int
cmd_identity_add(struct ch_ctx *c, const struct ch_args *a)
{
	char cidr[64];
	int rc = cidr_canonical(c, a->pos[1], cidr, sizeof(cidr));

	if (rc != CH_OK)
		return rc;
	char *domain = name_normalize(a->pos[0]);
	const char *params[] = { cidr, domain, a->note ? a->note : "" };
	rc = db_edit(c, "INSERT INTO identities (kind, value, domain, note) VALUES ('cidr', ?, ?, ?)",
	             3, params, NULL);
	free(domain);
	return rc;
}

static int
cmd_identity_remove(struct ch_ctx *c, const struct ch_args *a)
{
	char cidr[64];
	int changes = 0;
	int rc = cidr_canonical(c, a->pos[0], cidr, sizeof(cidr));

	if (rc != CH_OK)
		return rc;
	const char *params[] = { cidr };
	rc = db_edit(c, "DELETE FROM identities WHERE kind = 'cidr' AND value = ?", 1, params,
	             &changes);
	if (rc == CH_OK && changes == 0)
		rc = ch_error(c, CH_FAIL, "no such identity: %s", cidr);
	return rc;
}

static int
cmd_identity_list(struct ch_ctx *c, const struct ch_args *a)
{
	static const char *head[] = { "KIND", "VALUE", "DOMAIN", "NOTE" };
	struct ch_table t = { .ncols = 4 };
	char *domain = a->npos > 0 ? name_normalize(a->pos[0]) : NULL;
	sqlite3_stmt *st;
	int rc;

	if (domain) {
		int e = db_exists(c, "SELECT 1 FROM domains WHERE name = ?", domain);
		if (e <= 0) {
			rc = e < 0 ? CH_FAIL : ch_error(c, CH_FAIL, "no such domain: %s", domain);
			free(domain);
			return rc;
		}
	}
	if ((rc = db_prepare(c, "SELECT kind, value, domain, note FROM identities"
	                        " WHERE ?1 IS NULL OR domain = ?1 ORDER BY domain, kind, value",
	                     &st)) != CH_OK) {
		free(domain);
		return rc;
	}
	if (domain)
		sqlite3_bind_text(st, 1, domain, -1, SQLITE_TRANSIENT);
	table_add(&t, head);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *row[4] = { col_text(st, 0, ""), col_text(st, 1, ""), col_text(st, 2, ""),
		                       col_text(st, 3, "") };
		table_add(&t, row);
	}
	rc = rc == SQLITE_DONE ? CH_OK : ch_dberror(c);
	sqlite3_finalize(st);
	if (rc == CH_OK)
		table_print(&t, stdout);
	table_free(&t);
	free(domain);
	return rc;
}

/* ------------------------------------------------------------ rules */

static int
cmd_rule_add(struct ch_ctx *c, const struct ch_args *a)
{
	struct ch_sel from, to;
	int64_t priority = 100, id = 0;
	char expires[32];
	sqlite3_stmt *st;
	int rc;

	if (!a->from || !a->to)
		return ch_usage(c, "missing %s", !a->from ? "--from" : "--to");
	if (a->allow == a->deny)
		return ch_usage(c, "give exactly one of --allow and --deny");
	if (a->priority && parse_int64(a->priority, &priority) != 0)
		return ch_usage(c, "--priority: not an integer: '%s'", a->priority);
	if (a->expires && parse_expires(a->expires, time(NULL), expires, sizeof(expires)) != 0)
		return ch_usage(c, "--expires: want 'YYYY-MM-DD HH:MM:SS' (UTC) or +N[s|m|h|d|w], not '%s'",
		                a->expires);
	if (sel_parse(a->from, &from) != 0) {
		free(from.name);
		return ch_usage(c, "--from: invalid selector '%s'", a->from);
	}
	if (sel_parse(a->to, &to) != 0) {
		free(from.name);
		free(to.name);
		return ch_usage(c, "--to: invalid selector '%s'", a->to);
	}
	if ((rc = tx_begin(c)) == CH_OK) {
		rc = db_prepare(c, "INSERT INTO rules (priority, from_kind, from_name, from_min, from_max,"
		                   " to_kind, to_name, to_min, to_max, action, expires, note)"
		                   " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", &st);
		if (rc == CH_OK) {
			sqlite3_bind_int64(st, 1, priority);
			sel_bind(st, 2, &from);
			sel_bind(st, 6, &to);
			sqlite3_bind_text(st, 10, a->allow ? "allow" : "deny", -1, SQLITE_STATIC);
			if (a->expires)
				sqlite3_bind_text(st, 11, expires, -1, SQLITE_TRANSIENT);
			sqlite3_bind_text(st, 12, a->note ? a->note : "", -1, SQLITE_TRANSIENT);
			rc = db_done(c, st);
			id = sqlite3_last_insert_rowid(c->db);
		}
		rc = tx_end(c, rc);
	}
	free(from.name);
	free(to.name);
	if (rc == CH_OK)
		printf("%lld\n", (long long)id);
	return rc;
}

static int
cmd_rule_remove(struct ch_ctx *c, const struct ch_args *a)
{
	int64_t id;
	int changes = 0;

	if (parse_int64(a->pos[0], &id) != 0 || id <= 0)
		return ch_usage(c, "not a rule id: '%s'", a->pos[0]);
	const char *params[] = { a->pos[0] };
	/* bound as text, compared as an integer thanks to the column's affinity */
	int rc = db_edit(c, "DELETE FROM rules WHERE id = CAST(? AS INTEGER)", 1, params, &changes);
	if (rc == CH_OK && changes == 0)
		rc = ch_error(c, CH_FAIL, "no such rule: %lld", (long long)id);
	return rc;
}

static int
cmd_rule_list(struct ch_ctx *c, const struct ch_args *a)
{
	static const char *head[] = { "ID", "PRIORITY", "FROM", "TO", "ACTION", "EXPIRES", "NOTE" };
	struct ch_table t = { .ncols = 7 };
	sqlite3_stmt *st;
	int rc;

	(void)a;
	if ((rc = db_prepare(c,
	        "SELECT id, priority, from_kind, from_name, from_min, from_max,"
	        " to_kind, to_name, to_min, to_max, action, expires,"
	        " expires IS NOT NULL AND datetime(expires) <= datetime('now'), note"
	        " FROM rules ORDER BY priority, id", &st)) != CH_OK)
		return rc;
	table_add(&t, head);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		char from[300], to[300], exp[64];
		if (sqlite3_column_type(st, 11) == SQLITE_NULL)
			snprintf(exp, sizeof(exp), "never");
		else
			snprintf(exp, sizeof(exp), "%s%s", col_text(st, 11, ""),
			         sqlite3_column_int(st, 12) ? " (expired)" : "");
		const char *row[7] = {
			col_text(st, 0, ""), col_text(st, 1, ""),
			sel_format_cols(st, 2, from, sizeof(from)), sel_format_cols(st, 6, to, sizeof(to)),
			col_text(st, 10, ""), exp, col_text(st, 13, ""),
		};
		table_add(&t, row);
	}
	rc = rc == SQLITE_DONE ? CH_OK : ch_dberror(c);
	sqlite3_finalize(st);
	if (rc == CH_OK)
		table_print(&t, stdout);
	table_free(&t);
	return rc;
}

/* ------------------------------------------------------------ check */

static const struct policy_rule *
rule_by_id(const struct policy *p, int64_t id)
{
	for (size_t i = 0; i < p->nrules; i++)
		if (p->rules[i].id == id)
			return &p->rules[i];
	return NULL;
}

/* "rule 3 (domain:a.test -> level:>=2 allow)", or the default when id is 0. */
static char *
rule_explain(const struct policy *p, int64_t id, char *buf, size_t len)
{
	const struct policy_rule *r = rule_by_id(p, id);
	char from[300], to[300];

	if (!r) {
		snprintf(buf, len, "default deny (no rule matched)");
		return buf;
	}
	snprintf(buf, len, "rule %lld (%s -> %s %s)", (long long)r->id,
	         policy_selector_format(p, &r->from, from, sizeof(from)),
	         policy_selector_format(p, &r->to, to, sizeof(to)), r->allow ? "allow" : "deny");
	return buf;
}

static bool
rule_expired(const struct policy_rule *r, time_t now)
{
	return r->expires != 0 && r->expires <= now;
}

/* check --all: every rule matching from -> to in evaluation order, the winner starred. */
static void
check_list_matches(const struct policy *p, uint32_t from, uint32_t to, time_t now)
{
	const struct policy_domain *f = &p->domains[from], *t = &p->domains[to];
	bool won = false, any = false;

	printf("  %s -> %s:\n", f->name, t->name);
	if (!f->enabled || !t->enabled)
		printf("    (no rule applies: %s is disabled)\n", !f->enabled ? f->name : t->name);
	for (size_t i = 0; i < p->nrules; i++) {
		const struct policy_rule *r = &p->rules[i];
		char fs[300], ts[300], when[32];
		if (!policy_selector_matches(p, &r->from, from) || !policy_selector_matches(p, &r->to, to))
			continue;
		any = true;
		bool expired = rule_expired(r, now);
		bool first = !won && !expired && f->enabled && t->enabled;
		won = won || first;
		printf("  %s rule %lld  priority %lld  %s -> %s  %s%s%s\n", first ? "*" : " ",
		       (long long)r->id, (long long)r->priority,
		       policy_selector_format(p, &r->from, fs, sizeof(fs)),
		       policy_selector_format(p, &r->to, ts, sizeof(ts)), r->allow ? "allow" : "deny",
		       r->expires ? (expired ? "  expired " : "  expires ") : "",
		       r->expires ? fmt_time(r->expires, when, sizeof(when)) : "");
	}
	if (!any)
		printf("    (no rule matches: default deny)\n");
}

/*
 * decision(R, P) through the same snapshot and function resolverd uses. R may
 * also be a source address, identified as resolverd would.
 */
static int
cmd_check(struct ch_ctx *c, const struct ch_args *a)
{
	char err[512], why[1024], rev[1024], label[600];
	struct policy_verdict v;
	struct policy *p;
	bool mutual = !a->no_mutual;
	time_t now = time(NULL);
	uint32_t r, peer;

	p = policydb_load(c->db, err, sizeof(err));
	if (!p)
		return ch_error(c, CH_FAIL, "%s: %s", c->db_path, err);
	peer = policy_find_domain(p, a->pos[1]);
	if (peer == POLICY_NONE) {
		policy_free(p);
		return ch_usage(c, "unknown domain '%s' (outside the community, resolverd's "
		                   "unknown-peer setting decides)", a->pos[1]);
	}
	r = policy_find_domain(p, a->pos[0]);
	snprintf(label, sizeof(label), "%s", a->pos[0]);
	if (r == POLICY_NONE) {
		struct netaddr src;
		const char *perr;
		if (strchr(a->pos[0], '/') || netaddr_parse_cidr(a->pos[0], &src, &perr) != 0) {
			policy_free(p);
			return ch_usage(c, "unknown requester '%s' (neither a domain nor an address)",
			                a->pos[0]);
		}
		r = policy_identify(p, &src);
		if (r == POLICY_NONE) {
			printf("deny %s -> %s: requester not identified (no identity matches %s)\n",
			       a->pos[0], p->domains[peer].name, a->pos[0]);
			policy_free(p);
			return CH_NO;
		}
		snprintf(label, sizeof(label), "%s (%s)", a->pos[0], p->domains[r].name);
	} else {
		snprintf(label, sizeof(label), "%s", p->domains[r].name);
	}

	policy_decide(p, r, peer, now, mutual, &v);
	const struct policy_domain *rd = &p->domains[r], *pd = &p->domains[peer];
	if (v.allow) {
		rule_explain(p, v.rule_id, why, sizeof(why));
		if (mutual && r != peer)
			printf("allow %s -> %s: %s, mutual: %s\n", label, pd->name, why,
			       rule_explain(p, v.reverse_rule_id, rev, sizeof(rev)));
		else
			printf("allow %s -> %s: %s\n", label, pd->name, why);
	} else if (!rd->enabled || !pd->enabled) {
		printf("deny %s -> %s: %s is disabled\n", label, pd->name,
		       !rd->enabled ? rd->name : pd->name);
	} else {
		const struct policy_rule *fwd = rule_by_id(p, v.rule_id);
		rule_explain(p, v.rule_id, why, sizeof(why));
		if (fwd && fwd->allow)
			printf("deny %s -> %s: %s, but no mutual consent: %s -> %s %s\n", label, pd->name,
			       why, pd->name, rd->name, rule_explain(p, v.reverse_rule_id, rev, sizeof(rev)));
		else
			printf("deny %s -> %s: %s\n", label, pd->name, why);
	}
	if (a->all) {
		check_list_matches(p, r, peer, now);
		if (r != peer)
			check_list_matches(p, peer, r, now);
	}
	policy_free(p);
	return v.allow ? CH_OK : CH_NO;
}

/* ------------------------------------------------------------ audit, serial */

static int
cmd_audit(struct ch_ctx *c, const struct ch_args *a)
{
	static const char *head[] = { "SERIAL", "AT", "ACTOR", "TABLE", "OP", "CHANGE" };
	struct ch_table t = { .ncols = 6 };
	int64_t since = 0;
	sqlite3_stmt *st;
	int rc;

	if (a->since && parse_int64(a->since, &since) != 0)
		return ch_usage(c, "--since: not a serial: '%s'", a->since);
	if ((rc = db_prepare(c, "SELECT serial, at, actor, tbl, op, old, new FROM audit"
	                        " WHERE serial > ? ORDER BY id", &st)) != CH_OK)
		return rc;
	sqlite3_bind_int64(st, 1, since);
	table_add(&t, head);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *old = col_text(st, 5, "-"), *new = col_text(st, 6, "-");
		size_t len = strlen(old) + strlen(new) + 8;
		char *change = malloc(len);
		if (!change) {
			perror("chpolicy");
			exit(CH_FAIL);
		}
		snprintf(change, len, "%s -> %s", old, new);
		const char *row[6] = { col_text(st, 0, ""), col_text(st, 1, ""), col_text(st, 2, ""),
		                       col_text(st, 3, ""), col_text(st, 4, ""), change };
		table_add(&t, row);
		free(change);
	}
	rc = rc == SQLITE_DONE ? CH_OK : ch_dberror(c);
	sqlite3_finalize(st);
	if (rc == CH_OK)
		table_print(&t, stdout);
	table_free(&t);
	return rc;
}

static int
cmd_serial(struct ch_ctx *c, const struct ch_args *a)
{
	char err[512];
	int64_t serial = policydb_serial(c->db, err, sizeof(err));

	(void)a;
	if (serial < 0)
		return ch_error(c, CH_FAIL, "%s", err);
	printf("%lld\n", (long long)serial);
	return CH_OK;
}

/* ------------------------------------------------------------ backup */

/*
 * The online backup API copies a consistent snapshot page by page while
 * resolverd reads and other tools write. The target is created with O_EXCL so
 * that an existing file is never overwritten, and with the source's mode.
 */
static int
cmd_backup(struct ch_ctx *c, const struct ch_args *a)
{
	const char *path = a->pos[0];
	sqlite3 *dst = NULL;
	sqlite3_backup *b;
	struct stat sb;
	char err[512];
	int fd, rc, tries = 0;
	mode_t mode = 0600;

	if (stat(c->db_path, &sb) == 0)
		mode = sb.st_mode & 0666;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
	if (fd < 0)
		return ch_error(c, CH_FAIL, "%s: %s%s", path, strerror(errno),
		                errno == EEXIST ? "; refusing to overwrite" : "");
	close(fd);
	if (sqlite3_open_v2(path, &dst, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		ch_error(c, CH_FAIL, "%s: %s", path, dst ? sqlite3_errmsg(dst) : "cannot open");
		goto fail;
	}
	b = sqlite3_backup_init(dst, "main", c->db, "main");
	if (!b) {
		ch_error(c, CH_FAIL, "%s: %s", path, sqlite3_errmsg(dst));
		goto fail;
	}
	/* all pages in one step: one read transaction, so one serial */
	while ((rc = sqlite3_backup_step(b, -1)) == SQLITE_BUSY || rc == SQLITE_LOCKED ||
	       rc == SQLITE_OK) {
		if (rc != SQLITE_OK && ++tries > CH_BUSY_MS / 100)
			break;
		sqlite3_sleep(100);
	}
	sqlite3_backup_finish(b);
	if (rc != SQLITE_DONE) {
		ch_error(c, CH_FAIL, "%s: %s", path, sqlite3_errstr(rc));
		goto fail;
	}
	int64_t serial = policydb_serial(dst, err, sizeof(err));
	if (serial < 0) {
		ch_error(c, CH_FAIL, "%s: %s", path, err);
		goto fail;
	}
	if (sqlite3_close(dst) != SQLITE_OK) {
		ch_error(c, CH_FAIL, "%s: %s", path, sqlite3_errmsg(dst));
		dst = NULL;
		goto fail;
	}
	printf("%s: serial %lld\n", path, (long long)serial);
	return CH_OK;
fail:
	sqlite3_close_v2(dst);
	unlink(path);
	return CH_FAIL;
}

/* ------------------------------------------------------------ verify */

struct ch_verify {
	int errors, warnings;
};

static void verify_finding(struct ch_verify *vf, bool error, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
verify_finding(struct ch_verify *vf, bool error, const char *fmt, ...)
{
	va_list ap;

	if (error)
		vf->errors++;
	else
		vf->warnings++;
	printf("%s: ", error ? "error" : "warning");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* PRAGMA integrity_check / quick_check: "ok" or one row per problem. */
static int
verify_pragma(struct ch_ctx *c, struct ch_verify *vf, const char *pragma)
{
	sqlite3_stmt *st;
	char sql[64];
	int rc;

	snprintf(sql, sizeof(sql), "PRAGMA %s", pragma);
	if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK) {
		verify_finding(vf, true, "%s: %s", pragma, sqlite3_errmsg(c->db));
		return -1;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *msg = col_text(st, 0, "");
		if (strcmp(msg, "ok") != 0)
			verify_finding(vf, true, "%s: %s", pragma, msg);
	}
	if (rc != SQLITE_DONE)
		verify_finding(vf, true, "%s: %s", pragma, sqlite3_errmsg(c->db));
	sqlite3_finalize(st);
	return 0;
}

/*
 * Compare the tables, indexes and triggers with the built-in schema: the
 * database only refuses bad edits while its triggers are all there, and one
 * dropped or changed from the sqlite3 shell is easy to miss.
 */
static void
verify_schema_objects(struct ch_ctx *c, struct ch_verify *vf)
{
	sqlite3 *ref = NULL;
	sqlite3_stmt *st = NULL, *look = NULL;

	if (sqlite3_open_v2(":memory:", &ref, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
	    sqlite3_exec(ref, policydb_schema_sql, NULL, NULL, NULL) != SQLITE_OK) {
		verify_finding(vf, false, "schema: cannot build the reference schema: %s",
		               ref ? sqlite3_errmsg(ref) : "out of memory");
		goto out;
	}
	if (sqlite3_prepare_v2(ref, "SELECT type, name, sql FROM sqlite_master"
	                            " WHERE sql IS NOT NULL ORDER BY type, name", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(c->db, "SELECT sql FROM sqlite_master WHERE type = ? AND name = ?",
	                       -1, &look, NULL) != SQLITE_OK) {
		verify_finding(vf, false, "schema: %s", sqlite3_errmsg(st ? c->db : ref));
		goto out;
	}
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *type = col_text(st, 0, ""), *name = col_text(st, 1, "");
		sqlite3_reset(look);
		sqlite3_bind_text(look, 1, type, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(look, 2, name, -1, SQLITE_TRANSIENT);
		if (sqlite3_step(look) != SQLITE_ROW)
			verify_finding(vf, false, "schema: %s %s is missing (bad edits it refuses "
			               "are let through)", type, name);
		else if (strcmp(col_text(look, 0, ""), col_text(st, 2, "")) != 0)
			verify_finding(vf, false, "schema: %s %s differs from schema version %d",
			               type, name, POLICYDB_SCHEMA_VERSION);
	}
out:
	sqlite3_finalize(look);
	sqlite3_finalize(st);
	sqlite3_close(ref);
}

/* Run a lint query; each row's first column is one warning line. */
static void
verify_lint_sql(struct ch_ctx *c, struct ch_verify *vf, const char *sql)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK) {
		verify_finding(vf, true, "lint: %s", sqlite3_errmsg(c->db));
		return;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		verify_finding(vf, false, "%s", col_text(st, 0, ""));
	if (rc != SQLITE_DONE)
		verify_finding(vf, true, "lint: %s", sqlite3_errmsg(c->db));
	sqlite3_finalize(st);
}

/*
 * The schema checks the shape of a CIDR but cannot clear host bits, so
 * "10.0.0.1/8" written from the shell is accepted; it also reads as 10.0.0.0/8,
 * and a second spelling of the same prefix makes the policy unloadable.
 */
static void
verify_lint_identities(struct ch_ctx *c, struct ch_verify *vf)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(c->db, "SELECT value, domain FROM identities WHERE kind = 'cidr'"
	                              " ORDER BY domain, value", -1, &st, NULL) != SQLITE_OK) {
		verify_finding(vf, true, "lint: %s", sqlite3_errmsg(c->db));
		return;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *value = col_text(st, 0, ""), *why = "invalid";
		struct netaddr na;
		char canon[64];
		if (netaddr_parse_cidr(value, &na, &why) != 0)
			verify_finding(vf, false, "identity %s (%s): %s", value, col_text(st, 1, ""), why);
		else if (strcmp(netaddr_format(&na, canon, sizeof(canon)), value) != 0)
			verify_finding(vf, false, "identity %s (%s) is not canonical: it means %s",
			               value, col_text(st, 1, ""), canon);
	}
	if (rc != SQLITE_DONE)
		verify_finding(vf, true, "lint: %s", sqlite3_errmsg(c->db));
	sqlite3_finalize(st);
}

static bool
sel_equal(const struct policy_selector *x, const struct policy_selector *y)
{
	if (x->kind != y->kind)
		return false;
	switch (x->kind) {
	case SEL_ANY:
		return true;
	case SEL_DOMAIN:
	case SEL_GROUP:
		return x->index == y->index;
	case SEL_LEVEL:
		return x->min == y->min && x->max == y->max;
	}
	return false;
}

/* Lint that needs the decision logic: shadowed rules, empty level ranges, unreachable domains. */
static void
verify_lint_policy(const struct policy *p, struct ch_verify *vf, time_t now, bool mutual)
{
	char fs[300], ts[300], when[32];

	for (size_t i = 0; i < p->nrules; i++) {
		const struct policy_rule *r = &p->rules[i];
		if (rule_expired(r, now))
			continue; /* reported as expired */
		for (size_t j = 0; j < i; j++) {
			const struct policy_rule *e = &p->rules[j];
			if (rule_expired(e, now))
				continue;
			if ((e->from.kind == SEL_ANY && e->to.kind == SEL_ANY) ||
			    (sel_equal(&e->from, &r->from) && sel_equal(&e->to, &r->to))) {
				if (e->expires)
					verify_finding(vf, false, "rule %lld (%s -> %s) is shadowed by rule %lld "
					               "until that one expires at %s", (long long)r->id,
					               policy_selector_format(p, &r->from, fs, sizeof(fs)),
					               policy_selector_format(p, &r->to, ts, sizeof(ts)),
					               (long long)e->id, fmt_time(e->expires, when, sizeof(when)));
				else
					verify_finding(vf, false, "rule %lld (%s -> %s) is shadowed by rule %lld "
					               "and never decides", (long long)r->id,
					               policy_selector_format(p, &r->from, fs, sizeof(fs)),
					               policy_selector_format(p, &r->to, ts, sizeof(ts)),
					               (long long)e->id);
				break;
			}
		}
		for (int side = 0; side < 2; side++) {
			const struct policy_selector *sel = side ? &r->to : &r->from;
			bool hit = false;
			if (sel->kind != SEL_LEVEL)
				continue;
			for (size_t d = 0; d < p->ndomains && !hit; d++)
				hit = policy_selector_matches(p, sel, (uint32_t)d);
			if (!hit)
				verify_finding(vf, false, "rule %lld: %s selector %s matches no domain",
				               (long long)r->id, side ? "to" : "from",
				               policy_selector_format(p, sel, fs, sizeof(fs)));
		}
	}
	for (size_t d = 0; d < p->ndomains; d++) {
		bool reached = false;
		if (!p->domains[d].enabled)
			continue; /* unreachable on purpose */
		for (size_t r = 0; r < p->ndomains && !reached; r++) {
			struct policy_verdict v;
			if (r == d)
				continue;
			policy_decide(p, (uint32_t)r, (uint32_t)d, now, mutual, &v);
			reached = v.allow;
		}
		if (!reached)
			verify_finding(vf, false, "domain %s: no other domain may reach it%s",
			               p->domains[d].name, mutual ? " (with mutual consent)" : "");
	}
}

static int
cmd_verify(struct ch_ctx *c, const struct ch_args *a)
{
	struct ch_verify vf = { 0, 0 };
	char err[512];
	struct policy *p;
	sqlite3_stmt *st;
	int64_t version;

	verify_pragma(c, &vf, "integrity_check");
	verify_pragma(c, &vf, "quick_check");
	if (vf.errors)
		return CH_FAIL; /* nothing else can be trusted */
	version = db_schema_version(c, err, sizeof(err));
	if (version < 0) {
		verify_finding(&vf, true, "schema: %s", err);
		return CH_FAIL;
	}
	if (version != POLICYDB_SCHEMA_VERSION) {
		verify_finding(&vf, true, "schema: version %lld, this chpolicy knows %d",
		               (long long)version, POLICYDB_SCHEMA_VERSION);
		return CH_FAIL;
	}
	verify_schema_objects(c, &vf);
	if (sqlite3_prepare_v2(c->db, "PRAGMA journal_mode", -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW && strcmp(col_text(st, 0, ""), "wal") != 0)
			verify_finding(&vf, false, "journal mode is %s, not wal: writers block resolverd's "
			               "reads (fix: sqlite3 DB 'PRAGMA journal_mode=WAL')",
			               col_text(st, 0, ""));
		sqlite3_finalize(st);
	}
	verify_lint_identities(c, &vf);
	p = policydb_load(c->db, err, sizeof(err));
	if (!p) {
		verify_finding(&vf, true, "resolverd cannot load this policy: %s", err);
		return CH_FAIL;
	}
	verify_lint_sql(c, &vf,
	        "SELECT 'rule ' || id || ': expired at ' || expires"
	        " || ' (remove it: chpolicy rule remove ' || id || ')'"
	        " FROM rules WHERE expires IS NOT NULL AND datetime(expires) <= datetime('now')"
	        " ORDER BY priority, id");
	verify_lint_sql(c, &vf,
	        "SELECT 'group ' || g.name || ': no members, but named by rule(s) '"
	        " || (SELECT group_concat(id, ', ') FROM (SELECT id FROM rules"
	        "     WHERE (from_kind = 'group' AND from_name = g.name)"
	        "        OR (to_kind = 'group' AND to_name = g.name) ORDER BY id))"
	        " || ' (it selects nothing)'"
	        " FROM groups g WHERE NOT EXISTS (SELECT 1 FROM memberships WHERE grp = g.name)"
	        " AND EXISTS (SELECT 1 FROM rules WHERE (from_kind = 'group' AND from_name = g.name)"
	        "                                    OR (to_kind = 'group' AND to_name = g.name))"
	        " ORDER BY g.name");
	verify_lint_sql(c, &vf,
	        "SELECT 'domain ' || name || ': no identity (its queries cannot be attributed to it)'"
	        " FROM domains d WHERE enabled"
	        " AND NOT EXISTS (SELECT 1 FROM identities WHERE domain = d.name) ORDER BY name");
	verify_lint_sql(c, &vf,
	        "SELECT 'meta: actor is set to ' || quote(value) || ' outside a transaction:"
	        " edits from the sqlite3 shell are logged under that name'"
	        " FROM meta WHERE key = 'actor'");
	verify_lint_policy(p, &vf, time(NULL), !a->no_mutual);
	printf("%s: integrity ok, schema version %d, serial %llu, %zu domains, %zu rules, "
	       "%d warning%s\n", c->db_path, POLICYDB_SCHEMA_VERSION, (unsigned long long)p->serial,
	       p->ndomains, p->nrules, vf.warnings, vf.warnings == 1 ? "" : "s");
	policy_free(p);
	if (vf.errors)
		return CH_FAIL;
	return vf.warnings ? CH_NO : CH_OK;
}

/* ------------------------------------------------------------ the table */

static const struct ch_cmd ch_cmds[] = {
	{ "init", cmd_init, "", "create a new policy database (WAL mode)", "", 0, 0, DB_NONE,
	  "Creates the database named by --db from the schema built into chpolicy.\n"
	  "Refuses a file that exists and is not empty.\n" },
	{ "domain add", cmd_domain_add, "NAME [--level N] [--disabled] [--note TEXT]",
	  "add a community domain", "level disabled note", 1, 1, DB_WRITE,
	  "  --level N     clearance level, an integer >= 0 (default 0)\n"
	  "  --disabled    add it disabled: no rule allows it, either way\n"
	  "  --note TEXT   free text\n"
	  "NAME is stored lower-case, without a trailing dot.\n" },
	{ "domain list", cmd_domain_list, "", "list domains with level, groups and identities", "",
	  0, 0, DB_READ, NULL },
	{ "domain set", cmd_domain_set, "NAME [--level N] [--enable|--disable] [--note TEXT]",
	  "change a domain's level, state or note", "level enable disable note", 1, 1, DB_WRITE,
	  "  --level N     new clearance level\n"
	  "  --enable      enable it\n"
	  "  --disable     disable it: every decision to or from it is deny\n"
	  "  --note TEXT   replace the note\n" },
	{ "domain remove", cmd_domain_remove, "NAME",
	  "remove a domain (with its memberships and identities)", "", 1, 1, DB_WRITE,
	  "Refused while a rule names the domain: remove or change the rule first.\n" },
	{ "group add", cmd_group_add, "NAME [--note TEXT]", "add a group", "note", 1, 1, DB_WRITE,
	  "Group names: lower-case letters, digits and : . _ - (e.g. finance, auth:smartcard).\n" },
	{ "group list", cmd_group_list, "", "list groups, member counts and the rules naming them",
	  "", 0, 0, DB_READ, NULL },
	{ "group remove", cmd_group_remove, "NAME", "remove a group (and its memberships)", "", 1, 1,
	  DB_WRITE, "Refused while a rule names the group.\n" },
	{ "member add", cmd_member_add, "DOMAIN GROUP", "put a domain into a group", "", 2, 2,
	  DB_WRITE, NULL },
	{ "member remove", cmd_member_remove, "DOMAIN GROUP", "take a domain out of a group", "", 2,
	  2, DB_WRITE, NULL },
	{ "member list", cmd_member_list, "[GROUP]", "list memberships (of one group)", "", 0, 1,
	  DB_READ, NULL },
	{ "identity add", cmd_identity_add, "DOMAIN CIDR [--note TEXT]",
	  "bind a source prefix to a domain", "note", 2, 2, DB_WRITE,
	  "CIDR is an IPv4 or IPv6 prefix or a bare address (a host prefix). It is stored\n"
	  "in canonical form: host bits cleared, compressed lower-case IPv6\n"
	  "(10.1.2.3/8 -> 10.0.0.0/8, 127.0.0.2 -> 127.0.0.2/32). A prefix belongs to\n"
	  "one domain; resolverd picks the longest matching prefix.\n" },
	{ "identity list", cmd_identity_list, "[DOMAIN]", "list identities (of one domain)", "", 0,
	  1, DB_READ, NULL },
	{ "identity remove", cmd_identity_remove, "CIDR", "remove a source prefix", "", 1, 1,
	  DB_WRITE, "CIDR is canonicalised first, so 10.1.2.3/8 removes 10.0.0.0/8.\n" },
	{ "rule add", cmd_rule_add,
	  "--from SEL --to SEL (--allow|--deny) [--priority N] [--expires TIME] [--note TEXT]",
	  "add a rule; prints its id", "from to allow deny priority expires note", 0, 0, DB_WRITE,
	  "  --from SEL      the requesters the rule applies to\n"
	  "  --to SEL        the peers they look up\n"
	  "  --allow/--deny  the action\n"
	  "  --priority N    lower numbers are tried first (default 100); ties by id\n"
	  "  --expires TIME  'YYYY-MM-DD HH:MM:SS' (UTC) or +N[s|m|h|d|w] from now\n"
	  "  --note TEXT     free text\n"
	  "SEL is one of:\n"
	  "  any            every domain\n"
	  "  domain:NAME    one domain\n"
	  "  group:NAME     the members of a group\n"
	  "  level:N        domains of level N\n"
	  "  level:N-M      levels N to M (inclusive)\n"
	  "  level:>=N      level N and above\n"
	  "  level:<=N      level N and below\n"
	  "The first unexpired matching rule decides; no match means deny.\n" },
	{ "rule list", cmd_rule_list, "", "list rules in evaluation order", "", 0, 0, DB_READ, NULL },
	{ "rule remove", cmd_rule_remove, "ID", "remove a rule", "", 1, 1, DB_WRITE, NULL },
	{ "check", cmd_check, "R P [--all] [--no-mutual]",
	  "decide R -> P as resolverd would, and say which rule decided", "all no-mutual", 2, 2,
	  DB_READ,
	  "  --all         also list every rule matching R -> P and P -> R, in order;\n"
	  "                * marks the one that decided\n"
	  "  --no-mutual   decide without requiring P -> R (resolverd: require-mutual: no)\n"
	  "R is a domain or a source address (identified by the longest matching prefix).\n"
	  "Exit status: 0 allow, 1 deny, 2 unknown R or P.\n" },
	{ "audit", cmd_audit, "[--since SERIAL]", "print the change log", "since", 0, 0, DB_READ,
	  "  --since SERIAL   only changes after that serial\n"
	  "Columns: serial, time (UTC), actor, table, operation, old row -> new row (JSON).\n" },
	{ "serial", cmd_serial, "", "print the policy serial", "", 0, 0, DB_READ, NULL },
	{ "backup", cmd_backup, "FILE", "write a consistent copy (safe while resolverd runs)", "", 1,
	  1, DB_READ, "Uses SQLite's online backup API. Refuses to overwrite an existing FILE.\n" },
	{ "verify", cmd_verify, "[--no-mutual]", "check integrity and lint the policy", "no-mutual",
	  0, 0, DB_READ,
	  "Runs PRAGMA integrity_check and quick_check, checks the schema version and that\n"
	  "every table, index and trigger of the schema is present and unchanged, then\n"
	  "warns about expired rules, shadowed rules, groups named by rules but without\n"
	  "members, level selectors that match no domain, identities not in canonical\n"
	  "form, domains without identity and domains nobody may reach (with mutual\n"
	  "consent unless --no-mutual).\n"
	  "Exit status: 0 clean, 1 warnings only, 3 integrity or schema error.\n" },
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
	      "  0  success; check: allow; verify: clean\n"
	      "  1  check: deny; verify: warnings only\n"
	      "  2  usage error: bad or missing argument, unknown command or domain in check\n"
	      "  3  database or runtime error: refused edit, missing database, integrity error\n"
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
	if (!c.db_path)
		return ch_usage(&c, "no database: give --db PATH or set CHPOLICY_DB");
	if (c.cmd->access != DB_NONE) {
		rc = db_open(&c, c.cmd->access == DB_WRITE, c.cmd->run != cmd_verify);
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
