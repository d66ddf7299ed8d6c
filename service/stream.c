/*
 * stream.c - Server-Sent Events of every change: the ring, the clients,
 * their bounded buffers and the content reader libmicrohttpd drains them
 * with.  See stream.h for the design.
 *
 * Locking: one mutex (`lock`) over the ring, the client list and every
 * client's buffer and flags.  A client's connection is suspended and
 * resumed under it, so "the buffer is empty, suspend" (reader) and "an
 * event came, resume" (the thread) cannot cross: the same order as
 * http.c's waiting room.  A client is freed by libmicrohttpd's free
 * callback of its response, after the connection is done with it.
 */
#include "stream.h"

#include <errno.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "env.h"
#include "log.h"
#include "store.h"
#include "strbuf.h"
#include "worker.h"

#define RING_MAX 1024                   /* events kept for a reconnect */
#define RING_BYTES ((size_t)4 << 20)     /* and their text at most */
#define BATCH 256                       /* history rows read at once by the thread */
#define CATCHUP_ROWS 64                 /* ... and by a client catching up */
#define CATCHUP_BYTES ((size_t)64 << 10) /* what a catch-up queues at once */
#define POLL_MS 1000                    /* writers in other processes have no hook */
#define SNDBUF (64 << 10)               /* the kernel's share of a slow client */
#define BLOCK 8192                      /* libmicrohttpd's reads of a buffer */

struct entry {
	int64_t id;
	char owner[64];
	char status[16];
	char *text;                 /* the event as sent */
	size_t len;
};

struct client {
	struct pv_stream *s;
	struct MHD_Connection *conn;
	int fd;
	struct pv_stream_want want;
	int64_t cursor;             /* the last history id queued (or passed over) */
	int live;                   /* the thread queues its events; else it catches up */
	int suspended, dropped;
	char *buf;                  /* bytes [off, len) are not yet read */
	size_t off, len, cap;
	struct client *next, *prev;
};

struct pv_stream {
	const struct pv_config *cfg;
	struct pv_envs *envs;
	struct pv_worker worker;
	pthread_mutex_t lock;
	struct client *clients;
	unsigned count;
	int closing;
	int64_t last_id;            /* the latest history row the thread read */
	int64_t floor;              /* the ring holds every event after floor */
	struct entry ring[RING_MAX];
	size_t head, n, bytes;      /* oldest entry, entries, their text */
	int64_t keepalive_at;       /* monotonic ms; thread only */
};

/* ---- events --------------------------------------------------------------- */

/* The stream's kind of a history row, NULL for rows that tell no change of
 * their own (a summary of many holds). */
static const char *event_kind(const struct pv_event *ev, int pushed_before)
{
	static const char *const same[] = { "created", "updated", "extended", "expiring", "deleted", "failed",
		"git_error", "git_recovered" };

	for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++)
		if (strcmp(ev->kind, same[i]) == 0)
			return same[i];
	if (strcmp(ev->kind, "ready") == 0) /* without Argo CD the first push is "ready" */
		return strcmp(ev->actor, "previewd") == 0 ? "active" : "ready";
	if (strcmp(ev->kind, "pushed") == 0)
		return pushed_before ? "updated" : "active";
	if (strcmp(ev->kind, "expiry_held") == 0)
		return NULL;
	return "updated"; /* deleting, expired, drift, held, recovered: the status or record changed */
}

/* The event's text into e (e->text NULL for a row the stream passes over). */
static int format_event(struct pv_stream *s, const struct pv_event *ev, const struct pv_env *env,
	int pushed_before, struct entry *e)
{
	const char *kind = event_kind(ev, pushed_before);
	struct pv_strbuf b = PV_STRBUF_INIT;
	json_t *j;
	char *data;
	int error;

	memset(e, 0, sizeof(*e));
	e->id = ev->id;
	snprintf(e->owner, sizeof(e->owner), "%s", env->owner);
	snprintf(e->status, sizeof(e->status), "%s", env->status);
	if (!kind)
		return 0;
	if (!(j = pv_env_json(s->envs, env)))
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	/* a Git error is the row's news, not the record's: by the time it is
	 * read the record may hold the next error, or none */
	if (strncmp(ev->kind, "git_", 4) == 0 && ev->detail_json &&
	    json_object_set_new(j, "detail", json_loads(ev->detail_json, 0, NULL)) < 0) {
		json_decref(j);
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	}
	/* compact JSON is one line: a newline in a string is escaped */
	data = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(j);
	if (!data)
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	error = pv_strbuf_printf(&b, "id: %lld\nevent: %s\ndata: %s\n\n", (long long)ev->id, kind, data);
	free(data);
	if (error < 0) {
		pv_strbuf_dispose(&b);
		return error;
	}
	e->text = pv_strbuf_take(&b, &e->len);
	return e->text ? 0 : pv_error_set(PV_ERROR, NULL, "out of memory");
}

static int matches(const struct client *c, const struct entry *e)
{
	return e->text && (!c->want.owner[0] || strcmp(c->want.owner, e->owner) == 0) &&
	       (!c->want.status[0] || strcmp(c->want.status, e->status) == 0);
}

/* ---- a client's buffer (under lock) --------------------------------------- */

static size_t pending(const struct client *c)
{
	return c->len - c->off;
}

static int client_add(struct client *c, const char *text, size_t len)
{
	if (c->off && c->off == c->len)
		c->off = c->len = 0;
	if (c->len + len > c->cap && c->off) {
		memmove(c->buf, c->buf + c->off, c->len - c->off);
		c->len -= c->off;
		c->off = 0;
	}
	if (c->len + len > c->cap) {
		size_t cap = c->cap ? c->cap : 4096;
		char *p;
		while (cap < c->len + len)
			cap *= 2;
		if (!(p = realloc(c->buf, cap)))
			return PV_ERROR;
		c->buf = p;
		c->cap = cap;
	}
	memcpy(c->buf + c->len, text, len);
	c->len += len;
	return 0;
}

static void wake(struct client *c)
{
	if (c->suspended) {
		c->suspended = 0;
		MHD_resume_connection(c->conn);
	}
}

/* Fell behind: what it holds is freed at once, and the shut-down socket
 * ends the connection at libmicrohttpd's next look at it, even while it
 * waits for the client to read. */
static void drop(struct client *c, const char *why)
{
	log_warn("stream: a client %s; dropped after event %lld (it may resume with Last-Event-ID)", why,
		(long long)c->cursor);
	c->dropped = 1;
	free(c->buf);
	c->buf = NULL;
	c->off = c->len = c->cap = 0;
	if (c->fd >= 0)
		shutdown(c->fd, SHUT_RDWR);
	wake(c);
}

/* Suspended connections are not watched by libmicrohttpd: a client that
 * went away would hold its slot (PREVIEWD_MAX_STREAMS, the connection
 * limits) until the next keepalive failed.  A look at each idle socket
 * (an end of file or an error) frees it within a poll. */
static void reap_gone(struct pv_stream *s)
{
	char byte;

	pthread_mutex_lock(&s->lock);
	for (struct client *c = s->clients; c; c = c->next) {
		ssize_t n;
		if (!c->suspended || c->dropped || c->fd < 0)
			continue;
		n = recv(c->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
			c->dropped = 1; /* its reader ends the response, libmicrohttpd the connection */
			wake(c);
		}
	}
	pthread_mutex_unlock(&s->lock);
}

/* A live client's share of e: a buffer that would pass the cap drops it
 * (one event larger than the cap still goes to an idle client). */
static void offer(struct client *c, const struct entry *e)
{
	if (c->dropped || !c->live || e->id <= c->cursor)
		return;
	c->cursor = e->id;
	if (!matches(c, e))
		return;
	if (pending(c) && pending(c) + e->len > PV_STREAM_CLIENT_MAX) {
		drop(c, "fell behind by more than the stream buffer (256 KiB)");
		return;
	}
	if (client_add(c, e->text, e->len) < 0) {
		drop(c, "could not be given an event (out of memory)");
		return;
	}
	wake(c);
}

/* ---- the ring (under lock) ------------------------------------------------ */

static struct entry *ring_at(struct pv_stream *s, size_t i)
{
	return &s->ring[(s->head + i) % RING_MAX];
}

static void ring_push(struct pv_stream *s, struct entry *e)
{
	while (s->n && (s->n == RING_MAX || s->bytes + e->len > RING_BYTES)) {
		struct entry *old = ring_at(s, 0);
		s->floor = old->id;
		s->bytes -= old->len;
		free(old->text);
		s->head = (s->head + 1) % RING_MAX;
		s->n--;
	}
	*ring_at(s, s->n) = *e;
	s->n++;
	s->bytes += e->len;
}

/* A catching-up client's events from the ring, up to CATCHUP_BYTES; live
 * once it has all the ring holds. */
static void from_ring(struct pv_stream *s, struct client *c)
{
	for (size_t i = 0; i < s->n; i++) {
		struct entry *e = ring_at(s, i);
		if (e->id <= c->cursor)
			continue;
		if (matches(c, e)) {
			if (pending(c) && pending(c) + e->len > CATCHUP_BYTES)
				return;
			if (client_add(c, e->text, e->len) < 0) {
				drop(c, "could not be given an event (out of memory)");
				return;
			}
		}
		c->cursor = e->id;
	}
	if (c->cursor < s->last_id)
		c->cursor = s->last_id;
	c->live = 1;
}

/* ---- catching up from the history (a client's worker, unlocked) --------- */

struct catchup {
	struct pv_stream *s;
	const struct client *c;
	struct pv_strbuf out;
	int64_t last;
};

static int catchup_one(const struct pv_event *ev, const struct pv_env *env, int pushed_before, void *payload)
{
	struct catchup *cu = payload;
	struct entry e;
	int error;

	if ((error = format_event(cu->s, ev, env, pushed_before, &e)) < 0)
		return error;
	if (matches(cu->c, &e))
		error = pv_strbuf_add(&cu->out, e.text, e.len);
	free(e.text);
	cu->last = ev->id;
	return error;
}

/* The next rows after the client's cursor; the thread never touches a
 * client that is not live, so its cursor and filters hold still. */
static int from_history(struct pv_stream *s, struct client *c)
{
	struct catchup cu = { .s = s, .c = c, .out = PV_STRBUF_INIT, .last = c->cursor };
	struct pv_store *st;
	int error;

	if ((error = pv_env_store(s->envs, &st)) == 0)
		error = pv_store_changes(st, c->cursor, CATCHUP_ROWS, catchup_one, &cu);
	pthread_mutex_lock(&s->lock);
	if (error == 0 && cu.out.len && client_add(c, cu.out.buf, cu.out.len) < 0)
		error = pv_error_set(PV_ERROR, NULL, "out of memory");
	if (error == 0)
		/* no row after the cursor although the ring starts later: the
		 * history was replaced under us; go on from the ring */
		c->cursor = cu.last > c->cursor ? cu.last : s->floor;
	pv_strbuf_dispose(&cu.out);
	return error;
}

/* ---- libmicrohttpd's side -------------------------------------------------- */

static ssize_t reader(void *cls, uint64_t pos, char *out, size_t max)
{
	struct client *c = cls;
	struct pv_stream *s = c->s;

	(void)pos;
	pthread_mutex_lock(&s->lock);
	for (;;) {
		if (c->dropped) {
			pthread_mutex_unlock(&s->lock);
			return MHD_CONTENT_READER_END_WITH_ERROR;
		}
		if (pending(c)) {
			size_t n = pending(c) < max ? pending(c) : max;
			memcpy(out, c->buf + c->off, n);
			c->off += n;
			pthread_mutex_unlock(&s->lock);
			return (ssize_t)n;
		}
		if (s->closing) {
			pthread_mutex_unlock(&s->lock);
			return MHD_CONTENT_READER_END_OF_STREAM;
		}
		if (c->live)
			break;
		if (c->cursor >= s->floor) {
			from_ring(s, c);
			continue;
		}
		pthread_mutex_unlock(&s->lock);
		if (from_history(s, c) < 0) { /* returns locked */
			log_warn("stream: catching a client up from the history: %s", pv_error_last()->message);
			pthread_mutex_unlock(&s->lock);
			return MHD_CONTENT_READER_END_WITH_ERROR;
		}
	}
	/* nothing to send: returning 0 is allowed only with the connection
	 * suspended (else libmicrohttpd would call again at once) */
	c->suspended = 1;
	MHD_suspend_connection(c->conn);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

static void client_free(void *cls)
{
	struct client *c = cls;
	struct pv_stream *s = c->s;

	pthread_mutex_lock(&s->lock);
	if (c->prev)
		c->prev->next = c->next;
	else
		s->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->count--;
	pthread_mutex_unlock(&s->lock);
	free(c->buf);
	free(c);
}

int pv_stream_open(struct pv_stream *s, struct MHD_Connection *conn, const struct pv_stream_want *want,
	struct MHD_Response **out)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	static const char hello[] = ": previewd environment changes\nretry: 3000\n\n";
	struct client *c;

	*out = NULL;
	if (!(c = calloc(1, sizeof(*c))))
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	c->s = s;
	c->conn = conn;
	c->fd = ci ? ci->connect_fd : -1;
	c->want = *want;
	pthread_mutex_lock(&s->lock);
	if (s->closing || s->count >= (unsigned)s->cfg->max_streams) {
		int closing = s->closing;
		pthread_mutex_unlock(&s->lock);
		free(c);
		return closing ? pv_error_set(PV_EUNAVAIL, NULL, "previewd is shutting down")
			       : pv_error_set(PV_EUNAVAIL, NULL, "%lld streams are open, the limit (PREVIEWD_MAX_STREAMS); "
				       "try again later", s->cfg->max_streams);
	}
	c->cursor = want->after >= 0 ? want->after : s->last_id;
	if (client_add(c, hello, sizeof(hello) - 1) < 0) {
		pthread_mutex_unlock(&s->lock);
		free(c);
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	}
	c->next = s->clients;
	if (s->clients)
		s->clients->prev = c;
	s->clients = c;
	s->count++;
	pthread_mutex_unlock(&s->lock);
	if (!(*out = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, BLOCK, reader, c, client_free))) {
		client_free(c);
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	}
	/* the kernel would otherwise grow a slow reader's send buffer to
	 * megabytes before the client's own buffer fills */
	if (c->fd >= 0)
		(void)setsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &(int){ SNDBUF }, sizeof(int));
	return 0;
}

/* ---- the thread ------------------------------------------------------------ */

struct batch {
	struct pv_stream *s;
	struct entry v[BATCH];
	size_t n, rows;
	int64_t last;
};

static int batch_one(const struct pv_event *ev, const struct pv_env *env, int pushed_before, void *payload)
{
	struct batch *b = payload;
	int error = format_event(b->s, ev, env, pushed_before, &b->v[b->n]);

	if (error < 0)
		return error;
	b->last = ev->id;
	b->rows++;
	if (b->v[b->n].text)
		b->n++;
	return 0;
}

/* Read and hand out the rows after last_id; 1 when there may be more. */
static int read_batch(struct pv_stream *s)
{
	static struct batch b; /* the thread's own: too large for its stack */
	struct pv_store *st;
	int error;

	b = (struct batch){ .s = s, .last = s->last_id };
	if ((error = pv_env_store(s->envs, &st)) == 0)
		error = pv_store_changes(st, s->last_id, BATCH, batch_one, &b);
	if (error < 0)
		log_warn("stream: reading the history: %s", pv_error_last()->message);
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < b.n; i++) {
		ring_push(s, &b.v[i]);
		for (struct client *c = s->clients; c; c = c->next)
			offer(c, &b.v[i]);
	}
	s->last_id = b.last;
	pthread_mutex_unlock(&s->lock);
	return error == 0 && b.rows == BATCH;
}

/* An idle client hears a comment now and then: proxies and clients see
 * the connection is alive, and one that went away is noticed when the
 * write fails (a suspended connection is not watched). */
static void keepalive(struct pv_stream *s)
{
	static const char text[] = ": keepalive\n\n";

	pthread_mutex_lock(&s->lock);
	for (struct client *c = s->clients; c; c = c->next) {
		if (c->dropped || pending(c))
			continue;
		if (client_add(c, text, sizeof(text) - 1) < 0)
			drop(c, "could not be given a keepalive (out of memory)");
		else
			wake(c);
	}
	pthread_mutex_unlock(&s->lock);
}

static void run(struct pv_worker *w, void *arg)
{
	struct pv_stream *s = arg;

	s->keepalive_at = pv_monotonic_ms() + PV_STREAM_KEEPALIVE_MS;
	while (!pv_worker_stopping(w)) {
		int more = read_batch(s);
		int64_t now = pv_monotonic_ms(), wait;

		reap_gone(s);

		if (now >= s->keepalive_at) {
			keepalive(s);
			s->keepalive_at = now + PV_STREAM_KEEPALIVE_MS;
		}
		if (more)
			continue;
		wait = s->keepalive_at - now;
		pv_worker_wait(w, wait < POLL_MS ? wait : POLL_MS);
	}
}

/* ---- life cycle ------------------------------------------------------------ */

int pv_stream_new(struct pv_stream **out, const struct pv_config *cfg, struct pv_envs *envs)
{
	struct pv_stream *s = calloc(1, sizeof(*s));

	*out = NULL;
	if (!s)
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	s->cfg = cfg;
	s->envs = envs;
	pthread_mutex_init(&s->lock, NULL);
	*out = s;
	return 0;
}

int pv_stream_start(struct pv_stream *s)
{
	struct pv_store *st;
	int error;

	/* a client without Last-Event-ID starts here; one with an older id
	 * catches up from the history */
	if ((error = pv_env_store(s->envs, &st)) < 0 || (error = pv_store_changes_last(st, &s->last_id)) < 0)
		return error;
	s->floor = s->last_id;
	return pv_worker_start(&s->worker, "pv-stream", run, s);
}

void pv_stream_kick(void *payload)
{
	struct pv_stream *s = payload;

	pv_worker_kick(&s->worker);
}

void pv_stream_close_all(struct pv_stream *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->closing = 1;
	for (struct client *c = s->clients; c; c = c->next)
		wake(c); /* its reader ends the response */
	pthread_mutex_unlock(&s->lock);
}

unsigned pv_stream_count(struct pv_stream *s)
{
	unsigned n;

	pthread_mutex_lock(&s->lock);
	n = s->count;
	pthread_mutex_unlock(&s->lock);
	return n;
}

void pv_stream_free(struct pv_stream *s)
{
	if (!s)
		return;
	pv_worker_stop(&s->worker);
	for (size_t i = 0; i < s->n; i++)
		free(ring_at(s, i)->text);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
