/*
 * cli_admin.h - the operator's one-shot commands on a running (or stopped)
 * previewd's database: `previewd reaper release` and `previewd backup FILE`.
 *
 * Both open the database of the configured data dir beside a previewd that
 * may be running: SQLite's WAL lets them read and write while it does.
 * Neither takes the data dir's lock.
 *
 * Threads: main, before any other starts.
 */
#ifndef PV_CLI_ADMIN_H
#define PV_CLI_ADMIN_H

#include "config.h"

/* 1 when argv names one of these commands. */
int pv_cli_admin_is(int argc, char **argv);

/* Run it on db_path; the exit status (0 ok, 1 failed, 2 usage). */
int pv_cli_admin(int argc, char **argv, const char *db_path);

#endif
