/*
 * array.c - checked array growth (see array.h).
 */
#include "array.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int pv_array_reserve(void *arrayp, size_t *cap, size_t need, size_t size)
{
	void *v, *grown;
	size_t n;

	if (need <= *cap)
		return 0;
	if (size == 0 || need > SIZE_MAX / size)
		return pv_error_set(PV_ERROR, NULL, "array of %zu elements is too large", need);
	n = *cap ? *cap : 16;
	while (n < need)
		n = n > SIZE_MAX / 2 ? need : n * 2;
	if (n > SIZE_MAX / size)
		n = need;
	/* the caller's pointer is read and written as bytes, so any element
	 * type works without breaking aliasing rules */
	memcpy(&v, arrayp, sizeof(v));
	if (!(grown = realloc(v, n * size)))
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	memcpy(arrayp, &grown, sizeof(grown));
	*cap = n;
	return 0;
}
