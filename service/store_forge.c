/*
 * store_forge.c - the pull_requests rows for the forge reporter (see
 * store_forge.h).
 *
 * The statements are prepared at each call rather than kept in the
 * connection's table: the reporter runs a few of them every few seconds,
 * and its rows are no hot path.
 */
#include "store_forge.h"

#include <stdio.h>
#include <string.h>

#include "store_int.h"

/* The environment is the latest record of env_name, as the API shows it
 * (sleeping too: a live record that has sleeping values, env.c's rule). */
static const char due_sql[] =
	"SELECT p.id, p.forge, p.repo, p.project_id, p.number, p.env_name, p.state, p.head_sha, p.author, "
	"p.reply, p.reply_gen, p.comment_id, p.deployment_id, p.deployment_sha, p.reported, "
	"CASE WHEN e.sleep_values_json IS NOT NULL AND e.status IN ('pending','active') THEN 'sleeping' "
	"ELSE e.status END, e.expires_at, e.argocd_health, e.argocd_sync, e.git_error, e.gen > e.pushed_gen "
	"FROM pull_requests p LEFT JOIN envs e ON e.id = (SELECT MAX(id) FROM envs WHERE name = p.env_name) "
	"WHERE p.id > ?1 AND p.next_attempt_at <= ?2 ORDER BY p.id LIMIT ?3";

static int prepare(struct pv_store *st, const char *sql, sqlite3_stmt **out)
{
	int rc = sqlite3_prepare_v2(st->db, sql, -1, out, NULL);

	return rc == SQLITE_OK ? 0 : pv_store__db_error(st, rc, "preparing a pull_requests statement");
}

int pv_store_pr_due(struct pv_store *st, int64_t after_id, int64_t now, int limit,
	int (*cb)(const struct pv_pr *pr, void *payload), void *payload)
{
	sqlite3_stmt *s;
	struct pv_pr pr;
	int rc, error;

	if ((error = prepare(st, due_sql, &s)) < 0)
		return error;
	sqlite3_bind_int64(s, 1, after_id);
	sqlite3_bind_int64(s, 2, now);
	sqlite3_bind_int(s, 3, limit);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		memset(&pr, 0, sizeof(pr));
		pr.id = sqlite3_column_int64(s, 0);
		pv_store__copy_text(pr.forge, sizeof(pr.forge), s, 1);
		pv_store__copy_text(pr.repo, sizeof(pr.repo), s, 2);
		pv_store__copy_text(pr.project_id, sizeof(pr.project_id), s, 3);
		pr.number = sqlite3_column_int64(s, 4);
		pv_store__copy_text(pr.env_name, sizeof(pr.env_name), s, 5);
		pv_store__copy_text(pr.state, sizeof(pr.state), s, 6);
		pv_store__copy_text(pr.head_sha, sizeof(pr.head_sha), s, 7);
		pv_store__copy_text(pr.author, sizeof(pr.author), s, 8);
		pv_store__copy_text(pr.reply, sizeof(pr.reply), s, 9);
		pr.reply_gen = sqlite3_column_int64(s, 10);
		pv_store__copy_text(pr.comment_id, sizeof(pr.comment_id), s, 11);
		pv_store__copy_text(pr.deployment_id, sizeof(pr.deployment_id), s, 12);
		pv_store__copy_text(pr.deployment_sha, sizeof(pr.deployment_sha), s, 13);
		pv_store__copy_text(pr.reported, sizeof(pr.reported), s, 14);
		pv_store__copy_text(pr.env_status, sizeof(pr.env_status), s, 15);
		pr.expires_at = sqlite3_column_int64(s, 16);
		pv_store__copy_text(pr.health, sizeof(pr.health), s, 17);
		pv_store__copy_text(pr.sync, sizeof(pr.sync), s, 18);
		pv_store__copy_text(pr.git_error, sizeof(pr.git_error), s, 19);
		pr.dirty = sqlite3_column_int(s, 20);
		if ((error = cb(&pr, payload)) < 0)
			break;
	}
	if (error == 0 && rc != SQLITE_DONE)
		error = pv_store__db_error(st, rc, "reading pull requests");
	sqlite3_finalize(s);
	return error;
}

/* Run sql with its parameters bound by the caller's bind step. */
static int run(struct pv_store *st, sqlite3_stmt *s, const char *what)
{
	int rc = sqlite3_step(s), error = 0;

	if (rc != SQLITE_DONE)
		error = pv_store__db_error(st, rc, what);
	sqlite3_finalize(s);
	return error;
}

static void bind_text_or_null(sqlite3_stmt *s, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(s, i);
}

int pv_store_pr_reported(struct pv_store *st, int64_t id, const char *reported)
{
	sqlite3_stmt *s;
	int error;

	if ((error = prepare(st, "UPDATE pull_requests SET reported = ?2, next_attempt_at = 0 WHERE id = ?1", &s)) < 0)
		return error;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_text(s, 2, reported, -1, SQLITE_TRANSIENT);
	return run(st, s, "recording a pull request's report");
}

int pv_store_pr_made(struct pv_store *st, int64_t id, const char *comment_id, const char *deployment_id,
	const char *deployment_sha)
{
	sqlite3_stmt *s;
	int error;

	if ((error = prepare(st, "UPDATE pull_requests SET comment_id = coalesce(?2, comment_id), "
				 "deployment_id = coalesce(?3, deployment_id), deployment_sha = coalesce(?4, deployment_sha) "
				 "WHERE id = ?1", &s)) < 0)
		return error;
	sqlite3_bind_int64(s, 1, id);
	bind_text_or_null(s, 2, comment_id);
	bind_text_or_null(s, 3, deployment_id);
	bind_text_or_null(s, 4, deployment_sha);
	return run(st, s, "recording what the forge made");
}

int pv_store_pr_retry(struct pv_store *st, int64_t id, int64_t at)
{
	sqlite3_stmt *s;
	int error;

	if ((error = prepare(st, "UPDATE pull_requests SET next_attempt_at = ?2 WHERE id = ?1", &s)) < 0)
		return error;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int64(s, 2, at);
	return run(st, s, "recording a pull request's retry");
}

int pv_store_pr_hold_forge(struct pv_store *st, const char *forge, int64_t at)
{
	sqlite3_stmt *s;
	int error;

	if ((error = prepare(st, "UPDATE pull_requests SET next_attempt_at = ?2 WHERE forge = ?1 AND next_attempt_at < ?2",
		     &s)) < 0)
		return error;
	sqlite3_bind_text(s, 1, forge, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 2, at);
	return run(st, s, "holding a forge's pull requests");
}

int pv_store_pr_next(struct pv_store *st, int64_t now, int64_t *out)
{
	sqlite3_stmt *s;
	int rc, error;

	*out = 0;
	if ((error = prepare(st, "SELECT MIN(next_attempt_at) FROM pull_requests WHERE next_attempt_at > ?1", &s)) < 0)
		return error;
	sqlite3_bind_int64(s, 1, now);
	if ((rc = sqlite3_step(s)) == SQLITE_ROW)
		*out = sqlite3_column_int64(s, 0);
	else if (rc != SQLITE_DONE)
		error = pv_store__db_error(st, rc, "reading the next pull request attempt");
	sqlite3_finalize(s);
	return error;
}
