/*
 * env.c - the environment rules and operations (see env.h).
 */
#include "env_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cost.h"
#include "log.h"
#include "opencost.h"
#include "ratelimit.h"
#include "schedule.h"
#include "timefmt.h"
#include "valid.h"
#include "values.h"

#define VALUES_MAX_DEPTH 32

struct pv_envs {
	const struct pv_config *cfg;
	struct pv_env_git git;
	struct pv_store_threads *db;
	struct pv_ratelimit *creates;  /* PREVIEWD_CREATE_RATE, per token or client address */
};

int pv_env_new(struct pv_envs **out, const struct pv_config *cfg, const struct pv_store_settings *settings,
	const struct pv_env_git *git)
{
	struct pv_envs *envs = calloc(1, sizeof(*envs));
	int error;

	*out = NULL;
	if (!envs)
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	envs->cfg = cfg;
	envs->git = *git;
	if ((error = pv_store_threads_new(&envs->db, settings)) < 0) {
		free(envs);
		return error;
	}
	if ((error = pv_ratelimit_new(&envs->creates, cfg->create_rate, cfg->create_burst, NULL, NULL)) < 0) {
		pv_env_free(envs);
		return error;
	}
	*out = envs;
	return 0;
}

void pv_env_free(struct pv_envs *envs)
{
	if (!envs)
		return;
	pv_store_threads_free(envs->db);
	pv_ratelimit_free(envs->creates);
	free(envs);
}

const struct pv_config *pv_env_config(const struct pv_envs *envs)
{
	return envs->cfg;
}

const struct pv_env_git *pv_env_git(const struct pv_envs *envs)
{
	return &envs->git;
}

void pv_env_kick(struct pv_envs *envs)
{
	envs->git.kick(envs->git.ctx);
}

int pv_env_store(struct pv_envs *envs, struct pv_store **out)
{
	int error = pv_store_threads_get(envs->db, out);

	if (error < 0)
		return pv_error_set(PV_EUNAVAIL, NULL, "the database is unavailable: %s", pv_error_last()->message);
	return 0;
}

/* ---- JSON of an environment --------------------------------------------- */

json_t *pv_env_time_json(int64_t t)
{
	char buf[PV_TIME_LEN];

	if (t <= 0)
		return json_null();
	pv_time_format(buf, sizeof(buf), t);
	return json_string(buf);
}

json_t *pv_env_json(const struct pv_envs *envs, const struct pv_env *env)
{
	return pv_env_json_part(envs, env, 1);
}

/* cost: {per_day, source, saved_by_sleep_last_7d} (cost.h, pv_store_cost):
 * per_day is OpenCost's figure or the estimate, null when there is
 * neither.  The saving is always the estimate's: what OpenCost measured
 * includes the hours asleep, when the namespace cost next to nothing, so
 * it cannot say what they saved; null without PREVIEWD_COST_RATES or when
 * the values or the history cannot be read. */
static json_t *cost_json(const struct pv_envs *envs, const struct pv_env *env, int64_t now)
{
	int64_t end = env->deleted_at > 0 && env->deleted_at < now ? env->deleted_at : now, asleep = 0;
	const char *source = NULL;
	struct pv_store *st;
	double per_day = 0, estimate;
	json_t *j;

	if (pv_store_threads_get(envs->db, &st) < 0)
		return json_pack("{s:n, s:n, s:n}", "per_day", "source", "saved_by_sleep_last_7d");
	j = pv_store_cost(st, envs->cfg, env, now, &per_day, &source) > 0
		? json_pack("{s:f, s:s, s:n}", "per_day", per_day, "source", source, "saved_by_sleep_last_7d")
		: json_pack("{s:n, s:n, s:n}", "per_day", "source", "saved_by_sleep_last_7d");
	if (j && envs->cfg->cost && pv_cost_per_day_text(envs->cfg->cost, env->values_json, &estimate) == 0 &&
	    pv_store_asleep(st, env->id, end - PV_COST_WINDOW, end, &asleep) == 0)
		json_object_set_new(j, "saved_by_sleep_last_7d", json_real(pv_cost_saved(estimate, asleep)));
	return j;
}

json_t *pv_env_json_part(const struct pv_envs *envs, const struct pv_env *env, int with_values)
{
	char url[256], path[256];
	json_t *values = with_values ? json_loads(env->values_json, 0, NULL) : NULL, *j;
	int64_t now = (int64_t)time(NULL);
	int ended = strcmp(env->status, PV_STATUS_DELETED) == 0 || strcmp(env->status, PV_STATUS_FAILED) == 0;

	snprintf(url, sizeof(url), "http://%s.%s", env->name, envs->cfg->domain);
	snprintf(path, sizeof(path), "%s/%s", envs->cfg->env_dir, env->name);
	/* what Argo CD last said; null until it was asked (not configured, or
	 * not reached yet) - its age is checked_at, so a stale answer shows */
	json_t *argocd = env->argocd_checked_at
		? json_pack("{s:s, s:s, s:o}", "sync", env->argocd_sync, "health", env->argocd_health,
			"checked_at", pv_env_time_json(env->argocd_checked_at))
		: json_null();

	j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, "
			 "s:o, s:{s:s, s:o, s:b, s:o, s:o}, s:o}",
		"name", env->name, "owner", env->owner,
		"status", pv_env_is_asleep(env) ? PV_STATUS_SLEEPING : env->status, "url", url,
		"namespace", env->name, "base", env->base, "requested_by", env->requested_by,
		"cluster", env->cluster[0] ? json_string(env->cluster) : json_null(),
		"created_at", pv_env_time_json(env->created_at), "updated_at", pv_env_time_json(env->updated_at),
		"expires_at", pv_env_time_json(env->expires_at), "deleted_at", pv_env_time_json(env->deleted_at),
		"values", values ? values : json_object(),
		"ttl_seconds", env->expires_at == 0 ? json_null()
			: json_integer(env->expires_at > now && !ended ? env->expires_at - now : 0),
		"idle_ttl_seconds", env->idle_ttl ? json_integer(env->idle_ttl) : json_null(),
		"git", "path", path,
		"commit", env->git_commit[0] ? json_string(env->git_commit) : json_null(),
		"pending", env->gen > env->pushed_gen,
		"error", env->git_error ? json_string(env->git_error) : json_null(),
		"pushed_at", pv_env_time_json(env->pushed_at),
		"argocd", argocd);
	/* asleep: since when, and a paused TTL's seconds left (expires_at is
	 * null until it wakes); values stay the awake ones */
	if (j && pv_env_is_asleep(env))
		json_object_set_new(j, "sleep", json_pack("{s:o, s:o, s:s}", "since", pv_env_time_json(env->slept_at),
			"ttl_left_seconds", env->sleep_ttl_left > 0 ? json_integer(env->sleep_ttl_left) : json_null(),
			"by", env->sleep_by[0] ? env->sleep_by : "hand"));
	else if (j)
		json_object_set_new(j, "sleep", json_null());
	/* its own schedule (null: PREVIEWD_SLEEP_SCHEDULE's), and until when a
	 * sleep or wake by hand holds the schedule off */
	if (j) {
		int64_t held = env->sched_hold_until > pv_schedule_now() && pv_env_is_live(env) ? env->sched_hold_until : 0;
		json_object_set_new(j, "schedule", env->schedule[0] ? json_string(env->schedule) : json_null());
		json_object_set_new(j, "schedule_held_until", held && held != INT64_MAX ? pv_env_time_json(held)
			: held ? json_string("never") : json_null());
	}
	/* a list page leaves out the values: they are most of an environment's
	 * size (up to PREVIEWD_MAX_VALUES_BYTES each) */
	if (j && !with_values)
		json_object_del(j, "values");
	if (j && (envs->cfg->cost || PV_OPENCOST_ON(envs->cfg)))
		json_object_set_new(j, "cost", cost_json(envs, env, now));
	return j;
}

/* ---- the rules ---------------------------------------------------------- */

int pv_env_ttl(const struct pv_envs *envs, const json_t *v, long long *out)
{
	const struct pv_config *cfg = envs->cfg;
	char max[32], asked[32], min[32];
	long long secs;

	*out = cfg->default_ttl;
	if (!v)
		return 0;
	if (json_is_string(v) && strcmp(json_string_value(v), "never") == 0) {
		if (!cfg->allow_never)
			return pv_error_set(PV_EINVAL, "ttl", "ttl \"never\" is not allowed here: environments must expire");
		*out = 0;
		return 0;
	}
	if (json_is_integer(v)) {
		secs = json_integer_value(v);
		if (secs <= 0)
			return pv_error_set(PV_EINVAL, "ttl", "ttl must be a positive number of seconds");
	} else if (json_is_string(v)) {
		if (pv_valid_duration(&secs, json_string_value(v), "ttl") < 0)
			return PV_EINVAL;
	} else {
		return pv_error_set(PV_EINVAL, "ttl", "ttl must be a duration string such as \"8h\" or a number of seconds");
	}
	pv_valid_format_duration(asked, sizeof(asked), secs);
	if (secs < cfg->min_ttl) {
		pv_valid_format_duration(min, sizeof(min), cfg->min_ttl);
		return pv_error_set(PV_EINVAL, "ttl", "ttl %s is below the minimum of %s", asked, min);
	}
	if (secs > cfg->max_ttl) {
		pv_valid_format_duration(max, sizeof(max), cfg->max_ttl);
		return pv_error_set(PV_EINVAL, "ttl", "ttl %s exceeds the maximum of %s", asked, max);
	}
	*out = secs;
	return 0;
}

int pv_env_idle_ttl(const struct pv_envs *envs, const json_t *v, long long *out)
{
	json_t *never = json_string("never");
	int error = 0;

	*out = 0;
	if (v && json_is_integer(v) && json_integer_value(v) == 0)
		return json_decref(never), 0;
	if (v && json_equal(v, never))
		error = pv_error_set(PV_EINVAL, "idle_ttl", "idle_ttl \"never\" is no inactivity expiry: leave it out or use 0");
	json_decref(never);
	if (error < 0 || !v)
		return error;
	if ((error = pv_env_ttl(envs, v, out)) < 0)
		return pv_error_set(error, "idle_ttl", "idle_%s", pv_error_last()->message);
	return 0;
}

int pv_env_schedule_text(const json_t *v, const char **out)
{
	struct pv_schedule sched;
	const char *text;

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v) || !*(text = json_string_value(v)))
		return pv_error_set(PV_EINVAL, "schedule",
			"schedule must be a sleep schedule such as \"Mon-Fri 19:00-08:00; Sat-Sun\", or \"none\"");
	if (pv_schedule_parse(&sched, text, "schedule") < 0)
		return PV_EINVAL;
	*out = text;
	return 0;
}

/* The inactivity expiry after activity at now: now + idle_ttl, capped by
 * the maximum lifetime, and never earlier than the expiry already set (an
 * extension by hand is not undone by a push). */
static int64_t idle_expiry(const struct pv_envs *envs, const struct pv_env *env, int64_t now)
{
	int64_t e = now + env->idle_ttl;

	if (envs->cfg->max_lifetime > 0 && e > env->created_at + envs->cfg->max_lifetime)
		e = env->created_at + envs->cfg->max_lifetime;
	return env->expires_at == 0 || env->expires_at > e ? env->expires_at : e;
}

/* PREVIEWD_MAX_LIFETIME: however often it is extended, an environment does
 * not outlive created_at + max_lifetime.  The error says by how much the
 * request overshoots and what the latest possible expiry is. */
static int check_lifetime(const struct pv_envs *envs, int64_t created_at, int64_t expires_at)
{
	char cap[32], over[32], until[PV_TIME_LEN];
	int64_t limit;

	if (envs->cfg->max_lifetime <= 0)
		return 0;
	limit = created_at + envs->cfg->max_lifetime;
	pv_valid_format_duration(cap, sizeof(cap), envs->cfg->max_lifetime);
	pv_time_format(until, sizeof(until), limit);
	if (expires_at == 0)
		return pv_error_set(PV_EINVAL, "ttl", "ttl \"never\" exceeds the maximum lifetime of %s (until %s at most)",
			cap, until);
	if (expires_at <= limit)
		return 0;
	pv_valid_format_duration(over, sizeof(over), expires_at - limit);
	return pv_error_set(PV_EINVAL, "ttl", "ttl would pass the maximum lifetime of %s by %s; it can run until %s at most",
		cap, over, until);
}

/* Render merged values once to make sure they survive YAML as written. */
int pv_env_check_values(const struct pv_envs *envs, const json_t *values)
{
	char *yaml = NULL;
	size_t len = 0;
	int error;

	if ((error = pv_values_check(values, VALUES_MAX_DEPTH)) < 0)
		return pv_error_set(error, "values", "%s", pv_error_last()->message);
	error = pv_values_render(&yaml, &len, NULL, values, (size_t)envs->cfg->max_values_bytes);
	free(yaml);
	/* the body was within its limit; what is too large is the merged
	 * result, a property of the request's content: 422, not 413 */
	if (error == PV_ETOOBIG)
		error = PV_EINVAL;
	if (error < 0)
		return pv_error_set(error, "values", "%s", pv_error_last()->message);
	return 0;
}

/* PREVIEWD_VALUES_STRICT: a request's values must fit the values they patch
 * (values.h, pv_values_fit). */
static int check_fit(const struct pv_envs *envs, const json_t *target, const json_t *patch, const char *kind,
	const char *name)
{
	char what[96];

	if (!envs->cfg->values_strict || !patch)
		return 0;
	snprintf(what, sizeof(what), "the %s %s", kind, name);
	return pv_values_fit(target, patch, what, NULL);
}

/* The values an environment starts from: a live previewd environment's
 * recorded values (pushed or not), else a people-managed folder's
 * values.yaml from Git (its text in *yaml when yaml is not NULL, for
 * GET /v1/bases/{name}).  PV_ENOTFOUND when it is neither; a create says
 * so on "base". */
static int base_values(json_t **out, struct pv_envs *envs, struct pv_store *st, const char *base, char **yaml_out,
	size_t *yaml_len)
{
	char *yaml = NULL;
	size_t len = 0;
	int exists, managed, error;
	struct pv_env env;

	*out = NULL;
	error = pv_store_env_get(st, &env, base);
	if (error == 0 && pv_env_is_live(&env)) {
		*out = json_loads(env.values_json, 0, NULL);
		pv_env_dispose(&env);
		return *out ? 0 : pv_error_set(PV_ERROR, NULL, "recorded values of '%s' are unreadable", base);
	}
	pv_env_dispose(&env);
	if (error < 0 && error != PV_ENOTFOUND)
		return error;
	if ((error = envs->git.folder(envs->git.ctx, base, &exists, &managed, &yaml, &len)) < 0)
		return error;
	if (!exists || managed || !yaml) {
		free(yaml);
		return pv_error_set(PV_ENOTFOUND, "base", "base '%s' is neither a live environment nor a folder with a values.yaml in %s/",
			base, envs->cfg->env_dir);
	}
	error = pv_values_from_yaml(out, yaml, len);
	if (error == 0 && yaml_out) {
		*yaml_out = yaml;
		*yaml_len = len;
		yaml = NULL;
	}
	free(yaml);
	if (error == PV_EINVAL || error == PV_ETOOBIG)
		return pv_error_set(error, "base", "values.yaml of base '%s' cannot be used: %s", base, pv_error_last()->message);
	return error;
}

int pv_env_base(struct pv_envs *envs, const char *name, json_t **values, int *is_env, char **yaml, size_t *yaml_len)
{
	struct pv_store *st;
	int error;

	*values = NULL;
	*yaml = NULL;
	*yaml_len = 0;
	if ((error = pv_valid_name(name, "base")) < 0)
		return pv_error_set(PV_ENOTFOUND, NULL, "no base named '%.64s'", name);
	if ((error = pv_env_store(envs, &st)) < 0 || (error = base_values(values, envs, st, name, yaml, yaml_len)) < 0)
		return error;
	*is_env = *yaml == NULL;
	return 0;
}

/* Quotas, checked inside the create transaction so that concurrent creates
 * cannot both slip under a limit. */
static int check_quota(const struct pv_envs *envs, struct pv_store *st, const char *owner)
{
	const struct pv_config *cfg = envs->cfg;
	long long of_owner, total;
	int error;

	if (!cfg->max_envs_per_owner && !cfg->max_envs)
		return 0;
	if ((error = pv_store_count_live(st, owner, &of_owner, &total)) < 0)
		return error;
	if (cfg->max_envs_per_owner && of_owner >= cfg->max_envs_per_owner)
		return pv_error_set(PV_EQUOTA, "owner",
			"owner '%s' has %lld live environments and the limit per owner is %lld (PREVIEWD_MAX_ENVS_PER_OWNER); "
			"delete one first", owner, of_owner, cfg->max_envs_per_owner);
	if (cfg->max_envs && total >= cfg->max_envs)
		return pv_error_set(PV_EQUOTA, NULL,
			"previewd holds %lld live environments and the total limit is %lld (PREVIEWD_MAX_ENVS)",
			total, cfg->max_envs);
	return 0;
}

/* Whose bucket a create takes from: the token's (or Slack user's) name, or
 * in open mode, where everyone is "anonymous", the client's address.  The
 * address is the one the actor carries (api.c's client_address). */
static void rate_key(char *buf, size_t len, const struct pv_actor *actor)
{
	if (strcmp(actor->name, "anonymous") == 0)
		snprintf(buf, len, "addr:%s", actor->from ? actor->from : "-");
	else
		snprintf(buf, len, "actor:%s", actor->name);
}

/* PREVIEWD_CREATE_RATE: every create that passes the role check takes a
 * token, whatever it comes to (a flood of refused creates costs work too);
 * a replayed Idempotency-Key never gets here and takes none.  Previewd's own
 * creates (no address, not anonymous) are limited by their actor's name. */
static int check_rate(struct pv_envs *envs, const struct pv_actor *actor)
{
	char key[PV_RATELIMIT_KEY_MAX + 1];
	long long retry;

	rate_key(key, sizeof(key), actor);
	if (pv_ratelimit_take(envs->creates, key, &retry))
		return 0;
	pv_error_set(PV_ERATE, NULL,
		"%s may create %lld environments a minute, %lld at once (PREVIEWD_CREATE_RATE, PREVIEWD_CREATE_BURST); "
		"retry in %lld s", strcmp(actor->name, "anonymous") == 0 ? (actor->from ? actor->from : "this client")
		: actor->name, envs->cfg->create_rate, envs->cfg->create_burst, retry);
	pv_error_retry_after(retry);
	return PV_ERATE;
}

/* an Argo CD cluster name: it lands in a file a generator reads */
int pv_env_check_cluster(const char *cluster)
{
	size_t n = strlen(cluster);

	if (n && (n > 63 || strspn(cluster, "abcdefghijklmnopqrstuvwxyz0123456789-.") != n ||
		  !isalnum((unsigned char)cluster[0])))
		return pv_error_set(PV_EINVAL, "cluster",
			"cluster must be an Argo CD cluster name: 1-63 characters of a-z, 0-9, '-' and '.'");
	return 0;
}

/* A create of name, whose folder in Git carries a previewd.json: 409 unless
 * a live record holds the name (the insert then says it exists). */
static int check_no_marker(const struct pv_config *cfg, struct pv_store *st, const char *name)
{
	struct pv_env live = { 0 };
	int error = pv_store_env_get(st, &live, name), taken = error == 0 && pv_env_is_live(&live);

	pv_env_dispose(&live);
	if (error < 0 && error != PV_ENOTFOUND)
		return error;
	if (taken)
		return 0;
	return pv_error_set(PV_ECONFLICT, "name",
		"the folder %s/%s exists in Git with a previewd.json this previewd did not write for it", cfg->env_dir, name);
}

/* Changes need a writer; the doors check first, this is the rule itself. */
int pv_env_check_writer(const struct pv_actor *actor)
{
	if (actor->role < PV_ROLE_WRITER)
		return pv_error_set(PV_EFORBIDDEN, NULL, "'%s' may read but not change environments", actor->name);
	return 0;
}

/* ---- writes ------------------------------------------------------------- */

int pv_env_create(struct pv_envs *envs, const struct pv_actor *actor, const struct pv_env_spec *spec,
	const struct pv_idem_key *idem, struct pv_env *out)
{
	const struct pv_config *cfg = envs->cfg;
	const char *owner = spec->owner, *name = spec->name, *base_name = spec->base, *cluster = spec->cluster, *schedule;
	json_t *base = NULL, *merged = NULL;
	struct pv_store *st;
	long long ttl, idle;
	int exists, managed, error;
	int64_t now = (int64_t)time(NULL);

	memset(out, 0, sizeof(*out));
	if ((error = pv_env_check_writer(actor)) < 0 || (error = check_rate(envs, actor)) < 0)
		goto out;
	if (!cluster)
		cluster = cfg->default_cluster ? cfg->default_cluster : "";
	if ((error = pv_env_check_cluster(cluster)) < 0)
		goto out;
	if (!owner) {
		error = pv_error_set(PV_EINVAL, "owner", "owner is required");
		goto out;
	}
	if (!name)
		name = owner;
	if (!base_name)
		base_name = cfg->base_env;
	if ((error = pv_valid_name(owner, "owner")) < 0 || (error = pv_valid_name(name, "name")) < 0 ||
	    (error = pv_valid_reserved(name, "name", cfg->reserved, cfg->reserved_count)) < 0 ||
	    (error = pv_valid_name(base_name, "base")) < 0 || (error = pv_env_ttl(envs, spec->ttl, &ttl)) < 0 ||
	    (error = pv_env_idle_ttl(envs, spec->idle_ttl, &idle)) < 0 ||
	    (error = pv_env_schedule_text(spec->schedule, &schedule)) < 0)
		goto out;
	if (spec->values && !json_is_object(spec->values)) {
		error = pv_error_set(PV_EINVAL, "values", "values must be a JSON object");
		goto out;
	}
	/* a folder people made is theirs: previewd never takes it over */
	if ((error = envs->git.folder(envs->git.ctx, name, &exists, &managed, NULL, NULL)) < 0)
		goto out;
	if (exists && !managed) {
		error = pv_error_set(PV_ECONFLICT, "name", "the folder %s/%s exists in Git and is not managed by previewd",
			cfg->env_dir, name);
		goto out;
	}
	if ((error = pv_env_store(envs, &st)) < 0)
		goto out;
	/* a previewd.json grants nothing: a new record has no marker in Git yet,
	 * so one there is a copy, a hand-written file or another instance's
	 * (a live record of the name is refused below as a duplicate) */
	if (exists && (error = check_no_marker(cfg, st, name)) < 0)
		goto out;
	if ((error = base_values(&base, envs, st, base_name, NULL, NULL)) < 0) {
		if (error == PV_ENOTFOUND)
			error = pv_error_set(PV_EINVAL, "base", "%s", pv_error_last()->message);
		goto out;
	}
	if ((error = check_fit(envs, base, spec->values, "base", base_name)) < 0)
		goto out;
	merged = spec->values ? pv_values_merge_patch(base, spec->values) : json_incref(base);
	if (!merged) {
		error = pv_error_set(PV_ERROR, NULL, "out of memory");
		goto out;
	}
	if ((error = pv_env_check_values(envs, merged)) < 0)
		goto out;

	snprintf(out->name, sizeof(out->name), "%s", name);
	snprintf(out->owner, sizeof(out->owner), "%s", owner);
	snprintf(out->status, sizeof(out->status), "%s", PV_STATUS_PENDING);
	snprintf(out->base, sizeof(out->base), "%s", base_name);
	snprintf(out->cluster, sizeof(out->cluster), "%s", cluster);
	out->values_json = json_dumps(merged, JSON_COMPACT | JSON_PRESERVE_ORDER);
	out->requested_by = strdup(actor->name);
	out->created_at = out->updated_at = now;
	out->expires_at = ttl ? now + ttl : 0;
	out->idle_ttl = idle;
	snprintf(out->schedule, sizeof(out->schedule), "%s", schedule ? schedule : "");
	/* asked for now: awake until the schedule's next boundary, even in a
	 * sleep window (as a wake by hand) */
	out->active_at = pv_schedule_now();
	out->sched_hold_until = pv_env_schedule_hold(envs, out, out->active_at);
	if (idle && !spec->ttl) {
		/* the inactivity expiry alone: the default TTL does not apply */
		out->expires_at = now + idle;
		if (envs->cfg->max_lifetime > 0 && idle > envs->cfg->max_lifetime)
			out->expires_at = now + envs->cfg->max_lifetime;
	}
	if ((error = check_lifetime(envs, now, out->expires_at)) < 0)
		goto out;
	if (!out->values_json || !out->requested_by) {
		error = pv_error_set(PV_ERROR, NULL, "out of memory");
		goto out;
	}
	if ((error = pv_store_begin(st)) < 0)
		goto out;
	if ((error = check_quota(envs, st, owner)) < 0 ||
	    (error = pv_store_env_insert(st, out)) < 0 ||
	    (error = pv_idem_record(st, idem, out->id, PV_WAIT_CREATE, out->gen)) < 0 ||
	    (error = pv_store_event_add(st, out, "created", actor->name, actor->from, now, NULL)) < 0 ||
	    (error = pv_store_commit(st)) < 0) {
		pv_store_rollback(st);
		goto out;
	}
	envs->git.kick(envs->git.ctx);
	/* logged under component "api" (the JSON log takes it from the
	 * prefix), where a create has always been looked for */
	log_info("api: %s requested %s for %s", out->requested_by, out->name, out->owner);
out:
	json_decref(merged);
	json_decref(base);
	return error;
}

/* One event per kind of change, each with what that change did: a PATCH of
 * ttl and values is an "extended" (the expiries) and an "updated" (the
 * merge patch, the cluster move) - not two events of the same detail. */
static int patch_events(struct pv_store *st, const struct pv_env *env, const struct pv_actor *actor, int64_t now,
	json_t *updated, json_t *extended)
{
	char *u = updated ? json_dumps(updated, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	char *x = extended ? json_dumps(extended, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	int error = 0;

	if ((updated && !u) || (extended && !x))
		error = pv_error_set(PV_ERROR, NULL, "out of memory");
	else if ((!u || (error = pv_store_event_add(st, env, "updated", actor->name, actor->from, now, u)) == 0) && x)
		error = pv_store_event_add(st, env, "extended", actor->name, actor->from, now, x);
	free(u);
	free(x);
	return error;
}

int pv_env_patch(struct pv_envs *envs, const struct pv_actor *actor, const char *name,
	const struct pv_env_change *change, const struct pv_idem_key *idem, struct pv_env *out)
{
	const json_t *patch = change->values;
	const char *cluster = change->cluster;
	json_t *current = NULL, *merged = NULL, *updated = NULL, *extended = NULL;
	struct pv_store *st;
	long long ttl = 0;
	long long idle = 0;
	int error, in_tx = 0, extend = change->ttl != NULL;
	int64_t now = (int64_t)time(NULL);
	char *values_json = NULL;
	const char *schedule = NULL;

	memset(out, 0, sizeof(*out));
	if ((error = pv_env_check_writer(actor)) < 0)
		goto out;
	if (!patch && !extend && !cluster && !change->idle_ttl && !change->schedule) {
		error = pv_error_set(PV_EINVAL, "ttl", "a PATCH needs ttl, idle_ttl, values, cluster or schedule");
		goto out;
	}
	if ((error = pv_env_schedule_text(change->schedule, &schedule)) < 0)
		goto out;
	if (patch && !json_is_object(patch)) {
		error = pv_error_set(PV_EINVAL, "values", "values must be a JSON object (a JSON merge patch)");
		goto out;
	}
	if (cluster && (error = pv_env_check_cluster(cluster)) < 0)
		goto out;
	if (extend && (error = pv_env_ttl(envs, change->ttl, &ttl)) < 0)
		goto out;
	if (change->idle_ttl && (error = pv_env_idle_ttl(envs, change->idle_ttl, &idle)) < 0)
		goto out;
	if ((error = pv_env_store(envs, &st)) < 0 || (error = pv_store_begin(st)) < 0)
		goto out;
	in_tx = 1;
	if ((error = pv_store_env_get(st, out, name)) < 0) {
		if (error == PV_ENOTFOUND)
			pv_error_set(PV_ENOTFOUND, NULL, "no environment named '%s'", name);
		goto out;
	}
	if (strcmp(out->status, PV_STATUS_PENDING) != 0 && strcmp(out->status, PV_STATUS_ACTIVE) != 0) {
		error = pv_error_set(PV_ECONFLICT, NULL, "environment '%s' is %s and can no longer be changed", name, out->status);
		goto out;
	}
	if (patch || cluster || change->schedule)
		updated = json_object();
	if (patch) {
		current = json_loads(out->values_json, 0, NULL);
		merged = current ? pv_values_merge_patch(current, patch) : NULL;
		if (!merged || !json_is_object(merged)) {
			error = pv_error_set(PV_ERROR, NULL, "cannot apply the values patch");
			goto out;
		}
		/* against the environment's own values, not its base's as they are
		 * now: those are what its chart reads, keys added before strict
		 * included */
		if ((error = check_fit(envs, current, patch, "environment", name)) < 0)
			goto out;
		if ((error = pv_env_check_values(envs, merged)) < 0)
			goto out;
		if (!(values_json = json_dumps(merged, JSON_COMPACT | JSON_PRESERVE_ORDER))) {
			error = pv_error_set(PV_ERROR, NULL, "out of memory");
			goto out;
		}
		free(out->values_json);
		out->values_json = values_json;
		values_json = NULL;
		json_object_set(updated, "values", (json_t *)patch);
		/* asleep: the patch changes the awake values, and it sleeps on */
		if (pv_env_is_asleep(out) && (error = pv_env_sleep_values(envs, st, out)) < 0)
			goto out;
	}
	if (cluster) {
		/* "" hands the choice back to the ApplicationSet */
		json_object_set_new(updated, "previous_cluster", out->cluster[0] ? json_string(out->cluster) : json_null());
		json_object_set_new(updated, "cluster", cluster[0] ? json_string(cluster) : json_null());
		snprintf(out->cluster, sizeof(out->cluster), "%s", cluster);
	}
	if (change->schedule) {
		/* a new schedule applies at once: no hold by hand carries over */
		json_object_set_new(updated, "previous_schedule", out->schedule[0] ? json_string(out->schedule) : json_null());
		json_object_set_new(updated, "schedule", schedule ? json_string(schedule) : json_null());
		snprintf(out->schedule, sizeof(out->schedule), "%s", schedule ? schedule : "");
		out->sched_hold_until = 0;
	}
	if (extend) {
		int64_t expires = ttl ? now + ttl : 0;
		if ((error = check_lifetime(envs, out->created_at, expires)) < 0)
			goto out;
		extended = json_object();
		if (pv_env_is_asleep(out) && out->sleep_ttl_left > 0) {
			/* a paused TTL: the new one starts when it wakes ("never": none) */
			json_object_set_new(extended, "previous_ttl_left_seconds", json_integer(out->sleep_ttl_left));
			out->sleep_ttl_left = ttl;
			json_object_set_new(extended, "ttl_left_seconds", ttl ? json_integer(ttl) : json_null());
		} else {
			json_object_set_new(extended, "previous_expires_at", pv_env_time_json(out->expires_at));
			out->expires_at = expires;
			json_object_set_new(extended, "expires_at", pv_env_time_json(out->expires_at));
		}
	}
	if (change->idle_ttl)
		out->idle_ttl = idle;
	if (out->idle_ttl && !extend && (patch || change->idle_ttl)) {
		/* activity restarts the inactivity clock */
		int64_t expires = idle_expiry(envs, out, now);
		if (expires != out->expires_at) {
			extended = json_object();
			json_object_set_new(extended, "previous_expires_at", pv_env_time_json(out->expires_at));
			json_object_set_new(extended, "expires_at", pv_env_time_json(expires));
			json_object_set_new(extended, "idle_ttl_seconds", json_integer(out->idle_ttl));
			out->expires_at = expires;
		}
	}
	out->updated_at = now;
	out->active_at = pv_schedule_now(); /* a PATCH is activity: the idle clock restarts */
	snprintf(out->changed_by, sizeof(out->changed_by), "%s", actor->name);
	if ((error = pv_store_env_save(st, out)) < 0 ||
	    (error = pv_idem_record(st, idem, out->id, PV_WAIT_UPDATE, out->gen)) < 0 ||
	    (error = patch_events(st, out, actor, now, updated, extended)) < 0 ||
	    (error = pv_store_commit(st)) < 0)
		goto out;
	in_tx = 0;
	envs->git.kick(envs->git.ctx);
out:
	if (in_tx)
		pv_store_rollback(st);
	free(values_json);
	json_decref(updated);
	json_decref(extended);
	json_decref(merged);
	json_decref(current);
	return error;
}

int pv_env_delete(struct pv_envs *envs, const struct pv_actor *actor, const char *name,
	const struct pv_idem_key *idem, struct pv_env *out)
{
	struct pv_store *st;
	int error, in_tx = 0;
	int64_t now = (int64_t)time(NULL);

	memset(out, 0, sizeof(*out));
	if ((error = pv_env_check_writer(actor)) < 0)
		goto out;
	if ((error = pv_env_store(envs, &st)) < 0 || (error = pv_store_begin(st)) < 0)
		goto out;
	in_tx = 1;
	error = pv_store_env_get(st, out, name);
	if (error == PV_ENOTFOUND || (error == 0 && !pv_env_is_live(out) && strcmp(out->status, PV_STATUS_FAILED) != 0)) {
		error = pv_error_set(PV_ENOTFOUND, NULL, "no live environment named '%s'", name);
		goto out;
	}
	if (error < 0)
		goto out;
	if (strcmp(out->status, PV_STATUS_FAILED) == 0) {
		error = pv_error_set(PV_ENOTFOUND, NULL, "no live environment named '%s' (its creation failed)", name);
		goto out;
	}
	if (strcmp(out->status, PV_STATUS_DELETING) != 0) {
		snprintf(out->status, sizeof(out->status), "%s", PV_STATUS_DELETING);
		out->updated_at = now;
		snprintf(out->changed_by, sizeof(out->changed_by), "%s", actor->name);
		if ((error = pv_store_env_save(st, out)) < 0 ||
		    (error = pv_store_event_add(st, out, "deleting", actor->name, actor->from, now, NULL)) < 0)
			goto out;
	}
	if ((error = pv_idem_record(st, idem, out->id, PV_WAIT_DELETE, out->gen)) < 0 || (error = pv_store_commit(st)) < 0)
		goto out;
	in_tx = 0;
	envs->git.kick(envs->git.ctx);
out:
	if (in_tx)
		pv_store_rollback(st);
	return error;
}

/* ---- reads -------------------------------------------------------------- */

int pv_env_get(struct pv_envs *envs, const char *name, struct pv_env *out)
{
	struct pv_store *st;
	int error;

	memset(out, 0, sizeof(*out));
	if ((error = pv_env_store(envs, &st)) < 0)
		return error;
	if ((error = pv_store_env_get(st, out, name)) == PV_ENOTFOUND)
		pv_error_set(PV_ENOTFOUND, NULL, "no environment named '%s'", name);
	return error;
}

int pv_env_reload(struct pv_envs *envs, int64_t id, struct pv_env *out)
{
	struct pv_store *st;
	int error;

	memset(out, 0, sizeof(*out));
	if ((error = pv_env_store(envs, &st)) < 0)
		return error;
	return pv_store_env_get_id(st, out, id);
}

int pv_env_list(struct pv_envs *envs, const struct pv_store_filter *filter, pv_store_env_cb cb, void *payload)
{
	struct pv_store *st;
	int error;

	if ((error = pv_env_store(envs, &st)) < 0)
		return error;
	return pv_store_env_list(st, filter, cb, payload);
}

struct events_ctx {
	pv_store_event_cb cb;
	void *payload;
	size_t n;
};

static int count_event(const struct pv_event *ev, void *payload)
{
	struct events_ctx *ec = payload;

	ec->n++;
	return ec->cb(ev, ec->payload);
}

int pv_env_events(struct pv_envs *envs, const char *name, pv_store_event_cb cb, void *payload)
{
	struct events_ctx ec = { .cb = cb, .payload = payload };
	struct pv_store *st;
	int error;

	if ((error = pv_env_store(envs, &st)) < 0 || (error = pv_store_events(st, name, count_event, &ec)) < 0)
		return error;
	if (ec.n == 0)
		return pv_error_set(PV_ENOTFOUND, NULL, "no environment named '%s'", name);
	return 0;
}
