/*
 * http.h - the HTTP server: libmicrohttpd, request bodies, suspended writes.
 *
 * Threads: libmicrohttpd runs a pool of worker threads (epoll); each request
 * is parsed and handed to api.c on the worker that read it.  A write that
 * waits for its push is suspended (MHD_suspend_connection): no thread blocks
 * on Git.  Two things resume it: the Git writer's landed callback
 * (pv_http_landed, on the writer thread) and this module's timer thread
 * (a worker.h worker, "pv-http-timer") when the wait window ends.  A
 * request body is a pv_strbuf capped at PREVIEWD_MAX_BODY.  A request whose
 * target or framing a proxy could read otherwise (an encoded NUL or '/', a
 * NUL byte, two Content-Lengths, Content-Length with Transfer-Encoding, no
 * Host, whitespace in a field name) is refused here, before api.c.
 * Connections are counted per client address (PREVIEWD_MAX_CONN_PER_IP)
 * here too, but for trusted proxies, whose X-Forwarded-For names the
 * client a request carries as remote_addr (peer.h).
 */
#ifndef PV_HTTP_H
#define PV_HTTP_H

#include "api.h"
#include "config.h"
#include "error.h"
#include "gitops.h"

/* The Content-Security-Policy of every answer: the page (service/page/)
 * loads its script, style and API answers from previewd only. */
#define PV_HTTP_CSP "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " \
	"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

struct pv_http;

/* Allocate the server (not yet listening), so its landed callback can be
 * given to the Git writer before the API exists. */
int pv_http_new(struct pv_http **out, const struct pv_config *cfg) PV_WARN_UNUSED;

/* Start listening; api must outlive the server. */
int pv_http_start(struct pv_http *h, struct pv_api *api) PV_WARN_UNUSED;

/* Serve GET /v1/environments/stream from stream (before pv_http_start);
 * it must outlive the server. */
struct pv_stream;
void pv_http_set_stream(struct pv_http *h, struct pv_stream *stream);

/* The port actually bound (useful with port 0). */
unsigned short pv_http_port(const struct pv_http *h);

/* Answer every suspended request as it stands and stop listening.  The
 * struct stays valid, so pv_http_landed may still be called (it then finds
 * nobody waiting) until the Git writer has stopped too. */
void pv_http_stop(struct pv_http *h);

/* Stop (if not yet) and free. */
void pv_http_free(struct pv_http *h);

/* Check a request target as it arrived, before percent-decoding: len bytes,
 * a NUL among them included.  0 when it means what it decodes to; PV_ENOTFOUND
 * when a path segment would decode to a NUL or a '/' (%00, %2F), as no route
 * and no name holds either; PV_EBADREQ for a raw control byte or space, or
 * an encoded NUL in the query. */
int pv_http_check_target(const char *target, size_t len);

/* pv_gitops_landed_cb: resume the requests waiting for these rows. */
void pv_http_landed(const struct pv_gitops_landed *items, size_t n, void *payload);

#endif
