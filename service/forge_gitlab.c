/*
 * forge_gitlab.c - a merge request's environment on GitLab: a commit status
 * on the head and the sticky merge request note (forge.h).
 *
 * REST shapes (docs.gitlab.com/api): POST /projects/:id/statuses/:sha
 * {state, name, target_url, description}; POST
 * /projects/:id/merge_requests/:iid/notes {body}, PUT
 * /projects/:id/merge_requests/:iid/notes/:note_id {body}.  :id is the
 * numeric project id from the webhook, or the URL-encoded path.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forge_int.h"

/* asleep, the commit's environment is still a success: it wakes as it was */
static const char *state_of(const char *status)
{
	return strcmp(status, "pending") == 0 ? "pending"
	     : strcmp(status, "active") == 0 ? "running"
	     : strcmp(status, "ready") == 0 || strcmp(status, "sleeping") == 0 ? "success" : "failed";
}

static int commit_status(struct pv_forge_api *api, const char *project, struct pv_pr *pr,
	const struct pv_forge_report *want)
{
	char path[512], name[96], desc[140];
	json_t *body;
	long status;
	int error;

	snprintf(path, sizeof(path), "/projects/%s/statuses/%s", project, want->sha);
	snprintf(name, sizeof(name), "preview/%s", pr->env_name);
	if (*want->reason)
		snprintf(desc, sizeof(desc), "%.139s", want->reason);
	else
		snprintf(desc, sizeof(desc), "previewd: %s", want->status);
	if (!(body = json_pack("{s:s, s:s, s:s, s:s}", "state", state_of(want->status), "name", name, "target_url",
		      want->url, "description", desc)))
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	error = pv_forge__call(api, "POST", path, body, NULL, &status);
	json_decref(body);
	/* GitLab refuses a status the commit already has ("Cannot transition
	 * status via :run from :running"): a retry after a lost answer */
	if (error < 0 && status == 400 && strstr(pv_error_last()->message, "transition"))
		error = 0;
	return error;
}

int pv_forge_gitlab_report(struct pv_forge_api *api, struct pv_pr *pr, const struct pv_forge_report *want,
	const json_t *was)
{
	char project[600], create[800], edit[900], *text, *esc;
	int error = 0;

	if (*pr->project_id) {
		snprintf(project, sizeof(project), "%s", pr->project_id);
	} else {
		if (!(esc = curl_easy_escape(api->curl, pr->repo, 0)))
			return pv_error_set(PV_ERROR, NULL, "out of memory");
		snprintf(project, sizeof(project), "%s", esc);
		curl_free(esc);
	}
	/* a removed environment keeps its commit's last status: the note says
	 * it is gone */
	if (strcmp(want->status, "deleted") != 0 && pv_forge__moved(was, want))
		error = commit_status(api, project, pr, want);
	if (error < 0)
		return error;
	if (!(text = pv_forge__comment(api->cfg, pr, want)))
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	snprintf(create, sizeof(create), "/projects/%s/merge_requests/%lld/notes", project, (long long)pr->number);
	snprintf(edit, sizeof(edit), "/projects/%s/merge_requests/%lld/notes/%s", project, (long long)pr->number,
		pr->comment_id);
	error = pv_forge__sticky(api, pr, create, edit, "PUT", text);
	free(text);
	return error;
}
