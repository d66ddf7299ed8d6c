/*
 * reaper.c - expiry and warnings (see reaper.h).
 */
#include "reaper.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "array.h"
#include "cost.h"
#include "log.h"
#include "store.h"
#include "worker.h"

#define REAP_BATCH 5000         /* rows per transaction; more go in the next pass at once */
#define MAX_SLEEP_SECONDS 3600  /* re-check now and then even when nothing is due */

#define HELD_POLL_SECONDS 5    /* while a hold is on: how soon a release by `previewd reaper release` is seen */
#define HOLD_NAMES_MAX 50       /* names an expiry_held notification lists */

struct pv_reaper {
	const struct pv_config *cfg;
	struct pv_store *store;
	void (*changed)(void *ctx);
	void *ctx;
	struct pv_worker worker;
	pthread_mutex_t lock;  /* the counters */
	/* counters, under lock */
	unsigned long long expired, warnings, passes, holds;
	long long held;        /* expiries held after the last pass */
};

size_t pv_reaper_decide(const struct pv_reap_item *items, size_t n, int64_t now, long long hold_max,
	long long hold_after, long long held, unsigned char *hold)
{
	size_t overdue = 0;

	for (size_t i = 0; i < n; i++) {
		hold[i] = !items[i].released && items[i].expires_at < now - hold_after;
		overdue += hold[i];
	}
	if (hold_max > 0 && overdue > 0 && (held > 0 || overdue > (size_t)hold_max))
		return overdue;
	if (n) /* hold may be NULL when nothing is due */
		memset(hold, 0, n);
	return 0;
}

/* The due rows of a pass and, for each, whether its hold was released. */
struct due {
	struct pv_env_list envs;
	struct pv_reap_item *items;
	size_t cap;
};

static int due_add(const struct pv_env *env, int released, void *payload)
{
	struct due *d = payload;
	int error;

	if ((error = pv_array_reserve(&d->items, &d->cap, d->envs.n + 1, sizeof(*d->items))) < 0 ||
	    (error = pv_env_list_add(env, &d->envs)) < 0)
		return error;
	d->items[d->envs.n - 1] = (struct pv_reap_item){ env->expires_at, released };
	return 0;
}

/* The detail of the hold's history row and notification: how many, which,
 * and the settings that decided. */
static char *hold_detail(const struct pv_reaper *r, const struct due *d, const unsigned char *hold, size_t count)
{
	json_t *names = json_array(), *o;
	char *s;

	for (size_t i = 0; names && i < d->envs.n && json_array_size(names) < HOLD_NAMES_MAX; i++)
		if (hold[i])
			json_array_append_new(names, json_string(d->envs.v[i].name));
	o = json_pack("{s:I, s:o, s:I, s:I}", "count", (json_int_t)count, "names", names ? names : json_null(),
		"hold", (json_int_t)r->cfg->reap_hold, "hold_after_seconds", (json_int_t)r->cfg->reap_hold_after);
	if (!o)
		return NULL;
	s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	return s;
}

/* Hold the chosen rows' expiries; a new hold (none was on) is told once. */
static int hold_rows(struct pv_reaper *r, struct due *d, const unsigned char *hold, size_t count, long long held,
	int64_t now)
{
	char detail[128], *set = NULL;
	const struct pv_env *first = NULL;
	int error;

	for (size_t i = 0; i < d->envs.n; i++) {
		struct pv_env *e = &d->envs.v[i];
		if (!hold[i])
			continue;
		first = first ? first : e;
		snprintf(detail, sizeof(detail), "{\"expires_at\":%lld,\"overdue_seconds\":%lld}", (long long)e->expires_at,
			(long long)(now - e->expires_at));
		if ((error = pv_store_reap_hold(r->store, e->id, e->expires_at, now)) < 0 ||
		    (error = pv_store_event_add(r->store, e, "held", "reaper", NULL, now, detail)) < 0)
			return error;
	}
	if (held > 0 || !first)
		return 0;
	if (!(set = hold_detail(r, d, hold, count)))
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	/* the notification hangs off a history row like every other: the first
	 * held environment's expiry_held, whose detail names the set */
	error = pv_store_event_add(r->store, first, "expiry_held", "reaper", NULL, now, set);
	free(set);
	return error;
}

/* One pass: expire what is due (holding what the guard holds), queue due
 * warnings.  *more is set when a full batch was expired and another pass
 * should follow at once. */
static int reap_once(struct pv_reaper *r, int64_t now, size_t *changed, int *more)
{
	struct due d = { PV_ENV_LIST_INIT, NULL, 0 };
	struct pv_env_list b = PV_ENV_LIST_INIT;
	unsigned char *hold = NULL;
	char detail[192];
	size_t expired_n = 0, held_n = 0;
	long long held = 0, after = 0;
	int error;

	*changed = 0;
	*more = 0;
	if ((error = pv_store_begin(r->store)) < 0)
		return error;
	if ((error = pv_store_reap_due(r->store, now, REAP_BATCH, due_add, &d)) < 0 ||
	    (error = pv_store_reap_held(r->store, &held)) < 0)
		goto fail;
	if (d.envs.n && !(hold = calloc(d.envs.n, 1))) {
		error = pv_error_set(PV_ERROR, NULL, "out of memory");
		goto fail;
	}
	held_n = pv_reaper_decide(d.items, d.envs.n, now, r->cfg->reap_hold, r->cfg->reap_hold_after, held, hold);
	if (held_n && (error = hold_rows(r, &d, hold, held_n, held, now)) < 0)
		goto fail;
	for (size_t i = 0; i < d.envs.n; i++) {
		struct pv_env *e = &d.envs.v[i];
		if (hold[i])
			continue;
		snprintf(detail, sizeof(detail), "{\"expires_at\":%lld%s}", (long long)e->expires_at,
			d.items[i].released ? ",\"released\":true" : "");
		snprintf(e->status, sizeof(e->status), "%s", PV_STATUS_DELETING);
		e->updated_at = now;
		snprintf(e->changed_by, sizeof(e->changed_by), "reaper (expired)");
		if ((error = pv_store_env_save(r->store, e)) < 0 ||
		    (error = pv_store_event_add(r->store, e, "expired", "reaper", NULL, now, detail)) < 0)
			goto fail;
		expired_n++;
	}
	*changed += d.envs.n;
	*more = d.envs.n == REAP_BATCH;
	if (expired_n)
		log_info("reaper: %zu environment(s) expired", expired_n);
	if (held_n)
		log_warn("reaper: %zu environment(s) overdue by more than %llds held, %lld held before: "
			 "release with POST /v1/admin/reaper/release or `previewd reaper release`",
			held_n, r->cfg->reap_hold_after, held);
	for (size_t l = 0; l < r->cfg->warn_count; l++) {
		long long lead = r->cfg->warn_leads[l];
		if ((error = pv_store_warnings_due(r->store, now, lead, pv_env_list_add, &b)) < 0)
			goto fail;
		for (size_t i = 0; i < b.n; i++) {
			struct pv_env *e = &b.v[i];
			const char *source;
			double per_day;
			/* the warning says what keeping it costs (cost.h, pv_store_cost) */
			if (pv_store_cost(r->store, r->cfg, e, now, &per_day, &source) > 0)
				snprintf(detail, sizeof(detail), "{\"lead_seconds\":%lld,\"expires_at\":%lld,\"seconds_left\":%lld,"
					"\"cost_per_day\":%.4f}", lead, (long long)e->expires_at, (long long)(e->expires_at - now), per_day);
			else
				snprintf(detail, sizeof(detail), "{\"lead_seconds\":%lld,\"expires_at\":%lld,\"seconds_left\":%lld}",
					lead, (long long)e->expires_at, (long long)(e->expires_at - now));
			if ((error = pv_store_warning_add(r->store, e->id, lead, e->expires_at, now)) < 0 ||
			    (error = pv_store_event_add(r->store, e, "expiring", "reaper", NULL, now, detail)) < 0)
				goto fail;
		}
		*changed += b.n;
		pv_env_list_clear(&b);
	}
	if ((error = pv_store_reap_held(r->store, &after)) < 0)
		goto fail;
	pv_env_list_dispose(&b);
	pv_env_list_dispose(&d.envs);
	free(d.items);
	free(hold);
	if ((error = pv_store_commit(r->store)) < 0)
		return error;
	pthread_mutex_lock(&r->lock);
	r->passes++;
	r->expired += (unsigned long long)expired_n;
	r->warnings += (unsigned long long)(*changed - d.envs.n);
	r->holds += held_n && held == 0;
	r->held = after;
	pthread_mutex_unlock(&r->lock);
	return 0;
fail:
	pv_env_list_dispose(&b);
	pv_env_list_dispose(&d.envs);
	free(d.items);
	free(hold);
	pv_store_rollback(r->store);
	return error;
}

/* Expiries are wall-clock times: each pass reads time(NULL) afresh and the
 * wait until the next one is a delay on the worker's monotonic clock, so a
 * step of the wall clock costs at most one early or late pass. */
static void reaper_run(struct pv_worker *w, void *arg)
{
	struct pv_reaper *r = arg;
	unsigned int failures = 0;

	while (!pv_worker_stopping(w)) {
		int64_t now = (int64_t)time(NULL), next = 0;
		size_t changed = 0;
		int more = 0;

		if (reap_once(r, now, &changed, &more) < 0 ||
		    pv_store_reap_next(r->store, now, &next) < 0) {
			log_warn("reaper: %s", pv_error_last()->message);
			failures++;
			next = now + (failures < 5 ? 1 : 10);
		} else {
			failures = 0;
		}
		if (changed && r->changed)
			r->changed(r->ctx);
		if (more)
			continue;
		if (next == 0 || next > now + MAX_SLEEP_SECONDS)
			next = now + MAX_SLEEP_SECONDS;
		if (pv_reaper_held(r) > 0 && next > now + HELD_POLL_SECONDS)
			next = now + HELD_POLL_SECONDS;
		if (next <= now)
			next = now + 1; /* due but not yet reapable this second (clock skew): next second */
		/* due times are whole seconds: wake on the second they fall due */
		pv_worker_wait(w, pv_worker_ms_until(next));
	}
}

int pv_reaper_start(struct pv_reaper **out, const struct pv_config *cfg, const char *db_path,
	void (*changed)(void *ctx), void *ctx)
{
	struct pv_reaper *r;
	int error;

	*out = NULL;
	if (!(r = calloc(1, sizeof(*r))))
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	r->cfg = cfg;
	r->changed = changed;
	r->ctx = ctx;
	pthread_mutex_init(&r->lock, NULL);
	if ((error = pv_store_open_config(&r->store, cfg, db_path)) < 0 || (error = pv_store_relax(r->store)) < 0 ||
	    (error = pv_worker_start(&r->worker, "pv-reaper", reaper_run, r)) < 0)
		goto fail;
	*out = r;
	return 0;
fail:
	pv_reaper_free(r);
	return error;
}

int pv_reaper_metrics(struct pv_reaper *r, struct pv_strbuf *out)
{
	unsigned long long expired, warnings, passes, holds;
	long long held;

	pthread_mutex_lock(&r->lock);
	expired = r->expired;
	warnings = r->warnings;
	passes = r->passes;
	holds = r->holds;
	held = r->held;
	pthread_mutex_unlock(&r->lock);
	return pv_strbuf_printf(out,
		"# HELP previewd_reaper_expired_total Environments the reaper marked for removal.\n"
		"# TYPE previewd_reaper_expired_total counter\n"
		"previewd_reaper_expired_total %llu\n"
		"# HELP previewd_reaper_warnings_total Expiry warnings queued.\n"
		"# TYPE previewd_reaper_warnings_total counter\n"
		"previewd_reaper_warnings_total %llu\n"
		"# HELP previewd_reaper_passes_total Reaper passes (wake-ups that checked for due work).\n"
		"# TYPE previewd_reaper_passes_total counter\n"
		"previewd_reaper_passes_total %llu\n"
		"# HELP previewd_reaper_held Overdue expiries held by the mass-deletion guard until an admin releases them.\n"
		"# TYPE previewd_reaper_held gauge\n"
		"previewd_reaper_held %lld\n"
		"# HELP previewd_reaper_holds_total Holds begun (expiry_held notifications).\n"
		"# TYPE previewd_reaper_holds_total counter\n"
		"previewd_reaper_holds_total %llu\n", expired, warnings, passes, held, holds);
}

long long pv_reaper_held(struct pv_reaper *r)
{
	long long held;

	if (!r)
		return 0;
	pthread_mutex_lock(&r->lock);
	held = r->held;
	pthread_mutex_unlock(&r->lock);
	return held;
}

void pv_reaper_kick(struct pv_reaper *r)
{
	if (r)
		pv_worker_kick(&r->worker);
}

void pv_reaper_free(struct pv_reaper *r)
{
	if (!r)
		return;
	pv_worker_stop(&r->worker);
	pv_store_free(r->store);
	pthread_mutex_destroy(&r->lock);
	free(r);
}
