/* Unit tests for dbhealth.c, its setting and clearing by store.c against a
 * real SQLite file that fills (max_page_count), and log.c's rate-limited
 * lines. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "dbhealth.h"
#include "log.h"
#include "store_int.h"
#include "tmpdir.h"

static void refusal_codes(void **state)
{
	(void)state;
	assert_true(pv_dbhealth_is_refusal(SQLITE_FULL));
	assert_true(pv_dbhealth_is_refusal(SQLITE_IOERR));
	assert_true(pv_dbhealth_is_refusal(SQLITE_IOERR_WRITE));
	assert_true(pv_dbhealth_is_refusal(SQLITE_READONLY));
	assert_true(pv_dbhealth_is_refusal(SQLITE_CANTOPEN));
	assert_false(pv_dbhealth_is_refusal(SQLITE_BUSY));
	assert_false(pv_dbhealth_is_refusal(SQLITE_CONSTRAINT));
	assert_false(pv_dbhealth_is_refusal(SQLITE_OK));
}

static void set_and_cleared(void **state)
{
	char why[256];
	int64_t since = 0, before = (int64_t)time(NULL);

	(void)state;
	assert_int_equal(pv_dbhealth_refusing(why, sizeof(why), &since), 0);
	pv_dbhealth_refused("committing", "database or disk is full");
	assert_int_equal(pv_dbhealth_refusing(why, sizeof(why), &since), 1);
	assert_string_equal(why, "database or disk is full (while committing)");
	assert_true(since >= before && since <= (int64_t)time(NULL));
	/* a later failure keeps the start and takes the newer reason */
	pv_dbhealth_refused("inserting", "disk I/O error");
	assert_int_equal(pv_dbhealth_refusing(why, sizeof(why), NULL), 1);
	assert_string_equal(why, "disk I/O error (while inserting)");
	pv_dbhealth_wrote();
	assert_int_equal(pv_dbhealth_refusing(NULL, 0, NULL), 0);
}

static void make_env(struct pv_env *e, const char *name, size_t values_len)
{
	char *values = malloc(values_len + 16);

	assert_non_null(values);
	memset(e, 0, sizeof(*e));
	snprintf(e->name, sizeof(e->name), "%s", name);
	snprintf(e->owner, sizeof(e->owner), "o");
	snprintf(e->status, sizeof(e->status), "%s", PV_STATUS_PENDING);
	snprintf(e->base, sizeof(e->base), "dev");
	snprintf(values, 8, "{\"a\":\"");
	memset(values + 6, 'x', values_len);
	snprintf(values + 6 + values_len, 3, "\"}");
	e->values_json = values;
	e->requested_by = strdup("tester");
	e->created_at = e->updated_at = 1000;
	e->expires_at = 2000;
}

static int insert(struct pv_store *st, const char *name)
{
	struct pv_env e;
	int error;

	make_env(&e, name, 4000);
	if ((error = pv_store_begin(st)) == 0 && (error = pv_store_env_insert(st, &e)) == 0)
		error = pv_store_commit(st);
	else
		pv_store_rollback(st);
	pv_env_dispose(&e);
	return error;
}

/* A database that cannot grow refuses writes: the store says so in the
 * state and in its error, and the first write that commits clears it. */
static void store_sets_and_clears(void **state)
{
	char dir[64], path[128], why[256], name[32];
	struct pv_store *st;
	int error = 0, i;

	(void)state;
	assert_int_equal(pv_test_mkdtemp(dir, sizeof(dir), "dbhealth"), 0);
	snprintf(path, sizeof(path), "%s/t.db", dir);
	assert_int_equal(pv_store_open(&st, &(struct pv_store_settings){ .path = path }), 0);
	assert_int_equal(sqlite3_exec(st->db, "PRAGMA max_page_count = 64", NULL, NULL, NULL), SQLITE_OK);
	for (i = 0; i < 200 && error == 0; i++) {
		snprintf(name, sizeof(name), "e%d", i);
		error = insert(st, name);
	}
	assert_int_equal(error, PV_EUNAVAIL);
	assert_non_null(strstr(pv_error_last()->message, "full"));
	assert_non_null(strstr(pv_error_last()->message, "refuses writes"));
	assert_int_equal(pv_dbhealth_refusing(why, sizeof(why), NULL), 1);
	assert_non_null(strstr(why, "full"));
	/* a read still works while writes are refused */
	assert_int_equal(pv_store_ping(st), 0);
	assert_int_equal(pv_dbhealth_refusing(NULL, 0, NULL), 1);

	assert_int_equal(sqlite3_exec(st->db, "PRAGMA max_page_count = 100000", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(insert(st, "after"), 0);
	assert_int_equal(pv_dbhealth_refusing(NULL, 0, NULL), 0);
	pv_store_free(st);
	assert_int_equal(pv_test_rmtree(dir), 0);
}

/* log_warn_every: one line per interval from a call site, the next one
 * counting the lines left out. */
static void log_every_rate_limits(void **state)
{
	char dir[64], path[128], buf[4096];
	int fd, saved;
	ssize_t n;
	FILE *f;
	int lines = 0;

	(void)state;
	assert_int_equal(pv_test_mkdtemp(dir, sizeof(dir), "logevery"), 0);
	snprintf(path, sizeof(path), "%s/log", dir);
	fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
	assert_true(fd >= 0);
	saved = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	for (int i = 0; i < 1000; i++)
		log_warn_every(60000, "test: the same failure %d", i);
	for (int i = 0; i < 3; i++) {
		log_warn_every(1, "test: another site %d", i);
		usleep(5000);
	}
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(fd);
	f = fopen(path, "r");
	assert_non_null(f);
	n = (ssize_t)fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n < 0 ? 0 : n] = '\0';
	for (char *p = buf; (p = strchr(p, '\n')); p++)
		lines++;
	/* one of the first site's 1000, every one of the second's */
	assert_int_equal(lines, 4);
	assert_non_null(strstr(buf, "the same failure 0"));
	assert_null(strstr(buf, "the same failure 1"));
	assert_non_null(strstr(buf, "another site 2"));
	assert_int_equal(pv_test_rmtree(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(refusal_codes),
		cmocka_unit_test(set_and_cleared),
		cmocka_unit_test(store_sets_and_clears),
		cmocka_unit_test(log_every_rate_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
