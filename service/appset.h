/*
 * appset.h - `previewd print-applicationset`: the Argo CD ApplicationSet
 * that deploys the folders this configuration writes, made to sit beside
 * the repository's own ApplicationSet.  Main thread.
 *
 * DESIGN
 *
 * A repository previewd writes to usually has its own ApplicationSet already
 * (the seed's helm-env/applicationset.yaml: a Git files generator on
 * ENV_DIR/<name>/values.yaml, Application name {{path.basename}}).  That set
 * turns previewd's folders into Applications too, since they hold a
 * values.yaml as well; a second set that did the same would make a second
 * Application of the same name for every preview.  So the two sets split the
 * folders between them by previewd.json:
 *
 * - previewd's set (printed) reads only ENV_DIR/<name>/previewd.json, keeps
 *   only files with "managed_by": "previewd" (a post selector), and puts
 *   each Application on the cluster named by the file's "cluster"
 *   (destination.name), its labels, finalizer and pruning being previewd's;
 * - the people's set keeps its name, template and Applications; only its
 *   generators change, printed as a comment to paste: a merge generator of
 *   its own values.yaml files and the previewd.json files on path.basename,
 *   and a post selector that drops the sets that got "managed_by" from a
 *   previewd.json.  That needs fasttemplate (Argo CD looks merge keys up at
 *   the top level of a parameter set, and goTemplate nests path.basename);
 *   for a goTemplate set the comment lists its folders for a list generator.
 *
 * What the print knows of the repository (the chart's folder, whether its
 * templates read .Values.domain, the people's set) comes from the local
 * clone's last tip, read without fetching; without a readable clone it says
 * so and assumes the parent of ENV_DIR is the chart.
 */
#ifndef PV_APPSET_H
#define PV_APPSET_H

#include "config.h"
#include "error.h"
#include "strbuf.h"

/* What the branch tip says about the repository. */
struct pv_appset_repo {
	int inspected;          /* the tip was read; else why says why not */
	char why[256];
	int chart_found;        /* chart holds Chart.yaml */
	char chart[512];        /* the chart's folder ("." the root) */
	int domain;             /* a template reads .Values.domain */
	char host[160];         /* else the first "host:" line of the templates, trimmed */
	char people_path[512];  /* an ApplicationSet reading ENV_DIR/<name>/values.yaml; "" none */
	char people_name[128];  /* its metadata.name */
	char people_repo[512];  /* its generator's repoURL, "" unknown */
	char people_rev[128];   /* its generator's revision, "" unknown */
	int people_go;          /* it sets goTemplate: true */
	char people_folders[1024]; /* folders of ENV_DIR without previewd.json, ", "-separated */
};

/* Read DATA_DIR/clone.git's tracking ref (no fetch).  Fills out; a clone
 * that is absent or unreadable is not an error (out->inspected = 0). */
int pv_appset_read_repo(const struct pv_config *cfg, struct pv_appset_repo *out) PV_WARN_UNUSED;

/* The ApplicationSet as YAML, with the advice for the people's set in
 * comments, appended to out.  repo may be NULL (nothing known). */
int pv_appset_print(const struct pv_config *cfg, const struct pv_appset_repo *repo, struct pv_strbuf *out) PV_WARN_UNUSED;

#endif
