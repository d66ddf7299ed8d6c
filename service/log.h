/*
 * log.h - leveled logging to stderr, one line per event.
 *
 * Any thread may log.  The level is checked before anything is formatted, so
 * a disabled debug line costs one comparison.  Secrets (passwords, tokens)
 * must never be passed to these functions; config.c redacts them at the
 * source.
 */
#ifndef PV_LOG_H
#define PV_LOG_H

#include "error.h"

enum pv_log_level { PV_LOG_DEBUG = 0, PV_LOG_INFO, PV_LOG_WARN, PV_LOG_ERROR };

extern enum pv_log_level pv_log_threshold;

/* One JSON object per line ({"ts","level","component","msg"}) instead of
 * text; set once at start-up. */
extern int pv_log_json;

/* Parse "debug|info|warn|error"; returns 0 or PV_EINVAL. */
int pv_log_parse_level(enum pv_log_level *out, const char *s);

void pv_log_write(enum pv_log_level level, const char *fmt, ...) PV_PRINTF(2, 3);

#define pv_log(level, ...)                                   \
	do {                                                 \
		if ((level) >= pv_log_threshold)             \
			pv_log_write((level), __VA_ARGS__);  \
	} while (0)

#define log_debug(...) pv_log(PV_LOG_DEBUG, __VA_ARGS__)
#define log_info(...) pv_log(PV_LOG_INFO, __VA_ARGS__)
#define log_warn(...) pv_log(PV_LOG_WARN, __VA_ARGS__)
#define log_error(...) pv_log(PV_LOG_ERROR, __VA_ARGS__)

/*
 * Rate-limited lines, for a failure that repeats as long as a state lasts
 * (a full disk): at most one line per interval_ms from each call site, the
 * next one saying how many were left out.  The call site's state is a
 * static in the macro's block; any thread.
 */
struct pv_log_every {
	_Atomic long long next_ms;        /* monotonic: the next line may be written from then */
	_Atomic unsigned long skipped;    /* lines left out since the last one written */
};

void pv_log_every_write(struct pv_log_every *e, long long interval_ms, enum pv_log_level level, const char *fmt, ...)
	PV_PRINTF(4, 5);

#define pv_log_every(level, interval_ms, ...)                                            \
	do {                                                                             \
		static struct pv_log_every pv_log_every_site_;                           \
		if ((level) >= pv_log_threshold)                                         \
			pv_log_every_write(&pv_log_every_site_, (interval_ms), (level), __VA_ARGS__); \
	} while (0)

#define log_warn_every(interval_ms, ...) pv_log_every(PV_LOG_WARN, (interval_ms), __VA_ARGS__)
#define log_error_every(interval_ms, ...) pv_log_every(PV_LOG_ERROR, (interval_ms), __VA_ARGS__)

#endif
