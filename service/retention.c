/*
 * retention.c - pruning and reclaiming (see retention.h).
 */
#include "retention.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "log.h"
#include "store.h"
#include "worker.h"

#define PRUNE_BATCH 500         /* rows per transaction */
#define ENV_BATCH 100           /* environments per transaction, each with its events (about 500 rows) */
#define RECLAIM_PAGES 256       /* free pages given back per transaction (1 MiB of 4 KiB pages) */
#define YIELD_MS 10             /* sleep between batches: writers queued on the lock go first */
#define MAX_INTERVAL_SECONDS 3600

static const char *const kind_names[PV_PRUNE_KINDS] = {
	[PV_PRUNE_ENVS] = "environments",
	[PV_PRUNE_EVENTS] = "events",
	[PV_PRUNE_OUTBOX] = "outbox",
	[PV_PRUNE_IDEM] = "idempotency_keys",
	[PV_PRUNE_WARNINGS] = "warnings",
	[PV_PRUNE_DELIVERIES] = "hook_deliveries",
};

struct pv_retention {
	long long window;      /* seconds */
	struct pv_store *store;
	struct pv_worker worker;
	pthread_mutex_t lock;  /* the counters */
	/* counters, under lock */
	unsigned long long pruned[PV_PRUNE_KINDS], passes, reclaimed;
};

static void count(struct pv_retention *r, const long long *pruned, long long reclaimed, int pass)
{
	pthread_mutex_lock(&r->lock);
	for (int k = 0; k < PV_PRUNE_KINDS; k++)
		r->pruned[k] += (unsigned long long)pruned[k];
	r->reclaimed += (unsigned long long)reclaimed;
	r->passes += (unsigned long long)pass;
	pthread_mutex_unlock(&r->lock);
}

/* Between two batches: let the writers in.  0 when stop was asked. */
static int yield(struct pv_retention *r)
{
	return pv_worker_sleep(&r->worker, YIELD_MS) != PV_WORKER_STOP;
}

/* One batch of one kind into pruned[]; *more when it was full. */
static int batch(struct pv_retention *r, enum pv_prune_kind kind, int64_t cutoff, long long *pruned, int *more)
{
	long long n = 0;
	int error;

	if (kind == PV_PRUNE_ENVS)
		return pv_store_prune_envs(r->store, cutoff, ENV_BATCH, pruned, more);
	if ((error = pv_store_prune_rows(r->store, kind, cutoff, PRUNE_BATCH, &n)) < 0)
		return error;
	pruned[kind] += n;
	*more = n == PRUNE_BATCH;
	return 0;
}

/* One pass: every kind, batch after batch, then the free pages. */
static int pass(struct pv_retention *r, int64_t now)
{
	static const enum pv_prune_kind order[] = { PV_PRUNE_ENVS, PV_PRUNE_OUTBOX, PV_PRUNE_IDEM, PV_PRUNE_WARNINGS,
		PV_PRUNE_DELIVERIES };
	int64_t cutoff = now - r->window;
	long long total[PV_PRUNE_KINDS] = { 0 }, any = 0, reclaimed = 0;
	int error = 0, more;

	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		do {
			long long pruned[PV_PRUNE_KINDS] = { 0 };
			error = batch(r, order[i], cutoff, pruned, &more);
			count(r, pruned, 0, 0);
			for (int k = 0; k < PV_PRUNE_KINDS; k++) {
				total[k] += pruned[k];
				any += pruned[k];
			}
			if (error < 0)
				return error;
			if (more && !yield(r))
				return 0;
		} while (more);
	}
	/* pages freed by pruning, and by the API's own deletes since the last pass */
	for (;;) {
		long long freed = 0, left = 0;
		if ((error = pv_store_reclaim(r->store, RECLAIM_PAGES, &freed, &left)) < 0)
			break;
		reclaimed += freed;
		if (left == 0 || freed == 0 || !yield(r))
			break;
	}
	{
		long long none[PV_PRUNE_KINDS] = { 0 };
		count(r, none, reclaimed, 1);
	}
	if (any)
		log_info("retention: pruned %lld environment(s), %lld event(s), %lld outbox row(s), "
			 "%lld idempotency key(s), %lld warning(s) and %lld webhook delivery id(s) older than %llds",
			total[PV_PRUNE_ENVS], total[PV_PRUNE_EVENTS], total[PV_PRUNE_OUTBOX], total[PV_PRUNE_IDEM],
			total[PV_PRUNE_WARNINGS], total[PV_PRUNE_DELIVERIES], r->window);
	return error;
}

static void retention_run(struct pv_worker *w, void *arg)
{
	struct pv_retention *r = arg;
	long long interval = r->window / 4;

	if (interval < 1)
		interval = 1;
	if (interval > MAX_INTERVAL_SECONDS)
		interval = MAX_INTERVAL_SECONDS;
	while (!pv_worker_stopping(w)) {
		if (pass(r, (int64_t)time(NULL)) < 0)
			log_warn("retention: %s", pv_error_last()->message);
		pv_worker_sleep(w, interval * 1000);
	}
}

int pv_retention_start(struct pv_retention **out, const struct pv_config *cfg, const char *db_path)
{
	struct pv_retention *r;
	int converted = 0, error;

	*out = NULL;
	if (cfg->retention <= 0)
		return 0;
	if (!(r = calloc(1, sizeof(*r))))
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	r->window = cfg->retention;
	pthread_mutex_init(&r->lock, NULL);
	if ((error = pv_store_open_config(&r->store, cfg, db_path)) < 0 || (error = pv_store_relax(r->store)) < 0 ||
	    (error = pv_store_vacuum_mode(r->store, &converted)) < 0)
		goto fail;
	if (converted)
		log_info("retention: the database was rebuilt once so that pruned pages go back to the file system");
	if ((error = pv_worker_start(&r->worker, "pv-retention", retention_run, r)) < 0)
		goto fail;
	*out = r;
	return 0;
fail:
	pv_retention_free(r);
	return error;
}

void pv_retention_free(struct pv_retention *r)
{
	if (!r)
		return;
	pv_worker_stop(&r->worker);
	pv_store_free(r->store);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

int pv_retention_metrics(struct pv_retention *r, struct pv_strbuf *out)
{
	unsigned long long pruned[PV_PRUNE_KINDS], passes, reclaimed;
	int error;

	if (!r)
		return 0;
	pthread_mutex_lock(&r->lock);
	for (int k = 0; k < PV_PRUNE_KINDS; k++)
		pruned[k] = r->pruned[k];
	passes = r->passes;
	reclaimed = r->reclaimed;
	pthread_mutex_unlock(&r->lock);
	if ((error = pv_strbuf_printf(out,
		     "# HELP previewd_retention_pruned_total Rows pruned after PREVIEWD_RETENTION, by kind.\n"
		     "# TYPE previewd_retention_pruned_total counter\n")) < 0)
		return error;
	for (int k = 0; k < PV_PRUNE_KINDS; k++)
		if ((error = pv_strbuf_printf(out, "previewd_retention_pruned_total{kind=\"%s\"} %llu\n", kind_names[k],
			     pruned[k])) < 0)
			return error;
	return pv_strbuf_printf(out,
		"# HELP previewd_retention_passes_total Retention passes.\n"
		"# TYPE previewd_retention_passes_total counter\n"
		"previewd_retention_passes_total %llu\n"
		"# HELP previewd_retention_reclaimed_pages_total Free database pages given back to the file system.\n"
		"# TYPE previewd_retention_reclaimed_pages_total counter\n"
		"previewd_retention_reclaimed_pages_total %llu\n", passes, reclaimed);
}
