/*
 * chpolicy_diff.c -- the policy at any recorded serial, rebuilt from the
 * change log (rebuild), and the decisions that differ between two serials
 * or two matrix exports (diff).
 *
 * The audit table holds every changed row before and after (one row per
 * insert, update or delete, written by the schema's triggers), so replaying
 * it in id order up to a serial gives the policy tables at that serial. A
 * restore replaces the whole database: its audit row is followed by the
 * restored content (ch_audit_snapshot), and the rows it merged from the
 * restored file's own log (its "history" id range) are not replayed.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "policy.h"
#include "policydb.h"
#include "chpolicy.h"

/*
 * The policy tables as the audit triggers log them: columns, the first nkeys
 * the key. only: a condition on the audit row (?1) for a row to be replayed:
 * TSIG keys are not, as the log never holds their secrets.
 */
static const struct audit_table {
	const char *name;
	const char *cols[14];
	int ncols, nkeys;
	const char *only;
} audit_tables[] = {
	{ "domains", { "name", "level", "enabled", "note", "require_identity" }, 5, 1, NULL },
	{ "groups", { "name", "note" }, 2, 1, NULL },
	{ "memberships", { "domain", "grp" }, 2, 2, NULL },
	{ "identities", { "kind", "value", "domain", "note", "algorithm" }, 5, 2,
	  "json_extract(?1, '$.kind') IS NOT 'tsig'" },
	{ "rules", { "id", "priority", "from_kind", "from_name", "from_min", "from_max", "to_kind",
	             "to_name", "to_min", "to_max", "action", "expires", "note", "mode" }, 14, 1, NULL },
	{ "targets", { "domain", "service", "host", "port", "priority", "weight" }, 6, 4, NULL },
	{ "target_addresses", { "host", "address" }, 2, 2, NULL },
};
#define NTABLES (sizeof(audit_tables) / sizeof(audit_tables[0]))

/* Append printf output to a fixed buffer. */
static void
cat(char *buf, size_t len, const char *fmt, const char *a, const char *b)
{
	size_t used = strlen(buf);
	snprintf(buf + used, len - used, fmt, a, b);
}

int
ch_audit_snapshot(sqlite3 *db, int64_t serial, const char *actor)
{
	for (size_t t = 0; t < NTABLES; t++) {
		const struct audit_table *at = &audit_tables[t];
		char sql[2048] = "", obj[1024] = "json_object(";
		sqlite3_stmt *st;
		for (int i = 0; i < at->ncols; i++)
			cat(obj, sizeof(obj), i ? ", '%s', %s" : "'%s', %s", at->cols[i], at->cols[i]);
		cat(obj, sizeof(obj), ")%s%s", "", "");
		snprintf(sql, sizeof(sql), "INSERT INTO main.audit (serial, actor, tbl, op, old, new)"
		         " SELECT ?1, ?2, '%s', 'insert', NULL, %s FROM main.%s", at->name, obj, at->name);
		if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
			return -1;
		sqlite3_bind_int64(st, 1, serial);
		sqlite3_bind_text(st, 2, actor, -1, SQLITE_TRANSIENT);
		int rc = sqlite3_step(st);
		sqlite3_finalize(st);
		if (rc != SQLITE_DONE)
			return -1;
	}
	return 0;
}

/* The insert and delete statements of one table, by the audit row's JSON (?1). */
struct replay {
	sqlite3_stmt *ins[NTABLES], *del[NTABLES], *clear[NTABLES];
};

static int
replay_prepare(sqlite3 *mem, struct replay *r)
{
	memset(r, 0, sizeof(*r));
	for (size_t t = 0; t < NTABLES; t++) {
		const struct audit_table *at = &audit_tables[t];
		char cols[512] = "", vals[1024] = "", where[512] = "", sql[2048];
		for (int i = 0; i < at->ncols; i++) {
			cat(cols, sizeof(cols), "%s%s", i ? ", " : "", at->cols[i]);
			/* a rule logged before rules.mode existed was enforced */
			if (strcmp(at->cols[i], "mode") == 0)
				cat(vals, sizeof(vals), "%scoalesce(json_extract(?1, '$.%s'), 'enforce')", i ? ", " : "",
				    at->cols[i]);
			/* a domain logged before require_identity existed took its source address */
			else if (strcmp(at->cols[i], "require_identity") == 0)
				cat(vals, sizeof(vals), "%scoalesce(json_extract(?1, '$.%s'), 'source')", i ? ", " : "",
				    at->cols[i]);
			else
				cat(vals, sizeof(vals), "%sjson_extract(?1, '$.%s')", i ? ", " : "", at->cols[i]);
		}
		for (int i = 0; i < at->nkeys; i++) {
			cat(where, sizeof(where), "%s%s", i ? " AND " : "", at->cols[i]);
			cat(where, sizeof(where), " = json_extract(?1, '$.%s')%s", at->cols[i], "");
		}
		snprintf(sql, sizeof(sql), "INSERT INTO %s (%s) SELECT %s WHERE %s", at->name, cols, vals,
		         at->only ? at->only : "1");
		if (sqlite3_prepare_v2(mem, sql, -1, &r->ins[t], NULL) != SQLITE_OK)
			return -1;
		snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE %s", at->name, where);
		if (sqlite3_prepare_v2(mem, sql, -1, &r->del[t], NULL) != SQLITE_OK)
			return -1;
		snprintf(sql, sizeof(sql), "DELETE FROM %s", at->name);
		if (sqlite3_prepare_v2(mem, sql, -1, &r->clear[t], NULL) != SQLITE_OK)
			return -1;
	}
	return 0;
}

static void
replay_free(struct replay *r)
{
	for (size_t t = 0; t < NTABLES; t++) {
		sqlite3_finalize(r->ins[t]);
		sqlite3_finalize(r->del[t]);
		sqlite3_finalize(r->clear[t]);
	}
}

static int
run_json(sqlite3_stmt *st, const char *json)
{
	sqlite3_reset(st);
	sqlite3_bind_text(st, 1, json, -1, SQLITE_TRANSIENT);
	return sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
}

/* The built-in schema in mem without its triggers: rows go in as they were logged. */
static int
bare_schema(sqlite3 *mem)
{
	sqlite3_stmt *st;
	char sql[512];

	if (sqlite3_exec(mem, policydb_schema_sql, NULL, NULL, NULL) != SQLITE_OK)
		return -1;
	for (;;) {
		if (sqlite3_prepare_v2(mem, "SELECT name FROM sqlite_master WHERE type = 'trigger' LIMIT 1",
		                       -1, &st, NULL) != SQLITE_OK)
			return -1;
		if (sqlite3_step(st) != SQLITE_ROW) {
			sqlite3_finalize(st);
			return 0;
		}
		snprintf(sql, sizeof(sql), "DROP TRIGGER \"%s\"", (const char *)sqlite3_column_text(st, 0));
		sqlite3_finalize(st);
		if (sqlite3_exec(mem, sql, NULL, NULL, NULL) != SQLITE_OK)
			return -1;
	}
}

int
ch_rebuild_at(struct ch_ctx *c, sqlite3 *mem, int64_t serial)
{
	char err[512];
	struct replay rp;
	sqlite3_stmt *st = NULL, *ranges = NULL;
	int64_t current = policydb_serial(c->db, err, sizeof(err));
	int rc = CH_FAIL;

	if (current < 0)
		return ch_error(c, CH_FAIL, "%s", err);
	if (serial < 1 || serial > current)
		return ch_error(c, CH_FAIL, "serial %lld is not recorded (the log goes from 1 to %lld)",
		                (long long)serial, (long long)current);
	if (bare_schema(mem) != 0 || replay_prepare(mem, &rp) != 0) {
		ch_error(c, CH_FAIL, "rebuild: %s", sqlite3_errmsg(mem));
		replay_free(&rp);
		return CH_FAIL;
	}
	sqlite3_exec(mem, "BEGIN", NULL, NULL, NULL);
	/* the rows restores merged from their files' own logs: history, not this database's */
	if (ch_db_prepare(c, "SELECT a.id FROM audit a WHERE EXISTS (SELECT 1 FROM audit r"
	                  " WHERE r.op = 'restore' AND a.id BETWEEN json_extract(r.new, '$.history[0]')"
	                  " AND json_extract(r.new, '$.history[1]')) ORDER BY a.id", &ranges) != CH_OK ||
	    ch_db_prepare(c, "SELECT id, serial, tbl, op, old, new FROM audit ORDER BY id", &st) != CH_OK)
		goto out;
	int skip = sqlite3_step(ranges);
	int step;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0), s = sqlite3_column_int64(st, 1);
		const char *tbl = ch_col_text(st, 2, ""), *op = ch_col_text(st, 3, "");
		const char *old = ch_col_text(st, 4, NULL), *new = ch_col_text(st, 5, NULL);
		while (skip == SQLITE_ROW && sqlite3_column_int64(ranges, 0) < id)
			skip = sqlite3_step(ranges);
		if (skip == SQLITE_ROW && sqlite3_column_int64(ranges, 0) == id)
			continue;
		if (s > serial)
			break;
		if (strcmp(op, "restore") == 0) {
			/* a whole database loaded: its content follows in the log */
			if (!new || !strstr(new, "\"snapshot\"")) {
				ch_error(c, CH_FAIL, "serial %lld comes after the restore at serial %lld, which the "
				         "log recorded without the restored content: it cannot be rebuilt",
				         (long long)serial, (long long)s);
				goto out;
			}
			for (size_t t = 0; t < NTABLES; t++)
				if (run_json(rp.clear[t], "{}") != 0)
					goto apply_error;
			continue;
		}
		size_t t = 0;
		while (t < NTABLES && strcmp(audit_tables[t].name, tbl) != 0)
			t++;
		if (t == NTABLES)
			continue; /* not a policy table */
		if ((strcmp(op, "delete") == 0 || strcmp(op, "update") == 0) && old &&
		    run_json(rp.del[t], old) != 0)
			goto apply_error;
		if ((strcmp(op, "insert") == 0 || strcmp(op, "update") == 0) && new &&
		    run_json(rp.ins[t], new) != 0)
			goto apply_error;
		continue;
apply_error:
		ch_error(c, CH_FAIL, "rebuild: audit row %lld (%s %s) cannot be applied: %s", (long long)id,
		         tbl, op, sqlite3_errmsg(mem));
		goto out;
	}
	if (step != SQLITE_ROW && step != SQLITE_DONE) {
		ch_dberror(c);
		goto out;
	}
	char sql[128];
	snprintf(sql, sizeof(sql), "UPDATE meta SET value = %lld WHERE key = 'serial'", (long long)serial);
	if (sqlite3_exec(mem, sql, NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(mem, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		ch_error(c, CH_FAIL, "rebuild: %s", sqlite3_errmsg(mem));
		goto out;
	}
	rc = CH_OK;
out:
	if (!sqlite3_get_autocommit(mem))
		sqlite3_exec(mem, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_finalize(st);
	sqlite3_finalize(ranges);
	replay_free(&rp);
	return rc;
}

/* The triggers of the built-in schema, created again in mem (after the rows are in). */
static int
add_triggers(sqlite3 *mem)
{
	sqlite3 *ref = NULL;
	sqlite3_stmt *st = NULL;
	int rc = -1;

	if (sqlite3_open_v2(":memory:", &ref, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
	    sqlite3_exec(ref, policydb_schema_sql, NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(ref, "SELECT sql FROM sqlite_master WHERE type = 'trigger' ORDER BY rowid",
	                       -1, &st, NULL) != SQLITE_OK)
		goto out;
	while (sqlite3_step(st) == SQLITE_ROW)
		if (sqlite3_exec(mem, (const char *)sqlite3_column_text(st, 0), NULL, NULL, NULL) != SQLITE_OK)
			goto out;
	rc = 0;
out:
	sqlite3_finalize(st);
	sqlite3_close(ref);
	return rc;
}

int
ch_cmd_rebuild(struct ch_ctx *c, const struct ch_args *a)
{
	const char *path = a->pos[1];
	sqlite3 *mem = NULL, *dst = NULL;
	int64_t serial;
	int fd, rc = CH_FAIL;

	if (ch_parse_int64(a->pos[0], &serial) != 0)
		return ch_usage(c, "not a serial: '%s'", a->pos[0]);
	if (sqlite3_open_v2(":memory:", &mem, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
		return ch_error(c, CH_FAIL, "out of memory");
	if ((rc = ch_rebuild_at(c, mem, serial)) != CH_OK)
		goto out;
	rc = CH_FAIL;
	if (add_triggers(mem) != 0) {
		ch_error(c, CH_FAIL, "rebuild: %s", sqlite3_errmsg(mem));
		goto out;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd < 0) {
		ch_error(c, CH_FAIL, "%s: %s%s", path, strerror(errno), errno == EEXIST ? "; refusing to overwrite" : "");
		goto out;
	}
	close(fd);
	int brc = SQLITE_ERROR;
	if (sqlite3_open_v2(path, &dst, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
	    (brc = ch_backup_copy(dst, mem)) != SQLITE_DONE || sqlite3_close(dst) != SQLITE_OK) {
		ch_error(c, CH_FAIL, "%s: %s", path, dst ? sqlite3_errmsg(dst) : sqlite3_errstr(brc));
		sqlite3_close_v2(dst);
		unlink(path);
		goto out;
	}
	printf("%s: the policy at serial %lld\n", path, (long long)serial);
	rc = CH_OK;
out:
	sqlite3_close(mem);
	return rc;
}

/* ------------------------------------------------------------ diff */

/* One decision to compare: allow/deny/absent and its explanation. */
struct side {
	int state;          /* 1 allow, 0 deny, -1 absent (a domain not in the community then) */
	char why[2048];
};

static void
side_text(const struct side *s, char *buf, size_t len)
{
	if (s->state < 0)
		snprintf(buf, len, "absent");
	else
		snprintf(buf, len, "%s: %s", s->state ? "allow" : "deny", s->why);
}

/* The policy at a serial, indexed, decided at time at. */
static int
load_at(struct ch_ctx *c, int64_t serial, time_t at, bool mutual, struct ch_expolicy *x)
{
	sqlite3 *mem = NULL;
	char err[512];
	int rc;

	memset(x, 0, sizeof(*x));
	if (sqlite3_open_v2(":memory:", &mem, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
		return ch_error(c, CH_FAIL, "out of memory");
	if ((rc = ch_rebuild_at(c, mem, serial)) == CH_OK) {
		x->p = policydb_load(mem, err, sizeof(err));
		if (!x->p)
			rc = ch_error(c, CH_FAIL, "serial %lld: %s", (long long)serial, err);
		else
			ch_ex_index(x, mutual);
		x->now = at;
	}
	sqlite3_close(mem);
	return rc;
}

static void
decide_side(const struct ch_expolicy *x, const char *rname, const char *pname, struct side *s)
{
	uint32_t r = policy_find_domain(x->p, rname), p = policy_find_domain(x->p, pname);
	struct policy_verdict v;

	if (r == POLICY_NONE || p == POLICY_NONE) {
		s->state = -1;
		s->why[0] = 0;
		return;
	}
	policy_decide(x->p, r, p, x->now, x->mutual, &v);
	s->state = v.allow;
	ch_ex_verdict_words(x, r, p, &v, s->why, sizeof(s->why));
}

static void
diff_row(struct ch_table *t, const char *r, const char *p, const struct side *a, const struct side *b)
{
	char ta[2100], tb[2100];

	side_text(a, ta, sizeof(ta));
	side_text(b, tb, sizeof(tb));
	const char *row[4] = { r, p, ta, tb };
	ch_table_add(t, row);
}

/* The names of both snapshots, merged in byte order (each appears once). */
static const char **
union_names(const struct ch_expolicy *a, const struct ch_expolicy *b, size_t *n)
{
	const char **out = malloc(sizeof(char *) * (a->p->ndomains + b->p->ndomains + 1));
	size_t i = 0, k = 0;

	if (!out) {
		perror("chpolicy");
		exit(CH_FAIL);
	}
	*n = 0;
	while (i < a->p->ndomains || k < b->p->ndomains) {
		const char *x = i < a->p->ndomains ? a->p->domains[a->order[i]].name : NULL;
		const char *y = k < b->p->ndomains ? b->p->domains[b->order[k]].name : NULL;
		int cmp = !x ? 1 : !y ? -1 : strcmp(x, y);
		out[(*n)++] = cmp <= 0 ? x : y;
		i += cmp <= 0;
		k += cmp >= 0;
	}
	return out;
}

static int
diff_serials(struct ch_ctx *c, const struct ch_args *a, int64_t sa, int64_t sb, bool mutual)
{
	struct ch_expolicy xa, xb;
	struct ch_table t = { .ncols = 4 };
	char ha[64], hb[64], when[32];
	time_t at = time(NULL);
	int rc;
	size_t n, changed = 0;

	if (a->at) {
		char canon[32];
		if (ch_parse_time(a->at, at, canon, sizeof(canon)) != 0)
			return ch_usage(c, "--at: want 'YYYY-MM-DD HH:MM:SS' (UTC) or +N[s|m|h|d|w], not '%s'", a->at);
		at = (time_t)policydb_parse_time(canon);
	}
	if ((rc = load_at(c, sa, at, mutual, &xa)) != CH_OK) {
		ch_ex_free(&xa);
		return rc;
	}
	if ((rc = load_at(c, sb, at, mutual, &xb)) != CH_OK) {
		ch_ex_free(&xa);
		ch_ex_free(&xb);
		return rc;
	}
	const char **names = union_names(&xa, &xb, &n);
	snprintf(ha, sizeof(ha), "SERIAL %lld", (long long)sa);
	snprintf(hb, sizeof(hb), "SERIAL %lld", (long long)sb);
	const char *head[4] = { "REQUESTER", "PEER", ha, hb };
	ch_table_add(&t, head);
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < n; k++) {
			struct side da, db;
			decide_side(&xa, names[i], names[k], &da);
			decide_side(&xb, names[i], names[k], &db);
			if (da.state == db.state)
				continue;
			diff_row(&t, names[i], names[k], &da, &db);
			changed++;
		}
	}
	printf("# decisions at %s UTC, require-mutual %s: %zu (requester, peer) pair%s differ%s\n",
	       ch_fmt_time(at, when, sizeof(when)), mutual ? "yes" : "no", changed,
	       changed == 1 ? "" : "s", changed == 1 ? "s" : "");
	if (changed)
		ch_table_print(&t, stdout);
	ch_table_free(&t);
	free(names);
	ch_ex_free(&xa);
	ch_ex_free(&xb);
	return changed ? CH_NO : CH_OK;
}

/* ------------------------------------------------------------ diff of two matrix files */

struct mrow {
	char requester[1024], peer[1024];
	struct side s;
	int64_t serial;
};

struct mfile {
	const char *path;
	FILE *f;
	char *line;
	size_t cap;
	long lineno;
	bool json, header_done;
	struct mrow row;
	bool have;
};

/* The value of "key": in a JSON line (a string or a literal), into out. false: missing. */
static bool
json_field(const char *line, const char *key, char *out, size_t len)
{
	char pat[64];
	const char *p;
	size_t n = 0;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(line, pat);
	if (!p)
		return false;
	p += strlen(pat);
	if (*p == '"') {
		for (p++; *p && *p != '"' && n + 1 < len; p++) {
			if (*p == '\\' && p[1])
				p++;
			out[n++] = *p;
		}
	} else {
		while (*p && *p != ',' && *p != '}' && n + 1 < len)
			out[n++] = *p++;
	}
	out[n] = 0;
	return true;
}

/* Read the next row of m into m->row; m->have false at the end. CH_OK or CH_FAIL reported. */
static int
mfile_next(const struct ch_ctx *c, struct mfile *m)
{
	ssize_t got;

	m->have = false;
	while ((got = getline(&m->line, &m->cap, m->f)) >= 0) {
		m->lineno++;
		m->line[strcspn(m->line, "\n")] = 0;
		if (!m->line[0])
			continue;
		if (m->lineno == 1 && m->line[0] != '{') {
			if (strncmp(m->line, ch_matrix_csv_header, strlen(ch_matrix_csv_header) - 1) != 0)
				return ch_error(c, CH_FAIL, "%s: not a matrix export (CSV header or JSON Lines)", m->path);
			continue;
		}
		m->json = m->line[0] == '{';
		char f[11][1024], *save = NULL;
		struct mrow *r = &m->row;
		memset(f, 0, sizeof(f));
		if (m->json) {
			static const char *keys[] = { "serial", "requester", "peer", "decision", "reason", "rule_id",
			                              "rule", "mutual_rule_id", "mutual_rule", "dry_run_would",
			                              "dry_run_rule_id" };
			for (int i = 0; i < 11; i++)
				if (!json_field(m->line, keys[i], f[i], sizeof(f[i])) && i < 5)
					return ch_error(c, CH_FAIL, "%s:%ld: no \"%s\"", m->path, m->lineno, keys[i]);
		} else {
			/* 11 fields, none holds a comma; empty ones are kept (strsep, not strtok) */
			char *s = m->line, *tok;
			int i = 0;
			(void)save;
			while ((tok = strsep(&s, ",")) && i < 11)
				snprintf(f[i++], sizeof(f[0]), "%s", tok);
			if (i != 11)
				return ch_error(c, CH_FAIL, "%s:%ld: not 11 fields", m->path, m->lineno);
		}
		ch_parse_int64(f[0], &r->serial);
		snprintf(r->requester, sizeof(r->requester), "%s", f[1]);
		snprintf(r->peer, sizeof(r->peer), "%s", f[2]);
		if (strcmp(f[3], "allow") != 0 && strcmp(f[3], "deny") != 0)
			return ch_error(c, CH_FAIL, "%s:%ld: decision is allow or deny, not '%s'", m->path, m->lineno, f[3]);
		r->s.state = strcmp(f[3], "allow") == 0;
		bool rule = f[6][0] && strcmp(f[6], "null") != 0;
		bool mutual = f[8][0] && strcmp(f[8], "null") != 0;
		snprintf(r->s.why, sizeof(r->s.why), "%.100s%s%.30s%s%.900s%s%.900s", f[4], rule ? ", rule " : "",
		         rule ? f[5] : "", rule ? ": " : "", rule ? f[6] : "", mutual ? "; mutual: " : "",
		         mutual ? f[8] : "");
		m->have = true;
		return CH_OK;
	}
	return CH_OK;
}

static int
row_cmp(const struct mrow *a, const struct mrow *b)
{
	int c = strcmp(a->requester, b->requester);
	return c ? c : strcmp(a->peer, b->peer);
}

/* Both files are sorted by (requester, peer), as export matrix writes them: one merge pass. */
static int
diff_files(struct ch_ctx *c, const char *pa, const char *pb)
{
	struct mfile m[2] = { { .path = pa }, { .path = pb } };
	struct ch_table t = { .ncols = 4 };
	struct mrow prev[2];
	struct side absent = { .state = -1 };
	size_t changed = 0;
	int rc = CH_OK;

	memset(prev, 0, sizeof(prev));
	for (int i = 0; i < 2; i++) {
		m[i].f = fopen(m[i].path, "r");
		if (!m[i].f) {
			rc = ch_error(c, CH_FAIL, "%s: %s", m[i].path, strerror(errno));
			goto out;
		}
		if ((rc = mfile_next(c, &m[i])) != CH_OK)
			goto out;
	}
	const char *head[4] = { "REQUESTER", "PEER", pa, pb };
	ch_table_add(&t, head);
	while (m[0].have || m[1].have) {
		int cmp = !m[0].have ? 1 : !m[1].have ? -1 : row_cmp(&m[0].row, &m[1].row);
		if (cmp <= 0 && m[0].have && !cmp && m[0].row.s.state != m[1].row.s.state) {
			diff_row(&t, m[0].row.requester, m[0].row.peer, &m[0].row.s, &m[1].row.s);
			changed++;
		} else if (cmp < 0) {
			diff_row(&t, m[0].row.requester, m[0].row.peer, &m[0].row.s, &absent);
			changed++;
		} else if (cmp > 0) {
			diff_row(&t, m[1].row.requester, m[1].row.peer, &absent, &m[1].row.s);
			changed++;
		}
		for (int i = 0; i < 2; i++) {
			if (!m[i].have || (i == 0 ? cmp > 0 : cmp < 0))
				continue;
			if (prev[i].requester[0] && row_cmp(&prev[i], &m[i].row) >= 0) {
				rc = ch_error(c, CH_FAIL, "%s:%ld: not sorted by requester and peer as export matrix "
				              "writes it", m[i].path, m[i].lineno);
				goto out;
			}
			prev[i] = m[i].row;
			if ((rc = mfile_next(c, &m[i])) != CH_OK)
				goto out;
		}
	}
	printf("# %zu (requester, peer) pair%s differ%s\n", changed, changed == 1 ? "" : "s",
	       changed == 1 ? "s" : "");
	if (changed)
		ch_table_print(&t, stdout);
	rc = changed ? CH_NO : CH_OK;
out:
	ch_table_free(&t);
	for (int i = 0; i < 2; i++) {
		if (m[i].f)
			fclose(m[i].f);
		free(m[i].line);
	}
	return rc;
}

int
ch_cmd_diff(struct ch_ctx *c, const struct ch_args *a)
{
	int64_t sa, sb;
	bool na = ch_parse_int64(a->pos[0], &sa) == 0, nb = ch_parse_int64(a->pos[1], &sb) == 0;
	bool mutual = !a->no_mutual;

	if (a->require_mutual) {
		if (strcmp(a->require_mutual, "yes") != 0 && strcmp(a->require_mutual, "no") != 0)
			return ch_usage(c, "--require-mutual: yes or no, not '%s'", a->require_mutual);
		mutual = mutual && strcmp(a->require_mutual, "yes") == 0;
	}
	if (a->config) {
		/* the one setting a decision needs */
		FILE *f = fopen(a->config, "r");
		char line[1024];
		if (!f)
			return ch_error(c, CH_USAGE, "--config: %s: %s", a->config, strerror(errno));
		while (fgets(line, sizeof(line), f))
			if (strncmp(line, "require-mutual:", 15) == 0)
				mutual = mutual && strstr(line + 15, "no") == NULL;
		fclose(f);
	}
	if (na && nb)
		return diff_serials(c, a, sa, sb, mutual);
	if (!na && !nb)
		return diff_files(c, a->pos[0], a->pos[1]);
	return ch_usage(c, "compare two serials or two matrix exports, not one of each");
}
