/*
 * store_cost.c - the hours an environment slept, from its history (see
 * cost.h): the "slept" and "woke" events the sleep operations record; the
 * figures OpenCost gave (opencost.h); and the rule that picks what a day
 * of an environment costs.
 */
#include "store_int.h"

#include "config.h"
#include "cost.h"
#include "opencost.h"

static const char *const family_sql[S_COUNT] = {
	/* the last change before the window (the state it starts in) and every
	 * change inside it, in order; events_env keeps this to one row range */
	[S_COST_SLEEP] = "SELECT kind = 'slept', at FROM events WHERE env_id = ?1 AND kind IN ('slept','woke') "
			 "AND id >= coalesce((SELECT max(id) FROM events WHERE env_id = ?1 "
			 "AND kind IN ('slept','woke') AND at < ?2), 0) ORDER BY id",
	[S_OPENCOST_CLEAR] = "DELETE FROM opencost",
	[S_OPENCOST_PUT] = "INSERT INTO opencost (namespace, per_day, at) VALUES (?1, ?2, ?3)",
	[S_OPENCOST_GET] = "SELECT per_day FROM opencost WHERE namespace = ?1 AND at >= ?2",
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

int pv_store_opencost_replace(struct pv_store *st, const json_t *per, int64_t at)
{
	sqlite3_stmt *clear, *put;
	const char *ns;
	json_t *v;
	int error;

	if ((error = pv_store__prepare(st, S_OPENCOST_CLEAR, family_sql[S_OPENCOST_CLEAR], &clear)) < 0 ||
	    (error = pv_store__prepare(st, S_OPENCOST_PUT, family_sql[S_OPENCOST_PUT], &put)) < 0 ||
	    (error = pv_store_begin(st)) < 0)
		return error;
	if ((error = pv_store__step_done(st, clear, "clearing OpenCost's figures")) < 0)
		goto fail;
	json_object_foreach((json_t *)per, ns, v) {
		sqlite3_bind_text(put, 1, ns, -1, SQLITE_TRANSIENT);
		sqlite3_bind_double(put, 2, json_number_value(v));
		sqlite3_bind_int64(put, 3, at);
		if ((error = pv_store__step_done(st, put, "recording OpenCost's figures")) < 0)
			goto fail;
	}
	return pv_store_commit(st);
fail:
	pv_store_rollback(st);
	return error;
}

/* OpenCost's fresh figure for namespace ns: 1 with *out, 0 when none. */
static int opencost_of(struct pv_store *st, const char *ns, int64_t since, double *out)
{
	sqlite3_stmt *s;
	int rc, error;

	if ((error = pv_store__prepare(st, S_OPENCOST_GET, family_sql[S_OPENCOST_GET], &s)) < 0)
		return error;
	sqlite3_bind_text(s, 1, ns, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 2, since);
	if ((rc = sqlite3_step(s)) == SQLITE_ROW)
		*out = sqlite3_column_double(s, 0);
	sqlite3_reset(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return pv_store__db_error(st, rc, "reading OpenCost's figure");
	return rc == SQLITE_ROW;
}

int pv_store_cost(struct pv_store *st, const struct pv_config *cfg, const struct pv_env *env, int64_t now,
	double *per_day, const char **source)
{
	int found;

	/* the namespace is the environment's name (the ApplicationSet's rule) */
	if (PV_OPENCOST_ON(cfg)) {
		if ((found = opencost_of(st, env->name, now - PV_OPENCOST_STALE(cfg), per_day)) < 0)
			return found;
		if (found) {
			*source = PV_COST_SOURCE_OPENCOST;
			return 1;
		}
	}
	if (!cfg->cost || pv_cost_per_day_text(cfg->cost, env->values_json, per_day) < 0)
		return 0;
	*source = PV_COST_SOURCE_ESTIMATE;
	return 1;
}
