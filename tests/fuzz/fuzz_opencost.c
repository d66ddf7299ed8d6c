/*
 * Fuzz target: opencost.c's reader of OpenCost's allocation answer, which
 * previewd takes from the network.  Checks its contract, not just crashes:
 * an accepted answer gives only names an environment can have, each with
 * a finite figure >= 0 no larger than PV_COST_MAX_DAY.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "cost.h"
#include "opencost.h"
#include "valid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *per = NULL, *v;
	const char *ns;

	if (pv_opencost_parse(&per, (const char *)data, size) < 0) {
		if (per)
			abort();
		return 0;
	}
	if (!json_is_object(per))
		abort();
	json_object_foreach(per, ns, v) {
		double d = json_real_value(v);
		if (!json_is_real(v) || !isfinite(d) || d < 0 || d > PV_COST_MAX_DAY || pv_valid_name(ns, NULL) < 0)
			abort();
	}
	json_decref(per);
	return 0;
}
