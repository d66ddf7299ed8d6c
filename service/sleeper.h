/*
 * sleeper.h - the sleeper thread: environments sleep on a schedule and
 * when idle, the GitOps way (env_sleep.c's batches).
 *
 * DESIGN
 *
 * One owner, its worker (worker.h, thread "pv-sleeper").  Each pass reads
 * every live environment and asks what is due now - not what changed since
 * the last pass, so a restart in the middle of a window leaves everything
 * as it should be - and puts all that is due to sleep (or wakes it) in one
 * transaction per kind, which the Git writer turns into a few commits.
 * Then it waits until the next schedule boundary, hold end or idle
 * deadline, the next Prometheus poll, or a kick (every write kicks it: a
 * PATCH of a schedule is seen at once).
 *
 * The rule, for an environment that is pending or active:
 *
 *  - Its schedule is its own "schedule", else PREVIEWD_SLEEP_SCHEDULE;
 *    "none" is never asleep by the schedule.
 *  - A sleep or wake by hand (API, chat, page) and a create hold the
 *    schedule off until its next boundary (the next instant its answer
 *    changes).  Until then the schedule leaves it alone: woken in a sleep
 *    window it stays awake until the window ends; put to sleep in awake
 *    hours it stays asleep into the next window and so to the window's end.
 *    A PATCH of "schedule" clears the hold: the new schedule applies now.
 *  - Not held: when the schedule says asleep and it is awake, it sleeps
 *    (by "schedule").  When the schedule says awake and it is asleep by the
 *    schedule - or asleep by hand with a hold that has ended - it wakes.
 *    What idleness put to sleep stays asleep until woken by hand.
 *  - Idle (PREVIEWD_IDLE_SLEEP): awake, and no activity since
 *    PREVIEWD_IDLE_SLEEP ago - activity being a create, PATCH, extend or
 *    wake, and with PREVIEWD_PROMETHEUS_URL requests in its namespace
 *    (activity.h) - it sleeps (by "idle").  A hold does not stop this (the
 *    wake that set it restarted the idle clock).  While Prometheus cannot be
 *    read (since the last poll failed, or before the first answer), nothing
 *    sleeps for idleness.
 *
 * The clock is pv_schedule_now() (schedule.h): time(NULL) in production;
 * tests shift it with PREVIEWD_NOW_OFFSET to cross weekends and
 * daylight-saving changes without waiting.
 *
 * Threads: its own worker; the environments' rules through env.h on the
 * thread's own connection; pv_sleeper_kick from any.
 */
#ifndef PV_SLEEPER_H
#define PV_SLEEPER_H

#include <stdint.h>

#include "config.h"
#include "env.h"
#include "error.h"
#include "strbuf.h"

/* What a pass does to one environment. */
enum pv_sleeper_act {
	PV_SLEEPER_NONE = 0,
	PV_SLEEPER_SLEEP,   /* the schedule says asleep */
	PV_SLEEPER_WAKE,    /* the schedule says awake, and the sleep is the schedule's */
	PV_SLEEPER_IDLE     /* no activity for PREVIEWD_IDLE_SLEEP */
};

/*
 * The rule above, pure: env at now, whose schedule exists (has_schedule),
 * says want_asleep now and changes its answer next at boundary (0: never,
 * or not needed); idle seconds (0: off); idle_ok 0 while activity cannot be
 * known.  *next is lowered to the time this environment next needs a look
 * (left alone when none).
 */
enum pv_sleeper_act pv_sleeper_decide(const struct pv_env *env, int has_schedule, int want_asleep, int64_t boundary,
	long long idle, int idle_ok, int64_t now, int64_t *next);

struct pv_sleeper;

/* A sleeper on envs (which must outlive it), not running yet: who kicks it
 * is told before its thread starts. */
int pv_sleeper_new(struct pv_sleeper **out, const struct pv_config *cfg, struct pv_envs *envs) PV_WARN_UNUSED;

/* Start its thread.  It always runs: an environment may bring its own
 * schedule whatever the settings say. */
int pv_sleeper_start(struct pv_sleeper *s) PV_WARN_UNUSED;

void pv_sleeper_kick(struct pv_sleeper *s);

/* Stop (if started) and free; NULL is fine. */
void pv_sleeper_free(struct pv_sleeper *s);

/* Counters in Prometheus text (any thread). */
int pv_sleeper_metrics(struct pv_sleeper *s, struct pv_strbuf *out) PV_WARN_UNUSED;

#endif
