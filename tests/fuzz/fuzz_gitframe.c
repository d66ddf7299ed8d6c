/*
 * Fuzz target: gitframe.c over any sequence of writes.  Each write is one
 * length byte and that many bytes (the input's rest when shorter).  A
 * request start is only ever reported for a write that arrives between
 * requests, and lost framing stays lost.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "gitframe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pv_gitframe f = PV_GITFRAME_INIT;
	size_t off = 0;

	while (off < size) {
		size_t n = data[off++];
		enum pv_gitframe_state before = f.state;
		int start;

		if (n > size - off)
			n = size - off;
		start = pv_gitframe_feed(&f, (const char *)data + off, n);
		off += n;
		if (start && before != PV_GITFRAME_IDLE) {
			fprintf(stderr, "a request start inside a body (state %d)\n", (int)before);
			abort();
		}
		if (before == PV_GITFRAME_LOST && f.state != PV_GITFRAME_LOST) {
			fprintf(stderr, "lost framing came back\n");
			abort();
		}
		if ((unsigned)f.state > PV_GITFRAME_LOST)
			abort();
	}
	return 0;
}
