/*
 * check.h - `previewd check` (alias `previewd --check-config --online`):
 * does the configured Git remote work for previewd, told one line at a time.
 *
 * The check fetches the branch into a temporary bare clone through the
 * Git writer's own pusher (pusher.h), so it goes through exactly the
 * credentials, redirects, proxy and timeouts the writer uses, and reports:
 * reachability, credentials, the branch, PREVIEWD_ENV_DIR on it and
 * PREVIEWD_BASE_ENV in it, and PREVIEWD_PR_RULES when set (prrules.h).  It runs on the main thread and touches neither
 * the data dir's clone nor the database, so it may run next to a previewd.
 *
 * pv_check_tree is the part the Git writer shares: after its first fetch
 * it warns of an env folder or a base the branch does not hold.
 */
#ifndef PV_CHECK_H
#define PV_CHECK_H

#include <git2.h>
#include <stdio.h>

#include "config.h"
#include "error.h"

/* What the tip's tree holds of what the configuration names. */
struct pv_check_tree {
	int env_dir;         /* PREVIEWD_ENV_DIR is a folder */
	size_t folders;      /* env folders in it */
	int base;            /* PREVIEWD_BASE_ENV is usable as a base */
	char base_why[256];  /* why not, when !base */
};

/* Look at root (the tip's tree; NULL: an empty branch) for cfg's env folder
 * and base. */
int pv_check_tree(struct pv_check_tree *out, git_repository *repo, const git_tree *root, const struct pv_config *cfg)
	PV_WARN_UNUSED;

/* Run the online check, one line per step to out.  0 when every step
 * passed, 1 when one failed (the line says which and why). */
int pv_check_run(const struct pv_config *cfg, FILE *out);

#endif
