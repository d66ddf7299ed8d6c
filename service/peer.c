/*
 * peer.c - trusted proxies and the client address behind them (peer.h).
 */
#include "peer.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const unsigned char v4_mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

/* An IPv4-mapped IPv6 address is the IPv4 address: a dual-stack listener
 * sees IPv4 clients that way, and a list naming 10.0.0.0/8 means them. */
static void normalise(struct pv_peer_ip *ip)
{
	if (ip->family == AF_INET6 && memcmp(ip->b, v4_mapped, sizeof(v4_mapped)) == 0) {
		memmove(ip->b, ip->b + 12, 4);
		memset(ip->b + 4, 0, 12);
		ip->family = AF_INET;
	}
}

/* A numeric address of exactly n bytes (not NUL-terminated). */
static int parse_ip(struct pv_peer_ip *out, const char *s, size_t n)
{
	char buf[64];

	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, buf, out->b) == 1)
		out->family = AF_INET;
	else if (inet_pton(AF_INET6, buf, out->b) == 1)
		out->family = AF_INET6;
	else
		return -1;
	normalise(out);
	return 0;
}

int pv_peer_from_sockaddr(struct pv_peer_ip *out, const struct sockaddr *sa)
{
	memset(out, 0, sizeof(*out));
	if (sa && sa->sa_family == AF_INET) {
		out->family = AF_INET;
		memcpy(out->b, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
		return 0;
	}
	if (sa && sa->sa_family == AF_INET6) {
		out->family = AF_INET6;
		memcpy(out->b, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
		normalise(out);
		return 0;
	}
	return -1;
}

void pv_peer_format(const struct pv_peer_ip *ip, char *buf, size_t len)
{
	if (len == 0)
		return;
	if (!ip || (ip->family != AF_INET && ip->family != AF_INET6) ||
	    !inet_ntop(ip->family, ip->b, buf, (socklen_t)len))
		snprintf(buf, len, "unknown");
}

static const char *trim(const char *s, const char *end, size_t *n)
{
	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	*n = (size_t)(end - s);
	return s;
}

int pv_peer_trust_parse(struct pv_peer_trust *out, const char *list)
{
	const char *p = list ? list : "";

	memset(out, 0, sizeof(*out));
	while (*p) {
		const char *comma = strchr(p, ','), *end = comma ? comma : p + strlen(p), *s, *slash;
		struct pv_peer_net net = { 0 };
		size_t n;

		s = trim(p, end, &n);
		p = comma ? comma + 1 : end;
		if (n == 0)
			continue;
		slash = memchr(s, '/', n);
		if (parse_ip(&net.ip, s, slash ? (size_t)(slash - s) : n) < 0)
			goto bad;
		net.bits = net.ip.family == AF_INET ? 32 : 128;
		if (slash) {
			const char *d = slash + 1, *dend = s + n;
			unsigned v = 0;
			int mapped = slash - s > 7 && memchr(s, ':', (size_t)(slash - s)) && net.ip.family == AF_INET;
			if (d == dend || dend - d > 3)
				goto bad;
			for (; d < dend; d++) {
				if (*d < '0' || *d > '9')
					goto bad;
				v = v * 10 + (unsigned)(*d - '0');
			}
			/* ::ffff:10.0.0.0/104 is 10.0.0.0/8 */
			if (mapped) {
				if (v < 96 || v > 128)
					goto bad;
				v -= 96;
			}
			if (v > net.bits)
				goto bad;
			net.bits = v;
		}
		{
			struct pv_peer_net *grown = realloc(out->nets, (out->n + 1) * sizeof(*grown));
			if (!grown) {
				pv_peer_trust_dispose(out);
				return pv_error_set(PV_ERROR, NULL, "out of memory");
			}
			out->nets = grown;
			out->nets[out->n++] = net;
		}
		continue;
bad:
		pv_peer_trust_dispose(out);
		return pv_error_set(PV_EINVAL, "PREVIEWD_TRUSTED_PROXIES",
			"PREVIEWD_TRUSTED_PROXIES: '%.*s' is not an IPv4 or IPv6 address or CIDR block (a.b.c.d/n, x::y/n)",
			(int)(n > 64 ? 64 : n), s);
	}
	return 0;
}

void pv_peer_trust_dispose(struct pv_peer_trust *t)
{
	free(t->nets);
	t->nets = NULL;
	t->n = 0;
}

static int in_net(const struct pv_peer_net *net, const struct pv_peer_ip *ip)
{
	unsigned full = net->bits / 8, rest = net->bits % 8;

	if (net->ip.family != ip->family)
		return 0;
	if (memcmp(net->ip.b, ip->b, full) != 0)
		return 0;
	if (rest) {
		unsigned char mask = (unsigned char)(0xff << (8 - rest));
		if ((net->ip.b[full] & mask) != (ip->b[full] & mask))
			return 0;
	}
	return 1;
}

int pv_peer_trusted(const struct pv_peer_trust *t, const struct pv_peer_ip *ip)
{
	for (size_t i = 0; t && i < t->n; i++)
		if (in_net(&t->nets[i], ip))
			return 1;
	return 0;
}

/* One X-Forwarded-For entry: an address, "[v6]" or either with a port
 * (some proxies write "a.b.c.d:port"). */
static int parse_hop(struct pv_peer_ip *out, const char *s, size_t n)
{
	const char *colon;

	if (n > 2 && s[0] == '[') {
		const char *close = memchr(s, ']', n);
		if (!close)
			return -1;
		if ((size_t)(close - s) + 1 < n && close[1] != ':')
			return -1;
		return parse_ip(out, s + 1, (size_t)(close - s) - 1);
	}
	colon = memchr(s, ':', n);
	if (colon && !memchr(colon + 1, ':', n - (size_t)(colon - s) - 1)) {
		/* one colon: IPv4 with a port */
		size_t port = n - (size_t)(colon - s) - 1;
		if (port == 0 || port > 5 || strspn(colon + 1, "0123456789") < port)
			return -1;
		return parse_ip(out, s, (size_t)(colon - s));
	}
	return parse_ip(out, s, n);
}

void pv_peer_client(const struct pv_peer_trust *t, const struct pv_peer_ip *peer, const char *forwarded_for,
	char *buf, size_t len)
{
	struct pv_peer_ip client = *peer;
	const char *end;

	if (forwarded_for && pv_peer_trusted(t, peer)) {
		/* right to left: each trusted hop vouches for the one before it */
		end = forwarded_for + strlen(forwarded_for);
		for (;;) {
			const char *start = end, *s;
			struct pv_peer_ip hop;
			size_t n;

			while (start > forwarded_for && start[-1] != ',')
				start--;
			s = trim(start, end, &n);
			if (n > 0) {
				if (parse_hop(&hop, s, n) < 0)
					break;
				client = hop;
				if (!pv_peer_trusted(t, &hop))
					break;
			}
			if (start == forwarded_for)
				break;
			end = start - 1;
		}
	}
	pv_peer_format(&client, buf, len);
}
