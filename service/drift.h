/*
 * drift.h - does the tip still hold what previewd pushed?  The comparison
 * the Git writer makes after each fetch that moved the tip, one folder at a
 * time, and what it then does about a difference.
 *
 * DESIGN
 *
 * People and other tools can change the branch behind previewd's back: a
 * folder deleted or edited by hand, a branch reset to an older commit (a
 * history rewrite).  Before, previewd noticed none of it: the API kept
 * saying "active" with a commit no longer on the branch, and a later PATCH
 * silently re-created the folder.  Now every fetch that moves the tip
 * compares the folder of each active environment with what previewd last
 * pushed there.  The cost is one tree read per active environment and two
 * tree entry id compares, never a blob read: the store keeps the blob ids
 * of the values.yaml and previewd.json each push wrote (schema/009).  A row
 * without them (pushed before that migration, or rebuilt by `previewd
 * recover`) takes what the tip holds as its baseline.
 *
 * A difference is drift.  PREVIEWD_ON_DRIFT=restore (the default) makes the
 * row dirty, so that the same round commits previewd's state back;
 * PREVIEWD_ON_DRIFT=accept takes the outside change into the record (a
 * deleted folder deletes the record, an edited values.yaml becomes the
 * record's values).  Some changes are restored in either mode: an edited or
 * removed previewd.json or a removed values.yaml (previewd's own files: an
 * edit to the marker is not a change of the environment), and any drift of
 * a row with a request still to push (the API's newer request wins).  A
 * folder left with values.yaml but no previewd.json is people's now: the
 * restoring round refuses it like any of their folders, and the row fails
 * with that reason.
 *
 * Pure but for pv_drift_folder_read and pv_drift_rewritten, which read the
 * repository they are given; the Git writer thread calls all of it
 * (gitops.c).
 */
#ifndef PV_DRIFT_H
#define PV_DRIFT_H

#include <git2.h>

#include "error.h"

/* How a folder on the tip differs from what previewd pushed. */
enum pv_drift_change {
	PV_DRIFT_NONE = 0,   /* the same blobs */
	PV_DRIFT_BASELINE,   /* nothing recorded to compare with: take the tip's */
	PV_DRIFT_DELETED,    /* the folder (or both of previewd's files) is gone */
	PV_DRIFT_DISOWNED,   /* values.yaml without previewd.json: people took the folder */
	PV_DRIFT_VALUES,     /* values.yaml edited, previewd.json unchanged */
	PV_DRIFT_FILES       /* previewd.json edited or removed, or values.yaml removed */
};

/* PREVIEWD_ON_DRIFT */
enum pv_drift_mode { PV_DRIFT_RESTORE = 0, PV_DRIFT_ACCEPT };

/* What to do with one row. */
enum pv_drift_action {
	PV_DRIFT_KEEP = 0,   /* nothing */
	PV_DRIFT_TAKE_BASELINE,
	PV_DRIFT_DO_RESTORE, /* make the row dirty: the next commit writes it back */
	PV_DRIFT_DO_DELETE,  /* the record becomes deleted */
	PV_DRIFT_DO_ADOPT    /* the edited values.yaml becomes the record's values */
};

/* What the tip holds for one env folder: tree entry ids, no content. */
struct pv_drift_folder {
	int exists;          /* an entry of that name in the env folder */
	int is_tree;
	int has_values, has_meta;
	git_oid values, meta;
};

/* Fill *out for folder name of env (NULL: the tip has no env folder).  0 or
 * a pv_error code. */
int pv_drift_folder_read(struct pv_drift_folder *out, git_repository *repo, const git_tree *env, const char *name)
	PV_WARN_UNUSED;

/* Compare f with the blob ids previewd pushed (hex; "" when unknown). */
enum pv_drift_change pv_drift_compare(const struct pv_drift_folder *f, const char *values_hex, const char *meta_hex);

/* The action for a change in mode; dirty: the row has a request still to
 * push. */
enum pv_drift_action pv_drift_decide(enum pv_drift_change c, enum pv_drift_mode mode, int dirty);

/* "deleted", "disowned", "values", "files" (the event's "change"); "" for
 * the others. */
const char *pv_drift_change_name(enum pv_drift_change c);

/* "restore" or "accept" into *out; PV_EINVAL otherwise. */
int pv_drift_mode_parse(enum pv_drift_mode *out, const char *s) PV_WARN_UNUSED;

/*
 * *rewritten = 1 when after does not descend from before (the branch was
 * reset or force-pushed), or when that cannot be told (before is not in the
 * repository); 0 when before is zero or after equals or descends from it.
 */
void pv_drift_rewritten(git_repository *repo, const git_oid *before, const git_oid *after, int *rewritten);

/* The blob id Git gives data, as hex, into hex[GIT_OID_HEXSZ + 1]. */
int pv_drift_blob_id(char *hex, const char *data, size_t len) PV_WARN_UNUSED;

#endif
