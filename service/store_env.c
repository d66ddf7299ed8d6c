/*
 * store_env.c - the environments table and its history (events): rows in
 * and out, the list's keyset pages, the Git writer's queue and marks, the
 * quota counts (Argo CD's status is store_argocd.c's).
 */
#include "store_int.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const family_sql[S_COUNT] = {
	[S_GET_NAME] = "SELECT " PV_STORE_ENV_COLS " FROM envs WHERE name = ?1 "
		       "ORDER BY status IN ('pending','active','deleting') DESC, id DESC LIMIT 1",
	[S_GET_ID] = "SELECT " PV_STORE_ENV_COLS " FROM envs WHERE id = ?1",
	[S_INSERT] = "INSERT INTO envs (name, owner, status, base, values_json, requested_by, created_at, "
		     "updated_at, expires_at, cluster, changed_by, idle_ttl, schedule, sched_hold_until, active_at, gen, pushed_gen) "
		     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?6, ?11, ?12, ?13, ?14, 1, 0)",
	[S_SAVE] = "UPDATE envs SET values_json = ?2, expires_at = ?3, status = ?4, updated_at = ?5, "
		   "deleted_at = ?6, changed_by = coalesce(?7, changed_by), cluster = ?8, idle_ttl = ?9, "
		   "sleep_values_json = ?10, slept_at = ?11, sleep_ttl_left = ?12, schedule = ?13, sched_hold_until = ?14, "
		   /* the sleeper records activity beside this row's writers */
		   "active_at = max(coalesce(active_at, 0), coalesce(?15, 0)), sleep_by = ?16, "
		   "gen = gen + 1 WHERE id = ?1 RETURNING gen",
	[S_EVENT] = "INSERT INTO events (env_id, name, kind, actor, at, detail, remote_addr) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[S_EVENTS] = "SELECT id, env_id, name, kind, actor, at, detail, remote_addr FROM events WHERE name = ?1 ORDER BY id",
	[S_DIRTY] = "SELECT " PV_STORE_ENV_COLS " FROM envs WHERE gen > pushed_gen ORDER BY id LIMIT ?1",
	[S_PUSHED] = "UPDATE envs SET pushed_gen = max(pushed_gen, ?2), git_commit = ?3, pushed_at = ?4, "
		     "git_error = NULL, "
		     "status = CASE WHEN status = 'pending' THEN 'active' "
		     "WHEN status = 'deleting' AND gen = ?2 THEN 'deleted' ELSE status END, "
		     "deleted_at = CASE WHEN status = 'deleting' AND gen = ?2 THEN ?4 ELSE deleted_at END "
		     "WHERE id = ?1",
	[S_FAILED] = "UPDATE envs SET pushed_gen = max(pushed_gen, ?2), status = 'failed', git_error = ?3, "
		     "updated_at = ?4, next_warn_at = NULL WHERE id = ?1",
	[S_DIRTY_ERROR] = "UPDATE envs SET git_error = ?1 WHERE gen > pushed_gen",
	/* the rows a push error is news to: a retry that fails alike is not */
	[S_DIRTY_ERROR_NEW] = "SELECT " PV_STORE_ENV_COLS " FROM envs WHERE gen > pushed_gen AND git_error IS NOT ?1 "
			      "ORDER BY id LIMIT ?2",
	[S_COUNT_STATUS] = "SELECT status, count(*) FROM envs GROUP BY status",
	[S_COUNT_LIVE_OWNER] = "SELECT count(*) FROM envs WHERE owner = ?1 AND status IN ('pending','active','deleting')",
	[S_COUNT_LIVE] = "SELECT count(*) FROM envs WHERE status IN ('pending','active','deleting')",
	[S_DRIFT_ROWS] = "SELECT id, name, gen, pushed_gen, pushed_values_oid, pushed_meta_oid, git_commit FROM envs "
			 "WHERE status = 'active' AND pushed_gen > 0 ORDER BY id",
	[S_SET_BLOBS] = "UPDATE envs SET pushed_values_oid = ?2, pushed_meta_oid = ?3 WHERE id = ?1",
	/* a row already dirty is rewritten by the next round anyway */
	[S_DRIFT_RESTORE] = "UPDATE envs SET gen = gen + 1 WHERE id = ?1 AND gen = pushed_gen",
	[S_DRIFT_DELETED] = "UPDATE envs SET status = 'deleted', deleted_at = ?2, updated_at = ?2, git_commit = ?3, "
			    "git_error = NULL, changed_by = 'git', next_warn_at = NULL WHERE id = ?1 AND gen = pushed_gen",
	/* an edit of a sleeping folder edits the sleeping values: the awake ones
	 * are never re-derived from Git */
	[S_DRIFT_ADOPT] = "UPDATE envs SET values_json = CASE WHEN sleep_values_json IS NULL THEN ?2 ELSE values_json END, "
			  "sleep_values_json = CASE WHEN sleep_values_json IS NULL THEN NULL ELSE ?2 END, updated_at = ?3, git_commit = ?4, pushed_values_oid = ?5, "
			  "changed_by = 'git' WHERE id = ?1 AND gen = pushed_gen",
	[S_SET_COMMIT] = "UPDATE envs SET git_commit = ?2 WHERE id = ?1",
};

static int prepare(struct pv_store *st, enum stmt which, sqlite3_stmt **out)
{
	return pv_store__prepare(st, which, family_sql[which], out);
}

static int get_one(struct pv_store *st, sqlite3_stmt *s, struct pv_env *out, const char *what)
{
	int rc = sqlite3_step(s), error;

	if (rc == SQLITE_ROW) {
		error = pv_store__read_row(out, s);
		sqlite3_reset(s);
		return error;
	}
	sqlite3_reset(s);
	if (rc == SQLITE_DONE)
		return pv_error_set(PV_ENOTFOUND, NULL, "%s not found", what);
	return pv_store__db_error(st, rc, "reading an environment");
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
	sqlite3_bind_int64(s, 11, env->idle_ttl);
	if (env->schedule[0])
		sqlite3_bind_text(s, 12, env->schedule, -1, SQLITE_STATIC);
	if (env->sched_hold_until)
		sqlite3_bind_int64(s, 13, env->sched_hold_until);
	if (env->active_at)
		sqlite3_bind_int64(s, 14, env->active_at);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc == SQLITE_CONSTRAINT)
		return pv_error_set(PV_ECONFLICT, "name", "an environment named '%s' already exists", env->name);
	if (rc != SQLITE_DONE)
		return pv_store__db_error(st, rc, "inserting an environment");
	env->id = sqlite3_last_insert_rowid(st->db);
	env->gen = 1;
	env->pushed_gen = 0;
	return pv_store__warn_row(st, env->id);
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
	sqlite3_bind_text(s, 8, env->cluster, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 9, env->idle_ttl);
	if (env->sleep_values_json) {
		sqlite3_bind_text(s, 10, env->sleep_values_json, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 11, env->slept_at);
		if (env->sleep_ttl_left > 0)
			sqlite3_bind_int64(s, 12, env->sleep_ttl_left);
	}
	if (env->schedule[0])
		sqlite3_bind_text(s, 13, env->schedule, -1, SQLITE_STATIC);
	if (env->sched_hold_until)
		sqlite3_bind_int64(s, 14, env->sched_hold_until);
	if (env->active_at)
		sqlite3_bind_int64(s, 15, env->active_at);
	if (env->sleep_values_json && env->sleep_by[0])
		sqlite3_bind_text(s, 16, env->sleep_by, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		env->gen = sqlite3_column_int64(s, 0);
		rc = sqlite3_step(s);
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return pv_store__db_error(st, rc, "saving an environment");
	return pv_store__warn_row(st, env->id);
}

int pv_store_event_add(struct pv_store *st, const struct pv_env *env, const char *kind,
	const char *actor, const char *from, int64_t at, const char *detail_json)
{
	sqlite3_stmt *s = NULL;
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
		return pv_store__db_error(st, rc, "recording an event");
	st->events_added = 1;
	if (sqlite3_get_autocommit(st->db)) /* no transaction: it is committed */
		pv_store__events_committed(st);
	return pv_store__outbox_add(st, sqlite3_last_insert_rowid(st->db), env, kind, actor, at, detail_json);
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
		pv_store__copy_text(ev.name, sizeof(ev.name), s, 2);
		pv_store__copy_text(ev.kind, sizeof(ev.kind), s, 3);
		ev.actor = pv_store__dup_text(s, 4);
		ev.at = sqlite3_column_int64(s, 5);
		ev.detail_json = pv_store__dup_text(s, 6);
		pv_store__copy_text(ev.from, sizeof(ev.from), s, 7);
		error = ev.actor ? cb(&ev, payload) : pv_error_set(PV_ERROR, NULL, "out of memory");
		free(ev.actor);
		free(ev.detail_json);
		if (error)
			break;
	}
	return pv_store__walk_end(st, s, rc, error, "reading the history");
}

/* The status the API shows (env.h): "sleeping" for a pending or active row
 * that is asleep, which then is neither pending nor active to a filter. */
#define STATUS_SHOWN " AND ((?2 = 'sleeping' AND status IN ('pending','active') AND sleep_values_json IS NOT NULL) " \
	"OR (status = ?2 AND (sleep_values_json IS NULL OR status NOT IN ('pending','active'))))"

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
		n = snprintf(sql, sizeof(sql), "SELECT " PV_STORE_ENV_COLS " FROM envs WHERE 1%s%s", f->owner ? " AND owner = ?1" : "",
			f->status ? STATUS_SHOWN : "");
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
			return pv_store__db_error(st, rc, "preparing a list");
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
	return pv_store__walk(st, s, cb, payload);
}

int pv_store_dirty(struct pv_store *st, int limit, pv_store_env_cb cb, void *payload)
{
	sqlite3_stmt *s = NULL;
	int error;

	if ((error = prepare(st, S_DIRTY, &s)) < 0)
		return error;
	sqlite3_bind_int(s, 1, limit);
	return pv_store__walk(st, s, cb, payload);
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
		return pv_store__db_error(st, rc, "recording a push");
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
		return pv_store__db_error(st, rc, "recording a failure");
	return 0;
}

int pv_store_set_dirty_error(struct pv_store *st, const char *msg, int64_t now, int limit)
{
	struct pv_env_list rows = PV_ENV_LIST_INIT;
	sqlite3_stmt *s = NULL;
	json_t *detail = NULL;
	char *d = NULL;
	int rc, error;

	if ((error = pv_store_begin(st)) < 0)
		return error;
	if (msg) {
		if ((error = prepare(st, S_DIRTY_ERROR_NEW, &s)) < 0)
			goto out;
		sqlite3_bind_text(s, 1, msg, -1, SQLITE_STATIC);
		sqlite3_bind_int(s, 2, limit);
		if ((error = pv_store__walk(st, s, pv_env_list_add, &rows)) < 0)
			goto out;
		if (rows.n && (!(detail = json_pack("{s:s}", "error", msg)) ||
				      !(d = json_dumps(detail, JSON_COMPACT)))) {
			error = pv_error_set(PV_ERROR, NULL, "out of memory");
			goto out;
		}
		for (size_t i = 0; i < rows.n && error == 0; i++)
			error = pv_store_event_add(st, &rows.v[i], "git_error", "previewd", NULL, now, d);
		if (error < 0)
			goto out;
	}
	if ((error = prepare(st, S_DIRTY_ERROR, &s)) < 0)
		goto out;
	if (msg)
		sqlite3_bind_text(s, 1, msg, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		error = pv_store__db_error(st, rc, "recording a push error");
	else
		error = pv_store_commit(st);
out:
	if (error < 0)
		pv_store_rollback(st);
	free(d);
	json_decref(detail);
	pv_env_list_dispose(&rows);
	return error;
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
		return pv_store__db_error(st, rc, "counting environments");
	return 0;
}

int pv_store_count_live(struct pv_store *st, const char *owner, long long *of_owner, long long *total)
{
	sqlite3_stmt *s = NULL;
	int64_t n = 0;
	int error;

	if ((error = prepare(st, S_COUNT_LIVE_OWNER, &s)) < 0)
		return error;
	sqlite3_bind_text(s, 1, owner, -1, SQLITE_STATIC);
	if ((error = pv_store__min_of(st, s, &n)) < 0)
		return error;
	*of_owner = n;
	n = 0;
	if ((error = prepare(st, S_COUNT_LIVE, &s)) < 0 || (error = pv_store__min_of(st, s, &n)) < 0)
		return error;
	*total = n;
	return 0;
}

/* ---- drift ---- */

int pv_store_drift_rows(struct pv_store *st, pv_store_pushed_cb cb, void *payload)
{
	sqlite3_stmt *s = NULL;
	struct pv_env_pushed row;
	int rc, error;

	if ((error = prepare(st, S_DRIFT_ROWS, &s)) < 0)
		return error;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		memset(&row, 0, sizeof(row));
		row.id = sqlite3_column_int64(s, 0);
		pv_store__copy_text(row.name, sizeof(row.name), s, 1);
		row.gen = sqlite3_column_int64(s, 2);
		row.pushed_gen = sqlite3_column_int64(s, 3);
		pv_store__copy_text(row.values_oid, sizeof(row.values_oid), s, 4);
		pv_store__copy_text(row.meta_oid, sizeof(row.meta_oid), s, 5);
		pv_store__copy_text(row.git_commit, sizeof(row.git_commit), s, 6);
		if ((error = cb(&row, payload)) != 0)
			break;
	}
	return pv_store__walk_end(st, s, rc, error, "reading the pushed environments");
}

/* Run statement which with id bound to ?1 and texts from ?2 on, a NULL
 * text standing for the time at; *changed: whether it changed a row. */
static int run_update(struct pv_store *st, enum stmt which, int64_t id, const char *const *texts, size_t n_texts,
	int64_t at, int *changed, const char *what)
{
	sqlite3_stmt *s = NULL;
	int rc, error;

	if ((error = prepare(st, which, &s)) < 0)
		return error;
	sqlite3_bind_int64(s, 1, id);
	for (size_t i = 0; i < n_texts; i++) {
		if (texts[i] == NULL)
			sqlite3_bind_int64(s, (int)i + 2, at);
		else
			sqlite3_bind_text(s, (int)i + 2, texts[i], -1, SQLITE_STATIC);
	}
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return pv_store__db_error(st, rc, what);
	if (changed)
		*changed = sqlite3_changes(st->db) > 0;
	return 0;
}

int pv_store_set_blobs(struct pv_store *st, int64_t id, const char *values_oid, const char *meta_oid)
{
	const char *texts[2] = { values_oid, meta_oid };

	return run_update(st, S_SET_BLOBS, id, texts, 2, 0, NULL, "recording pushed blobs");
}

int pv_store_drift_restore(struct pv_store *st, int64_t id, int *changed)
{
	return run_update(st, S_DRIFT_RESTORE, id, NULL, 0, 0, changed, "marking a drifted environment");
}

int pv_store_drift_deleted(struct pv_store *st, int64_t id, const char *commit, int64_t now, int *changed)
{
	const char *texts[2] = { NULL, commit };

	return run_update(st, S_DRIFT_DELETED, id, texts, 2, now, changed, "accepting a deletion");
}

int pv_store_drift_adopt(struct pv_store *st, int64_t id, const char *values_json, const char *commit,
	const char *values_oid, int64_t now, int *changed)
{
	const char *texts[4] = { values_json, NULL, commit, values_oid };

	return run_update(st, S_DRIFT_ADOPT, id, texts, 4, now, changed, "accepting edited values");
}

int pv_store_set_commit(struct pv_store *st, int64_t id, const char *commit)
{
	const char *texts[1] = { commit };

	return run_update(st, S_SET_COMMIT, id, texts, 1, 0, NULL, "recording a commit");
}
