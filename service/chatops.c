/*
 * chatops.c - the slash-command grammar over the REST API (see chatops.h).
 */
#include "chatops.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "log.h"
#include "valid.h"

#define SLACK_WINDOW 300   /* seconds a signed request stays valid: replays older than that fail */
#define MAX_ARGS 4

void pv_chatops_slack_signature(char *out, size_t len, const char *secret, const char *timestamp,
	const char *body, size_t body_len)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	size_t off, plen = strlen(timestamp) + 4, n = plen + body_len;
	unsigned char *msg = malloc(n + 1);

	if (msg) {
		snprintf((char *)msg, plen + 1, "v0:%s:", timestamp);
		memcpy(msg + plen, body, body_len);
		if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), msg, n, mac, &maclen))
			maclen = 0;
		free(msg);
	}
	off = (size_t)snprintf(out, len, "v0=");
	for (unsigned int i = 0; i < maclen && off + 3 <= len; i++)
		off += (size_t)snprintf(out + off, len - off, "%02x", mac[i]);
}

/* ---- form decoding ------------------------------------------------------ */

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* The value of key in an application/x-www-form-urlencoded body, decoded
 * into out; 0 if found. */
static int form_value(const char *body, size_t len, const char *key, char *out, size_t outlen)
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
static int owner_from_user(char *out, size_t len, const char *user)
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

/* ---- commands ----------------------------------------------------------- */

struct command {
	char owner[64];
	char actor[96];
	const char *remote;
	char text[512];
	char reply[2048];
	int ok;
	json_t *environment;  /* the environment the command touched, if any */
};

static const char usage[] =
	"Usage: create [name] [ttl] | extend <name> <ttl> | delete <name> | list | help\n"
	"  create            an environment named after you, with the default TTL\n"
	"  create pr-42 4h   an environment named pr-42 for 4 hours\n"
	"  extend pr-42 8h   it now expires 8 hours from now\n"
	"  delete pr-42      remove it now\n"
	"  list              your environments";

static const char *no_query(void *ctx, const char *key)
{
	(void)ctx;
	(void)key;
	return NULL;
}

/* Run one REST request as the chat user.  Writes answer at once (the push
 * goes on in the background): a chat client wants the URL now. */
static void run(struct pv_api *api, struct command *c, const char *method, const char *path, const char *body,
	struct pv_response *resp)
{
	struct pv_request sub = {
		.method = method,
		.path = path,
		.query = no_query,
		.content_type = "application/json",
		.prefer = "respond-async",
		.body = body ? body : "",
		.body_len = body ? strlen(body) : 0,
		.remote_addr = c->remote,
		.trusted_actor = c->actor,
	};

	pv_api_handle(api, &sub, resp);
	if (resp->wait != PV_WAIT_NONE)
		pv_api_finish(api, resp);
	pv_api_release(api, resp);
}

static const char *field(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "";
}

static void reply_problem(struct command *c, const struct pv_response *r)
{
	snprintf(c->reply, sizeof(c->reply), "Sorry: %s", field(r->body, "detail"));
}

static void cmd_create(struct pv_api *api, struct command *c, char **argv, int argc)
{
	struct pv_response r;
	json_t *body = json_pack("{s:s}", "owner", c->owner);
	char *s;
	int a = 1;

	/* names start with a letter, durations with a digit: never ambiguous */
	if (a < argc && isalpha((unsigned char)argv[a][0]))
		json_object_set_new(body, "name", json_string(argv[a++]));
	if (a < argc)
		json_object_set_new(body, "ttl", json_string(argv[a++]));
	if (a < argc) {
		snprintf(c->reply, sizeof(c->reply), "Too many words.\n%s", usage);
		json_decref(body);
		return;
	}
	s = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	run(api, c, "POST", "/v1/environments", s, &r);
	free(s);
	if (r.status >= 400) {
		reply_problem(c, &r);
	} else {
		c->ok = 1;
		snprintf(c->reply, sizeof(c->reply),
			"Environment %s for @%s: %s (expires %s). %s Extend it with `extend %s 8h`, remove it with `delete %s`.",
			field(r.body, "name"), c->owner, field(r.body, "url"), field(r.body, "expires_at"),
			r.status == 201 ? "It is in Git and deploying." : "It is being pushed to Git now.",
			field(r.body, "name"), field(r.body, "name"));
		c->environment = json_incref(r.body);
	}
	pv_response_dispose(&r);
}

static void cmd_extend(struct pv_api *api, struct command *c, char **argv, int argc)
{
	struct pv_response r;
	char path[128], *s;
	json_t *body;

	if (argc != 3 || pv_valid_name(argv[1], "name") < 0) {
		snprintf(c->reply, sizeof(c->reply), "Usage: extend <name> <ttl>, e.g. extend %s 8h", c->owner);
		return;
	}
	body = json_pack("{s:s}", "ttl", argv[2]);
	s = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	snprintf(path, sizeof(path), "/v1/environments/%s", argv[1]);
	run(api, c, "PATCH", path, s, &r);
	free(s);
	if (r.status >= 400) {
		reply_problem(c, &r);
	} else {
		c->ok = 1;
		snprintf(c->reply, sizeof(c->reply), "Environment %s now expires %s.", argv[1], field(r.body, "expires_at"));
		c->environment = json_incref(r.body);
	}
	pv_response_dispose(&r);
}

static void cmd_delete(struct pv_api *api, struct command *c, char **argv, int argc)
{
	struct pv_response r;
	char path[128];

	if (argc != 2 || pv_valid_name(argv[1], "name") < 0) {
		snprintf(c->reply, sizeof(c->reply), "Usage: delete <name>");
		return;
	}
	snprintf(path, sizeof(path), "/v1/environments/%s", argv[1]);
	run(api, c, "DELETE", path, NULL, &r);
	if (r.status >= 400) {
		reply_problem(c, &r);
	} else {
		c->ok = 1;
		snprintf(c->reply, sizeof(c->reply), "Environment %s is %s.", argv[1],
			r.status == 200 ? "removed from Git" : "being removed from Git");
		c->environment = json_incref(r.body);
	}
	pv_response_dispose(&r);
}

static const char *list_query(void *ctx, const char *key)
{
	struct command *c = ctx;

	return strcmp(key, "owner") == 0 ? c->owner : strcmp(key, "limit") == 0 ? "100" : NULL;
}

static void cmd_list(struct pv_api *api, struct command *c)
{
	struct pv_response r;
	struct pv_request sub = { .method = "GET", .path = "/v1/environments", .query = list_query, .query_ctx = c,
		.remote_addr = c->remote, .trusted_actor = c->actor };
	size_t off, i;
	json_t *item;
	int shown = 0;

	pv_api_handle(api, &sub, &r);
	off = (size_t)snprintf(c->reply, sizeof(c->reply), "Environments of @%s:", c->owner);
	json_array_foreach(json_object_get(r.body, "items"), i, item) {
		const char *status = field(item, "status");
		if (strcmp(status, "deleted") == 0 || strcmp(status, "failed") == 0 || off + 200 >= sizeof(c->reply))
			continue;
		off += (size_t)snprintf(c->reply + off, sizeof(c->reply) - off, "\n- %s %s (%s, expires %s)",
			field(item, "name"), field(item, "url"), status, field(item, "expires_at"));
		shown++;
	}
	if (!shown)
		snprintf(c->reply + off, sizeof(c->reply) - off, " none. Create one with `create`.");
	c->ok = r.status == 200;
	pv_response_dispose(&r);
}

/* Split the text into words and run the command. */
static void dispatch(struct pv_api *api, struct command *c)
{
	char *argv[MAX_ARGS + 1], *save = NULL, *w;
	char text[sizeof(c->text)];
	int argc = 0;

	snprintf(text, sizeof(text), "%s", c->text);
	for (w = strtok_r(text, " \t\r\n", &save); w && argc <= MAX_ARGS; w = strtok_r(NULL, " \t\r\n", &save))
		argv[argc++] = w;
	if (argc == 0 || strcmp(argv[0], "help") == 0) {
		snprintf(c->reply, sizeof(c->reply), "%s", usage);
		c->ok = 1;
	} else if (argc > MAX_ARGS) {
		snprintf(c->reply, sizeof(c->reply), "Too many words.\n%s", usage);
	} else if (strcmp(argv[0], "create") == 0) {
		cmd_create(api, c, argv, argc);
	} else if (strcmp(argv[0], "extend") == 0) {
		cmd_extend(api, c, argv, argc);
	} else if (strcmp(argv[0], "delete") == 0) {
		cmd_delete(api, c, argv, argc);
	} else if (strcmp(argv[0], "list") == 0 && argc == 1) {
		cmd_list(api, c);
	} else {
		snprintf(c->reply, sizeof(c->reply), "I do not know '%.40s'.\n%s", argv[0], usage);
	}
	/* truncated echoes (%.40s) may cut a character in two */
	sanitize_text(c->reply, 1);
	log_info("chatops: %s: '%s' -> %s", c->actor, c->text, c->ok ? "ok" : "refused");
}

/* ---- the two doors ------------------------------------------------------ */

static int verify_slack(const struct pv_config *cfg, const struct pv_request *req)
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

int pv_chatops_slack(struct pv_api *api, const struct pv_request *req, struct pv_response *resp)
{
	const struct pv_config *cfg = pv_api_config(api);
	struct command c = { .remote = req->remote_addr };
	char user[128], team[64];
	int error;

	if (!cfg->slack_signing_secret || !*cfg->slack_signing_secret)
		return pv_error_set(PV_ENOTFOUND, NULL, "Slack commands are off: set PREVIEWD_SLACK_SIGNING_SECRET");
	if ((error = verify_slack(cfg, req)) < 0)
		return error;
	if (form_value(req->body, req->body_len, "user_name", user, sizeof(user)) < 0)
		return pv_error_set(PV_EBADREQ, "user_name", "the Slack request has no user_name");
	form_value(req->body, req->body_len, "text", c.text, sizeof(c.text));
	form_value(req->body, req->body_len, "team_domain", team, sizeof(team));
	sanitize_text(c.text, 0);
	sanitize_text(user, 0);
	if (owner_from_user(c.owner, sizeof(c.owner), user) < 0) {
		snprintf(c.reply, sizeof(c.reply), "Your Slack name cannot be turned into an environment owner.");
	} else {
		snprintf(c.actor, sizeof(c.actor), "slack:%s", c.owner);
		dispatch(api, &c);
	}
	resp->status = 200;
	/* ephemeral: only the asker sees it; the created notification, if a
	 * webhook is configured, tells the channel */
	resp->body = json_pack("{s:s, s:s}", "response_type", "ephemeral", "text", c.reply);
	json_decref(c.environment);
	return resp->body ? 0 : pv_error_set(PV_ERROR, NULL, "out of memory");
}

int pv_chatops_json(struct pv_api *api, const struct pv_request *req, struct pv_response *resp)
{
	struct command c = { .remote = req->remote_addr };
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
	if (owner_from_user(c.owner, sizeof(c.owner), user) < 0) {
		json_decref(doc);
		return pv_error_set(PV_EINVAL, "user", "user cannot be turned into an environment owner");
	}
	snprintf(c.text, sizeof(c.text), "%s", text);
	sanitize_text(c.text, 0);
	/* the bot's token is the requester; the chat user owns the environment */
	snprintf(c.actor, sizeof(c.actor), "%s", req->actor ? req->actor : "anonymous");
	json_decref(doc);
	dispatch(api, &c);
	resp->status = 200;
	resp->body = json_pack("{s:b, s:s, s:o}", "ok", c.ok, "text", c.reply,
		"environment", c.environment ? c.environment : json_null());
	return resp->body ? 0 : pv_error_set(PV_ERROR, NULL, "out of memory");
}
