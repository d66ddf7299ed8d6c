/*
 * chatops.c - the slash-command grammar over the environment rules (see
 * chatops.h): verification, parsing, the call into env.c, the reply.
 */
#include "chatops.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "chatmsg.h"
#include "hex.h"
#include "log.h"
#include "timefmt.h"
#include "valid.h"

#define SLACK_WINDOW 300   /* seconds a signed request stays valid: replays older than that fail */
#define MAX_ARGS 4
#define LIST_LIMIT 100    /* environments a list shows, newest first */

void pv_chatops_slack_signature(char *out, size_t len, const char *secret, const char *timestamp,
	const char *body, size_t body_len)
{
	char digest[PV_HEX_HMAC_SHA256_LEN] = "";
	size_t plen = strlen(timestamp) + 4, n = plen + body_len;
	char *msg = malloc(n + 1);

	/* Slack signs "v0:<timestamp>:<body>" */
	if (msg) {
		snprintf(msg, plen + 1, "v0:%s:", timestamp);
		memcpy(msg + plen, body, body_len);
		if (pv_hex_hmac_sha256(digest, secret, msg, n) < 0)
			digest[0] = '\0';
		free(msg);
	}
	snprintf(out, len, "v0=%s", digest);
}

/* ---- form decoding ------------------------------------------------------ */

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* The value of key in an application/x-www-form-urlencoded body, decoded
 * into out; 0 if found. */
int pv_chatops_form_value(const char *body, size_t len, const char *key, char *out, size_t outlen)
{
	size_t klen = strlen(key), i = 0;

	while (i < len) {
		size_t end = i;
		while (end < len && body[end] != '&')
			end++;
		if (end - i > klen && strncmp(body + i, key, klen) == 0 && body[i + klen] == '=') {
			size_t o = 0;
			for (size_t j = i + klen + 1; j < end && o + 1 < outlen; j++) {
				if (body[j] == '+') {
					out[o++] = ' ';
				} else if (body[j] == '%' && j + 2 < end && hexval(body[j + 1]) >= 0 && hexval(body[j + 2]) >= 0) {
					out[o++] = (char)(hexval(body[j + 1]) * 16 + hexval(body[j + 2]));
					j += 2;
				} else {
					out[o++] = body[j];
				}
			}
			out[o] = '\0';
			return 0;
		}
		i = end + 1;
	}
	out[0] = '\0';
	return -1;
}

/* Decoded form text is arbitrary bytes: keep valid UTF-8, turn control
 * characters and invalid sequences into '?', so replies and logs built
 * from it stay valid. */
static void sanitize_text(char *s, int keep_newlines)
{
	unsigned char *p = (unsigned char *)s;

	while (*p) {
		size_t len = pv_valid_utf8_len(p, strlen((const char *)p));

		if (len == 0) {
			*p++ = '?';
			continue;
		}
		if (len == 1 && (*p < 0x20 || *p == 0x7f) && *p != '\t' && !(keep_newlines && *p == '\n'))
			*p = ' ';
		p += len;
	}
}

/* A chat user name as an owner: lowercase, [a-z0-9-] only, starting with a
 * letter ("Jane.Doe" -> "jane-doe"). */
int pv_chatops_owner_from_user(char *out, size_t len, const char *user)
{
	size_t o = 0;

	for (const char *p = user; *p && o + 1 < len && o < PV_NAME_MAX; p++) {
		char c = (char)tolower((unsigned char)*p);
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
			out[o++] = c;
		else if (o > 0 && out[o - 1] != '-')
			out[o++] = '-';
	}
	while (o > 0 && out[o - 1] == '-')
		o--;
	out[o] = '\0';
	return pv_valid_name(out, "user");
}

/* ---- the grammar -------------------------------------------------------- */

static const char usage[] =
	"Usage: create [name] [ttl] | extend <name> <ttl> | delete <name> | sleep <name> | wake <name> | list | help\n"
	"  create            an environment named after you, with the default TTL\n"
	"  create pr-42 4h   an environment named pr-42 for 4 hours\n"
	"  extend pr-42 8h   it now expires 8 hours from now\n"
	"  delete pr-42      remove it now\n"
	"  sleep pr-42       put it to sleep (through Git); wake pr-42 brings it back\n"
	"  list              your environments";

void pv_chatops_parse(struct pv_chatops_command *out, const char *text, const char *owner, char *reply, size_t len)
{
	char *argv[MAX_ARGS + 1], *save = NULL, *w;
	int argc = 0, a = 1;

	memset(out, 0, sizeof(*out));
	reply[0] = '\0';
	snprintf(out->buf, sizeof(out->buf), "%s", text);
	for (w = strtok_r(out->buf, " \t\r\n", &save); w && argc <= MAX_ARGS; w = strtok_r(NULL, " \t\r\n", &save))
		argv[argc++] = w;
	if (argc == 0 || strcmp(argv[0], "help") == 0) {
		out->verb = PV_CHATOPS_HELP;
		snprintf(reply, len, "%s", usage);
	} else if (argc > MAX_ARGS) {
		snprintf(reply, len, "Too many words.\n%s", usage);
	} else if (strcmp(argv[0], "create") == 0) {
		if (a < argc && isalpha((unsigned char)argv[a][0]))
			out->name = argv[a++];
		if (a < argc)
			out->ttl = argv[a++];
		if (a < argc)
			snprintf(reply, len, "Too many words.\n%s", usage);
		else
			out->verb = PV_CHATOPS_CREATE;
	} else if (strcmp(argv[0], "extend") == 0) {
		if (argc != 3 || pv_valid_name(argv[1], "name") < 0) {
			snprintf(reply, len, "Usage: extend <name> <ttl>, e.g. extend %s 8h", owner);
		} else {
			out->verb = PV_CHATOPS_EXTEND;
			out->name = argv[1];
			out->ttl = argv[2];
		}
	} else if (strcmp(argv[0], "delete") == 0) {
		if (argc != 2 || pv_valid_name(argv[1], "name") < 0) {
			snprintf(reply, len, "Usage: delete <name>");
		} else {
			out->verb = PV_CHATOPS_DELETE;
			out->name = argv[1];
		}
	} else if (strcmp(argv[0], "sleep") == 0 || strcmp(argv[0], "wake") == 0) {
		if (argc != 2 || pv_valid_name(argv[1], "name") < 0) {
			snprintf(reply, len, "Usage: %s <name>", argv[0]);
		} else {
			out->verb = argv[0][0] == 's' ? PV_CHATOPS_SLEEP : PV_CHATOPS_WAKE;
			out->name = argv[1];
		}
	} else if (strcmp(argv[0], "list") == 0 && argc == 1) {
		out->verb = PV_CHATOPS_LIST;
	} else {
		snprintf(reply, len, "I do not know '%.40s'.\n%s", argv[0], usage);
	}
	if (out->verb == PV_CHATOPS_BAD || out->verb == PV_CHATOPS_HELP)
		out->name = out->ttl = NULL;
}

/* ---- commands ----------------------------------------------------------- */

struct command {
	char owner[64];
	char actor[96];
	struct pv_actor who;
	char text[PV_CHATOPS_TEXT_MAX];
	char reply[2048];
	int ok;
	json_t *environment;  /* the environment the command touched, if any */
	int buttons;          /* the Slack reply carries its buttons (chatmsg.h) */
};

static void reply_error(struct command *c, int code)
{
	const struct pv_error_info *e = pv_error_last();

	snprintf(c->reply, sizeof(c->reply), "Sorry: %s", e->code == code && e->message[0] ? e->message : pv_error_title(code));
}

/*
 * Chat answers at once (the push goes on in the background: a chat client
 * wants the URL now), with the row as it is after the write: *landed when
 * the change is already in Git, PV_ECONFLICT if Git refused it for good.
 */
static int settle(struct pv_envs *envs, struct pv_env *env, int *landed)
{
	struct pv_env now;
	int64_t gen = env->gen;

	*landed = 0;
	if (pv_env_reload(envs, env->id, &now) < 0) {
		pv_env_dispose(&now);
		return 0; /* keep the row recorded at acceptance */
	}
	pv_env_dispose(env);
	*env = now;
	if (strcmp(env->status, PV_STATUS_FAILED) == 0)
		return pv_error_set(PV_ECONFLICT, "name", "%s", env->git_error ? env->git_error : "Git refused the environment");
	*landed = env->pushed_gen >= gen;
	return 0;
}

static const char *field(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "";
}

/* Run a write's answer through settle and keep the environment's JSON. */
static int finish_write(struct pv_envs *envs, struct command *c, int error, struct pv_env *env, int *landed)
{
	if (error == 0)
		error = settle(envs, env, landed);
	if (error < 0) {
		reply_error(c, error);
		return error;
	}
	if (!(c->environment = pv_env_json(envs, env)))
		c->environment = json_object();
	c->ok = 1;
	return 0;
}

static void cmd_create(struct pv_envs *envs, struct command *c, const struct pv_chatops_command *cmd)
{
	struct pv_env_spec spec = { .owner = c->owner, .name = cmd->name };
	json_t *ttl = cmd->ttl ? json_string(cmd->ttl) : NULL, *j;
	struct pv_env env;
	int landed;

	spec.ttl = ttl;
	if (finish_write(envs, c, pv_env_create(envs, &c->who, &spec, NULL, &env), &env, &landed) == 0) {
		j = c->environment;
		snprintf(c->reply, sizeof(c->reply),
			"Environment %s for @%s: %s (expires %s). %s Extend it with `extend %s 8h`, remove it with `delete %s`.",
			field(j, "name"), c->owner, field(j, "url"), field(j, "expires_at"),
			landed ? "It is in Git and deploying." : "It is being pushed to Git now.",
			field(j, "name"), field(j, "name"));
		c->buttons = 1;
	}
	pv_env_dispose(&env);
	json_decref(ttl);
}

static void cmd_extend(struct pv_envs *envs, struct command *c, const struct pv_chatops_command *cmd)
{
	json_t *ttl = json_string(cmd->ttl);
	struct pv_env_change change = { .ttl = ttl };
	struct pv_env env;
	int landed;

	if (finish_write(envs, c, pv_env_patch(envs, &c->who, cmd->name, &change, NULL, &env), &env, &landed) == 0)
	{
		snprintf(c->reply, sizeof(c->reply), "Environment %s now expires %s.", cmd->name,
			field(c->environment, "expires_at"));
		c->buttons = 1;
	}
	pv_env_dispose(&env);
	json_decref(ttl);
}

static void cmd_delete(struct pv_envs *envs, struct command *c, const struct pv_chatops_command *cmd)
{
	struct pv_env env;
	int landed;

	if (finish_write(envs, c, pv_env_delete(envs, &c->who, cmd->name, NULL, &env), &env, &landed) == 0)
		snprintf(c->reply, sizeof(c->reply), "Environment %s is %s.", cmd->name,
			landed ? "removed from Git" : "being removed from Git");
	pv_env_dispose(&env);
}

static void cmd_sleep(struct pv_envs *envs, struct command *c, const struct pv_chatops_command *cmd, int asleep)
{
	struct pv_env env;
	int landed, error = asleep ? pv_env_sleep(envs, &c->who, cmd->name, NULL, &env)
				   : pv_env_wake(envs, &c->who, cmd->name, NULL, &env);

	if (finish_write(envs, c, error, &env, &landed) == 0)
		snprintf(c->reply, sizeof(c->reply), asleep ? "Environment %s is asleep%s; wake it with `wake %s`."
			: "Environment %s is awake%s; it is at %s.", cmd->name,
			landed ? " (in Git)" : " (being pushed to Git)", asleep ? cmd->name : field(c->environment, "url"));
	pv_env_dispose(&env);
}

struct list_ctx {
	const struct pv_config *cfg;
	char *reply;
	size_t off, len;
	int shown;
};

static int list_one(const struct pv_env *env, void *payload)
{
	struct list_ctx *lc = payload;
	char expires[PV_TIME_LEN] = "";

	if (strcmp(env->status, PV_STATUS_DELETED) == 0 || strcmp(env->status, PV_STATUS_FAILED) == 0 ||
	    lc->off + 200 >= lc->len)
		return 0;
	if (env->expires_at > 0)
		pv_time_format(expires, sizeof(expires), env->expires_at);
	lc->off += (size_t)snprintf(lc->reply + lc->off, lc->len - lc->off, "\n- %s http://%s.%s (%s, expires %s)",
		env->name, env->name, lc->cfg->domain, pv_env_is_asleep(env) ? PV_STATUS_SLEEPING : env->status, expires);
	lc->shown++;
	return 0;
}

static void cmd_list(struct pv_envs *envs, struct command *c)
{
	struct pv_store_filter f = { .owner = c->owner, .sort = PV_SORT_NEWEST, .limit = LIST_LIMIT };
	struct list_ctx lc = { .cfg = pv_env_config(envs), .reply = c->reply, .len = sizeof(c->reply) };
	size_t head = (size_t)snprintf(c->reply, sizeof(c->reply), "Environments of @%s:", c->owner);
	int error;

	lc.off = head;
	if ((error = pv_env_list(envs, &f, list_one, &lc)) < 0) {
		lc.off = head;  /* what the list could not finish is not shown */
		lc.shown = 0;
	}
	if (!lc.shown)
		snprintf(c->reply + lc.off, sizeof(c->reply) - lc.off, " none. Create one with `create`.");
	c->ok = error == 0;
}

/* Parse the text and run the command. */
static void dispatch(struct pv_envs *envs, struct command *c)
{
	struct pv_chatops_command cmd;

	pv_chatops_parse(&cmd, c->text, c->owner, c->reply, sizeof(c->reply));
	switch (cmd.verb) {
	case PV_CHATOPS_HELP:
		c->ok = 1;
		break;
	case PV_CHATOPS_CREATE:
		cmd_create(envs, c, &cmd);
		break;
	case PV_CHATOPS_EXTEND:
		cmd_extend(envs, c, &cmd);
		break;
	case PV_CHATOPS_DELETE:
		cmd_delete(envs, c, &cmd);
		break;
	case PV_CHATOPS_SLEEP:
	case PV_CHATOPS_WAKE:
		cmd_sleep(envs, c, &cmd, cmd.verb == PV_CHATOPS_SLEEP);
		break;
	case PV_CHATOPS_LIST:
		cmd_list(envs, c);
		break;
	case PV_CHATOPS_BAD:
		break;
	}
	/* truncated echoes (%.40s) may cut a character in two */
	sanitize_text(c->reply, 1);
	log_info("chatops: %s: '%s' -> %s", c->actor, c->text, c->ok ? "ok" : "refused");
}

/* ---- the two doors ------------------------------------------------------ */

int pv_chatops_slack_verify(const struct pv_config *cfg, const struct pv_request *req)
{
	const char *ts = req->header ? req->header(req->header_ctx, "X-Slack-Request-Timestamp") : NULL;
	const char *sig = req->header ? req->header(req->header_ctx, "X-Slack-Signature") : NULL;
	char want[80];
	long long t;
	char *end;

	if (!ts || !sig)
		return pv_error_set(PV_EAUTH, NULL, "missing X-Slack-Request-Timestamp or X-Slack-Signature");
	t = strtoll(ts, &end, 10);
	/* compared without subtracting: an extreme timestamp must not overflow */
	if (*end || end == ts || t < (long long)time(NULL) - SLACK_WINDOW || t > (long long)time(NULL) + SLACK_WINDOW)
		return pv_error_set(PV_EAUTH, NULL, "the Slack request timestamp is missing or older than five minutes");
	pv_chatops_slack_signature(want, sizeof(want), cfg->slack_signing_secret, ts, req->body, req->body_len);
	/* constant time, over equal lengths only */
	if (strlen(sig) != strlen(want) || CRYPTO_memcmp(sig, want, strlen(want)) != 0)
		return pv_error_set(PV_EAUTH, NULL, "the Slack signature does not match");
	return 0;
}

int pv_chatops_slack(struct pv_envs *envs, const struct pv_request *req, struct pv_response *resp)
{
	const struct pv_config *cfg = pv_env_config(envs);
	struct command c = { .who = { .role = PV_ROLE_WRITER, .from = req->remote_addr } };
	char user[128], team[64];
	int error;

	if (!cfg->slack_signing_secret || !*cfg->slack_signing_secret)
		return pv_error_set(PV_ENOTFOUND, NULL, "Slack commands are off: set PREVIEWD_SLACK_SIGNING_SECRET");
	if ((error = pv_chatops_slack_verify(cfg, req)) < 0)
		return error;
	if (pv_chatops_form_value(req->body, req->body_len, "user_name", user, sizeof(user)) < 0)
		return pv_error_set(PV_EBADREQ, "user_name", "the Slack request has no user_name");
	pv_chatops_form_value(req->body, req->body_len, "text", c.text, sizeof(c.text));
	pv_chatops_form_value(req->body, req->body_len, "team_domain", team, sizeof(team));
	sanitize_text(c.text, 0);
	sanitize_text(user, 0);
	if (pv_chatops_owner_from_user(c.owner, sizeof(c.owner), user) < 0) {
		snprintf(c.reply, sizeof(c.reply), "Your Slack name cannot be turned into an environment owner.");
	} else {
		/* a verified Slack user may change environments as itself */
		snprintf(c.actor, sizeof(c.actor), "slack:%s", c.owner);
		c.who.name = c.actor;
		dispatch(envs, &c);
	}
	resp->status = 200;
	/* ephemeral: only the asker sees it; the created notification, if a
	 * webhook is configured, tells the channel */
	if (c.buttons && (resp->body = pv_chatmsg_slack(cfg, c.reply, field(c.environment, "name"), NULL,
				  strcmp(field(c.environment, "status"), PV_STATUS_SLEEPING) == 0)))
		json_object_set_new(resp->body, "response_type", json_string("ephemeral"));
	else
		resp->body = json_pack("{s:s, s:s}", "response_type", "ephemeral", "text", c.reply);
	json_decref(c.environment);
	return resp->body ? 0 : pv_error_set(PV_ERROR, NULL, "out of memory");
}

int pv_chatops_json(struct pv_envs *envs, const struct pv_request *req, struct pv_response *resp)
{
	struct command c = { .who = { .role = req->role, .from = req->remote_addr } };
	json_error_t jerr;
	json_t *doc;
	const char *user, *text;

	if (!req->content_type || strncasecmp(req->content_type, "application/json", 16) != 0)
		return pv_error_set(PV_EMEDIATYPE, NULL, "the body must be JSON: {\"user\": ..., \"text\": ...}");
	if (!(doc = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr)) || !json_is_object(doc)) {
		json_decref(doc);
		return pv_error_set(PV_EBADREQ, NULL, "the body must be a JSON object {\"user\": ..., \"text\": ...}");
	}
	user = json_string_value(json_object_get(doc, "user"));
	text = json_string_value(json_object_get(doc, "text"));
	if (!user || !text) {
		json_decref(doc);
		return pv_error_set(PV_EINVAL, !user ? "user" : "text", "user and text are required strings");
	}
	if (pv_chatops_owner_from_user(c.owner, sizeof(c.owner), user) < 0) {
		json_decref(doc);
		return pv_error_set(PV_EINVAL, "user", "user cannot be turned into an environment owner");
	}
	snprintf(c.text, sizeof(c.text), "%s", text);
	sanitize_text(c.text, 0);
	/* the bot's token is the requester; the chat user owns the environment */
	snprintf(c.actor, sizeof(c.actor), "%s", req->actor ? req->actor : "anonymous");
	c.who.name = c.actor;
	json_decref(doc);
	dispatch(envs, &c);
	resp->status = 200;
	resp->body = json_pack("{s:b, s:s, s:o}", "ok", c.ok, "text", c.reply,
		"environment", c.environment ? c.environment : json_null());
	return resp->body ? 0 : pv_error_set(PV_ERROR, NULL, "out of memory");
}
