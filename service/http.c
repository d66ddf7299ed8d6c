/*
 * http.c - libmicrohttpd glue: bodies, responses, and the waiting room.
 *
 * Lifecycle of a request (struct req, libmicrohttpd's per-connection
 * pointer): the first call checks the announced size; body chunks are
 * appended up to PREVIEWD_MAX_BODY; the final call runs the API.  A write's
 * answer then usually waits for its push: the request joins the waiting
 * room (a list under `lock`) and its connection is suspended.  Whoever takes
 * it out of the room - the landed callback or the timer thread - resumes the
 * connection, and the next call answers with pv_api_finish().  Taking a
 * request out of the room happens under the lock, exactly once.
 *
 * DESIGN: a request is refused here, before api.c sees it, when a proxy in
 * front of us could read it otherwise than we do - one path, two names; one
 * stream, two framings.  The target is checked as it arrived (the URI log
 * callback sees it before libmicrohttpd decodes it in place and hands on a
 * C string that a %00 would cut), the header fields on the first call.
 */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "log.h"
#include "metrics.h"
#include "peer.h"
#include "strbuf.h"
#include "stream.h"
#include "worker.h"

enum req_state { RS_NEW = 0, RS_BODY, RS_WAITING, RS_RESUMED };

struct req {
	enum req_state state;
	struct timespec started;    /* CLOCK_MONOTONIC, first byte seen */
	char id[40];                /* request id: the client's X-Request-Id or ours */
	struct pv_strbuf body;      /* capped at PREVIEWD_MAX_BODY */
	int too_big;
	/* the request target as it arrived, from the URI log callback */
	const char *raw_target;     /* in libmicrohttpd's buffer, until decoded */
	size_t raw_len;             /* up to its first NUL */
	int refused;                /* a pv_error code for the target, or 0 */
	char refusal[160];          /* and its message */
	char target[128];           /* its start, for logs and problem instances */
	char client[PV_PEER_ADDR_LEN]; /* who asks: pv_peer_client, see peer.h */
	int must_close;             /* answer with Connection: close */
	struct pv_response resp;
	/* waiting room */
	struct MHD_Connection *conn;
	struct timespec deadline;   /* CLOCK_MONOTONIC */
	struct req *next, *prev;
	int in_room;
};

struct pv_http {
	const struct pv_config *cfg;
	struct pv_api *api;
	struct pv_stream *stream;   /* may be NULL: no event stream */
	struct MHD_Daemon *daemon;
	unsigned short port;

	pthread_mutex_t lock;
	struct req *room;           /* waiting requests, unordered */
	int stopping;
	int stopped;            /* pv_http_stop ran */
	struct pv_worker timer;     /* kicked when a request joins the room */
	int64_t trimmed_at;         /* timer thread only, monotonic ms */

	/* connections per client address, but for trusted proxies */
	struct pv_peer_trust trust;
	pthread_mutex_t count_lock;
	struct addr_count *counts[256];
};

/* One client address and its open connections; freed at zero. */
struct addr_count {
	struct pv_peer_ip ip;
	unsigned open;
	struct addr_count *next;
};

static void ts_add_ms(struct timespec *ts, long long ms)
{
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static int ts_before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* Take r out of the room; caller holds lock. */
static void room_unlink(struct pv_http *h, struct req *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		h->room = r->next;
	if (r->next)
		r->next->prev = r->prev;
	r->next = r->prev = NULL;
	r->in_room = 0;
}

/* Take r out of the room and resume its connection; caller holds lock. */
static void room_release(struct pv_http *h, struct req *r)
{
	if (!r->in_room)
		return;
	room_unlink(h, r);
	r->state = RS_RESUMED;
	MHD_resume_connection(r->conn);
}

void pv_http_landed(const struct pv_gitops_landed *items, size_t n, void *payload)
{
	struct pv_http *h = payload;
	struct req *r, *next;

	pthread_mutex_lock(&h->lock);
	for (r = h->room; r; r = next) {
		next = r->next;
		for (size_t i = 0; i < n; i++) {
			if (items[i].id == r->resp.wait_id && items[i].gen >= r->resp.wait_gen) {
				room_release(h, r);
				break;
			}
		}
	}
	pthread_mutex_unlock(&h->lock);
}

/* The timer thread: ends waits whose window closed (they answer 202).  A
 * request that joins the room after the scan kicks the worker, so its
 * deadline is not missed while the thread waits for an older one. */
static void timer_run(struct pv_worker *w, void *arg)
{
	struct pv_http *h = arg;

	while (!pv_worker_stopping(w)) {
		struct timespec now, earliest = { 0, 0 };
		struct req *r, *next;
		long long wait_ms = 10000;
		int have = 0;

		pthread_mutex_lock(&h->lock);
		clock_gettime(CLOCK_MONOTONIC, &now);
		for (r = h->room; r; r = next) {
			next = r->next;
			if (!ts_before(&now, &r->deadline)) {
				room_release(h, r);
				continue;
			}
			if (!have || ts_before(&r->deadline, &earliest)) {
				earliest = r->deadline;
				have = 1;
			}
		}
		pthread_mutex_unlock(&h->lock);
		if (have) /* rounded up: waking before the deadline would scan in vain */
			wait_ms = (long long)(earliest.tv_sec - now.tv_sec) * 1000 +
				  (earliest.tv_nsec - now.tv_nsec + 999999L) / 1000000L;
		pv_worker_wait(w, wait_ms);
		/* hand freed memory back now and then: bursts of JSON leave the
		 * allocator holding pages no one uses */
		if (pv_monotonic_ms() - h->trimmed_at >= 10000) {
			h->trimmed_at = pv_monotonic_ms();
			malloc_trim(0);
		}
	}
}

/* ---- connections per address -------------------------------------------- */

/* DESIGN: libmicrohttpd's own per-address limit counts every connection at
 * accept, before a header is read, and cannot spare anyone; behind an
 * ingress every client arrives from the controller's address and would share
 * one address's allowance.  So the count is ours: the accept policy checks
 * and takes a slot (exactly, under count_lock), connections from a trusted
 * proxy take none (they still count against PREVIEWD_MAX_CONNECTIONS), and
 * NOTIFY_CONNECTION gives the slot back when the connection closes.
 *
 * libmicrohttpd calls the accept policy and then, on the same thread and
 * before it accepts the next connection, NOTIFY_STARTED - unless it drops
 * the connection in between (its total limit, out of memory).  The slot
 * taken waits in a thread-local until STARTED claims it; one still waiting
 * at the next accept on that thread belongs to a connection that never
 * started, and is given back then. */
static _Thread_local struct addr_count *unclaimed;

static size_t count_bucket(const struct pv_peer_ip *ip)
{
	uint32_t hash = 2166136261u; /* FNV-1a */

	for (size_t i = 0; i < sizeof(ip->b); i++)
		hash = (hash ^ ip->b[i]) * 16777619u;
	return hash % 256;
}

static void count_release(struct pv_http *h, struct addr_count *c)
{
	struct addr_count **pp;

	pthread_mutex_lock(&h->count_lock);
	if (--c->open == 0) {
		for (pp = &h->counts[count_bucket(&c->ip)]; *pp; pp = &(*pp)->next) {
			if (*pp == c) {
				*pp = c->next;
				free(c);
				break;
			}
		}
	}
	pthread_mutex_unlock(&h->count_lock);
}

static enum MHD_Result accept_policy(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
	struct pv_http *h = cls;
	struct pv_peer_ip ip;
	struct addr_count *c;
	size_t b;

	(void)addrlen;
	if (unclaimed) {
		count_release(h, unclaimed);
		unclaimed = NULL;
	}
	if (pv_peer_from_sockaddr(&ip, addr) < 0 || pv_peer_trusted(&h->trust, &ip))
		return MHD_YES;
	b = count_bucket(&ip);
	pthread_mutex_lock(&h->count_lock);
	for (c = h->counts[b]; c; c = c->next)
		if (c->ip.family == ip.family && memcmp(c->ip.b, ip.b, sizeof(ip.b)) == 0)
			break;
	if (c && c->open >= (unsigned)h->cfg->max_conn_per_ip) {
		char text[PV_PEER_ADDR_LEN];
		pthread_mutex_unlock(&h->count_lock);
		pv_peer_format(&ip, text, sizeof(text));
		log_warn("http: %s holds %lld connections, the per-address connection limit "
			 "(PREVIEWD_MAX_CONN_PER_IP); one more is closed", text, h->cfg->max_conn_per_ip);
		return MHD_NO;
	}
	if (!c) {
		if (!(c = calloc(1, sizeof(*c)))) {
			pthread_mutex_unlock(&h->count_lock);
			return MHD_NO;
		}
		c->ip = ip;
		c->next = h->counts[b];
		h->counts[b] = c;
	}
	c->open++;
	pthread_mutex_unlock(&h->count_lock);
	unclaimed = c;
	return MHD_YES;
}

static void connection_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
	enum MHD_ConnectionNotificationCode code)
{
	struct pv_http *h = cls;

	(void)conn;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		*socket_context = unclaimed; /* NULL: a trusted proxy's */
		unclaimed = NULL;
	} else if (code == MHD_CONNECTION_NOTIFY_CLOSED && *socket_context) {
		count_release(h, *socket_context);
		*socket_context = NULL;
	}
}

/* The X-Forwarded-For fields of a request, joined in order. */
static enum MHD_Result join_forwarded(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct pv_strbuf *b = cls;

	(void)kind;
	if (strcasecmp(key, "X-Forwarded-For") == 0 && value &&
	    ((b->len && pv_strbuf_add(b, ",", 1) < 0) || pv_strbuf_add(b, value, strlen(value)) < 0))
		return MHD_NO;
	return MHD_YES;
}

/* Who sent this request: the peer, or behind a trusted proxy the client it
 * names (peer.h).  One answer for the access log, the events' remote
 * address and anything that limits per address. */
static void client_address(struct pv_http *h, struct MHD_Connection *conn, char *buf, size_t len)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	struct pv_strbuf fwd = PV_STRBUF_INIT;
	struct pv_peer_ip peer;

	if (!ci || pv_peer_from_sockaddr(&peer, ci->client_addr) < 0) {
		snprintf(buf, len, "unknown");
		return;
	}
	if (pv_peer_trusted(&h->trust, &peer))
		MHD_get_connection_values(conn, MHD_HEADER_KIND, join_forwarded, &fwd);
	pv_peer_client(&h->trust, &peer, fwd.len ? fwd.buf : NULL, buf, len);
	pv_strbuf_dispose(&fwd);
}

/* ---- responses ---------------------------------------------------------- */

/* CORS: the portal calls the API from a browser; only configured origins
 * are echoed back, and credentials (the bearer token) travel in a header,
 * not in cookies. */
static const char *cors_origin(const struct pv_config *cfg, struct MHD_Connection *conn)
{
	const char *origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
	const char *list = cfg->cors_origins, *p;
	size_t n;

	if (!origin || !*origin || !*list)
		return NULL;
	if (strcmp(list, "*") == 0)
		return origin;
	n = strlen(origin);
	for (p = list; (p = strstr(p, origin)) != NULL; p += n)
		if ((p == list || p[-1] == ',' || p[-1] == ' ') && (p[n] == '\0' || p[n] == ',' || p[n] == ' '))
			return origin;
	return NULL;
}

static void add_cors(struct MHD_Response *mr, const char *origin)
{
	if (!origin)
		return;
	MHD_add_response_header(mr, "Access-Control-Allow-Origin", origin);
	MHD_add_response_header(mr, "Vary", "Origin");
	MHD_add_response_header(mr, "Access-Control-Expose-Headers", "Location, Idempotent-Replayed, X-Request-Id");
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

/* json_dump_callback's sink */
static int dump_to_strbuf(const char *buffer, size_t size, void *data)
{
	return pv_strbuf_add(data, buffer, size) == 0 ? 0 : -1;
}

/* Every answer, the page's above all: its script and style come from
 * previewd alone (no inline script, no other origin, no framing), a body is
 * read only as its Content-Type says, and no Referer leaves the page.  An
 * API answer opened in a tab is covered the same way. */
static void add_security(struct MHD_Response *mr)
{
	MHD_add_response_header(mr, "Content-Security-Policy", PV_HTTP_CSP);
	MHD_add_response_header(mr, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(mr, "Referrer-Policy", "no-referrer");
}

static enum MHD_Result send_response(struct pv_http *h, struct MHD_Connection *conn, struct req *r,
	struct pv_response *resp, const char *method, const char *url)
{
	struct MHD_Response *mr;
	enum MHD_Result ret;
	char *text = NULL;
	size_t len = 0;

	if (resp->body) {
		struct pv_strbuf out = PV_STRBUF_INIT;
		/* readable with plain curl: end with a newline */
		if (json_dump_callback(resp->body, dump_to_strbuf, &out, JSON_INDENT(2) | JSON_PRESERVE_ORDER) == 0 &&
		    pv_strbuf_add(&out, "\n", 1) == 0)
			text = pv_strbuf_take(&out, &len);
		pv_strbuf_dispose(&out);
	}
	if (!text && resp->text) {
		text = resp->text; /* ownership moves to the MHD response */
		resp->text = NULL;
		len = strlen(text);
	}
	mr = MHD_create_response_from_buffer(len, text ? text : (char *)"", text ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	if (!mr) {
		free(text);
		return MHD_NO;
	}
	if (text)
		MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE,
			resp->text_type ? resp->text_type
			: resp->problem ? "application/problem+json" : "application/json; charset=utf-8");
	MHD_add_response_header(mr, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (resp->location[0])
		MHD_add_response_header(mr, MHD_HTTP_HEADER_LOCATION, resp->location);
	if (resp->allow[0])
		MHD_add_response_header(mr, MHD_HTTP_HEADER_ALLOW, resp->allow);
	if (resp->retry_after > 0) {
		char secs[24];
		snprintf(secs, sizeof(secs), "%lld", resp->retry_after);
		MHD_add_response_header(mr, MHD_HTTP_HEADER_RETRY_AFTER, secs);
	}
	if (resp->status == 401)
		MHD_add_response_header(mr, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"previewd\"");
	if (resp->replayed)
		MHD_add_response_header(mr, "Idempotent-Replayed", "true");
	MHD_add_response_header(mr, "X-Request-Id", r->id);
	if (r->must_close) /* the rest of the stream cannot be told apart from this request */
		MHD_add_response_header(mr, MHD_HTTP_HEADER_CONNECTION, "close");
	add_cors(mr, cors_origin(h->cfg, conn));
	add_security(mr);
	ret = MHD_queue_response(conn, (unsigned int)resp->status, mr);
	/* the answer is settled: a retry with the same Idempotency-Key may
	 * arrive before libmicrohttpd reports this request completed */
	pv_api_release(h->api, resp);
	{
		double secs = seconds_since(&r->started);
		pv_metrics_http_response((enum pv_route)resp->route, resp->status, secs);
		/* an access log line: writes at info, reads (the bulk) at debug */
		pv_log(strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0 ? PV_LOG_DEBUG : PV_LOG_INFO,
			"http: %s %s %.100s %d %.1fms from %s", r->id, method, url, resp->status, secs * 1000,
			r->client[0] ? r->client : "unknown");
	}
	MHD_destroy_response(mr);
	return ret;
}

static enum MHD_Result send_problem(struct pv_http *h, struct MHD_Connection *conn, struct req *r, int code,
	const char *method, const char *url)
{
	struct pv_response resp = { 0 };
	enum MHD_Result ret;

	pv_api_problem(&resp, code, url);
	ret = send_response(h, conn, r, &resp, method, url);
	pv_response_dispose(&resp);
	return ret;
}

/* GET /v1/environments/stream, authorised and decoded by api.c: a
 * response that libmicrohttpd reads from the client's buffer as events
 * come (stream.h).  The connection is an ordinary one: it counts against
 * both connection limits, and the keepalive comments keep it from being
 * idle. */
static enum MHD_Result send_stream(struct pv_http *h, struct MHD_Connection *conn, struct req *r,
	const char *method, const char *url)
{
	struct MHD_Response *mr = NULL;
	enum MHD_Result ret;
	int error = h->stream ? pv_stream_open(h->stream, conn, &r->resp.stream, &mr)
			      : pv_error_set(PV_ENOTFOUND, NULL, "no event stream here");

	if (error < 0) {
		struct pv_response resp = { 0 };
		pv_api_problem(&resp, error, url);
		if (error == PV_EUNAVAIL)
			resp.retry_after = 5;
		ret = send_response(h, conn, r, &resp, method, url);
		pv_response_dispose(&resp);
		return ret;
	}
	MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream; charset=utf-8");
	MHD_add_response_header(mr, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(mr, "X-Accel-Buffering", "no"); /* nginx: pass each event on at once */
	MHD_add_response_header(mr, "X-Request-Id", r->id);
	add_cors(mr, cors_origin(h->cfg, conn));
	ret = MHD_queue_response(conn, MHD_HTTP_OK, mr);
	MHD_destroy_response(mr);
	pv_metrics_http_response((enum pv_route)r->resp.route, 200, seconds_since(&r->started));
	log_info("http: %s %s %.100s 200 stream opened from %s", r->id, method, url, r->client[0] ? r->client : "unknown");
	return ret;
}

/* A preflight: what a browser on an allowed origin may send. */
static enum MHD_Result send_preflight(struct pv_http *h, struct MHD_Connection *conn)
{
	const char *origin = cors_origin(h->cfg, conn);
	struct MHD_Response *mr = MHD_create_response_from_buffer(0, (char *)"", MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret;

	if (!mr)
		return MHD_NO;
	add_cors(mr, origin);
	if (origin) {
		MHD_add_response_header(mr, "Access-Control-Allow-Methods", "GET, HEAD, POST, PATCH, DELETE");
		MHD_add_response_header(mr, "Access-Control-Allow-Headers",
			"Authorization, Content-Type, Idempotency-Key, Prefer, X-Request-Id");
		MHD_add_response_header(mr, "Access-Control-Max-Age", "600");
	}
	ret = MHD_queue_response(conn, MHD_HTTP_NO_CONTENT, mr);
	MHD_destroy_response(mr);
	return ret;
}

/* The client's X-Request-Id if it is short and tame, else a fresh one. */
static void request_id(struct req *r, struct MHD_Connection *conn)
{
	static atomic_ulong counter;
	const char *given = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id");
	size_t n = given ? strlen(given) : 0;

	if (n > 0 && n < sizeof(r->id) &&
	    strspn(given, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:") == n)
		memcpy(r->id, given, n + 1);
	else
		snprintf(r->id, sizeof(r->id), "%lx-%lx", (unsigned long)time(NULL),
			atomic_fetch_add_explicit(&counter, 1, memory_order_relaxed));
}

/* ---- what a proxy could read otherwise ---------------------------------- */

static int is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int pv_http_check_target(const char *target, size_t len)
{
	const char *q = memchr(target, '?', len);
	size_t path_len = q ? (size_t)(q - target) : len;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)target[i];
		if (c <= ' ' || c == 0x7f)
			return pv_error_set(PV_EBADREQ, NULL, "the request target holds the raw byte 0x%02x", c);
		if (c != '%' || i + 2 >= len || !is_hex(target[i + 1]) || !is_hex(target[i + 2]))
			continue;
		/* the decoded string would end at a NUL, or gain a segment at a
		 * '/': what we routed would not be what the client named */
		if (target[i + 1] == '0' && target[i + 2] == '0')
			return i < path_len ? pv_error_set(PV_ENOTFOUND, NULL, "no resource at a path with an encoded NUL (%%00)")
					    : pv_error_set(PV_EBADREQ, NULL, "the query holds an encoded NUL (%%00)");
		if (i < path_len && target[i + 1] == '2' && (target[i + 2] == 'f' || target[i + 2] == 'F'))
			return pv_error_set(PV_ENOTFOUND, NULL, "no resource at a path with an encoded '/' (%%2F)");
	}
	return 0;
}

/* A forge's push or pull-request payload lists commits and files and is
 * often larger than an API request: the hooks have their own cap. */
static long long body_limit(const struct pv_http *h, const char *target)
{
	return strncmp(target, "/v1/hooks/", 10) == 0 ? h->cfg->max_hook_body : h->cfg->max_body;
}

static struct req *req_new(struct pv_http *h, struct MHD_Connection *conn)
{
	struct req *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->body = (struct pv_strbuf)PV_STRBUF_INIT_MAX((size_t)h->cfg->max_body);
	r->conn = conn;
	clock_gettime(CLOCK_MONOTONIC, &r->started);
	return r;
}

/* MHD_OPTION_URI_LOG_CALLBACK: the target before libmicrohttpd splits off
 * the query and decodes it in place.  What this returns is the request's
 * *con_cls; NOTIFY_COMPLETED frees it even if libmicrohttpd itself refuses
 * the rest of the request. */
static void *target_seen(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct req *r = req_new(cls, conn);

	if (!r)
		return NULL; /* the handler tries again, without the target checks */
	r->raw_target = uri;
	r->raw_len = strlen(uri);
	snprintf(r->target, sizeof(r->target), "%s", uri);
	if ((r->refused = pv_http_check_target(uri, r->raw_len)) < 0)
		snprintf(r->refusal, sizeof(r->refusal), "%s", pv_error_last()->message);
	return r;
}

/* A NUL byte in the target, which the C string cut short.  libmicrohttpd
 * 0.9 parses the request line in its buffer: the target runs from url up to
 * the NUL that replaced the space before version, so a longer span than the
 * string the URI log saw holds a NUL (1.0 refuses such a line itself). */
static int target_cut(const struct req *r, const char *url, const char *version)
{
#if MHD_VERSION < 0x01000000
	uintptr_t u = (uintptr_t)url, v = (uintptr_t)version;

	return r->raw_target == url && *version && v > u && v - u - 1 != r->raw_len;
#else
	(void)r;
	(void)url;
	(void)version;
	return 0;
#endif
}

struct header_tally {
	unsigned content_length, transfer_encoding, host;
	const char *coding;         /* the Transfer-Encoding value */
	const char *bad_name;       /* a field name with whitespace */
};

static enum MHD_Result tally_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct header_tally *t = cls;

	(void)kind;
	if (!*key || key[strcspn(key, " \t")] != '\0')
		t->bad_name = key;
	if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0)
		t->content_length++;
	if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
		t->transfer_encoding++;
		t->coding = value;
	}
	if (strcasecmp(key, MHD_HTTP_HEADER_HOST) == 0)
		t->host++;
	return MHD_YES;
}

/* The framing rules of RFC 9112 where libmicrohttpd 0.9 is lenient: it
 * takes the first of two Content-Lengths, lets Transfer-Encoding override
 * one, keeps "Content-Length : 5" as a field named "Content-Length " (no
 * length, so the body is read as the next request), and takes HTTP/1.1
 * without Host.  MHD_OPTION_STRICT_FOR_CLIENT is left alone: at 1 it
 * refuses a missing Host itself but sends its 400's header block twice,
 * at -1 it refuses the space before a colon but relaxes the rest; checked
 * here, every refusal is one problem document. */
static int check_framing(struct MHD_Connection *conn, const char *version)
{
	struct header_tally t = { 0 };
	int http10 = strcmp(version, MHD_HTTP_VERSION_1_0) == 0;

	MHD_get_connection_values(conn, MHD_HEADER_KIND, tally_header, &t);
	if (t.bad_name)
		return pv_error_set(PV_EBADREQ, NULL, "the header field name '%.40s' holds whitespace (RFC 9112, 5.1)", t.bad_name);
	if (t.content_length > 1)
		return pv_error_set(PV_EBADREQ, NULL, "more than one Content-Length (RFC 9112, 6.3)");
	if (t.transfer_encoding && t.content_length)
		return pv_error_set(PV_EBADREQ, NULL, "both Transfer-Encoding and Content-Length (RFC 9112, 6.1)");
	if (t.transfer_encoding && (http10 || t.transfer_encoding > 1 || strcasecmp(t.coding, "chunked") != 0))
		return pv_error_set(PV_EBADREQ, NULL, "the only Transfer-Encoding accepted is one chunked, in HTTP/1.1");
	if (http10 ? t.host > 1 : t.host != 1)
		return pv_error_set(PV_EBADREQ, NULL, "an HTTP/1.1 request has exactly one Host (RFC 9112, 3.2)");
	return 0;
}

/* ---- the access handler ------------------------------------------------- */

static const char *query_lookup(void *ctx, const char *key)
{
	return MHD_lookup_connection_value(ctx, MHD_GET_ARGUMENT_KIND, key);
}

static const char *header_lookup(void *ctx, const char *name)
{
	return MHD_lookup_connection_value(ctx, MHD_HEADER_KIND, name);
}

static int append_body(struct req *r, const char *data, size_t n)
{
	int error;

	if (r->too_big)
		return 0;
	if ((error = pv_strbuf_add(&r->body, data, n)) == PV_ETOOBIG) {
		/* keep reading (and dropping) so the 413 reaches a client that does
		 * not wait for an early answer */
		r->too_big = 1;
		return 0;
	}
	return error;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
	const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	struct pv_http *h = cls;
	struct req *r = *con_cls;
	struct pv_request preq;
	enum MHD_Result ret;

	if (!r || r->state == RS_NEW) {
		const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		int error;
		if (!r && !(r = req_new(h, conn)))
			return MHD_NO;
		if (!r->target[0])
			snprintf(r->target, sizeof(r->target), "%s", url);
		*con_cls = r;
		r->state = RS_BODY;
		request_id(r, conn);
		client_address(h, conn, r->client, sizeof(r->client));
		error = check_framing(conn, version);
		if (error == 0 && target_cut(r, url, version))
			error = pv_error_set(PV_EBADREQ, NULL, "the request target holds a NUL byte");
		if (error == 0 && r->refused)
			error = pv_error_set(r->refused, NULL, "%s", r->refusal);
		if (error < 0) {
			/* a 404 leaves the stream as it was; after a malformed
			 * request what follows is no request we can trust */
			r->must_close = error != PV_ENOTFOUND;
			return send_problem(h, conn, r, error, method, r->target);
		}
		if (strcmp(method, "OPTIONS") == 0)
			return send_preflight(h, conn);
		/* refuse an announced oversized body before reading a byte of it */
		r->body.max = (size_t)body_limit(h, r->target);
		if (cl && strtoull(cl, NULL, 10) > (unsigned long long)r->body.max) {
			pv_error_set(PV_ETOOBIG, NULL, "the body is larger than the limit of %zu bytes", r->body.max);
			return send_problem(h, conn, r, PV_ETOOBIG, method, url);
		}
		return MHD_YES;
	}
	if (r->state == RS_BODY && *upload_data_size) {
		if (append_body(r, upload_data, *upload_data_size) < 0)
			return MHD_NO;
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (r->state == RS_RESUMED) {
		pv_api_finish(h->api, &r->resp);
		return send_response(h, conn, r, &r->resp, method, url);
	}
	if (r->state == RS_WAITING)
		return MHD_YES; /* spurious call while suspended */
	if (r->too_big) {
		pv_error_set(PV_ETOOBIG, NULL, "the body is larger than the limit of %zu bytes", r->body.max);
		return send_problem(h, conn, r, PV_ETOOBIG, method, url);
	}

	preq = (struct pv_request){
		.method = method,
		.path = url,
		.query = query_lookup,
		.query_ctx = conn,
		.content_type = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE),
		.prefer = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Prefer"),
		.authorization = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION),
		.idempotency_key = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Idempotency-Key"),
		.body = r->body.buf ? r->body.buf : "",
		.body_len = r->body.len,
		.remote_addr = r->client,
		.header = header_lookup,
		.header_ctx = conn,
	};
	pv_api_handle(h->api, &preq, &r->resp);
	if (r->resp.stream.on)
		return send_stream(h, conn, r, method, url);
	if (r->resp.wait != PV_WAIT_NONE && r->resp.wait_ms > 0) {
		pthread_mutex_lock(&h->lock);
		/* the push may have landed before we got here: the landed callback
		 * runs after the database says so, and takes this lock, so checking
		 * under the lock cannot miss it */
		if (!h->stopping && !pv_api_wait_done(h->api, &r->resp)) {
			clock_gettime(CLOCK_MONOTONIC, &r->deadline);
			ts_add_ms(&r->deadline, r->resp.wait_ms);
			r->state = RS_WAITING;
			r->in_room = 1;
			r->next = h->room;
			if (h->room)
				h->room->prev = r;
			h->room = r;
			MHD_suspend_connection(conn);
			pthread_mutex_unlock(&h->lock);
			pv_worker_kick(&h->timer);
			return MHD_YES;
		}
		pthread_mutex_unlock(&h->lock);
	}
	if (r->resp.wait != PV_WAIT_NONE)
		pv_api_finish(h->api, &r->resp);
	ret = send_response(h, conn, r, &r->resp, method, url);
	return ret;
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	struct pv_http *h = cls;
	struct req *r = *con_cls;

	(void)conn;
	(void)toe;
	if (!r)
		return;
	pthread_mutex_lock(&h->lock);
	if (r->in_room) /* a connection closed while waiting */
		room_unlink(h, r);
	pthread_mutex_unlock(&h->lock);
	pv_api_release(h->api, &r->resp);
	pv_response_dispose(&r->resp);
	pv_strbuf_dispose(&r->body);
	free(r);
	*con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[512];

	(void)cls;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	buf[strcspn(buf, "\n")] = '\0';
	log_warn("http: %s", buf);
}

/* ---- life cycle --------------------------------------------------------- */

int pv_http_new(struct pv_http **out, const struct pv_config *cfg)
{
	struct pv_http *h = calloc(1, sizeof(*h));

	*out = NULL;
	if (!h)
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	h->cfg = cfg;
	if (pv_peer_trust_parse(&h->trust, cfg->trusted_proxies) < 0) {
		free(h);
		return PV_EINVAL;
	}
	pthread_mutex_init(&h->lock, NULL);
	pthread_mutex_init(&h->count_lock, NULL);
	*out = h;
	return 0;
}

int pv_http_start(struct pv_http *h, struct pv_api *api)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
			     MHD_USE_ERROR_LOG;
	const union MHD_DaemonInfo *di;

	h->api = api;
	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, h->cfg->listen_host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(h->cfg->listen_port);
	} else if (inet_pton(AF_INET6, h->cfg->listen_host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(h->cfg->listen_port);
		flags |= MHD_USE_IPv6;
	} else {
		return pv_error_set(PV_EINVAL, "PREVIEWD_LISTEN", "PREVIEWD_LISTEN host '%s' must be a numeric IPv4 or IPv6 address",
			h->cfg->listen_host);
	}
	if (pv_worker_start(&h->timer, "pv-http-timer", timer_run, h) < 0)
		return PV_ERROR;
	h->daemon = MHD_start_daemon(flags, h->cfg->listen_port, accept_policy, h, handler, h,
		MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)h->cfg->http_threads,
		/* a slow or flooding client can hold at most its share of
		 * connections (accept_policy), each for at most the idle timeout */
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)h->cfg->conn_timeout,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned int)h->cfg->max_connections,
		MHD_OPTION_NOTIFY_CONNECTION, connection_notify, h,
		MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int)1024,
		MHD_OPTION_NOTIFY_COMPLETED, completed, h,
		MHD_OPTION_URI_LOG_CALLBACK, target_seen, h,
		MHD_OPTION_END);
	if (!h->daemon)
		return pv_error_set(PV_EUNAVAIL, "PREVIEWD_LISTEN", "cannot listen on %s: %s", h->cfg->listen, strerror(errno));
	di = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
	h->port = di ? di->port : h->cfg->listen_port;
	return 0;
}

void pv_http_set_stream(struct pv_http *h, struct pv_stream *stream)
{
	h->stream = stream;
}

unsigned short pv_http_port(const struct pv_http *h)
{
	return h->port;
}

void pv_http_stop(struct pv_http *h)
{
	if (!h)
		return;
	pthread_mutex_lock(&h->lock);
	if (h->stopped) {
		pthread_mutex_unlock(&h->lock);
		return;
	}
	h->stopped = 1;
	h->stopping = 1;
	while (h->room)
		room_release(h, h->room); /* they answer with what they have: 202 */
	pthread_mutex_unlock(&h->lock);
	pv_stream_close_all(h->stream); /* libmicrohttpd must stop with none suspended */
	if (h->daemon) {
		/* let resumed connections send their answers before closing */
		MHD_quiesce_daemon(h->daemon);
		struct timespec t = { 0, 200 * 1000000L };
		nanosleep(&t, NULL);
		MHD_stop_daemon(h->daemon);
	}
	pv_worker_stop(&h->timer);
	h->daemon = NULL;
}

void pv_http_free(struct pv_http *h)
{
	if (!h)
		return;
	pv_http_stop(h);
	for (size_t i = 0; i < 256; i++) {
		while (h->counts[i]) {
			struct addr_count *c = h->counts[i];
			h->counts[i] = c->next;
			free(c);
		}
	}
	pv_peer_trust_dispose(&h->trust);
	pthread_mutex_destroy(&h->count_lock);
	pthread_mutex_destroy(&h->lock);
	free(h);
}
