/*
 * env_sleep.c - sleeping and waking environments through Git (see env.h,
 * pv_env_sleep).
 *
 * An environment sleeps the GitOps way: previewd commits its values with
 * the sleep overlay merged in (a JSON merge patch: the base folder's
 * previewd.yaml `sleep_values`, else PREVIEWD_SLEEP_VALUES), so Argo CD's
 * self-heal keeps it asleep, and on waking commits its own values again.
 * The row's values_json stays the awake values throughout - the API shows
 * them, a PATCH changes them, a base made from the environment starts from
 * them - and the sleeping values are kept beside them (sleep_values_json,
 * schema/015_sleep.sql).  Waking clears those, so the next push writes
 * values_json again: the same bytes as before it slept, never re-derived.
 *
 * A batch (pv_env_sleep_many, pv_env_sleep_due) is one transaction and
 * one kick of the Git writer, whose rounds take every dirty row at once: a
 * few commits however many environments fall asleep together.
 *
 * Who put it to sleep is kept (sleep_by, schema/016_schedule.sql): the
 * schedule wakes only what it owns.  A sleep or wake by hand holds the
 * schedule off until its next boundary (sched_hold_until), after which the
 * schedule owns the environment again whatever state it is in; a wake by
 * hand is activity (the idle clock restarts).  sleeper.h has the whole rule.
 */
#include "env_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "schedule.h"
#include "timefmt.h"
#include "values.h"

#define BASE_HOPS 8  /* a base chain of live environments followed to its folder */

/* The overlay of a base folder's previewd.yaml: 0 with *out NULL when the
 * folder has none (or no sleep_values in it), PV_ECONFLICT when it is there
 * and unusable - a sleep never guesses at replicas a chart names otherwise. */
static int folder_overlay(struct pv_envs *envs, const char *name, json_t **out)
{
	const struct pv_env_git *git = pv_env_git(envs);
	json_t *doc = NULL, *sv;
	char *yaml = NULL;
	size_t len = 0;
	int found = 0, managed = 0, error;

	*out = NULL;
	if (!git->settings)
		return 0;
	/* before the first fetch nothing is known of the folder: not "no
	 * overlay" (PV_EUNAVAIL; the sleeper tries again) */
	if ((error = git->folder(git->ctx, name, &found, &managed, NULL, NULL)) < 0 ||
	    (error = git->settings(git->ctx, name, &found, &yaml, &len)) < 0)
		return error;
	if (!found || !yaml) {
		free(yaml);
		return 0;
	}
	error = pv_values_from_yaml(&doc, yaml, len);
	free(yaml);
	if (error < 0)
		return pv_error_set(PV_ECONFLICT, NULL, "%s/%s/previewd.yaml cannot be read: %s",
			pv_env_config(envs)->env_dir, name, pv_error_last()->message);
	sv = json_object_get(doc, "sleep_values");
	if (sv && !json_is_object(sv)) {
		json_decref(doc);
		return pv_error_set(PV_ECONFLICT, NULL, "%s/%s/previewd.yaml: sleep_values must be a mapping (a merge patch)",
			pv_env_config(envs)->env_dir, name);
	}
	*out = json_incref(sv);
	json_decref(doc);
	return 0;
}

/* The overlay env sleeps with (a new reference). */
static int overlay_of(struct pv_envs *envs, struct pv_store *st, const struct pv_env *env, json_t **out)
{
	char name[sizeof(env->base)];
	struct pv_env up;
	int error;

	*out = NULL;
	snprintf(name, sizeof(name), "%s", env->base);
	for (int hop = 0; hop < BASE_HOPS && name[0]; hop++) {
		if ((error = folder_overlay(envs, name, out)) < 0 || *out)
			return error;
		/* a base that is a live environment: its own base's folder decides */
		error = pv_store_env_get(st, &up, name);
		if (error == PV_ENOTFOUND)
			break;
		if (error < 0)
			return error;
		if (!pv_env_is_live(&up) || strcmp(up.base, name) == 0) {
			pv_env_dispose(&up);
			break;
		}
		snprintf(name, sizeof(name), "%s", up.base);
		pv_env_dispose(&up);
	}
	if (!(*out = json_loads(pv_env_config(envs)->sleep_values, 0, NULL)))
		return pv_error_set(PV_ERROR, NULL, "PREVIEWD_SLEEP_VALUES cannot be read");
	return 0;
}

int pv_env_sleep_values(struct pv_envs *envs, struct pv_store *st, struct pv_env *env)
{
	json_t *overlay = NULL, *values = NULL, *merged = NULL;
	char *s = NULL;
	int error;

	if ((error = overlay_of(envs, st, env, &overlay)) < 0)
		goto out;
	values = json_loads(env->values_json, 0, NULL);
	merged = values ? pv_values_merge_patch(values, overlay) : NULL;
	if (!merged || !json_is_object(merged)) {
		error = pv_error_set(PV_ERROR, NULL, "cannot merge the sleep overlay into the values of '%s'", env->name);
		goto out;
	}
	if ((error = pv_env_check_values(envs, merged)) < 0)
		goto out;
	if (!(s = json_dumps(merged, JSON_COMPACT | JSON_PRESERVE_ORDER))) {
		error = pv_error_set(PV_ERROR, NULL, "out of memory");
		goto out;
	}
	free(env->sleep_values_json);
	env->sleep_values_json = s;
out:
	json_decref(merged);
	json_decref(values);
	json_decref(overlay);
	return error;
}

_Static_assert(sizeof(((struct pv_env *)0)->schedule) == PV_SCHEDULE_MAX_TEXT, "a schedule's text fits the row");

static const char *const cause_names[] = {
	[PV_SLEEP_BY_HAND] = "hand", [PV_SLEEP_BY_SCHEDULE] = "schedule", [PV_SLEEP_BY_IDLE] = "idle"
};

int pv_env_schedule_of(const struct pv_envs *envs, const struct pv_env *env, struct pv_schedule *out)
{
	if (!env->schedule[0]) {
		*out = pv_env_config(envs)->schedule;
		return out->n > 0;
	}
	/* checked when it was set; one that no longer reads is no schedule */
	if (pv_schedule_parse(out, env->schedule, "schedule") < 0)
		out->n = 0;
	return out->n > 0;
}

int64_t pv_env_schedule_hold(const struct pv_envs *envs, const struct pv_env *env, int64_t now)
{
	struct pv_schedule sched;
	int64_t next;

	if (!pv_env_schedule_of(envs, env, &sched))
		return 0;
	/* a schedule that never changes its answer: held for good */
	next = pv_schedule_next(&sched, now);
	return next ? next : INT64_MAX;
}

/* The latest expiry a paused TTL may resume to (the lifetime cap). */
static int64_t resume_expiry(const struct pv_envs *envs, const struct pv_env *env, int64_t now)
{
	int64_t at = now + env->sleep_ttl_left, cap = pv_env_config(envs)->max_lifetime;

	if (cap > 0 && at > env->created_at + cap)
		at = env->created_at + cap;
	return at;
}

/* One environment to sleep (asleep 1) or wake, inside the caller's
 * transaction; env is its row, changed in place.  *changed: it was not in
 * that state yet (a repeat changes nothing and records nothing). */
static int set_asleep(struct pv_envs *envs, struct pv_store *st, const struct pv_actor *actor, struct pv_env *env,
	int asleep, enum pv_sleep_cause cause, int64_t now, int *changed)
{
	int64_t clock = pv_schedule_now();

	json_t *detail;
	char *d = NULL;
	int error;

	*changed = 0;
	if (strcmp(env->status, PV_STATUS_PENDING) != 0 && strcmp(env->status, PV_STATUS_ACTIVE) != 0)
		return pv_error_set(PV_ECONFLICT, NULL, "environment '%s' is %s and cannot %s", env->name, env->status,
			asleep ? "sleep" : "wake");
	if (cause == PV_SLEEP_BY_HAND) {
		/* by hand: the schedule waits for its next boundary, also when
		 * nothing changes (a wake of an awake environment in a window
		 * keeps it awake) */
		env->sched_hold_until = pv_env_schedule_hold(envs, env, clock);
		if (!asleep)
			env->active_at = clock;
		if (asleep == pv_env_is_asleep(env))
			return pv_store_sleep_hold(st, env->id, env->sched_hold_until, asleep ? 0 : clock);
	} else {
		env->sched_hold_until = 0;
	}
	if (asleep == pv_env_is_asleep(env))
		return 0;
	snprintf(env->sleep_by, sizeof(env->sleep_by), "%s", asleep ? cause_names[cause] : "");
	if (asleep) {
		if ((error = pv_env_sleep_values(envs, st, env)) < 0)
			return error;
		env->slept_at = now;
		env->sleep_ttl_left = 0;
		/* a paused TTL: no expiry while asleep, the reaper passes it by */
		if (pv_env_config(envs)->sleep_pauses_ttl && env->expires_at > 0) {
			env->sleep_ttl_left = env->expires_at > now ? env->expires_at - now : 1;
			env->expires_at = 0;
		}
		detail = json_pack("{s:s, s:b, s:o}", "by", cause_names[cause], "ttl_paused", env->sleep_ttl_left > 0,
			"ttl_left_seconds", env->sleep_ttl_left > 0 ? json_integer(env->sleep_ttl_left) : json_null());
	} else {
		int64_t slept = env->slept_at && now > env->slept_at ? now - env->slept_at : 0;
		if (env->sleep_ttl_left > 0)
			env->expires_at = resume_expiry(envs, env, now);
		detail = json_pack("{s:s, s:o, s:I, s:o}", "by", cause_names[cause], "slept_at", pv_env_time_json(env->slept_at),
			"slept_seconds", (json_int_t)slept, "expires_at", pv_env_time_json(env->expires_at));
		free(env->sleep_values_json);
		env->sleep_values_json = NULL;
		env->slept_at = 0;
		env->sleep_ttl_left = 0;
	}
	if (!detail || !(d = json_dumps(detail, JSON_COMPACT | JSON_PRESERVE_ORDER))) {
		json_decref(detail);
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	}
	json_decref(detail);
	env->updated_at = now;
	snprintf(env->changed_by, sizeof(env->changed_by), "%s", actor->name);
	if ((error = pv_store_env_save(st, env)) == 0)
		error = pv_store_event_add(st, env, asleep ? "slept" : "woke", actor->name, actor->from, now, d);
	free(d);
	*changed = error == 0;
	return error;
}

static int one(struct pv_envs *envs, const struct pv_actor *actor, const char *name, int asleep,
	const struct pv_idem_key *idem, struct pv_env *out)
{
	struct pv_store *st;
	int error, changed = 0;
	int64_t now = (int64_t)time(NULL);

	memset(out, 0, sizeof(*out));
	if ((error = pv_env_check_writer(actor)) < 0)
		return error;
	if ((error = pv_env_store(envs, &st)) < 0 || (error = pv_store_begin(st)) < 0)
		return error;
	if ((error = pv_store_env_get(st, out, name)) == PV_ENOTFOUND ||
	    (error == 0 && !pv_env_is_live(out) && strcmp(out->status, PV_STATUS_FAILED) != 0))
		error = pv_error_set(PV_ENOTFOUND, NULL, "no live environment named '%s'", name);
	if (error < 0 ||
	    (error = set_asleep(envs, st, actor, out, asleep, PV_SLEEP_BY_HAND, now, &changed)) < 0 ||
	    (error = pv_idem_record(st, idem, out->id, PV_WAIT_UPDATE, out->gen)) < 0 ||
	    (error = pv_store_commit(st)) < 0) {
		pv_store_rollback(st);
		return error;
	}
	if (changed) {
		pv_env_kick(envs);
		log_info("env: %s put %s to %s", actor->name, out->name, asleep ? "sleep" : "wake");
	}
	return 0;
}

int pv_env_sleep(struct pv_envs *envs, const struct pv_actor *actor, const char *name,
	const struct pv_idem_key *idem, struct pv_env *out)
{
	return one(envs, actor, name, 1, idem, out);
}

int pv_env_wake(struct pv_envs *envs, const struct pv_actor *actor, const char *name,
	const struct pv_idem_key *idem, struct pv_env *out)
{
	return one(envs, actor, name, 0, idem, out);
}

/* A batch: one transaction, one kick.  due (NULL: always) is asked again
 * inside the transaction, so a change that committed since the caller
 * decided (a wake by hand) wins. */
static int batch(struct pv_envs *envs, const struct pv_actor *actor, const char *const *names, size_t n, int asleep,
	enum pv_sleep_cause cause, pv_env_due_cb due, void *payload, int *errors, size_t *changed_out)
{
	struct pv_store *st;
	struct pv_env env;
	size_t changed = 0;
	int error, ch;
	int64_t now = (int64_t)time(NULL);

	if (changed_out)
		*changed_out = 0;
	if ((error = pv_env_check_writer(actor)) < 0)
		return error;
	if ((error = pv_env_store(envs, &st)) < 0 || (error = pv_store_begin(st)) < 0)
		return error;
	for (size_t i = 0; i < n; i++) {
		ch = 0;
		error = pv_store_env_get(st, &env, names[i]);
		if (error == PV_ENOTFOUND || (error == 0 && !pv_env_is_live(&env)))
			error = pv_error_set(PV_ENOTFOUND, NULL, "no live environment named '%s'", names[i]);
		if (error == 0 && (!due || due(&env, payload)))
			error = set_asleep(envs, st, actor, &env, asleep, cause, now, &ch);
		pv_env_dispose(&env);
		if (errors)
			errors[i] = error;
		changed += (size_t)ch;
		/* one environment's refusal is its own; the database's is everyone's */
		if (error < 0 && error != PV_ENOTFOUND && error != PV_ECONFLICT && error != PV_EINVAL) {
			pv_store_rollback(st);
			return error;
		}
	}
	if ((error = pv_store_commit(st)) < 0) {
		pv_store_rollback(st);
		return error;
	}
	if (changed) {
		pv_env_kick(envs);
		log_info("env: %s put %zu environment(s) to %s", actor->name, changed, asleep ? "sleep" : "wake");
	}
	if (changed_out)
		*changed_out = changed;
	return 0;
}

int pv_env_sleep_many(struct pv_envs *envs, const struct pv_actor *actor, const char *const *names, size_t n,
	int asleep, int *errors, size_t *changed_out)
{
	return batch(envs, actor, names, n, asleep, PV_SLEEP_BY_HAND, NULL, NULL, errors, changed_out);
}

int pv_env_sleep_due(struct pv_envs *envs, const struct pv_actor *actor, const char *const *names, size_t n,
	int asleep, enum pv_sleep_cause cause, pv_env_due_cb due, void *payload, size_t *changed_out)
{
	return batch(envs, actor, names, n, asleep, cause, due, payload, NULL, changed_out);
}
