/*
 * store_retention.c - pruning what ended longer ago than the retention
 * window, a small batch per transaction, and giving the pages back (see
 * store.h, retention.h and schema/013_retention.sql).
 *
 * Every statement walks an index of 013 from its oldest row, so a batch
 * costs its own rows, not the table's: the write lock is held for a few
 * milliseconds and the API's writers wait no longer than that.
 */
#include "store_int.h"

#include <stdio.h>
#include <string.h>

/* the end of an ended environment; envs_ended indexes this very expression */
#define ENDED_AT "coalesce(deleted_at, updated_at)"

static const char *const family_sql[S_COUNT] = {
	/* a failed row that was pushed once (pushed_at) may have left a folder
	 * with previewd's marker in Git: the record of it stays.  A row with a
	 * notification still owed stays until the notifier is done with it. */
	[S_RET_ENDED] = "SELECT id FROM envs INDEXED BY envs_ended WHERE status IN ('deleted','failed') "
			"AND " ENDED_AT " < ?1 AND (status = 'deleted' OR pushed_at IS NULL) "
			"AND NOT EXISTS (SELECT 1 FROM events e JOIN outbox o ON o.event_id = e.id "
			"WHERE e.env_id = envs.id AND o.delivered_at IS NULL AND o.dead_at IS NULL) "
			"ORDER BY " ENDED_AT " LIMIT ?2",
	[S_RET_ENV_OUTBOX] = "DELETE FROM outbox WHERE event_id IN (SELECT id FROM events WHERE env_id = ?1)",
	[S_RET_ENV_WARNINGS] = "DELETE FROM warnings WHERE env_id = ?1",
	[S_RET_ENV_HOLDS] = "DELETE FROM reaper_holds WHERE env_id = ?1",
	[S_RET_ENV_EVENTS] = "DELETE FROM events WHERE env_id = ?1",
	[S_RET_ENV] = "DELETE FROM envs WHERE id = ?1 AND status IN ('deleted','failed')",
	[S_RET_OUTBOX] = "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox INDEXED BY outbox_done "
			 "WHERE coalesce(delivered_at, dead_at) < ?1 ORDER BY coalesce(delivered_at, dead_at) LIMIT ?2)",
	[S_RET_IDEM] = "DELETE FROM idempotency WHERE rowid IN (SELECT rowid FROM idempotency INDEXED BY "
		       "idempotency_created WHERE created_at < ?1 ORDER BY created_at LIMIT ?2)",
	/* a warning about an expiry long past can never be due again */
	[S_RET_WARNINGS] = "DELETE FROM warnings WHERE rowid IN (SELECT rowid FROM warnings INDEXED BY warnings_expiry "
			   "WHERE expires_at < ?1 ORDER BY expires_at LIMIT ?2)",
	/* a forge redelivers within hours (GitHub's manual redelivery: three
	 * days); an id older than the window cannot come back to be acted on
	 * twice.  hook_deliveries has no index on at: one short row per
	 * delivery, and the walk stops at the batch's last old row. */
	[S_RET_DELIVERIES] = "DELETE FROM hook_deliveries WHERE (forge, delivery) IN (SELECT forge, delivery "
			     "FROM hook_deliveries WHERE at < ?1 LIMIT ?2)",
	[S_RET_FREELIST] = "PRAGMA freelist_count",
};

static int prepare(struct pv_store *st, enum stmt which, sqlite3_stmt **out)
{
	return pv_store__prepare(st, which, family_sql[which], out);
}

/* Run statement which with ?1 = id; *n += the rows it deleted. */
static int delete_of(struct pv_store *st, enum stmt which, int64_t id, long long *n)
{
	sqlite3_stmt *s = NULL;
	int error;

	if ((error = prepare(st, which, &s)) < 0)
		return error;
	sqlite3_bind_int64(s, 1, id);
	if ((error = pv_store__step_done(st, s, "pruning an ended environment")) < 0)
		return error;
	*n += sqlite3_changes(st->db);
	return 0;
}

int pv_store_prune_envs(struct pv_store *st, int64_t cutoff, int limit, long long pruned[PV_PRUNE_KINDS], int *more)
{
	sqlite3_stmt *s = NULL;
	int64_t ids[512];
	long long other = 0;
	int rc, n = 0, error;

	*more = 0;
	if (limit > (int)(sizeof(ids) / sizeof(ids[0])))
		limit = (int)(sizeof(ids) / sizeof(ids[0]));
	if ((error = pv_store_begin(st)) < 0)
		return error;
	if ((error = prepare(st, S_RET_ENDED, &s)) < 0)
		goto fail;
	sqlite3_bind_int64(s, 1, cutoff);
	sqlite3_bind_int(s, 2, limit);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		ids[n++] = sqlite3_column_int64(s, 0);
	if ((error = pv_store__walk_end(st, s, rc, 0, "finding ended environments")) < 0)
		goto fail;
	for (int i = 0; i < n; i++) {
		/* the rows that point at the environment's first: foreign keys */
		if ((error = delete_of(st, S_RET_ENV_OUTBOX, ids[i], &pruned[PV_PRUNE_OUTBOX])) < 0 ||
		    (error = delete_of(st, S_RET_ENV_WARNINGS, ids[i], &pruned[PV_PRUNE_WARNINGS])) < 0 ||
		    (error = delete_of(st, S_RET_ENV_HOLDS, ids[i], &other)) < 0 ||
		    (error = delete_of(st, S_RET_ENV_EVENTS, ids[i], &pruned[PV_PRUNE_EVENTS])) < 0 ||
		    (error = delete_of(st, S_RET_ENV, ids[i], &pruned[PV_PRUNE_ENVS])) < 0)
			goto fail;
	}
	if ((error = pv_store_commit(st)) < 0)
		return error;
	*more = n == limit;
	return 0;
fail:
	pv_store_rollback(st);
	return error;
}

int pv_store_prune_rows(struct pv_store *st, enum pv_prune_kind kind, int64_t cutoff, int limit, long long *n)
{
	enum stmt which = kind == PV_PRUNE_OUTBOX ? S_RET_OUTBOX : kind == PV_PRUNE_IDEM ? S_RET_IDEM
		: kind == PV_PRUNE_DELIVERIES ? S_RET_DELIVERIES : S_RET_WARNINGS;
	sqlite3_stmt *s = NULL;
	int error;

	*n = 0;
	if (kind != PV_PRUNE_OUTBOX && kind != PV_PRUNE_IDEM && kind != PV_PRUNE_WARNINGS && kind != PV_PRUNE_DELIVERIES)
		return pv_error_set(PV_EINVAL, NULL, "rows of kind %d are pruned with their environment", (int)kind);
	/* one statement is its own transaction: the write lock for one batch */
	if ((error = prepare(st, which, &s)) < 0)
		return error;
	sqlite3_bind_int64(s, 1, cutoff);
	sqlite3_bind_int(s, 2, limit);
	if ((error = pv_store__step_done(st, s, "pruning old rows")) < 0)
		return error;
	*n = sqlite3_changes(st->db);
	return 0;
}

static int freelist(struct pv_store *st, long long *out)
{
	sqlite3_stmt *s = NULL;
	int rc, error;

	if ((error = prepare(st, S_RET_FREELIST, &s)) < 0)
		return error;
	rc = sqlite3_step(s);
	*out = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	sqlite3_reset(s);
	return rc == SQLITE_ROW ? 0 : pv_store__db_error(st, rc, "counting free pages");
}

int pv_store_reclaim(struct pv_store *st, int pages, long long *freed, long long *left)
{
	char sql[64], *errmsg = NULL;
	long long before = 0;
	int error;

	*freed = *left = 0;
	if ((error = freelist(st, &before)) < 0 || before == 0)
		return error; /* nothing to give back: no write lock taken */
	/* a pragma's argument cannot be bound: the number goes into the text */
	snprintf(sql, sizeof(sql), "PRAGMA incremental_vacuum(%d)", pages > 0 ? pages : 1);
	if (sqlite3_exec(st->db, sql, NULL, NULL, &errmsg) != SQLITE_OK) {
		error = pv_error_set(PV_EUNAVAIL, NULL, "reclaiming free pages: %s", errmsg ? errmsg : "?");
		sqlite3_free(errmsg);
		return error;
	}
	if ((error = freelist(st, left)) < 0)
		return error;
	*freed = before > *left ? before - *left : 0;
	/* in WAL mode the file shrinks when a checkpoint copies the truncation
	 * back; a passive one waits for no writer and no reader (it does what
	 * it can, and the next automatic checkpoint does the rest) */
	if (*left == 0 && *freed > 0)
		(void)sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	return 0;
}

int pv_store_vacuum_mode(struct pv_store *st, int *converted)
{
	sqlite3_stmt *s = NULL;
	char *errmsg = NULL;
	int rc, mode, error;

	*converted = 0;
	/* the connection knows the mode from the header it last read: a read
	 * transaction reads it afresh */
	if (sqlite3_exec(st->db, "BEGIN; SELECT count(*) FROM sqlite_master", NULL, NULL, NULL) != SQLITE_OK) {
		pv_store_rollback(st);
		return pv_store__db_error(st, SQLITE_ERROR, "reading the vacuum mode");
	}
	rc = sqlite3_prepare_v2(st->db, "PRAGMA auto_vacuum", -1, &s, NULL);
	if (rc != SQLITE_OK || sqlite3_step(s) != SQLITE_ROW) {
		sqlite3_finalize(s);
		pv_store_rollback(st);
		return pv_store__db_error(st, rc, "reading the vacuum mode");
	}
	mode = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	pv_store_rollback(st);
	if (mode != 0)
		return 0; /* incremental, or full (pages go back at each commit) */
	if (sqlite3_exec(st->db, "PRAGMA auto_vacuum = INCREMENTAL; VACUUM", NULL, NULL, &errmsg) != SQLITE_OK) {
		error = pv_error_set(PV_EUNAVAIL, NULL, "rebuilding the database for incremental vacuum: %s",
			errmsg ? errmsg : "?");
		sqlite3_free(errmsg);
		return error;
	}
	*converted = 1;
	return 0;
}
