/*
 * cost.h - what an environment costs: Kubernetes quantities, the requests
 * in its values, the price of a day, and what sleeping saved.
 *
 * An estimate, not a bill: the price of the resources an environment
 * requests (PREVIEWD_COST_RATES: per CPU-hour and per GiB-hour), read
 * from its values where the chart keeps them (PREVIEWD_COST_PATHS) in each
 * of its components (PREVIEWD_COST_COMPONENTS).  The rule, in one place:
 *
 *   per_day = 24 x sum over components c of
 *             replicas(c) x (cpu(c) x cpu_rate + memory(c) / 2^30 x memory_rate)
 *
 * where x(c) is the value at the component's prefix followed by the path
 * of x ("frontend." + "resources.requests.cpu"); no components means one,
 * the values' root ("." names the root in a list).  A component without
 * the replicas path counts 1 replica, one without cpu or memory requests
 * counts 0 of it, and a component that is absent costs nothing.
 *
 * What sleeping saved over the last 7 days is per_day / 24 x the hours the
 * history shows the environment asleep (between a "slept" and the next
 * "woke") in that window.
 *
 * Pure functions on the caller's data, except the store's three at the end
 * (store_cost.c: the sleep history, OpenCost's figures, the one rule that
 * picks a figure).  Thread-safe; no global state.  Errors: error.h.
 */
#ifndef PV_COST_H
#define PV_COST_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "error.h"

#define PV_COST_MAX_COMPONENTS 16
#define PV_COST_PATH_MAX 128
#define PV_COST_WINDOW (7 * 86400)  /* saved_by_sleep_last_7d */
#define PV_COST_MAX_DAY 1e12  /* a larger daily figure is a typo, not a cluster */

enum pv_cost_what { PV_COST_REPLICAS, PV_COST_CPU, PV_COST_MEMORY, PV_COST_WHATS };

struct pv_cost_model {
	double cpu_hour;   /* price of one CPU for an hour */
	double gib_hour;   /* price of one GiB (2^30 bytes) for an hour */
	char paths[PV_COST_WHATS][PV_COST_PATH_MAX];            /* dotted, from a component's prefix */
	char components[PV_COST_MAX_COMPONENTS][PV_COST_PATH_MAX]; /* dotted prefixes, "" = the root */
	size_t ncomponents;
};

/*
 * A Kubernetes resource quantity (len bytes at s): a non-negative decimal
 * number ("1", "0.5", ".5", "1.") and at most one suffix: binary Ki Mi Gi
 * Ti Pi Ei (powers of 1024), decimal n u m k M G T P E, or an exponent
 * e/E with an optional sign and at most three digits ("1e3", "5E-1").  No
 * spaces, no sign on the number: a request is never negative.  *out gets
 * the value in base units (cores, bytes).  Returns 0 or PV_EINVAL.
 */
int pv_cost_quantity(double *out, const char *s, size_t len) PV_WARN_UNUSED;

/* A quantity as values carry it: a JSON number (>= 0) or a string for
 * pv_cost_quantity.  0 or PV_EINVAL. */
int pv_cost_quantity_json(double *out, const json_t *v) PV_WARN_UNUSED;

/*
 * Fill *m from the settings' text: rates "cpu=0.04,memory=0.005" (both
 * optional, each at most once, >= 0; a missing one is 0); paths
 * "replicas=replicaCount,cpu=resources.requests.cpu,memory=..." (each
 * optional: missing ones keep those defaults); components "frontend.,backend"
 * (a trailing '.' is optional; "" = the root only).  PV_EINVAL naming the
 * setting (field) at fault.
 */
int pv_cost_model_parse(struct pv_cost_model *m, const char *rates, const char *paths,
	const char *components) PV_WARN_UNUSED;

/* The value at a dotted path below root, or NULL. */
const json_t *pv_cost_lookup(const json_t *root, const char *prefix, const char *path);

/* per_day of values (an object) under m.  PV_EINVAL (field "values") when
 * a quantity or replica count found on a path cannot be read. */
int pv_cost_per_day(const struct pv_cost_model *m, const json_t *values, double *out) PV_WARN_UNUSED;

/* The same from the values' JSON text. */
int pv_cost_per_day_text(const struct pv_cost_model *m, const char *values_json, double *out) PV_WARN_UNUSED;

/* One change of the sleep state from the history: at, and asleep after it. */
struct pv_cost_change {
	int64_t at;
	int asleep;
};

/*
 * Seconds asleep within [from, to) given the changes in time order: the
 * state before the first change is awake; a change before from sets the
 * state the window starts in; repeats (slept, slept) change nothing.
 */
int64_t pv_cost_asleep_seconds(const struct pv_cost_change *ch, size_t n, int64_t from, int64_t to);

/* The same one change at a time (the history is read as a stream). */
struct pv_cost_sleep {
	int64_t from, to, since, total;
	int asleep;
};
void pv_cost_sleep_init(struct pv_cost_sleep *s, int64_t from, int64_t to);
void pv_cost_sleep_change(struct pv_cost_sleep *s, int64_t at, int asleep);
int64_t pv_cost_sleep_end(struct pv_cost_sleep *s);

/* per_day / 24 x hours, rounded to PV_COST_DIGITS decimals. */
double pv_cost_saved(double per_day, int64_t asleep_seconds);

/* Amounts are shown rounded to this many decimals. */
#define PV_COST_DIGITS 4
double pv_cost_round(double v);

struct pv_store;

/* Seconds environment row env_id was asleep within [from, to), from its
 * "slept" and "woke" events (store_cost.c). */
int pv_store_asleep(struct pv_store *st, int64_t env_id, int64_t from, int64_t to, int64_t *out) PV_WARN_UNUSED;

/* Replace the opencost table's rows with per (namespace -> per_day, from
 * pv_opencost_parse), read at `at`, in one transaction (opencost.h). */
int pv_store_opencost_replace(struct pv_store *st, const json_t *per, int64_t at) PV_WARN_UNUSED;

struct pv_config;
struct pv_env;

/* The kinds of figure pv_store_cost gives. */
#define PV_COST_SOURCE_OPENCOST "opencost"
#define PV_COST_SOURCE_ESTIMATE "estimate"

/*
 * What a day of env costs, the one rule for the JSON, /metrics and the
 * expiry warnings: OpenCost's figure for its namespace when
 * PREVIEWD_OPENCOST_URL is set and the figure is fresh (opencost.h), else
 * the estimate from its values under PREVIEWD_COST_RATES.  1 with
 * *per_day and *source set, 0 when there is neither (or the values cannot
 * be read), or a pv_error code.
 */
int pv_store_cost(struct pv_store *st, const struct pv_config *cfg, const struct pv_env *env, int64_t now,
	double *per_day, const char **source) PV_WARN_UNUSED;

#endif
