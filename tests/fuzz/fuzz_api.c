/*
 * Fuzz target: request handling end to end below the socket - routing, the
 * JSON body parser, validation, values merge and rendering, and the store -
 * with the first input byte choosing the method and route and the rest the
 * body (or the path).  Every answer must be a well-formed response: a
 * status from the documented set and, for errors, a problem document.
 */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "chatops.h"
#include "store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char dev_values[] = "# dev\nreplicaCount: 1\nimage:\n  repository: nginx\n  tag: \"1.27\"\nflags:\n  enabled: yes\n";

static int fake_folder(void *ctx, const char *name, int *exists, int *managed, char **values_yaml, size_t *values_len)
{
	(void)ctx;
	*exists = *managed = 0;
	if (values_yaml)
		*values_yaml = NULL;
	if (strcmp(name, "dev") == 0 || strcmp(name, "prod") == 0) {
		*exists = 1;
		if (values_yaml) {
			*values_yaml = strdup(dev_values);
			*values_len = strlen(dev_values);
		}
	}
	return 0;
}

static void fake_kick(void *ctx)
{
	(void)ctx;
}

static const char *no_query(void *ctx, const char *key)
{
	(void)ctx;
	(void)key;
	return NULL;
}

static struct pv_api *api;
static struct pv_config cfg;

/* Slack headers signed for the fuzzed body, so the form parser and the
 * command grammar behind the signature check are reached too. */
static char slack_ts[32], slack_sig[96];

static const char *slack_header(void *ctx, const char *name)
{
	(void)ctx;
	if (strcmp(name, "X-Slack-Request-Timestamp") == 0)
		return slack_ts;
	if (strcmp(name, "X-Slack-Signature") == 0)
		return slack_sig;
	return NULL;
}

static void init(void)
{
	static char dir[] = "/tmp/pv-fuzz-api-XXXXXX";
	static char path[128];
	struct pv_store_settings db = { 0 };
	struct pv_store *st;
	struct pv_api_git g = { .folder = fake_folder, .kick = fake_kick };

	if (!mkdtemp(dir))
		abort();
	snprintf(path, sizeof(path), "%s/f.db", dir);
	db.path = path;
	if (pv_store_open(&st, &db) < 0)
		abort();
	pv_store_free(st);
	cfg.domain = "env.my";
	cfg.env_dir = "env";
	cfg.base_env = "dev";
	cfg.default_ttl = 3600;
	cfg.max_ttl = 86400;
	cfg.min_ttl = 60;
	cfg.wait_ms = 0;
	cfg.max_values_bytes = 65536;
	cfg.public_url = "http://127.0.0.1:8080";
	cfg.slack_signing_secret = "fuzz-secret";
	if (pv_api_new(&api, &cfg, &db, &g) < 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const methods[] = { "POST", "PATCH", "DELETE", "GET" };
	static const char *const posts[] = { "/v1/environments", "/v1/chatops", "/v1/chatops/slack", "/v1/environments" };
	struct pv_request req = { 0 };
	struct pv_response resp;
	char path[256];
	char *body;
	int status;

	if (!api)
		init();
	if (size < 1)
		return 0;
	body = malloc(size);
	if (!body)
		return 0;
	memcpy(body, data + 1, size - 1);
	body[size - 1] = '\0';
	req.method = methods[data[0] & 3];
	if (data[0] & 4) {
		/* the rest is a path below /v1/environments/ */
		snprintf(path, sizeof(path), "/v1/environments/%.*s", (int)(size - 1 < 200 ? size - 1 : 200), body);
		req.path = path;
	} else {
		req.path = (data[0] & 3) == 0 ? posts[(data[0] >> 4) & 3] : "/v1/environments/alice";
	}
	req.query = no_query;
	req.content_type = "application/json";
	req.body = body;
	req.body_len = size - 1;
	req.remote_addr = "127.0.0.1";
	if (strcmp(req.path, "/v1/chatops/slack") == 0) {
		snprintf(slack_ts, sizeof(slack_ts), "%lld", (long long)time(NULL));
		pv_chatops_slack_signature(slack_sig, sizeof(slack_sig), cfg.slack_signing_secret, slack_ts, body, size - 1);
		req.content_type = "application/x-www-form-urlencoded";
		req.header = slack_header;
	}
	pv_api_handle(api, &req, &resp);
	status = resp.status;
	if (!(status == 200 || status == 202 || status == 400 || status == 404 || status == 405 ||
	      status == 409 || status == 413 || status == 415 || status == 422)) {
		fprintf(stderr, "unexpected status %d for %s %s: %s\n", status, req.method, req.path,
			resp.body ? json_string_value(json_object_get(resp.body, "detail")) : "");
		abort();
	}
	if (status >= 400 && (!resp.problem || !json_is_string(json_object_get(resp.body, "detail")))) {
		fprintf(stderr, "status %d without a problem document for %s %s\n", status, req.method, req.path);
		abort();
	}
	pv_api_release(api, &resp);
	if (status < 400 && !resp.body) {
		fprintf(stderr, "status %d without a body for %s %s\n", status, req.method, req.path);
		abort();
	}
	pv_response_dispose(&resp);
	free(body);
	return 0;
}
