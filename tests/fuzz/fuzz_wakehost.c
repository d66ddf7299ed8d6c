/*
 * Fuzz target: the wake page's host parameter (wakepage.c,
 * pv_wakepage_host), which anonymous visitors send.  Beyond "no crash": a
 * host that parses names a valid environment name, and what the page puts
 * in its HTML and its redirect is lower-case letters, digits, '-', '.' and
 * one ':' before digits, under the domain.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "valid.h"
#include "wakepage.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char domain[] = "env.example.com";
	char host[PV_WAKEPAGE_HOST_MAX + 8], name[64], canon[PV_WAKEPAGE_HOST_MAX];
	const char *colon;
	size_t hn;

	if (size >= sizeof(host))
		size = sizeof(host) - 1;
	memcpy(host, data, size);
	host[size] = '\0';
	if (pv_wakepage_host(name, sizeof(name), canon, host, domain) < 0)
		return 0;
	if (pv_valid_name(name, "host") < 0)
		abort();
	colon = strchr(canon, ':');
	hn = colon ? (size_t)(colon - canon) : strlen(canon);
	for (size_t i = 0; canon[i]; i++) {
		char c = canon[i];
		if (i < hn ? !((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.')
			   : !((c >= '0' && c <= '9') || i == hn))
			abort();
	}
	if (hn != strlen(name) + 1 + strlen(domain) || strncmp(canon, name, strlen(name)) != 0 ||
	    strncmp(canon + strlen(name) + 1, domain, strlen(domain)) != 0)
		abort();
	return 0;
}
