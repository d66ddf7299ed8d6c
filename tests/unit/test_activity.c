/* Unit tests for activity.c: the query template and the reading of
 * Prometheus's /api/v1/query answers (the parser the fuzzer also feeds). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "activity.h"

struct seen {
	char text[512];
	size_t n;
};

static void note(const char *ns, double value, void *payload)
{
	struct seen *s = payload;
	size_t len = strlen(s->text);

	snprintf(s->text + len, sizeof(s->text) - len, "%s%s=%g", len ? " " : "", ns, value);
	s->n++;
}

static int parse(const char *body, struct seen *s)
{
	memset(s, 0, sizeof(*s));
	return pv_activity_parse(body, strlen(body), note, s);
}

static void query(void **state)
{
	static const char *const names[] = { "alice", "pr-12", "bob" };
	struct pv_strbuf q = PV_STRBUF_INIT;

	(void)state;
	assert_int_equal(pv_activity_query(&q,
		"sum by (exported_namespace) (rate(nginx_ingress_controller_requests{exported_namespace=~\"{namespaces}\"}[{window}]))",
		names, 3, 300), 0);
	assert_string_equal(q.buf,
		"sum by (exported_namespace) (rate(nginx_ingress_controller_requests{exported_namespace=~\"alice|pr-12|bob\"}[300s]))");
	pv_strbuf_reset(&q);
	/* PromQL's own braces, and an unknown {placeholder}, pass as written */
	assert_int_equal(pv_activity_query(&q, "x{a=\"b\"} {other} {namespaces}{window}", names, 1, 60), 0);
	assert_string_equal(q.buf, "x{a=\"b\"} {other} alice60s");
	pv_strbuf_dispose(&q);
}

static void answers(void **state)
{
	struct seen s;

	(void)state;
	assert_int_equal(parse("{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":["
			       "{\"metric\":{\"exported_namespace\":\"alice\"},\"value\":[1800000000.123,\"0.25\"]},"
			       "{\"metric\":{\"namespace\":\"bob\"},\"value\":[1800000000,\"0\"]},"
			       "{\"metric\":{},\"value\":[1800000000,\"3\"]},"
			       "{\"metric\":{\"exported_namespace\":\"carol\"},\"value\":[1800000000,\"NaN\"]}]}}", &s), 0);
	assert_int_equal(s.n, 3); /* the series without a namespace is nobody's */
	assert_string_equal(s.text, "alice=0.25 bob=0 carol=nan");
	assert_int_equal(parse("{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[]}}", &s), 0);
	assert_int_equal(s.n, 0);
}

static void failures(void **state)
{
	static const char *const bad[] = {
		"",
		"not json",
		"[]",
		"{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"parse error\"}",
		"{\"status\":\"success\"}",
		"{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[]}}",
		"{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":{}}}",
		"{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[{\"metric\":{},\"value\":[1,2]}]}}",
		"{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[{\"metric\":{},\"value\":[1]}]}}",
		"{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[{\"metric\":{},\"value\":[1,\"x\"]}]}}",
		"{\"status\":\"success\",\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[]}}",
	};
	struct seen s;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse(bad[i], &s), PV_EUNAVAIL);
		assert_int_equal(s.n, 0);
	}
	assert_int_equal(parse(bad[3], &s), PV_EUNAVAIL);
	assert_non_null(strstr(pv_error_last()->message, "parse error"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(query),
		cmocka_unit_test(answers),
		cmocka_unit_test(failures),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
