/*
 * forge_github.c - a pull request's environment on GitHub: a Deployment
 * per commit with its statuses, and the sticky issue comment (forge.h).
 *
 * REST shapes (docs.github.com/rest): POST /repos/{owner}/{repo}/deployments
 * {ref, environment, auto_merge, required_contexts, transient_environment,
 * production_environment} answers 201 with the deployment's id; POST
 * .../deployments/{id}/statuses {state, environment_url, log_url,
 * description, auto_inactive}; POST /repos/{owner}/{repo}/issues/{n}/comments
 * {body} and PATCH /repos/{owner}/{repo}/issues/comments/{id} {body}.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forge_int.h"

/* asleep is inactive (nothing serves it) until a wake makes it success again */
static const char *state_of(const char *status)
{
	return strcmp(status, "pending") == 0 ? "queued"
	     : strcmp(status, "active") == 0 ? "in_progress"
	     : strcmp(status, "ready") == 0 ? "success"
	     : strcmp(status, "failed") == 0 ? "failure" : "inactive";
}

/* The deployment of want->sha: made once per commit. */
static int deployment(struct pv_forge_api *api, struct pv_pr *pr, const struct pv_forge_report *want, int *made)
{
	char path[512], env[96], id[32];
	json_t *body, *answer = NULL;
	long status;
	int error;

	*made = 0;
	if (*pr->deployment_id && strcmp(pr->deployment_sha, want->sha) == 0)
		return 0;
	snprintf(path, sizeof(path), "/repos/%s/deployments", pr->repo);
	snprintf(env, sizeof(env), "preview/%s", pr->env_name);
	/* auto_merge off and no required contexts: the head is deployed as it
	 * is, GitHub neither merges the base into it nor waits for checks */
	body = json_pack("{s:s, s:s, s:s, s:b, s:[], s:b, s:b, s:{s:I}}", "ref", want->sha, "environment", env,
		"description", "previewd preview environment", "auto_merge", 0, "required_contexts",
		"transient_environment", 1, "production_environment", 0, "payload", "pull_request",
		(json_int_t)pr->number);
	if (!body)
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	error = pv_forge__call(api, "POST", path, body, &answer, &status);
	json_decref(body);
	if (error < 0)
		return error;
	pv_forge__id(answer, id, sizeof(id));
	json_decref(answer);
	if (!*id)
		return pv_error_set(PV_EUNAVAIL, NULL, "POST %s: the answer carries no deployment id", path);
	snprintf(pr->deployment_id, sizeof(pr->deployment_id), "%s", id);
	snprintf(pr->deployment_sha, sizeof(pr->deployment_sha), "%s", want->sha);
	*made = 1;
	return pv_store_pr_made(api->store, pr->id, NULL, id, want->sha);
}

static int deployment_status(struct pv_forge_api *api, struct pv_pr *pr, const struct pv_forge_report *want)
{
	char path[512], log_url[512], desc[140];
	json_t *body;
	long status;
	int error;

	snprintf(path, sizeof(path), "/repos/%s/deployments/%s/statuses", pr->repo, pr->deployment_id);
	snprintf(log_url, sizeof(log_url), "%s/v1/environments/%s", api->cfg->public_url, pr->env_name);
	if (*want->reason)
		snprintf(desc, sizeof(desc), "%.139s", want->reason);
	else
		snprintf(desc, sizeof(desc), "previewd: %s", want->status);
	body = json_pack("{s:s, s:s, s:s, s:b}", "state", state_of(want->status), "log_url", log_url,
		"description", desc, "auto_inactive", 1);
	if (body && strcmp(want->status, "deleted") != 0)
		json_object_set_new(body, "environment_url", json_string(want->url));
	if (!body)
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	error = pv_forge__call(api, "POST", path, body, NULL, &status);
	json_decref(body);
	return error;
}

int pv_forge_github_report(struct pv_forge_api *api, struct pv_pr *pr, const struct pv_forge_report *want,
	const json_t *was)
{
	char create[512], edit[512], *text;
	int made = 0, error = 0;

	if (!pv_forge__repo_ok(pr->repo))
		return pv_error_set(PV_EINVAL, NULL, "'%.64s' is no GitHub repository name", pr->repo);
	/* a pull request closed before anything was deployed gets no
	 * deployment just to mark it inactive */
	if (strcmp(want->status, "deleted") != 0)
		error = deployment(api, pr, want, &made);
	if (error == 0 && *pr->deployment_id && (made || pv_forge__moved(was, want)))
		error = deployment_status(api, pr, want);
	if (error < 0)
		return error;
	if (!(text = pv_forge__comment(api->cfg, pr, want)))
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	snprintf(create, sizeof(create), "/repos/%s/issues/%lld/comments", pr->repo, (long long)pr->number);
	snprintf(edit, sizeof(edit), "/repos/%s/issues/comments/%s", pr->repo, pr->comment_id);
	error = pv_forge__sticky(api, pr, create, edit, "PATCH", text);
	free(text);
	return error;
}
