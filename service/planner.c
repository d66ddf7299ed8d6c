/*
 * planner.c - one round's tree updates and commit message (see planner.h).
 */
#include "planner.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "strbuf.h"
#include "timefmt.h"
#include "values.h"

char *pv_plan_meta(const struct pv_env *env, const char *instance)
{
	char created[PV_TIME_LEN], expires[PV_TIME_LEN], updated[PV_TIME_LEN];
	struct pv_strbuf out = PV_STRBUF_INIT;
	json_t *o;
	char *s;

	pv_time_format(created, sizeof(created), env->created_at);
	pv_time_format(expires, sizeof(expires), env->expires_at);
	pv_time_format(updated, sizeof(updated), env->updated_at);
	/* version 1 still: the instance and the record's id are additions a
	 * reader of earlier markers skips */
	o = json_pack("{s:s, s:i, s:s, s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:o}",
		"managed_by", "previewd", "version", 1, "instance", instance, "id", (json_int_t)env->id,
		"name", env->name, "owner", env->owner,
		"base", env->base, "requested_by", env->requested_by,
		"created_at", created, "updated_at", updated,
		"expires_at", env->expires_at ? json_string(expires) : json_null());
	/* the cluster-placing ApplicationSet reads this key; absent means its default */
	if (o && env->cluster[0])
		json_object_set_new(o, "cluster", json_string(env->cluster));
	if (!o)
		return NULL;
	s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (!s || pv_strbuf_printf(&out, "%s\n", s) < 0) {
		free(s);
		pv_strbuf_dispose(&out);
		return NULL;
	}
	free(s);
	return pv_strbuf_take(&out, NULL);
}

/* "a/b" or "a/b/c" (c may be NULL), malloc'd */
static char *join(const char *a, const char *b, const char *c)
{
	struct pv_strbuf s = PV_STRBUF_INIT;

	if ((c ? pv_strbuf_printf(&s, "%s/%s/%s", a, b, c) : pv_strbuf_printf(&s, "%s/%s", a, b)) < 0) {
		pv_strbuf_dispose(&s);
		return NULL;
	}
	return pv_strbuf_take(&s, NULL);
}

/* Append one update; takes path and data (freed on failure). */
static int add_update(struct pv_plan *p, int remove, char *path, char *data, size_t len)
{
	int error;

	if (!path || (!remove && !data)) {
		error = pv_error_set(PV_ERROR, NULL, "out of memory");
		goto fail;
	}
	if ((error = pv_array_reserve(&p->updates, &p->cap_updates, p->n_updates + 1, sizeof(*p->updates))) < 0)
		goto fail;
	p->updates[p->n_updates++] = (struct pv_plan_update){ remove, path, data, len };
	return 0;
fail:
	free(path);
	free(data);
	return error;
}

int pv_plan_owns(const char *marker, const char *instance, const struct pv_env *r)
{
	json_t *m = json_loads(marker, 0, NULL);
	const char *inst = json_string_value(json_object_get(m, "instance"));
	const char *created = json_string_value(json_object_get(m, "created_at"));
	const char *owner = json_string_value(json_object_get(m, "owner"));
	const char *name = json_string_value(json_object_get(m, "name"));
	const char *by = json_string_value(json_object_get(m, "managed_by"));
	json_t *id = json_object_get(m, "id");
	char want[PV_TIME_LEN];
	int ours = 0;

	pv_time_format(want, sizeof(want), r->created_at);
	if (!json_is_object(m) || !by || strcmp(by, "previewd") != 0 || !name || strcmp(name, r->name) != 0)
		ours = 0;
	else if (inst && strcmp(inst, instance) == 0 && json_is_integer(id) && json_integer_value(id) == r->id)
		ours = 1;
	else
		/* an earlier previewd's marker, or one recover took over: the
		 * record it was written for, by name, owner and creation */
		ours = owner && created && strcmp(owner, r->owner) == 0 && strcmp(created, want) == 0;
	json_decref(m);
	return ours;
}

/* Remove what previewd wrote of folder name: the folder when nothing else
 * is in it, else its two files. */
static int plan_remove(struct pv_plan *p, struct pv_plan_row *pr, const char *env_dir, const char *name,
	const struct pv_plan_folder *f)
{
	int error;

	pr->action = PV_PLAN_REMOVE;
	if (f->others == 0)
		return add_update(p, 1, join(env_dir, name, NULL), NULL, 0);
	pr->leftover = 1;
	snprintf(pr->why, sizeof(pr->why), "the folder %s/%s keeps %zu file(s) previewd did not write; it stays in Git",
		env_dir, name, f->others);
	if (f->has_values && (error = add_update(p, 1, join(env_dir, name, PV_PLAN_VALUES_FILE), NULL, 0)) < 0)
		return error;
	return add_update(p, 1, join(env_dir, name, PV_PLAN_MANAGED_FILE), NULL, 0);
}

/* The decision for row r, and its updates. */
static int plan_row(struct pv_plan *p, struct pv_plan_row *pr, const char *env_dir, const char *instance,
	const struct pv_env *r, pv_plan_lookup_cb lookup, void *payload)
{
	struct pv_plan_folder f = { 0 };
	json_t *values = NULL;
	char *yaml = NULL, *meta = NULL;
	size_t yaml_len = 0;
	int ours, error = 0;

	memset(pr, 0, sizeof(*pr));
	if ((error = lookup(r->name, &f, payload)) < 0)
		goto out;
	ours = f.marker && pv_plan_owns(f.marker, instance, r);
	pr->verb = strcmp(r->status, PV_STATUS_DELETING) == 0 ? "delete" : r->pushed_gen == 0 ? "create" : "update";
	if (f.marker && !ours) {
		/* someone's previewd.json: a copy, a hand-written one, another instance's */
		pr->action = PV_PLAN_FAIL;
		snprintf(pr->why, sizeof(pr->why),
			"the folder %s/%s carries a previewd.json that previewd did not write for this environment",
			env_dir, r->name);
		goto out;
	}
	if (strcmp(r->status, PV_STATUS_DELETING) == 0) {
		/* gone already, or taken over by people: nothing of ours to remove */
		pr->action = PV_PLAN_NOTHING;
		if (f.exists && ours)
			error = plan_remove(p, pr, env_dir, r->name, &f);
		goto out;
	}
	if (f.exists && !ours) {
		pr->action = PV_PLAN_FAIL;
		snprintf(pr->why, sizeof(pr->why), "the folder %s/%s exists in Git and was not created by previewd",
			env_dir, r->name);
		goto out;
	}
	values = json_loads(pv_env_git_values(r), 0, NULL);
	if (!values || pv_values_to_yaml(&yaml, &yaml_len, values) < 0 || !(meta = pv_plan_meta(r, instance))) {
		pr->action = PV_PLAN_FAIL;
		snprintf(pr->why, sizeof(pr->why), "the recorded values cannot be rendered: %s", pv_error_last()->message);
		free(yaml);
		goto out;
	}
	pr->action = PV_PLAN_WRITE;
	if ((error = add_update(p, 0, join(env_dir, r->name, PV_PLAN_VALUES_FILE), yaml, yaml_len)) < 0) {
		free(meta);
		goto out;
	}
	error = add_update(p, 0, join(env_dir, r->name, PV_PLAN_MANAGED_FILE), meta, strlen(meta));
out:
	json_decref(values);
	free(f.marker);
	return error;
}

static int changes(const struct pv_plan_row *r)
{
	return r->action == PV_PLAN_WRITE || r->action == PV_PLAN_REMOVE;
}

static char *commit_message(const struct pv_plan *p, const struct pv_env *rows)
{
	size_t n_create = 0, n_update = 0, n_delete = 0;
	struct pv_strbuf msg = PV_STRBUF_INIT;
	const struct pv_env *only = NULL;
	const struct pv_plan_row *only_plan = NULL;
	int error;

	for (size_t i = 0; i < p->n_rows; i++) {
		if (!changes(&p->rows[i]))
			continue;
		only = &rows[i];
		only_plan = &p->rows[i];
		if (strcmp(p->rows[i].verb, "create") == 0)
			n_create++;
		else if (strcmp(p->rows[i].verb, "update") == 0)
			n_update++;
		else
			n_delete++;
	}
	if (p->changed == 1)
		error = pv_strbuf_printf(&msg, "previewd: %s %s\n\n", only_plan->verb, only->name);
	else
		error = pv_strbuf_printf(&msg, "previewd: %zu changes (%zu create, %zu update, %zu delete)\n\n",
			p->changed, n_create, n_update, n_delete);
	for (size_t i = 0; i < p->n_rows && error == 0; i++) {
		const struct pv_env *r = &rows[i];
		const char *by;

		if (!changes(&p->rows[i]))
			continue;
		/* the requester of this change: a removal names who removed it */
		by = strcmp(p->rows[i].verb, "create") != 0 && r->changed_by[0] ? r->changed_by : r->requested_by;
		error = pv_strbuf_printf(&msg, "%s %s (owner %s, requested by %s)\n", p->rows[i].verb, r->name,
			r->owner, by);
	}
	if (error < 0) {
		pv_strbuf_dispose(&msg);
		return NULL;
	}
	return pv_strbuf_take(&msg, NULL);
}

int pv_plan_build(struct pv_plan *out, const char *env_dir, const char *instance, const struct pv_env *rows,
	size_t n, pv_plan_lookup_cb lookup, void *payload)
{
	int error = 0;

	memset(out, 0, sizeof(*out));
	if (n && !(out->rows = calloc(n, sizeof(*out->rows))))
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	out->n_rows = n;
	for (size_t i = 0; i < n; i++) {
		if ((error = plan_row(out, &out->rows[i], env_dir, instance, &rows[i], lookup, payload)) < 0)
			goto fail;
		if (changes(&out->rows[i]))
			out->changed++;
	}
	if (!(out->message = commit_message(out, rows))) {
		error = pv_error_set(PV_ERROR, NULL, "out of memory");
		goto fail;
	}
	return 0;
fail:
	pv_plan_dispose(out);
	return error;
}

void pv_plan_dispose(struct pv_plan *p)
{
	for (size_t i = 0; i < p->n_updates; i++) {
		free(p->updates[i].path);
		free(p->updates[i].data);
	}
	free(p->updates);
	free(p->rows);
	free(p->message);
	memset(p, 0, sizeof(*p));
}

json_t *pv_plan_changes(const struct pv_plan *p, const char *env_dir, const struct pv_env *rows)
{
	static const char *const files[2] = { PV_PLAN_VALUES_FILE, PV_PLAN_MANAGED_FILE };
	json_t *out = json_pack("{s:[], s:[], s:[]}", "added", "modified", "removed");

	for (size_t i = 0; out && i < p->n_rows; i++) {
		const struct pv_plan_row *r = &p->rows[i];
		const char *list = r->action == PV_PLAN_REMOVE ? "removed"
				 : r->action == PV_PLAN_WRITE && strcmp(r->verb, "create") == 0 ? "added"
				 : r->action == PV_PLAN_WRITE ? "modified" : NULL;

		for (size_t f = 0; list && f < 2; f++) {
			char *path = join(env_dir, rows[i].name, files[f]);
			if (!path || json_array_append_new(json_object_get(out, list), json_string(path)) < 0) {
				free(path);
				json_decref(out);
				return NULL;
			}
			free(path);
		}
	}
	return out;
}
