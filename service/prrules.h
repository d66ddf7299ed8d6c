/*
 * prrules.h - PREVIEWD_PR_RULES: which pull requests become environments,
 * and how (pullreq.h acts on them).
 *
 * DESIGN
 *
 * One YAML file, read once at start-up (and by `previewd check`), one rule
 * per source repository:
 *
 *	repositories:
 *	  - repo: org/frontend          # GitHub/Gitea full_name, GitLab path_with_namespace
 *	    forge: github               # github | gitlab | gitea
 *	    name: "{repo}-pr-{number}"  # the default; {repo} is the last path segment
 *	    base: dev                   # default PREVIEWD_BASE_ENV
 *	    values: { frontend: { tag: "pr-{number}-{sha7}" } }
 *	    labels: [preview]           # only pull requests carrying all of these
 *	    branches: [main]            # only pull requests into these
 *	    idle_ttl: 2d                # expire 2d after the last push
 *	    ttl: 8h                     # or a plain TTL (default PREVIEWD_DEFAULT_TTL)
 *	    commenters: [alice]         # besides the author and the forge's members
 *	    secret_file: /run/hook-fe   # this repository's webhook secret
 *
 * Placeholders in name and in the string values of values: {repo},
 * {number}, {branch}, {branch_slug} (a DNS label of the branch), {sha},
 * {sha7}, {author}; any other {...} is an error of the file, not of an
 * event.  The filled name is made a DNS label (lowercase, [a-z0-9-], starts
 * with a letter) of at most PV_NAME_MAX characters: a longer one is cut and
 * ends in "-" and 6 hex digits of the SHA-256 of the whole, so two long
 * branch names never meet in one environment.
 *
 * The file is parsed with the values reader (values_read.c, libyaml), so
 * it has Helm's YAML rules and limits; unknown keys are errors, so a typo
 * is found by `previewd check`, not by a pull request that did nothing.
 *
 * Threads: loaded on main, then read-only; the fill functions are pure.
 */
#ifndef PV_PRRULES_H
#define PV_PRRULES_H

#include <jansson.h>
#include <stddef.h>

#include "error.h"
#include "valid.h"

struct pv_prrule {
	char *forge;            /* "github" | "gitlab" | "gitea" */
	char *repo;
	char *name;             /* the name template */
	char *base;             /* NULL: PREVIEWD_BASE_ENV */
	json_t *values;         /* the values template; NULL: none */
	char **labels;
	size_t nlabels;
	char **branches;
	size_t nbranches;
	char **commenters;
	size_t ncommenters;
	long long idle_ttl;     /* seconds; 0: none */
	char *ttl;              /* the ttl as written; NULL: the default */
	char *secret;           /* the webhook secret read from secret_file; NULL: PREVIEWD_GIT_WEBHOOK_SECRET */
};

struct pv_prrules {
	struct pv_prrule *v;
	size_t n;
};

/* What an event fills the templates with; NULL members fill as "". */
struct pv_prvars {
	const char *repo;       /* the full repository path; {repo} is its last segment */
	long long number;
	const char *branch;
	const char *sha;
	const char *author;
};

/* Parse the rules in yaml (path names the file in messages).  0, or
 * PV_EINVAL with a message naming the rule and key. */
int pv_prrules_parse(struct pv_prrules **out, const char *yaml, size_t len, const char *path) PV_WARN_UNUSED;

/* Read and parse the file at path. */
int pv_prrules_load(struct pv_prrules **out, const char *path) PV_WARN_UNUSED;

void pv_prrules_free(struct pv_prrules *rules);

/* The rule for forge's repo (case-insensitive, as the forges compare), or NULL. */
const struct pv_prrule *pv_prrules_find(const struct pv_prrules *rules, const char *forge, const char *repo);

/* 1 if any rule has a secret of its own. */
int pv_prrules_has_secret(const struct pv_prrules *rules);

/* tmpl with its placeholders filled into out (len bytes).  PV_EINVAL for
 * an unknown or unclosed placeholder, PV_ETOOBIG when it does not fit. */
int pv_prrules_fill(char *out, size_t len, const char *tmpl, const struct pv_prvars *vars) PV_WARN_UNUSED;

/* The environment name for vars: the template filled and made a DNS label
 * of at most PV_NAME_MAX characters (see DESIGN). */
int pv_prrules_name(char out[PV_NAME_MAX + 1], const char *tmpl, const struct pv_prvars *vars) PV_WARN_UNUSED;

/* s as a DNS label of at most max characters ([a-z0-9-], no leading or
 * trailing '-'; "" stays ""). */
void pv_prrules_slug(char *out, size_t max, const char *s);

/* The values template with every string filled (a new reference in *out). */
int pv_prrules_values(json_t **out, const json_t *tmpl, const struct pv_prvars *vars) PV_WARN_UNUSED;

#endif
