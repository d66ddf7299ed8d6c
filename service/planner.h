/*
 * planner.h - what one round of the Git writer changes: dirty rows and a
 * view of the env folder in, tree updates, the commit message and the
 * previewd.json of each folder out.
 *
 * DESIGN
 *
 * The planner is pure: it reads no repository and no database and writes
 * nothing.  What the tip holds reaches it through a lookup callback (does
 * the folder exist, its previewd.json, what else is in it), so tests drive
 * it with a table and the writer with the env folder's tree.  The rules
 * that keep people's folders safe live here, in one place:
 *
 *  - A folder is previewd's only when its previewd.json is the marker of
 *    the very record at hand (pv_plan_owns).  A file of that name proves
 *    nothing by itself: anyone can write `{}` into env/prod/previewd.json
 *    or copy env/t1 to env/prod2.  The marker carries the instance id (the
 *    database's, store.h) and the record's id; a marker without them, from
 *    an earlier previewd, or of another instance whose markers `recover
 *    --adopt-foreign` took over, matches by the record's name, owner and
 *    creation second instead, and the next write replaces it with this
 *    instance's marker: an upgrade disowns no environment.
 *  - A request for a folder that exists and is not previewd's fails with a
 *    reason; a removal of one removes nothing.
 *  - A removal takes only the files previewd wrote.  A folder that holds
 *    more (a NOTES.md people added) keeps those, and the row says so
 *    (leftover), for the writer to report.
 *
 * The Git writer thread calls it (gitops.c); the plan is the writer's until
 * pv_plan_dispose.
 */
#ifndef PV_PLANNER_H
#define PV_PLANNER_H

#include <jansson.h>
#include <stddef.h>

#include "error.h"
#include "store.h"

#define PV_PLAN_VALUES_FILE "values.yaml"
#define PV_PLAN_MANAGED_FILE "previewd.json"

enum pv_plan_action {
	PV_PLAN_WRITE,    /* values.yaml and previewd.json written */
	PV_PLAN_REMOVE,   /* previewd's files removed (the folder, unless people added files) */
	PV_PLAN_NOTHING,  /* Git already agrees (a delete of a folder that is gone) */
	PV_PLAN_FAIL      /* the row fails for good, why says why */
};

/* The decision for one row, in the order of the rows given. */
struct pv_plan_row {
	enum pv_plan_action action;
	const char *verb;  /* "create", "update" or "delete" (static) */
	int leftover;      /* PV_PLAN_REMOVE: files people added keep the folder in Git */
	char why[200];     /* PV_PLAN_FAIL: why the row fails; leftover: what stays */
};

/* One change to the tree at the tip. */
struct pv_plan_update {
	int remove;        /* 1: remove path (a folder); 0: write data to path */
	char *path;        /* "ENV_DIR/name/values.yaml", ... or "ENV_DIR/name" */
	char *data;        /* the file's new content (writes only) */
	size_t len;
};

struct pv_plan {
	struct pv_plan_row *rows;       /* one per input row */
	size_t n_rows;
	struct pv_plan_update *updates; /* for git_tree_create_updated */
	size_t n_updates, cap_updates;
	size_t changed;                 /* rows that write or remove */
	char *message;                  /* the commit message */
};

#define PV_PLAN_INIT { NULL, 0, NULL, 0, 0, 0, NULL }

/* What the tip holds for env folder name, filled by the lookup. */
struct pv_plan_folder {
	int exists;        /* the name is taken under the env folder (a folder or a file) */
	char *marker;      /* its previewd.json, malloc'd and NUL-terminated; NULL when none.
			    * The planner frees it. */
	int has_values;    /* values.yaml is there */
	size_t others;     /* entries besides values.yaml and previewd.json */
};

/* Describe env folder name into *out (zeroed by the caller).  0 or a
 * pv_error code (the plan fails). */
typedef int (*pv_plan_lookup_cb)(const char *name, struct pv_plan_folder *out, void *payload);

/*
 * Plan rows[0..n) against the tip that lookup describes, folders under
 * env_dir, for the instance whose id is instance (PV_INSTANCE_LEN, store.h).
 * 0 (out filled; rows that cannot be written are PV_PLAN_FAIL, not an
 * error) or a pv_error code (out of memory, a failed lookup) with out
 * empty.  Dispose of out either way.
 */
int pv_plan_build(struct pv_plan *out, const char *env_dir, const char *instance, const struct pv_env *rows,
	size_t n, pv_plan_lookup_cb lookup, void *payload) PV_WARN_UNUSED;

void pv_plan_dispose(struct pv_plan *p);

/* previewd.json for env of instance, malloc'd and ending in a newline;
 * NULL when out of memory.  It marks the folder as this record's and lets
 * `previewd recover` rebuild the database from Git. */
char *pv_plan_meta(const struct pv_env *env, const char *instance);

/* 1 if marker (a previewd.json) is the marker of record r of instance (see
 * the DESIGN comment), else 0: unparsable, not previewd's, another name,
 * another record. */
int pv_plan_owns(const char *marker, const char *instance, const struct pv_env *r);

/* The paths the plan changes, {"added":[...], "modified":[...],
 * "removed":[...]}, for the push hook; NULL when out of memory. */
json_t *pv_plan_changes(const struct pv_plan *p, const char *env_dir, const struct pv_env *rows);

#endif
