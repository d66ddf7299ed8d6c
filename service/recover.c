/*
 * recover.c - rows back from previewd.json (see recover.h).
 */
#include "recover.h"

#include <git2.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gitrepo.h"
#include "log.h"
#include "planner.h"
#include "pusher.h"
#include "store.h"
#include "timefmt.h"
#include "valid.h"
#include "values.h"

static const char *str_or(const char *s, const char *fallback)
{
	return s ? s : fallback;
}

/* an RFC 3339 field of meta as unix seconds; 0 when absent or unreadable */
static int64_t meta_time(const json_t *meta, const char *key)
{
	const char *s = json_string_value(json_object_get(meta, key));
	int64_t t = 0;

	if (!s || pv_time_parse(s, &t) < 0)
		return 0;
	return t;
}

/* One managed folder back into the database; 1 if restored, 0 if skipped. */
static int recover_folder(struct pv_store *store, const struct pv_config *cfg, git_repository *repo, git_tree *folder,
	const char *name, const char *commit)
{
	char *meta_s = NULL, *yaml = NULL;
	size_t meta_len = 0, yaml_len = 0;
	json_t *meta = NULL, *values = NULL;
	struct pv_env env = { 0 }, live;
	int64_t now = (int64_t)time(NULL);
	int error, restored = 0;

	if ((error = pv_git_read_blob(repo, folder, PV_PLAN_MANAGED_FILE, &meta_s, &meta_len)) < 0 ||
	    (error = pv_git_read_blob(repo, folder, PV_PLAN_VALUES_FILE, &yaml, &yaml_len)) < 0)
		goto out;
	meta = meta_s ? json_loads(meta_s, 0, NULL) : NULL;
	if (!meta || !yaml || pv_values_from_yaml(&values, yaml, yaml_len) < 0) {
		log_warn("recover: %s: unreadable previewd.json or values.yaml, skipped", name);
		goto out;
	}
	if (pv_store_env_get(store, &live, name) == 0 && pv_env_is_live(&live)) {
		pv_env_dispose(&live);
		goto out; /* the database knows it already */
	}
	pv_env_dispose(&live);
	snprintf(env.name, sizeof(env.name), "%s", name);
	snprintf(env.owner, sizeof(env.owner), "%s", str_or(json_string_value(json_object_get(meta, "owner")), name));
	snprintf(env.base, sizeof(env.base), "%s", str_or(json_string_value(json_object_get(meta, "base")), cfg->base_env));
	snprintf(env.cluster, sizeof(env.cluster), "%s", str_or(json_string_value(json_object_get(meta, "cluster")), ""));
	snprintf(env.status, sizeof(env.status), "%s", PV_STATUS_ACTIVE);
	env.requested_by = strdup(str_or(json_string_value(json_object_get(meta, "requested_by")), "recovered"));
	env.values_json = json_dumps(values, JSON_COMPACT | JSON_PRESERVE_ORDER);
	env.created_at = meta_time(meta, "created_at");
	env.updated_at = meta_time(meta, "updated_at");
	env.expires_at = meta_time(meta, "expires_at");
	if (!env.requested_by || !env.values_json) {
		error = pv_error_set(PV_ERROR, NULL, "out of memory");
		goto out;
	}
	if ((error = pv_store_begin(store)) < 0)
		goto out;
	if ((error = pv_store_env_insert(store, &env)) < 0 ||
	    (error = pv_store_mark_pushed(store, env.id, env.gen, commit, now)) < 0 ||
	    (error = pv_store_event_add(store, &env, "recovered", "recover", NULL, now, NULL)) < 0 ||
	    (error = pv_store_commit(store)) < 0) {
		pv_store_rollback(store);
		goto out;
	}
	restored = 1;
out:
	pv_env_dispose(&env);
	json_decref(values);
	json_decref(meta);
	free(meta_s);
	free(yaml);
	return error < 0 ? error : restored;
}

int pv_recover(const struct pv_config *cfg, const char *db_path, int *restored, int *skipped)
{
	struct pv_gitrepo *r = NULL;
	struct pv_pusher *pusher = NULL;
	struct pv_store *store = NULL;
	git_commit *c = NULL;
	git_tree *root = NULL, *envs = NULL;
	char commit[GIT_OID_HEXSZ + 1];
	int error;

	*restored = *skipped = 0;
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
	for (size_t i = 0; i < git_tree_entrycount(envs); i++) {
		const git_tree_entry *e = git_tree_entry_byindex(envs, i);
		git_tree *folder = NULL;
		int n;

		if (git_tree_entry_type(e) != GIT_OBJECT_TREE || pv_valid_name(git_tree_entry_name(e), "name") < 0)
			continue;
		if (git_tree_lookup(&folder, r->repo, git_tree_entry_id(e)) < 0) {
			error = pv_git_fail("reading an env folder");
			goto out;
		}
		if (!git_tree_entry_byname(folder, PV_PLAN_MANAGED_FILE)) {
			git_tree_free(folder);
			continue; /* people's folder */
		}
		n = recover_folder(store, cfg, r->repo, folder, git_tree_entry_name(e), commit);
		git_tree_free(folder);
		if (n < 0) {
			error = n;
			goto out;
		}
		if (n)
			(*restored)++;
		else
			(*skipped)++;
	}
out:
	git_tree_free(envs);
	git_tree_free(root);
	git_commit_free(c);
	pv_store_free(store);
	pv_pusher_free(pusher);
	pv_gitrepo_free(r);
	return error;
}
