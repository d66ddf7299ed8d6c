/*
 * api.h - the HTTP API's handlers: a parsed request in, a response out.
 *
 * No libmicrohttpd types appear here, so every handler can be driven by a
 * unit test.  http.c owns the sockets, reads the body, and calls
 * pv_api_handle() on an HTTP worker thread.  A write answers with a "wait":
 * http.c then suspends the connection until the Git writer reports the
 * change landed (or the wait window ends) and calls pv_api_finish() to turn
 * the final state into 200/201/202.
 *
 * Threads: pv_api_handle and pv_api_finish may run on any HTTP worker
 * thread concurrently; each uses its thread's SQLite connection.
 */
#ifndef PV_API_H
#define PV_API_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "config.h"
#include "env.h"
#include "error.h"
#include "strbuf.h"
#include "stream.h"

/* What the API needs from the Git side; gitops.c in the daemon, fakes in
 * unit tests.  folder and kick (semantics as pv_gitops_folder() and
 * pv_gitops_kick()) go to the environment rules, the rest serve /readyz,
 * /metrics and /v1/info. */
struct pv_api_git {
	int (*folder)(void *ctx, const char *name, int *exists, int *managed, char **values_yaml, size_t *values_len);
	void (*kick)(void *ctx);
	/* a people's folder's previewd.yaml (a base's sleep overlay, env.h);
	 * may be NULL */
	int (*settings)(void *ctx, const char *name, int *found, char **yaml, size_t *yaml_len);
	/* for /readyz: *known is 1 once a tip of the branch is known (requests
	 * can be validated), *reachable whether the last Git operation worked;
	 * may be NULL */
	void (*status)(void *ctx, int *known, int *reachable, char *error, size_t error_len, int64_t *last_push_at);
	/* for /readyz: Argo CD status reading (*enabled 0 when not configured);
	 * may be NULL */
	void (*argocd)(void *ctx, int *enabled, int *reachable, char *error, size_t error_len, int64_t *last_poll_at);
	/* appends Git writer metrics in Prometheus text format; may be NULL */
	int (*metrics)(void *ctx, struct pv_strbuf *out);
	/* appends the names of people's env folders with a values.yaml (the
	 * bases a request may name) to the JSON array out; may be NULL */
	int (*bases)(void *ctx, json_t *out);
	/* a push webhook (hooks.h): fetch the branch now; may be NULL */
	void (*fetch)(void *ctx);
	/* for /v1/info: the last known tip of the branch into out ("" when
	 * none is known); may be NULL */
	void (*tip)(void *ctx, char *out, size_t len);
	void *ctx;
};

struct pv_request {
	const char *method;
	const char *path;           /* already percent-decoded */
	const char *(*query)(void *ctx, const char *key);  /* NULL when absent */
	void *query_ctx;
	const char *content_type;   /* may be NULL */
	const char *prefer;         /* Prefer header, may be NULL */
	const char *body;
	size_t body_len;
	const char *authorization;  /* Authorization header, may be NULL */
	const char *idempotency_key;/* Idempotency-Key header, may be NULL */
	const char *actor;          /* set by pv_api_handle: token name, or "anonymous" */
	enum pv_role role;          /* set by pv_api_handle: the actor's role */
	const char *remote_addr;
	/* any request header by name (NULL when absent); may be NULL */
	const char *(*header)(void *ctx, const char *name);
	void *header_ctx;
};

struct pv_response {
	int status;
	json_t *body;               /* owned; NULL for no body */
	char *text;                 /* owned; a non-JSON body (metrics), used when body is NULL */
	const char *text_type;      /* its Content-Type */
	int problem;                /* body is application/problem+json */
	char location[160];
	char allow[64];             /* for 405 */
	long long retry_after;      /* seconds, for a Retry-After header; 0 = none */
	/* set by writes: wait for generation wait_gen of row wait_id */
	enum pv_wait_kind wait;
	int64_t wait_id, wait_gen;
	long long wait_ms;
	/* an Idempotency-Key in flight, released by pv_api_release() */
	char idem_slot[PV_IDEM_SLOT_LEN];
	int replayed;               /* answered from a stored Idempotency-Key */
	int route;                  /* enum pv_route, for metrics and logs */
	struct pv_stream_want stream; /* GET /v1/environments/stream: http.c answers with the stream */
};

struct pv_api;

/* The API and the environment rules under it (env.c), whose HTTP workers
 * open their connections with settings; cfg must outlive the API. */
struct pv_prrules;

/* Pull-request hooks (pullreq.h): the rules (owned by the caller, living as
 * long as the API) and the forge reporter's kick (may be NULL).  Call
 * before the HTTP threads start. */
void pv_api_pullreq(struct pv_api *api, const struct pv_prrules *rules, void (*forge_kick)(void *ctx), void *ctx);

int pv_api_new(struct pv_api **out, const struct pv_config *cfg, const struct pv_store_settings *settings,
	const struct pv_api_git *git) PV_WARN_UNUSED;
void pv_api_free(struct pv_api *api);

/* The environment rules under the API (for the event stream's JSON). */
struct pv_envs *pv_api_envs(struct pv_api *api);

/* Route and run the request.  resp is reset first; the caller frees
 * resp->body with pv_response_dispose(). */
void pv_api_handle(struct pv_api *api, const struct pv_request *req, struct pv_response *resp);

/* For a response with a wait: re-read the row and set the final status
 * (201/200 when the wanted generation is in Git, 202 otherwise, 409 if Git
 * refused it for good) and body. */
void pv_api_finish(struct pv_api *api, struct pv_response *resp);

/* 1 when the change resp waits for has landed in Git (or failed for good),
 * 0 while it is pending; lets http.c avoid suspending a request whose push
 * completed before the connection could be suspended. */
int pv_api_wait_done(struct pv_api *api, const struct pv_response *resp);

void pv_response_dispose(struct pv_response *resp);

/* The answer was sent (or the connection closed): release what the
 * request held (its Idempotency-Key).  Any thread. */
void pv_api_release(struct pv_api *api, struct pv_response *resp);

/* Fill resp with an application/problem+json body for error code (message and
 * field from the thread's error slot). */
void pv_api_problem(struct pv_response *resp, int code, const char *instance);

#endif
