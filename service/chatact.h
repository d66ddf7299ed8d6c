/*
 * chatact.h - the buttons' way back: POST /v1/chatops/slack/interactions
 * (Slack's block_actions, signed like slash commands) and POST
 * /v1/chatops/mattermost/actions (a context signed by previewd, chatmsg.h).
 *
 * A press names an environment and "extend:<seconds>", "delete" or "wake"
 * (pv_env_wake: a second press, or one on an awake environment, changes
 * nothing and says it is awake).  It is
 * allowed to the environment's owner, or to anyone with
 * PREVIEWD_CHATOPS_ANYONE=true; the Slack user is an owner through
 * PREVIEWD_SLACK_USERS (lines "U123ABC owner", '#' comments) or else by
 * the Slack user name, as slash commands do.  The change goes through env.c
 * like any API write, requested by "slack:<owner>" ("mattermost:<owner>").
 * Writes do not wait for Git, so Slack's answer is an empty 200 within its
 * three seconds and the outcome (extended until when, deleted, or why not)
 * replaces the original message through response_url (chatreply.h);
 * Mattermost's answer is the {"update": {"message"}} itself.  A press is
 * acted on once: the same button of the same message rendering by the same
 * user (a double click, Slack's retry) is remembered for an hour in a
 * bounded table.
 *
 * Threads: HTTP worker threads.
 */
#ifndef PV_CHATACT_H
#define PV_CHATACT_H

#include <stddef.h>

#include "api.h"
#include "env.h"

int pv_chatact_slack(struct pv_envs *envs, const struct pv_request *req, struct pv_response *resp) PV_WARN_UNUSED;
int pv_chatact_mattermost(struct pv_envs *envs, const struct pv_request *req, struct pv_response *resp) PV_WARN_UNUSED;

enum pv_chatact_verb { PV_CHATACT_EXTEND, PV_CHATACT_DELETE, PV_CHATACT_WAKE };

/* One press, decoded. */
struct pv_chatact_press {
	char user_id[64];
	char user_name[128];
	char action[32];        /* "extend:<seconds>", "delete" or "wake" */
	int verb;               /* enum pv_chatact_verb */
	long long seconds;      /* of an extend */
	char env[64];
	char tag[32];           /* digits: tells this press's rendering from the last */
	char response_url[512];
	char key[320];          /* equal for the same press sent again */
};

/* Slack's form body (payload=<JSON>) into out: 0, or PV_EBADREQ with the
 * reason.  Pure: any thread (the fuzz target's entry). */
int pv_chatact_slack_parse(const char *body, size_t len, struct pv_chatact_press *out) PV_WARN_UNUSED;

/* "extend:<seconds>", "delete" or "wake" into *verb and *seconds (0 but
 * for an extend): 0 or PV_EINVAL. */
int pv_chatact_action_parse(const char *action, int *verb, long long *seconds) PV_WARN_UNUSED;

#endif
