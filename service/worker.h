/*
 * worker.h - the one thread skeleton previewd's background threads share.
 *
 * DESIGN
 *
 * The Git writer, the reaper, the notifier, the Argo CD poller and the HTTP
 * server's timer each run one loop on one thread: do the work that is due, then sleep until a
 * deadline, a kick from another thread, or stop.  In the spirit of Redis's
 * bio.c that loop lives here once:
 *
 *	static void run(struct pv_worker *w, void *arg)
 *	{
 *		while (!pv_worker_stopping(w)) {
 *			long long next_ms = do_due_work(arg);
 *			pv_worker_wait(w, next_ms);
 *		}
 *	}
 *
 * The wait is on CLOCK_MONOTONIC, so a step of the wall clock (NTP, a VM
 * resumed) neither fires every timer at once nor stalls one for hours;
 * threads whose deadlines are wall-clock times (expiries) convert them to a
 * delay (pv_worker_ms_until) and check the wall clock again when they wake.  A kick is a flag, not
 * a count: kicks that arrive while the thread works coalesce into one more
 * pass, which is what every owner wants (the work is in SQLite, not in the
 * kick).  Stop sets a flag, wakes the thread and joins it; the loop returns
 * at its next pv_worker_wait or pv_worker_stopping.
 *
 * The struct is embedded in its owner and has its own lock: owners keep
 * their counters under locks of their own.
 */
#ifndef PV_WORKER_H
#define PV_WORKER_H

#include <pthread.h>
#include <stdint.h>

#include "error.h"

struct pv_worker {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;  /* CLOCK_MONOTONIC */
	int kicked, stopping, started;
	char name[16];        /* the thread's name, as ps and gdb show it */
	void (*run)(struct pv_worker *w, void *arg);
	void *arg;
};

/* What ended a pv_worker_wait. */
enum pv_worker_wake {
	PV_WORKER_TIMEOUT = 0,
	PV_WORKER_KICKED = 1,
	PV_WORKER_STOP = 2
};

/* Milliseconds on CLOCK_MONOTONIC. */
int64_t pv_monotonic_ms(void);

/* Milliseconds from now until the wall-clock second `unix_seconds` begins
 * (0 if it has begun): the timeout for a deadline that is a wall-clock
 * time.  The owner re-reads time(NULL) when it wakes. */
long long pv_worker_ms_until(int64_t unix_seconds);

/* Initialise w and start run(w, arg) on a new thread named name (at most 15
 * characters are kept).  On failure w needs no pv_worker_stop. */
int pv_worker_start(struct pv_worker *w, const char *name, void (*run)(struct pv_worker *w, void *arg),
	void *arg) PV_WARN_UNUSED;

/* Wake the thread for one more pass.  Any thread; a no-op on a NULL or
 * never-started worker. */
void pv_worker_kick(struct pv_worker *w);

/* Ask the thread to stop, wake it and join it; then free w's resources.
 * Safe on a worker that was never started or already stopped. */
void pv_worker_stop(struct pv_worker *w);

/* On the worker's thread: sleep until timeout_ms have passed (< 0: no
 * timeout), a kick or stop.  A kick that came while the thread was busy ends
 * the wait at once.  The kick flag is cleared. */
enum pv_worker_wake pv_worker_wait(struct pv_worker *w, long long timeout_ms);

/* As pv_worker_wait, but kicks do not end the wait (they stay pending for
 * the next one): a thread that is backing off sleeps its whole delay. */
enum pv_worker_wake pv_worker_sleep(struct pv_worker *w, long long timeout_ms);

/* Whether stop was asked. */
int pv_worker_stopping(struct pv_worker *w);

#endif
