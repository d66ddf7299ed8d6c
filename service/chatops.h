/*
 * chatops.h - slash commands: `create [name] [ttl]`, `extend <name> <ttl>`,
 * `delete <name>`, `list`, `help`.
 *
 * Two doors to one grammar.  POST /v1/chatops/slack takes Slack's
 * form-encoded slash-command requests, verified with Slack's request
 * signature (HMAC-SHA256 over "v0:timestamp:body", 5-minute window,
 * constant-time compare) and answers in Slack's response JSON; the owner is
 * the Slack user.  POST /v1/chatops takes {"user", "text"} with a writer's
 * bearer token, for other bots.  Each command calls the environment rules
 * (env.c) the REST handlers call, so validation, quotas, history and Git
 * are exactly those of the REST API; chat answers at once with the URL
 * while the push completes in the background.
 *
 * Threads: HTTP worker threads, like api.c.
 */
#ifndef PV_CHATOPS_H
#define PV_CHATOPS_H

#include <stddef.h>

#include "api.h"
#include "env.h"

/* The two doors: answer req (routed by api.c) in resp, 200 with the chat
 * reply, or a pv_error code for a request that is not a command at all. */
int pv_chatops_slack(struct pv_envs *envs, const struct pv_request *req, struct pv_response *resp) PV_WARN_UNUSED;
int pv_chatops_json(struct pv_envs *envs, const struct pv_request *req, struct pv_response *resp) PV_WARN_UNUSED;

enum pv_chatops_verb {
	PV_CHATOPS_BAD = 0,   /* not a command: the reply says why */
	PV_CHATOPS_HELP,      /* the reply is the usage */
	PV_CHATOPS_CREATE,
	PV_CHATOPS_EXTEND,
	PV_CHATOPS_DELETE,
	PV_CHATOPS_SLEEP,
	PV_CHATOPS_WAKE,
	PV_CHATOPS_LIST
};

#define PV_CHATOPS_TEXT_MAX 512

/* One command line, split.  name and ttl point into buf; NULL when the
 * command has none (a create without a name is the owner's). */
struct pv_chatops_command {
	enum pv_chatops_verb verb;
	const char *name;
	const char *ttl;
	char buf[PV_CHATOPS_TEXT_MAX];
};

/*
 * The grammar: words split on blanks; names start with a letter and
 * durations with a digit, so `create [name] [ttl]` is never ambiguous.
 * owner only shapes the usage hints.  For PV_CHATOPS_BAD and
 * PV_CHATOPS_HELP the text to answer is written to reply (len bytes).
 */
void pv_chatops_parse(struct pv_chatops_command *out, const char *text, const char *owner, char *reply, size_t len);

/* "v0=" + hex HMAC-SHA256(secret, "v0:" + timestamp + ":" + body) into out
 * (at least 70 bytes); exposed for tests. */
void pv_chatops_slack_signature(char *out, size_t len, const char *secret, const char *timestamp,
	const char *body, size_t body_len);

/* Shared with the buttons (chatact.c). */
/* The value of key in an application/x-www-form-urlencoded body, decoded
 * into out (outlen bytes, NUL-terminated, truncated); 0 if found. */
int pv_chatops_form_value(const char *body, size_t len, const char *key, char *out, size_t outlen);
/* Slack's X-Slack-Signature over the raw body, within five minutes:
 * 0, or PV_EAUTH. */
int pv_chatops_slack_verify(const struct pv_config *cfg, const struct pv_request *req) PV_WARN_UNUSED;
/* A chat user name as an owner ("Jane.Doe" -> "jane-doe"); PV_EINVAL when
 * nothing of it is left. */
int pv_chatops_owner_from_user(char *out, size_t len, const char *user) PV_WARN_UNUSED;

#endif
