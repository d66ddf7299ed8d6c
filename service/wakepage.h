/*
 * wakepage.h - the page a sleeping environment's visitor lands on:
 * GET /wake?host=NAME.DOMAIN and the status it polls, GET
 * /wake/status?host=NAME.DOMAIN.
 *
 * DESIGN: the visitor is anonymous - sent here by the ingress (deploy/
 * README.md) because the environment's address answers nothing while it
 * sleeps - so the page wakes without a token.  That is safe enough to
 * allow because waking is the one write it can make, and the narrowest:
 * only a sleeping environment, back to the awake values its owner already
 * chose (env_sleep.c keeps them), requested by "wake-page" with the
 * visitor's address in the history; it never creates, extends, changes
 * values or deletes.  What an anonymous caller could still do is churn
 * Git (wake, the idle sleep puts it back, wake again), so a wake is
 * rate-limited per client address and per environment (token buckets,
 * ratelimit.h), and a hit on an awake environment writes nothing at all.
 * The status tells only what the visitor can see anyway - whether the
 * address is a preview environment and whether it is up: no owner, no
 * values.  PREVIEWD_DOMAIN is the only domain answered.
 *
 * It is reached two ways: GET /wake?host=NAME.DOMAIN (a redirect from the
 * sleeping environment's Ingress), or as ingress-nginx's custom error
 * backend, which passes the request it could not serve on with an X-Code
 * header and the visitor's Host (pv_wakepage_claims).
 *
 * The page is HTML without inline script (the Content-Security-Policy):
 * wake.js (service/page/) polls the status and goes to http://HOST when
 * the environment is awake; a <meta http-equiv="refresh"> does the same
 * without script.
 *
 * Threads: HTTP workers; pv_wakepage_host is pure (the fuzz target's).
 */
#ifndef PV_WAKEPAGE_H
#define PV_WAKEPAGE_H

#include <stddef.h>

#include "api.h"
#include "config.h"
#include "env.h"

#define PV_WAKEPAGE_ACTOR "wake-page"
#define PV_WAKEPAGE_HOST_MAX 260   /* a DNS name and a port */

struct pv_wakepage;

int pv_wakepage_new(struct pv_wakepage **out, const struct pv_config *cfg) PV_WARN_UNUSED;
void pv_wakepage_free(struct pv_wakepage *wp);

/*
 * host "NAME.DOMAIN" or "NAME.DOMAIN:PORT" (any case, one trailing dot)
 * into name (at least 64 bytes) and, lower-cased without the dot, into
 * canon (PV_WAKEPAGE_HOST_MAX bytes: what the page sends the visitor
 * back to).  PV_EBADREQ (field "host") when it is no host name or NAME is
 * no environment name, PV_ENOTFOUND when it is outside domain or one label
 * too deep.
 */
int pv_wakepage_host(char *name, size_t len, char *canon, const char *host, const char *domain) PV_WARN_UNUSED;

/* 1 when req comes from ingress-nginx's custom error backend (an X-Code
 * header) for a host under PREVIEWD_DOMAIN: a sleeping environment's
 * visitor whose request the ingress could not serve, answered with the
 * wake page whatever its path.  Pure. */
int pv_wakepage_claims(const struct pv_wakepage *wp, const struct pv_request *req);

/* GET /wake: the HTML page; wakes a sleeping environment first.  The host
 * is ?host=, else (pv_wakepage_claims) the Host header. */
int pv_wakepage_page(struct pv_wakepage *wp, struct pv_envs *envs, const struct pv_request *req,
	struct pv_response *resp) PV_WARN_UNUSED;

/* GET /wake/status: {"name", "state", "url"}, state one of sleeping,
 * waking (the awake values are on their way to Git), starting (in Git,
 * Argo CD does not report it Healthy since) or awake. */
int pv_wakepage_status(struct pv_wakepage *wp, struct pv_envs *envs, const struct pv_request *req,
	struct pv_response *resp) PV_WARN_UNUSED;

#endif
