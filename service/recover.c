/*
 * recover.c - rows back from previewd.json (see recover.h).
 *
 * Two passes over the env folder: read and check every marker (a
 * candidate, or a reason to skip it), then, knowing which instance this
 * database is and which record ids are claimed twice, insert the rows.
 */
#include "recover.h"

#include <git2.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "array.h"
#include "env.h"
#include "gitrepo.h"
#include "log.h"
#include "planner.h"
#include "pusher.h"
#include "store.h"
#include "timefmt.h"
#include "valid.h"
#include "values.h"

/* One folder carrying previewd.json. */
struct cand {
	char folder[256];
	struct pv_env env;                /* the row it would be */
	char instance[PV_INSTANCE_LEN];   /* "" for a marker of an earlier version */
	int64_t marker_id;                /* the record id it names (0: none) */
	int known;                        /* the database has a live row of the name */
	int twin;                         /* another folder claims the same record */
	char twin_of[256];
	char why[320];                    /* not "": skipped, and why */
};

struct cands {
	struct cand *v;
	size_t n, cap;
};

static void cands_clear(struct cands *c)
{
	for (size_t i = 0; i < c->n; i++)
		pv_env_dispose(&c->v[i].env);
	free(c->v);
	memset(c, 0, sizeof(*c));
}

/* Skip c, saying why; 0, for the checks to return. */
static int refuse(struct cand *c, const char *fmt, ...) PV_PRINTF(2, 3);
static int refuse(struct cand *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->why, sizeof(c->why), fmt, ap);
	va_end(ap);
	return 0;
}

/* A string field of meta that must pass check (a pv_valid_* function, or
 * NULL), into dst; 0 or -1 with c refused. */
static int str_field(struct cand *c, const json_t *meta, const char *key, char *dst, size_t len,
	int (*check)(const char *s, const char *field))
{
	const char *s = json_string_value(json_object_get(meta, key));

	if (!s || !*s) {
		refuse(c, "previewd.json has no %s", key);
		return -1;
	}
	if (strlen(s) >= len || (check && check(s, key) < 0)) {
		refuse(c, "previewd.json: %s", strlen(s) >= len ? "a field is too long" : pv_error_last()->message);
		return -1;
	}
	snprintf(dst, len, "%s", s);
	return 0;
}

/* An RFC 3339 field into *t; null allowed only when nullable (then 0).
 * 0 or -1 with c refused: an expiry that does not parse is not "never". */
static int time_field(struct cand *c, const json_t *meta, const char *key, int nullable, int64_t *t)
{
	const json_t *v = json_object_get(meta, key);

	*t = 0;
	if (nullable && json_is_null(v))
		return 0;
	if (!json_is_string(v) || pv_time_parse(json_string_value(v), t) < 0) {
		refuse(c, "previewd.json: %s is %s", key, json_is_string(v) ? "not an RFC 3339 time" : "missing");
		return -1;
	}
	return 0;
}

/* Check meta (and values) of folder as the API checks a request, filling
 * c->env; a failed check refuses c, only out of memory is an error. */
static int check_marker(struct cand *c, const struct pv_config *cfg, const json_t *meta, const char *yaml,
	size_t yaml_len)
{
	const char *by = json_string_value(json_object_get(meta, "managed_by"));
	const char *name = json_string_value(json_object_get(meta, "name"));
	const char *cluster = json_string_value(json_object_get(meta, "cluster"));
	const char *req = json_string_value(json_object_get(meta, "requested_by"));
	const json_t *inst = json_object_get(meta, "instance"), *id = json_object_get(meta, "id");
	json_t *values = NULL;
	struct pv_env *e = &c->env;

	if (!json_is_object(meta))
		return refuse(c, "previewd.json is not a JSON object");
	if (!by || strcmp(by, "previewd") != 0)
		return refuse(c, "previewd.json is not previewd's (managed_by is not \"previewd\")");
	if (!name || strcmp(name, c->folder) != 0)
		return refuse(c, "previewd.json names %s%s%s, not this folder (a copy?)", name ? "'" : "",
			       name ? name : "no environment", name ? "'" : "");
	if (pv_valid_reserved(name, "name", cfg->reserved, cfg->reserved_count) < 0)
		return refuse(c, "%s", pv_error_last()->message);
	snprintf(e->name, sizeof(e->name), "%s", name);
	if (str_field(c, meta, "owner", e->owner, sizeof(e->owner), pv_valid_name) < 0 ||
	    str_field(c, meta, "base", e->base, sizeof(e->base), pv_valid_name) < 0)
		return 0;
	if (json_object_get(meta, "cluster") && (!cluster || strlen(cluster) >= sizeof(e->cluster) ||
						    pv_env_check_cluster(cluster) < 0))
		return refuse(c, "previewd.json: %s", cluster ? pv_error_last()->message : "cluster is not a string");
	snprintf(e->cluster, sizeof(e->cluster), "%s", cluster ? cluster : "");
	if (!req || !*req)
		return refuse(c, "previewd.json has no requested_by");
	if (time_field(c, meta, "created_at", 0, &e->created_at) < 0 ||
	    time_field(c, meta, "updated_at", 0, &e->updated_at) < 0 ||
	    time_field(c, meta, "expires_at", 1, &e->expires_at) < 0)
		return 0;
	if (e->updated_at < e->created_at || (e->expires_at && e->expires_at <= e->created_at))
		return refuse(c, "previewd.json: its times are out of order (created, updated, expires)");
	if (inst) {
		const char *s = json_string_value(inst);
		if (!s || strlen(s) != PV_INSTANCE_LEN - 1 || strspn(s, "0123456789abcdef") != PV_INSTANCE_LEN - 1)
			return refuse(c, "previewd.json: instance is not an instance id");
		if (!json_is_integer(id) || json_integer_value(id) <= 0)
			return refuse(c, "previewd.json: id is not a record id");
		snprintf(c->instance, sizeof(c->instance), "%s", s);
		c->marker_id = json_integer_value(id);
	}
	if (!yaml)
		return refuse(c, "the folder has no values.yaml");
	if (pv_values_from_yaml(&values, yaml, yaml_len) < 0 || !json_is_object(values)) {
		refuse(c, "values.yaml cannot be read: %s", values ? "not a mapping" : pv_error_last()->message);
		json_decref(values);
		return 0;
	}
	snprintf(e->status, sizeof(e->status), "%s", PV_STATUS_ACTIVE);
	e->requested_by = strdup(req);
	e->values_json = json_dumps(values, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(values);
	if (!e->requested_by || !e->values_json)
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	return 0;
}

/* The marker in folder name (NULL: people's folder, not a candidate). */
static int read_cand(struct cands *out, const struct pv_config *cfg, git_repository *repo, const git_tree *folder,
	const char *name)
{
	char *meta_s = NULL, *yaml = NULL;
	size_t meta_len = 0, yaml_len = 0;
	json_t *meta = NULL;
	struct cand *c;
	int error;

	if (!git_tree_entry_byname(folder, PV_PLAN_MANAGED_FILE))
		return 0;
	if ((error = pv_array_reserve(&out->v, &out->cap, out->n + 1, sizeof(*out->v))) < 0)
		return error;
	c = &out->v[out->n++];
	memset(c, 0, sizeof(*c));
	snprintf(c->folder, sizeof(c->folder), "%s", name);
	if (pv_valid_name(name, "name") < 0) {
		refuse(c, "%s", pv_error_last()->message);
		return 0;
	}
	if ((error = pv_git_read_blob(repo, folder, PV_PLAN_MANAGED_FILE, &meta_s, &meta_len)) < 0 ||
	    (error = pv_git_read_blob(repo, folder, PV_PLAN_VALUES_FILE, &yaml, &yaml_len)) < 0)
		goto out;
	meta = meta_s ? json_loads(meta_s, 0, NULL) : NULL;
	if (!meta)
		refuse(c, "previewd.json is not JSON");
	else
		error = check_marker(c, cfg, meta, yaml, yaml_len);
out:
	json_decref(meta);
	free(meta_s);
	free(yaml);
	return error;
}

/* This database's instance: the recorded one, else the one instance the
 * markers name (the database that was lost), else a new one. */
static int own_instance(struct pv_store *store, const struct cands *cs, FILE *report, char own[PV_INSTANCE_LEN])
{
	const char *only = NULL;
	int error, several = 0;

	if ((error = pv_store_instance_peek(store, own)) != PV_ENOTFOUND)
		return error;
	for (size_t i = 0; i < cs->n; i++) {
		const struct cand *c = &cs->v[i];
		if (c->why[0] || !c->instance[0])
			continue;
		if (only && strcmp(only, c->instance) != 0)
			several = 1;
		only = only ? only : c->instance;
	}
	if (only && !several) {
		if ((error = pv_store_instance_set(store, only)) < 0)
			return error;
		if (report)
			fprintf(report, "recover: the new database is instance %s, the one its markers name\n", only);
	} else if (several && report) {
		fprintf(report, "recover: the markers name several instances; the new database takes none of them\n");
	}
	return pv_store_instance(store, own);
}

/* Two folders naming one record of this instance: neither is believed
 * (a marker refused already claims nothing). */
static void refuse_twins(struct cands *cs, const char *own, const char *env_dir)
{
	for (size_t i = 0; i < cs->n; i++) {
		struct cand *a = &cs->v[i];
		if (a->why[0] || !a->marker_id || strcmp(a->instance, own) != 0)
			continue;
		for (size_t j = i + 1; j < cs->n; j++) {
			struct cand *b = &cs->v[j];
			if (b->why[0] || b->marker_id != a->marker_id || strcmp(b->instance, own) != 0)
				continue;
			a->twin = b->twin = 1;
			snprintf(a->twin_of, sizeof(a->twin_of), "%s", b->folder);
			snprintf(b->twin_of, sizeof(b->twin_of), "%s", a->folder);
		}
	}
	for (size_t i = 0; i < cs->n; i++)
		if (cs->v[i].twin)
			refuse(&cs->v[i], "%s/%s claims its record (id %lld) too", env_dir, cs->v[i].twin_of,
				(long long)cs->v[i].marker_id);
}

/* Whether c may become a row: refuses it when not; 1 if it may, 0 if the
 * database has it live, or a pv_error code. */
static int admit(struct pv_store *store, struct cand *c, const char *own, const struct pv_recover_opts *opts,
	const char *env_dir)
{
	struct pv_env live = { 0 }, byid = { 0 };
	int error, known;

	error = pv_store_env_get(store, &live, c->env.name);
	known = error == 0 && pv_env_is_live(&live);
	pv_env_dispose(&live);
	if (error < 0 && error != PV_ENOTFOUND)
		return error;
	if (known)
		return 0;
	if (strcmp(c->instance, own) == 0) {
		/* the record it names must not be another environment */
		error = pv_store_env_get_id(store, &byid, c->marker_id);
		if (error == 0 && strcmp(byid.name, c->env.name) != 0)
			refuse(c, "its record id %lld is %s's (a copy?)", (long long)c->marker_id, byid.name);
		pv_env_dispose(&byid);
		if (error < 0 && error != PV_ENOTFOUND)
			return error;
		return 1;
	}
	if (!opts->adopt_foreign) {
		if (c->instance[0])
			refuse(c, "a marker of instance %s, not of this one (%s); --adopt-foreign adopts it", c->instance, own);
		else
			refuse(c, "a marker of an earlier previewd, without an instance id; --adopt-foreign adopts it");
		return 1;
	}
	if (opts->report)
		fprintf(opts->report, "recover: adopting %s/%s, a marker of %s%s\n", env_dir, c->folder,
			c->instance[0] ? "instance " : "an earlier previewd", c->instance);
	return 1;
}

static int insert(struct pv_store *store, struct pv_env *env, const char *commit)
{
	int64_t now = (int64_t)time(NULL);
	int error;

	if ((error = pv_store_begin(store)) < 0)
		return error;
	if ((error = pv_store_env_insert(store, env)) < 0 ||
	    (error = pv_store_mark_pushed(store, env->id, env->gen, commit, now)) < 0 ||
	    (error = pv_store_event_add(store, env, "recovered", "recover", NULL, now, NULL)) < 0 ||
	    (error = pv_store_commit(store)) < 0)
		pv_store_rollback(store);
	return error;
}

/* Every folder of envs carrying previewd.json into cs. */
static int collect(struct cands *cs, const struct pv_config *cfg, git_repository *repo, const git_tree *envs)
{
	for (size_t i = 0; i < git_tree_entrycount(envs); i++) {
		const git_tree_entry *e = git_tree_entry_byindex(envs, i);
		git_tree *folder = NULL;
		int error;

		if (git_tree_entry_type(e) != GIT_OBJECT_TREE)
			continue;
		if (git_tree_lookup(&folder, repo, git_tree_entry_id(e)) < 0)
			return pv_git_fail("reading an env folder");
		error = read_cand(cs, cfg, repo, folder, git_tree_entry_name(e));
		git_tree_free(folder);
		if (error < 0)
			return error;
	}
	return 0;
}

int pv_recover(const struct pv_config *cfg, const char *db_path, const struct pv_recover_opts *opts,
	struct pv_recover_result *out)
{
	struct pv_gitrepo *r = NULL;
	struct pv_pusher *pusher = NULL;
	struct pv_store *store = NULL;
	struct cands cs = { 0 };
	git_commit *c = NULL;
	git_tree *root = NULL, *envs = NULL;
	char commit[GIT_OID_HEXSZ + 1], own[PV_INSTANCE_LEN];
	int error;

	memset(out, 0, sizeof(*out));
	if ((error = pv_gitrepo_open(&r, cfg)) < 0 || (error = pv_pusher_new(&pusher, cfg)) < 0 ||
	    (error = pv_store_open(&store, &(struct pv_store_settings){ .path = db_path })) < 0)
		goto out;
	if (pv_pusher_fetch(pusher, r) < 0) {
		if (!r->tip_known) {
			error = pv_error_set(PV_EUNAVAIL, NULL, "cannot reach the GitOps repository: %s", pv_error_last()->message);
			goto out;
		}
		log_warn("recover: %s; using the local clone's last tip", pv_error_last()->message);
	}
	if (git_oid_is_zero(&r->tip))
		goto out; /* an empty repository: nothing to recover */
	git_oid_tostr(commit, sizeof(commit), &r->tip);
	if ((error = pv_gitrepo_tip_trees(r, &c, &root, &envs)) < 0 || !envs)
		goto out;
	if ((error = collect(&cs, cfg, r->repo, envs)) < 0 || (error = own_instance(store, &cs, opts->report, own)) < 0)
		goto out;
	refuse_twins(&cs, own, cfg->env_dir);
	/* every marker is judged against the database as it was: the rows
	 * inserted below get ids of their own, which markers must not meet */
	for (size_t i = 0; i < cs.n; i++) {
		struct cand *k = &cs.v[i];
		int n = k->why[0] ? 1 : admit(store, k, own, opts, cfg->env_dir);

		if (n < 0) {
			error = n;
			goto out;
		}
		k->known = n == 0;
	}
	for (size_t i = 0; i < cs.n; i++) {
		struct cand *k = &cs.v[i];

		if (k->known) {
			out->known++;
		} else if (k->why[0]) {
			out->skipped++;
			if (opts->report)
				fprintf(opts->report, "recover: skipped %s/%s: %s\n", cfg->env_dir, k->folder, k->why);
		} else {
			if ((error = insert(store, &k->env, commit)) < 0)
				goto out;
			out->restored++;
		}
	}
out:
	cands_clear(&cs);
	git_tree_free(envs);
	git_tree_free(root);
	git_commit_free(c);
	pv_store_free(store);
	pv_pusher_free(pusher);
	pv_gitrepo_free(r);
	return error;
}
