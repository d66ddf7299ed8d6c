/*
 * gitstream.h - the TCP stream libgit2 uses for Git's smart HTTP, plain and
 * under TLS, and for git://.
 *
 * libgit2 1.5's own socket stream writes a push as many small writes with
 * Nagle's algorithm on, so the request body waits for the server's delayed
 * ACK: about 40 ms per push on loopback, more than half of a create's
 * latency.  It also sets no timeouts (libgit2 1.5 has no option for them),
 * so a server that stops answering would hold the Git writer forever.  This
 * stream sets TCP_NODELAY and send and receive timeouts.
 *
 * It is a self-contained git_stream: libgit2 only calls its connect, read,
 * write, close and free.  It must not be registered when the remote is
 * ssh://: libgit2's SSH transport takes the socket out of the registered
 * standard stream by assuming libgit2's private layout.  pv_pusher_new
 * registers it for http(s) and git:// remotes, before the Git writer thread
 * starts (the registry is process-wide).
 */
#ifndef PV_GITSTREAM_H
#define PV_GITSTREAM_H

#include "error.h"

int pv_gitstream_register(int timeout_seconds) PV_WARN_UNUSED;

/*
 * Plain http:// through a proxy: libgit2 1.5 writes the absolute-URI
 * request line a proxy wants (GET http://host/...) but connects to the Git
 * server itself (httpclient.c uses a CONNECT tunnel for https only).  From
 * this call on, a connection to host:port goes to proxy_host:proxy_port
 * instead, and each request libgit2 writes there goes out on a new
 * connection (gitstream.c says why, gitframe.h how a request start is
 * found); proxy_host NULL turns that off.  proxy_user, when not NULL or
 * empty, and proxy_pass go with each request as Basic Proxy-Authorization
 * (libgit2 1.5 would only answer a 407, and cannot read tinyproxy's: an
 * HTTP/1.0 answer whose body ends at the close).  Before the Git writer
 * starts.
 */
int pv_gitstream_via(const char *host, const char *port, const char *proxy_host, const char *proxy_port,
	const char *proxy_user, const char *proxy_pass) PV_WARN_UNUSED;

#endif
