/*
 * Fuzz target: a Git host's webhook delivery (hooks.c): the signature
 * check and the parser of the event header and the body.  The input's
 * first byte picks the forge and its content type, the bytes up to the
 * first newline are the event header, the next line the signature header,
 * the rest the body.  Beyond "no crash": a push is parsed only into a ref
 * that fits its buffer and an `after` of printable ASCII; a signature the
 * input made up never verifies against the secret.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hooks.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The next line of [*p, end) as a malloc'd string; *p moves past it. */
static char *line(const uint8_t **p, const uint8_t *end)
{
	const uint8_t *nl = memchr(*p, '\n', (size_t)(end - *p));
	size_t n = (size_t)((nl ? nl : end) - *p);
	char *s = malloc(n + 1);

	if (s) {
		memcpy(s, *p, n);
		s[n] = '\0';
	}
	*p = nl ? nl + 1 : end;
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const types[] = { "application/json", "application/x-www-form-urlencoded", NULL };
	const uint8_t *p = data + 1, *end = data + size;
	struct pv_hooks_event ev;
	enum pv_hooks_forge forge;
	char *event, *sig;

	if (size < 1)
		return 0;
	forge = (enum pv_hooks_forge)(data[0] % PV_FORGE_COUNT);
	event = line(&p, end);
	sig = line(&p, end);
	if (event && sig) {
		const char *body = (const char *)p;
		size_t len = (size_t)(end - p);

		if (pv_hooks_parse(&ev, forge, event, types[(data[0] / PV_FORGE_COUNT) % 3], body, len) == 0 &&
		    ev.kind == PV_HOOK_PUSH) {
			if (!ev.ref || strlen(ev.ref) >= sizeof(ev.buf))
				abort();
			for (const char *c = ev.after; *c; c++)
				if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
					abort();
		}
		/* a 64-byte random secret: no input can carry its HMAC by chance */
		if (pv_hooks_verify(forge, "fuzz-secret-8c1f0a7e2b9d4c6e5f3a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e",
			    sig, body, len) == 0)
			abort();
	}
	free(event);
	free(sig);
	return 0;
}
