/*
 * forge_gitea.c - a pull request's environment on Gitea (and Forgejo): a
 * commit status on the head and the sticky comment (forge.h).
 *
 * REST shapes (Gitea's swagger, /api/v1): POST
 * /repos/{owner}/{repo}/statuses/{sha} {state, target_url, description,
 * context}; POST /repos/{owner}/{repo}/issues/{index}/comments {body},
 * PATCH /repos/{owner}/{repo}/issues/comments/{id} {body}.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forge_int.h"

static const char *state_of(const char *status)
{
	/* asleep, the commit's environment is still a success: it wakes as it was */
	return strcmp(status, "ready") == 0 || strcmp(status, "sleeping") == 0 ? "success"
	     : strcmp(status, "failed") == 0 ? "failure" : "pending";
}

static int commit_status(struct pv_forge_api *api, struct pv_pr *pr, const struct pv_forge_report *want)
{
	char path[512], context[96], desc[140];
	json_t *body;
	long status;
	int error;

	snprintf(path, sizeof(path), "/repos/%s/statuses/%s", pr->repo, want->sha);
	snprintf(context, sizeof(context), "preview/%s", pr->env_name);
	if (*want->reason)
		snprintf(desc, sizeof(desc), "%.139s", want->reason);
	else
		snprintf(desc, sizeof(desc), "previewd: %s", want->status);
	if (!(body = json_pack("{s:s, s:s, s:s, s:s}", "state", state_of(want->status), "target_url", want->url,
		      "description", desc, "context", context)))
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	error = pv_forge__call(api, "POST", path, body, NULL, &status);
	json_decref(body);
	return error;
}

int pv_forge_gitea_report(struct pv_forge_api *api, struct pv_pr *pr, const struct pv_forge_report *want,
	const json_t *was)
{
	char create[512], edit[512], *text;
	int error = 0;

	if (!pv_forge__repo_ok(pr->repo))
		return pv_error_set(PV_EINVAL, NULL, "'%.64s' is no Gitea repository name", pr->repo);
	if (strcmp(want->status, "deleted") != 0 && pv_forge__moved(was, want))
		error = commit_status(api, pr, want);
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
