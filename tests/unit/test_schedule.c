/* Unit tests for schedule.c: reading schedules, "asleep at t?" and "when
 * next?" across a weekend, midnight and both daylight-saving changes of
 * Europe/Berlin (the zone data decides, as in the daemon: TZ is set once). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "schedule.h"

/* "2027-03-26T18:00:00Z" as Unix seconds */
static int64_t at(const char *iso)
{
	struct tm tm = { 0 };

	assert_non_null(strptime(iso, "%Y-%m-%dT%H:%M:%SZ", &tm));
	return (int64_t)timegm(&tm);
}

static void read_schedule(struct pv_schedule *s, const char *text)
{
	assert_int_equal(pv_schedule_parse(s, text, "schedule"), 0);
}

static void parse_good(void **state)
{
	struct pv_schedule s;

	(void)state;
	read_schedule(&s, "Mon-Fri 19:00-08:00; Sat-Sun");
	assert_int_equal(s.n, 2);
	assert_int_equal(s.w[0].days, 0x3e); /* Mon..Fri */
	assert_int_equal(s.w[0].start, 19 * 60);
	assert_int_equal(s.w[0].end, 8 * 60);
	assert_int_equal(s.w[1].days, 0x41); /* Sat, Sun */
	assert_int_equal(s.w[1].start, 0);
	assert_int_equal(s.w[1].end, 1440);
	read_schedule(&s, "fri-MON");          /* wraps over the weekend, any case */
	assert_int_equal(s.w[0].days, 0x63);
	read_schedule(&s, "Mon,Wed,Fri 22:00-24:00;");
	assert_int_equal(s.n, 1);
	assert_int_equal(s.w[0].days, 0x2a);
	assert_int_equal(s.w[0].end, 1440);
	read_schedule(&s, "12:00-13:00");      /* every day */
	assert_int_equal(s.w[0].days, 0x7f);
	read_schedule(&s, "none");
	assert_int_equal(s.n, 0);
	read_schedule(&s, "");
	assert_int_equal(s.n, 0);
}

static void parse_bad(void **state)
{
	static const char *const bad[] = { "Mon-Fry", "Mon 25:00-26:00", "Mon 19:00-19:00", "Mon 19:00", "Mon 1900-0800",
		"Mon Tue 10:00-11:00", "Mon 10:00-11:00 extra", "Mon 24:00-08:00", "Mon 10:60-11:00", "Mon-", ",Mon",
		"Mon 10:00-11:00; Funday" };
	struct pv_schedule s;
	char longer[PV_SCHEDULE_MAX_TEXT + 8];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(pv_schedule_parse(&s, bad[i], "schedule"), PV_EINVAL);
		assert_string_equal(pv_error_last()->field, "schedule");
	}
	memset(longer, 0, sizeof(longer));
	for (size_t i = 0; i + 5 < sizeof(longer); i += 5)
		memcpy(longer + i, "Mon; ", 5);
	assert_int_equal(pv_schedule_parse(&s, longer, "PREVIEWD_SLEEP_SCHEDULE"), PV_EINVAL);
	assert_string_equal(pv_error_last()->field, "PREVIEWD_SLEEP_SCHEDULE");
}

/* Friday evening to Monday morning in Berlin (winter time, UTC+1, until
 * the clocks go forward on Sunday 28 March 2027) */
static void weekend(void **state)
{
	struct pv_schedule s;
	int64_t t;

	(void)state;
	read_schedule(&s, "Mon-Fri 19:00-08:00; Sat-Sun");
	t = at("2027-03-26T17:59:59Z");                 /* Fri 18:59:59 CET */
	assert_false(pv_schedule_asleep(&s, t));
	assert_int_equal(pv_schedule_next(&s, t), at("2027-03-26T18:00:00Z"));
	t = at("2027-03-26T18:00:00Z");                 /* Fri 19:00 CET */
	assert_true(pv_schedule_asleep(&s, t));
	/* asleep all weekend: the next change is Monday 00:00 CEST, 22:00 UTC */
	assert_int_equal(pv_schedule_next(&s, t), at("2027-03-28T22:00:00Z"));
	assert_true(pv_schedule_asleep(&s, at("2027-03-27T07:30:00Z")));  /* Sat 08:30: Saturday is whole */
	assert_true(pv_schedule_asleep(&s, at("2027-03-28T21:59:59Z")));  /* Sun 23:59:59 CEST */
	assert_false(pv_schedule_asleep(&s, at("2027-03-28T22:00:00Z"))); /* Mon 00:00 CEST */
	/* Monday evening to Tuesday morning crosses midnight */
	t = at("2027-03-28T22:00:00Z");
	assert_int_equal(pv_schedule_next(&s, t), at("2027-03-29T17:00:00Z"));  /* Mon 19:00 CEST */
	assert_true(pv_schedule_asleep(&s, at("2027-03-29T22:30:00Z")));        /* Tue 00:30 */
	assert_true(pv_schedule_asleep(&s, at("2027-03-30T05:59:59Z")));        /* Tue 07:59:59 */
	assert_int_equal(pv_schedule_next(&s, at("2027-03-29T17:00:00Z")), at("2027-03-30T06:00:00Z"));
	assert_false(pv_schedule_asleep(&s, at("2027-03-30T06:00:00Z")));
}

/* Sunday 28 March 2027: 02:00 CET becomes 03:00 CEST at 01:00 UTC */
static void dst_forward(void **state)
{
	struct pv_schedule s;

	(void)state;
	read_schedule(&s, "Sun 03:00-05:00");
	assert_false(pv_schedule_asleep(&s, at("2027-03-28T00:59:59Z")));   /* 01:59:59 CET */
	assert_int_equal(pv_schedule_next(&s, at("2027-03-28T00:00:00Z")), at("2027-03-28T01:00:00Z"));
	assert_true(pv_schedule_asleep(&s, at("2027-03-28T01:00:00Z")));    /* 03:00 CEST */
	assert_int_equal(pv_schedule_next(&s, at("2027-03-28T01:00:00Z")), at("2027-03-28T03:00:00Z"));
	/* an edge in the missing hour takes effect when the clocks jump past it */
	read_schedule(&s, "Sun 02:30-04:00");
	assert_int_equal(pv_schedule_next(&s, at("2027-03-28T00:00:00Z")), at("2027-03-28T01:00:00Z"));
	assert_int_equal(pv_schedule_next(&s, at("2027-03-28T01:00:00Z")), at("2027-03-28T02:00:00Z"));
	/* a daily window is 24 hours apart in wall time, 23 in UTC across the change */
	read_schedule(&s, "19:00-08:00");
	assert_int_equal(pv_schedule_next(&s, at("2027-03-27T08:00:00Z")), at("2027-03-27T18:00:00Z"));
	assert_int_equal(pv_schedule_next(&s, at("2027-03-27T18:00:00Z")), at("2027-03-28T06:00:00Z"));
	assert_int_equal(pv_schedule_next(&s, at("2027-03-28T06:00:00Z")), at("2027-03-28T17:00:00Z"));
}

/* Sunday 31 October 2027: 03:00 CEST becomes 02:00 CET at 01:00 UTC; the
 * hour 02:00-03:00 happens twice and is inside a window both times */
static void dst_back(void **state)
{
	struct pv_schedule s;

	(void)state;
	read_schedule(&s, "Sun 02:30-03:30");
	assert_int_equal(pv_schedule_next(&s, at("2027-10-31T00:00:00Z")), at("2027-10-31T00:30:00Z")); /* 02:30 CEST */
	assert_int_equal(pv_schedule_next(&s, at("2027-10-31T00:30:00Z")), at("2027-10-31T01:00:00Z")); /* back to 02:00 CET */
	assert_int_equal(pv_schedule_next(&s, at("2027-10-31T01:00:00Z")), at("2027-10-31T01:30:00Z")); /* 02:30 CET */
	assert_int_equal(pv_schedule_next(&s, at("2027-10-31T01:30:00Z")), at("2027-10-31T02:30:00Z")); /* 03:30 CET */
	read_schedule(&s, "Sat-Sun");
	/* the weekend ends at Monday 00:00 CET, now UTC+1 */
	assert_int_equal(pv_schedule_next(&s, at("2027-10-30T12:00:00Z")), at("2027-10-31T23:00:00Z"));
}

static void never_changes(void **state)
{
	struct pv_schedule s;

	(void)state;
	read_schedule(&s, "none");
	assert_false(pv_schedule_asleep(&s, at("2027-03-26T18:00:00Z")));
	assert_int_equal(pv_schedule_next(&s, at("2027-03-26T18:00:00Z")), 0);
	read_schedule(&s, "Mon-Sun");
	assert_true(pv_schedule_asleep(&s, at("2027-03-28T01:00:00Z")));
	assert_int_equal(pv_schedule_next(&s, at("2027-03-26T18:00:00Z")), 0);
}

static void clock_offset(void **state)
{
	int64_t before = (int64_t)time(NULL);

	(void)state;
	pv_schedule_set_offset(86400);
	assert_true(pv_schedule_now() >= before + 86400);
	pv_schedule_set_offset(0);
	assert_true(pv_schedule_now() < before + 86400);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parse_good),
		cmocka_unit_test(parse_bad),
		cmocka_unit_test(weekend),
		cmocka_unit_test(dst_forward),
		cmocka_unit_test(dst_back),
		cmocka_unit_test(never_changes),
		cmocka_unit_test(clock_offset),
	};

	setenv("TZ", "Europe/Berlin", 1);
	tzset();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
