/*
 * store_cost.c - the hours an environment slept, from its history (see
 * cost.h): the "slept" and "woke" events the sleep operations record.
 */
#include "store_int.h"

#include "cost.h"

static const char *const family_sql[S_COUNT] = {
	/* the last change before the window (the state it starts in) and every
	 * change inside it, in order; events_env keeps this to one row range */
	[S_COST_SLEEP] = "SELECT kind = 'slept', at FROM events WHERE env_id = ?1 AND kind IN ('slept','woke') "
			 "AND id >= coalesce((SELECT max(id) FROM events WHERE env_id = ?1 "
			 "AND kind IN ('slept','woke') AND at < ?2), 0) ORDER BY id",
};

int pv_store_asleep(struct pv_store *st, int64_t env_id, int64_t from, int64_t to, int64_t *out)
{
	struct pv_cost_sleep acc;
	sqlite3_stmt *s = NULL;
	int rc, error;

	*out = 0;
	if ((error = pv_store__prepare(st, S_COST_SLEEP, family_sql[S_COST_SLEEP], &s)) < 0)
		return error;
	sqlite3_bind_int64(s, 1, env_id);
	sqlite3_bind_int64(s, 2, from);
	pv_cost_sleep_init(&acc, from, to);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		pv_cost_sleep_change(&acc, sqlite3_column_int64(s, 1), sqlite3_column_int(s, 0));
	if ((error = pv_store__walk_end(st, s, rc, 0, "reading the sleep history")) < 0)
		return error;
	*out = pv_cost_sleep_end(&acc);
	return 0;
}
