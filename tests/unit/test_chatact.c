/*
 * Unit tests for the buttons' pure parts: Slack's interaction payload
 * (chatact.c), the response_url rule (chatreply.c), the action grammar.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "chatact.h"
#include "chatreply.h"

/* body = "payload=" + json, percent-encoded where it matters */
static int parse(const char *json, struct pv_chatact_press *p)
{
	char body[4096];
	size_t o = 0;

	o += (size_t)snprintf(body, sizeof(body), "token=x&payload=");
	for (const char *s = json; *s && o + 4 < sizeof(body); s++) {
		if (*s == '&' || *s == '%' || *s == '+' || *s == ' ')
			o += (size_t)snprintf(body + o, sizeof(body) - o, "%%%02X", (unsigned char)*s);
		else
			body[o++] = *s;
	}
	body[o] = '\0';
	return pv_chatact_slack_parse(body, o, p);
}

#define PRESS(action, value) \
	"{\"type\":\"block_actions\",\"user\":{\"id\":\"U1\",\"username\":\"jane.doe\",\"name\":\"jane\"}," \
	"\"container\":{\"type\":\"message\",\"message_ts\":\"17.5\",\"channel_id\":\"C9\"}," \
	"\"response_url\":\"https://hooks.slack.com/actions/T/1/x\"," \
	"\"actions\":[{\"action_id\":\"" action "\",\"value\":\"" value "\",\"action_ts\":\"17.6\"}]}"

static void parses_an_extend(void **state)
{
	struct pv_chatact_press p;

	(void)state;
	assert_int_equal(parse(PRESS("extend:14400", "pr-1:42"), &p), 0);
	assert_string_equal(p.user_id, "U1");
	assert_string_equal(p.user_name, "jane.doe");
	assert_string_equal(p.env, "pr-1");
	assert_int_equal(p.seconds, 14400);
	assert_int_equal(p.verb, PV_CHATACT_EXTEND);
	assert_string_equal(p.tag, "176");
	assert_string_equal(p.response_url, "https://hooks.slack.com/actions/T/1/x");
	assert_string_equal(p.key, "slack|U1|C9|17.5|extend:14400|pr-1:42");
}

static void parses_a_delete(void **state)
{
	struct pv_chatact_press p;

	(void)state;
	assert_int_equal(parse(PRESS("delete", "pr-2"), &p), 0);
	assert_int_equal(p.seconds, 0);
	assert_int_equal(p.verb, PV_CHATACT_DELETE);
	assert_string_equal(p.env, "pr-2");
}

static void parses_a_wake(void **state)
{
	struct pv_chatact_press p;

	(void)state;
	assert_int_equal(parse(PRESS("wake", "pr-3:7"), &p), 0);
	assert_int_equal(p.verb, PV_CHATACT_WAKE);
	assert_int_equal(p.seconds, 0);
	assert_string_equal(p.env, "pr-3");
	assert_string_equal(p.key, "slack|U1|C9|17.5|wake|pr-3:7");
}

static void refuses_what_is_not_a_press(void **state)
{
	struct pv_chatact_press p;

	(void)state;
	assert_int_equal(parse(PRESS("extend:", "pr-1"), &p), PV_EBADREQ);
	assert_int_equal(parse(PRESS("extend:-5", "pr-1"), &p), PV_EBADREQ);
	assert_int_equal(parse(PRESS("extend:99999999999999999999", "pr-1"), &p), PV_EBADREQ);
	assert_int_equal(parse(PRESS("reboot", "pr-1"), &p), PV_EBADREQ);
	assert_int_equal(parse(PRESS("wake:1", "pr-1"), &p), PV_EBADREQ);
	assert_int_equal(parse(PRESS("delete", "../etc"), &p), PV_EBADREQ);
	assert_int_equal(parse(PRESS("delete", ""), &p), PV_EBADREQ);
	assert_int_equal(parse("{\"type\":\"view_submission\"}", &p), PV_EBADREQ);
	assert_int_equal(parse("not json", &p), PV_EBADREQ);
	assert_int_equal(pv_chatact_slack_parse("text=hello", 10, &p), PV_EBADREQ);
}

static void response_url_stays_under_the_prefix(void **state)
{
	struct pv_config c;

	(void)state;
	memset(&c, 0, sizeof(c));
	c.slack_response_url_prefix = (char *)"https://hooks.slack.com/";
	assert_true(pv_chatreply_url_ok(&c, "https://hooks.slack.com/actions/T/1/x"));
	assert_false(pv_chatreply_url_ok(&c, "https://hooks.slack.com.evil.example/actions"));
	assert_false(pv_chatreply_url_ok(&c, "http://hooks.slack.com/actions"));
	assert_false(pv_chatreply_url_ok(&c, "https://evil.example/https://hooks.slack.com/"));
	assert_false(pv_chatreply_url_ok(&c, "https://hooks.slack.com/a b"));
	c.slack_response_url_prefix = (char *)"https://hooks.slack.com";
	assert_true(pv_chatreply_url_ok(&c, "https://hooks.slack.com/actions"));
	assert_false(pv_chatreply_url_ok(&c, "https://hooks.slack.com.evil.example/"));
	assert_false(pv_chatreply_url_ok(&c, "https://hooks.slack.com@evil.example/"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parses_an_extend),
		cmocka_unit_test(parses_a_delete),
		cmocka_unit_test(parses_a_wake),
		cmocka_unit_test(refuses_what_is_not_a_press),
		cmocka_unit_test(response_url_stays_under_the_prefix),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
