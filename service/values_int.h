/*
 * values_int.h - what the values files share (values.c, values_read.c,
 * values_write.c, yamlscalar.c); not for the rest of previewd, which uses
 * values.h.
 *
 * The values module is one public API (values.h) over five files:
 *
 *   yamlscalar.c    go-yaml v2 scalar and key resolution (yamlscalar.h)
 *   values_read.c   YAML -> JSON: pv_values_from_yaml()
 *   values_write.c  JSON -> YAML: pv_values_to_yaml()
 *   values.c        merge patch, check, render, and the helpers below
 *   values_fit.c    whether a patch fits its target: pv_values_fit()
 *
 * All of it is stateless, so these helpers are too.
 */
#ifndef PV_VALUES_INT_H
#define PV_VALUES_INT_H

#include <stddef.h>

#include "values.h"

/* Set PV_ERROR "out of memory" and return PV_ERROR. */
int pv_values__oom(void);

/* Length of the longest prefix of s (len bytes) that is at most
 * MSG_SNIPPET bytes (values.c) and does not end inside a UTF-8 sequence, for
 * quoting a key, a scalar or an anchor name in an error message: messages
 * stay valid UTF-8 for the JSON problem responses they end up in.  Returned
 * as an int for "%.*s". */
int pv_values__snippet_len(const char *s, size_t len);

#endif
