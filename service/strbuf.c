/*
 * strbuf.c - the capped growable buffer (see strbuf.h).
 */
#include "strbuf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t limit(const struct pv_strbuf *b)
{
	return b->max ? b->max : PV_STRBUF_DEFAULT_MAX;
}

/* Room for `extra` more bytes of content plus the NUL. */
static int reserve(struct pv_strbuf *b, size_t extra)
{
	size_t need, cap;
	char *nb;

	if (extra > limit(b) - b->len)
		return pv_error_set(PV_ETOOBIG, NULL, "more than %zu bytes", limit(b));
	need = b->len + extra + 1;
	if (b->buf && need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	if (cap > limit(b) + 1)
		cap = limit(b) + 1;
	if (!(nb = realloc(b->buf, cap)))
		return pv_error_set(PV_ERROR, NULL, "out of memory");
	b->buf = nb;
	b->cap = cap;
	return 0;
}

int pv_strbuf_add(struct pv_strbuf *b, const void *data, size_t len)
{
	int error;

	if ((error = reserve(b, len)) < 0)
		return error;
	if (len)
		memcpy(b->buf + b->len, data, len);
	b->len += len;
	b->buf[b->len] = '\0';
	return 0;
}

int pv_strbuf_vprintf(struct pv_strbuf *b, const char *fmt, va_list ap)
{
	va_list copy;
	int n, error;

	va_copy(copy, ap);
	n = vsnprintf(NULL, 0, fmt, copy);
	va_end(copy);
	if (n < 0)
		return pv_error_set(PV_ERROR, NULL, "formatting text");
	if ((error = reserve(b, (size_t)n)) < 0)
		return error;
	vsnprintf(b->buf + b->len, b->cap - b->len, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int pv_strbuf_printf(struct pv_strbuf *b, const char *fmt, ...)
{
	va_list ap;
	int error;

	va_start(ap, fmt);
	error = pv_strbuf_vprintf(b, fmt, ap);
	va_end(ap);
	return error;
}

void pv_strbuf_reset(struct pv_strbuf *b)
{
	b->len = 0;
	if (b->buf)
		b->buf[0] = '\0';
}

char *pv_strbuf_take(struct pv_strbuf *b, size_t *len)
{
	char *s = b->buf;

	if (!s && !(s = strdup("")))
		return NULL;
	if (len)
		*len = b->len;
	b->buf = NULL;
	b->len = b->cap = 0;
	return s;
}

void pv_strbuf_dispose(struct pv_strbuf *b)
{
	size_t max = b->max;

	free(b->buf);
	memset(b, 0, sizeof(*b));
	b->max = max;
}
