/* Unit tests for ratelimit.c: the token buckets of the create rate, on a
 * clock the test moves by hand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "ratelimit.h"

static int64_t fake_now;

static int64_t fake_clock(void *ctx)
{
	(void)ctx;
	return fake_now;
}

static struct pv_ratelimit *make(long long per_minute, long long burst)
{
	struct pv_ratelimit *rl;

	fake_now = 1000000;
	assert_int_equal(pv_ratelimit_new(&rl, per_minute, burst, fake_clock, NULL), 0);
	return rl;
}

static void burst_then_refused(void **state)
{
	struct pv_ratelimit *rl = make(60, 20);
	long long retry = -1;

	(void)state;
	for (int i = 0; i < 20; i++)
		assert_int_equal(pv_ratelimit_take(rl, "a:127.0.0.1", &retry), 1);
	assert_int_equal(retry, 0);
	assert_int_equal(pv_ratelimit_take(rl, "a:127.0.0.1", &retry), 0);
	/* 60 a minute: one token a second */
	assert_int_equal(retry, 1);
	pv_ratelimit_free(rl);
}

static void refill_at_the_rate(void **state)
{
	struct pv_ratelimit *rl = make(6, 2); /* one token every 10 s */
	long long retry;

	(void)state;
	assert_int_equal(pv_ratelimit_take(rl, "k", NULL), 1);
	assert_int_equal(pv_ratelimit_take(rl, "k", NULL), 1);
	assert_int_equal(pv_ratelimit_take(rl, "k", &retry), 0);
	assert_int_equal(retry, 10);
	fake_now += 4001;
	assert_int_equal(pv_ratelimit_take(rl, "k", &retry), 0);
	/* 5999 ms to go: rounded up to whole seconds */
	assert_int_equal(retry, 6);
	fake_now += 5999;
	assert_int_equal(pv_ratelimit_take(rl, "k", NULL), 1);
	assert_int_equal(pv_ratelimit_take(rl, "k", NULL), 0);
	/* a long pause refills to the burst, not beyond */
	fake_now += 3600 * 1000;
	assert_int_equal(pv_ratelimit_take(rl, "k", NULL), 1);
	assert_int_equal(pv_ratelimit_take(rl, "k", NULL), 1);
	assert_int_equal(pv_ratelimit_take(rl, "k", NULL), 0);
	pv_ratelimit_free(rl);
}

static void retry_after_is_at_least_one_second(void **state)
{
	struct pv_ratelimit *rl = make(600000, 1); /* a token every 0.1 ms */
	long long retry = 0;

	(void)state;
	assert_int_equal(pv_ratelimit_take(rl, "k", NULL), 1);
	assert_int_equal(pv_ratelimit_take(rl, "k", &retry), 0);
	assert_int_equal(retry, 1);
	pv_ratelimit_free(rl);
}

static void keys_do_not_share(void **state)
{
	struct pv_ratelimit *rl = make(60, 3);

	(void)state;
	for (int i = 0; i < 3; i++)
		assert_int_equal(pv_ratelimit_take(rl, "t:ci", NULL), 1);
	assert_int_equal(pv_ratelimit_take(rl, "t:ci", NULL), 0);
	assert_int_equal(pv_ratelimit_take(rl, "t:alice", NULL), 1);
	assert_int_equal(pv_ratelimit_take(rl, "a:10.0.0.1", NULL), 1);
	assert_int_equal(pv_ratelimit_size(rl), 3);
	pv_ratelimit_free(rl);
}

static void off_allows_everything(void **state)
{
	struct pv_ratelimit *rl = make(0, 0);
	long long retry = -1;

	(void)state;
	for (int i = 0; i < 10000; i++)
		assert_int_equal(pv_ratelimit_take(rl, "k", &retry), 1);
	assert_int_equal(retry, 0);
	assert_int_equal(pv_ratelimit_size(rl), 0);
	pv_ratelimit_free(rl);
	assert_int_equal(pv_ratelimit_take(NULL, "k", NULL), 1);
}

static void bad_settings_refused(void **state)
{
	struct pv_ratelimit *rl = (struct pv_ratelimit *)1;

	(void)state;
	assert_int_equal(pv_ratelimit_new(&rl, 60, 0, NULL, NULL), PV_EINVAL);
	assert_null(rl);
	assert_int_equal(pv_ratelimit_new(&rl, -1, 20, NULL, NULL), PV_EINVAL);
}

/* Many keys: the table stays at its size, and what it forgets first are
 * buckets that refilled (they start full anyway). */
static void bounded_with_eviction(void **state)
{
	struct pv_ratelimit *rl = make(60, 2);
	char key[32];

	(void)state;
	/* one drained bucket */
	assert_int_equal(pv_ratelimit_take(rl, "hot", NULL), 1);
	assert_int_equal(pv_ratelimit_take(rl, "hot", NULL), 1);
	assert_int_equal(pv_ratelimit_take(rl, "hot", NULL), 0);
	/* far more keys than slots, each taking one token at once: every set
	 * fills with half-empty buckets, so these evict by age */
	for (int i = 0; i < 10 * PV_RATELIMIT_SLOTS; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		assert_int_equal(pv_ratelimit_take(rl, key, NULL), 1);
		assert_true(pv_ratelimit_size(rl) <= PV_RATELIMIT_SLOTS);
	}
	assert_int_equal(pv_ratelimit_size(rl), PV_RATELIMIT_SLOTS);
	pv_ratelimit_free(rl);

	/* a drained bucket survives keys that come and refill in its set */
	rl = make(60, 1);
	assert_int_equal(pv_ratelimit_take(rl, "hot", NULL), 1);
	for (int i = 0; i < 10 * PV_RATELIMIT_SLOTS; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		assert_int_equal(pv_ratelimit_take(rl, key, NULL), 1);
		fake_now += 1000; /* each refills before the next arrives */
		/* keep hot drained: refilled by a token, emptied again */
		assert_int_equal(pv_ratelimit_take(rl, "hot", NULL), 1);
	}
	/* hot was never evicted: its last take left it empty */
	assert_int_equal(pv_ratelimit_take(rl, "hot", NULL), 0);
	pv_ratelimit_free(rl);
}

/* An evicted full bucket is forgotten without changing an answer. */
static void evicting_full_buckets_is_lossless(void **state)
{
	struct pv_ratelimit *rl = make(60, 5);
	char key[32];

	(void)state;
	for (int i = 0; i < 2 * PV_RATELIMIT_SLOTS; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		assert_int_equal(pv_ratelimit_take(rl, key, NULL), 1);
	}
	fake_now += 10 * 1000; /* all refilled */
	for (int i = 0; i < 2 * PV_RATELIMIT_SLOTS; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		for (int j = 0; j < 5; j++)
			assert_int_equal(pv_ratelimit_take(rl, key, NULL), 1);
		assert_int_equal(pv_ratelimit_take(rl, key, NULL), 0);
	}
	pv_ratelimit_free(rl);
}

struct race {
	struct pv_ratelimit *rl;
	int taken;
};

static void *racer(void *arg)
{
	struct race *r = arg;

	for (int i = 0; i < 1000; i++)
		r->taken += pv_ratelimit_take(r->rl, "shared", NULL);
	return NULL;
}

/* Threads taking from one bucket together take exactly the burst. */
static void thread_safe(void **state)
{
	struct pv_ratelimit *rl = make(60, 100);
	struct race r[4];
	pthread_t th[4];
	int total = 0;

	(void)state;
	for (int i = 0; i < 4; i++) {
		r[i] = (struct race){ .rl = rl };
		assert_int_equal(pthread_create(&th[i], NULL, racer, &r[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		total += r[i].taken;
	}
	assert_int_equal(total, 100); /* the fake clock stands still */
	pv_ratelimit_free(rl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(burst_then_refused),
		cmocka_unit_test(refill_at_the_rate),
		cmocka_unit_test(retry_after_is_at_least_one_second),
		cmocka_unit_test(keys_do_not_share),
		cmocka_unit_test(off_allows_everything),
		cmocka_unit_test(bad_settings_refused),
		cmocka_unit_test(bounded_with_eviction),
		cmocka_unit_test(evicting_full_buckets_is_lossless),
		cmocka_unit_test(thread_safe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
