/*
 * pullreq.c - pull-request and comment events turned into environment
 * operations (see pullreq.h): the forges' payloads read, the rule applied,
 * the comment commands.
 */
#include "pullreq.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "forge.h"
#include "log.h"
#include "store.h"
#include "valid.h"

/* ---- the payloads ------------------------------------------------------- */

/* Copy s into out as printable ASCII: it ends up in logs, names and rows. */
static void put(char *out, size_t len, const char *s)
{
	size_t i = 0;

	for (; s && s[i] && i + 1 < len; i++)
		out[i] = (unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f ? '?' : s[i];
	out[i] = '\0';
}

/* The same for a comment's text, whose lines matter. */
static void put_text(char *out, size_t len, const char *s)
{
	size_t i = 0;

	for (; s && s[i] && i + 1 < len; i++)
		out[i] = s[i] == '\n' || s[i] == '\t' ? s[i] : (unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f ? '?' : s[i];
	out[i] = '\0';
}

/* json_string_value of doc's member at a dotted path ("a.b.c"), or NULL. */
static const char *str_at(const json_t *doc, const char *path)
{
	char key[64];
	const char *dot;

	while (doc && (dot = strchr(path, '.')) != NULL) {
		snprintf(key, sizeof(key), "%.*s", (int)(dot - path), path);
		doc = json_object_get(doc, key);
		path = dot + 1;
	}
	return json_string_value(json_object_get(doc, path));
}

static const json_t *at(const json_t *doc, const char *path)
{
	char key[64];
	const char *dot;

	while (doc && (dot = strchr(path, '.')) != NULL) {
		snprintf(key, sizeof(key), "%.*s", (int)(dot - path), path);
		doc = json_object_get(doc, key);
		path = dot + 1;
	}
	return json_object_get(doc, path);
}

static void labels_of(struct pv_pr_event *out, const json_t *labels, const char *key)
{
	const json_t *l;
	size_t i;

	if (!json_is_array(labels))
		return;
	out->labels_known = 1;
	json_array_foreach(labels, i, l) {
		const char *name = json_string_value(json_object_get(l, key));
		if (name && out->nlabels < PV_PR_MAX_LABELS)
			put(out->labels[out->nlabels++], sizeof(out->labels[0]), name);
	}
}

static const struct {
	const char *forge, *action;
	enum pv_pr_what what;
} actions[] = {
	{ "github", "opened", PV_PR_OPEN },
	{ "github", "reopened", PV_PR_OPEN },
	{ "github", "ready_for_review", PV_PR_OPEN },
	{ "github", "synchronize", PV_PR_SYNC },
	{ "github", "closed", PV_PR_CLOSE },
	{ "github", "labeled", PV_PR_CHANGE },
	{ "github", "unlabeled", PV_PR_CHANGE },
	{ "github", "edited", PV_PR_CHANGE },
	{ "gitea", "opened", PV_PR_OPEN },
	{ "gitea", "reopened", PV_PR_OPEN },
	{ "gitea", "synchronized", PV_PR_SYNC },
	{ "gitea", "closed", PV_PR_CLOSE },
	{ "gitea", "label_updated", PV_PR_CHANGE },
	{ "gitea", "label_cleared", PV_PR_CHANGE },
	{ "gitea", "edited", PV_PR_CHANGE },
	{ "gitlab", "open", PV_PR_OPEN },
	{ "gitlab", "reopen", PV_PR_OPEN },
	{ "gitlab", "update", PV_PR_CHANGE }, /* a push when oldrev is set */
	{ "gitlab", "close", PV_PR_CLOSE },
	{ "gitlab", "merge", PV_PR_CLOSE },
};

static enum pv_pr_what what_of(const char *forge, const char *action)
{
	for (size_t i = 0; action && i < sizeof(actions) / sizeof(actions[0]); i++)
		if (strcmp(actions[i].forge, forge) == 0 && strcmp(actions[i].action, action) == 0)
			return actions[i].what;
	return PV_PR_NONE;
}

/* GitHub and Gitea share the pull_request and issue_comment shapes. */
static int parse_hub(struct pv_pr_event *out, const char *forge, int comment, const json_t *doc)
{
	const json_t *pr = json_object_get(doc, comment ? "issue" : "pull_request");
	const json_t *num = json_object_get(pr, "number");

	put(out->repo, sizeof(out->repo), str_at(doc, "repository.full_name"));
	put(out->sender, sizeof(out->sender), str_at(doc, "sender.login"));
	if (!json_is_object(pr) || !json_is_integer(num) || !out->repo[0])
		return pv_error_set(PV_EBADREQ, NULL, "a %s event has a repository.full_name and a %s.number",
			comment ? "comment" : "pull request", comment ? "issue" : "pull_request");
	out->number = json_integer_value(num);
	put(out->author, sizeof(out->author), str_at(pr, "user.login"));
	labels_of(out, json_object_get(pr, "labels"), "name");
	if (comment) {
		/* a comment on an issue that is not a pull request is not ours */
		const json_t *is_pull = json_object_get(doc, "is_pull");
		if (strcmp(out->action, "created") != 0 ||
		    (!json_is_object(json_object_get(pr, "pull_request")) && !json_is_true(is_pull)))
			return 0;
		put_text(out->comment, sizeof(out->comment), str_at(doc, "comment.body"));
		put(out->association, sizeof(out->association), str_at(doc, "comment.author_association"));
		if (str_at(doc, "comment.user.login"))
			put(out->sender, sizeof(out->sender), str_at(doc, "comment.user.login"));
		out->what = PV_PR_COMMENT;
		return 0;
	}
	put(out->head_sha, sizeof(out->head_sha), str_at(pr, "head.sha"));
	put(out->head_branch, sizeof(out->head_branch), str_at(pr, "head.ref"));
	put(out->base_branch, sizeof(out->base_branch), str_at(pr, "base.ref"));
	out->what = what_of(forge, out->action);
	if (out->what != PV_PR_NONE && out->what != PV_PR_CLOSE && !out->head_sha[0])
		return pv_error_set(PV_EBADREQ, NULL, "a pull request event has a pull_request.head.sha");
	return 0;
}

static int parse_gitlab(struct pv_pr_event *out, int comment, const json_t *doc)
{
	const json_t *attrs = json_object_get(doc, "object_attributes");
	const json_t *mr = comment ? json_object_get(doc, "merge_request") : attrs;
	const json_t *iid = json_object_get(mr, "iid"), *pid = at(doc, "project.id");

	put(out->repo, sizeof(out->repo), str_at(doc, "project.path_with_namespace"));
	put(out->sender, sizeof(out->sender), str_at(doc, "user.username"));
	if (json_is_integer(pid))
		snprintf(out->project_id, sizeof(out->project_id), "%lld", (long long)json_integer_value(pid));
	if (comment) {
		const char *type = str_at(attrs, "noteable_type");
		if (!type || strcmp(type, "MergeRequest") != 0)
			return 0; /* a note on an issue, a commit or a snippet */
	}
	if (!json_is_object(attrs) || !json_is_integer(iid) || !out->repo[0])
		return pv_error_set(PV_EBADREQ, NULL, "a merge request event has project.path_with_namespace and an iid");
	out->number = json_integer_value(iid);
	put(out->head_sha, sizeof(out->head_sha), str_at(mr, "last_commit.id"));
	put(out->head_branch, sizeof(out->head_branch), str_at(mr, "source_branch"));
	put(out->base_branch, sizeof(out->base_branch), str_at(mr, "target_branch"));
	if (comment) {
		const json_t *uid = at(doc, "user.id"), *aid = json_object_get(mr, "author_id");
		out->sender_id = json_is_integer(uid) ? json_integer_value(uid) : 0;
		out->sender_is_author = json_is_integer(uid) && json_is_integer(aid) &&
			json_integer_value(uid) == json_integer_value(aid);
		put_text(out->comment, sizeof(out->comment), str_at(attrs, "note"));
		snprintf(out->action, sizeof(out->action), "note");
		out->what = PV_PR_COMMENT;
		return 0;
	}
	put(out->action, sizeof(out->action), str_at(attrs, "action"));
	/* the MR's author is an id only; the user of an open is its author */
	if (strcmp(out->action, "open") == 0)
		put(out->author, sizeof(out->author), out->sender);
	labels_of(out, json_object_get(doc, "labels"), "title");
	out->what = what_of("gitlab", out->action);
	/* an update with oldrev is a push; other updates are edits */
	if (out->what == PV_PR_CHANGE && json_is_string(json_object_get(attrs, "oldrev")))
		out->what = PV_PR_SYNC;
	if (out->what != PV_PR_NONE && out->what != PV_PR_CLOSE && !out->head_sha[0])
		return pv_error_set(PV_EBADREQ, NULL, "a merge request event has object_attributes.last_commit.id");
	return 0;
}

int pv_pullreq_parse(struct pv_pr_event *out, const char *forge, int comment, const char *body, size_t len)
{
	json_t *doc;
	int error;

	memset(out, 0, sizeof(*out));
	if (!(doc = json_loadb(body, len, 0, NULL)) || !json_is_object(doc)) {
		json_decref(doc);
		return pv_error_set(PV_EBADREQ, NULL, "the event is not a JSON object");
	}
	if (strcmp(forge, "gitlab") == 0) {
		error = parse_gitlab(out, comment, doc);
	} else {
		put(out->action, sizeof(out->action), str_at(doc, "action"));
		error = parse_hub(out, forge, comment, doc);
	}
	json_decref(doc);
	if (error == 0 && out->number <= 0 && out->what != PV_PR_NONE)
		error = pv_error_set(PV_EBADREQ, NULL, "a pull request number is positive");
	return error;
}

void pv_pullreq_repo(char *out, size_t len, const char *forge, const char *body, size_t blen)
{
	json_t *doc = json_loadb(body, blen, 0, NULL);

	put(out, len, str_at(doc, strcmp(forge, "gitlab") == 0 ? "project.path_with_namespace" : "repository.full_name"));
	json_decref(doc);
}

/* ---- the rule ----------------------------------------------------------- */

static int has_label(const struct pv_pr_event *ev, const char *label)
{
	for (size_t i = 0; i < ev->nlabels; i++)
		if (strcasecmp(ev->labels[i], label) == 0)
			return 1;
	return 0;
}

/* Why the rule does not want an environment for ev, or NULL when it does. */
static const char *unwanted(const struct pv_prrule *r, const struct pv_pr_event *ev, char *buf, size_t len)
{
	size_t i;

	for (i = 0; i < r->nlabels; i++)
		if (!has_label(ev, r->labels[i])) {
			snprintf(buf, len, "the pull request is not labelled %.60s", r->labels[i]);
			return buf;
		}
	for (i = 0; i < r->nbranches; i++)
		if (strcmp(r->branches[i], ev->base_branch) == 0)
			break;
	if (r->nbranches && i == r->nbranches) {
		snprintf(buf, len, "the pull request targets %.80s, not a branch of the rule", ev->base_branch);
		return buf;
	}
	return NULL;
}

struct act {
	const struct pv_pullreq *pr;
	const char *forge;
	const struct pv_prrule *rule;
	const struct pv_pr_event *ev;
	struct pv_store *st;
	struct pv_pr_row row;
	int known;               /* a pull_requests row exists */
	char requester[80];
	struct pv_actor actor;
	struct pv_prvars vars;
};

static int answer(struct pv_response *resp, int status, const char *what, const char *env, const char *detail)
{
	resp->status = status;
	resp->body = json_pack("{s:s, s:s?, s:s}", "status", what, "environment", env, "detail", detail);
	return resp->body ? 0 : pv_error_set(PV_ERROR, NULL, "out of memory");
}

/* The owner: the author as an environment's owner name. */
static void owner_of(char *out, size_t len, const char *author)
{
	char slug[PV_NAME_MAX + 1];

	pv_prrules_slug(slug, PV_NAME_MAX - 2, author);
	if (!slug[0])
		snprintf(out, len, "unknown");
	else
		snprintf(out, len, "%s%s", isalpha((unsigned char)slug[0]) ? "" : "u-", slug);
}

/* Is the environment of the row live? */
static int live_env(struct act *a, struct pv_env *env)
{
	int error = pv_env_get(a->pr->envs, a->row.env_name, env);

	if (error == PV_ENOTFOUND)
		return 0;
	return error < 0 ? error : pv_env_is_live(env);
}

static int save_row(struct act *a)
{
	int error = pv_store_pr_put(a->st, a->forge, a->ev->repo, a->ev->project_id, a->ev->number, &a->row,
		(int64_t)time(NULL));

	if (error == 0 && a->pr->forge_kick)
		a->pr->forge_kick(a->pr->forge_ctx);
	return error;
}

static int reply(struct act *a, const char *text)
{
	int error;

	if (!a->row.id && (error = pv_store_pr_get(a->st, a->forge, a->ev->repo, a->ev->number, &a->row)) < 0)
		return error;
	if ((error = pv_store_pr_reply(a->st, a->row.id, text, (int64_t)time(NULL))) == 0 && a->pr->forge_kick)
		a->pr->forge_kick(a->pr->forge_ctx);
	return error;
}

static int filled_values(struct act *a, json_t **out)
{
	*out = NULL;
	if (!a->rule->values)
		return 0;
	if (pv_prrules_values(out, a->rule->values, &a->vars) < 0)
		return pv_error_set(PV_EINVAL, "values", "the rule's values: %s", pv_error_last()->message);
	return 0;
}

static int do_create(struct act *a, struct pv_response *resp)
{
	char owner[PV_NAME_MAX + 1], detail[320];
	json_t *values = NULL, *ttl = a->rule->ttl ? json_string(a->rule->ttl) : NULL;
	json_t *idle = a->rule->idle_ttl ? json_integer(a->rule->idle_ttl) : NULL;
	struct pv_env env = { 0 };
	struct pv_env_spec spec = { 0 };
	int error;

	owner_of(owner, sizeof(owner), a->row.author);
	if ((error = filled_values(a, &values)) < 0)
		goto out;
	spec = (struct pv_env_spec){ .owner = owner, .name = a->row.env_name, .base = a->rule->base, .ttl = ttl,
		.values = values, .idle_ttl = idle };
	if ((error = pv_env_create(a->pr->envs, &a->actor, &spec, NULL, &env)) < 0)
		goto out;
	log_info("pullreq: %s %s#%lld opened by %s: environment %s", a->forge, a->ev->repo, a->ev->number,
		a->row.author, env.name);
	snprintf(detail, sizeof(detail), "environment %s for %s#%lld", env.name, a->ev->repo, a->ev->number);
	error = answer(resp, 202, "created", env.name, detail);
out:
	pv_env_dispose(&env);
	json_decref(values);
	json_decref(ttl);
	json_decref(idle);
	return error;
}

static int do_update(struct act *a, struct pv_response *resp)
{
	json_t *values = NULL;
	struct pv_env env = { 0 };
	struct pv_env_change change = { 0 };
	int error;

	if ((error = filled_values(a, &values)) < 0)
		goto out;
	/* without a values template a push still counts as activity */
	change.values = values ? values : (values = json_object());
	if ((error = pv_env_patch(a->pr->envs, &a->actor, a->row.env_name, &change, NULL, &env)) < 0)
		goto out;
	log_info("pullreq: %s %s#%lld at %.12s: environment %s updated", a->forge, a->ev->repo, a->ev->number,
		a->row.head_sha, env.name);
	error = answer(resp, 202, "updated", env.name, "the values follow the new head");
out:
	pv_env_dispose(&env);
	json_decref(values);
	return error;
}

static int do_delete(struct act *a, struct pv_response *resp, const char *why)
{
	struct pv_env env = { 0 };
	int error = pv_env_delete(a->pr->envs, &a->actor, a->row.env_name, NULL, &env);

	pv_env_dispose(&env);
	if (error == PV_ENOTFOUND)
		return answer(resp, 202, "ignored", a->row.env_name, "no live environment to delete");
	if (error < 0)
		return error;
	log_info("pullreq: %s %s#%lld: environment %s deleted (%s)", a->forge, a->ev->repo, a->ev->number,
		a->row.env_name, why);
	return answer(resp, 202, "deleting", a->row.env_name, why);
}

/* A pull request event: the state the rule wants, made so. */
static int on_pull_request(struct act *a, struct pv_response *resp)
{
	const struct pv_pr_event *ev = a->ev;
	char why[200];
	const char *no = ev->what == PV_PR_CLOSE ? "the pull request was closed" : unwanted(a->rule, ev, why, sizeof(why));
	struct pv_env env = { 0 };
	int live, error;

	if (ev->head_sha[0])
		put(a->row.head_sha, sizeof(a->row.head_sha), ev->head_sha);
	if (ev->head_branch[0])
		put(a->row.head_branch, sizeof(a->row.head_branch), ev->head_branch);
	if (!a->row.author[0])
		put(a->row.author, sizeof(a->row.author), ev->author[0] ? ev->author : ev->sender);
	snprintf(a->row.state, sizeof(a->row.state), "%s", ev->what == PV_PR_CLOSE ? "closed" : "open");
	a->vars.branch = a->row.head_branch;
	a->vars.sha = a->row.head_sha;
	a->vars.author = a->row.author;
	if (!a->known && (error = pv_prrules_name(a->row.env_name, a->rule->name, &a->vars)) < 0)
		return error;
	if (no && !a->known)
		return answer(resp, 202, "ignored", NULL, no);
	if ((error = save_row(a)) < 0 || (error = pv_store_pr_get(a->st, a->forge, ev->repo, ev->number, &a->row)) < 0)
		return error;
	a->known = 1;
	live = live_env(a, &env);
	pv_env_dispose(&env);
	if (live < 0)
		return live;
	if (no)
		return live ? do_delete(a, resp, no) : answer(resp, 202, "ignored", a->row.env_name, no);
	if (!live)
		return do_create(a, resp);
	if (ev->what == PV_PR_SYNC)
		return do_update(a, resp);
	return answer(resp, 200, "ok", a->row.env_name, "the environment is live");
}

/* The first line of a comment, if it is a /preview command. */
static int command_of(const char *comment, char *verb, size_t vlen, char *arg, size_t alen)
{
	const char *p = comment;

	while (*p == ' ' || *p == '\t' || *p == '\n')
		p++;
	if (strncmp(p, "/preview", 8) != 0 || (p[8] && p[8] != ' ' && p[8] != '\t' && p[8] != '\r' && p[8] != '\n'))
		return 0;
	verb[0] = arg[0] = '\0';
	if (sscanf(p + 8, " %31[a-z] %31[^ \t\r\n]", verb, arg) < 1)
		return 1;
	(void)vlen;
	(void)alen;
	return 1;
}

static int may_command(const struct act *a)
{
	const struct pv_pr_event *ev = a->ev;
	int member;

	if (ev->sender_is_author || (ev->sender[0] && strcasecmp(ev->sender, a->row.author) == 0))
		return 1;
	for (size_t i = 0; i < a->rule->ncommenters; i++)
		if (strcasecmp(a->rule->commenters[i], ev->sender) == 0)
			return 1;
	/* GitHub's payload says the association; GitLab's and Gitea's carry
	 * none, so the forge is asked (a refusal when it cannot be) */
	if (strcmp(a->forge, "github") == 0)
		return strcmp(ev->association, "OWNER") == 0 || strcmp(ev->association, "MEMBER") == 0 ||
		       strcmp(ev->association, "COLLABORATOR") == 0;
	if ((member = pv_forge_member(pv_env_config(a->pr->envs), a->forge, ev->repo, ev->project_id, ev->sender_id,
		     ev->sender)) < 0)
		log_warn("pullreq: cannot ask %s whether %s may run /preview on %s: %s", a->forge, ev->sender, ev->repo,
			pv_error_last()->message);
	return member > 0;
}

static int on_comment(struct act *a, struct pv_response *resp)
{
	char verb[32], arg[32], text[512];
	struct pv_env env = { 0 };
	int error = 0, live;

	if (!command_of(a->ev->comment, verb, sizeof(verb), arg, sizeof(arg)))
		return answer(resp, 202, "ignored", NULL, "the comment is no /preview command");
	if (!a->known)
		return answer(resp, 202, "ignored", NULL, "previewd has no environment for this pull request");
	a->vars.branch = a->row.head_branch;
	a->vars.sha = a->row.head_sha;
	a->vars.author = a->row.author;
	if (!may_command(a)) {
		snprintf(text, sizeof(text), "@%s, sorry: only the author of the pull request and its repository's "
			 "members may run /preview commands.", a->ev->sender);
		if ((error = reply(a, text)) < 0)
			return error;
		return answer(resp, 202, "refused", a->row.env_name, text);
	}
	if (strcmp(verb, "extend") == 0 && arg[0]) {
		json_t *ttl = json_string(arg);
		struct pv_env_change change = { .ttl = ttl };
		error = pv_env_patch(a->pr->envs, &a->actor, a->row.env_name, &change, NULL, &env);
		json_decref(ttl);
		if (error == 0)
			snprintf(text, sizeof(text), "@%s extended %s by %s.", a->ev->sender, a->row.env_name, arg);
	} else if (strcmp(verb, "delete") == 0) {
		error = pv_env_delete(a->pr->envs, &a->actor, a->row.env_name, NULL, &env);
		if (error == 0)
			snprintf(text, sizeof(text), "@%s deleted %s.", a->ev->sender, a->row.env_name);
	} else if (strcmp(verb, "redeploy") == 0) {
		live = live_env(a, &env);
		pv_env_dispose(&env);
		memset(&env, 0, sizeof(env));
		if (live < 0)
			return live;
		if (live) {
			json_t *values = NULL;
			struct pv_env_change change = { 0 };
			if ((error = filled_values(a, &values)) == 0) {
				change.values = values ? values : (values = json_object());
				error = pv_env_patch(a->pr->envs, &a->actor, a->row.env_name, &change, NULL, &env);
			}
			json_decref(values);
		} else {
			struct pv_response ignore = { 0 };
			error = do_create(a, &ignore);
			json_decref(ignore.body);
		}
		if (error == 0)
			snprintf(text, sizeof(text), "@%s redeployed %s at %.7s.", a->ev->sender, a->row.env_name,
				a->row.head_sha);
	} else if (strcmp(verb, "sleep") == 0 || strcmp(verb, "wake") == 0) {
		int asleep = strcmp(verb, "sleep") == 0;
		error = asleep ? pv_env_sleep(a->pr->envs, &a->actor, a->row.env_name, NULL, &env)
			       : pv_env_wake(a->pr->envs, &a->actor, a->row.env_name, NULL, &env);
		if (error == 0)
			snprintf(text, sizeof(text), "@%s %s %s.", a->ev->sender, asleep ? "put to sleep" : "woke",
				a->row.env_name);
	} else {
		snprintf(text, sizeof(text), "@%s, previewd knows /preview extend DURATION (such as 4h), "
			 "/preview delete, /preview redeploy, /preview sleep and /preview wake.", a->ev->sender);
		if ((error = reply(a, text)) < 0)
			return error;
		return answer(resp, 202, "refused", a->row.env_name, text);
	}
	pv_env_dispose(&env);
	if (error == PV_EUNAVAIL || error == PV_EBUSY || error == PV_ERROR)
		return error;
	if (error < 0)
		snprintf(text, sizeof(text), "@%s, /preview %s did not work: %.400s", a->ev->sender, verb,
			pv_error_last()->message);
	{
		int e = reply(a, text);
		if (e < 0)
			return e;
	}
	return answer(resp, 202, error < 0 ? "refused" : "done", a->row.env_name, text);
}

int pv_pullreq_handle(const struct pv_pullreq *pr, const char *forge, const char *delivery,
	const struct pv_pr_event *ev, struct pv_response *resp)
{
	struct act a = { .pr = pr, .forge = forge, .ev = ev };
	char detail[320];
	int error, fresh = 1;

	if (!pr || !pr->rules || !pr->envs || !(a.rule = pv_prrules_find(pr->rules, forge, ev->repo))) {
		snprintf(detail, sizeof(detail), "no rule of PREVIEWD_PR_RULES for %s repository %.200s", forge, ev->repo);
		return answer(resp, 202, "ignored", NULL, detail);
	}
	if (ev->what == PV_PR_NONE) {
		snprintf(detail, sizeof(detail), "previewd does not act on the action %.31s", ev->action[0] ? ev->action : "(none)");
		return answer(resp, 202, "ignored", NULL, detail);
	}
	if ((error = pv_env_store(pr->envs, &a.st)) < 0)
		return error;
	if (delivery && *delivery && (error = pv_store_delivery_claim(a.st, forge, delivery, (int64_t)time(NULL), &fresh)) < 0)
		return error;
	if (!fresh)
		return answer(resp, 200, "duplicate", NULL, "this delivery was acted on before");
	snprintf(a.requester, sizeof(a.requester), "%s:%s", forge, ev->sender[0] ? ev->sender : "unknown");
	a.actor = (struct pv_actor){ .name = a.requester, .role = PV_ROLE_WRITER, .from = NULL };
	a.vars = (struct pv_prvars){ .repo = ev->repo, .number = ev->number };
	error = pv_store_pr_get(a.st, forge, ev->repo, ev->number, &a.row);
	if (error == 0)
		a.known = 1;
	else if (error != PV_ENOTFOUND)
		goto out;
	error = ev->what == PV_PR_COMMENT ? on_comment(&a, resp) : on_pull_request(&a, resp);
	if (error < 0 && error != PV_EUNAVAIL && error != PV_EBUSY && error != PV_ERROR) {
		/* the forge cannot mend a refusal by redelivering: 202 with the
		 * reason, and the pull request shows it */
		char text[512];
		snprintf(text, sizeof(text), "previewd could not act on this pull request: %.440s", pv_error_last()->message);
		log_warn("pullreq: %s %s#%lld: %s", forge, ev->repo, ev->number, text);
		if (a.known && reply(&a, text) < 0)
			log_warn("pullreq: %s", pv_error_last()->message);
		error = answer(resp, 202, "failed", a.row.env_name[0] ? a.row.env_name : NULL, text);
	}
out:
	/* a transient failure is redelivered by the forge: it must act then */
	if ((error == PV_EUNAVAIL || error == PV_EBUSY || error == PV_ERROR) && delivery && *delivery &&
	    pv_store_delivery_forget(a.st, forge, delivery) < 0)
		log_warn("pullreq: %s", pv_error_last()->message);
	return error;
}
