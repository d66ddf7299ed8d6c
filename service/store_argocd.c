/*
 * store_argocd.c - what Argo CD says about each environment and the ready
 * rule that decides from it (see pv_store_argocd_set in store.h), and the
 * order of previewd's pushes that the rule needs (schema/011).
 */
#include "store_int.h"

#include <stdio.h>
#include <string.h>

static const char *const family_sql[S_COUNT] = {
	/* ready is once per environment: Synced to a revision that carries the
	 * environment's state (decided in C, below) and Healthy */
	[S_ARGOCD_SET] = "UPDATE envs SET argocd_sync = ?2, argocd_health = ?3, argocd_checked_at = ?4, "
			 "argocd_revision = nullif(?6, '') WHERE id = ?1",
	/* the first time only: a row whose ready_at is set is not changed, so
	 * sqlite3_changes says whether this report made it ready */
	[S_ARGOCD_READY] = "UPDATE envs SET argocd_ready_at = ?2 WHERE id = ?1 AND argocd_ready_at IS NULL "
			   "AND pushed_at IS NOT NULL",
	[S_ARGOCD_SEQ] = "SELECT seq FROM argocd_pushes WHERE commit_id = ?1",
	[S_ARGOCD_PUSH] = "INSERT INTO argocd_pushes (commit_id, pushed_at) VALUES (?1, ?2) "
			  "ON CONFLICT (commit_id) DO NOTHING",
	[S_ARGOCD_PRUNE] = "DELETE FROM argocd_pushes WHERE seq <= (SELECT max(seq) FROM argocd_pushes) - ?1",
};

static int prepare(struct pv_store *st, enum stmt which, sqlite3_stmt **out)
{
	return pv_store__prepare(st, which, family_sql[which], out);
}

/* The push order of commit, 0 if previewd did not record it. */
static int push_seq(struct pv_store *st, const char *commit, int64_t *seq)
{
	sqlite3_stmt *s = NULL;
	int error;

	*seq = 0;
	if (!commit || !*commit)
		return 0;
	if ((error = prepare(st, S_ARGOCD_SEQ, &s)) < 0)
		return error;
	sqlite3_bind_text(s, 1, commit, -1, SQLITE_STATIC);
	return pv_store__min_of(st, s, seq);
}

/*
 * Whether Argo CD's revision carries the environment's current state:
 *  - it is the environment's own commit (the last one carrying its state);
 *  - previewd pushed it after that commit: a later push of previewd's that
 *    did not touch the folder left it as it was, and one that did would
 *    have moved git_commit to itself;
 *  - a revision previewd never pushed (people's commit on top of the
 *    branch), or one whose order is unknown (pruned, or pushed before
 *    previewd recorded pushes): the branch only moves forward, so a sync
 *    that finished at or after the environment's push is at a commit that
 *    contains it.  A sync that finished earlier is an older state - the
 *    Application of an earlier environment of the same name.
 * A revision previewd knows to be older than the environment's commit is
 * never ready, however recent its sync.
 */
static int revision_carries(struct pv_store *st, const struct pv_env *env, const struct pv_argocd_app *app,
	int *ok)
{
	int64_t rev_seq, env_seq;
	int error;

	*ok = 0;
	if (!app->revision || !*app->revision)
		return 0;
	if (env->git_commit[0] && strcmp(app->revision, env->git_commit) == 0) {
		*ok = 1;
		return 0;
	}
	if ((error = push_seq(st, app->revision, &rev_seq)) < 0 ||
	    (error = push_seq(st, env->git_commit, &env_seq)) < 0)
		return error;
	if (rev_seq && env_seq)
		*ok = rev_seq > env_seq;
	else
		*ok = app->finished_at != 0 && env->pushed_at != 0 && app->finished_at >= env->pushed_at;
	return 0;
}

int pv_store_argocd_set(struct pv_store *st, const char *name, const struct pv_argocd_app *app, int64_t now,
	int *ready)
{
	sqlite3_stmt *s = NULL;
	struct pv_env env;
	int rc, ok, error;

	*ready = 0;
	if ((error = pv_store_begin(st)) < 0)
		return error;
	if ((error = pv_store_env_get(st, &env, name)) < 0)
		goto fail;
	if (strcmp(env.status, PV_STATUS_PENDING) != 0 && strcmp(env.status, PV_STATUS_ACTIVE) != 0) {
		error = pv_error_set(PV_ENOTFOUND, NULL, "no live environment named '%s'", name);
		goto fail;
	}
	if ((error = revision_carries(st, &env, app, &ok)) < 0 || (error = prepare(st, S_ARGOCD_SET, &s)) < 0)
		goto fail;
	sqlite3_bind_int64(s, 1, env.id);
	sqlite3_bind_text(s, 2, app->sync, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, app->health, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, now);
	sqlite3_bind_text(s, 6, app->revision ? app->revision : "", -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		error = pv_store__db_error(st, rc, "recording Argo CD status");
		goto fail;
	}
	if (ok && app->sync && app->health && strcmp(app->sync, "Synced") == 0 && strcmp(app->health, "Healthy") == 0) {
		if ((error = prepare(st, S_ARGOCD_READY, &s)) < 0)
			goto fail;
		sqlite3_bind_int64(s, 1, env.id);
		sqlite3_bind_int64(s, 2, now);
		rc = sqlite3_step(s);
		sqlite3_reset(s);
		if (rc != SQLITE_DONE) {
			error = pv_store__db_error(st, rc, "recording Argo CD status");
			goto fail;
		}
		*ready = sqlite3_changes(st->db) > 0;
	}
	if (*ready && (error = pv_store_event_add(st, &env, "ready", "argocd", NULL, now, NULL)) < 0)
		goto fail;
	pv_env_dispose(&env);
	return pv_store_commit(st);
fail:
	pv_env_dispose(&env);
	pv_store_rollback(st);
	return error;
}

int pv_store_argocd_pushed(struct pv_store *st, const char *commit, int64_t at)
{
	sqlite3_stmt *s = NULL;
	int error;

	if ((error = pv_store_begin(st)) < 0)
		return error;
	if ((error = prepare(st, S_ARGOCD_PUSH, &s)) < 0)
		goto fail;
	sqlite3_bind_text(s, 1, commit, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, at);
	if ((error = pv_store__step_done(st, s, "recording a push")) < 0 || (error = prepare(st, S_ARGOCD_PRUNE, &s)) < 0)
		goto fail;
	sqlite3_bind_int64(s, 1, PV_ARGOCD_PUSHES_KEPT);
	if ((error = pv_store__step_done(st, s, "pruning recorded pushes")) < 0)
		goto fail;
	return pv_store_commit(st);
fail:
	pv_store_rollback(st);
	return error;
}
