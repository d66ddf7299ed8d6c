/*
 * timefmt.h - RFC 3339 times, the one format previewd writes (API, events,
 * previewd.json, notifications, logs) and the one parser it reads them with
 * (previewd.json, Argo CD's status).
 */
#ifndef PV_TIMEFMT_H
#define PV_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* "2026-12-01T21:37:29Z" plus the NUL */
#define PV_TIME_LEN 21

/* Unix seconds t as RFC 3339 UTC into buf (at least PV_TIME_LEN bytes). */
void pv_time_format(char *buf, size_t len, int64_t t);

/* "YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm|-hh:mm)" (lowercase t and z too) to
 * unix seconds, the fraction dropped.  0, or PV_EINVAL for anything else,
 * trailing bytes included. */
int pv_time_parse(const char *s, int64_t *out) PV_WARN_UNUSED;

#endif
