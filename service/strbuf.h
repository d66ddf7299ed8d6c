/*
 * strbuf.h - the one growable buffer of previewd: a NUL-terminated byte
 * string with a size cap, in the spirit of curl's dynbuf.
 *
 * Every buffer that grows with outside input (HTTP bodies, responses read
 * from Argo CD or a webhook, commit messages, metrics text) is a pv_strbuf,
 * so every one of them has a limit: an append that would take the content
 * past `max` bytes fails with PV_ETOOBIG and leaves the buffer as it was.
 *
 * The struct owns buf; pv_strbuf_dispose frees it, or pv_strbuf_take hands
 * it to the caller.  buf is NULL until the first append; after one it is
 * always NUL-terminated.  Not shared between threads.
 */
#ifndef PV_STRBUF_H
#define PV_STRBUF_H

#include <stdarg.h>
#include <stddef.h>

#include "error.h"

struct pv_strbuf {
	char *buf;
	size_t len, cap;
	size_t max;  /* content limit in bytes; 0 means PV_STRBUF_DEFAULT_MAX */
};

/* Generous for anything previewd builds itself; inputs set their own. */
#define PV_STRBUF_DEFAULT_MAX ((size_t)256 << 20)

#define PV_STRBUF_INIT { NULL, 0, 0, 0 }
#define PV_STRBUF_INIT_MAX(m) { NULL, 0, 0, (m) }

/* Append len bytes; 0, PV_ETOOBIG (over max) or PV_ERROR (out of memory). */
int pv_strbuf_add(struct pv_strbuf *b, const void *data, size_t len) PV_WARN_UNUSED;

/* Append printf-style; as pv_strbuf_add, or PV_ERROR for a bad format. */
int pv_strbuf_printf(struct pv_strbuf *b, const char *fmt, ...) PV_PRINTF(2, 3);
int pv_strbuf_vprintf(struct pv_strbuf *b, const char *fmt, va_list ap) PV_PRINTF(2, 0);

/* Empty the content, keep the memory and the cap. */
void pv_strbuf_reset(struct pv_strbuf *b);

/* Hand the content (malloc'd, NUL-terminated; "" when nothing was added) to
 * the caller and leave the buffer empty.  NULL when out of memory. */
char *pv_strbuf_take(struct pv_strbuf *b, size_t *len);

void pv_strbuf_dispose(struct pv_strbuf *b);

#endif
