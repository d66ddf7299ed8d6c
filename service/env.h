/*
 * env.h - the environment rules: what may be created, changed and deleted,
 * and how, whichever door the request came through.
 *
 * The HTTP handlers (api.c) and chat-ops (chatops.c) both call these
 * operations; neither knows the other.  An operation takes its input as a
 * struct of already-decoded values, an actor (who asks, with what role) and,
 * for writes, an Idempotency-Key to record with the change; it returns the
 * environment row as the transaction left it, or a pv_error code with the
 * message (and the offending field) in the thread's error slot.
 *
 * Every write has one shape: check everything that can be checked without
 * the database (names, TTL, values, the Git folder), then do the
 * read-modify-write in one BEGIN IMMEDIATE transaction (quotas are counted
 * inside it, so concurrent creates cannot both slip under a limit), then
 * kick the Git writer.  The change reaches Git later; the row's gen and
 * pushed_gen tell the caller when (pv_env_reload).
 *
 * The rules: TTL (default, minimum, maximum, "never" only where allowed),
 * the maximum lifetime (created_at + PREVIEWD_MAX_LIFETIME however often it
 * is extended), the inactivity expiry (idle_ttl: a create and each values
 * change move expires_at to now + idle_ttl, never earlier than it was and
 * never past the lifetime cap, as GitLab's auto_stop_in does), the create rate per token or client address (ratelimit.h;
 * checked first, outside the transaction: 429 PV_ERATE with a Retry-After),
 * the quotas per owner and in total (429 PV_EQUOTA), base resolution (a
 * live environment's recorded values, else a people-managed folder's
 * values.yaml from the Git snapshot), and that a folder in Git previewd
 * does not manage is never taken over.
 *
 * Threads: any HTTP worker thread; each call uses its thread's connection
 * from the pv_store_threads the context owns.
 */
#ifndef PV_ENV_H
#define PV_ENV_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "config.h"
#include "error.h"
#include "idem.h"
#include "store.h"

/* What the rules need from the Git side: gitops.c in the daemon, fakes in
 * unit tests.  Semantics as pv_gitops_folder() and pv_gitops_kick(). */
struct pv_env_git {
	int (*folder)(void *ctx, const char *name, int *exists, int *managed, char **values_yaml, size_t *values_len);
	void (*kick)(void *ctx);
	void *ctx;
	/* a people's folder's previewd.yaml (its sleep_values, env_sleep.c):
	 * *found and a malloc'd copy; NULL: bases carry no overlays */
	int (*settings)(void *ctx, const char *name, int *found, char **yaml, size_t *yaml_len);
};

/* What a write's answer waits for (the numbers are recorded with an
 * Idempotency-Key). */
enum pv_wait_kind { PV_WAIT_NONE = 0, PV_WAIT_CREATE, PV_WAIT_UPDATE, PV_WAIT_DELETE };

/* Who asks: a token's name ("slack:<user>" for a verified Slack user,
 * "anonymous" in open mode), its role, and the remote address the request
 * came from (NULL for previewd's own). */
struct pv_actor {
	const char *name;
	enum pv_role role;
	const char *from;
};

/* A create.  NULL members take their defaults. */
struct pv_env_spec {
	const char *owner;      /* required */
	const char *name;       /* default: the owner */
	const char *base;       /* default: PREVIEWD_BASE_ENV */
	const char *cluster;    /* default: PREVIEWD_DEFAULT_CLUSTER, else "" */
	const json_t *ttl;      /* seconds (integer), a duration or "never" (string); default PREVIEWD_DEFAULT_TTL */
	const json_t *values;   /* a JSON merge patch over the base's values */
	const json_t *idle_ttl; /* as ttl (never "never"): expire this long after the last activity; default none */
	const json_t *schedule; /* its own sleep schedule (schedule.h) or "none"; default PREVIEWD_SLEEP_SCHEDULE */
};

/* A change of a live environment; at least one member set. */
struct pv_env_change {
	const json_t *ttl;      /* as in pv_env_spec: the new expiry counts from now */
	const json_t *values;   /* a JSON merge patch over the current values */
	const char *cluster;    /* the Argo CD cluster to move to ("": the ApplicationSet's default) */
	const json_t *idle_ttl; /* the new inactivity expiry; 0 turns it off */
	const json_t *schedule; /* as in pv_env_spec; JSON null: back to PREVIEWD_SLEEP_SCHEDULE */
};

struct pv_envs;

/* The context copies git and settings; cfg must outlive it. */
int pv_env_new(struct pv_envs **out, const struct pv_config *cfg, const struct pv_store_settings *settings,
	const struct pv_env_git *git) PV_WARN_UNUSED;
void pv_env_free(struct pv_envs *envs);

const struct pv_config *pv_env_config(const struct pv_envs *envs);

/* The calling thread's connection; PV_EUNAVAIL when the database cannot
 * be opened. */
int pv_env_store(struct pv_envs *envs, struct pv_store **out) PV_WARN_UNUSED;

/* Writes.  out (disposed by the caller with pv_env_dispose, also on error)
 * is the row after the change; its gen is the generation to wait for.
 * idem may be NULL; when set, the key is recorded in the change's
 * transaction. */
int pv_env_create(struct pv_envs *envs, const struct pv_actor *actor, const struct pv_env_spec *spec,
	const struct pv_idem_key *idem, struct pv_env *out) PV_WARN_UNUSED;
int pv_env_patch(struct pv_envs *envs, const struct pv_actor *actor, const char *name,
	const struct pv_env_change *change, const struct pv_idem_key *idem, struct pv_env *out) PV_WARN_UNUSED;
/* A second delete while the first is in flight waits for the same push. */
int pv_env_delete(struct pv_envs *envs, const struct pv_actor *actor, const char *name,
	const struct pv_idem_key *idem, struct pv_env *out) PV_WARN_UNUSED;

/*
 * Sleep and wake (env_sleep.c).  Sleeping commits the environment's values
 * with the sleep overlay merged in - the base folder's previewd.yaml
 * `sleep_values` (followed through bases that are live environments), else
 * PREVIEWD_SLEEP_VALUES - and waking commits its own values again, byte for
 * byte.  The API shows status "sleeping" and the awake values; a values
 * PATCH while asleep changes the awake values and stays asleep.  With
 * PREVIEWD_SLEEP_PAUSES_TTL the TTL stands still while asleep (capped by
 * the lifetime on waking); else it runs on and the reaper removes a
 * sleeping environment like any other.  History kinds "slept" and "woke"
 * (notifications too).  A repeat (sleeping a sleeping environment) changes
 * nothing, records nothing and answers the row.  Errors: PV_EFORBIDDEN for
 * a reader, PV_ENOTFOUND, PV_ECONFLICT when it is deleting or failed or its
 * base's previewd.yaml is unusable.
 */
int pv_env_sleep(struct pv_envs *envs, const struct pv_actor *actor, const char *name,
	const struct pv_idem_key *idem, struct pv_env *out) PV_WARN_UNUSED;
int pv_env_wake(struct pv_envs *envs, const struct pv_actor *actor, const char *name,
	const struct pv_idem_key *idem, struct pv_env *out) PV_WARN_UNUSED;
/* Many at once (a schedule's boundary): one transaction, one kick of the
 * Git writer, whose rounds batch them into few commits.  errors (n, may be
 * NULL) gets each name's outcome (0, PV_ENOTFOUND, PV_ECONFLICT, PV_EINVAL);
 * *changed (may be NULL) how many changed state.  Returns 0, or the error
 * that rolled all of them back (the database's). */
int pv_env_sleep_many(struct pv_envs *envs, const struct pv_actor *actor, const char *const *names, size_t n,
	int asleep, int *errors, size_t *changed) PV_WARN_UNUSED;

/* Who puts an environment to sleep: the schedule wakes only what it put
 * to sleep itself (sleeper.h). */
enum pv_sleep_cause { PV_SLEEP_BY_HAND = 0, PV_SLEEP_BY_SCHEDULE, PV_SLEEP_BY_IDLE };

/* Asked inside the batch's transaction of each row: still due? */
typedef int (*pv_env_due_cb)(const struct pv_env *env, void *payload);

/* The sleeper's batch: as pv_env_sleep_many, by cause, each row only when
 * due(row) says it still is (NULL: always). */
int pv_env_sleep_due(struct pv_envs *envs, const struct pv_actor *actor, const char *const *names, size_t n,
	int asleep, enum pv_sleep_cause cause, pv_env_due_cb due, void *payload, size_t *changed) PV_WARN_UNUSED;

/* env's schedule into *out (its own, else PREVIEWD_SLEEP_SCHEDULE); 1 when
 * it has one, 0 for none. */
struct pv_schedule;
int pv_env_schedule_of(const struct pv_envs *envs, const struct pv_env *env, struct pv_schedule *out);

/* Until when a sleep or wake by hand at now holds env's schedule off: its
 * next boundary (INT64_MAX when it has none), 0 without a schedule. */
int64_t pv_env_schedule_hold(const struct pv_envs *envs, const struct pv_env *env, int64_t now);

/* Reads.  get: the live environment of that name, else its latest record. */
int pv_env_get(struct pv_envs *envs, const char *name, struct pv_env *out) PV_WARN_UNUSED;
int pv_env_reload(struct pv_envs *envs, int64_t id, struct pv_env *out) PV_WARN_UNUSED;
int pv_env_list(struct pv_envs *envs, const struct pv_store_filter *filter, pv_store_env_cb cb,
	void *payload) PV_WARN_UNUSED;
/* A base by name, as a create naming it would start from it: its values,
 * whether it is a live environment (*is_env 1) or a people's folder (*yaml
 * then holds its values.yaml as written, comments and all; the caller
 * frees both).  PV_ENOTFOUND when it is neither. */
int pv_env_base(struct pv_envs *envs, const char *name, json_t **values, int *is_env, char **yaml,
	size_t *yaml_len) PV_WARN_UNUSED;
/* The history of every environment that had this name; PV_ENOTFOUND when
 * there is none. */
int pv_env_events(struct pv_envs *envs, const char *name, pv_store_event_cb cb, void *payload) PV_WARN_UNUSED;

/* 0 if cluster is "" or an Argo CD cluster name, else PV_EINVAL (field
 * "cluster"); `recover` checks markers by it too. */
int pv_env_check_cluster(const char *cluster) PV_WARN_UNUSED;

/* The inactivity expiry a request asks for in seconds, checked as a TTL
 * ("never" is no inactivity expiry: PV_EINVAL; 0 turns it off in a PATCH). */
int pv_env_idle_ttl(const struct pv_envs *envs, const json_t *idle, long long *out) PV_WARN_UNUSED;

/* The schedule a request asks for: *out the text (NULL for JSON null or
 * absent: PREVIEWD_SLEEP_SCHEDULE's), PV_EINVAL (field "schedule") when
 * it does not read. */
int pv_env_schedule_text(const json_t *v, const char **out) PV_WARN_UNUSED;

/* The TTL a request asks for in seconds (0: never), checked against the
 * limits; the default when ttl is NULL. */
int pv_env_ttl(const struct pv_envs *envs, const json_t *ttl, long long *out) PV_WARN_UNUSED;

/* An environment as the API and chat-ops show it; NULL when out of memory. */
json_t *pv_env_json(const struct pv_envs *envs, const struct pv_env *env);
/* The same without "values" unless with_values (a list page's item). */
json_t *pv_env_json_part(const struct pv_envs *envs, const struct pv_env *env, int with_values);

/* RFC 3339 UTC of t, JSON null for 0 (none). */
json_t *pv_env_time_json(int64_t t);

#endif
