/*
 * metrics.c - HTTP response counters and the text-building helper.
 */
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "error.h"
#include "metrics.h"

static atomic_ulong responses[600];

void pv_metrics_http_response(int status)
{
	if (status >= 100 && status < 600)
		atomic_fetch_add_explicit(&responses[status], 1, memory_order_relaxed);
}

int pv_metrics_http_format(struct pv_strbuf *out)
{
	int error = pv_strbuf_printf(out,
		"# HELP previewd_http_responses_total HTTP responses sent, by status code.\n"
		"# TYPE previewd_http_responses_total counter\n");

	for (int code = 100; code < 600 && error == 0; code++) {
		unsigned long n = atomic_load_explicit(&responses[code], memory_order_relaxed);
		if (n)
			error = pv_strbuf_printf(out, "previewd_http_responses_total{code=\"%d\"} %lu\n", code, n);
	}
	return error;
}
