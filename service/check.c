/*
 * check.c - `previewd check`: the Git remote as previewd sees it (see
 * check.h).
 */
#include "check.h"
#include "prrules.h"

#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gitrepo.h"
#include "planner.h"
#include "pusher.h"
#include "url.h"

int pv_check_tree(struct pv_check_tree *out, git_repository *repo, const git_tree *root, const struct pv_config *cfg)
{
	git_tree_entry *e = NULL;
	git_tree *env = NULL, *base = NULL;
	const git_tree_entry *b;
	int error = 0;

	memset(out, 0, sizeof(*out));
	snprintf(out->base_why, sizeof(out->base_why), "%s/ does not exist on the branch", cfg->env_dir);
	if (!root || git_tree_entry_bypath(&e, root, cfg->env_dir) < 0 || git_tree_entry_type(e) != GIT_OBJECT_TREE)
		goto out;
	if (git_tree_lookup(&env, repo, git_tree_entry_id(e)) < 0) {
		error = pv_git_fail("reading the env folder");
		goto out;
	}
	out->env_dir = 1;
	for (size_t i = 0; i < git_tree_entrycount(env); i++)
		out->folders += git_tree_entry_type(git_tree_entry_byindex(env, i)) == GIT_OBJECT_TREE;
	/* a base is a folder people manage with a values.yaml (env.c's rule) */
	if (!(b = git_tree_entry_byname(env, cfg->base_env)) || git_tree_entry_type(b) != GIT_OBJECT_TREE) {
		snprintf(out->base_why, sizeof(out->base_why), "%s/%s/ does not exist on the branch", cfg->env_dir,
			cfg->base_env);
		goto out;
	}
	if (git_tree_lookup(&base, repo, git_tree_entry_id(b)) < 0) {
		error = pv_git_fail("reading the base folder");
		goto out;
	}
	if (!git_tree_entry_byname(base, PV_PLAN_VALUES_FILE))
		snprintf(out->base_why, sizeof(out->base_why), "%s/%s/ has no %s", cfg->env_dir, cfg->base_env,
			PV_PLAN_VALUES_FILE);
	else if (git_tree_entry_byname(base, PV_PLAN_MANAGED_FILE))
		snprintf(out->base_why, sizeof(out->base_why), "%s/%s/ is an environment previewd manages, not a base",
			cfg->env_dir, cfg->base_env);
	else
		out->base = 1;
out:
	git_tree_free(base);
	git_tree_free(env);
	git_tree_entry_free(e);
	return error;
}

/* ---- the online check --------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* "ok", "FAIL" or "--" (not checked), the step, what was found */
static void PV_PRINTF(5, 6) line(FILE *out, int *failed, int ok, const char *what, const char *fmt, ...)
{
	va_list ap;

	fprintf(out, "%-5s %-12s", ok > 0 ? "ok" : ok == 0 ? "FAIL" : "--", what);
	va_start(ap, fmt);
	vfprintf(out, fmt, ap);
	va_end(ap);
	fputc('\n', out);
	if (ok == 0)
		*failed = 1;
}

int pv_check_run(const struct pv_config *cfg, FILE *out)
{
	struct pv_config tmp = *cfg; /* the same settings, a clone of its own */
	struct pv_gitrepo *repo = NULL;
	struct pv_pusher *pusher = NULL;
	struct pv_check_tree t;
	git_commit *c = NULL;
	git_tree *root = NULL, *env = NULL;
	char dir[4096], shown[512], tip[GIT_OID_HEXSZ + 1];
	const char *base = getenv("TMPDIR");
	int failed = 0, error;

	pv_url_redact(shown, sizeof(shown), cfg->git_url);
	fprintf(out, "previewd check: %s, branch %s, env dir %s/, base %s\n", shown, cfg->git_branch, cfg->env_dir,
		cfg->base_env);
	snprintf(dir, sizeof(dir), "%s/previewd-check.XXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(dir)) {
		fprintf(out, "FAIL  %-12s%s\n", "local", "cannot create a temporary folder");
		return 1;
	}
	tmp.data_dir = dir;
	if ((error = pv_gitrepo_open(&repo, &tmp)) < 0 || (error = pv_pusher_new(&pusher, &tmp)) < 0) {
		line(out, &failed, 0, "local", "%s", pv_error_last()->message);
		goto out;
	}
	error = pv_pusher_fetch(pusher, repo);
	if (error == PV_EAUTH) {
		/* the server answered, and said no */
		line(out, &failed, 1, "reachable", "%s", "the Git server answered");
		line(out, &failed, 0, "credentials", "%s", pv_error_last()->message);
	} else if (error < 0) {
		line(out, &failed, 0, "reachable", "%s", pv_error_last()->message);
		line(out, &failed, -1, "credentials", "%s", "not checked");
	} else {
		line(out, &failed, 1, "reachable", "%s", "the Git server answered");
		line(out, &failed, 1, "credentials", "%s", "accepted (or none needed)");
	}
	if (error < 0) {
		line(out, &failed, -1, "branch", "%s", "not checked");
		line(out, &failed, -1, "env dir", "%s", "not checked");
		line(out, &failed, -1, "base env", "%s", "not checked");
		goto out;
	}
	if (git_oid_is_zero(&repo->tip)) {
		line(out, &failed, 0, "branch", "%s does not exist on the Git server", cfg->git_branch);
		line(out, &failed, -1, "env dir", "%s", "not checked");
		line(out, &failed, -1, "base env", "%s", "not checked");
		goto out;
	}
	git_oid_tostr(tip, sizeof(tip), &repo->tip);
	line(out, &failed, 1, "branch", "%s exists (tip %.12s)", cfg->git_branch, tip);
	if (pv_gitrepo_tip_trees(repo, &c, &root, &env) < 0 || pv_check_tree(&t, repo->repo, root, cfg) < 0) {
		line(out, &failed, 0, "env dir", "%s", pv_error_last()->message);
		goto out;
	}
	if (t.env_dir)
		line(out, &failed, 1, "env dir", "%s/ exists (%zu folders)", cfg->env_dir, t.folders);
	else
		line(out, &failed, 0, "env dir", "%s/ does not exist on the branch", cfg->env_dir);
	if (t.base)
		line(out, &failed, 1, "base env", "%s/%s/values.yaml exists", cfg->env_dir, cfg->base_env);
	else if (!t.env_dir)
		line(out, &failed, -1, "base env", "%s", "not checked (no env dir)");
	else
		line(out, &failed, 0, "base env", "%s", t.base_why);
out:
	if (cfg->pr_rules && *cfg->pr_rules) {
		/* the rules need no Git: checked whatever the remote said */
		struct pv_prrules *rules = NULL;
		if (pv_prrules_load(&rules, cfg->pr_rules) < 0)
			line(out, &failed, 0, "pr rules", "%s", pv_error_last()->message);
		else
			line(out, &failed, 1, "pr rules", "%s: %zu rule(s)", cfg->pr_rules, rules->n);
		pv_prrules_free(rules);
	}
	fprintf(out, failed ? "previewd check: FAILED\n" : "previewd check: all good\n");
	git_tree_free(env);
	git_tree_free(root);
	git_commit_free(c);
	pv_pusher_free(pusher);
	pv_gitrepo_free(repo);
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return failed;
}
