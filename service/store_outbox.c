/*
 * store_outbox.c - what previewd owes the outside: the notification outbox
 * (queued in the transaction of the event it tells about, delivered at
 * least once by notify.c) and the reaper's side of the environments -
 * expiries, warnings and when the next of them is due.
 */
#include "store_int.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const family_sql[S_COUNT] = {
	[S_OUTBOX_ADD] = "INSERT INTO outbox (event_id, kind, payload, created_at, next_attempt_at) VALUES (?1, ?2, ?3, ?4, ?4)",
	[S_OUTBOX_DUE] = "SELECT id, created_at, attempts, kind, payload FROM outbox WHERE delivered_at IS NULL "
			 "AND dead_at IS NULL AND next_attempt_at <= ?1 ORDER BY id LIMIT ?2",
	[S_OUTBOX_DONE] = "UPDATE outbox SET delivered_at = ?2, attempts = attempts + 1, last_error = NULL WHERE id = ?1",
	[S_OUTBOX_RETRY] = "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?2, last_error = ?3 WHERE id = ?1",
	[S_OUTBOX_DEAD] = "UPDATE outbox SET attempts = attempts + 1, dead_at = ?2, last_error = ?3 WHERE id = ?1",
	[S_OUTBOX_NEXT] = "SELECT min(next_attempt_at) FROM outbox WHERE delivered_at IS NULL AND dead_at IS NULL",
	/* the reaper's queries walk an index from the first due row: with the
	 * status index SQLite would prefer, each would visit every live row */
	[S_EXPIRED] = "SELECT " PV_STORE_ENV_COLS " FROM envs INDEXED BY envs_expiry WHERE status IN ('pending','active') "
		      "AND expires_at > 0 AND expires_at <= ?1 ORDER BY expires_at LIMIT ?2",
	[S_WARN_DUE] = "SELECT " PV_STORE_ENV_COLS " FROM envs INDEXED BY envs_next_warn WHERE next_warn_at IS NOT NULL "
		       "AND next_warn_at <= ?1 AND status IN ('pending','active') AND expires_at > ?1 "
		       "AND expires_at - next_warn_at = ?2 ORDER BY next_warn_at",
	[S_WARN_ADD] = "INSERT OR IGNORE INTO warnings (env_id, lead, expires_at, sent_at) VALUES (?1, ?2, ?3, ?4)",
	[S_NEXT_EXPIRY] = "SELECT expires_at FROM envs INDEXED BY envs_expiry WHERE status IN ('pending','active') "
			  "AND expires_at > 0 ORDER BY expires_at LIMIT 1",
	[S_NEXT_WARN] = "SELECT next_warn_at FROM envs INDEXED BY envs_next_warn WHERE next_warn_at IS NOT NULL "
			"AND status IN ('pending','active') ORDER BY next_warn_at LIMIT 1",
};

static int prepare(struct pv_store *st, enum stmt which, sqlite3_stmt **out)
{
	return pv_store__prepare(st, which, family_sql[which], out);
}

/*
 * When a live environment's next warning is due: the earliest of
 * expires_at - lead over the lead times whose warning is not yet sent for
 * this expiry and that were at least `lead` ahead when the expiry was set.
 * Built per connection from the lead times it was opened with.
 */
static const char warn_sql_fmt[] =
	"WITH leads(lead) AS (VALUES %s) UPDATE envs SET next_warn_at = "
	"CASE WHEN status IN ('pending','active') AND expires_at > 0 THEN "
	"(SELECT min(envs.expires_at - leads.lead) FROM leads WHERE envs.expires_at - leads.lead >= envs.updated_at "
	"AND NOT EXISTS (SELECT 1 FROM warnings w WHERE w.env_id = envs.id AND w.lead = leads.lead "
	"AND w.expires_at = envs.expires_at)) END WHERE %s";
static const char warn_row_none[] = "UPDATE envs SET next_warn_at = NULL WHERE id = ?1";
static const char warn_all_none[] = "UPDATE envs SET next_warn_at = NULL WHERE next_warn_at IS NOT NULL";

/* history kinds that are also notifications, and their notification name */
static const char *notification_kind(const char *kind)
{
	static const char *const kinds[] = { "created", "ready", "extended", "expiring", "deleted", "failed", "drift",
		"expiry_held", "slept", "woke" };

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

	/* asleep: a chat message about a sleeping environment offers Wake */
	o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:I, s:b, s:o}",
		"name", env->name, "owner", env->owner, "status", env->status, "base", env->base,
		"created_at", (json_int_t)env->created_at, "expires_at", (json_int_t)env->expires_at,
		"at", (json_int_t)at, "actor", actor, "env_id", (json_int_t)env->id,
		"asleep", pv_env_is_asleep(env), "detail", detail ? detail : json_null());
	if (!o)
		return NULL;
	s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	return s;
}

int pv_store__outbox_add(struct pv_store *st, int64_t event_id, const struct pv_env *env, const char *kind,
	const char *actor, int64_t at, const char *detail_json)
{
	sqlite3_stmt *s = NULL;
	const char *note;
	char *payload;
	int rc, error;

	if (!st->outbox || !(note = notification_kind(kind)))
		return 0;
	if (!(payload = outbox_payload(env, actor, at, detail_json)))
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	if ((error = prepare(st, S_OUTBOX_ADD, &s)) < 0) {
		free(payload);
		return error;
	}
	sqlite3_bind_int64(s, 1, event_id);
	sqlite3_bind_text(s, 2, note, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, payload, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 4, at);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	free(payload);
	if (rc != SQLITE_DONE)
		return pv_store__db_error(st, rc, "queueing a notification");
	return 0;
}

int pv_store__warn_init(struct pv_store *st, const long long *leads, size_t n)
{
	char list[512];
	size_t used = 0;

	if (n == 0)
		return (st->warn_row_sql = strdup(warn_row_none)) && (st->warn_all_sql = strdup(warn_all_none))
			? 0 : pv_error_set(PV_ERROR, NULL, "out of memory");
	for (size_t i = 0; i < n; i++) {
		int k = snprintf(list + used, sizeof(list) - used, "%s(%lld)", i ? "," : "", leads[i]);
		if (k < 0 || (size_t)k >= sizeof(list) - used)
			return pv_error_set(PV_EINVAL, NULL, "too many warning lead times");
		used += (size_t)k;
	}
	if (asprintf(&st->warn_row_sql, warn_sql_fmt, list, "id = ?1") < 0) {
		st->warn_row_sql = NULL;
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	}
	if (asprintf(&st->warn_all_sql, warn_sql_fmt, list, "status IN ('pending','active') OR next_warn_at IS NOT NULL") < 0) {
		st->warn_all_sql = NULL;
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	}
	return 0;
}

int pv_store_warn_refresh(struct pv_store *st)
{
	char *errmsg = NULL;

	if (sqlite3_exec(st->db, st->warn_all_sql, NULL, NULL, &errmsg) != SQLITE_OK) {
		int error = pv_error_set(PV_EUNAVAIL, NULL, "computing warning times: %s", errmsg ? errmsg : "?");
		sqlite3_free(errmsg);
		return error;
	}
	return 0;
}

/* recompute one environment's next_warn_at after a change to it */
int pv_store__warn_row(struct pv_store *st, int64_t id)
{
	sqlite3_stmt *s = NULL;
	int rc, error;

	if ((error = pv_store__prepare(st, S_WARN_ROW, st->warn_row_sql, &s)) < 0)
		return error;
	sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return pv_store__db_error(st, rc, "computing a warning time");
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
	return pv_store__walk(st, s, cb, payload);
}

int pv_store_warnings_due(struct pv_store *st, int64_t now, long long lead, pv_store_env_cb cb, void *payload)
{
	sqlite3_stmt *s = NULL;
	int error;

	if ((error = prepare(st, S_WARN_DUE, &s)) < 0)
		return error;
	sqlite3_bind_int64(s, 1, now);
	sqlite3_bind_int64(s, 2, lead);
	return pv_store__walk(st, s, cb, payload);
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
		return pv_store__db_error(st, rc, "recording a warning");
	return pv_store__warn_row(st, env_id);
}

int pv_store_next_due(struct pv_store *st, int64_t *out)
{
	sqlite3_stmt *s = NULL;
	int error;

	*out = 0;
	if ((error = prepare(st, S_NEXT_EXPIRY, &s)) < 0 || (error = pv_store__min_of(st, s, out)) < 0 ||
	    (error = prepare(st, S_NEXT_WARN, &s)) < 0 || (error = pv_store__min_of(st, s, out)) < 0)
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
		pv_store__copy_text(ob.kind, sizeof(ob.kind), s, 3);
		ob.payload = pv_store__dup_text(s, 4);
		error = ob.payload ? cb(&ob, payload) : pv_error_set(PV_ERROR, NULL, "out of memory");
		free(ob.payload);
		if (error)
			break;
	}
	return pv_store__walk_end(st, s, rc, error, "reading the outbox");
}

/* One outbox row's outcome: statement which on row id at time t, and the
 * receiver's answer msg as ?3 when with_msg (the statement takes one). */
static int outbox_mark(struct pv_store *st, enum stmt which, int64_t id, int64_t t, int with_msg, const char *msg,
	const char *what)
{
	sqlite3_stmt *s = NULL;
	int rc, error;

	if ((error = prepare(st, which, &s)) < 0)
		return error;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int64(s, 2, t);
	if (with_msg)
		sqlite3_bind_text(s, 3, msg, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : pv_store__db_error(st, rc, what);
}

int pv_store_outbox_delivered(struct pv_store *st, int64_t id, int64_t now)
{
	return outbox_mark(st, S_OUTBOX_DONE, id, now, 0, NULL, "recording a delivery");
}

int pv_store_outbox_retry(struct pv_store *st, int64_t id, int64_t next_at, const char *msg)
{
	return outbox_mark(st, S_OUTBOX_RETRY, id, next_at, 1, msg, "recording a failed delivery");
}

int pv_store_outbox_dead(struct pv_store *st, int64_t id, int64_t now, const char *msg)
{
	return outbox_mark(st, S_OUTBOX_DEAD, id, now, 1, msg, "recording a dead letter");
}

int pv_store_outbox_next(struct pv_store *st, int64_t *out)
{
	sqlite3_stmt *s = NULL;
	int error;

	*out = 0;
	if ((error = prepare(st, S_OUTBOX_NEXT, &s)) < 0)
		return error;
	return pv_store__min_of(st, s, out);
}

