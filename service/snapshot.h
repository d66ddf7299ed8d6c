/*
 * snapshot.h - what the env folder holds at the last known tip, for the
 * threads that must not touch the repository.
 *
 * DESIGN
 *
 * The HTTP handlers validate a request against Git (does the folder exist,
 * is it previewd's, which values.yaml would a new environment start from)
 * without waiting for the Git writer.  The writer describes the env folder
 * once per new tip - after a fetch that moved it, and cheaply after its own
 * pushes, from the plan instead of the tree - and publishes the description
 * under a read-write lock.  A folder people manage keeps its values.yaml
 * (it can be a base) and its previewd.yaml (a base's settings: the sleep
 * overlay); previewd's folders keep only their name.
 *
 * The Git writer thread writes (rebuild, apply); any thread reads (folder,
 * bases).
 */
#ifndef PV_SNAPSHOT_H
#define PV_SNAPSHOT_H

#include <git2.h>
#include <jansson.h>
#include <pthread.h>
#include <stddef.h>

#include "error.h"
#include "planner.h"
#include "store.h"

/* a people's folder's settings for previewd, beside its values.yaml */
#define PV_SNAPSHOT_SETTINGS_FILE "previewd.yaml"

struct pv_snapshot_folder {
	char *name;
	int managed;        /* carries previewd.json (whose record it is, only the writer checks: planner.h) */
	char *values;       /* people's values.yaml (unmanaged folders only), may be NULL */
	size_t values_len;
	char *settings;     /* people's previewd.yaml beside it (a base's sleep overlay), may be NULL */
	size_t settings_len;
};

/* A folder list, sorted by name. */
struct pv_snapshot_folders {
	struct pv_snapshot_folder *v;
	size_t n, cap;
};

struct pv_snapshot {
	pthread_rwlock_t lock;
	struct pv_snapshot_folders list;
	int valid;                     /* a tip was described */
};

void pv_snapshot_init(struct pv_snapshot *s);
void pv_snapshot_dispose(struct pv_snapshot *s);

/* Describe env_dir in root (NULL: the branch does not exist) and publish it. */
int pv_snapshot_rebuild(struct pv_snapshot *s, git_repository *repo, const git_tree *root, const char *env_dir)
	PV_WARN_UNUSED;

/* Follow the writer's own commit of plan (over rows) without reading a tree. */
void pv_snapshot_apply(struct pv_snapshot *s, const struct pv_plan *plan, const struct pv_env *rows);

/* See pv_gitops_folder and pv_gitops_bases (gitops.h). */
int pv_snapshot_folder(struct pv_snapshot *s, const char *name, int *exists, int *managed, char **values_yaml,
	size_t *values_len) PV_WARN_UNUSED;
int pv_snapshot_bases(struct pv_snapshot *s, json_t *out) PV_WARN_UNUSED;
/* See pv_gitops_settings (gitops.h). */
int pv_snapshot_settings(struct pv_snapshot *s, const char *name, int *found, char **yaml, size_t *yaml_len)
	PV_WARN_UNUSED;

#endif
