/* Unit tests for forge.c's reading of the forges' answers (outside input:
 * the ids that go into the next request's path, the rate-limit headers,
 * the error bodies) and the sticky comment's text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "forge_int.h"

static void id_of(const char *json, char *out, size_t len)
{
	json_t *doc = json_loads(json, JSON_DECODE_ANY, NULL);

	pv_forge__id(doc, out, len);
	json_decref(doc);
}

/* Only a positive integer or a string of digits is an id. */
static void ids(void **state)
{
	char id[32];

	(void)state;
	id_of("{\"id\": 1234, \"body\": \"x\"}", id, sizeof(id));
	assert_string_equal(id, "1234");
	id_of("{\"id\": \"98765\"}", id, sizeof(id));
	assert_string_equal(id, "98765");
	id_of("{\"id\": 9007199254740993}", id, sizeof(id));
	assert_string_equal(id, "9007199254740993");
	/* each of these would change the path of the edit that follows */
	static const char *const bad[] = {
		"{\"id\": \"../../orgs/x\"}", "{\"id\": \"12?x=1\"}", "{\"id\": \"12/34\"}", "{\"id\": \"\"}",
		"{\"id\": -5}", "{\"id\": 0}", "{\"id\": 1.5}", "{\"id\": null}", "{\"id\": [1]}", "{\"ID\": 1}",
		"{\"id\": \"123456789012345678901\"}", "[{\"id\": 1}]", "\"1\"",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		strcpy(id, "stale");
		id_of(bad[i], id, sizeof(id));
		assert_string_equal(id, "");
	}
	pv_forge__id(NULL, id, sizeof(id));
	assert_string_equal(id, "");
	/* an id that does not fit is none, never a cut one */
	id_of("{\"id\": \"1234567\"}", id, 4);
	assert_string_equal(id, "");
}

static void header(struct pv_forge_limits *l, const char *line)
{
	pv_forge__header(l, line, strlen(line));
}

/* GitHub's primary limit (403, X-RateLimit-Remaining: 0, X-RateLimit-Reset
 * epoch), its secondary one (Retry-After), GitLab's RateLimit-*, a 429. */
static void holds(void **state)
{
	const int64_t now = 1700000000;
	struct pv_forge_limits l = PV_FORGE_LIMITS_INIT;

	(void)state;
	header(&l, "x-ratelimit-remaining: 0\r\n");
	header(&l, "X-RateLimit-Reset: 1700000060\r\n");
	header(&l, "X-RateLimit-Limit: 5000\r\n");
	assert_int_equal(l.remaining_zero, 1);
	assert_int_equal(l.reset, 1700000060);
	assert_int_equal(pv_forge__hold(403, &l, "{\"message\":\"API rate limit exceeded\"}", now), 1700000060);
	/* not a limit: another 403 (no permission), a 404, a 500 */
	l = (struct pv_forge_limits)PV_FORGE_LIMITS_INIT;
	header(&l, "X-RateLimit-Remaining: 4999\r\n");
	assert_int_equal(l.remaining_zero, 0);
	assert_int_equal(pv_forge__hold(403, &l, "{\"message\":\"Resource not accessible by integration\"}", now), 0);
	assert_int_equal(pv_forge__hold(404, &l, NULL, now), 0);
	assert_int_equal(pv_forge__hold(500, &l, "rate limit", now), 0);
	/* a 403 whose body says so, without headers: the default minute */
	assert_int_equal(pv_forge__hold(403, &l, "You have exceeded a secondary rate limit", now), now + 60);
	/* Retry-After wins; 0 is a second */
	l = (struct pv_forge_limits)PV_FORGE_LIMITS_INIT;
	header(&l, "Retry-After: 30\r\n");
	header(&l, "RateLimit-Reset: 1700000900\r\n");
	assert_int_equal(pv_forge__hold(429, &l, NULL, now), now + 30);
	header(&l, "retry-after:0\r\n");
	assert_int_equal(pv_forge__hold(403, &l, NULL, now), now + 1);
	/* an HTTP date: the default minute */
	header(&l, "Retry-After: Wed, 21 Oct 2015 07:28:00 GMT\r\n");
	assert_int_equal(pv_forge__hold(429, &l, NULL, now), now + 60);
	/* a small reset is a delay */
	l = (struct pv_forge_limits)PV_FORGE_LIMITS_INIT;
	header(&l, "RateLimit-Reset: 120");
	assert_int_equal(pv_forge__hold(429, &l, NULL, now), now + 120);
	/* a reset in the past, or none: the default minute */
	header(&l, "RateLimit-Reset: 1600000000\r\n");
	assert_int_equal(pv_forge__hold(429, &l, NULL, now), now + 60);
}

/* Numbers from outside: never an overflow, never a hold of more than an hour. */
static void holds_bounded(void **state)
{
	const int64_t now = 1700000000;
	struct pv_forge_limits l = PV_FORGE_LIMITS_INIT;

	(void)state;
	header(&l, "Retry-After: 99999999999999999999999999999\r\n");
	assert_int_equal(pv_forge__hold(429, &l, NULL, now), now + PV_FORGE_HOLD_MAX_S);
	l = (struct pv_forge_limits)PV_FORGE_LIMITS_INIT;
	header(&l, "X-RateLimit-Reset: 99999999999999999999\r\n");
	header(&l, "X-RateLimit-Remaining: 0\r\n");
	assert_int_equal(pv_forge__hold(403, &l, NULL, now), now + PV_FORGE_HOLD_MAX_S);
	l = (struct pv_forge_limits)PV_FORGE_LIMITS_INIT;
	header(&l, "X-RateLimit-Reset: 1800000000\r\n");
	assert_int_equal(pv_forge__hold(429, &l, NULL, now), now + PV_FORGE_HOLD_MAX_S);
	/* junk and near-misses change nothing */
	l = (struct pv_forge_limits)PV_FORGE_LIMITS_INIT;
	header(&l, "X-RateLimit-Remaining: 0x10\r\n");
	header(&l, "X-RateLimit-Remaining-Extra: 0\r\n");
	header(&l, "Retry-After");
	header(&l, "");
	assert_int_equal(l.remaining_zero, 0);
	assert_int_equal(l.retry_after, -1);
	assert_int_equal(l.reset, -1);
	pv_forge__header(&l, "Retry-After: 5", 5); /* the length is what counts */
	assert_int_equal(l.retry_after, -1);
}

/* The message of an error body, one printable line, capped. */
static void messages(void **state)
{
	static const char gh[] = "{\"message\":\"Validation Failed\",\"errors\":[{\"resource\":\"DeploymentStatus\"}],"
				 "\"documentation_url\":\"https://docs.github.com/rest\"}";
	static const char evil[] = "{\"message\":\"line\\nforged: log line\\u001b[31m\"}";
	char m[16];

	(void)state;
	pv_forge__message(m, sizeof(m), gh, strlen(gh));
	assert_string_equal(m, "Validation Fail");
	pv_forge__message(m, sizeof(m), evil, strlen(evil));
	assert_string_equal(m, "line?forged: lo");
	pv_forge__message(m, sizeof(m), "<html>502</html>", 16);
	assert_string_equal(m, "");
	pv_forge__message(m, sizeof(m), "{\"message\": 5}", 14);
	assert_string_equal(m, "");
	pv_forge__message(m, sizeof(m), NULL, 0);
	assert_string_equal(m, "");
}

/* The sticky comment names the environment, its URL, the commit and the
 * last reply; a removed one says so. */
static void comment(void **state)
{
	struct pv_config cfg = { 0 };
	struct pv_pr pr = { .number = 7 };
	struct pv_forge_report r = { .status = "ready", .url = "http://web-7.env.my", .health = "Healthy",
		.sha = "0123456789abcdef", .reason = "" };
	char *text;

	(void)state;
	strcpy(pr.env_name, "web-7");
	strcpy(pr.reply, "@octocat extended web-7 by 4h.");
	text = pv_forge__comment(&cfg, &pr, &r);
	assert_non_null(text);
	assert_non_null(strstr(text, "<!-- previewd:preview/web-7 -->"));
	assert_non_null(strstr(text, "| URL | http://web-7.env.my |"));
	assert_non_null(strstr(text, "`0123456`"));
	assert_non_null(strstr(text, "> @octocat extended web-7 by 4h."));
	free(text);
	r.status = "deleted";
	text = pv_forge__comment(&cfg, &pr, &r);
	assert_non_null(strstr(text, "was removed"));
	assert_null(strstr(text, "| URL |"));
	free(text);
}

static void moved_and_repos(void **state)
{
	struct pv_forge_report r = { .status = "ready", .sha = "abc" };
	json_t *was = json_pack("{s:s, s:s}", "status", "ready", "sha", "abc");

	(void)state;
	assert_int_equal(pv_forge__moved(was, &r), 0);
	r.status = "deleted";
	assert_int_equal(pv_forge__moved(was, &r), 1);
	r.status = "ready";
	strcpy(r.sha, "def");
	assert_int_equal(pv_forge__moved(was, &r), 1);
	assert_int_equal(pv_forge__moved(NULL, &r), 1);
	json_decref(was);
	assert_int_equal(pv_forge__repo_ok("org/frontend"), 1);
	assert_int_equal(pv_forge__repo_ok("org/my.repo_2-x"), 1);
	assert_int_equal(pv_forge__repo_ok("org/../x"), 0);
	assert_int_equal(pv_forge__repo_ok("org/a/b"), 0);
	assert_int_equal(pv_forge__repo_ok("org/a?b"), 0);
	assert_int_equal(pv_forge__repo_ok("/x"), 0);
	assert_int_equal(pv_forge__repo_ok("org/"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ids),
		cmocka_unit_test(holds),
		cmocka_unit_test(holds_bounded),
		cmocka_unit_test(messages),
		cmocka_unit_test(comment),
		cmocka_unit_test(moved_and_repos),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
