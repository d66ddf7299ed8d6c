/*
 * strbuf.h - a growing, NUL-terminated string (commit messages, metrics).
 *
 * The struct owns buf; pv_strbuf_dispose frees it, or the caller takes it
 * (and then owns it) by reading buf and zeroing the struct.  Not shared
 * between threads.
 */
#ifndef PV_STRBUF_H
#define PV_STRBUF_H

#include <stddef.h>

#include "error.h"

struct pv_strbuf {
	char *buf;
	size_t len, cap;
};

#define PV_STRBUF_INIT { NULL, 0, 0 }

/* Append printf-style; 0 or PV_ERROR (out of memory, bad format). */
int pv_strbuf_printf(struct pv_strbuf *b, const char *fmt, ...) PV_PRINTF(2, 3);

void pv_strbuf_dispose(struct pv_strbuf *b);

#endif
