/*
 * appset.c - the ApplicationSet for previewd's folders, and the advice that
 * keeps the repository's own set off them (see appset.h).
 */
#include "appset.h"

#include <ctype.h>
#include <git2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "env.h"
#include "url.h"

/* templates and ApplicationSets bigger than this are not read */
#define MAX_TEXT ((git_object_size_t)256 << 10)

/* ------------------------------------------------------------ the clone */

struct walk {
	git_repository *repo;
	const struct pv_config *cfg;
	struct pv_appset_repo *out;
	char templates[600]; /* "<chart>/templates/", or "templates/" */
	char glob[600];      /* "<env_dir>/STAR/values.yaml", what the people's set reads */
	char env_prefix[600];
};

/* the blob's text, NUL-terminated and malloc'd; NULL if too big or unreadable */
static char *blob_text(git_repository *repo, const git_oid *id)
{
	git_blob *b;
	char *s = NULL;
	git_object_size_t n;

	if (git_blob_lookup(&b, repo, id) < 0)
		return NULL;
	n = git_blob_rawsize(b);
	if (n <= MAX_TEXT && (s = malloc((size_t)n + 1))) {
		memcpy(s, git_blob_rawcontent(b), (size_t)n);
		s[n] = '\0';
	}
	git_blob_free(b);
	return s;
}

/* the value of the first line of doc whose key (after indent) is key, its
 * quotes and trailing comment dropped; "" if none.  A plain line scan: the
 * sets it reads are the short, hand-written kind. */
static void line_value(char *out, size_t len, const char *doc, const char *key, const char *indent)
{
	size_t klen = strlen(key);

	out[0] = '\0';
	for (const char *l = doc; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
		const char *v = l, *end;

		if (indent) {
			if (strncmp(v, indent, strlen(indent)) != 0 || v[strlen(indent)] == ' ')
				continue;
			v += strlen(indent);
		} else {
			v += strspn(v, " -");
		}
		if (strncmp(v, key, klen) != 0 || v[klen] != ':')
			continue;
		v += klen + 1;
		v += strspn(v, " \t");
		end = v + strcspn(v, "\n");
		for (const char *h = v; h < end; h++)
			if (*h == '#' && h > v && isspace((unsigned char)h[-1])) {
				end = h;
				break;
			}
		while (end > v && isspace((unsigned char)end[-1]))
			end--;
		if (end - v >= 2 && (*v == '"' || *v == '\'') && end[-1] == *v) {
			v++;
			end--;
		}
		snprintf(out, len, "%.*s", (int)(end - v), v);
		return;
	}
}

/* the document of text (split at "---" lines) that holds needle; NULL if none */
static char *document_with(char *text, const char *needle)
{
	char *doc = text;

	for (;;) {
		char *sep = strstr(doc, "\n---"), *hit = strstr(doc, needle);

		if (!hit)
			return NULL;
		if (!sep || hit < sep) {
			if (sep)
				sep[1] = '\0';
			return doc;
		}
		doc = sep + 4;
	}
}

static void read_people_set(struct walk *w, const char *path, char *text)
{
	struct pv_appset_repo *o = w->out;
	char *doc, metadata_name[128], go[16];
	const char *meta;

	char needle[700];

	if (o->people_path[0])
		return;
	/* a generator's entry, not a mention in a comment: path: then the glob */
	doc = NULL;
	for (const char *q = "\"'"; !doc && *q; q++) {
		snprintf(needle, sizeof(needle), "path: %.1s%s%.1s", q, w->glob, q);
		doc = document_with(text, needle);
	}
	if (!doc) {
		snprintf(needle, sizeof(needle), "path: %s\n", w->glob);
		doc = document_with(text, needle);
	}
	if (!doc || !strstr(doc, "kind: ApplicationSet"))
		return;
	snprintf(o->people_path, sizeof(o->people_path), "%s", path);
	meta = strstr(doc, "\nmetadata:");
	line_value(metadata_name, sizeof(metadata_name), meta ? meta + 1 : doc, "name", "  ");
	snprintf(o->people_name, sizeof(o->people_name), "%s", metadata_name);
	line_value(o->people_repo, sizeof(o->people_repo), doc, "repoURL", NULL);
	line_value(o->people_rev, sizeof(o->people_rev), doc, "revision", NULL);
	line_value(go, sizeof(go), doc, "goTemplate", "  ");
	o->people_go = strcmp(go, "true") == 0;
}

static void read_template(struct walk *w, char *text)
{
	struct pv_appset_repo *o = w->out;
	const char *h;

	if (strstr(text, ".Values.domain"))
		o->domain = 1;
	if (!o->host[0] && (h = strstr(text, "host:"))) {
		size_t n = strcspn(h, "\n");

		while (n && isspace((unsigned char)h[n - 1]))
			n--;
		snprintf(o->host, sizeof(o->host), "%.*s", (int)n, h);
	}
}

static int walk_cb(const char *root, const git_tree_entry *e, void *payload)
{
	struct walk *w = payload;
	const char *name = git_tree_entry_name(e);
	size_t n = strlen(name);
	char path[1200], *text;

	if (git_tree_entry_type(e) != GIT_OBJECT_BLOB)
		return 0;
	snprintf(path, sizeof(path), "%s%s", root, name);
	/* the env folders hold values, not charts or sets */
	if (strncmp(path, w->env_prefix, strlen(w->env_prefix)) == 0)
		return 0;
	if (!(n > 5 && strcmp(name + n - 5, ".yaml") == 0) && !(n > 4 && strcmp(name + n - 4, ".yml") == 0) &&
	    !(n > 4 && strcmp(name + n - 4, ".tpl") == 0))
		return 0;
	if (!(text = blob_text(w->repo, git_tree_entry_id(e))))
		return 0;
	if (w->out->chart_found && strncmp(root, w->templates, strlen(w->templates)) == 0)
		read_template(w, text);
	else
		read_people_set(w, path, text);
	free(text);
	return 0;
}

/* the folders of env_dir at the tip that hold a values.yaml but no previewd.json */
static void people_folders(git_repository *repo, git_tree *root, const char *env_dir, struct pv_appset_repo *o)
{
	git_tree_entry *ee;
	git_tree *envs;
	size_t used = 0;

	if (git_tree_entry_bypath(&ee, root, env_dir) < 0)
		return;
	if (git_tree_lookup(&envs, repo, git_tree_entry_id(ee)) == 0) {
		for (size_t i = 0; i < git_tree_entrycount(envs); i++) {
			const git_tree_entry *e = git_tree_entry_byindex(envs, i);
			git_tree *t;

			if (git_tree_entry_type(e) != GIT_OBJECT_TREE || git_tree_lookup(&t, repo, git_tree_entry_id(e)) < 0)
				continue;
			if (git_tree_entry_byname(t, "values.yaml") && !git_tree_entry_byname(t, "previewd.json") &&
			    used + strlen(git_tree_entry_name(e)) + 3 < sizeof(o->people_folders))
				used += (size_t)snprintf(o->people_folders + used, sizeof(o->people_folders) - used, "%s%s",
					used ? ", " : "", git_tree_entry_name(e));
			git_tree_free(t);
		}
		git_tree_free(envs);
	}
	git_tree_entry_free(ee);
}

/* the deepest folder above env_dir that holds Chart.yaml */
static void find_chart(git_tree *root, const char *env_dir, struct pv_appset_repo *o)
{
	char dir[512], probe[600];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", env_dir);
	while ((slash = strrchr(dir, '/'))) {
		git_tree_entry *e;

		*slash = '\0';
		snprintf(probe, sizeof(probe), "%s/Chart.yaml", dir);
		if (git_tree_entry_bypath(&e, root, probe) == 0) {
			git_tree_entry_free(e);
			snprintf(o->chart, sizeof(o->chart), "%s", dir);
			o->chart_found = 1;
			return;
		}
	}
	if (git_tree_entry_byname(root, "Chart.yaml")) {
		snprintf(o->chart, sizeof(o->chart), ".");
		o->chart_found = 1;
	}
}

int pv_appset_read_repo(const struct pv_config *cfg, struct pv_appset_repo *o)
{
	git_repository *repo = NULL;
	git_commit *c = NULL;
	git_tree *root = NULL;
	git_oid tip;
	char path[4200], ref[300];
	struct walk w = { 0 };
	const char *slash = strrchr(cfg->env_dir, '/');

	memset(o, 0, sizeof(*o));
	/* until the tip says otherwise, the chart is ENV_DIR's parent */
	snprintf(o->chart, sizeof(o->chart), "%.*s", slash ? (int)(slash - cfg->env_dir) : 1, slash ? cfg->env_dir : ".");
	snprintf(path, sizeof(path), "%s/clone.git", cfg->data_dir);
	snprintf(ref, sizeof(ref), "refs/remotes/origin/%s", cfg->git_branch);
	if (git_repository_open_ext(&repo, path, GIT_REPOSITORY_OPEN_NO_SEARCH | GIT_REPOSITORY_OPEN_BARE, NULL) < 0) {
		snprintf(o->why, sizeof(o->why), "no local clone at %s (previewd has not run with this data dir)", path);
		return 0;
	}
	if (git_reference_name_to_id(&tip, repo, ref) < 0 || git_commit_lookup(&c, repo, &tip) < 0 ||
	    git_commit_tree(&root, c) < 0) {
		const git_error *e = git_error_last();

		snprintf(o->why, sizeof(o->why), "the clone's %s cannot be read (%s)", ref, e && e->message ? e->message : "no tip yet");
		goto out;
	}
	find_chart(root, cfg->env_dir, o);
	people_folders(repo, root, cfg->env_dir, o);
	w.repo = repo;
	w.cfg = cfg;
	w.out = o;
	if (strcmp(o->chart, ".") == 0)
		snprintf(w.templates, sizeof(w.templates), "templates/");
	else
		snprintf(w.templates, sizeof(w.templates), "%s/templates/", o->chart);
	snprintf(w.glob, sizeof(w.glob), "%s/*/values.yaml", cfg->env_dir);
	snprintf(w.env_prefix, sizeof(w.env_prefix), "%s/", cfg->env_dir);
	if (git_tree_walk(root, GIT_TREEWALK_PRE, walk_cb, &w) < 0) {
		snprintf(o->why, sizeof(o->why), "the tip's tree cannot be read");
		goto out;
	}
	o->inspected = 1;
out:
	git_tree_free(root);
	git_commit_free(c);
	git_repository_free(repo);
	return 0;
}

/* ------------------------------------------------------------ the print */

/* previewd-<env_dir as a DNS label>: distinct per env folder, and from the
 * people's set */
static void set_name(char *out, size_t len, const struct pv_config *cfg, const struct pv_appset_repo *r)
{
	size_t n = (size_t)snprintf(out, len, "previewd-%s", cfg->env_dir);

	for (size_t i = strlen("previewd-"); i < n && i < len; i++)
		out[i] = isalnum((unsigned char)out[i]) ? (char)tolower((unsigned char)out[i]) : '-';
	if (r && strcmp(out, r->people_name) == 0)
		snprintf(out + strlen(out), len - strlen(out), "-previews");
}

static int print_people_advice(struct pv_strbuf *out, const struct pv_config *cfg, const struct pv_appset_repo *r,
			       const char *repo)
{
	const char *gen_repo = r && r->people_repo[0] ? r->people_repo : repo;
	const char *gen_rev = r && r->people_rev[0] ? r->people_rev : cfg->git_branch;
	int error;

	if (r && r->people_path[0])
		error = pv_strbuf_printf(out,
			"# The repository's own ApplicationSet, %s (\"%s\"), makes an Application\n"
			"# for every %s/*/values.yaml: previewd's folders hold one too, so it\n"
			"# makes the same names as the set below.\n",
			r->people_path, r->people_name, cfg->env_dir);
	else
		error = pv_strbuf_printf(out,
			"# %s\n"
			"# If an ApplicationSet of yours reads %s/*/values.yaml, it makes an\n"
			"# Application for previewd's folders too (they hold one), with the same\n"
			"# names as the set below.\n",
			r && r->inspected ? "No ApplicationSet in the repository reads the env folders." :
					    "The repository's own ApplicationSet was not looked for.",
			cfg->env_dir);
	if (error < 0)
		return error;
	if (r && r->people_go)
		return pv_strbuf_printf(out,
			"# It uses goTemplate, where Argo CD's merge generator cannot match on\n"
			"# path.basename (merge keys are looked up at the top level of a parameter\n"
			"# set, and goTemplate nests it): replace its generators by a list\n"
			"# generator of its own folders, those of %s/ without previewd.json:\n"
			"#   %s\n",
			cfg->env_dir, r->people_folders[0] ? r->people_folders : "(none at the tip)");
	return pv_strbuf_printf(out,
		"# Keep it off them by replacing its generators, and nothing else, with the\n"
		"# lines between BEGIN and END (uncommented). Its name, its template and so\n"
		"# its Applications stay as they are; a folder drops out of it when a\n"
		"# previewd.json with \"managed_by\": \"previewd\" appears there. This needs\n"
		"# its default templating (no goTemplate): the merge key path.basename is\n"
		"# a top-level parameter only there.\n"
		"# BEGIN people's generators\n"
		"#  generators:\n"
		"#    - merge:\n"
		"#        mergeKeys:\n"
		"#          - path.basename\n"
		"#        generators:\n"
		"#          - git:\n"
		"#              repoURL: \"%s\"\n"
		"#              revision: \"%s\"\n"
		"#              files:\n"
		"#                - path: \"%s/*/values.yaml\"\n"
		"#          - git:\n"
		"#              repoURL: \"%s\"\n"
		"#              revision: \"%s\"\n"
		"#              files:\n"
		"#                - path: \"%s/*/previewd.json\"\n"
		"#      selector:\n"
		"#        matchExpressions:\n"
		"#          - key: managed_by\n"
		"#            operator: NotIn\n"
		"#            values:\n"
		"#              - previewd\n"
		"# END people's generators\n"
		"#\n",
		gen_repo, gen_rev, cfg->env_dir, gen_repo, gen_rev, cfg->env_dir);
}

int pv_appset_print(const struct pv_config *cfg, const struct pv_appset_repo *r, struct pv_strbuf *out)
{
	char repo[1024], chart[512], values[600], name[200];
	const char *dflt = cfg->default_cluster && *cfg->default_cluster ? cfg->default_cluster : "in-cluster";
	const char *rel;
	int domain = !r || !r->inspected || !r->chart_found || r->domain;
	int error;

	if (pv_env_check_cluster(dflt) < 0)
		return pv_error_set(PV_EINVAL, "PREVIEWD_DEFAULT_CLUSTER", "%s", pv_error_last()->message);
	/* the repository as Argo CD should know it, without credentials: Argo
	 * CD keeps those in its own repository secrets */
	pv_url_strip_userinfo(repo, sizeof(repo), cfg->argocd_repo_url && *cfg->argocd_repo_url ? cfg->argocd_repo_url : cfg->git_url);
	if (r)
		snprintf(chart, sizeof(chart), "%s", r->chart);
	else {
		const char *slash = strrchr(cfg->env_dir, '/');

		snprintf(chart, sizeof(chart), "%.*s", slash ? (int)(slash - cfg->env_dir) : 1, slash ? cfg->env_dir : ".");
	}
	/* valueFiles are relative to the chart's folder, which is above env_dir */
	rel = strcmp(chart, ".") == 0 ? cfg->env_dir : cfg->env_dir + strlen(chart) + 1;
	snprintf(values, sizeof(values), "%s/{{ .path.basename }}/values.yaml", rel);
	set_name(name, sizeof(name), cfg, r);

	error = pv_strbuf_printf(out,
		"# previewd print-applicationset: one Argo CD Application per folder previewd\n"
		"# wrote in %s/ (found by its previewd.json), to apply beside the\n"
		"# repository's own ApplicationSet:\n"
		"#   kubectl -n argocd apply -f this-file.yaml\n"
		"# Each goes to the Argo CD cluster named by the file's \"cluster\" (written\n"
		"# when the request or PREVIEWD_DEFAULT_CLUSTER names one), else %s,\n"
		"# into namespace <name>, labelled as previewd's; only these Applications\n"
		"# get the resources finalizer and pruning from this set.\n"
		"#\n",
		cfg->env_dir, dflt);
	if (error < 0)
		return error;
	if (!r || !r->inspected)
		error = pv_strbuf_printf(out,
			"# The repository was not read (%s): the chart is assumed\n"
			"# at %s and to read .Values.domain.\n#\n",
			r ? r->why : "not asked", chart);
	else if (!r->chart_found)
		error = pv_strbuf_printf(out,
			"# No Chart.yaml above %s/ at the branch tip: the chart is assumed at %s.\n#\n",
			cfg->env_dir, chart);
	else if (!r->domain)
		error = pv_strbuf_printf(out,
			"# Domain: the chart's templates (%s/templates) do not read .Values.domain,\n"
			"# so PREVIEWD_DOMAIN (%s) is not passed to them: the hosts are what the\n"
			"# chart hardcodes (%s). Make PREVIEWD_DOMAIN match them, or the\n"
			"# environments' URLs previewd reports are wrong.\n#\n",
			chart, cfg->domain, r->host[0] ? r->host : "no host: line found");
	if (error < 0 || (error = print_people_advice(out, cfg, r, repo)) < 0)
		return error;
	error = pv_strbuf_printf(out,
		"apiVersion: argoproj.io/v1alpha1\n"
		"kind: ApplicationSet\n"
		"metadata:\n"
		"  name: %s\n"
		"  namespace: argocd\n"
		"spec:\n"
		"  # goTemplate for Sprig's default: a previewd.json without \"cluster\" goes\n"
		"  # to %s (with fasttemplate the literal \"{{cluster}}\" would remain)\n"
		"  goTemplate: true\n"
		"  generators:\n"
		"    - git:\n"
		"        repoURL: \"%s\"\n"
		"        revision: \"%s\"\n"
		"        files:\n"
		"          - path: \"%s/*/previewd.json\"\n"
		"      selector:\n"
		"        matchLabels:\n"
		"          managed_by: previewd\n"
		"  template:\n"
		"    metadata:\n"
		"      name: \"{{ .path.basename }}\"\n"
		"      labels:\n"
		"        app.kubernetes.io/managed-by: previewd\n"
		"        previewd.io/instance: '{{ .instance | default \"\" }}'\n"
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
		"            - \"%s\"\n",
		name, dflt, repo, cfg->git_branch, cfg->env_dir, repo, cfg->git_branch, chart, values);
	if (error == 0 && domain)
		error = pv_strbuf_printf(out,
			"          parameters:\n"
			"            - name: domain\n"
			"              value: \"%s\"\n",
			cfg->domain);
	if (error == 0)
		error = pv_strbuf_printf(out,
			"      destination:\n"
			"        name: '{{ default \"%s\" .cluster }}'\n"
			"        namespace: \"{{ .path.basename }}\"\n"
			"      syncPolicy:\n"
			"        automated:\n"
			"          prune: true\n"
			"          selfHeal: true\n"
			"        syncOptions:\n"
			"          - CreateNamespace=true\n"
			"        managedNamespaceMetadata:\n"
			"          labels:\n"
			"            app.kubernetes.io/managed-by: previewd\n"
			"            previewd.io/env: \"{{ .path.basename }}\"\n",
			dflt);
	return error;
}
