/*
 * forge.c - the pv-forge thread's loop, its HTTP calls and the sticky
 * comment (see forge.h); each forge's REST shapes are forge_github.c's,
 * forge_gitlab.c's and forge_gitea.c's.
 */
#include "forge.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "forge_int.h"
#include "log.h"
#include "outbound.h"
#include "store.h"
#include "strbuf.h"
#include "timefmt.h"
#include "worker.h"

#define BATCH 50
#define POLL_S 10              /* a pass at least this often, kicked or not */
#define HOLD_DEFAULT_S 60      /* a rate limit that names no time */
#define BACKOFF_MAX_S 300
#define MAX_ANSWER (1u << 20)

enum { GITHUB, GITLAB, GITEA, NFORGES };
static const char *const forge_names[NFORGES] = { "github", "gitlab", "gitea" };

struct pv_forge {
	const struct pv_config *cfg;
	struct pv_store *store;
	CURL *curl;
	struct pv_worker worker;
	struct pv_forge_api api[NFORGES];   /* base NULL: no token, off */
	char base[NFORGES][600];
	unsigned int failures[NFORGES];     /* consecutive failed reports (thread only) */
};

/* ---------------------------------------------------------------- HTTP */

struct answer {
	struct pv_strbuf body;
	int too_big;
	struct pv_forge_limits limits;
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct answer *a = userdata;
	size_t n = size * nmemb;

	if (a->body.len + n > MAX_ANSWER) {
		a->too_big = 1;
		return n;
	}
	if (pv_strbuf_add(&a->body, ptr, n) < 0)
		return 0;
	return n;
}

/* The value of header line (n bytes) into buf without the line's end, 0
 * when it is not name. */
static int header_value(const char *line, size_t n, const char *name, char *buf, size_t len)
{
	size_t k = strlen(name), m;
	const char *v, *end = line + n;

	if (n <= k || strncasecmp(line, name, k) != 0 || line[k] != ':')
		return 0;
	v = line + k + 1;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
		end--;
	m = (size_t)(end - v);
	if (m >= len)
		m = len - 1;
	memcpy(buf, v, m);
	buf[m] = '\0';
	return 1;
}

/* A header's decimal seconds, capped (a forge's number is outside input:
 * no overflow however many digits it has); -1 when it is no number. */
static long long seconds_of(const char *v)
{
	long long n = 0;

	if (!isdigit((unsigned char)*v))
		return -1;
	for (; isdigit((unsigned char)*v); v++)
		if ((n = n * 10 + (*v - '0')) > 100LL * 365 * 86400)
			return 100LL * 365 * 86400;
	return *v ? -1 : n;
}

void pv_forge__header(struct pv_forge_limits *l, const char *line, size_t n)
{
	char v[64];

	if (header_value(line, n, "Retry-After", v, sizeof(v))) {
		/* seconds; an HTTP date is rare from forges: the default hold */
		l->retry_after = seconds_of(v);
		if (l->retry_after < 0)
			l->retry_after = HOLD_DEFAULT_S;
	} else if (header_value(line, n, "X-RateLimit-Reset", v, sizeof(v)) ||
		   header_value(line, n, "RateLimit-Reset", v, sizeof(v))) {
		l->reset = seconds_of(v);
	} else if (header_value(line, n, "X-RateLimit-Remaining", v, sizeof(v)) ||
		   header_value(line, n, "RateLimit-Remaining", v, sizeof(v))) {
		l->remaining_zero = seconds_of(v) == 0;
	}
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct answer *a = userdata;
	size_t n = size * nmemb;

	pv_forge__header(&a->limits, ptr, n);
	return n;
}

int64_t pv_forge__hold(long status, const struct pv_forge_limits *l, const char *body, int64_t now)
{
	int says = body && strcasestr(body, "rate limit") != NULL;
	int64_t until;

	if (status != 429 && !(status == 403 && (l->retry_after >= 0 || l->remaining_zero || says)))
		return 0;
	if (l->retry_after >= 0)
		until = now + (l->retry_after > 0 ? l->retry_after : 1);
	/* GitHub's reset is epoch seconds; a small number is a delay */
	else if (l->reset > now)
		until = l->reset;
	else if (l->reset > 0 && l->reset < 86400)
		until = now + l->reset;
	else
		until = now + HOLD_DEFAULT_S;
	/* a reset days away is a forge's mistake or a clock's: hold an hour
	 * at most, then ask again (one request) */
	return until > now + PV_FORGE_HOLD_MAX_S ? now + PV_FORGE_HOLD_MAX_S : until;
}

void pv_forge__message(char *out, size_t len, const char *body, size_t blen)
{
	json_t *doc = body ? json_loadb(body, blen, 0, NULL) : NULL;
	const char *msg = json_string_value(json_object_get(doc, "message"));
	size_t i = 0;

	/* it goes into the log and the row's error: one printable line */
	for (; msg && msg[i] && i + 1 < len; i++)
		out[i] = (unsigned char)msg[i] < 0x20 || (unsigned char)msg[i] >= 0x7f ? '?' : msg[i];
	if (len)
		out[i] = '\0';
	json_decref(doc);
}

int pv_forge__call(struct pv_forge_api *api, const char *method, const char *path, json_t *body, json_t **answer,
	long *status_out)
{
	struct answer a = { .body = PV_STRBUF_INIT, .limits = PV_FORGE_LIMITS_INIT };
	struct curl_slist *headers = NULL;
	char url[2048], *text = NULL;
	long status = 0;
	CURLcode rc;
	int error = 0;

	if (answer)
		*answer = NULL;
	*status_out = 0;
	if ((size_t)snprintf(url, sizeof(url), "%s%s", api->base, path) >= sizeof(url))
		return pv_error_set(PV_EINVAL, NULL, "%s %s: the URL is too long", method, path);
	if (body && !(text = json_dumps(body, JSON_COMPACT)))
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	headers = curl_slist_append(headers, api->auth);
	headers = curl_slist_append(headers, "Content-Type: application/json");
	headers = curl_slist_append(headers, strcmp(api->forge, "github") == 0 ? "Accept: application/vnd.github+json"
										 : "Accept: application/json");
	if (strcmp(api->forge, "github") == 0)
		headers = curl_slist_append(headers, "X-GitHub-Api-Version: 2022-11-28");
	curl_easy_reset(api->curl);
	curl_easy_setopt(api->curl, CURLOPT_URL, url);
	curl_easy_setopt(api->curl, CURLOPT_CUSTOMREQUEST, method);
	if (text)
		curl_easy_setopt(api->curl, CURLOPT_POSTFIELDS, text);
	curl_easy_setopt(api->curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(api->curl, CURLOPT_TIMEOUT_MS, (long)api->cfg->webhook_timeout_ms);
	curl_easy_setopt(api->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)api->cfg->webhook_timeout_ms);
	curl_easy_setopt(api->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(api->curl, CURLOPT_USERAGENT, "previewd/" PREVIEWD_VERSION);
	curl_easy_setopt(api->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(api->curl, CURLOPT_WRITEDATA, &a);
	curl_easy_setopt(api->curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(api->curl, CURLOPT_HEADERDATA, &a);
	curl_easy_setopt(api->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	/* the token is this host's: a redirect is a failure, never followed */
	curl_easy_setopt(api->curl, CURLOPT_FOLLOWLOCATION, 0L);
	error = pv_outbound_curl(api->curl, url, api->cfg);
	if (error == 0 && (rc = curl_easy_perform(api->curl)) != CURLE_OK) {
		error = pv_error_set(PV_EUNAVAIL, NULL, "%s %s: %s", method, path, pv_outbound_curl_strerror(rc));
	} else if (error == 0) {
		curl_easy_getinfo(api->curl, CURLINFO_RESPONSE_CODE, &status);
		if (status < 200 || status > 299) {
			int64_t until = pv_forge__hold(status, &a.limits, a.body.buf, (int64_t)time(NULL));
			char msg[201];

			pv_forge__message(msg, sizeof(msg), a.body.buf, a.body.len);
			if (until > api->hold_until)
				api->hold_until = until;
			error = pv_error_set(PV_EUNAVAIL, NULL, "%s %s: the forge answered %ld%s%s%s", method, path,
				status, *msg ? " (" : "", msg, *msg ? ")" : "");
		} else if (answer && a.body.buf && !a.too_big) {
			*answer = json_loadb(a.body.buf, a.body.len, 0, NULL);
		}
	}
	*status_out = status;
	curl_slist_free_all(headers);
	pv_strbuf_dispose(&a.body);
	free(text);
	return error;
}

void pv_forge__id(const json_t *answer, char *out, size_t len)
{
	json_t *id = json_object_get(answer, "id");
	const char *text = json_string_value(id);
	size_t n = text ? strlen(text) : 0;

	if (!len)
		return;
	out[0] = '\0';
	if (json_is_integer(id) && json_integer_value(id) > 0) {
		snprintf(out, len, "%lld", (long long)json_integer_value(id));
	} else if (text && n > 0 && n < len && n <= 20 && strspn(text, "0123456789") == n) {
		/* digits only: a "../" or a "?" would change the next request's path */
		memcpy(out, text, n + 1);
	}
}

int pv_forge__repo_ok(const char *repo)
{
	const char *slash = strchr(repo, '/');

	if (!slash || slash == repo || !slash[1] || strchr(slash + 1, '/') || strlen(repo) > 200)
		return 0;
	for (const char *p = repo; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '.' && *p != '/')
			return 0;
	return strstr(repo, "..") == NULL;
}

int pv_forge__moved(const json_t *was, const struct pv_forge_report *want)
{
	const char *s = json_string_value(json_object_get(was, "status"));
	const char *sha = json_string_value(json_object_get(was, "sha"));

	return !s || !sha || strcmp(s, want->status) != 0 || strcmp(sha, want->sha) != 0;
}

/* ---------------------------------------------------------------- the sticky comment */

char *pv_forge__comment(const struct pv_config *cfg, const struct pv_pr *pr, const struct pv_forge_report *r)
{
	struct pv_strbuf b = PV_STRBUF_INIT;
	char until[32] = "never", sha7[8];
	int error;

	snprintf(sha7, sizeof(sha7), "%s", r->sha);
	if (r->expires_at)
		pv_time_format(until, sizeof(until), r->expires_at);
	/* the marker names the comment previewd edits, for people and tools */
	error = pv_strbuf_printf(&b, "<!-- previewd:preview/%s -->\n### Preview environment `%s`\n\n", pr->env_name,
		pr->env_name);
	if (error == 0 && strcmp(r->status, "deleted") == 0)
		error = pv_strbuf_printf(&b, "The environment was removed; Argo CD prunes it.\n");
	else if (error == 0)
		error = pv_strbuf_printf(&b,
			"| | |\n|---|---|\n| URL | %s |\n| Status | %s%s%s |\n| Health | %s |\n| Commit | `%s` |\n"
			"| Expires | %s |\n\n"
			"%sComment `/preview extend 4h` to keep it longer, `/preview redeploy` to push it again, "
			"`/preview delete` to remove it.\n",
			r->url, r->status, *r->reason ? ": " : "", r->reason, *r->health ? r->health : "unknown", sha7,
			until, strcmp(r->status, "sleeping") == 0
				? "It is asleep: comment `/preview wake` to wake it. " : "");
	if (error == 0 && *pr->reply)
		error = pv_strbuf_printf(&b, "\n> %s\n", pr->reply);
	if (error < 0) {
		pv_strbuf_dispose(&b);
		return NULL;
	}
	(void)cfg;
	return b.buf;
}

int pv_forge__sticky(struct pv_forge_api *api, struct pv_pr *pr, const char *create_path, const char *edit_path,
	const char *edit_method, const char *text)
{
	json_t *body = json_pack("{s:s}", "body", text), *answer = NULL;
	char id[32];
	long status;
	int error;

	if (!body)
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	if (*pr->comment_id) {
		error = pv_forge__call(api, edit_method, edit_path, body, NULL, &status);
		if (error == 0 || status != 404) {
			json_decref(body);
			return error;
		}
		/* someone deleted it: one more, which becomes the sticky one */
		log_info("forge: the comment on %s %s#%lld was deleted; posting it again", api->forge, pr->repo,
			(long long)pr->number);
	}
	error = pv_forge__call(api, "POST", create_path, body, &answer, &status);
	json_decref(body);
	if (error < 0)
		return error;
	pv_forge__id(answer, id, sizeof(id));
	json_decref(answer);
	if (!*id)
		return pv_error_set(PV_EUNAVAIL, NULL, "POST %s: the answer carries no comment id", create_path);
	snprintf(pr->comment_id, sizeof(pr->comment_id), "%s", id);
	return pv_store_pr_made(api->store, pr->id, id, NULL, NULL);
}

/* ---------------------------------------------------------------- the loop */

static void desired(const struct pv_config *cfg, const struct pv_pr *pr, struct pv_forge_report *r)
{
	memset(r, 0, sizeof(*r));
	r->reason = "";
	snprintf(r->sha, sizeof(r->sha), "%s", pr->head_sha);
	r->reply_gen = pr->reply_gen;
	snprintf(r->url, sizeof(r->url), "http://%s.%s", pr->env_name, cfg->domain);
	if (strcmp(pr->state, "open") != 0 || strcmp(pr->env_status, PV_STATUS_DELETED) == 0 ||
	    strcmp(pr->env_status, PV_STATUS_DELETING) == 0) {
		r->status = "deleted";
		return;
	}
	snprintf(r->health, sizeof(r->health), "%s", pr->health);
	r->expires_at = pr->expires_at;
	if (strcmp(pr->env_status, PV_STATUS_FAILED) == 0) {
		r->status = "failed";
		r->reason = *pr->git_error ? pr->git_error : "Git refused it";
	} else if (!*pr->env_status || strcmp(pr->env_status, PV_STATUS_PENDING) == 0 || pr->dirty) {
		r->status = "pending";
	} else if (strcmp(pr->env_status, PV_STATUS_SLEEPING) == 0) {
		r->status = "sleeping";
	} else if (strcmp(pr->health, "Healthy") == 0 || !*cfg->argocd_url) {
		r->status = "ready";
	} else {
		r->status = "active";
	}
}

static json_t *report_json(const struct pv_forge_report *r)
{
	return json_pack("{s:s, s:s, s:s, s:I, s:s, s:I}", "status", r->status, "url", r->url, "health", r->health,
		"expires_at", (json_int_t)r->expires_at, "sha", r->sha, "reply_gen", (json_int_t)r->reply_gen);
}

struct batch {
	struct pv_pr *v;
	size_t n;
};

static int collect(const struct pv_pr *pr, void *payload)
{
	struct batch *b = payload;

	b->v[b->n++] = *pr;
	return 0;
}

static int forge_index(const char *name)
{
	for (int i = 0; i < NFORGES; i++)
		if (strcmp(forge_names[i], name) == 0)
			return i;
	return -1;
}

static long long backoff(unsigned int failures)
{
	long long d = 2;

	for (unsigned int i = 1; i < failures && d < BACKOFF_MAX_S; i++)
		d *= 2;
	return d < BACKOFF_MAX_S ? d : BACKOFF_MAX_S;
}

static void report_one(struct pv_forge *f, struct pv_pr *pr, int64_t now)
{
	int k = forge_index(pr->forge);
	struct pv_forge_api *api;
	struct pv_forge_report want;
	json_t *now_json, *was;
	int error;

	if (k < 0 || !f->api[k].base) {
		log_debug("forge: %s %s#%lld: no token for that forge", pr->forge, pr->repo, (long long)pr->number);
		return;
	}
	api = &f->api[k];
	if (api->hold_until > now)
		return;
	desired(f->cfg, pr, &want);
	now_json = report_json(&want);
	was = *pr->reported ? json_loads(pr->reported, 0, NULL) : NULL;
	if (!now_json || (was && json_equal(was, now_json))) {
		json_decref(was);
		json_decref(now_json);
		return;
	}
	error = k == GITHUB ? pv_forge_github_report(api, pr, &want, was)
		: k == GITLAB ? pv_forge_gitlab_report(api, pr, &want, was)
			      : pv_forge_gitea_report(api, pr, &want, was);
	if (error == 0) {
		char *text = json_dumps(now_json, JSON_COMPACT | JSON_SORT_KEYS);
		if (!text || pv_store_pr_reported(f->store, pr->id, text) < 0)
			log_warn("forge: %s", text ? pv_error_last()->message : "out of memory");
		else
			log_debug("forge: %s %s#%lld shows %s", pr->forge, pr->repo, (long long)pr->number, want.status);
		free(text);
		f->failures[k] = 0;
	} else if (api->hold_until > now) {
		char until[32];
		pv_time_format(until, sizeof(until), api->hold_until);
		log_warn("forge: %s is rate-limiting previewd: %s; its reports wait until %s", pr->forge,
			pv_error_last()->message, until);
		if (pv_store_pr_hold_forge(f->store, pr->forge, api->hold_until) < 0)
			log_warn("forge: %s", pv_error_last()->message);
	} else {
		long long wait = backoff(++f->failures[k]);
		log_warn("forge: reporting %s %s#%lld failed: %s; next try in %llds", pr->forge, pr->repo,
			(long long)pr->number, pv_error_last()->message, wait);
		if (pv_store_pr_retry(f->store, pr->id, now + wait) < 0)
			log_warn("forge: %s", pv_error_last()->message);
	}
	json_decref(was);
	json_decref(now_json);
}

static void run_pass(struct pv_forge *f)
{
	struct batch b = { .v = calloc(BATCH, sizeof(struct pv_pr)) };
	int64_t after = 0, now = (int64_t)time(NULL);

	if (!b.v) {
		log_warn("forge: out of memory");
		return;
	}
	for (int k = 0; k < NFORGES; k++)
		if (f->api[k].hold_until <= now)
			f->api[k].hold_until = 0;
	do {
		b.n = 0;
		if (pv_store_pr_due(f->store, after, now, BATCH, collect, &b) < 0) {
			log_warn("forge: %s", pv_error_last()->message);
			break;
		}
		for (size_t i = 0; i < b.n && !pv_worker_stopping(&f->worker); i++) {
			report_one(f, &b.v[i], (int64_t)time(NULL));
			after = b.v[i].id;
		}
	} while (b.n == BATCH && !pv_worker_stopping(&f->worker));
	free(b.v);
}

static void forge_run(struct pv_worker *w, void *arg)
{
	struct pv_forge *f = arg;

	while (!pv_worker_stopping(w)) {
		int64_t next = 0, now;

		run_pass(f);
		now = (int64_t)time(NULL);
		if (pv_store_pr_next(f->store, now, &next) < 0 || next == 0 || next > now + POLL_S)
			next = now + POLL_S;
		pv_worker_wait(w, pv_worker_ms_until(next));
	}
}

int pv_forge_wanted(const struct pv_config *cfg)
{
	return (cfg->github_token && *cfg->github_token) || (cfg->gitlab_token && *cfg->gitlab_token) ||
	       (cfg->gitea_token && *cfg->gitea_token);
}

int pv_forge__api_setup(struct pv_forge_api *api, const struct pv_config *cfg, const char *forge, char *base,
	size_t base_len)
{
	const char *tokens[NFORGES] = { cfg->github_token, cfg->gitlab_token, cfg->gitea_token };
	const char *urls[NFORGES] = { cfg->github_api_url, cfg->gitlab_url, cfg->gitea_url };
	const char *suffix[NFORGES] = { "", "/api/v4", "/api/v1" };
	int k = forge_index(forge);

	api->base = NULL;
	api->cfg = cfg;
	if (k < 0)
		return pv_error_set(PV_EINVAL, NULL, "%s is not a forge previewd knows", forge);
	api->forge = forge_names[k];
	if (!tokens[k] || !*tokens[k] || !urls[k] || !*urls[k])
		return 0;
	if ((size_t)snprintf(base, base_len, "%s%s", urls[k], suffix[k]) >= base_len)
		return pv_error_set(PV_EINVAL, NULL, "the %s URL is too long", forge_names[k]);
	/* each forge's documented header for a token */
	if ((size_t)snprintf(api->auth, sizeof(api->auth), k == GITHUB ? "Authorization: Bearer %s"
			: k == GITLAB ? "PRIVATE-TOKEN: %s" : "Authorization: token %s", tokens[k]) >= sizeof(api->auth))
		return pv_error_set(PV_EINVAL, NULL, "the %s token is too long", forge_names[k]);
	api->base = base;
	return 1;
}

int pv_forge_start(struct pv_forge **out, const struct pv_config *cfg, const char *db_path)
{
	struct pv_forge *f;
	int error;

	*out = NULL;
	if (!(f = calloc(1, sizeof(*f))))
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	f->cfg = cfg;
	if (!(f->curl = curl_easy_init())) {
		error = pv_error_set(PV_ERROR, NULL, "cannot create a CURL handle");
		goto fail;
	}
	if ((error = pv_store_open_config(&f->store, cfg, db_path)) < 0 || (error = pv_store_relax(f->store)) < 0)
		goto fail;
	for (int k = 0; k < NFORGES; k++) {
		struct pv_forge_api *api = &f->api[k];

		if ((error = pv_forge__api_setup(api, cfg, forge_names[k], f->base[k], sizeof(f->base[k]))) < 0)
			goto fail;
		api->curl = f->curl;
		api->store = f->store;
		if (error > 0)
			log_info("forge: reporting pull requests' environments to %s at %s", forge_names[k],
				k == GITHUB ? cfg->github_api_url : k == GITLAB ? cfg->gitlab_url : cfg->gitea_url);
	}
	if ((error = pv_worker_start(&f->worker, "pv-forge", forge_run, f)) < 0)
		goto fail;
	*out = f;
	return 0;
fail:
	pv_forge_free(f);
	return error;
}

void pv_forge_kick(struct pv_forge *f)
{
	if (f)
		pv_worker_kick(&f->worker);
}

void pv_forge_free(struct pv_forge *f)
{
	if (!f)
		return;
	pv_worker_stop(&f->worker);
	for (int k = 0; k < NFORGES; k++)
		memset(f->api[k].auth, 0, sizeof(f->api[k].auth));
	if (f->curl)
		curl_easy_cleanup(f->curl);
	pv_store_free(f->store);
	free(f);
}
