/*
 * schedule.c - sleep schedules (see schedule.h).
 *
 * "When does the answer change?" is found among candidates rather than by
 * stepping through time: every window edge on every day of the next eight,
 * each turned into a Unix time by mktime as standard and as daylight time
 * (an extra candidate costs one check, a missing one a wrong answer), and
 * every change of the zone's UTC offset in that span (found hour by hour,
 * then to the second by bisection).  The answer is a function of the local
 * wall time, which moves continuously between offset changes, so it can
 * change only at one of those instants; the earliest candidate whose
 * answer differs is the next boundary.
 */
#include "schedule.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define HORIZON_DAYS 8
#define DAY_MINUTES 1440

static int64_t clock_offset;

int64_t pv_schedule_now(void)
{
	return (int64_t)time(NULL) + clock_offset;
}

void pv_schedule_set_offset(int64_t seconds)
{
	clock_offset = seconds;
}

static const char *const day_names[7] = { "sun", "mon", "tue", "wed", "thu", "fri", "sat" };

static int day_of(const char *s, size_t len)
{
	if (len == 3)
		for (int d = 0; d < 7; d++)
			if (strncasecmp(s, day_names[d], 3) == 0)
				return d;
	return -1;
}

/* "Mon-Fri", "Sat", "Mon,Wed,Fri-Sun" into a bit set of tm_wday. */
static int parse_days(unsigned char *out, const char *s, size_t len, const char *field)
{
	size_t i = 0;

	*out = 0;
	while (i < len) {
		size_t j = i;
		int a, b;
		while (j < len && s[j] != ',')
			j++;
		/* one item: Day or Day-Day */
		const char *dash = memchr(s + i, '-', j - i);
		if (dash) {
			a = day_of(s + i, (size_t)(dash - (s + i)));
			b = day_of(dash + 1, (size_t)(s + j - dash - 1));
		} else {
			a = b = day_of(s + i, j - i);
		}
		if (a < 0 || b < 0)
			return pv_error_set(PV_EINVAL, field, "%s: '%.*s' is not a day or a day range (Mon, Tue, ... Sun; Mon-Fri)",
				field, (int)(j - i), s + i);
		for (int d = a;; d = (d + 1) % 7) { /* Fri-Mon wraps over the weekend */
			*out |= (unsigned char)(1u << d);
			if (d == b)
				break;
		}
		i = j + 1;
	}
	return *out ? 0 : pv_error_set(PV_EINVAL, field, "%s: no days given", field);
}

static int parse_clock(int *out, const char *s, size_t len, int allow_24)
{
	int h, m;

	if (len != 5 || !isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1]) || s[2] != ':' ||
	    !isdigit((unsigned char)s[3]) || !isdigit((unsigned char)s[4]))
		return -1;
	h = (s[0] - '0') * 10 + (s[1] - '0');
	m = (s[3] - '0') * 10 + (s[4] - '0');
	if (m > 59 || h > 24 || (h == 24 && (m != 0 || !allow_24)))
		return -1;
	*out = h * 60 + m;
	return 0;
}

/* "19:00-08:00" */
static int parse_range(struct pv_schedule_window *w, const char *s, size_t len, const char *field)
{
	const char *dash = memchr(s, '-', len);

	if (!dash || parse_clock(&w->start, s, (size_t)(dash - s), 0) < 0 ||
	    parse_clock(&w->end, dash + 1, (size_t)(s + len - dash - 1), 1) < 0)
		return pv_error_set(PV_EINVAL, field, "%s: '%.*s' is not a time range HH:MM-HH:MM", field, (int)len, s);
	if (w->start == w->end)
		return pv_error_set(PV_EINVAL, field, "%s: '%.*s' is an empty window (a whole day is the day alone)",
			field, (int)len, s);
	return 0;
}

/* One window: "DAYS", "HH:MM-HH:MM" or "DAYS HH:MM-HH:MM". */
static int parse_window(struct pv_schedule_window *w, const char *s, size_t len, const char *field)
{
	const char *word[3];
	size_t wlen[3], n = 0, i = 0;
	int error;

	while (i < len) {
		while (i < len && isspace((unsigned char)s[i]))
			i++;
		if (i == len)
			break;
		if (n == 3)
			return pv_error_set(PV_EINVAL, field, "%s: '%.*s' has more than days and a time range", field,
				(int)len, s);
		word[n] = s + i;
		while (i < len && !isspace((unsigned char)s[i]))
			i++;
		wlen[n] = (size_t)(s + i - word[n]);
		n++;
	}
	w->days = 0x7f;
	w->start = 0;
	w->end = DAY_MINUTES;
	if (n == 1 && memchr(word[0], ':', wlen[0]))
		return parse_range(w, word[0], wlen[0], field);
	if (n == 1)
		return parse_days(&w->days, word[0], wlen[0], field);
	if (n == 2 && (error = parse_days(&w->days, word[0], wlen[0], field)) == 0)
		return parse_range(w, word[1], wlen[1], field);
	if (n == 2)
		return error;
	return pv_error_set(PV_EINVAL, field, "%s: '%.*s' has more than days and a time range", field, (int)len, s);
}

int pv_schedule_parse(struct pv_schedule *out, const char *text, const char *field)
{
	const char *s = text;
	size_t len = strlen(text);

	memset(out, 0, sizeof(*out));
	if (len >= PV_SCHEDULE_MAX_TEXT)
		return pv_error_set(PV_EINVAL, field, "%s is longer than %d characters", field, PV_SCHEDULE_MAX_TEXT - 1);
	if (strcasecmp(text, "none") == 0)
		return 0;
	while (*s) {
		size_t n = strcspn(s, ";"), blank = strspn(s, " \t");
		int error;
		if (blank < n) { /* an empty window (";;", a trailing ';') is no window */
			if (out->n == PV_SCHEDULE_MAX_WINDOWS)
				return pv_error_set(PV_EINVAL, field, "%s has more than %d windows", field,
					PV_SCHEDULE_MAX_WINDOWS);
			if ((error = parse_window(&out->w[out->n], s, n, field)) < 0)
				return error;
			out->n++;
		}
		s += n;
		if (*s == ';')
			s++;
	}
	return 0;
}

static int window_has(const struct pv_schedule_window *w, int wday, int minute)
{
	int prev = (wday + 6) % 7;

	if (w->start < w->end)
		return (w->days >> wday & 1) && minute >= w->start && minute < w->end;
	/* crosses midnight: the evening of a listed day, the morning after it */
	return ((w->days >> wday & 1) && minute >= w->start) || ((w->days >> prev & 1) && minute < w->end);
}

int pv_schedule_asleep(const struct pv_schedule *s, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (s->n == 0 || !localtime_r(&tt, &tm))
		return 0;
	for (size_t i = 0; i < s->n; i++)
		if (window_has(&s->w[i], tm.tm_wday, tm.tm_hour * 60 + tm.tm_min))
			return 1;
	return 0;
}

static long offset_at(int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	return localtime_r(&tt, &tm) ? tm.tm_gmtoff : 0;
}

/* Keep c as the answer when it is after t, earlier than the best so far
 * and on the other side of the schedule. */
static void consider(const struct pv_schedule *s, int64_t t, int now_asleep, int64_t c, int64_t *best)
{
	if (c > t && (*best == 0 || c < *best) && pv_schedule_asleep(s, c) != now_asleep)
		*best = c;
}

int64_t pv_schedule_next(const struct pv_schedule *s, int64_t t)
{
	int now_asleep = pv_schedule_asleep(s, t), points[2 * PV_SCHEDULE_MAX_WINDOWS];
	int64_t best = 0, end = t + (int64_t)HORIZON_DAYS * 86400;
	time_t tt = (time_t)t;
	struct tm today;
	size_t np = 0;

	if (s->n == 0 || !localtime_r(&tt, &today))
		return 0;
	for (size_t i = 0; i < s->n; i++) {
		points[np++] = s->w[i].start;
		points[np++] = s->w[i].end % DAY_MINUTES;
	}
	/* window edges, from yesterday (a window that crossed midnight) on */
	for (int k = -1; k <= HORIZON_DAYS; k++) {
		for (size_t p = 0; p < np; p++) {
			for (int dst = 0; dst <= 1; dst++) {
				struct tm tm = { 0 };
				time_t c;
				tm.tm_year = today.tm_year;
				tm.tm_mon = today.tm_mon;
				tm.tm_mday = today.tm_mday + k;
				tm.tm_hour = points[p] / 60;
				tm.tm_min = points[p] % 60;
				tm.tm_isdst = dst;
				if ((c = mktime(&tm)) != (time_t)-1)
					consider(s, t, now_asleep, (int64_t)c, &best);
			}
		}
	}
	/* the zone's offset changes: found by the hour, then to the second */
	for (int64_t a = t; a < end && (best == 0 || a < best); a += 3600) {
		long o = offset_at(a);
		int64_t lo = a, hi = a + 3600;
		if (offset_at(hi) == o)
			continue;
		while (hi - lo > 1) {
			int64_t mid = lo + (hi - lo) / 2;
			if (offset_at(mid) == o)
				lo = mid;
			else
				hi = mid;
		}
		consider(s, t, now_asleep, hi, &best);
	}
	return best;
}
