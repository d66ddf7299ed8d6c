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
 * With PREVIEWD_ARGOCD_URL and a token, the thread also follows previewd's
 * Applications and records each live environment's sync, health and
 * revision; the first time one is Synced to a commit carrying its state
 * and Healthy (the rule: pv_store_argocd_set) the "ready" event goes out.
 * Only previewd's Applications are asked for (PREVIEWD_ARGOCD_SELECTOR, a
 * label selector Argo CD applies) and only the fields read (Argo CD's
 * `fields`): with thousands of other Applications the answers stay small.
 * Changes come from Argo CD's watch stream (/api/v1/stream/applications,
 * one JSON event a line) within a second of the sync; the list
 * (/api/v1/applications) is read at start, every PREVIEWD_ARGOCD_POLL as
 * the fallback, and before each reconnect of the stream.  An unreachable
 * Argo CD leaves the recorded status as it was (with its age in
 * argocd.checked_at) and shows in /readyz: it never fails a request.
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
#include "store.h"

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

/* The stream's lines: bytes in as they come, each complete line (without
 * its newline, maybe empty) to cb; a line longer than max_line is dropped
 * whole and counted.  Exposed for tests and the fuzzer. */
struct pv_argocd_lines;
struct pv_argocd_lines *pv_argocd_lines_new(size_t max_line);
void pv_argocd_lines_free(struct pv_argocd_lines *l);
void pv_argocd_lines_feed(struct pv_argocd_lines *l, const char *data, size_t len,
	void (*cb)(const char *line, size_t len, void *ctx), void *ctx);
uint64_t pv_argocd_lines_dropped(const struct pv_argocd_lines *l);

/* What previewd reads of one Application (borrowed from app): its name and
 * status.  PV_EINVAL without a name. */
int pv_argocd_app_read(const json_t *app, const char **name, struct pv_argocd_app *out) PV_WARN_UNUSED;

/* One line of the stream, {"result": {"type": T, "application": {...}}}:
 * *doc (to json_decref), *type and *app borrowed from it.  PV_EINVAL for
 * anything else (Argo CD's {"error": ...} included, its message said). */
int pv_argocd_event_read(const char *line, size_t len, json_t **doc, const char **type, const json_t **app)
	PV_WARN_UNUSED;

#endif
