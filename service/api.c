/*
 * api.c - the HTTP API: routes, request decoding, JSON shaping and
 * problem details.
 *
 * The rules live in env.c: a handler decodes the request into env.c's
 * input struct, calls the operation, and shapes its result (or its error,
 * as application/problem+json).  A write answers with a wait: http.c holds
 * the answer until the Git writer reports the change landed (or the window
 * ends) and pv_api_finish() turns the row's state into 200/201/202.
 */
#include "api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "auth.h"
#include "chatact.h"
#include "chatops.h"
#include "cost.h"
#include "dbhealth.h"
#include "embed.h"
#include "hooks.h"
#include "pullreq.h"
#include "log.h"
#include "metrics.h"
#include "opencost.h"
#include "valid.h"
#include "values.h"
#include "wakepage.h"

#define LIST_DEFAULT 50
#define LIST_MAX 200     /* a larger limit is cut to this; the answer says so */
#define FIELDS_MAX 16
#define METRICS_MAX ((size_t)4 << 20)  /* the /metrics text; a few KiB in practice */

struct pv_api {
	const struct pv_config *cfg;
	struct pv_api_git git;
	struct pv_envs *envs;
	struct pv_idem_set *idem;
	struct pv_pullreq pr;         /* rules NULL: pull-request hooks are ignored */
	struct pv_wakepage *wake;     /* GET /wake: anonymous, rate-limited wakes */
};

void pv_api_pullreq(struct pv_api *api, const struct pv_prrules *rules, void (*forge_kick)(void *ctx), void *ctx)
{
	api->pr = (struct pv_pullreq){ .rules = rules, .envs = api->envs, .forge_kick = forge_kick, .forge_ctx = ctx };
}

int pv_api_new(struct pv_api **out, const struct pv_config *cfg, const struct pv_store_settings *settings,
	const struct pv_api_git *git)
{
	struct pv_env_git eg = { .folder = git->folder, .kick = git->kick, .ctx = git->ctx, .settings = git->settings };
	struct pv_api *api = calloc(1, sizeof(*api));
	int error;

	*out = NULL;
	if (!api)
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	api->cfg = cfg;
	api->git = *git;
	if ((error = pv_env_new(&api->envs, cfg, settings, &eg)) < 0 || (error = pv_idem_set_new(&api->idem)) < 0 ||
	    (error = pv_wakepage_new(&api->wake, cfg)) < 0) {
		pv_api_free(api);
		return error;
	}
	*out = api;
	return 0;
}

void pv_api_free(struct pv_api *api)
{
	if (!api)
		return;
	pv_idem_set_free(api->idem);
	pv_wakepage_free(api->wake);
	pv_env_free(api->envs);
	free(api);
}

struct pv_envs *pv_api_envs(struct pv_api *api)
{
	return api->envs;
}

void pv_api_release(struct pv_api *api, struct pv_response *resp)
{
	pv_idem_release(api->idem, resp->idem_slot);
}

void pv_response_dispose(struct pv_response *resp)
{
	json_decref(resp->body);
	free(resp->text);
	memset(resp, 0, sizeof(*resp));
}

static void response_reset(struct pv_response *resp)
{
	memset(resp, 0, sizeof(*resp));
}

/* A JSON string of s; bytes of invalid UTF-8 (a path or a field name from
 * the request, echoed in an error) become '?' instead of losing the field. */
static json_t *safe_string(const char *s)
{
	json_t *j = json_string(s);
	char *copy;

	if (j || !(copy = strdup(s)))
		return j;
	for (char *p = copy; *p; p++)
		if ((unsigned char)*p >= 0x80 || (unsigned char)*p < 0x20)
			*p = '?';
	j = json_string(copy);
	free(copy);
	return j;
}

void pv_api_problem(struct pv_response *resp, int code, const char *instance)
{
	const struct pv_error_info *e = pv_error_last();
	char type[96];

	json_decref(resp->body);
	resp->status = pv_error_http_status(code);
	resp->problem = 1;
	resp->wait = PV_WAIT_NONE;
	resp->retry_after = e->code == code ? e->retry_after : 0;
	snprintf(type, sizeof(type), "urn:previewd:problem:%s", pv_error_slug(code));
	resp->body = json_pack("{s:s, s:s, s:i, s:o}", "type", type, "title", pv_error_title(code),
		"status", resp->status, "detail",
		safe_string(e->code == code && e->message[0] ? e->message : pv_error_title(code)));
	if (resp->body && e->code == code && e->field[0])
		json_object_set_new(resp->body, "field", safe_string(e->field));
	if (resp->body && instance)
		json_object_set_new(resp->body, "instance", safe_string(instance));
}

/* ---- request helpers ---------------------------------------------------- */

static int content_is_json(const char *ct)
{
	size_t n = strlen("application/json");

	if (!ct)
		return 0;
	while (*ct == ' ')
		ct++;
	if (strncasecmp(ct, "application/json", n) != 0 &&
	    strncasecmp(ct, "application/merge-patch+json", (n = strlen("application/merge-patch+json"))) != 0)
		return 0;
	return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ';
}

/* Parse the body as a JSON object.  Duplicate keys are refused: with them
 * two readers of the same request could disagree on what it says. */
static int parse_body(json_t **out, const struct pv_request *req)
{
	json_error_t jerr;
	json_t *doc;

	*out = NULL;
	if (!content_is_json(req->content_type))
		return pv_error_set(PV_EMEDIATYPE, NULL, "the body must be JSON: send Content-Type: application/json");
	if (req->body_len == 0)
		return pv_error_set(PV_EBADREQ, NULL, "the request needs a JSON object body");
	doc = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
	if (!doc)
		return pv_error_set(PV_EBADREQ, NULL, "invalid JSON at line %d, column %d: %s", jerr.line, jerr.column, jerr.text);
	if (!json_is_object(doc)) {
		json_decref(doc);
		return pv_error_set(PV_EBADREQ, NULL, "the body must be a JSON object");
	}
	*out = doc;
	return 0;
}

static int check_keys(json_t *doc, const char *const *allowed)
{
	const char *key;
	json_t *v;

	json_object_foreach(doc, key, v) {
		int ok = 0;
		for (size_t i = 0; allowed[i]; i++)
			if (strcmp(key, allowed[i]) == 0)
				ok = 1;
		if (!ok)
			return pv_error_set(PV_EINVAL, key, "unknown field '%.64s'", key);
	}
	return 0;
}

/* A string field: NULL when absent; PV_EINVAL when present but not a string. */
static int get_string(const char **out, json_t *doc, const char *key)
{
	json_t *v = json_object_get(doc, key);

	*out = NULL;
	if (!v)
		return 0;
	if (!json_is_string(v))
		return pv_error_set(PV_EINVAL, key, "%s must be a string", key);
	*out = json_string_value(v);
	return 0;
}

/* Prefer: respond-async / wait=N (RFC 7240) shorten the wait window. */
static long long wait_window(const struct pv_api *api, const struct pv_request *req)
{
	long long ms = api->cfg->wait_ms;
	const char *p = req->prefer, *w;

	if (!p)
		return ms;
	if (strcasestr(p, "respond-async"))
		return 0;
	if ((w = strcasestr(p, "wait=")) != NULL) {
		long long s = strtoll(w + 5, NULL, 10);
		if (s >= 0 && s * 1000 < ms)
			ms = s * 1000;
	}
	return ms;
}

static void set_wait(const struct pv_api *api, const struct pv_request *req, struct pv_response *resp,
	enum pv_wait_kind kind, const struct pv_env *env)
{
	resp->wait = kind;
	resp->wait_id = env->id;
	resp->wait_gen = env->gen;
	resp->wait_ms = wait_window(api, req);
	resp->status = 202;
	resp->body = pv_env_json(api->envs, env);
}

/* ---- environments ------------------------------------------------------- */

/* The address a request came from: what the create rate of open mode and
 * the events record key on. */
static const char *client_address(const struct pv_request *req)
{
	return req->remote_addr;
}

static void actor_of(struct pv_actor *out, const struct pv_request *req)
{
	out->name = req->actor ? req->actor : "anonymous";
	out->role = req->role;
	out->from = client_address(req);
}

static int env_create(struct pv_api *api, const struct pv_request *req, struct pv_response *resp,
	const struct pv_idem_key *idem)
{
	static const char *const allowed[] = { "owner", "name", "ttl", "idle_ttl", "base", "values", "cluster", "schedule", NULL };
	struct pv_env_spec spec = { 0 };
	struct pv_actor actor;
	struct pv_env env = { 0 };
	json_t *doc = NULL;
	int error;

	if ((error = parse_body(&doc, req)) < 0 || (error = check_keys(doc, allowed)) < 0 ||
	    (error = get_string(&spec.owner, doc, "owner")) < 0 || (error = get_string(&spec.name, doc, "name")) < 0 ||
	    (error = get_string(&spec.base, doc, "base")) < 0 || (error = get_string(&spec.cluster, doc, "cluster")) < 0)
		goto out;
	spec.ttl = json_object_get(doc, "ttl");
	spec.idle_ttl = json_object_get(doc, "idle_ttl");
	spec.values = json_object_get(doc, "values");
	spec.schedule = json_object_get(doc, "schedule");
	actor_of(&actor, req);
	if ((error = pv_env_create(api->envs, &actor, &spec, idem, &env)) < 0)
		goto out;
	snprintf(resp->location, sizeof(resp->location), "/v1/environments/%s", env.name);
	set_wait(api, req, resp, PV_WAIT_CREATE, &env);
out:
	pv_env_dispose(&env);
	json_decref(doc);
	return error;
}

static int env_get(struct pv_api *api, const char *name, struct pv_response *resp)
{
	struct pv_env env;
	int error;

	if ((error = pv_env_get(api->envs, name, &env)) < 0) {
		pv_env_dispose(&env);
		return error;
	}
	resp->status = 200;
	resp->body = pv_env_json(api->envs, &env);
	pv_env_dispose(&env);
	return 0;
}

static int env_patch(struct pv_api *api, const struct pv_request *req, const char *name, struct pv_response *resp,
	const struct pv_idem_key *idem)
{
	static const char *const allowed[] = { "ttl", "idle_ttl", "values", "cluster", "schedule", NULL };
	struct pv_env_change change = { 0 };
	struct pv_actor actor;
	struct pv_env env = { 0 };
	json_t *doc = NULL;
	int error;

	if ((error = parse_body(&doc, req)) < 0 || (error = check_keys(doc, allowed)) < 0 ||
	    (error = get_string(&change.cluster, doc, "cluster")) < 0)
		goto out;
	change.ttl = json_object_get(doc, "ttl");
	change.idle_ttl = json_object_get(doc, "idle_ttl");
	change.values = json_object_get(doc, "values");
	change.schedule = json_object_get(doc, "schedule");
	actor_of(&actor, req);
	if ((error = pv_env_patch(api->envs, &actor, name, &change, idem, &env)) < 0)
		goto out;
	set_wait(api, req, resp, PV_WAIT_UPDATE, &env);
out:
	pv_env_dispose(&env);
	json_decref(doc);
	return error;
}

static int env_delete(struct pv_api *api, const struct pv_request *req, const char *name, struct pv_response *resp,
	const struct pv_idem_key *idem)
{
	struct pv_actor actor;
	struct pv_env env;
	int error;

	actor_of(&actor, req);
	if ((error = pv_env_delete(api->envs, &actor, name, idem, &env)) == 0)
		set_wait(api, req, resp, PV_WAIT_DELETE, &env);
	pv_env_dispose(&env);
	return error;
}

/* POST .../sleep and .../wake: no body needed (an empty object is fine);
 * the answer waits for the push like a PATCH. */
static int env_sleep(struct pv_api *api, const struct pv_request *req, const char *name, int asleep,
	struct pv_response *resp, const struct pv_idem_key *idem)
{
	static const char *const allowed[] = { NULL };
	struct pv_actor actor;
	struct pv_env env = { 0 };
	json_t *doc = NULL;
	int error;

	if (req->body_len && ((error = parse_body(&doc, req)) < 0 || (error = check_keys(doc, allowed)) < 0))
		goto out;
	actor_of(&actor, req);
	error = asleep ? pv_env_sleep(api->envs, &actor, name, idem, &env) : pv_env_wake(api->envs, &actor, name, idem, &env);
	if (error == 0)
		set_wait(api, req, resp, PV_WAIT_UPDATE, &env);
out:
	pv_env_dispose(&env);
	json_decref(doc);
	return error;
}

static int event_one(const struct pv_event *ev, void *payload)
{
	json_t *items = payload, *detail = ev->detail_json ? json_loads(ev->detail_json, 0, NULL) : NULL;
	json_t *j = json_pack("{s:I, s:s, s:s, s:s, s:o, s:o}", "id", (json_int_t)ev->id, "environment", ev->name,
		"kind", ev->kind, "actor", ev->actor, "at", pv_env_time_json(ev->at), "detail", detail ? detail : json_null());

	if (!j || json_array_append_new(items, j) < 0)
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	return 0;
}

static int env_events(struct pv_api *api, const char *name, struct pv_response *resp)
{
	json_t *items;
	int error;

	if (!(items = json_array()))
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	if ((error = pv_env_events(api->envs, name, event_one, items)) < 0) {
		json_decref(items);
		return error;
	}
	resp->status = 200;
	resp->body = json_pack("{s:o}", "items", items);
	return resp->body ? 0 : pv_error_set(PV_ERROR, NULL, "out of memory");
}

struct list_ctx {
	struct pv_api *api;
	json_t *items;
	int with_values;      /* include=values, or values among fields */
	const char *fields[FIELDS_MAX]; /* fields=: the members an item keeps */
	size_t nfields;       /* 0: all but values */
	struct pv_env last;   /* key fields of the last row, for next_cursor */
	int count, want;
	int more;             /* a row beyond the page exists */
};

static int list_one(const struct pv_env *env, void *payload)
{
	struct list_ctx *lc = payload;
	json_t *j;

	/* one row more than the page is read, to know whether a next page exists */
	if (lc->count == lc->want) {
		lc->more = 1;
		return 0;
	}
	j = pv_env_json_part(lc->api->envs, env, lc->with_values);
	if (j && lc->nfields) {
		json_t *part = json_object();
		for (size_t i = 0; part && i < lc->nfields; i++) {
			json_t *v = json_object_get(j, lc->fields[i]);
			if (v && json_object_set(part, lc->fields[i], v) < 0)
				part = (json_decref(part), NULL);
		}
		json_decref(j);
		j = part;
	}
	if (!j || json_array_append_new(lc->items, j) < 0)
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	lc->last.id = env->id;
	lc->last.expires_at = env->expires_at;
	memcpy(lc->last.name, env->name, sizeof(lc->last.name));
	lc->count++;
	return 0;
}

static const char *const sort_names[PV_SORT_COUNT] = {
	[PV_SORT_NEWEST] = "-created_at", [PV_SORT_OLDEST] = "created_at", [PV_SORT_NAME] = "name",
	[PV_SORT_NAME_DESC] = "-name", [PV_SORT_EXPIRY] = "expires_at", [PV_SORT_EXPIRY_DESC] = "-expires_at",
};

/* Cursors are opaque to clients: "<id>" for the creation orders, "<name>.<id>"
 * and "<expiry>.<id>" for the others (names never contain '.'). */
static int parse_cursor(struct pv_store_filter *f, const char *cursor, char *name_buf, size_t name_len)
{
	const char *dot = strrchr(cursor, '.');
	char *end;
	long long id;

	f->have_cursor = 1;
	errno = 0;
	id = strtoll(dot ? dot + 1 : cursor, &end, 10);
	if (errno || *end || id < 1 || (dot == NULL) != (f->sort == PV_SORT_NEWEST || f->sort == PV_SORT_OLDEST))
		goto bad;
	f->after_id = id;
	if (f->sort == PV_SORT_NAME || f->sort == PV_SORT_NAME_DESC) {
		if ((size_t)(dot - cursor) >= name_len)
			goto bad;
		snprintf(name_buf, name_len, "%.*s", (int)(dot - cursor), cursor);
		if (pv_valid_name(name_buf, "cursor") < 0)
			goto bad;
		f->after_text = name_buf;
	} else if (f->sort == PV_SORT_EXPIRY || f->sort == PV_SORT_EXPIRY_DESC) {
		errno = 0;
		f->after_int = strtoll(cursor, &end, 10);
		if (errno || end != dot || f->after_int < 0)
			goto bad;
	}
	return 0;
bad:
	return pv_error_set(PV_EINVAL, "cursor", "cursor must be a value returned as next_cursor for the same sort");
}

/* ?include=values and ?fields=a,b: a page carries no values unless asked,
 * and only the named members of each item when fields is given.  fields is
 * copied into buf (the names point into it). */
static int list_shape(struct list_ctx *lc, const char *include, const char *fields, char *buf, size_t len)
{
	static const char *const known[] = { "name", "owner", "status", "url", "namespace", "base", "requested_by",
		"cluster", "created_at", "updated_at", "expires_at", "deleted_at", "values", "ttl_seconds", "idle_ttl_seconds",
		"schedule", "schedule_held_until", "git", "argocd", "cost", NULL };
	char *tok, *save = NULL;

	if (include) {
		if (strcmp(include, "values") != 0)
			return pv_error_set(PV_EINVAL, "include", "include must be 'values'");
		lc->with_values = 1;
	}
	if (!fields)
		return 0;
	if (strlen(fields) >= len)
		return pv_error_set(PV_EINVAL, "fields", "fields is too long");
	snprintf(buf, len, "%s", fields);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		size_t i;
		for (i = 0; known[i] && strcmp(known[i], tok) != 0; i++)
			;
		if (!known[i])
			return pv_error_set(PV_EINVAL, "fields", "fields names members of an environment (name, owner, status, "
				"url, ..., values); '%.64s' is none", tok);
		if (lc->nfields == FIELDS_MAX)
			return pv_error_set(PV_EINVAL, "fields", "fields names at most %d members", FIELDS_MAX);
		lc->fields[lc->nfields++] = tok;
		lc->with_values |= strcmp(tok, "values") == 0;
	}
	if (!lc->nfields)
		return pv_error_set(PV_EINVAL, "fields", "fields needs at least one member name");
	return 0;
}

static int env_list(struct pv_api *api, const struct pv_request *req, struct pv_response *resp)
{
	static const char *const statuses[] = { PV_STATUS_PENDING, PV_STATUS_ACTIVE, PV_STATUS_SLEEPING,
		PV_STATUS_DELETING, PV_STATUS_DELETED, PV_STATUS_FAILED, NULL };
	struct pv_store_filter f = { 0 };
	struct list_ctx lc = { .api = api };
	const char *limit = req->query ? req->query(req->query_ctx, "limit") : NULL;
	const char *cursor = req->query ? req->query(req->query_ctx, "cursor") : NULL;
	const char *sort = req->query ? req->query(req->query_ctx, "sort") : NULL;
	const char *include = req->query ? req->query(req->query_ctx, "include") : NULL;
	const char *fields = req->query ? req->query(req->query_ctx, "fields") : NULL;
	char *end, next[96], name_buf[PV_NAME_MAX + 1], fields_buf[256];
	int error, ok = 0;

	f.owner = req->query ? req->query(req->query_ctx, "owner") : NULL;
	f.status = req->query ? req->query(req->query_ctx, "status") : NULL;
	f.limit = LIST_DEFAULT;
	if (f.owner && pv_valid_name(f.owner, "owner") < 0)
		return pv_error_set(PV_EINVAL, "owner", "owner must be a valid environment owner name");
	if (f.status) {
		for (size_t i = 0; statuses[i]; i++)
			ok |= strcmp(f.status, statuses[i]) == 0;
		if (!ok)
			return pv_error_set(PV_EINVAL, "status", "status must be one of pending, active, sleeping, deleting, deleted, failed");
	}
	if (sort) {
		int found = 0;
		for (int i = 0; i < PV_SORT_COUNT && !found; i++)
			if (strcmp(sort, sort_names[i]) == 0) {
				f.sort = (enum pv_store_sort)i;
				found = 1;
			}
		if (!found)
			return pv_error_set(PV_EINVAL, "sort", "sort must be one of created_at, -created_at, name, -name, "
				"expires_at, -expires_at");
	}
	if (limit) {
		errno = 0;
		long v = strtol(limit, &end, 10);
		if (errno || *end || end == limit || v < 1)
			return pv_error_set(PV_EINVAL, "limit", "limit must be a positive integer (pages hold at most %d)",
				LIST_MAX);
		/* a larger page is cut, not refused: the answer's limit says what
		 * applied and next_cursor leads on */
		f.limit = v > LIST_MAX ? LIST_MAX : (int)v;
	}
	if ((error = list_shape(&lc, include, fields, fields_buf, sizeof(fields_buf))) < 0)
		return error;
	if (cursor && (error = parse_cursor(&f, cursor, name_buf, sizeof(name_buf))) < 0)
		return error;
	lc.want = f.limit;
	f.limit++;
	if (!(lc.items = json_array()))
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	if ((error = pv_env_list(api->envs, &f, list_one, &lc)) < 0) {
		json_decref(lc.items);
		return error;
	}
	if (f.sort == PV_SORT_NEWEST || f.sort == PV_SORT_OLDEST)
		snprintf(next, sizeof(next), "%lld", (long long)lc.last.id);
	else if (f.sort == PV_SORT_NAME || f.sort == PV_SORT_NAME_DESC)
		snprintf(next, sizeof(next), "%s.%lld", lc.last.name, (long long)lc.last.id);
	else
		snprintf(next, sizeof(next), "%lld.%lld", (long long)lc.last.expires_at, (long long)lc.last.id);
	resp->status = 200;
	resp->body = json_pack("{s:o, s:o, s:i}", "items", lc.items,
		"next_cursor", lc.more ? json_string(next) : json_null(), "limit", lc.want);
	return resp->body ? 0 : pv_error_set(PV_ERROR, NULL, "out of memory");
}

/* GET /v1/environments/stream: the filters of the list and where to
 * resume; http.c answers with the stream (stream.h). */
static int env_stream(const struct pv_request *req, struct pv_response *resp)
{
	const char *owner = req->query ? req->query(req->query_ctx, "owner") : NULL;
	const char *status = req->query ? req->query(req->query_ctx, "status") : NULL;
	const char *last = req->header ? req->header(req->header_ctx, "Last-Event-ID") : NULL;
	static const char *const statuses[] = { PV_STATUS_PENDING, PV_STATUS_ACTIVE, PV_STATUS_DELETING,
		PV_STATUS_DELETED, PV_STATUS_FAILED, NULL };
	char *end;
	int ok = 0;

	if (!last || !*last) /* for clients that cannot set a header */
		last = req->query ? req->query(req->query_ctx, "last_event_id") : NULL;
	if (owner && pv_valid_name(owner, "owner") < 0)
		return pv_error_set(PV_EINVAL, "owner", "owner must be a valid environment owner name");
	if (status) {
		for (size_t i = 0; statuses[i]; i++)
			ok |= strcmp(status, statuses[i]) == 0;
		if (!ok)
			return pv_error_set(PV_EINVAL, "status", "status must be one of pending, active, deleting, deleted, failed");
	}
	resp->stream.after = -1;
	if (last && *last) {
		errno = 0;
		long long v = strtoll(last, &end, 10);
		if (errno || *end || v < 0)
			return pv_error_set(PV_EBADREQ, "Last-Event-ID", "Last-Event-ID must be an event id this stream sent");
		resp->stream.after = v;
	}
	snprintf(resp->stream.owner, sizeof(resp->stream.owner), "%s", owner ? owner : "");
	snprintf(resp->stream.status, sizeof(resp->stream.status), "%s", status ? status : "");
	resp->stream.on = 1;
	resp->status = 200;
	return 0;
}

static int health(struct pv_response *resp)
{
	resp->status = 200;
	resp->body = json_pack("{s:s}", "status", "ok");
	return 0;
}

/* Git trouble is "degraded", not "not ready": previewd keeps accepting
 * requests while Git is away, so it must stay in the Service's endpoints.
 * A database that reads but refuses writes (a full disk: dbhealth.h) is
 * "degraded" too, with db.ok false and the reason: reads and the page go
 * on, and taking previewd out of the endpoints or restarting it frees no
 * space.  Not ready (503) means the database cannot be read, or previewd
 * has never seen the branch and so cannot validate a create yet
 * ("starting"). */
static int ready(struct pv_api *api, struct pv_response *resp)
{
	struct pv_store *st;
	int db_ok, db_writes = 1, git_ok = 1, known = 1, argo_on = 0, argo_ok = 1;
	char git_error[256] = "", argo_error[256] = "", db_error[400] = "", refused[256];
	int64_t refused_since = 0;
	int64_t argo_poll = 0;
	int64_t last_push = 0;
	const char *status;
	long long held = 0;

	db_ok = pv_env_store(api->envs, &st) == 0 && pv_store_ping(st) == 0;
	if (!db_ok)
		snprintf(db_error, sizeof(db_error), "%s", pv_error_last()->message);
	else if (pv_dbhealth_refusing(refused, sizeof(refused), &refused_since)) {
		db_writes = 0;
		snprintf(db_error, sizeof(db_error), "the database refuses writes: %s; writes answer 503 until it "
			"takes them again", refused);
	}
	/* expiries the reaper holds degrade: an admin has a decision to make */
	if (db_ok && pv_store_reap_held(st, &held) < 0)
		held = 0;
	if (api->git.status)
		api->git.status(api->git.ctx, &known, &git_ok, git_error, sizeof(git_error), &last_push);
	if (api->git.argocd)
		api->git.argocd(api->git.ctx, &argo_on, &argo_ok, argo_error, sizeof(argo_error), &argo_poll);
	/* Argo CD trouble only degrades: it never stops a request */
	status = !db_ok ? "unavailable" : !known ? "starting"
	       : db_writes && git_ok && (!argo_on || argo_ok) && !held ? "ready" : "degraded";
	resp->status = db_ok && known ? 200 : 503;
	resp->body = json_pack("{s:s, s:{s:{s:b, s:o}, s:{s:b, s:b, s:o, s:o}}}",
		"status", status,
		"checks",
		"db", "ok", db_ok && db_writes, "error", db_error[0] ? json_string(db_error) : json_null(),
		"git", "ok", git_ok && known, "branch_known", known,
		"error", git_error[0] ? json_string(git_error) : json_null(),
		"last_push_at", pv_env_time_json(last_push));
	if (resp->body && !db_writes)
		json_object_set_new(json_object_get(json_object_get(resp->body, "checks"), "db"), "refusing_since",
			pv_env_time_json(refused_since));
	if (resp->body && argo_on)
		json_object_set_new(json_object_get(resp->body, "checks"), "argocd",
			json_pack("{s:b, s:o, s:o}", "ok", argo_ok, "error", argo_error[0] ? json_string(argo_error) : json_null(),
				"last_poll_at", pv_env_time_json(argo_poll)));
	if (resp->body) {
		char why[160];
		snprintf(why, sizeof(why), "%lld overdue environment(s) held, not removed: release with POST /v1/admin/reaper/release", held);
		json_object_set_new(json_object_get(resp->body, "checks"), "reaper",
			json_pack("{s:b, s:I, s:o}", "ok", !held, "held", (json_int_t)held, "error", held ? json_string(why) : json_null()));
	}
	return 0;
}

/* POST /v1/admin/reaper/release: let the held expiries go (admin). */
static int reaper_release(struct pv_api *api, const struct pv_request *req, struct pv_response *resp)
{
	struct pv_store *st;
	long long released = 0;
	int error;

	if ((error = pv_env_store(api->envs, &st)) < 0 ||
	    (error = pv_store_reap_release(st, req->actor, (int64_t)time(NULL), &released)) < 0)
		return error;
	log_warn("reaper: %s released %lld held expiries", req->actor, released);
	if (released && api->git.kick)
		api->git.kick(api->git.ctx);
	resp->status = 200;
	resp->body = json_pack("{s:I}", "released", (json_int_t)released);
	return resp->body ? 0 : pv_error_set(PV_ERROR, NULL, "out of memory");
}

struct status_counts {
	long long n[5];
};

static const char *const all_statuses[] = { PV_STATUS_PENDING, PV_STATUS_ACTIVE, PV_STATUS_DELETING,
	PV_STATUS_DELETED, PV_STATUS_FAILED };

static void count_status(const char *status, long long n, void *payload)
{
	struct status_counts *c = payload;

	for (size_t i = 0; i < 5; i++)
		if (strcmp(status, all_statuses[i]) == 0)
			c->n[i] = n;
}

/* previewd_environment_cost_per_day of each live environment (cost.h):
 * one series per environment running now, so ended ones leave the
 * scrape and the cardinality stays that of the live set */
struct cost_lines {
	const struct pv_config *cfg;
	struct pv_store *st;
	int64_t now;
	struct pv_strbuf *out;
};

static int cost_line(const struct pv_env *env, void *payload)
{
	struct cost_lines *c = payload;
	const char *source;
	double per_day;
	int found;

	if ((found = pv_store_cost(c->st, c->cfg, env, c->now, &per_day, &source)) <= 0)
		return found;
	return pv_strbuf_printf(c->out, "previewd_environment_cost_per_day{name=\"%s\",source=\"%s\"} %.4f\n", env->name,
		source, per_day);
}

static int cost_metrics(struct pv_api *api, struct pv_store *st, struct pv_strbuf *out)
{
	static const char *const running[] = { PV_STATUS_PENDING, PV_STATUS_ACTIVE };
	const struct pv_config *cfg = pv_env_config(api->envs);
	struct cost_lines c = { cfg, st, (int64_t)time(NULL), out };
	int error;

	if (!cfg->cost && !PV_OPENCOST_ON(cfg))
		return 0;
	if ((error = pv_strbuf_printf(out,
		     "# HELP previewd_environment_cost_per_day Estimated price of a day of a live environment's requests.\n"
		     "# TYPE previewd_environment_cost_per_day gauge\n")) < 0)
		return error;
	for (size_t i = 0; i < sizeof(running) / sizeof(running[0]); i++) {
		struct pv_store_filter f = { .status = running[i], .sort = PV_SORT_NAME, .limit = -1 };
		if ((error = pv_store_env_list(st, &f, cost_line, &c)) < 0)
			return error;
	}
	return 0;
}

static int metrics(struct pv_api *api, struct pv_response *resp)
{
	struct status_counts counts = { { 0 } };
	struct pv_strbuf out = PV_STRBUF_INIT_MAX(METRICS_MAX);
	struct pv_store *st;
	int error;

	if ((error = pv_env_store(api->envs, &st)) < 0 || (error = pv_store_count_by_status(st, count_status, &counts)) < 0)
		return error;
	error = pv_strbuf_printf(&out,
		"# HELP previewd_environments Environments recorded, by status.\n"
		"# TYPE previewd_environments gauge\n");
	for (size_t i = 0; i < 5 && error == 0; i++)
		error = pv_strbuf_printf(&out, "previewd_environments{status=\"%s\"} %lld\n", all_statuses[i], counts.n[i]);
	if (error == 0)
		error = cost_metrics(api, st, &out);
	if (error == 0)
		error = pv_metrics_http_format(&out);
	if (error == 0)
		error = pv_hooks_metrics(&out);
	if (error == 0 && api->git.metrics)
		error = api->git.metrics(api->git.ctx, &out);
	if (error < 0) {
		pv_strbuf_dispose(&out);
		return error;
	}
	resp->status = 200;
	resp->text = pv_strbuf_take(&out, NULL);
	resp->text_type = "text/plain; version=0.0.4; charset=utf-8";
	return 0;
}

/* ---- routing ------------------------------------------------------------ */

static int method_not_allowed(struct pv_response *resp, const char *allow)
{
	snprintf(resp->allow, sizeof(resp->allow), "%s", allow);
	return pv_error_set(PV_EMETHOD, NULL, "method not allowed here; allowed: %s", allow);
}

static const struct pv_embedded_file *page_file(const char *path);

/* The route label for metrics and logs, from the method and path alone. */
static enum pv_route classify(const char *m, const char *p)
{
	int read = strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;
	const char *slash;

	if (strcmp(p, "/healthz") == 0)
		return PV_ROUTE_HEALTHZ;
	if (strcmp(p, "/readyz") == 0)
		return PV_ROUTE_READYZ;
	if (strcmp(p, "/metrics") == 0)
		return PV_ROUTE_METRICS;
	if (page_file(p) || strcmp(p, "/wake") == 0 || strcmp(p, "/wake/status") == 0)
		return PV_ROUTE_PAGE;
	if (strcmp(p, "/v1/info") == 0 || strcmp(p, "/v1/whoami") == 0)
		return PV_ROUTE_INFO;
	if (strncmp(p, "/v1/chatops", 11) == 0)
		return PV_ROUTE_CHATOPS;
	if (strncmp(p, "/v1/hooks/", 10) == 0)
		return PV_ROUTE_HOOKS;
	if (strcmp(p, "/v1/environments") == 0)
		return read ? PV_ROUTE_LIST : PV_ROUTE_CREATE;
	if (strncmp(p, "/v1/environments/", 17) == 0) {
		slash = strchr(p + 17, '/');
		if (slash)
			return strcmp(slash, "/events") == 0 ? PV_ROUTE_EVENTS : PV_ROUTE_OTHER;
		return read ? PV_ROUTE_GET : strcmp(m, "PATCH") == 0 ? PV_ROUTE_PATCH
			: strcmp(m, "DELETE") == 0 ? PV_ROUTE_DELETE : PV_ROUTE_OTHER;
	}
	return PV_ROUTE_OTHER;
}

/* The built-in page (service/page/): index.html at /, its script and style
 * sheet by their file names.  The browser then reads the API like any other
 * client, with the user's token. */
static const struct pv_embedded_file *page_file(const char *path)
{
	const char *want = strcmp(path, "/") == 0 ? "index.html" : path + 1;

	if (path[0] != '/' || strchr(want, '/'))
		return NULL;
	for (size_t i = 0; i < pv_embedded_page_count; i++)
		if (strcmp(pv_embedded_page[i].path, want) == 0)
			return &pv_embedded_page[i];
	return NULL;
}

static const char *page_type(const char *path)
{
	const char *dot = strrchr(path, '.');

	if (dot && strcmp(dot, ".js") == 0)
		return "text/javascript; charset=utf-8";
	if (dot && strcmp(dot, ".css") == 0)
		return "text/css; charset=utf-8";
	if (dot && strcmp(dot, ".svg") == 0)
		return "image/svg+xml";
	if (dot && strcmp(dot, ".png") == 0)
		return "image/png";
	return "text/html; charset=utf-8";
}

static int page(const struct pv_embedded_file *f, struct pv_response *resp)
{
	if (!(resp->text = strndup((const char *)f->data, f->len)))
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	resp->status = 200;
	resp->text_type = page_type(f->path);
	return 0;
}

/* GET /v1/whoami: the caller's token name and role, so a client (the page)
 * offers only what the role allows. */
static int whoami(const struct pv_request *req, struct pv_response *resp)
{
	static const char *const roles[] = { "none", "reader", "writer", "admin" };

	resp->status = 200;
	resp->body = json_pack("{s:s, s:s}", "name", req->actor ? req->actor : "anonymous", "role",
		roles[req->role <= PV_ROLE_ADMIN ? req->role : PV_ROLE_NONE]);
	return resp->body ? 0 : pv_error_set(PV_ERROR, NULL, "out of memory");
}

/* What a portal needs to render its form: where environments live, the TTL
 * limits, and the bases a request may start from. */
static int info(struct pv_api *api, struct pv_response *resp)
{
	const struct pv_config *c = api->cfg;
	json_t *bases = json_array();
	char def[32], max[32], min[32], life[32], tip[48];

	if (!bases)
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	if (api->git.bases && api->git.bases(api->git.ctx, bases) < 0) {
		json_decref(bases);
		return pv_error_last()->code;
	}
	pv_valid_format_duration(def, sizeof(def), c->default_ttl);
	pv_valid_format_duration(max, sizeof(max), c->max_ttl);
	pv_valid_format_duration(min, sizeof(min), c->min_ttl);
	pv_valid_format_duration(life, sizeof(life), c->max_lifetime);
	resp->status = 200;
	resp->body = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:{s:s, s:I, s:s, s:I, s:s, s:I, s:o, s:o, s:b}, "
			       "s:{s:I, s:I}, s:{s:s}}",
		"version", PREVIEWD_VERSION, "domain", c->domain, "url_template", "http://{name}.{domain}",
		"env_dir", c->env_dir, "default_base", c->base_env, "bases", bases,
		"ttl", "default", def, "default_seconds", (json_int_t)c->default_ttl, "max", max,
		"max_seconds", (json_int_t)c->max_ttl, "min", min, "min_seconds", (json_int_t)c->min_ttl,
		"max_lifetime", c->max_lifetime ? json_string(life) : json_null(),
		"max_lifetime_seconds", c->max_lifetime ? json_integer(c->max_lifetime) : json_null(),
		"never_allowed", c->allow_never,
		"quotas", "per_owner", (json_int_t)c->max_envs_per_owner, "total", (json_int_t)c->max_envs,
		"name_rules", "pattern", "^[a-z]([a-z0-9-]{0,51}[a-z0-9])?$");
	/* every limit a client can run into, in one place ("quotas" above
	 * stays for the clients that read it); 0 = off */
	if (resp->body)
		json_object_set_new(resp->body, "limits", json_pack("{s:I, s:I, s:{s:I, s:I}, s:i, s:I, s:I}",
			"envs_per_owner", (json_int_t)c->max_envs_per_owner, "envs", (json_int_t)c->max_envs,
			"create_rate", "per_minute", (json_int_t)c->create_rate, "burst",
			(json_int_t)(c->create_rate ? c->create_burst : 0), "list_max", LIST_MAX,
			"body_bytes", (json_int_t)c->max_body, "values_bytes", (json_int_t)c->max_values_bytes));
	tip[0] = '\0';
	if (api->git.tip)
		api->git.tip(api->git.ctx, tip, sizeof(tip));
	/* the commit the bases above were read from */
	if (resp->body)
		json_object_set_new(resp->body, "git", json_pack("{s:s, s:o}", "branch", c->git_branch,
			"tip", tip[0] ? json_string(tip) : json_null()));
	return resp->body ? 0 : pv_error_set(PV_ERROR, NULL, "out of memory");
}

/* ---- bases --------------------------------------------------------------- */

/* GET /v1/bases: the people's folders a request may start from (live
 * environments can be bases too; they are in /v1/environments). */
static int bases_list(struct pv_api *api, struct pv_response *resp)
{
	json_t *items = json_array();

	if (!items)
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	if (api->git.bases && api->git.bases(api->git.ctx, items) < 0) {
		json_decref(items);
		return pv_error_last()->code;
	}
	resp->status = 200;
	resp->body = json_pack("{s:s, s:o}", "default", api->cfg->base_env, "items", items);
	return resp->body ? 0 : pv_error_set(PV_ERROR, NULL, "out of memory");
}

/* GET /v1/bases/{name}: the values a create naming this base starts from,
 * so a user can see which keys their chart reads before writing "values".
 * Accept: application/yaml gives a folder's values.yaml as written, with
 * its comments (a live environment's values rendered). */
static int base_get(struct pv_api *api, const struct pv_request *req, const char *name, struct pv_response *resp)
{
	const char *accept = req->header ? req->header(req->header_ctx, "Accept") : NULL;
	json_t *values = NULL;
	char *yaml = NULL;
	size_t len = 0;
	int is_env = 0, error;

	if ((error = pv_env_base(api->envs, name, &values, &is_env, &yaml, &len)) < 0) {
		if (error == PV_ENOTFOUND)
			error = pv_error_set(PV_ENOTFOUND, NULL, "%s", pv_error_last()->message);
		goto out;
	}
	resp->status = 200;
	if (accept && (strstr(accept, "application/yaml") || strstr(accept, "text/yaml"))) {
		if (!yaml && (error = pv_values_render(&yaml, &len, NULL, values, (size_t)api->cfg->max_values_bytes)) < 0)
			goto out;
		resp->text = yaml;
		resp->text_type = "application/yaml; charset=utf-8";
		yaml = NULL;
		goto out;
	}
	{
		char path[512];
		snprintf(path, sizeof(path), "%s/%s/values.yaml", api->cfg->env_dir, name);
		resp->body = json_pack("{s:s, s:s, s:o, s:O}", "name", name, "source", is_env ? "environment" : "folder",
			"path", is_env ? json_null() : json_string(path), "values", values);
	}
	if (!resp->body)
		error = pv_error_set(PV_ERROR, NULL, "out of memory");
out:
	free(yaml);
	json_decref(values);
	return error;
}

static int route(struct pv_api *api, const struct pv_request *req, struct pv_response *resp,
	const struct pv_idem_key *idem)
{
	const char *m = req->method, *p = req->path;
	static const char prefix[] = "/v1/environments";
	const struct pv_embedded_file *f;

	/* ingress-nginx's error backend: a sleeping environment's visitor,
	 * whatever the path (wakepage.h) */
	if ((strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0) && strncmp(p, "/v1/", 4) != 0 &&
	    pv_wakepage_claims(api->wake, req))
		return pv_wakepage_page(api->wake, api->envs, req, resp);
	if (strcmp(p, "/healthz") == 0)
		return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0 ? health(resp) : method_not_allowed(resp, "GET, HEAD");
	if (strcmp(p, "/readyz") == 0)
		return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0 ? ready(api, resp) : method_not_allowed(resp, "GET, HEAD");
	if (strcmp(p, "/metrics") == 0)
		return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0 ? metrics(api, resp) : method_not_allowed(resp, "GET, HEAD");
	/* a sleeping environment's visitors, without a token (wakepage.h) */
	if ((f = page_file(p)))
		return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0 ? page(f, resp) : method_not_allowed(resp, "GET, HEAD");
	if (strcmp(p, "/wake") == 0)
		return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0 ? pv_wakepage_page(api->wake, api->envs, req, resp)
								      : method_not_allowed(resp, "GET, HEAD");
	if (strcmp(p, "/wake/status") == 0)
		return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0 ? pv_wakepage_status(api->wake, api->envs, req, resp)
								      : method_not_allowed(resp, "GET, HEAD");
	if (strcmp(p, "/v1/info") == 0)
		return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0 ? info(api, resp) : method_not_allowed(resp, "GET, HEAD");
	if (strcmp(p, "/v1/whoami") == 0)
		return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0 ? whoami(req, resp) : method_not_allowed(resp, "GET, HEAD");
	if (strcmp(p, "/v1/bases") == 0)
		return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0 ? bases_list(api, resp) : method_not_allowed(resp, "GET, HEAD");
	if (strncmp(p, "/v1/bases/", 10) == 0)
		return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0 ? base_get(api, req, p + 10, resp)
								       : method_not_allowed(resp, "GET, HEAD");
	if (strcmp(p, "/v1/admin/reaper/release") == 0)
		return strcmp(m, "POST") == 0 ? reaper_release(api, req, resp) : method_not_allowed(resp, "POST");
	if (strcmp(p, "/v1/chatops/slack") == 0)
		return strcmp(m, "POST") == 0 ? pv_chatops_slack(api->envs, req, resp) : method_not_allowed(resp, "POST");
	if (strcmp(p, "/v1/chatops/slack/interactions") == 0)
		return strcmp(m, "POST") == 0 ? pv_chatact_slack(api->envs, req, resp) : method_not_allowed(resp, "POST");
	if (strcmp(p, "/v1/chatops/mattermost/actions") == 0)
		return strcmp(m, "POST") == 0 ? pv_chatact_mattermost(api->envs, req, resp) : method_not_allowed(resp, "POST");
	if (strcmp(p, "/v1/chatops") == 0)
		return strcmp(m, "POST") == 0 ? pv_chatops_json(api->envs, req, resp) : method_not_allowed(resp, "POST");
	if (strncmp(p, "/v1/hooks/", 10) == 0)
		return strcmp(m, "POST") == 0 ? pv_hooks_handle(api->cfg, p + 10, req,
			&(struct pv_hooks_git){ api->git.fetch, api->git.ctx, api->pr.rules ? &api->pr : NULL }, resp) : method_not_allowed(resp, "POST");
	if (strcmp(p, prefix) == 0) {
		if (strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0)
			return env_list(api, req, resp);
		if (strcmp(m, "POST") == 0)
			return env_create(api, req, resp, idem);
		return method_not_allowed(resp, "GET, HEAD, POST");
	}
	/* before the names: "stream" is a path, not an environment */
	if (strcmp(p, "/v1/environments/stream") == 0)
		return strcmp(m, "GET") == 0 ? env_stream(req, resp) : method_not_allowed(resp, "GET");
	if (strncmp(p, prefix, sizeof(prefix) - 1) == 0 && p[sizeof(prefix) - 1] == '/') {
		const char *name = p + sizeof(prefix), *slash = strchr(name, '/');
		char buf[PV_NAME_MAX + 2];

		if (slash && strcmp(slash, "/events") == 0 && (size_t)(slash - name) <= PV_NAME_MAX) {
			snprintf(buf, sizeof(buf), "%.*s", (int)(slash - name), name);
			if (pv_valid_name(buf, "name") < 0)
				return pv_error_set(PV_ENOTFOUND, NULL, "no environment at %.100s", p);
			if (strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0)
				return env_events(api, buf, resp);
			return method_not_allowed(resp, "GET, HEAD");
		}
		if (slash && (strcmp(slash, "/sleep") == 0 || strcmp(slash, "/wake") == 0) &&
		    (size_t)(slash - name) <= PV_NAME_MAX) {
			snprintf(buf, sizeof(buf), "%.*s", (int)(slash - name), name);
			if (pv_valid_name(buf, "name") < 0)
				return pv_error_set(PV_ENOTFOUND, NULL, "no environment at %.100s", p);
			if (strcmp(m, "POST") == 0)
				return env_sleep(api, req, buf, strcmp(slash, "/sleep") == 0, resp, idem);
			return method_not_allowed(resp, "POST");
		}
		/* anything that is not a valid name cannot exist: '..', '/', '%2e' and
		 * friends end here, long before a path is built */
		if (pv_valid_name(name, "name") < 0)
			return pv_error_set(PV_ENOTFOUND, NULL, "no environment at %.100s", p);
		if (strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0)
			return env_get(api, name, resp);
		if (strcmp(m, "PATCH") == 0)
			return env_patch(api, req, name, resp, idem);
		if (strcmp(m, "DELETE") == 0)
			return env_delete(api, req, name, resp, idem);
		return method_not_allowed(resp, "GET, HEAD, PATCH, DELETE");
	}
	return pv_error_set(PV_ENOTFOUND, NULL, "no route for %.100s", p);
}

/* Who asks, and may they?  /v1 routes need a reader to read and a writer to
 * change; health, readiness and metrics are open. */
static int authorize(struct pv_api *api, const struct pv_request *req, char *actor, size_t len, enum pv_role *role)
{
	enum pv_role need;
	struct pv_store *st;
	int error;

	snprintf(actor, len, "anonymous");
	*role = PV_ROLE_NONE;
	if (strncmp(req->path, "/v1/", 4) != 0)
		return 0;
	/* Slack's requests and the Git host's hooks are signed, not
	 * token-bearing: chatops and hooks check them */
	if (strcmp(req->path, "/v1/chatops/slack") == 0 || strcmp(req->path, "/v1/chatops/slack/interactions") == 0 ||
	    strcmp(req->path, "/v1/chatops/mattermost/actions") == 0 || strncmp(req->path, "/v1/hooks/", 10) == 0)
		return 0;
	need = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0 ? PV_ROLE_READER : PV_ROLE_WRITER;
	if (strncmp(req->path, "/v1/admin/", 10) == 0)
		need = PV_ROLE_ADMIN;
	if ((error = pv_env_store(api->envs, &st)) < 0 ||
	    (error = pv_auth_check(st, req->authorization, req->remote_addr, actor, len, role)) < 0)
		return error;
	if (*role < need)
		return pv_error_set(PV_EFORBIDDEN, NULL, "token '%s' has the role %s; this needs %s", actor,
			*role == PV_ROLE_READER ? "reader" : *role == PV_ROLE_WRITER ? "writer" : "admin",
			need == PV_ROLE_READER ? "reader" : need == PV_ROLE_WRITER ? "writer" : "admin");
	return 0;
}

/* Answer from a stored key: the stored failure, or the current state of the
 * environment the first request changed (201/200 once pushed, else 202). */
static int idem_replay(struct pv_api *api, const struct pv_request *req, const struct pv_idem *rec,
	struct pv_response *resp)
{
	struct pv_env env;
	int error;

	resp->replayed = 1;
	if (rec->status) {
		resp->status = rec->status;
		resp->problem = 1;
		resp->body = rec->body ? json_loads(rec->body, 0, NULL) : NULL;
		return resp->body ? 0 : pv_error_set(PV_ERROR, NULL, "the stored answer is unreadable");
	}
	if ((error = pv_env_reload(api->envs, rec->env_id, &env)) < 0) {
		pv_env_dispose(&env);
		return error;
	}
	if (rec->wait_kind == PV_WAIT_CREATE)
		snprintf(resp->location, sizeof(resp->location), "/v1/environments/%s", env.name);
	env.gen = rec->wait_gen;
	set_wait(api, req, resp, (enum pv_wait_kind)rec->wait_kind, &env);
	resp->wait_ms = 0; /* the first request already waited */
	pv_env_dispose(&env);
	return 0;
}

/* A write with an Idempotency-Key: claim the key, then answer a retry from
 * its record (*replayed 1), or let the request run with *idem set. */
static int idem_begin(struct pv_api *api, const struct pv_request *req, struct pv_idem_key *key,
	struct pv_idem_key **idem, struct pv_response *resp, char *slot, int *replayed)
{
	struct pv_idem rec;
	struct pv_store *st;
	int error;

	*replayed = 0;
	if ((error = pv_idem_claim(api->idem, key, req->actor, req->idempotency_key, req->method, req->path,
		     req->body, req->body_len, slot)) < 0 ||
	    (error = pv_env_store(api->envs, &st)) < 0)
		return error;
	error = pv_idem_lookup(st, key, &rec);
	if (error == PV_ENOTFOUND) {
		*idem = key;
		return 0;
	}
	if (error < 0)
		return error;
	error = idem_replay(api, req, &rec, resp);
	free(rec.body);
	*replayed = error == 0;
	return error;
}

void pv_api_handle(struct pv_api *api, const struct pv_request *in, struct pv_response *resp)
{
	struct pv_request req = *in;
	struct pv_idem_key key, *idem = NULL;
	struct pv_store *st;
	char actor[64], slot[PV_IDEM_SLOT_LEN];
	int error, replayed = 0;

	response_reset(resp);
	pv_error_clear();
	slot[0] = '\0';
	if ((error = authorize(api, &req, actor, sizeof(actor), &req.role)) < 0)
		goto fail;
	req.actor = actor;
	if (req.idempotency_key && strcmp(req.method, "GET") != 0 && strcmp(req.method, "HEAD") != 0 &&
	    strncmp(req.path, "/v1/", 4) == 0) {
		if ((error = idem_begin(api, &req, &key, &idem, resp, slot, &replayed)) < 0)
			goto fail;
		if (replayed)
			goto done;
	}
	error = route(api, &req, resp, idem);
	if (error < 0)
		goto fail;
	if (!resp->body && !resp->text && !resp->stream.on) {
		error = pv_error_set(PV_ERROR, NULL, "out of memory building the response");
		goto fail;
	}
	goto done;
fail:
	{
		char allow[sizeof(resp->allow)];
		memcpy(allow, resp->allow, sizeof(allow));
		json_decref(resp->body);
		free(resp->text);
		response_reset(resp);
		memcpy(resp->allow, allow, sizeof(allow));
		pv_api_problem(resp, error, req.path);
		if (resp->status == 503 && !resp->retry_after)
			/* busy is a moment; a database that refuses writes (a full
			 * disk) or a dependency away lasts longer */
			resp->retry_after = error == PV_EBUSY ? 1 : PV_DBHEALTH_RETRY_AFTER_S;
		if (idem && pv_env_store(api->envs, &st) == 0)
			pv_idem_record_failure(st, idem, resp->status, resp->body);
	}
done:
	memcpy(resp->idem_slot, slot, sizeof(slot));
	resp->route = (int)classify(req.method, req.path);
}

void pv_api_finish(struct pv_api *api, struct pv_response *resp)
{
	struct pv_env env;
	int landed;

	if (resp->wait == PV_WAIT_NONE)
		return;
	if (pv_env_reload(api->envs, resp->wait_id, &env) < 0) {
		pv_env_dispose(&env);
		return; /* keep the 202 and the body recorded at acceptance */
	}
	json_decref(resp->body);
	resp->body = pv_env_json(api->envs, &env);
	if (strcmp(env.status, PV_STATUS_FAILED) == 0) {
		pv_error_set(PV_ECONFLICT, "name", "%s", env.git_error ? env.git_error : "Git refused the environment");
		resp->body = (json_decref(resp->body), NULL);
		pv_api_problem(resp, PV_ECONFLICT, resp->location[0] ? resp->location : NULL);
		pv_env_dispose(&env);
		return;
	}
	landed = env.pushed_gen >= resp->wait_gen;
	resp->status = !landed ? 202 : resp->wait == PV_WAIT_CREATE ? 201 : 200;
	pv_env_dispose(&env);
}

int pv_api_wait_done(struct pv_api *api, const struct pv_response *resp)
{
	struct pv_env env;
	int done;

	if (resp->wait == PV_WAIT_NONE)
		return 1;
	if (pv_env_reload(api->envs, resp->wait_id, &env) < 0) {
		pv_env_dispose(&env);
		return 0;
	}
	done = env.pushed_gen >= resp->wait_gen || strcmp(env.status, PV_STATUS_FAILED) == 0;
	pv_env_dispose(&env);
	return done;
}
