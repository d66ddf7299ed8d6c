/*
 * opencost.h - the pv-opencost thread: what each environment's namespace
 * really costs, read from OpenCost (PREVIEWD_OPENCOST_URL).
 *
 * DESIGN
 *
 * PREVIEWD_COST_RATES gives an estimate from the requests in the values
 * (cost.h); with OpenCost running in the cluster previewd can show what
 * the namespace was actually charged instead.  Every
 * PREVIEWD_OPENCOST_INTERVAL the thread asks OpenCost's allocation API
 *
 *	GET {url}/allocation/compute?window=1d&aggregate=namespace&accumulate=true
 *
 * whose answer is {"code": 200, "data": [{"NAMESPACE": {"name", "totalCost",
 * "minutes", ...}, ...}, ...]}, one object per step.  Per namespace the
 * totalCost and minutes of every set add up, and per_day = totalCost x
 * 1440 / minutes (a namespace younger than the window is scaled up from
 * what it ran; without minutes the window, a day, is assumed).  OpenCost's
 * own entries (__idle__, __unallocated__) and names that cannot be an
 * environment's are skipped.
 *
 * The figures go to the opencost table (schema/018) in one transaction,
 * replacing the last poll's: the store is how the HTTP threads, /metrics
 * and the reaper's warnings read them (pv_store_cost), so no state is
 * shared between threads.  A failed poll (OpenCost down, not 200, not its
 * JSON) changes nothing and is logged, at most once a minute; a figure
 * older than three intervals is not shown, and the estimate (or null)
 * takes its place.
 */
#ifndef PV_OPENCOST_H
#define PV_OPENCOST_H

#include <stddef.h>

#include <jansson.h>

#include "config.h"
#include "error.h"

struct pv_opencost;

/* Whether PREVIEWD_OPENCOST_URL is set (a config built by hand may leave
 * it NULL). */
#define PV_OPENCOST_ON(cfg) ((cfg)->opencost_url && *(cfg)->opencost_url)

/* How old (seconds) a figure may be and still be shown. */
#define PV_OPENCOST_STALE(cfg) (3 * (long long)(cfg)->opencost_interval)

/* Read an allocation answer (len bytes): *out gets an object of namespace
 * -> per_day (a real >= 0).  0, or PV_EINVAL saying what is wrong with it. */
int pv_opencost_parse(json_t **out, const char *body, size_t len) PV_WARN_UNUSED;

/* Start the thread (PREVIEWD_OPENCOST_URL is set); it polls at once. */
int pv_opencost_start(struct pv_opencost **out, const struct pv_config *cfg, const char *db_path) PV_WARN_UNUSED;

/* Stop and free; NULL is fine. */
void pv_opencost_free(struct pv_opencost *o);

#endif
