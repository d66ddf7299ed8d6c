/*
 * reaper.h - the reaper thread: expires environments and warns before.
 *
 * Its worker (worker.h, thread "pv-reaper") waits until the next expiry or
 * warning is due (asked of SQLite each time; a wall-clock time turned into a
 * delay), and wakes early when a TTL changes (pv_reaper_kick) or at
 * shutdown.  When something is due it marks every
 * expired environment `deleting` and records every due warning in one
 * transaction, then kicks the Git writer, which removes all those folders
 * in one commit.  The marking is conditional on the expiry still being
 * past, inside BEGIN IMMEDIATE, so an extension that commits first wins.
 *
 * Threads: its own worker and SQLite connection; pv_reaper_kick from any.
 */
#ifndef PV_REAPER_H
#define PV_REAPER_H

#include "config.h"
#include "error.h"
#include "strbuf.h"

struct pv_reaper;

/* changed(ctx) is called after each transaction that changed something
 * (expired environments or queued warnings). */
int pv_reaper_start(struct pv_reaper **out, const struct pv_config *cfg, const char *db_path,
	void (*changed)(void *ctx), void *ctx) PV_WARN_UNUSED;

void pv_reaper_kick(struct pv_reaper *r);

void pv_reaper_free(struct pv_reaper *r);

/* Append the reaper's counters in Prometheus text format (any thread). */
int pv_reaper_metrics(struct pv_reaper *r, struct pv_strbuf *out) PV_WARN_UNUSED;

#endif
