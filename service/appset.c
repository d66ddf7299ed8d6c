/*
 * appset.c - the ApplicationSet matching the configuration (see appset.h).
 */
#include "appset.h"

#include <stdio.h>
#include <string.h>

#include "url.h"

int pv_appset_print(const struct pv_config *cfg, struct pv_strbuf *out)
{
	char repo[1024], chart[512];
	const char *slash = strrchr(cfg->env_dir, '/');
	const char *base = slash ? slash + 1 : cfg->env_dir;

	/* the repository as Argo CD should know it, without credentials: Argo
	 * CD keeps those in its own repository secrets */
	pv_url_strip_userinfo(repo, sizeof(repo), cfg->argocd_repo_url && *cfg->argocd_repo_url ? cfg->argocd_repo_url : cfg->git_url);
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
