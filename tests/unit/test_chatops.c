/*
 * Unit tests for chatops.c: the command grammar, Slack's signature, and the
 * two doors calling the environment rules against a real SQLite file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "chatops.h"
#include "env.h"
#include "store.h"
#include "tmpdir.h"

/* ---- the grammar ---------------------------------------------------------- */

static enum pv_chatops_verb parse(struct pv_chatops_command *c, const char *text, char *reply, size_t len)
{
	pv_chatops_parse(c, text, "jane", reply, len);
	return c->verb;
}

static void grammar_create(void **state)
{
	struct pv_chatops_command c;
	char reply[1024];

	(void)state;
	assert_int_equal(parse(&c, "create", reply, sizeof(reply)), PV_CHATOPS_CREATE);
	assert_null(c.name);
	assert_null(c.ttl);
	assert_string_equal(reply, "");

	assert_int_equal(parse(&c, "  create   pr-42\t4h ", reply, sizeof(reply)), PV_CHATOPS_CREATE);
	assert_string_equal(c.name, "pr-42");
	assert_string_equal(c.ttl, "4h");

	/* a word starting with a digit is a duration, never a name */
	assert_int_equal(parse(&c, "create 4h", reply, sizeof(reply)), PV_CHATOPS_CREATE);
	assert_null(c.name);
	assert_string_equal(c.ttl, "4h");

	/* the name is checked by the rules, not the grammar: the reply says why */
	assert_int_equal(parse(&c, "create Not_A_Name", reply, sizeof(reply)), PV_CHATOPS_CREATE);
	assert_string_equal(c.name, "Not_A_Name");

	assert_int_equal(parse(&c, "create pr-42 4h extra", reply, sizeof(reply)), PV_CHATOPS_BAD);
	assert_null(c.name);
	assert_non_null(strstr(reply, "Too many words."));
	assert_non_null(strstr(reply, "Usage: create [name] [ttl]"));
}

static void grammar_extend_delete_list(void **state)
{
	struct pv_chatops_command c;
	char reply[1024];

	(void)state;
	assert_int_equal(parse(&c, "extend pr-42 8h", reply, sizeof(reply)), PV_CHATOPS_EXTEND);
	assert_string_equal(c.name, "pr-42");
	assert_string_equal(c.ttl, "8h");
	assert_int_equal(parse(&c, "extend pr-42", reply, sizeof(reply)), PV_CHATOPS_BAD);
	assert_string_equal(reply, "Usage: extend <name> <ttl>, e.g. extend jane 8h");
	assert_int_equal(parse(&c, "extend ../etc 8h", reply, sizeof(reply)), PV_CHATOPS_BAD);
	assert_string_equal(reply, "Usage: extend <name> <ttl>, e.g. extend jane 8h");

	assert_int_equal(parse(&c, "delete pr-42", reply, sizeof(reply)), PV_CHATOPS_DELETE);
	assert_string_equal(c.name, "pr-42");
	assert_null(c.ttl);
	assert_int_equal(parse(&c, "delete", reply, sizeof(reply)), PV_CHATOPS_BAD);
	assert_string_equal(reply, "Usage: delete <name>");
	assert_int_equal(parse(&c, "delete a b", reply, sizeof(reply)), PV_CHATOPS_BAD);
	assert_string_equal(reply, "Usage: delete <name>");
	assert_int_equal(parse(&c, "delete -x", reply, sizeof(reply)), PV_CHATOPS_BAD);

	assert_int_equal(parse(&c, "list", reply, sizeof(reply)), PV_CHATOPS_LIST);
	assert_int_equal(parse(&c, "list all", reply, sizeof(reply)), PV_CHATOPS_BAD);
	assert_non_null(strstr(reply, "I do not know 'list'."));
}

static void grammar_help_and_nonsense(void **state)
{
	struct pv_chatops_command c;
	char reply[1024], longword[100];

	(void)state;
	assert_int_equal(parse(&c, "", reply, sizeof(reply)), PV_CHATOPS_HELP);
	assert_true(strncmp(reply, "Usage: create [name] [ttl]", 26) == 0);
	assert_int_equal(parse(&c, "help", reply, sizeof(reply)), PV_CHATOPS_HELP);
	assert_true(strncmp(reply, "Usage: ", 7) == 0);
	assert_int_equal(parse(&c, "frobnicate now", reply, sizeof(reply)), PV_CHATOPS_BAD);
	assert_true(strncmp(reply, "I do not know 'frobnicate'.\nUsage: ", 35) == 0);
	assert_int_equal(parse(&c, "a b c d e f", reply, sizeof(reply)), PV_CHATOPS_BAD);
	assert_true(strncmp(reply, "Too many words.\n", 16) == 0);

	/* an unknown word is echoed cut to 40 bytes */
	memset(longword, 'x', sizeof(longword) - 1);
	longword[sizeof(longword) - 1] = '\0';
	assert_int_equal(parse(&c, longword, reply, sizeof(reply)), PV_CHATOPS_BAD);
	assert_true(strncmp(reply + strlen("I do not know '") + 40, "'.", 2) == 0);
}

/* Slack's documented example request and its signature */
static void slack_signature(void **state)
{
	static const char body[] =
		"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
		"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
		"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
		"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
	char sig[80];

	(void)state;
	pv_chatops_slack_signature(sig, sizeof(sig), "8f742231b10e8888abcd99yyyzzz85a5", "1531420618", body,
		strlen(body));
	assert_string_equal(sig, "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503");
}

/* ---- the doors -------------------------------------------------------------- */

static int fake_folder(void *ctx, const char *name, int *exists, int *managed, char **values_yaml, size_t *values_len)
{
	static const char values[] = "replicaCount: 1\n";

	(void)ctx;
	*exists = strcmp(name, "dev") == 0;
	*managed = 0;
	if (values_yaml) {
		*values_yaml = *exists ? strdup(values) : NULL;
		*values_len = *exists ? strlen(values) : 0;
	}
	return 0;
}

static void fake_kick(void *ctx)
{
	(void)ctx;
}

struct fixture {
	char dir[64];
	char path[128];
	struct pv_config cfg;
	struct pv_envs *envs;
	char ts[32], sig[80];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct pv_store_settings db = { .path = f->path };
	struct pv_env_git g = { .folder = fake_folder, .kick = fake_kick };

	if (pv_test_mkdtemp(f->dir, sizeof(f->dir), "chatops") < 0)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/t.db", f->dir);
	f->cfg.domain = "env.my";
	f->cfg.env_dir = "env";
	f->cfg.base_env = "dev";
	f->cfg.default_ttl = 8 * 3600;
	f->cfg.max_ttl = 7 * 86400;
	f->cfg.min_ttl = 60;
	f->cfg.max_values_bytes = 65536;
	f->cfg.slack_signing_secret = "s3cret";
	if (pv_env_new(&f->envs, &f->cfg, &db, &g) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	pv_env_free(f->envs);
	if (pv_test_rmtree(f->dir) < 0)
		return -1;
	free(f);
	return 0;
}

static const char *text_of(const struct pv_response *r)
{
	return json_string_value(json_object_get(r->body, "text"));
}

static void json_door(struct fixture *f, struct pv_response *r, enum pv_role role, const char *body)
{
	struct pv_request req = { .method = "POST", .path = "/v1/chatops", .content_type = "application/json",
		.body = body, .body_len = strlen(body), .actor = "chatbot", .role = role, .remote_addr = "10.0.0.9" };

	memset(r, 0, sizeof(*r));
	assert_int_equal(pv_chatops_json(f->envs, &req, r), 0);
	assert_int_equal(r->status, 200);
}

static void json_door_commands(void **state)
{
	struct fixture *f = *state;
	struct pv_response r;
	struct pv_env env;

	json_door(f, &r, PV_ROLE_WRITER, "{\"user\": \"Jane.Doe\", \"text\": \"create pr-42 4h\"}");
	assert_true(json_is_true(json_object_get(r.body, "ok")));
	assert_true(strncmp(text_of(&r), "Environment pr-42 for @jane-doe: http://pr-42.env.my (expires ", 62) == 0);
	assert_non_null(strstr(text_of(&r), "It is being pushed to Git now."));
	assert_string_equal(json_string_value(json_object_get(json_object_get(r.body, "environment"), "name")), "pr-42");
	pv_response_dispose(&r);

	/* the rules ran: the row, its owner and who asked */
	assert_int_equal(pv_env_get(f->envs, "pr-42", &env), 0);
	assert_string_equal(env.owner, "jane-doe");
	assert_string_equal(env.requested_by, "chatbot");
	assert_int_equal(env.expires_at - env.created_at, 4 * 3600);
	pv_env_dispose(&env);

	json_door(f, &r, PV_ROLE_WRITER, "{\"user\": \"Jane.Doe\", \"text\": \"create pr-42\"}");
	assert_true(json_is_false(json_object_get(r.body, "ok")));
	assert_true(strncmp(text_of(&r), "Sorry: an environment named 'pr-42' already exists", 50) == 0);
	assert_true(json_is_null(json_object_get(r.body, "environment")));
	pv_response_dispose(&r);

	json_door(f, &r, PV_ROLE_WRITER, "{\"user\": \"Jane.Doe\", \"text\": \"extend pr-42 30d\"}");
	assert_true(json_is_false(json_object_get(r.body, "ok")));
	assert_non_null(strstr(text_of(&r), "exceeds the maximum of 7d"));
	pv_response_dispose(&r);

	json_door(f, &r, PV_ROLE_WRITER, "{\"user\": \"Jane.Doe\", \"text\": \"list\"}");
	assert_true(json_is_true(json_object_get(r.body, "ok")));
	assert_true(strncmp(text_of(&r), "Environments of @jane-doe:\n- pr-42 http://pr-42.env.my (pending, expires ", 73) == 0);
	pv_response_dispose(&r);

	json_door(f, &r, PV_ROLE_WRITER, "{\"user\": \"Jane.Doe\", \"text\": \"delete pr-42\"}");
	assert_true(json_is_true(json_object_get(r.body, "ok")));
	assert_string_equal(text_of(&r), "Environment pr-42 is being removed from Git.");
	pv_response_dispose(&r);

	/* a reader's bot may not change anything */
	json_door(f, &r, PV_ROLE_READER, "{\"user\": \"Jane.Doe\", \"text\": \"create pr-43\"}");
	assert_true(json_is_false(json_object_get(r.body, "ok")));
	assert_true(strncmp(text_of(&r), "Sorry: ", 7) == 0);
	pv_response_dispose(&r);
	assert_int_equal(pv_env_get(f->envs, "pr-43", &env), PV_ENOTFOUND);
	pv_env_dispose(&env);
}

static const char *slack_header(void *ctx, const char *name)
{
	struct fixture *f = ctx;

	if (strcmp(name, "X-Slack-Request-Timestamp") == 0)
		return f->ts;
	if (strcmp(name, "X-Slack-Signature") == 0)
		return f->sig;
	return NULL;
}

static int slack_door(struct fixture *f, struct pv_response *r, const char *body, long long age, const char *secret)
{
	struct pv_request req = { .method = "POST", .path = "/v1/chatops/slack",
		.content_type = "application/x-www-form-urlencoded", .body = body, .body_len = strlen(body),
		.header = slack_header, .header_ctx = f, .remote_addr = "10.0.0.9" };

	snprintf(f->ts, sizeof(f->ts), "%lld", (long long)time(NULL) - age);
	pv_chatops_slack_signature(f->sig, sizeof(f->sig), secret, f->ts, body, strlen(body));
	memset(r, 0, sizeof(*r));
	return pv_chatops_slack(f->envs, &req, r);
}

static void slack_door_verifies(void **state)
{
	struct fixture *f = *state;
	struct pv_response r;
	struct pv_env env;

	assert_int_equal(slack_door(f, &r, "user_name=Jane.Doe&text=create+4h&team_domain=acme", 0, "s3cret"), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(json_string_value(json_object_get(r.body, "response_type")), "ephemeral");
	assert_true(strncmp(text_of(&r), "Environment jane-doe for @jane-doe: http://jane-doe.env.my", 58) == 0);
	pv_response_dispose(&r);
	assert_int_equal(pv_env_get(f->envs, "jane-doe", &env), 0);
	assert_string_equal(env.requested_by, "slack:jane-doe");
	pv_env_dispose(&env);

	/* another secret, or a replay older than five minutes, is refused */
	assert_int_equal(slack_door(f, &r, "user_name=Jane.Doe&text=list", 0, "wrong"), PV_EAUTH);
	assert_null(r.body);
	assert_int_equal(slack_door(f, &r, "user_name=Jane.Doe&text=list", 301, "s3cret"), PV_EAUTH);
	assert_null(r.body);
	assert_int_equal(slack_door(f, &r, "text=list", 0, "s3cret"), PV_EBADREQ);

	/* off without a signing secret */
	f->cfg.slack_signing_secret = "";
	assert_int_equal(slack_door(f, &r, "user_name=Jane.Doe&text=list", 0, ""), PV_ENOTFOUND);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(grammar_create),
		cmocka_unit_test(grammar_extend_delete_list),
		cmocka_unit_test(grammar_help_and_nonsense),
		cmocka_unit_test(slack_signature),
		cmocka_unit_test_setup_teardown(json_door_commands, setup, teardown),
		cmocka_unit_test_setup_teardown(slack_door_verifies, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
