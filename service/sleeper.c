/*
 * sleeper.c - sleeping on a schedule and when idle (see sleeper.h).
 */
#include "sleeper.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "activity.h"
#include "array.h"
#include "log.h"
#include "schedule.h"
#include "store.h"
#include "worker.h"

#define MAX_SLEEP_SECONDS 3600    /* look again now and then even when nothing is due */
#define RETRY_SECONDS 5           /* after a pass the database refused */
#define SCHEDULE_CACHE 8          /* distinct schedules a pass works out once each */
#define PROMETHEUS_LOG_MS (10 * 60 * 1000) /* one line per this while Prometheus fails */
/* every write kicks the sleeper, and a pass reads every live row: under a
 * burst of writes, kicks start a pass at most this often (a timer that
 * falls due sooner - a boundary - is still kept) */
#define KICK_GAP_MS 1000

struct pv_sleeper {
	const struct pv_config *cfg;
	struct pv_envs *envs;
	struct pv_activity *activity;  /* NULL without PREVIEWD_PROMETHEUS_URL */
	struct pv_worker worker;
	/* the worker's own */
	int64_t poll_next_ms;          /* monotonic: the next activity query */
	int activity_known;            /* the last query answered */
	pthread_mutex_t lock;          /* the counters */
	unsigned long long passes, slept, woke, idled, prometheus_errors;
};

static void lower(int64_t *next, int64_t at)
{
	if (at > 0 && (*next == 0 || at < *next))
		*next = at;
}

enum pv_sleeper_act pv_sleeper_decide(const struct pv_env *env, int has_schedule, int want_asleep, int64_t boundary,
	long long idle, int idle_ok, int64_t now, int64_t *next)
{
	int asleep, held, owned;

	if (strcmp(env->status, PV_STATUS_PENDING) != 0 && strcmp(env->status, PV_STATUS_ACTIVE) != 0)
		return PV_SLEEPER_NONE;
	asleep = pv_env_is_asleep(env);
	held = env->sched_hold_until > now;
	/* asleep by hand ("" before the schedule existed) becomes the
	 * schedule's once the hold it set has ended */
	owned = asleep && (strcmp(env->sleep_by, "schedule") == 0 ||
		((strcmp(env->sleep_by, "hand") == 0 || !env->sleep_by[0]) && env->sched_hold_until > 0 && !held));
	if (held)
		lower(next, env->sched_hold_until);
	else if (has_schedule)
		lower(next, boundary);
	if (!held) {
		if (has_schedule && want_asleep && !asleep)
			return PV_SLEEPER_SLEEP;
		if (!want_asleep && owned)
			return PV_SLEEPER_WAKE;
	}
	if (idle > 0 && !asleep) {
		int64_t at = (env->active_at ? env->active_at : env->created_at) + idle;
		if (now >= at && idle_ok)
			return PV_SLEEPER_IDLE;
		if (now < at)
			lower(next, at);
	}
	return PV_SLEEPER_NONE;
}

/* What one schedule says at a pass's now, worked out once per pass. */
struct sched_answer {
	char text[PV_SCHEDULE_MAX_TEXT];
	int has, want;
	int64_t boundary;
};

struct pass_cache {
	struct sched_answer v[SCHEDULE_CACHE];
	size_t n;
};

static void answer_for(struct pv_sleeper *s, struct pass_cache *c, const struct pv_env *env, int64_t now,
	struct sched_answer *out)
{
	struct pv_schedule sched;

	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->v[i].text, env->schedule) == 0) {
			*out = c->v[i];
			return;
		}
	memset(out, 0, sizeof(*out));
	snprintf(out->text, sizeof(out->text), "%s", env->schedule);
	if ((out->has = pv_env_schedule_of(s->envs, env, &sched))) {
		out->want = pv_schedule_asleep(&sched, now);
		out->boundary = pv_schedule_next(&sched, now);
	}
	if (c->n < SCHEDULE_CACHE)
		c->v[c->n++] = *out;
}

/* The batch's question inside its transaction: is this row still due for
 * the same act (a wake by hand may have committed since)? */
struct still {
	struct pv_sleeper *s;
	enum pv_sleeper_act act;
	int64_t now;
};

static int still_due(const struct pv_env *env, void *payload)
{
	struct still *st = payload;
	struct pv_schedule sched;
	int has = pv_env_schedule_of(st->s->envs, env, &sched);
	int64_t ignored = 0;

	return pv_sleeper_decide(env, has, has && pv_schedule_asleep(&sched, st->now), 0, st->s->cfg->idle_sleep, 1,
		       st->now, &ignored) == st->act;
}

/* Activity Prometheus saw since the last poll: recorded, and copied into
 * the pass's rows.  Returns whether activity is known. */
static int poll_activity(struct pv_sleeper *s, struct pv_env_list *live, int64_t now)
{
	const char **names = NULL;
	unsigned char *active = NULL;
	struct pv_store *st;
	size_t n = 0;
	int error;

	if (pv_monotonic_ms() < s->poll_next_ms)
		return s->activity_known;
	s->poll_next_ms = pv_monotonic_ms() + s->cfg->activity_poll * 1000;
	names = calloc(live->n ? live->n : 1, sizeof(*names));
	active = calloc(live->n ? live->n : 1, 1);
	if (!names || !active) {
		error = pv_error_set(PV_ERROR, NULL, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < live->n; i++)
		if (!pv_env_is_asleep(&live->v[i]))
			names[n++] = live->v[i].name;
	if ((error = n ? pv_activity_poll(s->activity, names, n, active) : 0) < 0)
		goto out;
	if ((error = pv_env_store(s->envs, &st)) < 0 || (error = pv_store_begin(st)) < 0)
		goto out;
	for (size_t i = 0, j = 0; i < live->n && error == 0; i++) {
		if (pv_env_is_asleep(&live->v[i]))
			continue;
		if (active[j++]) {
			live->v[i].active_at = now;
			error = pv_store_sleep_touch(st, live->v[i].name, now);
		}
	}
	if (error == 0 && (error = pv_store_commit(st)) < 0)
		pv_store_rollback(st);
	else if (error < 0)
		pv_store_rollback(st);
out:
	free(names);
	free(active);
	if (error < 0) {
		pthread_mutex_lock(&s->lock);
		s->prometheus_errors++;
		pthread_mutex_unlock(&s->lock);
		log_warn_every(PROMETHEUS_LOG_MS, "sleeper: activity unknown, nothing sleeps for idleness: %s",
			pv_error_last()->message);
	} else if (!s->activity_known) {
		log_info("sleeper: Prometheus answers the activity query");
	}
	s->activity_known = error == 0;
	return s->activity_known;
}

static int collect(const struct pv_env *env, void *payload)
{
	return pv_env_list_add(env, payload);
}

/* One pass: what is due now, done; returns the milliseconds to wait. */
static long long pass(struct pv_sleeper *s)
{
	static const struct pv_actor actor = { "sleeper", PV_ROLE_ADMIN, NULL };
	struct pv_env_list live = PV_ENV_LIST_INIT;
	struct pass_cache cache = { .n = 0 };
	const char **names[4] = { NULL };
	size_t count[4] = { 0 }, changed;
	struct pv_store *st;
	int64_t now = pv_schedule_now(), next = 0;
	long long wait_ms = MAX_SLEEP_SECONDS * 1000LL;
	int error, idle_ok = s->cfg->idle_sleep > 0, failed = 0;

	if ((error = pv_env_store(s->envs, &st)) < 0 || (error = pv_store_sleep_live(st, collect, &live)) < 0) {
		log_warn_every(PROMETHEUS_LOG_MS, "sleeper: cannot read the environments: %s", pv_error_last()->message);
		pv_env_list_dispose(&live);
		return RETRY_SECONDS * 1000LL;
	}
	if (s->activity && idle_ok)
		idle_ok = poll_activity(s, &live, now);
	for (int a = 1; a < 4; a++)
		if (!(names[a] = calloc(live.n ? live.n : 1, sizeof(*names[a]))))
			failed = 1;
	for (size_t i = 0; i < live.n && !failed; i++) {
		struct sched_answer ans;
		answer_for(s, &cache, &live.v[i], now, &ans);
		enum pv_sleeper_act act = pv_sleeper_decide(&live.v[i], ans.has, ans.want, ans.boundary,
			s->cfg->idle_sleep, idle_ok, now, &next);
		if (act != PV_SLEEPER_NONE)
			names[act][count[act]++] = live.v[i].name;
	}
	for (int a = 1; a < 4 && !failed; a++) {
		static const enum pv_sleep_cause cause[4] = { 0, PV_SLEEP_BY_SCHEDULE, PV_SLEEP_BY_SCHEDULE, PV_SLEEP_BY_IDLE };
		struct still due = { s, (enum pv_sleeper_act)a, now };
		if (!count[a])
			continue;
		changed = 0;
		if (pv_env_sleep_due(s->envs, &actor, names[a], count[a], a != PV_SLEEPER_WAKE, cause[a], still_due, &due,
			    &changed) < 0) {
			log_warn_every(60 * 1000, "sleeper: %zu environment(s) to %s: %s", count[a], a == PV_SLEEPER_WAKE ? "wake" : "sleep",
				pv_error_last()->message);
			failed = 1;
			break;
		}
		pthread_mutex_lock(&s->lock);
		*(a == PV_SLEEPER_SLEEP ? &s->slept : a == PV_SLEEPER_WAKE ? &s->woke : &s->idled) += changed;
		pthread_mutex_unlock(&s->lock);
	}
	for (int a = 1; a < 4; a++)
		free(names[a]);
	pv_env_list_dispose(&live);
	pthread_mutex_lock(&s->lock);
	s->passes++;
	pthread_mutex_unlock(&s->lock);
	if (failed)
		return RETRY_SECONDS * 1000LL;
	/* next is on the schedule's clock; the wait is on the real one */
	if (next) {
		long long ms = pv_worker_ms_until(next - (pv_schedule_now() - (int64_t)time(NULL)));
		if (ms < wait_ms)
			wait_ms = ms;
	}
	if (s->activity && s->cfg->idle_sleep > 0) {
		long long ms = s->poll_next_ms - pv_monotonic_ms();
		wait_ms = ms < wait_ms ? (ms < 0 ? 0 : ms) : wait_ms;
	}
	return wait_ms;
}

static void run(struct pv_worker *w, void *arg)
{
	struct pv_sleeper *s = arg;

	while (!pv_worker_stopping(w)) {
		int64_t started = pv_monotonic_ms();
		long long wait_ms = pass(s), gap = started + KICK_GAP_MS - pv_monotonic_ms();

		if (gap > 0 && wait_ms > 0) {
			long long t = gap < wait_ms ? gap : wait_ms;
			if (pv_worker_sleep(w, t) == PV_WORKER_STOP)
				break;
			wait_ms -= t;
		}
		pv_worker_wait(w, wait_ms);
	}
}

int pv_sleeper_new(struct pv_sleeper **out, const struct pv_config *cfg, struct pv_envs *envs)
{
	struct pv_sleeper *s = calloc(1, sizeof(*s));
	int error;

	*out = NULL;
	if (!s)
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	s->cfg = cfg;
	s->envs = envs;
	pthread_mutex_init(&s->lock, NULL);
	if (*cfg->prometheus_url && (error = pv_activity_new(&s->activity, cfg)) < 0) {
		pthread_mutex_destroy(&s->lock);
		free(s);
		return error;
	}
	*out = s;
	return 0;
}

int pv_sleeper_start(struct pv_sleeper *s)
{
	return pv_worker_start(&s->worker, "pv-sleeper", run, s);
}

void pv_sleeper_kick(struct pv_sleeper *s)
{
	if (s)
		pv_worker_kick(&s->worker);
}

void pv_sleeper_free(struct pv_sleeper *s)
{
	if (!s)
		return;
	pv_worker_stop(&s->worker);
	pv_activity_free(s->activity);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

int pv_sleeper_metrics(struct pv_sleeper *s, struct pv_strbuf *out)
{
	unsigned long long passes, slept, woke, idled, errors;

	if (!s)
		return 0;
	pthread_mutex_lock(&s->lock);
	passes = s->passes, slept = s->slept, woke = s->woke, idled = s->idled, errors = s->prometheus_errors;
	pthread_mutex_unlock(&s->lock);
	return pv_strbuf_printf(out,
		"# HELP previewd_sleeper_passes_total Passes of the sleeper over the live environments.\n"
		"# TYPE previewd_sleeper_passes_total counter\n"
		"previewd_sleeper_passes_total %llu\n"
		"# HELP previewd_sleeper_changes_total Environments the sleeper put to sleep or woke, by why.\n"
		"# TYPE previewd_sleeper_changes_total counter\n"
		"previewd_sleeper_changes_total{change=\"schedule_sleep\"} %llu\n"
		"previewd_sleeper_changes_total{change=\"schedule_wake\"} %llu\n"
		"previewd_sleeper_changes_total{change=\"idle_sleep\"} %llu\n"
		"# HELP previewd_sleeper_activity_errors_total Activity queries to Prometheus that failed.\n"
		"# TYPE previewd_sleeper_activity_errors_total counter\n"
		"previewd_sleeper_activity_errors_total %llu\n",
		passes, slept, woke, idled, errors);
}
