/*
 * strbuf.c - a growing string.
 */
#include "strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int pv_strbuf_printf(struct pv_strbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->buf ? b->buf + b->len : NULL, b->buf ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0)
			return pv_error_set(PV_ERROR, NULL, "formatting text");
		if (b->buf && b->len + (size_t)n < b->cap) {
			b->len += (size_t)n;
			return 0;
		}
		size_t cap = (b->cap ? b->cap * 2 : 1024) + (size_t)n;
		char *nb = realloc(b->buf, cap);
		if (!nb)
			return pv_error_set(PV_ERROR, NULL, "out of memory");
		b->buf = nb;
		b->cap = cap;
	}
}

void pv_strbuf_dispose(struct pv_strbuf *b)
{
	free(b->buf);
	memset(b, 0, sizeof(*b));
}
