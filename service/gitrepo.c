/*
 * gitrepo.c - the Git writer's local clone (see the DESIGN comment in
 * gitrepo.h).
 *
 * Layout: helpers; the embedded default remote; open, close and reopen;
 * committing a plan and listing what it adds; the in-memory objects and
 * their flush; the repack.
 */
#include "gitrepo.h"

#include <ctype.h>
#include <dirent.h>
#include <git2/sys/mempack.h>
#include <git2/sys/odb_backend.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "array.h"
#include "embed.h"
#include "log.h"
#include "url.h"

#define REPACK_PACKS 32 /* packs written since the last repack that trigger one */

/* libgit2 names the remote in some of its messages, userinfo and all: the
 * text is redacted before it reaches the error slot, which /readyz and
 * git.error answer */
int pv_git_fail(const char *what)
{
	const git_error *e = git_error_last();
	char text[sizeof(pv_error_last()->message)];

	snprintf(text, sizeof(text), "%s: %s", what, e && e->message ? e->message : "unknown libgit2 error");
	pv_url_redact_inplace(text, sizeof(text));
	return pv_error_set(PV_ERROR, NULL, "%s", text);
}

static int oom(void)
{
	return pv_error_set(PV_ERROR, NULL, "out of memory");
}

void pv_oidlist_dispose(struct pv_oidlist *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static int oidlist_add(struct pv_oidlist *l, const git_oid *id)
{
	int error;

	if ((error = pv_array_reserve(&l->v, &l->cap, l->n + 1, sizeof(*l->v))) < 0)
		return error;
	git_oid_cpy(&l->v[l->n++], id);
	return 0;
}

static int signature_now(git_signature **out, const struct pv_config *cfg)
{
	if (git_signature_now(out, cfg->git_author_name, cfg->git_author_email) < 0)
		return pv_git_fail("making the commit signature");
	return 0;
}

static int empty_tree(git_tree **out, git_repository *repo)
{
	git_treebuilder *tb = NULL;
	git_oid oid;
	int error = 0;

	if (git_treebuilder_new(&tb, repo, NULL) < 0 || git_treebuilder_write(&oid, tb) < 0 ||
	    git_tree_lookup(out, repo, &oid) < 0)
		error = pv_git_fail("writing the empty tree");
	git_treebuilder_free(tb);
	return error;
}

int pv_git_read_blob(git_repository *repo, const git_tree *tree, const char *name, char **out, size_t *out_len)
{
	const git_tree_entry *e = git_tree_entry_byname(tree, name);
	git_blob *blob = NULL;
	size_t n;

	*out = NULL;
	*out_len = 0;
	if (!e || git_tree_entry_type(e) != GIT_OBJECT_BLOB)
		return 0;
	if (git_blob_lookup(&blob, repo, git_tree_entry_id(e)) < 0)
		return pv_git_fail("reading a blob");
	n = (size_t)git_blob_rawsize(blob);
	if (!(*out = malloc(n + 1))) {
		git_blob_free(blob);
		return oom();
	}
	memcpy(*out, git_blob_rawcontent(blob), n);
	(*out)[n] = '\0';
	*out_len = n;
	git_blob_free(blob);
	return 0;
}

/* ---- the embedded default remote ---------------------------------------- */

/*
 * The example chart goes next to the env folder: with
 * PREVIEWD_ENV_DIR=helm-env/env it lands in helm-env/.
 */
int pv_gitrepo_seed_default(const struct pv_config *cfg)
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
		return pv_git_fail("creating the default GitOps repository");
	slash = strrchr(cfg->env_dir, '/');
	snprintf(chart_root, sizeof(chart_root), "%.*s", slash ? (int)(slash - cfg->env_dir + 1) : 0, cfg->env_dir);

	updates = calloc(pv_embedded_seed_count, sizeof(*updates));
	paths = calloc(pv_embedded_seed_count, sizeof(*paths));
	if (!updates || !paths) {
		error = oom();
		goto cleanup;
	}
	for (size_t i = 0; i < pv_embedded_seed_count; i++) {
		const struct pv_embedded_file *f = &pv_embedded_seed[i];
		size_t n = strlen(chart_root) + strlen(cfg->env_dir) + strlen(f->path) + 8;

		if (!(paths[i] = malloc(n))) {
			error = oom();
			goto cleanup;
		}
		if (strncmp(f->path, "env/", 4) == 0)
			snprintf(paths[i], n, "%s/%s", cfg->env_dir, f->path + 4);
		else
			snprintf(paths[i], n, "%s%s", chart_root, f->path);
		if (git_blob_create_from_buffer(&updates[i].id, repo, f->data, f->len) < 0) {
			error = pv_git_fail("writing a seed file");
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
		error = pv_git_fail("building the seed tree");
		goto cleanup;
	}
	if ((error = signature_now(&sig, cfg)) < 0)
		goto cleanup;
	if (git_commit_create(&commit_oid, repo, head, sig, sig, "UTF-8",
		    "Example chart and environments\n\nSeeded by previewd as its embedded default GitOps repository.\n",
		    tree, 0, NULL) < 0) {
		error = pv_git_fail("committing the seed");
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

/* ---- open, close, reopen ------------------------------------------------ */

static void tracking_ref(char *buf, size_t len, const struct pv_config *cfg)
{
	snprintf(buf, len, "refs/remotes/origin/%s", cfg->git_branch);
}

static void delete_ref(git_repository *repo, const char *name)
{
	git_reference *ref = NULL;

	if (git_reference_lookup(&ref, repo, name) == 0) {
		git_reference_delete(ref);
		git_reference_free(ref);
	}
}

/*
 * Remove lock files a killed previewd left in its clone (any *.lock under
 * refs/, packed-refs.lock, config.lock...).  Without this a kill -9 during a
 * fetch leaves refs/remotes/origin/main.lock behind and every later fetch
 * fails.
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

static int attach_mempack(struct pv_gitrepo *r)
{
	git_odb *odb = NULL;
	int error;

	r->mempack = NULL;
	if ((error = git_repository_odb(&odb, r->repo)) < 0 || (error = git_mempack_new(&r->mempack)) < 0)
		goto out;
	/* above the loose and pack backends: writes go to the first that can */
	if ((error = git_odb_add_backend(odb, r->mempack, 1000)) < 0) {
		r->mempack->free(r->mempack);
		r->mempack = NULL;
	}
out:
	git_odb_free(odb);
	return error < 0 ? pv_git_fail("setting up the in-memory object store") : 0;
}

/* every pack, and the in-memory backend with its odb */
static void close_clone(struct pv_gitrepo *r)
{
	git_remote_free(r->remote);
	r->remote = NULL;
	git_repository_free(r->repo);
	r->repo = NULL;
	r->mempack = NULL;
}

static int reopen_clone(struct pv_gitrepo *r)
{
	if (git_repository_open_bare(&r->repo, r->path) < 0 || git_remote_lookup(&r->remote, r->repo, "origin") < 0)
		return pv_git_fail("reopening the local clone");
	return attach_mempack(r);
}

int pv_gitrepo_ensure_open(struct pv_gitrepo *r)
{
	if (r->repo && r->remote && r->mempack)
		return 0;
	close_clone(r);
	return reopen_clone(r);
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

/*
 * The URL libgit2 gets: over http(s) without its userinfo, which pusher.c's
 * credential callback hands out instead, to the configured server only.
 * libgit2 would send a URL's credentials itself, and the clone's config
 * would keep the password on disk.  ssh:// keeps its user: libgit2's SSH
 * transport logs in as that user.
 */
void pv_gitrepo_remote_url(char *out, size_t len, const char *url)
{
	if (strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0)
		pv_url_strip_userinfo(out, len, url);
	else
		snprintf(out, len, "%s", url);
}

static int open_remote(struct pv_gitrepo *r)
{
	const struct pv_config *cfg = r->cfg;
	char fetchspec[512], ref[300], url[4096], was[4096];
	int error = git_remote_lookup(&r->remote, r->repo, "origin");

	snprintf(fetchspec, sizeof(fetchspec), "+refs/heads/%s:refs/remotes/origin/%s", cfg->git_branch, cfg->git_branch);
	pv_gitrepo_remote_url(url, sizeof(url), cfg->git_url);
	if (error == GIT_ENOTFOUND) {
		if (git_remote_create_with_fetchspec(&r->remote, r->repo, "origin", url, fetchspec) < 0)
			return pv_git_fail("configuring the remote");
	} else if (error < 0) {
		return pv_git_fail("reading the remote");
	} else if (strcmp(git_remote_url(r->remote), url) != 0) {
		/* the configured URL wins; what we knew of the old remote is void,
		 * unless only its credentials changed (a clone of an earlier
		 * version, which kept them in the URL) */
		pv_gitrepo_remote_url(was, sizeof(was), git_remote_url(r->remote));
		git_remote_free(r->remote);
		r->remote = NULL;
		if (git_remote_set_url(r->repo, "origin", url) < 0 ||
		    git_remote_lookup(&r->remote, r->repo, "origin") < 0)
			return pv_git_fail("updating the remote URL");
		tracking_ref(ref, sizeof(ref), cfg);
		if (strcmp(was, url) != 0)
			delete_ref(r->repo, ref);
	}
	return 0;
}

int pv_gitrepo_open(struct pv_gitrepo **out, const struct pv_config *cfg)
{
	git_repository_init_options opts;
	struct pv_gitrepo *r;
	git_config *c = NULL;
	char ref[300];
	int error;

	*out = NULL;
	if (!(r = calloc(1, sizeof(*r))))
		return oom();
	r->cfg = cfg;
	if (asprintf(&r->path, "%s/clone.git", cfg->data_dir) < 0) {
		r->path = NULL;
		error = oom();
		goto fail;
	}
	remove_stale_locks(r->path, 0);
	if (git_repository_open_bare(&r->repo, r->path) < 0) {
		git_repository_init_options_init(&opts, GIT_REPOSITORY_INIT_OPTIONS_VERSION);
		opts.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_MKPATH;
		opts.initial_head = cfg->git_branch;
		if (git_repository_init_ext(&r->repo, r->path, &opts) < 0) {
			error = pv_git_fail("creating the local clone");
			goto fail;
		}
	}
	if ((error = open_remote(r)) < 0 || (error = attach_mempack(r)) < 0)
		goto fail;
	/* start from what the last run saw, so requests can be validated while
	 * the remote is still unreachable */
	tracking_ref(ref, sizeof(ref), cfg);
	if (git_reference_name_to_id(&r->tip, r->repo, ref) == 0) {
		if (!tip_readable(r->repo, &r->tip)) {
			/* the process ended before writing its last objects: the
			 * server has them, and the first round fetches them */
			char branch[300];
			log_warn("gitops: the local clone lacks its last commit; fetching it again");
			snprintf(branch, sizeof(branch), "refs/heads/%s", cfg->git_branch);
			delete_ref(r->repo, ref);
			/* the push source, which points at the same lost commit */
			delete_ref(r->repo, branch);
			memset(&r->tip, 0, sizeof(r->tip));
		} else {
			r->tip_known = 1;
		}
	}
	/* the repack's delta search keeps its window of objects in memory:
	 * bound it (libgit2 reads these from the repository's config) */
	if (git_repository_config(&c, r->repo) == 0) {
		if (git_config_set_int64(c, "pack.windowMemory", 2 << 20) < 0 ||
		    git_config_set_int64(c, "pack.deltaCacheSize", 1 << 20) < 0) {
			(void)pv_git_fail("configuring the local clone");
			log_warn("gitops: %s", pv_error_last()->message);
		}
		git_config_free(c);
	}
	*out = r;
	return 0;
fail:
	pv_gitrepo_free(r);
	return error;
}

void pv_gitrepo_free(struct pv_gitrepo *r)
{
	if (!r)
		return;
	close_clone(r);
	pv_oidlist_dispose(&r->unflushed);
	free(r->path);
	free(r);
}

int pv_gitrepo_read_tracking(struct pv_gitrepo *r)
{
	char ref[300];
	int error;

	tracking_ref(ref, sizeof(ref), r->cfg);
	error = git_reference_name_to_id(&r->tip, r->repo, ref);
	if (error == GIT_ENOTFOUND)
		memset(&r->tip, 0, sizeof(r->tip)); /* an empty repository: the first commit is a root */
	else if (error < 0)
		return pv_git_fail("reading the fetched branch");
	r->tip_known = 1;
	return 0;
}

int pv_gitrepo_tip_trees(struct pv_gitrepo *r, git_commit **commit, git_tree **root, git_tree **env)
{
	git_tree_entry *e = NULL;
	int rc;

	*commit = NULL;
	*root = *env = NULL;
	if (git_oid_is_zero(&r->tip))
		return 0;
	if (git_commit_lookup(commit, r->repo, &r->tip) < 0 || git_commit_tree(root, *commit) < 0) {
		rc = pv_git_fail("reading the tip");
		goto fail;
	}
	/* read once per round: libgit2 does not cache a tree that large, and a
	 * path lookup from the root would read it again for every row */
	rc = git_tree_entry_bypath(&e, *root, r->cfg->env_dir);
	if (rc == 0 && git_tree_entry_type(e) == GIT_OBJECT_TREE)
		rc = git_tree_lookup(env, r->repo, git_tree_entry_id(e));
	git_tree_entry_free(e);
	if (rc < 0 && rc != GIT_ENOTFOUND) {
		char what[600];
		snprintf(what, sizeof(what), "reading %s at the tip", r->cfg->env_dir);
		rc = pv_git_fail(what);
		goto fail;
	}
	return 0;
fail:
	git_tree_free(*env);
	git_tree_free(*root);
	git_commit_free(*commit);
	*commit = NULL;
	*root = *env = NULL;
	return rc;
}

/* ---- committing a plan -------------------------------------------------- */

/* Git's order of tree entries: names compared bytewise, a tree's name as if
 * it ended in '/' */
static int entry_cmp(const git_tree_entry *a, const git_tree_entry *b)
{
	const char *na = git_tree_entry_name(a), *nb = git_tree_entry_name(b);
	size_t la = strlen(na), lb = strlen(nb), n = la < lb ? la : lb;
	int c = memcmp(na, nb, n);
	unsigned char ca, cb;

	if (c)
		return c;
	ca = la > n ? (unsigned char)na[n] : git_tree_entry_type(a) == GIT_OBJECT_TREE ? '/' : '\0';
	cb = lb > n ? (unsigned char)nb[n] : git_tree_entry_type(b) == GIT_OBJECT_TREE ? '/' : '\0';
	return (int)ca - (int)cb;
}

/*
 * The objects of new_tree that old_tree (NULL: none) does not hold: new_tree
 * itself, and every entry whose id differs from the entry of the same name,
 * descending only into trees that differ.  Both trees are in Git's order, so
 * one merge pass pairs the entries: with N environments that is N id
 * comparisons and no object reads.  An entry the pass fails to pair is
 * listed again, which costs a little space in a pack, never correctness.
 */
static int collect_new_objects(struct pv_oidlist *l, git_repository *repo, const git_tree *old_tree,
	const git_tree *new_tree)
{
	size_t i, j = 0, nn = git_tree_entrycount(new_tree), no = old_tree ? git_tree_entrycount(old_tree) : 0;
	int error;

	if ((error = oidlist_add(l, git_tree_id(new_tree))) < 0)
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
			error = oidlist_add(l, git_tree_entry_id(e));
			break;
		case GIT_OBJECT_TREE:
			if (git_tree_lookup(&sub_new, repo, git_tree_entry_id(e)) < 0 ||
			    (o && git_tree_entry_type(o) == GIT_OBJECT_TREE &&
				    git_tree_lookup(&sub_old, repo, git_tree_entry_id(o)) < 0)) {
				error = pv_git_fail("listing the new objects");
				break;
			}
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

int pv_gitrepo_commit(struct pv_gitrepo *r, git_commit *tip_commit, git_tree *tip_tree, const git_tree *env_tree,
	const struct pv_plan *plan, git_oid *out, struct pv_oidlist *objects, int *unchanged)
{
	git_tree_update *updates = NULL;
	git_tree *base = NULL, *tree = NULL;
	git_signature *sig = NULL;
	git_oid tree_oid;
	int error = 0;

	*unchanged = 0;
	if (plan->n_updates && !(updates = calloc(plan->n_updates, sizeof(*updates))))
		return oom();
	for (size_t i = 0; i < plan->n_updates; i++) {
		const struct pv_plan_update *u = &plan->updates[i];

		updates[i].path = u->path;
		if (u->remove) {
			updates[i].action = GIT_TREE_UPDATE_REMOVE;
			continue;
		}
		updates[i].action = GIT_TREE_UPDATE_UPSERT;
		updates[i].filemode = GIT_FILEMODE_BLOB;
		if (git_blob_create_from_buffer(&updates[i].id, r->repo, u->data, u->len) < 0) {
			error = pv_git_fail("writing a blob");
			goto out;
		}
	}
	if (tip_tree)
		base = tip_tree;
	else if ((error = empty_tree(&base, r->repo)) < 0)
		goto out;
	if (git_tree_create_updated(&tree_oid, r->repo, base, plan->n_updates, updates) < 0) {
		error = pv_git_fail("building the tree");
		goto out;
	}
	if (tip_tree && git_oid_equal(&tree_oid, git_tree_id(tip_tree))) {
		/* Git already holds this state (a retry after a push whose answer
		 * was lost, or removals of folders already gone) */
		*unchanged = 1;
		goto out;
	}
	if (git_tree_lookup(&tree, r->repo, &tree_oid) < 0) {
		error = pv_git_fail("preparing the commit");
		goto out;
	}
	if ((error = signature_now(&sig, r->cfg)) < 0)
		goto out;
	if (git_commit_create(out, r->repo, NULL, sig, sig, "UTF-8", plan->message, tree, tip_commit ? 1 : 0,
		    (const git_commit **)&tip_commit) < 0) {
		error = pv_git_fail("committing");
		goto out;
	}
	/* what the commit adds: what goes to disk once it is pushed */
	if ((error = oidlist_add(objects, out)) < 0 ||
	    (error = collect_new_objects(objects, r->repo, tip_tree, tree)) < 0)
		goto out;
	r->mem_rounds++;
	r->mem_bytes += plan->n_rows * 1024 + (env_tree ? git_tree_entrycount(env_tree) * 40 : 0);
out:
	git_signature_free(sig);
	git_tree_free(tree);
	if (base != tip_tree)
		git_tree_free(base);
	free(updates);
	return error;
}

void pv_gitrepo_pushed(struct pv_gitrepo *r, const git_oid *commit, const struct pv_oidlist *objects)
{
	git_reference *ref = NULL;
	char name[300];

	r->tip = *commit;
	r->tip_known = 1;
	r->commits_since_repack++;
	if (pv_array_reserve(&r->unflushed.v, &r->unflushed.cap, r->unflushed.n + objects->n,
		    sizeof(*r->unflushed.v)) < 0) {
		/* without the whole list the in-memory objects must stay until a
		 * repack, which writes everything the tip needs */
		log_warn("gitops: listing the new objects: %s", pv_error_last()->message);
		r->unflushed_incomplete = 1;
	} else {
		memcpy(r->unflushed.v + r->unflushed.n, objects->v, objects->n * sizeof(*objects->v));
		r->unflushed.n += objects->n;
	}
	tracking_ref(name, sizeof(name), r->cfg);
	if (git_reference_create(&ref, r->repo, name, commit, 1, "previewd: pushed") == 0)
		git_reference_free(ref);
}

/* ---- the in-memory objects ---------------------------------------------- */

/*
 * libgit2's git_mempack_dump is no use here: it packs every commit's whole
 * tree, the entire repository each time.
 */
int pv_gitrepo_flush(struct pv_gitrepo *r)
{
	git_packbuilder *pb = NULL;
	int error = 0;

	if (!r->repo || !r->mempack || r->mem_rounds == 0)
		return 0;
	if (r->unflushed.n) {
		if (git_packbuilder_new(&pb, r->repo) < 0) {
			error = pv_git_fail("writing new objects to the local clone");
			goto out;
		}
		for (size_t i = 0; i < r->unflushed.n; i++)
			if (git_packbuilder_insert(pb, &r->unflushed.v[i], NULL) < 0) {
				error = pv_git_fail("writing new objects to the local clone");
				goto out;
			}
		if (git_packbuilder_write(pb, NULL, 0, NULL, NULL) < 0) {
			/* the objects stay in memory; the next flush tries again */
			error = pv_git_fail("writing new objects to the local clone");
			goto out;
		}
		r->packs_since_repack++;
	}
	r->unflushed.n = 0;
	r->mem_bytes = 0;
	r->mem_rounds = 0;
	if (r->unflushed_incomplete)
		goto out;
	git_mempack_reset(r->mempack);
	if (pb) {
		/* Reopen the repository: libgit2 keeps a cache of delta bases
		 * per open pack (up to 16 MiB each, the env tree among them) and
		 * its pack windows until the packs are closed, so resident
		 * memory grew with the number of packs.  A failed reopen is
		 * retried by the next round. */
		git_packbuilder_free(pb);
		pb = NULL;
		close_clone(r);
		error = reopen_clone(r);
	}
out:
	git_packbuilder_free(pb);
	return error;
}

/* ---- the repack --------------------------------------------------------- */

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

int pv_gitrepo_repack_due(const struct pv_gitrepo *r)
{
	return r->commits_since_repack >= r->cfg->repack_every || r->packs_since_repack >= REPACK_PACKS;
}

/*
 * Every PREVIEWD_REPACK_EVERY commits (or REPACK_PACKS flushes) everything
 * reachable from the tip goes into one pack; the loose objects and the older
 * packs (unreachable leftovers of rejected pushes among them) go, and the
 * repository is reopened so no stale pack stays mapped.
 */
int pv_gitrepo_repack(struct pv_gitrepo *r)
{
	git_packbuilder *pb = NULL;
	git_revwalk *walk = NULL;
	char objects[4096], keep[64];
	int error = 0, removed;

	if (git_oid_is_zero(&r->tip))
		return 0;
	if ((error = pv_gitrepo_flush(r)) < 0 || !r->repo || !r->remote)
		return error;
	/* the walk reads every tree once: caching them only raises the peak */
	git_libgit2_opts(GIT_OPT_ENABLE_CACHING, 0);
	if (git_packbuilder_new(&pb, r->repo) < 0 || git_revwalk_new(&walk, r->repo) < 0 ||
	    git_revwalk_push(walk, &r->tip) < 0 || git_packbuilder_insert_walk(pb, walk) < 0 ||
	    git_packbuilder_write(pb, NULL, 0, NULL, NULL) < 0) {
		git_libgit2_opts(GIT_OPT_ENABLE_CACHING, 1);
		error = pv_git_fail("repacking the local clone");
		goto cleanup;
	}
	git_libgit2_opts(GIT_OPT_ENABLE_CACHING, 1);
	snprintf(keep, sizeof(keep), "pack-%s.", git_packbuilder_name(pb));
	snprintf(objects, sizeof(objects), "%s/objects", r->path);
	git_revwalk_free(walk);
	walk = NULL;
	git_packbuilder_free(pb);
	pb = NULL;
	/* close every handle on the old packs before they go (the mempack,
	 * empty now, goes with the repository's odb) */
	close_clone(r);
	r->unflushed_incomplete = 0; /* the new pack holds all the tip needs */
	removed = remove_loose_and_old_packs(objects, keep);
	if ((error = reopen_clone(r)) < 0)
		goto cleanup;
	r->commits_since_repack = 0;
	r->packs_since_repack = 0;
	log_info("gitops: repacked the local clone into %s (%d files removed)", keep, removed);
cleanup:
	git_revwalk_free(walk);
	git_packbuilder_free(pb);
	return error;
}
