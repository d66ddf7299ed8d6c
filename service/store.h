/*
 * store.h - previewd's record in SQLite: environments, their history, and
 * the Git work queue (rows whose desired generation is not yet pushed).
 *
 * Threads: a struct pv_store is one SQLite connection and belongs to one
 * thread.  HTTP worker threads get theirs from pv_store_threads_get(); the Git
 * writer opens its own.  SQLite runs in WAL mode with synchronous=FULL, so a
 * COMMIT that returned is on disk: the API acknowledges a request only after
 * its transaction committed.
 *
 * One header, one file per table family: store.c (connections, pragmas,
 * migrations, transactions), store_env.c (environments and their history),
 * store_outbox.c (the notification outbox, expiry and warnings),
 * store_token.c (API tokens), store_idem.c (Idempotency-Keys), store_reaper.c
 * (the reaper's holds), store_retention.c (pruning what ended long ago).
 *
 * Errors: PV_EUNAVAIL when the database cannot be opened or written,
 * PV_EBUSY when a lock could not be had within busy_timeout, PV_ECONFLICT on
 * a live-name clash, PV_ENOTFOUND for a missing row.
 */
#ifndef PV_STORE_H
#define PV_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

struct pv_store;

#define PV_STATUS_PENDING "pending"
#define PV_STATUS_ACTIVE "active"
#define PV_STATUS_DELETING "deleting"
#define PV_STATUS_DELETED "deleted"
#define PV_STATUS_FAILED "failed"
/* Not a row's status: what the API shows for a pending or active row that
 * is asleep (pv_env_is_asleep), and the list filter that finds them. */
#define PV_STATUS_SLEEPING "sleeping"

/* One environment row.  Strings are owned by the struct; pv_env_dispose
 * frees them.  Times are unix seconds, 0 meaning "none". */
struct pv_env {
	int64_t id;
	char name[64];
	char owner[64];
	char status[16];
	char base[64];
	char *values_json;
	char *requested_by;
	int64_t created_at, updated_at, expires_at, deleted_at, pushed_at;
	int64_t gen, pushed_gen;
	char git_commit[48];
	char *git_error;
	char argocd_sync[24], argocd_health[24];  /* "" until Argo CD was asked */
	char cluster[128];                        /* "" = the ApplicationSet's default */
	char changed_by[64];                      /* who asked for the latest change; pv_store_env_save writes it when set */
	int64_t argocd_checked_at;
	int64_t idle_ttl;                         /* seconds after the last activity it expires; 0: none */
	/* asleep (schema/015_sleep.sql): what Git holds instead of values_json,
	 * NULL when awake; when it fell asleep; with PREVIEWD_SLEEP_PAUSES_TTL
	 * the TTL's seconds left then (0: none kept, the TTL runs on) */
	char *sleep_values_json;
	int64_t slept_at;
	int64_t sleep_ttl_left;
	/* the schedule (schema/016_schedule.sql): its own ("" follows
	 * PREVIEWD_SLEEP_SCHEDULE, "none": never), a hold of it by hand until
	 * then, the last activity (0: created_at), who put it to sleep */
	char schedule[160];                       /* PV_SCHEDULE_MAX_TEXT */
	int64_t sched_hold_until;
	int64_t active_at;
	char sleep_by[16];                        /* "hand", "schedule", "idle"; "" awake */
};

void pv_env_dispose(struct pv_env *env);

/* Rows collected from the store's row callbacks, each an owned copy. */
struct pv_env_list {
	struct pv_env *v;
	size_t n, cap;
};

#define PV_ENV_LIST_INIT { NULL, 0, 0 }

/* A row callback for the pv_store_* walks: appends a copy of env to the
 * struct pv_env_list payload (git_error with it: the Git writer records a
 * recovery from it).  0 or PV_ERROR (out of memory). */
int pv_env_list_add(const struct pv_env *env, void *payload) PV_WARN_UNUSED;

/* Dispose of the rows and keep the array for the next walk. */
void pv_env_list_clear(struct pv_env_list *l);

/* Dispose of the rows and the array. */
void pv_env_list_dispose(struct pv_env_list *l);

/* 1 if env is pending or active and asleep. */
int pv_env_is_asleep(const struct pv_env *env);

/* The values Git is to hold for env: the sleeping ones while asleep. */
const char *pv_env_git_values(const struct pv_env *env);

/* 1 if status is pending, active or deleting (the name is taken). */
int pv_env_is_live(const struct pv_env *env);

typedef int (*pv_store_env_cb)(const struct pv_env *env, void *payload);

/*
 * How connections behave, passed to every open: the path and the two
 * settings that were process globals once.  main builds one from the
 * configuration; the Git writer, the reaper, the notifier and the Argo CD
 * poller open their connections with it, so that every writer of events
 * queues notifications and records warning times the same way.  Copied at
 * open: the struct need not outlive the call.
 */
struct pv_store_settings {
	const char *path;             /* the database file (created if absent) */
	int outbox;                   /* queue notifications with their events (a webhook is configured) */
	const long long *warn_leads;  /* warning lead times (seconds); none: no warning is ever due */
	size_t warn_count;
};

struct pv_config;

/* The settings the configuration implies for previewd's threads: the
 * outbox on when a webhook is configured, the configured lead times. */
void pv_store_settings_init(struct pv_store_settings *out, const struct pv_config *cfg, const char *path);

/* Open a connection, set the pragmas, and apply the embedded migrations
 * from schema/ that are not yet applied. */
int pv_store_open(struct pv_store **out, const struct pv_store_settings *settings) PV_WARN_UNUSED;
void pv_store_free(struct pv_store *st);

/* pv_store_open with pv_store_settings_init's settings. */
int pv_store_open_config(struct pv_store **out, const struct pv_config *cfg, const char *path) PV_WARN_UNUSED;

/*
 * synchronous=NORMAL for this connection: its commits may be lost on power
 * failure (never corrupted).  For connections whose writes are derivable -
 * the Git writer's "pushed" marks (a lost one makes the next round find
 * Git already has it), the reaper's marks (expiry is re-read), delivery
 * marks (at least once) - this saves an fsync per transaction.  Requests
 * are acknowledged on FULL connections only.
 */
int pv_store_relax(struct pv_store *st) PV_WARN_UNUSED;

/*
 * One connection per thread to one database, for the HTTP workers: a
 * thread's connection is opened on its first pv_store_threads_get() and
 * closed when the thread exits (or by pv_store_threads_free for the
 * calling thread).  Free it only once the threads that used it are gone.
 */
struct pv_store_threads;

int pv_store_threads_new(struct pv_store_threads **out, const struct pv_store_settings *settings) PV_WARN_UNUSED;
void pv_store_threads_free(struct pv_store_threads *t);

/* The calling thread's connection; valid for the life of the thread (or
 * until pv_store_threads_free). */
int pv_store_threads_get(struct pv_store_threads *t, struct pv_store **out) PV_WARN_UNUSED;

/* Transactions.  begin() is BEGIN IMMEDIATE: it takes the write lock up
 * front so a read-modify-write cannot be overtaken. */
int pv_store_begin(struct pv_store *st) PV_WARN_UNUSED;
int pv_store_commit(struct pv_store *st) PV_WARN_UNUSED;
void pv_store_rollback(struct pv_store *st);

/* The live environment of that name, or else the most recent record. */
int pv_store_env_get(struct pv_store *st, struct pv_env *out, const char *name) PV_WARN_UNUSED;
int pv_store_env_get_id(struct pv_store *st, struct pv_env *out, int64_t id) PV_WARN_UNUSED;

/* Insert env (status, gen set by the caller); PV_ECONFLICT if the name is
 * live.  Sets env->id.  Call inside a transaction. */
int pv_store_env_insert(struct pv_store *st, struct pv_env *env) PV_WARN_UNUSED;

/* Write back values_json, expires_at, idle_ttl, status, updated_at,
 * deleted_at, changed_by (when not ""), the sleep columns and bump gen
 * (env->gen is updated).  Call inside a transaction. */
int pv_store_env_save(struct pv_store *st, struct pv_env *env) PV_WARN_UNUSED;

/* Append to the history; detail_json may be NULL.  Kinds that are also
 * notifications (created, ready, extended, expiring, deleted, failed, drift, expiry_held, slept,
 * woke) are
 * queued in the outbox in the same transaction when the connection was
 * opened with the outbox on. */
int pv_store_event_add(struct pv_store *st, const struct pv_env *env, const char *kind,
	const char *actor, const char *from, int64_t at, const char *detail_json) PV_WARN_UNUSED;

/* Live (pending, active, deleting) environments of owner, and in total. */
int pv_store_count_live(struct pv_store *st, const char *owner, long long *of_owner, long long *total) PV_WARN_UNUSED;

/* ---- pull requests (store_pullreq.c; pullreq.h) ---- */

/* The lifecycle's columns of a pull_requests row. */
struct pv_pr_row {
	int64_t id;
	char env_name[64];
	char state[16];          /* "open" | "closed" */
	char head_sha[64];
	char head_branch[256];
	char author[64];
	int64_t reply_gen;
};

/* Record a delivery id; *fresh 1 if it was not recorded before. */
int pv_store_delivery_claim(struct pv_store *st, const char *forge, const char *delivery, int64_t now,
	int *fresh) PV_WARN_UNUSED;
int pv_store_delivery_forget(struct pv_store *st, const char *forge, const char *delivery) PV_WARN_UNUSED;
/* PV_ENOTFOUND when previewd never took that pull request. */
int pv_store_pr_get(struct pv_store *st, const char *forge, const char *repo, long long number,
	struct pv_pr_row *out) PV_WARN_UNUSED;
/* Insert or update the row (the reporter's columns are left alone). */
int pv_store_pr_put(struct pv_store *st, const char *forge, const char *repo, const char *project_id,
	long long number, const struct pv_pr_row *row, int64_t now) PV_WARN_UNUSED;
/* A new reply for the sticky comment: reply = reply, reply_gen + 1. */
int pv_store_pr_reply(struct pv_store *st, int64_t id, const char *reply, int64_t now) PV_WARN_UNUSED;

/* ---- tokens ---- */

struct pv_token {
	char name[64];
	char role[16];
	char hash[72];      /* hex SHA-256 */
	int64_t created_at, revoked_at;
};

int pv_store_token_add(struct pv_store *st, const char *name, const char *role, const char *lookup,
	const char *hash, int64_t now) PV_WARN_UNUSED;
/* the token whose public part is lookup (revoked ones too) */
int pv_store_token_find(struct pv_store *st, const char *lookup, struct pv_token *out) PV_WARN_UNUSED;
int pv_store_token_revoke(struct pv_store *st, const char *name, int64_t now) PV_WARN_UNUSED;
int pv_store_token_list(struct pv_store *st, int (*cb)(const struct pv_token *t, void *payload), void *payload) PV_WARN_UNUSED;
/* number of tokens ever created (revoked ones included): previewd is open
 * only before the first token */
int pv_store_token_count(struct pv_store *st, long long *out) PV_WARN_UNUSED;

/* ---- idempotency keys ---- */

struct pv_idem {
	char fingerprint[72];
	int64_t env_id;
	int wait_kind;
	int64_t wait_gen;
	int status;         /* a stored failure's status, 0 for success */
	char *body;         /* that failure's body, may be NULL */
};

int pv_store_idem_get(struct pv_store *st, const char *actor, const char *key, struct pv_idem *out) PV_WARN_UNUSED;
int pv_store_idem_put(struct pv_store *st, const char *actor, const char *key, const struct pv_idem *idem,
	int64_t now) PV_WARN_UNUSED;

/* What Argo CD reports for one Application (argocd.c fills it). */
struct pv_argocd_app {
	const char *sync;       /* status.sync.status: Synced, OutOfSync, Unknown */
	const char *health;     /* status.health.status: Healthy, Progressing, ... */
	const char *revision;   /* status.sync.revision: the commit it is synced to, "" if none */
	int64_t finished_at;    /* status.operationState.finishedAt, 0 when absent */
};

/* Record what Argo CD reports for the live environment `name`; *ready is
 * set (and the "ready" event recorded, once per environment) the first time
 * it is Synced and Healthy at a revision that carries the environment's
 * current state: its git_commit, or a commit previewd pushed after it
 * (pv_store_argocd_pushed); for a revision previewd did not push, or whose
 * order is not known, a sync that finished at or after the environment's
 * push.  An Application left over from an earlier environment of the same
 * name (an older revision) does not count.  PV_ENOTFOUND if no live
 * environment has that name. */
int pv_store_argocd_set(struct pv_store *st, const char *name, const struct pv_argocd_app *app, int64_t now,
	int *ready) PV_WARN_UNUSED;

/* Record that previewd pushed commit (hex) at `at`, after every commit
 * recorded before; keeps the latest PV_ARGOCD_PUSHES_KEPT. */
#define PV_ARGOCD_PUSHES_KEPT 5000
int pv_store_argocd_pushed(struct pv_store *st, const char *commit, int64_t at) PV_WARN_UNUSED;

struct pv_event {
	int64_t id, env_id, at;
	char name[64];
	char kind[32];
	char from[64];      /* remote address of the request, "" for previewd's own threads */
	char *actor;
	char *detail_json;  /* may be NULL */
};

typedef int (*pv_store_event_cb)(const struct pv_event *ev, void *payload);

/* The history of every environment that had this name, oldest first. */
int pv_store_events(struct pv_store *st, const char *name, pv_store_event_cb cb, void *payload) PV_WARN_UNUSED;

/* ---- reaper ---- */

/* Live environments (pending, active) whose expiry is at or before now. */
int pv_store_expired(struct pv_store *st, int64_t now, int limit, pv_store_env_cb cb, void *payload) PV_WARN_UNUSED;

/* Live environments for which the warning `lead` seconds before expiry is
 * due at now and not yet sent for this expiry.  Only expiries set at least
 * `lead` seconds ahead are warned about (a 30-minute TTL gets no 1-hour
 * warning). */
int pv_store_warnings_due(struct pv_store *st, int64_t now, long long lead, pv_store_env_cb cb,
	void *payload) PV_WARN_UNUSED;

int pv_store_warning_add(struct pv_store *st, int64_t env_id, long long lead, int64_t expires_at,
	int64_t now) PV_WARN_UNUSED;

/* The next time something is due for the reaper (an expiry or a warning),
 * or 0 if nothing is. */
int pv_store_next_due(struct pv_store *st, int64_t *out) PV_WARN_UNUSED;

/* Recompute every environment's next warning time from the connection's
 * lead times (at start: they may have changed since the last run). */
int pv_store_warn_refresh(struct pv_store *st) PV_WARN_UNUSED;

/* ---- the sleeper (store_sleep.c, schema/016_schedule.sql) ---- */

/* Every pending or active environment, by id. */
int pv_store_sleep_live(struct pv_store *st, pv_store_env_cb cb, void *payload) PV_WARN_UNUSED;

/* Activity seen in name's namespace at `at`: its idle clock restarts (no
 * Git change; a later activity already recorded stays). */
int pv_store_sleep_touch(struct pv_store *st, const char *name, int64_t at) PV_WARN_UNUSED;

/* A sleep or wake by hand that changed no state still holds the schedule
 * off (hold_until, 0: none) and counts as activity at active_at (0: none);
 * no Git change. */
int pv_store_sleep_hold(struct pv_store *st, int64_t id, int64_t hold_until, int64_t active_at) PV_WARN_UNUSED;

/* ---- the reaper's holds (store_reaper.c, schema/012_reaper_hold.sql) ---- */

typedef int (*pv_store_reap_cb)(const struct pv_env *env, int released, void *payload);

/* Live environments whose expiry is at or before now and not held, soonest
 * first, at most limit; released is 1 when an admin released a hold of
 * this very expiry (carry it out). */
int pv_store_reap_due(struct pv_store *st, int64_t now, int limit, pv_store_reap_cb cb, void *payload) PV_WARN_UNUSED;

/* Hold env_id's expiry expires_at (replacing an older hold of it).  Call
 * inside a transaction. */
int pv_store_reap_hold(struct pv_store *st, int64_t env_id, int64_t expires_at, int64_t now) PV_WARN_UNUSED;

/* Expiries held now: live environments whose current expiry is held. */
int pv_store_reap_held(struct pv_store *st, long long *out) PV_WARN_UNUSED;

/* Release every expiry held now, as actor; *released how many. */
int pv_store_reap_release(struct pv_store *st, const char *actor, int64_t now, long long *released) PV_WARN_UNUSED;

/* pv_store_next_due without the held expiries and the warnings whose
 * expiry has passed: the next time the reaper has something to do. */
int pv_store_reap_next(struct pv_store *st, int64_t now, int64_t *out) PV_WARN_UNUSED;

/* ---- retention (store_retention.c, schema/013_retention.sql, retention.h) ---- */

enum pv_prune_kind {
	PV_PRUNE_ENVS,      /* ended environments: deleted, or failed before reaching Git */
	PV_PRUNE_EVENTS,    /* their history */
	PV_PRUNE_OUTBOX,    /* notifications delivered or given up */
	PV_PRUNE_IDEM,      /* Idempotency-Keys */
	PV_PRUNE_WARNINGS,  /* expiry warnings sent about an expiry long past */
	PV_PRUNE_DELIVERIES, /* webhook delivery ids kept to act once (hook_deliveries) */
	PV_PRUNE_KINDS
};

/*
 * One batch, in one transaction of its own: at most limit environments
 * that ended before cutoff - deleted (their folder is gone from Git), or
 * failed without ever having been pushed (previewd never had a folder for
 * them) - with their events and the outbox rows, warnings and holds that
 * point at them.  An environment with a notification still to deliver
 * stays until it is delivered or given up.  A failed environment that had
 * been pushed stays: its folder, with previewd's marker, may still be in
 * Git.  Counts are added to pruned[]; *more is set when the batch was full.
 */
int pv_store_prune_envs(struct pv_store *st, int64_t cutoff, int limit, long long pruned[PV_PRUNE_KINDS],
	int *more) PV_WARN_UNUSED;

/* One batch, in a transaction of its own, of at most limit rows of kind
 * (PV_PRUNE_OUTBOX: done before cutoff; PV_PRUNE_IDEM: made before;
 * PV_PRUNE_WARNINGS: about an expiry before; PV_PRUNE_DELIVERIES: received
 * before); *n how many. */
int pv_store_prune_rows(struct pv_store *st, enum pv_prune_kind kind, int64_t cutoff, int limit,
	long long *n) PV_WARN_UNUSED;

/* Give at most `pages` of the database's free pages back to the file
 * system (an incremental vacuum, one short write transaction, none when
 * no page is free, then a passive checkpoint once none is left, so that
 * the file shrinks); *freed how many went, *left how many remain. */
int pv_store_reclaim(struct pv_store *st, int pages, long long *freed, long long *left) PV_WARN_UNUSED;

/* Make the free pages of the database reclaimable (auto_vacuum =
 * INCREMENTAL).  A database made with it off is rebuilt once (VACUUM:
 * it holds the write lock throughout, so call it before other threads
 * use the database); *converted is 1 then. */
int pv_store_vacuum_mode(struct pv_store *st, int *converted) PV_WARN_UNUSED;

/* ---- outbox ---- */

struct pv_outbox {
	int64_t id, created_at;
	int attempts;
	char kind[32];
	char *payload;
};

typedef int (*pv_store_outbox_cb)(const struct pv_outbox *ob, void *payload);

int pv_store_outbox_due(struct pv_store *st, int64_t now, int limit, pv_store_outbox_cb cb, void *payload) PV_WARN_UNUSED;
int pv_store_outbox_delivered(struct pv_store *st, int64_t id, int64_t now) PV_WARN_UNUSED;
int pv_store_outbox_retry(struct pv_store *st, int64_t id, int64_t next_at, const char *error) PV_WARN_UNUSED;
/* give row id up: the receiver refused it for good (a dead letter, never due again) */
int pv_store_outbox_dead(struct pv_store *st, int64_t id, int64_t now, const char *error) PV_WARN_UNUSED;
/* earliest next_attempt_at of an undelivered, live row, 0 if none */
int pv_store_outbox_next(struct pv_store *st, int64_t *out) PV_WARN_UNUSED;

enum pv_store_sort {
	PV_SORT_NEWEST = 0,   /* -created_at (by id) */
	PV_SORT_OLDEST,       /* created_at */
	PV_SORT_NAME,         /* name, then id */
	PV_SORT_NAME_DESC,
	PV_SORT_EXPIRY,       /* expires_at (soonest first; "never" last), then id */
	PV_SORT_EXPIRY_DESC,
	PV_SORT_COUNT
};

struct pv_store_filter {
	const char *owner;   /* NULL: any */
	const char *status;  /* NULL: any */
	enum pv_store_sort sort;
	/* keyset cursor: rows strictly after (after_text or after_int, after_id)
	 * in the sort order; have_cursor 0 starts from the first row */
	int have_cursor;
	const char *after_text;  /* PV_SORT_NAME* */
	int64_t after_int;       /* PV_SORT_EXPIRY* (0 for never) */
	int64_t after_id;
	int limit;
};

/* Rows matching the filter in its order; the callback's non-zero return
 * stops the walk and is returned. */
int pv_store_env_list(struct pv_store *st, const struct pv_store_filter *filter,
	pv_store_env_cb cb, void *payload) PV_WARN_UNUSED;

/* Rows whose desired state is not yet in Git (gen > pushed_gen), oldest
 * first, at most limit. */
int pv_store_dirty(struct pv_store *st, int limit, pv_store_env_cb cb, void *payload) PV_WARN_UNUSED;

/* After a push: the writer pushed generation gen of row id in commit.
 * pending -> active; deleting -> deleted once the pushed generation is the
 * latest.  Call inside a transaction. */
int pv_store_mark_pushed(struct pv_store *st, int64_t id, int64_t gen, const char *commit, int64_t now) PV_WARN_UNUSED;

/* Git refused row id for good (e.g. a foreign folder took its name). */
int pv_store_mark_failed(struct pv_store *st, int64_t id, int64_t gen, const char *why, int64_t now) PV_WARN_UNUSED;

/* Record (or clear, with NULL) the transient push error on every dirty row,
 * in one transaction with a history row "git_error" ({"error"}) for each of
 * at most limit rows it is news to: a retry that fails with the same words
 * records none, a different error one more. */
int pv_store_set_dirty_error(struct pv_store *st, const char *error, int64_t now, int limit) PV_WARN_UNUSED;

/* The instance id: 32 lowercase hex digits naming this database, written
 * into every previewd.json (planner.h) to prove a folder is ours. */
#define PV_INSTANCE_LEN 33

/* This database's instance id into out, made (random) on first use. */
int pv_store_instance(struct pv_store *st, char out[PV_INSTANCE_LEN]) PV_WARN_UNUSED;

/* The recorded instance id, or PV_ENOTFOUND when none was made yet. */
int pv_store_instance_peek(struct pv_store *st, char out[PV_INSTANCE_LEN]) PV_WARN_UNUSED;

/* Record id (32 lowercase hex digits) as this database's: `recover` into a
 * new database.  PV_ECONFLICT when it has one already. */
int pv_store_instance_set(struct pv_store *st, const char *id) PV_WARN_UNUSED;

/* ---- drift (the Git writer's comparison of the tip with the records) ---- */

/* What previewd last pushed for an active environment: the blob ids (hex,
 * "" when not recorded yet) of its values.yaml and previewd.json. */
struct pv_env_pushed {
	int64_t id, gen, pushed_gen;
	char name[64];
	char values_oid[48], meta_oid[48];
	char git_commit[48];
};

typedef int (*pv_store_pushed_cb)(const struct pv_env_pushed *row, void *payload);

/* Every active environment previewd pushed at least once, by id. */
int pv_store_drift_rows(struct pv_store *st, pv_store_pushed_cb cb, void *payload) PV_WARN_UNUSED;

/* Record the blob ids previewd pushed for row id (after a push, or the
 * first comparison's baseline).  Call inside a transaction. */
int pv_store_set_blobs(struct pv_store *st, int64_t id, const char *values_oid, const char *meta_oid) PV_WARN_UNUSED;

/* Drift with PREVIEWD_ON_DRIFT=restore: make row id dirty so that the next
 * round writes its state back.  *changed is 0 when it was dirty already. */
int pv_store_drift_restore(struct pv_store *st, int64_t id, int *changed) PV_WARN_UNUSED;

/* Drift with PREVIEWD_ON_DRIFT=accept, for a row that is not dirty (*changed
 * 0 otherwise): its folder is gone, the record becomes deleted at commit;
 * or its values.yaml was edited, values_json (blob values_oid) is adopted
 * at commit. */
int pv_store_drift_deleted(struct pv_store *st, int64_t id, const char *commit, int64_t now, int *changed) PV_WARN_UNUSED;
int pv_store_drift_adopt(struct pv_store *st, int64_t id, const char *values_json, const char *commit,
	const char *values_oid, int64_t now, int *changed) PV_WARN_UNUSED;

/* git_commit of row id (after a history rewrite, the tip that holds it). */
int pv_store_set_commit(struct pv_store *st, int64_t id, const char *commit) PV_WARN_UNUSED;

/* A cheap query proving the database answers (readiness). */
int pv_store_ping(struct pv_store *st) PV_WARN_UNUSED;

/* Number of rows per status (metrics); the callback gets each status. */
int pv_store_count_by_status(struct pv_store *st, void (*cb)(const char *status, long long n, void *payload),
	void *payload) PV_WARN_UNUSED;

/* ---- the changes stream (store_stream.c) ---- */

/* Called after every commit that recorded history (any connection, any
 * thread, the process's one hook; set it before the threads start).  The
 * stream (stream.h) reads the new rows itself: the hook only wakes it. */
void pv_store_set_events_hook(void (*hook)(void *payload), void *payload);

/* One history row with the environment as it is now; pushed_before is 1
 * when previewd had pushed the environment before this row. */
typedef int (*pv_store_change_cb)(const struct pv_event *ev, const struct pv_env *env, int pushed_before,
	void *payload);

/* History rows with an id above after, oldest first, at most limit. */
int pv_store_changes(struct pv_store *st, int64_t after, int limit, pv_store_change_cb cb, void *payload) PV_WARN_UNUSED;

/* The id of the latest history row (0 when none). */
int pv_store_changes_last(struct pv_store *st, int64_t *out) PV_WARN_UNUSED;

#endif
