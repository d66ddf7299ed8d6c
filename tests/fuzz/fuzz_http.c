/*
 * Fuzz target: the request-target check of http.c, the first thing that
 * reads a request line from the network.  Its contract is checked against an
 * independent percent-decoder: whatever the check accepts decodes to a path
 * with exactly the segments the raw path shows and no NUL, and a query with
 * no NUL, so what previewd routes is what the client named.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode s[0..n) as libmicrohttpd does (%XX with two hex digits; anything
 * else is kept); counts the NULs and slashes of the result. */
static void decode_counts(const char *s, size_t n, size_t *nuls, size_t *slashes)
{
	*nuls = *slashes = 0;
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)s[i];
		if (c == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
			c = hexval(s[i + 1]) * 16 + hexval(s[i + 2]);
			i += 2;
		}
		*nuls += c == 0;
		*slashes += c == '/';
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	const char *q = memchr(s, '?', size);
	size_t path_len = q ? (size_t)(q - s) : size;
	size_t raw_slashes = 0, nuls, slashes;
	int rc = pv_http_check_target(s, size);

	if (rc != 0) {
		if (rc != PV_ENOTFOUND && rc != PV_EBADREQ)
			abort();
		return 0;
	}
	for (size_t i = 0; i < size; i++) {
		unsigned char c = data[i];
		if (c <= ' ' || c == 0x7f)
			abort(); /* a raw control byte or space got through */
		raw_slashes += i < path_len && c == '/';
	}
	decode_counts(s, path_len, &nuls, &slashes);
	if (nuls || slashes != raw_slashes)
		abort(); /* the decoded path is not the one the client wrote */
	if (q) {
		decode_counts(q + 1, size - path_len - 1, &nuls, &slashes);
		if (nuls)
			abort();
	}
	return 0;
}
