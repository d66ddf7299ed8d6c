/*
 * activity.c - the activity query to Prometheus (see activity.h).
 */
#include "activity.h"

#include <curl/curl.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "outbound.h"
#include "url.h"

#define MAX_RESPONSE (4u << 20)  /* one series per namespace asked about: small */

struct pv_activity {
	const struct pv_config *cfg;
	CURL *curl;
};

int pv_activity_query(struct pv_strbuf *out, const char *tmpl, const char *const *names, size_t n,
	long long window_seconds)
{
	const char *p = tmpl;
	int error = 0;

	while (*p && error == 0) {
		if (strncmp(p, "{namespaces}", 12) == 0) {
			for (size_t i = 0; i < n && error == 0; i++) {
				if (i)
					error = pv_strbuf_add(out, "|", 1);
				if (error == 0)
					error = pv_strbuf_add(out, names[i], strlen(names[i]));
			}
			p += 12;
		} else if (strncmp(p, "{window}", 8) == 0) {
			error = pv_strbuf_printf(out, "%llds", window_seconds);
			p += 8;
		} else {
			/* up to the next placeholder candidate: PromQL's braces pass */
			size_t k = strcspn(p + 1, "{") + 1;
			error = pv_strbuf_add(out, p, k);
			p += k;
		}
	}
	return error;
}

static int bad(const char *why)
{
	return pv_error_set(PV_EUNAVAIL, NULL, "Prometheus: %s", why);
}

int pv_activity_parse(const char *body, size_t len, pv_activity_cb cb, void *payload)
{
	json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL), *data, *result, *series;
	const char *status, *type;
	size_t i;
	int error = 0;

	if (!json_is_object(doc)) {
		error = bad("the answer is not a JSON object");
		goto out;
	}
	status = json_string_value(json_object_get(doc, "status"));
	if (!status || strcmp(status, "success") != 0) {
		const char *msg = json_string_value(json_object_get(doc, "error"));
		error = pv_error_set(PV_EUNAVAIL, NULL, "Prometheus: status %s%s%.200s", status ? status : "missing",
			msg ? ": " : "", msg ? msg : "");
		goto out;
	}
	data = json_object_get(doc, "data");
	type = json_string_value(json_object_get(data, "resultType"));
	result = json_object_get(data, "result");
	if (!type || strcmp(type, "vector") != 0 || !json_is_array(result)) {
		error = bad("the answer is not an instant vector (the activity query must be one)");
		goto out;
	}
	json_array_foreach(result, i, series) {
		json_t *metric = json_object_get(series, "metric"), *value = json_object_get(series, "value");
		const char *ns = json_string_value(json_object_get(metric, "exported_namespace")), *v;
		char *end;
		double d;

		if (!ns)
			ns = json_string_value(json_object_get(metric, "namespace"));
		/* [ <unix time>, "<number>" ] */
		if (!json_is_array(value) || json_array_size(value) != 2 || !json_is_number(json_array_get(value, 0)) ||
		    !(v = json_string_value(json_array_get(value, 1)))) {
			error = bad("a series' value is not [time, \"number\"]");
			goto out;
		}
		d = strtod(v, &end);
		if (end == v || *end) {
			error = bad("a series' value is not a number");
			goto out;
		}
		if (ns && *ns)
			cb(ns, d, payload);
	}
out:
	json_decref(doc);
	return error;
}

int pv_activity_new(struct pv_activity **out, const struct pv_config *cfg)
{
	struct pv_activity *a = calloc(1, sizeof(*a));

	*out = NULL;
	if (!a || !(a->curl = curl_easy_init())) {
		free(a);
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	}
	a->cfg = cfg;
	*out = a;
	return 0;
}

void pv_activity_free(struct pv_activity *a)
{
	if (!a)
		return;
	curl_easy_cleanup(a->curl);
	free(a);
}

/* One GET; 0 with a 2xx and the body in response. */
static int get(struct pv_activity *a, const char *url, struct pv_strbuf *response)
{
	char shown[1024];
	long status = 0;
	int error;

	error = pv_outbound_get(a->curl, url, a->cfg, 10000L, 5000L, response, &status);
	/* the query is long and the same every time: the reason names the host */
	pv_url_redact(shown, sizeof(shown), url);
	shown[strcspn(shown, "?")] = '\0';
	if (error < 0)
		return pv_error_set(PV_EUNAVAIL, NULL, "%s: %s", shown, pv_error_last()->message);
	if (status < 200 || status > 299)
		return pv_error_set(PV_EUNAVAIL, NULL, "%s answered %ld", shown, status);
	return 0;
}

struct marks {
	const char *const *names;
	size_t n;
	unsigned char *active;
};

static void mark(const char *ns, double value, void *payload)
{
	struct marks *m = payload;

	/* NaN (no samples) and 0 are no requests */
	if (!(value > 0))
		return;
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->names[i], ns) == 0)
			m->active[i] = 1;
}

int pv_activity_poll(struct pv_activity *a, const char *const *names, size_t n, unsigned char *active)
{
	struct pv_strbuf query = PV_STRBUF_INIT, url = PV_STRBUF_INIT, body = PV_STRBUF_INIT_MAX(MAX_RESPONSE);
	const char *base = a->cfg->prometheus_url;
	size_t blen = strlen(base);
	int error = 0;

	memset(active, 0, n);
	while (blen > 0 && base[blen - 1] == '/')
		blen--;
	for (size_t i = 0; i < n && error == 0; i += PV_ACTIVITY_BATCH) {
		size_t k = n - i < PV_ACTIVITY_BATCH ? n - i : PV_ACTIVITY_BATCH;
		struct marks m = { names + i, k, active + i };
		char *escaped;

		pv_strbuf_reset(&query);
		pv_strbuf_reset(&url);
		pv_strbuf_reset(&body);
		if ((error = pv_activity_query(&query, a->cfg->activity_query, names + i, k, a->cfg->activity_window)) < 0)
			break;
		if (!(escaped = curl_easy_escape(a->curl, query.buf ? query.buf : "", (int)query.len))) {
			error = pv_error_set(PV_ERROR, NULL, "out of memory");
			break;
		}
		error = pv_strbuf_printf(&url, "%.*s/api/v1/query?query=%s", (int)blen, base, escaped);
		curl_free(escaped);
		if (error == 0 && (error = get(a, url.buf, &body)) == 0)
			error = pv_activity_parse(body.buf ? body.buf : "", body.len, mark, &m);
	}
	pv_strbuf_dispose(&query);
	pv_strbuf_dispose(&url);
	pv_strbuf_dispose(&body);
	if (error < 0)
		memset(active, 0, n);
	return error;
}
