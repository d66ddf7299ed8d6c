/*
 * test_values.c - unit tests for service/values.c.
 *
 * Every test compares against expected JSON (json_equal) or expected YAML
 * text (strcmp), so a silent change in how a scalar resolves or how a string
 * is quoted fails here before it reaches a values file in Git.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "error.h"
#include "values.h"

#define HEADER "# Managed by previewd: changes made here are overwritten.\n"

/* ------------------------------------------------------------------------
 * helpers
 */

static json_t *json_text(const char *text)
{
	json_error_t err;
	json_t *v = json_loads(text, JSON_DECODE_ANY, &err);

	if (!v)
		fail_msg("bad JSON in test: %s: %s", text, err.text);
	return v;
}

static void assert_json_equal(const json_t *got, const json_t *want)
{
	if (!json_equal(got, want)) {
		char *g = json_dumps(got, JSON_ENCODE_ANY | JSON_SORT_KEYS);
		char *w = json_dumps(want, JSON_ENCODE_ANY | JSON_SORT_KEYS);

		print_error("got:  %s\nwant: %s\n", g ? g : "(null)", w ? w : "(null)");
		free(g);
		free(w);
		fail();
	}
}

static void assert_json_text(const json_t *got, const char *want_text)
{
	json_t *want = json_text(want_text);

	assert_json_equal(got, want);
	json_decref(want);
}

static json_t *parse_ok(const char *yaml)
{
	json_t *v = NULL;
	int error = pv_values_from_yaml(&v, yaml, strlen(yaml));

	if (error != 0)
		fail_msg("parse failed (%d): %s\n--- input:\n%s", error,
			 pv_error_last()->message, yaml);
	assert_true(json_is_object(v));
	return v;
}

static void assert_parses_to(const char *yaml, const char *want_text)
{
	json_t *v = parse_ok(yaml);

	assert_json_text(v, want_text);
	json_decref(v);
}

/* Parse must fail with code, and the message must contain want_msg. */
static void assert_parse_fails(const char *yaml, size_t len, int code,
			       const char *want_msg)
{
	json_t *v = (json_t *)0x1;
	int error = pv_values_from_yaml(&v, yaml, len);

	if (error != code)
		fail_msg("want error %d, got %d (%s) for:\n%s", code, error,
			 pv_error_last()->message, yaml);
	assert_null(v);
	assert_int_equal(pv_error_last()->code, code);
	if (want_msg && !strstr(pv_error_last()->message, want_msg))
		fail_msg("message \"%s\" lacks \"%s\"", pv_error_last()->message, want_msg);
}

static char *emit_ok(const json_t *v)
{
	char *yaml = NULL;
	size_t len = 0;
	int error = pv_values_to_yaml(&yaml, &len, v);

	if (error != 0)
		fail_msg("emit failed (%d): %s", error, pv_error_last()->message);
	assert_non_null(yaml);
	assert_int_equal(len, strlen(yaml));
	return yaml;
}

static void assert_emits(const char *json_in, const char *want_yaml)
{
	json_t *v = json_text(json_in), *back;
	char *yaml = emit_ok(v);

	assert_string_equal(yaml, want_yaml);
	/* and it reads back as what was written */
	back = parse_ok(yaml);
	assert_json_equal(back, v);
	json_decref(back);
	json_decref(v);
	free(yaml);
}

/* {"a": {"a": ... 1}} with depth levels of mappings */
static char *nested_yaml(int depth)
{
	size_t size = (size_t)depth * (2 * (size_t)depth + 4) + 64;
	char *s = malloc(size), *p = s;

	assert_non_null(s);
	for (int i = 0; i < depth; i++)
		p += sprintf(p, "%*sa:\n", 2 * i, "");
	sprintf(p, "%*s1\n", 2 * depth, "");
	return s;
}

/* prefix, n '[' then n ']', suffix */
static void flow_sequences(char *buf, size_t size, const char *prefix, int n,
			   const char *suffix)
{
	size_t len = (size_t)snprintf(buf, size, "%s", prefix);

	for (int i = 0; i < n; i++)
		buf[len++] = '[';
	for (int i = 0; i < n; i++)
		buf[len++] = ']';
	snprintf(buf + len, size - len, "%s", suffix);
}

static json_t *nested_json(int depth)
{
	json_t *v = json_integer(1);

	for (int i = 0; i < depth; i++) {
		json_t *o = json_object();

		json_object_set_new(o, "a", v);
		v = o;
	}
	return v;
}

/* ------------------------------------------------------------------------
 * reading YAML
 */

static void test_base_with_comments_no_trailing_newline(void **state)
{
	const char *base =
		"# Default values for the web chart.\n"
		"# Lines like this one are for humans.\n"
		"\n"
		"image:\n"
		"  repository: registry.example.com/web   # where it lives\n"
		"  tag: \"1.25\"  # quoted: a string, not a float\n"
		"  pullPolicy: IfNotPresent\n"
		"replicas: 2\n"
		"ingress:\n"
		"  enabled: yes\n"
		"  hosts:\n"
		"    - host: preview.example.com\n"
		"      paths: [/]\n"
		"resources: {}\n"
		"# a trailing comment, and no newline after the last line\n"
		"nodeSelector: {}";

	(void)state;
	assert_parses_to(base,
		"{\"image\": {\"repository\": \"registry.example.com/web\","
		"  \"tag\": \"1.25\", \"pullPolicy\": \"IfNotPresent\"},"
		" \"replicas\": 2,"
		" \"ingress\": {\"enabled\": true,"
		"  \"hosts\": [{\"host\": \"preview.example.com\", \"paths\": [\"/\"]}]},"
		" \"resources\": {}, \"nodeSelector\": {}}");
}

static void test_yaml11_booleans_and_nulls(void **state)
{
	(void)state;
	assert_parses_to(
		"t1: y\nt2: Y\nt3: yes\nt4: Yes\nt5: YES\nt6: true\nt7: True\n"
		"t8: TRUE\nt9: on\nt10: On\nt11: ON\n"
		"f1: n\nf2: N\nf3: no\nf4: No\nf5: NO\nf6: false\nf7: False\n"
		"f8: FALSE\nf9: off\nf10: Off\nf11: OFF\n"
		"z1: ~\nz2: null\nz3: Null\nz4: NULL\nz5:\n"
		/* not in go-yaml's lists: strings */
		"s1: yES\ns2: oN\ns3: nULL\ns4: tRUE\ns5: Yess\n",
		"{\"t1\": true, \"t2\": true, \"t3\": true, \"t4\": true, \"t5\": true,"
		" \"t6\": true, \"t7\": true, \"t8\": true, \"t9\": true, \"t10\": true,"
		" \"t11\": true,"
		" \"f1\": false, \"f2\": false, \"f3\": false, \"f4\": false,"
		" \"f5\": false, \"f6\": false, \"f7\": false, \"f8\": false,"
		" \"f9\": false, \"f10\": false, \"f11\": false,"
		" \"z1\": null, \"z2\": null, \"z3\": null, \"z4\": null, \"z5\": null,"
		" \"s1\": \"yES\", \"s2\": \"oN\", \"s3\": \"nULL\", \"s4\": \"tRUE\","
		" \"s5\": \"Yess\"}");
}

static void test_yaml11_numbers(void **state)
{
	json_t *v, *want;

	(void)state;
	v = parse_ok(
		"dec: 42\nneg: -17\npos: +12\nhex: 0x1F\nHEX: 0XfF\noct: 0o17\n"
		"oldoct: 017\nbin: 0b101\nnegbin: -0b11\nunder: 1_000_000\n"
		"hexunder: 0x_ff\nzero: 0\nnegzero: -0\n"
		"max: 9223372036854775807\nmin: -9223372036854775808\n"
		"f1: 1.5\nf2: -2e3\nf3: .5\nf4: 1.\nf5: +.5\nf6: 6.02E+23\n"
		"f7: 1_0.5\nf8: 08\nf9: .5_5\n"
		/* go-yaml's fallback for Go versions without 0b in ParseInt */
		"oddbin: 0b-1\n"
		"big: 9223372036854775808\nbighex: 0xFFFFFFFFFFFFFFFF\n"
		/* go-yaml leaves these strings */
		"s1: 1e400\ns2: 0x1FFFFFFFFFFFFFFFF\ns3: 12:30\ns4: 2024-01-31\n"
		"s5: 1.2.3\ns6: 0x\ns7: _1\ns8: 1e\ns9: inf\ns10: ._5\ns11: .5_\n"
		"s12: 0b\ns13: -0b\n");
	want = json_text(
		"{\"dec\": 42, \"neg\": -17, \"pos\": 12, \"hex\": 31, \"HEX\": 255,"
		" \"oct\": 15, \"oldoct\": 15, \"bin\": 5, \"negbin\": -3,"
		" \"under\": 1000000, \"hexunder\": 255, \"zero\": 0, \"negzero\": 0,"
		" \"max\": 9223372036854775807, \"min\": -9223372036854775808,"
		" \"f1\": 1.5, \"f2\": -2000.0, \"f3\": 0.5, \"f4\": 1.0, \"f5\": 0.5,"
		" \"f6\": 6.02e23, \"f7\": 10.5, \"f8\": 8.0, \"f9\": 0.55, \"oddbin\": -1,"
		" \"s1\": \"1e400\", \"s2\": \"0x1FFFFFFFFFFFFFFFF\", \"s3\": \"12:30\","
		" \"s4\": \"2024-01-31\", \"s5\": \"1.2.3\", \"s6\": \"0x\","
		" \"s7\": \"_1\", \"s8\": \"1e\", \"s9\": \"inf\", \"s10\": \"._5\","
		" \"s11\": \".5_\", \"s12\": \"0b\", \"s13\": \"-0b\"}");
	/* beyond int64: a real, as Helm (which holds float64s) sees it */
	json_object_set_new(want, "big", json_real(9223372036854775808.0));
	json_object_set_new(want, "bighex", json_real(18446744073709551615.0));
	assert_json_equal(v, want);
	/* integers stay integers, floats stay reals */
	assert_true(json_is_integer(json_object_get(v, "hex")));
	assert_true(json_is_real(json_object_get(v, "f4")));
	assert_true(json_is_real(json_object_get(v, "f8")));
	json_decref(v);
	json_decref(want);
}

static void test_quoted_scalars_are_strings(void **state)
{
	(void)state;
	assert_parses_to(
		"a: \"yes\"\nb: 'on'\nc: \"123\"\nd: '1.0'\ne: \"\"\nf: 'null'\n"
		"g: \"~\"\nh: \"0x10\"\ni: |\n  on\nj: >-\n  123\n",
		"{\"a\": \"yes\", \"b\": \"on\", \"c\": \"123\", \"d\": \"1.0\","
		" \"e\": \"\", \"f\": \"null\", \"g\": \"~\", \"h\": \"0x10\","
		" \"i\": \"on\\n\", \"j\": \"123\"}");
}

static void test_tags(void **state)
{
	(void)state;
	assert_parses_to(
		"a: !!str 123\nb: !!str yes\nc: !!int \"42\"\nd: !!float 1\n"
		"e: !!bool \"yes\"\nf: !!null \"\"\ng: !custom 12\nh: ! on\n"
		"i: !!float \"2.5\"\nj: !!int 0x10\nk: !!float 18446744073709551615\n",
		"{\"a\": \"123\", \"b\": \"yes\", \"c\": 42, \"d\": 1.0, \"e\": true,"
		" \"f\": null, \"g\": \"12\", \"h\": \"on\", \"i\": 2.5, \"j\": 16,"
		" \"k\": 18446744073709551615.0}");
	assert_parse_fails("a: !!int abc\n", 13, PV_EINVAL, "!!int");
	assert_parse_fails("a: !!bool 1\n", 12, PV_EINVAL, "!!bool");
	assert_parse_fails("a: !!int 1.5\n", 13, PV_EINVAL, "line 1");
	assert_parse_fails("a: !!null x\n", 12, PV_EINVAL, "!!null");
}

static void test_non_finite_rejected(void **state)
{
	static const char *const docs[] = {
		"a: .inf\n", "a: -.Inf\n", "a: +.INF\n", "a: .nan\n", "a: .NaN\n",
		"a: [1, .inf]\n", "a: !!float .inf\n",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++)
		assert_parse_fails(docs[i], strlen(docs[i]), PV_EINVAL, "JSON has no infinity or NaN");
	/* written other ways they are just strings */
	assert_parses_to("a: .Nan\nb: infinity\nc: \".inf\"\n",
			 "{\"a\": \".Nan\", \"b\": \"infinity\", \"c\": \".inf\"}");
}

static void test_keys_resolved_like_helm(void **state)
{
	(void)state;
	/* go-yaml resolves keys like values; sigs.k8s.io/yaml then prints them */
	assert_parses_to(
		"y: 1\nno: 2\n0x10: 3\n1.5: 4\n1e6: 5\n\"on\": 6\n'y': 7\n"
		"0.1: 8\n.inf: 9\n-5: 10\n.nan: 11\n-.inf: 12\n3.4e38: 13\n",
		"{\"true\": 1, \"false\": 2, \"16\": 3, \"1.5\": 4, \"1e+06\": 5,"
		" \"on\": 6, \"y\": 7, \"0.1\": 8, \".inf\": 9, \"-5\": 10,"
		" \".nan\": 11, \"-.inf\": 12, \"3.4e+38\": 13}");
	/* float keys go through float32: 1e39 overflows it, as in Helm */
	assert_parses_to("1e39: x\n", "{\".inf\": \"x\"}");
	/* anchors on keys, and aliases used as keys, resolve the same way */
	assert_parses_to(
		"base: &k name\n*k : 1\n&j other: *j\nf: &f 2.5\n*f : float\n"
		"b: &b on\n*b : bool\n",
		"{\"base\": \"name\", \"name\": 1, \"other\": \"other\", \"f\": 2.5,"
		" \"2.5\": \"float\", \"b\": true, \"true\": \"bool\"}");
	assert_parse_fails("a: &m {x: 1}\n*m : 2\n", 20, PV_EINVAL, "not a scalar");
	assert_parse_fails("~: 1\n", 5, PV_EINVAL, "null");
	assert_parse_fails("[a, b]: 1\n", 10, PV_EINVAL, "not a scalar");
	assert_parse_fails("{a: 1}: 1\n", 10, PV_EINVAL, "not a scalar");
	assert_parse_fails("\"a\\0b\": 1\n", 10, PV_EINVAL, "NUL");
	assert_parse_fails("a: \"x\\0y\"\n", 10, PV_EINVAL,
			   "string at line 1, column 4 contains a NUL character");
	assert_parse_fails("18446744073709551615: 1\n", 24, PV_EINVAL, "out of range");
}

static void test_duplicate_keys_rejected(void **state)
{
	(void)state;
	assert_parse_fails("a: 1\nb: 2\na: 3\n", 15, PV_EINVAL, "duplicate key \"a\" at line 3");
	assert_parse_fails("outer:\n  x: 1\n  x: 1\n", 21, PV_EINVAL, "duplicate key \"x\"");
	assert_parse_fails("{a: 1, \"a\": 2}\n", 15, PV_EINVAL, "duplicate key");
	/* distinct in the text, the same key once Helm reads them */
	assert_parse_fails("yes: 1\ntrue: 2\n", 15, PV_EINVAL, "duplicate key \"true\"");
	assert_parse_fails("0x10: a\n16: b\n", 14, PV_EINVAL, "duplicate key \"16\"");
	/* the same key in different mappings is fine */
	assert_parses_to("a: {x: 1}\nb: {x: 2}\n", "{\"a\": {\"x\": 1}, \"b\": {\"x\": 2}}");
}

static void test_non_mapping_rejected(void **state)
{
	static const char *const docs[] = {
		"- a\n- b\n", "[1, 2]\n", "hello\n", "42\n", "\"a string\"\n",
		"true\n", "--- |\n  text\n", "''\n",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		assert_parse_fails(docs[i], strlen(docs[i]), PV_EINVAL,
				   "values must be a YAML mapping");
		assert_string_equal(pv_error_last()->field, "values");
	}
}

static void test_empty_documents(void **state)
{
	static const char *const docs[] = {
		"", "\n", "# only a comment\n", "# no newline", "---\n", "--- # c\n...\n",
		"~\n", "null", "  \n\n# x\n  \n",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++)
		assert_parses_to(docs[i], "{}");
	/* a NULL pointer with length 0 is an empty document too */
	{
		json_t *v = NULL;

		assert_int_equal(pv_values_from_yaml(&v, NULL, 0), 0);
		assert_json_text(v, "{}");
		json_decref(v);
	}
}

static void test_multiple_documents_rejected(void **state)
{
	(void)state;
	assert_parse_fails("a: 1\n---\nb: 2\n", 14, PV_EINVAL, "single YAML document");
	/* an explicit start and end of the one document is fine */
	assert_parses_to("---\na: 1\n...\n", "{\"a\": 1}");
}

static void test_syntax_error_has_line(void **state)
{
	const char *bad_indent = "a: 1\nb: 2\n  c: 3\n";
	const char *unclosed = "a: 1\nb: [1, 2\nc: 3\nd: 4\n";
	const char *tab = "a:\n\tb: 1\n";

	(void)state;
	assert_parse_fails(bad_indent, strlen(bad_indent), PV_EINVAL,
			   "YAML syntax error at line 3, column 4");
	assert_string_equal(pv_error_last()->field, "values");
	assert_parse_fails(unclosed, strlen(unclosed), PV_EINVAL, "line 3");
	assert_parse_fails(tab, strlen(tab), PV_EINVAL, "line 2");
	/* the reader's errors (bad UTF-8) give a byte offset instead */
	assert_parse_fails("a: \xff\n", 6, PV_EINVAL, "byte 3");
}

static void test_depth_limit(void **state)
{
	char *ok = nested_yaml(32), *deep = nested_yaml(33);
	json_t *v, *want = nested_json(32), *j33 = nested_json(33);
	char flow_ok[128], flow_deep[128], via_alias[128];

	(void)state;
	v = parse_ok(ok);
	assert_json_equal(v, want);
	json_decref(v);
	assert_parse_fails(deep, strlen(deep), PV_EINVAL,
			   "values nested deeper than 32 levels (line 33)");

	/* flow style: the top mapping plus 31 or 32 sequences */
	flow_sequences(flow_ok, sizeof(flow_ok), "a: ", 31, "\n");
	flow_sequences(flow_deep, sizeof(flow_deep), "a: ", 32, "\n");
	v = parse_ok(flow_ok);
	assert_int_equal(json_array_size(json_object_get(v, "a")), 1);
	json_decref(v);
	assert_parse_fails(flow_deep, strlen(flow_deep), PV_EINVAL, "deeper than 32");

	/* an alias cannot smuggle in depth: x's 31 sequences fit under the top
	 * mapping, but one more level around *d does not */
	flow_sequences(via_alias, sizeof(via_alias), "x: &d ", 31, "\ny: [*d]\n");
	assert_parse_fails(via_alias, strlen(via_alias), PV_EINVAL, "deeper than 32");
	flow_sequences(via_alias, sizeof(via_alias), "x: &d ", 30, "\ny: [*d]\n");
	v = parse_ok(via_alias);
	json_decref(v);

	/* pv_values_check counts the same way */
	assert_int_equal(pv_values_check(want, 32), 0);
	assert_int_equal(pv_values_check(j33, 32), PV_EINVAL);
	assert_string_equal(pv_error_last()->message, "values nested deeper than 32 levels");
	assert_int_equal(pv_values_check(j33, 33), 0);

	free(ok);
	free(deep);
	json_decref(want);
	json_decref(j33);
}

static void test_billion_laughs_rejected_quickly(void **state)
{
	const char *bomb =
		"a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
		"b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
		"c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
		"d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
		"e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
		"f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
		"g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
		"h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
		"i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]\n";
	struct timespec t0, t1;
	double secs;

	(void)state;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_parse_fails(bomb, strlen(bomb), PV_EINVAL, "more than 100000 nodes");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	/* generous for sanitizer builds; the full expansion would be ~387M nodes */
	assert_true(secs < 2.0);
}

static void test_anchors_aliases_and_merge_keys(void **state)
{
	json_t *v;

	(void)state;
	v = parse_ok(
		"defaults: &defaults\n"
		"  cpu: 100m\n"
		"  memory: 128Mi\n"
		"  labels: {tier: web}\n"
		"web:\n"
		"  <<: *defaults\n"
		"  memory: 256Mi\n"
		"worker:\n"
		"  <<: [{cpu: 1, gpu: 0}, *defaults]\n"
		"copy: *defaults\n"
		"name: &n preview\n"
		"again: *n\n"
		"literal: {\"<<\": not a merge}\n");
	assert_json_text(v,
		"{\"defaults\": {\"cpu\": \"100m\", \"memory\": \"128Mi\", \"labels\": {\"tier\": \"web\"}},"
		" \"web\": {\"cpu\": \"100m\", \"memory\": \"256Mi\", \"labels\": {\"tier\": \"web\"}},"
		" \"worker\": {\"cpu\": 1, \"gpu\": 0, \"memory\": \"128Mi\", \"labels\": {\"tier\": \"web\"}},"
		" \"copy\": {\"cpu\": \"100m\", \"memory\": \"128Mi\", \"labels\": {\"tier\": \"web\"}},"
		" \"name\": \"preview\", \"again\": \"preview\","
		" \"literal\": {\"<<\": \"not a merge\"}}");
	/* aliases are copies: changing one leaves the other alone */
	json_object_set_new(json_object_get(json_object_get(v, "copy"), "labels"),
			    "tier", json_string("changed"));
	assert_json_text(json_object_get(json_object_get(v, "defaults"), "labels"),
			 "{\"tier\": \"web\"}");
	json_decref(v);

	assert_parse_fails("a: *nope\n", 9, PV_EINVAL, "unknown anchor *nope");
	assert_parse_fails("a: &x [1, *x]\n", 14, PV_EINVAL, "inside the node it refers to");
	assert_parse_fails("a: {<<: 1}\n", 11, PV_EINVAL, "merge key");
	assert_parse_fails("a: {<<: [1]}\n", 13, PV_EINVAL, "merge key");
}

static void test_input_too_big(void **state)
{
	size_t len = PV_VALUES_MAX_YAML + 1;
	char *big = malloc(len);
	json_t *v = NULL;

	(void)state;
	assert_non_null(big);
	memset(big, '#', len);
	assert_int_equal(pv_values_from_yaml(&v, big, len), PV_ETOOBIG);
	assert_null(v);
	/* exactly at the limit is read (a comment-only file) */
	big[PV_VALUES_MAX_YAML - 1] = '\n';
	assert_int_equal(pv_values_from_yaml(&v, big, PV_VALUES_MAX_YAML), 0);
	assert_json_text(v, "{}");
	json_decref(v);
	free(big);
}

/* ------------------------------------------------------------------------
 * writing YAML
 */

static void test_emit_header_and_newline(void **state)
{
	(void)state;
	assert_emits("{}", HEADER "{}\n");
	assert_emits("{\"a\": 1}", HEADER "a: 1\n");
	assert_emits("{\"a\": {\"b\": [1, {\"c\": null}], \"e\": {}, \"f\": []}}",
		HEADER
		"a:\n"
		"  b:\n"
		"  - 1\n"
		"  - c: null\n"
		"  e: {}\n"
		"  f: []\n");
}

static void test_emit_quoting(void **state)
{
	(void)state;
	assert_emits(
		"{\"yes\": \"yes\", \"on\": \"on\", \"Off\": \"Off\", \"y\": \"y\","
		" \"n123\": \"123\", \"f\": \"1.0\", \"empty\": \"\", \"null\": \"null\","
		" \"tilde\": \"~\", \"colon\": \"a: b\", \"hash\": \"# not a comment\","
		" \"lead\": \"  leading\", \"trail\": \"a \", \"nl\": \"line1\\nline2\","
		" \"uni\": \"h\u00e9llo w\u00f6rld \u2713\", \"plain\": \"nginx/web-1.2_x\","
		" \"date\": \"2024-01-31\", \"dash\": \"-x\", \"quote\": \"say \\\"hi\\\"\","
		" \"tab\": \"a\\tb\", \"true\": \"True\", \"123\": \"0x10\","
		" \"<<\": \"merge?\", \"octal\": \"017\", \"dot\": \".5\"}",
		HEADER
		"\"yes\": \"yes\"\n"
		"\"on\": \"on\"\n"
		"\"Off\": \"Off\"\n"
		"\"y\": \"y\"\n"
		"n123: \"123\"\n"
		"f: \"1.0\"\n"
		"empty: \"\"\n"
		"\"null\": \"null\"\n"
		"tilde: \"~\"\n"
		"colon: \"a: b\"\n"
		"hash: \"# not a comment\"\n"
		"lead: \"  leading\"\n"
		"trail: \"a \"\n"
		"nl: \"line1\\nline2\"\n"
		"uni: \"h\u00e9llo w\u00f6rld \u2713\"\n"
		"plain: nginx/web-1.2_x\n"
		"date: \"2024-01-31\"\n"
		"dash: \"-x\"\n"
		"quote: \"say \\\"hi\\\"\"\n"
		"tab: \"a\\tb\"\n"
		"\"true\": \"True\"\n"
		"\"123\": \"0x10\"\n"
		"\"<<\": \"merge?\"\n"
		"octal: \"017\"\n"
		"dot: \".5\"\n");
}

static void test_emit_numbers(void **state)
{
	json_t *v = json_object();
	char *yaml;

	(void)state;
	json_object_set_new(v, "int", json_integer(42));
	json_object_set_new(v, "neg", json_integer(-7));
	json_object_set_new(v, "max", json_integer(INT64_MAX));
	json_object_set_new(v, "min", json_integer(INT64_MIN));
	json_object_set_new(v, "tenth", json_real(0.1));
	json_object_set_new(v, "whole", json_real(100.0));
	json_object_set_new(v, "negzero", json_real(-0.0));
	json_object_set_new(v, "big", json_real(1e20));
	json_object_set_new(v, "tiny", json_real(1.5e-7));
	json_object_set_new(v, "third", json_real(1.0 / 3.0));
	json_object_set_new(v, "denormal", json_real(5e-324));
	json_object_set_new(v, "t", json_true());
	json_object_set_new(v, "f", json_false());
	json_object_set_new(v, "z", json_null());
	yaml = emit_ok(v);
	assert_string_equal(yaml,
		HEADER
		"int: 42\n"
		"neg: -7\n"
		"max: 9223372036854775807\n"
		"min: -9223372036854775808\n"
		"tenth: 0.1\n"
		"whole: 100.0\n"
		"negzero: -0.0\n"
		"big: 1.0e+20\n"
		"tiny: 1.5e-07\n"
		"third: 0.3333333333333333\n"
		"denormal: 5.0e-324\n"
		"t: true\n"
		"f: false\n"
		"z: null\n");
	{
		json_t *back = parse_ok(yaml);

		assert_json_equal(back, v);
		assert_true(json_is_real(json_object_get(back, "whole")));
		assert_true(json_is_integer(json_object_get(back, "int")));
		json_decref(back);
	}
	free(yaml);
	json_decref(v);
}

static void test_emit_long_lines_not_folded(void **state)
{
	char words[400], token[301], want[1024];
	json_t *v = json_object();
	char *yaml;

	(void)state;
	/* far past libyaml's default 80 columns: one line each all the same */
	words[0] = '\0';
	for (int i = 0; i < 80; i++)
		strcat(words, i ? " word" : "word");
	memset(token, 'x', 300);
	token[300] = '\0';
	json_object_set_new(v, "sentence", json_string(words));
	json_object_set_new(v, "token", json_string(token));
	yaml = emit_ok(v);
	snprintf(want, sizeof(want), HEADER "sentence: \"%s\"\ntoken: %s\n", words, token);
	assert_string_equal(yaml, want);
	free(yaml);
	json_decref(v);
}

static void test_emit_keeps_insertion_order(void **state)
{
	json_t *v = json_object();
	char *yaml;

	(void)state;
	json_object_set_new(v, "zebra", json_integer(1));
	json_object_set_new(v, "apple", json_integer(2));
	json_object_set_new(v, "mango", json_integer(3));
	yaml = emit_ok(v);
	assert_string_equal(yaml, HEADER "zebra: 1\napple: 2\nmango: 3\n");
	free(yaml);
	json_decref(v);
}

static void test_emit_rejects_non_object(void **state)
{
	static const char *const docs[] = { "[1, 2]", "\"s\"", "1", "null" };
	char *yaml = (char *)0x1;
	size_t len = 99;

	(void)state;
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		json_t *v = json_text(docs[i]);

		assert_int_equal(pv_values_to_yaml(&yaml, &len, v), PV_EINVAL);
		assert_null(yaml);
		assert_int_equal(len, 0);
		json_decref(v);
	}
}

static void test_emit_errors(void **state)
{
	json_t *deep = nested_json(1001), *bad = json_object();
	char *yaml = (char *)0x1;

	(void)state;
	/* recursion stays bounded even without pv_values_check() first */
	assert_int_equal(pv_values_to_yaml(&yaml, NULL, deep), PV_EINVAL);
	assert_null(yaml);
	assert_string_equal(pv_error_last()->message, "values nested deeper than 1000 levels");

	/* a string that bypassed jansson's UTF-8 check: libyaml refuses it */
	json_object_set_new(bad, "k", json_string_nocheck("\xff"));
	assert_int_equal(pv_values_to_yaml(&yaml, NULL, bad), PV_ERROR);
	assert_null(yaml);
	json_decref(deep);
	json_decref(bad);
}

static void test_roundtrip_rich_document(void **state)
{
	json_t *v = json_text(
		"{\"image\": {\"repository\": \"ghcr.io/acme/web\", \"tag\": \"1.2.3\","
		"  \"digest\": \"sha256:0123abcd\"},"
		" \"replicas\": 3, \"ratio\": 0.75, \"huge\": 1e300, \"neg\": -1.5e-10,"
		" \"flags\": [true, false, null, \"yes\", \"no\", \"on\", \"off\", \"y\", \"n\"],"
		" \"numbers_as_strings\": [\"1\", \"1.0\", \"0x1F\", \"1e3\", \"-0\", \".inf\", \"08\", \"1_000\"],"
		" \"weird\": [\"\", \" \", \"a: b\", \"- x\", \"? y\", \"#c\", \"&a\", \"*b\", \"!t\","
		"   \"%d\", \"@x\", \"`x`\", \"{}\", \"[]\", \"'q'\", \"\\\"dq\\\"\", \"a\\\\b\","
		"   \"line1\\nline2\\n\", \"\\ttab\", \"cr\\r\", \"\\u0001ctl\\u007f\\u0080\","
		"   \"\\u00e9\\u4e2d\\ud83d\\ude00\", \"\\u2028\\u0085\\ufeff\", \"trailing \"],"
		" \"nested\": {\"a\": {\"b\": {\"c\": [[1, [2, [3]]], {\"d\": {}}]}}},"
		" \"empty\": {\"o\": {}, \"a\": [], \"s\": \"\"},"
		" \"yes\": 1, \"\": \"empty key\", \"123\": \"numeric key\", \"<<\": \"not merge\","
		" \"key with spaces\": 1, \"k\\u00e9y\": 2, \"a.b/c-d_e\": 3,"
		" \"a very long key that is longer than one hundred and twenty eight characters,"
		" which is where libyaml stops writing simple keys and uses the ? form\": \"long\","
		" \"multi\\nline key\": 4,"
		" \"ints\": [0, -1, 9223372036854775807, -9223372036854775807]}");
	char *yaml = NULL;
	size_t len = 0;
	json_t *normalized = NULL, *back;

	(void)state;
	assert_int_equal(pv_values_render(&yaml, &len, &normalized, v, 65536), 0);
	assert_int_equal(len, strlen(yaml));
	assert_memory_equal(yaml, HEADER, strlen(HEADER));
	assert_int_equal(yaml[len - 1], '\n');
	assert_json_equal(normalized, v);
	back = parse_ok(yaml);
	assert_json_equal(back, v);
	json_decref(back);
	json_decref(normalized);
	free(yaml);
	json_decref(v);
}

static void test_render(void **state)
{
	json_t *v = json_text("{\"a\": {\"b\": 1.0, \"c\": \"x\"}}"), *normalized = NULL;
	char *yaml = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(pv_values_render(&yaml, &len, &normalized, v, 4096), 0);
	assert_string_equal(yaml, HEADER "a:\n  b: 1.0\n  c: x\n");
	assert_int_equal(len, strlen(yaml));
	assert_json_equal(normalized, v);
	json_decref(normalized);
	free(yaml);

	/* normalized and out_len are optional */
	assert_int_equal(pv_values_render(&yaml, NULL, NULL, v, 4096), 0);
	assert_string_equal(yaml, HEADER "a:\n  b: 1.0\n  c: x\n");
	free(yaml);

	/* over the caller's limit */
	yaml = (char *)0x1;
	normalized = (json_t *)0x1;
	assert_int_equal(pv_values_render(&yaml, &len, &normalized, v,
					  strlen(HEADER) + 10), PV_ETOOBIG);
	assert_null(yaml);
	assert_null(normalized);
	assert_int_equal(len, 0);
	json_decref(v);

	/* too deep, or not an object: PV_EINVAL from the check */
	v = nested_json(33);
	assert_int_equal(pv_values_render(&yaml, &len, NULL, v, 65536), PV_EINVAL);
	assert_null(yaml);
	json_decref(v);
	v = json_text("[1]");
	assert_int_equal(pv_values_render(&yaml, &len, NULL, v, 65536), PV_EINVAL);
	json_decref(v);
}

static void test_check(void **state)
{
	json_t *v = json_text("{\"a\": [1, 2.5, {\"b\": \"c\"}]}"), *nul_key;

	(void)state;
	assert_int_equal(pv_values_check(v, 32), 0);
	assert_int_equal(pv_values_check(v, 3), 0);
	assert_int_equal(pv_values_check(v, 2), PV_EINVAL);
	assert_string_equal(pv_error_last()->field, "values");
	json_decref(v);

	v = json_text("[]");
	assert_int_equal(pv_values_check(v, 32), PV_EINVAL);
	assert_string_equal(pv_error_last()->message, "values must be a JSON object");
	json_decref(v);
	assert_int_equal(pv_values_check(NULL, 32), PV_EINVAL);

	nul_key = json_object();
	json_object_setn_new(nul_key, "a\0b", 3, json_integer(1));
	assert_int_equal(pv_values_check(nul_key, 32), PV_EINVAL);
	assert_string_equal(pv_error_last()->message, "values contain a key with a NUL character");
	json_decref(nul_key);
	v = json_pack("{s:[s%]}", "a", "x\0y", (size_t)3);
	assert_int_equal(pv_values_check(v, 32), PV_EINVAL);
	assert_string_equal(pv_error_last()->message, "values contain a string with a NUL character");
	json_decref(v);
}

/* ------------------------------------------------------------------------
 * merge patch
 */

static void test_merge_patch_rfc7386_appendix_a(void **state)
{
	/* RFC 7386, Appendix A, every example in order */
	static const char *const cases[][3] = {
		{ "{\"a\":\"b\"}", "{\"a\":\"c\"}", "{\"a\":\"c\"}" },
		{ "{\"a\":\"b\"}", "{\"b\":\"c\"}", "{\"a\":\"b\",\"b\":\"c\"}" },
		{ "{\"a\":\"b\"}", "{\"a\":null}", "{}" },
		{ "{\"a\":\"b\",\"b\":\"c\"}", "{\"a\":null}", "{\"b\":\"c\"}" },
		{ "{\"a\":[\"b\"]}", "{\"a\":\"c\"}", "{\"a\":\"c\"}" },
		{ "{\"a\":\"c\"}", "{\"a\":[\"b\"]}", "{\"a\":[\"b\"]}" },
		{ "{\"a\":{\"b\":\"c\"}}", "{\"a\":{\"b\":\"d\",\"c\":null}}", "{\"a\":{\"b\":\"d\"}}" },
		{ "{\"a\":[{\"b\":\"c\"}]}", "{\"a\":[1]}", "{\"a\":[1]}" },
		{ "[\"a\",\"b\"]", "[\"c\",\"d\"]", "[\"c\",\"d\"]" },
		{ "{\"a\":\"b\"}", "[\"c\"]", "[\"c\"]" },
		{ "{\"a\":\"foo\"}", "null", "null" },
		{ "{\"a\":\"foo\"}", "\"bar\"", "\"bar\"" },
		{ "{\"e\":null}", "{\"a\":1}", "{\"e\":null,\"a\":1}" },
		{ "[1,2]", "{\"a\":\"b\",\"c\":null}", "{\"a\":\"b\"}" },
		{ "{}", "{\"a\":{\"bb\":{\"ccc\":null}}}", "{\"a\":{\"bb\":{}}}" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *target = json_text(cases[i][0]), *patch = json_text(cases[i][1]);
		json_t *result = pv_values_merge_patch(target, patch);

		assert_non_null(result);
		assert_json_text(result, cases[i][2]);
		json_decref(result);
		json_decref(target);
		json_decref(patch);
	}
}

static void test_merge_patch_nested_and_inputs_untouched(void **state)
{
	const char *base_yaml =
		"# chart defaults\n"
		"image:\n"
		"  repository: web\n"
		"  tag: \"1.0\"\n"
		"env:\n"
		"  LOG_LEVEL: info\n"
		"  FEATURE_X: off\n"
		"hosts: [a.example.com, b.example.com]\n"
		"debug: {enabled: no}\n";
	json_t *base = parse_ok(base_yaml);
	json_t *patch = json_text(
		"{\"image\": {\"tag\": \"pr-42\"}, \"env\": {\"FEATURE_X\": null,"
		" \"NEW\": \"1\"}, \"hosts\": [\"pr-42.example.com\"], \"debug\": null,"
		" \"extra\": {\"drop\": null, \"keep\": true}}");
	json_t *base_copy = json_deep_copy(base), *patch_copy = json_deep_copy(patch);
	json_t *merged = pv_values_merge_patch(base, patch);
	char *yaml;

	(void)state;
	assert_non_null(merged);
	assert_json_text(merged,
		"{\"image\": {\"repository\": \"web\", \"tag\": \"pr-42\"},"
		" \"env\": {\"LOG_LEVEL\": \"info\", \"NEW\": \"1\"},"
		" \"hosts\": [\"pr-42.example.com\"], \"extra\": {\"keep\": true}}");
	/* inputs unchanged, and the result shares nothing with them */
	assert_json_equal(base, base_copy);
	assert_json_equal(patch, patch_copy);
	assert_ptr_not_equal(json_object_get(merged, "hosts"), json_object_get(patch, "hosts"));
	json_object_set_new(json_object_get(merged, "image"), "repository", json_string("x"));
	assert_json_equal(base, base_copy);

	/* base order kept, new keys appended */
	yaml = emit_ok(merged);
	assert_string_equal(yaml,
		HEADER
		"image:\n"
		"  repository: x\n"
		"  tag: pr-42\n"
		"env:\n"
		"  LOG_LEVEL: info\n"
		"  NEW: \"1\"\n"
		"hosts:\n"
		"- pr-42.example.com\n"
		"extra:\n"
		"  keep: true\n");
	free(yaml);

	/* NULL target is "absent": nulls in the patch are dropped */
	json_decref(merged);
	merged = pv_values_merge_patch(NULL, patch);
	assert_json_text(merged,
		"{\"image\": {\"tag\": \"pr-42\"}, \"env\": {\"NEW\": \"1\"},"
		" \"hosts\": [\"pr-42.example.com\"], \"extra\": {\"keep\": true}}");
	assert_null(pv_values_merge_patch(base, NULL));

	json_decref(merged);
	json_decref(base);
	json_decref(patch);
	json_decref(base_copy);
	json_decref(patch_copy);
}

/* ------------------------------------------------------------------------
 * pv_values_fit (PREVIEWD_VALUES_STRICT)
 */

#define FIT_BASE \
	"{\"replicaCount\": 1, \"image\": {\"repository\": \"nginx\", \"tag\": \"1.27\"}," \
	" \"hosts\": [\"a.example.com\"], \"podAnnotations\": {}, \"affinity\": null," \
	" \"ingress\": {\"annotations\": {\"kubernetes.io/ingress.class\": \"nginx\"}}}"

/* pv_values_fit of patch over FIT_BASE: its code, and the kind and path. */
static int fit(const char *patch_text, struct pv_values_misfit *m)
{
	json_t *base = json_text(FIT_BASE), *patch = json_text(patch_text);
	json_t *base_copy = json_deep_copy(base), *patch_copy = json_deep_copy(patch);
	int error;

	pv_error_clear();
	error = pv_values_fit(base, patch, "the base dev", m);
	assert_json_equal(base, base_copy);
	assert_json_equal(patch, patch_copy);
	json_decref(base);
	json_decref(patch);
	json_decref(base_copy);
	json_decref(patch_copy);
	return error;
}

static void test_fit_unknown_nested_key(void **state)
{
	struct pv_values_misfit m;

	(void)state;
	assert_int_equal(fit("{\"image\": {\"tag\": \"pr-1\", \"tagg\": \"pr-1\"}}", &m), PV_EINVAL);
	assert_int_equal(m.kind, PV_VALUES_UNKNOWN_KEY);
	assert_string_equal(m.path, "image.tagg");
	assert_string_equal(pv_error_last()->field, "values.image.tagg");
	assert_string_equal(pv_error_last()->message,
		"values.image.tagg: the base dev has no such key (its keys here: repository, tag)");

	/* a chart that reads frontend.tag is not patched through image.tag */
	assert_int_equal(fit("{\"frontend\": {\"tag\": \"pr-1\"}}", &m), PV_EINVAL);
	assert_string_equal(m.path, "frontend");
	assert_string_equal(pv_error_last()->field, "values.frontend");

	/* a key that would read as two is bracketed */
	assert_int_equal(fit("{\"ingress\": {\"annotations\": {\"kubernetes.io/ingress.klass\": \"x\"}}}", &m),
		PV_EINVAL);
	assert_string_equal(m.path, "ingress.annotations[\"kubernetes.io/ingress.klass\"]");
	assert_int_equal(fit("{\"ingress\": {\"annotations\": {\"kubernetes.io/ingress.class\": \"x\"}}}", &m), 0);
	assert_int_equal(m.kind, PV_VALUES_FITS);
}

static void test_fit_type_change(void **state)
{
	struct pv_values_misfit m;

	(void)state;
	assert_int_equal(fit("{\"image\": \"nginx:1.27\"}", &m), PV_EINVAL);
	assert_int_equal(m.kind, PV_VALUES_TYPE_CHANGE);
	assert_string_equal(m.path, "image");
	assert_string_equal(pv_error_last()->field, "values.image");
	assert_string_equal(pv_error_last()->message, "values.image: the base dev has a mapping here, not a string");
	/* a scalar turned mapping, a list turned mapping, a mapping turned list */
	assert_int_equal(fit("{\"image\": {\"tag\": {\"major\": 1}}}", &m), PV_EINVAL);
	assert_string_equal(m.path, "image.tag");
	assert_string_equal(pv_error_last()->message,
		"values.image.tag: the base dev has a string here, not a mapping");
	assert_int_equal(fit("{\"hosts\": {\"a\": 1}}", &m), PV_EINVAL);
	assert_int_equal(m.kind, PV_VALUES_TYPE_CHANGE);
	assert_int_equal(fit("{\"image\": []}", &m), PV_EINVAL);
	assert_string_equal(pv_error_last()->message, "values.image: the base dev has a mapping here, not a list");
	assert_int_equal(fit("{\"replicaCount\": {}}", &m), PV_EINVAL);
	/* scalars of other JSON types are one shape: Helm turns "1" into 1 */
	assert_int_equal(fit("{\"replicaCount\": \"2\", \"image\": {\"tag\": 1.28}}", &m), 0);
	assert_int_equal(fit("{\"replicaCount\": true}", &m), 0);
}

static void test_fit_null_deletes_known_keys_only(void **state)
{
	struct pv_values_misfit m;

	(void)state;
	assert_int_equal(fit("{\"image\": {\"tag\": null}, \"hosts\": null}", &m), 0);
	assert_int_equal(fit("{\"image\": null}", &m), 0);
	/* deleting what is not there is the same typo */
	assert_int_equal(fit("{\"image\": {\"tagg\": null}}", &m), PV_EINVAL);
	assert_int_equal(m.kind, PV_VALUES_UNKNOWN_KEY);
	assert_string_equal(m.path, "image.tagg");
	/* a null in the base is a placeholder: any shape goes there */
	assert_int_equal(fit("{\"affinity\": {\"nodeAffinity\": {\"x\": [1]}}}", &m), 0);
	assert_int_equal(fit("{\"affinity\": \"none\"}", &m), 0);
}

static void test_fit_arrays_and_open_maps(void **state)
{
	struct pv_values_misfit m;

	(void)state;
	/* a list replaces a list wholesale: its items are not compared */
	assert_int_equal(fit("{\"hosts\": [{\"name\": \"b\"}, 2, []]}", &m), 0);
	assert_int_equal(fit("{\"hosts\": []}", &m), 0);
	assert_int_equal(fit("{\"hosts\": \"a.example.com\"}", &m), PV_EINVAL);
	assert_string_equal(m.path, "hosts");
	assert_string_equal(pv_error_last()->message, "values.hosts: the base dev has a list here, not a string");
	/* an empty mapping in the base is free-form */
	assert_int_equal(fit("{\"podAnnotations\": {\"a/b\": \"1\", \"c\": {\"d\": 1}}}", &m), 0);
	assert_int_equal(fit("{\"podAnnotations\": \"x\"}", &m), PV_EINVAL);
}

static void test_fit_empty_patch_and_errors(void **state)
{
	struct pv_values_misfit m;
	json_t *base = json_text("{}"), *patch = json_text("{\"a\": 1}");

	(void)state;
	assert_int_equal(fit("{}", &m), 0);
	assert_int_equal(m.kind, PV_VALUES_FITS);
	assert_string_equal(m.path, "");
	assert_int_equal(fit("{\"image\": {}}", &m), 0);
	/* an empty base has no keys at all */
	assert_int_equal(pv_values_fit(base, patch, "the environment web", &m), PV_EINVAL);
	assert_string_equal(pv_error_last()->message, "values.a: the environment web has no such key (it has no keys here)");
	assert_int_equal(pv_values_fit(base, json_object_get(patch, "a"), "x", NULL), PV_ERROR);
	json_decref(base);
	json_decref(patch);
}

static void test_fit_long_paths_stay_text(void **state)
{
	struct pv_values_misfit m;
	json_t *base = json_object(), *patch = json_object(), *b = base, *p = patch;
	char key[64];

	(void)state;
	/* 30 levels of a 20-byte key ending in 'é': far more than the field
	 * and the path hold, cut on a character boundary */
	memset(key, 'k', 18);
	memcpy(key + 18, "\xc3\xa9", 3);
	for (int i = 0; i < 30; i++) {
		json_t *nb = json_object(), *np = json_object();
		json_object_set_new(nb, "x", json_integer(1));
		json_object_set_new(b, key, nb);
		json_object_set_new(p, key, np);
		b = nb;
		p = np;
	}
	json_object_set_new(p, "y", json_integer(1));
	assert_int_equal(pv_values_fit(base, patch, "the base dev", &m), PV_EINVAL);
	assert_int_equal(m.kind, PV_VALUES_UNKNOWN_KEY);
	assert_true(strlen(m.path) < sizeof(m.path));
	assert_int_equal(strcmp(m.path + strlen(m.path) - 3, "..."), 0);
	/* valid UTF-8 (jansson refuses anything else): cut at a character */
	{
		const char *texts[] = { m.path, pv_error_last()->field, pv_error_last()->message };
		for (size_t i = 0; i < 3; i++) {
			json_t *j = json_string(texts[i]);
			assert_non_null(j);
			json_decref(j);
		}
	}
	/* not a plain key (not ASCII): bracketed, from the root on */
	assert_int_equal(strncmp(pv_error_last()->field, "values[\"kkkk", 12), 0);
	assert_int_equal(strncmp(m.path, "[\"kkkkkkkkkkkkkkkkkk\xc3\xa9\"][\"kk", 28), 0);
	json_decref(base);
	json_decref(patch);
}

/* Each thread parses, merges and renders on its own; with no globals in
 * values.c the results must match the single-threaded ones (and TSan builds
 * must stay quiet). */
struct thread_job {
	const char *yaml;
	const char *want;
	int failures;
};

static void *thread_main(void *arg)
{
	struct thread_job *job = arg;

	for (int i = 0; i < 200; i++) {
		json_t *base = NULL, *patch, *merged;
		char *out = NULL;

		if (pv_values_from_yaml(&base, job->yaml, strlen(job->yaml)) != 0) {
			job->failures++;
			continue;
		}
		patch = json_pack("{s:{s:i}}", "image", "replicas", 7);
		merged = pv_values_merge_patch(base, patch);
		if (!merged || pv_values_render(&out, NULL, NULL, merged, 4096) != 0 ||
		    strcmp(out, job->want) != 0 ||
		    pv_error_last()->code != 0)
			job->failures++;
		free(out);
		json_decref(merged);
		json_decref(patch);
		json_decref(base);
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct thread_job jobs[4];
	pthread_t threads[4];

	(void)state;
	pv_error_clear();
	for (int i = 0; i < 4; i++) {
		jobs[i].yaml = "image: {repository: web, pullPolicy: on}\n";
		jobs[i].want = HEADER "image:\n  repository: web\n  pullPolicy: true\n  replicas: 7\n";
		jobs[i].failures = 0;
		assert_int_equal(pthread_create(&threads[i], NULL, thread_main, &jobs[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(threads[i], NULL), 0);
		assert_int_equal(jobs[i].failures, 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base_with_comments_no_trailing_newline),
		cmocka_unit_test(test_yaml11_booleans_and_nulls),
		cmocka_unit_test(test_yaml11_numbers),
		cmocka_unit_test(test_quoted_scalars_are_strings),
		cmocka_unit_test(test_tags),
		cmocka_unit_test(test_non_finite_rejected),
		cmocka_unit_test(test_keys_resolved_like_helm),
		cmocka_unit_test(test_duplicate_keys_rejected),
		cmocka_unit_test(test_non_mapping_rejected),
		cmocka_unit_test(test_empty_documents),
		cmocka_unit_test(test_multiple_documents_rejected),
		cmocka_unit_test(test_syntax_error_has_line),
		cmocka_unit_test(test_depth_limit),
		cmocka_unit_test(test_billion_laughs_rejected_quickly),
		cmocka_unit_test(test_anchors_aliases_and_merge_keys),
		cmocka_unit_test(test_input_too_big),
		cmocka_unit_test(test_emit_header_and_newline),
		cmocka_unit_test(test_emit_quoting),
		cmocka_unit_test(test_emit_numbers),
		cmocka_unit_test(test_emit_long_lines_not_folded),
		cmocka_unit_test(test_emit_keeps_insertion_order),
		cmocka_unit_test(test_emit_rejects_non_object),
		cmocka_unit_test(test_emit_errors),
		cmocka_unit_test(test_roundtrip_rich_document),
		cmocka_unit_test(test_render),
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_merge_patch_rfc7386_appendix_a),
		cmocka_unit_test(test_merge_patch_nested_and_inputs_untouched),
		cmocka_unit_test(test_fit_unknown_nested_key),
		cmocka_unit_test(test_fit_type_change),
		cmocka_unit_test(test_fit_null_deletes_known_keys_only),
		cmocka_unit_test(test_fit_arrays_and_open_maps),
		cmocka_unit_test(test_fit_empty_patch_and_errors),
		cmocka_unit_test(test_fit_long_paths_stay_text),
		cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
