/*
 * valid.c - names and durations.
 */
#include "valid.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int pv_valid_name(const char *s, const char *field)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > PV_NAME_MAX)
		goto bad;
	if (s[0] < 'a' || s[0] > 'z' || s[n - 1] == '-')
		goto bad;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			goto bad;
	}
	return 0;
bad:
	return pv_error_set(PV_EINVAL, field,
		"%s must be a lowercase DNS label: 1-%d characters of a-z, 0-9 and '-', starting with a letter and not ending with '-'",
		field, PV_NAME_MAX);
}

static int reserved_match(const char *s, const char *pattern)
{
	size_t n = strlen(pattern);

	if (n > 0 && pattern[n - 1] == '*')
		return strncmp(s, pattern, n - 1) == 0;
	return strcmp(s, pattern) == 0;
}

int pv_valid_reserved(const char *s, const char *field, char *const *extra, size_t n)
{
	/* "stream": /v1/environments/stream is the event stream, so an
	 * environment of that name could not be read by its path */
	static const char *const builtin[] = { "default", "argocd", "kube-*", "stream" };

	for (size_t i = 0; i < sizeof(builtin) / sizeof(builtin[0]); i++)
		if (reserved_match(s, builtin[i]))
			goto reserved;
	for (size_t i = 0; i < n; i++)
		if (reserved_match(s, extra[i]))
			goto reserved;
	return 0;
reserved:
	return pv_error_set(PV_EINVAL, field, "%s '%s' is reserved", field, s);
}

int pv_valid_duration(long long *out, const char *s, const char *field)
{
	long long total = 0;
	const char *p = s;

	*out = 0;
	if (!s || !*s)
		goto bad;
	/* A bare number is seconds; otherwise a sequence of <digits><unit>. */
	if (s[strspn(s, "0123456789")] == '\0') {
		errno = 0;
		char *end;
		total = strtoll(s, &end, 10);
		if (errno || total <= 0)
			goto bad;
		*out = total;
		return 0;
	}
	while (*p) {
		long long v = 0, mult;
		const char *start = p;

		while (*p >= '0' && *p <= '9') {
			if (v > (LLONG_MAX - 9) / 10)
				goto bad;
			v = v * 10 + (*p++ - '0');
		}
		if (p == start)
			goto bad;
		switch (*p++) {
		case 's': mult = 1; break;
		case 'm': mult = 60; break;
		case 'h': mult = 3600; break;
		case 'd': mult = 86400; break;
		case 'w': mult = 7 * 86400; break;
		default: goto bad;
		}
		if (v > (LLONG_MAX - total) / mult)
			goto bad;
		total += v * mult;
	}
	if (total <= 0)
		goto bad;
	*out = total;
	return 0;
bad:
	return pv_error_set(PV_EINVAL, field,
		"%s must be a positive duration such as \"90m\", \"8h\", \"2d\", \"1h30m\" or a number of seconds", field);
}

size_t pv_valid_utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t len;
	unsigned char lo = 0x80, hi = 0xbf;  /* allowed range of the second byte */

	if (n == 0)
		return 0;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4;
	else
		return 0;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (len > n || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return len;
}

void pv_valid_format_duration(char *buf, size_t len, long long secs)
{
	static const struct { long long n; char unit; } units[] = {
		{ 86400, 'd' }, { 3600, 'h' }, { 60, 'm' }, { 1, 's' },
	};
	size_t off = 0;

	if (len == 0)
		return;
	buf[0] = '\0';
	if (secs <= 0) {
		snprintf(buf, len, "0s");
		return;
	}
	for (size_t i = 0; i < 4 && secs > 0; i++) {
		if (secs >= units[i].n) {
			int m = snprintf(buf + off, len - off, "%lld%c", secs / units[i].n, units[i].unit);
			if (m < 0 || (size_t)m >= len - off)
				return;
			off += (size_t)m;
			secs %= units[i].n;
		}
	}
}
