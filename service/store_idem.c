/*
 * store_idem.c - Idempotency-Keys: per actor and key, the fingerprint of
 * the first request and what answered it (the environment and generation
 * it waited for, or a stored failure).
 */
#include "store_int.h"

#include <stdio.h>
#include <string.h>

static const char *const family_sql[S_COUNT] = {
	[S_IDEM_GET] = "SELECT fingerprint, env_id, wait_kind, wait_gen, status, body FROM idempotency WHERE actor = ?1 AND key = ?2",
	[S_IDEM_PUT] = "INSERT INTO idempotency (actor, key, fingerprint, env_id, wait_kind, wait_gen, status, body, created_at) "
		       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
};

static int prepare(struct pv_store *st, enum stmt which, sqlite3_stmt **out)
{
	return pv_store__prepare(st, which, family_sql[which], out);
}

int pv_store_idem_get(struct pv_store *st, const char *actor, const char *key, struct pv_idem *out)
{
	sqlite3_stmt *s = NULL;
	int rc, error;

	memset(out, 0, sizeof(*out));
	if ((error = prepare(st, S_IDEM_GET, &s)) < 0)
		return error;
	sqlite3_bind_text(s, 1, actor, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		pv_store__copy_text(out->fingerprint, sizeof(out->fingerprint), s, 0);
		out->env_id = sqlite3_column_int64(s, 1);
		out->wait_kind = sqlite3_column_int(s, 2);
		out->wait_gen = sqlite3_column_int64(s, 3);
		out->status = sqlite3_column_int(s, 4);
		out->body = pv_store__dup_text(s, 5);
	}
	sqlite3_reset(s);
	if (rc == SQLITE_DONE)
		return pv_error_set(PV_ENOTFOUND, NULL, "no such idempotency key");
	return rc == SQLITE_ROW ? 0 : pv_store__db_error(st, rc, "reading an idempotency key");
}

int pv_store_idem_put(struct pv_store *st, const char *actor, const char *key, const struct pv_idem *idem, int64_t now)
{
	sqlite3_stmt *s = NULL;
	int error;

	if ((error = prepare(st, S_IDEM_PUT, &s)) < 0)
		return error;
	sqlite3_bind_text(s, 1, actor, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, idem->fingerprint, -1, SQLITE_STATIC);
	if (idem->env_id)
		sqlite3_bind_int64(s, 4, idem->env_id);
	sqlite3_bind_int(s, 5, idem->wait_kind);
	sqlite3_bind_int64(s, 6, idem->wait_gen);
	sqlite3_bind_int(s, 7, idem->status);
	if (idem->body)
		sqlite3_bind_text(s, 8, idem->body, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 9, now);
	return pv_store__step_done(st, s, "recording an idempotency key");
}

