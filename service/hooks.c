/*
 * hooks.c - the Git host's webhooks (see hooks.h): each forge's signature,
 * the delivery parsed, and the table that says what an event does.
 */
#include "hooks.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hex.h"
#include "log.h"
#include "pullreq.h"

/* ---- the forges --------------------------------------------------------- */

struct forge {
	const char *name;        /* the path segment and the metrics label */
	const char *event_header;
	const char *sig_header;
	const char *delivery_header; /* the delivery's id: a redelivery repeats it */
};

static const struct forge forges[PV_FORGE_COUNT] = {
	[PV_FORGE_GITHUB] = { "github", "X-GitHub-Event", "X-Hub-Signature-256", "X-GitHub-Delivery" },
	[PV_FORGE_GITLAB] = { "gitlab", "X-Gitlab-Event", "X-Gitlab-Token", "X-Gitlab-Event-UUID" },
	[PV_FORGE_GITEA] = { "gitea", "X-Gitea-Event", "X-Gitea-Signature", "X-Gitea-Delivery" },
};

/* Equal strings, in time that depends on the lengths only. */
static int same_secret(const char *a, const char *b)
{
	size_t n = strlen(b);

	return strlen(a) == n && CRYPTO_memcmp(a, b, n) == 0;
}

int pv_hooks_verify(enum pv_hooks_forge forge, const char *secret, const char *sig, const char *body, size_t len)
{
	char want[PV_HEX_HMAC_SHA256_LEN];
	const char *hex = sig;

	if (forge >= PV_FORGE_COUNT)
		return pv_error_set(PV_ENOTFOUND, NULL, "no such forge");
	if (!secret || !*secret)
		return pv_error_set(PV_EAUTH, NULL, "no webhook secret is configured");
	if (!sig || !*sig)
		return pv_error_set(PV_EAUTH, NULL, "the delivery has no %s header", forges[forge].sig_header);
	if (forge == PV_FORGE_GITLAB) {
		/* GitLab sends the secret itself, not a signature of the body */
		if (!same_secret(sig, secret))
			return pv_error_set(PV_EAUTH, NULL, "X-Gitlab-Token does not match the webhook secret");
		return 0;
	}
	if (forge == PV_FORGE_GITHUB) {
		if (strncmp(sig, "sha256=", 7) != 0)
			return pv_error_set(PV_EAUTH, NULL, "X-Hub-Signature-256 must be sha256=<hex HMAC-SHA256 of the body>");
		hex = sig + 7;
	}
	if (pv_hex_hmac_sha256(want, secret, body, len) < 0)
		return pv_error_set(PV_ERROR, NULL, "HMAC-SHA256 failed");
	/* the forges write lowercase hex; anything else is not their signature */
	if (!same_secret(hex, want))
		return pv_error_set(PV_EAUTH, NULL, "%s does not match the body signed with the webhook secret",
			forges[forge].sig_header);
	return 0;
}

/* ---- the delivery ------------------------------------------------------- */

/* The event names each forge sends for the kinds the table knows. */
static const struct {
	enum pv_hooks_forge forge;
	const char *event;
	enum pv_hooks_kind kind;
} kinds[] = {
	{ PV_FORGE_GITHUB, "push", PV_HOOK_PUSH },
	{ PV_FORGE_GITHUB, "ping", PV_HOOK_PING },
	{ PV_FORGE_GITHUB, "pull_request", PV_HOOK_PULL_REQUEST },
	{ PV_FORGE_GITHUB, "issue_comment", PV_HOOK_COMMENT },
	{ PV_FORGE_GITLAB, "Push Hook", PV_HOOK_PUSH },
	{ PV_FORGE_GITLAB, "Merge Request Hook", PV_HOOK_PULL_REQUEST },
	{ PV_FORGE_GITLAB, "Note Hook", PV_HOOK_COMMENT },
	{ PV_FORGE_GITEA, "push", PV_HOOK_PUSH },
	/* Gitea names every pull request sub-event pull_request in
	 * X-Gitea-Event (the detail is in X-Gitea-Event-Type), and comments
	 * on pull requests issue_comment */
	{ PV_FORGE_GITEA, "pull_request", PV_HOOK_PULL_REQUEST },
	{ PV_FORGE_GITEA, "issue_comment", PV_HOOK_COMMENT },
};

static const char *const kind_names[PV_HOOK_KIND_COUNT] = { "other", "ping", "push", "pull_request", "comment" };

static enum pv_hooks_kind kind_of(enum pv_hooks_forge forge, const char *event)
{
	for (size_t i = 0; event && i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (kinds[i].forge == forge && strcmp(kinds[i].event, event) == 0)
			return kinds[i].kind;
	return PV_HOOK_OTHER;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* GitHub's application/x-www-form-urlencoded delivery: the JSON is the
 * value of "payload".  A malloc'd decoded copy, or NULL. */
static char *form_payload(const char *body, size_t len, size_t *outlen)
{
	size_t i = 0, o = 0;
	char *out;

	while (i < len) {
		size_t end = i;
		while (end < len && body[end] != '&')
			end++;
		if (end - i >= 8 && memcmp(body + i, "payload=", 8) == 0) {
			if (!(out = malloc(end - i)))
				return NULL;
			for (i += 8; i < end; i++) {
				if (body[i] == '+') {
					out[o++] = ' ';
				} else if (body[i] == '%' && i + 2 < end && hexval(body[i + 1]) >= 0 && hexval(body[i + 2]) >= 0) {
					out[o++] = (char)(hexval(body[i + 1]) * 16 + hexval(body[i + 2]));
					i += 2;
				} else {
					out[o++] = body[i];
				}
			}
			*outlen = o;
			return out;
		}
		i = end + 1;
	}
	return NULL;
}

/* Copy s into out as printable ASCII: it ends up in logs and labels. */
static void sanitized(char *out, size_t len, const char *s)
{
	size_t i = 0;

	for (; s && s[i] && i + 1 < len; i++)
		out[i] = (unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f ? '?' : s[i];
	out[i] = '\0';
}

int pv_hooks_parse(struct pv_hooks_event *out, enum pv_hooks_forge forge, const char *event,
	const char *content_type, const char *body, size_t len)
{
	json_error_t jerr;
	json_t *doc;
	const char *ref, *after;
	char *form = NULL;
	size_t flen = 0;

	memset(out, 0, sizeof(*out));
	sanitized(out->event, sizeof(out->event), event ? event : "");
	out->kind = kind_of(forge, event);
	if (out->kind != PV_HOOK_PUSH)
		return 0; /* ping and unknown kinds need nothing from the body */

	if (forge == PV_FORGE_GITHUB && content_type &&
	    strncasecmp(content_type, "application/x-www-form-urlencoded", 33) == 0) {
		if (!(form = form_payload(body, len, &flen)))
			return pv_error_set(PV_EBADREQ, NULL, "a form-encoded delivery needs a payload field");
		body = form;
		len = flen;
	}
	doc = json_loadb(body, len, 0, &jerr);
	free(form);
	ref = json_string_value(json_object_get(doc, "ref"));
	after = json_string_value(json_object_get(doc, "after"));
	if (!json_is_object(doc) || !ref) {
		json_decref(doc);
		return pv_error_set(PV_EBADREQ, NULL, "a push event is a JSON object with a string \"ref\"");
	}
	if (strlen(ref) >= sizeof(out->buf)) {
		json_decref(doc);
		return pv_error_set(PV_EBADREQ, "ref", "the pushed ref is longer than %zu bytes", sizeof(out->buf) - 1);
	}
	memcpy(out->buf, ref, strlen(ref) + 1);
	out->ref = out->buf;
	sanitized(out->after, sizeof(out->after), after);
	json_decref(doc);
	return 0;
}

/* ---- counters ----------------------------------------------------------- */

enum outcome { OUT_FETCH, OUT_IGNORED, OUT_OK, OUT_UNAUTHORIZED, OUT_INVALID, OUT_COUNT };

static const char *const outcome_names[OUT_COUNT] = { "fetch", "ignored", "ok", "unauthorized", "invalid" };

static atomic_ulong counts[PV_FORGE_COUNT][PV_HOOK_KIND_COUNT][OUT_COUNT];

static void count(enum pv_hooks_forge f, enum pv_hooks_kind k, enum outcome o)
{
	atomic_fetch_add_explicit(&counts[f][k][o], 1, memory_order_relaxed);
}

int pv_hooks_metrics(struct pv_strbuf *out)
{
	int error = pv_strbuf_printf(out,
		"# HELP previewd_hooks_total Git host webhooks received, by forge, event kind and what came of them.\n"
		"# TYPE previewd_hooks_total counter\n");

	for (int f = 0; f < PV_FORGE_COUNT && error == 0; f++)
		for (int k = 0; k < PV_HOOK_KIND_COUNT && error == 0; k++)
			for (int o = 0; o < OUT_COUNT && error == 0; o++) {
				unsigned long n = atomic_load_explicit(&counts[f][k][o], memory_order_relaxed);
				if (n)
					error = pv_strbuf_printf(out,
						"previewd_hooks_total{forge=\"%s\",event=\"%s\",outcome=\"%s\"} %lu\n",
						forges[f].name, kind_names[k], outcome_names[o], n);
			}
	return error;
}

/* ---- what an event does ------------------------------------------------- */

struct hook {
	const struct pv_config *cfg;
	const struct pv_hooks_git *git;
	enum pv_hooks_forge forge;
	const struct pv_hooks_event *ev;
	const struct pv_request *req;
};

static const char *header(const struct pv_request *req, const char *name)
{
	return req->header ? req->header(req->header_ctx, name) : NULL;
}

static int answer(struct pv_response *resp, int status, const char *what, const char *detail)
{
	resp->status = status;
	resp->body = json_pack("{s:s, s:s}", "status", what, "detail", detail);
	return resp->body ? 0 : pv_error_set(PV_ERROR, NULL, "out of memory");
}

static int ignored(const struct hook *h, struct pv_response *resp, const char *detail)
{
	count(h->forge, h->ev->kind, OUT_IGNORED);
	return answer(resp, 202, "ignored", detail);
}

static int on_ping(const struct hook *h, struct pv_response *resp)
{
	count(h->forge, h->ev->kind, OUT_OK);
	return answer(resp, 200, "ok", "the webhook reaches previewd and its signature matches");
}

/* A push to the branch: fetch at once.  Any repository: previewd has one,
 * and the host sends hooks only for where they are configured. */
static int on_push(const struct hook *h, struct pv_response *resp)
{
	const char *ref = h->ev->ref;
	char detail[256];

	if (strncmp(ref, "refs/heads/", 11) != 0 || strcmp(ref + 11, h->cfg->git_branch) != 0) {
		snprintf(detail, sizeof(detail), "a push to %.120s, not to refs/heads/%.80s", ref, h->cfg->git_branch);
		return ignored(h, resp, detail);
	}
	if (h->git && h->git->fetch)
		h->git->fetch(h->git->ctx);
	count(h->forge, h->ev->kind, OUT_FETCH);
	log_info("hooks: %s push to %s (%.12s): fetching", forges[h->forge].name, ref,
		h->ev->after[0] ? h->ev->after : "?");
	snprintf(detail, sizeof(detail), "fetching %.120s", ref);
	return answer(resp, 202, "fetching", detail);
}

/* Pull requests, merge requests and their comments: pullreq.c acts. */
static int on_pull_request(const struct hook *h, struct pv_response *resp)
{
	const char *body = h->req->body;
	size_t len = h->req->body_len, flen = 0;
	char *form = NULL;
	struct pv_pr_event *ev;
	int error;

	if (!h->git || !h->git->pr)
		return ignored(h, resp, "pull requests are off: set PREVIEWD_PR_RULES");
	if (h->forge == PV_FORGE_GITHUB && h->req->content_type &&
	    strncasecmp(h->req->content_type, "application/x-www-form-urlencoded", 33) == 0) {
		if (!(form = form_payload(body, len, &flen)))
			return pv_error_set(PV_EBADREQ, NULL, "a form-encoded delivery needs a payload field");
		body = form;
		len = flen;
	}
	if (!(ev = malloc(sizeof(*ev)))) {
		free(form);
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	}
	error = pv_pullreq_parse(ev, forges[h->forge].name, h->ev->kind == PV_HOOK_COMMENT, body, len);
	free(form);
	if (error < 0) {
		count(h->forge, h->ev->kind, OUT_INVALID);
		free(ev);
		return error;
	}
	error = pv_pullreq_handle(h->git->pr, forges[h->forge].name, header(h->req, forges[h->forge].delivery_header),
		ev, resp);
	free(ev);
	if (error == 0)
		count(h->forge, h->ev->kind, resp->status == 202 && resp->body &&
			strcmp(json_string_value(json_object_get(resp->body, "status")) ?: "", "ignored") == 0
			? OUT_IGNORED : OUT_OK);
	return error;
}

/* Forge x event kind -> handler. */
static const struct {
	enum pv_hooks_forge forge;
	enum pv_hooks_kind kind;
	int (*run)(const struct hook *h, struct pv_response *resp);
} handlers[] = {
	{ PV_FORGE_GITHUB, PV_HOOK_PING, on_ping },
	{ PV_FORGE_GITHUB, PV_HOOK_PUSH, on_push },
	{ PV_FORGE_GITHUB, PV_HOOK_PULL_REQUEST, on_pull_request },
	{ PV_FORGE_GITHUB, PV_HOOK_COMMENT, on_pull_request },
	{ PV_FORGE_GITLAB, PV_HOOK_PUSH, on_push },
	{ PV_FORGE_GITLAB, PV_HOOK_PULL_REQUEST, on_pull_request },
	{ PV_FORGE_GITLAB, PV_HOOK_COMMENT, on_pull_request },
	{ PV_FORGE_GITEA, PV_HOOK_PUSH, on_push },
	{ PV_FORGE_GITEA, PV_HOOK_PULL_REQUEST, on_pull_request },
	{ PV_FORGE_GITEA, PV_HOOK_COMMENT, on_pull_request },
};

int pv_hooks_handle(const struct pv_config *cfg, const char *name, const struct pv_request *req,
	const struct pv_hooks_git *git, struct pv_response *resp)
{
	struct pv_hooks_event ev;
	struct hook h = { cfg, git, PV_FORGE_COUNT, &ev, req };
	const char *secret = cfg->git_webhook_secret;
	const struct pv_prrules *rules = git && git->pr ? git->pr->rules : NULL;
	char detail[160];
	int error;

	for (int f = 0; f < PV_FORGE_COUNT; f++)
		if (strcmp(forges[f].name, name) == 0)
			h.forge = (enum pv_hooks_forge)f;
	if (h.forge == PV_FORGE_COUNT)
		return pv_error_set(PV_ENOTFOUND, NULL, "no webhooks for '%.40s': github, gitlab or gitea", name);
	/* off without a secret: unsigned hooks are never taken */
	if ((!secret || !*secret) && !pv_prrules_has_secret(rules))
		return pv_error_set(PV_ENOTFOUND, NULL, "Git webhooks are off: set PREVIEWD_GIT_WEBHOOK_SECRET_FILE");
	if (pv_prrules_has_secret(rules)) {
		/* the repository's own secret, when its rule names one */
		char repo[256], *form = NULL;
		const struct pv_prrule *r;
		size_t flen = 0;
		/* GitHub's form-encoded delivery names it inside its payload field */
		if (h.forge == PV_FORGE_GITHUB && req->content_type &&
		    strncasecmp(req->content_type, "application/x-www-form-urlencoded", 33) == 0)
			form = form_payload(req->body, req->body_len, &flen);
		pv_pullreq_repo(repo, sizeof(repo), forges[h.forge].name, form ? form : req->body, form ? flen : req->body_len);
		free(form);
		if ((r = pv_prrules_find(rules, forges[h.forge].name, repo)) != NULL && r->secret)
			secret = r->secret;
	}
	if ((error = pv_hooks_verify(h.forge, secret, header(req, forges[h.forge].sig_header),
		     req->body, req->body_len)) < 0) {
		/* counted by the kind the header claims; nothing else is read */
		count(h.forge, kind_of(h.forge, header(req, forges[h.forge].event_header)),
			error == PV_EAUTH ? OUT_UNAUTHORIZED : OUT_INVALID);
		log_warn("hooks: %s: refused: %s", forges[h.forge].name, pv_error_last()->message);
		return error;
	}
	if ((error = pv_hooks_parse(&ev, h.forge, header(req, forges[h.forge].event_header), req->content_type,
		     req->body, req->body_len)) < 0) {
		count(h.forge, ev.kind, OUT_INVALID);
		return error;
	}
	for (size_t i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++)
		if (handlers[i].forge == h.forge && handlers[i].kind == ev.kind)
			return handlers[i].run(&h, resp);
	snprintf(detail, sizeof(detail), "previewd does not act on %.60s events", ev.event[0] ? ev.event : "unnamed");
	return ignored(&h, resp, detail);
}
