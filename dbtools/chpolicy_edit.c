/*
 * chpolicy_edit.c -- the commands that change the policy database (init;
 * domain, group, member, identity and rule add/set/remove) and the lists
 * that show what they wrote.
 *
 * Edits are plain SQL statements with bound parameters; the database refuses
 * bad rows itself (schema.sql), and chpolicy passes its message on. Each edit
 * is one transaction that first names its actor in meta('actor'), so that
 * the audit triggers record who made it.
 */
#include "config.h"

#include <ctype.h>
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
#include "policydb.h"
#include "chpolicy.h"

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
		ch_fmt_time(now + (time_t)(n * unit), out, len);
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
static int
tx_begin(struct ch_ctx *c)
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
	return tx_end(c, rc);
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
	if (ch_parse_int64(text, level) != 0)
		return ch_usage(c, "--level: not an integer: '%s'", text);
	/* negative levels are left for the schema to refuse, with its own message */
	if (*level > 2147483647)
		return ch_usage(c, "--level: too large: '%s'", text);
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
	char *name = name_normalize(a->pos[0]);
	if ((rc = tx_begin(c)) == CH_OK) {
		rc = ch_db_prepare(c, "INSERT INTO domains (name, level, enabled, note) VALUES (?, ?, ?, ?)",
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

int
ch_cmd_domain_set(struct ch_ctx *c, const struct ch_args *a)
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
		rc = ch_db_prepare(c, "UPDATE domains SET level = coalesce(?1, level),"
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

int
ch_cmd_domain_remove(struct ch_ctx *c, const struct ch_args *a)
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

int
ch_cmd_domain_list(struct ch_ctx *c, const struct ch_args *a)
{
	static const char *head[] = { "NAME", "LEVEL", "STATE", "GROUPS", "IDENTITIES", "NOTE" };
	struct ch_table t = { .ncols = 6 };
	sqlite3_stmt *st;
	int rc;

	(void)a;
	if ((rc = ch_db_prepare(c,
	        "SELECT d.name, d.level, d.enabled,"
	        " (SELECT group_concat(grp, ',') FROM"
	        "   (SELECT grp FROM memberships WHERE domain = d.name ORDER BY grp)),"
	        " (SELECT group_concat(value, ',') FROM"
	        "   (SELECT value FROM identities WHERE domain = d.name ORDER BY kind, value)),"
	        " d.note FROM domains d ORDER BY d.name", &st)) != CH_OK)
		return rc;
	ch_table_add(&t, head);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *row[6] = {
			ch_col_text(st, 0, ""), ch_col_text(st, 1, ""),
			sqlite3_column_int(st, 2) ? "enabled" : "disabled",
			ch_col_text(st, 3, "-"), ch_col_text(st, 4, "-"), ch_col_text(st, 5, ""),
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
	char *domain = name_normalize(a->pos[0]), *group = name_normalize(a->pos[1]);
	const char *params[] = { domain, group };
	int rc = db_edit(c, "INSERT INTO memberships (domain, grp) VALUES (?, ?)", 2, params, NULL);

	free(domain);
	free(group);
	return rc;
}

int
ch_cmd_member_remove(struct ch_ctx *c, const struct ch_args *a)
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

int
ch_cmd_identity_add(struct ch_ctx *c, const struct ch_args *a)
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

int
ch_cmd_identity_remove(struct ch_ctx *c, const struct ch_args *a)
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

int
ch_cmd_identity_list(struct ch_ctx *c, const struct ch_args *a)
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
	if ((rc = ch_db_prepare(c, "SELECT kind, value, domain, note FROM identities"
	                        " WHERE ?1 IS NULL OR domain = ?1 ORDER BY domain, kind, value",
	                     &st)) != CH_OK) {
		free(domain);
		return rc;
	}
	if (domain)
		sqlite3_bind_text(st, 1, domain, -1, SQLITE_TRANSIENT);
	ch_table_add(&t, head);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *row[4] = { ch_col_text(st, 0, ""), ch_col_text(st, 1, ""), ch_col_text(st, 2, ""),
		                       ch_col_text(st, 3, "") };
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
		rc = ch_db_prepare(c, "INSERT INTO rules (priority, from_kind, from_name, from_min, from_max,"
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
ch_cmd_rule_list(struct ch_ctx *c, const struct ch_args *a)
{
	static const char *head[] = { "ID", "PRIORITY", "FROM", "TO", "ACTION", "EXPIRES", "NOTE" };
	struct ch_table t = { .ncols = 7 };
	sqlite3_stmt *st;
	int rc;

	(void)a;
	if ((rc = ch_db_prepare(c,
	        "SELECT id, priority, from_kind, from_name, from_min, from_max,"
	        " to_kind, to_name, to_min, to_max, action, expires,"
	        " expires IS NOT NULL AND datetime(expires) <= datetime('now'), note"
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
		const char *row[7] = {
			ch_col_text(st, 0, ""), ch_col_text(st, 1, ""),
			sel_format_cols(st, 2, from, sizeof(from)), sel_format_cols(st, 6, to, sizeof(to)),
			ch_col_text(st, 10, ""), exp, ch_col_text(st, 13, ""),
		};
		ch_table_add(&t, row);
	}
	rc = ch_table_finish(c, &t, st, rc);
	return rc;
}
