/*
 * metrics.c - HTTP counters by route and status, latency histograms.
 */
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>

#include "error.h"
#include "metrics.h"

static const char *const route_names[PV_ROUTE_COUNT] = {
	"other", "healthz", "readyz", "metrics", "info", "list", "create", "get", "patch", "delete", "events",
	"chatops", "page", "hooks",
};

/* upper bounds in seconds; the last bucket is +Inf */
static const double bounds[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 };
#define NBOUNDS (sizeof(bounds) / sizeof(bounds[0]))

static atomic_ulong responses[PV_ROUTE_COUNT][600];
static atomic_ulong buckets[PV_ROUTE_COUNT][NBOUNDS + 1];
static atomic_ulong sum_us[PV_ROUTE_COUNT];

const char *pv_metrics_route_name(enum pv_route r)
{
	return r < PV_ROUTE_COUNT ? route_names[r] : "other";
}

void pv_metrics_http_response(enum pv_route route, int status, double seconds)
{
	size_t b = 0;

	if (route >= PV_ROUTE_COUNT)
		route = PV_ROUTE_OTHER;
	if (status >= 100 && status < 600)
		atomic_fetch_add_explicit(&responses[route][status], 1, memory_order_relaxed);
	while (b < NBOUNDS && seconds > bounds[b])
		b++;
	atomic_fetch_add_explicit(&buckets[route][b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&sum_us[route], (unsigned long)(seconds * 1e6), memory_order_relaxed);
}

int pv_metrics_http_format(struct pv_strbuf *out)
{
	int error = pv_strbuf_printf(out,
		"# HELP previewd_http_responses_total HTTP responses sent, by route and status code.\n"
		"# TYPE previewd_http_responses_total counter\n");

	for (int r = 0; r < PV_ROUTE_COUNT && error == 0; r++)
		for (int code = 100; code < 600 && error == 0; code++) {
			unsigned long n = atomic_load_explicit(&responses[r][code], memory_order_relaxed);
			if (n)
				error = pv_strbuf_printf(out, "previewd_http_responses_total{route=\"%s\",code=\"%d\"} %lu\n",
					route_names[r], code, n);
		}
	if (error == 0)
		error = pv_strbuf_printf(out,
			"# HELP previewd_http_request_duration_seconds Time from a request's first byte to its answer.\n"
			"# TYPE previewd_http_request_duration_seconds histogram\n");
	for (int r = 0; r < PV_ROUTE_COUNT && error == 0; r++) {
		unsigned long cum = 0;
		for (size_t b = 0; b <= NBOUNDS && error == 0; b++) {
			cum += atomic_load_explicit(&buckets[r][b], memory_order_relaxed);
			if (b < NBOUNDS)
				error = pv_strbuf_printf(out, "previewd_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %lu\n",
					route_names[r], bounds[b], cum);
			else
				error = pv_strbuf_printf(out, "previewd_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %lu\n"
					"previewd_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n"
					"previewd_http_request_duration_seconds_count{route=\"%s\"} %lu\n",
					route_names[r], cum, route_names[r],
					(double)atomic_load_explicit(&sum_us[r], memory_order_relaxed) / 1e6, route_names[r], cum);
		}
	}
	return error;
}
