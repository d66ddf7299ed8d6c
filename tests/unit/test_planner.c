/*
 * Unit tests for planner.c: a round's tree updates, commit message and
 * previewd.json, driven by a table of what the tip holds instead of a
 * repository.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "planner.h"
#include "values.h"

#define T_CREATED 1764547200 /* 2025-12-01T00:00:00Z */
#define T_UPDATED 1764550800 /* 2025-12-01T01:00:00Z */
#define T_EXPIRES 1765152000 /* 2025-12-08T00:00:00Z */

#define INSTANCE "0123456789abcdef0123456789abcdef"
#define OTHER_INSTANCE "fedcba9876543210fedcba9876543210"

/* The tip as a table: name, is it a folder with this instance's
 * previewd.json for row(name, ...) (managed), or one with this text
 * (marker), and how many files people added beside it. */
struct tip_folder {
	const char *name;
	int managed;
	const char *marker;
	size_t others;
};

struct tip {
	const struct tip_folder *v;
	size_t n;
	int fail;       /* the lookup fails */
	int lookups;
};

static struct pv_env row(const char *name, const char *status, int64_t pushed_gen, const char *values_json);

static int lookup(const char *name, struct pv_plan_folder *out, void *payload)
{
	struct tip *t = payload;

	t->lookups++;
	if (t->fail)
		return pv_error_set(PV_ERROR, NULL, "reading env/%s: broken", name);
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->v[i].name, name) == 0) {
			struct pv_env r = row(name, PV_STATUS_ACTIVE, 1, "{}");
			out->exists = 1;
			out->has_values = 1;
			out->others = t->v[i].others;
			if (t->v[i].marker)
				out->marker = strdup(t->v[i].marker);
			else if (t->v[i].managed)
				out->marker = pv_plan_meta(&r, INSTANCE);
		}
	return 0;
}

/* A row as pv_store_dirty hands it over; strings are literals, not freed. */
static struct pv_env row(const char *name, const char *status, int64_t pushed_gen, const char *values_json)
{
	struct pv_env e;

	memset(&e, 0, sizeof(e));
	e.id = 1;
	snprintf(e.name, sizeof(e.name), "%s", name);
	snprintf(e.owner, sizeof(e.owner), "%s-team", name);
	snprintf(e.status, sizeof(e.status), "%s", status);
	snprintf(e.base, sizeof(e.base), "staging");
	e.values_json = (char *)values_json;
	e.requested_by = (char *)"alice";
	e.created_at = T_CREATED;
	e.updated_at = T_UPDATED;
	e.expires_at = T_EXPIRES;
	e.gen = pushed_gen + 1;
	e.pushed_gen = pushed_gen;
	return e;
}

static const char *expected_meta(void)
{
	return "{\n"
	       "  \"managed_by\": \"previewd\",\n"
	       "  \"version\": 1,\n"
	       "  \"instance\": \"" INSTANCE "\",\n"
	       "  \"id\": 1,\n"
	       "  \"name\": \"web\",\n"
	       "  \"owner\": \"web-team\",\n"
	       "  \"base\": \"staging\",\n"
	       "  \"requested_by\": \"alice\",\n"
	       "  \"created_at\": \"2025-12-01T00:00:00Z\",\n"
	       "  \"updated_at\": \"2025-12-01T01:00:00Z\",\n"
	       "  \"expires_at\": \"2025-12-08T00:00:00Z\"\n"
	       "}\n";
}

static void create_on_empty_tree(void **state)
{
	struct tip tip = { NULL, 0, 0, 0 };
	struct pv_env r = row("web", PV_STATUS_PENDING, 0, "{\"replicas\":2}");
	struct pv_plan p = PV_PLAN_INIT;
	char *yaml = NULL;
	size_t yaml_len = 0;
	json_t *values = json_loads(r.values_json, 0, NULL);

	(void)state;
	assert_int_equal(pv_plan_build(&p, "env", INSTANCE, &r, 1, lookup, &tip), 0);
	assert_int_equal(tip.lookups, 1);
	assert_int_equal(p.n_rows, 1);
	assert_int_equal(p.rows[0].action, PV_PLAN_WRITE);
	assert_string_equal(p.rows[0].verb, "create");
	assert_int_equal(p.changed, 1);
	assert_int_equal(p.n_updates, 2);

	/* values.yaml is what the values module renders, byte for byte */
	assert_int_equal(p.updates[0].remove, 0);
	assert_string_equal(p.updates[0].path, "env/web/values.yaml");
	assert_int_equal(pv_values_to_yaml(&yaml, &yaml_len, values), 0);
	assert_int_equal(p.updates[0].len, yaml_len);
	assert_memory_equal(p.updates[0].data, yaml, yaml_len);
	assert_non_null(strstr(p.updates[0].data, "replicas: 2"));
	assert_int_equal(strncmp(p.updates[0].data, PV_VALUES_HEADER, strlen(PV_VALUES_HEADER)), 0);

	assert_int_equal(p.updates[1].remove, 0);
	assert_string_equal(p.updates[1].path, "env/web/previewd.json");
	assert_int_equal(p.updates[1].len, strlen(expected_meta()));
	assert_memory_equal(p.updates[1].data, expected_meta(), p.updates[1].len);

	assert_string_equal(p.message, "previewd: create web\n\ncreate web (owner web-team, requested by alice)\n");
	free(yaml);
	json_decref(values);
	pv_plan_dispose(&p);
	assert_null(p.updates);
	assert_null(p.message);
}

static void update_of_managed_folder(void **state)
{
	static const struct tip_folder folders[] = { { "other", 0, NULL, 0 }, { "web", 1, NULL, 0 } };
	struct tip tip = { folders, 2, 0, 0 };
	struct pv_env r = row("web", PV_STATUS_ACTIVE, 3, "{\"image\":{\"tag\":\"v2\"}}");
	struct pv_plan p = PV_PLAN_INIT;

	(void)state;
	snprintf(r.changed_by, sizeof(r.changed_by), "bob");
	assert_int_equal(pv_plan_build(&p, "apps/env", INSTANCE, &r, 1, lookup, &tip), 0);
	assert_int_equal(p.rows[0].action, PV_PLAN_WRITE);
	assert_string_equal(p.rows[0].verb, "update");
	assert_int_equal(p.n_updates, 2);
	assert_string_equal(p.updates[0].path, "apps/env/web/values.yaml");
	assert_non_null(strstr(p.updates[0].data, "tag: v2"));
	assert_string_equal(p.updates[1].path, "apps/env/web/previewd.json");
	/* an update names who asked for it, not who created the environment */
	assert_string_equal(p.message, "previewd: update web\n\nupdate web (owner web-team, requested by bob)\n");
	pv_plan_dispose(&p);
}

static void delete_removes_only_managed_folders(void **state)
{
	static const struct tip_folder folders[] = { { "gone-by-hand", 0, NULL, 0 }, { "web", 1, NULL, 0 } };
	struct tip tip = { folders, 2, 0, 0 };
	struct pv_env rows[3] = {
		row("web", PV_STATUS_DELETING, 2, "{}"),
		row("missing", PV_STATUS_DELETING, 1, "{}"),
		row("gone-by-hand", PV_STATUS_DELETING, 1, "{}"),
	};
	struct pv_plan p = PV_PLAN_INIT;

	(void)state;
	snprintf(rows[0].changed_by, sizeof(rows[0].changed_by), "reaper");
	assert_int_equal(pv_plan_build(&p, "env", INSTANCE, rows, 3, lookup, &tip), 0);
	assert_int_equal(p.rows[0].action, PV_PLAN_REMOVE);
	assert_string_equal(p.rows[0].verb, "delete");
	/* already gone, or taken over by people: nothing of ours to remove */
	assert_int_equal(p.rows[1].action, PV_PLAN_NOTHING);
	assert_string_equal(p.rows[1].verb, "delete");
	assert_int_equal(p.rows[2].action, PV_PLAN_NOTHING);
	assert_int_equal(p.changed, 1);
	assert_int_equal(p.n_updates, 1);
	assert_int_equal(p.updates[0].remove, 1);
	assert_string_equal(p.updates[0].path, "env/web");
	assert_null(p.updates[0].data);
	assert_string_equal(p.message, "previewd: delete web\n\ndelete web (owner web-team, requested by reaper)\n");
	pv_plan_dispose(&p);
}

static void foreign_folder_refused(void **state)
{
	static const struct tip_folder folders[] = { { "team-a", 0, NULL, 0 } };
	struct tip tip = { folders, 1, 0, 0 };
	struct pv_env rows[2] = {
		row("team-a", PV_STATUS_PENDING, 0, "{}"),
		row("team-a", PV_STATUS_ACTIVE, 1, "{}"),
	};
	struct pv_plan p = PV_PLAN_INIT;

	(void)state;
	assert_int_equal(pv_plan_build(&p, "env", INSTANCE, rows, 2, lookup, &tip), 0);
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(p.rows[i].action, PV_PLAN_FAIL);
		assert_string_equal(p.rows[i].why, "the folder env/team-a exists in Git and was not created by previewd");
	}
	assert_string_equal(p.rows[0].verb, "create");
	assert_string_equal(p.rows[1].verb, "update");
	assert_int_equal(p.n_updates, 0);
	assert_int_equal(p.changed, 0);
	assert_string_equal(p.message, "previewd: 0 changes (0 create, 0 update, 0 delete)\n\n");
	pv_plan_dispose(&p);
}

static void unrenderable_values_fail_the_row(void **state)
{
	struct tip tip = { NULL, 0, 0, 0 };
	struct pv_env rows[2] = { row("bad", PV_STATUS_PENDING, 0, "{not json"), row("good", PV_STATUS_PENDING, 0, "{}") };
	struct pv_plan p = PV_PLAN_INIT;

	(void)state;
	assert_int_equal(pv_plan_build(&p, "env", INSTANCE, rows, 2, lookup, &tip), 0);
	assert_int_equal(p.rows[0].action, PV_PLAN_FAIL);
	assert_int_equal(strncmp(p.rows[0].why, "the recorded values cannot be rendered: ", 40), 0);
	assert_int_equal(p.rows[1].action, PV_PLAN_WRITE);
	assert_int_equal(p.n_updates, 2);
	assert_string_equal(p.updates[0].path, "env/good/values.yaml");
	pv_plan_dispose(&p);
}

static void message_for_several_rows(void **state)
{
	static const struct tip_folder folders[] = { { "c", 1, NULL, 0 }, { "d", 1, NULL, 0 }, { "people", 0, NULL, 0 } };
	struct tip tip = { folders, 3, 0, 0 };
	struct pv_env rows[5] = {
		row("a", PV_STATUS_PENDING, 0, "{}"),
		row("people", PV_STATUS_PENDING, 0, "{}"),
		row("b", PV_STATUS_PENDING, 0, "{}"),
		row("c", PV_STATUS_ACTIVE, 1, "{}"),
		row("d", PV_STATUS_DELETING, 1, "{}"),
	};
	struct pv_plan p = PV_PLAN_INIT;

	(void)state;
	snprintf(rows[3].changed_by, sizeof(rows[3].changed_by), "carol");
	snprintf(rows[2].changed_by, sizeof(rows[2].changed_by), "ignored-for-creates");
	assert_int_equal(pv_plan_build(&p, "env", INSTANCE, rows, 5, lookup, &tip), 0);
	assert_int_equal(p.changed, 4);
	/* two files per write, one removal; the refused row adds nothing */
	assert_int_equal(p.n_updates, 2 + 2 + 2 + 1);
	assert_string_equal(p.updates[6].path, "env/d");
	assert_int_equal(p.updates[6].remove, 1);
	assert_string_equal(p.message,
		"previewd: 4 changes (2 create, 1 update, 1 delete)\n\n"
		"create a (owner a-team, requested by alice)\n"
		"create b (owner b-team, requested by alice)\n"
		"update c (owner c-team, requested by carol)\n"
		"delete d (owner d-team, requested by alice)\n");
	pv_plan_dispose(&p);
}

static void meta_contents(void **state)
{
	struct pv_env r = row("web", PV_STATUS_PENDING, 0, "{}");
	char *meta = pv_plan_meta(&r, INSTANCE);
	json_t *o;

	(void)state;
	assert_non_null(meta);
	assert_string_equal(meta, expected_meta());
	free(meta);

	/* no expiry is null; a cluster is named only when one was asked for */
	r.expires_at = 0;
	snprintf(r.cluster, sizeof(r.cluster), "eu-1");
	meta = pv_plan_meta(&r, INSTANCE);
	assert_non_null(meta);
	assert_int_equal(meta[strlen(meta) - 1], '\n');
	o = json_loads(meta, 0, NULL);
	assert_non_null(o);
	assert_true(json_is_null(json_object_get(o, "expires_at")));
	assert_string_equal(json_string_value(json_object_get(o, "cluster")), "eu-1");
	assert_string_equal(json_string_value(json_object_get(o, "managed_by")), "previewd");
	assert_int_equal(json_integer_value(json_object_get(o, "version")), 1);
	assert_int_equal(json_object_size(o), 12);
	assert_string_equal(json_string_value(json_object_get(o, "instance")), INSTANCE);
	assert_int_equal(json_integer_value(json_object_get(o, "id")), 1);
	json_decref(o);
	free(meta);
}

static void failed_lookup_fails_the_plan(void **state)
{
	struct tip tip = { NULL, 0, 1, 0 };
	struct pv_env r = row("web", PV_STATUS_PENDING, 0, "{}");
	struct pv_plan p = PV_PLAN_INIT;

	(void)state;
	assert_int_equal(pv_plan_build(&p, "env", INSTANCE, &r, 1, lookup, &tip), PV_ERROR);
	assert_string_equal(pv_error_last()->message, "reading env/web: broken");
	assert_null(p.rows);
	assert_int_equal(p.n_updates, 0);
	assert_null(p.message);
	pv_plan_dispose(&p);
}

static void changes_for_the_push_hook(void **state)
{
	static const struct tip_folder folders[] = { { "b", 1, NULL, 0 }, { "c", 1, NULL, 0 } };
	struct tip tip = { folders, 2, 0, 0 };
	struct pv_env rows[3] = {
		row("a", PV_STATUS_PENDING, 0, "{}"),
		row("b", PV_STATUS_ACTIVE, 1, "{}"),
		row("c", PV_STATUS_DELETING, 1, "{}"),
	};
	struct pv_plan p = PV_PLAN_INIT;
	json_t *changes;
	char *s;

	(void)state;
	assert_int_equal(pv_plan_build(&p, "env", INSTANCE, rows, 3, lookup, &tip), 0);
	changes = pv_plan_changes(&p, "env", rows);
	assert_non_null(changes);
	s = json_dumps(changes, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(s, "{\"added\":[\"env/a/values.yaml\",\"env/a/previewd.json\"],"
			       "\"modified\":[\"env/b/values.yaml\",\"env/b/previewd.json\"],"
			       "\"removed\":[\"env/c/values.yaml\",\"env/c/previewd.json\"]}");
	free(s);
	json_decref(changes);
	pv_plan_dispose(&p);
}

/* A marker as an earlier previewd wrote it: no instance, no record id. */
static char *legacy_marker(const struct pv_env *r)
{
	char *m = pv_plan_meta(r, INSTANCE);
	json_t *o = json_loads(m, 0, NULL);
	char *s;

	json_object_del(o, "instance");
	json_object_del(o, "id");
	s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(o);
	free(m);
	return s;
}

/* Issue 12: a file named previewd.json proves nothing. */
static void hand_written_or_copied_markers_grant_nothing(void **state)
{
	struct pv_env t1 = row("t1", PV_STATUS_ACTIVE, 1, "{}");
	char *copy = pv_plan_meta(&t1, INSTANCE);  /* env/t1's marker, copied to env/prod2 */
	const struct tip_folder folders[] = {
		{ "prod", 0, "{}\n", 0 },
		{ "prod2", 0, copy, 1 },
		{ "prod3", 0, "{\"managed_by\":\"previewd\",\"name\":\"prod3\"}", 0 },
	};
	struct tip tip = { folders, 3, 0, 0 };
	struct pv_env rows[5] = {
		row("prod", PV_STATUS_PENDING, 0, "{}"),
		row("prod", PV_STATUS_DELETING, 1, "{}"),
		row("prod2", PV_STATUS_PENDING, 0, "{}"),
		row("prod2", PV_STATUS_DELETING, 1, "{}"),
		row("prod3", PV_STATUS_ACTIVE, 1, "{}"),
	};
	struct pv_plan p = PV_PLAN_INIT;

	(void)state;
	assert_int_equal(pv_plan_build(&p, "env", INSTANCE, rows, 5, lookup, &tip), 0);
	for (size_t i = 0; i < 5; i++) {
		char want[200];
		snprintf(want, sizeof(want),
			"the folder env/%s carries a previewd.json that previewd did not write for this environment",
			rows[i].name);
		assert_int_equal(p.rows[i].action, PV_PLAN_FAIL);
		assert_string_equal(p.rows[i].why, want);
	}
	assert_string_equal(p.rows[1].verb, "delete");
	assert_int_equal(p.n_updates, 0);
	assert_int_equal(p.changed, 0);
	pv_plan_dispose(&p);
	free(copy);
}

static void owns_by_instance_and_record(void **state)
{
	struct pv_env r = row("web", PV_STATUS_ACTIVE, 1, "{}"), other = r, later = r;
	char *mine = pv_plan_meta(&r, INSTANCE), *theirs, *legacy = legacy_marker(&r), *legacy_later;

	(void)state;
	assert_int_equal(pv_plan_owns(mine, INSTANCE, &r), 1);
	/* another record of the name (created later): not its marker */
	later.id = 2;
	later.created_at = T_CREATED + 1;
	assert_int_equal(pv_plan_owns(mine, INSTANCE, &later), 0);
	/* the same record under another name: a renamed copy */
	snprintf(other.name, sizeof(other.name), "web2");
	assert_int_equal(pv_plan_owns(mine, INSTANCE, &other), 0);
	/* another owner, same id: not this record */
	other = r;
	snprintf(other.owner, sizeof(other.owner), "mallory");
	other.created_at = T_CREATED + 5;
	assert_int_equal(pv_plan_owns(mine, INSTANCE, &other), 1);  /* the instance and id prove it */
	assert_int_equal(pv_plan_owns(mine, OTHER_INSTANCE, &other), 0);
	/* an earlier version's marker: by name, owner and creation second */
	assert_int_equal(pv_plan_owns(legacy, INSTANCE, &r), 1);
	assert_int_equal(pv_plan_owns(legacy, INSTANCE, &later), 0);
	other = r;
	snprintf(other.owner, sizeof(other.owner), "mallory");
	assert_int_equal(pv_plan_owns(legacy, INSTANCE, &other), 0);
	/* another instance's marker matches the same way (recover --adopt-foreign) */
	theirs = pv_plan_meta(&r, OTHER_INSTANCE);
	assert_int_equal(pv_plan_owns(theirs, INSTANCE, &r), 1);
	assert_int_equal(pv_plan_owns(theirs, INSTANCE, &later), 0);
	/* not previewd's, not JSON, not an object */
	assert_int_equal(pv_plan_owns("{}", INSTANCE, &r), 0);
	assert_int_equal(pv_plan_owns("not json", INSTANCE, &r), 0);
	assert_int_equal(pv_plan_owns("[1]", INSTANCE, &r), 0);
	legacy_later = legacy_marker(&later);
	assert_non_null(strstr(legacy_later, "\"created_at\": \"2025-12-01T00:00:01Z\""));
	assert_int_equal(pv_plan_owns(legacy_later, INSTANCE, &later), 1);
	free(mine);
	free(theirs);
	free(legacy);
	free(legacy_later);
}

/* A marker of an earlier version is rewritten as this instance's. */
static void legacy_marker_upgraded_on_write(void **state)
{
	struct pv_env r = row("web", PV_STATUS_ACTIVE, 1, "{\"tag\":\"v3\"}");
	char *legacy = legacy_marker(&r);
	const struct tip_folder folders[] = { { "web", 0, legacy, 0 } };
	struct tip tip = { folders, 1, 0, 0 };
	struct pv_plan p = PV_PLAN_INIT;
	json_t *o;

	(void)state;
	assert_null(strstr(legacy, "instance"));
	assert_int_equal(pv_plan_build(&p, "env", INSTANCE, &r, 1, lookup, &tip), 0);
	assert_int_equal(p.rows[0].action, PV_PLAN_WRITE);
	assert_int_equal(p.n_updates, 2);
	assert_string_equal(p.updates[1].path, "env/web/previewd.json");
	o = json_loads(p.updates[1].data, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(o, "instance")), INSTANCE);
	assert_int_equal(json_integer_value(json_object_get(o, "id")), r.id);
	json_decref(o);
	pv_plan_dispose(&p);
	free(legacy);
}

/* Reaping a folder people added files to removes only previewd's two. */
static void removal_keeps_files_people_added(void **state)
{
	static const struct tip_folder folders[] = { { "t1", 1, NULL, 1 } };
	struct tip tip = { folders, 1, 0, 0 };
	struct pv_env r = row("t1", PV_STATUS_DELETING, 1, "{}");
	struct pv_plan p = PV_PLAN_INIT;
	struct pv_plan_row *pr;

	(void)state;
	assert_int_equal(pv_plan_build(&p, "env", INSTANCE, &r, 1, lookup, &tip), 0);
	pr = &p.rows[0];
	assert_int_equal(pr->action, PV_PLAN_REMOVE);
	assert_int_equal(pr->leftover, 1);
	assert_string_equal(pr->why, "the folder env/t1 keeps 1 file(s) previewd did not write; it stays in Git");
	assert_int_equal(p.changed, 1);
	assert_int_equal(p.n_updates, 2);
	assert_int_equal(p.updates[0].remove, 1);
	assert_string_equal(p.updates[0].path, "env/t1/values.yaml");
	assert_int_equal(p.updates[1].remove, 1);
	assert_string_equal(p.updates[1].path, "env/t1/previewd.json");
	pv_plan_dispose(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(create_on_empty_tree),
		cmocka_unit_test(update_of_managed_folder),
		cmocka_unit_test(delete_removes_only_managed_folders),
		cmocka_unit_test(foreign_folder_refused),
		cmocka_unit_test(unrenderable_values_fail_the_row),
		cmocka_unit_test(message_for_several_rows),
		cmocka_unit_test(meta_contents),
		cmocka_unit_test(failed_lookup_fails_the_plan),
		cmocka_unit_test(changes_for_the_push_hook),
		cmocka_unit_test(hand_written_or_copied_markers_grant_nothing),
		cmocka_unit_test(owns_by_instance_and_record),
		cmocka_unit_test(legacy_marker_upgraded_on_write),
		cmocka_unit_test(removal_keeps_files_people_added),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
