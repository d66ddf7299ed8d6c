/*
 * activity.h - which namespaces saw requests, as Prometheus tells it.
 *
 * DESIGN
 *
 * PREVIEWD_IDLE_SLEEP counts previewd's own writes as activity, and with
 * PREVIEWD_PROMETHEUS_URL the requests the ingress saw too.  The question
 * is PREVIEWD_ACTIVITY_QUERY, a PromQL template in which two placeholders
 * are replaced (everything else, PromQL's own braces included, is sent as
 * written):
 *
 *	{namespaces}  the namespaces asked about as a regex alternation,
 *	              ns1|ns2|... (they are DNS labels: nothing to escape)
 *	{window}      PREVIEWD_ACTIVITY_WINDOW in seconds, "300s"
 *
 * and it is sent as GET /api/v1/query?query=... (at most
 * PV_ACTIVITY_BATCH namespaces a query, so the URL stays short).  The
 * answer must be an instant vector; each series whose `exported_namespace`
 * (ingress-nginx's name for the backend's namespace) or else `namespace`
 * label names a namespace, with a value above 0, is activity in that
 * namespace.  A namespace missing from the answer saw none.
 *
 * A failure (unreachable, not 2xx, "status":"error", not a vector, bad
 * JSON) is PV_EUNAVAIL and says nothing about any namespace: the sleeper
 * then puts nothing to sleep for idleness.
 *
 * Threads: one struct pv_activity (its own CURL handle) per thread; the
 * parser and the template are pure.
 */
#ifndef PV_ACTIVITY_H
#define PV_ACTIVITY_H

#include <stddef.h>

#include "config.h"
#include "error.h"
#include "strbuf.h"

#define PV_ACTIVITY_BATCH 100

/* The query for names[0..n) from tmpl, appended to out. */
int pv_activity_query(struct pv_strbuf *out, const char *tmpl, const char *const *names, size_t n,
	long long window_seconds) PV_WARN_UNUSED;

/* Read a /api/v1/query answer: cb(namespace, value, payload) for each
 * series with a namespace label (values as Prometheus writes them: NaN and
 * Inf included).  0, or PV_EUNAVAIL with the reason. */
typedef void (*pv_activity_cb)(const char *ns, double value, void *payload);
int pv_activity_parse(const char *body, size_t len, pv_activity_cb cb, void *payload) PV_WARN_UNUSED;

struct pv_activity;

int pv_activity_new(struct pv_activity **out, const struct pv_config *cfg) PV_WARN_UNUSED;
void pv_activity_free(struct pv_activity *a);

/* Ask which of names[0..n) saw requests: active[i] 1 or 0.  On any
 * failure PV_EUNAVAIL, and active says nothing. */
int pv_activity_poll(struct pv_activity *a, const char *const *names, size_t n, unsigned char *active) PV_WARN_UNUSED;

#endif
