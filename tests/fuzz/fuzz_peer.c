/*
 * Fuzz target: peer.c, the X-Forwarded-For walk and the trusted-proxy list
 * (both outside input: a header, a setting).  The first line of the input
 * is a trusted list, the rest a header value.  Checks the contract: the
 * client is the peer unless the peer is trusted, and is always an address
 * in text form that parses back.
 */
#include <arpa/inet.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "peer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pv_peer_trust trust;
	struct pv_peer_ip peer = { .family = AF_INET, .b = { 127, 0, 0, 1 } };
	char *s = malloc(size + 1), *nl, out[PV_PEER_ADDR_LEN];
	unsigned char b[16];

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	nl = strchr(s, '\n');
	if (nl)
		*nl = '\0';
	if (pv_peer_trust_parse(&trust, s) == 0) {
		const char *header = nl ? nl + 1 : "";
		pv_peer_client(&trust, &peer, header, out, sizeof(out));
		if (inet_pton(AF_INET, out, b) != 1 && inet_pton(AF_INET6, out, b) != 1)
			abort();
		if (!pv_peer_trusted(&trust, &peer) && strcmp(out, "127.0.0.1") != 0)
			abort();
		pv_peer_trust_dispose(&trust);
	}
	free(s);
	return 0;
}
