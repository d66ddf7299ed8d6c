/*
 * Unit tests for hooks.c: each forge's signature (good, bad, missing, wrong
 * prefix, truncated), the delivery's parsing, and the dispatch: what is
 * fetched, what is ignored, what is refused before anything happens.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cmocka.h>

#include "hex.h"
#include "hooks.h"
#include "prrules.h"
#include "pullreq.h"

/* GitHub's documented example ("Validating webhook deliveries") and RFC
 * 4231's test case 2: signatures computed elsewhere, not by previewd. */
#define GH_SECRET "It's a Secret to Everybody"
#define GH_BODY "Hello, World!"
#define GH_HEX "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
#define RFC_KEY "Jefe"
#define RFC_BODY "what do ya want for nothing?"
#define RFC_HEX "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"

static int verify(enum pv_hooks_forge f, const char *secret, const char *sig, const char *body)
{
	return pv_hooks_verify(f, secret, sig, body, strlen(body));
}

static void github_signature(void **state)
{
	char sig[128];

	(void)state;
	assert_int_equal(verify(PV_FORGE_GITHUB, GH_SECRET, "sha256=" GH_HEX, GH_BODY), 0);
	assert_int_equal(verify(PV_FORGE_GITHUB, RFC_KEY, "sha256=" RFC_HEX, RFC_BODY), 0);
	/* bad: another body, another secret, one digit changed */
	assert_int_equal(verify(PV_FORGE_GITHUB, GH_SECRET, "sha256=" GH_HEX, GH_BODY " "), PV_EAUTH);
	assert_int_equal(verify(PV_FORGE_GITHUB, "it's a secret to everybody", "sha256=" GH_HEX, GH_BODY), PV_EAUTH);
	snprintf(sig, sizeof(sig), "sha256=%s", GH_HEX);
	sig[7] = '8';
	assert_int_equal(verify(PV_FORGE_GITHUB, GH_SECRET, sig, GH_BODY), PV_EAUTH);
	/* missing */
	assert_int_equal(verify(PV_FORGE_GITHUB, GH_SECRET, NULL, GH_BODY), PV_EAUTH);
	assert_int_equal(verify(PV_FORGE_GITHUB, GH_SECRET, "", GH_BODY), PV_EAUTH);
	assert_non_null(strstr(pv_error_last()->message, "X-Hub-Signature-256"));
	/* wrong prefix: none, the SHA-1 header's, upper case */
	assert_int_equal(verify(PV_FORGE_GITHUB, GH_SECRET, GH_HEX, GH_BODY), PV_EAUTH);
	assert_int_equal(verify(PV_FORGE_GITHUB, GH_SECRET, "sha1=" GH_HEX, GH_BODY), PV_EAUTH);
	assert_int_equal(verify(PV_FORGE_GITHUB, GH_SECRET, "SHA256=" GH_HEX, GH_BODY), PV_EAUTH);
	/* truncated, and extended */
	snprintf(sig, sizeof(sig), "sha256=%.63s", GH_HEX);
	assert_int_equal(verify(PV_FORGE_GITHUB, GH_SECRET, sig, GH_BODY), PV_EAUTH);
	assert_int_equal(verify(PV_FORGE_GITHUB, GH_SECRET, "sha256=", GH_BODY), PV_EAUTH);
	assert_int_equal(verify(PV_FORGE_GITHUB, GH_SECRET, "sha256=" GH_HEX "0", GH_BODY), PV_EAUTH);
	/* no secret configured verifies nothing, not even an HMAC keyed by "" */
	assert_int_equal(verify(PV_FORGE_GITHUB, "", "sha256=" GH_HEX, GH_BODY), PV_EAUTH);
	assert_int_equal(verify(PV_FORGE_GITHUB, NULL, "sha256=" GH_HEX, GH_BODY), PV_EAUTH);
}

static void gitea_signature(void **state)
{
	char sig[128];

	(void)state;
	assert_int_equal(verify(PV_FORGE_GITEA, GH_SECRET, GH_HEX, GH_BODY), 0);
	assert_int_equal(verify(PV_FORGE_GITEA, RFC_KEY, RFC_HEX, RFC_BODY), 0);
	assert_int_equal(verify(PV_FORGE_GITEA, GH_SECRET, RFC_HEX, GH_BODY), PV_EAUTH);
	assert_int_equal(verify(PV_FORGE_GITEA, GH_SECRET, NULL, GH_BODY), PV_EAUTH);
	assert_non_null(strstr(pv_error_last()->message, "X-Gitea-Signature"));
	/* Gitea's header has no prefix: GitHub's form is not Gitea's */
	assert_int_equal(verify(PV_FORGE_GITEA, GH_SECRET, "sha256=" GH_HEX, GH_BODY), PV_EAUTH);
	snprintf(sig, sizeof(sig), "%.62s", GH_HEX);
	assert_int_equal(verify(PV_FORGE_GITEA, GH_SECRET, sig, GH_BODY), PV_EAUTH);
	assert_int_equal(verify(PV_FORGE_GITEA, GH_SECRET, "", GH_BODY), PV_EAUTH);
}

static void gitlab_token(void **state)
{
	(void)state;
	assert_int_equal(verify(PV_FORGE_GITLAB, "s3cret-token", "s3cret-token", "{}"), 0);
	/* the token is the secret, whatever the body */
	assert_int_equal(verify(PV_FORGE_GITLAB, "s3cret-token", "s3cret-token", "anything"), 0);
	assert_int_equal(verify(PV_FORGE_GITLAB, "s3cret-token", "s3cret-tokeN", "{}"), PV_EAUTH);
	assert_int_equal(verify(PV_FORGE_GITLAB, "s3cret-token", NULL, "{}"), PV_EAUTH);
	assert_non_null(strstr(pv_error_last()->message, "X-Gitlab-Token"));
	/* truncated, extended, prefixed */
	assert_int_equal(verify(PV_FORGE_GITLAB, "s3cret-token", "s3cret-toke", "{}"), PV_EAUTH);
	assert_int_equal(verify(PV_FORGE_GITLAB, "s3cret-token", "s3cret-token ", "{}"), PV_EAUTH);
	assert_int_equal(verify(PV_FORGE_GITLAB, "s3cret-token", "sha256=s3cret-token", "{}"), PV_EAUTH);
	assert_int_equal(verify(PV_FORGE_GITLAB, "s3cret-token", "", "{}"), PV_EAUTH);
}

/* ---- parsing -------------------------------------------------------------- */

static void parse_deliveries(void **state)
{
	static const char push[] = "{\"ref\":\"refs/heads/main\",\"before\":\"28e1879d029cb852e4844d9c718537df08844e03\","
				   "\"after\":\"bffeb74224043ba2feb48d137756c8a9331c449a\",\"repository\":{\"name\":\"gitops\"}}";
	static const char form[] = "payload=%7B%22ref%22%3A%22refs%2Fheads%2Fqa%22%2C%22after%22%3A%22abc%22%7D";
	struct pv_hooks_event ev;

	(void)state;
	assert_int_equal(pv_hooks_parse(&ev, PV_FORGE_GITHUB, "push", "application/json", push, strlen(push)), 0);
	assert_int_equal(ev.kind, PV_HOOK_PUSH);
	assert_string_equal(ev.ref, "refs/heads/main");
	assert_string_equal(ev.after, "bffeb74224043ba2feb48d137756c8a9331c449a");

	assert_int_equal(pv_hooks_parse(&ev, PV_FORGE_GITLAB, "Push Hook", "application/json", push, strlen(push)), 0);
	assert_int_equal(ev.kind, PV_HOOK_PUSH);
	assert_int_equal(pv_hooks_parse(&ev, PV_FORGE_GITEA, "push", NULL, push, strlen(push)), 0);
	assert_int_equal(ev.kind, PV_HOOK_PUSH);

	/* GitHub's form-encoded delivery */
	assert_int_equal(pv_hooks_parse(&ev, PV_FORGE_GITHUB, "push", "application/x-www-form-urlencoded", form,
				 strlen(form)), 0);
	assert_string_equal(ev.ref, "refs/heads/qa");
	assert_string_equal(ev.after, "abc");

	/* each forge's own names: GitHub's "push" is not a GitLab event */
	assert_int_equal(pv_hooks_parse(&ev, PV_FORGE_GITLAB, "push", NULL, push, strlen(push)), 0);
	assert_int_equal(ev.kind, PV_HOOK_OTHER);
	assert_int_equal(pv_hooks_parse(&ev, PV_FORGE_GITHUB, "ping", NULL, "{\"zen\":\"x\"}", 11), 0);
	assert_int_equal(ev.kind, PV_HOOK_PING);
	assert_int_equal(pv_hooks_parse(&ev, PV_FORGE_GITHUB, "pull_request", NULL, "not json", 8), 0);
	assert_int_equal(ev.kind, PV_HOOK_PULL_REQUEST); /* its body is pullreq.c's to read */
	assert_string_equal(ev.event, "pull_request");
	assert_int_equal(pv_hooks_parse(&ev, PV_FORGE_GITLAB, "Note Hook", NULL, "{}", 2), 0);
	assert_int_equal(ev.kind, PV_HOOK_COMMENT);
	assert_int_equal(pv_hooks_parse(&ev, PV_FORGE_GITHUB, "issues", NULL, "{}", 2), 0);
	assert_int_equal(ev.kind, PV_HOOK_OTHER);
	assert_int_equal(pv_hooks_parse(&ev, PV_FORGE_GITHUB, NULL, NULL, "", 0), 0);
	assert_int_equal(ev.kind, PV_HOOK_OTHER);

	/* a push that is not one */
	assert_int_equal(pv_hooks_parse(&ev, PV_FORGE_GITHUB, "push", NULL, "not json", 8), PV_EBADREQ);
	assert_int_equal(pv_hooks_parse(&ev, PV_FORGE_GITHUB, "push", NULL, "[1]", 3), PV_EBADREQ);
	assert_int_equal(pv_hooks_parse(&ev, PV_FORGE_GITEA, "push", NULL, "{\"ref\":1}", 9), PV_EBADREQ);
	assert_int_equal(pv_hooks_parse(&ev, PV_FORGE_GITHUB, "push", "application/x-www-form-urlencoded", "a=b", 3),
		PV_EBADREQ);
}

/* ---- dispatch ------------------------------------------------------------- */

struct headers {
	const char *names[4], *values[4];
};

static const char *get_header(void *ctx, const char *name)
{
	struct headers *h = ctx;

	for (int i = 0; i < 4 && h->names[i]; i++)
		if (strcasecmp(h->names[i], name) == 0)
			return h->values[i];
	return NULL;
}

static void count_fetch(void *ctx)
{
	(*(int *)ctx)++;
}

/* POST /v1/hooks/<forge> with headers, answered into resp; the status or
 * the error's HTTP status.  *fetches counts what the writer was asked. */
static int deliver(struct pv_config *cfg, const char *forge, struct headers *h, const char *body,
	struct pv_response *resp, int *fetches)
{
	struct pv_request req = { .method = "POST", .body = body, .body_len = strlen(body),
		.content_type = "application/json", .header = get_header, .header_ctx = h };
	struct pv_hooks_git git = { count_fetch, fetches, NULL };
	int error;

	memset(resp, 0, sizeof(*resp));
	error = pv_hooks_handle(cfg, forge, &req, &git, resp);
	return error < 0 ? pv_error_http_status(error) : resp->status;
}

static const char *status_of(const struct pv_response *resp)
{
	return json_string_value(json_object_get(resp->body, "status"));
}

static void dispatch(void **state)
{
	char secret[] = GH_SECRET, branch[] = "main";
	struct pv_config cfg = { .git_webhook_secret = secret, .git_branch = branch };
	static const char push_main[] = "{\"ref\":\"refs/heads/main\",\"after\":\"bffeb74224043ba2feb48d137756c8a9331c449a\"}";
	static const char push_qa[] = "{\"ref\":\"refs/heads/qa\"}";
	static const char push_tag[] = "{\"ref\":\"refs/tags/main\"}";
	char sig_main[80], hex_main[PV_HEX_HMAC_SHA256_LEN], sig_qa[80], hex_qa[PV_HEX_HMAC_SHA256_LEN];
	char sig_tag[80], hex_tag[PV_HEX_HMAC_SHA256_LEN];
	struct pv_response resp;
	int fetches = 0;

	(void)state;
	/* the signatures the forges would send, by the same HMAC the GitHub
	 * example above checks */
	assert_int_equal(pv_hex_hmac_sha256(hex_main, GH_SECRET, push_main, strlen(push_main)), 0);
	assert_int_equal(pv_hex_hmac_sha256(hex_qa, GH_SECRET, push_qa, strlen(push_qa)), 0);
	assert_int_equal(pv_hex_hmac_sha256(hex_tag, GH_SECRET, push_tag, strlen(push_tag)), 0);
	snprintf(sig_main, sizeof(sig_main), "sha256=%s", hex_main);
	snprintf(sig_qa, sizeof(sig_qa), "sha256=%s", hex_qa);
	snprintf(sig_tag, sizeof(sig_tag), "sha256=%s", hex_tag);

	{
		struct headers h = { { "X-GitHub-Event", "X-Hub-Signature-256" }, { "push", sig_main } };
		assert_int_equal(deliver(&cfg, "github", &h, push_main, &resp, &fetches), 202);
		assert_string_equal(status_of(&resp), "fetching");
		assert_int_equal(fetches, 1);
		pv_response_dispose(&resp);
		/* the signature of another body */
		h.values[1] = sig_qa;
		assert_int_equal(deliver(&cfg, "github", &h, push_main, &resp, &fetches), 401);
		assert_null(resp.body);
		assert_int_equal(fetches, 1);
		/* another branch, and a tag named like the branch */
		assert_int_equal(deliver(&cfg, "github", &h, push_qa, &resp, &fetches), 202);
		assert_string_equal(status_of(&resp), "ignored");
		pv_response_dispose(&resp);
		h.values[1] = sig_tag;
		assert_int_equal(deliver(&cfg, "github", &h, push_tag, &resp, &fetches), 202);
		assert_string_equal(status_of(&resp), "ignored");
		pv_response_dispose(&resp);
		assert_int_equal(fetches, 1);
		/* ping, and an event kind without a handler */
		h.values[0] = "ping";
		assert_int_equal(deliver(&cfg, "github", &h, push_tag, &resp, &fetches), 200);
		assert_string_equal(status_of(&resp), "ok");
		pv_response_dispose(&resp);
		h.values[0] = "issues";
		assert_int_equal(deliver(&cfg, "github", &h, push_tag, &resp, &fetches), 202);
		assert_string_equal(status_of(&resp), "ignored");
		pv_response_dispose(&resp);
		/* a bad signature is refused before the kind is looked at */
		h.values[0] = "ping";
		assert_int_equal(deliver(&cfg, "github", &h, push_main, &resp, &fetches), 401);
		assert_int_equal(fetches, 1);
	}
	{
		struct headers h = { { "X-Gitlab-Event", "X-Gitlab-Token" }, { "Push Hook", GH_SECRET } };
		assert_int_equal(deliver(&cfg, "gitlab", &h, push_main, &resp, &fetches), 202);
		assert_int_equal(fetches, 2);
		pv_response_dispose(&resp);
		h.values[1] = "wrong";
		assert_int_equal(deliver(&cfg, "gitlab", &h, push_main, &resp, &fetches), 401);
		h.names[1] = NULL;
		assert_int_equal(deliver(&cfg, "gitlab", &h, push_main, &resp, &fetches), 401);
		assert_int_equal(fetches, 2);
	}
	{
		struct headers h = { { "X-Gitea-Event", "X-Gitea-Signature" }, { "push", hex_main } };
		assert_int_equal(deliver(&cfg, "gitea", &h, push_main, &resp, &fetches), 202);
		assert_int_equal(fetches, 3);
		pv_response_dispose(&resp);
		h.values[1] = sig_main; /* GitHub's form in Gitea's header */
		assert_int_equal(deliver(&cfg, "gitea", &h, push_main, &resp, &fetches), 401);
		/* the same delivery again asks again: the writer coalesces */
		h.values[1] = hex_main;
		assert_int_equal(deliver(&cfg, "gitea", &h, push_main, &resp, &fetches), 202);
		pv_response_dispose(&resp);
		assert_int_equal(fetches, 4);
	}
	{
		/* an unknown forge; no secret: the endpoints are not there */
		struct headers h = { { "X-GitHub-Event", "X-Hub-Signature-256" }, { "push", sig_main } };
		assert_int_equal(deliver(&cfg, "bitbucket", &h, push_main, &resp, &fetches), 404);
		cfg.git_webhook_secret = NULL;
		assert_int_equal(deliver(&cfg, "github", &h, push_main, &resp, &fetches), 404);
		assert_non_null(strstr(pv_error_last()->message, "PREVIEWD_GIT_WEBHOOK_SECRET"));
		assert_int_equal(fetches, 4);
	}
}

/* A rule's own secret is the one a delivery for its repository is signed
 * with, whether GitHub sends JSON or its form-encoded payload. */
static void rule_secret(void **state)
{
	static const char json[] = "{\"action\":\"opened\",\"repository\":{\"full_name\":\"org/app\"}}";
	static const char form[] = "payload=%7B%22action%22%3A%22opened%22%2C%22repository%22%3A%7B%22full_name"
				   "%22%3A%22org%2Fapp%22%7D%7D";
	char secret_path[] = "/tmp/test_hooks_secret.XXXXXX", yaml[256], hex[PV_HEX_HMAC_SHA256_LEN], sig[80];
	char branch[] = "main";
	struct pv_config cfg = { .git_branch = branch };
	struct pv_prrules *rules = NULL;
	struct pv_pullreq pr = { 0 };
	struct pv_hooks_git git = { NULL, NULL, &pr };
	struct pv_response resp;
	const char *bodies[] = { json, form }, *types[] = { "application/json", "application/x-www-form-urlencoded" };
	int fd;

	(void)state;
	assert_true((fd = mkstemp(secret_path)) >= 0);
	assert_int_equal(write(fd, "the app's own\n", 14), 14);
	close(fd);
	snprintf(yaml, sizeof(yaml), "repositories:\n  - repo: org/app\n    forge: github\n    secret_file: %s\n",
		secret_path);
	assert_int_equal(pv_prrules_parse(&rules, yaml, strlen(yaml), "rules.yaml"), 0);
	unlink(secret_path);
	pr.rules = rules;
	for (int i = 0; i < 2; i++) {
		struct headers h = { { "X-GitHub-Event", "X-Hub-Signature-256" }, { "pull_request", sig } };
		struct pv_request req = { .method = "POST", .body = bodies[i], .body_len = strlen(bodies[i]),
			.content_type = types[i], .header = get_header, .header_ctx = &h };

		assert_int_equal(pv_hex_hmac_sha256(hex, "the app's own", bodies[i], strlen(bodies[i])), 0);
		snprintf(sig, sizeof(sig), "sha256=%s", hex);
		memset(&resp, 0, sizeof(resp));
		/* signed right: past the check, to pullreq.c, which finds the
		 * body no pull request event (400, not 401) */
		assert_int_equal(pv_hooks_handle(&cfg, "github", &req, &git, &resp), PV_EBADREQ);
		pv_response_dispose(&resp);
		/* signed with another secret: refused */
		assert_int_equal(pv_hex_hmac_sha256(hex, "another", bodies[i], strlen(bodies[i])), 0);
		snprintf(sig, sizeof(sig), "sha256=%s", hex);
		memset(&resp, 0, sizeof(resp));
		assert_int_equal(pv_hooks_handle(&cfg, "github", &req, &git, &resp), PV_EAUTH);
		pv_response_dispose(&resp);
	}
	pv_prrules_free(rules);
}

static void metrics_count(void **state)
{
	struct pv_strbuf out = PV_STRBUF_INIT;

	(void)state;
	/* after dispatch ran in this process: fetches, refusals, ignored */
	assert_int_equal(pv_hooks_metrics(&out), 0);
	assert_non_null(strstr(out.buf, "# TYPE previewd_hooks_total counter\n"));
	assert_non_null(strstr(out.buf, "previewd_hooks_total{forge=\"github\",event=\"push\",outcome=\"fetch\"} 1\n"));
	assert_non_null(strstr(out.buf, "previewd_hooks_total{forge=\"github\",event=\"push\",outcome=\"unauthorized\"} 1\n"));
	assert_non_null(strstr(out.buf, "previewd_hooks_total{forge=\"github\",event=\"push\",outcome=\"ignored\"} 2\n"));
	assert_non_null(strstr(out.buf, "previewd_hooks_total{forge=\"github\",event=\"ping\",outcome=\"ok\"} 1\n"));
	assert_non_null(strstr(out.buf, "previewd_hooks_total{forge=\"github\",event=\"other\",outcome=\"ignored\"} 1\n"));
	assert_non_null(strstr(out.buf, "previewd_hooks_total{forge=\"gitlab\",event=\"push\",outcome=\"unauthorized\"} 2\n"));
	assert_non_null(strstr(out.buf, "previewd_hooks_total{forge=\"gitea\",event=\"push\",outcome=\"fetch\"} 2\n"));
	pv_strbuf_dispose(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(github_signature),
		cmocka_unit_test(gitea_signature),
		cmocka_unit_test(gitlab_token),
		cmocka_unit_test(parse_deliveries),
		cmocka_unit_test(dispatch),
		cmocka_unit_test(rule_secret),
		cmocka_unit_test(metrics_count),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
