/*
 * store_int.h - what the store's table families share (store.c, store_env.c,
 * store_outbox.c, store_token.c, store_idem.c, store_instance.c,
 * store_argocd.c, store_reaper.c, store_retention.c, store_cost.c); not for the rest of
 * previewd.
 *
 * A connection keeps its prepared statements in one fixed table indexed by
 * enum stmt, prepared on first use from the SQL its family file holds; hot
 * paths (GET one, list) then cost one sqlite3_reset/bind/step each.  The
 * settings it was opened with live in the connection, not in the process:
 * two connections opened with different settings behave differently.
 */
#ifndef PV_STORE_INT_H
#define PV_STORE_INT_H

#include <sqlite3.h>

#include "store.h"

#define PV_STORE_ENV_COLS "id, name, owner, status, base, values_json, requested_by, created_at, updated_at, " \
			  "expires_at, deleted_at, gen, pushed_gen, git_commit, git_error, pushed_at, " \
			  "argocd_sync, argocd_health, argocd_checked_at, cluster, changed_by, idle_ttl, " \
			  "sleep_values_json, slept_at, sleep_ttl_left, schedule, sched_hold_until, active_at, sleep_by"
/* How many columns PV_STORE_ENV_COLS has: a statement that selects more
 * after them reads those from this index on, so a new column moves them
 * all at once (hard-coded indexes went stale when columns were added) */
#define PV_STORE_ENV_NCOLS 29

enum stmt {
	/* store.c */
	S_BEGIN, S_COMMIT, S_ROLLBACK, S_PING,
	/* store_env.c */
	S_GET_NAME, S_GET_ID, S_INSERT, S_SAVE, S_EVENT, S_EVENTS,
	S_DIRTY, S_PUSHED, S_FAILED, S_DIRTY_ERROR, S_DIRTY_ERROR_NEW, S_COUNT_STATUS,
	S_COUNT_LIVE_OWNER, S_COUNT_LIVE,
	S_DRIFT_ROWS, S_SET_BLOBS, S_DRIFT_RESTORE, S_DRIFT_DELETED, S_DRIFT_ADOPT, S_SET_COMMIT,
	/* store_argocd.c */
	S_ARGOCD_SET, S_ARGOCD_READY, S_ARGOCD_SEQ, S_ARGOCD_PUSH, S_ARGOCD_PRUNE,
	/* store_outbox.c */
	S_OUTBOX_ADD, S_OUTBOX_DUE, S_OUTBOX_DONE, S_OUTBOX_RETRY, S_OUTBOX_DEAD, S_OUTBOX_NEXT,
	S_EXPIRED, S_WARN_DUE, S_WARN_ADD, S_NEXT_EXPIRY, S_NEXT_WARN, S_WARN_ROW,
	/* store_token.c */
	S_TOKEN_ADD, S_TOKEN_FIND, S_TOKEN_REVOKE, S_TOKEN_LIST, S_TOKEN_COUNT,
	/* store_idem.c */
	S_IDEM_GET, S_IDEM_PUT,
	/* store_instance.c */
	S_INSTANCE_GET, S_INSTANCE_SET,
	/* store_reaper.c */
	S_REAP_DUE, S_REAP_HOLD, S_REAP_HELD, S_REAP_RELEASE, S_REAP_NEXT_EXPIRY, S_REAP_NEXT_WARN,
	/* store_retention.c */
	S_RET_ENDED, S_RET_ENV_OUTBOX, S_RET_ENV_WARNINGS, S_RET_ENV_HOLDS, S_RET_ENV_EVENTS, S_RET_ENV,
	S_RET_OUTBOX, S_RET_IDEM, S_RET_WARNINGS, S_RET_DELIVERIES, S_RET_FREELIST,
	/* store_cost.c */
	S_COST_SLEEP, S_OPENCOST_CLEAR, S_OPENCOST_PUT, S_OPENCOST_GET,
	/* store_stream.c */
	S_CHANGES, S_CHANGES_LAST,
	/* store_sleep.c */
	S_SLEEP_LIVE, S_SLEEP_TOUCH, S_SLEEP_HOLD,
	S_COUNT
};

/* list statements, one per (sort, owner?, status?, cursor?) */
#define PV_STORE_LIST_VARIANTS (PV_SORT_COUNT * 8)

struct pv_store {
	sqlite3 *db;
	sqlite3_stmt *stmts[S_COUNT];
	sqlite3_stmt *lists[PV_STORE_LIST_VARIANTS];
	int outbox;              /* queue notifications with their events */
	char *warn_row_sql;      /* next_warn_at of one row, from the lead times */
	char *warn_all_sql;      /* ... of every row */
	int events_added;        /* this transaction recorded history (store_stream.c's hook) */
};

/* History was committed on st: tell the hook (store_stream.c). */
void pv_store__events_committed(struct pv_store *st);

/* The pv_error for SQLite result rc (logged), while doing what. */
int pv_store__db_error(struct pv_store *st, int rc, const char *what);

/* Statement `which` of st, prepared from sql on first use, reset and
 * unbound. */
int pv_store__prepare(struct pv_store *st, enum stmt which, const char *sql, sqlite3_stmt **out) PV_WARN_UNUSED;

/* Step s once; SQLITE_CONSTRAINT is PV_ECONFLICT. */
int pv_store__step_done(struct pv_store *st, sqlite3_stmt *s, const char *what) PV_WARN_UNUSED;

/* The first column of s's one row into *inout when smaller (or *inout is 0). */
int pv_store__min_of(struct pv_store *st, sqlite3_stmt *s, int64_t *inout) PV_WARN_UNUSED;

void pv_store__copy_text(char *dst, size_t len, sqlite3_stmt *s, int col);
char *pv_store__dup_text(sqlite3_stmt *s, int col);

/* A row of PV_STORE_ENV_COLS into out. */
int pv_store__read_row(struct pv_env *out, sqlite3_stmt *s) PV_WARN_UNUSED;

/* After a loop over s's rows: reset s, and return the callback's stop
 * (error), else 0 if the last step (rc) ended the rows, else its error. */
int pv_store__walk_end(struct pv_store *st, sqlite3_stmt *s, int rc, int error, const char *what) PV_WARN_UNUSED;

/* Every row of s (PV_STORE_ENV_COLS) to cb; its non-zero return stops. */
int pv_store__walk(struct pv_store *st, sqlite3_stmt *s, pv_store_env_cb cb, void *payload) PV_WARN_UNUSED;

/* store_outbox.c: build the warning SQL of a connection from the lead
 * times (no lead times: no warning is ever due); recompute one row's next
 * warning; queue the notification of event_id when kind is one. */
int pv_store__warn_init(struct pv_store *st, const long long *leads, size_t n) PV_WARN_UNUSED;
int pv_store__warn_row(struct pv_store *st, int64_t id) PV_WARN_UNUSED;
int pv_store__outbox_add(struct pv_store *st, int64_t event_id, const struct pv_env *env, const char *kind,
	const char *actor, int64_t at, const char *detail_json) PV_WARN_UNUSED;

#endif
