/*
 * store_stream.c - the history as a stream of changes: rows after an id,
 * each with its environment as it is now, and the hook that tells the
 * stream (stream.h) a commit recorded some.
 *
 * DESIGN: every writer of an environment (env.c, the Git writer, the
 * reaper, Argo CD's poller, chat-ops through env.c) records a history row
 * in the transaction of its change, so the history is the one source of
 * changes: its ids grow in commit order (SQLite has one writer at a time
 * and a rolled-back id is never seen), they survive restarts, and what a
 * stream client missed is the rows after the last id it saw.
 */
#include "store_int.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static const char *const family_sql[S_COUNT] = {
	/* "pushed before": the Git writer recorded an earlier push of the
	 * same record, so this push is not the one that made it active */
	[S_CHANGES] = "SELECT " PV_STORE_ENV_COLS ", ev_id, ev_kind, ev_actor, ev_at, "
		      "EXISTS (SELECT 1 FROM events p WHERE p.env_id = ev_env AND p.id < ev_id "
		      "AND p.actor = 'previewd' AND p.kind IN ('pushed', 'ready')), ev_detail "
		      "FROM (SELECT id AS ev_id, env_id AS ev_env, kind AS ev_kind, actor AS ev_actor, at AS ev_at, "
		      "detail AS ev_detail FROM events WHERE id > ?1 ORDER BY id LIMIT ?2) JOIN envs ON envs.id = ev_env "
		      "ORDER BY ev_id",
	[S_CHANGES_LAST] = "SELECT coalesce(max(id), 0) FROM events",
};

static void (*_Atomic events_hook)(void *payload);
static void *_Atomic events_hook_payload;

void pv_store_set_events_hook(void (*hook)(void *payload), void *payload)
{
	atomic_store(&events_hook_payload, payload);
	atomic_store(&events_hook, hook);
}

void pv_store__events_committed(struct pv_store *st)
{
	void (*hook)(void *payload) = atomic_load(&events_hook);

	if (st->events_added && hook)
		hook(atomic_load(&events_hook_payload));
	st->events_added = 0;
}

int pv_store_changes(struct pv_store *st, int64_t after, int limit, pv_store_change_cb cb, void *payload)
{
	sqlite3_stmt *s = NULL;
	struct pv_event ev;
	struct pv_env env;
	int rc, error;

	if ((error = pv_store__prepare(st, S_CHANGES, family_sql[S_CHANGES], &s)) < 0)
		return error;
	sqlite3_bind_int64(s, 1, after);
	sqlite3_bind_int(s, 2, limit);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if ((error = pv_store__read_row(&env, s)) < 0)
			break;
		memset(&ev, 0, sizeof(ev));
		ev.id = sqlite3_column_int64(s, PV_STORE_ENV_NCOLS);
		ev.env_id = env.id;
		memcpy(ev.name, env.name, sizeof(ev.name));
		pv_store__copy_text(ev.kind, sizeof(ev.kind), s, PV_STORE_ENV_NCOLS + 1);
		ev.actor = pv_store__dup_text(s, PV_STORE_ENV_NCOLS + 2);
		ev.at = sqlite3_column_int64(s, PV_STORE_ENV_NCOLS + 3);
		ev.detail_json = sqlite3_column_type(s, PV_STORE_ENV_NCOLS + 5) == SQLITE_NULL
					 ? NULL : pv_store__dup_text(s, PV_STORE_ENV_NCOLS + 5);
		error = ev.actor ? cb(&ev, &env, sqlite3_column_int(s, PV_STORE_ENV_NCOLS + 4), payload)
				 : pv_error_set(PV_ERROR, NULL, "out of memory");
		free(ev.detail_json);
		free(ev.actor);
		pv_env_dispose(&env);
		if (error)
			break;
	}
	return pv_store__walk_end(st, s, rc, error, "reading the history after an id");
}

int pv_store_changes_last(struct pv_store *st, int64_t *out)
{
	sqlite3_stmt *s = NULL;
	int rc, error;

	*out = 0;
	if ((error = pv_store__prepare(st, S_CHANGES_LAST, family_sql[S_CHANGES_LAST], &s)) < 0)
		return error;
	if ((rc = sqlite3_step(s)) == SQLITE_ROW)
		*out = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	return rc == SQLITE_ROW ? 0 : pv_store__db_error(st, rc, "reading the latest history id");
}
