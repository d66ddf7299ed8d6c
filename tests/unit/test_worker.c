/* Unit tests for worker.c: the background-thread skeleton. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <semaphore.h>
#include <string.h>
#include <time.h>

#include "worker.h"

/* Generous bounds: the tests also run under TSan on a busy machine. */
#define SLACK_MS 5000

/* What the worker thread saw, handed to the test thread through semaphores
 * (which also order the memory accesses). */
struct probe {
	sem_t ready;      /* posted by the worker before it waits */
	sem_t go;         /* posted by the test to let the worker wait */
	sem_t done;       /* posted by the worker after each wait */
	long long timeout_ms;
	int use_sleep;    /* pv_worker_sleep instead of pv_worker_wait */
	int rounds;       /* waits to do; 0: until stopped */
	int hold;         /* wait for `go` before the first wait */
	int no_check;     /* loop on the waits alone, without pv_worker_stopping */
	enum pv_worker_wake why[8];
	int64_t took_ms[8];
	int waits;
	int returned;
	char name[32];
};

static void probe_init(struct probe *p, long long timeout_ms)
{
	memset(p, 0, sizeof(*p));
	sem_init(&p->ready, 0, 0);
	sem_init(&p->go, 0, 0);
	sem_init(&p->done, 0, 0);
	p->timeout_ms = timeout_ms;
}

static void probe_destroy(struct probe *p)
{
	sem_destroy(&p->ready);
	sem_destroy(&p->go);
	sem_destroy(&p->done);
}

/* 0 when s was posted within SLACK_MS */
static int take(sem_t *s)
{
	struct timespec deadline;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += SLACK_MS / 1000;
	return sem_timedwait(s, &deadline);
}

static void run(struct pv_worker *w, void *arg)
{
	struct probe *p = arg;

	pthread_getname_np(pthread_self(), p->name, sizeof(p->name));
	sem_post(&p->ready);
	if (p->hold)
		sem_wait(&p->go);
	while ((p->no_check || !pv_worker_stopping(w)) && p->waits < 8 && (p->rounds == 0 || p->waits < p->rounds)) {
		int64_t t0 = pv_monotonic_ms();
		enum pv_worker_wake why = p->use_sleep ? pv_worker_sleep(w, p->timeout_ms)
						       : pv_worker_wait(w, p->timeout_ms);
		p->took_ms[p->waits] = pv_monotonic_ms() - t0;
		p->why[p->waits++] = why;
		sem_post(&p->done);
		if (why == PV_WORKER_STOP)
			break;
	}
	p->returned = 1;
}

static void kick_wakes_a_wait(void **state)
{
	struct pv_worker w;
	struct probe p;

	(void)state;
	probe_init(&p, -1); /* no timeout: only a kick or stop ends it */
	p.rounds = 1;
	assert_int_equal(pv_worker_start(&w, "t-kick", run, &p), 0);
	assert_int_equal(take(&p.ready), 0);
	/* the worker may or may not be waiting yet: either way the kick ends
	 * the wait */
	pv_worker_kick(&w);
	assert_int_equal(take(&p.done), 0);
	assert_int_equal(p.why[0], PV_WORKER_KICKED);
	assert_true(p.took_ms[0] < SLACK_MS);
	pv_worker_stop(&w);
	assert_int_equal(p.returned, 1);
	probe_destroy(&p);
}

static void timeout_elapses(void **state)
{
	struct pv_worker w;
	struct probe p;

	(void)state;
	probe_init(&p, 150);
	p.rounds = 2;
	assert_int_equal(pv_worker_start(&w, "t-timeout", run, &p), 0);
	assert_int_equal(take(&p.done), 0);
	assert_int_equal(take(&p.done), 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(p.why[i], PV_WORKER_TIMEOUT);
		assert_true(p.took_ms[i] >= 149); /* ms are truncated on both ends */
		assert_true(p.took_ms[i] < SLACK_MS);
	}
	pv_worker_stop(&w);
	probe_destroy(&p);
}

static void zero_timeout_returns_at_once(void **state)
{
	struct pv_worker w;
	struct probe p;

	(void)state;
	probe_init(&p, 0);
	p.rounds = 1;
	assert_int_equal(pv_worker_start(&w, "t-zero", run, &p), 0);
	assert_int_equal(take(&p.done), 0);
	assert_int_equal(p.why[0], PV_WORKER_TIMEOUT);
	assert_true(p.took_ms[0] < SLACK_MS);
	pv_worker_stop(&w);
	probe_destroy(&p);
}

static void stop_ends_a_wait_and_joins(void **state)
{
	struct pv_worker w;
	struct probe p;
	int64_t t0;

	(void)state;
	probe_init(&p, 60 * 1000); /* a minute: only stop ends it in time */
	assert_int_equal(pv_worker_start(&w, "t-stop", run, &p), 0);
	assert_int_equal(take(&p.ready), 0);
	t0 = pv_monotonic_ms();
	pv_worker_stop(&w);
	assert_true(pv_monotonic_ms() - t0 < SLACK_MS);
	/* joined: the loop has returned, with what ended its wait */
	assert_int_equal(p.returned, 1);
	assert_true(p.waits <= 1);
	if (p.waits == 1)
		assert_int_equal(p.why[0], PV_WORKER_STOP);
	assert_int_equal(w.started, 0);
	/* a second stop, a kick after stop: no-ops */
	pv_worker_stop(&w);
	pv_worker_kick(&w);
	probe_destroy(&p);
}

static void stop_seen_by_a_wait_in_progress(void **state)
{
	struct pv_worker w;
	struct probe p;

	(void)state;
	probe_init(&p, -1);
	p.no_check = 1;
	assert_int_equal(pv_worker_start(&w, "t-stop2", run, &p), 0);
	/* kick once and see that wait end; the next wait, under way or begun
	 * after the stop, ends with STOP */
	pv_worker_kick(&w);
	assert_int_equal(take(&p.done), 0);
	assert_int_equal(p.why[0], PV_WORKER_KICKED);
	pv_worker_stop(&w);
	assert_int_equal(p.returned, 1);
	assert_int_equal(p.waits, 2);
	assert_int_equal(p.why[1], PV_WORKER_STOP);
	probe_destroy(&p);
}

static void kick_before_first_wait_is_kept(void **state)
{
	struct pv_worker w;
	struct probe p;

	(void)state;
	probe_init(&p, 60 * 1000);
	p.rounds = 1;
	p.hold = 1;
	assert_int_equal(pv_worker_start(&w, "t-early", run, &p), 0);
	assert_int_equal(take(&p.ready), 0);
	pv_worker_kick(&w); /* the worker is busy: it has not waited yet */
	sem_post(&p.go);
	assert_int_equal(take(&p.done), 0);
	assert_int_equal(p.why[0], PV_WORKER_KICKED);
	assert_true(p.took_ms[0] < SLACK_MS);
	pv_worker_stop(&w);
	probe_destroy(&p);
}

static void kicks_coalesce(void **state)
{
	struct pv_worker w;
	struct probe p;

	(void)state;
	probe_init(&p, 200);
	p.rounds = 2;
	p.hold = 1;
	assert_int_equal(pv_worker_start(&w, "t-coalesce", run, &p), 0);
	assert_int_equal(take(&p.ready), 0);
	pv_worker_kick(&w);
	pv_worker_kick(&w);
	pv_worker_kick(&w);
	sem_post(&p.go);
	assert_int_equal(take(&p.done), 0);
	assert_int_equal(take(&p.done), 0);
	/* three kicks while busy: one more pass, then the timeout */
	assert_int_equal(p.why[0], PV_WORKER_KICKED);
	assert_int_equal(p.why[1], PV_WORKER_TIMEOUT);
	assert_true(p.took_ms[1] >= 199);
	pv_worker_stop(&w);
	probe_destroy(&p);
}

static void sleep_ignores_kicks_but_keeps_them(void **state)
{
	struct pv_worker w;
	struct probe p;

	(void)state;
	probe_init(&p, 300);
	p.rounds = 1;
	p.use_sleep = 1;
	p.hold = 1;
	assert_int_equal(pv_worker_start(&w, "t-sleep", run, &p), 0);
	assert_int_equal(take(&p.ready), 0);
	pv_worker_kick(&w);
	sem_post(&p.go);
	assert_int_equal(take(&p.done), 0);
	/* the kick did not shorten the sleep */
	assert_int_equal(p.why[0], PV_WORKER_TIMEOUT);
	assert_true(p.took_ms[0] >= 299);
	pv_worker_stop(&w);
	probe_destroy(&p);
}

/* A loop that sleeps first, then waits: the kick during the sleep ends the
 * wait at once. */
struct sleep_then_wait {
	sem_t sleeping, waited;
	enum pv_worker_wake sleep_why, wait_why;
	int64_t sleep_ms, wait_ms;
};

static void sleep_then_wait_run(struct pv_worker *w, void *arg)
{
	struct sleep_then_wait *s = arg;
	int64_t t0 = pv_monotonic_ms();

	sem_post(&s->sleeping);
	s->sleep_why = pv_worker_sleep(w, 300);
	s->sleep_ms = pv_monotonic_ms() - t0;
	t0 = pv_monotonic_ms();
	s->wait_why = pv_worker_wait(w, 60 * 1000);
	s->wait_ms = pv_monotonic_ms() - t0;
	sem_post(&s->waited);
}

static void kick_during_sleep_ends_next_wait(void **state)
{
	struct pv_worker w;
	struct sleep_then_wait s;

	(void)state;
	memset(&s, 0, sizeof(s));
	sem_init(&s.sleeping, 0, 0);
	sem_init(&s.waited, 0, 0);
	assert_int_equal(pv_worker_start(&w, "t-pending", sleep_then_wait_run, &s), 0);
	assert_int_equal(take(&s.sleeping), 0);
	pv_worker_kick(&w);
	assert_int_equal(take(&s.waited), 0);
	/* the sleep ran its course; the kick then ended the wait at once */
	assert_int_equal(s.sleep_why, PV_WORKER_TIMEOUT);
	assert_true(s.sleep_ms >= 299);
	assert_int_equal(s.wait_why, PV_WORKER_KICKED);
	assert_true(s.wait_ms < SLACK_MS);
	pv_worker_stop(&w);
	sem_destroy(&s.sleeping);
	sem_destroy(&s.waited);
}

static void stop_ends_a_sleep(void **state)
{
	struct pv_worker w;
	struct probe p;
	int64_t t0;

	(void)state;
	probe_init(&p, 60 * 1000);
	p.use_sleep = 1;
	assert_int_equal(pv_worker_start(&w, "t-sleepstop", run, &p), 0);
	assert_int_equal(take(&p.ready), 0);
	t0 = pv_monotonic_ms();
	pv_worker_stop(&w);
	assert_true(pv_monotonic_ms() - t0 < SLACK_MS);
	assert_int_equal(p.returned, 1);
	if (p.waits == 1)
		assert_int_equal(p.why[0], PV_WORKER_STOP);
	probe_destroy(&p);
}

static void thread_is_named(void **state)
{
	struct pv_worker w;
	struct probe p;
	char name[32] = "";

	(void)state;
	probe_init(&p, -1);
	assert_int_equal(pv_worker_start(&w, "pv-reaper", run, &p), 0);
	assert_int_equal(take(&p.ready), 0);
	/* as the thread itself and as others (ps, gdb) see it */
	assert_string_equal(p.name, "pv-reaper");
	assert_int_equal(pthread_getname_np(w.thread, name, sizeof(name)), 0);
	assert_string_equal(name, "pv-reaper");
	pv_worker_stop(&w);
	probe_destroy(&p);

	/* the kernel keeps 15 characters */
	probe_init(&p, -1);
	assert_int_equal(pv_worker_start(&w, "a-name-longer-than-fifteen", run, &p), 0);
	assert_int_equal(take(&p.ready), 0);
	assert_string_equal(p.name, "a-name-longer-t");
	assert_string_equal(w.name, "a-name-longer-t");
	pv_worker_stop(&w);
	probe_destroy(&p);
}

static void never_started_worker(void **state)
{
	struct pv_worker w;

	(void)state;
	memset(&w, 0, sizeof(w));
	pv_worker_kick(NULL);
	pv_worker_stop(NULL);
	pv_worker_kick(&w);
	pv_worker_stop(&w);
	assert_int_equal(w.started, 0);
	assert_int_equal(w.kicked, 0);
}

static void ms_until_a_wall_clock_second(void **state)
{
	int64_t now = (int64_t)time(NULL);
	long long ms;

	(void)state;
	assert_int_equal(pv_worker_ms_until(now - 5), 0);
	assert_int_equal(pv_worker_ms_until(0), 0);
	ms = pv_worker_ms_until(now + 2);
	/* now + 2 begins between 1 and 2 seconds from now (or right at 2) */
	assert_true(ms > 900 && ms <= 2000);
	ms = pv_worker_ms_until(now + 3600);
	assert_true(ms > 3598 * 1000LL && ms <= 3600 * 1000LL);
}

static void monotonic_advances(void **state)
{
	int64_t a = pv_monotonic_ms(), b;
	struct timespec t = { 0, 50 * 1000000L };

	(void)state;
	nanosleep(&t, NULL);
	b = pv_monotonic_ms();
	assert_true(b - a >= 49);
	assert_true(b - a < SLACK_MS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(kick_wakes_a_wait),
		cmocka_unit_test(timeout_elapses),
		cmocka_unit_test(zero_timeout_returns_at_once),
		cmocka_unit_test(stop_ends_a_wait_and_joins),
		cmocka_unit_test(stop_seen_by_a_wait_in_progress),
		cmocka_unit_test(kick_before_first_wait_is_kept),
		cmocka_unit_test(kicks_coalesce),
		cmocka_unit_test(sleep_ignores_kicks_but_keeps_them),
		cmocka_unit_test(kick_during_sleep_ends_next_wait),
		cmocka_unit_test(stop_ends_a_sleep),
		cmocka_unit_test(thread_is_named),
		cmocka_unit_test(never_started_worker),
		cmocka_unit_test(ms_until_a_wall_clock_second),
		cmocka_unit_test(monotonic_advances),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
