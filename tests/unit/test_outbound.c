/*
 * test_outbound.c - the proxy choice of outbound.h: no_proxy matching and
 * the order explicit setting, environment, none.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <cmocka.h>

#include "outbound.h"

static void no_proxy_entries(void **state)
{
	(void)state;
	assert_true(pv_outbound_no_proxy_match("*", "git.example.com", 443));
	assert_true(pv_outbound_no_proxy_match("example.com", "git.example.com", 443));
	assert_true(pv_outbound_no_proxy_match(".example.com", "git.example.com", 443));
	assert_true(pv_outbound_no_proxy_match(".example.com", "example.com", 443));
	assert_true(pv_outbound_no_proxy_match("EXAMPLE.com.", "Git.Example.COM", 443));
	assert_false(pv_outbound_no_proxy_match("example.com", "badexample.com", 443));
	assert_false(pv_outbound_no_proxy_match("git.example.com", "example.com", 443));
	assert_true(pv_outbound_no_proxy_match("a.org, b.org  c.org", "c.org", 80));
	assert_true(pv_outbound_no_proxy_match("example.com:8443", "git.example.com", 8443));
	assert_false(pv_outbound_no_proxy_match("example.com:8443", "git.example.com", 443));
	assert_true(pv_outbound_no_proxy_match("127.0.0.1", "127.0.0.1", 80));
	assert_false(pv_outbound_no_proxy_match("0.0.1", "127.0.0.1", 80));
	assert_true(pv_outbound_no_proxy_match("10.0.0.0/8", "10.1.2.3", 80));
	assert_false(pv_outbound_no_proxy_match("10.0.0.0/8", "11.1.2.3", 80));
	assert_true(pv_outbound_no_proxy_match("::1", "[::1]", 443));
	assert_true(pv_outbound_no_proxy_match("[::1]:443", "::1", 443));
	assert_false(pv_outbound_no_proxy_match("[::1]:443", "::1", 80));
	assert_true(pv_outbound_no_proxy_match("fd00::/8", "fd12::5", 443));
	assert_false(pv_outbound_no_proxy_match("", "example.com", 443));
	assert_false(pv_outbound_no_proxy_match(NULL, "example.com", 443));
	assert_false(pv_outbound_no_proxy_match("example.com", "10.0.0.1", 443));
}

static void proxy_order(void **state)
{
	char out[256];

	(void)state;
	unsetenv("no_proxy");
	unsetenv("NO_PROXY");
	unsetenv("HTTPS_PROXY");
	setenv("https_proxy", "proxy:3128", 1);
	setenv("http_proxy", "http://plain:8080", 1);
	assert_int_equal(0, pv_outbound_proxy(out, sizeof(out), "https://u:p@git.example.com/r.git", NULL));
	assert_string_equal("http://proxy:3128", out);
	assert_int_equal(0, pv_outbound_proxy(out, sizeof(out), "http://git.example.com/r.git", NULL));
	assert_string_equal("http://plain:8080", out);
	assert_int_equal(0, pv_outbound_proxy(out, sizeof(out), "https://git.example.com/r.git", "http://explicit:1"));
	assert_string_equal("http://explicit:1", out);
	assert_int_equal(0, pv_outbound_proxy(out, sizeof(out), "ssh://git@git.example.com/r.git", NULL));
	assert_string_equal("", out);
	assert_int_equal(0, pv_outbound_proxy(out, sizeof(out), "file:///tmp/r.git", NULL));
	assert_string_equal("", out);
	setenv("no_proxy", "example.com", 1);
	assert_int_equal(0, pv_outbound_proxy(out, sizeof(out), "https://git.example.com:8443/r.git", "http://explicit:1"));
	assert_string_equal("", out);
	assert_int_equal(0, pv_outbound_proxy(out, sizeof(out), "https://git.example.org/r.git", NULL));
	assert_string_equal("http://proxy:3128", out);
	unsetenv("https_proxy");
	unsetenv("http_proxy");
	unsetenv("no_proxy");
	assert_int_equal(0, pv_outbound_proxy(out, sizeof(out), "https://git.example.org/r.git", NULL));
	assert_string_equal("", out);
}

static void git_proxy_setting(void **state)
{
	(void)state;
	assert_int_equal(0, pv_outbound_check_git_proxy(""));
	assert_int_equal(0, pv_outbound_check_git_proxy("proxy:3128"));
	assert_int_equal(0, pv_outbound_check_git_proxy("http://proxy:3128"));
	assert_int_equal(PV_EINVAL, pv_outbound_check_git_proxy("socks5://proxy:1080"));
	assert_int_equal(PV_EINVAL, pv_outbound_check_git_proxy("http://proxy:99999"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(no_proxy_entries),
		cmocka_unit_test(proxy_order),
		cmocka_unit_test(git_proxy_setting),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
