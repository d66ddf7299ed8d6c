/*
 * gitframe.h - where each HTTP request starts in the bytes libgit2 writes
 * on a plain http:// connection to a forward proxy.
 *
 * gitstream.c opens a fresh connection to the proxy for every request (see
 * there why), so it must know which write begins a request and must never
 * take request body bytes, a pack that may hold any text, for one.  The
 * rule, fed every byte libgit2 writes, in order:
 *
 *   - a write is a request start only when the previous request's body is
 *     complete (framed by its Content-Length, or chunked up to the last
 *     chunk and the trailer's empty line) and the write begins with a
 *     whole header block: "METHOD SP target SP HTTP/1.x CRLF", header
 *     lines, an empty line.  libgit2 1.5 writes a request's header block
 *     in one write (httpclient.c, client_write_request) and its body in
 *     later ones;
 *   - the header block's Content-Length or "Transfer-Encoding: chunked"
 *     then frames the body, whatever its bytes look like;
 *   - anything else (a header block cut across writes, a Content-Length
 *     that is not a number, bytes between requests) loses the framing for
 *     good: no later write counts as a request start, so the stream keeps
 *     its connection rather than guess.
 */
#ifndef PV_GITFRAME_H
#define PV_GITFRAME_H

#include <stddef.h>

enum pv_gitframe_state {
	PV_GITFRAME_IDLE,        /* between requests */
	PV_GITFRAME_LENGTH,      /* in a Content-Length body */
	PV_GITFRAME_CHUNK_SIZE,  /* in a chunk-size line */
	PV_GITFRAME_CHUNK_DATA,  /* in a chunk's data */
	PV_GITFRAME_CHUNK_END,   /* in the CRLF after a chunk's data */
	PV_GITFRAME_TRAILER,     /* in the trailer after the last chunk */
	PV_GITFRAME_LOST         /* framing lost: no more request starts */
};

struct pv_gitframe {
	enum pv_gitframe_state state;
	unsigned long long remain; /* body or chunk bytes still to come */
	unsigned long long size;   /* the chunk size being read */
	size_t line;               /* bytes in the current chunk or trailer line */
	int digits;                /* hex digits of the chunk size so far */
};

#define PV_GITFRAME_INIT { PV_GITFRAME_IDLE, 0, 0, 0, 0 }

/* Feeds one write; 1 when it begins a request, 0 when not. */
int pv_gitframe_feed(struct pv_gitframe *f, const char *data, size_t len);

#endif
