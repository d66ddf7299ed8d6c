/*
 * cli_admin.c - `previewd reaper release` and `previewd backup FILE` (see
 * cli_admin.h).
 */
#include "cli_admin.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store.h"

int pv_cli_admin_is(int argc, char **argv)
{
	return argc > 1 && (strcmp(argv[1], "reaper") == 0 || strcmp(argv[1], "backup") == 0);
}

static int usage(void)
{
	fprintf(stderr, "usage: previewd reaper release\n"
			"       previewd backup FILE\n");
	return 2;
}

/* The running reaper sees the release at its next look (reaper.h). */
static int reaper_release(const char *db_path)
{
	struct pv_store *st = NULL;
	long long released = 0;
	const char *user = getenv("USER");
	char actor[64];
	int rc = 1;

	snprintf(actor, sizeof(actor), "cli:%s", user ? user : "unknown");
	if (pv_store_open(&st, &(struct pv_store_settings){ .path = db_path }) == 0 &&
	    pv_store_reap_release(st, actor, (int64_t)time(NULL), &released) == 0) {
		printf("released %lld held expiries\n", released);
		rc = 0;
	} else {
		fprintf(stderr, "previewd: reaper release: %s\n", pv_error_last()->message);
	}
	pv_store_free(st);
	return rc;
}

/*
 * SQLite's online backup, in one step: the copy is the database as of one
 * read transaction, while previewd goes on writing (WAL readers block no
 * writer).  It is written beside FILE and renamed over it once checked, so
 * FILE is a whole backup or the previous one.
 */
static int backup(const char *db_path, const char *file)
{
	sqlite3 *src = NULL, *dst = NULL;
	sqlite3_backup *b;
	sqlite3_stmt *s = NULL;
	char tmp[4096], why[512] = "";
	int rc;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", file) >= sizeof(tmp)) {
		fprintf(stderr, "previewd: backup: %s: path too long\n", file);
		return 1;
	}
	unlink(tmp);
	if (access(db_path, R_OK) != 0) {
		fprintf(stderr, "previewd: backup: no database at %s\n", db_path);
		return 1;
	}
	if ((rc = sqlite3_open_v2(db_path, &src, SQLITE_OPEN_READWRITE, NULL)) != SQLITE_OK ||
	    (rc = sqlite3_open_v2(tmp, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL)) != SQLITE_OK) {
		snprintf(why, sizeof(why), "opening: %s", sqlite3_errstr(rc));
		goto out;
	}
	sqlite3_busy_timeout(src, 5000);
	if (!(b = sqlite3_backup_init(dst, "main", src, "main"))) {
		snprintf(why, sizeof(why), "%s", sqlite3_errmsg(dst));
		goto out;
	}
	rc = sqlite3_backup_step(b, -1);
	sqlite3_backup_finish(b);
	if (rc != SQLITE_DONE) {
		snprintf(why, sizeof(why), "copying: %s", sqlite3_errstr(rc));
		goto out;
	}
	/* the copy must stand alone: no WAL beside it, and whole */
	if (sqlite3_exec(dst, "PRAGMA journal_mode = DELETE", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(dst, "PRAGMA integrity_check", -1, &s, NULL) != SQLITE_OK ||
	    sqlite3_step(s) != SQLITE_ROW || strcmp((const char *)sqlite3_column_text(s, 0), "ok") != 0) {
		snprintf(why, sizeof(why), "the copy fails its integrity check: %s", s && sqlite3_column_text(s, 0)
			? (const char *)sqlite3_column_text(s, 0) : sqlite3_errmsg(dst));
		goto out;
	}
out:
	sqlite3_finalize(s);
	sqlite3_close(src);
	if (dst && sqlite3_close(dst) != SQLITE_OK && !why[0])
		snprintf(why, sizeof(why), "closing the copy");
	if (!why[0] && rename(tmp, file) != 0)
		snprintf(why, sizeof(why), "renaming %s to %s failed", tmp, file);
	if (why[0]) {
		unlink(tmp);
		fprintf(stderr, "previewd: backup: %s\n", why);
		return 1;
	}
	printf("backed up %s to %s\n", db_path, file);
	return 0;
}

int pv_cli_admin(int argc, char **argv, const char *db_path)
{
	if (argc == 3 && strcmp(argv[1], "reaper") == 0 && strcmp(argv[2], "release") == 0)
		return reaper_release(db_path);
	if (argc == 3 && strcmp(argv[1], "backup") == 0 && argv[2][0])
		return backup(db_path, argv[2]);
	return usage();
}
