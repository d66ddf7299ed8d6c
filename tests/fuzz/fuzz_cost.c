/*
 * Fuzz target: cost.c's parsers of outside input - the Kubernetes
 * quantities people write in their values, and the cost settings.  Checks
 * their contracts, not just crashes.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cost.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	struct pv_cost_model m;
	double v;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	/* the parser reads exactly size bytes: no terminator needed, and an
	 * accepted quantity is a finite request, never negative */
	if (pv_cost_quantity(&v, (const char *)data, size) == 0 && (!isfinite(v) || v < 0))
		abort();
	if (pv_cost_model_parse(&m, s, s, s) == 0) {
		if (!isfinite(m.cpu_hour) || !isfinite(m.gib_hour) || m.cpu_hour < 0 || m.gib_hour < 0 ||
		    m.ncomponents < 1 || m.ncomponents > PV_COST_MAX_COMPONENTS)
			abort();
		for (int w = 0; w < PV_COST_WHATS; w++)
			if (!m.paths[w][0] || memchr(m.paths[w], '\0', PV_COST_PATH_MAX) == NULL)
				abort();
	}
	/* a value document carrying the input as each quantity */
	json_t *str = json_stringn_nocheck(s, size), *vals = NULL;
	if (str && pv_cost_model_parse(&m, "cpu=0.04,memory=0.005", NULL, NULL) == 0) {
		vals = json_pack("{s:O, s:{s:{s:O, s:O}}}", "replicaCount", str, "resources", "requests", "cpu", str,
			"memory", str);
		if (vals && pv_cost_per_day(&m, vals, &v) == 0 && (!isfinite(v) || v < 0))
			abort();
	}
	json_decref(vals);
	json_decref(str);
	free(s);
	return 0;
}
