/*
 * Fuzz target: url.c, the redaction every printed URL goes through and the
 * server comparison that decides who gets the Git credentials.  The input
 * is two texts split at the first NUL.  What must hold: redaction leaves no
 * "scheme://userinfo@" it could have seen, is idempotent, never grows the
 * text past its buffer; the server comparison is symmetric; a secret
 * redacted from a text is gone from it.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *a, *b, *once, *twice, user[64], pass[64], raw[64];
	const char *nul;
	size_t n;

	if (size > 4096)
		return 0;
	if (!(a = malloc(size + 1)))
		return 0;
	memcpy(a, data, size);
	a[size] = '\0';
	nul = memchr(data, '\0', size);
	b = nul ? a + (nul - (const char *)data) + 1 : a + size;
	n = 2 * strlen(a) + 8; /* each redaction adds at most 2 bytes */
	once = malloc(n);
	twice = malloc(n);
	if (!once || !twice)
		goto out;
	pv_url_redact(once, n, a);
	if (strlen(once) >= n)
		abort();
	pv_url_redact(twice, n, once);
	if (strcmp(once, twice) != 0)
		abort();
	if (pv_url_same_server(a, b) != pv_url_same_server(b, a))
		abort();
	pv_url_strip_userinfo(twice, n, a);
	pv_url_userinfo(a, user, sizeof(user), pass, sizeof(pass), raw, sizeof(raw));
	if (strlen(b) >= 3 && !strchr(b, '*')) {
		pv_url_redact_secret(once, b);
		if (strstr(once, b))
			abort();
	}
out:
	free(twice);
	free(once);
	free(a);
	return 0;
}
