/*
 * gitops.c - the Git writer thread (see the DESIGN comment in gitops.h).
 *
 * Layout of this file: the folder snapshot other threads read; repository
 * set-up (default remote, local clone); transport callbacks; one round of
 * work (collect, build, commit, push, record); the thread loop.
 */
#include "gitops.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <git2.h>
#include <git2/sys/mempack.h>
#include <git2/sys/odb_backend.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "embed.h"
#include "log.h"
#include "pack.h"
#include "smartpush.h"
#include "strbuf.h"
#include "store.h"
#include "valid.h"
#include "values.h"

#define ROUND_LIMIT 500           /* rows per commit (bounds a round's memory); the rest go in the next round */
#define REJECT_FAST_RETRIES 5     /* rebuild-and-push at once this many times before backing off */
#define MEMPACK_MAX_BYTES (2 << 20) /* new objects held in memory before they are written as a pack */
#define MEMPACK_MAX_ROUNDS 32     /* ... or after this many rounds */
#define MEMPACK_IDLE_MS 2000      /* ... or once the writer has been idle this long */
#define REPACK_PACKS 32           /* packs written since the last repack that trigger one */
#define ROUND_LINGER_MS 4         /* pause between back-to-back rounds, to batch more */
#define PUSH_TIMEOUT_S 60         /* as the socket stream's timeout (main.c) */
#define MANAGED_FILE "previewd.json"
#define VALUES_FILE "values.yaml"

/* ---- the folder snapshot ------------------------------------------------ */

struct folder {
	char *name;
	int managed;
	char *values;       /* people's values.yaml (unmanaged folders only), may be NULL */
	size_t values_len;
};

struct snapshot {
	struct folder *v;   /* sorted by name */
	size_t n, cap;
};

static void folder_dispose(struct folder *f)
{
	free(f->name);
	free(f->values);
}

static void snapshot_clear(struct snapshot *s)
{
	for (size_t i = 0; i < s->n; i++)
		folder_dispose(&s->v[i]);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

/* index of name, or -(insertion point) - 1 */
static long snapshot_find(const struct snapshot *s, const char *name)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(s->v[mid].name, name);
		if (c == 0)
			return (long)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -(long)lo - 1;
}

/* Insert or replace; takes ownership of f's strings. */
static int snapshot_put(struct snapshot *s, struct folder *f)
{
	long at = snapshot_find(s, f->name);

	if (at >= 0) {
		folder_dispose(&s->v[at]);
		s->v[at] = *f;
		return 0;
	}
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		struct folder *v = realloc(s->v, cap * sizeof(*v));
		if (!v) {
			folder_dispose(f);
			return pv_error_set(PV_ERROR, NULL, "out of memory");
		}
		s->v = v;
		s->cap = cap;
	}
	at = -at - 1;
	memmove(&s->v[at + 1], &s->v[at], (s->n - (size_t)at) * sizeof(*s->v));
	s->v[at] = *f;
	s->n++;
	return 0;
}

static void snapshot_remove(struct snapshot *s, const char *name)
{
	long at = snapshot_find(s, name);

	if (at < 0)
		return;
	folder_dispose(&s->v[at]);
	memmove(&s->v[at], &s->v[at + 1], (s->n - (size_t)at - 1) * sizeof(*s->v));
	s->n--;
}

/* ---- state -------------------------------------------------------------- */

struct pv_gitops {
	const struct pv_config *cfg;
	char *db_path;
	char *clone_path;
	struct pv_gitops_hooks hooks;

	/* writer-thread only */
	git_repository *repo;
	git_remote *remote;
	struct pv_smartpush *smart; /* http(s) pushes in one request; NULL: libgit2's push */
	struct pv_store *store;
	git_oid tip;            /* remote branch head as last seen; zero when the branch does not exist */
	int tip_known;          /* tip reflects a fetch or a push (or the local tracking ref) */
	int need_fetch;
	unsigned int failures;  /* consecutive failed rounds, for the backoff */
	unsigned int rejections;/* consecutive rejected pushes */
	unsigned int rand_state;
	long long commits_since_repack;
	unsigned int packs_since_repack;
	git_odb_backend *mempack;     /* where new objects go; owned by repo's odb */
	size_t mem_bytes;             /* about how much it holds */
	unsigned int mem_rounds;
	git_oid *unflushed;           /* the pushed commits' new objects, still only in mempack */
	size_t n_unflushed, cap_unflushed;
	int unflushed_incomplete;     /* a list failed (out of memory): keep mempack until a repack */

	pthread_t thread;
	int thread_started;

	/* shared with other threads */
	pthread_mutex_t lock;
	pthread_cond_t wake;
	int kicked, stopping;
	struct pv_gitops_status status;

	pthread_rwlock_t snap_lock;
	struct snapshot snap;
	int snap_valid;
};

static int64_t now_seconds(void)
{
	return (int64_t)time(NULL);
}

static const char *git_msg(void)
{
	const git_error *e = git_error_last();

	return e && e->message ? e->message : "unknown libgit2 error";
}

static int git_fail(const char *what)
{
	return pv_error_set(PV_ERROR, NULL, "%s: %s", what, git_msg());
}

void pv_gitops_env_path(const struct pv_config *cfg, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", cfg->env_dir, name);
}

/* ---- snapshot build (writer thread) ------------------------------------- */

static int read_blob(git_repository *repo, const git_tree *tree, const char *name, char **out, size_t *out_len)
{
	const git_tree_entry *e = git_tree_entry_byname(tree, name);
	git_blob *blob = NULL;
	size_t n;

	*out = NULL;
	*out_len = 0;
	if (!e || git_tree_entry_type(e) != GIT_OBJECT_BLOB)
		return 0;
	if (git_blob_lookup(&blob, repo, git_tree_entry_id(e)) < 0)
		return git_fail("reading a blob");
	n = (size_t)git_blob_rawsize(blob);
	if (!(*out = malloc(n + 1))) {
		git_blob_free(blob);
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	}
	memcpy(*out, git_blob_rawcontent(blob), n);
	(*out)[n] = '\0';
	*out_len = n;
	git_blob_free(blob);
	return 0;
}

/* Describe the env folder of `root` (NULL: the branch does not exist). */
static int snapshot_build(struct pv_gitops *g, git_tree *root, struct snapshot *out)
{
	git_tree_entry *dir = NULL;
	git_tree *envs = NULL;
	int error = 0;

	memset(out, 0, sizeof(*out));
	if (!root)
		return 0;
	error = git_tree_entry_bypath(&dir, root, g->cfg->env_dir);
	if (error == GIT_ENOTFOUND)
		return 0;
	if (error < 0)
		return git_fail("looking up the env folder");
	if (git_tree_entry_type(dir) != GIT_OBJECT_TREE)
		goto cleanup;
	if (git_tree_lookup(&envs, g->repo, git_tree_entry_id(dir)) < 0) {
		error = git_fail("reading the env folder");
		goto cleanup;
	}
	for (size_t i = 0; i < git_tree_entrycount(envs); i++) {
		const git_tree_entry *e = git_tree_entry_byindex(envs, i);
		struct folder f = { 0 };
		git_tree *sub = NULL;

		if (!(f.name = strdup(git_tree_entry_name(e)))) {
			error = pv_error_set(PV_ERROR, NULL, "out of memory");
			goto cleanup;
		}
		if (git_tree_entry_type(e) == GIT_OBJECT_TREE) {
			if (git_tree_lookup(&sub, g->repo, git_tree_entry_id(e)) < 0) {
				folder_dispose(&f);
				error = git_fail("reading an env folder");
				goto cleanup;
			}
			f.managed = git_tree_entry_byname(sub, MANAGED_FILE) != NULL;
			/* people's values are kept: they are the bases new environments start from */
			if (!f.managed && (error = read_blob(g->repo, sub, VALUES_FILE, &f.values, &f.values_len)) < 0) {
				git_tree_free(sub);
				folder_dispose(&f);
				goto cleanup;
			}
			git_tree_free(sub);
		}
		if ((error = snapshot_put(out, &f)) < 0)
			goto cleanup;
	}
cleanup:
	git_tree_free(envs);
	git_tree_entry_free(dir);
	if (error < 0)
		snapshot_clear(out);
	return error;
}

static void snapshot_publish(struct pv_gitops *g, struct snapshot *fresh)
{
	struct snapshot old;

	pthread_rwlock_wrlock(&g->snap_lock);
	old = g->snap;
	g->snap = *fresh;
	g->snap_valid = 1;
	pthread_rwlock_unlock(&g->snap_lock);
	pthread_mutex_lock(&g->lock);
	g->status.have_tip = 1;
	pthread_mutex_unlock(&g->lock);
	snapshot_clear(&old);
	memset(fresh, 0, sizeof(*fresh));
}

static int rebuild_snapshot(struct pv_gitops *g)
{
	struct snapshot fresh;
	git_commit *c = NULL;
	git_tree *t = NULL;
	int error = 0;

	if (!git_oid_is_zero(&g->tip)) {
		if (git_commit_lookup(&c, g->repo, &g->tip) < 0 || git_commit_tree(&t, c) < 0) {
			error = git_fail("reading the branch tip");
			goto cleanup;
		}
	}
	if ((error = snapshot_build(g, t, &fresh)) < 0)
		goto cleanup;
	snapshot_publish(g, &fresh);
cleanup:
	git_tree_free(t);
	git_commit_free(c);
	return error;
}

int pv_gitops_folder(struct pv_gitops *g, const char *name, int *exists, int *managed,
	char **values_yaml, size_t *values_len)
{
	long at;
	int error = 0;

	*exists = *managed = 0;
	if (values_yaml)
		*values_yaml = NULL;
	if (values_len)
		*values_len = 0;
	pthread_rwlock_rdlock(&g->snap_lock);
	if (!g->snap_valid) {
		error = pv_error_set(PV_EUNAVAIL, NULL, "the GitOps repository has not been reached yet; retry shortly");
		goto out;
	}
	at = snapshot_find(&g->snap, name);
	if (at < 0)
		goto out;
	*exists = 1;
	*managed = g->snap.v[at].managed;
	if (values_yaml && g->snap.v[at].values) {
		if (!(*values_yaml = malloc(g->snap.v[at].values_len + 1))) {
			error = pv_error_set(PV_ERROR, NULL, "out of memory");
			goto out;
		}
		memcpy(*values_yaml, g->snap.v[at].values, g->snap.v[at].values_len + 1);
		if (values_len)
			*values_len = g->snap.v[at].values_len;
	}
out:
	pthread_rwlock_unlock(&g->snap_lock);
	return error;
}

int pv_gitops_bases(struct pv_gitops *g, json_t *out)
{
	int error = 0;

	pthread_rwlock_rdlock(&g->snap_lock);
	for (size_t i = 0; i < g->snap.n && error == 0; i++)
		if (!g->snap.v[i].managed && g->snap.v[i].values &&
		    json_array_append_new(out, json_string(g->snap.v[i].name)) < 0)
			error = pv_error_set(PV_ERROR, NULL, "out of memory");
	pthread_rwlock_unlock(&g->snap_lock);
	return error;
}

/* ---- status ------------------------------------------------------------- */

static void status_ok(struct pv_gitops *g, int pushed)
{
	pthread_mutex_lock(&g->lock);
	g->status.reachable = 1;
	g->status.last_error[0] = '\0';
	git_oid_tostr(g->status.tip, sizeof(g->status.tip), &g->tip);
	if (pushed) {
		g->status.pushes++;
		g->status.last_push_at = now_seconds();
	}
	pthread_mutex_unlock(&g->lock);
}

static const double push_bounds[8] = { 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5 };

static void observe_push(struct pv_gitops *g, double seconds)
{
	size_t b = 0;

	while (b < 8 && seconds > push_bounds[b])
		b++;
	pthread_mutex_lock(&g->lock);
	g->status.push_buckets[b]++;
	g->status.push_seconds_sum += seconds;
	g->status.push_count++;
	pthread_mutex_unlock(&g->lock);
}

static void status_fail(struct pv_gitops *g, const char *msg, int rejected)
{
	pthread_mutex_lock(&g->lock);
	g->status.reachable = rejected; /* a rejection proves the server answers */
	snprintf(g->status.last_error, sizeof(g->status.last_error), "%s", msg);
	if (rejected)
		g->status.rejections++;
	else
		g->status.push_failures++;
	pthread_mutex_unlock(&g->lock);
}

void pv_gitops_status(struct pv_gitops *g, struct pv_gitops_status *out)
{
	pthread_mutex_lock(&g->lock);
	*out = g->status;
	pthread_mutex_unlock(&g->lock);
}

int pv_gitops_metrics(struct pv_gitops *g, struct pv_strbuf *out)
{
	struct pv_gitops_status s;
	uint64_t cum = 0;
	int error;

	pv_gitops_status(g, &s);
	error = pv_strbuf_printf(out,
		"# HELP previewd_git_pushes_total Pushes the Git server accepted.\n"
		"# TYPE previewd_git_pushes_total counter\n"
		"previewd_git_pushes_total %llu\n"
		"# HELP previewd_git_push_failures_total Fetches or pushes that failed (transport, credentials).\n"
		"# TYPE previewd_git_push_failures_total counter\n"
		"previewd_git_push_failures_total %llu\n"
		"# HELP previewd_git_push_rejections_total Pushes the server rejected (then rebuilt on a fresh fetch).\n"
		"# TYPE previewd_git_push_rejections_total counter\n"
		"previewd_git_push_rejections_total %llu\n"
		"# HELP previewd_git_commits_total Commits previewd created.\n"
		"# TYPE previewd_git_commits_total counter\n"
		"previewd_git_commits_total %llu\n"
		"# HELP previewd_git_reachable 1 when the last fetch or push reached the Git server.\n"
		"# TYPE previewd_git_reachable gauge\n"
		"previewd_git_reachable %d\n"
		"# HELP previewd_git_last_push_timestamp_seconds Time of the last accepted push.\n"
		"# TYPE previewd_git_last_push_timestamp_seconds gauge\n"
		"previewd_git_last_push_timestamp_seconds %lld\n"
		"# HELP previewd_git_push_duration_seconds Time a push took, accepted or not.\n"
		"# TYPE previewd_git_push_duration_seconds histogram\n",
		(unsigned long long)s.pushes, (unsigned long long)s.push_failures, (unsigned long long)s.rejections,
		(unsigned long long)s.commits, s.reachable, (long long)s.last_push_at);
	for (size_t b = 0; b < 9 && error == 0; b++) {
		cum += s.push_buckets[b];
		if (b < 8)
			error = pv_strbuf_printf(out, "previewd_git_push_duration_seconds_bucket{le=\"%g\"} %llu\n",
				push_bounds[b], (unsigned long long)cum);
		else
			error = pv_strbuf_printf(out, "previewd_git_push_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
				"previewd_git_push_duration_seconds_sum %.6f\n"
				"previewd_git_push_duration_seconds_count %llu\n",
				(unsigned long long)cum, s.push_seconds_sum, (unsigned long long)s.push_count);
	}
	return error;
}

/* ---- repository set-up -------------------------------------------------- */

static int signature_now(git_signature **out, const struct pv_config *cfg)
{
	if (git_signature_now(out, cfg->git_author_name, cfg->git_author_email) < 0)
		return git_fail("making the commit signature");
	return 0;
}

static int empty_tree(git_tree **out, git_repository *repo)
{
	git_treebuilder *tb = NULL;
	git_oid oid;
	int error = 0;

	if (git_treebuilder_new(&tb, repo, NULL) < 0 || git_treebuilder_write(&oid, tb) < 0 ||
	    git_tree_lookup(out, repo, &oid) < 0)
		error = git_fail("writing the empty tree");
	git_treebuilder_free(tb);
	return error;
}

/*
 * Create the embedded default remote, DATA_DIR/gitops.git, seeded with the
 * example chart, unless it exists.  The chart goes next to the env folder:
 * with PREVIEWD_ENV_DIR=helm-env/env it lands in helm-env/.
 */
static int seed_default_remote(const struct pv_config *cfg)
{
	char path[4096], head[512], chart_root[1024];
	git_repository *repo = NULL;
	git_repository_init_options opts;
	git_tree_update *updates = NULL;
	git_tree *base = NULL, *tree = NULL;
	git_signature *sig = NULL;
	git_oid tree_oid, commit_oid;
	char **paths = NULL;
	const char *slash;
	struct stat st;
	int error = 0;

	snprintf(path, sizeof(path), "%s/gitops.git", cfg->data_dir);
	if (stat(path, &st) == 0)
		return 0;
	snprintf(head, sizeof(head), "refs/heads/%s", cfg->git_branch);
	git_repository_init_options_init(&opts, GIT_REPOSITORY_INIT_OPTIONS_VERSION);
	opts.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_MKPATH;
	opts.initial_head = cfg->git_branch;
	if (git_repository_init_ext(&repo, path, &opts) < 0)
		return git_fail("creating the default GitOps repository");
	slash = strrchr(cfg->env_dir, '/');
	snprintf(chart_root, sizeof(chart_root), "%.*s", slash ? (int)(slash - cfg->env_dir + 1) : 0, cfg->env_dir);

	updates = calloc(pv_embedded_seed_count, sizeof(*updates));
	paths = calloc(pv_embedded_seed_count, sizeof(*paths));
	if (!updates || !paths) {
		error = pv_error_set(PV_ERROR, NULL, "out of memory");
		goto cleanup;
	}
	for (size_t i = 0; i < pv_embedded_seed_count; i++) {
		const struct pv_embedded_file *f = &pv_embedded_seed[i];
		size_t n = strlen(chart_root) + strlen(cfg->env_dir) + strlen(f->path) + 8;

		if (!(paths[i] = malloc(n))) {
			error = pv_error_set(PV_ERROR, NULL, "out of memory");
			goto cleanup;
		}
		if (strncmp(f->path, "env/", 4) == 0)
			snprintf(paths[i], n, "%s/%s", cfg->env_dir, f->path + 4);
		else
			snprintf(paths[i], n, "%s%s", chart_root, f->path);
		if (git_blob_create_from_buffer(&updates[i].id, repo, f->data, f->len) < 0) {
			error = git_fail("writing a seed file");
			goto cleanup;
		}
		updates[i].action = GIT_TREE_UPDATE_UPSERT;
		updates[i].filemode = GIT_FILEMODE_BLOB;
		updates[i].path = paths[i];
	}
	if ((error = empty_tree(&base, repo)) < 0)
		goto cleanup;
	if (git_tree_create_updated(&tree_oid, repo, base, pv_embedded_seed_count, updates) < 0 ||
	    git_tree_lookup(&tree, repo, &tree_oid) < 0) {
		error = git_fail("building the seed tree");
		goto cleanup;
	}
	if ((error = signature_now(&sig, cfg)) < 0)
		goto cleanup;
	if (git_commit_create(&commit_oid, repo, head, sig, sig, "UTF-8",
		    "Example chart and environments\n\nSeeded by previewd as its embedded default GitOps repository.\n",
		    tree, 0, NULL) < 0) {
		error = git_fail("committing the seed");
		goto cleanup;
	}
	log_info("gitops: created the default GitOps repository %s, seeded with the example chart", path);
cleanup:
	for (size_t i = 0; paths && i < pv_embedded_seed_count; i++)
		free(paths[i]);
	free(paths);
	free(updates);
	git_signature_free(sig);
	git_tree_free(tree);
	git_tree_free(base);
	git_repository_free(repo);
	return error;
}

static int tracking_ref(char *buf, size_t len, const struct pv_config *cfg)
{
	return snprintf(buf, len, "refs/remotes/origin/%s", cfg->git_branch) >= (int)len ? -1 : 0;
}

/*
 * Remove lock files a killed previewd left in its clone (any *.lock under refs/,
 * packed-refs.lock, config.lock...).  Safe because main.c holds the data
 * dir's lock: no other process can be writing this clone.  Without this a
 * kill -9 during a fetch leaves refs/remotes/origin/main.lock behind and
 * every later fetch fails.
 */
static int remove_stale_locks(const char *dir, int depth)
{
	DIR *d;
	struct dirent *e;
	char path[4096];
	int removed = 0;

	if (depth > 8 || !(d = opendir(dir)))
		return 0;
	while ((e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);
		struct stat st;

		if (e->d_name[0] == '.' || strcmp(e->d_name, "objects") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (lstat(path, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode))
			removed += remove_stale_locks(path, depth + 1);
		else if (n > 5 && strcmp(e->d_name + n - 5, ".lock") == 0 && unlink(path) == 0) {
			log_warn("gitops: removed the stale lock %s (left by a previewd that did not exit)", path);
			removed++;
		}
	}
	closedir(d);
	return removed;
}

/*
 * New objects go to an in-memory backend, not to loose files: a round of 64
 * creates wrote some 190 files, and creating files was 80% of the writer's
 * time (ext4's inode allocation, slowed further by the repacks' deletions).
 * flush_mempack() writes what the backend holds as one pack every few
 * rounds, before a repack and at shutdown.  Objects lost with the process
 * are on the server already (or in rows that are still dirty): a tip that
 * cannot be read at start is fetched again.
 */
static int attach_mempack(struct pv_gitops *g)
{
	git_odb *odb = NULL;
	int error;

	g->mempack = NULL;
	if ((error = git_repository_odb(&odb, g->repo)) < 0 || (error = git_mempack_new(&g->mempack)) < 0)
		goto out;
	/* above the loose and pack backends: writes go to the first that can */
	if ((error = git_odb_add_backend(odb, g->mempack, 1000)) < 0) {
		g->mempack->free(g->mempack);
		g->mempack = NULL;
	}
out:
	git_odb_free(odb);
	return error < 0 ? git_fail("setting up the in-memory object store") : 0;
}

/*
 * Write the objects the pushed commits added (g->unflushed) as one pack,
 * then empty the in-memory backend: what else it holds belongs to rounds
 * that were rejected or failed, and is garbage.  libgit2's git_mempack_dump
 * is no use here: it packs every commit's whole tree, the entire repository
 * each time.
 */
/* close the repository: every pack, and the in-memory backend with its odb */
static void close_clone(struct pv_gitops *g)
{
	git_remote_free(g->remote);
	g->remote = NULL;
	git_repository_free(g->repo);
	g->repo = NULL;
	g->mempack = NULL;
}

/* open the local clone again after close_clone() */
static int reopen_clone(struct pv_gitops *g)
{
	if (git_repository_open_bare(&g->repo, g->clone_path) < 0 ||
	    git_remote_lookup(&g->remote, g->repo, "origin") < 0)
		return git_fail("reopening the local clone");
	return attach_mempack(g);
}

static int flush_mempack(struct pv_gitops *g)
{
	git_packbuilder *pb = NULL;
	int error = 0;

	if (!g->repo || !g->mempack || g->mem_rounds == 0)
		return 0;
	if (g->n_unflushed) {
		if (git_packbuilder_new(&pb, g->repo) < 0) {
			error = git_fail("writing new objects to the local clone");
			goto out;
		}
		for (size_t i = 0; i < g->n_unflushed; i++)
			if (git_packbuilder_insert(pb, &g->unflushed[i], NULL) < 0) {
				error = git_fail("writing new objects to the local clone");
				goto out;
			}
		if (git_packbuilder_write(pb, NULL, 0, NULL, NULL) < 0) {
			/* the objects stay in memory; the next flush tries again */
			error = git_fail("writing new objects to the local clone");
			goto out;
		}
		g->packs_since_repack++;
	}
	g->n_unflushed = 0;
	g->mem_bytes = 0;
	g->mem_rounds = 0;
	if (g->unflushed_incomplete)
		goto out;
	git_mempack_reset(g->mempack);
	if (pb) {
		/* Reopen the repository: libgit2 keeps a cache of delta bases
		 * per open pack (up to 16 MiB each, the env tree among them) and
		 * its pack windows until the packs are closed, so resident
		 * memory grew with the number of packs.  A failed reopen is
		 * retried by the next round. */
		git_packbuilder_free(pb);
		pb = NULL;
		close_clone(g);
		error = reopen_clone(g);
	}
out:
	git_packbuilder_free(pb);
	return error;
}

/* 1 when the commit id and its whole tree top can be read */
static int tip_readable(git_repository *repo, const git_oid *id)
{
	git_commit *c = NULL;
	git_tree *t = NULL;
	int ok = git_commit_lookup(&c, repo, id) == 0 && git_commit_tree(&t, c) == 0;

	git_tree_free(t);
	git_commit_free(c);
	return ok;
}

static int open_clone(struct pv_gitops *g)
{
	const struct pv_config *cfg = g->cfg;
	git_repository_init_options opts;
	char fetchspec[512], ref[300];
	git_reference *tr = NULL;
	int error;

	remove_stale_locks(g->clone_path, 0);
	if (git_repository_open_bare(&g->repo, g->clone_path) < 0) {
		git_repository_init_options_init(&opts, GIT_REPOSITORY_INIT_OPTIONS_VERSION);
		opts.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_MKPATH;
		opts.initial_head = cfg->git_branch;
		if (git_repository_init_ext(&g->repo, g->clone_path, &opts) < 0)
			return git_fail("creating the local clone");
	}
	snprintf(fetchspec, sizeof(fetchspec), "+refs/heads/%s:refs/remotes/origin/%s", cfg->git_branch, cfg->git_branch);
	error = git_remote_lookup(&g->remote, g->repo, "origin");
	if (error == GIT_ENOTFOUND) {
		if (git_remote_create_with_fetchspec(&g->remote, g->repo, "origin", cfg->git_url, fetchspec) < 0)
			return git_fail("configuring the remote");
	} else if (error < 0) {
		return git_fail("reading the remote");
	} else if (strcmp(git_remote_url(g->remote), cfg->git_url) != 0) {
		/* the configured URL wins; what we knew of the old remote is void */
		git_remote_free(g->remote);
		g->remote = NULL;
		if (git_remote_set_url(g->repo, "origin", cfg->git_url) < 0 ||
		    git_remote_lookup(&g->remote, g->repo, "origin") < 0)
			return git_fail("updating the remote URL");
		tracking_ref(ref, sizeof(ref), cfg);
		if (git_reference_lookup(&tr, g->repo, ref) == 0) {
			git_reference_delete(tr);
			git_reference_free(tr);
			tr = NULL;
		}
	}
	if ((error = attach_mempack(g)) < 0)
		return error;
	/* start from what the last run saw, so requests can be validated while
	 * the remote is still unreachable */
	tracking_ref(ref, sizeof(ref), cfg);
	if (git_reference_name_to_id(&g->tip, g->repo, ref) == 0) {
		if (!tip_readable(g->repo, &g->tip)) {
			/* the process ended before writing its last objects: the
			 * server has them, and the first round fetches them */
			char branch[300];
			log_warn("gitops: the local clone lacks its last commit; fetching it again");
			snprintf(branch, sizeof(branch), "refs/heads/%s", cfg->git_branch);
			if (git_reference_lookup(&tr, g->repo, ref) == 0) {
				git_reference_delete(tr);
				git_reference_free(tr);
				tr = NULL;
			}
			/* the push source, which points at the same lost commit */
			if (git_reference_lookup(&tr, g->repo, branch) == 0) {
				git_reference_delete(tr);
				git_reference_free(tr);
				tr = NULL;
			}
			memset(&g->tip, 0, sizeof(g->tip));
		} else {
			g->tip_known = 1;
			if ((error = rebuild_snapshot(g)) < 0)
				return error;
		}
	}
	/* the repack's delta search keeps its window of objects in memory:
	 * bound it (libgit2 reads these from the repository's config) */
	{
		git_config *c = NULL;
		if (git_repository_config(&c, g->repo) == 0) {
			if (git_config_set_int64(c, "pack.windowMemory", 2 << 20) < 0 ||
			    git_config_set_int64(c, "pack.deltaCacheSize", 1 << 20) < 0)
				log_warn("gitops: configuring the local clone: %s", git_msg());
			git_config_free(c);
		}
	}
	g->need_fetch = 1;
	return 0;
}

/* ---- transport ---------------------------------------------------------- */

struct xfer {
	struct pv_gitops *g;
	int cred_calls;
	int rejected;
	char reject_msg[256];
};

static int cred_cb(git_credential **out, const char *url, const char *user_from_url,
	unsigned int allowed, void *payload)
{
	struct xfer *x = payload;
	const struct pv_config *cfg = x->g->cfg;
	/* the user written in the URL wins: over SSH libgit2 refuses a second,
	 * different name for the same connection */
	const char *user = user_from_url && *user_from_url ? user_from_url
			 : cfg->git_username && *cfg->git_username ? cfg->git_username : "git";

	(void)url;
	/* over SSH without a user in the URL, libgit2 first asks for the user
	 * name alone; that is not an attempt to authenticate */
	if (allowed == GIT_CREDENTIAL_USERNAME)
		return git_credential_username_new(out, user);
	/* libgit2 asks again after every refusal: one try, then give up */
	if (x->cred_calls++ > 0) {
		git_error_set_str(GIT_ERROR_NET, "the Git server refused previewd's credentials");
		return GIT_EAUTH;
	}
	if ((allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) && cfg->git_password)
		return git_credential_userpass_plaintext_new(out, user, cfg->git_password);
	if ((allowed & GIT_CREDENTIAL_SSH_KEY) && cfg->git_ssh_key)
		return git_credential_ssh_key_new(out, user, cfg->git_ssh_pubkey, cfg->git_ssh_key,
			cfg->git_ssh_passphrase);
	if (allowed & GIT_CREDENTIAL_USERNAME)
		return git_credential_username_new(out, user);
	git_error_set_str(GIT_ERROR_NET, "the Git server wants credentials and none are configured");
	return GIT_EAUTH;
}

static int push_ref_cb(const char *refname, const char *status, void *payload)
{
	struct xfer *x = payload;

	/* git_remote_push returns 0 even when the server refused the ref: this
	 * per-reference status is the only place a rejection shows */
	if (status) {
		x->rejected = 1;
		snprintf(x->reject_msg, sizeof(x->reject_msg), "%s rejected: %s", refname, status);
	}
	return 0;
}

static void fill_callbacks(git_remote_callbacks *cb, struct xfer *x)
{
	cb->credentials = cred_cb;
	cb->push_update_reference = push_ref_cb;
	cb->payload = x;
}

/*
 * Credentials go through cred_cb after the server's 401.  Sending them up
 * front as a custom header would save that round trip, but libgit2 1.5
 * leaks its copy of custom headers when a fetch or push fails.
 */

static int do_fetch(struct pv_gitops *g)
{
	git_fetch_options opts;
	struct xfer x = { .g = g };
	char ref[300];
	git_oid old = g->tip;
	int error;

	git_fetch_options_init(&opts, GIT_FETCH_OPTIONS_VERSION);
	fill_callbacks(&opts.callbacks, &x);
	opts.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
	opts.prune = GIT_FETCH_NO_PRUNE;
	if (git_remote_fetch(g->remote, NULL, &opts, NULL) < 0)
		return git_fail("fetch");
	tracking_ref(ref, sizeof(ref), g->cfg);
	error = git_reference_name_to_id(&g->tip, g->repo, ref);
	if (error == GIT_ENOTFOUND)
		memset(&g->tip, 0, sizeof(g->tip)); /* an empty repository: the first commit is a root */
	else if (error < 0)
		return git_fail("reading the fetched branch");
	g->tip_known = 1;
	g->need_fetch = 0;
	if (!git_oid_equal(&old, &g->tip) || !g->snap_valid)
		return rebuild_snapshot(g);
	return 0;
}

enum push_result { PUSH_OK, PUSH_REJECTED, PUSH_FAILED };

/* Git's order of tree entries: names compared bytewise, a tree's name as if
 * it ended in '/' */
static int entry_cmp(const git_tree_entry *a, const git_tree_entry *b)
{
	const char *na = git_tree_entry_name(a), *nb = git_tree_entry_name(b);

	return pv_pack_name_cmp(na, strlen(na), git_tree_entry_type(a) == GIT_OBJECT_TREE, nb, strlen(nb),
		git_tree_entry_type(b) == GIT_OBJECT_TREE);
}

/*
 * What a push must carry: the objects of new_tree that old_tree (NULL:
 * none) does not hold - new_tree itself, and every entry whose id differs
 * from the entry of the same name, descending only into trees that differ.
 * A tree with a previous version goes as a delta against it (pack.h).
 * Both trees are in Git's order, so one merge pass pairs the entries: with
 * N environments that is N id comparisons and no object reads, where
 * libgit2's push reads all N folder trees of the old commit.  An entry the
 * pass fails to pair is sent again, which costs bytes, never correctness.
 */
struct outgoing {
	git_oid id, base;
	int has_base;
};

struct outgoing_list {
	struct outgoing *v;
	size_t n, cap;
};

static int outgoing_add(struct outgoing_list *l, const git_oid *id, const git_oid *base)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct outgoing *v = realloc(l->v, cap * sizeof(*v));
		if (!v) {
			git_error_set_oom();
			return -1;
		}
		l->v = v;
		l->cap = cap;
	}
	memset(&l->v[l->n], 0, sizeof(l->v[l->n]));
	git_oid_cpy(&l->v[l->n].id, id);
	if (base) {
		git_oid_cpy(&l->v[l->n].base, base);
		l->v[l->n].has_base = 1;
	}
	l->n++;
	return 0;
}

static int collect_new_objects(struct outgoing_list *l, git_repository *repo, const git_tree *old_tree,
	const git_tree *new_tree)
{
	size_t i, j = 0, nn = git_tree_entrycount(new_tree), no = old_tree ? git_tree_entrycount(old_tree) : 0;
	int error;

	if ((error = outgoing_add(l, git_tree_id(new_tree), old_tree ? git_tree_id(old_tree) : NULL)) < 0)
		return error;
	for (i = 0; i < nn; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(new_tree, i), *o = NULL;
		git_tree *sub_new = NULL, *sub_old = NULL;

		while (j < no) {
			const git_tree_entry *c = git_tree_entry_byindex(old_tree, j);
			int cmp = entry_cmp(c, e);
			if (cmp > 0)
				break;
			j++;
			if (cmp == 0) {
				o = c;
				break;
			}
		}
		if (o && git_oid_equal(git_tree_entry_id(o), git_tree_entry_id(e)))
			continue;
		switch (git_tree_entry_type(e)) {
		case GIT_OBJECT_BLOB:
			error = outgoing_add(l, git_tree_entry_id(e), NULL);
			break;
		case GIT_OBJECT_TREE:
			if ((error = git_tree_lookup(&sub_new, repo, git_tree_entry_id(e))) < 0)
				break;
			if (o && git_tree_entry_type(o) == GIT_OBJECT_TREE &&
			    (error = git_tree_lookup(&sub_old, repo, git_tree_entry_id(o))) < 0)
				break;
			error = collect_new_objects(l, repo, sub_old, sub_new);
			break;
		default: /* a submodule's commit lives in another repository */
			break;
		}
		git_tree_free(sub_old);
		git_tree_free(sub_new);
		if (error < 0)
			return error;
	}
	return 0;
}

static int outgoing_cmp(const void *a, const void *b)
{
	return git_oid_cmp(&((const struct outgoing *)a)->id, &((const struct outgoing *)b)->id);
}

/* the pack of the commit and the objects collect_new_objects() lists */
/* what commit adds to old_tree: the commit and collect_new_objects() */
static int list_new_objects(struct outgoing_list *l, git_repository *repo, const git_tree *old_tree,
	const git_tree *new_tree, const git_oid *commit)
{
	int error;

	if ((error = outgoing_add(l, commit, NULL)) < 0)
		return error;
	return collect_new_objects(l, repo, old_tree, new_tree);
}

/* the pack of the objects in l (sorted here) */
static int build_pack(struct pv_pack *p, git_repository *repo, struct outgoing_list *l)
{
	git_odb *odb = NULL;
	int error;

	if ((error = git_repository_odb(&odb, repo)) < 0)
		goto out;
	/* one copy of each: two folders may hold the same values.yaml */
	qsort(l->v, l->n, sizeof(*l->v), outgoing_cmp);
	if ((error = pv_pack_begin(p)) < 0) {
		git_error_set_str(GIT_ERROR_NONE, pv_error_last()->message);
		goto out;
	}
	for (size_t i = 0; i < l->n; i++) {
		git_odb_object *obj = NULL, *base = NULL;
		int delta;

		if (i > 0 && git_oid_equal(&l->v[i].id, &l->v[i - 1].id))
			continue;
		if ((error = git_odb_read(&obj, odb, &l->v[i].id)) < 0 ||
		    (l->v[i].has_base && (error = git_odb_read(&base, odb, &l->v[i].base)) < 0)) {
			git_odb_object_free(obj);
			goto out;
		}
		if (git_odb_object_type(obj) == GIT_OBJECT_TREE)
			error = pv_pack_add_tree(p, l->v[i].base.id, base ? git_odb_object_data(base) : NULL,
				base ? git_odb_object_size(base) : 0, git_odb_object_data(obj), git_odb_object_size(obj),
				&delta);
		else
			error = pv_pack_add(p, (enum pv_pack_type)git_odb_object_type(obj), git_odb_object_data(obj),
				git_odb_object_size(obj));
		git_odb_object_free(base);
		git_odb_object_free(obj);
		if (error < 0) {
			git_error_set_str(GIT_ERROR_NONE, pv_error_last()->message);
			goto out;
		}
	}
	if ((error = pv_pack_finish(p)) < 0)
		git_error_set_str(GIT_ERROR_NONE, pv_error_last()->message);
out:
	git_odb_free(odb);
	return error;
}

/* after a push: the objects the commit added (l) are the ones to write to disk */
static int remember_new_objects(struct pv_gitops *g, const struct outgoing_list *l)
{
	if (g->n_unflushed + l->n > g->cap_unflushed) {
		size_t cap = g->cap_unflushed ? g->cap_unflushed : 256;
		git_oid *v;
		while (cap < g->n_unflushed + l->n)
			cap *= 2;
		if (!(v = realloc(g->unflushed, cap * sizeof(*v)))) {
			git_error_set_oom();
			return -1;
		}
		g->unflushed = v;
		g->cap_unflushed = cap;
	}
	for (size_t i = 0; i < l->n; i++)
		git_oid_cpy(&g->unflushed[g->n_unflushed++], &l->v[i].id);
	return 0;
}

/*
 * Push commit (whose parent is the remote's tip, tip_tree its tree) with the
 * pack of only what the commit adds, in one request (smartpush.h).  A server
 * that does not take such a request turns direct pushes off for the life of
 * the process; the caller then pushes with libgit2.  Returns 1 when the push
 * was handled here (*out says how it went), 0 when libgit2 must do it.
 */
static int direct_push(struct pv_gitops *g, struct outgoing_list *news, const git_oid *commit,
	enum push_result *out, char *msg, size_t msglen)
{
	struct pv_pack pack = PV_PACK_INIT;
	char ref[300], old_hex[GIT_OID_HEXSZ + 1], new_hex[GIT_OID_HEXSZ + 1];
	enum pv_smartpush_result r;
	int handled = 1;

	snprintf(ref, sizeof(ref), "refs/heads/%s", g->cfg->git_branch);
	git_oid_tostr(old_hex, sizeof(old_hex), &g->tip);
	git_oid_tostr(new_hex, sizeof(new_hex), commit);
	*out = PUSH_FAILED;
	if (build_pack(&pack, g->repo, news) < 0) {
		snprintf(msg, msglen, "building the pack: %s", git_msg());
		goto out;
	}
	log_debug("gitops: direct push of %u object(s), %zu bytes", pack.count, pack.len);
	r = pv_smartpush_send(g->smart, ref, old_hex, new_hex, pack.buf, pack.len, msg, msglen);
	if (r == PV_SMARTPUSH_UNSUPPORTED) {
		log_warn("gitops: the Git server does not take a direct push (%s); pushing with libgit2 from now on", msg);
		pv_smartpush_free(g->smart);
		g->smart = NULL;
		handled = 0;
	} else {
		*out = r == PV_SMARTPUSH_OK ? PUSH_OK : r == PV_SMARTPUSH_REJECTED ? PUSH_REJECTED : PUSH_FAILED;
	}
out:
	pv_pack_dispose(&pack);
	return handled;
}

static enum push_result do_push(struct pv_gitops *g, const git_oid *commit, char *msg, size_t msglen)
{
	git_push_options opts;
	struct xfer x = { .g = g };
	char local[300], spec[700], *specs[1];
	git_strarray refspecs = { specs, 1 };
	git_reference *ref = NULL;
	int error;

	git_push_options_init(&opts, GIT_PUSH_OPTIONS_VERSION);
	/* the local branch is only the push source; it never diverges from what
	 * we believe the remote has plus this one commit */
	snprintf(local, sizeof(local), "refs/heads/%s", g->cfg->git_branch);
	if (git_reference_create(&ref, g->repo, local, commit, 1, "previewd: outgoing") < 0) {
		snprintf(msg, msglen, "updating the local branch: %s", git_msg());
		return PUSH_FAILED;
	}
	git_reference_free(ref);
	snprintf(spec, sizeof(spec), "%s:%s", local, local); /* no '+': never force */
	specs[0] = spec;
	fill_callbacks(&opts.callbacks, &x);
	error = git_remote_push(g->remote, &refspecs, &opts);
	if (error == GIT_ENONFASTFORWARD || (error == 0 && x.rejected)) {
		snprintf(msg, msglen, "%s", x.rejected ? x.reject_msg : "non-fast-forward");
		return PUSH_REJECTED;
	}
	if (error < 0) {
		snprintf(msg, msglen, "push to %s failed: %s", g->cfg->git_url, git_msg());
		return PUSH_FAILED;
	}
	return PUSH_OK;
}

/* ---- one round ---------------------------------------------------------- */

struct rows {
	struct pv_env *v;
	size_t n, cap;
};

static int collect_row(const struct pv_env *env, void *payload)
{
	struct rows *r = payload;
	struct pv_env *dst;

	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 32;
		struct pv_env *v = realloc(r->v, cap * sizeof(*v));
		if (!v)
			return pv_error_set(PV_ERROR, NULL, "out of memory");
		r->v = v;
		r->cap = cap;
	}
	dst = &r->v[r->n];
	*dst = *env;
	dst->values_json = strdup(env->values_json);
	dst->requested_by = strdup(env->requested_by);
	dst->git_error = NULL;
	if (!dst->values_json || !dst->requested_by) {
		free(dst->values_json);
		free(dst->requested_by);
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	}
	r->n++;
	return 0;
}

static void rows_clear(struct rows *r)
{
	for (size_t i = 0; i < r->n; i++)
		pv_env_dispose(&r->v[i]);
	free(r->v);
	memset(r, 0, sizeof(*r));
}

enum action { A_WRITE, A_REMOVE, A_NOTHING, A_FAIL };

struct plan {
	enum action action;
	const char *verb;       /* create, update, delete */
	char why[200];          /* for A_FAIL */
};

static void format_time(char *buf, size_t len, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* previewd.json: the record that marks the folder as previewd's and lets
 * the database be rebuilt from Git. */
static char *render_meta(const struct pv_env *env)
{
	char created[32], expires[32], updated[32];
	json_t *o;
	char *s;

	format_time(created, sizeof(created), env->created_at);
	format_time(expires, sizeof(expires), env->expires_at);
	format_time(updated, sizeof(updated), env->updated_at);
	o = json_pack("{s:s, s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:o}",
		"managed_by", "previewd", "version", 1, "name", env->name, "owner", env->owner,
		"base", env->base, "requested_by", env->requested_by,
		"created_at", created, "updated_at", updated,
		"expires_at", env->expires_at ? json_string(expires) : json_null());
	/* the cluster-placing ApplicationSet reads this key; absent means its default */
	if (o && env->cluster[0])
		json_object_set_new(o, "cluster", json_string(env->cluster));
	if (!o)
		return NULL;
	s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (s) {
		size_t n = strlen(s);
		char *t = realloc(s, n + 2);
		if (!t) {
			free(s);
			return NULL;
		}
		t[n] = '\n';
		t[n + 1] = '\0';
		s = t;
	}
	return s;
}

static int blob_from(git_repository *repo, git_oid *out, const char *data, size_t len)
{
	if (git_blob_create_from_buffer(out, repo, data, len) < 0)
		return git_fail("writing a blob");
	return 0;
}

/* Decide what row r means for the tree at tip and, for writes, create its
 * blobs.  Only folders with previewd.json are ever changed. */
/* env_tree: the env folder's tree at the tip, NULL when there is none; read
 * once per round by the caller (libgit2 does not cache a tree that large, and
 * a path lookup from the root would read it again for every row) */
static int plan_row(struct pv_gitops *g, const git_tree *env_tree, const struct pv_env *r, struct plan *p,
	git_oid *values_oid, git_oid *meta_oid)
{
	char path[512];
	const git_tree_entry *e = NULL;
	git_tree *folder = NULL;
	int exists = 0, managed = 0, error = 0;
	json_t *values = NULL;
	char *yaml = NULL, *meta = NULL;
	size_t yaml_len = 0;

	memset(p, 0, sizeof(*p));
	pv_gitops_env_path(g->cfg, r->name, path, sizeof(path));
	if (env_tree && (e = git_tree_entry_byname(env_tree, r->name)) != NULL) {
		exists = 1;
		if (git_tree_entry_type(e) == GIT_OBJECT_TREE) {
			if (git_tree_lookup(&folder, g->repo, git_tree_entry_id(e)) < 0) {
				error = pv_error_set(PV_ERROR, NULL, "reading %s: %s", path, git_msg());
				goto cleanup;
			}
			managed = git_tree_entry_byname(folder, MANAGED_FILE) != NULL;
		}
	}
	if (strcmp(r->status, PV_STATUS_DELETING) == 0) {
		p->verb = "delete";
		/* gone already, or taken over by people: nothing of ours to remove */
		p->action = exists && managed ? A_REMOVE : A_NOTHING;
		goto cleanup;
	}
	p->verb = r->pushed_gen == 0 ? "create" : "update";
	if (exists && !managed) {
		p->action = A_FAIL;
		snprintf(p->why, sizeof(p->why), "the folder %s exists in Git and was not created by previewd", path);
		goto cleanup;
	}
	values = json_loads(r->values_json, 0, NULL);
	if (!values || pv_values_to_yaml(&yaml, &yaml_len, values) < 0 || !(meta = render_meta(r))) {
		p->action = A_FAIL;
		snprintf(p->why, sizeof(p->why), "the recorded values cannot be rendered: %s", pv_error_last()->message);
		goto cleanup;
	}
	if ((error = blob_from(g->repo, values_oid, yaml, yaml_len)) < 0 ||
	    (error = blob_from(g->repo, meta_oid, meta, strlen(meta))) < 0)
		goto cleanup;
	p->action = A_WRITE;
cleanup:
	json_decref(values);
	free(yaml);
	free(meta);
	git_tree_free(folder);
	return error;
}

static char *commit_message(const struct rows *rows, const struct plan *plans)
{
	size_t n_create = 0, n_update = 0, n_delete = 0, changed = 0;
	struct pv_strbuf msg = PV_STRBUF_INIT;
	const struct pv_env *only = NULL;
	const struct plan *only_plan = NULL;

	for (size_t i = 0; i < rows->n; i++) {
		if (plans[i].action != A_WRITE && plans[i].action != A_REMOVE)
			continue;
		changed++;
		only = &rows->v[i];
		only_plan = &plans[i];
		if (strcmp(plans[i].verb, "create") == 0)
			n_create++;
		else if (strcmp(plans[i].verb, "update") == 0)
			n_update++;
		else
			n_delete++;
	}
	if (changed == 1) {
		if (pv_strbuf_printf(&msg, "previewd: %s %s\n\n", only_plan->verb, only->name) < 0)
			goto fail;
	} else {
		if (pv_strbuf_printf(&msg, "previewd: %zu changes (%zu create, %zu update, %zu delete)\n\n",
			    changed, n_create, n_update, n_delete) < 0)
			goto fail;
	}
	for (size_t i = 0; i < rows->n; i++) {
		if (plans[i].action != A_WRITE && plans[i].action != A_REMOVE)
			continue;
		/* the requester of this change: a removal names who removed it */
		const char *by = strcmp(plans[i].verb, "create") != 0 && rows->v[i].changed_by[0] ? rows->v[i].changed_by
												    : rows->v[i].requested_by;
		if (pv_strbuf_printf(&msg, "%s %s (owner %s, requested by %s)\n", plans[i].verb,
			    rows->v[i].name, rows->v[i].owner, by) < 0)
			goto fail;
	}
	return msg.buf; /* the caller owns it */
fail:
	pv_strbuf_dispose(&msg);
	return NULL;
}

/* Record the round in SQLite and tell the HTTP side. */
static int record_round(struct pv_gitops *g, const struct rows *rows, const struct plan *plans, const char *commit)
{
	struct pv_gitops_landed *landed = NULL;
	int64_t now = now_seconds();
	char detail[128];
	int error;

	if ((error = pv_store_begin(g->store)) < 0)
		return error;
	for (size_t i = 0; i < rows->n; i++) {
		/* events describe the environment as it is after this round */
		struct pv_env after = rows->v[i];
		const struct pv_env *r = &after;
		if (plans[i].action == A_FAIL)
			snprintf(after.status, sizeof(after.status), "%s", PV_STATUS_FAILED);
		else if (strcmp(after.status, PV_STATUS_PENDING) == 0)
			snprintf(after.status, sizeof(after.status), "%s", PV_STATUS_ACTIVE);
		if (plans[i].action == A_FAIL) {
			log_warn("gitops: %s failed: %s", r->name, plans[i].why);
			json_t *why = json_pack("{s:s}", "error", plans[i].why);
			char *why_s = why ? json_dumps(why, JSON_COMPACT) : NULL;
			error = pv_store_mark_failed(g->store, r->id, r->gen, plans[i].why, now);
			if (error == 0)
				error = pv_store_event_add(g->store, r, "failed", "previewd", NULL, now, why_s);
			free(why_s);
			json_decref(why);
		} else {
			snprintf(detail, sizeof(detail), "{\"commit\":\"%s\",\"gen\":%lld}", commit, (long long)r->gen);
			error = pv_store_mark_pushed(g->store, r->id, r->gen, commit, now);
			if (error == 0) {
				/* with Argo CD's status at hand, "ready" waits for Healthy */
				const char *kind = strcmp(rows->v[i].status, PV_STATUS_DELETING) == 0 ? "deleted"
						 : strcmp(rows->v[i].status, PV_STATUS_PENDING) == 0 && !g->cfg->argocd_url[0]
						 ? "ready" : "pushed";
				/* nothing changes a deleting row, so its pushed removal is final */
				if (strcmp(kind, "deleted") == 0)
					snprintf(after.status, sizeof(after.status), "%s", PV_STATUS_DELETED);
				error = pv_store_event_add(g->store, r, kind, "previewd", NULL, now, detail);
			}
		}
		if (error < 0) {
			pv_store_rollback(g->store);
			return error;
		}
	}
	if ((error = pv_store_commit(g->store)) < 0)
		return error;
	if (g->hooks.landed && (landed = calloc(rows->n, sizeof(*landed))) != NULL) {
		for (size_t i = 0; i < rows->n; i++) {
			landed[i].id = rows->v[i].id;
			landed[i].gen = rows->v[i].gen;
		}
		g->hooks.landed(landed, rows->n, g->hooks.ctx);
		free(landed);
	}
	return 0;
}

/* Keep the snapshot in step with our own commit, without re-reading the tree. */
static void snapshot_apply(struct pv_gitops *g, const struct rows *rows, const struct plan *plans)
{
	pthread_rwlock_wrlock(&g->snap_lock);
	for (size_t i = 0; i < rows->n; i++) {
		if (plans[i].action == A_WRITE) {
			struct folder f = { .name = strdup(rows->v[i].name), .managed = 1 };
			if (f.name)
				(void)snapshot_put(&g->snap, &f);
		} else if (plans[i].action == A_REMOVE) {
			snapshot_remove(&g->snap, rows->v[i].name);
		}
	}
	pthread_rwlock_unlock(&g->snap_lock);
}

/* Hand the paths a push changed to the hook (Argo CD's webhook). */
static void tell_pushed(struct pv_gitops *g, git_commit *parent, const char *after, const struct rows *rows,
	const struct plan *plans)
{
	json_t *changes = json_pack("{s:[], s:[], s:[]}", "added", "modified", "removed");
	char before[48] = "", path[600];

	if (!changes)
		return;
	if (parent)
		git_oid_tostr(before, sizeof(before), git_commit_id(parent));
	for (size_t i = 0; i < rows->n; i++) {
		const char *list = plans[i].action == A_REMOVE ? "removed"
				 : plans[i].action == A_WRITE && strcmp(plans[i].verb, "create") == 0 ? "added"
				 : plans[i].action == A_WRITE ? "modified" : NULL;
		if (!list)
			continue;
		snprintf(path, sizeof(path), "%s/%s/%s", g->cfg->env_dir, rows->v[i].name, VALUES_FILE);
		json_array_append_new(json_object_get(changes, list), json_string(path));
		snprintf(path, sizeof(path), "%s/%s/%s", g->cfg->env_dir, rows->v[i].name, MANAGED_FILE);
		json_array_append_new(json_object_get(changes, list), json_string(path));
	}
	g->hooks.pushed(before, after, changes, g->hooks.ctx);
	json_decref(changes);
}

static double ms_between(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) * 1e3 + (double)(b->tv_nsec - a->tv_nsec) / 1e6;
}

enum round_result { ROUND_IDLE, ROUND_DONE, ROUND_MORE, ROUND_REJECTED, ROUND_FAILED };

static enum round_result run_round(struct pv_gitops *g)
{
	struct rows rows = { 0 };
	struct plan *plans = NULL;
	git_tree_update *updates = NULL;
	char **paths = NULL;
	git_commit *tip_commit = NULL;
	git_tree *tip_tree = NULL, *base_tree = NULL, *new_tree = NULL, *env_tree = NULL;
	struct outgoing_list news = { 0 };
	git_signature *sig = NULL;
	git_oid tree_oid, commit_oid;
	char *message = NULL, commit_hex[48], err[512];
	size_t nupd = 0;
	enum round_result result = ROUND_FAILED;
	enum push_result pr;
	struct timespec t_start, t_built, t_pushed;

	clock_gettime(CLOCK_MONOTONIC, &t_start);
	err[0] = '\0';
	if (!g->repo || !g->remote || !g->mempack) { /* a repack or flush that could not reopen the clone */
		close_clone(g);
		if (reopen_clone(g) < 0) {
			snprintf(err, sizeof(err), "%s", pv_error_last()->message);
			goto cleanup;
		}
	}
	if (g->need_fetch) {
		if (do_fetch(g) < 0) {
			snprintf(err, sizeof(err), "%s", pv_error_last()->message);
			goto cleanup;
		}
		status_ok(g, 0);
	}
	if (pv_store_dirty(g->store, ROUND_LIMIT, collect_row, &rows) < 0) {
		snprintf(err, sizeof(err), "%s", pv_error_last()->message);
		goto cleanup;
	}
	if (rows.n == 0) {
		result = ROUND_IDLE;
		goto cleanup;
	}
	if (!git_oid_is_zero(&g->tip) &&
	    (git_commit_lookup(&tip_commit, g->repo, &g->tip) < 0 || git_commit_tree(&tip_tree, tip_commit) < 0)) {
		snprintf(err, sizeof(err), "reading the tip: %s", git_msg());
		g->need_fetch = 1;
		goto cleanup;
	}
	if (tip_tree) {
		git_tree_entry *e = NULL;
		int rc = git_tree_entry_bypath(&e, tip_tree, g->cfg->env_dir);
		if (rc == 0 && git_tree_entry_type(e) == GIT_OBJECT_TREE)
			rc = git_tree_lookup(&env_tree, g->repo, git_tree_entry_id(e));
		git_tree_entry_free(e);
		if (rc < 0 && rc != GIT_ENOTFOUND) {
			snprintf(err, sizeof(err), "reading %s at the tip: %s", g->cfg->env_dir, git_msg());
			g->need_fetch = 1;
			goto cleanup;
		}
	}
	plans = calloc(rows.n, sizeof(*plans));
	updates = calloc(rows.n * 2, sizeof(*updates));
	paths = calloc(rows.n * 2, sizeof(*paths));
	if (!plans || !updates || !paths) {
		snprintf(err, sizeof(err), "out of memory");
		goto cleanup;
	}
	for (size_t i = 0; i < rows.n; i++) {
		git_oid voids, moid;
		char path[512];

		if (plan_row(g, env_tree, &rows.v[i], &plans[i], &voids, &moid) < 0) {
			snprintf(err, sizeof(err), "%s", pv_error_last()->message);
			goto cleanup;
		}
		pv_gitops_env_path(g->cfg, rows.v[i].name, path, sizeof(path));
		if (plans[i].action == A_WRITE) {
			size_t n = strlen(path) + 32;
			if (!(paths[nupd] = malloc(n)) || !(paths[nupd + 1] = malloc(n))) {
				snprintf(err, sizeof(err), "out of memory");
				goto cleanup;
			}
			snprintf(paths[nupd], n, "%s/%s", path, VALUES_FILE);
			snprintf(paths[nupd + 1], n, "%s/%s", path, MANAGED_FILE);
			updates[nupd] = (git_tree_update){ GIT_TREE_UPDATE_UPSERT, voids, GIT_FILEMODE_BLOB, paths[nupd] };
			updates[nupd + 1] = (git_tree_update){ GIT_TREE_UPDATE_UPSERT, moid, GIT_FILEMODE_BLOB, paths[nupd + 1] };
			nupd += 2;
		} else if (plans[i].action == A_REMOVE) {
			if (!(paths[nupd] = strdup(path))) {
				snprintf(err, sizeof(err), "out of memory");
				goto cleanup;
			}
			updates[nupd] = (git_tree_update){ GIT_TREE_UPDATE_REMOVE, { { 0 } }, 0, paths[nupd] };
			nupd++;
		}
	}
	if (tip_tree) {
		base_tree = tip_tree;
	} else if (empty_tree(&base_tree, g->repo) < 0) {
		snprintf(err, sizeof(err), "%s", pv_error_last()->message);
		goto cleanup;
	}
	if (git_tree_create_updated(&tree_oid, g->repo, base_tree, nupd, updates) < 0) {
		snprintf(err, sizeof(err), "building the tree: %s", git_msg());
		goto cleanup;
	}
	if (tip_tree && git_oid_equal(&tree_oid, git_tree_id(tip_tree))) {
		/* Git already holds this state (a retry after a push whose answer was
		 * lost, or removals of folders already gone): nothing to commit */
		git_oid_tostr(commit_hex, sizeof(commit_hex), &g->tip);
		goto record;
	}
	if (git_tree_lookup(&new_tree, g->repo, &tree_oid) < 0 || signature_now(&sig, g->cfg) < 0 ||
	    !(message = commit_message(&rows, plans))) {
		snprintf(err, sizeof(err), "preparing the commit: %s", pv_error_last()->message);
		goto cleanup;
	}
	if (git_commit_create(&commit_oid, g->repo, NULL, sig, sig, "UTF-8", message, new_tree,
		    tip_commit ? 1 : 0, (const git_commit **)&tip_commit) < 0) {
		snprintf(err, sizeof(err), "committing: %s", git_msg());
		goto cleanup;
	}
	/* what the commit adds: the push's pack, and what goes to disk after */
	if (list_new_objects(&news, g->repo, tip_tree, new_tree, &commit_oid) < 0) {
		snprintf(err, sizeof(err), "listing the new objects: %s", git_msg());
		goto cleanup;
	}
	g->mem_rounds++;
	g->mem_bytes += rows.n * 1024 + (env_tree ? git_tree_entrycount(env_tree) * 40 : 0);
	clock_gettime(CLOCK_MONOTONIC, &t_built);
	/* a branch yet to be created goes through libgit2, which sends it whole */
	if (!g->smart || !tip_tree || !direct_push(g, &news, &commit_oid, &pr, err, sizeof(err)))
		pr = do_push(g, &commit_oid, err, sizeof(err));
	clock_gettime(CLOCK_MONOTONIC, &t_pushed);
	observe_push(g, ms_between(&t_built, &t_pushed) / 1000);
	if (pr == PUSH_REJECTED) {
		log_info("gitops: push rejected (%s); fetching and rebuilding", err);
		status_fail(g, err, 1);
		g->need_fetch = 1;
		result = ROUND_REJECTED;
		goto cleanup;
	}
	if (pr == PUSH_FAILED)
		goto cleanup;
	g->tip = commit_oid;
	if (remember_new_objects(g, &news) < 0) {
		/* without the whole list the in-memory objects must stay until a
		 * repack, which writes everything the tip needs */
		log_warn("gitops: listing the new objects: %s", git_msg());
		g->unflushed_incomplete = 1;
	}
	{
		char ref[300];
		git_reference *r = NULL;
		tracking_ref(ref, sizeof(ref), g->cfg);
		if (git_reference_create(&r, g->repo, ref, &commit_oid, 1, "previewd: pushed") == 0)
			git_reference_free(r);
	}
	git_oid_tostr(commit_hex, sizeof(commit_hex), &commit_oid);
	g->commits_since_repack++;
	if (g->hooks.pushed)
		tell_pushed(g, tip_commit, commit_hex, &rows, plans);
	pthread_mutex_lock(&g->lock);
	g->status.commits++;
	pthread_mutex_unlock(&g->lock);
	log_info("gitops: pushed %.12s with %zu change(s)", commit_hex, rows.n);
	log_debug("gitops: round: build %.1f ms, push %.1f ms", ms_between(&t_start, &t_built), ms_between(&t_built, &t_pushed));
record:
	snapshot_apply(g, &rows, plans);
	status_ok(g, 1);
	if (record_round(g, &rows, plans, commit_hex) < 0) {
		/* Git has it; the rows stay dirty and the next round finds the tree
		 * unchanged and records it then */
		snprintf(err, sizeof(err), "%s", pv_error_last()->message);
		log_error("gitops: recording the push failed: %s", err);
		err[0] = '\0';
	}
	result = rows.n == ROUND_LIMIT ? ROUND_MORE : ROUND_DONE;
cleanup:
	if (result == ROUND_FAILED && err[0]) {
		log_warn("gitops: %s", err);
		status_fail(g, err, 0);
		g->need_fetch = 1;
		if (pv_store_set_dirty_error(g->store, err) < 0)
			log_warn("gitops: %s", pv_error_last()->message);
	}
	for (size_t i = 0; paths && i < rows.n * 2; i++)
		free(paths[i]);
	free(paths);
	free(updates);
	free(plans);
	free(message);
	git_signature_free(sig);
	git_tree_free(new_tree);
	if (base_tree != tip_tree)
		git_tree_free(base_tree);
	free(news.v);
	git_tree_free(env_tree);
	git_tree_free(tip_tree);
	git_commit_free(tip_commit);
	rows_clear(&rows);
	return result;
}

/* ---- keeping the clone bounded ------------------------------------------ */

static int remove_loose_and_old_packs(const char *objects, const char *keep_pack)
{
	char path[4096];
	DIR *d, *sub;
	struct dirent *e, *f;
	int removed = 0;

	if (!(d = opendir(objects)))
		return 0;
	while ((e = readdir(d)) != NULL) {
		/* loose objects live in objects/xx/ with two hex digits */
		if (strlen(e->d_name) == 2 && isxdigit((unsigned char)e->d_name[0]) && isxdigit((unsigned char)e->d_name[1])) {
			snprintf(path, sizeof(path), "%s/%s", objects, e->d_name);
			if (!(sub = opendir(path)))
				continue;
			while ((f = readdir(sub)) != NULL) {
				char file[4200];
				if (f->d_name[0] == '.')
					continue;
				snprintf(file, sizeof(file), "%s/%s", path, f->d_name);
				if (unlink(file) == 0)
					removed++;
			}
			closedir(sub);
			rmdir(path);
		}
	}
	closedir(d);
	snprintf(path, sizeof(path), "%s/pack", objects);
	if (!(d = opendir(path)))
		return removed;
	while ((e = readdir(d)) != NULL) {
		char file[4200];
		if (strncmp(e->d_name, "pack-", 5) != 0 || strstr(e->d_name, keep_pack))
			continue;
		snprintf(file, sizeof(file), "%s/%s", path, e->d_name);
		if (unlink(file) == 0)
			removed++;
	}
	closedir(d);
	return removed;
}

/*
 * libgit2 never repacks: every commit leaves loose objects and every fetch a
 * pack.  Every PREVIEWD_REPACK_EVERY commits the writer packs everything
 * reachable from the tip into one pack, then drops the loose objects and
 * the older packs (unreachable leftovers of rejected pushes go with them),
 * and reopens the repository so no stale pack stays mapped.
 */
static int repack(struct pv_gitops *g)
{
	git_packbuilder *pb = NULL;
	git_revwalk *walk = NULL;
	char objects[4096], keep[64];
	int error = 0, removed;

	if (git_oid_is_zero(&g->tip))
		return 0;
	if ((error = flush_mempack(g)) < 0 || !g->repo || !g->remote)
		return error;
	/* the walk reads every tree once: caching them only raises the peak */
	git_libgit2_opts(GIT_OPT_ENABLE_CACHING, 0);
	if (git_packbuilder_new(&pb, g->repo) < 0 || git_revwalk_new(&walk, g->repo) < 0 ||
	    git_revwalk_push(walk, &g->tip) < 0 || git_packbuilder_insert_walk(pb, walk) < 0 ||
	    git_packbuilder_write(pb, NULL, 0, NULL, NULL) < 0) {
		git_libgit2_opts(GIT_OPT_ENABLE_CACHING, 1);
		error = git_fail("repacking the local clone");
		goto cleanup;
	}
	git_libgit2_opts(GIT_OPT_ENABLE_CACHING, 1);
	snprintf(keep, sizeof(keep), "pack-%s.", git_packbuilder_name(pb));
	snprintf(objects, sizeof(objects), "%s/objects", g->clone_path);
	git_revwalk_free(walk);
	walk = NULL;
	git_packbuilder_free(pb);
	pb = NULL;
	/* close every handle on the old packs before they go (the mempack,
	 * empty now, goes with the repository's odb) */
	close_clone(g);
	g->unflushed_incomplete = 0; /* the new pack holds all the tip needs */
	removed = remove_loose_and_old_packs(objects, keep);
	if ((error = reopen_clone(g)) < 0)
		goto cleanup;
	g->commits_since_repack = 0;
	g->packs_since_repack = 0;
	log_info("gitops: repacked the local clone into %s (%d files removed)", keep, removed);
cleanup:
	git_revwalk_free(walk);
	git_packbuilder_free(pb);
	return error;
}

/* ---- the thread --------------------------------------------------------- */

static long long backoff_ms(struct pv_gitops *g, unsigned int failures)
{
	long long cap = g->cfg->push_backoff_max_ms, d = 100;

	for (unsigned int i = 1; i < failures && d < cap; i++)
		d *= 2;
	if (d > cap)
		d = cap;
	/* full jitter on the upper half: many previewd instances must not retry in step */
	return d / 2 + (long long)(rand_r(&g->rand_state) % (unsigned int)(d / 2 + 1));
}

static void *writer_main(void *arg)
{
	struct pv_gitops *g = arg;
	long long wait_ms = 0;
	struct timespec last_work = { 0, 0 }, now;

	for (;;) {
		enum round_result r;

		struct timespec deadline;
		/* idle: look at the queue now and then, and soon when new objects
		 * wait in memory */
		long long ms = wait_ms > 0 ? wait_ms : g->mem_rounds ? MEMPACK_IDLE_MS : 60000;

		clock_gettime(CLOCK_MONOTONIC, &deadline);
		deadline.tv_sec += ms / 1000;
		deadline.tv_nsec += (ms % 1000) * 1000000L;
		if (deadline.tv_nsec >= 1000000000L) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000L;
		}
		pthread_mutex_lock(&g->lock);
		/* during a backoff new requests do not shorten the wait: an outage
		 * must not turn every request into a connection attempt */
		while (!g->stopping && (wait_ms > 0 || !g->kicked))
			if (pthread_cond_timedwait(&g->wake, &g->lock, &deadline) == ETIMEDOUT)
				break;
		if (g->stopping) {
			pthread_mutex_unlock(&g->lock);
			if (flush_mempack(g) < 0)
				log_warn("gitops: %s", pv_error_last()->message);
			break;
		}
		g->kicked = 0;
		pthread_mutex_unlock(&g->lock);

		r = run_round(g);
		/* new objects to disk as a pack now and then (and when idle), and
		 * all packs into one by commits or by the number of packs */
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (r != ROUND_IDLE)
			last_work = now;
		if (((r == ROUND_IDLE && ms_between(&last_work, &now) >= MEMPACK_IDLE_MS) ||
		     g->mem_bytes >= MEMPACK_MAX_BYTES || g->mem_rounds >= MEMPACK_MAX_ROUNDS) &&
		    flush_mempack(g) < 0)
			log_warn("gitops: %s", pv_error_last()->message);
		if ((r == ROUND_DONE || r == ROUND_IDLE) &&
		    (g->commits_since_repack >= g->cfg->repack_every || g->packs_since_repack >= REPACK_PACKS) &&
		    repack(g) < 0)
			log_warn("gitops: %s", pv_error_last()->message);
		switch (r) {
		case ROUND_IDLE:
			g->failures = g->rejections = 0;
			wait_ms = 0;
			break;
		case ROUND_DONE:
		case ROUND_MORE:
			g->failures = g->rejections = 0;
			/* the clients answered by this round send their next requests
			 * within a millisecond or two: lingering briefly lets them join
			 * the next commit instead of trailing it in one more round.  A
			 * writer that was idle starts at once (sequential latency). */
			wait_ms = r == ROUND_MORE ? 0 : ROUND_LINGER_MS;
			/* whatever arrived during the push goes out in the next commit */
			pthread_mutex_lock(&g->lock);
			g->kicked = 1;
			pthread_mutex_unlock(&g->lock);
			break;
		case ROUND_REJECTED:
			/* another writer won the race: fetch and rebuild at once, but a
			 * server that keeps refusing gets the backoff too */
			g->rejections++;
			wait_ms = g->rejections <= REJECT_FAST_RETRIES ? 0 : backoff_ms(g, g->rejections - REJECT_FAST_RETRIES);
			pthread_mutex_lock(&g->lock);
			g->kicked = 1;
			pthread_mutex_unlock(&g->lock);
			break;
		case ROUND_FAILED:
			g->failures++;
			wait_ms = backoff_ms(g, g->failures);
			pthread_mutex_lock(&g->lock);
			g->kicked = 1;
			pthread_mutex_unlock(&g->lock);
			break;
		}
		if (wait_ms > 0)
			log_debug("gitops: next attempt in %lld ms", wait_ms);
	}
	return NULL;
}

/* ---- life cycle --------------------------------------------------------- */

int pv_gitops_start(struct pv_gitops **out, const struct pv_config *cfg, const char *db_path,
	const struct pv_gitops_hooks *hooks)
{
	struct pv_gitops *g;
	pthread_condattr_t ca;
	int error;

	*out = NULL;
	if (!(g = calloc(1, sizeof(*g))))
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	g->cfg = cfg;
	if (hooks)
		g->hooks = *hooks;
	g->rand_state = (unsigned int)time(NULL) ^ (unsigned int)getpid();
	pthread_mutex_init(&g->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&g->wake, &ca);
	pthread_condattr_destroy(&ca);
	pthread_rwlock_init(&g->snap_lock, NULL);
	if (!(g->db_path = strdup(db_path)) || asprintf(&g->clone_path, "%s/clone.git", cfg->data_dir) < 0) {
		g->clone_path = NULL;
		error = pv_error_set(PV_ERROR, NULL, "out of memory");
		goto fail;
	}
	if (cfg->git_url_is_default && (error = seed_default_remote(cfg)) < 0)
		goto fail;
	if ((error = open_clone(g)) < 0)
		goto fail;
	if ((error = pv_store_open_config(&g->store, cfg, g->db_path)) < 0 || (error = pv_store_relax(g->store)) < 0)
		goto fail;
	if (cfg->git_direct_push && pv_smartpush_handles(cfg->git_url) &&
	    (error = pv_smartpush_new(&g->smart, cfg->git_url, cfg->git_username, cfg->git_password, PUSH_TIMEOUT_S)) < 0)
		goto fail;
	g->kicked = 1; /* the first round fetches and pushes whatever a previous run left */
	if (pthread_create(&g->thread, NULL, writer_main, g) != 0) {
		error = pv_error_set(PV_ERROR, NULL, "cannot start the Git writer thread");
		goto fail;
	}
	g->thread_started = 1;
	*out = g;
	return 0;
fail:
	pv_gitops_free(g);
	return error;
}

void pv_gitops_kick(struct pv_gitops *g)
{
	pthread_mutex_lock(&g->lock);
	g->kicked = 1;
	pthread_cond_signal(&g->wake);
	pthread_mutex_unlock(&g->lock);
}

void pv_gitops_free(struct pv_gitops *g)
{
	if (!g)
		return;
	if (g->thread_started) {
		pthread_mutex_lock(&g->lock);
		g->stopping = 1;
		pthread_cond_signal(&g->wake);
		pthread_mutex_unlock(&g->lock);
		pthread_join(g->thread, NULL);
	}
	pv_store_free(g->store);
	pv_smartpush_free(g->smart);
	free(g->unflushed);
	git_remote_free(g->remote);
	git_repository_free(g->repo);
	snapshot_clear(&g->snap);
	pthread_rwlock_destroy(&g->snap_lock);
	pthread_cond_destroy(&g->wake);
	pthread_mutex_destroy(&g->lock);
	free(g->clone_path);
	free(g->db_path);
	free(g);
}

/* ---- recovery and the matching ApplicationSet --------------------------- */

static const char *str_or(const char *s, const char *fallback)
{
	return s ? s : fallback;
}

static int64_t parse_time(const char *s)
{
	struct tm tm;
	const char *end;

	if (!s)
		return 0;
	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return end && *end == '\0' ? (int64_t)timegm(&tm) : 0;
}

/* One managed folder back into the database; 1 if restored, 0 if skipped. */
static int recover_folder(struct pv_gitops *g, git_tree *folder, const char *name, const char *commit)
{
	char *meta_s = NULL, *yaml = NULL;
	size_t meta_len = 0, yaml_len = 0;
	json_t *meta = NULL, *values = NULL;
	struct pv_env env = { 0 }, live;
	int error, restored = 0;

	if ((error = read_blob(g->repo, folder, MANAGED_FILE, &meta_s, &meta_len)) < 0 ||
	    (error = read_blob(g->repo, folder, VALUES_FILE, &yaml, &yaml_len)) < 0)
		goto out;
	meta = meta_s ? json_loads(meta_s, 0, NULL) : NULL;
	if (!meta || !yaml || pv_values_from_yaml(&values, yaml, yaml_len) < 0) {
		log_warn("recover: %s: unreadable previewd.json or values.yaml, skipped", name);
		goto out;
	}
	if (pv_store_env_get(g->store, &live, name) == 0 && pv_env_is_live(&live)) {
		pv_env_dispose(&live);
		goto out; /* the database knows it already */
	}
	pv_env_dispose(&live);
	snprintf(env.name, sizeof(env.name), "%s", name);
	snprintf(env.owner, sizeof(env.owner), "%s", str_or(json_string_value(json_object_get(meta, "owner")), name));
	snprintf(env.base, sizeof(env.base), "%s", str_or(json_string_value(json_object_get(meta, "base")), g->cfg->base_env));
	snprintf(env.cluster, sizeof(env.cluster), "%s", str_or(json_string_value(json_object_get(meta, "cluster")), ""));
	snprintf(env.status, sizeof(env.status), "%s", PV_STATUS_ACTIVE);
	env.requested_by = strdup(str_or(json_string_value(json_object_get(meta, "requested_by")), "recovered"));
	env.values_json = json_dumps(values, JSON_COMPACT | JSON_PRESERVE_ORDER);
	env.created_at = parse_time(json_string_value(json_object_get(meta, "created_at")));
	env.updated_at = parse_time(json_string_value(json_object_get(meta, "updated_at")));
	env.expires_at = parse_time(json_string_value(json_object_get(meta, "expires_at")));
	if (!env.requested_by || !env.values_json) {
		error = pv_error_set(PV_ERROR, NULL, "out of memory");
		goto out;
	}
	if ((error = pv_store_begin(g->store)) < 0)
		goto out;
	if ((error = pv_store_env_insert(g->store, &env)) < 0 ||
	    (error = pv_store_mark_pushed(g->store, env.id, env.gen, commit, now_seconds())) < 0 ||
	    (error = pv_store_event_add(g->store, &env, "recovered", "recover", NULL, now_seconds(), NULL)) < 0 ||
	    (error = pv_store_commit(g->store)) < 0) {
		pv_store_rollback(g->store);
		goto out;
	}
	restored = 1;
out:
	pv_env_dispose(&env);
	json_decref(values);
	json_decref(meta);
	free(meta_s);
	free(yaml);
	return error < 0 ? error : restored;
}

int pv_gitops_recover(const struct pv_config *cfg, const char *db_path, int *restored, int *skipped)
{
	struct pv_gitops g;
	git_commit *c = NULL;
	git_tree *root = NULL, *envs = NULL;
	git_tree_entry *dir = NULL;
	char commit[48];
	int error;

	*restored = *skipped = 0;
	memset(&g, 0, sizeof(g));
	g.cfg = cfg;
	pthread_rwlock_init(&g.snap_lock, NULL);
	pthread_mutex_init(&g.lock, NULL);
	if (asprintf(&g.clone_path, "%s/clone.git", cfg->data_dir) < 0) {
		g.clone_path = NULL;
		error = pv_error_set(PV_ERROR, NULL, "out of memory");
		goto out;
	}
	if ((error = open_clone(&g)) < 0 || (error = pv_store_open(&g.store, &(struct pv_store_settings){ .path = db_path })) < 0)
		goto out;
	if (do_fetch(&g) < 0) {
		if (!g.tip_known) {
			error = pv_error_set(PV_EUNAVAIL, NULL, "cannot reach the GitOps repository: %s", pv_error_last()->message);
			goto out;
		}
		log_warn("recover: %s; using the local clone's last tip", pv_error_last()->message);
	}
	if (git_oid_is_zero(&g.tip))
		goto out; /* an empty repository: nothing to recover */
	git_oid_tostr(commit, sizeof(commit), &g.tip);
	if (git_commit_lookup(&c, g.repo, &g.tip) < 0 || git_commit_tree(&root, c) < 0) {
		error = git_fail("reading the tip");
		goto out;
	}
	if (git_tree_entry_bypath(&dir, root, cfg->env_dir) < 0 || git_tree_entry_type(dir) != GIT_OBJECT_TREE)
		goto out;
	if (git_tree_lookup(&envs, g.repo, git_tree_entry_id(dir)) < 0) {
		error = git_fail("reading the env folder");
		goto out;
	}
	for (size_t i = 0; i < git_tree_entrycount(envs); i++) {
		const git_tree_entry *e = git_tree_entry_byindex(envs, i);
		git_tree *folder = NULL;
		int r;

		if (git_tree_entry_type(e) != GIT_OBJECT_TREE || pv_valid_name(git_tree_entry_name(e), "name") < 0)
			continue;
		if (git_tree_lookup(&folder, g.repo, git_tree_entry_id(e)) < 0) {
			error = git_fail("reading an env folder");
			goto out;
		}
		if (!git_tree_entry_byname(folder, MANAGED_FILE)) {
			git_tree_free(folder);
			continue; /* people's folder */
		}
		r = recover_folder(&g, folder, git_tree_entry_name(e), commit);
		git_tree_free(folder);
		if (r < 0) {
			error = r;
			goto out;
		}
		if (r)
			(*restored)++;
		else
			(*skipped)++;
	}
out:
	git_tree_free(envs);
	git_tree_entry_free(dir);
	git_tree_free(root);
	git_commit_free(c);
	pv_store_free(g.store);
	git_remote_free(g.remote);
	git_repository_free(g.repo);
	snapshot_clear(&g.snap);
	pthread_rwlock_destroy(&g.snap_lock);
	pthread_mutex_destroy(&g.lock);
	free(g.clone_path);
	return error;
}

int pv_gitops_applicationset(const struct pv_config *cfg, struct pv_strbuf *out)
{
	char repo[1024], chart[512];
	const char *slash = strrchr(cfg->env_dir, '/'), *scheme = strstr(cfg->git_url, "://"), *at;
	const char *base = slash ? slash + 1 : cfg->env_dir;

	/* the repository as Argo CD should know it: the configured URL, or the
	 * Git URL without credentials */
	snprintf(repo, sizeof(repo), "%s", cfg->argocd_repo_url && *cfg->argocd_repo_url ? cfg->argocd_repo_url : cfg->git_url);
	if (scheme && (at = strchr(scheme + 3, '@')) != NULL && strcmp(repo, cfg->git_url) == 0)
		snprintf(repo, sizeof(repo), "%.*s%s", (int)(scheme + 3 - cfg->git_url), cfg->git_url, at + 1);
	snprintf(chart, sizeof(chart), "%.*s", slash ? (int)(slash - cfg->env_dir) : 1, slash ? cfg->env_dir : ".");
	return pv_strbuf_printf(out,
		"# The ApplicationSet matching this previewd's configuration\n"
		"# (previewd print-applicationset): one Application per folder in %s/,\n"
		"# people's and previewd's alike, each in the namespace of its name.\n"
		"apiVersion: argoproj.io/v1alpha1\n"
		"kind: ApplicationSet\n"
		"metadata:\n"
		"  name: preview-environments\n"
		"  namespace: argocd\n"
		"spec:\n"
		"  goTemplate: false\n"
		"  generators:\n"
		"    - git:\n"
		"        repoURL: \"%s\"\n"
		"        revision: \"%s\"\n"
		"        files:\n"
		"          - path: \"%s/*/values.yaml\"\n"
		"  template:\n"
		"    metadata:\n"
		"      name: \"{{path.basename}}\"\n"
		"      labels:\n"
		"        app.kubernetes.io/managed-by: previewd\n"
		"      finalizers:\n"
		"        - resources-finalizer.argocd.argoproj.io\n"
		"    spec:\n"
		"      project: default\n"
		"      source:\n"
		"        repoURL: \"%s\"\n"
		"        targetRevision: \"%s\"\n"
		"        path: \"%s\"\n"
		"        helm:\n"
		"          valueFiles:\n"
		"            - \"%s/{{path.basename}}/values.yaml\"\n"
		"          parameters:\n"
		"            - name: domain\n"
		"              value: \"%s\"\n"
		"      destination:\n"
		"        server: https://kubernetes.default.svc\n"
		"        namespace: \"{{path.basename}}\"\n"
		"      syncPolicy:\n"
		"        automated:\n"
		"          prune: true\n"
		"          selfHeal: true\n"
		"        syncOptions:\n"
		"          - CreateNamespace=true\n"
		"        managedNamespaceMetadata:\n"
		"          labels:\n"
		"            app.kubernetes.io/managed-by: previewd\n",
		cfg->env_dir, repo, cfg->git_branch, cfg->env_dir, repo, cfg->git_branch, chart, base, cfg->domain);
}
