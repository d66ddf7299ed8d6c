/*
 * gitstream.h - the TCP stream libgit2 uses for Git's smart HTTP (and under
 * TLS and SSH).
 *
 * libgit2 1.5's own socket stream writes a push as many small writes with
 * Nagle's algorithm on, so the request body waits for the server's delayed
 * ACK: about 40 ms per push on loopback, more than half of a create's
 * latency.  It also sets no timeouts, so a server that stops answering
 * would hold the Git writer forever.  This stream sets TCP_NODELAY and send
 * and receive timeouts, and keeps the memory layout of libgit2's
 * git_socket_stream, whose SSH transport reads the socket from it.
 *
 * Call pv_gitstream_register once, after git_libgit2_init, before threads.
 */
#ifndef PV_GITSTREAM_H
#define PV_GITSTREAM_H

#include "error.h"

int pv_gitstream_register(int timeout_seconds) PV_WARN_UNUSED;

#endif
