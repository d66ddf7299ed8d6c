/*
 * chatreply.c - POSTs of button outcomes to response_url (see chatreply.h).
 */
#include "chatreply.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "outbound.h"
#include "worker.h"

struct reply {
	char *url, *body;
};

static struct {
	const struct pv_config *cfg;
	struct pv_worker worker;
	pthread_mutex_t lock;  /* the queue and running */
	struct reply q[PV_CHATREPLY_QUEUE];
	size_t head, count;
	int running;
	CURL *curl;
} R = { .lock = PTHREAD_MUTEX_INITIALIZER };

int pv_chatreply_url_ok(const struct pv_config *cfg, const char *url)
{
	const char *prefix = cfg->slack_response_url_prefix;
	size_t plen = strlen(prefix);

	if (!url || !*prefix || strncmp(url, prefix, plen) != 0)
		return 0;
	if (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0)
		return 0;
	/* a prefix "https://hooks.slack.com" must not admit hooks.slack.com.evil */
	if (prefix[plen - 1] != '/' && url[plen] != '/' && url[plen] != '\0')
		return 0;
	for (const char *p = url; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f || *p == '\\')
			return 0;
	/* no credentials smuggled before the host */
	const char *host = strstr(url, "://") + 3, *end = host + strcspn(host, "/?#");
	return memchr(host, '@', (size_t)(end - host)) == NULL;
}

static size_t discard(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	(void)ptr;
	(void)userdata;
	return size * nmemb;
}

static void send_one(const struct reply *r)
{
	struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json; charset=utf-8");
	long status = 0;
	CURLcode rc;

	curl_easy_reset(R.curl);
	curl_easy_setopt(R.curl, CURLOPT_URL, r->url);
	curl_easy_setopt(R.curl, CURLOPT_POSTFIELDS, r->body);
	curl_easy_setopt(R.curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(R.curl, CURLOPT_TIMEOUT_MS, (long)R.cfg->webhook_timeout_ms);
	curl_easy_setopt(R.curl, CURLOPT_CONNECTTIMEOUT_MS, (long)R.cfg->webhook_timeout_ms);
	curl_easy_setopt(R.curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(R.curl, CURLOPT_USERAGENT, "previewd/" PREVIEWD_VERSION);
	curl_easy_setopt(R.curl, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(R.curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(R.curl, CURLOPT_FOLLOWLOCATION, 0L);
	if (pv_outbound_curl(R.curl, r->url, R.cfg) < 0)
		log_warn("chatreply: %s", pv_error_last()->message);
	else if ((rc = curl_easy_perform(R.curl)) != CURLE_OK)
		log_warn("chatreply: posting to the response_url failed: %s", pv_outbound_curl_strerror(rc));
	else if (curl_easy_getinfo(R.curl, CURLINFO_RESPONSE_CODE, &status), status < 200 || status > 299)
		log_warn("chatreply: the response_url answered %ld", status);
	curl_slist_free_all(headers);
}

static void run(struct pv_worker *w, void *arg)
{
	(void)arg;
	while (!pv_worker_stopping(w)) {
		struct reply r = { 0 };

		pthread_mutex_lock(&R.lock);
		if (R.count) {
			r = R.q[R.head];
			R.head = (R.head + 1) % PV_CHATREPLY_QUEUE;
			R.count--;
		}
		pthread_mutex_unlock(&R.lock);
		if (!r.url) {
			pv_worker_wait(w, -1);
			continue;
		}
		send_one(&r);
		free(r.url);
		free(r.body);
	}
}

int pv_chatreply_start(const struct pv_config *cfg)
{
	int error;

	R.cfg = cfg;
	if (!(R.curl = curl_easy_init()))
		return pv_error_set(PV_ERROR, NULL, "cannot create a CURL handle");
	if ((error = pv_worker_start(&R.worker, "pv-chat-reply", run, NULL)) < 0) {
		curl_easy_cleanup(R.curl);
		R.curl = NULL;
		return error;
	}
	pthread_mutex_lock(&R.lock);
	R.running = 1;
	pthread_mutex_unlock(&R.lock);
	return 0;
}

void pv_chatreply_stop(void)
{
	pthread_mutex_lock(&R.lock);
	R.running = 0;
	pthread_mutex_unlock(&R.lock);
	pv_worker_stop(&R.worker);
	curl_easy_cleanup(R.curl);
	R.curl = NULL;
	for (; R.count; R.count--, R.head = (R.head + 1) % PV_CHATREPLY_QUEUE) {
		free(R.q[R.head].url);
		free(R.q[R.head].body);
	}
}

int pv_chatreply_post(const char *url, const json_t *body)
{
	struct reply r;
	int error = 0;

	if (!R.cfg || !pv_chatreply_url_ok(R.cfg, url))
		return pv_error_set(PV_EINVAL, "response_url", "the response_url is not under PREVIEWD_SLACK_RESPONSE_URL_PREFIX");
	r.url = strdup(url);
	r.body = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
	pthread_mutex_lock(&R.lock);
	if (!r.url || !r.body)
		error = pv_error_set(PV_ERROR, NULL, "out of memory");
	else if (!R.running || R.count == PV_CHATREPLY_QUEUE)
		error = pv_error_set(PV_EUNAVAIL, NULL, "the chat reply queue is %s", R.running ? "full" : "not running");
	else {
		R.q[(R.head + R.count) % PV_CHATREPLY_QUEUE] = r;
		R.count++;
	}
	pthread_mutex_unlock(&R.lock);
	if (error < 0) {
		free(r.url);
		free(r.body);
		return error;
	}
	pv_worker_kick(&R.worker);
	return 0;
}
