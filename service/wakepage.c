/*
 * wakepage.c - the wake page of a sleeping environment (see wakepage.h).
 */
#include "wakepage.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "ratelimit.h"
#include "strbuf.h"
#include "valid.h"

/* Wakes, not hits: a hit on an awake environment takes nothing.  An
 * address may wake a handful of environments in a row; one environment
 * wakes at most about once a minute whoever asks. */
#define PER_ADDR_MINUTE 6
#define PER_ADDR_BURST 5
#define PER_ENV_MINUTE 1
#define PER_ENV_BURST 2
#define RETRY_S 5           /* how soon the page looks again */
#define GO_S 2              /* how long the "awake" page shows before it goes */

struct pv_wakepage {
	const struct pv_config *cfg;
	struct pv_ratelimit *by_addr, *by_env;
};

int pv_wakepage_new(struct pv_wakepage **out, const struct pv_config *cfg)
{
	struct pv_wakepage *wp = calloc(1, sizeof(*wp));
	int error;

	*out = NULL;
	if (!wp)
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	wp->cfg = cfg;
	if ((error = pv_ratelimit_new(&wp->by_addr, PER_ADDR_MINUTE, PER_ADDR_BURST, NULL, NULL)) < 0 ||
	    (error = pv_ratelimit_new(&wp->by_env, PER_ENV_MINUTE, PER_ENV_BURST, NULL, NULL)) < 0) {
		pv_wakepage_free(wp);
		return error;
	}
	*out = wp;
	return 0;
}

void pv_wakepage_free(struct pv_wakepage *wp)
{
	if (!wp)
		return;
	pv_ratelimit_free(wp->by_addr);
	pv_ratelimit_free(wp->by_env);
	free(wp);
}

/* ---- the host ----------------------------------------------------------- */

int pv_wakepage_host(char *name, size_t len, char *canon, const char *host, const char *domain)
{
	size_t n = host ? strlen(host) : 0, dn = domain ? strlen(domain) : 0, hn, label;
	const char *colon;

	name[0] = '\0';
	canon[0] = '\0';
	if (n == 0 || n >= PV_WAKEPAGE_HOST_MAX || dn == 0)
		return pv_error_set(PV_EBADREQ, "host", "host must be NAME.%s, optionally with :PORT", domain ? domain : "");
	/* a port: 1 to 5 digits, at most 65535 */
	hn = n;
	if ((colon = strchr(host, ':'))) {
		const char *p = colon + 1;
		long port = 0;

		if (!*p || strlen(p) > 5 || strchr(p, ':'))
			return pv_error_set(PV_EBADREQ, "host", "the host's port is not a number");
		for (; *p; p++) {
			if (!isdigit((unsigned char)*p))
				return pv_error_set(PV_EBADREQ, "host", "the host's port is not a number");
			port = port * 10 + (*p - '0');
		}
		if (port < 1 || port > 65535)
			return pv_error_set(PV_EBADREQ, "host", "the host's port is out of range");
		hn = (size_t)(colon - host);
	}
	/* letters, digits, '-' and '.' only: what ends up in the page and the
	 * redirect is a host name and nothing else */
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)host[i];

		if (i < hn ? !(isalnum(c) || c == '-' || c == '.') : !(isdigit(c) || (i == hn && c == ':')))
			return pv_error_set(PV_EBADREQ, "host", "host must be a host name, optionally with :PORT");
		canon[i] = (char)tolower(c);
	}
	canon[n] = '\0';
	if (hn > 0 && canon[hn - 1] == '.') {  /* the root's dot: the same host */
		memmove(canon + hn - 1, canon + hn, n - hn + 1);
		hn--;
		n--;
	}
	if (dn > 0 && domain[dn - 1] == '.')
		dn--;
	if (hn < dn + 2 || canon[hn - dn - 1] != '.' || strncasecmp(canon + hn - dn, domain, dn) != 0)
		return pv_error_set(PV_ENOTFOUND, "host", "%.*s is not under the preview domain %s", (int)hn, canon, domain);
	label = hn - dn - 1;
	if (memchr(canon, '.', label))
		return pv_error_set(PV_ENOTFOUND, "host", "%.*s is not a preview environment's host (NAME.%s)", (int)hn, canon,
			domain);
	if (label >= len || label >= 64)
		return pv_error_set(PV_EBADREQ, "host", "the environment's name is too long");
	memcpy(name, canon, label);
	name[label] = '\0';
	if (pv_valid_name(name, "host") < 0) {
		name[0] = '\0';
		return pv_error_set(PV_EBADREQ, "host", "%.*s does not start with an environment's name", (int)hn, canon);
	}
	return 0;
}

/* ---- what the visitor is told ------------------------------------------- */

enum state { SLEEPING, WAKING, STARTING, AWAKE };
static const char *const states[] = { "sleeping", "waking", "starting", "awake" };
static const char *const says[] = {
	"is asleep; waking it up.",
	"is waking up: its awake values are on their way to Git.",
	"is starting: Argo CD is rolling it out.",
	"is awake: taking you there.",
};

static const char *header(const struct pv_request *req, const char *name)
{
	return req->header ? req->header(req->header_ctx, name) : NULL;
}

/* ingress-nginx's custom error backend: it sends the request that failed
 * with X-Code and the visitor's Host (deploy/README.md) */
static int error_backend(const struct pv_request *req)
{
	return header(req, "X-Code") && header(req, "Host");
}

int pv_wakepage_claims(const struct pv_wakepage *wp, const struct pv_request *req)
{
	char name[64], canon[PV_WAKEPAGE_HOST_MAX];

	return error_backend(req) && pv_wakepage_host(name, sizeof(name), canon, header(req, "Host"), wp->cfg->domain) == 0;
}

/* The environment named by ?host= (or an error backend's Host), live; 0 or an error (404 when there is
 * no live environment by that name). */
static int lookup(struct pv_wakepage *wp, struct pv_envs *envs, const struct pv_request *req, struct pv_env *env,
	char *canon)
{
	char name[64];
	const char *host = req->query ? req->query(req->query_ctx, "host") : NULL;
	int error;

	memset(env, 0, sizeof(*env));
	if (!host && error_backend(req))
		host = header(req, "Host");
	if (!host)
		return pv_error_set(PV_EBADREQ, "host", "host is required: /wake?host=NAME.%s", wp->cfg->domain);
	if ((error = pv_wakepage_host(name, sizeof(name), canon, host, wp->cfg->domain)) < 0)
		return error;
	error = pv_env_get(envs, name, env);
	if (error == 0 && strcmp(env->status, PV_STATUS_PENDING) != 0 && strcmp(env->status, PV_STATUS_ACTIVE) != 0)
		error = PV_ENOTFOUND;
	if (error == PV_ENOTFOUND) {
		pv_env_dispose(env);
		return pv_error_set(PV_ENOTFOUND, "host", "no preview environment answers at %s", canon);
	}
	return error;
}

static enum state state_of(const struct pv_wakepage *wp, const struct pv_env *env)
{
	if (pv_env_is_asleep(env))
		return SLEEPING;
	if (env->gen > env->pushed_gen)
		return WAKING;
	/* with Argo CD's status at hand, a check after the push says Healthy */
	if (wp->cfg->argocd_url[0] && (env->argocd_checked_at < env->pushed_at || strcmp(env->argocd_health, "Healthy") != 0))
		return STARTING;
	return AWAKE;
}

/* Wake env if the buckets allow: 0 (woken, env reloaded), or PV_ERATE with
 * *retry set. */
static int wake(struct pv_wakepage *wp, struct pv_envs *envs, const struct pv_request *req, struct pv_env *env,
	long long *retry)
{
	struct pv_actor who = { .name = PV_WAKEPAGE_ACTOR, .role = PV_ROLE_WRITER, .from = req->remote_addr };
	const char *addr = req->remote_addr ? req->remote_addr : "";
	char name[sizeof(env->name)];
	int error;

	*retry = 0;
	if (!pv_ratelimit_take(wp->by_addr, addr, retry) || !pv_ratelimit_take(wp->by_env, env->name, retry))
		return pv_error_set(PV_ERATE, NULL, "waking is limited; the page tries again in %llds", *retry);
	snprintf(name, sizeof(name), "%s", env->name);
	pv_env_dispose(env);
	if ((error = pv_env_wake(envs, &who, name, NULL, env)) < 0)
		return error;
	log_info("wakepage: %s woke %s for a visitor", addr[0] ? addr : "a client", name);
	return 0;
}

static int text(struct pv_response *resp, int status, const char *type, struct pv_strbuf *b)
{
	if (!(resp->text = pv_strbuf_take(b, NULL)))
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	resp->status = status;
	resp->text_type = type;
	return 0;
}

int pv_wakepage_page(struct pv_wakepage *wp, struct pv_envs *envs, const struct pv_request *req,
	struct pv_response *resp)
{
	struct pv_strbuf b = PV_STRBUF_INIT;
	char canon[PV_WAKEPAGE_HOST_MAX], refresh[PV_WAKEPAGE_HOST_MAX + 32];
	struct pv_env env;
	enum state st;
	long long retry = 0;
	int error, limited = 0;

	if ((error = lookup(wp, envs, req, &env, canon)) < 0)
		goto out;
	if ((st = state_of(wp, &env)) == SLEEPING) {
		error = wake(wp, envs, req, &env, &retry);
		if (error == PV_ERATE)
			limited = 1;
		else if (error < 0)
			goto out;
		st = limited ? SLEEPING : state_of(wp, &env);
	}
	/* canon and the name are letters, digits, '-', '.' and ':' (checked by
	 * pv_wakepage_host): nothing in them is markup */
	if (st == AWAKE)
		snprintf(refresh, sizeof(refresh), "%d;url=http://%s/", GO_S, canon);
	else
		snprintf(refresh, sizeof(refresh), "%lld", limited ? retry : (long long)RETRY_S);
	error = pv_strbuf_printf(&b,
		"<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
		"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
		"<meta http-equiv=\"refresh\" content=\"%s\">\n<title>%s - previewd</title>\n"
		"<link rel=\"stylesheet\" href=\"/wake.css\">\n<script src=\"/wake.js\" defer></script>\n</head>\n"
		"<body>\n<main class=\"wake\" data-state=\"%s\" data-host=\"%s\">\n<h1>%s</h1>\n"
		"<p id=\"state\">%s %s</p>\n<p><a id=\"go\" href=\"http://%s/\">http://%s/</a></p>\n"
		"<p class=\"small\">previewd puts idle preview environments to sleep and wakes them on the next visit.</p>\n"
		"</main>\n</body>\n</html>\n",
		refresh, env.name, limited ? "limited" : states[st], canon, env.name, env.name,
		limited ? "is asleep, and waking is limited for a moment; this page tries again shortly." : says[st],
		canon, canon);
	if (error == 0)
		error = text(resp, st == AWAKE ? 200 : limited ? 429 : 503, "text/html; charset=utf-8", &b);
	/* not yet there: a crawler must not keep this page as the site */
	if (error == 0 && st != AWAKE)
		resp->retry_after = limited ? retry : RETRY_S;
out:
	pv_strbuf_dispose(&b);
	pv_env_dispose(&env);
	return error;
}

int pv_wakepage_status(struct pv_wakepage *wp, struct pv_envs *envs, const struct pv_request *req,
	struct pv_response *resp)
{
	char canon[PV_WAKEPAGE_HOST_MAX], url[PV_WAKEPAGE_HOST_MAX + 16];
	struct pv_env env;
	int error;

	if ((error = lookup(wp, envs, req, &env, canon)) < 0) {
		pv_env_dispose(&env);
		return error;
	}
	snprintf(url, sizeof(url), "http://%s/", canon);
	resp->status = 200;
	resp->body = json_pack("{s:s, s:s, s:s}", "name", env.name, "state", states[state_of(wp, &env)], "url", url);
	pv_env_dispose(&env);
	return resp->body ? 0 : pv_error_set(PV_ERROR, NULL, "out of memory");
}
