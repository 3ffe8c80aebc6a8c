/*
 * chpolicy_util.c -- the helpers every chpolicy command uses: one-line error
 * reports, strict integers and UTC times, aligned table output, and opening
 * the policy database.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sqlite3.h>

#include "policydb.h"
#include "chpolicy.h"

/* ---------------------------------------------------------------- errors */

/* "chpolicy: <command>: <what>" without the end of the line. */
static void
vreport(const struct ch_ctx *c, const char *fmt, va_list ap)
{
	fputs("chpolicy: ", stderr);
	if (c && c->cmd)
		fprintf(stderr, "%s: ", c->cmd->name);
	vfprintf(stderr, fmt, ap);
}

/* One line on stderr: "chpolicy: <command>: <what>". Returns code. */
int
ch_error(const struct ch_ctx *c, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(c, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

/*
 * A usage error, with the command's synopsis on the same line so that the one
 * line is enough to fix the call.
 */
int
ch_usage(const struct ch_ctx *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(c, fmt, ap);
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
int
ch_dberror(const struct ch_ctx *c)
{
	int ext = sqlite3_extended_errcode(c->db);

	if (ext == SQLITE_CONSTRAINT_PRIMARYKEY || ext == SQLITE_CONSTRAINT_UNIQUE)
		return ch_error(c, CH_FAIL, "%s (already exists)", sqlite3_errmsg(c->db));
	return ch_error(c, CH_FAIL, "%s", sqlite3_errmsg(c->db));
}

/* ------------------------------------------------------------ small parsers */

/* Strict decimal integer: optional sign, digits, nothing else. */
int
ch_parse_int64(const char *s, int64_t *out)
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

/* 'YYYY-MM-DD HH:MM:SS' (UTC), the form SQLite's datetime() produces. */
char *
ch_fmt_time(time_t t, char *buf, size_t len)
{
	struct tm tm;

	if (!gmtime_r(&t, &tm) || strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(buf, len, "?");
	return buf;
}

/* ------------------------------------------------------------ table output */

void
ch_table_add(struct ch_table *t, const char *const *row)
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

void
ch_table_print(struct ch_table *t, FILE *f)
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

void
ch_table_free(struct ch_table *t)
{
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	memset(t, 0, sizeof(*t));
}

/* Column text, with a stand-in for NULL. */
const char *
ch_col_text(sqlite3_stmt *st, int col, const char *null)
{
	const char *s = (const char *)sqlite3_column_text(st, col);
	return s ? s : null;
}

/* ------------------------------------------------------------ database */

int
ch_table_finish(struct ch_ctx *c, struct ch_table *t, sqlite3_stmt *st, int step_rc)
{
	int rc = step_rc == SQLITE_DONE ? CH_OK : ch_dberror(c);

	sqlite3_finalize(st);
	if (rc == CH_OK)
		ch_table_print(t, stdout);
	ch_table_free(t);
	return rc;
}

int
ch_db_prepare(struct ch_ctx *c, const char *sql, sqlite3_stmt **st)
{
	if (sqlite3_prepare_v2(c->db, sql, -1, st, NULL) != SQLITE_OK) {
		*st = NULL;
		return ch_dberror(c);
	}
	return CH_OK;
}

int64_t
ch_db_schema_version(struct ch_ctx *c, char *err, size_t errlen)
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
int
ch_db_open(struct ch_ctx *c, bool write, bool check_version)
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
		int64_t v = ch_db_schema_version(c, err, sizeof(err));
		if (v < 0)
			return ch_error(c, CH_FAIL, "%s: %s", c->db_path, err);
		if (v != POLICYDB_SCHEMA_VERSION)
			return ch_error(c, CH_FAIL, "%s: schema version %lld, this chpolicy knows %d",
			                c->db_path, (long long)v, POLICYDB_SCHEMA_VERSION);
	}
	return CH_OK;
}
