/*
 * store_reaper.c - the reaper's view of expiries and its holds (see
 * schema/012_reaper_hold.sql and reaper.h).
 *
 * An expiry is held while a reaper_holds row names the environment with its
 * current expires_at and no release: the reaper's queries leave such rows
 * out, so a held set neither blocks the expiries behind it nor wakes the
 * reaper every second.
 */
#include "store_int.h"

#include <stdio.h>
#include <string.h>

/* the hold row of envs' current expiry, with or without a release */
#define HOLD_OF_ROW "SELECT 1 FROM reaper_holds h WHERE h.env_id = envs.id AND h.expires_at = envs.expires_at AND "

static const char *const family_sql[S_COUNT] = {
	[S_REAP_DUE] = "SELECT " PV_STORE_ENV_COLS ", EXISTS (" HOLD_OF_ROW "h.released_at IS NOT NULL) "
		       "FROM envs INDEXED BY envs_expiry WHERE status IN ('pending','active') "
		       "AND expires_at > 0 AND expires_at <= ?1 AND NOT EXISTS (" HOLD_OF_ROW "h.released_at IS NULL) "
		       "ORDER BY expires_at LIMIT ?2",
	[S_REAP_HOLD] = "INSERT OR REPLACE INTO reaper_holds (env_id, expires_at, held_at) VALUES (?1, ?2, ?3)",
	[S_REAP_HELD] = "SELECT count(*) FROM reaper_holds h JOIN envs e ON e.id = h.env_id WHERE h.released_at IS NULL "
			"AND e.expires_at = h.expires_at AND e.status IN ('pending','active')",
	[S_REAP_RELEASE] = "UPDATE reaper_holds SET released_at = ?1, released_by = ?2 WHERE released_at IS NULL "
			   "AND EXISTS (SELECT 1 FROM envs e WHERE e.id = reaper_holds.env_id "
			   "AND e.expires_at = reaper_holds.expires_at AND e.status IN ('pending','active'))",
	[S_REAP_NEXT_EXPIRY] = "SELECT expires_at FROM envs INDEXED BY envs_expiry WHERE status IN ('pending','active') "
			       "AND expires_at > 0 AND NOT EXISTS (" HOLD_OF_ROW "h.released_at IS NULL) "
			       "ORDER BY expires_at LIMIT 1",
	/* a warning whose expiry has passed is never sent: it is not due */
	[S_REAP_NEXT_WARN] = "SELECT next_warn_at FROM envs INDEXED BY envs_next_warn WHERE next_warn_at IS NOT NULL "
			     "AND status IN ('pending','active') AND expires_at > ?1 ORDER BY next_warn_at LIMIT 1",
};

static int prepare(struct pv_store *st, enum stmt which, sqlite3_stmt **out)
{
	return pv_store__prepare(st, which, family_sql[which], out);
}

int pv_store_reap_due(struct pv_store *st, int64_t now, int limit, pv_store_reap_cb cb, void *payload)
{
	sqlite3_stmt *s = NULL;
	struct pv_env env;
	int rc, error = 0;

	if ((error = prepare(st, S_REAP_DUE, &s)) < 0)
		return error;
	sqlite3_bind_int64(s, 1, now);
	sqlite3_bind_int(s, 2, limit);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if ((error = pv_store__read_row(&env, s)) < 0)
			break;
		error = cb(&env, sqlite3_column_int(s, PV_STORE_ENV_NCOLS), payload);
		pv_env_dispose(&env);
		if (error)
			break;
	}
	return pv_store__walk_end(st, s, rc, error, "listing due expiries");
}

int pv_store_reap_hold(struct pv_store *st, int64_t env_id, int64_t expires_at, int64_t now)
{
	sqlite3_stmt *s = NULL;
	int error;

	if ((error = prepare(st, S_REAP_HOLD, &s)) < 0)
		return error;
	sqlite3_bind_int64(s, 1, env_id);
	sqlite3_bind_int64(s, 2, expires_at);
	sqlite3_bind_int64(s, 3, now);
	return pv_store__step_done(st, s, "holding an expiry");
}

int pv_store_reap_held(struct pv_store *st, long long *out)
{
	sqlite3_stmt *s = NULL;
	int rc, error;

	*out = 0;
	if ((error = prepare(st, S_REAP_HELD, &s)) < 0)
		return error;
	if ((rc = sqlite3_step(s)) == SQLITE_ROW)
		*out = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	return rc == SQLITE_ROW ? 0 : pv_store__db_error(st, rc, "counting held expiries");
}

int pv_store_reap_release(struct pv_store *st, const char *actor, int64_t now, long long *released)
{
	sqlite3_stmt *s = NULL;
	int error;

	*released = 0;
	if ((error = prepare(st, S_REAP_RELEASE, &s)) < 0)
		return error;
	sqlite3_bind_int64(s, 1, now);
	sqlite3_bind_text(s, 2, actor, -1, SQLITE_STATIC);
	if ((error = pv_store__step_done(st, s, "releasing held expiries")) < 0)
		return error;
	*released = sqlite3_changes(st->db);
	return 0;
}

int pv_store_reap_next(struct pv_store *st, int64_t now, int64_t *out)
{
	sqlite3_stmt *s = NULL;
	int error;

	*out = 0;
	if ((error = prepare(st, S_REAP_NEXT_EXPIRY, &s)) < 0 || (error = pv_store__min_of(st, s, out)) < 0 ||
	    (error = prepare(st, S_REAP_NEXT_WARN, &s)) < 0)
		return error;
	sqlite3_bind_int64(s, 1, now);
	return pv_store__min_of(st, s, out);
}
