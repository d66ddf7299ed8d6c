/*
 * pullreq.h - pull requests (GitHub, Gitea) and merge requests (GitLab)
 * turned into environments: the event parsed, the rule applied, env.c's
 * create, values change or delete made, the pull_requests row written for
 * the forge's reporter (forge.h), comment commands answered.
 *
 * DESIGN
 *
 * hooks.c verifies the delivery, then hands pull-request and comment kinds
 * here.  A delivery id seen before (X-GitHub-Delivery, X-Gitlab-Event-UUID,
 * X-Gitea-Delivery; table hook_deliveries) is answered 200 "duplicate" and
 * does nothing; one that failed on a transient error (the database) is
 * forgotten so the forge's redelivery acts.  A repository without a rule
 * of PREVIEWD_PR_RULES is 202 "ignored".
 *
 * The lifecycle is a rule applied to the pull request's current state, not
 * a replay of actions: an open pull request that passes the rule's labels
 * and branches filters wants an environment, anything else wants none.
 *	opened, reopened, labeled, unlabeled, edited: want it -> create (if
 *	  none is live); want none -> delete (if one is live)
 *	synchronize (a push): the values template filled for the new head,
 *	  a values change; it counts as activity for idle_ttl
 *	closed (merged or not): delete
 * The environment is named by the rule's template (prrules.h), owned by the
 * pull request's author (made a name: "Octo_Cat" -> "octo-cat") and
 * requested by the forge user who caused the event ("github:login").
 *
 * Comment commands, the first line of a comment on the pull request:
 *	/preview extend 4h    a PATCH of ttl
 *	/preview delete       a delete
 *	/preview redeploy     the values for the head written again (or the
 *	                      environment created again when it is gone)
 * Who may: the pull request's author, anyone named in the rule's
 * commenters, and on GitHub a comment whose author_association is OWNER,
 * MEMBER or COLLABORATOR.  GitLab's Note Hook does not carry the access
 * level of the note's author, and Gitea's comment payload no association:
 * there the author and commenters may (asking the forge's API per comment
 * is the reporter's business, not the hook's).  Every outcome, refusals
 * included, is written to pull_requests.reply (reply_gen + 1) and the
 * reporter edits it into the sticky comment: previewd never posts a
 * second comment.
 *
 * Threads: HTTP worker threads, through env.c's per-thread connections;
 * pv_pullreq_parse is pure (the fuzz target drives it).
 */
#ifndef PV_PULLREQ_H
#define PV_PULLREQ_H

#include <stddef.h>

#include "api.h"
#include "env.h"
#include "error.h"
#include "prrules.h"

/* What the daemon hands the hooks: the rules, the rules' doors to the
 * environments, and the reporter's kick (pv_forge_kick; may be NULL). */
struct pv_pullreq {
	const struct pv_prrules *rules;
	struct pv_envs *envs;
	void (*forge_kick)(void *ctx);
	void *forge_ctx;
};

enum pv_pr_what {
	PV_PR_NONE,      /* an action previewd does not act on */
	PV_PR_OPEN,      /* opened, reopened, ready for review */
	PV_PR_SYNC,      /* a new head */
	PV_PR_CLOSE,     /* closed or merged */
	PV_PR_CHANGE,    /* labels, target branch or title changed: the rule is applied again */
	PV_PR_COMMENT    /* a new comment on the pull request */
};

#define PV_PR_MAX_LABELS 32

/* One pull-request or comment event, parsed; strings sanitized to
 * printable ASCII. */
struct pv_pr_event {
	enum pv_pr_what what;
	char action[32];
	char repo[256];
	char project_id[24];     /* GitLab */
	long long number;
	char head_sha[64];       /* "" in GitHub's and Gitea's comment events */
	char head_branch[256];
	char base_branch[256];
	char author[64];         /* the pull request's author ("" when the payload lacks it) */
	char sender[64];         /* who caused the event */
	long long sender_id;     /* GitLab: the note's user.id (0 when absent) */
	int sender_is_author;    /* GitLab: the note's author is the MR's author (by id) */
	char association[32];    /* GitHub comment: author_association */
	int labels_known;        /* the payload lists the labels */
	size_t nlabels;
	char labels[PV_PR_MAX_LABELS][64];
	char comment[1024];      /* the comment's first 1 KiB */
};

/* Read the body of a verified delivery of forge ("github", "gitlab",
 * "gitea"), comment 0 for a pull request event, 1 for a comment event.
 * 0 (out->what PV_PR_NONE when the action is not acted on), or PV_EBADREQ
 * when the body is not such an event. */
int pv_pullreq_parse(struct pv_pr_event *out, const char *forge, int comment, const char *body, size_t len)
	PV_WARN_UNUSED;

/* The repository a delivery names (for a rule's own webhook secret), into
 * out; "" when none.  Read before the signature is checked: it only picks
 * the secret. */
void pv_pullreq_repo(char *out, size_t len, const char *forge, const char *body, size_t blen);

/* Act on a verified, parsed event; delivery may be NULL or "".  0 with resp
 * filled (200/202 JSON), or a pv_error code. */
int pv_pullreq_handle(const struct pv_pullreq *pr, const char *forge, const char *delivery,
	const struct pv_pr_event *ev, struct pv_response *resp) PV_WARN_UNUSED;

#endif
