/*
 * chpolicy_util.c -- the helpers every chpolicy command uses: one-line error
 * reports, strict integers and UTC times, names (IDN, presentation format),
 * aligned table output, and opening the policy database.
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
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <idn2.h>
#include <sqlite3.h>

#include "dname.h"
#include "policydb.h"
#include "reload.h"
#include "xfr.h"
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
	if (write && ch_db_replica(c) != CH_OK)
		return CH_FAIL;
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

/* ------------------------------------------------------------ names */

/* Read one presentation-format name (RFC 1035 5.1) into wire (DNAME_MAXLEN bytes); 0 if malformed. */
static size_t
name_to_wire(const char *s, uint8_t *wire)
{
	size_t lab = 0; /* the current label's length byte */

	if (strcmp(s, ".") == 0) {
		wire[0] = 0;
		return 1;
	}
	wire[0] = 0;
	while (*s) {
		int ch = (unsigned char)*s++;
		if (ch == '.') {
			if (wire[lab] == 0)
				return 0; /* an empty label */
			if (*s == '\0')
				break;    /* the trailing dot */
			lab += 1u + wire[lab];
			wire[lab] = 0;
			continue;
		}
		if (ch == '\\') {
			if (s[0] >= '0' && s[0] <= '9' && s[1] >= '0' && s[1] <= '9' && s[2] >= '0' && s[2] <= '9') {
				ch = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
				s += 3;
			} else if (*s) {
				ch = (unsigned char)*s++;
			} else {
				return 0;
			}
			if (ch > 255)
				return 0;
		}
		if (wire[lab] == 63 || lab + 2u + wire[lab] >= DNAME_MAXLEN)
			return 0;
		wire[lab + 1u + wire[lab]] = (uint8_t)ch;
		wire[lab]++;
	}
	if (wire[lab] == 0)
		return 0;
	lab += 1u + wire[lab];
	wire[lab] = 0;
	return lab + 1;
}

char *
ch_name_arg(const struct ch_ctx *c, const char *what, const char *text, bool root_ok)
{
	uint8_t wire[DNAME_MAXLEN + 1];
	char shown[DNAME_TEXT_MAX], *ascii = NULL, *out;
	const char *name = text;
	bool special = false;

	for (const char *p = text; *p; p++)
		if ((unsigned char)*p >= 0x80) {
			int rc = idn2_to_ascii_8z(text, &ascii, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
			if (rc != IDN2_OK) {
				ch_usage(c, "%s: '%s' is not a name that converts to A-labels (%s); give a "
				         "Unicode name in UTF-8 (bücher.example) or its A-labels "
				         "(xn--bcher-kva.example)", what, text, idn2_strerror(rc));
				return NULL;
			}
			name = ascii;
			break;
		}
	size_t len = name_to_wire(name, wire);
	if (len == 0) {
		ch_usage(c, "%s: '%s' is not a domain name (an empty label, a label over 63 "
		         "characters, or a bad escape)", what, name);
		idn2_free(ascii);
		return NULL;
	}
	if (len == 1 && !root_ok) {
		ch_usage(c, "%s: '.' (the root) is not a domain name here", what);
		idn2_free(ascii);
		return NULL;
	}
	dname_lower(wire);
	for (const uint8_t *l = wire; *l; l += 1 + *l)
		for (unsigned k = 1; k <= *l; k++)
			special = special || l[k] == '.' || l[k] == '\\' || l[k] <= 0x20 || l[k] >= 0x7f;
	dname_to_text(wire, shown, sizeof(shown));
	idn2_free(ascii);
	if (special) {
		ch_usage(c, "%s: '%s' has a label holding a dot, a backslash, a space or a byte outside "
		         "ASCII, which no domain name here can hold", what, shown);
		return NULL;
	}
	out = strdup(shown);
	if (!out) {
		perror("chpolicy");
		exit(CH_FAIL);
	}
	return out;
}

char *
ch_name_show(const char *name, char *buf, size_t len)
{
	char *u = NULL;

	if ((strncmp(name, "xn--", 4) == 0 || strstr(name, ".xn--")) &&
	    idn2_to_unicode_8z8z(name, &u, 0) == IDN2_OK && strcmp(u, name) != 0)
		snprintf(buf, len, "%s (%s)", name, u);
	else
		snprintf(buf, len, "%s", name);
	idn2_free(u);
	return buf;
}

int
ch_backup_copy(sqlite3 *dst, sqlite3 *src)
{
	sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
	int rc, tries = 0;

	if (!b)
		return sqlite3_errcode(dst);
	while ((rc = sqlite3_backup_step(b, -1)) == SQLITE_BUSY || rc == SQLITE_LOCKED || rc == SQLITE_OK) {
		if (rc != SQLITE_OK && ++tries > CH_BUSY_MS / 100)
			break;
		sqlite3_sleep(100);
	}
	sqlite3_backup_finish(b);
	return rc;
}

int
ch_status_read(const char *db_path, struct ch_status *s)
{
	char path[4096], line[2048];
	FILE *f;

	memset(s, 0, sizeof(*s));
	s->served = s->db_serial = -1;
	snprintf(path, sizeof(path), "%s%s", db_path, RELOAD_STATUS_SUFFIX);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':'), *v;
		if (line[0] == '#' || !colon)
			continue;
		*colon = '\0';
		v = colon + 1 + strspn(colon + 1, " ");
		v[strcspn(v, "\n")] = '\0';
		if (strcmp(line, "pid") == 0)
			s->pid = strtol(v, NULL, 10);
		else if (strcmp(line, "state") == 0)
			snprintf(s->state, sizeof(s->state), "%s", v);
		else if (strcmp(line, "served-serial") == 0)
			ch_parse_int64(v, &s->served);
		else if (strcmp(line, "database-serial") == 0)
			ch_parse_int64(v, &s->db_serial);
		else if (strcmp(line, "failed-reloads") == 0)
			ch_parse_int64(v, &s->failed);
		else if (strcmp(line, "last-error") == 0)
			snprintf(s->last_error, sizeof(s->last_error), "%s", strcmp(v, "-") ? v : "");
		else if (strcmp(line, "last-error-at") == 0)
			snprintf(s->last_error_at, sizeof(s->last_error_at), "%s", v);
		else if (strcmp(line, "updated") == 0)
			snprintf(s->updated, sizeof(s->updated), "%s", v);
	}
	fclose(f);
	return 0;
}

/* ------------------------------------------------------------ durations */

int
ch_parse_duration(const char *s, int64_t *secs)
{
	int64_t n = 0, unit = 1;
	size_t i = 0;

	if (!s)
		return -1;
	for (; s[i] >= '0' && s[i] <= '9'; i++) {
		if (n > INT64_C(1000000000000))
			return -1;
		n = n * 10 + (s[i] - '0');
	}
	if (i == 0 || n <= 0)
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
	*secs = n * unit;
	return 0;
}

/* ------------------------------------------------------------ atomic output */

static char *
xstrdup(const char *s)
{
	char *d = strdup(s);

	if (!d) {
		perror("chpolicy");
		exit(CH_FAIL);
	}
	return d;
}

int
ch_out_open(const struct ch_ctx *c, struct ch_out *o, const char *path)
{
	memset(o, 0, sizeof(*o));
	if (!path || strcmp(path, "-") == 0) {
		o->f = stdout;
		return CH_OK;
	}
	/* the file is written beside the path and renamed over it: only over a file */
	struct stat sb;
	if (lstat(path, &sb) == 0 && !S_ISREG(sb.st_mode))
		return ch_error(c, CH_FAIL, "%s: not a regular file (a %s): refusing to replace it", path,
		                S_ISLNK(sb.st_mode) ? "symbolic link" : S_ISDIR(sb.st_mode) ? "directory"
		                                                                     : "device or special file");
	size_t len = strlen(path) + 16;
	o->path = xstrdup(path);
	o->tmp = malloc(len);
	if (!o->tmp) {
		perror("chpolicy");
		exit(CH_FAIL);
	}
	snprintf(o->tmp, len, "%s.tmp.XXXXXX", path);
	int fd = mkstemp(o->tmp);
	if (fd < 0) {
		int e = errno;
		free(o->tmp);
		o->tmp = NULL;
		ch_out_abort(o);
		return ch_error(c, CH_FAIL, "%s: %s", path, strerror(e));
	}
	/* mkstemp makes it 0600: an export is meant to be read by others */
	mode_t mask = umask(022);
	umask(mask);
	fchmod(fd, 0644 & ~mask);
	o->f = fdopen(fd, "w");
	if (!o->f) {
		int e = errno;
		close(fd);
		ch_out_abort(o);
		return ch_error(c, CH_FAIL, "%s: %s", path, strerror(e));
	}
	return CH_OK;
}

int
ch_out_commit(const struct ch_ctx *c, struct ch_out *o)
{
	int e = 0;

	if (o->f == stdout) {
		o->f = NULL;
		if (fflush(stdout) != 0)
			return ch_error(c, CH_FAIL, "stdout: %s", strerror(errno));
		return CH_OK;
	}
	if (fflush(o->f) != 0 || ferror(o->f) || fsync(fileno(o->f)) != 0)
		e = errno ? errno : EIO;
	if (fclose(o->f) != 0 && !e)
		e = errno;
	o->f = NULL;
	if (!e && rename(o->tmp, o->path) != 0)
		e = errno;
	if (e) {
		int rc = ch_error(c, CH_FAIL, "%s: %s", o->path, strerror(e));
		ch_out_abort(o);
		return rc;
	}
	free(o->tmp);
	free(o->path);
	o->tmp = o->path = NULL;
	return CH_OK;
}

void
ch_out_abort(struct ch_out *o)
{
	if (!o)
		return;
	if (o->f && o->f != stdout)
		fclose(o->f);
	o->f = NULL;
	if (o->tmp)
		unlink(o->tmp);
	free(o->tmp);
	free(o->path);
	o->tmp = o->path = NULL;
}

char *
ch_key_name_arg(const struct ch_ctx *c, const char *what, const char *text)
{
	char *name = ch_name_arg(c, what, text, false);

	if (name && !policydb_valid_name(name)) {
		ch_usage(c, "%s: '%s' is not a name the database stores: letters, digits and hyphens, "
		         "labels of 1 to 63 characters that neither start nor end with a hyphen, 253 "
		         "characters in all", what, name);
		free(name);
		return NULL;
	}
	return name;
}

int
ch_db_private(struct ch_ctx *c, const char *path)
{
	char file[PATH_MAX];
	struct stat sb;

	if (stat(path, &sb) != 0)
		return ch_error(c, CH_FAIL, "%s: %s", path, strerror(errno));
	if (policydb_readable_by_others(path, file, sizeof(file)))
		return ch_error(c, CH_FAIL, "%s is readable by every user: TSIG secrets are not stored "
		                "there (chmod o-rwx %s %s-wal %s-shm)", file, path, path, path);
	return CH_OK;
}

int
ch_db_replica(struct ch_ctx *c)
{
	char status[PATH_MAX];
	struct stat sb;

	snprintf(status, sizeof(status), "%s%s", c->db_path, XFR_STATUS_SUFFIX);
	if (stat(status, &sb) == 0)
		return ch_error(c, CH_FAIL, "%s is a site's replica, fed by zone transfer (%s exists): edit "
		                "the primary; the next transfer would undo a change made here", c->db_path,
		                status);
	return CH_OK;
}
