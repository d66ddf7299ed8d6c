/*
 * chatmsg.h - chat messages with buttons: Slack Block Kit, Mattermost
 * message attachments, a Microsoft Teams Adaptive Card.
 *
 * One environment's message is its text plus, where the chat can call back,
 * an "Extend <amount>" button for each of PREVIEWD_CHAT_EXTEND_AMOUNTS and a
 * "Delete now" button behind a confirmation, led by a "Wake" button when the
 * environment is asleep.  Slack's buttons come back to
 * POST /v1/chatops/slack/interactions signed by Slack (chatact.h); a
 * Slack button's action_id is "extend:<seconds>", "delete" or "wake" and its value
 * "<name>" or "<name>:<tag>", the tag telling one rendering of a message from
 * the next (a press is acted on once per rendering).  Mattermost does not
 * sign the requests its buttons send, so each button carries a context
 * {env, action, exp, sig} signed with PREVIEWD_CHATOPS_ACTION_SECRET and
 * valid for a day; without that secret its messages have no buttons.
 * Teams' Workflows webhooks cannot call back: the card links to the
 * environment and to previewd's page.
 *
 * Threads: any (pure; reads the configuration).
 */
#ifndef PV_CHATMSG_H
#define PV_CHATMSG_H

#include <jansson.h>
#include <stddef.h>

#include "config.h"

#define PV_CHATMSG_CONTEXT_LIFETIME 86400  /* seconds a Mattermost button stays pressable */
#define PV_CHATMSG_SIG_LEN 65

/* {"text", "blocks": [section, actions]}; no actions block when name is
 * NULL.  tag may be NULL; asleep adds the Wake button.  NULL when out of
 * memory. */
json_t *pv_chatmsg_slack(const struct pv_config *cfg, const char *text, const char *name, const char *tag, int asleep);

/* {"text", "attachments": [{"text", "actions": [...]}]}, buttons only with
 * a name and an action secret; now is the signing time. */
json_t *pv_chatmsg_mattermost(const struct pv_config *cfg, const char *text, const char *name, int asleep,
	long long now);

/* {"type": "message", "attachments": [an Adaptive Card]} with Action.OpenUrl
 * links to the environment and to PREVIEWD_PUBLIC_URL/#env=NAME. */
json_t *pv_chatmsg_teams(const struct pv_config *cfg, const char *text, const char *name);

/* Hex HMAC-SHA256 over "v1:<env>:<action>:<exp>" into out; "" without a
 * secret. */
void pv_chatmsg_context_sign(char out[PV_CHATMSG_SIG_LEN], const char *secret, const char *env, const char *action,
	long long exp);

/* The button label of an extension, "Extend 4h", into out. */
void pv_chatmsg_extend_label(char *out, size_t len, long long seconds);

#endif
