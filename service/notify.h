/*
 * notify.h - the notifier thread: delivers the outbox to the webhook.
 *
 * Notifications are written to the outbox table in the same transaction as
 * the change that causes them (store.c), so a crash can delay one but not
 * lose it.  This thread, with its own CURL handle and SQLite connection,
 * POSTs each to PREVIEWD_WEBHOOK_URL, oldest first, and marks it delivered
 * on a 2xx.  A failure backs that notification off exponentially (capped at
 * PREVIEWD_WEBHOOK_BACKOFF_MAX) and ends the pass: a receiver that is down
 * is not hammered, and one that is slow only delays this thread, never a
 * request or the reaper.  A notification the receiver refuses (a 4xx other
 * than 408 or 429) is retried the same way a bounded number of times, then
 * dead-lettered (outbox.dead_at, previewd_notify_dead_letters_total) and the
 * pass goes on: one event a receiver will never take must not hold back
 * every later one.  Delivery is at least once; the `id` field and the
 * X-Previewd-Delivery header let receivers drop duplicates.
 *
 * Threads: its own worker (worker.h, "pv-notify"); pv_notify_kick from any.
 * While a failure backs it off, kicks do not shorten the wait.
 */
#ifndef PV_NOTIFY_H
#define PV_NOTIFY_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "config.h"
#include "error.h"
#include "strbuf.h"

struct pv_notify;

int pv_notify_start(struct pv_notify **out, const struct pv_config *cfg, const char *db_path) PV_WARN_UNUSED;
void pv_notify_kick(struct pv_notify *n);
void pv_notify_free(struct pv_notify *n);

/* Append the notifier's counters in Prometheus text format (any thread). */
int pv_notify_metrics(struct pv_notify *n, struct pv_strbuf *out) PV_WARN_UNUSED;

/*
 * The body POSTed for outbox row id: kind and payload as stored.  JSON
 * format: {id, event, occurred_at, environment{...}, url, owner, expires_at,
 * actor, text, extend}; slack format: {text, blocks} mentioning the owner,
 * the URL and how to extend, an expiry warning with its buttons (chatmsg.h);
 * mattermost: {text, attachments} likewise; teams: an Adaptive Card.  Returns a malloc'd string or NULL.  Pure: any thread.
 */
char *pv_notify_render(const struct pv_config *cfg, int64_t id, const char *kind, const char *payload_json);

/* "v1=" + hex HMAC-SHA256(secret, "v1:" + timestamp + ":" + body) into out
 * (at least 70 bytes). */
void pv_notify_sign(char *out, size_t len, const char *secret, long long timestamp, const char *body);

#endif
