/*
 * log.c - one line per event on stderr: time, level, message.
 *
 * A single write(2) per line keeps lines from different threads whole.
 */
#include "log.h"

#include "timefmt.h"
#include "valid.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum pv_log_level pv_log_threshold = PV_LOG_INFO;
int pv_log_json;

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

/* Append s to out as the inside of a JSON string (json) or as text; either
 * way control characters and invalid UTF-8 are escaped, so text from a
 * request can neither forge a log line nor break a JSON one. */
static size_t log_escape(char *out, size_t cap, const char *s, size_t n, int json)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 8 < cap;) {
		unsigned char c = (unsigned char)s[i];
		size_t u = pv_valid_utf8_len((const unsigned char *)s + i, n - i);

		if (json && (c == '"' || c == '\\')) {
			out[o++] = '\\';
			out[o++] = (char)c;
			i++;
		} else if (c < 0x20 || c == 0x7f) {
			o += (size_t)snprintf(out + o, cap - o, json ? "\\u%04x" : "\\x%02x", c);
			i++;
		} else if (u == 0) {
			o += (size_t)snprintf(out + o, cap - o, json ? "\\ufffd" : "\\x%02x", c);
			i++;
		} else {
			memcpy(out + o, s + i, u);
			o += u;
			i += u;
		}
	}
	return o;
}

void pv_log_write(enum pv_log_level level, const char *fmt, ...)
{
	char msg[1800], line[4096], stamp[PV_TIME_LEN];
	struct timespec ts;
	size_t n, mlen;
	int m;
	va_list ap;

	clock_gettime(CLOCK_REALTIME, &ts);
	/* RFC 3339 with milliseconds: the seconds without their 'Z', then ".mmmZ" */
	pv_time_format(stamp, sizeof(stamp), (int64_t)ts.tv_sec);
	stamp[PV_TIME_LEN - 2] = '\0';
	va_start(ap, fmt);
	m = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	mlen = m < 0 ? 0 : (size_t)m < sizeof(msg) ? (size_t)m : sizeof(msg) - 1;
	if (pv_log_json) {
		/* "component: message" -> component and msg fields */
		const char *colon = memchr(msg, ':', mlen);
		size_t clen = colon && colon - msg < 16 && memchr(msg, ' ', (size_t)(colon - msg)) == NULL
			? (size_t)(colon - msg) : 0;
		const char *body = clen ? colon + 2 <= msg + mlen ? colon + 2 : msg + mlen : msg;

		n = (size_t)snprintf(line, sizeof(line), "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\",\"component\":\"",
			stamp, ts.tv_nsec / 1000000L, level_names[level]);
		n += log_escape(line + n, sizeof(line) - n, clen ? msg : "previewd", clen ? clen : 8, 1);
		n += (size_t)snprintf(line + n, sizeof(line) - n, "\",\"msg\":\"");
		n += log_escape(line + n, sizeof(line) - n - 4, body, (size_t)(msg + mlen - body), 1);
		n += (size_t)snprintf(line + n, sizeof(line) - n, "\"}");
	} else {
		n = (size_t)snprintf(line, sizeof(line), "%s.%03ldZ %-5s ", stamp, ts.tv_nsec / 1000000L, level_names[level]);
		n += log_escape(line + n, sizeof(line) - n - 2, msg, mlen, 0);
	}
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, n) < 0) {
		/* nowhere left to report a failing stderr */
	}
}

void pv_log_every_write(struct pv_log_every *e, long long interval_ms, enum pv_log_level level, const char *fmt, ...)
{
	char msg[1600];
	struct timespec ts;
	long long now, next;
	unsigned long skipped;
	va_list ap;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	next = atomic_load(&e->next_ms);
	/* one thread wins the slot; the others count themselves out */
	if (now < next || !atomic_compare_exchange_strong(&e->next_ms, &next, now + interval_ms)) {
		atomic_fetch_add(&e->skipped, 1);
		return;
	}
	skipped = atomic_exchange(&e->skipped, 0);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (skipped)
		pv_log_write(level, "%s (and %lu more like this since the line before)", msg, skipped);
	else
		pv_log_write(level, "%s", msg);
}
