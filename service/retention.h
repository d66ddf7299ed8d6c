/*
 * retention.h - the retention thread: what ended longer ago than
 * PREVIEWD_RETENTION (90 days by default) is pruned, and the pages it took
 * are given back to the file system.
 *
 * DESIGN
 *
 * Without it the database grows with every create and delete forever:
 * the record of each ended environment, its history, its notifications and
 * the Idempotency-Keys of its requests.  Pruned are (store.h,
 * pv_store_prune_envs and pv_store_prune_rows): environments deleted, or
 * failed before previewd ever pushed them, that ended before the window,
 * with their events, outbox rows, warnings and holds; outbox rows
 * delivered or given up before the window; Idempotency-Keys made before
 * it (a retry after 90 days is a new request); warnings about an expiry
 * before it; the webhook delivery ids received before it (hook_deliveries:
 * kept so that a redelivery acts once, and forges redeliver within days).  Never pruned: a live environment or any of its events; a
 * failed environment that was once pushed (the folder it left, with
 * previewd's marker, may still be in Git, and its record is what says whose
 * it is); an environment with a notification still owed.  A pruned
 * environment is gone from the API (GET answers 404), as if it had never
 * been.
 *
 * Its own thread, "pv-retention", with its own SQLite connection, rather
 * than a pass of the reaper's: the reaper wakes on the second an expiry
 * falls due and its passes must stay short for that (reap_1000 in bench/);
 * pruning a backlog after an upgrade or a long window is work of another
 * pace, and one owner per thread keeps each loop's timing its own.
 *
 * Pruning never makes the API wait long: a batch is at most PRUNE_BATCH
 * rows (an environment counts with its events), one short transaction
 * each, and the thread sleeps between batches so that writers queued on
 * the lock go first.  Then the free pages go back in steps of
 * RECLAIM_PAGES (PRAGMA incremental_vacuum, auto_vacuum = INCREMENTAL is
 * set on every new database; one made before is rebuilt once at start,
 * before any other thread uses it).  A pass runs at start and then every
 * quarter of the window, at least every second and at most every hour.
 *
 * Threads: its own worker (worker.h); the metrics from any.
 */
#ifndef PV_RETENTION_H
#define PV_RETENTION_H

#include "config.h"
#include "error.h"
#include "strbuf.h"

struct pv_retention;

/* Start the thread on db_path; with PREVIEWD_RETENTION 0 none is started
 * and *out is NULL (every other call takes NULL). */
int pv_retention_start(struct pv_retention **out, const struct pv_config *cfg, const char *db_path) PV_WARN_UNUSED;
void pv_retention_free(struct pv_retention *r);

/* Append previewd_retention_* in Prometheus text format (any thread). */
int pv_retention_metrics(struct pv_retention *r, struct pv_strbuf *out) PV_WARN_UNUSED;

#endif
