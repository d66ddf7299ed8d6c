/*
 * Unit tests for env.c and idem.c: the environment rules through the
 * domain operations, against a real SQLite file in a temp dir.  The Git
 * side is a table of folders standing in for the writer's snapshot.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "env.h"
#include "idem.h"
#include "store.h"
#include "tmpdir.h"

static const char dev_values[] = "replicaCount: 1\nimage:\n  repository: nginx\n  tag: \"1.27\"\n";

struct fake_git {
	int kicks;
};

/* "dev" is a people's folder with values; "legacy" one without previewd's
 * mark (foreign); every other name is free */
static int fake_folder(void *ctx, const char *name, int *exists, int *managed, char **values_yaml, size_t *values_len)
{
	(void)ctx;
	*exists = *managed = 0;
	if (values_yaml)
		*values_yaml = NULL;
	if (strcmp(name, "dev") == 0 || strcmp(name, "legacy") == 0) {
		*exists = 1;
		if (values_yaml) {
			*values_yaml = strdup(dev_values);
			*values_len = strlen(dev_values);
		}
	}
	return 0;
}

static void fake_kick(void *ctx)
{
	((struct fake_git *)ctx)->kicks++;
}

struct fixture {
	char dir[64];
	char path[128];
	struct pv_config cfg;
	struct fake_git git;
	struct pv_envs *envs;
};

static const struct pv_actor writer = { .name = "ci", .role = PV_ROLE_WRITER, .from = "10.0.0.1" };

static int open_envs(struct fixture *f)
{
	struct pv_store_settings db = { .path = f->path };
	struct pv_env_git g = { .folder = fake_folder, .kick = fake_kick, .ctx = &f->git };

	pv_env_free(f->envs);
	f->envs = NULL;
	return pv_env_new(&f->envs, &f->cfg, &db, &g);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (pv_test_mkdtemp(f->dir, sizeof(f->dir), "env") < 0)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/t.db", f->dir);
	f->cfg.domain = "env.my";
	f->cfg.env_dir = "env";
	f->cfg.base_env = "dev";
	f->cfg.default_ttl = 8 * 3600;
	f->cfg.max_ttl = 7 * 86400;
	f->cfg.min_ttl = 60;
	f->cfg.max_values_bytes = 65536;
	if (open_envs(f) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	pv_env_free(f->envs);
	if (pv_test_rmtree(f->dir) < 0)
		return -1;
	free(f);
	return 0;
}

/* create owner's environment `name` with ttl (a string, or NULL) */
static int create(struct fixture *f, const char *owner, const char *name, const char *ttl, struct pv_env *out)
{
	json_t *t = ttl ? json_string(ttl) : NULL;
	struct pv_env_spec spec = { .owner = owner, .name = name, .ttl = t };
	int error = pv_env_create(f->envs, &writer, &spec, NULL, out);

	json_decref(t);
	return error;
}

static void expect_error(int got, int code, const char *field, const char *needle)
{
	const struct pv_error_info *e = pv_error_last();

	if (got != code || (needle && !strstr(e->message, needle)))
		print_error("got %d (%s), wanted %d\n", got, e->message, code);
	assert_int_equal(got, code);
	assert_int_equal(e->code, code);
	if (field)
		assert_string_equal(e->field, field);
	if (needle)
		assert_non_null(strstr(e->message, needle));
}

static void ttl_default_and_limits(void **state)
{
	struct fixture *f = *state;
	struct pv_env env;
	json_t *v;
	long long secs;

	assert_int_equal(create(f, "jane", NULL, NULL, &env), 0);
	assert_string_equal(env.name, "jane");
	assert_string_equal(env.status, PV_STATUS_PENDING);
	assert_int_equal(env.expires_at - env.created_at, 8 * 3600);
	assert_int_equal(env.gen, 1);
	assert_int_equal(f->git.kicks, 1);
	pv_env_dispose(&env);

	assert_int_equal(create(f, "jane", "pr-1", "4h", &env), 0);
	assert_int_equal(env.expires_at - env.created_at, 4 * 3600);
	pv_env_dispose(&env);

	expect_error(create(f, "jane", "pr-2", "30d", &env), PV_EINVAL, "ttl", "exceeds the maximum of 7d");
	pv_env_dispose(&env);
	expect_error(create(f, "jane", "pr-2", "30s", &env), PV_EINVAL, "ttl", "below the minimum");
	pv_env_dispose(&env);
	expect_error(create(f, "jane", "pr-2", "never", &env), PV_EINVAL, "ttl", "not allowed");
	pv_env_dispose(&env);
	assert_int_equal(f->git.kicks, 2); /* refusals never reach Git */

	/* numbers are seconds; non-positive ones and other JSON types are refused */
	v = json_integer(3600);
	assert_int_equal(pv_env_ttl(f->envs, v, &secs), 0);
	assert_int_equal(secs, 3600);
	json_decref(v);
	v = json_integer(0);
	expect_error(pv_env_ttl(f->envs, v, &secs), PV_EINVAL, "ttl", "positive");
	json_decref(v);
	v = json_true();
	expect_error(pv_env_ttl(f->envs, v, &secs), PV_EINVAL, "ttl", "duration string");
	json_decref(v);
	assert_int_equal(pv_env_ttl(f->envs, NULL, &secs), 0);
	assert_int_equal(secs, 8 * 3600);

	f->cfg.allow_never = 1;
	assert_int_equal(create(f, "jane", "forever", "never", &env), 0);
	assert_int_equal(env.expires_at, 0);
	pv_env_dispose(&env);
}

static void lifetime_cap(void **state)
{
	struct fixture *f = *state;
	struct pv_env_change change = { 0 };
	struct pv_env env;
	json_t *ttl;

	f->cfg.max_lifetime = 86400;
	expect_error(create(f, "jane", "pr-1", "2d", &env), PV_EINVAL, "ttl", "maximum lifetime of 1d");
	pv_env_dispose(&env);
	assert_int_equal(create(f, "jane", "pr-1", "8h", &env), 0);
	pv_env_dispose(&env);

	/* an extension counts from now, but never past created_at + lifetime */
	change.ttl = ttl = json_string("20h");
	assert_int_equal(pv_env_patch(f->envs, &writer, "pr-1", &change, NULL, &env), 0);
	assert_int_equal(env.gen, 2);
	assert_true(env.expires_at - env.created_at >= 20 * 3600);
	pv_env_dispose(&env);
	json_decref(ttl);
	change.ttl = ttl = json_string("25h");
	expect_error(pv_env_patch(f->envs, &writer, "pr-1", &change, NULL, &env), PV_EINVAL, "ttl", "it can run until");
	pv_env_dispose(&env);
	json_decref(ttl);

	f->cfg.allow_never = 1;
	change.ttl = ttl = json_string("never");
	expect_error(pv_env_patch(f->envs, &writer, "pr-1", &change, NULL, &env), PV_EINVAL, "ttl",
		"exceeds the maximum lifetime");
	pv_env_dispose(&env);
	json_decref(ttl);

	/* the refused changes left the row as it was */
	assert_int_equal(pv_env_get(f->envs, "pr-1", &env), 0);
	assert_int_equal(env.gen, 2);
	pv_env_dispose(&env);
}

static void quotas(void **state)
{
	struct fixture *f = *state;
	struct pv_env env;

	f->cfg.max_envs_per_owner = 2;
	f->cfg.max_envs = 3;
	assert_int_equal(create(f, "jane", "a", NULL, &env), 0);
	pv_env_dispose(&env);
	assert_int_equal(create(f, "jane", "b", NULL, &env), 0);
	pv_env_dispose(&env);
	expect_error(create(f, "jane", "c", NULL, &env), PV_EQUOTA, "owner", "limit per owner is 2");
	pv_env_dispose(&env);
	assert_int_equal(create(f, "bob", "d", NULL, &env), 0);
	pv_env_dispose(&env);
	expect_error(create(f, "carol", "e", NULL, &env), PV_EQUOTA, NULL, "total limit is 3");
	pv_env_dispose(&env);

	/* a deleting environment still counts until Git has it gone */
	assert_int_equal(pv_env_delete(f->envs, &writer, "a", NULL, &env), 0);
	assert_string_equal(env.status, PV_STATUS_DELETING);
	pv_env_dispose(&env);
	expect_error(create(f, "jane", "c", NULL, &env), PV_EQUOTA, "owner", NULL);
	pv_env_dispose(&env);
}

static void foreign_folder_and_bases(void **state)
{
	struct fixture *f = *state;
	struct pv_env_spec spec = { .owner = "jane" };
	struct pv_env env;
	json_t *values, *patch;

	/* a folder people made in Git is theirs */
	expect_error(create(f, "jane", "legacy", NULL, &env), PV_ECONFLICT, "name", "not managed by previewd");
	pv_env_dispose(&env);

	/* the default base is a people's folder: its values.yaml, merged with the patch */
	patch = json_pack("{s:{s:s}}", "image", "tag", "pr-7");
	spec.name = "pr-7";
	spec.values = patch;
	assert_int_equal(pv_env_create(f->envs, &writer, &spec, NULL, &env), 0);
	values = json_loads(env.values_json, 0, NULL);
	assert_int_equal(json_integer_value(json_object_get(values, "replicaCount")), 1);
	assert_string_equal(json_string_value(json_object_get(json_object_get(values, "image"), "tag")), "pr-7");
	assert_string_equal(env.base, "dev");
	json_decref(values);
	pv_env_dispose(&env);
	json_decref(patch);

	/* a live environment is a base too: its recorded values */
	spec.name = "pr-8";
	spec.base = "pr-7";
	spec.values = NULL;
	assert_int_equal(pv_env_create(f->envs, &writer, &spec, NULL, &env), 0);
	values = json_loads(env.values_json, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(json_object_get(values, "image"), "tag")), "pr-7");
	json_decref(values);
	pv_env_dispose(&env);

	spec.name = "pr-9";
	spec.base = "nowhere";
	expect_error(pv_env_create(f->envs, &writer, &spec, NULL, &env), PV_EINVAL, "base", "neither a live environment");
	pv_env_dispose(&env);

	/* a name is taken while it is live */
	expect_error(create(f, "jane", "pr-7", NULL, &env), PV_ECONFLICT, "name", "already exists");
	pv_env_dispose(&env);
}

static void writes_need_a_writer(void **state)
{
	struct fixture *f = *state;
	const struct pv_actor reader = { .name = "portal", .role = PV_ROLE_READER };
	struct pv_env_spec spec = { .owner = "jane" };
	struct pv_env env;

	expect_error(pv_env_create(f->envs, &reader, &spec, NULL, &env), PV_EFORBIDDEN, NULL, "portal");
	pv_env_dispose(&env);
	assert_int_equal(pv_env_create(f->envs, &writer, &spec, NULL, &env), 0);
	assert_string_equal(env.requested_by, "ci");
	pv_env_dispose(&env);
	expect_error(pv_env_delete(f->envs, &reader, "jane", NULL, &env), PV_EFORBIDDEN, NULL, NULL);
	pv_env_dispose(&env);
	assert_int_equal(pv_env_get(f->envs, "jane", &env), 0);
	assert_string_equal(env.status, PV_STATUS_PENDING);
	pv_env_dispose(&env);
}

static void delete_and_history(void **state)
{
	struct fixture *f = *state;
	struct pv_env env;
	int64_t gen;

	assert_int_equal(create(f, "jane", "pr-1", NULL, &env), 0);
	pv_env_dispose(&env);
	assert_int_equal(pv_env_delete(f->envs, &writer, "pr-1", NULL, &env), 0);
	gen = env.gen;
	pv_env_dispose(&env);
	/* a second delete while the first is in flight waits for the same push */
	assert_int_equal(pv_env_delete(f->envs, &writer, "pr-1", NULL, &env), 0);
	assert_int_equal(env.gen, gen);
	pv_env_dispose(&env);
	expect_error(pv_env_delete(f->envs, &writer, "pr-2", NULL, &env), PV_ENOTFOUND, NULL, "no live environment");
	pv_env_dispose(&env);
	expect_error(pv_env_get(f->envs, "pr-2", &env), PV_ENOTFOUND, NULL, "no environment named");
	pv_env_dispose(&env);
	expect_error(pv_env_events(f->envs, "pr-2", NULL, NULL), PV_ENOTFOUND, NULL, NULL);
}

static void idempotency_replay_and_conflict(void **state)
{
	struct fixture *f = *state;
	struct pv_idem_set *set;
	struct pv_idem_key key, other;
	struct pv_idem rec;
	struct pv_store *st;
	struct pv_env_spec spec = { .owner = "jane", .name = "pr-1" };
	struct pv_env env;
	char slot[PV_IDEM_SLOT_LEN], slot2[PV_IDEM_SLOT_LEN];
	static const char body[] = "{\"owner\":\"jane\",\"name\":\"pr-1\"}";
	json_t *problem;

	assert_int_equal(pv_idem_set_new(&set), 0);
	assert_int_equal(pv_env_store(f->envs, &st), 0);
	expect_error(pv_idem_claim(set, &key, "ci", "bad key!", "POST", "/v1/environments", body, strlen(body), slot),
		PV_EBADREQ, "Idempotency-Key", NULL);
	assert_string_equal(slot, "");

	assert_int_equal(pv_idem_claim(set, &key, "ci", "k-1", "POST", "/v1/environments", body, strlen(body), slot), 0);
	assert_string_not_equal(slot, "");
	assert_int_equal(strlen(key.fingerprint), 64);
	/* while the first is being answered, the duplicate is refused */
	expect_error(pv_idem_claim(set, &other, "ci", "k-1", "POST", "/v1/environments", body, strlen(body), slot2),
		PV_ECONFLICT, "Idempotency-Key", "still being answered");
	assert_string_equal(slot2, "");
	/* another actor's key of the same text is another key */
	assert_int_equal(pv_idem_claim(set, &other, "bot", "k-1", "POST", "/v1/environments", body, strlen(body), slot2), 0);
	pv_idem_release(set, slot2);

	assert_int_equal(pv_idem_lookup(st, &key, &rec), PV_ENOTFOUND);
	assert_int_equal(pv_env_create(f->envs, &writer, &spec, &key, &env), 0);
	pv_idem_release(set, slot);
	assert_string_equal(slot, "");

	/* the retry: same fingerprint, answered from the record */
	assert_int_equal(pv_idem_claim(set, &other, "ci", "k-1", "POST", "/v1/environments", body, strlen(body), slot), 0);
	assert_int_equal(pv_idem_lookup(st, &other, &rec), 0);
	assert_int_equal(rec.env_id, env.id);
	assert_int_equal(rec.wait_gen, env.gen);
	assert_int_equal(rec.wait_kind, PV_WAIT_CREATE);
	assert_int_equal(rec.status, 0);
	free(rec.body);
	pv_idem_release(set, slot);

	/* the same key for a different request */
	assert_int_equal(pv_idem_claim(set, &other, "ci", "k-1", "POST", "/v1/environments", "{}", 2, slot), 0);
	expect_error(pv_idem_lookup(st, &other, &rec), PV_EINVAL, "Idempotency-Key", "different request");
	pv_idem_release(set, slot);
	pv_env_dispose(&env);

	/* a 422 is recorded for the retry, a 409 is not */
	problem = json_pack("{s:i}", "status", 422);
	assert_int_equal(pv_idem_claim(set, &key, "ci", "k-2", "POST", "/v1/environments", "{}", 2, slot), 0);
	pv_idem_record_failure(st, &key, 422, problem);
	assert_int_equal(pv_idem_lookup(st, &key, &rec), 0);
	assert_int_equal(rec.status, 422);
	assert_non_null(strstr(rec.body, "422"));
	free(rec.body);
	pv_idem_release(set, slot);
	assert_int_equal(pv_idem_claim(set, &key, "ci", "k-3", "POST", "/v1/environments", "{}", 2, slot), 0);
	pv_idem_record_failure(st, &key, 409, problem);
	assert_int_equal(pv_idem_lookup(st, &key, &rec), PV_ENOTFOUND);
	pv_idem_release(set, slot);
	json_decref(problem);
	pv_idem_set_free(set);
}

static int count_event(const struct pv_event *ev, void *payload)
{
	(void)ev;
	(*(int *)payload)++;
	return 0;
}

static void patch_values_and_events(void **state)
{
	struct fixture *f = *state;
	struct pv_env_change change = { 0 };
	struct pv_env env;
	json_t *patch, *values;
	int n = 0;

	assert_int_equal(create(f, "jane", "pr-1", NULL, &env), 0);
	pv_env_dispose(&env);
	expect_error(pv_env_patch(f->envs, &writer, "pr-1", &change, NULL, &env), PV_EINVAL, "ttl", "needs ttl, idle_ttl, values, cluster or schedule");
	pv_env_dispose(&env);
	change.values = patch = json_pack("{s:n, s:i}", "image", "replicaCount", 3);
	assert_int_equal(pv_env_patch(f->envs, &writer, "pr-1", &change, NULL, &env), 0);
	values = json_loads(env.values_json, 0, NULL);
	assert_null(json_object_get(values, "image"));
	assert_int_equal(json_integer_value(json_object_get(values, "replicaCount")), 3);
	assert_string_equal(env.changed_by, "ci");
	json_decref(values);
	pv_env_dispose(&env);
	expect_error(pv_env_patch(f->envs, &writer, "nope", &change, NULL, &env), PV_ENOTFOUND, NULL, NULL);
	pv_env_dispose(&env);
	json_decref(patch);

	assert_int_equal(pv_env_events(f->envs, "pr-1", count_event, &n), 0);
	assert_int_equal(n, 2); /* created, updated */
}

/* "schedule" on create and PATCH: checked, kept, shown; a create holds the
 * schedule off until its next boundary (here never: every day asleep) */
static void schedule_field(void **state)
{
	struct fixture *f = *state;
	struct pv_env_spec spec = { .owner = "jane", .name = "night" };
	struct pv_env_change change = { 0 };
	struct pv_env env;
	json_t *j;

	spec.schedule = j = json_string("Mon-Fry 19:00-08:00");
	expect_error(pv_env_create(f->envs, &writer, &spec, NULL, &env), PV_EINVAL, "schedule", "'Mon-Fry' is not a day");
	pv_env_dispose(&env);
	json_decref(j);
	spec.schedule = j = json_integer(3);
	expect_error(pv_env_create(f->envs, &writer, &spec, NULL, &env), PV_EINVAL, "schedule", "or \"none\"");
	pv_env_dispose(&env);
	json_decref(j);
	spec.schedule = j = json_string("Mon-Sun");
	assert_int_equal(pv_env_create(f->envs, &writer, &spec, NULL, &env), 0);
	json_decref(j);
	assert_string_equal(env.schedule, "Mon-Sun");
	assert_true(env.active_at > 0);
	j = pv_env_json(f->envs, &env);
	assert_string_equal(json_string_value(json_object_get(j, "schedule")), "Mon-Sun");
	assert_string_equal(json_string_value(json_object_get(j, "schedule_held_until")), "never");
	json_decref(j);
	pv_env_dispose(&env);
	/* back to PREVIEWD_SLEEP_SCHEDULE (none here): the hold goes with it */
	change.schedule = j = json_null();
	assert_int_equal(pv_env_patch(f->envs, &writer, "night", &change, NULL, &env), 0);
	assert_string_equal(env.schedule, "");
	assert_int_equal(env.sched_hold_until, 0);
	pv_env_dispose(&env);
	assert_int_equal(pv_env_get(f->envs, "night", &env), 0);
	assert_string_equal(env.schedule, "");
	j = pv_env_json(f->envs, &env);
	assert_true(json_is_null(json_object_get(j, "schedule")));
	assert_true(json_is_null(json_object_get(j, "schedule_held_until")));
	json_decref(j);
	pv_env_dispose(&env);
	change.schedule = j = json_string("none");
	assert_int_equal(pv_env_patch(f->envs, &writer, "night", &change, NULL, &env), 0);
	json_decref(j);
	assert_string_equal(env.schedule, "none");
	pv_env_dispose(&env);
}

/* each event's kind and detail, in order, as "kind detail|kind detail" */
static int join_event(const struct pv_event *ev, void *payload)
{
	char *buf = payload;
	size_t n = strlen(buf);

	snprintf(buf + n, 1024 - n, "%s%s %s", n ? "|" : "", ev->kind, ev->detail_json ? ev->detail_json : "-");
	return 0;
}

static void patch_ttl_values_cluster(void **state)
{
	struct fixture *f = *state;
	struct pv_env_change change = { 0 };
	struct pv_env env;
	json_t *ttl = json_string("2h"), *patch = json_pack("{s:i}", "replicaCount", 2);
	char events[1024] = "";

	assert_int_equal(create(f, "jane", "pr-1", NULL, &env), 0);
	pv_env_dispose(&env);
	/* ttl and values at once: two events, each with its own change */
	change.ttl = ttl;
	change.values = patch;
	assert_int_equal(pv_env_patch(f->envs, &writer, "pr-1", &change, NULL, &env), 0);
	pv_env_dispose(&env);
	/* the cluster, validated as a create validates it */
	change = (struct pv_env_change){ .cluster = "Not A Cluster" };
	expect_error(pv_env_patch(f->envs, &writer, "pr-1", &change, NULL, &env), PV_EINVAL, "cluster",
		"Argo CD cluster name");
	pv_env_dispose(&env);
	change.cluster = "staging-eu";
	assert_int_equal(pv_env_patch(f->envs, &writer, "pr-1", &change, NULL, &env), 0);
	assert_string_equal(env.cluster, "staging-eu");
	pv_env_dispose(&env);
	assert_int_equal(pv_env_get(f->envs, "pr-1", &env), 0);
	assert_string_equal(env.cluster, "staging-eu"); /* recorded, for the planner's previewd.json */
	pv_env_dispose(&env);
	change.cluster = "";
	assert_int_equal(pv_env_patch(f->envs, &writer, "pr-1", &change, NULL, &env), 0);
	assert_string_equal(env.cluster, "");
	pv_env_dispose(&env);

	assert_int_equal(pv_env_events(f->envs, "pr-1", join_event, events), 0);
	{
		char *updated = strstr(events, "|updated "), *extended = strstr(events, "|extended ");
		assert_non_null(updated);
		assert_non_null(extended);
		static const char u[] = "|updated {\"values\":{\"replicaCount\":2}}|";
		static const char x[] = "|extended {\"previous_expires_at\":\"";
		assert_memory_equal(updated, u, sizeof(u) - 1);
		assert_memory_equal(extended, x, sizeof(x) - 1);
		assert_null(strstr(extended + 1, "\"values\""));
	}
	assert_non_null(strstr(events, "|updated {\"previous_cluster\":null,\"cluster\":\"staging-eu\"}"));
	assert_non_null(strstr(events, "|updated {\"previous_cluster\":\"staging-eu\",\"cluster\":null}"));
	json_decref(ttl);
	json_decref(patch);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(ttl_default_and_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(lifetime_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(quotas, setup, teardown),
		cmocka_unit_test_setup_teardown(foreign_folder_and_bases, setup, teardown),
		cmocka_unit_test_setup_teardown(writes_need_a_writer, setup, teardown),
		cmocka_unit_test_setup_teardown(delete_and_history, setup, teardown),
		cmocka_unit_test_setup_teardown(idempotency_replay_and_conflict, setup, teardown),
		cmocka_unit_test_setup_teardown(patch_values_and_events, setup, teardown),
		cmocka_unit_test_setup_teardown(schedule_field, setup, teardown),
		cmocka_unit_test_setup_teardown(patch_ttl_values_cluster, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
