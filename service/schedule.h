/*
 * schedule.h - sleep schedules: "Mon-Fri 19:00-08:00; Sat-Sun" read once,
 * then asked "asleep at t?" and "when does that answer next change?".
 *
 * DESIGN
 *
 * A schedule is a list of sleep windows separated by ';'.  A window is
 * days, a time range, or both:
 *
 *	Mon-Fri 19:00-08:00   from 19:00 on each of those days to 08:00 the
 *	                      next morning (a range whose end is not after its
 *	                      start crosses midnight)
 *	Sat-Sun               the whole of each day
 *	12:00-13:00           every day
 *	Mon,Wed 22:00-24:00   a list of days; 24:00 is the end of the day
 *
 * Day ranges may wrap (Fri-Mon); day names are English abbreviations in any
 * case.  Times are wall-clock times in the process's zone (TZ, set from
 * PREVIEWD_TIMEZONE at start-up before any thread starts), read through
 * localtime_r and mktime, so daylight-saving changes come from the zone
 * data: on the night clocks go forward a window edge in the missing hour
 * takes effect when the clocks jump past it; on the night they go back, an
 * hour that occurs twice is inside or outside a window both times.
 *
 * Pure apart from the zone: any thread (localtime_r and mktime are
 * thread-safe once TZ is fixed).
 */
#ifndef PV_SCHEDULE_H
#define PV_SCHEDULE_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define PV_SCHEDULE_MAX_WINDOWS 16
#define PV_SCHEDULE_MAX_TEXT 160  /* the longest schedule string accepted, NUL included */

struct pv_schedule_window {
	unsigned char days;  /* bit d: tm_wday d (0 Sunday) */
	int start, end;      /* minutes of the day; end <= start crosses midnight; 0 and 1440: the whole day */
};

struct pv_schedule {
	size_t n;            /* 0: never asleep ("none") */
	struct pv_schedule_window w[PV_SCHEDULE_MAX_WINDOWS];
};

/* Read text into *out.  "none" (or "") is the empty schedule.  PV_EINVAL
 * naming field, with what is wrong and where. */
int pv_schedule_parse(struct pv_schedule *out, const char *text, const char *field) PV_WARN_UNUSED;

/* 1 if t (Unix seconds) is inside a sleep window. */
int pv_schedule_asleep(const struct pv_schedule *s, int64_t t);

/* The first second after t at which pv_schedule_asleep's answer differs
 * from its answer at t; 0 when it does not change within eight days (an
 * empty schedule, or every day asleep). */
int64_t pv_schedule_next(const struct pv_schedule *s, int64_t t);

/* The clock schedules and idle sleep are judged by: time(NULL) plus the
 * offset a test set (PREVIEWD_NOW_OFFSET, main.c; 0 in production).  Set
 * it before threads start. */
int64_t pv_schedule_now(void);
void pv_schedule_set_offset(int64_t seconds);

#endif
