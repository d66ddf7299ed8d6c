/*
 * valid.h - validation of the small strings that come from outside:
 * environment names and durations.  Pure functions, any thread.
 */
#ifndef PV_VALID_H
#define PV_VALID_H

#include <stddef.h>

#include "error.h"

#define PV_NAME_MAX 53 /* Helm release names are capped at 53 characters */

/*
 * 0 if s is a lowercase DNS label of 1..53 characters of [a-z0-9-], starting
 * with a letter and not ending with '-'; else PV_EINVAL naming `field`.
 * Reserved names are checked separately (pv_valid_reserved).
 */
int pv_valid_name(const char *s, const char *field) PV_WARN_UNUSED;

/*
 * 0 if s is not reserved: "default", "argocd", anything starting "kube-",
 * and the `extra` list (n entries; an entry ending in '*' is a prefix).
 */
int pv_valid_reserved(const char *s, const char *field, char *const *extra, size_t n) PV_WARN_UNUSED;

/*
 * Parse a duration: "90m", "8h", "2d", "30s", "1w", combinations such as
 * "1h30m", or a plain number of seconds ("3600").  *out receives seconds.
 * Overflow, empty input, zero and unknown units are PV_EINVAL on `field`.
 */
int pv_valid_duration(long long *out, const char *s, const char *field) PV_WARN_UNUSED;

/* Length (1-4) of the well-formed UTF-8 character at s, at most n bytes
 * long, or 0 when the bytes there are not well-formed UTF-8 (overlong
 * forms, surrogates and code points beyond U+10FFFF included). */
size_t pv_valid_utf8_len(const unsigned char *s, size_t n);

/* Format seconds as the shortest of "2d", "8h", "90m", "45s" or combinations
 * ("1h30m"); buf of at least 32 bytes. */
void pv_valid_format_duration(char *buf, size_t len, long long secs);

#endif
