/*
 * Unit tests for api.c: routing, validation and the handlers, against a
 * real SQLite file.  The Git side is a table of folders standing in for the
 * writer's snapshot (the writer itself is exercised by the integration
 * tests against real Git servers).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cmocka.h>

#include "api.h"
#include "auth.h"
#include "http.h"
#include "store.h"
#include "tmpdir.h"

static const char dev_values[] = "# people's dev values\nreplicaCount: 1\nimage:\n  repository: nginx\n  tag: \"1.27\"\nfeature:\n  enabled: yes";

struct fake_git {
	int kicks;
};

static int fake_folder(void *ctx, const char *name, int *exists, int *managed, char **values_yaml, size_t *values_len)
{
	(void)ctx;
	*exists = *managed = 0;
	if (values_yaml)
		*values_yaml = NULL;
	if (strcmp(name, "dev") == 0 || strcmp(name, "prod") == 0) {
		*exists = 1;
		if (values_yaml) {
			*values_yaml = strdup(dev_values);
			*values_len = strlen(dev_values);
		}
	}
	if (strcmp(name, "notes") == 0) /* a people's folder without values.yaml */
		*exists = 1;
	return 0;
}

static void fake_kick(void *ctx)
{
	((struct fake_git *)ctx)->kicks++;
}

struct fixture {
	char dir[64];
	struct pv_config cfg;
	struct fake_git git;
	struct pv_api *api;
	struct pv_store *st;
};

static int setup_rate(void **state, long long rate, long long burst)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct pv_api_git g = { .folder = fake_folder, .kick = fake_kick };
	char path[128];
	struct pv_store_settings db = { .path = path };
	static char *reserved[] = { "staging" };

	if (pv_test_mkdtemp(f->dir, sizeof(f->dir), "api") < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/t.db", f->dir);
	if (pv_store_open(&f->st, &db) < 0)
		return -1;
	f->cfg.domain = "env.my";
	f->cfg.env_dir = "env";
	f->cfg.base_env = "dev";
	f->cfg.default_ttl = 8 * 3600;
	f->cfg.max_ttl = 7 * 86400;
	f->cfg.min_ttl = 60;
	f->cfg.wait_ms = 5000;
	f->cfg.max_values_bytes = 65536;
	f->cfg.reserved = reserved;
	f->cfg.reserved_count = 1;
	f->cfg.create_rate = rate;
	f->cfg.create_burst = burst;
	g.ctx = &f->git;
	if (pv_api_new(&f->api, &f->cfg, &db, &g) < 0)
		return -1;
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_rate(state, 0, 0);
}

/* PREVIEWD_CREATE_RATE on: a burst of two */
static int setup_rated(void **state)
{
	return setup_rate(state, 60, 2);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	pv_api_free(f->api);
	pv_store_free(f->st);
	if (pv_test_rmtree(f->dir) < 0)
		return -1;
	free(f);
	return 0;
}

#define JSON "application/json"

static const char *no_query(void *ctx, const char *key)
{
	(void)ctx;
	(void)key;
	return NULL;
}

/* query string "k=v&k2=v2" (no escaping needed in these tests) */
static const char *simple_query(void *ctx, const char *key)
{
	/* a few lookups may be alive at once: each gets its own buffer */
	static char bufs[8][256];
	static unsigned next;
	char *buf = bufs[next++ % 8];
	const char *q = ctx;
	size_t klen = strlen(key);

	while (q && *q) {
		const char *amp = strchr(q, '&');
		size_t len = amp ? (size_t)(amp - q) : strlen(q);
		if (len > klen && strncmp(q, key, klen) == 0 && q[klen] == '=') {
			snprintf(buf, sizeof(bufs[0]), "%.*s", (int)(len - klen - 1), q + klen + 1);
			return buf;
		}
		q = amp ? amp + 1 : NULL;
	}
	return NULL;
}

static void call(struct fixture *f, struct pv_response *resp, const char *method, const char *path,
	const char *query, const char *ctype, const char *body)
{
	struct pv_request req = {
		.method = method,
		.path = path,
		.query = query ? simple_query : no_query,
		.query_ctx = (void *)query,
		.content_type = ctype,
		.body = body ? body : "",
		.body_len = body ? strlen(body) : 0,
		.remote_addr = "127.0.0.1",
	};
	pv_api_handle(f->api, &req, resp);
}

static void call_as(struct fixture *f, struct pv_response *resp, const char *method, const char *path,
	const char *body, const char *authorization, const char *key)
{
	struct pv_request req = {
		.method = method,
		.path = path,
		.query = no_query,
		.content_type = body ? JSON : NULL,
		.body = body ? body : "",
		.body_len = body ? strlen(body) : 0,
		.authorization = authorization,
		.idempotency_key = key,
		.remote_addr = "10.1.2.3",
	};
	pv_api_handle(f->api, &req, resp);
}

static void expect_problem(struct fixture *f, const char *method, const char *path, const char *ctype,
	const char *body, int status, const char *field)
{
	struct pv_response r;

	call(f, &r, method, path, NULL, ctype, body);
	if (r.status != status)
		print_error("%s %s %s -> %d (%s)\n", method, path, body ? body : "", r.status,
			json_string_value(json_object_get(r.body, "detail")));
	assert_int_equal(r.status, status);
	assert_true(r.problem);
	assert_int_equal(json_integer_value(json_object_get(r.body, "status")), status);
	assert_non_null(json_string_value(json_object_get(r.body, "type")));
	assert_non_null(json_string_value(json_object_get(r.body, "title")));
	assert_non_null(json_string_value(json_object_get(r.body, "detail")));
	if (field)
		assert_string_equal(json_string_value(json_object_get(r.body, "field")), field);
	assert_int_equal(r.wait, PV_WAIT_NONE);
	pv_response_dispose(&r);
}

static void routing(void **state)
{
	struct fixture *f = *state;
	struct pv_response r;

	call(f, &r, "GET", "/healthz", NULL, NULL, NULL);
	assert_int_equal(r.status, 200);
	assert_string_equal(json_string_value(json_object_get(r.body, "status")), "ok");
	pv_response_dispose(&r);

	expect_problem(f, "GET", "/nope", NULL, NULL, 404, NULL);
	expect_problem(f, "GET", "/v1/environments/", NULL, NULL, 404, NULL);
	expect_problem(f, "GET", "/v1/environments/../etc", NULL, NULL, 404, NULL);
	expect_problem(f, "GET", "/v1/environments/a/b", NULL, NULL, 404, NULL);
	expect_problem(f, "GET", "/v1/environments/.git", NULL, NULL, 404, NULL);
	expect_problem(f, "PUT", "/v1/environments", JSON, "{}", 405, NULL);
	/* invalid UTF-8 echoed from the path must not cost the problem its detail */
	expect_problem(f, "DELETE", "/v1/environments/\xf6\xae\r.f", NULL, NULL, 404, NULL);

	call(f, &r, "POST", "/healthz", NULL, NULL, NULL);
	assert_int_equal(r.status, 405);
	assert_string_equal(r.allow, "GET, HEAD");
	pv_response_dispose(&r);
}

static void create_validation(void **state)
{
	struct fixture *f = *state;
	const char *p = "/v1/environments";

	expect_problem(f, "POST", p, "text/plain", "{\"owner\":\"alice\"}", 415, NULL);
	expect_problem(f, "POST", p, NULL, "{\"owner\":\"alice\"}", 415, NULL);
	expect_problem(f, "POST", p, JSON, "{\"owner\":", 400, NULL);
	expect_problem(f, "POST", p, JSON, "[1,2]", 400, NULL);
	expect_problem(f, "POST", p, JSON, "", 400, NULL);
	expect_problem(f, "POST", p, JSON, "{\"owner\":\"a\",\"owner\":\"b\"}", 400, NULL);
	expect_problem(f, "POST", p, JSON, "{}", 422, "owner");
	expect_problem(f, "POST", p, JSON, "{\"owner\":42}", 422, "owner");
	expect_problem(f, "POST", p, JSON, "{\"owner\":\"Alice\"}", 422, "owner");
	expect_problem(f, "POST", p, JSON, "{\"owner\":\"alice\",\"name\":\"../x\"}", 422, "name");
	expect_problem(f, "POST", p, JSON, "{\"owner\":\"alice\",\"name\":\"a/b\"}", 422, "name");
	expect_problem(f, "POST", p, JSON, "{\"owner\":\"alice\",\"name\":\"kube-system\"}", 422, "name");
	expect_problem(f, "POST", p, JSON, "{\"owner\":\"default\"}", 422, "name");
	expect_problem(f, "POST", p, JSON, "{\"owner\":\"alice\",\"name\":\"staging\"}", 422, "name");
	expect_problem(f, "POST", p, JSON, "{\"owner\":\"alice\",\"nmae\":\"x\"}", 422, "nmae");
	expect_problem(f, "POST", p, JSON, "{\"owner\":\"alice\",\"ttl\":\"8x\"}", 422, "ttl");
	expect_problem(f, "POST", p, JSON, "{\"owner\":\"alice\",\"ttl\":\"8d\"}", 422, "ttl");
	expect_problem(f, "POST", p, JSON, "{\"owner\":\"alice\",\"ttl\":10}", 422, "ttl");
	expect_problem(f, "POST", p, JSON, "{\"owner\":\"alice\",\"ttl\":true}", 422, "ttl");
	expect_problem(f, "POST", p, JSON, "{\"owner\":\"alice\",\"values\":[1]}", 422, "values");
	expect_problem(f, "POST", p, JSON, "{\"owner\":\"alice\",\"base\":\"nope\"}", 422, "base");
	expect_problem(f, "POST", p, JSON, "{\"owner\":\"alice\",\"base\":\"notes\"}", 422, "base");
	/* people's folders are never touched */
	expect_problem(f, "POST", p, JSON, "{\"owner\":\"prod\"}", 409, "name");
	expect_problem(f, "POST", p, JSON, "{\"owner\":\"alice\",\"name\":\"dev\"}", 409, "name");
	assert_int_equal(f->git.kicks, 0);
}

static void create_get_list(void **state)
{
	struct fixture *f = *state;
	struct pv_response r;
	json_t *values;
	time_t now = time(NULL);

	call(f, &r, "POST", "/v1/environments", NULL, JSON,
		"{\"owner\":\"alice\",\"ttl\":\"2h\",\"values\":{\"image\":{\"tag\":\"pr-7\"},\"feature\":null}}");
	assert_int_equal(r.status, 202);
	assert_int_equal(r.wait, PV_WAIT_CREATE);
	assert_int_equal(r.wait_gen, 1);
	assert_int_equal(r.wait_ms, 5000);
	assert_string_equal(r.location, "/v1/environments/alice");
	assert_string_equal(json_string_value(json_object_get(r.body, "status")), "pending");
	assert_string_equal(json_string_value(json_object_get(r.body, "url")), "http://alice.env.my");
	assert_string_equal(json_string_value(json_object_get(r.body, "namespace")), "alice");
	/* no tokens: open mode, loopback only, the requester is anonymous */
	assert_string_equal(json_string_value(json_object_get(r.body, "requested_by")), "anonymous");
	values = json_object_get(r.body, "values");
	/* base from dev, deep-merged, null removes */
	assert_int_equal(json_integer_value(json_object_get(values, "replicaCount")), 1);
	assert_string_equal(json_string_value(json_object_get(json_object_get(values, "image"), "repository")), "nginx");
	assert_string_equal(json_string_value(json_object_get(json_object_get(values, "image"), "tag")), "pr-7");
	assert_null(json_object_get(values, "feature"));
	assert_true(json_is_true(json_object_get(json_object_get(r.body, "git"), "pending")));
	assert_string_equal(json_string_value(json_object_get(json_object_get(r.body, "git"), "path")), "env/alice");
	assert_int_equal(f->git.kicks, 1);
	{
		json_int_t ttl = json_integer_value(json_object_get(r.body, "ttl_seconds"));
		assert_true(ttl > 7190 && ttl <= 7200);
	}
	(void)now;
	/* not pushed yet: finish keeps 202 */
	pv_api_finish(f->api, &r);
	assert_int_equal(r.status, 202);
	assert_false(pv_api_wait_done(f->api, &r));
	/* the writer pushes it: 201 */
	assert_int_equal(pv_store_begin(f->st), 0);
	assert_int_equal(pv_store_mark_pushed(f->st, r.wait_id, 1, "0123456789abcdef0123456789abcdef01234567", (int64_t)now), 0);
	assert_int_equal(pv_store_commit(f->st), 0);
	assert_true(pv_api_wait_done(f->api, &r));
	pv_api_finish(f->api, &r);
	assert_int_equal(r.status, 201);
	assert_string_equal(json_string_value(json_object_get(r.body, "status")), "active");
	assert_string_equal(json_string_value(json_object_get(json_object_get(r.body, "git"), "commit")),
		"0123456789abcdef0123456789abcdef01234567");
	pv_response_dispose(&r);

	/* the same name again */
	expect_problem(f, "POST", "/v1/environments", JSON, "{\"owner\":\"alice\"}", 409, "name");
	/* a second env for the same owner, from alice's values */
	call(f, &r, "POST", "/v1/environments", NULL, JSON, "{\"owner\":\"alice\",\"name\":\"alice-2\",\"base\":\"alice\"}");
	assert_int_equal(r.status, 202);
	assert_string_equal(json_string_value(json_object_get(json_object_get(json_object_get(r.body, "values"), "image"), "tag")), "pr-7");
	pv_response_dispose(&r);
	call(f, &r, "POST", "/v1/environments", NULL, JSON, "{\"owner\":\"bob\",\"ttl\":3600}");
	assert_int_equal(r.status, 202);
	pv_response_dispose(&r);

	call(f, &r, "GET", "/v1/environments/alice", NULL, NULL, NULL);
	assert_int_equal(r.status, 200);
	assert_string_equal(json_string_value(json_object_get(r.body, "owner")), "alice");
	pv_response_dispose(&r);
	expect_problem(f, "GET", "/v1/environments/carol", NULL, NULL, 404, NULL);

	call(f, &r, "GET", "/v1/environments", "owner=alice", NULL, NULL);
	assert_int_equal(r.status, 200);
	assert_int_equal(json_array_size(json_object_get(r.body, "items")), 2);
	assert_true(json_is_null(json_object_get(r.body, "next_cursor")));
	pv_response_dispose(&r);
	call(f, &r, "GET", "/v1/environments", "status=active", NULL, NULL);
	assert_int_equal(json_array_size(json_object_get(r.body, "items")), 1);
	pv_response_dispose(&r);
	call(f, &r, "GET", "/v1/environments", "limit=2", NULL, NULL);
	assert_int_equal(json_array_size(json_object_get(r.body, "items")), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(r.body, "items"), 0), "name")), "bob");
	{
		char q[64];
		snprintf(q, sizeof(q), "limit=2&cursor=%s", json_string_value(json_object_get(r.body, "next_cursor")));
		pv_response_dispose(&r);
		call(f, &r, "GET", "/v1/environments", q, NULL, NULL);
		assert_int_equal(json_array_size(json_object_get(r.body, "items")), 1);
		assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(r.body, "items"), 0), "name")), "alice");
		pv_response_dispose(&r);
	}
	call(f, &r, "GET", "/v1/environments", "status=napping", NULL, NULL);
	assert_int_equal(r.status, 422);
	assert_string_equal(json_string_value(json_object_get(r.body, "field")), "status");
	pv_response_dispose(&r);
	call(f, &r, "GET", "/v1/environments", "limit=0", NULL, NULL);
	assert_int_equal(r.status, 422);
	pv_response_dispose(&r);
	call(f, &r, "GET", "/v1/environments", "cursor=abc", NULL, NULL);
	assert_int_equal(r.status, 422);
	pv_response_dispose(&r);
}

static void patch_and_delete(void **state)
{
	struct fixture *f = *state;
	struct pv_response r;
	const char *exp1, *exp2;
	char first_expiry[32];

	call(f, &r, "POST", "/v1/environments", NULL, JSON, "{\"owner\":\"erin\",\"ttl\":\"1h\"}");
	assert_int_equal(r.status, 202);
	exp1 = json_string_value(json_object_get(r.body, "expires_at"));
	snprintf(first_expiry, sizeof(first_expiry), "%s", exp1);
	pv_response_dispose(&r);

	expect_problem(f, "PATCH", "/v1/environments/erin", JSON, "{}", 422, "ttl");
	expect_problem(f, "PATCH", "/v1/environments/erin", JSON, "{\"owner\":\"x\"}", 422, "owner");
	expect_problem(f, "PATCH", "/v1/environments/erin", JSON, "{\"ttl\":\"30d\"}", 422, "ttl");
	expect_problem(f, "PATCH", "/v1/environments/erin", JSON, "{\"values\":\"x\"}", 422, "values");
	expect_problem(f, "PATCH", "/v1/environments/nobody", JSON, "{\"ttl\":\"1h\"}", 404, NULL);

	call(f, &r, "PATCH", "/v1/environments/erin", NULL, JSON, "{\"ttl\":\"3d\"}");
	assert_int_equal(r.status, 202);
	assert_int_equal(r.wait, PV_WAIT_UPDATE);
	assert_int_equal(r.wait_gen, 2);
	exp2 = json_string_value(json_object_get(r.body, "expires_at"));
	assert_true(strcmp(exp2, first_expiry) > 0);
	pv_response_dispose(&r);

	call(f, &r, "PATCH", "/v1/environments/erin", NULL, "application/merge-patch+json",
		"{\"values\":{\"replicaCount\":3,\"image\":{\"tag\":null},\"extra\":{\"a\":\"yes\"}}}");
	assert_int_equal(r.status, 202);
	{
		json_t *v = json_object_get(r.body, "values");
		assert_int_equal(json_integer_value(json_object_get(v, "replicaCount")), 3);
		assert_null(json_object_get(json_object_get(v, "image"), "tag"));
		assert_string_equal(json_string_value(json_object_get(json_object_get(v, "image"), "repository")), "nginx");
		assert_string_equal(json_string_value(json_object_get(json_object_get(v, "extra"), "a")), "yes");
	}
	pv_response_dispose(&r);

	call(f, &r, "DELETE", "/v1/environments/erin", NULL, NULL, NULL);
	assert_int_equal(r.status, 202);
	assert_int_equal(r.wait, PV_WAIT_DELETE);
	assert_string_equal(json_string_value(json_object_get(r.body, "status")), "deleting");
	{
		int64_t id = r.wait_id, gen = r.wait_gen;
		pv_response_dispose(&r);
		/* deleting again waits for the same push */
		call(f, &r, "DELETE", "/v1/environments/erin", NULL, NULL, NULL);
		assert_int_equal(r.status, 202);
		assert_int_equal(r.wait_gen, gen);
		expect_problem(f, "PATCH", "/v1/environments/erin", JSON, "{\"ttl\":\"1h\"}", 409, NULL);
		assert_int_equal(pv_store_begin(f->st), 0);
		assert_int_equal(pv_store_mark_pushed(f->st, id, gen, "abc", (int64_t)time(NULL)), 0);
		assert_int_equal(pv_store_commit(f->st), 0);
		pv_api_finish(f->api, &r);
		assert_int_equal(r.status, 200);
		assert_string_equal(json_string_value(json_object_get(r.body, "status")), "deleted");
		pv_response_dispose(&r);
	}
	expect_problem(f, "DELETE", "/v1/environments/erin", NULL, NULL, 404, NULL);
	/* the record stays for history */
	call(f, &r, "GET", "/v1/environments/erin", NULL, NULL, NULL);
	assert_int_equal(r.status, 200);
	assert_string_equal(json_string_value(json_object_get(r.body, "status")), "deleted");
	assert_false(json_is_null(json_object_get(r.body, "deleted_at")));
	pv_response_dispose(&r);
}

static void prefer_header(void **state)
{
	struct fixture *f = *state;
	struct pv_response r;
	struct pv_request req = {
		.method = "POST", .path = "/v1/environments", .query = no_query, .content_type = JSON,
		.body = "{\"owner\":\"frank\"}", .body_len = strlen("{\"owner\":\"frank\"}"),
		.prefer = "respond-async", .remote_addr = "127.0.0.1",
	};

	pv_api_handle(f->api, &req, &r);
	assert_int_equal(r.status, 202);
	assert_int_equal(r.wait_ms, 0);
	pv_response_dispose(&r);
	req.body = "{\"owner\":\"grace\"}";
	req.body_len = strlen(req.body);
	req.prefer = "wait=2";
	pv_api_handle(f->api, &req, &r);
	assert_int_equal(r.wait_ms, 2000);
	pv_response_dispose(&r);
}

static void values_limits(void **state)
{
	struct fixture *f = *state;
	char body[4096];
	size_t n = 0;

	/* 40 levels of nesting */
	n += (size_t)snprintf(body + n, sizeof(body) - n, "{\"owner\":\"heidi\",\"values\":");
	for (int i = 0; i < 40; i++)
		n += (size_t)snprintf(body + n, sizeof(body) - n, "{\"a\":");
	n += (size_t)snprintf(body + n, sizeof(body) - n, "1");
	for (int i = 0; i < 41; i++)
		n += (size_t)snprintf(body + n, sizeof(body) - n, "}");
	expect_problem(f, "POST", "/v1/environments", JSON, body, 422, "values");

	/* rendered values over max_values_bytes */
	f->cfg.max_values_bytes = 300;
	snprintf(body, sizeof(body), "{\"owner\":\"heidi\",\"values\":{\"big\":\"%0400d\"}}", 7);
	expect_problem(f, "POST", "/v1/environments", JSON, body, 422, "values");
}

/* GET /v1/whoami names the caller and its role; the page's files are served
 * by name with their Content-Type, and nothing else outside /v1 is. */
static void whoami_and_page(void **state)
{
	struct fixture *f = *state;
	struct pv_response r;
	char reader[160], hdr[200];

	call(f, &r, "GET", "/v1/whoami", NULL, NULL, NULL);
	assert_int_equal(r.status, 200);
	assert_string_equal(json_string_value(json_object_get(r.body, "name")), "anonymous");
	assert_string_equal(json_string_value(json_object_get(r.body, "role")), "admin");
	pv_response_dispose(&r);
	call(f, &r, "POST", "/v1/whoami", NULL, JSON, "{}");
	assert_int_equal(r.status, 405);
	pv_response_dispose(&r);

	assert_int_equal(pv_auth_token_create(f->st, "portal", "reader", reader, sizeof(reader)), 0);
	snprintf(hdr, sizeof(hdr), "Bearer %s", reader);
	call_as(f, &r, "GET", "/v1/whoami", NULL, hdr, NULL);
	assert_int_equal(r.status, 200);
	assert_string_equal(json_string_value(json_object_get(r.body, "name")), "portal");
	assert_string_equal(json_string_value(json_object_get(r.body, "role")), "reader");
	pv_response_dispose(&r);
	call_as(f, &r, "GET", "/v1/whoami", NULL, NULL, NULL);
	assert_int_equal(r.status, 401);
	pv_response_dispose(&r);

	/* the page stays open with tokens: its script asks for one */
	call(f, &r, "GET", "/", NULL, NULL, NULL);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.text_type, "text/html; charset=utf-8");
	assert_non_null(strstr(r.text, "<script src=\"/app.js\""));
	pv_response_dispose(&r);
	call(f, &r, "GET", "/app.js", NULL, NULL, NULL);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.text_type, "text/javascript; charset=utf-8");
	pv_response_dispose(&r);
	call(f, &r, "HEAD", "/style.css", NULL, NULL, NULL);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.text_type, "text/css; charset=utf-8");
	pv_response_dispose(&r);
	call(f, &r, "POST", "/app.js", NULL, JSON, "{}");
	assert_int_equal(r.status, 405);
	pv_response_dispose(&r);
	call(f, &r, "GET", "/index.html/x", NULL, NULL, NULL);
	assert_int_equal(r.status, 404);
	pv_response_dispose(&r);
	call(f, &r, "GET", "/nothing.js", NULL, NULL, NULL);
	assert_int_equal(r.status, 404);
	pv_response_dispose(&r);
}

static void auth_roles(void **state)
{
	struct fixture *f = *state;
	struct pv_response r;
	char reader[160], writer[160], hdr_r[200], hdr_w[200], bad[200];

	/* open mode refuses clients that are not on loopback */
	call_as(f, &r, "GET", "/v1/environments", NULL, NULL, NULL);
	assert_int_equal(r.status, 401);
	assert_true(r.problem);
	pv_response_dispose(&r);

	assert_int_equal(pv_auth_token_create(f->st, "portal", "reader", reader, sizeof(reader)), 0);
	assert_int_equal(pv_auth_token_create(f->st, "chatbot", "writer", writer, sizeof(writer)), 0);
	assert_int_equal(pv_auth_token_create(f->st, "chatbot", "writer", bad, sizeof(bad)), PV_ECONFLICT);
	assert_int_equal(pv_auth_token_create(f->st, "x", "root", bad, sizeof(bad)), PV_EINVAL);
	assert_int_equal(strncmp(reader, "pvd_", 4), 0);
	snprintf(hdr_r, sizeof(hdr_r), "Bearer %s", reader);
	snprintf(hdr_w, sizeof(hdr_w), "Bearer %s", writer);

	/* with tokens, even loopback needs one */
	call(f, &r, "GET", "/v1/environments", NULL, NULL, NULL);
	assert_int_equal(r.status, 401);
	pv_response_dispose(&r);
	/* health stays open */
	call(f, &r, "GET", "/healthz", NULL, NULL, NULL);
	assert_int_equal(r.status, 200);
	pv_response_dispose(&r);

	call_as(f, &r, "GET", "/v1/environments", NULL, hdr_r, NULL);
	assert_int_equal(r.status, 200);
	pv_response_dispose(&r);
	call_as(f, &r, "POST", "/v1/environments", "{\"owner\":\"zoe\"}", hdr_r, NULL);
	assert_int_equal(r.status, 403);
	pv_response_dispose(&r);
	call_as(f, &r, "POST", "/v1/environments", "{\"owner\":\"zoe\"}", hdr_w, NULL);
	assert_int_equal(r.status, 202);
	assert_string_equal(json_string_value(json_object_get(r.body, "requested_by")), "chatbot");
	pv_response_dispose(&r);

	/* a token with one character changed, a malformed one, another scheme */
	snprintf(bad, sizeof(bad), "Bearer %s", writer);
	bad[strlen(bad) - 1] = bad[strlen(bad) - 1] == 'a' ? 'b' : 'a';
	call_as(f, &r, "GET", "/v1/environments", NULL, bad, NULL);
	assert_int_equal(r.status, 401);
	pv_response_dispose(&r);
	call_as(f, &r, "GET", "/v1/environments", NULL, "Bearer pvd_nope", NULL);
	assert_int_equal(r.status, 401);
	pv_response_dispose(&r);
	call_as(f, &r, "GET", "/v1/environments", NULL, "Basic dXNlcjpwYXNz", NULL);
	assert_int_equal(r.status, 401);
	pv_response_dispose(&r);

	/* revoked */
	assert_int_equal(pv_store_token_revoke(f->st, "portal", 1), 0);
	call_as(f, &r, "GET", "/v1/environments", NULL, hdr_r, NULL);
	assert_int_equal(r.status, 401);
	pv_response_dispose(&r);
	/* revoking every token does not reopen the API, not even to loopback */
	assert_int_equal(pv_store_token_revoke(f->st, "chatbot", 2), 0);
	call(f, &r, "GET", "/v1/environments", NULL, NULL, NULL);
	assert_int_equal(r.status, 401);
	pv_response_dispose(&r);
	/* the token itself is not stored */
	{
		struct pv_token t;
		char lookup[9];
		memcpy(lookup, writer + 4, 8);
		lookup[8] = '\0';
		assert_int_equal(pv_store_token_find(f->st, lookup, &t), 0);
		assert_null(strstr(writer, t.hash));
		assert_int_equal(strlen(t.hash), 64);
	}
}

static void idempotency(void **state)
{
	struct fixture *f = *state;
	struct pv_response first, again, other;
	char writer[160], hdr[200];
	int64_t id;

	assert_int_equal(pv_auth_token_create(f->st, "bot", "writer", writer, sizeof(writer)), 0);
	snprintf(hdr, sizeof(hdr), "Bearer %s", writer);

	call_as(f, &first, "POST", "/v1/environments", "{\"owner\":\"ivy\"}", hdr, "k-1");
	assert_int_equal(first.status, 202);
	id = first.wait_id;
	/* a duplicate while the first is still being answered */
	call_as(f, &again, "POST", "/v1/environments", "{\"owner\":\"ivy\"}", hdr, "k-1");
	assert_int_equal(again.status, 409);
	pv_response_dispose(&again);
	pv_api_release(f->api, &first);
	pv_response_dispose(&first);

	/* the retry gets the stored answer: the same environment, not a 409 */
	call_as(f, &again, "POST", "/v1/environments", "{\"owner\":\"ivy\"}", hdr, "k-1");
	assert_int_equal(again.status, 202);
	assert_true(again.replayed);
	assert_int_equal(again.wait_id, id);
	assert_string_equal(again.location, "/v1/environments/ivy");
	pv_api_finish(f->api, &again);
	assert_int_equal(again.status, 202);
	pv_api_release(f->api, &again);
	pv_response_dispose(&again);

	/* the same key with another body */
	call_as(f, &other, "POST", "/v1/environments", "{\"owner\":\"ivy\",\"ttl\":\"1h\"}", hdr, "k-1");
	assert_int_equal(other.status, 422);
	assert_string_equal(json_string_value(json_object_get(other.body, "field")), "Idempotency-Key");
	pv_api_release(f->api, &other);
	pv_response_dispose(&other);

	/* a failed request's answer is stored too */
	call_as(f, &other, "POST", "/v1/environments", "{\"owner\":\"Bad\"}", hdr, "k-2");
	assert_int_equal(other.status, 422);
	pv_api_release(f->api, &other);
	pv_response_dispose(&other);
	call_as(f, &other, "POST", "/v1/environments", "{\"owner\":\"Bad\"}", hdr, "k-2");
	assert_int_equal(other.status, 422);
	assert_true(other.replayed);
	pv_api_release(f->api, &other);
	pv_response_dispose(&other);

	/* keys are per token: nothing else; a bad key is 400 */
	call_as(f, &other, "DELETE", "/v1/environments/ivy", NULL, hdr, "bad key with spaces");
	assert_int_equal(other.status, 400);
	pv_response_dispose(&other);
	call_as(f, &other, "DELETE", "/v1/environments/ivy", NULL, hdr, "d-1");
	assert_int_equal(other.status, 202);
	pv_api_release(f->api, &other);
	pv_response_dispose(&other);
	call_as(f, &other, "DELETE", "/v1/environments/ivy", NULL, hdr, "d-1");
	assert_int_equal(other.status, 202);
	assert_true(other.replayed);
	pv_api_release(f->api, &other);
	pv_response_dispose(&other);
}

static void cluster_field(void **state)
{
	struct fixture *f = *state;
	struct pv_response r;

	call(f, &r, "POST", "/v1/environments", NULL, JSON, "{\"owner\":\"cl\",\"cluster\":\"edge-1\"}");
	assert_int_equal(r.status, 202);
	assert_string_equal(json_string_value(json_object_get(r.body, "cluster")), "edge-1");
	pv_response_dispose(&r);
	call(f, &r, "POST", "/v1/environments", NULL, JSON, "{\"owner\":\"cm\"}");
	assert_true(json_is_null(json_object_get(r.body, "cluster")));
	pv_response_dispose(&r);
	expect_problem(f, "POST", "/v1/environments", JSON, "{\"owner\":\"cn\",\"cluster\":\"../x\"}", 422, "cluster");
	expect_problem(f, "POST", "/v1/environments", JSON, "{\"owner\":\"cn\",\"cluster\":\"A b\"}", 422, "cluster");
}

static void cluster_patch(void **state)
{
	struct fixture *f = *state;
	struct pv_response r;

	call(f, &r, "POST", "/v1/environments", NULL, JSON, "{\"owner\":\"mv\"}");
	assert_int_equal(r.status, 202);
	pv_response_dispose(&r);
	call(f, &r, "PATCH", "/v1/environments/mv", NULL, JSON, "{\"cluster\":\"edge-2\"}");
	assert_int_equal(r.status, 202);
	assert_string_equal(json_string_value(json_object_get(r.body, "cluster")), "edge-2");
	pv_response_dispose(&r);
	expect_problem(f, "PATCH", "/v1/environments/mv", JSON, "{\"cluster\":\"../x\"}", 422, "cluster");
	expect_problem(f, "PATCH", "/v1/environments/mv", JSON, "{\"cluster\":true}", 422, "cluster");
	expect_problem(f, "PATCH", "/v1/environments/mv", JSON, "{\"namespace\":\"x\"}", 422, "namespace");
}

static const char *yaml_accept(void *ctx, const char *name)
{
	return strcasecmp(name, "Accept") == 0 ? ctx : NULL;
}

static void bases(void **state)
{
	struct fixture *f = *state;
	struct pv_response r;
	struct pv_request req = { .method = "GET", .path = "/v1/bases/dev", .query = no_query,
		.remote_addr = "127.0.0.1", .header = yaml_accept, .header_ctx = (void *)"application/yaml" };
	json_t *values;

	call(f, &r, "GET", "/v1/bases/dev", NULL, NULL, NULL);
	assert_int_equal(r.status, 200);
	assert_string_equal(json_string_value(json_object_get(r.body, "source")), "folder");
	assert_string_equal(json_string_value(json_object_get(r.body, "path")), "env/dev/values.yaml");
	values = json_object_get(r.body, "values");
	assert_string_equal(json_string_value(json_object_get(json_object_get(values, "image"), "tag")), "1.27");
	assert_true(json_is_true(json_object_get(json_object_get(values, "feature"), "enabled")));
	pv_response_dispose(&r);
	/* the file as people wrote it, comments and all */
	pv_api_handle(f->api, &req, &r);
	assert_int_equal(r.status, 200);
	assert_null(r.body);
	assert_string_equal(r.text, dev_values);
	assert_non_null(strstr(r.text_type, "application/yaml"));
	pv_response_dispose(&r);
	/* a live environment is a base too */
	call(f, &r, "POST", "/v1/environments", NULL, JSON, "{\"owner\":\"bs\",\"values\":{\"replicaCount\":4}}");
	assert_int_equal(r.status, 202);
	pv_response_dispose(&r);
	call(f, &r, "GET", "/v1/bases/bs", NULL, NULL, NULL);
	assert_int_equal(r.status, 200);
	assert_string_equal(json_string_value(json_object_get(r.body, "source")), "environment");
	assert_true(json_is_null(json_object_get(r.body, "path")));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r.body, "values"), "replicaCount")), 4);
	pv_response_dispose(&r);
	req.path = "/v1/bases/bs";
	pv_api_handle(f->api, &req, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.text, "replicaCount: 4"));
	pv_response_dispose(&r);
	/* neither: 404, and so is what cannot be a name */
	expect_problem(f, "GET", "/v1/bases/notes", NULL, NULL, 404, NULL);
	expect_problem(f, "GET", "/v1/bases/nope", NULL, NULL, 404, NULL);
	expect_problem(f, "GET", "/v1/bases/..", NULL, NULL, 404, NULL);
	expect_problem(f, "GET", "/v1/bases/", NULL, NULL, 404, NULL);
	expect_problem(f, "DELETE", "/v1/bases/dev", NULL, NULL, 405, NULL);
	call(f, &r, "GET", "/v1/bases", NULL, NULL, NULL);
	assert_int_equal(r.status, 200);
	assert_string_equal(json_string_value(json_object_get(r.body, "default")), "dev");
	assert_true(json_is_array(json_object_get(r.body, "items")));
	pv_response_dispose(&r);
}

static void quotas(void **state)
{
	struct fixture *f = *state;
	struct pv_response r;

	f->cfg.max_envs_per_owner = 2;
	f->cfg.max_envs = 3;
	call(f, &r, "POST", "/v1/environments", NULL, JSON, "{\"owner\":\"jo\"}");
	assert_int_equal(r.status, 202);
	pv_response_dispose(&r);
	call(f, &r, "POST", "/v1/environments", NULL, JSON, "{\"owner\":\"jo\",\"name\":\"jo-2\"}");
	assert_int_equal(r.status, 202);
	pv_response_dispose(&r);
	call(f, &r, "POST", "/v1/environments", NULL, JSON, "{\"owner\":\"jo\",\"name\":\"jo-3\"}");
	assert_int_equal(r.status, 429);
	assert_string_equal(json_string_value(json_object_get(r.body, "field")), "owner");
	assert_non_null(strstr(json_string_value(json_object_get(r.body, "detail")), "PREVIEWD_MAX_ENVS_PER_OWNER"));
	pv_response_dispose(&r);
	call(f, &r, "POST", "/v1/environments", NULL, JSON, "{\"owner\":\"kim\"}");
	assert_int_equal(r.status, 202);
	pv_response_dispose(&r);
	call(f, &r, "POST", "/v1/environments", NULL, JSON, "{\"owner\":\"lee\"}");
	assert_int_equal(r.status, 429);
	assert_non_null(strstr(json_string_value(json_object_get(r.body, "detail")), "PREVIEWD_MAX_ENVS"));
	pv_response_dispose(&r);
	/* deleting frees a place */
	call(f, &r, "DELETE", "/v1/environments/kim", NULL, NULL, NULL);
	pv_response_dispose(&r);
	call(f, &r, "POST", "/v1/environments", NULL, JSON, "{\"owner\":\"lee\"}");
	assert_int_equal(r.status, 429); /* deleting still counts until it is gone from Git */
	pv_response_dispose(&r);
}

/* PREVIEWD_CREATE_RATE: a bucket per token; the refusal says which limit
 * and when to come back; a replayed Idempotency-Key takes no token. */
static void create_rate(void **state)
{
	struct fixture *f = *state;
	struct pv_response r;
	char bot[160], ci[160], hbot[200], hci[200];
	const char *type;

	assert_int_equal(pv_auth_token_create(f->st, "bot", "writer", bot, sizeof(bot)), 0);
	assert_int_equal(pv_auth_token_create(f->st, "ci", "writer", ci, sizeof(ci)), 0);
	snprintf(hbot, sizeof(hbot), "Bearer %s", bot);
	snprintf(hci, sizeof(hci), "Bearer %s", ci);

	call_as(f, &r, "POST", "/v1/environments", "{\"owner\":\"ra\"}", hbot, "rk-1");
	assert_int_equal(r.status, 202);
	pv_api_release(f->api, &r);
	pv_response_dispose(&r);
	/* the retry is answered from the key: no token */
	call_as(f, &r, "POST", "/v1/environments", "{\"owner\":\"ra\"}", hbot, "rk-1");
	assert_int_equal(r.status, 202);
	assert_true(r.replayed);
	pv_api_release(f->api, &r);
	pv_response_dispose(&r);
	call_as(f, &r, "POST", "/v1/environments", "{\"owner\":\"rb\"}", hbot, NULL);
	assert_int_equal(r.status, 202);
	assert_int_equal(r.retry_after, 0);
	pv_response_dispose(&r);
	/* the burst of two is spent */
	call_as(f, &r, "POST", "/v1/environments", "{\"owner\":\"rc\"}", hbot, "rk-2");
	assert_int_equal(r.status, 429);
	assert_true(r.problem);
	type = json_string_value(json_object_get(r.body, "type"));
	assert_string_equal(type, "urn:previewd:problem:rate-limited");
	assert_non_null(strstr(json_string_value(json_object_get(r.body, "detail")), "PREVIEWD_CREATE_RATE"));
	assert_non_null(strstr(json_string_value(json_object_get(r.body, "detail")), "bot"));
	assert_int_equal(r.retry_after, 1);
	pv_api_release(f->api, &r);
	pv_response_dispose(&r);
	/* nothing was made, and the 429 is not stored under the key */
	call_as(f, &r, "GET", "/v1/environments/rc", NULL, hbot, NULL);
	assert_int_equal(r.status, 404);
	pv_response_dispose(&r);
	/* another token has its own bucket */
	call_as(f, &r, "POST", "/v1/environments", "{\"owner\":\"rc\"}", hci, "rk-2");
	assert_int_equal(r.status, 202);
	assert_false(r.replayed);
	pv_api_release(f->api, &r);
	pv_response_dispose(&r);
	/* reads and other writes are not limited */
	call_as(f, &r, "DELETE", "/v1/environments/rb", NULL, hbot, NULL);
	assert_int_equal(r.status, 202);
	pv_response_dispose(&r);
}

/* A page is small: values only when asked, fields to pick members, and a
 * limit above the cap is cut to it (the answer says so). */
static void list_shape(void **state)
{
	struct fixture *f = *state;
	struct pv_response r;
	json_t *item;

	for (int i = 0; i < 3; i++) {
		char body[96];
		snprintf(body, sizeof(body), "{\"owner\":\"ls-%d\",\"values\":{\"n\":%d}}", i, i);
		call(f, &r, "POST", "/v1/environments", NULL, JSON, body);
		assert_int_equal(r.status, 202);
		pv_response_dispose(&r);
	}
	call(f, &r, "GET", "/v1/environments", NULL, NULL, NULL);
	assert_int_equal(r.status, 200);
	assert_int_equal(json_integer_value(json_object_get(r.body, "limit")), 50);
	item = json_array_get(json_object_get(r.body, "items"), 0);
	assert_non_null(item);
	assert_null(json_object_get(item, "values"));
	assert_non_null(json_object_get(item, "url"));
	assert_non_null(json_object_get(item, "expires_at"));
	pv_response_dispose(&r);

	call(f, &r, "GET", "/v1/environments", "include=values", NULL, NULL);
	assert_int_equal(r.status, 200);
	item = json_array_get(json_object_get(r.body, "items"), 0);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(item, "values"), "n")), 2);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(item, "values"), "replicaCount")), 1);
	pv_response_dispose(&r);

	call(f, &r, "GET", "/v1/environments", "fields=name,values", NULL, NULL);
	assert_int_equal(r.status, 200);
	item = json_array_get(json_object_get(r.body, "items"), 0);
	assert_int_equal(json_object_size(item), 2);
	assert_string_equal(json_string_value(json_object_get(item, "name")), "ls-2");
	assert_non_null(json_object_get(item, "values"));
	pv_response_dispose(&r);

	call(f, &r, "GET", "/v1/environments", "fields=name&limit=1000", NULL, NULL);
	assert_int_equal(r.status, 200);
	assert_int_equal(json_integer_value(json_object_get(r.body, "limit")), 200);
	assert_int_equal(json_array_size(json_object_get(r.body, "items")), 3);
	item = json_array_get(json_object_get(r.body, "items"), 0);
	assert_int_equal(json_object_size(item), 1);
	pv_response_dispose(&r);

	call(f, &r, "GET", "/v1/environments", "include=secrets", NULL, NULL);
	assert_int_equal(r.status, 422);
	assert_string_equal(json_string_value(json_object_get(r.body, "field")), "include");
	pv_response_dispose(&r);
	call(f, &r, "GET", "/v1/environments", "fields=name,password", NULL, NULL);
	assert_int_equal(r.status, 422);
	assert_string_equal(json_string_value(json_object_get(r.body, "field")), "fields");
	pv_response_dispose(&r);
	call(f, &r, "GET", "/v1/environments", "fields=,", NULL, NULL);
	assert_int_equal(r.status, 422);
	pv_response_dispose(&r);
	call(f, &r, "GET", "/v1/environments", "limit=0", NULL, NULL);
	assert_int_equal(r.status, 422);
	pv_response_dispose(&r);
	/* one environment still has its values */
	call(f, &r, "GET", "/v1/environments/ls-1", NULL, NULL, NULL);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r.body, "values"), "n")), 1);
	pv_response_dispose(&r);
}

/* The request target as it arrived: what would decode to another path is
 * refused before any route sees it. */
static void target_checks(void **state)
{
	static const struct {
		const char *target;
		int code;
	} cases[] = {
		{ "/v1/environments/yamlx", 0 },
		{ "/v1/environments/yaml%78", 0 },
		{ "/v1/environments?owner=al%2Fice&limit=5", 0 }, /* a '/' in the query is no segment */
		{ "/v1/environments/a%2", 0 },                      /* not an escape: left as it is */
		{ "/v1/environments/a%0g", 0 },
		{ "/v1/environments/yamlx%00junk", PV_ENOTFOUND },
		{ "/v1/environments/deepx%00..%2Fprod", PV_ENOTFOUND },
		{ "/v1/environments/deepx%2Fevents", PV_ENOTFOUND },
		{ "/v1/environments/deepx%2fevents", PV_ENOTFOUND },
		{ "/v1/environments%2Fyamlx", PV_ENOTFOUND },
		{ "/healthz%00", PV_ENOTFOUND },
		{ "/v1/environments/x%2F?owner=a", PV_ENOTFOUND },
		{ "/v1/environments?owner=alice%00x", PV_EBADREQ },
		{ "/v1/environments/yamlx junk", PV_EBADREQ },
		{ "/v1/environments/yamlx\tjunk", PV_EBADREQ },
		{ "/v1/environments/yamlx\x7f", PV_EBADREQ },
		{ "/v1/environments?owner=a b", PV_EBADREQ },
	};
	char nul[] = "/v1/environments/yamlx\0junk";

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int code = pv_http_check_target(cases[i].target, strlen(cases[i].target));
		if (code != cases[i].code)
			print_error("%s -> %d\n", cases[i].target, code);
		assert_int_equal(code, cases[i].code);
		if (code < 0) {
			assert_int_equal(pv_error_last()->code, code);
			assert_true(pv_error_last()->message[0] != '\0');
		}
	}
	/* a raw NUL, when the length shows it */
	assert_int_equal(pv_http_check_target(nul, sizeof(nul) - 1), PV_EBADREQ);
	assert_int_equal(pv_http_check_target(nul, strlen(nul)), 0);
	/* an escape cut off by the end of the target is no escape */
	assert_int_equal(pv_http_check_target("/v1/environments/x%00", strlen("/v1/environments/x%0")), 0);
}

/* The environment at path as GET shows it, but for the ttl_seconds that
 * count down; the caller frees it. */
static char *env_snapshot(struct fixture *f, const char *path)
{
	struct pv_response r;
	char *text;

	call(f, &r, "GET", path, NULL, NULL, NULL);
	assert_int_equal(r.status, 200);
	json_object_del(r.body, "ttl_seconds");
	text = json_dumps(r.body, JSON_SORT_KEYS);
	assert_non_null(text);
	pv_response_dispose(&r);
	return text;
}

/* A decoded path that is not exactly a name reaches no environment on any
 * method, and changes none. */
static void bad_paths_touch_nothing(void **state)
{
	static const char *const paths[] = {
		"/v1/environments/yamlx%00junk", "/v1/environments/deepx%00..%2Fprod", "/v1/environments/yamlx/..",
		"/v1/environments/deepx/../prod", "/v1/environments/../environments/deepx", "/v1/environments/./yamlx",
		"/v1/environments/yamlx/", "/v1/environments//yamlx", "/v1/environments/Yamlx", "/v1/environments/deep_x",
		"/v1/environments/-yamlx", "/v1/environments/yamlx ", "/v1/environments/yamlx/events/..",
		"/v1/environments/yamlx/events/", "/v1/environments/yamlx%2Fevents", "/v1/environments/yamlx\xc3\xa9",
	};
	static const char *const methods[] = { "GET", "PATCH", "DELETE" };
	static const char *const creates[2] = { "{\"owner\":\"alice\",\"name\":\"yamlx\"}",
		"{\"owner\":\"bob\",\"name\":\"deepx\"}" };
	static const char *const names[2] = { "/v1/environments/yamlx", "/v1/environments/deepx" };
	struct fixture *f = *state;
	struct pv_response r;
	char *before[2];

	for (int i = 0; i < 2; i++) {
		call(f, &r, "POST", "/v1/environments", NULL, JSON, creates[i]);
		assert_int_equal(r.status, 202);
		pv_response_dispose(&r);
		before[i] = env_snapshot(f, names[i]);
	}
	for (size_t p = 0; p < sizeof(paths) / sizeof(paths[0]); p++)
		for (size_t m = 0; m < 3; m++)
			expect_problem(f, methods[m], paths[p], JSON, "{\"ttl\":\"1h\",\"values\":{\"x\":1}}", 404, NULL);
	for (int i = 0; i < 2; i++) {
		char *after = env_snapshot(f, names[i]);
		assert_string_equal(after, before[i]);
		free(after);
		free(before[i]);
	}
	call(f, &r, "GET", "/v1/environments", NULL, NULL, NULL);
	assert_int_equal(json_array_size(json_object_get(r.body, "items")), 2);
	pv_response_dispose(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(routing, setup, teardown),
		cmocka_unit_test_setup_teardown(create_validation, setup, teardown),
		cmocka_unit_test_setup_teardown(create_get_list, setup, teardown),
		cmocka_unit_test_setup_teardown(patch_and_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(prefer_header, setup, teardown),
		cmocka_unit_test_setup_teardown(values_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(auth_roles, setup, teardown),
		cmocka_unit_test_setup_teardown(whoami_and_page, setup, teardown),
		cmocka_unit_test_setup_teardown(idempotency, setup, teardown),
		cmocka_unit_test_setup_teardown(quotas, setup, teardown),
		cmocka_unit_test_setup_teardown(create_rate, setup_rated, teardown),
		cmocka_unit_test_setup_teardown(list_shape, setup, teardown),
		cmocka_unit_test_setup_teardown(cluster_field, setup, teardown),
		cmocka_unit_test_setup_teardown(cluster_patch, setup, teardown),
		cmocka_unit_test_setup_teardown(bases, setup, teardown),
		cmocka_unit_test(target_checks),
		cmocka_unit_test_setup_teardown(bad_paths_touch_nothing, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
