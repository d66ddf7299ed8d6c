/*
 * forge_member.c - whether a commenter may run /preview commands on GitLab
 * and Gitea (see forge.h, pv_forge_member).
 *
 * GitHub's comment payload carries the commenter's author_association, so
 * pullreq.c decides there without a call.  GitLab's Note Hook and Gitea's
 * issue_comment carry no access level, so the forge is asked, once per
 * command (commands are rare; a cache would make a removed member's rights
 * outlive the removal):
 *
 *   GitLab  GET /projects/ID/members/all/USER_ID: 200 with access_level,
 *           Developer (30) and above may; 404 is not a member.
 *   Gitea   GET /repos/OWNER/NAME/collaborators/USER: 204 a collaborator
 *           (owners and organisation teams with access included), 404 not.
 *
 * The call runs on the HTTP thread that took the webhook, bounded by the
 * webhook timeout, on a handle of its own: the pv-forge thread's handle is
 * that thread's alone.
 */
#include "forge.h"

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

#include "forge_int.h"

#define GITLAB_DEVELOPER 30

/* The request path for forge's membership question, or a pv_error code. */
static int member_path(char *out, size_t len, const char *forge, const char *repo, const char *project_id,
	long long user_id, const char *user)
{
	char *esc;
	int n;

	if (strcmp(forge, "gitlab") == 0) {
		if (!project_id || !*project_id || strspn(project_id, "0123456789") != strlen(project_id) || user_id <= 0)
			return pv_error_set(PV_EINVAL, NULL, "the note names no project id or user id");
		n = snprintf(out, len, "/projects/%s/members/all/%lld", project_id, user_id);
	} else {
		if (!pv_forge__repo_ok(repo) || !user || !*user)
			return pv_error_set(PV_EINVAL, NULL, "the comment names no repository or user");
		if (!(esc = curl_easy_escape(NULL, user, 0)))
			return pv_error_set(PV_ERROR, NULL, "out of memory");
		n = snprintf(out, len, "/repos/%s/collaborators/%s", repo, esc);
		curl_free(esc);
	}
	if (n < 0 || (size_t)n >= len)
		return pv_error_set(PV_EINVAL, NULL, "the membership path is too long");
	return 0;
}

int pv_forge_member(const struct pv_config *cfg, const char *forge, const char *repo, const char *project_id,
	long long user_id, const char *user)
{
	struct pv_forge_api api = { 0 };
	char base[600], path[1024];
	json_t *answer = NULL, *level;
	long status = 0;
	int error, on;

	if (strcmp(forge, "gitlab") != 0 && strcmp(forge, "gitea") != 0)
		return pv_error_set(PV_EINVAL, NULL, "%s says who may in its payload", forge);
	if ((on = pv_forge__api_setup(&api, cfg, forge, base, sizeof(base))) < 0)
		return on;
	if (!on)
		return pv_error_set(PV_EUNAVAIL, NULL, "previewd has no %s token to ask with", forge);
	if ((error = member_path(path, sizeof(path), forge, repo, project_id, user_id, user)) < 0)
		return error;
	if (!(api.curl = curl_easy_init()))
		return pv_error_set(PV_ERROR, NULL, "cannot create a CURL handle");
	error = pv_forge__call(&api, "GET", path, NULL, &answer, &status);
	curl_easy_cleanup(api.curl);
	if (error < 0 && status == 404)
		return 0;
	if (error < 0)
		return error;
	if (strcmp(forge, "gitea") == 0) {
		json_decref(answer);
		return status == 204;
	}
	level = json_object_get(answer, "access_level");
	on = json_is_integer(level) && json_integer_value(level) >= GITLAB_DEVELOPER;
	json_decref(answer);
	return on;
}
