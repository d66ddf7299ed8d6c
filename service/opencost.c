/*
 * opencost.c - the pv-opencost thread and the allocation answer's reader
 * (see opencost.h).
 */
#include "opencost.h"

#include <curl/curl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cost.h"
#include "log.h"
#include "outbound.h"
#include "store.h"
#include "strbuf.h"
#include "valid.h"
#include "worker.h"

#define MAX_ANSWER ((size_t)8 << 20)  /* a namespace is ~1 KiB of it: thousands fit */
#define DAY_MINUTES 1440.0
#define LOG_EVERY_MS 60000

struct pv_opencost {
	const struct pv_config *cfg;
	struct pv_store *store;
	CURL *curl;
	struct pv_worker worker;
};

/* ---------------------------------------------------------------- reading */

static int number_of(const json_t *v, double *out)
{
	if (!json_is_number(v))
		return 0;
	*out = json_number_value(v);
	return isfinite(*out) && *out >= 0;
}

/* Add one set's allocations to acc: namespace -> [totalCost, minutes]. */
static int add_set(json_t *acc, const json_t *set)
{
	const char *ns;
	json_t *alloc, *sum;
	double cost, minutes;

	json_object_foreach((json_t *)set, ns, alloc) {
		if (!json_is_object(alloc))
			return pv_error_set(PV_EINVAL, NULL, "OpenCost's allocation of %.64s is not an object", ns);
		if (!number_of(json_object_get(alloc, "totalCost"), &cost))
			return pv_error_set(PV_EINVAL, NULL, "OpenCost's allocation of %.64s has no totalCost >= 0", ns);
		if (!number_of(json_object_get(alloc, "minutes"), &minutes))
			minutes = 0;
		/* OpenCost's own entries, and names no environment can have */
		if (ns[0] == '_' || pv_valid_name(ns, NULL) < 0)
			continue;
		if (!(sum = json_object_get(acc, ns))) {
			if (json_object_set_new(acc, ns, sum = json_pack("[f, f]", 0.0, 0.0)) < 0 || !sum)
				return pv_error_set(PV_ERROR, NULL, "out of memory");
		}
		json_array_set_new(sum, 0, json_real(json_real_value(json_array_get(sum, 0)) + cost));
		json_array_set_new(sum, 1, json_real(json_real_value(json_array_get(sum, 1)) + minutes));
	}
	return 0;
}

int pv_opencost_parse(json_t **out, const char *body, size_t len)
{
	json_t *doc, *data, *set, *acc = NULL, *sum, *per = NULL;
	const json_t *code;
	const char *ns;
	size_t i;
	int error = 0;

	*out = NULL;
	if (!(doc = json_loadb(body, len, 0, NULL)) || !json_is_object(doc)) {
		json_decref(doc);
		return pv_error_set(PV_EINVAL, NULL, "OpenCost's answer is not a JSON object");
	}
	code = json_object_get(doc, "code");
	data = json_object_get(doc, "data");
	if (code && (!json_is_integer(code) || json_integer_value(code) != 200)) {
		error = pv_error_set(PV_EINVAL, NULL, "OpenCost answered code %lld: %.200s",
			json_is_integer(code) ? (long long)json_integer_value(code) : -1LL,
			json_string_value(json_object_get(doc, "message")) ? json_string_value(json_object_get(doc, "message")) : "");
		goto done;
	}
	if (!json_is_array(data)) {
		error = pv_error_set(PV_EINVAL, NULL, "OpenCost's answer has no data array");
		goto done;
	}
	if (!(acc = json_object()) || !(per = json_object())) {
		error = pv_error_set(PV_ERROR, NULL, "out of memory");
		goto done;
	}
	json_array_foreach(data, i, set) {
		if (json_is_null(set))
			continue;  /* a step with nothing allocated */
		if (!json_is_object(set)) {
			error = pv_error_set(PV_EINVAL, NULL, "OpenCost's data[%zu] is not an object", i);
			goto done;
		}
		if ((error = add_set(acc, set)) < 0)
			goto done;
	}
	json_object_foreach(acc, ns, sum) {
		double cost = json_real_value(json_array_get(sum, 0)), minutes = json_real_value(json_array_get(sum, 1));
		double day = minutes > 0 ? cost * DAY_MINUTES / minutes : cost;

		if (!isfinite(day) || day > PV_COST_MAX_DAY)
			continue;  /* a figure no namespace costs is OpenCost's error, not a price */
		if (json_object_set_new(per, ns, json_real(pv_cost_round(day))) < 0) {
			error = pv_error_set(PV_ERROR, NULL, "out of memory");
			goto done;
		}
	}
	*out = per;
	per = NULL;
done:
	json_decref(per);
	json_decref(acc);
	json_decref(doc);
	return error;
}

/* ---------------------------------------------------------------- polling */

/* One poll: ask, read, replace the table's rows. */
static int poll_once(struct pv_opencost *o)
{
	struct pv_strbuf body = PV_STRBUF_INIT_MAX(MAX_ANSWER);
	char url[2048];
	json_t *per = NULL;
	long status = 0;
	int error;

	if ((size_t)snprintf(url, sizeof(url), "%s/allocation/compute?window=1d&aggregate=namespace&accumulate=true",
		    o->cfg->opencost_url) >= sizeof(url))
		return pv_error_set(PV_EINVAL, NULL, "PREVIEWD_OPENCOST_URL is too long");
	if ((error = pv_outbound_get(o->curl, url, o->cfg, (long)o->cfg->webhook_timeout_ms,
		     (long)o->cfg->webhook_timeout_ms, &body, &status)) < 0) {
		error = pv_error_set(PV_EUNAVAIL, NULL, "OpenCost: %s", pv_error_last()->message);
		goto done;
	}
	if (status != 200) {
		error = pv_error_set(PV_EUNAVAIL, NULL, "OpenCost answered HTTP %ld", status);
		goto done;
	}
	if ((error = pv_opencost_parse(&per, body.buf ? body.buf : "", body.len)) < 0)
		goto done;
	error = pv_store_opencost_replace(o->store, per, (int64_t)time(NULL));
	if (error == 0)
		log_debug("opencost: %zu namespace(s) read", json_object_size(per));
done:
	json_decref(per);
	pv_strbuf_dispose(&body);
	return error;
}

static void opencost_run(struct pv_worker *w, void *arg)
{
	struct pv_opencost *o = arg;

	while (!pv_worker_stopping(w)) {
		if (poll_once(o) < 0)
			log_warn_every(LOG_EVERY_MS, "opencost: %s (previewd shows its estimate meanwhile)",
				pv_error_last()->message);
		pv_worker_sleep(w, o->cfg->opencost_interval * 1000);
	}
}

int pv_opencost_start(struct pv_opencost **out, const struct pv_config *cfg, const char *db_path)
{
	struct pv_opencost *o;
	int error;

	*out = NULL;
	if (!(o = calloc(1, sizeof(*o))))
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	o->cfg = cfg;
	if (!(o->curl = curl_easy_init())) {
		error = pv_error_set(PV_ERROR, NULL, "cannot create a CURL handle");
		goto fail;
	}
	if ((error = pv_store_open_config(&o->store, cfg, db_path)) < 0 || (error = pv_store_relax(o->store)) < 0 ||
	    (error = pv_worker_start(&o->worker, "pv-opencost", opencost_run, o)) < 0)
		goto fail;
	log_info("opencost: reading each namespace's cost from %s every %llds", cfg->opencost_url,
		(long long)cfg->opencost_interval);
	*out = o;
	return 0;
fail:
	pv_opencost_free(o);
	return error;
}

void pv_opencost_free(struct pv_opencost *o)
{
	if (!o)
		return;
	pv_worker_stop(&o->worker);
	if (o->curl)
		curl_easy_cleanup(o->curl);
	pv_store_free(o->store);
	free(o);
}
