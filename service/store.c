/*
 * store.c - SQLite connections: pragmas, migrations, transactions, the
 * per-thread connections of the HTTP workers, and the helpers the table
 * families share (store_int.h).
 */
#include "store_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "config.h"
#include "dbhealth.h"
#include "embed.h"
#include "log.h"

#define REFUSED_LOG_EVERY_MS 30000  /* the repeated "disk is full" line */

static const char *const core_sql[S_COUNT] = {
	[S_BEGIN] = "BEGIN IMMEDIATE",
	[S_COMMIT] = "COMMIT",
	[S_ROLLBACK] = "ROLLBACK",
	[S_PING] = "SELECT count(*) FROM envs WHERE id = 0",
};

struct pv_store_threads {
	pthread_key_t key;
	struct pv_store_settings settings;
	char *path;
	long long *leads;
};

int pv_store__db_error(struct pv_store *st, int rc, const char *what)
{
	int code = (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) ? PV_EBUSY
		 : (rc == SQLITE_CONSTRAINT) ? PV_ECONFLICT : PV_EUNAVAIL;
	const char *msg = st && st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc);

	if (pv_dbhealth_is_refusal(rc)) {
		/* a full or failing volume fails every write until it is fixed:
		 * a state (dbhealth.h) and a line now and then, not a line a try */
		pv_dbhealth_refused(what, msg);
		log_error_every(REFUSED_LOG_EVERY_MS, "store: %s: %s", what, msg);
		return pv_error_set(code, NULL, "database error while %s: %s; the database refuses writes, "
			"previewd takes them again by itself once it can", what, msg);
	}
	log_error("store: %s: %s", what, msg);
	return pv_error_set(code, NULL, "database error while %s: %s", what, msg);
}

int pv_store__prepare(struct pv_store *st, enum stmt which, const char *text, sqlite3_stmt **out)
{
	int rc;

	if (!st->stmts[which]) {
		rc = sqlite3_prepare_v3(st->db, text, -1, SQLITE_PREPARE_PERSISTENT, &st->stmts[which], NULL);
		if (rc != SQLITE_OK)
			return pv_store__db_error(st, rc, "preparing a statement");
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

	if ((error = pv_store__prepare(st, which, core_sql[which], &s)) < 0)
		return error;
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return pv_store__db_error(st, rc, what);
	return 0;
}

static int migrate(struct pv_store *st)
{
	sqlite3_stmt *s = NULL;
	int version = 0, rc, error = 0;

	rc = sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL);
	if (rc != SQLITE_OK || sqlite3_step(s) != SQLITE_ROW) {
		sqlite3_finalize(s);
		return pv_store__db_error(st, rc, "reading the schema version");
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

int pv_store_open(struct pv_store **out, const struct pv_store_settings *settings)
{
	struct pv_store *st;
	char *errmsg = NULL;
	int rc, error;

	*out = NULL;
	if (!(st = calloc(1, sizeof(*st))))
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	rc = sqlite3_open_v2(settings->path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		error = pv_store__db_error(st, rc, "opening the database");
		goto fail;
	}
	sqlite3_busy_timeout(st->db, 10000);
	/* WAL lets readers run beside the writer; FULL makes every COMMIT durable
	 * before the API acknowledges it */
	rc = sqlite3_exec(st->db,
		/* first: it takes only before the database's first table, and
		 * lets retention give pruned pages back (retention.h) */
		"PRAGMA auto_vacuum = INCREMENTAL;"
		"PRAGMA journal_mode = WAL;"
		/* a checkpoint leaves the WAL file at its largest size; this
		 * truncates it back, so a burst does not keep disk for good */
		"PRAGMA journal_size_limit = 4194304;"
		"PRAGMA synchronous = FULL;"
		"PRAGMA foreign_keys = ON;"
		"PRAGMA temp_store = MEMORY;"
		/* 256 KiB of page cache per connection (up to 9 connections):
		 * the upper levels of the indexes stay hot and the kernel's page
		 * cache serves the rest; at 1 MiB each, the caches were a quarter
		 * of the resident memory at 10,000 environments */
		"PRAGMA cache_size = -256;", NULL, NULL, &errmsg);
	if (rc == SQLITE_FULL) {
		/* a full disk refuses writes, not reads: a connection opened
		 * then (an HTTP thread's first request) keeps the settings that
		 * need no write; the file is WAL already from its first open */
		sqlite3_free(errmsg);
		errmsg = NULL;
		rc = sqlite3_exec(st->db, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;"
			"PRAGMA temp_store = MEMORY; PRAGMA cache_size = -256;", NULL, NULL, &errmsg);
	}
	if (rc != SQLITE_OK) {
		error = pv_error_set(PV_EUNAVAIL, NULL, "configuring the database: %s", errmsg ? errmsg : "?");
		sqlite3_free(errmsg);
		goto fail;
	}
	st->outbox = settings->outbox;
	if ((error = migrate(st)) < 0 ||
	    (error = pv_store__warn_init(st, settings->warn_leads, settings->warn_count)) < 0)
		goto fail;
	*out = st;
	return 0;
fail:
	pv_store_free(st);
	return error;
}

void pv_store_settings_init(struct pv_store_settings *out, const struct pv_config *cfg, const char *path)
{
	memset(out, 0, sizeof(*out));
	out->path = path;
	out->outbox = cfg->webhook_url && cfg->webhook_url[0] != '\0';
	out->warn_leads = cfg->warn_leads;
	out->warn_count = cfg->warn_count;
}

int pv_store_open_config(struct pv_store **out, const struct pv_config *cfg, const char *path)
{
	struct pv_store_settings settings;

	pv_store_settings_init(&settings, cfg, path);
	return pv_store_open(out, &settings);
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
	for (int i = 0; i < PV_STORE_LIST_VARIANTS; i++)
		sqlite3_finalize(st->lists[i]);
	sqlite3_close(st->db);
	free(st->warn_row_sql);
	free(st->warn_all_sql);
	free(st);
}

static void thread_store_free(void *p)
{
	pv_store_free(p);
}

int pv_store_threads_new(struct pv_store_threads **out, const struct pv_store_settings *settings)
{
	struct pv_store_threads *t = calloc(1, sizeof(*t));

	*out = NULL;
	if (!t)
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	t->settings = *settings;
	if (!(t->path = strdup(settings->path)) ||
	    (settings->warn_count && !(t->leads = calloc(settings->warn_count, sizeof(*t->leads))))) {
		free(t->path);
		free(t);
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	}
	if (settings->warn_count)
		memcpy(t->leads, settings->warn_leads, settings->warn_count * sizeof(*t->leads));
	t->settings.path = t->path;
	t->settings.warn_leads = t->leads;
	if (pthread_key_create(&t->key, thread_store_free) != 0) {
		free(t->leads);
		free(t->path);
		free(t);
		return pv_error_set(PV_ERROR, NULL, "no thread-specific key left");
	}
	*out = t;
	return 0;
}

void pv_store_threads_free(struct pv_store_threads *t)
{
	struct pv_store *st;

	if (!t)
		return;
	if ((st = pthread_getspecific(t->key)) != NULL) {
		pthread_setspecific(t->key, NULL);
		pv_store_free(st);
	}
	pthread_key_delete(t->key);
	free(t->leads);
	free(t->path);
	free(t);
}

int pv_store_threads_get(struct pv_store_threads *t, struct pv_store **out)
{
	struct pv_store *st;
	int error;

	if ((st = pthread_getspecific(t->key)) != NULL) {
		*out = st;
		return 0;
	}
	if ((error = pv_store_open(&st, &t->settings)) < 0)
		return error;
	pthread_setspecific(t->key, st);
	*out = st;
	return 0;
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
	else {
		pv_dbhealth_wrote();
		pv_store__events_committed(st);
	}
	return error;
}

void pv_store_rollback(struct pv_store *st)
{
	if (!sqlite3_get_autocommit(st->db))
		(void)exec_simple(st, S_ROLLBACK, "rolling back");
	st->events_added = 0;
}

void pv_env_dispose(struct pv_env *env)
{
	if (!env)
		return;
	free(env->values_json);
	free(env->requested_by);
	free(env->git_error);
	free(env->sleep_values_json);
	memset(env, 0, sizeof(*env));
}

int pv_env_list_add(const struct pv_env *env, void *payload)
{
	struct pv_env_list *l = payload;
	struct pv_env *dst;
	int error;

	if ((error = pv_array_reserve(&l->v, &l->cap, l->n + 1, sizeof(*l->v))) < 0)
		return error;
	dst = &l->v[l->n];
	*dst = *env;
	dst->values_json = strdup(env->values_json);
	dst->requested_by = strdup(env->requested_by);
	dst->git_error = env->git_error ? strdup(env->git_error) : NULL;
	dst->sleep_values_json = env->sleep_values_json ? strdup(env->sleep_values_json) : NULL;
	if (!dst->values_json || !dst->requested_by || (env->sleep_values_json && !dst->sleep_values_json) ||
	    (env->git_error && !dst->git_error)) {
		pv_env_dispose(dst);
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	}
	l->n++;
	return 0;
}

void pv_env_list_clear(struct pv_env_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		pv_env_dispose(&l->v[i]);
	l->n = 0;
}

void pv_env_list_dispose(struct pv_env_list *l)
{
	pv_env_list_clear(l);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

int pv_env_is_asleep(const struct pv_env *env)
{
	return env->sleep_values_json != NULL &&
	       (strcmp(env->status, PV_STATUS_PENDING) == 0 || strcmp(env->status, PV_STATUS_ACTIVE) == 0);
}

const char *pv_env_git_values(const struct pv_env *env)
{
	return env->sleep_values_json ? env->sleep_values_json : env->values_json;
}

int pv_env_is_live(const struct pv_env *env)
{
	return strcmp(env->status, PV_STATUS_PENDING) == 0 || strcmp(env->status, PV_STATUS_ACTIVE) == 0 ||
	       strcmp(env->status, PV_STATUS_DELETING) == 0;
}

int pv_store_ping(struct pv_store *st)
{
	sqlite3_stmt *s = NULL;
	int rc, error;

	if ((error = pv_store__prepare(st, S_PING, core_sql[S_PING], &s)) < 0)
		return error;
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_ROW)
		return pv_store__db_error(st, rc, "checking the database");
	return 0;
}

void pv_store__copy_text(char *dst, size_t len, sqlite3_stmt *s, int col)
{
	const unsigned char *t = sqlite3_column_text(s, col);

	snprintf(dst, len, "%s", t ? (const char *)t : "");
}

char *pv_store__dup_text(sqlite3_stmt *s, int col)
{
	const unsigned char *t = sqlite3_column_text(s, col);

	return t ? strdup((const char *)t) : NULL;
}

int pv_store__read_row(struct pv_env *out, sqlite3_stmt *s)
{
	memset(out, 0, sizeof(*out));
	out->id = sqlite3_column_int64(s, 0);
	pv_store__copy_text(out->name, sizeof(out->name), s, 1);
	pv_store__copy_text(out->owner, sizeof(out->owner), s, 2);
	pv_store__copy_text(out->status, sizeof(out->status), s, 3);
	pv_store__copy_text(out->base, sizeof(out->base), s, 4);
	out->values_json = pv_store__dup_text(s, 5);
	out->requested_by = pv_store__dup_text(s, 6);
	out->created_at = sqlite3_column_int64(s, 7);
	out->updated_at = sqlite3_column_int64(s, 8);
	out->expires_at = sqlite3_column_int64(s, 9);
	out->deleted_at = sqlite3_column_int64(s, 10);
	out->gen = sqlite3_column_int64(s, 11);
	out->pushed_gen = sqlite3_column_int64(s, 12);
	pv_store__copy_text(out->git_commit, sizeof(out->git_commit), s, 13);
	out->git_error = pv_store__dup_text(s, 14);
	out->pushed_at = sqlite3_column_int64(s, 15);
	pv_store__copy_text(out->argocd_sync, sizeof(out->argocd_sync), s, 16);
	pv_store__copy_text(out->argocd_health, sizeof(out->argocd_health), s, 17);
	out->argocd_checked_at = sqlite3_column_int64(s, 18);
	pv_store__copy_text(out->cluster, sizeof(out->cluster), s, 19);
	pv_store__copy_text(out->changed_by, sizeof(out->changed_by), s, 20);
	out->idle_ttl = sqlite3_column_int64(s, 21);
	out->sleep_values_json = pv_store__dup_text(s, 22);
	out->slept_at = sqlite3_column_int64(s, 23);
	out->sleep_ttl_left = sqlite3_column_int64(s, 24);
	pv_store__copy_text(out->schedule, sizeof(out->schedule), s, 25);
	out->sched_hold_until = sqlite3_column_int64(s, 26);
	out->active_at = sqlite3_column_int64(s, 27);
	pv_store__copy_text(out->sleep_by, sizeof(out->sleep_by), s, 28);
	if (!out->values_json || !out->requested_by || (sqlite3_column_type(s, 22) != SQLITE_NULL && !out->sleep_values_json)) {
		pv_env_dispose(out);
		return pv_error_set(PV_ERROR, NULL, "out of memory reading a row");
	}
	return 0;
}

int pv_store__walk(struct pv_store *st, sqlite3_stmt *s, pv_store_env_cb cb, void *payload)
{
	struct pv_env env;
	int rc, error = 0;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if ((error = pv_store__read_row(&env, s)) < 0)
			break;
		error = cb(&env, payload);
		pv_env_dispose(&env);
		if (error)
			break;
	}
	return pv_store__walk_end(st, s, rc, error, "listing environments");
}


int pv_store__walk_end(struct pv_store *st, sqlite3_stmt *s, int rc, int error, const char *what)
{
	sqlite3_reset(s);
	if (error)
		return error;
	return rc == SQLITE_DONE ? 0 : pv_store__db_error(st, rc, what);
}

int pv_store__step_done(struct pv_store *st, sqlite3_stmt *s, const char *what)
{
	int rc = sqlite3_step(s);

	sqlite3_reset(s);
	if (rc == SQLITE_CONSTRAINT)
		return pv_error_set(PV_ECONFLICT, NULL, "%s: already exists", what);
	if (rc != SQLITE_DONE)
		return pv_store__db_error(st, rc, what);
	if (sqlite3_get_autocommit(st->db))
		pv_dbhealth_wrote();  /* a write outside a transaction commits by itself */
	return 0;
}

int pv_store__min_of(struct pv_store *st, sqlite3_stmt *s, int64_t *inout)
{
	int rc = sqlite3_step(s);

	if (rc == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL) {
		int64_t v = sqlite3_column_int64(s, 0);
		if (*inout == 0 || v < *inout)
			*inout = v;
	}
	sqlite3_reset(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return pv_store__db_error(st, rc, "finding the next due time");
	return 0;
}

