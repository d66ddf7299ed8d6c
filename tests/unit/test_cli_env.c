/* Unit tests for cli_env.c: --set as Helm reads it, and the "expires in" cell. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli_env.h"

static void expect_json(const json_t *v, const char *want)
{
	char *got = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);

	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

static void sets_nest_and_type(void **state)
{
	json_t *v = json_object();

	(void)state;
	assert_int_equal(pv_cli_env_set(v, "image.tag=pr-42"), 0);
	assert_int_equal(pv_cli_env_set(v, "replicaCount=2"), 0);
	assert_int_equal(pv_cli_env_set(v, "a.b.c=true"), 0);
	assert_int_equal(pv_cli_env_set(v, "a.off=false"), 0);
	assert_int_equal(pv_cli_env_set(v, "gone=null"), 0);
	assert_int_equal(pv_cli_env_set(v, "neg=-3"), 0);
	/* not integers: a version, a leading zero, a digit string with a sign only */
	assert_int_equal(pv_cli_env_set(v, "image.version=1.27"), 0);
	assert_int_equal(pv_cli_env_set(v, "zip=007"), 0);
	assert_int_equal(pv_cli_env_set(v, "dash=-"), 0);
	assert_int_equal(pv_cli_env_set(v, "url=http://x/?a=b"), 0);
	assert_int_equal(pv_cli_env_set(v, "empty="), 0);
	expect_json(v, "{\"a\":{\"b\":{\"c\":true},\"off\":false},\"dash\":\"-\",\"empty\":\"\",\"gone\":null,"
		"\"image\":{\"tag\":\"pr-42\",\"version\":\"1.27\"},\"neg\":-3,\"replicaCount\":2,"
		"\"url\":\"http://x/?a=b\",\"zip\":\"007\"}");
	json_decref(v);
}

static void sets_replace_what_is_in_the_way(void **state)
{
	json_t *v = json_pack("{s:s, s:{s:i}}", "image", "nginx", "keep", "n", 1);

	(void)state;
	assert_int_equal(pv_cli_env_set(v, "image.tag=1"), 0);
	assert_int_equal(pv_cli_env_set(v, "keep.m=2"), 0);
	expect_json(v, "{\"image\":{\"tag\":1},\"keep\":{\"m\":2,\"n\":1}}");
	json_decref(v);
}

static void sets_refused(void **state)
{
	static const char *const bad[] = { "novalue", "=x", ".a=1", "a..b=1", "a.=1" };
	json_t *v = json_object();

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(pv_cli_env_set(v, bad[i]), PV_EINVAL);
		assert_string_equal(pv_error_last()->field, "--set");
	}
	assert_int_equal(json_object_size(v), 0);
	json_decref(v);
}

static void time_left(void **state)
{
	static const struct { long long secs; const char *want; } cases[] = {
		{ 0, "0s" }, { -5, "0s" }, { 59, "59s" }, { 60, "1m" }, { 3599, "1h" }, { 3569, "59m" }, { 3600, "1h" },
		{ 14399, "4h" }, { 14369, "3h59m" }, { 14340, "3h59m" }, { 86400, "1d" }, { 86400 + 3 * 3600 + 59, "1d3h" }, { 7 * 86400, "7d" },
	};
	char buf[32];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		pv_cli_env_format_left(buf, sizeof(buf), cases[i].secs);
		assert_string_equal(buf, cases[i].want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sets_nest_and_type),
		cmocka_unit_test(sets_replace_what_is_in_the_way),
		cmocka_unit_test(sets_refused),
		cmocka_unit_test(time_left),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
