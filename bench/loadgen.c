/*
 * loadgen.c - a small closed-loop HTTP/1.1 load generator for previewd's
 * benchmark (bench/run.sh).  No libcurl, no process per request: C client
 * threads, one keep-alive connection each, each sending its next request as
 * soon as the previous answer is in.  Every request is timed from the first
 * byte written to the last byte of the answer read (CLOCK_MONOTONIC).
 *
 *   loadgen -p PORT -m POST|DELETE|GET -c CLIENTS -n COUNT -x PREFIX [-s START]
 *           [-a] [-t TTL | -e EXPIRE_EPOCH] [-o owner] [-l LATENCY_FILE]
 *           [-h "Header: value"]
 *
 * Request i (0 <= i < COUNT, taken from a shared counter) is about the
 * environment PREFIX%06d of START + i:
 *   POST   /v1/environments        {"owner":OWNER,"name":NAME,"ttl":TTL}
 *   DELETE /v1/environments/NAME
 *   GET    /v1/environments/NAME
 *   CYCLE  the POST, then (if it succeeded) the DELETE, on the same
 *          connection; timed together, the status is the DELETE's (or the
 *          failed POST's)
 * -a adds "Prefer: respond-async".  -e EPOCH computes each request's ttl as
 * EPOCH - now, so that every environment expires in the same second.
 *
 * Prints one JSON object: count, elapsed_s, rps, statuses, errors and the
 * latency distribution in milliseconds.  -l writes every latency (ms).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char *host = "127.0.0.1", *method = "POST", *prefix = "b", *owner = "bench", *lat_file;
static char extra_header[600]; /* "Name: value\r\n" from -h, or "" */
static int port, clients = 1, async_pref;
static long count = 1, start_index;
static long ttl = 3600, expire_at;
static atomic_long next_req;

struct result {
	double ms;
	int status; /* 0: transport error */
};

static struct result *results;

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int dial(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((unsigned short)port) };
	int fd, one = 1;

	inet_pton(AF_INET, host, &sa.sin_addr);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Read one answer; returns the status, 0 on error.  *close_after is set
 * when the server will close the connection. */
static int read_answer(int fd, char *buf, size_t cap, int *close_after)
{
	size_t have = 0, head_len = 0;
	long clen = -1;
	int status = 0;
	char *eoh = NULL;

	*close_after = 0;
	for (;;) {
		ssize_t r;
		if (!eoh) {
			buf[have] = '\0';
			if ((eoh = strstr(buf, "\r\n\r\n")) != NULL) {
				char *line, *save = NULL;
				head_len = (size_t)(eoh - buf) + 4;
				*eoh = '\0';
				if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
					return 0;
				for (line = strtok_r(buf, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save)) {
					if (strncasecmp(line, "Content-Length:", 15) == 0)
						clen = strtol(line + 15, NULL, 10);
					else if (strncasecmp(line, "Connection:", 11) == 0 && strcasestr(line + 11, "close"))
						*close_after = 1;
					else if (strncasecmp(line, "Transfer-Encoding:", 18) == 0)
						return 0; /* previewd answers with a length; chunked is not expected */
				}
				if (clen < 0)
					*close_after = 1; /* body runs to the end of the connection */
			}
		}
		if (eoh && clen >= 0 && have >= head_len + (size_t)clen)
			return status;
		if (have + 1 >= cap) {
			/* the body does not fit: keep only the count */
			if (!eoh)
				return 0;
			clen -= (long)(have - head_len);
			have = head_len;
		}
		r = read(fd, buf + have, cap - have - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return eoh && clen < 0 ? status : 0;
		have += (size_t)r;
	}
}

static int build_request(char *req, size_t cap, char *body, size_t bcap, const char *m, const char *name)
{
	if (strcmp(m, "POST") == 0) {
		long t = expire_at ? expire_at - (long)time(NULL) : ttl;
		int bl = snprintf(body, bcap, "{\"owner\":\"%s\",\"name\":\"%s\",\"ttl\":%ld}", owner, name, t);
		return snprintf(req, cap,
			"POST /v1/environments HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
			"Content-Length: %d\r\n%s%s\r\n%s",
			host, port, bl, async_pref ? "Prefer: respond-async\r\n" : "", extra_header, body);
	}
	return snprintf(req, cap, "%s /v1/environments/%s HTTP/1.1\r\nHost: %s:%d\r\n%s%s\r\n", m, name, host, port,
		async_pref ? "Prefer: respond-async\r\n" : "", extra_header);
}

static void *client(void *arg)
{
	static __thread char req[2048], body[512], buf[1 << 20];
	int fd = -1;

	(void)arg;
	for (;;) {
		long i = atomic_fetch_add(&next_req, 1);
		char name[128];
		int n, close_after = 0, status;
		double t0;

		if (i >= count)
			break;
		snprintf(name, sizeof(name), "%s%06ld", prefix, start_index + i);
		if (fd < 0 && (fd = dial()) < 0) {
			results[i] = (struct result){ 0, 0 };
			continue;
		}
		t0 = now_ms();
		status = 0;
		for (int step = 0; step < 2; step++) {
			const char *m = method;
			if (strcmp(method, "CYCLE") == 0)
				m = step == 0 ? "POST" : "DELETE";
			else if (step == 1)
				break;
			n = build_request(req, sizeof(req), body, sizeof(body), m, name);
			if (fd < 0 && (fd = dial()) < 0) {
				status = 0;
				break;
			}
			if (write_all(fd, req, (size_t)n) < 0)
				status = 0;
			else
				status = read_answer(fd, buf, sizeof(buf), &close_after);
			if (status == 0 || close_after) {
				close(fd);
				fd = -1;
			}
			if (status < 200 || status >= 300)
				break;
		}
		results[i].ms = now_ms() - t0;
		results[i].status = status;
	}
	if (fd >= 0)
		close(fd);
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double pct(const double *v, long n, double p)
{
	long k;

	if (n == 0)
		return 0;
	k = (long)(p / 100.0 * (double)n + 0.999999) - 1; /* nearest rank */
	if (k < 0)
		k = 0;
	if (k >= n)
		k = n - 1;
	return v[k];
}

static void usage(void)
{
	fprintf(stderr, "usage: loadgen -p PORT [-H host] -m POST|DELETE|GET -c CLIENTS -n COUNT -x PREFIX [-s START]\n"
			"               [-a] [-t TTL | -e EXPIRE_EPOCH] [-o OWNER] [-l LATENCY_FILE] [-h 'Header: value']\n");
	exit(2);
}

int main(int argc, char **argv)
{
	pthread_t *th;
	double t0, elapsed, *lat, sum = 0;
	long ok = 0, nlat = 0, statuses[600] = { 0 }, errors = 0;
	int opt, first = 1;

	while ((opt = getopt(argc, argv, "H:p:m:c:n:x:s:at:e:o:l:h:")) != -1) {
		switch (opt) {
		case 'H': host = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 'm': method = optarg; break;
		case 'c': clients = atoi(optarg); break;
		case 'n': count = atol(optarg); break;
		case 'x': prefix = optarg; break;
		case 's': start_index = atol(optarg); break;
		case 'a': async_pref = 1; break;
		case 't': ttl = atol(optarg); break;
		case 'e': expire_at = atol(optarg); break;
		case 'o': owner = optarg; break;
		case 'l': lat_file = optarg; break;
		case 'h': snprintf(extra_header, sizeof(extra_header), "%s\r\n", optarg); break;
		default: usage();
		}
	}
	if (!port || clients < 1 || count < 1)
		usage();
	if (clients > count)
		clients = (int)count;
	results = calloc((size_t)count, sizeof(*results));
	lat = calloc((size_t)count, sizeof(*lat));
	th = calloc((size_t)clients, sizeof(*th));
	if (!results || !lat || !th)
		return 1;
	t0 = now_ms();
	for (int c = 0; c < clients; c++)
		if (pthread_create(&th[c], NULL, client, NULL) != 0) {
			perror("pthread_create");
			return 1;
		}
	for (int c = 0; c < clients; c++)
		pthread_join(th[c], NULL);
	elapsed = (now_ms() - t0) / 1e3;
	for (long i = 0; i < count; i++) {
		int s = results[i].status;
		if (s <= 0 || s >= 600) {
			errors++;
			continue;
		}
		statuses[s]++;
		/* latencies of successful answers only: a fast 409, 429 or 503
		 * must not make previewd look faster */
		if (s < 200 || s >= 300)
			continue;
		ok++;
		lat[nlat++] = results[i].ms;
		sum += results[i].ms;
	}
	if (lat_file) {
		FILE *f = fopen(lat_file, "w");
		if (f) {
			for (long i = 0; i < count; i++)
				fprintf(f, "%.3f %d\n", results[i].ms, results[i].status);
			fclose(f);
		}
	}
	qsort(lat, (size_t)nlat, sizeof(*lat), cmp_double);
	printf("{\"method\":\"%s\",\"clients\":%d,\"count\":%ld,\"ok\":%ld,\"errors\":%ld,\"not_2xx\":%ld,\"elapsed_s\":%.4f,"
	       "\"rps\":%.2f,\"ok_rps\":%.2f,\"statuses\":{",
		method, clients, count, ok, errors, count - errors - ok, elapsed, count / elapsed, ok / elapsed);
	for (int s = 0; s < 600; s++)
		if (statuses[s]) {
			printf("%s\"%d\":%ld", first ? "" : ",", s, statuses[s]);
			first = 0;
		}
	printf("},\"ms\":{\"mean\":%.3f,\"min\":%.3f,\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"max\":%.3f}}\n",
		nlat ? sum / (double)nlat : 0, nlat ? lat[0] : 0, pct(lat, nlat, 50), pct(lat, nlat, 90),
		pct(lat, nlat, 99), nlat ? lat[nlat - 1] : 0);
	return errors ? 3 : 0;
}
