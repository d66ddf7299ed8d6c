/*
 * Fuzz target: argocd_apps.c's reading of Argo CD's watch stream - the line
 * splitter over bytes arriving in arbitrary pieces, each line's event, and
 * the Application's fields.  The first input byte picks the piece size and
 * the line cap.  What must hold: the lines handed out are exactly the input's
 * newline-separated lines no longer than the cap, whatever the pieces (a
 * second splitter fed the whole input at once agrees); none is over the cap;
 * an event's type and application, and an app's name and status strings,
 * are non-NULL when reading succeeds.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "argocd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct seen {
	size_t max, lines, bytes;
	uint64_t hash;
};

static void on_line(const char *line, size_t len, void *ctx)
{
	struct seen *s = ctx;
	struct pv_argocd_app app;
	const json_t *japp;
	const char *type, *name;
	json_t *doc;

	if (len > s->max)
		abort();
	s->lines++;
	s->bytes += len;
	for (size_t i = 0; i < len; i++)
		s->hash = s->hash * 131 + (unsigned char)line[i];
	if (pv_argocd_event_read(line, len, &doc, &type, &japp) == 0) {
		if (!type || !japp)
			abort();
		if (pv_argocd_app_read(japp, &name, &app) == 0 &&
		    (!name || !*name || !app.sync || !app.health || !app.revision))
			abort();
		json_decref(doc);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pv_argocd_lines *a, *b;
	struct seen sa = { 0 }, sb = { 0 };
	size_t piece, max, off;

	if (size < 1 || size > 65536)
		return 0;
	piece = (size_t)(data[0] & 0x0f) + 1;
	max = (size_t)(data[0] >> 4) * 64 + 16;
	data++, size--;
	sa.max = sb.max = max;
	a = pv_argocd_lines_new(max);
	b = pv_argocd_lines_new(max);
	if (!a || !b)
		goto out;
	for (off = 0; off < size; off += piece)
		pv_argocd_lines_feed(a, (const char *)data + off, size - off < piece ? size - off : piece, on_line, &sa);
	pv_argocd_lines_feed(b, (const char *)data, size, on_line, &sb);
	if (sa.lines != sb.lines || sa.bytes != sb.bytes || sa.hash != sb.hash ||
	    pv_argocd_lines_dropped(a) != pv_argocd_lines_dropped(b))
		abort();
out:
	pv_argocd_lines_free(a);
	pv_argocd_lines_free(b);
	return 0;
}
