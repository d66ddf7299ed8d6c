/*
 * store_token.c - API tokens: only a hash and a public lookup part are
 * recorded (auth.c makes and checks them).
 */
#include "store_int.h"

#include <stdio.h>
#include <string.h>

static const char *const family_sql[S_COUNT] = {
	[S_TOKEN_ADD] = "INSERT INTO tokens (name, role, lookup, hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
	[S_TOKEN_FIND] = "SELECT name, role, hash, created_at, revoked_at FROM tokens WHERE lookup = ?1",
	[S_TOKEN_REVOKE] = "UPDATE tokens SET revoked_at = ?2 WHERE name = ?1 AND revoked_at IS NULL",
	[S_TOKEN_LIST] = "SELECT name, role, '', created_at, revoked_at FROM tokens ORDER BY name",
	/* revoked tokens count too: revoking every token must not reopen the API */
	[S_TOKEN_COUNT] = "SELECT count(*) FROM tokens",
};

static int prepare(struct pv_store *st, enum stmt which, sqlite3_stmt **out)
{
	return pv_store__prepare(st, which, family_sql[which], out);
}

int pv_store_token_add(struct pv_store *st, const char *name, const char *role, const char *lookup,
	const char *hash, int64_t now)
{
	sqlite3_stmt *s = NULL;
	int error;

	if ((error = prepare(st, S_TOKEN_ADD, &s)) < 0)
		return error;
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, role, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, lookup, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, hash, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 5, now);
	if ((error = pv_store__step_done(st, s, "adding a token")) == PV_ECONFLICT)
		return pv_error_set(PV_ECONFLICT, "name", "a token named '%s' exists already", name);
	return error;
}

static void read_token(struct pv_token *t, sqlite3_stmt *s)
{
	memset(t, 0, sizeof(*t));
	pv_store__copy_text(t->name, sizeof(t->name), s, 0);
	pv_store__copy_text(t->role, sizeof(t->role), s, 1);
	pv_store__copy_text(t->hash, sizeof(t->hash), s, 2);
	t->created_at = sqlite3_column_int64(s, 3);
	t->revoked_at = sqlite3_column_int64(s, 4);
}

int pv_store_token_find(struct pv_store *st, const char *lookup, struct pv_token *out)
{
	sqlite3_stmt *s = NULL;
	int rc, error;

	if ((error = prepare(st, S_TOKEN_FIND, &s)) < 0)
		return error;
	sqlite3_bind_text(s, 1, lookup, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		read_token(out, s);
	sqlite3_reset(s);
	if (rc == SQLITE_DONE)
		return pv_error_set(PV_ENOTFOUND, NULL, "no such token");
	return rc == SQLITE_ROW ? 0 : pv_store__db_error(st, rc, "reading a token");
}

int pv_store_token_revoke(struct pv_store *st, const char *name, int64_t now)
{
	sqlite3_stmt *s = NULL;
	int error;

	if ((error = prepare(st, S_TOKEN_REVOKE, &s)) < 0)
		return error;
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, now);
	if ((error = pv_store__step_done(st, s, "revoking a token")) < 0)
		return error;
	if (sqlite3_changes(st->db) == 0)
		return pv_error_set(PV_ENOTFOUND, "name", "no active token named '%s'", name);
	return 0;
}

int pv_store_token_list(struct pv_store *st, int (*cb)(const struct pv_token *t, void *payload), void *payload)
{
	sqlite3_stmt *s = NULL;
	struct pv_token t;
	int rc, error = 0;

	if ((error = prepare(st, S_TOKEN_LIST, &s)) < 0)
		return error;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		read_token(&t, s);
		if ((error = cb(&t, payload)) != 0)
			break;
	}
	return pv_store__walk_end(st, s, rc, error, "listing tokens");
}

int pv_store_token_count(struct pv_store *st, long long *out)
{
	sqlite3_stmt *s = NULL;
	int64_t n = 0;
	int error;

	if ((error = prepare(st, S_TOKEN_COUNT, &s)) < 0 || (error = pv_store__min_of(st, s, &n)) < 0)
		return error;
	*out = n;
	return 0;
}

