/*
 * chpolicy_edit.c -- the commands that change the policy database (init;
 * domain, group, member, identity, rule and target add/set/remove; restore)
 * and the lists that show what they wrote.
 *
 * Edits are plain SQL statements with bound parameters; the database refuses
 * bad rows itself (schema.sql), and chpolicy passes its message on. Each edit
 * is one transaction that first names its actor in meta('actor'), so that
 * the audit triggers record who made it, and that commits only when
 * resolverd's own loader reads the policy it leaves.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "netaddr.h"
#include "policy.h"
#include "policydb.h"
#include "chpolicy.h"
#include "tsig.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

/* ------------------------------------------------------------ small parsers */

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

/*
 * --expires, --at: an absolute UTC time 'YYYY-MM-DD HH:MM:SS' (a 'T' separator is
 * accepted) or +N[s|m|h|d|w] from now. Checked here, strictly, because the
 * schema's datetime() test accepts many forms ('now', Julian day numbers) that
 * an operator would not mean. Writes the canonical form into out.
 */
int
ch_parse_time(const char *s, time_t now, char *out, size_t len)
{
	static const char pattern[] = "dddd-dd-dd dd:dd:dd";
	struct tm tm, back;
	time_t t;

	if (s[0] == '+') {
		int64_t secs;
		if (ch_parse_duration(s + 1, &secs) != 0)
			return -1;
		ch_fmt_time(now + (time_t)secs, out, len);
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
	ch_fmt_time(t, out, len);
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
 * with its own message, as it would from the sqlite3 shell. -1: not a
 * selector; -2: a domain name ch_name_arg refused (reported).
 */
static int
sel_parse(const struct ch_ctx *c, const char *what, const char *text, struct ch_sel *s)
{
	memset(s, 0, sizeof(*s));
	if (strcasecmp(text, "any") == 0) {
		s->kind = "any";
		return 0;
	}
	if (strncasecmp(text, "domain:", 7) == 0 && text[7]) {
		s->kind = "domain";
		s->name = ch_name_arg(c, what, text + 7, false);
		return s->name ? 0 : -2;
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

/* ------------------------------------------------------------ transactions */

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

	if (ch_db_prepare(c, sql, &st) != CH_OK)
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
int
ch_tx_begin(struct ch_ctx *c)
{
	sqlite3_stmt *st;

	if (sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return ch_dberror(c);
	if (ch_db_prepare(c, "INSERT OR REPLACE INTO meta (key, value) VALUES ('actor', ?)", &st) != CH_OK)
		goto fail;
	sqlite3_bind_text(st, 1, c->actor ? c->actor : default_actor(), -1, SQLITE_TRANSIENT);
	if (db_done(c, st) != CH_OK)
		goto fail;
	return CH_OK;
fail:
	sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	return CH_FAIL;
}

/*
 * Commit if the edit succeeded (rc == CH_OK) and resolverd's own loader reads
 * the policy the transaction leaves, else roll back. Returns the outcome.
 */
int
ch_tx_end(struct ch_ctx *c, int rc)
{
	char err[512];

	if (rc == CH_OK && sqlite3_exec(c->db, "DELETE FROM meta WHERE key = 'actor'", NULL, NULL, NULL) != SQLITE_OK)
		rc = ch_dberror(c);
	if (rc == CH_OK) {
		struct policy *p = policydb_load(c->db, err, sizeof(err));
		if (!p)
			rc = ch_error(c, CH_FAIL, "refused: resolverd could not load the policy this edit "
			              "leaves: %s; nothing was changed", err);
		policy_free(p);
	}
	if (rc == CH_OK && sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		rc = ch_dberror(c);
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
	int rc = ch_tx_begin(c);

	if (rc != CH_OK)
		return rc;
	rc = ch_db_prepare(c, sql, &st);
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
	return ch_tx_end(c, rc);
}

/* ------------------------------------------------------------ init */

/* Create the database from the built-in schema, in WAL mode, all or nothing. */
int
ch_cmd_init(struct ch_ctx *c, const struct ch_args *a)
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
	/* no access for other users: the file may hold TSIG secrets (its -wal and -shm take its mode) */
	mode_t mask = umask(0);
	umask(mask | S_IRWXO);
	rc = sqlite3_open_v2(c->db_path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	umask(mask);
	if (rc == SQLITE_OK && existed)
		chmod(c->db_path, sb.st_mode & ~(mode_t)S_IRWXO & 07777);
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
	if (rc != SQLITE_ROW || strcmp(ch_col_text(st, 0, ""), "wal") != 0) {
		ch_error(c, CH_FAIL, "%s: cannot switch to WAL mode: %s", c->db_path,
		         rc == SQLITE_ROW ? ch_col_text(st, 0, "") : sqlite3_errmsg(c->db));
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
		policydb_remove(c->db_path); /* leave nothing half-made behind */
	}
	return CH_FAIL;
}

/* ------------------------------------------------------------ domains */

/* --level: an integer that fits the snapshot's uint32_t levels. */
static int
opt_level(const struct ch_ctx *c, const char *text, int64_t *level)
{
	if (ch_parse_int64(text, level) != 0)
		return ch_usage(c, "--level: not an integer: '%s'", text);
	/* negative levels are left for the schema to refuse, with its own message */
	if (*level > 2147483647)
		return ch_usage(c, "--level: too large: '%s'", text);
	return CH_OK;
}

/* --require-identity: one of the schema's three words (NULL: not given). */
static int
opt_require(const struct ch_ctx *c, const char *text)
{
	if (text && strcmp(text, "source") != 0 && strcmp(text, "cert") != 0 && strcmp(text, "tsig") != 0)
		return ch_usage(c, "--require-identity: '%s' is not source, cert or tsig", text);
	return CH_OK;
}

int
ch_cmd_domain_add(struct ch_ctx *c, const struct ch_args *a)
{
	int64_t level = 0;
	sqlite3_stmt *st;
	int rc;

	if (a->level && (rc = opt_level(c, a->level, &level)) != CH_OK)
		return rc;
	if ((rc = opt_require(c, a->require_identity)) != CH_OK)
		return rc;
	char *name = ch_name_arg(c, "NAME", a->pos[0], false);
	if (!name)
		return CH_USAGE;
	if ((rc = ch_tx_begin(c)) == CH_OK) {
		rc = ch_db_prepare(c, "INSERT INTO domains (name, level, enabled, note, require_identity)"
		                   " VALUES (?, ?, ?, ?, coalesce(?, 'source'))", &st);
		if (rc == CH_OK) {
			sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
			sqlite3_bind_int64(st, 2, level);
			sqlite3_bind_int(st, 3, a->disabled ? 0 : 1);
			sqlite3_bind_text(st, 4, a->note ? a->note : "", -1, SQLITE_TRANSIENT);
			if (a->require_identity)
				sqlite3_bind_text(st, 5, a->require_identity, -1, SQLITE_TRANSIENT);
			rc = db_done(c, st);
		}
		rc = ch_tx_end(c, rc);
	}
	free(name);
	return rc;
}

int
ch_cmd_domain_set(struct ch_ctx *c, const struct ch_args *a)
{
	int64_t level = 0;
	sqlite3_stmt *st;
	int rc, changes = 0;

	if (!a->level && !a->enable && !a->disable && !a->note && !a->require_identity)
		return ch_usage(c, "nothing to change");
	if (a->enable && a->disable)
		return ch_usage(c, "--enable and --disable exclude each other");
	if ((rc = opt_require(c, a->require_identity)) != CH_OK)
		return rc;
	if (a->level && (rc = opt_level(c, a->level, &level)) != CH_OK)
		return rc;
	char *name = ch_name_arg(c, "NAME", a->pos[0], false);
	if (!name)
		return CH_USAGE;
	if ((rc = ch_tx_begin(c)) == CH_OK) {
		rc = ch_db_prepare(c, "UPDATE domains SET level = coalesce(?1, level),"
		                   " enabled = coalesce(?2, enabled), note = coalesce(?3, note),"
		                   " require_identity = coalesce(?5, require_identity)"
		                   " WHERE name = ?4", &st);
		if (rc == CH_OK) {
			if (a->level)
				sqlite3_bind_int64(st, 1, level);
			if (a->enable || a->disable)
				sqlite3_bind_int(st, 2, a->enable ? 1 : 0);
			if (a->note)
				sqlite3_bind_text(st, 3, a->note, -1, SQLITE_TRANSIENT);
			sqlite3_bind_text(st, 4, name, -1, SQLITE_TRANSIENT);
			if (a->require_identity)
				sqlite3_bind_text(st, 5, a->require_identity, -1, SQLITE_TRANSIENT);
			rc = db_done(c, st);
			changes = sqlite3_changes(c->db);
		}
		if (rc == CH_OK && changes == 0)
			rc = ch_error(c, CH_FAIL, "no such domain: %s", name);
		rc = ch_tx_end(c, rc);
	}
	free(name);
	return rc;
}

int
ch_cmd_domain_remove(struct ch_ctx *c, const struct ch_args *a)
{
	char *name = ch_name_arg(c, "NAME", a->pos[0], false);
	if (!name)
		return CH_USAGE;
	const char *params[] = { name };
	int changes = 0;
	int rc = db_edit(c, "DELETE FROM domains WHERE name = ?", 1, params, &changes);

	if (rc == CH_OK && changes == 0)
		rc = ch_error(c, CH_FAIL, "no such domain: %s", name);
	free(name);
	return rc;
}

int
ch_cmd_domain_list(struct ch_ctx *c, const struct ch_args *a)
{
	static const char *head[] = { "NAME", "LEVEL", "STATE", "GROUPS", "IDENTITIES", "REQUIRE", "NOTE" };
	struct ch_table t = { .ncols = 7 };
	sqlite3_stmt *st;
	int rc;

	(void)a;
	if ((rc = ch_db_prepare(c,
	        "SELECT d.name, d.level, d.enabled,"
	        " (SELECT group_concat(grp, ',') FROM"
	        "   (SELECT grp FROM memberships WHERE domain = d.name ORDER BY grp)),"
	        " (SELECT group_concat(v, ',') FROM"
	        "   (SELECT CASE kind WHEN 'cidr' THEN value ELSE kind || ':' || value END AS v"
	        "    FROM identities WHERE domain = d.name ORDER BY kind, value)),"
	        " d.note, d.require_identity FROM domains d ORDER BY d.name", &st)) != CH_OK)
		return rc;
	ch_table_add(&t, head);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		char name[600];
		const char *row[7] = {
			ch_name_show(ch_col_text(st, 0, ""), name, sizeof(name)), ch_col_text(st, 1, ""),
			sqlite3_column_int(st, 2) ? "enabled" : "disabled",
			ch_col_text(st, 3, "-"), ch_col_text(st, 4, "-"), ch_col_text(st, 6, "source"),
			ch_col_text(st, 5, ""),
		};
		ch_table_add(&t, row);
	}
	rc = ch_table_finish(c, &t, st, rc);
	return rc;
}

/* ------------------------------------------------------------ groups */

int
ch_cmd_group_add(struct ch_ctx *c, const struct ch_args *a)
{
	char *name = name_normalize(a->pos[0]);
	const char *params[] = { name, a->note ? a->note : "" };
	int rc = db_edit(c, "INSERT INTO groups (name, note) VALUES (?, ?)", 2, params, NULL);

	free(name);
	return rc;
}

int
ch_cmd_group_remove(struct ch_ctx *c, const struct ch_args *a)
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

int
ch_cmd_group_list(struct ch_ctx *c, const struct ch_args *a)
{
	static const char *head[] = { "NAME", "MEMBERS", "RULES", "NOTE" };
	struct ch_table t = { .ncols = 4 };
	sqlite3_stmt *st;
	int rc;

	(void)a;
	if ((rc = ch_db_prepare(c,
	        "SELECT g.name,"
	        " (SELECT count(*) FROM memberships WHERE grp = g.name),"
	        " (SELECT group_concat(id, ',') FROM (SELECT id FROM rules"
	        "   WHERE (from_kind = 'group' AND from_name = g.name)"
	        "      OR (to_kind = 'group' AND to_name = g.name) ORDER BY id)),"
	        " g.note FROM groups g ORDER BY g.name", &st)) != CH_OK)
		return rc;
	ch_table_add(&t, head);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *row[4] = { ch_col_text(st, 0, ""), ch_col_text(st, 1, "0"), ch_col_text(st, 2, "-"),
		                       ch_col_text(st, 3, "") };
		ch_table_add(&t, row);
	}
	rc = ch_table_finish(c, &t, st, rc);
	return rc;
}

int
ch_cmd_member_add(struct ch_ctx *c, const struct ch_args *a)
{
	char *domain = ch_name_arg(c, "DOMAIN", a->pos[0], false), *group = name_normalize(a->pos[1]);
	if (!domain) {
		free(group);
		return CH_USAGE;
	}
	const char *params[] = { domain, group };
	int rc = db_edit(c, "INSERT INTO memberships (domain, grp) VALUES (?, ?)", 2, params, NULL);

	free(domain);
	free(group);
	return rc;
}

int
ch_cmd_member_remove(struct ch_ctx *c, const struct ch_args *a)
{
	char *domain = ch_name_arg(c, "DOMAIN", a->pos[0], false), *group = name_normalize(a->pos[1]);
	if (!domain) {
		free(group);
		return CH_USAGE;
	}
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

int
ch_cmd_member_list(struct ch_ctx *c, const struct ch_args *a)
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
	if ((rc = ch_db_prepare(c, "SELECT grp, domain FROM memberships WHERE ?1 IS NULL OR grp = ?1"
	                        " ORDER BY grp, domain", &st)) != CH_OK) {
		free(group);
		return rc;
	}
	if (group)
		sqlite3_bind_text(st, 1, group, -1, SQLITE_TRANSIENT);
	ch_table_add(&t, head);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *row[2] = { ch_col_text(st, 0, ""), ch_col_text(st, 1, "") };
		ch_table_add(&t, row);
	}
	rc = ch_table_finish(c, &t, st, rc);
	free(group);
	return rc;
}

/* ------------------------------------------------------------ identities */

/*
 * The canonical text of a CIDR (host bits cleared, RFC 5952 IPv6, an
 * IPv4-mapped IPv6 prefix as the IPv4 prefix it maps: resolverd sees such a
 * source as IPv4). *mapped: it was one.
 */
static int
cidr_canonical(const struct ch_ctx *c, const char *text, char *buf, size_t len, bool *mapped)
{
	struct netaddr na;
	const char *why = "invalid";

	if (netaddr_parse_cidr(text, &na, &why) != 0)
		return ch_usage(c, "%s: %s", text, why);
	*mapped = netaddr_unmap(&na);
	netaddr_format(&na, buf, len);
	return CH_OK;
}

/*
 * The secret of identity add --tsig, base64 in out (outlen bytes): read
 * from --secret-file (one line, as dig -y takes it; white space around it
 * ignored) or made with --generate (as many random bytes as the MAC, RFC
 * 8945 6) and printed once. CH_OK, or the error reported.
 */
static int
tsig_secret(struct ch_ctx *c, const struct ch_args *a, const char *name, enum tsig_algorithm alg,
            char *out, size_t outlen)
{
	uint8_t raw[TSIG_SECRET_MAX + 3];

	if (!!a->secret_file == a->generate)
		return ch_usage(c, "--tsig needs exactly one of --secret-file F and --generate");
	if (a->generate) {
		size_t n = tsig_mac_size(alg);
		if (RAND_bytes(raw, (int)n) != 1)
			return ch_error(c, CH_FAIL, "no random bytes for the secret");
		EVP_EncodeBlock((unsigned char *)out, raw, (int)n);
		OPENSSL_cleanse(raw, sizeof(raw));
		return CH_OK;
	}
	FILE *f = fopen(a->secret_file, "r");
	if (!f)
		return ch_error(c, CH_FAIL, "%s: %s", a->secret_file, strerror(errno));
	char line[512];
	size_t len = fread(line, 1, sizeof(line) - 1, f);
	int err = ferror(f);
	fclose(f);
	line[len] = '\0';
	char *b = line, *e = line + len;
	while (b < e && isspace((unsigned char)*b))
		b++;
	while (e > b && isspace((unsigned char)e[-1]))
		*--e = '\0';
	if (err || len == sizeof(line) - 1 || (size_t)(e - b) >= outlen)
		return ch_usage(c, "%s: not one base64 secret of 16 to 128 bytes", a->secret_file);
	/* decoded as resolverd will: the schema checks the text, not what it decodes to */
	int n = policydb_base64_decode(b, raw, sizeof(raw));
	OPENSSL_cleanse(raw, sizeof(raw));
	if (n < 16 || n > TSIG_SECRET_MAX)
		return ch_usage(c, "%s: not one base64 secret of 16 to 128 bytes (key %s)", a->secret_file, name);
	memcpy(out, b, (size_t)(e - b) + 1);
	OPENSSL_cleanse(line, sizeof(line));
	return CH_OK;
}

/* identity add DOMAIN --tsig NAME ... */
static int
identity_add_tsig(struct ch_ctx *c, const struct ch_args *a, const char *domain)
{
	enum tsig_algorithm alg = tsig_algorithm_from_text(a->algorithm ? a->algorithm : "hmac-sha256");
	char secret[200];

	if (alg == TSIG_NONE)
		return ch_usage(c, "--algorithm %s: use hmac-sha256, hmac-sha384 or hmac-sha512%s",
		                a->algorithm, strncasecmp(a->algorithm, "hmac-sha1", 9) == 0 ||
		                              strncasecmp(a->algorithm, "hmac-md5", 8) == 0
		                                  ? " (hmac-sha1 and hmac-md5 are refused)" : "");
	char *name = ch_key_name_arg(c, "--tsig", a->tsig);
	if (!name)
		return CH_USAGE;
	int rc = ch_db_private(c, c->db_path);
	if (rc == CH_OK)
		rc = tsig_secret(c, a, name, alg, secret, sizeof(secret));
	if (rc == CH_OK && a->generate) {
		/* shown before it is stored: a secret nobody saw must not identify anyone */
		printf("key \"%s\" {\n\talgorithm %s;\n\tsecret \"%s\";\n};\n"
		       "# dig -y %s:%s:%s\n# this secret is not shown again\n",
		       name, tsig_algorithm_text(alg), secret, tsig_algorithm_text(alg), name, secret);
		if (fflush(stdout) != 0 || ferror(stdout))
			rc = ch_error(c, CH_FAIL, "the new secret could not be written out (%s): the key is "
			              "not stored", strerror(errno));
	}
	if (rc == CH_OK) {
		const char *params[] = { name, domain, a->note ? a->note : "", tsig_algorithm_text(alg), secret };
		rc = db_edit(c, "INSERT INTO identities (kind, value, domain, note, algorithm, secret)"
		             " VALUES ('tsig', ?, ?, ?, ?, ?)", 5, params, NULL);
		if (rc != CH_OK && a->generate)
			fprintf(stderr, "chpolicy: identity add: the secret printed above is not stored\n");
	}
	OPENSSL_cleanse(secret, sizeof(secret));
	free(name);
	return rc;
}

int
ch_cmd_identity_add(struct ch_ctx *c, const struct ch_args *a)
{
	int kinds = (a->npos == 2) + !!a->tsig + !!a->cert;

	if (kinds != 1)
		return ch_usage(c, "give one of CIDR, --tsig NAME and --cert NAME");
	if (!a->tsig && (a->algorithm || a->secret_file || a->generate))
		return ch_usage(c, "--algorithm, --secret-file and --generate go with --tsig");
	char *domain = ch_name_arg(c, "DOMAIN", a->pos[0], false);
	if (!domain)
		return CH_USAGE;
	int rc;
	if (a->tsig) {
		rc = identity_add_tsig(c, a, domain);
	} else if (a->cert) {
		char *name = ch_key_name_arg(c, "--cert", a->cert);
		const char *params[] = { name, domain, a->note ? a->note : "" };
		rc = name ? db_edit(c, "INSERT INTO identities (kind, value, domain, note)"
		                    " VALUES ('cert', ?, ?, ?)", 3, params, NULL)
		          : CH_USAGE;
		free(name);
	} else {
		char cidr[NETADDR_TEXT_MAX];
		bool mapped;
		rc = cidr_canonical(c, a->pos[1], cidr, sizeof(cidr), &mapped);
		const char *params[] = { cidr, domain, a->note ? a->note : "" };
		if (rc == CH_OK)
			rc = db_edit(c, "INSERT INTO identities (kind, value, domain, note) VALUES ('cidr', ?, ?, ?)",
			             3, params, NULL);
		if (rc == CH_OK && mapped)
			printf("%s is IPv4-mapped IPv6: stored as %s (resolverd sees such a source as IPv4)\n",
			       a->pos[1], cidr);
	}
	free(domain);
	return rc;
}

int
ch_cmd_identity_remove(struct ch_ctx *c, const struct ch_args *a)
{
	char value[NETADDR_TEXT_MAX > 300 ? NETADDR_TEXT_MAX : 300];
	const char *kind = a->tsig ? "tsig" : a->cert ? "cert" : "cidr";
	int changes = 0, rc = CH_OK;

	if ((a->npos == 1) + !!a->tsig + !!a->cert != 1)
		return ch_usage(c, "give one of CIDR, --tsig NAME and --cert NAME");
	if (a->npos == 1) {
		bool mapped;
		rc = cidr_canonical(c, a->pos[0], value, sizeof(value), &mapped);
	} else {
		char *name = ch_key_name_arg(c, a->tsig ? "--tsig" : "--cert", a->tsig ? a->tsig : a->cert);
		if (!name)
			return CH_USAGE;
		snprintf(value, sizeof(value), "%s", name);
		free(name);
	}
	if (rc != CH_OK)
		return rc;
	const char *params[] = { kind, value };
	rc = db_edit(c, "DELETE FROM identities WHERE kind = ? AND value = ?", 2, params, &changes);
	if (rc == CH_OK && changes == 0)
		rc = ch_error(c, CH_FAIL, "no such identity: %s%s%s", a->npos ? "" : kind,
		              a->npos ? "" : ":", value);
	return rc;
}

/*
 * The optional DOMAIN of identity list and target list: *domain is NULL
 * without one, else the malloced name of a domain that exists. CH_OK, or
 * the error reported.
 */
static int
list_domain_arg(struct ch_ctx *c, const struct ch_args *a, char **domain)
{
	*domain = NULL;
	if (a->npos == 0)
		return CH_OK;
	if (!(*domain = ch_name_arg(c, "DOMAIN", a->pos[0], false)))
		return CH_USAGE;
	int e = db_exists(c, "SELECT 1 FROM domains WHERE name = ?", *domain);
	if (e > 0)
		return CH_OK;
	int rc = e < 0 ? CH_FAIL : ch_error(c, CH_FAIL, "no such domain: %s", *domain);
	free(*domain);
	*domain = NULL;
	return rc;
}

int
ch_cmd_identity_list(struct ch_ctx *c, const struct ch_args *a)
{
	static const char *head[] = { "KIND", "VALUE", "DOMAIN", "ALGORITHM", "NOTE" };
	struct ch_table t = { .ncols = 5 };
	char *domain;
	sqlite3_stmt *st;
	int rc = list_domain_arg(c, a, &domain);

	if (rc != CH_OK)
		return rc;
	/* never the secret */
	if ((rc = ch_db_prepare(c, "SELECT kind, value, domain, note, algorithm FROM identities"
	                        " WHERE ?1 IS NULL OR domain = ?1 ORDER BY domain, kind, value",
	                     &st)) != CH_OK) {
		free(domain);
		return rc;
	}
	if (domain)
		sqlite3_bind_text(st, 1, domain, -1, SQLITE_TRANSIENT);
	ch_table_add(&t, head);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *row[5] = { ch_col_text(st, 0, ""), ch_col_text(st, 1, ""), ch_col_text(st, 2, ""),
		                       ch_col_text(st, 4, "-"), ch_col_text(st, 3, "") };
		ch_table_add(&t, row);
	}
	rc = ch_table_finish(c, &t, st, rc);
	free(domain);
	return rc;
}

/* ------------------------------------------------------------ rules */

int
ch_cmd_rule_add(struct ch_ctx *c, const struct ch_args *a)
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
	if (a->priority && ch_parse_int64(a->priority, &priority) != 0)
		return ch_usage(c, "--priority: not an integer: '%s'", a->priority);
	if (a->expires && ch_parse_time(a->expires, time(NULL), expires, sizeof(expires)) != 0)
		return ch_usage(c, "--expires: want 'YYYY-MM-DD HH:MM:SS' (UTC) or +N[s|m|h|d|w], not '%s'",
		                a->expires);
	if ((rc = sel_parse(c, "--from", a->from, &from)) != 0) {
		free(from.name);
		return rc == -2 ? CH_USAGE : ch_usage(c, "--from: invalid selector '%s'", a->from);
	}
	if ((rc = sel_parse(c, "--to", a->to, &to)) != 0) {
		free(from.name);
		free(to.name);
		return rc == -2 ? CH_USAGE : ch_usage(c, "--to: invalid selector '%s'", a->to);
	}
	if ((rc = ch_tx_begin(c)) == CH_OK) {
		rc = ch_db_prepare(c, "INSERT INTO rules (priority, from_kind, from_name, from_min, from_max,"
		                   " to_kind, to_name, to_min, to_max, action, expires, note, mode)"
		                   " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", &st);
		if (rc == CH_OK) {
			sqlite3_bind_int64(st, 1, priority);
			sel_bind(st, 2, &from);
			sel_bind(st, 6, &to);
			sqlite3_bind_text(st, 10, a->allow ? "allow" : "deny", -1, SQLITE_STATIC);
			if (a->expires)
				sqlite3_bind_text(st, 11, expires, -1, SQLITE_TRANSIENT);
			sqlite3_bind_text(st, 12, a->note ? a->note : "", -1, SQLITE_TRANSIENT);
			sqlite3_bind_text(st, 13, a->dry_run ? "dry-run" : "enforce", -1, SQLITE_STATIC);
			rc = db_done(c, st);
			id = sqlite3_last_insert_rowid(c->db);
		}
		rc = ch_tx_end(c, rc);
	}
	free(from.name);
	free(to.name);
	if (rc == CH_OK)
		printf("%lld\n", (long long)id);
	return rc;
}

int
ch_cmd_rule_remove(struct ch_ctx *c, const struct ch_args *a)
{
	int64_t id;
	int changes = 0;

	if (ch_parse_int64(a->pos[0], &id) != 0 || id <= 0)
		return ch_usage(c, "not a rule id: '%s'", a->pos[0]);
	const char *params[] = { a->pos[0] };
	/* bound as text, compared as an integer thanks to the column's affinity */
	int rc = db_edit(c, "DELETE FROM rules WHERE id = CAST(? AS INTEGER)", 1, params, &changes);
	if (rc == CH_OK && changes == 0)
		rc = ch_error(c, CH_FAIL, "no such rule: %lld", (long long)id);
	return rc;
}

int
ch_cmd_rule_set(struct ch_ctx *c, const struct ch_args *a)
{
	int64_t id;
	int changes = 0;

	if (ch_parse_int64(a->pos[0], &id) != 0 || id <= 0)
		return ch_usage(c, "not a rule id: '%s'", a->pos[0]);
	if (a->enforce == a->dry_run)
		return ch_usage(c, "give exactly one of --enforce and --dry-run");
	const char *params[] = { a->dry_run ? "dry-run" : "enforce", a->pos[0] };
	int rc = db_edit(c, "UPDATE rules SET mode = ? WHERE id = CAST(? AS INTEGER)", 2, params, &changes);
	if (rc == CH_OK && changes == 0)
		rc = ch_error(c, CH_FAIL, "no such rule: %lld", (long long)id);
	if (rc == CH_OK)
		printf("rule %lld: %s\n", (long long)id, params[0]);
	return rc;
}

int
ch_cmd_rule_list(struct ch_ctx *c, const struct ch_args *a)
{
	static const char *head[] = { "ID", "PRIORITY", "FROM", "TO", "ACTION", "MODE", "EXPIRES", "NOTE" };
	struct ch_table t = { .ncols = 8 };
	sqlite3_stmt *st;
	int rc;

	(void)a;
	if ((rc = ch_db_prepare(c,
	        "SELECT id, priority, from_kind, from_name, from_min, from_max,"
	        " to_kind, to_name, to_min, to_max, action, expires,"
	        " expires IS NOT NULL AND datetime(expires) <= datetime('now'), note, mode"
	        " FROM rules ORDER BY priority, id", &st)) != CH_OK)
		return rc;
	ch_table_add(&t, head);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		char from[300], to[300], exp[64];
		if (sqlite3_column_type(st, 11) == SQLITE_NULL)
			snprintf(exp, sizeof(exp), "never");
		else
			snprintf(exp, sizeof(exp), "%s%s", ch_col_text(st, 11, ""),
			         sqlite3_column_int(st, 12) ? " (expired)" : "");
		const char *row[8] = {
			ch_col_text(st, 0, ""), ch_col_text(st, 1, ""),
			sel_format_cols(st, 2, from, sizeof(from)), sel_format_cols(st, 6, to, sizeof(to)),
			ch_col_text(st, 10, ""), ch_col_text(st, 14, ""), exp, ch_col_text(st, 13, ""),
		};
		ch_table_add(&t, row);
	}
	rc = ch_table_finish(c, &t, st, rc);
	return rc;
}

/* ------------------------------------------------------------ targets */

/* --priority, --weight, --port of target add: an integer from 0 to 65535 (the schema narrows it). */
static int
opt_u16(const struct ch_ctx *c, const char *opt, const char *text, int64_t *out)
{
	if (text && (ch_parse_int64(text, out) != 0 || *out < 0 || *out > 65535))
		return ch_usage(c, "--%s: not an integer from 0 to 65535: '%s'", opt, text);
	return CH_OK;
}

int
ch_cmd_target_add(struct ch_ctx *c, const struct ch_args *a)
{
	char addr[CH_MAXADDR][NETADDR_TEXT_MAX];
	int64_t prio = 0, weight = 0, port;
	sqlite3_stmt *st;
	int rc;

	if ((rc = opt_u16(c, "priority", a->priority, &prio)) != CH_OK ||
	    (rc = opt_u16(c, "weight", a->weight, &weight)) != CH_OK)
		return rc;
	for (int i = 0; i < a->naddress; i++) {
		struct netaddr na;
		const char *why = "";
		if (strchr(a->address[i], '/') || netaddr_parse_cidr(a->address[i], &na, &why) != 0)
			return ch_usage(c, "--address: '%s' is not a single IPv4 or IPv6 address", a->address[i]);
		netaddr_unmap(&na); /* ::ffff:192.0.2.1 is answered as the A record it maps */
		netaddr_format_addr(&na, addr[i], sizeof(addr[i]));
	}
	char *domain = ch_name_arg(c, "DOMAIN", a->pos[0], false);
	char *host = domain ? ch_name_arg(c, "HOST", a->pos[1], true) : NULL;
	bool none = host && strcmp(host, ".") == 0;
	if (!host) {
		free(domain);
		return CH_USAGE;
	}
	port = none ? 0 : 5269;
	if ((rc = opt_u16(c, "port", a->port, &port)) != CH_OK || (none && a->naddress > 0)) {
		free(domain);
		free(host);
		return rc != CH_OK ? rc : ch_usage(c, "HOST . (no service) has no address");
	}
	if ((rc = ch_tx_begin(c)) == CH_OK) {
		/* with --address, an existing target only gets the addresses */
		rc = ch_db_prepare(c, a->naddress > 0
		                   ? "INSERT INTO targets (domain, service, priority, weight, port, host)"
		                     " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
		                   : "INSERT INTO targets (domain, service, priority, weight, port, host)"
		                     " VALUES (?, ?, ?, ?, ?, ?)", &st);
		if (rc == CH_OK) {
			sqlite3_bind_text(st, 1, domain, -1, SQLITE_TRANSIENT);
			sqlite3_bind_text(st, 2, a->service ? a->service : "xmpp-server", -1, SQLITE_TRANSIENT);
			sqlite3_bind_int64(st, 3, prio);
			sqlite3_bind_int64(st, 4, weight);
			sqlite3_bind_int64(st, 5, port);
			sqlite3_bind_text(st, 6, host, -1, SQLITE_TRANSIENT);
			rc = db_done(c, st);
		}
		for (int i = 0; rc == CH_OK && i < a->naddress; i++) {
			const char *params[] = { host, addr[i] };
			rc = ch_db_prepare(c, "INSERT OR IGNORE INTO target_addresses (host, address) VALUES (?, ?)", &st);
			for (int k = 0; rc == CH_OK && k < 2; k++)
				sqlite3_bind_text(st, k + 1, params[k], -1, SQLITE_TRANSIENT);
			if (rc == CH_OK)
				rc = db_done(c, st);
		}
		rc = ch_tx_end(c, rc);
	}
	free(domain);
	free(host);
	return rc;
}

int
ch_cmd_target_list(struct ch_ctx *c, const struct ch_args *a)
{
	static const char *head[] = { "DOMAIN", "SERVICE", "PRIORITY", "WEIGHT", "PORT", "HOST", "ADDRESSES" };
	struct ch_table t = { .ncols = 7 };
	char *domain;
	sqlite3_stmt *st;
	int rc = list_domain_arg(c, a, &domain);

	if (rc != CH_OK)
		return rc;
	if ((rc = ch_db_prepare(c, "SELECT t.domain, t.service, t.priority, t.weight, t.port, t.host,"
	                        " (SELECT group_concat(address, ',') FROM (SELECT address FROM target_addresses"
	                        "   WHERE host = t.host ORDER BY address))"
	                        " FROM targets t WHERE ?1 IS NULL OR t.domain = ?1"
	                        " ORDER BY t.domain, t.service, t.priority, t.weight, t.host, t.port", &st)) != CH_OK) {
		free(domain);
		return rc;
	}
	if (domain)
		sqlite3_bind_text(st, 1, domain, -1, SQLITE_TRANSIENT);
	ch_table_add(&t, head);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		char dn[600];
		bool none = strcmp(ch_col_text(st, 5, ""), ".") == 0;
		const char *row[7] = { ch_name_show(ch_col_text(st, 0, ""), dn, sizeof(dn)), ch_col_text(st, 1, ""),
		                       ch_col_text(st, 2, ""), ch_col_text(st, 3, ""), ch_col_text(st, 4, ""),
		                       none ? ". (no service)" : ch_col_text(st, 5, ""),
		                       ch_col_text(st, 6, none ? "" : "- (none: resolverd cannot answer it)") };
		ch_table_add(&t, row);
	}
	rc = ch_table_finish(c, &t, st, rc);
	free(domain);
	return rc;
}

int
ch_cmd_target_remove(struct ch_ctx *c, const struct ch_args *a)
{
	char *domain = ch_name_arg(c, "DOMAIN", a->pos[0], false);
	char *host = domain ? ch_name_arg(c, "HOST", a->pos[1], true) : NULL;
	sqlite3_stmt *st;
	int rc, changes = 0;

	if (!host) {
		free(domain);
		return CH_USAGE;
	}
	if ((rc = ch_tx_begin(c)) == CH_OK) {
		rc = ch_db_prepare(c, "DELETE FROM targets WHERE domain = ?1 AND host = ?2"
		                   " AND (?3 IS NULL OR service = ?3)", &st);
		if (rc == CH_OK) {
			sqlite3_bind_text(st, 1, domain, -1, SQLITE_TRANSIENT);
			sqlite3_bind_text(st, 2, host, -1, SQLITE_TRANSIENT);
			if (a->service)
				sqlite3_bind_text(st, 3, a->service, -1, SQLITE_TRANSIENT);
			rc = db_done(c, st);
			changes = sqlite3_changes(c->db);
		}
		if (rc == CH_OK && changes == 0)
			rc = ch_error(c, CH_FAIL, "no such target: %s %s%s%s", domain, host,
			              a->service ? " --service " : "", a->service ? a->service : "");
		/* the host's addresses go with the last target that names it */
		if (rc == CH_OK &&
		    (rc = ch_db_prepare(c, "DELETE FROM target_addresses WHERE host = ?1"
		                        " AND NOT EXISTS (SELECT 1 FROM targets WHERE host = ?1)", &st)) == CH_OK) {
			sqlite3_bind_text(st, 1, host, -1, SQLITE_TRANSIENT);
			rc = db_done(c, st);
		}
		rc = ch_tx_end(c, rc);
	}
	free(domain);
	free(host);
	return rc;
}

/* ------------------------------------------------------------ restore */

/* ch_schema_compare's report for restore: keep the first difference. */
static void
first_difference(void *ctx, const char *msg)
{
	char *first = ctx;

	if (!first[0])
		snprintf(first, 512, "%s", msg);
}

/*
 * The copy's change log becomes the live database's (live attached as
 * "live"), then the copy's own rows the live log lacks: the log stays
 * append-only across a restore. The two append-only triggers are dropped
 * for the rewrite and created again from their own text.
 */
static int
merge_audit(sqlite3 *mem)
{
	static const char *steps[] = {
		"CREATE TEMP TABLE restore_triggers AS SELECT name, sql FROM main.sqlite_master"
		" WHERE type = 'trigger' AND tbl_name = 'audit'",
		"DROP TRIGGER audit_append_only_update",
		"DROP TRIGGER audit_append_only_delete",
		"CREATE TEMP TABLE restore_audit AS SELECT * FROM main.audit",
		"DELETE FROM main.audit",
		"INSERT INTO main.audit SELECT * FROM live.audit ORDER BY id",
		"INSERT INTO main.audit (serial, at, actor, tbl, op, old, new)"
		" SELECT serial, at, actor, tbl, op, old, new FROM temp.restore_audit s"
		" WHERE NOT EXISTS (SELECT 1 FROM live.audit l WHERE l.serial = s.serial AND l.at = s.at"
		"   AND l.actor = s.actor AND l.tbl = s.tbl AND l.op = s.op AND l.old IS s.old AND l.new IS s.new)"
		" ORDER BY id",
	};
	sqlite3_stmt *st;

	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
		if (sqlite3_exec(mem, steps[i], NULL, NULL, NULL) != SQLITE_OK)
			return -1;
	if (sqlite3_prepare_v2(mem, "SELECT sql FROM temp.restore_triggers", -1, &st, NULL) != SQLITE_OK)
		return -1;
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (sqlite3_exec(mem, (const char *)sqlite3_column_text(st, 0), NULL, NULL, NULL) != SQLITE_OK) {
			sqlite3_finalize(st);
			return -1;
		}
	}
	sqlite3_finalize(st);
	return sqlite3_exec(mem, "DROP TABLE temp.restore_triggers; DROP TABLE temp.restore_audit",
	                    NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

/*
 * Prepare the copy in mem: the change log merged (when the live database
 * reads), the serial set to serial, one audit row for the restore. Returns
 * CH_OK or the failure reported.
 */
static int
restore_prepare(struct ch_ctx *c, sqlite3 *mem, const char *file, int64_t serial, int64_t live,
                int64_t src)
{
	sqlite3_stmt *st = NULL;
	int rc = CH_FAIL;

	if (sqlite3_exec(mem, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		goto out;
	int64_t first = 0, last = 0; /* the ids of the rows merged from FILE's log */
	if (live > 0) {
		if (sqlite3_prepare_v2(mem, "ATTACH DATABASE ? AS live", -1, &st, NULL) != SQLITE_OK)
			goto out;
		sqlite3_bind_text(st, 1, c->db_path, -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE || merge_audit(mem) != 0)
			goto out;
		sqlite3_finalize(st);
		if (sqlite3_prepare_v2(mem, "SELECT coalesce((SELECT max(id) FROM live.audit), 0) + 1,"
		                       " coalesce((SELECT max(id) FROM main.audit), 0)", -1, &st, NULL) != SQLITE_OK ||
		    sqlite3_step(st) != SQLITE_ROW)
			goto out;
		first = sqlite3_column_int64(st, 0);
		last = sqlite3_column_int64(st, 1);
		sqlite3_finalize(st);
	}
	if (sqlite3_prepare_v2(mem,
	        "UPDATE main.meta SET value = ?1 WHERE key = 'serial';", -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_int64(st, 1, serial);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto out;
	sqlite3_finalize(st);
	if (sqlite3_prepare_v2(mem,
	        "INSERT INTO main.audit (serial, actor, tbl, op, old, new) VALUES (?1, ?2, 'database',"
	        " 'restore', json_object('serial', ?3), json_object('file', ?4, 'serial', ?5,"
	        " 'history', CASE WHEN ?6 <= ?7 THEN json_array(?6, ?7) END, 'snapshot', 1))",
	        -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_int64(st, 6, first);
	sqlite3_bind_int64(st, 7, last);
	sqlite3_bind_int64(st, 1, serial);
	sqlite3_bind_text(st, 2, c->actor ? c->actor : default_actor(), -1, SQLITE_TRANSIENT);
	if (live > 0)
		sqlite3_bind_int64(st, 3, live);
	sqlite3_bind_text(st, 4, file, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, src);
	/* then the restored content, so that the log alone rebuilds the policy after it */
	if (sqlite3_step(st) != SQLITE_DONE ||
	    ch_audit_snapshot(mem, serial, c->actor ? c->actor : default_actor()) != 0 ||
	    sqlite3_exec(mem, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		goto out;
	rc = CH_OK;
out:
	if (rc != CH_OK)
		ch_error(c, CH_FAIL, "%s: preparing the copy: %s", file, sqlite3_errmsg(mem));
	sqlite3_finalize(st);
	if (!sqlite3_get_autocommit(mem))
		sqlite3_exec(mem, "ROLLBACK", NULL, NULL, NULL);
	if (live > 0)
		sqlite3_exec(mem, "DETACH DATABASE live", NULL, NULL, NULL);
	return rc;
}

/* The TSIG keys of a database (0 for a schema without them, or on error). */
static int64_t
count_keys(sqlite3 *db)
{
	sqlite3_stmt *st;
	int64_t n = 0;

	if (sqlite3_prepare_v2(db, "SELECT count(*) FROM identities WHERE kind = 'tsig'", -1, &st, NULL) !=
	    SQLITE_OK)
		return 0;
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

int
ch_cmd_restore(struct ch_ctx *c, const struct ch_args *a)
{
	const char *file = a->pos[0];
	char err[512], first[512] = "";
	sqlite3 *src = NULL, *mem = NULL;
	struct ch_status status;
	struct stat sb;
	int rc = CH_FAIL;

	if (stat(c->db_path, &sb) != 0)
		return ch_error(c, CH_FAIL, "%s: %s", c->db_path, strerror(errno));
	if (ch_db_replica(c) != CH_OK)
		return CH_FAIL;
	/* FILE, copied into memory in one read: checked and edited there, never in place */
	src = policydb_open(file, 1, err, sizeof(err));
	if (!src || sqlite3_open_v2(":memory:", &mem, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		ch_error(c, CH_FAIL, "%s", src ? "out of memory" : err);
		goto out;
	}
	int brc = ch_backup_copy(mem, src);
	if (brc != SQLITE_DONE) {
		ch_error(c, CH_FAIL, "%s: %s", file, sqlite3_errstr(brc));
		goto out;
	}
	int64_t src_serial = policydb_serial(mem, err, sizeof(err));
	if (src_serial < 0) {
		ch_error(c, CH_FAIL, "%s: not a policy database (%s)", file, err);
		goto out;
	}
	if (ch_schema_compare(mem, first_difference, first) != 0) {
		ch_error(c, CH_FAIL, "%s: %s; restoring it would take the database's checks away "
		         "(chpolicy verify lists every difference)", file, first[0] ? first : "schema");
		goto out;
	}
	/* the live database: its serial, or what resolverd last saw of it when it does not read */
	c->db = policydb_open(c->db_path, 0, err, sizeof(err));
	if (!c->db) {
		ch_error(c, CH_FAIL, "%s", err);
		goto out;
	}
	sqlite3_busy_timeout(c->db, CH_BUSY_MS);
	int64_t live = policydb_serial(c->db, err, sizeof(err)), serial = src_serial;
	if (ch_status_read(c->db_path, &status) != 0)
		status.served = status.db_serial = -1;
	int64_t seen[] = { live, status.served, status.db_serial };
	for (size_t i = 0; i < 3; i++)
		serial = seen[i] > serial ? seen[i] : serial;
	serial++;
	if ((rc = restore_prepare(c, mem, file, serial, live, src_serial)) != CH_OK)
		goto out;
	struct policy *p = policydb_load(mem, err, sizeof(err));
	if (!p) {
		rc = ch_error(c, CH_FAIL, "%s: refused: resolverd could not load it: %s; nothing was changed",
		              file, err);
		goto out;
	}
	policy_free(p);
	/* keys: never into a file others read, and never lost without a word */
	int64_t keys_in = count_keys(mem), keys_live = count_keys(c->db);
	if (keys_in > 0 && (rc = ch_db_private(c, c->db_path)) != CH_OK)
		goto out;
	/* a WAL database keeps its page size: the copy takes the live one's */
	sqlite3_stmt *st;
	if (live > 0 && sqlite3_prepare_v2(c->db, "PRAGMA page_size", -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW) {
			char sql[64];
			snprintf(sql, sizeof(sql), "PRAGMA page_size = %d; VACUUM", sqlite3_column_int(st, 0));
			sqlite3_exec(mem, sql, NULL, NULL, NULL);
		}
		sqlite3_finalize(st);
	}
	brc = ch_backup_copy(c->db, mem);
	if (brc == SQLITE_NOTADB || brc == SQLITE_CORRUPT) {
		/* a live file that is not a database (written over): start it afresh */
		sqlite3_db_config(c->db, SQLITE_DBCONFIG_RESET_DATABASE, 1, NULL);
		brc = ch_backup_copy(c->db, mem);
		sqlite3_db_config(c->db, SQLITE_DBCONFIG_RESET_DATABASE, 0, NULL);
		sqlite3_exec(c->db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL);
	}
	if (brc != SQLITE_DONE) {
		rc = ch_error(c, CH_FAIL, "%s: %s; nothing was changed", c->db_path, sqlite3_errstr(brc));
		goto out;
	}
	int64_t now = policydb_serial(c->db, err, sizeof(err));
	if (now != serial) {
		rc = ch_error(c, CH_FAIL, "%s: after the restore the serial is %lld, not %lld: %s",
		              c->db_path, (long long)now, (long long)serial, err);
		goto out;
	}
	printf("%s: restored from %s (serial %lld there), serial %lld\n", c->db_path, file,
	       (long long)src_serial, (long long)serial);
	if (keys_in < keys_live)
		printf("%s: %lld TSIG key%s before, %lld now: queries signed with a key that is gone get "
		       "BADKEY\n", c->db_path, (long long)keys_live, keys_live == 1 ? "" : "s",
		       (long long)keys_in);
	rc = CH_OK;
out:
	sqlite3_close(src);
	sqlite3_close(mem);
	return rc;
}
