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
 * The mass-deletion guard: an expiry more than PREVIEWD_REAP_HOLD_AFTER
 * past is overdue, the sign of downtime, a clock step, a restored database
 * or a lowered maximum TTL rather than of a plan.  When more than
 * PREVIEWD_REAP_HOLD of them are due in one pass, or while a hold is on,
 * the overdue ones are held (store_reaper.c): nothing is removed, one
 * expiry_held notification goes out per hold, /readyz is degraded, until
 * an admin releases the set (POST /v1/admin/reaper/release, `previewd
 * reaper release`).  Timely expiries are carried out as ever; explicit
 * deletes never pass through here.  A released expiry is carried out; an
 * overdue one that appears after the release is judged afresh.  A release
 * made by another process is seen within HELD_POLL_SECONDS.
 *
 * Threads: its own worker and SQLite connection; pv_reaper_kick from any.
 */
#ifndef PV_REAPER_H
#define PV_REAPER_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "error.h"
#include "strbuf.h"

struct pv_reaper;

/* changed(ctx) is called after each transaction that changed something
 * (expired environments or queued warnings). */
int pv_reaper_start(struct pv_reaper **out, const struct pv_config *cfg, const char *db_path,
	void (*changed)(void *ctx), void *ctx) PV_WARN_UNUSED;

void pv_reaper_kick(struct pv_reaper *r);

/* Expiries held after the last pass (any thread; 0 for NULL). */
long long pv_reaper_held(struct pv_reaper *r);

/* One due expiry as the hold decision sees it. */
struct pv_reap_item {
	int64_t expires_at;
	int released;  /* an admin released a hold of this expiry */
};

/*
 * The hold decision, pure: which of the n due expiries to hold (hold[i] set
 * to 1) rather than carry out, at now, with `held` expiries held already.
 * Overdue means expires_at < now - hold_after and not released; they are
 * held when more than hold_max of them are due at once or a hold is on
 * (held > 0); the rest never.  hold_max 0 turns the guard off.  Returns
 * the number held.
 */
size_t pv_reaper_decide(const struct pv_reap_item *items, size_t n, int64_t now, long long hold_max,
	long long hold_after, long long held, unsigned char *hold);

void pv_reaper_free(struct pv_reaper *r);

/* Append the reaper's counters in Prometheus text format (any thread). */
int pv_reaper_metrics(struct pv_reaper *r, struct pv_strbuf *out) PV_WARN_UNUSED;

#endif
