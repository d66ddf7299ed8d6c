/* Unit tests for cost.c: Kubernetes quantities, the settings, the estimate
 * and the hours asleep. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cost.h"
#include "opencost.h"

static double q(const char *s)
{
	double v = -1;

	assert_int_equal(pv_cost_quantity(&v, s, strlen(s)), 0);
	return v;
}

static void quantities(void **state)
{
	(void)state;
	assert_true(q("250m") == 0.25);
	assert_true(q("1") == 1);
	assert_true(q("0.5") == 0.5);
	assert_true(q(".5") == 0.5);
	assert_true(q("1.") == 1);
	assert_true(q("0") == 0);
	assert_true(q("512Mi") == 512.0 * 1024 * 1024);
	assert_true(q("1Gi") == 1073741824.0);
	assert_true(q("1G") == 1e9);
	assert_true(q("100M") == 1e8);
	assert_true(q("1.5Gi") == 1.5 * 1073741824.0);
	assert_true(q("128974848") == 128974848.0);
	assert_true(q("129e6") == 129e6);
	assert_true(q("5E-1") == 0.5);
	assert_true(q("1e+3") == 1000);
	assert_true(q("1k") == 1000);
	assert_true(q("2Ki") == 2048);
	assert_true(q("1Ti") == 0x1p40);
	assert_true(q("1Ei") == 0x1p60);
	assert_true(q("100u") > 0.99e-4 && q("100u") < 1.01e-4);
	assert_true(q("10n") > 0.99e-8 && q("10n") < 1.01e-8);
	assert_true(q("007") == 7);
}

static void odd_quantities(void **state)
{
	static const char *const bad[] = { "", ".", "m", "Mi", "-1", "+1", "1 Gi", " 1", "1 ", "1KI", "1kb", "1Kib",
		"1mi", "1e", "1e+", "1e1000", "1e9999", "0x10", "1,5", "1.5.5", "inf", "nan", "1Gi1", "1ee3", "1e3m",
		"1.0e", "1g", "\xc2\xb5", "12345678901234567890123456789012345678901234567890123456789012345" };
	double v;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(pv_cost_quantity(&v, bad[i], strlen(bad[i])), PV_EINVAL);
		assert_string_equal(pv_error_last()->field, "values");
	}
	/* not NUL-terminated: only len bytes count */
	assert_int_equal(pv_cost_quantity(&v, "250mXYZ", 4), 0);
	assert_true(v == 0.25);
	assert_int_equal(pv_cost_quantity(&v, "1\0m", 3), PV_EINVAL);
	/* a huge number that stays finite is accepted; past a double it is not */
	assert_int_equal(pv_cost_quantity(&v, "9e300", 5), 0);
	assert_int_equal(pv_cost_quantity(&v, "9e308E", 6), PV_EINVAL);
}

static void quantity_json(void **state)
{
	json_t *n = json_real(0.5), *i = json_integer(2), *neg = json_integer(-1), *s = json_string("1Gi"),
	       *b = json_true();
	double v;

	(void)state;
	assert_int_equal(pv_cost_quantity_json(&v, n), 0);
	assert_true(v == 0.5);
	assert_int_equal(pv_cost_quantity_json(&v, i), 0);
	assert_true(v == 2);
	assert_int_equal(pv_cost_quantity_json(&v, s), 0);
	assert_true(v == 1073741824.0);
	assert_int_equal(pv_cost_quantity_json(&v, neg), PV_EINVAL);
	assert_int_equal(pv_cost_quantity_json(&v, b), PV_EINVAL);
	json_decref(n);
	json_decref(i);
	json_decref(neg);
	json_decref(s);
	json_decref(b);
}

static void settings(void **state)
{
	struct pv_cost_model m;

	(void)state;
	assert_int_equal(pv_cost_model_parse(&m, "cpu=0.04,memory=0.005", NULL, ""), 0);
	assert_true(m.cpu_hour == 0.04 && m.gib_hour == 0.005);
	assert_string_equal(m.paths[PV_COST_REPLICAS], "replicaCount");
	assert_string_equal(m.paths[PV_COST_CPU], "resources.requests.cpu");
	assert_string_equal(m.paths[PV_COST_MEMORY], "resources.requests.memory");
	assert_int_equal(m.ncomponents, 1);
	assert_string_equal(m.components[0], "");

	assert_int_equal(pv_cost_model_parse(&m, " memory = 1 ", "cpu=app.cpu, replicas=app.n", "frontend., backend,."), 0);
	assert_true(m.cpu_hour == 0 && m.gib_hour == 1);
	assert_string_equal(m.paths[PV_COST_CPU], "app.cpu");
	assert_string_equal(m.paths[PV_COST_REPLICAS], "app.n");
	assert_string_equal(m.paths[PV_COST_MEMORY], "resources.requests.memory");
	assert_int_equal(m.ncomponents, 3);
	assert_string_equal(m.components[0], "frontend");
	assert_string_equal(m.components[1], "backend");
	assert_string_equal(m.components[2], "");

	static const char *const bad_rates[] = { "cpu", "cpu=", "cpu=x", "cpu=-1", "gpu=1", "cpu=1,cpu=2", "cpu=inf",
		"cpu=1x" };
	for (size_t i = 0; i < sizeof(bad_rates) / sizeof(bad_rates[0]); i++) {
		assert_int_equal(pv_cost_model_parse(&m, bad_rates[i], NULL, NULL), PV_EINVAL);
		assert_string_equal(pv_error_last()->field, "PREVIEWD_COST_RATES");
	}
	static const char *const bad_paths[] = { "cpu", "cpu=", "cpu=.a", "cpu=a.", "cpu=a..b", "gpu=a", "cpu=a,cpu=b",
		"cpu=a=b" };
	for (size_t i = 0; i < sizeof(bad_paths) / sizeof(bad_paths[0]); i++) {
		assert_int_equal(pv_cost_model_parse(&m, "cpu=1", bad_paths[i], NULL), PV_EINVAL);
		assert_string_equal(pv_error_last()->field, "PREVIEWD_COST_PATHS");
	}
	assert_int_equal(pv_cost_model_parse(&m, "cpu=1", NULL, "a..b"), PV_EINVAL);
	assert_string_equal(pv_error_last()->field, "PREVIEWD_COST_COMPONENTS");
	assert_int_equal(pv_cost_model_parse(&m, "cpu=1", NULL, "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q"), PV_EINVAL);
}

static double per_day(const struct pv_cost_model *m, const char *json)
{
	double v = -1;

	assert_int_equal(pv_cost_per_day_text(m, json, &v), 0);
	return v;
}

static void estimate(void **state)
{
	struct pv_cost_model m;

	(void)state;
	assert_int_equal(pv_cost_model_parse(&m, "cpu=0.04,memory=0.005", NULL, NULL), 0);
	/* 2 x (0.25 CPU x 0.04 + 0.5 GiB x 0.005) x 24 = 0.6 */
	assert_true(per_day(&m, "{\"replicaCount\":2,\"resources\":{\"requests\":{\"cpu\":\"250m\",\"memory\":\"512Mi\"}}}") == 0.6);
	/* no replicaCount: one replica */
	assert_true(per_day(&m, "{\"resources\":{\"requests\":{\"cpu\":1,\"memory\":\"1Gi\"}}}") == 1.08);
	/* replicaCount as Helm may read it, a string */
	assert_true(per_day(&m, "{\"replicaCount\":\"3\",\"resources\":{\"requests\":{\"cpu\":\"1\"}}}") == 2.88);
	/* no requests: nothing; asleep (0 replicas): nothing */
	assert_true(per_day(&m, "{}") == 0);
	assert_true(per_day(&m, "{\"replicaCount\":0,\"resources\":{\"requests\":{\"cpu\":\"4\"}}}") == 0);
	/* null counts as absent */
	assert_true(per_day(&m, "{\"replicaCount\":null,\"resources\":{\"requests\":{\"cpu\":\"1\"}}}") == 0.96);

	double v;
	assert_int_equal(pv_cost_per_day_text(&m, "{\"resources\":{\"requests\":{\"cpu\":\"lots\"}}}", &v), PV_EINVAL);
	assert_int_equal(pv_cost_per_day_text(&m, "{\"replicaCount\":1.5}", &v), PV_EINVAL);
	assert_int_equal(pv_cost_per_day_text(&m, "{\"replicaCount\":-1}", &v), PV_EINVAL);
	assert_int_equal(pv_cost_per_day_text(&m, "not json", &v), PV_EINVAL);
	assert_int_equal(pv_cost_per_day_text(&m, NULL, &v), PV_EINVAL);
}

static void components(void **state)
{
	struct pv_cost_model m;
	const char *vals = "{\"frontend\":{\"replicaCount\":2,\"resources\":{\"requests\":{\"cpu\":\"500m\"}}},"
			   "\"backend\":{\"resources\":{\"requests\":{\"cpu\":\"1\",\"memory\":\"2Gi\"}}},"
			   "\"resources\":{\"requests\":{\"cpu\":\"8\"}}}";

	(void)state;
	/* 24 x (2 x 0.5 x 0.04 + 1 x (1 x 0.04 + 2 x 0.005)) = 24 x 0.09 = 2.16; the root's 8 CPUs are not a component */
	assert_int_equal(pv_cost_model_parse(&m, "cpu=0.04,memory=0.005", NULL, "frontend.,backend.,worker."), 0);
	assert_true(per_day(&m, vals) == 2.16);
	/* "." adds the root: + 8 x 0.04 x 24 = 7.68 */
	assert_int_equal(pv_cost_model_parse(&m, "cpu=0.04,memory=0.005", NULL, "frontend.,backend.,."), 0);
	assert_true(per_day(&m, vals) == 9.84);
	/* other paths */
	assert_int_equal(pv_cost_model_parse(&m, "cpu=1", "replicas=scale.n,cpu=req.cpu", NULL), 0);
	assert_true(per_day(&m, "{\"scale\":{\"n\":2},\"req\":{\"cpu\":\"100m\"}}") == 4.8);
}

static void asleep(void **state)
{
	const struct pv_cost_change none[1] = { { 0, 0 } };
	const struct pv_cost_change one[] = { { 1000, 1 }, { 4600, 0 } };
	const struct pv_cost_change before[] = { { 10, 1 }, { 2000, 0 } };
	const struct pv_cost_change open[] = { { 5000, 1 } };
	const struct pv_cost_change repeats[] = { { 100, 1 }, { 200, 1 }, { 300, 0 }, { 400, 0 }, { 500, 1 } };
	const struct pv_cost_change woke_first[] = { { 1500, 0 }, { 1600, 1 } };

	(void)state;
	assert_int_equal(pv_cost_asleep_seconds(none, 0, 1000, 9000), 0);
	assert_int_equal(pv_cost_asleep_seconds(one, 2, 0, 9000), 3600);
	/* asleep since before the window: counted from its start */
	assert_int_equal(pv_cost_asleep_seconds(before, 2, 1000, 9000), 1000);
	/* still asleep: counted to the end */
	assert_int_equal(pv_cost_asleep_seconds(open, 1, 1000, 9000), 4000);
	/* a second "slept" changes nothing */
	assert_int_equal(pv_cost_asleep_seconds(repeats, 5, 0, 1000), 200 + 500);
	/* a "woke" with no "slept" before it */
	assert_int_equal(pv_cost_asleep_seconds(woke_first, 2, 1000, 2000), 400);
	/* the window cuts both ends */
	assert_int_equal(pv_cost_asleep_seconds(one, 2, 2000, 3000), 1000);
	assert_int_equal(pv_cost_asleep_seconds(one, 2, 5000, 4000), 0);
	/* 10 h asleep at 0.6 a day: 0.25 */
	assert_true(pv_cost_saved(0.6, 36000) == 0.25);
	assert_true(pv_cost_saved(1, 0) == 0);
	assert_true(pv_cost_round(0.123456) == 0.1235);
}

/* OpenCost's allocation answer, as its API documents it */
static void opencost_answer(void **state)
{
	static const char doc[] =
		"{\"code\":200,\"data\":[{"
		"\"web\":{\"name\":\"web\",\"totalCost\":1.2,\"minutes\":1440,\"cpuCost\":1,\"ramCost\":0.2},"
		"\"young\":{\"name\":\"young\",\"totalCost\":0.1,\"minutes\":120},"
		"\"nomin\":{\"name\":\"nomin\",\"totalCost\":3},"
		"\"__idle__\":{\"name\":\"__idle__\",\"totalCost\":9,\"minutes\":1440},"
		"\"kube-system\":{\"name\":\"kube-system\",\"totalCost\":0.5,\"minutes\":1440},"
		"\"Not_A_Name\":{\"name\":\"x\",\"totalCost\":1,\"minutes\":1}},"
		"{\"web\":{\"name\":\"web\",\"totalCost\":0.3,\"minutes\":360}},null]}";
	json_t *per = NULL;

	(void)state;
	assert_int_equal(pv_opencost_parse(&per, doc, strlen(doc)), 0);
	/* two sets of web add up: 1.5 over 1800 minutes is 1.2 a day */
	assert_true(fabs(json_real_value(json_object_get(per, "web")) - 1.2) < 1e-9);
	/* two hours of 0.1 is 1.2 a day */
	assert_true(fabs(json_real_value(json_object_get(per, "young")) - 1.2) < 1e-9);
	/* no minutes: the window, a day */
	assert_true(json_real_value(json_object_get(per, "nomin")) == 3);
	assert_non_null(json_object_get(per, "kube-system"));
	assert_null(json_object_get(per, "__idle__"));
	assert_null(json_object_get(per, "Not_A_Name"));
	assert_int_equal(json_object_size(per), 4);
	json_decref(per);

	/* what is not its answer is refused, naming why */
	static const char *const bad[] = {
		"", "[]", "{\"code\":500,\"message\":\"boom\"}", "{\"code\":200}", "{\"data\":{}}",
		"{\"data\":[1]}", "{\"data\":[{\"web\":1}]}", "{\"data\":[{\"web\":{\"minutes\":1}}]}",
		"{\"data\":[{\"web\":{\"totalCost\":-1}}]}", "{\"data\":[{\"web\":{\"totalCost\":\"1\"}}]}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		per = NULL;
		assert_int_equal(pv_opencost_parse(&per, bad[i], strlen(bad[i])), PV_EINVAL);
		assert_null(per);
	}
	assert_int_equal(pv_opencost_parse(&per, bad[2], strlen(bad[2])), PV_EINVAL);
	assert_non_null(strstr(pv_error_last()->message, "boom"));
	/* a figure no namespace costs is dropped, not shown */
	static const char huge[] = "{\"data\":[{\"web\":{\"totalCost\":1e300,\"minutes\":1e-300}}]}";
	assert_int_equal(pv_opencost_parse(&per, huge, strlen(huge)), 0);
	assert_int_equal(json_object_size(per), 0);
	json_decref(per);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(quantities),
		cmocka_unit_test(odd_quantities),
		cmocka_unit_test(quantity_json),
		cmocka_unit_test(settings),
		cmocka_unit_test(estimate),
		cmocka_unit_test(components),
		cmocka_unit_test(asleep),
		cmocka_unit_test(opencost_answer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
