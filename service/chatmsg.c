/*
 * chatmsg.c - chat messages with buttons (see chatmsg.h).
 */
#include "chatmsg.h"

#include <stdio.h>
#include <string.h>

#include "hex.h"
#include "valid.h"

void pv_chatmsg_extend_label(char *out, size_t len, long long seconds)
{
	char d[32];

	pv_valid_format_duration(d, sizeof(d), seconds);
	snprintf(out, len, "Extend %s", d);
}

void pv_chatmsg_context_sign(char out[PV_CHATMSG_SIG_LEN], const char *secret, const char *env, const char *action,
	long long exp)
{
	char msg[256];
	int n = snprintf(msg, sizeof(msg), "v1:%s:%s:%lld", env, action, exp);

	out[0] = '\0';
	if (secret && *secret && n > 0 && (size_t)n < sizeof(msg) && pv_hex_hmac_sha256(out, secret, msg, (size_t)n) < 0)
		out[0] = '\0';
}

/* Section text is plain_text: names, owners and Git's errors are shown as
 * they are, never read as mrkdwn (no "<!channel>" from a branch name). */
json_t *pv_chatmsg_slack(const struct pv_config *cfg, const char *text, const char *name, const char *tag, int asleep)
{
	json_t *msg, *elements;
	char label[48], id[48], value[160];

	msg = json_pack("{s:s, s:[{s:s, s:{s:s, s:s, s:b}}]}", "text", text, "blocks",
		"type", "section", "text", "type", "plain_text", "text", text, "emoji", 0);
	if (!msg || !name)
		return msg;
	if (tag && *tag)
		snprintf(value, sizeof(value), "%s:%s", name, tag);
	else
		snprintf(value, sizeof(value), "%s", name);
	if (!(elements = json_array()))
		goto oom;
	/* first, as it is what a sleeping environment's reader came for */
	if (asleep && json_array_append_new(elements, json_pack("{s:s, s:{s:s, s:s}, s:s, s:s, s:s}", "type", "button",
			      "text", "type", "plain_text", "text", "Wake", "action_id", "wake", "value", value,
			      "style", "primary")) < 0)
		goto oom_el;
	for (size_t i = 0; i < cfg->chat_extend_count; i++) {
		pv_chatmsg_extend_label(label, sizeof(label), cfg->chat_extend[i]);
		snprintf(id, sizeof(id), "extend:%lld", cfg->chat_extend[i]);
		if (json_array_append_new(elements, json_pack("{s:s, s:{s:s, s:s}, s:s, s:s, s:s}", "type", "button",
			    "text", "type", "plain_text", "text", label, "action_id", id, "value", value,
			    "style", "primary")) < 0)
			goto oom_el;
	}
	snprintf(label, sizeof(label), "Delete %s now?", name);
	if (json_array_append_new(elements, json_pack("{s:s, s:{s:s, s:s}, s:s, s:s, s:s, s:{s:{s:s, s:s}, s:{s:s, s:s}, s:{s:s, s:s}, s:{s:s, s:s}, s:s}}",
		    "type", "button", "text", "type", "plain_text", "text", "Delete now", "action_id", "delete",
		    "value", value, "style", "danger", "confirm",
		    "title", "type", "plain_text", "text", label,
		    "text", "type", "plain_text", "text", "The environment is removed from Git and Argo CD prunes it.",
		    "confirm", "type", "plain_text", "text", "Delete",
		    "deny", "type", "plain_text", "text", "Keep it", "style", "danger")) < 0)
		goto oom_el;
	snprintf(id, sizeof(id), "pv:%s", name);
	if (json_array_append_new(json_object_get(msg, "blocks"),
		    json_pack("{s:s, s:s, s:o}", "type", "actions", "block_id", id, "elements", elements)) < 0)
		goto oom;
	return msg;
oom_el:
	json_decref(elements);
oom:
	json_decref(msg);
	return NULL;
}

static json_t *mm_action(const struct pv_config *cfg, const char *id, const char *label, const char *style,
	const char *name, const char *action, long long now)
{
	char url[512], sig[PV_CHATMSG_SIG_LEN];
	long long exp = now + PV_CHATMSG_CONTEXT_LIFETIME;

	snprintf(url, sizeof(url), "%s/v1/chatops/mattermost/actions", cfg->public_url);
	pv_chatmsg_context_sign(sig, cfg->chatops_action_secret, name, action, exp);
	return json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:{s:s, s:s, s:I, s:s}}}", "id", id, "type", "button",
		"name", label, "style", style, "integration", "url", url, "context",
		"env", name, "action", action, "exp", (json_int_t)exp, "sig", sig);
}

json_t *pv_chatmsg_mattermost(const struct pv_config *cfg, const char *text, const char *name, int asleep,
	long long now)
{
	/* the text is the message's; the attachment only holds the buttons */
	json_t *msg = json_pack("{s:s, s:[{s:s, s:s, s:[]}]}", "text", text, "attachments", "fallback", text,
		"text", "", "actions"), *actions;
	char label[48], id[32], action[48];

	if (!msg || !name || !cfg->chatops_action_secret || !*cfg->chatops_action_secret)
		return msg;
	actions = json_object_get(json_array_get(json_object_get(msg, "attachments"), 0), "actions");
	if (asleep && json_array_append_new(actions, mm_action(cfg, "wake", "Wake", "primary", name, "wake", now)) < 0)
		goto oom;
	for (size_t i = 0; i < cfg->chat_extend_count; i++) {
		pv_chatmsg_extend_label(label, sizeof(label), cfg->chat_extend[i]);
		/* Mattermost's action ids are letters and digits only */
		snprintf(id, sizeof(id), "extend%zu", i);
		snprintf(action, sizeof(action), "extend:%lld", cfg->chat_extend[i]);
		if (json_array_append_new(actions, mm_action(cfg, id, label, "primary", name, action, now)) < 0)
			goto oom;
	}
	if (json_array_append_new(actions, mm_action(cfg, "delete", "Delete now", "danger", name, "delete", now)) < 0)
		goto oom;
	return msg;
oom:
	json_decref(msg);
	return NULL;
}

json_t *pv_chatmsg_teams(const struct pv_config *cfg, const char *text, const char *name)
{
	char env_url[256], page_url[512];
	json_t *actions = json_array();

	if (actions && name) {
		snprintf(env_url, sizeof(env_url), "http://%s.%s", name, cfg->domain);
		snprintf(page_url, sizeof(page_url), "%s/#env=%s", cfg->public_url, name);
		json_array_append_new(actions, json_pack("{s:s, s:s, s:s}", "type", "Action.OpenUrl",
			"title", "Open the environment", "url", env_url));
		json_array_append_new(actions, json_pack("{s:s, s:s, s:s}", "type", "Action.OpenUrl",
			"title", "Extend or delete in previewd", "url", page_url));
	}
	if (!actions)
		return NULL;
	return json_pack("{s:s, s:[{s:s, s:n, s:{s:s, s:s, s:s, s:[{s:s, s:s, s:b}], s:o}}]}", "type", "message",
		"attachments", "contentType", "application/vnd.microsoft.card.adaptive", "contentUrl", "content",
		"$schema", "http://adaptivecards.io/schemas/adaptive-card.json", "type", "AdaptiveCard",
		"version", "1.4", "body", "type", "TextBlock", "text", text, "wrap", 1, "actions", actions);
}
