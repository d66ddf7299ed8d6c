/*
 * gitops.h - the Git writer: the one thread that owns the libgit2
 * repository, turns the desired state recorded in SQLite into commits on the
 * GitOps branch, and pushes them.
 *
 * DESIGN
 *
 * The writer keeps a bare clone in DATA_DIR/clone.git (no working tree) and
 * the tip of the remote branch it last saw.  Each round it reads every dirty
 * row (gen > pushed_gen) from SQLite, builds one tree update on that tip with
 * git_tree_create_updated (values.yaml and previewd.json written, or the
 * folder removed), makes one commit and pushes it without force.  Requests
 * that arrive while a push is in flight are in the database by the time the
 * round ends, so they go out together in the next commit: the number of
 * commits tracks the number of pushes the server can take, not the number of
 * requests.
 *
 * Over http(s) the push is one POST to git-receive-pack with the credentials
 * up front and a pack the writer builds itself: only the objects the commit
 * adds, the env folder's tree as a delta against its previous version
 * (pack.h, smartpush.h).  libgit2's own push, used for ssh:// and file://
 * and as the fallback, reads every folder tree of the old commit instead.
 *
 * New objects are written to an in-memory backend, not as loose files (a
 * round of 64 creates made some 190 of them), and reach the clone as one
 * pack every few rounds, before a repack and at shutdown; the clone is
 * reopened after each pack so that libgit2's per-pack caches go with it.
 * What a crash loses is on the server or in rows still dirty: a tip the
 * clone cannot read at start is fetched again.
 *
 * A push the server rejects (non-fast-forward, a racing writer, a lock) is
 * detected from the per-reference status, not just the return code; the
 * writer then fetches, rebuilds the same desired state on the new tip and
 * pushes again.  Transport and credential failures are retried with capped
 * exponential backoff and jitter.  Because the database is the queue, a
 * restart resumes exactly where the previous process stopped.
 *
 * Only folders carrying previewd.json are ever changed or removed: a folder
 * that exists without it belongs to people and makes the request fail.
 *
 * Other threads never touch the repository.  They read a snapshot of the env
 * folder (which folders exist, which previewd manages, and the values.yaml
 * of the ones people manage, for use as a base) that the writer publishes
 * under a read-write lock after each fetch and push.
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

/*
 * What Git holds at the last known tip for env folder `name`: *exists and
 * *managed (previewd.json present).  If values_yaml is not NULL and the
 * folder is one people manage, *values_yaml receives a malloc'd copy of its
 * values.yaml (NULL when it has none).  PV_EUNAVAIL when the writer has never
 * seen the remote branch.  Any thread.
 */
int pv_gitops_folder(struct pv_gitops *g, const char *name, int *exists, int *managed,
	char **values_yaml, size_t *values_len) PV_WARN_UNUSED;

struct pv_gitops_status {
	int reachable;         /* last fetch or push succeeded */
	int have_tip;          /* a tip of the branch is known */
	char tip[48];
	char last_error[256];  /* "" when reachable */
	int64_t last_push_at;  /* unix seconds, 0 = never */
	uint64_t pushes, push_failures, rejections, commits;
	/* push durations (accepted or not): buckets by PV_GITOPS_PUSH_BOUNDS */
	uint64_t push_buckets[9];
	double push_seconds_sum;
	uint64_t push_count;
};

void pv_gitops_status(struct pv_gitops *g, struct pv_gitops_status *out);

/* Append the writer's counters in Prometheus text format (any thread). */
int pv_gitops_metrics(struct pv_gitops *g, struct pv_strbuf *out) PV_WARN_UNUSED;

/* Append to the JSON array out the names of the env folders people manage
 * that have a values.yaml (usable as bases).  Any thread. */
int pv_gitops_bases(struct pv_gitops *g, json_t *out) PV_WARN_UNUSED;

/*
 * `previewd recover`: rebuild the database's record of live environments
 * from the previewd.json (and values.yaml) of every folder previewd manages
 * at the tip of the remote branch (fetched first; the local clone's last
 * tip if the remote is unreachable).  A name that already has a live row
 * is left alone.  Runs on the calling thread, without the writer.
 */
int pv_gitops_recover(const struct pv_config *cfg, const char *db_path, int *restored, int *skipped) PV_WARN_UNUSED;

/* The ApplicationSet that matches this configuration, as YAML, to out. */
int pv_gitops_applicationset(const struct pv_config *cfg, struct pv_strbuf *out) PV_WARN_UNUSED;

/* The path of the env folder for name, "ENV_DIR/name", into buf. */
void pv_gitops_env_path(const struct pv_config *cfg, const char *name, char *buf, size_t len);

#endif
