/*
 * argocd_int.h - what argocd.c (webhooks, the thread's loop) and
 * argocd_apps.c (reading Applications: the list and the watch stream) share;
 * not for the rest of previewd.  Everything here but the lock's fields
 * belongs to the pv-argocd thread.
 */
#ifndef PV_ARGOCD_INT_H
#define PV_ARGOCD_INT_H

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>

#include "argocd.h"
#include "store.h"
#include "strbuf.h"
#include "worker.h"

/* at most this many pushes wait for the thread to record them */
#define PV_ARGOCD_PENDING_PUSHES 64

struct pv_argocd {
	const struct pv_config *cfg;
	struct pv_store *store;
	CURL *curl;             /* webhooks and the list: one blocking exchange at a time */
	CURLM *multi;           /* the watch stream, waited on with the worker's kicks */
	CURL *stream;
	int stream_on;          /* stream is in multi */
	void (*changed)(void *ctx);
	void *ctx;
	struct pv_worker worker;
	int quit;               /* atomic: pv_argocd_free was called (the multi wait cannot see the worker's flag) */

	/* the watch stream (argocd_apps.c) */
	struct pv_argocd_lines *lines;
	char list_rv[64];       /* resourceVersion of the last list: the stream starts after it */
	int64_t stream_opened_ms, stream_retry_ms, stream_backoff_ms;
	uint64_t stream_events;
	struct curl_slist *stream_headers;
	char *stream_url;

	pthread_mutex_t lock;   /* the pending pushes and the status */
	/* the pending push event: pushes that land while a webhook is in flight
	 * are merged (first before, last after, all paths) */
	int have_push;
	char before[48], after[48];
	json_t *added, *modified, *removed;
	/* commits pushed, for the ready rule (pv_store_argocd_pushed) */
	char pushed[PV_ARGOCD_PENDING_PUSHES][48];
	int64_t pushed_at[PV_ARGOCD_PENDING_PUSHES];
	size_t npushed;
	struct pv_argocd_status status;
};

/* argocd.c: one blocking HTTP exchange on a->curl; 0 with a 2xx, else
 * PV_EUNAVAIL with the reason. */
int pv_argocd__exchange(struct pv_argocd *a, const char *url, const char *body, struct curl_slist *headers,
	struct pv_strbuf *response) PV_WARN_UNUSED;

/* argocd.c: wake the thread (a push, a stop) wherever it waits. */
void pv_argocd__wake(struct pv_argocd *a);

/* argocd_apps.c: the Authorization and Accept headers for the API. */
struct curl_slist *pv_argocd__api_headers(struct pv_argocd *a);
/* One read of the list (also the stream's resync): 0 or the error, which is
 * in the status too. */
int pv_argocd__poll(struct pv_argocd *a);
/* Open the watch stream after the last list; its end is seen by
 * pv_argocd__stream_done. */
void pv_argocd__stream_open(struct pv_argocd *a);
/* After curl_multi_perform: whether the stream ended (then it is closed and
 * the retry scheduled). */
int pv_argocd__stream_done(struct pv_argocd *a);
void pv_argocd__stream_close(struct pv_argocd *a);

#endif
