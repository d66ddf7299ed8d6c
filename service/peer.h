/*
 * peer.h - who the client is: the trusted proxies and X-Forwarded-For.
 *
 * Behind an ingress every connection comes from the ingress controller's
 * address.  PREVIEWD_TRUSTED_PROXIES names the proxies (addresses and CIDR
 * blocks, IPv4 and IPv6) whose X-Forwarded-For is believed; from anyone
 * else the header is ignored.  The client of a request from a trusted proxy
 * is the right-most address in X-Forwarded-For that is not itself a trusted
 * proxy: each proxy appends the address it saw, so everything left of the
 * last untrusted hop was written by the client and proves nothing.
 *
 * Pure functions, any thread; the list is read-only once parsed.
 */
#ifndef PV_PEER_H
#define PV_PEER_H

#include <stddef.h>
#include <sys/socket.h>

#include "error.h"

/* an address in the form both families compare in: IPv4 (also when it
 * arrived as ::ffff:a.b.c.d) or IPv6 */
struct pv_peer_ip {
	int family;             /* AF_INET or AF_INET6 */
	unsigned char b[16];    /* the first 4 for AF_INET */
};

struct pv_peer_net {
	struct pv_peer_ip ip;
	unsigned bits;          /* prefix length */
};

struct pv_peer_trust {
	struct pv_peer_net *nets;
	size_t n;
};

#define PV_PEER_ADDR_LEN 46     /* INET6_ADDRSTRLEN */

/* Parse a comma-separated list of addresses and CIDR blocks ("10.0.0.0/8,
 * ::1, fd00::/8"); "" trusts no one.  PV_EINVAL (field
 * PREVIEWD_TRUSTED_PROXIES) names the entry that is neither. */
int pv_peer_trust_parse(struct pv_peer_trust *out, const char *list) PV_WARN_UNUSED;
void pv_peer_trust_dispose(struct pv_peer_trust *t);

/* A socket address as a pv_peer_ip; 0, or -1 for another family. */
int pv_peer_from_sockaddr(struct pv_peer_ip *out, const struct sockaddr *sa);

/* 1 if the address is in one of the trusted blocks. */
int pv_peer_trusted(const struct pv_peer_trust *t, const struct pv_peer_ip *ip);

/* The client's address as text (at least PV_PEER_ADDR_LEN bytes): the
 * peer's own unless it is a trusted proxy, else taken from forwarded_for
 * (every X-Forwarded-For field of the request joined by commas, or NULL)
 * as the header above says.  An entry that is not an address ends the walk
 * at the last trusted hop, which is then the client. */
void pv_peer_client(const struct pv_peer_trust *t, const struct pv_peer_ip *peer, const char *forwarded_for,
	char *buf, size_t len);

void pv_peer_format(const struct pv_peer_ip *ip, char *buf, size_t len);

#endif
