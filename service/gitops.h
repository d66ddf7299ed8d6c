/*
 * gitops.h - the Git writer: the one thread that owns the libgit2
 * repository, turns the desired state recorded in SQLite into commits on the
 * GitOps branch, and pushes them.
 *
 * DESIGN
 *
 * The writer keeps a bare clone (gitrepo.h) and the tip of the remote branch
 * it last saw.  Each round reads as four steps:
 *
 *	plan    every dirty row (gen > pushed_gen) against the env folder at
 *	        the tip: tree updates, commit message, previewd.json (planner.h,
 *	        pure);
 *	commit  the updates on the tip with git_tree_create_updated, one commit
 *	        (gitrepo.h);
 *	push    it without force (pusher.h: libgit2's push);
 *	record  the round in SQLite, then tell the HTTP side (landed, pushed).
 *
 * Requests that arrive while a push is in flight are in the database by the
 * time the round ends, so they go out together in the next commit: the
 * number of commits tracks the number of pushes the server can take, not the
 * number of requests.
 *
 * A push the server rejects (non-fast-forward, a racing writer, a lock) is
 * retried at once on a fresh fetch, a few times, then with the backoff.
 * Transport and credential failures are retried with capped exponential
 * backoff and jitter (pv_worker_sleep: new requests do not shorten it, so an
 * outage does not turn every request into a connection attempt).  Because
 * the database is the queue, a restart resumes exactly where the previous
 * process stopped.  New objects stay in memory and reach the clone as one
 * pack every few rounds, when idle, before a repack and at shutdown.
 *
 * Only folders whose previewd.json is the record's own marker are ever
 * changed or removed (planner.h): any other folder belongs to people and
 * makes the request fail.
 *
 * The writer also fetches every PREVIEWD_GIT_POLL when idle (a fetch with
 * nothing new transfers nothing and publishes no new snapshot), and after
 * each fetch that moved the tip compares the folders of the active
 * environments with what it pushed (drift.h): a folder deleted or edited
 * outside previewd, or lost to a history rewrite, is restored by the same
 * round or taken into the record (PREVIEWD_ON_DRIFT), with an event, a
 * notification and previewd_drift_total.
 *
 * The writer is a pv_worker (worker.h).  Other threads never touch the
 * repository: they read the snapshot of the env folder (snapshot.h) the
 * writer publishes after each fetch and push, and its status under a mutex.
 * Errors inside the writer are pv_error codes with the message in the
 * thread's slot; a round's failure becomes last_error in the status and the
 * git_error of the rows it held.  A push that failed (a hook that declines,
 * a deadline) keeps last_error through the fetches that work until a push
 * lands or nothing waits; a fetch or push in flight for half of
 * PREVIEWD_GIT_TIMEOUT (at most a minute) shows in the status as not
 * reachable, with how long; before the branch was ever seen, a question
 * about a folder answers PV_EUNAVAIL with last_error as the reason (a wrong
 * password reaches the 503 of a create).  After the first fetch the writer
 * warns of a PREVIEWD_ENV_DIR or PREVIEWD_BASE_ENV the branch lacks.
 */
#ifndef PV_GITOPS_H
#define PV_GITOPS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "error.h"
#include "strbuf.h"

struct pv_gitops;

/* One row the writer finished with: its generation gen is now in Git (or
 * the row failed for good). */
struct pv_gitops_landed {
	int64_t id;
	int64_t gen;
};

/* Called on the writer thread after a round's results are committed to
 * SQLite.  Must not block. */
typedef void (*pv_gitops_landed_cb)(const struct pv_gitops_landed *items, size_t n, void *payload);

/* What the writer tells the rest of the daemon, on the writer thread; both
 * may be NULL and must not block. */
struct pv_gitops_hooks {
	pv_gitops_landed_cb landed;
	/* a push landed: commit ids (before "" for a root commit) and the paths
	 * it changed, {"added":[...], "modified":[...], "removed":[...]} */
	void (*pushed)(const char *before, const char *after, const json_t *changes, void *ctx);
	void *ctx;
};

/* Prepare the repositories and start the writer thread.  When the remote is
 * the embedded default it is created and seeded first.  The writer tolerates
 * an unreachable remote (it keeps retrying); start fails only for local
 * problems.  cfg must outlive the writer; hooks are copied. */
int pv_gitops_start(struct pv_gitops **out, const struct pv_config *cfg, const char *db_path,
	const struct pv_gitops_hooks *hooks) PV_WARN_UNUSED;

/* Stop the writer (finishing the push in flight) and free everything. */
void pv_gitops_free(struct pv_gitops *g);

/* New desired state is in SQLite: wake the writer.  Any thread. */
void pv_gitops_kick(struct pv_gitops *g);

/* Something changed on the remote (a push webhook, hooks.h): fetch at the
 * writer's next turn instead of at PREVIEWD_GIT_POLL.  Requests that arrive
 * before that fetch coalesce into it; a writer backing off from a failure
 * fetches when its pause ends.  Any thread. */
void pv_gitops_fetch_soon(struct pv_gitops *g);

/*
 * What Git holds at the last known tip for env folder `name`: *exists and
 * *managed (previewd.json present).  If values_yaml is not NULL and the
 * folder is one people manage, *values_yaml receives a malloc'd copy of its
 * values.yaml (NULL when it has none).  PV_EUNAVAIL when the writer has never
 * seen the remote branch.  Any thread.
 */
int pv_gitops_folder(struct pv_gitops *g, const char *name, int *exists, int *managed,
	char **values_yaml, size_t *values_len) PV_WARN_UNUSED;

/* The previewd.yaml of people's env folder `name` at the last known tip
 * (a base's sleep overlay, env.h): *found and a malloc'd copy in *yaml.
 * Any thread. */
int pv_gitops_settings(struct pv_gitops *g, const char *name, int *found, char **yaml, size_t *yaml_len)
	PV_WARN_UNUSED;

/* The upper bounds of the push duration histogram's buckets, in seconds. */
#define PV_GITOPS_PUSH_BOUNDS 8
extern const double pv_gitops_push_bounds[PV_GITOPS_PUSH_BOUNDS];

struct pv_gitops_status {
	int reachable;         /* last fetch or push succeeded */
	int have_tip;          /* a tip of the branch is known */
	char tip[48];
	char last_error[256];  /* "" when reachable */
	int64_t last_push_at;  /* unix seconds, 0 = never */
	uint64_t pushes, push_failures, rejections, commits;
	uint64_t drifts;       /* folders found changed outside previewd (drift.h) */
	/* push durations (accepted or not): buckets by pv_gitops_push_bounds,
	 * the last for longer pushes */
	uint64_t push_buckets[PV_GITOPS_PUSH_BOUNDS + 1];
	double push_seconds_sum;
	uint64_t push_count;
};

void pv_gitops_status(struct pv_gitops *g, struct pv_gitops_status *out);

/* Append the writer's counters in Prometheus text format (any thread). */
int pv_gitops_metrics(struct pv_gitops *g, struct pv_strbuf *out) PV_WARN_UNUSED;

/* Append to the JSON array out the names of the env folders people manage
 * that have a values.yaml (usable as bases).  Any thread. */
int pv_gitops_bases(struct pv_gitops *g, json_t *out) PV_WARN_UNUSED;

#endif
