/*
 * Fuzz target: the small parsers of outside input in valid.c (names,
 * reserved names, durations) and timefmt.c (RFC 3339 times, as Argo CD
 * sends them).  Checks their contracts, not just crashes.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "timefmt.h"
#include "valid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	long long secs;
	int64_t t;
	char buf[64];

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';

	if (pv_valid_name(s, "name") == 0) {
		/* an accepted name is a DNS label: nothing that could leave a folder */
		size_t n = strlen(s);
		if (n == 0 || n > PV_NAME_MAX || strchr(s, '/') || strchr(s, '.') || s[0] < 'a' || s[0] > 'z')
			abort();
		(void)pv_valid_reserved(s, "name", NULL, 0);
	}
	if (pv_valid_duration(&secs, s, "ttl") == 0) {
		if (secs <= 0)
			abort();
		/* formatting the value and parsing it back gives the same seconds */
		pv_valid_format_duration(buf, sizeof(buf), secs);
		long long again;
		if (pv_valid_duration(&again, buf, "ttl") != 0 || again != secs)
			abort();
	}
	if (pv_time_parse(s, &t) == 0 && t >= 0 && t < 253402300800LL) {
		/* an accepted time in years 1970-9999 formats as UTC and reads
		 * back as the same second */
		int64_t again;
		pv_time_format(buf, sizeof(buf), t);
		if (strlen(buf) != PV_TIME_LEN - 1 || pv_time_parse(buf, &again) != 0 || again != t)
			abort();
	}
	free(s);
	return 0;
}
