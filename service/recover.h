/*
 * recover.h - `previewd recover`: the database's record of live
 * environments, rebuilt from Git.
 *
 * DESIGN
 *
 * Every folder previewd manages carries previewd.json (planner.h), which
 * with values.yaml is all a row needs.  Recovery opens the writer's clone
 * (gitrepo.h), fetches the branch (pusher.h; the clone's last tip when the
 * remote is unreachable) and inserts a row, already pushed, for each marker
 * it adopts whose name has no live row.  It runs on the main thread, instead
 * of the daemon: main.c holds the data dir's lock, so no Git writer runs.
 *
 * A previewd.json is a claim, not a proof, so recovery believes a marker
 * only as far as the API would believe a request: every field is checked
 * by the API's rules (names, owner, base, cluster, times; an expiry that
 * does not parse is an error, never "never expires"), the name must be the
 * folder's (a copied folder names its original), and the marker must be of
 * this instance (store.h).  Markers of another instance, or without one
 * (earlier versions), are adopted only when asked (adopt_foreign), and
 * then listed.  Two folders claiming one record are both refused: which is
 * the copy cannot be told.  A database recover creates has no instance yet;
 * it takes the one instance its markers name (the database that was lost),
 * and none when they name several.  What is skipped goes to the report,
 * one line each with the reason.
 */
#ifndef PV_RECOVER_H
#define PV_RECOVER_H

#include <stdio.h>

#include "config.h"
#include "error.h"

struct pv_recover_opts {
	int adopt_foreign;  /* adopt (and list) markers of other instances and of earlier versions */
	FILE *report;       /* one line per marker skipped or adopted from elsewhere; NULL: none */
};

struct pv_recover_result {
	int restored;       /* rows inserted */
	int known;          /* markers of names the database has a live row for */
	int skipped;        /* markers refused (reported) */
};

int pv_recover(const struct pv_config *cfg, const char *db_path, const struct pv_recover_opts *opts,
	struct pv_recover_result *out) PV_WARN_UNUSED;

#endif
