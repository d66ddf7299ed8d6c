/*
 * forge.h - the pv-forge thread: each pull request's environment shown on
 * the pull request, on GitHub, GitLab and Gitea.
 *
 * DESIGN
 *
 * The reporter reconciles; it consumes no events.  Each pass reads the
 * pull_requests rows that are due (store_forge.h) with the latest record of
 * each one's environment and computes the report the forge should show:
 *
 *	{"status": pending|active|ready|failed|deleted, "url": "http://NAME.DOMAIN",
 *	 "health": Argo CD's health, "expires_at": unix seconds, "sha": head,
 *	 "reply_gen": the last comment command's outcome shown}
 *
 * pending is not in Git yet (or not yet created), active is in Git, ready
 * is in Git and Healthy in Argo CD (in Git is enough without
 * PREVIEWD_ARGOCD_URL: nothing else will ever say more), failed is Git's
 * refusal, deleted is a closed pull request or a removed environment.
 * When the report differs from the row's `reported` (the last one the
 * forge accepted) it is sent, and stored once every call succeeded:
 *
 *   GitHub  a Deployment of head_sha to environment "preview/NAME", made
 *           once per commit (deployment_id, deployment_sha), and its
 *           statuses queued / in_progress / success with environment_url /
 *           failure / inactive; one sticky issue comment, made once
 *           (comment_id) and PATCHed after.
 *   GitLab  a commit status "preview/NAME" on head_sha with target_url
 *           (pending / running / success / failed); one sticky merge
 *           request note, made once and PUT after.
 *   Gitea   a commit status "preview/NAME" on head_sha with target_url
 *           (pending / success / failure); one sticky comment.
 *
 * What a forge made is recorded the moment it answers, so a retry edits
 * the comment and reuses the deployment instead of making new ones; a
 * report is stored only after the forge took all of it, so a crash or a
 * failure sends it again (at least once; a repeated status is harmless).
 *
 * Rate limits: a 429, or a 403 that carries Retry-After,
 * X-RateLimit-Remaining: 0 (GitLab: RateLimit-Remaining) or says "rate
 * limit", holds every row of that forge until Retry-After seconds or the
 * X-RateLimit-Reset (RateLimit-Reset) time, a minute when the answer names
 * none, an hour at most whatever it names (its numbers are outside input,
 * as are the ids it answers: only digits go into a path); the hold is in
 * next_attempt_at, so it outlives a restart.  Any
 * other failure backs that row off, doubling from 2 s to 5 minutes while
 * the forge keeps failing.  Nothing is dropped: the desired report is
 * recomputed at each pass from the rows, so a later one supersedes what
 * could not be sent.
 *
 * Tokens go in one header to their forge's host only (no redirects
 * followed) and are never logged; errors name the method, the path and
 * the status.
 */
#ifndef PV_FORGE_H
#define PV_FORGE_H

#include "config.h"
#include "error.h"

struct pv_forge;

/*
 * Whether user may run /preview commands on repo as a member: GitLab
 * Developer or above on project_id (user_id is the note's user.id), a
 * Gitea collaborator of repo (forge_member.c).  1 yes, 0 no, or a pv_error
 * code when the forge could not be asked (no token, unreachable, another
 * answer): the caller refuses then.  Blocks for up to the webhook timeout.
 */
int pv_forge_member(const struct pv_config *cfg, const char *forge, const char *repo, const char *project_id,
	long long user_id, const char *user);

/* Whether any forge has a token: main starts the thread only then. */
int pv_forge_wanted(const struct pv_config *cfg);

/* Start pv-forge on its own connection to db_path and its own CURL
 * handle. */
int pv_forge_start(struct pv_forge **out, const struct pv_config *cfg, const char *db_path) PV_WARN_UNUSED;

/* A pull request or an environment changed: one more pass soon.  Any
 * thread; a no-op on NULL. */
void pv_forge_kick(struct pv_forge *f);

/* Stop the thread (after its call in flight) and free f.  NULL is fine. */
void pv_forge_free(struct pv_forge *f);

#endif
