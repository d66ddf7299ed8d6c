/*
 * reaper.c - expiry and warnings (see reaper.h).
 */
#include "reaper.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "array.h"
#include "log.h"
#include "store.h"
#include "worker.h"

#define REAP_BATCH 5000         /* rows per transaction; more go in the next pass at once */
#define MAX_SLEEP_SECONDS 3600  /* re-check now and then even when nothing is due */

struct pv_reaper {
	const struct pv_config *cfg;
	struct pv_store *store;
	void (*changed)(void *ctx);
	void *ctx;
	struct pv_worker worker;
	pthread_mutex_t lock;  /* the counters */
	/* counters, under lock */
	unsigned long long expired, warnings, passes;
};

/* One pass: expire what is due, queue due warnings.  *more is set when a
 * full batch was expired and another pass should follow at once. */
static int reap_once(struct pv_reaper *r, int64_t now, size_t *changed, int *more)
{
	struct pv_env_list b = PV_ENV_LIST_INIT;
	char detail[128];
	size_t expired_n = 0;
	int error;

	*changed = 0;
	*more = 0;
	if ((error = pv_store_begin(r->store)) < 0)
		return error;
	if ((error = pv_store_expired(r->store, now, REAP_BATCH, pv_env_list_add, &b)) < 0)
		goto fail;
	for (size_t i = 0; i < b.n; i++) {
		struct pv_env *e = &b.v[i];
		snprintf(detail, sizeof(detail), "{\"expires_at\":%lld}", (long long)e->expires_at);
		snprintf(e->status, sizeof(e->status), "%s", PV_STATUS_DELETING);
		e->updated_at = now;
		snprintf(e->changed_by, sizeof(e->changed_by), "reaper (expired)");
		if ((error = pv_store_env_save(r->store, e)) < 0 ||
		    (error = pv_store_event_add(r->store, e, "expired", "reaper", NULL, now, detail)) < 0)
			goto fail;
	}
	*changed += b.n;
	expired_n = b.n;
	*more = b.n == REAP_BATCH;
	if (b.n)
		log_info("reaper: %zu environment(s) expired", b.n);
	pv_env_list_clear(&b);
	for (size_t l = 0; l < r->cfg->warn_count; l++) {
		long long lead = r->cfg->warn_leads[l];
		if ((error = pv_store_warnings_due(r->store, now, lead, pv_env_list_add, &b)) < 0)
			goto fail;
		for (size_t i = 0; i < b.n; i++) {
			struct pv_env *e = &b.v[i];
			snprintf(detail, sizeof(detail), "{\"lead_seconds\":%lld,\"expires_at\":%lld,\"seconds_left\":%lld}",
				lead, (long long)e->expires_at, (long long)(e->expires_at - now));
			if ((error = pv_store_warning_add(r->store, e->id, lead, e->expires_at, now)) < 0 ||
			    (error = pv_store_event_add(r->store, e, "expiring", "reaper", NULL, now, detail)) < 0)
				goto fail;
		}
		*changed += b.n;
		pv_env_list_clear(&b);
	}
	pv_env_list_dispose(&b);
	if ((error = pv_store_commit(r->store)) < 0)
		return error;
	pthread_mutex_lock(&r->lock);
	r->passes++;
	r->expired += (unsigned long long)expired_n;
	r->warnings += (unsigned long long)(*changed - expired_n);
	pthread_mutex_unlock(&r->lock);
	return 0;
fail:
	pv_env_list_dispose(&b);
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
		    pv_store_next_due(r->store, &next) < 0) {
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
	unsigned long long expired, warnings, passes;

	pthread_mutex_lock(&r->lock);
	expired = r->expired;
	warnings = r->warnings;
	passes = r->passes;
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
		"previewd_reaper_passes_total %llu\n", expired, warnings, passes);
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
