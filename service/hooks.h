/*
 * hooks.h - the Git host's webhooks: POST /v1/hooks/github, /v1/hooks/gitlab
 * and /v1/hooks/gitea.
 *
 * DESIGN
 *
 * A folder people push by hand (a new long-lived `qa`, a new base) must be
 * known within seconds, not at the next PREVIEWD_GIT_POLL.  The Git host
 * tells previewd of every push; a push to PREVIEWD_GIT_BRANCH asks the Git
 * writer to fetch at its next turn (pv_gitops_fetch_soon), and the fetch
 * publishes the new snapshot that bases, folder checks and /v1/info read.
 * The hook carries no state previewd trusts: it only says "look now", so a
 * forged or replayed one could at most cause a fetch, and even that needs
 * the secret.
 *
 * Each forge signs in its own way, checked exactly as documented, in
 * constant time, over the raw body before anything in it is read:
 *
 *	github  X-Hub-Signature-256: "sha256=" + hex HMAC-SHA256(secret, body)
 *	gitlab  X-Gitlab-Token: the secret itself
 *	gitea   X-Gitea-Signature: hex HMAC-SHA256(secret, body), no prefix
 *
 * The secret is PREVIEWD_GIT_WEBHOOK_SECRET(_FILE).  Without one the three
 * endpoints answer 404: an endpoint that would take unsigned hooks is never
 * offered.  A missing or wrong signature is 401 and changes nothing.
 *
 * What a verified hook does is one row of a table, forge x event kind ->
 * handler (hooks.c): push (all three; the configured branch fetches,
 * another branch or a tag is 202 {"status":"ignored"}), GitHub's ping
 * (200), and pull requests and their comments (GitHub pull_request and
 * issue_comment, GitLab Merge Request Hook and Note Hook, Gitea
 * pull_request and issue_comment), which pullreq.h acts on.  A rule of
 * PREVIEWD_PR_RULES may name its own secret_file: a delivery naming that
 * repository is then checked with it instead (the name is read from the
 * body only to pick the secret; nothing else is read before the check).  Event kinds without a row are 202 {"status":"ignored"}.  Bodies are
 * capped by PREVIEWD_MAX_BODY (http.c); GitHub's form-encoded deliveries
 * (payload=...) are read as well as JSON ones.
 *
 * Threads: HTTP worker threads, like api.c; the counters are atomics.
 */
#ifndef PV_HOOKS_H
#define PV_HOOKS_H

#include <stddef.h>

#include "api.h"
#include "config.h"
#include "error.h"
#include "strbuf.h"

struct pv_pullreq;

enum pv_hooks_forge { PV_FORGE_GITHUB, PV_FORGE_GITLAB, PV_FORGE_GITEA, PV_FORGE_COUNT };

/* The kinds of event the table knows; anything else is PV_HOOK_OTHER. */
enum pv_hooks_kind { PV_HOOK_OTHER, PV_HOOK_PING, PV_HOOK_PUSH, PV_HOOK_PULL_REQUEST, PV_HOOK_COMMENT, PV_HOOK_KIND_COUNT };

/* What a hook asks of the Git writer (pv_gitops_fetch_soon in the daemon,
 * a counter in tests); fetch may be NULL. */
struct pv_hooks_git {
	void (*fetch)(void *ctx);
	void *ctx;
	const struct pv_pullreq *pr;  /* pull requests and comments (pullreq.h); NULL: ignored */
};

/*
 * Answer the hook for forge `name` ("github", "gitlab", "gitea": the path
 * after /v1/hooks/): verify, parse, dispatch.  0 with resp filled (200 or
 * 202 and a JSON body), or a pv_error code (PV_ENOTFOUND for an unknown
 * forge or no secret, PV_EAUTH for a bad signature, PV_EBADREQ for a body
 * that is not the event it says it is) for api.c to answer as problem+json.
 */
int pv_hooks_handle(const struct pv_config *cfg, const char *name, const struct pv_request *req,
	const struct pv_hooks_git *git, struct pv_response *resp) PV_WARN_UNUSED;

/*
 * The signature check alone: sig is the value of the forge's header (NULL
 * when absent).  0 when it matches, PV_EAUTH (message set) when it is
 * missing, malformed or wrong.  Exposed for tests.
 */
int pv_hooks_verify(enum pv_hooks_forge forge, const char *secret, const char *sig, const char *body,
	size_t len) PV_WARN_UNUSED;

/* One verified delivery, parsed.  ref points into buf. */
struct pv_hooks_event {
	enum pv_hooks_kind kind;
	char event[64];     /* the forge's own event name, sanitized, for logs and metrics */
	const char *ref;    /* push: "refs/heads/main"; NULL otherwise */
	char after[48];     /* push: the new tip as the forge reports it; "" when absent */
	char buf[512];
};

/*
 * Read the event header's value and the body of a delivery from forge into
 * out.  content_type may be NULL.  0, or PV_EBADREQ when a push's body is
 * not a JSON object with a string "ref".  Pure: any thread; the fuzz target
 * drives it.
 */
int pv_hooks_parse(struct pv_hooks_event *out, enum pv_hooks_forge forge, const char *event,
	const char *content_type, const char *body, size_t len) PV_WARN_UNUSED;

/* Append previewd_hooks_total{forge,event,outcome} in Prometheus text. */
int pv_hooks_metrics(struct pv_strbuf *out) PV_WARN_UNUSED;

#endif
