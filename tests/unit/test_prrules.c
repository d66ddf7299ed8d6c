/* Unit tests for prrules.c (the rules file, the name and values templates)
 * and pullreq.c's payload parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "prrules.h"
#include "pullreq.h"
#include "valid.h"

static const struct pv_prvars vars = { "org/frontend", 7, "feature/Login_Page", "0123456789abcdef0123", "Octo_Cat" };

static void fill(void **state)
{
	char out[256];

	(void)state;
	assert_int_equal(pv_prrules_fill(out, sizeof(out), "{repo}-pr-{number}/{branch}/{branch_slug}/{sha7}/{sha}/{author}",
		&vars), 0);
	assert_string_equal(out, "frontend-pr-7/feature/Login_Page/feature-login-page/0123456/0123456789abcdef0123/Octo_Cat");
	assert_int_equal(pv_prrules_fill(out, sizeof(out), "{nummer}", &vars), PV_EINVAL);
	assert_non_null(strstr(pv_error_last()->message, "{nummer}"));
	assert_int_equal(pv_prrules_fill(out, sizeof(out), "pr-{number", &vars), PV_EINVAL);
	assert_int_equal(pv_prrules_fill(out, 8, "{sha}", &vars), PV_ETOOBIG);
}

static void names(void **state)
{
	struct pv_prvars v = vars;
	char a[PV_NAME_MAX + 1], b[PV_NAME_MAX + 1];

	(void)state;
	assert_int_equal(pv_prrules_name(a, "{repo}-pr-{number}", &v), 0);
	assert_string_equal(a, "frontend-pr-7");
	assert_int_equal(pv_prrules_name(a, "{branch}", &v), 0);
	assert_string_equal(a, "feature-login-page");
	assert_int_equal(pv_prrules_name(a, "{number}", &v), 0);
	assert_string_equal(a, "pr-7"); /* a DNS label starts with a letter */
	v.branch = "a-very-long-branch-name-that-goes-on-and-on-and-on-and-on-1";
	assert_int_equal(pv_prrules_name(a, "{repo}-{branch}", &v), 0);
	v.branch = "a-very-long-branch-name-that-goes-on-and-on-and-on-and-on-2";
	assert_int_equal(pv_prrules_name(b, "{repo}-{branch}", &v), 0);
	assert_true(strlen(a) <= PV_NAME_MAX && strlen(b) <= PV_NAME_MAX);
	assert_int_equal(pv_valid_name(a, "name"), 0);
	assert_int_equal(pv_valid_name(b, "name"), 0);
	assert_string_not_equal(a, b); /* the hash tells the cut names apart */
	assert_int_equal(strncmp(a, "frontend-a-very-long-branch", 27), 0);
	v.branch = "---";
	v.repo = "";
	assert_int_equal(pv_prrules_name(a, "{repo}{branch}", &v), 0);
	assert_string_equal(a, "pr-7");
}

static void values(void **state)
{
	json_t *tmpl = json_pack("{s:{s:s, s:i, s:[s]}}", "frontend", "tag", "pr-{number}-{sha7}", "replicas", 2, "args", "{author}");
	json_t *out;

	(void)state;
	assert_int_equal(pv_prrules_values(&out, tmpl, &vars), 0);
	assert_string_equal(json_string_value(json_object_get(json_object_get(out, "frontend"), "tag")), "pr-7-0123456");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(out, "frontend"), "replicas")), 2);
	assert_string_equal(json_string_value(json_array_get(json_object_get(json_object_get(out, "frontend"), "args"), 0)),
		"Octo_Cat");
	json_decref(out);
	json_decref(tmpl);
}

static void parse_rules(void **state)
{
	static const char good[] = "repositories:\n"
				   "  - repo: org/frontend\n    forge: github\n    base: dev\n"
				   "    values:\n      frontend:\n        tag: \"pr-{number}-{sha7}\"\n"
				   "    labels: [preview]\n    idle_ttl: 2d\n"
				   "  - repo: group/app\n    forge: gitlab\n    name: \"app-{number}\"\n    labels: preview\n";
	struct pv_prrules *r;
	const struct pv_prrule *fe;

	(void)state;
	assert_int_equal(pv_prrules_parse(&r, good, strlen(good), "rules.yaml"), 0);
	assert_int_equal(r->n, 2);
	assert_non_null(fe = pv_prrules_find(r, "github", "Org/Frontend")); /* the forges compare without case */
	assert_string_equal(fe->name, "{repo}-pr-{number}");
	assert_string_equal(fe->base, "dev");
	assert_int_equal(fe->idle_ttl, 2 * 86400);
	assert_int_equal(fe->nlabels, 1);
	assert_null(pv_prrules_find(r, "gitea", "org/frontend"));
	assert_int_equal(pv_prrules_find(r, "gitlab", "group/app")->nlabels, 1);
	assert_int_equal(pv_prrules_has_secret(r), 0);
	pv_prrules_free(r);
}

static void bad_rules(void **state)
{
	static const struct {
		const char *yaml, *needle;
	} bad[] = {
		{ "repos: []\n", "one key, repositories" },
		{ "repositories:\n  - forge: github\n", "repositories[0].repo is required" },
		{ "repositories:\n  - repo: a/b\n    forge: bitbucket\n", "forge must be github, gitlab or gitea" },
		{ "repositories:\n  - repo: a/b\n    forge: github\n    labls: [x]\n", "labls is not a key" },
		{ "repositories:\n  - repo: a/b\n    forge: github\n    name: \"{nummer}\"\n", "unknown placeholder {nummer}" },
		{ "repositories:\n  - repo: a/b\n    forge: github\n    values:\n      t: \"{shaa}\"\n", "{shaa}" },
		{ "repositories:\n  - repo: a/b\n    forge: github\n    idle_ttl: soon\n", "idle_ttl" },
		{ "repositories:\n  - repo: a/b\n    forge: github\n    base: Dev\n", "base must be" },
		{ "repositories:\n  - repo: a/b\n    forge: github\n  - repo: A/B\n    forge: github\n", "repositories[1].repo repeats" },
		{ "repositories:\n  - repo: a/b\n    forge: github\n    secret_file: /nonexistent/x\n", "secret_file" },
	};
	struct pv_prrules *r;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(pv_prrules_parse(&r, bad[i].yaml, strlen(bad[i].yaml), "rules.yaml"), PV_EINVAL);
		assert_null(r);
		if (!strstr(pv_error_last()->message, bad[i].needle))
			fail_msg("rule %zu: '%s' lacks '%s'", i, pv_error_last()->message, bad[i].needle);
	}
}

static void payloads(void **state)
{
	static const char gh[] = "{\"action\":\"synchronize\",\"number\":7,\"pull_request\":{\"number\":7,"
				 "\"user\":{\"login\":\"Octo\"},\"labels\":[{\"name\":\"preview\"}],\"head\":{\"ref\":\"f\\u0001x\","
				 "\"sha\":\"abc\"},\"base\":{\"ref\":\"main\"}},\"repository\":{\"full_name\":\"org/fe\"},"
				 "\"sender\":{\"login\":\"Octo\"}}";
	static const char gl[] = "{\"object_kind\":\"merge_request\",\"user\":{\"id\":5,\"username\":\"u\"},"
				 "\"project\":{\"id\":77,\"path_with_namespace\":\"g/p\"},\"object_attributes\":{\"iid\":3,"
				 "\"action\":\"update\",\"source_branch\":\"s\",\"target_branch\":\"main\","
				 "\"last_commit\":{\"id\":\"bbb\"}},\"labels\":[]}";
	static const char note[] = "{\"object_kind\":\"note\",\"user\":{\"id\":5,\"username\":\"u\"},\"project\":{\"id\":77,"
				   "\"path_with_namespace\":\"g/p\"},\"object_attributes\":{\"note\":\"/preview delete\","
				   "\"noteable_type\":\"Issue\"}}";
	static const char issue[] = "{\"action\":\"created\",\"issue\":{\"number\":3,\"user\":{\"login\":\"a\"}},"
				    "\"comment\":{\"body\":\"/preview delete\"},\"repository\":{\"full_name\":\"o/r\"}}";
	struct pv_pr_event ev;

	(void)state;
	assert_int_equal(pv_pullreq_parse(&ev, "github", 0, gh, strlen(gh)), 0);
	assert_int_equal(ev.what, PV_PR_SYNC);
	assert_string_equal(ev.repo, "org/fe");
	assert_string_equal(ev.head_branch, "f?x"); /* control characters never reach rows and logs */
	assert_int_equal(ev.nlabels, 1);
	assert_int_equal(pv_pullreq_parse(&ev, "gitlab", 0, gl, strlen(gl)), 0);
	assert_int_equal(ev.what, PV_PR_CHANGE); /* an update without oldrev is an edit, not a push */
	assert_string_equal(ev.project_id, "77");
	assert_int_equal(pv_pullreq_parse(&ev, "gitlab", 1, note, strlen(note)), 0);
	assert_int_equal(ev.what, PV_PR_NONE); /* a note on an issue */
	assert_int_equal(pv_pullreq_parse(&ev, "github", 1, issue, strlen(issue)), 0);
	assert_int_equal(ev.what, PV_PR_NONE); /* a comment on an issue, not a pull request */
	assert_int_equal(pv_pullreq_parse(&ev, "github", 0, "[1]", 3), PV_EBADREQ);
	assert_int_equal(pv_pullreq_parse(&ev, "gitea", 0, "{\"action\":\"opened\"}", 19), PV_EBADREQ);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fill),
		cmocka_unit_test(names),
		cmocka_unit_test(values),
		cmocka_unit_test(parse_rules),
		cmocka_unit_test(bad_rules),
		cmocka_unit_test(payloads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
