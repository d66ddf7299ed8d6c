/*
 * argocd_apps.c - reading previewd's Applications from Argo CD: the list
 * (/api/v1/applications) and the watch stream
 * (/api/v1/stream/applications), both with the label selector and the
 * fields previewd reads, and what they say recorded in the store (see
 * argocd.h).  Runs on the pv-argocd thread.
 *
 * Both answers are bounded: the list is capped at MAX_LIST (with the
 * selector and the fields an Application is a few hundred bytes, so that
 * is tens of thousands of previewd's own), a line of the stream at
 * MAX_LINE (a longer one is dropped; the next list read covers it).
 */
#include "argocd_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "outbound.h"
#include "timefmt.h"
#include "url.h"

#define MAX_LIST (16u << 20)
#define MAX_LINE (256u << 10)
#define BACKOFF_MAX_MS 60000
/* a stream that stayed open this long was healthy: its end starts the
 * backoff over */
#define STREAM_HEALTHY_MS 30000

/* The fields previewd reads, as Argo CD's `fields` names them (its UI asks
 * the same way): the list's under items., the stream's under
 * result.application. */
#define APP_FIELDS(p) p "metadata.name," p "status.sync.status," p "status.sync.revision," \
	p "status.health.status," p "status.operationState.finishedAt"
#define LIST_FIELDS "metadata.resourceVersion," APP_FIELDS("items.")
#define WATCH_FIELDS "result.type," APP_FIELDS("result.application.")

/* ---- lines ---------------------------------------------------------------- */

struct pv_argocd_lines {
	char *buf;
	size_t len, max;
	int dropping;       /* inside a line over max: skip to its newline */
	uint64_t dropped;
};

struct pv_argocd_lines *pv_argocd_lines_new(size_t max_line)
{
	struct pv_argocd_lines *l = calloc(1, sizeof(*l));

	if (l && !(l->buf = malloc(max_line ? max_line : 1))) {
		free(l);
		return NULL;
	}
	if (l)
		l->max = max_line;
	return l;
}

void pv_argocd_lines_free(struct pv_argocd_lines *l)
{
	if (!l)
		return;
	free(l->buf);
	free(l);
}

uint64_t pv_argocd_lines_dropped(const struct pv_argocd_lines *l)
{
	return l ? l->dropped : 0;
}

void pv_argocd_lines_feed(struct pv_argocd_lines *l, const char *data, size_t len,
	void (*cb)(const char *line, size_t len, void *ctx), void *ctx)
{
	while (len > 0) {
		const char *nl = memchr(data, '\n', len);
		size_t part = nl ? (size_t)(nl - data) : len;

		if (!l->dropping && l->len + part > l->max) {
			l->dropping = 1;
			l->dropped++;
			l->len = 0;
		}
		if (!l->dropping) {
			memcpy(l->buf + l->len, data, part);
			l->len += part;
		}
		if (!nl)
			return;
		if (!l->dropping)
			cb(l->buf, l->len, ctx);
		l->dropping = 0;
		l->len = 0;
		data = nl + 1;
		len -= part + 1;
	}
}

/* ---- what an Application says --------------------------------------------- */

static const json_t *path2(const json_t *o, const char *a, const char *b)
{
	return json_object_get(json_object_get(o, a), b);
}

int pv_argocd_app_read(const json_t *app, const char **name, struct pv_argocd_app *out)
{
	const json_t *st = json_object_get(app, "status");
	const char *finished, *s;
	int64_t t;

	*name = json_string_value(path2(app, "metadata", "name"));
	if (!*name || !**name)
		return pv_error_set(PV_EINVAL, NULL, "an Application without a name");
	s = json_string_value(path2(st, "sync", "status"));
	out->sync = s && *s ? s : "Unknown";
	s = json_string_value(path2(st, "health", "status"));
	out->health = s && *s ? s : "Unknown";
	s = json_string_value(path2(st, "sync", "revision"));
	out->revision = s ? s : "";
	/* when the last sync finished: for a revision previewd did not push */
	finished = json_string_value(path2(st, "operationState", "finishedAt"));
	out->finished_at = finished && pv_time_parse(finished, &t) == 0 ? t : 0;
	return 0;
}

int pv_argocd_event_read(const char *line, size_t len, json_t **doc, const char **type, const json_t **app)
{
	const json_t *result;
	const char *msg;

	*type = NULL;
	*app = NULL;
	if (!(*doc = json_loadb(line, len, 0, NULL)))
		return pv_error_set(PV_EINVAL, NULL, "a line of the watch stream that is not JSON");
	result = json_object_get(*doc, "result");
	*type = json_string_value(json_object_get(result, "type"));
	*app = json_object_get(result, "application");
	if (*type && json_is_object(*app))
		return 0;
	/* the message lives in the document: say it before freeing that */
	msg = json_string_value(path2(*doc, "error", "message"));
	if (msg)
		pv_error_set(PV_EINVAL, NULL, "the watch stream says: %.200s", msg);
	else
		pv_error_set(PV_EINVAL, NULL, "a watch event without a type or an application");
	json_decref(*doc);
	*doc = NULL;
	*type = NULL;
	*app = NULL;
	return PV_EINVAL;
}

/* Record one Application; counts a first ready in *readies. */
static void apply(struct pv_argocd *a, const json_t *app, int64_t now, size_t *readies)
{
	struct pv_argocd_app st;
	const char *name;
	int ready = 0, error;

	if (pv_argocd_app_read(app, &name, &st) < 0)
		return;
	error = pv_store_argocd_set(a->store, name, &st, now, &ready);
	/* an Application previewd does not know (the selector is a label
	 * anyone can set) is not an error */
	if (error < 0 && error != PV_ENOTFOUND)
		log_warn("argocd: %s", pv_error_last()->message);
	*readies += ready != 0;
}

static void set_reachable(struct pv_argocd *a, int ok, int64_t now)
{
	pthread_mutex_lock(&a->lock);
	a->status.reachable = ok;
	if (ok) {
		a->status.error[0] = '\0';
		a->status.last_poll_at = now;
	} else {
		snprintf(a->status.error, sizeof(a->status.error), "%s", pv_error_last()->message);
	}
	pthread_mutex_unlock(&a->lock);
}

/* ---- the list ------------------------------------------------------------ */

struct curl_slist *pv_argocd__api_headers(struct pv_argocd *a)
{
	struct curl_slist *h = NULL;
	char auth[4200];

	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", a->cfg->argocd_token ? a->cfg->argocd_token : "");
	h = curl_slist_append(h, auth);
	h = curl_slist_append(h, "Accept: application/json");
	memset(auth, 0, sizeof(auth));
	return h;
}

/* BASE/api/v1/PATH?selector=..&fields=..[&resourceVersion=..], malloc'd. */
static char *api_url(struct pv_argocd *a, const char *path, const char *fields, const char *rv)
{
	char *sel = curl_easy_escape(a->curl, a->cfg->argocd_selector ? a->cfg->argocd_selector : "", 0);
	char *fl = curl_easy_escape(a->curl, fields, 0);
	char *v = curl_easy_escape(a->curl, rv ? rv : "", 0);
	struct pv_strbuf b = PV_STRBUF_INIT;
	char *url = NULL;

	if (sel && fl && v &&
	    pv_strbuf_printf(&b, "%s/api/v1/%s?selector=%s&fields=%s%s%s", a->cfg->argocd_url, path, sel, fl,
		    *v ? "&resourceVersion=" : "", v) == 0)
		url = pv_strbuf_take(&b, NULL);
	pv_strbuf_dispose(&b);
	curl_free(sel);
	curl_free(fl);
	curl_free(v);
	return url;
}

int pv_argocd__poll(struct pv_argocd *a)
{
	struct pv_strbuf resp = PV_STRBUF_INIT_MAX(MAX_LIST);
	struct curl_slist *h = pv_argocd__api_headers(a);
	json_t *doc = NULL, *app;
	char *url = api_url(a, "applications", LIST_FIELDS, NULL);
	size_t i, readies = 0;
	int64_t now = (int64_t)time(NULL);
	const char *rv;
	int error;

	error = url ? pv_argocd__exchange(a, url, NULL, h, &resp) : pv_error_set(PV_ERROR, NULL, "out of memory");
	curl_slist_free_all(h);
	free(url);
	if (error == 0 && !(doc = json_loadb(resp.buf ? resp.buf : "", resp.len, 0, NULL)))
		error = pv_error_set(PV_EUNAVAIL, NULL, "Argo CD answered something that is not JSON");
	/* the body is not needed past here: free it before the writes */
	pv_strbuf_dispose(&resp);
	if (error < 0) {
		set_reachable(a, 0, now);
		log_warn("argocd: %s", pv_error_last()->message);
		return error;
	}
	json_array_foreach(json_object_get(doc, "items"), i, app)
		apply(a, app, now, &readies);
	rv = json_string_value(path2(doc, "metadata", "resourceVersion"));
	snprintf(a->list_rv, sizeof(a->list_rv), "%s", rv && strlen(rv) < sizeof(a->list_rv) ? rv : "");
	json_decref(doc);
	set_reachable(a, 1, now);
	if (readies && a->changed)
		a->changed(a->ctx);
	return 0;
}

/* ---- the stream ------------------------------------------------------------ */

static void on_line(const char *line, size_t len, void *ctx)
{
	struct pv_argocd *a = ctx;
	const char *type;
	const json_t *app;
	json_t *doc;
	size_t readies = 0;

	if (len == 0)
		return;
	if (pv_argocd_event_read(line, len, &doc, &type, &app) < 0) {
		log_warn("argocd: %s", pv_error_last()->message);
		return;
	}
	a->stream_events++;
	/* DELETED: the environment's end is previewd's own business */
	if (strcmp(type, "DELETED") != 0)
		apply(a, app, (int64_t)time(NULL), &readies);
	json_decref(doc);
	if (readies && a->changed)
		a->changed(a->ctx);
}

static size_t stream_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct pv_argocd *a = userdata;
	long status = 0;

	/* an answer that is not 200 is an error body, not events */
	curl_easy_getinfo(a->stream, CURLINFO_RESPONSE_CODE, &status);
	if (status == 200)
		pv_argocd_lines_feed(a->lines, ptr, size * nmemb, on_line, a);
	return size * nmemb;
}

void pv_argocd__stream_open(struct pv_argocd *a)
{
	pv_argocd__stream_close(a);
	if (!a->lines && !(a->lines = pv_argocd_lines_new(MAX_LINE)))
		return;
	if (!(a->stream = curl_easy_init()) || !(a->stream_url = api_url(a, "stream/applications", WATCH_FIELDS,
							     a->list_rv))) {
		pv_argocd__stream_close(a);
		return;
	}
	a->stream_headers = pv_argocd__api_headers(a);
	curl_easy_setopt(a->stream, CURLOPT_URL, a->stream_url);
	curl_easy_setopt(a->stream, CURLOPT_HTTPHEADER, a->stream_headers);
	curl_easy_setopt(a->stream, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(a->stream, CURLOPT_NOSIGNAL, 1L);
	/* a peer gone without a word is noticed; the polls cover the gap */
	curl_easy_setopt(a->stream, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(a->stream, CURLOPT_TCP_KEEPIDLE, 60L);
	curl_easy_setopt(a->stream, CURLOPT_TCP_KEEPINTVL, 30L);
	curl_easy_setopt(a->stream, CURLOPT_USERAGENT, "previewd/" PREVIEWD_VERSION);
	curl_easy_setopt(a->stream, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(a->stream, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(a->stream, CURLOPT_WRITEFUNCTION, stream_write);
	curl_easy_setopt(a->stream, CURLOPT_WRITEDATA, a);
	/* the same proxy and trust as every other request to Argo CD */
	if (pv_outbound_curl(a->stream, a->stream_url, a->cfg) < 0) {
		log_warn("argocd: %s", pv_error_last()->message);
		pv_argocd__stream_close(a);
		return;
	}
	if (curl_multi_add_handle(a->multi, a->stream) != CURLM_OK) {
		pv_argocd__stream_close(a);
		return;
	}
	a->stream_on = 1;
	a->stream_events = 0;
	a->stream_opened_ms = pv_monotonic_ms();
}

void pv_argocd__stream_close(struct pv_argocd *a)
{
	if (a->stream) {
		if (a->stream_on)
			curl_multi_remove_handle(a->multi, a->stream);
		curl_easy_cleanup(a->stream);
	}
	a->stream = NULL;
	a->stream_on = 0;
	curl_slist_free_all(a->stream_headers);
	a->stream_headers = NULL;
	free(a->stream_url);
	a->stream_url = NULL;
	if (a->lines) {
		/* a partial line of a stream that ended is not an event */
		pv_argocd_lines_free(a->lines);
		a->lines = NULL;
	}
}

int pv_argocd__stream_done(struct pv_argocd *a)
{
	CURLMsg *m;
	int left, ended = 0;
	char shown[1024];
	long status = 0;
	int64_t now = pv_monotonic_ms();

	while ((m = curl_multi_info_read(a->multi, &left)))
		if (m->msg == CURLMSG_DONE && m->easy_handle == a->stream) {
			ended = 1;
			pv_url_redact(shown, sizeof(shown), a->stream_url ? a->stream_url : "");
			shown[strcspn(shown, "?")] = '\0';
			curl_easy_getinfo(a->stream, CURLINFO_RESPONSE_CODE, &status);
			if (m->data.result != CURLE_OK)
				pv_error_set(PV_EUNAVAIL, NULL, "%s: %s", shown, pv_outbound_curl_strerror(m->data.result));
			else if (status != 200)
				pv_error_set(PV_EUNAVAIL, NULL, "%s answered %ld", shown, status);
			else
				pv_error_set(PV_EUNAVAIL, NULL, "%s: the watch stream ended", shown);
		}
	if (!ended)
		return 0;
	if (a->stream_events > 0 || now - a->stream_opened_ms >= STREAM_HEALTHY_MS)
		a->stream_backoff_ms = 1000;
	log_warn("argocd: %s; reading the list and reconnecting in %lld ms", pv_error_last()->message,
		(long long)a->stream_backoff_ms);
	a->stream_retry_ms = now + a->stream_backoff_ms;
	a->stream_backoff_ms = a->stream_backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : a->stream_backoff_ms * 2;
	pv_argocd__stream_close(a);
	return 1;
}
