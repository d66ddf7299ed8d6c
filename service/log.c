/*
 * log.c - one line per event on stderr: time, level, message.
 *
 * A single write(2) per line keeps lines from different threads whole.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum pv_log_level pv_log_threshold = PV_LOG_INFO;

static const char *level_names[] = { "debug", "info", "warn", "error" };

int pv_log_parse_level(enum pv_log_level *out, const char *s)
{
	for (int i = 0; i <= PV_LOG_ERROR; i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum pv_log_level)i;
			return 0;
		}
	}
	return pv_error_set(PV_EINVAL, "log_level", "unknown log level '%s' (debug, info, warn, error)", s);
}

void pv_log_write(enum pv_log_level level, const char *fmt, ...)
{
	char line[2048];
	struct timespec ts;
	struct tm tm;
	size_t n;
	int m;
	va_list ap;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	m = snprintf(line + n, sizeof(line) - n, ".%03ldZ %-5s ", ts.tv_nsec / 1000000L, level_names[level]);
	if (m > 0)
		n += (size_t)m;
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	if (m > 0)
		n += (size_t)m < sizeof(line) - n - 1 ? (size_t)m : sizeof(line) - n - 2;
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, n) < 0) {
		/* nowhere left to report a failing stderr */
	}
}
