/*
 * argocd.c - push webhooks to Argo CD and reading Application status (see
 * argocd.h).
 */
#include "argocd.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hex.h"
#include "log.h"
#include "outbound.h"
#include "store.h"
#include "strbuf.h"
#include "timefmt.h"
#include "url.h"
#include "worker.h"

#define WEBHOOK_ATTEMPTS 3
#define MAX_RESPONSE (32u << 20)  /* an application list of 10,000 apps fits */

struct pv_argocd {
	const struct pv_config *cfg;
	struct pv_store *store;
	CURL *curl;
	void (*changed)(void *ctx);
	void *ctx;
	struct pv_worker worker;

	pthread_mutex_t lock;   /* the pending push and the status */
	/* the pending push event: pushes that land while a webhook is in flight
	 * are merged (first before, last after, all paths) */
	int have_push;
	char before[48], after[48];
	json_t *added, *modified, *removed;
	struct pv_argocd_status status;
};

char *pv_argocd_push_payload(const struct pv_config *cfg, const char *before, const char *after, const json_t *changes)
{
	char repo[1024], ref[300], name[256];
	const char *slash;
	json_t *commit, *doc;
	char *s;

	/* Argo CD matches on the repository; the credentials are not its */
	pv_url_strip_userinfo(repo, sizeof(repo), cfg->argocd_repo_url);
	snprintf(ref, sizeof(ref), "refs/heads/%s", cfg->git_branch);
	slash = strrchr(repo, '/');
	snprintf(name, sizeof(name), "%s", slash ? slash + 1 : repo);
	if (strlen(name) > 4 && strcmp(name + strlen(name) - 4, ".git") == 0)
		name[strlen(name) - 4] = '\0';
	/* the fields Argo CD's GitHub handler reads: ref, before, after,
	 * repository.html_url (matched against each app's repoURL),
	 * default_branch (for HEAD) and the commits' changed paths (for the
	 * apps whose paths they touch) */
	commit = json_pack("{s:s, s:s, s:O, s:O, s:O}", "id", after, "message", "previewd push",
		"added", json_object_get(changes, "added"), "modified", json_object_get(changes, "modified"),
		"removed", json_object_get(changes, "removed"));
	doc = json_pack("{s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s}, s:[O], s:O, s:{s:s}}",
		"ref", ref, "before", before && *before ? before : "0000000000000000000000000000000000000000",
		"after", after,
		"repository", "name", name, "full_name", name, "html_url", repo, "clone_url", repo,
		"default_branch", cfg->git_branch,
		"commits", commit, "head_commit", commit, "pusher", "name", "previewd");
	json_decref(commit);
	if (!doc)
		return NULL;
	s = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	return s;
}

/* Copies, not references: the paths belong to the Git writer's thread, and
 * sharing jansson values between threads would share their reference counts
 * (jansson's last decref does not synchronise with another thread's reads). */
static void merge_paths(json_t *into, const json_t *from)
{
	size_t i;
	json_t *v;

	json_array_foreach(from, i, v)
		json_array_append_new(into, json_deep_copy(v));
}

void pv_argocd_pushed(struct pv_argocd *a, const char *before, const char *after, const json_t *changes)
{
	if (!a || !a->cfg->argocd_webhook_url[0])
		return;
	pthread_mutex_lock(&a->lock);
	if (!a->have_push) {
		snprintf(a->before, sizeof(a->before), "%s", before ? before : "");
		a->added = json_array();
		a->modified = json_array();
		a->removed = json_array();
		a->have_push = 1;
	}
	snprintf(a->after, sizeof(a->after), "%s", after);
	merge_paths(a->added, json_object_get(changes, "added"));
	merge_paths(a->modified, json_object_get(changes, "modified"));
	merge_paths(a->removed, json_object_get(changes, "removed"));
	pthread_mutex_unlock(&a->lock);
	pv_worker_kick(&a->worker);
}

void pv_argocd_status(struct pv_argocd *a, struct pv_argocd_status *out)
{
	memset(out, 0, sizeof(*out));
	if (!a)
		return;
	pthread_mutex_lock(&a->lock);
	*out = a->status;
	pthread_mutex_unlock(&a->lock);
}

/* ---- HTTP --------------------------------------------------------------- */

static size_t collect(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct pv_strbuf *b = userdata;
	size_t n = size * nmemb;

	if (pv_strbuf_add(b, ptr, n) < 0)
		return 0; /* over MAX_RESPONSE or out of memory: aborts the transfer */
	return n;
}

static void sign(char *out, size_t len, const char *secret, const char *body)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	char digest[2 * EVP_MAX_MD_SIZE + 1];

	if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)body, strlen(body), mac, &maclen))
		maclen = 0;
	pv_hex_encode(digest, mac, maclen);
	snprintf(out, len, "sha256=%s", digest);
}

/* One HTTP exchange; 0 with a 2xx, else PV_EUNAVAIL with the reason. */
static int exchange(struct pv_argocd *a, const char *url, const char *body, struct curl_slist *headers,
	struct pv_strbuf *response)
{
	long status = 0;
	char shown[1024];
	CURLcode rc;

	curl_easy_reset(a->curl);
	curl_easy_setopt(a->curl, CURLOPT_URL, url);
	if (body)
		curl_easy_setopt(a->curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(a->curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(a->curl, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(a->curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(a->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(a->curl, CURLOPT_USERAGENT, "previewd/" PREVIEWD_VERSION);
	curl_easy_setopt(a->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	/* the token and the URL's credentials are for the configured server:
	 * a redirect is an answer that is not 2xx, never followed */
	curl_easy_setopt(a->curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(a->curl, CURLOPT_UNRESTRICTED_AUTH, 0L);
	curl_easy_setopt(a->curl, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(a->curl, CURLOPT_WRITEDATA, response);
	if (pv_outbound_curl(a->curl, url, a->cfg) < 0)
		return PV_EINVAL;
	rc = curl_easy_perform(a->curl);
	/* errors name the URL without any credentials in it */
	pv_url_redact(shown, sizeof(shown), url);
	if (rc != CURLE_OK)
		return pv_error_set(PV_EUNAVAIL, NULL, "%s: %s", shown, pv_outbound_curl_strerror(rc));
	curl_easy_getinfo(a->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status < 200 || status > 299)
		return pv_error_set(PV_EUNAVAIL, NULL, "%s answered %ld", shown, status);
	return 0;
}

static void send_webhooks(struct pv_argocd *a, const char *body)
{
	char *urls = strdup(a->cfg->argocd_webhook_url), *url, *save = NULL, sig[100];

	for (url = urls ? strtok_r(urls, ", ", &save) : NULL; url; url = strtok_r(NULL, ", ", &save)) {
		struct curl_slist *h = NULL;
		int ok = 0;

		h = curl_slist_append(h, "Content-Type: application/json");
		h = curl_slist_append(h, "X-GitHub-Event: push");
		if (a->cfg->argocd_webhook_secret && *a->cfg->argocd_webhook_secret) {
			char line[128];
			sign(sig, sizeof(sig), a->cfg->argocd_webhook_secret, body);
			snprintf(line, sizeof(line), "X-Hub-Signature-256: %s", sig);
			h = curl_slist_append(h, line);
		}
		for (int attempt = 1; attempt <= WEBHOOK_ATTEMPTS && !ok; attempt++) {
			struct pv_strbuf ignored = PV_STRBUF_INIT_MAX(MAX_RESPONSE);
			ok = exchange(a, url, body, h, &ignored) == 0;
			pv_strbuf_dispose(&ignored);
			if (!ok) {
				log_warn("argocd: webhook attempt %d: %s", attempt, pv_error_last()->message);
				/* back off; pushes meanwhile wait for the next event, a
				 * stop does not */
				if (attempt < WEBHOOK_ATTEMPTS &&
				    pv_worker_sleep(&a->worker, attempt * 1000LL) == PV_WORKER_STOP)
					break;
			}
		}
		pthread_mutex_lock(&a->lock);
		if (ok)
			a->status.webhooks_sent++;
		else
			a->status.webhook_failures++;
		pthread_mutex_unlock(&a->lock);
		curl_slist_free_all(h);
	}
	free(urls);
}

/* Argo CD's RFC 3339 time, 0 when absent or unreadable. */
static int64_t rfc3339(const char *s)
{
	int64_t t;

	return s && pv_time_parse(s, &t) == 0 ? t : 0;
}

/* Read every Application and record the status of those that are ours. */
static void poll_status(struct pv_argocd *a)
{
	struct pv_strbuf resp = PV_STRBUF_INIT_MAX(MAX_RESPONSE);
	struct curl_slist *h = NULL;
	char url[1200], auth[4200];
	json_t *doc = NULL, *items, *app;
	size_t i, readies = 0;
	int64_t now = (int64_t)time(NULL);
	int error;

	snprintf(url, sizeof(url), "%s/api/v1/applications", a->cfg->argocd_url);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", a->cfg->argocd_token ? a->cfg->argocd_token : "");
	h = curl_slist_append(h, auth);
	h = curl_slist_append(h, "Accept: application/json");
	memset(auth, 0, sizeof(auth));
	error = exchange(a, url, NULL, h, &resp);
	curl_slist_free_all(h);
	if (error == 0 && !(doc = json_loadb(resp.buf ? resp.buf : "", resp.len, 0, NULL)))
		error = pv_error_set(PV_EUNAVAIL, NULL, "Argo CD answered something that is not JSON");
	if (error < 0) {
		pthread_mutex_lock(&a->lock);
		a->status.reachable = 0;
		snprintf(a->status.error, sizeof(a->status.error), "%s", pv_error_last()->message);
		pthread_mutex_unlock(&a->lock);
		log_warn("argocd: %s", pv_error_last()->message);
		goto out;
	}
	items = json_object_get(doc, "items");
	json_array_foreach(items, i, app) {
		const char *name = json_string_value(json_object_get(json_object_get(app, "metadata"), "name"));
		json_t *st = json_object_get(app, "status");
		const char *sync = json_string_value(json_object_get(json_object_get(st, "sync"), "status"));
		const char *health = json_string_value(json_object_get(json_object_get(st, "health"), "status"));
		/* when the last sync finished: a Healthy app synced before our push
		 * is an old environment's, not this one's */
		const char *finished = json_string_value(json_object_get(json_object_get(st, "operationState"), "finishedAt"));
		int ready = 0;

		if (!name)
			continue;
		error = pv_store_argocd_set(a->store, name, sync ? sync : "Unknown", health ? health : "Unknown",
			rfc3339(finished), now, &ready);
		if (error < 0 && error != PV_ENOTFOUND)
			log_warn("argocd: %s", pv_error_last()->message);
		readies += ready != 0;
	}
	pthread_mutex_lock(&a->lock);
	a->status.reachable = 1;
	a->status.error[0] = '\0';
	a->status.last_poll_at = now;
	pthread_mutex_unlock(&a->lock);
	if (readies && a->changed)
		a->changed(a->ctx);
out:
	json_decref(doc);
	pv_strbuf_dispose(&resp);
}

/* Take the pending push event, if any, as a webhook body. */
static char *take_push(struct pv_argocd *a)
{
	char *body = NULL;

	pthread_mutex_lock(&a->lock);
	if (a->have_push) {
		json_t *changes = json_pack("{s:o, s:o, s:o}", "added", a->added, "modified", a->modified,
			"removed", a->removed);
		body = pv_argocd_push_payload(a->cfg, a->before, a->after, changes);
		json_decref(changes);
		a->added = a->modified = a->removed = NULL;
		a->have_push = 0;
	}
	pthread_mutex_unlock(&a->lock);
	return body;
}

/* Polls are on the wall clock (next_poll); a push kicks the worker. */
static void argocd_run(struct pv_worker *w, void *arg)
{
	struct pv_argocd *a = arg;
	int64_t next_poll = 0;

	while (!pv_worker_stopping(w)) {
		char *body;

		if (a->cfg->argocd_url[0] && (int64_t)time(NULL) >= next_poll) {
			poll_status(a);
			next_poll = (int64_t)time(NULL) + a->cfg->argocd_poll;
		}
		if ((body = take_push(a))) {
			send_webhooks(a, body);
			free(body);
			continue;
		}
		pv_worker_wait(w, a->cfg->argocd_url[0] ? pv_worker_ms_until(next_poll) : 3600 * 1000LL);
	}
}

int pv_argocd_start(struct pv_argocd **out, const struct pv_config *cfg, const char *db_path,
	void (*changed)(void *ctx), void *ctx)
{
	struct pv_argocd *a;
	int error;

	*out = NULL;
	if (!(a = calloc(1, sizeof(*a))))
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	a->cfg = cfg;
	a->changed = changed;
	a->ctx = ctx;
	a->status.enabled = cfg->argocd_url[0] != '\0';
	a->status.reachable = 1;
	pthread_mutex_init(&a->lock, NULL);
	if (!(a->curl = curl_easy_init())) {
		error = pv_error_set(PV_ERROR, NULL, "cannot create a CURL handle");
		goto fail;
	}
	if ((error = pv_store_open_config(&a->store, cfg, db_path)) < 0 || (error = pv_store_relax(a->store)) < 0 ||
	    (error = pv_worker_start(&a->worker, "pv-argocd", argocd_run, a)) < 0)
		goto fail;
	*out = a;
	return 0;
fail:
	pv_argocd_free(a);
	return error;
}

void pv_argocd_free(struct pv_argocd *a)
{
	if (!a)
		return;
	pv_worker_stop(&a->worker);
	json_decref(a->added);
	json_decref(a->modified);
	json_decref(a->removed);
	curl_easy_cleanup(a->curl);
	pv_store_free(a->store);
	pthread_mutex_destroy(&a->lock);
	free(a);
}
