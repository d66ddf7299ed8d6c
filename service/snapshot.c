/*
 * snapshot.c - the env folder as the other threads see it (see snapshot.h).
 */
#include "snapshot.h"

#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "gitrepo.h"

static void folder_dispose(struct pv_snapshot_folder *f)
{
	free(f->name);
	free(f->values);
	free(f->settings);
}

static void folders_clear(struct pv_snapshot_folders *l)
{
	for (size_t i = 0; i < l->n; i++)
		folder_dispose(&l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* index of name, or -(insertion point) - 1 */
static long folders_find(const struct pv_snapshot_folders *l, const char *name)
{
	size_t lo = 0, hi = l->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(l->v[mid].name, name);
		if (c == 0)
			return (long)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -(long)lo - 1;
}

/* Insert or replace; takes ownership of f's strings. */
static int folders_put(struct pv_snapshot_folders *l, struct pv_snapshot_folder *f)
{
	long at = folders_find(l, f->name);
	int error;

	if (at >= 0) {
		folder_dispose(&l->v[at]);
		l->v[at] = *f;
		return 0;
	}
	if ((error = pv_array_reserve(&l->v, &l->cap, l->n + 1, sizeof(*l->v))) < 0) {
		folder_dispose(f);
		return error;
	}
	at = -at - 1;
	memmove(&l->v[at + 1], &l->v[at], (l->n - (size_t)at) * sizeof(*l->v));
	l->v[at] = *f;
	l->n++;
	return 0;
}

static void folders_remove(struct pv_snapshot_folders *l, const char *name)
{
	long at = folders_find(l, name);

	if (at < 0)
		return;
	folder_dispose(&l->v[at]);
	memmove(&l->v[at], &l->v[at + 1], (l->n - (size_t)at - 1) * sizeof(*l->v));
	l->n--;
}

void pv_snapshot_init(struct pv_snapshot *s)
{
	memset(s, 0, sizeof(*s));
	pthread_rwlock_init(&s->lock, NULL);
}

void pv_snapshot_dispose(struct pv_snapshot *s)
{
	folders_clear(&s->list);
	pthread_rwlock_destroy(&s->lock);
	memset(s, 0, sizeof(*s));
}

static int describe(struct pv_snapshot_folders *out, git_repository *repo, const git_tree *root, const char *env_dir)
{
	git_tree_entry *dir = NULL;
	git_tree *envs = NULL;
	int error = 0;

	memset(out, 0, sizeof(*out));
	if (!root)
		return 0;
	error = git_tree_entry_bypath(&dir, root, env_dir);
	if (error == GIT_ENOTFOUND)
		return 0;
	if (error < 0)
		return pv_git_fail("looking up the env folder");
	if (git_tree_entry_type(dir) != GIT_OBJECT_TREE)
		goto cleanup;
	if (git_tree_lookup(&envs, repo, git_tree_entry_id(dir)) < 0) {
		error = pv_git_fail("reading the env folder");
		goto cleanup;
	}
	for (size_t i = 0; i < git_tree_entrycount(envs); i++) {
		const git_tree_entry *e = git_tree_entry_byindex(envs, i);
		struct pv_snapshot_folder f = { 0 };
		git_tree *sub = NULL;

		if (!(f.name = strdup(git_tree_entry_name(e)))) {
			error = pv_error_set(PV_ERROR, NULL, "out of memory");
			goto cleanup;
		}
		if (git_tree_entry_type(e) == GIT_OBJECT_TREE) {
			if (git_tree_lookup(&sub, repo, git_tree_entry_id(e)) < 0) {
				folder_dispose(&f);
				error = pv_git_fail("reading an env folder");
				goto cleanup;
			}
			f.managed = git_tree_entry_byname(sub, PV_PLAN_MANAGED_FILE) != NULL;
			/* people's values are kept: they are the bases new environments start from */
			if (!f.managed &&
			    ((error = pv_git_read_blob(repo, sub, PV_PLAN_VALUES_FILE, &f.values, &f.values_len)) < 0 ||
			     (error = pv_git_read_blob(repo, sub, PV_SNAPSHOT_SETTINGS_FILE, &f.settings, &f.settings_len)) < 0)) {
				git_tree_free(sub);
				folder_dispose(&f);
				goto cleanup;
			}
			git_tree_free(sub);
		}
		if ((error = folders_put(out, &f)) < 0)
			goto cleanup;
	}
cleanup:
	git_tree_free(envs);
	git_tree_entry_free(dir);
	if (error < 0)
		folders_clear(out);
	return error;
}

int pv_snapshot_rebuild(struct pv_snapshot *s, git_repository *repo, const git_tree *root, const char *env_dir)
{
	struct pv_snapshot_folders fresh, old;
	int error;

	if ((error = describe(&fresh, repo, root, env_dir)) < 0)
		return error;
	pthread_rwlock_wrlock(&s->lock);
	old = s->list;
	s->list = fresh;
	s->valid = 1;
	pthread_rwlock_unlock(&s->lock);
	folders_clear(&old);
	return 0;
}

void pv_snapshot_apply(struct pv_snapshot *s, const struct pv_plan *plan, const struct pv_env *rows)
{
	pthread_rwlock_wrlock(&s->lock);
	for (size_t i = 0; i < plan->n_rows; i++) {
		if (plan->rows[i].action == PV_PLAN_WRITE) {
			struct pv_snapshot_folder f = { .name = strdup(rows[i].name), .managed = 1 };
			/* out of memory leaves the folder as it was: the next fetch mends it */
			if (f.name)
				(void)folders_put(&s->list, &f);
		} else if (plan->rows[i].action == PV_PLAN_REMOVE && plan->rows[i].leftover) {
			/* people's files keep the folder: it is theirs now */
			struct pv_snapshot_folder f = { .name = strdup(rows[i].name), .managed = 0 };
			if (f.name)
				(void)folders_put(&s->list, &f);
		} else if (plan->rows[i].action == PV_PLAN_REMOVE) {
			folders_remove(&s->list, rows[i].name);
		}
	}
	pthread_rwlock_unlock(&s->lock);
}

int pv_snapshot_folder(struct pv_snapshot *s, const char *name, int *exists, int *managed, char **values_yaml,
	size_t *values_len)
{
	const struct pv_snapshot_folders *l = &s->list;
	long at;
	int error = 0;

	*exists = *managed = 0;
	if (values_yaml)
		*values_yaml = NULL;
	if (values_len)
		*values_len = 0;
	pthread_rwlock_rdlock(&s->lock);
	if (!s->valid) {
		error = pv_error_set(PV_EUNAVAIL, NULL, "the GitOps repository has not been reached yet; retry shortly");
		goto out;
	}
	if ((at = folders_find(l, name)) < 0)
		goto out;
	*exists = 1;
	*managed = l->v[at].managed;
	if (values_yaml && l->v[at].values) {
		if (!(*values_yaml = malloc(l->v[at].values_len + 1))) {
			error = pv_error_set(PV_ERROR, NULL, "out of memory");
			goto out;
		}
		memcpy(*values_yaml, l->v[at].values, l->v[at].values_len + 1);
		if (values_len)
			*values_len = l->v[at].values_len;
	}
out:
	pthread_rwlock_unlock(&s->lock);
	return error;
}

int pv_snapshot_settings(struct pv_snapshot *s, const char *name, int *found, char **yaml, size_t *yaml_len)
{
	long at;
	int error = 0;

	*found = 0;
	*yaml = NULL;
	*yaml_len = 0;
	pthread_rwlock_rdlock(&s->lock);
	at = folders_find(&s->list, name);
	if (at >= 0 && !s->list.v[at].managed && s->list.v[at].settings) {
		const struct pv_snapshot_folder *f = &s->list.v[at];
		if (!(*yaml = malloc(f->settings_len + 1))) {
			error = pv_error_set(PV_ERROR, NULL, "out of memory");
		} else {
			memcpy(*yaml, f->settings, f->settings_len + 1);
			*yaml_len = f->settings_len;
			*found = 1;
		}
	}
	pthread_rwlock_unlock(&s->lock);
	return error;
}

int pv_snapshot_bases(struct pv_snapshot *s, json_t *out)
{
	int error = 0;

	pthread_rwlock_rdlock(&s->lock);
	for (size_t i = 0; i < s->list.n && error == 0; i++)
		if (!s->list.v[i].managed && s->list.v[i].values && json_array_append_new(out, json_string(s->list.v[i].name)) < 0)
			error = pv_error_set(PV_ERROR, NULL, "out of memory");
	pthread_rwlock_unlock(&s->lock);
	return error;
}
