/*
 * Unit tests for the wake page's host parameter (wakepage.c,
 * pv_wakepage_host): what is a preview environment's host and what is not.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "wakepage.h"

static int host(const char *h, char *name, char *canon)
{
	return pv_wakepage_host(name, 64, canon, h, "env.my");
}

static void reads_a_preview_host(void **state)
{
	char name[64], canon[PV_WAKEPAGE_HOST_MAX];

	(void)state;
	assert_int_equal(host("pr-1.env.my", name, canon), 0);
	assert_string_equal(name, "pr-1");
	assert_string_equal(canon, "pr-1.env.my");
	assert_int_equal(host("PR-1.Env.My:8080", name, canon), 0);
	assert_string_equal(name, "pr-1");
	assert_string_equal(canon, "pr-1.env.my:8080");
	assert_int_equal(host("pr-1.env.my.", name, canon), 0);
	assert_string_equal(canon, "pr-1.env.my");
	assert_int_equal(host("pr-1.env.my.:80", name, canon), 0);
	assert_string_equal(canon, "pr-1.env.my:80");
	assert_int_equal(pv_wakepage_host(name, 64, canon, "shop.env.my", "env.my."), 0);
	assert_string_equal(name, "shop");
}

static void refuses_other_hosts(void **state)
{
	char name[64], canon[PV_WAKEPAGE_HOST_MAX];

	(void)state;
	assert_int_equal(host("pr-1.evil.example", name, canon), PV_ENOTFOUND);
	assert_int_equal(host("pr-1.env.my.evil.example", name, canon), PV_ENOTFOUND);
	assert_int_equal(host("pr-1xenv.my", name, canon), PV_ENOTFOUND);
	assert_int_equal(host("env.my", name, canon), PV_ENOTFOUND);
	assert_int_equal(host(".env.my", name, canon), PV_ENOTFOUND);
	assert_int_equal(host("a.b.env.my", name, canon), PV_ENOTFOUND);
	assert_string_equal(name, "");
}

static void refuses_what_is_no_host(void **state)
{
	char name[64], canon[PV_WAKEPAGE_HOST_MAX], long_host[400];

	(void)state;
	assert_int_equal(host("", name, canon), PV_EBADREQ);
	assert_int_equal(host(NULL, name, canon), PV_EBADREQ);
	assert_int_equal(host("pr-1.env.my:", name, canon), PV_EBADREQ);
	assert_int_equal(host("pr-1.env.my:0", name, canon), PV_EBADREQ);
	assert_int_equal(host("pr-1.env.my:65536", name, canon), PV_EBADREQ);
	assert_int_equal(host("pr-1.env.my:80:80", name, canon), PV_EBADREQ);
	assert_int_equal(host("pr-1.env.my:8o", name, canon), PV_EBADREQ);
	assert_int_equal(host("<b>.env.my", name, canon), PV_EBADREQ);
	assert_int_equal(host("pr 1.env.my", name, canon), PV_EBADREQ);
	assert_int_equal(host("[::1]:80", name, canon), PV_EBADREQ);
	assert_int_equal(host("9lives.env.my", name, canon), PV_EBADREQ);
	assert_int_equal(host("-x.env.my", name, canon), PV_EBADREQ);
	memset(long_host, 'a', sizeof(long_host) - 1);
	long_host[sizeof(long_host) - 1] = '\0';
	assert_int_equal(host(long_host, name, canon), PV_EBADREQ);
	memset(long_host, 'a', 70);
	strcpy(long_host + 70, ".env.my");
	assert_int_equal(host(long_host, name, canon), PV_EBADREQ);
	assert_string_equal(pv_error_last()->field, "host");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(reads_a_preview_host),
		cmocka_unit_test(refuses_other_hosts),
		cmocka_unit_test(refuses_what_is_no_host),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
