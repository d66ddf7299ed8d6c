/*
 * Fuzz target: activity.c's reading of Prometheus's /api/v1/query answer
 * (the body of an outside server).  What must hold: no crash, leak or read
 * past the bytes given (they are not NUL-terminated); every series handed
 * out names a non-empty namespace; the answer is 0 or PV_EUNAVAIL, and the
 * same bytes give the same answer and the same series (pv_activity_poll
 * forgets whatever a failed answer handed out before it failed).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "activity.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct seen {
	size_t n;
};

static void on_series(const char *ns, double value, void *payload)
{
	struct seen *s = payload;

	(void)value;
	if (!ns || !*ns)
		abort();
	s->n++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct seen a = { 0 }, b = { 0 };
	int ra, rb;

	if (size > 1 << 20)
		return 0;
	ra = pv_activity_parse((const char *)data, size, on_series, &a);
	rb = pv_activity_parse((const char *)data, size, on_series, &b);
	/* the same bytes, the same answer */
	if (ra != rb || a.n != b.n || (ra != 0 && ra != PV_EUNAVAIL))
		abort();
	return 0;
}
