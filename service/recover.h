/*
 * recover.h - `previewd recover`: the database's record of live
 * environments, rebuilt from Git.
 *
 * DESIGN
 *
 * Every folder previewd manages carries previewd.json (planner.h), which
 * with values.yaml is all a row needs.  Recovery opens the writer's clone
 * (gitrepo.h), fetches the branch (pusher.h; the clone's last tip when the
 * remote is unreachable) and inserts a row, already pushed, for each managed
 * folder whose name has no live row.  It runs on the main thread, instead
 * of the daemon: main.c holds the data dir's lock, so no Git writer runs.
 */
#ifndef PV_RECOVER_H
#define PV_RECOVER_H

#include "config.h"
#include "error.h"

/* *restored: rows inserted; *skipped: managed folders the database knew. */
int pv_recover(const struct pv_config *cfg, const char *db_path, int *restored, int *skipped) PV_WARN_UNUSED;

#endif
