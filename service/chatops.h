/*
 * chatops.h - slash commands: `create [name] [ttl]`, `extend <name> <ttl>`,
 * `delete <name>`, `list`, `help`.
 *
 * Two doors to one grammar.  POST /v1/chatops/slack takes Slack's
 * form-encoded slash-command requests, verified with Slack's request
 * signature (HMAC-SHA256 over "v0:timestamp:body", 5-minute window,
 * constant-time compare) and answers in Slack's response JSON; the owner is
 * the Slack user.  POST /v1/chatops takes {"user", "text"} with a writer's
 * bearer token, for other bots.  Each command runs as an ordinary API
 * request of previewd's own (pv_api_handle), so validation, quotas, history
 * and Git are exactly those of the REST API; chat answers at once with the
 * URL while the push completes in the background.
 *
 * Threads: HTTP worker threads, like api.c.
 */
#ifndef PV_CHATOPS_H
#define PV_CHATOPS_H

#include <stddef.h>

#include "api.h"

int pv_chatops_slack(struct pv_api *api, const struct pv_request *req, struct pv_response *resp);
int pv_chatops_json(struct pv_api *api, const struct pv_request *req, struct pv_response *resp);

/* "v0=" + hex HMAC-SHA256(secret, "v0:" + timestamp + ":" + body) into out
 * (at least 70 bytes); exposed for tests. */
void pv_chatops_slack_signature(char *out, size_t len, const char *secret, const char *timestamp,
	const char *body, size_t body_len);

#endif
