/*
 * chatact.c - button presses from Slack and Mattermost (see chatact.h).
 */
#include "chatact.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "chatmsg.h"
#include "chatops.h"
#include "chatreply.h"
#include "log.h"
#include "timefmt.h"
#include "valid.h"

#define SEEN_SLOTS 256     /* presses remembered: a double click is seconds apart */
#define SEEN_FOR 3600      /* seconds one is remembered */
#define MAX_EXTEND (100LL * 365 * 86400)

/* ---- acting once -------------------------------------------------------- */

static struct {
	pthread_mutex_t lock;
	struct {
		char key[320];
		int64_t at;
	} slot[SEEN_SLOTS];
	size_t next;
} seen = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* 1 if key is new (and now remembered), 0 if it was pressed already.  The
 * oldest entry makes room: the table never grows. */
static int claim(const char *key)
{
	int64_t now = (int64_t)time(NULL);
	int fresh = 1;

	pthread_mutex_lock(&seen.lock);
	for (size_t i = 0; i < SEEN_SLOTS && fresh; i++)
		if (seen.slot[i].at > now - SEEN_FOR && strcmp(seen.slot[i].key, key) == 0)
			fresh = 0;
	if (fresh) {
		snprintf(seen.slot[seen.next].key, sizeof(seen.slot[0].key), "%s", key);
		seen.slot[seen.next].at = now;
		seen.next = (seen.next + 1) % SEEN_SLOTS;
	}
	pthread_mutex_unlock(&seen.lock);
	return fresh;
}

/* ---- decoding ----------------------------------------------------------- */

int pv_chatact_action_parse(const char *action, int *verb, long long *seconds)
{
	long long v = 0;
	const char *p;

	*seconds = 0;
	*verb = PV_CHATACT_DELETE;
	if (strcmp(action, "delete") == 0)
		return 0;
	if (strcmp(action, "wake") == 0) {
		*verb = PV_CHATACT_WAKE;
		return 0;
	}
	if (strncmp(action, "extend:", 7) != 0 || !action[7])
		return pv_error_set(PV_EINVAL, "action_id", "unknown action");
	for (p = action + 7; *p; p++) {
		if (!isdigit((unsigned char)*p) || v > MAX_EXTEND)
			return pv_error_set(PV_EINVAL, "action_id", "unknown action");
		v = v * 10 + (*p - '0');
	}
	if (v < 1 || v > MAX_EXTEND)
		return pv_error_set(PV_EINVAL, "action_id", "unknown action");
	*verb = PV_CHATACT_EXTEND;
	*seconds = v;
	return 0;
}

static const char *str(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "";
}

/* A string Slack sent, copied only if it fits and holds no control
 * characters (it ends up in keys, logs and replies). */
static int copy(char *out, size_t len, const char *s)
{
	size_t n = strlen(s);

	if (n >= len)
		return -1;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return -1;
	memcpy(out, s, n + 1);
	return 0;
}

/* value "<name>" or "<name>:<tag>" into out->env */
static int press_env(struct pv_chatact_press *out, const char *value)
{
	size_t n = strcspn(value, ":");

	if (n == 0 || n >= sizeof(out->env))
		return -1;
	memcpy(out->env, value, n);
	out->env[n] = '\0';
	return pv_valid_name(out->env, "value");
}

int pv_chatact_slack_parse(const char *body, size_t len, struct pv_chatact_press *out)
{
	char *payload = malloc(len + 1);
	json_t *doc = NULL, *user, *action, *container;
	const char *action_ts, *msg_ts, *value;
	int error = PV_EBADREQ;

	memset(out, 0, sizeof(*out));
	if (!payload)
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	if (pv_chatops_form_value(body, len, "payload", payload, len + 1) < 0) {
		pv_error_set(PV_EBADREQ, "payload", "the interaction has no payload");
		goto out;
	}
	if (!(doc = json_loads(payload, JSON_REJECT_DUPLICATES, NULL)) || !json_is_object(doc)) {
		pv_error_set(PV_EBADREQ, "payload", "the payload is not a JSON object");
		goto out;
	}
	if (strcmp(str(doc, "type"), "block_actions") != 0) {
		pv_error_set(PV_EBADREQ, "type", "only block_actions interactions are handled");
		goto out;
	}
	user = json_object_get(doc, "user");
	action = json_array_get(json_object_get(doc, "actions"), 0);
	container = json_object_get(doc, "container");
	value = str(action, "value");
	if (!*str(user, "id") || copy(out->user_id, sizeof(out->user_id), str(user, "id")) < 0 ||
	    copy(out->user_name, sizeof(out->user_name), *str(user, "username") ? str(user, "username") : str(user, "name")) < 0) {
		pv_error_set(PV_EBADREQ, "user", "the payload's user is missing or unreadable");
		goto out;
	}
	if (copy(out->action, sizeof(out->action), str(action, "action_id")) < 0 ||
	    pv_chatact_action_parse(out->action, &out->verb, &out->seconds) < 0 || press_env(out, value) < 0) {
		pv_error_set(PV_EBADREQ, "actions", "the payload's action is not one of previewd's buttons");
		goto out;
	}
	if (!*str(doc, "response_url") || copy(out->response_url, sizeof(out->response_url), str(doc, "response_url")) < 0) {
		pv_error_set(PV_EBADREQ, "response_url", "the payload has no usable response_url");
		goto out;
	}
	action_ts = str(action, "action_ts");
	for (size_t i = 0, o = 0; action_ts[i] && o + 1 < sizeof(out->tag); i++)
		if (isdigit((unsigned char)action_ts[i]))
			out->tag[o++] = action_ts[i];
	/* the same button of the same rendering by the same user: the message's
	 * ts, else this action's (then only Slack's own retries match) */
	msg_ts = *str(container, "message_ts") ? str(container, "message_ts") : str(json_object_get(doc, "message"), "ts");
	if (!*msg_ts)
		msg_ts = *action_ts ? action_ts : str(doc, "trigger_id");
	if (snprintf(out->key, sizeof(out->key), "slack|%s|%.64s|%.64s|%s|%.100s", out->user_id,
		    str(container, "channel_id"), msg_ts, out->action, value) >= (int)sizeof(out->key) ||
	    strchr(out->key, '\n')) {
		pv_error_set(PV_EBADREQ, "container", "the payload's message is unreadable");
		goto out;
	}
	error = 0;
out:
	json_decref(doc);
	free(payload);
	return error;
}

/* ---- who and what ------------------------------------------------------- */

/* PREVIEWD_SLACK_USERS: the owner of Slack user id, read at each press so
 * an edit needs no restart; 0 if found. */
static int mapped_owner(const struct pv_config *cfg, const char *id, char *out, size_t len)
{
	char line[256], a[128], b[128];
	FILE *f;
	int found = -1;

	if (!*cfg->slack_users || !(f = fopen(cfg->slack_users, "r")))
		return -1;
	while (found < 0 && fgets(line, sizeof(line), f)) {
		if (line[0] == '#' || sscanf(line, "%127s %127s", a, b) != 2)
			continue;
		if (strcmp(a, id) == 0 && pv_valid_name(b, "owner") == 0 && strlen(b) < len) {
			snprintf(out, len, "%s", b);
			found = 0;
		}
	}
	fclose(f);
	return found;
}

static const char *const verbs[] = { [PV_CHATACT_EXTEND] = "extend", [PV_CHATACT_DELETE] = "delete",
	[PV_CHATACT_WAKE] = "wake" };

/* The reason of the last error for a refusal's sentence. */
static const char *why(int error)
{
	return pv_error_last()->message[0] ? pv_error_last()->message : pv_error_title(error);
}

/*
 * Act on one press as owner; the outcome sentence into out.  *buttons is 1
 * when the environment is still there to press on, *asleep when it sleeps
 * (its buttons then lead with Wake).
 */
static void act(struct pv_envs *envs, const char *door, const char *owner, const char *from, const char *name,
	int verb, long long seconds, char *out, size_t len, int *buttons, int *asleep)
{
	const struct pv_config *cfg = pv_env_config(envs);
	char actor[96], until[PV_TIME_LEN] = "never", amount[32];
	struct pv_actor who = { .name = actor, .role = PV_ROLE_WRITER, .from = from };
	struct pv_env env;
	int error, was_asleep;

	memset(&env, 0, sizeof(env));
	*buttons = 0;
	snprintf(actor, sizeof(actor), "%s:%s", door, owner);
	if (pv_env_get(envs, name, &env) < 0 || strcmp(env.status, PV_STATUS_DELETED) == 0) {
		snprintf(out, len, "Environment %s no longer exists.", name);
		goto done;
	}
	*buttons = strcmp(env.status, PV_STATUS_FAILED) != 0;
	*asleep = was_asleep = pv_env_is_asleep(&env);
	if (!cfg->chatops_anyone && strcmp(env.owner, owner) != 0) {
		snprintf(out, len, "Refused: @%s may not %s environment %s; only its owner @%s may.", owner, verbs[verb],
			name, env.owner);
		goto done;
	}
	pv_env_dispose(&env);
	memset(&env, 0, sizeof(env));
	if (verb == PV_CHATACT_EXTEND) {
		json_t *ttl = json_integer(seconds);
		struct pv_env_change change = { .ttl = ttl };

		pv_valid_format_duration(amount, sizeof(amount), seconds);
		error = pv_env_patch(envs, &who, name, &change, NULL, &env);
		json_decref(ttl);
		if (error < 0) {
			snprintf(out, len, "Refused: environment %s cannot be extended by %s: %s", name, amount, why(error));
			goto done;
		}
		if (env.expires_at > 0)
			pv_time_format(until, sizeof(until), env.expires_at);
		snprintf(out, len, "Environment %s was extended by @%s: it now expires at %s.", name, owner, until);
	} else if (verb == PV_CHATACT_WAKE) {
		/* waking an awake environment changes nothing (env_sleep.c): a
		 * press from an older message says so instead of failing */
		if ((error = pv_env_wake(envs, &who, name, NULL, &env)) < 0) {
			snprintf(out, len, "Refused: environment %s cannot be woken: %s", name, why(error));
			goto done;
		}
		*asleep = 0;
		if (was_asleep)
			snprintf(out, len, "Environment %s was woken by @%s and is coming back at http://%s.%s.", name, owner,
				name, cfg->domain);
		else
			snprintf(out, len, "Environment %s is awake at http://%s.%s.", name, name, cfg->domain);
	} else {
		if ((error = pv_env_delete(envs, &who, name, NULL, &env)) < 0) {
			snprintf(out, len, "Refused: environment %s cannot be deleted: %s", name, why(error));
			goto done;
		}
		*buttons = 0;
		snprintf(out, len, "Environment %s was deleted by @%s; it is being removed from Git.", name, owner);
	}
done:
	pv_env_dispose(&env);
	log_info("chatops: %s:%s pressed %s on %s: %s", door, owner, verbs[verb], name, out);
}

/* ---- Slack -------------------------------------------------------------- */

int pv_chatact_slack(struct pv_envs *envs, const struct pv_request *req, struct pv_response *resp)
{
	const struct pv_config *cfg = pv_env_config(envs);
	struct pv_chatact_press p;
	char owner[64], outcome[1024];
	json_t *msg;
	int error, buttons = 0, asleep = 0;

	if (!cfg->slack_signing_secret || !*cfg->slack_signing_secret)
		return pv_error_set(PV_ENOTFOUND, NULL, "Slack buttons are off: set PREVIEWD_SLACK_SIGNING_SECRET");
	if ((error = pv_chatops_slack_verify(cfg, req)) < 0 ||
	    (error = pv_chatact_slack_parse(req->body, req->body_len, &p)) < 0)
		return error;
	/* the outcome goes only where Slack's replies go, however well signed
	 * the payload that names another place */
	if (!pv_chatreply_url_ok(cfg, p.response_url))
		return pv_error_set(PV_EBADREQ, "response_url", "the response_url is not under PREVIEWD_SLACK_RESPONSE_URL_PREFIX");
	/* Slack wants an empty 200: the outcome goes through response_url */
	resp->status = 200;
	resp->text_type = "text/plain; charset=utf-8";
	if (!(resp->text = strdup("")))
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	if (!claim(p.key)) {
		log_info("chatops: slack:%s pressed %s on %s again: acted on once", p.user_id, p.action, p.env);
		return 0;
	}
	if (mapped_owner(cfg, p.user_id, owner, sizeof(owner)) < 0 &&
	    pv_chatops_owner_from_user(owner, sizeof(owner), p.user_name) < 0)
		snprintf(outcome, sizeof(outcome), "Refused: your Slack user cannot be turned into an environment owner.");
	else
		act(envs, "slack", owner, req->remote_addr, p.env, p.verb, p.seconds, outcome, sizeof(outcome), &buttons,
			&asleep);
	if (!(msg = pv_chatmsg_slack(cfg, outcome, buttons ? p.env : NULL, p.tag, asleep)) ||
	    json_object_set_new(msg, "replace_original", json_true()) < 0 ||
	    pv_chatreply_post(p.response_url, msg) < 0)
		log_warn("chatops: the outcome for %s is not posted: %s", p.env, pv_error_last()->message);
	json_decref(msg);
	return 0;
}

/* ---- Mattermost --------------------------------------------------------- */

int pv_chatact_mattermost(struct pv_envs *envs, const struct pv_request *req, struct pv_response *resp)
{
	const struct pv_config *cfg = pv_env_config(envs);
	char owner[64], outcome[1024], want[PV_CHATMSG_SIG_LEN], key[320];
	const char *env, *action, *sig, *user;
	long long exp, seconds, now = (long long)time(NULL);
	json_t *doc, *ctx, *msg = NULL;
	int buttons = 0, asleep = 0, verb;

	if (!cfg->chatops_action_secret || !*cfg->chatops_action_secret)
		return pv_error_set(PV_ENOTFOUND, NULL,
			"Mattermost buttons are off: set PREVIEWD_CHATOPS_ACTION_SECRET or PREVIEWD_WEBHOOK_SECRET");
	if (!(doc = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, NULL)) || !json_is_object(doc)) {
		json_decref(doc);
		return pv_error_set(PV_EBADREQ, NULL, "the body must be Mattermost's action request (a JSON object)");
	}
	ctx = json_object_get(doc, "context");
	env = str(ctx, "env");
	action = str(ctx, "action");
	sig = str(ctx, "sig");
	exp = json_is_integer(json_object_get(ctx, "exp")) ? (long long)json_integer_value(json_object_get(ctx, "exp")) : 0;
	user = str(doc, "user_name");
	pv_chatmsg_context_sign(want, cfg->chatops_action_secret, env, action, exp);
	/* Mattermost signs nothing: the context's own signature is the check */
	if (!*want || strlen(sig) != strlen(want) || CRYPTO_memcmp(sig, want, strlen(want)) != 0 ||
	    pv_valid_name(env, "env") < 0 || pv_chatact_action_parse(action, &verb, &seconds) < 0) {
		json_decref(doc);
		return pv_error_set(PV_EAUTH, "context", "the action's context is not one previewd signed");
	}
	resp->status = 200;
	if (exp < now) {
		resp->body = json_pack("{s:s}", "ephemeral_text",
			"These buttons have expired; use the slash command or previewd's page.");
		json_decref(doc);
		return resp->body ? 0 : pv_error_set(PV_ERROR, NULL, "out of memory");
	}
	snprintf(key, sizeof(key), "mattermost|%.64s|%.64s|%s", str(doc, "user_id"), str(doc, "post_id"), sig);
	if (!claim(key)) {
		json_decref(doc);
		resp->body = json_object();
		return resp->body ? 0 : pv_error_set(PV_ERROR, NULL, "out of memory");
	}
	if (pv_chatops_owner_from_user(owner, sizeof(owner), user) < 0)
		snprintf(outcome, sizeof(outcome), "Refused: your Mattermost user cannot be turned into an environment owner.");
	else
		act(envs, "mattermost", owner, req->remote_addr, env, verb, seconds, outcome, sizeof(outcome), &buttons,
			&asleep);
	if ((msg = pv_chatmsg_mattermost(cfg, outcome, buttons ? env : NULL, asleep, now)))
		resp->body = json_pack("{s:{s:s, s:{s:O}}}", "update", "message", outcome, "props", "attachments",
			json_object_get(msg, "attachments"));
	json_decref(msg);
	json_decref(doc);
	return resp->body ? 0 : pv_error_set(PV_ERROR, NULL, "out of memory");
}
