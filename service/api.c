/*
 * api.c - routing, validation and the environment handlers.
 *
 * Every handler follows one shape: validate everything that can be checked
 * without the database, then do the read-modify-write in one BEGIN IMMEDIATE
 * transaction, then hand the Git writer a kick and answer with a wait.  A
 * handler either fills a success body or calls pv_api_problem(); errors are
 * pv_error codes with their message in the thread's error slot.
 */
#include "api.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "auth.h"
#include "chatops.h"
#include "embed.h"
#include "log.h"
#include "metrics.h"
#include "store.h"
#include "valid.h"
#include "values.h"

#define LIST_DEFAULT 50
#define LIST_MAX 500
#define VALUES_MAX_DEPTH 32
#define MIN_TTL 60

/* Idempotency keys whose first request is still being answered: a
 * duplicate arriving meanwhile gets 409 instead of a half-made answer. */
struct inflight {
	pthread_mutex_t lock;
	char **keys;
	size_t n, cap;
};

struct pv_api {
	const struct pv_config *cfg;
	struct pv_api_git git;
	struct inflight inflight;
};

/* The Idempotency-Key of a write, for handlers to record in their own
 * transaction; NULL when the request has none. */
struct idem_ctx {
	const char *actor;
	const char *key;
	char fingerprint[72];
};

int pv_api_new(struct pv_api **out, const struct pv_config *cfg, const struct pv_api_git *git)
{
	struct pv_api *api = calloc(1, sizeof(*api));

	*out = NULL;
	if (!api)
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	api->cfg = cfg;
	api->git = *git;
	pthread_mutex_init(&api->inflight.lock, NULL);
	*out = api;
	return 0;
}

void pv_api_free(struct pv_api *api)
{
	if (!api)
		return;
	for (size_t i = 0; i < api->inflight.n; i++)
		free(api->inflight.keys[i]);
	free(api->inflight.keys);
	pthread_mutex_destroy(&api->inflight.lock);
	free(api);
}

static int inflight_add(struct pv_api *api, const char *slot)
{
	struct inflight *f = &api->inflight;
	int error = 0;

	pthread_mutex_lock(&f->lock);
	for (size_t i = 0; i < f->n; i++) {
		if (strcmp(f->keys[i], slot) == 0) {
			error = pv_error_set(PV_ECONFLICT, "Idempotency-Key",
				"a request with this Idempotency-Key is still being answered; retry when it is done");
			goto out;
		}
	}
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 16;
		char **k = realloc(f->keys, cap * sizeof(*k));
		if (!k) {
			error = pv_error_set(PV_ERROR, NULL, "out of memory");
			goto out;
		}
		f->keys = k;
		f->cap = cap;
	}
	if (!(f->keys[f->n] = strdup(slot))) {
		error = pv_error_set(PV_ERROR, NULL, "out of memory");
		goto out;
	}
	f->n++;
out:
	pthread_mutex_unlock(&f->lock);
	return error;
}

void pv_api_release(struct pv_api *api, struct pv_response *resp)
{
	struct inflight *f = &api->inflight;

	if (!resp->idem_slot[0])
		return;
	pthread_mutex_lock(&f->lock);
	for (size_t i = 0; i < f->n; i++) {
		if (strcmp(f->keys[i], resp->idem_slot) == 0) {
			free(f->keys[i]);
			f->keys[i] = f->keys[--f->n];
			break;
		}
	}
	pthread_mutex_unlock(&f->lock);
	resp->idem_slot[0] = '\0';
}

/* Record a successful write's key inside its transaction. */
static int idem_record(struct pv_store *st, const struct idem_ctx *idem, const struct pv_env *env, enum pv_wait_kind kind)
{
	struct pv_idem rec = { .env_id = env->id, .wait_kind = (int)kind, .wait_gen = env->gen };

	if (!idem)
		return 0;
	memcpy(rec.fingerprint, idem->fingerprint, sizeof(rec.fingerprint));
	return pv_store_idem_put(st, idem->actor, idem->key, &rec, (int64_t)time(NULL));
}

const struct pv_config *pv_api_config(const struct pv_api *api)
{
	return api->cfg;
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
	snprintf(type, sizeof(type), "urn:previewd:problem:%s", pv_error_slug(code));
	resp->body = json_pack("{s:s, s:s, s:i, s:o}", "type", type, "title", pv_error_title(code),
		"status", resp->status, "detail",
		safe_string(e->code == code && e->message[0] ? e->message : pv_error_title(code)));
	if (resp->body && e->code == code && e->field[0])
		json_object_set_new(resp->body, "field", safe_string(e->field));
	if (resp->body && instance)
		json_object_set_new(resp->body, "instance", safe_string(instance));
}

/* ---- JSON of an environment --------------------------------------------- */

static json_t *time_json(int64_t t)
{
	char buf[32];
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0)
		return json_null();
	gmtime_r(&tt, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return json_string(buf);
}

static json_t *env_json(const struct pv_api *api, const struct pv_env *env)
{
	char url[256], path[256];
	json_t *values = json_loads(env->values_json, 0, NULL);

	snprintf(url, sizeof(url), "http://%s.%s", env->name, api->cfg->domain);
	snprintf(path, sizeof(path), "%s/%s", api->cfg->env_dir, env->name);
	/* what Argo CD last said; null until it was asked (not configured, or
	 * not reached yet) - its age is checked_at, so a stale answer shows */
	json_t *argocd = env->argocd_checked_at
		? json_pack("{s:s, s:s, s:o}", "sync", env->argocd_sync, "health", env->argocd_health,
			"checked_at", time_json(env->argocd_checked_at))
		: json_null();

	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, "
			 "s:{s:s, s:o, s:b, s:o, s:o}, s:o}",
		"name", env->name, "owner", env->owner, "status", env->status, "url", url,
		"namespace", env->name, "base", env->base, "requested_by", env->requested_by,
		"cluster", env->cluster[0] ? json_string(env->cluster) : json_null(),
		"created_at", time_json(env->created_at), "updated_at", time_json(env->updated_at),
		"expires_at", time_json(env->expires_at), "deleted_at", time_json(env->deleted_at),
		"values", values ? values : json_object(),
		"ttl_seconds", env->expires_at == 0 ? json_null()
			: json_integer(env->expires_at > time(NULL) && strcmp(env->status, PV_STATUS_DELETED) != 0 &&
					       strcmp(env->status, PV_STATUS_FAILED) != 0
				       ? env->expires_at - (int64_t)time(NULL) : 0),
		"git", "path", path,
		"commit", env->git_commit[0] ? json_string(env->git_commit) : json_null(),
		"pending", env->gen > env->pushed_gen,
		"error", env->git_error ? json_string(env->git_error) : json_null(),
		"pushed_at", time_json(env->pushed_at),
		"argocd", argocd);
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

/* ttl from the request: seconds, or 0 for "never" (only where configured);
 * the default when absent. */
static int parse_ttl(long long *out, const struct pv_api *api, json_t *doc)
{
	json_t *v = json_object_get(doc, "ttl");
	char max[32], asked[32], min[32];
	long long secs;

	*out = api->cfg->default_ttl;
	if (!v)
		return 0;
	if (json_is_string(v) && strcmp(json_string_value(v), "never") == 0) {
		if (!api->cfg->allow_never)
			return pv_error_set(PV_EINVAL, "ttl", "ttl \"never\" is not allowed here: environments must expire");
		*out = 0;
		return 0;
	}
	if (json_is_integer(v)) {
		secs = json_integer_value(v);
		if (secs <= 0)
			return pv_error_set(PV_EINVAL, "ttl", "ttl must be a positive number of seconds");
	} else if (json_is_string(v)) {
		if (pv_valid_duration(&secs, json_string_value(v), "ttl") < 0)
			return PV_EINVAL;
	} else {
		return pv_error_set(PV_EINVAL, "ttl", "ttl must be a duration string such as \"8h\" or a number of seconds");
	}
	pv_valid_format_duration(asked, sizeof(asked), secs);
	if (secs < api->cfg->min_ttl) {
		pv_valid_format_duration(min, sizeof(min), api->cfg->min_ttl);
		return pv_error_set(PV_EINVAL, "ttl", "ttl %s is below the minimum of %s", asked, min);
	}
	if (secs > api->cfg->max_ttl) {
		pv_valid_format_duration(max, sizeof(max), api->cfg->max_ttl);
		return pv_error_set(PV_EINVAL, "ttl", "ttl %s exceeds the maximum of %s", asked, max);
	}
	*out = secs;
	return 0;
}

static void format_utc(char *buf, size_t len, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* PREVIEWD_MAX_LIFETIME: however often it is extended, an environment does
 * not outlive created_at + max_lifetime.  The error says by how much the
 * request overshoots and what the latest possible expiry is. */
static int check_lifetime(const struct pv_api *api, int64_t created_at, int64_t expires_at)
{
	char cap[32], over[32], until[32];
	int64_t limit;

	if (api->cfg->max_lifetime <= 0)
		return 0;
	limit = created_at + api->cfg->max_lifetime;
	pv_valid_format_duration(cap, sizeof(cap), api->cfg->max_lifetime);
	format_utc(until, sizeof(until), limit);
	if (expires_at == 0)
		return pv_error_set(PV_EINVAL, "ttl", "ttl \"never\" exceeds the maximum lifetime of %s (until %s at most)",
			cap, until);
	if (expires_at <= limit)
		return 0;
	pv_valid_format_duration(over, sizeof(over), expires_at - limit);
	return pv_error_set(PV_EINVAL, "ttl", "ttl would pass the maximum lifetime of %s by %s; it can run until %s at most",
		cap, over, until);
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
	resp->body = env_json(api, env);
}

/* Render merged values once to make sure they survive YAML as written. */
static int check_render(const struct pv_api *api, const json_t *values)
{
	char *yaml = NULL;
	size_t len = 0;
	int error;

	if ((error = pv_values_check(values, VALUES_MAX_DEPTH)) < 0)
		return pv_error_set(error, "values", "%s", pv_error_last()->message);
	error = pv_values_render(&yaml, &len, NULL, values, (size_t)api->cfg->max_values_bytes);
	free(yaml);
	/* the body was within its limit; what is too large is the merged
	 * result, a property of the request's content: 422, not 413 */
	if (error == PV_ETOOBIG)
		error = PV_EINVAL;
	if (error < 0)
		return pv_error_set(error, "values", "%s", pv_error_last()->message);
	return 0;
}

/* The values an environment starts from: a live previewd environment's
 * recorded values (pushed or not), else a people-managed folder's
 * values.yaml from Git. */
static int base_values(json_t **out, struct pv_api *api, struct pv_store *st, const char *base)
{
	char *yaml = NULL;
	size_t len = 0;
	int exists, managed, error;
	struct pv_env env;

	*out = NULL;
	error = pv_store_env_get(st, &env, base);
	if (error == 0 && pv_env_is_live(&env)) {
		*out = json_loads(env.values_json, 0, NULL);
		pv_env_dispose(&env);
		return *out ? 0 : pv_error_set(PV_ERROR, NULL, "recorded values of '%s' are unreadable", base);
	}
	pv_env_dispose(&env);
	if (error < 0 && error != PV_ENOTFOUND)
		return error;
	if ((error = api->git.folder(api->git.ctx, base, &exists, &managed, &yaml, &len)) < 0)
		return error;
	if (!exists || managed || !yaml) {
		free(yaml);
		return pv_error_set(PV_EINVAL, "base", "base '%s' is neither a live environment nor a folder with a values.yaml in %s/",
			base, api->cfg->env_dir);
	}
	error = pv_values_from_yaml(out, yaml, len);
	free(yaml);
	if (error == PV_EINVAL || error == PV_ETOOBIG)
		return pv_error_set(error, "base", "values.yaml of base '%s' cannot be used: %s", base, pv_error_last()->message);
	return error;
}

static int get_store(struct pv_store **st)
{
	int error = pv_store_thread(st);

	if (error < 0)
		return pv_error_set(PV_EUNAVAIL, NULL, "the database is unavailable: %s", pv_error_last()->message);
	return 0;
}

/* Quotas, checked inside the create transaction so that concurrent creates
 * cannot both slip under a limit. */
static int check_quota(struct pv_api *api, struct pv_store *st, const char *owner)
{
	long long of_owner, total;
	int error;

	if (!api->cfg->max_envs_per_owner && !api->cfg->max_envs)
		return 0;
	if ((error = pv_store_count_live(st, owner, &of_owner, &total)) < 0)
		return error;
	if (api->cfg->max_envs_per_owner && of_owner >= api->cfg->max_envs_per_owner)
		return pv_error_set(PV_EQUOTA, "owner",
			"owner '%s' has %lld live environments and the limit per owner is %lld (PREVIEWD_MAX_ENVS_PER_OWNER); "
			"delete one first", owner, of_owner, api->cfg->max_envs_per_owner);
	if (api->cfg->max_envs && total >= api->cfg->max_envs)
		return pv_error_set(PV_EQUOTA, NULL,
			"previewd holds %lld live environments and the total limit is %lld (PREVIEWD_MAX_ENVS)",
			total, api->cfg->max_envs);
	return 0;
}

/* ---- handlers ----------------------------------------------------------- */

static int env_create(struct pv_api *api, const struct pv_request *req, struct pv_response *resp,
	const struct idem_ctx *idem)
{
	static const char *const allowed[] = { "owner", "name", "ttl", "base", "values", "cluster", NULL };
	json_t *doc = NULL, *base = NULL, *merged = NULL, *values;
	const char *owner, *name, *base_name, *cluster;
	struct pv_store *st;
	struct pv_env env = { 0 };
	long long ttl;
	int exists, managed, error;
	int64_t now = (int64_t)time(NULL);

	if ((error = parse_body(&doc, req)) < 0 || (error = check_keys(doc, allowed)) < 0 ||
	    (error = get_string(&owner, doc, "owner")) < 0 || (error = get_string(&name, doc, "name")) < 0 ||
	    (error = get_string(&base_name, doc, "base")) < 0 || (error = get_string(&cluster, doc, "cluster")) < 0)
		goto out;
	if (!cluster)
		cluster = api->cfg->default_cluster ? api->cfg->default_cluster : "";
	/* an Argo CD cluster name: it lands in a file a generator reads */
	if (*cluster && (strlen(cluster) > 63 || strspn(cluster, "abcdefghijklmnopqrstuvwxyz0123456789-.") != strlen(cluster) ||
			 !isalnum((unsigned char)cluster[0]))) {
		error = pv_error_set(PV_EINVAL, "cluster", "cluster must be an Argo CD cluster name: 1-63 characters of a-z, 0-9, '-' and '.'");
		goto out;
	}
	if (!owner) {
		error = pv_error_set(PV_EINVAL, "owner", "owner is required");
		goto out;
	}
	if (!name)
		name = owner;
	if (!base_name)
		base_name = api->cfg->base_env;
	if ((error = pv_valid_name(owner, "owner")) < 0 || (error = pv_valid_name(name, "name")) < 0 ||
	    (error = pv_valid_reserved(name, "name", api->cfg->reserved, api->cfg->reserved_count)) < 0 ||
	    (error = pv_valid_name(base_name, "base")) < 0 || (error = parse_ttl(&ttl, api, doc)) < 0)
		goto out;
	values = json_object_get(doc, "values");
	if (values && !json_is_object(values)) {
		error = pv_error_set(PV_EINVAL, "values", "values must be a JSON object");
		goto out;
	}
	if ((error = api->git.folder(api->git.ctx, name, &exists, &managed, NULL, NULL)) < 0)
		goto out;
	if (exists && !managed) {
		error = pv_error_set(PV_ECONFLICT, "name", "the folder %s/%s exists in Git and is not managed by previewd",
			api->cfg->env_dir, name);
		goto out;
	}
	if ((error = get_store(&st)) < 0 || (error = base_values(&base, api, st, base_name)) < 0)
		goto out;
	merged = values ? pv_values_merge_patch(base, values) : json_incref(base);
	if (!merged) {
		error = pv_error_set(PV_ERROR, NULL, "out of memory");
		goto out;
	}
	if ((error = check_render(api, merged)) < 0)
		goto out;

	snprintf(env.name, sizeof(env.name), "%s", name);
	snprintf(env.owner, sizeof(env.owner), "%s", owner);
	snprintf(env.status, sizeof(env.status), "%s", PV_STATUS_PENDING);
	snprintf(env.base, sizeof(env.base), "%s", base_name);
	snprintf(env.cluster, sizeof(env.cluster), "%s", cluster);
	env.values_json = json_dumps(merged, JSON_COMPACT | JSON_PRESERVE_ORDER);
	env.requested_by = strdup(req->actor ? req->actor : "anonymous");
	env.created_at = env.updated_at = now;
	env.expires_at = ttl ? now + ttl : 0;
	if ((error = check_lifetime(api, now, env.expires_at)) < 0)
		goto out;
	if (!env.values_json || !env.requested_by) {
		error = pv_error_set(PV_ERROR, NULL, "out of memory");
		goto out;
	}
	if ((error = pv_store_begin(st)) < 0)
		goto out;
	if ((error = check_quota(api, st, owner)) < 0 ||
	    (error = pv_store_env_insert(st, &env)) < 0 ||
	    (error = idem_record(st, idem, &env, PV_WAIT_CREATE)) < 0 ||
	    (error = pv_store_event_add(st, &env, "created", env.requested_by, req->remote_addr, now, NULL)) < 0 ||
	    (error = pv_store_commit(st)) < 0) {
		pv_store_rollback(st);
		goto out;
	}
	api->git.kick(api->git.ctx);
	snprintf(resp->location, sizeof(resp->location), "/v1/environments/%s", env.name);
	set_wait(api, req, resp, PV_WAIT_CREATE, &env);
	log_info("api: %s requested %s for %s", env.requested_by, env.name, env.owner);
out:
	pv_env_dispose(&env);
	json_decref(merged);
	json_decref(base);
	json_decref(doc);
	return error;
}

static int env_get(struct pv_api *api, const char *name, struct pv_response *resp)
{
	struct pv_store *st;
	struct pv_env env;
	int error;

	if ((error = get_store(&st)) < 0)
		return error;
	if ((error = pv_store_env_get(st, &env, name)) < 0) {
		if (error == PV_ENOTFOUND)
			pv_error_set(PV_ENOTFOUND, NULL, "no environment named '%s'", name);
		return error;
	}
	resp->status = 200;
	resp->body = env_json(api, &env);
	pv_env_dispose(&env);
	return 0;
}

/* Load the live environment for a change, inside the caller's transaction. */
static int load_live(struct pv_store *st, struct pv_env *env, const char *name)
{
	int error = pv_store_env_get(st, env, name);

	if (error == PV_ENOTFOUND || (error == 0 && !pv_env_is_live(env) && strcmp(env->status, PV_STATUS_FAILED) != 0))
		return pv_error_set(PV_ENOTFOUND, NULL, "no live environment named '%s'", name);
	return error;
}

static int env_patch(struct pv_api *api, const struct pv_request *req, const char *name, struct pv_response *resp,
	const struct idem_ctx *idem)
{
	static const char *const allowed[] = { "ttl", "values", NULL };
	json_t *doc = NULL, *patch, *current = NULL, *merged = NULL, *detail = NULL;
	struct pv_store *st;
	struct pv_env env = { 0 };
	long long ttl = 0;
	int error, in_tx = 0, extend = 0;
	int64_t now = (int64_t)time(NULL);
	char *values_json = NULL, *detail_s = NULL;

	if ((error = parse_body(&doc, req)) < 0 || (error = check_keys(doc, allowed)) < 0)
		goto out;
	patch = json_object_get(doc, "values");
	if (!patch && !json_object_get(doc, "ttl")) {
		error = pv_error_set(PV_EINVAL, "ttl", "a PATCH needs ttl or values");
		goto out;
	}
	if (patch && !json_is_object(patch)) {
		error = pv_error_set(PV_EINVAL, "values", "values must be a JSON object (a JSON merge patch)");
		goto out;
	}
	if ((extend = json_object_get(doc, "ttl") != NULL) && (error = parse_ttl(&ttl, api, doc)) < 0)
		goto out;
	if ((error = get_store(&st)) < 0 || (error = pv_store_begin(st)) < 0)
		goto out;
	in_tx = 1;
	if ((error = pv_store_env_get(st, &env, name)) < 0) {
		if (error == PV_ENOTFOUND)
			pv_error_set(PV_ENOTFOUND, NULL, "no environment named '%s'", name);
		goto out;
	}
	if (strcmp(env.status, PV_STATUS_PENDING) != 0 && strcmp(env.status, PV_STATUS_ACTIVE) != 0) {
		error = pv_error_set(PV_ECONFLICT, NULL, "environment '%s' is %s and can no longer be changed", name, env.status);
		goto out;
	}
	detail = json_object();
	if (patch) {
		current = json_loads(env.values_json, 0, NULL);
		merged = current ? pv_values_merge_patch(current, patch) : NULL;
		if (!merged || !json_is_object(merged)) {
			error = pv_error_set(PV_ERROR, NULL, "cannot apply the values patch");
			goto out;
		}
		if ((error = check_render(api, merged)) < 0)
			goto out;
		if (!(values_json = json_dumps(merged, JSON_COMPACT | JSON_PRESERVE_ORDER))) {
			error = pv_error_set(PV_ERROR, NULL, "out of memory");
			goto out;
		}
		free(env.values_json);
		env.values_json = values_json;
		values_json = NULL;
		json_object_set(detail, "values", patch);
	}
	if (extend) {
		int64_t expires = ttl ? now + ttl : 0;
		if ((error = check_lifetime(api, env.created_at, expires)) < 0)
			goto out;
		json_object_set_new(detail, "previous_expires_at", time_json(env.expires_at));
		env.expires_at = expires;
		json_object_set_new(detail, "expires_at", time_json(env.expires_at));
	}
	env.updated_at = now;
	snprintf(env.changed_by, sizeof(env.changed_by), "%s", req->actor ? req->actor : "anonymous");
	detail_s = json_dumps(detail, JSON_COMPACT);
	if ((error = pv_store_env_save(st, &env)) < 0 ||
	    (error = idem_record(st, idem, &env, PV_WAIT_UPDATE)) < 0 ||
	    (patch && (error = pv_store_event_add(st, &env, "updated", req->actor ? req->actor : "anonymous",
		     req->remote_addr, now, detail_s)) < 0) ||
	    (extend && (error = pv_store_event_add(st, &env, "extended", req->actor ? req->actor : "anonymous",
		     req->remote_addr, now, detail_s)) < 0) ||
	    (error = pv_store_commit(st)) < 0)
		goto out;
	in_tx = 0;
	api->git.kick(api->git.ctx);
	set_wait(api, req, resp, PV_WAIT_UPDATE, &env);
out:
	if (in_tx)
		pv_store_rollback(st);
	free(detail_s);
	free(values_json);
	json_decref(detail);
	json_decref(merged);
	json_decref(current);
	json_decref(doc);
	pv_env_dispose(&env);
	return error;
}

static int env_delete(struct pv_api *api, const struct pv_request *req, const char *name, struct pv_response *resp,
	const struct idem_ctx *idem)
{
	struct pv_store *st;
	struct pv_env env = { 0 };
	int error, in_tx = 0;
	int64_t now = (int64_t)time(NULL);

	if ((error = get_store(&st)) < 0 || (error = pv_store_begin(st)) < 0)
		goto out;
	in_tx = 1;
	if ((error = load_live(st, &env, name)) < 0)
		goto out;
	if (strcmp(env.status, PV_STATUS_FAILED) == 0) {
		error = pv_error_set(PV_ENOTFOUND, NULL, "no live environment named '%s' (its creation failed)", name);
		goto out;
	}
	/* a second DELETE while the first is in flight waits for the same push */
	if (strcmp(env.status, PV_STATUS_DELETING) != 0) {
		snprintf(env.status, sizeof(env.status), "%s", PV_STATUS_DELETING);
		env.updated_at = now;
		snprintf(env.changed_by, sizeof(env.changed_by), "%s", req->actor ? req->actor : "anonymous");
		if ((error = pv_store_env_save(st, &env)) < 0 ||
		    (error = pv_store_event_add(st, &env, "deleting", req->actor ? req->actor : "anonymous", req->remote_addr, now, NULL)) < 0)
			goto out;
	}
	if ((error = idem_record(st, idem, &env, PV_WAIT_DELETE)) < 0 || (error = pv_store_commit(st)) < 0)
		goto out;
	in_tx = 0;
	api->git.kick(api->git.ctx);
	set_wait(api, req, resp, PV_WAIT_DELETE, &env);
out:
	if (in_tx)
		pv_store_rollback(st);
	pv_env_dispose(&env);
	return error;
}

static int event_one(const struct pv_event *ev, void *payload)
{
	json_t *items = payload, *detail = ev->detail_json ? json_loads(ev->detail_json, 0, NULL) : NULL;
	json_t *j = json_pack("{s:I, s:s, s:s, s:s, s:o, s:o}", "id", (json_int_t)ev->id, "environment", ev->name,
		"kind", ev->kind, "actor", ev->actor, "at", time_json(ev->at), "detail", detail ? detail : json_null());

	if (!j || json_array_append_new(items, j) < 0)
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	return 0;
}

static int env_events(const char *name, struct pv_response *resp)
{
	struct pv_store *st;
	json_t *items;
	int error;

	if ((error = get_store(&st)) < 0)
		return error;
	if (!(items = json_array()))
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	if ((error = pv_store_events(st, name, event_one, items)) < 0) {
		json_decref(items);
		return error;
	}
	if (json_array_size(items) == 0) {
		json_decref(items);
		return pv_error_set(PV_ENOTFOUND, NULL, "no environment named '%s'", name);
	}
	resp->status = 200;
	resp->body = json_pack("{s:o}", "items", items);
	return resp->body ? 0 : pv_error_set(PV_ERROR, NULL, "out of memory");
}

struct list_ctx {
	struct pv_api *api;
	json_t *items;
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
	j = env_json(lc->api, env);
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

static int env_list(struct pv_api *api, const struct pv_request *req, struct pv_response *resp)
{
	static const char *const statuses[] = { PV_STATUS_PENDING, PV_STATUS_ACTIVE, PV_STATUS_DELETING,
		PV_STATUS_DELETED, PV_STATUS_FAILED, NULL };
	struct pv_store_filter f = { 0 };
	struct list_ctx lc = { .api = api };
	const char *limit = req->query ? req->query(req->query_ctx, "limit") : NULL;
	const char *cursor = req->query ? req->query(req->query_ctx, "cursor") : NULL;
	const char *sort = req->query ? req->query(req->query_ctx, "sort") : NULL;
	struct pv_store *st;
	char *end, next[96], name_buf[PV_NAME_MAX + 1];
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
			return pv_error_set(PV_EINVAL, "status", "status must be one of pending, active, deleting, deleted, failed");
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
		if (errno || *end || end == limit || v < 1 || v > LIST_MAX)
			return pv_error_set(PV_EINVAL, "limit", "limit must be an integer from 1 to %d", LIST_MAX);
		f.limit = (int)v;
	}
	if (cursor && (error = parse_cursor(&f, cursor, name_buf, sizeof(name_buf))) < 0)
		return error;
	lc.want = f.limit;
	f.limit++;
	if ((error = get_store(&st)) < 0)
		return error;
	if (!(lc.items = json_array()))
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	if ((error = pv_store_env_list(st, &f, list_one, &lc)) < 0) {
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
	resp->body = json_pack("{s:o, s:o}", "items", lc.items,
		"next_cursor", lc.more ? json_string(next) : json_null());
	return resp->body ? 0 : pv_error_set(PV_ERROR, NULL, "out of memory");
}

static int health(struct pv_response *resp)
{
	resp->status = 200;
	resp->body = json_pack("{s:s}", "status", "ok");
	return 0;
}

/* Git trouble is "degraded", not "not ready": previewd keeps accepting
 * requests while Git is away, so it must stay in the Service's endpoints.
 * Not ready (503) means the database is unusable, or previewd has never
 * seen the branch and so cannot validate a create yet ("starting"). */
static int ready(struct pv_api *api, struct pv_response *resp)
{
	struct pv_store *st;
	int db_ok, git_ok = 1, known = 1, argo_on = 0, argo_ok = 1;
	char git_error[256] = "", argo_error[256] = "";
	int64_t argo_poll = 0;
	int64_t last_push = 0;
	const char *status;

	db_ok = pv_store_thread(&st) == 0 && pv_store_ping(st) == 0;
	if (api->git.status)
		api->git.status(api->git.ctx, &known, &git_ok, git_error, sizeof(git_error), &last_push);
	if (api->git.argocd)
		api->git.argocd(api->git.ctx, &argo_on, &argo_ok, argo_error, sizeof(argo_error), &argo_poll);
	/* Argo CD trouble only degrades: it never stops a request */
	status = !db_ok ? "unavailable" : !known ? "starting" : git_ok && (!argo_on || argo_ok) ? "ready" : "degraded";
	resp->status = db_ok && known ? 200 : 503;
	resp->body = json_pack("{s:s, s:{s:{s:b, s:o}, s:{s:b, s:b, s:o, s:o}}}",
		"status", status,
		"checks",
		"db", "ok", db_ok, "error", db_ok ? json_null() : json_string(pv_error_last()->message),
		"git", "ok", git_ok && known, "branch_known", known,
		"error", git_error[0] ? json_string(git_error) : json_null(),
		"last_push_at", time_json(last_push));
	if (resp->body && argo_on)
		json_object_set_new(json_object_get(resp->body, "checks"), "argocd",
			json_pack("{s:b, s:o, s:o}", "ok", argo_ok, "error", argo_error[0] ? json_string(argo_error) : json_null(),
				"last_poll_at", time_json(argo_poll)));
	return 0;
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

static int metrics(struct pv_api *api, struct pv_response *resp)
{
	struct status_counts counts = { { 0 } };
	struct pv_strbuf out = PV_STRBUF_INIT;
	struct pv_store *st;
	int error;

	if ((error = get_store(&st)) < 0 || (error = pv_store_count_by_status(st, count_status, &counts)) < 0)
		return error;
	error = pv_strbuf_printf(&out,
		"# HELP previewd_environments Environments recorded, by status.\n"
		"# TYPE previewd_environments gauge\n");
	for (size_t i = 0; i < 5 && error == 0; i++)
		error = pv_strbuf_printf(&out, "previewd_environments{status=\"%s\"} %lld\n", all_statuses[i], counts.n[i]);
	if (error == 0)
		error = pv_metrics_http_format(&out);
	if (error == 0 && api->git.metrics)
		error = api->git.metrics(api->git.ctx, &out);
	if (error < 0) {
		pv_strbuf_dispose(&out);
		return error;
	}
	resp->status = 200;
	resp->text = out.buf; /* ownership moves to the response */
	resp->text_type = "text/plain; version=0.0.4; charset=utf-8";
	return 0;
}

/* ---- routing ------------------------------------------------------------ */

static int method_not_allowed(struct pv_response *resp, const char *allow)
{
	snprintf(resp->allow, sizeof(resp->allow), "%s", allow);
	return pv_error_set(PV_EMETHOD, NULL, "method not allowed here; allowed: %s", allow);
}

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
	if (strcmp(p, "/") == 0)
		return PV_ROUTE_PAGE;
	if (strcmp(p, "/v1/info") == 0)
		return PV_ROUTE_INFO;
	if (strncmp(p, "/v1/chatops", 11) == 0)
		return PV_ROUTE_CHATOPS;
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

/* The built-in page: a list of environments with their URL and time left,
 * fetched by the browser from the API like any other client. */
static int page(struct pv_response *resp)
{
	for (size_t i = 0; i < pv_embedded_page_count; i++) {
		if (strcmp(pv_embedded_page[i].path, "index.html") != 0)
			continue;
		if (!(resp->text = strndup((const char *)pv_embedded_page[i].data, pv_embedded_page[i].len)))
			return pv_error_set(PV_ERROR, NULL, "out of memory");
		resp->status = 200;
		resp->text_type = "text/html; charset=utf-8";
		return 0;
	}
	return pv_error_set(PV_ENOTFOUND, NULL, "no page built in");
}

/* What a portal needs to render its form: where environments live, the TTL
 * limits, and the bases a request may start from. */
static int info(struct pv_api *api, struct pv_response *resp)
{
	const struct pv_config *c = api->cfg;
	json_t *bases = json_array();
	char def[32], max[32], min[32], life[32];

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
	return resp->body ? 0 : pv_error_set(PV_ERROR, NULL, "out of memory");
}

static int route(struct pv_api *api, const struct pv_request *req, struct pv_response *resp,
	const struct idem_ctx *idem)
{
	const char *m = req->method, *p = req->path;
	static const char prefix[] = "/v1/environments";

	if (strcmp(p, "/healthz") == 0)
		return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0 ? health(resp) : method_not_allowed(resp, "GET, HEAD");
	if (strcmp(p, "/readyz") == 0)
		return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0 ? ready(api, resp) : method_not_allowed(resp, "GET, HEAD");
	if (strcmp(p, "/metrics") == 0)
		return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0 ? metrics(api, resp) : method_not_allowed(resp, "GET, HEAD");
	if (strcmp(p, "/") == 0)
		return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0 ? page(resp) : method_not_allowed(resp, "GET, HEAD");
	if (strcmp(p, "/v1/info") == 0)
		return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0 ? info(api, resp) : method_not_allowed(resp, "GET, HEAD");
	if (strcmp(p, "/v1/chatops/slack") == 0)
		return strcmp(m, "POST") == 0 ? pv_chatops_slack(api, req, resp) : method_not_allowed(resp, "POST");
	if (strcmp(p, "/v1/chatops") == 0)
		return strcmp(m, "POST") == 0 ? pv_chatops_json(api, req, resp) : method_not_allowed(resp, "POST");
	if (strcmp(p, prefix) == 0) {
		if (strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0)
			return env_list(api, req, resp);
		if (strcmp(m, "POST") == 0)
			return env_create(api, req, resp, idem);
		return method_not_allowed(resp, "GET, HEAD, POST");
	}
	if (strncmp(p, prefix, sizeof(prefix) - 1) == 0 && p[sizeof(prefix) - 1] == '/') {
		const char *name = p + sizeof(prefix), *slash = strchr(name, '/');
		char buf[PV_NAME_MAX + 2];

		if (slash && strcmp(slash, "/events") == 0 && (size_t)(slash - name) <= PV_NAME_MAX) {
			snprintf(buf, sizeof(buf), "%.*s", (int)(slash - name), name);
			if (pv_valid_name(buf, "name") < 0)
				return pv_error_set(PV_ENOTFOUND, NULL, "no environment at %.100s", p);
			if (strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0)
				return env_events(buf, resp);
			return method_not_allowed(resp, "GET, HEAD");
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
static int authorize(const struct pv_request *req, char *actor, size_t len)
{
	enum pv_role role, need;
	struct pv_store *st;
	int error;

	snprintf(actor, len, "anonymous");
	if (strncmp(req->path, "/v1/", 4) != 0)
		return 0;
	if (req->trusted_actor) {
		snprintf(actor, len, "%s", req->trusted_actor);
		return 0;
	}
	/* Slack's requests are signed, not token-bearing: chatops checks them */
	if (strcmp(req->path, "/v1/chatops/slack") == 0)
		return 0;
	need = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0 ? PV_ROLE_READER : PV_ROLE_WRITER;
	if ((error = get_store(&st)) < 0 ||
	    (error = pv_auth_check(st, req->authorization, req->remote_addr, actor, len, &role)) < 0)
		return error;
	if (role < need)
		return pv_error_set(PV_EFORBIDDEN, NULL, "token '%s' has the role %s; this needs %s", actor,
			role == PV_ROLE_READER ? "reader" : role == PV_ROLE_WRITER ? "writer" : "admin",
			need == PV_ROLE_READER ? "reader" : "writer");
	return 0;
}

static void fingerprint(char out[72], const struct pv_request *req)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	out[0] = '\0';
	if (ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) &&
	    EVP_DigestUpdate(ctx, req->method, strlen(req->method) + 1) &&
	    EVP_DigestUpdate(ctx, req->path, strlen(req->path) + 1) &&
	    EVP_DigestUpdate(ctx, req->body, req->body_len) && EVP_DigestFinal_ex(ctx, md, &n))
		for (unsigned int i = 0; i < n; i++)
			snprintf(out + 2 * i, 3, "%02x", md[i]);
	EVP_MD_CTX_free(ctx);
}

/* Answer from a stored key: the stored failure, or the current state of the
 * environment the first request changed (201/200 once pushed, else 202). */
static int idem_replay(struct pv_api *api, const struct pv_request *req, const struct pv_idem *rec,
	struct pv_response *resp)
{
	struct pv_store *st;
	struct pv_env env;
	int error;

	resp->replayed = 1;
	if (rec->status) {
		resp->status = rec->status;
		resp->problem = 1;
		resp->body = rec->body ? json_loads(rec->body, 0, NULL) : NULL;
		return resp->body ? 0 : pv_error_set(PV_ERROR, NULL, "the stored answer is unreadable");
	}
	if ((error = get_store(&st)) < 0 || (error = pv_store_env_get_id(st, &env, rec->env_id)) < 0)
		return error;
	if (rec->wait_kind == PV_WAIT_CREATE)
		snprintf(resp->location, sizeof(resp->location), "/v1/environments/%s", env.name);
	env.gen = rec->wait_gen;
	set_wait(api, req, resp, (enum pv_wait_kind)rec->wait_kind, &env);
	resp->wait_ms = 0; /* the first request already waited */
	pv_env_dispose(&env);
	return 0;
}

/* Store a 4xx answer under its key, so the retry gets the same answer. */
static void idem_store_failure(const struct idem_ctx *idem, const struct pv_response *resp)
{
	struct pv_idem rec = { .status = resp->status };
	struct pv_store *st;

	if (resp->status < 400 || resp->status >= 500 || resp->status == 409 || resp->status == 429 ||
	    get_store(&st) < 0)
		return; /* conflicts, quotas and server trouble may pass: a retry is meant to try again */
	memcpy(rec.fingerprint, idem->fingerprint, sizeof(rec.fingerprint));
	rec.body = json_dumps(resp->body, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (pv_store_begin(st) == 0) {
		if (pv_store_idem_put(st, idem->actor, idem->key, &rec, (int64_t)time(NULL)) < 0 || pv_store_commit(st) < 0)
			pv_store_rollback(st);
	}
	free(rec.body);
}

void pv_api_handle(struct pv_api *api, const struct pv_request *in, struct pv_response *resp)
{
	struct pv_request req = *in;
	struct idem_ctx idem_buf, *idem = NULL;
	struct pv_idem rec;
	struct pv_store *st;
	char actor[64], slot[sizeof(resp->idem_slot)];
	int error;

	response_reset(resp);
	pv_error_clear();
	slot[0] = '\0';
	if ((error = authorize(&req, actor, sizeof(actor))) < 0)
		goto fail;
	req.actor = actor;
	if (req.idempotency_key && strcmp(req.method, "GET") != 0 && strcmp(req.method, "HEAD") != 0 &&
	    strncmp(req.path, "/v1/", 4) == 0) {
		size_t n = strlen(req.idempotency_key);
		if (n == 0 || n > 255 || strspn(req.idempotency_key,
			"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:~+/=\"") != n) {
			error = pv_error_set(PV_EBADREQ, "Idempotency-Key",
				"Idempotency-Key must be 1-255 characters of letters, digits and -_.:~+/=\"");
			goto fail;
		}
		idem_buf.actor = actor;
		idem_buf.key = req.idempotency_key;
		fingerprint(idem_buf.fingerprint, &req);
		snprintf(slot, sizeof(slot), "%s\n%s", actor, req.idempotency_key);
		if ((error = inflight_add(api, slot)) < 0) {
			slot[0] = '\0';
			goto fail;
		}
		if ((error = get_store(&st)) < 0)
			goto fail;
		error = pv_store_idem_get(st, actor, req.idempotency_key, &rec);
		if (error == 0) {
			if (strcmp(rec.fingerprint, idem_buf.fingerprint) != 0)
				error = pv_error_set(PV_EINVAL, "Idempotency-Key",
					"this Idempotency-Key was used for a different request");
			else
				error = idem_replay(api, &req, &rec, resp);
			free(rec.body);
			if (error < 0)
				goto fail;
			goto done;
		}
		if (error != PV_ENOTFOUND)
			goto fail;
		idem = &idem_buf;
	}
	error = route(api, &req, resp, idem);
	if (error < 0)
		goto fail;
	if (!resp->body && !resp->text) {
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
		if (idem)
			idem_store_failure(idem, resp);
	}
done:
	memcpy(resp->idem_slot, slot, sizeof(slot));
	resp->route = (int)classify(req.method, req.path);
}

void pv_api_finish(struct pv_api *api, struct pv_response *resp)
{
	struct pv_store *st;
	struct pv_env env;
	int landed;

	if (resp->wait == PV_WAIT_NONE)
		return;
	if (get_store(&st) < 0 || pv_store_env_get_id(st, &env, resp->wait_id) < 0)
		return; /* keep the 202 and the body recorded at acceptance */
	json_decref(resp->body);
	resp->body = env_json(api, &env);
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
	struct pv_store *st;
	struct pv_env env;
	int done;

	(void)api;
	if (resp->wait == PV_WAIT_NONE)
		return 1;
	if (get_store(&st) < 0 || pv_store_env_get_id(st, &env, resp->wait_id) < 0)
		return 0;
	done = env.pushed_gen >= resp->wait_gen || strcmp(env.status, PV_STATUS_FAILED) == 0;
	pv_env_dispose(&env);
	return done;
}
