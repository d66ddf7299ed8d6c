/*
 * worker.c - the background-thread skeleton (see worker.h).
 */
#include "worker.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t pv_monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long pv_worker_ms_until(int64_t unix_seconds)
{
	struct timespec ts;
	long long ms;

	clock_gettime(CLOCK_REALTIME, &ts);
	ms = (long long)(unix_seconds - (int64_t)ts.tv_sec) * 1000 - ts.tv_nsec / 1000000;
	return ms > 0 ? ms : 0;
}

static void *trampoline(void *arg)
{
	struct pv_worker *w = arg;

	pthread_setname_np(pthread_self(), w->name);
	w->run(w, w->arg);
	return NULL;
}

int pv_worker_start(struct pv_worker *w, const char *name, void (*run)(struct pv_worker *w, void *arg),
	void *arg)
{
	pthread_condattr_t attr;

	memset(w, 0, sizeof(*w));
	snprintf(w->name, sizeof(w->name), "%s", name);
	w->run = run;
	w->arg = arg;
	pthread_mutex_init(&w->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&w->wake, &attr);
	pthread_condattr_destroy(&attr);
	if (pthread_create(&w->thread, NULL, trampoline, w) != 0) {
		pthread_cond_destroy(&w->wake);
		pthread_mutex_destroy(&w->lock);
		return pv_error_set(PV_ERROR, NULL, "cannot start the %s thread", w->name);
	}
	w->started = 1;
	return 0;
}

/* Set one of w's flags and wake the thread. */
static void raise_flag(struct pv_worker *w, int *flag)
{
	pthread_mutex_lock(&w->lock);
	*flag = 1;
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
}

void pv_worker_kick(struct pv_worker *w)
{
	if (w && w->started)
		raise_flag(w, &w->kicked);
}

void pv_worker_stop(struct pv_worker *w)
{
	if (!w || !w->started)
		return;
	raise_flag(w, &w->stopping);
	pthread_join(w->thread, NULL);
	pthread_cond_destroy(&w->wake);
	pthread_mutex_destroy(&w->lock);
	w->started = 0;
}

static enum pv_worker_wake wait_for(struct pv_worker *w, long long timeout_ms, int kicks_wake)
{
	struct timespec deadline;
	enum pv_worker_wake why = PV_WORKER_TIMEOUT;

	if (timeout_ms >= 0) {
		clock_gettime(CLOCK_MONOTONIC, &deadline);
		deadline.tv_sec += (time_t)(timeout_ms / 1000);
		deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
		if (deadline.tv_nsec >= 1000000000L) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000L;
		}
	}
	pthread_mutex_lock(&w->lock);
	for (;;) {
		if (w->stopping) {
			why = PV_WORKER_STOP;
			break;
		}
		if (kicks_wake && w->kicked) {
			w->kicked = 0;
			why = PV_WORKER_KICKED;
			break;
		}
		if (timeout_ms < 0)
			pthread_cond_wait(&w->wake, &w->lock);
		else if (pthread_cond_timedwait(&w->wake, &w->lock, &deadline) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&w->lock);
	return why;
}

enum pv_worker_wake pv_worker_wait(struct pv_worker *w, long long timeout_ms)
{
	return wait_for(w, timeout_ms, 1);
}

enum pv_worker_wake pv_worker_sleep(struct pv_worker *w, long long timeout_ms)
{
	return wait_for(w, timeout_ms, 0);
}

int pv_worker_stopping(struct pv_worker *w)
{
	int stop;

	pthread_mutex_lock(&w->lock);
	stop = w->stopping;
	pthread_mutex_unlock(&w->lock);
	return stop;
}
