/*
 * store_pullreq.c - the pull_requests rows the pull-request lifecycle writes
 * (pullreq.h) and the webhook deliveries already acted on.  Statements are
 * prepared per call: these run once per webhook, not per request.
 */
#include "store_int.h"

#include <stdio.h>
#include <string.h>

static int prep(struct pv_store *st, const char *sql, sqlite3_stmt **s)
{
	int rc = sqlite3_prepare_v2(st->db, sql, -1, s, NULL);

	return rc == SQLITE_OK ? 0 : pv_store__db_error(st, rc, "preparing a pull-request statement");
}

/* Step a write to its end. */
static int run(struct pv_store *st, sqlite3_stmt *s, const char *what)
{
	int rc = sqlite3_step(s);

	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : pv_store__db_error(st, rc, what);
}

int pv_store_delivery_claim(struct pv_store *st, const char *forge, const char *delivery, int64_t now, int *fresh)
{
	sqlite3_stmt *s;
	int error;

	*fresh = 0;
	if ((error = prep(st, "INSERT OR IGNORE INTO hook_deliveries (forge, delivery, at) VALUES (?1, ?2, ?3)", &s)) < 0)
		return error;
	sqlite3_bind_text(s, 1, forge, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, delivery, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, now);
	if ((error = run(st, s, "recording a webhook delivery")) < 0)
		return error;
	*fresh = sqlite3_changes(st->db) == 1;
	return 0;
}

int pv_store_delivery_forget(struct pv_store *st, const char *forge, const char *delivery)
{
	sqlite3_stmt *s;
	int error;

	if ((error = prep(st, "DELETE FROM hook_deliveries WHERE forge = ?1 AND delivery = ?2", &s)) < 0)
		return error;
	sqlite3_bind_text(s, 1, forge, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, delivery, -1, SQLITE_STATIC);
	return run(st, s, "forgetting a webhook delivery");
}

int pv_store_pr_get(struct pv_store *st, const char *forge, const char *repo, long long number, struct pv_pr_row *out)
{
	sqlite3_stmt *s;
	int rc, error;

	memset(out, 0, sizeof(*out));
	if ((error = prep(st, "SELECT id, env_name, state, head_sha, head_branch, author, reply_gen FROM pull_requests "
			      "WHERE forge = ?1 AND repo = ?2 AND number = ?3", &s)) < 0)
		return error;
	sqlite3_bind_text(s, 1, forge, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, repo, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, number);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		out->id = sqlite3_column_int64(s, 0);
		pv_store__copy_text(out->env_name, sizeof(out->env_name), s, 1);
		pv_store__copy_text(out->state, sizeof(out->state), s, 2);
		pv_store__copy_text(out->head_sha, sizeof(out->head_sha), s, 3);
		pv_store__copy_text(out->head_branch, sizeof(out->head_branch), s, 4);
		pv_store__copy_text(out->author, sizeof(out->author), s, 5);
		out->reply_gen = sqlite3_column_int64(s, 6);
	}
	sqlite3_finalize(s);
	if (rc == SQLITE_DONE)
		return pv_error_set(PV_ENOTFOUND, NULL, "no pull request %s#%lld", repo, number);
	return rc == SQLITE_ROW ? 0 : pv_store__db_error(st, rc, "reading a pull request");
}

int pv_store_pr_put(struct pv_store *st, const char *forge, const char *repo, const char *project_id,
	long long number, const struct pv_pr_row *row, int64_t now)
{
	sqlite3_stmt *s;
	int error;

	if ((error = prep(st, "INSERT INTO pull_requests (forge, repo, project_id, number, env_name, state, head_sha, "
			      "head_branch, author, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) "
			      "ON CONFLICT (forge, repo, number) DO UPDATE SET project_id = coalesce(excluded.project_id, "
			      "project_id), env_name = excluded.env_name, state = excluded.state, head_sha = excluded.head_sha, "
			      "head_branch = excluded.head_branch, author = excluded.author, updated_at = excluded.updated_at",
		     &s)) < 0)
		return error;
	sqlite3_bind_text(s, 1, forge, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, repo, -1, SQLITE_STATIC);
	if (project_id && *project_id)
		sqlite3_bind_text(s, 3, project_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, number);
	sqlite3_bind_text(s, 5, row->env_name, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 6, row->state, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 7, row->head_sha, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 8, row->head_branch, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 9, row->author, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 10, now);
	return run(st, s, "writing a pull request");
}

int pv_store_pr_reply(struct pv_store *st, int64_t id, const char *reply, int64_t now)
{
	sqlite3_stmt *s;
	int error;

	if ((error = prep(st, "UPDATE pull_requests SET reply = ?2, reply_gen = reply_gen + 1, updated_at = ?3 WHERE id = ?1",
		     &s)) < 0)
		return error;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_text(s, 2, reply, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, now);
	return run(st, s, "writing a pull request's reply");
}
