/*
 * drift.c - the comparison of the tip with what previewd pushed (see the
 * DESIGN comment in drift.h).
 */
#include "drift.h"

#include <stdio.h>
#include <string.h>

#include "gitrepo.h"
#include "planner.h"

int pv_drift_folder_read(struct pv_drift_folder *out, git_repository *repo, const git_tree *env, const char *name)
{
	const git_tree_entry *e, *v, *m;
	git_tree *folder = NULL;

	memset(out, 0, sizeof(*out));
	if (!env || !(e = git_tree_entry_byname(env, name)))
		return 0;
	out->exists = 1;
	if (git_tree_entry_type(e) != GIT_OBJECT_TREE)
		return 0;
	out->is_tree = 1;
	if (git_tree_lookup(&folder, repo, git_tree_entry_id(e)) < 0) {
		char what[128];
		snprintf(what, sizeof(what), "reading the folder %s", name);
		return pv_git_fail(what);
	}
	if ((v = git_tree_entry_byname(folder, PV_PLAN_VALUES_FILE)) && git_tree_entry_type(v) == GIT_OBJECT_BLOB) {
		out->has_values = 1;
		git_oid_cpy(&out->values, git_tree_entry_id(v));
	}
	if ((m = git_tree_entry_byname(folder, PV_PLAN_MANAGED_FILE)) && git_tree_entry_type(m) == GIT_OBJECT_BLOB) {
		out->has_meta = 1;
		git_oid_cpy(&out->meta, git_tree_entry_id(m));
	}
	git_tree_free(folder);
	return 0;
}

/* 1 when hex names oid. */
static int same_id(const git_oid *oid, const char *hex)
{
	git_oid want;

	return strlen(hex) == GIT_OID_HEXSZ && git_oid_fromstr(&want, hex) == 0 && git_oid_equal(oid, &want);
}

enum pv_drift_change pv_drift_compare(const struct pv_drift_folder *f, const char *values_hex, const char *meta_hex)
{
	if (!f->exists || !f->is_tree || (!f->has_values && !f->has_meta))
		return PV_DRIFT_DELETED;
	if (!f->has_meta)
		return PV_DRIFT_DISOWNED;
	if (!f->has_values)
		return PV_DRIFT_FILES;
	if (!values_hex[0] || !meta_hex[0])
		return PV_DRIFT_BASELINE;
	if (!same_id(&f->meta, meta_hex))
		return PV_DRIFT_FILES;
	if (!same_id(&f->values, values_hex))
		return PV_DRIFT_VALUES;
	return PV_DRIFT_NONE;
}

enum pv_drift_action pv_drift_decide(enum pv_drift_change c, enum pv_drift_mode mode, int dirty)
{
	switch (c) {
	case PV_DRIFT_NONE:
		return PV_DRIFT_KEEP;
	case PV_DRIFT_BASELINE:
		return PV_DRIFT_TAKE_BASELINE;
	case PV_DRIFT_DELETED:
	case PV_DRIFT_DISOWNED:
		return mode == PV_DRIFT_ACCEPT && !dirty ? PV_DRIFT_DO_DELETE : PV_DRIFT_DO_RESTORE;
	case PV_DRIFT_VALUES:
		return mode == PV_DRIFT_ACCEPT && !dirty ? PV_DRIFT_DO_ADOPT : PV_DRIFT_DO_RESTORE;
	case PV_DRIFT_FILES:
		return PV_DRIFT_DO_RESTORE;
	}
	return PV_DRIFT_KEEP;
}

const char *pv_drift_change_name(enum pv_drift_change c)
{
	switch (c) {
	case PV_DRIFT_DELETED:
		return "deleted";
	case PV_DRIFT_DISOWNED:
		return "disowned";
	case PV_DRIFT_VALUES:
		return "values";
	case PV_DRIFT_FILES:
		return "files";
	case PV_DRIFT_NONE:
	case PV_DRIFT_BASELINE:
		break;
	}
	return "";
}

int pv_drift_mode_parse(enum pv_drift_mode *out, const char *s)
{
	if (strcmp(s, "restore") == 0)
		*out = PV_DRIFT_RESTORE;
	else if (strcmp(s, "accept") == 0)
		*out = PV_DRIFT_ACCEPT;
	else
		return pv_error_set(PV_EINVAL, "PREVIEWD_ON_DRIFT", "PREVIEWD_ON_DRIFT must be restore or accept");
	return 0;
}

void pv_drift_rewritten(git_repository *repo, const git_oid *before, const git_oid *after, int *rewritten)
{
	*rewritten = 0;
	if (git_oid_is_zero(before) || git_oid_equal(before, after))
		return;
	/* 1: descends; 0: does not; < 0: before is unknown here, so nothing
	 * proves the history kept it */
	*rewritten = git_oid_is_zero(after) || git_graph_descendant_of(repo, after, before) != 1;
}

int pv_drift_blob_id(char *hex, const char *data, size_t len)
{
	git_oid oid;

	if (git_odb_hash(&oid, data, len, GIT_OBJECT_BLOB) < 0)
		return pv_git_fail("hashing a blob");
	git_oid_tostr(hex, GIT_OID_HEXSZ + 1, &oid);
	return 0;
}
