/*
 * stream.h - GET /v1/environments/stream: every change of an environment as
 * a Server-Sent Event, to every client that asked, without holding a thread
 * or unbounded memory for any of them.
 *
 * One source: the history (store_stream.c).  The stream's thread
 * ("pv-stream", a worker.h worker) reads the rows committed since the last
 * it read - woken by the store's hook after every commit that recorded
 * history, and once a second for writers in other processes - turns each
 * into an event (the environment's JSON as GET returns it) and keeps the
 * latest in a ring bounded by count and bytes.  A client's events go into
 * its own buffer (PV_STREAM_CLIENT_MAX bytes); libmicrohttpd reads it from
 * a content reader on the client's HTTP worker, which suspends the
 * connection when the buffer is empty and is resumed by the next event or
 * keepalive.  A client whose buffer would overflow is dropped: its
 * connection is shut down, it may come back with Last-Event-ID.  A client
 * that resumes from an id the ring no longer holds catches up from the
 * history on its own worker, a batch at a time, and joins the live feed
 * when it reaches the ring.
 *
 * The wire format (DESIGN, issue 14): `id: N`, `event: KIND`, `data: JSON`
 * and an empty line per change, N the history row's id; `: keepalive`
 * every PV_STREAM_KEEPALIVE_MS.  The kinds: created, active (first pushed),
 * ready (Argo CD Synced and Healthy), extended, updated, expiring,
 * deleted, failed, git_error (a push or fetch failed; once per distinct
 * error per environment, the writer's retries record no more) and
 * git_recovered (the push that landed after one); those two add the
 * history row's "detail" ({"error"}) to the environment's JSON.
 *
 * Threads: pv_stream_open on an HTTP worker; the content reader on the
 * client's worker; pv_stream_kick on any thread; the rest on main.
 */
#ifndef PV_STREAM_H
#define PV_STREAM_H

#include <stdint.h>

#include "config.h"
#include "error.h"

#define PV_STREAM_CLIENT_MAX ((size_t)256 << 10)
#define PV_STREAM_KEEPALIVE_MS 15000

/* What a client asked for: api.c fills it, http.c opens the stream. */
struct pv_stream_want {
	int on;                 /* the answer is a stream */
	char owner[64];         /* "" for any */
	char status[16];        /* "" for any */
	int64_t after;          /* the Last-Event-ID; -1 for none (from now on) */
};

struct pv_stream;
struct pv_envs;
struct MHD_Connection;
struct MHD_Response;

/* envs (its connections and its JSON) must outlive the stream. */
int pv_stream_new(struct pv_stream **out, const struct pv_config *cfg, struct pv_envs *envs) PV_WARN_UNUSED;

/* Start the thread, from the latest history row on. */
int pv_stream_start(struct pv_stream *s) PV_WARN_UNUSED;

/* A commit recorded history (the store's hook; payload is the stream). */
void pv_stream_kick(void *payload);

/* The response for one client on conn; PV_EUNAVAIL with the message set when
 * PREVIEWD_MAX_STREAMS are open or the stream is shutting down. */
int pv_stream_open(struct pv_stream *s, struct MHD_Connection *conn, const struct pv_stream_want *want,
	struct MHD_Response **out) PV_WARN_UNUSED;

/* End every stream now (their readers end the responses) and refuse new
 * ones: before libmicrohttpd stops, which must find no suspended
 * connection. */
void pv_stream_close_all(struct pv_stream *s);

/* Streams open now (for the metrics and the tests' logs). */
unsigned pv_stream_count(struct pv_stream *s);

/* Stop the thread and free; after the HTTP server stopped. */
void pv_stream_free(struct pv_stream *s);

#endif
