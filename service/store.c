/*
 * store.c - SQLite access: pragmas, migrations, prepared statements.
 *
 * Each connection keeps its prepared statements in a fixed table indexed by
 * enum stmt, prepared on first use; hot paths (GET one, list) then cost one
 * sqlite3_reset/bind/step each.
 */
#include "store.h"

#include <pthread.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embed.h"
#include "log.h"

#define ENV_COLS "id, name, owner, status, base, values_json, requested_by, created_at, updated_at, " \
		 "expires_at, deleted_at, gen, pushed_gen, git_commit, git_error, pushed_at, " \
		 "argocd_sync, argocd_health, argocd_checked_at, cluster, changed_by"

enum stmt {
	S_BEGIN, S_COMMIT, S_ROLLBACK,
	S_GET_NAME, S_GET_ID, S_INSERT, S_SAVE, S_EVENT,
	S_DIRTY, S_PUSHED, S_FAILED, S_DIRTY_ERROR, S_PING, S_COUNT_STATUS,
	S_OUTBOX_ADD, S_EVENTS, S_EXPIRED, S_WARN_DUE, S_WARN_ADD, S_NEXT_EXPIRY, S_NEXT_WARN, S_WARN_ROW,
	S_OUTBOX_DUE, S_OUTBOX_DONE, S_OUTBOX_RETRY, S_OUTBOX_NEXT,
	S_COUNT_LIVE_OWNER, S_COUNT_LIVE, S_TOKEN_ADD, S_TOKEN_FIND, S_TOKEN_REVOKE, S_TOKEN_LIST, S_TOKEN_COUNT,
	S_IDEM_GET, S_IDEM_PUT, S_ARGOCD_SET,
	S_COUNT
};

static const char *const stmt_sql[S_COUNT] = {
	[S_BEGIN] = "BEGIN IMMEDIATE",
	[S_COMMIT] = "COMMIT",
	[S_ROLLBACK] = "ROLLBACK",
	[S_GET_NAME] = "SELECT " ENV_COLS " FROM envs WHERE name = ?1 "
		       "ORDER BY status IN ('pending','active','deleting') DESC, id DESC LIMIT 1",
	[S_GET_ID] = "SELECT " ENV_COLS " FROM envs WHERE id = ?1",
	[S_INSERT] = "INSERT INTO envs (name, owner, status, base, values_json, requested_by, created_at, "
		     "updated_at, expires_at, cluster, changed_by, gen, pushed_gen) "
		     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?6, 1, 0)",
	[S_SAVE] = "UPDATE envs SET values_json = ?2, expires_at = ?3, status = ?4, updated_at = ?5, "
		   "deleted_at = ?6, changed_by = coalesce(?7, changed_by), gen = gen + 1 WHERE id = ?1 RETURNING gen",
	[S_EVENT] = "INSERT INTO events (env_id, name, kind, actor, at, detail, remote_addr) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[S_DIRTY] = "SELECT " ENV_COLS " FROM envs WHERE gen > pushed_gen ORDER BY id LIMIT ?1",
	[S_PUSHED] = "UPDATE envs SET pushed_gen = max(pushed_gen, ?2), git_commit = ?3, pushed_at = ?4, "
		     "git_error = NULL, "
		     "status = CASE WHEN status = 'pending' THEN 'active' "
		     "WHEN status = 'deleting' AND gen = ?2 THEN 'deleted' ELSE status END, "
		     "deleted_at = CASE WHEN status = 'deleting' AND gen = ?2 THEN ?4 ELSE deleted_at END "
		     "WHERE id = ?1",
	[S_FAILED] = "UPDATE envs SET pushed_gen = max(pushed_gen, ?2), status = 'failed', git_error = ?3, "
		     "updated_at = ?4, next_warn_at = NULL WHERE id = ?1",
	[S_DIRTY_ERROR] = "UPDATE envs SET git_error = ?1 WHERE gen > pushed_gen",
	[S_PING] = "SELECT count(*) FROM envs WHERE id = 0",
	[S_COUNT_STATUS] = "SELECT status, count(*) FROM envs GROUP BY status",
	[S_OUTBOX_ADD] = "INSERT INTO outbox (event_id, kind, payload, created_at, next_attempt_at) VALUES (?1, ?2, ?3, ?4, ?4)",
	[S_EVENTS] = "SELECT id, env_id, name, kind, actor, at, detail, remote_addr FROM events WHERE name = ?1 ORDER BY id",
	[S_COUNT_LIVE_OWNER] = "SELECT count(*) FROM envs WHERE owner = ?1 AND status IN ('pending','active','deleting')",
	[S_COUNT_LIVE] = "SELECT count(*) FROM envs WHERE status IN ('pending','active','deleting')",
	[S_TOKEN_ADD] = "INSERT INTO tokens (name, role, lookup, hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
	[S_TOKEN_FIND] = "SELECT name, role, hash, created_at, revoked_at FROM tokens WHERE lookup = ?1",
	[S_TOKEN_REVOKE] = "UPDATE tokens SET revoked_at = ?2 WHERE name = ?1 AND revoked_at IS NULL",
	[S_TOKEN_LIST] = "SELECT name, role, '', created_at, revoked_at FROM tokens ORDER BY name",
	/* revoked tokens count too: revoking every token must not reopen the API */
	[S_TOKEN_COUNT] = "SELECT count(*) FROM tokens",
	[S_ARGOCD_SET] = "UPDATE envs SET argocd_sync = ?2, argocd_health = ?3, argocd_checked_at = ?4, "
			 "argocd_ready_at = CASE WHEN argocd_ready_at IS NULL AND ?3 = 'Healthy' AND ?2 = 'Synced' "
			 "AND pushed_at IS NOT NULL AND (?5 = 0 OR ?5 >= pushed_at) THEN ?4 ELSE argocd_ready_at END "
			 "WHERE id = ?1 RETURNING argocd_ready_at = ?4 AND ?3 = 'Healthy'",
	[S_IDEM_GET] = "SELECT fingerprint, env_id, wait_kind, wait_gen, status, body FROM idempotency WHERE actor = ?1 AND key = ?2",
	[S_IDEM_PUT] = "INSERT INTO idempotency (actor, key, fingerprint, env_id, wait_kind, wait_gen, status, body, created_at) "
		       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
	/* the reaper's queries walk an index from the first due row: with the
	 * status index SQLite would prefer, each would visit every live row */
	[S_EXPIRED] = "SELECT " ENV_COLS " FROM envs INDEXED BY envs_expiry WHERE status IN ('pending','active') "
		      "AND expires_at > 0 AND expires_at <= ?1 ORDER BY expires_at LIMIT ?2",
	[S_WARN_DUE] = "SELECT " ENV_COLS " FROM envs INDEXED BY envs_next_warn WHERE next_warn_at IS NOT NULL "
		       "AND next_warn_at <= ?1 AND status IN ('pending','active') AND expires_at > ?1 "
		       "AND expires_at - next_warn_at = ?2 ORDER BY next_warn_at",
	[S_WARN_ADD] = "INSERT OR IGNORE INTO warnings (env_id, lead, expires_at, sent_at) VALUES (?1, ?2, ?3, ?4)",
	[S_NEXT_EXPIRY] = "SELECT expires_at FROM envs INDEXED BY envs_expiry WHERE status IN ('pending','active') "
			  "AND expires_at > 0 ORDER BY expires_at LIMIT 1",
	[S_NEXT_WARN] = "SELECT next_warn_at FROM envs INDEXED BY envs_next_warn WHERE next_warn_at IS NOT NULL "
			"AND status IN ('pending','active') ORDER BY next_warn_at LIMIT 1",
	[S_WARN_ROW] = NULL, /* built from the lead times: warn_row_sql */
	[S_OUTBOX_DUE] = "SELECT id, created_at, attempts, kind, payload FROM outbox WHERE delivered_at IS NULL "
			 "AND next_attempt_at <= ?1 ORDER BY id LIMIT ?2",
	[S_OUTBOX_DONE] = "UPDATE outbox SET delivered_at = ?2, attempts = attempts + 1, last_error = NULL WHERE id = ?1",
	[S_OUTBOX_RETRY] = "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?2, last_error = ?3 WHERE id = ?1",
	[S_OUTBOX_NEXT] = "SELECT min(next_attempt_at) FROM outbox WHERE delivered_at IS NULL",
};

/* list statements, one per (sort, owner?, status?, cursor?) */
#define LIST_VARIANTS (PV_SORT_COUNT * 8)

struct pv_store {
	sqlite3 *db;
	sqlite3_stmt *stmts[S_COUNT];
	sqlite3_stmt *lists[LIST_VARIANTS];
};

static char *default_path;

/*
 * When a live environment's next warning is due: the earliest of
 * expires_at - lead over the lead times whose warning is not yet sent for
 * this expiry and that were at least `lead` ahead when the expiry was set.
 * Set once, before any connection prepares it (pv_store_set_warn_leads).
 */
static const char warn_sql_fmt[] =
	"WITH leads(lead) AS (VALUES %s) UPDATE envs SET next_warn_at = "
	"CASE WHEN status IN ('pending','active') AND expires_at > 0 THEN "
	"(SELECT min(envs.expires_at - leads.lead) FROM leads WHERE envs.expires_at - leads.lead >= envs.updated_at "
	"AND NOT EXISTS (SELECT 1 FROM warnings w WHERE w.env_id = envs.id AND w.lead = leads.lead "
	"AND w.expires_at = envs.expires_at)) END WHERE %s";
static const char warn_row_none[] = "UPDATE envs SET next_warn_at = NULL WHERE id = ?1";
static const char warn_all_none[] = "UPDATE envs SET next_warn_at = NULL WHERE next_warn_at IS NOT NULL";
static char *warn_row_sql = (char *)warn_row_none, *warn_all_sql = (char *)warn_all_none;
static pthread_key_t thread_key;
static pthread_once_t thread_key_once = PTHREAD_ONCE_INIT;

static int db_error(struct pv_store *st, int rc, const char *what)
{
	int code = (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) ? PV_EBUSY
		 : (rc == SQLITE_CONSTRAINT) ? PV_ECONFLICT : PV_EUNAVAIL;

	log_error("store: %s: %s", what, st && st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
	return pv_error_set(code, NULL, "database error while %s: %s", what,
		st && st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
}

static int prepare(struct pv_store *st, enum stmt which, sqlite3_stmt **out)
{
	int rc;

	if (!st->stmts[which]) {
		const char *sql = which == S_WARN_ROW ? warn_row_sql : stmt_sql[which];
		rc = sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st->stmts[which], NULL);
		if (rc != SQLITE_OK)
			return db_error(st, rc, "preparing a statement");
	}
	*out = st->stmts[which];
	sqlite3_reset(*out);
	sqlite3_clear_bindings(*out);
	return 0;
}

static int exec_simple(struct pv_store *st, enum stmt which, const char *what)
{
	sqlite3_stmt *s = NULL;
	int rc, error;

	if ((error = prepare(st, which, &s)) < 0)
		return error;
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return db_error(st, rc, what);
	return 0;
}

static int migrate(struct pv_store *st)
{
	sqlite3_stmt *s = NULL;
	int version = 0, rc, error = 0;

	rc = sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL);
	if (rc != SQLITE_OK || sqlite3_step(s) != SQLITE_ROW) {
		sqlite3_finalize(s);
		return db_error(st, rc, "reading the schema version");
	}
	version = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);

	for (size_t i = 0; i < pv_embedded_schema_count; i++) {
		const struct pv_embedded_file *f = &pv_embedded_schema[i];
		int n = atoi(f->path); /* "001_init.sql" -> 1 */
		char *sql, *errmsg = NULL, pragma[64];

		if (n <= version)
			continue;
		if (!(sql = malloc(f->len + 1)))
			return pv_error_set(PV_ERROR, NULL, "out of memory");
		memcpy(sql, f->data, f->len);
		sql[f->len] = '\0';
		snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", n);
		/* the migration and its version number commit together, or not at all */
		if (sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, &errmsg) != SQLITE_OK ||
		    sqlite3_exec(st->db, sql, NULL, NULL, &errmsg) != SQLITE_OK ||
		    sqlite3_exec(st->db, pragma, NULL, NULL, &errmsg) != SQLITE_OK ||
		    sqlite3_exec(st->db, "COMMIT", NULL, NULL, &errmsg) != SQLITE_OK) {
			error = pv_error_set(PV_EUNAVAIL, NULL, "schema migration %s failed: %s", f->path,
				errmsg ? errmsg : "unknown error");
			log_error("store: %s", pv_error_last()->message);
			sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
			sqlite3_free(errmsg);
			free(sql);
			return error;
		}
		free(sql);
		log_info("store: applied migration %s", f->path);
	}
	return 0;
}

int pv_store_open(struct pv_store **out, const char *path)
{
	struct pv_store *st;
	char *errmsg = NULL;
	int rc, error;

	*out = NULL;
	if (!(st = calloc(1, sizeof(*st))))
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	rc = sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		error = db_error(st, rc, "opening the database");
		goto fail;
	}
	sqlite3_busy_timeout(st->db, 10000);
	/* WAL lets readers run beside the writer; FULL makes every COMMIT durable
	 * before the API acknowledges it */
	rc = sqlite3_exec(st->db,
		"PRAGMA journal_mode = WAL;"
		"PRAGMA synchronous = FULL;"
		"PRAGMA foreign_keys = ON;"
		"PRAGMA temp_store = MEMORY;"
		/* 256 KiB of page cache per connection (up to 9 connections):
		 * the upper levels of the indexes stay hot and the kernel's page
		 * cache serves the rest; at 1 MiB each, the caches were a quarter
		 * of the resident memory at 10,000 environments */
		"PRAGMA cache_size = -256;", NULL, NULL, &errmsg);
	if (rc != SQLITE_OK) {
		error = pv_error_set(PV_EUNAVAIL, NULL, "configuring the database: %s", errmsg ? errmsg : "?");
		sqlite3_free(errmsg);
		goto fail;
	}
	if ((error = migrate(st)) < 0)
		goto fail;
	*out = st;
	return 0;
fail:
	pv_store_free(st);
	return error;
}

int pv_store_relax(struct pv_store *st)
{
	char *errmsg = NULL;

	if (sqlite3_exec(st->db, "PRAGMA synchronous = NORMAL", NULL, NULL, &errmsg) != SQLITE_OK) {
		int error = pv_error_set(PV_EUNAVAIL, NULL, "configuring the database: %s", errmsg ? errmsg : "?");
		sqlite3_free(errmsg);
		return error;
	}
	return 0;
}

void pv_store_free(struct pv_store *st)
{
	if (!st)
		return;
	for (int i = 0; i < S_COUNT; i++)
		sqlite3_finalize(st->stmts[i]);
	for (int i = 0; i < LIST_VARIANTS; i++)
		sqlite3_finalize(st->lists[i]);
	sqlite3_close(st->db);
	free(st);
}

static void thread_store_free(void *p)
{
	pv_store_free(p);
}

static void make_thread_key(void)
{
	pthread_key_create(&thread_key, thread_store_free);
}

void pv_store_set_default_path(const char *path)
{
	free(default_path);
	default_path = path ? strdup(path) : NULL;
	pthread_once(&thread_key_once, make_thread_key);
}

int pv_store_thread(struct pv_store **out)
{
	struct pv_store *st;
	int error;

	pthread_once(&thread_key_once, make_thread_key);
	if ((st = pthread_getspecific(thread_key)) != NULL) {
		*out = st;
		return 0;
	}
	if (!default_path)
		return pv_error_set(PV_EUNAVAIL, NULL, "no database configured");
	if ((error = pv_store_open(&st, default_path)) < 0)
		return error;
	pthread_setspecific(thread_key, st);
	*out = st;
	return 0;
}

void pv_store_thread_close(void)
{
	struct pv_store *st;

	pthread_once(&thread_key_once, make_thread_key);
	if ((st = pthread_getspecific(thread_key)) != NULL) {
		pthread_setspecific(thread_key, NULL);
		pv_store_free(st);
	}
}

int pv_store_begin(struct pv_store *st)
{
	return exec_simple(st, S_BEGIN, "starting a transaction");
}

int pv_store_commit(struct pv_store *st)
{
	int error = exec_simple(st, S_COMMIT, "committing");

	if (error < 0)
		pv_store_rollback(st);
	return error;
}

void pv_store_rollback(struct pv_store *st)
{
	if (!sqlite3_get_autocommit(st->db))
		(void)exec_simple(st, S_ROLLBACK, "rolling back");
}

void pv_env_dispose(struct pv_env *env)
{
	if (!env)
		return;
	free(env->values_json);
	free(env->requested_by);
	free(env->git_error);
	memset(env, 0, sizeof(*env));
}

int pv_env_is_live(const struct pv_env *env)
{
	return strcmp(env->status, PV_STATUS_PENDING) == 0 || strcmp(env->status, PV_STATUS_ACTIVE) == 0 ||
	       strcmp(env->status, PV_STATUS_DELETING) == 0;
}

static void copy_text(char *dst, size_t len, sqlite3_stmt *s, int col)
{
	const unsigned char *t = sqlite3_column_text(s, col);

	snprintf(dst, len, "%s", t ? (const char *)t : "");
}

static char *dup_text(sqlite3_stmt *s, int col)
{
	const unsigned char *t = sqlite3_column_text(s, col);

	return t ? strdup((const char *)t) : NULL;
}

static int read_row(struct pv_env *out, sqlite3_stmt *s)
{
	memset(out, 0, sizeof(*out));
	out->id = sqlite3_column_int64(s, 0);
	copy_text(out->name, sizeof(out->name), s, 1);
	copy_text(out->owner, sizeof(out->owner), s, 2);
	copy_text(out->status, sizeof(out->status), s, 3);
	copy_text(out->base, sizeof(out->base), s, 4);
	out->values_json = dup_text(s, 5);
	out->requested_by = dup_text(s, 6);
	out->created_at = sqlite3_column_int64(s, 7);
	out->updated_at = sqlite3_column_int64(s, 8);
	out->expires_at = sqlite3_column_int64(s, 9);
	out->deleted_at = sqlite3_column_int64(s, 10);
	out->gen = sqlite3_column_int64(s, 11);
	out->pushed_gen = sqlite3_column_int64(s, 12);
	copy_text(out->git_commit, sizeof(out->git_commit), s, 13);
	out->git_error = dup_text(s, 14);
	out->pushed_at = sqlite3_column_int64(s, 15);
	copy_text(out->argocd_sync, sizeof(out->argocd_sync), s, 16);
	copy_text(out->argocd_health, sizeof(out->argocd_health), s, 17);
	out->argocd_checked_at = sqlite3_column_int64(s, 18);
	copy_text(out->cluster, sizeof(out->cluster), s, 19);
	copy_text(out->changed_by, sizeof(out->changed_by), s, 20);
	if (!out->values_json || !out->requested_by) {
		pv_env_dispose(out);
		return pv_error_set(PV_ERROR, NULL, "out of memory reading a row");
	}
	return 0;
}

static int get_one(struct pv_store *st, sqlite3_stmt *s, struct pv_env *out, const char *what)
{
	int rc = sqlite3_step(s), error;

	if (rc == SQLITE_ROW) {
		error = read_row(out, s);
		sqlite3_reset(s);
		return error;
	}
	sqlite3_reset(s);
	if (rc == SQLITE_DONE)
		return pv_error_set(PV_ENOTFOUND, NULL, "%s not found", what);
	return db_error(st, rc, "reading an environment");
}

int pv_store_env_get(struct pv_store *st, struct pv_env *out, const char *name)
{
	sqlite3_stmt *s = NULL;
	int error;

	memset(out, 0, sizeof(*out));
	if ((error = prepare(st, S_GET_NAME, &s)) < 0)
		return error;
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	return get_one(st, s, out, "environment");
}

int pv_store_env_get_id(struct pv_store *st, struct pv_env *out, int64_t id)
{
	sqlite3_stmt *s = NULL;
	int error;

	memset(out, 0, sizeof(*out));
	if ((error = prepare(st, S_GET_ID, &s)) < 0)
		return error;
	sqlite3_bind_int64(s, 1, id);
	return get_one(st, s, out, "environment");
}

int pv_store_set_warn_leads(const long long *leads, size_t n)
{
	char list[512], *row = NULL, *all = NULL;
	size_t used = 0;

	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		int k = snprintf(list + used, sizeof(list) - used, "%s(%lld)", i ? "," : "", leads[i]);
		if (k < 0 || (size_t)k >= sizeof(list) - used)
			return pv_error_set(PV_EINVAL, NULL, "too many warning lead times");
		used += (size_t)k;
	}
	if (asprintf(&row, warn_sql_fmt, list, "id = ?1") < 0) {
		row = NULL;
		goto oom;
	}
	if (asprintf(&all, warn_sql_fmt, list, "status IN ('pending','active') OR next_warn_at IS NOT NULL") < 0) {
		all = NULL;
		goto oom;
	}
	/* set once at start-up, before any thread opens a connection; kept for
	 * the life of the process */
	warn_row_sql = row;
	warn_all_sql = all;
	return 0;
oom:
	free(row);
	return pv_error_set(PV_ERROR, NULL, "out of memory");
}

int pv_store_warn_refresh(struct pv_store *st)
{
	char *errmsg = NULL;

	if (sqlite3_exec(st->db, warn_all_sql, NULL, NULL, &errmsg) != SQLITE_OK) {
		int error = pv_error_set(PV_EUNAVAIL, NULL, "computing warning times: %s", errmsg ? errmsg : "?");
		sqlite3_free(errmsg);
		return error;
	}
	return 0;
}

/* recompute one environment's next_warn_at after a change to it */
static int warn_row(struct pv_store *st, int64_t id)
{
	sqlite3_stmt *s = NULL;
	int rc, error;

	if ((error = prepare(st, S_WARN_ROW, &s)) < 0)
		return error;
	sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return db_error(st, rc, "computing a warning time");
	return 0;
}

int pv_store_env_insert(struct pv_store *st, struct pv_env *env)
{
	sqlite3_stmt *s = NULL;
	int rc, error;

	if ((error = prepare(st, S_INSERT, &s)) < 0)
		return error;
	sqlite3_bind_text(s, 1, env->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, env->owner, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, env->status, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, env->base, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, env->values_json, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 6, env->requested_by, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 7, env->created_at);
	sqlite3_bind_int64(s, 8, env->updated_at);
	sqlite3_bind_int64(s, 9, env->expires_at);
	sqlite3_bind_text(s, 10, env->cluster, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc == SQLITE_CONSTRAINT)
		return pv_error_set(PV_ECONFLICT, "name", "an environment named '%s' already exists", env->name);
	if (rc != SQLITE_DONE)
		return db_error(st, rc, "inserting an environment");
	env->id = sqlite3_last_insert_rowid(st->db);
	env->gen = 1;
	env->pushed_gen = 0;
	return warn_row(st, env->id);
}

int pv_store_env_save(struct pv_store *st, struct pv_env *env)
{
	sqlite3_stmt *s = NULL;
	int rc, error;

	if ((error = prepare(st, S_SAVE, &s)) < 0)
		return error;
	sqlite3_bind_int64(s, 1, env->id);
	sqlite3_bind_text(s, 2, env->values_json, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, env->expires_at);
	sqlite3_bind_text(s, 4, env->status, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 5, env->updated_at);
	if (env->deleted_at)
		sqlite3_bind_int64(s, 6, env->deleted_at);
	if (env->changed_by[0])
		sqlite3_bind_text(s, 7, env->changed_by, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		env->gen = sqlite3_column_int64(s, 0);
		rc = sqlite3_step(s);
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return db_error(st, rc, "saving an environment");
	return warn_row(st, env->id);
}

static int outbox_enabled;

void pv_store_set_outbox(int enabled)
{
	outbox_enabled = enabled;
}

/* history kinds that are also notifications, and their notification name */
static const char *notification_kind(const char *kind)
{
	static const char *const kinds[] = { "created", "ready", "extended", "expiring", "deleted", "failed" };

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(kind, kinds[i]) == 0)
			return kinds[i];
	return NULL;
}

/* What a receiver is told about the environment, as it was at the event. */
static char *outbox_payload(const struct pv_env *env, const char *actor, int64_t at, const char *detail_json)
{
	json_t *o, *detail = detail_json ? json_loads(detail_json, 0, NULL) : NULL;
	char *s;

	o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:I, s:o}",
		"name", env->name, "owner", env->owner, "status", env->status, "base", env->base,
		"created_at", (json_int_t)env->created_at, "expires_at", (json_int_t)env->expires_at,
		"at", (json_int_t)at, "actor", actor, "env_id", (json_int_t)env->id,
		"detail", detail ? detail : json_null());
	if (!o)
		return NULL;
	s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	return s;
}

int pv_store_event_add(struct pv_store *st, const struct pv_env *env, const char *kind,
	const char *actor, const char *from, int64_t at, const char *detail_json)
{
	sqlite3_stmt *s = NULL;
	const char *note;
	char *payload;
	int rc, error;

	if ((error = prepare(st, S_EVENT, &s)) < 0)
		return error;
	sqlite3_bind_int64(s, 1, env->id);
	sqlite3_bind_text(s, 2, env->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, actor, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 5, at);
	if (detail_json)
		sqlite3_bind_text(s, 6, detail_json, -1, SQLITE_STATIC);
	if (from)
		sqlite3_bind_text(s, 7, from, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return db_error(st, rc, "recording an event");
	if (!outbox_enabled || !(note = notification_kind(kind)))
		return 0;
	if (!(payload = outbox_payload(env, actor, at, detail_json)))
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	if ((error = prepare(st, S_OUTBOX_ADD, &s)) < 0) {
		free(payload);
		return error;
	}
	sqlite3_bind_int64(s, 1, sqlite3_last_insert_rowid(st->db));
	sqlite3_bind_text(s, 2, note, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, payload, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 4, at);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	free(payload);
	if (rc != SQLITE_DONE)
		return db_error(st, rc, "queueing a notification");
	return 0;
}

int pv_store_events(struct pv_store *st, const char *name, pv_store_event_cb cb, void *payload)
{
	sqlite3_stmt *s = NULL;
	struct pv_event ev;
	int rc, error = 0;

	if ((error = prepare(st, S_EVENTS, &s)) < 0)
		return error;
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		memset(&ev, 0, sizeof(ev));
		ev.id = sqlite3_column_int64(s, 0);
		ev.env_id = sqlite3_column_int64(s, 1);
		copy_text(ev.name, sizeof(ev.name), s, 2);
		copy_text(ev.kind, sizeof(ev.kind), s, 3);
		ev.actor = dup_text(s, 4);
		ev.at = sqlite3_column_int64(s, 5);
		ev.detail_json = dup_text(s, 6);
		copy_text(ev.from, sizeof(ev.from), s, 7);
		error = ev.actor ? cb(&ev, payload) : pv_error_set(PV_ERROR, NULL, "out of memory");
		free(ev.actor);
		free(ev.detail_json);
		if (error)
			break;
	}
	sqlite3_reset(s);
	if (error)
		return error;
	if (rc != SQLITE_DONE)
		return db_error(st, rc, "reading the history");
	return 0;
}

static int walk(struct pv_store *st, sqlite3_stmt *s, pv_store_env_cb cb, void *payload)
{
	struct pv_env env;
	int rc, error = 0;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if ((error = read_row(&env, s)) < 0)
			break;
		error = cb(&env, payload);
		pv_env_dispose(&env);
		if (error)
			break;
	}
	sqlite3_reset(s);
	if (error)
		return error;
	if (rc != SQLITE_DONE)
		return db_error(st, rc, "listing environments");
	return 0;
}

/* The list query for a filter's shape.  Keyset pagination: the cursor is
 * the last row's sort key and id, so pages stay stable while rows come and
 * go, and a page costs the same at the end of the list as at its start. */
static int list_statement(struct pv_store *st, const struct pv_store_filter *f, sqlite3_stmt **out)
{
	static const struct { const char *key; const char *dir; const char *cmp; } sorts[PV_SORT_COUNT] = {
		[PV_SORT_NEWEST] = { NULL, "DESC", "<" },
		[PV_SORT_OLDEST] = { NULL, "ASC", ">" },
		[PV_SORT_NAME] = { "name", "ASC", ">" },
		[PV_SORT_NAME_DESC] = { "name", "DESC", "<" },
		/* "never" (0) sorts after every real expiry */
		[PV_SORT_EXPIRY] = { "(CASE WHEN expires_at = 0 THEN 9223372036854775807 ELSE expires_at END)", "ASC", ">" },
		[PV_SORT_EXPIRY_DESC] = { "(CASE WHEN expires_at = 0 THEN 9223372036854775807 ELSE expires_at END)", "DESC", "<" },
	};
	int v = (int)f->sort * 8 + (f->owner ? 4 : 0) + (f->status ? 2 : 0) + (f->have_cursor ? 1 : 0);
	char sql[1024];
	int rc, n;

	if (f->sort >= PV_SORT_COUNT)
		return pv_error_set(PV_EINVAL, "sort", "unknown sort order");
	if (!st->lists[v]) {
		const char *key = sorts[f->sort].key;
		n = snprintf(sql, sizeof(sql), "SELECT " ENV_COLS " FROM envs WHERE 1%s%s", f->owner ? " AND owner = ?1" : "",
			f->status ? " AND status = ?2" : "");
		if (f->have_cursor && key)
			n += snprintf(sql + n, sizeof(sql) - (size_t)n, " AND (%s, id) %s (?3, ?4)", key, sorts[f->sort].cmp);
		else if (f->have_cursor)
			n += snprintf(sql + n, sizeof(sql) - (size_t)n, " AND id %s ?4", sorts[f->sort].cmp);
		if (key)
			n += snprintf(sql + n, sizeof(sql) - (size_t)n, " ORDER BY %s %s, id %s", key, sorts[f->sort].dir,
				sorts[f->sort].dir);
		else
			n += snprintf(sql + n, sizeof(sql) - (size_t)n, " ORDER BY id %s", sorts[f->sort].dir);
		snprintf(sql + n, sizeof(sql) - (size_t)n, " LIMIT ?5");
		rc = sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st->lists[v], NULL);
		if (rc != SQLITE_OK)
			return db_error(st, rc, "preparing a list");
	}
	*out = st->lists[v];
	sqlite3_reset(*out);
	sqlite3_clear_bindings(*out);
	return 0;
}

int pv_store_env_list(struct pv_store *st, const struct pv_store_filter *filter,
	pv_store_env_cb cb, void *payload)
{
	sqlite3_stmt *s = NULL;
	int error;

	if ((error = list_statement(st, filter, &s)) < 0)
		return error;
	if (filter->owner)
		sqlite3_bind_text(s, 1, filter->owner, -1, SQLITE_STATIC);
	if (filter->status)
		sqlite3_bind_text(s, 2, filter->status, -1, SQLITE_STATIC);
	if (filter->have_cursor) {
		if (filter->sort == PV_SORT_NAME || filter->sort == PV_SORT_NAME_DESC)
			sqlite3_bind_text(s, 3, filter->after_text ? filter->after_text : "", -1, SQLITE_STATIC);
		else if (filter->sort == PV_SORT_EXPIRY || filter->sort == PV_SORT_EXPIRY_DESC)
			sqlite3_bind_int64(s, 3, filter->after_int ? filter->after_int : INT64_MAX);
		sqlite3_bind_int64(s, 4, filter->after_id);
	}
	sqlite3_bind_int(s, 5, filter->limit);
	return walk(st, s, cb, payload);
}

int pv_store_dirty(struct pv_store *st, int limit, pv_store_env_cb cb, void *payload)
{
	sqlite3_stmt *s = NULL;
	int error;

	if ((error = prepare(st, S_DIRTY, &s)) < 0)
		return error;
	sqlite3_bind_int(s, 1, limit);
	return walk(st, s, cb, payload);
}

int pv_store_mark_pushed(struct pv_store *st, int64_t id, int64_t gen, const char *commit, int64_t now)
{
	sqlite3_stmt *s = NULL;
	int rc, error;

	if ((error = prepare(st, S_PUSHED, &s)) < 0)
		return error;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int64(s, 2, gen);
	sqlite3_bind_text(s, 3, commit, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, now);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return db_error(st, rc, "recording a push");
	return 0;
}

int pv_store_mark_failed(struct pv_store *st, int64_t id, int64_t gen, const char *why, int64_t now)
{
	sqlite3_stmt *s = NULL;
	int rc, error;

	if ((error = prepare(st, S_FAILED, &s)) < 0)
		return error;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int64(s, 2, gen);
	sqlite3_bind_text(s, 3, why, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, now);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return db_error(st, rc, "recording a failure");
	return 0;
}

int pv_store_set_dirty_error(struct pv_store *st, const char *msg)
{
	sqlite3_stmt *s = NULL;
	int rc, error;

	if ((error = prepare(st, S_DIRTY_ERROR, &s)) < 0)
		return error;
	if (msg)
		sqlite3_bind_text(s, 1, msg, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return db_error(st, rc, "recording a push error");
	return 0;
}

int pv_store_ping(struct pv_store *st)
{
	sqlite3_stmt *s = NULL;
	int rc, error;

	if ((error = prepare(st, S_PING, &s)) < 0)
		return error;
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_ROW)
		return db_error(st, rc, "checking the database");
	return 0;
}

int pv_store_count_by_status(struct pv_store *st, void (*cb)(const char *status, long long n, void *payload),
	void *payload)
{
	sqlite3_stmt *s = NULL;
	int rc, error;

	if ((error = prepare(st, S_COUNT_STATUS, &s)) < 0)
		return error;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		cb((const char *)sqlite3_column_text(s, 0), sqlite3_column_int64(s, 1), payload);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return db_error(st, rc, "counting environments");
	return 0;
}

/* ---- reaper ---- */

int pv_store_expired(struct pv_store *st, int64_t now, int limit, pv_store_env_cb cb, void *payload)
{
	sqlite3_stmt *s = NULL;
	int error;

	if ((error = prepare(st, S_EXPIRED, &s)) < 0)
		return error;
	sqlite3_bind_int64(s, 1, now);
	sqlite3_bind_int(s, 2, limit);
	return walk(st, s, cb, payload);
}

int pv_store_warnings_due(struct pv_store *st, int64_t now, long long lead, pv_store_env_cb cb, void *payload)
{
	sqlite3_stmt *s = NULL;
	int error;

	if ((error = prepare(st, S_WARN_DUE, &s)) < 0)
		return error;
	sqlite3_bind_int64(s, 1, now);
	sqlite3_bind_int64(s, 2, lead);
	return walk(st, s, cb, payload);
}

int pv_store_warning_add(struct pv_store *st, int64_t env_id, long long lead, int64_t expires_at, int64_t now)
{
	sqlite3_stmt *s = NULL;
	int rc, error;

	if ((error = prepare(st, S_WARN_ADD, &s)) < 0)
		return error;
	sqlite3_bind_int64(s, 1, env_id);
	sqlite3_bind_int64(s, 2, lead);
	sqlite3_bind_int64(s, 3, expires_at);
	sqlite3_bind_int64(s, 4, now);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return db_error(st, rc, "recording a warning");
	return warn_row(st, env_id);
}

static int min_of(struct pv_store *st, sqlite3_stmt *s, int64_t *inout)
{
	int rc = sqlite3_step(s);

	if (rc == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL) {
		int64_t v = sqlite3_column_int64(s, 0);
		if (*inout == 0 || v < *inout)
			*inout = v;
	}
	sqlite3_reset(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_error(st, rc, "finding the next due time");
	return 0;
}

int pv_store_next_due(struct pv_store *st, int64_t *out)
{
	sqlite3_stmt *s = NULL;
	int error;

	*out = 0;
	if ((error = prepare(st, S_NEXT_EXPIRY, &s)) < 0 || (error = min_of(st, s, out)) < 0 ||
	    (error = prepare(st, S_NEXT_WARN, &s)) < 0 || (error = min_of(st, s, out)) < 0)
		return error;
	return 0;
}

/* ---- outbox ---- */

int pv_store_outbox_due(struct pv_store *st, int64_t now, int limit, pv_store_outbox_cb cb, void *payload)
{
	sqlite3_stmt *s = NULL;
	struct pv_outbox ob;
	int rc, error;

	if ((error = prepare(st, S_OUTBOX_DUE, &s)) < 0)
		return error;
	sqlite3_bind_int64(s, 1, now);
	sqlite3_bind_int(s, 2, limit);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		memset(&ob, 0, sizeof(ob));
		ob.id = sqlite3_column_int64(s, 0);
		ob.created_at = sqlite3_column_int64(s, 1);
		ob.attempts = sqlite3_column_int(s, 2);
		copy_text(ob.kind, sizeof(ob.kind), s, 3);
		ob.payload = dup_text(s, 4);
		error = ob.payload ? cb(&ob, payload) : pv_error_set(PV_ERROR, NULL, "out of memory");
		free(ob.payload);
		if (error)
			break;
	}
	sqlite3_reset(s);
	if (error)
		return error;
	if (rc != SQLITE_DONE)
		return db_error(st, rc, "reading the outbox");
	return 0;
}

int pv_store_outbox_delivered(struct pv_store *st, int64_t id, int64_t now)
{
	sqlite3_stmt *s = NULL;
	int rc, error;

	if ((error = prepare(st, S_OUTBOX_DONE, &s)) < 0)
		return error;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int64(s, 2, now);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : db_error(st, rc, "recording a delivery");
}

int pv_store_outbox_retry(struct pv_store *st, int64_t id, int64_t next_at, const char *msg)
{
	sqlite3_stmt *s = NULL;
	int rc, error;

	if ((error = prepare(st, S_OUTBOX_RETRY, &s)) < 0)
		return error;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int64(s, 2, next_at);
	sqlite3_bind_text(s, 3, msg, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : db_error(st, rc, "recording a failed delivery");
}

int pv_store_outbox_next(struct pv_store *st, int64_t *out)
{
	sqlite3_stmt *s = NULL;
	int error;

	*out = 0;
	if ((error = prepare(st, S_OUTBOX_NEXT, &s)) < 0)
		return error;
	return min_of(st, s, out);
}

/* ---- quotas ---- */

int pv_store_count_live(struct pv_store *st, const char *owner, long long *of_owner, long long *total)
{
	sqlite3_stmt *s = NULL;
	int64_t n = 0;
	int error;

	if ((error = prepare(st, S_COUNT_LIVE_OWNER, &s)) < 0)
		return error;
	sqlite3_bind_text(s, 1, owner, -1, SQLITE_STATIC);
	if ((error = min_of(st, s, &n)) < 0)
		return error;
	*of_owner = n;
	n = 0;
	if ((error = prepare(st, S_COUNT_LIVE, &s)) < 0 || (error = min_of(st, s, &n)) < 0)
		return error;
	*total = n;
	return 0;
}

/* ---- tokens ---- */

static int step_done(struct pv_store *st, sqlite3_stmt *s, const char *what)
{
	int rc = sqlite3_step(s);

	sqlite3_reset(s);
	if (rc == SQLITE_CONSTRAINT)
		return pv_error_set(PV_ECONFLICT, NULL, "%s: already exists", what);
	return rc == SQLITE_DONE ? 0 : db_error(st, rc, what);
}

int pv_store_token_add(struct pv_store *st, const char *name, const char *role, const char *lookup,
	const char *hash, int64_t now)
{
	sqlite3_stmt *s = NULL;
	int error;

	if ((error = prepare(st, S_TOKEN_ADD, &s)) < 0)
		return error;
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, role, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, lookup, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, hash, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 5, now);
	if ((error = step_done(st, s, "adding a token")) == PV_ECONFLICT)
		return pv_error_set(PV_ECONFLICT, "name", "a token named '%s' exists already", name);
	return error;
}

static void read_token(struct pv_token *t, sqlite3_stmt *s)
{
	memset(t, 0, sizeof(*t));
	copy_text(t->name, sizeof(t->name), s, 0);
	copy_text(t->role, sizeof(t->role), s, 1);
	copy_text(t->hash, sizeof(t->hash), s, 2);
	t->created_at = sqlite3_column_int64(s, 3);
	t->revoked_at = sqlite3_column_int64(s, 4);
}

int pv_store_token_find(struct pv_store *st, const char *lookup, struct pv_token *out)
{
	sqlite3_stmt *s = NULL;
	int rc, error;

	if ((error = prepare(st, S_TOKEN_FIND, &s)) < 0)
		return error;
	sqlite3_bind_text(s, 1, lookup, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		read_token(out, s);
	sqlite3_reset(s);
	if (rc == SQLITE_DONE)
		return pv_error_set(PV_ENOTFOUND, NULL, "no such token");
	return rc == SQLITE_ROW ? 0 : db_error(st, rc, "reading a token");
}

int pv_store_token_revoke(struct pv_store *st, const char *name, int64_t now)
{
	sqlite3_stmt *s = NULL;
	int error;

	if ((error = prepare(st, S_TOKEN_REVOKE, &s)) < 0)
		return error;
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, now);
	if ((error = step_done(st, s, "revoking a token")) < 0)
		return error;
	if (sqlite3_changes(st->db) == 0)
		return pv_error_set(PV_ENOTFOUND, "name", "no active token named '%s'", name);
	return 0;
}

int pv_store_token_list(struct pv_store *st, int (*cb)(const struct pv_token *t, void *payload), void *payload)
{
	sqlite3_stmt *s = NULL;
	struct pv_token t;
	int rc, error = 0;

	if ((error = prepare(st, S_TOKEN_LIST, &s)) < 0)
		return error;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		read_token(&t, s);
		if ((error = cb(&t, payload)) != 0)
			break;
	}
	sqlite3_reset(s);
	if (error)
		return error;
	return rc == SQLITE_DONE ? 0 : db_error(st, rc, "listing tokens");
}

int pv_store_token_count(struct pv_store *st, long long *out)
{
	sqlite3_stmt *s = NULL;
	int64_t n = 0;
	int error;

	if ((error = prepare(st, S_TOKEN_COUNT, &s)) < 0 || (error = min_of(st, s, &n)) < 0)
		return error;
	*out = n;
	return 0;
}

/* ---- idempotency ---- */

int pv_store_idem_get(struct pv_store *st, const char *actor, const char *key, struct pv_idem *out)
{
	sqlite3_stmt *s = NULL;
	int rc, error;

	memset(out, 0, sizeof(*out));
	if ((error = prepare(st, S_IDEM_GET, &s)) < 0)
		return error;
	sqlite3_bind_text(s, 1, actor, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		copy_text(out->fingerprint, sizeof(out->fingerprint), s, 0);
		out->env_id = sqlite3_column_int64(s, 1);
		out->wait_kind = sqlite3_column_int(s, 2);
		out->wait_gen = sqlite3_column_int64(s, 3);
		out->status = sqlite3_column_int(s, 4);
		out->body = dup_text(s, 5);
	}
	sqlite3_reset(s);
	if (rc == SQLITE_DONE)
		return pv_error_set(PV_ENOTFOUND, NULL, "no such idempotency key");
	return rc == SQLITE_ROW ? 0 : db_error(st, rc, "reading an idempotency key");
}

int pv_store_idem_put(struct pv_store *st, const char *actor, const char *key, const struct pv_idem *idem, int64_t now)
{
	sqlite3_stmt *s = NULL;
	int error;

	if ((error = prepare(st, S_IDEM_PUT, &s)) < 0)
		return error;
	sqlite3_bind_text(s, 1, actor, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, idem->fingerprint, -1, SQLITE_STATIC);
	if (idem->env_id)
		sqlite3_bind_int64(s, 4, idem->env_id);
	sqlite3_bind_int(s, 5, idem->wait_kind);
	sqlite3_bind_int64(s, 6, idem->wait_gen);
	sqlite3_bind_int(s, 7, idem->status);
	if (idem->body)
		sqlite3_bind_text(s, 8, idem->body, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 9, now);
	return step_done(st, s, "recording an idempotency key");
}

/* ---- Argo CD ---- */

int pv_store_argocd_set(struct pv_store *st, const char *name, const char *sync, const char *health,
	int64_t synced_at, int64_t now, int *ready)
{
	sqlite3_stmt *s = NULL;
	struct pv_env env;
	int rc, error;

	*ready = 0;
	if ((error = pv_store_begin(st)) < 0)
		return error;
	if ((error = pv_store_env_get(st, &env, name)) < 0)
		goto fail;
	if (strcmp(env.status, PV_STATUS_PENDING) != 0 && strcmp(env.status, PV_STATUS_ACTIVE) != 0) {
		error = pv_error_set(PV_ENOTFOUND, NULL, "no live environment named '%s'", name);
		goto fail;
	}
	if ((error = prepare(st, S_ARGOCD_SET, &s)) < 0)
		goto fail;
	sqlite3_bind_int64(s, 1, env.id);
	sqlite3_bind_text(s, 2, sync, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, health, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, now);
	sqlite3_bind_int64(s, 5, synced_at);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*ready = sqlite3_column_int(s, 0);
		rc = sqlite3_step(s);
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		error = db_error(st, rc, "recording Argo CD status");
		goto fail;
	}
	if (*ready && (error = pv_store_event_add(st, &env, "ready", "argocd", NULL, now, NULL)) < 0)
		goto fail;
	pv_env_dispose(&env);
	return pv_store_commit(st);
fail:
	pv_env_dispose(&env);
	pv_store_rollback(st);
	return error;
}
