/*
 * array.h - growing a malloc'd array without overflow.
 *
 * Every array previewd grows goes through pv_array_reserve, so the size
 * computation (count times element size, capacity doubling) is checked in
 * one place instead of at each realloc.
 *
 *	struct pv_env *v = NULL; size_t n = 0, cap = 0;
 *	if ((error = pv_array_reserve(&v, &cap, n + 1, sizeof(*v))) < 0)
 *		return error;
 *	v[n++] = env;
 */
#ifndef PV_ARRAY_H
#define PV_ARRAY_H

#include <stddef.h>

#include "error.h"

/*
 * Make *arrayp (a pointer to the array's pointer, of any element type) hold
 * at least `need` elements of `size` bytes, doubling *cap as it grows.
 * 0, or PV_ERROR (overflow, out of memory) with the array left as it was.
 */
int pv_array_reserve(void *arrayp, size_t *cap, size_t need, size_t size) PV_WARN_UNUSED;

#endif
