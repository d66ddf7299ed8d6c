/*
 * Fuzz target: a forge's answer as pv-forge reads it (forge.c) - the
 * header lines (rate limits), the error body's message and the id of what
 * the forge made.  The input is "STATUS\n", header lines up to an empty
 * line, then the body.  Beyond "no crash": a hold is 0 or within
 * (now, now + PV_FORGE_HOLD_MAX_S], the message is printable, the id is
 * empty or digits only (it goes into the next request's path).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "forge_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* a check that stays in a release build (assert would go with NDEBUG) */
#define CHECK(c) do { if (!(c)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const int64_t now = 1700000000;
	struct pv_forge_limits l = PV_FORGE_LIMITS_INIT;
	const char *p = (const char *)data, *end = p + size, *nl;
	char msg[201], id[32], *body;
	long status = 0;
	int64_t until;
	json_t *doc;

	for (; p < end && *p >= '0' && *p <= '9' && status < 1000; p++)
		status = status * 10 + (*p - '0');
	if (p < end && *p == '\n')
		p++;
	/* header lines, each with its line end, as curl hands them over */
	while (p < end && (nl = memchr(p, '\n', (size_t)(end - p))) != NULL && nl > p && !(nl == p + 1 && *p == '\r')) {
		pv_forge__header(&l, p, (size_t)(nl - p + 1));
		p = nl + 1;
	}
	if (p < end && (nl = memchr(p, '\n', (size_t)(end - p))) != NULL)
		p = nl + 1;
	/* the body as the answer's buffer holds it: NUL-terminated */
	if (!(body = malloc((size_t)(end - p) + 1)))
		return 0;
	memcpy(body, p, (size_t)(end - p));
	body[end - p] = '\0';

	until = pv_forge__hold(status, &l, body, now);
	CHECK(until == 0 || (until > now && until <= now + PV_FORGE_HOLD_MAX_S));
	pv_forge__message(msg, sizeof(msg), body, (size_t)(end - p));
	for (const char *c = msg; *c; c++)
		CHECK((unsigned char)*c >= 0x20 && (unsigned char)*c < 0x7f);
	doc = json_loadb(body, (size_t)(end - p), 0, NULL);
	pv_forge__id(doc, id, sizeof(id));
	CHECK(strspn(id, "0123456789") == strlen(id));
	json_decref(doc);
	free(body);
	return 0;
}
