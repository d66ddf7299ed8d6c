/*
 * store_instance.c - the instance id (see schema/008_instance.sql).
 */
#include "store_int.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "hex.h"

static const char *const family_sql[S_COUNT] = {
	[S_INSTANCE_GET] = "SELECT id FROM instance WHERE one = 1",
	[S_INSTANCE_SET] = "INSERT INTO instance (one, id) VALUES (1, ?1)",
};

static int prepare(struct pv_store *st, enum stmt which, sqlite3_stmt **out)
{
	return pv_store__prepare(st, which, family_sql[which], out);
}

static int well_formed(const char *id)
{
	return strlen(id) == PV_INSTANCE_LEN - 1 && strspn(id, "0123456789abcdef") == PV_INSTANCE_LEN - 1;
}

int pv_store_instance_peek(struct pv_store *st, char out[PV_INSTANCE_LEN])
{
	sqlite3_stmt *s = NULL;
	int rc, error;

	out[0] = '\0';
	if ((error = prepare(st, S_INSTANCE_GET, &s)) < 0)
		return error;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		pv_store__copy_text(out, PV_INSTANCE_LEN, s, 0);
	sqlite3_reset(s);
	if (rc == SQLITE_DONE)
		return pv_error_set(PV_ENOTFOUND, NULL, "this database has no instance id yet");
	if (rc != SQLITE_ROW)
		return pv_store__db_error(st, rc, "reading the instance id");
	return 0;
}

int pv_store_instance_set(struct pv_store *st, const char *id)
{
	sqlite3_stmt *s = NULL;
	int error;

	if (!well_formed(id))
		return pv_error_set(PV_EINVAL, NULL, "an instance id is 32 lowercase hex digits");
	if ((error = prepare(st, S_INSTANCE_SET, &s)) < 0)
		return error;
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	if ((error = pv_store__step_done(st, s, "recording the instance id")) == PV_ECONFLICT)
		return pv_error_set(PV_ECONFLICT, NULL, "this database has an instance id already");
	return error;
}

int pv_store_instance(struct pv_store *st, char out[PV_INSTANCE_LEN])
{
	unsigned char raw[(PV_INSTANCE_LEN - 1) / 2];
	char fresh[PV_INSTANCE_LEN];
	int error;

	if ((error = pv_store_instance_peek(st, out)) != PV_ENOTFOUND)
		return error;
	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return pv_error_set(PV_ERROR, NULL, "no randomness for the instance id");
	pv_hex_encode(fresh, raw, sizeof(raw));
	/* another connection may have made one first: then its id is the one */
	if ((error = pv_store_instance_set(st, fresh)) < 0 && error != PV_ECONFLICT)
		return error;
	return pv_store_instance_peek(st, out);
}
