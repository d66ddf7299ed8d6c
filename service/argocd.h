/*
 * argocd.h - the Argo CD side: push webhooks and Application status.
 *
 * After each push the Git writer hands the changed paths to
 * pv_argocd_pushed(); this module's thread POSTs a GitHub-style push event
 * to every PREVIEWD_ARGOCD_WEBHOOK_URL, so Argo CD refreshes at once instead
 * of at its next poll (~3 minutes).  Pushes that pile up while a webhook is
 * slow are merged into one event.  Webhooks are best effort: Argo CD polls
 * anyway, so one lost in a crash only costs time.
 *
 * With PREVIEWD_ARGOCD_URL and a token, the thread also reads
 * /api/v1/applications every PREVIEWD_ARGOCD_POLL and records each live
 * environment's sync and health status; the first time one is Healthy the
 * "ready" event goes out.  An unreachable Argo CD leaves the recorded
 * status as it was (with its age in argocd.checked_at) and shows in
 * /readyz: it never fails a request.
 *
 * Threads: its own worker (worker.h, "pv-argocd"), CURL handle and SQLite
 * connection; the other functions from any thread.
 */
#ifndef PV_ARGOCD_H
#define PV_ARGOCD_H

#include <jansson.h>
#include <stdint.h>

#include "config.h"
#include "error.h"

struct pv_argocd;

/* Started only when a webhook URL or an Argo CD URL is configured.
 * changed(ctx) is called after statuses changed (events to deliver). */
int pv_argocd_start(struct pv_argocd **out, const struct pv_config *cfg, const char *db_path,
	void (*changed)(void *ctx), void *ctx) PV_WARN_UNUSED;
void pv_argocd_free(struct pv_argocd *a);

/* A push landed: before/after are commit ids (before "" for a root commit);
 * changes is {"added":[paths], "modified":[...], "removed":[...]}, borrowed. */
void pv_argocd_pushed(struct pv_argocd *a, const char *before, const char *after, const json_t *changes);

struct pv_argocd_status {
	int enabled;          /* status reading configured */
	int reachable;
	char error[256];
	int64_t last_poll_at;
	uint64_t webhooks_sent, webhook_failures;
};

void pv_argocd_status(struct pv_argocd *a, struct pv_argocd_status *out);

/* The GitHub push event previewd sends: exposed for tests.  Returns a
 * malloc'd JSON string. */
char *pv_argocd_push_payload(const struct pv_config *cfg, const char *before, const char *after, const json_t *changes);

#endif
