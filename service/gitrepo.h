/*
 * gitrepo.h - the Git writer's local clone: opening it, the objects a round
 * writes, getting them to disk, and keeping the clone small.
 *
 * DESIGN
 *
 * The clone is bare (DATA_DIR/clone.git) with one remote, origin, whose
 * tracking ref is the tip of the remote branch the writer last saw.  Opening
 * it removes the lock files a killed previewd left behind (main.c holds the
 * data dir's lock, so no other process can be writing them), creates the
 * clone and its remote if need be, and reads the last tip; a tip the clone
 * cannot read (the process ended before its last objects reached the disk)
 * is forgotten, and the first fetch brings it back.
 *
 * New objects go to an in-memory backend, not to loose files: a round of 64
 * creates wrote some 190 files, and creating files was 80% of the writer's
 * time (ext4's inode allocation, slowed further by the repacks' deletions).
 * pv_gitrepo_flush writes the objects of the pushed commits as one pack
 * every few rounds, before a repack and at shutdown, then empties the
 * backend (what else it holds belongs to rounds that were rejected or
 * failed) and reopens the clone, so that libgit2's per-pack caches go with
 * it.  What a crash loses is on the server or in rows still dirty.
 * libgit2 never repacks: pv_gitrepo_repack packs everything reachable from
 * the tip into one pack and drops the rest.
 *
 * Only the Git writer thread touches a pv_gitrepo, and `previewd recover`
 * on the main thread with no writer running.  Every function returns 0 or a
 * pv_error code with the message set; a libgit2 failure is turned into one
 * here, with libgit2's text.
 */
#ifndef PV_GITREPO_H
#define PV_GITREPO_H

#include <git2.h>
#include <stddef.h>

#include "config.h"
#include "error.h"
#include "planner.h"

/* Object ids, e.g. what a commit adds. */
struct pv_oidlist {
	git_oid *v;
	size_t n, cap;
};

struct pv_gitrepo {
	const struct pv_config *cfg;
	char *path;              /* DATA_DIR/clone.git */
	git_repository *repo;    /* NULL after a failed reopen: pv_gitrepo_ensure_open */
	git_remote *remote;      /* origin */
	git_oid tip;             /* the remote branch as last seen; zero: no branch yet */
	int tip_known;           /* tip reflects a fetch, a push or the tracking ref */

	/* the objects of pushed commits that are only in memory */
	git_odb_backend *mempack; /* owned by repo's odb */
	size_t mem_bytes;         /* about how much it holds */
	unsigned int mem_rounds;  /* commits since the last flush */
	struct pv_oidlist unflushed;
	int unflushed_incomplete; /* a list failed: keep the backend until a repack */
	unsigned int packs_since_repack;
	long long commits_since_repack;
};

/* libgit2's last error as a pv_error: "what: message", the userinfo of any
 * URL in it redacted (url.h).  Returns PV_ERROR. */
int pv_git_fail(const char *what);

/* The URL the clone's remote gets for the configured url: over http(s)
 * without its userinfo (the credential callback sends that, to this server
 * only). */
void pv_gitrepo_remote_url(char *out, size_t len, const char *url);

/* Create the embedded default remote, DATA_DIR/gitops.git, seeded with the
 * example chart, unless it exists. */
int pv_gitrepo_seed_default(const struct pv_config *cfg) PV_WARN_UNUSED;

/* Open (or create) the clone in cfg->data_dir.  cfg must outlive it. */
int pv_gitrepo_open(struct pv_gitrepo **out, const struct pv_config *cfg) PV_WARN_UNUSED;

/* Close and free; NULL is fine.  Objects still only in memory are lost
 * (call pv_gitrepo_flush first). */
void pv_gitrepo_free(struct pv_gitrepo *r);

/* Reopen the clone if a flush or a repack could not. */
int pv_gitrepo_ensure_open(struct pv_gitrepo *r) PV_WARN_UNUSED;

/* After a fetch: the tip is what the tracking ref says (zero when the
 * remote has no branch yet). */
int pv_gitrepo_read_tracking(struct pv_gitrepo *r) PV_WARN_UNUSED;

/* The tip's commit, its tree and the env folder's tree (each NULL when there
 * is none; the caller frees them). */
int pv_gitrepo_tip_trees(struct pv_gitrepo *r, git_commit **commit, git_tree **root, git_tree **env)
	PV_WARN_UNUSED;

/* values of blob `name` in tree (malloc'd, NUL-terminated), or NULL when
 * the tree has no such blob. */
int pv_git_read_blob(git_repository *repo, const git_tree *tree, const char *name, char **out, size_t *out_len)
	PV_WARN_UNUSED;

/*
 * The commit of plan on the tip (tip_commit and tip_tree NULL: a root
 * commit; env_tree the tip's env folder, NULL when there is none) into
 * *out, and the objects it adds into *objects.  When the tree comes out the
 * same as the tip's, *unchanged is 1 and no commit is made.
 */
int pv_gitrepo_commit(struct pv_gitrepo *r, git_commit *tip_commit, git_tree *tip_tree, const git_tree *env_tree,
	const struct pv_plan *plan, git_oid *out, struct pv_oidlist *objects, int *unchanged) PV_WARN_UNUSED;

/* The server took commit: it is the tip, its objects are to be written to
 * disk by the next flush, and the tracking ref follows. */
void pv_gitrepo_pushed(struct pv_gitrepo *r, const git_oid *commit, const struct pv_oidlist *objects);

/* Write the pushed commits' objects as one pack and empty the in-memory
 * backend. */
int pv_gitrepo_flush(struct pv_gitrepo *r) PV_WARN_UNUSED;

/* Whether a repack is due (commits since the last, or packs written). */
int pv_gitrepo_repack_due(const struct pv_gitrepo *r);

/* Pack everything the tip needs into one pack, drop the rest. */
int pv_gitrepo_repack(struct pv_gitrepo *r) PV_WARN_UNUSED;

void pv_oidlist_dispose(struct pv_oidlist *l);

#endif
