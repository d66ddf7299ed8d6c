/*
 * Unit tests for reaper.c's hold decision (pv_reaper_decide): which due
 * expiries the mass-deletion guard holds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "reaper.h"

#define NOW 1000000
#define AFTER 300

static size_t decide(struct pv_reap_item *v, size_t n, long long max, long long held, unsigned char *hold)
{
	memset(hold, 0xff, n);
	return pv_reaper_decide(v, n, NOW, max, AFTER, held, hold);
}

/* n items overdue by an hour */
static void overdue(struct pv_reap_item *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		v[i] = (struct pv_reap_item){ NOW - 3600, 0 };
}

static void more_than_the_limit_are_held(void **state)
{
	struct pv_reap_item v[26];
	unsigned char hold[26];

	(void)state;
	overdue(v, 26);
	assert_int_equal(decide(v, 26, 25, 0, hold), 26);
	for (size_t i = 0; i < 26; i++)
		assert_int_equal(hold[i], 1);
}

static void the_limit_itself_is_not_held(void **state)
{
	struct pv_reap_item v[25];
	unsigned char hold[25];

	(void)state;
	overdue(v, 25);
	assert_int_equal(decide(v, 25, 25, 0, hold), 0);
	for (size_t i = 0; i < 25; i++)
		assert_int_equal(hold[i], 0);
}

static void timely_expiries_are_never_held(void **state)
{
	struct pv_reap_item v[30];
	unsigned char hold[30];

	(void)state;
	overdue(v, 30);
	v[3].expires_at = NOW;             /* due this second */
	v[4].expires_at = NOW - AFTER;     /* exactly hold_after: not more than it */
	v[5].expires_at = NOW - AFTER - 1; /* more: overdue */
	assert_int_equal(decide(v, 30, 25, 0, hold), 28);
	assert_int_equal(hold[3], 0);
	assert_int_equal(hold[4], 0);
	assert_int_equal(hold[5], 1);
}

static void released_expiries_are_carried_out(void **state)
{
	struct pv_reap_item v[30];
	unsigned char hold[30];

	(void)state;
	overdue(v, 30);
	for (size_t i = 0; i < 30; i++)
		v[i].released = 1;
	assert_int_equal(decide(v, 30, 25, 0, hold), 0);
	for (size_t i = 0; i < 30; i++)
		assert_int_equal(hold[i], 0);
}

static void while_a_hold_is_on_every_overdue_one_joins(void **state)
{
	struct pv_reap_item v[2];
	unsigned char hold[2];

	(void)state;
	overdue(v, 2);
	v[1].expires_at = NOW - 1;
	assert_int_equal(decide(v, 2, 25, 30, hold), 1);
	assert_int_equal(hold[0], 1);
	assert_int_equal(hold[1], 0);
	assert_int_equal(decide(v, 2, 25, 0, hold), 0);
}

static void zero_turns_the_guard_off(void **state)
{
	struct pv_reap_item v[100];
	unsigned char hold[100];

	(void)state;
	overdue(v, 100);
	assert_int_equal(decide(v, 100, 0, 0, hold), 0);
	assert_int_equal(decide(v, 100, 0, 5, hold), 0);
	for (size_t i = 0; i < 100; i++)
		assert_int_equal(hold[i], 0);
	assert_int_equal(decide(NULL, 0, 25, 5, hold), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(more_than_the_limit_are_held),
		cmocka_unit_test(the_limit_itself_is_not_held),
		cmocka_unit_test(timely_expiries_are_never_held),
		cmocka_unit_test(released_expiries_are_carried_out),
		cmocka_unit_test(while_a_hold_is_on_every_overdue_one_joins),
		cmocka_unit_test(zero_turns_the_guard_off),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
