/*
 * store_sleep.c - the sleeper's reads and its one write that is not an
 * environment change (see sleeper.h, schema/016_schedule.sql).
 */
#include "store_int.h"

static const char *const family_sql[S_COUNT] = {
	[S_SLEEP_LIVE] = "SELECT " PV_STORE_ENV_COLS " FROM envs WHERE status IN ('pending','active') ORDER BY id",
	/* activity moves the idle clock, never Git: gen stays */
	[S_SLEEP_TOUCH] = "UPDATE envs SET active_at = ?2 WHERE name = ?1 AND status IN ('pending','active') "
			  "AND coalesce(active_at, 0) < ?2",
	[S_SLEEP_HOLD] = "UPDATE envs SET sched_hold_until = ?2, active_at = max(coalesce(active_at, 0), ?3) WHERE id = ?1",
};

static int prepare(struct pv_store *st, enum stmt which, sqlite3_stmt **out)
{
	return pv_store__prepare(st, which, family_sql[which], out);
}

int pv_store_sleep_live(struct pv_store *st, pv_store_env_cb cb, void *payload)
{
	sqlite3_stmt *s = NULL;
	int error;

	if ((error = prepare(st, S_SLEEP_LIVE, &s)) < 0)
		return error;
	return pv_store__walk(st, s, cb, payload);
}

int pv_store_sleep_touch(struct pv_store *st, const char *name, int64_t at)
{
	sqlite3_stmt *s = NULL;
	int error;

	if ((error = prepare(st, S_SLEEP_TOUCH, &s)) < 0)
		return error;
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, at);
	return pv_store__step_done(st, s, "recording activity");
}

int pv_store_sleep_hold(struct pv_store *st, int64_t id, int64_t hold_until, int64_t active_at)
{
	sqlite3_stmt *s = NULL;
	int error;

	if ((error = prepare(st, S_SLEEP_HOLD, &s)) < 0)
		return error;
	sqlite3_bind_int64(s, 1, id);
	if (hold_until)
		sqlite3_bind_int64(s, 2, hold_until);
	sqlite3_bind_int64(s, 3, active_at);
	return pv_store__step_done(st, s, "holding the schedule");
}
