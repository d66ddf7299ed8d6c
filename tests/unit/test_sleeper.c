/* Unit tests for sleeper.c's rule (pv_sleeper_decide): the schedule, the
 * holds a sleep or wake by hand sets, who owns a sleep, idleness. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sleeper.h"

#define NOW 1800000000LL
#define HOUR 3600

static char overlay[] = "{\"replicaCount\":0}";

static struct pv_env env_of(const char *status, const char *sleep_by, int64_t hold)
{
	struct pv_env e;

	memset(&e, 0, sizeof(e));
	snprintf(e.status, sizeof(e.status), "%s", status);
	e.created_at = NOW - 10 * HOUR;
	e.active_at = NOW - HOUR;
	e.sched_hold_until = hold;
	if (sleep_by) {
		e.sleep_values_json = overlay;
		e.slept_at = NOW - HOUR;
		snprintf(e.sleep_by, sizeof(e.sleep_by), "%s", sleep_by);
	}
	return e;
}

static enum pv_sleeper_act decide(const struct pv_env *e, int has, int want, int64_t *next)
{
	*next = 0;
	return pv_sleeper_decide(e, has, want, NOW + 2 * HOUR, 0, 1, NOW, next);
}

static void schedule(void **state)
{
	struct pv_env e;
	int64_t next;

	(void)state;
	e = env_of("active", NULL, 0);
	assert_int_equal(decide(&e, 1, 1, &next), PV_SLEEPER_SLEEP);
	assert_int_equal(decide(&e, 1, 0, &next), PV_SLEEPER_NONE);
	assert_int_equal(next, NOW + 2 * HOUR);             /* look again at the boundary */
	assert_int_equal(decide(&e, 0, 0, &next), PV_SLEEPER_NONE);
	assert_int_equal(next, 0);                          /* no schedule: nothing to wait for */
	e = env_of("pending", NULL, 0);
	assert_int_equal(decide(&e, 1, 1, &next), PV_SLEEPER_SLEEP);
	e = env_of("deleting", NULL, 0);
	assert_int_equal(decide(&e, 1, 1, &next), PV_SLEEPER_NONE);
	e = env_of("active", "schedule", 0);
	assert_int_equal(decide(&e, 1, 0, &next), PV_SLEEPER_WAKE);
	assert_int_equal(decide(&e, 1, 1, &next), PV_SLEEPER_NONE);
	/* the schedule turned "none": what it put to sleep wakes */
	assert_int_equal(decide(&e, 0, 0, &next), PV_SLEEPER_WAKE);
}

static void holds(void **state)
{
	struct pv_env e;
	int64_t next;

	(void)state;
	/* woken by hand in a window: awake until the hold ends, then asleep */
	e = env_of("active", NULL, NOW + HOUR);
	assert_int_equal(decide(&e, 1, 1, &next), PV_SLEEPER_NONE);
	assert_int_equal(next, NOW + HOUR);
	e.sched_hold_until = NOW;
	assert_int_equal(decide(&e, 1, 1, &next), PV_SLEEPER_SLEEP);
	/* asleep by hand in awake hours: asleep while held */
	e = env_of("active", "hand", NOW + HOUR);
	assert_int_equal(decide(&e, 1, 0, &next), PV_SLEEPER_NONE);
	/* the hold over, the schedule owns it: asleep in its window, awake after */
	e.sched_hold_until = NOW - 1;
	assert_int_equal(decide(&e, 1, 1, &next), PV_SLEEPER_NONE);
	assert_int_equal(decide(&e, 1, 0, &next), PV_SLEEPER_WAKE);
	/* by hand with no schedule then (no hold): never woken by a schedule */
	e = env_of("active", "hand", 0);
	assert_int_equal(decide(&e, 1, 0, &next), PV_SLEEPER_NONE);
	/* idleness's sleep is not the schedule's */
	e = env_of("active", "idle", 0);
	assert_int_equal(decide(&e, 1, 0, &next), PV_SLEEPER_NONE);
}

static void idle(void **state)
{
	struct pv_env e = env_of("active", NULL, 0);
	int64_t next = 0;

	(void)state;
	/* active an hour ago, idle after two: not yet, look again in an hour */
	assert_int_equal(pv_sleeper_decide(&e, 0, 0, 0, 2 * HOUR, 1, NOW, &next), PV_SLEEPER_NONE);
	assert_int_equal(next, NOW + HOUR);
	next = 0;
	assert_int_equal(pv_sleeper_decide(&e, 0, 0, 0, HOUR, 1, NOW, &next), PV_SLEEPER_IDLE);
	/* activity unknown (Prometheus failing): nothing sleeps for idleness */
	assert_int_equal(pv_sleeper_decide(&e, 0, 0, 0, HOUR, 0, NOW, &next), PV_SLEEPER_NONE);
	/* no activity recorded: the idle clock starts at the create */
	e.active_at = 0;
	next = 0;
	assert_int_equal(pv_sleeper_decide(&e, 0, 0, 0, 11 * HOUR, 1, NOW, &next), PV_SLEEPER_NONE);
	assert_int_equal(next, NOW + HOUR);
	/* a hold does not stop idleness; the schedule comes first */
	e = env_of("active", NULL, NOW + HOUR);
	assert_int_equal(pv_sleeper_decide(&e, 1, 0, 0, HOUR, 1, NOW, &next), PV_SLEEPER_IDLE);
	e.sched_hold_until = 0;
	assert_int_equal(pv_sleeper_decide(&e, 1, 1, 0, HOUR, 1, NOW, &next), PV_SLEEPER_SLEEP);
	/* asleep already: nothing for idleness */
	e = env_of("active", "hand", 0);
	assert_int_equal(pv_sleeper_decide(&e, 0, 0, 0, HOUR, 1, NOW, &next), PV_SLEEPER_NONE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(schedule),
		cmocka_unit_test(holds),
		cmocka_unit_test(idle),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
