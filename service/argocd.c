/*
 * argocd.c - push webhooks to Argo CD and the pv-argocd thread's loop (see
 * argocd.h); reading the Applications is argocd_apps.c's.
 */
#include "argocd_int.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hex.h"
#include "log.h"
#include "outbound.h"
#include "url.h"

#define WEBHOOK_ATTEMPTS 3
#define MAX_RESPONSE (1u << 20)  /* a webhook's answer is ignored */

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
	if (!a)
		return;
	pthread_mutex_lock(&a->lock);
	/* the ready rule's order of pushes; when the thread is far behind the
	 * oldest are dropped, and the rule falls back to times for them */
	if (a->cfg->argocd_url[0]) {
		if (a->npushed == PV_ARGOCD_PENDING_PUSHES) {
			memmove(a->pushed, a->pushed + 1, sizeof(a->pushed[0]) * (PV_ARGOCD_PENDING_PUSHES - 1));
			memmove(a->pushed_at, a->pushed_at + 1, sizeof(a->pushed_at[0]) * (PV_ARGOCD_PENDING_PUSHES - 1));
			a->npushed--;
		}
		snprintf(a->pushed[a->npushed], sizeof(a->pushed[0]), "%s", after);
		a->pushed_at[a->npushed++] = (int64_t)time(NULL);
	}
	if (!a->cfg->argocd_webhook_url[0]) {
		pthread_mutex_unlock(&a->lock);
		pv_argocd__wake(a);
		return;
	}
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
	pv_argocd__wake(a);
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
	char digest[PV_HEX_HMAC_SHA256_LEN];

	if (pv_hex_hmac_sha256(digest, secret, body, strlen(body)) < 0)
		digest[0] = '\0';
	snprintf(out, len, "sha256=%s", digest);
}

static int quitting(struct pv_argocd *a);

/* curl's progress callback: a stop aborts the exchange under way */
static int abort_on_stop(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	(void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
	return quitting(arg);
}

/* One HTTP exchange; 0 with a 2xx, else PV_EUNAVAIL with the reason. */
int pv_argocd__exchange(struct pv_argocd *a, const char *url, const char *body, struct curl_slist *headers,
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
	curl_easy_setopt(a->curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(a->curl, CURLOPT_XFERINFOFUNCTION, abort_on_stop);
	curl_easy_setopt(a->curl, CURLOPT_XFERINFODATA, a);
	if (pv_outbound_curl(a->curl, url, a->cfg) < 0)
		return PV_EINVAL;
	rc = curl_easy_perform(a->curl);
	/* errors name the URL without any credentials in it, and without its
	 * query (the selector and fields: long, and the same every time) */
	pv_url_redact(shown, sizeof(shown), url);
	shown[strcspn(shown, "?")] = '\0';
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
			ok = pv_argocd__exchange(a, url, body, h, &ignored) == 0;
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

/* Record the commits pushed since the last pass (the ready rule's order). */
static void record_pushes(struct pv_argocd *a)
{
	char commits[PV_ARGOCD_PENDING_PUSHES][48];
	int64_t at[PV_ARGOCD_PENDING_PUSHES];
	size_t n, i;

	pthread_mutex_lock(&a->lock);
	n = a->npushed;
	memcpy(commits, a->pushed, sizeof(commits[0]) * n);
	memcpy(at, a->pushed_at, sizeof(at[0]) * n);
	a->npushed = 0;
	pthread_mutex_unlock(&a->lock);
	for (i = 0; i < n; i++)
		if (pv_store_argocd_pushed(a->store, commits[i], at[i]) < 0)
			log_warn("argocd: %s", pv_error_last()->message);
}

static int quitting(struct pv_argocd *a)
{
	return __atomic_load_n(&a->quit, __ATOMIC_ACQUIRE) || pv_worker_stopping(&a->worker);
}

/* Wake the thread wherever it waits: on the worker or in the stream's
 * curl_multi_poll. */
void pv_argocd__wake(struct pv_argocd *a)
{
	pv_worker_kick(&a->worker);
	if (a->multi)
		curl_multi_wakeup(a->multi);
}

static long long min_wait(long long a, long long b)
{
	return a < 0 ? b : b < 0 ? a : a < b ? a : b;
}

/*
 * One loop for everything: the pending pushes (recorded, then the
 * webhooks), the full read of the list every PREVIEWD_ARGOCD_POLL (the wall
 * clock's next_poll), and the watch stream in between.  While the stream is
 * open the thread waits in curl_multi_poll, which a push or a stop ends
 * through curl_multi_wakeup; otherwise on the worker.  A stream that ends is
 * opened again after a backoff, each time after a fresh read of the list:
 * what changed while it was down is not lost, and the list's
 * resourceVersion tells Argo CD to send only what comes after.
 */
static void argocd_run(struct pv_worker *w, void *arg)
{
	struct pv_argocd *a = arg;
	int64_t next_poll = 0;

	while (!quitting(a)) {
		long long wait_ms = -1;
		char *body;

		record_pushes(a);
		if (a->cfg->argocd_url[0]) {
			int64_t mono = pv_monotonic_ms();

			if (!a->stream_on && mono >= a->stream_retry_ms) {
				if (pv_argocd__poll(a) == 0)
					pv_argocd__stream_open(a);
				if (!a->stream_on)
					a->stream_retry_ms = mono + 5000;
				next_poll = (int64_t)time(NULL) + a->cfg->argocd_poll;
			} else if ((int64_t)time(NULL) >= next_poll) {
				(void)pv_argocd__poll(a);
				next_poll = (int64_t)time(NULL) + a->cfg->argocd_poll;
			}
			wait_ms = pv_worker_ms_until(next_poll);
			if (!a->stream_on)
				wait_ms = min_wait(wait_ms, a->stream_retry_ms - pv_monotonic_ms());
			if (wait_ms < 0)
				wait_ms = 0;
		}
		if ((body = take_push(a))) {
			send_webhooks(a, body);
			free(body);
			continue;
		}
		if (quitting(a))
			break;
		if (a->stream_on) {
			int running = 0;

			/* at most a minute: the wall clock of next_poll is re-read */
			curl_multi_poll(a->multi, NULL, 0, (int)min_wait(wait_ms, 60000), NULL);
			curl_multi_perform(a->multi, &running);
			(void)pv_argocd__stream_done(a);
		} else {
			pv_worker_wait(w, wait_ms < 0 ? 3600 * 1000LL : wait_ms);
		}
	}
	pv_argocd__stream_close(a);
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
	a->stream_backoff_ms = 1000;
	pthread_mutex_init(&a->lock, NULL);
	if (!(a->curl = curl_easy_init()) || (cfg->argocd_url[0] && !(a->multi = curl_multi_init()))) {
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
	/* the flag first, then the wake-up: a wait that starts after the
	 * wake-up still returns at once (curl's wake-up is a pipe) */
	__atomic_store_n(&a->quit, 1, __ATOMIC_RELEASE);
	if (a->multi)
		curl_multi_wakeup(a->multi);
	pv_worker_stop(&a->worker);
	pv_argocd__stream_close(a);
	json_decref(a->added);
	json_decref(a->modified);
	json_decref(a->removed);
	curl_easy_cleanup(a->curl);
	curl_multi_cleanup(a->multi);
	pv_store_free(a->store);
	pthread_mutex_destroy(&a->lock);
	free(a);
}
