/*
 * chatreply.h - the thread that POSTs button outcomes to Slack's
 * response_url.
 *
 * Slack wants an interaction answered within three seconds; the outcome of
 * a press then replaces the original message through the payload's
 * response_url.  The HTTP worker acts, queues the reply here and answers
 * 200 at once; this thread, with its own CURL handle, POSTs the replies in
 * order.  The queue is bounded (a flood of presses drops replies, never
 * memory) and only URLs under PREVIEWD_SLACK_RESPONSE_URL_PREFIX are ever
 * contacted, without following redirects.  One attempt each: a response_url
 * is Slack's, and a reply Slack did not take is logged.
 *
 * Threads: its own worker ("pv-chat-reply"); pv_chatreply_post from any.
 * One per process (started by main), so chatops needs no handle.
 */
#ifndef PV_CHATREPLY_H
#define PV_CHATREPLY_H

#include <jansson.h>

#include "config.h"
#include "error.h"

#define PV_CHATREPLY_QUEUE 64

int pv_chatreply_start(const struct pv_config *cfg) PV_WARN_UNUSED;
void pv_chatreply_stop(void);

/* Queue body (not stolen) for url.  PV_EINVAL for a URL outside the
 * prefix, PV_EUNAVAIL when the thread is not running or the queue is
 * full. */
int pv_chatreply_post(const char *url, const json_t *body) PV_WARN_UNUSED;

/* Whether url is one replies may go to: under the prefix, http(s), no
 * userinfo or whitespace.  Pure. */
int pv_chatreply_url_ok(const struct pv_config *cfg, const char *url);

#endif
