/*
 * Unit tests for notify.c's pure parts: pv_notify_render (json and slack
 * bodies, from outbox payloads shaped like store.c's outbox_payload) and
 * pv_notify_sign (against HMAC-SHA256 vectors computed independently with
 * `printf 'v1:123:body' | openssl dgst -sha256 -hmac secret`).
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
#include <jansson.h>

#include "chatmsg.h"
#include "notify.h"

/* created_at 2023-11-14T22:13:20Z, expires_at +8h, at +5 s */
#define CREATED 1700000000LL
#define EXPIRES 1700028800LL
#define AT 1700000005LL

static struct pv_config cfg_of(const char *format)
{
	struct pv_config c;

	memset(&c, 0, sizeof(c));
	c.domain = "env.my";
	c.public_url = "https://previewd.example.com";
	c.webhook_format = (char *)format;
	c.default_ttl = 8 * 3600;   /* the extension hint suggests the default TTL */
	c.min_ttl = 60;
	c.chat_extend[0] = 4 * 3600;
	c.chat_extend[1] = 86400;
	c.chat_extend_count = 2;
	c.chatops_action_secret = (char *)"action-secret";
	return c;
}

/* A payload as store.c's outbox_payload writes it. */
static char *payload(const char *status, long long expires, const char *actor, const char *detail)
{
	char *s = NULL;

	assert_true(asprintf(&s,
			    "{\"name\":\"alice\",\"owner\":\"alice-o\",\"status\":\"%s\",\"base\":\"dev\","
			    "\"created_at\":%lld,\"expires_at\":%lld,\"at\":%lld,\"actor\":\"%s\",\"env_id\":7,"
			    "\"detail\":%s}",
			    status, CREATED, expires, AT, actor, detail ? detail : "null") > 0);
	return s;
}

static json_t *render(const char *format, int64_t id, const char *kind, const char *p)
{
	struct pv_config c = cfg_of(format);
	char *body = pv_notify_render(&c, id, kind, p);
	json_error_t err;
	json_t *j;

	assert_non_null(body);
	j = json_loads(body, JSON_REJECT_DUPLICATES, &err);
	if (!j)
		fail_msg("body is not JSON (%s): %s", err.text, body);
	free(body);
	return j;
}

static const char *str(json_t *o, const char *path1, const char *path2)
{
	json_t *v = json_object_get(o, path1);

	if (path2)
		v = json_object_get(v, path2);
	return json_string_value(v);
}

static void json_created(void **state)
{
	char *p = payload("pending", EXPIRES, "anonymous", NULL);
	json_t *j = render("json", 42, "created", p);
	const char *text;

	(void)state;
	assert_string_equal(str(j, "id", NULL), "42");
	assert_string_equal(str(j, "event", NULL), "created");
	assert_string_equal(str(j, "occurred_at", NULL), "2023-11-14T22:13:25Z");
	assert_string_equal(str(j, "environment", "name"), "alice");
	assert_string_equal(str(j, "environment", "owner"), "alice-o");
	assert_string_equal(str(j, "environment", "status"), "pending");
	assert_string_equal(str(j, "environment", "url"), "http://alice.env.my");
	assert_string_equal(str(j, "environment", "namespace"), "alice");
	assert_string_equal(str(j, "environment", "expires_at"), "2023-11-15T06:13:20Z");
	assert_string_equal(str(j, "url", NULL), "http://alice.env.my");
	assert_string_equal(str(j, "owner", NULL), "alice-o");
	assert_string_equal(str(j, "expires_at", NULL), "2023-11-15T06:13:20Z");
	assert_string_equal(str(j, "actor", NULL), "anonymous");
	assert_string_equal(str(j, "extend", "method"), "PATCH");
	assert_string_equal(str(j, "extend", "url"), "https://previewd.example.com/v1/environments/alice");
	assert_string_equal(str(j, "extend", "body"), "{\"ttl\":\"8h\"}");
	text = str(j, "text", NULL);
	assert_non_null(text);
	assert_non_null(strstr(text, "@alice-o"));
	assert_non_null(strstr(text, "requested by anonymous"));
	assert_non_null(strstr(text, "http://alice.env.my"));
	assert_non_null(strstr(text, "2023-11-15T06:13:20Z"));
	/* exactly the documented top-level fields */
	assert_int_equal(json_object_size(j), 10);
	json_decref(j);
	free(p);
}

static void json_never_expires(void **state)
{
	char *p = payload("active", 0, "previewd", "{\"commit\":\"abc\",\"gen\":1}");
	json_t *j = render("json", 1, "ready", p);

	(void)state;
	assert_true(json_is_null(json_object_get(j, "expires_at")));
	assert_true(json_is_null(json_object_get(json_object_get(j, "environment"), "expires_at")));
	assert_string_equal(str(j, "event", NULL), "ready");
	assert_string_equal(str(j, "actor", NULL), "previewd");
	assert_non_null(strstr(str(j, "text", NULL), "expires at never"));
	json_decref(j);
	free(p);
}

static void json_expiring_has_extend_hint(void **state)
{
	char *p = payload("active", EXPIRES, "reaper",
		"{\"lead_seconds\":600,\"expires_at\":1700028800,\"seconds_left\":600}");
	json_t *j = render("json", 9, "expiring", p);
	const char *text = str(j, "text", NULL);

	(void)state;
	assert_string_equal(str(j, "event", NULL), "expiring");
	assert_non_null(strstr(text, "@alice-o"));
	assert_non_null(strstr(text, "expires in 10m"));
	assert_non_null(strstr(text, "at 2023-11-15T06:13:20Z"));
	assert_non_null(strstr(text, "curl -X PATCH https://previewd.example.com/v1/environments/alice"));
	assert_non_null(strstr(text, "{\"ttl\":\"8h\"}"));
	json_decref(j);
	free(p);
}

static void json_each_kind_has_a_sentence(void **state)
{
	static const struct {
		const char *kind, *status, *detail, *needle;
	} cases[] = {
		{ "extended", "active", "{\"previous_expires_at\":\"x\",\"expires_at\":\"y\"}", "was extended by anonymous until 2023-11-15T06:13:20Z" },
		{ "deleted", "deleting", "{\"commit\":\"abc\",\"gen\":3}", "was removed from Git" },
		{ "failed", "failed", "{\"error\":\"the folder env/alice exists\"}", "could not be created: the folder env/alice exists" },
		{ "failed", "failed", NULL, "could not be created: Git refused it" },
		{ "something-new", "active", NULL, "Environment alice: something-new." },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *p = payload(cases[i].status, EXPIRES, "anonymous", cases[i].detail);
		json_t *j = render("json", (int64_t)i + 100, cases[i].kind, p);
		const char *text = str(j, "text", NULL);

		assert_string_equal(str(j, "event", NULL), cases[i].kind);
		assert_string_equal(str(j, "environment", "status"), cases[i].status);
		if (!strstr(text, cases[i].needle))
			fail_msg("%s: text '%s' lacks '%s'", cases[i].kind, text, cases[i].needle);
		json_decref(j);
		free(p);
	}
}

/* an expiry warning in Slack: the text, and the blocks with its buttons */
static void slack_expiring_has_buttons(void **state)
{
	char *p = payload("active", EXPIRES, "reaper",
		"{\"lead_seconds\":3600,\"expires_at\":1700028800,\"seconds_left\":3600}");
	json_t *j = render("slack", 5, "expiring", p);
	const char *text = str(j, "text", NULL);
	json_t *el = json_object_get(json_array_get(json_object_get(j, "blocks"), 1), "elements");

	(void)state;
	assert_int_equal(json_object_size(j), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(j, "blocks"), 0), "type")), "section");
	assert_int_equal(json_array_size(el), 3);
	assert_string_equal(json_string_value(json_object_get(json_array_get(el, 0), "action_id")), "extend:14400");
	assert_string_equal(json_string_value(json_object_get(json_array_get(el, 1), "action_id")), "extend:86400");
	assert_string_equal(json_string_value(json_object_get(json_array_get(el, 2), "action_id")), "delete");
	assert_string_equal(json_string_value(json_object_get(json_array_get(el, 2), "value")), "alice");
	assert_non_null(json_object_get(json_array_get(el, 2), "confirm"));
	assert_non_null(text);
	assert_non_null(strstr(text, "@alice-o"));
	assert_non_null(strstr(text, "http://alice.env.my"));
	assert_non_null(strstr(text, "expires in 1h"));
	assert_non_null(strstr(text, "PATCH"));
	assert_non_null(strstr(text, "https://previewd.example.com/v1/environments/alice"));
	json_decref(j);
	free(p);
}

/* a sleeping environment's warning and slept notice lead with Wake */
static void slack_asleep_has_a_wake_button(void **state)
{
	static const char *const kinds[] = { "expiring", "slept" };
	char *p = payload("active", EXPIRES, "reaper",
		"{\"lead_seconds\":3600,\"expires_at\":1700028800,\"seconds_left\":3600}");
	/* as outbox_payload writes it for a sleeping environment */
	const char *asleep = "{\"name\":\"alice\",\"owner\":\"alice-o\",\"status\":\"active\",\"base\":\"dev\","
			     "\"created_at\":1700000000,\"expires_at\":1700028800,\"at\":1700000005,\"actor\":\"reaper\","
			     "\"env_id\":7,\"asleep\":true,\"detail\":{\"lead_seconds\":3600,\"seconds_left\":3600}}";

	(void)state;
	for (size_t k = 0; k < 2; k++) {
		json_t *j = render("slack", 6, kinds[k], asleep);
		json_t *el = json_object_get(json_array_get(json_object_get(j, "blocks"), 1), "elements");

		assert_int_equal(json_array_size(el), 4);
		assert_string_equal(json_string_value(json_object_get(json_array_get(el, 0), "action_id")), "wake");
		assert_string_equal(json_string_value(json_object_get(json_array_get(el, 0), "value")), "alice");
		assert_string_equal(json_string_value(json_object_get(json_array_get(el, 3), "action_id")), "delete");
		json_decref(j);
		j = render("mattermost", 6, kinds[k], asleep);
		el = json_object_get(json_array_get(json_object_get(j, "attachments"), 0), "actions");
		assert_int_equal(json_array_size(el), 4);
		assert_string_equal(json_string_value(json_object_get(json_object_get(json_object_get(json_array_get(el, 0),
			"integration"), "context"), "action")), "wake");
		json_decref(j);
	}
	/* awake: the warning has no Wake */
	json_t *j = render("slack", 7, "expiring", p);
	json_t *el = json_object_get(json_array_get(json_object_get(j, "blocks"), 1), "elements");

	assert_string_equal(json_string_value(json_object_get(json_array_get(el, 0), "action_id")), "extend:14400");
	json_decref(j);
	free(p);
}

/* other events: the text only, no actions */
static void slack_created_has_no_buttons(void **state)
{
	char *p = payload("pending", EXPIRES, "alice", NULL);
	json_t *j = render("slack", 4, "created", p);

	(void)state;
	assert_int_equal(json_array_size(json_object_get(j, "blocks")), 1);
	json_decref(j);
	free(p);
}

static void mattermost_expiring_has_signed_actions(void **state)
{
	char *p = payload("active", EXPIRES, "reaper",
		"{\"lead_seconds\":3600,\"expires_at\":1700028800,\"seconds_left\":3600}");
	json_t *j = render("mattermost", 5, "expiring", p);
	json_t *acts = json_object_get(json_array_get(json_object_get(j, "attachments"), 0), "actions");
	json_t *ctx = json_object_get(json_object_get(json_array_get(acts, 2), "integration"), "context");
	char want[PV_CHATMSG_SIG_LEN];

	(void)state;
	assert_int_equal(json_array_size(acts), 3);
	assert_string_equal(json_string_value(json_object_get(json_object_get(json_array_get(acts, 0), "integration"), "url")),
		"https://previewd.example.com/v1/chatops/mattermost/actions");
	assert_string_equal(json_string_value(json_object_get(ctx, "env")), "alice");
	assert_string_equal(json_string_value(json_object_get(ctx, "action")), "delete");
	pv_chatmsg_context_sign(want, "action-secret", "alice", "delete", json_integer_value(json_object_get(ctx, "exp")));
	assert_string_equal(json_string_value(json_object_get(ctx, "sig")), want);
	json_decref(j);
	free(p);
}

static void teams_is_an_adaptive_card(void **state)
{
	char *p = payload("pending", EXPIRES, "alice", NULL);
	json_t *j = render("teams", 4, "created", p);
	json_t *att = json_array_get(json_object_get(j, "attachments"), 0);
	json_t *acts = json_object_get(json_object_get(att, "content"), "actions");

	(void)state;
	assert_string_equal(str(j, "type", NULL), "message");
	assert_string_equal(json_string_value(json_object_get(att, "contentType")), "application/vnd.microsoft.card.adaptive");
	assert_string_equal(json_string_value(json_object_get(json_array_get(acts, 1), "url")),
		"https://previewd.example.com/#env=alice");
	json_decref(j);
	free(p);
}

static void slack_escapes_quotes(void **state)
{
	/* a Git error with quotes and a backslash must still give valid JSON */
	char *p = payload("failed", EXPIRES, "previewd", "{\"error\":\"refs \\\"main\\\" rejected \\\\ retry\"}");
	json_t *j = render("slack", 6, "failed", p);

	(void)state;
	assert_non_null(strstr(str(j, "text", NULL), "refs \"main\" rejected \\ retry"));
	json_decref(j);
	free(p);
}

static void render_rejects_bad_payload(void **state)
{
	struct pv_config c = cfg_of("json");

	(void)state;
	assert_null(pv_notify_render(&c, 1, "created", "{not json"));
	assert_null(pv_notify_render(&c, 1, "created", ""));
}

/* HMAC-SHA256 vectors from openssl, see the file comment */
static void sign_known_vectors(void **state)
{
	char sig[96];
	char longkey[101];

	(void)state;
	pv_notify_sign(sig, sizeof(sig), "secret", 123, "body");
	assert_string_equal(sig, "v1=0f7f381c9ea2c4864d0b49f3a60cabccf509a87d10910aa3816777788ea5533d");
	pv_notify_sign(sig, sizeof(sig), "s3cr3t", 1700000000, "{\"id\":\"7\",\"event\":\"created\"}");
	assert_string_equal(sig, "v1=290948c12911e1f87722af7246267eb014f2916aeef16542d12015a33f66b0ed");
	pv_notify_sign(sig, sizeof(sig), "k", 0, "");
	assert_string_equal(sig, "v1=4ce4dc76c89b0c60ffe0d97749c678b9379b1996de693ca229bae8d1f085e6b7");
	/* a key longer than the SHA-256 block is hashed first */
	memset(longkey, 'k', 100);
	longkey[100] = '\0';
	pv_notify_sign(sig, sizeof(sig), longkey, 1700000000, "{\"text\":\"hi\"}");
	assert_string_equal(sig, "v1=470be890fd6caf0a260e7221545c1b832c19c5b4f5ce7c9053b80d57ead5dd20");
}

static void sign_covers_timestamp_and_body(void **state)
{
	char a[96], b[96], c[96], d[96];

	(void)state;
	pv_notify_sign(a, sizeof(a), "secret", 123, "body");
	pv_notify_sign(b, sizeof(b), "secret", 124, "body");
	pv_notify_sign(c, sizeof(c), "secret", 123, "bodY");
	pv_notify_sign(d, sizeof(d), "Secret", 123, "body");
	assert_int_equal(strlen(a), 67);
	assert_string_not_equal(a, b);
	assert_string_not_equal(a, c);
	assert_string_not_equal(a, d);
	/* the documented minimum buffer holds the whole signature */
	pv_notify_sign(b, 70, "secret", 123, "body");
	assert_string_equal(a, b);
}

static void sign_truncates_safely(void **state)
{
	char sig[16];

	(void)state;
	memset(sig, 'X', sizeof(sig));
	pv_notify_sign(sig, 10, "secret", 123, "body");
	/* never past len, always terminated, a prefix of the real signature */
	assert_true(strlen(sig) < 10);
	assert_int_equal(strncmp(sig, "v1=0f7f381c9ea2", strlen(sig)), 0);
	assert_int_equal(sig[10], 'X');
}

static void hint_respects_max_lifetime(void **state)
{
	struct pv_config c = cfg_of("json");
	char *p, *body;
	json_t *doc;
	long long now = (long long)time(NULL);

	(void)state;
	/* created 50 minutes ago with a 1 hour lifetime: at most 10 minutes left */
	c.max_lifetime = 3600;
	if (asprintf(&p, "{\"name\":\"alice\",\"owner\":\"alice\",\"status\":\"active\",\"base\":\"dev\","
		     "\"created_at\":%lld,\"expires_at\":%lld,\"at\":%lld,\"actor\":\"reaper\",\"env_id\":1,"
		     "\"detail\":{\"lead_seconds\":600,\"seconds_left\":300}}", now - 3000, now + 300, now) < 0)
		fail();
	body = pv_notify_render(&c, 9, "expiring", p);
	assert_non_null(body);
	doc = json_loads(body, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(json_object_get(doc, "extend"), "body")), "{\"ttl\":\"10m\"}");
	json_decref(doc);
	free(body);
	/* past the lifetime: no extension is offered */
	free(p);
	if (asprintf(&p, "{\"name\":\"alice\",\"owner\":\"alice\",\"status\":\"active\",\"base\":\"dev\","
		     "\"created_at\":%lld,\"expires_at\":%lld,\"at\":%lld,\"actor\":\"reaper\",\"env_id\":1,"
		     "\"detail\":{\"lead_seconds\":600,\"seconds_left\":30}}", now - 3590, now + 10, now) < 0)
		fail();
	body = pv_notify_render(&c, 10, "expiring", p);
	assert_non_null(strstr(body, "cannot be extended"));
	free(body);
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(hint_respects_max_lifetime),
		cmocka_unit_test(json_created),
		cmocka_unit_test(json_never_expires),
		cmocka_unit_test(json_expiring_has_extend_hint),
		cmocka_unit_test(json_each_kind_has_a_sentence),
		cmocka_unit_test(slack_expiring_has_buttons),
		cmocka_unit_test(slack_created_has_no_buttons),
		cmocka_unit_test(slack_asleep_has_a_wake_button),
		cmocka_unit_test(mattermost_expiring_has_signed_actions),
		cmocka_unit_test(teams_is_an_adaptive_card),
		cmocka_unit_test(slack_escapes_quotes),
		cmocka_unit_test(render_rejects_bad_payload),
		cmocka_unit_test(sign_known_vectors),
		cmocka_unit_test(sign_covers_timestamp_and_body),
		cmocka_unit_test(sign_truncates_safely),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
