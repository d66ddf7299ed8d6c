/* Unit tests for store.c against a real SQLite file in a temp dir. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "store.h"
#include "tmpdir.h"

struct fixture {
	char dir[64];
	char path[128];
	struct pv_store *st;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (pv_test_mkdtemp(f->dir, sizeof(f->dir), "store") < 0)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/t.db", f->dir);
	if (pv_store_open(&f->st, &(struct pv_store_settings){ .path = f->path }) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	pv_store_free(f->st);
	if (pv_test_rmtree(f->dir) < 0)
		return -1;
	free(f);
	return 0;
}

static void make_env(struct pv_env *e, const char *name, const char *owner)
{
	memset(e, 0, sizeof(*e));
	snprintf(e->name, sizeof(e->name), "%s", name);
	snprintf(e->owner, sizeof(e->owner), "%s", owner);
	snprintf(e->status, sizeof(e->status), "%s", PV_STATUS_PENDING);
	snprintf(e->base, sizeof(e->base), "dev");
	e->values_json = strdup("{\"a\":1}");
	e->requested_by = strdup("tester");
	e->created_at = e->updated_at = 1000;
	e->expires_at = 2000;
}

static void insert(struct pv_store *st, struct pv_env *e)
{
	assert_int_equal(pv_store_begin(st), 0);
	assert_int_equal(pv_store_env_insert(st, e), 0);
	assert_int_equal(pv_store_event_add(st, e, "created", "tester", "127.0.0.1", 1000, NULL), 0);
	assert_int_equal(pv_store_commit(st), 0);
}

static int first_name_cb(const struct pv_env *env, void *payload)
{
	snprintf((char *)payload, 64, "%s", env->name);
	return 0;
}

static int count_cb(const struct pv_env *env, void *payload)
{
	(void)env;
	(*(int *)payload)++;
	return 0;
}

static void insert_get_conflict(void **state)
{
	struct fixture *f = *state;
	struct pv_env e, dup, got;

	make_env(&e, "alice", "alice");
	insert(f->st, &e);
	assert_true(e.id > 0);
	assert_int_equal(e.gen, 1);

	make_env(&dup, "alice", "bob");
	assert_int_equal(pv_store_begin(f->st), 0);
	assert_int_equal(pv_store_env_insert(f->st, &dup), PV_ECONFLICT);
	assert_string_equal(pv_error_last()->field, "name");
	pv_store_rollback(f->st);

	assert_int_equal(pv_store_env_get(f->st, &got, "alice"), 0);
	assert_string_equal(got.owner, "alice");
	assert_string_equal(got.values_json, "{\"a\":1}");
	assert_int_equal(got.expires_at, 2000);
	assert_int_equal(got.pushed_gen, 0);
	pv_env_dispose(&got);
	assert_int_equal(pv_store_env_get(f->st, &got, "nobody"), PV_ENOTFOUND);
	pv_env_dispose(&e);
	pv_env_dispose(&dup);
}

static void push_lifecycle(void **state)
{
	struct fixture *f = *state;
	struct pv_env e, got;
	int n = 0;

	make_env(&e, "bob", "bob");
	insert(f->st, &e);
	assert_int_equal(pv_store_dirty(f->st, 100, count_cb, &n), 0);
	assert_int_equal(n, 1);

	/* a change made while the first push is in flight stays dirty */
	assert_int_equal(pv_store_begin(f->st), 0);
	free(e.values_json);
	e.values_json = strdup("{\"a\":2}");
	assert_int_equal(pv_store_env_save(f->st, &e), 0);
	assert_int_equal(pv_store_commit(f->st), 0);
	assert_int_equal(e.gen, 2);

	assert_int_equal(pv_store_begin(f->st), 0);
	assert_int_equal(pv_store_mark_pushed(f->st, e.id, 1, "c1", 1500), 0);
	assert_int_equal(pv_store_commit(f->st), 0);
	assert_int_equal(pv_store_env_get(f->st, &got, "bob"), 0);
	assert_string_equal(got.status, PV_STATUS_ACTIVE);
	assert_int_equal(got.pushed_gen, 1);
	assert_string_equal(got.git_commit, "c1");
	pv_env_dispose(&got);
	n = 0;
	assert_int_equal(pv_store_dirty(f->st, 100, count_cb, &n), 0);
	assert_int_equal(n, 1);

	assert_int_equal(pv_store_begin(f->st), 0);
	assert_int_equal(pv_store_mark_pushed(f->st, e.id, 2, "c2", 1600), 0);
	assert_int_equal(pv_store_commit(f->st), 0);
	n = 0;
	assert_int_equal(pv_store_dirty(f->st, 100, count_cb, &n), 0);
	assert_int_equal(n, 0);

	/* deleting -> deleted only once the latest generation is pushed */
	assert_int_equal(pv_store_begin(f->st), 0);
	snprintf(e.status, sizeof(e.status), "%s", PV_STATUS_DELETING);
	assert_int_equal(pv_store_env_save(f->st, &e), 0);
	assert_int_equal(pv_store_commit(f->st), 0);
	assert_int_equal(pv_store_begin(f->st), 0);
	assert_int_equal(pv_store_mark_pushed(f->st, e.id, e.gen, "c3", 1700), 0);
	assert_int_equal(pv_store_commit(f->st), 0);
	assert_int_equal(pv_store_env_get(f->st, &got, "bob"), 0);
	assert_string_equal(got.status, PV_STATUS_DELETED);
	assert_int_equal(got.deleted_at, 1700);
	pv_env_dispose(&got);

	/* the name is free again; the history stays */
	struct pv_env again;
	make_env(&again, "bob", "bob");
	insert(f->st, &again);
	assert_int_equal(pv_store_env_get(f->st, &got, "bob"), 0);
	assert_int_equal(got.id, again.id);
	assert_string_equal(got.status, PV_STATUS_PENDING);
	pv_env_dispose(&got);
	pv_env_dispose(&again);
	pv_env_dispose(&e);
}

static void list_filters_pages(void **state)
{
	struct fixture *f = *state;
	struct pv_store_filter flt = { 0 };
	char name[32];
	int n;

	for (int i = 0; i < 25; i++) {
		struct pv_env e;
		snprintf(name, sizeof(name), "env%02d", i);
		make_env(&e, name, i % 2 ? "odd" : "even");
		insert(f->st, &e);
		pv_env_dispose(&e);
	}
	flt.limit = 100;
	flt.owner = "odd";
	n = 0;
	assert_int_equal(pv_store_env_list(f->st, &flt, count_cb, &n), 0);
	assert_int_equal(n, 12);
	flt.owner = NULL;
	flt.status = PV_STATUS_ACTIVE;
	n = 0;
	assert_int_equal(pv_store_env_list(f->st, &flt, count_cb, &n), 0);
	assert_int_equal(n, 0);
	flt.status = PV_STATUS_PENDING;
	flt.limit = 10;
	n = 0;
	assert_int_equal(pv_store_env_list(f->st, &flt, count_cb, &n), 0);
	assert_int_equal(n, 10);
	flt.have_cursor = 1;
	flt.after_id = 6; /* newest first: ids 1..5 remain */
	n = 0;
	assert_int_equal(pv_store_env_list(f->st, &flt, count_cb, &n), 0);
	assert_int_equal(n, 5);

	/* by name, after env19: env20..env24 */
	flt.sort = PV_SORT_NAME;
	flt.after_text = "env19";
	flt.after_id = 20;
	n = 0;
	assert_int_equal(pv_store_env_list(f->st, &flt, count_cb, &n), 0);
	assert_int_equal(n, 5);
	{
		struct first { char name[64]; } first = { "" };
		flt.limit = 1;
		assert_int_equal(pv_store_env_list(f->st, &flt, first_name_cb, &first), 0);
		assert_string_equal(first.name, "env20");
		flt.sort = PV_SORT_NAME_DESC;
		assert_int_equal(pv_store_env_list(f->st, &flt, first_name_cb, &first), 0);
		assert_string_equal(first.name, "env18");
	}
}

static void reopen_keeps_data(void **state)
{
	struct fixture *f = *state;
	struct pv_env e, got;

	make_env(&e, "carol", "carol");
	insert(f->st, &e);
	pv_store_free(f->st);
	/* migrations are applied once: reopening must not fail or reset */
	assert_int_equal(pv_store_open(&f->st, &(struct pv_store_settings){ .path = f->path }), 0);
	assert_int_equal(pv_store_env_get(f->st, &got, "carol"), 0);
	assert_int_equal(got.id, e.id);
	pv_env_dispose(&got);
	pv_env_dispose(&e);
}

static void failed_frees_name(void **state)
{
	struct fixture *f = *state;
	struct pv_env e, got, again;

	make_env(&e, "dave", "dave");
	insert(f->st, &e);
	assert_int_equal(pv_store_begin(f->st), 0);
	assert_int_equal(pv_store_mark_failed(f->st, e.id, e.gen, "foreign folder", 1100), 0);
	assert_int_equal(pv_store_commit(f->st), 0);
	assert_int_equal(pv_store_env_get(f->st, &got, "dave"), 0);
	assert_string_equal(got.status, PV_STATUS_FAILED);
	assert_string_equal(got.git_error, "foreign folder");
	pv_env_dispose(&got);
	make_env(&again, "dave", "dave");
	insert(f->st, &again);
	pv_env_dispose(&again);
	pv_env_dispose(&e);
}

static int count_outbox(const struct pv_outbox *ob, void *payload)
{
	(void)ob;
	(*(int *)payload)++;
	return 0;
}

/* The outbox and the warning lead times are settings of a connection, not
 * of the process: two connections to one file behave as each was opened. */
static void settings_per_connection(void **state)
{
	struct fixture *f = *state;
	static const long long leads[] = { 600 };
	struct pv_store_settings on = { .path = f->path, .outbox = 1, .warn_leads = leads, .warn_count = 1 };
	struct pv_store *st2;
	struct pv_env a, b;
	int64_t due;
	int n = 0;

	assert_int_equal(pv_store_open(&st2, &on), 0);
	make_env(&a, "quiet", "jane");
	a.expires_at = 5000;
	insert(f->st, &a);
	assert_int_equal(pv_store_outbox_due(f->st, 1000000, 10, count_outbox, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(pv_store_next_due(f->st, &due), 0);
	assert_int_equal(due, 5000); /* the expiry; no lead times, no warning */

	make_env(&b, "loud", "jane");
	b.expires_at = 5000;
	insert(st2, &b);
	assert_int_equal(pv_store_outbox_due(f->st, 1000000, 10, count_outbox, &n), 0);
	assert_int_equal(n, 1); /* "created", queued with its event */
	assert_int_equal(pv_store_next_due(f->st, &due), 0);
	assert_int_equal(due, 5000 - 600);

	/* a refresh recomputes every row from the lead times of its connection */
	assert_int_equal(pv_store_warn_refresh(f->st), 0);
	assert_int_equal(pv_store_next_due(st2, &due), 0);
	assert_int_equal(due, 5000);
	assert_int_equal(pv_store_warn_refresh(st2), 0);
	assert_int_equal(pv_store_next_due(st2, &due), 0);
	assert_int_equal(due, 5000 - 600);

	pv_store_free(st2);
	pv_env_dispose(&a);
	pv_env_dispose(&b);
}

struct thread_arg {
	struct pv_store_threads *t;
	struct pv_store *st;
	int error;
};

static void *thread_get(void *p)
{
	struct thread_arg *a = p;
	struct pv_store *again;

	a->error = pv_store_threads_get(a->t, &a->st);
	if (a->error == 0 && (pv_store_threads_get(a->t, &again) < 0 || again != a->st))
		a->error = -1;
	if (a->error == 0)
		a->error = pv_store_ping(a->st);
	return NULL; /* the thread's exit closes its connection */
}

/* One connection per thread: the same one on every call in a thread, and
 * each thread its own. */
static void threads_own_connections(void **state)
{
	struct fixture *f = *state;
	struct pv_store_settings settings = { .path = f->path };
	struct pv_store_threads *t;
	struct pv_store *mine, *again;
	struct thread_arg a = { 0 };
	pthread_t thread;

	assert_int_equal(pv_store_threads_new(&t, &settings), 0);
	assert_int_equal(pv_store_threads_get(t, &mine), 0);
	assert_int_equal(pv_store_threads_get(t, &again), 0);
	assert_ptr_equal(mine, again);
	a.t = t;
	assert_int_equal(pthread_create(&thread, NULL, thread_get, &a), 0);
	assert_int_equal(pthread_join(thread, NULL), 0);
	assert_int_equal(a.error, 0);
	assert_ptr_not_equal(a.st, mine);
	pv_store_threads_free(t);
}

/* The instance id: made once, kept across connections, never replaced. */
static void instance_id_made_once(void **state)
{
	struct fixture *f = *state;
	struct pv_store *again = NULL;
	char id[PV_INSTANCE_LEN], peek[PV_INSTANCE_LEN], other[PV_INSTANCE_LEN];
	char dir2[64], path2[128];

	assert_int_equal(pv_store_instance_peek(f->st, peek), PV_ENOTFOUND);
	assert_int_equal(pv_store_instance(f->st, id), 0);
	assert_int_equal(strlen(id), 32);
	assert_int_equal(strspn(id, "0123456789abcdef"), 32);
	assert_int_equal(pv_store_instance_peek(f->st, peek), 0);
	assert_string_equal(peek, id);
	/* another connection to the same file sees the same id */
	assert_int_equal(pv_store_open(&again, &(struct pv_store_settings){ .path = f->path }), 0);
	assert_int_equal(pv_store_instance(again, other), 0);
	assert_string_equal(other, id);
	pv_store_free(again);
	/* a recorded id is never replaced */
	assert_int_equal(pv_store_instance_set(f->st, "00000000000000000000000000000000"), PV_ECONFLICT);
	assert_int_equal(pv_store_instance(f->st, other), 0);
	assert_string_equal(other, id);

	/* a new database: another id; or the one recover gives it */
	assert_int_equal(pv_test_mkdtemp(dir2, sizeof(dir2), "store"), 0);
	snprintf(path2, sizeof(path2), "%s/t.db", dir2);
	assert_int_equal(pv_store_open(&again, &(struct pv_store_settings){ .path = path2 }), 0);
	assert_int_equal(pv_store_instance_set(again, "not-hex"), PV_EINVAL);
	assert_int_equal(pv_store_instance_set(again, "0123456789ABCDEF0123456789ABCDEF"), PV_EINVAL);
	assert_int_equal(pv_store_instance_peek(again, other), PV_ENOTFOUND);
	assert_int_equal(pv_store_instance_set(again, "0123456789abcdef0123456789abcdef"), 0);
	assert_int_equal(pv_store_instance(again, other), 0);
	assert_string_equal(other, "0123456789abcdef0123456789abcdef");
	assert_string_not_equal(other, id);
	pv_store_free(again);
	assert_int_equal(pv_test_rmtree(dir2), 0);
}

/* ---- retention ---- */

/* The one number sql answers on the file at path. */
static long long count_of(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	long long n = -1;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
	if (sqlite3_step(s) == SQLITE_ROW)
		n = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return n;
}

/* An environment name created at 100 and taken to status by `end`: "active"
 * (pushed), "deleted" (deleted_at end), "failed" (never pushed, at end) or
 * "failed-pushed" (pushed, then failed at end).  Events queue notifications
 * on st (opened with the outbox on). */
static int64_t ended(struct pv_store *st, const char *name, const char *how, int64_t end)
{
	struct pv_env e;
	int64_t id;

	make_env(&e, name, "o");
	e.created_at = e.updated_at = 100;
	insert(st, &e);
	if (strcmp(how, "failed") == 0) {
		assert_int_equal(pv_store_mark_failed(st, e.id, e.gen, "no", end), 0);
	} else {
		assert_int_equal(pv_store_begin(st), 0);
		assert_int_equal(pv_store_mark_pushed(st, e.id, e.gen, "c1", 100), 0);
		assert_int_equal(pv_store_commit(st), 0);
	}
	if (strcmp(how, "deleted") == 0 || strcmp(how, "failed-pushed") == 0) {
		snprintf(e.status, sizeof(e.status), "%s", strcmp(how, "deleted") == 0 ? PV_STATUS_DELETING : PV_STATUS_ACTIVE);
		e.updated_at = end;
		assert_int_equal(pv_store_begin(st), 0);
		assert_int_equal(pv_store_env_save(st, &e), 0);
		if (strcmp(how, "deleted") == 0) {
			assert_int_equal(pv_store_mark_pushed(st, e.id, e.gen, "c2", end), 0);
			assert_int_equal(pv_store_event_add(st, &e, "deleted", "previewd", NULL, end, NULL), 0);
		} else {
			assert_int_equal(pv_store_mark_failed(st, e.id, e.gen, "no", end), 0);
		}
		assert_int_equal(pv_store_commit(st), 0);
	}
	id = e.id;
	pv_env_dispose(&e);
	return id;
}

static int deliver_cb(const struct pv_outbox *ob, void *payload)
{
	return pv_store_outbox_delivered(payload, ob->id, 1000);
}

static long long envs_named(const char *path, const char *name)
{
	char sql[128];

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM envs WHERE name = '%s'", name);
	return count_of(path, sql);
}

/*
 * What retention prunes at cutoff 2000, and what it leaves: deleted and
 * never-pushed failed records that ended before, with their events and
 * notifications; not a live one, not a later one, not a failed one that had
 * been pushed (its folder may be in Git), not one with a notification owed.
 */
static void prune_rules(void **state)
{
	struct fixture *f = *state;
	struct pv_store *st = NULL;
	long long pruned[PV_PRUNE_KINDS] = { 0 }, n = 0;
	struct pv_idem key = { .fingerprint = "fp" };
	int64_t live;
	int more = 1;

	assert_int_equal(pv_store_open(&st, &(struct pv_store_settings){ .path = f->path, .outbox = 1 }), 0);
	(void)ended(st, "old-deleted", "deleted", 1000);
	(void)ended(st, "old-failed", "failed", 1000);
	(void)ended(st, "old-failed-pushed", "failed-pushed", 1000);
	(void)ended(st, "new-deleted", "deleted", 3000);
	live = ended(st, "live", "active", 0);
	/* every notification so far delivered at 1000; then one owed */
	assert_int_equal(pv_store_outbox_due(st, 1 << 30, 1000, deliver_cb, st), 0);
	(void)ended(st, "owed", "deleted", 1000);
	assert_int_equal(pv_store_begin(st), 0);
	assert_int_equal(pv_store_idem_put(st, "a", "old", &key, 1000), 0);
	assert_int_equal(pv_store_idem_put(st, "a", "new", &key, 3000), 0);
	assert_int_equal(pv_store_commit(st), 0);
	/* warnings about a past expiry of the live one, and about its current one */
	assert_int_equal(pv_store_warning_add(st, live, 600, 1000, 400), 0);
	assert_int_equal(pv_store_warning_add(st, live, 600, 5000, 4400), 0);

	assert_int_equal(pv_store_prune_envs(st, 2000, 100, pruned, &more), 0);
	assert_int_equal(more, 0);
	assert_int_equal(pruned[PV_PRUNE_ENVS], 2);
	assert_int_equal(envs_named(f->path, "old-deleted"), 0);
	assert_int_equal(envs_named(f->path, "old-failed"), 0);
	assert_int_equal(envs_named(f->path, "old-failed-pushed"), 1);
	assert_int_equal(envs_named(f->path, "new-deleted"), 1);
	assert_int_equal(envs_named(f->path, "live"), 1);
	assert_int_equal(envs_named(f->path, "owed"), 1);
	assert_int_equal(count_of(f->path, "SELECT count(*) FROM events WHERE env_id NOT IN (SELECT id FROM envs)"), 0);
	assert_int_equal(count_of(f->path, "SELECT count(*) FROM events WHERE name = 'live'"), 1);
	assert_true(pruned[PV_PRUNE_EVENTS] >= 3);
	assert_true(pruned[PV_PRUNE_OUTBOX] >= 2);

	/* one batch of one: a full batch says there is more */
	memset(pruned, 0, sizeof(pruned));
	assert_int_equal(pv_store_outbox_due(st, 1 << 30, 1000, deliver_cb, st), 0);
	assert_int_equal(pv_store_prune_envs(st, 2000, 1, pruned, &more), 0);
	assert_int_equal(more, 1);
	assert_int_equal(envs_named(f->path, "owed"), 0);
	assert_int_equal(pv_store_prune_envs(st, 2000, 1, pruned, &more), 0);
	assert_int_equal(more, 0);
	assert_int_equal(pruned[PV_PRUNE_ENVS], 1);

	/* rows of their own: done notifications (the live env's too), keys, warnings */
	assert_int_equal(pv_store_prune_rows(st, PV_PRUNE_OUTBOX, 2000, 500, &n), 0);
	assert_true(n >= 1);
	assert_int_equal(count_of(f->path, "SELECT count(*) FROM outbox WHERE delivered_at < 2000"), 0);
	assert_int_equal(pv_store_prune_rows(st, PV_PRUNE_IDEM, 2000, 500, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(count_of(f->path, "SELECT count(*) FROM idempotency WHERE key = 'new'"), 1);
	assert_int_equal(pv_store_prune_rows(st, PV_PRUNE_WARNINGS, 2000, 500, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(count_of(f->path, "SELECT count(*) FROM warnings"), 1);
	assert_int_equal(pv_store_prune_rows(st, PV_PRUNE_ENVS, 2000, 500, &n), PV_EINVAL);
	pv_store_free(st);
}

/*
 * Webhook delivery ids (kept so a redelivery acts once) received before the
 * cutoff are pruned in batches; a later one stays and still makes its
 * redelivery a duplicate.
 */
static void prune_deliveries(void **state)
{
	struct fixture *f = *state;
	long long n = 0;
	int fresh = 0;
	char id[32];

	for (int i = 0; i < 5; i++) {
		snprintf(id, sizeof(id), "old-%d", i);
		assert_int_equal(pv_store_delivery_claim(f->st, "github", id, 1000 + i, &fresh), 0);
		assert_int_equal(fresh, 1);
	}
	assert_int_equal(pv_store_delivery_claim(f->st, "gitlab", "new", 3000, &fresh), 0);
	assert_int_equal(pv_store_prune_rows(f->st, PV_PRUNE_DELIVERIES, 2000, 3, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(pv_store_prune_rows(f->st, PV_PRUNE_DELIVERIES, 2000, 3, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(pv_store_prune_rows(f->st, PV_PRUNE_DELIVERIES, 2000, 3, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(count_of(f->path, "SELECT count(*) FROM hook_deliveries"), 1);
	/* the kept id still answers a redelivery as a duplicate; a pruned one is new again */
	assert_int_equal(pv_store_delivery_claim(f->st, "gitlab", "new", 3500, &fresh), 0);
	assert_int_equal(fresh, 0);
	assert_int_equal(pv_store_delivery_claim(f->st, "github", "old-0", 3500, &fresh), 0);
	assert_int_equal(fresh, 1);
}

/* A new database gives its free pages back; an older one is rebuilt once. */
static void reclaim_pages(void **state)
{
	struct fixture *f = *state;
	long long freed = 0, left = 0, before;
	int converted = 1;
	char *err = NULL;
	sqlite3 *db = NULL;

	assert_int_equal(count_of(f->path, "PRAGMA auto_vacuum"), 2);
	assert_int_equal(pv_store_vacuum_mode(f->st, &converted), 0);
	assert_int_equal(converted, 0);
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "CREATE TABLE junk (b); INSERT INTO junk SELECT randomblob(3000) FROM "
		"(WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300) SELECT x FROM c);"
		"DELETE FROM junk", NULL, NULL, &err), SQLITE_OK);
	before = count_of(f->path, "PRAGMA freelist_count");
	assert_true(before >= 300);
	assert_int_equal(pv_store_reclaim(f->st, 100, &freed, &left), 0);
	assert_int_equal(freed, 100);
	assert_int_equal(left, before - 100);
	while (left > 0)
		assert_int_equal(pv_store_reclaim(f->st, 100, &freed, &left), 0);
	assert_int_equal(count_of(f->path, "PRAGMA freelist_count"), 0);
	assert_int_equal(pv_store_reclaim(f->st, 100, &freed, &left), 0);
	assert_int_equal(freed, 0);

	/* as a database from before 013 */
	assert_int_equal(sqlite3_exec(db, "PRAGMA auto_vacuum = NONE; VACUUM", NULL, NULL, &err), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(count_of(f->path, "PRAGMA auto_vacuum"), 0);
	assert_int_equal(pv_store_vacuum_mode(f->st, &converted), 0);
	assert_int_equal(converted, 1);
	assert_int_equal(count_of(f->path, "PRAGMA auto_vacuum"), 2);
	assert_int_equal(pv_store_vacuum_mode(f->st, &converted), 0);
	assert_int_equal(converted, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(insert_get_conflict, setup, teardown),
		cmocka_unit_test_setup_teardown(push_lifecycle, setup, teardown),
		cmocka_unit_test_setup_teardown(list_filters_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(reopen_keeps_data, setup, teardown),
		cmocka_unit_test_setup_teardown(failed_frees_name, setup, teardown),
		cmocka_unit_test_setup_teardown(settings_per_connection, setup, teardown),
		cmocka_unit_test_setup_teardown(threads_own_connections, setup, teardown),
		cmocka_unit_test_setup_teardown(instance_id_made_once, setup, teardown),
		cmocka_unit_test_setup_teardown(prune_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(prune_deliveries, setup, teardown),
		cmocka_unit_test_setup_teardown(reclaim_pages, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
