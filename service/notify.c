/*
 * notify.c - outbox delivery over HTTP (see notify.h).
 */
#include "notify.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "array.h"
#include "chatmsg.h"
#include "hex.h"
#include "log.h"
#include "outbound.h"
#include "store.h"
#include "timefmt.h"
#include "valid.h"
#include "worker.h"

#define BATCH 100
/* attempts a notification the receiver refuses (4xx) gets before it is
 * dead-lettered: enough to ride out a receiver's bad deploy, short enough
 * that the deliveries queued behind it are not held back for long */
#define REFUSED_ATTEMPTS 5

struct pv_notify {
	const struct pv_config *cfg;
	struct pv_store *store;
	CURL *curl;
	struct pv_worker worker;
	pthread_mutex_t lock;   /* the counters */
	int64_t blocked_until;  /* after a failure: no delivery before this (thread only) */
	unsigned int failures;  /* consecutive failed deliveries (thread only) */
	unsigned long long delivered, failed, dead;  /* counters, under lock */
};

/* The TTL to suggest for an extension: the default, within what the
 * maximum lifetime still allows; 0 when no extension is possible. */
static long long hint_ttl(const struct pv_config *cfg, json_t *p)
{
	long long ttl = cfg->default_ttl;

	if (cfg->max_lifetime > 0) {
		long long left = json_integer_value(json_object_get(p, "created_at")) + cfg->max_lifetime - (long long)time(NULL);
		if (left < ttl)
			ttl = left;
	}
	return ttl >= cfg->min_ttl ? ttl : 0;
}

/* The human sentence for an event, for chat and for logs. */
static void sentence(char *buf, size_t len, const struct pv_config *cfg, const char *kind, json_t *p)
{
	const char *name = json_string_value(json_object_get(p, "name"));
	const char *owner = json_string_value(json_object_get(p, "owner"));
	const char *actor = json_string_value(json_object_get(p, "actor"));
	json_t *detail = json_object_get(p, "detail");
	long long expires = json_integer_value(json_object_get(p, "expires_at"));
	char until[32] = "never", left[32] = "", url[256], extend[512], ttl[32];
	long long hint = hint_ttl(cfg, p);

	if (expires)
		pv_time_format(until, sizeof(until), expires);
	snprintf(url, sizeof(url), "http://%s.%s", name, cfg->domain);
	pv_valid_format_duration(ttl, sizeof(ttl), hint);
	if (hint)
		snprintf(extend, sizeof(extend),
			"extend it with: curl -X PATCH %s/v1/environments/%s -H 'Content-Type: application/json' -d '{\"ttl\":\"%s\"}'",
			cfg->public_url, name, ttl);
	else
		snprintf(extend, sizeof(extend), "it has reached its maximum lifetime and cannot be extended.");
	if (strcmp(kind, "created") == 0)
		snprintf(buf, len, "Environment %s for @%s was requested by %s; it is being pushed to Git and will be at %s until %s.",
			name, owner, actor, url, until);
	else if (strcmp(kind, "ready") == 0)
		snprintf(buf, len, "Environment %s for @%s is in Git and deploying at %s; it expires at %s.", name, owner, url, until);
	else if (strcmp(kind, "expiring") == 0) {
		pv_valid_format_duration(left, sizeof(left), json_integer_value(json_object_get(detail, "seconds_left")));
		json_t *cost = json_object_get(detail, "cost_per_day");
		char costs[64] = "";
		if (json_is_number(cost))
			snprintf(costs, sizeof(costs), " and costs ~%.2f/day", json_number_value(cost));
		snprintf(buf, len, "@%s: environment %s (%s) expires in %s, at %s%s; %s", owner, name, url, left, until, costs,
			extend);
	} else if (strcmp(kind, "extended") == 0)
		snprintf(buf, len, "Environment %s for @%s was extended by %s until %s.", name, owner, actor, until);
	else if (strcmp(kind, "deleted") == 0)
		snprintf(buf, len, "Environment %s for @%s was removed from Git; Argo CD prunes it now.", name, owner);
	else if (strcmp(kind, "failed") == 0)
		snprintf(buf, len, "@%s: environment %s could not be created: %s", owner, name,
			json_string_value(json_object_get(detail, "error")) ? json_string_value(json_object_get(detail, "error"))
									   : "Git refused it");
	else if (strcmp(kind, "slept") == 0)
		snprintf(buf, len, "Environment %s for @%s was put to sleep by %s (its sleeping values are in Git); "
			"wake it with: curl -X POST %s/v1/environments/%s/wake", name, owner, actor, cfg->public_url, name);
	else if (strcmp(kind, "woke") == 0)
		snprintf(buf, len, "Environment %s for @%s was woken by %s and is coming back at %s.", name, owner, actor, url);
	else if (strcmp(kind, "expiry_held") == 0)
		snprintf(buf, len, "previewd is holding %lld overdue environment(s) instead of removing them (more than %lld at once "
			"overdue by more than %llds): if they are meant to go, an admin releases them with "
			"POST %s/v1/admin/reaper/release or `previewd reaper release`.",
			(long long)json_integer_value(json_object_get(detail, "count")),
			(long long)json_integer_value(json_object_get(detail, "hold")),
			(long long)json_integer_value(json_object_get(detail, "hold_after_seconds")), cfg->public_url);
	else
		snprintf(buf, len, "Environment %s: %s.", name, kind);
}

char *pv_notify_render(const struct pv_config *cfg, int64_t id, const char *kind, const char *payload_json)
{
	json_t *p = json_loads(payload_json, 0, NULL), *out = NULL;
	char text[1024], when[32], until[32], url[256], idbuf[32], extend[512], ttl[32], hint_body[64];
	char *body = NULL;
	long long expires;
	const char *name, *buttons;
	int asleep;

	if (!p)
		return NULL;
	name = json_string_value(json_object_get(p, "name"));
	expires = json_integer_value(json_object_get(p, "expires_at"));
	sentence(text, sizeof(text), cfg, kind, p);
	pv_time_format(when, sizeof(when), json_integer_value(json_object_get(p, "at")));
	if (expires)
		pv_time_format(until, sizeof(until), expires);
	snprintf(url, sizeof(url), "http://%s.%s", name ? name : "", cfg->domain);
	snprintf(idbuf, sizeof(idbuf), "%lld", (long long)id);
	snprintf(extend, sizeof(extend), "%s/v1/environments/%s", cfg->public_url, name ? name : "");
	pv_valid_format_duration(ttl, sizeof(ttl), hint_ttl(cfg, p));
	snprintf(hint_body, sizeof(hint_body), "{\"ttl\":\"%s\"}", ttl);
	/* chat: an expiry warning carries the buttons that answer it, and a
	 * sleeping environment's (its slept notice too) a Wake button */
	asleep = json_is_true(json_object_get(p, "asleep"));
	buttons = strcmp(kind, "expiring") == 0 || strcmp(kind, "slept") == 0 ? name : NULL;
	if (strcmp(cfg->webhook_format, "slack") == 0) {
		out = pv_chatmsg_slack(cfg, text, buttons, NULL, asleep);
	} else if (strcmp(cfg->webhook_format, "mattermost") == 0) {
		out = pv_chatmsg_mattermost(cfg, text, buttons, asleep, (long long)time(NULL));
	} else if (strcmp(cfg->webhook_format, "teams") == 0) {
		out = pv_chatmsg_teams(cfg, text, name);
	} else {
		out = json_pack("{s:s, s:s, s:s, s:{s:s?, s:s?, s:s?, s:s, s:s?, s:o}, s:s, s:s?, s:o, s:s?, s:s, s:{s:s, s:s, s:s}}",
			"id", idbuf, "event", kind, "occurred_at", when,
			"environment",
			"name", name, "owner", json_string_value(json_object_get(p, "owner")),
			"status", json_string_value(json_object_get(p, "status")), "url", url,
			"namespace", name, "expires_at", expires ? json_string(until) : json_null(),
			"url", url, "owner", json_string_value(json_object_get(p, "owner")),
			"expires_at", expires ? json_string(until) : json_null(),
			"actor", json_string_value(json_object_get(p, "actor")), "text", text,
			"extend", "method", "PATCH", "url", extend, "body", hint_body);
	}
	/* a hold is about a set: the count and names go along */
	if (out && strcmp(kind, "expiry_held") == 0 && strcmp(cfg->webhook_format, "json") == 0)
		json_object_set(out, "held", json_object_get(p, "detail"));
	if (out)
		body = json_dumps(out, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(out);
	json_decref(p);
	return body;
}

void pv_notify_sign(char *out, size_t len, const char *secret, long long timestamp, const char *body)
{
	char *msg = NULL, digest[PV_HEX_HMAC_SHA256_LEN] = "";

	/* HMAC over "v1:<timestamp>:<body>": the timestamp is signed too, so a
	 * captured request cannot be replayed later with a fresh one */
	if (asprintf(&msg, "v1:%lld:%s", timestamp, body) < 0)
		msg = NULL;
	if (msg && pv_hex_hmac_sha256(digest, secret, msg, strlen(msg)) < 0)
		digest[0] = '\0';
	free(msg);
	snprintf(out, len, "v1=%s", digest);
}

static size_t discard(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	(void)ptr;
	(void)userdata;
	return size * nmemb;
}

/* A 4xx is the receiver refusing this notification, not being down: it
 * would refuse it again.  408 and 429 ask for a later retry. */
static int refused(long status)
{
	return status >= 400 && status <= 499 && status != 408 && status != 429;
}

/* POST one notification; 0 on a 2xx, else PV_EUNAVAIL with the reason and
 * *status the HTTP status (0 when there was no answer). */
static int deliver(struct pv_notify *n, const struct pv_outbox *ob, long *status_out)
{
	struct curl_slist *headers = NULL;
	char h[256], sig[96];
	char *body = pv_notify_render(n->cfg, ob->id, ob->kind, ob->payload);
	long status = 0;
	long long ts = (long long)time(NULL);
	CURLcode rc;
	int error = 0;

	if (!body)
		return pv_error_set(PV_ERROR, NULL, "cannot render notification %lld", (long long)ob->id);
	headers = curl_slist_append(headers, "Content-Type: application/json");
	snprintf(h, sizeof(h), "X-Previewd-Event: %s", ob->kind);
	headers = curl_slist_append(headers, h);
	snprintf(h, sizeof(h), "X-Previewd-Delivery: %lld", (long long)ob->id);
	headers = curl_slist_append(headers, h);
	if (n->cfg->webhook_secret && *n->cfg->webhook_secret) {
		snprintf(h, sizeof(h), "X-Previewd-Timestamp: %lld", ts);
		headers = curl_slist_append(headers, h);
		pv_notify_sign(sig, sizeof(sig), n->cfg->webhook_secret, ts, body);
		snprintf(h, sizeof(h), "X-Previewd-Signature: %s", sig);
		headers = curl_slist_append(headers, h);
	}
	curl_easy_reset(n->curl);
	curl_easy_setopt(n->curl, CURLOPT_URL, n->cfg->webhook_url);
	curl_easy_setopt(n->curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(n->curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(n->curl, CURLOPT_TIMEOUT_MS, (long)n->cfg->webhook_timeout_ms);
	curl_easy_setopt(n->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)n->cfg->webhook_timeout_ms);
	curl_easy_setopt(n->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(n->curl, CURLOPT_USERAGENT, "previewd/" PREVIEWD_VERSION);
	curl_easy_setopt(n->curl, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(n->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	/* the signature and the URL's credentials are the receiver's: a
	 * redirect is a failed delivery, never followed elsewhere */
	curl_easy_setopt(n->curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(n->curl, CURLOPT_UNRESTRICTED_AUTH, 0L);
	error = pv_outbound_curl(n->curl, n->cfg->webhook_url, n->cfg);
	if (error == 0 && (rc = curl_easy_perform(n->curl)) != CURLE_OK)
		error = pv_error_set(PV_EUNAVAIL, NULL, "%s", pv_outbound_curl_strerror(rc));
	else if (error == 0 && (curl_easy_getinfo(n->curl, CURLINFO_RESPONSE_CODE, &status), status < 200 || status > 299))
		error = pv_error_set(PV_EUNAVAIL, NULL, "the receiver answered %ld", status);
	curl_slist_free_all(headers);
	free(body);
	*status_out = status;
	return error;
}

struct pass {
	struct pv_notify *n;
	struct pv_outbox *v;
	size_t count, cap;
};

static int collect(const struct pv_outbox *ob, void *payload)
{
	struct pass *p = payload;
	int error;

	if ((error = pv_array_reserve(&p->v, &p->cap, p->count + 1, sizeof(*p->v))) < 0)
		return error;
	p->v[p->count] = *ob;
	if (!(p->v[p->count].payload = strdup(ob->payload)))
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	p->count++;
	return 0;
}

static long long backoff(const struct pv_notify *n, int attempts)
{
	long long d = 1;

	for (int i = 1; i < attempts && d < n->cfg->webhook_backoff_max; i++)
		d *= 2;
	return d < n->cfg->webhook_backoff_max ? d : n->cfg->webhook_backoff_max;
}

static void count(struct pv_notify *n, unsigned long long *counter)
{
	pthread_mutex_lock(&n->lock);
	(*counter)++;
	pthread_mutex_unlock(&n->lock);
}

/* Give ob up: the receiver answered, so the pass goes on with the next. */
static void dead_letter(struct pv_notify *n, const struct pv_outbox *ob, const char *why)
{
	count(n, &n->dead);
	log_warn("notify: giving %s #%lld up after %d attempts: %s", ob->kind, (long long)ob->id, ob->attempts + 1, why);
	if (pv_store_outbox_dead(n->store, ob->id, (int64_t)time(NULL), why) < 0)
		log_warn("notify: %s", pv_error_last()->message);
	n->failures = 0;
}

static void run_pass(struct pv_notify *n)
{
	struct pass p = { .n = n };
	int64_t now = (int64_t)time(NULL);

	if (pv_store_outbox_due(n->store, now, BATCH, collect, &p) < 0) {
		log_warn("notify: %s", pv_error_last()->message);
		goto out;
	}
	for (size_t i = 0; i < p.count; i++) {
		const struct pv_outbox *ob = &p.v[i];
		long status = 0;

		if (pv_worker_stopping(&n->worker))
			break;
		if (deliver(n, ob, &status) == 0) {
			if (pv_store_outbox_delivered(n->store, ob->id, (int64_t)time(NULL)) < 0)
				log_warn("notify: %s", pv_error_last()->message);
			log_debug("notify: delivered %s #%lld", ob->kind, (long long)ob->id);
			count(n, &n->delivered);
			if (n->failures)
				log_info("notify: the receiver answers again");
			n->failures = 0;
			continue;
		}
		char why[300];
		long long wait;

		count(n, &n->failed);
		snprintf(why, sizeof(why), "%s", pv_error_last()->message);
		if (refused(status) && ob->attempts + 1 >= REFUSED_ATTEMPTS) {
			dead_letter(n, ob, why);
			continue;
		}
		wait = backoff(n, (int)++n->failures);
		log_warn("notify: delivering %s #%lld failed (attempt %d): %s; next try in %llds", ob->kind,
			(long long)ob->id, ob->attempts + 1, why, wait);
		/* the receiver is likely down: hold every delivery, keep the order */
		n->blocked_until = (int64_t)time(NULL) + wait;
		if (pv_store_outbox_retry(n->store, ob->id, n->blocked_until, why) < 0)
			log_warn("notify: %s", pv_error_last()->message);
		break;
	}
out:
	for (size_t i = 0; i < p.count; i++)
		free(p.v[i].payload);
	free(p.v);
}

/* Outbox due times are wall-clock seconds: each pass re-reads time(NULL),
 * the wait until the next one is a delay (worker.h). */
static void notify_run(struct pv_worker *w, void *arg)
{
	struct pv_notify *n = arg;

	while (!pv_worker_stopping(w)) {
		int64_t next = 0, now;

		now = (int64_t)time(NULL);
		if (now >= n->blocked_until)
			run_pass(n);
		now = (int64_t)time(NULL);
		if (pv_store_outbox_next(n->store, &next) < 0 || next == 0 || next > now + 3600)
			next = now + 3600;
		if (next < n->blocked_until)
			next = n->blocked_until;
		/* due now: loop at once (a full batch, or kicked meanwhile); while
		 * blocked, kicks do not shorten the wait (they stay pending) */
		if (next <= now)
			continue;
		if (now < n->blocked_until)
			pv_worker_sleep(w, pv_worker_ms_until(next));
		else
			pv_worker_wait(w, pv_worker_ms_until(next));
	}
}

int pv_notify_start(struct pv_notify **out, const struct pv_config *cfg, const char *db_path)
{
	struct pv_notify *n;
	int error;

	*out = NULL;
	if (!(n = calloc(1, sizeof(*n))))
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	n->cfg = cfg;
	pthread_mutex_init(&n->lock, NULL);
	if (!(n->curl = curl_easy_init())) {
		error = pv_error_set(PV_ERROR, NULL, "cannot create a CURL handle");
		goto fail;
	}
	if ((error = pv_store_open_config(&n->store, cfg, db_path)) < 0 || (error = pv_store_relax(n->store)) < 0 ||
	    (error = pv_worker_start(&n->worker, "pv-notify", notify_run, n)) < 0)
		goto fail;
	*out = n;
	return 0;
fail:
	pv_notify_free(n);
	return error;
}

int pv_notify_metrics(struct pv_notify *n, struct pv_strbuf *out)
{
	unsigned long long delivered, failed, dead;

	pthread_mutex_lock(&n->lock);
	delivered = n->delivered;
	failed = n->failed;
	dead = n->dead;
	pthread_mutex_unlock(&n->lock);
	return pv_strbuf_printf(out,
		"# HELP previewd_notifications_delivered_total Notifications the receiver accepted.\n"
		"# TYPE previewd_notifications_delivered_total counter\n"
		"previewd_notifications_delivered_total %llu\n"
		"# HELP previewd_notification_failures_total Delivery attempts that failed (retried later).\n"
		"# TYPE previewd_notification_failures_total counter\n"
		"previewd_notification_failures_total %llu\n"
		"# HELP previewd_notify_dead_letters_total Notifications given up: the receiver kept refusing them (4xx).\n"
		"# TYPE previewd_notify_dead_letters_total counter\n"
		"previewd_notify_dead_letters_total %llu\n", delivered, failed, dead);
}

void pv_notify_kick(struct pv_notify *n)
{
	if (n)
		pv_worker_kick(&n->worker);
}

void pv_notify_free(struct pv_notify *n)
{
	if (!n)
		return;
	pv_worker_stop(&n->worker);
	curl_easy_cleanup(n->curl);
	pv_store_free(n->store);
	pthread_mutex_destroy(&n->lock);
	free(n);
}
