/*
 * gitstream.c - a libgit2 socket stream with TCP_NODELAY and timeouts.
 */
#include "gitstream.h"
#include "gitdeadline.h"
#include "gitframe.h"

#include <errno.h>
#include <git2.h>
#include <git2/sys/stream.h>
#include <openssl/evp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/* A stream of our own: nothing in libgit2 looks inside it, because it is
 * registered for http(s) and git:// only (pusher.c), never under ssh. */
struct tcp_stream {
	git_stream parent;
	char *host;
	char *port;
	int s;
	/* through a forward proxy (pv_gitstream_via): where requests start,
	 * and how many went out on this stream */
	int via;
	struct pv_gitframe frame;
	unsigned requests;
	int answer_due;  /* a request went out: the next read starts its answer */
};

static int timeout_seconds = 60;

/* Plain http:// through a proxy (pv_gitstream_via): a connection libgit2
 * opens to via_from goes to via_to instead.  Set before the Git writer
 * starts, read-only after. */
static char via_from_host[256], via_from_port[8], via_to_host[256], via_to_port[8];
/* "Proxy-Authorization: Basic ...\r\n" or "" */
static char via_auth[1024];
static char via_origin[300];  /* "http://host:port", put before each origin-form target */

static int fail(const char *what)
{
	git_error_set(GIT_ERROR_NET, "%s: %s", what, strerror(errno));
	return -1;
}

/* a connected socket to host:port with the timeouts and TCP_NODELAY */
static int open_socket(const char *host, const char *port)
{
	struct addrinfo hints, *info = NULL, *p;
	struct timeval tv = { timeout_seconds, 0 };
	int one = 1, rc, fd = -1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_family = AF_UNSPEC;
	if ((rc = getaddrinfo(host, port, &hints, &info)) != 0) {
		git_error_set(GIT_ERROR_NET, "failed to resolve address for %s: %s", host, gai_strerror(rc));
		return -1;
	}
	for (p = info; p; p = p->ai_next) {
		if ((fd = socket(p->ai_family, p->ai_socktype | SOCK_CLOEXEC, p->ai_protocol)) < 0)
			continue;
		/* bounded waits: a silent server fails the push instead of hanging it */
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (connect(fd, p->ai_addr, p->ai_addrlen) == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(info);
	if (fd < 0)
		return fail("failed to connect");
	/* each write of a push goes out now, not after the peer's delayed ACK */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static int tcp_connect(git_stream *stream)
{
	struct tcp_stream *st = (struct tcp_stream *)stream;
	const char *host = st->host, *port = st->port;

	if (via_to_host[0] && strcasecmp(host, via_from_host) == 0 && strcmp(port, via_from_port) == 0) {
		host = via_to_host;
		port = via_to_port;
		st->via = 1;
		st->frame = (struct pv_gitframe)PV_GITFRAME_INIT;
		st->requests = 0;
	}
	if ((st->s = open_socket(host, port)) < 0)
		return -1;
	return 0;
}

/*
 * A new request through the proxy goes out on a new connection.  A
 * forward proxy may close its client connection after any response
 * without saying so: tinyproxy 1.11 answers HTTP/1.1 with a
 * Content-Length, no "Connection: close", and closes.  libgit2 1.5 then
 * takes the connection as kept alive, writes the next request (the one
 * with the credentials, after a 401) into the closed socket and fails
 * with "unexpected EOF"; it never retries on a new connection.  libgit2
 * writes a request only once it has read the whole previous response,
 * so the old connection holds nothing more for it.  Basic credentials
 * ride on every request, so nothing is lost; connection-bound schemes
 * (NTLM, Negotiate) through a plain http proxy would not survive this.
 */
static int reopen(struct tcp_stream *st)
{
	int fd = open_socket(via_to_host, via_to_port);

	if (fd < 0)
		return -1;
	close(st->s);
	st->s = fd;
	return 0;
}

static ssize_t tcp_read(git_stream *stream, void *data, size_t len)
{
	struct tcp_stream *st = (struct tcp_stream *)stream;
	ssize_t n;

	if (pv_gitdeadline_passed()) /* a whole fetch or push has its deadline too */
		return -1;
	do
		n = recv(st->s, data, len, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK
			? (git_error_set(GIT_ERROR_NET, "the Git server sent nothing for %d s", timeout_seconds), -1)
			: fail("error receiving data from socket");
	/* a forward proxy that wants credentials previewd does not have: libgit2,
	 * which does not know of the proxy, would only see a status it did not
	 * expect */
	if (st->answer_due && n >= 12) {
		st->answer_due = 0;
		if (memcmp(data, "HTTP/1.", 7) == 0 && memcmp((char *)data + 8, " 407", 4) == 0) {
			git_error_set(GIT_ERROR_NET, "proxy authentication required (407): the proxy's URL carries %s",
				via_auth[0] ? "credentials the proxy refuses" : "no user and password");
			return -1;
		}
	}
	return n;
}

static int send_all(int fd, const char *data, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = send(fd, data + off, len - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fail("error sending data");
		off += (size_t)n;
	}
	return 0;
}

/* the offset of the empty line that ends the header block at data (the
 * framing found it whole in this write), when the block does not carry
 * Proxy-Authorization already; 0 otherwise */
static size_t auth_insert_at(const char *data, size_t len)
{
	for (size_t i = 0; i + 3 < len; i++) {
		if (data[i] == '\n' && len - i - 1 >= 20 && strncasecmp(data + i + 1, "Proxy-Authorization:", 20) == 0)
			return 0;
		if (memcmp(data + i, "\r\n\r\n", 4) == 0)
			return i + 2;
	}
	return 0;
}

/* Where the origin-form target of a request line starts ("GET /x HTTP/1.1":
 * the offset of "/"), 0 when the line already holds an absolute URL */
static size_t target_at(const char *data, size_t len)
{
	const char *sp = memchr(data, ' ', len < 16 ? len : 16);

	return sp && (size_t)(sp - data) + 1 < len && sp[1] == '/' ? (size_t)(sp - data) + 1 : 0;
}

static ssize_t tcp_write(git_stream *stream, const char *data, size_t len, int flags)
{
	struct tcp_stream *st = (struct tcp_stream *)stream;
	size_t at = 0, target = 0;

	(void)flags;
	if (pv_gitdeadline_passed())
		return -1;
	if (st->via && pv_gitframe_feed(&st->frame, data, len)) {
		if (st->requests++ > 0 && reopen(st) < 0)
			return -1;
		st->answer_due = 1;
		/* a forward proxy is asked in absolute form (RFC 9112, 3.2.2):
		 * libgit2, which does not know of the proxy (it would leak a copy
		 * of the proxy's URL at each failed fetch), writes origin form */
		target = target_at(data, len);
		if (via_auth[0])
			at = auth_insert_at(data, len);
	}
	if (target && (send_all(st->s, data, target) < 0 || send_all(st->s, via_origin, strlen(via_origin)) < 0))
		return -1;
	if (at && (send_all(st->s, data + target, at - target) < 0 || send_all(st->s, via_auth, strlen(via_auth)) < 0 ||
		send_all(st->s, data + at, len - at) < 0))
		return -1;
	if (!at && send_all(st->s, data + target, len - target) < 0)
		return -1;
	return (ssize_t)len;
}

static int tcp_close(git_stream *stream)
{
	struct tcp_stream *st = (struct tcp_stream *)stream;

	if (st->s >= 0 && close(st->s) < 0) {
		st->s = -1;
		return fail("error closing socket");
	}
	st->s = -1;
	return 0;
}

static void tcp_free(git_stream *stream)
{
	struct tcp_stream *st = (struct tcp_stream *)stream;

	if (st->s >= 0)
		close(st->s);
	free(st->host);
	free(st->port);
	free(st);
}

static int tcp_new(git_stream **out, const char *host, const char *port)
{
	struct tcp_stream *st = calloc(1, sizeof(*st));

	*out = NULL;
	if (!st || !(st->host = strdup(host)) || !(st->port = strdup(port))) {
		if (st) {
			free(st->host);
			free(st);
		}
		git_error_set_oom();
		return -1;
	}
	st->s = -1;
	st->parent.version = GIT_STREAM_VERSION;
	st->parent.connect = tcp_connect;
	st->parent.read = tcp_read;
	st->parent.write = tcp_write;
	st->parent.close = tcp_close;
	st->parent.free = tcp_free;
	*out = &st->parent;
	return 0;
}

int pv_gitstream_register(int seconds)
{
	git_stream_registration reg = { GIT_STREAM_VERSION, tcp_new, NULL };

	timeout_seconds = seconds > 0 ? seconds : 60;
	if (git_stream_register(GIT_STREAM_STANDARD, &reg) < 0)
		return pv_error_set(PV_ERROR, NULL, "registering the Git stream: %s",
			git_error_last() ? git_error_last()->message : "?");
	return 0;
}

int pv_gitstream_via(const char *host, const char *port, const char *proxy_host, const char *proxy_port,
	const char *proxy_user, const char *proxy_pass)
{
	via_to_host[0] = '\0';
	via_auth[0] = '\0';
	if (!proxy_host)
		return 0;
	if (proxy_user && *proxy_user) {
		char plain[512];
		unsigned char b64[700];
		int n = snprintf(plain, sizeof(plain), "%s:%s", proxy_user, proxy_pass ? proxy_pass : "");

		if (n < 0 || (size_t)n >= sizeof(plain))
			return pv_error_set(PV_EINVAL, NULL, "the proxy's user name and password are too long");
		EVP_EncodeBlock(b64, (const unsigned char *)plain, n);
		snprintf(via_auth, sizeof(via_auth), "Proxy-Authorization: Basic %s\r\n", (const char *)b64);
		OPENSSL_cleanse(plain, sizeof(plain));
	}
	if (strlen(host) >= sizeof(via_from_host) || strlen(port) >= sizeof(via_from_port) ||
	    strlen(proxy_host) >= sizeof(via_to_host) || strlen(proxy_port) >= sizeof(via_to_port))
		return pv_error_set(PV_EINVAL, NULL, "the proxy's or the Git server's address is too long");
	snprintf(via_from_host, sizeof(via_from_host), "%s", host);
	snprintf(via_from_port, sizeof(via_from_port), "%s", port);
	snprintf(via_to_host, sizeof(via_to_host), "%s", proxy_host);
	snprintf(via_to_port, sizeof(via_to_port), "%s", proxy_port);
	snprintf(via_origin, sizeof(via_origin), strchr(host, ':') ? "http://[%s]:%s" : "http://%s:%s", host, port);
	return 0;
}
