/* Unit tests for valid.c: names, reserved names and durations. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "valid.h"

static void names_accepted(void **state)
{
	static const char *const good[] = { "a", "alice", "pr-1234", "a1", "x-y-z",
		"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyza" /* 53 */ };

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(pv_valid_name(good[i], "name"), 0);
}

static void names_rejected(void **state)
{
	static const char *const bad[] = { "", "A", "Alice", "1abc", "-a", "a-", "a_b", "a.b", "a/b", "..",
		"../x", ".git", "%2e%2e", "a b", "ä", "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzab" /* 54 */ };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(pv_valid_name(bad[i], "name"), PV_EINVAL);
		assert_string_equal(pv_error_last()->field, "name");
	}
	assert_int_equal(pv_valid_name(NULL, "owner"), PV_EINVAL);
	assert_string_equal(pv_error_last()->field, "owner");
}

static void reserved(void **state)
{
	char *extra[] = { "staging", "team-*" };

	(void)state;
	assert_int_equal(pv_valid_reserved("default", "name", NULL, 0), PV_EINVAL);
	assert_int_equal(pv_valid_reserved("argocd", "name", NULL, 0), PV_EINVAL);
	assert_int_equal(pv_valid_reserved("kube-system", "name", NULL, 0), PV_EINVAL);
	assert_int_equal(pv_valid_reserved("kube-public", "name", NULL, 0), PV_EINVAL);
	assert_int_equal(pv_valid_reserved("kubeflow", "name", NULL, 0), 0);
	assert_int_equal(pv_valid_reserved("staging", "name", extra, 2), PV_EINVAL);
	assert_int_equal(pv_valid_reserved("team-a", "name", extra, 2), PV_EINVAL);
	assert_int_equal(pv_valid_reserved("teams", "name", extra, 2), 0);
	assert_int_equal(pv_valid_reserved("alice", "name", extra, 2), 0);
}

static void durations(void **state)
{
	static const struct { const char *in; long long secs; } ok[] = {
		{ "90m", 5400 }, { "8h", 28800 }, { "2d", 172800 }, { "30s", 30 }, { "1w", 604800 },
		{ "1h30m", 5400 }, { "3600", 3600 }, { "1d12h", 129600 }, { "0h5m", 300 },
	};
	static const char *const bad[] = { "", "h", "8x", "8 h", "-1h", "1.5h", "0", "0s", "1h30",
		"99999999999999999999", "9223372036854775807d", "8H", " 8h" };
	long long v;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(pv_valid_duration(&v, ok[i].in, "ttl"), 0);
		assert_int_equal(v, ok[i].secs);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(pv_valid_duration(&v, bad[i], "ttl"), PV_EINVAL);
		assert_string_equal(pv_error_last()->field, "ttl");
	}
}

static void duration_format(void **state)
{
	char buf[32];

	(void)state;
	pv_valid_format_duration(buf, sizeof(buf), 604800);
	assert_string_equal(buf, "7d");
	pv_valid_format_duration(buf, sizeof(buf), 5400);
	assert_string_equal(buf, "1h30m");
	pv_valid_format_duration(buf, sizeof(buf), 45);
	assert_string_equal(buf, "45s");
	pv_valid_format_duration(buf, sizeof(buf), 0);
	assert_string_equal(buf, "0s");
}

static void utf8(void **state)
{
	(void)state;
	assert_int_equal(pv_valid_utf8_len((const unsigned char *)"a", 1), 1);
	assert_int_equal(pv_valid_utf8_len((const unsigned char *)"\xc3\xa4", 2), 2);        /* ä */
	assert_int_equal(pv_valid_utf8_len((const unsigned char *)"\xe2\x82\xac", 3), 3);    /* € */
	assert_int_equal(pv_valid_utf8_len((const unsigned char *)"\xf0\x9f\x9a\x80", 4), 4);/* rocket */
	assert_int_equal(pv_valid_utf8_len((const unsigned char *)"\xc3", 1), 0);            /* cut */
	assert_int_equal(pv_valid_utf8_len((const unsigned char *)"\xc0\xaf", 2), 0);        /* overlong */
	assert_int_equal(pv_valid_utf8_len((const unsigned char *)"\xe0\x80\xaf", 3), 0);    /* overlong */
	assert_int_equal(pv_valid_utf8_len((const unsigned char *)"\xed\xa0\x80", 3), 0);    /* surrogate */
	assert_int_equal(pv_valid_utf8_len((const unsigned char *)"\xf4\x90\x80\x80", 4), 0);/* > U+10FFFF */
	assert_int_equal(pv_valid_utf8_len((const unsigned char *)"\xf6\x80\x80\x80", 4), 0);
	assert_int_equal(pv_valid_utf8_len((const unsigned char *)"\xff", 1), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(names_accepted),
		cmocka_unit_test(names_rejected),
		cmocka_unit_test(reserved),
		cmocka_unit_test(durations),
		cmocka_unit_test(duration_format),
		cmocka_unit_test(utf8),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
